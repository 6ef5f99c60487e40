//! Buffered message I/O over one stream: the bridge between the transport's
//! byte chunks and the sans-I/O codec in [`crate::wire`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Buf, Bytes, BytesMut};
use futures::FutureExt;

use super::StreamError;
use crate::origin::GroupReader;
use crate::transport::{RecvStream, SendStream, TransportError};
use crate::wire::{Decode, DecodeError, Disposition, Encode, SessionCode, StreamCode, Version};

/// Read at most this much per transport call.
const CHUNK: usize = 64 * 1024;

/// The largest unfinished message a [`Reader`] buffers unless told otherwise (`limits.max_message`).
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;

/// Bytes of unfinished messages that one session's control-stream readers hold together
/// (`limits.max_control_buffer`): with many streams each holding a message just under the per-message
/// limit, a session could otherwise make the relay buffer that limit times its stream allowance.
#[derive(Debug)]
pub struct ControlBudget {
	used: AtomicUsize,
	max: usize,
}

impl ControlBudget {
	/// A budget of `max` bytes.
	pub fn new(max: usize) -> Arc<Self> {
		Arc::new(Self {
			used: AtomicUsize::new(0),
			max,
		})
	}

	fn reserve(&self, bytes: usize) -> bool {
		self.used
			.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
				used.checked_add(bytes).filter(|total| *total <= self.max)
			})
			.is_ok()
	}

	fn release(&self, bytes: usize) {
		self.used.fetch_sub(bytes, Ordering::Relaxed);
	}

	/// Bytes held now.
	pub fn used(&self) -> usize {
		self.used.load(Ordering::Relaxed)
	}
}

/// Reads typed messages from a stream, buffering partial ones: at most `limit` bytes of one
/// unfinished message, and, for a control stream, within its session's [`ControlBudget`].
pub struct Reader<R> {
	stream: R,
	buf: BytesMut,
	fin: bool,
	limit: usize,
	budget: Option<Arc<ControlBudget>>,
	/// Bytes of `buf` reserved from `budget`.
	held: usize,
}

impl<R: RecvStream> Reader<R> {
	/// Wraps a stream, with [`DEFAULT_MAX_MESSAGE`] and no session budget.
	pub fn new(stream: R) -> Self {
		Self {
			stream,
			buf: BytesMut::new(),
			fin: false,
			limit: DEFAULT_MAX_MESSAGE,
			budget: None,
			held: 0,
		}
	}

	/// Wraps a stream whose messages may be up to `limit` bytes (at least 1), with no session budget.
	pub fn with_limit(stream: R, limit: usize) -> Self {
		let mut reader = Self::new(stream);
		reader.limit = limit.max(1);
		reader
	}

	/// A peer's control stream: messages up to `limit` bytes, buffered within `budget`.
	pub fn control(stream: R, limit: usize, budget: Arc<ControlBudget>) -> Self {
		let mut reader = Self::new(stream);
		reader.limit = limit;
		reader.budget = Some(budget);
		reader
	}

	/// From here the stream carries frames: each header is read as a message of a few bytes, each
	/// payload in parts by [`Reader::read_payload`], so no frame is ever buffered whole. It leaves
	/// the control budget; at most one read ([`CHUNK`]) is held.
	pub fn carry_frames(&mut self) {
		self.limit = CHUNK;
		if let Some(budget) = self.budget.take() {
			budget.release(self.held);
		}
		self.held = 0;
	}

	async fn fill(&mut self) -> Result<bool, StreamError> {
		if self.fin {
			return Ok(false);
		}
		// Never past the limit: a message that needs more is refused by `next`.
		let room = self.limit.saturating_sub(self.buf.len()).clamp(1, CHUNK);
		let read = self.stream.read_chunk(room).await;
		self.take(read)
	}

