//! The Announce stream (bidi 0x1, docs/protocol.md#announce-stream): ANNOUNCE_REQUEST, ANNOUNCE_OK,
//! the lite-04/05 ANNOUNCE and the lite-06 typed START/END/RESTART.

use std::collections::BTreeSet;

use bytes::{Buf, BufMut, Bytes};

use super::coding::{
	BufExt, BufMutExt, Decode, DecodeError, Encode, EncodeError, MAX_HOPS, MAX_MESSAGE_LEN, decode_framed,
	decode_typed, encode_framed, encode_typed, require_decode, require_default, require_encode,
};
use super::varint::VarInt;
use super::version::Version;

/// `ANNOUNCE_REQUEST = Len | Prefix (s) | [Exclude Hop (i): lite-04/05 only]`,
/// sent by the subscriber to open an Announce stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceRequest {
	/// Announce broadcasts under this path prefix (segment-aware, matched
	/// elsewhere).
	pub prefix: String,
	/// lite-04/05: skip announcements whose hop chain holds this id (0 = none).
	/// Must be 0 on lite-03, which has no such field, and on lite-06, which
	/// replaced it by SETUP Hop.
	pub exclude_hop: VarInt,
}

/// `ANNOUNCE_OK = Len | Hop ID (i) | Active Count (i)` (lite-05+), the
/// publisher's first reply on an Announce stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnnounceOk {
	/// "the publisher's own id, implicit last hop of every chain on the stream".
	pub hop_id: VarInt,
	/// How many initial announcements follow.
	pub active_count: VarInt,
}

/// The status byte of a lite-04/05 ANNOUNCE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnounceStatus {
	/// 0: the broadcast is gone.
	Ended,
	/// 1: the broadcast is live (a second `Active` for a live path replaces it
	/// on lite-05).
	Active,
	/// 2 (lite-05 only, receive side): "status 2 is also accepted on receive,
	/// as active". Kept distinct so the message re-encodes exactly.
	Restart,
}

impl AnnounceStatus {
	/// Whether the broadcast is live after this announcement.
	pub const fn is_active(self) -> bool {
		matches!(self, AnnounceStatus::Active | AnnounceStatus::Restart)
	}
}

/// `ANNOUNCE = Len | Status (u8) | Suffix (s) | Hop Count (i) | Hop ID (i)…`
/// (lite-04/05); lite-03 has the Hop Count and no Hop IDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
	/// Ended, active or (lite-05) restart.
	pub status: AnnounceStatus,
	/// "Announce suffix = path minus `prefix/` (empty if equal)."
	pub suffix: String,
	/// The hop chain (at most [`MAX_HOPS`]; 0 = an unknown hop). On lite-03
	/// only its length is on the wire: it decodes as that many unknown hops.
	pub hops: Vec<VarInt>,
}

/// lite-06 START: `Suffix (s) | Hop Count (i) | Hop ID (i)… | Warm Cost (i) | Cold Cost (i)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceStart {
	/// The path suffix.
	pub suffix: String,
	/// The hop chain.
	pub hops: Vec<VarInt>,
	/// Marginal cost now (0 if the sender already carries the broadcast).
	pub warm_cost: VarInt,
	/// The same path with no cache discounts.
	pub cold_cost: VarInt,
}

/// lite-06 RESTART: `Announce ID (i) | Hop Count | Hop IDs | Warm | Cold`, an
/// atomic replace of a live announcement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceRestart {
	/// The live announcement being replaced.
	pub id: VarInt,
	/// The new hop chain.
	pub hops: Vec<VarInt>,
	/// The new warm cost.
	pub warm_cost: VarInt,
	/// The new cold cost.
	pub cold_cost: VarInt,
}

/// A lite-06 announcement: `Type (i) | Len (i) | Body`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnnounceEvent {
	/// Type 0: a new announcement; it implicitly takes the next Announce ID
	/// (see [`AnnounceIds`]).
	Start(AnnounceStart),
	/// Type 1: the announcement with this id ended; the id is retired.
	End {
		/// The Announce ID.
		id: VarInt,
	},
	/// Type 2: replace a live announcement's hops and costs.
	Restart(AnnounceRestart),
	/// Another type: "unknown Type: skip Len bytes". The body is kept only so
	/// the message re-encodes exactly.
	Unknown {
		/// The type (not 0, 1 or 2).
		ty: VarInt,
		/// The skipped body.
		body: Bytes,
	},
}

