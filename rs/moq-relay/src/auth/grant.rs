//! The one thing the session consults: what a session may publish and subscribe, and until when.

use std::sync::Arc;

use moq_token::{Path, Pattern, Patterns};

use super::AuthError;
use super::auth_url::Lease;

/// What one session may do, relative to its connection path (its root): pattern unions with
/// upstream's matching rules (`docs/tokens.md#patterns`); a prefix grant `p` is the pattern `p/**`.
///
/// Built only by [`super::Auth::authorize`] (and [`Grant::peer`] for the cluster links this relay
/// dials itself), so a session cannot hold a grant nobody decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
	root: Path,
	publish: Patterns,
	subscribe: Patterns,
	expires: Option<u64>,
	cluster: bool,
	subject: Option<String>,
	/// The token's `jti`, for the revocation list.
	token_id: Option<String>,
	/// The key that verified the token: its `kid` and RFC 7638 thumbprint, so a session ends when
	/// that key is removed or replaced.
	key: Option<(Option<String>, String)>,
	/// The live lease of a grant from `[auth] url`: re-checked while the session runs.
	lease: Option<LeaseRef>,
}

/// A lease shared by the clones of one grant (equal only to itself).
#[derive(Clone, Debug)]
struct LeaseRef(Arc<Lease>);

impl PartialEq for LeaseRef {
	fn eq(&self, other: &Self) -> bool {
		Arc::ptr_eq(&self.0, &other.0)
	}
}

impl Eq for LeaseRef {}

impl Grant {
	/// A grant at `root` of these patterns, relative to it. A `Vec<Path>` of prefixes converts
	/// into their subtrees.
	pub(crate) fn new(root: Path, publish: impl Into<Patterns>, subscribe: impl Into<Patterns>) -> Self {
		Self {
			root,
			publish: publish.into(),
			subscribe: subscribe.into(),
			expires: None,
			cluster: false,
			subject: None,
			token_id: None,
			key: None,
			lease: None,
		}
	}

	/// The grant of a relay this relay dialed as a cluster peer (`docs/cluster.md`): it "may see and
	/// carry everything the cluster has", and its hop lists are trusted.
	pub(crate) fn peer() -> Self {
		Self::new(Path::default(), Patterns::all(), Patterns::all())
			.with_cluster(true)
			.with_subject(Some("cluster-link".into()))
	}

	pub(crate) fn with_expires(mut self, expires: Option<u64>) -> Self {
		self.expires = expires;
		self
	}

	pub(crate) fn with_cluster(mut self, cluster: bool) -> Self {
		self.cluster = cluster;
		self
	}

	pub(crate) fn with_subject(mut self, subject: Option<String>) -> Self {
		self.subject = subject;
		self
	}

	pub(crate) fn with_token(mut self, token_id: Option<String>, kid: Option<String>, thumbprint: String) -> Self {
		self.token_id = token_id;
		self.key = Some((kid, thumbprint));
		self
	}

	pub(crate) fn with_lease(mut self, lease: Lease) -> Self {
		self.lease = Some(LeaseRef(Arc::new(lease)));
		self
	}

	/// Why a grant from `[auth] url` no longer holds while its session runs: the server refused or
	/// narrowed it on a re-check, or its `expires` passed.
	pub fn live_refusal(&self) -> Option<AuthError> {
		self.lease.as_ref().and_then(|lease| lease.0.refusal())
	}

	/// Where a grant from `[auth] url` reads its session's byte totals (for `end` and the operator
	/// endpoint); other grants keep nothing.
	pub(crate) fn meter<S: crate::transport::Session>(&self, transport: &S) {
		if let Some(lease) = &self.lease {
			let transport = transport.clone();
			lease.0.meter(move || transport.totals());
		}
	}

	/// The id the auth server of `[auth] url` knows this session by.
	pub fn lease_id(&self) -> Option<&str> {
		self.lease.as_ref().map(|lease| lease.0.id())
	}

	/// The token's `jti`, if it had one (it may be on the revocation list).
	pub fn token_id(&self) -> Option<&str> {
		self.token_id.as_deref()
	}

	/// The `kid` (if any) and thumbprint of the key that verified the token.
	pub fn key(&self) -> Option<(Option<&str>, &str)> {
		self.key
			.as_ref()
			.map(|(kid, thumbprint)| (kid.as_deref(), thumbprint.as_str()))
	}

	/// The connection path: every path the session names is relative to it.
	pub fn root(&self) -> &Path {
		&self.root
	}

