//! The churn schedule: which subscriber sessions leave, and how many, at each second.

use std::collections::VecDeque;

/// Sessions to replace at tick `tick` (1-based, one tick a second) of a churn of `rate` sessions a
/// second: `⌊rate·tick⌋ − ⌊rate·(tick−1)⌋`, so a fractional rate spreads evenly (0.5 a second is one
/// every other second) and the total after `k` ticks is `⌊rate·k⌋`.
pub fn due(rate: f64, tick: u64) -> u64 {
	if rate <= 0.0 || tick == 0 {
		return 0;
	}
	let total = |k: u64| (rate * k as f64 + 1e-9).floor() as u64;
	total(tick) - total(tick - 1)
}

/// The sessions that may be churned, oldest first: every churned session lives about as long as
/// the others, `churnable / rate` seconds.
#[derive(Debug, Default)]
pub struct Roster {
	queue: VecDeque<u64>,
}

impl Roster {
	/// Adds a session that is now subscribed.
	pub fn push(&mut self, id: u64) {
		self.queue.push_back(id);
	}

	/// Forgets a session that ended on its own (it cannot be asked to leave).
	pub fn remove(&mut self, id: u64) {
		self.queue.retain(|&queued| queued != id);
	}

	/// Takes the `n` oldest sessions (fewer if there are not as many).
	pub fn take_oldest(&mut self, n: u64) -> Vec<u64> {
		let n = (n as usize).min(self.queue.len());
		self.queue.drain(..n).collect()
	}

	/// Sessions held.
	pub fn len(&self) -> usize {
		self.queue.len()
	}

	/// Whether none is held.
	pub fn is_empty(&self) -> bool {
		self.queue.is_empty()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn whole_rates_replace_the_same_number_every_second() {
		assert!((1..=600).all(|tick| due(5.0, tick) == 5));
		assert_eq!((1..=600).map(|tick| due(5.0, tick)).sum::<u64>(), 3_000);
	}

	#[test]
	fn fractional_rates_spread_evenly() {
		let half: Vec<u64> = (1..=6).map(|tick| due(0.5, tick)).collect();
		assert_eq!(half, [0, 1, 0, 1, 0, 1]);
		let rate: Vec<u64> = (1..=4).map(|tick| due(2.5, tick)).collect();
		assert_eq!(rate, [2, 3, 2, 3]);
		// 0.1 a second is not lost to rounding: exactly 60 over 600 s.
		assert_eq!((1..=600).map(|tick| due(0.1, tick)).sum::<u64>(), 60);
	}

	#[test]
	fn no_churn() {
		assert_eq!(due(0.0, 1), 0);
		assert_eq!(due(-1.0, 3), 0);
		assert_eq!(due(5.0, 0), 0);
	}

	#[test]
	fn roster_takes_the_oldest_first() {
		let mut roster = Roster::default();
		for id in 10..15 {
			roster.push(id);
		}
		roster.remove(11);
		assert_eq!(roster.take_oldest(2), [10, 12]);
		roster.push(20);
		assert_eq!(roster.len(), 3);
		assert_eq!(roster.take_oldest(10), [13, 14, 20]);
		assert!(roster.is_empty());
		assert!(roster.take_oldest(1).is_empty());
	}
}
