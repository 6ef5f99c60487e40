//! Path patterns: the grants of upstream's pattern tokens (docs/tokens.md#patterns).
//!
//! A pattern is `/`-separated segments, each a literal, `*` (one whole segment), `pre*suf` (one
//! segment starting with `pre` and ending with `suf`, the two not overlapping) or `**` (any run of
//! zero or more segments, at most once). Patterns are exact: `alice` is the one broadcast `alice`,
//! `alice/**` is it and everything below, `**` is everything. The rules are the published
//! `moq-pattern` crate's, checked against it by a shared vector file (`vectors/pattern/`).

use crate::Path;
use std::{cmp::Ordering, fmt, str::FromStr};

/// Why a text is not a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidPattern {
	/// A leading, trailing or doubled `/`.
	EmptySegment,
	/// More than one `*` in a segment, or a `*`/`/` where a literal is required.
	InvalidSegment(String),
	/// More than one `**`.
	MultipleGlobstars,
	/// More than [`Pattern::MAX_SEGMENTS`] segments.
	TooManySegments,
}

impl InvalidPattern {
	/// A stable name for the fault (`empty-segment`, ...), as in the pattern vectors.
	pub fn kind(&self) -> &'static str {
		match self {
			Self::EmptySegment => "empty-segment",
			Self::InvalidSegment(_) => "invalid-segment",
			Self::MultipleGlobstars => "multiple-globstars",
			Self::TooManySegments => "too-many-segments",
		}
	}
}

impl fmt::Display for InvalidPattern {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Self::EmptySegment => f.write_str("empty segment (a leading, trailing or doubled '/')"),
			Self::InvalidSegment(s) => write!(f, "invalid segment {s:?}"),
			Self::MultipleGlobstars => f.write_str("more than one '**'"),
			Self::TooManySegments => write!(f, "more than {} segments", Pattern::MAX_SEGMENTS),
		}
	}
}

impl std::error::Error for InvalidPattern {}

/// One segment of a [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
	/// Exactly this segment (never empty, no `*` or `/`).
	Literal(String),
	/// `*`: any one segment.
	Wildcard,
	/// `prefix*suffix`: one segment with this start and end, not overlapping; not both empty.
	Partial {
		/// What the segment starts with.
		prefix: String,
		/// What the segment ends with.
		suffix: String,
	},
	/// `**`: any run of zero or more segments.
	Globstar,
}

impl Segment {
	fn parse(text: &str) -> Result<Self, InvalidPattern> {
		match text {
			"" => Err(InvalidPattern::EmptySegment),
			"*" => Ok(Self::Wildcard),
			"**" => Ok(Self::Globstar),
			_ => match text.find('*') {
				None => Ok(Self::Literal(text.to_string())),
				Some(star) if !text[star + 1..].contains('*') => Ok(Self::Partial {
					prefix: text[..star].to_string(),
					suffix: text[star + 1..].to_string(),
				}),
				Some(_) => Err(InvalidPattern::InvalidSegment(text.to_string())),
			},
		}
	}

	/// Whether this segment matches the one path segment `part`.
	fn matches(&self, part: &str) -> bool {
		match self {
			Self::Literal(l) => l == part,
			Self::Wildcard => true,
			Self::Partial { prefix, suffix } => {
				part.len() >= prefix.len() + suffix.len()
					&& part.starts_with(prefix.as_str())
					&& part.ends_with(suffix.as_str())
			}
			Self::Globstar => false,
		}
	}

	/// Whether every segment `other` matches, this one matches (neither is `**`).
	fn covers(&self, other: &Self) -> bool {
		match (self, other) {
			(Self::Wildcard, Self::Globstar) | (_, Self::Globstar) | (Self::Globstar, _) => false,
			(Self::Wildcard, _) => true,
			(Self::Literal(a), Self::Literal(b)) => a == b,
			(Self::Partial { .. }, Self::Literal(l)) => self.matches(l),
			(Self::Partial { prefix, suffix }, Self::Partial { prefix: p, suffix: s }) => {
				p.starts_with(prefix.as_str()) && s.ends_with(suffix.as_str())
			}
			_ => false,
		}
	}

