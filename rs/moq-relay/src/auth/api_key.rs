//! API keys: shared secrets with a name and a grant (`docs/auth.md`, "API keys"), the way
//! moshi-server (`MOSHI_API_KEY`, `authorized_ids`) and Sayna (`AUTH_API_SECRET`) use them.
//!
//! Keys are held only as SHA-256 digests; a presented credential is hashed once and compared with
//! every digest in constant time (no early exit, so the time taken says nothing about which key
//! or how much of one matched). A key's name, never the key, is its grant's subject
//! (`api_key:<name>`) in logs and metrics.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use moq_token::{Claims, Path, Patterns};

use super::verifier::{Explanation, Judged, Stage, Verdict, Verifier};
use super::{AuthError, ConnectRequest, Credential, CredentialKind, Grant};
use crate::metrics::Metrics;

/// One configured key, as given: its secret, its name and its grant (relative to `root`; an
/// absent list is everything, `[]` nothing).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySettings {
	/// Shown in logs and metrics instead of the key.
	pub name: String,
	/// The secret.
	pub key: String,
	/// Where the grant applies (default: everything).
	pub root: Path,
	/// Publish patterns (a prefix is its subtree), relative to `root` (default: everything).
	pub publish: Option<Patterns>,
	/// Subscribe patterns, relative to `root` (default: everything).
	pub subscribe: Option<Patterns>,
}

impl std::fmt::Debug for ApiKeySettings {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("ApiKeySettings")
			.field("name", &self.name)
			.field("key", &"<redacted>")
			.field("root", &self.root)
			.field("publish", &self.publish)
			.field("subscribe", &self.subscribe)
			.finish()
	}
}

/// Why the API keys cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
	/// A key is empty.
	#[error("API key {0:?} is empty")]
	Empty(String),
	/// Two entries have the same name.
	#[error("two API keys are named {0:?}: names must be unique (they are the keys' names in logs)")]
	DuplicateName(String),
	/// The same secret is configured twice.
	#[error("API keys {0:?} and {1:?} are the same secret: which grant would apply?")]
	DuplicateKey(String, String),
}

struct Entry {
	name: String,
	digest: [u8; 32],
	claims: Claims,
}

impl std::fmt::Debug for Entry {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		// Not even the digest: a short key could be found from it.
		f.debug_struct("Entry")
			.field("name", &self.name)
			.field("claims", &self.claims)
			.finish_non_exhaustive()
	}
}

/// The API key verifier.
#[derive(Debug)]
pub struct ApiKeys {
	entries: Vec<Entry>,
}

fn sha256(secret: &str) -> [u8; 32] {
	let mut out = [0; 32];
	out.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
	out
}

impl ApiKeys {
	/// Hashes the keys (their plain text is not kept) and checks that names and keys are unique.
	pub fn new(keys: Vec<ApiKeySettings>) -> Result<Self, ApiKeyError> {
		let mut entries: Vec<Entry> = Vec::with_capacity(keys.len());
		for settings in keys {
			if settings.key.is_empty() {
				return Err(ApiKeyError::Empty(settings.name));
			}
			let digest = sha256(&settings.key);
			if entries.iter().any(|e| e.name == settings.name) {
				return Err(ApiKeyError::DuplicateName(settings.name));
			}
			if let Some(other) = entries.iter().find(|e| e.digest == digest) {
				return Err(ApiKeyError::DuplicateKey(other.name.clone(), settings.name));
			}
			let mut claims = Claims::new(settings.root);
			claims.publish = settings.publish.unwrap_or_else(Patterns::all);
			claims.subscribe = settings.subscribe.unwrap_or_else(Patterns::all);
			entries.push(Entry {
				name: settings.name,
				digest,
				claims,
			});
		}
		Ok(Self { entries })
	}

	/// How many keys there are.
	pub fn len(&self) -> usize {
		self.entries.len()
	}

	/// Whether there are none.
	pub fn is_empty(&self) -> bool {
		self.entries.is_empty()
	}

	/// The keys' names.
	pub fn names(&self) -> impl Iterator<Item = &str> {
		self.entries.iter().map(|e| e.name.as_str())
	}

	/// The entry whose key is `presented`: every digest is compared, in constant time.
	fn find(&self, presented: &str) -> Option<&Entry> {
		let presented = sha256(presented);
		let mut found = None;
		for entry in &self.entries {
			if verify_slices_are_equal(&entry.digest, &presented).is_ok() && found.is_none() {
				found = Some(entry);
			}
		}
		found
	}

