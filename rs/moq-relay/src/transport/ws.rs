//! MoQ over WebSocket: QUIC streams framed with QMux on a WebSocket upgraded from the relay's TCP
//! listener (plain HTTP or HTTPS, the same port as QUIC), for clients that cannot use WebTransport.
//!
//! Negotiation is the published clients': the client offers `Sec-WebSocket-Protocol` entries
//! `qmux-<draft>.<alpn>` (`qmux-01.moq-lite-05`, …) followed by the bare `qmux-02`, `qmux-01`,
//! `qmux-00` and `webtransport`. The relay answers the first of *its* versions ([`crate::relay::VERSIONS`],
//! lite-06 first, then the IETF drafts of [`crate::protocol::ietf::negotiate::DRAFTS`] by their
//! identifiers `moq-00`, `moqt-16`, …) that the client offered, on the newest QMux draft offered with it; never a bare
//! entry (it names no moq version, and the relay does not guess one), never anything the client did
//! not offer, and never a value copied from the request beyond that exact entry. The upgrade's URL is
//! the connection path and its query (`?jwt=`), and its headers (`Authorization: Bearer`) are the
//! credentials, exactly as for a WebTransport CONNECT.
//!
//! The framing is the `qmux` crate's session, over the relay's own halves of the socket ([`io`]: a
//! session's close reaches the client even when it comes while the client's messages are being
//! read); [`WsSession`] implements [`super::Session`] over it, so the session driver is the one
//! QUIC sessions run.
//!
//! What one connection may hold is bounded like a QUIC connection's:
//! - before admission the relay reads at most `limits.pending_window` bytes of WebSocket payload
//!   (then it stops reading the socket, which is TCP's flow control) until the session is admitted
//!   ([`super::Session::allow_receive`]); after it, QMux's connection window is `limits.session_window`;
//! - [`crate::transport::CLIENT_STREAMS`] streams of each direction (QMux cannot raise the count
//!   later, so [`super::Session::allow_streams`] is a no-op: streams beyond it wait in QMux flow control);
//! - a WebSocket message (one QMux record) of at most [`MAX_MESSAGE`] bytes; a larger one closes the session;
//! - a 4 KiB read buffer, so an idle session costs little;
//! - a Ping every [`KEEP_ALIVE`], and a peer silent for [`IDLE_TIMEOUT`] is closed.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http;
use bytes::Bytes;
use futures::task::AtomicWaker;
use qmux::ws::tokio_tungstenite::WebSocketStream;
use qmux::ws::tungstenite::{self, Message, protocol::Role, protocol::WebSocketConfig};
use web_transport_trait::Session as _;

use super::TransportError;
use crate::wire::Version;

mod io;
mod stream;
mod tcp;

pub use stream::{WsRecv, WsSend};
pub use tcp::accept_upgraded;

/// The QMux drafts the relay speaks under a moq version, most preferred first.
pub const DRAFTS: [qmux::Version; 3] = [qmux::Version::QMux02, qmux::Version::QMux01, qmux::Version::QMux00];

/// The largest WebSocket message (and frame) the relay accepts: a QMux record (at most 16382 bytes,
/// the relay's `max_record_size`) or a draft-00 frame (16384) with room to spare.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// How often the relay pings an idle WebSocket (the QUIC keep-alive is 4 s too).
pub const KEEP_ALIVE: Duration = Duration::from_secs(4);

/// A peer from which nothing (not even a Pong) arrives for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The tungstenite read buffer: small, so 500 idle sessions cost ~2 MiB of it, not 64.
const READ_BUFFER: usize = 4 * 1024;

/// The moq protocol a WebSocket session speaks: named by its subprotocol, so never left to a SETUP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
	/// A moq-lite version.
	Lite(Version),
	/// An IETF moq-transport draft.
	Ietf(crate::wire::ietf::Draft),
}

/// What the relay answered in `Sec-WebSocket-Protocol`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
	/// The moq-lite version or IETF draft.
	pub protocol: Protocol,
	/// The QMux draft.
	pub draft: qmux::Version,
	/// The subprotocol answered: `qmux-<draft>.<alpn>`.
	pub subprotocol: String,
}

/// Picks the subprotocol: the first of `versions` (the relay's order), then of the IETF drafts the
/// relay speaks, that the client offered, on the newest QMux draft it offered it with. `offered`
/// are the `Sec-WebSocket-Protocol` header values (each a comma-separated list). `None` when there
/// is none the relay speaks (bare entries only, or unknown versions).
pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>, versions: &[Version]) -> Option<Negotiated> {
	let offered: Vec<&str> = offered
		.into_iter()
		.flat_map(|value| value.split(','))
		.map(str::trim)
		.filter(|entry| !entry.is_empty())
		.collect();
	let lite = versions.iter().map(|&v| (Protocol::Lite(v), v.alpn()));
	let ietf = crate::protocol::ietf::negotiate::DRAFTS
		.into_iter()
		.map(|d| (Protocol::Ietf(d), d.alpn()));
	for (protocol, alpn) in lite.chain(ietf) {
		for draft in DRAFTS {
			let subprotocol = format!("{}{alpn}", draft.prefix());
			if offered.contains(&subprotocol.as_str()) {
				return Some(Negotiated {
					protocol,
					draft,
					subprotocol,
				});
			}
		}
	}
	None
}