	/// Whether some path segment matches both (neither is `**`).
	fn compatible(&self, other: &Self) -> bool {
		match (self, other) {
			(Self::Partial { prefix, suffix }, Self::Partial { prefix: p, suffix: s }) => {
				(prefix.starts_with(p.as_str()) || p.starts_with(prefix.as_str()))
					&& (suffix.ends_with(s.as_str()) || s.ends_with(suffix.as_str()))
			}
			_ => self.covers(other) || other.covers(self),
		}
	}
}

impl fmt::Display for Segment {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Self::Literal(l) => f.write_str(l),
			Self::Wildcard => f.write_str("*"),
			Self::Partial { prefix, suffix } => write!(f, "{prefix}*{suffix}"),
			Self::Globstar => f.write_str("**"),
		}
	}
}

/// A pattern over broadcast paths (see the module docs). Its text is canonical: two patterns
/// match the same paths exactly when their texts are equal. Ordered by text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
	text: String,
	segments: Vec<Segment>,
	globstar: Option<usize>,
}

impl Pattern {
	/// The most segments a pattern may have.
	pub const MAX_SEGMENTS: usize = 32;

	/// A pattern of these segments: validated, with `**` moved before adjacent `*` segments
	/// (`*/**` and `**/*` match the same paths; the second is canonical).
	pub fn new(segments: impl IntoIterator<Item = Segment>) -> Result<Self, InvalidPattern> {
		let mut segments: Vec<Segment> = segments.into_iter().collect();
		if segments.len() > Self::MAX_SEGMENTS {
			return Err(InvalidPattern::TooManySegments);
		}
		let mut globstar = None;
		for (i, segment) in segments.iter().enumerate() {
			match segment {
				Segment::Literal(l) if l.is_empty() => return Err(InvalidPattern::EmptySegment),
				Segment::Literal(l) if l.contains(['*', '/']) => return Err(InvalidPattern::InvalidSegment(l.clone())),
				Segment::Partial { prefix, suffix }
					if (prefix.is_empty() && suffix.is_empty())
						|| prefix.contains(['*', '/'])
						|| suffix.contains(['*', '/']) =>
				{
					return Err(InvalidPattern::InvalidSegment(segment.to_string()));
				}
				Segment::Globstar if globstar.is_some() => return Err(InvalidPattern::MultipleGlobstars),
				Segment::Globstar => globstar = Some(i),
				_ => {}
			}
		}
		if let Some(mut at) = globstar {
			while at > 0 && segments[at - 1] == Segment::Wildcard {
				segments.swap(at - 1, at);
				at -= 1;
			}
			globstar = Some(at);
		}
		let text = segments.iter().map(Segment::to_string).collect::<Vec<_>>().join("/");
		Ok(Self {
			text,
			segments,
			globstar,
		})
	}

	/// `**`: every path.
	pub fn all() -> Self {
		Self::new([Segment::Globstar]).expect("** is a pattern")
	}

	/// Exactly `path`; refused when a segment holds a `*`.
	pub fn literal(path: &Path) -> Result<Self, InvalidPattern> {
		Self::new(path.segments().map(|s| Segment::Literal(s.to_string())))
	}

	/// `path` and everything below it (`path/**`; the top path gives `**`). A path of
	/// [`Self::MAX_SEGMENTS`] segments is its own subtree. Refused when a segment holds a `*`.
	pub fn subtree(path: &Path) -> Result<Self, InvalidPattern> {
		let mut segments: Vec<Segment> = path.segments().map(|s| Segment::Literal(s.to_string())).collect();
		if segments.len() < Self::MAX_SEGMENTS {
			segments.push(Segment::Globstar);
		}
		Self::new(segments)
	}

	/// The canonical text.
	pub fn as_str(&self) -> &str {
		&self.text
	}

	/// The segments.
	pub fn segments(&self) -> &[Segment] {
		&self.segments
	}

	/// Whether the pattern has no wildcard (it names one path).
	pub fn is_literal(&self) -> bool {
		self.segments.iter().all(|s| matches!(s, Segment::Literal(_)))
	}

	/// Whether it holds a `**`.
	pub fn has_globstar(&self) -> bool {
		self.globstar.is_some()
	}

	/// The prefix this pattern is the subtree of (`a/b/**` is `a/b`, `**` the top), or `None`
	/// when it is not a subtree: what the legacy `put`/`get` claims can say.
	pub fn as_prefix(&self) -> Option<Path> {
		match self.segments.split_last() {
			Some((Segment::Globstar, head)) if head.iter().all(|s| matches!(s, Segment::Literal(_))) => {
				Path::new(&self.text[..self.text.len() - 2]).ok()
			}
			_ => None,
		}
	}

