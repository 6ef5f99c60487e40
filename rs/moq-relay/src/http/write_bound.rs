//! How long an HTTP connection's write may wait for the peer to read (`[limits] http_timeout`).
//!
//! hyper bounds how long a request's headers may take and how long a kept-alive connection may
//! sit idle, but not a response the peer does not read: once the socket's buffers are full, the
//! write waits for as long as the peer keeps the connection open, and the connection keeps its
//! place (`[limits] max_http_connections`) for that long. [`WriteBound`] ends a connection
//! whose write (or TLS flush) has made no progress for the bound; any progress starts the wait
//! anew, so a slow reader is served at its pace. A WebSocket session lifts the bound at its
//! upgrade ([`Release`]): from then on its transport has bounds of its own (QMux's flow control,
//! the keep-alive pings and the idle timeout of `crate::transport::ws`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::metrics::Metrics;

/// The code a connection ended by the bound is counted under in `moq_relay_limit_refused_total`.
pub const CODE: &str = "http_write_timeout";

/// A socket whose writes may wait at most `bound` for the peer to read.
pub struct WriteBound<T> {
	io: T,
	bound: Duration,
	/// Since when the current write has waited (armed at its first `Pending`).
	waiting: Option<Pin<Box<Sleep>>>,
	/// Cleared by [`Release`] at a WebSocket upgrade.
	armed: Arc<AtomicBool>,
	metrics: Arc<Metrics>,
}

/// Lifts a connection's [`WriteBound`] (a request extension: the upgrade middleware calls it).
#[derive(Clone, Debug)]
pub struct Release(Arc<AtomicBool>);

impl Release {
	/// From now on the connection's writes may wait without bound.
	pub fn release(&self) {
		self.0.store(false, Ordering::Relaxed);
	}
}

impl<T> WriteBound<T> {
	/// `io`, whose writes may wait at most `bound`; and the handle that lifts the bound.
	pub fn new(io: T, bound: Duration, metrics: Arc<Metrics>) -> (Self, Release) {
		let armed = Arc::new(AtomicBool::new(true));
		let bounded = Self {
			io,
			bound,
			waiting: None,
			armed: armed.clone(),
			metrics,
		};
		(bounded, Release(armed))
	}
}

impl<T: Unpin> WriteBound<T> {
	/// Runs one write-side poll of the socket under the bound: progress (or an error) resets the
	/// wait, a `Pending` past the bound is `TimedOut`.
	fn bounded<R>(
		self: Pin<&mut Self>,
		cx: &mut Context<'_>,
		poll: impl FnOnce(Pin<&mut T>, &mut Context<'_>) -> Poll<io::Result<R>>,
	) -> Poll<io::Result<R>> {
		let this = self.get_mut();
		if let Poll::Ready(done) = poll(Pin::new(&mut this.io), cx) {
			this.waiting = None;
			return Poll::Ready(done);
		}
		if !this.armed.load(Ordering::Relaxed) {
			this.waiting = None;
			return Poll::Pending;
		}
		let bound = this.bound;
		let waiting = this.waiting.get_or_insert_with(|| Box::pin(tokio::time::sleep(bound)));
		match waiting.as_mut().poll(cx) {
			Poll::Ready(()) => {
				this.metrics.limit_refused(CODE);
				let message = format!("the peer read nothing for {bound:?} ([limits] http_timeout)");
				Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, message)))
			}
			Poll::Pending => Poll::Pending,
		}
	}
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteBound<T> {
	fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
		Pin::new(&mut self.io).poll_read(cx, buf)
	}
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteBound<T> {
	fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
		self.bounded(cx, |io, cx| io.poll_write(cx, buf))
	}

	fn poll_write_vectored(
		self: Pin<&mut Self>,
		cx: &mut Context<'_>,
		bufs: &[io::IoSlice<'_>],
	) -> Poll<io::Result<usize>> {
		self.bounded(cx, |io, cx| io.poll_write_vectored(cx, bufs))
	}

	fn is_write_vectored(&self) -> bool {
		self.io.is_write_vectored()
	}

	fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
		self.bounded(cx, |io, cx| io.poll_flush(cx))
	}

	fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
		self.bounded(cx, |io, cx| io.poll_shutdown(cx))
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use tokio::io::{AsyncReadExt, AsyncWriteExt};

	/// A pipe whose reader reads nothing: the bounded writer fills it, then fails after the bound
	/// (tokio's clock paused, so the test takes no time); a reader that reads a little each time
	/// keeps the writer going however long it takes in all.
	#[tokio::test(start_paused = true)]
	async fn a_write_that_waits_past_the_bound_fails_and_progress_starts_the_wait_anew() {
		let metrics = Arc::new(Metrics::default());
		// The reader is kept, and never read: the pipe stays open and full.
		let (writer, _reader) = tokio::io::duplex(1024);
		let (mut bounded, _release) = WriteBound::new(writer, Duration::from_secs(10), metrics.clone());
		let started = tokio::time::Instant::now();
		let err = bounded.write_all(&[0u8; 4096]).await.unwrap_err();
		assert_eq!(err.kind(), io::ErrorKind::TimedOut);
		assert_eq!(started.elapsed(), Duration::from_secs(10));
		assert!(err.to_string().contains("http_timeout"), "{err}");
		let text = metrics.render().unwrap();
		assert!(
			text.contains(&format!("moq_relay_limit_refused_total{{code=\"{CODE}\"}} 1")),
			"{text}"
		);

		// A slow reader: 1 KiB every 6 s, 24 s in all for 4 KiB past the pipe's 1 KiB.
		let (writer, mut reader) = tokio::io::duplex(1024);
		let (mut bounded, _release) = WriteBound::new(writer, Duration::from_secs(10), metrics);
		let slow = tokio::spawn(async move {
			let mut got = 0;
			let mut buf = [0u8; 1024];
			while got < 5 * 1024 {
				tokio::time::sleep(Duration::from_secs(6)).await;
				got += reader.read(&mut buf).await.unwrap();
			}
		});
		bounded.write_all(&[0u8; 5 * 1024]).await.unwrap();
		slow.await.unwrap();
	}

	/// Released (a WebSocket upgrade), a write waits as long as the peer keeps it waiting.
	#[tokio::test(start_paused = true)]
	async fn a_released_connection_waits_without_bound() {
		let (writer, mut reader) = tokio::io::duplex(1024);
		let (mut bounded, release) = WriteBound::new(writer, Duration::from_secs(10), Arc::new(Metrics::default()));
		release.release();
		let write = tokio::spawn(async move { bounded.write_all(&[0u8; 2048]).await });
		tokio::time::sleep(Duration::from_secs(3600)).await;
		assert!(!write.is_finished(), "the write ended while the peer read nothing");
		let mut buf = vec![0u8; 2048];
		reader.read_exact(&mut buf).await.unwrap();
		write.await.unwrap().unwrap();
	}
}
