//! `[auth] url` (`--auth-url`): upstream moq-relay's auth server contract (`docs/auth.md`, "Auth
//! server (`[auth] url`)").
//!
//! A token no local verifier recognized is sent to the server in a JSON `connect` (the session id,
//! this relay's node name, the transport, the dialed path, the raw query, and a token from a header
//! as a SETUP token of type 0). A 2xx answer is a grant: `publish`/`subscribe` patterns, `root`,
//! `expires`, `revalidate` seconds, `peer`; a 401 or 403, or a grant that names nothing, refuses;
//! anything else (no answer, a 5xx, a malformed grant) refuses too, since nothing is admitted
//! because the server failed. An admitted session holds a [`Lease`]: a task POSTs `revalidate` at the
//! interval the grant asks (and when an operator asks, [`AuthUrl::revalidate_all`]), and the
//! session is closed (`grant_refused`, `grant_narrowed`, `token_expired`) when the server refuses it,
//! answers a narrower grant, or its `expires` passes, which is enforced here even while the server
//! is down. When the session ends, `end` is POSTed with its duration and the bytes its transport
//! moved ([`Lease::meter`]).

mod lease;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use moq_token::{Path, Pattern, Patterns};

use super::verifier::{Judged, Stage, Verdict, Verifier};
use super::{AuthError, ConnectRequest, Credential, CredentialKind, Grant, Revocations, ServiceBody, Unavailable};
use crate::metrics::Metrics;

pub use lease::{Lease, SessionInfo};
use wire::{WireGrant, WireRequest};

/// Every request is bounded, so a hung server refuses rather than parks the session.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The longest a failed re-check waits before trying again.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// What `[auth] url` needs.
#[derive(Clone, Debug)]
pub struct AuthUrlSettings {
	/// `http://` (a loopback host only), `https://` or `unix:///path/to.sock`.
	pub url: String,
	/// This relay's name in every request (`node`).
	pub node: String,
	/// The TLS of an `https://` URL: its roots and the relay's client certificate.
	pub tls: AuthUrlTls,
}

/// The TLS files of an `https://` auth URL (`[auth] url_tls_root`, `url_tls_cert`, `url_tls_key`).
#[derive(Clone, Debug, Default)]
pub struct AuthUrlTls {
	/// PEM CA certificates trusted instead of the system's.
	pub root: Option<std::path::PathBuf>,
	/// The PEM certificate chain presented when the server asks for one (mTLS).
	pub cert: Option<std::path::PathBuf>,
	/// Its PEM private key.
	pub key: Option<std::path::PathBuf>,
}

impl AuthUrlTls {
	fn is_set(&self) -> bool {
		self.root.is_some() || self.cert.is_some() || self.key.is_some()
	}

	/// The client with these roots and this identity.
	fn apply(&self, mut builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, AuthUrlError> {
		let read = |key: &'static str, path: &std::path::Path| {
			std::fs::read(path).map_err(|e| AuthUrlError::Tls {
				key,
				reason: format!("{}: {e}", path.display()),
			})
		};
		if let Some(root) = &self.root {
			let pem = read("auth.url_tls_root", root)?;
			let roots = reqwest::Certificate::from_pem_bundle(&pem)
				.ok()
				.filter(|roots| !roots.is_empty())
				.ok_or_else(|| AuthUrlError::Tls {
					key: "auth.url_tls_root",
					reason: format!("{}: no PEM certificate in it", root.display()),
				})?;
			builder = builder.tls_certs_only(roots);
		}
		match (&self.cert, &self.key) {
			(None, None) => {}
			(Some(cert), Some(key)) => {
				let mut pem = read("auth.url_tls_cert", cert)?;
				pem.push(b'\n');
				pem.extend(read("auth.url_tls_key", key)?);
				// The key's bytes are never part of the error.
				let identity = reqwest::Identity::from_pem(&pem).map_err(|_| AuthUrlError::Tls {
					key: "auth.url_tls_cert",
					reason: format!(
						"{} and {} are not a PEM certificate chain and its private key",
						cert.display(),
						key.display()
					),
				})?;
				builder = builder.identity(identity);
			}
			(Some(_), None) => {
				return Err(AuthUrlError::Tls {
					key: "auth.url_tls_key",
					reason: "auth.url_tls_cert needs its private key: set auth.url_tls_key".into(),
				});
			}
			(None, Some(_)) => {
				return Err(AuthUrlError::Tls {
					key: "auth.url_tls_cert",
					reason: "auth.url_tls_key needs its certificate: set auth.url_tls_cert".into(),
				});
			}
		}
		Ok(builder)
	}
}

