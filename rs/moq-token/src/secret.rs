//! Secret bytes: zeroed on drop, never printed.

use std::fmt;
use zeroize::Zeroizing;

/// Private key material. `Debug` prints `[redacted]`, so a key in a log line leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
	/// Wrap bytes.
	pub fn new(bytes: Vec<u8>) -> Self {
		Self(Zeroizing::new(bytes))
	}

	/// The secret bytes.
	pub fn expose(&self) -> &[u8] {
		&self.0
	}
}

impl fmt::Debug for Secret {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str("[redacted]")
	}
}
