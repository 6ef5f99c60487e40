//! Draft-18: the SETUP the published client sends on its own unidirectional stream, as a publisher
//! and as a subscriber. The scripted server answers with its own SETUP (moq-wire's `Setup`) on a
//! unidirectional stream it keeps open, which is all draft-18 asks before the session is up.

use anyhow::Context;
use bytes::BytesMut;
use moq_wire::ietf::{Draft, EncodeWith, KeyValue, Setup, SetupParameters};

use crate::{client, read};

/// Accepts one client connection and reads its SETUP; answers with the server's and returns the
/// SETUP's exact bytes and the connection (with our SETUP stream, which must stay open).
async fn setup_exchange(endpoint: &quinn::Endpoint) -> anyhow::Result<(Vec<u8>, quinn::Connection, quinn::SendStream)> {
	let conn = endpoint.accept().await.context("no connection")?.await?;
	let mut uni = conn.accept_uni().await?;
	let mut buf = BytesMut::new();
	let (setup, bytes) = read::<Setup, _>(&mut uni, &mut buf, Draft::Draft18).await?;
	eprintln!("SETUP {setup:?}");
	let ours = Setup {
		parameters: SetupParameters(vec![KeyValue::bytes(7, &b"ietf-capture"[..])]),
	};
	let mut send = conn.open_uni().await?;
	send.write_all(&ours.to_bytes(Draft::Draft18)?).await?;
	Ok((bytes, conn, send))
}

/// Captures the publisher's SETUP, then the subscriber's, each from its own connection.
pub async fn capture(endpoint: &quinn::Endpoint, port: u16, version: &str) -> anyhow::Result<Vec<serde_json::Value>> {
	let mut captured = Vec::new();
	let url: url::Url = format!("moqt://localhost:{port}/anon").parse()?;

	let origin = moq_tokio::origin::spawn();
	let broadcast = origin.create_broadcast("room").context("broadcast")?;
	broadcast.announce(Default::default()).context("announce")?;
	let pub_client = client(version)?;
	let publisher = tokio::spawn({
		let url = url.clone();
		let origin = origin.clone();
		async move { pub_client.with_publisher(&origin).connect(url).established().await }
	});
	let (bytes, _pub_conn, _pub_setup) = setup_exchange(endpoint).await?;
	captured
		.push(serde_json::json!({"name": "SETUP (publisher, raw QUIC)", "kind": "setup", "hex": hex::encode(&bytes)}));
	let _publisher = publisher.await?.context("publisher connect")?;

	let sub_origin = moq_tokio::origin::spawn();
	let sub_client = client(version)?;
	let subscriber = tokio::spawn({
		let sub_origin = sub_origin.clone();
		async move { sub_client.with_subscriber(sub_origin).connect(url).established().await }
	});
	let (bytes, _sub_conn, _sub_setup) = setup_exchange(endpoint).await?;
	captured
		.push(serde_json::json!({"name": "SETUP (subscriber, raw QUIC)", "kind": "setup", "hex": hex::encode(&bytes)}));
	let _subscriber = subscriber.await?.context("subscriber connect")?;
	Ok(captured)
}
