//! One error type for the crate, and the stable codes it maps to.

use std::fmt;

/// The stable error codes of the token system.
///
/// They are identical in the Rust and TypeScript libraries, the CLI, the relay and the shared
/// vector corpus. Match on the code, not on the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorCode {
	/// The token is not a well-formed JWS compact serialization.
	Malformed,
	/// The token is larger than [`crate::MAX_TOKEN_LEN`].
	TooLarge,
	/// The token or key names an algorithm this library does not accept.
	UnsupportedAlgorithm,
	/// The token's `alg` differs from the key's.
	AlgorithmMismatch,
	/// The signature does not verify.
	BadSignature,
	/// The token has no `kid` and the key set cannot pick a key without one.
	MissingKid,
	/// The token's `kid` names no key of the set.
	UnknownKid,
	/// The token header lists a critical extension this library does not implement.
	UnknownCrit,
	/// `exp <= now`.
	Expired,
	/// `nbf > now`.
	NotYetValid,
	/// A claim has the wrong type or value.
	InvalidClaim,
	/// Both spellings of one claim (`pub`+`put`, `sub`+`get`).
	AmbiguousClaims,
	/// The token grants neither publish nor subscribe.
	UselessToken,
	/// The token grants more than the key's scope allows.
	ScopeExceeded,
	/// A path contains `.` or `..` segments.
	InvalidPath,
	/// The connection path is not the token root or below it.
	RootMismatch,
	/// Nothing is left to publish or subscribe at the connection path.
	NoAccess,
	/// A key could not be loaded or used.
	KeyError,
	/// The key's `key_ops` do not allow the operation.
	OperationNotAllowed,
}

impl ErrorCode {
	/// Every code, in the order of the table in docs/tokens.md#error-codes.
	pub const ALL: [ErrorCode; 19] = [
		Self::Malformed,
		Self::TooLarge,
		Self::UnsupportedAlgorithm,
		Self::AlgorithmMismatch,
		Self::BadSignature,
		Self::MissingKid,
		Self::UnknownKid,
		Self::UnknownCrit,
		Self::Expired,
		Self::NotYetValid,
		Self::InvalidClaim,
		Self::AmbiguousClaims,
		Self::UselessToken,
		Self::ScopeExceeded,
		Self::InvalidPath,
		Self::RootMismatch,
		Self::NoAccess,
		Self::KeyError,
		Self::OperationNotAllowed,
	];

	/// The code as written on the wire, in JSON and in the corpus (`bad_signature`, ...).
	pub fn as_str(self) -> &'static str {
		match self {
			Self::Malformed => "malformed",
			Self::TooLarge => "too_large",
			Self::UnsupportedAlgorithm => "unsupported_algorithm",
			Self::AlgorithmMismatch => "algorithm_mismatch",
			Self::BadSignature => "bad_signature",
			Self::MissingKid => "missing_kid",
			Self::UnknownKid => "unknown_kid",
			Self::UnknownCrit => "unknown_crit",
			Self::Expired => "expired",
			Self::NotYetValid => "not_yet_valid",
			Self::InvalidClaim => "invalid_claim",
			Self::AmbiguousClaims => "ambiguous_claims",
			Self::UselessToken => "useless_token",
			Self::ScopeExceeded => "scope_exceeded",
			Self::InvalidPath => "invalid_path",
			Self::RootMismatch => "root_mismatch",
			Self::NoAccess => "no_access",
			Self::KeyError => "key_error",
			Self::OperationNotAllowed => "operation_not_allowed",
		}
	}

	/// Parse a code from its string form.
	pub fn parse(s: &str) -> Option<Self> {
		Self::ALL.into_iter().find(|c| c.as_str() == s)
	}
}

impl fmt::Display for ErrorCode {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(self.as_str())
	}
}

