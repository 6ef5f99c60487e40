//! Buffered I/O of IETF draft messages over one stream: the bridge between the transport's byte
//! chunks and the sans-I/O draft codec in [`crate::wire::ietf`], as [`super::super::Reader`] is for
//! moq-lite.

use bytes::{Buf, Bytes, BytesMut};

use super::super::StreamError;
use crate::transport::{RecvStream, SendStream};
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
		match self.stream.read_chunk(room).await? {
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

	/// The next part of an object's payload as it arrives: at most `max` bytes (at least one). A
	/// stream that ends first was truncated.
	pub(crate) async fn read_payload(&mut self, max: usize) -> Result<Bytes, StreamError> {
		while self.buf.is_empty() {
			if !self.fill().await? {
				return Err(StreamError::Truncated);
			}
		}
		Ok(self.buf.split_to(self.buf.len().min(max.max(1))).freeze())
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
