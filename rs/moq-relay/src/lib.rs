//! The moq-relay library.
//!
//! For now this crate holds only [`wire`]: the codec for the moq-lite protocol
//! (versions `moq-lite-04`, `moq-lite-05` and `moq-lite-06`, as shipped by the
//! published moq-net 0.3.18 crate).
//!
//! # The sans-I/O promise
//!
//! [`wire`] is deterministic and pure: it turns bytes into typed messages and
//! typed messages into bytes, and nothing else. It opens no sockets, spawns no
//! tasks, depends on no async runtime (no tokio) and reads no clock. A session
//! driver owns the streams; it hands the codec whatever bytes it has buffered
//! and learns either a message, "need more bytes"
//! ([`wire::DecodeError::UnexpectedEnd`]), or what to do about a bad peer
//! ([`wire::DecodeError::disposition`]). Because of this the codec is tested
//! against golden vectors and property tests without any network.

pub mod wire;
