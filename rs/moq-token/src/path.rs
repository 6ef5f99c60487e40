//! Normalized broadcast paths and segment-wise prefix matching (docs/tokens.md#paths).

use crate::{Error, Result};
use std::fmt;

/// A normalized path: `/`-separated segments with no empty segments, so no leading, trailing or
/// doubled slashes. The empty path is the top. A `.` or `..` segment can never be represented:
/// paths are names, not file-system paths, and must never escape a root.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path(String);

impl Path {
	/// The top path (`""`).
	pub const fn root() -> Self {
		Self(String::new())
	}

	/// Normalize and validate a path.
	///
	/// Empty segments are dropped (`"//a///b/"` is `a/b`), `"/"` and `""` are the top, and a
	/// segment of `.` or `..` is an [`Error::InvalidPath`].
	pub fn new(path: &str) -> Result<Self> {
		let mut out = String::with_capacity(path.len());
		for segment in path.split('/').filter(|s| !s.is_empty()) {
			if segment == "." || segment == ".." {
				return Err(Error::InvalidPath {
					path: path.to_string(),
					reason: "`.` and `..` segments are not allowed",
				});
			}
			if !out.is_empty() {
				out.push('/');
			}
			out.push_str(segment);
		}
		Ok(Self(out))
	}

	/// The normalized string, without leading or trailing `/`.
	pub fn as_str(&self) -> &str {
		&self.0
	}

	/// Whether this is the top path.
	pub fn is_root(&self) -> bool {
		self.0.is_empty()
	}

	/// The segments, none of them empty.
	pub fn segments(&self) -> impl Iterator<Item = &str> {
		self.0.split('/').filter(|s| !s.is_empty())
	}

	/// Join with an implicit `/` between non-empty parts.
	pub fn join(&self, other: &Path) -> Path {
		match (self.is_root(), other.is_root()) {
			(true, _) => other.clone(),
			(_, true) => self.clone(),
			_ => Path(format!("{}/{}", self.0, other.0)),
		}
	}

	/// Whether `prefix` covers this path by whole segments: `alice` covers `alice` and
	/// `alice/cam`, never `alicex`. The top covers everything.
	pub fn has_prefix(&self, prefix: &Path) -> bool {
		self.strip_prefix(prefix).is_some()
	}

	/// The rest of this path below `prefix`, or `None` when `prefix` does not cover it.
	pub fn strip_prefix(&self, prefix: &Path) -> Option<Path> {
		if prefix.is_root() {
			return Some(self.clone());
		}
		let rest = self.0.strip_prefix(prefix.as_str())?;
		if rest.is_empty() {
			Some(Path::root())
		} else {
			rest.strip_prefix('/').map(|r| Path(r.to_string()))
		}
	}
}

impl fmt::Display for Path {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(&self.0)
	}
}

impl fmt::Debug for Path {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		write!(f, "{:?}", self.0)
	}
}

impl std::str::FromStr for Path {
	type Err = Error;
	fn from_str(s: &str) -> Result<Self> {
		Self::new(s)
	}
}

impl serde::Serialize for Path {
	fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
		s.serialize_str(&self.0)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn p(s: &str) -> Path {
		Path::new(s).unwrap()
	}

	#[test]
	fn normalizes() {
		assert_eq!(p("").as_str(), "");
		assert_eq!(p("/").as_str(), "");
		assert_eq!(p("//foo///bar//").as_str(), "foo/bar");
		assert_eq!(p("room/123").as_str(), "room/123");
		assert!(p("///").is_root());
	}

	#[test]
	fn rejects_dot_segments() {
		for bad in ["..", ".", "../secret", "a/../b", "a/./b", "/a/..", "room/123/.."] {
			let err = Path::new(bad).unwrap_err();
			assert_eq!(err.code(), crate::ErrorCode::InvalidPath, "{bad}");
		}
		// Dots inside a segment are names, not traversal.
		assert_eq!(p("a..b/.c/d.").as_str(), "a..b/.c/d.");
	}

	#[test]
	fn prefix_by_whole_segments() {
		assert!(p("alice").has_prefix(&p("alice")));
		assert!(p("alice/cam").has_prefix(&p("alice")));
		assert!(!p("alicex").has_prefix(&p("alice")));
		assert!(!p("alice").has_prefix(&p("alice/cam")));
		assert!(p("anything").has_prefix(&Path::root()));
		assert!(Path::root().has_prefix(&Path::root()));
		assert!(!Path::root().has_prefix(&p("a")));
		assert_eq!(p("room/123/alice").strip_prefix(&p("room/123")), Some(p("alice")));
		assert_eq!(p("room/123").strip_prefix(&p("room/123")), Some(Path::root()));
		assert_eq!(p("room/1234").strip_prefix(&p("room/123")), None);
	}

	#[test]
	fn joins_with_implicit_slash() {
		assert_eq!(p("a").join(&p("b/c")), p("a/b/c"));
		assert_eq!(Path::root().join(&p("b")), p("b"));
		assert_eq!(p("a").join(&Path::root()), p("a"));
		assert_eq!(Path::root().join(&Path::root()), Path::root());
	}
}
