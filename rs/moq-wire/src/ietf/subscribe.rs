//! SUBSCRIBE and what answers or changes it, PUBLISH and its answers, and the
//! shared `{Request ID, Error Code, Reason}` refusal (draft-14 §9.7–§9.15).

use bytes::{Buf, BufMut};

use super::coding::{
	GroupOrder, Location, Parameters, decode_namespace, decode_reason, encode_namespace, encode_reason, get_flag,
};
use crate::coding::{BufExt, BufMutExt};
use crate::{DecodeError, EncodeError, VarInt};

/// A subscription filter (draft-14 §5.1.2): `Filter Type (i)` and its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
	/// 0x1 Next Group Start: from the next group on.
	NextGroupStart,
	/// 0x2 Largest Object: from the largest object on.
	LargestObject,
	/// 0x3 AbsoluteStart: from this Location on.
	AbsoluteStart(Location),
	/// 0x4 AbsoluteRange: from this Location to the end of End Group.
	AbsoluteRange {
		/// The first Location.
		start: Location,
		/// The last group, inclusive.
		end_group: VarInt,
	},
}

impl Filter {
	pub(crate) fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(match buf.get_var()?.into_inner() {
			0x1 => Self::NextGroupStart,
			0x2 => Self::LargestObject,
			0x3 => Self::AbsoluteStart(Location::decode(buf)?),
			0x4 => Self::AbsoluteRange {
				start: Location::decode(buf)?,
				end_group: buf.get_var()?,
			},
			// draft-14 §9.7: any other value is a PROTOCOL_VIOLATION.
			value => {
				return Err(DecodeError::InvalidValue {
					field: "Filter Type",
					value,
				});
			}
		})
	}

	pub(crate) fn encode<B: BufMut>(&self, buf: &mut B) {
		match self {
			Self::NextGroupStart => buf.put_var(VarInt::from_u32(0x1)),
			Self::LargestObject => buf.put_var(VarInt::from_u32(0x2)),
			Self::AbsoluteStart(start) => {
				buf.put_var(VarInt::from_u32(0x3));
				start.encode(buf);
			}
			Self::AbsoluteRange { start, end_group } => {
				buf.put_var(VarInt::from_u32(0x4));
				start.encode(buf);
				buf.put_var(*end_group);
			}
		}
	}
}

/// SUBSCRIBE (0x3), and TRACK_STATUS (0xD), whose format is identical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe {
	/// The Request ID.
	pub request_id: VarInt,
	/// The Track Namespace tuple.
	pub namespace: Vec<String>,
	/// The Track Name.
	pub track: String,
	/// Subscriber Priority (8): lower is more important.
	pub priority: u8,
	/// Group Order (8).
	pub group_order: GroupOrder,
	/// Forward (8): whether objects are sent at all.
	pub forward: bool,
	/// Which objects.
	pub filter: Filter,
	/// The message parameters (AUTHORIZATION TOKEN, DELIVERY_TIMEOUT).
	pub parameters: Parameters,
}

impl Subscribe {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(Self {
			request_id: buf.get_var()?,
			namespace: decode_namespace(buf)?,
			track: buf.get_string("Track Name")?,
			priority: buf.get_byte()?,
			group_order: GroupOrder::decode(buf)?,
			forward: get_flag(buf, "Forward")?,
			filter: Filter::decode(buf)?,
			parameters: Parameters::decode(buf)?,
		})
	}

	pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		buf.put_var(self.request_id);
		encode_namespace(buf, &self.namespace)?;
		buf.put_string(&self.track)?;
		buf.put_u8(self.priority);
		self.group_order.encode(buf);
		buf.put_bool(self.forward);
		self.filter.encode(buf);
		self.parameters.encode(buf)
	}
}

/// SUBSCRIBE_OK (0x4), and TRACK_STATUS_OK (0xE), whose format is identical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeOk {
	/// The Request ID of the SUBSCRIBE.
	pub request_id: VarInt,
	/// The Track Alias the publisher's data streams name (0 in TRACK_STATUS_OK).
	pub track_alias: VarInt,
	/// Expires: milliseconds until the subscription ends; 0 = never.
	pub expires: VarInt,
	/// Group Order (8).
	pub group_order: GroupOrder,
	/// Content Exists (8) and the Largest Location, when it does.
	pub largest: Option<Location>,
	/// The message parameters.
	pub parameters: Parameters,
	/// Draft-16's Track Extensions (the rest of the message); none in draft-14.
	pub extensions: Vec<super::KeyValue>,
}

