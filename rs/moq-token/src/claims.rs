//! The claims of a MoQ token (docs/tokens.md#claims): what they mean, how they are read and written.

use crate::{Error, Path, Pattern, Patterns, Result};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use std::{borrow::Cow, fmt};

/// The claims of a MoQ token.
///
/// `publish` and `subscribe` are pattern unions relative to `root` (docs/tokens.md#patterns): an
/// empty union grants nothing, `**` everything under `root`, `alice/**` the subtree `alice`, and
/// `alice` exactly the one broadcast. The prefix claims (`pub`/`sub`, upstream's `put`/`get`) are
/// read as subtrees: prefix `p` is `p/**`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claims {
	/// Base path of everything the token allows (`root`).
	pub root: Path,
	/// Publish patterns relative to `root` (`publish`, or the prefixes of `pub`/`put`).
	pub publish: Patterns,
	/// Subscribe patterns relative to `root` (`subscribe`, or the prefixes of `sub`/`get`).
	pub subscribe: Patterns,
	/// The bearer is a relay of this cluster (`cluster`).
	pub cluster: bool,
	/// Expiry, unix seconds (`exp`).
	pub expires: Option<u64>,
	/// Issued-at, unix seconds (`iat`); informational.
	pub issued: Option<u64>,
	/// Not-before, unix seconds (`nbf`); enforced.
	pub not_before: Option<u64>,
	/// Token id (`jti`), for revocation and single-use tokens.
	pub id: Option<String>,
	/// A prefix given to [`Claims::with_publish`]/[`Claims::with_subscribe`] that no pattern can
	/// name (a segment holding `*`): refused by [`Claims::validate`], so it is never signed.
	unrepresentable: Option<&'static str>,
}

/// How [`Claims`] are written into a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClaimsFormat {
	/// `pub`/`sub` as comma-joined prefixes (this project's format); subtree grants only.
	#[default]
	PubSub,
	/// `put`/`get` prefix arrays, read by every upstream verifier; subtree grants only.
	PutGet,
	/// Upstream's rule (moq-auth): `put`/`get` when every grant is a subtree, so every published
	/// verifier reads it, else `publish`/`subscribe` pattern arrays.
	Auto,
}

impl Claims {
	/// Claims rooted at `root`, granting nothing yet.
	pub fn new(root: Path) -> Self {
		Self {
			root,
			..Default::default()
		}
	}

	/// Grant publishing below a prefix (relative to the root): the pattern `prefix/**`.
	/// [`Path::root`] grants everything.
	pub fn with_publish(mut self, prefix: Path) -> Self {
		match Pattern::subtree(&prefix) {
			Ok(p) => {
				self.publish.insert(p);
			}
			Err(_) => self.unrepresentable = Some("pub"),
		}
		self
	}

	/// Grant subscribing below a prefix (relative to the root): the pattern `prefix/**`.
	/// [`Path::root`] grants everything.
	pub fn with_subscribe(mut self, prefix: Path) -> Self {
		match Pattern::subtree(&prefix) {
			Ok(p) => {
				self.subscribe.insert(p);
			}
			Err(_) => self.unrepresentable = Some("sub"),
		}
		self
	}

	/// Grant publishing the paths of a pattern (relative to the root).
	pub fn with_publish_pattern(mut self, pattern: Pattern) -> Self {
		self.publish.insert(pattern);
		self
	}

	/// Grant subscribing to the paths of a pattern (relative to the root).
	pub fn with_subscribe_pattern(mut self, pattern: Pattern) -> Self {
		self.subscribe.insert(pattern);
		self
	}

	/// Set the expiry (unix seconds).
	pub fn with_expires(mut self, exp: u64) -> Self {
		self.expires = Some(exp);
		self
	}

	/// Set the issued-at time (unix seconds).
	pub fn with_issued(mut self, iat: u64) -> Self {
		self.issued = Some(iat);
		self
	}

	/// Set the not-before time (unix seconds).
	pub fn with_not_before(mut self, nbf: u64) -> Self {
		self.not_before = Some(nbf);
		self
	}

	/// Mark the bearer as a relay of the cluster.
	pub fn with_cluster(mut self, cluster: bool) -> Self {
		self.cluster = cluster;
		self
	}