	fn split(&self) -> (&[Segment], &[Segment]) {
		match self.globstar {
			Some(at) => (&self.segments[..at], &self.segments[at + 1..]),
			None => (&self.segments, &[]),
		}
	}

	/// Whether `path` is one of the paths this pattern describes.
	pub fn matches(&self, path: &Path) -> bool {
		let parts: Vec<&str> = path.segments().collect();
		self.matches_parts(&parts)
	}

	fn matches_parts(&self, parts: &[&str]) -> bool {
		let run = |segments: &[Segment], parts: &[&str]| segments.iter().zip(parts).all(|(s, p)| s.matches(p));
		match self.globstar {
			None => parts.len() == self.segments.len() && run(&self.segments, parts),
			Some(_) => {
				let (head, tail) = self.split();
				parts.len() >= head.len() + tail.len()
					&& run(head, parts)
					&& run(tail, &parts[parts.len() - tail.len()..])
			}
		}
	}

	/// Whether every path `other` matches, this one matches too (the authorization check).
	pub fn contains(&self, other: &Self) -> bool {
		let covers = |a: &[Segment], b: &[Segment]| a.iter().zip(b).all(|(a, b)| a.covers(b));
		match (self.globstar, other.globstar) {
			(None, None) => self.segments.len() == other.segments.len() && covers(&self.segments, &other.segments),
			(None, Some(_)) => false,
			(Some(_), None) => {
				let (head, tail) = self.split();
				let n = other.segments.len();
				n >= head.len() + tail.len()
					&& covers(head, &other.segments)
					&& covers(tail, &other.segments[n - tail.len()..])
			}
			(Some(_), Some(_)) => {
				let (head, tail) = self.split();
				let (oh, ot) = other.split();
				// Where the other's `**` may stand, only our `*` matches whatever it becomes.
				let front = head.iter().enumerate().all(|(i, a)| match oh.get(i) {
					Some(b) => a.covers(b),
					None => *a == Segment::Wildcard,
				});
				let back = tail
					.iter()
					.rev()
					.enumerate()
					.all(|(i, a)| match ot.len().checked_sub(i + 1) {
						Some(j) => a.covers(&ot[j]),
						None => *a == Segment::Wildcard,
					});
				head.len() + tail.len() <= oh.len() + ot.len() && front && back
			}
		}
	}

	/// Whether some path matches both.
	pub fn overlaps(&self, other: &Self) -> bool {
		let front = |a: &[Segment], b: &[Segment]| a.iter().zip(b).all(|(a, b)| a.compatible(b));
		let back = |a: &[Segment], b: &[Segment]| a.iter().rev().zip(b.iter().rev()).all(|(a, b)| a.compatible(b));
		match (self.globstar, other.globstar) {
			(None, None) => self.segments.len() == other.segments.len() && front(&self.segments, &other.segments),
			(None, Some(_)) => other.overlaps(self),
			(Some(_), None) => {
				let (head, tail) = self.split();
				other.segments.len() >= head.len() + tail.len()
					&& front(head, &other.segments)
					&& back(tail, &other.segments)
			}
			(Some(_), Some(_)) => {
				let (head, tail) = self.split();
				let (oh, ot) = other.split();
				front(head, oh) && back(tail, ot)
			}
		}
	}

	/// The patterns that, relative to `root`, match exactly the paths this one matches below
	/// `root` (a set: `**/a` at `a` is both `` and `**/a`). Empty when nothing below matches.
	pub fn rebase(&self, root: &Path) -> Patterns {
		let root: Vec<&str> = root.segments().collect();
		let run = |segments: &[Segment], parts: &[&str]| segments.iter().zip(parts).all(|(s, p)| s.matches(p));
		let build = |segments: &[Segment]| Self::new(segments.to_vec()).expect("a shorter valid pattern is valid");
		let mut out = Patterns::new();
		match self.globstar {
			None => {
				if root.len() <= self.segments.len() && run(&self.segments, &root) {
					out.insert(build(&self.segments[root.len()..]));
				}
			}
			Some(at) => {
				let (head, tail) = self.split();
				if root.len() <= head.len() {
					if run(head, &root) {
						out.insert(build(&self.segments[root.len()..]));
					}
					return out;
				}
				if !run(head, &root) {
					return out;
				}
				// The `**` either stays open past the root, or ended inside it and part of the
				// tail already matched the root's last segments.
				let rest = &root[head.len()..];
				out.insert(build(&self.segments[at..]));
				for used in 1..=tail.len().min(rest.len()) {
					if run(&tail[..used], &rest[rest.len() - used..]) {
						out.insert(build(&tail[used..]));
					}
				}
			}
		}
		out
	}

