//! IETF moq-transport draft-14 sessions (`docs/protocol.md#ietf-moq-transport`): the published
//! moq-tokio / moq-net client pinned to `moq-transport-14` publishes and subscribes through the
//! relay over raw QUIC (ALPN `moq-00`) and WebTransport, bridged both ways to moq-lite-05; a
//! WebTransport CONNECT without a sub-protocol negotiates in SETUP; admission by `?jwt=` in the
//! SETUP PATH and by the SETUP AUTHORIZATION TOKEN, refusals with the draft's codes and a reason.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{Live, TestRelay, closed, raw_connect, version, within};
use moq_net::Timestamp;
use moq_relay::wire::ietf::draft18::{
	Goaway as Goaway18, MessageParameters, NamespaceRequest, ParamValue, RequestMessage, RequestUpdate,
	Subscribe as Subscribe18, UnsupportedRequest, parameter,
};
use moq_relay::wire::ietf::{
	AuthToken, ClientSetup, ControlMessage, DataStreamHeader, DecodeWith, Draft, EncodeWith, Filter, GroupOrder,
	KeyValue, Parameters, RequestErrorCode, ServerSetup, Setup, SetupParameters, Subscribe, SubscribeNamespace,
	termination,
};
use moq_relay::wire::{DecodeError, VarInt};
use moq_relay_bench::publisher::Publisher;
use moq_relay_bench::subscriber::Subscriber;
use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, Path};

const DRAFT14: &str = "moq-transport-14";
const DRAFT15: &str = "moq-transport-15";
const DRAFT16: &str = "moq-transport-16";
const DRAFT17: &str = "moq-transport-17";
const DRAFT18: &str = "moq-transport-18";
const DRAFT19: &str = "moq-transport-19";
const DRAFT20: &str = "moq-transport-20";
const DRAFT21: &str = "moq-transport-21";
const DRAFT22: &str = "moq-transport-22";
const LITE05: &str = "moq-lite-05";
const FRAMES: u64 = 4;
/// A group is written every this many milliseconds, and its frames' timestamps say so (group
/// `n` at `n * GROUP_MS` ms): the published client judges how stale a group is by media time
/// against the track's max age, so timestamps a second apart per group would make a group five
/// groups behind the newest look five seconds late and end it at the frame it waits for.
const GROUP_MS: u64 = 50;

/// A publisher of `anon/<tag>` on `name` with one track `t`, and the task writing a group every
/// 50 ms whose frames are `"<tag>:<group>:<frame>"`.
async fn publisher(
	relay: &TestRelay,
	scheme: &str,
	name: &str,
	tag: &'static str,
) -> (Publisher, tokio::task::JoinHandle<()>) {
	let client = relay.client(Some(version(name)));
	let name_path = format!("anon/{tag}");
	let start = Publisher::start(client, relay.url(scheme, ""), &name_path, "t");
	let publisher = within("publisher established", start).await.unwrap();
	assert_eq!(
		publisher.connection().version().map(|v| v.to_string()).as_deref(),
		Some(name)
	);
	until_announced(relay, "", &name_path).await;
	let track = publisher.track().clone();
	let writer = tokio::spawn(async move {
		let mut interval = tokio::time::interval(Duration::from_millis(GROUP_MS));
		for _ in 0..2000 {
			interval.tick().await;
			let mut group = track.append_group().unwrap();
			let sequence = group.sequence;
			for i in 0..FRAMES {
				let at = Timestamp::from_millis(sequence * GROUP_MS + i).unwrap();
				group
					.write_frame(at, Bytes::from(format!("{tag}:{sequence}:{i}")))
					.unwrap();
			}
			group.finish().unwrap();
		}
	});
	(publisher, writer)
}

/// Reads two whole groups of `anon/<tag>` and checks every frame's payload and order; frames a
/// draft-14 publisher sent carry the relay's arrival time (ms since the UNIX epoch) to a lite
/// subscriber, and a lite publisher's timestamps reach a lite subscriber exactly.
async fn read_from(session: &mut Subscriber, seen: &mut Vec<String>, tag: &str, from: &str, to: &str) {
	let path = format!("anon/{tag}");
	while !seen.contains(&path) {
		let update = within("announcement", session.announcements().next())
			.await
			.expect("announcements end");
		if update.kind.is_active() {
			seen.push(update.prefix.as_str().to_string());
		}
	}
	let mut track = common::subscribe_every_frame(session.consumer(), &path, "t").await;
	let mut complete = 0;
	let mut groups = 0;
	while complete < 2 {
		groups += 1;
		assert!(groups <= 50, "{from} -> {to}: no two whole groups in 50");
		let mut group = within("group", track.recv_group()).await.unwrap().expect("track ended");
		let mut frames = Vec::new();
		let mut cut = false;
		loop {
			match within("frame", group.read_frame()).await {
				Ok(Some(frame)) => frames.push((String::from_utf8(frame.payload.to_vec()).unwrap(), frame.timestamp)),
				Ok(None) => break,
				Err(_) => {
					cut = true;
					break;
				}
			}
		}
		// A group cut in favour of a newer one (newest first) is skipped; whole ones are checked.
		if cut {
			continue;
		}
		complete += 1;
		assert_eq!(frames.len() as u64, FRAMES, "{from} -> {to}: {frames:?}");
		let sequence: u64 = frames[0].0.split(':').nth(1).unwrap().parse().unwrap();
		let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
		for (i, (payload, timestamp)) in frames.iter().enumerate() {
			assert_eq!(payload, &format!("{tag}:{sequence}:{i}"), "{from} -> {to}");
			let ms = timestamp.as_millis();
			match (from, to) {
				(LITE05, LITE05) => assert_eq!(ms, u128::from(sequence * GROUP_MS) + i as u128),
				(DRAFT14 | DRAFT16 | DRAFT18 | DRAFT20 | DRAFT21 | DRAFT22, LITE05) => {
					assert!(ms + 60_000 > now_ms && ms <= now_ms, "{from} -> {to}: {ms} vs {now_ms}")
				}
				// A draft subscriber stamps frames itself: draft-14 and -16 carry no timescale.
				_ => {}
			}
		}
	}
}

/// A `draft` and a lite-05 publisher, each read by a `draft` and a lite-05 subscriber.
async fn every_pairing(scheme: &str, draft: &str) {
	let relay = TestRelay::start(Some("anon")).await;
	let publishers = [
		publisher(&relay, scheme, draft, "draft").await,
		publisher(&relay, scheme, LITE05, "lite").await,
	];
	for to in [draft, LITE05] {
		let (client, mut session) = relay.subscriber_at(scheme, to).await;
		let mut seen = Vec::new();
		read_from(&mut session, &mut seen, "draft", draft, to).await;
		read_from(&mut session, &mut seen, "lite", LITE05, to).await;
		session.close().await;
		client.close().await;
	}
	for (publisher, writer) in publishers {
		writer.abort();
		publisher.close().await;
	}
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_quic_draft14_and_lite05_pairings_deliver_every_frame() {
	every_pairing("moqt", DRAFT14).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_draft14_and_lite05_pairings_deliver_every_frame() {
	every_pairing("https", DRAFT14).await;
}

/// Draft-15 (ALPN `moqt-15`): draft-14's control stream, absolute parameter types and namespace
/// messages (SUBSCRIBE_NAMESPACE on the control stream, answered by PUBLISH_NAMESPACE) with
/// draft-16's request fields as parameters and REQUEST_OK / REQUEST_ERROR (no Retry Interval);
/// the published client pinned to `moq-transport-15` publishes and subscribes, and a lite-05
/// client reads its broadcast through the bridge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_quic_draft15_and_lite05_pairings_deliver_every_frame() {
	every_pairing("moqt", DRAFT15).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_draft15_and_lite05_pairings_deliver_every_frame() {
	every_pairing("https", DRAFT15).await;
}

/// Draft-15 between its neighbours, whose parameter coding (draft-16) and answers (draft-14)
/// differ from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft15_with_draft14_and_draft16_pairings_deliver_every_frame() {
	draft_pairings((DRAFT15, "d15"), (DRAFT14, "d14")).await;
	draft_pairings((DRAFT15, "d15"), (DRAFT16, "d16")).await;
}

/// Draft-16 (ALPN `moqt-16`): the published client pinned to `moq-transport-16` publishes
/// (PUBLISH_NAMESPACE answered REQUEST_OK, the relay's SUBSCRIBE with its fields as parameters)
/// and subscribes (SUBSCRIBE_NAMESPACE on its own bidirectional stream, NAMESPACE on it), and a
/// lite-05 client reads its broadcast through the bridge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_quic_draft16_and_lite05_pairings_deliver_every_frame() {
	every_pairing("moqt", DRAFT16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_draft16_and_lite05_pairings_deliver_every_frame() {
	every_pairing("https", DRAFT16).await;
}

/// Draft-17 (ALPN `moqt-17`): draft-18's session with draft-16's SUBSCRIBE_NAMESPACE (0x11 with
/// Subscribe Options) and subgroup stream types (no FIRST_OBJECT bit), and a Required Request ID
/// Delta in every request; the published client pinned to `moq-transport-17` publishes (the
/// relay's SUBSCRIBE with the delta) and subscribes (subgroup streams of type `0x18`), and a
/// lite-05 client reads its broadcast through the bridge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_quic_draft17_and_lite05_pairings_deliver_every_frame() {
	every_pairing("moqt", DRAFT17).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_draft17_and_lite05_pairings_deliver_every_frame() {
	every_pairing("https", DRAFT17).await;
}

/// Draft-17 between its neighbours, whose stream types and SUBSCRIBE_NAMESPACE differ from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft17_with_draft16_and_draft18_pairings_deliver_every_frame() {
	draft_pairings((DRAFT17, "d17"), (DRAFT16, "d16")).await;
	draft_pairings((DRAFT17, "d17"), (DRAFT18, "d18")).await;
}

/// Draft-18 (ALPN `moqt-18`): no control stream; the published client pinned to
/// `moq-transport-18` sends its SETUP on a unidirectional stream, publishes (PUBLISH_NAMESPACE on a
/// stream of its own, answered REQUEST_OK; the relay's SUBSCRIBE on a stream per track, subgroup
/// streams with the FIRST_OBJECT bit) and subscribes (SUBSCRIBE_NAMESPACE 0x50 and NAMESPACE on its
/// stream, a SUBSCRIBE stream per track), and a lite-05 client reads its broadcast through the
/// bridge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_quic_draft18_and_lite05_pairings_deliver_every_frame() {
	every_pairing("moqt", DRAFT18).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_draft18_and_lite05_pairings_deliver_every_frame() {
	every_pairing("https", DRAFT18).await;
}

/// A draft-18 and a draft-16 publisher, each read by a draft-18 and a draft-16 subscriber: the
/// two drafts meet in the relay's origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft18_and_draft16_pairings_deliver_every_frame() {
	draft_pairings((DRAFT18, "d18"), (DRAFT16, "d16")).await;
}

/// Draft-19 (ALPN `moqt-19`): draft-18's session and SUBSCRIBE filter, GOAWAY without a Request
/// ID; the published client pinned to `moq-transport-19` publishes (the relay's SUBSCRIBE with
/// draft-18's Next Group Start filter, which a draft-20 filter value would make the client refuse)
/// and subscribes, and a lite-05 client reads its broadcast through the bridge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_quic_draft19_and_lite05_pairings_deliver_every_frame() {
	every_pairing("moqt", DRAFT19).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_draft19_and_lite05_pairings_deliver_every_frame() {
	every_pairing("https", DRAFT19).await;
}

/// Draft-19 between its neighbours: a draft-19 publisher read by draft-18 and draft-20
/// subscribers and theirs by a draft-19 one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft19_with_draft18_and_draft20_pairings_deliver_every_frame() {
	draft_pairings((DRAFT19, "d19"), (DRAFT18, "d18")).await;
	draft_pairings((DRAFT19, "d19"), (DRAFT20, "d20")).await;
}

/// Draft-20 (ALPN `moqt-20`): the published client pinned to `moq-transport-20` (its SUBSCRIBE a
/// Next Object LOCATION_FILTER with a FILL, answered without LARGEST_OBJECT so that no fill is
/// owed; the relay's SUBSCRIBE a Relative Start of 0 in draft-20's integer list; GOAWAY without a
/// Request ID) publishes and subscribes, and a lite-05 client reads its broadcast through the
/// bridge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_quic_draft20_and_lite05_pairings_deliver_every_frame() {
	every_pairing("moqt", DRAFT20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_draft20_and_lite05_pairings_deliver_every_frame() {
	every_pairing("https", DRAFT20).await;
}

/// Draft-21 is draft-20 on the wire (ALPN `moqt-21`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_quic_draft21_and_lite05_pairings_deliver_every_frame() {
	every_pairing("moqt", DRAFT21).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_draft21_and_lite05_pairings_deliver_every_frame() {
	every_pairing("https", DRAFT21).await;
}

/// Draft-22 (ALPN `moqt-22`): LOCATION_FILTER without a Length, typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_draft22_and_lite05_pairings_deliver_every_frame() {
	every_pairing("https", DRAFT22).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_quic_draft22_and_lite05_pairings_deliver_every_frame() {
	every_pairing("moqt", DRAFT22).await;
}

/// The acceptance point: a draft-16 publisher read by a draft-20 subscriber, and a draft-20
/// publisher read by a draft-16 subscriber (each also read by its own draft).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft20_and_draft16_pairings_deliver_every_frame() {
	draft_pairings((DRAFT20, "d20"), (DRAFT16, "d16")).await;
}

/// Draft-20 and draft-18, whose filters and GOAWAYs differ, through the relay's origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft20_and_draft18_pairings_deliver_every_frame() {
	draft_pairings((DRAFT20, "d20"), (DRAFT18, "d18")).await;
}

/// A publisher of each draft (`anon/<tag>` on raw QUIC), each read by a subscriber of each.
async fn draft_pairings((a, a_tag): (&str, &'static str), (b, b_tag): (&str, &'static str)) {
	let relay = TestRelay::start(Some("anon")).await;
	let publishers = [
		publisher(&relay, "moqt", a, a_tag).await,
		publisher(&relay, "moqt", b, b_tag).await,
	];
	for to in [a, b] {
		let (client, mut session) = relay.subscriber_at("moqt", to).await;
		let mut seen = Vec::new();
		read_from(&mut session, &mut seen, a_tag, a, to).await;
		read_from(&mut session, &mut seen, b_tag, b, to).await;
		session.close().await;
		client.close().await;
	}
	for (publisher, writer) in publishers {
		writer.abort();
		publisher.close().await;
	}
	relay.stop().await;
}

/// CLIENT_SETUP offering draft-14 with `parameters`.
fn client_setup(parameters: Vec<KeyValue>) -> Vec<u8> {
	ClientSetup {
		versions: vec![VarInt::from_u64(Draft::Draft14.setup_version()).unwrap()],
		parameters: SetupParameters(parameters),
	}
	.to_bytes(Draft::Draft14)
	.unwrap()
}

/// The SETUP PATH parameter.
pub(crate) fn path(value: &str) -> KeyValue {
	KeyValue::bytes(1, value.as_bytes().to_vec())
}

/// An AUTHORIZATION TOKEN parameter carrying `value` as token type 0 (USE_VALUE).
pub(crate) fn token(value: &str) -> KeyValue {
	AuthToken::UseValue {
		token_type: VarInt::ZERO,
		value: Bytes::from(value.to_string()),
	}
	.to_parameter()
	.unwrap()
}

/// Reads a SERVER_SETUP from `recv`; `None` if the stream ends first.
async fn server_setup(recv: &mut web_transport_quinn::quinn::RecvStream) -> Option<ServerSetup> {
	server_setup_in(recv, Draft::Draft14).await
}

/// The SERVER_SETUP of a `draft` control stream, or `None` when the stream ends first.
async fn server_setup_in(recv: &mut web_transport_quinn::quinn::RecvStream, draft: Draft) -> Option<ServerSetup> {
	let mut buf = Vec::new();
	loop {
		match ServerSetup::decode_prefix(&buf, draft) {
			Ok((setup, _)) => return Some(setup),
			Err(DecodeError::UnexpectedEnd) => {}
			Err(err) => panic!("not a SERVER_SETUP: {err}"),
		}
		match within("SERVER_SETUP", recv.read_chunk(4096, true)).await {
			Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
			_ => return None,
		}
	}
}

/// A raw QUIC draft-14 session with `parameters` in its CLIENT_SETUP: the SERVER_SETUP, or the
/// relay's close code and reason.
pub(crate) async fn quic_session(
	relay: &impl common::Target,
	parameters: Vec<KeyValue>,
) -> Result<ServerSetup, (u64, String)> {
	let conn = raw_connect(relay, "moq-00").await;
	let (mut send, mut recv) = within("open control", conn.open_bi()).await.unwrap();
	send.write_all(&client_setup(parameters)).await.unwrap();
	match server_setup(&mut recv).await {
		Some(setup) => {
			conn.close(0u32.into(), b"done");
			Ok(setup)
		}
		None => Err(closed(&conn).await),
	}
}

/// A raw QUIC draft session past SETUP: its control stream (or another bidirectional stream),
/// for byte-level exchanges.
struct RawDraft {
	conn: web_transport_quinn::quinn::Connection,
	draft: Draft,
	send: web_transport_quinn::quinn::SendStream,
	recv: web_transport_quinn::quinn::RecvStream,
	buf: Vec<u8>,
}

impl RawDraft {
	/// Connects over draft-14 with `parameters` in CLIENT_SETUP and reads the SERVER_SETUP.
	async fn admitted(relay: &impl common::Target, parameters: Vec<KeyValue>) -> Self {
		Self::admitted_in(relay, Draft::Draft14, parameters).await.0
	}

	/// Connects over `draft` (its ALPN, its CLIENT_SETUP form) and reads the SERVER_SETUP.
	async fn admitted_in(relay: &impl common::Target, draft: Draft, parameters: Vec<KeyValue>) -> (Self, ServerSetup) {
		let conn = raw_connect(relay, draft.alpn()).await;
		Self::admitted_over(conn, draft, parameters).await
	}

	/// [`RawDraft::admitted_in`] over a connection already made.
	async fn admitted_over(
		conn: web_transport_quinn::quinn::Connection,
		draft: Draft,
		parameters: Vec<KeyValue>,
	) -> (Self, ServerSetup) {
		let (mut send, recv) = within("open control", conn.open_bi()).await.unwrap();
		let versions = match draft {
			Draft::Draft14 => vec![VarInt::from_u64(draft.setup_version()).unwrap()],
			_ => Vec::new(),
		};
		let setup = ClientSetup {
			versions,
			parameters: SetupParameters(parameters),
		};
		send.write_all(&setup.to_bytes(draft).unwrap()).await.unwrap();
		let mut raw = Self {
			conn,
			draft,
			send,
			recv,
			buf: Vec::new(),
		};
		let setup = raw.read::<ServerSetup>().await.expect("SERVER_SETUP");
		(raw, setup)
	}

	/// A new bidirectional stream of the same session.
	async fn open(&self) -> Self {
		let (send, recv) = within("open stream", self.conn.open_bi()).await.unwrap();
		Self {
			conn: self.conn.clone(),
			draft: self.draft,
			send,
			recv,
			buf: Vec::new(),
		}
	}

	async fn write(&mut self, message: ControlMessage) {
		let bytes = message.to_bytes(self.draft).unwrap();
		self.send.write_all(&bytes).await.unwrap();
	}

	/// The next value on the stream; `None` when it ends.
	async fn read<T: DecodeWith<Draft>>(&mut self) -> Option<T> {
		loop {
			match T::decode_prefix(&self.buf, self.draft) {
				Ok((value, used)) => {
					self.buf.drain(..used);
					return Some(value);
				}
				Err(DecodeError::UnexpectedEnd) => {}
				Err(err) => panic!("undecodable control message: {err}"),
			}
			match within("control message", self.recv.read_chunk(65536, true)).await {
				Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk.bytes),
				_ => return None,
			}
		}
	}
}