/// Everything that can go wrong when loading keys, signing, verifying or authorizing.
///
/// Messages never contain secret material or token contents; they name the field or claim that
/// was wrong and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
	/// The token is not `header.payload.signature` of base64url JSON.
	#[error("malformed token: {0}")]
	Malformed(&'static str),

	/// The token is larger than the accepted maximum; it was not decoded.
	#[error("token is {len} bytes, more than the {max}-byte limit")]
	TooLarge {
		/// Size of the presented token.
		len: usize,
		/// The limit.
		max: usize,
	},

	/// An algorithm name this library does not accept.
	#[error("unsupported algorithm {0:?}: expected one of {list}", list = crate::Algorithm::NAMES.join(", "))]
	UnsupportedAlgorithm(String),

	/// The token's algorithm differs from the key's (the key pins the algorithm).
	#[error("token algorithm {token} does not match the key's {key}")]
	AlgorithmMismatch {
		/// The key's algorithm.
		key: crate::Algorithm,
		/// The token header's algorithm.
		token: crate::Algorithm,
	},

	/// The signature does not verify under the key.
	#[error("bad signature: the token was not signed by this key, or was modified")]
	BadSignature,

	/// The token has no `kid` and the key set has several verify keys.
	#[error("token has no kid and the key set has several keys: sign with a key that has an id")]
	MissingKid,

	/// No key of the set has the token's `kid`.
	#[error("no key with id {0}: add the key to the key set, or sign with a known key")]
	UnknownKid(String),

	/// The header lists a critical extension this library does not implement.
	#[error("token header marks {0:?} critical, which this verifier does not implement")]
	UnknownCrit(String),

	/// The token has expired.
	#[error("token expired at {exp} (now {now}): sign a new token")]
	Expired {
		/// The `exp` claim.
		exp: u64,
		/// The time of verification.
		now: u64,
	},

	/// The token is not valid yet.
	#[error("token is not valid before {nbf} (now {now})")]
	NotYetValid {
		/// The `nbf` claim.
		nbf: u64,
		/// The time of verification.
		now: u64,
	},

	/// A claim has the wrong JSON type or an invalid value.
	#[error("invalid claim {claim:?}: {reason}")]
	InvalidClaim {
		/// The claim's name.
		claim: &'static str,
		/// What is wrong with it.
		reason: String,
	},

	/// The token carries both spellings of one claim.
	#[error("token has both {0} claims; use one spelling")]
	AmbiguousClaims(&'static str),

	/// The token grants neither publish nor subscribe.
	#[error("token grants neither publish nor subscribe: set pub and/or sub")]
	UselessToken,

	/// The token grants more than the key's scope.
	#[error("token grants more than the key's scope allows ({0})")]
	ScopeExceeded(String),

	/// A path contains a `.` or `..` segment.
	#[error("invalid path {path:?}: {reason}")]
	InvalidPath {
		/// The offending path.
		path: String,
		/// Why.
		reason: &'static str,
	},

	/// The connection path is not the token root or below it.
	// The root comes from a token: escaped in the hint too, like every token-supplied string.
	#[error("connection path {path:?} is not within the token root {root:?}: connect to /{} or below", .root.escape_debug())]
	RootMismatch {
		/// The token root.
		root: String,
		/// The connection path.
		path: String,
	},

	/// Nothing is left to publish or subscribe at the connection path.
	#[error("the token allows nothing at {path:?}")]
	NoAccess {
		/// The connection path.
		path: String,
	},

	/// A key could not be loaded or used.
	#[error("key error: {0}")]
	Key(KeyError),

	/// The key's `key_ops` forbid the operation.
	#[error("this key may not {op}: its key_ops are {ops}")]
	OperationNotAllowed {
		/// `sign` or `verify`.
		op: &'static str,
		/// The key's operations.
		ops: String,
	},
}

impl Error {
	/// The stable code of this error.
	pub fn code(&self) -> ErrorCode {
		match self {
			Self::Malformed(_) => ErrorCode::Malformed,
			Self::TooLarge { .. } => ErrorCode::TooLarge,
			Self::UnsupportedAlgorithm(_) => ErrorCode::UnsupportedAlgorithm,
			Self::AlgorithmMismatch { .. } => ErrorCode::AlgorithmMismatch,
			Self::BadSignature => ErrorCode::BadSignature,
			Self::MissingKid => ErrorCode::MissingKid,
			Self::UnknownKid(_) => ErrorCode::UnknownKid,
			Self::UnknownCrit(_) => ErrorCode::UnknownCrit,
			Self::Expired { .. } => ErrorCode::Expired,
			Self::NotYetValid { .. } => ErrorCode::NotYetValid,
			Self::InvalidClaim { .. } => ErrorCode::InvalidClaim,
			Self::AmbiguousClaims(_) => ErrorCode::AmbiguousClaims,
			Self::UselessToken => ErrorCode::UselessToken,
			Self::ScopeExceeded(_) => ErrorCode::ScopeExceeded,
			Self::InvalidPath { .. } => ErrorCode::InvalidPath,
			Self::RootMismatch { .. } => ErrorCode::RootMismatch,
			Self::NoAccess { .. } => ErrorCode::NoAccess,
			Self::Key(_) => ErrorCode::KeyError,
			Self::OperationNotAllowed { .. } => ErrorCode::OperationNotAllowed,
		}
	}

	pub(crate) fn claim(claim: &'static str, reason: impl Into<String>) -> Self {
		Self::InvalidClaim {
			claim,
			reason: reason.into(),
		}
	}
}

// Not `#[from]`: that would also make the key error the `source`, and a cause chain would print
// it twice.
impl From<KeyError> for Error {
	fn from(e: KeyError) -> Self {
		Self::Key(e)
	}
}

/// What is wrong with a key (code `key_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
	/// The key file is neither JSON nor base64url JSON.
	#[error("not a JWK (expected JSON or base64url-encoded JSON): {0}")]
	Format(String),
	/// A required field is absent.
	#[error("missing field {0:?}")]
	MissingField(&'static str),
	/// A field has an invalid value.
	#[error("invalid field {field:?}: {reason}")]
	InvalidField {
		/// The JWK field.
		field: &'static str,
		/// Why.
		reason: String,
	},
	/// An HMAC secret shorter than 32 bytes.
	#[error("field \"k\": the secret is {0} bytes; HMAC keys need at least 32 (generate a new key)")]
	SecretTooShort(usize),
	/// The key material does not fit the algorithm.
	#[error("{0}")]
	Mismatch(String),
	/// The crypto backend refused the key material.
	#[error("the key material was rejected: {0}")]
	Rejected(String),
	/// A private operation on a key without private material.
	#[error("this is a public key; signing needs the private key")]
	MissingPrivateKey,
	/// `to_public` on a symmetric key.
	#[error("an HMAC (oct) key has no public half; share it only with verifiers you trust")]
	SymmetricHasNoPublic,
	/// The key set has no key that can sign.
	#[error("the key set has no key with private material and the sign operation")]
	NoSigningKey,
	/// Reading or writing a key file failed.
	#[error("{path}: {reason}")]
	Io {
		/// The file.
		path: String,
		/// The I/O error.
		reason: String,
	},
	/// Key generation failed in the crypto backend.
	#[error("key generation failed")]
	Generate,
}

/// A token-supplied string made safe for an error message (and so for logs): printable ASCII
/// only, at most 32 characters, so a hostile token cannot inject lines or escapes.
pub(crate) fn printable(s: &str) -> String {
	s.chars()
		.take(32)
		.map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
		.collect()
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn codes_round_trip_and_are_unique() {
		let mut seen = std::collections::HashSet::new();
		for code in ErrorCode::ALL {
			assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
			assert!(seen.insert(code.as_str()));
		}
		assert_eq!(ErrorCode::parse("nope"), None);
	}

	/// Found by the `path` fuzz target: a token root holding control characters was printed raw
	/// in the hint of `root_mismatch`, so a token could write a line of its own into a log.
	#[test]
	fn a_hostile_root_is_escaped_in_the_hint() {
		let err = Error::RootMismatch {
			root: "room\nINFO forged\u{1b}[0m".into(),
			path: "x".into(),
		};
		let message = err.to_string();
		assert!(!message.chars().any(char::is_control), "{message:?}");
		assert!(
			message.ends_with(r"connect to /room\nINFO forged\u{1b}[0m or below"),
			"{message}"
		);
		let plain = Error::RootMismatch {
			root: "room/123".into(),
			path: "room".into(),
		};
		assert_eq!(
			plain.to_string(),
			"connection path \"room\" is not within the token root \"room/123\": connect to /room/123 or below"
		);
	}

	#[test]
	fn hostile_strings_are_neutralized() {
		assert_eq!(printable("none\n\u{1b}[31mINFO fake"), "none??[31mINFO fake");
		assert_eq!(printable(&"x".repeat(100)).len(), 32);
		let err = "HS256\r\nadmin: true".parse::<crate::Algorithm>().unwrap_err();
		assert!(
			!err.to_string().contains('\n') && !err.to_string().contains('\r'),
			"{err}"
		);
	}
}
