//! The checks behind every fuzz target, one function per target.
//!
//! The fuzz targets (`fuzz/fuzz_targets/`) call these, and the corpus replay test
//! (`tests/it/corpus.rs`) runs them over the committed corpus on stable Rust.
//!
//! Each function takes arbitrary bytes, decodes them as every message of its
//! stream under every [`Version`], and panics if the codec breaks a promise:
//!
//! - decoding never panics, and never consumes more than it was given;
//! - a decoded value re-encodes, the encoding decodes to the same value and
//!   re-encodes to the same bytes (a fixed point), and is no longer than the
//!   input it came from (the encoder writes minimal varints);
//! - every strict prefix of a message decodes to
//!   [`DecodeError::UnexpectedEnd`] ("buffer more bytes and retry"), and an
//!   error other than that one does not change when more bytes arrive;
//! - decoding from a buffer split in two chunks gives the same result as from
//!   one contiguous slice;
//! - every error has a disposition.

use std::fmt::Debug;

use bytes::Buf;

use crate::ietf;
use crate::{
	Announce, AnnounceEvent, AnnounceIds, AnnounceOk, AnnounceRequest, BidiType, Datagram, Decode, DecodeError, Encode,
	Fetch, Frame, FrameHeader, Goaway, Group, Probe, Setup, Subscribe, SubscribeResponse, SubscribeUpdate, Track,
	TrackInfo, UniType, Version,
};

/// A message type and the context it is read in: the lite [`Version`], or an
/// IETF draft's context, so one set of checks serves both families.
trait Codec<C: Copy + Debug>: Sized + PartialEq + Debug {
	fn dec<B: Buf>(buf: &mut B, ctx: C) -> Result<Self, DecodeError>;
	fn enc(&self, ctx: C) -> Result<Vec<u8>, crate::EncodeError>;
	fn dec_prefix(bytes: &[u8], ctx: C) -> Result<(Self, usize), DecodeError> {
		let mut cursor = bytes;
		let value = Self::dec(&mut cursor, ctx)?;
		Ok((value, bytes.len() - cursor.len()))
	}
}

impl<T: Decode + Encode + PartialEq + Debug> Codec<Version> for T {
	fn dec<B: Buf>(buf: &mut B, ctx: Version) -> Result<Self, DecodeError> {
		T::decode(buf, ctx)
	}
	fn enc(&self, ctx: Version) -> Result<Vec<u8>, crate::EncodeError> {
		self.to_bytes(ctx)
	}
}

macro_rules! ietf_codec {
	($ctx:ty: $($t:ty),*) => {$(
		impl Codec<$ctx> for $t {
			fn dec<B: Buf>(buf: &mut B, ctx: $ctx) -> Result<Self, DecodeError> {
				<$t as ietf::DecodeWith<$ctx>>::decode(buf, ctx)
			}
			fn enc(&self, ctx: $ctx) -> Result<Vec<u8>, crate::EncodeError> {
				<$t as ietf::EncodeWith<$ctx>>::to_bytes(self, ctx)
			}
		}
	)*};
}

ietf_codec!(ietf::Draft: ietf::ClientSetup, ietf::ServerSetup, ietf::Setup, ietf::ControlMessage, ietf::draft18::RequestMessage, ietf::DataStreamHeader, ietf::FetchObject, ietf::FetchEntry, ietf::ObjectDatagram);
ietf_codec!(ietf::SubgroupContext: ietf::SubgroupObject, ietf::SubgroupObjectHeader);

/// One fuzz target: its name (the `fuzz_targets/<name>.rs` file and the
/// `corpus/<name>/` directory) and its check.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order of `cargo fuzz list`.
pub const TARGETS: &[Target] = &[
	("announce", announce),
	("datagram", datagram),
	("fetch", fetch),
	("group", group),
	("ietf_control", ietf_control),
	("ietf_data", ietf_data),
	("ietf_setup", ietf_setup),
	("probe_goaway", probe_goaway),
	("setup", setup),
	("stream_type", stream_type),
	("subscribe", subscribe),
	("track", track),
];

