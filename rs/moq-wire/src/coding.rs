//! The codec traits, the decode and encode errors, the primitives of
//! docs/protocol.md#encoding (strings, bytes, bools, "+1" optionals) and
//! length-prefixed framing (docs/protocol.md#message-framing).

use bytes::{Buf, BufMut, Bytes};

use super::stream::Direction;
use super::varint::VarInt;
use super::version::Version;

/// Largest control message body.
///
/// docs/protocol.md#limits: a control message body is at most 64 MiB.
pub const MAX_MESSAGE_LEN: u64 = 64 * 1024 * 1024;

/// Largest SETUP body.
///
/// docs/protocol.md#limits: a SETUP body is at most 64 KiB.
pub const MAX_SETUP_LEN: u64 = 64 * 1024;

/// Most `/` segments in a broadcast path, prefix or suffix.
///
/// docs/protocol.md#limits: a path has at most 32 `/` segments.
pub const MAX_PATH_SEGMENTS: usize = 32;

/// Longest hop chain.
///
/// docs/protocol.md#hop-chains: a chain has at most 32 entries, each a hop id
/// below 2^62 (0 = unknown).
pub const MAX_HOPS: usize = 32;

/// Longest GOAWAY New Session URI, in bytes.
///
/// docs/protocol.md#limits: a GOAWAY URI is at most 8192 bytes.
pub const MAX_GOAWAY_URI_LEN: usize = 8192;

/// Most parameters in one SETUP.
///
/// docs/protocol.md#limits: a SETUP has at most 64 parameters.
pub const MAX_SETUP_PARAMETERS: usize = 64;

/// Largest datagram, header included.
///
/// docs/protocol.md#datagrams: a datagram is a single-frame group of at most
/// 1200 bytes in total; a receiver drops one that is too big or names an
/// unknown subscription.
pub const MAX_DATAGRAM_LEN: usize = 1200;

/// Why bytes from the peer could not be decoded.
///
/// [`UnexpectedEnd`](Self::UnexpectedEnd) is the only variant that is not the
/// peer's fault: the caller has not buffered enough yet. Every other variant
/// describes malformed or forbidden input; [`DecodeError::disposition`] says
/// whether to reset the stream or close the session, and with which code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
	/// The input ends before the value does: buffer more bytes and retry.
	///
	/// Never returned for a fault inside a complete length-prefixed body or a
	/// datagram (those are [`ShortBody`](Self::ShortBody)).
	#[error("need more bytes")]
	UnexpectedEnd,

	/// A complete length-prefixed body (or a datagram) ended before its fields.
	#[error("{message}: the fields run past the end of the body")]
	ShortBody {
		/// The message whose body was short.
		message: &'static str,
	},

	/// A length-prefixed body had bytes left over after its last field.
	#[error("{message}: {extra} trailing bytes after the last field")]
	TrailingBytes {
		/// The message whose body was long.
		message: &'static str,
		/// How many bytes were left over.
		extra: usize,
	},

	/// A length, count or size is over its limit.
	#[error("{what} is {len}, over the limit of {max}")]
	TooLarge {
		/// What was too large (e.g. "SETUP length", "hop count").
		what: &'static str,
		/// The value received.
		len: u64,
		/// The limit.
		max: u64,
	},

	/// A string field was not UTF-8.
	#[error("{field} is not valid UTF-8")]
	InvalidUtf8 {
		/// The field.
		field: &'static str,
	},

	/// A field held a value the protocol forbids (a bool other than 0/1, an
	/// unknown announce status, a zero timescale, …).
	#[error("{field} has the forbidden value {value}")]
	InvalidValue {
		/// The field.
		field: &'static str,
		/// The value received.
		value: u64,
	},

	/// Draft-17's Required Request ID Delta names no earlier request: twice the delta is more
	/// than the Request ID. The session closes with INVALID_REQUIRED_REQUEST_ID.
	#[error("Required Request ID Delta {delta} is more than half the Request ID {request_id}")]
	InvalidRequiredRequestId {
		/// The request's Request ID.
		request_id: u64,
		/// The delta received.
		delta: u64,
	},

	/// A SETUP parameter id appeared twice.
	#[error("SETUP parameter {id} appears twice")]
	DuplicateParameter {
		/// The repeated id.
		id: VarInt,
	},

	/// A known SETUP parameter's value was malformed (for a varint value, not
	/// exactly one varint; for Path, not UTF-8), or an IETF AUTHORIZATION TOKEN
	/// parameter did not hold a Token structure.
	#[error("parameter {id}: {reason}")]
	InvalidParameter {
		/// The parameter id.
		id: VarInt,
		/// What was wrong with it.
		reason: &'static str,
	},

	/// A stream began with a type that is unknown, or not allowed in this
	/// version. Only that stream is affected.
	#[error("unknown {direction} stream type {ty} for {version}")]
	UnknownStreamType {
		/// Whether the stream is bidirectional or unidirectional.
		direction: Direction,
		/// The type received.
		ty: VarInt,
		/// The negotiated version.
		version: Version,
	},

	/// A typed message (`Type (i) | Len (i) | Body`) had an unknown type where
	/// unknown types are not skippable.
	#[error("unknown {message} type {ty}")]
	UnknownMessageType {
		/// The message family (e.g. "SUBSCRIBE response").
		message: &'static str,
		/// The type received.
		ty: VarInt,
	},

	/// A lite-06 ANNOUNCE_END or ANNOUNCE_RESTART named an Announce ID that was
	/// never assigned on this stream, or was already retired.
	#[error("announce id {id} is not live on this stream")]
	UnknownAnnounceId {
		/// The id received.
		id: VarInt,
	},

	/// The caller asked to decode a message that does not exist in the
	/// negotiated version. This is a bug in the caller, not the peer.
	#[error("{message} does not exist in {version}")]
	NotInVersion {
		/// The message.
		message: &'static str,
		/// The negotiated version.
		version: Version,
	},
}

