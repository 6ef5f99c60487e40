//! MoQ token keys fetched from a JWKS URL (`[auth] jwks_url`, `docs/auth.md`, "OIDC / JWKS").
//!
//! The set is fetched with `reqwest` (HTTPS; plain HTTP only to a loopback host), refreshed when
//! its `Cache-Control: max-age` says, kept between [`JwksUrlSettings::min_refresh`] and
//! [`JwksUrlSettings::max_refresh`]. A refresh that fails keeps the last good set (stated on `/ready`
//! and by `moq_relay_jwks_stale`), so an identity provider's outage locks no one out. A token whose
//! `kid` the set lacks makes one refetch, at most every `min_refresh` (so a flood of made-up kids
//! cannot flood the provider), bounded by the fetch timeout: admission never waits longer.
//!
//! A key that leaves the set ends the sessions it admitted within `max_refresh` (the relay's
//! revocation watch closes them with `key_revoked`); a new key works as soon as it is fetched.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use moq_token::{ErrorCode, Key, Validation};
use tokio::sync::watch;

use super::auth_url::redact;
use super::verifier::{Explanation, Judged, Stage, Verdict, Verifier};
use super::{AuthError, ConnectRequest, Credential, CredentialKind, Grant};
use crate::metrics::Metrics;

/// A JWKS document is refused above this size.
const MAX_BODY: usize = 1 << 20;

/// How a JWKS URL is fetched and refreshed. `Debug` shows the URL without its userinfo and query.
#[derive(Clone)]
pub struct JwksUrlSettings {
	/// `https://…/jwks.json` (`http://` only to `localhost`, `127.0.0.0/8` or `[::1]`).
	pub url: String,
	/// The longest one fetch may take; an unknown `kid` waits at most this for the refetch.
	pub timeout: Duration,
	/// The shortest time between fetches (the floor of `max-age`, the wait after a failure, and the
	/// least time between two refetches for unknown `kid`s).
	pub min_refresh: Duration,
	/// The longest a fetched set is used without asking again (the ceiling of `max-age`, the
	/// lifetime when the answer has none): a removed key's sessions end within this.
	pub max_refresh: Duration,
}

impl std::fmt::Debug for JwksUrlSettings {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		let url = reqwest::Url::parse(&self.url).map_or_else(|_| "<not a URL>".to_string(), |url| redact(&url));
		f.debug_struct("JwksUrlSettings")
			.field("url", &url)
			.field("timeout", &self.timeout)
			.field("min_refresh", &self.min_refresh)
			.field("max_refresh", &self.max_refresh)
			.finish()
	}
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksUrlError {
	/// Not an absolute `https://` URL (or `http://` to a loopback host).
	#[error("not an https:// URL (http:// is accepted for localhost only)")]
	Scheme,
	/// `min_refresh` is zero or above `max_refresh`, or the timeout is zero.
	#[error("the refresh bounds need 0 < jwks_refresh_min <= jwks_refresh_max and a timeout above 0")]
	Bounds,
	/// The HTTP client could not be built.
	#[error("the HTTP client could not be set up: {0}")]
	Client(String),
}

/// Why one fetch failed: a stable code, and text for logs and `/ready` without the URL's query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
	/// No answer within the timeout, or no connection.
	#[error("unreachable: {0}")]
	Unreachable(String),
	/// An answer other than 200.
	#[error("answered HTTP {0}")]
	Status(u16),
	/// A body that is not a JWKS holding at least one usable key, or over 1 MiB.
	#[error("not a usable JWKS: {0}")]
	Document(String),
}

impl FetchError {
	/// The stable code.
	pub fn code(&self) -> &'static str {
		match self {
			Self::Unreachable(_) => "jwks_unreachable",
			Self::Status(_) => "jwks_http_status",
			Self::Document(_) => "jwks_invalid",
		}
	}
}

/// A signing entry as published, with its RFC 7638 thumbprint, computed once when the set is read
/// (a session's grant names its key by it).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
	/// The JWK as published.
	pub jwk: serde_json::Value,
	/// Its thumbprint; `None` for a key type without one ([`entry_thumbprint`]).
	pub thumbprint: Option<String>,
}

impl Entry {
	fn new(jwk: serde_json::Value) -> Self {
		Self {
			thumbprint: entry_thumbprint(&jwk),
			jwk,
		}
	}

