//! Redeemed nonces: the double-spend record (RFC 9577 §2.2.2 and RFC 9576 §3.4).
//!
//! Two traits with the same protocol (reserve, verify, commit; release on failure):
//! - [`NonceStore`] is synchronous, `&self`, no I/O, no futures: the in-memory store implements it and
//!   [`Verifier::verify`](crate::Verifier::verify) uses it directly.
//! - [`AsyncNonceStore`] is the same three steps as futures, for a store shared by several relays over
//!   the network (the Redis store of the `redis` feature: `reserve` = `SET key r NX PX ttl`, `commit` =
//!   `SET key s PX ttl`, `release` = `DEL key`). [`Verifier::verify_token_with`](crate::Verifier::verify_token_with)
//!   runs every stateless check first, then the three steps against such a store. The trait itself does
//!   no I/O, so this module stays sans-I/O.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::Error;
use crate::error::short_hex;

/// A nonce held by [`NonceStore::reserve`] until it is committed or released.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation must be committed or released"]
pub struct Reservation {
	nonce: [u8; 32],
	keep_until: SystemTime,
}

impl Reservation {
	/// A reservation for `nonce`, to be remembered until `keep_until` once committed. For store
	/// implementations; callers get reservations from [`NonceStore::reserve`].
	pub fn new(nonce: [u8; 32], keep_until: SystemTime) -> Self {
		Self { nonce, keep_until }
	}

	/// The reserved nonce.
	pub fn nonce(&self) -> &[u8; 32] {
		&self.nonce
	}

	/// Until when the store must remember the nonce once committed.
	pub fn keep_until(&self) -> SystemTime {
		self.keep_until
	}
}

/// Where redeemed nonces are recorded.
///
/// `reserve` must be atomic: of two concurrent reservations of the same nonce, one fails with
/// [`Error::TokenReplayed`]. A store that cannot answer fails with [`Error::NonceStore`]; the verifier
/// then refuses the token (fail closed).
pub trait NonceStore: Send + Sync {
	/// Marks `nonce` as in redemption, unless it was redeemed or is being redeemed
	/// ([`Error::TokenReplayed`]). The entry must outlive `keep_until` (the expiry of the challenge the
	/// token answers: after that the token is refused anyway).
	fn reserve(&self, nonce: &[u8; 32], keep_until: SystemTime, now: SystemTime) -> Result<Reservation, Error>;

	/// Turns a reservation into a permanent (until `keep_until`) redemption. On failure the caller
	/// releases the reservation.
	fn commit(&self, reservation: &Reservation, now: SystemTime) -> Result<(), Error>;

	/// Gives a reservation up: the nonce may be redeemed again.
	fn release(&self, reservation: Reservation);
}

/// [`NonceStore`] as futures, for a store behind the network (shared by several relays).
///
/// Same contract: `reserve` is atomic across every relay sharing the store (of two concurrent
/// reservations of one nonce, one fails with [`Error::TokenReplayed`]); a store that cannot answer (down,
/// timed out) fails with [`Error::NonceStore`], and the verifier then refuses the token (fail closed).
/// Implementations bound every operation in time.
pub trait AsyncNonceStore: Send + Sync {
	/// See [`NonceStore::reserve`].
	fn reserve(
		&self,
		nonce: &[u8; 32],
		keep_until: SystemTime,
		now: SystemTime,
	) -> impl std::future::Future<Output = Result<Reservation, Error>> + Send;

	/// See [`NonceStore::commit`].
	fn commit(
		&self,
		reservation: &Reservation,
		now: SystemTime,
	) -> impl std::future::Future<Output = Result<(), Error>> + Send;

	/// See [`NonceStore::release`]. Best effort: a failed release leaves the nonce reserved until
	/// `keep_until`, which refuses more tokens, never fewer.
	fn release(&self, reservation: Reservation) -> impl std::future::Future<Output = ()> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
	Reserved,
	Spent,
}

#[derive(Debug, Default)]
struct Entries {
	map: HashMap<[u8; 32], (State, SystemTime)>,
	/// Insertion order, for pruning; entries whose map value changed are skipped lazily.
	order: VecDeque<([u8; 32], SystemTime)>,
}

/// A bounded in-memory [`NonceStore`] for one relay.
///
/// Entries expire at their `keep_until`. When `capacity` live entries are held, new reservations fail
/// with [`Error::NonceStore`] rather than forgetting a live nonce (forgetting would allow a replay).
#[derive(Debug)]
pub struct MemoryNonceStore {
	capacity: usize,
	entries: Mutex<Entries>,
}

impl Default for MemoryNonceStore {
	fn default() -> Self {
		Self::new(1 << 20)
	}
}

impl MemoryNonceStore {
	/// A store holding at most `capacity` live nonces.
	pub fn new(capacity: usize) -> Self {
		Self {
			capacity,
			entries: Mutex::default(),
		}
	}

	/// Number of entries held (live or not yet pruned).
	pub fn len(&self) -> usize {
		self.lock().map.len()
	}

