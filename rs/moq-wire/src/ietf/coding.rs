//! The draft-14 primitives (draft-ietf-moq-transport-14 §1.4 and §9): control
//! message framing with a 16-bit length, Key-Value-Pairs, parameter lists,
//! Track Namespace tuples, Reason Phrases, Locations and the one-byte enums.

use std::fmt;

use bytes::{Buf, BufMut, Bytes};

use super::draft::Draft;
use super::leading_ones;
use super::token::AuthToken;
use crate::coding::{BufExt, BufMutExt};
use crate::{DecodeError, EncodeError, VarInt};

/// Largest control message payload: the Length field is 16 bits.
pub const MAX_CONTROL_LEN: u64 = u16::MAX as u64;

/// Most elements in a Track Namespace tuple (draft-14 §2.4.1: 1 to 32; an empty
/// tuple is accepted as the root, as the published client sends it).
pub const MAX_NAMESPACE_ELEMENTS: usize = 32;

/// Longest Reason Phrase, in bytes (draft-14 §1.4.4).
pub const MAX_REASON_LEN: usize = 1024;

/// Longest Key-Value-Pair byte value (draft-14 §1.4.2: 2^16-1).
pub const MAX_KVP_VALUE_LEN: usize = u16::MAX as usize;

/// Most Key-Value-Pairs in one parameter list or extension block.
pub const MAX_PARAMETERS: usize = 64;

/// The AUTHORIZATION TOKEN parameter type, the same in SETUP and in messages.
pub(crate) const AUTHORIZATION_TOKEN: VarInt = VarInt::from_u32(0x3);

/// Reads `Type (i) | Length (16) | Payload`, whose payload `body` must consume exactly.
pub(crate) fn decode_control<B: Buf, T>(
	buf: &mut B,
	body: impl FnOnce(VarInt, &mut Bytes) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
	let ty = buf.get_var()?;
	if buf.remaining() < 2 {
		return Err(DecodeError::UnexpectedEnd);
	}
	let len = usize::from(buf.get_u16());
	if buf.remaining() < len {
		return Err(DecodeError::UnexpectedEnd);
	}
	crate::coding::whole(buf.copy_to_bytes(len), "control message", |bytes| body(ty, bytes))
}

/// Writes `Type (i) | Length (16) | Payload`.
pub(crate) fn encode_control<B: BufMut>(
	buf: &mut B,
	message: &'static str,
	ty: VarInt,
	body: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
	let mut bytes = Vec::new();
	body(&mut bytes)?;
	let len = u16::try_from(bytes.len()).map_err(|_| EncodeError::TooLarge {
		what: message,
		len: bytes.len() as u64,
		max: MAX_CONTROL_LEN,
	})?;
	buf.put_var(ty);
	buf.put_u16(len);
	buf.put_slice(&bytes);
	Ok(())
}

/// A Key-Value-Pair's value: a varint when the type is even, bytes when odd
/// (draft-14 §1.4.2).
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
	/// An even type's single varint.
	Int(VarInt),
	/// An odd type's `Length (i)` + bytes, at most [`MAX_KVP_VALUE_LEN`].
	Bytes(Bytes),
}

/// One Key-Value-Pair: a SETUP parameter, a message parameter or an object
/// extension header.
///
/// Its `Debug` prints a byte value's length only: AUTHORIZATION TOKEN and PATH
/// (whose query may hold `jwt=`) carry credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyValue {
	/// The type; its parity decides the value's form.
	pub key: VarInt,
	/// The value.
	pub value: Value,
}

impl fmt::Debug for KeyValue {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match &self.value {
			Value::Int(v) => write!(f, "{:#x}={v}", self.key.into_inner()),
			Value::Bytes(b) => write!(f, "{:#x}=<{} bytes>", self.key.into_inner(), b.len()),
		}
	}
}

impl fmt::Debug for Value {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Value::Int(v) => write!(f, "Int({v})"),
			Value::Bytes(b) => write!(f, "Bytes(<{} bytes>)", b.len()),
		}
	}
}

impl KeyValue {
	/// An even-typed pair.
	pub fn int(key: u32, value: VarInt) -> Self {
		Self {
			key: VarInt::from_u32(key),
			value: Value::Int(value),
		}
	}

	/// An odd-typed pair.
	pub fn bytes(key: u32, value: impl Into<Bytes>) -> Self {
		Self {
			key: VarInt::from_u32(key),
			value: Value::Bytes(value.into()),
		}
	}

