//! Identity tokens (`[[auth.identity]]`, `docs/auth.md`, "OIDC / JWKS" and "Better Auth"): the JWTs
//! a login system already issues (an OIDC provider's ID or access tokens, Better Auth's), verified
//! with the issuer's JWKS URL (or OIDC discovery document) or a shared secret, with the algorithms
//! pinned, `iss`, `aud` and `exp`/`nbf` (within a clock skew) checked, and the grant made from
//! templates over the claims ([`GrantTemplate`]).
//!
//! A token is an identity's when the identity can name its key: its `kid` is in the issuer's key
//! set, or, with a shared secret, its signature verifies (or its `iss` is the identity's). That
//! identity's verdict is final; any other token is passed on.

mod better_auth;
mod template;

pub use better_auth::{BetterAuth, SESSION_CACHE, SessionCheck};
pub use template::{GrantTemplate, TemplateError};

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use moq_token::ErrorCode;
use serde_json::Value;

use super::verifier::{Explanation, Judged, Stage, Verdict, Verifier};
use super::{AuthError, ConnectRequest, Credential, CredentialKind, Grant, JwksUrl, JwksUrlSettings};
use crate::metrics::Metrics;

/// Where an identity's verification keys come from.
pub enum IdentityKeys {
	/// A JWKS URL, refreshed like `[auth] jwks_url`.
	Jwks(Arc<JwksUrl>),
	/// An OIDC discovery document (`…/.well-known/openid-configuration`): its `jwks_uri` is
	/// fetched on first use, and its `issuer` is required unless `issuer` is set.
	Discovery {
		/// The document's URL.
		url: String,
		/// How its key set is fetched and refreshed (the URL is filled in from the document).
		settings: JwksUrlSettings,
		/// The key set, once the document was read.
		jwks: Discovered,
	},
	/// A shared secret (HMAC).
	Secret(Vec<u8>),
	/// No keys: Better Auth's session cookie, checked with the app ([`SessionCheck`]).
	Session(Arc<SessionCheck>),
}

impl std::fmt::Debug for IdentityKeys {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			Self::Jwks(jwks) => f.debug_tuple("Jwks").field(jwks).finish(),
			Self::Discovery { url, settings, jwks } => f
				.debug_struct("Discovery")
				.field("url", url)
				.field("settings", settings)
				.field("jwks", jwks)
				.finish(),
			Self::Secret(_) => f.write_str("Secret(<redacted>)"),
			Self::Session(check) => f.debug_tuple("Session").field(check).finish(),
		}
	}
}

/// The key set a discovery document named (with the issuer it names), once the document was read,
/// and a signal for the relay's refresh task, which waits for it.
#[derive(Debug)]
pub struct Discovered {
	cell: tokio::sync::OnceCell<(Arc<JwksUrl>, Option<String>)>,
	found: tokio::sync::watch::Sender<bool>,
}

impl Default for Discovered {
	fn default() -> Self {
		Self {
			cell: tokio::sync::OnceCell::new(),
			found: tokio::sync::watch::Sender::new(false),
		}
	}
}

/// How the claims of a verified token read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
	/// Claims at the top level (`sub`, `email`, …), as OIDC and Better Auth's JWT plugin write them.
	Plain,
	/// Better Auth's cookie cache: `{"session": {…}, "user": {…}}`, read as `sub` = `user.id`,
	/// `email`, `name` from `user`, and `user`/`session` as they are.
	BetterAuthCookieCache,
}

/// One identity issuer.
#[derive(Debug)]
pub struct IdentitySettings {
	/// Its name (logs, metrics, the grant's subject `identity:<name>:<sub>`).
	pub name: String,
	/// Its keys.
	pub keys: IdentityKeys,
	/// The algorithms its tokens may use (any other is refused).
	pub algorithms: Vec<Algorithm>,
	/// The `iss` its tokens must carry.
	pub issuer: Option<String>,
	/// An `aud` its tokens must carry (one of these); empty: not checked.
	pub audience: Vec<String>,
	/// Clock skew tolerated on `exp` and `nbf`.
	pub leeway: Duration,
	/// The grant, from the claims.
	pub grant: GrantTemplate,
	/// How the claims read.
	pub shape: Shape,
}

/// The verifier of one identity issuer.
#[derive(Debug)]
pub struct Identity {
	settings: IdentitySettings,
	subject_prefix: String,
}

impl Identity {
	/// A verifier for `settings`.
	pub fn new(settings: IdentitySettings) -> Self {
		Self {
			subject_prefix: format!("identity:{}:", settings.name),
			settings,
		}
	}

	/// Its name.
	pub fn name(&self) -> &str {
		&self.settings.name
	}

	/// Whether it verifies Better Auth's session cookie.
	pub fn checks_sessions(&self) -> bool {
		matches!(self.settings.keys, IdentityKeys::Session(_))
	}

