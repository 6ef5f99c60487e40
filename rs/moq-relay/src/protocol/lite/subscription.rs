//! One subscription the relay serves (`docs/protocol.md`, "Subscribe stream", "Delivery order"):
//! which groups go out, in what order, which are shed when the subscriber falls behind, and how the
//! subscription ends.
//!
//! The driver offers the track's groups in ascending order from [`Subscription::start`]'s answer
//! and opens a stream for each [`GroupDecision::Open`]; every group stream it opens is written newest
//! first by priority. When more than `max_inflight` groups are still being written, the oldest is
//! shed (its stream reset), never the newest: a stalled subscriber holds a bounded backlog and
//! resumes at the live edge.

use std::collections::VecDeque;

use super::Dialect;
use crate::wire::{StreamCode, Subscribe, SubscribeOk, SubscribeResponse, VarInt};

/// What to do with a group the track offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupDecision {
	/// Open a group stream for it; first reset the stream of the group `shed`, if any.
	Open {
		/// The oldest in-flight group, shed to make room.
		shed: Option<u64>,
	},
	/// Already sent or older than what was sent: never go backwards.
	Skip,
	/// Past the subscription's end: stop offering.
	PastEnd,
}

/// How a subscription ends, once every group stream it opened is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
	/// Reset the stream with this code (the publisher aborted the track before the range was done).
	Reset(StreamCode),
	/// Send this message (lite-05+ SUBSCRIBE_END; nothing on lite-04), then FIN.
	End(Option<SubscribeResponse>),
}

/// The state of one subscription.
#[derive(Debug)]
pub struct Subscription {
	dialect: Dialect,
	priority: u8,
	/// The last group wanted, inclusive.
	end: Option<u64>,
	/// The next group to send; `None` until the start is known.
	next: Option<u64>,
	started: bool,
	/// Groups still being written, oldest first.
	inflight: VecDeque<u64>,
	max_inflight: usize,
}

impl Subscription {
	/// A subscription of `request` that keeps at most `max_inflight` groups in flight (at least one).
	pub fn new(dialect: Dialect, request: &Subscribe, max_inflight: usize) -> Self {
		Self {
			dialect,
			priority: request.options.priority,
			end: request.options.group_end.map(VarInt::into_inner),
			next: request.options.group_start.map(VarInt::into_inner),
			started: false,
			inflight: VecDeque::new(),
			max_inflight: max_inflight.max(1),
		}
	}

	/// What is sent as soon as the subscription is accepted: lite-04's SUBSCRIBE_OK.
	pub fn accepted(&self) -> Option<SubscribeResponse> {
		self.dialect
			.subscribe_ok_at_once()
			.then_some(SubscribeResponse::Ok(SubscribeOk {
				priority: self.priority,
				max_age_ms: VarInt::ZERO,
				group_start: None,
				group_end: None,
			}))
	}

	/// The track's newest group is `latest`: the SUBSCRIBE_START to send (lite-05+, once, when the
	/// first group becomes known), and the first group wanted (`None`: no group yet; a subscription
	/// with no Group Start starts at the latest group).
	pub fn start(&mut self, latest: Option<u64>) -> (Option<SubscribeResponse>, Option<u64>) {
		if self.next.is_none() {
			self.next = latest;
		}
		let Some(first) = self.next else {
			return (None, None);
		};
		let message = (!self.started && self.dialect.has_setup()).then(|| SubscribeResponse::Start {
			group: VarInt::from_u64(first).unwrap_or(VarInt::MAX),
		});
		self.started = true;
		(message, Some(first))
	}

	/// Decides the group `sequence` the track offers.
	pub fn group(&mut self, sequence: u64) -> GroupDecision {
		if self.end.is_some_and(|end| sequence > end) {
			return GroupDecision::PastEnd;
		}
		if self.next.is_some_and(|next| sequence < next) || !self.started {
			return GroupDecision::Skip;
		}
		self.next = Some(sequence.saturating_add(1));
		let shed = if self.inflight.len() >= self.max_inflight {
			self.inflight.pop_front()
		} else {
			None
		};
		self.inflight.push_back(sequence);
		GroupDecision::Open { shed }
	}

	/// Whether a datagram of group `sequence`, arriving now, is sent: one within the range's end
	/// (datagrams are sent as they arrive, not in order, so only the end bounds them).
	pub fn wants_datagram(&self, sequence: u64) -> bool {
		self.end.is_none_or(|end| sequence <= end)
	}

