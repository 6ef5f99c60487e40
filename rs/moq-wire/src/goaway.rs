//! The Goaway stream (bidi 0x5, lite-04+, docs/protocol.md#goaway-stream): GOAWAY.

use bytes::{Buf, BufMut};

use super::coding::{
	BufExt, BufMutExt, Decode, DecodeError, Encode, EncodeError, MAX_GOAWAY_URI_LEN, MAX_MESSAGE_LEN, decode_framed,
	encode_framed, require_decode, require_encode,
};
use super::version::Version;

/// `GOAWAY = Len | New Session URI (s)` ("empty = no redirect"). The receiver
/// opens no new streams and migrates; the sender FINs when it closes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Goaway {
	/// Where to reconnect; empty for no redirect. At most
	/// [`MAX_GOAWAY_URI_LEN`] bytes.
	pub uri: String,
}

fn too_long(len: usize) -> (u64, u64) {
	(len as u64, MAX_GOAWAY_URI_LEN as u64)
}

impl Decode for Goaway {
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		require_decode(version.has_goaway(), "GOAWAY", version)?;
		decode_framed(buf, "GOAWAY", MAX_MESSAGE_LEN, |body| {
			let uri = body.get_string("new session URI")?;
			// docs/protocol.md#limits: a GOAWAY URI is at most 8192 bytes.
			if uri.len() > MAX_GOAWAY_URI_LEN {
				let (len, max) = too_long(uri.len());
				return Err(DecodeError::TooLarge {
					what: "GOAWAY URI",
					len,
					max,
				});
			}
			Ok(Self { uri })
		})
	}
}

impl Encode for Goaway {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		require_encode(version.has_goaway(), "GOAWAY", version)?;
		if self.uri.len() > MAX_GOAWAY_URI_LEN {
			let (len, max) = too_long(self.uri.len());
			return Err(EncodeError::TooLarge {
				what: "GOAWAY URI",
				len,
				max,
			});
		}
		encode_framed(buf, "GOAWAY", MAX_MESSAGE_LEN, |body| body.put_string(&self.uri))
	}
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::super::strategy;
	use super::*;

	#[test]
	fn uri_limit() {
		let ok = Goaway {
			uri: "a".repeat(MAX_GOAWAY_URI_LEN),
		};
		let bytes = ok.to_bytes(Version::Lite05).unwrap();
		assert_eq!(Goaway::decode_prefix(&bytes, Version::Lite05).unwrap().0, ok);
		let long = Goaway {
			uri: "a".repeat(MAX_GOAWAY_URI_LEN + 1),
		};
		assert!(long.to_bytes(Version::Lite05).is_err());
		// Hand-encode the long one: Len (2-byte varint) | URI Len (2-byte) | bytes.
		let uri_len = MAX_GOAWAY_URI_LEN + 1;
		let mut bytes = Vec::new();
		super::super::VarInt::try_from(uri_len + 2).unwrap().encode(&mut bytes);
		super::super::VarInt::try_from(uri_len).unwrap().encode(&mut bytes);
		bytes.extend(std::iter::repeat_n(b'a', uri_len));
		assert!(matches!(
			Goaway::decode_prefix(&bytes, Version::Lite05),
			Err(DecodeError::TooLarge {
				len: 8193,
				max: 8192,
				..
			})
		));
	}

	proptest! {
		#[test]
		fn round_trip(version in strategy::version(), uri in strategy::text()) {
			let goaway = Goaway { uri };
			if version.has_goaway() {
				strategy::round_trip(&goaway, version)?;
			} else {
				prop_assert!(goaway.to_bytes(version).is_err());
			}
		}
	}
}