/// Longest message whose every strict prefix is decoded (longer ones get a
/// sample of prefixes), to keep each run fast.
const ALL_PREFIXES_UP_TO: usize = 256;

/// How a decoder treats a buffer that ends early.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
	/// A message read from a stream: a strict prefix is "need more bytes".
	Stream,
	/// A datagram: complete by construction, it takes the whole buffer.
	Whole,
}

/// Decodes `bytes` from a buffer split into two chunks at `at`.
fn decode_split<T: Codec<C>, C: Copy + Debug>(bytes: &[u8], at: usize, version: C) -> (Result<T, DecodeError>, usize) {
	let at = at.min(bytes.len());
	let mut chain = bytes[..at].chain(&bytes[at..]);
	let result = T::dec(&mut chain, version);
	(result, bytes.len() - chain.remaining())
}

/// A context printed in assertion messages.
#[derive(Clone, Copy)]
struct Ctx<C>(C);

impl<C: Debug> std::fmt::Display for Ctx<C> {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(f, "{:?}", self.0)
	}
}

/// Runs every check on one decode of `T` from the start of `data`, returning
/// the value and how many bytes it took.
fn check<T, C>(data: &[u8], version: C, framing: Framing) -> Option<(T, usize)>
where
	T: Codec<C>,
	C: Copy + Debug,
{
	let name = std::any::type_name::<T>();
	let version = Ctx(version);
	let result = T::dec_prefix(data, version.0);

	// A split buffer decodes exactly like a contiguous one.
	let at = data.first().map_or(0, |b| usize::from(*b) % (data.len() + 1));
	let (split, split_used) = decode_split::<T, C>(data, at, version.0);
	match (&result, &split) {
		(Ok((value, used)), Ok(other)) => {
			assert_eq!(value, other, "{name} {version}: split at {at} decodes differently");
			assert_eq!(
				*used, split_used,
				"{name} {version}: split at {at} consumes differently"
			);
		}
		(Err(err), Err(other)) => assert_eq!(err, other, "{name} {version}: split at {at} fails differently"),
		_ => panic!("{name} {version}: contiguous {result:?} but split at {at} {split:?}"),
	}

	let (value, used) = match result {
		Ok(ok) => ok,
		Err(err) => {
			let _ = err.disposition();
			let _ = err.to_string();
			if framing == Framing::Stream && err != DecodeError::UnexpectedEnd {
				// The input is already wrong: more bytes cannot make it right.
				let mut longer = data.to_vec();
				longer.push(0);
				let again = T::dec_prefix(&longer, version.0).map(|_| ());
				assert_eq!(
					Err(err),
					again,
					"{name} {version}: the error changed when a byte was appended"
				);
			}
			return None;
		}
	};
	assert!(
		used <= data.len(),
		"{name} {version}: consumed {used} of {} bytes",
		data.len()
	);
	if framing == Framing::Whole {
		assert_eq!(used, data.len(), "{name} {version}: left bytes of a whole buffer");
	}

	let bytes = value
		.enc(version.0)
		.unwrap_or_else(|err| panic!("{name} {version}: decoded {value:?} but cannot re-encode it: {err}"));
	assert!(
		bytes.len() <= used,
		"{name} {version}: re-encoding {value:?} takes {} bytes, the input took {used}",
		bytes.len()
	);
	let (again, again_used) = T::dec_prefix(&bytes, version.0)
		.unwrap_or_else(|err| panic!("{name} {version}: {value:?} encodes to {bytes:02x?}, which fails: {err}"));
	assert_eq!(value, again, "{name} {version}: the round trip changed the value");
	assert_eq!(
		again_used,
		bytes.len(),
		"{name} {version}: the re-encoding was not read whole"
	);
	let twice = again.enc(version.0).expect("re-encoding the round-tripped value");
	assert_eq!(bytes, twice, "{name} {version}: the encoding is not a fixed point");

	if framing == Framing::Stream {
		// Every strict prefix of a message is "need more bytes", both of the
		// input as received and of the canonical encoding.
		for message in [&data[..used], &bytes[..]] {
			let step = (message.len() / ALL_PREFIXES_UP_TO).max(1);
			for len in (0..message.len()).step_by(step).chain(message.len().checked_sub(1)) {
				let prefix = T::dec_prefix(&message[..len], version.0).map(|_| ());
				assert_eq!(
					prefix,
					Err(DecodeError::UnexpectedEnd),
					"{name} {version}: the first {len} of {} bytes of {value:?}",
					message.len()
				);
			}
		}
	}
	Some((value, used))
}

