//! proptest strategies shared by the round-trip tests.

use bytes::Bytes;
use proptest::prelude::*;

use super::{MAX_HOPS, VarInt, Version};

/// Any varint, biased towards the encoding-length boundaries.
pub fn varint() -> impl Strategy<Value = VarInt> {
	prop_oneof![
		0..64u64,
		prop::sample::select(vec![63u64, 64, 16_383, 16_384, (1 << 30) - 1, 1 << 30, (1 << 62) - 1]),
		0..=VarInt::MAX.into_inner(),
	]
	.prop_map(|v| VarInt::from_u64(v).expect("in range"))
}

/// A varint below 2^62-1, so that it fits a "+1 optional".
pub fn plus_one() -> impl Strategy<Value = Option<VarInt>> {
	prop::option::of(varint().prop_filter("fits +1", |v| v.checked_add_one().is_some()))
}

/// A path of at most a few segments, with arbitrary (UTF-8) text.
pub fn path() -> impl Strategy<Value = String> {
	prop::collection::vec("[a-z0-9.\\-é]{0,6}", 0..6).prop_map(|segments| segments.join("/"))
}

/// Any short UTF-8 string.
pub fn text() -> impl Strategy<Value = String> {
	".{0,24}"
}

/// A hop chain within [`MAX_HOPS`].
pub fn hops() -> impl Strategy<Value = Vec<VarInt>> {
	prop::collection::vec(varint(), 0..=MAX_HOPS)
}

/// Any payload.
pub fn payload() -> impl Strategy<Value = Bytes> {
	prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

/// Any implemented version.
pub fn version() -> impl Strategy<Value = Version> {
	prop::sample::select(Version::ALL.to_vec())
}

/// Encodes `msg`, decodes it back, and checks that every strict prefix of the
/// encoding is "need more bytes".
pub fn round_trip<T>(msg: &T, version: Version) -> Result<(), TestCaseError>
where
	T: super::Encode + super::Decode + PartialEq + std::fmt::Debug,
{
	let bytes = msg
		.to_bytes(version)
		.map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
	let (decoded, used) = T::decode_prefix(&bytes, version).map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
	prop_assert_eq!(&decoded, msg);
	prop_assert_eq!(used, bytes.len());
	for cut in 0..bytes.len() {
		prop_assert_eq!(
			T::decode_prefix(&bytes[..cut], version).map(|(v, _)| v),
			Err(super::DecodeError::UnexpectedEnd),
			"prefix of {} bytes",
			cut
		);
	}
	Ok(())
}

/// [`round_trip`] for the IETF drafts' messages, in their context `C`.
pub fn round_trip_with<T, C>(msg: &T, ctx: C) -> Result<(), TestCaseError>
where
	T: super::ietf::EncodeWith<C> + super::ietf::DecodeWith<C> + PartialEq + std::fmt::Debug,
	C: Copy,
{
	let bytes = msg
		.to_bytes(ctx)
		.map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
	let (decoded, used) = T::decode_prefix(&bytes, ctx).map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
	prop_assert_eq!(&decoded, msg);
	prop_assert_eq!(used, bytes.len());
	for cut in 0..bytes.len() {
		prop_assert_eq!(
			T::decode_prefix(&bytes[..cut], ctx).map(|(v, _)| v),
			Err(super::DecodeError::UnexpectedEnd),
			"prefix of {} bytes",
			cut
		);
	}
	Ok(())
}
