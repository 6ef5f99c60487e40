//! The IETF moq-transport drafts this codec speaks, and the traits their messages implement.

use std::fmt;

use bytes::{Buf, BufMut};

use crate::{DecodeError, EncodeError};

/// An IETF moq-transport draft.
///
/// Unlike moq-lite, the draft is also named inside the session: draft-14 carries
/// its number in CLIENT_SETUP (`0xff000000 + 14`) and SERVER_SETUP, so a session
/// that reached the relay with no ALPN or WebTransport sub-protocol can still
/// negotiate it (docs/protocol.md#ietf-moq-transport).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Draft {
	/// draft-ietf-moq-transport-14: ALPN `moq-00`; one bidirectional control
	/// stream of `Type (i) | Length (16) | Payload` messages; QUIC varints.
	Draft14,
	/// draft-ietf-moq-transport-15: ALPN `moqt-15`; draft-14's control stream,
	/// absolute Key-Value-Pair types and namespace messages
	/// (SUBSCRIBE_NAMESPACE on the control stream, answered by PUBLISH_NAMESPACE;
	/// PUBLISH_NAMESPACE_DONE and _CANCEL naming the namespace;
	/// UNSUBSCRIBE_NAMESPACE) with draft-16's request fields as parameters,
	/// REQUEST_OK and REQUEST_ERROR (without a Retry Interval), no Track
	/// Extensions (the publisher's group order is the GROUP_ORDER parameter) and
	/// the version named by the transport alone (docs/protocol.md#draft-15).
	Draft15,
	/// draft-ietf-moq-transport-16: ALPN `moqt-16`; the version is named by the
	/// transport only (SETUP carries none); Key-Value-Pair types are
	/// delta-coded; most request fields became parameters; REQUEST_OK and
	/// REQUEST_ERROR answer every request; SUBSCRIBE_NAMESPACE has its own
	/// bidirectional stream.
	Draft16,
	/// draft-ietf-moq-transport-17: ALPN `moqt-17`; draft-18's session (SETUP
	/// on a unidirectional stream, a bidirectional stream per request,
	/// leading-ones integers but for the 7-byte form, which it reserves) with
	/// draft-16's SUBSCRIBE_NAMESPACE (0x11, Subscribe Options) and subgroup
	/// types (no FIRST_OBJECT bit, no PADDING stream), and a Required Request
	/// ID Delta after each request's Request ID (docs/protocol.md#draft-17).
	Draft17,
	/// draft-ietf-moq-transport-18: ALPN `moqt-18`; integers are leading-ones
	/// varints, not QUIC's; there is no control stream:
	/// each side sends one SETUP (type 0x2F00, Setup Options with no count) on
	/// a unidirectional stream of its own, and every request opens its own
	/// bidirectional stream. This codec reads and writes its SETUP
	/// ([`Setup`](super::Setup)), its request-stream messages
	/// ([`draft18::RequestMessage`](super::draft18::RequestMessage)) and its
	/// subgroup streams; [`ControlMessage`](super::ControlMessage), fetch
	/// streams and datagrams refuse it (docs/protocol.md#draft-18).
	Draft18,
	/// draft-ietf-moq-transport-19: ALPN `moqt-19`; draft-18 with GOAWAY
	/// without a Request ID and the Range Filters (0x25–0x29) as known
	/// Message Parameters; its SUBSCRIPTION_FILTER is still draft-18's Filter
	/// Type and fields (docs/protocol.md#draft-19).
	Draft19,
	/// draft-ietf-moq-transport-20: ALPN `moqt-20`; draft-18's sessions and
	/// framing, with the changes of draft-19 and draft-20 to the messages this
	/// codec reads: GOAWAY carries no Request ID again; SUBSCRIPTION_FILTER
	/// (LOCATION_FILTER) is a list of zero to four integers whose count gives
	/// its meaning; SUBSCRIBE and REQUEST_UPDATE may carry FILL (0x23),
	/// INCLUDE_PROPERTIES (0x35) and the Range Filters (0x25–0x29)
	/// (docs/protocol.md#draft-20).
	Draft20,
	/// draft-ietf-moq-transport-21: ALPN `moqt-21`; an editorial revision of
	/// draft-20, the same on the wire.
	Draft21,
	/// draft-ietf-moq-transport-22: ALPN `moqt-22`; draft-20 on the wire but for
	/// LOCATION_FILTER, which drops its Length for a Location Filter Type
	/// naming the fields that follow.
	Draft22,
}

