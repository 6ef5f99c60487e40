//! Key ids (`kid`): 1..=128 characters of `[A-Za-z0-9_-]`, since a kid becomes a file name and a
//! URL segment.

use crate::KeyError;
use std::fmt;

/// A validated key id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

/// The longest accepted key id.
pub const MAX_KID_LEN: usize = 128;

impl KeyId {
	/// Validate a key id.
	pub fn new(kid: &str) -> Result<Self, KeyError> {
		if Self::is_valid(kid) {
			Ok(Self(kid.to_string()))
		} else {
			Err(KeyError::InvalidField {
				field: "kid",
				reason: format!("must be 1 to {MAX_KID_LEN} characters of A-Z a-z 0-9 _ -"),
			})
		}
	}

	/// Whether `kid` is a well-formed key id.
	pub fn is_valid(kid: &str) -> bool {
		(1..=MAX_KID_LEN).contains(&kid.len())
			&& kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
	}

	/// The id as a string.
	pub fn as_str(&self) -> &str {
		&self.0
	}
}

impl fmt::Display for KeyId {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(&self.0)
	}
}

impl fmt::Debug for KeyId {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		write!(f, "{:?}", self.0)
	}
}

impl std::str::FromStr for KeyId {
	type Err = KeyError;
	fn from_str(s: &str) -> Result<Self, KeyError> {
		Self::new(s)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn validates() {
		for ok in ["a", "abc-123_DEF", &"x".repeat(128)] {
			assert!(KeyId::new(ok).is_ok(), "{ok}");
		}
		for bad in ["", "../etc/passwd", "a b", "a/b", ".", "..", "é", &"x".repeat(129)] {
			assert!(KeyId::new(bad).is_err(), "{bad}");
		}
	}
}
