//! The challenges a verifier will accept tokens for: those it issued (each expiring) and static ones
//! from configuration (never expiring).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::error::short_hex;
use crate::{Error, TokenChallenge};

/// What the book knows about a challenge digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeStatus {
	/// A configured static challenge: accepted without expiry.
	Static,
	/// Issued by this verifier and valid until the given time.
	Issued {
		/// When the challenge stops being accepted.
		expires_at: SystemTime,
	},
}

#[derive(Debug, Default)]
struct Issued {
	expiry: HashMap<[u8; 32], SystemTime>,
	order: VecDeque<([u8; 32], SystemTime)>,
}

/// Registry of accepted challenge digests.
///
/// Issued challenges are kept for their lifetime plus one more lifetime of grace, so a token for a
/// recently expired challenge is reported as `challenge_expired` rather than `unknown_challenge`. At most
/// `capacity` issued challenges are kept; past that the oldest are forgotten (their tokens then fail as
/// `unknown_challenge`, which only refuses more, never less).
#[derive(Debug)]
pub struct ChallengeBook {
	ttl: Duration,
	capacity: usize,
	static_digests: HashSet<[u8; 32]>,
	issued: Mutex<Issued>,
}

impl ChallengeBook {
	/// A book whose issued challenges live `ttl`, holding at most `capacity` of them.
	pub fn new(ttl: Duration, capacity: usize) -> Self {
		Self {
			ttl,
			capacity: capacity.max(1),
			static_digests: HashSet::new(),
			issued: Mutex::default(),
		}
	}

	/// Changes the lifetime of challenges issued from now on and the capacity.
	pub fn set_lifetime(&mut self, ttl: Duration, capacity: usize) {
		self.ttl = ttl;
		self.capacity = capacity.max(1);
	}

	/// How long issued challenges are accepted.
	pub fn ttl(&self) -> Duration {
		self.ttl
	}

	/// Accepts tokens for `challenge` without expiry (a challenge from configuration).
	pub fn add_static(&mut self, challenge: &TokenChallenge) {
		self.static_digests.insert(challenge.digest());
	}

	/// Records that `challenge` was issued at `now`; returns when it expires.
	pub fn record(&self, challenge: &TokenChallenge, now: SystemTime) -> SystemTime {
		self.record_digest(challenge.digest(), later(now, self.ttl), now)
	}

	/// Records an issued challenge digest with an explicit expiry (e.g. one a peer relay issued).
	pub fn record_digest(&self, digest: [u8; 32], expires_at: SystemTime, now: SystemTime) -> SystemTime {
		let mut issued = self.lock();
		Self::prune(&mut issued, now, self.ttl);
		while issued.expiry.len() >= self.capacity {
			let Some((d, at)) = issued.order.pop_front() else { break };
			if issued.expiry.get(&d) == Some(&at) {
				issued.expiry.remove(&d);
			}
		}
		issued.expiry.insert(digest, expires_at);
		issued.order.push_back((digest, expires_at));
		expires_at
	}

	/// Whether tokens for `digest` are accepted at `now`.
	pub fn check(&self, digest: &[u8; 32], now: SystemTime) -> Result<ChallengeStatus, Error> {
		if self.static_digests.contains(digest) {
			return Ok(ChallengeStatus::Static);
		}
		let issued = self.lock();
		match issued.expiry.get(digest) {
			Some(&expires_at) if expires_at > now => Ok(ChallengeStatus::Issued { expires_at }),
			Some(_) => Err(Error::ChallengeExpired(short_hex(digest))),
			None => Err(Error::UnknownChallenge(short_hex(digest))),
		}
	}

	/// Number of issued challenges held.
	pub fn issued_len(&self) -> usize {
		self.lock().expiry.len()
	}