const START: VarInt = VarInt::from_u32(0);
const END: VarInt = VarInt::from_u32(1);
const RESTART: VarInt = VarInt::from_u32(2);

fn get_hops(body: &mut Bytes) -> Result<Vec<VarInt>, DecodeError> {
	let count = get_hop_count(body)?;
	(0..count).map(|_| body.get_var()).collect()
}

/// The Hop Count of a chain, at most [`MAX_HOPS`].
fn get_hop_count(body: &mut Bytes) -> Result<u64, DecodeError> {
	let count = body.get_var()?.into_inner();
	// docs/protocol.md#hop-chains: ids < 2^62 (0 = unknown), at most 32 entries.
	// (Dropping a chain that holds our own id is the session's job.)
	if count > MAX_HOPS as u64 {
		return Err(DecodeError::TooLarge {
			what: "hop count",
			len: count,
			max: MAX_HOPS as u64,
		});
	}
	Ok(count)
}

fn put_hops(body: &mut Vec<u8>, hops: &[VarInt]) -> Result<(), EncodeError> {
	put_hop_count(body, hops)?;
	for hop in hops {
		body.put_var(*hop);
	}
	Ok(())
}

/// The Hop Count of `hops`, refused over [`MAX_HOPS`].
fn put_hop_count(body: &mut Vec<u8>, hops: &[VarInt]) -> Result<(), EncodeError> {
	if hops.len() > MAX_HOPS {
		return Err(EncodeError::TooLarge {
			what: "hop count",
			len: hops.len() as u64,
			max: MAX_HOPS as u64,
		});
	}
	// At most 32.
	body.put_var(VarInt::from_u32(hops.len() as u32));
	Ok(())
}

impl Decode for AnnounceRequest {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		decode_framed(buf, "ANNOUNCE_REQUEST", MAX_MESSAGE_LEN, |body| {
			let prefix = body.get_path("announce prefix")?;
			// "[Exclude Hop (i): lite-04/05 only]"
			let exclude_hop = match version.has_exclude_hop() {
				true => body.get_var()?,
				false => VarInt::ZERO,
			};
			Ok(Self { prefix, exclude_hop })
		})
	}
}

impl Encode for AnnounceRequest {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		encode_framed(buf, "ANNOUNCE_REQUEST", MAX_MESSAGE_LEN, |body| {
			body.put_path("announce prefix", &self.prefix)?;
			match version.has_exclude_hop() {
				true => body.put_var(self.exclude_hop),
				false => require_default(&self.exclude_hop, "exclude_hop", version)?,
			}
			Ok(())
		})
	}
}

impl Decode for AnnounceOk {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		// "lite-03/04: no OK; announcements only."
		require_decode(version.has_setup(), "ANNOUNCE_OK", version)?;
		decode_framed(buf, "ANNOUNCE_OK", MAX_MESSAGE_LEN, |body| {
			Ok(Self {
				hop_id: body.get_var()?,
				active_count: body.get_var()?,
			})
		})
	}
}

impl Encode for AnnounceOk {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		require_encode(version.has_setup(), "ANNOUNCE_OK", version)?;
		encode_framed(buf, "ANNOUNCE_OK", MAX_MESSAGE_LEN, |body| {
			body.put_var(self.hop_id);
			body.put_var(self.active_count);
			Ok(())
		})
	}
}

impl Decode for Announce {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		require_decode(version != Version::Lite06, "ANNOUNCE", version)?;
		decode_framed(buf, "ANNOUNCE", MAX_MESSAGE_LEN, |body| {
			// "Status (u8: 0 ended, 1 active)"; "status 2 is also accepted on
			// receive, as active" on lite-05 only.
			let status = match body.get_byte()? {
				0 => AnnounceStatus::Ended,
				1 => AnnounceStatus::Active,
				2 if version == Version::Lite05 => AnnounceStatus::Restart,
				value => {
					return Err(DecodeError::InvalidValue {
						field: "announce status",
						value: value.into(),
					});
				}
			};
			let suffix = body.get_path("announce suffix")?;
			let hops = match version.has_hop_ids() {
				true => get_hops(body)?,
				// lite-03: "only a hop count": that many hops nobody can name.
				false => vec![VarInt::ZERO; get_hop_count(body)? as usize],
			};
			Ok(Self { status, suffix, hops })
		})
	}
}

