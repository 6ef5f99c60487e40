//! Checks the wire codec against the golden moq-lite vectors (lite-04, -05 and
//! -06, from the published moq-net 0.3.18 crate).
//!
//! For every vector: decode the hex into the typed message, compare it with the
//! vector's `fields` (every field must be read), re-encode, and compare with the
//! exact bytes (SETUP parameters as a set). Every vector of every implemented
//! version must be checked: the counts are asserted.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use bytes::Bytes;
use moq_wire::{
	Announce, AnnounceEvent, AnnounceIds, AnnounceOk, AnnounceRequest, AnnounceRestart, AnnounceStart, AnnounceStatus,
	BidiType, Datagram, Decode, Encode, Fetch, Frame, Goaway, Group, Probe, Setup, Subscribe, SubscribeDrop,
	SubscribeOk, SubscribeOptions, SubscribeResponse, SubscribeUpdate, Track, TrackInfo, UniType, UnknownParameter,
	VarInt, Version, zigzag_encode,
};
use serde_json::{Map, Value};

/// The in-repo copy, so the test does not depend on anything outside the repo.
const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/moq-lite.json");
/// The shared original, beside the repository.
const SHARED_VECTORS: &str = concat!(
	env!("CARGO_MANIFEST_DIR"),
	"/../../../shared/vectors/moq-lite/vectors.json"
);

/// How many vectors each implemented version has.
const EXPECTED: [(&str, usize); 3] = [("lite-04", 32), ("lite-05", 60), ("lite-06", 60)];

type Check = Result<(), String>;

macro_rules! ensure_eq {
	($left:expr, $right:expr, $what:expr) => {{
		let (l, r) = (&$left, &$right);
		if l != r {
			return Err(format!("{}: decoded {:?}, vector says {:?}", $what, l, r));
		}
	}};
}

/// The `fields` object, remembering which keys were read.
struct Fields<'a> {
	map: &'a Map<String, Value>,
	used: RefCell<BTreeSet<&'a str>>,
}

impl<'a> Fields<'a> {
	fn new(value: &'a Value) -> Result<Self, String> {
		let map = value.as_object().ok_or("fields is not an object")?;
		Ok(Self {
			map,
			used: RefCell::new(BTreeSet::new()),
		})
	}

	fn opt(&self, key: &str) -> Option<&'a Value> {
		let (k, v) = self.map.get_key_value(key)?;
		self.used.borrow_mut().insert(k.as_str());
		Some(v)
	}

	fn get(&self, key: &str) -> Result<&'a Value, String> {
		self.opt(key).ok_or_else(|| format!("field {key} missing"))
	}

	fn u64(&self, key: &str) -> Result<u64, String> {
		self.get(key)?
			.as_u64()
			.ok_or_else(|| format!("field {key} is not a u64"))
	}

	fn var(&self, key: &str) -> Result<VarInt, String> {
		VarInt::from_u64(self.u64(key)?).map_err(|e| format!("field {key}: {e}"))
	}

	fn u8(&self, key: &str) -> Result<u8, String> {
		u8::try_from(self.u64(key)?).map_err(|e| format!("field {key}: {e}"))
	}

	fn i64(&self, key: &str) -> Result<i64, String> {
		self.get(key)?
			.as_i64()
			.ok_or_else(|| format!("field {key} is not an i64"))
	}

	fn str(&self, key: &str) -> Result<&'a str, String> {
		self.get(key)?
			.as_str()
			.ok_or_else(|| format!("field {key} is not a string"))
	}

	/// A "+1 optional" given decoded: `null` = absent.
	fn opt_var(&self, key: &str) -> Result<Option<VarInt>, String> {
		match self.get(key)? {
			Value::Null => Ok(None),
			_ => self.var(key).map(Some),
		}
	}

	fn hops(&self) -> Result<Vec<VarInt>, String> {
		let hops = self.get("hops")?.as_array().ok_or("hops is not an array")?;
		let hops = hops
			.iter()
			.map(|h| h.as_u64().and_then(|h| VarInt::from_u64(h).ok()).ok_or("bad hop"))
			.collect::<Result<Vec<_>, _>>()?;
		ensure_eq!(hops.len() as u64, self.u64("hop_count")?, "hop_count");
		Ok(hops)
	}

	fn payload(&self) -> Result<Bytes, String> {
		let payload = Bytes::from(hex(self.str("payload_hex")?)?);
		ensure_eq!(
			payload.len() as u64,
			self.u64("size").unwrap_or(payload.len() as u64),
			"size"
		);
		Ok(payload)
	}

	/// The retired Ordered byte: present (and 0) exactly on lite-04/05.
	fn ordered(&self, version: Version) -> Check {
		let has_ordered = matches!(version, Version::Lite04 | Version::Lite05);
		match self.opt("ordered") {
			Some(v) if has_ordered => ensure_eq!(v.as_u64(), Some(0), "ordered"),
			None if !has_ordered => {}
			other => return Err(format!("ordered is {other:?} on {version}")),
		}
		Ok(())
	}

	/// The `type` of a typed message.
	fn check_type(&self, ty: Option<VarInt>) -> Check {
		ensure_eq!(ty, Some(self.var("type")?), "type");
		Ok(())
	}

	fn finish(self) -> Check {
		let used = self.used.into_inner();
		let unread: Vec<&String> = self.map.keys().filter(|k| !used.contains(k.as_str())).collect();
		if unread.is_empty() {
			Ok(())
		} else {
			Err(format!("fields not checked: {unread:?}"))
		}
	}
}

