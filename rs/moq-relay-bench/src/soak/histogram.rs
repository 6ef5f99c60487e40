//! A latency histogram that merges and answers percentiles in constant memory, for soak runs too
//! long to keep every sample: microsecond buckets below 128 µs, then 64 buckets per power of two
//! (a bucket is at most 1/64 of its lower bound wide, so a percentile is within 1 % of the sample's
//! value). The largest sample is kept exactly.

use crate::Percentiles;

/// Buckets per power of two, as bits.
const SUB_BITS: u32 = 6;
/// Buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;
/// Below this many microseconds every microsecond has its own bucket.
const LINEAR: u64 = 2 * SUB;

/// Counts of nanosecond samples in log-linear microsecond buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
	counts: Vec<u64>,
	count: u64,
	max_ns: u64,
}

/// The bucket of `us` microseconds.
fn index(us: u64) -> usize {
	if us < LINEAR {
		return us as usize;
	}
	let exponent = 63 - us.leading_zeros();
	let shift = exponent - SUB_BITS;
	(LINEAR + (exponent - SUB_BITS - 1) as u64 * SUB + ((us >> shift) - SUB)) as usize
}

/// The microseconds bucket `index` holds: `[low, high)`.
fn bounds(index: usize) -> (u64, u64) {
	let index = index as u64;
	if index < LINEAR {
		return (index, index + 1);
	}
	let k = index - LINEAR;
	let shift = (k / SUB) as u32 + 1;
	let mantissa = k % SUB + SUB;
	(mantissa << shift, (mantissa + 1) << shift)
}

impl Histogram {
	/// Counts one sample of `ns` nanoseconds.
	pub fn record(&mut self, ns: u64) {
		let at = index(ns / 1_000);
		if at >= self.counts.len() {
			self.counts.resize(at + 1, 0);
		}
		self.counts[at] += 1;
		self.count += 1;
		self.max_ns = self.max_ns.max(ns);
	}

	/// Adds `other`'s samples.
	pub fn merge(&mut self, other: &Histogram) {
		if other.counts.len() > self.counts.len() {
			self.counts.resize(other.counts.len(), 0);
		}
		for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
			*mine += theirs;
		}
		self.count += other.count;
		self.max_ns = self.max_ns.max(other.max_ns);
	}

	/// Samples counted.
	pub fn count(&self) -> u64 {
		self.count
	}

	/// The nearest-rank `q` quantile (0 < q ≤ 1) in milliseconds: the middle of the bucket holding
	/// that rank's sample, never above the largest sample; 0 when empty.
	pub fn quantile_ms(&self, q: f64) -> f64 {
		if self.count == 0 {
			return 0.0;
		}
		let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
		let mut seen = 0;
		for (at, &n) in self.counts.iter().enumerate() {
			seen += n;
			if seen >= rank {
				let (low, high) = bounds(at);
				let middle_ns = (low + high - 1) * 1_000 / 2;
				let value_ns = if high - low == 1 { low * 1_000 } else { middle_ns };
				return value_ns.min(self.max_ns) as f64 / 1e6;
			}
		}
		self.max_ns as f64 / 1e6
	}

	/// p50, p90, p99 and the exact maximum, in milliseconds.
	pub fn percentiles(&self) -> Percentiles {
		Percentiles {
			count: self.count as usize,
			p50: self.quantile_ms(0.50),
			p90: self.quantile_ms(0.90),
			p99: self.quantile_ms(0.99),
			max: self.max_ns as f64 / 1e6,
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn buckets_tile_the_microseconds() {
		// Every value lands in the bucket whose bounds hold it, and consecutive buckets touch.
		let mut last_high = 0;
		for at in 0..2_000 {
			let (low, high) = bounds(at);
			assert_eq!(low, last_high, "bucket {at}");
			assert!(high > low);
			assert_eq!(index(low), at);
			assert_eq!(index(high - 1), at);
			// At most 1/64 of the lower bound wide past the linear range.
			if low >= LINEAR {
				assert!((high - low) * SUB <= low, "bucket {at}: [{low}, {high})");
			}
			last_high = high;
		}
		assert!(index(u64::MAX / 1_000) < 4_000);
	}

	#[test]
	fn small_values_are_exact() {
		let mut h = Histogram::default();
		for us in 1..=100u64 {
			h.record(us * 1_000 + 999);
		}
		let p = h.percentiles();
		assert_eq!(p.count, 100);
		assert_eq!((p.p50, p.p90, p.p99), (0.050, 0.090, 0.099));
		assert_eq!(p.max, 0.100999);
	}

	#[test]
	fn large_values_are_within_one_percent() {
		let mut h = Histogram::default();
		// 1 ms to 1,000 ms in 1 ms steps.
		for ms in (1..=1_000u64).rev() {
			h.record(ms * 1_000_000);
		}
		let p = h.percentiles();
		for (got, want) in [(p.p50, 500.0), (p.p90, 900.0), (p.p99, 990.0)] {
			assert!((got - want).abs() <= want / 100.0, "{got} vs {want}");
		}
		assert_eq!(p.max, 1_000.0);
		// Never above the largest sample.
		let mut one = Histogram::default();
		one.record(1_000_000_000);
		assert_eq!(one.quantile_ms(0.99), 1_000.0);
	}

	#[test]
	fn merging_equals_recording_everything() {
		let (mut a, mut b, mut all) = (Histogram::default(), Histogram::default(), Histogram::default());
		for ns in [5_000u64, 70_000, 3_000_000, 250_000_000] {
			a.record(ns);
			all.record(ns);
		}
		for ns in [9_000_000u64, 1_200_000_000] {
			b.record(ns);
			all.record(ns);
		}
		a.merge(&b);
		assert_eq!(a, all);
		assert_eq!(a.count(), 6);
		assert_eq!(a.percentiles().max, 1_200.0);
	}

	#[test]
	fn empty_is_zero() {
		let p = Histogram::default().percentiles();
		assert_eq!((p.count, p.p50, p.p99, p.max), (0, 0.0, 0.0, 0.0));
	}
}
