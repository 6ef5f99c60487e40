//! The relay's total cache bytes (`limits.max_cache`): every group is charged for its frames as
//! their headers arrive and refunded when the last holder drops it; over the budget, the oldest
//! groups of any track leave the caches first, never a track's latest group.
//!
//! A group a stalled reader still holds stays charged until that reader lets go: the session bounds
//! how many those are (`limits.max_inflight_groups`), so the budget plus that bound is what groups
//! can cost.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, Weak};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::track::{Group, Track};

/// What the budget tells the metrics (`moq_relay_cache_bytes`, `moq_relay_cache_evictions_total`):
/// handles that share their values with the registered ones ([`crate::metrics::Metrics::cache_meters`]).
#[derive(Clone, Debug, Default)]
pub struct CacheMeters {
	/// Bytes charged now.
	pub bytes: Gauge<u64, AtomicU64>,
	/// Groups taken out of their track's cache to stay within the budget.
	pub evictions: Counter,
}

/// The shared budget of one origin.
#[derive(Debug)]
pub struct CacheBudget {
	max: usize,
	used: AtomicUsize,
	/// Every cached group, oldest first (entries whose group is gone are skipped and pruned).
	order: Mutex<Order>,
	meters: CacheMeters,
}

#[derive(Debug, Default)]
struct Order {
	groups: VecDeque<(Weak<Track>, Weak<Group>)>,
	/// The length at which dead entries are next pruned.
	prune_at: usize,
}

impl CacheBudget {
	/// A budget of `max` bytes that reports to nobody.
	pub fn new(max: usize) -> Self {
		Self::with_meters(max, CacheMeters::default())
	}

	/// A budget of `max` bytes that reports to `meters`.
	pub fn with_meters(max: usize, meters: CacheMeters) -> Self {
		Self {
			max,
			used: AtomicUsize::new(0),
			order: Mutex::new(Order::default()),
			meters,
		}
	}

	/// Bytes charged now.
	pub fn used(&self) -> usize {
		self.used.load(Ordering::Relaxed)
	}

	/// A new group of `track`, youngest of all.
	pub(super) fn register(&self, track: Weak<Track>, group: Weak<Group>) {
		let mut order = self.order.lock().unwrap_or_else(|e| e.into_inner());
		order.groups.push_back((track, group));
		// Amortized: an entry whose group is gone is dropped once the list has doubled since.
		if order.groups.len() >= order.prune_at.max(1024) {
			order.groups.retain(|(_, group)| group.strong_count() > 0);
			order.prune_at = order.groups.len().saturating_mul(2);
		}
	}

	/// Charges `bytes`, evicting the oldest groups while the total is over the budget.
	pub(super) fn charge(&self, bytes: usize) {
		let used = self.used.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
		self.meters.bytes.inc_by(bytes as u64);
		if used > self.max {
			self.evict();
		}
	}

	/// Gives back what a dropped group was charged.
	pub(super) fn refund(&self, bytes: usize) {
		self.used.fetch_sub(bytes, Ordering::Relaxed);
		self.meters.bytes.dec_by(bytes as u64);
	}

	/// Takes the oldest groups out of their tracks' caches until the total is within the budget or
	/// only latest groups (and groups held by readers) remain. Memory comes back as readers let go.
	fn evict(&self) {
		let mut order = self.order.lock().unwrap_or_else(|e| e.into_inner());
		let mut kept = Vec::new();
		while self.used() > self.max {
			let Some((track, group)) = order.groups.pop_front() else {
				break;
			};
			let (Some(track), Some(group)) = (track.upgrade(), group.upgrade()) else {
				continue;
			};
			// The latest group stays: its track's subscribers start there.
			if track.evict_group(&group) {
				self.meters.evictions.inc();
			} else {
				kept.push((std::sync::Arc::downgrade(&track), std::sync::Arc::downgrade(&group)));
			}
			// What readers still hold is refunded when they drop it.
		}
		for entry in kept.into_iter().rev() {
			order.groups.push_front(entry);
		}
	}
}
