//! Certificates: loaded from PEM files or generated self-signed for development.
//!
//! Generated certificates follow the browser `serverCertificateHashes` rule
//! (relay.md §2, wire.md §3): ECDSA P-256, valid from now-1d for at most 14 days in all.

mod client;

pub use client::{Trust, client_config};

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
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
	/// Generation failed.
	#[error("cannot generate a certificate: {0}")]
	Generate(#[from] rcgen::Error),
	/// rustls refused the certificate/key pair.
	#[error("rustls refused the certificate: {0}")]
	Rustls(#[from] rustls::Error),
	/// A trust setting is unusable.
	#[error("{0}")]
	Invalid(String),
}

/// A certificate chain and its private key.
#[derive(Debug)]
pub struct Certificate {
	chain: Vec<CertificateDer<'static>>,
	key: PrivateKeyDer<'static>,
	fingerprint: String,
}

impl Clone for Certificate {
	fn clone(&self) -> Self {
		Self {
			chain: self.chain.clone(),
			key: self.key.clone_key(),
			fingerprint: self.fingerprint.clone(),
		}
	}
}

/// The one crypto provider of the relay: aws-lc-rs.
pub fn provider() -> Arc<CryptoProvider> {
	Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The longest validity period a browser accepts for `serverCertificateHashes`.
pub const MAX_VALIDITY: Duration = Duration::from_secs(14 * 86_400);

fn sha256_hex(bytes: &[u8]) -> String {
	let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
	digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
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
		})
	}

	/// Loads a PEM certificate chain and a PEM private key.
	pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
		let read = |path: &Path| {
			std::fs::read(path).map_err(|source| TlsError::Read {
				path: path.display().to_string(),
				source,
			})
		};
		let cert_pem = read(cert)?;
		let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
			.collect::<Result<_, _>>()
			.map_err(|source| TlsError::Read {
				path: cert.display().to_string(),
				source,
			})?;
		let leaf = chain
			.first()
			.ok_or_else(|| TlsError::NoCertificate(cert.display().to_string()))?;
		let fingerprint = sha256_hex(leaf);
		let key_pem = read(key)?;
		let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
			.map_err(|source| TlsError::Read {
				path: key.display().to_string(),
				source,
			})?
			.ok_or_else(|| TlsError::NoKey(key.display().to_string()))?;
		Ok(Self {
			chain,
			key,
			fingerprint,
		})
	}

	/// Writes the certificate and key as PEM files.
	pub fn write_pem(&self, cert: &Path, key: &Path) -> std::io::Result<()> {
		let pem = |label: &str, der: &[u8]| {
			use std::fmt::Write;
			let b64 = base64::engine::general_purpose::STANDARD.encode(der);
			let mut out = format!("-----BEGIN {label}-----\n");
			for line in b64.as_bytes().chunks(64) {
				let _ = writeln!(out, "{}", String::from_utf8_lossy(line));
			}
			let _ = writeln!(out, "-----END {label}-----");
			out
		};
		let chain: String = self.chain.iter().map(|c| pem("CERTIFICATE", c)).collect();
		std::fs::write(cert, chain)?;
		std::fs::write(key, pem("PRIVATE KEY", self.key.secret_der()))
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
		let mut config = rustls::ServerConfig::builder_with_provider(provider())
			.with_safe_default_protocol_versions()?
			.with_no_client_auth()
			.with_single_cert(self.chain.clone(), self.key.clone_key())?;
		config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
		Ok(config)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn generated_certificate_round_trips_through_pem() {
		let hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
		let cert = Certificate::generate(&hosts).unwrap();
		assert_eq!(cert.fingerprint().len(), 64);
		assert!(
			cert.fingerprint()
				.chars()
				.all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
		);
		let dir = std::env::temp_dir().join(format!("moq-relay-tls-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
		cert.write_pem(&c, &k).unwrap();
		let loaded = Certificate::load(&c, &k).unwrap();
		assert_eq!(loaded.fingerprint(), cert.fingerprint());
		loaded.server_config(&["h3"]).unwrap();
		std::fs::remove_dir_all(&dir).unwrap();
	}
}