	fn kid(&self) -> Option<&str> {
		self.jwk.get("kid").and_then(serde_json::Value::as_str)
	}
}

#[derive(Debug, Default)]
struct Current {
	keys: Arc<Vec<Key>>,
	/// Every signing entry as published (identity tokens are verified from these).
	raw: Arc<Vec<Entry>>,
	/// When the set in use was fetched.
	fetched: Option<SystemTime>,
	/// The last refresh's failure, while the last good set is in use.
	failed: Option<FetchError>,
	/// When the next scheduled refresh is due.
	due: Option<Instant>,
}

/// One JWKS URL's keys.
#[derive(Debug)]
pub struct JwksUrl {
	settings: JwksUrlSettings,
	/// The URL without its query, for logs, `/ready` and the metric label.
	label: String,
	client: reqwest::Client,
	current: RwLock<Current>,
	/// One fetch at a time; refetches for unknown `kid`s wait for the one in flight.
	fetching: tokio::sync::Mutex<()>,
	/// When the last fetch started (for the refetch rate limit).
	last_attempt: Mutex<Option<Instant>>,
	/// Bumped whenever the set of keys changes.
	changes: watch::Sender<u64>,
	/// Keys for identity tokens: a set is usable with any signing entry, not only MoQ keys.
	any_key: bool,
}

