//! Who may do what: from a session's connection request to its [`Grant`].
//!
//! The session driver consults only the [`Grant`]: it never looks at credentials, keys or
//! configuration. Every credential type is a [`Verifier`] in one [`Chain`]; adding one is a file
//! and a line where the chain is built, and touches neither the session code nor the other
//! verifiers. Today: API keys ([`ApiKeys`]), MoQ JWTs ([`MoqJwt`], verified with the keys of
//! [`moq_token::KeyStore`]), Privacy Pass tokens ([`PrivacyPass`]), the delegated auth service
//! ([`AuthService`]), and the anonymous grant of the public prefixes.
//!
//! The order (`docs/auth.md`, "The order of checks"): a presented credential (`?jwt=`, `token=`,
//! `auth_id=`, `Authorization: Bearer`, the `kyutai-api-key` header, a Privacy Pass token; two
//! different ones are `ambiguous_credentials`) goes through the chain: API keys first, then the
//! local verifiers, whose verdict on a credential they recognize is final, and only a credential no
//! local verifier recognizes goes to the auth service. Without a credential: the public prefixes;
//! without public access, a Privacy Pass challenge when Privacy Pass is enabled and its grant
//! covers the path; else `missing_credential`.
//!
//! `docs/auth.md`: "A credential that fails is never downgraded to anonymous access, and a valid
//! credential's grant is not widened by the public prefixes."

mod api_key;
mod auth_url;
mod chain;
mod client_secret;
mod error;
mod grant;
mod identity;
mod jwks_url;
mod jwt;
mod privacy_pass;
mod request;
mod revocation;
mod service;
mod verifier;

pub use api_key::{ApiKeyError, ApiKeySettings, ApiKeys};
pub use auth_url::{AuthUrl, AuthUrlError, AuthUrlSettings, AuthUrlTls, SessionInfo};
pub use chain::Chain;
pub use client_secret::{
	ClientSecretConfigError, ClientSecretError, ClientSecrets, DEFAULT_SECONDS, MAX_SECONDS, MIN_SECONDS, Minted,
	SecretRequest,
};
pub use error::{AuthError, PrivacyPassChallenge, ServiceBody, Unavailable};
pub use grant::Grant;
pub use identity::{
	BetterAuth, GrantTemplate, Identity, IdentityKeys, IdentitySettings, SESSION_CACHE, SessionCheck, Shape,
	TemplateError,
};
pub use jwks_url::{Entry as JwksEntry, FetchError, JwksUrl, JwksUrlError, JwksUrlSettings};
pub use jwt::MoqJwt;
pub use privacy_pass::{DEFAULT_ISSUER, PrivacyPass, PrivacyPassConfigError, PrivacyPassSettings};
pub use request::{
	API_KEY_HEADER, ConnectRequest, Credential, PrivacyPassCredential, SESSION_COOKIES, Transport, forwardable_header,
	has_session_cookie,
};
pub use revocation::{RevocationError, Revocations, Revoked};
pub use service::{AuthService, ServiceConfigError, ServiceSettings, SigningKey, SigningKeyError};
pub use verifier::{Explanation, Judged, Stage, Verdict, Verifier};

use moq_token::{KeyStore, Path};
use std::sync::Arc;

use crate::metrics::Metrics;

/// Anonymous access: what anyone may publish or subscribe without a credential, as pattern unions
/// rooted at `/` (a prefix `anon` is the pattern `anon/**`, upstream's spelling of the same grant).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Public {
	/// Anyone may publish what these match.
	pub publish: moq_token::Patterns,
	/// Anyone may subscribe to what these match.
	pub subscribe: moq_token::Patterns,
}

impl Public {
	/// The same prefix for both directions (`auth.public = "anon"`).
	pub fn both(prefix: Path) -> Self {
		Self::both_pattern(moq_token::Pattern::subtree(&prefix).unwrap_or_else(|_| moq_token::Pattern::all()))
	}

	/// The same pattern for both directions (`auth.public = "*/screen/**"`).
	pub fn both_pattern(pattern: moq_token::Pattern) -> Self {
		let patterns: moq_token::Patterns = std::iter::once(pattern).collect();
		Self {
			publish: patterns.clone(),
			subscribe: patterns,
		}
	}

	/// Whether anything at all is public.
	pub fn is_empty(&self) -> bool {
		self.publish.is_empty() && self.subscribe.is_empty()
	}

