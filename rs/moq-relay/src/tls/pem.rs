//! PEM files (RFC 7468) read with `rustls-pki-types`' [`PemObject`], their errors mapped to
//! [`TlsError`]s that name the file and never quote its content (a key file's lines are secret).

use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// Every `CERTIFICATE` section of `path`, in order (none is not an error here).
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
	let name = || path.display().to_string();
	CertificateDer::pem_file_iter(path)
		.map_err(|err| error(name(), err))?
		.collect::<Result<_, _>>()
		.map_err(|err| error(name(), err))
}

/// The first private key section of `path` (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
	PrivateKeyDer::from_pem_file(path).map_err(|err| error(path.display().to_string(), err))
}

/// [`certificates`] of PEM held in memory; `name` stands for the file in errors.
pub(crate) fn certificates_in(pem: &[u8], name: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
	CertificateDer::pem_slice_iter(pem)
		.collect::<Result<_, _>>()
		.map_err(|err| error(name.to_string(), err))
}

/// [`private_key`] of PEM held in memory; `name` stands for the file in errors.
pub(crate) fn private_key_in(pem: &[u8], name: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
	PrivateKeyDer::from_pem_slice(pem).map_err(|err| error(name.to_string(), err))
}

fn error(path: String, err: pem::Error) -> TlsError {
	let reason = match err {
		pem::Error::Io(source) => return TlsError::Read { path, source },
		pem::Error::NoItemsFound => return TlsError::NoKey(path),
		pem::Error::MissingSectionEnd { .. } => "a section has no END line",
		pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
		pem::Error::Base64Decode(_) => "a section is not valid base64",
		pem::Error::SectionTooLarge => "a section is too large",
		_ => "unreadable PEM",
	};
	TlsError::Pem { path, reason }
}

#[cfg(test)]
mod tests {
	use super::*;

	/// A scratch directory removed on drop.
	struct Scratch(std::path::PathBuf);

	impl Scratch {
		fn new(name: &str) -> Self {
			let dir = std::env::temp_dir().join(format!("moq-relay-pem-{name}-{}", std::process::id()));
			std::fs::create_dir_all(&dir).unwrap();
			Self(dir)
		}

		fn file(&self, name: &str, content: &str) -> std::path::PathBuf {
			let path = self.0.join(name);
			std::fs::write(&path, content).unwrap();
			path
		}
	}

	impl Drop for Scratch {
		fn drop(&mut self) {
			let _ = std::fs::remove_dir_all(&self.0);
		}
	}

	#[test]
	fn errors_name_the_file_and_never_quote_it() {
		let dir = Scratch::new("errors");
		let missing = dir.0.join("missing.pem");
		assert!(matches!(certificates(&missing), Err(TlsError::Read { .. })));
		assert!(matches!(private_key(&missing), Err(TlsError::Read { .. })));

		let text = dir.file("text.pem", "not PEM at all\n");
		assert!(certificates(&text).unwrap().is_empty());
		assert!(matches!(private_key(&text), Err(TlsError::NoKey(p)) if p == text.display().to_string()));

		let secret = "c2VjcmV0LXNlY3JldA";
		let broken = dir.file(
			"broken.pem",
			&format!("-----BEGIN PRIVATE KEY-----\n{secret}!!\n-----END PRIVATE KEY-----\n"),
		);
		let err = private_key(&broken).unwrap_err();
		assert!(matches!(err, TlsError::Pem { .. }), "{err}");
		let shown = format!("{err} {err:?}");
		assert!(shown.contains("broken.pem") && !shown.contains(secret), "{shown}");

		let unterminated = dir.file("unterminated.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
		let err = certificates(&unterminated).unwrap_err();
		assert!(err.to_string().contains("unterminated.pem"), "{err}");
	}
}
