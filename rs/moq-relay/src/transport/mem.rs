//! An in-memory [`Session`](super::Session) pair, after quinn-proto's test `Pair`: both ends of a
//! connection in one process, with no socket and no clock of its own, so session tests run under
//! tokio's paused time and never wait for real.
//!
//! It keeps the promises of a QUIC connection that a session relies on:
//! - bidirectional and unidirectional streams, ordered and reliable, ending with a FIN or a reset
//!   (`RESET_STREAM`), and a reader's `STOP_SENDING` reaching the writer;
//! - flow control: a writer waits while its stream has [`STREAM_WINDOW`] bytes unread, or the
//!   connection has the receiver's window (see [`Session::allow_receive`]) unread over all streams;
//! - a stream allowance: an opener waits while the peer's limit of open streams is reached
//!   ([`Session::allow_streams`]), and a stream counts until both of its halves are done;
//! - datagrams, dropped when [`DATAGRAM_QUEUE`] are waiting;
//! - closing with a code and a reason, which both ends read ([`MemSession::close_reason`]).
//!
//! [`Session::allow_receive`]: super::Session::allow_receive
//! [`Session::allow_streams`]: super::Session::allow_streams

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

use super::{RecvStream, SendStream, Session, TransportError};

/// Bytes a stream may have in flight (written, not yet read).
pub const STREAM_WINDOW: usize = 256 * 1024;
/// Datagrams waiting to be read before new ones are dropped.
pub const DATAGRAM_QUEUE: usize = 64;
/// Streams of each direction, and bytes over all streams, each end allows at first.
const INITIAL_STREAMS: u32 = 100;
const INITIAL_WINDOW: u64 = 16 * 1024 * 1024;

/// One end of a connection made by [`pair`].
#[derive(Clone)]
pub struct MemSession {
	conn: Arc<Conn>,
	/// 0 or 1: which end this is.
	side: usize,
}

impl std::fmt::Debug for MemSession {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("MemSession").field("side", &self.side).finish()
	}
}

/// A connected (client, server) pair.
pub fn pair() -> (MemSession, MemSession) {
	let conn = Arc::new(Conn {
		state: Mutex::new(ConnState {
			ends: [End::default(), End::default()],
			closed: None,
		}),
		changed: Notify::new(),
	});
	(
		MemSession {
			conn: conn.clone(),
			side: 0,
		},
		MemSession { conn, side: 1 },
	)
}

struct Conn {
	state: Mutex<ConnState>,
	/// Woken on every change; waiters re-check their condition.
	changed: Notify,
}

struct ConnState {
	/// What each end receives, and what it allows its peer.
	ends: [End; 2],
	/// The first close: (code, reason).
	closed: Option<(u32, String)>,
}

struct End {
	bi: VecDeque<(Arc<Pipe>, Arc<Pipe>)>,
	uni: VecDeque<Arc<Pipe>>,
	datagrams: VecDeque<Bytes>,
	/// Streams of each kind the peer may have open towards this end, and how many it has.
	allow_bi: u32,
	allow_uni: u32,
	open_bi: u32,
	open_uni: u32,
	/// Bytes this end lets its peer have unread over all streams, and how many are.
	window: u64,
	unread: u64,
	/// Bytes that reached this end, over streams and datagrams.
	arrived: u64,
}

impl Default for End {
	fn default() -> Self {
		Self {
			bi: VecDeque::new(),
			uni: VecDeque::new(),
			datagrams: VecDeque::new(),
			allow_bi: INITIAL_STREAMS,
			allow_uni: INITIAL_STREAMS,
			open_bi: 0,
			open_uni: 0,
			window: INITIAL_WINDOW,
			unread: 0,
			arrived: 0,
		}
	}
}

/// One direction of a stream.
struct Pipe {
	state: Mutex<PipeState>,
	/// The connection, for the flow-control window and the stream count of the receiving end.
	conn: Arc<Conn>,
	/// The receiving end.
	receiver: usize,
	/// The stream allowance this direction counts against, if any: a bidirectional stream counts
	/// once, on its opener's direction.
	counts: Option<Kind>,
}

#[derive(Clone, Copy)]
enum Kind {
	Bi,
	Uni,
}

