//! Request-ID flow control (draft-14 §9.1, §9.5, §9.6), and draft-18's Request IDs.
//!
//! A client's Request IDs are even from 0, a server's odd from 1, each new request the previous
//! plus 2. A request whose ID is not the next expected is INVALID_REQUEST_ID; one at or over the
//! Maximum Request ID the receiver advertised (SETUP MAX_REQUEST_ID, then MAX_REQUEST_ID
//! messages, which only increase) is TOO_MANY_REQUESTS.
//!
//! From draft-16 on, requests travel on more than one stream (SUBSCRIBE_NAMESPACE has its own), so
//! they can arrive out of the order their IDs were given in: `@moq/net` 0.3.4 in Chromium, asked to
//! publish a broadcast and watch announcements, has its request with ID 2 reach the relay before
//! the one with ID 0, and a strict relay closes the session. There the rule is "each ID of the
//! peer's parity once, below the maximum" ([`PeerRequests::across_streams`]). Draft-18 has no
//! Maximum Request ID and its requests arrive on streams of their own, in any order
//! ([`StreamRequests`]).

use std::collections::BTreeSet;

use crate::wire::SessionCode;
use crate::wire::VarInt;
use crate::wire::ietf::termination;

/// A broken request-ID rule: the session closes with this code and reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RequestViolation {
	/// The termination code.
	pub code: SessionCode,
	/// Why.
	pub reason: &'static str,
}

fn first_id(client: bool) -> u64 {
	if client { 0 } else { 1 }
}

/// The peer's requests, as the relay receives them.
#[derive(Clone, Debug)]
pub struct PeerRequests {
	/// The lowest ID not received yet.
	next: u64,
	max: u64,
	window: u64,
	/// IDs received ahead of `next` (only when requests may arrive out of order; fewer than
	/// `window / 2` of them, as each is below `max`).
	early: Option<BTreeSet<u64>>,
}

impl PeerRequests {
	/// The requests of a peer (`client`: it is the client of the session), of which the relay lets
	/// `window` be ahead of the last one received; [`initial_max`](Self::initial_max) goes in the
	/// relay's SETUP.
	pub fn new(client: bool, window: u64) -> Self {
		let next = first_id(client);
		let window = window.max(2);
		Self {
			next,
			max: next + window,
			window,
			early: None,
		}
	}

	/// [`new`](Self::new) for a session whose requests arrive on several streams (draft-16 and
	/// later): an ID may come before a lower one, but each only once.
	pub fn across_streams(client: bool, window: u64) -> Self {
		Self {
			early: Some(BTreeSet::new()),
			..Self::new(client, window)
		}
	}

	/// The MAX_REQUEST_ID to advertise in SETUP.
	pub fn initial_max(&self) -> VarInt {
		VarInt::from_u64(self.max).unwrap_or(VarInt::MAX)
	}

	/// Checks a new request's ID. On success, returns a new Maximum Request ID to send in a
	/// MAX_REQUEST_ID message when half of the window is used.
	pub fn accept(&mut self, id: VarInt) -> Result<Option<VarInt>, RequestViolation> {
		let id = id.into_inner();
		if id >= self.max {
			return Err(RequestViolation {
				code: termination::TOO_MANY_REQUESTS,
				reason: "a Request ID at or over the Maximum Request ID",
			});
		}
		match &mut self.early {
			None if id != self.next => {
				return Err(RequestViolation {
					code: termination::INVALID_REQUEST_ID,
					reason: "a Request ID that is not the next one expected",
				});
			}
			None => self.next += 2,
			Some(early) => {
				if id < self.next || id % 2 != self.next % 2 || !early.insert(id) {
					return Err(RequestViolation {
						code: termination::INVALID_REQUEST_ID,
						reason: "a Request ID used before or of the other side",
					});
				}
				while early.remove(&self.next) {
					self.next += 2;
				}
			}
		}
		if self.max - self.next > self.window / 2 {
			return Ok(None);
		}
		self.max = self.next + self.window;
		Ok(Some(VarInt::from_u64(self.max).unwrap_or(VarInt::MAX)))
	}
}

/// The relay's own requests to the peer.
#[derive(Clone, Debug)]
pub struct OwnRequests {
	next: u64,
	max: u64,
	blocked_at: Option<u64>,
}

