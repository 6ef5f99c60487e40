//! The checks behind every fuzz target, one function per target.
//!
//! The fuzz targets (`fuzz/fuzz_targets/`) call these, and the corpus replay test
//! (`tests/it/fuzz_corpus.rs`) runs them over the committed corpus on stable Rust.
//!
//! Each function takes arbitrary bytes and panics if the token code breaks a promise:
//!
//! - parsing and verifying never panic, whatever the input;
//! - every refusal is an [`Error`] whose [`ErrorCode`] reads back from its string, and whose
//!   message holds no control character (a hostile token cannot forge log lines);
//! - verifying is deterministic: a token gets the same verdict twice, from a [`Key`] (which skips
//!   decoding a header identical to its own) and from a [`KeySet`] (which always decodes it);
//! - a token that verifies is refused once its signature is altered, once it has expired and
//!   before its `nbf`;
//! - claims that parse write back (`put`/`get` arrays exactly, `pub`/`sub` strings up to the
//!   top path absorbing its siblings) and parse equal, and a payload signed as is verifies to
//!   exactly what parsing it and checking time, usefulness and scope gives;
//! - paths normalize idempotently, and authorizing a connection neither widens nor narrows what
//!   the claims grant.
//!
//! The keys are fixed: the `hs256`, `es256-public`, `eddsa`, `rs256-public` and `hs256-scoped`
//! keys of `vectors/token/keys.json` when this corpus was seeded, so that the corpus tokens signed
//! with them verify and the fuzzer starts from tokens that pass every check. They are test keys,
//! published with the vectors, never used for anything else.

use std::sync::OnceLock;

use crate::{
	Algorithm, Claims, ClaimsFormat, Error, ErrorCode, Key, KeySet, MAX_TOKEN_LEN, Path, Validation, base64url,
	jws::Jws, token_kid,
};

/// One fuzz target: its name (the `fuzz_targets/<name>.rs` file and the `corpus/<name>/`
/// directory) and its check.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order of `cargo fuzz list`.
pub const TARGETS: &[Target] = &[
	("claims", claims),
	("jwt_decode", jwt_decode),
	("jwt_verify", jwt_verify),
	("path", path),
];

/// The time every check verifies at (unix seconds): the `now` of the vector corpus.
pub const NOW: u64 = 1_800_000_000;

const HS256: &str = r#"{"alg":"HS256","k":"PyCaXCs38txOdQYrZEFmC_COvvBiHfuAPrk_rIhUK44","key_ops":["sign","verify"],"kid":"hs256-main","kty":"oct"}"#;
const HS256_SCOPED: &str = r#"{"alg":"HS256","k":"PyCaXCs38txOdQYrZEFmC_COvvBiHfuAPrk_rIhUK44","key_ops":["sign","verify"],"kid":"hs256-main","kty":"oct","scope":{"get":[""],"put":["room"],"root":"demo"}}"#;
const ES256: &str = r#"{"alg":"ES256","crv":"P-256","key_ops":["verify"],"kid":"es256-main","kty":"EC","x":"QeDKOv7pxLa28AsEtCifr35JviP9FqU3OXsoeABAOrc","y":"UjsR-BrvWj1zw6Kasc90Wjv3za1Zg6_1rxkp-nLvoN4"}"#;
const EDDSA: &str = r#"{"alg":"EdDSA","crv":"Ed25519","d":"C59cPCoh6C1-d1WkpqXP7IWcMYjM3dUyU6ZKoBUJD6g","key_ops":["sign","verify"],"kid":"eddsa-main","kty":"OKP","x":"jgOdir3OMeprxMVvsKzg3zcVE44sWTOb5x3vRsbwp64"}"#;
const RS256: &str = r#"{"alg":"RS256","e":"AQAB","key_ops":["verify"],"kid":"rs256-main","kty":"RSA","n":"mX6cihyTpuoxD_746t-mM1q-z6mBlM7VZyKoAbjsPfcdV_OvVboxn4buWeu-r9QM4jKAWBNm4cRjsmloNteX90_OpYqn5sPcPoGsG8hsWvu9x3TwSABVIrrEBfWCS103DP8Xeu774ba0yZl8Obobl42dsik6BlM4TGaC073Ud3RL1DG1I5pvxH_nb5vbiQgaNDIHAOo5nW2-Eq53nT6fXwnA72zsCSjP5dgLrSILqjZNvHO1dVk5W7D6dZjSmnD1mWMpoGfhXC7R8EeMBwpvPkfLqzxNktfSfQKwLtTi12xmRV7JgIP_p5uHMxvMwJlCdLwU5X4VEGUtqKDJQsTMRQ"}"#;