	/// This pattern below the literal `root`: the same paths named from the root's parent.
	pub fn rooted(&self, root: &Path) -> Result<Self, InvalidPattern> {
		Self::new(
			root.segments()
				.map(|s| Segment::Literal(s.to_string()))
				.chain(self.segments.iter().cloned()),
		)
	}
}

impl FromStr for Pattern {
	type Err = InvalidPattern;

	/// Parse a pattern's text. Unlike a path, nothing is normalized: a leading, trailing or
	/// doubled `/` is refused, so a typo cannot widen a grant. `""` is the empty pattern.
	fn from_str(text: &str) -> Result<Self, InvalidPattern> {
		if text.is_empty() {
			return Self::new([]);
		}
		text.split('/')
			.map(Segment::parse)
			.collect::<Result<Vec<_>, _>>()
			.and_then(Self::new)
	}
}

impl Default for Pattern {
	/// The empty pattern: only the path it is relative to.
	fn default() -> Self {
		Self::new([]).expect("the empty pattern is valid")
	}
}

impl fmt::Display for Pattern {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(&self.text)
	}
}

impl fmt::Debug for Pattern {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		write!(f, "{:?}", self.text)
	}
}

impl PartialOrd for Pattern {
	fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
		Some(self.cmp(other))
	}
}

impl Ord for Pattern {
	fn cmp(&self, other: &Self) -> Ordering {
		self.text.cmp(&other.text)
	}
}

impl serde::Serialize for Pattern {
	fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
		s.serialize_str(&self.text)
	}
}

/// A union of patterns, reduced so that no member contains another and kept in text order, so
/// two unions of the same reduced set are equal. An empty union grants nothing.
///
/// Containment is per member: a candidate is contained when one member contains it, never when
/// several members only cover it together.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Patterns(Vec<Pattern>);

impl Patterns {
	/// The empty union.
	pub fn new() -> Self {
		Self::default()
	}

	/// `**` alone: everything.
	pub fn all() -> Self {
		Self(vec![Pattern::all()])
	}

	/// The subtrees of these prefixes (the meaning of legacy `put`/`get` and of this project's
	/// `pub`/`sub` claims). Refused when a prefix holds a `*`.
	pub fn subtrees<'a>(prefixes: impl IntoIterator<Item = &'a Path>) -> Result<Self, InvalidPattern> {
		prefixes.into_iter().map(Pattern::subtree).collect()
	}

	/// Add a pattern, dropping the members it contains; `false` (and no change) when a member
	/// already contains it.
	pub fn insert(&mut self, pattern: Pattern) -> bool {
		if self.contains(&pattern) {
			return false;
		}
		self.0.retain(|member| !pattern.contains(member));
		let at = self.0.partition_point(|member| member < &pattern);
		self.0.insert(at, pattern);
		true
	}

	/// Whether a member matches `path`.
	pub fn matches(&self, path: &Path) -> bool {
		let parts: Vec<&str> = path.segments().collect();
		self.0.iter().any(|p| p.matches_parts(&parts))
	}

	/// Whether a member contains `pattern`.
	pub fn contains(&self, pattern: &Pattern) -> bool {
		self.0.iter().any(|member| member.contains(pattern))
	}

	/// Whether every member of `other` is contained by a member of this union.
	pub fn covers(&self, other: &Self) -> bool {
		other.0.iter().all(|p| self.contains(p))
	}

	/// Whether a member overlaps `pattern`.
	pub fn overlaps(&self, pattern: &Pattern) -> bool {
		self.0.iter().any(|member| member.overlaps(pattern))
	}

	/// Every member rebased at `root`, as one union.
	pub fn rebase(&self, root: &Path) -> Self {
		self.0.iter().flat_map(|p| p.rebase(root)).collect()
	}

	/// Every member placed below `root`.
	pub fn rooted(&self, root: &Path) -> Result<Self, InvalidPattern> {
		self.0.iter().map(|p| p.rooted(root)).collect()
	}

	/// The prefixes, when every member is a subtree (what `put`/`get` can say).
	pub fn as_prefixes(&self) -> Option<Vec<Path>> {
		self.0.iter().map(Pattern::as_prefix).collect()
	}

	/// The members, in canonical order.
	pub fn iter(&self) -> std::slice::Iter<'_, Pattern> {
		self.0.iter()
	}

	/// How many members.
	pub fn len(&self) -> usize {
		self.0.len()
	}

	/// Whether the union is empty (grants nothing).
	pub fn is_empty(&self) -> bool {
		self.0.is_empty()
	}
}