/// Decodes consecutive `T`s from `data` (as on a stream), checking each, until
/// one fails; returns them.
fn sequence<T, C>(mut data: &[u8], version: C) -> Vec<T>
where
	T: Codec<C>,
	C: Copy + Debug,
{
	let mut out = Vec::new();
	// A zero-length message cannot exist, but never loop forever if one did.
	while let Some((value, used)) = check::<T, C>(data, version, Framing::Stream) {
		out.push(value);
		if used == 0 {
			break;
		}
		data = &data[used..];
	}
	out
}

/// The Setup stream (uni 0x1): one SETUP.
pub fn setup(data: &[u8]) {
	for version in Version::ALL {
		if let Some((setup, _)) = check::<Setup, _>(data, version, Framing::Stream) {
			let _ = (setup.probe_level(), setup.role_kind(), setup.hop_id());
			assert!(
				setup.unknown.windows(2).all(|w| w[0].id < w[1].id),
				"SETUP unknown parameters not sorted"
			);
		}
	}
}

/// The Announce stream (bidi 0x1): ANNOUNCE_REQUEST one way; ANNOUNCE_OK then
/// ANNOUNCE (lite-04/05) or typed events (lite-06, with their Announce IDs)
/// the other.
pub fn announce(data: &[u8]) {
	for version in Version::ALL {
		check::<AnnounceRequest, _>(data, version, Framing::Stream);
		let rest = match check::<AnnounceOk, _>(data, version, Framing::Stream) {
			Some((_, used)) => &data[used..],
			None => data,
		};
		for data in [data, rest] {
			if version == Version::Lite06 {
				let mut ids = AnnounceIds::new();
				for event in sequence::<AnnounceEvent, _>(data, version) {
					let before = ids.live();
					match ids.apply(&event) {
						Ok(_) => match event {
							AnnounceEvent::Start(_) => assert_eq!(ids.live(), before + 1),
							AnnounceEvent::End { .. } => assert_eq!(ids.live(), before - 1),
							_ => assert_eq!(ids.live(), before),
						},
						Err(err) => {
							let _ = err.disposition();
							assert_eq!(ids.live(), before, "a rejected event changed the live ids");
						}
					}
				}
			} else {
				sequence::<Announce, _>(data, version);
			}
		}
	}
}

/// The Subscribe stream (bidi 0x2): SUBSCRIBE then SUBSCRIBE_UPDATEs one way,
/// typed responses the other.
pub fn subscribe(data: &[u8]) {
	for version in Version::ALL {
		let rest = match check::<Subscribe, _>(data, version, Framing::Stream) {
			Some((_, used)) => &data[used..],
			None => data,
		};
		sequence::<SubscribeUpdate, _>(rest, version);
		for response in sequence::<SubscribeResponse, _>(data, version) {
			assert!(
				response.type_id(version).is_some(),
				"{response:?} decoded but has no type in {version}"
			);
		}
	}
}

/// The Track stream (bidi 0x6, lite-05+): TRACK one way, TRACK_INFO the other.
pub fn track(data: &[u8]) {
	for version in Version::ALL {
		check::<Track, _>(data, version, Framing::Stream);
		check::<TrackInfo, _>(data, version, Framing::Stream);
	}
}

