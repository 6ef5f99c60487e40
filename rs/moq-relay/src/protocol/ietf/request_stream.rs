//! Draft-18's request streams (`docs/protocol.md#draft-18`): the answers the session logic shared
//! with draft-14 and draft-16 produces, in the forms draft-18 sends on the request's own stream
//! (no Request ID in them), and the draft-14 reading of a draft-18 request, for the same logic.

use crate::wire::VarInt;
use crate::wire::ietf::draft18::{
	MessageParameters, NamespaceRequest, ParamValue, PublishDone, RequestError, RequestMessage, Subscribe, SubscribeOk,
	parameter,
};
use crate::wire::ietf::{self, ControlMessage, Filter, GroupOrder, KeyValue};

/// DEFAULT_PUBLISHER_GROUP_ORDER, the Track Property that says in which order groups come.
const DEFAULT_PUBLISHER_GROUP_ORDER: u32 = 0x22;

/// Draft-18's REQUEST_ERROR codes (§15.10.2, "REQUEST_ERROR Codes") where they differ from draft-14's
/// ([`ietf::RequestErrorCode`]): draft-18 renumbered the registry.
pub mod error_code {
	/// 0x4 MALFORMED_AUTH_TOKEN (draft-14: 0x10).
	pub const MALFORMED_AUTH_TOKEN: u32 = 0x4;
	/// 0x5 EXPIRED_AUTH_TOKEN (draft-14: 0x12).
	pub const EXPIRED_AUTH_TOKEN: u32 = 0x5;
	/// 0x6 GOING_AWAY (draft-14 has none).
	pub const GOING_AWAY: u32 = 0x6;
	/// 0x10 DOES_NOT_EXIST (draft-14: 0x4, TRACK_DOES_NOT_EXIST and its per-message names).
	pub const DOES_NOT_EXIST: u32 = 0x10;
	/// 0x11 INVALID_RANGE (draft-14: 0x5).
	pub const INVALID_RANGE: u32 = 0x11;
}

/// A REQUEST_ERROR code of draft-14's registry (the shared logic's) in draft-18's: 0x0–0x3 are the
/// same, the rest moved.
pub fn error_code(code: u32) -> u32 {
	use ietf::RequestErrorCode as D14;
	match code {
		D14::DOES_NOT_EXIST => error_code::DOES_NOT_EXIST,
		D14::INVALID_RANGE => error_code::INVALID_RANGE,
		D14::MALFORMED_AUTH_TOKEN => error_code::MALFORMED_AUTH_TOKEN,
		D14::EXPIRED_AUTH_TOKEN => error_code::EXPIRED_AUTH_TOKEN,
		same => same,
	}
}

/// `message` with its error code (if it is an error) renumbered by [`error_code`]: draft-15 and
/// draft-16 share draft-18's REQUEST_ERROR registry (the published client reads DOES_NOT_EXIST as
/// 0x10 from draft-15 on, and 0x4 as MALFORMED_AUTH_TOKEN), while the shared session logic speaks draft-14's.
pub fn renumbered(message: &ControlMessage) -> ControlMessage {
	let mut message = message.clone();
	if let ControlMessage::RequestError(err)
	| ControlMessage::SubscribeError(err)
	| ControlMessage::PublishNamespaceError(err)
	| ControlMessage::SubscribeNamespaceError(err)
	| ControlMessage::TrackStatusError(err)
	| ControlMessage::FetchError(err)
	| ControlMessage::PublishError(err)
	| ControlMessage::PublishNamespaceCancelRequest(err) = &mut message
		&& let Ok(code) = u32::try_from(err.code.into_inner())
	{
		err.code = VarInt::from_u32(error_code(code));
	}
	if let ControlMessage::PublishNamespaceCancel(cancel) = &mut message
		&& let Ok(code) = u32::try_from(cancel.code.into_inner())
	{
		cancel.code = VarInt::from_u32(error_code(code));
	}
	message
}

