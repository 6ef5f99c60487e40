//! WebSocket upgrades on the TCP listener (`crate::transport::ws`): a request with `Upgrade:
//! websocket`, on any path, is a MoQ session attempt whose URL is the connection path.
//!
//! Before the `101 Switching Protocols` the relay checks, in order: the upgrade itself (RFC 6455
//! section 4.2.1), the page's origin when the request carries cookies ([`super::origin`]), the
//! subprotocol, shutdown, and the connection limits (the same table as QUIC connections). A refusal
//! is an HTTP status with the JSON body `{"error": code, "message": …}`. The credential (`?jwt=`,
//! `Authorization: Bearer`, …) is decided after the upgrade by the session driver, exactly as for a
//! WebTransport CONNECT, so a refused token closes the session with its code and reason.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{HttpState, PeerAddr};
use crate::limits::LimitError;
use crate::transport::ws::{self, UpgradeError};

/// The middleware: upgrades go to the relay's session driver, everything else to the routes.
pub async fn websocket(State(state): State<HttpState>, mut request: Request, next: Next) -> Response {
	// A request the session cookie may authenticate, on any route: the page's origin first.
	if state.auth.session_cookies()
		&& crate::auth::has_session_cookie(request.headers())
		&& let Err(refused) = state.origins.check(request.headers())
	{
		state.metrics.auth_refused(refused.code());
		return refusal(StatusCode::FORBIDDEN, refused.code(), &refused.to_string());
	}
	let Some(sockets) = state.websocket.clone() else {
		return next.run(request).await;
	};
	if !ws::is_upgrade(request.headers()) {
		return next.run(request).await;
	}
	let Some(PeerAddr(peer)) = request.extensions().get::<PeerAddr>().copied() else {
		return next.run(request).await;
	};
	let handshake = match ws::handshake(request.method(), request.headers(), &crate::relay::VERSIONS) {
		Ok(handshake) => handshake,
		Err(err) => return upgrade_refused(err),
	};
	if let Err(refused) = state.origins.check(request.headers()) {
		state.metrics.auth_refused(refused.code());
		return refusal(StatusCode::FORBIDDEN, refused.code(), &refused.to_string());
	}
	if sockets.shutting_down() {
		return upgrade_refused(UpgradeError::ShuttingDown);
	}
	let ticket = match sockets.open(peer.ip()) {
		Ok(ticket) => ticket.with_remote(peer),
		Err(limit) => {
			state.metrics.limit_refused(limit.code());
			let status = match limit {
				LimitError::TooManyPendingFromIp
				| LimitError::TooManyHandshakesFromIp
				| LimitError::TooManySessionsFromIp => StatusCode::TOO_MANY_REQUESTS,
				_ => StatusCode::SERVICE_UNAVAILABLE,
			};
			return refusal(status, limit.code(), &limit.to_string());
		}
	};
	let upgrade = hyper::upgrade::on(&mut request);
	let uri = request.uri();
	let url_path = match uri.query() {
		Some(query) => format!("{}?{query}", uri.path()),
		None => uri.path().to_string(),
	};
	let headers = request.headers().clone();
	let Ok(subprotocol) = HeaderValue::from_str(&handshake.negotiated.subprotocol) else {
		return upgrade_refused(UpgradeError::Subprotocol);
	};
	let Ok(accept) = HeaderValue::from_str(&handshake.accept) else {
		return upgrade_refused(UpgradeError::Invalid);
	};
	// The session's transport bounds its writes from now on (`crate::transport::ws`).
	if let Some(release) = request.extensions().get::<super::write_bound::Release>() {
		release.release();
	}
	// A session is no HTTP connection: its place is free before the client reads the 101.
	if let Some(place) = request.extensions().get::<std::sync::Arc<crate::limits::HttpPlace>>() {
		place.leave();
	}
	sockets.spawn(ticket, upgrade, handshake.negotiated, url_path, headers);
	(
		StatusCode::SWITCHING_PROTOCOLS,
		[
			(header::CONNECTION, HeaderValue::from_static("upgrade")),
			(header::UPGRADE, HeaderValue::from_static("websocket")),
			(header::SEC_WEBSOCKET_ACCEPT, accept),
			(header::SEC_WEBSOCKET_PROTOCOL, subprotocol),
		],
	)
		.into_response()
}