/// The Fetch stream (bidi 0x3, lite-05+): FETCH one way, bare FRAMEs the other.
pub fn fetch(data: &[u8]) {
	for version in Version::ALL {
		let rest = match check::<Fetch, _>(data, version, Framing::Stream) {
			Some((_, used)) => &data[used..],
			None => data,
		};
		sequence::<Frame, _>(rest, version);
	}
}

/// The Group stream (uni 0x0): GROUP, then FRAMEs (whole, and header alone).
pub fn group(data: &[u8]) {
	for version in Version::ALL {
		let rest = match check::<Group, _>(data, version, Framing::Stream) {
			Some((_, used)) => &data[used..],
			None => data,
		};
		sequence::<Frame, _>(rest, version);
		if let Some((header, used)) = check::<FrameHeader, _>(rest, version, Framing::Stream) {
			// The whole frame is the header followed by `size` payload bytes.
			let payload = rest.len() - used;
			let frame = Frame::decode_prefix(rest, version);
			if (payload as u64) < header.size.into_inner() {
				assert_eq!(frame, Err(DecodeError::UnexpectedEnd), "FRAME {version}: short payload");
			} else {
				let (frame, frame_used) = frame.expect("a FRAME with its whole payload");
				assert_eq!(frame.timestamp_delta, header.timestamp_delta);
				assert_eq!(frame.payload.len() as u64, header.size.into_inner());
				assert_eq!(frame_used as u64, used as u64 + header.size.into_inner());
				assert_eq!(frame.header().ok(), Some(header));
			}
		}
	}
}

/// Datagrams (lite-05+): one datagram per buffer.
pub fn datagram(data: &[u8]) {
	for version in Version::ALL {
		check::<Datagram, _>(data, version, Framing::Whole);
	}
}

/// The Probe stream (bidi 0x4, PROBEs) and the Goaway stream (bidi 0x5, one
/// GOAWAY).
pub fn probe_goaway(data: &[u8]) {
	for version in Version::ALL {
		sequence::<Probe, _>(data, version);
		check::<Goaway, _>(data, version, Framing::Stream);
	}
}

/// The stream type that opens every stream, bidi and uni.
pub fn stream_type(data: &[u8]) {
	for version in Version::ALL {
		if let Some((ty, _)) = check::<BidiType, _>(data, version, Framing::Stream) {
			assert!(ty.in_version(version), "{ty:?} decoded in {version}");
		}
		if let Some((ty, _)) = check::<UniType, _>(data, version, Framing::Stream) {
			assert!(ty.in_version(version), "{ty:?} decoded in {version}");
		}
	}
}

/// The IETF control stream: CLIENT_SETUP or SERVER_SETUP, then control messages.
pub fn ietf_setup(data: &[u8]) {
	for draft in ietf::Draft::ALL {
		for (setup, used) in [
			check::<ietf::ClientSetup, _>(data, draft, Framing::Stream).map(|(s, u)| (s.parameters, u)),
			check::<ietf::ServerSetup, _>(data, draft, Framing::Stream).map(|(s, u)| (s.parameters, u)),
		]
		.into_iter()
		.flatten()
		{
			let _ = (setup.path(), setup.authority(), setup.implementation());
			let _ = (setup.max_request_id(), setup.max_auth_token_cache_size());
			for token in setup.auth_tokens() {
				let token = token.expect("a decoded SETUP holds well-formed tokens");
				let bytes = token.encode_value();
				assert_eq!(ietf::AuthToken::decode_value(&bytes), Ok(token));
			}
			sequence::<ietf::ControlMessage, _>(&data[used..], draft);
		}
	}
	// The SETUP of draft-17 and later, which opens a unidirectional stream of its own (draft-17
	// reserves the 7-byte integers draft-18 reads).
	for draft in [ietf::Draft::Draft17, ietf::Draft::Draft18] {
		let Some((setup, _)) = check::<ietf::Setup, _>(data, draft, Framing::Stream) else {
			continue;
		};
		let params = &setup.parameters;
		let _ = (params.path(), params.authority(), params.implementation());
		for token in setup.auth_tokens() {
			let token = token.expect("a decoded SETUP holds well-formed tokens");
			let bytes = token.encode_value_in(ietf::Draft::Draft18);
			assert_eq!(
				ietf::AuthToken::decode_value_in(&bytes, ietf::Draft::Draft18),
				Ok(token)
			);
		}
	}
}

