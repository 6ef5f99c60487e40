//! Who may do what: from a session's connection request to its [`Grant`].
//!
//! The session driver consults only the [`Grant`]: it never looks at credentials, keys or
//! configuration. Every credential type is a way for [`Auth::authorize`] to build one, so a new
//! one does not touch the session code. Today: MoQ JWTs (`?jwt=`, `token=`, `auth_id=` or
//! `Authorization: Bearer`, verified with the keys of [`moq_token::KeyStore`]), Privacy Pass tokens
//! (`?pp=` or `Authorization: PrivateToken`, [`PrivacyPass`]) and the anonymous grant of the public
//! prefixes.
//!
//! The order (`docs/privacy-pass.md`, with JWT): a presented credential is judged first (a JWT by
//! the token keys, a Privacy Pass token by the Privacy Pass verifier; presenting both is
//! `ambiguous_credentials`, `docs/auth.md`); without one, the public prefixes; without public access, a
//! Privacy Pass challenge when Privacy Pass is enabled and its grant covers the path; else
//! `missing_credential`.
//!
//! `docs/auth.md`: "A credential that fails is never downgraded to anonymous access, and a valid
//! credential's grant is not widened by the public prefixes."

mod error;
mod grant;
mod privacy_pass;
mod request;

pub use error::{AuthError, PrivacyPassChallenge};
pub use grant::Grant;
pub use privacy_pass::{DEFAULT_ISSUER, PrivacyPass, PrivacyPassConfigError, PrivacyPassSettings};
pub use request::{ConnectRequest, Credential, PrivacyPassCredential};

use moq_token::{KeyStore, Path, Validation};
use std::sync::Arc;

/// Anonymous access: prefixes anyone may publish or subscribe below, without a credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Public {
	/// Anyone may publish below these.
	pub publish: Vec<Path>,
	/// Anyone may subscribe below these.
	pub subscribe: Vec<Path>,
}

impl Public {
	/// The same prefix for both directions (`auth.public = "anon"`).
	pub fn both(prefix: Path) -> Self {
		Self {
			publish: vec![prefix.clone()],
			subscribe: vec![prefix],
		}
	}
}

/// What an auth decision was made from: a closed set, the `kind` label of
/// `moq_relay_auth_decision_seconds` (docs/relay.md, "Metrics").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialKind {
	/// A MoQ JWT.
	Jwt,
	/// A Privacy Pass token.
	PrivacyPass,
	/// No credential: the anonymous grant of the public prefixes.
	Public,
	/// No credential and no public access: refused, or challenged for a Privacy Pass token.
	None,
	/// A credential that cannot be read (a malformed `Authorization` header, two credentials).
	Invalid,
}

impl CredentialKind {
	/// The label value.
	pub fn as_str(self) -> &'static str {
		match self {
			Self::Jwt => "jwt",
			Self::PrivacyPass => "privacy_pass",
			Self::Public => "public",
			Self::None => "none",
			Self::Invalid => "invalid",
		}
	}
}

/// The authorization policy built from `[auth]`.
#[derive(Debug, Clone, Default)]
pub struct Auth {
	public: Public,
	keys: Option<Arc<KeyStore>>,
	privacy_pass: Option<Arc<PrivacyPass>>,
}

impl Auth {
	/// A policy with these public prefixes and, if any, these token keys.
	pub fn new(public: Public, keys: Option<KeyStore>) -> Self {
		Self {
			public,
			keys: keys.map(Arc::new),
			privacy_pass: None,
		}
	}

	/// The policy that also accepts Privacy Pass tokens and challenges sessions without a credential.
	pub fn with_privacy_pass(mut self, privacy_pass: PrivacyPass) -> Self {
		self.privacy_pass = Some(Arc::new(privacy_pass));
		self
	}

	/// The Privacy Pass verifier, when enabled.
	pub fn privacy_pass(&self) -> Option<&Arc<PrivacyPass>> {
		self.privacy_pass.as_ref()
	}

	/// The anonymous prefixes.
	pub fn public(&self) -> &Public {
		&self.public
	}

	/// Whether tokens are verified.
	pub fn verifies_tokens(&self) -> bool {
		self.keys.is_some()
	}

	/// Decides a session: its grant, or why it is refused (in the order of the module doc).
	///
	/// Async because a Privacy Pass nonce may live in Redis and the issuer keys in a directory; every
	/// such wait is bounded.
	pub async fn authorize(&self, request: &ConnectRequest) -> Result<Grant, AuthError> {
		self.decide(request).await.1
	}

	/// [`Auth::authorize`], and what the decision was made from (for the decision-time metric).
	pub async fn decide(&self, request: &ConnectRequest) -> (CredentialKind, Result<Grant, AuthError>) {
		let path = request.path();
		match request.credential() {
			Err(err) => (CredentialKind::Invalid, Err(err)),
			Ok(Some(Credential::Token(token))) => (CredentialKind::Jwt, self.verify(&token, path)),
			Ok(Some(Credential::PrivacyPass(token))) => (
				CredentialKind::PrivacyPass,
				match &self.privacy_pass {
					Some(pp) => pp.redeem(&token, path).await,
					None => Err(AuthError::InvalidPrivacyPassToken("privacy_pass_disabled")),
				},
			),
			Ok(None) => match self.anonymous(path) {
				Ok(grant) => (CredentialKind::Public, Ok(grant)),
				Err(missing) => match &self.privacy_pass {
					Some(pp) if pp.covers(path) => (CredentialKind::None, Err(pp.challenge().await)),
					_ => (CredentialKind::None, Err(missing)),
				},
			},
		}
	}

