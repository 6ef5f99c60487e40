//! Namespaces, both ways (`docs/protocol.md#namespaces-and-paths`): [`Outbound`] turns the relay's
//! broadcasts under a SUBSCRIBE_NAMESPACE prefix into PUBLISH_NAMESPACE / PUBLISH_NAMESPACE_DONE
//! for the peer, [`Inbound`] turns the peer's PUBLISH_NAMESPACE into broadcasts the relay
//! publishes (what moq-lite's announce stream does).
//!
//! Paths here are relative to the session's root, as in moq-lite: the namespace `("room", "cam")`
//! of a session rooted at `anon` is the broadcast `anon/room/cam`.

use std::collections::{HashMap, VecDeque};

use moq_token::Path;

use super::OwnRequests;
use crate::auth::Grant;
use crate::wire::VarInt;
use crate::wire::ietf::{
	ControlMessage, Parameters, PublishNamespace, RequestError, RequestErrorCode, namespace_to_path, path_to_namespace,
};

/// The broadcasts shown to the peer for its namespace subscriptions.
///
/// A path is shown once at a time: PUBLISH_NAMESPACE with a Request ID of the relay's, then
/// PUBLISH_NAMESPACE_DONE when it ends. When the peer's MAX_REQUEST_ID is used up the path waits
/// (REQUESTS_BLOCKED is sent once) until [`unblocked`](Self::unblocked).
#[derive(Debug, Default)]
pub struct Outbound {
	/// Live paths and the Request ID they were shown with.
	live: HashMap<String, VarInt>,
	/// Paths waiting for a Request ID, oldest first.
	pending: VecDeque<String>,
}

impl Outbound {
	/// Nothing shown yet.
	pub fn new() -> Self {
		Self::default()
	}

	/// A broadcast at `path` is active: the messages to send now.
	pub fn active(&mut self, path: &str, ids: &mut OwnRequests) -> Vec<ControlMessage> {
		if self.live.contains_key(path) || self.pending.iter().any(|p| p == path) {
			return Vec::new();
		}
		self.pending.push_back(path.to_string());
		self.unblocked(ids)
	}

	/// The broadcast at `path` ended: PUBLISH_NAMESPACE_DONE if it was shown.
	pub fn ended(&mut self, path: &str) -> Option<ControlMessage> {
		if let Some(at) = self.pending.iter().position(|p| p == path) {
			self.pending.remove(at);
			return None;
		}
		self.live
			.remove(path)
			.map(|_| ControlMessage::PublishNamespaceDone(path_to_namespace(path)))
	}

	/// Shows the waiting paths the peer's Maximum Request ID now allows.
	pub fn unblocked(&mut self, ids: &mut OwnRequests) -> Vec<ControlMessage> {
		let mut out = Vec::new();
		while let Some(path) = self.pending.front() {
			match ids.allocate() {
				Ok(request_id) => {
					out.push(ControlMessage::PublishNamespace(PublishNamespace {
						request_id,
						namespace: path_to_namespace(path),
						parameters: Parameters::default(),
					}));
					self.live.insert(path.clone(), request_id);
					self.pending.pop_front();
				}
				Err(blocked) => {
					out.extend(blocked.map(ControlMessage::RequestsBlocked));
					break;
				}
			}
		}
		out
	}

	/// The peer withdrew its interest in one namespace (PUBLISH_NAMESPACE_ERROR for one we sent,
	/// or PUBLISH_NAMESPACE_CANCEL): it is no longer shown, and no DONE follows.
	pub fn declined(&mut self, message: &ControlMessage) {
		match message {
			ControlMessage::PublishNamespaceError(err) => self.live.retain(|_, id| *id != err.request_id),
			ControlMessage::PublishNamespaceCancel(cancel) => {
				self.live.remove(&namespace_to_path(&cancel.namespace));
			}
			_ => {}
		}
	}

	/// How many paths are shown.
	pub fn live(&self) -> usize {
		self.live.len()
	}
}

