//! The auth service's answers, shared and remembered: concurrent identical requests make one
//! call, and an allow answer is kept for as long as the service allowed (`Cache-Control: max-age`),
//! never past the credential's own expiry.
//!
//! One map, keyed by a SHA-256 digest of the request (the credential and what the service is told
//! about where it is used), holds either a call in flight (a [`OnceCell`] every waiter awaits: if
//! the caller that started it goes away, the next waiter finishes it) or a remembered answer and
//! the instant it stops being valid. At most `capacity` answers are remembered: when full, expired
//! ones are dropped first, then the one closest to expiring. Calls in flight are bounded by the
//! service's concurrency limit and the relay's pending-connection limits, not by `capacity`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::auth::AuthError;

/// A decided call: the answer (shared by everyone who waited) and how long it may be remembered.
pub type Outcome<A> = Result<(Arc<A>, Duration), AuthError>;

enum Slot<A> {
	Ready { answer: Arc<A>, until: Instant },
	Pending(Arc<OnceCell<Outcome<A>>>),
}

/// Remembered answers and calls in flight.
pub struct Answers<A> {
	capacity: usize,
	slots: Mutex<HashMap<[u8; 32], Slot<A>>>,
}

impl<A> std::fmt::Debug for Answers<A> {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("Answers")
			.field("capacity", &self.capacity)
			.field("entries", &self.len())
			.finish()
	}
}

/// What a lookup found.
pub enum Lookup<'a, A> {
	/// A remembered answer.
	Hit(Arc<A>),
	/// A call to make, or to wait for.
	Call(Flight<'a, A>),
}

/// A caller's part in one call: [`Flight::run`] makes it or waits for it. Dropping it (done, or
/// cancelled) settles the map: the answer is remembered or the slot freed.
pub struct Flight<'a, A> {
	answers: &'a Answers<A>,
	key: [u8; 32],
	cell: Arc<OnceCell<Outcome<A>>>,
	joined: bool,
}

impl<A> Answers<A> {
	/// At most `capacity` remembered answers (0: none, calls are still shared).
	pub fn new(capacity: usize) -> Self {
		Self {
			capacity,
			slots: Mutex::new(HashMap::new()),
		}
	}

	fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Slot<A>>> {
		self.slots.lock().unwrap_or_else(|e| e.into_inner())
	}

	/// Entries now (remembered answers and calls in flight).
	pub fn len(&self) -> usize {
		self.slots().len()
	}

	/// A remembered answer for `key`, or a place in the call for it.
	pub fn lookup(&self, key: [u8; 32]) -> Lookup<'_, A> {
		let mut slots = self.slots();
		let now = Instant::now();
		match slots.get(&key) {
			Some(Slot::Ready { answer, until }) if *until > now => return Lookup::Hit(answer.clone()),
			Some(Slot::Pending(cell)) => {
				return Lookup::Call(Flight {
					answers: self,
					key,
					cell: cell.clone(),
					joined: true,
				});
			}
			_ => {}
		}
		let cell = Arc::new(OnceCell::new());
		slots.insert(key, Slot::Pending(cell.clone()));
		Lookup::Call(Flight {
			answers: self,
			key,
			cell,
			joined: false,
		})
	}

	/// Remembers `answer` for `key` until `until`, within the capacity.
	fn remember(&self, slots: &mut HashMap<[u8; 32], Slot<A>>, key: [u8; 32], answer: Arc<A>, until: Instant) {
		slots.remove(&key);
		if self.capacity == 0 {
			return;
		}
		if slots.len() >= self.capacity {
			let now = Instant::now();
			slots.retain(|_, slot| !matches!(slot, Slot::Ready { until, .. } if *until <= now));
		}
		if slots.len() >= self.capacity {
			let soonest = slots
				.iter()
				.filter_map(|(key, slot)| match slot {
					Slot::Ready { until, .. } => Some((*until, *key)),
					Slot::Pending(_) => None,
				})
				.min();
			match soonest {
				Some((_, key)) => {
					slots.remove(&key);
				}
				// Everything is in flight: this answer is not remembered.
				None => return,
			}
		}
		slots.insert(key, Slot::Ready { answer, until });
	}
}

impl<A> Flight<'_, A> {
	/// Whether this caller joined a call another caller started.
	pub fn joined(&self) -> bool {
		self.joined
	}

	/// The call's outcome: made by `call` unless another caller's call is (or was) made first.
	pub async fn run<F>(&self, call: impl FnOnce() -> F) -> Outcome<A>
	where
		F: std::future::Future<Output = Outcome<A>>,
	{
		self.cell.get_or_init(call).await.clone()
	}
}

