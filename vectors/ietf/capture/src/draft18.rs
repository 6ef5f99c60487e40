//! Draft-18: what the published client sends on its own streams. As a publisher: its SETUP (on its
//! unidirectional stream), PUBLISH_NAMESPACE (on a request stream it opens), SUBSCRIBE_OK (on the
//! stream of the server's SUBSCRIBE) and a subgroup stream's header and objects. As a subscriber:
//! its SETUP and SUBSCRIBE_NAMESPACE (0x50, on its own stream). The scripted server answers with
//! moq-wire's draft-18 forms: its own SETUP on a unidirectional stream it keeps open, REQUEST_OK,
//! SUBSCRIBE and NAMESPACE. The same script captures draft-20 (and -21, -22), whose session is
//! draft-18's, with the draft passed through; there the subscriber's SUBSCRIBE (its live join,
//! LOCATION_FILTER and FILL) is captured too.

use std::time::Duration;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use moq_wire::VarInt;
use moq_wire::ietf::draft18::{MessageParameters, ParamValue, RequestMessage, Subscribe, parameter};
use moq_wire::ietf::{DataStreamHeader, Draft, EncodeWith, KeyValue, Setup, SetupParameters, SubgroupObject};
use serde_json::json;

use crate::{client, read};

/// Accepts one client connection and reads its SETUP; answers with the server's and returns the
/// SETUP's exact bytes and the connection (with our SETUP stream, which must stay open).
async fn setup_exchange(
	endpoint: &quinn::Endpoint,
	draft: Draft,
) -> anyhow::Result<(Vec<u8>, quinn::Connection, quinn::SendStream)> {
	let conn = endpoint.accept().await.context("no connection")?.await?;
	let mut uni = conn.accept_uni().await?;
	let mut buf = BytesMut::new();
	let (setup, bytes) = read::<Setup, _>(&mut uni, &mut buf, draft).await?;
	eprintln!("SETUP {setup:?}");
	let ours = Setup {
		parameters: SetupParameters(vec![KeyValue::bytes(7, &b"ietf-capture"[..])]),
	};
	let mut send = conn.open_uni().await?;
	send.write_all(&ours.to_bytes(draft)?).await?;
	Ok((bytes, conn, send))
}

/// SUBSCRIPTION_FILTER (LOCATION_FILTER) Next Group Start in `draft`'s form.
fn next_group_start(draft: Draft) -> &'static [u8] {
	match draft {
		d if d.typed_filter() => &[0x01, 0x00],
		d if d.filter_fields() => &[0x00],
		_ => &[0x01],
	}
}

