//! The draft-16 forms of the control messages (draft-ietf-moq-transport-16
//! §9), onto the same [`ControlMessage`] values as draft-14's.
//!
//! What changed from draft-14, as the published client reads and writes it:
//!
//! - Key-Value-Pair types are delta-coded (see [`Draft::delta_types`]).
//! - SUBSCRIBE, SUBSCRIBE_UPDATE, PUBLISH_OK and TRACK_STATUS carry Forward
//!   (0x10), Subscriber Priority (0x20), the filter (SUBSCRIPTION_FILTER, 0x21,
//!   its draft-14 fields as a byte value) and Group Order (0x22) as parameters;
//!   SUBSCRIBE_OK and PUBLISH carry Expires (0x08) and the Largest Location
//!   (LARGEST_OBJECT, 0x09, its two varints as a byte value) that way, and
//!   end with Track Extensions (Key-Value-Pairs to the end of the message, no
//!   count), as FETCH_OK does; the publisher's Group Order is the Track
//!   Extension DEFAULT_PUBLISHER_GROUP_ORDER (0x22) there. FETCH keeps its
//!   Fetch Type; its priority and Group Order are parameters. GROUP_ORDER and
//!   DEFAULT_PUBLISHER_GROUP_ORDER are 1 or 2 on the wire; absent is
//!   [`GroupOrder::Original`], and 0 is a PROTOCOL_VIOLATION.
//! - REQUEST_OK (0x7: Request ID, Parameters) answers PUBLISH_NAMESPACE and
//!   SUBSCRIBE_NAMESPACE; REQUEST_ERROR (0x5: Request ID, Error Code, Retry
//!   Interval, Reason) refuses any request. The draft-14 OK and ERROR
//!   variants encode as these; a draft-16 peer's arrive as
//!   [`ControlMessage::RequestOk`] and [`ControlMessage::RequestError`].
//! - PUBLISH_NAMESPACE_DONE (0x9) and PUBLISH_NAMESPACE_CANCEL (0xC) name the
//!   PUBLISH_NAMESPACE by its Request ID.
//! - SUBSCRIBE_NAMESPACE (0x11) opens its own bidirectional stream and adds
//!   Subscribe Options; that stream then carries REQUEST_OK or REQUEST_ERROR,
//!   NAMESPACE (0x8) and NAMESPACE_DONE (0xE), each a Track Namespace suffix.
//!   There is no UNSUBSCRIBE_NAMESPACE: closing the stream ends it.
//! - There is no SUBSCRIBE_NAMESPACE_OK/_ERROR, PUBLISH_NAMESPACE_ERROR,
//!   TRACK_STATUS_OK/_ERROR, FETCH_ERROR or PUBLISH_ERROR type: those numbers
//!   are unknown message types.
//!
//! Draft-15 ([`Draft::Draft15`]) runs through the same forms with the draft
//! passed in: its request fields are parameters and its answers REQUEST_OK and
//! REQUEST_ERROR as above, but its Key-Value-Pair types are absolute (as on
//! draft-14), its REQUEST_ERROR has no Retry Interval, SUBSCRIBE_OK, PUBLISH
//! and FETCH_OK have no Track Extensions (the publisher's group order is the
//! GROUP_ORDER parameter), and its namespace messages are draft-14's:
//! SUBSCRIBE_NAMESPACE on the control stream without Subscribe Options,
//! PUBLISH_NAMESPACE_DONE and _CANCEL naming the namespace,
//! UNSUBSCRIBE_NAMESPACE, and no NAMESPACE or NAMESPACE_DONE.

use bytes::{Buf, BufMut, Bytes};

use super::coding::{
	GroupOrder, KeyValue, Location, MAX_PARAMETERS, Parameters, Value, decode_namespace, decode_pair, decode_reason,
	encode_namespace, encode_pairs, encode_reason, get_flag,
};
use super::control::ControlMessage;
use super::draft::Draft;
use super::fetch::{Fetch, FetchOk, FetchType};
use super::namespace::{PublishNamespace, PublishNamespaceCancel, SubscribeNamespace};
use super::subscribe::{
	Filter, Publish, PublishDone, PublishOk, RequestError, RequestOk, Subscribe, SubscribeOk, SubscribeUpdate,
};
use crate::coding::{BufExt, BufMutExt};
use crate::{DecodeError, EncodeError, VarInt};

/// The message parameters draft-16 made of draft-14's fields.
mod param {
	use crate::VarInt;

	/// EXPIRES (even): milliseconds.
	pub const EXPIRES: VarInt = VarInt::from_u32(0x08);
	/// LARGEST_OBJECT (odd): a Location as a byte value.
	pub const LARGEST_OBJECT: VarInt = VarInt::from_u32(0x09);
	/// FORWARD (even): 0 or 1; absent = 1.
	pub const FORWARD: VarInt = VarInt::from_u32(0x10);
	/// SUBSCRIBER_PRIORITY (even): 0..=255; absent = 128.
	pub const SUBSCRIBER_PRIORITY: VarInt = VarInt::from_u32(0x20);
	/// SUBSCRIPTION_FILTER (odd): the draft-14 Filter fields as a byte value
	/// (LOCATION_FILTER in the published client).
	pub const SUBSCRIPTION_FILTER: VarInt = VarInt::from_u32(0x21);
	/// GROUP_ORDER (even): 1 ascending, 2 descending; absent = the publisher's.
	pub const GROUP_ORDER: VarInt = VarInt::from_u32(0x22);
	/// DEFAULT_PUBLISHER_GROUP_ORDER, a Track Extension (even): 1 ascending, 2 descending.
	pub const DEFAULT_PUBLISHER_GROUP_ORDER: VarInt = VarInt::from_u32(0x22);
}

/// Subscriber Priority when SUBSCRIBER_PRIORITY is absent.
const DEFAULT_PRIORITY: u8 = 128;

/// Takes the one `key` parameter out of `params`; a second one is a PROTOCOL_VIOLATION.
fn take(params: &mut Parameters, key: VarInt) -> Result<Option<KeyValue>, DecodeError> {
	let mut found = params
		.0
		.iter()
		.enumerate()
		.filter(|(_, p)| p.key == key)
		.map(|(i, _)| i);
	let Some(at) = found.next() else {
		return Ok(None);
	};
	if found.next().is_some() {
		return Err(DecodeError::DuplicateParameter { id: key });
	}
	Ok(Some(params.0.remove(at)))
}

fn take_int(params: &mut Parameters, key: VarInt) -> Result<Option<u64>, DecodeError> {
	// Even types carry a varint by their parity.
	Ok(take(params, key)?.and_then(|p| p.as_int()).map(VarInt::into_inner))
}

fn take_bytes(params: &mut Parameters, key: VarInt) -> Result<Option<Bytes>, DecodeError> {
	Ok(take(params, key)?.and_then(|p| p.as_bytes().cloned()))
}

