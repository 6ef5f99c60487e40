//! Every difference between lite-03, -04, -05 and -06 that a session's behaviour depends on, one method
//! each (`docs/protocol.md`, "Versions"). The codec decides the byte layouts; these decide what is
//! sent and expected.

use crate::wire::Version;

/// One moq-lite version, asked about its behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect(Version);

impl Dialect {
	/// The dialect of `version`.
	pub const fn new(version: Version) -> Self {
		Self(version)
	}

	/// The version on the wire.
	pub const fn version(self) -> Version {
		self.0
	}

	/// lite-05+: both ends open a SETUP stream first (lite-03/04 have none).
	pub const fn has_setup(self) -> bool {
		self.0.has_setup()
	}

	/// lite-05+: an ANNOUNCE_REQUEST is answered by ANNOUNCE_OK (hop id, active count) before
	/// the announcements.
	pub const fn announce_ok(self) -> bool {
		self.0.has_setup()
	}

	/// lite-03/04: the sender of an ANNOUNCE appends its own hop id to the chain (lite-05+ sent
	/// it in ANNOUNCE_OK instead, and the receiver treats it as the implicit last hop). On lite-03
	/// only the chain's length reaches the peer.
	pub const fn sender_appends_hop(self) -> bool {
		!self.0.has_setup()
	}

	/// lite-05+: the ANNOUNCE_OK hop id is the implicit last hop of every chain on the stream.
	pub const fn implicit_last_hop(self) -> bool {
		!self.sender_appends_hop()
	}

	/// lite-06: typed START / RESTART / END announcements with implicit Announce IDs (lite-04/05
	/// send ANNOUNCE with a status and the suffix).
	pub const fn typed_announcements(self) -> bool {
		matches!(self.0, Version::Lite06)
	}

	/// lite-05+: a live path whose route changed is updated in place (a second `active` on
	/// lite-05, RESTART on lite-06). lite-03/04 have no update: a second `active` is a protocol
	/// violation for the published client, so the path is ended and started again.
	pub const fn updates_in_place(self) -> bool {
		self.0.has_setup()
	}

	/// lite-04/05: ANNOUNCE_REQUEST carries an Exclude Hop (lite-03 has none, lite-06 relies on
	/// the SETUP Hop).
	pub const fn exclude_hop_in_request(self) -> bool {
		self.0.has_exclude_hop()
	}

	/// lite-04+: a session going away says so on a Goaway stream (lite-03 has none: the peer
	/// learns of the end when the session closes).
	pub const fn goaway(self) -> bool {
		self.0.has_goaway()
	}

	/// lite-03/04: SUBSCRIBE is answered by SUBSCRIBE_OK at once; lite-05+ send SUBSCRIBE_START
	/// with the first group once it is known, and SUBSCRIBE_END with the end.
	pub const fn subscribe_ok_at_once(self) -> bool {
		!self.has_setup()
	}

	/// lite-05+: frames carry a timestamp delta (lite-03/04's are stripped when sent and stamped
	/// with their arrival time when received).
	pub const fn timestamps(self) -> bool {
		self.0.has_timestamps()
	}

	/// lite-05+: TRACK streams answer TRACK_INFO (lite-03/04 have none: a millisecond timescale is
	/// synthesised).
	pub const fn track_info(self) -> bool {
		self.0.has_timestamps()
	}

	/// lite-06: a SUBSCRIBE without a Group Start starts at the oldest group its Max Age still
	/// finds fresh (lite-03/04/05: at the latest group, Max Age only bounds staleness).
	pub const fn max_age_sets_start(self) -> bool {
		matches!(self.0, Version::Lite06)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	/// Each difference, per version, as `docs/protocol.md` lists them.
	#[test]
	fn each_difference_per_version() {
		let table = [
			// setup, ok, appends, typed, in place, exclude, goaway, ok at once, timestamps, max age start
			(
				Version::Lite03,
				[false, false, true, false, false, false, false, true, false, false],
			),
			(
				Version::Lite04,
				[false, false, true, false, false, true, true, true, false, false],
			),
			(
				Version::Lite05,
				[true, true, false, false, true, true, true, false, true, false],
			),
			(
				Version::Lite06,
				[true, true, false, true, true, false, true, false, true, true],
			),
		];
		for (version, expected) in table {
			let d = Dialect::new(version);
			let got = [
				d.has_setup(),
				d.announce_ok(),
				d.sender_appends_hop(),
				d.typed_announcements(),
				d.updates_in_place(),
				d.exclude_hop_in_request(),
				d.goaway(),
				d.subscribe_ok_at_once(),
				d.timestamps(),
				d.max_age_sets_start(),
			];
			assert_eq!(got, expected, "{version}");
			assert_eq!(d.implicit_last_hop(), !d.sender_appends_hop());
			assert_eq!(d.track_info(), d.timestamps());
		}
	}
}