impl<A> Drop for Flight<'_, A> {
	fn drop(&mut self) {
		let mut slots = self.answers.slots();
		let ours = matches!(slots.get(&self.key), Some(Slot::Pending(cell)) if Arc::ptr_eq(cell, &self.cell));
		if !ours {
			return;
		}
		match self.cell.get() {
			Some(Ok((answer, keep))) if !keep.is_zero() => {
				let until = Instant::now() + *keep;
				self.answers.remember(&mut slots, self.key, answer.clone(), until);
			}
			Some(_) => {
				slots.remove(&self.key);
			}
			// Not decided: free the slot unless another caller still waits on it (the map and this
			// flight hold the only references).
			None if Arc::strong_count(&self.cell) <= 2 => {
				slots.remove(&self.key);
			}
			None => {}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::sync::atomic::{AtomicUsize, Ordering};

	fn key(n: u8) -> [u8; 32] {
		[n; 32]
	}

	async fn ask(answers: &Answers<u32>, k: u8, calls: &AtomicUsize, keep: Duration) -> (bool, Outcome<u32>) {
		match answers.lookup(key(k)) {
			Lookup::Hit(answer) => (true, Ok((answer, Duration::ZERO))),
			Lookup::Call(flight) => {
				let outcome = flight
					.run(|| async {
						calls.fetch_add(1, Ordering::SeqCst);
						tokio::time::sleep(Duration::from_millis(100)).await;
						Ok((Arc::new(u32::from(k)), keep))
					})
					.await;
				(false, outcome)
			}
		}
	}

	#[tokio::test(start_paused = true)]
	async fn concurrent_identical_requests_share_one_call_and_answers_expire() {
		let answers = Answers::new(10);
		let calls = AtomicUsize::new(0);
		let keep = Duration::from_secs(30);
		// Polled together: every lookup happens before the first call finishes.
		let results = join_all((0..10).map(|_| ask(&answers, 1, &calls, keep)).collect()).await;
		assert!(results.iter().all(|(hit, r)| !hit && *r.as_ref().unwrap().0 == 1));
		assert_eq!(calls.load(Ordering::SeqCst), 1, "ten waiters, one call");
		assert_eq!(answers.len(), 1);

		let (hit, _) = ask(&answers, 1, &calls, keep).await;
		assert!(hit, "remembered");
		tokio::time::advance(keep).await;
		let (hit, _) = ask(&answers, 1, &calls, keep).await;
		assert!(!hit, "expired");
		assert_eq!(calls.load(Ordering::SeqCst), 2);

		// Not remembered when the answer says so (or it is a refusal).
		let (_, _) = ask(&answers, 2, &calls, Duration::ZERO).await;
		let (hit, _) = ask(&answers, 2, &calls, Duration::ZERO).await;
		assert!(!hit);
	}

	/// Polls `futures` together until all are ready.
	async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
		let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
		let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
		std::future::poll_fn(|cx| {
			let mut pending = false;
			for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
				if output.is_none() {
					match future.as_mut().poll(cx) {
						std::task::Poll::Ready(value) => *output = Some(value),
						std::task::Poll::Pending => pending = true,
					}
				}
			}
			if pending {
				std::task::Poll::Pending
			} else {
				std::task::Poll::Ready(())
			}
		})
		.await;
		outputs.into_iter().map(|o| o.expect("ready")).collect()
	}

	#[tokio::test(start_paused = true)]
	async fn a_cancelled_caller_hands_the_call_over_and_frees_its_slot() {
		let answers: Answers<u32> = Answers::new(10);
		let calls = AtomicUsize::new(0);
		// The only caller goes away mid-call: the slot is freed.
		let first = ask(&answers, 3, &calls, Duration::from_secs(5));
		assert!(tokio::time::timeout(Duration::from_millis(10), first).await.is_err());
		assert_eq!(answers.len(), 0);
		// A waiter outlives the caller that started the call: it makes the call itself.
		let (Lookup::Call(leader), Lookup::Call(follower)) = (answers.lookup(key(4)), answers.lookup(key(4))) else {
			panic!("a fresh key")
		};
		assert!(!leader.joined() && follower.joined());
		drop(leader);
		assert_eq!(answers.len(), 1, "the follower still waits on the slot");
		let outcome = follower
			.run(|| async { Ok((Arc::new(4), Duration::from_secs(5))) })
			.await;
		assert_eq!(*outcome.unwrap().0, 4);
		drop(follower);
		assert!(matches!(answers.lookup(key(4)), Lookup::Hit(_)));
	}

	#[tokio::test(start_paused = true)]
	async fn capacity_bounds_the_remembered_answers() {
		let answers: Answers<u32> = Answers::new(2);
		let calls = AtomicUsize::new(0);
		ask(&answers, 1, &calls, Duration::from_secs(10)).await.1.unwrap();
		ask(&answers, 2, &calls, Duration::from_secs(20)).await.1.unwrap();
		ask(&answers, 3, &calls, Duration::from_secs(30)).await.1.unwrap();
		assert_eq!(answers.len(), 2);
		// The one closest to expiring made room.
		assert!(!ask(&answers, 1, &calls, Duration::ZERO).await.0);
		assert!(ask(&answers, 3, &calls, Duration::ZERO).await.0);
		let none: Answers<u32> = Answers::new(0);
		ask(&none, 1, &calls, Duration::from_secs(10)).await.1.unwrap();
		assert_eq!(none.len(), 0);
	}
}
