//! Why a session or request was refused: one table of codes, HTTP statuses and close reasons
//! (`docs/auth.md`). MoQ sessions are closed with the unauthorized code 0x2 and [`AuthError::reason`];
//! HTTP answers carry [`AuthError::status`] and [`AuthError::json`].
//!
//! `Display` is what the relay's own logs may show: never a credential, never what an auth
//! service wrote. [`AuthError::message`] (the HTTP answer's `message`) adds the service's own words,
//! capped, as a client of that service expects them.

use axum::http::StatusCode;

/// Why a session was refused.
///
/// Messages never contain a credential, a query string or a header value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
	/// No credential, and the path is not public. The path is not repeated: a credential misplaced
	/// in it (`/room%3Fjwt=…`) must not come back in an error body or a log line.
	#[error("no credential was presented and the path is not public: connect with ?jwt=<token>")]
	MissingCredential,
	/// Two different credentials (say `jwt=` and a Bearer header).
	#[error("more than one credential was presented: send exactly one")]
	AmbiguousCredentials,
	/// An `Authorization` header this relay cannot read.
	#[error("the Authorization header is neither `Bearer <token>` nor `PrivateToken token=\"...\"`")]
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
	/// No credential, the path is not public, and Privacy Pass is enabled: here is a challenge
	/// (`docs/privacy-pass.md`). MoQ sessions get it as the close reason (`pp:<base64url TokenChallenge>`),
	/// HTTP answers as `WWW-Authenticate: PrivateToken challenge=..., token-key=...`.
	#[error("no credential was presented: redeem a Privacy Pass token from issuer {:?} for the challenge", .0.challenge.issuer_name())]
	PrivacyPassChallenge(Box<PrivacyPassChallenge>),
	/// A Privacy Pass token failed verification; the Privacy Pass library's code says why
	/// (`malformed`, `unknown_key`, `unknown_challenge`, `challenge_expired`, `bad_signature`, ...).
	#[error("the Privacy Pass token was refused ({0}): fetch a new token for a fresh challenge")]
	InvalidPrivacyPassToken(&'static str),
	/// The token's nonce was already redeemed (here or on a relay sharing the nonce store).
	#[error("the Privacy Pass token was already redeemed: each token admits one session")]
	TokenReplayed,
	/// The nonce store could not answer (Redis unreachable or slow): refused, never admitted.
	#[error("the Privacy Pass nonce store is unavailable: try again later")]
	NonceStoreUnavailable,
	/// This address presented too many refused credentials lately (`[limits] auth_failures`); it is
	/// refused until its cool-down (`[limits] auth_cooldown`) ends.
	#[error("too many refused credentials from this address: wait for the cool-down and use a valid token")]
	TooManyAttempts,
	/// A credential no verifier recognized and none was left to ask: not a configured API key (or
	/// a `kyutai-api-key` header that matches none), and no auth service is configured.
	#[error("the credential matches no API key of this relay")]
	Unauthorized,
	/// The auth service refused the credential (401 or another 4xx).
	#[error("the auth service refused the credential ({})", status_text(*.status))]
	ServiceDenied {
		/// The service's status.
		status: u16,
		/// The start of its body, for the HTTP answer only.
		body: ServiceBody,
	},
	/// The auth service failed (5xx, or a status the contract does not define).
	#[error("the auth service failed ({})", status_text(*.status))]
	ServiceError {
		/// The service's status.
		status: u16,
		/// The start of its body, for the HTTP answer only.
		body: ServiceBody,
	},
	/// The auth service did not answer in time, could not be reached, or had too many calls in flight.
	#[error("the auth service is unavailable ({}): try again later", .0.as_str())]
	ServiceUnavailable(Unavailable),
	/// The request to the auth service could not be signed.
	#[error("the request to the auth service could not be signed")]
	SigningError,
	/// The token's `jti`, or its subject, is on the relay's revocation list (`docs/auth.md`,
	/// "Revocation").
	#[error("the token was revoked: ask its issuer for a new one")]
	TokenRevoked,
	/// The key that verified the token was removed from the relay's key sources, or replaced.
	#[error("the key that signed the token is no longer trusted by this relay: sign a new token with a current key")]
	KeyRevoked,
	/// The auth server of `[auth] url` refused a live session when it was re-checked.
	#[error("the auth server withdrew this session's grant when it was re-checked")]
	GrantRefused,
	/// The auth server of `[auth] url` answered a re-check with a grant narrower than the session's.
	#[error("the auth server narrowed this session's grant when it was re-checked: reconnect for the new grant")]
	GrantNarrowed,
}