	#[cfg(test)]
	pub(crate) fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		let key = buf.get_var()?;
		Self::decode_value_in(buf, key, Draft::Draft14)
	}

	/// Reads the value of a pair whose type is already known, in `draft`'s integers.
	pub(crate) fn decode_value_in<B: Buf>(buf: &mut B, key: VarInt, draft: Draft) -> Result<Self, DecodeError> {
		let value = if key.into_inner().is_multiple_of(2) {
			Value::Int(get_var_in(buf, draft)?)
		} else {
			let len = get_var_in(buf, draft)?.into_inner();
			// draft-14 §1.4.2: a longer value is a PROTOCOL_VIOLATION.
			if len > MAX_KVP_VALUE_LEN as u64 {
				return Err(DecodeError::TooLarge {
					what: "Key-Value-Pair length",
					len,
					max: MAX_KVP_VALUE_LEN as u64,
				});
			}
			Value::Bytes(buf.get_raw(len)?)
		};
		Ok(Self { key, value })
	}

	pub(crate) fn encode<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		self.encode_as(buf, self.key)
	}

	/// Writes the pair with `written` in its Type field (its own type, or the
	/// delta from the previous pair's on draft-16); the parity is its own type's.
	pub(crate) fn encode_as<B: BufMut>(&self, buf: &mut B, written: VarInt) -> Result<(), EncodeError> {
		self.encode_as_in(buf, written, Draft::Draft14)
	}

	/// [`encode_as`](Self::encode_as) in `draft`'s integers.
	pub(crate) fn encode_as_in<B: BufMut>(
		&self,
		buf: &mut B,
		written: VarInt,
		draft: Draft,
	) -> Result<(), EncodeError> {
		let even = self.key.into_inner().is_multiple_of(2);
		match &self.value {
			Value::Int(v) if even => {
				put_var_in(buf, draft, written);
				put_var_in(buf, draft, *v);
			}
			Value::Bytes(b) if !even => {
				if b.len() > MAX_KVP_VALUE_LEN {
					return Err(EncodeError::TooLarge {
						what: "Key-Value-Pair length",
						len: b.len() as u64,
						max: MAX_KVP_VALUE_LEN as u64,
					});
				}
				put_var_in(buf, draft, written);
				// At most 2^16-1.
				put_var_in(buf, draft, VarInt::from_u32(b.len() as u32));
				buf.put_slice(b);
			}
			_ => {
				return Err(EncodeError::InvalidValue {
					field: "Key-Value-Pair",
					reason: "an even type carries a varint, an odd type bytes",
				});
			}
		}
		Ok(())
	}

	/// The varint value, if the pair has one.
	pub fn as_int(&self) -> Option<VarInt> {
		match self.value {
			Value::Int(v) => Some(v),
			Value::Bytes(_) => None,
		}
	}

	/// The byte value, if the pair has one.
	pub fn as_bytes(&self) -> Option<&Bytes> {
		match &self.value {
			Value::Int(_) => None,
			Value::Bytes(b) => Some(b),
		}
	}
}

/// Encodes a list's pairs, checking each first so nothing is written on error.
///
/// On a draft with delta-coded types the pairs go in ascending type order (a
/// stable sort, so repeats keep their order), each type written as the
/// difference from the one before.
pub(crate) fn encode_pairs(pairs: &[KeyValue], draft: Draft) -> Result<Vec<u8>, EncodeError> {
	let mut out = Vec::new();
	if draft.delta_types() {
		let mut sorted: Vec<&KeyValue> = pairs.iter().collect();
		sorted.sort_by_key(|p| p.key);
		let mut previous = 0;
		for pair in sorted {
			let key = pair.key.into_inner();
			// Ascending, so the difference is below 2^62.
			pair.encode_as_in(
				&mut out,
				VarInt::from_u64(key - previous).expect("a smaller type"),
				draft,
			)?;
			previous = key;
		}
	} else {
		for pair in pairs {
			pair.encode(&mut out)?;
		}
	}
	Ok(out)
}

/// Reads the Type of the next pair of a list: on a draft with delta-coded
/// types the wire value is added to `previous` (the last pair's type, 0 at
/// first), and a sum past 2^62-1 is malformed.
pub(crate) fn decode_pair<B: Buf>(buf: &mut B, draft: Draft, previous: &mut VarInt) -> Result<KeyValue, DecodeError> {
	let raw = get_var_in(buf, draft)?;
	let key = match draft.delta_types() {
		true => VarInt::from_u64(previous.into_inner() + raw.into_inner()).map_err(|_| DecodeError::InvalidValue {
			field: "Key-Value-Pair Type",
			value: previous.into_inner().saturating_add(raw.into_inner()),
		})?,
		false => raw,
	};
	*previous = key;
	KeyValue::decode_value_in(buf, key, draft)
}

