//! Buffered I/O of IETF draft messages over one stream: the bridge between the transport's byte
//! chunks and the sans-I/O draft codec in [`crate::wire::ietf`], as [`super::super::Reader`] is for
//! moq-lite.

use bytes::Bytes;

use super::super::{Reader, StreamError};
use crate::transport::{RecvStream, SendStream};
use crate::wire::StreamCode;
use crate::wire::ietf::{DecodeWith, Draft, EncodeWith, stream_code};

/// Reads draft messages from a stream, buffering at most `limit` bytes of an unfinished one: the
/// moq-lite [`Reader`] (its buffering, limits and payload parts) with the drafts' codec.
pub(crate) struct DraftReader<R>(Reader<R>);

impl<R: RecvStream> DraftReader<R> {
	/// Wraps a stream; a message longer than `limit` bytes closes the session.
	pub(crate) fn new(stream: R, limit: usize) -> Self {
		Self(Reader::with_limit(stream, limit))
	}

	/// The next value; `Ok(None)` at a clean end of the stream.
	pub(crate) async fn decode<T: DecodeWith<C>, C: Copy>(&mut self, ctx: C) -> Result<Option<T>, StreamError> {
		self.0.next_with(true, |buf| T::decode_prefix(buf, ctx)).await
	}

	/// The next value, left unread for the next [`decode`](Self::decode); `Ok(None)` at a clean end.
	pub(crate) async fn peek<T: DecodeWith<C>, C: Copy>(&mut self, ctx: C) -> Result<Option<T>, StreamError> {
		self.0.next_with(false, |buf| T::decode_prefix(buf, ctx)).await
	}

	/// Like [`decode`](Self::decode), but the end of the stream is an error too.
	pub(crate) async fn expect<T: DecodeWith<C>, C: Copy>(&mut self, ctx: C) -> Result<T, StreamError> {
		self.decode(ctx).await?.ok_or(StreamError::Truncated)
	}

	/// The next part of an object's payload as it arrives ([`Reader::read_payload`]).
	pub(crate) async fn read_payload(&mut self, min: usize, max: usize) -> Result<Bytes, StreamError> {
		self.0.read_payload(min, max).await
	}

	/// Asks the peer to stop sending, with `draft`'s code for the moq-lite `code`
	/// ([`stream_code::to_draft`]).
	pub(crate) fn stop(&mut self, code: StreamCode, draft: Draft) {
		self.0.stop(reset_code(code, draft));
	}

	/// Asks the peer to stop sending, with a code of the draft's own registry.
	pub(crate) fn stop_with(&mut self, code: u32) {
		self.0.stop(StreamCode::from_u32(code));
	}
}

/// The code a stream of a `draft` session is reset or stopped with for the moq-lite `code`: the
/// drafts' registry is not moq-lite's (docs/protocol.md, "Stream reset codes on the drafts").
pub(crate) fn reset_code(code: StreamCode, draft: Draft) -> StreamCode {
	StreamCode::from_u32(stream_code::to_draft(code, draft))
}

/// Encodes a draft value to bytes, an encoding failure being the relay's bug, never the peer's.
pub(crate) fn encode<T: EncodeWith<C>, C: Copy>(value: &T, ctx: C) -> Result<Vec<u8>, StreamError> {
	value.to_bytes(ctx).map_err(StreamError::Encode)
}

/// Writes already-encoded bytes.
pub(crate) async fn write<S: SendStream>(stream: &mut S, bytes: &[u8]) -> Result<(), StreamError> {
	stream.write_all(bytes).await.map_err(StreamError::from)
}
