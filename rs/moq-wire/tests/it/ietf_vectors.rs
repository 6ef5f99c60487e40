//! The golden vectors of every draft (`tests/vectors/ietf-draft14.json` to `-22`): one per
//! message, stream header, object and datagram form, each confirmed by the
//! published moq-net 0.3.18 decoder (the `check` field records how); and the
//! bytes that client really sent on a draft-14 session
//! (`tests/vectors/ietf-draft14-captured.json`).
//!
//! For every vector: decode the hex, compare with the message built here (so
//! every field is checked), re-encode and compare with the exact bytes. Every
//! sample must have a vector and every vector a sample. `MOQ_WIRE_WRITE_VECTORS=1`
//! rewrites the file's hex from the samples (then re-run the moq-net check:
//! docs/protocol.md#ietf-moq-transport).

use std::fmt::Debug;

use bytes::Bytes;
use moq_wire::VarInt;
use moq_wire::ietf::draft18::{
	Goaway, MessageParameters, NamespaceRequest, ParamValue, PublishDone as PublishDone18,
	RequestError as RequestError18, RequestMessage, RequestUpdate, Subscribe as Subscribe18,
	SubscribeOk as SubscribeOk18, parameter,
};
use moq_wire::ietf::{
	AuthToken, ClientSetup, ControlMessage, DataStreamHeader, DatagramBody, DecodeWith, Draft, EncodeWith, Fetch,
	FetchObject, FetchOk, FetchType, Filter, GroupOrder, KeyValue, Location, ObjectDatagram, ObjectStatus, Parameters,
	Publish, PublishDone, PublishNamespace, PublishNamespaceCancel, PublishOk, RequestError, RequestOk, ServerSetup,
	Setup, SetupParameters, SubgroupContext, SubgroupHeader, SubgroupId, SubgroupObject, Subscribe, SubscribeNamespace,
	SubscribeOk, SubscribeUpdate,
};
use serde_json::{Value, json};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft14.json");
const VECTORS16: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft16.json");
const D14: Draft = Draft::Draft14;
const D16: Draft = Draft::Draft16;
const VECTORS18: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft18.json");
const D18: Draft = Draft::Draft18;
const VECTORS20: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft20.json");
const D20: Draft = Draft::Draft20;
const VECTORS22: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft22.json");
const VECTORS15: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft15.json");
const VECTORS17: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft17.json");
const VECTORS19: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft19.json");

fn v(n: u64) -> VarInt {
	VarInt::from_u64(n).unwrap()
}

fn ns(parts: &[&str]) -> Vec<String> {
	parts.iter().map(|s| s.to_string()).collect()
}

fn loc(g: u64, o: u64) -> Location {
	Location::new(v(g), v(o))
}

fn jwt_param() -> KeyValue {
	AuthToken::UseValue {
		token_type: VarInt::ZERO,
		value: Bytes::from_static(b"token"),
	}
	.to_parameter()
	.unwrap()
}

fn error(id: u64, code: u64, reason: &str) -> RequestError {
	RequestError {
		request_id: v(id),
		code: v(code),
		reason: reason.into(),
		retry_interval: v(0),
	}
}

/// A sample: its name, how it is read, and the value.
enum Sample {
	Client(ClientSetup),
	Server(ServerSetup),
	/// Draft-18's SETUP.
	Setup(Setup),
	Control(ControlMessage),
	/// A draft-18 request-stream (or SETUP-stream) message.
	Request(RequestMessage),
	Header(DataStreamHeader),
	Subgroup(bool, SubgroupObject),
	Fetch(FetchObject),
	Datagram(ObjectDatagram),
}

/// The SUBSCRIBE every draft's samples share.
fn subscribe() -> Subscribe {
	Subscribe {
		request_id: v(0),
		namespace: ns(&["anon", "room"]),
		track: "video".into(),
		priority: 127,
		group_order: GroupOrder::Descending,
		forward: true,
		filter: Filter::LargestObject,
		parameters: Parameters::default(),
	}
}

/// The SUBSCRIBE_OK every draft's samples share.
fn subscribe_ok() -> SubscribeOk {
	SubscribeOk {
		request_id: v(0),
		track_alias: v(1),
		expires: v(0),
		group_order: GroupOrder::Descending,
		largest: Some(loc(5, 2)),
		parameters: Parameters::default(),
		extensions: Vec::new(),
	}
}

/// The client's SETUP parameters every draft's samples share: PATH, AUTHORIZATION TOKEN,
/// AUTHORITY and MOQT_IMPLEMENTATION in ascending type order, with `max_request_id` (a
/// draft-14/16 parameter only) as the second.
fn client_setup_parameters(max_request_id: Option<u64>) -> SetupParameters {
	let mut pairs = vec![KeyValue::bytes(1, &b"/anon?jwt=x"[..])];
	pairs.extend(max_request_id.map(|max| KeyValue::int(2, v(max))));
	pairs.extend([
		jwt_param(),
		KeyValue::bytes(5, &b"localhost:4443"[..]),
		KeyValue::bytes(7, &b"moq-relay"[..]),
	]);
	SetupParameters(pairs)
}

/// The server's SETUP parameters every draft's samples share: MAX_AUTH_TOKEN_CACHE_SIZE, with
/// `max_request_id` (a draft-14/16 parameter only) before it.
fn server_setup_parameters(max_request_id: Option<u64>) -> SetupParameters {
	let mut pairs: Vec<KeyValue> = max_request_id.map(|max| KeyValue::int(2, v(max))).into_iter().collect();
	pairs.push(KeyValue::int(4, v(4096)));
	SetupParameters(pairs)
}

/// The samples whose draft-14 and draft-16 forms are the same values (their bytes differ where the
/// draft's encoding does).
fn shared_samples() -> Vec<(&'static str, Sample)> {
	use ControlMessage as C;
	let subscribe = subscribe();
	let subscribe_ok = subscribe_ok();
	vec![
		("SUBSCRIBE", Sample::Control(C::Subscribe(subscribe.clone()))),
		("SUBSCRIBE_OK", Sample::Control(C::SubscribeOk(subscribe_ok))),
		(
			"PUBLISH_NAMESPACE",
			Sample::Control(C::PublishNamespace(PublishNamespace {
				request_id: v(1),
				namespace: ns(&["room"]),
				parameters: Parameters::default(),
			})),
		),
		("UNSUBSCRIBE", Sample::Control(C::Unsubscribe(v(0)))),
		(
			"PUBLISH_DONE",
			Sample::Control(C::PublishDone(PublishDone {
				request_id: v(0),
				status: v(2),
				stream_count: v(3),
				reason: "track ended".into(),
			})),
		),
		(
			"TRACK_STATUS",
			Sample::Control(C::TrackStatus(Subscribe {
				request_id: v(6),
				..subscribe
			})),
		),
		("GOAWAY", Sample::Control(C::Goaway("".into()))),
		("MAX_REQUEST_ID", Sample::Control(C::MaxRequestId(v(200)))),
		(
			"FETCH standalone",
			Sample::Control(C::Fetch(Fetch {
				request_id: v(8),
				priority: 0,
				group_order: GroupOrder::Ascending,
				fetch_type: FetchType::Standalone {
					namespace: ns(&["anon", "room"]),
					track: "video".into(),
					start: loc(1, 0),
					end: loc(2, 0),
				},
				parameters: Parameters::default(),
			})),
		),
		("FETCH_CANCEL", Sample::Control(C::FetchCancel(v(8)))),
		("REQUESTS_BLOCKED", Sample::Control(C::RequestsBlocked(v(100)))),
		(
			"PUBLISH_OK",
			Sample::Control(C::PublishOk(PublishOk {
				request_id: v(12),
				forward: true,
				priority: 128,
				group_order: GroupOrder::Ascending,
				filter: Filter::NextGroupStart,
				parameters: Parameters::default(),
			})),
		),
		(
			"SUBGROUP_HEADER 0x18",
			Sample::Header(DataStreamHeader::Subgroup(SubgroupHeader {
				track_alias: v(1),
				group: v(5),
				subgroup: SubgroupId::Zero,
				priority: Some(127),
				extensions: false,
				end_of_group: true,
				first_object: true,
			})),
		),
		("FETCH_HEADER", Sample::Header(DataStreamHeader::Fetch(v(8)))),
		(
			"subgroup object",
			Sample::Subgroup(
				false,
				SubgroupObject {
					id_delta: v(0),
					extensions: Vec::new(),
					status: ObjectStatus::Normal,
					payload: Bytes::from_static(b"frame"),
				},
			),
		),
		(
			"subgroup end of group",
			Sample::Subgroup(
				false,
				SubgroupObject {
					id_delta: v(0),
					extensions: Vec::new(),
					status: ObjectStatus::EndOfGroup,
					payload: Bytes::new(),
				},
			),
		),
	]
}

