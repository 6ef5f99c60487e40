//! Keys: every algorithm signs and verifies, never across algorithms, key_ops enforced,
//! public halves, files, key sets, redaction.

use moq_token::*;

fn p(s: &str) -> Path {
	Path::new(s).unwrap()
}

fn claims() -> Claims {
	Claims::new(p("room/123"))
		.with_publish(p("alice"))
		.with_subscribe(Path::root())
}

fn all_keys() -> Vec<Key> {
	Algorithm::ALL
		.iter()
		.map(|alg| Key::generate(*alg, None).unwrap())
		.collect()
}

#[test]
fn every_algorithm_signs_and_verifies() {
	for key in all_keys() {
		let token = key.sign(&claims()).unwrap();
		assert_eq!(key.verify(&token).unwrap(), claims(), "{:?}", key.algorithm());
		if key.algorithm().family() != Family::Hmac {
			let public = key.to_public().unwrap();
			assert_eq!(public.verify(&token).unwrap(), claims(), "public {:?}", key.algorithm());
			assert_eq!(public.kid(), key.kid());
			assert!(!public.is_private());
		}
	}
}

#[test]
fn never_verifies_under_another_algorithm() {
	let keys = all_keys();
	for signer in &keys {
		let token = signer.sign(&claims()).unwrap();
		for verifier in &keys {
			if verifier.algorithm() == signer.algorithm() {
				continue;
			}
			// Same id so the kid check passes and the algorithm pin is what refuses it.
			let verifier = verifier.with_kid(signer.kid().cloned()).unwrap();
			let err = verifier.verify(&token).unwrap_err();
			assert_eq!(
				err.code(),
				ErrorCode::AlgorithmMismatch,
				"{} under {}",
				signer.algorithm(),
				verifier.algorithm()
			);
		}
	}
}

#[test]
fn another_key_of_the_same_algorithm_is_a_bad_signature() {
	for alg in Algorithm::ALL {
		let a = Key::generate(alg, Some(KeyId::new("k").unwrap())).unwrap();
		let b = Key::generate(alg, Some(KeyId::new("k").unwrap())).unwrap();
		let token = a.sign(&claims()).unwrap();
		assert_eq!(b.verify(&token).unwrap_err().code(), ErrorCode::BadSignature, "{alg}");
	}
}

#[test]
fn key_ops_are_enforced() {
	let key = Key::generate(Algorithm::ES256, None).unwrap();
	let token = key.sign(&claims()).unwrap();
	let verify_only = key.with_ops(KeyOps::VERIFY).unwrap();
	let err = verify_only.sign(&claims()).unwrap_err();
	assert_eq!(err.code(), ErrorCode::OperationNotAllowed);
	assert!(err.to_string().contains("may not sign"), "{err}");
	let sign_only = key.with_ops(KeyOps::SIGN).unwrap();
	let err = sign_only.verify(&token).unwrap_err();
	assert_eq!(err.code(), ErrorCode::OperationNotAllowed);
	assert!(err.to_string().contains("may not verify"), "{err}");
	// A public key cannot sign even if its JWK claims the operation.
	let mut jwk = key.to_public().unwrap().to_value();
	jwk["key_ops"] = serde_json::json!(["sign", "verify"]);
	let public = Key::from_value(&jwk).unwrap();
	assert_eq!(public.sign(&claims()).unwrap_err().code(), ErrorCode::KeyError);
}

#[test]
fn hmac_keys_have_no_public_half() {
	let key = Key::generate(Algorithm::HS256, None).unwrap();
	assert_eq!(key.to_public().unwrap_err().code(), ErrorCode::KeyError);
}

#[test]
fn generated_lengths_and_thumbprint_kids() {
	for (alg, len) in [(Algorithm::HS256, 32), (Algorithm::HS384, 48), (Algorithm::HS512, 64)] {
		let jwk = Key::generate(alg, None).unwrap().to_value();
		let k = jwk["k"].as_str().unwrap();
		assert_eq!(k.len(), (len * 4usize).div_ceil(3), "{alg}");
	}
	let rsa = Key::generate(Algorithm::RS256, None).unwrap();
	let jwk = rsa.to_value();
	assert_eq!(jwk["e"], "AQAB");
	assert_eq!(jwk["n"].as_str().unwrap().len(), 342, "2048-bit modulus");
	// The kid of a generated key is its RFC 7638 thumbprint, the same for the public half.
	assert_eq!(rsa.kid().unwrap().as_str(), rsa.thumbprint());
	assert_eq!(rsa.to_public().unwrap().thumbprint(), rsa.thumbprint());
	let named = Key::generate(Algorithm::HS256, Some(KeyId::new("primary").unwrap())).unwrap();
	assert_eq!(named.kid().unwrap().as_str(), "primary");
}