impl Encode for Announce {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		require_encode(version != Version::Lite06, "ANNOUNCE", version)?;
		let status = match self.status {
			AnnounceStatus::Ended => 0,
			AnnounceStatus::Active => 1,
			AnnounceStatus::Restart if version == Version::Lite05 => 2,
			AnnounceStatus::Restart => {
				return Err(EncodeError::FieldNotInVersion {
					field: "announce status restart",
					version,
				});
			}
		};
		encode_framed(buf, "ANNOUNCE", MAX_MESSAGE_LEN, |body| {
			body.put_u8(status);
			body.put_path("announce suffix", &self.suffix)?;
			match version.has_hop_ids() {
				true => put_hops(body, &self.hops),
				false => put_hop_count(body, &self.hops),
			}
		})
	}
}

impl AnnounceEvent {
	/// The wire type.
	pub fn type_id(&self) -> VarInt {
		match self {
			AnnounceEvent::Start(_) => START,
			AnnounceEvent::End { .. } => END,
			AnnounceEvent::Restart(_) => RESTART,
			AnnounceEvent::Unknown { ty, .. } => *ty,
		}
	}
}

impl Decode for AnnounceEvent {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		require_decode(version == Version::Lite06, "ANNOUNCE_START/END/RESTART", version)?;
		decode_typed(buf, "ANNOUNCE_START/END/RESTART", |ty, body| {
			Ok(match ty {
				START => AnnounceEvent::Start(AnnounceStart {
					suffix: body.get_path("announce suffix")?,
					hops: get_hops(body)?,
					warm_cost: body.get_var()?,
					cold_cost: body.get_var()?,
				}),
				END => AnnounceEvent::End { id: body.get_var()? },
				RESTART => AnnounceEvent::Restart(AnnounceRestart {
					id: body.get_var()?,
					hops: get_hops(body)?,
					warm_cost: body.get_var()?,
					cold_cost: body.get_var()?,
				}),
				// "unknown Type: skip Len bytes."
				ty => AnnounceEvent::Unknown {
					ty,
					body: body.split_to(body.len()),
				},
			})
		})
	}
}

impl Encode for AnnounceEvent {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		const NAME: &str = "ANNOUNCE_START/END/RESTART";
		require_encode(version == Version::Lite06, NAME, version)?;
		encode_typed(buf, NAME, self.type_id(), |body| {
			match self {
				AnnounceEvent::Start(start) => {
					body.put_path("announce suffix", &start.suffix)?;
					put_hops(body, &start.hops)?;
					body.put_var(start.warm_cost);
					body.put_var(start.cold_cost);
				}
				AnnounceEvent::End { id } => body.put_var(*id),
				AnnounceEvent::Restart(restart) => {
					body.put_var(restart.id);
					put_hops(body, &restart.hops)?;
					body.put_var(restart.warm_cost);
					body.put_var(restart.cold_cost);
				}
				AnnounceEvent::Unknown { ty, body: raw } => {
					if [START, END, RESTART].contains(ty) {
						return Err(EncodeError::InvalidValue {
							field: "announce type",
							reason: "0, 1 and 2 are START, END and RESTART",
						});
					}
					body.put_slice(raw);
				}
			}
			Ok(())
		})
	}
}

/// The implicit lite-06 Announce IDs of one Announce stream.
///
/// docs/protocol.md#announce-ids: each START implicitly takes the next Announce
/// ID (0, 1, 2… per stream, never on the wire); an END or RESTART naming an
/// unknown or retired id is a protocol violation.
#[derive(Clone, Debug, Default)]
pub struct AnnounceIds {
	next: u64,
	live: BTreeSet<u64>,
}

impl AnnounceIds {
	/// A fresh stream: the first START takes id 0.
	pub fn new() -> Self {
		Self::default()
	}

	/// Tracks one received (or sent) event, returning the Announce ID it
	/// concerns (the newly assigned one for START; `None` for unknown types).
	pub fn apply(&mut self, event: &AnnounceEvent) -> Result<Option<VarInt>, DecodeError> {
		match event {
			AnnounceEvent::Start(_) => {
				let id = VarInt::from_u64(self.next).map_err(|_| DecodeError::TooLarge {
					what: "announce id",
					len: self.next,
					max: VarInt::MAX.into_inner(),
				})?;
				self.next += 1;
				self.live.insert(id.into_inner());
				Ok(Some(id))
			}
			AnnounceEvent::End { id } => {
				if !self.live.remove(&id.into_inner()) {
					return Err(DecodeError::UnknownAnnounceId { id: *id });
				}
				Ok(Some(*id))
			}
			AnnounceEvent::Restart(restart) => {
				if !self.live.contains(&restart.id.into_inner()) {
					return Err(DecodeError::UnknownAnnounceId { id: restart.id });
				}
				Ok(Some(restart.id))
			}
			AnnounceEvent::Unknown { .. } => Ok(None),
		}
	}

