//! Announcements, both ways: [`Outbound`] for what the relay shows a watcher on an Announce stream
//! the peer opened, [`Inbound`] for what a peer announces on the stream the relay opened.
//!
//! `docs/protocol.md` ("Announce stream", "Announce IDs", "Hop chains").

use std::collections::{HashMap, HashSet};

use bytes::{Buf, BufMut};
use moq_token::Path;

use super::Dialect;
use crate::auth::Grant;
use crate::wire::{
	Announce, AnnounceEvent, AnnounceIds, AnnounceOk, AnnounceRequest, AnnounceRestart, AnnounceStart, AnnounceStatus,
	Decode, DecodeError, Encode, EncodeError, SessionCode, VarInt, Version,
};

/// One announcement on the wire, in its stream's dialect: ANNOUNCE on lite-04/05, a typed event on
/// lite-06.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnnounceMessage {
	/// lite-04/05: a status, the suffix and the chain.
	Announce(Announce),
	/// lite-06: START, RESTART or END.
	Event(AnnounceEvent),
}

impl Encode for AnnounceMessage {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		match self {
			Self::Announce(message) => message.encode(buf, version),
			Self::Event(event) => event.encode(buf, version),
		}
	}
}

impl Decode for AnnounceMessage {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		if Dialect::new(version).typed_announcements() {
			AnnounceEvent::decode(buf, version).map(Self::Event)
		} else {
			Announce::decode(buf, version).map(Self::Announce)
		}
	}
}

/// The announcements shown to one watcher (the relay is the publisher of the stream).
///
/// A path is shown at most once at a time; lite-06 START takes the next implicit Announce ID and
/// END/RESTART name a live one (the same [`AnnounceIds`] bookkeeping that checks a peer's).
/// Costs on lite-06 are the hop count: each relay hop costs 1 (warm = cold, no cache discount).
#[derive(Debug)]
pub struct Outbound {
	dialect: Dialect,
	hop_id: VarInt,
	/// Live suffixes: their lite-06 Announce ID (0 before lite-06) and the chain last sent.
	live: HashMap<String, (VarInt, Vec<VarInt>)>,
	ids: AnnounceIds,
}

impl Outbound {
	/// A fresh Announce stream of `dialect`, sent by the relay whose hop id is `hop_id`.
	pub fn new(dialect: Dialect, hop_id: VarInt) -> Self {
		Self {
			dialect,
			hop_id,
			live: HashMap::new(),
			ids: AnnounceIds::new(),
		}
	}

	/// The ANNOUNCE_OK that opens the stream (lite-05+), counting the `active` broadcasts about to be
	/// shown; `None` on lite-04, which has none.
	pub fn ok(&self, active: usize) -> Option<AnnounceOk> {
		self.dialect.announce_ok().then(|| AnnounceOk {
			hop_id: self.hop_id,
			active_count: VarInt::try_from(active).unwrap_or(VarInt::MAX),
		})
	}

	/// Shows `suffix` as active with the route `hops`: the messages to send, in order.
	///
	/// A path already shown is updated in place when its chain changed and the dialect can
	/// ([`Dialect::updates_in_place`]). When the chain is the same, another route replaced it (a
	/// client published the path again), and when the dialect has no update, the path is ended and
	/// started again, so subscribers see the replacement and subscribe to it again.
	pub fn active(&mut self, suffix: String, mut hops: Vec<VarInt>) -> Result<Vec<AnnounceMessage>, DecodeError> {
		if self.dialect.sender_appends_hop() {
			hops.push(self.hop_id);
		}
		let mut out = Vec::with_capacity(2);
		let update = match self.live.get(&suffix) {
			Some((id, shown)) if self.dialect.updates_in_place() && *shown != hops => Some(*id),
			Some(_) => {
				out.extend(self.ended(&suffix)?);
				None
			}
			None => None,
		};
		let (id, message) = if self.dialect.typed_announcements() {
			let cost = VarInt::try_from(hops.len() + 1).unwrap_or(VarInt::MAX);
			let event = match update {
				Some(id) => AnnounceEvent::Restart(AnnounceRestart {
					id,
					hops: hops.clone(),
					warm_cost: cost,
					cold_cost: cost,
				}),
				None => AnnounceEvent::Start(AnnounceStart {
					suffix: suffix.clone(),
					hops: hops.clone(),
					warm_cost: cost,
					cold_cost: cost,
				}),
			};
			let id = self.ids.apply(&event)?.unwrap_or(VarInt::ZERO);
			(id, AnnounceMessage::Event(event))
		} else {
			let message = Announce {
				status: AnnounceStatus::Active,
				suffix: suffix.clone(),
				hops: hops.clone(),
			};
			(VarInt::ZERO, AnnounceMessage::Announce(message))
		};
		self.live.insert(suffix, (id, hops));
		out.push(message);
		Ok(out)
	}

