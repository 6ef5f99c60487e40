//! The operator endpoint (`[auth] operator`, off by default): a separate plain-HTTP listener, meant
//! for a loopback address, over the live sessions of `[auth] url` (`docs/auth.md`, "Operator
//! endpoint").
//!
//! - `GET /sessions`: `{"sessions": [...]}`, each with its id, subject, transport, root, grant
//!   patterns, expiry and age. Never a credential (no token, no query).
//! - `POST /sessions/revalidate`: asks the auth server to re-check every live session now;
//!   `{"revalidated": n}`.
//! - `POST /sessions/{id}/close`: closes that session (`grant_refused`); `404` for an unknown id.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{Auth, AuthUrl};

fn json(status: StatusCode, value: serde_json::Value) -> Response {
	(status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

async fn sessions(State(auth_url): State<Option<Arc<AuthUrl>>>) -> Response {
	let sessions = auth_url.map(|a| a.sessions()).unwrap_or_default();
	json(StatusCode::OK, serde_json::json!({ "sessions": sessions }))
}

async fn revalidate(State(auth_url): State<Option<Arc<AuthUrl>>>) -> Response {
	let revalidated = auth_url.map(|a| a.revalidate_all()).unwrap_or(0);
	json(StatusCode::OK, serde_json::json!({ "revalidated": revalidated }))
}

async fn close(State(auth_url): State<Option<Arc<AuthUrl>>>, Path(id): Path<String>) -> Response {
	if auth_url.is_some_and(|a| a.close(&id)) {
		StatusCode::NO_CONTENT.into_response()
	} else {
		json(
			StatusCode::NOT_FOUND,
			serde_json::json!({ "error": "not_found", "message": "no live session has this id" }),
		)
	}
}

/// The routes, over the auth server's sessions (none without `[auth] url`).
pub fn router(auth: &Auth) -> Router {
	Router::new()
		.route("/sessions", get(sessions))
		.route("/sessions/revalidate", post(revalidate))
		.route("/sessions/{id}/close", post(close))
		.with_state(auth.auth_url().cloned())
}

/// Serves the operator endpoint on `listener` until `down` turns true.
pub async fn serve(listener: TcpListener, auth: Auth, mut down: watch::Receiver<bool>) {
	let stop = async move {
		let _ = down.wait_for(|down| *down).await;
	};
	if let Err(err) = axum::serve(listener, router(&auth)).with_graceful_shutdown(stop).await {
		tracing::warn!(%err, "the operator endpoint stopped");
	}
}
