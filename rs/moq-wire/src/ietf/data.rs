//! Data streams and datagrams (draft-14 §10): the header that opens each
//! unidirectional data stream, the objects that follow it, and OBJECT_DATAGRAM.

use bytes::{Buf, BufMut, Bytes};

use super::coding::{KeyValue, decode_extensions, encode_extensions, get_var_in, put_var_in};
use super::draft::{DecodeWith, Draft, EncodeWith};
use crate::coding::{BufExt, BufMutExt};
use crate::{DecodeError, EncodeError, VarInt};

/// FETCH_HEADER's stream type.
const FETCH_HEADER: u64 = 0x05;

/// PADDING's stream type (draft-18 §11.5): bytes to discard.
pub const PADDING_STREAM: u64 = 0x132B_3E28;

/// The FIRST_OBJECT bit of a draft-18 subgroup stream type (draft-18 §11.4.2).
const FIRST_OBJECT: u64 = 0x40;

/// Object Status (draft-14 §10.2.1.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ObjectStatus {
	/// 0x0: a normal object (implicit for a non-empty payload).
	#[default]
	Normal,
	/// 0x1: the object does not exist and never will.
	DoesNotExist,
	/// 0x3: the group ended before this Object ID.
	EndOfGroup,
	/// 0x4: the track ended.
	EndOfTrack,
}

impl ObjectStatus {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		Ok(match get_var_in(buf, draft)?.into_inner() {
			0x0 => Self::Normal,
			0x1 => Self::DoesNotExist,
			0x3 => Self::EndOfGroup,
			0x4 => Self::EndOfTrack,
			// draft-14 §10.2.1.1: any other value is a PROTOCOL_VIOLATION.
			value => {
				return Err(DecodeError::InvalidValue {
					field: "Object Status",
					value,
				});
			}
		})
	}

	fn encode<B: BufMut>(self, buf: &mut B, draft: Draft) {
		let value = match self {
			Self::Normal => 0x0,
			Self::DoesNotExist => 0x1,
			Self::EndOfGroup => 0x3,
			Self::EndOfTrack => 0x4,
		};
		put_var_in(buf, draft, VarInt::from_u32(value));
	}
}

/// How a SUBGROUP_HEADER gives the Subgroup ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubgroupId {
	/// Not on the wire: 0.
	Zero,
	/// Not on the wire: the first object's Object ID.
	FirstObject,
	/// On the wire.
	Explicit(VarInt),
}

/// SUBGROUP_HEADER (types 0x10–0x15, 0x18–0x1D; and 0x30–0x35, 0x38–0x3D
/// without a Publisher Priority, which the published client also reads on draft-14;
/// on draft-18 each also with the FIRST_OBJECT bit 0x40: 0x50–0x5D, 0x70–0x7D).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubgroupHeader {
	/// The Track Alias from SUBSCRIBE_OK or PUBLISH.
	pub track_alias: VarInt,
	/// The Group ID.
	pub group: VarInt,
	/// The Subgroup ID.
	pub subgroup: SubgroupId,
	/// Publisher Priority (8); `None` for the types without one.
	pub priority: Option<u8>,
	/// Every object on the stream carries an extension block.
	pub extensions: bool,
	/// The last object before FIN is the last of its group.
	pub end_of_group: bool,
	/// The stream carries the subgroup from its first object (draft-18's FIRST_OBJECT
	/// bit). Drafts without the bit have no such signal: read as `true`, not written.
	pub first_object: bool,
}

impl SubgroupHeader {
	/// The stream type this header is sent with on draft-14 and draft-16
	/// ([`stream_type_in`](Self::stream_type_in) adds draft-18's FIRST_OBJECT bit).
	pub fn stream_type(&self) -> u64 {
		let mut ty = if self.priority.is_some() { 0x10 } else { 0x30 };
		if self.extensions {
			ty |= 0x01;
		}
		match self.subgroup {
			SubgroupId::Zero => {}
			SubgroupId::FirstObject => ty |= 0x02,
			SubgroupId::Explicit(_) => ty |= 0x04,
		}
		if self.end_of_group {
			ty |= 0x08;
		}
		ty
	}

	/// The stream type this header is sent with on `draft`.
	pub fn stream_type_in(&self, draft: Draft) -> u64 {
		match draft.first_object_bit() && self.first_object {
			true => self.stream_type() | FIRST_OBJECT,
			false => self.stream_type(),
		}
	}

	/// The context its objects are read in.
	pub fn context(&self, draft: Draft) -> SubgroupContext {
		SubgroupContext {
			draft,
			extensions: self.extensions,
		}
	}
}

/// What opens a unidirectional data stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataStreamHeader {
	/// A subgroup of a subscription; [`SubgroupObject`]s follow.
	Subgroup(SubgroupHeader),
	/// FETCH_HEADER (0x05) with the fetch's Request ID; [`FetchObject`]s follow.
	Fetch(VarInt),
	/// Draft-18's PADDING stream (type 0x132B3E28, §11.5): what follows is discarded.
	Padding,
}

impl DecodeWith<Draft> for DataStreamHeader {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		let ty = get_var_in(buf, draft)?.into_inner();
		if ty == FETCH_HEADER {
			return Ok(Self::Fetch(get_var_in(buf, draft)?));
		}
		if ty == PADDING_STREAM && draft.padding_stream() {
			return Ok(Self::Padding);
		}
		// Draft-18 §11.4.2: the FIRST_OBJECT bit beside the draft-16 types (not on draft-17).
		let (ty, first_object) = match draft.first_object_bit() {
			true => (ty & !FIRST_OBJECT, ty & FIRST_OBJECT != 0),
			false => (ty, true),
		};
		let (has_priority, base) = match ty {
			0x10..=0x1D => (true, ty - 0x10),
			0x30..=0x3D => (false, ty - 0x30),
			// draft-14 §10: an unknown stream type closes the session.
			value => {
				return Err(DecodeError::InvalidValue {
					field: "data stream type",
					value,
				});
			}
		};
		// 0x6/0x7 (and 0xE/0xF) would name the Subgroup ID both ways.
		if base & 0x06 == 0x06 {
			return Err(DecodeError::InvalidValue {
				field: "data stream type",
				value: ty,
			});
		}
		let track_alias = get_var_in(buf, draft)?;
		let group = get_var_in(buf, draft)?;
		let subgroup = match base & 0x06 {
			0x00 => SubgroupId::Zero,
			0x02 => SubgroupId::FirstObject,
			_ => SubgroupId::Explicit(get_var_in(buf, draft)?),
		};
		let priority = match has_priority {
			true => Some(buf.get_byte()?),
			false => None,
		};
		Ok(Self::Subgroup(SubgroupHeader {
			track_alias,
			group,
			subgroup,
			priority,
			extensions: base & 0x01 != 0,
			end_of_group: base & 0x08 != 0,
			first_object,
		}))
	}
}

impl EncodeWith<Draft> for DataStreamHeader {
	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		match self {
			Self::Fetch(request_id) => {
				put_var_in(buf, draft, VarInt::from_u32(FETCH_HEADER as u32));
				put_var_in(buf, draft, *request_id);
			}
			Self::Padding if draft.padding_stream() => {
				put_var_in(buf, draft, VarInt::from_u32(PADDING_STREAM as u32));
			}
			Self::Padding => {
				return Err(EncodeError::InvalidValue {
					field: "PADDING stream",
					reason: "only draft-18 has it",
				});
			}
			Self::Subgroup(h) => {
				// At most 0x7D.
				put_var_in(buf, draft, VarInt::from_u32(h.stream_type_in(draft) as u32));
				put_var_in(buf, draft, h.track_alias);
				put_var_in(buf, draft, h.group);
				if let SubgroupId::Explicit(id) = h.subgroup {
					put_var_in(buf, draft, id);
				}
				if let Some(priority) = h.priority {
					buf.put_u8(priority);
				}
			}
		}
		Ok(())
	}
}

/// The context of a subgroup stream's objects: the draft, and whether the
/// header said every object carries an extension block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubgroupContext {
	/// The negotiated draft.
	pub draft: Draft,
	/// The header's Extensions Present.
	pub extensions: bool,
}