impl JwksUrl {
	/// A key source for `settings.url`; nothing is fetched until [`JwksUrl::run`] or a token asks.
	pub fn new(settings: JwksUrlSettings) -> Result<Self, JwksUrlError> {
		let url = reqwest::Url::parse(&settings.url).map_err(|_| JwksUrlError::Scheme)?;
		let loopback = url.host_str().is_some_and(|host| {
			host == "localhost"
				|| host
					.trim_start_matches('[')
					.trim_end_matches(']')
					.parse::<std::net::IpAddr>()
					.is_ok_and(|ip| ip.is_loopback())
		});
		if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
			return Err(JwksUrlError::Scheme);
		}
		if settings.timeout.is_zero() || settings.min_refresh.is_zero() || settings.min_refresh > settings.max_refresh {
			return Err(JwksUrlError::Bounds);
		}
		let client = reqwest::Client::builder()
			.timeout(settings.timeout)
			.connect_timeout(settings.timeout)
			.redirect(reqwest::redirect::Policy::limited(3))
			.build()
			.map_err(|e| JwksUrlError::Client(e.to_string()))?;
		Ok(Self {
			label: redact(&url),
			settings,
			client,
			current: RwLock::default(),
			fetching: tokio::sync::Mutex::new(()),
			last_attempt: Mutex::new(None),
			changes: watch::Sender::new(0),
			any_key: false,
		})
	}

	/// A key source for identity tokens (`[[auth.identity]]`): every signing entry counts, read
	/// with [`JwksUrl::entry_for`], whether or not it is a MoQ key.
	pub fn for_identity(settings: JwksUrlSettings) -> Result<Self, JwksUrlError> {
		Ok(Self {
			any_key: true,
			..Self::new(settings)?
		})
	}

	/// The URL without its query.
	pub fn label(&self) -> &str {
		&self.label
	}

	/// The settings.
	pub fn settings(&self) -> &JwksUrlSettings {
		&self.settings
	}

	/// Whether the key with this `kid` and RFC 7638 thumbprint is in the set in use: a MoQ key, or
	/// (for identity tokens) any signing entry.
	pub fn holds(&self, kid: Option<&str>, thumbprint: &str) -> bool {
		let current = self.current.read().unwrap_or_else(|e| e.into_inner());
		current
			.keys
			.iter()
			.any(|k| k.kid().map(|id| id.as_str()) == kid && k.thumbprint() == thumbprint)
			|| current
				.raw
				.iter()
				.any(|entry| entry.kid() == kid && entry.thumbprint.as_deref() == Some(thumbprint))
	}

	/// A line for `/ready` when the last refresh failed or no set was ever fetched, else `None`.
	pub fn problem(&self) -> Option<String> {
		let current = self.current.read().unwrap_or_else(|e| e.into_inner());
		match (&current.failed, current.fetched) {
			(Some(err), Some(fetched)) => Some(format!(
				"jwks_url {}: the last refresh failed ({}: {err}); using the last good set of {} key(s), fetched {}s ago",
				self.label,
				err.code(),
				current.keys.len(),
				fetched.elapsed().map(|d| d.as_secs()).unwrap_or(0)
			)),
			(Some(err), None) => Some(format!(
				"jwks_url {}: no key set fetched yet ({}: {err}); its tokens are refused",
				self.label,
				err.code()
			)),
			(None, _) => None,
		}
	}

	/// Whether the set in use is a last good one kept after a failed refresh (or none at all).
	pub fn stale(&self) -> bool {
		self.current.read().unwrap_or_else(|e| e.into_inner()).failed.is_some()
	}

	/// A receiver that sees a new value whenever the set of keys changes.
	pub fn changes(&self) -> watch::Receiver<u64> {
		self.changes.subscribe()
	}

	/// Fetches now (waiting for a fetch in flight instead of starting a second one).
	pub async fn refresh(&self) -> Result<(), FetchError> {
		let started = Instant::now();
		let _one = self.fetching.lock().await;
		// A fetch that finished while this one waited is as fresh as this one would be.
		if self.last_attempt().is_some_and(|at| at >= started) {
			return match self.current.read().unwrap_or_else(|e| e.into_inner()).failed.clone() {
				Some(err) => Err(err),
				None => Ok(()),
			};
		}
		*self.last_attempt.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
		let fetched = self.fetch().await;
		let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
		match fetched {
			Ok(((keys, raw), max_age)) => {
				let lifetime = max_age
					.unwrap_or(self.settings.max_refresh)
					.clamp(self.settings.min_refresh, self.settings.max_refresh);
				let old: Vec<String> = current.keys.iter().map(Key::thumbprint).collect();
				let changed = keys.len() != old.len()
					|| keys.iter().any(|k| !old.contains(&k.thumbprint()))
					|| raw != *current.raw;
				if current.failed.is_some() {
					tracing::info!(url = %self.label, keys = keys.len(), "JWKS refreshed again");
				}
				*current = Current {
					keys: Arc::new(keys),
					raw: Arc::new(raw),
					fetched: Some(SystemTime::now()),
					failed: None,
					due: Some(Instant::now() + lifetime),
				};
				drop(current);
				if changed {
					tracing::info!(url = %self.label, "JWKS keys changed");
					self.changes.send_modify(|n| *n += 1);
				}
				Ok(())
			}
			Err(err) => {
				if current.failed.as_ref() != Some(&err) {
					tracing::warn!(url = %self.label, code = err.code(), "JWKS refresh failed: {err}; keeping the last good set");
				}
				current.failed = Some(err.clone());
				current.due = Some(Instant::now() + self.settings.min_refresh);
				Err(err)
			}
		}
	}

	fn last_attempt(&self) -> Option<Instant> {
		*self.last_attempt.lock().unwrap_or_else(|e| e.into_inner())
	}

	async fn fetch(&self) -> Result<(Parsed, Option<Duration>), FetchError> {
		let unreachable = |e: reqwest::Error| FetchError::Unreachable(e.without_url().to_string());
		let mut response = self
			.client
			.get(&self.settings.url)
			.header(reqwest::header::ACCEPT, "application/json, application/jwk-set+json")
			.send()
			.await
			.map_err(unreachable)?;
		if response.status() != reqwest::StatusCode::OK {
			return Err(FetchError::Status(response.status().as_u16()));
		}
		let max_age = response
			.headers()
			.get(reqwest::header::CACHE_CONTROL)
			.and_then(|v| v.to_str().ok())
			.and_then(max_age);
		let mut body = Vec::new();
		while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
			if body.len() + chunk.len() > MAX_BODY {
				return Err(FetchError::Document("over 1 MiB".into()));
			}
			body.extend_from_slice(&chunk);
		}
		Ok((parse(&body, self.any_key)?, max_age))
	}

	/// Refreshes on schedule until `down`, telling `revocations` whenever the keys change (so live
	/// sessions of a removed key end), and keeping `moq_relay_jwks_stale` in `metrics`.
	pub async fn run(
		self: Arc<Self>,
		revocations: Option<Arc<super::Revocations>>,
		metrics: Arc<Metrics>,
		mut down: watch::Receiver<bool>,
	) {
		let mut changes = self.changes();
		// A set fetched moments ago (an OIDC discovery document's, read at its first use) is not
		// fetched again before it is due: `min_refresh` is the least time between two fetches.
		let mut fetched = self
			.last_attempt()
			.is_some_and(|at| at.elapsed() < self.settings.min_refresh);
		loop {
			if std::mem::take(&mut fetched) {
				metrics.jwks_refreshed(&self.label, !self.stale(), self.stale());
			} else {
				let result = self.refresh().await;
				metrics.jwks_refreshed(&self.label, result.is_ok(), self.stale());
			}
			loop {
				let due = self
					.current
					.read()
					.unwrap_or_else(|e| e.into_inner())
					.due
					.unwrap_or_else(|| Instant::now() + self.settings.min_refresh);
				tokio::select! {
					_ = tokio::time::sleep_until(due.into()) => break,
					changed = changes.changed() => {
						if changed.is_err() {
							return;
						}
						if let Some(revocations) = &revocations {
							revocations.changed();
						}
					}
					_ = down.wait_for(|down| *down) => return,
				}
			}
		}
	}

	/// The key a token with `kid` selects in the set in use.
	fn select(&self, kid: Option<&str>) -> Option<Key> {
		let current = self.current.read().unwrap_or_else(|e| e.into_inner());
		match kid {
			Some(kid) => current
				.keys
				.iter()
				.find(|k| k.kid().is_some_and(|id| id.as_str() == kid))
				.cloned(),
			None => match current.keys.as_slice() {
				[one] => Some(one.clone()),
				_ => None,
			},
		}
	}

	/// The published entry a token with `kid` selects (the only one, for a token without a `kid`),
	/// refetching once (rate-limited, bounded by the timeout) when it is unknown.
	pub async fn entry_for(&self, kid: Option<&str>) -> Option<Entry> {
		let select = || {
			let current = self.current.read().unwrap_or_else(|e| e.into_inner());
			match kid {
				Some(kid) => current.raw.iter().find(|e| e.kid() == Some(kid)).cloned(),
				None => match current.raw.as_slice() {
					[one] => Some(one.clone()),
					_ => None,
				},
			}
		};
		if let Some(entry) = select() {
			return Some(entry);
		}
		self.refetch_for_unknown().await;
		select()
	}

	async fn refetch_for_unknown(&self) {
		let due = self
			.last_attempt()
			.is_none_or(|at| at.elapsed() >= self.settings.min_refresh);
		if due {
			let _ = tokio::time::timeout(self.settings.timeout, self.refresh()).await;
		} else {
			// Rate-limited: no new fetch, but one in flight (the first, at start-up) may bring it.
			let _ = tokio::time::timeout(self.settings.timeout, self.fetching.lock()).await;
		}
	}

	/// The key for `kid`, refetching once (rate-limited, bounded by the timeout) when it is unknown,
	/// or waiting for a fetch in flight.
	async fn key_for(&self, kid: Option<&str>) -> Option<Key> {
		if let Some(key) = self.select(kid) {
			return Some(key);
		}
		self.refetch_for_unknown().await;
		self.select(kid)
	}

	async fn verify(&self, token: &str, request: &ConnectRequest) -> Verdict {
		let kid = match moq_token::token_kid(token) {
			Ok(kid) => kid,
			Err(err) => {
				return Verdict::PassOn(Some(Explanation {
					error: AuthError::from(err),
					weight: 0,
				}));
			}
		};
		let kid = kid.as_ref().map(|k| k.as_str());
		let Some(key) = self.key_for(kid).await else {
			return Verdict::PassOn(Some(Explanation {
				error: AuthError::InvalidToken(ErrorCode::UnknownKid),
				weight: 2,
			}));
		};
		let claims = match key.verify_with(token, &Validation::default()) {
			Ok(claims) => claims,
			Err(err) => {
				let code = err.code();
				let error = AuthError::from(err);
				return match code {
					ErrorCode::Malformed | ErrorCode::TooLarge | ErrorCode::UnsupportedAlgorithm => {
						Verdict::PassOn(Some(Explanation { error, weight: 0 }))
					}
					_ => Verdict::Decided(Err(error)),
				};
			}
		};
		let path = request.path();
		let decided = claims.authorize(path).map_err(AuthError::from).map(|permissions| {
			let kid = kid.map(str::to_string);
			Grant::new(path.clone(), permissions.publish, permissions.subscribe)
				.with_expires(claims.expires)
				.with_cluster(claims.cluster)
				.with_subject(kid.as_ref().map(|kid| format!("kid:{kid}")))
				.with_token(claims.id.clone(), kid, key.thumbprint())
		});
		Verdict::Decided(decided)
	}
}