	/// Withdraws `suffix`: the message to send, or nothing when it is not shown.
	pub fn ended(&mut self, suffix: &str) -> Result<Option<AnnounceMessage>, DecodeError> {
		let Some((id, _)) = self.live.remove(suffix) else {
			return Ok(None);
		};
		if self.dialect.typed_announcements() {
			let event = AnnounceEvent::End { id };
			self.ids.apply(&event)?;
			return Ok(Some(AnnounceMessage::Event(event)));
		}
		Ok(Some(AnnounceMessage::Announce(Announce {
			status: AnnounceStatus::Ended,
			suffix: suffix.to_string(),
			hops: Vec::new(),
		})))
	}

	/// How many paths are shown.
	pub fn live(&self) -> usize {
		self.live.len()
	}
}

/// What an [`Inbound`] stream is held to.
#[derive(Clone, Debug)]
pub struct InboundPolicy {
	/// The session's grant: what it may publish, and whether it is a cluster peer.
	pub grant: Grant,
	/// This relay's hop id.
	pub hop_id: VarInt,
	/// The first hop of the routes a client session announces, drawn by the driver per session.
	pub route_origin: VarInt,
	/// `limits.max_path`.
	pub max_path: usize,
	/// `limits.max_broadcasts` (a cluster peer carries every broadcast behind it and is exempt).
	pub max_broadcasts: usize,
}

/// What to do with one announcement from the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundAction {
	/// Publish `path` (relative to the grant's root) with this route, replacing this session's
	/// earlier publication of it.
	Publish {
		/// The broadcast.
		path: Path,
		/// Its route, as this relay records it.
		hops: Vec<VarInt>,
	},
	/// Withdraw this session's publication of `path`.
	Withdraw {
		/// The broadcast.
		path: Path,
	},
	/// Nothing to do: `path` is outside what the grant lets the session publish (the session
	/// records it in its audit trail).
	Denied {
		/// The broadcast.
		path: Path,
	},
	/// Nothing to do: why.
	Ignore(Ignored),
}

/// Why an announcement changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
	/// Not a valid broadcast path.
	InvalidPath,
	/// A peer's chain that already runs through this relay (a loop).
	OwnHop,
	/// Ended, or a new type of lite-06 event, for a path this session never published.
	NotPublished,
}

const PATH_TOO_LONG: &str = "path_too_long: an announced path is longer than [limits] max_path";
const TOO_MANY_BROADCASTS: &str = "too_many_broadcasts: more broadcasts announced at once than [limits] max_broadcasts";

/// Why an Announce stream from the peer closes the session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
	/// An END or RESTART naming an unknown Announce ID, or the ids ran out.
	#[error(transparent)]
	Malformed(#[from] DecodeError),
	/// A path longer than `limits.max_path`.
	#[error("{PATH_TOO_LONG}")]
	PathTooLong,
	/// More broadcasts at once than `limits.max_broadcasts`.
	#[error("{TOO_MANY_BROADCASTS}")]
	TooManyBroadcasts,
}

impl Refusal {
	/// The session close code.
	pub fn code(&self) -> SessionCode {
		match self {
			Self::Malformed(_) => SessionCode::PROTOCOL_VIOLATION,
			Self::PathTooLong | Self::TooManyBroadcasts => SessionCode::INTERNAL,
		}
	}

