//! Datagrams (lite-05+, QUIC/WebTransport only, docs/protocol.md#datagrams).

use bytes::{Buf, BufMut, Bytes};

use super::coding::{
	BufExt, BufMutExt, Decode, DecodeError, Encode, EncodeError, MAX_DATAGRAM_LEN, require_decode, require_encode,
};
use super::varint::VarInt;
use super::version::Version;

const NAME: &str = "DATAGRAM";

/// `Subscribe ID (i) | Group Sequence (i) | Timestamp (i, absolute) | Payload
/// (to end)`: a single-frame group.
///
/// Decoding consumes the whole buffer (the payload runs to the end). A
/// datagram that fails to decode is dropped: "drop if unknown id or too big".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Datagram {
	/// The SUBSCRIBE this datagram answers.
	pub subscribe_id: VarInt,
	/// The group sequence.
	pub sequence: VarInt,
	/// The absolute timestamp, in the track's Timescale.
	pub timestamp: VarInt,
	/// The payload.
	pub payload: Bytes,
}

impl Datagram {
	fn len(&self) -> usize {
		self.subscribe_id.size() + self.sequence.size() + self.timestamp.size() + self.payload.len()
	}
}

impl Decode for Datagram {
	/// Decodes a whole datagram. A datagram is complete by construction, so a
	/// short one is [`DecodeError::ShortBody`], never "need more bytes".
	fn decode<B: Buf>(buf: &mut B, version: Version) -> Result<Self, DecodeError> {
		require_decode(version.has_timestamps(), NAME, version)?;
		// "≤ 1200 bytes in total; drop if … too big".
		if buf.remaining() > MAX_DATAGRAM_LEN {
			return Err(DecodeError::TooLarge {
				what: NAME,
				len: buf.remaining() as u64,
				max: MAX_DATAGRAM_LEN as u64,
			});
		}
		let mut header = || -> Result<(VarInt, VarInt, VarInt), DecodeError> {
			Ok((buf.get_var()?, buf.get_var()?, buf.get_var()?))
		};
		let (subscribe_id, sequence, timestamp) = header().map_err(|err| match err {
			DecodeError::UnexpectedEnd => DecodeError::ShortBody { message: NAME },
			err => err,
		})?;
		let payload = buf.copy_to_bytes(buf.remaining());
		Ok(Self {
			subscribe_id,
			sequence,
			timestamp,
			payload,
		})
	}
}

impl Encode for Datagram {
	fn encode<B: BufMut>(&self, buf: &mut B, version: Version) -> Result<(), EncodeError> {
		require_encode(version.has_timestamps(), NAME, version)?;
		if self.len() > MAX_DATAGRAM_LEN {
			return Err(EncodeError::TooLarge {
				what: NAME,
				len: self.len() as u64,
				max: MAX_DATAGRAM_LEN as u64,
			});
		}
		buf.put_var(self.subscribe_id);
		buf.put_var(self.sequence);
		buf.put_var(self.timestamp);
		buf.put_slice(&self.payload);
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::super::strategy;
	use super::*;

	#[test]
	fn size_limit() {
		let fits = Datagram {
			payload: Bytes::from(vec![0; MAX_DATAGRAM_LEN - 3]),
			..Datagram::default()
		};
		let bytes = fits.to_bytes(Version::Lite05).unwrap();
		assert_eq!(bytes.len(), MAX_DATAGRAM_LEN);
		assert_eq!(Datagram::decode_prefix(&bytes, Version::Lite05).unwrap().0, fits);
		let too_big = Datagram {
			payload: Bytes::from(vec![0; MAX_DATAGRAM_LEN - 2]),
			..Datagram::default()
		};
		assert!(too_big.to_bytes(Version::Lite05).is_err());
		let mut bytes = bytes;
		bytes.push(0);
		assert!(matches!(
			Datagram::decode_prefix(&bytes, Version::Lite05),
			Err(DecodeError::TooLarge { len: 1201, .. })
		));
	}

	#[test]
	fn truncated_header_is_malformed_not_incomplete() {
		assert_eq!(
			Datagram::decode_prefix(&[0, 2], Version::Lite05),
			Err(DecodeError::ShortBody { message: NAME })
		);
		assert!(Datagram::default().to_bytes(Version::Lite04).is_err());
	}

	proptest! {
		#[test]
		fn round_trip(
			version in prop::sample::select(vec![Version::Lite05, Version::Lite06]),
			subscribe_id in strategy::varint(),
			sequence in strategy::varint(),
			timestamp in strategy::varint(),
			payload in strategy::payload(),
		) {
			let msg = Datagram { subscribe_id, sequence, timestamp, payload };
			let bytes = msg.to_bytes(version).unwrap();
			prop_assert_eq!(Datagram::decode_prefix(&bytes, version).unwrap(), (msg, bytes.len()));
		}
	}
}