	/// Like [`Reader::fill`] with at most `room` bytes, but only what the transport already holds:
	/// `Ok(false)` at once when nothing has arrived (or at the end of the stream). Every transport's
	/// read is cancel-safe, so a read that would wait is dropped without losing anything.
	fn fill_ready(&mut self, room: usize) -> Result<bool, StreamError> {
		if self.fin {
			return Ok(false);
		}
		match self.stream.read_chunk(room.clamp(1, CHUNK)).now_or_never() {
			Some(read) => self.take(read),
			None => Ok(false),
		}
	}

	/// Appends one read's chunk (within the control budget, if any); `Ok(false)` at the end of the stream.
	fn take(&mut self, read: Result<Option<Bytes>, TransportError>) -> Result<bool, StreamError> {
		match read? {
			Some(chunk) => {
				if let Some(budget) = &self.budget {
					if !budget.reserve(chunk.len()) {
						return Err(StreamError::Session(
							SessionCode::PROTOCOL_VIOLATION,
							"unfinished control messages over the session's buffer ([limits] max_control_buffer)",
						));
					}
					self.held += chunk.len();
				}
				self.buf.extend_from_slice(&chunk);
				Ok(true)
			}
			None => {
				self.fin = true;
				Ok(false)
			}
		}
	}

	fn consume(&mut self, used: usize) {
		self.buf.advance(used);
		self.release(used);
	}

	fn release(&mut self, used: usize) {
		if let Some(budget) = &self.budget {
			let released = used.min(self.held);
			budget.release(released);
			self.held -= released;
		}
	}

	/// The next message; `Ok(None)` at a clean end of stream (no partial message).
	///
	/// A stream that ends inside a message was truncated: `docs/protocol.md` ("Decode errors") treats that as
	/// a protocol violation, like any other malformed control data.
	pub async fn decode<T: Decode>(&mut self, version: Version) -> Result<Option<T>, StreamError> {
		self.next(version, true).await
	}

	/// The next message without consuming it (to check a FRAME's header before its payload is
	/// read); `Ok(None)` at a clean end of stream.
	pub async fn peek<T: Decode>(&mut self, version: Version) -> Result<Option<T>, StreamError> {
		self.next(version, false).await
	}

	async fn next<T: Decode>(&mut self, version: Version, consume: bool) -> Result<Option<T>, StreamError> {
		self.next_with(consume, |buf| T::decode_prefix(buf, version)).await
	}

	/// The next message as `decode` reads it from the front of the buffered bytes (the value and
	/// the bytes it took), left unread unless `consume`; `Ok(None)` at a clean end of stream. The
	/// codec-independent part of [`Reader::decode`], which the IETF drafts' reader shares.
	pub(crate) async fn next_with<T>(
		&mut self,
		consume: bool,
		decode: impl Fn(&[u8]) -> Result<(T, usize), DecodeError>,
	) -> Result<Option<T>, StreamError> {
		loop {
			if !self.buf.is_empty() {
				match decode(&self.buf) {
					Ok((value, used)) => {
						if consume {
							self.consume(used);
						}
						return Ok(Some(value));
					}
					Err(DecodeError::UnexpectedEnd) if self.buf.len() >= self.limit => {
						return Err(StreamError::Session(
							SessionCode::PROTOCOL_VIOLATION,
							"a message over the size limit ([limits] max_message, or max_frame for frames)",
						));
					}
					Err(DecodeError::UnexpectedEnd) => {}
					Err(err) => return Err(StreamError::Decode(err)),
				}
			}
			if !self.fill().await? {
				if self.buf.is_empty() {
					return Ok(None);
				}
				return Err(StreamError::Truncated);
			}
		}
	}