#[derive(Default)]
struct PipeState {
	chunks: VecDeque<Bytes>,
	unread: usize,
	fin: bool,
	reset: Option<u32>,
	stopped: Option<u32>,
	/// Which halves are done (writer finished/reset/dropped, reader at the end/stopped/dropped).
	writer_done: bool,
	reader_done: bool,
}

impl Conn {
	fn lock(&self) -> MutexGuard<'_, ConnState> {
		self.state.lock().unwrap_or_else(|e| e.into_inner())
	}

	fn closed_error(closed: &(u32, String)) -> TransportError {
		TransportError::Closed(format!("closed with code {}: {}", closed.0, closed.1))
	}

	/// Waits until `ready` returns `Some` (checked under the lock), or the connection closes.
	async fn wait<T>(&self, mut ready: impl FnMut(&mut ConnState) -> Option<T>) -> Result<T, TransportError> {
		loop {
			let notified = self.changed.notified();
			tokio::pin!(notified);
			notified.as_mut().enable();
			{
				let mut state = self.lock();
				if let Some(closed) = &state.closed {
					return Err(Self::closed_error(closed));
				}
				if let Some(value) = ready(&mut state) {
					drop(state);
					self.changed.notify_waiters();
					return Ok(value);
				}
			}
			notified.await;
		}
	}
}

impl Pipe {
	fn new(conn: &Arc<Conn>, receiver: usize, counts: Option<Kind>) -> Arc<Self> {
		Arc::new(Self {
			state: Mutex::new(PipeState::default()),
			conn: conn.clone(),
			receiver,
			counts,
		})
	}

	fn lock(&self) -> MutexGuard<'_, PipeState> {
		self.state.lock().unwrap_or_else(|e| e.into_inner())
	}

	/// A half is done; the stream stops counting against the allowance once both are.
	fn half_done(&self, writer: bool) {
		let both = {
			let mut state = self.lock();
			let was = state.writer_done && state.reader_done;
			if writer {
				state.writer_done = true;
			} else {
				state.reader_done = true;
			}
			!was && state.writer_done && state.reader_done
		};
		if let (true, Some(kind)) = (both, self.counts) {
			let mut conn = self.conn.lock();
			let end = &mut conn.ends[self.receiver];
			match kind {
				Kind::Bi => end.open_bi = end.open_bi.saturating_sub(1),
				Kind::Uni => end.open_uni = end.open_uni.saturating_sub(1),
			}
		}
		self.conn.changed.notify_waiters();
	}
}

/// The sending half of an in-memory stream.
pub struct MemSend {
	pipe: Arc<Pipe>,
	done: bool,
}

/// The receiving half of an in-memory stream.
pub struct MemRecv {
	pipe: Arc<Pipe>,
	done: bool,
}

impl MemSession {
	fn peer(&self) -> usize {
		1 - self.side
	}

	/// How the connection was closed: the code and reason of the first close, from either end.
	pub fn close_reason(&self) -> Option<(u32, String)> {
		self.conn.lock().closed.clone()
	}

	fn open(
		&self,
		bidi: bool,
	) -> impl std::future::Future<Output = Result<(MemSend, Option<MemRecv>), TransportError>> + '_ {
		let peer = self.peer();
		async move {
			self.conn
				.wait(|state| {
					let end = &mut state.ends[peer];
					if bidi {
						if end.open_bi >= end.allow_bi {
							return None;
						}
						end.open_bi += 1;
						let out = Pipe::new(&self.conn, peer, Some(Kind::Bi));
						let back = Pipe::new(&self.conn, self.side, None);
						end.bi.push_back((out.clone(), back.clone()));
						Some((out, Some(back)))
					} else {
						if end.open_uni >= end.allow_uni {
							return None;
						}
						end.open_uni += 1;
						let out = Pipe::new(&self.conn, peer, Some(Kind::Uni));
						end.uni.push_back(out.clone());
						Some((out, None))
					}
				})
				.await
				.map(|(out, back)| {
					(
						MemSend { pipe: out, done: false },
						back.map(|pipe| MemRecv { pipe, done: false }),
					)
				})
		}
	}
}

impl Session for MemSession {
	type Send = MemSend;
	type Recv = MemRecv;

	async fn accept_bi(&self) -> Result<(MemSend, MemRecv), TransportError> {
		let side = self.side;
		// The peer writes on `incoming` and reads `back`.
		let (incoming, back) = self.conn.wait(|state| state.ends[side].bi.pop_front()).await?;
		Ok((
			MemSend {
				pipe: back,
				done: false,
			},
			MemRecv {
				pipe: incoming,
				done: false,
			},
		))
	}