/// Draft-16 on the wire (ALPN `moqt-16`): SERVER_SETUP names no version; PUBLISH_NAMESPACE is
/// answered REQUEST_OK; SUBSCRIBE_NAMESPACE on its own bidirectional stream gets REQUEST_OK and
/// NAMESPACE for each broadcast (NAMESPACE_DONE when one is withdrawn by PUBLISH_NAMESPACE_DONE,
/// which names its Request ID), or REQUEST_ERROR and the stream's end for Subscribe Options that
/// ask for PUBLISH only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft16_requests_on_the_wire() {
	let relay = TestRelay::start(Some("anon")).await;
	let (publisher, writer) = publisher(&relay, "moqt", LITE05, "shown").await;
	let max = KeyValue::int(2, VarInt::from_u32(100));
	let (mut raw, setup) = RawDraft::admitted_in(&relay, Draft::Draft16, vec![path("/anon"), max]).await;
	assert_eq!(setup.version.into_inner(), Draft::Draft16.setup_version());
	assert!(setup.parameters.max_request_id() > VarInt::ZERO);

	raw.write(ControlMessage::PublishNamespace(
		moq_relay::wire::ietf::PublishNamespace {
			request_id: VarInt::ZERO,
			namespace: vec!["mine".into()],
			parameters: Parameters::default(),
		},
	))
	.await;
	assert!(matches!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::RequestOk(ok)) if ok.request_id == VarInt::ZERO
	));

	let mut watch = raw.open().await;
	watch
		.write(ControlMessage::SubscribeNamespace(SubscribeNamespace {
			request_id: VarInt::from_u32(2),
			prefix: Vec::new(),
			options: Some(VarInt::from_u32(1)),
			parameters: Parameters::default(),
		}))
		.await;
	assert!(matches!(
		watch.read::<ControlMessage>().await,
		Some(ControlMessage::RequestOk(ok)) if ok.request_id == VarInt::from_u32(2)
	));
	let mut shown = Vec::new();
	while !(shown.contains(&"shown".to_string()) && shown.contains(&"mine".to_string())) {
		match watch.read::<ControlMessage>().await {
			Some(ControlMessage::Namespace(suffix)) => shown.push(suffix.join("/")),
			other => panic!("expected NAMESPACE, got {other:?}"),
		}
	}
	// Withdrawn by its Request ID.
	raw.write(ControlMessage::PublishNamespaceDoneRequest(VarInt::ZERO))
		.await;
	assert_eq!(
		watch.read::<ControlMessage>().await,
		Some(ControlMessage::NamespaceDone(vec!["mine".to_string()]))
	);

	let mut refused = raw.open().await;
	refused
		.write(ControlMessage::SubscribeNamespace(SubscribeNamespace {
			request_id: VarInt::from_u32(4),
			prefix: Vec::new(),
			options: Some(VarInt::ZERO),
			parameters: Parameters::default(),
		}))
		.await;
	match refused.read::<ControlMessage>().await {
		Some(ControlMessage::RequestError(err)) => {
			assert_eq!(err.request_id, VarInt::from_u32(4));
			assert_eq!(err.code, VarInt::from_u32(RequestErrorCode::NOT_SUPPORTED));
		}
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}
	assert_eq!(refused.read::<ControlMessage>().await, None);

	// No such broadcast: DOES_NOT_EXIST, which draft-16 numbers 0x10 (draft-14: 0x4, which draft-16
	// gives to MALFORMED_AUTH_TOKEN), as the published client reads it.
	raw.write(subscribe_in(6, &["nothing"], Vec::new())).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::RequestError(err) | ControlMessage::SubscribeError(err)) => {
			assert_eq!(err.request_id, VarInt::from_u32(6));
			assert_eq!(err.code, VarInt::from_u32(0x10), "{err:?}");
		}
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}

	// On the control stream it breaks draft-16's rules.
	raw.write(ControlMessage::SubscribeNamespace(SubscribeNamespace {
		request_id: VarInt::from_u32(8),
		prefix: Vec::new(),
		options: Some(VarInt::from_u32(1)),
		parameters: Parameters::default(),
	}))
	.await;
	let (code, reason) = closed(&raw.conn).await;
	assert_eq!(
		code,
		u64::from(termination::PROTOCOL_VIOLATION.into_inner()),
		"{reason}"
	);
	writer.abort();
	publisher.close().await;
	relay.stop().await;
}

/// Draft-15 on the wire, as the published client reads it: SERVER_SETUP with no version and
/// absolute parameter types; PUBLISH_NAMESPACE answered REQUEST_OK; SUBSCRIBE_NAMESPACE on the
/// control stream (no Subscribe Options) answered REQUEST_OK, then PUBLISH_NAMESPACE for each
/// broadcast and PUBLISH_NAMESPACE_DONE naming the namespace when one ends; a missing broadcast
/// refused with DOES_NOT_EXIST (0x10) in a REQUEST_ERROR without a Retry Interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft15_requests_on_the_wire() {
	let relay = TestRelay::start(Some("anon")).await;
	let (publisher, writer) = publisher(&relay, "moqt", LITE05, "shown").await;
	let max = KeyValue::int(2, VarInt::from_u32(100));
	let (mut raw, setup) = RawDraft::admitted_in(&relay, Draft::Draft15, vec![path("/anon"), max]).await;
	// Read with absolute types: delta-coded ones would read as MAX_REQUEST_ID twice.
	assert!(setup.parameters.max_request_id() > VarInt::ZERO);
	assert!(
		setup
			.parameters
			.implementation()
			.is_some_and(|i| i.starts_with("moq-relay"))
	);

	raw.write(ControlMessage::PublishNamespace(
		moq_relay::wire::ietf::PublishNamespace {
			request_id: VarInt::ZERO,
			namespace: vec!["mine".into()],
			parameters: Parameters::default(),
		},
	))
	.await;
	assert!(matches!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::RequestOk(ok)) if ok.request_id == VarInt::ZERO
	));

	raw.write(ControlMessage::SubscribeNamespace(SubscribeNamespace {
		request_id: VarInt::from_u32(2),
		prefix: Vec::new(),
		options: None,
		parameters: Parameters::default(),
	}))
	.await;
	let mut answered = false;
	let mut shown = Vec::new();
	while !(answered && shown.contains(&"shown".to_string()) && shown.contains(&"mine".to_string())) {
		match raw.read::<ControlMessage>().await {
			Some(ControlMessage::RequestOk(ok)) if ok.request_id == VarInt::from_u32(2) => answered = true,
			Some(ControlMessage::PublishNamespace(found)) => {
				assert_eq!(found.request_id.into_inner() % 2, 1, "the relay's own Request IDs");
				shown.push(found.namespace.join("/"));
			}
			other => panic!("expected REQUEST_OK and PUBLISH_NAMESPACE, got {other:?}"),
		}
	}
	// Withdrawn by its namespace, and told so by its namespace.
	raw.write(ControlMessage::PublishNamespaceDone(vec!["mine".into()]))
		.await;
	assert_eq!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::PublishNamespaceDone(vec!["mine".to_string()]))
	);

	// No such broadcast: DOES_NOT_EXIST is 0x10 from draft-15 on, and REQUEST_ERROR has no Retry
	// Interval (a draft-16 one would be read here as a reason of the wrong length).
	raw.write(subscribe_in(4, &["nothing"], Vec::new())).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::RequestError(err)) => {
			assert_eq!(err.request_id, VarInt::from_u32(4));
			assert_eq!(err.code, VarInt::from_u32(0x10), "{err:?}");
			assert!(!err.reason.is_empty(), "{err:?}");
		}
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}
	// UNSUBSCRIBE_NAMESPACE exists on draft-15; a draft-16 NAMESPACE does not.
	raw.write(ControlMessage::UnsubscribeNamespace(VarInt::from_u32(2)))
		.await;
	let mut namespace = vec![0x08];
	namespace.extend(3u16.to_be_bytes());
	namespace.extend([0x01, 0x01, b'x']);
	raw.send.write_all(&namespace).await.unwrap();
	let (code, reason) = closed(&raw.conn).await;
	assert_eq!(
		code,
		u64::from(termination::PROTOCOL_VIOLATION.into_inner()),
		"{reason}"
	);
	assert!(reason.contains("unknown draft-15 control message type 8"), "{reason}");
	writer.abort();
	publisher.close().await;
	relay.stop().await;
}

/// Draft-16 refuses DELETE and USE_ALIAS in CLIENT_SETUP with PROTOCOL_VIOLATION (draft-14 has
/// no alias to find yet: UNKNOWN_AUTH_TOKEN_ALIAS); a USE_VALUE token there is read as on draft-14.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft16_setup_tokens() {
	let relay = TestRelay::start(Some("anon")).await;
	let setup = |token: KeyValue| {
		ClientSetup {
			versions: Vec::new(),
			parameters: SetupParameters(vec![path("/anon"), token]),
		}
		.to_bytes(Draft::Draft16)
		.unwrap()
	};
	let alias = AuthToken::UseAlias { alias: VarInt::ZERO }.to_parameter().unwrap();
	for (draft, bytes, code) in [
		(Draft::Draft16, setup(alias.clone()), termination::PROTOCOL_VIOLATION),
		(
			Draft::Draft14,
			client_setup(vec![path("/anon"), alias]),
			termination::UNKNOWN_AUTH_TOKEN_ALIAS,
		),
	] {
		let conn = raw_connect(&relay, draft.alpn()).await;
		let (mut send, _recv) = within("open control", conn.open_bi()).await.unwrap();
		send.write_all(&bytes).await.unwrap();
		let (closed_with, reason) = closed(&conn).await;
		assert_eq!(closed_with, u64::from(code.into_inner()), "{draft}: {reason}");
	}
	// A token that is no credential is refused as UNAUTHORIZED, past the alias rules.
	let conn = raw_connect(&relay, "moqt-16").await;
	let (mut send, _recv) = within("open control", conn.open_bi()).await.unwrap();
	send.write_all(&setup(token("not-a-jwt"))).await.unwrap();
	let (closed_with, reason) = closed(&conn).await;
	assert_eq!(
		closed_with,
		u64::from(termination::UNAUTHORIZED.into_inner()),
		"{reason}"
	);
	relay.stop().await;
}

/// A SUBSCRIBE with the Request ID `id` to `anon/<broadcast>` track `t`, with `parameters`.
fn subscribe(id: u64, broadcast: &str, parameters: Vec<KeyValue>) -> ControlMessage {
	subscribe_in(id, &["anon", broadcast], parameters)
}

/// A SUBSCRIBE (draft-14/16 form) of track `t` in `namespace`, from the latest group on.
fn subscribe_in(id: u64, namespace: &[&str], parameters: Vec<KeyValue>) -> ControlMessage {
	ControlMessage::Subscribe(Subscribe {
		request_id: VarInt::from_u64(id).unwrap(),
		namespace: namespace.iter().map(|n| n.to_string()).collect(),
		track: "t".into(),
		priority: 0,
		group_order: GroupOrder::Descending,
		forward: true,
		filter: Filter::NextGroupStart,
		parameters: Parameters(parameters),
	})
}

/// AUTHORIZATION TOKEN aliases on requests: REGISTER in CLIENT_SETUP (the session's credential,
/// kept), then USE_ALIAS on a SUBSCRIBE resolves (the SUBSCRIBE is decided: no such broadcast);
/// an unknown alias refuses the request alone (UNAUTHORIZED, `unknown_auth_token_alias`); a
/// REGISTER past MAX_AUTH_TOKEN_CACHE_SIZE closes the session with AUTH_TOKEN_CACHE_OVERFLOW.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_token_aliases_on_requests() {
	let secured = Secured::start("alias").await;
	let good = secured.token("", moq_token::unix_now() + 600);
	let register = |alias: u32, value: String| {
		AuthToken::Register {
			alias: VarInt::from_u32(alias),
			token_type: VarInt::ZERO,
			value: Bytes::from(value),
		}
		.to_parameter()
		.unwrap()
	};
	let use_alias = |alias: u32| {
		AuthToken::UseAlias {
			alias: VarInt::from_u32(alias),
		}
		.to_parameter()
		.unwrap()
	};
	let mut raw = RawDraft::admitted(&secured.relay, vec![path("/"), register(7, good.clone())]).await;
	raw.write(subscribe(0, "nothing", vec![use_alias(7)])).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::SubscribeError(err)) => {
			assert_eq!(
				err.code.into_inner(),
				u64::from(RequestErrorCode::DOES_NOT_EXIST),
				"{err:?}"
			);
		}
		other => panic!("expected SUBSCRIBE_ERROR, got {other:?}"),
	}
	raw.write(subscribe(2, "nothing", vec![use_alias(8)])).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::SubscribeError(err)) => {
			assert_eq!(err.code.into_inner(), u64::from(RequestErrorCode::UNAUTHORIZED));
			assert!(err.reason.starts_with("unknown_auth_token_alias"), "{}", err.reason);
		}
		other => panic!("expected SUBSCRIBE_ERROR, got {other:?}"),
	}
	// 16 + 16,400 bytes is over the 16 KiB the relay advertised.
	let oversize = register(9, "x".repeat(16_400));
	raw.write(subscribe(4, "nothing", vec![oversize])).await;
	let (code, reason) = closed(&raw.conn).await;
	assert_eq!(code, u64::from(termination::AUTH_TOKEN_CACHE_OVERFLOW.into_inner()));
	assert!(reason.starts_with("auth_token_cache_overflow"), "{reason}");
	secured.stop().await;
}

/// A draft session's audit trail past its admission (`docs/auth.md`, "Audit log"): a SUBSCRIBE
/// and a PUBLISH_NAMESPACE outside the grant are refused UNAUTHORIZED and each gets a line naming
/// the request, the path and the session's `jti`; a PUBLISH_NAMESPACE the grant allows gets none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_grant_refuses_are_in_the_audit_trail() {
	let capture = common::Capture::install_trace();
	let secured = Secured::start("trail").await;
	let mut claims = Claims::new(Path::new("room").unwrap())
		.with_publish(Path::new("cam").unwrap())
		.with_subscribe(Path::new("cam").unwrap())
		.with_expires(moq_token::unix_now() + 600);
	claims.id = Some("draft-trail".into());
	let credential = secured.key.sign(&claims).unwrap();
	let mut raw = RawDraft::admitted(&secured.relay, vec![path("/room"), token(&credential)]).await;
	let unauthorized = u64::from(RequestErrorCode::UNAUTHORIZED);
	raw.write(subscribe(0, "x", Vec::new())).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::SubscribeError(err)) => assert_eq!(err.code.into_inner(), unauthorized, "{err:?}"),
		other => panic!("expected SUBSCRIBE_ERROR, got {other:?}"),
	}
	let publish = |id: u32, name: &str| {
		ControlMessage::PublishNamespace(moq_relay::wire::ietf::PublishNamespace {
			request_id: VarInt::from_u32(id),
			namespace: vec![name.into()],
			parameters: Parameters::default(),
		})
	};
	raw.write(publish(2, "mic")).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::PublishNamespaceError(err)) => {
			assert_eq!(err.code.into_inner(), unauthorized, "{err:?}")
		}
		other => panic!("expected PUBLISH_NAMESPACE_ERROR, got {other:?}"),
	}
	raw.write(publish(4, "cam")).await;
	assert!(matches!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::PublishNamespaceOk(id)) if id == VarInt::from_u32(4)
	));
	secured.stop().await;

	let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
	let refused: Vec<&str> = text
		.lines()
		.filter(|l| l.contains("moq_relay::audit") && l.contains("request refused by the grant"))
		.collect();
	assert_eq!(refused.len(), 2, "{refused:#?}");
	for (line, request, path) in [(refused[0], "subscribe", "anon/x"), (refused[1], "publish", "mic")] {
		for (field, value) in [
			("request", request),
			("path", path),
			("root", "room"),
			("jti", "draft-trail"),
			("transport", "quic"),
		] {
			assert!(common::has_field(line, field, value), "{field}={value} in {line}");
		}
	}
	assert!(
		!text.contains(credential.rsplit('.').next().unwrap()),
		"the token reached the log"
	);
}

/// Request tokens are verified (draft-16 §9.2.2.1: a well-formed but invalid AUTHORIZATION TOKEN
/// rejects its message): a session whose own grant allows everything still has a SUBSCRIBE
/// refused for a token with a bad signature (MALFORMED_AUTH_TOKEN), an expired one
/// (EXPIRED_AUTH_TOKEN), another root's (UNAUTHORIZED) or a Token Type the relay does not read;
/// a REGISTER of a bad token holds its alias, whose later use is refused the same; a valid token
/// lets the grant decide. The same on a draft-18 request stream (draft-18's numbers) and on a
/// draft-16 SUBSCRIBE_NAMESPACE stream; each refusal has an audit line without the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_tokens_are_verified() {
	let capture = common::Capture::install_trace();
	let secured = Secured::start("requests").await;
	let later = moq_token::unix_now() + 600;
	let good = secured.token("", later);
	let expired = secured.token("", moq_token::unix_now() - 600);
	let other = secured.token("other", later);
	let (head, _) = good.rsplit_once('.').unwrap();
	let forged = format!("{head}.AAAA");
	let value = |token_type: u32, text: &str| AuthToken::UseValue {
		token_type: VarInt::from_u32(token_type),
		value: Bytes::from(text.to_string()),
	};
	let register = |alias: u32, text: &str| AuthToken::Register {
		alias: VarInt::from_u32(alias),
		token_type: VarInt::ZERO,
		value: Bytes::from(text.to_string()),
	};
	let use_alias = |alias: u32| AuthToken::UseAlias {
		alias: VarInt::from_u32(alias),
	};

	// Draft-14, on the control stream.
	let mut raw = RawDraft::admitted(&secured.relay, vec![path("/"), token(&good)]).await;
	let cases = [
		(
			value(0, &forged),
			RequestErrorCode::MALFORMED_AUTH_TOKEN,
			"invalid_token",
		),
		(
			value(0, &expired),
			RequestErrorCode::EXPIRED_AUTH_TOKEN,
			"token_expired",
		),
		(value(0, &other), RequestErrorCode::UNAUTHORIZED, "root_mismatch"),
		(
			value(5, &good),
			RequestErrorCode::MALFORMED_AUTH_TOKEN,
			"malformed_auth_token",
		),
		(
			register(3, &forged),
			RequestErrorCode::MALFORMED_AUTH_TOKEN,
			"invalid_token",
		),
		(use_alias(3), RequestErrorCode::MALFORMED_AUTH_TOKEN, "invalid_token"),
		// Past the gate: the grant allows it, and there is no such broadcast.
		(value(0, &good), RequestErrorCode::DOES_NOT_EXIST, "no such broadcast"),
	];
	for (id, (auth, code, reason)) in cases.iter().enumerate() {
		let parameter = auth.clone().to_parameter().unwrap();
		raw.write(subscribe(2 * id as u64, "nothing", vec![parameter])).await;
		match raw.read::<ControlMessage>().await {
			Some(ControlMessage::SubscribeError(err)) => {
				assert_eq!(err.code.into_inner(), u64::from(*code), "{auth:?}: {err:?}");
				assert!(err.reason.starts_with(reason), "{auth:?}: {err:?}");
			}
			other => panic!("{auth:?}: expected SUBSCRIBE_ERROR, got {other:?}"),
		}
	}

	// Draft-18: REQUEST_ERROR on the request's stream, in draft-18's numbers.
	let (raw18, _) = Raw18::connect(&secured.relay, vec![path("/"), use_value18(&good)])
		.await
		.expect("admitted");
	let cases18 = [
		(
			forged.as_str(),
			moq_relay::protocol::ietf::request_stream::error_code::MALFORMED_AUTH_TOKEN,
		),
		(
			expired.as_str(),
			moq_relay::protocol::ietf::request_stream::error_code::EXPIRED_AUTH_TOKEN,
		),
	];
	for (id, (text, code)) in cases18.into_iter().enumerate() {
		let mut stream = raw18.open().await;
		stream
			.write(&RequestMessage::Subscribe(moq_relay::wire::ietf::draft18::Subscribe {
				request_id: VarInt::from_u32(2 * id as u32),
				namespace: vec!["nothing".into()],
				track: "t".into(),
				parameters: MessageParameters::default().with(
					parameter::AUTHORIZATION_TOKEN,
					ParamValue::Bytes(value(0, text).encode_value_in(Draft::Draft18).into()),
				),
			}))
			.await;
		match stream.read::<RequestMessage>().await {
			Some(RequestMessage::RequestError(err)) => assert_eq!(err.code.into_inner(), u64::from(code), "{err:?}"),
			other => panic!("expected REQUEST_ERROR, got {other:?}"),
		}
	}

	// Draft-16: on a SUBSCRIBE_NAMESPACE stream.
	let (raw16, _) = RawDraft::admitted_in(&secured.relay, Draft::Draft16, vec![path("/"), token(&good)]).await;
	let mut watch = raw16.open().await;
	watch
		.write(ControlMessage::SubscribeNamespace(SubscribeNamespace {
			request_id: VarInt::ZERO,
			prefix: Vec::new(),
			options: Some(VarInt::from_u32(1)),
			parameters: Parameters(vec![value(0, &forged).to_parameter().unwrap()]),
		}))
		.await;
	match watch.read::<ControlMessage>().await {
		Some(ControlMessage::RequestError(err)) => {
			assert_eq!(
				err.code.into_inner(),
				u64::from(moq_relay::protocol::ietf::request_stream::error_code::MALFORMED_AUTH_TOKEN),
				"{err:?}"
			);
		}
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}
	secured.stop().await;

	let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
	let refused: Vec<&str> = text
		.lines()
		.filter(|l| l.contains("moq_relay::audit") && l.contains("its authorization token did not verify"))
		.collect();
	assert_eq!(refused.len(), 9, "{refused:#?}");
	for code in [
		"invalid_token",
		"token_expired",
		"root_mismatch",
		"malformed_auth_token",
	] {
		assert!(
			refused.iter().any(|l| common::has_field(l, "code", code)),
			"{code}: {refused:#?}"
		);
	}
	for token in [&good, &forged, &expired, &other] {
		assert!(
			!text.contains(token.rsplit('.').next().unwrap()),
			"a token reached the log"
		);
	}
}

