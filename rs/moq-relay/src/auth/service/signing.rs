//! The relay's signing key for requests to the auth service: an RSA (RS256), ECDSA (ES256 on
//! P-256, ES384 on P-384) or Ed25519 (EdDSA) private key in a PEM file, PKCS#8, PKCS#1 or SEC1 (what
//! `openssl genrsa`, `openssl ecparam -genkey` and `openssl genpkey` write). Its public half is a
//! JWK (RFC 7517) with the RFC 7638 thumbprint as `kid`, served at `/.well-known/jwks.json`.
//!
//! PEM is read by `rustls-pki-types`, keys and signatures are aws-lc-rs'; the JWS (RFC 7515 compact
//! serialization) around them is three base64url parts. Nothing here prints key material: `Debug`
//! shows the algorithm and the `kid`, errors name the file.

use std::path::Path as FsPath;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
	ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
	RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::{self, PemObject};
use serde_json::{Value, json};

/// Why a signing key cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeyError {
	/// The file could not be read.
	#[error("cannot read {path}: {source}")]
	Read {
		/// The file.
		path: String,
		/// Why.
		source: std::io::Error,
	},
	/// The file is not PEM with a private key.
	#[error("{path} holds no PEM private key ({reason})")]
	Pem {
		/// The file.
		path: String,
		/// What is wrong (never the file's content).
		reason: &'static str,
	},
	/// The key is PEM but not an RSA (2048 bits or more), P-256, P-384 or Ed25519 key.
	#[error(
		"{0}: not a usable RSA (2048+ bits), ECDSA P-256/P-384 or Ed25519 private key (make one with `openssl genrsa -out private.pem 2048`)"
	)]
	Unsupported(String),
}

enum Signer {
	Rsa(RsaKeyPair),
	Ecdsa(EcdsaKeyPair),
	Ed25519(Ed25519KeyPair),
}

/// A private key that signs the relay's requests to the auth service.
pub struct SigningKey {
	signer: Signer,
	alg: &'static str,
	kid: String,
	/// The public JWK.
	jwk: Value,
	/// base64url of `{"alg":…,"typ":"JWT","kid":…}`.
	header: String,
	rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("SigningKey")
			.field("alg", &self.alg)
			.field("kid", &self.kid)
			.finish_non_exhaustive()
	}
}

fn b64(bytes: &[u8]) -> String {
	URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
	/// Reads the first private key of a PEM file.
	pub fn load(path: &FsPath) -> Result<Self, SigningKeyError> {
		let shown = path.display().to_string();
		let der = PrivateKeyDer::from_pem_file(path).map_err(|err| match err {
			pem::Error::Io(source) => SigningKeyError::Read {
				path: shown.clone(),
				source,
			},
			err => SigningKeyError::Pem {
				path: shown.clone(),
				reason: match err {
					pem::Error::NoItemsFound => "no PRIVATE KEY section",
					pem::Error::MissingSectionEnd { .. } => "a section has no END line",
					pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
					pem::Error::Base64Decode(_) => "a section is not valid base64",
					_ => "unreadable PEM",
				},
			},
		})?;
		Self::from_der(&der).ok_or(SigningKeyError::Unsupported(shown))
	}

	/// A key from its DER form (PKCS#1 RSA, SEC1 EC, or PKCS#8 of either or of Ed25519).
	pub fn from_der(der: &PrivateKeyDer<'_>) -> Option<Self> {
		let ecdsa = |parse: &dyn Fn(&'static aws_lc_rs::signature::EcdsaSigningAlgorithm) -> Option<EcdsaKeyPair>| {
			parse(&ECDSA_P256_SHA256_FIXED_SIGNING)
				.map(|pair| (pair, "ES256", "P-256"))
				.or_else(|| parse(&ECDSA_P384_SHA384_FIXED_SIGNING).map(|pair| (pair, "ES384", "P-384")))
		};
		let (signer, alg, jwk) = match der {
			PrivateKeyDer::Pkcs1(key) => rsa(RsaKeyPair::from_der(key.secret_pkcs1_der()).ok()?),
			PrivateKeyDer::Sec1(key) => {
				let bytes = key.secret_sec1_der();
				let (pair, alg, crv) = ecdsa(&|a| EcdsaKeyPair::from_private_key_der(a, bytes).ok())?;
				ec(pair, alg, crv)
			}
			PrivateKeyDer::Pkcs8(key) => {
				let bytes = key.secret_pkcs8_der();
				if let Ok(pair) = RsaKeyPair::from_pkcs8(bytes) {
					rsa(pair)
				} else if let Some((pair, alg, crv)) = ecdsa(&|a| EcdsaKeyPair::from_pkcs8(a, bytes).ok()) {
					ec(pair, alg, crv)
				} else {
					let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes).ok()?;
					let x = b64(pair.public_key().as_ref());
					let jwk = json!({ "crv": "Ed25519", "kty": "OKP", "x": x });
					(Signer::Ed25519(pair), "EdDSA", jwk)
				}
			}
			_ => return None,
		};
		// RFC 7638 §3: the required members in lexicographic order (as written below, whatever
		// serde_json's map keeps), no whitespace.
		let thumbprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, jwk.to_string().as_bytes());
		let kid = b64(thumbprint.as_ref());
		let mut jwk = jwk;
		jwk["kid"] = kid.clone().into();
		jwk["alg"] = alg.into();
		jwk["use"] = "sig".into();
		let header = b64(json!({ "alg": alg, "typ": "JWT", "kid": kid }).to_string().as_bytes());
		Some(Self {
			signer,
			alg,
			kid,
			jwk,
			header,
			rng: SystemRandom::new(),
		})
	}

	/// The JWS algorithm (`RS256`, `ES256`, `ES384`, `EdDSA`).
	pub fn algorithm(&self) -> &'static str {
		self.alg
	}

	/// The key id: the RFC 7638 thumbprint of the public key.
	pub fn kid(&self) -> &str {
		&self.kid
	}

	/// The public key as a JWK Set, `{"keys": [jwk]}`.
	pub fn jwks(&self) -> Value {
		json!({ "keys": [self.jwk] })
	}

	/// `claims` as a compact JWS (`header.payload.signature`) signed with this key.
	pub fn sign(&self, claims: &Value) -> Option<String> {
		let mut token = String::with_capacity(512);
		token.push_str(&self.header);
		token.push('.');
		URL_SAFE_NO_PAD.encode_string(claims.to_string(), &mut token);
		let message = token.as_bytes();
		let signature = match &self.signer {
			Signer::Rsa(pair) => {
				let mut out = vec![0; pair.public_modulus_len()];
				pair.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut out).ok()?;
				out
			}
			Signer::Ecdsa(pair) => pair.sign(&self.rng, message).ok()?.as_ref().to_vec(),
			Signer::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
		};
		token.push('.');
		URL_SAFE_NO_PAD.encode_string(signature, &mut token);
		Some(token)
	}
}

