//! Draft-18's request-stream messages (draft-ietf-moq-transport-18 §3.3, §10), in the published
//! client's reading of them (docs/protocol.md#draft-18).
//!
//! Draft-18 has no control stream: every request opens a bidirectional stream of its own and its
//! answers travel back on it, without the Request ID draft-16 put in them. Each message is
//! `Type (vi64) | Length (16) | Payload`, every integer a leading-ones one (§1.4.1). Message
//! Parameters are `Type Delta (vi64) | Value` with a count before them and no Length: the value's
//! form is the parameter type's (a varint, one byte, a length-prefixed byte string or a Location),
//! so a parameter this codec does not know cannot be skipped and is refused (as the client refuses
//! it). GOAWAY goes on the sender's SETUP stream.

use std::fmt;

use bytes::{Buf, BufMut, Bytes};

use super::coding::{
	AUTHORIZATION_TOKEN, KeyValue, Location, MAX_CONTROL_LEN, MAX_KVP_VALUE_LEN, MAX_NAMESPACE_ELEMENTS,
	MAX_PARAMETERS, MAX_REASON_LEN, decode_pair, encode_pairs, get_var_in, put_var_in,
};
use super::draft::{DecodeWith, Draft, EncodeWith};
use super::token::AuthToken;
use crate::coding::BufExt;
use crate::{DecodeError, EncodeError, MAX_GOAWAY_URI_LEN, VarInt};

const D18: Draft = Draft::Draft18;

/// The integers an AUTHORIZATION TOKEN's fields are read in on every request-stream draft:
/// draft-18's, whose 7-byte form draft-17 reserves (a draft-17 token in that form is read, not
/// refused; its fields are small integers that no client writes in seven bytes).
const TOKEN_INTEGERS: Draft = Draft::Draft18;

/// The message types of draft-18's request streams and SETUP stream (§10).
pub mod message_type {
	/// REQUEST_UPDATE.
	pub const REQUEST_UPDATE: u64 = 0x02;
	/// SUBSCRIBE.
	pub const SUBSCRIBE: u64 = 0x03;
	/// SUBSCRIBE_OK.
	pub const SUBSCRIBE_OK: u64 = 0x04;
	/// REQUEST_ERROR.
	pub const REQUEST_ERROR: u64 = 0x05;
	/// PUBLISH_NAMESPACE.
	pub const PUBLISH_NAMESPACE: u64 = 0x06;
	/// REQUEST_OK.
	pub const REQUEST_OK: u64 = 0x07;
	/// NAMESPACE.
	pub const NAMESPACE: u64 = 0x08;
	/// PUBLISH_DONE.
	pub const PUBLISH_DONE: u64 = 0x0B;
	/// TRACK_STATUS.
	pub const TRACK_STATUS: u64 = 0x0D;
	/// NAMESPACE_DONE.
	pub const NAMESPACE_DONE: u64 = 0x0E;
	/// GOAWAY (on the SETUP stream).
	pub const GOAWAY: u64 = 0x10;
	/// FETCH.
	pub const FETCH: u64 = 0x16;
	/// FETCH_OK.
	pub const FETCH_OK: u64 = 0x18;
	/// PUBLISH.
	pub const PUBLISH: u64 = 0x1D;
	/// SUBSCRIBE_NAMESPACE (0x11 before draft-18).
	pub const SUBSCRIBE_NAMESPACE: u64 = 0x50;
	/// SUBSCRIBE_NAMESPACE on draft-17, with Subscribe Options.
	pub const SUBSCRIBE_NAMESPACE_17: u64 = 0x11;
	/// SUBSCRIBE_TRACKS.
	pub const SUBSCRIBE_TRACKS: u64 = 0x51;
}

/// Message Parameter types this codec knows (draft-18 §10.2, as the published client reads them).
pub mod parameter {
	/// DELIVERY_TIMEOUT: a varint (milliseconds).
	pub const DELIVERY_TIMEOUT: u64 = 0x02;
	/// AUTHORIZATION TOKEN: a Token structure, length-prefixed; may repeat.
	pub const AUTHORIZATION_TOKEN: u64 = 0x03;
	/// RENDEZVOUS_TIMEOUT: a varint (milliseconds).
	pub const RENDEZVOUS_TIMEOUT: u64 = 0x04;
	/// SUBGROUP_DELIVERY_TIMEOUT: a varint (milliseconds).
	pub const SUBGROUP_DELIVERY_TIMEOUT: u64 = 0x06;
	/// EXPIRES: a varint (milliseconds).
	pub const EXPIRES: u64 = 0x08;
	/// LARGEST_OBJECT: a Location, two bare varints.
	pub const LARGEST_OBJECT: u64 = 0x09;
	/// FORWARD: one byte, 0 or 1 (absent = 1).
	pub const FORWARD: u64 = 0x10;
	/// SUBSCRIBER_PRIORITY: one byte (absent = 128).
	pub const SUBSCRIBER_PRIORITY: u64 = 0x20;
	/// SUBSCRIPTION_FILTER: a length-prefixed filter (absent = unfiltered).
	pub const SUBSCRIPTION_FILTER: u64 = 0x21;
	/// GROUP_ORDER: one byte, 1 ascending or 2 descending.
	pub const GROUP_ORDER: u64 = 0x22;
	/// NEW_GROUP_REQUEST: a varint.
	pub const NEW_GROUP_REQUEST: u64 = 0x32;
	/// FILL (draft-20 on): a length-prefixed scope of parameters (a count, then the fill's own
	/// LOCATION_FILTER).
	pub const FILL: u64 = 0x23;
	/// SUBGROUP_FILTER (a Range Filter, draft-19 on): length-prefixed; may repeat.
	pub const SUBGROUP_FILTER: u64 = 0x25;
	/// OBJECT_ID_FILTER (draft-19 on): length-prefixed; may repeat.
	pub const OBJECT_ID_FILTER: u64 = 0x26;
	/// PRIORITY_FILTER (draft-19 on): length-prefixed; may repeat.
	pub const PRIORITY_FILTER: u64 = 0x27;
	/// OBJECT_PROPERTY_FILTER (draft-19 on): length-prefixed; may repeat.
	pub const OBJECT_PROPERTY_FILTER: u64 = 0x28;
	/// TRACK_PROPERTY_FILTER (draft-19 on): length-prefixed; may repeat; in a REQUEST_UPDATE only
	/// (the codec refuses it in any other message).
	pub const TRACK_PROPERTY_FILTER: u64 = 0x29;
	/// INCLUDE_PROPERTIES (draft-20 on): one byte, 0 or 1 (absent = 1).
	pub const INCLUDE_PROPERTIES: u64 = 0x35;

	/// Whether a parameter of type `key` may appear more than once.
	pub(super) fn repeats(key: u64) -> bool {
		matches!(
			key,
			AUTHORIZATION_TOKEN
				| SUBGROUP_FILTER
				| OBJECT_ID_FILTER
				| PRIORITY_FILTER
				| OBJECT_PROPERTY_FILTER
				| TRACK_PROPERTY_FILTER
		)
	}
}

/// The Location Filter Types of draft-22's LOCATION_FILTER (SUBSCRIPTION_FILTER), each naming how
/// many integers follow it.
pub mod filter_type {
	/// No filter: no integers.
	pub const NONE: u64 = 0x0;
	/// Relative Start: a group count back from the next group.
	pub const RELATIVE_START: u64 = 0x1;
	/// Absolute Start: a Location.
	pub const ABSOLUTE_START: u64 = 0x2;
	/// Absolute Group End: a Location and an End Group delta.
	pub const ABSOLUTE_GROUP_END: u64 = 0x3;
	/// Absolute Range: a Location, an End Group delta and an End Object.
	pub const ABSOLUTE_RANGE: u64 = 0x4;
	/// Next Object: no integers.
	pub const NEXT_OBJECT: u64 = 0x5;

	/// How many integers follow a Location Filter Type, `None` for a type draft-22 does not define.
	pub fn fields(ty: u64) -> Option<usize> {
		Some(match ty {
			NONE | NEXT_OBJECT => 0,
			RELATIVE_START => 1,
			ABSOLUTE_START => 2,
			ABSOLUTE_GROUP_END => 3,
			ABSOLUTE_RANGE => 4,
			_ => return None,
		})
	}
}

/// The form of a Message Parameter's value, which its type (and the draft) decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
	Int,
	Byte,
	Bytes,
	Location,
	/// Draft-22's LOCATION_FILTER: a Location Filter Type and the integers it names, no Length.
	TypedFilter,
}

fn form(key: u64, draft: Draft) -> Option<Form> {
	use parameter::*;
	Some(match key {
		DELIVERY_TIMEOUT | RENDEZVOUS_TIMEOUT | SUBGROUP_DELIVERY_TIMEOUT | EXPIRES | NEW_GROUP_REQUEST => Form::Int,
		FORWARD | SUBSCRIBER_PRIORITY | GROUP_ORDER => Form::Byte,
		SUBSCRIPTION_FILTER if draft.typed_filter() => Form::TypedFilter,
		AUTHORIZATION_TOKEN | SUBSCRIPTION_FILTER => Form::Bytes,
		LARGEST_OBJECT => Form::Location,
		INCLUDE_PROPERTIES | FILL if !draft.filter_fields() => return None,
		INCLUDE_PROPERTIES => Form::Byte,
		FILL => Form::Bytes,
		SUBGROUP_FILTER | OBJECT_ID_FILTER | PRIORITY_FILTER | OBJECT_PROPERTY_FILTER | TRACK_PROPERTY_FILTER
			if draft.range_filters() =>
		{
			Form::Bytes
		}
		_ => return None,
	})
}

/// Reads draft-22's LOCATION_FILTER value (its type and the integers the type names), returned as
/// the bytes it was written in.
fn decode_typed_filter<B: Buf>(buf: &mut B) -> Result<Bytes, DecodeError> {
	let ty = get_var_in(buf, D18)?;
	let fields = filter_type::fields(ty.into_inner()).ok_or(DecodeError::InvalidValue {
		field: "Location Filter Type",
		value: ty.into_inner(),
	})?;
	let mut out = Vec::new();
	put_var_in(&mut out, D18, ty);
	for _ in 0..fields {
		put_var_in(&mut out, D18, get_var_in(buf, D18)?);
	}
	Ok(out.into())
}

/// Which objects a subscription of draft-20 or later asks for: its SUBSCRIPTION_FILTER
/// (LOCATION_FILTER), whose integers say it by their count on draft-20 and draft-21 and by a
/// Location Filter Type first on draft-22.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocationFilter {
	/// Every object: no parameter, no integers, or type 0x0.
	Unfiltered,
	/// From the object after the largest one: two zeros, or type 0x5.
	NextObject,
	/// From the start of the group this many groups back from the next one (0 is the next group, 1
	/// the current one): one integer, or type 0x1.
	Relative(u64),
	/// From the object `start` (group, object) on, up to the group `end_group` and in it the object
	/// `end_object`, both inclusive: two integers (not both zero) and an End Group delta and an End
	/// Object if present, or types 0x2, 0x3 and 0x4.
	Absolute {
		/// The first object's group and object.
		start: (u64, u64),
		/// The last group, inclusive (the start's group plus the End Group delta).
		end_group: Option<u64>,
		/// The last object of the last group, inclusive.
		end_object: Option<u64>,
	},
}

