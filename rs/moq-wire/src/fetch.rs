//! The Fetch stream (bidi 0x3, lite-05+, docs/protocol.md#fetch-stream): FETCH. The reply is
//! bare [`Frame`](super::Frame)s with no header, then FIN.

use bytes::{Buf, BufMut};

use super::coding::{
	BufExt, BufMutExt, Decode, DecodeError, Encode, EncodeError, MAX_MESSAGE_LEN, decode_framed, encode_framed,
	require_decode, require_default, require_encode,
};
use super::varint::VarInt;
use super::version::Version;

/// `FETCH = Len | Broadcast (s) | Track (s) | Priority (u8) | Group (i) |
/// [06: Frame Start (i) | Frame End (i,+1)]`: one cached group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fetch {
	/// The broadcast path.
	pub broadcast: String,
	/// The track name.
	pub track: String,
	/// Subscriber priority.
	pub priority: u8,
	/// The group sequence.
	pub group: VarInt,
	/// lite-06: first frame wanted (0 elsewhere).
	pub frame_start: VarInt,
	/// lite-06: last frame wanted, "+1" (`None` = to the end; `None` elsewhere).
	pub frame_end: Option<VarInt>,
}

impl Decode for Fetch {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		require_decode(version.has_timestamps(), "FETCH", version)?;
		decode_framed(buf, "FETCH", MAX_MESSAGE_LEN, |body| {
			let mut fetch = Self {
				broadcast: body.get_path("broadcast path")?,
				track: body.get_string("track name")?,
				priority: body.get_byte()?,
				group: body.get_var()?,
				..Self::default()
			};
			if version.has_frame_bounds() {
				fetch.frame_start = body.get_var()?;
				fetch.frame_end = body.get_plus_one()?;
			}
			Ok(fetch)
		})
	}
}

impl Encode for Fetch {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		require_encode(version.has_timestamps(), "FETCH", version)?;
		if !version.has_frame_bounds() {
			require_default(&self.frame_start, "frame_start", version)?;
			require_default(&self.frame_end, "frame_end", version)?;
		}
		encode_framed(buf, "FETCH", MAX_MESSAGE_LEN, |body| {
			body.put_path("broadcast path", &self.broadcast)?;
			body.put_string(&self.track)?;
			body.put_u8(self.priority);
			body.put_var(self.group);
			if version.has_frame_bounds() {
				body.put_var(self.frame_start);
				body.put_plus_one("frame_end", self.frame_end)?;
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
	fn version_gates() {
		assert!(Fetch::default().to_bytes(Version::Lite04).is_err());
		let bounded = Fetch {
			frame_end: Some(VarInt::ZERO),
			..Fetch::default()
		};
		assert!(matches!(
			bounded.to_bytes(Version::Lite05),
			Err(EncodeError::FieldNotInVersion { field: "frame_end", .. })
		));
		assert!(bounded.to_bytes(Version::Lite06).is_ok());
	}

	proptest! {
		#[test]
		fn round_trip(
			version in prop::sample::select(vec![Version::Lite05, Version::Lite06]),
			broadcast in strategy::path(),
			track in strategy::text(),
			priority in any::<u8>(),
			group in strategy::varint(),
			frame_start in strategy::varint(),
			frame_end in strategy::plus_one(),
		) {
			let mut msg = Fetch { broadcast, track, priority, group, frame_start, frame_end };
			if !version.has_frame_bounds() {
				msg.frame_start = VarInt::ZERO;
				msg.frame_end = None;
			}
			strategy::round_trip(&msg, version)?;
		}
	}
}
