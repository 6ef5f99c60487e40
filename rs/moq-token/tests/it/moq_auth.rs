//! Upstream's current token crate (`moq-auth`) and pattern crate (`moq-pattern`) against ours: the
//! shared pattern vectors, the pattern authorization cases, and tokens signed by each side and
//! verified by the other, for every algorithm both have.

use moq_token::{Algorithm, Claims, ClaimsFormat, ErrorCode, Key, Path, Pattern, Patterns, Validation};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn load(rel: &str) -> Value {
	let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/").to_string() + rel;
	serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn texts(patterns: &Patterns) -> Vec<String> {
	patterns.iter().map(|p| p.as_str().to_string()).collect()
}

fn theirs(patterns: &moq_pattern::Patterns) -> Vec<String> {
	patterns.iter().map(|p| p.as_str().to_string()).collect()
}

fn ours(s: &str) -> Pattern {
	s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn up(s: &str) -> moq_pattern::Pattern {
	s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// `vectors/pattern/pattern.json`: parse, matches, contains and rebase, each case answered the same
/// by the file, by moq-pattern and by moq-token.
#[test]
fn pattern_vectors_agree_with_moq_pattern() {
	let doc = load("pattern/pattern.json");
	let mut cases = 0;
	for case in doc["parse"].as_array().unwrap() {
		let (text, want) = (case[0].as_str().unwrap(), case[1].as_str().unwrap());
		let kind = |e: &moq_pattern::InvalidPattern| match e {
			moq_pattern::InvalidPattern::EmptySegment => "empty-segment",
			moq_pattern::InvalidPattern::InvalidSegment(_) => "invalid-segment",
			moq_pattern::InvalidPattern::MultipleGlobstars => "multiple-globstars",
			moq_pattern::InvalidPattern::TooManySegments => "too-many-segments",
			_ => "other",
		};
		let a = text
			.parse::<Pattern>()
			.map(|p| p.as_str().to_string())
			.unwrap_or_else(|e| e.kind().into());
		let b = text
			.parse::<moq_pattern::Pattern>()
			.map(|p| p.as_str().to_string())
			.unwrap_or_else(|e| kind(&e).into());
		assert_eq!((a.as_str(), b.as_str()), (want, want), "parse {text:?}");
		cases += 1;
	}
	for case in doc["matches"].as_array().unwrap() {
		let (p, path, want) = (
			case[0].as_str().unwrap(),
			case[1].as_str().unwrap(),
			case[2].as_bool().unwrap(),
		);
		assert_eq!(up(p).matches(path), want, "moq-pattern: {p} matches {path}");
		assert_eq!(
			ours(p).matches(&Path::new(path).unwrap()),
			want,
			"ours: {p} matches {path}"
		);
		cases += 1;
	}
	for case in doc["contains"].as_array().unwrap() {
		let (a, b, want) = (
			case[0].as_str().unwrap(),
			case[1].as_str().unwrap(),
			case[2].as_bool().unwrap(),
		);
		assert_eq!(up(a).contains(&up(b)), want, "moq-pattern: {a} contains {b}");
		assert_eq!(ours(a).contains(&ours(b)), want, "ours: {a} contains {b}");
		cases += 1;
	}
	for case in doc["rebase"].as_array().unwrap() {
		let (p, root) = (case[0].as_str().unwrap(), case[1].as_str().unwrap());
		let want: Vec<String> = serde_json::from_value(case[2].clone()).unwrap();
		assert_eq!(theirs(&up(p).rebase(root)), want, "moq-pattern: {p} at {root}");
		assert_eq!(
			texts(&ours(p).rebase(&Path::new(root).unwrap())),
			want,
			"ours: {p} at {root}"
		);
		cases += 1;
	}
	assert!(cases >= 80, "{cases} pattern cases");
}

/// Every case of `vectors/token/authorize-patterns.json` is what moq-auth's `Claims::authorize`
/// computes (the corpus test checks ours against the same file).
#[test]
fn authorize_patterns_agree_with_moq_auth() {
	for case in load("token/authorize-patterns.json")["cases"].as_array().unwrap() {
		let name = case["name"].as_str().unwrap();
		let claims: moq_auth::Claims = serde_json::from_str(case["claims"].as_str().unwrap()).unwrap();
		let result = claims.authorize(case["connect"].as_str().unwrap());
		match case["expect"].get("error").and_then(Value::as_str) {
			Some("root_mismatch") => assert!(matches!(result, Err(moq_auth::Error::RootMismatch(_))), "{name}"),
			Some("no_access") => assert!(matches!(result, Err(moq_auth::Error::NoAccess(_))), "{name}"),
			Some(other) => panic!("{name}: unexpected code {other}"),
			None => {
				let p = result.unwrap_or_else(|e| panic!("{name}: {e}"));
				assert_eq!(Value::from(theirs(&p.publish)), case["expect"]["publish"], "{name}");
				assert_eq!(Value::from(theirs(&p.subscribe)), case["expect"]["subscribe"], "{name}");
			}
		}
	}
}

const NOW_PLUS_HOUR: u64 = 3600;

fn at(secs: u64) -> SystemTime {
	UNIX_EPOCH + Duration::from_secs(secs)
}

/// The grants both sides sign: subtrees only (written as put/get) and patterns (publish/subscribe).
fn grants() -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
	vec![
		("subtree", vec!["alice/**"], vec!["**"]),
		("patterns", vec!["alice/**", "bob"], vec!["*/screen", "**/chat"]),
	]
}

/// Paths the verdicts are compared on, relative to the connection path.
const PATHS: [&str; 9] = [
	"",
	"alice",
	"alice/cam",
	"bob",
	"bob/cam",
	"bob/screen",
	"x/y/chat",
	"chat",
	"alicex",
];

/// Tokens both ways, for every algorithm moq-auth has: moq-auth signs and we verify (and admit with
/// exactly the access its `authorize` computes, path by path), we sign in the auto format and
/// moq-auth verifies with the same claims; `nbf` in the future and `exp` in the past are refused by
/// both.
#[test]
fn tokens_both_ways_for_every_algorithm() {
	let now = moq_token::unix_now();
	let algorithms = [
		(Algorithm::HS256, moq_auth::Algorithm::HS256),
		(Algorithm::HS384, moq_auth::Algorithm::HS384),
		(Algorithm::HS512, moq_auth::Algorithm::HS512),
		(Algorithm::RS256, moq_auth::Algorithm::RS256),
		(Algorithm::RS384, moq_auth::Algorithm::RS384),
		(Algorithm::RS512, moq_auth::Algorithm::RS512),
		(Algorithm::PS256, moq_auth::Algorithm::PS256),
		(Algorithm::PS384, moq_auth::Algorithm::PS384),
		(Algorithm::PS512, moq_auth::Algorithm::PS512),
		(Algorithm::ES256, moq_auth::Algorithm::ES256),
		(Algorithm::ES384, moq_auth::Algorithm::ES384),
		(Algorithm::EdDSA, moq_auth::Algorithm::EdDSA),
	];
	for (alg, up_alg) in algorithms {
		let key = Key::generate(alg, None).unwrap();
		let up_key =
			moq_auth::Key::from_str(&key.to_json()).unwrap_or_else(|e| panic!("{alg}: moq-auth loads our key: {e}"));
		assert!(moq_auth::Key::generate(up_alg, None).is_ok());
		for (kind, publish, subscribe) in grants() {
			// moq-auth signs; we verify and authorize as it does.
			let up_claims = moq_auth::Claims::default()
				.with_root("room")
				.with_publish(publish.iter().map(|p| up(p)))
				.with_subscribe(subscribe.iter().map(|p| up(p)))
				.with_expires(at(now + NOW_PLUS_HOUR));
			let token = up_key.sign(&up_claims).unwrap();
			let verified = key.verify(&token).unwrap_or_else(|e| panic!("{alg} {kind}: {e}"));
			for connect in ["room", "room/bob", "room/alice"] {
				let want = up_claims.authorize(connect);
				let got = verified.authorize(&Path::new(connect).unwrap());
				match (want, got) {
					(Ok(want), Ok(got)) => {
						assert_eq!(texts(&got.publish), theirs(&want.publish), "{alg} {kind} at {connect}");
						assert_eq!(
							texts(&got.subscribe),
							theirs(&want.subscribe),
							"{alg} {kind} at {connect}"
						);
						for path in PATHS {
							let p = Path::new(path).unwrap();
							assert_eq!(
								got.can_publish(&p),
								want.publish.matches(path),
								"{alg} {kind} {connect} publish {path}"
							);
							assert_eq!(
								got.can_subscribe(&p),
								want.subscribe.matches(path),
								"{alg} {kind} {connect} subscribe {path}"
							);
						}
					}
					(Err(_), Err(e)) => assert_eq!(e.code(), ErrorCode::NoAccess, "{alg} {kind} at {connect}"),
					(want, got) => panic!("{alg} {kind} at {connect}: moq-auth {want:?}, ours {got:?}"),
				}
			}

			// We sign (auto format); moq-auth verifies the same grant.
			let mut claims = Claims::new(Path::new("room").unwrap()).with_expires(now + NOW_PLUS_HOUR);
			for p in &publish {
				claims = claims.with_publish_pattern(ours(p));
			}
			for p in &subscribe {
				claims = claims.with_subscribe_pattern(ours(p));
			}
			let token = key.sign_with(&claims, ClaimsFormat::Auto).unwrap();
			let back = up_key
				.verify(&token)
				.unwrap_or_else(|e| panic!("{alg} {kind}: moq-auth refused ours: {e}"));
			assert_eq!(theirs(&back.publish), texts(&claims.publish), "{alg} {kind}");
			assert_eq!(theirs(&back.subscribe), texts(&claims.subscribe), "{alg} {kind}");

			// Not yet valid and expired: refused by both, whoever signed.
			let early = claims.clone().with_not_before(now + NOW_PLUS_HOUR);
			let token = key.sign_with(&early, ClaimsFormat::Auto).unwrap();
			assert!(
				up_key.verify(&token).is_err(),
				"{alg} {kind}: moq-auth admits nbf in the future"
			);
			assert_eq!(key.verify(&token).unwrap_err().code(), ErrorCode::NotYetValid);
			let mut up_early = up_claims.clone();
			up_early.not_before = Some(at(now + NOW_PLUS_HOUR));
			let token = up_key.sign(&up_early).unwrap();
			assert_eq!(
				key.verify(&token).unwrap_err().code(),
				ErrorCode::NotYetValid,
				"{alg} {kind}"
			);

			let stale = claims.clone().with_expires(now - 10);
			let token = key.sign_with(&stale, ClaimsFormat::Auto).unwrap();
			assert!(
				up_key.verify(&token).is_err(),
				"{alg} {kind}: moq-auth admits an expired token"
			);
			assert_eq!(key.verify(&token).unwrap_err().code(), ErrorCode::Expired);
			let token = up_key.sign(&up_claims.clone().with_expires(at(now - 10))).unwrap();
			assert_eq!(
				key.verify_with(&token, &Validation::default()).unwrap_err().code(),
				ErrorCode::Expired
			);
		}
	}
}

/// Claims beyond upstream's: `cluster` is refused by moq-auth (it refuses unknown claims), and so
/// is this project's `pub`/`sub` format; `put`/`get` without them is read the same by both.
#[test]
fn what_upstream_does_with_our_additions() {
	let key = Key::generate(Algorithm::HS256, None).unwrap();
	let up_key = moq_auth::Key::from_str(&key.to_json()).unwrap();
	let base = Claims::new(Path::root()).with_subscribe(Path::root());
	assert!(
		up_key
			.verify(&key.sign_with(&base, ClaimsFormat::Auto).unwrap())
			.is_ok()
	);
	assert!(
		up_key
			.verify(
				&key.sign_with(&base.clone().with_cluster(true), ClaimsFormat::Auto)
					.unwrap()
			)
			.is_err()
	);
	assert!(
		up_key
			.verify(&key.sign_with(&base, ClaimsFormat::PubSub).unwrap())
			.is_err()
	);
}