	async fn accept_uni(&self) -> Result<MemRecv, TransportError> {
		let side = self.side;
		let pipe = self.conn.wait(|state| state.ends[side].uni.pop_front()).await?;
		Ok(MemRecv { pipe, done: false })
	}

	async fn open_bi(&self) -> Result<(MemSend, MemRecv), TransportError> {
		let (send, recv) = self.open(true).await?;
		let recv = recv.ok_or_else(|| TransportError::Closed("no return direction".into()))?;
		Ok((send, recv))
	}

	async fn open_uni(&self) -> Result<MemSend, TransportError> {
		Ok(self.open(false).await?.0)
	}

	fn send_datagram(&self, payload: Bytes) -> Result<(), TransportError> {
		let mut state = self.conn.lock();
		if let Some(closed) = &state.closed {
			return Err(Conn::closed_error(closed));
		}
		let end = &mut state.ends[self.peer()];
		if end.datagrams.len() < DATAGRAM_QUEUE {
			end.arrived += payload.len() as u64;
			end.datagrams.push_back(payload);
		}
		drop(state);
		self.conn.changed.notify_waiters();
		Ok(())
	}

	async fn recv_datagram(&self) -> Result<Bytes, TransportError> {
		let side = self.side;
		self.conn.wait(|state| state.ends[side].datagrams.pop_front()).await
	}

	fn close(&self, code: u32, reason: &str) {
		let mut state = self.conn.lock();
		if state.closed.is_none() {
			state.closed = Some((code, reason.to_string()));
		}
		drop(state);
		self.conn.changed.notify_waiters();
	}

	async fn closed(&self) -> TransportError {
		match self.conn.wait(|_| None::<()>).await {
			Err(err) => err,
			Ok(()) => TransportError::Closed("closed".into()),
		}
	}

	fn allow_streams(&self, streams: u32) {
		let mut state = self.conn.lock();
		let end = &mut state.ends[self.side];
		end.allow_bi = end.allow_bi.max(streams);
		end.allow_uni = end.allow_uni.max(streams);
		drop(state);
		self.conn.changed.notify_waiters();
	}

	fn allow_receive(&self, bytes: u64) {
		let mut state = self.conn.lock();
		let end = &mut state.ends[self.side];
		end.window = end.window.max(bytes);
		drop(state);
		self.conn.changed.notify_waiters();
	}

	fn totals(&self) -> super::Totals {
		let state = self.conn.lock();
		super::Totals {
			sent: state.ends[self.peer()].arrived,
			received: state.ends[self.side].arrived,
		}
	}
}

impl SendStream for MemSend {
	async fn write_all(&mut self, buf: &[u8]) -> Result<(), TransportError> {
		self.write_chunk(Bytes::copy_from_slice(buf)).await
	}

	async fn write_chunk(&mut self, mut buf: Bytes) -> Result<(), TransportError> {
		if self.done {
			return Err(TransportError::StreamClosed);
		}
		let pipe = self.pipe.clone();
		while !buf.is_empty() {
			let chunk = pipe
				.conn
				.wait(|conn| {
					let mut state = pipe.lock();
					if let Some(code) = state.stopped {
						return Some(Err(TransportError::Reset(code)));
					}
					let end = &mut conn.ends[pipe.receiver];
					let stream_room = STREAM_WINDOW.saturating_sub(state.unread);
					let conn_room = usize::try_from(end.window.saturating_sub(end.unread)).unwrap_or(usize::MAX);
					let room = stream_room.min(conn_room);
					if room == 0 {
						return None;
					}
					let chunk = buf.split_to(room.min(buf.len()));
					state.unread += chunk.len();
					end.unread += chunk.len() as u64;
					end.arrived += chunk.len() as u64;
					state.chunks.push_back(chunk.clone());
					Some(Ok(chunk.len()))
				})
				.await?;
			chunk?;
		}
		Ok(())
	}

	fn finish(&mut self) -> Result<(), TransportError> {
		if self.done {
			return Err(TransportError::StreamClosed);
		}
		self.done = true;
		self.pipe.lock().fin = true;
		self.pipe.half_done(true);
		Ok(())
	}