	fn lock(&self) -> std::sync::MutexGuard<'_, Issued> {
		self.issued.lock().unwrap_or_else(|p| p.into_inner())
	}

	fn prune(issued: &mut Issued, now: SystemTime, grace: Duration) {
		while let Some(&(d, at)) = issued.order.front() {
			if later(at, grace) > now {
				break;
			}
			issued.order.pop_front();
			if issued.expiry.get(&d) == Some(&at) {
				issued.expiry.remove(&d);
			}
		}
		if issued.order.len() > 2 * issued.expiry.len() + 64 {
			let expiry = &issued.expiry;
			let keep: Vec<_> = issued
				.order
				.iter()
				.copied()
				.filter(|(d, at)| expiry.get(d) == Some(at))
				.collect();
			issued.order = keep.into();
		}
	}
}

/// `at + by`, saturating: a lifetime too long for a `SystemTime` (a configured `challenge_ttl` of
/// 2^63 seconds) lasts a million years instead of overflowing, which panics.
pub(crate) fn later(at: SystemTime, by: Duration) -> SystemTime {
	const FAR: Duration = Duration::from_secs(1_000_000 * 365 * 24 * 3600);
	at.checked_add(by).or_else(|| at.checked_add(FAR)).unwrap_or(at)
}

#[cfg(test)]
mod tests {
	use std::time::UNIX_EPOCH;

	use super::*;

	fn t(s: u64) -> SystemTime {
		UNIX_EPOCH + Duration::from_secs(s)
	}

	fn ch(i: u8) -> TokenChallenge {
		TokenChallenge::new(2, "issuer", Some([i; 32]), vec![]).unwrap()
	}

	#[test]
	fn issued_expire_then_are_forgotten() {
		let book = ChallengeBook::new(Duration::from_secs(60), 10);
		assert_eq!(book.record(&ch(1), t(0)), t(60));
		let d = ch(1).digest();
		assert_eq!(
			book.check(&d, t(59)).unwrap(),
			ChallengeStatus::Issued { expires_at: t(60) }
		);
		assert_eq!(book.check(&d, t(60)).unwrap_err().code(), "challenge_expired");
		assert_eq!(
			book.check(&ch(2).digest(), t(0)).unwrap_err().code(),
			"unknown_challenge"
		);
		// After the grace period a new record prunes it.
		book.record(&ch(3), t(121));
		assert_eq!(book.check(&d, t(121)).unwrap_err().code(), "unknown_challenge");
		assert_eq!(book.issued_len(), 1);
	}

	#[test]
	fn capacity_evicts_oldest() {
		let book = ChallengeBook::new(Duration::from_secs(60), 2);
		for i in 0..3 {
			book.record(&ch(i), t(u64::from(i)));
		}
		assert_eq!(book.issued_len(), 2);
		assert!(book.check(&ch(0).digest(), t(3)).is_err());
		assert!(book.check(&ch(2).digest(), t(3)).is_ok());
	}

	#[test]
	fn re_recording_refreshes() {
		let book = ChallengeBook::new(Duration::from_secs(60), 2);
		book.record(&ch(1), t(0));
		book.record(&ch(1), t(50));
		assert!(book.check(&ch(1).digest(), t(100)).is_ok());
		assert_eq!(book.issued_len(), 1);
	}

	/// Found by probing the relay's configuration checks: `challenge_ttl = 9223372036854775807`
	/// made the first challenge panic ("overflow when adding duration to instant").
	#[test]
	fn a_lifetime_past_what_a_time_holds_does_not_overflow() {
		let book = ChallengeBook::new(Duration::MAX, 2);
		let expires = book.record(&ch(1), t(0));
		assert!(expires > t(1 << 40));
		assert_eq!(
			book.check(&ch(1).digest(), t(1 << 40)).unwrap(),
			ChallengeStatus::Issued { expires_at: expires }
		);
		// Recording prunes with the same lifetime as grace.
		book.record(&ch(2), t(1));
		book.record(&ch(3), t(2));
		assert_eq!(book.issued_len(), 2);
		assert_eq!(later(t(5), Duration::from_secs(1)), t(6));
	}

	#[test]
	fn static_never_expires() {
		let mut book = ChallengeBook::new(Duration::from_secs(1), 2);
		book.add_static(&ch(7));
		assert_eq!(
			book.check(&ch(7).digest(), t(1 << 40)).unwrap(),
			ChallengeStatus::Static
		);
	}
}
