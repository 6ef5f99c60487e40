//! Certificates: loaded from PEM files, generated self-signed for development, or obtained from an
//! ACME CA ([`acme`]); every listener serves them through one [`Resolver`] (`docs/tls.md`).
//!
//! Generated certificates follow the browser `serverCertificateHashes` rule
//! (`docs/relay.md`; `docs/protocol.md`, "Development certificates"): ECDSA P-256, valid from now-1d for at most 14 days in all.

pub mod acme;
mod client;
mod pem;
mod resolver;

pub use client::{Trust, client_config};
pub use resolver::{ACME_TLS_ALPN, Resolver, Served};

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate could not be loaded or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
	/// A certificate or key file could not be read.
	#[error("cannot read {path}")]
	Read {
		/// The file.
		path: String,
		/// Why.
		source: std::io::Error,
	},
	/// The certificate file held no certificate.
	#[error("{0} holds no PEM certificate")]
	NoCertificate(String),
	/// The key file held no private key.
	#[error("{0} holds no PEM private key")]
	NoKey(String),
	/// A file is not well-formed PEM.
	#[error("{path} is not valid PEM: {reason}")]
	Pem {
		/// The file.
		path: String,
		/// What is wrong (never the file's content).
		reason: &'static str,
	},
	/// A certificate or key file is well-formed PEM, but rustls cannot use what it holds.
	#[error("{path} is unusable: {source}")]
	Unusable {
		/// The file.
		path: String,
		/// Why.
		source: rustls::Error,
	},
	/// The key is not the certificate's.
	#[error("the private key in {key} does not match the certificate in {cert}")]
	KeyMismatch {
		/// The certificate file.
		cert: String,
		/// The key file.
		key: String,
	},
	/// Generation failed.
	#[error("cannot generate a certificate: {0}")]
	Generate(#[from] rcgen::Error),
	/// rustls refused the certificate/key pair.
	#[error("rustls refused the certificate: {0}")]
	Rustls(#[from] rustls::Error),
	/// A trust setting is unusable.
	#[error("{0}")]
	Invalid(String),
	/// ACME cannot work as configured.
	#[error(transparent)]
	Acme(#[from] acme::AcmeError),
}

impl TlsError {
	/// The stable code.
	pub fn code(&self) -> &'static str {
		match self {
			Self::Read { .. } => "tls_file_unreadable",
			Self::NoCertificate(_) => "tls_no_certificate",
			Self::NoKey(_) => "tls_no_key",
			Self::Pem { .. } => "tls_invalid_pem",
			Self::Unusable { .. } => "tls_unusable",
			Self::KeyMismatch { .. } => "tls_key_mismatch",
			Self::Generate(_) => "tls_generate_failed",
			Self::Rustls(_) => "tls_refused",
			Self::Invalid(_) => "tls_invalid",
			Self::Acme(err) => err.code(),
		}
	}
}

/// Where the relay's certificate comes from.
#[derive(Clone, Debug)]
pub enum Source {
	/// Loaded from files, or generated: served as it is.
	Static(Certificate),
	/// Obtained from an ACME CA, renewed while the relay runs.
	Acme(Arc<acme::AcmeSettings>),
}

/// A rustls server configuration whose certificates come from `resolver`, offering `alpn`.
pub fn server_config(resolver: Arc<Resolver>, alpn: &[&[u8]]) -> Result<rustls::ServerConfig, TlsError> {
	let mut config = rustls::ServerConfig::builder_with_provider(server_provider())
		.with_safe_default_protocol_versions()?
		.with_no_client_auth()
		.with_cert_resolver(resolver);
	serve(&mut config, alpn.iter().copied())?;
	Ok(config)
}

/// What every server configuration of the relay shares: AES-128-GCM in the server's order
/// ([`server_provider`]), `alpn`, and stateless session tickets.
///
/// Tickets: a client that reconnects presents one and resumes (RFC 8446, section 2.2): the
/// relay skips its certificate message and signature, and the client its certificate check; the
/// key exchange still runs (`psk_dhe_ke`), so traffic keeps forward secrecy. The tickets are
/// encrypted with a key that rustls draws at random, rotates every 6 hours and keeps nowhere but
/// in memory (a ticket lives at most 12 hours, and a restart or another relay of a cluster refuses it:
/// that client does a full handshake). Stateless, so every client can resume, not only the
/// last 256 of rustls' default session cache. 0-RTT stays off (`max_early_data_size` 0): a
/// replayed first flight cannot reach the relay. Admission does not depend on the TLS session: a
/// resumed session's SETUP or CONNECT is checked like any other (docs/tls.md, "Session resumption").
fn serve<'a>(config: &mut rustls::ServerConfig, alpn: impl Iterator<Item = &'a [u8]>) -> Result<(), TlsError> {
	config.ignore_client_order = true;
	config.alpn_protocols = alpn.map(<[u8]>::to_vec).collect();
	config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
	Ok(())
}