	/// The limit's stable code, for the metric of refusals by limit.
	pub fn limit(&self) -> Option<&'static str> {
		match self {
			Self::Malformed(_) => None,
			Self::PathTooLong => Some("path_too_long"),
			Self::TooManyBroadcasts => Some("too_many_broadcasts"),
		}
	}

	/// The close reason: the code and what the peer did.
	pub fn reason(&self) -> &'static str {
		match self {
			Self::Malformed(_) => "malformed announcement",
			Self::PathTooLong => PATH_TOO_LONG,
			Self::TooManyBroadcasts => TOO_MANY_BROADCASTS,
		}
	}
}

/// The announcements a peer sends on the Announce stream the relay opened (the relay is the
/// subscriber of the stream).
///
/// A cluster peer's chain is trusted and extended; a client's announcements always start a new
/// route at this relay (`docs/cluster.md`), whose first hop is [`InboundPolicy::route_origin`], so a
/// client can neither inject routes nor spoof where a broadcast comes from, and two clients
/// publishing one path have different chains.
#[derive(Debug)]
pub struct Inbound {
	dialect: Dialect,
	policy: InboundPolicy,
	ids: AnnounceIds,
	/// lite-06: the suffix of each live Announce ID.
	paths: HashMap<u64, String>,
	/// What this session has published.
	published: HashSet<Path>,
	/// lite-05+: the peer's hop id from ANNOUNCE_OK.
	peer_hop: Option<VarInt>,
}

impl Inbound {
	/// A fresh stream of `dialect`.
	pub fn new(dialect: Dialect, policy: InboundPolicy) -> Self {
		Self {
			dialect,
			policy,
			ids: AnnounceIds::new(),
			paths: HashMap::new(),
			published: HashSet::new(),
			peer_hop: None,
		}
	}

	/// The ANNOUNCE_REQUEST that opens the stream: everything, and on lite-04/05 our own hop
	/// excluded so our broadcasts do not come back through the peer (lite-06 relies on the SETUP Hop).
	pub fn request(&self) -> AnnounceRequest {
		AnnounceRequest {
			prefix: String::new(),
			exclude_hop: if self.dialect.exclude_hop_in_request() {
				self.policy.hop_id
			} else {
				VarInt::ZERO
			},
		}
	}

	/// Whether the stream starts with an ANNOUNCE_OK to read before the announcements.
	pub fn expects_ok(&self) -> bool {
		self.dialect.announce_ok()
	}

	/// Records the peer's ANNOUNCE_OK.
	pub fn ok(&mut self, ok: &AnnounceOk) {
		self.peer_hop = Some(ok.hop_id);
	}

	/// How many broadcasts this session has published.
	pub fn published(&self) -> usize {
		self.published.len()
	}

