//! `Token` of type 0x0002 (RFC 9577 §2.2, RFC 9578 §6).
//!
//! ```text
//! struct {
//!     uint16_t token_type = 0x0002;
//!     uint8_t nonce[32];
//!     uint8_t challenge_digest[32];
//!     uint8_t token_key_id[32];
//!     uint8_t authenticator[256];
//! } Token;                                  // 354 bytes
//! ```
//!
//! The original MoQ Privacy Pass client (draft-ietf-moq-privacy-pass-auth-01, `PrivateTokenAuth`) sends 357 bytes: the token
//! inside `auth_scheme u8 = 0x01 | token_len u16 = 354 | token`. [`Token::from_bytes`] accepts both.

use crate::{Error, b64};

/// Token type of publicly verifiable Blind RSA (2048-bit) tokens.
pub const TOKEN_TYPE_BLIND_RSA: u16 = 0x0002;
/// Length of the authenticator (Nk, the RSA-2048 modulus length).
pub const AUTHENTICATOR_LEN: usize = 256;
/// Length of the signed part: `token_type | nonce | challenge_digest | token_key_id`.
pub const AUTHENTICATOR_INPUT_LEN: usize = 2 + 32 + 32 + 32;
/// Length of an encoded type-2 token.
pub const TOKEN_LEN: usize = AUTHENTICATOR_INPUT_LEN + AUTHENTICATOR_LEN;
/// `auth_scheme` of draft-ietf-moq-privacy-pass-auth-01 `PrivateTokenAuth` (Privacy Pass).
pub const AUTH_SCHEME_PRIVACY_PASS: u8 = 0x01;
/// Length of the original MoQ Privacy Pass client's wrapped form: `auth_scheme u8 | token_len u16 | token`.
pub const WRAPPED_TOKEN_LEN: usize = 3 + TOKEN_LEN;

/// A type-0x0002 token, as presented by a client.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token {
	bytes: [u8; TOKEN_LEN],
}

impl std::fmt::Debug for Token {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("Token")
			.field("token_type", &format_args!("{:#06x}", self.token_type()))
			.field("nonce", &crate::error::short_hex(self.nonce()))
			.field("challenge_digest", &crate::error::short_hex(self.challenge_digest()))
			.field("token_key_id", &crate::error::short_hex(self.token_key_id()))
			.finish_non_exhaustive()
	}
}

impl Token {
	/// Builds a type-2 token from its fields.
	pub fn new(
		nonce: [u8; 32],
		challenge_digest: [u8; 32],
		token_key_id: [u8; 32],
		authenticator: [u8; AUTHENTICATOR_LEN],
	) -> Self {
		let mut bytes = [0u8; TOKEN_LEN];
		bytes[..2].copy_from_slice(&TOKEN_TYPE_BLIND_RSA.to_be_bytes());
		bytes[2..34].copy_from_slice(&nonce);
		bytes[34..66].copy_from_slice(&challenge_digest);
		bytes[66..98].copy_from_slice(&token_key_id);
		bytes[98..].copy_from_slice(&authenticator);
		Self { bytes }
	}

	/// Parses a presented token: 354 bytes, or the original MoQ Privacy Pass client's 357-byte `PrivateTokenAuth` wrapper
	/// (`0x01 | 0x0162 | token`).
	///
	/// Checks, in order: length (`malformed`), then token type (`unsupported_token_type`).
	pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
		let bytes = unwrap_private_token_auth(bytes).unwrap_or(bytes);
		let bytes: [u8; TOKEN_LEN] = bytes.try_into().map_err(|_| {
			Error::malformed(format!(
				"a type-2 token is {TOKEN_LEN} bytes (or {WRAPPED_TOKEN_LEN} wrapped), got {}",
				bytes.len()
			))
		})?;
		let token_type = u16::from_be_bytes([bytes[0], bytes[1]]);
		if token_type != TOKEN_TYPE_BLIND_RSA {
			return Err(Error::UnsupportedTokenType(token_type));
		}
		Ok(Self { bytes })
	}

	/// Parses a token given as text: base64url or standard base64, padded or not, quoted or not.
	pub fn from_base64(text: &str) -> Result<Self, Error> {
		Self::from_bytes(&b64::decode_lenient(text, "token")?)
	}

	/// The token type (always 0x0002 for a parsed token).
	pub fn token_type(&self) -> u16 {
		u16::from_be_bytes([self.bytes[0], self.bytes[1]])
	}

	/// The client's random nonce (the replay key).
	pub fn nonce(&self) -> &[u8; 32] {
		self.bytes[2..34].try_into().expect("32 bytes")
	}

	/// SHA-256 of the TokenChallenge this token answers.
	pub fn challenge_digest(&self) -> &[u8; 32] {
		self.bytes[34..66].try_into().expect("32 bytes")
	}

	/// SHA-256 of the issuer key's SPKI.
	pub fn token_key_id(&self) -> &[u8; 32] {
		self.bytes[66..98].try_into().expect("32 bytes")
	}

	/// The signed part (the first 98 bytes).
	pub fn authenticator_input(&self) -> &[u8] {
		&self.bytes[..AUTHENTICATOR_INPUT_LEN]
	}

	/// The RSASSA-PSS signature over [`Self::authenticator_input`].
	pub fn authenticator(&self) -> &[u8] {
		&self.bytes[AUTHENTICATOR_INPUT_LEN..]
	}

	/// The 354-byte encoding.
	pub fn as_bytes(&self) -> &[u8; TOKEN_LEN] {
		&self.bytes
	}

	/// The original MoQ Privacy Pass client's 357-byte form: `0x01 | u16 354 | token`.
	pub fn to_wrapped_bytes(&self) -> Vec<u8> {
		let mut out = Vec::with_capacity(WRAPPED_TOKEN_LEN);
		out.push(AUTH_SCHEME_PRIVACY_PASS);
		out.extend_from_slice(&(TOKEN_LEN as u16).to_be_bytes());
		out.extend_from_slice(&self.bytes);
		out
	}

	/// base64url with padding, as `Authorization: PrivateToken token="..."` carries it (RFC 9577 §2.2.2).
	pub fn to_base64(&self) -> String {
		b64::encode_padded(&self.bytes)
	}

	/// base64url without padding, for the `pp=` query parameter.
	pub fn to_base64_unpadded(&self) -> String {
		b64::encode_unpadded(&self.bytes)
	}
}