/// A certificate chain and its private key.
#[derive(Debug)]
pub struct Certificate {
	chain: Vec<CertificateDer<'static>>,
	key: PrivateKeyDer<'static>,
	fingerprint: String,
	/// rcgen's PEM of a generated certificate; `None` for one loaded from files.
	generated_pem: Option<String>,
}

impl Clone for Certificate {
	fn clone(&self) -> Self {
		Self {
			chain: self.chain.clone(),
			key: self.key.clone_key(),
			fingerprint: self.fingerprint.clone(),
			generated_pem: self.generated_pem.clone(),
		}
	}
}

/// The one crypto provider of the relay: aws-lc-rs.
pub fn provider() -> Arc<CryptoProvider> {
	Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The provider of the relay's server configurations: [`provider`] with AES-128-GCM ahead of
/// AES-256-GCM, applied in the server's order (`ignore_client_order`). Every byte a relay sends is
/// encrypted once per subscriber, and AES-128 (10 rounds) costs about three quarters of AES-256
/// (14) per byte; rustls-based clients list AES-256 first, browsers AES-128. Both are TLS 1.3's
/// mandatory-to-implement AES-128-GCM and its 256-bit sibling (RFC 8446, section 9.1); a client that
/// offers only one gets that one.
pub fn server_provider() -> Arc<CryptoProvider> {
	let mut provider = rustls::crypto::aws_lc_rs::default_provider();
	provider
		.cipher_suites
		.sort_by_key(|suite| suite.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
	Arc::new(provider)
}

/// The longest validity period a browser accepts for `serverCertificateHashes`.
pub const MAX_VALIDITY: Duration = Duration::from_secs(14 * 86_400);

fn sha256_hex(bytes: &[u8]) -> String {
	let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
	hex::encode(digest)
}

impl Certificate {
	/// A self-signed ECDSA P-256 certificate for `hosts` (DNS names or IPs),
	/// valid from one day ago for 14 days (to 13 days from now).
	///
	/// Browsers accept a `serverCertificateHashes` certificate only if its whole
	/// validity period (notAfter - notBefore) is at most 14 days: Chromium
	/// refuses a now-1d..now+14d certificate (15 days).
	pub fn generate(hosts: &[String]) -> Result<Self, TlsError> {
		let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
		let mut params = rcgen::CertificateParams::new(hosts.to_vec())?;
		let not_before = SystemTime::now() - Duration::from_secs(86_400);
		params.not_before = not_before.into();
		params.not_after = (not_before + MAX_VALIDITY).into();
		params
			.distinguished_name
			.push(rcgen::DnType::CommonName, hosts.first().cloned().unwrap_or_default());
		let cert = params.self_signed(&key)?;
		let der = cert.der().clone();
		Ok(Self {
			fingerprint: sha256_hex(&der),
			chain: vec![der],
			key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
			generated_pem: Some(cert.pem()),
		})
	}

	/// Loads a PEM certificate chain and a PEM private key, and checks that rustls can use
	/// them together; every error names the file at fault.
	pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
		let chain = pem::certificates(cert)?;
		let key_der = pem::private_key(key)?;
		Self::pair(chain, key_der, &cert.display().to_string(), &key.display().to_string())
	}

	/// A PEM certificate chain and private key held in memory (an ACME CA's answer, served before
	/// it is written anywhere), checked as [`Certificate::load`] checks files; errors call them `name`.
	pub fn from_pem(chain: &[u8], key: &[u8], name: &str) -> Result<Self, TlsError> {
		let chain = pem::certificates_in(chain, name)?;
		let key_der = pem::private_key_in(key, name)?;
		Self::pair(chain, key_der, name, name)
	}

	/// A chain and its key, checked to belong together; `cert` and `key` name where they came from.
	fn pair(
		chain: Vec<CertificateDer<'static>>,
		key_der: PrivateKeyDer<'static>,
		cert: &str,
		key: &str,
	) -> Result<Self, TlsError> {
		let leaf = chain.first().ok_or_else(|| TlsError::NoCertificate(cert.to_string()))?;
		let fingerprint = sha256_hex(leaf);
		let signing = provider()
			.key_provider
			.load_private_key(key_der.clone_key())
			.map_err(|source| TlsError::Unusable {
				path: key.to_string(),
				source,
			})?;
		match rustls::sign::CertifiedKey::new(chain.clone(), signing).keys_match() {
			// rustls cannot tell for some key types: it refuses a wrong pair in the handshake then.
			Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
			Err(rustls::Error::InconsistentKeys(_)) => {
				return Err(TlsError::KeyMismatch {
					cert: cert.to_string(),
					key: key.to_string(),
				});
			}
			Err(source) => {
				return Err(TlsError::Unusable {
					path: cert.to_string(),
					source,
				});
			}
		}
		Ok(Self {
			chain,
			key: key_der,
			fingerprint,
			generated_pem: None,
		})
	}

	/// Writes a generated certificate and its key as PEM files (rcgen's encoding), for another
	/// process to load or trust. A certificate loaded from files is already in its files: it is
	/// not written again (`ErrorKind::Unsupported`).
	pub fn write_pem(&self, cert: &Path, key: &Path) -> std::io::Result<()> {
		let Some(cert_pem) = &self.generated_pem else {
			return Err(std::io::Error::new(
				std::io::ErrorKind::Unsupported,
				"only a generated certificate is written as PEM",
			));
		};
		let key_pair = rcgen::KeyPair::try_from(&self.key).map_err(std::io::Error::other)?;
		std::fs::write(cert, cert_pem)?;
		std::fs::write(key, key_pair.serialize_pem())
	}

	/// Lowercase hex SHA-256 of the leaf certificate's DER, no colons.
	pub fn fingerprint(&self) -> &str {
		&self.fingerprint
	}

	/// The chain, leaf first.
	pub fn chain(&self) -> &[CertificateDer<'static>] {
		&self.chain
	}

	/// A rustls server configuration offering `alpn`.
	pub fn server_config(&self, alpn: &[&str]) -> Result<rustls::ServerConfig, TlsError> {
		let mut config = rustls::ServerConfig::builder_with_provider(server_provider())
			.with_safe_default_protocol_versions()?
			.with_no_client_auth()
			.with_single_cert(self.chain.clone(), self.key.clone_key())?;
		serve(&mut config, alpn.iter().map(|p| p.as_bytes()))?;
		Ok(config)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	/// A scratch directory removed on drop.
	struct Scratch(std::path::PathBuf);

	impl Scratch {
		fn new(name: &str) -> Self {
			let dir = std::env::temp_dir().join(format!("moq-relay-tls-{name}-{}", std::process::id()));
			std::fs::create_dir_all(&dir).unwrap();
			Self(dir)
		}
	}

	impl Drop for Scratch {
		fn drop(&mut self) {
			let _ = std::fs::remove_dir_all(&self.0);
		}
	}

	fn hosts() -> Vec<String> {
		vec!["localhost".to_string(), "127.0.0.1".to_string()]
	}

	#[test]
	fn generated_certificate_round_trips_through_pem() {
		let cert = Certificate::generate(&hosts()).unwrap();
		assert_eq!(cert.fingerprint().len(), 64);
		assert!(
			cert.fingerprint()
				.chars()
				.all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
		);
		let dir = Scratch::new("round-trip");
		let (c, k) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
		cert.write_pem(&c, &k).unwrap();
		let loaded = Certificate::load(&c, &k).unwrap();
		assert_eq!(loaded.fingerprint(), cert.fingerprint());
		loaded.server_config(&["h3"]).unwrap();
		let again = loaded.write_pem(&dir.0.join("again.pem"), &dir.0.join("again.key"));
		assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::Unsupported);
	}

	#[test]
	fn load_errors_name_the_file_at_fault() {
		let dir = Scratch::new("load-errors");
		let (c, k) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
		Certificate::generate(&hosts()).unwrap().write_pem(&c, &k).unwrap();
		let (other_c, other_k) = (dir.0.join("other.pem"), dir.0.join("other.key"));
		Certificate::generate(&hosts())
			.unwrap()
			.write_pem(&other_c, &other_k)
			.unwrap();
		let missing = dir.0.join("missing.pem");
		let garbage = dir.0.join("garbage.pem");
		std::fs::write(&garbage, "this is not a certificate\n").unwrap();
		let not_der = dir.0.join("not-der.pem");
		std::fs::write(
			&not_der,
			"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		)
		.unwrap();

		let shown = |r: Result<Certificate, TlsError>| {
			let err = r.unwrap_err();
			let chain: Vec<String> = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
				.map(|e| e.to_string())
				.collect();
			(err, chain.join(": "))
		};
		let (err, text) = shown(Certificate::load(&missing, &k));
		assert!(
			matches!(err, TlsError::Read { .. }) && text.contains("missing.pem"),
			"{text}"
		);
		let (err, text) = shown(Certificate::load(&c, &missing));
		assert!(
			matches!(err, TlsError::Read { .. }) && text.contains("missing.pem"),
			"{text}"
		);
		let (err, text) = shown(Certificate::load(&garbage, &k));
		assert!(
			matches!(err, TlsError::NoCertificate(_)) && text.contains("garbage.pem"),
			"{text}"
		);
		let (err, text) = shown(Certificate::load(&c, &garbage));
		assert!(
			matches!(err, TlsError::NoKey(_)) && text.contains("garbage.pem"),
			"{text}"
		);
		let (err, text) = shown(Certificate::load(&not_der, &k));
		assert!(
			matches!(err, TlsError::Unusable { .. }) && text.contains("not-der.pem"),
			"{text}"
		);
		let (err, text) = shown(Certificate::load(&c, &other_k));
		assert!(
			matches!(err, TlsError::KeyMismatch { .. }) && text.contains("other.key") && text.contains("cert.pem"),
			"{text}"
		);
	}
}
