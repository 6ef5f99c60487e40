//! The delegated auth service (`docs/auth.md`, "Delegated auth service"): a credential no local
//! verifier recognizes is sent to an HTTP service the operator runs, which says yes or no.
//!
//! The request: `POST <service_url>`, `Content-Type: application/jwt`, the body a JWT signed with
//! the relay's own key ([`SigningKey`]) carrying `sub` (`[auth] service_subject`), `iat`, `exp` =
//! `iat` + 5 minutes, and `auth_data`: the credential (`token`), `request_body` (`null`: sessions and
//! the relay's routes have none), the request's forwardable headers (never a credential, a cookie
//! or a proxy header, [`forwardable_header`](super::forwardable_header)), `request_path`,
//! `request_method`, and the MoQ facts `transport` and `connection_path`.
//!
//! The answer: 200 allows, with the whole connection path unless a JSON body narrows it
//! (`root`, `publish`/`pub`, `subscribe`/`sub`, `expires`/`exp`, `subject`); 401 and every other 4xx
//! deny (`unauthorized`); 5xx and anything else is `auth_service_error` (HTTP 502); no answer within
//! `[auth] service_timeout`, or no connection, is `auth_service_unavailable` (HTTP 503). Error bodies
//! are read up to 500 characters and shown only in HTTP answers, never logged. Redirects are not
//! followed (the request carries a credential).
//!
//! At most `[auth] service_concurrency` calls are in flight; identical concurrent requests share
//! one; allow answers are remembered per `Cache-Control: max-age` ([`answers`]), never past the
//! credential's own `exp` when it is a JWT, nor past the granted expiry.

mod answers;
mod signing;

pub use signing::{SigningKey, SigningKeyError};

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{Context, SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use moq_token::{Claims, Path};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

use self::answers::{Answers, Lookup};
use super::error::{ServiceBody, Unavailable};
use super::verifier::{Judged, Stage, Verdict, Verifier};
use super::{AuthError, ConnectRequest, Credential, CredentialKind, Grant};
use crate::metrics::Metrics;

/// How long the relay's request JWT is valid (`exp` = `iat` + this).
pub const REQUEST_LIFETIME: Duration = Duration::from_secs(300);
/// The largest 200 answer body read (a grant).
const MAX_GRANT_BODY: usize = 16 * 1024;
/// Enough bytes for [`ServiceBody::MAX_CHARS`] characters of any UTF-8 text.
const MAX_ERROR_BODY: usize = ServiceBody::MAX_CHARS * 4 + 3;
/// A subject from the service's answer is cut to this length.
const MAX_SUBJECT: usize = 64;

/// What [`AuthService::new`] needs; built from `[auth]`.
#[derive(Debug)]
pub struct ServiceSettings {
	/// `[auth] service_url`.
	pub url: String,
	/// `[auth] signing_key`.
	pub key: SigningKey,
	/// `[auth] service_subject`: the request JWT's `sub`.
	pub subject: String,
	/// `[auth] service_timeout`.
	pub timeout: Duration,
	/// `[auth] service_concurrency`.
	pub concurrency: usize,
	/// `[auth] service_cache`: remembered allow answers at most.
	pub cache: usize,
}

/// Why the auth service settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceConfigError {
	/// The URL is not `http://` or `https://`.
	#[error("the auth service URL must be http:// or https://")]
	Url,
	/// The HTTP client could not be built.
	#[error("HTTP client: {0}")]
	Client(String),
}

/// The delegated auth service verifier.
pub struct AuthService {
	url: reqwest::Url,
	client: reqwest::Client,
	key: SigningKey,
	subject: String,
	timeout: Duration,
	permits: Semaphore,
	answers: Answers<Allowed>,
}

impl std::fmt::Debug for AuthService {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		// The URL's path and query may hold a secret of the operator's: only its origin is shown.
		f.debug_struct("AuthService")
			.field("origin", &self.url.origin().ascii_serialization())
			.field("key", &self.key)
			.field("timeout", &self.timeout)
			.field("answers", &self.answers)
			.finish_non_exhaustive()
	}
}

/// What a 200 answer allows: the connection path, narrowed by the answer's body.
#[derive(Debug, Default)]
struct Allowed {
	root: Option<Path>,
	publish: Option<Vec<Path>>,
	subscribe: Option<Vec<Path>>,
	expires: Option<u64>,
	subject: Option<String>,
}