impl LocationFilter {
	/// The SUBSCRIPTION_FILTER value of this filter on `draft` (draft-20 or later), as
	/// [`decode`](Self::decode) reads it. An Absolute Start at (0, 0) has no form on draft-20 and
	/// draft-21 (two zeros are Next Object there), nor an End Object without an End Group.
	pub fn encode(&self, draft: Draft) -> Result<Vec<u8>, EncodeError> {
		let (ty, ints): (u64, Vec<u64>) = match *self {
			Self::Unfiltered => (filter_type::NONE, vec![]),
			Self::NextObject => (filter_type::NEXT_OBJECT, vec![0, 0]),
			Self::Relative(groups) => (filter_type::RELATIVE_START, vec![groups]),
			Self::Absolute {
				start,
				end_group,
				end_object,
			} => {
				let delta = |end: u64| {
					end.checked_sub(start.0).ok_or(EncodeError::InvalidValue {
						field: "LOCATION_FILTER",
						reason: "an End Group before the start",
					})
				};
				match (end_group, end_object) {
					(None, None) if start == (0, 0) && !draft.typed_filter() => {
						return Err(EncodeError::InvalidValue {
							field: "LOCATION_FILTER",
							reason: "an Absolute Start at (0, 0) reads as Next Object before draft-22",
						});
					}
					(None, None) => (filter_type::ABSOLUTE_START, vec![start.0, start.1]),
					(Some(end), None) => (filter_type::ABSOLUTE_GROUP_END, vec![start.0, start.1, delta(end)?]),
					(Some(end), Some(object)) => {
						(filter_type::ABSOLUTE_RANGE, vec![start.0, start.1, delta(end)?, object])
					}
					(None, Some(_)) => {
						return Err(EncodeError::InvalidValue {
							field: "LOCATION_FILTER",
							reason: "an End Object without an End Group",
						});
					}
				}
			}
		};
		let mut out = Vec::new();
		let var = |value: u64| {
			VarInt::from_u64(value).map_err(|_| EncodeError::InvalidValue {
				field: "LOCATION_FILTER",
				reason: "an integer beyond 2^62",
			})
		};
		// Draft-22 names the type; draft-20 and draft-21 say it by the count of integers, and
		// Next Object by two zeros.
		let ints = match draft.typed_filter() {
			true if ty == filter_type::NEXT_OBJECT => vec![],
			_ => ints,
		};
		if draft.typed_filter() {
			put_var_in(&mut out, draft, var(ty)?);
		}
		for value in ints {
			put_var_in(&mut out, draft, var(value)?);
		}
		Ok(out)
	}

	/// Reads a SUBSCRIPTION_FILTER value of `draft` (draft-20 or later).
	pub fn decode(value: &[u8], draft: Draft) -> Result<Self, DecodeError> {
		let mut buf = value;
		let typed = match draft.typed_filter() {
			true => Some(get_var_in(&mut buf, draft)?.into_inner()),
			false => None,
		};
		let mut ints = Vec::with_capacity(4);
		while buf.has_remaining() {
			if ints.len() == 4 {
				return Err(DecodeError::TrailingBytes {
					message: "SUBSCRIPTION_FILTER",
					extra: buf.len(),
				});
			}
			ints.push(get_var_in(&mut buf, draft)?.into_inner());
		}
		let kind = match typed {
			Some(ty) if filter_type::fields(ty) == Some(ints.len()) => ty,
			Some(ty) => {
				return Err(DecodeError::InvalidValue {
					field: "Location Filter Type",
					value: ty,
				});
			}
			None => match ints[..] {
				[] => filter_type::NONE,
				[_] => filter_type::RELATIVE_START,
				[0, 0] => filter_type::NEXT_OBJECT,
				[_, _] => filter_type::ABSOLUTE_START,
				[_, _, _] => filter_type::ABSOLUTE_GROUP_END,
				_ => filter_type::ABSOLUTE_RANGE,
			},
		};
		Ok(match kind {
			filter_type::NONE => Self::Unfiltered,
			filter_type::NEXT_OBJECT => Self::NextObject,
			filter_type::RELATIVE_START => Self::Relative(ints[0]),
			_ => {
				let end_group = match ints.get(2) {
					Some(delta) => Some(ints[0].checked_add(*delta).ok_or(DecodeError::InvalidValue {
						field: "End Group delta",
						value: *delta,
					})?),
					None => None,
				};
				Self::Absolute {
					start: (ints[0], ints[1]),
					end_group,
					end_object: ints.get(3).copied(),
				}
			}
		})
	}
}

/// Whether `value` is exactly one draft-22 LOCATION_FILTER value.
fn is_typed_filter(value: &[u8]) -> bool {
	let mut cursor = value;
	decode_typed_filter(&mut cursor).is_ok() && cursor.is_empty()
}

/// A Message Parameter's value.
#[derive(Clone, PartialEq, Eq)]
pub enum ParamValue {
	/// A varint.
	Int(VarInt),
	/// One byte.
	Byte(u8),
	/// A length-prefixed byte string.
	Bytes(Bytes),
	/// A Location.
	Location(Location),
}

impl fmt::Debug for ParamValue {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Self::Int(v) => write!(f, "Int({v})"),
			Self::Byte(v) => write!(f, "Byte({v})"),
			// A token may be a credential: its length only.
			Self::Bytes(b) => write!(f, "Bytes(<{} bytes>)", b.len()),
			Self::Location(l) => write!(f, "Location({}, {})", l.group, l.object),
		}
	}
}

/// One Message Parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageParameter {
	/// Its type.
	pub key: VarInt,
	/// Its value, in the form its type has.
	pub value: ParamValue,
}

/// A message's `Number of Parameters (vi64) | Parameters…`, delta-coded in ascending type order.
///
/// A known type twice is refused (AUTHORIZATION TOKEN may repeat); an unknown type is refused,
/// since its value's length is not on the wire; FORWARD must be 0 or 1; an AUTHORIZATION TOKEN
/// must hold a Token structure in draft-18's integers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageParameters(pub Vec<MessageParameter>);

impl MessageParameters {
	fn decode<B: Buf>(buf: &mut B, draft: Draft, location: LocationForm) -> Result<Self, DecodeError> {
		let count = get_var_in(buf, draft)?.into_inner();
		if count > MAX_PARAMETERS as u64 {
			return Err(DecodeError::TooLarge {
				what: "parameter count",
				len: count,
				max: MAX_PARAMETERS as u64,
			});
		}
		let mut list: Vec<MessageParameter> = Vec::with_capacity(count as usize);
		let mut previous = 0u64;
		for i in 0..count {
			let delta = get_var_in(buf, draft)?.into_inner();
			let key = previous.checked_add(delta).filter(|k| *k <= VarInt::MAX.into_inner());
			let key = key.ok_or(DecodeError::InvalidValue {
				field: "Message Parameter Type",
				value: previous.saturating_add(delta),
			})?;
			if i > 0 && delta == 0 && !parameter::repeats(key) {
				return Err(DecodeError::DuplicateParameter {
					id: VarInt::from_u64(key).unwrap_or(VarInt::MAX),
				});
			}
			previous = key;
			let value = match form(key, draft) {
				Some(Form::Int) => ParamValue::Int(get_var_in(buf, draft)?),
				Some(Form::Byte) => ParamValue::Byte(buf.get_byte()?),
				Some(Form::Bytes) => {
					let len = get_var_in(buf, draft)?.into_inner();
					if len > MAX_KVP_VALUE_LEN as u64 {
						return Err(DecodeError::TooLarge {
							what: "Message Parameter length",
							len,
							max: MAX_KVP_VALUE_LEN as u64,
						});
					}
					ParamValue::Bytes(buf.get_raw(len)?)
				}
				Some(Form::Location) => ParamValue::Location(match location {
					LocationForm::Bare => Location {
						group: get_var_in(buf, draft)?,
						object: get_var_in(buf, draft)?,
					},
					LocationForm::Prefixed => {
						let len = get_var_in(buf, draft)?.into_inner();
						let mut value = buf.get_raw(len.min(MAX_KVP_VALUE_LEN as u64))?;
						let location = Location {
							group: get_var_in(&mut value, draft)?,
							object: get_var_in(&mut value, draft)?,
						};
						if len > MAX_KVP_VALUE_LEN as u64 || value.has_remaining() {
							return Err(DecodeError::InvalidValue {
								field: "Location Length",
								value: len,
							});
						}
						location
					}
				}),
				Some(Form::TypedFilter) => ParamValue::Bytes(decode_typed_filter(buf)?),
				// draft-18 §10.2: an unknown parameter is a PROTOCOL_VIOLATION.
				None => {
					return Err(DecodeError::InvalidValue {
						field: "Message Parameter Type (unknown)",
						value: key,
					});
				}
			};
			// §10.2.2: a Token structure that cannot be decoded is KEY_VALUE_FORMATTING_ERROR.
			if let (parameter::AUTHORIZATION_TOKEN, ParamValue::Bytes(token)) = (key, &value) {
				AuthToken::decode_value_in(token, TOKEN_INTEGERS)?;
			}
			let key = VarInt::from_u64(key).unwrap_or(VarInt::MAX);
			let parameter = MessageParameter { key, value };
			parameter.check().map_err(|_| DecodeError::InvalidValue {
				field: "Message Parameter value",
				value: key.into_inner(),
			})?;
			list.push(parameter);
		}
		Ok(Self(list))
	}

	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		if self.0.len() > MAX_PARAMETERS {
			return Err(EncodeError::TooLarge {
				what: "parameter count",
				len: self.0.len() as u64,
				max: MAX_PARAMETERS as u64,
			});
		}
		let mut sorted: Vec<&MessageParameter> = self.0.iter().collect();
		sorted.sort_by_key(|p| p.key);
		let mut out = Vec::new();
		let mut previous = 0u64;
		for (i, p) in sorted.into_iter().enumerate() {
			let key = p.key.into_inner();
			let want = form(key, draft).ok_or(EncodeError::InvalidValue {
				field: "Message Parameter",
				reason: "an unknown type (on this draft) has no known value form",
			})?;
			if i > 0 && key == previous && !parameter::repeats(key) {
				return Err(EncodeError::InvalidValue {
					field: "Message Parameter",
					reason: "a type that may not repeat twice",
				});
			}
			p.check()?;
			// Ascending, so the difference is below 2^62.
			put_var_in(&mut out, draft, VarInt::from_u64(key - previous).unwrap_or(VarInt::MAX));
			previous = key;
			match (&p.value, want) {
				(ParamValue::Int(v), Form::Int) => put_var_in(&mut out, draft, *v),
				(ParamValue::Byte(v), Form::Byte) => out.put_u8(*v),
				(ParamValue::Bytes(b), Form::Bytes) => {
					if b.len() > MAX_KVP_VALUE_LEN {
						return Err(EncodeError::TooLarge {
							what: "Message Parameter length",
							len: b.len() as u64,
							max: MAX_KVP_VALUE_LEN as u64,
						});
					}
					put_var_in(&mut out, draft, VarInt::from_u32(b.len() as u32));
					out.put_slice(b);
				}
				(ParamValue::Location(l), Form::Location) => {
					put_var_in(&mut out, draft, l.group);
					put_var_in(&mut out, draft, l.object);
				}
				(ParamValue::Bytes(b), Form::TypedFilter) if is_typed_filter(b) => out.put_slice(b),
				_ => {
					return Err(EncodeError::InvalidValue {
						field: "Message Parameter",
						reason: "the value is not in its type's form",
					});
				}
			}
		}
		put_var_in(buf, draft, VarInt::from_u32(self.0.len() as u32));
		buf.put_slice(&out);
		Ok(())
	}

	/// The first parameter of type `key`.
	pub fn get(&self, key: u64) -> Option<&ParamValue> {
		self.0.iter().find(|p| p.key.into_inner() == key).map(|p| &p.value)
	}

	/// Adds a parameter (they are written in ascending type order).
	pub fn with(mut self, key: u64, value: ParamValue) -> Self {
		self.0.push(MessageParameter {
			key: VarInt::from_u64(key).unwrap_or(VarInt::MAX),
			value,
		});
		self
	}

	/// FORWARD (absent = forward).
	pub fn forward(&self) -> bool {
		!matches!(self.get(parameter::FORWARD), Some(ParamValue::Byte(0)))
	}

	/// SUBSCRIPTION_FILTER (LOCATION_FILTER) as draft-20 and later read it (absent =
	/// [`LocationFilter::Unfiltered`]); a value that is no filter of `draft` is an error, as is a
	/// draft before draft-20, whose filter has another form.
	pub fn location_filter(&self, draft: Draft) -> Result<LocationFilter, DecodeError> {
		match self.get(parameter::SUBSCRIPTION_FILTER) {
			None if draft.filter_fields() => Ok(LocationFilter::Unfiltered),
			Some(ParamValue::Bytes(value)) if draft.filter_fields() => LocationFilter::decode(value, draft),
			_ => Err(DecodeError::InvalidValue {
				field: "SUBSCRIPTION_FILTER",
				value: parameter::SUBSCRIPTION_FILTER,
			}),
		}
	}

	/// SUBSCRIBER_PRIORITY (absent = 128).
	pub fn subscriber_priority(&self) -> u8 {
		match self.get(parameter::SUBSCRIBER_PRIORITY) {
			Some(ParamValue::Byte(p)) => *p,
			_ => 128,
		}
	}

	/// Every AUTHORIZATION TOKEN, in wire order, read in draft-18's integers.
	pub fn auth_tokens(&self) -> impl Iterator<Item = Result<AuthToken, DecodeError>> + '_ {
		self.0
			.iter()
			.filter(|p| p.key == AUTHORIZATION_TOKEN)
			.filter_map(|p| match &p.value {
				ParamValue::Bytes(b) => Some(AuthToken::decode_value_in(b, TOKEN_INTEGERS)),
				_ => None,
			})
	}
}

