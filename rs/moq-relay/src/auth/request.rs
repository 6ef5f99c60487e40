//! What the relay knows about a session when it decides: the connection path, the query and the
//! `Authorization` header. Credentials live here and nowhere else; `Debug` redacts them.

use moq_token::Path;
use std::borrow::Cow;

use super::AuthError;

/// A connection request: path, query and `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectRequest {
	path: Path,
	query: Option<String>,
	authorization: Option<String>,
}

impl std::fmt::Debug for ConnectRequest {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		// `docs/relay.md`: "The query carries credentials and must never be logged."
		f.debug_struct("ConnectRequest")
			.field("path", &self.path)
			.field("query", &self.query.as_ref().map(|_| "<redacted>"))
			.field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
			.finish()
	}
}

impl ConnectRequest {
	/// Splits `"/path?query"` (a CONNECT `:path` or a SETUP Path value), percent-decodes the path
	/// and normalizes it. An empty string or `/` is the root. "Percent-decoding happens before
	/// any path check" (`docs/auth.md`), so `/%2E%2E/x` is refused like `/../x`.
	pub fn parse(target: &str) -> Result<Self, AuthError> {
		let (path, query) = match target.split_once('?') {
			Some((path, query)) => (path, Some(query.to_string())),
			None => (target, None),
		};
		let path = percent_decode(path).ok_or(AuthError::InvalidPath)?;
		let path = Path::new(&path).map_err(|_| AuthError::InvalidPath)?;
		Ok(Self {
			path,
			query: query.filter(|q| !q.is_empty()),
			authorization: None,
		})
	}

	/// The request with the `Authorization` header of a WebTransport CONNECT.
	pub fn with_authorization(mut self, value: Option<String>) -> Self {
		self.authorization = value;
		self
	}

	/// The connection path (the session's root).
	pub fn path(&self) -> &Path {
		&self.path
	}

	/// The one credential of the request, if any.
	///
	/// Query `jwt=`, `token=` or `auth_id=` (for each name the last non-empty value wins), or
	/// `Authorization: Bearer <credential>`: a [`Credential::Token`]. Query `pp=` or
	/// `Authorization: PrivateToken token="..."`: a [`Credential::PrivacyPass`]. Two different
	/// credentials are ambiguous: the relay never guesses which one was meant.
	pub fn credential(&self) -> Result<Option<Credential<'_>>, AuthError> {
		let mut found: Vec<Credential<'_>> = Vec::new();
		if let Some(query) = &self.query {
			for name in ["jwt", "token", "auth_id", "pp"] {
				let last = query
					.split('&')
					.filter_map(|pair| pair.split_once('='))
					.filter(|(key, value)| *key == name && !value.is_empty())
					.map(|(_, value)| value)
					.next_back();
				if let Some(value) = last {
					let value =
						percent_decode(value).ok_or(AuthError::InvalidToken(moq_token::ErrorCode::Malformed))?;
					found.push(match name {
						"pp" => Credential::PrivacyPass(PrivacyPassCredential::Query(value)),
						_ => Credential::Token(value),
					});
				}
			}
		}
		if let Some(header) = &self.authorization {
			if moq_privacy_pass::is_private_token_authorization(header) {
				found.push(Credential::PrivacyPass(PrivacyPassCredential::Header(header)));
			} else {
				let (scheme, value) = header.trim().split_once(' ').ok_or(AuthError::InvalidAuthHeader)?;
				let value = value.trim();
				if !scheme.eq_ignore_ascii_case("bearer") || value.is_empty() {
					return Err(AuthError::InvalidAuthHeader);
				}
				found.push(Credential::Token(Cow::Borrowed(value)));
			}
		}
		found.dedup();
		match found.len() {
			0 => Ok(None),
			1 => Ok(found.pop()),
			_ => Err(AuthError::AmbiguousCredentials),
		}
	}
}

/// A credential of a request. `Debug` never shows its value.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential<'a> {
	/// A JWT (or another bearer credential): `?jwt=`, `?token=`, `?auth_id=`, `Authorization: Bearer`.
	Token(Cow<'a, str>),
	/// A Privacy Pass token (`docs/privacy-pass.md`).
	PrivacyPass(PrivacyPassCredential<'a>),
}

/// Where a Privacy Pass token came from.
#[derive(Clone, PartialEq, Eq)]
pub enum PrivacyPassCredential<'a> {
	/// `?pp=<base64url token>` (browsers: WebTransport sends no custom headers), percent-decoded.
	Query(Cow<'a, str>),
	/// The whole `Authorization: PrivateToken token="..."` value (native clients).
	Header(&'a str),
}

impl std::fmt::Debug for Credential<'_> {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			Self::Token(_) => f.write_str("Token(<redacted>)"),
			Self::PrivacyPass(PrivacyPassCredential::Query(_)) => f.write_str("PrivacyPass(Query(<redacted>))"),
			Self::PrivacyPass(PrivacyPassCredential::Header(_)) => f.write_str("PrivacyPass(Header(<redacted>))"),
		}
	}
}

impl std::fmt::Debug for PrivacyPassCredential<'_> {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			Self::Query(_) => f.write_str("Query(<redacted>)"),
			Self::Header(_) => f.write_str("Header(<redacted>)"),
		}
	}
}

