//! Regenerates the shared token corpus in `vectors/token/` (see its README).
//!
//! ```text
//! cargo run -p moq-token@0.1.0 --example gen_vectors -- vectors/token
//! python3 vectors/token/gen/pyjwt_vectors.py vectors/token
//! ```
//!
//! Keys are fresh on every run, so every signed case changes; the verdicts do not.
//! Tokens come from this crate, from the published upstream `moq-token` crate, and from
//! hand-built JWS for the hostile cases (alg none, algorithm confusion, crit, ...).

use base64::Engine;
use moq_token::{Algorithm, Claims, ClaimsFormat, Key, KeyId, KeyOps, KeySet, Path, Scope};
use serde_json::{Value, json};
use std::{collections::BTreeMap, path::PathBuf};
use upstream_moq_token as upstream;

/// The verification time of every case.
const NOW: u64 = 1_800_000_000;
const EXP: u64 = NOW + 3600;

fn b64(bytes: impl AsRef<[u8]>) -> String {
	base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn p(s: &str) -> Path {
	Path::new(s).unwrap()
}

fn name(alg: Algorithm) -> String {
	alg.as_str().to_lowercase()
}

/// A JWS with any header and payload, signed by `key` over exactly those bytes.
fn craft(key: &Key, header: &Value, payload: &str) -> String {
	let input = format!("{}.{}", b64(header.to_string()), b64(payload));
	let sig = key.sign_bytes(input.as_bytes()).unwrap();
	format!("{input}.{}", b64(sig))
}

fn header(key: &Key) -> Value {
	let mut h = json!({"alg": key.algorithm().as_str(), "typ": "JWT"});
	if let Some(kid) = key.kid() {
		h["kid"] = kid.as_str().into();
	}
	h
}

/// Expected claims in the corpus' normalized form.
fn expect(claims: &Claims) -> Value {
	let list = |v: &moq_token::Patterns| v.iter().map(|p| p.as_str().to_string()).collect::<Vec<_>>();
	json!({"claims": {
		"root": claims.root.as_str(),
		"publish": list(&claims.publish),
		"subscribe": list(&claims.subscribe),
		"cluster": claims.cluster,
		"exp": claims.expires,
		"iat": claims.issued,
		"nbf": claims.not_before,
		"jti": claims.id,
	}})
}

fn error(code: &str) -> Value {
	json!({ "error": code })
}

struct Corpus {
	keys: BTreeMap<String, Value>,
	cases: Vec<Value>,
}

impl Corpus {
	fn case(&mut self, name: String, key: &str, token: String, expect: Value, producer: &str) {
		self.cases.push(
			json!({"name": name, "key": key, "token": token, "now": NOW, "expect": expect, "producer": producer}),
		);
	}
	fn set_case(&mut self, name: String, set: &str, token: String, expect: Value) {
		self.cases.push(
			json!({"name": name, "set": set, "token": token, "now": NOW, "expect": expect, "producer": "hand-built"}),
		);
	}
}

fn base_claims() -> Claims {
	Claims::new(p("room/123"))
		.with_publish(p("alice"))
		.with_subscribe(Path::root())
		.with_expires(EXP)
		.with_issued(NOW - 60)
}

fn main() {
	let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "vectors/token".into()));
	let mut corpus = Corpus {
		keys: BTreeMap::new(),
		cases: Vec::new(),
	};
	let mut keys: BTreeMap<Algorithm, Key> = BTreeMap::new();
	let mut others: BTreeMap<Algorithm, Key> = BTreeMap::new();

	for alg in Algorithm::ALL {
		let kid = KeyId::new(&format!("{}-main", name(alg))).unwrap();
		let key = Key::generate(alg, Some(kid.clone())).unwrap();
		// Another key with the same id: signatures from it must not verify.
		let other = Key::generate(alg, Some(kid)).unwrap();
		corpus.keys.insert(name(alg), key.to_value());
		if alg.family() != moq_token::Family::Hmac {
			corpus
				.keys
				.insert(format!("{}-public", name(alg)), key.to_public().unwrap().to_value());
		}
		keys.insert(alg, key);
		others.insert(alg, other);
	}
	let hs = keys[&Algorithm::HS256].clone();
	let sign_only = hs.with_ops(KeyOps::SIGN).unwrap();
	corpus.keys.insert("hs256-sign-only".into(), sign_only.to_value());
	let scoped = hs
		.with_scope(Some(Scope {
			root: p("demo"),
			publish: vec![p("room")].into(),
			subscribe: vec![p("")].into(),
		}))
		.unwrap();
	corpus.keys.insert("hs256-scoped".into(), scoped.to_value());

	// --- Positive cases signed by this crate.
	for (alg, key) in &keys {
		let n = name(*alg);
		let c = base_claims();
		corpus.case(
			format!("ours-{n}-pub-sub"),
			&n,
			key.sign(&c).unwrap(),
			expect(&c),
			"moq-token-rs",
		);
		let c = Claims::new(p("demo"))
			.with_publish(p("a"))
			.with_publish(p("b"))
			.with_subscribe(p("c"))
			.with_expires(EXP);
		corpus.case(
			format!("ours-{n}-put-get"),
			&n,
			key.sign_with(&c, ClaimsFormat::PutGet).unwrap(),
			expect(&c),
			"moq-token-rs",
		);
		if alg.family() != moq_token::Family::Hmac {
			let c = base_claims();
			corpus.case(
				format!("ours-{n}-public-key"),
				&format!("{n}-public"),
				key.sign(&c).unwrap(),
				expect(&c),
				"moq-token-rs",
			);
		}
	}
	let cluster = Claims::new(Path::root())
		.with_publish(Path::root())
		.with_subscribe(Path::root())
		.with_cluster(true);
	corpus.case(
		"ours-cluster-token-no-exp".into(),
		"hs256",
		hs.sign(&cluster).unwrap(),
		expect(&cluster),
		"moq-token-rs",
	);
	let mut full = base_claims();
	full.not_before = Some(NOW);
	full.id = Some("token-1".into());
	corpus.case(
		"ours-nbf-equal-now-and-jti".into(),
		"hs256",
		hs.sign(&full).unwrap(),
		expect(&full),
		"moq-token-rs",
	);
	let read_only = Claims::new(p("live")).with_subscribe(p("news")).with_expires(EXP);
	corpus.case(
		"ours-read-only".into(),
		"es256",
		keys[&Algorithm::ES256].sign(&read_only).unwrap(),
		expect(&read_only),
		"moq-token-rs",
	);
	let write_only = Claims::new(p("live")).with_publish(p("news")).with_expires(EXP);
	corpus.case(
		"ours-write-only".into(),
		"eddsa",
		keys[&Algorithm::EdDSA].sign(&write_only).unwrap(),
		expect(&write_only),
		"moq-token-rs",
	);
	let scoped_ok = Claims::new(p("demo/room")).with_publish(Path::root()).with_expires(EXP);
	corpus.case(
		"ours-within-key-scope".into(),
		"hs256-scoped",
		scoped.sign(&scoped_ok).unwrap(),
		expect(&scoped_ok),
		"moq-token-rs",
	);

	// Hand-built payloads that are valid: escapes, extra claims, normalization.
	let valid_payloads = [
		(
			"escaped-claim-names",
			r#"{"r\u006fot":"room","p\u0075b":"alice","sub":""}"#,
			Claims::new(p("room"))
				.with_publish(p("alice"))
				.with_subscribe(Path::root()),
		),
		(
			"extra-claims-ignored",
			r#"{"root":"room","sub":"","iss":"x","aud":["y"],"path":"secret","foo":{"bar":1}}"#,
			Claims::new(p("room")).with_subscribe(Path::root()),
		),
		(
			"slashes-normalized",
			r#"{"root":"/room//123/","pub":"/alice/,bob//cam","get":null}"#,
			Claims::new(p("room/123"))
				.with_publish(p("alice"))
				.with_publish(p("bob/cam")),
		),
		(
			"put-string",
			r#"{"root":"demo","put":"alice"}"#,
			Claims::new(p("demo")).with_publish(p("alice")),
		),
		(
			"put-empty-array-get-one",
			r#"{"put":[],"get":["x"]}"#,
			Claims::new(Path::root()).with_subscribe(p("x")),
		),
	];
	for (label, payload, claims) in valid_payloads {
		// `get: null` is a type error, so that one is an error case below instead.
		if payload.contains("null") {
			continue;
		}
		corpus.case(
			format!("handbuilt-{label}"),
			"hs256",
			craft(&hs, &header(&hs), payload),
			expect(&claims),
			"hand-built",
		);
	}

	// --- Negative cases, per algorithm.
	for (alg, key) in &keys {
		let n = name(*alg);
		let token = key.sign(&base_claims()).unwrap();
		corpus.case(
			format!("wrong-key-{n}"),
			&n,
			others[alg].sign(&base_claims()).unwrap(),
			error("bad_signature"),
			"moq-token-rs",
		);
		let parts: Vec<&str> = token.split('.').collect();
		let forged = base_claims().with_publish(Path::root());
		let tampered = format!(
			"{}.{}.{}",
			parts[0],
			b64(forged.to_json(ClaimsFormat::PubSub)),
			parts[2]
		);
		corpus.case(
			format!("tampered-payload-{n}"),
			&n,
			tampered,
			error("bad_signature"),
			"moq-token-rs",
		);
		let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
			.decode(parts[2])
			.unwrap();
		let mid = sig.len() / 2;
		sig[mid] ^= 0x01;
		corpus.case(
			format!("tampered-signature-{n}"),
			&n,
			format!("{}.{}.{}", parts[0], parts[1], b64(sig)),
			error("bad_signature"),
			"moq-token-rs",
		);
	}

	// Relabelled algorithms: the header names another algorithm than the key's.
	for (from, to) in [
		(Algorithm::HS256, Algorithm::HS384),
		(Algorithm::HS512, Algorithm::HS256),
		(Algorithm::RS256, Algorithm::PS256),
		(Algorithm::PS256, Algorithm::RS256),
		(Algorithm::ES256, Algorithm::ES384),
		(Algorithm::EdDSA, Algorithm::ES256),
	] {
		let key = &keys[&from];
		let mut h = header(key);
		h["alg"] = to.as_str().into();
		let payload = base_claims().to_json(ClaimsFormat::PubSub);
		corpus.case(
			format!("relabelled-{}-as-{}", name(from), name(to)),
			&name(from),
			craft(key, &h, &payload),
			error("algorithm_mismatch"),
			"hand-built",
		);
	}

	// alg none: no signature at all.
	for alg in [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
		let key = &keys[&alg];
		for none in ["none", "None", "NONE"] {
			let mut h = header(key);
			h["alg"] = none.into();
			let t = format!(
				"{}.{}.",
				b64(h.to_string()),
				b64(base_claims().to_json(ClaimsFormat::PubSub))
			);
			corpus.case(
				format!("alg-{none}-against-{}", name(alg)),
				&format!(
					"{}{}",
					name(alg),
					if alg.family() == moq_token::Family::Hmac {
						""
					} else {
						"-public"
					}
				),
				t,
				error("unsupported_algorithm"),
				"hand-built",
			);
		}
	}

	// Algorithm confusion: HS256 keyed with the public key's bytes, presented to the public key.
	for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA, Algorithm::PS384] {
		let public = keys[&alg].to_public().unwrap();
		for (label, secret) in [
			("jwk-json", public.to_json().into_bytes()),
			("jwk-base64url", public.to_base64url().into_bytes()),
		] {
			let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
			let mut h = header(&public);
			h["alg"] = "HS256".into();
			let input = format!(
				"{}.{}",
				b64(h.to_string()),
				b64(base_claims().to_json(ClaimsFormat::PubSub))
			);
			let sig = aws_lc_rs::hmac::sign(&hmac_key, input.as_bytes());
			corpus.case(
				format!("confusion-hs256-with-{}-{label}", name(alg)),
				&format!("{}-public", name(alg)),
				format!("{input}.{}", b64(sig)),
				error("algorithm_mismatch"),
				"hand-built",
			);
		}
	}

	// Time.
	for (label, exp) in [
		("exp-equals-now", NOW),
		("exp-one-second-ago", NOW - 1),
		("exp-2023", 1_703_980_800),
	] {
		let c = base_claims().with_expires(exp);
		corpus.case(
			format!("expired-{label}"),
			"hs256",
			hs.sign(&c).unwrap(),
			error("expired"),
			"moq-token-rs",
		);
	}
	for (label, nbf) in [
		("nbf-one-second-ahead", NOW + 1),
		("nbf-tomorrow", NOW + 86_400),
		("nbf-far-future", NOW * 2),
	] {
		let mut c = base_claims();
		c.not_before = Some(nbf);
		corpus.case(
			format!("not-yet-valid-{label}"),
			"es384",
			keys[&Algorithm::ES384].sign(&c).unwrap(),
			error("not_yet_valid"),
			"moq-token-rs",
		);
	}

	// Claims of the wrong type or value.
	let bad_payloads: &[(&str, &str, &str)] = &[
		("exp-string", r#"{"sub":"","exp":"1800003600"}"#, "invalid_claim"),
		("exp-float", r#"{"sub":"","exp":1800003600.5}"#, "invalid_claim"),
		("exp-null", r#"{"sub":"","exp":null}"#, "invalid_claim"),
		("exp-negative", r#"{"sub":"","exp":-5}"#, "invalid_claim"),
		("nbf-string", r#"{"sub":"","nbf":"0"}"#, "invalid_claim"),
		("iat-bool", r#"{"sub":"","iat":true}"#, "invalid_claim"),
		("root-number", r#"{"root":7,"sub":""}"#, "invalid_claim"),
		("root-null", r#"{"root":null,"sub":""}"#, "invalid_claim"),
		("sub-array", r#"{"sub":["a"]}"#, "invalid_claim"),
		("sub-number", r#"{"sub":42}"#, "invalid_claim"),
		("pub-object", r#"{"pub":{"a":1}}"#, "invalid_claim"),
		("put-number-element", r#"{"put":["a",1]}"#, "invalid_claim"),
		("get-null", r#"{"get":null}"#, "invalid_claim"),
		("cluster-string", r#"{"sub":"","cluster":"true"}"#, "invalid_claim"),
		("jti-number", r#"{"sub":"","jti":12}"#, "invalid_claim"),
		("list-trailing-comma", r#"{"sub":"alice,"}"#, "invalid_claim"),
		("list-leading-comma", r#"{"pub":",bob"}"#, "invalid_claim"),
		("list-double-comma", r#"{"sub":"a,,b"}"#, "invalid_claim"),
		("list-whitespace", r#"{"sub":"a, b"}"#, "invalid_claim"),
		("duplicate-claim", r#"{"sub":"","sub":"x"}"#, "invalid_claim"),
		("ambiguous-pub-put", r#"{"pub":"a","put":["a"]}"#, "ambiguous_claims"),
		("ambiguous-pub-get", r#"{"pub":"a","get":[""]}"#, "ambiguous_claims"),
		(
			"ambiguous-both",
			r#"{"pub":"","put":"","sub":"","get":""}"#,
			"ambiguous_claims",
		),
		(
			"useless-nothing",
			r#"{"root":"room","exp":1800003600}"#,
			"useless_token",
		),
		("useless-empty-arrays", r#"{"put":[],"get":[]}"#, "useless_token"),
		("useless-only-cluster", r#"{"cluster":true}"#, "useless_token"),
		("path-escape-root", r#"{"root":"../secret","sub":""}"#, "invalid_path"),
		(
			"path-escape-pub",
			r#"{"root":"room","pub":"alice/../bob"}"#,
			"invalid_path",
		),
		("path-escape-sub", r#"{"sub":"..,a"}"#, "invalid_path"),
		("path-escape-get", r#"{"get":["./x"]}"#, "invalid_path"),
		("payload-not-json", "this is not json", "malformed"),
		("payload-array", r#"["sub",""]"#, "malformed"),
	];
	for (label, payload, code) in bad_payloads {
		corpus.case(
			format!("claims-{label}"),
			"hs256",
			craft(&hs, &header(&hs), payload),
			error(code),
			"hand-built",
		);
	}
	// The same claim checks behind an asymmetric signature.
	for (label, payload, code) in &bad_payloads[..3] {
		let key = &keys[&Algorithm::EdDSA];
		corpus.case(
			format!("claims-{label}-eddsa"),
			"eddsa-public",
			craft(key, &header(key), payload),
			error(code),
			"hand-built",
		);
	}

	// crit: any critical extension is refused.
	for (label, crit) in [
		("b64", json!(["b64"])),
		("exp", json!(["exp"])),
		("empty-list", json!([])),
		("null", Value::Null),
	] {
		let mut h = header(&hs);
		h["crit"] = crit;
		corpus.case(
			format!("crit-{label}"),
			"hs256",
			craft(&hs, &h, &base_claims().to_json(ClaimsFormat::PubSub)),
			error("unknown_crit"),
			"hand-built",
		);
	}

	// Size: refused above 8 KiB before decoding.
	let mut big = base_claims();
	big.id = Some("x".repeat(8200));
	corpus.case(
		"too-large-signed".into(),
		"hs256",
		hs.sign(&big).unwrap(),
		error("too_large"),
		"moq-token-rs",
	);
	corpus.case(
		"too-large-garbage".into(),
		"hs256",
		"A".repeat(8193),
		error("too_large"),
		"hand-built",
	);
	corpus.case(
		"too-large-many-dots".into(),
		"hs256",
		".".repeat(9000),
		error("too_large"),
		"hand-built",
	);
	let mut fits = base_claims();
	fits.id = Some("y".repeat(5000));
	corpus.case(
		"large-but-under-limit".into(),
		"hs256",
		hs.sign(&fits).unwrap(),
		expect(&fits),
		"moq-token-rs",
	);

	// kid.
	for kid in ["../x", "../../etc/passwd", "a/b", "kid with spaces"] {
		let mut h = header(&hs);
		h["kid"] = kid.into();
		corpus.case(
			format!("kid-traversal-{}", kid.replace(['/', ' ', '.'], "_")),
			"hs256",
			craft(&hs, &h, &base_claims().to_json(ClaimsFormat::PubSub)),
			error("unknown_kid"),
			"hand-built",
		);
	}
	let mut h = header(&hs);
	h["kid"] = "another-key".into();
	corpus.case(
		"kid-differs-from-key".into(),
		"hs256",
		craft(&hs, &h, &base_claims().to_json(ClaimsFormat::PubSub)),
		error("unknown_kid"),
		"hand-built",
	);

	// Structure.
	let good = hs.sign(&base_claims()).unwrap();
	let parts: Vec<&str> = good.split('.').collect();
	let structural = [
		("two-parts", format!("{}.{}", parts[0], parts[1]), "malformed"),
		("four-parts", format!("{good}.{}", parts[2]), "malformed"),
		("one-part", parts[0].to_string(), "malformed"),
		("empty", String::new(), "malformed"),
		(
			"header-not-base64url",
			format!("%%%.{}.{}", parts[1], parts[2]),
			"malformed",
		),
		(
			"header-padded",
			format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
			"malformed",
		),
		(
			"header-not-json",
			format!("{}.{}.{}", b64("nope"), parts[1], parts[2]),
			"malformed",
		),
		(
			"header-without-alg",
			format!("{}.{}.{}", b64(r#"{"typ":"JWT"}"#), parts[1], parts[2]),
			"malformed",
		),
		(
			"header-alg-number",
			format!("{}.{}.{}", b64(r#"{"alg":256}"#), parts[1], parts[2]),
			"malformed",
		),
		(
			"signature-not-base64url",
			format!("{}.{}.***", parts[0], parts[1]),
			"malformed",
		),
		(
			"unsupported-alg-hs128",
			format!("{}.{}.{}", b64(r#"{"alg":"HS128"}"#), parts[1], parts[2]),
			"unsupported_algorithm",
		),
		(
			"unsupported-alg-lowercase",
			format!("{}.{}.{}", b64(r#"{"alg":"hs256"}"#), parts[1], parts[2]),
			"unsupported_algorithm",
		),
	];
	for (label, token, code) in structural {
		corpus.case(format!("structure-{label}"), "hs256", token, error(code), "hand-built");
	}

	// Key operations and scope.
	for alg_token in [
		hs.sign(&base_claims()).unwrap(),
		hs.sign(&base_claims().with_expires(NOW - 5)).unwrap(),
		craft(&hs, &header(&hs), "{}"),
	] {
		let n = corpus.cases.len();
		corpus.case(
			format!("sign-only-key-cannot-verify-{n}"),
			"hs256-sign-only",
			alg_token,
			error("operation_not_allowed"),
			"moq-token-rs",
		);
	}
	for (label, claims) in [
		("outside-root", Claims::new(p("other")).with_publish(Path::root())),
		("publish-sibling", Claims::new(p("demo")).with_publish(p("roomx"))),
		(
			"everything",
			Claims::new(Path::root())
				.with_publish(Path::root())
				.with_subscribe(Path::root()),
		),
	] {
		corpus.case(
			format!("scope-exceeded-{label}"),
			"hs256-scoped",
			hs.sign(&claims.with_expires(EXP)).unwrap(),
			error("scope_exceeded"),
			"moq-token-rs",
		);
	}

	// --- Key sets.
	let set_a = Key::generate(Algorithm::ES256, Some(KeyId::new("set-a").unwrap())).unwrap();
	let set_b = Key::generate(Algorithm::EdDSA, Some(KeyId::new("set-b").unwrap())).unwrap();
	let set = KeySet::new(vec![set_a.to_public().unwrap(), set_b.to_public().unwrap()]).unwrap();
	let single = KeySet::new(vec![set_a.to_public().unwrap()]).unwrap();
	let mut sets = BTreeMap::new();
	sets.insert("two-keys", serde_json::from_str::<Value>(&set.to_json()).unwrap());
	sets.insert("one-key", serde_json::from_str::<Value>(&single.to_json()).unwrap());
	let c = base_claims();
	corpus.set_case(
		"set-picks-a-by-kid".into(),
		"two-keys",
		set_a.sign(&c).unwrap(),
		expect(&c),
	);
	corpus.set_case(
		"set-picks-b-by-kid".into(),
		"two-keys",
		set_b.sign(&c).unwrap(),
		expect(&c),
	);
	let anon_a = set_a.with_kid(None).unwrap();
	corpus.set_case(
		"set-single-key-accepts-no-kid".into(),
		"one-key",
		anon_a.sign(&c).unwrap(),
		expect(&c),
	);
	corpus.set_case(
		"set-missing-kid-es256".into(),
		"two-keys",
		anon_a.sign(&c).unwrap(),
		error("missing_kid"),
	);
	corpus.set_case(
		"set-missing-kid-eddsa".into(),
		"two-keys",
		set_b.with_kid(None).unwrap().sign(&c).unwrap(),
		error("missing_kid"),
	);
	corpus.set_case(
		"set-missing-kid-hs256".into(),
		"two-keys",
		hs.with_kid(None).unwrap().sign(&c).unwrap(),
		error("missing_kid"),
	);
	for kid in ["set-c", "SET-A", "hs256-main"] {
		let k = Key::generate(Algorithm::ES256, Some(KeyId::new(kid).unwrap())).unwrap();
		corpus.set_case(
			format!("set-unknown-kid-{kid}"),
			"two-keys",
			k.sign(&c).unwrap(),
			error("unknown_kid"),
		);
	}
	let mut h = header(&set_a);
	h["kid"] = "../set-a".into();
	corpus.set_case(
		"set-kid-traversal".into(),
		"two-keys",
		craft(&set_a, &h, &c.to_json(ClaimsFormat::PubSub)),
		error("unknown_kid"),
	);

	// --- Tokens signed by the published upstream crate (jsonwebtoken inside), with our keys.
	let mut up_cases = Corpus {
		keys: BTreeMap::new(),
		cases: Vec::new(),
	};
	let up_claims = || {
		upstream::Claims::default()
			.with_root("room/123")
			.with_publish(["alice"])
			.with_subscribe([""])
			.with_expires(Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(EXP)))
			.with_issued(Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW - 60)))
	};
	let ours_equivalent = base_claims();
	for (alg, key) in &keys {
		if *alg == Algorithm::ES512 {
			continue; // upstream has no ES512
		}
		let up_key = upstream::Key::from_str(&key.to_json()).expect("upstream loads our key");
		let token = up_key.sign(&up_claims()).unwrap();
		let n = name(*alg);
		up_cases.case(
			format!("upstream-{n}"),
			&n,
			token.clone(),
			expect(&ours_equivalent),
			"moq-token 0.7 (crates.io)",
		);
		let stale = up_claims().with_expires(Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW - 1)));
		up_cases.case(
			format!("upstream-{n}-expired"),
			&n,
			up_key.sign(&stale).unwrap(),
			error("expired"),
			"moq-token 0.7 (crates.io)",
		);
	}
	let up_hs = upstream::Key::from_str(&hs.to_json()).unwrap();
	let multi = upstream::Claims::default()
		.with_root("demo")
		.with_publish(["a", "b/c"])
		.with_subscribe(["x"]);
	up_cases.case(
		"upstream-multi-prefix-no-exp".into(),
		"hs256",
		up_hs.sign(&multi).unwrap(),
		expect(
			&Claims::new(p("demo"))
				.with_publish(p("a"))
				.with_publish(p("b/c"))
				.with_subscribe(p("x")),
		),
		"moq-token 0.7 (crates.io)",
	);
	let other_up = upstream::Key::from_str(&others[&Algorithm::HS256].to_json()).unwrap();
	up_cases.case(
		"upstream-wrong-key".into(),
		"hs256",
		other_up.sign(&up_claims()).unwrap(),
		error("bad_signature"),
		"moq-token 0.7 (crates.io)",
	);

	// --- Invalid keys.
	let invalid_keys = json!([
		{"name": "hmac-secret-too-short", "jwk": {"alg": "HS256", "kty": "oct", "k": b64([7u8; 16])}, "error": "key_error"},
		{"name": "hmac-secret-31-bytes", "jwk": {"alg": "HS512", "kty": "oct", "k": b64([7u8; 31])}, "error": "key_error"},
		{"name": "missing-alg", "jwk": {"kty": "oct", "k": b64([7u8; 32])}, "error": "key_error"},
		{"name": "alg-lowercase", "jwk": {"alg": "hs256", "kty": "oct", "k": b64([7u8; 32])}, "error": "unsupported_algorithm"},
		{"name": "alg-none", "jwk": {"alg": "none", "kty": "oct", "k": b64([7u8; 32])}, "error": "unsupported_algorithm"},
		{"name": "kty-does-not-match-alg", "jwk": {"alg": "RS256", "kty": "oct", "k": b64([7u8; 32])}, "error": "key_error"},
		{"name": "wrong-curve", "jwk": {"alg": "ES256", "kty": "EC", "crv": "P-384", "x": b64([1u8; 48]), "y": b64([1u8; 48])}, "error": "key_error"},
		{"name": "ec-coordinate-length", "jwk": {"alg": "ES256", "kty": "EC", "crv": "P-256", "x": b64([1u8; 31]), "y": b64([1u8; 32])}, "error": "key_error"},
		{"name": "okp-x-length", "jwk": {"alg": "EdDSA", "kty": "OKP", "crv": "Ed25519", "x": b64([1u8; 31])}, "error": "key_error"},
		{"name": "unknown-key-op", "jwk": {"alg": "HS256", "kty": "oct", "k": b64([7u8; 32]), "key_ops": ["sign", "encrypt"]}, "error": "key_error"},
		{"name": "empty-key-ops", "jwk": {"alg": "HS256", "kty": "oct", "k": b64([7u8; 32]), "key_ops": []}, "error": "key_error"},
		{"name": "kid-traversal", "jwk": {"alg": "HS256", "kty": "oct", "k": b64([7u8; 32]), "kid": "../x"}, "error": "key_error"},
		{"name": "kid-too-long", "jwk": {"alg": "HS256", "kty": "oct", "k": b64([7u8; 32]), "kid": "k".repeat(129)}, "error": "key_error"},
		{"name": "scope-useless", "jwk": {"alg": "HS256", "kty": "oct", "k": b64([7u8; 32]), "scope": {"root": "a"}}, "error": "key_error"},
		{"name": "not-an-object", "jwk": "bm90IGEga2V5", "error": "key_error"},
		{"name": "k-not-base64url", "jwk": {"alg": "HS256", "kty": "oct", "k": "***"}, "error": "key_error"},
	]);

	// --- Authorization cases: claims payload + connection path.
	let authorize = authorize_cases();

	let write = |file: &str, value: Value| {
		let path = out.join(file);
		std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
		println!("wrote {}", path.display());
	};
	write(
		"keys.json",
		json!({"keys": corpus.keys, "sets": sets, "invalid_keys": invalid_keys}),
	);
	write(
		"verify-moq-token-rs.json",
		json!({"producer": "moq-token-rs (this repo) and hand-built JWS", "cases": corpus.cases}),
	);
	write(
		"verify-upstream.json",
		json!({"producer": "moq-token 0.7 from crates.io", "cases": up_cases.cases}),
	);
	write("authorize.json", json!({"cases": authorize}));
}

fn authorize_cases() -> Value {
	let spec = r#"{"root":"room/123","pub":"alice","sub":""}"#;
	let seed3 = r#"{"root":"conference/room-1","pub":"alice","sub":"alice,bob"}"#;
	let allow = |op: &str, path: &str| json!({"op": op, "path": path, "allow": true});
	let deny = |op: &str, path: &str| json!({"op": op, "path": path, "allow": false});
	json!([
		{"name": "spec-table-root", "claims": spec, "connect": "/room/123",
		 "expect": {"publish": ["alice/**"], "subscribe": ["**"]},
		 "checks": [allow("publish", "alice"), allow("publish", "alice/camera"), deny("publish", "bob/camera"), deny("publish", "alicex"), allow("subscribe", "bob/screen"), allow("subscribe", "anything/at/all"), deny("subscribe", "../secret")]},
		{"name": "spec-table-alice", "claims": spec, "connect": "/room/123/alice",
		 "expect": {"publish": ["**"], "subscribe": ["**"]},
		 "checks": [allow("publish", "camera"), allow("publish", ""), allow("subscribe", "x")]},
		{"name": "spec-table-bob", "claims": spec, "connect": "/room/123/bob",
		 "expect": {"publish": [], "subscribe": ["**"]},
		 "checks": [deny("publish", "camera"), deny("publish", ""), allow("subscribe", "screen")]},
		{"name": "spec-table-parent", "claims": spec, "connect": "/room", "expect": {"error": "root_mismatch"}},
		{"name": "spec-table-sibling-prefix", "claims": spec, "connect": "/room/1234", "expect": {"error": "root_mismatch"}},
		{"name": "spec-table-unrelated", "claims": spec, "connect": "/secret", "expect": {"error": "root_mismatch"}},
		{"name": "spec-table-top", "claims": spec, "connect": "/", "expect": {"error": "root_mismatch"}},
		{"name": "spec-table-escape", "claims": spec, "connect": "/room/123/..", "expect": {"error": "invalid_path"}},
		{"name": "connect-normalized", "claims": spec, "connect": "//room///123/", "expect": {"publish": ["alice/**"], "subscribe": ["**"]}, "checks": [allow("publish", "/alice//cam/")]},
		{"name": "seed3-restricted", "claims": seed3, "connect": "/conference/room-1",
		 "expect": {"publish": ["alice/**"], "subscribe": ["alice/**", "bob/**"]},
		 "checks": [allow("publish", "alice/camera"), allow("publish", "alice/audio"), allow("subscribe", "alice/camera"), allow("subscribe", "bob/screen-share"), deny("publish", "bob/camera"), deny("subscribe", "carol")]},
		{"name": "seed3-wrong-root", "claims": seed3, "connect": "/other-room", "expect": {"error": "root_mismatch"}},
		{"name": "seed3-full-access", "claims": r#"{"root":"conference/room-1","pub":"","sub":""}"#, "connect": "/conference/room-1",
		 "expect": {"publish": ["**"], "subscribe": ["**"]}, "checks": [allow("publish", "anything"), allow("subscribe", "anything")]},
		{"name": "read-only", "claims": r#"{"root":"live","sub":""}"#, "connect": "/live", "expect": {"publish": [], "subscribe": ["**"]}, "checks": [deny("publish", "x"), allow("subscribe", "x")]},
		{"name": "write-only", "claims": r#"{"root":"live","pub":""}"#, "connect": "/live", "expect": {"publish": ["**"], "subscribe": []}, "checks": [allow("publish", "x"), deny("subscribe", "x")]},
		{"name": "no-access-below-grants", "claims": r#"{"root":"room","pub":"alice"}"#, "connect": "/room/bob", "expect": {"error": "no_access"}},
		{"name": "no-access-sub-elsewhere", "claims": r#"{"root":"room","sub":"a,b"}"#, "connect": "/room/c", "expect": {"error": "no_access"}},
		{"name": "no-access-deeper", "claims": r#"{"root":"","sub":"x/y"}"#, "connect": "/x/z", "expect": {"error": "no_access"}},
		{"name": "deeper-connection-keeps-remainder", "claims": r#"{"root":"","pub":"a/b/c","sub":"a"}"#, "connect": "/a/b",
		 "expect": {"publish": ["c/**"], "subscribe": ["**"]}, "checks": [allow("publish", "c/d"), deny("publish", "d"), allow("subscribe", "d")]},
		{"name": "empty-root-anywhere", "claims": r#"{"sub":""}"#, "connect": "/any/where", "expect": {"publish": [], "subscribe": ["**"]}},
		{"name": "upstream-put-get", "claims": r#"{"root":"demo","put":["me"],"get":[""]}"#, "connect": "/demo",
		 "expect": {"publish": ["me/**"], "subscribe": ["**"]}, "checks": [allow("publish", "me/cam"), deny("publish", "you")]},
		{"name": "segment-boundary", "claims": r#"{"root":"live","pub":"news"}"#, "connect": "/live",
		 "expect": {"publish": ["news/**"], "subscribe": []}, "checks": [deny("publish", "newsroom"), allow("publish", "news/room")]},
		{"name": "root-segment-boundary", "claims": r#"{"root":"live","sub":""}"#, "connect": "/lively", "expect": {"error": "root_mismatch"}},
	])
}
