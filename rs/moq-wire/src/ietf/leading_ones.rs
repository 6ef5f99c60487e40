//! Draft-18's variable-length integers (draft-ietf-moq-transport-18 §1.4.1), which
//! replaced the QUIC varints of draft-14 and draft-16: the count of leading 1 bits
//! in the first byte says how many bytes follow it.
//!
//! | first byte | bytes | value bits |
//! |---|---|---|
//! | `0xxxxxxx` | 1 | 7 |
//! | `10xxxxxx` | 2 | 14 |
//! | `110xxxxx` | 3 | 21 |
//! | `1110xxxx` | 4 | 28 |
//! | `11110xxx` | 5 | 35 |
//! | `111110xx` | 6 | 42 |
//! | `1111110x` | 7 | 49 |
//! | `11111110` | 8 | 56 |
//! | `11111111` | 9 | 64 |
//!
//! Writing uses the shortest form. Reading takes any form, as the published client
//! does; a value past [`VarInt::MAX`] (only the 9-byte form can hold one) is one this
//! crate cannot represent, refused as an invalid value.
//!
//! Draft-17, which introduced these integers, reserved the 7-byte form (`1111110x`) that
//! draft-18 then defined: on draft-17 ([`get_in`] and [`put_in`] with `seven` false) a
//! value of 43 to 49 bits is written in the 8-byte form, and a 7-byte one is refused.

use bytes::{Buf, BufMut};

use crate::{DecodeError, VarInt};

/// Reads one integer; [`DecodeError::UnexpectedEnd`] when `buf` ends inside it.
pub(crate) fn get<B: Buf + ?Sized>(buf: &mut B) -> Result<VarInt, DecodeError> {
	if !buf.has_remaining() {
		return Err(DecodeError::UnexpectedEnd);
	}
	let first = buf.chunk()[0];
	let ones = first.leading_ones() as usize;
	// 0..=6 leading ones: that many bytes follow, and the bits after the first 0 start the
	// value; 7 and 8: seven and eight bytes follow, the first byte holds no value bits.
	let following = match ones {
		0..=6 => ones,
		7 => 7,
		_ => 8,
	};
	if buf.remaining() < 1 + following {
		return Err(DecodeError::UnexpectedEnd);
	}
	buf.advance(1);
	let mut value = match ones {
		0..=6 => u64::from(first & (0xFF >> (ones + 1))),
		_ => 0,
	};
	for _ in 0..following {
		value = (value << 8) | u64::from(buf.get_u8());
	}
	VarInt::from_u64(value).map_err(|_| DecodeError::InvalidValue {
		field: "draft-18 variable-length integer (over 2^62-1)",
		value,
	})
}

/// Reads one integer as [`get`] does, refusing the 7-byte form unless `seven` (draft-17
/// reserves it).
pub(crate) fn get_in<B: Buf + ?Sized>(buf: &mut B, seven: bool) -> Result<VarInt, DecodeError> {
	match buf.chunk().first() {
		Some(first) if !seven && first.leading_ones() == 6 => Err(DecodeError::InvalidValue {
			field: "draft-17 variable-length integer (the reserved 7-byte form)",
			value: u64::from(*first),
		}),
		_ => get(buf),
	}
}

/// Writes `value` as [`put`] does, but in the 8-byte form where the shortest is the 7-byte one
/// unless `seven` (draft-17 reserves it).
pub(crate) fn put_in<B: BufMut + ?Sized>(buf: &mut B, value: VarInt, seven: bool) {
	match seven || size(value) != 7 {
		true => put(buf, value),
		false => {
			buf.put_u8(0xFE);
			let x = value.into_inner();
			for i in (0..7).rev() {
				buf.put_u8((x >> (8 * i)) as u8);
			}
		}
	}
}

/// How many bytes [`put`] writes for `value`.
pub(crate) fn size(value: VarInt) -> usize {
	let bits = 64 - value.into_inner().leading_zeros() as usize;
	match bits {
		0..=49 => 1 + bits.saturating_sub(1) / 7,
		50..=56 => 8,
		_ => 9,
	}
}