/// What the relay does with a namespace the peer published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundAction {
	/// Publish the broadcast at this path (relative to the root), with the request token that
	/// allowed it when the session's grant does not (the publication then lasts as long as that
	/// token: `docs/protocol.md`, "Request tokens").
	Publish(Path, Option<Grant>),
	/// The broadcast at this path is published already, and this request now holds it (so the
	/// earlier request's end no longer withdraws it), with the request token that allowed it
	/// when the session's grant does not: a publisher renewing its authorization.
	Renewed(Path, Option<Grant>),
	/// Withdraw it.
	Withdraw(Path),
	/// Nothing: the broadcast at this path (relative to the root) is outside what the grant lets
	/// the session publish (the answer refuses it; the session records it in its audit trail).
	Denied(Path),
}

/// What the relay may accept from a publishing peer.
#[derive(Clone, Debug)]
pub struct InboundPolicy {
	/// The session's grant (`can_publish`).
	pub grant: Grant,
	/// Longest path, in bytes (`limits.max_path`).
	pub max_path: usize,
	/// Most broadcasts one session may publish (`limits.max_broadcasts`).
	pub max_broadcasts: usize,
}

/// The namespaces one peer published through the relay.
#[derive(Debug)]
pub struct Inbound {
	policy: InboundPolicy,
	published: HashMap<Path, VarInt>,
}

impl Inbound {
	/// A peer with nothing published yet.
	pub fn new(policy: InboundPolicy) -> Self {
		Self {
			policy,
			published: HashMap::new(),
		}
	}

	fn refuse(request_id: VarInt, code: u32, reason: &str) -> ControlMessage {
		ControlMessage::PublishNamespaceError(RequestError {
			request_id,
			code: VarInt::from_u32(code),
			reason: reason.into(),
			retry_interval: VarInt::ZERO,
		})
	}

	/// PUBLISH_NAMESPACE: the answer to send, and the broadcast to publish if it is accepted.
	/// `tokens` are the grants of the request's own verified AUTHORIZATION TOKENs, at the
	/// session's root: one that lets it publish the path allows it where the session's grant does
	/// not. Refusals: UNAUTHORIZED outside both (or a path that cannot be one), INTERNAL_ERROR
	/// with the limit's code over `max_path` or `max_broadcasts`.
	pub fn publish(&mut self, message: &PublishNamespace, tokens: &[Grant]) -> (ControlMessage, Option<InboundAction>) {
		let id = message.request_id;
		let text = namespace_to_path(&message.namespace);
		if text.len() > self.policy.max_path {
			return (
				Self::refuse(id, RequestErrorCode::INTERNAL_ERROR, "path_too_long"),
				None,
			);
		}
		let Ok(path) = Path::new(&text) else {
			return (Self::refuse(id, RequestErrorCode::UNAUTHORIZED, "invalid path"), None);
		};
		let token = match tokens.iter().find(|token| token.can_publish(&path)) {
			_ if self.policy.grant.can_publish(&path) => None,
			Some(token) => Some(token.clone()),
			None => {
				return (
					Self::refuse(id, RequestErrorCode::UNAUTHORIZED, "not allowed to publish here"),
					Some(InboundAction::Denied(path)),
				);
			}
		};
		let ok = ControlMessage::PublishNamespaceOk(id);
		if let Some(holder) = self.published.get_mut(&path) {
			// Published already: the new request is answered and holds it from now on.
			*holder = id;
			return (ok, Some(InboundAction::Renewed(path, token)));
		}
		if self.published.len() >= self.policy.max_broadcasts {
			return (
				Self::refuse(id, RequestErrorCode::INTERNAL_ERROR, "too_many_broadcasts"),
				None,
			);
		}
		self.published.insert(path.clone(), id);
		(ok, Some(InboundAction::Publish(path, token)))
	}