impl Verifier for JwksUrl {
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
				_ => Verdict::PassOn(None),
			}
		})
	}
}

/// `max-age` of a `Cache-Control` value (`no-store`/`no-cache`: zero, raised to the floor).
fn max_age(value: &str) -> Option<Duration> {
	value.split(',').map(str::trim).find_map(|directive| {
		if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache") {
			return Some(Duration::ZERO);
		}
		let (name, seconds) = directive.split_once('=')?;
		name.trim()
			.eq_ignore_ascii_case("max-age")
			.then(|| seconds.trim().trim_matches('"').parse().ok().map(Duration::from_secs))
			.flatten()
	})
}

/// A JWKS's MoQ keys and its signing entries as published.
type Parsed = (Vec<Key>, Vec<Entry>);

/// The JWK thumbprint (RFC 7638, section 3: SHA-256 over the key type's required members in
/// lexicographic order, base64url) of a published RSA, EC or OKP entry; `None` for another type or
/// a missing member.
fn entry_thumbprint(entry: &serde_json::Value) -> Option<String> {
	let members: &[&str] = match entry.get("kty")?.as_str()? {
		"RSA" => &["e", "kty", "n"],
		"EC" => &["crv", "kty", "x", "y"],
		"OKP" => &["crv", "kty", "x"],
		_ => return None,
	};
	let mut input = String::from("{");
	for (i, name) in members.iter().enumerate() {
		let value = entry.get(*name)?.as_str()?;
		if i > 0 {
			input.push(',');
		}
		// serde_json writes a JSON string with no insignificant whitespace, as the RFC asks.
		input.push_str(&serde_json::to_string(name).ok()?);
		input.push(':');
		input.push_str(&serde_json::to_string(value).ok()?);
	}
	input.push('}');
	let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input.as_bytes());
	use base64::Engine;
	Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