impl SubscribeOk {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		let request_id = buf.get_var()?;
		let track_alias = buf.get_var()?;
		let expires = buf.get_var()?;
		let group_order = GroupOrder::decode(buf)?;
		let largest = match get_flag(buf, "Content Exists")? {
			true => Some(Location::decode(buf)?),
			false => None,
		};
		Ok(Self {
			request_id,
			track_alias,
			expires,
			group_order,
			largest,
			parameters: Parameters::decode(buf)?,
			extensions: Vec::new(),
		})
	}

	pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		if !self.extensions.is_empty() {
			return Err(EncodeError::InvalidValue {
				field: "Track Extensions",
				reason: "draft-14 has none",
			});
		}
		buf.put_var(self.request_id);
		buf.put_var(self.track_alias);
		buf.put_var(self.expires);
		self.group_order.encode(buf);
		buf.put_bool(self.largest.is_some());
		if let Some(largest) = &self.largest {
			largest.encode(buf);
		}
		self.parameters.encode(buf)
	}
}

/// A refusal: `Request ID (i) | Error Code (i) | Reason Phrase`.
///
/// SUBSCRIBE_ERROR (0x5), PUBLISH_ERROR (0x1F), FETCH_ERROR (0x19),
/// TRACK_STATUS_ERROR (0xF), PUBLISH_NAMESPACE_ERROR (0x8) and
/// SUBSCRIBE_NAMESPACE_ERROR (0x13) share this format; each has its own code
/// registry ([`super::RequestErrorCode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError {
	/// The Request ID refused.
	pub request_id: VarInt,
	/// The Error Code.
	pub code: VarInt,
	/// The Reason Phrase (at most 1024 bytes).
	pub reason: String,
	/// Retry Interval: draft-16's REQUEST_ERROR says after how many
	/// milliseconds plus one the request may be retried (0: not at all). Not on
	/// the wire in draft-14's refusals or in PUBLISH_NAMESPACE_CANCEL, where it
	/// must be 0.
	pub retry_interval: VarInt,
}

impl RequestError {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(Self {
			request_id: buf.get_var()?,
			code: buf.get_var()?,
			reason: decode_reason(buf)?,
			retry_interval: VarInt::ZERO,
		})
	}

	pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		if self.retry_interval != VarInt::ZERO {
			return Err(EncodeError::InvalidValue {
				field: "Retry Interval",
				reason: "only draft-16's REQUEST_ERROR carries one",
			});
		}
		buf.put_var(self.request_id);
		buf.put_var(self.code);
		encode_reason(buf, &self.reason)
	}
}

/// REQUEST_OK (draft-16, 0x7): `Request ID (i) | Parameters`, the answer to
/// PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE and the other requests without an
/// answer of their own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestOk {
	/// The Request ID accepted.
	pub request_id: VarInt,
	/// The message parameters.
	pub parameters: Parameters,
}

/// SUBSCRIBE_UPDATE (0x2; REQUEST_UPDATE in later drafts): narrows a
/// subscription or changes its priority and Forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeUpdate {
	/// This update's own Request ID.
	pub request_id: VarInt,
	/// The subscription's Request ID.
	pub subscription_request_id: VarInt,
	/// The new Start Location.
	pub start: Location,
	/// End Group: the last group plus one; 0 = open-ended.
	pub end_group: VarInt,
	/// Subscriber Priority (8).
	pub priority: u8,
	/// Forward (8).
	pub forward: bool,
	/// The message parameters.
	pub parameters: Parameters,
}

impl SubscribeUpdate {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(Self {
			request_id: buf.get_var()?,
			subscription_request_id: buf.get_var()?,
			start: Location::decode(buf)?,
			end_group: buf.get_var()?,
			priority: buf.get_byte()?,
			forward: get_flag(buf, "Forward")?,
			parameters: Parameters::decode(buf)?,
		})
	}

	pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		buf.put_var(self.request_id);
		buf.put_var(self.subscription_request_id);
		self.start.encode(buf);
		buf.put_var(self.end_group);
		buf.put_u8(self.priority);
		buf.put_bool(self.forward);
		self.parameters.encode(buf)
	}
}

