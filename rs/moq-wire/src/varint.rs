//! The QUIC variable-length integer used by moq-lite-01…06.

use std::fmt;

use bytes::{Buf, BufMut};

use super::coding::DecodeError;

/// A QUIC variable-length integer: a value in `0..=2^62-1`.
///
/// Every `(i)` field of moq-lite is one (docs/protocol.md#encoding): a 2-bit
/// length prefix selects 1, 2, 4 or 8 bytes, and the largest value is 2^62-1.
/// The only ways to build one check the range, so an
/// out-of-range value cannot reach the encoder. Encoding always uses the
/// shortest form; decoding also accepts longer forms, as RFC 9000 §16 allows:
/// "values do not need to be encoded on the minimum number of bytes necessary".
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarInt(u64);

/// A value does not fit in a QUIC varint (it is 2^62 or more).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} does not fit in a QUIC varint (max 2^62-1)")]
pub struct VarIntBoundsExceeded(pub u64);

impl VarInt {
	/// The largest value: 2^62-1.
	pub const MAX: VarInt = VarInt((1 << 62) - 1);
	/// Zero.
	pub const ZERO: VarInt = VarInt(0);

	/// A varint from a `u32`, which always fits.
	pub const fn from_u32(value: u32) -> Self {
		VarInt(value as u64)
	}

	/// A varint from a `u64`, or an error if it is 2^62 or more.
	pub const fn from_u64(value: u64) -> Result<Self, VarIntBoundsExceeded> {
		if value <= Self::MAX.0 {
			Ok(VarInt(value))
		} else {
			Err(VarIntBoundsExceeded(value))
		}
	}

	/// The value.
	pub const fn into_inner(self) -> u64 {
		self.0
	}

	/// `self + 1` if it still fits (used by "+1 optional" fields).
	pub const fn checked_add_one(self) -> Option<Self> {
		if self.0 < Self::MAX.0 {
			Some(VarInt(self.0 + 1))
		} else {
			None
		}
	}

	/// How many bytes the minimal encoding takes: 1, 2, 4 or 8.
	pub const fn size(self) -> usize {
		let x = self.0;
		if x < 1 << 6 {
			1
		} else if x < 1 << 14 {
			2
		} else if x < 1 << 30 {
			4
		} else {
			8
		}
	}

	/// Reads one varint.
	///
	/// Fails with [`DecodeError::UnexpectedEnd`] when `buf` holds fewer bytes
	/// than the length prefix announces.
	pub fn decode<B: Buf + ?Sized>(buf: &mut B) -> Result<Self, DecodeError> {
		if !buf.has_remaining() {
			return Err(DecodeError::UnexpectedEnd);
		}
		// RFC 9000 §16: "The QUIC variable-length integer encoding reserves the
		// two most significant bits of the first byte to encode the base-2
		// logarithm of the integer encoding length in bytes."
		let first = buf.chunk()[0];
		let len = 1usize << (first >> 6);
		if buf.remaining() < len {
			return Err(DecodeError::UnexpectedEnd);
		}
		let value = match len {
			1 => u64::from(buf.get_u8()),
			2 => u64::from(buf.get_u16() & 0x3fff),
			4 => u64::from(buf.get_u32() & 0x3fff_ffff),
			_ => buf.get_u64() & 0x3fff_ffff_ffff_ffff,
		};
		Ok(VarInt(value))
	}

	/// Writes the minimal encoding.
	pub fn encode<B: BufMut + ?Sized>(self, buf: &mut B) {
		let x = self.0;
		match self.size() {
			1 => buf.put_u8(x as u8),
			2 => buf.put_u16(0x4000 | x as u16),
			4 => buf.put_u32(0x8000_0000 | x as u32),
			_ => buf.put_u64(0xc000_0000_0000_0000 | x),
		}
	}
}

impl From<u8> for VarInt {
	fn from(value: u8) -> Self {
		VarInt(value.into())
	}
}

impl From<u16> for VarInt {
	fn from(value: u16) -> Self {
		VarInt(value.into())
	}
}

impl From<u32> for VarInt {
	fn from(value: u32) -> Self {
		VarInt(value.into())
	}
}

impl TryFrom<u64> for VarInt {
	type Error = VarIntBoundsExceeded;

	fn try_from(value: u64) -> Result<Self, Self::Error> {
		Self::from_u64(value)
	}
}

impl TryFrom<usize> for VarInt {
	type Error = VarIntBoundsExceeded;

	fn try_from(value: usize) -> Result<Self, Self::Error> {
		Self::from_u64(value as u64)
	}
}

impl From<VarInt> for u64 {
	fn from(value: VarInt) -> Self {
		value.0
	}
}

impl fmt::Debug for VarInt {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		self.0.fmt(f)
	}
}

impl fmt::Display for VarInt {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		self.0.fmt(f)
	}
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::*;

	fn encoded(v: u64) -> Vec<u8> {
		let mut out = Vec::new();
		VarInt::from_u64(v).unwrap().encode(&mut out);
		out
	}

	#[test]
	fn boundaries_use_minimal_lengths() {
		// RFC 9000 §16, Table 4: 1 byte up to 63, 2 up to 16383, 4 up to
		// 1073741823, 8 up to 4611686018427387903.
		let cases: [(u64, &[u8]); 8] = [
			(0, &[0x00]),
			(63, &[0x3f]),
			(64, &[0x40, 0x40]),
			(16_383, &[0x7f, 0xff]),
			(16_384, &[0x80, 0x00, 0x40, 0x00]),
			(1_073_741_823, &[0xbf, 0xff, 0xff, 0xff]),
			(1_073_741_824, &[0xc0, 0, 0, 0, 0x40, 0, 0, 0]),
			((1 << 62) - 1, &[0xff; 8]),
		];
		for (value, bytes) in cases {
			assert_eq!(encoded(value), bytes, "encoding {value}");
			let mut slice = bytes;
			assert_eq!(VarInt::decode(&mut slice).unwrap().into_inner(), value);
			assert!(slice.is_empty());
			assert_eq!(VarInt::from_u64(value).unwrap().size(), bytes.len());
		}
	}

	#[test]
	fn out_of_range_is_unrepresentable() {
		assert_eq!(VarInt::from_u64(1 << 62), Err(VarIntBoundsExceeded(1 << 62)));
		assert!(VarInt::try_from(u64::MAX).is_err());
		assert_eq!(VarInt::MAX.checked_add_one(), None);
		assert_eq!(VarInt::ZERO.checked_add_one(), Some(VarInt::from_u32(1)));
	}

	#[test]
	fn truncated_is_unexpected_end() {
		for bytes in [&[][..], &[0x40], &[0x80, 0, 0], &[0xc0, 0, 0, 0, 0, 0, 0]] {
			let mut slice = bytes;
			assert_eq!(VarInt::decode(&mut slice), Err(DecodeError::UnexpectedEnd));
		}
	}

	#[test]
	fn non_minimal_is_accepted_on_decode() {
		// RFC 9000 §16 example: 0x4025 decodes to 37, as does 0x25.
		let mut slice: &[u8] = &[0x40, 0x25];
		assert_eq!(VarInt::decode(&mut slice).unwrap(), VarInt::from_u32(37));
	}

	proptest! {
		#[test]
		fn round_trip(v in 0..=VarInt::MAX.into_inner()) {
			let bytes = encoded(v);
			let mut slice = &bytes[..];
			prop_assert_eq!(VarInt::decode(&mut slice).unwrap().into_inner(), v);
			prop_assert!(slice.is_empty());
		}
	}
}
