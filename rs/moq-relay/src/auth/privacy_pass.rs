//! Privacy Pass sessions (`docs/privacy-pass.md`): challenges, type 0x0002 tokens, double-spend
//! protection, and the grant such sessions get.
//!
//! The cryptography and the challenge book are in the sans-I/O [`moq_privacy_pass`] crate; this module
//! adds what needs I/O and policy: the issuer directory (fetched over HTTP(S), refreshed per
//! `Cache-Control`), the shared Redis nonce store, and the grant from `[privacypass] root/pub/sub`.
//!
//! Tokens are unlinkable: a Privacy Pass session's grant names no user (its subject is `privacypass`),
//! and nothing about the token reaches a log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use moq_privacy_pass::{
	DIRECTORY_MEDIA_TYPE, IssuerDirectory, IssuerKey, RedemptionContext, RedisNonceStore, TOKEN_TYPE_BLIND_RSA, Token,
	Verifier, parse_authorization,
};
use moq_token::{Claims, Path};
use tokio::sync::watch;

use super::error::PrivacyPassChallenge;
use super::request::PrivacyPassCredential;
use super::verifier::{Judged, Stage, Verdict, Verifier as ChainVerifier};
use super::{AuthError, ConnectRequest, Credential, CredentialKind, Grant};
use crate::metrics::Metrics;

/// The issuer used when none is configured (Cloudflare's demo issuer, no attestation).
pub const DEFAULT_ISSUER: &str = "demo-pat.issuer.cloudflare.com";
/// Shortest and longest time an issuer directory is used before it is fetched again.
const DIRECTORY_MAX_AGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(24 * 3600));
/// Used when the directory answer has no `Cache-Control: max-age`.
const DIRECTORY_DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// Wait before fetching again after a failed fetch (the old keys are kept meanwhile).
const DIRECTORY_RETRY: Duration = Duration::from_secs(10);
/// Bound on one directory fetch.
const DIRECTORY_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest directory accepted.
const DIRECTORY_MAX_BYTES: usize = 256 * 1024;
/// WebTransport close reasons are at most this long (and QUIC's must fit a packet).
const MAX_CLOSE_REASON: usize = 1024;

/// What [`PrivacyPass::new`] needs; built from `[privacypass]`.
#[derive(Debug, Clone)]
pub struct PrivacyPassSettings {
	/// The issuer name put in challenges (`--pp-issuer`).
	pub issuer: String,
	/// Issuer public keys from files (`--pp-issuer-key`), used byte-exact.
	pub keys: Vec<IssuerKey>,
	/// The issuer directory URL, whose type-2 keys are added to `keys` and refreshed.
	pub directory: Option<String>,
	/// The Redis URL of the shared nonce store; `None` keeps nonces in memory.
	pub redis: Option<String>,
	/// PEM CA certificates trusted for a `rediss://` store instead of the system's roots.
	pub redis_root_cert: Option<Vec<u8>>,
	/// The grant of Privacy Pass sessions: root, publish and subscribe prefixes (relative to root).
	pub root: Path,
	/// Publish prefixes, relative to `root`.
	pub publish: Vec<Path>,
	/// Subscribe prefixes, relative to `root`.
	pub subscribe: Vec<Path>,
	/// How long an issued challenge is accepted.
	pub challenge_ttl: Duration,
	/// Fresh random (default) or empty redemption contexts.
	pub redemption_context: RedemptionContext,
	/// The relay's names, joined with `,` into the challenges' `origin_info` (RFC 9577 §2.1).
	pub origins: Vec<String>,
	/// The AUTHORIZATION TOKEN Token Type of Privacy Pass tokens in IETF draft SETUPs.
	pub setup_token_type: u64,
}

/// Why the Privacy Pass configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivacyPassConfigError {
	/// The issuer name or origins do not fit a TokenChallenge, or the close reason would be too long.
	#[error("{0}")]
	Challenge(String),
	/// The Redis URL is not usable.
	#[error("{0}")]
	Redis(String),
	/// The directory URL is not usable.
	#[error("{0}")]
	Directory(String),
}