impl Draft {
	/// Every draft this codec implements, oldest first.
	pub const ALL: [Draft; 9] = [
		Draft::Draft14,
		Draft::Draft15,
		Draft::Draft16,
		Draft::Draft17,
		Draft::Draft18,
		Draft::Draft19,
		Draft::Draft20,
		Draft::Draft21,
		Draft::Draft22,
	];

	/// The draft's number (14 for draft-ietf-moq-transport-14).
	pub const fn number(self) -> u32 {
		match self {
			Draft::Draft14 => 14,
			Draft::Draft15 => 15,
			Draft::Draft16 => 16,
			Draft::Draft17 => 17,
			Draft::Draft18 => 18,
			Draft::Draft19 => 19,
			Draft::Draft20 => 20,
			Draft::Draft21 => 21,
			Draft::Draft22 => 22,
		}
	}

	/// The version number CLIENT_SETUP offers and SERVER_SETUP selects:
	/// draft-14 §9.3.1, "adding the draft number to 0xff000000".
	pub const fn setup_version(self) -> u64 {
		0xff00_0000 + self.number() as u64
	}

	/// The draft a SETUP version number names, if this codec speaks it.
	pub fn from_setup_version(version: u64) -> Option<Self> {
		Self::ALL.into_iter().find(|d| d.setup_version() == version)
	}

