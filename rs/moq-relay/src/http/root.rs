//! `GET /` and every unknown route: what a person who opens the relay's URL in a browser (or with
//! `curl`) needs next. The relay's MoQ URLs (`https://localhost:4443/anon`) are WebTransport
//! endpoints, which a browser tab cannot open; `GET` on them used to be an empty 404.
//!
//! `/` answers the MoQ URL of the public prefix, the certificate fingerprint (and where to fetch
//! it), how to get a token, and the other routes: JSON by default, a short HTML page when the
//! client asks for `text/html`. Any other unknown route is a 404 that points at `/`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::HttpState;

/// The routes listed on the page.
const ROUTES: [&str; 6] = [
	"/certificate.sha256",
	"/health",
	"/ready",
	"/metrics",
	"/announced/{prefix}",
	"/.well-known/jwks.json",
];

/// What `/` shows: everything a client needs to connect.
#[derive(Debug, serde::Serialize)]
struct Index {
	relay: &'static str,
	version: &'static str,
	/// MoQ URLs (WebTransport and raw QUIC, same port) of the public prefixes.
	urls: Vec<String>,
	fingerprint: String,
	certificate: String,
	token: String,
	routes: Vec<String>,
	docs: &'static str,
}

/// `GET /`.
pub async fn index(State(state): State<HttpState>, headers: HeaderMap) -> Response {
	let host = host(&headers);
	let index = Index {
		relay: "moq-relay",
		version: env!("CARGO_PKG_VERSION"),
		urls: urls(&state, &host),
		// The certificate served now: an ACME relay's changes at each renewal ("" before the first).
		fingerprint: state.certificate.served().fingerprint().unwrap_or_default().to_string(),
		certificate: format!("http://{host}/certificate.sha256"),
		token: token_hint(&state),
		routes: ROUTES.iter().map(|route| format!("http://{host}{route}")).collect(),
		docs: "docs/relay.md (running the relay), docs/auth.md (tokens and access)",
	};
	if wants_html(&headers) {
		if state.demo {
			return super::demo::page();
		}
		return ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html(&index)).into_response();
	}
	let mut body = serde_json::to_string_pretty(&index).unwrap_or_default();
	body.push('\n');
	(
		[
			(header::CONTENT_TYPE, "application/json"),
			(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
		],
		body,
	)
		.into_response()
}

/// Any route the relay does not serve: 404 naming the route list at `/`. A MoQ URL opened in a
/// browser lands here, so the answer says what such a URL is for.
pub async fn not_found(headers: HeaderMap) -> Response {
	let host = host(&headers);
	let body = format!(
		"404: no such route. MoQ URLs such as https://{host}/anon are for MoQ clients (WebTransport or raw QUIC), not for a browser tab; http://{host}/ lists the relay's URLs, its certificate fingerprint and its routes\n"
	);
	(
		StatusCode::NOT_FOUND,
		[(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
		body,
	)
		.into_response()
}

/// The request's `Host` when it is a plain host name or address with an optional port (anything
/// else is never echoed: it would land in HTML), else `localhost`.
pub(super) fn host(headers: &HeaderMap) -> String {
	headers
		.get(header::HOST)
		.and_then(|value| value.to_str().ok())
		.filter(|host| {
			!host.is_empty()
				&& host.len() <= 255
				&& host
					.chars()
					.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
		})
		.unwrap_or("localhost")
		.to_string()
}

pub(super) fn urls(state: &HttpState, host: &str) -> Vec<String> {
	state
		.auth
		.public()
		.prefixes()
		.iter()
		.map(|prefix| format!("https://{host}/{}", prefix.as_str()))
		.collect()
}

/// How to get in, from what the relay verifies.
fn token_hint(state: &HttpState) -> String {
	let public = state.auth.public();
	let anonymous = !public.is_empty();
	match (state.auth.verifies_tokens(), anonymous) {
		(true, _) => "sign a token with the relay's key and add it as ?jwt=<token>: moq-token --key <key file> sign --root <path> --publish <prefix> --subscribe <prefix> --expires-in 1h (in this repository: just token)".into(),
		(false, true) => "none needed under the public prefix; the relay verifies no tokens ([auth] key is not set)".into(),
		(false, false) => "this relay has no public prefix and verifies no credential: every session is refused (set [auth] public or [auth] key)".into(),
	}
}

pub(super) fn wants_html(headers: &HeaderMap) -> bool {
	headers
		.get(header::ACCEPT)
		.and_then(|value| value.to_str().ok())
		.is_some_and(|accept| accept.contains("text/html"))
}

/// The same as a page. Every value is either fixed text, the validated host, a path prefix the
/// configuration accepted, or hex; escaped all the same.
fn html(index: &Index) -> String {
	let escape = |text: &str| {
		text.replace('&', "&amp;")
			.replace('<', "&lt;")
			.replace('>', "&gt;")
			.replace('"', "&quot;")
	};
	let list = |items: &[String]| {
		items
			.iter()
			.map(|item| format!("<li><code>{}</code></li>", escape(item)))
			.collect::<String>()
	};
	format!(
		"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>moq-relay</title></head><body>\n\
		<h1>moq-relay {version}</h1>\n\
		<p>MoQ URLs (for MoQ clients over WebTransport or raw QUIC, not for this tab):</p><ul>{urls}</ul>\n\
		<p>Certificate fingerprint (SHA-256): <code>{fingerprint}</code>, also at <code>{certificate}</code></p>\n\
		<p>Token: {token}</p>\n\
		<p>Routes:</p><ul>{routes}</ul>\n\
		<p>Docs: {docs}</p>\n</body></html>\n",
		version = escape(index.version),
		urls = list(&index.urls),
		fingerprint = escape(&index.fingerprint),
		certificate = escape(&index.certificate),
		token = escape(&index.token),
		routes = list(&index.routes),
		docs = escape(index.docs),
	)
}
