//! The one certificate resolver every listener shares: the quinn (QUIC, WebTransport) and the HTTPS
//! rustls configurations both ask it for the certificate of each handshake, so a certificate
//! installed while the relay runs (an ACME issuance or renewal) is served by every new handshake
//! at once, and live connections keep theirs.
//!
//! It also answers ACME TLS-ALPN-01 validations (RFC 8737 §3): a ClientHello that offers only the
//! `acme-tls/1` protocol gets the challenge certificate of the name it asks for, never the served one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

use super::{Certificate, TlsError, provider};

/// The ALPN protocol of TLS-ALPN-01 validations (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// What the resolver serves now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Served {
	/// No certificate yet (ACME: the first one is being ordered); handshakes fail.
	#[default]
	None,
	/// A certificate.
	Certificate {
		/// Lowercase hex SHA-256 of the leaf.
		fingerprint: String,
		/// The leaf's notAfter, when known.
		not_after: Option<SystemTime>,
		/// Whether a browser can pin it ([`Served::pinnable_fingerprint`]), decided when it is
		/// installed rather than on every page that asks.
		pinnable: bool,
	},
}

impl Served {
	/// The fingerprint of the served certificate.
	pub fn fingerprint(&self) -> Option<&str> {
		match self {
			Self::None => None,
			Self::Certificate { fingerprint, .. } => Some(fingerprint),
		}
	}

	/// The fingerprint of the served certificate if a browser can pin it with WebTransport's
	/// `serverCertificateHashes`: the W3C WebTransport spec accepts only a certificate whose
	/// validity period is at most two weeks (the generated development certificate, not a CA's).
	pub fn pinnable_fingerprint(&self) -> Option<&str> {
		match self {
			Self::Certificate {
				fingerprint,
				pinnable: true,
				..
			} => Some(fingerprint),
			_ => None,
		}
	}
}

/// The certificate resolver of the relay's listeners.
#[derive(Debug)]
pub struct Resolver {
	current: RwLock<Option<Arc<CertifiedKey>>>,
	/// TLS-ALPN-01 challenge certificates by DNS name (lowercase).
	challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
	served: watch::Sender<Served>,
	/// Why there is no certificate yet (for `/ready` and the log), while there is none.
	waiting: watch::Sender<Option<String>>,
}

impl Default for Resolver {
	fn default() -> Self {
		Self {
			current: RwLock::new(None),
			challenges: RwLock::new(HashMap::new()),
			served: watch::channel(Served::None).0,
			waiting: watch::channel(None).0,
		}
	}
}

impl Resolver {
	/// A resolver serving `certificate`.
	pub fn serving(certificate: &Certificate) -> Result<Arc<Self>, TlsError> {
		let resolver = Arc::new(Self::default());
		resolver.install(certificate, None)?;
		Ok(resolver)
	}

	/// Serves `certificate` from the next handshake on.
	pub fn install(&self, certificate: &Certificate, not_after: Option<SystemTime>) -> Result<(), TlsError> {
		let key = provider().key_provider.load_private_key(certificate.key.clone_key())?;
		let certified = Arc::new(CertifiedKey::new(certificate.chain.clone(), key));
		let pinnable = certificate.chain.first().is_some_and(|leaf| {
			super::acme::Validity::of(leaf).is_ok_and(|v| {
				v.not_after
					.duration_since(v.not_before)
					.is_ok_and(|lifetime| lifetime <= super::MAX_VALIDITY)
			})
		});
		*self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(certified);
		self.waiting.send_replace(None);
		self.served.send_replace(Served::Certificate {
			fingerprint: certificate.fingerprint().to_string(),
			not_after,
			pinnable,
		});
		Ok(())
	}

	/// What is served now.
	pub fn served(&self) -> Served {
		self.served.borrow().clone()
	}

	/// Changes of [`Resolver::served`].
	pub fn watch(&self) -> watch::Receiver<Served> {
		self.served.subscribe()
	}

	/// Records why no certificate is served yet (shown by `/ready`).
	pub fn set_waiting(&self, reason: impl Into<String>) {
		self.waiting.send_replace(Some(reason.into()));
	}

	/// Why no certificate is served yet, while none is.
	pub fn waiting(&self) -> Option<String> {
		match self.served() {
			Served::None => Some(
				self.waiting
					.borrow()
					.clone()
					.unwrap_or_else(|| "no certificate yet".to_string()),
			),
			Served::Certificate { .. } => None,
		}
	}

	/// Answers TLS-ALPN-01 validations of `name` with `certificate` until [`Resolver::clear_challenge`].
	pub fn set_challenge(&self, name: &str, certificate: Arc<CertifiedKey>) {
		let mut challenges = self.challenges.write().unwrap_or_else(|e| e.into_inner());
		challenges.insert(name.to_ascii_lowercase(), certificate);
	}

	/// Stops answering validations of `name`.
	pub fn clear_challenge(&self, name: &str) {
		let mut challenges = self.challenges.write().unwrap_or_else(|e| e.into_inner());
		challenges.remove(&name.to_ascii_lowercase());
	}
}

/// Whether a ClientHello is a TLS-ALPN-01 validation: it offers `acme-tls/1` and nothing else.
pub fn is_validation(hello: &ClientHello<'_>) -> bool {
	hello.alpn().is_some_and(|mut offered| {
		let first = offered.next();
		first == Some(ACME_TLS_ALPN) && offered.next().is_none()
	})
}

impl ResolvesServerCert for Resolver {
	fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
		if is_validation(&hello) {
			let name = hello.server_name()?.to_ascii_lowercase();
			let challenges = self.challenges.read().unwrap_or_else(|e| e.into_inner());
			return challenges.get(&name).cloned();
		}
		self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
	}
}

#[cfg(test)]
mod tests {
	use std::time::Duration;

	use super::*;

	/// The generated development certificate (valid for 14 days) can be pinned; a certificate valid
	/// for a year, as a CA issues, cannot; nothing served, nothing to pin.
	#[test]
	fn only_short_lived_certificates_are_pinnable() {
		assert_eq!(Resolver::default().served().pinnable_fingerprint(), None);
		let generated = Certificate::generate(&["localhost".into()]).unwrap();
		assert_eq!(
			Resolver::serving(&generated).unwrap().served().pinnable_fingerprint(),
			Some(generated.fingerprint())
		);

		let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
		let mut params = rcgen::CertificateParams::new(vec!["relay.example".into()]).unwrap();
		let now = SystemTime::now();
		params.not_before = now.into();
		params.not_after = (now + Duration::from_secs(365 * 86_400)).into();
		let long = params.self_signed(&key).unwrap();
		let dir = std::env::temp_dir().join(format!("moq-relay-pinnable-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		let (cert, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
		std::fs::write(&cert, long.pem()).unwrap();
		std::fs::write(&key_file, key.serialize_pem()).unwrap();
		let loaded = Certificate::load(&cert, &key_file).unwrap();
		let resolver = Resolver::serving(&loaded).unwrap();
		assert_eq!(resolver.served().pinnable_fingerprint(), None);
		// Installing the short-lived one after it makes it pinnable again.
		resolver.install(&generated, None).unwrap();
		assert_eq!(resolver.served().pinnable_fingerprint(), Some(generated.fingerprint()));
		let _ = std::fs::remove_dir_all(dir);
	}
}
