//! How many streams the peer may keep open at once, raised as it uses them.
//!
//! quinn allocates bookkeeping for every stream it allows up front, so an idle session is
//! cheapest with a small allowance; a session that really keeps many subscriptions or groups
//! open gets its allowance doubled whenever half of it is in use, up to a ceiling.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::transport::Session;

/// The allowance and the streams the peer has open now.
#[derive(Debug)]
pub(super) struct Budget {
	limit: AtomicU32,
	open: AtomicU32,
	max: u32,
}

impl Budget {
	/// Starts at `initial` (what the transport was configured with), never above `max`.
	pub(super) fn new(initial: u32, max: u32) -> Arc<Self> {
		Arc::new(Self {
			limit: AtomicU32::new(initial),
			open: AtomicU32::new(0),
			max,
		})
	}

	/// A peer-opened stream is live until the guard drops; raises the allowance when half is used.
	pub(super) fn opened<S: Session>(self: &Arc<Self>, transport: &S) -> Open {
		let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
		if let Some(raised) = self.raise_for(open) {
			transport.allow_streams(raised);
		}
		Open(self.clone())
	}

	/// The new allowance if `open` streams call for one.
	fn raise_for(&self, open: u32) -> Option<u32> {
		let limit = self.limit.load(Ordering::Relaxed);
		if open.saturating_mul(2) < limit || limit >= self.max {
			return None;
		}
		let raised = limit.saturating_mul(2).min(self.max);
		self.limit
			.compare_exchange(limit, raised, Ordering::Relaxed, Ordering::Relaxed)
			.ok()
			.map(|_| raised)
	}
}

/// One open peer stream.
pub(super) struct Open(Arc<Budget>);

impl Drop for Open {
	fn drop(&mut self) {
		self.0.open.fetch_sub(1, Ordering::Relaxed);
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn doubles_at_half_use_up_to_the_ceiling() {
		let budget = Budget::new(64, 256);
		assert_eq!(budget.raise_for(31), None);
		assert_eq!(budget.raise_for(32), Some(128));
		assert_eq!(budget.raise_for(33), None, "already raised");
		assert_eq!(budget.raise_for(64), Some(256));
		assert_eq!(budget.raise_for(200), None, "at the ceiling");
	}
}