/// Why the auth service is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
	/// No answer within `[auth] service_timeout`.
	Timeout,
	/// The connection failed (refused, reset, DNS, TLS).
	Connection,
	/// `[auth] service_concurrency` calls were in flight for the whole timeout.
	Overloaded,
}

impl Unavailable {
	/// A short phrase (`Connection timeout`, as Sayna's message says).
	pub fn as_str(self) -> &'static str {
		match self {
			Self::Timeout => "Connection timeout",
			Self::Connection => "Connection failed",
			Self::Overloaded => "Too many requests in flight",
		}
	}
}

/// The first characters of an auth service's answer body: shown to the HTTP client that was
/// refused (as that service's clients expect), never in a log line or in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ServiceBody(String);

impl ServiceBody {
	/// Bodies are cut to this many characters.
	pub const MAX_CHARS: usize = 500;

	/// The first [`Self::MAX_CHARS`] characters of `text`, trimmed.
	pub fn new(text: &str) -> Self {
		Self(
			text.trim()
				.chars()
				.take(Self::MAX_CHARS)
				.collect::<String>()
				.trim_end()
				.to_string(),
		)
	}

	/// The text.
	pub fn as_str(&self) -> &str {
		&self.0
	}
}

impl std::fmt::Debug for ServiceBody {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(f, "ServiceBody(<{} chars>)", self.0.chars().count())
	}
}

/// `500 Internal Server Error`: a status and its reason phrase.
fn status_text(status: u16) -> String {
	match StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()) {
		Some(reason) => format!("{status} {reason}"),
		None => status.to_string(),
	}
}

/// A Privacy Pass refusal's challenge, in both of its forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyPassChallenge {
	/// The challenge this relay issued (and remembers until it expires).
	pub challenge: moq_privacy_pass::TokenChallenge,
	/// The `WWW-Authenticate` value for HTTP answers (one `PrivateToken` challenge per issuer key).
	pub www_authenticate: String,
}

impl AuthError {
	/// Whether the refusal counts against the address's failed attempts: a credential (or its
	/// absence on a path that needs one) was judged and refused. A Privacy Pass challenge (the first
	/// step of that flow) and a nonce store that cannot answer (the relay's problem) do not count.
	pub fn counts_as_failure(&self) -> bool {
		!matches!(
			self,
			Self::PrivacyPassChallenge(_)
				| Self::NonceStoreUnavailable
				| Self::TooManyAttempts
				| Self::ServiceError { .. }
				| Self::ServiceUnavailable(_)
				| Self::SigningError
		)
	}

