//! Key files: read JSON or base64url; write private material with mode 0600.

use crate::{Key, KeyError, KeySet, Result};
use std::{fs, io::Write, path::Path};

/// How a key file is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyFormat {
	/// base64url of the JWK JSON, the default key file format (docs/tokens.md#keys).
	#[default]
	Base64Url,
	/// Readable JSON.
	Json,
}

fn io_error(path: &Path, e: std::io::Error) -> KeyError {
	KeyError::Io {
		path: path.display().to_string(),
		reason: e.to_string(),
	}
}

impl Key {
	/// Read a key file (JSON or base64url JSON).
	pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
		let path = path.as_ref();
		let text = fs::read_to_string(path).map_err(|e| io_error(path, e))?;
		Self::parse(&text)
	}

	/// Write the key to a file. Files holding private material get mode 0600, and an existing
	/// looser file is tightened before anything is written to it.
	pub fn to_file(&self, path: impl AsRef<Path>, format: KeyFormat) -> Result<()> {
		let text = match format {
			KeyFormat::Base64Url => self.to_base64url(),
			KeyFormat::Json => self.to_json_pretty(),
		};
		write(path.as_ref(), &text, self.is_private())
	}
}

impl KeySet {
	/// Read a JWKS file.
	pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
		let path = path.as_ref();
		let text = fs::read_to_string(path).map_err(|e| io_error(path, e))?;
		Self::parse(&text)
	}

	/// Write the set as JSON; mode 0600 if any key holds private material.
	pub fn to_file(&self, path: impl AsRef<Path>) -> Result<()> {
		write(path.as_ref(), &self.to_json(), self.keys().iter().any(Key::is_private))
	}
}

fn write(path: &Path, text: &str, private: bool) -> Result<()> {
	let mut options = fs::OpenOptions::new();
	options.write(true).create(true).truncate(true);
	#[cfg(unix)]
	if private {
		use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
		options.mode(0o600);
		if path.exists() {
			fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| io_error(path, e))?;
		}
	}
	let mut file = options.open(path).map_err(|e| io_error(path, e))?;
	file.write_all(text.as_bytes()).map_err(|e| io_error(path, e))?;
	file.write_all(b"\n").map_err(|e| io_error(path, e))?;
	Ok(())
}
