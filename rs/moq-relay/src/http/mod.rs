//! The TCP side: HTTP routes, over TLS or plain, on the relay's port.
//!
//! relay.md §1: TCP on the same port carries TLS (HTTPS) and plain HTTP (the
//! `http://…/certificate.sha256` bootstrap), told apart by the first byte of
//! the connection (0x16 = a TLS handshake record).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::auth::Auth;
use crate::metrics::Metrics;
use crate::origin::Origin;

pub mod auth;

/// What the routes read.
#[derive(Clone)]
pub struct HttpState {
	/// Lowercase hex SHA-256 of the leaf certificate.
	pub fingerprint: Arc<str>,
	/// Counters.
	pub metrics: Arc<Metrics>,
	/// Whether every listener is up.
	pub ready: Arc<AtomicBool>,
	/// The authorization policy (the same as for MoQ sessions).
	pub auth: Auth,
	/// The broadcast tree.
	pub origin: Arc<Origin>,
}

/// The routes: `/certificate.sha256`, `/health`, `/ready`, `/metrics`, `/announced[/{prefix}]`.
pub fn router(state: HttpState) -> Router {
	Router::new()
		.route("/certificate.sha256", get(certificate))
		.route("/announced", get(announced))
		.route("/announced/{*prefix}", get(announced))
		.route("/health", get(|| async { "ok\n" }))
		.route("/ready", get(ready))
		.route("/metrics", get(metrics))
		.with_state(state)
}

async fn certificate(State(state): State<HttpState>) -> impl IntoResponse {
	(
		[
			(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
			(header::CONTENT_TYPE, "text/plain"),
		],
		state.fingerprint.to_string(),
	)
}

async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
	if state.ready.load(Ordering::Relaxed) {
		(StatusCode::OK, "ready\n")
	} else {
		(StatusCode::SERVICE_UNAVAILABLE, "starting\n")
	}
}

/// `GET /announced[/{prefix}]`: the broadcasts announced at and below `prefix`, one path per line
/// relative to it, as the request's credential allows (the prefix is the connection path, exactly as
/// for a MoQ session: `?jwt=`, `?pp=`, `Authorization`, or a public prefix). A refusal is the auth
/// error's status and JSON body; with Privacy Pass, `401` with `WWW-Authenticate: PrivateToken`.
async fn announced(
	State(state): State<HttpState>,
	uri: axum::http::Uri,
	headers: axum::http::HeaderMap,
) -> axum::response::Response {
	let prefix = uri.path().strip_prefix("/announced").unwrap_or_default();
	let prefix = if prefix.is_empty() { "/" } else { prefix };
	let grant = match auth::authorize(&state.auth, prefix, uri.query(), &headers).await {
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

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
	(
		[(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
		state.metrics.render(),
	)
}

/// Serves `router` on `listener` until `shutdown` becomes true: TLS when the
/// first byte is 0x16, plain HTTP otherwise.
pub async fn serve(listener: TcpListener, tls: TlsAcceptor, router: Router, mut shutdown: watch::Receiver<bool>) {
	loop {
		let (stream, peer) = tokio::select! {
			accepted = listener.accept() => match accepted {
				Ok(accepted) => accepted,
				Err(err) => {
					tracing::warn!(%err, "TCP accept failed");
					continue;
				}
			},
			_ = async { let _ = shutdown.wait_for(|down| *down).await; } => return,
		};
		let tls = tls.clone();
		let router = router.clone();
		tokio::spawn(async move {
			if let Err(err) = connection(stream, peer, tls, router).await {
				tracing::debug!(%err, %peer, "HTTP connection ended");
			}
		});
	}
}

async fn connection(stream: TcpStream, _peer: SocketAddr, tls: TlsAcceptor, router: Router) -> std::io::Result<()> {
	let mut first = [0u8; 1];
	let n = stream.peek(&mut first).await?;
	let service = TowerToHyperService::new(router);
	let http = hyper::server::conn::http1::Builder::new();
	let result = if n == 1 && first[0] == 0x16 {
		let stream = tls.accept(stream).await?;
		http.serve_connection(TokioIo::new(stream), service).await
	} else {
		http.serve_connection(TokioIo::new(stream), service).await
	};
	result.map_err(std::io::Error::other)
}
