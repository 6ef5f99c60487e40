//! Key material as JWK fields (RFC 7518 §6, RFC 8037 §2), and the crypto objects built from it.

use crate::{Algorithm, KeyError, Secret, algorithm::Family, base64url};
use aws_lc_rs::{
	encoding::AsBigEndian,
	hmac,
	rand::SystemRandom,
	rsa::{KeyPairComponents, KeySize, PublicKeyComponents},
	signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair},
};
use serde_json::{Map, Value};

/// The private half of an RSA key.
#[derive(Clone, Debug)]
pub(crate) struct RsaPrivate {
	pub d: Secret,
	pub p: Secret,
	pub q: Secret,
	pub dp: Secret,
	pub dq: Secret,
	pub qi: Secret,
}

/// The key fields of a JWK, by key type.
#[derive(Clone, Debug)]
pub(crate) enum Material {
	Oct {
		k: Secret,
	},
	Rsa {
		n: Vec<u8>,
		e: Vec<u8>,
		private: Option<RsaPrivate>,
	},
	Ec {
		x: Vec<u8>,
		y: Vec<u8>,
		d: Option<Secret>,
	},
	Okp {
		x: Vec<u8>,
		d: Option<Secret>,
	},
}

const RSA_PRIVATE_FIELDS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];
/// RSA keys below 2048 bits are refused (RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used").
const MIN_RSA_BYTES: usize = 256;
/// "A key of the same size as the hash output ... or larger MUST be used" (RFC 7518 §3.2); we ask
/// 32 bytes for every HS algorithm so a key loads the same in every implementation.
pub(crate) const MIN_HMAC_BYTES: usize = 32;

fn b64_field(obj: &Map<String, Value>, field: &'static str) -> Result<Option<Vec<u8>>, KeyError> {
	match obj.get(field) {
		None => Ok(None),
		Some(Value::String(s)) => base64url::decode_lenient(s).map(Some).ok_or(KeyError::InvalidField {
			field,
			reason: "not base64url".into(),
		}),
		Some(_) => Err(KeyError::InvalidField {
			field,
			reason: "must be a base64url string".into(),
		}),
	}
}

fn required(obj: &Map<String, Value>, field: &'static str) -> Result<Vec<u8>, KeyError> {
	b64_field(obj, field)?.ok_or(KeyError::MissingField(field))
}

fn exact(field: &'static str, bytes: Vec<u8>, len: usize) -> Result<Vec<u8>, KeyError> {
	if bytes.len() != len {
		return Err(KeyError::InvalidField {
			field,
			reason: format!("must be {len} bytes, found {}", bytes.len()),
		});
	}
	Ok(bytes)
}