/// RFC 3986 §2.1 percent-decoding to UTF-8; `None` for a bad escape or invalid UTF-8.
///
/// `percent-encoding` decodes; it keeps a malformed escape as it is, so this checks first that
/// every `%` starts one (`%` HEXDIG HEXDIG): the relay refuses what it cannot read exactly.
fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
	let bytes = s.as_bytes();
	let well_formed = bytes.iter().enumerate().filter(|(_, b)| **b == b'%').all(|(i, _)| {
		bytes
			.get(i + 1..i + 3)
			.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
	});
	if !well_formed {
		return None;
	}
	percent_encoding::percent_decode_str(s).decode_utf8().ok()
}

#[cfg(test)]
mod tests {
	use super::*;

	fn req(target: &str) -> ConnectRequest {
		ConnectRequest::parse(target).unwrap()
	}

	#[test]
	fn paths_are_decoded_before_checks() {
		assert_eq!(req("/room%2F123").path().as_str(), "room/123");
		assert_eq!(req("").path(), &Path::root());
		assert_eq!(req("/caf%C3%A9/%25").path().as_str(), "café/%");
		for bad in [
			"/a/../b",
			"/%2E%2E/secret",
			"/%2e%2e",
			"/a/%2E",
			"/%zz",
			"/%C3",
			"/%",
			"/%4",
			"/a%4g",
			"/%%41",
			"/%+f",
			"/%FF",
		] {
			assert_eq!(ConnectRequest::parse(bad).unwrap_err(), AuthError::InvalidPath, "{bad}");
		}
	}

	fn token(c: Option<Credential<'_>>) -> Option<String> {
		match c {
			Some(Credential::Token(t)) => Some(t.into_owned()),
			other => panic!("expected a token credential, got {other:?}"),
		}
	}

	#[test]
	fn credentials() {
		assert_eq!(req("/a").credential().unwrap(), None);
		assert_eq!(
			req("/a?jwt=").credential().unwrap(),
			None,
			"an empty jwt= is no credential"
		);
		assert_eq!(
			token(req("/a?jwt=x&jwt=y").credential().unwrap()).as_deref(),
			Some("y"),
			"last wins"
		);
		assert_eq!(
			token(req("/a?jwt=x&jwt=").credential().unwrap()).as_deref(),
			Some("x"),
			"last non-empty wins"
		);
		assert_eq!(token(req("/a?token=t").credential().unwrap()).as_deref(), Some("t"));
		assert_eq!(
			token(req("/a?auth_id=i&other=1").credential().unwrap()).as_deref(),
			Some("i")
		);
		assert_eq!(token(req("/a?jwt=a%2Eb").credential().unwrap()).as_deref(), Some("a.b"));
		for bad in ["/a?jwt=a%2", "/a?jwt=%zz", "/a?jwt=%C3"] {
			assert_eq!(
				req(bad).credential().unwrap_err(),
				AuthError::InvalidToken(moq_token::ErrorCode::Malformed),
				"{bad}"
			);
		}
		assert_eq!(
			req("/a?jwt=x&token=y").credential().unwrap_err(),
			AuthError::AmbiguousCredentials
		);
		assert_eq!(
			token(req("/a?jwt=x&token=x").credential().unwrap()).as_deref(),
			Some("x"),
			"the same one twice"
		);

		let bearer = |h: &str| req("/a").with_authorization(Some(h.to_string()));
		assert_eq!(
			token(bearer("Bearer abc").credential().unwrap()).as_deref(),
			Some("abc")
		);
		assert_eq!(
			token(bearer("bearer  abc ").credential().unwrap()).as_deref(),
			Some("abc")
		);
		for bad in ["Basic abc", "Bearer", "Bearer ", "abc", "PrivateTokenx token=x"] {
			assert_eq!(
				bearer(bad).credential().unwrap_err(),
				AuthError::InvalidAuthHeader,
				"{bad}"
			);
		}
		let both = req("/a?jwt=x").with_authorization(Some("Bearer y".into()));
		assert_eq!(both.credential().unwrap_err(), AuthError::AmbiguousCredentials);
	}

	#[test]
	fn privacy_pass_credentials() {
		let header = "PrivateToken token=\"abc\"";
		let r = req("/a").with_authorization(Some(header.into()));
		assert_eq!(
			r.credential().unwrap(),
			Some(Credential::PrivacyPass(PrivacyPassCredential::Header(header)))
		);
		assert_eq!(
			req("/a?pp=a%2Db").credential().unwrap(),
			Some(Credential::PrivacyPass(PrivacyPassCredential::Query("a-b".into())))
		);
		assert_eq!(
			req("/a?jwt=x&pp=y").credential().unwrap_err(),
			AuthError::AmbiguousCredentials
		);
		let both = req("/a?pp=y").with_authorization(Some(header.into()));
		assert_eq!(both.credential().unwrap_err(), AuthError::AmbiguousCredentials);
		let shown = format!("{:?}", r.credential().unwrap());
		assert!(!shown.contains("abc"), "{shown}");
	}

	#[test]
	fn debug_redacts_credentials() {
		let text = format!(
			"{:?}",
			req("/anon?jwt=secret").with_authorization(Some("Bearer other".into()))
		);
		assert!(!text.contains("secret") && !text.contains("other"), "{text}");
	}
}
