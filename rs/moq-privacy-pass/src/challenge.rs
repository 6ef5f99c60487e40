//! `TokenChallenge` (RFC 9577 §2.1.1): what the relay asks a client to present a token for.
//!
//! ```text
//! struct {
//!     uint16_t token_type;
//!     opaque issuer_name<1..2^16-1>;
//!     opaque redemption_context<0..32>;
//!     opaque origin_info<0..2^16-1>;
//! } TokenChallenge;
//! ```

use aws_lc_rs::digest;

use crate::{Error, b64};

/// Prefix of the MoQ close reason that carries a challenge (`pp:<base64url>`), as the original MoQ Privacy Pass client reads it.
pub const CLOSE_REASON_PREFIX: &str = "pp:";

/// A Privacy Pass token challenge.
///
/// `redemption_context` is either empty or exactly 32 bytes (RFC 9577 §2.1.1: "either 0 or 32 bytes"),
/// so it is an `Option<[u8; 32]>`. `origin_info` is opaque bytes: RFC 9577 puts comma-separated origin
/// names there, draft-ietf-moq-privacy-pass-auth a binary `MoQAuthorizationInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenChallenge {
	token_type: u16,
	issuer_name: String,
	redemption_context: Option<[u8; 32]>,
	origin_info: Vec<u8>,
}

impl TokenChallenge {
	/// A challenge; `issuer_name` must be 1..=65535 bytes and `origin_info` at most 65535 bytes.
	pub fn new(
		token_type: u16,
		issuer_name: impl Into<String>,
		redemption_context: Option<[u8; 32]>,
		origin_info: impl Into<Vec<u8>>,
	) -> Result<Self, Error> {
		let issuer_name = issuer_name.into();
		let origin_info = origin_info.into();
		if issuer_name.is_empty() || issuer_name.len() > usize::from(u16::MAX) {
			return Err(Error::malformed(format!(
				"issuer_name must be 1..=65535 bytes, got {}",
				issuer_name.len()
			)));
		}
		if origin_info.len() > usize::from(u16::MAX) {
			return Err(Error::malformed(format!(
				"origin_info must be at most 65535 bytes, got {}",
				origin_info.len()
			)));
		}
		Ok(Self {
			token_type,
			issuer_name,
			redemption_context,
			origin_info,
		})
	}

	/// The token type this challenge asks for (0x0002 for Blind RSA 2048).
	pub fn token_type(&self) -> u16 {
		self.token_type
	}

	/// The issuer the client should get a token from.
	pub fn issuer_name(&self) -> &str {
		&self.issuer_name
	}

	/// The redemption context: `None` when empty, else 32 bytes.
	pub fn redemption_context(&self) -> Option<&[u8; 32]> {
		self.redemption_context.as_ref()
	}

	/// The origin info bytes (possibly empty).
	pub fn origin_info(&self) -> &[u8] {
		&self.origin_info
	}

	/// The wire encoding.
	pub fn to_bytes(&self) -> Vec<u8> {
		let ctx: &[u8] = match &self.redemption_context {
			Some(c) => c,
			None => &[],
		};
		let mut out = Vec::with_capacity(2 + 2 + self.issuer_name.len() + 1 + ctx.len() + 2 + self.origin_info.len());
		out.extend_from_slice(&self.token_type.to_be_bytes());
		// Lengths were checked by `new`/`from_bytes`.
		out.extend_from_slice(&(self.issuer_name.len() as u16).to_be_bytes());
		out.extend_from_slice(self.issuer_name.as_bytes());
		out.push(ctx.len() as u8);
		out.extend_from_slice(ctx);
		out.extend_from_slice(&(self.origin_info.len() as u16).to_be_bytes());
		out.extend_from_slice(&self.origin_info);
		out
	}