/// Checks an object's status, payload and extensions against draft-14 §10.2.1.
fn check_object(status: ObjectStatus, payload: &Bytes, extensions: &[KeyValue]) -> Result<(), &'static str> {
	if status != ObjectStatus::Normal && !payload.is_empty() {
		return Err("an object with a status has no payload");
	}
	if status == ObjectStatus::DoesNotExist && !extensions.is_empty() {
		return Err("an object that does not exist has no extension headers");
	}
	Ok(())
}

/// `Object Payload Length (i) | [Object Status (i)] | Object Payload`.
fn decode_payload<B: Buf>(
	buf: &mut B,
	extensions: &[KeyValue],
	draft: Draft,
) -> Result<(Bytes, ObjectStatus), DecodeError> {
	let len = get_var_in(buf, draft)?.into_inner();
	if len == 0 {
		let status = ObjectStatus::decode(buf, draft)?;
		if status == ObjectStatus::DoesNotExist && !extensions.is_empty() {
			// draft-14 §10.2.1.2: PROTOCOL_VIOLATION.
			return Err(DecodeError::InvalidValue {
				field: "Object Status with extension headers",
				value: 1,
			});
		}
		return Ok((Bytes::new(), status));
	}
	Ok((buf.get_raw(len)?, ObjectStatus::Normal))
}

fn encode_payload<B: BufMut>(buf: &mut B, payload: &Bytes, status: ObjectStatus, draft: Draft) {
	// At most the buffer's size, below 2^62.
	put_var_in(buf, draft, VarInt::try_from(payload.len()).unwrap_or(VarInt::MAX));
	if payload.is_empty() {
		status.encode(buf, draft);
	} else {
		buf.put_slice(payload);
	}
}

/// An object on a subgroup stream: `Object ID Delta (i) | [Extensions] |
/// Object Payload Length (i) | [Object Status (i)] | Object Payload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubgroupObject {
	/// The Object ID Delta: the first object's ID, then the gap minus one.
	pub id_delta: VarInt,
	/// The extension headers (only when the header said so).
	pub extensions: Vec<KeyValue>,
	/// The Object Status ([`ObjectStatus::Normal`] for a payload).
	pub status: ObjectStatus,
	/// The payload (empty with any other status).
	pub payload: Bytes,
}

impl DecodeWith<SubgroupContext> for SubgroupObject {
	fn decode<B: Buf>(buf: &mut B, ctx: SubgroupContext) -> Result<Self, DecodeError> {
		let id_delta = get_var_in(buf, ctx.draft)?;
		let extensions = match ctx.extensions {
			true => decode_extensions(buf, ctx.draft)?,
			false => Vec::new(),
		};
		let (payload, status) = decode_payload(buf, &extensions, ctx.draft)?;
		Ok(Self {
			id_delta,
			extensions,
			status,
			payload,
		})
	}
}

impl EncodeWith<SubgroupContext> for SubgroupObject {
	fn encode<B: BufMut>(&self, buf: &mut B, ctx: SubgroupContext) -> Result<(), EncodeError> {
		if !ctx.extensions && !self.extensions.is_empty() {
			return Err(EncodeError::InvalidValue {
				field: "extension headers",
				reason: "the SUBGROUP_HEADER type has no extensions",
			});
		}
		check_object(self.status, &self.payload, &self.extensions).map_err(|reason| EncodeError::InvalidValue {
			field: "object",
			reason,
		})?;
		let mut out = Vec::new();
		put_var_in(&mut out, ctx.draft, self.id_delta);
		if ctx.extensions {
			encode_extensions(&mut out, &self.extensions, ctx.draft)?;
		}
		encode_payload(&mut out, &self.payload, self.status, ctx.draft);
		buf.put_slice(&out);
		Ok(())
	}
}

/// A subgroup object's fields before its payload, for a driver that streams the payload
/// (`Object ID Delta | [Extensions] | Object Payload Length | [Object Status]`): the
/// [`SubgroupObject`] it starts is this header followed by `payload_len` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubgroupObjectHeader {
	/// The Object ID Delta.
	pub id_delta: VarInt,
	/// The extension headers (only when the stream's header said so).
	pub extensions: Vec<KeyValue>,
	/// The Object Status (only [`ObjectStatus::Normal`] with a payload).
	pub status: ObjectStatus,
	/// How many payload bytes follow.
	pub payload_len: VarInt,
}

impl SubgroupObject {
	/// The header this object starts with.
	pub fn header(&self) -> SubgroupObjectHeader {
		SubgroupObjectHeader {
			id_delta: self.id_delta,
			extensions: self.extensions.clone(),
			status: self.status,
			// At most the buffer's size, below 2^62.
			payload_len: VarInt::try_from(self.payload.len()).unwrap_or(VarInt::MAX),
		}
	}
}

impl DecodeWith<SubgroupContext> for SubgroupObjectHeader {
	fn decode<B: Buf>(buf: &mut B, ctx: SubgroupContext) -> Result<Self, DecodeError> {
		let id_delta = get_var_in(buf, ctx.draft)?;
		let extensions = match ctx.extensions {
			true => decode_extensions(buf, ctx.draft)?,
			false => Vec::new(),
		};
		let payload_len = get_var_in(buf, ctx.draft)?;
		let status = match payload_len.into_inner() {
			0 => {
				let status = ObjectStatus::decode(buf, ctx.draft)?;
				if status == ObjectStatus::DoesNotExist && !extensions.is_empty() {
					return Err(DecodeError::InvalidValue {
						field: "Object Status with extension headers",
						value: 1,
					});
				}
				status
			}
			_ => ObjectStatus::Normal,
		};
		Ok(Self {
			id_delta,
			extensions,
			status,
			payload_len,
		})
	}
}

impl EncodeWith<SubgroupContext> for SubgroupObjectHeader {
	fn encode<B: BufMut>(&self, buf: &mut B, ctx: SubgroupContext) -> Result<(), EncodeError> {
		if !ctx.extensions && !self.extensions.is_empty() {
			return Err(EncodeError::InvalidValue {
				field: "extension headers",
				reason: "the SUBGROUP_HEADER type has no extensions",
			});
		}
		if self.payload_len != VarInt::ZERO && self.status != ObjectStatus::Normal {
			return Err(EncodeError::InvalidValue {
				field: "object",
				reason: "an object with a status has no payload",
			});
		}
		check_object(self.status, &Bytes::new(), &self.extensions).map_err(|reason| EncodeError::InvalidValue {
			field: "object",
			reason,
		})?;
		let mut out = Vec::new();
		put_var_in(&mut out, ctx.draft, self.id_delta);
		if ctx.extensions {
			encode_extensions(&mut out, &self.extensions, ctx.draft)?;
		}
		put_var_in(&mut out, ctx.draft, self.payload_len);
		if self.payload_len == VarInt::ZERO {
			self.status.encode(&mut out, ctx.draft);
		}
		buf.put_slice(&out);
		Ok(())
	}
}

/// An object on a fetch stream: `Group ID (i) | Subgroup ID (i) | Object ID (i) |
/// Publisher Priority (8) | Extensions | Object Payload Length (i) | [Object Status (i)] | Payload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchObject {
	/// The Group ID.
	pub group: VarInt,
	/// The Subgroup ID (the Object ID for a datagram object).
	pub subgroup: VarInt,
	/// The Object ID.
	pub object: VarInt,
	/// Publisher Priority (8).
	pub priority: u8,
	/// The extension headers (the block is always present, maybe empty).
	pub extensions: Vec<KeyValue>,
	/// The Object Status.
	pub status: ObjectStatus,
	/// The payload.
	pub payload: Bytes,
}

/// Draft-15 and draft-16 serialize a fetch object behind Serialization Flags, relative to the
/// object before it on the stream (draft-16 §10.4.4); this codec reads and writes draft-14's form
/// only.
const NO_DRAFT16_FETCH_OBJECTS: &str = "draft-15/16 fetch objects (Serialization Flags) are not implemented";

impl DecodeWith<Draft> for FetchObject {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		draft.decode_form("fetch object (draft-18 data streams are not implemented)")?;
		if draft.fields_as_parameters() {
			let flags = buf.get_var()?.into_inner();
			return Err(DecodeError::InvalidValue {
				field: NO_DRAFT16_FETCH_OBJECTS,
				value: flags,
			});
		}
		let group = buf.get_var()?;
		let subgroup = buf.get_var()?;
		let object = buf.get_var()?;
		let priority = buf.get_byte()?;
		let extensions = decode_extensions(buf, draft)?;
		let (payload, status) = decode_payload(buf, &extensions, draft)?;
		Ok(Self {
			group,
			subgroup,
			object,
			priority,
			extensions,
			status,
			payload,
		})
	}
}

