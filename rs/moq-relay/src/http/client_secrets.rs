//! `POST /v1/client_secrets` and `POST /v1/realtime/client_secrets` (`docs/auth.md`, "Browser
//! tokens"): an app's server, holding an API key or a token, asks for a short-lived MoQ token to hand
//! to a browser. `OPTIONS` on both answers the CORS preflight of the configured origins.
//!
//! The caller's credential is decided like any HTTP request's, at the requested root (the body's
//! `root`, default the top), and counted against its address's failed attempts. The answer carries
//! the secret twice, `{"client_secret": {"value", "expires_at"}, "value", "expires_at"}`, with
//! `Cache-Control: no-store`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::{HttpState, PeerAddr, auth};
use crate::auth::{AuthError, ClientSecretError, ConnectRequest, SecretRequest};

/// The request headers a browser may send with its `POST`.
const ALLOWED_HEADERS: &str = "authorization, content-type, kyutai-api-key";

/// `POST`: mints a secret.
pub async fn mint(
	State(state): State<HttpState>,
	axum::Extension(PeerAddr(peer)): axum::Extension<PeerAddr>,
	method: Method,
	uri: Uri,
	headers: HeaderMap,
	body: axum::body::Body,
) -> Response {
	let Some(minter) = state.auth.client_secrets().cloned() else {
		return refusal(ClientSecretError::NotConfigured);
	};
	let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
	if let Some(origin) = origin
		&& !minter.allows_origin(origin)
	{
		return refusal(ClientSecretError::OriginNotAllowed);
	}
	let cors = |mut response: Response| {
		if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
			let headers = response.headers_mut();
			headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
			headers.insert(header::VARY, HeaderValue::from_static("Origin"));
		}
		response
	};
	// A secret is minted for a credential only: the public prefixes never mint one.
	let presented = ConnectRequest::parse(&match uri.query() {
		Some(query) => format!("/?{query}"),
		None => "/".into(),
	})
	.and_then(|request| request.with_headers(&headers))
	.and_then(|request| request.credential().map(|c| c.is_some()));
	match presented {
		Ok(true) => {}
		Ok(false) => return cors(AuthError::MissingCredential.into_response()),
		Err(err) => return cors(err.into_response()),
	}
	// Read once a credential was presented.
	let body = match super::body::read(body, state.body_timeout).await {
		Ok(body) => body,
		Err(err) => return cors(err.into_response()),
	};
	let request = match SecretRequest::parse(&body).and_then(|r| r.root().map(|root| (r, root))) {
		Ok(request) => request,
		Err(err) => return cors(refusal(err)),
	};
	let (request, root) = request;
	let http = auth::HttpRequest {
		method: &method,
		route: uri.path(),
		query: uri.query(),
		headers: &headers,
	};
	let path = format!("/{root}");
	let caller = match auth::authorize_from(&state.auth, &state.throttle, &state.metrics, peer, &path, http).await {
		Ok(grant) => grant,
		Err(refused) => return cors(refused),
	};
	let minted = match minter.mint(&caller, &request, moq_token::unix_now()) {
		Ok(minted) => minted,
		Err(err) => {
			tracing::info!(
				subject = caller.subject().unwrap_or("-"),
				code = err.code(),
				"client secret refused"
			);
			return cors(refusal(err));
		}
	};
	tracing::info!(
		subject = caller.subject().unwrap_or("-"),
		jti = %minted.id,
		root = %minted.root,
		expires = minted.expires_at,
		"client secret minted"
	);
	cors(
		(
			StatusCode::OK,
			[
				(header::CONTENT_TYPE, "application/json"),
				(header::CACHE_CONTROL, "no-store"),
			],
			minted.json(),
		)
			.into_response(),
	)
}

/// `OPTIONS`: the CORS preflight. An allowed origin gets `204` with the method and headers it may
/// use; any other (or none) gets `403 origin_not_allowed`.
pub async fn preflight(State(state): State<HttpState>, headers: HeaderMap) -> Response {
	let Some(minter) = state.auth.client_secrets() else {
		return refusal(ClientSecretError::NotConfigured);
	};
	let Some(origin) = headers
		.get(header::ORIGIN)
		.filter(|o| o.to_str().is_ok_and(|o| minter.allows_origin(o)))
	else {
		return refusal(ClientSecretError::OriginNotAllowed);
	};
	(
		StatusCode::NO_CONTENT,
		[
			(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()),
			(
				header::ACCESS_CONTROL_ALLOW_METHODS,
				HeaderValue::from_static("POST, OPTIONS"),
			),
			(
				header::ACCESS_CONTROL_ALLOW_HEADERS,
				HeaderValue::from_static(ALLOWED_HEADERS),
			),
			(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600")),
			(header::VARY, HeaderValue::from_static("Origin")),
		],
	)
		.into_response()
}

fn refusal(err: ClientSecretError) -> Response {
	(err.status(), [(header::CONTENT_TYPE, "application/json")], err.json()).into_response()
}
