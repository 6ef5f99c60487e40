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

	/// Write the key to a file, replacing it whole or not at all (through a temporary file
	/// renamed into place). Files holding private material get mode 0600, an existing looser
	/// file included.
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

/// Writes `text` and a newline to `path` through a temporary file beside it, renamed over `path`
/// once complete: a failed write (a full disk) leaves the file as it was, never truncated or half
/// written, and a reader (the relay reloading its keys) sees the old file or the new one.
/// Private material gets mode 0600 from the start; otherwise an existing file's mode is kept. A
/// symbolic link is written through, as before.
fn write(path: &Path, text: &str, private: bool) -> Result<()> {
	let fail = |e| io_error(path, e);
	let target = if path.is_symlink() {
		fs::canonicalize(path).map_err(fail)?
	} else {
		path.to_path_buf()
	};
	let name = target
		.file_name()
		.ok_or_else(|| fail(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
	let partial = target.with_file_name(format!(".{}.partial-{}", name.to_string_lossy(), std::process::id()));
	// A stale temporary file (a crash) is replaced; `create_new` never follows a link planted there.
	let _ = fs::remove_file(&partial);
	let written = (|| {
		let mut options = fs::OpenOptions::new();
		options.write(true).create_new(true);
		#[cfg(unix)]
		if private {
			std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
		}
		let mut file = options.open(&partial)?;
		if !private && let Ok(existing) = fs::metadata(&target) {
			file.set_permissions(existing.permissions())?;
		}
		file.write_all(text.as_bytes())?;
		file.write_all(b"\n")?;
		file.sync_all()?;
		fs::rename(&partial, &target)
	})();
	Ok(written.map_err(|e| {
		let _ = fs::remove_file(&partial);
		fail(e)
	})?)
}

#[cfg(all(test, unix))]
mod tests {
	use super::*;
	use crate::{Algorithm, KeyId};
	use std::os::unix::fs::PermissionsExt;

	fn mode(path: &Path) -> u32 {
		fs::metadata(path).unwrap().permissions().mode() & 0o777
	}

	#[test]
	fn files_are_replaced_whole_keeping_links_and_modes() {
		let dir = std::env::temp_dir().join(format!("moq-token-fs-{}", std::process::id()));
		let _ = fs::remove_dir_all(&dir);
		fs::create_dir_all(&dir).unwrap();
		let key = |kid: &str| Key::generate(Algorithm::ES256, Some(KeyId::new(kid).unwrap())).unwrap();

		// A public set keeps the mode its owner gave it; the directory holds no temporary file.
		let set = dir.join("keys.json");
		KeySet::new(vec![key("a").to_public().unwrap()])
			.unwrap()
			.to_file(&set)
			.unwrap();
		fs::set_permissions(&set, fs::Permissions::from_mode(0o640)).unwrap();
		KeySet::new(vec![key("b").to_public().unwrap()])
			.unwrap()
			.to_file(&set)
			.unwrap();
		assert_eq!(mode(&set), 0o640);
		assert_eq!(KeySet::from_file(&set).unwrap().keys()[0].kid().unwrap().as_str(), "b");

		// A private key over a looser file: 0600.
		fs::set_permissions(&set, fs::Permissions::from_mode(0o644)).unwrap();
		key("c").to_file(&set, KeyFormat::Json).unwrap();
		assert_eq!(mode(&set), 0o600);

		// Written through a symbolic link, which stays a link.
		let link = dir.join("current.jwk");
		std::os::unix::fs::symlink(&set, &link).unwrap();
		key("d").to_file(&link, KeyFormat::Base64Url).unwrap();
		assert!(link.is_symlink());
		assert_eq!(Key::from_file(&set).unwrap().kid().unwrap().as_str(), "d");

		let mut names: Vec<String> = fs::read_dir(&dir)
			.unwrap()
			.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
			.collect();
		names.sort();
		assert_eq!(names, ["current.jwk", "keys.json"]);
		fs::remove_dir_all(&dir).unwrap();
	}
}