	/// How many announcements are live.
	pub fn live(&self) -> usize {
		self.live.len()
	}
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::super::strategy;
	use super::*;

	#[test]
	fn a_lite03_announce_carries_the_hop_count_alone() {
		let announce = Announce {
			status: AnnounceStatus::Active,
			suffix: "a".into(),
			hops: vec![VarInt::from_u32(5), VarInt::from_u32(300)],
		};
		// Len | status 1 | suffix "a" | Hop Count 2 (| Hop IDs 5, 300 on lite-04).
		assert_eq!(announce.to_bytes(Version::Lite03).unwrap(), [4, 1, 1, b'a', 2]);
		assert_eq!(
			announce.to_bytes(Version::Lite04).unwrap(),
			[7, 1, 1, b'a', 2, 5, 0x41, 0x2c]
		);
		let (decoded, used) = Announce::decode_prefix(&[4, 1, 1, b'a', 2], Version::Lite03).unwrap();
		assert_eq!(used, 5);
		assert_eq!(decoded.hops, [VarInt::ZERO, VarInt::ZERO]);
		// The count is bounded as a chain is.
		assert!(matches!(
			Announce::decode_prefix(&[4, 1, 1, b'a', 33], Version::Lite03),
			Err(DecodeError::TooLarge { what: "hop count", .. })
		));
	}

	#[test]
	fn status_two_only_on_lite05() {
		// Len 3 | status 2 | suffix "" | no hops.
		let bytes = [3, 2, 0, 0];
		let (msg, _) = Announce::decode_prefix(&bytes, Version::Lite05).unwrap();
		assert_eq!(msg.status, AnnounceStatus::Restart);
		assert!(msg.status.is_active());
		assert_eq!(
			Announce::decode_prefix(&bytes, Version::Lite04),
			Err(DecodeError::InvalidValue {
				field: "announce status",
				value: 2
			})
		);
		assert!(matches!(
			Announce::decode_prefix(&[3, 3, 0, 0], Version::Lite05),
			Err(DecodeError::InvalidValue { value: 3, .. })
		));
		assert!(msg.to_bytes(Version::Lite04).is_err());
	}

	#[test]
	fn hop_limit() {
		let hops = vec![VarInt::from_u32(1); MAX_HOPS + 1];
		let msg = Announce {
			status: AnnounceStatus::Active,
			suffix: String::new(),
			hops,
		};
		assert!(matches!(
			msg.to_bytes(Version::Lite05),
			Err(EncodeError::TooLarge { .. })
		));
		let mut body = vec![1u8, 0, 33];
		body.extend(std::iter::repeat_n(1u8, 33));
		let mut bytes = vec![body.len() as u8];
		bytes.extend(body);
		assert!(matches!(
			Announce::decode_prefix(&bytes, Version::Lite05),
			Err(DecodeError::TooLarge { len: 33, max: 32, .. })
		));
	}

	#[test]
	fn trailing_bytes_in_body() {
		// ANNOUNCE_OK with a third varint inside the declared length.
		assert_eq!(
			AnnounceOk::decode_prefix(&[3, 1, 1, 1], Version::Lite05),
			Err(DecodeError::TrailingBytes {
				message: "ANNOUNCE_OK",
				extra: 1
			})
		);
		// And a body one byte short.
		assert_eq!(
			AnnounceOk::decode_prefix(&[1, 1, 1], Version::Lite05),
			Err(DecodeError::ShortBody { message: "ANNOUNCE_OK" })
		);
	}

	#[test]
	fn unknown_lite06_type_is_skipped() {
		let bytes = [9, 2, 0xaa, 0xbb, 1, 1, 0];
		let (event, used) = AnnounceEvent::decode_prefix(&bytes, Version::Lite06).unwrap();
		assert_eq!(used, 4);
		assert_eq!(
			event,
			AnnounceEvent::Unknown {
				ty: VarInt::from_u32(9),
				body: Bytes::from_static(&[0xaa, 0xbb])
			}
		);
		let (next, _) = AnnounceEvent::decode_prefix(&bytes[used..], Version::Lite06).unwrap();
		assert_eq!(next, AnnounceEvent::End { id: VarInt::ZERO });
	}