fn samples() -> Vec<(&'static str, Sample)> {
	use ControlMessage as C;
	let subscribe = subscribe();
	let subscribe_ok = subscribe_ok();
	let mut samples = vec![
		(
			"CLIENT_SETUP",
			Sample::Client(ClientSetup {
				versions: vec![v(D14.setup_version())],
				parameters: client_setup_parameters(Some(100)),
			}),
		),
		(
			"SERVER_SETUP",
			Sample::Server(ServerSetup {
				version: v(D14.setup_version()),
				parameters: server_setup_parameters(Some(1 << 20)),
			}),
		),
		(
			"SUBSCRIBE_UPDATE",
			Sample::Control(C::SubscribeUpdate(SubscribeUpdate {
				request_id: v(4),
				subscription_request_id: v(0),
				start: loc(6, 0),
				end_group: v(0),
				priority: 1,
				forward: true,
				parameters: Parameters::default(),
			})),
		),
		(
			"SUBSCRIBE absolute range with a token",
			Sample::Control(C::Subscribe(Subscribe {
				request_id: v(2),
				filter: Filter::AbsoluteRange {
					start: loc(3, 0),
					end_group: v(9),
				},
				parameters: Parameters(vec![jwt_param(), KeyValue::int(2, v(500))]),
				..subscribe.clone()
			})),
		),
		(
			"SUBSCRIBE_ERROR",
			Sample::Control(C::SubscribeError(error(0, 4, "not found"))),
		),
		("PUBLISH_NAMESPACE_OK", Sample::Control(C::PublishNamespaceOk(v(1)))),
		(
			"PUBLISH_NAMESPACE_ERROR",
			Sample::Control(C::PublishNamespaceError(error(1, 1, "unauthorized"))),
		),
		(
			"PUBLISH_NAMESPACE_DONE",
			Sample::Control(C::PublishNamespaceDone(ns(&["room"]))),
		),
		(
			"PUBLISH_NAMESPACE_CANCEL",
			Sample::Control(C::PublishNamespaceCancel(PublishNamespaceCancel {
				namespace: ns(&["room"]),
				code: v(0),
				reason: "".into(),
			})),
		),
		(
			"TRACK_STATUS_OK",
			Sample::Control(C::TrackStatusOk(SubscribeOk {
				request_id: v(6),
				track_alias: v(0),
				..subscribe_ok
			})),
		),
		(
			"TRACK_STATUS_ERROR",
			Sample::Control(C::TrackStatusError(error(6, 4, "no track"))),
		),
		(
			"SUBSCRIBE_NAMESPACE",
			Sample::Control(C::SubscribeNamespace(SubscribeNamespace {
				request_id: v(2),
				prefix: ns(&["anon"]),
				options: None,
				parameters: Parameters::default(),
			})),
		),
		("SUBSCRIBE_NAMESPACE_OK", Sample::Control(C::SubscribeNamespaceOk(v(2)))),
		(
			"SUBSCRIBE_NAMESPACE_ERROR",
			Sample::Control(C::SubscribeNamespaceError(error(2, 4, "unknown prefix"))),
		),
		("UNSUBSCRIBE_NAMESPACE", Sample::Control(C::UnsubscribeNamespace(v(2)))),
		(
			"FETCH relative joining",
			Sample::Control(C::Fetch(Fetch {
				request_id: v(10),
				priority: 0,
				group_order: GroupOrder::Original,
				fetch_type: FetchType::RelativeJoining {
					joining_request_id: v(0),
					joining_start: v(1),
				},
				parameters: Parameters::default(),
			})),
		),
		(
			"FETCH_OK",
			Sample::Control(C::FetchOk(FetchOk {
				request_id: v(8),
				group_order: GroupOrder::Ascending,
				end_of_track: false,
				end: loc(2, 0),
				parameters: Parameters::default(),
				extensions: Vec::new(),
			})),
		),
		(
			"FETCH_ERROR",
			Sample::Control(C::FetchError(error(8, 5, "invalid range"))),
		),
		(
			"PUBLISH",
			Sample::Control(C::Publish(Publish {
				request_id: v(12),
				namespace: ns(&["room"]),
				track: "audio".into(),
				track_alias: v(7),
				group_order: GroupOrder::Ascending,
				largest: Some(loc(9, 0)),
				forward: true,
				parameters: Parameters::default(),
				extensions: Vec::new(),
			})),
		),
		(
			"PUBLISH_ERROR",
			Sample::Control(C::PublishError(error(12, 4, "uninterested"))),
		),
		(
			"SUBGROUP_HEADER 0x15",
			Sample::Header(DataStreamHeader::Subgroup(SubgroupHeader {
				track_alias: v(1),
				group: v(5),
				subgroup: SubgroupId::Explicit(v(2)),
				priority: Some(0),
				extensions: true,
				end_of_group: false,
				first_object: true,
			})),
		),
		(
			"subgroup object with a timestamp extension",
			Sample::Subgroup(
				true,
				SubgroupObject {
					id_delta: v(0),
					extensions: vec![KeyValue::int(0x10, v(1_000_000))],
					status: ObjectStatus::Normal,
					payload: Bytes::from_static(b"frame"),
				},
			),
		),
		(
			"fetch object",
			Sample::Fetch(FetchObject {
				group: v(1),
				subgroup: v(0),
				object: v(0),
				priority: 0,
				extensions: Vec::new(),
				status: ObjectStatus::Normal,
				payload: Bytes::from_static(b"frame"),
			}),
		),
		(
			"OBJECT_DATAGRAM 0x04",
			Sample::Datagram(ObjectDatagram {
				track_alias: v(1),
				group: v(3),
				object: None,
				priority: Some(127),
				end_of_group: false,
				extensions: Vec::new(),
				body: DatagramBody::Payload(Bytes::from_static(b"frame")),
			}),
		),
		(
			"OBJECT_DATAGRAM 0x03",
			Sample::Datagram(ObjectDatagram {
				track_alias: v(1),
				group: v(3),
				object: Some(v(0)),
				priority: Some(127),
				end_of_group: true,
				extensions: vec![KeyValue::int(0x10, v(90_000))],
				body: DatagramBody::Payload(Bytes::from_static(b"frame")),
			}),
		),
		(
			"OBJECT_DATAGRAM 0x20",
			Sample::Datagram(ObjectDatagram {
				track_alias: v(1),
				group: v(3),
				object: Some(v(1)),
				priority: Some(127),
				end_of_group: false,
				extensions: Vec::new(),
				body: DatagramBody::Status(ObjectStatus::EndOfGroup),
			}),
		),
	];
	samples.extend(shared_samples());
	samples
}

