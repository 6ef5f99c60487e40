//! The Subscribe stream (bidi 0x2, docs/protocol.md#subscribe-stream): SUBSCRIBE, SUBSCRIBE_UPDATE
//! and the publisher's typed responses.

use bytes::{Buf, BufMut, Bytes};

use super::coding::{
	BufExt, BufMutExt, Decode, DecodeError, Encode, EncodeError, MAX_MESSAGE_LEN, decode_framed, decode_typed,
	encode_framed, encode_typed, require_default,
};
use super::varint::VarInt;
use super::version::Version;

/// The delivery window and priority shared by SUBSCRIBE and SUBSCRIBE_UPDATE:
/// `Priority (u8) | [≤05: Ordered (u8)] | Max Age (i) | Group Start (i) |
/// Group End (i,+1) | [06: Frame Start (i) | Frame End (i,+1)]`.
///
/// "Ordered: retired; write 0, ignore on read" (it is still checked to be a
/// bool, docs/protocol.md#subscription-options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
	/// Subscriber priority, higher = more important.
	pub priority: u8,
	/// Subscriber Max Age in milliseconds.
	pub max_age_ms: VarInt,
	/// First group wanted.
	///
	/// lite-04/05: "+1" on the wire; `None` = start at the latest group,
	/// `Some(n)` = from group n. lite-06: a raw floor; `None` = no floor. On
	/// lite-06 the wire 0 decodes as `Some(0)` only when Frame Start is
	/// non-zero ("non-zero Frame Start needs a Group Start"), so `Some(0)` with
	/// Frame Start 0 is sent as, and reads back as, `None` (both mean "no floor").
	pub group_start: Option<VarInt>,
	/// Last group wanted, inclusive ("+1", `None` = unbounded).
	pub group_end: Option<VarInt>,
	/// lite-06: first frame within the start group (0 elsewhere).
	pub frame_start: VarInt,
	/// lite-06: last frame within the end group, "+1" (`None` elsewhere).
	pub frame_end: Option<VarInt>,
}

/// `SUBSCRIBE = Len | Subscribe ID (i) | Broadcast Path (s) | Track (s) | options`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscribe {
	/// "subscriber-chosen, never reused in the session; tags GROUP streams and
	/// datagrams".
	pub id: VarInt,
	/// The broadcast path.
	pub broadcast: String,
	/// The track name.
	pub track: String,
	/// Priority and delivery window.
	pub options: SubscribeOptions,
}

/// `SUBSCRIBE_UPDATE = Len | options`: replaces the subscription's options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscribeUpdate {
	/// The new priority and delivery window.
	pub options: SubscribeOptions,
}

/// lite-04 `SUBSCRIBE_OK {Priority u8, Ordered u8, Max Age (i), Start (i,+1), End (i,+1)}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscribeOk {
	/// Priority (moq-net echoes the subscriber's).
	pub priority: u8,
	/// Max Age in milliseconds.
	pub max_age_ms: VarInt,
	/// Start group ("+1").
	pub group_start: Option<VarInt>,
	/// End group ("+1").
	pub group_end: Option<VarInt>,
}

/// `SUBSCRIBE_DROP {Start (i), End (i) inclusive, Error (i)}`: groups the
/// publisher will not deliver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscribeDrop {
	/// First dropped group.
	pub start: VarInt,
	/// Last dropped group, inclusive.
	pub end: VarInt,
	/// Error code.
	pub error: VarInt,
}

/// A publisher response on the Subscribe stream: `Type (i) | Len (i) | Body`.
///
/// docs/protocol.md#subscribe-responses: on lite-05/06, type 0 is
/// `SUBSCRIBE_START {Group (i)}`, 1 is `SUBSCRIBE_END {Group (i)}` (exclusive
/// end; 0 = no groups) and 2 is `SUBSCRIBE_DROP`; on lite-04, 0 is
/// `SUBSCRIBE_OK` and 1 is `SUBSCRIBE_DROP`. Rejection is a stream reset, never
/// a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeResponse {
	/// lite-04 only: the subscription is accepted.
	Ok(SubscribeOk),
	/// lite-05+: the first group to be delivered.
	Start {
		/// The group.
		group: VarInt,
	},
	/// lite-05+: the exclusive end group.
	End {
		/// The group.
		group: VarInt,
	},
	/// Groups that will not be delivered.
	Drop(SubscribeDrop),
}

const SUBSCRIBE: &str = "SUBSCRIBE";
const UPDATE: &str = "SUBSCRIBE_UPDATE";
const RESPONSE: &str = "SUBSCRIBE response";

