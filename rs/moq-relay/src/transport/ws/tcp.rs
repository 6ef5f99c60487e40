//! The TCP connection under a WebSocket, read so that a publisher with Nagle's algorithm on is not
//! held back by the relay's delayed ACKs.
//!
//! A client that leaves Nagle's algorithm (RFC 896) on, as the published Rust client does, sends a
//! small write only once what it sent before was acknowledged; Linux delays an ACK by up to 40 ms. So
//! about one frame in a hundred from such a publisher reached subscribers 40 ms late
//! (`docs/performance.md`, "WebSocket latency"). After each read that took all the socket had, the
//! relay asks for the ACK at once (`TCP_QUICKACK`, which the kernel does not keep set, hence on
//! every such read).
//! The upgraded connection is taken back from hyper for that ([`accept_upgraded`]): hyper hands it
//! out as an opaque type, and the socket's options need the socket.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::{Bounds, Negotiated, WsSession, accept};

/// [`accept`] on a connection hyper upgraded. The relay's listener serves plain TCP and TLS
/// connections (`http::serve`), whose sockets get quick ACKs ([`QuickAck`]); any other kind of
/// connection is used as it is.
pub async fn accept_upgraded(
	upgraded: hyper::upgrade::Upgraded,
	negotiated: &Negotiated,
	bounds: Bounds,
) -> Result<WsSession, qmux::Error> {
	let upgraded = match upgraded.downcast::<TokioIo<TcpStream>>() {
		Ok(parts) => return accept(QuickAck::new(parts.io.into_inner(), parts.read_buf), negotiated, bounds).await,
		Err(upgraded) => upgraded,
	};
	match upgraded.downcast::<TokioIo<TlsStream<TcpStream>>>() {
		Ok(parts) => accept(QuickAck::new(parts.io.into_inner(), parts.read_buf), negotiated, bounds).await,
		Err(upgraded) => accept(TokioIo::new(upgraded), negotiated, bounds).await,
	}
}

/// A connection whose socket is a [`TcpStream`].
pub trait OverTcp {
	fn tcp(&self) -> &TcpStream;
}

impl OverTcp for TcpStream {
	fn tcp(&self) -> &TcpStream {
		self
	}
}

impl OverTcp for TlsStream<TcpStream> {
	fn tcp(&self) -> &TcpStream {
		self.get_ref().0
	}
}

/// A connection that acknowledges what it read at once: `buffered` (what hyper had read past the
/// upgrade request) is read first, then the connection.
pub struct QuickAck<T> {
	io: T,
	buffered: Bytes,
}

impl<T> QuickAck<T> {
	pub fn new(io: T, buffered: Bytes) -> Self {
		Self { io, buffered }
	}
}

/// Asks the kernel to acknowledge what `tcp` received now rather than after its delayed-ACK timer.
fn quick_ack(tcp: &TcpStream) {
	#[cfg(any(target_os = "linux", target_os = "android"))]
	if let Err(err) = socket2::SockRef::from(tcp).set_tcp_quickack(true) {
		tracing::trace!(%err, "TCP_QUICKACK not set");
	}
	#[cfg(not(any(target_os = "linux", target_os = "android")))]
	let _ = tcp;
}

impl<T: OverTcp + AsyncRead + Unpin> AsyncRead for QuickAck<T> {
	fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
		if self.buffered.has_remaining() {
			let n = self.buffered.len().min(buf.remaining());
			buf.put_slice(&self.buffered[..n]);
			self.buffered.advance(n);
			return Poll::Ready(Ok(()));
		}
		let before = buf.filled().len();
		let polled = Pin::new(&mut self.io).poll_read(cx, buf);
		// Only when the read took all there was (it did not fill the buffer): while more is
		// queued the next read comes at once, and the one that empties the socket asks for the
		// ACK, so a large frame costs one system call, not one per read.
		if let Poll::Ready(Ok(())) = polled
			&& buf.filled().len() > before
			&& buf.remaining() > 0
		{
			quick_ack(self.io.tcp());
		}
		polled
	}
}

impl<T: AsyncWrite + Unpin> AsyncWrite for QuickAck<T> {
	fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
		Pin::new(&mut self.io).poll_write(cx, buf)
	}

	fn poll_write_vectored(
		mut self: Pin<&mut Self>,
		cx: &mut Context<'_>,
		bufs: &[std::io::IoSlice<'_>],
	) -> Poll<std::io::Result<usize>> {
		Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
	}

	fn is_write_vectored(&self) -> bool {
		self.io.is_write_vectored()
	}

	fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
		Pin::new(&mut self.io).poll_flush(cx)
	}

	fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
		Pin::new(&mut self.io).poll_shutdown(cx)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use tokio::io::{AsyncReadExt, AsyncWriteExt};

	/// What hyper read past the upgrade request (a client's first QMux record can come with it)
	/// is read first, in order, then what the socket brings; writes go to the socket.
	#[tokio::test]
	async fn what_hyper_read_ahead_comes_first() {
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = listener.local_addr().unwrap();
		let (accepted, client) = tokio::join!(listener.accept(), TcpStream::connect(addr));
		let mut client = client.unwrap();
		let mut io = QuickAck::new(accepted.unwrap().0, Bytes::from_static(b"read ahead, "));
		client.write_all(b"then the socket").await.unwrap();
		client.shutdown().await.unwrap();
		let mut small = [0u8; 5];
		io.read_exact(&mut small).await.unwrap();
		assert_eq!(&small, b"read ");
		let mut rest = String::new();
		io.read_to_string(&mut rest).await.unwrap();
		assert_eq!(rest, "ahead, then the socket");
		io.write_all(b"answer").await.unwrap();
		io.shutdown().await.unwrap();
		let mut answer = String::new();
		client.read_to_string(&mut answer).await.unwrap();
		assert_eq!(answer, "answer");
	}
}