/// The fixed keys, parsed once.
struct Keys {
	/// HS256, ES256, EdDSA and RS256, each with its own kid.
	plain: Vec<Key>,
	/// The HS256 key again, with a scope (same kid and secret).
	scoped: Key,
	/// The four plain keys as one set.
	set: KeySet,
}

fn keys() -> &'static Keys {
	static KEYS: OnceLock<Keys> = OnceLock::new();
	KEYS.get_or_init(|| {
		let plain: Vec<Key> = [HS256, ES256, EDDSA, RS256]
			.into_iter()
			.map(|jwk| Key::parse(jwk).expect("a fixed fuzz key"))
			.collect();
		Keys {
			scoped: Key::parse(HS256_SCOPED).expect("a fixed fuzz key"),
			set: KeySet::new(plain.clone()).expect("distinct kids"),
			plain,
		}
	})
}

/// Whether one of the fixed keys verifies `token` at [`NOW`] (the replay test asks this of the
/// corpus, so that `jwt_verify` is known to start from tokens that pass).
pub fn verifies(token: &str) -> bool {
	keys()
		.plain
		.iter()
		.any(|key| key.verify_with(token, &Validation::at(NOW)).is_ok())
}

/// The bytes as text: tokens, payload strings and paths are text, and a lossy decoding keeps
/// invalid UTF-8 inputs useful to the fuzzer.
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
	String::from_utf8_lossy(data)
}

/// An error must have a stable code, and a message that cannot forge a log line.
fn check_error(err: &Error, context: &str) {
	let code = err.code();
	assert_eq!(ErrorCode::parse(code.as_str()), Some(code), "{context}: code {code}");
	let message = err.to_string();
	assert!(
		!message.chars().any(char::is_control),
		"{context}: the message of {code} holds a control character: {message:?}"
	);
}

/// Checks a result's error, if any, and passes it on.
fn checked<T>(result: Result<T, Error>, context: &str) -> Result<T, Error> {
	if let Err(err) = &result {
		check_error(err, context);
	}
	result
}

/// A compact JWS: split, header decoded, kid peeked, payload decoded as claims.
pub fn jwt_decode(data: &[u8]) {
	let token = text(data);
	let token = token.as_ref();
	let parsed = checked(Jws::parse(token, None), "Jws::parse");
	let kid = checked(token_kid(token), "token_kid");
	let jws = match parsed {
		Ok(jws) => jws,
		Err(err) => {
			// Peeking at the kid parses the same way, so it fails the same way.
			assert_eq!(kid.err(), Some(err), "token_kid and Jws::parse disagree");
			return;
		}
	};
	assert!(token.len() <= MAX_TOKEN_LEN, "a {}-byte token was parsed", token.len());
	// The parts are the token's own bytes, in order.
	assert_eq!(format!("{}.{}", jws.signing_input, jws.signature), token);
	assert!(jws.signing_input.ends_with(jws.payload));
	assert!(!jws.payload.contains('.') && !jws.signature.contains('.'));
	assert_eq!(jws.signing_input.matches('.').count(), 1);
	assert!(Algorithm::ALL.contains(&jws.alg));
	match (&jws.kid, kid) {
		(None, Ok(None)) => {}
		(Some(raw), Ok(Some(id))) => assert_eq!(raw, id.as_str()),
		(Some(raw), Err(err)) => {
			assert_eq!(err.code(), ErrorCode::UnknownKid);
			assert!(!crate::KeyId::is_valid(raw), "valid kid {raw:?} refused");
		}
		(raw, other) => panic!("the header's kid is {raw:?} but token_kid gives {other:?}"),
	}
	if let Some(payload) = base64url::decode_strict(jws.payload)
		&& let Ok(claims) = checked(Claims::from_json(&payload), "Claims::from_json")
	{
		claims_round_trip(&claims);
	}
}