	/// The stable error code (`docs/auth.md`).
	pub fn code(&self) -> &'static str {
		match self {
			Self::MissingCredential => "missing_credential",
			Self::AmbiguousCredentials => "ambiguous_credentials",
			Self::InvalidAuthHeader => "invalid_auth_header",
			Self::InvalidToken(_) | Self::NoVerifier => "invalid_token",
			Self::TokenExpired => "token_expired",
			Self::RootMismatch => "root_mismatch",
			Self::NoAccess => "no_access",
			Self::InvalidPath => "unauthorized",
			Self::PrivacyPassChallenge(_) => "missing_credential",
			Self::InvalidPrivacyPassToken(_) => "invalid_token",
			Self::TokenReplayed => "token_replayed",
			Self::NonceStoreUnavailable => "nonce_store_unavailable",
			Self::TooManyAttempts => "too_many_attempts",
			Self::Unauthorized | Self::ServiceDenied { .. } => "unauthorized",
			Self::ServiceError { .. } => "auth_service_error",
			Self::ServiceUnavailable(_) => "auth_service_unavailable",
			Self::SigningError => "jwt_signing_error",
			Self::TokenRevoked => "token_revoked",
			Self::KeyRevoked => "key_revoked",
			Self::GrantRefused => "grant_refused",
			Self::GrantNarrowed => "grant_narrowed",
		}
	}

	/// The close reason a MoQ client (and a browser's `WebTransport.closed`) reads: the code,
	/// and for `invalid_token` the token library's code after a colon (`invalid_token: bad_signature`).
	/// A Privacy Pass challenge is `pp:` and the base64url (unpadded) TokenChallenge, what the original Privacy Pass MoQ client
	/// client parses.
	pub fn reason(&self) -> String {
		match self {
			Self::InvalidToken(detail) => format!("invalid_token: {detail}"),
			Self::InvalidPrivacyPassToken(detail) => format!("invalid_token: {detail}"),
			Self::PrivacyPassChallenge(c) => c.challenge.to_close_reason(),
			Self::NoVerifier => "invalid_token: no_verifier".to_string(),
			other => other.code().to_string(),
		}
	}

	/// The HTTP status: 401 for a missing or invalid credential, 403 for a valid credential
	/// that does not allow this, 429 in a cool-down, 502 when the auth service failed, 503 when it
	/// (or the nonce store) is unavailable, 500 when the relay could not sign its request.
	pub fn status(&self) -> StatusCode {
		match self {
			Self::RootMismatch | Self::NoAccess | Self::InvalidPath => StatusCode::FORBIDDEN,
			Self::NonceStoreUnavailable | Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
			Self::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
			Self::ServiceError { .. } => StatusCode::BAD_GATEWAY,
			Self::SigningError => StatusCode::INTERNAL_SERVER_ERROR,
			_ => StatusCode::UNAUTHORIZED,
		}
	}

	/// The `message` of an HTTP refusal: the `Display` text, except for the auth service's
	/// refusals, which read as that service's clients know them (`Unauthorized: <its body>`,
	/// `Auth service error (500 Internal Server Error): <its body>`, `Auth service unavailable:
	/// Connection timeout`), the body cut to [`ServiceBody::MAX_CHARS`] characters.
	pub fn message(&self) -> String {
		let with = |prefix: String, body: &ServiceBody| match body.as_str() {
			"" => prefix,
			text => format!("{prefix}: {text}"),
		};
		match self {
			Self::ServiceDenied { status, body } => with(
				"Unauthorized".into(),
				&if body.as_str().is_empty() {
					ServiceBody::new(&format!("the auth service answered {}", status_text(*status)))
				} else {
					body.clone()
				},
			),
			Self::ServiceError { status, body } => with(format!("Auth service error ({})", status_text(*status)), body),
			Self::ServiceUnavailable(why) => format!("Auth service unavailable: {}", why.as_str()),
			other => other.to_string(),
		}
	}

	/// The JSON body of an HTTP refusal: `{"error": "<code>", "message": "<text>"}`.
	pub fn json(&self) -> String {
		serde_json::json!({ "error": self.code(), "message": self.message() }).to_string()
	}
}