fn hex(s: &str) -> Result<Vec<u8>, String> {
	::hex::decode(s).map_err(|e| format!("hex {s}: {e}"))
}

fn version(name: &str) -> Result<Version, String> {
	Version::from_alpn(&format!("moq-{name}")).ok_or_else(|| format!("unknown version {name}"))
}

/// Decodes `input` as exactly one `T`.
fn decode<T: Decode>(input: &[u8], version: Version) -> Result<T, String> {
	let (value, used) = T::decode_prefix(input, version).map_err(|e| format!("decode: {e}"))?;
	ensure_eq!(used, input.len(), "bytes consumed");
	Ok(value)
}

/// Decodes `input` as exactly one `T`, compares it with `expected`, re-encodes
/// it and compares with `input`.
fn round_trip<T: Decode + Encode + PartialEq + Debug>(
	input: &[u8],
	version: Version,
	expected: T,
) -> Result<T, String> {
	let decoded: T = decode(input, version)?;
	ensure_eq!(decoded, expected, "message");
	let encoded = decoded.to_bytes(version).map_err(|e| format!("encode: {e}"))?;
	ensure_eq!(encoded, input.to_vec(), "re-encoded bytes");
	Ok(decoded)
}

fn bidi_name(ty: BidiType) -> &'static str {
	match ty {
		BidiType::Announce => "announce",
		BidiType::Subscribe => "subscribe",
		BidiType::Fetch => "fetch",
		BidiType::Probe => "probe",
		BidiType::Goaway => "goaway",
		BidiType::Track => "track",
	}
}

fn uni_name(ty: UniType) -> &'static str {
	match ty {
		UniType::Group => "group",
		UniType::Setup => "setup",
	}
}

/// Decodes a stream type of the given direction from the front of `input`,
/// checks its number, and returns how many bytes it took.
fn stream_type(input: &[u8], version: Version, uni: bool, expected: u64) -> Result<(usize, &'static str), String> {
	let (name, id, used, reencoded) = if uni {
		let (ty, used) = UniType::decode_prefix(input, version).map_err(|e| format!("stream type: {e}"))?;
		(uni_name(ty), ty.id(), used, ty.to_bytes(version))
	} else {
		let (ty, used) = BidiType::decode_prefix(input, version).map_err(|e| format!("stream type: {e}"))?;
		(bidi_name(ty), ty.id(), used, ty.to_bytes(version))
	};
	ensure_eq!(id.into_inner(), expected, "stream type");
	ensure_eq!(
		reencoded.map_err(|e| e.to_string())?,
		input[..used].to_vec(),
		"stream type bytes"
	);
	Ok((used, name))
}

/// Splits a SETUP into its length prefix, its count and its raw parameters
/// (sorted), for comparing two encodings as sets.
fn setup_parts(bytes: &[u8]) -> Result<(VarInt, VarInt, Vec<Vec<u8>>), String> {
	let mut rest = bytes;
	let len = VarInt::decode(&mut rest).map_err(|e| e.to_string())?;
	let count = VarInt::decode(&mut rest).map_err(|e| e.to_string())?;
	let mut params = Vec::new();
	for _ in 0..count.into_inner() {
		let start = rest;
		VarInt::decode(&mut rest).map_err(|e| e.to_string())?;
		let value_len = VarInt::decode(&mut rest).map_err(|e| e.to_string())?.into_inner() as usize;
		let header = start.len() - rest.len();
		params.push(start[..header + value_len].to_vec());
		rest = &rest[value_len..];
	}
	params.sort();
	Ok((len, count, params))
}