/// A compact JWS verified by each fixed key, by the scoped key and by the key set.
pub fn jwt_verify(data: &[u8]) {
	let token = text(data);
	let token = token.as_ref();
	let keys = keys();
	let at = Validation::at(NOW);
	let kid = token_kid(token);
	let via_set = checked(keys.set.verify_with(token, &at), "KeySet::verify_with");
	assert_eq!(via_set, keys.set.verify_with(token, &at), "the set's verdict changed");
	let mut verified_by = None;
	for key in &keys.plain {
		let result = checked(key.verify_with(token, &at), "Key::verify_with");
		assert_eq!(
			result,
			key.verify_with(token, &at),
			"{:?}: the verdict changed",
			key.kid()
		);
		if let Ok(claims) = &result {
			assert!(verified_by.is_none(), "two different keys verify one token");
			verified_by = Some(key.clone());
			verified(key, token, claims);
		}
		// The set picks the key by kid: it must then agree with that key, which does not decode a
		// header identical to its own.
		if let Ok(Some(id)) = &kid
			&& key.kid() == Some(id)
		{
			assert_eq!(via_set, result, "the set and {id} disagree");
		}
	}
	match &kid {
		Ok(Some(id)) if keys.set.find(id.as_str()).is_none() => {
			assert_eq!(via_set.as_ref().map_err(Error::code), Err(ErrorCode::UnknownKid));
		}
		Ok(None) => assert_eq!(via_set, Err(Error::MissingKid), "a set of four keys needs a kid"),
		Err(err) => assert_eq!(via_set.as_ref().err(), Some(err), "the set parses like token_kid"),
		Ok(Some(_)) => {}
	}
	if via_set.is_ok() {
		assert!(verified_by.is_some(), "the set verified a token no key of it verifies");
	}

	// The scoped key is the HS256 key with a ceiling: it accepts a subset of what the plain one
	// accepts, and refuses the rest as out of scope.
	let plain = keys.plain[0].verify_with(token, &at);
	match (
		checked(keys.scoped.verify_with(token, &at), "scoped verify_with"),
		plain,
	) {
		(Ok(scoped), Ok(plain)) => assert_eq!(scoped, plain),
		(Err(err), Ok(_)) => assert_eq!(err.code(), ErrorCode::ScopeExceeded, "{err}"),
		(Ok(_), Err(err)) => panic!("the scoped key accepts what the plain one refuses: {err}"),
		(Err(scoped), Err(plain)) => assert_eq!(scoped, plain),
	}
}

/// A token `key` verified as `claims` at [`NOW`].
fn verified(key: &Key, token: &str, claims: &Claims) {
	claims.validate().expect("verified claims are useful");
	claims_round_trip(claims);
	if let Some(exp) = claims.expires {
		assert!(exp > NOW);
		let late = key.verify_with(token, &Validation::at(exp));
		assert_eq!(late.map_err(|e| e.code()), Err(ErrorCode::Expired), "at exp");
	}
	if let Some(nbf) = claims.not_before {
		assert!(nbf <= NOW);
		if let Some(early) = nbf.checked_sub(1) {
			let result = key.verify_with(token, &Validation::at(early));
			assert_eq!(result.map_err(|e| e.code()), Err(ErrorCode::NotYetValid), "before nbf");
		}
	}
	// Any change to the signature is refused.
	let (signing_input, signature) = token.rsplit_once('.').expect("a verified token has three parts");
	let mut bytes = base64url::decode_strict(signature).expect("a verified signature decodes");
	for bit in [0, bytes.len() * 8 / 2, bytes.len() * 8 - 1] {
		bytes[bit / 8] ^= 1 << (bit % 8);
		let forged = format!("{signing_input}.{}", base64url::encode(&bytes));
		let result = key.verify_with(&forged, &Validation::at(NOW));
		assert_eq!(result, Err(Error::BadSignature), "bit {bit} of the signature flipped");
		bytes[bit / 8] ^= 1 << (bit % 8);
	}
	let mut longer = bytes.clone();
	longer.push(0);
	let forged = format!("{signing_input}.{}", base64url::encode(&longer));
	assert_eq!(key.verify_with(&forged, &Validation::at(NOW)), Err(Error::BadSignature));
}

