//! Every control message after SETUP (draft-14 §9), as one enum read by its
//! `Type (i)`.

use bytes::{Buf, BufMut};

use super::coding::{Parameters, decode_control, decode_namespace, encode_control, encode_namespace};
use super::draft::{DecodeWith, Draft, EncodeWith};
use super::draft16;
use super::fetch::{Fetch, FetchOk};
use super::namespace::{PublishNamespace, PublishNamespaceCancel, SubscribeNamespace};
use super::subscribe::{
	Publish, PublishDone, PublishOk, RequestError, RequestOk, Subscribe, SubscribeOk, SubscribeUpdate,
};
use crate::coding::{BufExt, BufMutExt};
use crate::{DecodeError, EncodeError, MAX_GOAWAY_URI_LEN, VarInt};

/// A control message. The Request ID is a field of each request and answer.
///
/// An unknown type, or CLIENT_SETUP/SERVER_SETUP after the first message, is
/// [`DecodeError::UnknownMessageType`] (PROTOCOL_VIOLATION).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlMessage {
	/// 0x2 SUBSCRIBE_UPDATE (REQUEST_UPDATE in later drafts).
	SubscribeUpdate(SubscribeUpdate),
	/// 0x3 SUBSCRIBE.
	Subscribe(Subscribe),
	/// 0x4 SUBSCRIBE_OK.
	SubscribeOk(SubscribeOk),
	/// 0x5 SUBSCRIBE_ERROR.
	SubscribeError(RequestError),
	/// 0x6 PUBLISH_NAMESPACE.
	PublishNamespace(PublishNamespace),
	/// 0x7 PUBLISH_NAMESPACE_OK: the Request ID.
	PublishNamespaceOk(VarInt),
	/// 0x8 PUBLISH_NAMESPACE_ERROR.
	PublishNamespaceError(RequestError),
	/// 0x9 PUBLISH_NAMESPACE_DONE: the Track Namespace withdrawn.
	PublishNamespaceDone(Vec<String>),
	/// 0xA UNSUBSCRIBE: the subscription's Request ID.
	Unsubscribe(VarInt),
	/// 0xB PUBLISH_DONE.
	PublishDone(PublishDone),
	/// 0xC PUBLISH_NAMESPACE_CANCEL.
	PublishNamespaceCancel(PublishNamespaceCancel),
	/// 0xD TRACK_STATUS (the SUBSCRIBE format).
	TrackStatus(Subscribe),
	/// 0xE TRACK_STATUS_OK (the SUBSCRIBE_OK format, Track Alias 0).
	TrackStatusOk(SubscribeOk),
	/// 0xF TRACK_STATUS_ERROR.
	TrackStatusError(RequestError),
	/// 0x10 GOAWAY: the New Session URI (empty = the current one), at most 8192 bytes.
	Goaway(String),
	/// 0x11 SUBSCRIBE_NAMESPACE.
	SubscribeNamespace(SubscribeNamespace),
	/// 0x12 SUBSCRIBE_NAMESPACE_OK: the Request ID.
	SubscribeNamespaceOk(VarInt),
	/// 0x13 SUBSCRIBE_NAMESPACE_ERROR.
	SubscribeNamespaceError(RequestError),
	/// 0x14 UNSUBSCRIBE_NAMESPACE: the SUBSCRIBE_NAMESPACE's Request ID.
	///
	/// The draft-14 text carries the Track Namespace Prefix; the published
	/// client sends and reads the Request ID (the later drafts' form) on
	/// draft-14 too, and this codec follows the client.
	UnsubscribeNamespace(VarInt),
	/// 0x15 MAX_REQUEST_ID: the new Maximum Request ID plus one.
	MaxRequestId(VarInt),
	/// 0x16 FETCH.
	Fetch(Fetch),
	/// 0x17 FETCH_CANCEL: the fetch's Request ID.
	FetchCancel(VarInt),
	/// 0x18 FETCH_OK.
	FetchOk(FetchOk),
	/// 0x19 FETCH_ERROR.
	FetchError(RequestError),
	/// 0x1A REQUESTS_BLOCKED: the Maximum Request ID the sender is blocked on.
	RequestsBlocked(VarInt),
	/// 0x1D PUBLISH.
	Publish(Publish),
	/// 0x1E PUBLISH_OK.
	PublishOk(PublishOk),
	/// 0x1F PUBLISH_ERROR.
	PublishError(RequestError),
	/// Draft-16 0x7 REQUEST_OK (draft-14's PUBLISH_NAMESPACE_OK and
	/// SUBSCRIBE_NAMESPACE_OK are written as one on draft-16).
	RequestOk(RequestOk),
	/// Draft-16 0x5 REQUEST_ERROR (every draft-14 refusal is written as one on
	/// draft-16), with its Retry Interval.
	RequestError(RequestError),
	/// Draft-16 0x8 NAMESPACE, on a SUBSCRIBE_NAMESPACE stream: the suffix of
	/// a namespace under the prefix that became active.
	Namespace(Vec<String>),
	/// Draft-16 0xE NAMESPACE_DONE, on a SUBSCRIBE_NAMESPACE stream: the suffix
	/// of a namespace that is no longer active.
	NamespaceDone(Vec<String>),
	/// Draft-16 0x9 PUBLISH_NAMESPACE_DONE: the PUBLISH_NAMESPACE's Request ID.
	PublishNamespaceDoneRequest(VarInt),
	/// Draft-16 0xC PUBLISH_NAMESPACE_CANCEL: the PUBLISH_NAMESPACE's Request
	/// ID, Error Code and Reason Phrase (Retry Interval 0, not on the wire).
	PublishNamespaceCancelRequest(RequestError),
}