/// The draft-18 samples: the one SETUP message (0x2F00) both sides send on their own
/// unidirectional stream, as a client's and as a server's (its Setup Options are the draft-14/16
/// SETUP parameters without MAX_REQUEST_ID, delta-coded, with no count); the messages of the
/// request streams and GOAWAY (no Request ID in the answers; parameters typed by their type, with
/// a count and no Length); subgroup headers with and without FIRST_OBJECT, PADDING, and objects.
/// Every integer is a leading-ones one, so values past 127 (group 200, TIMESCALE 1000) take two.
fn samples18() -> Vec<(&'static str, Sample)> {
	use RequestMessage as R;
	let token = AuthToken::UseValue {
		token_type: v(0),
		value: Bytes::from_static(b"token"),
	};
	let token = ParamValue::Bytes(token.encode_value_in(D18).into());
	let header = |alias, group, subgroup, priority, extensions, first_object| {
		Sample::Header(DataStreamHeader::Subgroup(SubgroupHeader {
			track_alias: v(alias),
			group: v(group),
			subgroup,
			priority,
			extensions,
			end_of_group: true,
			first_object,
		}))
	};
	vec![
		(
			"SETUP client",
			Sample::Setup(Setup {
				parameters: client_setup_parameters(None),
			}),
		),
		(
			"SETUP server",
			Sample::Setup(Setup {
				parameters: server_setup_parameters(None),
			}),
		),
		("SETUP without options", Sample::Setup(Setup::default())),
		(
			"SUBSCRIBE",
			Sample::Request(R::Subscribe(Subscribe18 {
				request_id: v(0),
				namespace: ns(&["anon", "room"]),
				track: "video".into(),
				parameters: MessageParameters::default()
					.with(parameter::AUTHORIZATION_TOKEN, token.clone())
					.with(parameter::FORWARD, ParamValue::Byte(1))
					.with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(128))
					.with(
						parameter::SUBSCRIPTION_FILTER,
						ParamValue::Bytes(Bytes::from_static(&[0x01])),
					)
					.with(parameter::GROUP_ORDER, ParamValue::Byte(2)),
			})),
		),
		(
			"SUBSCRIBE_OK",
			Sample::Request(R::SubscribeOk(SubscribeOk18 {
				track_alias: v(5),
				parameters: MessageParameters::default()
					.with(parameter::LARGEST_OBJECT, ParamValue::Location(loc(200, 3))),
				properties: vec![KeyValue::int(0x08, v(1000)), KeyValue::int(0x22, v(2))],
			})),
		),
		(
			"REQUEST_OK",
			Sample::Request(R::RequestOk(MessageParameters::default())),
		),
		(
			"REQUEST_ERROR",
			Sample::Request(R::RequestError(RequestError18 {
				code: v(3),
				retry_interval: v(0),
				reason: "not supported".into(),
			})),
		),
		(
			"REQUEST_UPDATE",
			Sample::Request(R::RequestUpdate(RequestUpdate {
				request_id: v(6),
				parameters: MessageParameters::default().with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(10)),
			})),
		),
		(
			"PUBLISH_DONE",
			Sample::Request(R::PublishDone(PublishDone18 {
				status: v(2),
				stream_count: v(200),
				reason: "track ended".into(),
			})),
		),
		(
			"PUBLISH_NAMESPACE",
			Sample::Request(R::PublishNamespace(NamespaceRequest {
				request_id: v(2),
				namespace: ns(&["anon", "room"]),
				options: None,
				parameters: MessageParameters::default().with(parameter::AUTHORIZATION_TOKEN, token),
			})),
		),
		(
			"SUBSCRIBE_NAMESPACE",
			Sample::Request(R::SubscribeNamespace(NamespaceRequest {
				request_id: v(4),
				namespace: ns(&["anon"]),
				options: None,
				parameters: MessageParameters::default(),
			})),
		),
		("NAMESPACE", Sample::Request(R::Namespace(ns(&["room"])))),
		("NAMESPACE_DONE", Sample::Request(R::NamespaceDone(ns(&["room"])))),
		(
			"GOAWAY",
			Sample::Request(R::Goaway(Goaway {
				uri: String::new(),
				timeout: v(0),
				request_id: None,
			})),
		),
		(
			"GOAWAY with a timeout and Request ID",
			Sample::Request(R::Goaway(Goaway {
				uri: "moqt://relay.example/next".into(),
				timeout: v(5000),
				request_id: Some(v(0)),
			})),
		),
		(
			"SUBGROUP_HEADER 0x58 (FIRST_OBJECT)",
			header(1, 200, SubgroupId::Zero, Some(128), false, true),
		),
		(
			"SUBGROUP_HEADER 0x1D (no FIRST_OBJECT)",
			header(1, 7, SubgroupId::Explicit(v(3)), Some(0), true, false),
		),
		(
			"SUBGROUP_HEADER 0x7B (FIRST_OBJECT, no priority)",
			header(300, 7, SubgroupId::FirstObject, None, true, true),
		),
		("PADDING", Sample::Header(DataStreamHeader::Padding)),
		(
			"subgroup object",
			Sample::Subgroup(
				false,
				SubgroupObject {
					id_delta: v(0),
					extensions: Vec::new(),
					status: ObjectStatus::Normal,
					payload: Bytes::from_static(b"frame"),
				},
			),
		),
		(
			"subgroup object with a timestamp extension",
			Sample::Subgroup(
				true,
				SubgroupObject {
					id_delta: v(1),
					extensions: vec![KeyValue::int(0x10, v(96_000))],
					status: ObjectStatus::Normal,
					payload: Bytes::from_static(b"frame"),
				},
			),
		),
		(
			"subgroup object End of Group",
			Sample::Subgroup(
				true,
				SubgroupObject {
					id_delta: v(0),
					extensions: Vec::new(),
					status: ObjectStatus::EndOfGroup,
					payload: Bytes::new(),
				},
			),
		),
	]
}

/// The draft-20 samples: draft-18's, with what changed by draft-20. SUBSCRIBE is the published
/// client's live join (LOCATION_FILTER Next Object as two zero integers, FILL holding a Relative
/// Start of 1, INCLUDE_PROPERTIES 0) and the relay's Next Group Start (a Relative Start of 0, one
/// integer); GOAWAY has no Request ID (draft-19 removed it); REQUEST_UPDATE may carry a Range
/// Filter. SETUP, the answers and the data streams are draft-18's bytes.
fn samples20() -> Vec<(&'static str, Sample)> {
	use RequestMessage as R;
	let live_join = MessageParameters::default()
		.with(parameter::FORWARD, ParamValue::Byte(1))
		.with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(128))
		.with(
			parameter::SUBSCRIPTION_FILTER,
			ParamValue::Bytes(Bytes::from_static(&[0x00, 0x00])),
		)
		.with(parameter::GROUP_ORDER, ParamValue::Byte(2))
		.with(
			parameter::FILL,
			ParamValue::Bytes(Bytes::from_static(&[0x01, 0x21, 0x01, 0x01])),
		)
		.with(parameter::INCLUDE_PROPERTIES, ParamValue::Byte(0));
	let next_group = MessageParameters::default()
		.with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(0))
		.with(
			parameter::SUBSCRIPTION_FILTER,
			ParamValue::Bytes(Bytes::from_static(&[0x00])),
		)
		.with(parameter::GROUP_ORDER, ParamValue::Byte(2));
	let mut samples: Vec<_> = samples18()
		.into_iter()
		.filter(|(name, _)| !matches!(*name, "SUBSCRIBE" | "GOAWAY with a timeout and Request ID"))
		.collect();
	samples.extend([
		(
			"SUBSCRIBE live join with FILL",
			Sample::Request(R::Subscribe(Subscribe18 {
				request_id: v(0),
				namespace: ns(&["anon", "room"]),
				track: "video".into(),
				parameters: live_join,
			})),
		),
		(
			"SUBSCRIBE Relative Start 0",
			Sample::Request(R::Subscribe(Subscribe18 {
				request_id: v(1),
				namespace: ns(&["room"]),
				track: "video".into(),
				parameters: next_group,
			})),
		),
		goaway_with_a_timeout(),
	]);
	samples
}