	/// The paths the public grant is a whole subtree of, for the URLs the relay shows.
	pub fn prefixes(&self) -> Vec<Path> {
		let mut out: Vec<Path> = Vec::new();
		for prefix in self
			.subscribe
			.iter()
			.chain(self.publish.iter())
			.filter_map(|p| p.as_prefix())
		{
			if !out.contains(&prefix) {
				out.push(prefix);
			}
		}
		out
	}
}

/// What an auth decision was made from, or who made it: a closed set, the `kind` label of
/// `moq_relay_auth_decision_seconds` and `moq_relay_auth_decisions_total` (docs/relay.md, "Metrics").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialKind {
	/// A MoQ JWT.
	Jwt,
	/// A Privacy Pass token.
	PrivacyPass,
	/// An API key.
	ApiKey,
	/// The delegated auth service.
	Service,
	/// A credential no verifier recognized.
	Unrecognized,
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
			Self::ApiKey => "api_key",
			Self::Service => "auth_service",
			Self::Unrecognized => "unrecognized",
			Self::Public => "public",
			Self::None => "none",
			Self::Invalid => "invalid",
		}
	}
}

/// The authorization policy built from `[auth]` (and `[privacypass]`).
#[derive(Debug, Clone, Default)]
pub struct Auth {
	public: Public,
	chain: Chain,
	privacy_pass: Option<Arc<PrivacyPass>>,
	service: Option<Arc<AuthService>>,
	/// The token keys, when configured: a live session ends when its key is removed.
	keys: Option<Arc<KeyStore>>,
	/// Revoked tokens and subjects.
	revocations: Option<Arc<Revocations>>,
	/// The client secret minter (`POST /v1/client_secrets`), when its key is configured.
	client_secrets: Option<Arc<ClientSecrets>>,
	/// Token keys fetched from JWKS URLs: a live session ends when its key leaves the set.
	jwks_urls: Vec<Arc<JwksUrl>>,
	/// Identity issuers whose key set an OIDC discovery document names (read on first use).
	discovering: Vec<Arc<Identity>>,
	/// The auth server of `[auth] url`, when configured.
	auth_url: Option<Arc<AuthUrl>>,
	/// Whether Better Auth's session cookie is a credential (an identity verifies it).
	session_cookies: bool,
}

impl Auth {
	/// A policy with these public prefixes and, if any, these token keys.
	pub fn new(public: Public, keys: Option<KeyStore>) -> Self {
		let auth = Self {
			public,
			..Self::default()
		};
		match keys {
			Some(keys) => {
				let jwt = MoqJwt::new(keys);
				let auth = Self {
					keys: Some(jwt.keys().clone()),
					..auth
				};
				auth.with_verifier(Arc::new(jwt))
			}
			None => auth,
		}
	}

	/// The policy that refuses, and ends the sessions of, what `revocations` lists.
	pub fn with_revocations(mut self, revocations: Arc<Revocations>) -> Self {
		if let Some(auth_url) = &self.auth_url {
			// Live sessions re-check their grant when the list changes: so do leases.
			auth_url.attach(revocations.clone());
		}
		self.revocations = Some(revocations);
		self
	}

	/// The policy that asks the auth server of `[auth] url` about tokens no local verifier
	/// recognized, and re-checks the sessions it admits (`docs/auth.md`, "Auth server").
	pub fn with_auth_url(mut self, auth_url: AuthUrl) -> Self {
		let auth_url = Arc::new(auth_url);
		if let Some(revocations) = &self.revocations {
			auth_url.attach(revocations.clone());
		}
		self.auth_url = Some(auth_url.clone());
		self.with_verifier(Arc::new(auth_url))
	}

	/// The auth server of `[auth] url`, when configured.
	pub fn auth_url(&self) -> Option<&Arc<AuthUrl>> {
		self.auth_url.as_ref()
	}

	/// The revocation list, when configured.
	pub fn revocations(&self) -> Option<&Arc<Revocations>> {
		self.revocations.as_ref()
	}

	/// The policy that mints client secrets with `minter` (its key must be among the token keys
	/// for this relay to accept them).
	pub fn with_client_secrets(mut self, minter: ClientSecrets) -> Self {
		self.client_secrets = Some(Arc::new(minter));
		self
	}