	#[test]
	fn exclude_hop_not_on_lite06() {
		let msg = AnnounceRequest {
			prefix: "room".into(),
			exclude_hop: VarInt::from_u32(3),
		};
		assert!(matches!(
			msg.to_bytes(Version::Lite06),
			Err(EncodeError::FieldNotInVersion { .. })
		));
	}

	#[test]
	fn announce_ids() {
		let start = AnnounceEvent::Start(AnnounceStart::default());
		let mut ids = AnnounceIds::new();
		assert_eq!(ids.apply(&start), Ok(Some(VarInt::from_u32(0))));
		assert_eq!(ids.apply(&start), Ok(Some(VarInt::from_u32(1))));
		let restart = AnnounceEvent::Restart(AnnounceRestart {
			id: VarInt::from_u32(1),
			..AnnounceRestart::default()
		});
		assert_eq!(ids.apply(&restart), Ok(Some(VarInt::from_u32(1))));
		let end = AnnounceEvent::End {
			id: VarInt::from_u32(1),
		};
		assert_eq!(ids.apply(&end), Ok(Some(VarInt::from_u32(1))));
		// Retired: a second END or a RESTART is a protocol violation.
		assert_eq!(
			ids.apply(&end),
			Err(DecodeError::UnknownAnnounceId {
				id: VarInt::from_u32(1)
			})
		);
		assert!(ids.apply(&restart).is_err());
		// Never assigned.
		assert!(
			ids.apply(&AnnounceEvent::End {
				id: VarInt::from_u32(7)
			})
			.is_err()
		);
		assert_eq!(ids.live(), 1);
		// Ids are never reused.
		assert_eq!(ids.apply(&start), Ok(Some(VarInt::from_u32(2))));
	}

	fn status(version: Version) -> impl Strategy<Value = AnnounceStatus> {
		let mut all = vec![AnnounceStatus::Ended, AnnounceStatus::Active];
		if version == Version::Lite05 {
			all.push(AnnounceStatus::Restart);
		}
		prop::sample::select(all)
	}

	fn event() -> impl Strategy<Value = AnnounceEvent> {
		prop_oneof![
			(
				strategy::path(),
				strategy::hops(),
				strategy::varint(),
				strategy::varint()
			)
				.prop_map(
					|(suffix, hops, warm_cost, cold_cost)| AnnounceEvent::Start(AnnounceStart {
						suffix,
						hops,
						warm_cost,
						cold_cost
					})
				),
			strategy::varint().prop_map(|id| AnnounceEvent::End { id }),
			(
				strategy::varint(),
				strategy::hops(),
				strategy::varint(),
				strategy::varint()
			)
				.prop_map(
					|(id, hops, warm_cost, cold_cost)| AnnounceEvent::Restart(AnnounceRestart {
						id,
						hops,
						warm_cost,
						cold_cost
					})
				),
			(
				strategy::varint().prop_filter("unknown", |t| t.into_inner() > 2),
				strategy::payload()
			)
				.prop_map(|(ty, body)| AnnounceEvent::Unknown { ty, body }),
		]
	}

	proptest! {
		#[test]
		fn request_round_trip(prefix in strategy::path(), hop in strategy::varint(), version in strategy::version()) {
			let exclude_hop = if version.has_exclude_hop() { hop } else { VarInt::ZERO };
			strategy::round_trip(&AnnounceRequest { prefix, exclude_hop }, version)?;
		}

		#[test]
		fn ok_round_trip(hop_id in strategy::varint(), active_count in strategy::varint()) {
			for version in [Version::Lite05, Version::Lite06] {
				strategy::round_trip(&AnnounceOk { hop_id, active_count }, version)?;
			}
		}

		#[test]
		fn announce_round_trip(
			(version, status) in prop::sample::select(vec![Version::Lite03, Version::Lite04, Version::Lite05])
				.prop_flat_map(|v| (Just(v), status(v))),
			suffix in strategy::path(),
			hops in strategy::hops(),
		) {
			// lite-03 carries the chain's length alone: its hops come back unknown (0).
			let hops = if version.has_hop_ids() { hops } else { vec![VarInt::ZERO; hops.len()] };
			strategy::round_trip(&Announce { status, suffix, hops }, version)?;
		}

		#[test]
		fn event_round_trip(event in event()) {
			strategy::round_trip(&event, Version::Lite06)?;
		}
	}
}