/// Writes `value` in its shortest form.
pub(crate) fn put<B: BufMut + ?Sized>(buf: &mut B, value: VarInt) {
	let x = value.into_inner();
	let len = size(value);
	match len {
		1..=7 => {
			// len - 1 leading ones, a 0, then the top bits of the value.
			let prefix = !(0xFFu8 >> (len - 1));
			let top = (x >> (8 * (len - 1))) as u8;
			buf.put_u8(prefix | top);
		}
		8 => buf.put_u8(0xFE),
		_ => buf.put_u8(0xFF),
	}
	let following = len - 1;
	for i in (0..following).rev() {
		buf.put_u8((x >> (8 * i)) as u8);
	}
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::*;

	/// Draft-17 writes a 43- to 49-bit value in 8 bytes and refuses the 7-byte form; below and
	/// above that band both drafts write the same bytes.
	#[test]
	fn draft17_reserves_the_seven_byte_form() {
		let value = VarInt::from_u64(1 << 45).unwrap();
		let (mut d18, mut d17) = (Vec::new(), Vec::new());
		put_in(&mut d18, value, true);
		put_in(&mut d17, value, false);
		assert_eq!(d18, [0xFC, 0x20, 0, 0, 0, 0, 0]);
		assert_eq!(d17, [0xFE, 0, 0x20, 0, 0, 0, 0, 0]);
		assert_eq!(get_in(&mut &d17[..], false), Ok(value));
		assert_eq!(get_in(&mut &d18[..], true), Ok(value));
		assert_eq!(
			get_in(&mut &d18[..], false),
			Err(DecodeError::InvalidValue {
				field: "draft-17 variable-length integer (the reserved 7-byte form)",
				value: 0xFC
			})
		);
		assert_eq!(get_in(&mut &[][..], false), Err(DecodeError::UnexpectedEnd));
		for other in [
			0u64,
			127,
			1 << 41,
			(1 << 42) - 1,
			1 << 49,
			1 << 55,
			VarInt::MAX.into_inner(),
		] {
			let value = VarInt::from_u64(other).unwrap();
			let (mut a, mut b) = (Vec::new(), Vec::new());
			put_in(&mut a, value, true);
			put_in(&mut b, value, false);
			assert_eq!(a, b, "{other}");
		}
	}

	proptest! {
		#[test]
		fn draft17_round_trip(value in 0..=VarInt::MAX.into_inner()) {
			let value = VarInt::from_u64(value).unwrap();
			let mut out = Vec::new();
			put_in(&mut out, value, false);
			prop_assert!(out[0].leading_ones() != 6);
			prop_assert_eq!(get_in(&mut &out[..], false), Ok(value));
		}
	}

	fn bytes(value: u64) -> Vec<u8> {
		let mut out = Vec::new();
		put(&mut out, VarInt::from_u64(value).unwrap());
		out
	}

	#[test]
	fn forms() {
		assert_eq!(bytes(0), [0x00]);
		assert_eq!(bytes(127), [0x7F]);
		assert_eq!(bytes(128), [0x80, 0x80]);
		assert_eq!(bytes(4096), [0x90, 0x00]);
		// SETUP's type.
		assert_eq!(bytes(0x2F00), [0xAF, 0x00]);
		assert_eq!(bytes((1 << 14) - 1), [0xBF, 0xFF]);
		assert_eq!(bytes(1 << 14), [0xC0, 0x40, 0x00]);
		assert_eq!(bytes((1 << 49) - 1), [0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
		assert_eq!(bytes(1 << 49), [0xFE, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
		assert_eq!(bytes(1 << 56), [0xFF, 0x01, 0, 0, 0, 0, 0, 0, 0]);
		assert_eq!(bytes(VarInt::MAX.into_inner()).len(), 9);
	}

	#[test]
	fn longer_forms_read_too() {
		// 5 in the 2-byte and in the 9-byte form.
		assert_eq!(get(&mut &[0x80, 0x05][..]), Ok(VarInt::from_u32(5)));
		assert_eq!(get(&mut &[0xFF, 0, 0, 0, 0, 0, 0, 0, 5][..]), Ok(VarInt::from_u32(5)));
	}

	#[test]
	fn short_and_too_large() {
		assert_eq!(get(&mut &[][..]), Err(DecodeError::UnexpectedEnd));
		assert_eq!(get(&mut &[0xC0, 0x00][..]), Err(DecodeError::UnexpectedEnd));
		assert_eq!(get(&mut &[0xFF; 8][..]), Err(DecodeError::UnexpectedEnd));
		assert!(matches!(
			get(&mut &[0xFF; 9][..]),
			Err(DecodeError::InvalidValue { value: u64::MAX, .. })
		));
	}

	proptest! {
		#[test]
		fn round_trip(value in 0..=VarInt::MAX.into_inner()) {
			let value = VarInt::from_u64(value).unwrap();
			let mut out = Vec::new();
			put(&mut out, value);
			prop_assert_eq!(out.len(), size(value));
			let mut read = &out[..];
			prop_assert_eq!(get(&mut read), Ok(value));
			prop_assert!(read.is_empty());
		}
	}
}
