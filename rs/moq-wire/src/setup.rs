//! SETUP: the one message on each side's Setup stream (lite-05+, docs/protocol.md#setup).

use bytes::{Buf, BufMut, Bytes};

use super::coding::{
	BufExt, BufMutExt, Decode, DecodeError, Encode, EncodeError, MAX_SETUP_LEN, MAX_SETUP_PARAMETERS, decode_framed,
	encode_framed, require_decode, require_encode,
};
use super::varint::VarInt;
use super::version::Version;

const NAME: &str = "SETUP";

const PROBE: VarInt = VarInt::from_u32(0x1);
const PATH: VarInt = VarInt::from_u32(0x2);
const ROLE: VarInt = VarInt::from_u32(0x3);
const COST: VarInt = VarInt::from_u32(0x4);
const HOP: VarInt = VarInt::from_u32(0x5);

/// `SETUP = Message Length (i) | Param Count (i) | { ID (i) | Length (i) | Value }…`
///
/// Known parameters are kept as received (so `hop: Some(0)` stays
/// distinguishable from an absent Hop and re-encodes to the same bytes); the
/// accessors [`probe_level`](Self::probe_level), [`role_kind`](Self::role_kind)
/// and [`hop_id`](Self::hop_id) apply the meaning rules of docs/protocol.md#setup.
/// Parameter order is not significant: moq-net writes them in HashMap order, so
/// decoding keeps [`unknown`](Self::unknown) sorted by id and encoding writes
/// every parameter in id order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Setup {
	/// 0x1 Probe: "0 none, 1 report, ≥2 increase".
	pub probe: Option<VarInt>,
	/// 0x2 Path: "UTF-8 `path[?query]`", client only, URI-less bindings only.
	pub path: Option<String>,
	/// 0x3 Role: "0/absent both, 1 publisher, 2 subscriber (unknown → both)".
	pub role: Option<VarInt>,
	/// 0x4 Cost: the price of subscribing via the sender.
	pub cost: Option<VarInt>,
	/// 0x5 Hop: "non-zero hop id; 0 = none".
	pub hop: Option<VarInt>,
	/// Parameters with other ids, sorted by id. "unknown IDs ignored": they
	/// carry no meaning, and are kept only so a message re-encodes exactly.
	pub unknown: Vec<UnknownParameter>,
}

/// A SETUP parameter whose id this codec does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownParameter {
	/// The id (not one of 0x1..=0x5).
	pub id: VarInt,
	/// The raw value.
	pub value: Bytes,
}

/// What the sender of a SETUP offers for Probe streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeLevel {
	/// 0 or absent: no Probe streams.
	None,
	/// 1: the publisher reports bitrate/RTT.
	Report,
	/// ≥ 2: the publisher may also pad to probe for more bandwidth.
	Increase,
}

/// The role a client declares in SETUP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
	/// 0, absent or unknown: both publisher and subscriber.
	Both,
	/// 1: publisher only.
	Publisher,
	/// 2: subscriber only.
	Subscriber,
}

impl Setup {
	/// The Probe parameter's meaning.
	pub fn probe_level(&self) -> ProbeLevel {
		match self.probe.map(VarInt::into_inner) {
			None | Some(0) => ProbeLevel::None,
			Some(1) => ProbeLevel::Report,
			Some(_) => ProbeLevel::Increase,
		}
	}

	/// The Role parameter's meaning ("unknown → both").
	pub fn role_kind(&self) -> Role {
		match self.role.map(VarInt::into_inner) {
			Some(1) => Role::Publisher,
			Some(2) => Role::Subscriber,
			_ => Role::Both,
		}
	}

	/// The sender's hop id: `None` when absent or 0 ("0 = none").
	pub fn hop_id(&self) -> Option<VarInt> {
		self.hop.filter(|h| *h != VarInt::ZERO)
	}

	/// All parameters as `(id, value bytes)`, sorted by id.
	fn parameters(&self) -> Vec<(VarInt, Vec<u8>)> {
		let var = |v: VarInt| {
			let mut out = Vec::with_capacity(v.size());
			v.encode(&mut out);
			out
		};
		let mut params = Vec::new();
		if let Some(v) = self.probe {
			params.push((PROBE, var(v)));
		}
		if let Some(path) = &self.path {
			params.push((PATH, path.as_bytes().to_vec()));
		}
		if let Some(v) = self.role {
			params.push((ROLE, var(v)));
		}
		if let Some(v) = self.cost {
			params.push((COST, var(v)));
		}
		if let Some(v) = self.hop {
			params.push((HOP, var(v)));
		}
		params.extend(self.unknown.iter().map(|p| (p.id, p.value.to_vec())));
		params.sort_by_key(|(id, _)| *id);
		params
	}
}