/// The draft-22 samples: draft-20's, with LOCATION_FILTER in draft-22's typed form (no Length): the
/// live join's Next Object is type `05` alone, the relay's Relative Start 0 is `01 00`.
fn samples22() -> Vec<(&'static str, Sample)> {
	let typed = |value: &'static [u8]| ParamValue::Bytes(Bytes::from_static(value));
	samples20()
		.into_iter()
		.map(|(name, sample)| match (name, sample) {
			("SUBSCRIBE live join with FILL", Sample::Request(RequestMessage::Subscribe(mut s))) => {
				set_filter(&mut s.parameters, typed(&[0x05]));
				(name, Sample::Request(RequestMessage::Subscribe(s)))
			}
			("SUBSCRIBE Relative Start 0", Sample::Request(RequestMessage::Subscribe(mut s))) => {
				set_filter(&mut s.parameters, typed(&[0x01, 0x00]));
				(name, Sample::Request(RequestMessage::Subscribe(s)))
			}
			other => other,
		})
		.collect()
}

/// A GOAWAY with a New Session URI and a Timeout and no Request ID (draft-19 on).
fn goaway_with_a_timeout() -> (&'static str, Sample) {
	(
		"GOAWAY with a timeout",
		Sample::Request(RequestMessage::Goaway(Goaway {
			uri: "moqt://relay.example/next".into(),
			timeout: v(5000),
			request_id: None,
		})),
	)
}

/// The draft-19 samples: draft-18's, but GOAWAY has no Request ID (as on draft-20) and a
/// SUBSCRIBE may carry Range Filters (each may repeat).
fn samples19() -> Vec<(&'static str, Sample)> {
	use RequestMessage as R;
	let mut samples: Vec<_> = samples18()
		.into_iter()
		.filter(|(name, _)| *name != "GOAWAY with a timeout and Request ID")
		.collect();
	samples.extend([
		goaway_with_a_timeout(),
		(
			"SUBSCRIBE with two Range Filters",
			Sample::Request(R::Subscribe(Subscribe18 {
				request_id: v(2),
				namespace: ns(&["room"]),
				track: "video".into(),
				parameters: MessageParameters::default()
					.with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(0))
					.with(
						parameter::SUBGROUP_FILTER,
						ParamValue::Bytes(Bytes::from_static(&[0x00, 0x01])),
					)
					.with(
						parameter::SUBGROUP_FILTER,
						ParamValue::Bytes(Bytes::from_static(&[0x03, 0x04])),
					),
			})),
		),
	]);
	samples
}

/// The draft-17 samples: draft-18's messages with a Required Request ID Delta (0) after each
/// request's Request ID, SUBSCRIBE_NAMESPACE as 0x11 with Subscribe Options, GOAWAY without a
/// Request ID, subgroup headers without the FIRST_OBJECT bit, no PADDING, and a 46-bit Track
/// Alias in the 8-byte integer form (draft-17 reserves the 7-byte one).
fn samples17() -> Vec<(&'static str, Sample)> {
	use RequestMessage as R;
	let header = |alias, group, subgroup, priority, extensions| {
		Sample::Header(DataStreamHeader::Subgroup(SubgroupHeader {
			track_alias: v(alias),
			group: v(group),
			subgroup,
			priority,
			extensions,
			end_of_group: true,
			first_object: true,
		}))
	};
	let mut samples: Vec<_> = samples18()
		.into_iter()
		.filter(|(name, _)| {
			!name.starts_with("SUBGROUP_HEADER") && !matches!(*name, "PADDING" | "GOAWAY with a timeout and Request ID")
		})
		.map(|(name, sample)| match sample {
			Sample::Request(R::SubscribeNamespace(m)) => (
				name,
				Sample::Request(R::SubscribeNamespace(NamespaceRequest {
					options: Some(v(1)),
					..m
				})),
			),
			other => (name, other),
		})
		.collect();
	samples.extend([
		goaway_with_a_timeout(),
		(
			"SUBSCRIBE_OK with a 46-bit Track Alias",
			Sample::Request(R::SubscribeOk(SubscribeOk18 {
				track_alias: v(1 << 45),
				parameters: MessageParameters::default(),
				properties: Vec::new(),
			})),
		),
		(
			"SUBGROUP_HEADER 0x18",
			header(1, 200, SubgroupId::Zero, Some(128), false),
		),
		(
			"SUBGROUP_HEADER 0x1D",
			header(1, 7, SubgroupId::Explicit(v(3)), Some(0), true),
		),
		(
			"SUBGROUP_HEADER 0x3B",
			header(300, 7, SubgroupId::FirstObject, None, true),
		),
	]);
	samples
}

/// The draft-15 samples: draft-16's request fields as parameters and answers, in draft-14's
/// absolute Key-Value-Pair types, with REQUEST_ERROR without a Retry Interval, no Track
/// Extensions (a publisher's group order as the GROUP_ORDER parameter) and draft-14's namespace
/// messages.
fn samples15() -> Vec<(&'static str, Sample)> {
	use ControlMessage as C;
	let mut samples: Vec<_> = samples16()
		.into_iter()
		.filter(|(name, _)| {
			!matches!(
				*name,
				"NAMESPACE" | "NAMESPACE_DONE" | "PUBLISH_NAMESPACE_DONE" | "PUBLISH_NAMESPACE_CANCEL"
			)
		})
		.map(|(name, sample)| match (name, sample) {
			("SERVER_SETUP", Sample::Server(m)) => (
				name,
				Sample::Server(ServerSetup {
					version: v(Draft::Draft15.setup_version()),
					..m
				}),
			),
			("REQUEST_ERROR", Sample::Control(C::RequestError(m))) => (
				name,
				Sample::Control(C::RequestError(RequestError {
					retry_interval: v(0),
					..m
				})),
			),
			("SUBSCRIBE_NAMESPACE", Sample::Control(C::SubscribeNamespace(m))) => (
				name,
				Sample::Control(C::SubscribeNamespace(SubscribeNamespace { options: None, ..m })),
			),
			// The publisher's group order as the GROUP_ORDER parameter.
			("PUBLISH", Sample::Control(C::Publish(m))) => (
				"PUBLISH with its group order",
				Sample::Control(C::Publish(Publish {
					group_order: GroupOrder::Descending,
					..m
				})),
			),
			("subgroup object with delta-coded extensions", sample) => {
				("subgroup object with extensions (absolute types)", sample)
			}
			other => other,
		})
		.collect();
	// Draft-14's namespace messages, as draft-15 keeps them.
	samples.extend(self::samples().into_iter().filter(|(name, _)| {
		matches!(
			*name,
			"PUBLISH_NAMESPACE_DONE" | "PUBLISH_NAMESPACE_CANCEL" | "UNSUBSCRIBE_NAMESPACE"
		)
	}));
	samples.extend([(
		"SUBSCRIBE_OK with its group order",
		Sample::Control(C::SubscribeOk(SubscribeOk {
			group_order: GroupOrder::Descending,
			extensions: Vec::new(),
			..subscribe_ok()
		})),
	)]);
	samples
}

