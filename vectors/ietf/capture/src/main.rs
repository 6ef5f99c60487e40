//! Captures the bytes the published moq-net 0.3.18 client (through moq-tokio 0.19.31) sends on a
//! draft-14 or draft-16 session over raw QUIC, against a scripted server written with moq-wire's
//! ietf codec: CLIENT_SETUP, PUBLISH_NAMESPACE (publisher), SUBSCRIBE_OK and a subgroup stream
//! (answering the server's SUBSCRIBE), and SUBSCRIBE_NAMESPACE (on draft-16 on its own stream) /
//! SUBSCRIBE (subscriber); on draft-18 the SETUP each client sends (`draft18.rs`). Writes them as
//! JSON. Arguments: the output path, then the draft (14 when absent, 16, 18, 20, 21 or 22).

mod draft18;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::{Buf, Bytes, BytesMut};
use moq_wire::VarInt;
use moq_wire::ietf::{
	ClientSetup, ControlMessage, DataStreamHeader, DecodeWith, Draft, EncodeWith, Filter, GroupOrder, KeyValue,
	Parameters, PublishNamespace, ServerSetup, SetupParameters, SubgroupObject, Subscribe, SubscribeOk,
};
use serde_json::json;

fn server_config(draft: Draft) -> anyhow::Result<quinn::ServerConfig> {
	let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
	let der = cert.cert.der().clone();
	let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
	let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
		.with_protocol_versions(&[&rustls::version::TLS13])?
		.with_no_client_auth()
		.with_single_cert(vec![der], key)?;
	tls.alpn_protocols = vec![draft.alpn().as_bytes().to_vec()];
	let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
	Ok(quinn::ServerConfig::with_crypto(Arc::new(quic)))
}

/// Reads from `recv` until `T` decodes, returning the value and its exact bytes.
async fn read<T: DecodeWith<C>, C: Copy>(
	recv: &mut quinn::RecvStream,
	buf: &mut BytesMut,
	ctx: C,
) -> anyhow::Result<(T, Vec<u8>)> {
	loop {
		match T::decode_prefix(buf, ctx) {
			Ok((value, used)) => {
				let bytes = buf[..used].to_vec();
				buf.advance(used);
				return Ok((value, bytes));
			}
			Err(moq_wire::DecodeError::UnexpectedEnd) => {}
			Err(err) => anyhow::bail!("decode: {err} in {}", hex::encode(&buf[..])),
		}
		let chunk = tokio::time::timeout(Duration::from_secs(10), recv.read_chunk(65536, true))
			.await
			.context("read timeout")??
			.context("stream ended")?;
		buf.extend_from_slice(&chunk.bytes);
	}
}

