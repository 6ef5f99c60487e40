//! The `PrivateToken` HTTP authentication scheme (RFC 9577 §2.1 and §2.2).
//!
//! ```text
//! WWW-Authenticate: PrivateToken challenge="<base64url TokenChallenge>", token-key="<base64url SPKI>"[, max-age=N]
//! Authorization: PrivateToken token="<base64url Token>"
//! ```
//!
//! Parsing follows the RFC 9110 §11 challenge grammar: a comma-separated list mixing challenges of any scheme
//! with their auth-params; scheme and parameter names are case-insensitive; values are tokens or
//! quoted-strings; unknown parameters and other schemes are skipped.

use crate::{Error, Token, TokenChallenge, b64};

/// The authentication scheme name.
pub const SCHEME: &str = "PrivateToken";

/// One `PrivateToken` challenge read from a `WWW-Authenticate` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateTokenChallenge {
	/// The decoded challenge.
	pub challenge: TokenChallenge,
	/// The issuer public key the client should use (SPKI for type 2, as sent).
	pub token_key: Vec<u8>,
	/// `max-age` in seconds, when present.
	pub max_age: Option<u64>,
}

/// Formats one `WWW-Authenticate` challenge: `PrivateToken challenge="...", token-key="..."[, max-age=N]`.
///
/// Both values are base64url with padding, as RFC 9577 writes them.
pub fn format_www_authenticate(challenge: &TokenChallenge, token_key: &[u8], max_age: Option<u64>) -> String {
	let mut out = format!(
		"{SCHEME} challenge=\"{}\", token-key=\"{}\"",
		challenge.to_base64(),
		b64::encode_padded(token_key)
	);
	if let Some(age) = max_age {
		out.push_str(&format!(", max-age={age}"));
	}
	out
}

/// Reads every usable `PrivateToken` challenge of a `WWW-Authenticate` value, in order.
///
/// Challenges of other schemes are skipped, and so are `PrivateToken` challenges a client could not use:
/// missing `challenge` or `token-key`, undecodable values, or the reserved/grease token type 0x0000.
/// Only a value that breaks the header grammar itself (an unterminated quoted-string, a stray character)
/// is an error.
pub fn parse_www_authenticate(value: &str) -> Result<Vec<PrivateTokenChallenge>, Error> {
	let mut out = Vec::new();
	for c in parse_challenges(value)? {
		if !c.scheme.eq_ignore_ascii_case(SCHEME) {
			continue;
		}
		let (Some(ch), Some(key)) = (c.param("challenge"), c.param("token-key")) else {
			continue;
		};
		let Ok(challenge) = TokenChallenge::from_base64(ch) else {
			continue;
		};
		if challenge.token_type() == 0 {
			continue;
		}
		let Ok(token_key) = b64::decode_lenient(key, "token-key") else {
			continue;
		};
		let max_age = c.param("max-age").and_then(|a| a.parse().ok());
		out.push(PrivateTokenChallenge {
			challenge,
			token_key,
			max_age,
		});
	}
	Ok(out)
}

/// True when an `Authorization` value uses the `PrivateToken` scheme (so [`parse_authorization`] applies).
pub fn is_private_token_authorization(value: &str) -> bool {
	let value = value.trim_start();
	value.len() >= SCHEME.len()
		&& value.as_bytes()[..SCHEME.len()].eq_ignore_ascii_case(SCHEME.as_bytes())
		&& value[SCHEME.len()..]
			.chars()
			.next()
			.is_none_or(|c| c == ' ' || c == '\t')
}

/// Reads the token of `Authorization: PrivateToken token="..."`.
///
/// The value may be quoted or not, base64url or standard base64, padded or not; the token may be the
/// 354-byte token or the original MoQ Privacy Pass client's 357-byte wrapped form.
pub fn parse_authorization(value: &str) -> Result<Token, Error> {
	if !is_private_token_authorization(value) {
		return Err(Error::malformed("Authorization is not of the PrivateToken scheme"));
	}
	let challenges = parse_challenges(value)?;
	let [c] = challenges.as_slice() else {
		return Err(Error::malformed("Authorization carries more than one credential"));
	};
	let token = c
		.param("token")
		.ok_or_else(|| Error::malformed("Authorization: PrivateToken has no token= parameter"))?;
	Token::from_base64(token)
}