/// What verifying a token with `payload` gives, computed without a token: the claims, then
/// time, usefulness and scope, in the order `Key::verify_with` checks them.
fn expected_verdict(payload: &[u8], scope: Option<&crate::Scope>) -> Result<Claims, ErrorCode> {
	let claims = Claims::from_json(payload).map_err(|e| e.code())?;
	if claims.expires.is_some_and(|exp| exp <= NOW) {
		return Err(ErrorCode::Expired);
	}
	if claims.not_before.is_some_and(|nbf| nbf > NOW) {
		return Err(ErrorCode::NotYetValid);
	}
	claims.validate().map_err(|e| e.code())?;
	if let Some(scope) = scope {
		scope.check(&claims).map_err(|e| e.code())?;
	}
	Ok(claims)
}

/// A token payload: parsed as claims, written back, and signed as is and verified.
pub fn claims(data: &[u8]) {
	let keys = keys();
	let parsed = checked(Claims::from_json(data), "Claims::from_json");
	if let Ok(claims) = &parsed {
		claims_round_trip(claims);
		let _ = claims.authorize(&Path::root());
		let _ = claims.authorize(&claims.root);
	}
	// Signed as is, by an HMAC and an EdDSA key (both deterministic), the payload verifies to
	// what parsing it gives; the scoped key adds its ceiling.
	let (hs256, eddsa) = (&keys.plain[0], &keys.plain[2]);
	for (key, scope) in [(hs256, None), (eddsa, None), (&keys.scoped, keys.scoped.scope())] {
		let token = key.sign_payload(data).expect("a signing key signs any payload");
		let result = checked(key.verify_with(&token, &Validation::at(NOW)), "verify_with");
		if token.len() > MAX_TOKEN_LEN {
			assert_eq!(result.map_err(|e| e.code()), Err(ErrorCode::TooLarge));
			continue;
		}
		assert_eq!(
			result.map_err(|e| e.code()),
			expected_verdict(data, scope),
			"{:?}",
			key.kid()
		);
	}
}

/// Written in the auto format (upstream's rule), claims read back exactly; written as `put`/`get`
/// arrays or `pub`/`sub` strings too when those formats can carry them, and signing refuses them
/// in a format that cannot.
fn claims_round_trip(claims: &Claims) {
	for format in [ClaimsFormat::Auto, ClaimsFormat::PutGet, ClaimsFormat::PubSub] {
		if format == ClaimsFormat::Auto || claims.check_format(format).is_ok() {
			let json = claims.to_json(format);
			let back = Claims::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"));
			assert_eq!(&back, claims, "{format:?}: {json}");
		}
	}

	// The same claims signed by a key verify to what was read back, or signing refuses them.
	let key = &keys().plain[0];
	for format in [ClaimsFormat::Auto, ClaimsFormat::PutGet, ClaimsFormat::PubSub] {
		match key.sign_with(claims, format) {
			Ok(token) => {
				assert!(claims.check_format(format).is_ok());
				let result = key.verify_with(&token, &Validation::at(NOW)).map_err(|e| e.code());
				let expect = if token.len() > MAX_TOKEN_LEN {
					// Signing does not limit the size; verifying refuses it before decoding.
					Err(ErrorCode::TooLarge)
				} else {
					expected_verdict(claims.to_json(ClaimsFormat::Auto).as_bytes(), None)
				};
				assert_eq!(result, expect, "{format:?}");
				if let Ok(verified) = result {
					assert_eq!(&verified, claims, "{format:?}");
				}
			}
			Err(err) => {
				check_error(&err, "sign_with");
				let why = claims.validate().and_then(|()| claims.check_format(format));
				assert_eq!(why, Err(err), "signing refused claims it can write");
			}
		}
	}
}

/// Paths and authorization: lines of text are a root, a connection path, then publish and
/// subscribe prefixes in turn (a line that is not a path, such as `..`, grants nothing).
pub fn path(data: &[u8]) {
	let input = text(data);
	let lines: Vec<&str> = input.split('\n').collect();
	for line in &lines {
		one_path(line);
	}
	let paths: Vec<Option<Path>> = lines.iter().map(|l| Path::new(l).ok()).collect();
	let [Some(root), Some(connect), prefixes @ ..] = paths.as_slice() else {
		return;
	};
	let mut claims = Claims::new(root.clone());
	for (i, prefix) in prefixes.iter().enumerate() {
		// A line that is not a path grants nothing, and keeps the next line's role.
		let Some(prefix) = prefix.clone() else { continue };
		// A prefix with a `*` in a segment is no pattern: it grants nothing here.
		let Ok(pattern) = crate::Pattern::subtree(&prefix) else {
			continue;
		};
		if i % 2 == 0 {
			claims.publish.insert(pattern);
		} else {
			claims.subscribe.insert(pattern);
		}
	}
	authorize(&claims, connect);
}