#[test]
fn rfc7638_thumbprint_example() {
	// RFC 7638 §3.1.
	let jwk = serde_json::json!({
		"kty": "RSA", "alg": "RS256",
		"n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
		"e": "AQAB",
		"kid": "2011-04-29"
	});
	let key = Key::from_value(&jwk).unwrap();
	assert_eq!(key.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

#[test]
fn loads_json_base64url_padded_and_legacy() {
	let key = Key::generate(Algorithm::HS256, None).unwrap();
	let json = key.to_json();
	let b64 = key.to_base64url();
	for text in [json.clone(), format!("  {json}\n"), b64.clone(), format!("{b64}\n")] {
		assert_eq!(Key::parse(&text).unwrap().thumbprint(), key.thumbprint());
	}
	// Old key files had no kty and no key_ops.
	let legacy = serde_json::json!({"alg": "HS256", "k": serde_json::to_value(&key.to_value()["k"]).unwrap()});
	let legacy = Key::from_value(&legacy).unwrap();
	assert_eq!(legacy.ops(), KeyOps::ALL);
	assert_eq!(legacy.verify(&key.sign(&claims()).unwrap()).unwrap(), claims());
}

#[test]
fn bad_keys_name_the_field() {
	let cases = [
		(
			r#"{"alg":"HS256","kty":"oct","k":"c2hvcnQ"}"#,
			ErrorCode::KeyError,
			"at least 32",
		),
		(r#"{"alg":"HS256","kty":"oct"}"#, ErrorCode::KeyError, "\"k\""),
		(
			r#"{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
			ErrorCode::KeyError,
			"\"alg\"",
		),
		(
			r#"{"alg":"hs256","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
			ErrorCode::UnsupportedAlgorithm,
			"HS256",
		),
		(
			r#"{"alg":"RS256","kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
			ErrorCode::KeyError,
			"kty",
		),
		(
			r#"{"alg":"ES256","kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#,
			ErrorCode::KeyError,
			"crv",
		),
		(
			r#"{"alg":"EdDSA","kty":"OKP","crv":"Ed25519","x":"AAAA"}"#,
			ErrorCode::KeyError,
			"\"x\"",
		),
		(
			r#"{"alg":"HS256","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","key_ops":["encrypt"]}"#,
			ErrorCode::KeyError,
			"key_ops",
		),
		(
			r#"{"alg":"HS256","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","kid":"../x"}"#,
			ErrorCode::KeyError,
			"kid",
		),
		("not a key", ErrorCode::KeyError, "JSON"),
	];
	for (text, code, needle) in cases {
		let err = Key::parse(text).unwrap_err();
		assert_eq!(err.code(), code, "{text}");
		assert!(err.to_string().contains(needle), "{text}: {err}");
	}
}

#[test]
fn debug_never_shows_secrets() {
	for key in all_keys() {
		let debug = format!("{key:?}");
		let jwk = key.to_value();
		for field in ["k", "d", "p", "q", "dp", "dq", "qi"] {
			if let Some(secret) = jwk.get(field).and_then(|v| v.as_str()) {
				assert!(!debug.contains(secret), "{debug}");
				assert!(!debug.contains(&secret[..8]), "{debug}");
			}
		}
	}
}

#[test]
fn key_files_are_private() {
	use std::os::unix::fs::PermissionsExt;
	let dir = std::env::temp_dir().join(format!("moq-token-test-{}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	let key = Key::generate(Algorithm::EdDSA, None).unwrap();

	let path = dir.join("root.jwk");
	std::fs::write(&path, "old").unwrap();
	std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
	key.to_file(&path, KeyFormat::Base64Url).unwrap();
	assert_eq!(
		std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
		0o600,
		"tightened"
	);
	assert_eq!(Key::from_file(&path).unwrap().thumbprint(), key.thumbprint());

	let public = dir.join("root.pub.jwk");
	key.to_public().unwrap().to_file(&public, KeyFormat::Json).unwrap();
	let text = std::fs::read_to_string(&public).unwrap();
	assert!(text.trim_start().starts_with('{') && !text.contains("\"d\""));
	assert_ne!(std::fs::metadata(&public).unwrap().permissions().mode() & 0o777, 0o600);
	std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn key_sets_pick_by_kid() {
	let a = Key::generate(Algorithm::ES256, Some(KeyId::new("a").unwrap())).unwrap();
	let b = Key::generate(Algorithm::EdDSA, Some(KeyId::new("b").unwrap())).unwrap();
	let set = KeySet::new(vec![a.to_public().unwrap(), b.to_public().unwrap()]).unwrap();
	let parsed = KeySet::parse(&set.to_json()).unwrap();
	for key in [&a, &b] {
		let token = key.sign(&claims()).unwrap();
		assert_eq!(parsed.verify(&token).unwrap(), claims());
	}
	let unknown = Key::generate(Algorithm::ES256, Some(KeyId::new("c").unwrap())).unwrap();
	assert_eq!(
		parsed.verify(&unknown.sign(&claims()).unwrap()).unwrap_err().code(),
		ErrorCode::UnknownKid
	);
	let anonymous = a.with_kid(None).unwrap();
	let token = anonymous.sign(&claims()).unwrap();
	assert_eq!(parsed.verify(&token).unwrap_err().code(), ErrorCode::MissingKid);
	// One verify key: a kid-less token is accepted.
	let single = KeySet::new(vec![a.to_public().unwrap()]).unwrap();
	assert_eq!(single.verify(&token).unwrap(), claims());
	// Signing skips keys that cannot sign.
	let mixed = KeySet::new(vec![b.to_public().unwrap(), a.clone()]).unwrap();
	assert_eq!(
		mixed
			.verify(&mixed.sign_with(&claims(), ClaimsFormat::PubSub).unwrap())
			.unwrap(),
		claims()
	);
	assert_eq!(
		set.sign_with(&claims(), ClaimsFormat::PubSub).unwrap_err().code(),
		ErrorCode::KeyError
	);
	assert_eq!(
		KeySet::new(vec![a.clone(), a.clone()]).unwrap_err().code(),
		ErrorCode::KeyError
	);
	assert_eq!(
		KeySet::new(vec![Key::generate(Algorithm::HS256, None).unwrap()])
			.unwrap()
			.to_public()
			.unwrap_err()
			.code(),
		ErrorCode::KeyError
	);
}

#[test]
fn time_claims() {
	let key = Key::generate(Algorithm::HS256, None).unwrap();
	let token = key.sign(&claims().with_expires(1000)).unwrap();
	assert_eq!(
		key.verify_with(&token, &Validation::at(999)).unwrap().expires,
		Some(1000)
	);
	assert_eq!(
		key.verify_with(&token, &Validation::at(1000)).unwrap_err().code(),
		ErrorCode::Expired
	);
	let lenient = Validation {
		now: Some(1004),
		leeway: 5,
	};
	assert!(key.verify_with(&token, &lenient).is_ok());
	let mut nbf = claims();
	nbf.not_before = Some(2000);
	let token = key.sign(&nbf).unwrap();
	assert_eq!(
		key.verify_with(&token, &Validation::at(1999)).unwrap_err().code(),
		ErrorCode::NotYetValid
	);
	assert!(key.verify_with(&token, &Validation::at(2000)).is_ok());
	// Signing an already expired token works (the CLI warns); verifying it does not.
	let past = key.sign(&claims().with_expires(1703980800)).unwrap();
	assert_eq!(key.verify(&past).unwrap_err().code(), ErrorCode::Expired);
}

#[test]
fn useless_and_scoped() {
	let key = Key::generate(Algorithm::HS256, None).unwrap();
	assert_eq!(
		key.sign(&Claims::new(p("a"))).unwrap_err().code(),
		ErrorCode::UselessToken
	);
	let scope = Scope {
		root: p("demo"),
		publish: vec![p("room")].into(),
		subscribe: Patterns::new(),
	};
	let scoped = key.with_scope(Some(scope)).unwrap();
	assert!(
		scoped
			.sign(&Claims::new(p("demo/room")).with_publish(Path::root()))
			.is_ok()
	);
	assert_eq!(scoped.sign(&claims()).unwrap_err().code(), ErrorCode::ScopeExceeded);
	// A token the unscoped twin signed is refused by the scoped key.
	let forged = key.sign(&claims()).unwrap();
	assert_eq!(scoped.verify(&forged).unwrap_err().code(), ErrorCode::ScopeExceeded);
	// The scope survives a round trip through the JWK.
	let reloaded = Key::parse(&scoped.to_json()).unwrap();
	assert_eq!(reloaded.verify(&forged).unwrap_err().code(), ErrorCode::ScopeExceeded);
}

#[test]
fn oversize_tokens_are_refused_before_decoding() {
	let key = Key::generate(Algorithm::HS256, None).unwrap();
	let huge = "a".repeat(MAX_TOKEN_LEN + 1);
	assert_eq!(key.verify(&huge).unwrap_err().code(), ErrorCode::TooLarge);
	let mut big = claims();
	big.id = Some("x".repeat(MAX_TOKEN_LEN));
	let token = key.sign(&big).unwrap();
	assert_eq!(key.verify(&token).unwrap_err().code(), ErrorCode::TooLarge);
}