/// Replaces the SUBSCRIPTION_FILTER (LOCATION_FILTER) of `parameters`.
fn set_filter(parameters: &mut MessageParameters, value: ParamValue) {
	for p in &mut parameters.0 {
		if p.key == v(parameter::SUBSCRIPTION_FILTER) {
			p.value = value.clone();
		}
	}
}

/// The draft-16 samples: every message in its draft-16 form (REQUEST_OK, REQUEST_ERROR, the
/// SUBSCRIBE_NAMESPACE stream's NAMESPACE and NAMESPACE_DONE, PUBLISH_NAMESPACE_DONE/CANCEL by
/// Request ID), fields as parameters, delta-coded types.
fn samples16() -> Vec<(&'static str, Sample)> {
	use ControlMessage as C;
	let subscribe = subscribe();
	let mut samples = vec![
		(
			"CLIENT_SETUP",
			Sample::Client(ClientSetup {
				versions: Vec::new(),
				parameters: client_setup_parameters(Some(100)),
			}),
		),
		(
			"SERVER_SETUP",
			Sample::Server(ServerSetup {
				version: v(D16.setup_version()),
				parameters: server_setup_parameters(Some(1 << 20)),
			}),
		),
		(
			"SUBSCRIBE_UPDATE",
			Sample::Control(C::SubscribeUpdate(SubscribeUpdate {
				request_id: v(4),
				subscription_request_id: v(0),
				start: loc(0, 0),
				end_group: v(0),
				priority: 1,
				forward: false,
				parameters: Parameters::default(),
			})),
		),
		(
			"SUBSCRIBE absolute range with a token",
			Sample::Control(C::Subscribe(Subscribe {
				request_id: v(2),
				filter: Filter::AbsoluteRange {
					start: loc(3, 0),
					end_group: v(9),
				},
				parameters: Parameters(vec![KeyValue::int(2, v(500)), jwt_param()]),
				..subscribe.clone()
			})),
		),
		(
			"REQUEST_ERROR",
			Sample::Control(C::RequestError(RequestError {
				retry_interval: v(1000),
				..error(0, 4, "not found")
			})),
		),
		(
			"REQUEST_OK",
			Sample::Control(C::RequestOk(RequestOk {
				request_id: v(1),
				parameters: Parameters::default(),
			})),
		),
		("NAMESPACE", Sample::Control(C::Namespace(ns(&["room"])))),
		(
			"PUBLISH_NAMESPACE_DONE",
			Sample::Control(C::PublishNamespaceDoneRequest(v(1))),
		),
		(
			"PUBLISH_NAMESPACE_CANCEL",
			Sample::Control(C::PublishNamespaceCancelRequest(error(1, 0, ""))),
		),
		("NAMESPACE_DONE", Sample::Control(C::NamespaceDone(ns(&["room"])))),
		(
			"SUBSCRIBE_NAMESPACE",
			Sample::Control(C::SubscribeNamespace(SubscribeNamespace {
				request_id: v(2),
				prefix: ns(&["anon"]),
				options: Some(v(1)),
				parameters: Parameters::default(),
			})),
		),
		(
			"FETCH relative joining",
			Sample::Control(C::Fetch(Fetch {
				request_id: v(10),
				priority: 128,
				group_order: GroupOrder::Original,
				fetch_type: FetchType::RelativeJoining {
					joining_request_id: v(0),
					joining_start: v(1),
				},
				parameters: Parameters::default(),
			})),
		),
		(
			"FETCH_OK",
			Sample::Control(C::FetchOk(FetchOk {
				request_id: v(8),
				group_order: GroupOrder::Original,
				end_of_track: false,
				end: loc(2, 0),
				parameters: Parameters::default(),
				extensions: Vec::new(),
			})),
		),
		(
			"PUBLISH",
			Sample::Control(C::Publish(Publish {
				request_id: v(12),
				namespace: ns(&["room"]),
				track: "audio".into(),
				track_alias: v(7),
				group_order: GroupOrder::Original,
				largest: Some(loc(9, 0)),
				forward: true,
				parameters: Parameters::default(),
				extensions: Vec::new(),
			})),
		),
		(
			"SUBGROUP_HEADER 0x19",
			Sample::Header(DataStreamHeader::Subgroup(SubgroupHeader {
				track_alias: v(1),
				group: v(5),
				subgroup: SubgroupId::Zero,
				priority: Some(0),
				extensions: true,
				end_of_group: true,
				first_object: true,
			})),
		),
		(
			"subgroup object with delta-coded extensions",
			Sample::Subgroup(
				true,
				SubgroupObject {
					id_delta: v(0),
					extensions: vec![KeyValue::bytes(0xb, &b"x"[..]), KeyValue::int(0x10, v(1_000_000))],
					status: ObjectStatus::Normal,
					payload: Bytes::from_static(b"frame"),
				},
			),
		),
	];
	samples.extend(shared_samples());
	samples
}

fn check<T, C>(hex: &str, ctx: C, expected: &T) -> Result<(), String>
where
	T: DecodeWith<C> + EncodeWith<C> + PartialEq + Debug,
	C: Copy,
{
	let bytes = ::hex::decode(hex).map_err(|e| e.to_string())?;
	let (decoded, used) = T::decode_prefix(&bytes, ctx).map_err(|e| format!("decode: {e}"))?;
	if used != bytes.len() {
		return Err(format!("consumed {used} of {} bytes", bytes.len()));
	}
	if &decoded != expected {
		return Err(format!("decoded {decoded:?}, expected {expected:?}"));
	}
	let again = decoded.to_bytes(ctx).map_err(|e| format!("encode: {e}"))?;
	if again != bytes {
		return Err(format!("re-encoded {}", ::hex::encode(again)));
	}
	Ok(())
}

impl Sample {
	fn kind(&self) -> &'static str {
		match self {
			Sample::Client(_) => "client_setup",
			Sample::Server(_) => "server_setup",
			Sample::Setup(_) => "setup",
			Sample::Control(_) => "control",
			Sample::Request(_) => "request",
			Sample::Header(_) => "data_stream_header",
			Sample::Subgroup(false, _) => "subgroup_object",
			Sample::Subgroup(true, _) => "subgroup_object_with_extensions",
			Sample::Fetch(_) => "fetch_object",
			Sample::Datagram(_) => "object_datagram",
		}
	}

	fn encode(&self, draft: Draft) -> Vec<u8> {
		match self {
			Sample::Client(m) => m.to_bytes(draft),
			Sample::Server(m) => m.to_bytes(draft),
			Sample::Setup(m) => m.to_bytes(draft),
			Sample::Control(m) => m.to_bytes(draft),
			Sample::Request(m) => m.to_bytes(draft),
			Sample::Header(m) => m.to_bytes(draft),
			Sample::Subgroup(ext, m) => m.to_bytes(SubgroupContext {
				draft,
				extensions: *ext,
			}),
			Sample::Fetch(m) => m.to_bytes(draft),
			Sample::Datagram(m) => m.to_bytes(draft),
		}
		.expect("a sample encodes")
	}

	fn check(&self, hex: &str, draft: Draft) -> Result<(), String> {
		match self {
			Sample::Client(m) => check(hex, draft, m),
			Sample::Server(m) => check(hex, draft, m),
			Sample::Setup(m) => check(hex, draft, m),
			Sample::Control(m) => check(hex, draft, m),
			Sample::Request(m) => check(hex, draft, m),
			Sample::Header(m) => check(hex, draft, m),
			Sample::Subgroup(ext, m) => check(
				hex,
				SubgroupContext {
					draft,
					extensions: *ext,
				},
				m,
			),
			Sample::Fetch(m) => check(hex, draft, m),
			Sample::Datagram(m) => check(hex, draft, m),
		}
	}
}

