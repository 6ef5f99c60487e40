//! Why a session or request was refused: one table of codes, HTTP statuses and close reasons
//! (relay.md §3). MoQ sessions are closed with the unauthorized code 0x2 and [`AuthError::reason`];
//! HTTP answers carry [`AuthError::status`] and [`AuthError::json`].

/// Why a session was refused.
///
/// Messages never contain a credential, a query string or a header value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
	/// No credential, and the path is not public.
	#[error("no credential was presented and {0:?} is not public: connect with ?jwt=<token>")]
	MissingCredential(String),
	/// Two different credentials (say `jwt=` and a Bearer header).
	#[error("more than one credential was presented: send exactly one")]
	AmbiguousCredentials,
	/// An `Authorization` header this relay cannot read.
	#[error("the Authorization header is not `Bearer <token>`")]
	InvalidAuthHeader,
	/// The token failed verification; the token library's code says why.
	#[error("the token was refused ({0}): sign a new token with a key this relay trusts")]
	InvalidToken(moq_token::ErrorCode),
	/// A credential was presented but the relay verifies no tokens.
	#[error("a credential was presented but this relay has no token key configured ([auth] key, key_dir or jwks)")]
	NoVerifier,
	/// The token (or the session's grant) has expired.
	#[error("the token has expired: sign a new one")]
	TokenExpired,
	/// The connection path is not the token root or below it.
	#[error("the connection path is not within the token root: connect at the root or below it")]
	RootMismatch,
	/// The token allows nothing at the connection path.
	#[error("the token allows nothing at this connection path")]
	NoAccess,
	/// The connection path is not a valid path (a `.` or `..` segment, bad percent-encoding).
	#[error("the connection path is not a valid broadcast path")]
	InvalidPath,
}

impl AuthError {
	/// The stable error code (relay.md §3).
	pub fn code(&self) -> &'static str {
		match self {
			Self::MissingCredential(_) => "missing_credential",
			Self::AmbiguousCredentials => "ambiguous_credentials",
			Self::InvalidAuthHeader => "invalid_auth_header",
			Self::InvalidToken(_) | Self::NoVerifier => "invalid_token",
			Self::TokenExpired => "token_expired",
			Self::RootMismatch => "root_mismatch",
			Self::NoAccess => "no_access",
			Self::InvalidPath => "unauthorized",
		}
	}

	/// The close reason a MoQ client (and a browser's `WebTransport.closed`) reads: the code,
	/// and for `invalid_token` the token library's code after a colon (`invalid_token: bad_signature`).
	pub fn reason(&self) -> String {
		match self {
			Self::InvalidToken(detail) => format!("invalid_token: {detail}"),
			Self::NoVerifier => "invalid_token: no_verifier".to_string(),
			other => other.code().to_string(),
		}
	}

	/// The HTTP status: 401 for a missing or invalid credential, 403 for a valid credential
	/// that does not allow this.
	pub fn status(&self) -> u16 {
		match self {
			Self::RootMismatch | Self::NoAccess | Self::InvalidPath => 403,
			_ => 401,
		}
	}

	/// The JSON body of an HTTP refusal: `{"error": "<code>", "message": "<text>"}`.
	pub fn json(&self) -> String {
		serde_json::json!({ "error": self.code(), "message": self.to_string() }).to_string()
	}
}

impl From<moq_token::Error> for AuthError {
	fn from(err: moq_token::Error) -> Self {
		use moq_token::ErrorCode as C;
		match err.code() {
			C::Expired => Self::TokenExpired,
			C::RootMismatch => Self::RootMismatch,
			C::NoAccess => Self::NoAccess,
			C::InvalidPath => Self::InvalidToken(C::InvalidPath),
			code => Self::InvalidToken(code),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn table() {
		let cases = [
			(AuthError::MissingCredential("x".into()), "missing_credential", 401),
			(AuthError::AmbiguousCredentials, "ambiguous_credentials", 401),
			(AuthError::InvalidAuthHeader, "invalid_auth_header", 401),
			(
				AuthError::InvalidToken(moq_token::ErrorCode::BadSignature),
				"invalid_token",
				401,
			),
			(AuthError::NoVerifier, "invalid_token", 401),
			(AuthError::TokenExpired, "token_expired", 401),
			(AuthError::RootMismatch, "root_mismatch", 403),
			(AuthError::NoAccess, "no_access", 403),
			(AuthError::InvalidPath, "unauthorized", 403),
		];
		for (err, code, status) in cases {
			assert_eq!(err.code(), code);
			assert_eq!(err.status(), status, "{code}");
			assert!(err.reason().starts_with(code));
			let json: serde_json::Value = serde_json::from_str(&err.json()).unwrap();
			assert_eq!(json["error"], code);
			assert!(!json["message"].as_str().unwrap().is_empty());
		}
		assert_eq!(
			AuthError::InvalidToken(moq_token::ErrorCode::BadSignature).reason(),
			"invalid_token: bad_signature"
		);
	}

	#[test]
	fn library_codes_map() {
		let expired = moq_token::Error::Expired { exp: 1, now: 2 };
		assert_eq!(AuthError::from(expired), AuthError::TokenExpired);
		assert_eq!(
			AuthError::from(moq_token::Error::BadSignature),
			AuthError::InvalidToken(moq_token::ErrorCode::BadSignature)
		);
		assert_eq!(
			AuthError::from(moq_token::Error::NoAccess { path: "a".into() }),
			AuthError::NoAccess
		);
	}
}