/// One challenge (or credential) of the RFC 9110 grammar, parameter names lower-cased.
#[derive(Debug)]
struct Challenge<'a> {
	scheme: &'a str,
	params: Vec<(String, String)>,
}

impl Challenge<'_> {
	fn param(&self, name: &str) -> Option<&str> {
		self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
	}
}

fn is_tchar(c: u8) -> bool {
	c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token68_char(c: u8) -> bool {
	c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)
}

struct Cursor<'a> {
	s: &'a str,
	pos: usize,
}

impl<'a> Cursor<'a> {
	fn peek(&self) -> Option<u8> {
		self.s.as_bytes().get(self.pos).copied()
	}

	fn skip_ows(&mut self) {
		while matches!(self.peek(), Some(b' ' | b'\t')) {
			self.pos += 1;
		}
	}

	fn skip_ows_and_commas(&mut self) {
		while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
			self.pos += 1;
		}
	}

	fn token(&mut self) -> &'a str {
		let start = self.pos;
		while self.peek().is_some_and(is_tchar) {
			self.pos += 1;
		}
		&self.s[start..self.pos]
	}

	fn quoted_string(&mut self) -> Result<String, Error> {
		debug_assert_eq!(self.peek(), Some(b'"'));
		self.pos += 1;
		let mut out = String::new();
		loop {
			match self.peek() {
				None => return Err(Error::malformed("unterminated quoted-string in auth header")),
				Some(b'"') => {
					self.pos += 1;
					return Ok(out);
				}
				Some(b'\\') => {
					self.pos += 1;
					let c = self.s[self.pos..]
						.chars()
						.next()
						.ok_or_else(|| Error::malformed("dangling escape in auth header"))?;
					out.push(c);
					self.pos += c.len_utf8();
				}
				Some(_) => {
					let c = self.s[self.pos..].chars().next().expect("not at end");
					out.push(c);
					self.pos += c.len_utf8();
				}
			}
		}
	}

	/// At `name OWS "="`, not followed by another `=` (which would make it token68 padding)?
	fn at_auth_param(&self) -> bool {
		let b = self.s.as_bytes();
		let mut i = self.pos;
		let start = i;
		while i < b.len() && is_tchar(b[i]) {
			i += 1;
		}
		if i == start {
			return false;
		}
		while i < b.len() && matches!(b[i], b' ' | b'\t') {
			i += 1;
		}
		i < b.len() && b[i] == b'=' && b.get(i + 1) != Some(&b'=')
	}
}

