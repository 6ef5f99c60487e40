//! FETCH and FETCH_OK (draft-14 §9.16–§9.17).

use bytes::{Buf, BufMut};

use super::coding::{GroupOrder, Location, Parameters, decode_namespace, encode_namespace, get_flag};
use crate::coding::{BufExt, BufMutExt};
use crate::{DecodeError, EncodeError, VarInt};

/// What a FETCH asks for: `Fetch Type (i)` and its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchType {
	/// 0x1 Standalone: a range of a named track.
	Standalone {
		/// The Track Namespace tuple.
		namespace: Vec<String>,
		/// The Track Name.
		track: String,
		/// The first Location.
		start: Location,
		/// The End Location (an Object of 0 means the whole End Group).
		end: Location,
	},
	/// 0x2 Relative Joining: `Joining Start` groups before the subscription's first.
	RelativeJoining {
		/// The joined SUBSCRIBE's Request ID.
		joining_request_id: VarInt,
		/// How many groups back.
		joining_start: VarInt,
	},
	/// 0x3 Absolute Joining: from group `Joining Start` to the subscription's first.
	AbsoluteJoining {
		/// The joined SUBSCRIBE's Request ID.
		joining_request_id: VarInt,
		/// The first group.
		joining_start: VarInt,
	},
}

impl FetchType {
	pub(crate) fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(match buf.get_var()?.into_inner() {
			0x1 => FetchType::Standalone {
				namespace: decode_namespace(buf)?,
				track: buf.get_string("Track Name")?,
				start: Location::decode(buf)?,
				end: Location::decode(buf)?,
			},
			0x2 => FetchType::RelativeJoining {
				joining_request_id: buf.get_var()?,
				joining_start: buf.get_var()?,
			},
			0x3 => FetchType::AbsoluteJoining {
				joining_request_id: buf.get_var()?,
				joining_start: buf.get_var()?,
			},
			// draft-14 §9.16: any other type closes the session (PROTOCOL_VIOLATION).
			value => {
				return Err(DecodeError::InvalidValue {
					field: "Fetch Type",
					value,
				});
			}
		})
	}

	pub(crate) fn encode<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		match &self {
			FetchType::Standalone {
				namespace,
				track,
				start,
				end,
			} => {
				buf.put_var(VarInt::from_u32(0x1));
				encode_namespace(buf, namespace)?;
				buf.put_string(track)?;
				start.encode(buf);
				end.encode(buf);
			}
			FetchType::RelativeJoining {
				joining_request_id,
				joining_start,
			} => {
				buf.put_var(VarInt::from_u32(0x2));
				buf.put_var(*joining_request_id);
				buf.put_var(*joining_start);
			}
			FetchType::AbsoluteJoining {
				joining_request_id,
				joining_start,
			} => {
				buf.put_var(VarInt::from_u32(0x3));
				buf.put_var(*joining_request_id);
				buf.put_var(*joining_start);
			}
		}
		Ok(())
	}
}

/// FETCH (0x16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
	/// The Request ID.
	pub request_id: VarInt,
	/// Subscriber Priority (8).
	pub priority: u8,
	/// Group Order (8).
	pub group_order: GroupOrder,
	/// What to fetch.
	pub fetch_type: FetchType,
	/// The message parameters.
	pub parameters: Parameters,
}

impl Fetch {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		let request_id = buf.get_var()?;
		let priority = buf.get_byte()?;
		let group_order = GroupOrder::decode(buf)?;
		let fetch_type = FetchType::decode(buf)?;
		Ok(Self {
			request_id,
			priority,
			group_order,
			fetch_type,
			parameters: Parameters::decode(buf)?,
		})
	}

	pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		buf.put_var(self.request_id);
		buf.put_u8(self.priority);
		self.group_order.encode(buf);
		self.fetch_type.encode(buf)?;
		self.parameters.encode(buf)
	}
}

/// FETCH_OK (0x18).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchOk {
	/// The FETCH's Request ID.
	pub request_id: VarInt,
	/// Group Order (8).
	pub group_order: GroupOrder,
	/// End Of Track (8): the range reaches the end of the track.
	pub end_of_track: bool,
	/// The End Location the fetch will deliver up to.
	pub end: Location,
	/// The message parameters.
	pub parameters: Parameters,
	/// Draft-16's Track Extensions (the rest of the message); none in draft-14.
	pub extensions: Vec<super::KeyValue>,
}

impl FetchOk {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(Self {
			request_id: buf.get_var()?,
			group_order: GroupOrder::decode(buf)?,
			end_of_track: get_flag(buf, "End Of Track")?,
			end: Location::decode(buf)?,
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
		self.group_order.encode(buf);
		buf.put_bool(self.end_of_track);
		self.end.encode(buf);
		self.parameters.encode(buf)
	}
}
