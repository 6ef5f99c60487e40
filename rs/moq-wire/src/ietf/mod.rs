//! The IETF moq-transport drafts (draft-14, ALPN `moq-00`; draft-16, `moqt-16`; draft-18,
//! `moqt-18`, its SETUP, request streams and subgroup streams; draft-17, -19, -20, -21 and -22,
//! `moqt-17` … `moqt-22`, draft-18's forms with their changes), sans-I/O like
//! the moq-lite codec: bytes in, typed messages out, and back.
//!
//! The traits are [`DecodeWith`]/[`EncodeWith`], taking the negotiated
//! [`Draft`] (or, for a subgroup stream's objects, a [`SubgroupContext`]); a
//! [`DecodeError`](crate::DecodeError) has the same outcomes and dispositions as
//! in moq-lite, and the numbers of the session codes they map to mean the same
//! in both registries ([`termination`]).
//!
//! What each stream carries (docs/protocol.md#ietf-moq-transport):
//!
//! | stream | first | then |
//! |---|---|---|
//! | the client's one bidi control stream | [`ClientSetup`] → ← [`ServerSetup`] | [`ControlMessage`]s both ways |
//! | uni data stream | [`DataStreamHeader::Subgroup`] | [`SubgroupObject`]…, FIN |
//! | uni data stream | [`DataStreamHeader::Fetch`] | draft-14's [`FetchObject`]…, or on every draft [`FetchEntry`]… (written by [`FetchObjects`], located by [`FetchReader`]), FIN |
//! | datagram (every draft) | [`ObjectDatagram`] | |
//! | draft-17+: each side's uni SETUP stream | [`Setup`] | its [`draft18::Goaway`] |
//! | draft-17+: a bidi stream per request | a request ([`draft18::RequestMessage`]) | its answers both ways |
//! | draft-18+: uni data stream | [`DataStreamHeader::Subgroup`] (FIRST_OBJECT bit) or [`DataStreamHeader::Padding`] | [`SubgroupObject`]…, FIN |
//!
//! Track Namespace tuples map to broadcast paths with [`namespace_to_path`] and
//! [`path_to_namespace`], as the published client maps them.

mod codes;
mod coding;
mod control;
mod data;
mod draft;
mod draft16;
pub mod draft18;
mod fetch;
mod leading_ones;
mod namespace;
mod setup;
mod subscribe;
mod token;

pub use codes::{PublishDoneCode, RequestErrorCode, stream_code, termination};
pub use coding::{
	GroupOrder, KeyValue, Location, MAX_CONTROL_LEN, MAX_KVP_VALUE_LEN, MAX_NAMESPACE_ELEMENTS, MAX_PARAMETERS,
	MAX_REASON_LEN, Parameters, Value,
};
pub use control::ControlMessage;
pub use data::{
	DataStreamHeader, DatagramBody, FetchEntry, FetchLocation, FetchObject, FetchObjects, FetchReader, FetchSubgroup,
	ObjectDatagram, ObjectStatus, PADDING_STREAM, SubgroupContext, SubgroupHeader, SubgroupId, SubgroupObject,
	SubgroupObjectHeader,
};
pub use draft::{DecodeWith, Draft, EncodeWith};
pub use fetch::{Fetch, FetchOk, FetchType};
pub use namespace::{
	PublishNamespace, PublishNamespaceCancel, SubscribeNamespace, namespace_to_path, path_to_namespace,
};
pub use setup::{ClientSetup, MAX_SETUP_VERSIONS, ServerSetup, Setup, SetupParameters, setup_parameter};
pub use subscribe::{
	Filter, Publish, PublishDone, PublishOk, RequestError, RequestOk, Subscribe, SubscribeOk, SubscribeUpdate,
};
pub use token::{AuthToken, TOKEN_TYPE_OUT_OF_BAND};