/// The control messages after SETUP, the request streams' messages, and the same bytes as a
/// SUBSCRIPTION_FILTER value.
pub fn ietf_control(data: &[u8]) {
	for draft in ietf::Draft::ALL {
		for message in sequence::<ietf::ControlMessage, _>(data, draft) {
			let bytes = ietf::EncodeWith::to_bytes(&message, draft).expect("checked by sequence");
			assert_eq!(u64::from(bytes[0]), message.type_id().into_inner(), "{message:?}");
			for param in message.parameters().into_iter().flat_map(|p| p.auth_tokens()) {
				param.expect("a decoded message holds well-formed tokens");
			}
		}
	}
	// The request streams of draft-18 and later, and the GOAWAY of their SETUP stream.
	for draft in ietf::Draft::ALL.into_iter().filter(|d| d.has_request_streams()) {
		for message in sequence::<ietf::draft18::RequestMessage, _>(data, draft) {
			if let ietf::draft18::RequestMessage::Subscribe(subscribe) = &message {
				for token in subscribe.parameters.auth_tokens() {
					token.expect("a decoded message holds well-formed tokens");
				}
				// TRACK_PROPERTY_FILTER is REQUEST_UPDATE's alone.
				let track_filter = ietf::draft18::parameter::TRACK_PROPERTY_FILTER;
				assert!(subscribe.parameters.get(track_filter).is_none(), "{draft}");
				if draft.filter_fields() {
					let _ = subscribe.parameters.location_filter(draft).map(location_filter);
				}
			}
			if let ietf::draft18::RequestMessage::Fetch(fetch) = &message {
				for token in fetch.parameters.auth_tokens() {
					token.expect("a decoded message holds well-formed tokens");
				}
				let track_filter = ietf::draft18::parameter::TRACK_PROPERTY_FILTER;
				assert!(fetch.parameters.get(track_filter).is_none(), "{draft}");
				// A track and LOCATION_FILTER from draft-20 on, a Fetch Type before.
				let by_track = matches!(fetch.target, ietf::draft18::FetchTarget::Track { .. });
				assert_eq!(by_track, draft.fetch_by_filter(), "{draft}");
				if draft.filter_fields() {
					let _ = fetch.parameters.location_filter(draft).map(location_filter);
				}
			}
			if let ietf::draft18::RequestMessage::Goaway(goaway) = &message {
				assert!(goaway.request_id.is_none() || draft.goaway_has_request_id(), "{draft}");
			}
		}
	}
	ietf_location_filter(data);
}

/// What a draft-20 (or later) SUBSCRIPTION_FILTER that reads says holds together: an
/// Absolute range ends at or after its start's group, and only a range with an end group has an
/// end object.
fn location_filter(filter: ietf::draft18::LocationFilter) {
	if let ietf::draft18::LocationFilter::Absolute {
		start,
		end_group,
		end_object,
	} = filter
	{
		assert!(end_group.is_none_or(|end| end >= start.0), "{filter:?}");
		assert!(end_object.is_none() || end_group.is_some(), "{filter:?}");
	}
}