	/// The stream of group `sequence` is done (delivered, failed, or shed).
	pub fn delivered(&mut self, sequence: u64) {
		self.inflight.retain(|s| *s != sequence);
	}

	/// How many groups are in flight.
	pub fn inflight(&self) -> usize {
		self.inflight.len()
	}

	/// Whether every group of a bounded range has been opened.
	pub fn range_done(&self) -> bool {
		matches!((self.end, self.next), (Some(end), Some(next)) if next > end)
	}

	/// How the subscription ends, given how the track ended (`Some(code)`: the publisher aborted it,
	/// `None`: it finished, or the range is done).
	pub fn finish(&self, aborted: Option<StreamCode>) -> Finish {
		if let Some(code) = aborted.filter(|_| !self.range_done()) {
			return Finish::Reset(code);
		}
		Finish::End(self.dialect.has_setup().then(|| SubscribeResponse::End {
			group: VarInt::from_u64(self.next.unwrap_or(0)).unwrap_or(VarInt::MAX),
		}))
	}
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::*;
	use crate::wire::{SubscribeOptions, Version};

	fn request(start: Option<u64>, end: Option<u64>) -> Subscribe {
		Subscribe {
			id: VarInt::ZERO,
			broadcast: "b".into(),
			track: "t".into(),
			options: SubscribeOptions {
				priority: 3,
				group_start: start.map(|s| VarInt::from_u64(s).unwrap()),
				group_end: end.map(|e| VarInt::from_u64(e).unwrap()),
				..SubscribeOptions::default()
			},
		}
	}

	fn start(group: u64) -> Option<SubscribeResponse> {
		Some(SubscribeResponse::Start {
			group: VarInt::from_u64(group).unwrap(),
		})
	}

	/// Datagrams go out as they arrive: any group up to a bounded range's end, every group of an
	/// open one.
	#[test]
	fn datagrams_within_the_range_end() {
		let bounded = Subscription::new(Dialect::new(Version::Lite06), &request(Some(5), Some(7)), 4);
		assert!([0, 5, 7].into_iter().all(|g| bounded.wants_datagram(g)));
		assert!(!bounded.wants_datagram(8));
		let open = Subscription::new(Dialect::new(Version::Lite06), &request(None, None), 4);
		assert!(open.wants_datagram(u64::MAX));
	}

	#[test]
	fn lite04_answers_ok_at_once_and_never_start_or_end() {
		let mut sub = Subscription::new(Dialect::new(Version::Lite04), &request(None, None), 4);
		assert_eq!(
			sub.accepted(),
			Some(SubscribeResponse::Ok(SubscribeOk {
				priority: 3,
				max_age_ms: VarInt::ZERO,
				group_start: None,
				group_end: None,
			}))
		);
		assert_eq!(sub.start(Some(5)), (None, Some(5)));
		assert_eq!(sub.group(5), GroupDecision::Open { shed: None });
		assert_eq!(sub.finish(None), Finish::End(None));
	}

	#[test]
	fn lite05_starts_at_the_latest_group_once_it_exists_and_ends_with_the_next() {
		for version in [Version::Lite05, Version::Lite06] {
			let mut sub = Subscription::new(Dialect::new(version), &request(None, None), 4);
			assert_eq!(sub.accepted(), None);
			assert_eq!(sub.start(None), (None, None), "no group yet: nothing to say");
			assert_eq!(sub.start(Some(7)), (start(7), Some(7)));
			assert_eq!(sub.start(Some(9)), (None, Some(7)), "START is sent once");
			assert_eq!(sub.group(7), GroupDecision::Open { shed: None });
			assert_eq!(sub.group(8), GroupDecision::Open { shed: None });
			assert_eq!(sub.group(8), GroupDecision::Skip, "never twice");
			assert_eq!(sub.group(6), GroupDecision::Skip, "never backwards");
			assert_eq!(
				sub.finish(None),
				Finish::End(Some(SubscribeResponse::End {
					group: VarInt::from_u32(9)
				}))
			);
		}
	}

	#[test]
	fn a_bounded_range_stops_at_its_end_and_ignores_a_later_abort() {
		let mut sub = Subscription::new(Dialect::new(Version::Lite05), &request(Some(2), Some(3)), 4);
		assert_eq!(
			sub.start(Some(10)),
			(start(2), Some(2)),
			"an explicit start wins over the latest"
		);
		assert_eq!(sub.group(2), GroupDecision::Open { shed: None });
		assert!(!sub.range_done());
		assert_eq!(sub.group(3), GroupDecision::Open { shed: None });
		assert!(sub.range_done());
		assert_eq!(sub.group(4), GroupDecision::PastEnd);
		assert_eq!(
			sub.finish(Some(StreamCode::CANCEL)),
			Finish::End(Some(SubscribeResponse::End {
				group: VarInt::from_u32(4)
			}))
		);
	}