/// A session may have the relay verify request tokens only as fast as `[limits] subscribe_rate`
/// (after a burst of ten times as many): with a rate of 1, thirty PUBLISH_NAMESPACEs carrying a
/// valid token, sent at once, get the burst of ten accepted and the rest (but for a token the
/// bucket may have regained meanwhile) refused INTERNAL_ERROR `token_rate` (PUBLISH_NAMESPACE takes
/// nothing from the subscription bucket, so the limit is the tokens' own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_tokens_are_verified_at_a_bounded_rate() {
	let secured = Secured::start_with("token-rate", |config| config.limits.subscribe_rate = Some(1)).await;
	let good = secured.token("", moq_token::unix_now() + 600);
	let mut raw = RawDraft::admitted(&secured.relay, vec![path("/"), token(&good)]).await;
	for n in 0..30u32 {
		raw.write(ControlMessage::PublishNamespace(
			moq_relay::wire::ietf::PublishNamespace {
				request_id: VarInt::from_u32(2 * n),
				namespace: vec![format!("room{n}")],
				parameters: Parameters(vec![token(&good)]),
			},
		))
		.await;
	}
	let mut refused = 0;
	for n in 0..30u32 {
		match raw.read::<ControlMessage>().await {
			Some(ControlMessage::PublishNamespaceOk(_)) => {}
			Some(ControlMessage::PublishNamespaceError(err)) => {
				assert!(n >= 10, "refused within the burst: {n} {err:?}");
				assert_eq!(
					err.code.into_inner(),
					u64::from(RequestErrorCode::INTERNAL_ERROR),
					"{err:?}"
				);
				assert_eq!(err.reason, "token_rate");
				refused += 1;
			}
			other => panic!("PUBLISH_NAMESPACE {n}: {other:?}"),
		}
	}
	// Twenty past the burst, a few of them perhaps let through by the one token a second.
	assert!(refused >= 15, "{refused} refused");
	let metrics = common::metrics(&secured.relay).await;
	assert_eq!(
		metrics.get("moq_relay_limit_refused_total{code=\"token_rate\"}"),
		Some(&refused)
	);
	secured.stop().await;
}

/// A relay that verifies tokens with a fresh HS256 key and has no public prefix.
struct Secured {
	relay: TestRelay,
	key: Key,
	dir: std::path::PathBuf,
}

impl Secured {
	async fn start(name: &str) -> Self {
		Self::start_with(name, |_| {}).await
	}

	/// [`Secured::start`], with `configure` adjusting the rest of the configuration.
	async fn start_with(name: &str, configure: impl FnOnce(&mut moq_relay::config::Config) + Send + 'static) -> Self {
		let dir = std::env::temp_dir().join(format!("moq-relay-ietf-{name}-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		let key = Key::generate(Algorithm::HS256, Some(KeyId::new("test").unwrap())).unwrap();
		let key_file = dir.join("root.jwk");
		key.to_file(&key_file, KeyFormat::Base64Url).unwrap();
		let relay = TestRelay::start_with(move |config| {
			config.auth.key = Some(key_file);
			configure(config);
		})
		.await;
		Self { relay, key, dir }
	}

	fn token(&self, root: &str, expires: u64) -> String {
		let claims = Claims::new(Path::new(root).unwrap())
			.with_publish(Path::root())
			.with_subscribe(Path::root());
		self.key.sign(&claims.with_expires(expires)).unwrap()
	}

	async fn stop(self) {
		self.relay.stop().await;
		let _ = std::fs::remove_dir_all(&self.dir);
	}
}

/// A moq-lite publisher of broadcast `b` (track `t`) on `secured`'s relay, and the task writing a
/// group of one frame every [`GROUP_MS`] to it.
async fn publishing_b(secured: &Secured) -> (Publisher, tokio::task::JoinHandle<()>) {
	let later = moq_token::unix_now() + 600;
	let claims = Claims::new(Path::root()).with_publish(Path::root()).with_expires(later);
	let publishing = secured.key.sign(&claims).unwrap();
	let start = Publisher::start(
		secured.relay.client(Some(version(LITE05))),
		secured.relay.url("moqt", &format!("?jwt={publishing}")),
		"b",
		"t",
	);
	let publisher = within("publisher established", start).await.unwrap();
	let watching = Claims::new(Path::root())
		.with_subscribe(Path::root())
		.with_expires(later);
	let watching = secured.key.sign(&watching).unwrap();
	until_announced(&secured.relay, &format!("?jwt={watching}"), "b").await;
	let track = publisher.track().clone();
	let write = move |i: u64| {
		let mut group = track.append_group().unwrap();
		group
			.write_frame(Timestamp::from_millis(i).unwrap(), Bytes::from("b"))
			.unwrap();
		group.finish().unwrap();
	};
	// The first group is written before this returns, so a caller always finds one.
	write(0);
	let writer = tokio::spawn(async move {
		let mut interval = tokio::time::interval(Duration::from_millis(GROUP_MS));
		interval.tick().await;
		for i in 1..2000 {
			interval.tick().await;
			write(i);
		}
	});
	(publisher, writer)
}

/// Draft-18's AUTHORIZATION_TOKEN message parameter carrying `text` (USE_VALUE).
fn token_parameter18(text: &str) -> ParamValue {
	let token = AuthToken::UseValue {
		token_type: VarInt::ZERO,
		value: Bytes::from(text.to_string()),
	};
	ParamValue::Bytes(token.encode_value_in(Draft::Draft18).into())
}

/// A draft-18 SUBSCRIBE `id` to `b`/`t` carrying `tokens` as AUTHORIZATION TOKENs.
fn subscribe18(id: u32, tokens: &[&str]) -> RequestMessage {
	let mut parameters = MessageParameters::default();
	for text in tokens {
		parameters = parameters.with(parameter::AUTHORIZATION_TOKEN, token_parameter18(text));
	}
	RequestMessage::Subscribe(Subscribe18 {
		request_id: VarInt::from_u32(id),
		namespace: vec!["b".into()],
		track: "t".into(),
		parameters,
	})
}

/// A control stream's PUBLISH_NAMESPACE `id` (draft-14 to draft-16) of the namespace `name`.
fn announce14(id: u32, name: &str, parameters: Vec<KeyValue>) -> ControlMessage {
	ControlMessage::PublishNamespace(moq_relay::wire::ietf::PublishNamespace {
		request_id: VarInt::from_u32(id),
		namespace: vec![name.into()],
		parameters: Parameters(parameters),
	})
}

/// A draft-18 PUBLISH_NAMESPACE `id` of the namespace `name`, carrying `token`.
fn announce18(id: u32, name: &str, token: &str) -> RequestMessage {
	let mut request = namespace_request(id, &[name]);
	request.parameters = request
		.parameters
		.with(parameter::AUTHORIZATION_TOKEN, token_parameter18(token));
	RequestMessage::PublishNamespace(request)
}

/// A draft-18 SUBSCRIBE_NAMESPACE `id` of every namespace, carrying `token`.
fn watch18(id: u32, token: &str) -> RequestMessage {
	let mut watch = namespace_request(id, &[]);
	watch.parameters = watch
		.parameters
		.with(parameter::AUTHORIZATION_TOKEN, token_parameter18(token));
	RequestMessage::SubscribeNamespace(watch)
}

/// A request's own token grants that request: a session whose token lets it subscribe to `a` only
/// has a SUBSCRIBE to `b` refused (UNAUTHORIZED), and accepted and served when the SUBSCRIBE carries
/// a token that lets it subscribe to `b`; at that token's expiry the subscription ends with
/// PUBLISH_DONE UNAUTHORIZED (`token_expired`). On draft-14's control stream and on a draft-18
/// request stream; and a draft-18 SUBSCRIBE_NAMESPACE with such a token shows `b` until the token
/// expires, when the relay ends its stream (`docs/protocol.md`, "Request tokens").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_token_grants_its_subscription_until_it_expires() {
	let capture = common::Capture::install_trace();
	let secured = Secured::start("request-grants").await;
	let later = moq_token::unix_now() + 600;
	let sign = |claims: Claims| secured.key.sign(&claims).unwrap();
	let (publisher, writer) = publishing_b(&secured).await;
	let session = sign(
		Claims::new(Path::root())
			.with_subscribe(Path::new("a").unwrap())
			.with_expires(later),
	);
	// A token for `b` that expires in three seconds, signed right before each use: the subscription
	// it grants ends then.
	let request = || {
		let soon = moq_token::unix_now() + 3;
		let claims = Claims::new(Path::root()).with_subscribe(Path::new("b").unwrap());
		(sign(claims.with_expires(soon)), soon)
	};
	let unauthorized = VarInt::from_u32(RequestErrorCode::UNAUTHORIZED);
	let expired = |status: VarInt, reason: &str| {
		assert_eq!((status, reason), (VarInt::from_u32(0x1), "token_expired"));
	};

	// Draft-14.
	let mut raw = RawDraft::admitted(&secured.relay, vec![path("/"), token(&session)]).await;
	raw.write(subscribe_in(0, &["b"], Vec::new())).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::SubscribeError(err)) => assert_eq!(err.code, unauthorized),
		other => panic!("expected SUBSCRIBE_ERROR, got {other:?}"),
	}
	let (first, first_expiry) = request();
	raw.write(subscribe_in(2, &["b"], vec![token(&first)])).await;
	let alias = match raw.read::<ControlMessage>().await {
		Some(ControlMessage::SubscribeOk(ok)) => ok.track_alias,
		other => panic!("expected SUBSCRIBE_OK, got {other:?}"),
	};
	let mut data = within("a subgroup stream", raw.conn.accept_uni()).await.unwrap();
	let head = within("its header", data.read_chunk(64, true)).await.unwrap().unwrap();
	match DataStreamHeader::decode_prefix(&head.bytes, Draft::Draft14) {
		Ok((DataStreamHeader::Subgroup(header), _)) => assert_eq!(header.track_alias, alias),
		other => panic!("expected a subgroup stream, got {other:?}"),
	}

	// Draft-18, meanwhile.
	let (raw18, _) = Raw18::connect(&secured.relay, vec![path("/"), use_value18(&session)])
		.await
		.expect("admitted");
	let mut refused = raw18.open().await;
	refused.write(&subscribe18(0, &[])).await;
	match refused.read::<RequestMessage>().await {
		Some(RequestMessage::RequestError(err)) => assert_eq!(err.code, unauthorized),
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}
	let mut granted = raw18.open().await;
	let (second, second_expiry) = request();
	granted.write(&subscribe18(2, &[&second])).await;
	assert!(matches!(
		granted.read::<RequestMessage>().await,
		Some(RequestMessage::SubscribeOk(_))
	));
	// A SUBSCRIBE_NAMESPACE with such a token shows `b`, which the session's grant hides.
	let mut watched = raw18.open().await;
	let (third, third_expiry) = request();
	watched.write(&watch18(4, &third)).await;
	assert_eq!(
		watched.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);
	assert_eq!(
		watched.read::<RequestMessage>().await,
		Some(RequestMessage::Namespace(vec!["b".to_string()]))
	);

	// The token expires: both subscriptions end.
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::PublishDone(done)) => {
			assert_eq!(done.request_id, VarInt::from_u32(2));
			expired(done.status, &done.reason);
		}
		other => panic!("expected PUBLISH_DONE, got {other:?}"),
	}
	assert!(moq_token::unix_now() >= first_expiry, "ended before the token expired");
	match granted.read::<RequestMessage>().await {
		Some(RequestMessage::PublishDone(done)) => expired(done.status, &done.reason),
		other => panic!("expected PUBLISH_DONE, got {other:?}"),
	}
	assert!(moq_token::unix_now() >= second_expiry, "ended before the token expired");
	// The namespace subscription ends with its token: the relay's FIN.
	assert_eq!(watched.read::<RequestMessage>().await, None);
	assert!(moq_token::unix_now() >= third_expiry, "ended before the token expired");
	writer.abort();
	publisher.close().await;
	secured.stop().await;

	// An audit line for each, naming the request and the broadcast; never the token.
	let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
	let granted: Vec<&str> = text
		.lines()
		.filter(|l| l.contains("moq_relay::audit") && l.contains("request allowed by its authorization token"))
		.collect();
	assert_eq!(granted.len(), 3, "{granted:#?}");
	let requests: Vec<bool> = granted
		.iter()
		.map(|l| common::has_field(l, "request", "subscribe") && common::has_field(l, "path", "b"))
		.collect();
	assert_eq!(requests, [true, true, false], "{granted:#?}");
	assert!(common::has_field(granted[2], "request", "watch"), "{granted:#?}");
	for token in [&first, &second, &third, &session] {
		assert!(
			!text.contains(token.rsplit('.').next().unwrap()),
			"a token reached the log"
		);
	}
}

/// A request token that is revoked ends what it allowed, as a revoked session token ends its
/// session (`docs/auth.md`, "Revocation"): listing its `jti` ends its draft-14 and draft-18
/// subscriptions with PUBLISH_DONE UNAUTHORIZED (`token_revoked`), its draft-18 namespace
/// subscription with the relay's FIN, and the publications a token of the same `jti` allowed with
/// PUBLISH_NAMESPACE_CANCEL UNAUTHORIZED (draft-14) and a CANCELLED reset of the request stream
/// (draft-18), within two seconds; the session stays, a subscription of
/// another token goes on, and the revoked token is refused from then on. An audit line says why,
/// never the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_request_token_ends_what_it_allowed() {
	let capture = common::Capture::install_trace();
	let scratch = common::scratch("moq-relay-ietf-request-revoked-");
	let list = scratch.path().join("revoked.txt");
	std::fs::write(&list, "# nothing yet\n").unwrap();
	let listed = list.clone();
	let secured = Secured::start_with("request-revoked", move |config| config.auth.revoked = Some(listed)).await;
	let later = moq_token::unix_now() + 600;
	let sign = |jti: &str, claims: Claims| {
		let mut claims = claims.with_expires(later);
		claims.id = Some(jti.to_string());
		secured.key.sign(&claims).unwrap()
	};
	let (publisher, writer) = publishing_b(&secured).await;
	let session = sign("s-1", Claims::new(Path::root()).with_subscribe(Path::new("a").unwrap()));
	let for_b = |jti: &str| sign(jti, Claims::new(Path::root()).with_subscribe(Path::new("b").unwrap()));
	let (revoked, kept) = (for_b("r-1"), for_b("r-2"));
	// A token of the same `jti` that lets the bearer publish `p`, revoked with it.
	let publishing = sign("r-1", Claims::new(Path::root()).with_publish(Path::new("p").unwrap()));

	let mut raw = RawDraft::admitted(&secured.relay, vec![path("/"), token(&session)]).await;
	raw.write(subscribe_in(0, &["b"], vec![token(&revoked)])).await;
	assert!(matches!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::SubscribeOk(_))
	));
	raw.write(announce14(2, "p", vec![token(&publishing)])).await;
	assert_eq!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::PublishNamespaceOk(VarInt::from_u32(2)))
	);
	let (raw18, _) = Raw18::connect(&secured.relay, vec![path("/"), use_value18(&session)])
		.await
		.expect("admitted");
	let mut granted = raw18.open().await;
	granted.write(&subscribe18(0, &[&revoked])).await;
	assert!(matches!(
		granted.read::<RequestMessage>().await,
		Some(RequestMessage::SubscribeOk(_))
	));
	let mut watched = raw18.open().await;
	watched.write(&watch18(2, &revoked)).await;
	assert_eq!(
		watched.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);
	assert_eq!(
		watched.read::<RequestMessage>().await,
		Some(RequestMessage::Namespace(vec!["b".to_string()]))
	);
	let mut other = raw18.open().await;
	other.write(&subscribe18(4, &[&kept])).await;
	assert!(matches!(
		other.read::<RequestMessage>().await,
		Some(RequestMessage::SubscribeOk(_))
	));
	let mut published = raw18.open().await;
	published.write(&announce18(12, "p", &publishing)).await;
	assert_eq!(
		published.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);

	let since = std::time::Instant::now();
	std::fs::write(&list, "# revoked\njti r-1\n").unwrap();
	let revoked_done = |status: VarInt, reason: &str| {
		assert_eq!((status, reason), (VarInt::from_u32(0x1), "token_revoked"));
		assert!(
			since.elapsed() < Duration::from_secs(2),
			"ended {:?} after the change",
			since.elapsed()
		);
	};
	// The subscription's PUBLISH_DONE and the publication's PUBLISH_NAMESPACE_CANCEL, in either
	// order.
	let (mut done, mut cancelled) = (None, None);
	for _ in 0..2 {
		match raw.read::<ControlMessage>().await {
			Some(ControlMessage::PublishDone(message)) => done = Some(message),
			Some(ControlMessage::PublishNamespaceCancel(message)) => cancelled = Some(message),
			other => panic!("expected PUBLISH_DONE and PUBLISH_NAMESPACE_CANCEL, got {other:?}"),
		}
	}
	let done = done.expect("PUBLISH_DONE");
	assert_eq!(done.request_id, VarInt::ZERO);
	revoked_done(done.status, &done.reason);
	let cancelled = cancelled.expect("PUBLISH_NAMESPACE_CANCEL");
	assert_eq!(cancelled.namespace, vec!["p".to_string()]);
	revoked_done(cancelled.code, &cancelled.reason);
	let reset = within("the relay's cancel", published.recv.read_chunk(64, true)).await;
	assert!(
		matches!(reset, Err(web_transport_quinn::quinn::ReadError::Reset(code)) if code.into_inner() == 0x1),
		"{reset:?}"
	);
	match granted.read::<RequestMessage>().await {
		Some(RequestMessage::PublishDone(done)) => revoked_done(done.status, &done.reason),
		other => panic!("expected PUBLISH_DONE, got {other:?}"),
	}
	assert_eq!(watched.read::<RequestMessage>().await, None);
	assert!(
		since.elapsed() < Duration::from_secs(2),
		"FIN {:?} after the change",
		since.elapsed()
	);

	// The sessions stay: the other token's subscription is still open (no PUBLISH_DONE), a new
	// one with it is served and one with the revoked token refused.
	let mut again = raw18.open().await;
	again.write(&subscribe18(6, &[&kept])).await;
	assert!(matches!(
		again.read::<RequestMessage>().await,
		Some(RequestMessage::SubscribeOk(_))
	));
	let mut refused = raw18.open().await;
	refused.write(&subscribe18(8, &[&revoked])).await;
	match refused.read::<RequestMessage>().await {
		Some(RequestMessage::RequestError(err)) => {
			assert_eq!(err.code, VarInt::from_u32(RequestErrorCode::UNAUTHORIZED));
		}
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}
	raw.write(subscribe_in(4, &["b"], vec![token(&revoked)])).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::SubscribeError(err)) => {
			assert_eq!(err.code, VarInt::from_u32(RequestErrorCode::UNAUTHORIZED));
		}
		other => panic!("expected SUBSCRIBE_ERROR, got {other:?}"),
	}
	// The other token's subscription still takes an update: its next message is the REQUEST_OK,
	// where a subscription ended by the revocation would have had its PUBLISH_DONE first.
	let priority = MessageParameters::default().with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(9));
	other
		.write(&RequestMessage::RequestUpdate(RequestUpdate {
			request_id: VarInt::from_u32(10),
			parameters: priority,
		}))
		.await;
	assert_eq!(
		other.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default())),
		"the other token's subscription ended"
	);
	writer.abort();
	publisher.close().await;
	secured.stop().await;

	let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
	let ended: Vec<&str> = text
		.lines()
		.filter(|l| l.contains("moq_relay::audit") && l.contains("request ended by its authorization token"))
		.collect();
	assert_eq!(ended.len(), 5, "{ended:#?}");
	assert!(
		ended
			.iter()
			.all(|l| common::has_field(l, "code", "token_revoked") && common::has_field(l, "token_jti", "r-1")),
		"{ended:#?}"
	);
	for token in [&revoked, &kept, &session, &publishing] {
		assert!(
			!text.contains(token.rsplit('.').next().unwrap()),
			"a token reached the log"
		);
	}
}