	/// A token that grants neither publish nor subscribe is useless, and refused.
	pub fn validate(&self) -> Result<()> {
		if let Some(claim) = self.unrepresentable {
			return Err(Error::claim(
				claim,
				"a prefix with a '*' in a segment cannot be a grant: name it with a pattern",
			));
		}
		if self.publish.is_empty() && self.subscribe.is_empty() {
			return Err(Error::UselessToken);
		}
		Ok(())
	}

	/// Whether the claims can be written in `format` and read back as the same grant.
	///
	/// The prefix formats carry subtrees only. `pub`/`sub` are comma-separated strings besides: a
	/// prefix holding a comma would be read back as two prefixes (a wider grant), and one with
	/// whitespace at either end is refused by the reader. Such claims are refused before signing
	/// rather than signed into a token that grants something else or never verifies.
	pub(crate) fn check_format(&self, format: ClaimsFormat) -> Result<()> {
		if format == ClaimsFormat::Auto {
			return Ok(());
		}
		let (names, hint) = match format {
			ClaimsFormat::PubSub => (["pub", "sub"], "sign in the auto format (publish/subscribe patterns)"),
			_ => (["put", "get"], "sign in the auto format (publish/subscribe patterns)"),
		};
		for (claim, patterns) in names.into_iter().zip([&self.publish, &self.subscribe]) {
			let Some(prefixes) = patterns.as_prefixes() else {
				return Err(Error::claim(
					claim,
					format!("a grant that is not a subtree (p/**) cannot be written as prefixes: {hint}"),
				));
			};
			if format == ClaimsFormat::PutGet || prefixes.iter().any(Path::is_root) {
				continue;
			}
			if prefixes
				.iter()
				.any(|p| p.as_str().contains(',') || p.as_str().trim() != p.as_str())
			{
				return Err(Error::claim(
					claim,
					"a prefix with a ',' or with whitespace at either end cannot be written in a \
					 comma-separated list: sign in the put/get format",
				));
			}
		}
		Ok(())
	}

	/// Parse claims from the JSON payload of a token.
	///
	/// Every claim of a known name is type-checked (a `null` or a float where an integer is
	/// required is an error, never "absent"). In this project's format (`pub`/`sub`) unknown
	/// claims are ignored; a payload in upstream's (`put`/`get` or `publish`/`subscribe`) is read
	/// as upstream reads it: `sub` is the registered subject and ignored, and any claim that is not
	/// one of these or `root`, `cluster`, `exp`, `iat`, `nbf`, `iss`, `jti` is refused.
	pub fn from_json(json: &[u8]) -> Result<Self> {
		let raw: RawClaims = serde_json::from_slice(json).map_err(|e| {
			if e.to_string().starts_with("duplicate claim") {
				Error::claim("(duplicate)", e.to_string())
			} else {
				Error::Malformed("the payload is not a JSON object")
			}
		})?;
		raw.into_claims()
	}

	/// Write the claims as the JSON payload of a token.
	pub fn to_json(&self, format: ClaimsFormat) -> String {
		let mut out = JsonWriter::new();
		out.field("root", |o| o.string(self.root.as_str()));
		let prefixes = match format {
			ClaimsFormat::PubSub => true,
			ClaimsFormat::PutGet => true,
			ClaimsFormat::Auto => self.publish.as_prefixes().is_some() && self.subscribe.as_prefixes().is_some(),
		};
		let names = match (format, prefixes) {
			(ClaimsFormat::PubSub, _) => ("pub", "sub"),
			(_, true) => ("put", "get"),
			(_, false) => ("publish", "subscribe"),
		};
		for (name, patterns) in [(names.0, &self.publish), (names.1, &self.subscribe)] {
			if patterns.is_empty() {
				continue;
			}
			match (format, prefixes) {
				(ClaimsFormat::PubSub, _) => out.field(name, |o| o.string(&join_list(patterns))),
				(_, true) => {
					let list: Vec<Path> = patterns.as_prefixes().unwrap_or_default();
					out.field(name, |o| o.strings(list.iter().map(Path::as_str)))
				}
				(_, false) => out.field(name, |o| o.strings(patterns.iter().map(Pattern::as_str))),
			}
		}
		if self.cluster {
			out.field("cluster", |o| o.raw("true"));
		}
		for (name, value) in [("exp", self.expires), ("iat", self.issued), ("nbf", self.not_before)] {
			if let Some(v) = value {
				out.field(name, |o| o.raw(&v.to_string()));
			}
		}
		if let Some(jti) = &self.id {
			out.field("jti", |o| o.string(jti));
		}
		out.finish()
	}
}