/// One path: normalization is idempotent, and joining and stripping prefixes agree.
fn one_path(raw: &str) {
	let dot = raw.split('/').any(|s| s == "." || s == "..");
	let path = match checked(Path::new(raw), "Path::new") {
		Ok(path) => path,
		Err(err) => {
			assert!(dot, "{raw:?} refused: {err}");
			assert_eq!(err.code(), ErrorCode::InvalidPath);
			return;
		}
	};
	assert!(!dot, "{raw:?} has a dot segment but became {path:?}");
	let s = path.as_str();
	assert!(
		!s.starts_with('/') && !s.ends_with('/') && !s.contains("//"),
		"{path:?}"
	);
	assert_eq!(Path::new(s).as_ref(), Ok(&path), "normalizing twice");
	assert_eq!(path.segments().collect::<Vec<_>>().join("/"), s);
	assert_eq!(path.to_string(), s);
	assert_eq!(path.is_root(), s.is_empty());
	assert!(path.has_prefix(&path) && path.has_prefix(&Path::root()));
	assert_eq!(path.strip_prefix(&path), Some(Path::root()));
	let segments: Vec<&str> = path.segments().collect();
	for cut in 0..=segments.len() {
		let head = Path::new(&segments[..cut].join("/")).expect("segments of a path");
		let tail = Path::new(&segments[cut..].join("/")).expect("segments of a path");
		assert_eq!(head.join(&tail), path);
		assert_eq!(path.strip_prefix(&head), Some(tail));
		assert!(path.has_prefix(&head));
	}
	// A prefix by bytes that ends inside a segment is not a prefix.
	if let Some(last) = segments.last()
		&& last.len() > 1
		&& let Some(cut) = (1..last.len()).find(|&i| last.is_char_boundary(i))
		&& let Ok(partial) = Path::new(&s[..s.len() - last.len() + cut])
	{
		assert!(
			!path.has_prefix(&partial),
			"{path:?} has the partial prefix {partial:?}"
		);
	}
}

/// Authorizing at `connect` grants exactly what the claims grant below it: a path `x` relative
/// to the connection may be published iff `connect/x`, relative to the root, matches a publish
/// pattern.
fn authorize(claims: &Claims, connect: &Path) {
	let permissions = match checked(claims.authorize(connect), "authorize") {
		Ok(permissions) => permissions,
		Err(err) => {
			match err.code() {
				ErrorCode::RootMismatch => assert!(!connect.has_prefix(&claims.root)),
				ErrorCode::NoAccess => {
					let below = connect.strip_prefix(&claims.root).expect("not a root mismatch");
					assert!(claims.publish.rebase(&below).is_empty() && claims.subscribe.rebase(&below).is_empty());
				}
				code => panic!("authorize refused with {code}"),
			}
			return;
		}
	};
	let below = connect.strip_prefix(&claims.root).expect("authorized below the root");
	// Paths to ask about, relative to the connection: the top, a child, and each subtree's prefix
	// re-based, with its parent and a child.
	let z = Path::new("z").expect("a path");
	let mut candidates = vec![Path::root(), z.clone()];
	for pattern in claims.publish.iter().chain(&claims.subscribe) {
		let Some(prefix) = pattern.as_prefix() else { continue };
		candidates.push(prefix.clone());
		if let Some(rest) = claims.root.join(&prefix).strip_prefix(connect) {
			let segments: Vec<&str> = rest.segments().collect();
			if let Some((_, parent)) = segments.split_last() {
				candidates.push(Path::new(&parent.join("/")).expect("a path"));
			}
			candidates.push(rest.join(&z));
			candidates.push(rest);
		}
	}
	for x in &candidates {
		let relative = below.join(x);
		assert_eq!(
			permissions.can_publish(x),
			claims.publish.matches(&relative),
			"publish {x:?} at {connect:?}"
		);
		assert_eq!(
			permissions.can_subscribe(x),
			claims.subscribe.matches(&relative),
			"subscribe {x:?} at {connect:?}"
		);
	}
}
