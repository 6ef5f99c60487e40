//! The IETF moq-transport family (`docs/protocol.md#ietf-moq-transport`): today draft-14.
//!
//! Sans-I/O like [`super::lite`]: [`negotiate`] picks the draft and checks the client's SETUP
//! against the binding it arrived on, [`Requests`] is the request-ID flow control of both
//! directions, and [`TokenCache`] applies AUTHORIZATION TOKEN aliases against the cache size the
//! relay advertised. The session driver that pumps them over the transport is not written yet
//! (`docs/protocol.md#not-supported`).

pub mod negotiate;
mod requests;
mod tokens;

pub use requests::{OwnRequests, PeerRequests, RequestViolation};
pub use tokens::{TokenCache, TokenError, UsedToken};