/// A minimal JSON object writer for the payload: no intermediate map, strings escaped by serde_json.
struct JsonWriter {
	out: String,
	first: bool,
}

impl JsonWriter {
	fn new() -> Self {
		Self {
			out: String::from("{"),
			first: true,
		}
	}

	fn field(&mut self, name: &str, value: impl FnOnce(&mut Self)) {
		if !self.first {
			self.out.push(',');
		}
		self.first = false;
		self.string(name);
		self.out.push(':');
		value(self);
	}

	fn string(&mut self, s: &str) {
		// Serializing a &str cannot fail.
		self.out.push_str(&serde_json::to_string(s).unwrap_or_default());
	}

	fn strings<'s>(&mut self, items: impl Iterator<Item = &'s str>) {
		self.out.push('[');
		for (i, item) in items.enumerate() {
			if i > 0 {
				self.out.push(',');
			}
			self.string(item);
		}
		self.out.push(']');
	}

	fn raw(&mut self, s: &str) {
		self.out.push_str(s);
	}

	fn finish(mut self) -> String {
		self.out.push('}');
		self.out
	}
}

fn join_list(patterns: &Patterns) -> String {
	// The whole string "" means everything; a list that holds the top path is "everything" too.
	let prefixes = patterns.as_prefixes().unwrap_or_default();
	if prefixes.iter().any(Path::is_root) {
		return String::new();
	}
	prefixes.iter().map(Path::as_str).collect::<Vec<_>>().join(",")
}

/// The subtree of each prefix; a prefix with a `*` in a segment is refused (it would read as a
/// wildcard and widen the grant).
fn subtrees(claim: &'static str, prefixes: Vec<Path>) -> Result<Patterns> {
	Patterns::subtrees(&prefixes).map_err(|e| Error::claim(claim, format!("a prefix cannot hold '*': {e}")))
}

/// One claim value as read from the payload, in a single pass and before type checks, so that
/// a wrong type becomes a precise `invalid_claim` instead of a parse failure.
enum Json<'a> {
	Str(Cow<'a, str>),
	UInt(u64),
	Bool(bool),
	Strings(Vec<Cow<'a, str>>),
	/// `null`, a negative or fractional number, an object, or an array holding non-strings.
	Other,
}

impl Json<'_> {
	fn string(self, claim: &'static str) -> Result<String> {
		match self {
			Json::Str(s) => Ok(s.into_owned()),
			_ => Err(Error::claim(claim, "must be a string")),
		}
	}

	fn path(self, claim: &'static str) -> Result<Path> {
		match self {
			Json::Str(s) => Path::new(&s),
			_ => Err(Error::claim(claim, "must be a string")),
		}
	}

	fn seconds(self, claim: &'static str) -> Result<u64> {
		match self {
			Json::UInt(n) => Ok(n),
			_ => Err(Error::claim(
				claim,
				"must be a non-negative integer number of unix seconds",
			)),
		}
	}

	/// `pub`/`sub`: comma-separated prefixes; only the whole string `""` means everything.
	fn comma_list(self, claim: &'static str) -> Result<Patterns> {
		let Json::Str(list) = self else {
			return Err(Error::claim(claim, "must be a comma-separated string"));
		};
		if list.is_empty() {
			return Ok(Patterns::all());
		}
		let prefixes = list
			.split(',')
			.map(|element| {
				if element.is_empty() {
					return Err(Error::claim(
						claim,
						"empty element in the list (only the whole string \"\" means everything)",
					));
				}
				if element.trim() != element {
					return Err(Error::claim(claim, "whitespace around a list element"));
				}
				Path::new(element)
			})
			.collect::<Result<Vec<_>>>()?;
		subtrees(claim, prefixes)
	}

	/// `put`/`get` (upstream): one prefix, or an array of prefixes.
	fn string_or_array(self, claim: &'static str) -> Result<Patterns> {
		let prefixes = match self {
			Json::Str(one) => vec![Path::new(&one)?],
			Json::Strings(many) => many.iter().map(|p| Path::new(p)).collect::<Result<_>>()?,
			_ => return Err(Error::claim(claim, "must be a string or an array of strings")),
		};
		subtrees(claim, prefixes)
	}

	/// `publish`/`subscribe` (upstream): an array of patterns.
	fn patterns(self, claim: &'static str) -> Result<Patterns> {
		let Json::Strings(many) = self else {
			return Err(Error::claim(claim, "must be an array of pattern strings"));
		};
		many.iter()
			.map(|p| {
				p.parse::<Pattern>()
					.map_err(|e| Error::claim(claim, format!("not a pattern: {e}")))
			})
			.collect()
	}
}

