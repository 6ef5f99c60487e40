//! What each broadcast sent (group by group) and what a subscriber session should therefore have
//! received while it was subscribed: the missed-group and delivery accounting of a soak run.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

/// One group a publisher sent: when its first frame was sent and when it was finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTimes {
	/// Send time of its first frame, ns since the Unix epoch.
	pub start_ns: u64,
	/// When it was finished (its last frame sent), ns since the Unix epoch; `None` while open.
	pub finish_ns: Option<u64>,
	/// Frames it holds.
	pub frames: u64,
}

/// A broadcast's groups, indexed by group number (the number in the frames' header, from 0).
#[derive(Debug, Default)]
pub struct GroupLog {
	groups: Mutex<Vec<GroupTimes>>,
}

impl GroupLog {
	/// Records a new group whose first frame is sent at `start_ns`; returns its number.
	pub fn begin(&self, start_ns: u64) -> u64 {
		let mut groups = self.groups.lock().unwrap();
		groups.push(GroupTimes {
			start_ns,
			finish_ns: None,
			frames: 0,
		});
		groups.len() as u64 - 1
	}

	/// Counts a frame of group `number`.
	pub fn frame(&self, number: u64) {
		if let Some(group) = self.groups.lock().unwrap().get_mut(number as usize) {
			group.frames += 1;
		}
	}

	/// Records that group `number` was finished at `finish_ns`.
	pub fn finish(&self, number: u64, finish_ns: u64) {
		if let Some(group) = self.groups.lock().unwrap().get_mut(number as usize) {
			group.finish_ns = Some(finish_ns);
		}
	}

	/// The groups so far.
	pub fn snapshot(&self) -> Vec<GroupTimes> {
		self.groups.lock().unwrap().clone()
	}
}

/// What one session should have received and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Accounting {
	/// Groups begun after the session subscribed and finished `grace` before it left.
	pub expected_groups: u64,
	/// Expected groups of which not one frame arrived.
	pub missed_groups: u64,
	/// Expected groups of which some but not all frames arrived.
	pub incomplete_groups: u64,
	/// Frames of the expected groups.
	pub expected_frames: u64,
	/// Frames of the expected groups that arrived.
	pub received_frames: u64,
}

impl Accounting {
	/// Adds `other` to this.
	pub fn add(&mut self, other: &Accounting) {
		self.expected_groups += other.expected_groups;
		self.missed_groups += other.missed_groups;
		self.incomplete_groups += other.incomplete_groups;
		self.expected_frames += other.expected_frames;
		self.received_frames += other.received_frames;
	}

	/// Received frames of the expected, in percent (100 when nothing was expected).
	pub fn delivery_pct(&self) -> f64 {
		if self.expected_frames == 0 {
			100.0
		} else {
			self.received_frames as f64 * 100.0 / self.expected_frames as f64
		}
	}
}

/// The accounting of a session subscribed from `joined_ns` to `left_ns` that received
/// `received[group]` frames of each group: a group is expected when its first frame was sent at
/// or after `joined_ns` (the one in progress when it subscribed may start anywhere, so it is not
/// judged) and it was finished at least `grace_ns` before `left_ns`.
pub fn account(
	log: &[GroupTimes],
	received: &HashMap<u64, u64>,
	joined_ns: u64,
	left_ns: u64,
	grace_ns: u64,
) -> Accounting {
	let mut acc = Accounting::default();
	for (number, group) in log.iter().enumerate() {
		let Some(finish_ns) = group.finish_ns else { continue };
		if group.start_ns < joined_ns || finish_ns.saturating_add(grace_ns) > left_ns {
			continue;
		}
		let got = received.get(&(number as u64)).copied().unwrap_or(0).min(group.frames);
		acc.expected_groups += 1;
		acc.expected_frames += group.frames;
		acc.received_frames += got;
		if got == 0 {
			acc.missed_groups += 1;
		} else if got < group.frames {
			acc.incomplete_groups += 1;
		}
	}
	acc
}

#[cfg(test)]
mod tests {
	use super::*;

	/// Groups of 10 frames, one a second from t = 0 (in seconds), each finished 0.9 s after it began.
	fn log(groups: u64) -> Vec<GroupTimes> {
		let log = GroupLog::default();
		for g in 0..groups {
			let number = log.begin(g * 1_000_000_000);
			assert_eq!(number, g);
			for _ in 0..10 {
				log.frame(number);
			}
			log.finish(number, g * 1_000_000_000 + 900_000_000);
		}
		log.snapshot()
	}

	const S: u64 = 1_000_000_000;

	#[test]
	fn only_groups_inside_the_subscription_are_expected() {
		let log = log(10);
		// Subscribed at 2.5 s, left at 8.0 s, grace 1 s: groups 3..=6 (6 finished at 6.9 s, 7 at 7.9 s).
		let received: HashMap<u64, u64> = (2..=7).map(|g| (g, 10)).collect();
		let acc = account(&log, &received, 2 * S + S / 2, 8 * S, S);
		assert_eq!(
			acc,
			Accounting {
				expected_groups: 4,
				missed_groups: 0,
				incomplete_groups: 0,
				expected_frames: 40,
				received_frames: 40,
			}
		);
		assert_eq!(acc.delivery_pct(), 100.0);
	}

	#[test]
	fn missing_and_partial_groups_are_counted() {
		let log = log(10);
		let received: HashMap<u64, u64> = [(3, 10), (5, 4), (6, 12)].into_iter().collect();
		let acc = account(&log, &received, 3 * S, 9 * S, S);
		// Expected 3..=7; 4 and 7 missed, 5 partial; 6's extra frames are not counted.
		assert_eq!(
			(acc.expected_groups, acc.missed_groups, acc.incomplete_groups),
			(5, 2, 1)
		);
		assert_eq!((acc.expected_frames, acc.received_frames), (50, 24));
		assert!((acc.delivery_pct() - 48.0).abs() < 1e-9);
	}

	#[test]
	fn an_open_group_is_not_judged() {
		let store = GroupLog::default();
		let number = store.begin(0);
		store.frame(number);
		let acc = account(&store.snapshot(), &HashMap::new(), 0, 100 * S, S);
		assert_eq!(acc, Accounting::default());
		assert_eq!(acc.delivery_pct(), 100.0);
	}

	#[test]
	fn sums() {
		let mut total = Accounting::default();
		let one = Accounting {
			expected_groups: 2,
			missed_groups: 1,
			incomplete_groups: 0,
			expected_frames: 20,
			received_frames: 10,
		};
		total.add(&one);
		total.add(&one);
		assert_eq!(
			(total.expected_groups, total.received_frames, total.delivery_pct()),
			(4, 20, 50.0)
		);
	}
}
