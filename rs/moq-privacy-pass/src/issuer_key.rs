//! Issuer public keys, byte-exact as published.
//!
//! A type-2 issuer key is an RSA-2048 `SubjectPublicKeyInfo`, normally with the id-RSASSA-PSS OID and
//! parameters SHA-384 / MGF1-SHA-384 / salt 48 (RFC 9578 §6.5); rsaEncryption SPKIs are accepted too.
//! `token_key_id` is SHA-256 over the SPKI bytes *as given* (RFC 9578 §6.5), so the key keeps its
//! original encoding; it is never re-encoded.

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PSS_2048_8192_SHA384, RsaPublicKeyComponents};
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::pem::{self, PemObject, SectionKind};
use spki::ObjectIdentifier;
use spki::der::Tagged;
use zeroize::Zeroizing;

use crate::challenge::digest_of;
use crate::token::AUTHENTICATOR_LEN;
use crate::{Error, b64};

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// Content of `RSASSA-PSS-params` for SHA-384, MGF1-SHA-384, salt 48 (hash AlgorithmIdentifiers without
/// parameters), as RFC 9578 keys encode it.
const PSS_SHA384_PARAMS: &[u8] = &[
	0xa0, 0x0d, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, // hash
	0xa1, 0x1a, 0x30, 0x18, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, // mgf1
	0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, // mgf1 hash
	0xa2, 0x03, 0x02, 0x01, 0x30, // salt 48
];

/// The same with explicit NULL parameters on both hash AlgorithmIdentifiers (another valid DER spelling).
const PSS_SHA384_PARAMS_NULL: &[u8] = &[
	0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0xa1, 0x1c,
	0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
	0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x30,
];

/// An issuer's public key for type-2 tokens, ready to verify.
#[derive(Clone)]
pub struct IssuerKey {
	spki: Vec<u8>,
	token_key_id: [u8; 32],
	verifier: ParsedPublicKey,
}

impl std::fmt::Debug for IssuerKey {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("IssuerKey")
			.field("token_key_id", &crate::error::short_hex(&self.token_key_id))
			.finish_non_exhaustive()
	}
}

impl PartialEq for IssuerKey {
	fn eq(&self, other: &Self) -> bool {
		self.spki == other.spki
	}
}

impl Eq for IssuerKey {}

impl IssuerKey {
	/// Reads a key from file contents: PEM (a `PUBLIC KEY` section), DER, or base64/base64url text of
	/// the DER (the `--pp-issuer-key` format and RFC 9578 directory `token-key`).
	pub fn parse(contents: &[u8]) -> Result<Self, Error> {
		if contents.first() == Some(&0x30) {
			return Self::from_spki_der(contents);
		}
		// The first PEM section of any kind, so that a private key or a certificate is named as such.
		match <(SectionKind, Vec<u8>)>::from_pem_slice(contents) {
			Ok((SectionKind::PublicKey, der)) => Self::from_spki_der(&der),
			Ok((kind, der)) => {
				// Possibly a private key: wiped, never echoed.
				drop(Zeroizing::new(der));
				Err(Error::InvalidKey(format!(
					"expected a PUBLIC KEY PEM section, found {kind:?}"
				)))
			}
			Err(pem::Error::NoItemsFound) => {
				let text = std::str::from_utf8(contents)
					.map_err(|_| Error::InvalidKey("key file is neither DER nor text".into()))?;
				Self::from_base64(text)
			}
			Err(e) => Err(pem_error(e)),
		}
	}

	/// Reads base64url or base64 (padded or not) of the SPKI DER.
	pub fn from_base64(text: &str) -> Result<Self, Error> {
		let der = b64::decode_lenient(text, "issuer key").map_err(|e| Error::InvalidKey(e.to_string()))?;
		Self::from_spki_der(&der)
	}