	fn reset(&mut self, code: u32) {
		if self.done {
			return;
		}
		self.done = true;
		self.pipe.lock().reset = Some(code);
		self.pipe.half_done(true);
	}

	fn set_priority(&mut self, _priority: i32) {
		// One process, no congestion: every stream is delivered as soon as it is read, so a
		// priority has nothing to reorder.
	}

	async fn stopped(&mut self) -> Result<Option<u32>, TransportError> {
		let pipe = self.pipe.clone();
		pipe.conn
			.wait(|_| {
				let state = pipe.lock();
				match state.stopped {
					Some(code) => Some(Some(code)),
					None if state.reader_done => Some(None),
					None => None,
				}
			})
			.await
	}
}

impl Drop for MemSend {
	fn drop(&mut self) {
		// Never delivered as complete: an unfinished stream is reset.
		self.reset(0);
	}
}

impl RecvStream for MemRecv {
	async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, TransportError> {
		if self.done {
			return Err(TransportError::StreamClosed);
		}
		let pipe = self.pipe.clone();
		let read = pipe
			.conn
			.wait(|conn| {
				let mut state = pipe.lock();
				if let Some(mut chunk) = state.chunks.pop_front() {
					if chunk.len() > max.max(1) {
						let rest = chunk.split_off(max.max(1));
						state.chunks.push_front(rest);
					}
					state.unread -= chunk.len();
					let end = &mut conn.ends[pipe.receiver];
					end.unread -= chunk.len() as u64;
					return Some(Ok(Some(chunk)));
				}
				if let Some(code) = state.reset {
					return Some(Err(TransportError::Reset(code)));
				}
				state.fin.then_some(Ok(None))
			})
			.await??;
		if read.is_none() {
			self.done = true;
			self.pipe.half_done(false);
		}
		Ok(read)
	}

	fn stop(&mut self, code: u32) {
		if self.done {
			return;
		}
		self.done = true;
		{
			let mut state = self.pipe.lock();
			state.stopped = Some(code);
			let dropped = state.unread;
			state.chunks.clear();
			state.unread = 0;
			drop(state);
			let mut conn = self.pipe.conn.lock();
			let end = &mut conn.ends[self.pipe.receiver];
			end.unread -= dropped as u64;
		}
		self.pipe.half_done(false);
	}
}

impl Drop for MemRecv {
	fn drop(&mut self) {
		self.stop(0);
	}
}

#[cfg(test)]
mod tests {
	use std::time::Duration;

	use super::*;

	/// Under paused time, a future that cannot progress times out at once: "it waits" is checked
	/// without waiting.
	async fn blocks<T>(future: impl std::future::Future<Output = T>) -> bool {
		tokio::time::timeout(Duration::from_secs(1), future).await.is_err()
	}

	#[tokio::test(start_paused = true)]
	async fn streams_deliver_in_order_and_end_with_fin_or_reset() {
		let (client, server) = pair();
		let (mut send, mut back) = client.open_bi().await.unwrap();
		let (mut reply, mut recv) = server.accept_bi().await.unwrap();
		send.write_all(b"hello ").await.unwrap();
		send.write_chunk(Bytes::from_static(b"world")).await.unwrap();
		send.finish().unwrap();
		let mut got = Vec::new();
		while let Some(chunk) = recv.read_chunk(4).await.unwrap() {
			assert!(chunk.len() <= 4);
			got.extend_from_slice(&chunk);
		}
		assert_eq!(got, b"hello world");
		reply.write_all(b"x").await.unwrap();
		reply.reset(7);
		assert_eq!(back.read_chunk(10).await.unwrap().as_deref(), Some(&b"x"[..]));
		assert_eq!(back.read_chunk(10).await, Err(TransportError::Reset(7)));

		let mut uni = server.open_uni().await.unwrap();
		drop(uni.write_all(b"cut").await);
		drop(uni);
		let mut incoming = client.accept_uni().await.unwrap();
		assert_eq!(incoming.read_chunk(10).await.unwrap().as_deref(), Some(&b"cut"[..]));
		assert_eq!(
			incoming.read_chunk(10).await,
			Err(TransportError::Reset(0)),
			"dropped unfinished = reset"
		);
	}

