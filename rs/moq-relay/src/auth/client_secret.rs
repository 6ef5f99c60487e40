//! Ephemeral client secrets (`docs/auth.md`, "Browser tokens"): short-lived MoQ tokens an app's
//! server asks the relay for with its own credential, and hands to a browser, so the browser never
//! holds the server's secret.
//!
//! A secret is a MoQ JWT (`docs/tokens.md`) signed with the configured key, with a random `jti`
//! (so it can be revoked), an `exp` clamped to [`MIN_SECONDS`]`..=`[`MAX_SECONDS`] from now and
//! never past the caller's own expiry, and a scope that defaults to the caller's grant at the
//! requested root and never exceeds it (each requested pattern is contained by one of the caller's). Every relay whose key sources hold the key accepts it.

use base64::Engine;
use moq_token::{Claims, ClaimsFormat, Key, Path, Pattern, Patterns};
use serde::Deserialize;

use super::Grant;

/// The shortest lifetime a secret gets: a shorter request is raised to this.
pub const MIN_SECONDS: u64 = 10;
/// The longest lifetime a secret gets: a longer request is lowered to this.
pub const MAX_SECONDS: u64 = 3600;
/// The lifetime of a secret whose request names none.
pub const DEFAULT_SECONDS: u64 = 600;

/// What `POST /v1/client_secrets` takes (every field optional; an empty body is `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRequest {
	/// `{"seconds": N}` (and `"anchor": "created_at"`, the only anchor there is).
	#[serde(default)]
	pub expires_after: Option<ExpiresAfter>,
	/// The secret's root (an absolute broadcast path; default: the top, `""`).
	#[serde(default)]
	pub root: Option<String>,
	/// Publish patterns relative to `root` (`docs/tokens.md#patterns`: `alice/**` the subtree,
	/// `alice` that one broadcast, `**` everything; default: the caller's).
	#[serde(default)]
	pub publish: Option<Vec<String>>,
	/// Subscribe patterns relative to `root` (default: the caller's).
	#[serde(default)]
	pub subscribe: Option<Vec<String>>,
	/// A realtime session's configuration, as clients of realtime APIs send it: accepted and
	/// ignored (the relay has no session options).
	#[serde(default)]
	pub session: Option<serde::de::IgnoredAny>,
}

/// `expires_after`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiresAfter {
	/// Seconds from now.
	pub seconds: Option<u64>,
	/// What `seconds` counts from: only `created_at` (now).
	pub anchor: Option<String>,
}

impl SecretRequest {
	/// Reads a request body: empty or JSON.
	pub fn parse(body: &[u8]) -> Result<Self, ClientSecretError> {
		match body.iter().find(|b| !b.is_ascii_whitespace()) {
			None => return Ok(Self::default()),
			// serde would read a struct from an array too.
			Some(b'{') => {}
			Some(_) => {
				return Err(ClientSecretError::InvalidRequest(
					"the body is not a JSON object".into(),
				));
			}
		}
		let request: Self = serde_json::from_slice(body).map_err(|e| {
			// serde's message names the field and the type, never a value worth hiding.
			ClientSecretError::InvalidRequest(format!("the body is not a client secret request: {e}"))
		})?;
		if let Some(anchor) = request.expires_after.as_ref().and_then(|e| e.anchor.as_deref())
			&& anchor != "created_at"
		{
			return Err(ClientSecretError::InvalidRequest(
				"expires_after.anchor can only be \"created_at\"".into(),
			));
		}
		Ok(request)
	}

	/// The root the secret is for (the path the caller's credential is decided at).
	pub fn root(&self) -> Result<Path, ClientSecretError> {
		path("root", self.root.as_deref().unwrap_or(""))
	}

	/// The lifetime asked for, clamped to [`MIN_SECONDS`]`..=`[`MAX_SECONDS`].
	pub fn seconds(&self) -> u64 {
		self.expires_after
			.as_ref()
			.and_then(|e| e.seconds)
			.unwrap_or(DEFAULT_SECONDS)
			.clamp(MIN_SECONDS, MAX_SECONDS)
	}
}

fn path(field: &str, value: &str) -> Result<Path, ClientSecretError> {
	Path::new(value).map_err(|_| ClientSecretError::InvalidRequest(format!("{field} holds an invalid path")))
}

