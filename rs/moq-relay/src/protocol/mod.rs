//! What a session does, as sans-I/O state machines, one module per protocol family.
//!
//! Each machine takes decoded messages, origin events (a group arrived, a track ended) and, where
//! it matters, the time and any random ids, all passed in; it returns the messages to send and the
//! actions to take (open a group stream, shed one, publish a broadcast, close the session). None of
//! them awaits, reads a clock or draws a random number, so unit and property tests drive them
//! directly, and `crate::session` is the driver that pumps bytes, events and actions over the
//! [`transport`](crate::transport) traits.
//!
//! Version differences live inside the machines, each decided in one place: for moq-lite, the
//! methods of [`lite::Dialect`].

pub mod ietf;
pub mod lite;
