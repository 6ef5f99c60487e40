//! Grant templates over an identity token's claims (`root = "users/{sub}"`, `publish = ["{sub}/**"]`):
//! each `{name}` (or `{a.b}` for a nested claim) is replaced by the claim's value, which must be one
//! path segment, so no claim can climb out of its root or widen a pattern.

use moq_token::{Claims, ErrorCode, Path, Pattern};
use serde_json::Value;

use crate::auth::AuthError;

/// The grant an identity's tokens get, before its claims are filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantTemplate {
	/// The root (an absolute broadcast path with `{claim}`s).
	pub root: String,
	/// Publish patterns relative to the root.
	pub publish: Vec<String>,
	/// Subscribe patterns relative to the root.
	pub subscribe: Vec<String>,
}

/// Why a template cannot be used: a start-up error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// The longest claim value a template takes.
const MAX_VALUE: usize = 255;

impl GrantTemplate {
	/// Checks that every part is well formed (braces closed, names non-empty) and that the template
	/// grants something.
	pub fn check(&self) -> Result<(), TemplateError> {
		if self.publish.is_empty() && self.subscribe.is_empty() {
			return Err(TemplateError(
				"the grant allows nothing: give publish or subscribe".into(),
			));
		}
		for part in std::iter::once(&self.root).chain(&self.publish).chain(&self.subscribe) {
			// A stand-in value shows the template's own syntax errors now, not at the first token.
			let sample = fill(part, &|_| Ok("x".to_string()))
				.map_err(|_| TemplateError(format!("{part:?}: an unclosed or empty {{}}")))?;
			if part == &self.root {
				Path::new(&sample).map_err(|e| TemplateError(format!("root {part:?}: {e}")))?;
			} else {
				sample
					.parse::<Pattern>()
					.map_err(|e| TemplateError(format!("pattern {part:?}: {e}")))?;
				if sample.split('/').any(|segment| segment == "." || segment == "..") {
					return Err(TemplateError(format!(
						"pattern {part:?}: a . or .. segment matches no path"
					)));
				}
			}
		}
		Ok(())
	}

	/// The token claims this template gives for `claims`: a missing claim, or a value that is not
	/// one path segment (`/`, `*`, `.`, `..`, empty, control characters), refuses the token.
	pub fn claims(&self, claims: &Value) -> Result<Claims, AuthError> {
		let value = |name: &str| claim(claims, name);
		let invalid = AuthError::InvalidToken(ErrorCode::InvalidClaim);
		let pattern =
			|text: &str| -> Result<Pattern, AuthError> { fill(text, &value)?.parse().map_err(|_| invalid.clone()) };
		let root = Path::new(&fill(&self.root, &value)?).map_err(|_| invalid.clone())?;
		let mut granted = Claims::new(root);
		for text in &self.publish {
			granted = granted.with_publish_pattern(pattern(text)?);
		}
		for text in &self.subscribe {
			granted = granted.with_subscribe_pattern(pattern(text)?);
		}
		Ok(granted)
	}
}

/// The value of the claim `name` (`a.b` reads `b` inside the object `a`) as one path segment.
fn claim(claims: &Value, name: &str) -> Result<String, AuthError> {
	let invalid = AuthError::InvalidToken(ErrorCode::InvalidClaim);
	let found = name.split('.').try_fold(claims, |value, key| value.get(key));
	let text = match found {
		Some(Value::String(s)) => s.clone(),
		Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
		_ => return Err(invalid),
	};
	let segment = !text.is_empty()
		&& text.len() <= MAX_VALUE
		&& text != "."
		&& text != ".."
		&& !text
			.chars()
			.any(|c| c == '/' || c == '*' || c == '\\' || c.is_control());
	if segment { Ok(text) } else { Err(invalid) }
}

/// `text` with every `{name}` replaced by `value(name)`.
fn fill(text: &str, value: &dyn Fn(&str) -> Result<String, AuthError>) -> Result<String, AuthError> {
	let invalid = || AuthError::InvalidToken(ErrorCode::InvalidClaim);
	let mut out = String::with_capacity(text.len() + 16);
	let mut rest = text;
	while let Some(open) = rest.find('{') {
		out.push_str(&rest[..open]);
		let after = &rest[open + 1..];
		let close = after.find('}').ok_or_else(invalid)?;
		let name = &after[..close];
		if name.is_empty() || name.contains('{') {
			return Err(invalid());
		}
		out.push_str(&value(name)?);
		rest = &after[close + 1..];
	}
	if rest.contains('}') {
		return Err(invalid());
	}
	out.push_str(rest);
	Ok(out)
}

#[cfg(test)]
mod tests {
	use super::*;
	use serde_json::json;

	fn template(root: &str, publish: &[&str], subscribe: &[&str]) -> GrantTemplate {
		GrantTemplate {
			root: root.into(),
			publish: publish.iter().map(|s| s.to_string()).collect(),
			subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
		}
	}

	#[test]
	fn claims_fill_the_template() {
		let t = template("users/{sub}", &["**"], &["**", "../{org.id}"]);
		assert!(t.check().is_err(), "a pattern with .. is refused at start-up");
		let t = template("users/{sub}", &["cam-{n}"], &["**"]);
		t.check().unwrap();
		let claims = t.claims(&json!({"sub": "u-1", "n": 7})).unwrap();
		assert_eq!(claims.root.as_str(), "users/u-1");
		assert_eq!(claims.publish.to_string(), "cam-7");
		assert_eq!(claims.subscribe.to_string(), "**");
		let nested = template("orgs/{user.org}", &[], &["**"]);
		assert_eq!(
			nested.claims(&json!({"user": {"org": "acme"}})).unwrap().root.as_str(),
			"orgs/acme"
		);
	}

	#[test]
	fn a_missing_claim_or_a_value_that_is_not_one_segment_refuses() {
		let t = template("users/{sub}", &["{sub}/**"], &[]);
		for claims in [
			json!({}),
			json!({"sub": null}),
			json!({"sub": ["a"]}),
			json!({"sub": ""}),
			json!({"sub": "a/b"}),
			json!({"sub": ".."}),
			json!({"sub": "*"}),
			json!({"sub": "a*"}),
			json!({"sub": "tab\there"}),
			json!({"sub": 1.5}),
		] {
			assert_eq!(
				t.claims(&claims).unwrap_err().reason(),
				"invalid_token: invalid_claim",
				"{claims}"
			);
		}
		assert!(template("{sub", &["**"], &[]).check().is_err());
		assert!(template("{}", &["**"], &[]).check().is_err());
		assert!(template("users", &[], &[]).check().is_err(), "grants nothing");
	}
}
