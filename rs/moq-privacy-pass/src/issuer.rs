//! A local issuer: RFC 9578 §4 (directory) and §6 (issuance protocol 2) without HTTP.
//!
//! The HTTP layer (the relay's dev issuer, or a test) serves [`Issuer::directory_json`] at
//! [`DIRECTORY_PATH`] and answers POSTs of `application/private-token-request` at the request URI with
//! [`Issuer::issue`]. It attests nothing: anyone who asks gets a token.

use aws_lc_rs::encoding::AsDer;
use blind_rsa_signatures::{Deterministic, PSS, SecretKey, Sha384};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::client::BlindPublicKey;
use crate::token::{AUTHENTICATOR_LEN, TOKEN_TYPE_BLIND_RSA};
use crate::{Error, IssuerKey, TokenRequest, TokenResponse, b64};

/// Well-known path of the issuer directory (RFC 9578 §4).
pub const DIRECTORY_PATH: &str = "/.well-known/private-token-issuer-directory";
/// Media type of the issuer directory.
pub const DIRECTORY_MEDIA_TYPE: &str = "application/private-token-issuer-directory";

type BlindSecretKey = SecretKey<Sha384, PSS, Deterministic>;

/// An issuer's RSA-2048 key pair. `Debug` never shows the private key.
#[derive(Clone)]
pub struct IssuerKeyPair {
	secret: BlindSecretKey,
	public: IssuerKey,
}

impl std::fmt::Debug for IssuerKeyPair {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("IssuerKeyPair")
			.field("public", &self.public)
			.field("secret", &"<redacted>")
			.finish()
	}
}

impl IssuerKeyPair {
	/// Generates a fresh RSA-2048 key (e = 65537); its public key is encoded as an id-RSASSA-PSS SPKI.
	pub fn generate() -> Result<Self, Error> {
		let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
			.map_err(|_| Error::Issuance("RSA key generation failed".into()))?;
		let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
			.map_err(|_| Error::Issuance("PKCS#8 encoding failed".into()))?;
		Self::from_pkcs8_der(der.as_ref())
	}

	/// Reads a PKCS#8 (or PKCS#1) DER private key.
	pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
		Self::from_secret(BlindSecretKey::from_der(der).map_err(|e| Error::InvalidKey(format!("private key: {e}")))?)
	}

	/// Reads a `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) PEM block.
	pub fn from_pem(pem: &str) -> Result<Self, Error> {
		Self::from_secret(
			BlindSecretKey::from_pem(pem.trim()).map_err(|e| Error::InvalidKey(format!("private key: {e}")))?,
		)
	}

	fn from_secret(secret: BlindSecretKey) -> Result<Self, Error> {
		let public = secret
			.public_key()
			.map_err(|e| Error::InvalidKey(format!("private key: {e}")))?;
		let spki = public
			.to_spki()
			.map_err(|e| Error::InvalidKey(format!("public key encoding: {e}")))?;
		let public = IssuerKey::from_spki_der(&spki)?;
		Ok(Self { secret, public })
	}

	/// The PKCS#8 PEM of the private key (to keep a dev issuer's key across runs).
	pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
		self.secret
			.to_pem()
			.map(Zeroizing::new)
			.map_err(|e| Error::InvalidKey(format!("private key encoding: {e}")))
	}

	/// The public key, as published in the directory and configured on relays.
	pub fn public_key(&self) -> &IssuerKey {
		&self.public
	}

	/// The raw RSA private operation on a blinded message: `blind_sig = blinded_msg^d mod n`
	/// (RSABSSA BlindSign, RFC 9474 §4.3, which also checks the result against the public key).
	pub fn blind_sign(&self, blinded_msg: &[u8; AUTHENTICATOR_LEN]) -> Result<[u8; AUTHENTICATOR_LEN], Error> {
		let sig = self
			.secret
			.blind_sign(blinded_msg)
			.map_err(|e| Error::Issuance(format!("blind signing failed: {e}")))?;
		sig.as_slice()
			.try_into()
			.map_err(|_| Error::Issuance("blind signature is not 256 bytes".into()))
	}
}