impl Material {
	/// Read the material fields of a JWK for `alg`, checking `kty`, `crv` and lengths.
	pub fn from_jwk(alg: Algorithm, obj: &Map<String, Value>) -> Result<Self, KeyError> {
		let kty = match obj.get("kty") {
			None => "oct", // keys written before kty existed
			Some(Value::String(s)) => s.as_str(),
			Some(_) => {
				return Err(KeyError::InvalidField {
					field: "kty",
					reason: "must be a string".into(),
				});
			}
		};
		let expected = match alg.family() {
			Family::Hmac => "oct",
			Family::Rsa => "RSA",
			Family::Ecdsa => "EC",
			Family::EdDsa => "OKP",
		};
		if kty != expected {
			return Err(KeyError::Mismatch(format!(
				"field \"kty\": {alg} needs kty {expected}, found {kty:?}"
			)));
		}
		if let Some(crv) = alg.curve() {
			match obj.get("crv") {
				Some(Value::String(s)) if s == crv => {}
				Some(_) => return Err(KeyError::Mismatch(format!("field \"crv\": {alg} needs curve {crv}"))),
				None => return Err(KeyError::MissingField("crv")),
			}
		}

		Ok(match alg.family() {
			Family::Hmac => {
				let k = required(obj, "k")?;
				if k.len() < MIN_HMAC_BYTES {
					return Err(KeyError::SecretTooShort(k.len()));
				}
				Material::Oct { k: Secret::new(k) }
			}
			Family::Rsa => {
				if obj.contains_key("oth") {
					return Err(KeyError::InvalidField {
						field: "oth",
						reason: "multi-prime RSA keys are not supported".into(),
					});
				}
				let n = strip_zeros(required(obj, "n")?);
				let e = strip_zeros(required(obj, "e")?);
				if n.len() < MIN_RSA_BYTES {
					return Err(KeyError::InvalidField {
						field: "n",
						reason: format!("RSA keys need at least 2048 bits, this one has {}", n.len() * 8),
					});
				}
				let present = RSA_PRIVATE_FIELDS.iter().filter(|f| obj.contains_key(**f)).count();
				let private = match present {
					0 => None,
					6 => {
						let get = |f| required(obj, f).map(|v| Secret::new(strip_zeros(v)));
						Some(RsaPrivate {
							d: get("d")?,
							p: get("p")?,
							q: get("q")?,
							dp: get("dp")?,
							dq: get("dq")?,
							qi: get("qi")?,
						})
					}
					_ => {
						let missing = RSA_PRIVATE_FIELDS
							.iter()
							.find(|f| !obj.contains_key(**f))
							.copied()
							.unwrap_or("d");
						return Err(KeyError::MissingField(missing));
					}
				};
				Material::Rsa { n, e, private }
			}
			Family::Ecdsa => {
				let len = alg.key_len();
				let x = exact("x", required(obj, "x")?, len)?;
				let y = exact("y", required(obj, "y")?, len)?;
				let d = b64_field(obj, "d")?
					.map(|d| exact("d", d, len))
					.transpose()?
					.map(Secret::new);
				Material::Ec { x, y, d }
			}
			Family::EdDsa => {
				let x = exact("x", required(obj, "x")?, 32)?;
				let d = b64_field(obj, "d")?
					.map(|d| exact("d", d, 32))
					.transpose()?
					.map(Secret::new);
				Material::Okp { x, d }
			}
		})
	}

	/// Write the material fields (and `kty`, `crv`) into a JWK object.
	pub fn write_jwk(&self, alg: Algorithm, obj: &mut Map<String, Value>, private: bool) {
		let mut put = |name: &str, bytes: &[u8]| {
			obj.insert(name.to_string(), base64url::encode(bytes).into());
		};
		match self {
			Material::Oct { k } => put("k", k.expose()),
			Material::Rsa { n, e, private: key } => {
				put("n", n);
				put("e", e);
				if let (true, Some(key)) = (private, key) {
					for (name, v) in [
						("d", &key.d),
						("p", &key.p),
						("q", &key.q),
						("dp", &key.dp),
						("dq", &key.dq),
						("qi", &key.qi),
					] {
						put(name, v.expose());
					}
				}
			}
			Material::Ec { x, y, d } => {
				put("x", x);
				put("y", y);
				if let (true, Some(d)) = (private, d) {
					put("d", d.expose());
				}
			}
			Material::Okp { x, d } => {
				put("x", x);
				if let (true, Some(d)) = (private, d) {
					put("d", d.expose());
				}
			}
		}
		let kty = match self {
			Material::Oct { .. } => "oct",
			Material::Rsa { .. } => "RSA",
			Material::Ec { .. } => "EC",
			Material::Okp { .. } => "OKP",
		};
		obj.insert("kty".into(), kty.into());
		if let Some(crv) = alg.curve() {
			obj.insert("crv".into(), crv.into());
		}
	}

	/// Whether private material (or a symmetric secret) is present.
	pub fn has_private(&self) -> bool {
		match self {
			Material::Oct { .. } => true,
			Material::Rsa { private, .. } => private.is_some(),
			Material::Ec { d, .. } | Material::Okp { d, .. } => d.is_some(),
		}
	}

	/// The public half, or `None` for a symmetric key.
	pub fn public(&self) -> Option<Material> {
		Some(match self {
			Material::Oct { .. } => return None,
			Material::Rsa { n, e, .. } => Material::Rsa {
				n: n.clone(),
				e: e.clone(),
				private: None,
			},
			Material::Ec { x, y, .. } => Material::Ec {
				x: x.clone(),
				y: y.clone(),
				d: None,
			},
			Material::Okp { x, .. } => Material::Okp { x: x.clone(), d: None },
		})
	}

