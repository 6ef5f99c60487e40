//! The whole flow offline: our verifier challenges, our client asks our local issuer, our verifier accepts.

use std::time::Duration;

use moq_privacy_pass::{
	ChallengeStatus, DIRECTORY_PATH, Issuer, IssuerDirectory, IssuerKey, IssuerKeyPair, RedemptionContext,
	TokenChallenge, TokenRequest, TokenResponse, Verifier, parse_authorization, parse_www_authenticate, request_token,
};

use crate::util::t;

fn issuer() -> Issuer {
	Issuer::new(
		"https://issuer.local/token-request",
		vec![IssuerKeyPair::generate().unwrap()],
	)
	.unwrap()
}

/// What the original `pp_client` does, steps 1 to 3, with bytes passed by hand.
#[test]
fn local_issuer_and_client_tokens_are_accepted() {
	let issuer = issuer();
	// The relay is configured from the directory, as `--pp-issuer-key` or a directory URL would.
	let directory = IssuerDirectory::from_json(&issuer.directory_json()).unwrap();
	assert_eq!(directory.issuer_request_uri, "https://issuer.local/token-request");
	let keys = directory.blind_rsa_keys().unwrap();
	assert_eq!(keys.len(), 1);
	let verifier = Verifier::new("issuer.local", keys)
		.unwrap()
		.with_origin_info(b"relay.local".to_vec())
		.unwrap();

	// Step 1: no token → the relay closes with 0x2 and the challenge as the reason.
	let challenge = verifier.challenge(t(0));
	assert_eq!(challenge.token_type(), 2);
	assert_eq!(challenge.issuer_name(), "issuer.local");
	assert_eq!(challenge.origin_info(), b"relay.local");
	assert!(challenge.redemption_context().is_some());
	let reason = challenge.to_close_reason();

	// Step 2: the client reads the challenge, fetches the directory, asks the issuer.
	let seen = TokenChallenge::from_close_reason(&reason).unwrap();
	assert_eq!(seen, challenge);
	let key = IssuerDirectory::from_json(&issuer.directory_json())
		.unwrap()
		.blind_rsa_keys()
		.unwrap()
		.remove(0);
	let (request, state) = request_token(&seen, &key).unwrap();
	let response = issuer.issue(&request.to_bytes()).unwrap();
	let token = state.finalize(&TokenResponse::from_bytes(&response).unwrap()).unwrap();
	assert_eq!(
		token.to_wrapped_bytes().len(),
		357,
		"the original client's 'Got token: 357 bytes'"
	);

	// Step 3: the client reconnects with the token; the relay verifies it.
	let verified = verifier.verify(&token.to_wrapped_bytes(), t(1)).unwrap();
	assert_eq!(&verified.token_key_id, key.token_key_id());
	assert_eq!(verified.challenge, ChallengeStatus::Issued { expires_at: t(300) });
	assert_eq!(
		verifier.verify(token.as_bytes(), t(2)).unwrap_err().code(),
		"token_replayed"
	);
}

#[test]
fn every_presentation_form_verifies() {
	let issuer = issuer();
	let key = issuer.keys()[0].public_key().clone();
	let verifier = Verifier::new("issuer.local", [key.clone()]).unwrap();
	let fresh = || {
		let (request, state) = request_token(&verifier.challenge(t(0)), &key).unwrap();
		state.finalize(&issuer.issue_request(&request).unwrap()).unwrap()
	};
	let header = fresh();
	let parsed = parse_authorization(&format!("PrivateToken token=\"{}\"", header.to_base64())).unwrap();
	verifier.verify_token(&parsed, t(1)).unwrap();
	let query = fresh();
	verifier
		.verify_token(
			&moq_privacy_pass::Token::from_base64(&query.to_base64_unpadded()).unwrap(),
			t(1),
		)
		.unwrap();
	let setup = fresh();
	verifier.verify(setup.as_bytes(), t(1)).unwrap();
}