/// A 200 answer's JSON body (every field optional; other fields are ignored).
#[derive(Deserialize)]
struct GrantBody {
	root: Option<String>,
	#[serde(alias = "pub", default, deserialize_with = "one_or_many")]
	publish: Option<Vec<String>>,
	#[serde(alias = "sub", default, deserialize_with = "one_or_many")]
	subscribe: Option<Vec<String>>,
	#[serde(alias = "exp")]
	expires: Option<u64>,
	subject: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
	#[derive(Deserialize)]
	#[serde(untagged)]
	enum OneOrMany {
		One(String),
		Many(Vec<String>),
	}
	Ok(Some(match OneOrMany::deserialize(deserializer)? {
		OneOrMany::One(one) => vec![one],
		OneOrMany::Many(many) => many,
	}))
}

impl Allowed {
	/// Reads a 200 body: not a JSON object (empty, `OK`) allows everything at the path; a JSON
	/// object narrows, and one that cannot be read is the service's error (never a wider grant).
	fn parse(body: &[u8]) -> Result<Self, &'static str> {
		let Ok(serde_json::Value::Object(object)) = serde_json::from_slice::<serde_json::Value>(body) else {
			return Ok(Self::default());
		};
		let body: GrantBody = serde_json::from_value(serde_json::Value::Object(object))
			.map_err(|_| "the grant in the answer has a field of the wrong type")?;
		let path = |p: &String| Path::new(p).map_err(|_| "the grant in the answer has an invalid path");
		let paths = |list: Option<Vec<String>>| {
			list.map(|l| l.iter().map(path).collect::<Result<Vec<_>, _>>())
				.transpose()
		};
		let subject = body.subject.map(|s| {
			s.chars()
				.filter(|c| c.is_ascii_alphanumeric() || "-_.@:".contains(*c))
				.take(MAX_SUBJECT)
				.collect::<String>()
		});
		Ok(Self {
			root: body.root.as_ref().map(path).transpose()?,
			publish: paths(body.publish)?,
			subscribe: paths(body.subscribe)?,
			expires: body.expires,
			subject: subject.filter(|s| !s.is_empty()),
		})
	}

	/// The grant at the request's connection path: like a token's, the root must be the path or
	/// above it, and the prefixes are re-based to it. The root defaults to the connection path, and
	/// an absent list to everything.
	fn grant(&self, path: &Path, credential_expires: Option<u64>) -> Result<Grant, AuthError> {
		let mut claims = Claims::new(self.root.clone().unwrap_or_else(|| path.clone()));
		claims.publish = self.publish.clone().unwrap_or_else(|| vec![Path::root()]).into();
		claims.subscribe = self.subscribe.clone().unwrap_or_else(|| vec![Path::root()]).into();
		let permissions = claims.authorize(path)?;
		let expires = match (self.expires, credential_expires) {
			(Some(a), Some(b)) => Some(a.min(b)),
			(a, b) => a.or(b),
		};
		if expires.is_some_and(|at| at <= moq_token::unix_now()) {
			return Err(AuthError::TokenExpired);
		}
		let subject = match &self.subject {
			Some(subject) => format!("auth_service:{subject}"),
			None => "auth_service".to_string(),
		};
		Ok(Grant::new(path.clone(), permissions.publish, permissions.subscribe)
			.with_expires(expires)
			.with_subject(Some(subject)))
	}
}

/// The `exp` of a credential that is a JWT, read without verifying anything: it only bounds how
/// long an answer about it is remembered, and the session it admits.
fn credential_expiry(token: &str) -> Option<u64> {
	let mut parts = token.split('.');
	let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
		return None;
	};
	let payload = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
	serde_json::from_slice::<serde_json::Value>(&payload)
		.ok()?
		.get("exp")?
		.as_u64()
}

/// Reads at most `max` bytes of a body (the rest is never read).
async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, reqwest::Error> {
	let mut body = Vec::new();
	while body.len() < max {
		match response.chunk().await? {
			Some(chunk) => body.extend_from_slice(&chunk[..chunk.len().min(max - body.len())]),
			None => break,
		}
	}
	Ok(body)
}

impl AuthService {
	/// The service; nothing is contacted until the first credential.
	pub fn new(settings: ServiceSettings) -> Result<Self, ServiceConfigError> {
		let url = reqwest::Url::parse(&settings.url).map_err(|_| ServiceConfigError::Url)?;
		if !matches!(url.scheme(), "http" | "https") {
			return Err(ServiceConfigError::Url);
		}
		let client = reqwest::Client::builder()
			.timeout(settings.timeout)
			.connect_timeout(settings.timeout)
			.redirect(reqwest::redirect::Policy::none())
			.user_agent(concat!("moq-relay/", env!("CARGO_PKG_VERSION")))
			.build()
			.map_err(|e| ServiceConfigError::Client(e.without_url().to_string()))?;
		Ok(Self {
			url,
			client,
			key: settings.key,
			subject: settings.subject,
			timeout: settings.timeout,
			permits: Semaphore::new(settings.concurrency.max(1)),
			answers: Answers::new(settings.cache),
		})
	}