/// The draft-18 form of an answer on a request stream; `None` for a message that is no answer
/// there (it has no draft-18 form on a request stream).
pub fn answer(message: &ControlMessage) -> Option<RequestMessage> {
	Some(match message {
		ControlMessage::RequestOk(_)
		| ControlMessage::PublishNamespaceOk(_)
		| ControlMessage::SubscribeNamespaceOk(_) => RequestMessage::RequestOk(MessageParameters::default()),
		ControlMessage::RequestError(err)
		| ControlMessage::SubscribeError(err)
		| ControlMessage::PublishNamespaceError(err)
		| ControlMessage::SubscribeNamespaceError(err)
		| ControlMessage::TrackStatusError(err)
		| ControlMessage::FetchError(err)
		| ControlMessage::PublishError(err) => RequestMessage::RequestError(RequestError {
			code: u32::try_from(err.code.into_inner()).map_or(err.code, |c| VarInt::from_u32(error_code(c))),
			retry_interval: err.retry_interval,
			reason: err.reason.clone(),
		}),
		ControlMessage::SubscribeOk(ok) => RequestMessage::SubscribeOk(SubscribeOk {
			track_alias: ok.track_alias,
			parameters: MessageParameters::default(),
			// The order groups come in rides as a Track Property, as on draft-16.
			properties: vec![KeyValue::int(
				DEFAULT_PUBLISHER_GROUP_ORDER,
				VarInt::from_u32(match ok.group_order {
					GroupOrder::Ascending => 1,
					_ => 2,
				}),
			)],
		}),
		ControlMessage::PublishDone(done) => RequestMessage::PublishDone(PublishDone {
			status: done.status,
			stream_count: done.stream_count,
			reason: done.reason.clone(),
		}),
		ControlMessage::Namespace(suffix) => RequestMessage::Namespace(suffix.clone()),
		ControlMessage::NamespaceDone(suffix) => RequestMessage::NamespaceDone(suffix.clone()),
		_ => return None,
	})
}

/// SUBSCRIPTION_FILTER's value in the relay's own subscriptions, which want the publisher's current
/// group from its start (the relay has no fetch streams to take a group's head from): before
/// draft-20, Next Group Start (draft-18's Filter Type 0x1), which the published client does not
/// apply there and serves from its newest group's start; from draft-20 on, where it applies
/// filters, a Relative Start of 1 group back from the next group (the current one): one integer in
/// draft-20 and draft-21, Location Filter Type 0x1 and that integer in draft-22.
pub fn upstream_filter(draft: ietf::Draft) -> &'static [u8] {
	match draft {
		d if d.typed_filter() => &[0x01, 0x01],
		_ => &[0x01],
	}
}

/// Whether a SUBSCRIBE carries a Range Filter (SUBGROUP_FILTER to OBJECT_PROPERTY_FILTER, draft-19
/// on), which the relay does not apply: served unfiltered it would deliver objects the subscriber
/// excluded, so it is refused, as the published client refuses it.
pub fn range_filtered(parameters: &MessageParameters) -> bool {
	[
		parameter::SUBGROUP_FILTER,
		parameter::OBJECT_ID_FILTER,
		parameter::PRIORITY_FILTER,
		parameter::OBJECT_PROPERTY_FILTER,
	]
	.into_iter()
	.any(|key| parameters.get(key).is_some())
}

/// Whether the relay can apply a REQUEST_UPDATE of a subscription: one that changes the
/// subscriber's priority (taken and answered REQUEST_OK; groups go newest first whatever it is)
/// or keeps forwarding on. Anything else (FORWARD 0, a new filter, FILL, a timeout, a token, a Range
/// Filter, NEW_GROUP_REQUEST) is refused, as the published client refuses it, and the
/// subscription ends with UPDATE_FAILED.
pub fn update_applies(parameters: &MessageParameters) -> bool {
	parameters.0.iter().all(|p| match p.key.into_inner() {
		parameter::SUBSCRIBER_PRIORITY => true,
		parameter::FORWARD => matches!(p.value, ParamValue::Byte(1)),
		_ => false,
	})
}

/// A draft-18 SUBSCRIBE as the shared logic reads SUBSCRIBE: its namespace, track, priority and
/// FORWARD (the filter is not applied: every subscription starts at the latest group).
pub fn subscribe(request: &Subscribe) -> ietf::Subscribe {
	ietf::Subscribe {
		request_id: request.request_id,
		namespace: request.namespace.clone(),
		track: request.track.clone(),
		priority: request.parameters.subscriber_priority(),
		group_order: GroupOrder::Descending,
		forward: request.parameters.forward(),
		filter: Filter::NextGroupStart,
		parameters: Default::default(),
	}
}

/// A draft-18 PUBLISH_NAMESPACE as the shared logic reads it.
pub fn publish_namespace(request: &NamespaceRequest) -> ietf::PublishNamespace {
	ietf::PublishNamespace {
		request_id: request.request_id,
		namespace: request.namespace.clone(),
		parameters: Default::default(),
	}
}

