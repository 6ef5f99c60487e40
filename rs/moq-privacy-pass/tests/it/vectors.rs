//! RFC 9578 A.2 (type 2) and RFC 9577 A.1/A.2 vectors.

use moq_privacy_pass::{
	Error, Issuer, IssuerKey, IssuerKeyPair, MemoryNonceStore, Token, TokenChallenge, Verifier,
	format_www_authenticate, parse_www_authenticate,
};

use crate::util::{field, hex, json, t};

const TYPE2: &str = include_str!("../vectors/rfc9578-type2.json");
const STRUCTURE: &str = include_str!("../vectors/rfc9577-token-structure.json");
const HEADERS: &str = include_str!("../vectors/rfc9577-header-parsing.json");

struct Type2 {
	sk_pem: String,
	pk: Vec<u8>,
	challenge: Vec<u8>,
	nonce: Vec<u8>,
	token_request: Vec<u8>,
	token_response: Vec<u8>,
	token: Vec<u8>,
}

fn type2_vectors() -> Vec<Type2> {
	let doc = json(TYPE2);
	let vectors = doc["vectors"].as_array().expect("vectors");
	assert_eq!(vectors.len(), 5);
	vectors
		.iter()
		.map(|v| Type2 {
			sk_pem: String::from_utf8(hex(field(v, "skS"))).expect("PEM text"),
			pk: hex(field(v, "pkS")),
			challenge: hex(field(v, "token_challenge")),
			nonce: hex(field(v, "nonce")),
			token_request: hex(field(v, "token_request")),
			token_response: hex(field(v, "token_response")),
			token: hex(field(v, "token")),
		})
		.collect()
}

fn verifier_for(v: &Type2) -> Verifier<MemoryNonceStore> {
	let key = IssuerKey::from_spki_der(&v.pk).expect("vector key");
	let challenge = TokenChallenge::from_bytes(&v.challenge).expect("vector challenge");
	Verifier::new(challenge.issuer_name(), [key])
		.expect("verifier")
		.with_static_challenge(&challenge)
}

#[test]
fn rfc9578_type2_tokens_verify() {
	for (i, v) in type2_vectors().iter().enumerate() {
		let key = IssuerKey::from_spki_der(&v.pk).unwrap();
		let challenge = TokenChallenge::from_bytes(&v.challenge).unwrap();
		assert_eq!(challenge.to_bytes(), v.challenge, "vector {i}: challenge re-encodes");
		let token = Token::from_bytes(&v.token).unwrap();
		assert_eq!(token.as_bytes().as_slice(), v.token.as_slice());
		assert_eq!(token.nonce().as_slice(), v.nonce.as_slice(), "vector {i}: nonce");
		assert_eq!(token.challenge_digest(), &challenge.digest(), "vector {i}: digest");
		assert_eq!(token.token_key_id(), key.token_key_id(), "vector {i}: key id");
		assert_eq!(
			v.token_request[2],
			key.truncated_token_key_id(),
			"vector {i}: truncated id"
		);

		let verifier = verifier_for(v);
		let ok = verifier.verify(&v.token, t(0)).unwrap();
		assert_eq!(&ok.nonce, token.nonce());
		assert_eq!(
			verifier.verify(&v.token, t(1)).unwrap_err(),
			Error::TokenReplayed(short(&v.nonce)),
			"vector {i}: replay"
		);
		// The original client's 357-byte wrapped form verifies too (on a fresh nonce store).
		let verifier = verifier_for(v);
		verifier.verify(&token.to_wrapped_bytes(), t(0)).unwrap();
	}
}

fn short(b: &[u8]) -> String {
	let mut s = hex::encode(&b[..8]);
	s.push('…');
	s
}

#[test]
fn rfc9578_issuer_reproduces_token_responses() {
	for (i, v) in type2_vectors().iter().enumerate() {
		let pair = IssuerKeyPair::from_pem(&v.sk_pem).unwrap();
		assert_eq!(pair.public_key().spki(), v.pk.as_slice(), "vector {i}: SPKI byte-exact");
		let issuer = Issuer::new("https://issuer.example/request", vec![pair]).unwrap();
		// RSA blind signing is deterministic: the response must equal the vector's.
		assert_eq!(issuer.issue(&v.token_request).unwrap(), v.token_response, "vector {i}");
		// A request for another key id is refused.
		let mut other = v.token_request.clone();
		other[2] ^= 1;
		assert_eq!(issuer.issue(&other).unwrap_err().code(), "unknown_key");
	}
}