fn check_setup(input: &[u8], version: Version, f: &Fields) -> Check {
	let params = f.get("parameters")?.as_array().ok_or("parameters is not an array")?;
	ensure_eq!(params.len() as u64, f.u64("parameter_count")?, "parameter_count");
	let mut expected = Setup::default();
	for p in params {
		let p = Fields::new(p)?;
		let id = p.var("id")?;
		let name = p.str("name")?;
		let length = p.u64("length")?;
		let value = p.get("value")?;
		let int = || -> Result<VarInt, String> {
			let v = value
				.as_u64()
				.and_then(|v| VarInt::from_u64(v).ok())
				.ok_or("bad int value")?;
			ensure_eq!(v.size() as u64, length, "parameter length");
			Ok(v)
		};
		let text = || -> Result<String, String> {
			let v = value.as_str().ok_or("bad string value")?;
			ensure_eq!(v.len() as u64, length, "parameter length");
			Ok(v.to_owned())
		};
		match (id.into_inner(), name) {
			(1, "probe") => expected.probe = Some(int()?),
			(2, "path") => expected.path = Some(text()?),
			(3, "role") => expected.role = Some(int()?),
			(4, "cost") => expected.cost = Some(int()?),
			(5, "hop") => expected.hop = Some(int()?),
			(_, "unknown") => expected.unknown.push(UnknownParameter {
				id,
				value: Bytes::from(text()?),
			}),
			other => return Err(format!("unexpected parameter {other:?}")),
		}
		p.finish()?;
	}
	expected.unknown.sort_by_key(|p| p.id);
	let decoded: Setup = decode(input, version)?;
	ensure_eq!(decoded, expected, "SETUP");
	// "SETUP parameter order is not significant": compare as a set.
	let encoded = decoded.to_bytes(version).map_err(|e| format!("encode: {e}"))?;
	ensure_eq!(
		setup_parts(&encoded)?,
		setup_parts(input)?,
		"re-encoded SETUP (as a set)"
	);
	ensure_eq!(encoded.len(), input.len(), "re-encoded SETUP length");
	Ok(())
}

fn options(f: &Fields, version: Version) -> Result<SubscribeOptions, String> {
	f.ordered(version)?;
	let lite06 = version == Version::Lite06;
	let options = SubscribeOptions {
		priority: f.u8("priority")?,
		max_age_ms: f.var("max_age_ms")?,
		group_start: f.opt_var("group_start")?,
		group_end: f.opt_var("group_end")?,
		frame_start: if lite06 { f.var("frame_start")? } else { VarInt::ZERO },
		frame_end: if lite06 { f.opt_var("frame_end")? } else { None },
	};
	// conventions: "group_start_wire is the raw wire value" (+1 before lite-06).
	let wire = match (version, options.group_start) {
		(_, None) => 0,
		(Version::Lite06, Some(g)) => g.into_inner(),
		(_, Some(g)) => g.into_inner() + 1,
	};
	ensure_eq!(wire, f.u64("group_start_wire")?, "group_start_wire");
	Ok(options)
}