/// Reads one integer in `draft`'s form: a QUIC varint (draft-14, draft-16) or a
/// leading-ones one (draft-18, [`leading_ones`]).
pub(crate) fn get_var_in<B: Buf>(buf: &mut B, draft: Draft) -> Result<VarInt, DecodeError> {
	match draft.leading_ones_integers() {
		true => leading_ones::get_in(buf, draft.seven_byte_integers()),
		false => buf.get_var(),
	}
}

/// Writes one integer in `draft`'s form, as [`get_var_in`] reads it.
pub(crate) fn put_var_in<B: BufMut>(buf: &mut B, draft: Draft, value: VarInt) {
	match draft.leading_ones_integers() {
		true => leading_ones::put_in(buf, value, draft.seven_byte_integers()),
		false => buf.put_var(value),
	}
}

/// A message's `Number of Parameters (i) | Parameters…` (draft-14 §9.2), kept
/// in wire order so a message re-encodes as received.
///
/// Unknown types are kept and carry no meaning; a type may repeat (draft-14
/// §9.2: AUTHORIZATION TOKEN "MAY be repeated", and unknown ones are ignored).
/// An AUTHORIZATION TOKEN must hold a well-formed Token (§9.2.1.1: otherwise
/// KEY_VALUE_FORMATTING_ERROR), checked on decode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parameters(pub Vec<KeyValue>);

/// DELIVERY_TIMEOUT (message parameter 0x02, milliseconds).
const DELIVERY_TIMEOUT: VarInt = VarInt::from_u32(0x2);
/// MAX_CACHE_DURATION (message parameter 0x04, milliseconds).
const MAX_CACHE_DURATION: VarInt = VarInt::from_u32(0x4);

impl Parameters {
	pub(crate) fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Self::decode_with(buf, Draft::Draft14)
	}

	pub(crate) fn encode<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		self.encode_with(buf, Draft::Draft14)
	}

	/// Reads `Number of Parameters (i) | Parameters…` in `draft`'s form.
	pub(crate) fn decode_with<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		let count = buf.get_var()?.into_inner();
		if count > MAX_PARAMETERS as u64 {
			return Err(DecodeError::TooLarge {
				what: "parameter count",
				len: count,
				max: MAX_PARAMETERS as u64,
			});
		}
		let mut pairs = Vec::with_capacity(count as usize);
		let mut previous = VarInt::ZERO;
		for _ in 0..count {
			let pair = decode_pair(buf, draft, &mut previous)?;
			if pair.key == AUTHORIZATION_TOKEN {
				AuthToken::from_parameter(&pair)?;
			}
			pairs.push(pair);
		}
		Ok(Self(pairs))
	}

	/// Writes the list in `draft`'s form (ascending types on draft-16).
	pub(crate) fn encode_with<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		if self.0.len() > MAX_PARAMETERS {
			return Err(EncodeError::TooLarge {
				what: "parameter count",
				len: self.0.len() as u64,
				max: MAX_PARAMETERS as u64,
			});
		}
		let body = encode_pairs(&self.0, draft)?;
		buf.put_var(VarInt::from_u32(self.0.len() as u32));
		buf.put_slice(&body);
		Ok(())
	}

	/// Every AUTHORIZATION TOKEN, in wire order (well-formed once decoded).
	pub fn auth_tokens(&self) -> impl Iterator<Item = Result<AuthToken, DecodeError>> + '_ {
		self.0
			.iter()
			.filter(|p| p.key == AUTHORIZATION_TOKEN)
			.map(AuthToken::from_parameter)
	}

	/// DELIVERY_TIMEOUT in milliseconds (the first one).
	pub fn delivery_timeout(&self) -> Option<VarInt> {
		self.first_int(DELIVERY_TIMEOUT)
	}

	/// MAX_CACHE_DURATION in milliseconds (the first one).
	pub fn max_cache_duration(&self) -> Option<VarInt> {
		self.first_int(MAX_CACHE_DURATION)
	}

	fn first_int(&self, key: VarInt) -> Option<VarInt> {
		self.0.iter().find(|p| p.key == key).and_then(KeyValue::as_int)
	}
}

