//! The moq-lite versions this codec speaks.

use std::fmt;

/// A moq-lite wire version.
///
/// The version is fixed only by the transport identifier (TLS ALPN,
/// `WT-Available-Protocols`/`WT-Protocol`, or `Sec-WebSocket-Protocol`); no
/// message carries it (docs/protocol.md#version-negotiation). The session
/// driver therefore learns the version from the transport and passes it to
/// every encode and decode call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Version {
	/// `moq-lite-03`: lite-04 without the Goaway stream, with a hop count in
	/// place of an ANNOUNCE's hop ids, no ANNOUNCE_REQUEST Exclude Hop and no
	/// PROBE RTT (docs/protocol.md#version-differences).
	Lite03,
	/// `moq-lite-04`: no SETUP, no TRACK/FETCH streams, no frame timestamps.
	Lite04,
	/// `moq-lite-05`: SETUP stream, ANNOUNCE_OK, typed subscribe responses,
	/// TRACK/FETCH streams, frame timestamps and datagrams.
	Lite05,
	/// `moq-lite-06` as the published moq-net crate speaks it
	/// (docs/protocol.md#versions): typed announcements with
	/// warm/cold costs, frame bounds, no Ordered byte, raw Group Start floor.
	Lite06,
}

impl Version {
	/// Every version this codec implements, oldest first.
	pub const ALL: [Version; 4] = [Version::Lite03, Version::Lite04, Version::Lite05, Version::Lite06];

	/// The ALPN / `WT-Protocol` / `Sec-WebSocket-Protocol` identifier.
	pub const fn alpn(self) -> &'static str {
		match self {
			Version::Lite03 => "moq-lite-03",
			Version::Lite04 => "moq-lite-04",
			Version::Lite05 => "moq-lite-05",
			Version::Lite06 => "moq-lite-06",
		}
	}

	/// The version named by a transport identifier, if this codec speaks it.
	pub fn from_alpn(alpn: &str) -> Option<Self> {
		Self::ALL.into_iter().find(|v| v.alpn() == alpn)
	}

	/// Whether each side opens a Setup stream (lite-05+, docs/protocol.md#session-start).
	pub const fn has_setup(self) -> bool {
		!matches!(self, Version::Lite03 | Version::Lite04)
	}

	/// Whether frames carry a timestamp delta and TRACK/FETCH/datagrams exist
	/// (lite-05+).
	pub const fn has_timestamps(self) -> bool {
		!matches!(self, Version::Lite03 | Version::Lite04)
	}

	/// Whether the Goaway stream exists (lite-04+).
	pub const fn has_goaway(self) -> bool {
		!matches!(self, Version::Lite03)
	}

	/// Whether an ANNOUNCE carries its hop ids (lite-04+); lite-03 carries their
	/// number alone.
	pub const fn has_hop_ids(self) -> bool {
		!matches!(self, Version::Lite03)
	}

	/// Whether ANNOUNCE_REQUEST carries an Exclude Hop (lite-04 and lite-05 only).
	pub const fn has_exclude_hop(self) -> bool {
		matches!(self, Version::Lite04 | Version::Lite05)
	}

	/// Whether the retired `Ordered` byte is still on the wire (lite-03..05).
	pub(crate) const fn has_ordered(self) -> bool {
		matches!(self, Version::Lite03 | Version::Lite04 | Version::Lite05)
	}

	/// Whether PROBE carries an RTT after the bitrate (lite-04+).
	pub(crate) const fn has_probe_rtt(self) -> bool {
		!matches!(self, Version::Lite03)
	}

	/// Whether SUBSCRIBE is answered by SUBSCRIBE_OK (lite-03/04) rather than
	/// SUBSCRIBE_START and SUBSCRIBE_END (lite-05+).
	pub(crate) const fn has_subscribe_ok(self) -> bool {
		!self.has_setup()
	}

	/// Whether subscriptions, fetches and groups carry frame bounds (lite-06).
	pub(crate) const fn has_frame_bounds(self) -> bool {
		matches!(self, Version::Lite06)
	}
}

impl fmt::Display for Version {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(self.alpn())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn alpn_round_trip() {
		for v in Version::ALL {
			assert_eq!(Version::from_alpn(v.alpn()), Some(v));
		}
		assert_eq!(Version::from_alpn("moq-lite-03"), Some(Version::Lite03));
		assert_eq!(Version::from_alpn("moq-lite-02"), None);
		assert_eq!(Version::from_alpn("moql"), None);
		assert_eq!(Version::from_alpn("moq-lite-06-wip"), None);
	}
}