/// Why a WebSocket upgrade request is refused before the upgrade. [`UpgradeError::code`] is the
/// stable code in the JSON body (`{"error": code, "message": …}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
	/// Not a `GET` with `Connection: upgrade`, `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13`.
	#[error(
		"not a WebSocket upgrade (RFC 6455 section 4.1): send GET with Connection: upgrade, Upgrade: websocket, Sec-WebSocket-Key and Sec-WebSocket-Version: 13"
	)]
	Invalid,
	/// `Sec-WebSocket-Version` is not 13.
	#[error("unsupported WebSocket version: this relay speaks version 13")]
	Version,
	/// No offered subprotocol names a moq version the relay speaks over QMux.
	#[error(
		"no supported subprotocol: offer qmux-01.moq-lite-06, qmux-01.moq-lite-05, qmux-01.moq-lite-04 or qmux-01.moq-lite-03, or an IETF draft (qmux-01.moq-00, qmux-01.moqt-16, qmux-01.moqt-18, qmux-01.moqt-20 …); qmux-00 and qmux-02 too"
	)]
	Subprotocol,
	/// The relay is shutting down.
	#[error("the relay is shutting down: reconnect to another one")]
	ShuttingDown,
}

impl UpgradeError {
	/// The stable code.
	pub fn code(self) -> &'static str {
		match self {
			Self::Invalid => "invalid_upgrade",
			Self::Version => "unsupported_websocket_version",
			Self::Subprotocol => "unsupported_subprotocol",
			Self::ShuttingDown => "shutting_down",
		}
	}
}

/// A checked upgrade request: the `Sec-WebSocket-Accept` to answer and the subprotocol chosen.
#[derive(Debug)]
pub struct Handshake {
	/// The `Sec-WebSocket-Accept` value (RFC 6455 section 4.2.2).
	pub accept: String,
	/// What was negotiated.
	pub negotiated: Negotiated,
}

/// Checks an upgrade request's method and headers (RFC 6455 section 4.2.1) and picks its subprotocol.
pub fn handshake(
	method: &http::Method,
	headers: &http::HeaderMap,
	versions: &[Version],
) -> Result<Handshake, UpgradeError> {
	use http::header;
	let has_token = |name: header::HeaderName, token: &str| {
		headers.get_all(name).iter().any(|value| {
			value
				.to_str()
				.is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
		})
	};
	if method != http::Method::GET
		|| !has_token(header::CONNECTION, "upgrade")
		|| !has_token(header::UPGRADE, "websocket")
	{
		return Err(UpgradeError::Invalid);
	}
	if headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
		return Err(UpgradeError::Version);
	}
	let key = headers
		.get(header::SEC_WEBSOCKET_KEY)
		.filter(|key| !key.is_empty())
		.ok_or(UpgradeError::Invalid)?;
	let offered = headers
		.get_all(header::SEC_WEBSOCKET_PROTOCOL)
		.iter()
		.filter_map(|v| v.to_str().ok());
	let negotiated = negotiate(offered, versions).ok_or(UpgradeError::Subprotocol)?;
	Ok(Handshake {
		accept: tungstenite::handshake::derive_accept_key(key.as_bytes()),
		negotiated,
	})
}

/// Whether a request asks for a WebSocket (`Upgrade: websocket`): such a request on any path is a
/// MoQ session attempt, answered by [`handshake`] or refused, never by an HTTP route.
pub fn is_upgrade(headers: &http::HeaderMap) -> bool {
	headers.get_all(http::header::UPGRADE).iter().any(|value| {
		value
			.to_str()
			.is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("websocket")))
	})
}

/// What bounds one WebSocket session (from [`crate::limits::Limits`]).
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
	/// Bytes of payload read before admission.
	pub pending_window: u64,
	/// QMux's connection receive window once admitted.
	pub session_window: u64,
	/// Keep-alive ping interval.
	pub keep_alive: Duration,
	/// A peer silent this long is closed.
	pub idle_timeout: Duration,
	/// How long the client may take to send its QMux transport parameters (its first record).
	pub parameters_timeout: Duration,
}

impl From<&crate::limits::Limits> for Bounds {
	fn from(limits: &crate::limits::Limits) -> Self {
		Self {
			pending_window: limits.pending_window,
			session_window: limits.session_window,
			keep_alive: KEEP_ALIVE,
			idle_timeout: IDLE_TIMEOUT,
			parameters_timeout: limits.setup_timeout,
		}
	}
}

/// The server side of a WebSocket whose HTTP upgrade is done: `io` is the upgraded connection. The
/// session starts once the client's QMux transport parameters arrived (qmux's `Session::accept`);
/// a client that sends none within `bounds.parameters_timeout` gets
/// [`qmux::Error::HandshakeTimeout`].
pub async fn accept<T>(io: T, negotiated: &Negotiated, bounds: Bounds) -> Result<WsSession, qmux::Error>
where
	T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
	let config = WebSocketConfig::default()
		.read_buffer_size(READ_BUFFER)
		.write_buffer_size(0)
		.max_write_buffer_size(2 * MAX_MESSAGE)
		.max_message_size(Some(MAX_MESSAGE))
		.max_frame_size(Some(MAX_MESSAGE));
	let io = Lingering {
		io: Some(io),
		open: Some(Open::new()),
	};
	let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
	let gate = Arc::new(Gate::new(bounds.pending_window));
	let gated = Gated {
		inner: ws,
		gate: gate.clone(),
	};
	// The application protocol is the subprotocol without its QMux draft prefix, as qmux's own
	// WebSocket transport reads it.
	let application = negotiated.subprotocol.strip_prefix(negotiated.draft.prefix());
	let mut session = qmux::Config::negotiated(negotiated.draft, application.map(str::to_string));
	session.max_streams_bidi = crate::transport::CLIENT_STREAMS.into();
	session.max_streams_uni = crate::transport::CLIENT_STREAMS.into();
	session.max_data = bounds.session_window;
	session.max_idle_timeout = u64::try_from(bounds.idle_timeout.as_millis()).unwrap_or(u64::MAX);
	session.handshake_timeout = bounds.parameters_timeout;
	// A QMux record on the record-framed drafts (at most the `max_record_size` the relay
	// advertises), a frame on draft-00 (16384 bytes, its `max_frame_size`).
	let max_message = if negotiated.draft == qmux::Version::QMux00 {
		QMUX00_FRAME
	} else {
		usize::try_from(session.max_record_size).unwrap_or(MAX_MESSAGE)
	};
	let ended = stream::Ended::new();
	let last_words = io::LastWords::default();
	let link = io::Link::new(
		gated,
		bounds.keep_alive,
		bounds.idle_timeout,
		max_message,
		(ended.clone(), last_words.clone()),
	);
	let session = qmux::Session::accept(link, session).await?;
	Ok(WsSession {
		session,
		gate,
		ended,
		last_words: Some(last_words),
	})
}