fn rsa(pair: RsaKeyPair) -> (Signer, &'static str, Value) {
	let public = pair.public_key();
	let n = b64(public.modulus().big_endian_without_leading_zero());
	let e = b64(public.exponent().big_endian_without_leading_zero());
	(Signer::Rsa(pair), "RS256", json!({ "e": e, "kty": "RSA", "n": n }))
}

fn ec(pair: EcdsaKeyPair, alg: &'static str, crv: &'static str) -> (Signer, &'static str, Value) {
	// The uncompressed point: 0x04, x, y.
	let point = pair.public_key().as_ref();
	let half = (point.len() - 1) / 2;
	let (x, y) = (b64(&point[1..1 + half]), b64(&point[1 + half..]));
	(
		Signer::Ecdsa(pair),
		alg,
		json!({ "crv": crv, "kty": "EC", "x": x, "y": y }),
	)
}

#[cfg(test)]
mod tests {
	use super::*;
	use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

	fn verify(key: &SigningKey, token: &str, alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm) {
		let (input, signature) = token.rsplit_once('.').unwrap();
		let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
		let public = match &key.signer {
			Signer::Rsa(pair) => pair.public_key().as_ref().to_vec(),
			Signer::Ecdsa(pair) => pair.public_key().as_ref().to_vec(),
			Signer::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
		};
		UnparsedPublicKey::new(alg, public)
			.verify(input.as_bytes(), &signature)
			.unwrap();
		let (header, payload) = input.split_once('.').unwrap();
		let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
		assert_eq!(header["alg"], key.algorithm());
		assert_eq!(header["kid"], key.kid());
		let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
		assert_eq!(payload["sub"], "relay");
	}

	fn pkcs8(der: &[u8]) -> PrivateKeyDer<'static> {
		PrivateKeyDer::Pkcs8(der.to_vec().into())
	}

	#[test]
	fn rsa_ecdsa_and_ed25519_keys_sign_verifiable_jwts() {
		use aws_lc_rs::encoding::AsDer;
		let claims = json!({ "sub": "relay" });

		let rsa = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
		let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&rsa).unwrap();
		let key = SigningKey::from_der(&pkcs8(der.as_ref())).unwrap();
		assert_eq!(key.algorithm(), "RS256");
		verify(&key, &key.sign(&claims).unwrap(), &RSA_PKCS1_2048_8192_SHA256);
		assert_eq!(key.jwks()["keys"][0]["kty"], "RSA");
		assert_eq!(key.jwks()["keys"][0]["e"], "AQAB");

		let rng = SystemRandom::new();
		let ec = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
		let key = SigningKey::from_der(&pkcs8(ec.as_ref())).unwrap();
		assert_eq!(key.algorithm(), "ES256");
		verify(&key, &key.sign(&claims).unwrap(), &ECDSA_P256_SHA256_FIXED);
		assert_eq!(key.jwks()["keys"][0]["crv"], "P-256");

		let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
		let key = SigningKey::from_der(&pkcs8(ed.as_ref())).unwrap();
		assert_eq!(key.algorithm(), "EdDSA");
		verify(&key, &key.sign(&claims).unwrap(), &ED25519);

		let shown = format!("{key:?}");
		assert!(shown.contains("EdDSA") && shown.len() < 100, "{shown}");
		assert!(SigningKey::from_der(&pkcs8(b"not a key")).is_none());
	}

	#[test]
	fn the_kid_is_the_rfc_7638_thumbprint() {
		// RFC 7638 §3.1's example key and thumbprint.
		let jwk = json!({
			"e": "AQAB",
			"kty": "RSA",
			"n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
		});
		let thumbprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, jwk.to_string().as_bytes());
		assert_eq!(b64(thumbprint.as_ref()), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	}
}