	/// The policy that also verifies MoQ tokens with the keys of this JWKS URL.
	pub fn with_jwks_url(mut self, jwks: JwksUrl) -> Self {
		let jwks = Arc::new(jwks);
		self.jwks_urls.push(jwks.clone());
		self.with_verifier(jwks)
	}

	/// The policy that also accepts the tokens of this identity issuer; its JWKS URL, if any, is
	/// refreshed with the others.
	pub fn with_identity(mut self, identity: Identity) -> Self {
		if let Some(jwks) = identity.jwks_url() {
			self.jwks_urls.push(jwks.clone());
		}
		self.session_cookies |= identity.checks_sessions();
		let identity = Arc::new(identity);
		if identity.discovers() {
			self.discovering.push(identity.clone());
		}
		self.with_verifier(identity)
	}

	/// The identity issuers with an OIDC discovery document (the relay refreshes the key set it
	/// names once a token made it read the document).
	pub fn discovering(&self) -> &[Arc<Identity>] {
		&self.discovering
	}

	/// Whether Better Auth's session cookie is a credential here (an identity with the
	/// `better-auth` preset checks it).
	pub fn session_cookies(&self) -> bool {
		self.session_cookies
	}

	/// The JWKS URLs (refreshed by the relay while it runs).
	pub fn jwks_urls(&self) -> &[Arc<JwksUrl>] {
		&self.jwks_urls
	}

	/// Problems `/ready` states (a JWKS URL serving its last good set), one line each.
	pub fn problems(&self) -> Vec<String> {
		self.jwks_urls.iter().filter_map(|jwks| jwks.problem()).collect()
	}

	/// The client secret minter, when configured.
	pub fn client_secrets(&self) -> Option<&Arc<ClientSecrets>> {
		self.client_secrets.as_ref()
	}

	/// The token keys, when configured.
	pub fn keys(&self) -> Option<&Arc<KeyStore>> {
		self.keys.as_ref()
	}

	/// Why a grant no longer holds, if it does not: its token or subject was revoked, or the key
	/// that verified its token was removed or replaced. Asked at admission and by live sessions
	/// whenever the revocation list or the key sources change.
	pub fn revoked(&self, grant: &Grant) -> Option<AuthError> {
		if let Some(refused) = grant.live_refusal() {
			return Some(refused);
		}
		if let Some(revocations) = &self.revocations
			&& revocations.is_revoked(grant.token_id(), grant.subject())
		{
			return Some(AuthError::TokenRevoked);
		}
		if let Some((kid, thumbprint)) = grant.key()
			&& (self.keys.is_some() || !self.jwks_urls.is_empty() || !self.discovering.is_empty())
			&& !self.keys.as_ref().is_some_and(|keys| keys.holds(kid, thumbprint))
			&& !self.jwks_urls.iter().any(|jwks| jwks.holds(kid, thumbprint))
			&& !self
				.discovering
				.iter()
				.filter_map(|identity| identity.discovered_set())
				.any(|jwks| jwks.holds(kid, thumbprint))
		{
			return Some(AuthError::KeyRevoked);
		}
		None
	}

	/// The policy with one more verifier, placed in the chain by its [`Stage`].
	pub fn with_verifier(mut self, verifier: Arc<dyn Verifier>) -> Self {
		self.chain.push(verifier);
		self
	}

	/// The policy that also accepts Privacy Pass tokens and challenges sessions without a credential.
	pub fn with_privacy_pass(mut self, privacy_pass: PrivacyPass) -> Self {
		let privacy_pass = Arc::new(privacy_pass);
		self.privacy_pass = Some(privacy_pass.clone());
		self.with_verifier(Arc::new(privacy_pass::Redeemer(privacy_pass)))
	}

	/// The policy that also accepts these API keys.
	pub fn with_api_keys(self, keys: ApiKeys) -> Self {
		self.with_verifier(Arc::new(keys))
	}

	/// The policy that asks this auth service about credentials no local verifier recognizes.
	pub fn with_service(mut self, service: AuthService) -> Self {
		let service = Arc::new(service);
		self.service = Some(service.clone());
		self.with_verifier(service)
	}

	/// The policy with these public prefixes instead.
	pub fn with_public(mut self, public: Public) -> Self {
		self.public = public;
		self
	}

	/// The Privacy Pass verifier, when enabled.
	pub fn privacy_pass(&self) -> Option<&Arc<PrivacyPass>> {
		self.privacy_pass.as_ref()
	}