impl EncodeWith<Draft> for FetchObject {
	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		draft.encode_form("fetch object (draft-18 data streams are not implemented)")?;
		if draft.fields_as_parameters() {
			return Err(EncodeError::InvalidValue {
				field: "FETCH object",
				reason: NO_DRAFT16_FETCH_OBJECTS,
			});
		}
		check_object(self.status, &self.payload, &self.extensions).map_err(|reason| EncodeError::InvalidValue {
			field: "object",
			reason,
		})?;
		let mut out = Vec::new();
		out.put_var(self.group);
		out.put_var(self.subgroup);
		out.put_var(self.object);
		out.put_u8(self.priority);
		encode_extensions(&mut out, &self.extensions, draft)?;
		encode_payload(&mut out, &self.payload, self.status, draft);
		buf.put_slice(&out);
		Ok(())
	}
}

/// Writes the objects of a fetch stream after its FETCH_HEADER, on every draft: in ascending
/// Group ID order, Object IDs contiguous within a group, subgroup 0, no extensions or properties
/// (what the relay serves). Draft-14 writes every field of every object; from draft-15 on each
/// object's Serialization Flags name only what differs from the object before it (draft-16
/// §10.4.4; draft-18 "Fetch Header", where the Group ID field becomes a delta): the first object
/// of each group carries its Group ID, Object ID (and the first of the stream its Publisher
/// Priority), the next ones of the group nothing but their length. Sans-I/O: it gives the bytes
/// before each payload, and the payload follows them on the stream.
#[derive(Clone, Debug)]
pub struct FetchObjects {
	draft: Draft,
	/// The last object's Group ID and Object ID.
	prior: Option<(u64, u64)>,
}

impl FetchObjects {
	/// A fetch stream of `draft` whose first object is still to come.
	pub fn new(draft: Draft) -> Self {
		Self { draft, prior: None }
	}

	/// The fields before the payload of the object `(group, object)`, `payload_len` bytes long,
	/// with Publisher Priority `priority`. An object out of order (a group below the last one, or
	/// an Object ID that is not the next in its group) is refused: this writer's flags cannot
	/// say it.
	pub fn header(
		&mut self,
		(group, object): (u64, u64),
		priority: u8,
		payload_len: u64,
	) -> Result<Vec<u8>, EncodeError> {
		let draft = self.draft;
		let var = |value: u64| {
			VarInt::from_u64(value).map_err(|_| EncodeError::InvalidValue {
				field: "fetch object",
				reason: "an ID beyond 2^62",
			})
		};
		let next_in_group = match self.prior {
			Some((g, o)) if g == group && o.checked_add(1) == Some(object) => true,
			Some((g, _)) if g >= group => {
				return Err(EncodeError::InvalidValue {
					field: "fetch object",
					reason: "objects out of order",
				});
			}
			_ => false,
		};
		let mut out = Vec::with_capacity(16);
		if !draft.fetch_serialization_flags() {
			out.put_var(var(group)?);
			out.put_var(VarInt::ZERO);
			out.put_var(var(object)?);
			out.put_u8(priority);
			encode_extensions(&mut out, &[], draft)?;
		} else {
			let (mut flags, mut fields) = (0u64, Vec::with_capacity(12));
			if !next_in_group {
				// A new group: its Group ID (or, from draft-18 on after the first object, the gap
				// minus one) and its first Object ID.
				let group_field = match self.prior {
					Some((g, _)) if draft.fetch_group_delta() => group - g - 1,
					_ => group,
				};
				flags |= FETCH_GROUP | FETCH_OBJECT;
				put_var_in(&mut fields, draft, var(group_field)?);
				put_var_in(&mut fields, draft, var(object)?);
				if self.prior.is_none() {
					flags |= FETCH_PRIORITY;
					fields.put_u8(priority);
				}
			}
			put_var_in(&mut out, draft, VarInt::from_u32(flags as u32));
			out.extend_from_slice(&fields);
		}
		put_var_in(&mut out, draft, var(payload_len)?);
		if payload_len == 0 && draft.fetch_object_status() {
			ObjectStatus::Normal.encode(&mut out, draft);
		}
		self.prior = Some((group, object));
		Ok(out)
	}
}

/// Serialization Flags: the Object ID field is present.
const FETCH_OBJECT: u64 = 0x04;
/// Serialization Flags: the Group ID field is present.
const FETCH_GROUP: u64 = 0x08;
/// Serialization Flags: the Publisher Priority is present.
const FETCH_PRIORITY: u64 = 0x10;

/// Serialization Flags: the two low bits, how the Subgroup ID is given.
const FETCH_SUBGROUP: u64 = 0x03;
/// Serialization Flags: the Extensions (Properties, draft-17 on) field is present.
const FETCH_EXTENSIONS: u64 = 0x20;
/// Serialization Flags: the object was sent as a datagram; it has no Subgroup ID.
const FETCH_DATAGRAM: u64 = 0x40;
/// Serialization Flags values that are an End of Range, not flags: End of Non-Existent Range
/// (0x8C), End of Unknown Range (0x10C), and the published client's third, timed out (0x20C).
const FETCH_END_OF_RANGE: [u64; 3] = [0x8C, 0x10C, 0x20C];

/// How a fetch object gives its Subgroup ID (the two low bits of its Serialization Flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchSubgroup {
	/// Subgroup 0.
	Zero,
	/// The prior object's.
	Prior,
	/// The prior object's plus one.
	PriorPlusOne,
	/// The Subgroup ID field.
	Explicit(VarInt),
	/// A datagram object: none.
	Datagram,
}

/// One entry of a fetch stream up to its payload, as the wire has it (the fields absent from
/// an object refer to the object before it; [`FetchReader`] resolves them): an object, or from
/// draft-16 on an End of Range marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchEntry {
	/// An object; `payload_len` bytes of payload follow.
	Object {
		/// The Group ID (a delta from draft-18 on), if present.
		group: Option<VarInt>,
		/// How the Subgroup ID is given.
		subgroup: FetchSubgroup,
		/// The Object ID (a delta from draft-18 on, unless the Group ID is present), if present.
		object: Option<VarInt>,
		/// The Publisher Priority, if present.
		priority: Option<u8>,
		/// The Extensions (Properties, draft-17 on) block as it came, without its length, if
		/// present (always on draft-14). The relay stamps what it fetches itself and reads none.
		extensions: Option<Bytes>,
		/// The Object Status ([`ObjectStatus::Normal`] with a payload, and on drafts whose
		/// empty fetch objects carry none).
		status: ObjectStatus,
		/// How many payload bytes follow.
		payload_len: VarInt,
	},
	/// Every location after the prior object up to this one, inclusive, does not exist or is
	/// not known: a fetch answered with holes.
	EndOfRange {
		/// The Serialization Flags value that says which: 0x8C, 0x10C or 0x20C.
		marker: u64,
		/// The Group ID field (a delta from draft-18 on).
		group: VarInt,
		/// The Object ID field.
		object: VarInt,
	},
}