/// The largest QMux draft-00 frame, its initial `max_frame_size` (which the relay never raises).
const QMUX00_FRAME: usize = 16384;

/// How long a closed connection keeps reading (and discarding) what the peer still sends.
const LINGER: Duration = Duration::from_secs(2);

/// The upgraded connection, closed gracefully: when the session drops it, the relay half-closes
/// its side (FIN after the last frame, the close with its reason among them) and reads what the
/// peer still sends for up to [`LINGER`] before letting go. Closing a TCP socket with unread input
/// sends a reset instead, and a peer that gets it may lose the close frame still in its receive
/// buffer: a refused client would see "connection reset" instead of the refusal's code and reason.
/// (HTTP servers do the same, as "lingering close".)
struct Lingering<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> {
	io: Option<T>,
	/// Counted in [`open_connections`] until the socket is let go.
	open: Option<Open>,
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Lingering<T> {
	/// The connection (taken only when dropped, so an error here cannot be observed).
	fn io(&mut self) -> std::io::Result<&mut T> {
		self.io.as_mut().ok_or_else(|| std::io::ErrorKind::NotConnected.into())
	}
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Drop for Lingering<T> {
	fn drop(&mut self) {
		let open = self.open.take();
		let (Some(mut io), Ok(runtime)) = (self.io.take(), tokio::runtime::Handle::try_current()) else {
			return;
		};
		runtime.spawn(async move {
			use tokio::io::{AsyncReadExt, AsyncWriteExt};
			let _ = tokio::time::timeout(LINGER, async {
				io.shutdown().await?;
				let mut sink = [0u8; 4096];
				while io.read(&mut sink).await? > 0 {}
				Ok::<_, std::io::Error>(())
			})
			.await;
			drop(open);
		});
	}
}

/// WebSocket connections open now in this process: from the upgrade until the socket is let go,
/// which can be [`io::CLOSE_FLUSH`] and then [`LINGER`] after its session ended.
static OPEN: AtomicU64 = AtomicU64::new(0);

/// How many WebSocket connections are open, counting those whose session ended and whose socket
/// is still closing. What a closed session held is freed only when its socket goes, so the
/// binary's memory trim waits for these as well as for the sessions.
pub fn open_connections() -> u64 {
	OPEN.load(Ordering::Relaxed)
}

/// One count in [`OPEN`], for as long as it lives.
struct Open;

impl Open {
	fn new() -> Self {
		OPEN.fetch_add(1, Ordering::Relaxed);
		Self
	}
}

impl Drop for Open {
	fn drop(&mut self) {
		OPEN.fetch_sub(1, Ordering::Relaxed);
	}
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> tokio::io::AsyncRead for Lingering<T> {
	fn poll_read(
		mut self: Pin<&mut Self>,
		cx: &mut Context<'_>,
		buf: &mut tokio::io::ReadBuf<'_>,
	) -> Poll<std::io::Result<()>> {
		match self.io() {
			Ok(io) => Pin::new(io).poll_read(cx, buf),
			Err(err) => Poll::Ready(Err(err)),
		}
	}
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> tokio::io::AsyncWrite for Lingering<T> {
	fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
		match self.io() {
			Ok(io) => Pin::new(io).poll_write(cx, buf),
			Err(err) => Poll::Ready(Err(err)),
		}
	}

	fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
		match self.io() {
			Ok(io) => Pin::new(io).poll_flush(cx),
			Err(err) => Poll::Ready(Err(err)),
		}
	}

	fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
		match self.io() {
			Ok(io) => Pin::new(io).poll_shutdown(cx),
			Err(err) => Poll::Ready(Err(err)),
		}
	}
}

/// A WebSocket as a stream and sink of messages: tungstenite's `WebSocketStream`, or what wraps it.
pub trait Socket:
	futures::Stream<Item = Result<Message, tungstenite::Error>>
	+ futures::Sink<Message, Error = tungstenite::Error>
	+ Unpin
	+ Send
	+ 'static
{
}

impl<S> Socket for S where
	S: futures::Stream<Item = Result<Message, tungstenite::Error>>
		+ futures::Sink<Message, Error = tungstenite::Error>
		+ Unpin
		+ Send
		+ 'static
{
}

/// A MoQ session over QMux over a WebSocket.
#[derive(Clone)]
pub struct WsSession {
	session: qmux::Session,
	gate: Arc<Gate>,
	/// Set when the session ends: its streams' reads and writes then fail ([`stream`]).
	ended: stream::Ended,
	/// What the relay's side writes once the session ended, its close among it ([`io`]); none on
	/// a client's side (qmux's own transport).
	last_words: Option<io::LastWords>,
}

impl std::fmt::Debug for WsSession {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("WsSession").finish_non_exhaustive()
	}
}