/// The known claims of a payload, before type checks.
#[derive(Default)]
struct RawClaims<'a> {
	root: Option<Json<'a>>,
	publish: Option<Json<'a>>,
	put: Option<Json<'a>>,
	publish_patterns: Option<Json<'a>>,
	subscribe: Option<Json<'a>>,
	get: Option<Json<'a>>,
	subscribe_patterns: Option<Json<'a>>,
	cluster: Option<Json<'a>>,
	exp: Option<Json<'a>>,
	iat: Option<Json<'a>>,
	nbf: Option<Json<'a>>,
	jti: Option<Json<'a>>,
	iss: Option<Json<'a>>,
	/// The first claim of a name not listed above.
	unknown: Option<String>,
}

impl RawClaims<'_> {
	fn into_claims(self) -> Result<Claims> {
		let prefixes = self.put.is_some() || self.get.is_some();
		let patterns = self.publish_patterns.is_some() || self.subscribe_patterns.is_some();
		let upstream = prefixes || patterns;
		if prefixes && patterns {
			return Err(Error::AmbiguousClaims("put/get and publish/subscribe"));
		}
		if upstream && self.publish.is_some() {
			return Err(Error::AmbiguousClaims("pub and put/publish"));
		}
		if upstream && let Some(name) = &self.unknown {
			return Err(Error::claim(
				"(unknown)",
				format!(
					"{name:?} is not a claim of the put/get or publish/subscribe format, which refuses unknown claims"
				),
			));
		}
		let (publish, subscribe) = if patterns {
			let list = |v: Option<Json>, name| v.map(|v| v.patterns(name)).transpose().map(Option::unwrap_or_default);
			(
				list(self.publish_patterns, "publish")?,
				list(self.subscribe_patterns, "subscribe")?,
			)
		} else if prefixes {
			// `sub` beside put/get is the registered subject claim: not a grant.
			let list = |v: Option<Json>, name| {
				v.map(|v| v.string_or_array(name))
					.transpose()
					.map(Option::unwrap_or_default)
			};
			(list(self.put, "put")?, list(self.get, "get")?)
		} else {
			let list = |v: Option<Json>, name| v.map(|v| v.comma_list(name)).transpose().map(Option::unwrap_or_default);
			(list(self.publish, "pub")?, list(self.subscribe, "sub")?)
		};
		// `iss` is read and dropped, of any type, as upstream does.
		let _ = self.iss;
		Ok(Claims {
			root: self.root.map(|v| v.path("root")).transpose()?.unwrap_or_default(),
			publish,
			subscribe,
			cluster: match self.cluster {
				None => false,
				Some(Json::Bool(b)) => b,
				Some(_) => return Err(Error::claim("cluster", "must be true or false")),
			},
			expires: self.exp.map(|v| v.seconds("exp")).transpose()?,
			issued: self.iat.map(|v| v.seconds("iat")).transpose()?,
			not_before: self.nbf.map(|v| v.seconds("nbf")).transpose()?,
			id: match (upstream, self.jti) {
				// Upstream reads `jti` of any type and drops it; a string is kept for revocation.
				(true, Some(Json::Str(s))) => Some(s.into_owned()),
				(true, _) => None,
				(false, jti) => jti.map(|v| v.string("jti")).transpose()?,
			},
			unrepresentable: None,
		})
	}
}

/// A JSON string, borrowed from the input unless it had escapes.
pub(crate) struct CowStr<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for CowStr<'a> {
	fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
		match Json::deserialize(d)? {
			Json::Str(s) => Ok(CowStr(s)),
			_ => Err(de::Error::custom("expected a string")),
		}
	}
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Json<'a> {
	fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
		d.deserialize_any(JsonVisitor(Default::default()))
	}
}