	/// The TLS ALPN / `WT-Protocol` identifier.
	pub const fn alpn(self) -> &'static str {
		match self {
			// Draft-14 predates per-draft identifiers: `moq-00` is every draft
			// up to -14, and SETUP picks among them.
			Draft::Draft14 => "moq-00",
			Draft::Draft15 => "moqt-15",
			Draft::Draft16 => "moqt-16",
			Draft::Draft17 => "moqt-17",
			Draft::Draft18 => "moqt-18",
			Draft::Draft19 => "moqt-19",
			Draft::Draft20 => "moqt-20",
			Draft::Draft21 => "moqt-21",
			Draft::Draft22 => "moqt-22",
		}
	}

	/// Whether CLIENT_SETUP lists versions and SERVER_SETUP names one
	/// (draft-14); from draft-15 on the transport's identifier alone names it.
	pub const fn setup_names_version(self) -> bool {
		matches!(self, Draft::Draft14)
	}

	/// Whether a Key-Value-Pair's type is the difference from the previous
	/// pair's (draft-16 §1.4.2, so pairs go in ascending type order) rather
	/// than the type itself.
	pub const fn delta_types(self) -> bool {
		!matches!(self, Draft::Draft14 | Draft::Draft15)
	}

	/// Whether integers are draft-18's leading-ones form (draft-18 §1.4.1) rather
	/// than QUIC varints (RFC 9000 §16).
	pub const fn leading_ones_integers(self) -> bool {
		self.has_request_streams()
	}

	/// Whether the session has draft-14's one bidirectional control stream
	/// (CLIENT_SETUP, SERVER_SETUP, then [`ControlMessage`](super::ControlMessage)s).
	/// Draft-18 has none: SETUP goes on a unidirectional stream and each
	/// request on a bidirectional stream of its own.
	pub const fn has_control_stream(self) -> bool {
		matches!(self, Draft::Draft14 | Draft::Draft15 | Draft::Draft16)
	}

	/// Whether a control-stream draft carries the request fields draft-14 had
	/// inline (Forward, Subscriber Priority, the filter, Group Order, Expires,
	/// the Largest Location) as Message Parameters and answers requests with
	/// REQUEST_OK and REQUEST_ERROR (draft-15 and draft-16).
	pub const fn fields_as_parameters(self) -> bool {
		matches!(self, Draft::Draft15 | Draft::Draft16)
	}

	/// Whether SUBSCRIBE_OK, PUBLISH and FETCH_OK end with Track Extensions (the
	/// publisher's group order among them) on a control-stream draft: draft-16;
	/// draft-15 puts that order in the GROUP_ORDER parameter.
	pub const fn track_extensions(self) -> bool {
		matches!(self, Draft::Draft16)
	}

	/// Whether REQUEST_ERROR has a Retry Interval (draft-16 on; draft-15's has
	/// none).
	pub const fn retry_interval(self) -> bool {
		!matches!(self, Draft::Draft14 | Draft::Draft15)
	}

	/// Whether a control-stream draft sends SUBSCRIBE_NAMESPACE on a stream of
	/// its own with Subscribe Options (answered with NAMESPACE and
	/// NAMESPACE_DONE) and names PUBLISH_NAMESPACE_DONE and _CANCEL by Request
	/// ID, with no UNSUBSCRIBE_NAMESPACE: draft-16. Draft-14 and draft-15 keep
	/// SUBSCRIBE_NAMESPACE on the control stream and name namespaces.
	pub const fn namespace_streams(self) -> bool {
		matches!(self, Draft::Draft16)
	}

	/// Whether each request opens a bidirectional stream of its own and SETUP
	/// goes on a unidirectional stream (draft-18 and later).
	pub const fn has_request_streams(self) -> bool {
		!self.has_control_stream()
	}

	/// Whether the leading-ones integers have draft-18's 7-byte form
	/// (`1111110x`), which draft-17 reserves.
	pub const fn seven_byte_integers(self) -> bool {
		self.leading_ones_integers() && !matches!(self, Draft::Draft17)
	}

	/// Whether subgroup header types carry the FIRST_OBJECT bit (0x40, draft-18
	/// on).
	pub const fn first_object_bit(self) -> bool {
		self.seven_byte_integers()
	}

	/// Whether a unidirectional stream may be PADDING (type 0x132B3E28, draft-18
	/// on).
	pub const fn padding_stream(self) -> bool {
		self.seven_byte_integers()
	}

	/// Whether SUBSCRIBE, PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE, REQUEST_UPDATE
	/// (and PUBLISH, FETCH, TRACK_STATUS) carry a Required Request ID Delta after
	/// their Request ID (draft-17 only).
	pub const fn required_request_id(self) -> bool {
		matches!(self, Draft::Draft17)
	}

	/// Whether SUBSCRIBE_NAMESPACE on a request stream is draft-16's type 0x11
	/// with Subscribe Options (draft-17); from draft-18 on it is 0x50 without
	/// them, and 0x51 is SUBSCRIBE_TRACKS.
	pub const fn subscribe_namespace_options(self) -> bool {
		matches!(self, Draft::Draft17)
	}

	/// Whether GOAWAY ends with a Request ID: draft-18 added it, draft-19
	/// removed it again.
	pub const fn goaway_has_request_id(self) -> bool {
		matches!(self, Draft::Draft18)
	}

	/// Whether SUBSCRIPTION_FILTER is draft-20's list of integers (from
	/// draft-20 on) rather than draft-18's Filter Type and its fields, and
	/// whether FILL, INCLUDE_PROPERTIES and the Range Filters are parameters.
	pub const fn filter_fields(self) -> bool {
		matches!(self, Draft::Draft20 | Draft::Draft21 | Draft::Draft22)
	}

	/// Whether the Range Filters (SUBGROUP_FILTER 0x25 to TRACK_PROPERTY_FILTER
	/// 0x29) are Message Parameters: draft-19 added them.
	pub const fn range_filters(self) -> bool {
		matches!(self, Draft::Draft19) || self.filter_fields()
	}

	/// Whether a requester's FIN on a request stream only ends its updates and leaves the request
	/// standing (draft-19, "Graceful Request Stream Closure": "a FIN ... is not a request
	/// cancellation"); on draft-17 and draft-18 it cancels the request. Cancelling is a reset or
	/// STOP_SENDING on every draft.
	pub const fn fin_keeps_requests(self) -> bool {
		matches!(self, Draft::Draft19) || self.filter_fields()
	}

	/// Whether a fetch stream's objects start with Serialization Flags, each relative to the one
	/// before it (draft-15 on); draft-14 writes every field of every object.
	pub const fn fetch_serialization_flags(self) -> bool {
		!matches!(self, Draft::Draft14)
	}

	/// Whether a fetch object's Group ID field is a delta from the one before it (draft-18 on,
	/// "Fetch Header": the prior Group ID plus the delta plus one, ascending), not the Group ID.
	pub const fn fetch_group_delta(self) -> bool {
		self.seven_byte_integers()
	}

	/// Whether a fetch object with an empty payload carries an Object Status after its length
	/// (draft-14 and draft-15; later fetch objects have no status, and the published client reads
	/// none there).
	pub const fn fetch_object_status(self) -> bool {
		matches!(self, Draft::Draft14 | Draft::Draft15)
	}

	/// Whether FETCH names its track and takes its range from LOCATION_FILTER, with no Fetch Type
	/// (draft-20 on); before, a Fetch Type says Standalone or Joining.
	pub const fn fetch_by_filter(self) -> bool {
		self.filter_fields()
	}

	/// Whether LOCATION_FILTER is draft-22's typed form, with no Length.
	pub const fn typed_filter(self) -> bool {
		matches!(self, Draft::Draft22)
	}

	/// Refuses to read `what`, a draft-14/16 message or data stream form, on a
	/// draft this codec has no such form for (draft-18: a typed
	/// [`DecodeError::InvalidValue`] naming the draft, never a draft-14 reading).
	pub(crate) fn decode_form(self, what: &'static str) -> Result<(), DecodeError> {
		match self {
			Draft::Draft14 | Draft::Draft15 | Draft::Draft16 => Ok(()),
			Draft::Draft17 | Draft::Draft18 | Draft::Draft19 | Draft::Draft20 | Draft::Draft21 | Draft::Draft22 => {
				Err(DecodeError::InvalidValue {
					field: what,
					value: self.number() as u64,
				})
			}
		}
	}

	/// Refuses to write `what` on a draft this codec has no such form for, as
	/// [`decode_form`](Self::decode_form) refuses to read it.
	pub(crate) fn encode_form(self, what: &'static str) -> Result<(), EncodeError> {
		match self {
			Draft::Draft14 | Draft::Draft15 | Draft::Draft16 => Ok(()),
			Draft::Draft17 | Draft::Draft18 | Draft::Draft19 | Draft::Draft20 | Draft::Draft21 | Draft::Draft22 => {
				Err(EncodeError::InvalidValue {
					field: what,
					reason: "this codec has no draft-18 (or later) form of it",
				})
			}
		}
	}

	/// The draft named by a transport identifier, if this codec speaks it.
	pub fn from_alpn(alpn: &str) -> Option<Self> {
		Self::ALL.into_iter().find(|d| d.alpn() == alpn)
	}
}