	/// The signing key (its public half is the relay's `/.well-known/jwks.json`).
	pub fn key(&self) -> &SigningKey {
		&self.key
	}

	/// The service's origin (`https://auth.example:443`), for start-up lines: never its path or query.
	pub fn origin(&self) -> String {
		self.url.origin().ascii_serialization()
	}

	/// The signed request body for `token` presented with `request`.
	pub fn request_jwt(&self, token: &str, request: &ConnectRequest) -> Result<String, AuthError> {
		let iat = moq_token::unix_now();
		let headers: serde_json::Map<String, serde_json::Value> = request
			.forwarded_headers()
			.iter()
			.map(|(name, value)| (name.clone(), value.clone().into()))
			.collect();
		let claims = json!({
			"sub": self.subject,
			"iat": iat,
			"exp": iat + REQUEST_LIFETIME.as_secs(),
			"auth_data": {
				"token": token,
				"request_body": null,
				"request_headers": headers,
				"request_path": request.request_path(),
				"request_method": request.method(),
				"transport": request.transport().as_str(),
				"connection_path": request.path().as_str(),
			},
		});
		self.key.sign(&claims).ok_or(AuthError::SigningError)
	}

	/// The key answers are remembered and shared under: everything the service is told that may
	/// change its answer, except the request time and the headers.
	fn answer_key(token: &str, request: &ConnectRequest) -> [u8; 32] {
		let mut context = Context::new(&SHA256);
		for part in [
			token,
			request.path().as_str(),
			request.transport().as_str(),
			request.method(),
			&request.request_path(),
		] {
			context.update(&(part.len() as u64).to_be_bytes());
			context.update(part.as_bytes());
		}
		let mut key = [0; 32];
		key.copy_from_slice(context.finish().as_ref());
		key
	}

	/// Decides `token`: a remembered answer, the answer of a call in flight, or a new call.
	async fn decide(
		&self,
		token: &str,
		request: &ConnectRequest,
		metrics: Option<&Metrics>,
	) -> Result<Grant, AuthError> {
		let expires = credential_expiry(token);
		let flight = match self.answers.lookup(Self::answer_key(token, request)) {
			Lookup::Hit(allowed) => {
				if let Some(m) = metrics {
					m.auth_service_cache("hit");
				}
				return allowed.grant(request.path(), expires);
			}
			Lookup::Call(flight) => flight,
		};
		if let Some(m) = metrics {
			m.auth_service_cache(if flight.joined() { "joined" } else { "miss" });
		}
		let (allowed, _) = flight.run(|| self.call(token, request, expires, metrics)).await?;
		allowed.grant(request.path(), expires)
	}

	/// One call to the service, bounded by the timeout (waiting for a free call slot included).
	async fn call(
		&self,
		token: &str,
		request: &ConnectRequest,
		credential_expires: Option<u64>,
		metrics: Option<&Metrics>,
	) -> answers::Outcome<Allowed> {
		let started = std::time::Instant::now();
		let deadline = tokio::time::Instant::now() + self.timeout;
		let outcome = match tokio::time::timeout_at(deadline, self.permits.acquire()).await {
			Ok(Ok(_permit)) => match tokio::time::timeout_at(deadline, self.ask(token, request)).await {
				Ok(outcome) => outcome,
				Err(_) => Err(AuthError::ServiceUnavailable(Unavailable::Timeout)),
			},
			// Every call slot stayed busy for the whole timeout.
			_ => Err(AuthError::ServiceUnavailable(Unavailable::Overloaded)),
		};
		if let Some(m) = metrics {
			m.auth_service_called(
				match &outcome {
					Ok(_) => "allow",
					Err(AuthError::ServiceDenied { .. }) => "deny",
					Err(AuthError::ServiceUnavailable(_)) => "unavailable",
					Err(_) => "error",
				},
				started.elapsed(),
			);
		}
		let (allowed, max_age) = outcome?;
		// Remembered for the max-age, never past the credential's expiry nor the grant's.
		let now = moq_token::unix_now();
		let left = |at: Option<u64>| at.map(|at| Duration::from_secs(at.saturating_sub(now)));
		let keep = [Some(max_age), left(credential_expires), left(allowed.expires)]
			.into_iter()
			.flatten()
			.min()
			.unwrap_or_default();
		Ok((Arc::new(allowed), keep))
	}