	/// Patterns (relative to the root) the session may publish.
	pub fn publish(&self) -> &Patterns {
		&self.publish
	}

	/// Patterns (relative to the root) the session may subscribe to.
	pub fn subscribe(&self) -> &Patterns {
		&self.subscribe
	}

	/// Whether every path of `pattern` (relative) may be published: one publish pattern contains
	/// it. How a grant checks what it hands on (a prefix `p` is `Pattern::subtree(p)`).
	pub fn publish_covers(&self, pattern: &Pattern) -> bool {
		self.publish.contains(pattern)
	}

	/// Whether every path of `pattern` (relative) may be subscribed to.
	pub fn subscribe_covers(&self, pattern: &Pattern) -> bool {
		self.subscribe.contains(pattern)
	}

	/// Whether `other` grants nothing this grant does not, role by role (each of its patterns is
	/// contained by one of ours). A revalidation whose answer is not covered widened the grant.
	pub fn covers(&self, other: &Grant) -> bool {
		self.root == other.root && self.publish.covers(&other.publish) && self.subscribe.covers(&other.subscribe)
	}

	/// When the grant ends (unix seconds): the session is closed then with `token_expired`.
	pub fn expires(&self) -> Option<u64> {
		self.expires
	}

	/// Whether the bearer is a relay of this cluster.
	pub fn cluster(&self) -> bool {
		self.cluster
	}

	/// Who this is for logs and metrics (`kid:primary`, `anonymous`); never a secret.
	pub fn subject(&self) -> Option<&str> {
		self.subject.as_deref()
	}

	/// Whether the session may publish the broadcast at `path` (relative).
	pub fn can_publish(&self, path: &Path) -> bool {
		self.publish.matches(path)
	}

	/// Whether the session may subscribe to the broadcast at `path` (relative).
	pub fn can_subscribe(&self, path: &Path) -> bool {
		self.subscribe.matches(path)
	}

	/// Whether anything at or below `prefix` (relative) may be subscribed to: a subscribe pattern
	/// overlaps the subtree `prefix/**`.
	pub fn may_watch(&self, prefix: &Path) -> bool {
		match Pattern::subtree(prefix) {
			Ok(subtree) => self.subscribe.overlaps(&subtree),
			// A prefix with a `*` in a segment: only a pattern matching such a path could see it.
			Err(_) => false,
		}
	}

	/// The absolute path of a relative one.
	pub fn absolute(&self, path: &Path) -> Path {
		self.root.join(path)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn p(s: &str) -> Path {
		Path::new(s).unwrap()
	}

	fn patterns(list: &[&str]) -> Patterns {
		list.iter().map(|s| s.parse::<Pattern>().unwrap()).collect()
	}

	#[test]
	fn patterns_decide_exactly() {
		let grant = Grant::new(p("room"), patterns(&["alice/**"]), patterns(&["*/screen", "news"]));
		assert!(grant.can_publish(&p("alice")) && grant.can_publish(&p("alice/cam")));
		assert!(!grant.can_publish(&p("alicex")) && !grant.can_publish(&p("bob")));
		assert!(grant.can_subscribe(&p("bob/screen")) && grant.can_subscribe(&p("news")));
		assert!(!grant.can_subscribe(&p("bob/screen/x")) && !grant.can_subscribe(&p("news/x")));
		// Watching: a prefix inside or around a subscribe pattern.
		assert!(grant.may_watch(&Path::root()) && grant.may_watch(&p("bob")) && grant.may_watch(&p("bob/screen")));
		assert!(!grant.may_watch(&p("bob/cam")) && !grant.may_watch(&p("news/x")));
		// Prefixes are subtrees.
		let prefixes = Grant::new(p("room"), vec![p("alice")], Vec::<Path>::new());
		assert_eq!(prefixes.publish(), &patterns(&["alice/**"]));
		assert!(!prefixes.may_watch(&Path::root()) && prefixes.subscribe().is_empty());
	}

	#[test]
	fn covers_is_per_role_containment() {
		let wide = Grant::new(p("room"), patterns(&["**"]), patterns(&["a/**"]));
		let narrow = Grant::new(p("room"), patterns(&["x"]), patterns(&["a/*"]));
		assert!(wide.covers(&narrow) && !narrow.covers(&wide));
		assert!(!wide.covers(&Grant::new(p("other"), patterns(&["x"]), Patterns::new())));
	}
}
