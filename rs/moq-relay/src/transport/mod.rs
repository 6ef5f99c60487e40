//! The transport a session runs over: a small trait, after hyperium/h3's `quic.rs`.
//!
//! A MoQ session needs bidirectional and unidirectional streams, datagrams and a
//! way to close with a code and a reason. [`Session`], [`SendStream`] and
//! [`RecvStream`] say exactly that and nothing more, so the session driver
//! (`crate::session`) is written once for every binding.
//!
//! [`quic`] implements the trait for raw QUIC (ALPN = the moq-lite version) and
//! for WebTransport over HTTP/3 (ALPN `h3`), both on one quinn endpoint through
//! web-transport-quinn; [`ws`] implements it for WebSocket (QMux framing over a WebSocket upgraded
//! from the relay's TCP listener, for clients without WebTransport); [`mem`] is an in-memory pair
//! for tests that drive sessions under paused time.

use std::future::Future;

use bytes::Bytes;

pub mod mem;
pub mod quic;
pub mod runtime;
pub mod ws;

/// Why a transport operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
	/// The peer reset the stream (or asked us to stop sending) with this code.
	#[error("stream reset by the peer with code {0}")]
	Reset(u32),
	/// The session is gone: closed by either side or lost.
	#[error("session closed: {0}")]
	Closed(String),
	/// The stream was already finished or reset locally.
	#[error("stream already closed")]
	StreamClosed,
	/// A datagram could not be sent (too large, unsupported, …).
	#[error("datagram not sent: {0}")]
	Datagram(String),
}

/// One MoQ session's transport: raw QUIC or a WebTransport session.
pub trait Session: Clone + Send + Sync + 'static {
	/// The sending half of a stream.
	type Send: SendStream;
	/// The receiving half of a stream.
	type Recv: RecvStream;

	/// Waits for the peer to open a bidirectional stream.
	fn accept_bi(&self) -> impl Future<Output = Result<(Self::Send, Self::Recv), TransportError>> + Send;
	/// Waits for the peer to open a unidirectional stream.
	fn accept_uni(&self) -> impl Future<Output = Result<Self::Recv, TransportError>> + Send;
	/// Opens a bidirectional stream.
	fn open_bi(&self) -> impl Future<Output = Result<(Self::Send, Self::Recv), TransportError>> + Send;
	/// Opens a unidirectional stream.
	fn open_uni(&self) -> impl Future<Output = Result<Self::Send, TransportError>> + Send;
	/// Sends one unreliable datagram.
	fn send_datagram(&self, payload: Bytes) -> Result<(), TransportError>;
	/// Waits for the next datagram.
	fn recv_datagram(&self) -> impl Future<Output = Result<Bytes, TransportError>> + Send;
	/// Closes the session with an application code and a reason the peer can read.
	fn close(&self, code: u32, reason: &str);
	/// Resolves once the session is closed, with why.
	fn closed(&self) -> impl Future<Output = TransportError> + Send;
	/// Lets the peer keep up to `streams` streams of each direction open at once (raised for
	/// cluster peers, whose links carry every subscription crossing them).
	fn allow_streams(&self, streams: u32);
	/// Streams of each direction a client may keep open once its session is admitted; raised as it
	/// uses them. [`CLIENT_STREAMS`] unless the transport says otherwise.
	fn client_streams(&self) -> u32 {
		CLIENT_STREAMS
	}
	/// Lets the peer have up to `bytes` in flight to us over all its streams together (the
	/// connection's flow-control window; small before admission, see `crate::limits`).
	fn allow_receive(&self, bytes: u64);
	/// What the session moved so far, read from the transport's own counters, so the payload path
	/// pays for no second meter (the `end` event of `[auth] url` and the operator endpoint).
	fn totals(&self) -> Totals;
}

/// The bytes a session's transport sent and received: UDP payloads for QUIC and WebTransport (as
/// upstream moq-relay reports them), WebSocket message payloads, stream and datagram bytes in
/// `mem`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
	/// Bytes sent to the peer.
	pub sent: u64,
	/// Bytes received from the peer.
	pub received: u64,
}

/// Streams of each direction a client session may keep open at first: subscriptions (bidi) and
/// groups in flight (uni). quinn allocates bookkeeping for every allowed stream up front, so this
/// is the largest part of an idle session's memory (1024 of each cost ~105 KiB per session, 100
/// about 7 KiB: the same hash-table sizes as 64). The session doubles the allowance whenever the
/// peer uses half of it, up to [`PEER_STREAMS`]; streams beyond it wait in QUIC flow control.
/// Not lower than 100: with 64, headless Chromium's WebTransport failed its opening handshake in
/// about half of the runs of `tests/it/browser.rs` (100 is also Chromium's own default).
pub const CLIENT_STREAMS: u32 = 100;

/// [`CLIENT_STREAMS`] for a raw QUIC client (not WebTransport, whose browsers need 100 at the
/// start). quinn keeps a hash-table entry for every stream a peer may open, in two tables (one
/// per half) whose size is a power of two, filled to 7/8: 12 of each direction and the relay's own
/// few streams fit the 32-slot size, where 28 filled the 64-slot one exactly and the relay's
/// first stream of its own grew it to 128 (2.8 KiB less per idle session than 28,
/// `docs/performance.md`, "The round of 2026-12-04 (night)"). The allowance doubles as soon as half
/// of it is in use, one round trip later.
pub const RAW_CLIENT_STREAMS: u32 = 12;

/// Streams of each direction a cluster peer may keep open at once.
pub const PEER_STREAMS: u32 = 4096;

/// The sending half of a stream.
///
/// Dropping a stream that was neither finished nor reset must not deliver a
/// truncated stream as complete: implementations (or their wrappers, see
/// `crate::session`) reset it.
pub trait SendStream: Send + 'static {
	/// Writes all of `buf`, waiting for flow control.
	fn write_all(&mut self, buf: &[u8]) -> impl Future<Output = Result<(), TransportError>> + Send;
	/// Writes `buf` without copying it.
	fn write_chunk(&mut self, buf: Bytes) -> impl Future<Output = Result<(), TransportError>> + Send;
	/// Writes `head` then `body` (a frame's header and the first chunk of its payload); a
	/// transport that can takes both in one write, one pass through its stack per frame.
	fn write_head_and_chunk(
		&mut self,
		head: Bytes,
		body: Bytes,
	) -> impl Future<Output = Result<(), TransportError>> + Send {
		async move {
			self.write_chunk(head).await?;
			self.write_chunk(body).await
		}
	}
	/// Marks the stream complete (FIN).
	fn finish(&mut self) -> Result<(), TransportError>;
	/// Abandons the stream with a code (RESET_STREAM).
	fn reset(&mut self, code: u32);
	/// Sets the send priority: higher is sent first.
	fn set_priority(&mut self, priority: i32);
	/// Resolves when the peer asks us to stop sending (STOP_SENDING), with its code.
	fn stopped(&mut self) -> impl Future<Output = Result<Option<u32>, TransportError>> + Send;
}

/// The receiving half of a stream.
pub trait RecvStream: Send + 'static {
	/// Reads the next chunk of at most `max` bytes; `None` at the end of the stream.
	fn read_chunk(&mut self, max: usize) -> impl Future<Output = Result<Option<Bytes>, TransportError>> + Send;
	/// Asks the peer to stop sending (STOP_SENDING) with a code.
	fn stop(&mut self, code: u32);
}