impl OwnRequests {
	/// The relay's requests (`client`: the relay is the session's client), with the peer's SETUP
	/// MAX_REQUEST_ID (absent: 0, no request may be sent until it raises it).
	pub fn new(client: bool, max: VarInt) -> Self {
		Self {
			next: first_id(client),
			max: max.into_inner(),
			blocked_at: None,
		}
	}

	/// The next Request ID, or `Err` while the peer's maximum is reached; the error holds the
	/// REQUESTS_BLOCKED value to send, once per maximum.
	pub fn allocate(&mut self) -> Result<VarInt, Option<VarInt>> {
		if self.next >= self.max {
			if self.blocked_at == Some(self.max) {
				return Err(None);
			}
			self.blocked_at = Some(self.max);
			return Err(Some(VarInt::from_u64(self.max).unwrap_or(VarInt::MAX)));
		}
		let id = self.next;
		self.next += 2;
		Ok(VarInt::from_u64(id).unwrap_or(VarInt::MAX))
	}

	/// Whether the relay sent a request with the Request ID `id`: an answer to one it cancelled
	/// meanwhile is late, not a violation.
	pub fn issued(&self, id: VarInt) -> bool {
		let id = id.into_inner();
		id < self.next && id % 2 == self.next % 2
	}

	/// The peer's MAX_REQUEST_ID: it must increase.
	pub fn raise(&mut self, max: VarInt) -> Result<(), RequestViolation> {
		let max = max.into_inner();
		if max <= self.max {
			return Err(RequestViolation {
				code: termination::PROTOCOL_VIOLATION,
				reason: "MAX_REQUEST_ID did not increase",
			});
		}
		self.max = max;
		Ok(())
	}
}

/// How many of the peer's draft-18 Request IDs are remembered above the lowest one not seen yet: a
/// gap (an ID the peer allocated and never sent) is given up beyond that.
const OUT_OF_ORDER: usize = 1024;

/// The peer's draft-18 Request IDs (draft-18 §10.1): no Maximum Request ID, streams in any order,
/// but the sender's parity and no ID twice (else INVALID_REQUEST_ID); the lowest not seen yet is
/// the Request ID of the relay's GOAWAY.
#[derive(Clone, Debug)]
pub struct StreamRequests {
	/// Every ID of the peer's parity below it has been seen.
	low: u64,
	/// IDs seen above `low`.
	above: BTreeSet<u64>,
}

impl StreamRequests {
	/// The requests of a peer (`client`: it is the client of the session).
	pub fn new(client: bool) -> Self {
		Self {
			low: first_id(client),
			above: BTreeSet::new(),
		}
	}

	/// Checks a new request's ID.
	pub fn accept(&mut self, id: VarInt) -> Result<(), RequestViolation> {
		let id = id.into_inner();
		let invalid = |reason| RequestViolation {
			code: termination::INVALID_REQUEST_ID,
			reason,
		};
		if id % 2 != self.low % 2 {
			return Err(invalid("a Request ID of the other endpoint's parity"));
		}
		if id < self.low || !self.above.insert(id) {
			return Err(invalid("a Request ID used twice"));
		}
		while self.above.remove(&self.low) {
			self.low += 2;
		}
		if self.above.len() > OUT_OF_ORDER
			&& let Some(first) = self.above.pop_first()
		{
			self.low = first + 2;
			while self.above.remove(&self.low) {
				self.low += 2;
			}
		}
		Ok(())
	}

