//! Interop with the published upstream `moq-token` crate (0.7, crates.io) in both directions:
//! its keys load here and ours there; its tokens verify and authorize here exactly as their
//! `put`/`get` claims say; our `put-get` tokens verify there.

use moq_token::{Algorithm, Claims, ClaimsFormat, Key, KeyId, Path, Patterns};
use std::time::{Duration, UNIX_EPOCH};
use upstream_moq_token as upstream;

const ALGS: [(Algorithm, upstream::Algorithm); 5] = [
	(Algorithm::HS256, upstream::Algorithm::HS256),
	(Algorithm::ES256, upstream::Algorithm::ES256),
	(Algorithm::EdDSA, upstream::Algorithm::EdDSA),
	(Algorithm::RS256, upstream::Algorithm::RS256),
	(Algorithm::PS256, upstream::Algorithm::PS256),
];

fn p(s: &str) -> Path {
	Path::new(s).unwrap()
}

fn in_an_hour() -> u64 {
	moq_token::unix_now() + 3600
}

#[test]
fn upstream_keys_and_tokens_work_here() {
	for (ours_alg, up_alg) in ALGS {
		let up_key = upstream::Key::generate(up_alg, Some(upstream::KeyId::decode("up-key").unwrap())).unwrap();
		// Upstream writes key files as base64url JSON; both its private and public halves load.
		let key = Key::parse(&up_key.to_str().unwrap()).unwrap();
		assert_eq!(key.algorithm(), ours_alg);
		assert_eq!(key.kid().unwrap().as_str(), "up-key");

		let claims = upstream::Claims::default()
			.with_root("room/123")
			.with_publish(["alice"])
			.with_subscribe(["", "extra"])
			.with_expires(Some(UNIX_EPOCH + Duration::from_secs(in_an_hour())));
		let token = up_key.sign(&claims).unwrap();

		let verifiers = if ours_alg == Algorithm::HS256 {
			vec![key.clone()]
		} else {
			vec![
				key.clone(),
				Key::parse(&up_key.to_public().unwrap().to_str().unwrap()).unwrap(),
			]
		};
		for verifier in verifiers {
			let verified = verifier.verify(&token).unwrap_or_else(|e| panic!("{ours_alg}: {e}"));
			assert_eq!(verified.root, p("room/123"));
			assert_eq!(verified.publish, Patterns::from(vec![p("alice")]));
			assert_eq!(verified.subscribe, Patterns::all());
			// Authorization follows the put/get claims exactly.
			let session = verified.authorize(&p("/room/123")).unwrap();
			assert!(session.can_publish(&p("alice/cam")));
			assert!(!session.can_publish(&p("bob")));
			assert!(session.can_subscribe(&p("bob/screen")));
			assert_eq!(
				verified.authorize(&p("/room")).unwrap_err().code().as_str(),
				"root_mismatch"
			);
		}

		// A token upstream signs with another key of the same id is refused here.
		let impostor = upstream::Key::generate(up_alg, Some(upstream::KeyId::decode("up-key").unwrap())).unwrap();
		assert_eq!(
			key.verify(&impostor.sign(&claims).unwrap())
				.unwrap_err()
				.code()
				.as_str(),
			"bad_signature"
		);
	}
}

#[test]
fn our_keys_and_put_get_tokens_work_upstream() {
	for (ours_alg, _) in ALGS {
		let key = Key::generate(ours_alg, Some(KeyId::new("ours").unwrap())).unwrap();
		let claims = Claims::new(p("demo"))
			.with_publish(p("me"))
			.with_subscribe(Path::root())
			.with_expires(in_an_hour());
		let token = key.sign_with(&claims, ClaimsFormat::PutGet).unwrap();

		// Our key file (base64url, the default) loads upstream, and verifies our token there.
		let up_key = upstream::Key::from_str(&key.to_base64url()).unwrap_or_else(|e| panic!("{ours_alg}: {e}"));
		let verified = up_key.verify(&token).unwrap_or_else(|e| panic!("{ours_alg}: {e}"));
		assert_eq!(verified.root, "demo");
		assert_eq!(verified.publish, vec!["me".to_string()]);
		assert_eq!(verified.subscribe, vec!["".to_string()]);
		if ours_alg != Algorithm::HS256 {
			let up_public = upstream::Key::from_str(&key.to_public().unwrap().to_base64url()).unwrap();
			assert!(up_public.verify(&token).is_ok(), "{ours_alg}: public half");
		}

		// Upstream signs with our key; we verify.
		let up_claims = upstream::Claims::default().with_root("demo").with_subscribe(["x"]);
		let back = key.verify(&up_key.sign(&up_claims).unwrap()).unwrap();
		assert_eq!(back.subscribe, Patterns::from(vec![p("x")]));

		// Our default pub/sub format is not understood upstream (no put/get): it is refused
		// there as useless rather than read as something else.
		let pub_sub = key.sign(&claims).unwrap();
		assert!(up_key.verify(&pub_sub).is_err(), "{ours_alg}");
	}
}