/// The usable keys of a JWKS: each key moq-token can read with verify allowed (others, such as
/// encryption keys, are skipped), and every signing entry with a `kty`; at least one MoQ key, or
/// with `any_key` at least one entry.
fn parse(body: &[u8], any_key: bool) -> Result<Parsed, FetchError> {
	let document: serde_json::Value =
		serde_json::from_slice(body).map_err(|_| FetchError::Document("not JSON".into()))?;
	let entries = document
		.get("keys")
		.and_then(serde_json::Value::as_array)
		.ok_or_else(|| FetchError::Document("no \"keys\" array".into()))?;
	let mut keys: Vec<Key> = Vec::new();
	let mut raw: Vec<Entry> = Vec::new();
	for entry in entries {
		if entry
			.get("use")
			.and_then(serde_json::Value::as_str)
			.is_some_and(|u| u != "sig")
		{
			continue;
		}
		if entry
			.get("kty")
			.and_then(serde_json::Value::as_str)
			.is_some_and(|k| k != "oct")
		{
			let kid = entry.get("kid").and_then(serde_json::Value::as_str);
			if kid.is_some() && raw.iter().any(|e| e.kid() == kid) {
				return Err(FetchError::Document("a kid appears twice".into()));
			}
			raw.push(Entry::new(entry.clone()));
		}
		match Key::from_value(entry) {
			Ok(key) if key.ops().verify && !key.is_private() => {
				if key.kid().is_some() && keys.iter().any(|k| k.kid() == key.kid()) {
					return Err(FetchError::Document("a kid appears twice".into()));
				}
				keys.push(key);
			}
			// HMAC keys have no public half: a published set never holds one.
			Ok(_) => {}
			Err(err) => tracing::debug!(code = %err.code(), "JWKS entry skipped"),
		}
	}
	let usable = !keys.is_empty() || (any_key && !raw.is_empty());
	if !usable {
		return Err(FetchError::Document("no usable signing key".into()));
	}
	Ok((keys, raw))
}

#[cfg(test)]
mod tests {
	use super::*;
	use moq_token::{Algorithm, KeyId};