impl WsSession {
	/// A client-side session over an already-upgraded WebSocket (tests dial the relay with it).
	pub fn client(ws: impl Socket, subprotocol: &str) -> Self {
		// Never holding (opened at once): here only for its byte counts.
		let gate = Arc::new(Gate::new(0));
		gate.open();
		let gated = Gated {
			inner: ws,
			gate: gate.clone(),
		};
		let session = qmux::ws::Upgraded::new(gated)
			.with_alpn(subprotocol)
			.with_keep_alive(qmux::ws::KeepAlive::new(KEEP_ALIVE, IDLE_TIMEOUT))
			.connect();
		Self {
			session,
			gate,
			ended: stream::Ended::new(),
			last_words: None,
		}
	}
}

/// Before admission, the payload bytes the relay reads from the socket are counted; past the
/// pending window it stops reading until [`Gate::open`]. It also counts what was written, for
/// [`super::Session::totals`].
#[derive(Debug)]
struct Gate {
	open: AtomicBool,
	read: AtomicU64,
	written: AtomicU64,
	limit: u64,
	waker: AtomicWaker,
}

impl Gate {
	fn new(limit: u64) -> Self {
		Self {
			open: AtomicBool::new(false),
			read: AtomicU64::new(0),
			written: AtomicU64::new(0),
			limit,
			waker: AtomicWaker::new(),
		}
	}

	fn open(&self) {
		self.open.store(true, Ordering::Release);
		self.waker.wake();
	}

	/// Whether the reader must wait (registering its waker when it must).
	fn holds(&self, cx: &Context<'_>) -> bool {
		if self.open.load(Ordering::Acquire) || self.read.load(Ordering::Relaxed) < self.limit {
			return false;
		}
		self.waker.register(cx.waker());
		!self.open.load(Ordering::Acquire)
	}
}

/// The WebSocket under QMux, reading only what the [`Gate`] lets through.
struct Gated<S> {
	inner: S,
	gate: Arc<Gate>,
}

impl<S> futures::Stream for Gated<S>
where
	S: futures::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
	type Item = Result<Message, tungstenite::Error>;

	fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
		if self.gate.holds(cx) {
			return Poll::Pending;
		}
		let polled = Pin::new(&mut self.inner).poll_next(cx);
		if let Poll::Ready(Some(Ok(message))) = &polled {
			self.gate.read.fetch_add(message.len() as u64, Ordering::Relaxed);
		}
		polled
	}
}

impl<S> futures::Sink<Message> for Gated<S>
where
	S: futures::Sink<Message, Error = tungstenite::Error> + Unpin,
{
	type Error = tungstenite::Error;

	fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
		Pin::new(&mut self.inner).poll_ready(cx)
	}

	fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
		self.gate.written.fetch_add(item.len() as u64, Ordering::Relaxed);
		Pin::new(&mut self.inner).start_send(item)
	}

	fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
		Pin::new(&mut self.inner).poll_flush(cx)
	}

	fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
		Pin::new(&mut self.inner).poll_close(cx)
	}
}

fn session_error(err: qmux::Error) -> TransportError {
	TransportError::Closed(err.to_string())
}

fn write_error(err: qmux::Error) -> TransportError {
	match err {
		qmux::Error::StreamStop(code) => TransportError::Reset(u32::try_from(code.into_inner()).unwrap_or(u32::MAX)),
		qmux::Error::StreamClosed => TransportError::StreamClosed,
		other => TransportError::Closed(other.to_string()),
	}
}

impl super::Session for WsSession {
	type Send = WsSend;
	type Recv = WsRecv;

	async fn accept_bi(&self) -> Result<(Self::Send, Self::Recv), TransportError> {
		let (send, recv) = self.session.accept_bi().await.map_err(session_error)?;
		Ok((self.ended.send(send), self.ended.recv(recv)))
	}

	async fn accept_uni(&self) -> Result<Self::Recv, TransportError> {
		let recv = self.session.accept_uni().await.map_err(session_error)?;
		Ok(self.ended.recv(recv))
	}

	async fn open_bi(&self) -> Result<(Self::Send, Self::Recv), TransportError> {
		let (send, recv) = self.session.open_bi().await.map_err(session_error)?;
		Ok((self.ended.send(send), self.ended.recv(recv)))
	}

	async fn open_uni(&self) -> Result<Self::Send, TransportError> {
		let send = self.session.open_uni().await.map_err(session_error)?;
		Ok(self.ended.send(send))
	}

	fn send_datagram(&self, payload: Bytes) -> Result<(), TransportError> {
		self.session
			.send_datagram(payload)
			.map_err(|e| TransportError::Datagram(e.to_string()))
	}

	async fn recv_datagram(&self) -> Result<Bytes, TransportError> {
		self.session.recv_datagram().await.map_err(session_error)
	}

	fn close(&self, code: u32, reason: &str) {
		// The relay's close goes among the last words before the session ends, and the session
		// ends before qmux hears of the close, so that qmux's writer hands over at once whatever
		// it holds ([`io`]): qmux's own close is not always written.
		if let Some(last_words) = &self.last_words {
			last_words.close(code, reason);
		}
		self.ended.set();
		self.session.close(code, reason);
	}

	async fn closed(&self) -> TransportError {
		let closed = session_error(self.session.closed().await);
		self.ended.set();
		closed
	}

	fn allow_streams(&self, _streams: u32) {
		// QMux sets the stream counts once, at the start ([`accept`]); they are replenished as
		// streams end, never raised.
	}

	fn allow_receive(&self, _bytes: u64) {
		// Admitted: QMux's own window (`limits.session_window`, set at the start) bounds it now.
		self.gate.open();
	}

