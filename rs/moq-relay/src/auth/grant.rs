//! The one thing the session consults: what a session may publish and subscribe.

use moq_token::Path;

/// What one session may do, relative to its connection path (its root).
///
/// Built only by [`super::Auth::authorize`] (and later verifiers in this
/// module), so a session cannot hold a grant nobody decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
	root: Path,
	publish: Vec<Path>,
	subscribe: Vec<Path>,
}

impl Grant {
	pub(crate) fn new(root: Path, publish: Vec<Path>, subscribe: Vec<Path>) -> Self {
		Self {
			root,
			publish,
			subscribe,
		}
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

	/// Whether the session may publish the broadcast at `path` (relative).
	pub fn can_publish(&self, path: &Path) -> bool {
		self.publish.iter().any(|p| path.has_prefix(p))
	}

	/// Whether the session may subscribe to the broadcast at `path` (relative).
	pub fn can_subscribe(&self, path: &Path) -> bool {
		self.subscribe.iter().any(|p| path.has_prefix(p))
	}

	/// Whether anything below `prefix` (relative) may be subscribed to: the
	/// prefix is inside a subscribe prefix, or contains one.
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