/// Why `[auth] url` cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthUrlError {
	/// Not a URL, or a scheme other than `http`, `https`, `unix`.
	#[error("not an http://, https:// or unix:// URL: {0}")]
	InvalidUrl(String),
	/// `http://` to a host that is not loopback: the grant would cross the network in clear text.
	#[error("http:// is accepted for a loopback host only (use https://): {0}")]
	InsecureUrl(String),
	/// The HTTP client could not be built.
	#[error("the HTTP client could not be built: {0}")]
	Client(String),
	/// A TLS file of `[auth] url` is unreadable or not what it should be, or TLS was configured
	/// for a URL that is not `https://`.
	#[error("{reason}")]
	Tls {
		/// The key that names the file.
		key: &'static str,
		/// What is wrong, and the file.
		reason: String,
	},
}

impl AuthUrlError {
	/// The stable code.
	pub fn code(&self) -> &'static str {
		match self {
			Self::InvalidUrl(_) => "invalid_auth_url",
			Self::InsecureUrl(_) => "insecure_auth_url",
			Self::Client(_) => "auth_url_client",
			Self::Tls { .. } => "auth_url_tls",
		}
	}

	/// The configuration key to fix.
	pub fn key(&self) -> &'static str {
		match self {
			Self::Tls { key, .. } => key,
			_ => "auth.url",
		}
	}
}

/// The URL without userinfo, query or fragment, any of which may hold a credential.
pub fn redact(url: &reqwest::Url) -> String {
	let mut url = url.clone();
	let _ = url.set_username("");
	let _ = url.set_password(None);
	url.set_query(None);
	url.set_fragment(None);
	url.to_string()
}

/// The verifier and the live sessions it admitted.
pub struct AuthUrl {
	http: reqwest::Client,
	target: reqwest::Url,
	shown: String,
	node: String,
	/// Bumped when a lease's verdict changes, so live sessions re-check (`Auth::revoked`).
	notify: OnceLock<Arc<Revocations>>,
	sessions: Mutex<HashMap<String, Weak<lease::Live>>>,
}

impl std::fmt::Debug for AuthUrl {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("AuthUrl")
			.field("url", &self.shown)
			.field("node", &self.node)
			.finish()
	}
}

impl AuthUrl {
	/// A verifier asking the server at `settings.url`.
	pub fn new(settings: AuthUrlSettings) -> Result<Self, AuthUrlError> {
		let url: reqwest::Url = settings
			.url
			.parse()
			.map_err(|_| AuthUrlError::InvalidUrl("(unparsable)".into()))?;
		let shown = redact(&url);
		let builder = reqwest::Client::builder()
			.timeout(TIMEOUT)
			.connect_timeout(TIMEOUT)
			.redirect(reqwest::redirect::Policy::none())
			.no_proxy()
			.user_agent(concat!("moq-relay/", env!("CARGO_PKG_VERSION")));
		if settings.tls.is_set() && url.scheme() != "https" {
			return Err(AuthUrlError::Tls {
				key: "auth.url",
				reason: format!("auth.url_tls_* apply to an https:// auth.url, not {shown}"),
			});
		}
		let (builder, target) = match url.scheme() {
			"http" => {
				let loopback = match url.host_str() {
					Some("localhost") => true,
					Some(host) => host
						.trim_start_matches('[')
						.trim_end_matches(']')
						.parse::<std::net::IpAddr>()
						.is_ok_and(|ip| ip.is_loopback()),
					None => false,
				};
				if !loopback {
					return Err(AuthUrlError::InsecureUrl(shown));
				}
				(builder, url)
			}
			"https" => (settings.tls.apply(builder)?, url),
			#[cfg(unix)]
			"unix" => {
				let path = std::path::PathBuf::from(url.path());
				if !path.is_absolute() {
					return Err(AuthUrlError::InvalidUrl(shown));
				}
				let target = "http://localhost/".parse().expect("a constant URL");
				(builder.unix_socket(path), target)
			}
			_ => return Err(AuthUrlError::InvalidUrl(shown)),
		};
		let http = builder
			.build()
			.map_err(|e| AuthUrlError::Client(e.without_url().to_string()))?;
		Ok(Self {
			http,
			target,
			shown,
			node: settings.node,
			notify: OnceLock::new(),
			sessions: Mutex::new(HashMap::new()),
		})
	}