	/// Its JWKS URL, when its keys are one (so the relay refreshes it on schedule).
	pub fn jwks_url(&self) -> Option<&Arc<JwksUrl>> {
		match &self.settings.keys {
			IdentityKeys::Jwks(jwks) => Some(jwks),
			_ => None,
		}
	}

	/// Whether it uses an OIDC discovery document (whose key set the relay refreshes once read).
	pub fn discovers(&self) -> bool {
		matches!(self.settings.keys, IdentityKeys::Discovery { .. })
	}

	/// The key set its discovery document names, once a token made the relay read the document
	/// (waiting until then); `None` for an identity without one.
	pub async fn discovered_jwks(&self) -> Option<Arc<JwksUrl>> {
		let IdentityKeys::Discovery { jwks, .. } = &self.settings.keys else {
			return None;
		};
		let mut found = jwks.found.subscribe();
		found.wait_for(|found| *found).await.ok()?;
		self.discovered_set().cloned()
	}

	/// The key set its discovery document names, if a token already made the relay read it (a
	/// live session's key is looked up there: the session ends when its key leaves the set).
	pub fn discovered_set(&self) -> Option<&Arc<JwksUrl>> {
		match &self.settings.keys {
			IdentityKeys::Discovery { jwks, .. } => jwks.cell.get().map(|(set, _)| set),
			_ => None,
		}
	}

	/// The key set of a discovery document, reading the document on first use (bounded by the
	/// fetch timeout), and the issuer it names.
	async fn discovered<'a>(
		&self,
		url: &str,
		settings: &JwksUrlSettings,
		discovered: &'a Discovered,
	) -> Option<&'a (Arc<JwksUrl>, Option<String>)> {
		let read = async {
			let client = reqwest::Client::builder()
				.timeout(settings.timeout)
				.build()
				.map_err(|_| ())?;
			let body = client
				.get(url)
				.send()
				.await
				.and_then(|r| r.error_for_status())
				.map_err(|_| ())?
				.bytes()
				.await
				.map_err(|_| ())?;
			let document: Value = serde_json::from_slice(&body).map_err(|_| ())?;
			let jwks_uri = document.get("jwks_uri").and_then(Value::as_str).ok_or(())?;
			let issuer = document.get("issuer").and_then(Value::as_str).map(str::to_string);
			let jwks = JwksUrl::for_identity(JwksUrlSettings {
				url: jwks_uri.to_string(),
				..settings.clone()
			})
			.map_err(|_| ())?;
			Ok::<_, ()>((Arc::new(jwks), issuer))
		};
		match tokio::time::timeout(settings.timeout, discovered.cell.get_or_try_init(|| read)).await {
			Ok(Ok(found)) => {
				discovered
					.found
					.send_if_modified(|found| !std::mem::replace(found, true));
				Some(found)
			}
			_ => {
				tracing::warn!(identity = %self.settings.name, "OIDC discovery document unreadable");
				None
			}
		}
	}

	async fn verify(&self, token: &str, request: &ConnectRequest) -> Verdict {
		let pass = |error: AuthError, weight: u8| Verdict::PassOn(Some(Explanation { error, weight }));
		let Ok(header) = jsonwebtoken::decode_header(token) else {
			return pass(AuthError::InvalidToken(ErrorCode::Malformed), 0);
		};
		if !self.settings.algorithms.contains(&header.alg) {
			return Verdict::PassOn(None);
		}
		let mut issuer = self.settings.issuer.clone();
		// The key of a key set, by kid and thumbprint: the grant remembers it, so that the session
		// ends when the key leaves the set.
		let (key, shared, tracked) = match &self.settings.keys {
			IdentityKeys::Secret(secret) => (DecodingKey::from_secret(secret), true, None),
			IdentityKeys::Session(_) => return Verdict::PassOn(None),
			IdentityKeys::Jwks(jwks) => match self.entry(jwks, header.kid.as_deref()).await {
				Ok((key, thumbprint)) => (key, false, Some(thumbprint)),
				Err(verdict) => return verdict,
			},
			IdentityKeys::Discovery { url, settings, jwks } => {
				let Some((jwks, named)) = self.discovered(url, settings, jwks).await else {
					return pass(AuthError::InvalidToken(ErrorCode::UnknownKid), 1);
				};
				if issuer.is_none() {
					issuer = named.clone();
				}
				match self.entry(jwks, header.kid.as_deref()).await {
					Ok((key, thumbprint)) => (key, false, Some(thumbprint)),
					Err(verdict) => return verdict,
				}
			}
		};
		let mut validation = Validation::new(header.alg);
		validation.leeway = self.settings.leeway.as_secs();
		if let Some(issuer) = &issuer {
			validation.set_issuer(&[issuer]);
		}
		if self.settings.audience.is_empty() {
			validation.validate_aud = false;
		} else {
			validation.set_audience(&self.settings.audience);
		}
		validation.validate_nbf = true;
		let claims = match jsonwebtoken::decode::<Value>(token, &key, &validation) {
			Ok(data) => data.claims,
			// A shared secret that does not verify the token: someone else's, unless its `iss` says
			// it is this identity's.
			Err(err) if shared && *err.kind() == ErrorKind::InvalidSignature && !self.claims_issuer(token) => {
				return pass(AuthError::InvalidToken(ErrorCode::BadSignature), 1);
			}
			Err(err) => return Verdict::Decided(Err(refusal(err.kind()))),
		};
		let token_id = claims.get("jti").and_then(Value::as_str).map(str::to_string);
		Verdict::Decided(self.grant(claims, request).map(|grant| match tracked {
			Some(thumbprint) => grant.with_token(token_id, header.kid, thumbprint),
			None => grant,
		}))
	}

	/// Whether the token's (unverified) `iss` is this identity's configured issuer.
	fn claims_issuer(&self, token: &str) -> bool {
		let Some(issuer) = &self.settings.issuer else {
			return false;
		};
		let payload = token.split('.').nth(1).and_then(|p| {
			use base64::Engine;
			base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok()
		});
		payload
			.and_then(|p| serde_json::from_slice::<Value>(&p).ok())
			.is_some_and(|claims| claims.get("iss").and_then(Value::as_str) == Some(issuer))
	}

	/// The decoding key of the entry `kid` names and its RFC 7638 thumbprint, or the verdict when
	/// there is none.
	async fn entry(&self, jwks: &JwksUrl, kid: Option<&str>) -> Result<(DecodingKey, String), Verdict> {
		let Some(entry) = jwks.entry_for(kid).await else {
			return Err(Verdict::PassOn(Some(Explanation {
				error: AuthError::InvalidToken(ErrorCode::UnknownKid),
				weight: 1,
			})));
		};
		serde_json::from_value::<jsonwebtoken::jwk::Jwk>(entry.jwk)
			.ok()
			.and_then(|jwk| DecodingKey::from_jwk(&jwk).ok())
			.zip(entry.thumbprint)
			.ok_or(Verdict::Decided(Err(AuthError::InvalidToken(ErrorCode::KeyError))))
	}

	fn grant(&self, claims: Value, request: &ConnectRequest) -> Result<Grant, AuthError> {
		let claims = match self.settings.shape {
			Shape::Plain => claims,
			Shape::BetterAuthCookieCache => better_auth::cookie_cache_claims(claims)?,
		};
		let granted = self.settings.grant.claims(&claims)?;
		let path = request.path();
		let permissions = granted.authorize(path).map_err(AuthError::from)?;
		let expires = claims.get("exp").and_then(Value::as_u64);
		let subject = claims
			.get("sub")
			.and_then(Value::as_str)
			.map(|sub| format!("{}{sub}", self.subject_prefix));
		Ok(Grant::new(path.clone(), permissions.publish, permissions.subscribe)
			.with_expires(expires)
			.with_subject(subject))
	}
}