impl MessageParameter {
	fn check(&self) -> Result<(), EncodeError> {
		let key = self.key.into_inner();
		let bad = |reason| {
			Err(EncodeError::InvalidValue {
				field: "Message Parameter",
				reason,
			})
		};
		match (&self.value, key) {
			(ParamValue::Byte(v), parameter::FORWARD) if *v > 1 => bad("FORWARD is 0 or 1"),
			(ParamValue::Byte(v), parameter::INCLUDE_PROPERTIES) if *v > 1 => bad("INCLUDE_PROPERTIES is 0 or 1"),
			(ParamValue::Bytes(b), parameter::AUTHORIZATION_TOKEN)
				if AuthToken::decode_value_in(b, TOKEN_INTEGERS).is_err() =>
			{
				bad("an AUTHORIZATION TOKEN holds a Token structure")
			}
			_ => Ok(()),
		}
	}
}

fn decode_namespace<B: Buf>(buf: &mut B, draft: Draft) -> Result<Vec<String>, DecodeError> {
	let count = get_var_in(buf, draft)?.into_inner();
	if count > MAX_NAMESPACE_ELEMENTS as u64 {
		return Err(DecodeError::TooLarge {
			what: "Track Namespace elements",
			len: count,
			max: MAX_NAMESPACE_ELEMENTS as u64,
		});
	}
	(0..count)
		.map(|_| decode_text(buf, draft, "Track Namespace element", MAX_CONTROL_LEN as usize))
		.collect()
}

fn encode_namespace<B: BufMut>(buf: &mut B, draft: Draft, namespace: &[String]) -> Result<(), EncodeError> {
	if namespace.len() > MAX_NAMESPACE_ELEMENTS {
		return Err(EncodeError::TooLarge {
			what: "Track Namespace elements",
			len: namespace.len() as u64,
			max: MAX_NAMESPACE_ELEMENTS as u64,
		});
	}
	put_var_in(buf, draft, VarInt::from_u32(namespace.len() as u32));
	for element in namespace {
		encode_text(buf, draft, element, "Track Namespace element", MAX_CONTROL_LEN as usize)?;
	}
	Ok(())
}

/// `Length (vi64)` + UTF-8 of at most `max` bytes.
fn decode_text<B: Buf>(buf: &mut B, draft: Draft, field: &'static str, max: usize) -> Result<String, DecodeError> {
	let len = get_var_in(buf, draft)?.into_inner();
	if len > max as u64 {
		return Err(DecodeError::TooLarge {
			what: field,
			len,
			max: max as u64,
		});
	}
	let bytes = buf.get_raw(len)?;
	String::from_utf8(bytes.into()).map_err(|_| DecodeError::InvalidUtf8 { field })
}

fn encode_text<B: BufMut>(
	buf: &mut B,
	draft: Draft,
	text: &str,
	field: &'static str,
	max: usize,
) -> Result<(), EncodeError> {
	if text.len() > max {
		return Err(EncodeError::TooLarge {
			what: field,
			len: text.len() as u64,
			max: max as u64,
		});
	}
	put_var_in(buf, draft, VarInt::from_u32(text.len() as u32));
	buf.put_slice(text.as_bytes());
	Ok(())
}

/// SUBSCRIBE (0x03): `Request ID | Track Namespace | Track Name | Parameters`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe {
	/// The Request ID (the client's even, the relay's odd).
	pub request_id: VarInt,
	/// The Track Namespace.
	pub namespace: Vec<String>,
	/// The Track Name.
	pub track: String,
	/// FORWARD, SUBSCRIBER_PRIORITY, SUBSCRIPTION_FILTER, GROUP_ORDER, AUTHORIZATION TOKEN, ...
	pub parameters: MessageParameters,
}

/// SUBSCRIBE_OK (0x04): `Track Alias | Parameters | Track Properties` (no Request ID); the Track
/// Properties are delta-coded Key-Value-Pairs to the end of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeOk {
	/// The Track Alias its subgroup streams carry.
	pub track_alias: VarInt,
	/// EXPIRES, LARGEST_OBJECT, ...
	pub parameters: MessageParameters,
	/// Track Properties (TIMESCALE 0x08, DEFAULT_PUBLISHER_PRIORITY 0x0E,
	/// DEFAULT_PUBLISHER_GROUP_ORDER 0x22, ...).
	pub properties: Vec<KeyValue>,
}

/// REQUEST_ERROR (0x05): `Error Code | Retry Interval | Reason Phrase` (no Request ID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError {
	/// The Error Code (`RequestErrorCode`).
	pub code: VarInt,
	/// Milliseconds before the request may be retried; 0 = not again.
	pub retry_interval: VarInt,
	/// The Reason Phrase.
	pub reason: String,
}

/// PUBLISH_DONE (0x0B): `Status Code | Stream Count | Reason Phrase` (no Request ID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishDone {
	/// The Status Code (`PublishDoneCode`).
	pub status: VarInt,
	/// How many subgroup streams the subscription opened.
	pub stream_count: VarInt,
	/// The Reason Phrase.
	pub reason: String,
}

/// A request with a namespace: PUBLISH_NAMESPACE (0x06) and SUBSCRIBE_NAMESPACE (0x50), both
/// `Request ID | Track Namespace (Prefix) | Parameters`; on draft-17 SUBSCRIBE_NAMESPACE is 0x11
/// with Subscribe Options after the prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceRequest {
	/// The Request ID.
	pub request_id: VarInt,
	/// The Track Namespace, or the prefix for SUBSCRIBE_NAMESPACE.
	pub namespace: Vec<String>,
	/// Draft-17's Subscribe Options of a SUBSCRIBE_NAMESPACE (0x0 PUBLISH, 0x1 NAMESPACE, 0x2
	/// both); `None` on PUBLISH_NAMESPACE and from draft-18 on.
	pub options: Option<VarInt>,
	/// AUTHORIZATION TOKEN, ...
	pub parameters: MessageParameters,
}

/// REQUEST_UPDATE (0x02): `Request ID | Parameters`, on the stream of the request it updates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestUpdate {
	/// The update's own Request ID.
	pub request_id: VarInt,
	/// The parameters that change.
	pub parameters: MessageParameters,
}

/// GOAWAY (0x10) on the SETUP stream: `New Session URI | Timeout | [Request ID]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Goaway {
	/// Where to reconnect; empty = the same URI.
	pub uri: String,
	/// Milliseconds before the sender closes the session; 0 = not said.
	pub timeout: VarInt,
	/// Draft-18's Request ID, which the text makes optional and the published client always
	/// writes (0); draft-19 removed the field, so from draft-19 on it is always `None`.
	pub request_id: Option<VarInt>,
}

/// The integer that opens a draft-18 unidirectional stream (§3.4): SETUP's type (0x2F00) on a
/// control stream, a SUBGROUP_HEADER, FETCH_HEADER or PADDING type on any other. Read to tell a
/// peer's control stream from a data stream that arrived before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UniStreamType(pub VarInt);

impl UniStreamType {
	/// SETUP's type.
	pub const SETUP: u64 = 0x2F00;

	/// Whether the stream is a control stream (starts with SETUP).
	pub fn is_setup(self) -> bool {
		self.0.into_inner() == Self::SETUP
	}
}

impl DecodeWith<Draft> for UniStreamType {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		Ok(Self(get_var_in(buf, draft)?))
	}
}

impl EncodeWith<Draft> for UniStreamType {
	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		put_var_in(buf, draft, self.0);
		Ok(())
	}
}

/// A message on a draft-18 request stream or SETUP stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestMessage {
	/// SUBSCRIBE, opening a stream.
	Subscribe(Subscribe),
	/// SUBSCRIBE_OK, on the SUBSCRIBE's stream.
	SubscribeOk(SubscribeOk),
	/// REQUEST_OK (0x07: Parameters), accepting PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE or an update.
	RequestOk(MessageParameters),
	/// REQUEST_ERROR, refusing the stream's request (or its update).
	RequestError(RequestError),
	/// REQUEST_UPDATE.
	RequestUpdate(RequestUpdate),
	/// PUBLISH_DONE, ending a subscription on its stream.
	PublishDone(PublishDone),
	/// PUBLISH_NAMESPACE, opening a stream; withdrawn by that stream's end.
	PublishNamespace(NamespaceRequest),
	/// SUBSCRIBE_NAMESPACE (0x50), opening a stream.
	SubscribeNamespace(NamespaceRequest),
	/// NAMESPACE (0x08): a namespace under the prefix, as the suffix after it.
	Namespace(Vec<String>),
	/// NAMESPACE_DONE (0x0E): that namespace ended.
	NamespaceDone(Vec<String>),
	/// GOAWAY, on the SETUP stream.
	Goaway(Goaway),
	/// FETCH, opening a stream.
	Fetch(Fetch),
	/// FETCH_OK, on the FETCH's stream.
	FetchOk(FetchOk),
	/// A request this codec does not read (PUBLISH, TRACK_STATUS, SUBSCRIBE_TRACKS). It can
	/// only be refused.
	Unsupported(UnsupportedRequest),
}

/// FETCH (0x16): `Request ID | Fetch Type and its fields | Parameters` on draft-17 to draft-19,
/// `Request ID | Track Namespace | Track Name | Parameters` from draft-20 on, where the range is
/// the LOCATION_FILTER parameter. Its objects come on a unidirectional fetch stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
	/// The Request ID.
	pub request_id: VarInt,
	/// What it fetches.
	pub target: FetchTarget,
	/// SUBSCRIBER_PRIORITY, GROUP_ORDER, AUTHORIZATION TOKEN, LOCATION_FILTER, ...
	pub parameters: MessageParameters,
}

