//! Redial delays: 1 s doubling to 10 s, with jitter (`docs/cluster.md`).

use std::time::Duration;

/// The first delay.
pub const FIRST: Duration = Duration::from_secs(1);
/// The longest delay.
pub const MAX: Duration = Duration::from_secs(10);

/// Delays between dials of one link. Pure: the caller supplies randomness, so the
/// sequence is testable.
#[derive(Clone, Debug)]
pub struct Backoff {
	next: Duration,
}

impl Default for Backoff {
	fn default() -> Self {
		Self { next: FIRST }
	}
}

impl Backoff {
	/// The delay before the next dial, jittered by `unit` (in 0..1) to 75–125 % of the
	/// nominal delay so relays that lost the same peer do not redial in lockstep.
	pub fn next(&mut self, unit: f64) -> Duration {
		let nominal = self.next;
		self.next = (self.next * 2).min(MAX);
		nominal.mul_f64(0.75 + 0.5 * unit.clamp(0.0, 1.0))
	}

	/// A link was up long enough to count as healthy: start again from [`FIRST`].
	pub fn reset(&mut self) {
		self.next = FIRST;
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn doubles_to_the_cap_with_bounded_jitter_and_resets() {
		let mut backoff = Backoff::default();
		let nominal: Vec<Duration> = (0..6).map(|_| backoff.next(0.5)).collect();
		let secs: Vec<u64> = nominal.iter().map(Duration::as_secs).collect();
		assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
		let low = Backoff::default().next(0.0);
		let high = Backoff::default().next(1.0);
		assert_eq!(low, Duration::from_millis(750));
		assert_eq!(high, Duration::from_millis(1250));
		backoff.reset();
		assert_eq!(backoff.next(0.5), FIRST);
	}
}