fn parse_challenges(header: &str) -> Result<Vec<Challenge<'_>>, Error> {
	let mut cur = Cursor { s: header, pos: 0 };
	let mut out = Vec::new();
	loop {
		cur.skip_ows_and_commas();
		if cur.peek().is_none() {
			return Ok(out);
		}
		let scheme = cur.token();
		if scheme.is_empty() {
			return Err(Error::malformed(format!(
				"unexpected character at byte {} of auth header",
				cur.pos
			)));
		}
		let mut challenge = Challenge {
			scheme,
			params: Vec::new(),
		};
		cur.skip_ows();
		if cur.peek().is_some_and(is_token68_char) && !cur.at_auth_param() {
			// token68 credentials (e.g. `Bearer abc==`): skip them, nothing here reads them.
			while cur.peek().is_some_and(|c| is_token68_char(c) || c == b'=') {
				cur.pos += 1;
			}
		} else {
			while cur.at_auth_param() {
				let name = cur.token().to_ascii_lowercase();
				cur.skip_ows();
				cur.pos += 1; // '='
				cur.skip_ows();
				let value = match cur.peek() {
					Some(b'"') => cur.quoted_string()?,
					_ => {
						let start = cur.pos;
						// Unquoted values: a token, leniently also base64 padding '='.
						while cur.peek().is_some_and(|c| is_tchar(c) || c == b'=' || c == b'/') {
							cur.pos += 1;
						}
						header[start..cur.pos].to_string()
					}
				};
				challenge.params.push((name, value));
				cur.skip_ows();
				match cur.peek() {
					None => break,
					Some(b',') => {
						cur.skip_ows_and_commas();
					}
					Some(_) => {
						return Err(Error::malformed(format!(
							"expected ',' at byte {} of auth header",
							cur.pos
						)));
					}
				}
			}
		}
		out.push(challenge);
		cur.skip_ows();
		match cur.peek() {
			None | Some(b',') => {}
			Some(c) if is_tchar(c) => {}
			Some(_) => {
				return Err(Error::malformed(format!(
					"unexpected character at byte {} of auth header",
					cur.pos
				)));
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn challenge() -> TokenChallenge {
		TokenChallenge::new(2, "issuer.example", None, b"origin.example".to_vec()).unwrap()
	}

	#[test]
	fn formats_and_parses_back() {
		let c = challenge();
		let v = format_www_authenticate(&c, b"key bytes", Some(10));
		assert!(v.starts_with("PrivateToken challenge=\""));
		assert!(v.ends_with(", max-age=10"));
		let parsed = parse_www_authenticate(&v).unwrap();
		assert_eq!(
			parsed,
			vec![PrivateTokenChallenge {
				challenge: c.clone(),
				token_key: b"key bytes".to_vec(),
				max_age: Some(10)
			}]
		);
		let v = format_www_authenticate(&c, b"k", None);
		assert_eq!(parse_www_authenticate(&v).unwrap()[0].max_age, None);
	}

	#[test]
	fn grammar_variants() {
		let c = challenge();
		let ch = c.to_base64();
		let v = format!(
			"Bearer abc==, basic realm=\"x, y\", privatetoken Token-Key={k}, CHALLENGE=\"{ch}\" , foo=bar",
			k = "a2V5"
		);
		let parsed = parse_www_authenticate(&v).unwrap();
		assert_eq!(parsed.len(), 1);
		assert_eq!(parsed[0].challenge, c);
		assert_eq!(parsed[0].token_key, b"key");
		assert!(parse_www_authenticate("PrivateToken challenge=\"abc").is_err());
		assert!(parse_www_authenticate("PrivateToken challenge=\"abc\" ;").is_err());
		assert!(parse_www_authenticate("").unwrap().is_empty());
		// A PrivateToken challenge with no token-key is unusable and skipped.
		assert!(
			parse_www_authenticate(&format!("PrivateToken challenge=\"{ch}\""))
				.unwrap()
				.is_empty()
		);
	}

	#[test]
	fn authorization() {
		let t = Token::new([9; 32], [8; 32], [7; 32], [6; 256]);
		for v in [
			format!("PrivateToken token=\"{}\"", t.to_base64()),
			format!("privatetoken TOKEN={}", t.to_base64()),
			format!("PrivateToken token={}", t.to_base64_unpadded()),
			format!("  PrivateToken   token = \"{}\"", t.to_base64()),
		] {
			assert!(is_private_token_authorization(&v), "{v}");
			assert_eq!(parse_authorization(&v).unwrap(), t, "{v}");
		}
		let wrapped = b64::encode_padded(&t.to_wrapped_bytes());
		assert_eq!(
			parse_authorization(&format!("PrivateToken token=\"{wrapped}\"")).unwrap(),
			t
		);
		assert!(!is_private_token_authorization("Bearer x"));
		assert!(!is_private_token_authorization("PrivateTokens token=x"));
		assert_eq!(parse_authorization("Bearer x").unwrap_err().code(), "malformed");
		assert_eq!(
			parse_authorization("PrivateToken other=1").unwrap_err().code(),
			"malformed"
		);
		assert_eq!(
			parse_authorization("PrivateToken token=\"AAAA\"").unwrap_err().code(),
			"malformed"
		);
	}
}