	/// The delegated auth service, when configured (its signing key's public half is served at
	/// `/.well-known/jwks.json`).
	pub fn service(&self) -> Option<&Arc<AuthService>> {
		self.service.as_ref()
	}

	/// The verifiers, in the order they are asked.
	pub fn chain(&self) -> &Chain {
		&self.chain
	}

	/// The anonymous prefixes.
	pub fn public(&self) -> &Public {
		&self.public
	}

	/// Whether any credential is verified (token keys, API keys, Privacy Pass or an auth service).
	pub fn verifies_tokens(&self) -> bool {
		!self.chain.is_empty()
	}

	/// Decides a session: its grant, or why it is refused (in the order of the module doc).
	///
	/// Async because a Privacy Pass nonce may live in Redis, the issuer keys in a directory, and a
	/// credential may go to the auth service; every such wait is bounded.
	pub async fn authorize(&self, request: &ConnectRequest) -> Result<Grant, AuthError> {
		self.decide(request).await.1
	}

	/// [`Auth::authorize`], and what the decision was made from (for the decision-time metric).
	pub async fn decide(&self, request: &ConnectRequest) -> (CredentialKind, Result<Grant, AuthError>) {
		self.decide_with(request, None).await
	}

	/// [`Auth::decide`], recorded in `metrics`: the decision time and outcome by verifier, and
	/// what the verifiers waited on (the auth service's latency and cache).
	pub async fn admit(
		&self,
		request: &ConnectRequest,
		metrics: &Metrics,
	) -> (CredentialKind, Result<Grant, AuthError>) {
		let started = std::time::Instant::now();
		let (kind, decided) = self.decide_with(request, Some(metrics)).await;
		metrics.auth_decided(kind, started.elapsed());
		metrics.auth_outcome(kind, decided.as_ref().err().map(AuthError::code));
		(kind, decided)
	}

	async fn decide_with(
		&self,
		request: &ConnectRequest,
		metrics: Option<&Metrics>,
	) -> (CredentialKind, Result<Grant, AuthError>) {
		let path = request.path();
		let credential = match request.credential() {
			Ok(None) if self.session_cookies => Ok(request.session_cookie()),
			other => other,
		};
		match credential {
			Err(err) => (CredentialKind::Invalid, Err(err)),
			Ok(Some(credential)) => {
				let (kind, decided) = self.chain.judge(&credential, request, metrics).await;
				let decided = decided.and_then(|grant| match self.revoked(&grant) {
					Some(revoked) => Err(revoked),
					None => Ok(grant),
				});
				(kind, decided)
			}
			Ok(None) => match self.anonymous(path) {
				Ok(grant) => (CredentialKind::Public, Ok(grant)),
				Err(missing) => match (&self.privacy_pass, &self.auth_url) {
					(Some(pp), _) if pp.covers(path) => (CredentialKind::None, Err(pp.challenge().await)),
					// Upstream's contract: the auth server decides sessions without a credential too.
					(_, Some(auth_url)) => (CredentialKind::Service, auth_url.connect(request, None).await),
					_ => (CredentialKind::None, Err(missing)),
				},
			},
		}
	}