	/// The URL, without anything that may be a credential.
	pub fn shown(&self) -> &str {
		&self.shown
	}

	/// Where live sessions learn that a lease's verdict changed (set once, by the policy).
	pub(crate) fn attach(&self, revocations: Arc<Revocations>) {
		let _ = self.notify.set(revocations);
	}

	fn changed(&self) {
		if let Some(revocations) = self.notify.get() {
			revocations.changed();
		}
	}

	/// The live sessions this verifier admitted.
	pub fn sessions(&self) -> Vec<SessionInfo> {
		let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
		sessions.retain(|_, live| live.strong_count() > 0);
		let mut out: Vec<SessionInfo> = sessions
			.values()
			.filter_map(Weak::upgrade)
			.filter(|l| l.is_live())
			.map(|l| l.info())
			.collect();
		out.sort_by(|a, b| a.id.cmp(&b.id));
		out
	}

	/// Asks the server to re-check every live session now; how many were asked.
	pub fn revalidate_all(&self) -> usize {
		let live: Vec<_> = self.live();
		for session in &live {
			session.nudge();
		}
		live.len()
	}

	/// Closes one live session (`grant_refused`); whether it was found.
	pub fn close(&self, id: &str) -> bool {
		let found = self.live().into_iter().find(|l| l.id() == id);
		if let Some(live) = &found {
			live.refuse(AuthError::GrantRefused);
			self.changed();
		}
		found.is_some()
	}

	fn live(&self) -> Vec<Arc<lease::Live>> {
		let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
		sessions
			.values()
			.filter_map(Weak::upgrade)
			.filter(|l| l.is_live())
			.collect()
	}

	/// POSTs one event; a 2xx answer's grant, unvalidated.
	async fn post(&self, request: &WireRequest<'_>) -> Result<WireGrant, AuthError> {
		let body = serde_json::to_vec(request).map_err(|_| AuthError::SigningError)?;
		let response = self
			.http
			.post(self.target.clone())
			.header(reqwest::header::CONTENT_TYPE, "application/json")
			.body(body)
			.send()
			.await
			.map_err(|e| AuthError::ServiceUnavailable(unavailable(&e)))?;
		let status = response.status().as_u16();
		if status == 401 || status == 403 {
			let body = response.text().await.unwrap_or_default();
			return Err(AuthError::ServiceDenied {
				status,
				body: ServiceBody::new(&body),
			});
		}
		if !(200..300).contains(&status) {
			let body = response.text().await.unwrap_or_default();
			return Err(AuthError::ServiceError {
				status,
				body: ServiceBody::new(&body),
			});
		}
		let body = response
			.bytes()
			.await
			.map_err(|e| AuthError::ServiceUnavailable(unavailable(&e)))?;
		if request.event == "end" {
			return Ok(WireGrant::default());
		}
		serde_json::from_slice(&body).map_err(|_| AuthError::ServiceError {
			status,
			body: ServiceBody::new("the grant is not the contract's JSON"),
		})
	}