	fn judge_key(&self, key: &str, request: &ConnectRequest, only_api_keys: bool) -> Verdict {
		let Some(entry) = self.find(key) else {
			let error = AuthError::Unauthorized;
			return match only_api_keys {
				// The `kyutai-api-key` header carries nothing but API keys: refused here.
				true => Verdict::Decided(Err(error)),
				false => Verdict::PassOn(Some(Explanation { error, weight: 1 })),
			};
		};
		let path = request.path();
		Verdict::Decided(
			entry
				.claims
				.authorize(path)
				.map_err(AuthError::from)
				.map(|permissions| {
					Grant::new(path.clone(), permissions.publish, permissions.subscribe)
						.with_subject(Some(format!("api_key:{}", entry.name)))
				}),
		)
	}
}

impl Verifier for ApiKeys {
	fn kind(&self) -> CredentialKind {
		CredentialKind::ApiKey
	}

	fn stage(&self) -> Stage {
		Stage::ApiKey
	}

	fn judge<'a>(
		&'a self,
		credential: &'a Credential<'a>,
		request: &'a ConnectRequest,
		metrics: Option<&'a Metrics>,
	) -> Judged<'a> {
		let verdict = match credential {
			Credential::Token(token) => self.judge_key(token, request, false),
			Credential::ApiKey(key) => self.judge_key(key, request, true),
			Credential::PrivacyPass(_) | Credential::SessionCookie(_) => Verdict::PassOn(None),
		};
		if let (Verdict::Decided(Ok(grant)), Some(metrics)) = (&verdict, metrics)
			&& let Some(name) = grant.subject().and_then(|s| s.strip_prefix("api_key:"))
		{
			metrics.api_key_granted(name);
		}
		Box::pin(std::future::ready(verdict))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn path(p: &str) -> Path {
		Path::new(p).unwrap()
	}

	fn key(name: &str, key: &str) -> ApiKeySettings {
		ApiKeySettings {
			name: name.into(),
			key: key.into(),
			root: Path::root(),
			publish: None,
			subscribe: None,
		}
	}

	fn decided(verdict: Verdict) -> Result<Grant, AuthError> {
		match verdict {
			Verdict::Decided(decided) => decided,
			Verdict::PassOn(why) => panic!("passed on: {why:?}"),
		}
	}

	#[test]
	fn keys_grant_by_name_and_are_held_to_their_grant() {
		let viewer = ApiKeySettings {
			root: path("live"),
			publish: Some(Patterns::new()),
			subscribe: Some(Patterns::all()),
			..key("viewer", "view-secret")
		};
		let keys = ApiKeys::new(vec![key("ops", "ops-secret"), viewer]).unwrap();
		let at = |p: &str| ConnectRequest::parse(p).unwrap();

		let grant = decided(keys.judge_key("ops-secret", &at("/any/where"), false)).unwrap();
		assert_eq!(grant.subject(), Some("api_key:ops"));
		assert!(grant.can_publish(&path("x")) && grant.can_subscribe(&path("x")));

		let grant = decided(keys.judge_key("view-secret", &at("/live/room"), false)).unwrap();
		assert_eq!(grant.subject(), Some("api_key:viewer"));
		assert!(grant.can_subscribe(&path("cam")) && !grant.can_publish(&path("cam")));
		assert_eq!(
			decided(keys.judge_key("view-secret", &at("/other"), false))
				.unwrap_err()
				.code(),
			"root_mismatch"
		);

		match keys.judge_key("wrong", &at("/live"), false) {
			Verdict::PassOn(Some(why)) => assert_eq!(why.error.code(), "unauthorized"),
			other => panic!("{other:?}"),
		}
		assert_eq!(
			decided(keys.judge_key("wrong", &at("/live"), true)).unwrap_err(),
			AuthError::Unauthorized
		);
		// A prefix or an extension of a key is not the key.
		for near in ["ops-secre", "ops-secret ", "ops-secretx", ""] {
			assert!(keys.find(near).is_none(), "{near:?}");
		}
	}

	#[test]
	fn names_and_keys_are_unique_and_never_shown() {
		assert_eq!(
			ApiKeys::new(vec![key("a", "k1"), key("a", "k2")]).unwrap_err(),
			ApiKeyError::DuplicateName("a".into())
		);
		assert_eq!(
			ApiKeys::new(vec![key("a", "k1"), key("b", "k1")]).unwrap_err(),
			ApiKeyError::DuplicateKey("a".into(), "b".into())
		);
		assert_eq!(
			ApiKeys::new(vec![key("a", "")]).unwrap_err(),
			ApiKeyError::Empty("a".into())
		);
		let keys = ApiKeys::new(vec![key("ops", "hunter2-secret")]).unwrap();
		let shown = format!("{keys:?} {:?}", key("ops", "hunter2-secret"));
		assert!(!shown.contains("hunter2"), "{shown}");
		assert_eq!(keys.names().collect::<Vec<_>>(), ["ops"]);
	}
}
