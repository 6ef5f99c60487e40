//! The Group stream (uni 0x0, docs/protocol.md#group-stream): the GROUP header, then FRAMEs.
//! FRAMEs are also the reply on a Fetch stream.

use bytes::{Buf, BufMut, Bytes};

use super::coding::{
	BufExt, BufMutExt, Decode, DecodeError, Encode, EncodeError, MAX_MESSAGE_LEN, decode_framed, encode_framed,
	require_default,
};
use super::varint::VarInt;
use super::version::Version;

/// `GROUP = Len | Subscribe ID (i) | Group Sequence (i) | [06: Frame Start (i)]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Group {
	/// The SUBSCRIBE this group answers.
	pub subscribe_id: VarInt,
	/// The group sequence ("should rise by 1 but may have gaps").
	pub sequence: VarInt,
	/// lite-06: the index of the first frame on this stream (0 elsewhere).
	pub frame_start: VarInt,
}

/// The part of a FRAME before its payload:
/// `[lite-05+: Timestamp Delta (zigzag i)] | Size (i)`.
///
/// Decode this first to bound `size` (e.g. reset with
/// [`StreamCode::FRAME_TOO_LARGE`](super::StreamCode::FRAME_TOO_LARGE)) before
/// buffering the payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameHeader {
	/// Delta from the previous frame's timestamp (from 0 for the first frame of
	/// a stream), in the track's Timescale. Always 0 on lite-04.
	pub timestamp_delta: i64,
	/// The payload length in bytes.
	pub size: VarInt,
}

/// A whole FRAME: header and payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
	/// See [`FrameHeader::timestamp_delta`].
	pub timestamp_delta: i64,
	/// The payload ("empty payloads are legal").
	pub payload: Bytes,
}

/// Zigzag-encodes a signed value.
///
/// docs/protocol.md#encoding: zigzag (for timestamps), `u = (s << 1) ^ (s >> 63)`.
pub const fn zigzag_encode(s: i64) -> u64 {
	((s << 1) ^ (s >> 63)) as u64
}

/// Zigzag-decodes a value: "`s = (u >> 1) ^ -(u & 1)`".
pub const fn zigzag_decode(u: u64) -> i64 {
	((u >> 1) as i64) ^ -((u & 1) as i64)
}

impl Decode for Group {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		decode_framed(buf, "GROUP", MAX_MESSAGE_LEN, |body| {
			let mut group = Self {
				subscribe_id: body.get_var()?,
				sequence: body.get_var()?,
				frame_start: VarInt::ZERO,
			};
			if version.has_frame_bounds() {
				group.frame_start = body.get_var()?;
			}
			Ok(group)
		})
	}
}

impl Encode for Group {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		if !version.has_frame_bounds() {
			require_default(&self.frame_start, "frame_start", version)?;
		}
		encode_framed(buf, "GROUP", MAX_MESSAGE_LEN, |body| {
			body.put_var(self.subscribe_id);
			body.put_var(self.sequence);
			if version.has_frame_bounds() {
				body.put_var(self.frame_start);
			}
			Ok(())
		})
	}
}

impl Decode for FrameHeader {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		let timestamp_delta = if version.has_timestamps() {
			zigzag_decode(buf.get_var()?.into_inner())
		} else {
			0
		};
		Ok(Self {
			timestamp_delta,
			size: buf.get_var()?,
		})
	}
}

impl Encode for FrameHeader {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		if version.has_timestamps() {
			let zigzag =
				VarInt::from_u64(zigzag_encode(self.timestamp_delta)).map_err(|_| EncodeError::InvalidValue {
					field: "timestamp_delta",
					reason: "outside -2^61..2^61, so its zigzag does not fit a varint",
				})?;
			buf.put_var(zigzag);
		} else {
			// "Pre-05 frames have no timestamp."
			require_default(&self.timestamp_delta, "timestamp_delta", version)?;
		}
		buf.put_var(self.size);
		Ok(())
	}
}

impl Frame {
	/// The header that precedes this frame's payload.
	pub fn header(&self) -> Result<FrameHeader, EncodeError> {
		let size = VarInt::try_from(self.payload.len()).map_err(|_| EncodeError::InvalidValue {
			field: "payload",
			reason: "longer than 2^62-1 bytes",
		})?;
		Ok(FrameHeader {
			timestamp_delta: self.timestamp_delta,
			size,
		})
	}
}

impl Decode for Frame {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		let header = FrameHeader::decode(buf, version)?;
		Ok(Self {
			timestamp_delta: header.timestamp_delta,
			payload: buf.get_raw(header.size.into_inner())?,
		})
	}
}

impl Encode for Frame {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		self.header()?.encode(buf, version)?;
		buf.put_slice(&self.payload);
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::super::strategy;
	use super::*;

	/// The largest |delta| whose zigzag still fits a varint.
	const DELTA_MAX: i64 = (1 << 61) - 1;
	const DELTA_MIN: i64 = -(1 << 61);

	#[test]
	fn zigzag_matches_protocol_md() {
		for (s, u) in [(0i64, 0u64), (-1, 1), (1, 2), (-40, 79), (40, 80), (1000, 2000)] {
			assert_eq!(zigzag_encode(s), u);
			assert_eq!(zigzag_decode(u), s);
		}
		assert_eq!(zigzag_encode(DELTA_MAX), VarInt::MAX.into_inner() - 1);
		assert_eq!(zigzag_encode(DELTA_MIN), VarInt::MAX.into_inner());
	}

	#[test]
	fn timestamp_range() {
		let frame = |d| Frame {
			timestamp_delta: d,
			payload: Bytes::new(),
		};
		assert!(frame(DELTA_MAX).to_bytes(Version::Lite05).is_ok());
		assert!(frame(DELTA_MIN).to_bytes(Version::Lite05).is_ok());
		assert!(frame(DELTA_MAX + 1).to_bytes(Version::Lite05).is_err());
		assert!(frame(DELTA_MIN - 1).to_bytes(Version::Lite05).is_err());
		assert!(matches!(
			frame(1).to_bytes(Version::Lite04),
			Err(EncodeError::FieldNotInVersion { .. })
		));
	}

	#[test]
	fn header_then_payload() {
		let bytes = [0x40, 0x50, 0x02, b'y', b'o'];
		let (header, used) = FrameHeader::decode_prefix(&bytes, Version::Lite05).unwrap();
		assert_eq!(header.timestamp_delta, 40);
		assert_eq!(header.size, VarInt::from_u32(2));
		assert_eq!(used, 3);
		// The payload is not there yet.
		assert_eq!(
			Frame::decode_prefix(&bytes[..4], Version::Lite05),
			Err(DecodeError::UnexpectedEnd)
		);
	}

	proptest! {
		#[test]
		fn zigzag_round_trip(s in any::<i64>()) {
			prop_assert_eq!(zigzag_decode(zigzag_encode(s)), s);
		}

		#[test]
		fn group_round_trip(
			version in strategy::version(),
			subscribe_id in strategy::varint(),
			sequence in strategy::varint(),
			frame_start in strategy::varint(),
		) {
			let frame_start = if version.has_frame_bounds() { frame_start } else { VarInt::ZERO };
			strategy::round_trip(&Group { subscribe_id, sequence, frame_start }, version)?;
		}

		#[test]
		fn frame_round_trip(version in strategy::version(), delta in DELTA_MIN..=DELTA_MAX, payload in strategy::payload()) {
			let timestamp_delta = if version.has_timestamps() { delta } else { 0 };
			strategy::round_trip(&Frame { timestamp_delta, payload }, version)?;
		}
	}
}