	/// The lowest Request ID not seen yet: GOAWAY's "smallest peer Request ID that was not or
	/// might not have been processed".
	pub fn next(&self) -> VarInt {
		VarInt::from_u64(self.low).unwrap_or(VarInt::MAX)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn draft18_ids_arrive_in_any_order_once() {
		let mut peer = StreamRequests::new(true);
		assert_eq!(peer.next(), v(0));
		assert_eq!(peer.accept(v(2)), Ok(()));
		assert_eq!(peer.next(), v(0));
		assert_eq!(peer.accept(v(0)), Ok(()));
		assert_eq!(peer.next(), v(4));
		for id in [0, 2] {
			assert_eq!(peer.accept(v(id)).unwrap_err().code, termination::INVALID_REQUEST_ID);
		}
		assert_eq!(peer.accept(v(1)).unwrap_err().code, termination::INVALID_REQUEST_ID);
		// A gap the peer never fills is given up past the out-of-order window.
		for i in 0..=OUT_OF_ORDER as u64 {
			assert_eq!(peer.accept(v(6 + 2 * i)), Ok(()));
		}
		assert_eq!(peer.next(), v(6 + 2 * (OUT_OF_ORDER as u64 + 1)));
		let mut server = StreamRequests::new(false);
		assert_eq!(server.accept(v(0)).unwrap_err().code, termination::INVALID_REQUEST_ID);
		assert_eq!(server.accept(v(1)), Ok(()));
	}

	fn v(n: u64) -> VarInt {
		VarInt::from_u64(n).unwrap()
	}

	#[test]
	fn peer_ids_are_sequential_and_bounded() {
		let mut peer = PeerRequests::new(true, 8);
		assert_eq!(peer.initial_max(), v(8));
		assert_eq!(peer.accept(v(0)), Ok(None));
		// Skipping an ID, or reusing one, is INVALID_REQUEST_ID.
		assert_eq!(peer.accept(v(4)).unwrap_err().code, termination::INVALID_REQUEST_ID);
		assert_eq!(peer.accept(v(0)).unwrap_err().code, termination::INVALID_REQUEST_ID);
		// Half the window used: the maximum moves on.
		assert_eq!(peer.accept(v(2)), Ok(Some(v(12))));
		assert_eq!(peer.accept(v(4)), Ok(None));
		assert_eq!(peer.accept(v(6)), Ok(Some(v(16))));

		// A server's IDs are odd; past the maximum is TOO_MANY_REQUESTS.
		let mut server = PeerRequests::new(false, 2);
		assert_eq!(server.accept(v(0)).unwrap_err().code, termination::INVALID_REQUEST_ID);
		assert_eq!(server.accept(v(1)), Ok(Some(v(5))));
		assert_eq!(server.accept(v(7)).unwrap_err().code, termination::TOO_MANY_REQUESTS);
	}

	#[test]
	fn peer_ids_across_streams_may_come_out_of_order_but_once() {
		let mut peer = PeerRequests::across_streams(true, 8);
		// 2 before 0 (PUBLISH_NAMESPACE on the control stream overtaking SUBSCRIBE_NAMESPACE).
		assert_eq!(peer.accept(v(2)), Ok(None));
		assert_eq!(peer.accept(v(2)).unwrap_err().code, termination::INVALID_REQUEST_ID);
		// 0 fills the gap: 0 and 2 are used, half the window: the maximum moves on.
		assert_eq!(peer.accept(v(0)), Ok(Some(v(12))));
		assert_eq!(peer.accept(v(0)).unwrap_err().code, termination::INVALID_REQUEST_ID);
		// The other side's parity, or past the maximum, is still refused.
		assert_eq!(peer.accept(v(5)).unwrap_err().code, termination::INVALID_REQUEST_ID);
		assert_eq!(peer.accept(v(12)).unwrap_err().code, termination::TOO_MANY_REQUESTS);
		// Gaps stay open until filled; the maximum follows the lowest unused ID.
		assert_eq!(peer.accept(v(8)), Ok(None));
		assert_eq!(peer.accept(v(6)), Ok(None));
		assert_eq!(peer.accept(v(4)), Ok(Some(v(18))));
		assert_eq!(peer.accept(v(10)), Ok(None));
	}

	#[test]
	fn own_ids_wait_for_the_peer() {
		let mut own = OwnRequests::new(false, v(0));
		// No MAX_REQUEST_ID yet: blocked, REQUESTS_BLOCKED once.
		assert_eq!(own.allocate(), Err(Some(v(0))));
		assert_eq!(own.allocate(), Err(None));
		assert_eq!(own.raise(v(4)), Ok(()));
		assert_eq!(own.allocate(), Ok(v(1)));
		assert_eq!(own.allocate(), Ok(v(3)));
		assert_eq!(own.allocate(), Err(Some(v(4))));
		assert_eq!(own.raise(v(4)).unwrap_err().code, termination::PROTOCOL_VIOLATION);
		assert_eq!(own.raise(v(100)), Ok(()));
		assert_eq!(own.allocate(), Ok(v(5)));
		// Issued: 1, 3 and 5; not 7 (not yet), not 2 or 4 (the peer's parity).
		assert!([1, 3, 5].into_iter().all(|id| own.issued(v(id))));
		assert!([2, 4, 7].into_iter().all(|id| !own.issued(v(id))));
	}
}