struct JsonVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for JsonVisitor<'a> {
	type Value = Json<'a>;

	fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
		f.write_str("a JSON value")
	}
	fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
		Ok(Json::Str(Cow::Borrowed(v)))
	}
	fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
		Ok(Json::Str(Cow::Owned(v.to_string())))
	}
	fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
		Ok(Json::UInt(v))
	}
	fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
		Ok(u64::try_from(v).map(Json::UInt).unwrap_or(Json::Other))
	}
	fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
		Ok(Json::Other)
	}
	fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Self::Value, E> {
		Ok(Json::Bool(v))
	}
	fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
		Ok(Json::Other)
	}
	fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
		let mut strings = Vec::new();
		let mut all_strings = true;
		while let Some(item) = seq.next_element::<Json<'a>>()? {
			match item {
				Json::Str(s) => strings.push(s),
				_ => all_strings = false,
			}
		}
		Ok(if all_strings {
			Json::Strings(strings)
		} else {
			Json::Other
		})
	}
	fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
		while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
		Ok(Json::Other)
	}
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawClaims<'a> {
	fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
		d.deserialize_map(RawClaimsVisitor(Default::default()))
	}
}

struct RawClaimsVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for RawClaimsVisitor<'a> {
	type Value = RawClaims<'a>;

	fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
		f.write_str("a JSON object of claims")
	}

	fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
		let mut raw = RawClaims::default();
		while let Some(key) = map.next_key::<CowStr<'de>>()? {
			let key = key.0;
			let slot = match key.as_ref() {
				"root" => &mut raw.root,
				"pub" => &mut raw.publish,
				"put" => &mut raw.put,
				"publish" => &mut raw.publish_patterns,
				"sub" => &mut raw.subscribe,
				"get" => &mut raw.get,
				"subscribe" => &mut raw.subscribe_patterns,
				"cluster" => &mut raw.cluster,
				"exp" => &mut raw.exp,
				"iat" => &mut raw.iat,
				"nbf" => &mut raw.nbf,
				"jti" => &mut raw.jti,
				"iss" => &mut raw.iss,
				_ => {
					if raw.unknown.is_none() {
						raw.unknown = Some(key.into_owned());
					}
					map.next_value::<IgnoredAny>()?;
					continue;
				}
			};
			if slot.is_some() {
				return Err(de::Error::custom(format_args!("duplicate claim {key:?}")));
			}
			*slot = Some(map.next_value::<Json<'de>>()?);
		}
		Ok(raw)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::ErrorCode;

	fn parse(json: &str) -> Result<Claims> {
		Claims::from_json(json.as_bytes())
	}

	fn code(json: &str) -> ErrorCode {
		parse(json).unwrap_err().code()
	}

	/// The subtrees of these prefixes: what a prefix claim grants.
	fn paths(list: &[&str]) -> Patterns {
		list.iter()
			.map(|p| Pattern::subtree(&Path::new(p).unwrap()).unwrap())
			.collect()
	}

	fn patterns(list: &[&str]) -> Patterns {
		list.iter().map(|p| p.parse::<Pattern>().unwrap()).collect()
	}

	#[test]
	fn reads_the_seed_example() {
		let c =
			parse(r#"{"root":"room/123","pub":"alice","sub":"","cluster":false,"exp":1703980800,"iat":1703977200}"#)
				.unwrap();
		assert_eq!(c.root.as_str(), "room/123");
		assert_eq!(c.publish, paths(&["alice"]));
		assert_eq!(c.subscribe, Patterns::all());
		assert!(!c.cluster);
		assert_eq!(c.expires, Some(1703980800));
		assert_eq!(c.issued, Some(1703977200));
	}

	#[test]
	fn comma_lists() {
		assert_eq!(
			parse(r#"{"sub":"alice,bob"}"#).unwrap().subscribe,
			paths(&["alice", "bob"])
		);
		for bad in [
			r#"{"sub":"alice,"}"#,
			r#"{"sub":",bob"}"#,
			r#"{"sub":"a,,b"}"#,
			r#"{"sub":"a, b"}"#,
			r#"{"sub":" a"}"#,
		] {
			assert_eq!(code(bad), ErrorCode::InvalidClaim, "{bad}");
		}
		assert_eq!(code(r#"{"sub":"a,../b"}"#), ErrorCode::InvalidPath);
	}

	#[test]
	fn upstream_put_get() {
		let c = parse(r#"{"root":"demo","put":["alice","bob"],"get":""}"#).unwrap();
		assert_eq!(c.publish, paths(&["alice", "bob"]));
		assert_eq!(c.subscribe, Patterns::all());
		assert_eq!(parse(r#"{"put":"x"}"#).unwrap().publish, paths(&["x"]));
		assert_eq!(parse(r#"{"put":[],"get":["a"]}"#).unwrap().publish, Patterns::new());
		assert_eq!(code(r#"{"put":[1]}"#), ErrorCode::InvalidClaim);
		assert_eq!(code(r#"{"pub":"a","put":["a"]}"#), ErrorCode::AmbiguousClaims);
		// Beside put/get, `sub` is the registered subject claim, read and dropped as upstream does.
		let c = parse(r#"{"sub":"user-7","get":[""]}"#).unwrap();
		assert_eq!((c.publish.len(), c.subscribe.clone()), (0, Patterns::all()));
		assert_eq!(code(r#"{"pub":"a","get":["a"]}"#), ErrorCode::AmbiguousClaims);
		assert_eq!(
			code(r#"{"put":["a/*"]}"#),
			ErrorCode::InvalidClaim,
			"no wildcard in a prefix"
		);
	}

	#[test]
	fn upstream_patterns() {
		let c = parse(r#"{"root":"live","publish":["camera1/**"],"subscribe":["*/chat","a/*/**"]}"#).unwrap();
		assert_eq!(c.publish, patterns(&["camera1/**"]));
		assert_eq!(c.subscribe, patterns(&["*/chat", "a/**/*"]));
		for (bad, code_) in [
			(r#"{"publish":["a/**/b/**"]}"#, ErrorCode::InvalidClaim),
			(r#"{"publish":"a/**"}"#, ErrorCode::InvalidClaim),
			(r#"{"publish":null,"subscribe":["a"]}"#, ErrorCode::InvalidClaim),
			(r#"{"publish":["a"],"get":["b"]}"#, ErrorCode::AmbiguousClaims),
			(r#"{"publish":["a"],"pub":"b"}"#, ErrorCode::AmbiguousClaims),
			// Unknown claims are refused in upstream's formats, as upstream refuses them.
			(r#"{"put":["a"],"aud":"x"}"#, ErrorCode::InvalidClaim),
			(r#"{"publish":["a"],"foo":1}"#, ErrorCode::InvalidClaim),
		] {
			assert_eq!(code(bad), code_, "{bad}");
		}
		// ...but not in this project's format, whose rule is to ignore them.
		assert!(parse(r#"{"pub":"a","aud":"x"}"#).is_ok());
		// `iss`, `jti` and our `cluster` are known in every format.
		let c = parse(r#"{"put":["a"],"iss":5,"jti":"t1","cluster":true}"#).unwrap();
		assert!(c.cluster && c.id.as_deref() == Some("t1"));
	}

	#[test]
	fn auto_format_is_upstreams_rule() {
		let subtrees = Claims::new(Path::new("live").unwrap())
			.with_publish(Path::new("camera1").unwrap())
			.with_subscribe(Path::root());
		assert_eq!(
			subtrees.to_json(ClaimsFormat::Auto),
			r#"{"root":"live","put":["camera1"],"get":[""]}"#
		);
		let mixed = subtrees.clone().with_subscribe_pattern("*/chat".parse().unwrap());
		// `**` contains `*/chat`: the union stays `**`.
		assert_eq!(mixed, subtrees);
		let mixed = Claims::new(Path::new("live").unwrap())
			.with_publish(Path::new("camera1").unwrap())
			.with_subscribe_pattern("*/chat".parse().unwrap());
		assert_eq!(
			mixed.to_json(ClaimsFormat::Auto),
			r#"{"root":"live","publish":["camera1/**"],"subscribe":["*/chat"]}"#
		);
		assert_eq!(
			Claims::from_json(mixed.to_json(ClaimsFormat::Auto).as_bytes()).unwrap(),
			mixed
		);
		for format in [ClaimsFormat::PubSub, ClaimsFormat::PutGet] {
			assert_eq!(mixed.check_format(format).unwrap_err().code(), ErrorCode::InvalidClaim);
		}
		let star = Claims::new(Path::root()).with_publish(Path::new("a*").unwrap());
		assert_eq!(star.validate().unwrap_err().code(), ErrorCode::InvalidClaim);
	}

	#[test]
	fn retired_path_claim_is_not_read() {
		let c = parse(r#"{"path":"room","sub":""}"#).unwrap();
		assert_eq!(c.root, Path::root());
	}

	#[test]
	fn wrong_types_are_errors_not_absent() {
		for bad in [
			r#"{"sub":"","exp":null}"#,
			r#"{"sub":"","exp":"1703980800"}"#,
			r#"{"sub":"","exp":1.5}"#,
			r#"{"sub":"","exp":-1}"#,
			r#"{"sub":"","nbf":true}"#,
			r#"{"sub":"","iat":[]}"#,
			r#"{"sub":"","root":null}"#,
			r#"{"sub":"","root":5}"#,
			r#"{"sub":5}"#,
			r#"{"sub":["a"]}"#,
			r#"{"sub":"","cluster":"true"}"#,
			r#"{"sub":"","jti":7}"#,
		] {
			assert_eq!(code(bad), ErrorCode::InvalidClaim, "{bad}");
		}
	}

	#[test]
	fn duplicate_and_non_object_payloads() {
		assert_eq!(code(r#"{"sub":"","sub":"a"}"#), ErrorCode::InvalidClaim);
		assert_eq!(code(r#"[1,2]"#), ErrorCode::Malformed);
		assert_eq!(code(r#"not json"#), ErrorCode::Malformed);
	}

	#[test]
	fn escaped_names_are_the_same_claim() {
		let c = parse(r#"{"p\u0075b":"alice"}"#).unwrap();
		assert_eq!(c.publish, paths(&["alice"]));
	}

	#[test]
	fn writes_both_formats() {
		let c = Claims::new(Path::new("room").unwrap())
			.with_publish(Path::new("alice").unwrap())
			.with_publish(Path::new("bob").unwrap())
			.with_subscribe(Path::root())
			.with_expires(10);
		let json: serde_json::Value = serde_json::from_str(&c.to_json(ClaimsFormat::PubSub)).unwrap();
		assert_eq!(json["pub"], "alice,bob");
		assert_eq!(json["sub"], "");
		assert_eq!(json["exp"], 10);
		let json: serde_json::Value = serde_json::from_str(&c.to_json(ClaimsFormat::PutGet)).unwrap();
		assert_eq!(json["put"], serde_json::json!(["alice", "bob"]));
		assert_eq!(json["get"], serde_json::json!([""]));
		for format in [ClaimsFormat::PubSub, ClaimsFormat::PutGet] {
			assert_eq!(Claims::from_json(c.to_json(format).as_bytes()).unwrap(), c);
		}
	}

	/// Found by the round trip of the `claims` fuzz check, on a hand-written seed: `pub` "a,b" was
	/// signed from the one prefix `a,b` and verified as the two prefixes `a` and `b`.
	#[test]
	fn unwritable_prefixes_are_refused_in_the_comma_format_only() {
		for prefix in ["a,b", " a", "a\t", "x/b "] {
			let c = Claims::new(Path::root()).with_publish(Path::new(prefix).unwrap());
			let err = c.check_format(ClaimsFormat::PubSub).unwrap_err();
			assert_eq!(err.code(), ErrorCode::InvalidClaim, "{prefix:?}");
			assert!(err.to_string().contains("put/get"), "{err}");
			c.check_format(ClaimsFormat::PutGet).unwrap();
			assert_eq!(
				Claims::from_json(c.to_json(ClaimsFormat::PutGet).as_bytes()).unwrap(),
				c
			);
		}
		// Beside the top path, which is written as "", any prefix is fine.
		let c = Claims::new(Path::root())
			.with_subscribe(Path::root())
			.with_subscribe(Path::new("a,b").unwrap());
		c.check_format(ClaimsFormat::PubSub).unwrap();
		Claims::new(Path::root())
			.with_publish(Path::new("a b/c").unwrap())
			.check_format(ClaimsFormat::PubSub)
			.unwrap();
	}

	#[test]
	fn useless() {
		assert_eq!(
			parse(r#"{"root":"a"}"#).unwrap().validate().unwrap_err().code(),
			ErrorCode::UselessToken
		);
		assert!(parse(r#"{"pub":"a"}"#).unwrap().validate().is_ok());
	}
}
