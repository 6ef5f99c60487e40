//! The Probe stream (bidi 0x4, docs/protocol.md#probe-stream): PROBE reports.

use bytes::{Buf, BufMut};

use super::coding::{
	BufExt, BufMutExt, Decode, DecodeError, Encode, EncodeError, MAX_MESSAGE_LEN, decode_framed, encode_framed,
};
use super::varint::VarInt;
use super::version::Version;

/// `PROBE = Len | Bitrate bps (i, 0 = unknown) | [04+: RTT ms (i)]`.
///
/// "Only the publisher sends PROBEs (periodic reports)"; the subscriber writes
/// only the stream type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Probe {
	/// Estimated bitrate in bits per second (0 = unknown).
	pub bitrate: VarInt,
	/// Round-trip time in milliseconds (0 = unknown).
	pub rtt_ms: VarInt,
}

impl Decode for Probe {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		decode_framed(buf, "PROBE", MAX_MESSAGE_LEN, |body| {
			Ok(Self {
				bitrate: body.get_var()?,
				// lite-03 carries the bitrate alone: its RTT is unknown.
				rtt_ms: match version.has_probe_rtt() {
					true => body.get_var()?,
					false => VarInt::ZERO,
				},
			})
		})
	}
}

impl Encode for Probe {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		encode_framed(buf, "PROBE", MAX_MESSAGE_LEN, |body| {
			body.put_var(self.bitrate);
			// An RTT lite-03 cannot carry is dropped, as a report of "unknown".
			if version.has_probe_rtt() {
				body.put_var(self.rtt_ms);
			}
			Ok(())
		})
	}
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::super::strategy;
	use super::*;

	#[test]
	fn trailing_bytes_in_body() {
		assert_eq!(
			Probe::decode_prefix(&[3, 0, 0, 0], Version::Lite05),
			Err(DecodeError::TrailingBytes {
				message: "PROBE",
				extra: 1
			})
		);
	}

	#[test]
	fn lite03_carries_the_bitrate_alone() {
		let probe = Probe {
			bitrate: VarInt::from_u32(9),
			rtt_ms: VarInt::from_u32(7),
		};
		assert_eq!(probe.to_bytes(Version::Lite03).unwrap(), [1, 9]);
		assert_eq!(probe.to_bytes(Version::Lite04).unwrap(), [2, 9, 7]);
		assert_eq!(
			Probe::decode_prefix(&[1, 9], Version::Lite03),
			Ok((
				Probe {
					bitrate: VarInt::from_u32(9),
					rtt_ms: VarInt::ZERO
				},
				2
			))
		);
		assert!(matches!(
			Probe::decode_prefix(&[2, 9, 7], Version::Lite03),
			Err(DecodeError::TrailingBytes {
				message: "PROBE",
				extra: 1
			})
		));
	}

	proptest! {
		#[test]
		fn round_trip(version in strategy::version(), bitrate in strategy::varint(), rtt_ms in strategy::varint()) {
			let rtt_ms = if version.has_probe_rtt() { rtt_ms } else { VarInt::ZERO };
			strategy::round_trip(&Probe { bitrate, rtt_ms }, version)?;
		}
	}
}