impl DecodeWith<Draft> for FetchEntry {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		if !draft.fetch_serialization_flags() {
			// Draft-14: every field of every object.
			let group = buf.get_var()?;
			let subgroup = buf.get_var()?;
			let object = buf.get_var()?;
			let priority = buf.get_byte()?;
			let extensions = extension_block(buf, draft)?;
			let (status, payload_len) = fetch_payload_len(buf, draft)?;
			return Ok(Self::Object {
				group: Some(group),
				subgroup: FetchSubgroup::Explicit(subgroup),
				object: Some(object),
				priority: Some(priority),
				extensions: Some(extensions),
				status,
				payload_len,
			});
		}
		let flags = get_var_in(buf, draft)?.into_inner();
		if flags >= 0x80 {
			if !FETCH_END_OF_RANGE.contains(&flags) {
				return Err(DecodeError::InvalidValue {
					field: "Serialization Flags",
					value: flags,
				});
			}
			let group = get_var_in(buf, draft)?;
			let object = get_var_in(buf, draft)?;
			return Ok(Self::EndOfRange {
				marker: flags,
				group,
				object,
			});
		}
		let present = |flag: u64| flags & flag != 0;
		let group = present(FETCH_GROUP).then(|| get_var_in(buf, draft)).transpose()?;
		let subgroup = match (present(FETCH_DATAGRAM), flags & FETCH_SUBGROUP) {
			(true, _) => FetchSubgroup::Datagram,
			(false, 0) => FetchSubgroup::Zero,
			(false, 1) => FetchSubgroup::Prior,
			(false, 2) => FetchSubgroup::PriorPlusOne,
			(false, _) => FetchSubgroup::Explicit(get_var_in(buf, draft)?),
		};
		let object = present(FETCH_OBJECT).then(|| get_var_in(buf, draft)).transpose()?;
		let priority = present(FETCH_PRIORITY).then(|| buf.get_byte()).transpose()?;
		let extensions = present(FETCH_EXTENSIONS)
			.then(|| extension_block(buf, draft))
			.transpose()?;
		let (status, payload_len) = fetch_payload_len(buf, draft)?;
		Ok(Self::Object {
			group,
			subgroup,
			object,
			priority,
			extensions,
			status,
			payload_len,
		})
	}
}

impl EncodeWith<Draft> for FetchEntry {
	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		let mut out = Vec::new();
		match self {
			Self::EndOfRange { marker, group, object } => {
				if !draft.fetch_serialization_flags() || !FETCH_END_OF_RANGE.contains(marker) {
					return Err(EncodeError::InvalidValue {
						field: "End of Range",
						reason: "no such marker on this draft",
					});
				}
				put_var_in(&mut out, draft, VarInt::from_u32(*marker as u32));
				put_var_in(&mut out, draft, *group);
				put_var_in(&mut out, draft, *object);
			}
			Self::Object {
				group,
				subgroup,
				object,
				priority,
				extensions,
				status,
				payload_len,
			} => {
				if draft.fetch_serialization_flags() {
					put_fetch_flagged(&mut out, (group, subgroup, object, priority, extensions), draft)?;
				} else {
					// Draft-14: every field.
					let (
						Some(group),
						FetchSubgroup::Explicit(subgroup),
						Some(object),
						Some(priority),
						Some(extensions),
					) = (group, subgroup, object, priority, extensions)
					else {
						return Err(EncodeError::InvalidValue {
							field: "fetch object",
							reason: "draft-14 writes every field",
						});
					};
					out.put_var(*group);
					out.put_var(*subgroup);
					out.put_var(*object);
					out.put_u8(*priority);
					put_extension_block(&mut out, extensions, draft)?;
				}
				put_fetch_payload_len(&mut out, *status, *payload_len, draft)?;
			}
		}
		buf.put_slice(&out);
		Ok(())
	}
}

/// A fetch object's fields from draft-15 on: its Serialization Flags, then the fields they name.
fn put_fetch_flagged(
	out: &mut Vec<u8>,
	(group, subgroup, object, priority, extensions): FetchFields<'_>,
	draft: Draft,
) -> Result<(), EncodeError> {
	let mut flags = match subgroup {
		FetchSubgroup::Zero => 0,
		FetchSubgroup::Prior => 1,
		FetchSubgroup::PriorPlusOne => 2,
		FetchSubgroup::Explicit(_) => 3,
		FetchSubgroup::Datagram => FETCH_DATAGRAM,
	};
	let flag = |present: bool, flag: u64| if present { flag } else { 0 };
	flags |= flag(group.is_some(), FETCH_GROUP)
		| flag(object.is_some(), FETCH_OBJECT)
		| flag(priority.is_some(), FETCH_PRIORITY)
		| flag(extensions.is_some(), FETCH_EXTENSIONS);
	put_var_in(out, draft, VarInt::from_u32(flags as u32));
	if let Some(group) = group {
		put_var_in(out, draft, *group);
	}
	if let FetchSubgroup::Explicit(subgroup) = subgroup {
		put_var_in(out, draft, *subgroup);
	}
	if let Some(object) = object {
		put_var_in(out, draft, *object);
	}
	if let Some(priority) = priority {
		out.put_u8(*priority);
	}
	if let Some(extensions) = extensions {
		put_extension_block(out, extensions, draft)?;
	}
	Ok(())
}

/// The optional fields of a [`FetchEntry::Object`]: Group ID, Subgroup, Object ID, priority and
/// extension block.
type FetchFields<'a> = (
	&'a Option<VarInt>,
	&'a FetchSubgroup,
	&'a Option<VarInt>,
	&'a Option<u8>,
	&'a Option<Bytes>,
);

/// An object's extension (properties) block, without its length.
fn extension_block<B: Buf>(buf: &mut B, draft: Draft) -> Result<Bytes, DecodeError> {
	let len = get_var_in(buf, draft)?.into_inner();
	buf.get_raw(len)
}

fn put_extension_block(out: &mut Vec<u8>, block: &Bytes, draft: Draft) -> Result<(), EncodeError> {
	let len = VarInt::try_from(block.len()).map_err(|_| EncodeError::InvalidValue {
		field: "fetch object extensions",
		reason: "longer than 2^62 bytes",
	})?;
	put_var_in(out, draft, len);
	out.extend_from_slice(block);
	Ok(())
}

/// `Object Payload Length | [Object Status]` of a fetch object: a status only after an empty
/// payload on drafts that carry one, and no status but Normal with a payload.
fn put_fetch_payload_len(
	out: &mut Vec<u8>,
	status: ObjectStatus,
	payload_len: VarInt,
	draft: Draft,
) -> Result<(), EncodeError> {
	let carried = payload_len == VarInt::ZERO && draft.fetch_object_status();
	if !carried && status != ObjectStatus::Normal {
		return Err(EncodeError::InvalidValue {
			field: "fetch object",
			reason: "a status other than Normal needs an empty payload on a draft that carries one",
		});
	}
	put_var_in(out, draft, payload_len);
	if carried {
		status.encode(out, draft);
	}
	Ok(())
}

/// `Object Payload Length | [Object Status]` of a fetch object.
fn fetch_payload_len<B: Buf>(buf: &mut B, draft: Draft) -> Result<(ObjectStatus, VarInt), DecodeError> {
	let payload_len = get_var_in(buf, draft)?;
	let status = match payload_len == VarInt::ZERO && draft.fetch_object_status() {
		true => ObjectStatus::decode(buf, draft)?,
		false => ObjectStatus::Normal,
	};
	Ok((status, payload_len))
}

/// Where a fetch stream's entry is, once the fields it left out are taken from the entry before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchLocation {
	/// An object: its Group ID, Subgroup ID (`None` for a datagram object) and Object ID.
	Object {
		/// The Group ID.
		group: u64,
		/// The Subgroup ID.
		subgroup: Option<u64>,
		/// The Object ID.
		object: u64,
	},
	/// An End of Range marker at this Group ID and Object ID.
	EndOfRange {
		/// The Group ID.
		group: u64,
		/// The Object ID.
		object: u64,
	},
}

/// Reads the locations of a fetch stream's entries in order, for a FETCH that asked for its
/// groups in ascending order (draft-16 "Fetch Header"; draft-18 on, Group ID Delta and Object ID
/// Delta): an absent field is the prior object's (the Object ID its plus one), and an entry that
/// leaves out a field while there is no prior one to take it from is a protocol violation.
/// Sans-I/O, the inverse of [`FetchObjects`].
#[derive(Clone, Debug)]
pub struct FetchReader {
	draft: Draft,
	/// The prior entry's Group ID and Object ID.
	prior: Option<(u64, u64)>,
	/// The prior object's Subgroup ID (`None` before any, or after a datagram object).
	subgroup: Option<u64>,
	/// Whether an object with a Publisher Priority came before.
	priority: bool,
}

impl FetchReader {
	/// A fetch stream of `draft` whose first entry is still to come.
	pub fn new(draft: Draft) -> Self {
		Self {
			draft,
			prior: None,
			subgroup: None,
			priority: false,
		}
	}