/// What a FETCH names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchTarget {
	/// Draft-17 to draft-19: a Fetch Type and its fields, as draft-14 has them.
	Typed(super::fetch::FetchType),
	/// Draft-20 on: a track; the range is the LOCATION_FILTER parameter.
	Track {
		/// The Track Namespace.
		namespace: Vec<String>,
		/// The Track Name.
		track: String,
	},
}

/// FETCH_OK (0x18): `End Of Track (8) | End Location | Parameters | Track Properties` (no
/// Request ID: the stream says which FETCH it answers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchOk {
	/// Whether the range reaches the end of the track.
	pub end_of_track: bool,
	/// The End Location (group, object): exclusive before draft-20, the last object from draft-20
	/// on.
	pub end: (u64, u64),
	/// Its parameters (the relay sends none).
	pub parameters: MessageParameters,
	/// Track Properties, delta-coded Key-Value-Pairs to the end of the message.
	pub properties: Vec<KeyValue>,
}

/// A request whose payload this codec does not read, kept as received.
#[derive(Clone, PartialEq, Eq)]
pub struct UnsupportedRequest {
	/// Its message type.
	pub ty: VarInt,
	/// Its payload, unread (it may hold a token: `Debug` shows the length only).
	pub body: Bytes,
}

impl UnsupportedRequest {
	/// The request's name, for logs and refusals.
	pub fn name(&self) -> &'static str {
		unsupported_name(self.ty.into_inner()).unwrap_or("an unsupported request")
	}

	/// Its Request ID: the first field of each of these requests (draft-18 §10), `None` when the
	/// payload does not start with an integer.
	pub fn request_id(&self) -> Option<VarInt> {
		get_var_in(&mut &self.body[..], D18).ok()
	}
}

impl fmt::Debug for UnsupportedRequest {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		write!(f, "{:#x} (<{} bytes>)", self.ty.into_inner(), self.body.len())
	}
}

impl RequestMessage {
	/// The message type on `draft` (SUBSCRIBE_NAMESPACE is 0x11 on draft-17).
	pub fn type_id_in(&self, draft: Draft) -> u64 {
		match self {
			Self::SubscribeNamespace(_) if draft.subscribe_namespace_options() => message_type::SUBSCRIBE_NAMESPACE_17,
			_ => self.type_id(),
		}
	}

	/// The message type (from draft-18 on).
	pub fn type_id(&self) -> u64 {
		use message_type::*;
		match self {
			Self::Subscribe(_) => SUBSCRIBE,
			Self::SubscribeOk(_) => SUBSCRIBE_OK,
			Self::RequestOk(_) => REQUEST_OK,
			Self::RequestError(_) => REQUEST_ERROR,
			Self::RequestUpdate(_) => REQUEST_UPDATE,
			Self::PublishDone(_) => PUBLISH_DONE,
			Self::PublishNamespace(_) => PUBLISH_NAMESPACE,
			Self::SubscribeNamespace(_) => SUBSCRIBE_NAMESPACE,
			Self::Namespace(_) => NAMESPACE,
			Self::NamespaceDone(_) => NAMESPACE_DONE,
			Self::Goaway(_) => GOAWAY,
			Self::Fetch(_) => FETCH,
			Self::FetchOk(_) => FETCH_OK,
			Self::Unsupported(m) => m.ty.into_inner(),
		}
	}

	/// The message's name, for logs.
	pub fn name(&self) -> &'static str {
		match self {
			Self::Subscribe(_) => "SUBSCRIBE",
			Self::SubscribeOk(_) => "SUBSCRIBE_OK",
			Self::RequestOk(_) => "REQUEST_OK",
			Self::RequestError(_) => "REQUEST_ERROR",
			Self::RequestUpdate(_) => "REQUEST_UPDATE",
			Self::PublishDone(_) => "PUBLISH_DONE",
			Self::PublishNamespace(_) => "PUBLISH_NAMESPACE",
			Self::SubscribeNamespace(_) => "SUBSCRIBE_NAMESPACE",
			Self::Namespace(_) => "NAMESPACE",
			Self::NamespaceDone(_) => "NAMESPACE_DONE",
			Self::Goaway(_) => "GOAWAY",
			Self::Fetch(_) => "FETCH",
			Self::FetchOk(_) => "FETCH_OK",
			Self::Unsupported(m) => m.name(),
		}
	}
}

fn unsupported_name(ty: u64) -> Option<&'static str> {
	use message_type::*;
	Some(match ty {
		PUBLISH => "PUBLISH",
		TRACK_STATUS => "TRACK_STATUS",
		SUBSCRIBE_TRACKS => "SUBSCRIBE_TRACKS",
		_ => return None,
	})
}

/// The form every draft-14/16 message of this module refuses.
fn only_request_streams(draft: Draft) -> Result<(), DecodeError> {
	match draft.has_request_streams() {
		true => Ok(()),
		false => Err(DecodeError::InvalidValue {
			field: "draft-18 request stream message",
			value: u64::from(draft.number()),
		}),
	}
}

impl DecodeWith<Draft> for RequestMessage {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		only_request_streams(draft)?;
		let ty = get_var_in(buf, draft)?;
		if buf.remaining() < 2 {
			return Err(DecodeError::UnexpectedEnd);
		}
		let len = usize::from(buf.get_u16());
		if buf.remaining() < len {
			return Err(DecodeError::UnexpectedEnd);
		}
		let body = buf.copy_to_bytes(len);
		// A Location parameter as the text and the published Rust client write it (two bare
		// integers), or, when the body reads as nothing else, as `@moq/net` 0.3.4 writes it on
		// draft-20 (a Length, then the two integers): the relay reads both clients.
		decode_whole(ty, body.clone(), draft, LocationForm::Bare)
			.or_else(|err| decode_whole(ty, body, draft, LocationForm::Prefixed).map_err(|_| err))
	}
}

/// How a Location Message Parameter (LARGEST_OBJECT) is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LocationForm {
	/// Two integers (draft-18 §10.2, and the published Rust client).
	Bare,
	/// A Length, then the two integers filling it (`@moq/net` 0.3.4 on draft-20).
	Prefixed,
}

/// A request's Request ID and, on draft-17, the Required Request ID Delta after it: the request
/// needs the one `2 × delta` below it to have been processed first (a delta past half the Request
/// ID names none: INVALID_REQUIRED_REQUEST_ID). The relay handles requests in arrival order and
/// does not hold one for another, so the delta is checked and not kept (the published client
/// writes 0 and ignores the field).
fn decode_request_id(body: &mut Bytes, draft: Draft) -> Result<VarInt, DecodeError> {
	let request_id = get_var_in(body, draft)?;
	if draft.required_request_id() {
		let delta = get_var_in(body, draft)?.into_inner();
		if delta > request_id.into_inner() / 2 {
			return Err(DecodeError::InvalidRequiredRequestId {
				request_id: request_id.into_inner(),
				delta,
			});
		}
	}
	Ok(request_id)
}

/// A whole message body of type `ty`.
fn decode_whole(ty: VarInt, body: Bytes, draft: Draft, location: LocationForm) -> Result<RequestMessage, DecodeError> {
	crate::coding::whole(body, "draft-18 message", |body| decode_body(ty, body, draft, location))
}

fn decode_body(
	ty: VarInt,
	body: &mut Bytes,
	draft: Draft,
	location: LocationForm,
) -> Result<RequestMessage, DecodeError> {
	use message_type::*;
	let reason = |body: &mut Bytes| decode_text(body, draft, "Reason Phrase", MAX_REASON_LEN);
	let request_id = |body: &mut Bytes| decode_request_id(body, draft);
	let ty = match ty.into_inner() {
		// Draft-17 numbers SUBSCRIBE_NAMESPACE as draft-16 did, and has no SUBSCRIBE_TRACKS.
		SUBSCRIBE_NAMESPACE_17 if draft.subscribe_namespace_options() => VarInt::from_u32(SUBSCRIBE_NAMESPACE as u32),
		SUBSCRIBE_NAMESPACE | SUBSCRIBE_TRACKS if draft.subscribe_namespace_options() => {
			return Err(DecodeError::UnknownMessageType {
				message: "draft-17 request stream",
				ty,
			});
		}
		_ => ty,
	};
	Ok(match ty.into_inner() {
		SUBSCRIBE => RequestMessage::Subscribe(Subscribe {
			request_id: request_id(body)?,
			namespace: decode_namespace(body, draft)?,
			track: decode_text(body, draft, "Track Name", MAX_CONTROL_LEN as usize)?,
			parameters: outside_update(MessageParameters::decode(body, draft, location)?)?,
		}),
		SUBSCRIBE_OK => {
			let track_alias = get_var_in(body, draft)?;
			let parameters = outside_update(MessageParameters::decode(body, draft, location)?)?;
			RequestMessage::SubscribeOk(SubscribeOk {
				track_alias,
				parameters,
				properties: decode_properties(body, draft)?,
			})
		}
		REQUEST_OK => RequestMessage::RequestOk(outside_update(MessageParameters::decode(body, draft, location)?)?),
		REQUEST_ERROR => RequestMessage::RequestError(RequestError {
			code: get_var_in(body, draft)?,
			retry_interval: get_var_in(body, draft)?,
			reason: reason(body)?,
		}),
		REQUEST_UPDATE => RequestMessage::RequestUpdate(RequestUpdate {
			request_id: request_id(body)?,
			parameters: MessageParameters::decode(body, draft, location)?,
		}),
		PUBLISH_DONE => RequestMessage::PublishDone(PublishDone {
			status: get_var_in(body, draft)?,
			stream_count: get_var_in(body, draft)?,
			reason: reason(body)?,
		}),
		PUBLISH_NAMESPACE | SUBSCRIBE_NAMESPACE => {
			let request_id = request_id(body)?;
			let namespace = decode_namespace(body, draft)?;
			let options = match ty.into_inner() == SUBSCRIBE_NAMESPACE && draft.subscribe_namespace_options() {
				true => Some(get_var_in(body, draft)?),
				false => None,
			};
			let request = NamespaceRequest {
				request_id,
				namespace,
				options,
				parameters: outside_update(MessageParameters::decode(body, draft, location)?)?,
			};
			match ty.into_inner() {
				PUBLISH_NAMESPACE => RequestMessage::PublishNamespace(request),
				_ => RequestMessage::SubscribeNamespace(request),
			}
		}
		NAMESPACE => RequestMessage::Namespace(decode_namespace(body, draft)?),
		NAMESPACE_DONE => RequestMessage::NamespaceDone(decode_namespace(body, draft)?),
		GOAWAY => {
			let uri = decode_text(body, draft, "New Session URI", MAX_GOAWAY_URI_LEN)?;
			let timeout = get_var_in(body, draft)?;
			// Draft-19 removed the Request ID: after the Timeout a draft-19 or later GOAWAY ends.
			let request_id = match body.has_remaining() && draft.goaway_has_request_id() {
				true => Some(get_var_in(body, draft)?),
				false => None,
			};
			RequestMessage::Goaway(Goaway {
				uri,
				timeout,
				request_id,
			})
		}
		FETCH => {
			let request_id = request_id(body)?;
			let target = match draft.fetch_by_filter() {
				true => FetchTarget::Track {
					namespace: decode_namespace(body, draft)?,
					track: decode_text(body, draft, "Track Name", MAX_CONTROL_LEN as usize)?,
				},
				false => FetchTarget::Typed(decode_fetch_type(body, draft)?),
			};
			RequestMessage::Fetch(Fetch {
				request_id,
				target,
				parameters: outside_update(MessageParameters::decode(body, draft, location)?)?,
			})
		}
		FETCH_OK => {
			let end_of_track = match body.get_byte()? {
				0 => false,
				1 => true,
				value => {
					return Err(DecodeError::InvalidValue {
						field: "End Of Track",
						value: value.into(),
					});
				}
			};
			let end = (
				get_var_in(body, draft)?.into_inner(),
				get_var_in(body, draft)?.into_inner(),
			);
			let parameters = outside_update(MessageParameters::decode(body, draft, location)?)?;
			RequestMessage::FetchOk(FetchOk {
				end_of_track,
				end,
				parameters,
				properties: decode_properties(body, draft)?,
			})
		}
		other if unsupported_name(other).is_some() => RequestMessage::Unsupported(UnsupportedRequest {
			ty,
			body: body.split_off(0),
		}),
		_ => {
			return Err(DecodeError::UnknownMessageType {
				message: "draft-18 request stream",
				ty,
			});
		}
	})
}