	#[tokio::test(start_paused = true)]
	async fn a_writer_waits_for_the_reader_and_hears_stop_sending() {
		let (client, server) = pair();
		let mut send = client.open_uni().await.unwrap();
		send.write_chunk(Bytes::from(vec![0; STREAM_WINDOW])).await.unwrap();
		assert!(blocks(send.write_all(b"more")).await, "a full window blocks the writer");
		let mut recv = server.accept_uni().await.unwrap();
		assert_eq!(recv.read_chunk(1000).await.unwrap().map(|c| c.len()), Some(1000));
		send.write_all(b"more").await.unwrap();
		recv.stop(5);
		assert_eq!(send.write_all(b"again").await, Err(TransportError::Reset(5)));
		assert_eq!(send.stopped().await, Ok(Some(5)));
	}

	#[tokio::test(start_paused = true)]
	async fn the_connection_window_bounds_all_streams_together() {
		let (client, server) = pair();
		let mut writers = Vec::new();
		// 16 MiB over 64 streams of 256 KiB fills the initial connection window.
		for _ in 0..64 {
			let mut send = client.open_uni().await.unwrap();
			send.write_chunk(Bytes::from(vec![0; STREAM_WINDOW])).await.unwrap();
			writers.push(send);
		}
		let mut one_more = client.open_uni().await.unwrap();
		assert!(blocks(one_more.write_all(b"x")).await);
		server.allow_receive(INITIAL_WINDOW + 1024);
		one_more.write_all(b"x").await.unwrap();
	}

	#[tokio::test(start_paused = true)]
	async fn the_stream_allowance_holds_openers_until_raised_or_freed() {
		let (client, server) = pair();
		let mut open = Vec::new();
		for _ in 0..INITIAL_STREAMS {
			open.push(client.open_uni().await.unwrap());
		}
		assert!(blocks(client.open_uni()).await, "the peer allows {INITIAL_STREAMS}");
		server.allow_streams(INITIAL_STREAMS + 1);
		open.push(client.open_uni().await.unwrap());
		assert!(blocks(client.open_uni()).await);
		// A stream finished by its writer and read to the end by its reader frees its place.
		let mut first = open.remove(0);
		first.finish().unwrap();
		let mut recv = server.accept_uni().await.unwrap();
		assert_eq!(recv.read_chunk(1).await, Ok(None));
		client.open_uni().await.unwrap();
	}

	#[tokio::test(start_paused = true)]
	async fn close_reaches_both_ends_with_its_code_and_reason() {
		let (client, server) = pair();
		let (mut send, _recv) = client.open_bi().await.unwrap();
		let waiting = tokio::spawn({
			let server = server.clone();
			async move { server.accept_uni().await.err() }
		});
		server.close(2, "token_expired");
		assert_eq!(client.close_reason(), Some((2, "token_expired".into())));
		assert!(matches!(client.closed().await, TransportError::Closed(reason) if reason.contains("token_expired")));
		assert!(waiting.await.unwrap().is_some(), "a pending accept fails");
		assert!(send.write_all(b"late").await.is_err());
		// The first close wins.
		client.close(0, "later");
		assert_eq!(server.close_reason(), Some((2, "token_expired".into())));
	}

	#[tokio::test(start_paused = true)]
	async fn totals_count_what_reached_each_end() {
		use super::super::Totals;
		let (client, server) = pair();
		let mut send = client.open_uni().await.unwrap();
		send.write_all(b"hello").await.unwrap();
		send.finish().unwrap();
		client.send_datagram(Bytes::from_static(b"dg")).unwrap();
		server.send_datagram(Bytes::from_static(b"back")).unwrap();
		let mut recv = server.accept_uni().await.unwrap();
		assert_eq!(recv.read_chunk(64).await.unwrap().as_deref(), Some(&b"hello"[..]));
		assert_eq!(client.totals(), Totals { sent: 7, received: 4 });
		assert_eq!(server.totals(), Totals { sent: 4, received: 7 });
	}

	#[tokio::test]
	async fn datagrams_are_delivered_or_dropped_when_the_queue_is_full() {
		let (client, server) = pair();
		for i in 0..DATAGRAM_QUEUE + 10 {
			client.send_datagram(Bytes::from(vec![i as u8])).unwrap();
		}
		for i in 0..DATAGRAM_QUEUE {
			assert_eq!(server.recv_datagram().await.unwrap()[0], i as u8);
		}
		assert!(blocks(server.recv_datagram()).await, "the overflow was dropped");
	}
}
