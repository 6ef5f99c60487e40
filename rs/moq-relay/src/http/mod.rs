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

use crate::metrics::Metrics;

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
}

/// The routes: `/certificate.sha256`, `/health`, `/ready`, `/metrics`.
pub fn router(state: HttpState) -> Router {
	Router::new()
		.route("/certificate.sha256", get(certificate))
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