/// A request's own token can allow a PUBLISH_NAMESPACE too: a session whose token lets it
/// subscribe only has its PUBLISH_NAMESPACE refused (UNAUTHORIZED), and accepted when the request
/// carries a token that lets it publish there, until that token expires. Then the relay withdraws
/// the broadcast (a new subscription finds no such broadcast; its viewers' subscriptions end and the
/// relay cancels its own subscription to the publisher) and tells the publisher:
/// PUBLISH_NAMESPACE_CANCEL with EXPIRED_AUTH_TOKEN by namespace on draft-14's control stream
/// (0x12) and by Request ID on draft-16's (0x5), the request stream reset with EXPIRED_AUTH_TOKEN
/// (0x7) on draft-18 (`docs/protocol.md`, "Request tokens"). An audit line names each
/// publication's token use, never the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_token_publishes_until_it_expires() {
	let capture = common::Capture::install_trace();
	let secured = Secured::start("request-publishes").await;
	let later = moq_token::unix_now() + 600;
	let sign = |claims: Claims| secured.key.sign(&claims).unwrap();
	let session = sign(
		Claims::new(Path::root())
			.with_subscribe(Path::root())
			.with_expires(later),
	);
	// A token that lets the bearer publish `name` for three to four seconds (whole seconds),
	// signed right before each use: room for the draft-18 viewer to be served first.
	let publishing = |name: &str| {
		let soon = moq_token::unix_now() + 4;
		let claims = Claims::new(Path::root()).with_publish(Path::new(name).unwrap());
		(sign(claims.with_expires(soon)), soon)
	};
	let unauthorized = VarInt::from_u32(RequestErrorCode::UNAUTHORIZED);

	// Draft-14, on the control stream.
	let mut raw = RawDraft::admitted(&secured.relay, vec![path("/"), token(&session)]).await;
	raw.write(announce14(0, "p14", Vec::new())).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::PublishNamespaceError(err)) => assert_eq!(err.code, unauthorized),
		other => panic!("expected PUBLISH_NAMESPACE_ERROR, got {other:?}"),
	}
	let (t14, e14) = publishing("p14");
	raw.write(announce14(2, "p14", vec![token(&t14)])).await;
	assert_eq!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::PublishNamespaceOk(VarInt::from_u32(2)))
	);

	// Draft-16, on its control stream.
	let (mut raw16, _) = RawDraft::admitted_in(&secured.relay, Draft::Draft16, vec![path("/"), token(&session)]).await;
	let (t16, e16) = publishing("p16");
	raw16.write(announce14(0, "p16", vec![token(&t16)])).await;
	assert!(matches!(
		raw16.read::<ControlMessage>().await,
		Some(ControlMessage::RequestOk(ok)) if ok.request_id == VarInt::ZERO
	));

	// Draft-18, on a request stream, with a viewer reading one of its tracks.
	let (raw18, _) = Raw18::connect(&secured.relay, vec![path("/"), use_value18(&session)])
		.await
		.expect("admitted");
	let mut refused = raw18.open().await;
	refused
		.write(&RequestMessage::PublishNamespace(namespace_request(0, &["p18"])))
		.await;
	match refused.read::<RequestMessage>().await {
		Some(RequestMessage::RequestError(err)) => assert_eq!(err.code, unauthorized),
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}
	let (t18, e18) = publishing("p18");
	let mut published = raw18.open().await;
	published.write(&announce18(2, "p18", &t18)).await;
	assert_eq!(
		published.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);
	let client = secured.relay.client(Some(version(LITE05)));
	let url = secured.relay.url("moqt", &format!("?jwt={session}"));
	let mut viewer = within("viewer", Subscriber::connect(&client, url)).await.unwrap();
	let mut track = within("subscribe", viewer.subscribe("p18", "t")).await.unwrap();
	let reading = tokio::spawn(async move {
		let mut group = within("a group", track.recv_group()).await.unwrap().expect("a group");
		let frame = within("a frame", group.read_frame()).await.unwrap().expect("a frame");
		(track, frame.payload)
	});
	let (mut upstream, subscribe, data) = answer_the_relays_subscription(&raw18, b"live", false).await;
	assert_eq!(subscribe.namespace, ["p18"]);
	let (mut track, payload) = within("the frame", reading).await.unwrap();
	assert_eq!(payload, Bytes::from_static(b"live"));

	// The tokens expire: each publication is withdrawn, and its publisher told.
	let expired = VarInt::from_u32(RequestErrorCode::EXPIRED_AUTH_TOKEN);
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::PublishNamespaceCancel(cancel)) => {
			assert_eq!(
				(cancel.namespace, cancel.code, cancel.reason.as_str()),
				(vec!["p14".to_string()], expired, "token_expired")
			);
		}
		other => panic!("expected PUBLISH_NAMESPACE_CANCEL, got {other:?}"),
	}
	assert!(moq_token::unix_now() >= e14, "withdrawn before the token expired");
	raw.write(subscribe_in(4, &["p14"], Vec::new())).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::SubscribeError(err)) => {
			assert_eq!(err.code, VarInt::from_u32(RequestErrorCode::DOES_NOT_EXIST), "{err:?}")
		}
		other => panic!("expected SUBSCRIBE_ERROR, got {other:?}"),
	}
	match raw16.read::<ControlMessage>().await {
		Some(ControlMessage::PublishNamespaceCancelRequest(cancel)) => {
			let code = moq_relay::protocol::ietf::request_stream::error_code::EXPIRED_AUTH_TOKEN;
			assert_eq!(
				(cancel.request_id, cancel.code, cancel.reason.as_str()),
				(VarInt::ZERO, VarInt::from_u32(code), "token_expired")
			);
		}
		other => panic!("expected PUBLISH_NAMESPACE_CANCEL, got {other:?}"),
	}
	assert!(moq_token::unix_now() >= e16, "withdrawn before the token expired");
	let reset = within("the relay's cancel", published.recv.read_chunk(64, true)).await;
	assert!(
		matches!(reset, Err(web_transport_quinn::quinn::ReadError::Reset(code)) if code.into_inner() == 0x7),
		"{reset:?}"
	);
	assert!(moq_token::unix_now() >= e18, "withdrawn before the token expired");
	// The relay cancels its subscription to the publisher, and the viewer's subscription ends.
	let cancelled = within("the relay's SUBSCRIBE cancel", upstream.recv.read_chunk(64, true)).await;
	assert!(
		matches!(cancelled, Err(web_transport_quinn::quinn::ReadError::Reset(code)) if code.into_inner() == 0x1),
		"{cancelled:?}"
	);
	let ended = within("the viewer's subscription ends", track.recv_group()).await;
	assert!(!matches!(ended, Ok(Some(_))), "a group after the withdrawal");
	drop(data);
	viewer.close().await;
	client.close().await;
	secured.stop().await;

	let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
	let granted: Vec<&str> = text
		.lines()
		.filter(|l| l.contains("moq_relay::audit") && l.contains("request allowed by its authorization token"))
		.collect();
	assert_eq!(granted.len(), 3, "{granted:#?}");
	for (line, name) in granted.iter().zip(["p14", "p16", "p18"]) {
		assert!(common::has_field(line, "request", "publish"), "{line}");
		assert!(common::has_field(line, "path", name), "{line}");
	}
	// The viewer (the published client) traces its own SETUP, path and token included: only the
	// relay's lines are the relay's to keep clean.
	let relays: Vec<&str> = text.lines().filter(|l| !l.contains(" moq_net::")).collect();
	for token in [&t14, &t16, &t18, &session] {
		let signature = token.rsplit('.').next().unwrap();
		assert!(!relays.iter().any(|l| l.contains(signature)), "a token reached the log");
	}
}

/// A publisher renews its authorization before it runs out: a second PUBLISH_NAMESPACE of the
/// same namespace with a fresh token holds the broadcast from then on, as the drafts describe
/// re-authorizing a publication. The first token's expiry then cancels only the first request
/// (draft-18: its stream reset with EXPIRED_AUTH_TOKEN; draft-14: nothing to say, as the
/// namespace stays) and withdraws nothing: a SUBSCRIBE_NAMESPACE still lists both broadcasts. The
/// fresh token's own expiry withdraws them (PUBLISH_NAMESPACE_CANCEL; the second stream reset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_renews_its_token_without_a_gap() {
	let secured = Secured::start("request-renewal").await;
	let now = moq_token::unix_now();
	let sign = |claims: Claims| secured.key.sign(&claims).unwrap();
	let session = sign(
		Claims::new(Path::root())
			.with_subscribe(Path::root())
			.with_expires(now + 600),
	);
	let publishing = |name: &str, expires: u64| {
		let claims = Claims::new(Path::root()).with_publish(Path::new(name).unwrap());
		sign(claims.with_expires(expires))
	};
	// Draft-14's first token expires first, draft-18's a second later, both fresh ones later still
	// (whole seconds: each at least two seconds after what must come before it).
	let (first14, first18, fresh) = (now + 3, now + 4, now + 7);
	let mut raw = RawDraft::admitted(&secured.relay, vec![path("/"), token(&session)]).await;
	raw.write(announce14(0, "q14", vec![token(&publishing("q14", first14))]))
		.await;
	assert_eq!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::PublishNamespaceOk(VarInt::ZERO))
	);
	raw.write(announce14(2, "q14", vec![token(&publishing("q14", fresh))]))
		.await;
	assert_eq!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::PublishNamespaceOk(VarInt::from_u32(2)))
	);

	let (raw18, _) = Raw18::connect(&secured.relay, vec![path("/"), use_value18(&session)])
		.await
		.expect("admitted");
	// The renewal once the first is answered: requests on two streams are taken in no set order.
	let mut first = raw18.open().await;
	first.write(&announce18(0, "q18", &publishing("q18", first18))).await;
	assert_eq!(
		first.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);
	let mut renewed = raw18.open().await;
	renewed.write(&announce18(2, "q18", &publishing("q18", fresh))).await;
	assert_eq!(
		renewed.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);

	// The first draft-18 token expires (draft-14's a second before): only its request ends.
	let reset = within("the first request's cancel", first.recv.read_chunk(64, true)).await;
	assert!(
		matches!(reset, Err(web_transport_quinn::quinn::ReadError::Reset(code)) if code.into_inner() == 0x7),
		"{reset:?}"
	);
	assert!(moq_token::unix_now() >= first18, "cancelled before the token expired");
	let mut watched = raw18.open().await;
	watched.write(&watch18(4, &session)).await;
	assert_eq!(
		watched.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);
	let mut listed = Vec::new();
	for _ in 0..2 {
		match watched.read::<RequestMessage>().await {
			Some(RequestMessage::Namespace(suffix)) => listed.push(suffix.join("/")),
			other => panic!("expected NAMESPACE, got {other:?}"),
		}
	}
	listed.sort();
	assert_eq!(listed, ["q14", "q18"], "both broadcasts still published");
	// Draft-14's control stream had nothing to say: the next message answers a request sent now.
	raw.write(subscribe_in(4, &["none"], Vec::new())).await;
	assert!(matches!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::SubscribeError(_))
	));

	// The fresh tokens expire: the broadcasts are withdrawn.
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::PublishNamespaceCancel(cancel)) => assert_eq!(
			(cancel.namespace, cancel.code),
			(
				vec!["q14".to_string()],
				VarInt::from_u32(RequestErrorCode::EXPIRED_AUTH_TOKEN)
			)
		),
		other => panic!("expected PUBLISH_NAMESPACE_CANCEL, got {other:?}"),
	}
	assert!(moq_token::unix_now() >= fresh, "withdrawn before the token expired");
	let reset = within("the renewed request's cancel", renewed.recv.read_chunk(64, true)).await;
	assert!(
		matches!(reset, Err(web_transport_quinn::quinn::ReadError::Reset(code)) if code.into_inner() == 0x7),
		"{reset:?}"
	);
	secured.stop().await;
}

/// `?jwt=` in the SETUP PATH: a token for the path is admitted (SERVER_SETUP selecting draft-14,
/// with the relay's MAX_REQUEST_ID), one for another root and none are refused with UNAUTHORIZED
/// (0x2) and the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_in_the_setup_path_is_enforced() {
	let secured = Secured::start("path").await;
	let later = moq_token::unix_now() + 600;
	let good = secured.token("room", later);
	let setup = quic_session(&secured.relay, vec![path(&format!("/room?jwt={good}"))])
		.await
		.expect("admitted");
	assert_eq!(setup.version.into_inner(), Draft::Draft14.setup_version());
	assert!(setup.parameters.max_request_id().into_inner() > 0);

	let other = secured.token("other", later);
	let unauthorized = u64::from(termination::UNAUTHORIZED.into_inner());
	assert_eq!(
		quic_session(&secured.relay, vec![path(&format!("/room?jwt={other}"))])
			.await
			.unwrap_err(),
		(unauthorized, "root_mismatch".to_string())
	);
	assert_eq!(
		quic_session(&secured.relay, vec![path("/room")]).await.unwrap_err(),
		(unauthorized, "missing_credential".to_string())
	);
	secured.stop().await;
}

/// Tokens on the drafts added last, each with its own SETUP: `?jwt=` in the PATH and an
/// AUTHORIZATION TOKEN in SETUP admit on draft-15, -17 and -19; another root's token and none are
/// refused with UNAUTHORIZED and the reason, before any request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_enforced_on_drafts_15_17_and_19() {
	let secured = Secured::start("between").await;
	let later = moq_token::unix_now() + 600;
	let good = secured.token("room", later);
	let other = secured.token("other", later);
	let unauthorized = u64::from(termination::UNAUTHORIZED.into_inner());
	for draft in [Draft::Draft15, Draft::Draft17, Draft::Draft19] {
		let setup_token = |value: &str| match draft.has_control_stream() {
			true => token(value),
			false => use_value18(value),
		};
		let admitted = [
			vec![path(&format!("/room?jwt={good}"))],
			vec![path("/room"), setup_token(&good)],
		];
		for options in admitted {
			assert_eq!(session_in(&secured.relay, draft, options).await, Ok(()), "{draft}");
		}
		let refused = [
			(vec![path(&format!("/room?jwt={other}"))], "root_mismatch"),
			(vec![path("/room"), setup_token(&other)], "root_mismatch"),
			(vec![path("/room")], "missing_credential"),
		];
		for (options, reason) in refused {
			assert_eq!(
				session_in(&secured.relay, draft, options).await,
				Err((unauthorized, reason.to_string())),
				"{draft}"
			);
		}
	}
	secured.stop().await;
}

/// A raw QUIC session of `draft` with `options` in its SETUP (CLIENT_SETUP on a control-stream
/// draft): `Ok` once the relay's own SETUP arrived, or its close code and reason.
async fn session_in(relay: &impl common::Target, draft: Draft, options: Vec<KeyValue>) -> Result<(), (u64, String)> {
	if !draft.has_control_stream() {
		let (raw, _) = Raw18::connect_in(relay, draft, options).await?;
		raw.conn.close(0u32.into(), b"done");
		return Ok(());
	}
	let conn = raw_connect(relay, draft.alpn()).await;
	let (mut send, mut recv) = within("open control", conn.open_bi()).await.unwrap();
	let setup = ClientSetup {
		versions: Vec::new(),
		parameters: SetupParameters(options),
	};
	send.write_all(&setup.to_bytes(draft).unwrap()).await.unwrap();
	match server_setup_in(&mut recv, draft).await {
		Some(_) => {
			conn.close(0u32.into(), b"done");
			Ok(())
		}
		None => Err(closed(&conn).await),
	}
}

/// The SETUP AUTHORIZATION TOKEN (type 0) admits like `?jwt=`; the same token in both counts once;
/// different ones are `ambiguous_credentials`; an expired one is EXPIRED_AUTH_TOKEN (0x18); a
/// token type the relay does not read is MALFORMED_AUTH_TOKEN (0x16).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_token_in_setup() {
	let secured = Secured::start("token").await;
	let later = moq_token::unix_now() + 600;
	let good = secured.token("room", later);
	assert!(
		quic_session(&secured.relay, vec![path("/room"), token(&good)])
			.await
			.is_ok()
	);
	assert!(
		quic_session(&secured.relay, vec![path(&format!("/room?jwt={good}")), token(&good)])
			.await
			.is_ok()
	);
	let unauthorized = u64::from(termination::UNAUTHORIZED.into_inner());
	let other = secured.token("room", later + 1);
	assert_eq!(
		quic_session(&secured.relay, vec![path(&format!("/room?jwt={good}")), token(&other)])
			.await
			.unwrap_err(),
		(unauthorized, "ambiguous_credentials".to_string())
	);
	let expired = secured.token("room", moq_token::unix_now() - 600);
	assert_eq!(
		quic_session(&secured.relay, vec![path("/room"), token(&expired)])
			.await
			.unwrap_err(),
		(
			u64::from(termination::EXPIRED_AUTH_TOKEN.into_inner()),
			"token_expired".to_string()
		)
	);
	let typed = AuthToken::UseValue {
		token_type: VarInt::from_u32(7),
		value: Bytes::from(good.clone()),
	}
	.to_parameter()
	.unwrap();
	let (code, reason) = quic_session(&secured.relay, vec![path("/room"), typed])
		.await
		.unwrap_err();
	assert_eq!(code, u64::from(termination::MALFORMED_AUTH_TOKEN.into_inner()));
	assert!(reason.starts_with("malformed_auth_token"), "{reason}");
	secured.stop().await;
}

/// A WebTransport CONNECT without `WT-Available-Protocols`: accepted; a CLIENT_SETUP negotiates
/// draft-14, and a moq-lite SETUP stream is closed with VERSION_NEGOTIATION_FAILED (0x15) and a
/// reason naming what the relay speaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_without_a_sub_protocol_negotiates_in_setup() {
	let relay = TestRelay::start(Some("anon")).await;
	let connect = || async {
		let client = web_transport_quinn::ClientBuilder::new()
			.with_server_certificate_hashes(vec![hex(&relay.fingerprint)])
			.unwrap();
		let request = web_transport_quinn::proto::ConnectRequest::new(relay.url("https", "anon"));
		within("WebTransport connect", client.connect(request)).await.unwrap()
	};

	let session = connect().await;
	assert_eq!(session.protocol(), None);
	let (mut send, mut recv) = within("open control", session.open_bi()).await.unwrap();
	send.write_all(&client_setup(Vec::new())).await.unwrap();
	let mut buf = Vec::new();
	let setup = loop {
		match ServerSetup::decode_prefix(&buf, Draft::Draft14) {
			Ok((setup, _)) => break setup,
			Err(DecodeError::UnexpectedEnd) => {}
			Err(err) => panic!("not a SERVER_SETUP: {err}"),
		}
		let chunk = within("SERVER_SETUP", recv.read_chunk(4096, true))
			.await
			.unwrap()
			.expect("SERVER_SETUP");
		buf.extend_from_slice(&chunk.bytes);
	};
	assert_eq!(setup.version.into_inner(), Draft::Draft14.setup_version());
	session.close(0, b"done");

	let session = connect().await;
	let setup = moq_relay::client::setup_stream(&moq_relay::wire::Setup::default()).unwrap();
	let mut uni = within("open SETUP", session.open_uni()).await.unwrap();
	let _ = uni.write_all(&setup).await;
	let (code, reason) = common::webtransport_closed(&session).await;
	assert_eq!(code, termination::VERSION_NEGOTIATION_FAILED.into_inner());
	assert!(reason.starts_with("no common moq version"), "{reason}");
	assert!(reason.contains("moq-00 (moq-transport-14)"), "{reason}");
	relay.stop().await;
}

/// A byte stream of draft-18 (or later) values: a request stream, or a SETUP stream after its
/// SETUP.
struct Stream18 {
	send: Option<web_transport_quinn::quinn::SendStream>,
	recv: web_transport_quinn::quinn::RecvStream,
	buf: Vec<u8>,
	draft: Draft,
}

impl Stream18 {
	/// Cancels the request as draft-19 and later have it: FIN (no REQUEST_UPDATE follows), then
	/// STOP_SENDING on the answers.
	fn cancel(&mut self) {
		self.send.as_mut().unwrap().finish().unwrap();
		self.recv.stop(0u32.into()).unwrap();
	}

	async fn write(&mut self, message: &RequestMessage) {
		let bytes = message.to_bytes(self.draft).unwrap();
		self.send.as_mut().unwrap().write_all(&bytes).await.unwrap();
	}

	/// The next value on the stream; `None` when it ends.
	async fn read<T: DecodeWith<Draft>>(&mut self) -> Option<T> {
		loop {
			match T::decode_prefix(&self.buf, self.draft) {
				Ok((value, used)) => {
					self.buf.drain(..used);
					return Some(value);
				}
				Err(DecodeError::UnexpectedEnd) => {}
				Err(err) => panic!("undecodable draft-18 message: {err}"),
			}
			match within("draft-18 message", self.recv.read_chunk(65536, true)).await {
				Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk.bytes),
				_ => return None,
			}
		}
	}
}

/// A raw QUIC draft-18 session (ALPN `moqt-18`): the client's SETUP sent on its uni stream with
/// `options`, and the relay's SETUP read off the relay's uni stream (kept for its GOAWAY); or the
/// relay's close code and reason.
struct Raw18 {
	conn: web_transport_quinn::quinn::Connection,
	setup: web_transport_quinn::quinn::SendStream,
	relay_setup: Stream18,
	draft: Draft,
}

impl Raw18 {
	async fn connect(relay: &impl common::Target, options: Vec<KeyValue>) -> Result<(Self, Setup), (u64, String)> {
		Self::connect_in(relay, Draft::Draft18, options).await
	}

	/// As [`Self::connect`], on `draft` (ALPN its identifier).
	async fn connect_in(
		relay: &impl common::Target,
		draft: Draft,
		options: Vec<KeyValue>,
	) -> Result<(Self, Setup), (u64, String)> {
		Self::over(raw_connect(relay, draft.alpn()).await, draft, options).await
	}

	/// As [`Self::connect_in`], on a connection already made with `draft`'s ALPN.
	async fn over(
		conn: web_transport_quinn::quinn::Connection,
		draft: Draft,
		options: Vec<KeyValue>,
	) -> Result<(Self, Setup), (u64, String)> {
		let mut setup = within("open SETUP stream", conn.open_uni()).await.unwrap();
		let ours = Setup {
			parameters: SetupParameters(options),
		};
		setup.write_all(&ours.to_bytes(draft).unwrap()).await.unwrap();
		// A refused session is closed before the relay opens its SETUP stream.
		let recv = tokio::select! {
			uni = conn.accept_uni() => uni.ok(),
			_ = conn.closed() => None,
		};
		let Some(recv) = recv else {
			return Err(closed(&conn).await);
		};
		let mut relay_setup = Stream18 {
			send: None,
			recv,
			buf: Vec::new(),
			draft,
		};
		let theirs = relay_setup.read::<Setup>().await.expect("the relay's SETUP");
		let raw = Self {
			conn,
			setup,
			relay_setup,
			draft,
		};
		Ok((raw, theirs))
	}

	/// A new request stream.
	async fn open(&self) -> Stream18 {
		let (send, recv) = within("open request stream", self.conn.open_bi()).await.unwrap();
		Stream18 {
			send: Some(send),
			recv,
			buf: Vec::new(),
			draft: self.draft,
		}
	}
}

/// The header of the next subgroup stream the relay opens to `raw`, and the bytes read for it.
async fn next_subgroup(raw: &Raw18) -> (DataStreamHeader, Vec<u8>) {
	let mut data = within("a subgroup stream", raw.conn.accept_uni()).await.unwrap();
	let mut head = Vec::new();
	loop {
		match DataStreamHeader::decode_prefix(&head, raw.draft) {
			Ok((header, _)) => return (header, head),
			Err(DecodeError::UnexpectedEnd) => {}
			Err(err) => panic!("not a subgroup stream: {err}"),
		}
		let chunk = within("subgroup header", data.read_chunk(64, true))
			.await
			.unwrap()
			.unwrap();
		head.extend_from_slice(&chunk.bytes);
	}
}