#[test]
fn draft14_vectors() {
	run_vectors(
		VECTORS,
		D14,
		samples(),
		"Golden wire vectors for draft-ietf-moq-transport-14 as the published moq-net 0.3.18 crate reads it. `hex` is the exact byte sequence (control messages with their Type and 16-bit Length; data stream headers with their stream type; datagrams whole). `kind` says how to read it; subgroup objects are read in the context of a header with or without extensions. `check` records how moq-net 0.3.18 confirmed the vector.",
		"draft-ietf-moq-transport-14 (ALPN moq-00)",
	);
}

#[test]
fn draft16_vectors() {
	run_vectors(
		VECTORS16,
		D16,
		samples16(),
		"Golden wire vectors for draft-ietf-moq-transport-16 as the published moq-net 0.3.18 crate reads it. `hex` is the exact byte sequence (control messages with their Type and 16-bit Length; data stream headers with their stream type). `kind` says how to read it; subgroup objects are read in the context of a header with or without extensions. `check` records how moq-net 0.3.18 confirmed the vector.",
		"draft-ietf-moq-transport-16 (ALPN moqt-16)",
	);
}

#[test]
fn draft18_vectors() {
	run_vectors(
		VECTORS18,
		D18,
		samples18(),
		"Golden wire vectors for draft-ietf-moq-transport-18 as the published moq-net 0.3.18 crate reads it: its SETUP, the request-stream messages and GOAWAY, subgroup stream headers (with and without FIRST_OBJECT), PADDING and subgroup objects. `hex` is the exact byte sequence (SETUP: Type 0x2F00, 16-bit Length, Setup Options; messages: Type, 16-bit Length, payload; headers with their stream type), every integer a leading-ones one. `kind` says how to read it; subgroup objects are read in the context of a header with or without extensions. `check` records how moq-net 0.3.18 confirmed the vector.",
		"draft-ietf-moq-transport-18 (ALPN moqt-18)",
	);
}

#[test]
fn draft20_vectors() {
	run_vectors(
		VECTORS20,
		D20,
		samples20(),
		"Golden wire vectors for draft-ietf-moq-transport-20 (and -21, the same on the wire) as the published moq-net 0.3.18 crate reads it: its SETUP, the request-stream messages (SUBSCRIBE with draft-20's LOCATION_FILTER integer list and FILL) and GOAWAY (no Request ID), subgroup stream headers, PADDING and subgroup objects. `hex` is the exact byte sequence (SETUP: Type 0x2F00, 16-bit Length, Setup Options; messages: Type, 16-bit Length, payload; headers with their stream type), every integer a leading-ones one. `kind` says how to read it; subgroup objects are read in the context of a header with or without extensions. `check` records how moq-net 0.3.18 confirmed the vector.",
		"draft-ietf-moq-transport-20 (ALPN moqt-20)",
	);
}

#[test]
fn draft22_vectors() {
	run_vectors(
		VECTORS22,
		Draft::Draft22,
		samples22(),
		"Golden wire vectors for draft-ietf-moq-transport-22 as the published moq-net 0.3.18 crate reads it: draft-20's, with LOCATION_FILTER in its typed form (a Location Filter Type naming the integers that follow, no Length). `hex` is the exact byte sequence (SETUP: Type 0x2F00, 16-bit Length, Setup Options; messages: Type, 16-bit Length, payload; headers with their stream type), every integer a leading-ones one. `kind` says how to read it; subgroup objects are read in the context of a header with or without extensions. `check` records how moq-net 0.3.18 confirmed the vector.",
		"draft-ietf-moq-transport-22 (ALPN moqt-22)",
	);
}

#[test]
fn draft15_vectors() {
	run_vectors(
		VECTORS15,
		Draft::Draft15,
		samples15(),
		"Golden wire vectors for draft-ietf-moq-transport-15 as the published moq-net 0.3.18 crate reads it: draft-16's request fields as parameters and REQUEST_OK, in draft-14's absolute Key-Value-Pair types, REQUEST_ERROR without a Retry Interval, no Track Extensions (the publisher's group order as the GROUP_ORDER parameter) and draft-14's namespace messages. `hex` is the exact byte sequence (control messages with their Type and 16-bit Length; data stream headers with their stream type). `kind` says how to read it; subgroup objects are read in the context of a header with or without extensions. `check` records how moq-net 0.3.18 confirmed the vector.",
		"draft-ietf-moq-transport-15 (ALPN moqt-15)",
	);
}

#[test]
fn draft17_vectors() {
	run_vectors(
		VECTORS17,
		Draft::Draft17,
		samples17(),
		"Golden wire vectors for draft-ietf-moq-transport-17 as the published moq-net 0.3.18 crate reads it: draft-18's SETUP and request-stream messages with a Required Request ID Delta after each request's Request ID, SUBSCRIBE_NAMESPACE as 0x11 with Subscribe Options, GOAWAY without a Request ID, subgroup headers without the FIRST_OBJECT bit, and the 8-byte integer form where draft-18 would use the 7-byte one. `hex` is the exact byte sequence, every integer a leading-ones one. `kind` says how to read it; subgroup objects are read in the context of a header with or without extensions. `check` records how moq-net 0.3.18 confirmed the vector.",
		"draft-ietf-moq-transport-17 (ALPN moqt-17)",
	);
}

#[test]
fn draft19_vectors() {
	run_vectors(
		VECTORS19,
		Draft::Draft19,
		samples19(),
		"Golden wire vectors for draft-ietf-moq-transport-19 as the published moq-net 0.3.18 crate reads it: draft-18's, with GOAWAY without a Request ID and a SUBSCRIBE carrying Range Filters. `hex` is the exact byte sequence (SETUP: Type 0x2F00, 16-bit Length, Setup Options; messages: Type, 16-bit Length, payload; headers with their stream type), every integer a leading-ones one. `kind` says how to read it; subgroup objects are read in the context of a header with or without extensions. `check` records how moq-net 0.3.18 confirmed the vector.",
		"draft-ietf-moq-transport-19 (ALPN moqt-19)",
	);
}