/// Why a secret was not minted: a stable code, an HTTP status and a message without any secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientSecretError {
	/// The request body cannot be read.
	#[error("{0}")]
	InvalidRequest(String),
	/// A requested pattern reaches outside what the caller may do there.
	#[error(
		"the caller may not {0} everything asked for: a client secret never grants more than its caller's credential"
	)]
	ScopeExceeded(&'static str),
	/// The request's `Origin` is not one of `auth.client_secret_origins`.
	#[error("this origin may not ask for client secrets: add it to auth.client_secret_origins")]
	OriginNotAllowed,
	/// No signing key is configured.
	#[error("this relay mints no client secrets: set auth.client_secret_key")]
	NotConfigured,
	/// The key could not sign.
	#[error("the client secret could not be signed")]
	Signing,
}

impl ClientSecretError {
	/// The stable code (the `error` of the JSON body).
	pub fn code(&self) -> &'static str {
		match self {
			Self::InvalidRequest(_) => "invalid_request",
			Self::ScopeExceeded(_) => "scope_exceeded",
			Self::OriginNotAllowed => "origin_not_allowed",
			Self::NotConfigured => "not_found",
			Self::Signing => "jwt_signing_error",
		}
	}

	/// The HTTP status.
	pub fn status(&self) -> axum::http::StatusCode {
		use axum::http::StatusCode;
		match self {
			Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
			Self::ScopeExceeded(_) | Self::OriginNotAllowed => StatusCode::FORBIDDEN,
			Self::NotConfigured => StatusCode::NOT_FOUND,
			Self::Signing => StatusCode::INTERNAL_SERVER_ERROR,
		}
	}

	/// `{"error": code, "message": text}`.
	pub fn json(&self) -> String {
		serde_json::json!({ "error": self.code(), "message": self.to_string() }).to_string()
	}
}

/// Why the client secret settings cannot be used: a start-up error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientSecretConfigError {
	/// The key cannot sign (a public key, or `key_ops` without `sign`).
	#[error("the key cannot sign: use a private key (moq-token generate)")]
	CannotSign,
	/// The key has no `kid`: relays holding several keys could not pick it.
	#[error("the key has no kid: generate it with one (moq-token generate --kid <id>)")]
	NoKid,
	/// An origin that is not `scheme://host[:port]` or `*`.
	#[error("{0:?} is not an origin (scheme://host[:port], or *)")]
	BadOrigin(String),
}

/// The client secret minter.
#[derive(Debug)]
pub struct ClientSecrets {
	key: Key,
	origins: Vec<String>,
}

/// A minted secret. `Debug` never shows its value.
#[derive(Clone)]
pub struct Minted {
	/// The MoQ JWT.
	pub value: String,
	/// Its `exp` (unix seconds).
	pub expires_at: u64,
	/// Its `jti`.
	pub id: String,
	/// The root it is for.
	pub root: Path,
}

impl std::fmt::Debug for Minted {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("Minted")
			.field("value", &"<redacted>")
			.field("expires_at", &self.expires_at)
			.field("id", &self.id)
			.field("root", &self.root)
			.finish()
	}
}

impl Minted {
	/// The answer: `{"client_secret": {"value", "expires_at"}, "value", "expires_at"}` (both forms
	/// realtime clients read).
	pub fn json(&self) -> String {
		serde_json::json!({
			"client_secret": { "value": self.value, "expires_at": self.expires_at },
			"value": self.value,
			"expires_at": self.expires_at,
		})
		.to_string()
	}
}

impl ClientSecrets {
	/// A minter signing with `key`, answering browsers from `origins` (`*`: any).
	pub fn new(key: Key, origins: Vec<String>) -> Result<Self, ClientSecretConfigError> {
		if !key.can_sign() {
			return Err(ClientSecretConfigError::CannotSign);
		}
		if key.kid().is_none() {
			return Err(ClientSecretConfigError::NoKid);
		}
		for origin in &origins {
			let valid = origin == "*"
				|| origin
					.split_once("://")
					.is_some_and(|(scheme, host)| !scheme.is_empty() && !host.is_empty() && !host.contains('/'));
			if !valid {
				return Err(ClientSecretConfigError::BadOrigin(origin.clone()));
			}
		}
		Ok(Self { key, origins })
	}