/// Waits until the relay serves no subscription (`moq_relay_subscriptions` 0).
async fn no_subscriptions(relay: &TestRelay) {
	common::eventually("the relay lets the subscription go", || async {
		common::metrics(relay).await.get("moq_relay_subscriptions") == Some(&0)
	})
	.await;
}

/// An AUTHORIZATION TOKEN Setup Option in draft-18's integers.
fn token18(token: AuthToken) -> KeyValue {
	KeyValue::bytes(3, token.encode_value_in(Draft::Draft18))
}

fn use_value18(value: &str) -> KeyValue {
	token18(AuthToken::UseValue {
		token_type: VarInt::ZERO,
		value: Bytes::from(value.to_string()),
	})
}

fn namespace_request(id: u32, namespace: &[&str]) -> NamespaceRequest {
	NamespaceRequest {
		request_id: VarInt::from_u32(id),
		namespace: namespace.iter().map(|s| s.to_string()).collect(),
		options: None,
		parameters: MessageParameters::default(),
	}
}

/// The draft-18 SETUP admits as draft-14's CLIENT_SETUP does: its AUTHORIZATION TOKEN (in
/// draft-18's integers) or `?jwt=` in its PATH; a bad token closes the session with the draft's
/// codes (UNAUTHORIZED 0x2 and the reason, EXPIRED_AUTH_TOKEN 0x18, MALFORMED_AUTH_TOKEN 0x16,
/// PROTOCOL_VIOLATION 0x3 for an alias in SETUP) and a PATH that is not absolute MALFORMED_PATH.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft18_setup_token_and_path_close_with_the_drafts_codes() {
	let secured = Secured::start("draft18").await;
	let later = moq_token::unix_now() + 600;
	let good = secured.token("room", later);
	let code = |c: moq_relay::wire::SessionCode| u64::from(c.into_inner());
	let connect = |options: Vec<KeyValue>| Raw18::connect(&secured.relay, options);

	let (raw, setup) = connect(vec![path("/room"), use_value18(&good)])
		.await
		.expect("admitted");
	// The relay's SETUP: its token cache and name, no MAX_REQUEST_ID (draft-18 has none).
	assert!(setup.parameters.max_auth_token_cache_size() > VarInt::ZERO);
	assert!(setup.parameters.implementation().unwrap().starts_with("moq-relay"));
	assert_eq!(setup.parameters.max_request_id(), VarInt::ZERO);
	raw.conn.close(0u32.into(), b"done");
	let (raw, _) = connect(vec![path(&format!("/room?jwt={good}"))])
		.await
		.expect("admitted");
	raw.conn.close(0u32.into(), b"done");

	let Err(refused) = connect(vec![path("/room")]).await else {
		panic!("admitted without a credential");
	};
	assert_eq!(
		refused,
		(code(termination::UNAUTHORIZED), "missing_credential".to_string())
	);
	let other = secured.token("other", later);
	let Err(refused) = connect(vec![path("/room"), use_value18(&other)]).await else {
		panic!("admitted with another root's token");
	};
	assert_eq!(refused, (code(termination::UNAUTHORIZED), "root_mismatch".to_string()));
	let expired = secured.token("room", moq_token::unix_now() - 600);
	let Err(refused) = connect(vec![path("/room"), use_value18(&expired)]).await else {
		panic!("admitted with an expired token");
	};
	assert_eq!(
		refused,
		(code(termination::EXPIRED_AUTH_TOKEN), "token_expired".to_string())
	);
	// A Token Type the relay does not read.
	let typed = token18(AuthToken::UseValue {
		token_type: VarInt::from_u32(7),
		value: Bytes::from(good.clone()),
	});
	let Err((got, reason)) = connect(vec![path("/room"), typed]).await else {
		panic!("admitted with Token Type 7");
	};
	assert_eq!(got, code(termination::MALFORMED_AUTH_TOKEN));
	assert!(reason.starts_with("malformed_auth_token"), "{reason}");
	let alias = token18(AuthToken::UseAlias {
		alias: VarInt::from_u32(1),
	});
	let Err((got, _)) = connect(vec![path("/room"), alias]).await else {
		panic!("admitted with USE_ALIAS in SETUP");
	};
	assert_eq!(got, code(termination::PROTOCOL_VIOLATION));
	let Err(refused) = connect(vec![path("room"), use_value18(&good)]).await else {
		panic!("admitted with a relative PATH");
	};
	assert_eq!(
		refused,
		(
			code(termination::MALFORMED_PATH),
			"SETUP PATH must start with '/'".to_string()
		)
	);
	secured.stop().await;
}

/// The draft-20 SETUP admits as draft-18's does, and a bad token closes the session with the
/// same codes (draft-20 kept draft-18's termination registry): UNAUTHORIZED 0x2 with the reason,
/// EXPIRED_AUTH_TOKEN 0x18; its AUTHORIZATION TOKEN is in draft-20's (draft-18's) integers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft20_setup_token_closes_with_the_drafts_codes() {
	let secured = Secured::start("draft20").await;
	let later = moq_token::unix_now() + 600;
	let good = secured.token("room", later);
	let code = |c: moq_relay::wire::SessionCode| u64::from(c.into_inner());
	let token = |value: &str| {
		let token = AuthToken::UseValue {
			token_type: VarInt::ZERO,
			value: Bytes::from(value.to_string()),
		};
		KeyValue::bytes(3, token.encode_value_in(Draft::Draft20))
	};
	let connect = |options: Vec<KeyValue>| Raw18::connect_in(&secured.relay, Draft::Draft20, options);

	let (raw, setup) = connect(vec![path("/room"), token(&good)]).await.expect("admitted");
	assert!(setup.parameters.implementation().unwrap().starts_with("moq-relay"));
	assert_eq!(setup.parameters.max_request_id(), VarInt::ZERO);
	raw.conn.close(0u32.into(), b"done");

	let Err(refused) = connect(vec![path("/room")]).await else {
		panic!("admitted without a credential");
	};
	assert_eq!(
		refused,
		(code(termination::UNAUTHORIZED), "missing_credential".to_string())
	);
	let other = secured.token("other", later);
	let Err(refused) = connect(vec![path("/room"), token(&other)]).await else {
		panic!("admitted with another root's token");
	};
	assert_eq!(refused, (code(termination::UNAUTHORIZED), "root_mismatch".to_string()));
	let expired = secured.token("room", moq_token::unix_now() - 600);
	let Err(refused) = connect(vec![path("/room"), token(&expired)]).await else {
		panic!("admitted with an expired token");
	};
	assert_eq!(
		refused,
		(code(termination::EXPIRED_AUTH_TOKEN), "token_expired".to_string())
	);
	secured.stop().await;
}

/// Draft-20 on the wire: a SUBSCRIBE as the published client writes its live join (LOCATION_FILTER
/// Next Object, FILL, INCLUDE_PROPERTIES) gets SUBSCRIBE_OK without LARGEST_OBJECT (so no fill is
/// owed) and 0x58 subgroup streams; DOES_NOT_EXIST is 0x10; on shutdown GOAWAY comes with no
/// Request ID (draft-19 removed it), and a later request gets REQUEST_ERROR GOING_AWAY (0x6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft20_requests_on_the_wire() {
	let mut relay = TestRelay::start(Some("anon")).await;
	let (publisher, writer) = publisher(&relay, "moqt", LITE05, "shown").await;
	let (mut raw, _) = Raw18::connect_in(&relay, Draft::Draft20, vec![path("/anon")])
		.await
		.expect("admitted");

	// Wait for the broadcast, as a subscriber would, through SUBSCRIBE_NAMESPACE.
	let mut watch = raw.open().await;
	watch
		.write(&RequestMessage::SubscribeNamespace(namespace_request(0, &[])))
		.await;
	assert_eq!(
		watch.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);
	match watch.read::<RequestMessage>().await {
		Some(RequestMessage::Namespace(suffix)) => assert_eq!(suffix, vec!["shown".to_string()]),
		other => panic!("expected NAMESPACE, got {other:?}"),
	}

	let mut subscription = raw.open().await;
	let fill = Bytes::from_static(&[0x01, 0x21, 0x01, 0x01]);
	subscription
		.write(&RequestMessage::Subscribe(Subscribe18 {
			request_id: VarInt::from_u32(2),
			namespace: vec!["shown".into()],
			track: "t".into(),
			parameters: MessageParameters::default()
				.with(parameter::FORWARD, ParamValue::Byte(1))
				.with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(128))
				.with(
					parameter::SUBSCRIPTION_FILTER,
					ParamValue::Bytes(Bytes::from_static(&[0x00, 0x00])),
				)
				.with(parameter::GROUP_ORDER, ParamValue::Byte(2))
				.with(parameter::FILL, ParamValue::Bytes(fill))
				.with(parameter::INCLUDE_PROPERTIES, ParamValue::Byte(1)),
		}))
		.await;
	let alias = match subscription.read::<RequestMessage>().await {
		Some(RequestMessage::SubscribeOk(ok)) => {
			assert_eq!(ok.parameters.get(parameter::LARGEST_OBJECT), None);
			ok.track_alias
		}
		other => panic!("expected SUBSCRIBE_OK, got {other:?}"),
	};
	let (header, head) = next_subgroup(&raw).await;
	assert_eq!(head[0], 0x58, "SUBGROUP_HEADER 0x18 with FIRST_OBJECT");
	match header {
		DataStreamHeader::Subgroup(h) => assert!(h.track_alias == alias && h.first_object),
		other => panic!("expected a subgroup stream, got {other:?}"),
	}
	subscription.cancel();
	no_subscriptions(&relay).await;

	let mut missing = raw.open().await;
	missing
		.write(&RequestMessage::Subscribe(Subscribe18 {
			request_id: VarInt::from_u32(4),
			namespace: vec!["missing".into()],
			track: "t".into(),
			parameters: MessageParameters::default(),
		}))
		.await;
	match missing.read::<RequestMessage>().await {
		Some(RequestMessage::RequestError(err)) => assert_eq!(err.code, VarInt::from_u32(0x10)),
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}

	let stopping = relay.begin_stop();
	assert_eq!(
		raw.relay_setup.read::<RequestMessage>().await,
		Some(RequestMessage::Goaway(Goaway18 {
			uri: String::new(),
			timeout: VarInt::ZERO,
			request_id: None,
		}))
	);
	let mut late = raw.open().await;
	late.write(&RequestMessage::SubscribeNamespace(namespace_request(6, &[])))
		.await;
	match late.read::<RequestMessage>().await {
		Some(RequestMessage::RequestError(err)) => assert_eq!(err.code, VarInt::from_u32(0x6)),
		other => panic!("expected REQUEST_ERROR GOING_AWAY, got {other:?}"),
	}
	raw.conn.close(0u32.into(), b"bye");
	writer.abort();
	publisher.close().await;
	within("relay shutdown", stopping).await.unwrap();
}

/// Draft-18 on the wire: SUBSCRIBE_NAMESPACE (0x50) on its own stream gets REQUEST_OK, then
/// NAMESPACE for each broadcast, NAMESPACE_DONE when a PUBLISH_NAMESPACE's stream ends;
/// PUBLISH_NAMESPACE gets REQUEST_OK; SUBSCRIBE gets SUBSCRIBE_OK (no Request ID) and subgroup
/// streams of type 0x58 (FIRST_OBJECT), or REQUEST_ERROR DOES_NOT_EXIST (draft-18's 0x10); PUBLISH,
/// TRACK_STATUS and SUBSCRIBE_TRACKS get REQUEST_ERROR NOT_SUPPORTED, a FETCH of a broadcast nobody
/// holds DOES_NOT_EXIST; on shutdown GOAWAY comes on the relay's SETUP stream, and a later
/// request gets REQUEST_ERROR GOING_AWAY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft18_requests_on_the_wire() {
	let mut relay = TestRelay::start(Some("anon")).await;
	let (publisher, writer) = publisher(&relay, "moqt", LITE05, "shown").await;
	let (mut raw, _) = Raw18::connect(&relay, vec![path("/anon")]).await.expect("admitted");

	let mut mine = raw.open().await;
	mine.write(&RequestMessage::PublishNamespace(namespace_request(0, &["mine"])))
		.await;
	assert_eq!(
		mine.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);

	let mut watch = raw.open().await;
	watch
		.write(&RequestMessage::SubscribeNamespace(namespace_request(2, &[])))
		.await;
	assert_eq!(
		watch.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);
	let mut shown = Vec::new();
	while !(shown.contains(&"shown".to_string()) && shown.contains(&"mine".to_string())) {
		match watch.read::<RequestMessage>().await {
			Some(RequestMessage::Namespace(suffix)) => shown.push(suffix.join("/")),
			other => panic!("expected NAMESPACE, got {other:?}"),
		}
	}
	// Withdrawn by the end of its stream.
	mine.send.as_mut().unwrap().finish().unwrap();
	assert_eq!(
		watch.read::<RequestMessage>().await,
		Some(RequestMessage::NamespaceDone(vec!["mine".to_string()]))
	);
	assert_eq!(mine.read::<RequestMessage>().await, None);

	let mut subscription = raw.open().await;
	subscription
		.write(&RequestMessage::Subscribe(Subscribe18 {
			request_id: VarInt::from_u32(4),
			namespace: vec!["shown".into()],
			track: "t".into(),
			parameters: MessageParameters::default(),
		}))
		.await;
	let alias = match subscription.read::<RequestMessage>().await {
		Some(RequestMessage::SubscribeOk(ok)) => ok.track_alias,
		other => panic!("expected SUBSCRIBE_OK, got {other:?}"),
	};
	let (header, head) = next_subgroup(&raw).await;
	assert_eq!(head[0], 0x58, "SUBGROUP_HEADER 0x18 with FIRST_OBJECT");
	match header {
		DataStreamHeader::Subgroup(h) => assert!(h.track_alias == alias && h.first_object && h.end_of_group),
		other => panic!("expected a subgroup stream, got {other:?}"),
	}
	// The subscriber's FIN cancels the subscription: the relay resets its side.
	subscription.send.as_mut().unwrap().finish().unwrap();
	while subscription.read::<RequestMessage>().await.is_some() {}

	// No such broadcast: DOES_NOT_EXIST, 0x10 in draft-18's registry (draft-14's is 0x4).
	let mut missing = raw.open().await;
	missing
		.write(&RequestMessage::Subscribe(Subscribe18 {
			request_id: VarInt::from_u32(6),
			namespace: vec!["missing".into()],
			track: "t".into(),
			parameters: MessageParameters::default(),
		}))
		.await;
	match missing.read::<RequestMessage>().await {
		Some(RequestMessage::RequestError(err)) => assert_eq!(err.code, VarInt::from_u32(0x10)),
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}

	// A FETCH (10) of a broadcast nobody holds: DOES_NOT_EXIST (0x10), and the relay's FIN.
	let mut fetch = raw.open().await;
	let nowhere = moq_relay::wire::ietf::Location::new(VarInt::ZERO, VarInt::ZERO);
	fetch
		.write(&RequestMessage::Fetch(moq_relay::wire::ietf::draft18::Fetch {
			request_id: VarInt::from_u32(10),
			target: moq_relay::wire::ietf::draft18::FetchTarget::Typed(moq_relay::wire::ietf::FetchType::Standalone {
				namespace: vec!["missing".into()],
				track: "t".into(),
				start: nowhere,
				end: moq_relay::wire::ietf::Location::new(VarInt::from_u32(1), VarInt::ZERO),
			}),
			parameters: MessageParameters::default(),
		}))
		.await;
	match fetch.read::<RequestMessage>().await {
		Some(RequestMessage::RequestError(err)) => assert_eq!(err.code, VarInt::from_u32(0x10)),
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}
	assert_eq!(fetch.read::<RequestMessage>().await, None);

	// PUBLISH, TRACK_STATUS and SUBSCRIBE_TRACKS: their payloads are not read past the Request ID
	// (8, 12, 14), which is checked.
	for (ty, id) in [(0x1Du32, 8u8), (0x0D, 12), (0x51, 14)] {
		let mut request = raw.open().await;
		request
			.write(&RequestMessage::Unsupported(UnsupportedRequest {
				ty: VarInt::from_u32(ty),
				body: Bytes::copy_from_slice(&[id]),
			}))
			.await;
		match request.read::<RequestMessage>().await {
			Some(RequestMessage::RequestError(err)) => {
				assert_eq!(err.code, VarInt::from_u32(RequestErrorCode::NOT_SUPPORTED), "{ty:#x}")
			}
			other => panic!("expected REQUEST_ERROR for {ty:#x}, got {other:?}"),
		}
		assert_eq!(request.read::<RequestMessage>().await, None);
	}

	let stopping = relay.begin_stop();
	assert_eq!(
		raw.relay_setup.read::<RequestMessage>().await,
		// The lowest of the client's Request IDs not seen: 0 to 14 were.
		Some(RequestMessage::Goaway(Goaway18 {
			uri: String::new(),
			timeout: VarInt::ZERO,
			request_id: Some(VarInt::from_u32(16)),
		}))
	);
	// A request after the GOAWAY: GOING_AWAY (0x6).
	let mut late = raw.open().await;
	late.write(&RequestMessage::SubscribeNamespace(namespace_request(16, &[])))
		.await;
	match late.read::<RequestMessage>().await {
		Some(RequestMessage::RequestError(err)) => assert_eq!(err.code, VarInt::from_u32(0x6)),
		other => panic!("expected REQUEST_ERROR GOING_AWAY, got {other:?}"),
	}
	raw.conn.close(0u32.into(), b"bye");
	writer.abort();
	publisher.close().await;
	within("relay shutdown", stopping).await.unwrap();
}

/// The sequence of the next group `track` delivers, from its first frame (`tag:sequence:index`).
async fn next_sequence(track: &mut moq_net::track::Subscriber) -> u64 {
	let mut group = within("a group", track.recv_group()).await.unwrap().expect("a group");
	let frame = within("a frame", group.read_frame()).await.unwrap().expect("a frame");
	let payload = String::from_utf8(frame.payload.to_vec()).unwrap();
	payload.split(':').nth(1).unwrap().parse().unwrap()
}

/// Waits until a moq-lite subscriber of `relay` connecting with `query` sees `path` announced. A
/// publisher's session is up before the relay has taken its announcement, and a SUBSCRIBE arriving
/// in between is refused "no such broadcast": tests that subscribe on a raw session wait for this.
async fn until_announced(relay: &TestRelay, query: &str, path: &str) {
	let client = relay.client(Some(version(LITE05)));
	let watch = Subscriber::connect(&client, relay.url("moqt", query));
	let mut watcher = within("watcher established", watch).await.unwrap();
	announced(&mut watcher, path).await;
	watcher.close().await;
	client.close().await;
}

/// Waits until `session` has seen `path` announced.
async fn announced(session: &mut Subscriber, path: &str) {
	loop {
		let update = within("announcement", session.announcements().next())
			.await
			.expect("announcements end");
		if update.kind.is_active() && update.prefix.as_str() == path {
			return;
		}
	}
}

/// `value` as a draft-18 (leading-ones) integer of one or two bytes.
fn int18(value: u64) -> Vec<u8> {
	assert!(value < 1 << 14, "{value} takes more than two bytes");
	match value < 0x80 {
		true => vec![value as u8],
		false => vec![0x80 | (value >> 8) as u8, value as u8],
	}
}