impl SubscribeOptions {
	fn decode(body: &mut Bytes, version: Version) -> Result<Self, DecodeError> {
		let priority = body.get_byte()?;
		if version.has_ordered() {
			body.get_bool("ordered")?;
		}
		let max_age_ms = body.get_var()?;
		let options = match version {
			Version::Lite03 | Version::Lite04 | Version::Lite05 => Self {
				priority,
				max_age_ms,
				group_start: body.get_plus_one()?,
				group_end: body.get_plus_one()?,
				..Self::default()
			},
			Version::Lite06 => {
				let raw_start = body.get_var()?;
				let group_end = body.get_plus_one()?;
				let frame_start = body.get_var()?;
				let frame_end = body.get_plus_one()?;
				// docs/protocol.md#subscription-options: a Frame End needs a Group End.
				// Refused on decode too, so that everything decoded re-encodes (found by
				// the `subscribe` fuzz target).
				if let (Some(end), None) = (frame_end, group_end) {
					return Err(DecodeError::InvalidValue {
						field: "frame_end",
						value: end.into_inner(),
					});
				}
				// "lite-06 a raw floor (0 = no floor)"; moq-net keeps 0 as a
				// floor when a Frame Start needs it.
				let group_start = (raw_start != VarInt::ZERO || frame_start != VarInt::ZERO).then_some(raw_start);
				Self {
					priority,
					max_age_ms,
					group_start,
					group_end,
					frame_start,
					frame_end,
				}
			}
		};
		Ok(options)
	}

	fn encode(&self, body: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
		body.put_u8(self.priority);
		if version.has_ordered() {
			// "Ordered: retired; write 0".
			body.put_bool(false);
		}
		body.put_var(self.max_age_ms);
		match version {
			Version::Lite03 | Version::Lite04 | Version::Lite05 => {
				require_default(&self.frame_start, "frame_start", version)?;
				require_default(&self.frame_end, "frame_end", version)?;
				body.put_plus_one("group_start", self.group_start)?;
				body.put_plus_one("group_end", self.group_end)?;
			}
			Version::Lite06 => {
				// "non-zero Frame Start needs a Group Start, Frame End needs a
				// Group End."
				if self.frame_start != VarInt::ZERO && self.group_start.is_none() {
					return Err(EncodeError::InvalidValue {
						field: "frame_start",
						reason: "a non-zero Frame Start needs a Group Start",
					});
				}
				if self.frame_end.is_some() && self.group_end.is_none() {
					return Err(EncodeError::InvalidValue {
						field: "frame_end",
						reason: "a Frame End needs a Group End",
					});
				}
				body.put_var(self.group_start.unwrap_or(VarInt::ZERO));
				body.put_plus_one("group_end", self.group_end)?;
				body.put_var(self.frame_start);
				body.put_plus_one("frame_end", self.frame_end)?;
			}
		}
		Ok(())
	}
}

impl Decode for Subscribe {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		decode_framed(buf, SUBSCRIBE, MAX_MESSAGE_LEN, |body| {
			Ok(Self {
				id: body.get_var()?,
				broadcast: body.get_path("broadcast path")?,
				track: body.get_string("track name")?,
				options: SubscribeOptions::decode(body, version)?,
			})
		})
	}
}

impl Encode for Subscribe {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		encode_framed(buf, SUBSCRIBE, MAX_MESSAGE_LEN, |body| {
			body.put_var(self.id);
			body.put_path("broadcast path", &self.broadcast)?;
			body.put_string(&self.track)?;
			self.options.encode(body, version)
		})
	}
}

impl Decode for SubscribeUpdate {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		decode_framed(buf, UPDATE, MAX_MESSAGE_LEN, |body| {
			Ok(Self {
				options: SubscribeOptions::decode(body, version)?,
			})
		})
	}
}

impl Encode for SubscribeUpdate {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		encode_framed(buf, UPDATE, MAX_MESSAGE_LEN, |body| self.options.encode(body, version))
	}
}

impl SubscribeResponse {
	/// The wire type of this response in `version`, if it exists there.
	pub fn type_id(&self, version: Version) -> Option<VarInt> {
		let ok = version.has_subscribe_ok();
		let ty = match self {
			SubscribeResponse::Ok(_) if ok => 0,
			SubscribeResponse::Start { .. } if !ok => 0,
			SubscribeResponse::End { .. } if !ok => 1,
			SubscribeResponse::Drop(_) if ok => 1,
			SubscribeResponse::Drop(_) => 2,
			_ => return None,
		};
		Some(VarInt::from_u32(ty))
	}
}

