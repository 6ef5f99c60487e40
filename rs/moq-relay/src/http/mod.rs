//! The TCP side: HTTP routes, over TLS or plain, on the relay's port.
//!
//! `docs/relay.md`: TCP on the same port carries TLS (HTTPS) and plain HTTP (the
//! `http://…/certificate.sha256` bootstrap), told apart by the first byte of
//! the connection (0x16 = a TLS handshake record).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::auth::Auth;
use crate::limits::HttpConnections;
use crate::metrics::Metrics;
use crate::origin::Origin;

pub mod auth;
pub mod body;
pub mod client_secrets;
pub mod demo;
pub mod origin;
pub mod root;
pub mod upgrade;
pub mod write_bound;

/// What the routes read.
#[derive(Clone)]
pub struct HttpState {
	/// Lowercase hex SHA-256 of the leaf certificate served at start-up ("" when an ACME relay had
	/// none yet); `certificate` has the one served now.
	pub fingerprint: Arc<str>,
	/// The certificate served (its fingerprint for `/certificate.sha256`; `/ready` waits for one).
	pub certificate: Arc<crate::tls::Resolver>,

	/// Counters.
	pub metrics: Arc<Metrics>,
	/// Whether every listener is up.
	pub ready: Arc<AtomicBool>,
	/// The authorization policy (the same as for MoQ sessions).
	pub auth: Auth,
	/// The broadcast tree.
	pub origin: Arc<Origin>,
	/// Failed credentials by address (shared with the MoQ sessions).
	pub throttle: Arc<crate::limits::AuthThrottle>,
	/// Where WebSocket upgrades go (`None`: upgrades are plain requests, as in tests of the routes).
	pub websocket: Option<Arc<upgrade::WebSockets>>,
	/// The web origins whose pages may send cookies (`[web] allowed_origins`, see [`origin`]).
	pub origins: Arc<origin::AllowedOrigins>,
	/// Whether the demo and status pages are served (`[web] demo`, see [`demo`]).
	pub demo: bool,
	/// How long a JSON route waits for its request body (`[limits] http_timeout`, see [`body`]).
	pub body_timeout: Duration,
}

/// The TCP peer of a request (an extension every connection's requests carry).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// The routes: `/certificate.sha256`, `/health`, `/ready`, `/metrics`, `/announced[/{prefix}]`,
/// `/.well-known/jwks.json`, the operator's `POST /revoke`, and `POST /v1/client_secrets` (also at
/// `/v1/realtime/client_secrets`).
pub fn router(state: HttpState) -> Router {
	// A WebSocket upgrade, on any path, is a MoQ session (`upgrade`), never a route.
	let upgrades = axum::middleware::from_fn_with_state(state.clone(), upgrade::websocket);
	Router::new()
		.route("/", get(root::index))
		.route("/status", get(demo::status_page))
		.route("/status.json", get(demo::status_json))
		.route("/demo/{file}", get(demo::asset))
		.route("/certificate.sha256", get(certificate))
		.route("/.well-known/jwks.json", get(jwks))
		.route("/announced", get(announced))
		.route("/announced/{*prefix}", get(announced))
		.route("/health", get(|| async { "ok\n" }))
		.route("/ready", get(ready))
		.route("/metrics", get(metrics))
		.route("/revoke", axum::routing::post(revoke))
		.route(
			"/v1/client_secrets",
			axum::routing::post(client_secrets::mint).options(client_secrets::preflight),
		)
		.route(
			"/v1/realtime/client_secrets",
			axum::routing::post(client_secrets::mint).options(client_secrets::preflight),
		)
		.fallback(root::not_found)
		.layer(upgrades)
		.with_state(state)
}