/// Track Properties: delta-coded Key-Value-Pairs to the end of the message (SUBSCRIBE_OK,
/// FETCH_OK), at most [`MAX_PARAMETERS`].
fn decode_properties(body: &mut Bytes, draft: Draft) -> Result<Vec<KeyValue>, DecodeError> {
	let mut properties = Vec::new();
	let mut previous = VarInt::ZERO;
	while body.has_remaining() {
		if properties.len() == MAX_PARAMETERS {
			return Err(DecodeError::TooLarge {
				what: "Track Property count",
				len: MAX_PARAMETERS as u64 + 1,
				max: MAX_PARAMETERS as u64,
			});
		}
		properties.push(decode_pair(body, draft, &mut previous)?);
	}
	Ok(properties)
}

/// Track Properties as [`decode_properties`] reads them.
fn encode_properties(body: &mut Vec<u8>, properties: &[KeyValue], draft: Draft) -> Result<(), EncodeError> {
	if properties.len() > MAX_PARAMETERS {
		return Err(EncodeError::TooLarge {
			what: "Track Property count",
			len: properties.len() as u64,
			max: MAX_PARAMETERS as u64,
		});
	}
	body.extend(encode_pairs(properties, draft)?);
	Ok(())
}

/// A Fetch Type and its fields (draft-17 to draft-19), in this draft's integers.
fn decode_fetch_type(body: &mut Bytes, draft: Draft) -> Result<super::fetch::FetchType, DecodeError> {
	use super::fetch::FetchType;
	let location = |body: &mut Bytes| -> Result<Location, DecodeError> {
		Ok(Location {
			group: get_var_in(body, draft)?,
			object: get_var_in(body, draft)?,
		})
	};
	Ok(match get_var_in(body, draft)?.into_inner() {
		0x1 => FetchType::Standalone {
			namespace: decode_namespace(body, draft)?,
			track: decode_text(body, draft, "Track Name", MAX_CONTROL_LEN as usize)?,
			start: location(body)?,
			end: location(body)?,
		},
		0x2 => FetchType::RelativeJoining {
			joining_request_id: get_var_in(body, draft)?,
			joining_start: get_var_in(body, draft)?,
		},
		0x3 => FetchType::AbsoluteJoining {
			joining_request_id: get_var_in(body, draft)?,
			joining_start: get_var_in(body, draft)?,
		},
		value => {
			return Err(DecodeError::InvalidValue {
				field: "Fetch Type",
				value,
			});
		}
	})
}

/// A Fetch Type and its fields as [`decode_fetch_type`] reads them.
fn encode_fetch_type(
	body: &mut Vec<u8>,
	fetch_type: &super::fetch::FetchType,
	draft: Draft,
) -> Result<(), EncodeError> {
	use super::fetch::FetchType;
	match fetch_type {
		FetchType::Standalone {
			namespace,
			track,
			start,
			end,
		} => {
			put_var_in(body, draft, VarInt::from_u32(0x1));
			encode_namespace(body, draft, namespace)?;
			encode_text(body, draft, track, "Track Name", MAX_CONTROL_LEN as usize)?;
			for value in [start.group, start.object, end.group, end.object] {
				put_var_in(body, draft, value);
			}
		}
		FetchType::RelativeJoining {
			joining_request_id,
			joining_start,
		}
		| FetchType::AbsoluteJoining {
			joining_request_id,
			joining_start,
		} => {
			let ty = match fetch_type {
				FetchType::RelativeJoining { .. } => 0x2,
				_ => 0x3,
			};
			put_var_in(body, draft, VarInt::from_u32(ty));
			put_var_in(body, draft, *joining_request_id);
			put_var_in(body, draft, *joining_start);
		}
	}
	Ok(())
}

/// A message's parameters, refused when they carry TRACK_PROPERTY_FILTER: it belongs to
/// SUBSCRIBE_TRACKS (which the relay does not read) and its REQUEST_UPDATEs alone (draft-19,
/// "Parameter Scope": in any other message a PROTOCOL_VIOLATION).
fn outside_update(parameters: MessageParameters) -> Result<MessageParameters, DecodeError> {
	match parameters.get(parameter::TRACK_PROPERTY_FILTER) {
		Some(_) => Err(DecodeError::InvalidValue {
			field: "Message Parameter Type",
			value: parameter::TRACK_PROPERTY_FILTER,
		}),
		None => Ok(parameters),
	}
}

impl EncodeWith<Draft> for RequestMessage {
	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		if !draft.has_request_streams() {
			return Err(EncodeError::InvalidValue {
				field: "draft-18 request stream message",
				reason: "only draft-18 and later have request streams",
			});
		}
		let mut body = Vec::new();
		let reason = |body: &mut Vec<u8>, text: &str| encode_text(body, draft, text, "Reason Phrase", MAX_REASON_LEN);
		let request_id = |body: &mut Vec<u8>, id: VarInt| {
			put_var_in(body, draft, id);
			// Draft-17's Required Request ID Delta: 0, this request waits for none.
			if draft.required_request_id() {
				put_var_in(body, draft, VarInt::ZERO);
			}
		};
		match self {
			Self::Subscribe(m) => {
				request_id(&mut body, m.request_id);
				encode_namespace(&mut body, draft, &m.namespace)?;
				encode_text(&mut body, draft, &m.track, "Track Name", MAX_CONTROL_LEN as usize)?;
				m.parameters.encode(&mut body, draft)?;
			}
			Self::SubscribeOk(m) => {
				put_var_in(&mut body, draft, m.track_alias);
				m.parameters.encode(&mut body, draft)?;
				encode_properties(&mut body, &m.properties, draft)?;
			}
			Self::Fetch(m) => {
				request_id(&mut body, m.request_id);
				match (&m.target, draft.fetch_by_filter()) {
					(FetchTarget::Track { namespace, track }, true) => {
						encode_namespace(&mut body, draft, namespace)?;
						encode_text(&mut body, draft, track, "Track Name", MAX_CONTROL_LEN as usize)?;
					}
					(FetchTarget::Typed(fetch_type), false) => encode_fetch_type(&mut body, fetch_type, draft)?,
					_ => {
						return Err(EncodeError::InvalidValue {
							field: "FETCH",
							reason: "a Fetch Type before draft-20, a track and LOCATION_FILTER from draft-20 on",
						});
					}
				}
				m.parameters.encode(&mut body, draft)?;
			}
			Self::FetchOk(m) => {
				body.put_u8(u8::from(m.end_of_track));
				for value in [m.end.0, m.end.1] {
					let value = VarInt::from_u64(value).map_err(|_| EncodeError::InvalidValue {
						field: "End Location",
						reason: "beyond 2^62",
					})?;
					put_var_in(&mut body, draft, value);
				}
				m.parameters.encode(&mut body, draft)?;
				encode_properties(&mut body, &m.properties, draft)?;
			}
			Self::RequestOk(parameters) => parameters.encode(&mut body, draft)?,
			Self::RequestError(m) => {
				put_var_in(&mut body, draft, m.code);
				put_var_in(&mut body, draft, m.retry_interval);
				reason(&mut body, &m.reason)?;
			}
			Self::RequestUpdate(m) => {
				request_id(&mut body, m.request_id);
				m.parameters.encode(&mut body, draft)?;
			}
			Self::PublishDone(m) => {
				put_var_in(&mut body, draft, m.status);
				put_var_in(&mut body, draft, m.stream_count);
				reason(&mut body, &m.reason)?;
			}
			Self::PublishNamespace(m) | Self::SubscribeNamespace(m) => {
				request_id(&mut body, m.request_id);
				encode_namespace(&mut body, draft, &m.namespace)?;
				let options = matches!(self, Self::SubscribeNamespace(_)) && draft.subscribe_namespace_options();
				match (m.options, options) {
					(Some(value), true) => put_var_in(&mut body, draft, value),
					(None, false) => {}
					(None, true) => {
						return Err(EncodeError::InvalidValue {
							field: "Subscribe Options",
							reason: "a draft-17 SUBSCRIBE_NAMESPACE carries them",
						});
					}
					(Some(_), false) => {
						return Err(EncodeError::InvalidValue {
							field: "Subscribe Options",
							reason: "only a draft-17 SUBSCRIBE_NAMESPACE carries them",
						});
					}
				}
				m.parameters.encode(&mut body, draft)?;
			}
			Self::Namespace(suffix) | Self::NamespaceDone(suffix) => encode_namespace(&mut body, draft, suffix)?,
			Self::Goaway(m) => {
				encode_text(&mut body, draft, &m.uri, "New Session URI", MAX_GOAWAY_URI_LEN)?;
				put_var_in(&mut body, draft, m.timeout);
				match (m.request_id, draft.goaway_has_request_id()) {
					(Some(id), true) => put_var_in(&mut body, draft, id),
					(None, _) => {}
					(Some(_), false) => {
						return Err(EncodeError::InvalidValue {
							field: "GOAWAY Request ID",
							reason: "draft-19 removed it",
						});
					}
				}
			}
			Self::Unsupported(m) => body.extend_from_slice(&m.body),
		}
		let len = u16::try_from(body.len()).map_err(|_| EncodeError::TooLarge {
			what: self.name(),
			len: body.len() as u64,
			max: MAX_CONTROL_LEN,
		})?;
		put_var_in(
			buf,
			draft,
			VarInt::from_u64(self.type_id_in(draft)).unwrap_or(VarInt::MAX),
		);
		buf.put_u16(len);
		buf.put_slice(&body);
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::*;
	use crate::strategy;

	fn text() -> impl Strategy<Value = String> {
		"[a-z0-9/]{0,12}"
	}