/// The issuer directory (RFC 9578 §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerDirectory {
	/// Where TokenRequests are POSTed.
	#[serde(rename = "issuer-request-uri")]
	pub issuer_request_uri: String,
	/// The keys, one entry per token type and key.
	#[serde(rename = "token-keys")]
	pub token_keys: Vec<DirectoryKey>,
}

/// One `token-keys` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryKey {
	/// The token type (2 for Blind RSA 2048).
	#[serde(rename = "token-type")]
	pub token_type: u16,
	/// base64url (with padding) of the public key; for type 2 an SPKI.
	#[serde(rename = "token-key")]
	pub token_key: String,
	/// Unix time from which the key may be used, if given.
	#[serde(rename = "not-before", default, skip_serializing_if = "Option::is_none")]
	pub not_before: Option<u64>,
}

impl IssuerDirectory {
	/// Parses a directory; unknown fields are ignored.
	pub fn from_json(json: &str) -> Result<Self, Error> {
		serde_json::from_str(json).map_err(|e| Error::malformed(format!("issuer directory: {e}")))
	}

	/// The type-2 keys of the directory, byte-exact as published; entries that do not parse are refused.
	pub fn blind_rsa_keys(&self) -> Result<Vec<IssuerKey>, Error> {
		self.token_keys
			.iter()
			.filter(|k| k.token_type == TOKEN_TYPE_BLIND_RSA)
			.map(|k| IssuerKey::from_base64(&k.token_key))
			.collect()
	}
}

/// A local type-2 issuer holding one or more key pairs.
#[derive(Debug, Clone)]
pub struct Issuer {
	request_uri: String,
	keys: Vec<IssuerKeyPair>,
}

impl Issuer {
	/// An issuer answering at `request_uri`; the keys' truncated ids must be distinct (RFC 9578 §6.5) so
	/// each TokenRequest names one key.
	pub fn new(request_uri: impl Into<String>, keys: Vec<IssuerKeyPair>) -> Result<Self, Error> {
		if keys.is_empty() {
			return Err(Error::InvalidKey("an issuer needs at least one key".into()));
		}
		for (i, a) in keys.iter().enumerate() {
			if keys[..i]
				.iter()
				.any(|b| b.public.truncated_token_key_id() == a.public.truncated_token_key_id())
			{
				return Err(Error::InvalidKey(format!(
					"two issuer keys share the truncated token key id {:#04x}",
					a.public.truncated_token_key_id()
				)));
			}
		}
		Ok(Self {
			request_uri: request_uri.into(),
			keys,
		})
	}

	/// The key pairs.
	pub fn keys(&self) -> &[IssuerKeyPair] {
		&self.keys
	}

	/// The directory document.
	pub fn directory(&self) -> IssuerDirectory {
		IssuerDirectory {
			issuer_request_uri: self.request_uri.clone(),
			token_keys: self
				.keys
				.iter()
				.map(|k| DirectoryKey {
					token_type: TOKEN_TYPE_BLIND_RSA,
					token_key: b64::encode_padded(k.public.spki()),
					not_before: None,
				})
				.collect(),
		}
	}

	/// The directory as JSON.
	pub fn directory_json(&self) -> String {
		serde_json::to_string(&self.directory()).expect("the directory serializes")
	}

	/// Answers an encoded TokenRequest with an encoded TokenResponse.
	pub fn issue(&self, token_request: &[u8]) -> Result<Vec<u8>, Error> {
		Ok(self
			.issue_request(&TokenRequest::from_bytes(token_request)?)?
			.to_bytes())
	}

	/// Answers a TokenRequest: picks the key by truncated id and blind-signs.
	pub fn issue_request(&self, request: &TokenRequest) -> Result<TokenResponse, Error> {
		let key = self
			.keys
			.iter()
			.find(|k| k.public.truncated_token_key_id() == request.truncated_token_key_id)
			.ok_or_else(|| {
				Error::UnknownKey(format!(
					"truncated id {:#04x} (no issuer key ends with it)",
					request.truncated_token_key_id
				))
			})?;
		Ok(TokenResponse {
			blind_sig: key.blind_sign(&request.blinded_msg)?,
		})
	}
}

// Keep the client's key type and the issuer's in step: both are RSABSSA-SHA384-PSS-Deterministic.
const _: fn(&BlindSecretKey) -> Result<BlindPublicKey, blind_rsa_signatures::Error> = BlindSecretKey::public_key;
