//! The relay's side of a WebSocket under QMux: the two halves qmux's session writes to and reads
//! from ([`qmux::transport::Transport`]).
//!
//! A session the relay closes (a refusal, an expired token) sends the client an APPLICATION_CLOSE
//! with the code and reason the client shows. With qmux's own WebSocket transport
//! (`qmux::ws::Upgraded`) that close was lost in about half of the refusals in the tests, in two
//! ways:
//! - qmux 0.5's session abandons a write that cannot start at once while it is closing, and its
//!   transport shares the socket between its reader and writer behind a lock: whenever the reader
//!   held the socket at that moment (a refusal comes right after the client's SETUP, while what the
//!   client sent next is being read), the close was never written;
//! - a qmux client that reads the close and, right behind it, the end of the WebSocket records the
//!   end in place of the close: its session then reports a bare "connection closed".
//!
//! So here the session's writer only queues each message for a task that owns the socket's sending
//! half ([`send`]), and a queued message is written whatever the reader does. Once the session is
//! closed, that task writes the WebSocket close frame only after the client closed its side (it
//! does so once its session took the close), or after [`CLOSE_FLUSH`].
//!
//! qmux's writer does not reliably hand the relay's close to the transport. It abandons a write
//! still waiting when the session closes (a peer that had not read for a moment, a client under
//! load, then never learned why it was refused), and its writer task picks the close up only if
//! it looks at its control queue after the close was queued and before it notices the session's
//! end: a writer task that looked just before (on another thread) stops without it, either because
//! the write it waits on is abandoned or because it finds its stream queue closed. With both cores
//! busy, that lost the close in about one in thirty runs of a twenty-round unit test. So the
//! relay writes its close itself: [`LastWords::close`] puts the APPLICATION_CLOSE with the relay's
//! code and reason ([`application_close`]) among the session's last words before the session ends
//! ([`Ended`]); from then on the writer takes every write at once and drops it (a closed QUIC
//! connection abandons its streams too), except the session's first record (its transport
//! parameters, which a QMux peer must read first), which goes before the close when the relay
//! closed that early. [`send`] writes the close after what was queued
//! before it, whether qmux closes the writer or drops it. Without the relay's close (the peer
//! closed, the socket failed), writes that come once the session ended still go to its last words
//! ([`LAST_WORDS`] at most). Once the session has ended, [`send`] has [`CLOSE_FLUSH`] for all of
//! it. The reader is a task of its own ([`receive`]) with the keep-alive deadline that qmux's
//! transport has: a peer from which nothing arrives for the idle timeout is closed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use moq_wire::VarInt;
use qmux::ws::tungstenite::{self, Message};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::stream::Ended;

/// Messages the session may queue ahead of the socket. Few: what waits here is on top of the
/// socket's own buffers, and a full queue is how qmux sees that the peer does not read.
const QUEUE: usize = 4;

/// Messages the reader takes ahead of the session (qmux's WebSocket transport takes 16).
const RECEIVED: usize = 16;

/// Messages a session may still write once it has ended: its close and what qmux had in hand
/// when the close came. A writer with more is cut off.
const LAST_WORDS: usize = 64;

/// How long a closed session's connection waits for the queued messages to be written and for the
/// client to close its side. A client that neither reads nor closes for that long is let go.
pub(super) const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// A WebSocket (a `Stream` and `Sink` of messages) as a QMux transport.
pub(super) struct Link<S> {
	ws: S,
	keep_alive: Duration,
	idle_timeout: Duration,
	/// The largest message a peer may send: a QMux record on the record-framed drafts, a frame on
	/// draft-00.
	max_message: usize,
	/// Set when the session's writer closes (every end of the session closes it).
	ended: Ended,
	/// What the session writes once it has ended, the relay's close among it.
	last_words: LastWords,
}

impl<S> Link<S> {
	/// `ws`, pinged every `keep_alive` and closed when nothing arrived from the peer for
	/// `idle_timeout`; a message over `max_message` bytes closes it. `ended` is set when the
	/// writer closes or is dropped; `last_words` is written once the session has ended.
	pub(super) fn new(
		ws: S,
		keep_alive: Duration,
		idle_timeout: Duration,
		max_message: usize,
		(ended, last_words): (Ended, LastWords),
	) -> Self {
		Self {
			ws,
			keep_alive,
			idle_timeout,
			max_message,
			ended,
			last_words,
		}
	}
}

