//! The one error type of this crate, with a stable code per variant.

/// Everything that can go wrong while decoding, verifying or issuing Privacy Pass tokens.
///
/// [`Error::code`] gives a stable snake_case code for logs, close reasons and HTTP bodies; the relay maps
/// the verification codes (`malformed` … `token_replayed`) onto its own error table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
	/// The bytes or text presented are not a well-formed structure (wrong length, bad base64, bad header).
	#[error("malformed: {0}")]
	Malformed(String),
	/// The token (or token request) is of a type this crate does not verify; only 0x0002 (Blind RSA 2048) is.
	#[error("unsupported token type {0:#06x}: only 0x0002 (Blind RSA 2048) is accepted")]
	UnsupportedTokenType(u16),
	/// The token's `token_key_id` is not the SHA-256 of any configured issuer key.
	#[error("unknown key: token_key_id {0} is not a configured issuer key")]
	UnknownKey(String),
	/// The token's `challenge_digest` matches no challenge this verifier issued or was configured with.
	#[error("unknown challenge: challenge_digest {0} was not issued by this verifier")]
	UnknownChallenge(String),
	/// The token answers a challenge this verifier issued, but that challenge has expired.
	#[error("challenge expired: challenge_digest {0} expired")]
	ChallengeExpired(String),
	/// The RSASSA-PSS signature (the authenticator) does not verify under the issuer key.
	#[error("bad signature: the authenticator does not verify under the issuer key")]
	BadSignature,
	/// The token's nonce was already redeemed (or is being redeemed right now).
	#[error("token replayed: nonce {0} was already redeemed")]
	TokenReplayed(String),
	/// The nonce store could not answer (full of live entries, or a shared store is unreachable).
	/// Verification fails closed.
	#[error("nonce store unavailable: {0}")]
	NonceStore(String),
	/// A nonce store's configuration cannot be used (its URL, its CA certificates): found when the
	/// store is built, before any token is checked.
	#[error("invalid nonce store configuration: {0}")]
	NonceStoreConfig(String),
	/// An issuer key could not be used: bad encoding, wrong algorithm, wrong size.
	#[error("invalid issuer key: {0}")]
	InvalidKey(String),
	/// Issuance failed (blind signing, finalization, unknown truncated key id).
	#[error("issuance failed: {0}")]
	Issuance(String),
}

/// Every code [`Error::code`] gives, in the order of the variants (stable: clients match on them).
pub const CODES: [&str; 11] = [
	"malformed",
	"unsupported_token_type",
	"unknown_key",
	"unknown_challenge",
	"challenge_expired",
	"bad_signature",
	"token_replayed",
	"nonce_store_unavailable",
	"invalid_nonce_store_config",
	"invalid_key",
	"issuance_failed",
];

impl Error {
	/// The stable machine-readable code of this error.
	pub fn code(&self) -> &'static str {
		match self {
			Self::Malformed(_) => "malformed",
			Self::UnsupportedTokenType(_) => "unsupported_token_type",
			Self::UnknownKey(_) => "unknown_key",
			Self::UnknownChallenge(_) => "unknown_challenge",
			Self::ChallengeExpired(_) => "challenge_expired",
			Self::BadSignature => "bad_signature",
			Self::TokenReplayed(_) => "token_replayed",
			Self::NonceStore(_) => "nonce_store_unavailable",
			Self::NonceStoreConfig(_) => "invalid_nonce_store_config",
			Self::InvalidKey(_) => "invalid_key",
			Self::Issuance(_) => "issuance_failed",
		}
	}

	pub(crate) fn malformed(what: impl Into<String>) -> Self {
		Self::Malformed(what.into())
	}
}

/// Lower-case hex of the first 8 bytes, enough to name a digest or nonce in a message.
pub(crate) fn short_hex(bytes: &[u8]) -> String {
	let mut out = hex::encode(&bytes[..bytes.len().min(8)]);
	if bytes.len() > 8 {
		out.push('…');
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn codes_are_stable_and_distinct() {
		let all = [
			Error::Malformed(String::new()),
			Error::UnsupportedTokenType(1),
			Error::UnknownKey(String::new()),
			Error::UnknownChallenge(String::new()),
			Error::ChallengeExpired(String::new()),
			Error::BadSignature,
			Error::TokenReplayed(String::new()),
			Error::NonceStore(String::new()),
			Error::NonceStoreConfig(String::new()),
			Error::InvalidKey(String::new()),
			Error::Issuance(String::new()),
		];
		let codes: Vec<_> = all.iter().map(Error::code).collect();
		assert_eq!(codes, CODES);
	}

	#[test]
	fn short_hex_truncates() {
		assert_eq!(short_hex(&[0xab, 0x01]), "ab01");
		assert_eq!(short_hex(&[0u8; 9]), "0000000000000000…");
	}
}