	/// Reads the first `PUBLIC KEY` PEM section.
	pub fn from_pem(text: &str) -> Result<Self, Error> {
		let der = SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes()).map_err(pem_error)?;
		Self::from_spki_der(&der)
	}

	/// Reads SPKI DER: RSA-2048 with the id-RSASSA-PSS OID (SHA-384 parameters, or none) or rsaEncryption.
	pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
		let info = spki::SubjectPublicKeyInfoRef::try_from(der)
			.map_err(|e| Error::InvalidKey(format!("not a SubjectPublicKeyInfo: {e}")))?;
		let oid = info.algorithm.oid;
		if oid == OID_RSASSA_PSS {
			if let Some(params) = info.algorithm.parameters {
				let value = params.value();
				if params.tag() != spki::der::Tag::Sequence
					|| (value != PSS_SHA384_PARAMS && value != PSS_SHA384_PARAMS_NULL)
				{
					return Err(Error::InvalidKey(
						"RSASSA-PSS key parameters are not SHA-384 / MGF1-SHA-384 / salt 48".into(),
					));
				}
			}
		} else if oid != OID_RSA_ENCRYPTION {
			return Err(Error::InvalidKey(format!(
				"key algorithm {oid} is neither id-RSASSA-PSS nor rsaEncryption"
			)));
		}
		let raw = info
			.subject_public_key
			.as_bytes()
			.ok_or_else(|| Error::InvalidKey("subjectPublicKey has unused bits".into()))?;
		let rsa =
			pkcs1::RsaPublicKey::try_from(raw).map_err(|e| Error::InvalidKey(format!("not an RSAPublicKey: {e}")))?;
		let n = rsa.modulus.as_bytes();
		let e = rsa.public_exponent.as_bytes();
		if n.len() != AUTHENTICATOR_LEN || n[0] & 0x80 == 0 {
			return Err(Error::InvalidKey(format!(
				"type-2 keys are RSA-2048; this modulus is {} bits",
				bit_len(n)
			)));
		}
		let verifier = RsaPublicKeyComponents { n, e }
			.to_parsed_public_key(&RSA_PSS_2048_8192_SHA384)
			.map_err(|e| Error::InvalidKey(format!("RSA key rejected: {e}")))?;
		Ok(Self {
			spki: der.to_vec(),
			token_key_id: digest_of(der),
			verifier,
		})
	}

	/// The SPKI bytes exactly as given.
	pub fn spki(&self) -> &[u8] {
		&self.spki
	}

	/// SHA-256 of the SPKI bytes: the `token_key_id` of tokens signed with this key.
	pub fn token_key_id(&self) -> &[u8; 32] {
		&self.token_key_id
	}

	/// The last byte of `token_key_id`, which a TokenRequest carries (RFC 9578 §6.1).
	pub fn truncated_token_key_id(&self) -> u8 {
		self.token_key_id[31]
	}

	/// base64url with padding of the SPKI, as `token-key` is written.
	pub fn to_base64(&self) -> String {
		b64::encode_padded(&self.spki)
	}

	/// RSASSA-PSS verification (SHA-384, MGF1-SHA-384, salt length = hash length = 48).
	pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
		self.verifier
			.verify_sig(message, signature)
			.map_err(|_| Error::BadSignature)
	}
}

fn pem_error(e: pem::Error) -> Error {
	Error::InvalidKey(match e {
		pem::Error::NoItemsFound => "no PUBLIC KEY PEM section".to_string(),
		other => format!("bad PEM: {other}"),
	})
}

fn bit_len(n: &[u8]) -> usize {
	n.first()
		.map_or(0, |b| (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize))
}

#[cfg(test)]
mod tests {
	use super::*;

