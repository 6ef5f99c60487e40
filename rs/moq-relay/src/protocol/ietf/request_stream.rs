//! Draft-18's request streams (`docs/protocol.md#draft-18`): the answers the session logic shared
//! with draft-14 and draft-16 produces, in the forms draft-18 sends on the request's own stream
//! (no Request ID in them), and the draft-14 reading of a draft-18 request, for the same logic.

use crate::wire::VarInt;
use crate::wire::ietf::draft18::{
	MessageParameters, NamespaceRequest, PublishDone, RequestError, RequestMessage, Subscribe, SubscribeOk,
};
use crate::wire::ietf::{self, ControlMessage, Filter, GroupOrder, KeyValue};

/// DEFAULT_PUBLISHER_GROUP_ORDER, the Track Property that says in which order groups come.
const DEFAULT_PUBLISHER_GROUP_ORDER: u32 = 0x22;

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
			code: err.code,
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

/// A draft-18 SUBSCRIBE_NAMESPACE (0x50) as the shared logic reads draft-16's: draft-18 split
/// SUBSCRIBE_TRACKS off, so it asks for namespaces alone (Subscribe Options 0x1).
pub fn subscribe_namespace(request: &NamespaceRequest) -> ietf::SubscribeNamespace {
	ietf::SubscribeNamespace {
		request_id: request.request_id,
		prefix: request.namespace.clone(),
		options: Some(VarInt::from_u32(1)),
		parameters: Default::default(),
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::wire::ietf::draft18::{ParamValue, parameter};
	use crate::wire::ietf::{EncodeWith, Location, RequestErrorCode};

	#[test]
	fn answers_lose_their_request_id() {
		let refused = ietf::RequestError {
			request_id: VarInt::from_u32(4),
			code: VarInt::from_u32(RequestErrorCode::NOT_SUPPORTED),
			reason: "no".into(),
			retry_interval: VarInt::ZERO,
		};
		let refusal = answer(&ControlMessage::SubscribeError(refused)).unwrap();
		// REQUEST_ERROR, Length 5: code 3, retry 0, "no".
		assert_eq!(
			refusal.to_bytes(ietf::Draft::Draft18).unwrap(),
			[0x05, 0x00, 0x05, 0x03, 0x00, 0x02, b'n', b'o'][..]
		);
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
			parameters: MessageParameters::default(),
		};
		assert_eq!(subscribe_namespace(&namespace).options, Some(VarInt::from_u32(1)));
		assert_eq!(publish_namespace(&namespace).request_id, VarInt::from_u32(6));
	}
}