/// Draft-20 and later SUBSCRIPTION_FILTERs are applied (`docs/protocol.md`, "Subscription
/// filters"). An Absolute Range on draft-20's wire, from object 1 of a cached group to object 2 of
/// the next: the relay sends the first group from Object ID 1 (the first object's delta 1, the header
/// without FIRST_OBJECT), the second up to object 2 (a header without End of Group, FIN after
/// it), and no group after: when the track ends, PUBLISH_DONE counts two streams. A range with no
/// object of its one group (a start past the group's last object, or an end object before the
/// start's) opens no stream, and its PUBLISH_DONE counts none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft20_filter_bounds_on_the_wire() {
	use moq_relay::wire::ietf::SubgroupObjectHeader;

	let relay = TestRelay::start(Some("anon")).await;
	let (publisher, writer) = publisher(&relay, "moqt", LITE05, "shown").await;
	let (viewer_client, mut viewer) = relay.subscriber_at("moqt", LITE05).await;
	announced(&mut viewer, "anon/shown").await;
	let mut live = common::subscribe_every_frame(viewer.consumer(), "anon/shown", "t").await;
	let mut start = next_sequence(&mut live).await;
	while start < 1 {
		start = next_sequence(&mut live).await;
	}
	let start = start - 1;
	let (raw, _) = Raw18::connect_in(&relay, Draft::Draft20, vec![path("/anon")])
		.await
		.expect("admitted");
	// Start Group, Start Object 1, End Group delta 1, End Object 2; then two ranges with no object
	// of a group of four: from object 9 to the group's end, and from object 2 to object 1.
	let ranges = [
		[int18(start), vec![0x01, 0x01, 0x02]].concat(),
		[int18(start), vec![0x09, 0x00]].concat(),
		[int18(start), vec![0x02, 0x00, 0x01]].concat(),
	];
	let mut subscriptions = Vec::new();
	let mut aliases = Vec::new();
	for (i, filter) in ranges.into_iter().enumerate() {
		let mut subscription = raw.open().await;
		subscription
			.write(&RequestMessage::Subscribe(Subscribe18 {
				request_id: VarInt::from_u32(2 * i as u32),
				namespace: vec!["shown".into()],
				track: "t".into(),
				parameters: MessageParameters::default()
					.with(parameter::SUBSCRIPTION_FILTER, ParamValue::Bytes(Bytes::from(filter))),
			}))
			.await;
		match subscription.read::<RequestMessage>().await {
			Some(RequestMessage::SubscribeOk(ok)) => aliases.push(ok.track_alias),
			other => panic!("expected SUBSCRIBE_OK, got {other:?}"),
		}
		subscriptions.push(subscription);
	}
	let mut streams = Vec::new();
	for _ in 0..2 {
		let mut data = within("a subgroup stream", raw.conn.accept_uni()).await.unwrap();
		let bytes = within("the stream", data.read_to_end(1 << 20)).await.unwrap();
		let (header, mut used) = DataStreamHeader::decode_prefix(&bytes, Draft::Draft20).unwrap();
		let DataStreamHeader::Subgroup(header) = header else {
			panic!("expected a subgroup stream, got {header:?}");
		};
		let context = header.context(Draft::Draft20);
		let mut objects = Vec::new();
		while used < bytes.len() {
			let (object, n) = SubgroupObjectHeader::decode_prefix(&bytes[used..], context).unwrap();
			let len = object.payload_len.into_inner() as usize;
			let payload = String::from_utf8(bytes[used + n..used + n + len].to_vec()).unwrap();
			objects.push((object.id_delta.into_inner(), payload));
			used += n + len;
		}
		assert_eq!(header.track_alias, aliases[0], "only the first range has objects");
		streams.push((
			header.group.into_inner(),
			header.first_object,
			header.end_of_group,
			objects,
		));
	}
	streams.sort_by_key(|s| s.0);
	let payload = |group: u64, index: u64| format!("shown:{group}:{index}");
	assert_eq!(
		streams,
		[
			(
				start,
				false,
				true,
				vec![(1, payload(start, 1)), (0, payload(start, 2)), (0, payload(start, 3))]
			),
			(
				start + 1,
				true,
				false,
				vec![
					(0, payload(start + 1, 0)),
					(0, payload(start + 1, 1)),
					(0, payload(start + 1, 2))
				]
			),
		]
	);
	// The track ends with the publisher: two streams were sent for the first range, none past it,
	// and none for the others.
	writer.abort();
	publisher.close().await;
	for (subscription, count) in subscriptions.iter_mut().zip([2u32, 0, 0]) {
		match subscription.read::<RequestMessage>().await {
			Some(RequestMessage::PublishDone(done)) => assert_eq!(done.stream_count, VarInt::from_u32(count)),
			other => panic!("expected PUBLISH_DONE, got {other:?}"),
		}
	}
	viewer.close().await;
	viewer_client.close().await;
	relay.stop().await;
}

/// Requests the relay cannot honour are refused one at a time, as the published client refuses
/// them: a SUBSCRIBE with FORWARD 0 (draft-14's field, a parameter on draft-16 and draft-18) or,
/// from draft-19 on, with a Range Filter gets NOT_SUPPORTED; a REQUEST_UPDATE of a subscription
/// that changes only its priority is answered REQUEST_OK, and one asking for more (FORWARD 0)
/// gets REQUEST_ERROR NOT_SUPPORTED and ends the subscription with PUBLISH_DONE UPDATE_FAILED
/// (0x8), on draft-16's control stream and on draft-20's request stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_subscriptions_and_updates_are_refused() {
	use moq_relay::wire::ietf::{Location, PublishDoneCode, SubscribeUpdate};

	let relay = TestRelay::start(Some("anon")).await;
	let (publisher, writer) = publisher(&relay, "moqt", LITE05, "shown").await;
	let not_supported = VarInt::from_u32(RequestErrorCode::NOT_SUPPORTED);
	let update_failed = VarInt::from_u32(PublishDoneCode::UPDATE_FAILED);

	for draft in [Draft::Draft14, Draft::Draft16] {
		let (mut raw, _) = RawDraft::admitted_in(&relay, draft, vec![path("/anon")]).await;
		let mut request = subscribe_in(0, &["shown"], Vec::new());
		if let ControlMessage::Subscribe(subscribe) = &mut request {
			subscribe.forward = false;
		}
		raw.write(request).await;
		match raw.read::<ControlMessage>().await {
			Some(ControlMessage::SubscribeError(err) | ControlMessage::RequestError(err)) => {
				assert_eq!((err.request_id, err.code), (VarInt::ZERO, not_supported), "{draft}")
			}
			other => panic!("{draft}: expected a refusal, got {other:?}"),
		}
	}

	let (mut raw, _) = RawDraft::admitted_in(&relay, Draft::Draft16, vec![path("/anon")]).await;
	raw.write(subscribe_in(2, &["shown"], Vec::new())).await;
	assert!(matches!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::SubscribeOk(_))
	));
	let update = |request_id: u32, forward: bool| {
		ControlMessage::SubscribeUpdate(SubscribeUpdate {
			request_id: VarInt::from_u32(request_id),
			subscription_request_id: VarInt::from_u32(2),
			start: Location::default(),
			end_group: VarInt::ZERO,
			priority: 9,
			forward,
			parameters: Parameters::default(),
		})
	};
	raw.write(update(4, true)).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::RequestOk(ok)) => assert_eq!(ok.request_id, VarInt::from_u32(4)),
		other => panic!("expected REQUEST_OK, got {other:?}"),
	}
	raw.write(update(6, false)).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::RequestError(err)) => {
			assert_eq!((err.request_id, err.code), (VarInt::from_u32(6), not_supported))
		}
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::PublishDone(done)) => {
			assert_eq!((done.request_id, done.status), (VarInt::from_u32(2), update_failed))
		}
		other => panic!("expected PUBLISH_DONE, got {other:?}"),
	}

	let target = &relay;
	let subscribe = |draft, parameters| async move {
		let (raw, _) = Raw18::connect_in(target, draft, vec![path("/anon")])
			.await
			.expect("admitted");
		let mut stream = raw.open().await;
		stream
			.write(&RequestMessage::Subscribe(Subscribe18 {
				request_id: VarInt::ZERO,
				namespace: vec!["shown".into()],
				track: "t".into(),
				parameters,
			}))
			.await;
		(raw, stream)
	};
	let forward_off = MessageParameters::default().with(parameter::FORWARD, ParamValue::Byte(0));
	let ranges = MessageParameters::default().with(
		parameter::SUBGROUP_FILTER,
		ParamValue::Bytes(Bytes::from_static(&[0x00])),
	);
	for (draft, parameters) in [(Draft::Draft18, forward_off.clone()), (Draft::Draft19, ranges)] {
		let (_raw, mut stream) = subscribe(draft, parameters).await;
		match stream.read::<RequestMessage>().await {
			Some(RequestMessage::RequestError(err)) => assert_eq!(err.code, not_supported, "{draft}"),
			other => panic!("{draft}: expected REQUEST_ERROR, got {other:?}"),
		}
	}

	let (_raw, mut stream) = subscribe(Draft::Draft20, MessageParameters::default()).await;
	assert!(matches!(
		stream.read::<RequestMessage>().await,
		Some(RequestMessage::SubscribeOk(_))
	));
	let priority = MessageParameters::default().with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(9));
	for (id, parameters) in [(2u32, priority), (4, forward_off)] {
		stream
			.write(&RequestMessage::RequestUpdate(RequestUpdate {
				request_id: VarInt::from_u32(id),
				parameters,
			}))
			.await;
	}
	assert_eq!(
		stream.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);
	match stream.read::<RequestMessage>().await {
		Some(RequestMessage::RequestError(err)) => assert_eq!(err.code, not_supported),
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}
	match stream.read::<RequestMessage>().await {
		Some(RequestMessage::PublishDone(done)) => assert_eq!(done.status, update_failed),
		other => panic!("expected PUBLISH_DONE, got {other:?}"),
	}
	assert_eq!(stream.read::<RequestMessage>().await, None, "the subscription's end");
	writer.abort();
	publisher.close().await;
	relay.stop().await;
}

/// From draft-19 on a requester's FIN is no cancellation ("Graceful Request Stream Closure"): a
/// SUBSCRIBE whose stream the client FINs right after its request keeps delivering the groups the
/// publisher starts after it, and the client's STOP_SENDING cancels it. On draft-18 the FIN
/// cancels (`draft18_requests_on_the_wire`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft19_a_subscribers_fin_is_no_cancellation() {
	let relay = TestRelay::start(Some("anon")).await;
	let (publisher, writer) = publisher(&relay, "moqt", LITE05, "shown").await;
	let (raw, _) = Raw18::connect_in(&relay, Draft::Draft19, vec![path("/anon")])
		.await
		.expect("admitted");
	let mut subscription = raw.open().await;
	subscription
		.write(&RequestMessage::Subscribe(Subscribe18 {
			request_id: VarInt::ZERO,
			namespace: vec!["shown".into()],
			track: "t".into(),
			parameters: MessageParameters::default(),
		}))
		.await;
	subscription.send.as_mut().unwrap().finish().unwrap();
	let alias = match subscription.read::<RequestMessage>().await {
		Some(RequestMessage::SubscribeOk(ok)) => ok.track_alias,
		other => panic!("expected SUBSCRIBE_OK, got {other:?}"),
	};
	// A group every 50 ms: three different ones are groups begun after the FIN.
	let mut groups = std::collections::BTreeSet::new();
	while groups.len() < 3 {
		match next_subgroup(&raw).await.0 {
			DataStreamHeader::Subgroup(h) if h.track_alias == alias => groups.insert(h.group),
			other => panic!("expected a subgroup stream of the subscription, got {other:?}"),
		};
	}
	subscription.recv.stop(0u32.into()).unwrap();
	no_subscriptions(&relay).await;
	raw.conn.close(0u32.into(), b"bye");
	writer.abort();
	publisher.close().await;
}

/// The relay's own subscription to a publisher on draft-20 or later asks for the current group from
/// its start (a Relative Start of 1): the published client pinned to draft-20, -21 and -22, in the
/// middle of one long group, delivers it from its first frame to a lite-05 subscriber that joins
/// late. (Next Group Start, a Relative Start of 0, which the client applies from draft-20 on, left
/// that subscriber waiting for a next group.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_subscriber_gets_a_draft20_to_22_publishers_current_group() {
	let relay = TestRelay::start(Some("anon")).await;
	for draft in [DRAFT20, DRAFT21, DRAFT22] {
		let name = format!("anon/long-{draft}");
		let start = Publisher::start(relay.client(Some(version(draft))), relay.url("moqt", ""), &name, "t");
		let publisher = within("publisher established", start).await.unwrap();
		let track = publisher.track().clone();
		// One group, a frame every 20 ms, still open when the subscriber joins.
		let (written, mut frames) = tokio::sync::watch::channel(0u64);
		let writer = tokio::spawn(async move {
			let mut group = track.append_group().unwrap();
			let mut interval = tokio::time::interval(Duration::from_millis(20));
			for i in 0..3000 {
				interval.tick().await;
				let at = Timestamp::from_millis(i).unwrap();
				group.write_frame(at, Bytes::from(format!("f{i}"))).unwrap();
				written.send_replace(i + 1);
			}
		});
		within("frames written", frames.wait_for(|n| *n >= 5)).await.unwrap();
		let (client, mut session) = relay.subscriber_at("moqt", LITE05).await;
		announced(&mut session, &name).await;
		let mut track = common::subscribe_every_frame(session.consumer(), &name, "t").await;
		let mut group = within("the current group", track.recv_group())
			.await
			.unwrap()
			.expect("a group");
		let frame = within("its first frame", group.read_frame())
			.await
			.unwrap()
			.expect("a frame");
		assert_eq!(frame.payload, Bytes::from("f0"), "{draft}");
		session.close().await;
		client.close().await;
		writer.abort();
		publisher.close().await;
	}
	relay.stop().await;
}

/// The relay's own subscription to a draft-18 publisher: a lite-05 subscriber's track makes the
/// relay open a stream with SUBSCRIBE (its odd Request ID, the namespace the client published,
/// SUBSCRIPTION_FILTER Next Group Start); SUBSCRIBE_OK's Track Alias routes a 0x58 subgroup stream
/// to the subscriber; when the subscriber leaves, the relay cancels the request by resetting its
/// stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft18_relay_subscribes_upstream_on_a_stream_of_its_own() {
	relay_subscribes_upstream(Draft::Draft18, &[0x01]).await;
}

/// As on draft-18, with draft-20's SUBSCRIPTION_FILTER (LOCATION_FILTER) for the current group:
/// one integer, a Relative Start of 1 group back from the next group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft20_relay_subscribes_upstream_on_a_stream_of_its_own() {
	relay_subscribes_upstream(Draft::Draft20, &[0x01]).await;
}

/// As on draft-20, with draft-22's typed LOCATION_FILTER: Location Filter Type 0x1 (Relative
/// Start) and 1, no Length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft22_relay_subscribes_upstream_on_a_stream_of_its_own() {
	relay_subscribes_upstream(Draft::Draft22, &[0x01, 0x01]).await;
}

/// The relay's upstream SUBSCRIBE on `draft`, its SUBSCRIPTION_FILTER `filter`.
async fn relay_subscribes_upstream(draft: Draft, filter: &'static [u8]) {
	let relay = TestRelay::start(Some("anon")).await;
	let (raw, _published) = publishing18(&relay, draft, "up").await;

	let client = relay.client(Some(version(LITE05)));
	let mut session = within("subscriber", Subscriber::connect(&client, relay.url("moqt", "")))
		.await
		.unwrap();
	let mut track = within("subscribe", session.subscribe("anon/up", "t")).await.unwrap();
	// Reading the track is what makes the subscription go upstream.
	let reading = tokio::spawn(async move {
		let mut group = within("a group", track.recv_group()).await.unwrap().expect("a group");
		let frame = within("a frame", group.read_frame()).await.unwrap().expect("a frame");
		(track, frame.payload)
	});

	let (mut upstream, subscribe, mut data) = answer_the_relays_subscription(&raw, b"hello", true).await;
	assert_eq!(
		subscribe.request_id,
		VarInt::from_u32(1),
		"the server's first Request ID"
	);
	assert_eq!(
		(subscribe.namespace, subscribe.track),
		(vec!["up".to_string()], "t".to_string())
	);
	assert_eq!(
		subscribe.parameters.get(parameter::SUBSCRIPTION_FILTER),
		Some(&ParamValue::Bytes(Bytes::from_static(filter)))
	);
	data.finish().unwrap();
	let (track, payload) = within("the frame", reading).await.unwrap();
	assert_eq!(payload, Bytes::from_static(b"hello"));

	// The subscriber leaves: the relay resets its SUBSCRIBE stream (CANCELLED).
	drop(track);
	session.close().await;
	client.close().await;
	let reset = within("the relay's cancel", upstream.recv.read_chunk(64, true)).await;
	assert!(
		matches!(
			reset,
			Err(web_transport_quinn::quinn::ReadError::Reset(code)) if code.into_inner() == 1
		),
		"{reset:?}"
	);
	relay.stop().await;
}

/// A draft-17+ session (`draft`) on `relay`'s `anon` root that published the namespace `name`
/// (answered REQUEST_OK): the session, and the PUBLISH_NAMESPACE's stream, which withdraws the
/// namespace when it ends.
async fn publishing18(relay: &TestRelay, draft: Draft, name: &str) -> (Raw18, Stream18) {
	let (raw, _) = Raw18::connect_in(relay, draft, vec![path("/anon")])
		.await
		.expect("admitted");
	let mut published = raw.open().await;
	published
		.write(&RequestMessage::PublishNamespace(namespace_request(0, &[name])))
		.await;
	assert_eq!(
		published.read::<RequestMessage>().await,
		Some(RequestMessage::RequestOk(MessageParameters::default()))
	);
	(raw, published)
}

/// The publisher's side of the relay's subscription on a draft-17+ session `raw`: accepts the
/// relay's SUBSCRIBE stream and reads its SUBSCRIBE, answers SUBSCRIBE_OK with Track Alias 7, and
/// writes group 0's first object (`payload`) on a subgroup stream of its own, the last of its group
/// when `end_of_group`. The SUBSCRIBE stream, the SUBSCRIBE and the subgroup stream (unfinished).
async fn answer_the_relays_subscription(
	raw: &Raw18,
	payload: &'static [u8],
	end_of_group: bool,
) -> (Stream18, Subscribe18, web_transport_quinn::quinn::SendStream) {
	let draft = raw.draft;
	let (send, recv) = within("the relay's SUBSCRIBE stream", raw.conn.accept_bi())
		.await
		.unwrap();
	let mut upstream = Stream18 {
		send: Some(send),
		recv,
		buf: Vec::new(),
		draft,
	};
	let subscribe = match upstream.read::<RequestMessage>().await {
		Some(RequestMessage::Subscribe(subscribe)) => subscribe,
		other => panic!("expected SUBSCRIBE, got {other:?}"),
	};
	upstream
		.write(&RequestMessage::SubscribeOk(
			moq_relay::wire::ietf::draft18::SubscribeOk {
				track_alias: VarInt::from_u32(7),
				parameters: MessageParameters::default(),
				properties: Vec::new(),
			},
		))
		.await;
	let mut data = within("open a subgroup stream", raw.conn.open_uni()).await.unwrap();
	let header = DataStreamHeader::Subgroup(moq_relay::wire::ietf::SubgroupHeader {
		track_alias: VarInt::from_u32(7),
		group: VarInt::ZERO,
		subgroup: moq_relay::wire::ietf::SubgroupId::Zero,
		priority: Some(0),
		extensions: false,
		end_of_group,
		first_object: true,
	});
	let object = moq_relay::wire::ietf::SubgroupObject {
		id_delta: VarInt::ZERO,
		extensions: Vec::new(),
		status: moq_relay::wire::ietf::ObjectStatus::Normal,
		payload: Bytes::from_static(payload),
	};
	let context = moq_relay::wire::ietf::SubgroupContext {
		draft,
		extensions: false,
	};
	data.write_all(&header.to_bytes(draft).unwrap()).await.unwrap();
	data.write_all(&object.to_bytes(context).unwrap()).await.unwrap();
	(upstream, subscribe, data)
}

/// A draft-18 publisher resets a subgroup stream partway through its object with GOING_AWAY (0x4
/// on draft-18): the relay abandons the group, and each draft subscriber's subgroup stream is
/// reset with its own draft's code for that: 0x4 on draft-20, INTERNAL_ERROR (0x0) on draft-16,
/// where 0x4 would mean UNKNOWN_OBJECT_STATUS (docs/protocol.md, "Stream reset codes on the
/// drafts").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_group_is_reset_with_each_subscribers_drafts_code() {
	use moq_relay::wire::ietf::draft18::{Subscribe as Subscribe18, SubscribeOk as SubscribeOk18};
	use moq_relay::wire::ietf::{ObjectStatus, SubgroupContext, SubgroupHeader, SubgroupId, SubgroupObjectHeader};

	let relay = TestRelay::start(Some("anon")).await;
	let (publisher, _published) = publishing18(&relay, Draft::Draft18, "up").await;

	// A draft-16 subscriber on its control stream, a draft-20 one on a SUBSCRIBE stream.
	let (mut d16, _) = RawDraft::admitted_in(&relay, Draft::Draft16, vec![path("/anon")]).await;
	d16.write(subscribe_in(0, &["up"], Vec::new())).await;
	let (d20, _) = Raw18::connect_in(&relay, Draft::Draft20, vec![path("/anon")])
		.await
		.expect("admitted");
	let mut d20_request = d20.open().await;
	d20_request
		.write(&RequestMessage::Subscribe(Subscribe18 {
			request_id: VarInt::ZERO,
			namespace: vec!["up".into()],
			track: "t".into(),
			parameters: MessageParameters::default(),
		}))
		.await;

	// The relay subscribes upstream once; the publisher answers and starts a group.
	let (send, recv) = within("the relay's SUBSCRIBE stream", publisher.conn.accept_bi())
		.await
		.unwrap();
	let mut upstream = Stream18 {
		send: Some(send),
		recv,
		buf: Vec::new(),
		draft: Draft::Draft18,
	};
	assert!(matches!(
		upstream.read::<RequestMessage>().await,
		Some(RequestMessage::Subscribe(_))
	));
	upstream
		.write(&RequestMessage::SubscribeOk(SubscribeOk18 {
			track_alias: VarInt::from_u32(7),
			parameters: MessageParameters::default(),
			properties: Vec::new(),
		}))
		.await;
	assert!(matches!(
		d16.read::<ControlMessage>().await,
		Some(ControlMessage::SubscribeOk(_))
	));
	assert!(matches!(
		d20_request.read::<RequestMessage>().await,
		Some(RequestMessage::SubscribeOk(_))
	));
	let mut data = within("open a subgroup stream", publisher.conn.open_uni())
		.await
		.unwrap();
	let header = DataStreamHeader::Subgroup(SubgroupHeader {
		track_alias: VarInt::from_u32(7),
		group: VarInt::ZERO,
		subgroup: SubgroupId::Zero,
		priority: Some(0),
		extensions: false,
		end_of_group: true,
		first_object: true,
	});
	let object = SubgroupObjectHeader {
		id_delta: VarInt::ZERO,
		extensions: Vec::new(),
		status: ObjectStatus::Normal,
		payload_len: VarInt::from_u32(10),
	};
	let context = SubgroupContext {
		draft: Draft::Draft18,
		extensions: false,
	};
	data.write_all(&header.to_bytes(Draft::Draft18).unwrap()).await.unwrap();
	data.write_all(&object.to_bytes(context).unwrap()).await.unwrap();
	data.write_all(b"hello").await.unwrap();

	// Each subscriber's subgroup stream starts; then the publisher gives the group up.
	let mut d16_data = within("draft-16 subgroup stream", d16.conn.accept_uni()).await.unwrap();
	let mut d20_data = within("draft-20 subgroup stream", d20.conn.accept_uni()).await.unwrap();
	for stream in [&mut d16_data, &mut d20_data] {
		let first = within("the group's first bytes", stream.read_chunk(1024, true)).await;
		assert!(matches!(first, Ok(Some(_))), "{first:?}");
	}
	data.reset(web_transport_quinn::quinn::VarInt::from_u32(0x4)).unwrap();
	for (stream, draft, expected) in [(&mut d16_data, "draft-16", 0x0u64), (&mut d20_data, "draft-20", 0x4)] {
		let code = loop {
			match within("the reset", stream.read_chunk(1024, true)).await {
				Ok(Some(_)) => continue,
				Err(web_transport_quinn::quinn::ReadError::Reset(code)) => break code.into_inner(),
				other => panic!("{draft}: expected a reset, got {other:?}"),
			}
		};
		assert_eq!(code, expected, "{draft}");
	}
	relay.stop().await;
}