	/// RFC 9578 A.2 vector 1 pkS.
	const PKS_HEX: &str = "30820152303d06092a864886f70d01010a3030a00d300b0609608648016503040202a11a301806092a864886f70d010108300b0609608648016503040202a2030201300382010f003082010a0282010100cb1aed6b6a95f5b1ce013a4cfcab25b94b2e64a23034e4250a7eab43c0df3a8c12993af12b111908d4b471bec31d4b6c9ad9cdda90612a2ee903523e6de5a224d6b02f09e5c374d0cfe01d8f529c500a78a2f67908fa682b5a2b430c81eaf1af72d7b5e794fc98a3139276879757ce453b526ef9bf6ceb99979b8423b90f4461a22af37aab0cf5733f7597abe44d31c732db68a181c6cbbe607d8c0e52e0655fd9996dc584eca0be87afbcd78a337d17b1dba9e828bbd81e291317144e7ff89f55619709b096cbb9ea474cead264c2073fe49740c01f00e109106066983d21e5f83f086e2e823c879cd43cef700d2a352a9babd612d03cad02db134b7e225a5f0203010001";

	#[test]
	fn reads_the_rfc_key_in_every_encoding() {
		let der = hex::decode(PKS_HEX).unwrap();
		let key = IssuerKey::from_spki_der(&der).unwrap();
		assert_eq!(key.spki(), der.as_slice());
		assert_eq!(key.token_key_id(), &digest_of(&der));
		// RFC 9577 A.1 gives this token_key_id for the same key.
		assert_eq!(
			key.token_key_id().as_slice(),
			hex::decode("ca572f8982a9ca248a3056186322d93ca147266121ddeb5632c07f1f71cd2708").unwrap()
		);
		let std_b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der);
		let pem = format!(
			"-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
			std_b64
				.as_bytes()
				.chunks(64)
				.map(|c| std::str::from_utf8(c).unwrap())
				.collect::<Vec<_>>()
				.join("\n")
		);
		for contents in [
			der.clone(),
			key.to_base64().into_bytes(),
			std_b64.into_bytes(),
			pem.into_bytes(),
		] {
			assert_eq!(IssuerKey::parse(&contents).unwrap(), key);
		}
	}

	#[test]
	fn accepts_rsa_encryption_spki_with_its_own_key_id() {
		let pss = hex::decode(PKS_HEX).unwrap();
		// Same RSAPublicKey under rsaEncryption: 30 82 01 22 | 30 0d 06 09 <oid ...01 01 01> 05 00 | bitstring.
		let raw = &pss[pss.len() - 270..];
		let mut der = vec![0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09];
		der.extend_from_slice(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00]);
		der.extend_from_slice(&[0x03, 0x82, 0x01, 0x0f, 0x00]);
		der.extend_from_slice(raw);
		let key = IssuerKey::from_spki_der(&der).unwrap();
		assert_ne!(
			key.token_key_id(),
			IssuerKey::from_spki_der(&pss).unwrap().token_key_id()
		);
	}

	#[test]
	fn refuses_bad_keys() {
		let der = hex::decode(PKS_HEX).unwrap();
		assert_eq!(IssuerKey::from_spki_der(&der[..100]).unwrap_err().code(), "invalid_key");
		// SHA-256 instead of SHA-384 in the PSS parameters.
		let mut sha256 = der.clone();
		let at = sha256
			.windows(11)
			.position(|w| w == [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02])
			.unwrap();
		sha256[at + 10] = 0x01;
		assert!(IssuerKey::from_spki_der(&sha256).is_err());
		let unterminated = IssuerKey::parse(b"-----BEGIN PUBLIC KEY-----\nAAAA\n").unwrap_err();
		assert!(unterminated.to_string().contains("bad PEM"), "{unterminated}");
		let private = IssuerKey::parse(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").unwrap_err();
		assert!(private.to_string().contains("found PrivateKey"), "{private}");
		assert!(
			IssuerKey::from_pem("no PEM here")
				.unwrap_err()
				.to_string()
				.contains("no PUBLIC KEY")
		);
		assert!(IssuerKey::parse(b"not base64 !").is_err());
	}
}