/// The refusal for a token this identity verified and refused.
fn refusal(kind: &ErrorKind) -> AuthError {
	match kind {
		ErrorKind::ExpiredSignature => AuthError::TokenExpired,
		ErrorKind::InvalidSignature => AuthError::InvalidToken(ErrorCode::BadSignature),
		ErrorKind::ImmatureSignature => AuthError::InvalidToken(ErrorCode::NotYetValid),
		ErrorKind::InvalidAlgorithm => AuthError::InvalidToken(ErrorCode::AlgorithmMismatch),
		ErrorKind::InvalidIssuer
		| ErrorKind::InvalidAudience
		| ErrorKind::InvalidSubject
		| ErrorKind::MissingRequiredClaim(_)
		| ErrorKind::InvalidClaimFormat(_) => AuthError::InvalidToken(ErrorCode::InvalidClaim),
		ErrorKind::InvalidEcdsaKey
		| ErrorKind::InvalidEddsaKey
		| ErrorKind::InvalidRsaKey(_)
		| ErrorKind::InvalidKeyFormat => AuthError::InvalidToken(ErrorCode::KeyError),
		_ => AuthError::InvalidToken(ErrorCode::Malformed),
	}
}

impl Verifier for Identity {
	fn kind(&self) -> CredentialKind {
		CredentialKind::Jwt
	}

	fn stage(&self) -> Stage {
		Stage::Local
	}

	fn judge<'a>(
		&'a self,
		credential: &'a Credential<'a>,
		request: &'a ConnectRequest,
		_metrics: Option<&'a Metrics>,
	) -> Judged<'a> {
		Box::pin(async move {
			match credential {
				Credential::Token(token) => self.verify(token, request).await,
				Credential::SessionCookie(cookie) => match &self.settings.keys {
					IdentityKeys::Session(check) => Verdict::Decided(match check.claims(cookie).await {
						Ok(claims) => self.grant(claims, request),
						Err(refused) => Err(refused),
					}),
					_ => Verdict::PassOn(None),
				},
				_ => Verdict::PassOn(None),
			}
		})
	}
}