	/// The location of `entry`, the next on the stream.
	pub fn locate(&mut self, entry: &FetchEntry) -> Result<FetchLocation, &'static str> {
		let deltas = self.draft.fetch_group_delta();
		let overflow = "a fetch object's ID beyond 2^64";
		let (group_field, object_field) = match entry {
			FetchEntry::Object { group, object, .. } => (group.map(VarInt::into_inner), object.map(VarInt::into_inner)),
			FetchEntry::EndOfRange { group, object, .. } => (Some(group.into_inner()), Some(object.into_inner())),
		};
		let group = match (group_field, self.prior) {
			(Some(delta), Some((prior, _))) if deltas => delta
				.checked_add(1)
				.and_then(|step| prior.checked_add(step))
				.ok_or(overflow)?,
			(Some(group), _) => group,
			(None, Some((prior, _))) => prior,
			(None, None) => return Err("the first fetch object leaves out its Group ID"),
		};
		let object = match (object_field, self.prior) {
			(Some(object), _) if group_field.is_some() || !deltas => object,
			(Some(delta), Some((_, prior))) => prior.checked_add(delta).ok_or(overflow)?,
			(None, Some((_, prior))) => prior.checked_add(1).ok_or(overflow)?,
			(_, None) => return Err("the first fetch object leaves out its Object ID"),
		};
		let FetchEntry::Object { subgroup, priority, .. } = entry else {
			self.prior = Some((group, object));
			return Ok(FetchLocation::EndOfRange { group, object });
		};
		if priority.is_none() && !self.priority {
			return Err("a fetch object leaves out its Publisher Priority with none before it");
		}
		let prior_subgroup = || {
			self.subgroup
				.ok_or("a fetch object refers to a prior Subgroup ID that is not there")
		};
		let subgroup = match subgroup {
			FetchSubgroup::Zero => Some(0),
			FetchSubgroup::Prior => Some(prior_subgroup()?),
			FetchSubgroup::PriorPlusOne => Some(prior_subgroup()?.checked_add(1).ok_or(overflow)?),
			FetchSubgroup::Explicit(id) => Some(id.into_inner()),
			FetchSubgroup::Datagram => None,
		};
		self.prior = Some((group, object));
		self.subgroup = subgroup;
		self.priority |= priority.is_some();
		Ok(FetchLocation::Object {
			group,
			subgroup,
			object,
		})
	}
}

/// What follows an OBJECT_DATAGRAM's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatagramBody {
	/// Types without the STATUS bit (0x00–0x0F): the rest of the datagram is the payload.
	Payload(Bytes),
	/// Types with the STATUS bit (0x20, 0x21, and from draft-15 on 0x24, 0x25, 0x28, 0x29,
	/// 0x2C, 0x2D): an Object Status and no payload.
	Status(ObjectStatus),
}

/// The bits of an OBJECT_DATAGRAM's Type (draft-16 §10.3.1 and later; draft-14 defines the
/// types 0x00–0x07, 0x20 and 0x21 only). The published client reads every combination from
/// draft-15 on (draft-15's text lists 0x24 and 0x25 but not yet DEFAULT_PRIORITY), so the relay
/// does too.
mod datagram_bit {
	pub const EXTENSIONS: u64 = 0x01;
	pub const END_OF_GROUP: u64 = 0x02;
	pub const ZERO_OBJECT_ID: u64 = 0x04;
	pub const DEFAULT_PRIORITY: u64 = 0x08;
	pub const STATUS: u64 = 0x20;
	/// Every bit a Type may have.
	pub const ALL: u64 = EXTENSIONS | END_OF_GROUP | ZERO_OBJECT_ID | DEFAULT_PRIORITY | STATUS;
}

/// Whether `ty` is an OBJECT_DATAGRAM Type of `draft`: a status never ends the group.
fn datagram_type_valid(ty: u64, draft: Draft) -> bool {
	use datagram_bit::*;
	match draft.number() {
		14 => ty <= 0x07 || ty == 0x20 || ty == 0x21,
		_ => ty & !ALL == 0 && !(ty & STATUS != 0 && ty & END_OF_GROUP != 0),
	}
}

/// OBJECT_DATAGRAM (draft-14 §10.3.1): one object in one QUIC datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectDatagram {
	/// The Track Alias.
	pub track_alias: VarInt,
	/// The Group ID.
	pub group: VarInt,
	/// The Object ID; `None` when the type omits it (the ID is then 0).
	pub object: Option<VarInt>,
	/// Publisher Priority (8); `None` when the Type's DEFAULT_PRIORITY bit omits it (draft-15
	/// on): the object takes the priority of the subscription it belongs to.
	pub priority: Option<u8>,
	/// The object is the last of its group (payload types only).
	pub end_of_group: bool,
	/// The extension headers (present on the wire iff not empty: an empty block
	/// with the Extensions bit is a PROTOCOL_VIOLATION).
	pub extensions: Vec<KeyValue>,
	/// The payload or the status.
	pub body: DatagramBody,
}

impl ObjectDatagram {
	/// The Object ID (0 when omitted).
	pub fn object_id(&self) -> VarInt {
		self.object.unwrap_or(VarInt::ZERO)
	}

	fn datagram_type(&self, draft: Draft) -> Result<u64, EncodeError> {
		use datagram_bit::*;
		let mut ty = u64::from(!self.extensions.is_empty());
		if self.end_of_group {
			ty |= END_OF_GROUP;
		}
		if self.object.is_none() {
			ty |= ZERO_OBJECT_ID;
		}
		if self.priority.is_none() {
			ty |= DEFAULT_PRIORITY;
		}
		if let DatagramBody::Status(_) = self.body {
			ty |= STATUS;
		}
		match datagram_type_valid(ty, draft) {
			true => Ok(ty),
			false => Err(EncodeError::InvalidValue {
				field: "OBJECT_DATAGRAM",
				reason: "a status datagram has no End of Group; draft-14 has neither a default priority nor a status without an Object ID",
			}),
		}
	}
}

/// A datagram is complete by construction: a field running past its end is
/// malformed ([`DecodeError::ShortBody`]), never "need more bytes".
impl DecodeWith<Draft> for ObjectDatagram {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		let body = || DecodeError::ShortBody {
			message: "OBJECT_DATAGRAM",
		};
		let short = |err| match err {
			DecodeError::UnexpectedEnd => body(),
			err => err,
		};
		let ty = get_var_in(buf, draft).map_err(short)?.into_inner();
		if !datagram_type_valid(ty, draft) {
			return Err(DecodeError::InvalidValue {
				field: "datagram type",
				value: ty,
			});
		}
		let status = ty & datagram_bit::STATUS != 0;
		let track_alias = get_var_in(buf, draft).map_err(short)?;
		let group = get_var_in(buf, draft).map_err(short)?;
		let object = match ty & datagram_bit::ZERO_OBJECT_ID == 0 {
			true => Some(get_var_in(buf, draft).map_err(short)?),
			false => None,
		};
		let priority = match ty & datagram_bit::DEFAULT_PRIORITY == 0 {
			true => Some(buf.get_byte().map_err(short)?),
			false => None,
		};
		let extensions = match ty & datagram_bit::EXTENSIONS != 0 {
			true => {
				let ext = decode_extensions(buf, draft).map_err(short)?;
				if ext.is_empty() {
					// draft-14 §10.3.1: PROTOCOL_VIOLATION.
					return Err(DecodeError::InvalidValue {
						field: "Extension Headers Length",
						value: 0,
					});
				}
				ext
			}
			false => Vec::new(),
		};
		let body = match status {
			true => {
				let status = ObjectStatus::decode(buf, draft).map_err(short)?;
				if status == ObjectStatus::DoesNotExist && !extensions.is_empty() {
					return Err(DecodeError::InvalidValue {
						field: "Object Status with extension headers",
						value: 1,
					});
				}
				if buf.has_remaining() {
					return Err(DecodeError::TrailingBytes {
						message: "OBJECT_DATAGRAM",
						extra: buf.remaining(),
					});
				}
				DatagramBody::Status(status)
			}
			false => DatagramBody::Payload(buf.copy_to_bytes(buf.remaining())),
		};
		Ok(Self {
			track_alias,
			group,
			object,
			priority,
			end_of_group: ty & datagram_bit::END_OF_GROUP != 0,
			extensions,
			body,
		})
	}
}

