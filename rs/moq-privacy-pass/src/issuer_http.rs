//! The local issuer over HTTP (feature `http`): RFC 9578 §4 issuance, so the Privacy Pass flow runs
//! offline.
//!
//! - `GET /.well-known/private-token-issuer-directory` → the [`IssuerDirectory`](crate::IssuerDirectory)
//!   JSON (`application/private-token-issuer-directory`, `Cache-Control: max-age=…`).
//! - `POST <request path>` with an `application/private-token-request` body (a [`TokenRequest`](crate::TokenRequest))
//!   → 200 `application/private-token-response` (a [`TokenResponse`](crate::TokenResponse)); 415 for another
//!   content type, 400 for a malformed request or an unknown truncated key id.
//!
//! The issuer attests nothing: anyone who can reach it gets tokens. It is for development and tests,
//! like the demo issuer of the original quick test.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::{DIRECTORY_MEDIA_TYPE, DIRECTORY_PATH, Issuer, TOKEN_REQUEST_MEDIA_TYPE, TOKEN_RESPONSE_MEDIA_TYPE};

/// Where [`router`] serves token requests unless told otherwise.
pub const DEFAULT_REQUEST_PATH: &str = "/token-request";

#[derive(Clone)]
struct IssuerState {
	issuer: Arc<Issuer>,
	max_age: Duration,
}

/// The issuer's routes: the directory (cacheable for `directory_max_age`) and token requests at
/// `request_path` (the path of the issuer's request URI).
pub fn router(issuer: Arc<Issuer>, request_path: &str, directory_max_age: Duration) -> Router {
	Router::new()
		.route(DIRECTORY_PATH, get(directory))
		.route(request_path, post(token_request))
		.with_state(IssuerState {
			issuer,
			max_age: directory_max_age,
		})
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
	listener: tokio::net::TcpListener,
	router: Router,
	shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
	axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

async fn directory(State(state): State<IssuerState>) -> Response {
	(
		[
			(header::CONTENT_TYPE, DIRECTORY_MEDIA_TYPE.to_string()),
			(header::CACHE_CONTROL, format!("max-age={}", state.max_age.as_secs())),
		],
		state.issuer.directory_json(),
	)
		.into_response()
}

async fn token_request(State(state): State<IssuerState>, headers: HeaderMap, body: Bytes) -> Response {
	let content_type = headers
		.get(header::CONTENT_TYPE)
		.and_then(|v| v.to_str().ok())
		.unwrap_or_default();
	if !content_type.trim().eq_ignore_ascii_case(TOKEN_REQUEST_MEDIA_TYPE) {
		return (
			StatusCode::UNSUPPORTED_MEDIA_TYPE,
			format!("content-type must be {TOKEN_REQUEST_MEDIA_TYPE}\n"),
		)
			.into_response();
	}
	match state.issuer.issue(&body) {
		Ok(response) => ([(header::CONTENT_TYPE, TOKEN_RESPONSE_MEDIA_TYPE)], response).into_response(),
		Err(err) => (StatusCode::BAD_REQUEST, format!("{}: {err}\n", err.code())).into_response(),
	}
}
