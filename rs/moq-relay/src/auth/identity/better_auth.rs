//! The Better Auth preset (`preset = "better-auth"`, `docs/auth.md`, "Better Auth"): one entry that
//! accepts what a Better Auth app already issues.
//!
//! - The JWT plugin's tokens (`/api/auth/token`, or the `set-auth-jwt` header): verified with the
//!   app's key set at `{base_url}/api/auth/jwks` (EdDSA by default; ES256, RS256 and PS256 too),
//!   `iss` and `aud` the app's base URL, as the plugin writes them by default.
//! - The cookie cache in its `jwt` strategy (the `better-auth.session_data` cookie's value): HS256
//!   with the app's secret (`BETTER_AUTH_SECRET`), claims `{"session": {…}, "user": {…}}` read as
//!   `sub` = the user's id, `email` and `name` from the user.
//! - The session cookie (`better-auth.session_token`, or `__Secure-better-auth.session_token`) on
//!   HTTP requests and WebSocket upgrades: checked against `{base_url}/api/auth/get-session`
//!   ([`SessionCheck`]), whose `{"session": {…}, "user": {…}}` reads like the cookie cache's claims.
//!   An allow is remembered briefly ([`SESSION_CACHE`]); a refusal never is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use moq_token::ErrorCode;
use serde_json::{Value, json};

use super::{GrantTemplate, IdentityKeys, IdentitySettings, Shape};
use crate::auth::{AuthError, JwksUrl, JwksUrlError, JwksUrlSettings, Unavailable};
use crate::config::SecretString;

/// The name suffix of the cookie cache's identity (`<name>:cookie-cache` in subjects and logs).
const COOKIE_CACHE_SUFFIX: &str = ":cookie-cache";

/// The name suffix of the session cookie's identity (`<name>:session`).
const SESSION_SUFFIX: &str = ":session";

/// How long an allowed session cookie is remembered (never past the session's `expiresAt`): a
/// signed-out session's cookie is refused at most this long after the sign-out.
pub const SESSION_CACHE: Duration = Duration::from_secs(10);

/// How many allowed session cookies are remembered at most.
const SESSION_CACHE_ENTRIES: usize = 10_000;

/// A Better Auth app.
#[derive(Clone, Debug)]
pub struct BetterAuth {
	/// The entry's name.
	pub name: String,
	/// The app's `baseURL`, exactly as configured there (`https://app.example`): the JWT plugin's
	/// `iss` and `aud`, and where its key set is.
	pub base_url: String,
	/// The app's secret (`BETTER_AUTH_SECRET`), for the cookie cache; without it, only the JWT
	/// plugin's tokens are accepted.
	pub secret: Option<SecretString>,
	/// The grant, from the claims (`sub` is the user's id).
	pub grant: GrantTemplate,
	/// Clock skew tolerated on `exp` and `nbf`.
	pub leeway: Duration,
	/// How the key set is fetched (its URL is `{base_url}/api/auth/jwks`).
	pub jwks: JwksUrlSettings,
}

impl BetterAuth {
	/// The key set's URL.
	pub fn jwks_url(&self) -> String {
		format!("{}/api/auth/jwks", self.base_url.trim_end_matches('/'))
	}

	/// The session endpoint's URL.
	pub fn get_session_url(&self) -> String {
		format!("{}/api/auth/get-session", self.base_url.trim_end_matches('/'))
	}

	/// The identities the preset stands for: the JWT plugin's, the session cookie's, and the cookie
	/// cache's when the secret is known.
	pub fn identities(&self) -> Result<Vec<IdentitySettings>, JwksUrlError> {
		let jwks = JwksUrl::for_identity(JwksUrlSettings {
			url: self.jwks_url(),
			..self.jwks.clone()
		})?;
		let mut identities = vec![IdentitySettings {
			name: self.name.clone(),
			keys: IdentityKeys::Jwks(Arc::new(jwks)),
			algorithms: vec![Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256, Algorithm::PS256],
			issuer: Some(self.base_url.clone()),
			audience: vec![self.base_url.clone()],
			leeway: self.leeway,
			grant: self.grant.clone(),
			shape: Shape::Plain,
		}];
		identities.push(IdentitySettings {
			name: format!("{}{SESSION_SUFFIX}", self.name),
			keys: IdentityKeys::Session(Arc::new(SessionCheck::new(self.get_session_url(), self.jwks.timeout)?)),
			algorithms: Vec::new(),
			issuer: None,
			audience: Vec::new(),
			leeway: self.leeway,
			grant: self.grant.clone(),
			shape: Shape::BetterAuthCookieCache,
		});
		if let Some(secret) = &self.secret {
			identities.push(IdentitySettings {
				name: format!("{}{COOKIE_CACHE_SUFFIX}", self.name),
				keys: IdentityKeys::Secret(secret.expose().as_bytes().to_vec()),
				algorithms: vec![Algorithm::HS256],
				issuer: None,
				audience: Vec::new(),
				leeway: self.leeway,
				grant: self.grant.clone(),
				shape: Shape::BetterAuthCookieCache,
			});
		}
		Ok(identities)
	}
}

