//! Whether the relay's memory stayed flat after warm-up: the verdict a soak run gives on leaks.

use serde::Serialize;

/// One RSS reading of a sample interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RssPoint {
	/// Seconds since the soak began (the first subscriber dialed), at the end of the interval.
	pub t_s: f64,
	/// RSS read at `t_s`, KiB.
	pub kib: u64,
	/// Largest RSS read during the interval (polled every second), KiB.
	pub max_kib: u64,
}

/// The RSS after warm-up against its value when warm-up ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RssFlatness {
	/// Seconds since the start at which warm-up ended.
	pub warmup_end_s: f64,
	/// Time of the reference reading: the first sample at or after the end of warm-up.
	pub reference_t_s: f64,
	/// RSS of the reference reading, KiB.
	pub reference_kib: u64,
	/// Smallest RSS from the reference on, KiB.
	pub min_kib: u64,
	/// Largest RSS from the reference on (each later interval's polled peak included), KiB.
	pub max_kib: u64,
	/// RSS of the last sample, KiB.
	pub last_kib: u64,
	/// Largest distance of a reading from the reference, in percent of the reference.
	pub max_deviation_pct: f64,
	/// Last sample against the reference, in percent (negative: it shrank).
	pub end_change_pct: f64,
	/// Least-squares trend of the samples' readings from the reference on, KiB per minute.
	pub slope_kib_per_min: f64,
	/// Samples from the reference on.
	pub samples: usize,
	/// The allowed distance from the reference, in percent.
	pub tolerance_pct: f64,
	/// Every reading within `tolerance_pct` of the reference.
	pub flat: bool,
}

/// Judges `points` (in time order) after `warmup_end_s`: the first point at or after it is the
/// reference, and RSS is flat when every later reading, instantaneous or polled peak, is within
/// `tolerance_pct` percent of it. `None` when fewer than two points fall after warm-up (nothing to
/// compare).
pub fn rss_flatness(points: &[RssPoint], warmup_end_s: f64, tolerance_pct: f64) -> Option<RssFlatness> {
	let start = points.iter().position(|p| p.t_s >= warmup_end_s)?;
	let after = &points[start..];
	if after.len() < 2 {
		return None;
	}
	let reference = after[0];
	let later = &after[1..];
	let readings = std::iter::once(reference.kib).chain(later.iter().flat_map(|p| [p.kib, p.max_kib]));
	let (min_kib, max_kib) = readings.fold((u64::MAX, 0), |(lo, hi), kib| (lo.min(kib), hi.max(kib)));
	let pct = |kib: u64| (kib as f64 - reference.kib as f64) * 100.0 / reference.kib as f64;
	let max_deviation_pct = pct(max_kib).abs().max(pct(min_kib).abs());
	let last = after[after.len() - 1];
	Some(RssFlatness {
		warmup_end_s,
		reference_t_s: reference.t_s,
		reference_kib: reference.kib,
		min_kib,
		max_kib,
		last_kib: last.kib,
		max_deviation_pct,
		end_change_pct: pct(last.kib),
		slope_kib_per_min: slope(after) * 60.0,
		samples: after.len(),
		tolerance_pct,
		flat: max_deviation_pct <= tolerance_pct,
	})
}

/// Least-squares slope of the instantaneous readings, KiB per second.
fn slope(points: &[RssPoint]) -> f64 {
	let n = points.len() as f64;
	let mean_t = points.iter().map(|p| p.t_s).sum::<f64>() / n;
	let mean_kib = points.iter().map(|p| p.kib as f64).sum::<f64>() / n;
	let (mut num, mut den) = (0.0, 0.0);
	for p in points {
		num += (p.t_s - mean_t) * (p.kib as f64 - mean_kib);
		den += (p.t_s - mean_t).powi(2);
	}
	if den == 0.0 { 0.0 } else { num / den }
}

#[cfg(test)]
mod tests {
	use super::*;

	fn points(readings: &[(f64, u64, u64)]) -> Vec<RssPoint> {
		readings
			.iter()
			.map(|&(t_s, kib, max_kib)| RssPoint { t_s, kib, max_kib })
			.collect()
	}

	#[test]
	fn warmup_growth_does_not_count() {
		// 10 MiB at start, 100 MiB once every session is open, then within 5 %.
		let p = points(&[
			(60.0, 10_000, 10_000),
			(120.0, 100_000, 100_000),
			(180.0, 104_000, 105_000),
			(240.0, 97_000, 103_000),
			(300.0, 101_000, 101_000),
		]);
		let f = rss_flatness(&p, 100.0, 10.0).unwrap();
		assert_eq!((f.reference_t_s, f.reference_kib), (120.0, 100_000));
		assert_eq!((f.min_kib, f.max_kib, f.last_kib), (97_000, 105_000, 101_000));
		assert_eq!(f.samples, 4);
		assert!((f.max_deviation_pct - 5.0).abs() < 1e-9);
		assert!((f.end_change_pct - 1.0).abs() < 1e-9);
		assert!(f.flat);
	}

	#[test]
	fn a_leak_past_the_tolerance_is_not_flat() {
		// 2 MiB a minute on top of 100 MiB: 12 % after six minutes.
		let p: Vec<RssPoint> = (0..=6)
			.map(|m| RssPoint {
				t_s: 60.0 * (m + 1) as f64,
				kib: 100_000 + 2_000 * m,
				max_kib: 100_000 + 2_000 * m,
			})
			.collect();
		let f = rss_flatness(&p, 60.0, 10.0).unwrap();
		assert!(!f.flat);
		assert!((f.max_deviation_pct - 12.0).abs() < 1e-9);
		assert!((f.slope_kib_per_min - 2_000.0).abs() < 1e-6);
		// The same readings judged only on the first five minutes stay within 10 %.
		assert!(rss_flatness(&p[..6], 60.0, 10.0).unwrap().flat);
	}

	#[test]
	fn a_peak_between_samples_counts() {
		let p = points(&[
			(10.0, 100_000, 100_000),
			(20.0, 101_000, 115_000),
			(30.0, 100_000, 100_000),
		]);
		let f = rss_flatness(&p, 10.0, 10.0).unwrap();
		assert_eq!(f.max_kib, 115_000);
		assert!(!f.flat);
	}

	#[test]
	fn shrinking_past_the_tolerance_is_not_flat_either() {
		let p = points(&[(10.0, 100_000, 100_000), (20.0, 85_000, 100_000)]);
		let f = rss_flatness(&p, 0.0, 10.0).unwrap();
		assert!((f.end_change_pct + 15.0).abs() < 1e-9);
		assert!(!f.flat);
	}

	#[test]
	fn too_few_samples_after_warmup() {
		let p = points(&[(10.0, 1, 1), (20.0, 2, 2)]);
		assert_eq!(rss_flatness(&p, 15.0, 10.0), None);
		assert_eq!(rss_flatness(&p, 25.0, 10.0), None);
		assert_eq!(rss_flatness(&[], 0.0, 10.0), None);
	}
}