	#[test]
	fn an_aborted_track_resets_an_unfinished_subscription() {
		let mut sub = Subscription::new(Dialect::new(Version::Lite06), &request(None, None), 4);
		sub.start(Some(1));
		assert_eq!(
			sub.finish(Some(StreamCode::NOT_FOUND)),
			Finish::Reset(StreamCode::NOT_FOUND)
		);
	}

	#[test]
	fn a_stalled_subscriber_sheds_the_oldest_group_in_flight() {
		let mut sub = Subscription::new(Dialect::new(Version::Lite05), &request(None, None), 2);
		sub.start(Some(0));
		assert_eq!(sub.group(0), GroupDecision::Open { shed: None });
		assert_eq!(sub.group(1), GroupDecision::Open { shed: None });
		assert_eq!(sub.group(2), GroupDecision::Open { shed: Some(0) });
		sub.delivered(1);
		assert_eq!(sub.inflight(), 1);
		assert_eq!(sub.group(3), GroupDecision::Open { shed: None });
		assert_eq!(sub.group(4), GroupDecision::Open { shed: Some(2) });
		// max_inflight 0 still lets the newest group through.
		let mut sub = Subscription::new(Dialect::new(Version::Lite05), &request(None, None), 0);
		sub.start(Some(0));
		assert_eq!(sub.group(0), GroupDecision::Open { shed: None });
		assert_eq!(sub.group(1), GroupDecision::Open { shed: Some(0) });
	}

	#[derive(Clone, Debug)]
	enum Event {
		/// The publisher made `n` more groups.
		Groups(u8),
		/// The oldest (or a random) in-flight group finished.
		Delivered(u8),
	}

	proptest! {
		/// Random group arrivals and deliveries: the groups opened only go forwards, a shed group
		/// is always an older one in flight (never the one being opened, so never the newest),
		/// the backlog never exceeds its bound, and nothing past the end is opened.
		#[test]
		fn groups_go_forward_and_shedding_spares_the_newest(
			max in 1usize..5,
			first in 0u64..3,
			end in proptest::option::of(0u64..40),
			events in proptest::collection::vec(prop_oneof![
				(1u8..5).prop_map(Event::Groups),
				any::<u8>().prop_map(Event::Delivered),
			], 0..60),
		) {
			let mut sub = Subscription::new(Dialect::new(Version::Lite05), &request(Some(first), end), max);
			let mut produced = 0u64;
			let mut opened: Vec<u64> = Vec::new();
			let mut inflight: Vec<u64> = Vec::new();
			sub.start(None);
			for event in events {
				match event {
					Event::Groups(n) => {
						produced += u64::from(n);
						let (_, from) = sub.start(produced.checked_sub(1));
						let Some(from) = from else { continue };
						// The track offers its cached groups from `from` in order.
						for sequence in from..produced {
							match sub.group(sequence) {
								GroupDecision::Open { shed } => {
									if let Some(old) = opened.last() {
										prop_assert!(sequence > *old, "went backwards");
									}
									if let Some(shed) = shed {
										prop_assert!(shed < sequence, "shed the newest group");
										prop_assert!(inflight.contains(&shed));
										inflight.retain(|s| *s != shed);
									}
									prop_assert!(end.is_none_or(|end| sequence <= end));
									opened.push(sequence);
									inflight.push(sequence);
									prop_assert!(inflight.len() <= max);
									prop_assert_eq!(sub.inflight(), inflight.len());
								}
								GroupDecision::Skip => prop_assert!(opened.contains(&sequence) || sequence < first),
								GroupDecision::PastEnd => break,
							}
						}
					}
					Event::Delivered(pick) => {
						if !inflight.is_empty() {
							let sequence = inflight.remove(usize::from(pick) % inflight.len());
							sub.delivered(sequence);
							prop_assert_eq!(sub.inflight(), inflight.len());
						}
					}
				}
			}
			if let Some(end) = end {
				prop_assert_eq!(sub.range_done(), first > end || opened.last() == Some(&end));
			}
		}
	}
}