	fn verify(&self, token: &str, path: &Path) -> Result<Grant, AuthError> {
		let keys = self.keys.as_ref().ok_or(AuthError::NoVerifier)?;
		let claims = keys.verify(token, &Validation::default())?;
		let permissions = claims.authorize(path)?;
		let subject = moq_token::token_kid(token)
			.ok()
			.flatten()
			.map(|kid| format!("kid:{kid}"));
		Ok(Grant::new(path.clone(), permissions.publish, permissions.subscribe)
			.with_expires(claims.expires)
			.with_cluster(claims.cluster)
			.with_subject(subject))
	}

	/// `docs/auth.md`: "No credential: the anonymous grant of `auth.public`". A session at or below
	/// a public prefix may do everything below its root; a session above one reaches only the
	/// public subtree.
	fn anonymous(&self, root: &Path) -> Result<Grant, AuthError> {
		let publish = moq_token::rebase(&self.public.publish, root);
		let subscribe = moq_token::rebase(&self.public.subscribe, root);
		if publish.is_empty() && subscribe.is_empty() {
			return Err(AuthError::MissingCredential);
		}
		Ok(Grant::new(root.clone(), publish, subscribe).with_subject(Some("anonymous".into())))
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, KeySource};

	fn req(target: &str) -> ConnectRequest {
		ConnectRequest::parse(target).unwrap()
	}

	fn path(p: &str) -> Path {
		Path::new(p).unwrap()
	}

	fn anon() -> Auth {
		Auth::new(Public::both(path("anon")), None)
	}

	#[tokio::test]
	async fn public_prefix_grants_below_it() {
		let grant = anon().authorize(&req("/anon")).await.unwrap();
		assert_eq!(grant.root(), &path("anon"));
		assert!(grant.can_publish(&path("clock")));
		assert!(grant.can_subscribe(&Path::root()));

		let grant = anon().authorize(&req("/anon/room/")).await.unwrap();
		assert_eq!(grant.root(), &path("anon/room"));
		assert!(grant.can_publish(&path("x")));

		// At the root: only the public subtree.
		let grant = anon().authorize(&req("/")).await.unwrap();
		assert!(grant.can_publish(&path("anon/x")));
		assert!(!grant.can_publish(&path("private/x")));
		assert!(!grant.can_subscribe(&path("anonymous")));
	}

	#[tokio::test]
	async fn separate_publish_and_subscribe_prefixes() {
		let public = Public {
			publish: vec![path("ingest")],
			subscribe: vec![path("live"), path("ingest")],
		};
		let auth = Auth::new(public, None);
		let live = auth.authorize(&req("/live")).await.unwrap();
		assert!(live.can_subscribe(&path("x")) && !live.can_publish(&path("x")));
		let ingest = auth.authorize(&req("/ingest")).await.unwrap();
		assert!(ingest.can_publish(&path("x")) && ingest.can_subscribe(&path("x")));
		assert_eq!(
			auth.authorize(&req("/other")).await.unwrap_err().code(),
			"missing_credential"
		);
	}

	#[tokio::test]
	async fn refusals_carry_the_spec_codes() {
		assert_eq!(
			anon().authorize(&req("/private")).await.unwrap_err().code(),
			"missing_credential"
		);
		assert_eq!(
			anon().authorize(&req("/anonymous")).await.unwrap_err().code(),
			"missing_credential"
		);
		assert_eq!(
			Auth::default().authorize(&req("/anon")).await.unwrap_err().code(),
			"missing_credential"
		);
		// A credential is never downgraded to anonymous access.
		assert_eq!(
			anon().authorize(&req("/anon?jwt=abc")).await.unwrap_err().reason(),
			"invalid_token: no_verifier"
		);
		assert!(anon().authorize(&req("/anon?jwt=")).await.is_ok());
		assert_eq!(ConnectRequest::parse("/a/../b").unwrap_err().code(), "unauthorized");
	}

	#[tokio::test]
	async fn everything_is_public_with_the_root() {
		let auth = Auth::new(Public::both(Path::root()), None);
		let grant = auth.authorize(&req("")).await.unwrap();
		assert!(grant.can_publish(&path("any/thing")));
	}