/// Reads a byte-valued parameter's content with `read`, which must consume it exactly.
fn inner<T>(
	mut value: Bytes,
	id: VarInt,
	read: impl FnOnce(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
	let parsed = read(&mut value).map_err(|_| DecodeError::InvalidParameter {
		id,
		reason: "malformed value",
	})?;
	if value.has_remaining() {
		return Err(DecodeError::InvalidParameter {
			id,
			reason: "trailing bytes in the value",
		});
	}
	Ok(parsed)
}

fn forward(params: &mut Parameters) -> Result<bool, DecodeError> {
	match take_int(params, param::FORWARD)? {
		None | Some(1) => Ok(true),
		Some(0) => Ok(false),
		Some(value) => Err(DecodeError::InvalidValue {
			field: "FORWARD",
			value,
		}),
	}
}

fn priority(params: &mut Parameters) -> Result<u8, DecodeError> {
	match take_int(params, param::SUBSCRIBER_PRIORITY)? {
		None => Ok(DEFAULT_PRIORITY),
		Some(value) => u8::try_from(value).map_err(|_| DecodeError::InvalidValue {
			field: "SUBSCRIBER_PRIORITY",
			value,
		}),
	}
}

/// GROUP_ORDER (or DEFAULT_PUBLISHER_GROUP_ORDER): absent is the publisher's order; only 1 and 2
/// may be on the wire (draft-16 §9.2.2.4: anything else is a PROTOCOL_VIOLATION).
fn order(value: Option<u64>, field: &'static str) -> Result<GroupOrder, DecodeError> {
	match value {
		None => Ok(GroupOrder::Original),
		Some(1) => Ok(GroupOrder::Ascending),
		Some(2) => Ok(GroupOrder::Descending),
		Some(value) => Err(DecodeError::InvalidValue { field, value }),
	}
}

fn group_order(params: &mut Parameters) -> Result<GroupOrder, DecodeError> {
	order(take_int(params, param::GROUP_ORDER)?, "GROUP_ORDER")
}

/// Track Extensions, with the publisher's group order (DEFAULT_PUBLISHER_GROUP_ORDER) taken out.
fn track_extensions<B: Buf>(buf: &mut B, draft: Draft) -> Result<(Vec<KeyValue>, GroupOrder), DecodeError> {
	let mut extensions = Parameters(decode_extensions(buf, draft)?);
	let value = take_int(&mut extensions, param::DEFAULT_PUBLISHER_GROUP_ORDER)?;
	Ok((extensions.0, order(value, "DEFAULT_PUBLISHER_GROUP_ORDER")?))
}

/// Writes Track Extensions, the publisher's group order among them unless it is Original.
fn encode_track_extensions<B: BufMut>(
	buf: &mut B,
	pairs: &[KeyValue],
	order: GroupOrder,
	draft: Draft,
) -> Result<(), EncodeError> {
	let key = param::DEFAULT_PUBLISHER_GROUP_ORDER;
	let mut out = Out::new(&Parameters(pairs.to_vec()), &[key])?;
	out.group_order_as(key, order);
	encode_extensions(buf, &out.0, draft)
}

/// The publisher's group order and the Track Extensions: on draft-16 the extensions that end the
/// message, the order among them; on draft-15, which has none, the GROUP_ORDER parameter.
fn publisher_order<B: Buf>(
	buf: &mut B,
	parameters: &mut Parameters,
	draft: Draft,
) -> Result<(Vec<KeyValue>, GroupOrder), DecodeError> {
	match draft.track_extensions() {
		true => track_extensions(buf, draft),
		false => Ok((Vec::new(), group_order(parameters)?)),
	}
}

/// `fields`, and GROUP_ORDER where it carries the publisher's order (draft-15): on draft-16 a
/// GROUP_ORDER among these messages' parameters is an ordinary one, kept as read.
fn order_field(fields: &[VarInt], draft: Draft) -> Vec<VarInt> {
	let mut fields = fields.to_vec();
	if !draft.track_extensions() {
		fields.push(param::GROUP_ORDER);
	}
	fields
}

/// Ends a message as [`publisher_order`] reads it: Track Extensions on draft-16; nothing on
/// draft-15 (the order went into the parameters), where extensions cannot be written.
fn encode_publisher_order<B: BufMut>(
	buf: &mut B,
	pairs: &[KeyValue],
	order: GroupOrder,
	draft: Draft,
) -> Result<(), EncodeError> {
	match (draft.track_extensions(), pairs.is_empty()) {
		(true, _) => encode_track_extensions(buf, pairs, order, draft),
		(false, true) => Ok(()),
		(false, false) => Err(EncodeError::InvalidValue {
			field: "Track Extensions",
			reason: "draft-15 has none",
		}),
	}
}

/// SUBSCRIPTION_FILTER; absent means from the start of the track, as the
/// published client reads it (an Absolute Start at {0, 0}).
fn filter(params: &mut Parameters) -> Result<Filter, DecodeError> {
	match take_bytes(params, param::SUBSCRIPTION_FILTER)? {
		None => Ok(Filter::AbsoluteStart(Location::default())),
		Some(value) => inner(value, param::SUBSCRIPTION_FILTER, Filter::decode),
	}
}

fn largest(params: &mut Parameters) -> Result<Option<Location>, DecodeError> {
	take_bytes(params, param::LARGEST_OBJECT)?
		.map(|value| inner(value, param::LARGEST_OBJECT, Location::decode))
		.transpose()
}

fn expires(params: &mut Parameters) -> Result<VarInt, DecodeError> {
	// An even type's value is a varint by its parity.
	Ok(take(params, param::EXPIRES)?
		.and_then(|p| p.as_int())
		.unwrap_or(VarInt::ZERO))
}

/// The parameters to write: the message's own, then its fields (in type
/// order on the wire, see [`encode_pairs`]). A field at the value its absence
/// means is left out, so a message never re-encodes longer than it was read.
/// A field's parameter in the list besides would say it twice, which is
/// refused.
struct Out(Vec<KeyValue>);

impl Out {
	fn new(params: &Parameters, fields: &[VarInt]) -> Result<Self, EncodeError> {
		if params.0.iter().any(|p| fields.contains(&p.key)) {
			return Err(EncodeError::InvalidValue {
				field: "parameters",
				reason: "a field draft-16 carries as a parameter is in the list too",
			});
		}
		Ok(Self(params.0.clone()))
	}

	fn int(&mut self, key: VarInt, value: VarInt) {
		self.0.push(KeyValue {
			key,
			value: Value::Int(value),
		});
	}

	fn bytes(&mut self, key: VarInt, value: Vec<u8>) {
		self.0.push(KeyValue {
			key,
			value: Value::Bytes(value.into()),
		});
	}

	fn forward(&mut self, forward: bool) {
		if !forward {
			self.int(param::FORWARD, VarInt::ZERO);
		}
	}

	fn priority(&mut self, priority: u8) {
		if priority != DEFAULT_PRIORITY {
			self.int(param::SUBSCRIBER_PRIORITY, VarInt::from_u32(priority.into()));
		}
	}

	fn group_order(&mut self, order: GroupOrder) {
		self.group_order_as(param::GROUP_ORDER, order);
	}

	/// The publisher's group order where draft-15 carries it, in the GROUP_ORDER parameter
	/// (draft-16 puts it in the Track Extensions, [`encode_publisher_order`]).
	fn publisher_order(&mut self, order: GroupOrder, draft: Draft) {
		if !draft.track_extensions() {
			self.group_order(order);
		}
	}

	fn group_order_as(&mut self, key: VarInt, order: GroupOrder) {
		let value = match order {
			GroupOrder::Original => return,
			GroupOrder::Ascending => 1,
			GroupOrder::Descending => 2,
		};
		self.int(key, VarInt::from_u32(value));
	}

	fn filter(&mut self, filter: &Filter) {
		if *filter == Filter::AbsoluteStart(Location::default()) {
			return;
		}
		let mut value = Vec::new();
		filter.encode(&mut value);
		self.bytes(param::SUBSCRIPTION_FILTER, value);
	}

	fn largest(&mut self, largest: Option<Location>) {
		if let Some(largest) = largest {
			let mut value = Vec::new();
			largest.encode(&mut value);
			self.bytes(param::LARGEST_OBJECT, value);
		}
	}

	fn expires(&mut self, expires: VarInt) {
		if expires != VarInt::ZERO {
			self.int(param::EXPIRES, expires);
		}
	}

	fn write<B: BufMut>(self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		Parameters(self.0).encode_with(buf, draft)
	}
}

/// Track Extensions: Key-Value-Pairs to the end of the message, no count.
fn decode_extensions<B: Buf>(buf: &mut B, draft: Draft) -> Result<Vec<KeyValue>, DecodeError> {
	let mut pairs = Vec::new();
	let mut previous = VarInt::ZERO;
	while buf.has_remaining() {
		if pairs.len() == MAX_PARAMETERS {
			return Err(DecodeError::TooLarge {
				what: "Track Extensions count",
				len: MAX_PARAMETERS as u64 + 1,
				max: MAX_PARAMETERS as u64,
			});
		}
		pairs.push(decode_pair(buf, draft, &mut previous)?);
	}
	Ok(pairs)
}

fn encode_extensions<B: BufMut>(buf: &mut B, pairs: &[KeyValue], draft: Draft) -> Result<(), EncodeError> {
	if pairs.len() > MAX_PARAMETERS {
		return Err(EncodeError::TooLarge {
			what: "Track Extensions count",
			len: pairs.len() as u64,
			max: MAX_PARAMETERS as u64,
		});
	}
	buf.put_slice(&encode_pairs(pairs, draft)?);
	Ok(())
}

fn decode_subscribe<B: Buf>(buf: &mut B, draft: Draft) -> Result<Subscribe, DecodeError> {
	let request_id = buf.get_var()?;
	let namespace = decode_namespace(buf)?;
	let track = buf.get_string("Track Name")?;
	let mut parameters = Parameters::decode_with(buf, draft)?;
	Ok(Subscribe {
		request_id,
		namespace,
		track,
		forward: forward(&mut parameters)?,
		priority: priority(&mut parameters)?,
		filter: filter(&mut parameters)?,
		group_order: group_order(&mut parameters)?,
		parameters,
	})
}

fn encode_subscribe<B: BufMut>(m: &Subscribe, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
	use param::*;
	let mut out = Out::new(
		&m.parameters,
		&[FORWARD, SUBSCRIBER_PRIORITY, SUBSCRIPTION_FILTER, GROUP_ORDER],
	)?;
	out.forward(m.forward);
	out.priority(m.priority);
	out.filter(&m.filter);
	out.group_order(m.group_order);
	buf.put_var(m.request_id);
	encode_namespace(buf, &m.namespace)?;
	buf.put_string(&m.track)?;
	out.write(buf, draft)
}

fn decode_subscribe_ok<B: Buf>(buf: &mut B, draft: Draft) -> Result<SubscribeOk, DecodeError> {
	let request_id = buf.get_var()?;
	let track_alias = buf.get_var()?;
	let mut parameters = Parameters::decode_with(buf, draft)?;
	let expires = expires(&mut parameters)?;
	let largest = largest(&mut parameters)?;
	let (extensions, group_order) = publisher_order(buf, &mut parameters, draft)?;
	Ok(SubscribeOk {
		request_id,
		track_alias,
		expires,
		largest,
		group_order,
		parameters,
		extensions,
	})
}

fn encode_subscribe_ok<B: BufMut>(m: &SubscribeOk, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
	use param::*;
	let mut out = Out::new(&m.parameters, &order_field(&[EXPIRES, LARGEST_OBJECT], draft))?;
	out.expires(m.expires);
	out.largest(m.largest);
	out.publisher_order(m.group_order, draft);
	buf.put_var(m.request_id);
	buf.put_var(m.track_alias);
	out.write(buf, draft)?;
	encode_publisher_order(buf, &m.extensions, m.group_order, draft)
}

fn decode_update<B: Buf>(buf: &mut B, draft: Draft) -> Result<SubscribeUpdate, DecodeError> {
	let request_id = buf.get_var()?;
	let subscription_request_id = buf.get_var()?;
	let mut parameters = Parameters::decode_with(buf, draft)?;
	Ok(SubscribeUpdate {
		request_id,
		subscription_request_id,
		start: Location::default(),
		end_group: VarInt::ZERO,
		forward: forward(&mut parameters)?,
		priority: priority(&mut parameters)?,
		parameters,
	})
}

fn encode_update<B: BufMut>(m: &SubscribeUpdate, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
	use param::*;
	if m.start != Location::default() || m.end_group != VarInt::ZERO {
		return Err(EncodeError::InvalidValue {
			field: "SUBSCRIBE_UPDATE",
			reason: "draft-16 narrows a subscription with a SUBSCRIPTION_FILTER parameter, not Start and End Group",
		});
	}
	let mut out = Out::new(&m.parameters, &[FORWARD, SUBSCRIBER_PRIORITY])?;
	out.forward(m.forward);
	out.priority(m.priority);
	buf.put_var(m.request_id);
	buf.put_var(m.subscription_request_id);
	out.write(buf, draft)
}

fn decode_request_error<B: Buf>(buf: &mut B, draft: Draft) -> Result<RequestError, DecodeError> {
	Ok(RequestError {
		request_id: buf.get_var()?,
		code: buf.get_var()?,
		// Draft-15's REQUEST_ERROR has none.
		retry_interval: match draft.retry_interval() {
			true => buf.get_var()?,
			false => VarInt::ZERO,
		},
		reason: decode_reason(buf)?,
	})
}

fn encode_request_error<B: BufMut>(m: &RequestError, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
	buf.put_var(m.request_id);
	buf.put_var(m.code);
	match (draft.retry_interval(), m.retry_interval) {
		(true, retry) => buf.put_var(retry),
		(false, VarInt::ZERO) => {}
		(false, _) => {
			return Err(EncodeError::InvalidValue {
				field: "Retry Interval",
				reason: "draft-15's REQUEST_ERROR has none",
			});
		}
	}
	encode_reason(buf, &m.reason)
}

/// PUBLISH_NAMESPACE_CANCEL: `Request ID (i) | Error Code (i) | Reason Phrase`.
fn decode_cancel<B: Buf>(buf: &mut B) -> Result<RequestError, DecodeError> {
	Ok(RequestError {
		request_id: buf.get_var()?,
		code: buf.get_var()?,
		reason: decode_reason(buf)?,
		retry_interval: VarInt::ZERO,
	})
}

fn encode_cancel<B: BufMut>(m: &RequestError, buf: &mut B) -> Result<(), EncodeError> {
	if m.retry_interval != VarInt::ZERO {
		return Err(EncodeError::InvalidValue {
			field: "Retry Interval",
			reason: "PUBLISH_NAMESPACE_CANCEL has none",
		});
	}
	buf.put_var(m.request_id);
	buf.put_var(m.code);
	encode_reason(buf, &m.reason)
}

fn decode_publish<B: Buf>(buf: &mut B, draft: Draft) -> Result<Publish, DecodeError> {
	let request_id = buf.get_var()?;
	let namespace = decode_namespace(buf)?;
	let track = buf.get_string("Track Name")?;
	let track_alias = buf.get_var()?;
	let mut parameters = Parameters::decode_with(buf, draft)?;
	let largest = largest(&mut parameters)?;
	let forward = forward(&mut parameters)?;
	let (extensions, group_order) = publisher_order(buf, &mut parameters, draft)?;
	Ok(Publish {
		request_id,
		namespace,
		track,
		track_alias,
		largest,
		forward,
		group_order,
		parameters,
		extensions,
	})
}

fn encode_publish<B: BufMut>(m: &Publish, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
	use param::*;
	let mut out = Out::new(&m.parameters, &order_field(&[LARGEST_OBJECT, FORWARD], draft))?;
	out.largest(m.largest);
	out.forward(m.forward);
	out.publisher_order(m.group_order, draft);
	buf.put_var(m.request_id);
	encode_namespace(buf, &m.namespace)?;
	buf.put_string(&m.track)?;
	buf.put_var(m.track_alias);
	out.write(buf, draft)?;
	encode_publisher_order(buf, &m.extensions, m.group_order, draft)
}

fn decode_publish_ok<B: Buf>(buf: &mut B, draft: Draft) -> Result<PublishOk, DecodeError> {
	let request_id = buf.get_var()?;
	let mut parameters = Parameters::decode_with(buf, draft)?;
	Ok(PublishOk {
		request_id,
		forward: forward(&mut parameters)?,
		priority: priority(&mut parameters)?,
		filter: filter(&mut parameters)?,
		group_order: group_order(&mut parameters)?,
		parameters,
	})
}

fn encode_publish_ok<B: BufMut>(m: &PublishOk, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
	use param::*;
	let mut out = Out::new(
		&m.parameters,
		&[FORWARD, SUBSCRIBER_PRIORITY, SUBSCRIPTION_FILTER, GROUP_ORDER],
	)?;
	out.forward(m.forward);
	out.priority(m.priority);
	out.filter(&m.filter);
	out.group_order(m.group_order);
	buf.put_var(m.request_id);
	out.write(buf, draft)
}

fn decode_fetch<B: Buf>(buf: &mut B, draft: Draft) -> Result<Fetch, DecodeError> {
	let request_id = buf.get_var()?;
	let fetch_type = FetchType::decode(buf)?;
	let mut parameters = Parameters::decode_with(buf, draft)?;
	Ok(Fetch {
		request_id,
		fetch_type,
		priority: priority(&mut parameters)?,
		group_order: group_order(&mut parameters)?,
		parameters,
	})
}

fn encode_fetch<B: BufMut>(m: &Fetch, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
	use param::*;
	let mut out = Out::new(&m.parameters, &[SUBSCRIBER_PRIORITY, GROUP_ORDER])?;
	out.priority(m.priority);
	out.group_order(m.group_order);
	buf.put_var(m.request_id);
	m.fetch_type.encode(buf)?;
	out.write(buf, draft)
}

fn decode_fetch_ok<B: Buf>(buf: &mut B, draft: Draft) -> Result<FetchOk, DecodeError> {
	let request_id = buf.get_var()?;
	let end_of_track = get_flag(buf, "End Of Track")?;
	let end = Location::decode(buf)?;
	let mut parameters = Parameters::decode_with(buf, draft)?;
	let (extensions, group_order) = publisher_order(buf, &mut parameters, draft)?;
	Ok(FetchOk {
		request_id,
		end_of_track,
		end,
		group_order,
		parameters,
		extensions,
	})
}

fn encode_fetch_ok<B: BufMut>(m: &FetchOk, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
	buf.put_var(m.request_id);
	buf.put_bool(m.end_of_track);
	m.end.encode(buf);
	let mut out = Out::new(&m.parameters, &order_field(&[], draft))?;
	out.publisher_order(m.group_order, draft);
	out.write(buf, draft)?;
	encode_publisher_order(buf, &m.extensions, m.group_order, draft)
}

fn decode_subscribe_namespace<B: Buf>(buf: &mut B, draft: Draft) -> Result<SubscribeNamespace, DecodeError> {
	let request_id = buf.get_var()?;
	let prefix = decode_namespace(buf)?;
	// Subscribe Options came with draft-16's stream of its own.
	let options = match draft.namespace_streams() {
		true => Some(buf.get_var()?),
		false => None,
	};
	Ok(SubscribeNamespace {
		request_id,
		prefix,
		options,
		parameters: Parameters::decode_with(buf, draft)?,
	})
}

fn encode_subscribe_namespace<B: BufMut>(m: &SubscribeNamespace, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
	buf.put_var(m.request_id);
	encode_namespace(buf, &m.prefix)?;
	match (m.options, draft.namespace_streams()) {
		(Some(options), true) => buf.put_var(options),
		(None, false) => {}
		(None, true) => {
			return Err(EncodeError::InvalidValue {
				field: "Subscribe Options",
				reason: "draft-16's SUBSCRIBE_NAMESPACE has them",
			});
		}
		(Some(_), false) => {
			return Err(EncodeError::InvalidValue {
				field: "Subscribe Options",
				reason: "draft-15's SUBSCRIBE_NAMESPACE has none",
			});
		}
	}
	m.parameters.encode_with(buf, draft)
}

fn decode_publish_namespace<B: Buf>(buf: &mut B, draft: Draft) -> Result<PublishNamespace, DecodeError> {
	Ok(PublishNamespace {
		request_id: buf.get_var()?,
		namespace: decode_namespace(buf)?,
		parameters: Parameters::decode_with(buf, draft)?,
	})
}

fn decode_request_ok<B: Buf>(buf: &mut B, draft: Draft) -> Result<RequestOk, DecodeError> {
	Ok(RequestOk {
		request_id: buf.get_var()?,
		parameters: Parameters::decode_with(buf, draft)?,
	})
}

/// Reads the body of a draft-16 message of type `ty`.
pub(crate) fn decode_body(draft: Draft, ty: VarInt, body: &mut Bytes) -> Result<ControlMessage, DecodeError> {
	use ControlMessage as M;
	if !draft.namespace_streams() {
		// Draft-15 keeps draft-14's namespace messages and has no NAMESPACE or NAMESPACE_DONE.
		match ty.into_inner() {
			0x9 => return Ok(M::PublishNamespaceDone(decode_namespace(body)?)),
			0xC => return Ok(M::PublishNamespaceCancel(PublishNamespaceCancel::decode_body(body)?)),
			0x14 => return Ok(M::UnsubscribeNamespace(body.get_var()?)),
			0x8 | 0xE => {
				return Err(DecodeError::UnknownMessageType {
					message: "draft-15 control message",
					ty,
				});
			}
			_ => {}
		}
	}
	Ok(match ty.into_inner() {
		0x2 => M::SubscribeUpdate(decode_update(body, draft)?),
		0x3 => M::Subscribe(decode_subscribe(body, draft)?),
		0x4 => M::SubscribeOk(decode_subscribe_ok(body, draft)?),
		0x5 => M::RequestError(decode_request_error(body, draft)?),
		0x6 => M::PublishNamespace(decode_publish_namespace(body, draft)?),
		0x7 => M::RequestOk(decode_request_ok(body, draft)?),
		0x8 => M::Namespace(decode_namespace(body)?),
		0x9 => M::PublishNamespaceDoneRequest(body.get_var()?),
		0xA => M::Unsubscribe(body.get_var()?),
		0xB => M::PublishDone(PublishDone::decode_body(body)?),
		0xC => M::PublishNamespaceCancelRequest(decode_cancel(body)?),
		0xD => M::TrackStatus(decode_subscribe(body, draft)?),
		0xE => M::NamespaceDone(decode_namespace(body)?),
		0x10 => M::Goaway(super::control::decode_goaway(body)?),
		0x11 => M::SubscribeNamespace(decode_subscribe_namespace(body, draft)?),
		0x15 => M::MaxRequestId(body.get_var()?),
		0x16 => M::Fetch(decode_fetch(body, draft)?),
		0x17 => M::FetchCancel(body.get_var()?),
		0x18 => M::FetchOk(decode_fetch_ok(body, draft)?),
		0x1A => M::RequestsBlocked(body.get_var()?),
		0x1D => M::Publish(decode_publish(body, draft)?),
		0x1E => M::PublishOk(decode_publish_ok(body, draft)?),
		_ => {
			return Err(DecodeError::UnknownMessageType {
				message: "draft-16 control message",
				ty,
			});
		}
	})
}

/// The draft-16 type a message is written with, if it has a draft-16 form:
/// draft-14's answers become REQUEST_OK (0x7) and REQUEST_ERROR (0x5).
pub(crate) fn wire_type(message: &ControlMessage, draft: Draft) -> Option<u32> {
	use ControlMessage as M;
	if !draft.namespace_streams() {
		// Draft-15: draft-14's namespace messages; draft-16's do not exist.
		match message {
			M::PublishNamespaceDone(_) | M::PublishNamespaceCancel(_) | M::UnsubscribeNamespace(_) => {
				return Some(message.type_id().into_inner() as u32);
			}
			M::Namespace(_)
			| M::NamespaceDone(_)
			| M::PublishNamespaceDoneRequest(_)
			| M::PublishNamespaceCancelRequest(_) => return None,
			_ => {}
		}
	}
	Some(match message {
		M::PublishNamespaceOk(_) | M::SubscribeNamespaceOk(_) | M::RequestOk(_) => 0x7,
		M::SubscribeError(_)
		| M::PublishNamespaceError(_)
		| M::TrackStatusError(_)
		| M::SubscribeNamespaceError(_)
		| M::FetchError(_)
		| M::PublishError(_)
		| M::RequestError(_) => 0x5,
		M::Namespace(_) => 0x8,
		M::PublishNamespaceDoneRequest(_) => 0x9,
		M::PublishNamespaceCancelRequest(_) => 0xC,
		M::NamespaceDone(_) => 0xE,
		// Named by their namespace in draft-14, by a Request ID in draft-16; no
		// UNSUBSCRIBE_NAMESPACE (the stream's end) and no TRACK_STATUS_OK.
		M::PublishNamespaceDone(_)
		| M::PublishNamespaceCancel(_)
		| M::UnsubscribeNamespace(_)
		| M::TrackStatusOk(_) => {
			return None;
		}
		other => other.type_id().into_inner() as u32,
	})
}

/// Writes the body of `message` in its draft-16 form (see [`wire_type`]).
pub(crate) fn encode_body(message: &ControlMessage, body: &mut Vec<u8>, draft: Draft) -> Result<(), EncodeError> {
	use ControlMessage as M;
	match message {
		// Draft-15's, in draft-14's form ([`wire_type`] refuses them on draft-16).
		M::PublishNamespaceDone(ns) if !draft.namespace_streams() => encode_namespace(body, ns),
		M::PublishNamespaceCancel(m) if !draft.namespace_streams() => m.encode_body(body),
		M::UnsubscribeNamespace(id) if !draft.namespace_streams() => {
			body.put_var(*id);
			Ok(())
		}
		M::SubscribeUpdate(m) => encode_update(m, body, draft),
		M::Subscribe(m) | M::TrackStatus(m) => encode_subscribe(m, body, draft),
		M::SubscribeOk(m) => encode_subscribe_ok(m, body, draft),
		M::SubscribeError(m)
		| M::PublishNamespaceError(m)
		| M::TrackStatusError(m)
		| M::SubscribeNamespaceError(m)
		| M::FetchError(m)
		| M::PublishError(m)
		| M::RequestError(m) => encode_request_error(m, body, draft),
		M::PublishNamespace(m) => {
			body.put_var(m.request_id);
			encode_namespace(body, &m.namespace)?;
			m.parameters.encode_with(body, draft)
		}
		M::PublishNamespaceOk(id) | M::SubscribeNamespaceOk(id) => {
			body.put_var(*id);
			Parameters::default().encode_with(body, draft)
		}
		M::RequestOk(m) => {
			body.put_var(m.request_id);
			m.parameters.encode_with(body, draft)
		}
		M::Namespace(ns) | M::NamespaceDone(ns) => encode_namespace(body, ns),
		M::PublishNamespaceDoneRequest(id)
		| M::Unsubscribe(id)
		| M::MaxRequestId(id)
		| M::FetchCancel(id)
		| M::RequestsBlocked(id) => {
			body.put_var(*id);
			Ok(())
		}
		M::PublishNamespaceCancelRequest(m) => encode_cancel(m, body),
		M::PublishDone(m) => m.encode_body(body),
		M::Goaway(uri) => super::control::encode_goaway(body, uri),
		M::SubscribeNamespace(m) => encode_subscribe_namespace(m, body, draft),
		M::Fetch(m) => encode_fetch(m, body, draft),
		M::FetchOk(m) => encode_fetch_ok(m, body, draft),
		M::Publish(m) => encode_publish(m, body, draft),
		M::PublishOk(m) => encode_publish_ok(m, body, draft),
		M::PublishNamespaceDone(_)
		| M::PublishNamespaceCancel(_)
		| M::UnsubscribeNamespace(_)
		| M::TrackStatusOk(_) => Err(EncodeError::InvalidValue {
			field: message.name(),
			reason: "draft-16 has no such form",
		}),
	}
}

#[cfg(test)]
mod tests {
	const D16: Draft = Draft::Draft16;

	use super::*;
	use crate::ietf::{ClientSetup, DecodeWith, EncodeWith, ServerSetup, SetupParameters};

	fn v(n: u64) -> VarInt {
		VarInt::from_u64(n).unwrap()
	}

	/// `Type (i) | Length (16) | body`.
	fn framed(ty: u8, body: &[u8]) -> Vec<u8> {
		let mut out = vec![ty];
		out.extend_from_slice(&(body.len() as u16).to_be_bytes());
		out.extend_from_slice(body);
		out
	}

	fn read(bytes: &[u8]) -> ControlMessage {
		let (message, used) = ControlMessage::decode_prefix(bytes, D16).unwrap();
		assert_eq!(used, bytes.len());
		message
	}

	/// The bodies the published client's own tests pin for draft-16.
	#[test]
	fn the_published_clients_vectors() {
		// SUBSCRIBE_OK: Request ID 7, Track Alias 42, one parameter, LARGEST_OBJECT {9, 3}.
		let ok = SubscribeOk {
			request_id: v(7),
			track_alias: v(42),
			expires: VarInt::ZERO,
			group_order: GroupOrder::Original,
			largest: Some(Location::new(v(9), v(3))),
			parameters: Parameters::default(),
			extensions: Vec::new(),
		};
		let bytes = framed(0x4, &[7, 42, 1, 0x09, 0x02, 0x09, 0x03]);
		assert_eq!(ControlMessage::SubscribeOk(ok.clone()).to_bytes(D16).unwrap(), bytes);
		assert_eq!(read(&bytes), ControlMessage::SubscribeOk(ok));

		// REQUEST_OK with EXPIRES 5.
		let bytes = framed(0x7, &[0x07, 0x01, 0x08, 0x05]);
		let ControlMessage::RequestOk(ok) = read(&bytes) else {
			panic!("not a REQUEST_OK");
		};
		assert_eq!(ok.request_id, v(7));
		assert_eq!(ok.parameters.0, vec![KeyValue::int(0x08, v(5))]);

		// A libquicr relay's SUBSCRIBE_OK: EXPIRES 0, then five Track Extensions
		// whose types are delta-coded (2, 4, 0xe, 0x22, 0x30).
		let body = [
			0x02, 0xde, 0x53, 0x15, 0xbf, 0xd6, 0x39, 0x31, 0x88, 0x01, 0x08, 0x00, 0x02, 0x00, 0x02, 0x00, 0x0a, 0x01,
			0x14, 0x01, 0x0e, 0x01,
		];
		let ControlMessage::SubscribeOk(ok) = read(&framed(0x4, &body)) else {
			panic!("not a SUBSCRIBE_OK");
		};
		assert_eq!(ok.request_id, v(2));
		// DEFAULT_PUBLISHER_GROUP_ORDER (0x22) 1 is the publisher's Group Order.
		let types: Vec<u64> = ok.extensions.iter().map(|p| p.key.into_inner()).collect();
		assert_eq!(types, [0x2, 0x4, 0xe, 0x30]);
		assert_eq!(ok.group_order, GroupOrder::Ascending);
		// EXPIRES 0 is the default, so the re-encoding leaves it out.
		let again = ControlMessage::SubscribeOk(ok.clone()).to_bytes(D16).unwrap();
		assert_eq!(read(&again), ControlMessage::SubscribeOk(ok));
	}

	/// SUBSCRIBE's fields as parameters, checked by hand against draft-16 §9.9
	/// and the published client's parameter numbers.
	#[test]
	fn subscribe_fields_are_parameters() {
		let subscribe = Subscribe {
			request_id: v(1),
			namespace: vec!["anon".into()],
			track: "t".into(),
			priority: 7,
			group_order: GroupOrder::Descending,
			forward: false,
			filter: Filter::NextGroupStart,
			parameters: Parameters(vec![KeyValue::int(0x2, v(1000))]),
		};
		let bytes = ControlMessage::Subscribe(subscribe.clone()).to_bytes(D16).unwrap();
		#[rustfmt::skip]
		let body = [
			0x01, // Request ID
			0x01, 0x04, b'a', b'n', b'o', b'n', // Track Namespace
			0x01, b't', // Track Name
			0x05, // five parameters, in ascending type order, delta-coded:
			0x02, 0x43, 0xe8, // DELIVERY_TIMEOUT (0x2) 1000
			0x0e, 0x00, // FORWARD (0x10) 0
			0x10, 0x07, // SUBSCRIBER_PRIORITY (0x20) 7
			0x01, 0x01, 0x01, // SUBSCRIPTION_FILTER (0x21): Next Group Start
			0x01, 0x02, // GROUP_ORDER (0x22) descending
		];
		assert_eq!(bytes, framed(0x3, &body));
		assert_eq!(read(&bytes), ControlMessage::Subscribe(subscribe.clone()));

		// Absent fields take their defaults: forward, priority 128, from the start.
		let bare = framed(0x3, &[0x01, 0x00, 0x01, b't', 0x00]);
		let ControlMessage::Subscribe(read_bare) = read(&bare) else {
			panic!("not a SUBSCRIBE");
		};
		assert!(read_bare.forward);
		assert_eq!(read_bare.priority, 128);
		assert_eq!(read_bare.filter, Filter::AbsoluteStart(Location::default()));
		assert_eq!(read_bare.group_order, GroupOrder::Original);
		assert_eq!(ControlMessage::Subscribe(read_bare).to_bytes(D16).unwrap(), bare);

		// A field said twice, or a field's parameter beside the field, is refused.
		let twice = framed(0x3, &[0x01, 0x00, 0x01, b't', 0x02, 0x10, 0x00, 0x00, 0x00]);
		assert_eq!(
			ControlMessage::decode_prefix(&twice, D16),
			Err(DecodeError::DuplicateParameter { id: param::FORWARD })
		);
		let mut both = subscribe;
		both.parameters.0.push(KeyValue::int(0x10, v(1)));
		assert!(ControlMessage::Subscribe(both).to_bytes(D16).is_err());
	}

	/// Draft-15: draft-16's request fields and answers with draft-14's absolute Key-Value-Pair
	/// types and namespace messages, no Retry Interval and no Track Extensions.
	#[test]
	fn draft15_forms() {
		const D15: Draft = Draft::Draft15;
		let read15 = |bytes: &[u8]| {
			let (message, used) = ControlMessage::decode_prefix(bytes, D15).unwrap();
			assert_eq!(used, bytes.len());
			message
		};
		// The published client's own draft-15 SUBSCRIBE_OK vector: Request ID 7, Track Alias 42,
		// one parameter, GROUP_ORDER (0x22) 2; nothing after.
		let ok = SubscribeOk {
			request_id: v(7),
			track_alias: v(42),
			expires: VarInt::ZERO,
			group_order: GroupOrder::Descending,
			largest: None,
			parameters: Parameters::default(),
			extensions: Vec::new(),
		};
		let bytes = framed(0x4, &[7, 42, 1, 0x22, 0x02]);
		assert_eq!(ControlMessage::SubscribeOk(ok.clone()).to_bytes(D15).unwrap(), bytes);
		assert_eq!(read15(&bytes), ControlMessage::SubscribeOk(ok.clone()));
		// Draft-16 reads the same bytes as a parameter 0x22 and no Track Extensions: another value.
		assert_ne!(read(&bytes), ControlMessage::SubscribeOk(ok.clone()));
		// Track Extensions cannot be written on draft-15, nor read after the parameters.
		let with = SubscribeOk {
			extensions: vec![KeyValue::int(0x2, v(1))],
			..ok
		};
		assert!(ControlMessage::SubscribeOk(with).to_bytes(D15).is_err());
		assert!(ControlMessage::decode_prefix(&framed(0x4, &[7, 42, 0, 0x02, 0x01]), D15).is_err());

		// Absolute types, in any order: GROUP_ORDER (0x22) 2 before FORWARD (0x10) 1.
		let subscribe = framed(0x3, &[0x00, 0x01, 0x01, b'a', 0x01, b't', 0x02, 0x22, 0x02, 0x10, 0x01]);
		let ControlMessage::Subscribe(m) = read15(&subscribe) else {
			panic!("a SUBSCRIBE")
		};
		assert_eq!((m.group_order, m.forward), (GroupOrder::Descending, true));
		let written = ControlMessage::Subscribe(m.clone()).to_bytes(D15).unwrap();
		assert_eq!(
			written,
			framed(0x3, &[0x00, 0x01, 0x01, b'a', 0x01, b't', 0x01, 0x22, 0x02])
		);

		// REQUEST_ERROR has no Retry Interval; one that is not 0 cannot be written.
		let refusal = RequestError {
			request_id: v(4),
			code: v(0x10),
			reason: "no".into(),
			retry_interval: VarInt::ZERO,
		};
		let bytes = ControlMessage::SubscribeError(refusal.clone()).to_bytes(D15).unwrap();
		assert_eq!(bytes, framed(0x5, &[0x04, 0x10, 0x02, b'n', b'o']));
		assert_eq!(read15(&bytes), ControlMessage::RequestError(refusal.clone()));
		let retry = RequestError {
			retry_interval: v(5),
			..refusal
		};
		assert!(ControlMessage::RequestError(retry).to_bytes(D15).is_err());
		// REQUEST_OK answers PUBLISH_NAMESPACE and SUBSCRIBE_NAMESPACE.
		assert_eq!(
			ControlMessage::SubscribeNamespaceOk(v(3)).to_bytes(D15).unwrap(),
			framed(0x7, &[0x03, 0x00])
		);

		// Namespace messages are draft-14's.
		let prefix = framed(0x11, &[0x02, 0x01, 0x01, b'a', 0x00]);
		let ControlMessage::SubscribeNamespace(request) = read15(&prefix) else {
			panic!("a SUBSCRIBE_NAMESPACE")
		};
		assert_eq!(
			(request.options, request.prefix.as_slice()),
			(None, &["a".to_string()][..])
		);
		assert_eq!(
			ControlMessage::SubscribeNamespace(request).to_bytes(D15).unwrap(),
			prefix
		);
		let done = ControlMessage::PublishNamespaceDone(vec!["a".into()]);
		assert_eq!(done.to_bytes(D15).unwrap(), framed(0x9, &[0x01, 0x01, b'a']));
		assert_eq!(read15(&done.to_bytes(D15).unwrap()), done);
		let unsubscribe = ControlMessage::UnsubscribeNamespace(v(2));
		assert_eq!(unsubscribe.to_bytes(D15).unwrap(), framed(0x14, &[0x02]));
		assert_eq!(read15(&framed(0x14, &[0x02])), unsubscribe);
		assert!(matches!(
			read15(&framed(0xC, &[0x01, 0x01, b'a', 0x01, 0x00])),
			ControlMessage::PublishNamespaceCancel(_)
		));
		for ty in [0x8, 0xE, 0xF, 0x12, 0x13, 0x19, 0x1F] {
			assert!(
				matches!(
					ControlMessage::decode_prefix(&framed(ty, &[0x00, 0x00]), D15),
					Err(DecodeError::UnknownMessageType { .. })
				),
				"{ty:#x}"
			);
		}
		for message in [
			ControlMessage::Namespace(vec!["a".into()]),
			ControlMessage::PublishNamespaceDoneRequest(v(1)),
		] {
			assert!(message.to_bytes(D15).is_err(), "{message:?}");
		}
	}

	/// The publisher's Group Order is a Track Extension in SUBSCRIBE_OK; GROUP_ORDER 0 is refused.
	#[test]
	fn group_order_forms() {
		let ok = SubscribeOk {
			request_id: v(1),
			track_alias: v(2),
			expires: VarInt::ZERO,
			group_order: GroupOrder::Descending,
			largest: None,
			parameters: Parameters::default(),
			extensions: Vec::new(),
		};
		let bytes = ControlMessage::SubscribeOk(ok.clone()).to_bytes(D16).unwrap();
		// No parameters, then DEFAULT_PUBLISHER_GROUP_ORDER (0x22) 2.
		assert_eq!(bytes, framed(0x4, &[0x01, 0x02, 0x00, 0x22, 0x02]));
		assert_eq!(read(&bytes), ControlMessage::SubscribeOk(ok));
		for bad in [0x00, 0x03] {
			let bytes = framed(0x4, &[0x01, 0x02, 0x00, 0x22, bad]);
			assert!(matches!(
				ControlMessage::decode_prefix(&bytes, D16),
				Err(DecodeError::InvalidValue { .. })
			));
			let bytes = framed(0x3, &[0x01, 0x00, 0x01, b't', 0x01, 0x22, bad]);
			assert!(matches!(
				ControlMessage::decode_prefix(&bytes, D16),
				Err(DecodeError::InvalidValue {
					field: "GROUP_ORDER",
					..
				})
			));
		}
	}

	#[test]
	fn answers_are_request_ok_and_request_error() {
		let ok = ControlMessage::PublishNamespaceOk(v(4)).to_bytes(D16).unwrap();
		assert_eq!(ok, framed(0x7, &[0x04, 0x00]));
		assert_eq!(
			read(&ok),
			ControlMessage::RequestOk(RequestOk {
				request_id: v(4),
				parameters: Parameters::default(),
			})
		);
		let refusal = RequestError {
			request_id: v(4),
			code: v(1),
			reason: "no".into(),
			retry_interval: v(5000),
		};
		let bytes = ControlMessage::PublishNamespaceError(refusal.clone())
			.to_bytes(D16)
			.unwrap();
		assert_eq!(bytes, framed(0x5, &[0x04, 0x01, 0x53, 0x88, 0x02, b'n', b'o']));
		assert_eq!(read(&bytes), ControlMessage::RequestError(refusal.clone()));
		// Draft-14's refusals have no Retry Interval.
		assert!(
			ControlMessage::PublishNamespaceError(refusal)
				.to_bytes(Draft::Draft14)
				.is_err()
		);

		// Draft-16 names the namespace of PUBLISH_NAMESPACE_DONE by its request.
		assert_eq!(
			read(&framed(0x9, &[0x04])),
			ControlMessage::PublishNamespaceDoneRequest(v(4))
		);
		assert!(
			ControlMessage::PublishNamespaceDone(vec!["a".into()])
				.to_bytes(D16)
				.is_err()
		);
		assert!(
			ControlMessage::PublishNamespaceDoneRequest(v(4))
				.to_bytes(Draft::Draft14)
				.is_err()
		);
		// Types draft-16 retired are unknown there.
		for ty in [0x12, 0x13, 0x14, 0x19, 0x1F, 0xF] {
			assert!(matches!(
				ControlMessage::decode_prefix(&framed(ty, &[0x00]), D16),
				Err(DecodeError::UnknownMessageType { .. })
			));
		}
	}

	#[test]
	fn subscribe_namespace_stream_messages() {
		let request = SubscribeNamespace {
			request_id: v(0),
			prefix: vec!["anon".into()],
			options: Some(v(1)),
			parameters: Parameters::default(),
		};
		let bytes = ControlMessage::SubscribeNamespace(request.clone())
			.to_bytes(D16)
			.unwrap();
		assert_eq!(
			bytes,
			framed(0x11, &[0x00, 0x01, 0x04, b'a', b'n', b'o', b'n', 0x01, 0x00])
		);
		assert_eq!(read(&bytes), ControlMessage::SubscribeNamespace(request));
		let found = ControlMessage::Namespace(vec!["room".into()]);
		let bytes = found.to_bytes(D16).unwrap();
		assert_eq!(bytes, framed(0x8, &[0x01, 0x04, b'r', b'o', b'o', b'm']));
		assert_eq!(read(&bytes), found);
		let gone = ControlMessage::NamespaceDone(vec!["room".into()]);
		assert_eq!(read(&gone.to_bytes(D16).unwrap()), gone);
		assert!(ControlMessage::UnsubscribeNamespace(v(0)).to_bytes(D16).is_err());
	}

	/// Draft-16's fetch objects (Serialization Flags, relative to the previous object) are not
	/// implemented: refused both ways rather than read in draft-14's form.
	#[test]
	fn fetch_objects_are_refused() {
		use crate::ietf::{FetchObject, ObjectStatus};
		let object = FetchObject {
			group: v(1),
			subgroup: v(0),
			object: v(0),
			priority: 0,
			extensions: Vec::new(),
			status: ObjectStatus::Normal,
			payload: Bytes::from_static(b"x"),
		};
		let draft14 = object.to_bytes(Draft::Draft14).unwrap();
		assert!(object.to_bytes(D16).is_err());
		assert!(matches!(
			FetchObject::decode_prefix(&draft14, D16),
			Err(DecodeError::InvalidValue { .. })
		));
	}

	/// CLIENT_SETUP lists no versions; the parameter types are delta-coded in
	/// ascending order whatever order they were given in.
	#[test]
	fn setup_has_no_versions_and_delta_coded_parameters() {
		let client = ClientSetup {
			versions: Vec::new(),
			parameters: SetupParameters(vec![
				KeyValue::bytes(7, &b"x"[..]),
				KeyValue::bytes(1, &b"/a"[..]),
				KeyValue::int(2, v(100)),
			]),
		};
		let bytes = client.to_bytes(D16).unwrap();
		#[rustfmt::skip]
		assert_eq!(bytes, [
			0x20, 0x00, 0x0b,
			0x03, // three parameters
			0x01, 0x02, b'/', b'a', // PATH (1)
			0x01, 0x40, 0x64, // MAX_REQUEST_ID (1 + 1 = 2) 100
			0x05, 0x01, b'x', // MOQT_IMPLEMENTATION (2 + 5 = 7)
		]);
		let (back, _) = ClientSetup::decode_prefix(&bytes, D16).unwrap();
		assert_eq!(back.parameters.path(), Some("/a"));
		assert_eq!(back.parameters.max_request_id(), v(100));
		assert_eq!(back.parameters.implementation(), Some("x"));
		assert!(back.versions.is_empty());
		// A version list is draft-14's.
		let offered = ClientSetup {
			versions: vec![v(Draft::Draft16.setup_version())],
			parameters: SetupParameters::default(),
		};
		assert!(offered.to_bytes(D16).is_err());

		let server = ServerSetup {
			version: v(Draft::Draft16.setup_version()),
			parameters: SetupParameters(vec![KeyValue::int(2, v(64))]),
		};
		let bytes = server.to_bytes(D16).unwrap();
		assert_eq!(bytes, [0x21, 0x00, 0x04, 0x01, 0x02, 0x40, 0x40]);
		assert_eq!(ServerSetup::decode_prefix(&bytes, D16).unwrap().0, server);
		// The same parameter twice is a zero delta, refused for a known one.
		let twice = [0x21, 0x00, 0x05, 0x02, 0x02, 0x01, 0x00, 0x02];
		assert_eq!(
			ServerSetup::decode_prefix(&twice, D16),
			Err(DecodeError::DuplicateParameter { id: v(2) })
		);
	}
}