/// The token inside a draft-01 `PrivateTokenAuth` wrapper, if `bytes` is exactly one.
fn unwrap_private_token_auth(bytes: &[u8]) -> Option<&[u8]> {
	let (&scheme, rest) = bytes.split_first()?;
	if scheme != AUTH_SCHEME_PRIVACY_PASS || rest.len() < 2 {
		return None;
	}
	let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
	let inner = &rest[2..];
	(len == inner.len() && len == TOKEN_LEN).then_some(inner)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn sample() -> Token {
		Token::new([1; 32], [2; 32], [3; 32], [4; 256])
	}

	#[test]
	fn layout() {
		let t = sample();
		let b = t.as_bytes();
		assert_eq!(b.len(), 354);
		assert_eq!(&b[..2], &[0, 2]);
		assert_eq!(t.nonce(), &[1; 32]);
		assert_eq!(t.challenge_digest(), &[2; 32]);
		assert_eq!(t.token_key_id(), &[3; 32]);
		assert_eq!(t.authenticator(), &[4; 256]);
		assert_eq!(t.authenticator_input().len(), 98);
	}

	#[test]
	fn accepts_plain_and_wrapped() {
		let t = sample();
		assert_eq!(Token::from_bytes(t.as_bytes()).unwrap(), t);
		let wrapped = t.to_wrapped_bytes();
		assert_eq!(wrapped.len(), 357);
		assert_eq!(&wrapped[..3], &[0x01, 0x01, 0x62]);
		assert_eq!(Token::from_bytes(&wrapped).unwrap(), t);
	}

	#[test]
	fn refuses_wrong_wrappers_and_lengths() {
		let t = sample();
		let mut bad_scheme = t.to_wrapped_bytes();
		bad_scheme[0] = 0x02;
		assert_eq!(Token::from_bytes(&bad_scheme).unwrap_err().code(), "malformed");
		let mut bad_len = t.to_wrapped_bytes();
		bad_len[2] = 0x61;
		assert_eq!(Token::from_bytes(&bad_len).unwrap_err().code(), "malformed");
		assert_eq!(Token::from_bytes(&t.as_bytes()[..353]).unwrap_err().code(), "malformed");
		assert_eq!(Token::from_bytes(&[]).unwrap_err().code(), "malformed");
		let mut longer = t.as_bytes().to_vec();
		longer.push(0);
		assert_eq!(Token::from_bytes(&longer).unwrap_err().code(), "malformed");
	}

	#[test]
	fn refuses_other_types() {
		let mut b = *sample().as_bytes();
		b[1] = 1;
		assert_eq!(Token::from_bytes(&b).unwrap_err(), Error::UnsupportedTokenType(1));
	}

	#[test]
	fn base64_forms() {
		let t = sample();
		let padded = t.to_base64();
		assert_eq!(padded.len(), 472, "354 bytes need no padding");
		for text in [
			padded.clone(),
			t.to_base64_unpadded(),
			format!("\"{padded}\""),
			padded.replace('-', "+").replace('_', "/"),
		] {
			assert_eq!(Token::from_base64(&text).unwrap(), t, "{text}");
		}
		assert_eq!(Token::from_base64("%%%").unwrap_err().code(), "malformed");
	}
}