/// Captures the publisher's streams, then the subscriber's, each from its own connection.
pub async fn capture(endpoint: &quinn::Endpoint, port: u16, draft: Draft) -> anyhow::Result<Vec<serde_json::Value>> {
	let version = &draft.to_string();
	let mut captured = Vec::new();
	let mut push = |name: &str, kind: &str, bytes: &[u8]| {
		captured.push(json!({"name": name, "kind": kind, "hex": hex::encode(bytes)}));
	};
	let url: url::Url = format!("moqt://localhost:{port}/anon").parse()?;

	// The publisher: one broadcast `room` with track `t`, a group of two frames every 100 ms.
	let origin = moq_tokio::origin::spawn();
	let broadcast = origin.create_broadcast("room").context("broadcast")?;
	let track = broadcast.create_track("t", None).context("track")?;
	broadcast.announce(Default::default()).context("announce")?;
	let pub_client = client(version)?;
	let publisher = tokio::spawn({
		let url = url.clone();
		let origin = origin.clone();
		async move { pub_client.with_publisher(&origin).connect(url).established().await }
	});
	let (bytes, conn, _pub_setup) = setup_exchange(endpoint, draft).await?;
	push("SETUP (publisher, raw QUIC)", "setup", &bytes);
	let _publisher = publisher.await?.context("publisher connect")?;
	let writer = tokio::spawn(async move {
		for i in 0..50u64 {
			tokio::time::sleep(Duration::from_millis(100)).await;
			let mut group = track.append_group().unwrap();
			for n in 0..2 {
				let at = moq_net::Timestamp::from_millis(1000 + 10 * i + n).unwrap();
				group.write_frame(at, Bytes::from(format!("frame {i}.{n}"))).unwrap();
			}
			group.finish().unwrap();
		}
	});

	// Its PUBLISH_NAMESPACE, on a stream of its own, answered REQUEST_OK.
	let (mut ns_send, mut ns_recv) = conn.accept_bi().await?;
	let mut buf = BytesMut::new();
	let (message, bytes) = read::<RequestMessage, _>(&mut ns_recv, &mut buf, draft).await?;
	eprintln!("request {message:?}");
	let RequestMessage::PublishNamespace(published) = message else {
		anyhow::bail!("expected PUBLISH_NAMESPACE, got {message:?}");
	};
	push("PUBLISH_NAMESPACE (publisher, own stream)", "request", &bytes);
	ns_send
		.write_all(&RequestMessage::RequestOk(MessageParameters::default()).to_bytes(draft)?)
		.await?;

	// The server's SUBSCRIBE, on a stream it opens: SUBSCRIBE_OK, then a subgroup stream.
	let (mut sub_send, mut sub_recv) = conn.open_bi().await?;
	let subscribe = RequestMessage::Subscribe(Subscribe {
		request_id: VarInt::from_u32(1),
		namespace: published.namespace.clone(),
		track: "t".into(),
		parameters: MessageParameters::default().with(
			parameter::SUBSCRIPTION_FILTER,
			ParamValue::Bytes(Bytes::from_static(next_group_start(draft))),
		),
	});
	sub_send.write_all(&subscribe.to_bytes(draft)?).await?;
	let mut buf = BytesMut::new();
	let (message, bytes) = read::<RequestMessage, _>(&mut sub_recv, &mut buf, draft).await?;
	eprintln!("answer {message:?}");
	push("SUBSCRIBE_OK (publisher)", "request", &bytes);
	let mut uni = conn.accept_uni().await?;
	let mut data = BytesMut::new();
	let (header, head) = read::<DataStreamHeader, _>(&mut uni, &mut data, draft).await?;
	eprintln!("data {header:?}");
	push("SUBGROUP_HEADER (publisher)", "data_stream_header", &head);
	if let DataStreamHeader::Subgroup(h) = header {
		let ctx = h.context(draft);
		for n in 0..2 {
			let (object, bytes) = read::<SubgroupObject, _>(&mut uni, &mut data, ctx).await?;
			eprintln!("object {object:?}");
			let kind = if h.extensions {
				"subgroup_object_with_extensions"
			} else {
				"subgroup_object"
			};
			push(&format!("subgroup object {n} (publisher)"), kind, &bytes);
		}
	}
	writer.abort();

	// The subscriber: its SUBSCRIBE_NAMESPACE, then (told of `room`) its SUBSCRIBE.
	let sub_origin = moq_tokio::origin::spawn();
	let sub_client = client(version)?;
	let subscriber = tokio::spawn({
		let sub_origin = sub_origin.clone();
		async move { sub_client.with_subscriber(sub_origin).connect(url).established().await }
	});
	let (bytes, conn, _sub_setup) = setup_exchange(endpoint, draft).await?;
	push("SETUP (subscriber, raw QUIC)", "setup", &bytes);
	let _subscriber = subscriber.await?.context("subscriber connect")?;
	let consumer = sub_origin.consume();
	let subscribes = draft.filter_fields();
	let wanted = tokio::spawn(async move {
		// From draft-20 on, the track too: its SUBSCRIBE is the client's live join.
		match subscribes {
			true => {
				let mut announced = consumer.announced();
				while !announced
					.next()
					.await
					.is_some_and(|u| u.prefix.as_str() == "room" && u.kind.is_active())
				{}
				let broadcast = consumer.request_broadcast("room").await.ok()?;
				let track = broadcast.track("t").ok()?.subscribe(None).await.ok();
				tokio::time::sleep(Duration::from_secs(3)).await;
				track.map(drop)
			}
			false => {
				let broadcast = consumer.request_broadcast("room");
				let _ = broadcast;
				tokio::time::sleep(Duration::from_secs(3)).await;
				None
			}
		}
	});
	let (mut watch_send, mut watch_recv) = conn.accept_bi().await?;
	let mut buf = BytesMut::new();
	let (message, bytes) = read::<RequestMessage, _>(&mut watch_recv, &mut buf, draft).await?;
	eprintln!("request {message:?}");
	push(
		&format!("{} (subscriber, own stream)", message.name()),
		"request",
		&bytes,
	);
	watch_send
		.write_all(&RequestMessage::RequestOk(MessageParameters::default()).to_bytes(draft)?)
		.await?;
	watch_send
		.write_all(&RequestMessage::Namespace(vec!["room".into()]).to_bytes(draft)?)
		.await?;
	if subscribes {
		let (_sub_send, mut sub_recv) = conn.accept_bi().await?;
		let mut buf = BytesMut::new();
		let (message, bytes) = read::<RequestMessage, _>(&mut sub_recv, &mut buf, draft).await?;
		eprintln!("request {message:?}");
		push(
			&format!("{} (subscriber, live join)", message.name()),
			"request",
			&bytes,
		);
	}
	wanted.abort();
	Ok(captured)
}