	/// Asks `connect` for `token` (or for a session without one) at `request`.
	pub async fn connect(self: &Arc<Self>, request: &ConnectRequest, token: Option<&str>) -> Result<Grant, AuthError> {
		let id = session_id();
		let base = wire::Base::new(&id, &self.node, request, token);
		let answer = self.post(&base.event("connect")).await?;
		let valid = validate(answer)?;
		let root = valid.root.clone().unwrap_or_else(|| request.path().clone());
		let live = lease::Live::new(
			id.clone(),
			root.clone(),
			request.transport().as_str(),
			request.remote(),
			valid.publish.clone(),
			valid.subscribe.clone(),
			valid.expires,
		);
		let (lease, ended) = Lease::new(live.clone());
		self.sessions
			.lock()
			.unwrap_or_else(|e| e.into_inner())
			.insert(id.clone(), Arc::downgrade(&live));
		tokio::spawn(self.clone().drive(base.into_owned(), live, ended, valid.revalidate));
		Ok(Grant::new(root, valid.publish, valid.subscribe)
			.with_cluster(valid.peer)
			.with_subject(Some("auth_url".into()))
			.with_lease(lease))
	}

	/// The task behind a lease: re-checks on cadence and on request, enforces `expires`, and POSTs
	/// `end` when the session is gone.
	async fn drive(
		self: Arc<Self>,
		base: wire::Base<'static>,
		live: Arc<lease::Live>,
		mut ended: tokio::sync::oneshot::Receiver<()>,
		mut cadence: Option<Duration>,
	) {
		let started = tokio::time::Instant::now();
		let mut next = cadence.and_then(|c| tokio::time::Instant::now().checked_add(c));
		let mut failures = 0u32;
		let reason = loop {
			let deadline = live.expires().and_then(expiry_deadline);
			let revalidate = async {
				match next {
					Some(at) => tokio::time::sleep_until(at).await,
					None => std::future::pending().await,
				}
			};
			let expire = async {
				match deadline {
					Some(at) => tokio::time::sleep_until(at).await,
					None => std::future::pending().await,
				}
			};
			tokio::select! {
				_ = &mut ended => break live.ended_reason(),
				() = expire => {
					live.refuse(AuthError::TokenExpired);
					self.changed();
					let _ = (&mut ended).await;
					break "expired";
				}
				() = revalidate => {}
				() = live.nudged() => {}
			}
			match self.post(&base.event("revalidate")).await.and_then(validate) {
				Ok(fresh) => {
					failures = 0;
					if !live.covered_by(fresh.root.as_ref(), &fresh.publish, &fresh.subscribe) {
						live.refuse(AuthError::GrantNarrowed);
						self.changed();
					} else {
						live.extend(fresh.expires);
					}
					cadence = fresh.revalidate;
					next = cadence.and_then(|c| tokio::time::Instant::now().checked_add(c));
				}
				Err(AuthError::ServiceDenied { .. }) => {
					live.refuse(AuthError::GrantRefused);
					self.changed();
					next = None;
				}
				Err(AuthError::ServiceUnavailable(_) | AuthError::ServiceError { status: 500.., .. }) => {
					// Evidence of nothing: the grant stands until its `expires`.
					failures += 1;
					let delay = backoff(failures, cadence.unwrap_or(BACKOFF_MAX));
					tracing::warn!(id = %live.id(), url = %self.shown, ?delay, "auth server re-check failed; retrying");
					next = tokio::time::Instant::now().checked_add(delay);
				}
				Err(_) => {
					// An answer the relay cannot honour (unbounded, expired, malformed).
					live.refuse(AuthError::GrantRefused);
					self.changed();
					next = None;
				}
			}
		};
		let end = base.end(reason, started.elapsed(), live.totals());
		if let Err(err) = self.post(&end).await {
			tracing::warn!(id = %live.id(), code = err.code(), "the auth server was not told the session ended");
		}
		self.sessions
			.lock()
			.unwrap_or_else(|e| e.into_inner())
			.remove(live.id());
	}
}

fn unavailable(e: &reqwest::Error) -> Unavailable {
	if e.is_timeout() {
		Unavailable::Timeout
	} else {
		Unavailable::Connection
	}
}