	/// Decides one announcement.
	pub fn receive(&mut self, message: AnnounceMessage) -> Result<InboundAction, Refusal> {
		// Every dialect's announcement as (suffix, hops if active).
		let (suffix, hops) = match message {
			AnnounceMessage::Event(event) => {
				let id = self.ids.apply(&event)?.map(VarInt::into_inner);
				match (event, id) {
					(AnnounceEvent::Start(start), Some(id)) => {
						self.paths.insert(id, start.suffix.clone());
						(start.suffix, Some(start.hops))
					}
					(AnnounceEvent::Restart(restart), Some(id)) => match self.paths.get(&id) {
						Some(suffix) => (suffix.clone(), Some(restart.hops)),
						None => return Ok(InboundAction::Ignore(Ignored::NotPublished)),
					},
					(AnnounceEvent::End { .. }, Some(id)) => match self.paths.remove(&id) {
						Some(suffix) => (suffix, None),
						None => return Ok(InboundAction::Ignore(Ignored::NotPublished)),
					},
					_ => return Ok(InboundAction::Ignore(Ignored::NotPublished)),
				}
			}
			AnnounceMessage::Announce(announce) => {
				let hops = announce.status.is_active().then_some(announce.hops);
				(announce.suffix, hops)
			}
		};
		// Bounds on what one session may make the relay hold (and copy to every watcher).
		if suffix.len() > self.policy.max_path {
			return Err(Refusal::PathTooLong);
		}
		let Ok(path) = Path::new(&suffix) else {
			return Ok(InboundAction::Ignore(Ignored::InvalidPath));
		};
		let cluster = self.policy.grant.cluster();
		let new = hops.is_some() && !self.published.contains(&path);
		let max = self.policy.max_broadcasts;
		if !cluster && (self.ids.live() > max || (new && self.published.len() >= max)) {
			return Err(Refusal::TooManyBroadcasts);
		}
		let Some(mut hops) = hops else {
			return Ok(match self.published.remove(&path) {
				true => InboundAction::Withdraw { path },
				false => InboundAction::Ignore(Ignored::NotPublished),
			});
		};
		// `docs/protocol.md` ("Hop chains"): drop a peer's announcement whose chain contains our
		// own hop id (a client's chain is replaced below).
		if cluster && hops.contains(&self.policy.hop_id) {
			return Ok(InboundAction::Ignore(Ignored::OwnHop));
		}
		if !self.policy.grant.can_publish(&path) {
			return Ok(InboundAction::Denied { path });
		}
		if cluster {
			if self.dialect.implicit_last_hop() {
				hops.extend(self.peer_hop.filter(|hop| *hop != VarInt::ZERO));
			}
		} else {
			hops.clear();
			hops.push(self.policy.route_origin);
		}
		self.published.insert(path.clone());
		Ok(InboundAction::Publish { path, hops })
	}
}

#[cfg(test)]
mod tests {
	use std::collections::{BTreeMap, BTreeSet};

	use proptest::prelude::*;

	use super::*;

	const HOP: VarInt = VarInt::from_u32(7);

	fn v(n: u32) -> VarInt {
		VarInt::from_u32(n)
	}

	fn announce(status: AnnounceStatus, suffix: &str, hops: &[u32]) -> AnnounceMessage {
		AnnounceMessage::Announce(Announce {
			status,
			suffix: suffix.into(),
			hops: hops.iter().copied().map(v).collect(),
		})
	}

	fn start(suffix: &str, hops: &[u32]) -> AnnounceMessage {
		let cost = v(hops.len() as u32 + 1);
		AnnounceMessage::Event(AnnounceEvent::Start(AnnounceStart {
			suffix: suffix.into(),
			hops: hops.iter().copied().map(v).collect(),
			warm_cost: cost,
			cold_cost: cost,
		}))
	}

	fn restart(id: u32, hops: &[u32]) -> AnnounceMessage {
		let cost = v(hops.len() as u32 + 1);
		AnnounceMessage::Event(AnnounceEvent::Restart(AnnounceRestart {
			id: v(id),
			hops: hops.iter().copied().map(v).collect(),
			warm_cost: cost,
			cold_cost: cost,
		}))
	}

	fn end(id: u32) -> AnnounceMessage {
		AnnounceMessage::Event(AnnounceEvent::End { id: v(id) })
	}

	#[test]
	fn lite04_appends_its_hop_sends_no_ok_and_restarts_by_end_then_active() {
		let mut out = Outbound::new(Dialect::new(Version::Lite04), HOP);
		assert_eq!(out.ok(3), None);
		assert_eq!(
			out.active("a".into(), vec![v(1)]).unwrap(),
			[announce(AnnounceStatus::Active, "a", &[1, 7])]
		);
		// A new route for a live path: lite-04 has no update, so END then a fresh ANNOUNCE.
		assert_eq!(
			out.active("a".into(), vec![v(2)]).unwrap(),
			[
				announce(AnnounceStatus::Ended, "a", &[]),
				announce(AnnounceStatus::Active, "a", &[2, 7])
			]
		);
		assert_eq!(out.ended("a").unwrap(), Some(announce(AnnounceStatus::Ended, "a", &[])));
		assert_eq!(out.ended("a").unwrap(), None, "ended twice sends nothing");
		assert_eq!(out.live(), 0);
	}