async fn certificate(State(state): State<HttpState>) -> axum::response::Response {
	let headers = [
		(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
		(header::CONTENT_TYPE, "text/plain"),
	];
	match state.certificate.served().fingerprint() {
		Some(fingerprint) => (headers, fingerprint.to_string()).into_response(),
		None => (StatusCode::SERVICE_UNAVAILABLE, headers, "no certificate yet\n").into_response(),
	}
}

/// `GET /.well-known/jwks.json`: the public half of the key the relay signs its requests to the auth
/// service with (`docs/auth.md`, "Delegated auth service"), as a JWK Set (RFC 7517 §5), so the service
/// can fetch it instead of copying a PEM. 404 when no auth service is configured.
async fn jwks(State(state): State<HttpState>) -> axum::response::Response {
	match state.auth.service() {
		Some(service) => (
			[
				(header::CONTENT_TYPE, "application/json"),
				(header::CACHE_CONTROL, "max-age=300"),
				(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
			],
			service.key().jwks().to_string(),
		)
			.into_response(),
		None => (StatusCode::NOT_FOUND, "no auth service signing key is configured\n").into_response(),
	}
}

/// What `POST /revoke` takes: a token id, a subject, or both.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Revoke {
	jti: Option<String>,
	sub: Option<String>,
}

/// `POST /revoke` (`docs/auth.md`, "Revocation"): adds `{"jti": …}` and/or `{"sub": …}` to the
/// revocation list until the relay restarts; the live sessions they name are closed at once. Only a
/// cluster token (`Authorization: Bearer`, as the relay's own cluster links carry) may revoke:
/// anything else is refused like any credential, or with 403 `no_access`.
async fn revoke(
	State(state): State<HttpState>,
	axum::Extension(PeerAddr(peer)): axum::Extension<PeerAddr>,
	method: axum::http::Method,
	uri: axum::http::Uri,
	headers: axum::http::HeaderMap,
	body: axum::body::Body,
) -> axum::response::Response {
	let refused = |status: StatusCode, code: &str, message: &str| {
		let body = serde_json::json!({ "error": code, "message": message }).to_string();
		(status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
	};
	let request = auth::HttpRequest {
		method: &method,
		route: uri.path(),
		query: uri.query(),
		headers: &headers,
	};
	let decided = auth::authorize_from(&state.auth, &state.throttle, &state.metrics, peer, "/", request);
	let grant = match decided.await {
		Ok(grant) => grant,
		Err(refusal) => return refusal,
	};
	if !grant.cluster() {
		return refused(
			StatusCode::FORBIDDEN,
			"no_access",
			"only a cluster token may revoke: sign one with `moq-token sign --cluster`",
		);
	}
	let Some(revocations) = state.auth.revocations() else {
		return refused(
			StatusCode::NOT_FOUND,
			"not_found",
			"this relay keeps no revocation list",
		);
	};
	// Read once the caller may revoke.
	let body = match body::read(body, state.body_timeout).await {
		Ok(body) => body,
		Err(err) => return err.into_response(),
	};
	let revoke = match serde_json::from_slice::<Revoke>(&body) {
		Ok(revoke) if revoke.jti.is_some() || revoke.sub.is_some() => revoke,
		_ => {
			return refused(
				StatusCode::BAD_REQUEST,
				"invalid_request",
				"send a JSON object with \"jti\" and/or \"sub\"",
			);
		}
	};
	let entries: Vec<crate::auth::Revoked> = (revoke.jti.iter().cloned().map(crate::auth::Revoked::TokenId))
		.chain(revoke.sub.iter().cloned().map(crate::auth::Revoked::Subject))
		.collect();
	if !entries.iter().all(crate::auth::Revoked::storable) {
		return refused(
			StatusCode::BAD_REQUEST,
			"invalid_request",
			"\"jti\" and \"sub\" are one line each, not empty, without surrounding spaces",
		);
	}
	let persisted = match revocations.revoke(&entries) {
		Ok(persisted) => persisted,
		Err(err) => {
			tracing::warn!(code = err.code(), "{err}");
			return refused(StatusCode::INTERNAL_SERVER_ERROR, err.code(), &err.to_string());
		}
	};
	tracing::info!(
		subject = grant.subject().unwrap_or("-"),
		persisted,
		"revocation added by the operator endpoint"
	);
	let body = serde_json::json!({ "revoked": { "jti": revoke.jti, "sub": revoke.sub }, "persisted": persisted });
	(
		StatusCode::OK,
		[(header::CONTENT_TYPE, "application/json")],
		body.to_string(),
	)
		.into_response()
}

/// `GET /ready`: 200 once every listener is up and a certificate is served, then one line per
/// degraded auth source (a JWKS URL serving its last good set), which does not make the relay
/// unready; 503 `starting` before and while draining, and 503 with a JSON reason while an ACME
/// relay has no certificate yet (`docs/tls.md`).
async fn ready(State(state): State<HttpState>) -> axum::response::Response {
	if !state.ready.load(Ordering::Relaxed) {
		return (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response();
	}
	match state.certificate.waiting() {
		// A degraded auth source (a JWKS URL serving its last good set) is said, one line each, but
		// does not make the relay unready.
		None => {
			let problems: String = state.auth.problems().iter().map(|p| format!("{p}\n")).collect();
			(StatusCode::OK, format!("ready\n{problems}")).into_response()
		}
		Some(message) => {
			let body = serde_json::json!({ "ready": false, "reason": "no_certificate", "message": message });
			(
				StatusCode::SERVICE_UNAVAILABLE,
				[(header::CONTENT_TYPE, "application/json")],
				format!("{body}\n"),
			)
				.into_response()
		}
	}
}

/// `GET /announced[/{prefix}]`: the broadcasts announced at and below `prefix`, one path per line
/// relative to it, as the request's credential allows (the prefix is the connection path, exactly as
/// for a MoQ session: `?jwt=`, `?pp=`, `Authorization`, or a public prefix). A refusal is the auth
/// error's status and JSON body; with Privacy Pass, `401` with `WWW-Authenticate: PrivateToken`.
async fn announced(
	State(state): State<HttpState>,
	axum::Extension(PeerAddr(peer)): axum::Extension<PeerAddr>,
	method: axum::http::Method,
	uri: axum::http::Uri,
	headers: axum::http::HeaderMap,
) -> axum::response::Response {
	let prefix = uri.path().strip_prefix("/announced").unwrap_or_default();
	let prefix = if prefix.is_empty() { "/" } else { prefix };
	let request = auth::HttpRequest {
		method: &method,
		route: uri.path(),
		query: uri.query(),
		headers: &headers,
	};
	let decided = auth::authorize_from(&state.auth, &state.throttle, &state.metrics, peer, prefix, request);
	let grant = match decided.await {
		Ok(grant) => grant,
		Err(refusal) => return refusal,
	};
	let mut watch = state.origin.announced(grant.root().clone());
	let mut body = String::new();
	for (path, _) in watch.take_current() {
		if let Some(relative) = path.strip_prefix(grant.root())
			&& grant.can_subscribe(&relative)
		{
			body.push_str(relative.as_str());
			body.push('\n');
		}
	}
	(
		[
			(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
			(header::CONTENT_TYPE, "text/plain"),
		],
		body,
	)
		.into_response()
}

/// `GET /metrics`: the Prometheus text format 0.0.4 (see [`crate::metrics`]).
async fn metrics(State(state): State<HttpState>) -> axum::response::Response {
	match state.metrics.render() {
		Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
		Err(err) => {
			tracing::error!(%err, "metrics not encoded");
			StatusCode::INTERNAL_SERVER_ERROR.into_response()
		}
	}
}

/// The bounds of the TCP side (from [`crate::limits::Limits`]).
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
	/// Time for the first byte, for the TLS handshake, and for each request's headers (also the
	/// longest a kept-alive connection may sit idle, and a response's write may wait for the
	/// client to read: [`write_bound`]).
	pub timeout: Duration,
	/// Connections open at once; a new one over it is closed at once.
	pub max_connections: usize,
	/// Of those, from one address (an IPv6 /64 counts as one).
	pub max_connections_per_ip: usize,
}

impl From<&crate::limits::Limits> for Bounds {
	fn from(limits: &crate::limits::Limits) -> Self {
		Self {
			timeout: limits.http_timeout,
			max_connections: limits.max_http_connections,
			max_connections_per_ip: limits.max_http_connections_per_ip,
		}
	}
}

/// Serves `router` on `listener` until `shutdown` becomes true: TLS when the
/// first byte is 0x16, plain HTTP otherwise.
pub async fn serve(
	listener: TcpListener,
	tls: TlsAcceptor,
	router: Router,
	bounds: Bounds,
	metrics: Arc<Metrics>,
	mut shutdown: watch::Receiver<bool>,
) {
	let places = HttpConnections::new(bounds.max_connections, bounds.max_connections_per_ip);
	let mut backoff = AcceptBackoff::default();
	loop {
		let (stream, peer) = tokio::select! {
			accepted = listener.accept() => match accepted {
				Ok(accepted) => {
					backoff.reset();
					accepted
				}
				Err(err) => {
					backoff.failed(&err).await;
					continue;
				}
			},
			_ = async { let _ = shutdown.wait_for(|down| *down).await; } => return,
		};
		let place = match places.open(peer.ip()) {
			Ok(place) => place,
			Err(limit) => {
				metrics.limit_refused(limit.code());
				drop(stream);
				continue;
			}
		};
		realtime(&stream);
		let tls = tls.clone();
		let router = router.clone();
		let metrics = metrics.clone();
		// An extension of the connection's requests, so that a WebSocket upgrade can leave it early.
		let place = Arc::new(place);
		tokio::spawn(async move {
			let router = router.layer(axum::Extension(place.clone()));
			if let Err(err) = connection(stream, peer, tls, router, bounds.timeout, metrics).await {
				tracing::debug!(%err, %peer, "HTTP connection ended");
			}
			place.leave();
		});
	}
}

/// Sends what the relay writes on `stream` at once. With Nagle's algorithm (RFC 896, on by default)
/// a small write waits until what was sent before it is acknowledged, and a client delays its ACKs
/// by up to 40 ms: frames to WebSocket subscribers had a p99 latency of 43 ms, against under 4 ms
/// without it (`docs/performance.md`, "WebSocket latency").
fn realtime(stream: &TcpStream) {
	if let Err(err) = stream.set_nodelay(true) {
		tracing::debug!(%err, "TCP_NODELAY not set");
	}
}

/// What the accept loop does when `accept` fails. Out of file descriptors (or buffers), failing
/// again at once would spin a core and flood the log: it waits, doubling from 10 ms to 1 s, and logs
/// one line at most every 10 s with how many accepts failed. Other errors (a connection reset
/// before it was accepted) are the peer's and retried at once.
#[derive(Debug, Default)]
struct AcceptBackoff {
	delay: Option<Duration>,
	failures: u64,
	logged: Option<Instant>,
}

impl AcceptBackoff {
	const FIRST: Duration = Duration::from_millis(10);
	const MAX: Duration = Duration::from_secs(1);
	const LOG_EVERY: Duration = Duration::from_secs(10);

	fn reset(&mut self) {
		self.delay = None;
	}

	async fn failed(&mut self, err: &std::io::Error) {
		self.failures += 1;
		if self.logged.is_none_or(|at| at.elapsed() >= Self::LOG_EVERY) {
			tracing::warn!(%err, failures = self.failures, "TCP accept failing (raise the open-file limit, `ulimit -n`, if it says too many open files)");
			self.logged = Some(Instant::now());
			self.failures = 0;
		}
		if !resource_exhausted(err) {
			return;
		}
		let delay = self.delay.map_or(Self::FIRST, |d| (d * 2).min(Self::MAX));
		self.delay = Some(delay);
		tokio::time::sleep(delay).await;
	}
}

/// `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`: accepting again at once would fail the same way.
fn resource_exhausted(err: &std::io::Error) -> bool {
	const EMFILE: i32 = 24;
	const ENFILE: i32 = 23;
	const ENOBUFS: i32 = 105;
	const ENOMEM: i32 = 12;
	err.kind() == std::io::ErrorKind::OutOfMemory
		|| matches!(err.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
}

/// Serves one accepted connection: plain HTTP or, when its first byte starts a TLS handshake,
/// HTTPS; every write bounded by `timeout` ([`write_bound`]) until a WebSocket upgrade.
async fn connection(
	stream: TcpStream,
	peer: SocketAddr,
	tls: TlsAcceptor,
	router: Router,
	timeout: Duration,
	metrics: Arc<Metrics>,
) -> std::io::Result<()> {
	let timed_out = |what: &str| std::io::Error::new(std::io::ErrorKind::TimedOut, format!("no {what} in {timeout:?}"));
	let mut first = [0u8; 1];
	let n = tokio::time::timeout(timeout, stream.peek(&mut first))
		.await
		.map_err(|_| timed_out("first byte"))??;
	let (stream, release) = write_bound::WriteBound::new(stream, timeout, metrics);
	let router = router
		.layer(axum::Extension(PeerAddr(peer)))
		.layer(axum::Extension(release));
	let service = TowerToHyperService::new(router);
	let mut http = hyper::server::conn::http1::Builder::new();
	http.timer(TokioTimer::new()).header_read_timeout(timeout);
	let result = if n == 1 && first[0] == 0x16 {
		let stream = tokio::time::timeout(timeout, tls.accept(stream))
			.await
			.map_err(|_| timed_out("TLS handshake"))??;
		if stream.get_ref().1.alpn_protocol() == Some(crate::tls::ACME_TLS_ALPN) {
			// A TLS-ALPN-01 validation (RFC 8737 §3): the handshake was the answer.
			return Ok(());
		}
		http.serve_connection(TokioIo::new(stream), service)
			.with_upgrades()
			.await
	} else {
		http.serve_connection(TokioIo::new(stream), service)
			.with_upgrades()
			.await
	};
	result.map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[tokio::test]
	async fn accepted_connections_send_small_writes_at_once() {
		let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = listener.local_addr().unwrap();
		let (accepted, _client) = tokio::join!(listener.accept(), TcpStream::connect(addr));
		let (stream, _) = accepted.unwrap();
		assert!(!stream.nodelay().unwrap(), "Nagle's algorithm is on by default");
		realtime(&stream);
		assert!(stream.nodelay().unwrap());
	}
}