impl fmt::Display for Draft {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		write!(f, "moq-transport-{}", self.number())
	}
}

/// A value read from the wire in a context `C`: the [`Draft`] for messages and
/// stream headers, a [`SubgroupContext`](super::SubgroupContext) for the objects of a
/// subgroup stream (whose layout the stream's header decides).
///
/// The outcomes are those of the crate's [`Decode`](crate::Decode): a value,
/// [`DecodeError::UnexpectedEnd`] (buffer more and retry), or an error whose
/// [`disposition`](DecodeError::disposition) says what to do.
pub trait DecodeWith<C: Copy>: Sized {
	/// Reads one value from `buf`; on [`DecodeError::UnexpectedEnd`] `buf` may
	/// have been partly advanced.
	fn decode<B: Buf>(buf: &mut B, ctx: C) -> Result<Self, DecodeError>;

	/// Reads one value from the start of `bytes`, returning it and how many bytes
	/// it took; `bytes` is never modified.
	fn decode_prefix(bytes: &[u8], ctx: C) -> Result<(Self, usize), DecodeError> {
		let mut cursor = bytes;
		let value = Self::decode(&mut cursor, ctx)?;
		Ok((value, bytes.len() - cursor.len()))
	}
}

/// A value written to the wire in a context `C`. On error nothing is written.
pub trait EncodeWith<C: Copy> {
	/// Writes the value to `buf`.
	fn encode<B: BufMut>(&self, buf: &mut B, ctx: C) -> Result<(), EncodeError>;