fn client(version: &str) -> anyhow::Result<moq_tokio::Client> {
	let mut config = moq_tokio::connect::Config::default();
	config.tls.insecure = Some(true);
	config.version = vec![version.parse().map_err(anyhow::Error::msg)?];
	config.once = Some(true);
	Ok(config.init(Default::default())?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	let out = std::env::args().nth(1).context("output path")?;
	let draft = match std::env::args().nth(2).as_deref() {
		None | Some("14") => Draft::Draft14,
		Some("16") => Draft::Draft16,
		Some("18") => Draft::Draft18,
		Some("20") => Draft::Draft20,
		Some("21") => Draft::Draft21,
		Some("22") => Draft::Draft22,
		Some(other) => anyhow::bail!("draft-{other}: only 14, 16, 18 and 20 to 22"),
	};
	let version = draft.to_string();
	let endpoint = quinn::Endpoint::server(server_config(draft)?, "127.0.0.1:0".parse()?)?;
	let port = endpoint.local_addr()?.port();
	if draft.has_request_streams() {
		let captured = draft18::capture(&endpoint, port, draft).await?;
		std::fs::write(&out, serde_json::to_string_pretty(&captured)? + "\n")?;
		eprintln!("wrote {} captures", captured.len());
		return Ok(());
	}
	let mut captured: Vec<serde_json::Value> = Vec::new();
	let mut push = |name: &str, kind: &str, bytes: &[u8]| {
		captured.push(json!({"name": name, "kind": kind, "hex": hex::encode(bytes)}));
	};

	// The publisher: one broadcast `room` with track `t`, a group of two frames every 100 ms.
	let origin = moq_tokio::origin::spawn();
	let broadcast = origin.create_broadcast("room").context("broadcast")?;
	let mut track = broadcast.create_track("t", None).context("track")?;
	broadcast.announce(Default::default()).context("announce")?;
	let url: url::Url = format!("moqt://localhost:{port}/anon").parse()?;
	let pub_client = client(&version)?;
	let publisher = tokio::spawn({
		let origin = origin.clone();
		async move { pub_client.with_publisher(&origin).connect(url).established().await }
	});

	let conn = endpoint.accept().await.context("no connection")?.await?;
	let (mut send, mut recv) = conn.accept_bi().await?;
	let mut buf = BytesMut::new();
	let (setup, bytes) = read::<ClientSetup, _>(&mut recv, &mut buf, draft).await?;
	eprintln!("CLIENT_SETUP {setup:?}");
	push("CLIENT_SETUP (publisher, raw QUIC)", "client_setup", &bytes);
	let server = ServerSetup {
		version: VarInt::from_u64(draft.setup_version())?,
		parameters: SetupParameters(vec![KeyValue::int(2, VarInt::from_u32(100))]),
	};
	send.write_all(&server.to_bytes(draft)?).await?;
	let _conn = publisher.await?.context("publisher connect")?;

	// Its PUBLISH_NAMESPACE; then the server subscribes to the track.
	let mut published = false;
	let mut subscribed = false;
	let mut group_seen = false;
	let writer = tokio::spawn(async move {
		for i in 0..50u64 {
			tokio::time::sleep(Duration::from_millis(100)).await;
			let mut group = track.append_group().unwrap();
			group
				.write_frame(
					moq_net::Timestamp::from_millis(1000 + i).unwrap(),
					Bytes::from(format!("frame {i}.0")),
				)
				.unwrap();
			group
				.write_frame(
					moq_net::Timestamp::from_millis(1010 + i).unwrap(),
					Bytes::from(format!("frame {i}.1")),
				)
				.unwrap();
			group.finish().unwrap();
		}
	});
	while !(published && subscribed && group_seen) {
		tokio::select! {
			msg = read::<ControlMessage, _>(&mut recv, &mut buf, draft) => {
				let (msg, bytes) = msg?;
				eprintln!("control {msg:?}");
				match &msg {
					ControlMessage::PublishNamespace(p) => {
						push("PUBLISH_NAMESPACE (publisher)", "control", &bytes);
						// Written as REQUEST_OK on draft-16.
						send.write_all(&ControlMessage::PublishNamespaceOk(p.request_id).to_bytes(draft)?).await?;
						let subscribe = ControlMessage::Subscribe(Subscribe {
							request_id: VarInt::from_u32(1),
							namespace: p.namespace.clone(),
							track: "t".into(),
							priority: 0,
							group_order: GroupOrder::Descending,
							forward: true,
							filter: Filter::LargestObject,
							parameters: Parameters::default(),
						});
						send.write_all(&subscribe.to_bytes(draft)?).await?;
						published = true;
					}
					ControlMessage::SubscribeOk(_) => {
						push("SUBSCRIBE_OK (publisher)", "control", &bytes);
						subscribed = true;
					}
					_ => push(&format!("{} (publisher)", msg.name()), "control", &bytes),
				}
			}
			uni = conn.accept_uni(), if !group_seen => {
				let mut uni = uni?;
				let mut data = BytesMut::new();
				let (header, head) = read::<DataStreamHeader, _>(&mut uni, &mut data, draft).await?;
				eprintln!("data {header:?}");
				push("SUBGROUP_HEADER (publisher)", "data_stream_header", &head);
				if let DataStreamHeader::Subgroup(h) = header {
					let ctx = h.context(draft);
					for n in 0..2 {
						let (object, bytes) = read::<SubgroupObject, _>(&mut uni, &mut data, ctx).await?;
						eprintln!("object {object:?}");
						let kind = if h.extensions { "subgroup_object_with_extensions" } else { "subgroup_object" };
						push(&format!("subgroup object {n} (publisher)"), kind, &bytes);
					}
				}
				group_seen = true;
			}
		}
	}
	writer.abort();

	// A subscriber: its SUBSCRIBE_NAMESPACE, then (told of `room`) its SUBSCRIBE.
	let sub_origin = moq_tokio::origin::spawn();
	let url: url::Url = format!("moqt://localhost:{port}/anon").parse()?;
	let sub_client = client(&version)?;
	let subscriber = tokio::spawn({
		let sub_origin = sub_origin.clone();
		async move { sub_client.with_subscriber(sub_origin).connect(url).established().await }
	});
	let conn = endpoint.accept().await.context("no connection")?.await?;
	let (mut send, mut recv) = conn.accept_bi().await?;
	let mut buf = BytesMut::new();
	let (_, bytes) = read::<ClientSetup, _>(&mut recv, &mut buf, draft).await?;
	push("CLIENT_SETUP (subscriber, raw QUIC)", "client_setup", &bytes);
	send.write_all(&server.to_bytes(draft)?).await?;
	let _sub = subscriber.await?.context("subscriber connect")?;
	let consumer = sub_origin.consume();
	let wanted = tokio::spawn(async move {
		let broadcast = consumer.request_broadcast("room");
		let _ = broadcast;
		tokio::time::sleep(Duration::from_secs(3)).await;
	});
	let deadline = tokio::time::sleep(Duration::from_secs(5));
	tokio::pin!(deadline);
	// Draft-16's SUBSCRIBE_NAMESPACE stream, kept open while the client reads it.
	let mut namespaces = None;
	loop {
		tokio::select! {
			bi = conn.accept_bi(), if draft == Draft::Draft16 && namespaces.is_none() => {
				let (mut ns_send, mut ns_recv) = bi?;
				let mut ns_buf = BytesMut::new();
				let (msg, bytes) = read::<ControlMessage, _>(&mut ns_recv, &mut ns_buf, draft).await?;
				eprintln!("stream {msg:?}");
				push(&format!("{} (subscriber, own stream)", msg.name()), "control", &bytes);
				let ControlMessage::SubscribeNamespace(s) = &msg else {
					anyhow::bail!("expected SUBSCRIBE_NAMESPACE, got {msg:?}");
				};
				// Written as REQUEST_OK on draft-16.
				ns_send.write_all(&ControlMessage::SubscribeNamespaceOk(s.request_id).to_bytes(draft)?).await?;
				ns_send.write_all(&ControlMessage::Namespace(vec!["room".into()]).to_bytes(draft)?).await?;
				namespaces = Some((ns_send, ns_recv));
			}
			msg = read::<ControlMessage, _>(&mut recv, &mut buf, draft) => {
				let (msg, bytes) = msg?;
				eprintln!("control {msg:?}");
				push(&format!("{} (subscriber)", msg.name()), "control", &bytes);
				if let ControlMessage::SubscribeNamespace(s) = &msg {
					send.write_all(&ControlMessage::SubscribeNamespaceOk(s.request_id).to_bytes(draft)?).await?;
					let announce = ControlMessage::PublishNamespace(PublishNamespace {
						request_id: VarInt::from_u32(1),
						namespace: vec!["room".into()],
						parameters: Parameters::default(),
					});
					send.write_all(&announce.to_bytes(draft)?).await?;
				}
				if let ControlMessage::Subscribe(s) = &msg {
					let ok = ControlMessage::SubscribeOk(SubscribeOk {
						request_id: s.request_id,
						track_alias: VarInt::from_u32(3),
						expires: VarInt::ZERO,
						group_order: GroupOrder::Descending,
						largest: None,
						parameters: Parameters::default(),
						extensions: Vec::new(),
					});
					send.write_all(&ok.to_bytes(draft)?).await?;
					break;
				}
			}
			_ = &mut deadline => break,
		}
	}
	wanted.abort();
	std::fs::write(&out, serde_json::to_string_pretty(&captured)? + "\n")?;
	eprintln!("wrote {} captures", captured.len());
	Ok(())
}
