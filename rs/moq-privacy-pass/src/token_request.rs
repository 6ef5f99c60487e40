//! `TokenRequest` and `TokenResponse` of issuance protocol 2 (RFC 9578 §6.1, §6.2).
//!
//! ```text
//! struct {
//!     uint16_t token_type = 0x0002;
//!     uint8_t truncated_token_key_id;
//!     uint8_t blinded_msg[Nk];             // 256
//! } TokenRequest;                          // 259 bytes
//!
//! struct {
//!     uint8_t blind_sig[Nk];               // 256
//! } TokenResponse;
//! ```

use crate::Error;
use crate::token::{AUTHENTICATOR_LEN, TOKEN_TYPE_BLIND_RSA};

/// Media type of a TokenRequest body.
pub const TOKEN_REQUEST_MEDIA_TYPE: &str = "application/private-token-request";
/// Media type of a TokenResponse body.
pub const TOKEN_RESPONSE_MEDIA_TYPE: &str = "application/private-token-response";
/// Length of an encoded type-2 TokenRequest.
pub const TOKEN_REQUEST_LEN: usize = 3 + AUTHENTICATOR_LEN;

/// A client's blinded request for a type-2 token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
	/// The last byte of the issuer key's `token_key_id`.
	pub truncated_token_key_id: u8,
	/// The blinded message (`Nk` bytes).
	pub blinded_msg: [u8; AUTHENTICATOR_LEN],
}

impl TokenRequest {
	/// The 259-byte encoding.
	pub fn to_bytes(&self) -> Vec<u8> {
		let mut out = Vec::with_capacity(TOKEN_REQUEST_LEN);
		out.extend_from_slice(&TOKEN_TYPE_BLIND_RSA.to_be_bytes());
		out.push(self.truncated_token_key_id);
		out.extend_from_slice(&self.blinded_msg);
		out
	}

	/// Decodes a request; any token type but 0x0002 is `unsupported_token_type`.
	pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
		if bytes.len() >= 2 {
			let token_type = u16::from_be_bytes([bytes[0], bytes[1]]);
			if token_type != TOKEN_TYPE_BLIND_RSA {
				return Err(Error::UnsupportedTokenType(token_type));
			}
		}
		if bytes.len() != TOKEN_REQUEST_LEN {
			return Err(Error::malformed(format!(
				"a type-2 TokenRequest is {TOKEN_REQUEST_LEN} bytes, got {}",
				bytes.len()
			)));
		}
		Ok(Self {
			truncated_token_key_id: bytes[2],
			blinded_msg: bytes[3..].try_into().expect("256 bytes"),
		})
	}
}

/// The issuer's blind signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
	/// The blind signature (`Nk` bytes).
	pub blind_sig: [u8; AUTHENTICATOR_LEN],
}

impl TokenResponse {
	/// The 256-byte encoding.
	pub fn to_bytes(&self) -> Vec<u8> {
		self.blind_sig.to_vec()
	}

	/// Decodes a response.
	pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
		Ok(Self {
			blind_sig: bytes.try_into().map_err(|_| {
				Error::malformed(format!(
					"a type-2 TokenResponse is {AUTHENTICATOR_LEN} bytes, got {}",
					bytes.len()
				))
			})?,
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn round_trips_and_refuses() {
		let r = TokenRequest {
			truncated_token_key_id: 0x42,
			blinded_msg: [5; 256],
		};
		let b = r.to_bytes();
		assert_eq!(&b[..3], &[0, 2, 0x42]);
		assert_eq!(TokenRequest::from_bytes(&b).unwrap(), r);
		assert_eq!(TokenRequest::from_bytes(&b[..258]).unwrap_err().code(), "malformed");
		let mut other = b.clone();
		other[1] = 1;
		assert_eq!(
			TokenRequest::from_bytes(&other).unwrap_err().code(),
			"unsupported_token_type"
		);
		let resp = TokenResponse { blind_sig: [7; 256] };
		assert_eq!(TokenResponse::from_bytes(&resp.to_bytes()).unwrap(), resp);
		assert_eq!(TokenResponse::from_bytes(&[0; 255]).unwrap_err().code(), "malformed");
	}
}