/// An object's `Extension Headers Length (i) | Extension headers` block
/// (draft-14 §10.2.1.2): Key-Value-Pairs filling exactly that many bytes.
pub(crate) fn decode_extensions<B: Buf>(buf: &mut B, draft: Draft) -> Result<Vec<KeyValue>, DecodeError> {
	let len = get_var_in(buf, draft)?.into_inner();
	let mut block = buf.get_raw(len)?;
	let mut pairs = Vec::new();
	let mut previous = VarInt::ZERO;
	while block.has_remaining() {
		if pairs.len() == MAX_PARAMETERS {
			return Err(DecodeError::TooLarge {
				what: "extension header count",
				len: MAX_PARAMETERS as u64 + 1,
				max: MAX_PARAMETERS as u64,
			});
		}
		// A pair running past the block is malformed, not "need more bytes".
		let pair = decode_pair(&mut block, draft, &mut previous).map_err(|err| match err {
			DecodeError::UnexpectedEnd => DecodeError::ShortBody {
				message: "extension headers",
			},
			err => err,
		})?;
		pairs.push(pair);
	}
	Ok(pairs)
}

/// Writes an extension block with its length.
pub(crate) fn encode_extensions<B: BufMut>(buf: &mut B, pairs: &[KeyValue], draft: Draft) -> Result<(), EncodeError> {
	if pairs.len() > MAX_PARAMETERS {
		return Err(EncodeError::TooLarge {
			what: "extension header count",
			len: pairs.len() as u64,
			max: MAX_PARAMETERS as u64,
		});
	}
	let body = encode_pairs(pairs, draft)?;
	let len = VarInt::try_from(body.len()).map_err(|_| EncodeError::TooLarge {
		what: "extension headers length",
		len: body.len() as u64,
		max: VarInt::MAX.into_inner(),
	})?;
	put_var_in(buf, draft, len);
	buf.put_slice(&body);
	Ok(())
}

/// A Track Namespace tuple: `Number of elements (i)` then each as `Length (i)` + bytes.
///
/// Elements are UTF-8 text here, as the published client reads them.
pub(crate) fn decode_namespace<B: Buf>(buf: &mut B) -> Result<Vec<String>, DecodeError> {
	let count = buf.get_var()?.into_inner();
	if count > MAX_NAMESPACE_ELEMENTS as u64 {
		return Err(DecodeError::TooLarge {
			what: "Track Namespace elements",
			len: count,
			max: MAX_NAMESPACE_ELEMENTS as u64,
		});
	}
	(0..count).map(|_| buf.get_string("Track Namespace element")).collect()
}

pub(crate) fn encode_namespace<B: BufMut>(buf: &mut B, namespace: &[String]) -> Result<(), EncodeError> {
	if namespace.len() > MAX_NAMESPACE_ELEMENTS {
		return Err(EncodeError::TooLarge {
			what: "Track Namespace elements",
			len: namespace.len() as u64,
			max: MAX_NAMESPACE_ELEMENTS as u64,
		});
	}
	buf.put_var(VarInt::from_u32(namespace.len() as u32));
	for element in namespace {
		buf.put_string(element)?;
	}
	Ok(())
}

/// A Reason Phrase: a UTF-8 string of at most [`MAX_REASON_LEN`] bytes.
pub(crate) fn decode_reason<B: Buf>(buf: &mut B) -> Result<String, DecodeError> {
	let len = buf.get_var()?.into_inner();
	if len > MAX_REASON_LEN as u64 {
		return Err(DecodeError::TooLarge {
			what: "Reason Phrase length",
			len,
			max: MAX_REASON_LEN as u64,
		});
	}
	let bytes = buf.get_raw(len)?;
	String::from_utf8(bytes.into()).map_err(|_| DecodeError::InvalidUtf8 { field: "Reason Phrase" })
}

pub(crate) fn encode_reason<B: BufMut>(buf: &mut B, reason: &str) -> Result<(), EncodeError> {
	if reason.len() > MAX_REASON_LEN {
		return Err(EncodeError::TooLarge {
			what: "Reason Phrase length",
			len: reason.len() as u64,
			max: MAX_REASON_LEN as u64,
		});
	}
	buf.put_string(reason)
}

/// A Location: `Group (i) | Object (i)` (draft-14 §1.4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
	/// The Group ID.
	pub group: VarInt,
	/// The Object ID.
	pub object: VarInt,
}

impl Location {
	/// A Location from plain numbers below 2^62.
	pub fn new(group: VarInt, object: VarInt) -> Self {
		Self { group, object }
	}

	pub(crate) fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(Self {
			group: buf.get_var()?,
			object: buf.get_var()?,
		})
	}

	pub(crate) fn encode<B: BufMut>(&self, buf: &mut B) {
		buf.put_var(self.group);
		buf.put_var(self.object);
	}
}

/// Group Order (8): which groups a publisher sends first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GroupOrder {
	/// 0x0: the publisher's order (only in requests).
	#[default]
	Original,
	/// 0x1: oldest group first.
	Ascending,
	/// 0x2: newest group first.
	Descending,
}

