//! A key's scope: the ceiling on what tokens signed by that key may grant (upstream's `scope`).

use crate::{Claims, Error, KeyError, Path, Pattern, Patterns, Result};

/// What tokens of a key may grant at most. Patterns in `publish` and `subscribe` are relative to
/// `root`, like token claims. Enforced when signing and when verifying (`scope_exceeded`), so a
/// scoped key never acts as an unrestricted one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
	/// Root of the patterns below.
	pub root: Path,
	/// Patterns tokens of this key may grant for publishing.
	pub publish: Patterns,
	/// Patterns tokens of this key may grant for subscribing.
	pub subscribe: Patterns,
}

impl Scope {
	/// Read the JWK `scope` object: `{"root": "...", "put": [...], "get": [...]}` (prefixes, read
	/// as subtrees) or, as upstream writes a scope that is not all subtrees,
	/// `{"root": "...", "publish": [...], "subscribe": [...]}` (patterns).
	pub(crate) fn from_json(value: &serde_json::Value) -> Result<Self, KeyError> {
		let invalid = |reason: &str| KeyError::InvalidField {
			field: "scope",
			reason: reason.to_string(),
		};
		let obj = value.as_object().ok_or_else(|| invalid("must be an object"))?;
		let path = |s: &str| Path::new(s).map_err(|e| invalid(&e.to_string()));
		let root = match obj.get("root") {
			None => Path::root(),
			Some(v) => path(v.as_str().ok_or_else(|| invalid("root must be a string"))?)?,
		};
		let strings = |name: &str| -> Result<Option<Vec<&str>>, KeyError> {
			match obj.get(name) {
				None => Ok(None),
				Some(serde_json::Value::String(s)) => Ok(Some(vec![s.as_str()])),
				Some(serde_json::Value::Array(items)) => items
					.iter()
					.map(|v| {
						v.as_str()
							.ok_or_else(|| invalid("prefixes and patterns must be strings"))
					})
					.collect::<Result<Vec<_>, _>>()
					.map(Some),
				Some(_) => Err(invalid(
					"put/get/publish/subscribe must be a string or an array of strings",
				)),
			}
		};
		let subtrees = |name: &str| -> Result<Patterns, KeyError> {
			strings(name)?
				.unwrap_or_default()
				.into_iter()
				.map(|s| Pattern::subtree(&path(s)?).map_err(|e| invalid(&e.to_string())))
				.collect()
		};
		let patterns = |name: &str| -> Result<Patterns, KeyError> {
			strings(name)?
				.unwrap_or_default()
				.into_iter()
				.map(|s| s.parse::<Pattern>().map_err(|e| invalid(&e.to_string())))
				.collect()
		};
		let legacy = obj.contains_key("put") || obj.contains_key("get");
		let modern = obj.contains_key("publish") || obj.contains_key("subscribe");
		if legacy && modern {
			return Err(invalid("mixes put/get with publish/subscribe"));
		}
		let scope = if modern {
			Self {
				root,
				publish: patterns("publish")?,
				subscribe: patterns("subscribe")?,
			}
		} else {
			Self {
				root,
				publish: subtrees("put")?,
				subscribe: subtrees("get")?,
			}
		};
		if scope.publish.is_empty() && scope.subscribe.is_empty() {
			return Err(invalid("a scope that allows neither put nor get makes the key useless"));
		}
		Ok(scope)
	}

	pub(crate) fn to_json(&self) -> serde_json::Value {
		let mut map = serde_json::Map::new();
		if !self.root.is_root() {
			map.insert("root".into(), self.root.as_str().into());
		}
		match (self.publish.as_prefixes(), self.subscribe.as_prefixes()) {
			(Some(put), Some(get)) => {
				let list = |paths: Vec<Path>| paths.iter().map(|p| p.as_str().to_string()).collect::<Vec<_>>();
				if !put.is_empty() {
					map.insert("put".into(), list(put).into());
				}
				if !get.is_empty() {
					map.insert("get".into(), list(get).into());
				}
			}
			_ => {
				let list = |p: &Patterns| p.iter().map(|p| p.as_str().to_string()).collect::<Vec<_>>();
				if !self.publish.is_empty() {
					map.insert("publish".into(), list(&self.publish).into());
				}
				if !self.subscribe.is_empty() {
					map.insert("subscribe".into(), list(&self.subscribe).into());
				}
			}
		}
		map.into()
	}

	/// Refuse claims that grant more than this scope, role by role, comparing the patterns placed
	/// below their roots: each granted pattern must be contained by one pattern of the scope.
	pub fn check(&self, claims: &Claims) -> Result<()> {
		covers(&self.root, &self.publish, &claims.root, &claims.publish, "publish")?;
		covers(
			&self.root,
			&self.subscribe,
			&claims.root,
			&claims.subscribe,
			"subscribe",
		)
	}
}

fn covers(scope_root: &Path, allowed: &Patterns, root: &Path, requested: &Patterns, role: &str) -> Result<()> {
	let exceeded = |what: &str| Error::ScopeExceeded(format!("{role} {what:?} is outside the key's scope"));
	let allowed = allowed.rooted(scope_root).map_err(|_| exceeded(scope_root.as_str()))?;
	for want in requested {
		let absolute = want.rooted(root).map_err(|_| exceeded(want.as_str()))?;
		if !allowed.contains(&absolute) {
			return Err(exceeded(absolute.as_str()));
		}
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use serde_json::json;

	fn p(s: &str) -> Path {
		Path::new(s).unwrap()
	}

	#[test]
	fn enforces_per_role_with_absolute_paths() {
		let scope = Scope::from_json(&json!({"root": "demo", "put": ["room"], "get": [""]})).unwrap();
		// The same grant spelled three ways.
		for claims in [
			Claims::new(p("demo")).with_publish(p("room")),
			Claims::new(p("")).with_publish(p("demo/room")),
			Claims::new(p("demo/room")).with_publish(Path::root()),
		] {
			scope.check(&claims).unwrap();
		}
		assert!(scope.check(&Claims::new(p("demo")).with_publish(p("roomx"))).is_err());
		assert!(scope.check(&Claims::new(p("demo")).with_publish(Path::root())).is_err());
		assert!(scope.check(&Claims::new(p("")).with_subscribe(p("other"))).is_err());
		scope
			.check(&Claims::new(p("demo/x")).with_subscribe(Path::root()))
			.unwrap();
		let publish_only = Scope::from_json(&json!({"put": [""]})).unwrap();
		let err = publish_only
			.check(&Claims::new(p("")).with_subscribe(p("a")))
			.unwrap_err();
		assert_eq!(err.code(), crate::ErrorCode::ScopeExceeded);
	}

	#[test]
	fn rejects_useless_or_bad_scopes() {
		assert!(Scope::from_json(&json!({"root": "a"})).is_err());
		assert!(Scope::from_json(&json!({"put": [1]})).is_err());
		assert!(Scope::from_json(&json!({"put": ["../x"]})).is_err());
		assert!(Scope::from_json(&json!("x")).is_err());
	}
}
