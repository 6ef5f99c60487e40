//! Track Aliases (draft-14 §10.1): the numbers data streams and datagrams name a subscription by.
//!
//! The publisher picks them: the relay numbers the subscriptions it serves ([`Aliases::assign`]),
//! and learns the peer's from SUBSCRIBE_OK and PUBLISH ([`Aliases::learn`]) to route the peer's
//! data streams to the subscription they answer.

use std::collections::HashMap;

use super::RequestViolation;
use crate::wire::VarInt;
use crate::wire::ietf::termination;

/// One direction's Track Aliases and the Request IDs they belong to.
#[derive(Debug, Default)]
pub struct Aliases {
	next: u64,
	by_alias: HashMap<u64, VarInt>,
}

impl Aliases {
	/// No alias yet.
	pub fn new() -> Self {
		Self::default()
	}

	/// A fresh alias for the relay's answer to the subscription `request_id`.
	pub fn assign(&mut self, request_id: VarInt) -> VarInt {
		let alias = VarInt::from_u64(self.next).unwrap_or(VarInt::MAX);
		self.next += 1;
		self.by_alias.insert(alias.into_inner(), request_id);
		alias
	}

	/// The peer's alias for the relay's subscription `request_id`: a second live subscription with
	/// the same alias is DUPLICATE_TRACK_ALIAS.
	pub fn learn(&mut self, alias: VarInt, request_id: VarInt) -> Result<(), RequestViolation> {
		match self.by_alias.get(&alias.into_inner()) {
			Some(other) if *other != request_id => Err(RequestViolation {
				code: termination::DUPLICATE_TRACK_ALIAS,
				reason: "a Track Alias already in use",
			}),
			_ => {
				self.by_alias.insert(alias.into_inner(), request_id);
				Ok(())
			}
		}
	}

	/// The subscription a data stream or datagram with this alias belongs to.
	pub fn route(&self, alias: VarInt) -> Option<VarInt> {
		self.by_alias.get(&alias.into_inner()).copied()
	}

	/// The subscription `request_id` ended: its alias is free.
	pub fn forget(&mut self, request_id: VarInt) {
		self.by_alias.retain(|_, id| *id != request_id);
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn v(n: u64) -> VarInt {
		VarInt::from_u64(n).unwrap()
	}

	#[test]
	fn assign_learn_route_forget() {
		let mut ours = Aliases::new();
		assert_eq!(ours.assign(v(0)), v(0));
		assert_eq!(ours.assign(v(2)), v(1));
		assert_eq!(ours.route(v(1)), Some(v(2)));
		ours.forget(v(2));
		assert_eq!(ours.route(v(1)), None);

		let mut theirs = Aliases::new();
		theirs.learn(v(7), v(1)).unwrap();
		assert_eq!(theirs.route(v(7)), Some(v(1)));
		assert_eq!(
			theirs.learn(v(7), v(3)).unwrap_err().code,
			termination::DUPLICATE_TRACK_ALIAS
		);
		theirs.forget(v(1));
		assert!(theirs.learn(v(7), v(3)).is_ok());
	}
}