impl fmt::Debug for Patterns {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.debug_list().entries(&self.0).finish()
	}
}

impl fmt::Display for Patterns {
	/// The members joined with `,` (for logs; a member never holds a `,` that matters here).
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		for (i, p) in self.0.iter().enumerate() {
			if i > 0 {
				f.write_str(",")?;
			}
			f.write_str(p.as_str())?;
		}
		Ok(())
	}
}

impl serde::Serialize for Patterns {
	fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
		s.collect_seq(self.0.iter())
	}
}

impl FromIterator<Pattern> for Patterns {
	fn from_iter<I: IntoIterator<Item = Pattern>>(iter: I) -> Self {
		let mut out = Self::new();
		out.extend(iter);
		out
	}
}

impl Extend<Pattern> for Patterns {
	fn extend<I: IntoIterator<Item = Pattern>>(&mut self, iter: I) {
		for p in iter {
			self.insert(p);
		}
	}
}

impl From<Vec<Path>> for Patterns {
	/// The subtrees of these prefixes. A prefix with a `*` in a segment cannot be named by a
	/// pattern and is left out: it grants nothing, never something wider.
	fn from(prefixes: Vec<Path>) -> Self {
		prefixes.iter().filter_map(|p| Pattern::subtree(p).ok()).collect()
	}
}

impl From<Pattern> for Patterns {
	fn from(p: Pattern) -> Self {
		Self(vec![p])
	}
}

impl<'a> IntoIterator for &'a Patterns {
	type Item = &'a Pattern;
	type IntoIter = std::slice::Iter<'a, Pattern>;
	fn into_iter(self) -> Self::IntoIter {
		self.0.iter()
	}
}

impl IntoIterator for Patterns {
	type Item = Pattern;
	type IntoIter = std::vec::IntoIter<Pattern>;
	fn into_iter(self) -> Self::IntoIter {
		self.0.into_iter()
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn pat(s: &str) -> Pattern {
		s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
	}
	fn path(s: &str) -> Path {
		Path::new(s).unwrap()
	}

	#[test]
	fn canonical_text_and_errors() {
		assert_eq!(pat("a/*/**/b").as_str(), "a/**/*/b");
		assert_eq!("/a".parse::<Pattern>(), Err(InvalidPattern::EmptySegment));
		assert_eq!("**/**".parse::<Pattern>(), Err(InvalidPattern::MultipleGlobstars));
		assert_eq!("a*b*c".parse::<Pattern>().unwrap_err().kind(), "invalid-segment");
		assert_eq!(pat("alice/**").as_prefix(), Some(path("alice")));
		assert_eq!(Pattern::all().as_prefix(), Some(Path::root()));
		assert_eq!(pat("alice").as_prefix(), None);
	}

	#[test]
	fn matches_exactly() {
		assert!(pat("alice/**").matches(&path("alice")) && pat("alice/**").matches(&path("alice/cam")));
		assert!(!pat("alice").matches(&path("alice/cam")) && !pat("alice/**").matches(&path("alicex")));
		assert!(pat("*/screen").matches(&path("bob/screen")) && !pat("*/screen").matches(&path("a/b/screen")));
		assert!(pat("**/*.hang").matches(&path("x/cam.hang")) && !pat("a*a").matches(&path("a")));
	}

	#[test]
	fn union_reduces() {
		let set: Patterns = ["a/b", "a/*", "**/x"].iter().map(|s| pat(s)).collect();
		assert_eq!(set.iter().map(Pattern::as_str).collect::<Vec<_>>(), ["**/x", "a/*"]);
		assert_eq!(
			pat("**/a")
				.rebase(&path("a"))
				.iter()
				.map(Pattern::as_str)
				.collect::<Vec<_>>(),
			["", "**/a"]
		);
	}
}