	/// Writes the value to a fresh `Vec`.
	fn to_bytes(&self, ctx: C) -> Result<Vec<u8>, EncodeError> {
		let mut out = Vec::new();
		self.encode(&mut out, ctx)?;
		Ok(out)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn identifiers() {
		assert_eq!(Draft::Draft14.setup_version(), 0xff00_000e);
		assert_eq!(Draft::from_setup_version(0xff00_000e), Some(Draft::Draft14));
		assert_eq!(Draft::from_setup_version(0xff00_000d), None);
		assert_eq!(Draft::from_alpn("moq-00"), Some(Draft::Draft14));
		// Draft-15: named by the transport alone; draft-14's control stream and absolute types,
		// draft-16's request fields as parameters.
		let d15 = Draft::Draft15;
		assert_eq!(Draft::from_alpn("moqt-15"), Some(d15));
		assert_eq!(
			(d15.to_string().as_str(), d15.setup_version()),
			("moq-transport-15", 0xff00_000f)
		);
		assert!(d15.has_control_stream() && !d15.setup_names_version() && !d15.delta_types());
		assert!(d15.fields_as_parameters() && !d15.track_extensions() && !d15.retry_interval());
		assert!(!d15.namespace_streams() && !d15.leading_ones_integers());
		let d16 = Draft::Draft16;
		assert!(
			d16.fields_as_parameters() && d16.track_extensions() && d16.retry_interval() && d16.namespace_streams()
		);
		assert!(!Draft::Draft14.fields_as_parameters() && Draft::Draft18.retry_interval());
		assert_eq!(Draft::from_alpn("moqt-16"), Some(Draft::Draft16));
		assert_eq!(Draft::Draft16.setup_version(), 0xff00_0010);
		assert_eq!(Draft::from_setup_version(0xff00_0010), Some(Draft::Draft16));
		assert_eq!(Draft::Draft16.to_string(), "moq-transport-16");
		assert_eq!(Draft::Draft14.to_string(), "moq-transport-14");
		// Draft-17: draft-18's session without its 7-byte integers, FIRST_OBJECT or PADDING.
		let d17 = Draft::Draft17;
		assert_eq!(Draft::from_alpn("moqt-17"), Some(d17));
		assert_eq!(d17.to_string(), "moq-transport-17");
		assert!(d17.has_request_streams() && d17.leading_ones_integers() && d17.delta_types());
		assert!(!d17.seven_byte_integers() && !d17.first_object_bit() && !d17.padding_stream());
		assert!(d17.required_request_id() && d17.subscribe_namespace_options());
		assert!(!d17.goaway_has_request_id() && !d17.filter_fields() && !d17.range_filters());
		assert!(Draft::Draft18.seven_byte_integers() && Draft::Draft18.first_object_bit());
		assert!(!Draft::Draft18.required_request_id() && !Draft::Draft18.subscribe_namespace_options());
		assert_eq!(Draft::from_alpn("moqt-18"), Some(Draft::Draft18));
		assert_eq!(Draft::Draft18.to_string(), "moq-transport-18");
		assert!(Draft::Draft18.delta_types() && !Draft::Draft18.setup_names_version());
		assert!(!Draft::Draft18.has_control_stream() && Draft::Draft16.has_control_stream());
		// Draft-19: draft-18's filter, draft-20's GOAWAY, the Range Filters.
		assert_eq!(Draft::from_alpn("moqt-19"), Some(Draft::Draft19));
		assert_eq!(Draft::Draft19.to_string(), "moq-transport-19");
		assert!(Draft::Draft19.has_request_streams() && Draft::Draft19.leading_ones_integers());
		assert!(!Draft::Draft19.goaway_has_request_id() && !Draft::Draft19.filter_fields());
		assert!(Draft::Draft19.range_filters() && !Draft::Draft18.range_filters());
		for (draft, alpn) in [
			(Draft::Draft20, "moqt-20"),
			(Draft::Draft21, "moqt-21"),
			(Draft::Draft22, "moqt-22"),
		] {
			assert_eq!(Draft::from_alpn(alpn), Some(draft));
			assert_eq!(draft.to_string(), format!("moq-transport-{}", &alpn[5..]));
			assert!(draft.has_request_streams() && draft.leading_ones_integers() && draft.delta_types());
			assert!(draft.filter_fields() && draft.range_filters() && !draft.goaway_has_request_id());
		}
		assert_eq!(Draft::Draft20.setup_version(), 0xff00_0014);
		assert!(Draft::Draft18.goaway_has_request_id() && !Draft::Draft18.filter_fields());
		assert!(Draft::Draft22.typed_filter() && !Draft::Draft21.typed_filter());
	}
}