/// Why a message could not be encoded. Nothing is written when encoding fails.
///
/// These are misuses of the API (building a message the version cannot carry),
/// never faults of the peer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
	/// The message does not exist in this version.
	#[error("{message} does not exist in {version}")]
	NotInVersion {
		/// The message.
		message: &'static str,
		/// The version asked for.
		version: Version,
	},

	/// A field has a non-default value, but this version cannot carry it.
	#[error("{field} cannot be sent in {version}")]
	FieldNotInVersion {
		/// The field.
		field: &'static str,
		/// The version asked for.
		version: Version,
	},

	/// A length, count or size is over its limit.
	#[error("{what} is {len}, over the limit of {max}")]
	TooLarge {
		/// What was too large.
		what: &'static str,
		/// The value.
		len: u64,
		/// The limit.
		max: u64,
	},

	/// A field's value cannot be sent.
	#[error("{field}: {reason}")]
	InvalidValue {
		/// The field.
		field: &'static str,
		/// What is wrong with it.
		reason: &'static str,
	},
}

/// A value that can be read from the wire for a given version.
pub trait Decode: Sized {
	/// Reads one value from `buf`.
	///
	/// On [`DecodeError::UnexpectedEnd`], `buf` may have been partly advanced:
	/// keep the bytes and retry from the start once more arrive
	/// ([`decode_prefix`](Self::decode_prefix) does this bookkeeping).
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError>;

	/// Reads one value from the start of `bytes`, returning it and how many
	/// bytes it took. `bytes` is never modified, so on
	/// [`DecodeError::UnexpectedEnd`] the caller simply appends and retries.
	fn decode_prefix(bytes: &[u8], version: Version) -> Result<(Self, usize), DecodeError> {
		let mut cursor = bytes;
		let value = Self::decode(&mut cursor, version)?;
		Ok((value, bytes.len() - cursor.len()))
	}
}

/// A value that can be written to the wire for a given version.
pub trait Encode {
	/// Writes the value to `buf`. On error nothing has been written.
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError>;

	/// Writes the value to a fresh `Vec`.
	fn to_bytes(&self, version: Version) -> Result<Vec<u8>, EncodeError> {
		let mut out = Vec::new();
		self.encode(&mut out, version)?;
		Ok(out)
	}
}