/// Any bytes as a SUBSCRIPTION_FILTER value of draft-20, -21 and -22.
fn ietf_location_filter(data: &[u8]) {
	for draft in ietf::Draft::ALL.into_iter().filter(|d| d.filter_fields()) {
		if let Ok(filter) = ietf::draft18::LocationFilter::decode(data, draft) {
			location_filter(filter);
		}
	}
}

/// A data stream: its header, then subgroup or fetch objects; and the same
/// bytes as one OBJECT_DATAGRAM.
pub fn ietf_data(data: &[u8]) {
	for draft in ietf::Draft::ALL {
		if let Some((datagram, _)) = check::<ietf::ObjectDatagram, _>(data, draft, Framing::Whole) {
			assert_eq!(datagram.object_id(), datagram.object.unwrap_or(crate::VarInt::ZERO));
		}
		match check::<ietf::DataStreamHeader, _>(data, draft, Framing::Stream) {
			Some((ietf::DataStreamHeader::Subgroup(header), used)) => {
				let ctx = header.context(draft);
				let rest = &data[used..];
				sequence::<ietf::SubgroupObject, _>(rest, ctx);
				// The object header alone, then its payload: the same object.
				if let Some((head, head_used)) = check::<ietf::SubgroupObjectHeader, _>(rest, ctx, Framing::Stream) {
					let len = head.payload_len.into_inner();
					let whole = <ietf::SubgroupObject as ietf::DecodeWith<_>>::decode_prefix(rest, ctx);
					if ((rest.len() - head_used) as u64) < len {
						assert_eq!(whole, Err(DecodeError::UnexpectedEnd), "subgroup object: short payload");
					} else {
						let (object, object_used) = whole.expect("an object with its whole payload");
						assert_eq!(object.header(), head);
						assert_eq!(object_used as u64, head_used as u64 + len);
					}
				}
			}
			Some((ietf::DataStreamHeader::Fetch(_), used)) => {
				sequence::<ietf::FetchObject, _>(&data[used..], draft);
				fetch_entries(&data[used..], draft);
			}
			// What follows PADDING is discarded unread.
			Some((ietf::DataStreamHeader::Padding, _)) => {}
			None => {
				// The objects alone, in every context.
				for extensions in [false, true] {
					sequence::<ietf::SubgroupObject, _>(data, ietf::SubgroupContext { draft, extensions });
				}
				sequence::<ietf::FetchObject, _>(data, draft);
				fetch_entries(data, draft);
			}
		}
	}
}

/// A fetch stream's entries as the relay reads the answer to its own FETCH: each entry checked,
/// its payload skipped, its location resolved from the ones before (which may refuse the entry,
/// but never panics); on draft-14 the same bytes read as a [`ietf::FetchObject`] name the same
/// object.
fn fetch_entries(mut data: &[u8], draft: ietf::Draft) {
	let mut reader = ietf::FetchReader::new(draft);
	while let Some((entry, used)) = check::<ietf::FetchEntry, _>(data, draft, Framing::Stream) {
		let location = reader.locate(&entry);
		let payload_len = match &entry {
			ietf::FetchEntry::Object { payload_len, .. } => payload_len.into_inner(),
			ietf::FetchEntry::EndOfRange { .. } => 0,
		};
		if !draft.fetch_serialization_flags()
			&& let Ok((object, _)) = <ietf::FetchObject as ietf::DecodeWith<_>>::decode_prefix(data, draft)
		{
			let expected = ietf::FetchLocation::Object {
				group: object.group.into_inner(),
				subgroup: Some(object.subgroup.into_inner()),
				object: object.object.into_inner(),
			};
			assert_eq!(location, Ok(expected), "{draft:?}: {entry:?} and {object:?}");
			assert_eq!(payload_len, object.payload.len() as u64, "{draft:?}: {entry:?}");
		}
		let rest = &data[used..];
		let Ok(payload_len) = usize::try_from(payload_len) else {
			return;
		};
		if location.is_err() || used == 0 || rest.len() < payload_len {
			return;
		}
		data = &rest[payload_len..];
	}
}
