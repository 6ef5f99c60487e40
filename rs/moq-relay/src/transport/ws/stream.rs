//! The streams of a session over a WebSocket, which end when their session ends.
//!
//! On QUIC a stream's reads and writes fail once its connection is closed (quinn's
//! `ConnectionLost`). qmux 0.5's streams do not: a read waits for data that the session's shared
//! stream table would deliver, and that table lives as long as any handle of the session does. A
//! relay task that reads a client's stream holds the session (to answer on it), so when the client
//! went away that task waited for ever, holding what the stream and the session had allocated:
//! about 50 KiB per closed WebSocket session in the tests, until the process exited. Here every
//! read and write also waits for the session's end ([`Ended`]) and fails with
//! [`TransportError::Closed`] when it comes, as on QUIC.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use super::{session_error, write_error};
use crate::transport::{RecvStream, SendStream, TransportError};

/// What a stream's pending read or write fails with once its session has ended.
const SESSION_ENDED: &str = "the WebSocket session ended";

/// Set once a session over a WebSocket has ended: by the relay's close or `closed` on a handle, and
/// by the QMux writer's close (or drop), which every end of a session ends with, whoever closed it
/// or however the socket went ([`super::io`]). Shared by the session's handles and its writer.
#[derive(Clone, Debug)]
pub(super) struct Ended(Arc<watch::Sender<bool>>);

impl Ended {
	pub(super) fn new() -> Self {
		Self(Arc::new(watch::Sender::new(false)))
	}

	/// Ends every stream of the session.
	pub(super) fn set(&self) {
		self.0.send_replace(true);
	}

	/// Whether the session has ended.
	pub(super) fn is_set(&self) -> bool {
		*self.0.borrow()
	}

	/// Returns once the session has ended.
	pub(super) async fn wait(&self) {
		let _ = self.watch().wait_for(|ended| *ended).await;
	}

	fn watch(&self) -> watch::Receiver<bool> {
		self.0.subscribe()
	}

	pub(super) fn send(&self, inner: qmux::SendStream) -> WsSend {
		WsSend {
			inner,
			ended: self.watch(),
		}
	}

	pub(super) fn recv(&self, inner: qmux::RecvStream) -> WsRecv {
		WsRecv {
			inner,
			ended: self.watch(),
		}
	}
}

/// Returns once the session has ended (or nothing that could end it is left).
async fn until_ended(ended: &mut watch::Receiver<bool>) -> TransportError {
	let _ = ended.wait_for(|ended| *ended).await;
	TransportError::Closed(SESSION_ENDED.to_string())
}

/// The sending half of a stream of a session over a WebSocket.
pub struct WsSend {
	inner: qmux::SendStream,
	ended: watch::Receiver<bool>,
}

/// The receiving half of a stream of a session over a WebSocket.
pub struct WsRecv {
	inner: qmux::RecvStream,
	ended: watch::Receiver<bool>,
}

impl SendStream for WsSend {
	async fn write_all(&mut self, buf: &[u8]) -> Result<(), TransportError> {
		tokio::select! {
			biased;
			written = web_transport_trait::SendStream::write_all(&mut self.inner, buf) => written.map_err(write_error),
			ended = until_ended(&mut self.ended) => Err(ended),
		}
	}

	async fn write_chunk(&mut self, buf: Bytes) -> Result<(), TransportError> {
		tokio::select! {
			biased;
			written = web_transport_trait::SendStream::write_chunk(&mut self.inner, buf) => written.map_err(write_error),
			ended = until_ended(&mut self.ended) => Err(ended),
		}
	}

	fn finish(&mut self) -> Result<(), TransportError> {
		web_transport_trait::SendStream::finish(&mut self.inner).map_err(|_| TransportError::StreamClosed)
	}

	fn reset(&mut self, code: u32) {
		web_transport_trait::SendStream::reset(&mut self.inner, code);
	}

	fn set_priority(&mut self, priority: i32) {
		// QMux has 256 levels, higher first. The relay's priorities are group sequences (newer is
		// higher): their low byte keeps that order among the few groups in flight at once, except
		// for a moment when the sequence crosses a multiple of 256.
		let level = u8::try_from(priority.rem_euclid(256)).unwrap_or(u8::MAX);
		web_transport_trait::SendStream::set_priority(&mut self.inner, level);
	}

	async fn stopped(&mut self) -> Result<Option<u32>, TransportError> {
		let stopped = tokio::select! {
			biased;
			stopped = web_transport_trait::SendStream::closed(&mut self.inner) => stopped,
			ended = until_ended(&mut self.ended) => return Err(ended),
		};
		match stopped {
			Ok(()) | Err(qmux::Error::Closed) => Ok(None),
			Err(qmux::Error::StreamStop(code)) => Ok(Some(u32::try_from(code.into_inner()).unwrap_or(u32::MAX))),
			Err(err) => Err(session_error(err)),
		}
	}
}

impl RecvStream for WsRecv {
	async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, TransportError> {
		let read = tokio::select! {
			biased;
			read = web_transport_trait::RecvStream::read_chunk(&mut self.inner, max) => read,
			ended = until_ended(&mut self.ended) => return Err(ended),
		};
		match read {
			Ok(chunk) => Ok(chunk),
			Err(qmux::Error::StreamReset(code)) => Err(TransportError::Reset(
				u32::try_from(code.into_inner()).unwrap_or(u32::MAX),
			)),
			Err(qmux::Error::StreamClosed | qmux::Error::StreamStop(_)) => Err(TransportError::StreamClosed),
			Err(other) => Err(TransportError::Closed(other.to_string())),
		}
	}

	fn stop(&mut self, code: u32) {
		web_transport_trait::RecvStream::stop(&mut self.inner, code);
	}
}