	/// The RFC 7638 thumbprint input: required members only, lexicographic order, no spaces.
	pub fn thumbprint_input(&self, alg: Algorithm) -> String {
		let b = base64url::encode;
		match self {
			Material::Oct { k } => format!(r#"{{"k":"{}","kty":"oct"}}"#, b(k.expose())),
			Material::Rsa { n, e, .. } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b(e), b(n)),
			Material::Ec { x, y, .. } => {
				format!(
					r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
					alg.curve().unwrap_or_default(),
					b(x),
					b(y)
				)
			}
			Material::Okp { x, .. } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b(x)),
		}
	}

	/// Generate fresh material for `alg`.
	pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
		let rng = SystemRandom::new();
		Ok(match alg.family() {
			Family::Hmac => {
				let mut k = vec![0; alg.key_len()];
				aws_lc_rs::rand::fill(&mut k).map_err(|_| KeyError::Generate)?;
				Material::Oct { k: Secret::new(k) }
			}
			Family::Rsa => {
				let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
				let pkcs8 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
					.map_err(|_| KeyError::Generate)?;
				rsa_from_pkcs8(pkcs8.as_ref())?
			}
			Family::Ecdsa => {
				let pair = EcdsaKeyPair::generate(ecdsa_signing(alg)).map_err(|_| KeyError::Generate)?;
				let d: aws_lc_rs::encoding::EcPrivateKeyBin =
					pair.private_key().as_be_bytes().map_err(|_| KeyError::Generate)?;
				let point = pair.public_key().as_ref();
				let len = alg.key_len();
				let _ = &rng;
				Material::Ec {
					x: point[1..1 + len].to_vec(),
					y: point[1 + len..].to_vec(),
					d: Some(Secret::new(d.as_ref().to_vec())),
				}
			}
			Family::EdDsa => {
				let pair = Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?;
				let seed = pair.seed().map_err(|_| KeyError::Generate)?;
				let seed: aws_lc_rs::encoding::Curve25519SeedBin =
					seed.as_be_bytes().map_err(|_| KeyError::Generate)?;
				Material::Okp {
					x: pair.public_key().as_ref().to_vec(),
					d: Some(Secret::new(seed.as_ref().to_vec())),
				}
			}
		})
	}
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
	let zeros = v.iter().take_while(|b| **b == 0).count().min(v.len().saturating_sub(1));
	v.drain(..zeros);
	v
}

/// RSA components from PKCS#8 DER (what the backend's key generation gives).
fn rsa_from_pkcs8(der: &[u8]) -> Result<Material, KeyError> {
	use pkcs8::der::Decode;
	let info = pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| KeyError::Rejected(e.to_string()))?;
	let key = pkcs1::RsaPrivateKey::from_der(info.private_key).map_err(|e| KeyError::Rejected(e.to_string()))?;
	let s = |u: pkcs1::UintRef| Secret::new(u.as_bytes().to_vec());
	Ok(Material::Rsa {
		n: key.modulus.as_bytes().to_vec(),
		e: key.public_exponent.as_bytes().to_vec(),
		private: Some(RsaPrivate {
			d: s(key.private_exponent),
			p: s(key.prime1),
			q: s(key.prime2),
			dp: s(key.exponent1),
			dq: s(key.exponent2),
			qi: s(key.coefficient),
		}),
	})
}

fn ecdsa_signing(alg: Algorithm) -> &'static signature::EcdsaSigningAlgorithm {
	match alg {
		Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
		Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
		_ => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
	}
}

fn hmac_alg(alg: Algorithm) -> hmac::Algorithm {
	match alg {
		Algorithm::HS384 => hmac::HMAC_SHA384,
		Algorithm::HS512 => hmac::HMAC_SHA512,
		_ => hmac::HMAC_SHA256,
	}
}

fn rsa_params(alg: Algorithm) -> &'static signature::RsaParameters {
	match alg {
		Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
		Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
		Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
		Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
		Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
		_ => &signature::RSA_PSS_2048_8192_SHA512,
	}
}