/// Every single-bit flip of every vector token is refused, with the code of the field it hits.
#[test]
fn rfc9578_every_bit_flip_is_refused() {
	for (i, v) in type2_vectors().iter().enumerate() {
		let verifier = verifier_for(v);
		let mut flipped = v.token.clone();
		for bit in 0..v.token.len() * 8 {
			let byte = bit / 8;
			flipped[byte] ^= 1 << (bit % 8);
			let err = verifier.verify(&flipped, t(0)).expect_err("flipped token refused");
			let expected = match byte {
				0..=1 => "unsupported_token_type",
				2..=33 => "bad_signature",
				34..=65 => "unknown_challenge",
				66..=97 => "unknown_key",
				_ => "bad_signature",
			};
			assert_eq!(err.code(), expected, "vector {i}, bit {bit}");
			flipped[byte] ^= 1 << (bit % 8);
		}
		assert_eq!(flipped, v.token);
		// Refused tokens left no trace in the nonce store: the genuine token still verifies, once.
		assert!(verifier.nonce_store().is_empty());
		verifier.verify(&v.token, t(0)).unwrap();
		assert_eq!(verifier.verify(&v.token, t(0)).unwrap_err().code(), "token_replayed");
	}
}

#[test]
fn rfc9577_token_authenticator_input_re_encodes() {
	let doc = json(STRUCTURE);
	let vectors = doc["vectors"].as_array().unwrap();
	assert_eq!(vectors.len(), 6);
	let mut checked = 0;
	for v in vectors {
		let token_type = u16::from_str_radix(field(v, "token_type"), 16).unwrap();
		let expected = hex(field(v, "token_authenticator_input"));
		if token_type == 0 {
			// Grease: a whole random "token" of type 0x0000, refused as a type we do not verify.
			assert_eq!(expected.len(), 354);
			assert_eq!(
				Token::from_bytes(&expected).unwrap_err(),
				Error::UnsupportedTokenType(0)
			);
			continue;
		}
		assert_eq!(expected.len(), 98);
		let ctx = hex(field(v, "redemption_context"));
		let challenge = TokenChallenge::new(
			token_type,
			String::from_utf8(hex(field(v, "issuer_name"))).unwrap(),
			(!ctx.is_empty()).then(|| ctx.as_slice().try_into().expect("32-byte context")),
			hex(field(v, "origin_info")),
		)
		.unwrap();
		let token = Token::new(
			hex(field(v, "nonce")).try_into().unwrap(),
			challenge.digest(),
			hex(field(v, "token_key_id")).try_into().unwrap(),
			[0; 256],
		);
		assert_eq!(
			token.authenticator_input(),
			expected.as_slice(),
			"vector {}",
			v["vector"]
		);
		assert_eq!(TokenChallenge::from_bytes(&challenge.to_bytes()).unwrap(), challenge);
		checked += 1;
	}
	assert_eq!(checked, 5);
}

#[test]
fn rfc9577_www_authenticate_vectors_parse() {
	let doc = json(HEADERS);
	let vectors = doc["vectors"].as_array().unwrap();
	assert_eq!(vectors.len(), 3);
	for v in vectors {
		let parsed = parse_www_authenticate(field(v, "www_authenticate")).unwrap();
		let expected: Vec<_> = v["challenges"]
			.as_array()
			.unwrap()
			.iter()
			.filter(|c| field(c, "token-type") != "0x0000")
			.collect();
		assert_eq!(parsed.len(), expected.len(), "vector {}", v["vector"]);
		for (p, e) in parsed.iter().zip(expected) {
			let token_type = u16::from_str_radix(field(e, "token-type").trim_start_matches("0x"), 16).unwrap();
			assert_eq!(p.challenge.token_type(), token_type);
			assert_eq!(p.challenge.to_bytes(), hex(field(e, "token-challenge")));
			assert_eq!(p.token_key, hex(field(e, "token-key")));
			assert_eq!(p.max_age, e["max-age"].as_str().map(|a| a.parse().unwrap()));
			// Formatting it again and parsing gives the same challenge.
			let again = format_www_authenticate(&p.challenge, &p.token_key, p.max_age);
			assert_eq!(parse_www_authenticate(&again).unwrap(), vec![p.clone()]);
		}
	}
}

#[test]
fn rfc9577_type2_token_key_is_the_rfc9578_key() {
	let header = json(HEADERS);
	let key_hex = field(&header["vectors"][0]["challenges"][0], "token-key");
	let key = IssuerKey::from_spki_der(&hex(key_hex)).unwrap();
	let structure = json(STRUCTURE);
	assert_eq!(
		key.token_key_id().as_slice(),
		hex(field(&structure["vectors"][0], "token_key_id")).as_slice()
	);
	assert_eq!(key.spki(), type2_vectors()[0].pk.as_slice());
}