	/// The next part of a frame's payload, as it arrives: everything of it that has arrived, at most
	/// `max` bytes (at least 1), and at least `min` of them, or `max` if that is fewer (the caller's
	/// bound on how finely a frame is cut: smaller reads wait for more). A stream that ends first was
	/// truncated.
	///
	/// The bytes are copied once, from the transport's chunk into this reader's buffer, and handed
	/// out as a view of it: what a frame holds is then its own payload, never a whole datagram
	/// buffer kept alive by one byte of it.
	pub async fn read_payload(&mut self, min: usize, max: usize) -> Result<Bytes, StreamError> {
		let max = max.max(1);
		let want = min.clamp(1, max);
		while self.buf.len() < want {
			if !self.fill().await? {
				return Err(StreamError::Truncated);
			}
		}
		// What else of the frame has already arrived goes out in the same part: a publisher's
		// packets come in bursts, and each part is a wake-up and a write to every subscriber, so
		// one part per packet would cost that many more (`docs/performance.md`).
		while self.buf.len() < max && self.fill_ready(max - self.buf.len())? {}
		let part = self.buf.split_to(self.buf.len().min(max)).freeze();
		self.release(part.len());
		Ok(part)
	}

	/// Like [`Reader::decode`], but the end of the stream is an error too.
	pub async fn expect<T: Decode>(&mut self, version: Version) -> Result<T, StreamError> {
		self.decode(version).await?.ok_or(StreamError::Truncated)
	}

	/// Waits for the end of the stream, failing if the peer sends anything.
	pub async fn closed(&mut self) -> Result<(), StreamError> {
		while self.fill().await? {
			if !self.buf.is_empty() {
				return Err(StreamError::Session(SessionCode::PROTOCOL_VIOLATION, "unexpected data"));
			}
		}
		Ok(())
	}

	/// Asks the peer to stop sending.
	pub fn stop(&mut self, code: StreamCode) {
		self.stream.stop(code.into_inner());
	}
}

impl<R> Drop for Reader<R> {
	fn drop(&mut self) {
		if let Some(budget) = &self.budget {
			budget.release(self.held);
		}
	}
}

/// Writes typed messages to a stream. Dropped before [`Writer::finish`], it
/// resets the stream, so a peer never reads a truncated stream as complete.
pub struct Writer<S: SendStream> {
	stream: Option<S>,
}

impl<S: SendStream> Writer<S> {
	/// Wraps a stream.
	pub fn new(stream: S) -> Self {
		Self { stream: Some(stream) }
	}

	fn stream(&mut self) -> Result<&mut S, StreamError> {
		self.stream
			.as_mut()
			.ok_or(StreamError::Transport(TransportError::StreamClosed))
	}

	/// Encodes and writes one message.
	pub async fn encode<T: Encode>(&mut self, message: &T, version: Version) -> Result<(), StreamError> {
		let bytes = message.to_bytes(version).map_err(StreamError::Encode)?;
		self.stream()?.write_all(&bytes).await?;
		Ok(())
	}

	/// Writes already-encoded bytes (nothing when empty).
	pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
		if !bytes.is_empty() {
			self.stream()?.write_all(bytes).await?;
		}
		Ok(())
	}

	/// Writes raw bytes (a frame payload) without copying.
	pub async fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
		self.stream()?.write_chunk(bytes).await?;
		Ok(())
	}

	/// Writes one frame of a group: `head` (its header, and whatever precedes it on the stream)
	/// with the first chunk of its payload in one write where the transport can, so they share a
	/// packet, then the rest of the payload as it arrives from the publisher (the same bytes for
	/// every subscriber, a large frame passed on before its last byte is in). `head` is left
	/// empty. `Ok(false)`: the publisher aborted the group mid-frame, and the stream was reset
	/// with its code as `reset_code` numbers it for this stream's protocol.
	pub async fn write_frame(
		&mut self,
		head: &mut Vec<u8>,
		frames: &mut GroupReader,
		reset_code: impl FnOnce(StreamCode) -> StreamCode,
	) -> Result<bool, StreamError> {
		let mut pending = Some(Bytes::copy_from_slice(head));
		head.clear();
		loop {
			match frames.next_chunk().await {
				Ok(Some(chunk)) => match pending.take() {
					Some(head) => self.stream()?.write_head_and_chunk(head, chunk).await?,
					None => self.write(chunk).await?,
				},
				Ok(None) => {
					// An empty payload: the header alone.
					if let Some(head) = pending.take() {
						self.write(head).await?;
					}
					return Ok(true);
				}
				Err(code) => {
					self.reset(reset_code(code));
					return Ok(false);
				}
			}
		}
	}

	/// Sets the send priority (higher first).
	pub fn set_priority(&mut self, priority: i32) {
		if let Some(stream) = self.stream.as_mut() {
			stream.set_priority(priority);
		}
	}

	/// Resolves when the peer sends STOP_SENDING.
	pub async fn stopped(&mut self) -> Result<Option<u32>, StreamError> {
		Ok(self.stream()?.stopped().await?)
	}

	/// Completes the stream (FIN).
	pub fn finish(&mut self) -> Result<(), StreamError> {
		if let Some(mut stream) = self.stream.take() {
			stream.finish()?;
		}
		Ok(())
	}

	/// Abandons the stream with a code.
	pub fn reset(&mut self, code: StreamCode) {
		if let Some(mut stream) = self.stream.take() {
			stream.reset(code.into_inner());
		}
	}
}