	#[tokio::test]
	async fn tokens_are_verified_and_never_widened_or_downgraded() {
		let dir = std::env::temp_dir().join(format!("moq-relay-auth-unit-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		let key = Key::generate(Algorithm::HS256, Some(KeyId::new("k").unwrap())).unwrap();
		key.to_file(dir.join("root.jwk"), KeyFormat::Base64Url).unwrap();
		let store = KeyStore::new(vec![KeySource::File(dir.join("root.jwk"))]).unwrap();
		let auth = Auth::new(Public::both(path("anon")), Some(store));
		let claims = Claims::new(path("room/123"))
			.with_publish(path("alice"))
			.with_subscribe(Path::root())
			.with_expires(moq_token::unix_now() + 60);
		let token = key.sign(&claims).unwrap();

		let grant = auth.authorize(&req(&format!("/room/123?jwt={token}"))).await.unwrap();
		assert!(grant.can_publish(&path("alice/cam")) && !grant.can_publish(&path("bob")));
		assert_eq!(grant.expires(), claims.expires);
		assert_eq!(grant.subject(), Some("kid:k"));
		// Not widened by the public prefix: the token's grant is all there is at /anon.
		assert_eq!(
			auth.authorize(&req(&format!("/anon?jwt={token}")))
				.await
				.unwrap_err()
				.code(),
			"root_mismatch"
		);
		let bad = format!("{}x", token);
		let err = auth.authorize(&req(&format!("/anon?jwt={bad}"))).await.unwrap_err();
		assert_eq!(
			err.reason(),
			"invalid_token: bad_signature",
			"never downgraded to anonymous"
		);
		let bearer = req("/room/123").with_authorization(Some(format!("Bearer {token}")));
		assert!(auth.authorize(&bearer).await.is_ok());
		let expired = key.sign(&claims.clone().with_expires(1)).unwrap();
		assert_eq!(
			auth.authorize(&req(&format!("/room/123?jwt={expired}")))
				.await
				.unwrap_err()
				.code(),
			"token_expired"
		);
		assert_eq!(
			auth.authorize(&req(&format!("/room?jwt={token}")))
				.await
				.unwrap_err()
				.code(),
			"root_mismatch"
		);
		let _ = std::fs::remove_dir_all(&dir);
	}

	/// The order: a presented credential first (JWT or Privacy Pass, final), then the public
	/// prefixes, then a Privacy Pass challenge where its grant covers the path, else missing_credential.
	#[tokio::test]
	async fn privacy_pass_order() {
		use moq_privacy_pass::{Issuer, IssuerKeyPair, RedemptionContext, TokenChallenge, request_token};
		let issuer = Issuer::new("/token-request", vec![IssuerKeyPair::generate().unwrap()]).unwrap();
		let key = issuer.keys()[0].public_key().clone();
		let pp = PrivacyPass::new(PrivacyPassSettings {
			issuer: "issuer.test".into(),
			keys: vec![key.clone()],
			directory: None,
			redis: None,
			root: path("rooms"),
			publish: vec![],
			subscribe: vec![Path::root()],
			challenge_ttl: std::time::Duration::from_secs(60),
			redemption_context: RedemptionContext::Fresh,
			origins: vec![],
		})
		.unwrap();
		let auth = Auth::new(Public::both(path("anon")), None).with_privacy_pass(pp);

		// Public first: no challenge there.
		assert_eq!(
			auth.authorize(&req("/anon/x")).await.unwrap().subject(),
			Some("anonymous")
		);
		// Outside the Privacy Pass grant: no challenge either.
		assert_eq!(
			auth.authorize(&req("/private")).await.unwrap_err().reason(),
			"missing_credential"
		);
		let refusal = auth.authorize(&req("/rooms/1")).await.unwrap_err();
		assert_eq!(refusal.code(), "missing_credential");
		let challenge = TokenChallenge::from_close_reason(&refusal.reason()).unwrap();

		let (request, state) = request_token(&challenge, &key).unwrap();
		let token = state.finalize(&issuer.issue_request(&request).unwrap()).unwrap();
		let pp = format!("pp={}", token.to_base64());
		// A JWT and a token at once: ambiguous, and the token is not spent.
		assert_eq!(
			auth.authorize(&req(&format!("/rooms/1?jwt=x&{pp}")))
				.await
				.unwrap_err()
				.code(),
			"ambiguous_credentials"
		);
		// Outside the grant the token is refused before it is spent.
		assert_eq!(
			auth.authorize(&req(&format!("/private?{pp}")))
				.await
				.unwrap_err()
				.code(),
			"root_mismatch"
		);
		let grant = auth.authorize(&req(&format!("/rooms/1?{pp}"))).await.unwrap();
		assert_eq!(grant.subject(), Some("privacypass"));
		assert!(grant.can_subscribe(&path("x")) && !grant.can_publish(&path("x")));
		// Spent: a replay at a public path is refused, never downgraded.
		assert_eq!(
			auth.authorize(&req(&format!("/anon?{pp}"))).await.unwrap_err().code(),
			"root_mismatch"
		);
		assert_eq!(
			auth.authorize(&req(&format!("/rooms?{pp}"))).await.unwrap_err().code(),
			"token_replayed"
		);
		// Without Privacy Pass configured, a token is refused, not ignored.
		assert_eq!(
			anon()
				.authorize(&req(&format!("/anon?{pp}")))
				.await
				.unwrap_err()
				.reason(),
			"invalid_token: privacy_pass_disabled"
		);
	}
}