/// Every draft-18 request holds a stream for its life, so the relay raises the stream allowance as
/// they pile up (as for data streams): 150 SUBSCRIBE_NAMESPACE streams open at once, past the
/// initial 100, are all answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft18_requests_past_the_initial_stream_allowance() {
	let relay = TestRelay::start(Some("anon")).await;
	let (raw, _) = Raw18::connect(&relay, vec![path("/anon")]).await.expect("admitted");
	let mut open = Vec::new();
	for i in 0..150u32 {
		let mut stream = raw.open().await;
		stream
			.write(&RequestMessage::SubscribeNamespace(namespace_request(2 * i, &[])))
			.await;
		assert_eq!(
			stream.read::<RequestMessage>().await,
			Some(RequestMessage::RequestOk(MessageParameters::default())),
			"request {i}"
		);
		open.push(stream);
	}
	raw.conn.close(0u32.into(), b"done");
	relay.stop().await;
}

/// A data stream may overtake the client's SETUP stream (draft-18 §3.3 asks to buffer it): a
/// PADDING stream opened first is held until the SETUP arrives, then discarded (STOP_SENDING
/// CANCELLED), and the session starts as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft18_padding_before_the_setup_is_discarded() {
	let relay = TestRelay::start(Some("anon")).await;
	let conn = raw_connect(&relay, "moqt-18").await;
	let mut padding = within("open PADDING", conn.open_uni()).await.unwrap();
	let mut bytes = DataStreamHeader::Padding.to_bytes(Draft::Draft18).unwrap();
	bytes.extend([0u8; 64]);
	padding.write_all(&bytes).await.unwrap();
	let mut setup = within("open SETUP stream", conn.open_uni()).await.unwrap();
	let ours = Setup {
		parameters: SetupParameters(vec![path("/anon")]),
	};
	setup.write_all(&ours.to_bytes(Draft::Draft18).unwrap()).await.unwrap();
	let recv = within("the relay's SETUP stream", conn.accept_uni()).await.unwrap();
	let mut relay_setup = Stream18 {
		send: None,
		recv,
		buf: Vec::new(),
		draft: Draft::Draft18,
	};
	assert!(relay_setup.read::<Setup>().await.is_some(), "the relay's SETUP");
	let stopped = within("STOP_SENDING on PADDING", padding.stopped()).await.unwrap();
	assert_eq!(stopped.map(|code| code.into_inner()), Some(1));
	conn.close(0u32.into(), b"done");
	relay.stop().await;
}

/// Stream rules close with the draft's codes: a message that opens no request (here NAMESPACE) on
/// a request stream, a subgroup stream type draft-18 does not have, a second GOAWAY, the end of the
/// client's SETUP stream, on draft-19 TRACK_PROPERTY_FILTER outside REQUEST_UPDATE and on draft-20
/// a SUBSCRIPTION_FILTER that is none are PROTOCOL_VIOLATION; a Request ID used twice or of the server's parity INVALID_REQUEST_ID; on
/// draft-17 a Required Request ID Delta naming no earlier request INVALID_REQUIRED_REQUEST_ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft18_stream_rules_close_with_the_drafts_codes() {
	let relay = TestRelay::start(Some("anon")).await;
	let code = u64::from(termination::PROTOCOL_VIOLATION.into_inner());
	let invalid = u64::from(termination::INVALID_REQUEST_ID.into_inner());
	// The second 0 is a duplicate; 1 is the server's parity (closing at once, so it comes alone).
	for ids in [&[0u32, 0][..], &[1][..]] {
		let (raw, _) = Raw18::connect(&relay, vec![path("/anon")]).await.expect("admitted");
		for id in ids {
			let mut stream = raw.open().await;
			stream
				.write(&RequestMessage::SubscribeNamespace(namespace_request(*id, &["x"])))
				.await;
		}
		assert_eq!(closed(&raw.conn).await.0, invalid, "{ids:?}");
	}

	let (mut raw, _) = Raw18::connect(&relay, vec![path("/anon")]).await.expect("admitted");
	let goaway = RequestMessage::Goaway(Goaway18 {
		uri: String::new(),
		timeout: VarInt::ZERO,
		request_id: Some(VarInt::ZERO),
	});
	let bytes = goaway.to_bytes(Draft::Draft18).unwrap();
	raw.setup.write_all(&bytes).await.unwrap();
	raw.setup.write_all(&bytes).await.unwrap();
	assert_eq!(closed(&raw.conn).await.0, code);

	// Ending the SETUP stream (draft-18 §3.3: a control stream stays open for the session).
	let (mut raw, _) = Raw18::connect(&relay, vec![path("/anon")]).await.expect("admitted");
	raw.setup.finish().unwrap();
	assert_eq!(closed(&raw.conn).await.0, code);
	let (raw, _) = Raw18::connect(&relay, vec![path("/anon")]).await.expect("admitted");
	let mut stream = raw.open().await;
	stream.write(&RequestMessage::Namespace(vec!["x".into()])).await;
	assert_eq!(closed(&raw.conn).await.0, code);

	let (raw, _) = Raw18::connect(&relay, vec![path("/anon")]).await.expect("admitted");
	let mut uni = within("open a uni stream", raw.conn.open_uni()).await.unwrap();
	// 0x5E names the Subgroup ID both ways.
	uni.write_all(&[0x5E, 0x01, 0x02, 0x03, 0x04]).await.unwrap();
	assert_eq!(closed(&raw.conn).await.0, code);

	// Draft-17: SUBSCRIBE_NAMESPACE with Request ID 2 and a Required Request ID Delta of 2 (a
	// request below 0) is INVALID_REQUIRED_REQUEST_ID, 0x7.
	let (raw, _) = Raw18::connect_in(&relay, Draft::Draft17, vec![path("/anon")])
		.await
		.expect("admitted");
	let mut stream = raw.open().await;
	let far = [0x11, 0x00, 0x05, 0x02, 0x02, 0x00, 0x01, 0x00];
	stream.send.as_mut().unwrap().write_all(&far).await.unwrap();
	assert_eq!(closed(&raw.conn).await.0, 0x7);

	// Draft-19: TRACK_PROPERTY_FILTER (0x29) in a SUBSCRIBE, where it has no scope.
	let (raw, _) = Raw18::connect_in(&relay, Draft::Draft19, vec![path("/anon")])
		.await
		.expect("admitted");
	let mut stream = raw.open().await;
	let subscribe = [0x03, 0x00, 0x09, 0x00, 0x01, 0x01, 0x61, 0x01, 0x74, 0x01, 0x29, 0x00];
	stream.send.as_mut().unwrap().write_all(&subscribe).await.unwrap();
	assert_eq!(closed(&raw.conn).await.0, code);

	// Draft-20: a SUBSCRIPTION_FILTER of five integers is no filter.
	let (raw, _) = Raw18::connect_in(&relay, Draft::Draft20, vec![path("/anon")])
		.await
		.expect("admitted");
	let mut stream = raw.open().await;
	let subscribe = [
		0x03, 0x00, 0x0E, 0x00, 0x01, 0x01, 0x61, 0x01, 0x74, 0x01, 0x21, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05,
	];
	stream.send.as_mut().unwrap().write_all(&subscribe).await.unwrap();
	assert_eq!(closed(&raw.conn).await.0, code);
	relay.stop().await;
}

fn hex(fingerprint: &str) -> Vec<u8> {
	(0..fingerprint.len())
		.step_by(2)
		.map(|i| u8::from_str_radix(&fingerprint[i..i + 2], 16).unwrap())
		.collect()
}

/// SUBSCRIBE_NAMESPACE is answered with the broadcasts under the prefix as PUBLISH_NAMESPACE, with
/// the relay's Request IDs within the peer's MAX_REQUEST_ID (REQUESTS_BLOCKED while there is
/// none); on shutdown a draft-14 session gets GOAWAY (no new URI) on its control stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_namespace_then_goaway_on_shutdown() {
	let mut relay = TestRelay::start(Some("anon")).await;
	let (publisher, writer) = publisher(&relay, "moqt", LITE05, "shown").await;
	// Without a MAX_REQUEST_ID the relay may send no request: REQUESTS_BLOCKED, then it waits.
	let mut raw = RawDraft::admitted(&relay, vec![path("/anon")]).await;
	raw.write(ControlMessage::SubscribeNamespace(SubscribeNamespace {
		request_id: VarInt::ZERO,
		prefix: Vec::new(),
		options: None,
		parameters: Parameters::default(),
	}))
	.await;
	assert_eq!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::SubscribeNamespaceOk(VarInt::ZERO))
	);
	assert_eq!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::RequestsBlocked(VarInt::ZERO))
	);
	raw.write(ControlMessage::MaxRequestId(VarInt::from_u32(100))).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::PublishNamespace(shown)) => {
			assert_eq!(shown.namespace, vec!["shown".to_string()]);
			assert_eq!(shown.request_id, VarInt::from_u32(1));
		}
		other => panic!("expected PUBLISH_NAMESPACE, got {other:?}"),
	}
	raw.conn.close(0u32.into(), b"next");

	let max = KeyValue::int(2, VarInt::from_u32(100));
	let mut raw = RawDraft::admitted(&relay, vec![path("/anon"), max]).await;
	raw.write(ControlMessage::SubscribeNamespace(SubscribeNamespace {
		request_id: VarInt::ZERO,
		prefix: Vec::new(),
		options: None,
		parameters: Parameters::default(),
	}))
	.await;
	assert_eq!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::SubscribeNamespaceOk(VarInt::ZERO))
	);
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::PublishNamespace(shown)) => assert_eq!(shown.namespace, vec!["shown".to_string()]),
		other => panic!("expected PUBLISH_NAMESPACE, got {other:?}"),
	}
	let stopping = relay.begin_stop();
	loop {
		match raw.read::<ControlMessage>().await {
			Some(ControlMessage::Goaway(uri)) => {
				assert_eq!(uri, "");
				break;
			}
			// A MAX_REQUEST_ID or a namespace change may come first.
			Some(_) => {}
			None => panic!("the control stream ended without GOAWAY"),
		}
	}
	raw.conn.close(0u32.into(), b"bye");
	writer.abort();
	publisher.close().await;
	within("relay shutdown", stopping).await.unwrap();
}

/// An API key is a Token Type 0 credential too: in the SETUP AUTHORIZATION TOKEN it admits with
/// its grant; a key the relay does not know is refused with UNAUTHORIZED and the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_in_the_setup_token() {
	const KEY: &str = "ietf-api-key-5e4d3c2b1a09";
	let relay = TestRelay::start_with(|config| config.auth.api_keys = Some(vec![KEY.into()])).await;
	assert!(quic_session(&relay, vec![path("/live"), token(KEY)]).await.is_ok());
	let (code, reason) = quic_session(&relay, vec![path("/live"), token("ietf-api-key-unknown")])
		.await
		.unwrap_err();
	assert_eq!(code, u64::from(termination::UNAUTHORIZED.into_inner()));
	assert!(!reason.is_empty() && !reason.contains("ietf-api-key"), "{reason}");
	relay.stop().await;
}

/// Session rules close with the draft's codes: a Request ID out of sequence is INVALID_REQUEST_ID
/// (0x4), a second CLIENT_SETUP PROTOCOL_VIOLATION (0x3), a PATH that is not absolute
/// MALFORMED_PATH (0x9), a CLIENT_SETUP without draft-14 VERSION_NEGOTIATION_FAILED (0x15).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_rules_close_with_the_drafts_codes() {
	let relay = TestRelay::start(Some("anon")).await;
	let code = |c: moq_relay::wire::SessionCode| u64::from(c.into_inner());

	let mut raw = RawDraft::admitted(&relay, vec![path("/anon")]).await;
	raw.write(subscribe(2, "x", Vec::new())).await;
	assert_eq!(closed(&raw.conn).await.0, code(termination::INVALID_REQUEST_ID));

	let mut raw = RawDraft::admitted(&relay, vec![path("/anon")]).await;
	raw.send.write_all(&client_setup(vec![path("/anon")])).await.unwrap();
	assert_eq!(closed(&raw.conn).await.0, code(termination::PROTOCOL_VIOLATION));

	let refused = quic_session(&relay, vec![path("anon")]).await.unwrap_err();
	assert_eq!(
		refused,
		(
			code(termination::MALFORMED_PATH),
			"SETUP PATH must start with '/'".into()
		)
	);

	let conn = raw_connect(&relay, "moq-00").await;
	let (mut send, _recv) = within("open control", conn.open_bi()).await.unwrap();
	let other = ClientSetup {
		versions: vec![VarInt::from_u64(0xff00_000d).unwrap()],
		parameters: SetupParameters(vec![path("/anon")]),
	};
	send.write_all(&other.to_bytes(Draft::Draft14).unwrap()).await.unwrap();
	let (got, reason) = closed(&conn).await;
	assert_eq!(got, code(termination::VERSION_NEGOTIATION_FAILED));
	assert!(
		reason.contains("0xff00000d") && reason.contains("0xff00000e"),
		"{reason}"
	);
	relay.stop().await;
}

/// A draft-14 (and a draft-18) publisher that goes away ends what a lite-05 subscriber was reading
/// through the relay: the track ends instead of waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departing_draft_publisher_ends_its_tracks() {
	let relay = TestRelay::start(Some("anon")).await;
	for (draft, tag) in [(DRAFT14, "leaving"), (DRAFT18, "leaving18")] {
		let (publisher, writer) = publisher(&relay, "moqt", draft, tag).await;
		let client = relay.client(Some(version(LITE05)));
		let mut session = within("subscriber", Subscriber::connect(&client, relay.url("moqt", "")))
			.await
			.unwrap();
		let mut track = within("subscribe", session.subscribe(&format!("anon/{tag}"), "t"))
			.await
			.unwrap();
		within("a group", track.recv_group()).await.unwrap().expect("a group");
		writer.abort();
		publisher.close().await;
		// Groups already in flight may still come; then the track ends (cleanly or aborted).
		while let Ok(Some(_)) = within("the track's end", track.recv_group()).await {}
		session.close().await;
		client.close().await;
	}
	relay.stop().await;
}

/// FETCH with the published client as the real peer, at every draft (`docs/protocol.md`, "FETCH
/// on the drafts"): a subscriber at draft-14 to draft-22 that asks its track for a group from
/// before its subscription began (`fetch_group`, which the client turns into a Standalone FETCH
/// before draft-20 and a LOCATION_FILTER FETCH from draft-20 on) gets that group whole from the
/// relay's cache, every frame in order on one fetch stream, on the subscription's session; a group
/// far ahead, which neither the relay nor the publisher holds, is refused, and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_client_fetches_a_past_group_at_every_draft() {
	let relay = TestRelay::start(Some("anon")).await;
	let (publisher, writer) = publisher(&relay, "moqt", LITE05, "fetch").await;
	let holder = common::Holder::start(&relay, "anon/fetch", 3).await;
	for name in [
		DRAFT14, DRAFT15, DRAFT16, DRAFT17, DRAFT18, DRAFT19, DRAFT20, DRAFT21, DRAFT22,
	] {
		let mut live = Live::start(&relay, name, "anon/fetch").await;
		let past = live.first - 2;
		let expected: Vec<String> = (0..FRAMES).map(|i| format!("fetch:{past}:{i}")).collect();
		assert_eq!(live.fetch(past, None).await, expected, "{name}");
		// A group far ahead of the track: neither the relay nor the publisher holds it, and the
		// relay says so; the subscription goes on.
		live.refused(live.first + 1_000_000, name).await;
		live.close().await;
	}
	writer.abort();
	holder.close().await;
	publisher.close().await;
	relay.stop().await;
}

/// A FETCH of a group the relay does not hold is asked of its publisher (`docs/protocol.md`,
/// "Fetching what the relay does not hold"), as the published relay does: a subscriber at
/// draft-14 to draft-22 that fetches a group from before the relay's subscription began (which
/// no cache of the relay's has) gets it whole from the publisher, through the relay. And the
/// other way: a publisher at draft-14 to draft-22 is asked with a FETCH of its own draft (on the
/// control stream to draft-16, on a request stream from draft-17, by LOCATION_FILTER from
/// draft-20), and a moq-lite-06 viewer gets the group whole; then the subscription goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_the_relay_does_not_hold_is_fetched_from_its_publisher_at_every_draft() {
	let relay = TestRelay::start(Some("anon")).await;
	let (unheld, writer) = publisher(&relay, "moqt", "moq-lite-06", "unheld").await;
	let track = unheld.track().clone();
	let written = || async { track.latest().is_some_and(|latest| latest >= 10) };
	common::eventually("ten groups written", written).await;
	for name in [
		DRAFT14, DRAFT15, DRAFT16, DRAFT17, DRAFT18, DRAFT19, DRAFT20, DRAFT21, DRAFT22,
	] {
		// Each viewer is the track's only one: the relay's subscription starts at its newest
		// group, and five groups before it are the publisher's alone.
		let live = Live::start(&relay, name, "anon/unheld").await;
		let past = live.first - 5;
		let expected: Vec<String> = (0..FRAMES).map(|i| format!("unheld:{past}:{i}")).collect();
		assert_eq!(live.fetch(past, None).await, expected, "{name}");
		live.close().await;
	}
	// Publishers speaking a draft, asked with a FETCH of theirs.
	for (name, tag) in [
		(DRAFT14, "d14"),
		(DRAFT15, "d15"),
		(DRAFT16, "d16"),
		(DRAFT17, "d17"),
		(DRAFT18, "d18"),
		(DRAFT19, "d19"),
		(DRAFT20, "d20"),
		(DRAFT21, "d21"),
		(DRAFT22, "d22"),
	] {
		let (drafted, drafted_writer) = publisher(&relay, "moqt", name, tag).await;
		let track = drafted.track().clone();
		let written = || async { track.latest().is_some_and(|latest| latest >= 6) };
		common::eventually("six groups written", written).await;
		let mut live = Live::start(&relay, "moq-lite-06", &format!("anon/{tag}")).await;
		let past = live.first - 3;
		let expected: Vec<String> = (0..FRAMES).map(|i| format!("{tag}:{past}:{i}")).collect();
		assert_eq!(live.fetch(past, None).await, expected, "a {name} publisher");
		within("a live group after", live.live.recv_group())
			.await
			.unwrap()
			.unwrap();
		live.close().await;
		drafted_writer.abort();
		drafted.close().await;
	}
	writer.abort();
	unheld.close().await;
	relay.stop().await;
}