impl<S: SendStream> Drop for Writer<S> {
	fn drop(&mut self) {
		if let Some(mut stream) = self.stream.take() {
			stream.reset(StreamCode::CANCEL.into_inner());
		}
	}
}

impl StreamError {
	/// What to do about this error: reset the stream or close the session.
	pub fn disposition(&self) -> Disposition {
		match self {
			StreamError::Decode(err) => match err.disposition() {
				// A decode that needs more bytes never escapes the reader.
				Disposition::NeedMoreBytes => Disposition::CloseSession(SessionCode::PROTOCOL_VIOLATION),
				other => other,
			},
			StreamError::Truncated => Disposition::CloseSession(SessionCode::PROTOCOL_VIOLATION),
			StreamError::Session(code, _) => Disposition::CloseSession(*code),
			StreamError::Reset(code) => Disposition::ResetStream(*code),
			StreamError::Encode(_) => Disposition::ResetStream(StreamCode::INTERNAL),
			StreamError::Transport(_) => Disposition::ResetStream(StreamCode::CANCEL),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::transport::Session;
	use crate::transport::mem::pair;

	#[tokio::test(start_paused = true)]
	async fn payload_parts_are_what_has_arrived_at_least_min_and_at_most_max() {
		let (client, server) = pair();
		let mut send = client.open_uni().await.unwrap();
		send.write_all(b"a").await.unwrap();
		let mut reader = Reader::new(server.accept_uni().await.unwrap());
		reader.carry_frames();
		// What has arrived, without waiting for more.
		assert_eq!(reader.read_payload(1, 10).await.unwrap(), "a");
		// Chunks that arrived apart go out as one part, never past the frame's end: the rest stays
		// for the next header.
		for byte in b"bcdef" {
			send.write_all(&[*byte]).await.unwrap();
		}
		assert_eq!(reader.read_payload(1, 3).await.unwrap(), "bcd");
		assert_eq!(reader.read_payload(1, 1).await.unwrap(), "e");
		// A publisher sending a byte at a time: parts wait for the minimum asked for (the group's
		// `min_chunk`, on moq-lite and the IETF drafts alike).
		let later = tokio::spawn(async move {
			for byte in b"ghi" {
				tokio::time::sleep(std::time::Duration::from_millis(10)).await;
				send.write_all(&[*byte]).await.unwrap();
			}
			send.finish().unwrap();
		});
		assert_eq!(reader.read_payload(3, 10).await.unwrap(), "fgh");
		assert_eq!(reader.read_payload(1, 10).await.unwrap(), "i");
		later.await.unwrap();
		// The stream ends before the minimum: the frame was truncated.
		assert!(matches!(reader.read_payload(1, 10).await, Err(StreamError::Truncated)));
	}
}
