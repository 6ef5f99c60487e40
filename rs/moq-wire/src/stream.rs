//! Stream types: the varint that opens every stream (docs/protocol.md#streams).

use std::fmt;

use bytes::{Buf, BufMut};

use super::coding::{Decode, DecodeError, Encode, EncodeError};
use super::varint::VarInt;
use super::version::Version;

/// Whether a stream is bidirectional or unidirectional.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
	/// A bidirectional stream.
	Bidi,
	/// A unidirectional stream.
	Uni,
}

impl fmt::Display for Direction {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(match self {
			Direction::Bidi => "bidi",
			Direction::Uni => "uni",
		})
	}
}

/// The type of a bidirectional stream.
///
/// Every stream begins with `Stream Type (i)` (docs/protocol.md#streams). Bidi
/// 0x0 (the old Session stream) is rejected, like any unknown type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BidiType {
	/// 0x1, opened by the subscriber: ANNOUNCE_REQUEST and announcements.
	Announce,
	/// 0x2, opened by the subscriber: SUBSCRIBE and its responses.
	Subscribe,
	/// 0x3, opened by the subscriber (lite-05+): FETCH and bare FRAMEs.
	Fetch,
	/// 0x4, opened by the subscriber: PROBE reports.
	Probe,
	/// 0x5, opened by either side (lite-04+): GOAWAY.
	Goaway,
	/// 0x6, opened by the subscriber (lite-05+): TRACK and TRACK_INFO.
	Track,
}

/// The type of a unidirectional stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UniType {
	/// 0x0, opened by the publisher: GROUP header then FRAMEs.
	Group,
	/// 0x1, opened once by each side (lite-05+): one SETUP.
	Setup,
}

impl BidiType {
	/// The wire value.
	pub const fn id(self) -> VarInt {
		VarInt::from_u32(match self {
			BidiType::Announce => 0x1,
			BidiType::Subscribe => 0x2,
			BidiType::Fetch => 0x3,
			BidiType::Probe => 0x4,
			BidiType::Goaway => 0x5,
			BidiType::Track => 0x6,
		})
	}

	/// Whether `version` has this stream.
	///
	/// docs/protocol.md#streams: Fetch and Track exist from lite-05 on (an
	/// earlier version resets them), Goaway from lite-04 on; Probe exists in
	/// every version implemented here.
	pub const fn in_version(self, version: Version) -> bool {
		match self {
			BidiType::Announce | BidiType::Subscribe | BidiType::Probe => true,
			BidiType::Goaway => version.has_goaway(),
			BidiType::Fetch | BidiType::Track => version.has_timestamps(),
		}
	}

	fn from_id(id: u64) -> Option<Self> {
		Some(match id {
			0x1 => BidiType::Announce,
			0x2 => BidiType::Subscribe,
			0x3 => BidiType::Fetch,
			0x4 => BidiType::Probe,
			0x5 => BidiType::Goaway,
			0x6 => BidiType::Track,
			_ => return None,
		})
	}
}

impl UniType {
	/// The wire value.
	pub const fn id(self) -> VarInt {
		VarInt::from_u32(match self {
			UniType::Group => 0x0,
			UniType::Setup => 0x1,
		})
	}

	/// Whether `version` has this stream (Setup: "05+").
	pub const fn in_version(self, version: Version) -> bool {
		match self {
			UniType::Group => true,
			UniType::Setup => version.has_setup(),
		}
	}

	fn from_id(id: u64) -> Option<Self> {
		Some(match id {
			0x0 => UniType::Group,
			0x1 => UniType::Setup,
			_ => return None,
		})
	}
}

fn unknown(direction: Direction, ty: VarInt, version: Version) -> DecodeError {
	DecodeError::UnknownStreamType { direction, ty, version }
}

impl Decode for BidiType {
	/// Reads the type of a bidi stream.
	///
	/// An unknown or disallowed type resets that stream only
	/// (docs/protocol.md#streams). Both come back as [`DecodeError::UnknownStreamType`], whose
	/// [`disposition`](DecodeError::disposition) is a stream reset.
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		let ty = VarInt::decode(buf)?;
		BidiType::from_id(ty.into_inner())
			.filter(|t| t.in_version(version))
			.ok_or_else(|| unknown(Direction::Bidi, ty, version))
	}
}

impl Encode for BidiType {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		if !self.in_version(version) {
			return Err(EncodeError::NotInVersion {
				message: "bidi stream type",
				version,
			});
		}
		self.id().encode(buf);
		Ok(())
	}
}

impl Decode for UniType {
	/// Reads the type of a uni stream; unknown or disallowed types are
	/// [`DecodeError::UnknownStreamType`], as for [`BidiType`].
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		let ty = VarInt::decode(buf)?;
		UniType::from_id(ty.into_inner())
			.filter(|t| t.in_version(version))
			.ok_or_else(|| unknown(Direction::Uni, ty, version))
	}
}

impl Encode for UniType {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		if !self.in_version(version) {
			return Err(EncodeError::NotInVersion {
				message: "uni stream type",
				version,
			});
		}
		self.id().encode(buf);
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	const BIDI: [BidiType; 6] = [
		BidiType::Announce,
		BidiType::Subscribe,
		BidiType::Fetch,
		BidiType::Probe,
		BidiType::Goaway,
		BidiType::Track,
	];

	#[test]
	fn round_trip_every_type_in_every_version() {
		for version in Version::ALL {
			for ty in BIDI.into_iter().filter(|t| t.in_version(version)) {
				let bytes = ty.to_bytes(version).unwrap();
				assert_eq!(BidiType::decode_prefix(&bytes, version).unwrap(), (ty, 1));
			}
			for ty in [UniType::Group, UniType::Setup]
				.into_iter()
				.filter(|t| t.in_version(version))
			{
				let bytes = ty.to_bytes(version).unwrap();
				assert_eq!(UniType::decode_prefix(&bytes, version).unwrap(), (ty, 1));
			}
		}
	}

	#[test]
	fn unknown_and_disallowed_types_are_reported_distinctly() {
		let cases: [(Direction, u8, Version); 6] = [
			(Direction::Bidi, 0x0, Version::Lite05), // the old Session stream
			(Direction::Bidi, 0x7, Version::Lite06),
			(Direction::Bidi, 0x3, Version::Lite04), // Fetch before lite-05
			(Direction::Bidi, 0x6, Version::Lite04), // Track before lite-05
			(Direction::Uni, 0x1, Version::Lite04),  // Setup before lite-05
			(Direction::Bidi, 0x5, Version::Lite03), // Goaway before lite-04
		];
		for (direction, ty, version) in cases {
			let bytes = [ty];
			let err = match direction {
				Direction::Bidi => BidiType::decode_prefix(&bytes, version).unwrap_err(),
				Direction::Uni => UniType::decode_prefix(&bytes, version).unwrap_err(),
			};
			assert_eq!(
				err,
				DecodeError::UnknownStreamType {
					direction,
					ty: ty.into(),
					version
				}
			);
		}
		assert_eq!(
			BidiType::decode_prefix(&[], Version::Lite05),
			Err(DecodeError::UnexpectedEnd)
		);
		assert!(BidiType::Fetch.to_bytes(Version::Lite04).is_err());
		assert!(UniType::Setup.to_bytes(Version::Lite04).is_err());
		assert!(BidiType::Goaway.to_bytes(Version::Lite03).is_err());
	}
}