impl From<moq_privacy_pass::Error> for AuthError {
	fn from(err: moq_privacy_pass::Error) -> Self {
		use moq_privacy_pass::Error as E;
		match err {
			E::TokenReplayed(_) => Self::TokenReplayed,
			E::NonceStore(_) => Self::NonceStoreUnavailable,
			other => Self::InvalidPrivacyPassToken(other.code()),
		}
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
			(AuthError::MissingCredential, "missing_credential", 401),
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
			(AuthError::InvalidPrivacyPassToken("unknown_key"), "invalid_token", 401),
			(AuthError::TokenReplayed, "token_replayed", 401),
			(AuthError::NonceStoreUnavailable, "nonce_store_unavailable", 503),
			(AuthError::TooManyAttempts, "too_many_attempts", 429),
			(AuthError::Unauthorized, "unauthorized", 401),
			(
				AuthError::ServiceDenied {
					status: 403,
					body: ServiceBody::new("no"),
				},
				"unauthorized",
				401,
			),
			(
				AuthError::ServiceError {
					status: 500,
					body: ServiceBody::default(),
				},
				"auth_service_error",
				502,
			),
			(
				AuthError::ServiceUnavailable(Unavailable::Timeout),
				"auth_service_unavailable",
				503,
			),
			(AuthError::SigningError, "jwt_signing_error", 500),
		];
		for (err, code, status) in cases {
			assert_eq!(err.code(), code);
			assert_eq!(err.status().as_u16(), status, "{code}");
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

	/// The service's words reach the HTTP answer, cut to 500 characters, and nothing else: not
	/// `Display` (what logs show), not `Debug`.
	#[test]
	fn service_bodies_are_capped_and_kept_out_of_logs() {
		let long = "é".repeat(10_000);
		let err = AuthError::ServiceError {
			status: 500,
			body: ServiceBody::new(&long),
		};
		let json: serde_json::Value = serde_json::from_str(&err.json()).unwrap();
		let message = json["message"].as_str().unwrap();
		let prefix = "Auth service error (500 Internal Server Error): ";
		assert!(message.starts_with(prefix), "{message}");
		assert_eq!(message[prefix.len()..].chars().count(), 500);
		for shown in [err.to_string(), format!("{err:?}"), err.reason()] {
			assert!(!shown.contains('é'), "{shown}");
		}
		let denied = AuthError::ServiceDenied {
			status: 401,
			body: ServiceBody::new("Invalid token signature"),
		};
		assert_eq!(denied.message(), "Unauthorized: Invalid token signature");
		assert_eq!(
			AuthError::ServiceDenied {
				status: 403,
				body: ServiceBody::default()
			}
			.message(),
			"Unauthorized: the auth service answered 403 Forbidden"
		);
		assert_eq!(
			AuthError::ServiceUnavailable(Unavailable::Timeout).message(),
			"Auth service unavailable: Connection timeout"
		);
		assert!(
			!AuthError::ServiceError {
				status: 503,
				body: ServiceBody::default()
			}
			.counts_as_failure()
		);
		assert!(denied.counts_as_failure());
	}

	#[test]
	fn privacy_pass_refusals() {
		let challenge = moq_privacy_pass::TokenChallenge::new(2, "issuer.example", Some([1; 32]), vec![]).unwrap();
		let err = AuthError::PrivacyPassChallenge(Box::new(PrivacyPassChallenge {
			challenge: challenge.clone(),
			www_authenticate: "PrivateToken challenge=\"x\"".into(),
		}));
		assert_eq!((err.code(), err.status().as_u16()), ("missing_credential", 401));
		let reason = err.reason();
		assert!(reason.starts_with("pp:"), "{reason}");
		assert_eq!(
			moq_privacy_pass::TokenChallenge::from_close_reason(&reason).unwrap(),
			challenge
		);
		assert!(err.to_string().contains("issuer.example"));

		use moq_privacy_pass::Error as E;
		assert_eq!(AuthError::from(E::TokenReplayed("n".into())).code(), "token_replayed");
		assert_eq!(
			AuthError::from(E::NonceStore("down".into())).status(),
			StatusCode::SERVICE_UNAVAILABLE
		);
		assert_eq!(
			AuthError::from(E::UnknownChallenge("d".into())).reason(),
			"invalid_token: unknown_challenge"
		);
		assert_eq!(
			AuthError::from(E::ChallengeExpired("d".into())).reason(),
			"invalid_token: challenge_expired"
		);
		assert_eq!(
			AuthError::from(E::BadSignature).reason(),
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