impl<S: super::Socket> qmux::transport::Transport for Link<S> {
	type Writer = Writer;
	type Reader = Reader;

	fn split(self) -> (Writer, Reader) {
		// futures' halves share the socket behind a lock; each is polled by one task here, and a
		// task that finds the lock taken waits for it.
		let (sink, stream) = self.ws.split();
		let (queue, queued) = mpsc::channel(QUEUE);
		let (delivered, received) = mpsc::channel(RECEIVED);
		// Dropped by the receiving task when it ends: the client closed its side, or is gone.
		let (peer_closed, peer_done) = oneshot::channel();
		// tokio's interval panics on zero; the first tick is now, which is not a ping.
		let interval = self.keep_alive.max(Duration::from_millis(1));
		let mut ping = tokio::time::interval_at(Instant::now() + interval, interval);
		ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
		let writer = Writer {
			queue: Some(queue),
			last_words: self.last_words.clone(),
			sender: tokio::spawn(send(sink, (queued, self.last_words), self.ended.clone(), peer_done)),
			ping,
			ended: self.ended,
			opened: false,
		};
		let reader = Reader { received };
		tokio::spawn(receive(
			stream,
			self.idle_timeout,
			self.max_message,
			delivered,
			peer_closed,
		));
		(writer, reader)
	}
}

/// Writes what the session queued, in order, until the session closes the queue, then its last
/// words; then, once the client closed its side (`peer_done`), the WebSocket close frame. Ends at
/// the first failed write (the socket is gone), and [`CLOSE_FLUSH`] after the session `ended`.
async fn send<K>(
	sink: K,
	(queued, last_words): (mpsc::Receiver<Outgoing>, LastWords),
	ended: Ended,
	peer_done: oneshot::Receiver<()>,
) where
	K: futures::Sink<Message, Error = tungstenite::Error> + Unpin,
{
	let writing = write_all(sink, (queued, last_words), peer_done);
	let flushed = async {
		ended.wait().await;
		tokio::time::sleep(CLOSE_FLUSH).await;
	};
	tokio::select! {
		() = writing => {}
		() = flushed => tracing::debug!("WebSocket peer did not take the close in time"),
	}
}

/// [`send`]'s writes, without its deadline.
async fn write_all<K>(
	mut sink: K,
	(mut queued, last_words): (mpsc::Receiver<Outgoing>, LastWords),
	peer_done: oneshot::Receiver<()>,
) where
	K: futures::Sink<Message, Error = tungstenite::Error> + Unpin,
{
	let write = |outgoing| match outgoing {
		Outgoing::Record(data) => Message::Binary(data),
		Outgoing::Ping => Message::Ping(Bytes::new()),
	};
	while let Some(outgoing) = queued.recv().await {
		if sink.send(write(outgoing)).await.is_err() {
			return;
		}
	}
	// The queue closes only with the writer, so nothing is added to the last words from here on.
	for outgoing in last_words.take() {
		if sink.send(write(outgoing)).await.is_err() {
			return;
		}
	}
	// A qmux client that reads the end of the WebSocket right behind the session's close reports
	// the end instead: the close frame waits until the client has closed (or [`CLOSE_FLUSH`]
	// passed, when [`send`] stops).
	let _ = peer_done.await;
	let _ = sink.close().await;
}