/// Decodes a parameter value that must be exactly one varint.
///
/// docs/protocol.md#setup: a varint value fills the whole parameter (trailing
/// bytes are an error).
fn whole_varint(id: VarInt, mut value: Bytes) -> Result<VarInt, DecodeError> {
	let v = VarInt::decode(&mut value).map_err(|_| DecodeError::InvalidParameter {
		id,
		reason: "value is shorter than its varint",
	})?;
	if value.has_remaining() {
		return Err(DecodeError::InvalidParameter {
			id,
			reason: "trailing bytes after the varint value",
		});
	}
	Ok(v)
}

impl Decode for Setup {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		require_decode(version.has_setup(), NAME, version)?;
		// docs/protocol.md#limits: a SETUP body is at most 64 KiB.
		decode_framed(buf, NAME, MAX_SETUP_LEN, |body| {
			let count = body.get_var()?.into_inner();
			// docs/protocol.md#limits: at most 64 SETUP parameters.
			if count > MAX_SETUP_PARAMETERS as u64 {
				return Err(DecodeError::TooLarge {
					what: "SETUP parameter count",
					len: count,
					max: MAX_SETUP_PARAMETERS as u64,
				});
			}
			let mut setup = Setup::default();
			let mut seen = Vec::with_capacity(count as usize);
			for _ in 0..count {
				let id = body.get_var()?;
				let len = body.get_var()?.into_inner();
				let value = body.get_raw(len)?;
				// docs/protocol.md#setup: a duplicate ID is a PROTOCOL_VIOLATION.
				if seen.contains(&id) {
					return Err(DecodeError::DuplicateParameter { id });
				}
				seen.push(id);
				match id {
					PROBE => setup.probe = Some(whole_varint(id, value)?),
					PATH => {
						let path = String::from_utf8(value.into()).map_err(|_| DecodeError::InvalidParameter {
							id,
							reason: "Path is not valid UTF-8",
						})?;
						setup.path = Some(path);
					}
					ROLE => setup.role = Some(whole_varint(id, value)?),
					COST => setup.cost = Some(whole_varint(id, value)?),
					HOP => setup.hop = Some(whole_varint(id, value)?),
					// docs/protocol.md#setup: unknown IDs are ignored.
					_ => setup.unknown.push(UnknownParameter { id, value }),
				}
			}
			setup.unknown.sort_by_key(|p| p.id);
			Ok(setup)
		})
	}
}

