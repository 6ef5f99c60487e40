//! Keys (JWK, RFC 7517): load, save, generate, sign and verify.

use crate::{
	Algorithm, Claims, ClaimsFormat, Error, KeyError, KeyId, Result, Scope, base64url,
	jws::Jws,
	material::{Material, Signer, Verifier},
};
use serde_json::{Map, Value};
use std::{fmt, sync::Arc, time::SystemTime};

/// What a key may be used for (`key_ops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOps {
	/// `sign` is allowed.
	pub sign: bool,
	/// `verify` is allowed.
	pub verify: bool,
}

impl KeyOps {
	/// Both operations (the default when `key_ops` is absent).
	pub const ALL: KeyOps = KeyOps {
		sign: true,
		verify: true,
	};
	/// Verify only (public keys).
	pub const VERIFY: KeyOps = KeyOps {
		sign: false,
		verify: true,
	};
	/// Sign only.
	pub const SIGN: KeyOps = KeyOps {
		sign: true,
		verify: false,
	};

	fn names(self) -> Vec<&'static str> {
		[("sign", self.sign), ("verify", self.verify)]
			.into_iter()
			.filter(|(_, on)| *on)
			.map(|(n, _)| n)
			.collect()
	}
}

/// Checks applied when verifying a token.
#[derive(Debug, Clone, Copy, Default)]
pub struct Validation {
	/// The time of verification in unix seconds; `None` reads the system clock.
	pub now: Option<u64>,
	/// Seconds of clock skew tolerated on `exp` and `nbf` (default 0).
	pub leeway: u64,
}

impl Validation {
	/// Verify as of `now` (unix seconds).
	pub fn at(now: u64) -> Self {
		Self {
			now: Some(now),
			leeway: 0,
		}
	}

	fn now(&self) -> u64 {
		self.now.unwrap_or_else(unix_now)
	}
}

/// Seconds since the unix epoch by the system clock.
pub fn unix_now() -> u64 {
	SystemTime::now()
		.duration_since(SystemTime::UNIX_EPOCH)
		.map(|d| d.as_secs())
		.unwrap_or(0)
}

/// A validated key, ready to sign and/or verify. Cheap to clone.
///
/// The algorithm is pinned by the key: a token is only ever verified under the key's own
/// algorithm, never one named by the token, and the key never comes from a token header.
#[derive(Clone)]
pub struct Key(Arc<Inner>);

struct Inner {
	alg: Algorithm,
	kid: Option<KeyId>,
	ops: KeyOps,
	scope: Option<Scope>,
	material: Material,
	verifier: Verifier,
	signer: Option<Signer>,
	/// base64url of the JWS header this key signs with.
	header: String,
}

impl Key {
	fn build(
		alg: Algorithm,
		kid: Option<KeyId>,
		ops: KeyOps,
		scope: Option<Scope>,
		material: Material,
	) -> Result<Self, KeyError> {
		let verifier = Verifier::new(alg, &material)?;
		let signer = Signer::new(alg, &material)?;
		let mut header = Map::new();
		header.insert("alg".into(), alg.as_str().into());
		header.insert("typ".into(), "JWT".into());
		if let Some(kid) = &kid {
			header.insert("kid".into(), kid.as_str().into());
		}
		let header = base64url::encode(Value::Object(header).to_string());
		Ok(Self(Arc::new(Inner {
			alg,
			kid,
			ops,
			scope,
			material,
			verifier,
			signer,
			header,
		})))
	}

	/// Generate a new key. Without an id, the kid is the RFC 7638 thumbprint of the public key,
	/// so the same key always gets the same id. RSA keys are 2048-bit with e = 65537.
	pub fn generate(alg: Algorithm, kid: Option<KeyId>) -> Result<Self> {
		let material = Material::generate(alg)?;
		let kid = match kid {
			Some(kid) => kid,
			None => KeyId::new(&thumbprint(alg, &material))?,
		};
		Ok(Self::build(alg, Some(kid), KeyOps::ALL, None, material)?)
	}

	/// Parse a key from JSON or base64url-encoded JSON (surrounding whitespace ignored).
	pub fn parse(text: &str) -> Result<Self> {
		Self::from_value(&parse_jwk_text(text)?)
	}

