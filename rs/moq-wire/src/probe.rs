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
	fn decode<B: Buf>(buf: &mut B, _version: Version) -> Result<Self, DecodeError> {
		// Every implemented version is 04+, so RTT is always present.
		decode_framed(buf, "PROBE", MAX_MESSAGE_LEN, |body| {
			Ok(Self {
				bitrate: body.get_var()?,
				rtt_ms: body.get_var()?,
			})
		})
	}
}

impl Encode for Probe {
	fn encode<B: BufMut>(&self, buf: &mut B, _version: Version) -> Result<(), EncodeError> {
		encode_framed(buf, "PROBE", MAX_MESSAGE_LEN, |body| {
			body.put_var(self.bitrate);
			body.put_var(self.rtt_ms);
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

	proptest! {
		#[test]
		fn round_trip(version in strategy::version(), bitrate in strategy::varint(), rtt_ms in strategy::varint()) {
			strategy::round_trip(&Probe { bitrate, rtt_ms }, version)?;
		}
	}
}
