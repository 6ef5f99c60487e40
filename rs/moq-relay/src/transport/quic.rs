//! Raw QUIC and WebTransport on one quinn endpoint.
//!
//! The TLS ALPN tells them apart (`docs/relay.md`): `moq-lite-*`, `moq-00` (IETF draft-14),
//! `moqt-16` (draft-16), `moqt-18` (draft-18) and `moqt-20`/`-21`/`-22` are raw QUIC, whose connection path arrives later
//! in SETUP; `h3` is WebTransport, whose path is the
//! CONNECT `:path` and whose moq version is the relay's most preferred version among
//! `WT-Available-Protocols` (`docs/protocol.md`, "Version negotiation" allows either side's order;
//! the relay applies its own on both bindings). A CONNECT that offers none the relay speaks (or no
//! list at all, as a plain `new WebTransport(url)` does) is accepted without a `WT-Protocol`: the
//! version is then negotiated in SETUP, or the session is closed with a reason the client can read
//! ([`Protocol::Setup`]).
//! Both become a [`web_transport_quinn::Session`] ([`Session::raw`] for raw QUIC),
//! which implements [`super::Session`].
//!
//! [`Session::raw`]: web_transport_quinn::Session::raw

use bytes::Bytes;
use web_transport_quinn as wtq;

use super::TransportError;
use crate::protocol::ietf::negotiate;
use crate::wire::Version;
use crate::wire::ietf::Draft;

/// The protocol family and version a session speaks, as far as the handshake fixed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
	/// A moq-lite version (ALPN or `WT-Protocol`).
	Lite(Version),
	/// An IETF moq-transport draft (ALPN `moq-00`/`moqt-16`/`moqt-18`/`moqt-20`/`moqt-21`/`moqt-22` or `WT-Protocol`); a draft-14 CLIENT_SETUP
	/// must offer it.
	Ietf(Draft),
	/// WebTransport without a common sub-protocol: the first stream's SETUP decides. `offered` is
	/// the client's `WT-Available-Protocols` (empty when it sent none), for the refusal's reason.
	Setup {
		/// What the client offered.
		offered: Vec<String>,
	},
}

/// What the relay learns about a new session before any MoQ message.
#[derive(Debug)]
pub struct Accepted {
	/// The transport.
	pub session: wtq::Session,
	/// The negotiated protocol.
	pub protocol: Protocol,
	/// WebTransport: the CONNECT URL's path and query (`/anon?jwt=…`). Raw QUIC:
	/// `None`, the path comes in SETUP.
	pub url_path: Option<String>,
	/// WebTransport: the CONNECT's headers (`Authorization`, the API key header and the others the
	/// auth service may be told; credentials among them: never logged). Raw QUIC: `None`.
	pub headers: Option<wtq::http::HeaderMap>,
}