/// Reads `Message Length (i)` and a body of exactly that many bytes.
///
/// docs/protocol.md#message-framing: every control message is
/// `Message Length (i)` followed by that many bytes of body, and decoding must
/// consume exactly that many (fields running past the end, or bytes left over,
/// are errors).
pub(crate) fn decode_framed<B: Buf, T>(
	buf: &mut B,
	message: &'static str,
	max: u64,
	body: impl FnOnce(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
	let len = VarInt::decode(buf)?.into_inner();
	if len > max {
		// Rejected as soon as the length is known, before buffering the body.
		return Err(DecodeError::TooLarge {
			what: message,
			len,
			max,
		});
	}
	if (buf.remaining() as u64) < len {
		return Err(DecodeError::UnexpectedEnd);
	}
	// `len <= max <= 64 MiB`, so it fits in usize.
	whole(buf.copy_to_bytes(len as usize), message, body)
}

/// Decodes `message` from exactly `bytes` (a body whose length its framing gave): a field running
/// past the end is [`DecodeError::ShortBody`], bytes left over are [`DecodeError::TrailingBytes`].
pub(crate) fn whole<T>(
	mut bytes: Bytes,
	message: &'static str,
	body: impl FnOnce(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
	let value = body(&mut bytes).map_err(|err| match err {
		DecodeError::UnexpectedEnd => DecodeError::ShortBody { message },
		err => err,
	})?;
	if bytes.has_remaining() {
		return Err(DecodeError::TrailingBytes {
			message,
			extra: bytes.remaining(),
		});
	}
	Ok(value)
}

/// Reads `Type (i)` then a length-prefixed body, handing both to `body`.
pub(crate) fn decode_typed<B: Buf, T>(
	buf: &mut B,
	message: &'static str,
	body: impl FnOnce(VarInt, &mut Bytes) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
	let ty = VarInt::decode(buf)?;
	decode_framed(buf, message, MAX_MESSAGE_LEN, |bytes| body(ty, bytes))
}

/// Writes `Message Length (i)` and the body produced by `body`.
pub(crate) fn encode_framed<B: BufMut>(
	buf: &mut B,
	message: &'static str,
	max: u64,
	body: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
	let mut bytes = Vec::new();
	body(&mut bytes)?;
	let len = bytes.len() as u64;
	if len > max {
		return Err(EncodeError::TooLarge {
			what: message,
			len,
			max,
		});
	}
	// `len <= max <= 64 MiB < 2^62`.
	VarInt::from_u64(len).unwrap_or(VarInt::MAX).encode(buf);
	buf.put_slice(&bytes);
	Ok(())
}

/// Writes `Type (i)` then a length-prefixed body.
pub(crate) fn encode_typed<B: BufMut>(
	buf: &mut B,
	message: &'static str,
	ty: VarInt,
	body: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
	let mut framed = Vec::new();
	encode_framed(&mut framed, message, MAX_MESSAGE_LEN, body)?;
	ty.encode(buf);
	buf.put_slice(&framed);
	Ok(())
}

/// Counts the non-empty `/` segments of a path as it would be after
/// normalisation (docs/protocol.md#encoding: outer `/` trimmed, `//` collapsed).
pub(crate) fn path_segments(path: &str) -> usize {
	path.split('/').filter(|s| !s.is_empty()).count()
}

/// Readers for the primitives of docs/protocol.md#encoding, so that a decoder
/// reads like the field tables there.
pub(crate) trait BufExt: Buf {
	/// `(i)`.
	fn get_var(&mut self) -> Result<VarInt, DecodeError> {
		VarInt::decode(self)
	}

	/// `(u8)`: "one raw byte".
	fn get_byte(&mut self) -> Result<u8, DecodeError> {
		if !self.has_remaining() {
			return Err(DecodeError::UnexpectedEnd);
		}
		Ok(self.get_u8())
	}

	/// "bool = u8 0/1 (others invalid)".
	fn get_bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
		match self.get_byte()? {
			0 => Ok(false),
			1 => Ok(true),
			value => Err(DecodeError::InvalidValue {
				field,
				value: value.into(),
			}),
		}
	}

	/// `n` raw bytes.
	fn get_raw(&mut self, n: u64) -> Result<Bytes, DecodeError> {
		if (self.remaining() as u64) < n {
			return Err(DecodeError::UnexpectedEnd);
		}
		Ok(self.copy_to_bytes(n as usize))
	}

	/// `(s)`: "string = `Length (i)` + UTF-8 bytes".
	fn get_string(&mut self, field: &'static str) -> Result<String, DecodeError> {
		let len = self.get_var()?.into_inner();
		let bytes = self.get_raw(len)?;
		String::from_utf8(bytes.into()).map_err(|_| DecodeError::InvalidUtf8 { field })
	}

	/// A broadcast path, prefix or suffix: a string of at most
	/// [`MAX_PATH_SEGMENTS`] segments. Normalisation happens elsewhere.
	fn get_path(&mut self, field: &'static str) -> Result<String, DecodeError> {
		let path = self.get_string(field)?;
		let segments = path_segments(&path);
		// docs/protocol.md#limits: at most 32 `/` segments.
		if segments > MAX_PATH_SEGMENTS {
			return Err(DecodeError::TooLarge {
				what: field,
				len: segments as u64,
				max: MAX_PATH_SEGMENTS as u64,
			});
		}
		Ok(path)
	}

	/// "+1 optional": "`0` = absent, `n` = value n-1".
	fn get_plus_one(&mut self) -> Result<Option<VarInt>, DecodeError> {
		let raw = self.get_var()?.into_inner();
		Ok(raw.checked_sub(1).map(|v| {
			// `v < raw <= 2^62-1`.
			VarInt::from_u64(v).unwrap_or(VarInt::MAX)
		}))
	}
}

impl<B: Buf + ?Sized> BufExt for B {}

/// Writers for the primitives of docs/protocol.md#encoding.
pub(crate) trait BufMutExt: BufMut {
	/// `(i)`.
	fn put_var(&mut self, value: VarInt) {
		value.encode(self);
	}

	/// "bool = u8 0/1".
	fn put_bool(&mut self, value: bool) {
		self.put_u8(u8::from(value));
	}

	/// `(s)`.
	fn put_string(&mut self, value: &str) -> Result<(), EncodeError> {
		let len = VarInt::try_from(value.len()).map_err(|_| EncodeError::TooLarge {
			what: "string length",
			len: value.len() as u64,
			max: VarInt::MAX.into_inner(),
		})?;
		self.put_var(len);
		self.put_slice(value.as_bytes());
		Ok(())
	}

	/// A broadcast path, prefix or suffix (at most [`MAX_PATH_SEGMENTS`]).
	fn put_path(&mut self, field: &'static str, value: &str) -> Result<(), EncodeError> {
		let segments = path_segments(value);
		if segments > MAX_PATH_SEGMENTS {
			return Err(EncodeError::TooLarge {
				what: field,
				len: segments as u64,
				max: MAX_PATH_SEGMENTS as u64,
			});
		}
		self.put_string(value)
	}

	/// "+1 optional": `None` as 0, `Some(n)` as n+1.
	fn put_plus_one(&mut self, field: &'static str, value: Option<VarInt>) -> Result<(), EncodeError> {
		let raw = match value {
			None => VarInt::ZERO,
			Some(v) => v.checked_add_one().ok_or(EncodeError::InvalidValue {
				field,
				reason: "2^62-1 cannot be sent as a +1 optional",
			})?,
		};
		self.put_var(raw);
		Ok(())
	}
}

impl<B: BufMut + ?Sized> BufMutExt for B {}

/// Fails unless `version` carries `message`.
pub(crate) fn require_decode(supported: bool, message: &'static str, version: Version) -> Result<(), DecodeError> {
	if supported {
		Ok(())
	} else {
		Err(DecodeError::NotInVersion { message, version })
	}
}

/// Fails unless `version` carries `message`.
pub(crate) fn require_encode(supported: bool, message: &'static str, version: Version) -> Result<(), EncodeError> {
	if supported {
		Ok(())
	} else {
		Err(EncodeError::NotInVersion { message, version })
	}
}

/// Fails if a field the version cannot carry holds a non-default value.
pub(crate) fn require_default<T: Default + PartialEq>(
	value: &T,
	field: &'static str,
	version: Version,
) -> Result<(), EncodeError> {
	if *value == T::default() {
		Ok(())
	} else {
		Err(EncodeError::FieldNotInVersion { field, version })
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn framed(body: &[u8]) -> Vec<u8> {
		let mut out = Vec::new();
		VarInt::try_from(body.len()).unwrap().encode(&mut out);
		out.extend_from_slice(body);
		out
	}

	fn read_two_vars(bytes: &[u8]) -> Result<(VarInt, VarInt), DecodeError> {
		let mut slice = bytes;
		decode_framed(&mut slice, "TEST", MAX_MESSAGE_LEN, |body| {
			Ok((body.get_var()?, body.get_var()?))
		})
	}

	#[test]
	fn framed_body_must_be_consumed_exactly() {
		assert_eq!(
			read_two_vars(&framed(&[1, 2])).unwrap(),
			(VarInt::from_u32(1), VarInt::from_u32(2))
		);
		// Long: a trailing byte after the last field.
		assert_eq!(
			read_two_vars(&framed(&[1, 2, 3])),
			Err(DecodeError::TrailingBytes {
				message: "TEST",
				extra: 1
			})
		);
		// Short: the body is complete but the fields run past it. This is not
		// "need more bytes": more bytes would belong to the next message.
		let mut bytes = framed(&[1]);
		bytes.push(2);
		assert_eq!(read_two_vars(&bytes), Err(DecodeError::ShortBody { message: "TEST" }));
	}

	#[test]
	fn truncated_frame_is_unexpected_end() {
		let bytes = framed(&[1, 2]);
		for cut in 0..bytes.len() {
			assert_eq!(
				read_two_vars(&bytes[..cut]),
				Err(DecodeError::UnexpectedEnd),
				"cut at {cut}"
			);
		}
	}

	#[test]
	fn oversize_length_is_rejected_before_the_body_arrives() {
		let mut bytes = Vec::new();
		VarInt::from_u64(MAX_MESSAGE_LEN + 1).unwrap().encode(&mut bytes);
		assert_eq!(
			read_two_vars(&bytes),
			Err(DecodeError::TooLarge {
				what: "TEST",
				len: MAX_MESSAGE_LEN + 1,
				max: MAX_MESSAGE_LEN
			})
		);
		let mut out = Vec::new();
		let err = encode_framed(&mut out, "TEST", 2, |body| {
			body.extend_from_slice(&[0; 3]);
			Ok(())
		});
		assert!(matches!(err, Err(EncodeError::TooLarge { len: 3, max: 2, .. })));
		assert!(out.is_empty(), "nothing is written on error");
	}

	#[test]
	fn strings_must_be_utf8() {
		let mut slice: &[u8] = &[2, 0xc3, 0x28];
		assert_eq!(
			slice.get_string("name"),
			Err(DecodeError::InvalidUtf8 { field: "name" })
		);
		let mut slice: &[u8] = &[3, b'a', b'b'];
		assert_eq!(slice.get_string("name"), Err(DecodeError::UnexpectedEnd));
	}

	#[test]
	fn bools_are_zero_or_one() {
		let mut slice: &[u8] = &[0, 1, 2];
		assert_eq!(slice.get_bool("b"), Ok(false));
		assert_eq!(slice.get_bool("b"), Ok(true));
		assert_eq!(
			slice.get_bool("b"),
			Err(DecodeError::InvalidValue { field: "b", value: 2 })
		);
		let mut out = Vec::new();
		out.put_bool(true);
		out.put_bool(false);
		assert_eq!(out, [1, 0]);
	}

	#[test]
	fn plus_one_optionals() {
		let mut slice: &[u8] = &[0, 1, 10];
		assert_eq!(slice.get_plus_one(), Ok(None));
		assert_eq!(slice.get_plus_one(), Ok(Some(VarInt::ZERO)));
		assert_eq!(slice.get_plus_one(), Ok(Some(VarInt::from_u32(9))));
		let mut out = Vec::new();
		out.put_plus_one("f", None).unwrap();
		out.put_plus_one("f", Some(VarInt::from_u32(9))).unwrap();
		assert_eq!(out, [0, 10]);
		assert!(out.put_plus_one("f", Some(VarInt::MAX)).is_err());
	}

	#[test]
	fn path_segment_limit() {
		let ok = vec!["s"; MAX_PATH_SEGMENTS].join("/");
		let too_many = vec!["s"; MAX_PATH_SEGMENTS + 1].join("/");
		assert_eq!(path_segments("/a//b/"), 2);
		let mut out = Vec::new();
		out.put_path("path", &ok).unwrap();
		let mut slice = &out[..];
		assert_eq!(slice.get_path("path").unwrap(), ok);
		assert!(matches!(
			Vec::new().put_path("path", &too_many),
			Err(EncodeError::TooLarge { len: 33, max: 32, .. })
		));
		let mut out = Vec::new();
		out.put_string(&too_many).unwrap();
		let mut slice = &out[..];
		assert!(matches!(
			slice.get_path("path"),
			Err(DecodeError::TooLarge { len: 33, max: 32, .. })
		));
	}
}