fn check_vector(vector: &Value) -> Check {
	let version = version(vector["version"].as_str().ok_or("no version")?)?;
	let message = vector["message"].as_str().ok_or("no message")?;
	let bytes = hex(vector["hex"].as_str().ok_or("no hex")?)?;
	let f = Fields::new(&vector["fields"])?;
	let uni = vector["stream"].as_str().ok_or("no stream")?.contains("(uni");

	let mut input = &bytes[..];
	if vector["stream_type_prefix"].as_bool() == Some(true) && message != "STREAM_TYPE" {
		let expected = vector["stream_type"].as_u64().ok_or("no stream_type")?;
		let (used, _) = stream_type(input, version, uni, expected)?;
		input = &input[used..];
	}

	match message {
		"STREAM_TYPE" => {
			let uni = match f.str("direction")? {
				"uni" => true,
				"bidi" => false,
				other => return Err(format!("direction {other}")),
			};
			let (used, name) = stream_type(input, version, uni, f.u64("stream_type")?)?;
			ensure_eq!(used, input.len(), "bytes consumed");
			ensure_eq!(name, f.str("name")?, "stream name");
		}
		"SETUP" => check_setup(input, version, &f)?,
		"ANNOUNCE_REQUEST" => {
			let exclude_hop = match f.opt("exclude_hop") {
				Some(_) if version == Version::Lite06 => return Err("exclude_hop on lite-06".into()),
				Some(_) => f.var("exclude_hop")?,
				None if version == Version::Lite06 => VarInt::ZERO,
				None => return Err("exclude_hop missing".into()),
			};
			let expected = AnnounceRequest {
				prefix: f.str("prefix")?.into(),
				exclude_hop,
			};
			round_trip(input, version, expected)?;
		}
		"ANNOUNCE_OK" => {
			let expected = AnnounceOk {
				hop_id: f.var("hop_id")?,
				active_count: f.var("active_count")?,
			};
			round_trip(input, version, expected)?;
		}
		m if m.starts_with("ANNOUNCE (") => {
			let (status, name) = match f.u64("status")? {
				0 => (AnnounceStatus::Ended, "ended"),
				1 => (AnnounceStatus::Active, "active"),
				2 => (AnnounceStatus::Restart, "restart"),
				other => return Err(format!("status {other}")),
			};
			ensure_eq!(name, f.str("status_name")?, "status_name");
			let expected = Announce {
				status,
				suffix: f.str("suffix")?.into(),
				hops: f.hops()?,
			};
			round_trip(input, version, expected)?;
		}
		"ANNOUNCE_START" => {
			let expected = AnnounceEvent::Start(AnnounceStart {
				suffix: f.str("suffix")?.into(),
				hops: f.hops()?,
				warm_cost: f.var("warm_cost")?,
				cold_cost: f.var("cold_cost")?,
			});
			let event = round_trip(input, version, expected)?;
			f.check_type(Some(event.type_id()))?;
			// "the first START on a stream takes announce id 0".
			let assigned = AnnounceIds::new().apply(&event).map_err(|e| e.to_string())?;
			ensure_eq!(assigned, Some(f.var("announce_id_assigned")?), "announce_id_assigned");
		}
		"ANNOUNCE_RESTART" | "ANNOUNCE_END" => {
			let id = f.var("announce_id")?;
			let expected = if message == "ANNOUNCE_END" {
				AnnounceEvent::End { id }
			} else {
				AnnounceEvent::Restart(AnnounceRestart {
					id,
					hops: f.hops()?,
					warm_cost: f.var("warm_cost")?,
					cold_cost: f.var("cold_cost")?,
				})
			};
			let event = round_trip(input, version, expected)?;
			f.check_type(Some(event.type_id()))?;
			// "checked after a START that took id 0".
			let mut ids = AnnounceIds::new();
			ids.apply(&AnnounceEvent::Start(AnnounceStart::default()))
				.map_err(|e| e.to_string())?;
			ensure_eq!(ids.apply(&event), Ok(Some(id)), "announce id is live");
		}
		"SUBSCRIBE" => {
			let expected = Subscribe {
				id: f.var("subscribe_id")?,
				broadcast: f.str("broadcast")?.into(),
				track: f.str("track")?.into(),
				options: options(&f, version)?,
			};
			round_trip(input, version, expected)?;
		}
		"SUBSCRIBE_UPDATE" => {
			let expected = SubscribeUpdate {
				options: options(&f, version)?,
			};
			round_trip(input, version, expected)?;
		}
		"SUBSCRIBE_OK" | "SUBSCRIBE_START" | "SUBSCRIBE_END" | "SUBSCRIBE_DROP" => {
			let expected = match message {
				"SUBSCRIBE_OK" => {
					f.ordered(version)?;
					SubscribeResponse::Ok(SubscribeOk {
						priority: f.u8("priority")?,
						max_age_ms: f.var("max_age_ms")?,
						group_start: f.opt_var("group_start")?,
						group_end: f.opt_var("group_end")?,
					})
				}
				"SUBSCRIBE_START" => SubscribeResponse::Start { group: f.var("group")? },
				"SUBSCRIBE_END" => SubscribeResponse::End { group: f.var("group")? },
				_ => SubscribeResponse::Drop(SubscribeDrop {
					start: f.var("start")?,
					end: f.var("end")?,
					error: f.var("error")?,
				}),
			};
			let response = round_trip(input, version, expected)?;
			f.check_type(response.type_id(version))?;
		}
		"TRACK" => {
			let expected = Track {
				broadcast: f.str("broadcast")?.into(),
				track: f.str("track")?.into(),
			};
			round_trip(input, version, expected)?;
		}
		"TRACK_INFO" => {
			f.ordered(version)?;
			let expected = TrackInfo {
				priority: f.u8("publisher_priority")?,
				max_age_ms: f.var("publisher_max_age_ms")?,
				timescale: f.var("timescale")?,
			};
			round_trip(input, version, expected)?;
		}
		"FETCH" => {
			let lite06 = version == Version::Lite06;
			let expected = Fetch {
				broadcast: f.str("broadcast")?.into(),
				track: f.str("track")?.into(),
				priority: f.u8("priority")?,
				group: f.var("group")?,
				frame_start: if lite06 { f.var("frame_start")? } else { VarInt::ZERO },
				frame_end: if lite06 { f.opt_var("frame_end")? } else { None },
			};
			round_trip(input, version, expected)?;
		}
		"GROUP" => {
			let expected = Group {
				subscribe_id: f.var("subscribe_id")?,
				sequence: f.var("sequence")?,
				frame_start: if version == Version::Lite06 {
					f.var("frame_start")?
				} else {
					VarInt::ZERO
				},
			};
			round_trip(input, version, expected)?;
		}
		"FRAME" | "FRAME (fetch reply)" => {
			let timestamp_delta = if version == Version::Lite04 {
				0
			} else {
				let delta = f.i64("timestamp_delta")?;
				ensure_eq!(zigzag_encode(delta), f.u64("timestamp_delta_zigzag")?, "zigzag");
				delta
			};
			let expected = Frame {
				timestamp_delta,
				payload: f.payload()?,
			};
			round_trip(input, version, expected)?;
		}
		"PROBE" => {
			let expected = Probe {
				bitrate: f.var("bitrate_bps")?,
				rtt_ms: f.var("rtt_ms")?,
			};
			round_trip(input, version, expected)?;
		}
		"GOAWAY" => {
			let expected = Goaway {
				uri: f.str("new_session_uri")?.into(),
			};
			round_trip(input, version, expected)?;
		}
		"DATAGRAM" => {
			let expected = Datagram {
				subscribe_id: f.var("subscribe_id")?,
				sequence: f.var("sequence")?,
				timestamp: f.var("timestamp")?,
				payload: f.payload()?,
			};
			round_trip(input, version, expected)?;
		}
		other => return Err(format!("no mapping for message kind {other}")),
	}
	f.finish()
}

