//! JWS compact serialization (RFC 7515 §3.1, §7.1): split, size limit, header checks.

use crate::{Algorithm, Error, Result, base64url, claims::CowStr};
use serde::Deserialize;

/// Tokens larger than this are refused before any decoding (`too_large`).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// A token split into its parts, with the header decoded and checked.
pub(crate) struct Jws<'a> {
	pub alg: Algorithm,
	pub kid: Option<String>,
	/// `header.payload`: the bytes the signature covers.
	pub signing_input: &'a str,
	pub payload: &'a str,
	pub signature: &'a str,
}

#[derive(Deserialize)]
struct Header<'a> {
	#[serde(borrow)]
	alg: Option<CowStr<'a>>,
	#[serde(borrow, default)]
	kid: Option<CowStr<'a>>,
	/// Present at all (even `null` or `[]`) means the token asks for an extension we do not
	/// implement: "If any of the listed extension Header Parameters are not understood and
	/// supported by the recipient, then the JWS is invalid" (RFC 7515 §4.1.11).
	#[serde(default, deserialize_with = "crit")]
	crit: Option<String>,
}

fn crit<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
	let value = serde_json::Value::deserialize(d)?;
	let first = value
		.as_array()
		.and_then(|a| a.first())
		.and_then(|v| v.as_str())
		.unwrap_or("crit");
	Ok(Some(crate::error::printable(first)))
}

impl<'a> Jws<'a> {
	/// Split and check a token. The payload is not decoded here: only after the signature.
	///
	/// `known` is a header (base64url, algorithm, kid) the caller already understands, such as
	/// the one a key signs with: when the token's header is byte-identical it is not decoded
	/// again, which is most of the parsing cost of a token.
	pub fn parse(token: &'a str, known: Option<(&str, Algorithm, Option<&str>)>) -> Result<Self> {
		if token.len() > MAX_TOKEN_LEN {
			return Err(Error::TooLarge {
				len: token.len(),
				max: MAX_TOKEN_LEN,
			});
		}
		let (signing_input, signature) = token
			.rsplit_once('.')
			.ok_or(Error::Malformed("expected three dot-separated parts"))?;
		let (header, payload) = signing_input
			.split_once('.')
			.ok_or(Error::Malformed("expected three dot-separated parts"))?;
		if payload.contains('.') {
			return Err(Error::Malformed("expected three dot-separated parts"));
		}
		if let Some((known, alg, kid)) = known
			&& known == header
		{
			return Ok(Self {
				alg,
				kid: kid.map(str::to_string),
				signing_input,
				payload,
				signature,
			});
		}
		let header = base64url::decode_strict(header).ok_or(Error::Malformed("the header is not base64url"))?;
		let parsed: Header =
			serde_json::from_slice(&header).map_err(|_| Error::Malformed("the header is not a JSON object"))?;
		if let Some(name) = parsed.crit {
			return Err(Error::UnknownCrit(name));
		}
		let alg = parsed.alg.ok_or(Error::Malformed("the header has no alg"))?;
		let alg = alg.0.parse::<Algorithm>()?;
		Ok(Self {
			alg,
			kid: parsed.kid.map(|k| k.0.into_owned()),
			signing_input,
			payload,
			signature,
		})
	}
}

/// The `kid` a token's header names, without verifying anything: for picking a key file
/// (`{kid}.jwk`) before verification. A kid that is not a valid key id (`../x`) is
/// [`Error::UnknownKid`], so it can never become a file name.
pub fn token_kid(token: &str) -> Result<Option<crate::KeyId>> {
	let jws = Jws::parse(token, None)?;
	match jws.kid {
		None => Ok(None),
		Some(kid) => crate::KeyId::new(&kid)
			.map(Some)
			.map_err(|_| Error::UnknownKid("(not a valid kid)".into())),
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::{Algorithm, Claims, Key, KeyId, Path};

	#[test]
	fn peeks_the_kid() {
		let key = Key::generate(Algorithm::HS256, Some(KeyId::new("k1").unwrap())).unwrap();
		let token = key
			.sign(&Claims::new(Path::root()).with_subscribe(Path::root()))
			.unwrap();
		assert_eq!(token_kid(&token).unwrap().unwrap().as_str(), "k1");
		let anonymous = key
			.with_kid(None)
			.unwrap()
			.sign(&Claims::new(Path::root()).with_subscribe(Path::root()))
			.unwrap();
		assert_eq!(token_kid(&anonymous).unwrap(), None);
		let evil = format!(
			"{}.{}.x",
			crate::base64url::encode(r#"{"alg":"HS256","kid":"../x"}"#),
			"e30"
		);
		assert_eq!(token_kid(&evil).unwrap_err().code(), crate::ErrorCode::UnknownKid);
		assert_eq!(token_kid("nope").unwrap_err().code(), crate::ErrorCode::Malformed);
	}
}
