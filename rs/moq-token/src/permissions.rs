//! Authorizing a connection: a token's claims re-based to the connection path
//! (docs/tokens.md#authorizing-a-connection).

use crate::{Claims, Error, Path, Patterns, Result};

/// What a session connected at one path may publish and subscribe, relative to that path.
///
/// Built only by [`Claims::authorize`], so it always reflects a verified token and a connection
/// path within its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
	/// Publish patterns relative to the connection path; `**` means everything.
	pub publish: Patterns,
	/// Subscribe patterns relative to the connection path; `**` means everything.
	pub subscribe: Patterns,
}

impl Permissions {
	/// Whether the session may publish (announce) `path`, relative to its connection path.
	pub fn can_publish(&self, path: &Path) -> bool {
		self.publish.matches(path)
	}

	/// Whether the session may subscribe to `path`, relative to its connection path.
	pub fn can_subscribe(&self, path: &Path) -> bool {
		self.subscribe.matches(path)
	}
}

impl Claims {
	/// Authorize a connection at `connect` (the URL path).
	///
	/// The connection path must be the root or below it (`root_mismatch` otherwise; upstream's
	/// moq-auth also admits a path above the root, this library does not). Each pattern is
	/// re-based to the connection path exactly as upstream re-bases it: what it matches below the
	/// connection path, relative to it. Nothing left to do is `no_access`.
	pub fn authorize(&self, connect: &Path) -> Result<Permissions> {
		let below = connect.strip_prefix(&self.root).ok_or_else(|| Error::RootMismatch {
			root: self.root.to_string(),
			path: connect.to_string(),
		})?;
		let permissions = Permissions {
			publish: self.publish.rebase(&below),
			subscribe: self.subscribe.rebase(&below),
		};
		if permissions.publish.is_empty() && permissions.subscribe.is_empty() {
			return Err(Error::NoAccess {
				path: connect.to_string(),
			});
		}
		Ok(permissions)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::ErrorCode;

	fn p(s: &str) -> Path {
		Path::new(s).unwrap()
	}

	/// The table of docs/tokens.md#authorizing-a-connection, row for row: root `room/123`, pub `alice`, sub `""`.
	#[test]
	fn spec_table() {
		let claims = Claims::new(p("room/123"))
			.with_publish(p("alice"))
			.with_subscribe(Path::root());

		let at = claims.authorize(&p("/room/123")).unwrap();
		assert!(at.can_publish(&p("alice")) && at.can_publish(&p("alice/camera")));
		assert!(!at.can_publish(&p("bob/camera")) && !at.can_publish(&p("alicex")));
		assert!(at.can_subscribe(&p("bob/screen")) && at.can_subscribe(&p("anything/at/all")));

		let alice = claims.authorize(&p("/room/123/alice")).unwrap();
		assert!(alice.can_publish(&p("camera")) && alice.can_publish(&p("x/y")));
		assert!(alice.can_subscribe(&p("anything")));

		let bob = claims.authorize(&p("/room/123/bob")).unwrap();
		assert!(!bob.can_publish(&p("camera")) && !bob.can_publish(&Path::root()));
		assert!(bob.can_subscribe(&p("screen")));

		for refused in ["/room", "/room/1234", "/secret", "/"] {
			assert_eq!(
				claims.authorize(&p(refused)).unwrap_err().code(),
				ErrorCode::RootMismatch,
				"{refused}"
			);
		}
		// `../secret` never becomes a path, and `alicex` is a different segment.
		assert_eq!(Path::new("../secret").unwrap_err().code(), ErrorCode::InvalidPath);
	}

	#[test]
	fn no_access_when_nothing_reaches_the_connection_path() {
		let claims = Claims::new(p("room")).with_publish(p("alice"));
		assert_eq!(
			claims.authorize(&p("room/bob")).unwrap_err().code(),
			ErrorCode::NoAccess
		);
		let ok = claims.authorize(&p("room/alice/cam")).unwrap();
		assert_eq!(ok.publish, Patterns::all());
		assert!(ok.subscribe.is_empty());
	}

	#[test]
	fn seed_restricted_example() {
		// The conference example of docs/auth.md: root conference/room-1, pub alice, sub alice,bob
		let claims = Claims::new(p("conference/room-1"))
			.with_publish(p("alice"))
			.with_subscribe(p("alice"))
			.with_subscribe(p("bob"));
		let at = claims.authorize(&p("conference/room-1")).unwrap();
		assert!(at.can_publish(&p("alice/camera")) && at.can_publish(&p("alice/audio")));
		assert!(at.can_subscribe(&p("alice/camera")) && at.can_subscribe(&p("bob/screen-share")));
		assert!(!at.can_publish(&p("bob/camera")));
		assert!(!at.can_subscribe(&p("carol")));
		assert_eq!(
			claims.authorize(&p("other-room")).unwrap_err().code(),
			ErrorCode::RootMismatch
		);
	}
}