/// FETCH on the wire (`docs/protocol.md`, "FETCH on the drafts"). Draft-14's control stream: a
/// Standalone FETCH of a group the relay holds is answered FETCH_OK (ascending, End Location after
/// its last object) and served on a fetch stream (FETCH_HEADER with the Request ID, every object
/// of the group with its Group and Object ID, FIN); a joining FETCH is refused NOT_SUPPORTED, a
/// range that ends before it starts INVALID_RANGE, a track or broadcast nobody holds
/// DOES_NOT_EXIST, each with FETCH_ERROR. Draft-20's request stream: a LOCATION_FILTER without an
/// absolute start is refused NOT_SUPPORTED, an absolute one with an End Object answered FETCH_OK
/// naming that object (inclusive) and followed by the relay's FIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_answers_and_refusals_on_the_wire() {
	use moq_relay::wire::ietf::draft18::{Fetch as Fetch18, FetchTarget};
	use moq_relay::wire::ietf::{Fetch, FetchObject, FetchType, Location};

	let relay = TestRelay::start(Some("anon")).await;
	let (publisher, writer) = publisher(&relay, "moqt", LITE05, "wire").await;
	let holder = common::Holder::start(&relay, "anon/wire", 3).await;
	// A group the relay holds whole: the one before a new subscriber's first.
	let live = Live::start(&relay, LITE05, "anon/wire").await;
	let past = live.first - 1;
	let at =
		|group: u64, object: u64| Location::new(VarInt::from_u64(group).unwrap(), VarInt::from_u64(object).unwrap());
	let fetch = |id: u32, fetch_type: FetchType| {
		ControlMessage::Fetch(Fetch {
			request_id: VarInt::from_u32(id),
			priority: 0,
			group_order: GroupOrder::Ascending,
			fetch_type,
			parameters: Parameters::default(),
		})
	};
	let standalone = |namespace: &[&str], track: &str, start, end| FetchType::Standalone {
		namespace: namespace.iter().map(|s| s.to_string()).collect(),
		track: track.into(),
		start,
		end,
	};

	let mut raw = RawDraft::admitted(&relay, vec![path("/anon")]).await;
	raw.write(fetch(0, standalone(&["wire"], "t", at(past, 0), at(past, 0))))
		.await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::FetchOk(ok)) => {
			assert_eq!(ok.request_id, VarInt::ZERO);
			assert_eq!(ok.group_order, GroupOrder::Ascending);
			assert_eq!(ok.end, at(past, FRAMES));
		}
		other => panic!("expected FETCH_OK, got {other:?}"),
	}
	let mut data = within("the fetch stream", raw.conn.accept_uni()).await.unwrap();
	let bytes = within("the fetch stream's end", data.read_to_end(1 << 16))
		.await
		.unwrap();
	let (header, mut used) = DataStreamHeader::decode_prefix(&bytes, Draft::Draft14).unwrap();
	assert_eq!(header, DataStreamHeader::Fetch(VarInt::ZERO));
	let mut payloads = Vec::new();
	while used < bytes.len() {
		let (object, n) = FetchObject::decode_prefix(&bytes[used..], Draft::Draft14).unwrap();
		assert_eq!(object.group, VarInt::from_u64(past).unwrap());
		assert_eq!(object.object, VarInt::from_u64(payloads.len() as u64).unwrap());
		payloads.push(String::from_utf8(object.payload.to_vec()).unwrap());
		used += n;
	}
	let expected: Vec<String> = (0..FRAMES).map(|i| format!("wire:{past}:{i}")).collect();
	assert_eq!(payloads, expected);

	let joining = FetchType::RelativeJoining {
		joining_request_id: VarInt::ZERO,
		joining_start: VarInt::from_u32(1),
	};
	let refusals = [
		(joining, RequestErrorCode::NOT_SUPPORTED),
		(
			standalone(&["wire"], "t", at(past, 2), at(past, 1)),
			RequestErrorCode::INVALID_RANGE,
		),
		(
			standalone(&["wire"], "other", at(past, 0), at(past, 0)),
			RequestErrorCode::DOES_NOT_EXIST,
		),
		(
			standalone(&["nowhere"], "t", at(0, 0), at(1, 0)),
			RequestErrorCode::DOES_NOT_EXIST,
		),
	];
	for (i, (fetch_type, code)) in refusals.into_iter().enumerate() {
		let id = 2 * (i as u32 + 1);
		raw.write(fetch(id, fetch_type)).await;
		match raw.read::<ControlMessage>().await {
			Some(ControlMessage::FetchError(err)) => {
				assert_eq!(
					(err.request_id, err.code),
					(VarInt::from_u32(id), VarInt::from_u32(code))
				);
			}
			other => panic!("expected FETCH_ERROR {code:#x}, got {other:?}"),
		}
	}
	// Draft-20: the range in LOCATION_FILTER.
	let (raw20, _) = Raw18::connect_in(&relay, Draft::Draft20, vec![path("/anon")])
		.await
		.expect("admitted");
	// Draft-20's LOCATION_FILTER: its integers, their count saying which filter.
	let filter = |value: Vec<u8>| {
		MessageParameters::default().with(parameter::SUBSCRIPTION_FILTER, ParamValue::Bytes(Bytes::from(value)))
	};
	let fetch20 = |id: u32, parameters| {
		RequestMessage::Fetch(Fetch18 {
			request_id: VarInt::from_u32(id),
			target: FetchTarget::Track {
				namespace: vec!["wire".into()],
				track: "t".into(),
			},
			parameters,
		})
	};
	let mut relative = raw20.open().await;
	relative.write(&fetch20(0, filter(vec![0x01]))).await;
	match relative.read::<RequestMessage>().await {
		Some(RequestMessage::RequestError(err)) => {
			assert_eq!(err.code, VarInt::from_u32(RequestErrorCode::NOT_SUPPORTED));
		}
		other => panic!("expected REQUEST_ERROR, got {other:?}"),
	}
	let mut absolute = raw20.open().await;
	// From object 1 of the group to its object 2: End Group delta 0, End Object 2.
	absolute
		.write(&fetch20(2, filter([int18(past), vec![0x01, 0x00, 0x02]].concat())))
		.await;
	match absolute.read::<RequestMessage>().await {
		Some(RequestMessage::FetchOk(ok)) => assert_eq!((ok.end, ok.end_of_track), ((past, 2), false)),
		other => panic!("expected FETCH_OK, got {other:?}"),
	}
	assert_eq!(absolute.read::<RequestMessage>().await, None, "the relay's FIN");

	writer.abort();
	live.close().await;
	holder.close().await;
	publisher.close().await;
	relay.stop().await;
}

/// A FETCH is authorized as a SUBSCRIBE is: outside the session's grant it is refused
/// UNAUTHORIZED (before the relay says whether it holds the track), and a request token that
/// lets the session subscribe to the broadcast lets it fetch from it (`docs/protocol.md`,
/// "Request tokens"); the audit lines say `request="fetch"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_is_authorized_as_a_subscribe_is() {
	let capture = common::Capture::install_trace();
	let secured = Secured::start("fetch-grant").await;
	let later = moq_token::unix_now() + 600;
	let sign = |claims: Claims| secured.key.sign(&claims.with_expires(later)).unwrap();
	let (publisher, writer) = publishing_b(&secured).await;
	let session = sign(Claims::new(Path::root()).with_subscribe(Path::new("a").unwrap()));
	let for_b = sign(Claims::new(Path::root()).with_subscribe(Path::new("b").unwrap()));
	let unauthorized = VarInt::from_u32(RequestErrorCode::UNAUTHORIZED);
	let mut raw = RawDraft::admitted(&secured.relay, vec![path("/"), token(&session)]).await;
	raw.write(fetch_of_b(0, 0, Vec::new())).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::FetchError(err)) => assert_eq!(err.code, unauthorized),
		other => panic!("expected FETCH_ERROR, got {other:?}"),
	}
	// A subscription by the token holds the track; the group it starts with is then fetched with
	// the token, and refused without it.
	raw.write(subscribe_in(2, &["b"], vec![token(&for_b)])).await;
	assert!(matches!(
		raw.read::<ControlMessage>().await,
		Some(ControlMessage::SubscribeOk(_))
	));
	let mut data = within("a subgroup stream", raw.conn.accept_uni()).await.unwrap();
	let head = within("its header", data.read_chunk(64, true)).await.unwrap().unwrap();
	let group = match DataStreamHeader::decode_prefix(&head.bytes, Draft::Draft14) {
		Ok((DataStreamHeader::Subgroup(header), _)) => header.group.into_inner(),
		other => panic!("expected a subgroup stream, got {other:?}"),
	};
	raw.write(fetch_of_b(4, group, vec![token(&for_b)])).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::FetchOk(ok)) => assert_eq!(ok.end.group.into_inner(), group),
		other => panic!("expected FETCH_OK, got {other:?}"),
	}
	raw.write(fetch_of_b(6, group, Vec::new())).await;
	loop {
		match raw.read::<ControlMessage>().await {
			Some(ControlMessage::FetchError(err)) => {
				assert_eq!((err.request_id, err.code), (VarInt::from_u32(6), unauthorized));
				break;
			}
			// The subscription's own messages may come in between.
			Some(ControlMessage::PublishDone(_)) | Some(ControlMessage::MaxRequestId(_)) => {}
			other => panic!("expected FETCH_ERROR, got {other:?}"),
		}
	}
	writer.abort();
	publisher.close().await;
	secured.stop().await;

	let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
	let audit = |message: &str| -> Vec<String> {
		text.lines()
			.filter(|l| l.contains("moq_relay::audit") && l.contains(message))
			.filter(|l| common::has_field(l, "request", "fetch") && common::has_field(l, "path", "b"))
			.map(str::to_string)
			.collect()
	};
	assert_eq!(audit("request refused by the grant").len(), 2, "{text}");
	assert_eq!(audit("request allowed by its authorization token").len(), 1, "{text}");
}

/// A `draft` connection to `relay` from a client that grants the relay no unidirectional stream
/// (draft-17 on: only the one its SETUP takes): the relay can open no fetch stream to it, so a
/// FETCH it is answered stays in flight.
async fn granting_no_uni_stream(relay: &TestRelay, draft: Draft) -> quinn::Connection {
	let trust = moq_relay::tls::Trust::Fingerprint(relay.fingerprint.clone());
	let tls = moq_relay::tls::client_config(&trust, &[draft.alpn()]).unwrap();
	let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
	let mut transport = quinn::TransportConfig::default();
	let setup = u32::from(draft.has_request_streams());
	transport.max_concurrent_uni_streams(setup.into());
	let mut client = quinn::ClientConfig::new(std::sync::Arc::new(crypto));
	client.transport_config(std::sync::Arc::new(transport));
	let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
	endpoint.set_default_client_config(client);
	let connecting = endpoint.connect(relay.addr, "localhost").unwrap();
	within("QUIC handshake", connecting).await.unwrap()
}

/// A draft-14 Standalone FETCH `id` of group `group` of `b`/`t`, whole, with `parameters`.
fn fetch_of_b(id: u64, group: u64, parameters: Vec<KeyValue>) -> ControlMessage {
	use moq_relay::wire::ietf::{Fetch, FetchType, Location};
	let at = Location::new(VarInt::from_u64(group).unwrap(), VarInt::ZERO);
	ControlMessage::Fetch(Fetch {
		request_id: VarInt::from_u64(id).unwrap(),
		priority: 0,
		group_order: GroupOrder::Ascending,
		fetch_type: FetchType::Standalone {
			namespace: vec!["b".into()],
			track: "t".into(),
			start: at,
			end: at,
		},
		parameters: Parameters(parameters),
	})
}

/// Sends `fetch(id)` for ids from `first` on (every second one, the client's parity) until one is
/// answered FETCH_OK: a place among the session's FETCHes is freed by something the relay does
/// in its own time (a task ending), so the ones before may be refused `too_many_fetches`.
async fn until_a_fetch_is_accepted(raw: &mut RawDraft, first: u64, fetch: impl Fn(u64) -> ControlMessage, when: &str) {
	within(&format!("a FETCH accepted {when}"), async {
		for id in (first..).step_by(2) {
			raw.write(fetch(id)).await;
			match raw.read::<ControlMessage>().await {
				Some(ControlMessage::FetchOk(_)) => return,
				Some(ControlMessage::FetchError(err)) if err.reason == "too_many_fetches" => {
					tokio::time::sleep(Duration::from_millis(20)).await;
				}
				other => panic!("expected FETCH_OK or too_many_fetches, got {other:?}"),
			}
		}
	})
	.await;
}

/// A FETCH allowed by a request token ends when the token does (`docs/protocol.md`, "Request
/// tokens"), as a subscription does. With one FETCH in flight allowed and a client that grants
/// no unidirectional stream, the FETCH a token expiring in two seconds allows is answered FETCH_OK
/// and waits to write, holding the session's one place (a FETCH with a lasting token is refused
/// `too_many_fetches`); once the token has expired its fetch is ended and the place is free: a
/// FETCH is accepted again. On draft-18 such a FETCH's request stream ends when its token does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_ends_with_its_request_token() {
	use moq_relay::wire::ietf::draft18::{self, FetchTarget};
	use moq_relay::wire::ietf::{FetchType, Location};

	let secured = Secured::start_with("fetch-token-end", |config| {
		config.limits.max_inflight_groups = Some(1);
	})
	.await;
	let later = moq_token::unix_now() + 600;
	let sign = |claims: Claims, expires: u64| secured.key.sign(&claims.with_expires(expires)).unwrap();
	let (publisher, writer) = publishing_b(&secured).await;
	let for_b = || Claims::new(Path::root()).with_subscribe(Path::new("b").unwrap());
	let session = sign(Claims::new(Path::root()).with_subscribe(Path::new("a").unwrap()), later);
	let lasting = sign(for_b(), later);
	let conn = granting_no_uni_stream(&secured.relay, Draft::Draft14).await;
	let (mut raw, _) = RawDraft::admitted_over(conn, Draft::Draft14, vec![path("/"), token(&session)]).await;
	// A group the publisher holds (the relay holds none of `b`: it asks the publisher).
	let group = publisher.track().latest().expect("a group written");
	let soon = moq_token::unix_now() + 2;
	raw.write(fetch_of_b(0, group, vec![token(&sign(for_b(), soon))])).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::FetchOk(ok)) => assert_eq!(ok.end.group.into_inner(), group),
		other => panic!("expected FETCH_OK, got {other:?}"),
	}
	raw.write(fetch_of_b(2, group, vec![token(&lasting)])).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::FetchError(err)) => assert_eq!(err.reason, "too_many_fetches"),
		other => panic!("expected FETCH_ERROR, got {other:?}"),
	}
	let fetch = |id: u64| fetch_of_b(id, group, vec![token(&lasting)]);
	until_a_fetch_is_accepted(&mut raw, 4, fetch, "once the token expired").await;
	assert!(
		moq_token::unix_now() >= soon,
		"the fetch ended before its token expired"
	);

	// Draft-18: the FETCH on its request stream, which the token's end resets.
	let conn = granting_no_uni_stream(&secured.relay, Draft::Draft18).await;
	let (raw18, _) = Raw18::over(conn, Draft::Draft18, vec![path("/"), use_value18(&session)])
		.await
		.expect("admitted");
	let group = publisher.track().latest().expect("a group written");
	let soon = moq_token::unix_now() + 2;
	let at = Location::new(VarInt::from_u64(group).unwrap(), VarInt::ZERO);
	let brief = sign(for_b(), soon);
	let mut fetching = raw18.open().await;
	fetching
		.write(&RequestMessage::Fetch(draft18::Fetch {
			request_id: VarInt::ZERO,
			target: FetchTarget::Typed(FetchType::Standalone {
				namespace: vec!["b".into()],
				track: "t".into(),
				start: at,
				end: at,
			}),
			parameters: MessageParameters::default().with(parameter::AUTHORIZATION_TOKEN, token_parameter18(&brief)),
		}))
		.await;
	assert!(matches!(
		fetching.read::<RequestMessage>().await,
		Some(RequestMessage::FetchOk(_))
	));
	assert_eq!(fetching.read::<RequestMessage>().await, None, "the request stream ends");
	assert!(
		moq_token::unix_now() >= soon,
		"the fetch ended before its token expired"
	);
	writer.abort();
	publisher.close().await;
	secured.stop().await;
}

/// A peer that fetches and never reads holds at most `[limits] max_inflight_groups` FETCHes at
/// once (`docs/protocol.md`, "FETCH on the drafts"): with two allowed and a client that grants the
/// relay no unidirectional stream (so no fetch stream can open), two FETCHes are answered
/// FETCH_OK and the third FETCH_ERROR INTERNAL_ERROR `too_many_fetches`, counted in
/// `moq_relay_limit_refused_total`; once the client cancels one (FETCH_CANCEL) a new one is
/// accepted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_in_flight_are_bounded() {
	use moq_relay::wire::ietf::{Fetch, FetchType, Location};

	let relay = TestRelay::start_with(|config| {
		config.auth.public = Some(vec!["anon".into()]);
		config.limits.max_inflight_groups = Some(2);
	})
	.await;
	let (publisher, writer) = publisher(&relay, "moqt", LITE05, "bounded").await;
	let holder = common::Holder::start(&relay, "anon/bounded", 0).await;
	let group = holder.held;

	let conn = granting_no_uni_stream(&relay, Draft::Draft14).await;
	let (mut raw, _) = RawDraft::admitted_over(conn, Draft::Draft14, vec![path("/anon")]).await;

	let at = Location::new(VarInt::from_u64(group).unwrap(), VarInt::ZERO);
	let fetch = |id: u64| {
		ControlMessage::Fetch(Fetch {
			request_id: VarInt::from_u64(id).unwrap(),
			priority: 0,
			group_order: GroupOrder::Ascending,
			fetch_type: FetchType::Standalone {
				namespace: vec!["bounded".into()],
				track: "t".into(),
				start: at,
				end: at,
			},
			parameters: Parameters::default(),
		})
	};
	for id in [0, 2] {
		raw.write(fetch(id)).await;
		assert!(
			matches!(raw.read::<ControlMessage>().await, Some(ControlMessage::FetchOk(_))),
			"{id}"
		);
	}
	let series = "moq_relay_limit_refused_total{code=\"too_many_fetches\"}";
	let refused = common::metrics(&relay).await.get(series).copied().unwrap_or(0);
	raw.write(fetch(4)).await;
	match raw.read::<ControlMessage>().await {
		Some(ControlMessage::FetchError(err)) => {
			assert_eq!(err.code, VarInt::from_u32(RequestErrorCode::INTERNAL_ERROR));
			assert_eq!(err.reason, "too_many_fetches");
		}
		other => panic!("expected FETCH_ERROR, got {other:?}"),
	}
	assert_eq!(common::metrics(&relay).await.get(series).copied(), Some(refused + 1));
	// The cancelled fetch's place is free once its task has ended: new FETCHes until one is
	// answered FETCH_OK.
	raw.write(ControlMessage::FetchCancel(VarInt::ZERO)).await;
	until_a_fetch_is_accepted(&mut raw, 6, fetch, "after the cancel").await;
	writer.abort();
	holder.close().await;
	publisher.close().await;
	relay.stop().await;
}

/// Datagrams between the drafts and moq-lite (`docs/protocol.md`, "Datagrams"): a publisher at
/// draft-14 to draft-22 sends OBJECT_DATAGRAMs, which reach a moq-lite-06 subscriber as datagrams
/// (stamped on arrival, as the draft's objects are); a moq-lite-06 publisher's datagrams reach a
/// subscriber at each of those drafts as OBJECT_DATAGRAMs. The published client at every end,
/// with `append_datagram` and `recv_datagram`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_between_the_drafts_and_moq_lite() {
	let relay = TestRelay::start(Some("anon")).await;
	let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
	for (name, tag) in [
		(DRAFT14, "dg14"),
		(DRAFT15, "dg15"),
		(DRAFT16, "dg16"),
		(DRAFT17, "dg17"),
		(DRAFT18, "dg18"),
		(DRAFT19, "dg19"),
		(DRAFT20, "dg20"),
		(DRAFT21, "dg21"),
		(DRAFT22, "dg22"),
	] {
		let (drafted, writer) = publisher(&relay, "moqt", name, tag).await;
		let mut live = Live::start(&relay, "moq-lite-06", &format!("anon/{tag}")).await;
		let mut track = drafted.track().clone();
		let (received, _) = live
			.until_a_datagram(&mut track, &format!("a datagram from {name}"))
			.await;
		assert!(received.timestamp.as_millis() >= before, "{name}: stamped on arrival");
		writer.abort();
		live.close().await;
		drafted.close().await;
	}
	let (lite, writer) = publisher(&relay, "moqt", "moq-lite-06", "dglite").await;
	for name in [
		DRAFT14, DRAFT15, DRAFT16, DRAFT17, DRAFT18, DRAFT19, DRAFT20, DRAFT21, DRAFT22,
	] {
		let mut live = Live::start(&relay, name, "anon/dglite").await;
		let mut track = lite.track().clone();
		// Its payload (checked by the helper); the relay sends the drafts no object timestamps
		// ("Not supported"), so the client stamps the datagram itself.
		live.until_a_datagram(&mut track, &format!("a datagram to {name}"))
			.await;
		live.close().await;
	}
	writer.abort();
	lite.close().await;
	relay.stop().await;
}

/// An OBJECT_DATAGRAM in a Type draft-14 does not have reaches subscribers: a draft-18 publisher
/// sends object 0 of its groups with DEFAULT_PRIORITY and ZERO_OBJECT_ID (Type 0x0E, no Object ID
/// and no priority on the wire), as draft-15 and later allow and the published client reads, and a
/// moq-lite-06 subscriber receives them as datagrams (`docs/protocol.md`, "Datagrams").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_publishers_default_priority_datagrams_reach_subscribers() {
	let relay = TestRelay::start(Some("anon")).await;
	let (raw, _published) = publishing18(&relay, Draft::Draft18, "dgp").await;
	let relay_ref = &relay;
	let starting = async move { Live::start(relay_ref, "moq-lite-06", "anon/dgp").await };
	let answering = async {
		let (upstream, _, mut data) = answer_the_relays_subscription(&raw, b"group", true).await;
		data.finish().unwrap();
		upstream
	};
	let (mut live, _upstream) = tokio::join!(starting, answering);
	let received = within("a datagram", async {
		let mut tick = tokio::time::interval(Duration::from_millis(20));
		let mut group = 1u32;
		loop {
			tokio::select! {
				_ = tick.tick() => {
					let datagram = moq_relay::wire::ietf::ObjectDatagram {
						track_alias: VarInt::from_u32(7),
						group: VarInt::from_u32(group),
						object: None,
						priority: None,
						end_of_group: true,
						extensions: Vec::new(),
						body: moq_relay::wire::ietf::DatagramBody::Payload(Bytes::from_static(b"default")),
					};
					let bytes = datagram.to_bytes(Draft::Draft18).unwrap();
					assert_eq!(bytes[0], 0x0E, "the Type");
					raw.conn.send_datagram(bytes.into()).unwrap();
					group += 1;
				}
				received = live.live.recv_datagram() => break received,
			}
		}
	})
	.await
	.unwrap()
	.expect("the track ended");
	assert_eq!(received.payload, Bytes::from_static(b"default"));
	live.close().await;
	relay.stop().await;
}