impl GroupOrder {
	pub(crate) fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		match buf.get_byte()? {
			0 => Ok(Self::Original),
			1 => Ok(Self::Ascending),
			2 => Ok(Self::Descending),
			value => Err(DecodeError::InvalidValue {
				field: "Group Order",
				value: value.into(),
			}),
		}
	}

	pub(crate) fn encode<B: BufMut>(self, buf: &mut B) {
		buf.put_u8(match self {
			Self::Original => 0,
			Self::Ascending => 1,
			Self::Descending => 2,
		});
	}
}

/// Reads a `(8)` field that must be 0 or 1.
pub(crate) fn get_flag<B: Buf>(buf: &mut B, field: &'static str) -> Result<bool, DecodeError> {
	buf.get_bool(field)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn control_framing_is_exact() {
		let mut out = Vec::new();
		encode_control(&mut out, "T", VarInt::from_u32(0x15), |b| {
			b.put_var(VarInt::from_u32(7));
			Ok(())
		})
		.unwrap();
		assert_eq!(out, [0x15, 0x00, 0x01, 0x07]);
		let read = |bytes: &[u8]| {
			let mut slice = bytes;
			decode_control(&mut slice, |ty, body| Ok((ty, body.get_var()?)))
		};
		assert_eq!(read(&out), Ok((VarInt::from_u32(0x15), VarInt::from_u32(7))));
		for cut in 0..out.len() {
			assert_eq!(read(&out[..cut]), Err(DecodeError::UnexpectedEnd), "cut {cut}");
		}
		assert!(matches!(
			read(&[0x15, 0x00, 0x02, 0x07, 0x00]),
			Err(DecodeError::TrailingBytes { extra: 1, .. })
		));
		assert!(matches!(read(&[0x15, 0x00, 0x00]), Err(DecodeError::ShortBody { .. })));
		let big = vec![0u8; 65_536];
		assert!(matches!(
			encode_control(&mut Vec::new(), "T", VarInt::ZERO, |b| {
				b.extend_from_slice(&big);
				Ok(())
			}),
			Err(EncodeError::TooLarge { .. })
		));
	}

	#[test]
	fn key_value_parity() {
		let mut out = Vec::new();
		KeyValue::int(2, VarInt::from_u32(300)).encode(&mut out).unwrap();
		KeyValue::bytes(1, &b"/a"[..]).encode(&mut out).unwrap();
		assert_eq!(out, [0x02, 0x41, 0x2c, 0x01, 0x02, b'/', b'a']);
		let mut slice = &out[..];
		assert_eq!(
			KeyValue::decode(&mut slice).unwrap().as_int(),
			Some(VarInt::from_u32(300))
		);
		assert_eq!(
			KeyValue::decode(&mut slice).unwrap().as_bytes().map(|b| &b[..]),
			Some(&b"/a"[..])
		);
		let wrong = KeyValue {
			key: VarInt::from_u32(2),
			value: Value::Bytes(Bytes::new()),
		};
		assert!(wrong.encode(&mut Vec::new()).is_err());
		// A byte value over 2^16-1 is refused from its length.
		let mut long = vec![0x01];
		VarInt::from_u32(65_536).encode(&mut long);
		assert!(matches!(
			KeyValue::decode(&mut &long[..]),
			Err(DecodeError::TooLarge { .. })
		));
	}

	#[test]
	fn debug_hides_byte_values() {
		let secret = KeyValue::bytes(3, &b"\x03\x00eyJhbGciOi"[..]);
		let printed = format!("{:?}", Parameters(vec![secret]));
		assert!(!printed.contains("eyJ"), "{printed}");
		assert!(printed.contains("12 bytes"), "{printed}");
	}

	#[test]
	fn namespace_and_reason_limits() {
		let ok: Vec<String> = (0..32).map(|i| i.to_string()).collect();
		let mut out = Vec::new();
		encode_namespace(&mut out, &ok).unwrap();
		assert_eq!(decode_namespace(&mut &out[..]).unwrap(), ok);
		let too_many: Vec<String> = (0..33).map(|i| i.to_string()).collect();
		assert!(encode_namespace(&mut Vec::new(), &too_many).is_err());
		assert!(matches!(
			decode_namespace(&mut &[33u8][..]),
			Err(DecodeError::TooLarge { len: 33, .. })
		));
		assert!(encode_reason(&mut Vec::new(), &"x".repeat(1025)).is_err());
		let mut long = Vec::new();
		VarInt::from_u32(1025).encode(&mut long);
		assert!(matches!(
			decode_reason(&mut &long[..]),
			Err(DecodeError::TooLarge { .. })
		));
	}
}