impl EncodeWith<Draft> for ObjectDatagram {
	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		let ty = self.datagram_type(draft)?;
		if let DatagramBody::Status(status) = self.body {
			check_object(status, &Bytes::new(), &self.extensions).map_err(|reason| EncodeError::InvalidValue {
				field: "object",
				reason,
			})?;
		}
		let mut out = Vec::new();
		put_var_in(&mut out, draft, VarInt::from_u32(ty as u32));
		put_var_in(&mut out, draft, self.track_alias);
		put_var_in(&mut out, draft, self.group);
		if let Some(object) = self.object {
			put_var_in(&mut out, draft, object);
		}
		if let Some(priority) = self.priority {
			out.put_u8(priority);
		}
		if !self.extensions.is_empty() {
			encode_extensions(&mut out, &self.extensions, draft)?;
		}
		match &self.body {
			DatagramBody::Payload(payload) => out.put_slice(payload),
			DatagramBody::Status(status) => status.encode(&mut out, draft),
		}
		buf.put_slice(&out);
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	/// Reads a fetch stream's entries: each entry's location, status and payload length, the
	/// payloads (`len` bytes of `0xAA` after each header) skipped.
	fn read_fetch_stream(mut bytes: &[u8], draft: Draft) -> Result<Vec<(FetchLocation, ObjectStatus, u64)>, String> {
		let mut reader = FetchReader::new(draft);
		let mut read = Vec::new();
		while !bytes.is_empty() {
			let (entry, used) = FetchEntry::decode_prefix(bytes, draft).map_err(|e| e.to_string())?;
			bytes = &bytes[used..];
			let location = reader.locate(&entry).map_err(str::to_string)?;
			let (status, len) = match entry {
				FetchEntry::Object {
					status, payload_len, ..
				} => (status, payload_len.into_inner()),
				FetchEntry::EndOfRange { .. } => (ObjectStatus::DoesNotExist, 0),
			};
			bytes = &bytes[len as usize..];
			read.push((location, status, len));
		}
		Ok(read)
	}

	/// What [`FetchObjects`] writes, [`FetchEntry`] and [`FetchReader`] read back at every draft:
	/// the same locations and payload lengths, across two groups.
	#[test]
	fn fetch_entries_read_back_what_the_writer_wrote() {
		let objects = [
			((5u64, 0u64), 3u64),
			((5, 1), 2),
			((7, 0), 0),
			((7, 1), 4),
			((300, 0), 1),
		];
		for draft in Draft::ALL {
			let mut writer = FetchObjects::new(draft);
			let mut stream = Vec::new();
			for ((location, len), _) in objects.iter().zip(0..) {
				stream.extend(writer.header(*location, 9, *len).unwrap());
				stream.extend(std::iter::repeat_n(0xAA, *len as usize));
			}
			let read = read_fetch_stream(&stream, draft).unwrap();
			let expected: Vec<_> = objects
				.iter()
				.map(|((group, object), len)| {
					let at = FetchLocation::Object {
						group: *group,
						subgroup: Some(0),
						object: *object,
					};
					(at, ObjectStatus::Normal, *len)
				})
				.collect();
			assert_eq!(read, expected, "{draft:?}");
		}
	}

	/// The forms the writer never uses but a publisher may: the published client's properties
	/// block on every object, an Object ID Delta (draft-18 on) or an absolute Object ID (before),
	/// subgroups given by the prior one, a datagram object, an End of Range; and the refusals: a
	/// first object that refers to a prior one, an unknown value of 128 or more.
	#[test]
	fn fetch_entries_in_the_forms_a_publisher_may_send() {
		let object = |group, subgroup, object| FetchLocation::Object {
			group,
			subgroup,
			object,
		};
		let n = ObjectStatus::Normal;
		// Group, Object ID, priority and properties (two bytes), then only properties.
		let published: &[u8] = &[0x3C, 5, 0, 0, 2, 0xEE, 0xEE, 1, 0xAA, 0x20, 2, 0xEE, 0xEE, 1, 0xAA];
		for draft in [Draft::Draft16, Draft::Draft18, Draft::Draft20] {
			let read = read_fetch_stream(published, draft).unwrap();
			assert_eq!(
				read,
				[(object(5, Some(0), 0), n, 1), (object(5, Some(0), 1), n, 1)],
				"{draft:?}"
			);
		}
		// An Object ID field without a Group ID: a delta from draft-18 on, the ID before.
		let skipping: &[u8] = &[0x1C, 5, 0, 0, 1, 0xAA, 0x04, 3, 1, 0xAA];
		assert_eq!(
			read_fetch_stream(skipping, Draft::Draft16).unwrap()[1].0,
			object(5, Some(0), 3)
		);
		assert_eq!(
			read_fetch_stream(skipping, Draft::Draft18).unwrap()[1].0,
			object(5, Some(0), 3)
		);
		let delta: &[u8] = &[0x1C, 5, 2, 0, 1, 0xAA, 0x04, 3, 1, 0xAA];
		assert_eq!(
			read_fetch_stream(delta, Draft::Draft18).unwrap()[1].0,
			object(5, Some(0), 5)
		);
		// Subgroup 4 given, then the prior one, then the prior plus one; then a datagram object
		// (flags 0x40, a two-byte varint).
		let subgroups: &[u8] = &[0x1F, 5, 4, 0, 0, 0, 0x01, 0, 0x02, 0, 0x40, 0x40, 0];
		let read = read_fetch_stream(subgroups, Draft::Draft16).unwrap();
		let at: Vec<_> = read.iter().map(|r| r.0).collect();
		assert_eq!(
			at,
			[
				object(5, Some(4), 0),
				object(5, Some(4), 1),
				object(5, Some(5), 2),
				object(5, None, 3)
			]
		);
		// End of Non-Existent Range at (5, 9), then an object after it.
		let holes: &[u8] = &[0x1C, 5, 0, 0, 1, 0xAA, 0x40, 0x8C, 5, 9, 0x00, 0];
		let read = read_fetch_stream(holes, Draft::Draft16).unwrap();
		assert_eq!(read[1].0, FetchLocation::EndOfRange { group: 5, object: 9 });
		assert_eq!(read[2].0, object(5, Some(0), 10));
		// Refused: a first object without its Group ID, Object ID or priority; a prior subgroup
		// that is not there; a value of 128 or more that is no End of Range.
		for (bytes, why) in [
			(&[0x14, 0, 0, 0][..], "no Group ID"),
			(&[0x18, 5, 0, 0][..], "no Object ID"),
			(&[0x0C, 5, 0, 0][..], "no priority"),
			(&[0x1D, 5, 0, 0, 0][..], "no prior subgroup"),
			(&[0x40, 0x81, 0][..], "an unknown value"),
		] {
			assert!(read_fetch_stream(bytes, Draft::Draft16).is_err(), "{why}");
		}
		// Draft-14 gives every field, and an empty object its status.
		let d14: &[u8] = &[5, 2, 7, 0, 0, 0, 1];
		let read = read_fetch_stream(d14, Draft::Draft14).unwrap();
		assert_eq!(read, [(object(5, Some(2), 7), ObjectStatus::DoesNotExist, 0)]);
	}

	/// A fetch stream's objects in each draft's form: draft-14 every field, draft-15 on
	/// Serialization Flags naming what differs from the object before (the Group ID absolute to
	/// draft-17, a delta from draft-18 on), an empty payload's status only on draft-14 and -15.
	#[test]
	fn fetch_objects_in_each_form() {
		let objects = [((5u64, 0u64), 3u64), ((5, 1), 2), ((7, 0), 0)];
		let cases: [(Draft, [&[u8]; 3]); 5] = [
			(
				Draft::Draft14,
				[&[5, 0, 0, 9, 0, 3], &[5, 0, 1, 9, 0, 2], &[7, 0, 0, 9, 0, 0, 0]],
			),
			(Draft::Draft15, [&[0x1C, 5, 0, 9, 3], &[0x00, 2], &[0x0C, 7, 0, 0, 0]]),
			(Draft::Draft16, [&[0x1C, 5, 0, 9, 3], &[0x00, 2], &[0x0C, 7, 0, 0]]),
			(Draft::Draft17, [&[0x1C, 5, 0, 9, 3], &[0x00, 2], &[0x0C, 7, 0, 0]]),
			(Draft::Draft18, [&[0x1C, 5, 0, 9, 3], &[0x00, 2], &[0x0C, 1, 0, 0]]),
		];
		for (draft, expected) in cases {
			let mut writer = FetchObjects::new(draft);
			for ((location, len), bytes) in objects.iter().zip(expected) {
				assert_eq!(
					writer.header(*location, 9, *len).unwrap(),
					bytes,
					"{draft:?} {location:?}"
				);
			}
			// Back to an earlier group, or a gap in a group: not sayable, refused.
			assert!(writer.clone().header((6, 0), 9, 1).is_err(), "{draft:?}");
			if draft.fetch_serialization_flags() {
				assert!(writer.header((7, 2), 9, 1).is_err(), "{draft:?}");
			}
		}
		assert_eq!(
			DataStreamHeader::Fetch(VarInt::from_u32(6))
				.to_bytes(Draft::Draft20)
				.unwrap(),
			[0x05, 0x06]
		);
	}