/// Checks session cookies with the app's `get-session` endpoint, remembering allows briefly.
pub struct SessionCheck {
	url: String,
	client: reqwest::Client,
	/// Allowed cookies (`name=value`): the session's claims, and until when they are trusted.
	allowed: Mutex<HashMap<String, (Value, tokio::time::Instant)>>,
}

impl std::fmt::Debug for SessionCheck {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		// The cache's keys are cookies: never shown.
		f.debug_struct("SessionCheck")
			.field("url", &self.url)
			.finish_non_exhaustive()
	}
}

impl SessionCheck {
	/// A check against `url` (`{base_url}/api/auth/get-session`), each call bounded by `timeout`.
	pub fn new(url: String, timeout: Duration) -> Result<Self, JwksUrlError> {
		// The base URL's scheme and host were checked with the key set's URL.
		reqwest::Url::parse(&url).map_err(|_| JwksUrlError::Scheme)?;
		let client = reqwest::Client::builder()
			.timeout(timeout)
			.redirect(reqwest::redirect::Policy::none())
			.build()
			.map_err(|err| JwksUrlError::Client(err.to_string()))?;
		Ok(Self {
			url,
			client,
			allowed: Mutex::new(HashMap::new()),
		})
	}

	/// The claims of the session `cookie` (`name=value`) stands for: `{"session", "user", "exp"}`
	/// with `exp` the session's `expiresAt`. A cookie the app does not know (signed out, expired,
	/// forged) is `invalid_token: expired`; an app that cannot be asked refuses too, never admits.
	pub async fn claims(&self, cookie: &str) -> Result<Value, AuthError> {
		let now = tokio::time::Instant::now();
		if let Some((claims, until)) = self.allowed.lock().unwrap_or_else(|e| e.into_inner()).get(cookie)
			&& *until > now
		{
			return Ok(claims.clone());
		}
		let response = self
			.client
			.get(&self.url)
			.header(reqwest::header::COOKIE, cookie)
			.header(reqwest::header::ACCEPT, "application/json")
			.send()
			.await
			.map_err(|err| {
				AuthError::ServiceUnavailable(if err.is_timeout() {
					Unavailable::Timeout
				} else {
					Unavailable::Connection
				})
			})?;
		let status = response.status();
		let gone = AuthError::InvalidToken(ErrorCode::Expired);
		if status == reqwest::StatusCode::UNAUTHORIZED {
			return Err(gone);
		}
		if !status.is_success() {
			return Err(AuthError::ServiceError {
				status: status.as_u16(),
				body: Default::default(),
			});
		}
		let body = response
			.bytes()
			.await
			.map_err(|_| AuthError::ServiceUnavailable(Unavailable::Connection))?;
		let answer: Value = serde_json::from_slice(&body).map_err(|_| AuthError::ServiceError {
			status: status.as_u16(),
			body: Default::default(),
		})?;
		let (Some(session), Some(user)) = (
			answer.get("session").filter(|s| s.is_object()),
			answer.get("user").filter(|u| u.is_object()),
		) else {
			return Err(gone);
		};
		let expires = session
			.get("expiresAt")
			.and_then(Value::as_str)
			.and_then(|at| humantime::parse_rfc3339(at).ok())
			.and_then(|at| at.duration_since(UNIX_EPOCH).ok())
			.ok_or(AuthError::InvalidToken(ErrorCode::InvalidClaim))?;
		let left = expires
			.checked_sub(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default())
			.filter(|left| !left.is_zero())
			.ok_or(gone)?;
		let claims = json!({"session": session, "user": user, "exp": expires.as_secs()});
		let mut allowed = self.allowed.lock().unwrap_or_else(|e| e.into_inner());
		if allowed.len() >= SESSION_CACHE_ENTRIES {
			allowed.retain(|_, (_, until)| *until > now);
			if allowed.len() >= SESSION_CACHE_ENTRIES {
				allowed.clear();
			}
		}
		allowed.insert(cookie.to_string(), (claims.clone(), now + SESSION_CACHE.min(left)));
		Ok(claims)
	}
}