	/// `docs/auth.md`: "No credential: the anonymous grant of `auth.public`". A session at or below
	/// a public prefix may do everything below its root; a session above one reaches only the
	/// public subtree.
	fn anonymous(&self, root: &Path) -> Result<Grant, AuthError> {
		let publish = self.public.publish.rebase(root);
		let subscribe = self.public.subscribe.rebase(root);
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
		let subtrees = |list: &[&str]| {
			moq_token::Patterns::subtrees(list.iter().map(|p| path(p)).collect::<Vec<_>>().iter()).unwrap()
		};
		let public = Public {
			publish: subtrees(&["ingest"]),
			subscribe: subtrees(&["live", "ingest"]),
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

	/// Upstream's public grants are patterns (`--auth-public '*/screen'`): matched exactly as a
	/// token's, wherever the session connects.
	#[tokio::test]
	async fn public_patterns_match_like_token_patterns() {
		let screens: moq_token::Patterns = ["*/screen".parse::<moq_token::Pattern>().unwrap()]
			.into_iter()
			.collect();
		let auth = Auth::new(
			Public {
				publish: moq_token::Patterns::new(),
				subscribe: screens,
			},
			None,
		);
		let top = auth.authorize(&req("/")).await.unwrap();
		assert!(top.can_subscribe(&path("alice/screen")) && !top.can_subscribe(&path("alice/cam")));
		assert!(!top.can_publish(&path("alice/screen")));
		let alice = auth.authorize(&req("/alice")).await.unwrap();
		assert!(alice.can_subscribe(&path("screen")) && !alice.can_subscribe(&path("screen/x")));
		assert_eq!(
			auth.authorize(&req("/alice/cam")).await.unwrap_err().code(),
			"missing_credential"
		);
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

	/// API keys are compared first; a JWT the MoQ keys recognize is theirs to decide; a credential
	/// nobody recognizes is refused with the most specific reason.
	#[tokio::test]
	async fn api_keys_come_first_then_the_moq_keys() {
		let dir = std::env::temp_dir().join(format!("moq-relay-auth-chain-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		let key = Key::generate(Algorithm::HS256, Some(KeyId::new("k").unwrap())).unwrap();
		key.to_file(dir.join("root.jwk"), KeyFormat::Base64Url).unwrap();
		let store = KeyStore::new(vec![KeySource::File(dir.join("root.jwk"))]).unwrap();
		let claims = Claims::new(path("room"))
			.with_subscribe(Path::root())
			.with_expires(moq_token::unix_now() + 60);
		let token = key.sign(&claims).unwrap();
		// A JWT configured as an API key too: the API key wins, with its own (wider) grant.
		let keys = ApiKeys::new(vec![
			ApiKeySettings {
				name: "ops".into(),
				key: "ops-secret".into(),
				root: Path::root(),
				publish: None,
				subscribe: None,
			},
			ApiKeySettings {
				name: "shadow".into(),
				key: token.clone(),
				root: Path::root(),
				publish: None,
				subscribe: None,
			},
		])
		.unwrap();
		let auth = Auth::new(Public::default(), Some(store)).with_api_keys(keys);

		let (kind, grant) = auth.decide(&req(&format!("/room?jwt={token}"))).await;
		assert_eq!(
			(kind, grant.unwrap().subject()),
			(CredentialKind::ApiKey, Some("api_key:shadow"))
		);
		let (kind, grant) = auth.decide(&req("/any?auth_id=ops-secret")).await;
		assert_eq!(kind, CredentialKind::ApiKey);
		assert!(grant.unwrap().can_publish(&path("x")));

		let other = key.sign(&claims.clone().with_publish(Path::root())).unwrap();
		let (kind, grant) = auth.decide(&req(&format!("/room?token={other}"))).await;
		assert_eq!((kind, grant.unwrap().subject()), (CredentialKind::Jwt, Some("kid:k")));
		let (kind, refused) = auth.decide(&req(&format!("/room?jwt={other}x"))).await;
		assert_eq!(
			(kind, refused.unwrap_err().reason().as_str()),
			(CredentialKind::Jwt, "invalid_token: bad_signature")
		);

		let foreign = Key::generate(Algorithm::HS256, Some(KeyId::new("elsewhere").unwrap())).unwrap();
		let foreign = foreign.sign(&claims).unwrap();
		for (target, reason) in [
			(format!("/room?jwt={foreign}"), "invalid_token: unknown_kid"),
			("/room?jwt=wrong-key".to_string(), "unauthorized"),
		] {
			assert_eq!(auth.authorize(&req(&target)).await.unwrap_err().reason(), reason);
		}
		let header = req("/room").with_headers(&{
			let mut h = axum::http::HeaderMap::new();
			h.insert(API_KEY_HEADER, token.parse().unwrap());
			h
		});
		// The kyutai-api-key header holds API keys only: this JWT is one (`shadow`)...
		assert_eq!(
			auth.authorize(&header.unwrap()).await.unwrap().subject(),
			Some("api_key:shadow")
		);
		let header = req("/room").with_headers(&{
			let mut h = axum::http::HeaderMap::new();
			h.insert(API_KEY_HEADER, other.parse().unwrap());
			h
		});
		// ...and a valid JWT that is not an API key is refused there.
		assert_eq!(
			auth.authorize(&header.unwrap()).await.unwrap_err().code(),
			"unauthorized"
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
			redis_root_cert: None,
			root: path("rooms"),
			publish: vec![],
			subscribe: vec![Path::root()],
			challenge_ttl: std::time::Duration::from_secs(60),
			redemption_context: RedemptionContext::Fresh,
			origins: vec![],
			setup_token_type: 2,
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