	/// The signing key (its public half verifies the secrets).
	pub fn key(&self) -> &Key {
		&self.key
	}

	/// Whether a browser at `origin` may ask for secrets.
	pub fn allows_origin(&self, origin: &str) -> bool {
		self.origins
			.iter()
			.any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
	}

	/// Mints a secret for `request`, whose caller holds `caller`, as of `now` (unix seconds). The
	/// caller's grant is decided at [`SecretRequest::root`], so its root is the secret's.
	pub fn mint(&self, caller: &Grant, request: &SecretRequest, now: u64) -> Result<Minted, ClientSecretError> {
		let root = caller.root().clone();
		let scope = |field: &'static str,
		             asked: &Option<Vec<String>>,
		             granted: &Patterns,
		             covers: &dyn Fn(&Pattern) -> bool| {
			let Some(asked) = asked else {
				return Ok(granted.clone());
			};
			let mut patterns = Patterns::new();
			for text in asked {
				let pattern: Pattern = text
					.parse()
					.map_err(|_| ClientSecretError::InvalidRequest(format!("{field} holds an invalid pattern")))?;
				if !covers(&pattern) {
					return Err(ClientSecretError::ScopeExceeded(field));
				}
				patterns.insert(pattern);
			}
			Ok(patterns)
		};
		let publish = scope("publish", &request.publish, caller.publish(), &|p| {
			caller.publish_covers(p)
		})?;
		let subscribe = scope("subscribe", &request.subscribe, caller.subscribe(), &|p| {
			caller.subscribe_covers(p)
		})?;
		if publish.is_empty() && subscribe.is_empty() {
			return Err(ClientSecretError::InvalidRequest(
				"the secret would allow nothing: ask for a publish or subscribe pattern".into(),
			));
		}
		let mut expires_at = now.saturating_add(request.seconds());
		if let Some(caller_expires) = caller.expires() {
			expires_at = expires_at.min(caller_expires);
		}
		let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
		let mut claims = Claims::new(root.clone()).with_expires(expires_at).with_issued(now);
		claims.publish = publish;
		claims.subscribe = subscribe;
		claims.id = Some(id.clone());
		// put/get when every grant is a subtree (every published verifier reads it), else the
		// publish/subscribe pattern arrays.
		let value = self
			.key
			.sign_with(&claims, ClaimsFormat::Auto)
			.map_err(|_| ClientSecretError::Signing)?;
		Ok(Minted {
			value,
			expires_at,
			id,
			root,
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use moq_token::{Algorithm, KeyId, Validation};

	fn p(s: &str) -> Path {
		Path::new(s).unwrap()
	}

	fn patterns(list: &[&str]) -> Patterns {
		list.iter().map(|s| s.parse::<Pattern>().unwrap()).collect()
	}

	fn minter() -> ClientSecrets {
		let key = Key::generate(Algorithm::EdDSA, Some(KeyId::new("cs").unwrap())).unwrap();
		ClientSecrets::new(key, vec!["https://app.example".into()]).unwrap()
	}

	fn request(json: &str) -> SecretRequest {
		SecretRequest::parse(json.as_bytes()).unwrap()
	}

	#[test]
	fn defaults_to_the_callers_grant_and_clamps_the_lifetime() {
		let minter = minter();
		let caller = Grant::new(p("live"), vec![p("alice")], vec![Path::root()]);
		let minted = minter
			.mint(
				&caller,
				&request(r#"{"root": "live", "expires_after": {"seconds": 300}}"#),
				1000,
			)
			.unwrap();
		assert_eq!(minted.expires_at, 1300);
		let claims = minter.key().verify_with(&minted.value, &Validation::at(1001)).unwrap();
		assert_eq!(claims.root, p("live"));
		assert_eq!(claims.publish, patterns(&["alice/**"]));
		assert_eq!(claims.subscribe, patterns(&["**"]));
		assert_eq!(claims.id.as_deref(), Some(minted.id.as_str()));
		assert_eq!(minted.id.len(), 22, "128 random bits");
		assert!(!format!("{minted:?}").contains(&minted.value));

		let short = minter
			.mint(
				&caller,
				&request(r#"{"root":"live","expires_after":{"seconds":1}}"#),
				1000,
			)
			.unwrap();
		assert_eq!(short.expires_at, 1000 + MIN_SECONDS);
		let long = minter
			.mint(
				&caller,
				&request(r#"{"root":"live","expires_after":{"seconds":99999}}"#),
				1000,
			)
			.unwrap();
		assert_eq!(long.expires_at, 1000 + MAX_SECONDS);
		let default = minter.mint(&caller, &request(""), 1000).unwrap();
		assert_eq!((default.expires_at, default.root), (1000 + DEFAULT_SECONDS, p("live")));
		// Never past the caller's own expiry.
		let expiring = caller.clone().with_expires(Some(1100));
		assert_eq!(
			minter
				.mint(&expiring, &request(r#"{"root":"live"}"#), 1000)
				.unwrap()
				.expires_at,
			1100
		);
	}

	#[test]
	fn never_wider_than_the_caller() {
		let minter = minter();
		let caller = Grant::new(p("live"), vec![p("alice")], patterns(&["public/**", "*/screen"]));
		let narrower = minter
			.mint(
				&caller,
				&request(r#"{"root":"live","publish":["alice/cam", "alice/*/mic"],"subscribe":["bob/screen"]}"#),
				1000,
			)
			.unwrap();
		let claims = minter
			.key()
			.verify_with(&narrower.value, &Validation::at(1001))
			.unwrap();
		assert_eq!(
			(claims.publish, claims.subscribe),
			(patterns(&["alice/cam", "alice/*/mic"]), patterns(&["bob/screen"]))
		);
		for (body, what) in [
			(r#"{"publish":["bob"]}"#, "publish"),
			(r#"{"publish":["**"]}"#, "publish"),
			(r#"{"publish":["*/cam"]}"#, "publish"),
			(r#"{"subscribe":["private/**"]}"#, "subscribe"),
			(r#"{"subscribe":["*/screen/**"]}"#, "subscribe"),
		] {
			let err = minter.mint(&caller, &request(body), 1000).unwrap_err();
			assert_eq!(err, ClientSecretError::ScopeExceeded(what), "{body}");
			assert_eq!((err.code(), err.status().as_u16()), ("scope_exceeded", 403));
		}
		let bad = minter
			.mint(&caller, &request(r#"{"publish":["alice//x"]}"#), 1000)
			.unwrap_err();
		assert_eq!(bad.code(), "invalid_request");
		let nothing = minter
			.mint(&caller, &request(r#"{"publish":[],"subscribe":[]}"#), 1000)
			.unwrap_err();
		assert_eq!(nothing.code(), "invalid_request");
	}

	#[test]
	fn requests_and_settings_are_checked() {
		for bad in [
			"[]",
			r#"{"expires_after": {"seconds": -1}}"#,
			r#"{"expires_after": {"seconds": 60, "anchor": "later"}}"#,
			r#"{"root": "a/../b"}"#,
			r#"{"publsh": ["x"]}"#,
		] {
			let err = SecretRequest::parse(bad.as_bytes()).and_then(|r| r.root().map(|_| r));
			assert_eq!(err.unwrap_err().code(), "invalid_request", "{bad}");
		}
		assert!(
			SecretRequest::parse(br#"{"expires_after":{"seconds":60,"anchor":"created_at"},"session":{"model":"x"}}"#)
				.is_ok()
		);

		let public = Key::generate(Algorithm::ES256, Some(KeyId::new("k").unwrap()))
			.unwrap()
			.to_public()
			.unwrap();
		assert!(matches!(
			ClientSecrets::new(public, vec![]),
			Err(ClientSecretConfigError::CannotSign)
		));
		let unnamed = Key::generate(Algorithm::HS256, None).unwrap().with_kid(None).unwrap();
		assert!(matches!(
			ClientSecrets::new(unnamed, vec![]),
			Err(ClientSecretConfigError::NoKid)
		));
		let key = Key::generate(Algorithm::HS256, Some(KeyId::new("k").unwrap())).unwrap();
		assert!(matches!(
			ClientSecrets::new(key.clone(), vec!["app.example".into()]),
			Err(ClientSecretConfigError::BadOrigin(_))
		));
		let any = ClientSecrets::new(key, vec!["*".into()]).unwrap();
		assert!(any.allows_origin("https://anything.example"));
		assert!(minter().allows_origin("https://APP.example"));
		assert!(!minter().allows_origin("https://evil.example"));
	}
}
