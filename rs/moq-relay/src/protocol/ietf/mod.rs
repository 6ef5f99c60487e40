//! The IETF moq-transport family (`docs/protocol.md#ietf-moq-transport`): draft-14, draft-16 and
//! draft-18.
//!
//! Sans-I/O like [`super::lite`]: [`negotiate`] picks the draft and checks the client's SETUP
//! against the binding it arrived on; [`PeerRequests`] and [`OwnRequests`] are the request-ID flow
//! control of both directions; [`Outbound`] and [`Inbound`] map namespaces onto the relay's
//! broadcasts both ways; [`Aliases`] routes data streams by Track Alias; [`TokenCache`] applies
//! AUTHORIZATION TOKEN aliases against the cache size the relay advertised; [`request_stream`] gives the
//! shared logic's answers their draft-18 request-stream forms; [`Window`] is the range a
//! subscription's filter asks for, [`FetchRange`] the objects a FETCH gets. The session driver
//! that pumps them over the transport is `crate::session`'s `ietf` module.

mod aliases;
mod announce;
mod fetch;
pub mod negotiate;
pub mod request_stream;
mod requests;
mod tokens;
mod window;

pub use aliases::Aliases;
pub use announce::{Inbound, InboundAction, InboundPolicy, Outbound};
pub use fetch::{FetchRange, RangeError, end_location};
pub use requests::{OwnRequests, PeerRequests, RequestViolation, StreamRequests};
pub use tokens::{TokenCache, TokenError, UsedToken};
pub use window::Window;
