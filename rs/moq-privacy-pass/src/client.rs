//! The client side of issuance protocol 2 (RFC 9578 §6.1, §6.3): blind a token input for a challenge,
//! then unblind the issuer's answer into a [`Token`].

use blind_rsa_signatures::{BlindSignature, BlindingResult, DefaultRng, Deterministic, PSS, PublicKey, Sha384};

use crate::token::{AUTHENTICATOR_INPUT_LEN, AUTHENTICATOR_LEN, TOKEN_TYPE_BLIND_RSA};
use crate::{Error, IssuerKey, Token, TokenChallenge, TokenRequest, TokenResponse};

/// RSABSSA-SHA384-PSS-Deterministic public key (RFC 9474), the variant RFC 9578 type 2 uses.
pub(crate) type BlindPublicKey = PublicKey<Sha384, PSS, Deterministic>;

/// What the client keeps between sending a TokenRequest and reading the TokenResponse.
///
/// Holds the blinding secret; its `Debug` shows only the public parts.
pub struct TokenRequestState {
	public: BlindPublicKey,
	blinding: BlindingResult,
	token_input: [u8; AUTHENTICATOR_INPUT_LEN],
}

impl std::fmt::Debug for TokenRequestState {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("TokenRequestState")
			.field("nonce", &crate::error::short_hex(&self.token_input[2..34]))
			.field("blinding_secret", &"<redacted>")
			.finish_non_exhaustive()
	}
}

/// Makes a TokenRequest answering `challenge` for the issuer key `key` (a fresh random nonce).
pub fn request_token(challenge: &TokenChallenge, key: &IssuerKey) -> Result<(TokenRequest, TokenRequestState), Error> {
	if challenge.token_type() != TOKEN_TYPE_BLIND_RSA {
		return Err(Error::UnsupportedTokenType(challenge.token_type()));
	}
	let public = blind_public_key(key)?;
	let mut nonce = [0u8; 32];
	aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::Issuance("system random generator failed".into()))?;
	let mut token_input = [0u8; AUTHENTICATOR_INPUT_LEN];
	token_input[..2].copy_from_slice(&TOKEN_TYPE_BLIND_RSA.to_be_bytes());
	token_input[2..34].copy_from_slice(&nonce);
	token_input[34..66].copy_from_slice(&challenge.digest());
	token_input[66..].copy_from_slice(key.token_key_id());
	let blinding = public
		.blind(&mut DefaultRng, token_input)
		.map_err(|e| Error::Issuance(format!("blinding failed: {e}")))?;
	let blinded_msg: [u8; AUTHENTICATOR_LEN] = blinding
		.blind_message
		.as_slice()
		.try_into()
		.map_err(|_| Error::Issuance("blinded message is not 256 bytes".into()))?;
	Ok((
		TokenRequest {
			truncated_token_key_id: key.truncated_token_key_id(),
			blinded_msg,
		},
		TokenRequestState {
			public,
			blinding,
			token_input,
		},
	))
}

impl TokenRequestState {
	/// Unblinds the issuer's TokenResponse into a token; refuses a response that does not yield a valid
	/// signature (`bad_signature`).
	pub fn finalize(self, response: &TokenResponse) -> Result<Token, Error> {
		let signature = self
			.public
			.finalize(
				&BlindSignature(response.blind_sig.to_vec()),
				&self.blinding,
				self.token_input,
			)
			.map_err(|_| Error::BadSignature)?;
		let authenticator: [u8; AUTHENTICATOR_LEN] = signature
			.as_slice()
			.try_into()
			.map_err(|_| Error::Issuance("signature is not 256 bytes".into()))?;
		let i = &self.token_input;
		Ok(Token::new(
			i[2..34].try_into().expect("32 bytes"),
			i[34..66].try_into().expect("32 bytes"),
			i[66..98].try_into().expect("32 bytes"),
			authenticator,
		))
	}
}

/// The blind-RSA view of an issuer key (PSS-OID SPKI, or rsaEncryption SPKI).
pub(crate) fn blind_public_key(key: &IssuerKey) -> Result<BlindPublicKey, Error> {
	BlindPublicKey::from_spki(key.spki())
		.or_else(|_| BlindPublicKey::from_der(key.spki()))
		.map_err(|e| Error::InvalidKey(format!("blind RSA cannot use this key: {e}")))
}
