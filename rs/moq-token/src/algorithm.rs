//! The JWS algorithms a key can use (RFC 7518 §3, RFC 8037 for EdDSA).

use crate::Error;
use std::{fmt, str::FromStr};

/// A JWS signature algorithm. The key pins it: a token is only verified under its key's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
	/// HMAC with SHA-256.
	HS256,
	/// HMAC with SHA-384.
	HS384,
	/// HMAC with SHA-512.
	HS512,
	/// RSASSA-PKCS1-v1_5 with SHA-256.
	RS256,
	/// RSASSA-PKCS1-v1_5 with SHA-384.
	RS384,
	/// RSASSA-PKCS1-v1_5 with SHA-512.
	RS512,
	/// RSASSA-PSS with SHA-256.
	PS256,
	/// RSASSA-PSS with SHA-384.
	PS384,
	/// RSASSA-PSS with SHA-512.
	PS512,
	/// ECDSA on P-256 with SHA-256.
	ES256,
	/// ECDSA on P-384 with SHA-384.
	ES384,
	/// ECDSA on P-521 with SHA-512.
	ES512,
	/// Ed25519.
	EdDSA,
}

/// The family of an algorithm, which decides the JWK key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
	/// HMAC (`kty: oct`).
	Hmac,
	/// RSA PKCS#1 v1.5 or PSS (`kty: RSA`).
	Rsa,
	/// ECDSA (`kty: EC`).
	Ecdsa,
	/// EdDSA (`kty: OKP`).
	EdDsa,
}

impl Algorithm {
	/// Every algorithm, in the order of the table in docs/tokens.md#keys.
	pub const ALL: [Algorithm; 13] = [
		Self::HS256,
		Self::HS384,
		Self::HS512,
		Self::RS256,
		Self::RS384,
		Self::RS512,
		Self::PS256,
		Self::PS384,
		Self::PS512,
		Self::ES256,
		Self::ES384,
		Self::ES512,
		Self::EdDSA,
	];

	/// The accepted names, exact case.
	pub const NAMES: [&'static str; 13] = [
		"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
		"EdDSA",
	];

	/// The name written in `alg`.
	pub fn as_str(self) -> &'static str {
		Self::NAMES[self as usize]
	}

	/// The key family.
	pub fn family(self) -> Family {
		match self {
			Self::HS256 | Self::HS384 | Self::HS512 => Family::Hmac,
			Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => Family::Rsa,
			Self::ES256 | Self::ES384 | Self::ES512 => Family::Ecdsa,
			Self::EdDSA => Family::EdDsa,
		}
	}

	/// The curve name (`crv`) for EC and OKP algorithms.
	pub fn curve(self) -> Option<&'static str> {
		match self {
			Self::ES256 => Some("P-256"),
			Self::ES384 => Some("P-384"),
			Self::ES512 => Some("P-521"),
			Self::EdDSA => Some("Ed25519"),
			_ => None,
		}
	}

	/// Generated HMAC secret length, or EC coordinate length, in bytes.
	pub(crate) fn key_len(self) -> usize {
		match self {
			Self::HS256 | Self::ES256 | Self::EdDSA => 32,
			Self::HS384 | Self::ES384 => 48,
			Self::HS512 => 64,
			Self::ES512 => 66,
			_ => 0,
		}
	}
}

impl FromStr for Algorithm {
	type Err = Error;

	fn from_str(s: &str) -> Result<Self, Error> {
		Self::NAMES
			.iter()
			.position(|n| *n == s)
			.map(|i| Self::ALL[i])
			.ok_or_else(|| Error::UnsupportedAlgorithm(crate::error::printable(s)))
	}
}

impl fmt::Display for Algorithm {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(self.as_str())
	}
}

impl serde::Serialize for Algorithm {
	fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
		s.serialize_str(self.as_str())
	}
}

impl<'de> serde::Deserialize<'de> for Algorithm {
	fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
		let s = std::borrow::Cow::<str>::deserialize(d)?;
		s.parse().map_err(serde::de::Error::custom)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn names_round_trip() {
		for alg in Algorithm::ALL {
			assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
		}
	}

	#[test]
	fn rejects_other_spellings() {
		for bad in [
			"hs256", "HS128", "RS128", "EDDSA", "none", "None", "", "ES256K", "Ed25519",
		] {
			let err = bad.parse::<Algorithm>().unwrap_err();
			assert_eq!(err.code(), crate::ErrorCode::UnsupportedAlgorithm, "{bad}");
			assert!(
				err.to_string().contains("HS256, HS384"),
				"message lists accepted values: {err}"
			);
		}
	}
}