	#[test]
	fn lite05_sends_ok_and_updates_a_changed_route_in_place() {
		let mut out = Outbound::new(Dialect::new(Version::Lite05), HOP);
		assert_eq!(
			out.ok(2),
			Some(AnnounceOk {
				hop_id: HOP,
				active_count: v(2)
			})
		);
		assert_eq!(
			out.active("a".into(), vec![v(1)]).unwrap(),
			[announce(AnnounceStatus::Active, "a", &[1])]
		);
		assert_eq!(
			out.active("a".into(), vec![v(2)]).unwrap(),
			[announce(AnnounceStatus::Active, "a", &[2])],
			"a second active replaces in place"
		);
		// The same chain again: another publisher replaced it; subscribers must see END, then START.
		assert_eq!(
			out.active("a".into(), vec![v(2)]).unwrap(),
			[
				announce(AnnounceStatus::Ended, "a", &[]),
				announce(AnnounceStatus::Active, "a", &[2])
			]
		);
	}

	#[test]
	fn lite06_numbers_starts_restarts_by_id_and_ends_by_id() {
		let mut out = Outbound::new(Dialect::new(Version::Lite06), HOP);
		assert!(out.ok(0).is_some());
		assert_eq!(out.active("a".into(), vec![v(1)]).unwrap(), [start("a", &[1])]);
		assert_eq!(out.active("b".into(), vec![]).unwrap(), [start("b", &[])]);
		assert_eq!(out.active("a".into(), vec![v(3)]).unwrap(), [restart(0, &[3])]);
		// Same chain: END the old id, START takes the next one (2).
		assert_eq!(out.active("a".into(), vec![v(3)]).unwrap(), [end(0), start("a", &[3])]);
		assert_eq!(out.ended("b").unwrap(), Some(end(1)));
		assert_eq!(out.ended("a").unwrap(), Some(end(2)));
		assert_eq!(out.ended("a").unwrap(), None);
	}

	fn policy(grant: Grant) -> InboundPolicy {
		InboundPolicy {
			grant,
			hop_id: HOP,
			route_origin: v(99),
			max_path: 16,
			max_broadcasts: 2,
		}
	}

	fn client() -> Grant {
		Grant::new(Path::new("room").unwrap(), vec![Path::new("cam").unwrap()], vec![])
	}

	fn publish(path: &str, hops: &[u32]) -> InboundAction {
		InboundAction::Publish {
			path: Path::new(path).unwrap(),
			hops: hops.iter().copied().map(v).collect(),
		}
	}

	#[test]
	fn the_request_excludes_our_hop_on_lite04_and_lite05_only() {
		for (version, exclude) in [
			(Version::Lite03, VarInt::ZERO),
			(Version::Lite04, HOP),
			(Version::Lite05, HOP),
			(Version::Lite06, VarInt::ZERO),
		] {
			let inbound = Inbound::new(Dialect::new(version), policy(client()));
			assert_eq!(inbound.request().exclude_hop, exclude, "{version}");
			assert_eq!(inbound.request().prefix, "");
			assert_eq!(inbound.expects_ok(), Dialect::new(version).has_setup());
			// What the relay asks for is what the version can carry.
			assert!(inbound.request().to_bytes(version).is_ok(), "{version}");
		}
	}

	#[test]
	fn a_client_route_always_starts_at_this_relay() {
		let mut inbound = Inbound::new(Dialect::new(Version::Lite05), policy(client()));
		inbound.ok(&AnnounceOk {
			hop_id: v(5),
			active_count: VarInt::ZERO,
		});
		// The client's claimed chain (even one naming this relay) is replaced by the session's origin.
		assert_eq!(
			inbound.receive(announce(AnnounceStatus::Active, "cam", &[7, 3])),
			Ok(publish("cam", &[99]))
		);
		assert_eq!(
			inbound.receive(announce(AnnounceStatus::Ended, "cam", &[])),
			Ok(InboundAction::Withdraw {
				path: Path::new("cam").unwrap()
			})
		);
		assert_eq!(
			inbound.receive(announce(AnnounceStatus::Ended, "cam", &[])),
			Ok(InboundAction::Ignore(Ignored::NotPublished))
		);
	}