fn upgrade_refused(err: UpgradeError) -> Response {
	let status = match err {
		UpgradeError::Invalid | UpgradeError::Subprotocol => StatusCode::BAD_REQUEST,
		UpgradeError::Version => StatusCode::UPGRADE_REQUIRED,
		UpgradeError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
	};
	let mut response = refusal(status, err.code(), &err.to_string());
	if err == UpgradeError::Version {
		response
			.headers_mut()
			.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
	}
	response
}

/// A refusal: `status` and `{"error": code, "message": message}`.
fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
	let body = serde_json::json!({ "error": code, "message": message }).to_string();
	(status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Where upgraded WebSockets go: the relay's session driver, with the connection table and the
/// session count QUIC sessions use.
pub struct WebSockets {
	ctx: std::sync::Arc<crate::session::Context>,
	connections: std::sync::Arc<crate::limits::Connections>,
	sessions: std::sync::Arc<tokio::sync::watch::Sender<usize>>,
	/// Becomes `true` once the drain bound has passed: the sessions left are closed.
	closing: tokio::sync::watch::Sender<bool>,
	/// Numbers the sessions' log spans.
	next_id: std::sync::atomic::AtomicU64,
}

impl WebSockets {
	/// Sessions run with `ctx`, counted in `connections` (limits) and `sessions` (the drain).
	pub fn new(
		ctx: std::sync::Arc<crate::session::Context>,
		connections: std::sync::Arc<crate::limits::Connections>,
		sessions: std::sync::Arc<tokio::sync::watch::Sender<usize>>,
	) -> Self {
		Self {
			ctx,
			connections,
			sessions,
			closing: tokio::sync::watch::channel(false).0,
			next_id: std::sync::atomic::AtomicU64::new(0),
		}
	}

	/// Whether the relay is shutting down (new sessions are refused).
	pub fn shutting_down(&self) -> bool {
		*self.ctx.shutdown.borrow()
	}

	/// A place in the connection table for a session from `ip`.
	pub fn open(&self, ip: std::net::IpAddr) -> Result<crate::limits::Ticket, LimitError> {
		self.connections.open(ip, tokio::time::Instant::now())
	}

	/// Closes every WebSocket session still open (after the drain bound).
	pub fn close_all(&self) {
		self.closing.send_replace(true);
	}

	/// Runs the session once the upgrade completes (within `limits.handshake_timeout`).
	pub fn spawn(
		&self,
		mut ticket: crate::limits::Ticket,
		upgrade: hyper::upgrade::OnUpgrade,
		negotiated: ws::Negotiated,
		url_path: String,
		headers: axum::http::HeaderMap,
	) {
		use tracing::Instrument;
		let first_request = std::time::Instant::now();
		let ctx = self.ctx.clone();
		let count = crate::relay::SessionCount::new(self.sessions.clone());
		let mut closing = self.closing.subscribe();
		let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
		tokio::spawn(async move {
			let _count = count;
			let Some(upgraded) = crate::relay::handshake_within(&ctx, "WebSocket upgrade", upgrade).await else {
				return;
			};
			let session = match ws::accept_upgraded(upgraded, &negotiated, ws::Bounds::from(&ctx.limits)).await {
				Ok(session) => session,
				Err(qmux::Error::HandshakeTimeout) => {
					// No QMux transport parameters, so no SETUP either: as a QUIC client without SETUP.
					ctx.metrics.limit_refused(LimitError::SetupTimeout.code());
					tracing::debug!("WebSocket client sent no QMux transport parameters in time");
					return;
				}
				Err(err) => {
					tracing::debug!(%err, "WebSocket session ended before its QMux transport parameters");
					return;
				}
			};
			let span = tracing::info_span!("session", ws = id);
			let run = async {
				use ws::Protocol;
				match negotiated.protocol {
					Protocol::Lite(version) => {
						let url = crate::session::UrlRequest {
							target: url_path,
							binding: crate::auth::Transport::WebSocket,
							headers,
						};
						crate::session::run(session.clone(), version, Some(url), ctx, &mut ticket, first_request).await
					}
					Protocol::Ietf(draft) => {
						crate::session::run_websocket_draft(
							session.clone(),
							draft,
							url_path,
							headers,
							ctx,
							&mut ticket,
							first_request,
						)
						.await
					}
				}
			}
			.instrument(span);
			tokio::select! {
				result = run => {
					if let Err(err) = result {
						tracing::info!(%err, "session refused");
					}
				}
				_ = closing.wait_for(|closing| *closing) => {
					use crate::transport::Session as _;
					session.close(0, "relay shutting down");
				}
			}
		});
	}
}