	/// The example of RFC 7638, section 3.1, and a MoQ key's own thumbprint for an EC key.
	#[test]
	fn entry_thumbprints() {
		let rfc = serde_json::json!({
			"kty": "RSA",
			"n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
			"e": "AQAB",
			"alg": "RS256",
			"kid": "2011-04-29",
		});
		assert_eq!(
			entry_thumbprint(&rfc).as_deref(),
			Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
		);
		let key = Key::generate(Algorithm::ES256, Some(KeyId::new("k").unwrap())).unwrap();
		let public = key.to_public().unwrap();
		assert_eq!(entry_thumbprint(&public.to_value()), Some(public.thumbprint()));
		// A member missing, or a type without a public half, has none.
		let mut partial = rfc.clone();
		partial.as_object_mut().unwrap().remove("e");
		assert_eq!(entry_thumbprint(&partial), None);
		assert_eq!(entry_thumbprint(&serde_json::json!({"kty": "oct", "k": "AAAA"})), None);
	}

	#[test]
	fn cache_control_max_age() {
		assert_eq!(max_age("public, max-age=300"), Some(Duration::from_secs(300)));
		assert_eq!(
			max_age("max-age=\"60\", must-revalidate"),
			Some(Duration::from_secs(60))
		);
		assert_eq!(max_age("no-store"), Some(Duration::ZERO));
		assert_eq!(max_age("public"), None);
		assert_eq!(max_age("max-age=soon"), None);
	}

	#[test]
	fn documents_keep_the_usable_keys() {
		let a = Key::generate(Algorithm::ES256, Some(KeyId::new("a").unwrap())).unwrap();
		let b = Key::generate(Algorithm::EdDSA, Some(KeyId::new("b").unwrap())).unwrap();
		let public = |k: &Key| k.to_public().unwrap().to_value();
		let doc = serde_json::json!({"keys": [
			public(&a),
			{"kty": "RSA", "use": "enc", "n": "x", "e": "AQAB", "kid": "enc"},
			{"kty": "oct", "k": "AAAA", "alg": "HS256", "kid": "h"},
			{"kty": "EC", "crv": "P-256", "kid": "no-alg"},
			public(&b),
		]});
		let (keys, raw) = parse(doc.to_string().as_bytes(), false).unwrap();
		assert_eq!(
			raw.len(),
			3,
			"every asymmetric signing entry is kept for identity tokens"
		);
		let kids: Vec<&str> = keys.iter().map(|k| k.kid().unwrap().as_str()).collect();
		assert_eq!(kids, ["a", "b"]);
		assert_eq!(parse(b"{}", false).unwrap_err().code(), "jwks_invalid");
		assert_eq!(parse(br#"{"keys": []}"#, true).unwrap_err().code(), "jwks_invalid");
		let identity = serde_json::json!({"keys": [{"kty": "RSA", "n": "x", "e": "AQAB", "kid": "r"}]});
		assert_eq!(
			parse(identity.to_string().as_bytes(), false).unwrap_err().code(),
			"jwks_invalid"
		);
		assert_eq!(parse(identity.to_string().as_bytes(), true).unwrap().1.len(), 1);
		let twice = serde_json::json!({"keys": [public(&a), public(&a)]});
		assert_eq!(
			parse(twice.to_string().as_bytes(), false).unwrap_err().code(),
			"jwks_invalid"
		);
	}

	#[test]
	fn urls_and_bounds_are_checked() {
		let settings = |url: &str| JwksUrlSettings {
			url: url.into(),
			timeout: Duration::from_secs(1),
			min_refresh: Duration::from_secs(1),
			max_refresh: Duration::from_secs(2),
		};
		assert!(JwksUrl::new(settings("https://idp.example/jwks?key=secret")).is_ok());
		assert_eq!(
			JwksUrl::new(settings("https://u:p@idp.example/jwks?key=secret#x"))
				.unwrap()
				.label(),
			"https://idp.example/jwks"
		);
		assert!(JwksUrl::new(settings("http://127.0.0.1:9/jwks")).is_ok());
		assert!(JwksUrl::new(settings("http://localhost:9/jwks")).is_ok());
		assert!(matches!(
			JwksUrl::new(settings("http://idp.example/jwks")),
			Err(JwksUrlError::Scheme)
		));
		assert!(matches!(JwksUrl::new(settings("jwks.json")), Err(JwksUrlError::Scheme)));
		let mut inverted = settings("https://idp.example/jwks");
		inverted.min_refresh = Duration::from_secs(3);
		assert!(matches!(JwksUrl::new(inverted), Err(JwksUrlError::Bounds)));
	}
}