	#[test]
	fn refusals_and_ignored_announcements() {
		let mut inbound = Inbound::new(Dialect::new(Version::Lite05), policy(client()));
		assert_eq!(
			inbound.receive(announce(AnnounceStatus::Active, "mic", &[])),
			Ok(InboundAction::Denied {
				path: Path::new("mic").unwrap()
			})
		);
		assert_eq!(
			inbound.receive(announce(AnnounceStatus::Active, "cam/../x", &[])),
			Ok(InboundAction::Ignore(Ignored::InvalidPath))
		);
		assert_eq!(
			inbound.receive(announce(AnnounceStatus::Active, &"c".repeat(17), &[])),
			Err(Refusal::PathTooLong)
		);
		assert_eq!(Refusal::PathTooLong.code(), SessionCode::INTERNAL);
		assert_eq!(Refusal::PathTooLong.limit(), Some("path_too_long"));
		assert_eq!(
			inbound.receive(announce(AnnounceStatus::Active, "cam/1", &[])),
			Ok(publish("cam/1", &[99]))
		);
		assert_eq!(
			inbound.receive(announce(AnnounceStatus::Active, "cam/2", &[])),
			Ok(publish("cam/2", &[99]))
		);
		// Re-announcing a published path is not a new broadcast.
		assert_eq!(
			inbound.receive(announce(AnnounceStatus::Active, "cam/2", &[])),
			Ok(publish("cam/2", &[99]))
		);
		assert_eq!(
			inbound.receive(announce(AnnounceStatus::Active, "cam/3", &[])),
			Err(Refusal::TooManyBroadcasts)
		);
		assert_eq!(Refusal::TooManyBroadcasts.limit(), Some("too_many_broadcasts"));
		assert_eq!(inbound.published(), 2);
	}

	#[test]
	fn a_peer_chain_is_extended_by_its_hop_and_loops_are_dropped() {
		for version in [Version::Lite04, Version::Lite05] {
			let mut inbound = Inbound::new(Dialect::new(version), policy(Grant::peer()));
			inbound.ok(&AnnounceOk {
				hop_id: v(5),
				active_count: VarInt::ZERO,
			});
			// lite-04 senders appended their own hop; lite-05's is the ANNOUNCE_OK's, implicit.
			let expected: &[u32] = if version == Version::Lite04 { &[3] } else { &[3, 5] };
			assert_eq!(
				inbound.receive(announce(AnnounceStatus::Active, "x", &[3])),
				Ok(publish("x", expected)),
				"{version}"
			);
			assert_eq!(
				inbound.receive(announce(AnnounceStatus::Active, "y", &[3, 7])),
				Ok(InboundAction::Ignore(Ignored::OwnHop))
			);
			// A peer carries every broadcast behind it: no max_broadcasts.
			for n in 0..5 {
				assert!(matches!(
					inbound.receive(announce(AnnounceStatus::Active, &format!("z{n}"), &[3])),
					Ok(InboundAction::Publish { .. })
				));
			}
		}
	}

	#[test]
	fn lite06_ids_name_paths_and_unknown_ids_are_malformed() {
		let mut inbound = Inbound::new(Dialect::new(Version::Lite06), policy(client()));
		assert_eq!(inbound.receive(start("cam/a", &[])), Ok(publish("cam/a", &[99])));
		assert_eq!(inbound.receive(restart(0, &[4])), Ok(publish("cam/a", &[99])));
		assert_eq!(
			inbound.receive(end(0)),
			Ok(InboundAction::Withdraw {
				path: Path::new("cam/a").unwrap()
			})
		);
		assert_eq!(
			inbound.receive(end(0)),
			Err(Refusal::Malformed(DecodeError::UnknownAnnounceId { id: v(0) }))
		);
		assert_eq!(
			Refusal::Malformed(DecodeError::UnknownAnnounceId { id: v(0) }).code(),
			SessionCode::PROTOCOL_VIOLATION
		);
	}