/// Random 128-bit hex, unique per session.
fn session_id() -> String {
	hex::encode(rand::random::<[u8; 16]>())
}

fn expiry_deadline(expires: u64) -> Option<tokio::time::Instant> {
	let at = std::time::UNIX_EPOCH.checked_add(Duration::from_secs(expires))?;
	let left = at.duration_since(std::time::SystemTime::now()).unwrap_or_default();
	tokio::time::Instant::now().checked_add(left)
}

/// Exponential from one second, capped by the cadence and [`BACKOFF_MAX`].
fn backoff(failures: u32, cadence: Duration) -> Duration {
	let base = Duration::from_secs(1).saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)));
	base.min(cadence).min(BACKOFF_MAX)
}

/// A grant as the contract allows it.
#[derive(Debug)]
struct Valid {
	publish: Patterns,
	subscribe: Patterns,
	root: Option<Path>,
	expires: Option<u64>,
	revalidate: Option<Duration>,
	peer: bool,
}

/// The contract's rules for a grant: one that names nothing refuses; one that asks to be re-checked
/// must say when it expires, at a cadence above zero; one already expired is refused.
fn validate(grant: WireGrant) -> Result<Valid, AuthError> {
	let malformed = |what: &str| AuthError::ServiceError {
		status: 200,
		body: ServiceBody::new(what),
	};
	let patterns = |list: &[String]| -> Result<Patterns, AuthError> {
		list.iter()
			.map(|p| {
				p.parse::<Pattern>()
					.map_err(|_| malformed("a grant pattern is invalid"))
			})
			.collect()
	};
	let publish = patterns(&grant.publish)?;
	let subscribe = patterns(&grant.subscribe)?;
	if publish.is_empty() && subscribe.is_empty() {
		return Err(AuthError::ServiceDenied {
			status: 200,
			body: ServiceBody::new("the grant names nothing"),
		});
	}
	if grant.revalidate.is_some() && grant.expires.is_none() {
		return Err(malformed("the grant asks to be re-checked without an expiry"));
	}
	if grant.revalidate == Some(0) {
		return Err(malformed("the grant asks to be re-checked every 0 seconds"));
	}
	let expires = match grant.expires {
		Some(at) if at <= 0 => return Err(AuthError::TokenExpired),
		Some(at) => Some(at as u64),
		None => None,
	};
	if expires.is_some_and(|at| at <= moq_token::unix_now()) {
		return Err(AuthError::TokenExpired);
	}
	let root = grant
		.root
		.map(|r| Path::new(&r).map_err(|_| malformed("the grant's root is not a path")))
		.transpose()?;
	Ok(Valid {
		publish,
		subscribe,
		root,
		expires,
		revalidate: grant.revalidate.map(Duration::from_secs),
		peer: grant.peer,
	})
}

