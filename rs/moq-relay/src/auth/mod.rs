//! Who may do what: from a session's connection request to its [`Grant`].
//!
//! The session driver consults only the [`Grant`]: it never looks at
//! credentials, keys or configuration. Every credential type (today: none, the
//! anonymous grant of `auth.public`; later: JWTs, API keys, Privacy Pass) is a
//! way for [`Auth::authorize`] to build one, so adding one does not touch the
//! session code.

mod grant;

pub use grant::Grant;

use moq_token::Path;

/// What the relay knows about a session when it decides: the connection path
/// and the query (which carries credentials and is never logged).
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectRequest {
	path: Path,
	query: Option<String>,
}

impl std::fmt::Debug for ConnectRequest {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		// relay.md §1: "The query carries credentials and must never be logged."
		f.debug_struct("ConnectRequest")
			.field("path", &self.path)
			.field("query", &self.query.as_ref().map(|_| "<redacted>"))
			.finish()
	}
}

impl ConnectRequest {
	/// Splits `"/path?query"` (a CONNECT `:path` or a SETUP Path value) and
	/// normalizes the path. An empty string or `/` is the root.
	pub fn parse(target: &str) -> Result<Self, AuthError> {
		let (path, query) = match target.split_once('?') {
			Some((path, query)) => (path, Some(query.to_string())),
			None => (target, None),
		};
		let path = Path::new(path).map_err(|_| AuthError::InvalidPath)?;
		Ok(Self {
			path,
			query: query.filter(|q| !q.is_empty()),
		})
	}

	/// The connection path (the session's root).
	pub fn path(&self) -> &Path {
		&self.path
	}

	/// The credential in the query, if any: the last non-empty `jwt=`, `token=`
	/// or `auth_id=` value (relay.md §3).
	fn credential(&self) -> Option<&str> {
		let query = self.query.as_deref()?;
		query
			.split('&')
			.filter_map(|pair| pair.split_once('='))
			.filter(|(key, value)| matches!(*key, "jwt" | "token" | "auth_id") && !value.is_empty())
			.map(|(_, value)| value)
			.next_back()
	}
}

/// Why a session was refused. [`AuthError::code`] is the close reason the
/// client sees (relay.md §3), with the unauthorized session code 0x2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
	/// No credential, and the path is not under the public prefix.
	#[error("no credential was presented and {0:?} is not public")]
	MissingCredential(String),
	/// A credential was presented but no verifier is configured for it.
	#[error("a credential was presented but this relay has no token verifier configured")]
	InvalidToken,
	/// The connection path is not a valid path (a `.` or `..` segment).
	#[error("the connection path is not a valid broadcast path")]
	InvalidPath,
}

impl AuthError {
	/// The stable error code, sent as the session close reason.
	pub fn code(&self) -> &'static str {
		match self {
			AuthError::MissingCredential(_) => "missing_credential",
			AuthError::InvalidToken => "invalid_token",
			AuthError::InvalidPath => "unauthorized",
		}
	}
}

/// The authorization policy built from `[auth]`.
#[derive(Debug, Clone, Default)]
pub struct Auth {
	public: Option<Path>,
}

impl Auth {
	/// A policy whose only method is anonymous access below `public`
	/// (`None` = no anonymous access; the root = everything).
	pub fn new(public: Option<Path>) -> Self {
		Self { public }
	}

	/// The anonymous prefix, if any.
	pub fn public(&self) -> Option<&Path> {
		self.public.as_ref()
	}

	/// Decides a session: its grant, or why it is refused.
	///
	/// relay.md §3: "No credential: the anonymous grant of `auth.public`", and
	/// "A credential that fails is never downgraded to anonymous access."
	pub fn authorize(&self, request: &ConnectRequest) -> Result<Grant, AuthError> {
		if request.credential().is_some() {
			return Err(AuthError::InvalidToken);
		}
		let root = request.path();
		let missing = || AuthError::MissingCredential(root.to_string());
		let public = self.public.as_ref().ok_or_else(missing)?;
		// A session at or below the public prefix may do anything below its root;
		// a session above it may reach only the public subtree.
		let scope = if root.has_prefix(public) {
			Path::root()
		} else {
			public.strip_prefix(root).ok_or_else(missing)?
		};
		Ok(Grant::new(root.clone(), vec![scope.clone()], vec![scope]))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn req(target: &str) -> ConnectRequest {
		ConnectRequest::parse(target).unwrap()
	}

	fn path(p: &str) -> Path {
		Path::new(p).unwrap()
	}

	#[test]
	fn public_prefix_grants_below_it() {
		let auth = Auth::new(Some(path("anon")));
		let grant = auth.authorize(&req("/anon")).unwrap();
		assert_eq!(grant.root(), &path("anon"));
		assert!(grant.can_publish(&path("clock")));
		assert!(grant.can_subscribe(&Path::root()));

		let grant = auth.authorize(&req("/anon/room/")).unwrap();
		assert_eq!(grant.root(), &path("anon/room"));
		assert!(grant.can_publish(&path("x")));

		// At the root: only the public subtree.
		let grant = auth.authorize(&req("/")).unwrap();
		assert!(grant.can_publish(&path("anon/x")));
		assert!(!grant.can_publish(&path("private/x")));
		assert!(!grant.can_subscribe(&path("anonymous")));
	}

	#[test]
	fn refusals_carry_the_spec_codes() {
		let auth = Auth::new(Some(path("anon")));
		assert_eq!(
			auth.authorize(&req("/private")).unwrap_err().code(),
			"missing_credential"
		);
		assert_eq!(
			auth.authorize(&req("/anonymous")).unwrap_err().code(),
			"missing_credential"
		);
		assert_eq!(
			Auth::new(None).authorize(&req("/anon")).unwrap_err().code(),
			"missing_credential"
		);
		// A credential is never downgraded to anonymous access.
		assert_eq!(
			auth.authorize(&req("/anon?jwt=abc")).unwrap_err().code(),
			"invalid_token"
		);
		assert!(auth.authorize(&req("/anon?jwt=")).is_ok());
		assert_eq!(ConnectRequest::parse("/a/../b").unwrap_err().code(), "unauthorized");
	}

	#[test]
	fn everything_is_public_with_the_root() {
		let auth = Auth::new(Some(Path::root()));
		let grant = auth.authorize(&req("")).unwrap();
		assert!(grant.can_publish(&path("any/thing")));
	}

	#[test]
	fn query_is_redacted_in_debug() {
		let text = format!("{:?}", req("/anon?jwt=secret"));
		assert!(!text.contains("secret"), "{text}");
	}
}