/// Checks the vectors file `path` against `samples` in `draft` (rewriting its hex first with
/// `MOQ_WIRE_WRITE_VECTORS=1`).
fn run_vectors(path: &str, draft: Draft, samples: Vec<(&'static str, Sample)>, description: &str, title: &str) {
	if std::env::var_os("MOQ_WIRE_WRITE_VECTORS").is_some() {
		let old: Value = std::fs::read_to_string(path)
			.ok()
			.and_then(|s| serde_json::from_str(&s).ok())
			.unwrap_or(json!({}));
		let vectors: Vec<Value> = samples
			.iter()
			.map(|(name, sample)| {
				let previous = old["vectors"]
					.as_array()
					.and_then(|a| a.iter().find(|v| v["name"] == *name))
					.map(|v| v["check"].clone())
					.unwrap_or(Value::Null);
				json!({"name": name, "kind": sample.kind(), "hex": ::hex::encode(sample.encode(draft)), "check": previous})
			})
			.collect();
		let file = json!({
			"description": description,
			"draft": title,
			"vectors": vectors,
		});
		std::fs::write(path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
	}
	let file: Value = serde_json::from_str(&std::fs::read_to_string(path).expect(path)).unwrap();
	let vectors = file["vectors"].as_array().expect("vectors");
	assert_eq!(vectors.len(), samples.len(), "one vector per sample");
	let mut failures = Vec::new();
	for (name, sample) in &samples {
		let vector = vectors
			.iter()
			.find(|v| v["name"] == *name)
			.unwrap_or_else(|| panic!("no vector named {name}"));
		assert_eq!(vector["kind"], sample.kind(), "{name}");
		// Every message, header and datagram is confirmed by moq-net's own decoder; the
		// objects, which moq-net reads inline in its session, say how they were checked.
		let confirmed = vector["check"]["moq_net_decodes"].as_bool();
		match sample {
			// PADDING's type is read by moq-net's session alone, as the objects are.
			Sample::Subgroup(..) | Sample::Fetch(_) | Sample::Header(DataStreamHeader::Padding) => {
				assert!(vector["check"]["how"].is_string(), "{name}")
			}
			_ => assert_eq!(confirmed, Some(true), "{name}: not confirmed by moq-net"),
		}
		if let Err(err) = sample.check(vector["hex"].as_str().expect("hex"), draft) {
			failures.push(format!("{name}: {err}"));
		}
	}
	assert!(failures.is_empty(), "{failures:#?}");
}

const CAPTURED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft14-captured.json");
const CAPTURED16: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft16-captured.json");
const CAPTURED18: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft18-captured.json");

/// Decodes `hex` as exactly one `T` and re-encodes it to the same bytes.
fn exact<T, C>(hex: &str, ctx: C) -> Result<T, String>
where
	T: DecodeWith<C> + EncodeWith<C> + Debug,
	C: Copy,
{
	let bytes = ::hex::decode(hex).map_err(|e| e.to_string())?;
	let (value, used) = T::decode_prefix(&bytes, ctx).map_err(|e| format!("decode: {e}"))?;
	if used != bytes.len() {
		return Err(format!("consumed {used} of {} bytes", bytes.len()));
	}
	let again = value.to_bytes(ctx).map_err(|e| format!("encode: {e}"))?;
	if again != bytes {
		return Err(format!("{value:?} re-encoded as {}", ::hex::encode(again)));
	}
	Ok(value)
}

/// Decodes `hex` as exactly one `T`, and checks that its re-encoding reads back as the same value.
/// Draft-16's encoder leaves out a parameter at the value its absence means, which the published
/// client writes anyway (FORWARD 1, SUBSCRIBER_PRIORITY 128), so its bytes are not always ours.
fn whole<T, C>(hex: &str, ctx: C) -> Result<T, String>
where
	T: DecodeWith<C> + EncodeWith<C> + PartialEq + Debug,
	C: Copy,
{
	let bytes = ::hex::decode(hex).map_err(|e| e.to_string())?;
	let (value, used) = T::decode_prefix(&bytes, ctx).map_err(|e| format!("decode: {e}"))?;
	if used != bytes.len() {
		return Err(format!("consumed {used} of {} bytes", bytes.len()));
	}
	let again = value.to_bytes(ctx).map_err(|e| format!("encode: {e}"))?;
	let (back, _) = T::decode_prefix(&again, ctx).map_err(|e| format!("re-decode: {e}"))?;
	if back != value {
		return Err(format!("{value:?} re-encoded as {back:?}"));
	}
	Ok(value)
}

/// What the published client really sent on a draft-16 session (captured by
/// `vectors/ietf/capture/` with the argument `16`): every message reads whole in draft-16's form,
/// SUBSCRIBE_NAMESPACE came on its own stream, and the facts the relay's session relies on hold.
#[test]
fn draft16_bytes_captured_from_the_published_client() {
	let file: Value = serde_json::from_str(&std::fs::read_to_string(CAPTURED16).expect(CAPTURED16)).unwrap();
	let captured = file["captured"].as_array().expect("captured");
	let mut failures = Vec::new();
	let mut seen = Vec::new();
	for entry in captured {
		let name = entry["name"].as_str().unwrap();
		let hex = entry["hex"].as_str().unwrap();
		let ctx = |extensions| SubgroupContext { draft: D16, extensions };
		let result = match entry["kind"].as_str().unwrap() {
			"client_setup" => exact::<ClientSetup, _>(hex, D16).map(|setup| {
				assert!(setup.versions.is_empty(), "{name}");
				assert_eq!(setup.parameters.max_request_id(), v(u32::MAX.into()), "{name}");
				assert_eq!(setup.parameters.implementation(), Some("moq-lite-rs"), "{name}");
				assert_eq!(setup.parameters.path(), Some("/anon"), "{name}");
				"CLIENT_SETUP".to_string()
			}),
			"control" => whole::<ControlMessage, _>(hex, D16).map(|m| {
				if let ControlMessage::SubscribeNamespace(s) = &m {
					assert!(name.contains("own stream"), "{name}");
					assert_eq!(s.options, Some(v(1)), "{name}: NAMESPACE only");
				}
				m.name().to_string()
			}),
			"data_stream_header" => exact::<DataStreamHeader, _>(hex, D16).map(|h| format!("{h:?}")),
			"subgroup_object_with_extensions" => {
				exact::<SubgroupObject, _>(hex, ctx(true)).map(|_| "object".to_string())
			}
			"subgroup_object" => exact::<SubgroupObject, _>(hex, ctx(false)).map(|_| "object".to_string()),
			other => Err(format!("unknown kind {other}")),
		};
		match result {
			Ok(what) => seen.push(what),
			Err(err) => failures.push(format!("{name}: {err}")),
		}
	}
	assert!(failures.is_empty(), "{failures:#?}");
	for message in [
		"CLIENT_SETUP",
		"PUBLISH_NAMESPACE",
		"SUBSCRIBE_OK",
		"SUBSCRIBE_NAMESPACE",
		"object",
	] {
		assert!(seen.iter().any(|s| s == message), "no {message} captured: {seen:?}");
	}
}

/// What the published client really sent on a draft-18 session (captured by
/// `vectors/ietf/capture/` with the argument `18`): the SETUP opening its unidirectional stream, as
/// a publisher and as a subscriber; PUBLISH_NAMESPACE and SUBSCRIBE_NAMESPACE on their own
/// streams; SUBSCRIBE_OK; a subgroup stream with FIRST_OBJECT and its objects. Each reads whole in
/// draft-18's form and re-encodes byte for byte, and the facts the relay relies on hold.
#[test]
fn draft18_bytes_captured_from_the_published_client() {
	let file: Value = serde_json::from_str(&std::fs::read_to_string(CAPTURED18).expect(CAPTURED18)).unwrap();
	let captured = file["captured"].as_array().expect("captured");
	assert_eq!(captured.len(), 8, "{} captures", captured.len());
	let mut header = None;
	for entry in captured {
		let name = entry["name"].as_str().unwrap();
		let hex = entry["hex"].as_str().unwrap();
		match entry["kind"].as_str().unwrap() {
			"setup" => {
				let setup = exact::<Setup, _>(hex, D18).unwrap_or_else(|err| panic!("{name}: {err}"));
				let params = &setup.parameters;
				assert_eq!(params.implementation(), Some("moq-lite-rs"), "{name}");
				assert_eq!(params.path(), Some("/anon"), "{name}");
				// Draft-18 has no MAX_REQUEST_ID option, and the client sends none.
				assert!(params.0.iter().all(|p| p.key != v(2)), "{name}");
			}
			"request" => match exact::<RequestMessage, _>(hex, D18).unwrap_or_else(|err| panic!("{name}: {err}")) {
				RequestMessage::PublishNamespace(p) => assert_eq!(p.namespace, ns(&["room"]), "{name}"),
				// No Request ID; the publisher's timescale and order ride as Track Properties.
				RequestMessage::SubscribeOk(ok) => {
					assert!(ok.properties.contains(&KeyValue::int(0x08, v(1000))), "{name}");
					assert!(ok.properties.contains(&KeyValue::int(0x22, v(2))), "{name}");
				}
				RequestMessage::SubscribeNamespace(s) => {
					assert_eq!(s.request_id, v(0), "{name}");
					assert!(s.namespace.is_empty(), "{name}");
				}
				other => panic!("{name}: unexpected {other:?}"),
			},
			"data_stream_header" => match exact::<DataStreamHeader, _>(hex, D18) {
				// 0x59: FIRST_OBJECT, end of group, extensions.
				Ok(DataStreamHeader::Subgroup(h)) => {
					assert!(h.first_object && h.end_of_group && h.extensions, "{name}");
					header = Some(h);
				}
				other => panic!("{name}: {other:?}"),
			},
			kind => {
				let h = header.expect("a header before its objects");
				assert_eq!(kind, "subgroup_object_with_extensions", "{name}");
				let object =
					exact::<SubgroupObject, _>(hex, h.context(D18)).unwrap_or_else(|err| panic!("{name}: {err}"));
				// The frame timestamp as extension 0x10, in the track's timescale (1000).
				assert_eq!(object.extensions.len(), 1, "{name}");
				assert_eq!(object.extensions[0].key, v(0x10), "{name}");
			}
		}
	}
}

const CAPTURED20: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft20-captured.json");
const CAPTURED22: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ietf-draft22-captured.json");

/// What the published client really sent on a draft-20 and a draft-22 session (captured by
/// `vectors/ietf/capture/` with the argument `20` or `22`): as on draft-18, and the subscriber's
/// SUBSCRIBE, its live join: LOCATION_FILTER Next Object (`00 00` in draft-20's integer list, type
/// `05` without a Length in draft-22's), FILL holding a Relative Start of 1. Each reads whole in its
/// draft and re-encodes byte for byte.
#[test]
fn draft20_and_draft22_bytes_captured_from_the_published_client() {
	for (path, draft, next_object, fill) in [
		(CAPTURED20, D20, &[0x00, 0x00][..], &[0x01, 0x21, 0x01, 0x01][..]),
		(CAPTURED22, Draft::Draft22, &[0x05][..], &[0x01, 0x21, 0x01, 0x01][..]),
	] {
		let file: Value = serde_json::from_str(&std::fs::read_to_string(path).expect(path)).unwrap();
		let captured = file["captured"].as_array().expect("captured");
		assert_eq!(captured.len(), 9, "{path}: {} captures", captured.len());
		let mut header = None;
		let mut seen = Vec::new();
		for entry in captured {
			let name = entry["name"].as_str().unwrap();
			let hex = entry["hex"].as_str().unwrap();
			match entry["kind"].as_str().unwrap() {
				"setup" => {
					let setup = exact::<Setup, _>(hex, draft).unwrap_or_else(|err| panic!("{name}: {err}"));
					assert_eq!(setup.parameters.implementation(), Some("moq-lite-rs"), "{name}");
					assert!(setup.parameters.0.iter().all(|p| p.key != v(2)), "{name}");
					seen.push("SETUP");
				}
				"request" => {
					let message = exact::<RequestMessage, _>(hex, draft).unwrap_or_else(|err| panic!("{name}: {err}"));
					if let RequestMessage::Subscribe(s) = &message {
						assert_eq!((s.namespace.clone(), s.track.as_str()), (ns(&["room"]), "t"), "{name}");
						let p = &s.parameters;
						assert_eq!(
							p.get(parameter::SUBSCRIPTION_FILTER),
							Some(&ParamValue::Bytes(Bytes::copy_from_slice(next_object))),
							"{name}"
						);
						assert_eq!(
							p.get(parameter::FILL),
							Some(&ParamValue::Bytes(Bytes::copy_from_slice(fill))),
							"{name}"
						);
						// INCLUDE_PROPERTIES is only written to opt out.
						assert_eq!(p.get(parameter::INCLUDE_PROPERTIES), None, "{name}");
					}
					seen.push(message.name());
				}
				"data_stream_header" => match exact::<DataStreamHeader, _>(hex, draft) {
					Ok(DataStreamHeader::Subgroup(h)) => {
						assert!(h.first_object && h.end_of_group && h.extensions, "{name}");
						header = Some(h);
					}
					other => panic!("{name}: {other:?}"),
				},
				_ => {
					let h = header.expect("a header before its objects");
					exact::<SubgroupObject, _>(hex, h.context(draft)).unwrap_or_else(|err| panic!("{name}: {err}"));
					seen.push("object");
				}
			}
		}
		for message in [
			"SETUP",
			"PUBLISH_NAMESPACE",
			"SUBSCRIBE_OK",
			"SUBSCRIBE_NAMESPACE",
			"SUBSCRIBE",
			"object",
		] {
			assert!(seen.contains(&message), "{path}: no {message} captured: {seen:?}");
		}
	}
}

/// What the published client really sent on a draft-14 session (captured by
/// `vectors/ietf/capture/`): every message reads whole and re-encodes to the same bytes, and the
/// facts the relay's session relies on hold.
#[test]
fn draft14_bytes_captured_from_the_published_client() {
	let file: Value = serde_json::from_str(&std::fs::read_to_string(CAPTURED).expect(CAPTURED)).unwrap();
	let captured = file["captured"].as_array().expect("captured");
	assert!(captured.len() >= 8, "{} captures", captured.len());
	let mut failures = Vec::new();
	let mut seen = Vec::new();
	for entry in captured {
		let name = entry["name"].as_str().unwrap();
		let hex = entry["hex"].as_str().unwrap();
		let ctx = |extensions| SubgroupContext { draft: D14, extensions };
		let result = match entry["kind"].as_str().unwrap() {
			"client_setup" => exact::<ClientSetup, _>(hex, D14).map(|setup| {
				assert_eq!(setup.common_draft(), Some(D14), "{name}");
				assert_eq!(setup.parameters.max_request_id(), v(u32::MAX.into()), "{name}");
				assert_eq!(setup.parameters.implementation(), Some("moq-lite-rs"), "{name}");
				assert_eq!(setup.parameters.path(), Some("/anon"), "{name}");
				"CLIENT_SETUP".to_string()
			}),
			"control" => exact::<ControlMessage, _>(hex, D14).map(|m| m.name().to_string()),
			"data_stream_header" => exact::<DataStreamHeader, _>(hex, D14).map(|h| {
				// Extensions on (the frame timestamps), end of group, subgroup 0, a priority.
				assert_eq!(::hex::decode(hex).unwrap()[0], 0x19, "{name}");
				format!("{h:?}")
			}),
			"subgroup_object_with_extensions" => exact::<SubgroupObject, _>(hex, ctx(true)).map(|o| {
				assert_eq!(o.extensions.len(), 1, "{name}: the timestamp");
				assert_eq!(o.extensions[0].key, v(0x10), "{name}");
				"object".to_string()
			}),
			"subgroup_object" => exact::<SubgroupObject, _>(hex, ctx(false)).map(|_| "object".to_string()),
			other => Err(format!("unknown kind {other}")),
		};
		match result {
			Ok(what) => seen.push(what),
			Err(err) => failures.push(format!("{name}: {err}")),
		}
	}
	assert!(failures.is_empty(), "{failures:#?}");
	for message in [
		"CLIENT_SETUP",
		"PUBLISH_NAMESPACE",
		"SUBSCRIBE_OK",
		"SUBSCRIBE_NAMESPACE",
		"PUBLISH_NAMESPACE_OK",
	] {
		assert!(seen.iter().any(|s| s == message), "no {message} captured: {seen:?}");
	}
}