#[test]
fn wrong_issuer_key_is_refused() {
	let ours = issuer();
	let other = issuer();
	let verifier = Verifier::new("issuer.local", [ours.keys()[0].public_key().clone()]).unwrap();
	let challenge = verifier.challenge(t(0));

	// A token from another issuer's key: unknown key.
	let other_key = other.keys()[0].public_key();
	let (request, state) = request_token(&challenge, other_key).unwrap();
	let token = state.finalize(&other.issue_request(&request).unwrap()).unwrap();
	assert_eq!(verifier.verify_token(&token, t(1)).unwrap_err().code(), "unknown_key");

	// An issuer answer to another request does not finalize: the client checks what it unblinds.
	let our_key = ours.keys()[0].public_key();
	let (_, state) = request_token(&challenge, our_key).unwrap();
	let (other_request, _) = request_token(&challenge, our_key).unwrap();
	let response = ours.issue_request(&other_request).unwrap();
	assert_eq!(state.finalize(&response).unwrap_err().code(), "bad_signature");

	// A token with our key id but another key's signature: bad signature.
	let genuine = {
		let (request, state) = request_token(&challenge, other_key).unwrap();
		state.finalize(&other.issue_request(&request).unwrap()).unwrap()
	};
	let mut bytes = *genuine.as_bytes();
	bytes[66..98].copy_from_slice(ours.keys()[0].public_key().token_key_id());
	assert_eq!(verifier.verify(&bytes, t(1)).unwrap_err().code(), "bad_signature");
}

#[test]
fn challenges_expire_and_must_be_ours() {
	let issuer = issuer();
	let key = issuer.keys()[0].public_key().clone();
	let verifier = Verifier::new("issuer.local", [key.clone()])
		.unwrap()
		.with_challenge_lifetime(Duration::from_secs(60), 1000);
	let token_for = |challenge: &TokenChallenge| {
		let (request, state) = request_token(challenge, &key).unwrap();
		state.finalize(&issuer.issue_request(&request).unwrap()).unwrap()
	};

	let expired = token_for(&verifier.challenge(t(0)));
	assert_eq!(
		verifier.verify_token(&expired, t(60)).unwrap_err().code(),
		"challenge_expired"
	);

	let made_elsewhere = TokenChallenge::new(2, "issuer.local", Some([1; 32]), Vec::new()).unwrap();
	let stranger = token_for(&made_elsewhere);
	assert_eq!(
		verifier.verify_token(&stranger, t(1)).unwrap_err().code(),
		"unknown_challenge"
	);

	// A static challenge from configuration is accepted whenever.
	let verifier = verifier.with_static_challenge(&made_elsewhere);
	let ok = verifier.verify_token(&stranger, t(1_000_000)).unwrap();
	assert_eq!(ok.challenge, ChallengeStatus::Static);

	// Just before expiry is fine.
	let in_time = token_for(&verifier.challenge(t(100)));
	verifier.verify_token(&in_time, t(159)).unwrap();
}

#[test]
fn empty_redemption_context_and_key_rotation() {
	let old = issuer();
	let new = issuer();
	let verifier = Verifier::new("issuer.local", [old.keys()[0].public_key().clone()])
		.unwrap()
		.with_redemption_context(RedemptionContext::Empty);
	let a = verifier.challenge(t(0));
	let b = verifier.challenge(t(1));
	assert_eq!(a, b, "empty contexts make identical challenges");
	assert!(a.redemption_context().is_none());

	let token = |issuer: &Issuer| {
		let key = issuer.keys()[0].public_key();
		let (request, state) = request_token(&a, key).unwrap();
		state.finalize(&issuer.issue_request(&request).unwrap()).unwrap()
	};
	let from_old = token(&old);
	let from_new = token(&new);

	// The shared challenge is renewed by every new challenge(); a token's nonce must outlive that.
	verifier.verify_token(&from_old, t(2)).unwrap();
	assert_eq!(verifier.challenge(t(299)), a);
	assert_eq!(
		verifier.verify_token(&from_old, t(400)).unwrap_err().code(),
		"token_replayed"
	);
	let from_old = token(&old);

	assert_eq!(
		verifier.verify_token(&from_new, t(2)).unwrap_err().code(),
		"unknown_key"
	);
	verifier.set_keys([new.keys()[0].public_key().clone()]);
	verifier.verify_token(&from_new, t(2)).unwrap();
	assert_eq!(
		verifier.verify_token(&from_old, t(2)).unwrap_err().code(),
		"unknown_key"
	);
}