/// Why an incoming connection did not become a MoQ session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
	/// The QUIC handshake failed.
	#[error("QUIC handshake failed: {0}")]
	Handshake(#[from] wtq::quinn::ConnectionError),
	/// The HTTP/3 CONNECT handshake failed.
	#[error("WebTransport handshake failed: {0}")]
	WebTransport(#[from] wtq::ServerError),
	/// The ALPN named nothing the relay speaks.
	#[error("unsupported ALPN {0:?}")]
	Alpn(String),
}

/// Completes the handshake of an incoming connection and classifies it.
pub async fn accept(incoming: wtq::quinn::Incoming, versions: &[Version]) -> Result<Accepted, AcceptError> {
	let conn = incoming.await?;
	let alpn = negotiated_alpn(&conn);

	if alpn == wtq::ALPN {
		let request = wtq::Request::accept(conn).await?;
		// `docs/protocol.md` ("Version negotiation"): "Either is legal": like rustls on raw QUIC, the relay's
		// order decides (`versions` is most preferred first, then the IETF drafts).
		let offers = |alpn: &str| request.protocols.iter().any(|p| p == alpn);
		let protocol = match versions.iter().copied().find(|v| offers(v.alpn())) {
			Some(version) => Protocol::Lite(version),
			None => match negotiate::DRAFTS.into_iter().find(|d| offers(d.alpn())) {
				Some(draft) => Protocol::Ietf(draft),
				// Accepted all the same: SETUP may still agree on a version, and otherwise the
				// close carries a reason, where a refused CONNECT is only "Opening handshake failed"
				// to a browser.
				None => Protocol::Setup {
					offered: request.protocols.clone(),
				},
			},
		};
		let url = &request.url;
		let mut url_path = url.path().to_string();
		if let Some(query) = url.query() {
			url_path.push('?');
			url_path.push_str(query);
		}
		let headers = request.headers.clone();
		let response = match &protocol {
			Protocol::Lite(version) => wtq::proto::ConnectResponse::OK.with_protocol(version.alpn()),
			Protocol::Ietf(draft) => wtq::proto::ConnectResponse::OK.with_protocol(draft.alpn()),
			Protocol::Setup { .. } => wtq::proto::ConnectResponse::OK,
		};
		let session = request.respond(response).await?;
		return Ok(Accepted {
			session,
			protocol,
			url_path: Some(url_path),
			headers: Some(headers),
		});
	}

	let protocol = match Version::from_alpn(&alpn).filter(|v| versions.contains(v)) {
		Some(version) => Some(Protocol::Lite(version)),
		None => negotiate::from_identifier(&alpn).map(Protocol::Ietf),
	};
	match protocol {
		Some(protocol) => Ok(Accepted {
			session: wtq::Session::raw(conn),
			protocol,
			url_path: None,
			headers: None,
		}),
		None => {
			conn.close(0u32.into(), b"unsupported ALPN");
			Err(AcceptError::Alpn(alpn))
		}
	}
}

/// The ALPN the TLS handshake settled on (empty if none), for either side of a connection.
pub fn negotiated_alpn(conn: &wtq::quinn::Connection) -> String {
	conn.handshake_data()
		.and_then(|data| data.downcast::<wtq::quinn::crypto::rustls::HandshakeData>().ok())
		.and_then(|data| data.protocol)
		.map(|p| String::from_utf8_lossy(&p).into_owned())
		.unwrap_or_default()
}

fn session_error(err: wtq::SessionError) -> TransportError {
	TransportError::Closed(err.to_string())
}

fn write_error(err: wtq::WriteError) -> TransportError {
	match err {
		wtq::WriteError::Stopped(code) => TransportError::Reset(code),
		wtq::WriteError::ClosedStream => TransportError::StreamClosed,
		other => TransportError::Closed(other.to_string()),
	}
}

impl super::Session for wtq::Session {
	type Send = wtq::SendStream;
	type Recv = wtq::RecvStream;

	async fn accept_bi(&self) -> Result<(Self::Send, Self::Recv), TransportError> {
		wtq::Session::accept_bi(self).await.map_err(session_error)
	}

	async fn accept_uni(&self) -> Result<Self::Recv, TransportError> {
		wtq::Session::accept_uni(self).await.map_err(session_error)
	}

	async fn open_bi(&self) -> Result<(Self::Send, Self::Recv), TransportError> {
		wtq::Session::open_bi(self).await.map_err(session_error)
	}

	async fn open_uni(&self) -> Result<Self::Send, TransportError> {
		wtq::Session::open_uni(self).await.map_err(session_error)
	}

	fn send_datagram(&self, payload: Bytes) -> Result<(), TransportError> {
		wtq::Session::send_datagram(self, payload).map_err(|e| TransportError::Datagram(e.to_string()))
	}

	async fn recv_datagram(&self) -> Result<Bytes, TransportError> {
		wtq::Session::read_datagram(self).await.map_err(session_error)
	}

	fn close(&self, code: u32, reason: &str) {
		wtq::Session::close(self, code, reason.as_bytes());
	}

	async fn closed(&self) -> TransportError {
		session_error(wtq::Session::closed(self).await)
	}

	fn allow_streams(&self, streams: u32) {
		self.set_max_concurrent_bi_streams(streams.into());
		self.set_max_concurrent_uni_streams(streams.into());
	}

	fn client_streams(&self) -> u32 {
		// A raw QUIC session has no CONNECT request.
		match self.request() {
			Some(_) => super::CLIENT_STREAMS,
			None => super::RAW_CLIENT_STREAMS,
		}
	}

	fn allow_receive(&self, bytes: u64) {
		self.set_receive_window(wtq::quinn::VarInt::from_u64(bytes).unwrap_or(wtq::quinn::VarInt::MAX));
	}

	fn totals(&self) -> super::Totals {
		let stats = wtq::quinn::Connection::stats(self);
		super::Totals {
			sent: stats.udp_tx.bytes,
			received: stats.udp_rx.bytes,
		}
	}
}

impl super::SendStream for wtq::SendStream {
	async fn write_all(&mut self, buf: &[u8]) -> Result<(), TransportError> {
		wtq::SendStream::write_all(self, buf).await.map_err(write_error)
	}

	async fn write_chunk(&mut self, buf: Bytes) -> Result<(), TransportError> {
		wtq::SendStream::write_chunk(self, buf).await.map_err(write_error)
	}

	async fn write_head_and_chunk(&mut self, head: Bytes, body: Bytes) -> Result<(), TransportError> {
		// One lock of quinn's connection and one wake of its driver for both.
		wtq::SendStream::write_all_chunks(self, &mut [head, body])
			.await
			.map_err(write_error)
	}

	fn finish(&mut self) -> Result<(), TransportError> {
		wtq::SendStream::finish(self).map_err(|_| TransportError::StreamClosed)
	}

	fn reset(&mut self, code: u32) {
		// Already finished or reset: nothing left to abandon.
		let _ = wtq::SendStream::reset(self, code);
	}

	fn set_priority(&mut self, priority: i32) {
		let _ = wtq::SendStream::set_priority(self, priority);
	}

	async fn stopped(&mut self) -> Result<Option<u32>, TransportError> {
		wtq::SendStream::stopped(self).await.map_err(session_error)
	}
}

impl super::RecvStream for wtq::RecvStream {
	async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, TransportError> {
		match wtq::RecvStream::read_chunk(self, max, true).await {
			Ok(chunk) => Ok(chunk.map(|c| c.bytes)),
			Err(wtq::ReadError::Reset(code)) => Err(TransportError::Reset(code)),
			Err(wtq::ReadError::ClosedStream) => Err(TransportError::StreamClosed),
			Err(other) => Err(TransportError::Closed(other.to_string())),
		}
	}

	fn stop(&mut self, code: u32) {
		let _ = wtq::RecvStream::stop(self, code);
	}
}