	/// Decodes the wire encoding; trailing bytes are refused.
	pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
		let mut r = Reader(bytes);
		let token_type = r.u16("token_type")?;
		let issuer_len = usize::from(r.u16("issuer_name length")?);
		let issuer = r.take(issuer_len, "issuer_name")?;
		let ctx_len = usize::from(r.u8("redemption_context length")?);
		let ctx = r.take(ctx_len, "redemption_context")?;
		let origin_len = usize::from(r.u16("origin_info length")?);
		let origin_info = r.take(origin_len, "origin_info")?.to_vec();
		if !r.0.is_empty() {
			return Err(Error::malformed(format!(
				"TokenChallenge has {} trailing bytes",
				r.0.len()
			)));
		}
		let issuer_name = String::from_utf8(issuer.to_vec())
			.map_err(|_| Error::malformed("TokenChallenge issuer_name is not UTF-8"))?;
		let redemption_context = match ctx_len {
			0 => None,
			32 => Some(ctx.try_into().expect("32 bytes")),
			n => {
				return Err(Error::malformed(format!(
					"redemption_context must be 0 or 32 bytes, got {n}"
				)));
			}
		};
		Self::new(token_type, issuer_name, redemption_context, origin_info)
	}

	/// SHA-256 of the encoded challenge: the `challenge_digest` a token for this challenge carries.
	pub fn digest(&self) -> [u8; 32] {
		digest_of(&self.to_bytes())
	}

	/// base64url with padding, as in `WWW-Authenticate: PrivateToken challenge="..."`.
	pub fn to_base64(&self) -> String {
		b64::encode_padded(&self.to_bytes())
	}

	/// Decodes base64url (or standard base64), padded or not, quoted or not.
	pub fn from_base64(text: &str) -> Result<Self, Error> {
		Self::from_bytes(&b64::decode_lenient(text, "TokenChallenge")?)
	}

	/// The MoQ close reason that carries this challenge: `pp:` + unpadded base64url (what the original
	/// `pp_client` looks for after the unauthorized close code 0x2).
	pub fn to_close_reason(&self) -> String {
		format!("{CLOSE_REASON_PREFIX}{}", b64::encode_unpadded(&self.to_bytes()))
	}

	/// Reads a challenge back from a close reason, with or without the `pp:` prefix.
	pub fn from_close_reason(reason: &str) -> Result<Self, Error> {
		let reason = reason.trim();
		Self::from_base64(reason.strip_prefix(CLOSE_REASON_PREFIX).unwrap_or(reason))
	}
}

/// SHA-256 of `bytes` as a fixed array.
pub(crate) fn digest_of(bytes: &[u8]) -> [u8; 32] {
	digest::digest(&digest::SHA256, bytes)
		.as_ref()
		.try_into()
		.expect("SHA-256 is 32 bytes")
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
	fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
		if self.0.len() < n {
			return Err(Error::malformed(format!(
				"TokenChallenge ends inside {what} (needs {n} bytes, {} left)",
				self.0.len()
			)));
		}
		let (head, tail) = self.0.split_at(n);
		self.0 = tail;
		Ok(head)
	}

	fn u8(&mut self, what: &str) -> Result<u8, Error> {
		Ok(self.take(1, what)?[0])
	}

	fn u16(&mut self, what: &str) -> Result<u16, Error> {
		let b = self.take(2, what)?;
		Ok(u16::from_be_bytes([b[0], b[1]]))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn sample() -> TokenChallenge {
		TokenChallenge::new(2, "issuer.example", Some([7; 32]), b"origin.example".to_vec()).unwrap()
	}

	#[test]
	fn round_trips_bytes_base64_and_close_reason() {
		let c = sample();
		assert_eq!(TokenChallenge::from_bytes(&c.to_bytes()).unwrap(), c);
		assert_eq!(TokenChallenge::from_base64(&c.to_base64()).unwrap(), c);
		let reason = c.to_close_reason();
		assert!(reason.starts_with("pp:") && !reason.ends_with('='));
		assert_eq!(TokenChallenge::from_close_reason(&reason).unwrap(), c);
		assert_eq!(TokenChallenge::from_close_reason(&reason[3..]).unwrap(), c);
	}

	#[test]
	fn encoding_matches_rfc_layout() {
		let c = TokenChallenge::new(2, "ab", None, b"o".to_vec()).unwrap();
		assert_eq!(c.to_bytes(), [0, 2, 0, 2, b'a', b'b', 0, 0, 1, b'o']);
		assert_eq!(c.digest(), digest_of(&c.to_bytes()));
	}

	#[test]
	fn refuses_bad_structures() {
		let good = sample().to_bytes();
		for cut in 0..good.len() {
			assert_eq!(
				TokenChallenge::from_bytes(&good[..cut]).unwrap_err().code(),
				"malformed",
				"cut at {cut}"
			);
		}
		let mut trailing = good.clone();
		trailing.push(0);
		assert!(TokenChallenge::from_bytes(&trailing).is_err());
		// A 5-byte redemption context is neither empty nor 32 bytes.
		let odd = [0, 2, 0, 1, b'i', 5, 1, 2, 3, 4, 5, 0, 0];
		assert!(TokenChallenge::from_bytes(&odd).is_err());
		// Empty issuer name.
		assert!(TokenChallenge::from_bytes(&[0, 2, 0, 0, 0, 0, 0]).is_err());
		assert!(TokenChallenge::new(2, "", None, vec![]).is_err());
	}
}