/// Privacy Pass for one relay (or several sharing a challenge configuration and a Redis).
#[derive(Debug)]
pub struct PrivacyPass {
	verifier: Verifier,
	redis: Option<RedisNonceStore>,
	claims: Claims,
	static_keys: Vec<IssuerKey>,
	directory: Option<Directory>,
	setup_token_type: u64,
}

/// The issuer directory and its refresh state.
#[derive(Debug)]
struct Directory {
	url: String,
	client: reqwest::Client,
	started: AtomicBool,
	/// Completed fetch attempts (success or failure), so the first request can wait for the first.
	attempts: watch::Sender<u64>,
}

impl PrivacyPass {
	/// Checks the settings and builds the verifier; nothing is fetched or connected yet.
	pub fn new(settings: PrivacyPassSettings) -> Result<Self, PrivacyPassConfigError> {
		let challenge_err = |e: moq_privacy_pass::Error| PrivacyPassConfigError::Challenge(e.to_string());
		let mut verifier = Verifier::new(settings.issuer.clone(), settings.keys.clone())
			.map_err(challenge_err)?
			.with_origin_info(settings.origins.join(",").into_bytes())
			.map_err(challenge_err)?
			.with_redemption_context(settings.redemption_context)
			.with_challenge_lifetime(settings.challenge_ttl, moq_privacy_pass::DEFAULT_CHALLENGE_CAPACITY);
		let sample = verifier.challenge(SystemTime::now());
		if sample.to_close_reason().len() > MAX_CLOSE_REASON {
			return Err(PrivacyPassConfigError::Challenge(format!(
				"the challenge's close reason would be {} bytes (at most {MAX_CLOSE_REASON}): shorten the issuer name or the origins",
				sample.to_close_reason().len()
			)));
		}
		if settings.redemption_context == RedemptionContext::Empty {
			// Every relay with this configuration makes this very challenge, so a token for it is
			// accepted by all of them (and their shared nonce store refuses its replay anywhere).
			verifier = verifier.with_static_challenge(&sample);
		}
		let redis = settings
			.redis
			.as_deref()
			.map(|url| {
				let store = RedisNonceStore::new(url)?;
				match &settings.redis_root_cert {
					Some(pem) => store.with_root_cert(pem),
					None => Ok(store),
				}
			})
			.transpose()
			.map_err(|e| PrivacyPassConfigError::Redis(e.to_string()))?;
		let directory = match settings.directory {
			None => None,
			Some(url) => {
				if !(url.starts_with("https://") || url.starts_with("http://")) {
					return Err(PrivacyPassConfigError::Directory(
						"the issuer directory URL must be http:// or https://".into(),
					));
				}
				let client = reqwest::Client::builder()
					.timeout(DIRECTORY_TIMEOUT)
					.user_agent(concat!("moq-relay/", env!("CARGO_PKG_VERSION")))
					.build()
					.map_err(|e| PrivacyPassConfigError::Directory(format!("HTTP client: {e}")))?;
				Some(Directory {
					url,
					client,
					started: AtomicBool::new(false),
					attempts: watch::Sender::new(0),
				})
			}
		};
		let setup_token_type = settings.setup_token_type;
		let mut claims = Claims::new(settings.root);
		claims.publish = settings.publish.into();
		claims.subscribe = settings.subscribe.into();
		Ok(Self {
			verifier,
			redis,
			claims,
			static_keys: settings.keys,
			directory,
			setup_token_type,
		})
	}

	/// The AUTHORIZATION TOKEN Token Type that carries a Privacy Pass token in an IETF draft
	/// session's SETUP (`[privacypass] setup_token_type`).
	pub fn setup_token_type(&self) -> u64 {
		self.setup_token_type
	}

	/// The issuer name put in challenges.
	pub fn issuer(&self) -> &str {
		self.verifier.issuer_name()
	}

	/// The issuer directory URL, if keys come from one.
	pub fn directory_url(&self) -> Option<&str> {
		self.directory.as_ref().map(|d| d.url.as_str())
	}

