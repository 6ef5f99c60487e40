//! The one thing the session consults: what a session may publish and subscribe, and until when.

use moq_token::Path;

/// What one session may do, relative to its connection path (its root).
///
/// Built only by [`super::Auth::authorize`] (and [`Grant::peer`] for the cluster links this relay
/// dials itself), so a session cannot hold a grant nobody decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
	root: Path,
	publish: Vec<Path>,
	subscribe: Vec<Path>,
	expires: Option<u64>,
	cluster: bool,
	subject: Option<String>,
	/// The token's `jti`, for the revocation list.
	token_id: Option<String>,
	/// The key that verified the token: its `kid` and RFC 7638 thumbprint, so a session ends when
	/// that key is removed or replaced.
	key: Option<(Option<String>, String)>,
}

impl Grant {
	pub(crate) fn new(root: Path, publish: Vec<Path>, subscribe: Vec<Path>) -> Self {
		Self {
			root,
			publish,
			subscribe,
			expires: None,
			cluster: false,
			subject: None,
			token_id: None,
			key: None,
		}
	}

	/// The grant of a relay this relay dialed as a cluster peer (`docs/cluster.md`): it "may see and
	/// carry everything the cluster has", and its hop lists are trusted.
	pub(crate) fn peer() -> Self {
		Self::new(Path::default(), vec![Path::default()], vec![Path::default()])
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

	/// Prefixes (relative to the root) the session may publish below.
	pub fn publish(&self) -> &[Path] {
		&self.publish
	}

	/// Prefixes (relative to the root) the session may subscribe below.
	pub fn subscribe(&self) -> &[Path] {
		&self.subscribe
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
		self.publish.iter().any(|p| path.has_prefix(p))
	}

	/// Whether the session may subscribe to the broadcast at `path` (relative).
	pub fn can_subscribe(&self, path: &Path) -> bool {
		self.subscribe.iter().any(|p| path.has_prefix(p))
	}

	/// Whether anything below `prefix` (relative) may be subscribed to: the prefix is inside a
	/// subscribe prefix, or contains one.
	pub fn may_watch(&self, prefix: &Path) -> bool {
		self.subscribe
			.iter()
			.any(|p| prefix.has_prefix(p) || p.has_prefix(prefix))
	}

	/// The absolute path of a relative one.
	pub fn absolute(&self, path: &Path) -> Path {
		self.root.join(path)
	}
}