	/// PUBLISH_NAMESPACE_DONE: the broadcast to withdraw, if it was published.
	pub fn done(&mut self, namespace: &[String]) -> Option<InboundAction> {
		let path = Path::new(&namespace_to_path(namespace)).ok()?;
		self.published.remove(&path).map(|_| InboundAction::Withdraw(path))
	}

	/// Draft-16's PUBLISH_NAMESPACE_DONE, which names the PUBLISH_NAMESPACE by its Request ID:
	/// the broadcast to withdraw, if that request published one.
	pub fn done_request(&mut self, request_id: VarInt) -> Option<InboundAction> {
		let path = self
			.published
			.iter()
			.find(|(_, id)| **id == request_id)
			.map(|(path, _)| path.clone())?;
		self.published.remove(&path);
		Some(InboundAction::Withdraw(path))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn v(n: u64) -> VarInt {
		VarInt::from_u64(n).unwrap()
	}

	fn ns(parts: &[&str]) -> Vec<String> {
		parts.iter().map(|s| s.to_string()).collect()
	}

	#[test]
	fn outbound_shows_each_path_once() {
		let mut ids = OwnRequests::new(false, v(4));
		let mut out = Outbound::new();
		let sent = out.active("room/cam", &mut ids);
		assert_eq!(
			sent,
			vec![ControlMessage::PublishNamespace(PublishNamespace {
				request_id: v(1),
				namespace: ns(&["room", "cam"]),
				parameters: Parameters::default(),
			})]
		);
		assert!(out.active("room/cam", &mut ids).is_empty());
		assert_eq!(
			out.ended("room/cam"),
			Some(ControlMessage::PublishNamespaceDone(ns(&["room", "cam"])))
		);
		assert_eq!(out.ended("room/cam"), None);
		assert_eq!(out.live(), 0);
	}

	#[test]
	fn outbound_waits_for_request_ids() {
		let mut ids = OwnRequests::new(false, v(2));
		let mut out = Outbound::new();
		assert_eq!(out.active("a", &mut ids).len(), 1);
		// The peer's maximum is used up: REQUESTS_BLOCKED once, the path waits.
		assert_eq!(out.active("b", &mut ids), vec![ControlMessage::RequestsBlocked(v(2))]);
		assert!(out.active("c", &mut ids).is_empty());
		// A waiting path that ends is dropped without a DONE.
		assert_eq!(out.ended("c"), None);
		ids.raise(v(100)).unwrap();
		let sent = out.unblocked(&mut ids);
		assert!(
			matches!(&sent[..], [ControlMessage::PublishNamespace(p)] if p.namespace == ns(&["b"]) && p.request_id == v(3))
		);
		// The peer declines "b": no DONE for it later.
		out.declined(&ControlMessage::PublishNamespaceError(RequestError {
			request_id: v(3),
			code: v(4),
			reason: "uninterested".into(),
			retry_interval: v(0),
		}));
		assert_eq!(out.ended("b"), None);
		assert!(out.ended("a").is_some());
	}

	fn inbound() -> Inbound {
		Inbound::new(InboundPolicy {
			grant: Grant::new(Path::new("anon").unwrap(), vec![Path::new("room").unwrap()], vec![]),
			max_path: 64,
			max_broadcasts: 2,
		})
	}

	fn publish(id: u64, parts: &[&str]) -> PublishNamespace {
		PublishNamespace {
			request_id: v(id),
			namespace: ns(parts),
			parameters: Parameters::default(),
		}
	}

	/// A request token that lets the peer publish a path outside the session's grant allows it,
	/// and is named with the publication (it bounds its life); one that allows only subscribing,
	/// or another path, does not; the session's own grant needs no token.
	#[test]
	fn inbound_publishes_what_a_request_token_allows() {
		let mut inbound = inbound();
		let root = Path::new("anon").unwrap();
		let stage = Grant::new(root.clone(), vec![Path::new("stage").unwrap()], vec![]);
		let watch = Grant::new(root.clone(), vec![], vec![Path::new("stage").unwrap()]);
		let (answer, action) = inbound.publish(&publish(0, &["stage", "cam"]), std::slice::from_ref(&watch));
		assert!(matches!(answer, ControlMessage::PublishNamespaceError(e) if e.code == v(1)));
		assert_eq!(action, Some(InboundAction::Denied(Path::new("stage/cam").unwrap())));
		let (answer, action) = inbound.publish(&publish(2, &["stage", "cam"]), &[watch, stage.clone()]);
		assert_eq!(answer, ControlMessage::PublishNamespaceOk(v(2)));
		assert_eq!(
			action,
			Some(InboundAction::Publish(
				Path::new("stage/cam").unwrap(),
				Some(stage.clone())
			))
		);
		let (_, action) = inbound.publish(&publish(4, &["room", "cam"]), std::slice::from_ref(&stage));
		assert_eq!(
			action,
			Some(InboundAction::Publish(Path::new("room/cam").unwrap(), None))
		);
		// The publisher renews with a fresh token before the first expires: the new request holds
		// the broadcast, with its token.
		let (_, action) = inbound.publish(&publish(6, &["stage", "cam"]), std::slice::from_ref(&stage));
		assert_eq!(
			action,
			Some(InboundAction::Renewed(Path::new("stage/cam").unwrap(), Some(stage)))
		);
		assert_eq!(inbound.done_request(v(2)), None);
		assert_eq!(
			inbound.done_request(v(6)),
			Some(InboundAction::Withdraw(Path::new("stage/cam").unwrap()))
		);
	}

	#[test]
	fn inbound_publishes_within_the_grant() {
		let mut inbound = inbound();
		let (answer, action) = inbound.publish(&publish(0, &["room", "cam"]), &[]);
		assert_eq!(answer, ControlMessage::PublishNamespaceOk(v(0)));
		assert_eq!(
			action,
			Some(InboundAction::Publish(Path::new("room/cam").unwrap(), None))
		);
		// Again: answered, and request 2 holds it now: request 0's end withdraws nothing.
		assert_eq!(
			inbound.publish(&publish(2, &["room", "cam"]), &[]).1,
			Some(InboundAction::Renewed(Path::new("room/cam").unwrap(), None))
		);
		assert_eq!(inbound.done_request(v(0)), None);
		// Outside the grant: UNAUTHORIZED (0x1), and the path for the audit trail.
		let (answer, action) = inbound.publish(&publish(4, &["other"]), &[]);
		assert!(matches!(answer, ControlMessage::PublishNamespaceError(e) if e.code == v(1) && e.request_id == v(4)));
		assert_eq!(action, Some(InboundAction::Denied(Path::new("other").unwrap())));
		// A namespace element that is a `..` segment is no path at all.
		assert!(inbound.publish(&publish(6, &["room", ".."]), &[]).1.is_none());
		// The session's broadcast limit.
		assert!(inbound.publish(&publish(8, &["room", "b"]), &[]).1.is_some());
		let (answer, _) = inbound.publish(&publish(10, &["room", "c"]), &[]);
		assert!(matches!(answer, ControlMessage::PublishNamespaceError(e) if e.reason == "too_many_broadcasts"));
		// DONE withdraws what was published, once.
		assert_eq!(
			inbound.done(&ns(&["room", "cam"])),
			Some(InboundAction::Withdraw(Path::new("room/cam").unwrap()))
		);
		assert_eq!(inbound.done(&ns(&["room", "cam"])), None);
		// Draft-16's DONE names the PUBLISH_NAMESPACE's Request ID: "room/b" was request 8.
		assert_eq!(inbound.done_request(v(10)), None);
		assert_eq!(
			inbound.done_request(v(8)),
			Some(InboundAction::Withdraw(Path::new("room/b").unwrap()))
		);
		assert_eq!(inbound.done_request(v(8)), None);
	}
}