	/// The request and its answer: the allowed grant and the answer's `max-age`.
	async fn ask(&self, token: &str, request: &ConnectRequest) -> Result<(Allowed, Duration), AuthError> {
		let body = self.request_jwt(token, request)?;
		let sent = self
			.client
			.post(self.url.clone())
			.header(reqwest::header::CONTENT_TYPE, "application/jwt")
			.body(body)
			.send()
			.await;
		let unavailable = |err: reqwest::Error| {
			let why = if err.is_timeout() {
				Unavailable::Timeout
			} else {
				Unavailable::Connection
			};
			// Without the URL: its path or query may hold a secret of the operator's.
			tracing::warn!(err = %err.without_url(), "auth service unavailable");
			AuthError::ServiceUnavailable(why)
		};
		let response = sent.map_err(unavailable)?;
		let status = response.status().as_u16();
		if status == 200 {
			let max_age = response
				.headers()
				.get(reqwest::header::CACHE_CONTROL)
				.and_then(|v| v.to_str().ok())
				.and_then(super::privacy_pass::max_age)
				.unwrap_or_default();
			let body = read_capped(response, MAX_GRANT_BODY + 1).await.map_err(unavailable)?;
			let refused = |why: &'static str| {
				tracing::warn!(why, "auth service allowed with a grant the relay cannot use");
				AuthError::ServiceError {
					status,
					body: ServiceBody::new(why),
				}
			};
			if body.len() > MAX_GRANT_BODY {
				return Err(refused("the grant in the answer is too large"));
			}
			let allowed = Allowed::parse(&body).map_err(refused)?;
			return Ok((allowed, max_age));
		}
		let body = read_capped(response, MAX_ERROR_BODY).await.map_err(unavailable)?;
		let body = ServiceBody::new(&String::from_utf8_lossy(&body));
		if (400..500).contains(&status) {
			tracing::debug!(status, "auth service refused a credential");
			Err(AuthError::ServiceDenied { status, body })
		} else {
			tracing::warn!(status, "auth service failed");
			Err(AuthError::ServiceError { status, body })
		}
	}
}

impl Verifier for AuthService {
	fn kind(&self) -> CredentialKind {
		CredentialKind::Service
	}

	fn stage(&self) -> Stage {
		Stage::Delegated
	}

	fn judge<'a>(
		&'a self,
		credential: &'a Credential<'a>,
		request: &'a ConnectRequest,
		metrics: Option<&'a Metrics>,
	) -> Judged<'a> {
		Box::pin(async move {
			match credential {
				Credential::Token(token) => Verdict::Decided(self.decide(token, request, metrics).await),
				_ => Verdict::PassOn(None),
			}
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn p(s: &str) -> Path {
		Path::new(s).unwrap()
	}

	#[test]
	fn answers_allow_the_path_or_narrow_it() {
		let everything = Allowed::parse(b"OK").unwrap().grant(&p("room/1"), None).unwrap();
		assert!(everything.can_publish(&p("x")) && everything.can_subscribe(&p("x")));
		assert_eq!(everything.subject(), Some("auth_service"));
		assert_eq!(everything.root(), &p("room/1"));

		let narrow =
			Allowed::parse(br#"{"root": "room", "publish": [], "sub": "1/live", "subject": "u 42\n"}"#).unwrap();
		let grant = narrow.grant(&p("room/1"), None).unwrap();
		assert!(!grant.can_publish(&p("live")) && grant.can_subscribe(&p("live/cam")));
		assert!(!grant.can_subscribe(&p("other")));
		assert_eq!(grant.subject(), Some("auth_service:u42"));
		assert_eq!(narrow.grant(&p("elsewhere"), None).unwrap_err().code(), "root_mismatch");

		let soon = moq_token::unix_now() + 60;
		let timed = Allowed::parse(format!(r#"{{"exp": {soon}}}"#).as_bytes()).unwrap();
		assert_eq!(timed.grant(&p("a"), Some(soon + 10)).unwrap().expires(), Some(soon));
		assert_eq!(
			Allowed::default().grant(&p("a"), Some(soon)).unwrap().expires(),
			Some(soon)
		);
		assert_eq!(
			Allowed::default().grant(&p("a"), Some(1)).unwrap_err().code(),
			"token_expired"
		);

		assert!(Allowed::parse(br#"{"publish": 7}"#).is_err());
		assert!(Allowed::parse(br#"{"root": "../x"}"#).is_err());
		assert!(Allowed::parse(br#"{"unrelated": true}"#).unwrap().root.is_none());
	}

	#[test]
	fn a_jwt_credential_bounds_its_answer() {
		let payload = URL_SAFE_NO_PAD.encode(br#"{"exp": 1234}"#);
		assert_eq!(credential_expiry(&format!("e30.{payload}.sig")), Some(1234));
		for opaque in ["sk_live_abc", "a.b", "a.b.c.d", "e30.e30.x"] {
			assert_eq!(credential_expiry(opaque), None, "{opaque}");
		}
	}
}