impl ControlMessage {
	/// The message's `Type`.
	pub fn type_id(&self) -> VarInt {
		VarInt::from_u32(match self {
			Self::SubscribeUpdate(_) => 0x2,
			Self::Subscribe(_) => 0x3,
			Self::SubscribeOk(_) => 0x4,
			Self::SubscribeError(_) => 0x5,
			Self::PublishNamespace(_) => 0x6,
			Self::PublishNamespaceOk(_) => 0x7,
			Self::PublishNamespaceError(_) => 0x8,
			Self::PublishNamespaceDone(_) => 0x9,
			Self::Unsubscribe(_) => 0xA,
			Self::PublishDone(_) => 0xB,
			Self::PublishNamespaceCancel(_) => 0xC,
			Self::TrackStatus(_) => 0xD,
			Self::TrackStatusOk(_) => 0xE,
			Self::TrackStatusError(_) => 0xF,
			Self::Goaway(_) => 0x10,
			Self::SubscribeNamespace(_) => 0x11,
			Self::SubscribeNamespaceOk(_) => 0x12,
			Self::SubscribeNamespaceError(_) => 0x13,
			Self::UnsubscribeNamespace(_) => 0x14,
			Self::MaxRequestId(_) => 0x15,
			Self::Fetch(_) => 0x16,
			Self::FetchCancel(_) => 0x17,
			Self::FetchOk(_) => 0x18,
			Self::FetchError(_) => 0x19,
			Self::RequestsBlocked(_) => 0x1A,
			Self::Publish(_) => 0x1D,
			Self::PublishOk(_) => 0x1E,
			Self::PublishError(_) => 0x1F,
			Self::RequestOk(_) => 0x7,
			Self::RequestError(_) => 0x5,
			Self::Namespace(_) => 0x8,
			Self::NamespaceDone(_) => 0xE,
			Self::PublishNamespaceDoneRequest(_) => 0x9,
			Self::PublishNamespaceCancelRequest(_) => 0xC,
		})
	}