impl Verifier for Arc<AuthUrl> {
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
		_metrics: Option<&'a Metrics>,
	) -> Judged<'a> {
		Box::pin(async move {
			match credential {
				Credential::Token(token) => Verdict::Decided(self.connect(request, Some(token)).await),
				_ => Verdict::PassOn(None),
			}
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn grant(json: &str) -> Result<Valid, AuthError> {
		validate(serde_json::from_str(json).unwrap())
	}

	#[test]
	fn urls_are_loopback_http_https_or_unix() {
		let new = |url: &str| {
			AuthUrl::new(AuthUrlSettings {
				url: url.into(),
				node: "n".into(),
				tls: AuthUrlTls::default(),
			})
			.map(|_| ())
		};
		new("http://127.0.0.1:9/").unwrap();
		new("http://[::1]:9/").unwrap();
		new("http://localhost:9/").unwrap();
		new("https://auth.example/").unwrap();
		new("unix:///run/auth.sock").unwrap();
		assert_eq!(new("http://auth.example/").unwrap_err().code(), "insecure_auth_url");
		assert_eq!(new("ftp://auth.example/").unwrap_err().code(), "invalid_auth_url");
		// A credential in the URL never reaches an error.
		let err = new("http://user:secret@auth.example/?key=secret").unwrap_err();
		assert!(!err.to_string().contains("secret"), "{err}");
	}

	#[test]
	fn tls_files_are_checked_and_named() {
		let new = |url: &str, tls: AuthUrlTls| {
			AuthUrl::new(AuthUrlSettings {
				url: url.into(),
				node: "n".into(),
				tls,
			})
			.map(|_| ())
		};
		let dir = std::env::temp_dir().join(format!("moq-relay-auth-url-tls-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		let not_pem = dir.join("not.pem");
		std::fs::write(&not_pem, "secret-looking bytes").unwrap();
		let missing = dir.join("missing.pem");
		let root = |path: &std::path::Path| AuthUrlTls {
			root: Some(path.to_path_buf()),
			..AuthUrlTls::default()
		};
		// Over plain HTTP there is no TLS to configure.
		let err = new("http://127.0.0.1:9/", root(&not_pem)).unwrap_err();
		assert_eq!((err.code(), err.key()), ("auth_url_tls", "auth.url"));
		let err = new("https://auth.example/", root(&missing)).unwrap_err();
		assert_eq!(err.key(), "auth.url_tls_root");
		assert!(err.to_string().contains("missing.pem"), "{err}");
		let err = new("https://auth.example/", root(&not_pem)).unwrap_err();
		assert!(err.to_string().contains("no PEM certificate"), "{err}");
		// A certificate without its key, and a pair that is not PEM: neither error shows the bytes.
		let half = AuthUrlTls {
			cert: Some(not_pem.clone()),
			..AuthUrlTls::default()
		};
		assert_eq!(
			new("https://auth.example/", half).unwrap_err().key(),
			"auth.url_tls_key"
		);
		let bad = AuthUrlTls {
			cert: Some(not_pem.clone()),
			key: Some(not_pem.clone()),
			..AuthUrlTls::default()
		};
		let err = new("https://auth.example/", bad).unwrap_err();
		assert!(!err.to_string().contains("secret-looking"), "{err}");
		let _ = std::fs::remove_dir_all(&dir);
	}

	#[test]
	fn grants_follow_the_contract() {
		let ok = grant(r#"{"publish":["alice/**"],"subscribe":["*/screen"],"root":"room","peer":true}"#).unwrap();
		assert_eq!(ok.publish.iter().map(Pattern::as_str).collect::<Vec<_>>(), ["alice/**"]);
		assert!(ok.peer && ok.root == Some(Path::new("room").unwrap()));
		assert!(matches!(grant(r#"{}"#), Err(AuthError::ServiceDenied { .. })));
		assert!(matches!(
			grant(r#"{"publish":["**"],"revalidate":5}"#),
			Err(AuthError::ServiceError { .. })
		));
		assert!(matches!(
			grant(r#"{"publish":["**"],"revalidate":0,"expires":4102444800}"#),
			Err(AuthError::ServiceError { .. })
		));
		assert_eq!(
			grant(r#"{"publish":["**"],"expires":1}"#).unwrap_err(),
			AuthError::TokenExpired
		);
		assert!(matches!(
			grant(r#"{"publish":["a/**/b/**"]}"#),
			Err(AuthError::ServiceError { .. })
		));
		let bounded = grant(r#"{"subscribe":["**"],"revalidate":60,"expires":4102444800,"tier":"x"}"#).unwrap();
		assert_eq!(
			(bounded.revalidate, bounded.expires),
			(Some(Duration::from_secs(60)), Some(4102444800))
		);
	}

	#[test]
	fn backoff_is_capped() {
		assert_eq!(backoff(1, Duration::from_secs(60)), Duration::from_secs(1));
		assert_eq!(backoff(3, Duration::from_secs(60)), Duration::from_secs(4));
		assert_eq!(backoff(30, Duration::from_secs(600)), BACKOFF_MAX);
		assert_eq!(backoff(30, Duration::from_secs(5)), Duration::from_secs(5));
	}
}