	/// Build a key from a parsed JWK object.
	pub fn from_value(value: &Value) -> Result<Self> {
		let obj = value
			.as_object()
			.ok_or_else(|| KeyError::Format("a JWK must be a JSON object".into()))?;
		let alg = match obj.get("alg") {
			Some(Value::String(s)) => s.parse::<Algorithm>()?,
			Some(_) => {
				return Err(KeyError::InvalidField {
					field: "alg",
					reason: "must be a string".into(),
				}
				.into());
			}
			None => return Err(KeyError::MissingField("alg").into()),
		};
		let ops = match obj.get("key_ops") {
			None => KeyOps::ALL,
			Some(Value::Array(items)) => {
				let mut ops = KeyOps {
					sign: false,
					verify: false,
				};
				for item in items {
					match item.as_str() {
						Some("sign") => ops.sign = true,
						Some("verify") => ops.verify = true,
						_ => {
							return Err(KeyError::InvalidField {
								field: "key_ops",
								reason: "only \"sign\" and \"verify\" are accepted".into(),
							}
							.into());
						}
					}
				}
				if !ops.sign && !ops.verify {
					return Err(KeyError::InvalidField {
						field: "key_ops",
						reason: "is empty: the key could do nothing".into(),
					}
					.into());
				}
				ops
			}
			Some(_) => {
				return Err(KeyError::InvalidField {
					field: "key_ops",
					reason: "must be an array".into(),
				}
				.into());
			}
		};
		let kid = match obj.get("kid") {
			None => None,
			Some(Value::String(s)) => Some(KeyId::new(s)?),
			Some(_) => {
				return Err(KeyError::InvalidField {
					field: "kid",
					reason: "must be a string".into(),
				}
				.into());
			}
		};
		let scope = obj.get("scope").map(Scope::from_json).transpose()?;
		let material = Material::from_jwk(alg, obj)?;
		Ok(Self::build(alg, kid, ops, scope, material)?)
	}

	/// The key as a JWK object, private fields included.
	pub fn to_value(&self) -> Value {
		let mut obj = Map::new();
		obj.insert("alg".into(), self.0.alg.as_str().into());
		obj.insert("key_ops".into(), self.0.ops.names().into());
		if let Some(kid) = &self.0.kid {
			obj.insert("kid".into(), kid.as_str().into());
		}
		if let Some(scope) = &self.0.scope {
			obj.insert("scope".into(), scope.to_json());
		}
		self.0.material.write_jwk(self.0.alg, &mut obj, true);
		Value::Object(obj)
	}

	/// The JWK as compact JSON.
	pub fn to_json(&self) -> String {
		self.to_value().to_string()
	}

	/// The JWK as pretty-printed JSON (the CLI's `--json`).
	pub fn to_json_pretty(&self) -> String {
		serde_json::to_string_pretty(&self.to_value()).unwrap_or_default()
	}

	/// The JWK as base64url of its JSON, the format of key files.
	pub fn to_base64url(&self) -> String {
		base64url::encode(self.to_json())
	}

	/// The public half: private fields dropped, `kid` kept, `key_ops = ["verify"]`.
	/// An error for HMAC keys, which have no public half.
	pub fn to_public(&self) -> Result<Self> {
		let material = self.0.material.public().ok_or(KeyError::SymmetricHasNoPublic)?;
		Ok(Self::build(
			self.0.alg,
			self.0.kid.clone(),
			KeyOps::VERIFY,
			self.0.scope.clone(),
			material,
		)?)
	}

	/// This key with a different id.
	pub fn with_kid(&self, kid: Option<KeyId>) -> Result<Self> {
		Ok(Self::build(
			self.0.alg,
			kid,
			self.0.ops,
			self.0.scope.clone(),
			self.0.material.clone(),
		)?)
	}

	/// This key restricted to `ops`.
	pub fn with_ops(&self, ops: KeyOps) -> Result<Self> {
		Ok(Self::build(
			self.0.alg,
			self.0.kid.clone(),
			ops,
			self.0.scope.clone(),
			self.0.material.clone(),
		)?)
	}

	/// This key with a scope: a ceiling on what its tokens may grant.
	pub fn with_scope(&self, scope: Option<Scope>) -> Result<Self> {
		Ok(Self::build(
			self.0.alg,
			self.0.kid.clone(),
			self.0.ops,
			scope,
			self.0.material.clone(),
		)?)
	}

	/// The algorithm.
	pub fn algorithm(&self) -> Algorithm {
		self.0.alg
	}

	/// The key id.
	pub fn kid(&self) -> Option<&KeyId> {
		self.0.kid.as_ref()
	}

	/// The allowed operations.
	pub fn ops(&self) -> KeyOps {
		self.0.ops
	}

	/// The scope, if any.
	pub fn scope(&self) -> Option<&Scope> {
		self.0.scope.as_ref()
	}

	/// Whether the key holds private material (HMAC keys always do).
	pub fn is_private(&self) -> bool {
		self.0.material.has_private()
	}

	/// Whether this key can sign: private material and the `sign` operation.
	pub fn can_sign(&self) -> bool {
		self.0.ops.sign && self.0.signer.is_some()
	}

	/// The RFC 7638 thumbprint (base64url SHA-256) of the key's required public members.
	pub fn thumbprint(&self) -> String {
		thumbprint(self.0.alg, &self.0.material)
	}

	/// Sign claims in this project's `pub`/`sub` format.
	pub fn sign(&self, claims: &Claims) -> Result<String> {
		self.sign_with(claims, ClaimsFormat::PubSub)
	}