	/// The Redis server (`host:port`, no credentials) of the shared nonce store, if any.
	pub fn redis_addr(&self) -> Option<&str> {
		self.redis.as_ref().map(RedisNonceStore::addr)
	}

	/// The accepted issuer keys right now.
	pub fn keys(&self) -> Vec<Arc<IssuerKey>> {
		self.verifier.keys()
	}

	/// The verifier (challenge book, keys, in-memory nonces).
	pub fn verifier(&self) -> &Verifier {
		&self.verifier
	}

	/// Starts the issuer directory refresh (once; later calls do nothing). Needs a tokio runtime.
	pub fn start(self: &Arc<Self>) {
		let Some(directory) = &self.directory else { return };
		if directory.started.swap(true, Ordering::AcqRel) {
			return;
		}
		tokio::spawn(refresh_loop(Arc::downgrade(self)));
	}

	/// Starts the refresh and, until the first directory fetch has completed, waits for it (bounded),
	/// so the first session after start-up is judged with the issuer's keys.
	async fn ready(self: &Arc<Self>) {
		let Some(directory) = &self.directory else { return };
		self.start();
		let mut attempts = directory.attempts.subscribe();
		let _ = tokio::time::timeout(
			DIRECTORY_TIMEOUT + Duration::from_secs(1),
			attempts.wait_for(|n| *n > 0),
		)
		.await;
	}

	/// Whether Privacy Pass sessions may do anything at `path` (so a challenge is worth sending).
	pub fn covers(&self, path: &Path) -> bool {
		self.claims.authorize(path).is_ok()
	}

	/// The refusal for a session without a credential: a fresh challenge (recorded as issued).
	pub async fn challenge(self: &Arc<Self>) -> AuthError {
		self.ready().await;
		let challenge = self.verifier.challenge(SystemTime::now());
		let www_authenticate = if self.verifier.keys().is_empty() {
			format!("PrivateToken challenge=\"{}\"", challenge.to_base64())
		} else {
			self.verifier.www_authenticate(&challenge)
		};
		AuthError::PrivacyPassChallenge(Box::new(PrivacyPassChallenge {
			challenge,
			www_authenticate,
		}))
	}

	/// Verifies a presented token and returns the Privacy Pass grant at `path`.
	///
	/// The grant is checked first, so a token presented where Privacy Pass allows nothing is not spent.
	/// Then: length, type, key id, challenge (issued here and not expired, or static), signature, and
	/// finally the nonce (reserve, commit; release on failure) in Redis or in memory.
	pub async fn redeem(
		self: &Arc<Self>,
		credential: &PrivacyPassCredential<'_>,
		path: &Path,
	) -> Result<Grant, AuthError> {
		let permissions = self.claims.authorize(path)?;
		let token = match credential {
			PrivacyPassCredential::Query(value) => Token::from_base64(value),
			PrivacyPassCredential::Header(value) => parse_authorization(value),
		}?;
		self.ready().await;
		let now = SystemTime::now();
		let verified = match &self.redis {
			Some(redis) => self.verifier.verify_token_with(&token, now, redis).await,
			None => self.verifier.verify_token(&token, now),
		};
		if let Err(err @ moq_privacy_pass::Error::NonceStore(_)) = &verified {
			// The store's message names the server, never a credential.
			tracing::error!(code = err.code(), %err, "Privacy Pass token refused: the nonce store cannot be used");
		}
		verified?;
		Ok(Grant::new(path.clone(), permissions.publish, permissions.subscribe)
			.with_subject(Some("privacypass".into())))
	}