	/// True when no entry is held.
	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}

	/// Forgets every entry (for tests and benchmarks that reuse tokens).
	pub fn clear(&self) {
		let mut e = self.lock();
		e.map.clear();
		e.order.clear();
	}

	fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
		// A poisoned lock only means another thread panicked mid-operation; the map is still consistent.
		self.entries.lock().unwrap_or_else(|p| p.into_inner())
	}
}

impl Entries {
	fn prune(&mut self, now: SystemTime) {
		// Entries are mostly in expiry order (one challenge lifetime); stop at the first live one, and
		// do a full sweep only when the queue holds many stale positions.
		while let Some(&(nonce, until)) = self.order.front() {
			if until > now {
				break;
			}
			self.order.pop_front();
			if self.map.get(&nonce).is_some_and(|&(_, u)| u == until) {
				self.map.remove(&nonce);
			}
		}
		if self.order.len() > 2 * self.map.len() + 64 {
			self.map.retain(|_, (_, u)| *u > now);
			let map = &self.map;
			self.order.retain(|(n, u)| map.get(n).is_some_and(|&(_, mu)| mu == *u));
		}
	}
}

impl NonceStore for MemoryNonceStore {
	fn reserve(&self, nonce: &[u8; 32], keep_until: SystemTime, now: SystemTime) -> Result<Reservation, Error> {
		let mut e = self.lock();
		e.prune(now);
		if e.map.get(nonce).is_some_and(|&(_, until)| until > now) {
			return Err(Error::TokenReplayed(short_hex(nonce)));
		}
		if e.map.len() >= self.capacity {
			e.map.retain(|_, (_, u)| *u > now);
			if e.map.len() >= self.capacity {
				return Err(Error::NonceStore(format!(
					"in-memory nonce store is full ({} live nonces)",
					self.capacity
				)));
			}
		}
		e.map.insert(*nonce, (State::Reserved, keep_until));
		e.order.push_back((*nonce, keep_until));
		Ok(Reservation::new(*nonce, keep_until))
	}

	fn commit(&self, reservation: &Reservation, _now: SystemTime) -> Result<(), Error> {
		let mut e = self.lock();
		match e.map.get_mut(&reservation.nonce) {
			Some(entry) if entry.0 == State::Reserved => {
				entry.0 = State::Spent;
				Ok(())
			}
			// Pruned meanwhile (keep_until already passed): record it again rather than lose it.
			None => {
				e.map.insert(reservation.nonce, (State::Spent, reservation.keep_until));
				e.order.push_back((reservation.nonce, reservation.keep_until));
				Ok(())
			}
			Some(_) => Err(Error::TokenReplayed(short_hex(&reservation.nonce))),
		}
	}

	fn release(&self, reservation: Reservation) {
		let mut e = self.lock();
		if e.map
			.get(&reservation.nonce)
			.is_some_and(|&(s, _)| s == State::Reserved)
		{
			e.map.remove(&reservation.nonce);
		}
	}
}

#[cfg(test)]
mod tests {
	use std::time::{Duration, UNIX_EPOCH};

	use super::*;

	fn t(s: u64) -> SystemTime {
		UNIX_EPOCH + Duration::from_secs(s)
	}

	#[test]
	fn reserve_commit_refuses_replay() {
		let s = MemoryNonceStore::new(10);
		let r = s.reserve(&[1; 32], t(100), t(0)).unwrap();
		// Concurrent second reservation is refused while the first is pending.
		assert_eq!(s.reserve(&[1; 32], t(100), t(0)).unwrap_err().code(), "token_replayed");
		s.commit(&r, t(1)).unwrap();
		assert_eq!(s.reserve(&[1; 32], t(100), t(50)).unwrap_err().code(), "token_replayed");
		// After keep_until the entry is gone (the challenge expired, the token is refused elsewhere).
		let r = s.reserve(&[1; 32], t(300), t(100)).unwrap();
		s.release(r);
	}

	#[test]
	fn release_frees_the_nonce() {
		let s = MemoryNonceStore::new(10);
		let r = s.reserve(&[2; 32], t(100), t(0)).unwrap();
		s.release(r);
		assert!(s.is_empty());
		let r = s.reserve(&[2; 32], t(100), t(0)).unwrap();
		s.commit(&r, t(0)).unwrap();
		// Releasing a stale reservation never frees a committed nonce.
		s.release(Reservation::new([2; 32], t(100)));
		assert!(s.reserve(&[2; 32], t(100), t(1)).is_err());
	}

	#[test]
	fn bounded_and_fails_closed() {
		let s = MemoryNonceStore::new(3);
		for i in 0..3u8 {
			let r = s.reserve(&[i; 32], t(10), t(0)).unwrap();
			s.commit(&r, t(0)).unwrap();
		}
		assert_eq!(
			s.reserve(&[9; 32], t(10), t(5)).unwrap_err().code(),
			"nonce_store_unavailable"
		);
		// Once the old entries expire there is room again.
		let r = s.reserve(&[9; 32], t(20), t(10)).unwrap();
		s.commit(&r, t(10)).unwrap();
		assert_eq!(s.len(), 1);
		s.clear();
		assert!(s.is_empty());
	}
}