#[test]
fn www_authenticate_names_every_key() {
	let a = issuer();
	let b = issuer();
	let keys = [a.keys()[0].public_key().clone(), b.keys()[0].public_key().clone()];
	let verifier = Verifier::new("issuer.local", keys.clone()).unwrap();
	let challenge = verifier.challenge(t(0));
	let header = verifier.www_authenticate(&challenge);
	let parsed = parse_www_authenticate(&header).unwrap();
	assert_eq!(parsed.len(), 2);
	for p in &parsed {
		assert_eq!(p.challenge, challenge);
		assert_eq!(p.max_age, Some(300));
		assert!(keys.iter().any(|k| k.spki() == p.token_key.as_slice()));
		IssuerKey::from_spki_der(&p.token_key).unwrap();
	}
}

#[test]
fn issuer_refuses_bad_requests_and_keys_persist() {
	let pair = IssuerKeyPair::generate().unwrap();
	let pem = pair.to_pkcs8_pem().unwrap();
	let again = IssuerKeyPair::from_pem(&pem).unwrap();
	assert_eq!(again.public_key(), pair.public_key());
	assert!(
		Issuer::new("x", vec![pair.clone(), again]).is_err(),
		"same truncated id twice"
	);
	assert!(Issuer::new("x", vec![]).is_err());

	let issuer = Issuer::new("x", vec![pair]).unwrap();
	assert_eq!(issuer.issue(&[0, 2, 0]).unwrap_err().code(), "malformed");
	assert_eq!(issuer.issue(&[0, 1]).unwrap_err().code(), "unsupported_token_type");
	// A blinded message not below the modulus is refused, not signed.
	let request = TokenRequest {
		truncated_token_key_id: issuer.keys()[0].public_key().truncated_token_key_id(),
		blinded_msg: [0xff; 256],
	};
	assert_eq!(issuer.issue_request(&request).unwrap_err().code(), "issuance_failed");
	assert_eq!(DIRECTORY_PATH, "/.well-known/private-token-issuer-directory");

	let json: serde_json::Value = serde_json::from_str(&issuer.directory_json()).unwrap();
	assert_eq!(json["issuer-request-uri"], "x");
	assert_eq!(json["token-keys"][0]["token-type"], 2);
	assert_eq!(
		json["token-keys"][0]["token-key"].as_str().unwrap(),
		issuer.keys()[0].public_key().to_base64()
	);
}

#[test]
fn secrets_are_redacted_in_debug() {
	let issuer = issuer();
	let pem = issuer.keys()[0].to_pkcs8_pem().unwrap();
	let body_line = pem.lines().nth(3).unwrap().to_string();
	let debug = format!("{issuer:?}");
	assert!(debug.contains("<redacted>"), "{debug}");
	assert!(!debug.contains(&body_line));
	assert!(!debug.to_lowercase().contains("primes"), "{debug}");
	let (_, state) = request_token(
		&TokenChallenge::new(2, "i", None, Vec::new()).unwrap(),
		issuer.keys()[0].public_key(),
	)
	.unwrap();
	let debug = format!("{state:?}");
	assert!(debug.contains("<redacted>") && !debug.contains("secret: ["), "{debug}");
}
