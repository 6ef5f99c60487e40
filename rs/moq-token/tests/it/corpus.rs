//! Runs the shared vector corpus (`vectors/token/`), the same files the TypeScript tests read.

use moq_token::*;
use serde_json::Value;
use std::{collections::BTreeSet, path::PathBuf};

fn dir() -> PathBuf {
	PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/token"))
}

fn load(file: &str) -> Value {
	let text = std::fs::read_to_string(dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
	serde_json::from_str(&text).unwrap()
}

fn normalized(claims: &Claims) -> Value {
	let list = |v: &Patterns| v.iter().map(|p| p.as_str().to_string()).collect::<Vec<_>>();
	serde_json::json!({
		"root": claims.root.as_str(),
		"publish": list(&claims.publish),
		"subscribe": list(&claims.subscribe),
		"cluster": claims.cluster,
		"exp": claims.expires,
		"iat": claims.issued,
		"nbf": claims.not_before,
		"jti": claims.id,
	})
}

fn verify_files() -> Vec<String> {
	let mut files: Vec<String> = std::fs::read_dir(dir())
		.unwrap()
		.filter_map(|e| e.ok()?.file_name().into_string().ok())
		.filter(|n| n.starts_with("verify-") && n.ends_with(".json"))
		.collect();
	files.sort();
	files
}

/// Every verify case of every producer, with the code each one expects.
#[test]
fn verify_cases() {
	let keys = load("keys.json");
	let mut seen_codes = BTreeSet::new();
	let mut producers = BTreeSet::new();
	let (mut total, mut negative) = (0, 0);
	for file in verify_files() {
		let doc = load(&file);
		for case in doc["cases"].as_array().unwrap() {
			let name = case["name"].as_str().unwrap();
			let token = case["token"].as_str().unwrap();
			let validation = Validation::at(case["now"].as_u64().unwrap());
			let result = if let Some(set) = case["set"].as_str() {
				let set = KeySet::parse(&keys["sets"][set].to_string()).unwrap();
				set.verify_with(token, &validation)
			} else {
				let key = Key::from_value(&keys["keys"][case["key"].as_str().unwrap()]).unwrap();
				key.verify_with(token, &validation)
			};
			let expect = &case["expect"];
			match (expect.get("error"), result) {
				(Some(code), Err(err)) => {
					assert_eq!(err.code().as_str(), code.as_str().unwrap(), "{file}: {name}: {err}");
					seen_codes.insert(err.code());
					negative += 1;
				}
				(Some(code), Ok(claims)) => panic!("{file}: {name}: expected {code}, verified {claims:?}"),
				(None, Ok(claims)) => assert_eq!(normalized(&claims), expect["claims"], "{file}: {name}"),
				(None, Err(err)) => panic!("{file}: {name}: expected success, got {} ({err})", err.code()),
			}
			producers.insert(case["producer"].as_str().unwrap().to_string());
			total += 1;
		}
	}

	for case in keys["invalid_keys"].as_array().unwrap() {
		let name = case["name"].as_str().unwrap();
		let err = match &case["jwk"] {
			Value::String(text) => Key::parse(text).unwrap_err(),
			jwk => Key::from_value(jwk).unwrap_err(),
		};
		assert_eq!(
			err.code().as_str(),
			case["error"].as_str().unwrap(),
			"invalid key {name}: {err}"
		);
		seen_codes.insert(err.code());
		total += 1;
		negative += 1;
	}

	let (auth_total, auth_negative, auth_codes) = authorize_cases();
	total += auth_total;
	negative += auth_negative;
	seen_codes.extend(auth_codes);

	assert!(total >= 150, "the corpus has {total} cases; it needs at least 150");
	assert!(
		negative * 2 >= total,
		"{negative} of {total} cases are negative; at least half must be"
	);
	let missing: Vec<_> = ErrorCode::ALL.iter().filter(|c| !seen_codes.contains(c)).collect();
	assert!(missing.is_empty(), "no corpus case produces {missing:?}");
	for producer in ["moq-token-rs", "moq-token 0.7 (crates.io)", "PyJWT"] {
		assert!(
			producers.iter().any(|p| p.starts_with(producer)),
			"no tokens from {producer}: {producers:?}"
		);
	}
}

/// Authorization of a connection path: verdict, re-based prefixes and per-path checks.
fn authorize_cases() -> (usize, usize, BTreeSet<ErrorCode>) {
	let cases: Vec<Value> = ["authorize.json", "authorize-patterns.json"]
		.iter()
		.flat_map(|file| load(file)["cases"].as_array().unwrap().clone())
		.collect();
	let (mut total, mut negative, mut codes) = (0, 0, BTreeSet::new());
	for case in &cases {
		let name = case["name"].as_str().unwrap();
		let claims = Claims::from_json(case["claims"].as_str().unwrap().as_bytes()).unwrap();
		let result = Path::new(case["connect"].as_str().unwrap()).and_then(|connect| claims.authorize(&connect));
		let expect = &case["expect"];
		total += 1;
		if let Some(code) = expect.get("error") {
			let err = result.expect_err(name);
			assert_eq!(err.code().as_str(), code.as_str().unwrap(), "{name}");
			codes.insert(err.code());
			negative += 1;
			continue;
		}
		let permissions = result.unwrap_or_else(|e| panic!("{name}: {e}"));
		let list = |v: &Patterns| v.iter().map(|p| p.as_str().to_string()).collect::<Vec<_>>();
		assert_eq!(
			serde_json::json!(list(&permissions.publish)),
			expect["publish"],
			"{name}"
		);
		assert_eq!(
			serde_json::json!(list(&permissions.subscribe)),
			expect["subscribe"],
			"{name}"
		);
		for check in case["checks"].as_array().into_iter().flatten() {
			let path = check["path"].as_str().unwrap();
			let allowed = match Path::new(path) {
				Err(_) => false, // `../secret` is never a path, so never allowed
				Ok(path) if check["op"] == "publish" => permissions.can_publish(&path),
				Ok(path) => permissions.can_subscribe(&path),
			};
			assert_eq!(
				allowed,
				check["allow"].as_bool().unwrap(),
				"{name}: {} {path}",
				check["op"]
			);
		}
	}
	(total, negative, codes)
}