	/// LARGEST_OBJECT as the Rust client writes it (two bare integers) and as `@moq/net` 0.3.4
	/// writes it on draft-20 (a Length first): both read as the same Location; written bare.
	#[test]
	fn largest_object_bare_or_length_prefixed() {
		// SUBSCRIBE_OK, Track Alias 1, one parameter: LARGEST_OBJECT (0x09) {5, 2}.
		let bare = [0x04, 0x00, 0x05, 0x01, 0x01, 0x09, 0x05, 0x02];
		let prefixed = [0x04, 0x00, 0x06, 0x01, 0x01, 0x09, 0x02, 0x05, 0x02];
		let expected = Location {
			group: VarInt::from_u32(5),
			object: VarInt::from_u32(2),
		};
		for (bytes, draft) in [
			(&bare[..], Draft::Draft18),
			(&bare[..], Draft::Draft20),
			(&prefixed[..], Draft::Draft20),
		] {
			let Ok(RequestMessage::SubscribeOk(ok)) = RequestMessage::decode(&mut &bytes[..], draft) else {
				panic!("{bytes:02x?} under {draft:?}")
			};
			assert_eq!(ok.track_alias, VarInt::from_u32(1));
			assert_eq!(ok.parameters.0.len(), 1);
			assert_eq!(ok.parameters.0[0].value, ParamValue::Location(expected));
			assert_eq!(RequestMessage::SubscribeOk(ok).to_bytes(draft).unwrap(), bare);
		}
		// Bytes that read as neither form (bare: a Track Property without its value; prefixed: a
		// Length past the body). Where both forms read, the bare one is taken.
		let short = [0x04, 0x00, 0x06, 0x01, 0x01, 0x09, 0x03, 0x05, 0x02];
		assert!(RequestMessage::decode(&mut &short[..], Draft::Draft20).is_err());
	}

	/// FETCH in its three forms (draft-17 with its Required Request ID Delta, draft-18 and
	/// draft-19 by Fetch Type, draft-20 on by track with the range in LOCATION_FILTER) and
	/// FETCH_OK, byte for byte both ways.
	#[test]
	fn fetch_and_fetch_ok_in_each_form() {
		use super::super::fetch::FetchType;
		let standalone = FetchTarget::Typed(FetchType::Standalone {
			namespace: vec!["b".into()],
			track: "t".into(),
			start: Location::new(VarInt::from_u32(5), VarInt::ZERO),
			end: Location::new(VarInt::from_u32(6), VarInt::ZERO),
		});
		let fetch = |target| {
			RequestMessage::Fetch(Fetch {
				request_id: VarInt::from_u32(4),
				target,
				parameters: MessageParameters::default(),
			})
		};
		// Request ID 4, Fetch Type 1, namespace ["b"], track "t", {5, 0} to {6, 0}, no parameters.
		let typed = [0x04, 0x01, 0x01, 0x01, b'b', 0x01, b't', 0x05, 0x00, 0x06, 0x00, 0x00];
		let with_delta = [&[0x04, 0x00][..], &typed[1..]].concat();
		let by_track = [0x04, 0x01, 0x01, b'b', 0x01, b't', 0x00];
		let track = FetchTarget::Track {
			namespace: vec!["b".into()],
			track: "t".into(),
		};
		for (draft, body, target) in [
			(Draft::Draft17, &with_delta[..], standalone.clone()),
			(Draft::Draft18, &typed[..], standalone.clone()),
			(Draft::Draft19, &typed[..], standalone.clone()),
			(Draft::Draft20, &by_track[..], track.clone()),
			(Draft::Draft22, &by_track[..], track.clone()),
		] {
			let bytes = [&[0x16, 0x00, body.len() as u8][..], body].concat();
			assert_eq!(
				RequestMessage::decode(&mut &bytes[..], draft).unwrap(),
				fetch(target.clone()),
				"{draft:?}"
			);
			assert_eq!(fetch(target).to_bytes(draft).unwrap(), bytes, "{draft:?}");
		}
		// A Fetch Type from draft-20 on, a track before, and an unknown Fetch Type: refused.
		assert!(fetch(standalone).to_bytes(Draft::Draft20).is_err());
		assert!(fetch(track).to_bytes(Draft::Draft18).is_err());
		let unknown = [0x16, 0x00, 0x03, 0x04, 0x04, 0x00];
		assert!(matches!(
			RequestMessage::decode(&mut &unknown[..], Draft::Draft18),
			Err(DecodeError::InvalidValue {
				field: "Fetch Type",
				value: 4
			})
		));

		// FETCH_OK: not End Of Track, End Location {5, 3}, no parameters, no properties.
		let ok = RequestMessage::FetchOk(FetchOk {
			end_of_track: false,
			end: (5, 3),
			parameters: MessageParameters::default(),
			properties: Vec::new(),
		});
		let bytes = [0x18, 0x00, 0x04, 0x00, 0x05, 0x03, 0x00];
		assert_eq!(ok.to_bytes(Draft::Draft20).unwrap(), bytes);
		assert_eq!(RequestMessage::decode(&mut &bytes[..], Draft::Draft20).unwrap(), ok);
		let bad = [0x18, 0x00, 0x04, 0x02, 0x05, 0x03, 0x00];
		assert!(RequestMessage::decode(&mut &bad[..], Draft::Draft20).is_err());
	}

	fn namespace() -> impl Strategy<Value = Vec<String>> {
		prop::collection::vec(text(), 0..4)
	}

