//! The checks behind every fuzz target, one function per target.
//!
//! The fuzz targets (`fuzz/fuzz_targets/`) call these, and the corpus replay test
//! (`tests/it/fuzz_corpus.rs`) runs them over the committed corpus on stable Rust.
//!
//! Each function takes arbitrary bytes and panics if a parser breaks a promise:
//!
//! - parsing never panics, whatever the input;
//! - every refusal is an [`Error`] with one of the crate's codes, and a message without control
//!   characters (the relay logs and returns them);
//! - what parses re-encodes to the same value: a [`TokenChallenge`] to its very bytes, a [`Token`]
//!   to the bytes or the wrapped form it came in, a `WWW-Authenticate` challenge through
//!   [`format_www_authenticate`], an `Authorization` credential through every spelling clients use;
//! - a token the verifier accepts answers one of its challenges under its key, is refused as
//!   replayed the second time, and is refused once its authenticator is altered.
//!
//! The verifier is fixed: the issuer key and the five static challenges of RFC 9578 Appendix A.2,
//! so the RFC's five tokens (in the seed corpus) pass every check.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use crate::challenge::digest_of;
use crate::token::{TOKEN_LEN, TOKEN_TYPE_BLIND_RSA, WRAPPED_TOKEN_LEN};
use crate::token_request::{TOKEN_REQUEST_LEN, TokenRequest, TokenResponse};
use crate::{
	Error, IssuerKey, PrivateTokenChallenge, Token, TokenChallenge, Verifier, format_www_authenticate,
	is_private_token_authorization, parse_authorization, parse_www_authenticate,
};

/// One fuzz target: its name (the `fuzz_targets/<name>.rs` file and the `corpus/<name>/`
/// directory) and its check.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order of `cargo fuzz list`.
pub const TARGETS: &[Target] = &[
	("authorization", authorization),
	("challenge", challenge),
	("token", token),
	("www_authenticate", www_authenticate),
];

/// Every code [`Error::code`] gives.
pub use crate::CODES;

/// RFC 9578 A.2 `pkS`: the issuer key of all five vectors (SPKI, id-RSASSA-PSS).
const ISSUER_KEY: &str = "30820152303d06092a864886f70d01010a3030a00d300b0609608648016503040202a11a301806092a864886f70d010108300b0609608648016503040202a2030201300382010f003082010a0282010100cb1aed6b6a95f5b1ce013a4cfcab25b94b2e64a23034e4250a7eab43c0df3a8c12993af12b111908d4b471bec31d4b6c9ad9cdda90612a2ee903523e6de5a224d6b02f09e5c374d0cfe01d8f529c500a78a2f67908fa682b5a2b430c81eaf1af72d7b5e794fc98a3139276879757ce453b526ef9bf6ceb99979b8423b90f4461a22af37aab0cf5733f7597abe44d31c732db68a181c6cbbe607d8c0e52e0655fd9996dc584eca0be87afbcd78a337d17b1dba9e828bbd81e291317144e7ff89f55619709b096cbb9ea474cead264c2073fe49740c01f00e109106066983d21e5f83f086e2e823c879cd43cef700d2a352a9babd612d03cad02db134b7e225a5f0203010001";

/// RFC 9578 A.2 `token_challenge` of vectors 1 to 5.
const CHALLENGES: [&str; 5] = [
	"0002000e6973737565722e6578616d706c65208e7acc900e393381e8810b7c9e4a68b5163f1f880ab6688a6ffe780923609e88000e6f726967696e2e6578616d706c65",
	"0002000e6973737565722e6578616d706c6500000e6f726967696e2e6578616d706c65",
	"0002000e6973737565722e6578616d706c65000017666f6f2e6578616d706c652c6261722e6578616d706c65",
	"0002000e6973737565722e6578616d706c65000000",
	"0002000e6973737565722e6578616d706c65208e7acc900e393381e8810b7c9e4a68b5163f1f880ab6688a6ffe780923609e880000",
];

/// The time every check verifies at.
fn now() -> SystemTime {
	SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn unhex(s: &str) -> Vec<u8> {
	(0..s.len())
		.step_by(2)
		.map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("a fixed hex string"))
		.collect()
}

struct Fixed {
	key: IssuerKey,
	challenges: Vec<TokenChallenge>,
}

fn fixed() -> &'static Fixed {
	static FIXED: OnceLock<Fixed> = OnceLock::new();
	FIXED.get_or_init(|| Fixed {
		key: IssuerKey::from_spki_der(&unhex(ISSUER_KEY)).expect("the RFC 9578 key"),
		challenges: CHALLENGES
			.iter()
			.map(|c| TokenChallenge::from_bytes(&unhex(c)).expect("an RFC 9578 challenge"))
			.collect(),
	})
}

/// A fresh verifier (its nonce store empty, so every input is judged alike) that accepts the
/// RFC 9578 key and challenges.
fn verifier() -> Verifier {
	let fixed = fixed();
	let mut verifier = Verifier::new("issuer.example", [fixed.key.clone()]).expect("a valid issuer name");
	for challenge in &fixed.challenges {
		verifier = verifier.with_static_challenge(challenge);
	}
	verifier
}

