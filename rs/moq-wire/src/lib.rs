//! Sans-I/O codec for the moq-lite wire protocol (`moq-lite-03`, `-04`, `-05`, `-06`), and in [`ietf`]
//! for IETF moq-transport draft-14 to draft-22 (docs/protocol.md#ietf-moq-transport).
//!
//! This crate is deterministic: bytes in, typed messages out, and back. It
//! opens no sockets, starts no tasks, uses no async runtime and reads no clock.
//! The session driver owns the streams and the buffers; it knows which message
//! comes next on each stream and calls the matching [`Decode`] impl with the
//! negotiated [`Version`] (fixed by the transport identifier: docs/protocol.md#version-negotiation).
//!
//! Decoding has four outcomes, after hyperium/h3's frame decoder:
//! - a value;
//! - [`DecodeError::UnexpectedEnd`]: buffer more bytes and retry
//!   ([`Decode::decode_prefix`] never consumes the caller's bytes);
//! - an unknown-but-skippable item, returned as a value (unknown SETUP
//!   parameters are kept in [`Setup::unknown`], unknown lite-06 announcement
//!   types as [`AnnounceEvent::Unknown`]);
//! - a malformed or forbidden input, whose [`DecodeError::disposition`] says
//!   whether to reset the one stream ([`StreamCode`]) or close the session
//!   ([`SessionCode`]).
//!
//! What each stream carries (docs/protocol.md#streams):
//!
//! | stream | first | then |
//! |---|---|---|
//! | uni Setup ([`UniType::Setup`], 05+) | [`Setup`] | FIN |
//! | bidi Announce | [`AnnounceRequest`] → | ← [`AnnounceOk`] (05+), then [`Announce`] (04/05) or [`AnnounceEvent`] (06) |
//! | bidi Subscribe | [`Subscribe`] → | → [`SubscribeUpdate`]…, ← [`SubscribeResponse`]… |
//! | bidi Track (05+) | [`Track`] → | ← [`TrackInfo`], FIN |
//! | bidi Fetch (05+) | [`Fetch`] → | ← [`Frame`]…, FIN |
//! | uni Group | [`Group`] | [`Frame`]… (or [`FrameHeader`] + payload), FIN |
//! | bidi Probe | (type only) → | ← [`Probe`]… |
//! | bidi Goaway | [`Goaway`] | FIN |
//! | datagram (05+) | [`Datagram`] | |
//!
//! Paths are plain UTF-8 strings here; normalisation and authorisation happen
//! above this layer.

mod announce;
mod coding;
mod datagram;
mod error;
mod fetch;
mod goaway;
mod group;
pub mod ietf;
mod probe;
mod setup;
mod stream;
mod subscribe;
mod track;
mod varint;
mod version;

#[cfg(test)]
mod strategy;

/// The invariants the fuzz targets check, callable on stable Rust (feature `checks`, which the
/// fuzz crate and the corpus replay test enable).
#[cfg(feature = "checks")]
pub mod checks;

pub use announce::{
	Announce, AnnounceEvent, AnnounceIds, AnnounceOk, AnnounceRequest, AnnounceRestart, AnnounceStart, AnnounceStatus,
};
pub use coding::{
	Decode, DecodeError, Encode, EncodeError, MAX_DATAGRAM_LEN, MAX_GOAWAY_URI_LEN, MAX_HOPS, MAX_MESSAGE_LEN,
	MAX_PATH_SEGMENTS, MAX_SETUP_LEN, MAX_SETUP_PARAMETERS,
};
pub use datagram::Datagram;
pub use error::{Disposition, SessionCode, StreamCode};
pub use fetch::Fetch;
pub use goaway::Goaway;
pub use group::{Frame, FrameHeader, Group, zigzag_decode, zigzag_encode};
pub use probe::Probe;
pub use setup::{ProbeLevel, Role, Setup, UnknownParameter};
pub use stream::{BidiType, Direction, UniType};
pub use subscribe::{Subscribe, SubscribeDrop, SubscribeOk, SubscribeOptions, SubscribeResponse, SubscribeUpdate};
pub use track::{Track, TrackInfo};
pub use varint::{VarInt, VarIntBoundsExceeded};
pub use version::Version;