	/// The message's name in the draft.
	pub fn name(&self) -> &'static str {
		match self {
			Self::SubscribeUpdate(_) => "SUBSCRIBE_UPDATE",
			Self::Subscribe(_) => "SUBSCRIBE",
			Self::SubscribeOk(_) => "SUBSCRIBE_OK",
			Self::SubscribeError(_) => "SUBSCRIBE_ERROR",
			Self::PublishNamespace(_) => "PUBLISH_NAMESPACE",
			Self::PublishNamespaceOk(_) => "PUBLISH_NAMESPACE_OK",
			Self::PublishNamespaceError(_) => "PUBLISH_NAMESPACE_ERROR",
			Self::PublishNamespaceDone(_) => "PUBLISH_NAMESPACE_DONE",
			Self::Unsubscribe(_) => "UNSUBSCRIBE",
			Self::PublishDone(_) => "PUBLISH_DONE",
			Self::PublishNamespaceCancel(_) => "PUBLISH_NAMESPACE_CANCEL",
			Self::TrackStatus(_) => "TRACK_STATUS",
			Self::TrackStatusOk(_) => "TRACK_STATUS_OK",
			Self::TrackStatusError(_) => "TRACK_STATUS_ERROR",
			Self::Goaway(_) => "GOAWAY",
			Self::SubscribeNamespace(_) => "SUBSCRIBE_NAMESPACE",
			Self::SubscribeNamespaceOk(_) => "SUBSCRIBE_NAMESPACE_OK",
			Self::SubscribeNamespaceError(_) => "SUBSCRIBE_NAMESPACE_ERROR",
			Self::UnsubscribeNamespace(_) => "UNSUBSCRIBE_NAMESPACE",
			Self::MaxRequestId(_) => "MAX_REQUEST_ID",
			Self::Fetch(_) => "FETCH",
			Self::FetchCancel(_) => "FETCH_CANCEL",
			Self::FetchOk(_) => "FETCH_OK",
			Self::FetchError(_) => "FETCH_ERROR",
			Self::RequestsBlocked(_) => "REQUESTS_BLOCKED",
			Self::Publish(_) => "PUBLISH",
			Self::PublishOk(_) => "PUBLISH_OK",
			Self::PublishError(_) => "PUBLISH_ERROR",
			Self::RequestOk(_) => "REQUEST_OK",
			Self::RequestError(_) => "REQUEST_ERROR",
			Self::Namespace(_) => "NAMESPACE",
			Self::NamespaceDone(_) => "NAMESPACE_DONE",
			Self::PublishNamespaceDoneRequest(_) => "PUBLISH_NAMESPACE_DONE",
			Self::PublishNamespaceCancelRequest(_) => "PUBLISH_NAMESPACE_CANCEL",
		}
	}

	/// The Request ID of a message that opens a request (the ID the
	/// MAX_REQUEST_ID flow control counts), if it is one.
	pub fn new_request_id(&self) -> Option<VarInt> {
		match self {
			Self::SubscribeUpdate(m) => Some(m.request_id),
			Self::Subscribe(m) | Self::TrackStatus(m) => Some(m.request_id),
			Self::PublishNamespace(m) => Some(m.request_id),
			Self::SubscribeNamespace(m) => Some(m.request_id),
			Self::Fetch(m) => Some(m.request_id),
			Self::Publish(m) => Some(m.request_id),
			_ => None,
		}
	}
}

impl ControlMessage {
	/// The message's parameters, if its format has them (where an
	/// AUTHORIZATION TOKEN may ride).
	pub fn parameters(&self) -> Option<&Parameters> {
		match self {
			Self::SubscribeUpdate(m) => Some(&m.parameters),
			Self::Subscribe(m) | Self::TrackStatus(m) => Some(&m.parameters),
			Self::SubscribeOk(m) | Self::TrackStatusOk(m) => Some(&m.parameters),
			Self::PublishNamespace(m) => Some(&m.parameters),
			Self::SubscribeNamespace(m) => Some(&m.parameters),
			Self::Fetch(m) => Some(&m.parameters),
			Self::FetchOk(m) => Some(&m.parameters),
			Self::Publish(m) => Some(&m.parameters),
			Self::PublishOk(m) => Some(&m.parameters),
			Self::RequestOk(m) => Some(&m.parameters),
			_ => None,
		}
	}
}

pub(crate) fn decode_goaway<B: Buf>(buf: &mut B) -> Result<String, DecodeError> {
	let len = buf.get_var()?.into_inner();
	// draft-14 §9.4: a longer URI is a PROTOCOL_VIOLATION.
	if len > MAX_GOAWAY_URI_LEN as u64 {
		return Err(DecodeError::TooLarge {
			what: "GOAWAY New Session URI",
			len,
			max: MAX_GOAWAY_URI_LEN as u64,
		});
	}
	let bytes = buf.get_raw(len)?;
	String::from_utf8(bytes.into()).map_err(|_| DecodeError::InvalidUtf8 {
		field: "New Session URI",
	})
}