	use proptest::prelude::*;

	use super::*;
	use crate::strategy;

	const D14: Draft = Draft::Draft14;

	const D18: Draft = Draft::Draft18;

	#[test]
	fn draft18_subgroup_streams() {
		// 0x58: 0x18 (subgroup 0, end of group, priority) with FIRST_OBJECT.
		let header = SubgroupHeader {
			track_alias: VarInt::from_u32(1),
			group: VarInt::from_u32(200),
			subgroup: SubgroupId::Zero,
			priority: Some(0x80),
			extensions: false,
			end_of_group: true,
			first_object: true,
		};
		let bytes = DataStreamHeader::Subgroup(header).to_bytes(D18).unwrap();
		// Group 200 takes two leading-ones bytes (0x80 | 0x00, 0xC8).
		assert_eq!(bytes, [0x58, 0x01, 0x80, 0xC8, 0x80]);
		assert_eq!(
			DataStreamHeader::decode_prefix(&bytes, D18).unwrap(),
			(DataStreamHeader::Subgroup(header), bytes.len())
		);
		// Without the bit, the stream starts partway through its subgroup.
		let (read, _) = DataStreamHeader::decode_prefix(&[0x18, 0x01, 0x02, 0x80], D18).unwrap();
		assert_eq!(
			read,
			DataStreamHeader::Subgroup(SubgroupHeader {
				group: VarInt::from_u32(2),
				first_object: false,
				..header
			})
		);
		// Draft-16 has no FIRST_OBJECT bit: 0x58 is no stream type there.
		assert!(DataStreamHeader::decode_prefix(&[0x58, 1, 2, 3], Draft::Draft16).is_err());
		// 0x5E names the Subgroup ID both ways.
		assert!(DataStreamHeader::decode_prefix(&[0x5E, 1, 2, 3, 4], D18).is_err());
		// PADDING: the type is four leading-ones bytes (0xE0 | 0x13, 0x2B, 0x3E, 0x28).
		let padding = DataStreamHeader::Padding.to_bytes(D18).unwrap();
		assert_eq!(padding, [0xF0, 0x13, 0x2B, 0x3E, 0x28]);
		assert_eq!(
			DataStreamHeader::decode_prefix(&padding, D18).unwrap().0,
			DataStreamHeader::Padding
		);
		assert!(DataStreamHeader::Padding.to_bytes(D14).is_err());
		// An object whose payload length passes 127 takes two bytes.
		let ctx = header.context(D18);
		let object = SubgroupObjectHeader {
			id_delta: VarInt::ZERO,
			extensions: Vec::new(),
			status: ObjectStatus::Normal,
			payload_len: VarInt::from_u32(300),
		};
		assert_eq!(object.to_bytes(ctx).unwrap(), [0x00, 0x81, 0x2C]);
		// A fetch stream's header in leading-ones integers (300 takes two bytes); its objects are
		// written by `FetchObjects`, and draft-14's `FetchObject` and datagrams have no draft-18
		// form here.
		let fetch = DataStreamHeader::Fetch(VarInt::from_u32(300));
		assert_eq!(fetch.to_bytes(D18).unwrap(), [0x05, 0x81, 0x2C]);
		assert_eq!(
			DataStreamHeader::decode_prefix(&[0x05, 0x81, 0x2C], D18).unwrap(),
			(fetch, 3)
		);
		assert!(FetchObject::decode_prefix(&[0x00; 8], D18).is_err());
		// OBJECT_DATAGRAM in draft-18's integers: type 0x07 (extensions, end of group, Object ID
		// 0), alias, group, priority, a one-pair block, the payload.
		let datagram = ObjectDatagram {
			track_alias: VarInt::from_u32(300),
			group: VarInt::from_u32(5),
			object: None,
			priority: Some(9),
			end_of_group: true,
			extensions: vec![KeyValue::int(2, VarInt::from_u32(1))],
			body: DatagramBody::Payload(Bytes::from_static(b"ab")),
		};
		let bytes = datagram.to_bytes(D18).unwrap();
		assert_eq!(&bytes[..4], [0x07, 0x81, 0x2C, 0x05]);
		assert_eq!(ObjectDatagram::decode_prefix(&bytes, D18).unwrap().0, datagram);

		// Draft-17: leading-ones integers, but draft-16's stream types: no FIRST_OBJECT bit (the
		// published client refuses 0x58 there and writes 0x19), no PADDING.
		let d17 = Draft::Draft17;
		let bytes = DataStreamHeader::Subgroup(header).to_bytes(d17).unwrap();
		assert_eq!(bytes, [0x18, 0x01, 0x80, 0xC8, 0x80]);
		assert_eq!(
			DataStreamHeader::decode_prefix(&bytes, d17).unwrap(),
			(DataStreamHeader::Subgroup(header), bytes.len())
		);
		assert!(DataStreamHeader::decode_prefix(&[0x58, 1, 2, 3], d17).is_err());
		assert!(DataStreamHeader::Padding.to_bytes(d17).is_err());
		assert!(matches!(
			DataStreamHeader::decode_prefix(&padding, d17),
			Err(DecodeError::InvalidValue {
				field: "data stream type",
				..
			})
		));
	}

	fn status() -> impl Strategy<Value = ObjectStatus> {
		prop::sample::select(vec![
			ObjectStatus::Normal,
			ObjectStatus::DoesNotExist,
			ObjectStatus::EndOfGroup,
			ObjectStatus::EndOfTrack,
		])
	}

	fn extensions() -> impl Strategy<Value = Vec<KeyValue>> {
		prop::collection::vec(crate::ietf::setup::tests::pair(), 0..3)
	}

	/// A valid (status, payload, extensions) triple.
	fn object() -> impl Strategy<Value = (ObjectStatus, Bytes, Vec<KeyValue>)> {
		(status(), strategy::payload(), extensions()).prop_map(|(status, payload, ext)| match status {
			ObjectStatus::Normal => (status, payload, ext),
			ObjectStatus::DoesNotExist => (status, Bytes::new(), Vec::new()),
			_ => (status, Bytes::new(), ext),
		})
	}

	fn header() -> impl Strategy<Value = DataStreamHeader> {
		header_in(D14)
	}

	fn header_in(draft: Draft) -> impl Strategy<Value = DataStreamHeader> {
		let subgroup = prop_oneof![
			Just(SubgroupId::Zero),
			Just(SubgroupId::FirstObject),
			strategy::varint().prop_map(SubgroupId::Explicit),
		];
		let subgroups = (
			strategy::varint(),
			strategy::varint(),
			subgroup,
			prop::option::of(any::<u8>()),
			any::<bool>(),
			any::<bool>(),
			any::<bool>(),
		)
			.prop_map(
				move |(track_alias, group, subgroup, priority, extensions, end_of_group, first_object)| {
					DataStreamHeader::Subgroup(SubgroupHeader {
						track_alias,
						group,
						subgroup,
						priority,
						extensions,
						end_of_group,
						// Only draft-18 and later say otherwise.
						first_object: first_object || !draft.first_object_bit(),
					})
				},
			);
		match (draft.padding_stream(), draft.leading_ones_integers()) {
			(true, _) => prop_oneof![Just(DataStreamHeader::Padding), subgroups].boxed(),
			(false, true) => subgroups.boxed(),
			(false, false) => prop_oneof![strategy::varint().prop_map(DataStreamHeader::Fetch), subgroups].boxed(),
		}
	}