	fn totals(&self) -> super::Totals {
		super::Totals {
			sent: self.gate.written.load(Ordering::Relaxed),
			received: self.gate.read.load(Ordering::Relaxed),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::transport::{RecvStream as _, SendStream as _, Session as _};

	const ALL: [Version; 4] = crate::relay::VERSIONS;

	#[test]
	fn the_relay_answers_its_own_preference_and_only_what_was_offered() {
		// What the published Rust client offers for lite-05 and lite-04, then the bare entries.
		let offered = "qmux-02.moq-lite-05, qmux-01.moq-lite-05, qmux-00.moq-lite-05, qmux-01.moq-lite-04, qmux-02, qmux-01, qmux-00, webtransport";
		let chosen = negotiate([offered], &ALL).unwrap();
		assert_eq!(
			(chosen.protocol, chosen.subprotocol.as_str()),
			(Protocol::Lite(Version::Lite05), "qmux-02.moq-lite-05")
		);
		// The relay's order wins over the client's; the newest draft offered with it is used.
		let chosen = negotiate(
			["qmux-00.moq-lite-04", "qmux-00.moq-lite-06, qmux-01.moq-lite-06"],
			&ALL,
		)
		.unwrap();
		assert_eq!(chosen.subprotocol, "qmux-01.moq-lite-06");
		assert_eq!(chosen.draft, qmux::Version::QMux01);
		// Bare entries name no moq version; unknown versions and the legacy wire format are refused.
		for offered in [
			"qmux-01, qmux-00, webtransport",
			"qmux-01.moq-lite-02",
			"qmux-01.moql",
			"webtransport.moq-lite-05",
			"x",
		] {
			assert_eq!(negotiate([offered], &ALL), None, "{offered}");
		}
		assert_eq!(negotiate(["qmux-01.moq-lite-06"], &[Version::Lite05]), None);
		// lite-03, the oldest the relay speaks, when nothing newer is offered.
		let chosen = negotiate(["qmux-01.moq-lite-03, qmux-00.moq-lite-03"], &ALL).unwrap();
		assert_eq!(
			(chosen.protocol, chosen.subprotocol.as_str()),
			(Protocol::Lite(Version::Lite03), "qmux-01.moq-lite-03")
		);
	}

	#[test]
	fn ietf_drafts_after_every_moq_lite_version() {
		use crate::wire::ietf::Draft;
		// What @moq/net offers on WebSocket: moq-lite first, so moq-lite it is.
		let browser = "qmux-01.moq-lite-05, qmux-00.moq-lite-05, qmux-01.moqt-20, qmux-01.moqt-18, qmux-00.moqt-16";
		assert_eq!(
			negotiate([browser], &ALL).unwrap().protocol,
			Protocol::Lite(Version::Lite05)
		);
		// A client pinned to a draft: that draft, on the QMux draft it offered it with.
		let chosen = negotiate(["qmux-01.moqt-18, qmux-01"], &ALL).unwrap();
		assert_eq!(
			(chosen.protocol, chosen.subprotocol.as_str()),
			(Protocol::Ietf(Draft::Draft18), "qmux-01.moqt-18")
		);
		let chosen = negotiate(["qmux-00.moq-00"], &ALL).unwrap();
		assert_eq!(chosen.protocol, Protocol::Ietf(Draft::Draft14));
		// A draft the relay does not speak is not answered.
		assert_eq!(negotiate(["qmux-01.moqt-13"], &ALL), None);
		let chosen = negotiate(["qmux-01.moqt-15"], &ALL).unwrap();
		assert_eq!(chosen.protocol, Protocol::Ietf(Draft::Draft15));
	}

	fn request(pairs: &[(&str, &str)]) -> http::HeaderMap {
		let mut headers = http::HeaderMap::new();
		for (name, value) in pairs {
			headers.append(
				http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
				value.parse().unwrap(),
			);
		}
		headers
	}

	#[test]
	fn the_upgrade_is_checked_and_answered_per_rfc_6455() {
		let good = [
			("connection", "keep-alive, Upgrade"),
			("upgrade", "websocket"),
			("sec-websocket-version", "13"),
			// RFC 6455 section 1.3's example key and its accept value.
			("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
			("sec-websocket-protocol", "qmux-01.moq-lite-05, qmux-01"),
		];
		let answer = handshake(&http::Method::GET, &request(&good), &ALL).unwrap();
		assert_eq!(answer.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
		assert_eq!(answer.negotiated.subprotocol, "qmux-01.moq-lite-05");
		assert!(is_upgrade(&request(&good)));

		assert_eq!(
			handshake(&http::Method::POST, &request(&good), &ALL).unwrap_err(),
			UpgradeError::Invalid
		);
		let mut old = good;
		old[2].1 = "8";
		assert_eq!(
			handshake(&http::Method::GET, &request(&old), &ALL).unwrap_err(),
			UpgradeError::Version
		);
		let keyless: Vec<_> = good
			.iter()
			.copied()
			.filter(|(n, _)| *n != "sec-websocket-key")
			.collect();
		assert_eq!(
			handshake(&http::Method::GET, &request(&keyless), &ALL).unwrap_err(),
			UpgradeError::Invalid
		);
		let mut bare = good;
		bare[4].1 = "qmux-01, webtransport";
		let refused = handshake(&http::Method::GET, &request(&bare), &ALL).unwrap_err();
		assert_eq!(refused.code(), "unsupported_subprotocol");
	}

	/// How long the tests' relay waits for a client's QMux transport parameters.
	const PARAMETERS_TIMEOUT: Duration = Duration::from_secs(10);

	fn bounds() -> Bounds {
		Bounds {
			pending_window: 64 * 1024,
			session_window: 16 * 1024 * 1024,
			keep_alive: KEEP_ALIVE,
			idle_timeout: IDLE_TIMEOUT,
			parameters_timeout: PARAMETERS_TIMEOUT,
		}
	}

	/// The relay's side and a client's, over an in-memory pipe that the test can cut (`true`: from
	/// then on nothing passes either way, as when the client's network drops).
	async fn pair(bounds: Bounds) -> (WsSession, WsSession, Arc<AtomicBool>) {
		let (server_io, client_io) = tokio::io::duplex(64 * 1024);
		let cut = Arc::new(AtomicBool::new(false));
		let client_io = Pipe {
			cut: Some(cut.clone()),
			..Pipe::new(client_io)
		};
		let (server, client) = pair_over(server_io, client_io, bounds).await;
		(server, client, cut)
	}

	/// The relay's side over `server_io` and a client's over `client_io`.
	async fn pair_over(
		server_io: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
		client_io: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
		bounds: Bounds,
	) -> (WsSession, WsSession) {
		let negotiated = negotiate(["qmux-01.moq-lite-05"], &ALL).unwrap();
		let (server, client) = tokio::join!(accept(server_io, &negotiated, bounds), async {
			let ws = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
			WsSession::client(ws, "qmux-01.moq-lite-05")
		});
		(server.unwrap(), client)
	}

	/// One end of an in-memory pipe, with the twists the tests need, each off unless set: once
	/// `cut`, what it writes is dropped and it reads nothing (as when a client's network drops);
	/// while `paused`, it reads nothing; with `written`, it keeps what it wrote (the watch is
	/// bumped on each write).
	struct Pipe {
		io: tokio::io::DuplexStream,
		cut: Option<Arc<AtomicBool>>,
		paused: Option<Arc<tokio::sync::watch::Sender<bool>>>,
		resumed: Option<Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
		written: Option<Arc<tokio::sync::watch::Sender<Vec<u8>>>>,
	}

	impl Pipe {
		fn new(io: tokio::io::DuplexStream) -> Self {
			Pipe {
				io,
				cut: None,
				paused: None,
				resumed: None,
				written: None,
			}
		}

		fn is_cut(&self) -> bool {
			self.cut.as_ref().is_some_and(|cut| cut.load(Ordering::Relaxed))
		}
	}

	impl tokio::io::AsyncRead for Pipe {
		fn poll_read(
			mut self: Pin<&mut Self>,
			cx: &mut Context<'_>,
			buf: &mut tokio::io::ReadBuf<'_>,
		) -> Poll<std::io::Result<()>> {
			if self.is_cut() {
				return Poll::Pending;
			}
			if let Some(paused) = self.paused.clone().filter(|paused| *paused.borrow()) {
				let waiting = self.resumed.get_or_insert_with(|| {
					let mut resumed = paused.subscribe();
					Box::pin(async move {
						let _ = resumed.wait_for(|paused| !paused).await;
					})
				});
				std::task::ready!(waiting.as_mut().poll(cx));
			}
			self.resumed = None;
			Pin::new(&mut self.io).poll_read(cx, buf)
		}
	}

	impl tokio::io::AsyncWrite for Pipe {
		fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
			if self.is_cut() {
				return Poll::Ready(Ok(buf.len()));
			}
			let written = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, buf))?;
			if let Some(all) = &self.written {
				all.send_modify(|all| all.extend_from_slice(&buf[..written]));
			}
			Poll::Ready(Ok(written))
		}

		fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
			Pin::new(&mut self.io).poll_flush(cx)
		}

		fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
			Pin::new(&mut self.io).poll_shutdown(cx)
		}
	}

	#[tokio::test(start_paused = true)]
	async fn a_client_that_sends_no_parameters_is_let_go_at_the_parameters_timeout() {
		let (server_io, client_io) = tokio::io::duplex(64 * 1024);
		// A WebSocket that was upgraded and then sends nothing, not even QMux's parameters.
		let _silent = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
		let negotiated = negotiate(["qmux-01.moq-lite-05"], &ALL).unwrap();
		let started = tokio::time::Instant::now();
		let accepted = accept(server_io, &negotiated, bounds()).await;
		assert!(
			matches!(accepted, Err(qmux::Error::HandshakeTimeout)),
			"{:?}",
			accepted.map(|_| ())
		);
		assert!(started.elapsed() >= PARAMETERS_TIMEOUT, "{:?}", started.elapsed());
	}

	#[tokio::test(start_paused = true)]
	async fn a_silent_peer_is_reaped_and_a_live_one_is_not() {
		// A client whose network drops after the start: closed after the idle time-out.
		let (server, _client, cut) = pair(bounds()).await;
		cut.store(true, Ordering::Relaxed);
		let started = tokio::time::Instant::now();
		let closed = tokio::time::timeout(IDLE_TIMEOUT * 2, server.closed()).await;
		assert!(closed.is_ok(), "a silent peer must be closed");
		assert!(started.elapsed() >= IDLE_TIMEOUT, "{:?}", started.elapsed());

		// A client whose WebSocket is alive (it reads, pongs and pings) but sends no MoQ data.
		let (server, _client, _) = pair(bounds()).await;
		let still_open = tokio::time::timeout(IDLE_TIMEOUT * 4, server.closed()).await;
		assert!(still_open.is_err(), "a live peer was closed: {still_open:?}");
	}

	/// The relay's close, with its code and reason, reaches a qmux client that is sending at that
	/// moment (with qmux's own WebSocket transport on the relay's side, the client read a bare
	/// "connection closed" in the first round: the [`io`] module says why).
	#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
	async fn a_close_reaches_a_client_that_is_sending() {
		for round in 0..50 {
			let (server, client, _) = pair(bounds()).await;
			let mut send = client.open_uni().await.unwrap();
			let sending = tokio::spawn(async move { while send.write_all(&[round as u8; 1000]).await.is_ok() {} });
			// The relay reads the stream's first bytes, as a refusal follows a client's SETUP.
			let mut recv = server.accept_uni().await.unwrap();
			recv.read_chunk(100).await.unwrap();
			server.close(2, "missing_credential: present a token");
			let closed = within_a_second(client.closed()).await;
			assert!(
				matches!(&closed, TransportError::Closed(reason) if reason.contains("2: missing_credential")),
				"round {round}: the client read {closed:?}"
			);
			sending.abort();
		}
	}

	/// The relay writes its close, with its code and reason, to a client that had stopped reading
	/// when the relay closed, once it reads again. The relay's writer was then waiting for room in
	/// the socket for the session's data, and qmux drops a close frame it cannot hand over at once
	/// when the session closes meanwhile (the [`io`] module says how the close gets through): a
	/// refused client under load read a bare "connection closed". What is checked is what the relay
	/// writes (an unmasked WebSocket message holds the reason as is): the client here is qmux's own
	/// WebSocket transport, which may itself report the socket's end before a close it read.
	#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
	async fn the_relay_writes_its_close_to_a_client_that_had_stopped_reading() {
		const PIPE: usize = 16 * 1024;
		const REASON: &[u8] = b"missing_credential: present a token";
		for round in 0..20 {
			let (server_io, client_io) = tokio::io::duplex(PIPE);
			let written = Arc::new(tokio::sync::watch::Sender::new(Vec::new()));
			let server_io = Pipe {
				written: Some(written.clone()),
				..Pipe::new(server_io)
			};
			let paused = Arc::new(tokio::sync::watch::Sender::new(false));
			let client_io = Pipe {
				paused: Some(paused.clone()),
				..Pipe::new(client_io)
			};
			let (server, _client) = pair_over(server_io, client_io, bounds()).await;
			paused.send_replace(true);
			let mut send = server.open_uni().await.unwrap();
			let writing = tokio::spawn(async move { while send.write_all(&[round as u8; 1000]).await.is_ok() {} });
			// The pipe is full: the relay's socket writer waits, and its queue fills behind it.
			let mut progress = written.subscribe();
			within_a_second(progress.wait_for(|all| all.len() >= PIPE))
				.await
				.unwrap();
			// And the relay's QMux writer fills the queue behind it and waits for room.
			for _ in 0..100 {
				tokio::task::yield_now().await;
			}
			server.close(2, std::str::from_utf8(REASON).unwrap());
			paused.send_replace(false);
			let said = tokio::time::timeout(
				Duration::from_secs(1),
				progress.wait_for(|all| all.windows(REASON.len()).any(|w| w == REASON)),
			)
			.await;
			assert!(
				matches!(said, Ok(Ok(_))),
				"round {round}: the relay wrote {} bytes and no close with its reason",
				written.borrow().len()
			);
			writing.abort();
		}
	}

	/// The relay's halves of a WebSocket for qmux ([`io::Link`]) over an in-memory pipe, the
	/// session's end and last words they share, and the client's end of the WebSocket.
	async fn link_pair() -> (
		io::Writer,
		io::Reader,
		(stream::Ended, io::LastWords),
		WebSocketStream<tokio::io::DuplexStream>,
	) {
		let (server_io, client_io) = tokio::io::duplex(64 * 1024);
		let ws = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
		let (ended, last_words) = (stream::Ended::new(), io::LastWords::default());
		let link = io::Link::new(
			ws,
			KEEP_ALIVE,
			IDLE_TIMEOUT,
			MAX_MESSAGE,
			(ended.clone(), last_words.clone()),
		);
		let (writer, reader) = qmux::transport::Transport::split(link);
		let client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
		(writer, reader, (ended, last_words), client)
	}

	/// The relay's close is written after what the session had queued, and nothing the session
	/// writes after it, whether qmux closes its writer or drops it (qmux drops it when the close
	/// comes while a write waits, and may close it without ever handing its own close over).
	#[tokio::test]
	async fn the_relays_close_is_written_last_whether_qmux_closes_its_writer_or_drops_it() {
		use futures::StreamExt as _;
		use qmux::transport::Writer as _;
		for drops in [false, true] {
			let (mut writer, _reader, (ended, last_words), mut client) = link_pair().await;
			writer.send(Bytes::from_static(b"queued before")).await.unwrap();
			// As in `WsSession::close`.
			last_words.close(2, "missing_credential: present a token");
			ended.set();
			writer.send(Bytes::from_static(b"said after")).await.unwrap();
			if drops {
				drop(writer);
			} else {
				tokio::spawn(async move { writer.close().await });
			}
			let mut read = Vec::new();
			while let Some(Ok(message)) = within_a_second(client.next()).await {
				match message {
					Message::Binary(data) => read.push(data),
					_ => break,
				}
				if read.len() == 2 {
					// The client closes its side once it took the close, and the relay then closes.
					client.close(None).await.unwrap();
				}
			}
			let close = [&[0x1d, 2, 35][..], b"missing_credential: present a token"].concat();
			assert_eq!(read, [&b"queued before"[..], &close[..]], "writer dropped: {drops}");
		}
	}

	/// A relay that closes a session before qmux's writer handed over its first record (the
	/// transport parameters; a credential refused in the URL closes that early) writes that record
	/// before its close: a QMux peer refuses a session that starts with anything else (it read
	/// "protocol violation" instead of the refusal).
	#[tokio::test]
	async fn the_sessions_first_record_goes_before_a_close_that_came_first() {
		use futures::StreamExt as _;
		use qmux::transport::Writer as _;
		let (mut writer, _reader, (ended, last_words), mut client) = link_pair().await;
		last_words.close(2, "root_mismatch");
		ended.set();
		writer.send(Bytes::from_static(b"parameters")).await.unwrap();
		writer.send(Bytes::from_static(b"said after")).await.unwrap();
		drop(writer);
		let mut read = Vec::new();
		while let Some(Ok(Message::Binary(data))) = within_a_second(client.next()).await {
			read.push(data);
			if read.len() == 2 {
				client.close(None).await.unwrap();
			}
		}
		let close = [&[0x1d, 2, 13][..], b"root_mismatch"].concat();
		assert_eq!(read, [&b"parameters"[..], &close[..]]);
	}

	/// A close reason longer than [`io`]'s cap is cut at a character boundary.
	#[tokio::test]
	async fn a_long_close_reason_is_cut_at_a_character_boundary() {
		use futures::StreamExt as _;
		let (writer, _reader, (ended, last_words), mut client) = link_pair().await;
		// 1023 ASCII bytes, then a two-byte character across the 1024-byte cap.
		let reason = format!("{}é and more", "a".repeat(1023));
		last_words.close(7, &reason);
		ended.set();
		drop(writer);
		let Some(Ok(Message::Binary(close))) = within_a_second(client.next()).await else {
			panic!("no close");
		};
		// Type, code, a two-byte length (1023), the reason up to the character.
		assert_eq!(&close[..4], &[0x1d, 7, 0x43, 0xff]);
		assert_eq!(&close[4..], "a".repeat(1023).as_bytes());
	}

	/// A stream whose session ended fails its pending read and write, as on QUIC, whoever closed
	/// it, while the relay still holds the session (its stream tasks do): with qmux's own streams
	/// they waited for ever, and every closed session left a task and its memory behind.
	#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
	async fn the_streams_of_an_ended_session_end_with_it() {
		for relay_closes in [false, true] {
			let (server, client, _) = pair(bounds()).await;
			server.allow_receive(16 * 1024 * 1024);
			let (mut request, _reply) = client.open_bi().await.unwrap();
			request.write_all(b"?").await.unwrap();
			let (mut answer, mut recv) = server.accept_bi().await.unwrap();
			assert_eq!(recv.read_chunk(16).await.unwrap().as_deref(), Some(&b"?"[..]));
			let reading = tokio::spawn(async move { recv.read_chunk(16).await });
			let stopping = tokio::spawn(async move { answer.stopped().await });
			if relay_closes {
				server.close(0, "done");
			} else {
				client.close(0, "bye");
			}
			let read = within_a_second(reading).await.unwrap();
			assert!(
				matches!(read, Err(TransportError::Closed(_))),
				"relay closes: {relay_closes}: read {read:?}"
			);
			let stopped = within_a_second(stopping).await.unwrap();
			assert!(
				matches!(stopped, Err(TransportError::Closed(_))),
				"relay closes: {relay_closes}: stopped {stopped:?}"
			);
			// The relay's handle is still here, as a stream task's is.
			drop(server);
		}
	}

	async fn within_a_second<T>(future: impl std::future::Future<Output = T>) -> T {
		tokio::time::timeout(Duration::from_secs(1), future)
			.await
			.expect("within a second")
	}

	#[tokio::test(start_paused = true)]
	async fn before_admission_the_relay_reads_at_most_the_pending_window() {
		let (server, client, _) = pair(bounds()).await;
		let mut send = client.open_uni().await.unwrap();
		let writing = tokio::spawn(async move {
			send.write_all(&vec![7u8; 1024 * 1024]).await.unwrap();
			send.finish().unwrap();
		});
		tokio::time::sleep(Duration::from_secs(5)).await;
		let read = server.gate.read.load(Ordering::Relaxed);
		assert!(
			read <= 64 * 1024 + MAX_MESSAGE as u64,
			"read {read} bytes before admission"
		);
		assert!(!writing.is_finished(), "the client could not have sent it all");

		// Admitted: everything arrives.
		server.allow_receive(16 * 1024 * 1024);
		let mut recv = server.accept_uni().await.unwrap();
		let mut total = 0;
		while let Some(chunk) = recv.read_chunk(64 * 1024).await.unwrap() {
			assert!(chunk.iter().all(|b| *b == 7));
			total += chunk.len();
		}
		assert_eq!(total, 1024 * 1024);
		writing.await.unwrap();
	}

	#[tokio::test(start_paused = true)]
	async fn streams_close_and_reset_codes_cross_the_websocket() {
		let (server, client, _) = pair(bounds()).await;
		server.allow_receive(16 * 1024 * 1024);
		let mut send = client.open_uni().await.unwrap();
		send.write_all(b"hello").await.unwrap();
		let mut recv = server.accept_uni().await.unwrap();
		assert_eq!(recv.read_chunk(16).await.unwrap().as_deref(), Some(&b"hello"[..]));
		send.reset(9);
		assert_eq!(recv.read_chunk(16).await, Err(TransportError::Reset(9)));

		let (mut out, _back) = server.open_bi().await.unwrap();
		out.set_priority(300);
		out.write_chunk(Bytes::from_static(b"x")).await.unwrap();
		let (_reply, mut incoming) = client.accept_bi().await.unwrap();
		assert_eq!(incoming.read_chunk(16).await.unwrap().as_deref(), Some(&b"x"[..]));
		incoming.stop(4);
		assert_eq!(out.stopped().await, Ok(Some(4)));

		server.close(2, "token_expired");
		assert!(matches!(server.closed().await, TransportError::Closed(reason) if reason.contains("token_expired")));
		assert!(matches!(client.closed().await, TransportError::Closed(_)));
	}
}
