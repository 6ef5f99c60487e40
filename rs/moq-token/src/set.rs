//! Key sets (JWKS, RFC 7517 §5): pick the verify key by `kid`, sign with the first signing key.

use crate::{Claims, ClaimsFormat, Error, Key, KeyError, Result, Validation, jws::Jws, key::parse_jwk_text};
use serde_json::Value;

/// A set of keys, as in a JWKS document `{"keys": [...]}`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
	keys: Vec<Key>,
}

impl KeySet {
	/// A set of these keys. Key ids must be unique.
	pub fn new(keys: Vec<Key>) -> Result<Self> {
		for (i, key) in keys.iter().enumerate() {
			if let Some(kid) = key.kid()
				&& keys[..i].iter().any(|k| k.kid() == Some(kid))
			{
				return Err(KeyError::InvalidField {
					field: "kid",
					reason: format!("{kid} appears twice in the key set"),
				}
				.into());
			}
		}
		Ok(Self { keys })
	}

	/// Parse a JWKS (`{"keys": [...]}`), as JSON or base64url JSON.
	pub fn parse(text: &str) -> Result<Self> {
		let value = parse_jwk_text(text)?;
		let keys = value
			.get("keys")
			.and_then(Value::as_array)
			.ok_or_else(|| KeyError::Format("a key set is a JSON object with a \"keys\" array".into()))?;
		Self::new(keys.iter().map(Key::from_value).collect::<Result<_>>()?)
	}

	/// The keys.
	pub fn keys(&self) -> &[Key] {
		&self.keys
	}

	/// The set as a JWKS document (private fields included; see [`KeySet::to_public`]).
	pub fn to_json(&self) -> String {
		serde_json::json!({ "keys": self.keys.iter().map(Key::to_value).collect::<Vec<_>>() }).to_string()
	}

	/// The public halves of every key. An error if the set holds an HMAC key.
	pub fn to_public(&self) -> Result<Self> {
		Self::new(self.keys.iter().map(Key::to_public).collect::<Result<_>>()?)
	}

	/// The key with this id.
	pub fn find(&self, kid: &str) -> Option<&Key> {
		self.keys.iter().find(|k| k.kid().is_some_and(|id| id.as_str() == kid))
	}

	/// Sign with the first key that has private material and the `sign` operation.
	pub fn sign_with(&self, claims: &Claims, format: ClaimsFormat) -> Result<String> {
		let key = self.keys.iter().find(|k| k.can_sign()).ok_or(KeyError::NoSigningKey)?;
		key.sign_with(claims, format)
	}

	/// Verify as of now.
	pub fn verify(&self, token: &str) -> Result<Claims> {
		self.verify_with(token, &Validation::default())
	}

	/// Verify with the key named by the token's `kid`. A token without `kid` is accepted only
	/// when the set has exactly one verify key.
	pub fn verify_with(&self, token: &str, validation: &Validation) -> Result<Claims> {
		let jws = Jws::parse(token, None)?;
		let key = match &jws.kid {
			Some(kid) if !crate::KeyId::is_valid(kid) => return Err(Error::UnknownKid("(not a valid kid)".into())),
			Some(kid) => self.find(kid).ok_or_else(|| Error::UnknownKid(kid.clone()))?,
			None => {
				let mut verifiers = self.keys.iter().filter(|k| k.ops().verify);
				match (verifiers.next(), verifiers.next()) {
					(Some(key), None) => key,
					(None, _) => return Err(KeyError::MissingField("keys").into()),
					_ => return Err(Error::MissingKid),
				}
			}
		};
		key.verify_jws(&jws, validation)
	}
}