	/// Sign claims in the given format. Refuses useless claims, claims beyond the key's scope, and
	/// prefixes the format cannot carry (a `,` or edge whitespace in `pub`/`sub` strings). An
	/// `exp` in the past is allowed here (the caller may warn); verifying fails.
	pub fn sign_with(&self, claims: &Claims, format: ClaimsFormat) -> Result<String> {
		if !self.0.ops.sign {
			return Err(self.not_allowed("sign"));
		}
		claims.validate()?;
		if let Some(scope) = &self.0.scope {
			scope.check(claims)?;
		}
		claims.check_format(format)?;
		self.sign_payload(claims.to_json(format).as_bytes())
	}

	/// Sign an arbitrary JSON payload as a JWT with this key's header, without reading it as
	/// MoQ claims: for JWTs that are not MoQ tokens (a relay's request to an auth service).
	pub fn sign_payload(&self, payload: &[u8]) -> Result<String> {
		let mut token = String::with_capacity(payload.len() * 2 + 128);
		token.push_str(&self.0.header);
		token.push('.');
		base64url::encode_into(payload, &mut token);
		let signature = self.sign_bytes(token.as_bytes())?;
		token.push('.');
		base64url::encode_into(signature, &mut token);
		Ok(token)
	}

	/// The raw JWS signature of `message` under this key's algorithm.
	pub fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>> {
		if !self.0.ops.sign {
			return Err(self.not_allowed("sign"));
		}
		let signer = self.0.signer.as_ref().ok_or(KeyError::MissingPrivateKey)?;
		Ok(signer.sign(message)?)
	}

	/// Verify a token with this key as of now.
	pub fn verify(&self, token: &str) -> Result<Claims> {
		self.verify_with(token, &Validation::default())
	}

	/// Verify a token: size, structure, header (`alg` pinned to the key, no `crit`), `kid`,
	/// signature, claims, time, usefulness and scope, in that order.
	pub fn verify_with(&self, token: &str, validation: &Validation) -> Result<Claims> {
		let jws = Jws::parse(
			token,
			Some((&self.0.header, self.0.alg, self.0.kid.as_ref().map(KeyId::as_str))),
		)?;
		if let Some(kid) = &jws.kid {
			if !KeyId::is_valid(kid) {
				return Err(Error::UnknownKid("(not a valid kid)".into()));
			}
			if let Some(own) = &self.0.kid
				&& own.as_str() != kid
			{
				return Err(Error::UnknownKid(kid.clone())); // a valid kid: [A-Za-z0-9_-] only
			}
		}
		self.verify_jws(&jws, validation)
	}

	pub(crate) fn verify_jws(&self, jws: &Jws, validation: &Validation) -> Result<Claims> {
		if !self.0.ops.verify {
			return Err(self.not_allowed("verify"));
		}
		if jws.alg != self.0.alg {
			return Err(Error::AlgorithmMismatch {
				key: self.0.alg,
				token: jws.alg,
			});
		}
		let signature =
			base64url::decode_strict(jws.signature).ok_or(Error::Malformed("the signature is not base64url"))?;
		if !self.0.verifier.verify(jws.signing_input.as_bytes(), &signature) {
			return Err(Error::BadSignature);
		}
		let payload = base64url::decode_strict(jws.payload).ok_or(Error::Malformed("the payload is not base64url"))?;
		let claims = Claims::from_json(&payload)?;

		let now = validation.now();
		if let Some(exp) = claims.expires
			&& exp.saturating_add(validation.leeway) <= now
		{
			return Err(Error::Expired { exp, now });
		}
		if let Some(nbf) = claims.not_before
			&& nbf > now.saturating_add(validation.leeway)
		{
			return Err(Error::NotYetValid { nbf, now });
		}
		claims.validate()?;
		if let Some(scope) = &self.0.scope {
			scope.check(&claims)?;
		}
		Ok(claims)
	}

	fn not_allowed(&self, op: &'static str) -> Error {
		Error::OperationNotAllowed {
			op,
			ops: format!("{:?}", self.0.ops.names()),
		}
	}
}

impl fmt::Debug for Key {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.debug_struct("Key")
			.field("alg", &self.0.alg)
			.field("kid", &self.0.kid)
			.field("key_ops", &self.0.ops.names())
			.field("private", &self.is_private())
			.field("scope", &self.0.scope)
			.finish_non_exhaustive()
	}
}

impl std::str::FromStr for Key {
	type Err = Error;
	fn from_str(s: &str) -> Result<Self> {
		Self::parse(s)
	}
}

fn thumbprint(alg: Algorithm, material: &Material) -> String {
	let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, material.thumbprint_input(alg).as_bytes());
	base64url::encode(digest.as_ref())
}

/// JSON, or base64url (padded or not) of JSON, after trimming whitespace.
pub(crate) fn parse_jwk_text(text: &str) -> Result<Value, KeyError> {
	let text = text.trim();
	if text.starts_with('{') {
		return serde_json::from_str(text)
			.map_err(|e| KeyError::Format(format!("invalid JSON at line {} column {}", e.line(), e.column())));
	}
	let bytes = base64url::decode_lenient(text).ok_or_else(|| KeyError::Format("neither JSON nor base64url".into()))?;
	serde_json::from_slice(&bytes).map_err(|_| KeyError::Format("base64url that does not hold JSON".into()))
}