	proptest! {
		#[test]
		fn headers_round_trip(h in header()) {
			strategy::round_trip_with(&h, D14)?;
		}

		#[test]
		fn draft18_headers_round_trip(h in header_in(D18)) {
			strategy::round_trip_with(&h, D18)?;
		}

		#[test]
		fn draft17_headers_round_trip(h in header_in(Draft::Draft17)) {
			strategy::round_trip_with(&h, Draft::Draft17)?;
		}

		#[test]
		fn subgroup_objects_round_trip(id_delta in strategy::varint(), (status, payload, ext) in object(), with in any::<bool>(), d18 in any::<bool>()) {
			let mut ext = if with { ext } else { Vec::new() };
			// Draft-18's delta-coded types are written in ascending order.
			if d18 { ext.sort_by_key(|p| p.key) }
			let obj = SubgroupObject { id_delta, extensions: ext, status, payload };
			let draft = if d18 { D18 } else { D14 };
			strategy::round_trip_with(&obj, SubgroupContext { draft, extensions: with })?;
		}

		#[test]
		fn object_headers_round_trip(id_delta in strategy::varint(), (status, payload, ext) in object(), with in any::<bool>(), d18 in any::<bool>()) {
			let mut ext = if with { ext } else { Vec::new() };
			// Draft-18's delta-coded types are written in ascending order.
			if d18 { ext.sort_by_key(|p| p.key) }
			let obj = SubgroupObject { id_delta, extensions: ext, status, payload };
			let draft = if d18 { D18 } else { D14 };
			let ctx = SubgroupContext { draft, extensions: with };
			let header = obj.header();
			strategy::round_trip_with(&header, ctx)?;
			// The whole object is its header followed by the payload.
			let mut bytes = header.to_bytes(ctx).unwrap();
			bytes.extend_from_slice(&obj.payload);
			prop_assert_eq!(bytes, obj.to_bytes(ctx).unwrap());
		}

		#[test]
		fn fetch_objects_round_trip(ids in (strategy::varint(), strategy::varint(), strategy::varint()), priority in any::<u8>(), (status, payload, extensions) in object()) {
			let obj = FetchObject { group: ids.0, subgroup: ids.1, object: ids.2, priority, extensions, status, payload };
			strategy::round_trip_with(&obj, D14)?;
		}

		/// Every Type round-trips from draft-15 on (a default priority, a status without an
		/// Object ID); draft-14 writes and reads only its own eight.
		#[test]
		fn datagrams_round_trip(
			ids in (strategy::varint(), strategy::varint(), prop::option::of(strategy::varint())),
			priority in prop::option::of(any::<u8>()),
			end_of_group in any::<bool>(),
			(status, payload, mut extensions) in object(),
			as_status in any::<bool>(),
		) {
			let (track_alias, group, object) = ids;
			// Draft-17 on writes extension types as deltas, in ascending order.
			extensions.sort_by_key(|e| e.key);
			let d = if as_status {
				ObjectDatagram { track_alias, group, object, priority, end_of_group: false, extensions, body: DatagramBody::Status(status) }
			} else {
				ObjectDatagram { track_alias, group, object, priority, end_of_group, extensions, body: DatagramBody::Payload(payload) }
			};
			for draft in [D14, Draft::Draft15, Draft::Draft16, Draft::Draft18, Draft::Draft22] {
				let draft14_type = priority.is_some() && (!as_status || object.is_some());
				if draft == D14 && !draft14_type {
					prop_assert!(d.to_bytes(draft).is_err());
					continue;
				}
				let bytes = d.to_bytes(draft).unwrap();
				let (back, used) = ObjectDatagram::decode_prefix(&bytes, draft).unwrap();
				prop_assert_eq!(&back, &d);
				prop_assert_eq!(used, bytes.len());
			}
		}
	}

	#[test]
	fn header_types() {
		let decode = |bytes: &[u8]| DataStreamHeader::decode_prefix(bytes, D14).map(|(h, _)| h);
		// 0x16/0x17/0x1E/0x1F name the Subgroup ID both ways; 0x20 is no stream type.
		for ty in [0x16u8, 0x17, 0x1e, 0x1f, 0x20, 0x00] {
			assert!(
				matches!(decode(&[ty, 1, 2, 3, 4]), Err(DecodeError::InvalidValue { .. })),
				"{ty:#x}"
			);
		}
		let DataStreamHeader::Subgroup(h) = decode(&[0x1d, 1, 2, 3, 4]).unwrap() else {
			panic!("a subgroup");
		};
		assert_eq!(
			(h.subgroup, h.priority, h.extensions, h.end_of_group),
			(SubgroupId::Explicit(VarInt::from_u32(3)), Some(4), true, true)
		);
		let DataStreamHeader::Subgroup(h) = decode(&[0x32, 1, 2]).unwrap() else {
			panic!("a subgroup");
		};
		assert_eq!((h.subgroup, h.priority), (SubgroupId::FirstObject, None));
	}

	#[test]
	fn object_rules() {
		let ctx = SubgroupContext {
			draft: D14,
			extensions: true,
		};
		// Length 0 then status 2 (unknown): PROTOCOL_VIOLATION.
		assert!(matches!(
			SubgroupObject::decode_prefix(&[0, 0, 0, 2], ctx),
			Err(DecodeError::InvalidValue {
				field: "Object Status",
				value: 2
			})
		));
		// Does Not Exist with an extension.
		assert!(SubgroupObject::decode_prefix(&[0, 2, 0x10, 1, 0, 1], ctx).is_err());
		// A status with a payload cannot be encoded.
		let bad = SubgroupObject {
			id_delta: VarInt::ZERO,
			extensions: Vec::new(),
			status: ObjectStatus::EndOfGroup,
			payload: Bytes::from_static(b"x"),
		};
		assert!(bad.to_bytes(ctx).is_err());
		// Extensions on a stream whose header has none.
		let ext = SubgroupObject {
			id_delta: VarInt::ZERO,
			extensions: vec![KeyValue::int(0x10, VarInt::ZERO)],
			status: ObjectStatus::Normal,
			payload: Bytes::new(),
		};
		assert!(
			ext.to_bytes(SubgroupContext {
				draft: D14,
				extensions: false
			})
			.is_err()
		);
		// An empty extension block with the datagram Extensions bit.
		assert!(matches!(
			ObjectDatagram::decode_prefix(&[0x01, 1, 2, 3, 9, 0], D14),
			Err(DecodeError::InvalidValue {
				field: "Extension Headers Length",
				..
			})
		));
		// A truncated datagram is malformed, not "need more bytes".
		assert_eq!(
			ObjectDatagram::decode_prefix(&[0x00, 1], D14),
			Err(DecodeError::ShortBody {
				message: "OBJECT_DATAGRAM"
			})
		);
		// Datagram types outside draft-14's 0x00-0x07, 0x20-0x21.
		for ty in [0x08u8, 0x22, 0x24] {
			assert!(matches!(
				ObjectDatagram::decode_prefix(&[ty, 1, 2, 3, 4], D14),
				Err(DecodeError::InvalidValue { .. })
			));
		}
		// From draft-15 on: DEFAULT_PRIORITY (0x08) omits the priority, ZERO_OBJECT_ID omits a
		// status's Object ID (0x24); a status that ends its group (0x22, 0x2E) and the reserved
		// bit 0x10 are still no Type.
		let d15 = Draft::Draft15;
		assert_eq!(
			ObjectDatagram::decode_prefix(&[0x0C, 1, 2, b'x'], d15).unwrap().0,
			ObjectDatagram {
				track_alias: VarInt::from_u32(1),
				group: VarInt::from_u32(2),
				object: None,
				priority: None,
				end_of_group: false,
				extensions: Vec::new(),
				body: DatagramBody::Payload(Bytes::from_static(b"x")),
			}
		);
		let (status, _) = ObjectDatagram::decode_prefix(&[0x24, 1, 2, 9, 3], d15).unwrap();
		assert_eq!(
			(status.object, status.priority, status.body),
			(None, Some(9), DatagramBody::Status(ObjectStatus::EndOfGroup))
		);
		for ty in [0x22u8, 0x2E, 0x10, 0x30] {
			assert!(matches!(
				ObjectDatagram::decode_prefix(&[ty, 1, 2, 3, 4], d15),
				Err(DecodeError::InvalidValue { .. })
			));
		}
	}
}