fn rsa_encoding(alg: Algorithm) -> &'static dyn signature::RsaEncoding {
	match alg {
		Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
		Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
		Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
		Algorithm::PS256 => &signature::RSA_PSS_SHA256,
		Algorithm::PS384 => &signature::RSA_PSS_SHA384,
		_ => &signature::RSA_PSS_SHA512,
	}
}

fn ecdsa_verify(alg: Algorithm) -> &'static signature::EcdsaVerificationAlgorithm {
	match alg {
		Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
		Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
		_ => &signature::ECDSA_P256_SHA256_FIXED,
	}
}

/// Checks signatures; built once per key.
pub(crate) enum Verifier {
	Hmac(Box<hmac::Key>),
	Public(ParsedPublicKey),
}

impl Verifier {
	pub fn new(alg: Algorithm, material: &Material) -> Result<Self, KeyError> {
		let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::Rejected(e.to_string());
		Ok(match material {
			Material::Oct { k } => Verifier::Hmac(Box::new(hmac::Key::new(hmac_alg(alg), k.expose()))),
			Material::Rsa { n, e, .. } => Verifier::Public(
				PublicKeyComponents {
					n: n.as_slice(),
					e: e.as_slice(),
				}
				.to_parsed_public_key(rsa_params(alg))
				.map_err(rejected)?,
			),
			Material::Ec { x, y, .. } => {
				let mut point = Vec::with_capacity(1 + x.len() + y.len());
				point.push(0x04);
				point.extend_from_slice(x);
				point.extend_from_slice(y);
				Verifier::Public(ParsedPublicKey::new(ecdsa_verify(alg), point).map_err(rejected)?)
			}
			Material::Okp { x, .. } => {
				Verifier::Public(ParsedPublicKey::new(&signature::ED25519, x).map_err(rejected)?)
			}
		})
	}

	/// Constant-time for HMAC (the backend compares tags in constant time).
	pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
		match self {
			Verifier::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
			Verifier::Public(key) => key.verify_sig(message, signature).is_ok(),
		}
	}
}

/// Makes signatures; built once per key with private material.
pub(crate) enum Signer {
	Hmac(Box<hmac::Key>),
	Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
	Ecdsa(EcdsaKeyPair),
	Ed25519(Ed25519KeyPair),
}

impl Signer {
	pub fn new(alg: Algorithm, material: &Material) -> Result<Option<Self>, KeyError> {
		let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::Rejected(e.to_string());
		Ok(Some(match material {
			Material::Oct { k } => Signer::Hmac(Box::new(hmac::Key::new(hmac_alg(alg), k.expose()))),
			Material::Rsa { n, e, private: Some(p) } => {
				let components = KeyPairComponents {
					public_key: PublicKeyComponents {
						n: n.as_slice(),
						e: e.as_slice(),
					},
					d: p.d.expose(),
					p: p.p.expose(),
					q: p.q.expose(),
					dP: p.dp.expose(),
					dQ: p.dq.expose(),
					qInv: p.qi.expose(),
				};
				Signer::Rsa(
					RsaKeyPair::from_components(&components).map_err(rejected)?,
					rsa_encoding(alg),
				)
			}
			Material::Ec { x, y, d: Some(d) } => {
				let mut point = vec![0x04];
				point.extend_from_slice(x);
				point.extend_from_slice(y);
				Signer::Ecdsa(
					EcdsaKeyPair::from_private_key_and_public_key(ecdsa_signing(alg), d.expose(), &point)
						.map_err(rejected)?,
				)
			}
			Material::Okp { x, d: Some(d) } => {
				Signer::Ed25519(Ed25519KeyPair::from_seed_and_public_key(d.expose(), x).map_err(rejected)?)
			}
			_ => return Ok(None),
		}))
	}

	pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
		let rng = SystemRandom::new();
		let failed = |_| KeyError::Rejected("signing failed".into());
		Ok(match self {
			Signer::Hmac(key) => hmac::sign(key, message).as_ref().to_vec(),
			Signer::Rsa(pair, encoding) => {
				let mut sig = vec![0; pair.public_modulus_len()];
				pair.sign(*encoding, &rng, message, &mut sig).map_err(failed)?;
				sig
			}
			Signer::Ecdsa(pair) => pair.sign(&rng, message).map_err(failed)?.as_ref().to_vec(),
			Signer::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
		})
	}
}