fn load(path: &str) -> Value {
	let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
	serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

#[test]
fn every_vector_decodes_and_re_encodes() {
	let file = load(VECTORS);
	let vectors = file["vectors"].as_array().expect("vectors array");
	let mut checked: BTreeMap<String, usize> = BTreeMap::new();
	let mut failures = Vec::new();
	for (i, vector) in vectors.iter().enumerate() {
		let name = vector["version"].as_str().unwrap_or("?").to_owned();
		match check_vector(vector) {
			Ok(()) => *checked.entry(name).or_default() += 1,
			Err(err) => failures.push(format!("#{i} {name} {} {}: {err}", vector["message"], vector["hex"])),
		}
	}
	assert!(
		failures.is_empty(),
		"{} vectors failed:\n{}",
		failures.len(),
		failures.join("\n")
	);
	let expected: BTreeMap<String, usize> = EXPECTED.iter().map(|(v, n)| ((*v).to_owned(), *n)).collect();
	assert_eq!(checked, expected, "vectors checked per version");
	assert_eq!(
		checked.values().sum::<usize>(),
		vectors.len(),
		"every vector is checked"
	);
}

#[test]
fn conventions_are_the_ones_this_mapping_assumes() {
	let file = load(VECTORS);
	let conventions = file["conventions"].as_str().expect("conventions");
	// The mapping above reads "+1" optionals as decoded values with null =
	// absent, and group_start_wire as the raw value.
	for phrase in [
		"null = absent (wire 0)",
		"n = wire n+1",
		"group_start_wire is the raw wire value",
	] {
		assert!(conventions.contains(phrase), "conventions changed: {conventions}");
	}
}

#[test]
fn in_repo_copy_matches_the_shared_vectors() {
	// CI checks out shared/ beside the repository; a developer may not have it.
	match std::fs::read_to_string(SHARED_VECTORS) {
		Ok(shared) => {
			let copy = std::fs::read_to_string(VECTORS).expect("in-repo vectors");
			assert!(
				shared == copy,
				"tests/vectors/moq-lite.json differs from {SHARED_VECTORS}: copy it again"
			);
		}
		Err(err) => eprintln!("skipping the comparison: {SHARED_VECTORS}: {err}"),
	}
}
