//! The errors a soak run counts. Each has a stable code (the key in the report); every one is
//! counted and the first few messages of each kind are kept, so nothing fails silently.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A kind of soak error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
	/// A subscriber session was not admitted (dial, handshake, SETUP or the announcement failed or
	/// took over 30 s).
	ConnectFailed,
	/// An admitted session's subscription to its broadcast's track failed.
	SubscribeFailed,
	/// A subscribed session's track or session ended while it was not leaving.
	UnexpectedClose,
	/// A leaving session's close failed or took over 5 s.
	CloseFailed,
	/// An expected group of which not one frame arrived (per session).
	MissedGroup,
	/// An expected group of which only some frames arrived (per session).
	IncompleteGroup,
	/// A frame of the wrong size or with a send time in the future.
	CorruptFrame,
	/// A publisher's session ended or its frames could not be written.
	PublisherFailed,
	/// The relay still counted more sessions than the publishers' after every subscriber left.
	RelaySessionsLeft,
}

impl ErrorKind {
	/// Every kind, in report order.
	pub const ALL: [ErrorKind; 9] = [
		ErrorKind::ConnectFailed,
		ErrorKind::SubscribeFailed,
		ErrorKind::UnexpectedClose,
		ErrorKind::CloseFailed,
		ErrorKind::MissedGroup,
		ErrorKind::IncompleteGroup,
		ErrorKind::CorruptFrame,
		ErrorKind::PublisherFailed,
		ErrorKind::RelaySessionsLeft,
	];

	/// The stable code: the key in the report.
	pub fn code(self) -> &'static str {
		match self {
			ErrorKind::ConnectFailed => "connect_failed",
			ErrorKind::SubscribeFailed => "subscribe_failed",
			ErrorKind::UnexpectedClose => "unexpected_close",
			ErrorKind::CloseFailed => "close_failed",
			ErrorKind::MissedGroup => "missed_group",
			ErrorKind::IncompleteGroup => "incomplete_group",
			ErrorKind::CorruptFrame => "corrupt_frame",
			ErrorKind::PublisherFailed => "publisher_failed",
			ErrorKind::RelaySessionsLeft => "relay_sessions_left",
		}
	}
}

/// Messages kept per kind.
const EXAMPLES: usize = 5;

/// Error counts by kind and the first messages of each.
#[derive(Debug, Default)]
pub struct Errors {
	counts: [AtomicU64; ErrorKind::ALL.len()],
	examples: Mutex<Vec<String>>,
	examples_per_kind: Mutex<BTreeMap<ErrorKind, usize>>,
}

impl Errors {
	/// Counts `n` errors of `kind`; keeps `message` if fewer than five of its kind are kept.
	pub fn record(&self, kind: ErrorKind, n: u64, message: impl FnOnce() -> String) {
		if n == 0 {
			return;
		}
		self.counts[kind as usize].fetch_add(n, Ordering::Relaxed);
		let mut kept = self.examples_per_kind.lock().unwrap();
		let kept = kept.entry(kind).or_default();
		if *kept < EXAMPLES {
			*kept += 1;
			self.examples
				.lock()
				.unwrap()
				.push(format!("{}: {}", kind.code(), message()));
		}
	}

	/// Errors of `kind` so far.
	pub fn count(&self, kind: ErrorKind) -> u64 {
		self.counts[kind as usize].load(Ordering::Relaxed)
	}

	/// Errors of every kind so far.
	pub fn total(&self) -> u64 {
		ErrorKind::ALL.iter().map(|&kind| self.count(kind)).sum()
	}

	/// Every kind's count by code, zeros included.
	pub fn by_code(&self) -> BTreeMap<String, u64> {
		ErrorKind::ALL
			.iter()
			.map(|&kind| (kind.code().to_string(), self.count(kind)))
			.collect()
	}

	/// The messages kept, in the order they were recorded.
	pub fn examples(&self) -> Vec<String> {
		self.examples.lock().unwrap().clone()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn every_error_is_counted_and_a_few_are_described() {
		let errors = Errors::default();
		for i in 0..7 {
			errors.record(ErrorKind::ConnectFailed, 1, || format!("refused {i}"));
		}
		errors.record(ErrorKind::MissedGroup, 3, || "session 4: 3 of 10".into());
		errors.record(ErrorKind::CorruptFrame, 0, || unreachable!("nothing to count"));
		assert_eq!(errors.count(ErrorKind::ConnectFailed), 7);
		assert_eq!(errors.total(), 10);
		let by_code = errors.by_code();
		assert_eq!(by_code.len(), ErrorKind::ALL.len());
		assert_eq!(
			(
				by_code["connect_failed"],
				by_code["missed_group"],
				by_code["corrupt_frame"]
			),
			(7, 3, 0)
		);
		let examples = errors.examples();
		assert_eq!(examples.len(), EXAMPLES + 1);
		assert_eq!(examples[0], "connect_failed: refused 0");
		assert_eq!(examples[EXAMPLES], "missed_group: session 4: 3 of 10");
	}

	#[test]
	fn codes_are_distinct() {
		let codes: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
		assert_eq!(codes.len(), ErrorKind::ALL.len());
		// The table order is the enum's order: `counts` is indexed by it.
		assert!(ErrorKind::ALL.iter().enumerate().all(|(i, &k)| k as usize == i));
	}
}