/// The claims of a cookie-cache JWT as a template reads them.
pub(super) fn cookie_cache_claims(claims: Value) -> Result<Value, AuthError> {
	let invalid = AuthError::InvalidToken(ErrorCode::InvalidClaim);
	let user = claims.get("user").filter(|u| u.is_object()).ok_or(invalid.clone())?;
	let id = user.get("id").and_then(Value::as_str).ok_or(invalid)?;
	Ok(json!({
		"sub": id,
		"email": user.get("email"),
		"name": user.get("name"),
		"user": user,
		"session": claims.get("session"),
		"exp": claims.get("exp"),
	}))
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::sync::atomic::{AtomicUsize, Ordering};

	/// A get-session endpoint answering `answer` (status, body), counting its calls and checking
	/// it was sent the cookie.
	async fn app(status: u16, body: String) -> (String, Arc<AtomicUsize>) {
		let calls = Arc::new(AtomicUsize::new(0));
		let counted = calls.clone();
		let route = axum::routing::get(move |headers: axum::http::HeaderMap| {
			let counted = counted.clone();
			let body = body.clone();
			async move {
				counted.fetch_add(1, Ordering::SeqCst);
				assert_eq!(headers["cookie"], "better-auth.session_token=t.sig");
				(axum::http::StatusCode::from_u16(status).unwrap(), body)
			}
		});
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let url = format!("http://{}/api/auth/get-session", listener.local_addr().unwrap());
		let router = axum::Router::new().route("/api/auth/get-session", route);
		tokio::spawn(async move { axum::serve(listener, router).await });
		(url, calls)
	}

	fn session(expires_in: i64) -> String {
		let by = Duration::from_secs(expires_in.unsigned_abs());
		let at = if expires_in < 0 {
			SystemTime::now() - by
		} else {
			SystemTime::now() + by
		};
		json!({
			"session": {"id": "s-1", "userId": "u-1", "expiresAt": humantime::format_rfc3339_millis(at).to_string()},
			"user": {"id": "u-1", "email": "a@example.com", "name": "A"},
		})
		.to_string()
	}

	async fn asked(status: u16, body: String) -> (Result<Value, AuthError>, SessionCheck, Arc<AtomicUsize>) {
		let (url, calls) = app(status, body).await;
		let check = SessionCheck::new(url, Duration::from_secs(2)).unwrap();
		(check.claims("better-auth.session_token=t.sig").await, check, calls)
	}

	/// `BETTER_AUTH_SECRET` and a key set URL's query never reach `Debug` output (logs, panics).
	#[test]
	fn debug_output_never_shows_the_secret() {
		let secret = "better-auth-secret-Zq81";
		let app = BetterAuth {
			name: "app".into(),
			base_url: "https://app.example".into(),
			secret: Some(SecretString::from(secret)),
			grant: GrantTemplate {
				root: "users/{sub}".into(),
				publish: vec!["**".into()],
				subscribe: vec!["**".into()],
			},
			leeway: Duration::from_secs(5),
			jwks: JwksUrlSettings {
				url: "https://keys.example/jwks.json?token=query-secret-Qw7".into(),
				timeout: Duration::from_secs(5),
				min_refresh: Duration::from_secs(30),
				max_refresh: Duration::from_secs(300),
			},
		};
		let identities = app.identities().unwrap();
		assert!(matches!(identities.last().unwrap().keys, IdentityKeys::Secret(_)));
		// The secret's bytes as `Vec<u8>`'s `Debug` would list them.
		let bytes = format!("{:?}", &secret.as_bytes()[..4]);
		let bytes = bytes.trim_matches(|c| c == '[' || c == ']');
		for shown in [format!("{app:?}"), format!("{identities:?}"), format!("{:?}", app.jwks)] {
			assert!(!shown.contains(secret) && !shown.contains(bytes), "{shown}");
			assert!(!shown.contains("query-secret-Qw7"), "{shown}");
		}
		assert!(format!("{:?}", app.jwks).contains("https://keys.example/jwks.json"));
		assert!(format!("{identities:?}").contains("Secret(<redacted>)"));
	}

	#[tokio::test]
	async fn an_allowed_session_is_remembered_and_the_rest_refused() {
		let (claims, check, calls) = asked(200, session(3600)).await;
		let claims = claims.unwrap();
		assert_eq!(cookie_cache_claims(claims.clone()).unwrap()["sub"], "u-1");
		assert!(claims["exp"].as_u64().unwrap() > moq_token::unix_now());
		check.claims("better-auth.session_token=t.sig").await.unwrap();
		assert_eq!(calls.load(Ordering::SeqCst), 1, "the allow is remembered");
		assert!(!format!("{check:?}").contains("t.sig"));

		let gone = AuthError::InvalidToken(ErrorCode::Expired);
		for (status, body) in [(200, "null".to_string()), (401, String::new()), (200, session(-60))] {
			let (refused, check, calls) = asked(status, body.clone()).await;
			assert_eq!(refused.unwrap_err(), gone, "{status} {body}");
			let _ = check.claims("better-auth.session_token=t.sig").await;
			assert_eq!(calls.load(Ordering::SeqCst), 2, "a refusal is not remembered");
		}
		let (failed, _, _) = asked(500, "oops".into()).await;
		assert_eq!(failed.unwrap_err().code(), "auth_service_error");
	}

	#[test]
	fn the_cookie_cache_reads_as_the_user() {
		let claims = json!({
			"session": {"id": "s-1", "userId": "u-1"},
			"user": {"id": "u-1", "email": "a@example.com", "name": "A"},
			"updatedAt": 1, "version": "1", "iat": 10, "exp": 20,
		});
		let read = cookie_cache_claims(claims).unwrap();
		assert_eq!((read["sub"].as_str(), read["exp"].as_u64()), (Some("u-1"), Some(20)));
		assert_eq!(read["email"], "a@example.com");
		assert_eq!(
			cookie_cache_claims(json!({"user": {"email": "x"}}))
				.unwrap_err()
				.reason(),
			"invalid_token: invalid_claim"
		);
	}
}