/// Whether a fresh fixed verifier accepts these token bytes (the replay test asks this of the
/// corpus, so that the verifier's side of the checks is known to see tokens that pass).
pub fn accepts(presented: &[u8]) -> bool {
	verifier().verify(presented, now()).is_ok()
}

/// The bytes as text: headers and base64 are text, and a lossy decoding keeps invalid UTF-8
/// inputs useful to the fuzzer.
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
	String::from_utf8_lossy(data)
}

/// An error must have one of the crate's codes, and a message that cannot forge a log line.
fn check_error(err: &Error, context: &str) {
	assert!(CODES.contains(&err.code()), "{context}: unknown code {}", err.code());
	let message = err.to_string();
	assert!(
		!message.chars().any(char::is_control),
		"{context}: the message of {} holds a control character: {message:?}",
		err.code()
	);
}

/// Checks a result's error, if any, and passes it on.
fn checked<T>(result: Result<T, Error>, context: &str) -> Result<T, Error> {
	if let Err(err) = &result {
		check_error(err, context);
	}
	result
}

/// `Authorization: PrivateToken token="..."`: the credential a client presents over HTTP.
pub fn authorization(data: &[u8]) {
	let value = text(data);
	let value = value.as_ref();
	let scheme = is_private_token_authorization(value);
	let token = match checked(parse_authorization(value), "parse_authorization") {
		Ok(token) => token,
		Err(err) => {
			assert!(
				matches!(err.code(), "malformed" | "unsupported_token_type"),
				"parse_authorization: {err}"
			);
			return;
		}
	};
	assert!(scheme, "{value:?} parsed but is not of the PrivateToken scheme");
	// Every spelling of the same token reads back the same.
	for spelling in [
		format!("PrivateToken token=\"{}\"", token.to_base64()),
		format!("PrivateToken token={}", token.to_base64_unpadded()),
		format!("privatetoken TOKEN=\"{}\"", token.to_base64_unpadded()),
		format!(
			"PrivateToken token=\"{}\"",
			crate::b64::encode_padded(&token.to_wrapped_bytes())
		),
	] {
		assert_eq!(parse_authorization(&spelling).as_ref(), Ok(&token), "{spelling}");
	}
	verify(&token);
}

/// Token bytes as presented in SETUP or `pp=` (354 bytes, or the 357-byte wrapped form), and the
/// issuance messages of the same type.
pub fn token(data: &[u8]) {
	let wrapped = data.len() == WRAPPED_TOKEN_LEN
		&& data[0] == crate::AUTH_SCHEME_PRIVACY_PASS
		&& usize::from(u16::from_be_bytes([data[1], data[2]])) == TOKEN_LEN;
	let inner = if wrapped { &data[3..] } else { data };
	match checked(Token::from_bytes(data), "Token::from_bytes") {
		Ok(token) => {
			assert_eq!(token.as_bytes().as_slice(), inner);
			if wrapped {
				assert_eq!(token.to_wrapped_bytes(), data);
			}
			assert_eq!(token.token_type(), TOKEN_TYPE_BLIND_RSA);
			let fields = [
				&token.as_bytes()[..2],
				token.nonce(),
				token.challenge_digest(),
				token.token_key_id(),
				token.authenticator(),
			]
			.concat();
			assert_eq!(fields, token.as_bytes());
			assert_eq!(token.authenticator_input(), &token.as_bytes()[..98]);
			for text in [token.to_base64(), token.to_base64_unpadded()] {
				assert_eq!(Token::from_base64(&text).as_ref(), Ok(&token));
			}
			verify(&token);
		}
		Err(err) => match err {
			Error::UnsupportedTokenType(ty) => {
				assert_eq!(inner.len(), TOKEN_LEN);
				assert_eq!(ty, u16::from_be_bytes([inner[0], inner[1]]));
				assert_ne!(ty, TOKEN_TYPE_BLIND_RSA);
			}
			Error::Malformed(_) => assert_ne!(inner.len(), TOKEN_LEN, "a {TOKEN_LEN}-byte token refused"),
			other => panic!("Token::from_bytes: {other}"),
		},
	}
	// The verifier's entry point for bytes agrees with parsing then verifying.
	let direct = checked(verifier().verify(data, now()), "Verifier::verify").map(|_| ());
	let parsed = Token::from_bytes(data)
		.and_then(|t| verifier().verify_token(&t, now()))
		.map(|_| ());
	assert_eq!(direct, parsed);

	// The issuer reads TokenRequests and the client TokenResponses of the same type.
	match checked(TokenRequest::from_bytes(data), "TokenRequest::from_bytes") {
		Ok(request) => assert_eq!(request.to_bytes(), data),
		Err(err) => assert!(
			data.len() != TOKEN_REQUEST_LEN || err.code() == "unsupported_token_type",
			"{err}"
		),
	}
	match checked(TokenResponse::from_bytes(data), "TokenResponse::from_bytes") {
		Ok(response) => assert_eq!(response.to_bytes(), data),
		Err(err) => assert_ne!(data.len(), crate::AUTHENTICATOR_LEN, "{err}"),
	}
}