pub(crate) fn encode_goaway(body: &mut Vec<u8>, uri: &str) -> Result<(), EncodeError> {
	if uri.len() > MAX_GOAWAY_URI_LEN {
		return Err(EncodeError::TooLarge {
			what: "GOAWAY New Session URI",
			len: uri.len() as u64,
			max: MAX_GOAWAY_URI_LEN as u64,
		});
	}
	body.put_string(uri)
}

impl DecodeWith<Draft> for ControlMessage {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		draft.decode_form("control message (draft-18 has no control stream)")?;
		if draft.fields_as_parameters() {
			return decode_control(buf, |ty, body| draft16::decode_body(draft, ty, body));
		}
		decode_control(buf, |ty, body| {
			Ok(match ty.into_inner() {
				0x2 => Self::SubscribeUpdate(SubscribeUpdate::decode_body(body)?),
				0x3 => Self::Subscribe(Subscribe::decode_body(body)?),
				0x4 => Self::SubscribeOk(SubscribeOk::decode_body(body)?),
				0x5 => Self::SubscribeError(RequestError::decode_body(body)?),
				0x6 => Self::PublishNamespace(PublishNamespace::decode_body(body)?),
				0x7 => Self::PublishNamespaceOk(body.get_var()?),
				0x8 => Self::PublishNamespaceError(RequestError::decode_body(body)?),
				0x9 => Self::PublishNamespaceDone(decode_namespace(body)?),
				0xA => Self::Unsubscribe(body.get_var()?),
				0xB => Self::PublishDone(PublishDone::decode_body(body)?),
				0xC => Self::PublishNamespaceCancel(PublishNamespaceCancel::decode_body(body)?),
				0xD => Self::TrackStatus(Subscribe::decode_body(body)?),
				0xE => Self::TrackStatusOk(SubscribeOk::decode_body(body)?),
				0xF => Self::TrackStatusError(RequestError::decode_body(body)?),
				0x10 => Self::Goaway(decode_goaway(body)?),
				0x11 => Self::SubscribeNamespace(SubscribeNamespace::decode_body(body)?),
				0x12 => Self::SubscribeNamespaceOk(body.get_var()?),
				0x13 => Self::SubscribeNamespaceError(RequestError::decode_body(body)?),
				0x14 => Self::UnsubscribeNamespace(body.get_var()?),
				0x15 => Self::MaxRequestId(body.get_var()?),
				0x16 => Self::Fetch(Fetch::decode_body(body)?),
				0x17 => Self::FetchCancel(body.get_var()?),
				0x18 => Self::FetchOk(FetchOk::decode_body(body)?),
				0x19 => Self::FetchError(RequestError::decode_body(body)?),
				0x1A => Self::RequestsBlocked(body.get_var()?),
				0x1D => Self::Publish(Publish::decode_body(body)?),
				0x1E => Self::PublishOk(PublishOk::decode_body(body)?),
				0x1F => Self::PublishError(RequestError::decode_body(body)?),
				_ => {
					return Err(DecodeError::UnknownMessageType {
						message: "control message",
						ty,
					});
				}
			})
		})
	}
}