impl Encode for Setup {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		require_encode(version.has_setup(), NAME, version)?;
		let params = self.parameters();
		if params.len() > MAX_SETUP_PARAMETERS {
			return Err(EncodeError::TooLarge {
				what: "SETUP parameter count",
				len: params.len() as u64,
				max: MAX_SETUP_PARAMETERS as u64,
			});
		}
		if params.windows(2).any(|w| w[0].0 == w[1].0) {
			return Err(EncodeError::InvalidValue {
				field: "SETUP parameters",
				reason: "two parameters share an id",
			});
		}
		encode_framed(buf, NAME, MAX_SETUP_LEN, |body| {
			// The count is at most 64.
			body.put_var(VarInt::from_u32(params.len() as u32));
			for (id, value) in &params {
				body.put_var(*id);
				body.put_var(VarInt::try_from(value.len()).map_err(|_| EncodeError::TooLarge {
					what: "SETUP parameter value",
					len: value.len() as u64,
					max: MAX_SETUP_LEN,
				})?);
				body.put_slice(value);
			}
			Ok(())
		})
	}
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::super::strategy;
	use super::*;

	fn hex(s: &str) -> Vec<u8> {
		::hex::decode(s).unwrap()
	}

	fn decode(bytes: &[u8]) -> Result<Setup, DecodeError> {
		Setup::decode_prefix(bytes, Version::Lite05).map(|(s, _)| s)
	}

	#[test]
	fn duplicate_parameter_is_an_error() {
		// Count 2: Cost=1, Cost=2.
		assert_eq!(
			decode(&hex("0702040101040102")),
			Err(DecodeError::DuplicateParameter { id: COST })
		);
		// Unknown ids may not repeat either.
		assert_eq!(
			decode(&hex("07023f01613f0162")),
			Err(DecodeError::DuplicateParameter {
				id: VarInt::from_u32(0x3f)
			})
		);
		let setup = Setup {
			cost: Some(VarInt::from_u32(1)),
			unknown: vec![UnknownParameter {
				id: COST,
				value: Bytes::from_static(b"x"),
			}],
			..Setup::default()
		};
		assert!(matches!(
			setup.to_bytes(Version::Lite05),
			Err(EncodeError::InvalidValue { .. })
		));
	}

	#[test]
	fn varint_parameter_values_are_whole() {
		// Cost with Length 2 holding a 1-byte varint and a trailing byte.
		assert!(matches!(
			decode(&hex("0501040201ff")),
			Err(DecodeError::InvalidParameter { id: COST, .. })
		));
		// Hop with Length 1 holding the first byte of a 2-byte varint.
		assert!(matches!(
			decode(&hex("0401050140")),
			Err(DecodeError::InvalidParameter { id: HOP, .. })
		));
		// A Path that is not UTF-8.
		assert!(matches!(
			decode(&hex("04010201ff")),
			Err(DecodeError::InvalidParameter { id: PATH, .. })
		));
	}

	#[test]
	fn parameter_count_limit() {
		let mut body = vec![0x40, 65u8]; // count 65, as a 2-byte varint
		for id in 0..65u8 {
			body.extend_from_slice(&[0x40, 0x40 + id, 0]);
		}
		let mut bytes = Vec::new();
		VarInt::try_from(body.len()).unwrap().encode(&mut bytes);
		bytes.extend_from_slice(&body);
		assert!(matches!(
			decode(&bytes),
			Err(DecodeError::TooLarge { len: 65, max: 64, .. })
		));
	}

	#[test]
	fn oversize_setup_is_rejected_from_its_length() {
		let mut bytes = Vec::new();
		VarInt::from_u64(MAX_SETUP_LEN + 1).unwrap().encode(&mut bytes);
		assert!(matches!(decode(&bytes), Err(DecodeError::TooLarge { .. })));
	}

	#[test]
	fn trailing_bytes_after_the_parameters() {
		// Count 0 followed by a stray byte inside the declared length.
		assert_eq!(
			decode(&hex("020000")),
			Err(DecodeError::TrailingBytes {
				message: NAME,
				extra: 1
			})
		);
	}

	#[test]
	fn not_in_lite04() {
		assert!(matches!(
			Setup::decode_prefix(&[1, 0], Version::Lite04),
			Err(DecodeError::NotInVersion { .. })
		));
		assert!(Setup::default().to_bytes(Version::Lite04).is_err());
	}

	#[test]
	fn meanings() {
		let s = |probe: Option<u32>, role: Option<u32>, hop: Option<u32>| Setup {
			probe: probe.map(VarInt::from_u32),
			role: role.map(VarInt::from_u32),
			hop: hop.map(VarInt::from_u32),
			..Setup::default()
		};
		assert_eq!(s(None, None, None).probe_level(), ProbeLevel::None);
		assert_eq!(s(Some(1), None, None).probe_level(), ProbeLevel::Report);
		assert_eq!(s(Some(7), None, None).probe_level(), ProbeLevel::Increase);
		assert_eq!(s(None, Some(1), None).role_kind(), Role::Publisher);
		assert_eq!(s(None, Some(2), None).role_kind(), Role::Subscriber);
		assert_eq!(s(None, Some(9), None).role_kind(), Role::Both);
		assert_eq!(s(None, None, Some(0)).hop_id(), None);
		assert_eq!(s(None, None, Some(5)).hop_id(), Some(VarInt::from_u32(5)));
	}

	fn setup() -> impl Strategy<Value = Setup> {
		(
			prop::option::of(strategy::varint()),
			prop::option::of(strategy::text()),
			prop::option::of(strategy::varint()),
			prop::option::of(strategy::varint()),
			prop::option::of(strategy::varint()),
			prop::collection::btree_map(6u64..100_000, strategy::payload(), 0..8),
		)
			.prop_map(|(probe, path, role, cost, hop, unknown)| Setup {
				probe,
				path,
				role,
				cost,
				hop,
				unknown: unknown
					.into_iter()
					.map(|(id, value)| UnknownParameter {
						id: VarInt::from_u64(id).unwrap(),
						value,
					})
					.collect(),
			})
	}

	proptest! {
		#[test]
		fn round_trip(msg in setup(), version in prop::sample::select(vec![Version::Lite05, Version::Lite06])) {
			strategy::round_trip(&msg, version)?;
		}
	}
}