/// PUBLISH_DONE (0xB): the publisher ends a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishDone {
	/// The subscription's Request ID.
	pub request_id: VarInt,
	/// Status Code ([`super::PublishDoneCode`]).
	pub status: VarInt,
	/// Stream Count: how many data streams the subscription opened.
	pub stream_count: VarInt,
	/// The Reason Phrase.
	pub reason: String,
}

impl PublishDone {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(Self {
			request_id: buf.get_var()?,
			status: buf.get_var()?,
			stream_count: buf.get_var()?,
			reason: decode_reason(buf)?,
		})
	}

	pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		buf.put_var(self.request_id);
		buf.put_var(self.status);
		buf.put_var(self.stream_count);
		encode_reason(buf, &self.reason)
	}
}

/// PUBLISH (0x1D): a publisher pushes a track without being asked.
///
/// The draft's figure gives PUBLISH a varint Length; the published client
/// frames it with 16 bits like every other message, and so does this codec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
	/// The Request ID.
	pub request_id: VarInt,
	/// The Track Namespace tuple.
	pub namespace: Vec<String>,
	/// The Track Name.
	pub track: String,
	/// The Track Alias its data streams will name.
	pub track_alias: VarInt,
	/// Group Order (8).
	pub group_order: GroupOrder,
	/// Content Exists (8) and the Largest Location, when it does.
	pub largest: Option<Location>,
	/// Forward (8).
	pub forward: bool,
	/// The message parameters.
	pub parameters: Parameters,
	/// Draft-16's Track Extensions (the rest of the message); none in draft-14.
	pub extensions: Vec<super::KeyValue>,
}

impl Publish {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		let request_id = buf.get_var()?;
		let namespace = decode_namespace(buf)?;
		let track = buf.get_string("Track Name")?;
		let track_alias = buf.get_var()?;
		let group_order = GroupOrder::decode(buf)?;
		let largest = match get_flag(buf, "Content Exists")? {
			true => Some(Location::decode(buf)?),
			false => None,
		};
		Ok(Self {
			request_id,
			namespace,
			track,
			track_alias,
			group_order,
			largest,
			forward: get_flag(buf, "Forward")?,
			parameters: Parameters::decode(buf)?,
			extensions: Vec::new(),
		})
	}

	pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		if !self.extensions.is_empty() {
			return Err(EncodeError::InvalidValue {
				field: "Track Extensions",
				reason: "draft-14 has none",
			});
		}
		buf.put_var(self.request_id);
		encode_namespace(buf, &self.namespace)?;
		buf.put_string(&self.track)?;
		buf.put_var(self.track_alias);
		self.group_order.encode(buf);
		buf.put_bool(self.largest.is_some());
		if let Some(largest) = &self.largest {
			largest.encode(buf);
		}
		buf.put_bool(self.forward);
		self.parameters.encode(buf)
	}
}

/// PUBLISH_OK (0x1E): the subscriber accepts a PUBLISH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishOk {
	/// The PUBLISH's Request ID.
	pub request_id: VarInt,
	/// Forward (8).
	pub forward: bool,
	/// Subscriber Priority (8).
	pub priority: u8,
	/// Group Order (8).
	pub group_order: GroupOrder,
	/// Which objects.
	pub filter: Filter,
	/// The message parameters.
	pub parameters: Parameters,
}

impl PublishOk {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(Self {
			request_id: buf.get_var()?,
			forward: get_flag(buf, "Forward")?,
			priority: buf.get_byte()?,
			group_order: GroupOrder::decode(buf)?,
			filter: Filter::decode(buf)?,
			parameters: Parameters::decode(buf)?,
		})
	}

	pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		buf.put_var(self.request_id);
		buf.put_bool(self.forward);
		buf.put_u8(self.priority);
		self.group_order.encode(buf);
		self.filter.encode(buf);
		self.parameters.encode(buf)
	}
}
