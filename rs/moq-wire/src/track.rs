//! The Track stream (bidi 0x6, lite-05+, docs/protocol.md#track-stream): TRACK and TRACK_INFO.

use bytes::{Buf, BufMut};

use super::coding::{
	BufExt, BufMutExt, Decode, DecodeError, Encode, EncodeError, MAX_MESSAGE_LEN, decode_framed, encode_framed,
	require_decode, require_encode,
};
use super::varint::VarInt;
use super::version::Version;

/// `TRACK = Len | Broadcast (s) | Track (s)`: asks for a track's TRACK_INFO.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Track {
	/// The broadcast path.
	pub broadcast: String,
	/// The track name.
	pub track: String,
}

/// `TRACK_INFO = Len | Publisher Priority (u8) | [lite-05: Ordered (u8)] |
/// Publisher Max Age ms (i) | Timescale (i, ≠0, units/s)`.
///
/// "Immutable, cached by subscribers, needed to read frame timestamps."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackInfo {
	/// Publisher priority: breaks ties between subscriber priorities.
	pub priority: u8,
	/// Publisher Max Age in milliseconds: bounds cache retention.
	pub max_age_ms: VarInt,
	/// Frame timestamp units per second; never 0.
	pub timescale: VarInt,
}

impl Decode for Track {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		require_decode(version.has_timestamps(), "TRACK", version)?;
		decode_framed(buf, "TRACK", MAX_MESSAGE_LEN, |body| {
			Ok(Self {
				broadcast: body.get_path("broadcast path")?,
				track: body.get_string("track name")?,
			})
		})
	}
}

impl Encode for Track {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		require_encode(version.has_timestamps(), "TRACK", version)?;
		encode_framed(buf, "TRACK", MAX_MESSAGE_LEN, |body| {
			body.put_path("broadcast path", &self.broadcast)?;
			body.put_string(&self.track)
		})
	}
}

impl Decode for TrackInfo {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		require_decode(version.has_timestamps(), "TRACK_INFO", version)?;
		decode_framed(buf, "TRACK_INFO", MAX_MESSAGE_LEN, |body| {
			let priority = body.get_byte()?;
			if version.has_ordered() {
				// "Ordered: retired; write 0, ignore on read".
				body.get_bool("ordered")?;
			}
			let max_age_ms = body.get_var()?;
			let timescale = body.get_var()?;
			// "Timescale (i, ≠0, units/s)".
			if timescale == VarInt::ZERO {
				return Err(DecodeError::InvalidValue {
					field: "timescale",
					value: 0,
				});
			}
			Ok(Self {
				priority,
				max_age_ms,
				timescale,
			})
		})
	}
}

impl Encode for TrackInfo {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		require_encode(version.has_timestamps(), "TRACK_INFO", version)?;
		if self.timescale == VarInt::ZERO {
			return Err(EncodeError::InvalidValue {
				field: "timescale",
				reason: "must not be 0",
			});
		}
		encode_framed(buf, "TRACK_INFO", MAX_MESSAGE_LEN, |body| {
			body.put_u8(self.priority);
			if version.has_ordered() {
				body.put_bool(false);
			}
			body.put_var(self.max_age_ms);
			body.put_var(self.timescale);
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
	fn zero_timescale_is_forbidden() {
		assert_eq!(
			TrackInfo::decode_prefix(&[3, 7, 0, 0], Version::Lite06),
			Err(DecodeError::InvalidValue {
				field: "timescale",
				value: 0
			})
		);
		let info = TrackInfo {
			priority: 0,
			max_age_ms: VarInt::ZERO,
			timescale: VarInt::ZERO,
		};
		assert!(info.to_bytes(Version::Lite05).is_err());
	}

	#[test]
	fn not_in_lite04() {
		assert!(Track::default().to_bytes(Version::Lite04).is_err());
		assert!(matches!(
			TrackInfo::decode_prefix(&[3, 7, 0, 1], Version::Lite04),
			Err(DecodeError::NotInVersion { .. })
		));
	}

	#[test]
	fn non_utf8_track_name() {
		// TRACK: broadcast "" | track of 1 byte 0xff.
		assert_eq!(
			Track::decode_prefix(&[3, 0, 1, 0xff], Version::Lite05),
			Err(DecodeError::InvalidUtf8 { field: "track name" })
		);
	}

	proptest! {
		#[test]
		fn track_round_trip(broadcast in strategy::path(), track in strategy::text()) {
			for version in [Version::Lite05, Version::Lite06] {
				strategy::round_trip(&Track { broadcast: broadcast.clone(), track: track.clone() }, version)?;
			}
		}

		#[test]
		fn info_round_trip(
			priority in any::<u8>(),
			max_age_ms in strategy::varint(),
			timescale in strategy::varint().prop_filter("non-zero", |t| *t != VarInt::ZERO),
		) {
			for version in [Version::Lite05, Version::Lite06] {
				strategy::round_trip(&TrackInfo { priority, max_age_ms, timescale }, version)?;
			}
		}
	}
}