impl EncodeWith<Draft> for ControlMessage {
	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		draft.encode_form("control message (draft-18 has no control stream)")?;
		if draft.fields_as_parameters() {
			let Some(ty) = draft16::wire_type(self, draft) else {
				return Err(EncodeError::InvalidValue {
					field: self.name(),
					reason: "this draft (15 or 16) has no such form",
				});
			};
			return encode_control(buf, self.name(), VarInt::from_u32(ty), |body| {
				draft16::encode_body(self, body, draft)
			});
		}
		encode_control(buf, self.name(), self.type_id(), |body| match self {
			Self::SubscribeUpdate(m) => m.encode_body(body),
			Self::Subscribe(m) | Self::TrackStatus(m) => m.encode_body(body),
			Self::SubscribeOk(m) | Self::TrackStatusOk(m) => m.encode_body(body),
			Self::SubscribeError(m)
			| Self::PublishNamespaceError(m)
			| Self::TrackStatusError(m)
			| Self::SubscribeNamespaceError(m)
			| Self::FetchError(m)
			| Self::PublishError(m) => m.encode_body(body),
			Self::PublishNamespace(m) => m.encode_body(body),
			Self::PublishNamespaceOk(id)
			| Self::Unsubscribe(id)
			| Self::SubscribeNamespaceOk(id)
			| Self::MaxRequestId(id)
			| Self::FetchCancel(id)
			| Self::UnsubscribeNamespace(id)
			| Self::RequestsBlocked(id) => {
				body.put_var(*id);
				Ok(())
			}
			Self::PublishNamespaceDone(ns) => encode_namespace(body, ns),
			Self::PublishDone(m) => m.encode_body(body),
			Self::PublishNamespaceCancel(m) => m.encode_body(body),
			Self::Goaway(uri) => encode_goaway(body, uri),
			Self::SubscribeNamespace(m) => m.encode_body(body),
			Self::Fetch(m) => m.encode_body(body),
			Self::FetchOk(m) => m.encode_body(body),
			Self::Publish(m) => m.encode_body(body),
			Self::PublishOk(m) => m.encode_body(body),
			Self::RequestOk(_)
			| Self::RequestError(_)
			| Self::Namespace(_)
			| Self::NamespaceDone(_)
			| Self::PublishNamespaceDoneRequest(_)
			| Self::PublishNamespaceCancelRequest(_) => Err(EncodeError::InvalidValue {
				field: self.name(),
				reason: "a draft-16 message: draft-14 has no such form",
			}),
		})
	}
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::*;
	use crate::ietf::coding::{GroupOrder, Location};
	use crate::ietf::fetch::FetchType;
	use crate::ietf::subscribe::Filter;
	use crate::strategy;

	const D14: Draft = Draft::Draft14;

	#[test]
	fn draft18_has_no_control_stream() {
		// MAX_REQUEST_ID 5: a control message on draft-14 and draft-16 alike.
		let message = ControlMessage::MaxRequestId(VarInt::from_u32(5));
		let bytes = message.to_bytes(D14).unwrap();
		assert_eq!(bytes, message.to_bytes(Draft::Draft16).unwrap());
		assert_eq!(
			ControlMessage::decode_prefix(&bytes, Draft::Draft16).unwrap().0,
			message
		);
		assert!(matches!(
			ControlMessage::decode_prefix(&bytes, Draft::Draft18),
			Err(DecodeError::InvalidValue { value: 18, .. })
		));
		assert!(matches!(
			message.to_bytes(Draft::Draft18),
			Err(EncodeError::InvalidValue { .. })
		));
	}

	fn namespace() -> impl Strategy<Value = Vec<String>> {
		prop::collection::vec("[a-z0-9/é]{0,6}", 0..4)
	}

	fn location() -> impl Strategy<Value = Location> {
		(strategy::varint(), strategy::varint()).prop_map(|(g, o)| Location::new(g, o))
	}

	fn order() -> impl Strategy<Value = GroupOrder> {
		prop::sample::select(vec![
			GroupOrder::Original,
			GroupOrder::Ascending,
			GroupOrder::Descending,
		])
	}

	fn filter() -> impl Strategy<Value = Filter> {
		prop_oneof![
			Just(Filter::NextGroupStart),
			Just(Filter::LargestObject),
			location().prop_map(Filter::AbsoluteStart),
			(location(), strategy::varint()).prop_map(|(start, end_group)| Filter::AbsoluteRange { start, end_group }),
		]
	}

	fn parameters() -> impl Strategy<Value = Parameters> {
		(
			prop::collection::vec(crate::ietf::token::tests::token(), 0..2),
			prop::collection::vec(crate::ietf::setup::tests::pair(), 0..3),
		)
			.prop_map(|(tokens, mut pairs)| {
				pairs.extend(tokens.iter().map(|t| t.to_parameter().unwrap()));
				Parameters(pairs)
			})
	}

	fn reason() -> impl Strategy<Value = String> {
		strategy::text()
	}

	fn error() -> impl Strategy<Value = RequestError> {
		(strategy::varint(), strategy::varint(), reason()).prop_map(|(request_id, code, reason)| RequestError {
			request_id,
			code,
			reason,
			retry_interval: VarInt::ZERO,
		})
	}

	fn subscribe() -> impl Strategy<Value = Subscribe> {
		(
			strategy::varint(),
			namespace(),
			strategy::text(),
			any::<u8>(),
			order(),
			any::<bool>(),
			filter(),
			parameters(),
		)
			.prop_map(
				|(request_id, namespace, track, priority, group_order, forward, filter, parameters)| Subscribe {
					request_id,
					namespace,
					track,
					priority,
					group_order,
					forward,
					filter,
					parameters,
				},
			)
	}

	fn subscribe_ok() -> impl Strategy<Value = SubscribeOk> {
		(
			strategy::varint(),
			strategy::varint(),
			strategy::varint(),
			order(),
			prop::option::of(location()),
			parameters(),
		)
			.prop_map(
				|(request_id, track_alias, expires, group_order, largest, parameters)| SubscribeOk {
					request_id,
					track_alias,
					expires,
					group_order,
					largest,
					parameters,
					extensions: Vec::new(),
				},
			)
	}

	fn fetch() -> impl Strategy<Value = Fetch> {
		let fetch_type = prop_oneof![
			(namespace(), strategy::text(), location(), location()).prop_map(|(namespace, track, start, end)| {
				FetchType::Standalone {
					namespace,
					track,
					start,
					end,
				}
			}),
			(strategy::varint(), strategy::varint()).prop_map(|(joining_request_id, joining_start)| {
				FetchType::RelativeJoining {
					joining_request_id,
					joining_start,
				}
			}),
			(strategy::varint(), strategy::varint()).prop_map(|(joining_request_id, joining_start)| {
				FetchType::AbsoluteJoining {
					joining_request_id,
					joining_start,
				}
			}),
		];
		(strategy::varint(), any::<u8>(), order(), fetch_type, parameters()).prop_map(
			|(request_id, priority, group_order, fetch_type, parameters)| Fetch {
				request_id,
				priority,
				group_order,
				fetch_type,
				parameters,
			},
		)
	}

	fn message() -> impl Strategy<Value = ControlMessage> {
		use ControlMessage as C;
		prop_oneof![
			(
				strategy::varint(),
				strategy::varint(),
				location(),
				strategy::varint(),
				any::<u8>(),
				any::<bool>(),
				parameters()
			)
				.prop_map(
					|(request_id, subscription_request_id, start, end_group, priority, forward, parameters)| {
						C::SubscribeUpdate(SubscribeUpdate {
							request_id,
							subscription_request_id,
							start,
							end_group,
							priority,
							forward,
							parameters,
						})
					}
				),
			subscribe().prop_map(C::Subscribe),
			subscribe().prop_map(C::TrackStatus),
			subscribe_ok().prop_map(C::SubscribeOk),
			subscribe_ok().prop_map(C::TrackStatusOk),
			error().prop_map(C::SubscribeError),
			error().prop_map(C::PublishNamespaceError),
			error().prop_map(C::TrackStatusError),
			error().prop_map(C::SubscribeNamespaceError),
			error().prop_map(C::FetchError),
			error().prop_map(C::PublishError),
			(strategy::varint(), namespace(), parameters()).prop_map(|(request_id, namespace, parameters)| {
				C::PublishNamespace(PublishNamespace {
					request_id,
					namespace,
					parameters,
				})
			}),
			(strategy::varint(), namespace(), parameters()).prop_map(|(request_id, prefix, parameters)| {
				C::SubscribeNamespace(SubscribeNamespace {
					request_id,
					prefix,
					options: None,
					parameters,
				})
			}),
			strategy::varint().prop_map(C::PublishNamespaceOk),
			strategy::varint().prop_map(C::Unsubscribe),
			strategy::varint().prop_map(C::SubscribeNamespaceOk),
			strategy::varint().prop_map(C::UnsubscribeNamespace),
			strategy::varint().prop_map(C::MaxRequestId),
			strategy::varint().prop_map(C::FetchCancel),
			strategy::varint().prop_map(C::RequestsBlocked),
			namespace().prop_map(C::PublishNamespaceDone),
			(namespace(), strategy::varint(), reason()).prop_map(|(namespace, code, reason)| {
				C::PublishNamespaceCancel(PublishNamespaceCancel {
					namespace,
					code,
					reason,
				})
			}),
			(strategy::varint(), strategy::varint(), strategy::varint(), reason()).prop_map(
				|(request_id, status, stream_count, reason)| C::PublishDone(PublishDone {
					request_id,
					status,
					stream_count,
					reason,
				})
			),
			strategy::text().prop_map(C::Goaway),
			fetch().prop_map(C::Fetch),
			(strategy::varint(), order(), any::<bool>(), location(), parameters()).prop_map(
				|(request_id, group_order, end_of_track, end, parameters)| C::FetchOk(FetchOk {
					request_id,
					group_order,
					end_of_track,
					end,
					parameters,
					extensions: Vec::new(),
				})
			),
			(
				(strategy::varint(), namespace(), strategy::text(), strategy::varint()),
				(order(), prop::option::of(location()), any::<bool>(), parameters())
			)
				.prop_map(
					|((request_id, namespace, track, track_alias), (group_order, largest, forward, parameters))| {
						C::Publish(Publish {
							request_id,
							namespace,
							track,
							track_alias,
							group_order,
							largest,
							forward,
							parameters,
							extensions: Vec::new(),
						})
					}
				),
			(
				strategy::varint(),
				any::<bool>(),
				any::<u8>(),
				order(),
				filter(),
				parameters()
			)
				.prop_map(
					|(request_id, forward, priority, group_order, filter, parameters)| C::PublishOk(PublishOk {
						request_id,
						forward,
						priority,
						group_order,
						filter,
						parameters,
					})
				),
		]
	}

	proptest! {
		#[test]
		fn round_trip(msg in message()) {
			strategy::round_trip_with(&msg, D14)?;
			let bytes = msg.to_bytes(D14).unwrap();
			prop_assert_eq!(u64::from(bytes[0]), msg.type_id().into_inner());
		}
	}

	#[test]
	fn unknown_and_setup_types_are_violations() {
		for ty in [0x1u8, 0x1B, 0x20, 0x21, 0x3f] {
			let err = ControlMessage::decode_prefix(&[ty, 0, 0], D14).unwrap_err();
			assert!(matches!(err, DecodeError::UnknownMessageType { .. }), "{ty:#x}");
			assert_eq!(
				err.disposition(),
				crate::Disposition::CloseSession(crate::SessionCode::PROTOCOL_VIOLATION)
			);
		}
	}

	#[test]
	fn forbidden_values() {
		// SUBSCRIBE with Group Order 3, then with Forward 2, then with Filter Type 5.
		let good = ControlMessage::Subscribe(Subscribe {
			request_id: VarInt::ZERO,
			namespace: vec!["a".into()],
			track: "t".into(),
			priority: 0,
			group_order: GroupOrder::Ascending,
			forward: true,
			filter: Filter::NextGroupStart,
			parameters: Parameters::default(),
		})
		.to_bytes(D14)
		.unwrap();
		// Type, Length (2), ID, 1 element "a", "t", priority, order, forward, filter, 0 params.
		assert_eq!(hex::encode(&good), "03000b0001016101740001010100");
		for (at, value, field) in [(10, 3, "Group Order"), (11, 2, "Forward"), (12, 5, "Filter Type")] {
			let mut bad = good.clone();
			bad[at] = value;
			assert_eq!(
				ControlMessage::decode_prefix(&bad, D14),
				Err(DecodeError::InvalidValue {
					field,
					value: value.into()
				})
			);
		}
		// GOAWAY with a URI over 8192 bytes.
		assert!(ControlMessage::Goaway("x".repeat(8193)).to_bytes(D14).is_err());
	}
}