	#[derive(Clone, Debug)]
	enum Op {
		Active(u8, Vec<u8>),
		Ended(u8),
	}

	fn ops() -> impl Strategy<Value = Vec<Op>> {
		let op = prop_oneof![
			(0u8..4, proptest::collection::vec(1u8..4, 0..3)).prop_map(|(s, h)| Op::Active(s, h)),
			(0u8..4).prop_map(Op::Ended),
		];
		proptest::collection::vec(op, 0..64)
	}

	proptest! {
		/// Whatever the order of changes, what a watcher receives is valid on its version: an
		/// Announce ID is never reused while live and END/RESTART name a live one (a mirror of the
		/// receiver's bookkeeping accepts every event), every message decodes back to itself, and
		/// the paths the watcher believes live are exactly those still active.
		#[test]
		fn a_watcher_sees_a_consistent_announcement_set(ops in ops(), version in prop_oneof![
			Just(Version::Lite03), Just(Version::Lite04), Just(Version::Lite05), Just(Version::Lite06)
		]) {
			let mut out = Outbound::new(Dialect::new(version), HOP);
			let mut mirror = AnnounceIds::new();
			let mut by_id: BTreeMap<u64, String> = BTreeMap::new();
			let mut seen: BTreeSet<String> = BTreeSet::new();
			let mut active: BTreeSet<String> = BTreeSet::new();
			for op in ops {
				let messages = match op {
					Op::Active(s, hops) => {
						active.insert(format!("p{s}"));
						out.active(format!("p{s}"), hops.into_iter().map(|h| v(h.into())).collect()).unwrap()
					}
					Op::Ended(s) => {
						active.remove(&format!("p{s}"));
						out.ended(&format!("p{s}")).unwrap().into_iter().collect()
					}
				};
				for message in messages {
					let bytes = message.to_bytes(version).unwrap();
					let (decoded, used) = AnnounceMessage::decode_prefix(&bytes, version).unwrap();
					prop_assert_eq!(used, bytes.len());
					match (&decoded, &message) {
						// lite-03 carries a chain's length alone: the watcher sees that many unknown hops.
						(AnnounceMessage::Announce(got), AnnounceMessage::Announce(sent)) if version == Version::Lite03 => {
							prop_assert_eq!(&got.suffix, &sent.suffix);
							prop_assert_eq!(got.status, sent.status);
							prop_assert_eq!(&got.hops, &vec![VarInt::ZERO; sent.hops.len()]);
						}
						_ => prop_assert_eq!(&decoded, &message),
					}
					match decoded {
						AnnounceMessage::Event(event) => {
							let id = mirror.apply(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
							let id = id.unwrap().into_inner();
							match event {
								AnnounceEvent::Start(start) => {
									prop_assert!(!seen.contains(&start.suffix), "a path started twice");
									by_id.insert(id, start.suffix.clone());
									seen.insert(start.suffix);
								}
								AnnounceEvent::End { .. } => {
									let suffix = by_id.remove(&id).unwrap();
									seen.remove(&suffix);
								}
								_ => prop_assert!(by_id.contains_key(&id)),
							}
						}
						AnnounceMessage::Announce(announce) => {
							if announce.status.is_active() {
								// lite-03/04 have no update: a live path is never announced active twice.
								if !Dialect::new(version).updates_in_place() {
									prop_assert!(!seen.contains(&announce.suffix));
								}
								if version == Version::Lite04 {
									prop_assert_eq!(announce.hops.last(), Some(&HOP));
								}
								seen.insert(announce.suffix);
							} else {
								prop_assert!(seen.remove(&announce.suffix), "ended a path not shown");
							}
						}
					}
				}
				prop_assert_eq!(&seen, &active);
				prop_assert_eq!(out.live(), active.len());
				if version == Version::Lite06 {
					prop_assert_eq!(mirror.live(), active.len());
				}
			}
		}
	}
}