/// Reads the peer's messages and hands each binary one (a QMux record or frame) to the session,
/// until the socket ends, the peer closes, a message is too large or nothing arrived for
/// `idle_timeout` (tungstenite answers the peer's pings; any message counts as life). The deadline
/// restarts after each delivery too, so a session that is slow to take a message does not make a
/// live peer look silent. Once the session is gone, what the peer still sends is read and dropped
/// until it closes, for at most [`CLOSE_FLUSH`]. Ends by dropping `peer_closed`.
async fn receive<R>(
	mut stream: R,
	idle_timeout: Duration,
	max_message: usize,
	delivered: mpsc::Sender<Result<Bytes, qmux::Error>>,
	peer_closed: oneshot::Sender<()>,
) where
	R: futures::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
	let deadline = tokio::time::sleep(idle_timeout);
	tokio::pin!(deadline);
	let end = loop {
		let message = tokio::select! {
			biased;
			message = stream.next() => message,
			() = delivered.closed() => return drain(stream, peer_closed).await,
			() = &mut deadline => {
				tracing::debug!("WebSocket peer silent past the idle timeout");
				break qmux::Error::IdleTimeout;
			}
		};
		deadline.as_mut().reset(Instant::now() + idle_timeout);
		match message {
			Some(Ok(Message::Binary(data))) if data.len() > max_message => break qmux::Error::FrameTooLarge,
			Some(Ok(Message::Binary(data))) => {
				if delivered.send(Ok(data)).await.is_err() {
					return drain(stream, peer_closed).await;
				}
				deadline.as_mut().reset(Instant::now() + idle_timeout);
			}
			Some(Ok(Message::Close(_))) | None => break qmux::Error::Closed,
			Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_) | Message::Frame(_))) => {}
			Some(Err(err)) => break qmux::Error::WebSocket(Arc::new(err)),
		}
	};
	drop(peer_closed);
	let _ = delivered.send(Err(end)).await;
}

/// What the peer sends after the session is gone, read and dropped until the peer closes its side,
/// for at most [`CLOSE_FLUSH`].
async fn drain<R>(mut stream: R, peer_closed: oneshot::Sender<()>)
where
	R: futures::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
	let _ = tokio::time::timeout(CLOSE_FLUSH, async {
		while let Some(Ok(message)) = stream.next().await {
			if message.is_close() {
				break;
			}
		}
	})
	.await;
	drop(peer_closed);
}

/// What a session writes once it has ended, in order, for [`send`] to write after its queue. Not a
/// channel: every WebSocket session has one, and most never use it (a channel allocates its first
/// block of slots when made).
#[derive(Clone, Default)]
pub(super) struct LastWords(Arc<std::sync::Mutex<Words>>);

#[derive(Default)]
struct Words {
	said: std::collections::VecDeque<Outgoing>,
	/// The relay's close is among them: nothing said after it is written.
	closed: bool,
}

impl LastWords {
	/// The relay closes the session with `code` and `reason`: its APPLICATION_CLOSE is written
	/// after what the session queued and said so far, and nothing after it. Called before the
	/// session ends ([`Ended::set`]), so that no write of the ended session comes first. A second
	/// close is not written (QUIC sends one close too).
	pub(super) fn close(&self, code: u32, reason: &str) {
		let mut words = self.lock();
		if !words.closed {
			words.said.push_back(Outgoing::Record(application_close(code, reason)));
			words.closed = true;
		}
	}

	/// Adds `outgoing`; `false` when [`LAST_WORDS`] are said already. After the relay's close,
	/// `outgoing` is dropped (the peer discards it anyway once it reads the close), unless it is
	/// the session's `first` record, its transport parameters, which go before the close: a
	/// QMux peer refuses a session whose first frame is anything else (draft-ietf-quic-qmux-02),
	/// and a relay that refuses a credential in the URL closes as soon as the session is accepted,
	/// sometimes before qmux's writer has handed its parameters over.
	fn say(&self, outgoing: Outgoing, first: bool) -> bool {
		let mut words = self.lock();
		if words.closed {
			if first {
				// Nothing follows the close: it is the last word.
				let close = words.said.len().saturating_sub(1);
				words.said.insert(close, outgoing);
			}
			return true;
		}
		if words.said.len() >= LAST_WORDS {
			return false;
		}
		words.said.push_back(outgoing);
		true
	}

	/// Whether the relay's close is among them.
	fn closed(&self) -> bool {
		self.lock().closed
	}

	fn take(&self) -> std::collections::VecDeque<Outgoing> {
		std::mem::take(&mut self.lock().said)
	}

	fn lock(&self) -> std::sync::MutexGuard<'_, Words> {
		self.0.lock().unwrap_or_else(|e| e.into_inner())
	}
}

/// The longest close reason the relay writes, in bytes. The relay's reasons are short (an error
/// code and a next step); a longer one is cut at a character boundary, so that the close stays
/// well inside a record of the default largest size (16,382 bytes, draft-ietf-quic-qmux-01).
const CLOSE_REASON: usize = 1024;