	fn parameters() -> impl Strategy<Value = MessageParameters> {
		(
			prop::option::of(0u8..=1),
			prop::option::of(any::<u8>()),
			prop::option::of(strategy::varint()),
			prop::option::of((strategy::varint(), strategy::varint())),
			prop::option::of(prop::collection::vec(any::<u8>(), 0..8)),
		)
			.prop_map(|(forward, priority, expires, largest, filter)| {
				let mut p = MessageParameters::default();
				if let Some(v) = forward {
					p = p.with(parameter::FORWARD, ParamValue::Byte(v));
				}
				if let Some(v) = priority {
					p = p.with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(v));
				}
				if let Some(v) = expires {
					p = p.with(parameter::EXPIRES, ParamValue::Int(v));
				}
				if let Some((group, object)) = largest {
					p = p.with(
						parameter::LARGEST_OBJECT,
						ParamValue::Location(Location { group, object }),
					);
				}
				if let Some(v) = filter {
					p = p.with(parameter::SUBSCRIPTION_FILTER, ParamValue::Bytes(v.into()));
				}
				p
			})
	}

	fn message() -> impl Strategy<Value = RequestMessage> {
		prop_oneof![
			(strategy::varint(), namespace(), text(), parameters()).prop_map(
				|(request_id, namespace, track, parameters)| {
					RequestMessage::Subscribe(Subscribe {
						request_id,
						namespace,
						track,
						parameters,
					})
				}
			),
			(
				strategy::varint(),
				parameters(),
				prop::collection::vec(super::super::setup::tests::pair(), 0..3)
			)
				.prop_map(|(track_alias, parameters, mut properties)| {
					// Written in ascending order, as they are read back.
					properties.sort_by_key(|p| p.key);
					RequestMessage::SubscribeOk(SubscribeOk {
						track_alias,
						parameters,
						properties,
					})
				}),
			parameters().prop_map(RequestMessage::RequestOk),
			(strategy::varint(), strategy::varint(), text()).prop_map(|(code, retry_interval, reason)| {
				RequestMessage::RequestError(RequestError {
					code,
					retry_interval,
					reason,
				})
			}),
			(strategy::varint(), parameters()).prop_map(|(request_id, parameters)| RequestMessage::RequestUpdate(
				RequestUpdate { request_id, parameters }
			)),
			(strategy::varint(), strategy::varint(), text()).prop_map(|(status, stream_count, reason)| {
				RequestMessage::PublishDone(PublishDone {
					status,
					stream_count,
					reason,
				})
			}),
			(strategy::varint(), namespace(), parameters(), any::<bool>()).prop_map(
				|(request_id, namespace, parameters, publish)| {
					let request = NamespaceRequest {
						request_id,
						namespace,
						options: None,
						parameters,
					};
					match publish {
						true => RequestMessage::PublishNamespace(request),
						false => RequestMessage::SubscribeNamespace(request),
					}
				}
			),
			namespace().prop_map(RequestMessage::Namespace),
			namespace().prop_map(RequestMessage::NamespaceDone),
			(text(), strategy::varint(), prop::option::of(strategy::varint())).prop_map(
				|(uri, timeout, request_id)| {
					RequestMessage::Goaway(Goaway {
						uri,
						timeout,
						request_id,
					})
				}
			),
		]
	}

	/// `message` as draft `draft` can carry it: no GOAWAY Request ID after draft-18, and on
	/// draft-22 a SUBSCRIPTION_FILTER in its typed form (Relative Start, 3).
	fn for_draft(mut message: RequestMessage, draft: Draft) -> RequestMessage {
		let fix = |p: &mut MessageParameters| {
			for parameter in &mut p.0 {
				if draft.typed_filter() && parameter.key.into_inner() == parameter::SUBSCRIPTION_FILTER {
					parameter.value = ParamValue::Bytes(Bytes::from_static(&[0x01, 0x03]));
				}
			}
		};
		match &mut message {
			RequestMessage::Goaway(g) if !draft.goaway_has_request_id() => g.request_id = None,
			RequestMessage::Subscribe(Subscribe { parameters, .. })
			| RequestMessage::SubscribeOk(SubscribeOk { parameters, .. })
			| RequestMessage::RequestOk(parameters)
			| RequestMessage::RequestUpdate(RequestUpdate { parameters, .. })
			| RequestMessage::PublishNamespace(NamespaceRequest { parameters, .. })
			| RequestMessage::SubscribeNamespace(NamespaceRequest { parameters, .. }) => fix(parameters),
			_ => {}
		}
		message
	}

	proptest! {
		#[test]
		fn later_drafts_round_trip(message in message(), which in 0usize..3) {
			let draft = [Draft::Draft20, Draft::Draft21, Draft::Draft22][which];
			let message = for_draft(message, draft);
			let bytes = message.to_bytes(draft).unwrap();
			let (read, used) = RequestMessage::decode_prefix(&bytes, draft).unwrap();
			prop_assert_eq!(used, bytes.len());
			prop_assert_eq!(read.to_bytes(draft).unwrap(), bytes.clone());
			for cut in 0..bytes.len() {
				prop_assert_eq!(RequestMessage::decode_prefix(&bytes[..cut], draft).unwrap_err(), DecodeError::UnexpectedEnd);
			}
		}

		#[test]
		fn round_trip(message in message()) {
			let bytes = message.to_bytes(D18).unwrap();
			let (read, used) = RequestMessage::decode_prefix(&bytes, D18).unwrap();
			prop_assert_eq!(used, bytes.len());
			// Parameters come back in ascending type order.
			prop_assert_eq!(read.to_bytes(D18).unwrap(), bytes);
		}

		#[test]
		fn every_prefix_asks_for_more(message in message()) {
			let bytes = message.to_bytes(D18).unwrap();
			for cut in 0..bytes.len() {
				prop_assert_eq!(RequestMessage::decode_prefix(&bytes[..cut], D18).unwrap_err(), DecodeError::UnexpectedEnd);
			}
		}
	}

	#[test]
	fn bytes_of_a_subscribe() {
		// SUBSCRIBE 0, ("anon", "room"), "video", FORWARD 1, SUBSCRIBER_PRIORITY 128.
		let message = RequestMessage::Subscribe(Subscribe {
			request_id: VarInt::ZERO,
			namespace: vec!["anon".into(), "room".into()],
			track: "video".into(),
			parameters: MessageParameters::default()
				.with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(128))
				.with(parameter::FORWARD, ParamValue::Byte(1)),
		});
		let bytes = message.to_bytes(D18).unwrap();
		let mut want = vec![0x03, 0x00, 0x00, 0x00, 0x02, 4];
		want.extend(b"anon");
		want.push(4);
		want.extend(b"room");
		want.push(5);
		want.extend(b"video");
		// Two parameters: FORWARD (delta 0x10) 1, then SUBSCRIBER_PRIORITY (delta 0x10) 128, raw bytes.
		want.extend([0x02, 0x10, 0x01, 0x10, 0x80]);
		let len = (want.len() - 3) as u16;
		want[1..3].copy_from_slice(&len.to_be_bytes());
		assert_eq!(bytes, want);
	}

	/// A SUBSCRIBE as the published client pinned to draft-17, -18 or -19 writes it, with Request
	/// ID `request_id` (and on draft-17 the Required Request ID Delta `delta` after it): FORWARD 1,
	/// SUBSCRIBER_PRIORITY 128, SUBSCRIPTION_FILTER Largest Object (a Length of 1, Filter Type 2),
	/// GROUP_ORDER 2.
	fn client_subscribe_bytes(request_id: u8, delta: Option<u8>) -> Vec<u8> {
		let mut payload = vec![request_id];
		payload.extend(delta);
		payload.extend([0x01, 4]);
		payload.extend(b"room");
		payload.push(5);
		payload.extend(b"video");
		payload.extend([0x04, 0x10, 0x01, 0x10, 0x80, 0x01, 0x01, 0x02, 0x01, 0x02]);
		let mut bytes = vec![0x03];
		bytes.extend((payload.len() as u16).to_be_bytes());
		bytes.extend(payload);
		bytes
	}

	/// A SUBSCRIBE as the published client pinned to draft-20 writes its live join: FORWARD 1,
	/// SUBSCRIBER_PRIORITY 128, LOCATION_FILTER Next Object (two zero integers), GROUP_ORDER 2,
	/// FILL (one parameter: LOCATION_FILTER Relative 1).
	fn draft20_subscribe() -> Vec<u8> {
		let mut payload = vec![0x00, 0x01, 4];
		payload.extend(b"room");
		payload.push(5);
		payload.extend(b"video");
		payload.extend([
			0x05, 0x10, 0x01, 0x10, 0x80, 0x01, 0x02, 0x00, 0x00, 0x01, 0x02, 0x01, 0x04, 0x01, 0x21, 0x01, 0x01,
		]);
		let mut bytes = vec![0x03];
		bytes.extend((payload.len() as u16).to_be_bytes());
		bytes.extend(payload);
		bytes
	}

	#[test]
	fn draft20_forms() {
		let bytes = draft20_subscribe();
		let (read, used) = RequestMessage::decode_prefix(&bytes, Draft::Draft20).unwrap();
		assert_eq!(used, bytes.len());
		let RequestMessage::Subscribe(subscribe) = &read else {
			panic!("a SUBSCRIBE");
		};
		assert_eq!(
			subscribe.parameters.get(parameter::SUBSCRIPTION_FILTER),
			Some(&ParamValue::Bytes(Bytes::from_static(&[0x00, 0x00])))
		);
		assert_eq!(
			subscribe.parameters.get(parameter::FILL),
			Some(&ParamValue::Bytes(Bytes::from_static(&[0x01, 0x21, 0x01, 0x01])))
		);
		assert_eq!(read.to_bytes(Draft::Draft21).unwrap(), bytes);
		// Draft-18 has no FILL: an unknown parameter, refused.
		assert!(matches!(
			RequestMessage::decode_prefix(&bytes, D18),
			Err(DecodeError::InvalidValue { value: 0x23, .. })
		));
		// INCLUDE_PROPERTIES is a byte, 0 or 1, from draft-20 on.
		let ok = |value: u8| [0x07, 0x00, 0x03, 0x01, 0x35, value];
		assert!(RequestMessage::decode_prefix(&ok(0), Draft::Draft20).is_ok());
		assert!(RequestMessage::decode_prefix(&ok(2), Draft::Draft20).is_err());
		assert!(RequestMessage::decode_prefix(&ok(0), D18).is_err());
		// A Range Filter may repeat.
		let ranges = [0x07, 0x00, 0x07, 0x02, 0x25, 0x01, 0xAA, 0x00, 0x01, 0xBB];
		assert!(RequestMessage::decode_prefix(&ranges, Draft::Draft20).is_ok());
		// GOAWAY: draft-18 reads a Request ID after the Timeout, draft-20 none.
		let goaway = [0x10, 0x00, 0x03, 0x00, 0x00, 0x07];
		assert_eq!(
			RequestMessage::decode_prefix(&goaway, D18).unwrap().0,
			RequestMessage::Goaway(Goaway {
				uri: String::new(),
				timeout: VarInt::ZERO,
				request_id: Some(VarInt::from_u32(7)),
			})
		);
		assert!(matches!(
			RequestMessage::decode_prefix(&goaway, Draft::Draft20),
			Err(DecodeError::TrailingBytes { .. })
		));
		let with_id = RequestMessage::Goaway(Goaway {
			uri: String::new(),
			timeout: VarInt::ZERO,
			request_id: Some(VarInt::ZERO),
		});
		assert!(with_id.to_bytes(Draft::Draft20).is_err());
	}

	/// Draft-19 is draft-18 with draft-20's GOAWAY and the Range Filters, and without FILL,
	/// INCLUDE_PROPERTIES or draft-20's filter integers.
	#[test]
	fn draft19_between_its_neighbours() {
		const D19: Draft = Draft::Draft19;
		// A Range Filter (twice): known from draft-19 on, unknown on draft-18.
		let ranges = [0x07, 0x00, 0x07, 0x02, 0x25, 0x01, 0xAA, 0x00, 0x01, 0xBB];
		let (read, _) = RequestMessage::decode_prefix(&ranges, D19).unwrap();
		assert_eq!(read.to_bytes(D19).unwrap(), ranges);
		assert!(matches!(
			RequestMessage::decode_prefix(&ranges, D18),
			Err(DecodeError::InvalidValue { value: 0x25, .. })
		));
		// TRACK_PROPERTY_FILTER belongs to REQUEST_UPDATE: in any other message it is a
		// PROTOCOL_VIOLATION (an invalid value).
		let update = [0x02, 0x00, 0x05, 0x00, 0x01, 0x29, 0x01, 0xAA];
		let (read, _) = RequestMessage::decode_prefix(&update, D19).unwrap();
		assert_eq!(read.to_bytes(D19).unwrap(), update);
		let ok = [0x07, 0x00, 0x04, 0x01, 0x29, 0x01, 0xAA];
		let subscribe = [0x03, 0x00, 0x09, 0x00, 0x01, 0x01, 0x61, 0x01, 0x74, 0x01, 0x29, 0x00];
		for scoped in [&ok[..], &subscribe[..]] {
			assert!(
				matches!(
					RequestMessage::decode_prefix(scoped, D19),
					Err(DecodeError::InvalidValue { value: 0x29, .. })
				),
				"{scoped:02x?}"
			);
		}
		// FILL and INCLUDE_PROPERTIES are draft-20's.
		for unknown in [
			[0x07, 0x00, 0x03, 0x01, 0x35, 0x00],
			[0x07, 0x00, 0x03, 0x01, 0x23, 0x00],
		] {
			assert!(RequestMessage::decode_prefix(&unknown, D19).is_err(), "{unknown:02x?}");
		}
		// GOAWAY ends after the Timeout, as on draft-20.
		let goaway = [0x10, 0x00, 0x03, 0x00, 0x00, 0x07];
		assert!(matches!(
			RequestMessage::decode_prefix(&goaway, D19),
			Err(DecodeError::TrailingBytes { .. })
		));
		let bare = RequestMessage::Goaway(Goaway {
			uri: String::new(),
			timeout: VarInt::ZERO,
			request_id: None,
		});
		assert_eq!(bare.to_bytes(D19).unwrap(), [0x10, 0x00, 0x02, 0x00, 0x00]);
		// The published client's draft-19 SUBSCRIBE is its draft-18 one: the filter a Filter Type
		// (Largest Object, `01 02`) in a Length, which draft-19 reads as draft-18 does.
		let subscribe = client_subscribe_bytes(0, None);
		let (d18, _) = RequestMessage::decode_prefix(&subscribe, D18).unwrap();
		let (d19, _) = RequestMessage::decode_prefix(&subscribe, D19).unwrap();
		assert_eq!(d18, d19);
		assert_eq!(d19.to_bytes(D19).unwrap(), d18.to_bytes(D18).unwrap());
	}

	/// The SUBSCRIPTION_FILTER forms of draft-20 (by the count of integers) and draft-22 (by the
	/// Location Filter Type), as the published client writes them.
	#[test]
	fn location_filters() {
		let absolute = |group, object, end_group, end_object| LocationFilter::Absolute {
			start: (group, object),
			end_group,
			end_object,
		};
		let d20: [(&[u8], LocationFilter); 7] = [
			(&[], LocationFilter::Unfiltered),
			(&[0x00], LocationFilter::Relative(0)),
			(&[0x01], LocationFilter::Relative(1)),
			(&[0x00, 0x00], LocationFilter::NextObject),
			(&[0x05, 0x02], absolute(5, 2, None, None)),
			(&[0x05, 0x00, 0x03], absolute(5, 0, Some(8), None)),
			(&[0x05, 0x00, 0x03, 0x07], absolute(5, 0, Some(8), Some(7))),
		];
		let d22: [(&[u8], LocationFilter); 6] = [
			(&[0x00], LocationFilter::Unfiltered),
			(&[0x05], LocationFilter::NextObject),
			(&[0x01, 0x02], LocationFilter::Relative(2)),
			(&[0x02, 0x00, 0x00], absolute(0, 0, None, None)),
			(&[0x03, 0x05, 0x00, 0x03], absolute(5, 0, Some(8), None)),
			(&[0x04, 0x05, 0x00, 0x03, 0x07], absolute(5, 0, Some(8), Some(7))),
		];
		for (draft, cases) in [
			(Draft::Draft20, &d20[..]),
			(Draft::Draft21, &d20[..]),
			(Draft::Draft22, &d22[..]),
		] {
			for (value, filter) in cases {
				assert_eq!(
					LocationFilter::decode(value, draft),
					Ok(*filter),
					"{draft} {value:02x?}"
				);
				let parameters = MessageParameters::default().with(
					parameter::SUBSCRIPTION_FILTER,
					ParamValue::Bytes(Bytes::copy_from_slice(value)),
				);
				assert_eq!(parameters.location_filter(draft), Ok(*filter), "{draft} {value:02x?}");
				assert_eq!(filter.encode(draft).unwrap(), *value, "{draft} {filter:?}");
			}
			assert_eq!(
				MessageParameters::default().location_filter(draft),
				Ok(LocationFilter::Unfiltered)
			);
		}
		// Five integers; a type with the wrong count of integers; a type draft-22 lacks; an End
		// Group past the largest integer.
		let refused: [(Draft, &[u8]); 4] = [
			(Draft::Draft20, &[0x01, 0x02, 0x03, 0x04, 0x05]),
			(Draft::Draft22, &[0x02, 0x05]),
			(Draft::Draft22, &[0x06]),
			(
				Draft::Draft20,
				&[0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
			),
		];
		for (draft, value) in refused {
			assert!(LocationFilter::decode(value, draft).is_err(), "{draft} {value:02x?}");
		}
		// No form: (0, 0) as an Absolute Start before draft-22, an End Object without an End
		// Group, an End Group before the start.
		assert!(absolute(0, 0, None, None).encode(Draft::Draft20).is_err());
		assert!(absolute(5, 0, None, Some(1)).encode(Draft::Draft22).is_err());
		assert!(absolute(5, 0, Some(4), None).encode(Draft::Draft22).is_err());
		// Before draft-20 the filter has draft-18's form.
		assert!(MessageParameters::default().location_filter(Draft::Draft19).is_err());
	}

	/// Draft-17 as the published client writes it: a Required Request ID Delta after each
	/// request's Request ID, SUBSCRIBE_NAMESPACE as 0x11 with Subscribe Options, no 0x50 or 0x51,
	/// and the 7-byte integer form reserved.
	#[test]
	fn draft17_forms() {
		const D17: Draft = Draft::Draft17;
		// SUBSCRIBE_NAMESPACE: Request ID 0, delta 0, the empty prefix, options 0x1, no parameters.
		let bytes = [0x11, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00];
		let (read, used) = RequestMessage::decode_prefix(&bytes, D17).unwrap();
		assert_eq!(used, bytes.len());
		let expected = RequestMessage::SubscribeNamespace(NamespaceRequest {
			request_id: VarInt::ZERO,
			namespace: vec![],
			options: Some(VarInt::from_u32(1)),
			parameters: MessageParameters::default(),
		});
		assert_eq!(read, expected);
		assert_eq!(expected.to_bytes(D17).unwrap(), bytes);
		// The draft-18 forms are no draft-17 messages, and the reverse.
		for ty in [0x50, 0x51] {
			let mut other = bytes;
			other[0] = ty;
			assert!(matches!(
				RequestMessage::decode_prefix(&other, D17),
				Err(DecodeError::UnknownMessageType { .. })
			));
		}
		assert!(RequestMessage::decode_prefix(&bytes, D18).is_err());
		let RequestMessage::SubscribeNamespace(without) = &expected else {
			unreachable!()
		};
		let without = NamespaceRequest {
			options: None,
			..without.clone()
		};
		assert!(
			RequestMessage::SubscribeNamespace(without.clone())
				.to_bytes(D17)
				.is_err()
		);
		assert!(
			RequestMessage::SubscribeNamespace(expected_options(&without))
				.to_bytes(D18)
				.is_err()
		);

		// SUBSCRIBE as the client writes it: the delta (0) after the Request ID.
		let subscribe = client_subscribe_bytes(2, Some(0));
		let (read, _) = RequestMessage::decode_prefix(&subscribe, D17).unwrap();
		let RequestMessage::Subscribe(m) = &read else {
			panic!("a SUBSCRIBE")
		};
		assert_eq!(
			(m.request_id, m.namespace.as_slice(), m.track.as_str()),
			(VarInt::from_u32(2), &["room".to_string()][..], "video")
		);
		assert_eq!(read.to_bytes(D17).unwrap(), subscribe);
		// Without the delta it is the client's draft-18 SUBSCRIBE.
		assert_eq!(read.to_bytes(D18).unwrap(), client_subscribe_bytes(2, None));

		// A delta may name a request at most half the Request ID below (2 x 1 <= 2; 2 x 2 > 2).
		let mut far = subscribe.clone();
		far[4] = 0x02;
		let refused = RequestMessage::decode_prefix(&far, D17).unwrap_err();
		assert_eq!(
			refused,
			DecodeError::InvalidRequiredRequestId {
				request_id: 2,
				delta: 2
			}
		);
		// The session closes with draft-17's INVALID_REQUIRED_REQUEST_ID (0x7).
		assert_eq!(
			refused.disposition(),
			crate::Disposition::CloseSession(crate::ietf::termination::INVALID_REQUIRED_REQUEST_ID)
		);
		assert_eq!(crate::ietf::termination::INVALID_REQUIRED_REQUEST_ID.into_inner(), 0x7);
		let mut near = subscribe.clone();
		near[4] = 0x01;
		assert!(RequestMessage::decode_prefix(&near, D17).is_ok());

		// PUBLISH_NAMESPACE and REQUEST_UPDATE carry it too; answers and GOAWAY do not.
		let publish = RequestMessage::PublishNamespace(NamespaceRequest {
			request_id: VarInt::from_u32(4),
			namespace: vec!["room".into()],
			options: None,
			parameters: MessageParameters::default(),
		});
		let bytes = publish.to_bytes(D17).unwrap();
		assert_eq!(bytes[3..5], [0x04, 0x00]);
		assert_eq!(RequestMessage::decode_prefix(&bytes, D17).unwrap().0, publish);
		let update = RequestMessage::RequestUpdate(RequestUpdate {
			request_id: VarInt::from_u32(6),
			parameters: MessageParameters::default(),
		});
		assert_eq!(update.to_bytes(D17).unwrap(), [0x02, 0x00, 0x03, 0x06, 0x00, 0x00]);
		let goaway = RequestMessage::Goaway(Goaway {
			uri: String::new(),
			timeout: VarInt::ZERO,
			request_id: None,
		});
		assert_eq!(goaway.to_bytes(D17).unwrap(), [0x10, 0x00, 0x02, 0x00, 0x00]);

		// A Track Alias in the 7-byte form is refused on draft-17, read on draft-18.
		let ok = [0x04, 0x00, 0x08, 0xFC, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
		assert!(RequestMessage::decode_prefix(&ok, D18).is_ok());
		assert!(matches!(
			RequestMessage::decode_prefix(&ok, D17),
			Err(DecodeError::InvalidValue { value: 0xFC, .. })
		));
	}

	fn expected_options(request: &NamespaceRequest) -> NamespaceRequest {
		NamespaceRequest {
			options: Some(VarInt::from_u32(1)),
			..request.clone()
		}
	}

	#[test]
	fn draft22_typed_filter() {
		// Draft-22 writes the live join's Next Object as the type 0x05 alone, no Length.
		let bytes = draft20_subscribe();
		// (SUBSCRIBER_PRIORITY's 128, then LOCATION_FILTER's type delta 1 and its value.)
		let at = bytes
			.windows(5)
			.position(|w| w == [0x80, 0x01, 0x02, 0x00, 0x00])
			.unwrap();
		let mut d22 = bytes[..at].to_vec();
		d22.extend([0x80, 0x01, 0x05]);
		d22.extend(&bytes[at + 5..]);
		let len = (d22.len() - 3) as u16;
		d22[1..3].copy_from_slice(&len.to_be_bytes());
		let (read, _) = RequestMessage::decode_prefix(&d22, Draft::Draft22).unwrap();
		let RequestMessage::Subscribe(subscribe) = &read else {
			panic!("a SUBSCRIBE");
		};
		assert_eq!(
			subscribe.parameters.get(parameter::SUBSCRIPTION_FILTER),
			Some(&ParamValue::Bytes(Bytes::from_static(&[0x05])))
		);
		assert_eq!(read.to_bytes(Draft::Draft22).unwrap(), d22);
		// Each type reads the integers it names; a type draft-22 does not define is refused.
		let filter = |value: &[u8]| {
			let mut payload = vec![0x01, 0x21];
			payload.extend(value);
			let mut bytes = vec![0x07];
			bytes.extend((payload.len() as u16).to_be_bytes());
			bytes.extend(payload);
			RequestMessage::decode_prefix(&bytes, Draft::Draft22).map(|(m, _)| m)
		};
		assert!(filter(&[0x04, 1, 2, 3, 4]).is_ok());
		assert!(matches!(filter(&[0x04, 1, 2, 3]), Err(DecodeError::ShortBody { .. })));
		assert!(matches!(
			filter(&[0x06]),
			Err(DecodeError::InvalidValue { value: 6, .. })
		));
		// Bytes that are no typed filter are not written.
		let bad = RequestMessage::RequestOk(MessageParameters::default().with(
			parameter::SUBSCRIPTION_FILTER,
			ParamValue::Bytes(vec![0x02, 0x01].into()),
		));
		assert!(bad.to_bytes(Draft::Draft22).is_err());
		assert!(bad.to_bytes(Draft::Draft20).is_ok());
	}

	#[test]
	fn stream_types() {
		// SETUP's type is `af 00`; a 0x58 subgroup stream's one byte.
		let (setup, used) = UniStreamType::decode_prefix(&[0xAF, 0x00, 0x00, 0x00], D18).unwrap();
		assert!(setup.is_setup() && used == 2);
		let (data, _) = UniStreamType::decode_prefix(&[0x58, 0x01], D18).unwrap();
		assert!(!data.is_setup());
		assert_eq!(data.to_bytes(D18).unwrap(), [0x58]);
		assert_eq!(
			UniStreamType::decode_prefix(&[0xAF], D18),
			Err(DecodeError::UnexpectedEnd)
		);
	}

	#[test]
	fn rules() {
		let decode = |bytes: &[u8]| RequestMessage::decode_prefix(bytes, D18).map(|(m, _)| m);
		// An unknown parameter (0x7E) cannot be skipped: refused.
		assert!(matches!(
			decode(&[0x07, 0x00, 0x03, 0x01, 0x7E, 0x00]),
			Err(DecodeError::InvalidValue { value: 0x7E, .. })
		));
		// FORWARD 2.
		assert!(decode(&[0x07, 0x00, 0x03, 0x01, 0x10, 0x02]).is_err());
		// An AUTHORIZATION TOKEN that is no Token structure (Alias Type 9): KEY_VALUE_FORMATTING_ERROR.
		let err = decode(&[0x07, 0x00, 0x04, 0x01, 0x03, 0x01, 0x09]).unwrap_err();
		assert_eq!(
			err.disposition(),
			crate::Disposition::CloseSession(crate::SessionCode::KEY_VALUE_FORMATTING)
		);
		// The same type twice.
		assert!(matches!(
			decode(&[0x07, 0x00, 0x05, 0x02, 0x08, 0x01, 0x00, 0x01]),
			Err(DecodeError::DuplicateParameter { .. })
		));
		// An unknown message type.
		assert!(matches!(
			decode(&[0x3F, 0x00, 0x00]),
			Err(DecodeError::UnknownMessageType { .. })
		));
		// A field past the Length.
		assert!(matches!(
			decode(&[0x05, 0x00, 0x01, 0x00]),
			Err(DecodeError::ShortBody { .. })
		));
		// Bytes after the last field.
		assert!(matches!(
			decode(&[0x07, 0x00, 0x02, 0x00, 0x00]),
			Err(DecodeError::TrailingBytes { .. })
		));
		// PUBLISH, TRACK_STATUS, SUBSCRIBE_TRACKS are read whole, to be refused; their Request ID
		// is the payload's first integer (0xAA 0xBB: 0x2ABB in two leading-ones bytes).
		for ty in [0x1Du8, 0x0D, 0x51] {
			let RequestMessage::Unsupported(request) = decode(&[ty, 0x00, 0x02, 0xAA, 0xBB]).unwrap() else {
				panic!("{ty:#x} is kept unread");
			};
			assert_eq!(request.request_id(), Some(VarInt::from_u32(0x2ABB)));
			assert_eq!(
				decode(&[ty, 0x00, 0x02, 0xAA, 0xBB]).unwrap(),
				RequestMessage::Unsupported(UnsupportedRequest {
					ty: VarInt::from_u32(ty.into()),
					body: Bytes::from_static(&[0xAA, 0xBB]),
				})
			);
		}
		// Draft-14 and draft-16 have no request streams.
		assert!(RequestMessage::decode_prefix(&[0x07, 0x00, 0x01, 0x00], Draft::Draft16).is_err());
		assert!(
			RequestMessage::RequestOk(MessageParameters::default())
				.to_bytes(Draft::Draft14)
				.is_err()
		);
		// A token's bytes never reach Debug.
		let token = AuthToken::UseValue {
			token_type: VarInt::ZERO,
			value: Bytes::from_static(b"secret"),
		};
		let p = MessageParameters::default().with(
			parameter::AUTHORIZATION_TOKEN,
			ParamValue::Bytes(token.encode_value_in(D18).into()),
		);
		assert!(!format!("{p:?}").contains("secret"));
		assert_eq!(p.auth_tokens().next().unwrap().unwrap(), token);
	}
}