/// A draft-17 or later SUBSCRIBE_NAMESPACE as the shared logic reads draft-16's: draft-17's
/// carries its Subscribe Options; draft-18 split SUBSCRIBE_TRACKS off, so from draft-18 on it asks
/// for namespaces alone (Subscribe Options 0x1).
pub fn subscribe_namespace(request: &NamespaceRequest) -> ietf::SubscribeNamespace {
	ietf::SubscribeNamespace {
		request_id: request.request_id,
		prefix: request.namespace.clone(),
		options: request.options.or(Some(VarInt::from_u32(1))),
		parameters: Default::default(),
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::wire::ietf::{EncodeWith, Location, RequestErrorCode};

	#[test]
	fn answers_lose_their_request_id() {
		let refused = ietf::RequestError {
			request_id: VarInt::from_u32(4),
			code: VarInt::from_u32(RequestErrorCode::NOT_SUPPORTED),
			reason: "no".into(),
			retry_interval: VarInt::ZERO,
		};
		let refusal = answer(&ControlMessage::SubscribeError(refused.clone())).unwrap();
		// REQUEST_ERROR, Length 5: code 3, retry 0, "no".
		assert_eq!(
			refusal.to_bytes(ietf::Draft::Draft18).unwrap(),
			[0x05, 0x00, 0x05, 0x03, 0x00, 0x02, b'n', b'o'][..]
		);
		// Draft-18 renumbered the registry: draft-14's DOES_NOT_EXIST (0x4) is its MALFORMED_AUTH_TOKEN.
		let missing = ietf::RequestError {
			code: VarInt::from_u32(RequestErrorCode::DOES_NOT_EXIST),
			..refused
		};
		match answer(&ControlMessage::RequestError(missing)) {
			Some(RequestMessage::RequestError(err)) => assert_eq!(err.code, VarInt::from_u32(0x10)),
			other => panic!("{other:?}"),
		}
		assert_eq!(error_code(RequestErrorCode::MALFORMED_AUTH_TOKEN), 0x4);
		assert_eq!(error_code(RequestErrorCode::UNAUTHORIZED), 0x1);
		let ok = ControlMessage::SubscribeOk(ietf::SubscribeOk {
			request_id: VarInt::from_u32(4),
			track_alias: VarInt::from_u32(9),
			expires: VarInt::ZERO,
			group_order: GroupOrder::Descending,
			largest: Some(Location::default()),
			parameters: Default::default(),
			extensions: Vec::new(),
		});
		// Track Alias 9, no parameters, DEFAULT_PUBLISHER_GROUP_ORDER 2.
		assert_eq!(
			answer(&ok).unwrap().to_bytes(ietf::Draft::Draft18).unwrap(),
			[0x04, 0x00, 0x04, 0x09, 0x00, 0x22, 0x02][..]
		);
		assert_eq!(
			answer(&ControlMessage::PublishNamespaceOk(VarInt::ZERO)),
			Some(RequestMessage::RequestOk(MessageParameters::default()))
		);
		assert_eq!(answer(&ControlMessage::MaxRequestId(VarInt::ZERO)), None);
	}

	#[test]
	fn updates_and_range_filters_the_relay_cannot_apply() {
		let with = |key, value| MessageParameters::default().with(key, value);
		assert!(update_applies(&MessageParameters::default()));
		assert!(update_applies(&with(
			parameter::SUBSCRIBER_PRIORITY,
			ParamValue::Byte(9)
		)));
		assert!(update_applies(&with(parameter::FORWARD, ParamValue::Byte(1))));
		assert!(!update_applies(&with(parameter::FORWARD, ParamValue::Byte(0))));
		let filter = ParamValue::Bytes(bytes::Bytes::from_static(&[0x01]));
		assert!(!update_applies(&with(parameter::SUBSCRIPTION_FILTER, filter.clone())));
		assert!(!update_applies(&with(
			parameter::DELIVERY_TIMEOUT,
			ParamValue::Int(VarInt::from_u32(5))
		)));
		assert!(!range_filtered(&with(parameter::SUBSCRIPTION_FILTER, filter.clone())));
		for key in [
			parameter::SUBGROUP_FILTER,
			parameter::OBJECT_ID_FILTER,
			parameter::PRIORITY_FILTER,
			parameter::OBJECT_PROPERTY_FILTER,
		] {
			assert!(range_filtered(&with(key, filter.clone())), "{key:#x}");
			assert!(!update_applies(&with(key, filter.clone())), "{key:#x}");
		}
	}

	#[test]
	fn requests_read_as_the_shared_logic_reads_them() {
		let request = Subscribe {
			request_id: VarInt::from_u32(2),
			namespace: vec!["anon".into()],
			track: "t".into(),
			parameters: MessageParameters::default()
				.with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(7))
				.with(parameter::FORWARD, ParamValue::Byte(0)),
		};
		let read = subscribe(&request);
		assert_eq!((read.priority, read.forward, read.track.as_str()), (7, false, "t"));
		// Absent: priority 128, forwarding.
		let read = subscribe(&Subscribe {
			parameters: MessageParameters::default(),
			..request
		});
		assert_eq!((read.priority, read.forward), (128, true));
		let namespace = NamespaceRequest {
			request_id: VarInt::from_u32(6),
			namespace: vec!["anon".into()],
			options: None,
			parameters: MessageParameters::default(),
		};
		assert_eq!(subscribe_namespace(&namespace).options, Some(VarInt::from_u32(1)));
		assert_eq!(publish_namespace(&namespace).request_id, VarInt::from_u32(6));
	}
}