/// A parsed token through a fresh verifier: accepted at most once, and only as it is.
fn verify(token: &Token) {
	let once = verifier();
	let first = checked(once.verify_token(token, now()), "verify_token");
	let second = checked(once.verify_token(token, now()), "verify_token again");
	let Ok(verified) = first else {
		let err = first.unwrap_err();
		// A refusal leaves no trace: the same token gets the same verdict.
		assert_eq!(second, Err(err));
		return;
	};
	assert_eq!(second.map_err(|e| e.code()), Err("token_replayed"));
	let fixed = fixed();
	assert_eq!(&verified.token_key_id, fixed.key.token_key_id());
	assert!(
		fixed.challenges.iter().any(|c| c.digest() == verified.challenge_digest),
		"accepted for a challenge the verifier never had"
	);
	assert_eq!(&verified.nonce, token.nonce());
	// Any other authenticator, or any other signed byte, is refused (by a verifier that has not
	// seen the nonce).
	for at in [0, 10, 40, 97, 98, 200, TOKEN_LEN - 1] {
		let mut bytes = *token.as_bytes();
		bytes[at] ^= 0x01;
		let result = verifier().verify(&bytes, now()).map(|_| ());
		let code = result.expect_err("an altered token was accepted");
		check_error(&code, "altered token");
		match at {
			0 => assert_eq!(code.code(), "unsupported_token_type"),
			// The challenge digest and key id name nothing known once altered (or, by chance, they
			// name another known one and the signature fails).
			34..66 => assert!(matches!(code.code(), "unknown_challenge" | "bad_signature")),
			66..98 => assert!(matches!(code.code(), "unknown_key" | "bad_signature")),
			_ => assert_eq!(code.code(), "bad_signature"),
		}
	}
}

/// `TokenChallenge` bytes, as carried in `WWW-Authenticate` and in the `pp:` close reason.
pub fn challenge(data: &[u8]) {
	let parsed = checked(TokenChallenge::from_bytes(data), "TokenChallenge::from_bytes");
	let challenge = match parsed {
		Ok(challenge) => challenge,
		Err(err) => {
			assert_eq!(err.code(), "malformed");
			return;
		}
	};
	// The encoding is canonical: one value, one byte string.
	assert_eq!(challenge.to_bytes(), data);
	assert_eq!(challenge.digest(), digest_of(data));
	let again = TokenChallenge::new(
		challenge.token_type(),
		challenge.issuer_name(),
		challenge.redemption_context().copied(),
		challenge.origin_info(),
	);
	assert_eq!(again.as_ref(), Ok(&challenge));
	assert_eq!(
		TokenChallenge::from_base64(&challenge.to_base64()).as_ref(),
		Ok(&challenge)
	);
	let reason = challenge.to_close_reason();
	assert_eq!(TokenChallenge::from_close_reason(&reason).as_ref(), Ok(&challenge));
	let bare = reason.strip_prefix(crate::CLOSE_REASON_PREFIX).expect("the prefix");
	assert_eq!(TokenChallenge::from_close_reason(bare).as_ref(), Ok(&challenge));
	// No strict prefix and no extension of a challenge is one.
	for len in [0, data.len() / 2, data.len() - 1] {
		assert!(TokenChallenge::from_bytes(&data[..len]).is_err(), "{len}-byte prefix");
	}
	let mut longer = data.to_vec();
	longer.push(0);
	assert!(TokenChallenge::from_bytes(&longer).is_err(), "a trailing byte");
	// In a header, with any key bytes.
	let header = format_www_authenticate(&challenge, data, Some(7));
	let expect = match challenge.token_type() {
		0 => vec![],
		_ => vec![PrivateTokenChallenge {
			challenge: challenge.clone(),
			token_key: data.to_vec(),
			max_age: Some(7),
		}],
	};
	assert_eq!(parse_www_authenticate(&header), Ok(expect), "{header}");
}

/// A `WWW-Authenticate` value, as a client reads it from a relay's 401.
pub fn www_authenticate(data: &[u8]) {
	let value = text(data);
	let value = value.as_ref();
	let challenges = match checked(parse_www_authenticate(value), "parse_www_authenticate") {
		Ok(challenges) => challenges,
		Err(err) => {
			assert_eq!(err.code(), "malformed");
			return;
		}
	};
	let mut formatted = Vec::new();
	for c in &challenges {
		assert_ne!(c.challenge.token_type(), 0, "a grease challenge was kept");
		let one = format_www_authenticate(&c.challenge, &c.token_key, c.max_age);
		assert_eq!(parse_www_authenticate(&one).as_ref(), Ok(&vec![c.clone()]), "{one}");
		formatted.push(one);
	}
	// The list formats and reads back as a list, in order, between other schemes' challenges.
	let joined = format!("Basic realm=\"a, b\", {}, Bearer abc==", formatted.join(", "));
	assert_eq!(parse_www_authenticate(&joined).as_ref(), Ok(&challenges), "{joined}");
	// The same grammar reads credentials: never a panic there either.
	let _ = checked(parse_authorization(value), "parse_authorization");
}