/// QMux's APPLICATION_CLOSE frame (type 0x1d, the same in drafts 00 to 02 of
/// draft-ietf-quic-qmux): the code and the reason, as in RFC 9000 §19.19 (no frame type field).
/// On a WebSocket one message is one record (draft-01 and later) or one frame (draft-00).
fn application_close(code: u32, reason: &str) -> Bytes {
	let mut end = reason.len().min(CLOSE_REASON);
	while !reason.is_char_boundary(end) {
		end -= 1;
	}
	let reason = &reason.as_bytes()[..end];
	let mut record = bytes::BytesMut::with_capacity(1 + 4 + 2 + reason.len());
	VarInt::from_u32(APPLICATION_CLOSE).encode(&mut record);
	VarInt::from_u32(code).encode(&mut record);
	VarInt::from_u32(end as u32).encode(&mut record);
	record.extend_from_slice(reason);
	record.freeze()
}

/// APPLICATION_CLOSE's frame type.
const APPLICATION_CLOSE: u32 = 0x1d;

/// What the session's writer queues for [`send`]: a QMux record (or draft-00 frame), or a
/// keep-alive ping. (A tungstenite `Message` is larger, and the queue's slots are allocated with it.)
enum Outgoing {
	Record(Bytes),
	Ping,
}

/// The session's sending half: queues messages for [`send`] and pings on the keep-alive interval.
pub(super) struct Writer {
	/// Dropped to tell [`send`] that nothing more comes.
	queue: Option<mpsc::Sender<Outgoing>>,
	/// What the session writes once it has ended.
	last_words: LastWords,
	sender: JoinHandle<()>,
	ping: Interval,
	ended: Ended,
	/// Whether the session's first QMux record (its transport parameters) was handed over.
	opened: bool,
}

impl Writer {
	/// Queues `outgoing` once there is room, or among the last words once the session has ended
	/// (then at once: qmux abandons a write still waiting when the session closes).
	async fn queue(&mut self, outgoing: Outgoing) -> Result<(), qmux::Error> {
		let queue = self.queue.as_ref().ok_or(qmux::Error::Closed)?;
		let first = !self.opened && matches!(outgoing, Outgoing::Record(_));
		self.opened |= first;
		if !self.ended.is_set() {
			// A permit, unlike a send, leaves `outgoing` here when the session ends first.
			let room = tokio::select! {
				biased;
				room = queue.reserve() => Some(room.map_err(|_| qmux::Error::Closed)?),
				() = self.ended.wait() => None,
			};
			if let Some(room) = room {
				room.send(outgoing);
				return Ok(());
			}
		}
		match self.last_words.say(outgoing, first) {
			true => Ok(()),
			false => Err(qmux::Error::Closed),
		}
	}
}

impl qmux::transport::Writer for Writer {
	async fn send(&mut self, data: Bytes) -> Result<(), qmux::Error> {
		self.queue(Outgoing::Record(data)).await
	}

	async fn close(&mut self) -> Result<(), qmux::Error> {
		self.ended.set();
		self.queue = None;
		// [`send`] ends at most [`CLOSE_FLUSH`] after the session ended.
		let _ = (&mut self.sender).await;
		Ok(())
	}

	async fn maintain(&mut self) -> Result<(), qmux::Error> {
		self.ping.tick().await;
		if self.ended.is_set() {
			// An ended session is not kept alive.
			return std::future::pending().await;
		}
		self.queue(Outgoing::Ping).await
	}
}

impl Drop for Writer {
	/// Dropped without [`Writer::close`] (qmux gave up on the transport): the socket goes at once,
	/// unless the relay closed the session: then [`send`] still writes its close (qmux may drop
	/// the writer instead of closing it when the close comes while a write waits).
	fn drop(&mut self) {
		self.ended.set();
		if !self.last_words.closed() {
			self.sender.abort();
		}
	}
}

/// The session's receiving half: what [`receive`] delivered.
pub(super) struct Reader {
	received: mpsc::Receiver<Result<Bytes, qmux::Error>>,
}

impl qmux::transport::Reader for Reader {
	async fn recv(&mut self) -> Result<Bytes, qmux::Error> {
		self.received.recv().await.unwrap_or(Err(qmux::Error::Closed))
	}
}
