//! Buffered I/O of IETF draft messages over one stream: the bridge between the transport's byte
//! chunks and the sans-I/O draft codec in [`crate::wire::ietf`], as [`super::super::Reader`] is for
//! moq-lite.

use bytes::{Buf, Bytes, BytesMut};
use futures::FutureExt;

use super::super::StreamError;
use crate::transport::{RecvStream, SendStream, TransportError};
use crate::wire::ietf::{DecodeWith, EncodeWith};
use crate::wire::{DecodeError, SessionCode, StreamCode};

/// Read at most this much per transport call.
const CHUNK: usize = 64 * 1024;

/// Reads draft messages from a stream, buffering at most `limit` bytes of an unfinished one.
pub(crate) struct DraftReader<R> {
	stream: R,
	buf: BytesMut,
	fin: bool,
	limit: usize,
}

impl<R: RecvStream> DraftReader<R> {
	/// Wraps a stream; a message longer than `limit` bytes closes the session.
	pub(crate) fn new(stream: R, limit: usize) -> Self {
		Self {
			stream,
			buf: BytesMut::new(),
			fin: false,
			limit: limit.max(1),
		}
	}

	async fn fill(&mut self) -> Result<bool, StreamError> {
		if self.fin {
			return Ok(false);
		}
		let room = self.limit.saturating_sub(self.buf.len()).clamp(1, CHUNK);
		let read = self.stream.read_chunk(room).await;
		self.take(read)
	}

	/// Like [`fill`](Self::fill) with at most `room` bytes, but only what the transport already
	/// holds: `Ok(false)` at once when nothing has arrived (or at the end of the stream). Every
	/// transport's read is cancel-safe, so a read that would wait is dropped without losing anything.
	fn fill_ready(&mut self, room: usize) -> Result<bool, StreamError> {
		if self.fin {
			return Ok(false);
		}
		match self.stream.read_chunk(room.clamp(1, CHUNK)).now_or_never() {
			Some(read) => self.take(read),
			None => Ok(false),
		}
	}

	/// Appends one read's chunk; `Ok(false)` at the end of the stream.
	fn take(&mut self, read: Result<Option<Bytes>, TransportError>) -> Result<bool, StreamError> {
		match read? {
			Some(chunk) => {
				self.buf.extend_from_slice(&chunk);
				Ok(true)
			}
			None => {
				self.fin = true;
				Ok(false)
			}
		}
	}

	/// The next value; `Ok(None)` at a clean end of the stream.
	pub(crate) async fn decode<T: DecodeWith<C>, C: Copy>(&mut self, ctx: C) -> Result<Option<T>, StreamError> {
		self.next(ctx, true).await
	}

	/// The next value, left unread for the next [`decode`](Self::decode); `Ok(None)` at a clean end.
	pub(crate) async fn peek<T: DecodeWith<C>, C: Copy>(&mut self, ctx: C) -> Result<Option<T>, StreamError> {
		self.next(ctx, false).await
	}

	async fn next<T: DecodeWith<C>, C: Copy>(&mut self, ctx: C, consume: bool) -> Result<Option<T>, StreamError> {
		loop {
			if !self.buf.is_empty() {
				match T::decode_prefix(&self.buf, ctx) {
					Ok((value, used)) => {
						if consume {
							self.buf.advance(used);
						}
						return Ok(Some(value));
					}
					Err(DecodeError::UnexpectedEnd) if self.buf.len() >= self.limit => {
						return Err(StreamError::Session(
							SessionCode::PROTOCOL_VIOLATION,
							"a message over the size limit ([limits] max_message)",
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

	/// Like [`decode`](Self::decode), but the end of the stream is an error too.
	pub(crate) async fn expect<T: DecodeWith<C>, C: Copy>(&mut self, ctx: C) -> Result<T, StreamError> {
		self.decode(ctx).await?.ok_or(StreamError::Truncated)
	}

	/// The next part of an object's payload as it arrives: at most `max` bytes (at least one), at
	/// least `min` of them or `max` if that is fewer (smaller reads wait for more), with whatever
	/// else of it has already arrived, as [`super::super::Reader::read_payload`] does for moq-lite.
	/// A stream that ends first was truncated.
	pub(crate) async fn read_payload(&mut self, min: usize, max: usize) -> Result<Bytes, StreamError> {
		let max = max.max(1);
		let want = min.clamp(1, max);
		while self.buf.len() < want {
			if !self.fill().await? {
				return Err(StreamError::Truncated);
			}
		}
		while self.buf.len() < max && self.fill_ready(max - self.buf.len())? {}
		Ok(self.buf.split_to(self.buf.len().min(max)).freeze())
	}

	/// Asks the peer to stop sending.
	pub(crate) fn stop(&mut self, code: StreamCode) {
		self.stream.stop(code.into_inner());
	}
}

/// Encodes a draft value to bytes, an encoding failure being the relay's bug, never the peer's.
pub(crate) fn encode<T: EncodeWith<C>, C: Copy>(value: &T, ctx: C) -> Result<Vec<u8>, StreamError> {
	value.to_bytes(ctx).map_err(StreamError::Encode)
}

/// Writes already-encoded bytes.
pub(crate) async fn write<S: SendStream>(stream: &mut S, bytes: &[u8]) -> Result<(), StreamError> {
	stream.write_all(bytes).await.map_err(StreamError::from)
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
		let mut reader = DraftReader::new(server.accept_uni().await.unwrap(), CHUNK);
		// What has arrived, without waiting for more.
		assert_eq!(reader.read_payload(1, 10).await.unwrap(), "a");
		// Bytes that arrived one per write go out as one part, never past the object's end.
		for byte in b"bcdef" {
			send.write_all(&[*byte]).await.unwrap();
		}
		assert_eq!(reader.read_payload(1, 3).await.unwrap(), "bcd");
		assert_eq!(reader.read_payload(1, 1).await.unwrap(), "e");
		// A publisher sending a byte at a time waits for the minimum (the group's `min_chunk`).
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
		// The stream ends before the minimum: the object was truncated.
		assert!(matches!(reader.read_payload(1, 10).await, Err(StreamError::Truncated)));
	}
}