impl Decode for SubscribeResponse {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		decode_typed(buf, RESPONSE, |ty, body| {
			let drop = |body: &mut Bytes| -> Result<Self, DecodeError> {
				Ok(SubscribeResponse::Drop(SubscribeDrop {
					start: body.get_var()?,
					end: body.get_var()?,
					error: body.get_var()?,
				}))
			};
			match (version, ty.into_inner()) {
				(Version::Lite03 | Version::Lite04, 0) => {
					let priority = body.get_byte()?;
					body.get_bool("ordered")?;
					Ok(SubscribeResponse::Ok(SubscribeOk {
						priority,
						max_age_ms: body.get_var()?,
						group_start: body.get_plus_one()?,
						group_end: body.get_plus_one()?,
					}))
				}
				(Version::Lite03 | Version::Lite04, 1) => drop(body),
				(Version::Lite05 | Version::Lite06, 0) => Ok(SubscribeResponse::Start { group: body.get_var()? }),
				(Version::Lite05 | Version::Lite06, 1) => Ok(SubscribeResponse::End { group: body.get_var()? }),
				(Version::Lite05 | Version::Lite06, 2) => drop(body),
				_ => Err(DecodeError::UnknownMessageType { message: RESPONSE, ty }),
			}
		})
	}
}

impl Encode for SubscribeResponse {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		let ty = self.type_id(version).ok_or(EncodeError::NotInVersion {
			message: match self {
				SubscribeResponse::Ok(_) => "SUBSCRIBE_OK",
				SubscribeResponse::Start { .. } => "SUBSCRIBE_START",
				SubscribeResponse::End { .. } => "SUBSCRIBE_END",
				SubscribeResponse::Drop(_) => "SUBSCRIBE_DROP",
			},
			version,
		})?;
		encode_typed(buf, RESPONSE, ty, |body| {
			match self {
				SubscribeResponse::Ok(ok) => {
					body.put_u8(ok.priority);
					body.put_bool(false);
					body.put_var(ok.max_age_ms);
					body.put_plus_one("group_start", ok.group_start)?;
					body.put_plus_one("group_end", ok.group_end)?;
				}
				SubscribeResponse::Start { group } | SubscribeResponse::End { group } => body.put_var(*group),
				SubscribeResponse::Drop(drop) => {
					body.put_var(drop.start);
					body.put_var(drop.end);
					body.put_var(drop.error);
				}
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

	#[test]
	fn lite06_group_start_zero_needs_a_frame_start() {
		let options = |group_start: Option<u32>, frame_start: u32| SubscribeOptions {
			group_start: group_start.map(VarInt::from_u32),
			frame_start: VarInt::from_u32(frame_start),
			..SubscribeOptions::default()
		};
		let decoded = |o: SubscribeOptions| {
			let bytes = SubscribeUpdate { options: o }.to_bytes(Version::Lite06).unwrap();
			SubscribeUpdate::decode_prefix(&bytes, Version::Lite06)
				.unwrap()
				.0
				.options
		};
		assert_eq!(decoded(options(Some(0), 3)), options(Some(0), 3));
		assert_eq!(decoded(options(Some(0), 0)), options(None, 0));
		assert!(
			SubscribeUpdate {
				options: options(None, 3)
			}
			.to_bytes(Version::Lite06)
			.is_err()
		);
		let end_only = SubscribeOptions {
			frame_end: Some(VarInt::ZERO),
			..SubscribeOptions::default()
		};
		assert!(SubscribeUpdate { options: end_only }.to_bytes(Version::Lite06).is_err());
	}

	#[test]
	fn frame_bounds_only_on_lite06() {
		let options = SubscribeOptions {
			group_start: Some(VarInt::ZERO),
			frame_start: VarInt::from_u32(1),
			..SubscribeOptions::default()
		};
		assert!(matches!(
			SubscribeUpdate { options }.to_bytes(Version::Lite05),
			Err(EncodeError::FieldNotInVersion {
				field: "frame_start",
				..
			})
		));
	}

	#[test]
	fn ordered_must_be_a_bool() {
		// SUBSCRIBE_UPDATE lite-05: priority, ordered = 2, max age, start, end.
		assert!(matches!(
			SubscribeUpdate::decode_prefix(&[5, 0, 2, 0, 0, 0], Version::Lite05),
			Err(DecodeError::InvalidValue {
				field: "ordered",
				value: 2
			})
		));
	}

	#[test]
	fn unknown_response_types() {
		for (version, ty) in [
			(Version::Lite03, 2u8),
			(Version::Lite04, 2),
			(Version::Lite05, 3),
			(Version::Lite06, 9),
		] {
			assert_eq!(
				SubscribeResponse::decode_prefix(&[ty, 1, 0], version),
				Err(DecodeError::UnknownMessageType {
					message: RESPONSE,
					ty: ty.into()
				})
			);
		}
		let start = SubscribeResponse::Start { group: VarInt::ZERO };
		assert!(start.to_bytes(Version::Lite04).is_err());
		assert!(
			SubscribeResponse::Ok(SubscribeOk::default())
				.to_bytes(Version::Lite05)
				.is_err()
		);
	}

	#[test]
	fn truncated_and_trailing() {
		let msg = Subscribe {
			id: VarInt::from_u32(7),
			broadcast: "room/alice".into(),
			track: "video".into(),
			options: SubscribeOptions::default(),
		};
		let mut bytes = msg.to_bytes(Version::Lite05).unwrap();
		for cut in 0..bytes.len() {
			assert_eq!(
				Subscribe::decode_prefix(&bytes[..cut], Version::Lite05),
				Err(DecodeError::UnexpectedEnd)
			);
		}
		// One more byte inside the declared length.
		bytes[0] += 1;
		bytes.push(0);
		assert_eq!(
			Subscribe::decode_prefix(&bytes, Version::Lite05),
			Err(DecodeError::TrailingBytes {
				message: SUBSCRIBE,
				extra: 1
			})
		);
	}

	fn options(version: Version) -> impl Strategy<Value = SubscribeOptions> {
		(
			any::<u8>(),
			strategy::varint(),
			strategy::plus_one(),
			strategy::plus_one(),
			strategy::varint(),
			strategy::plus_one(),
		)
			.prop_map(
				move |(priority, max_age_ms, group_start, group_end, frame_start, frame_end)| {
					let mut o = SubscribeOptions {
						priority,
						max_age_ms,
						group_start,
						group_end,
						frame_start,
						frame_end,
					};
					if version.has_frame_bounds() {
						// Keep the lite-06 rules, and its one ambiguity, out of the way.
						if o.group_start.is_none() {
							o.frame_start = VarInt::ZERO;
						}
						if o.group_end.is_none() {
							o.frame_end = None;
						}
						if o.group_start == Some(VarInt::ZERO) && o.frame_start == VarInt::ZERO {
							o.group_start = None;
						}
					} else {
						o.frame_start = VarInt::ZERO;
						o.frame_end = None;
					}
					o
				},
			)
	}

	fn response(version: Version) -> BoxedStrategy<SubscribeResponse> {
		let drop = (strategy::varint(), strategy::varint(), strategy::varint())
			.prop_map(|(start, end, error)| SubscribeResponse::Drop(SubscribeDrop { start, end, error }));
		if version.has_subscribe_ok() {
			let ok = (
				any::<u8>(),
				strategy::varint(),
				strategy::plus_one(),
				strategy::plus_one(),
			)
				.prop_map(|(priority, max_age_ms, group_start, group_end)| {
					SubscribeResponse::Ok(SubscribeOk {
						priority,
						max_age_ms,
						group_start,
						group_end,
					})
				});
			prop_oneof![ok, drop].boxed()
		} else {
			prop_oneof![
				strategy::varint().prop_map(|group| SubscribeResponse::Start { group }),
				strategy::varint().prop_map(|group| SubscribeResponse::End { group }),
				drop,
			]
			.boxed()
		}
	}

	proptest! {
		#[test]
		fn subscribe_round_trip(
			(version, options) in strategy::version().prop_flat_map(|v| (Just(v), options(v))),
			id in strategy::varint(),
			broadcast in strategy::path(),
			track in strategy::text(),
		) {
			strategy::round_trip(&Subscribe { id, broadcast, track, options }, version)?;
		}

		#[test]
		fn update_round_trip((version, options) in strategy::version().prop_flat_map(|v| (Just(v), options(v)))) {
			strategy::round_trip(&SubscribeUpdate { options }, version)?;
		}

		#[test]
		fn response_round_trip((version, msg) in strategy::version().prop_flat_map(|v| (Just(v), response(v)))) {
			prop_assert!(msg.type_id(version).is_some());
			strategy::round_trip(&msg, version)?;
		}
	}
}
