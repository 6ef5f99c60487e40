//! The demo page and the status page (`[web] demo`; `docs/browser.md`, "The demo page").
//!
//! - `GET /` (a browser, `Accept: text/html`): a page that publishes a test pattern or a camera and
//!   watches a broadcast through this relay, over WebTransport or WebSocket, with `@moq/net`.
//! - `GET /status`: live sessions, broadcasts and auth outcomes, re-read every 2 s from
//!   `GET /status.json`.
//! - `GET /demo/demo.js`, `/demo/status.js`: the pages' scripts; `GET /demo/config.json`: what the
//!   page needs to connect (the MoQ URL of the first public prefix, the certificate fingerprint to
//!   pin, the client-secret endpoint).
//!
//! The pages are built from `js/demo` with esbuild into `assets/demo/` (committed, byte-for-byte
//! reproducible: `tests/it/demo.rs` rebuilds and compares) and embedded here, so the relay serves
//! them offline. With the demo off every route answers 404 `demo_disabled`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{HttpState, PeerAddr};

const INDEX: &[u8] = include_bytes!("../../assets/demo/index.html");
const DEMO_JS: &[u8] = include_bytes!("../../assets/demo/demo.js");
const STATUS: &[u8] = include_bytes!("../../assets/demo/status.html");
const STATUS_JS: &[u8] = include_bytes!("../../assets/demo/status.js");

/// What the pages need from this relay (`GET /demo/config.json`).
#[derive(Debug, serde::Serialize)]
struct PageConfig {
	/// The MoQ URL of the first public prefix (else of the root).
	url: String,
	/// The certificate's SHA-256 for `serverCertificateHashes`, when a browser can pin it ("" for a
	/// CA's certificate, which browsers verify themselves).
	fingerprint: String,
	/// The public prefixes.
	public: Vec<String>,
	/// The client-secret endpoint, when the relay mints secrets.
	client_secret: Option<&'static str>,
	version: &'static str,
}

/// What `GET /status.json` answers.
#[derive(Debug, serde::Serialize)]
struct Status {
	relay: &'static str,
	version: &'static str,
	uptime: u64,
	sessions: Sessions,
	broadcasts: Broadcasts,
	auth: AuthOutcomes,
}

#[derive(Debug, serde::Serialize)]
struct Sessions {
	live: u64,
	total: u64,
}

#[derive(Debug, serde::Serialize)]
struct Broadcasts {
	/// Every broadcast announced now.
	live: usize,
	/// Those an anonymous session may subscribe to: only these are named.
	public: Vec<String>,
}

#[derive(Debug, serde::Serialize)]
struct AuthOutcomes {
	admitted: u64,
	refused: std::collections::BTreeMap<&'static str, u64>,
}

fn disabled() -> Response {
	let body = serde_json::json!({
		"error": "demo_disabled",
		"message": "the demo and status pages are off: set [web] demo = true (--web-demo) to serve them",
	});
	(
		StatusCode::NOT_FOUND,
		[(header::CONTENT_TYPE, "application/json")],
		format!("{body}\n"),
	)
		.into_response()
}

fn file(content_type: &'static str, bytes: &'static [u8]) -> Response {
	(
		[
			(header::CONTENT_TYPE, content_type),
			(header::CACHE_CONTROL, "no-cache"),
			(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
		],
		bytes,
	)
		.into_response()
}

/// The demo page (for `GET /` from a browser when the demo is on).
pub fn page() -> Response {
	file("text/html; charset=utf-8", INDEX)
}

/// `GET /status`.
pub async fn status_page(State(state): State<HttpState>) -> Response {
	if !state.demo {
		return disabled();
	}
	file("text/html; charset=utf-8", STATUS)
}

/// `GET /demo/{file}`.
pub async fn asset(
	State(state): State<HttpState>,
	Path(name): Path<String>,
	headers: HeaderMap,
	peer: Option<axum::Extension<PeerAddr>>,
) -> Response {
	if !state.demo {
		return disabled();
	}
	match name.as_str() {
		"demo.js" => file("text/javascript; charset=utf-8", DEMO_JS),
		"status.js" => file("text/javascript; charset=utf-8", STATUS_JS),
		"config.json" => config(&state, &headers, peer.map(|p| p.0.0)),
		_ => {
			let body =
				serde_json::json!({"error": "not_found", "message": "the demo has demo.js, status.js and config.json"});
			(
				StatusCode::NOT_FOUND,
				[(header::CONTENT_TYPE, "application/json")],
				format!("{body}\n"),
			)
				.into_response()
		}
	}
}

fn config(state: &HttpState, headers: &HeaderMap, peer: Option<std::net::SocketAddr>) -> Response {
	let mut host = super::root::host(headers);
	// A page opened as http://localhost:<port> dials QUIC to what `localhost` resolves to, and
	// Chromium tries ::1 first without falling back to 127.0.0.1 on QUIC: name the loopback address
	// the page reached the relay on instead.
	if let (Some(port), Some(peer)) = (host.strip_prefix("localhost:"), peer)
		&& peer.ip().is_loopback()
	{
		host = match peer.ip() {
			std::net::IpAddr::V4(ip) => format!("{ip}:{port}"),
			std::net::IpAddr::V6(ip) => format!("[{ip}]:{port}"),
		};
	}
	let urls = super::root::urls(state, &host);
	let page = PageConfig {
		url: urls.first().cloned().unwrap_or_else(|| format!("https://{host}/")),
		fingerprint: state
			.certificate
			.served()
			.pinnable_fingerprint()
			.unwrap_or_default()
			.to_string(),
		public: state
			.auth
			.public()
			.prefixes()
			.iter()
			.map(|p| p.as_str().to_string())
			.collect(),
		client_secret: state.auth.client_secrets().map(|_| "/v1/client_secrets"),
		version: env!("CARGO_PKG_VERSION"),
	};
	(
		[
			(header::CONTENT_TYPE, "application/json"),
			(header::CACHE_CONTROL, "no-store"),
		],
		serde_json::to_string(&page).unwrap_or_default(),
	)
		.into_response()
}

/// `GET /status.json`: counts, and the names of the broadcasts anyone may watch (never those a
/// credential is needed for).
pub async fn status_json(State(state): State<HttpState>) -> Response {
	if !state.demo {
		return disabled();
	}
	let counters = state.metrics.status();
	let mut watch = state.origin.announced(moq_token::Path::root());
	let mut live = 0;
	let mut public = Vec::new();
	let anonymous = &state.auth.public().subscribe;
	for (path, _) in watch.take_current() {
		live += 1;
		if anonymous.matches(&path) {
			public.push(path.as_str().to_string());
		}
	}
	public.sort();
	let status = Status {
		relay: "moq-relay",
		version: env!("CARGO_PKG_VERSION"),
		uptime: counters.uptime,
		sessions: Sessions {
			live: counters.live,
			total: counters.total,
		},
		broadcasts: Broadcasts { live, public },
		auth: AuthOutcomes {
			admitted: counters.admitted,
			refused: counters.refused,
		},
	};
	(
		[
			(header::CONTENT_TYPE, "application/json"),
			(header::CACHE_CONTROL, "no-store"),
		],
		serde_json::to_string(&status).unwrap_or_default(),
	)
		.into_response()
}