	/// Fetches the directory once and installs its type-2 keys next to the configured ones; returns
	/// how long the answer may be used (`Cache-Control: max-age`, clamped).
	async fn fetch_directory(&self) -> Result<Duration, String> {
		let directory = self.directory.as_ref().ok_or("no directory configured")?;
		let response = directory
			.client
			.get(&directory.url)
			.header(reqwest::header::ACCEPT, DIRECTORY_MEDIA_TYPE)
			.send()
			.await
			.map_err(|e| format!("request failed: {e}"))?;
		let status = response.status();
		if !status.is_success() {
			return Err(format!("HTTP {status}"));
		}
		let max_age = response
			.headers()
			.get(reqwest::header::CACHE_CONTROL)
			.and_then(|v| v.to_str().ok())
			.and_then(max_age)
			.unwrap_or(DIRECTORY_DEFAULT_MAX_AGE)
			.clamp(DIRECTORY_MAX_AGE.0, DIRECTORY_MAX_AGE.1);
		if response
			.content_length()
			.is_some_and(|n| n > DIRECTORY_MAX_BYTES as u64)
		{
			return Err("directory too large".into());
		}
		let body = response.bytes().await.map_err(|e| format!("reading the body: {e}"))?;
		if body.len() > DIRECTORY_MAX_BYTES {
			return Err("directory too large".into());
		}
		let text = std::str::from_utf8(&body).map_err(|_| "the directory is not UTF-8".to_string())?;
		let parsed = IssuerDirectory::from_json(text).map_err(|e| e.to_string())?;
		let mut keys = self.static_keys.clone();
		for entry in parsed
			.token_keys
			.iter()
			.filter(|k| k.token_type == TOKEN_TYPE_BLIND_RSA)
		{
			match IssuerKey::from_base64(&entry.token_key) {
				Ok(key) if !keys.contains(&key) => keys.push(key),
				Ok(_) => {}
				Err(err) => tracing::warn!(%err, url = %directory.url, "skipping an unusable issuer key"),
			}
		}
		if keys.len() == self.static_keys.len() && self.static_keys.is_empty() {
			return Err("the directory lists no usable type-2 (0x0002) key".into());
		}
		tracing::debug!(keys = keys.len(), ?max_age, "Privacy Pass issuer keys loaded");
		self.verifier.set_keys(keys);
		Ok(max_age)
	}
}

async fn refresh_loop(weak: Weak<PrivacyPass>) {
	loop {
		let Some(pp) = weak.upgrade() else { return };
		let wait = match pp.fetch_directory().await {
			Ok(max_age) => max_age,
			Err(err) => {
				let url = pp.directory_url().unwrap_or_default().to_string();
				tracing::error!(
					code = "issuer_directory_unavailable",
					%url,
					%err,
					"cannot fetch the Privacy Pass issuer directory; keeping the keys held"
				);
				DIRECTORY_RETRY
			}
		};
		if let Some(directory) = &pp.directory {
			directory.attempts.send_modify(|n| *n += 1);
		}
		drop(pp);
		tokio::time::sleep(wait).await;
	}
}

/// Privacy Pass in the verifier chain: it recognizes Privacy Pass tokens and nothing else.
#[derive(Debug)]
pub(super) struct Redeemer(pub(super) Arc<PrivacyPass>);

impl ChainVerifier for Redeemer {
	fn kind(&self) -> CredentialKind {
		CredentialKind::PrivacyPass
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
				Credential::PrivacyPass(token) => Verdict::Decided(self.0.redeem(token, request.path()).await),
				_ => Verdict::PassOn(None),
			}
		})
	}
}

/// The `max-age` of a `Cache-Control` value (`no-store` and `no-cache` are zero).
pub(super) fn max_age(value: &str) -> Option<Duration> {
	let mut found = None;
	for directive in value.split(',').map(str::trim) {
		let lower = directive.to_ascii_lowercase();
		if lower == "no-store" || lower == "no-cache" {
			return Some(Duration::ZERO);
		}
		if let Some(n) = lower.strip_prefix("max-age=") {
			found = n.trim_matches('"').parse().ok().map(Duration::from_secs);
		}
	}
	found
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn cache_control() {
		assert_eq!(max_age("public, max-age=300"), Some(Duration::from_secs(300)));
		assert_eq!(max_age("Max-Age=\"7\""), Some(Duration::from_secs(7)));
		assert_eq!(max_age("no-store"), Some(Duration::ZERO));
		assert_eq!(max_age("public"), None);
	}
}
