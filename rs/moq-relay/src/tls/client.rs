//! TLS for the relay as a client (cluster links): trust a pinned certificate
//! fingerprint (the `http://` bootstrap, like the MoQ clients' `/certificate.sha256`),
//! or CA roots (a `cluster.tls_root` PEM file, else the system bundle).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{TlsError, provider, sha256_hex};

/// Where the system keeps its CA bundle (Debian/Ubuntu/Alpine, then Fedora/RHEL).
const SYSTEM_BUNDLES: [&str; 2] = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"];

/// How a client decides to trust the server's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
	/// Exactly the certificate whose DER has this SHA-256 (lowercase hex).
	Fingerprint(String),
	/// Certificates chaining to the CAs of this PEM file.
	Roots(std::path::PathBuf),
	/// Certificates chaining to the system's CA bundle.
	System,
}

/// A TLS 1.3 client configuration with `alpn`, trusting as `trust` says.
pub fn client_config(trust: &Trust, alpn: &[&str]) -> Result<rustls::ClientConfig, TlsError> {
	let provider = provider();
	let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
		.with_protocol_versions(&[&rustls::version::TLS13])
		.map_err(TlsError::Rustls)?;
	let mut config = match trust {
		Trust::Fingerprint(fingerprint) => builder
			.dangerous()
			.with_custom_certificate_verifier(Arc::new(Pinned {
				fingerprint: fingerprint.to_ascii_lowercase(),
				provider,
			}))
			.with_no_client_auth(),
		Trust::Roots(file) => builder.with_root_certificates(roots(file)?).with_no_client_auth(),
		Trust::System => {
			let file = SYSTEM_BUNDLES
				.iter()
				.map(Path::new)
				.find(|p| p.exists())
				.ok_or_else(|| TlsError::Invalid("no system CA bundle found; set cluster.tls_root".into()))?;
			builder.with_root_certificates(roots(file)?).with_no_client_auth()
		}
	};
	config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
	Ok(config)
}

fn roots(file: &Path) -> Result<RootCertStore, TlsError> {
	let pem = std::fs::read(file).map_err(|source| TlsError::Read {
		path: file.display().to_string(),
		source,
	})?;
	let mut store = RootCertStore::empty();
	for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
		let cert = cert.map_err(|source| TlsError::Read {
			path: file.display().to_string(),
			source,
		})?;
		store.add(cert).map_err(TlsError::Rustls)?;
	}
	if store.is_empty() {
		return Err(TlsError::Invalid(format!("{}: no certificate", file.display())));
	}
	Ok(store)
}

/// Trusts one certificate by fingerprint; handshake signatures are still verified.
#[derive(Debug)]
struct Pinned {
	fingerprint: String,
	provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
	fn verify_server_cert(
		&self,
		end_entity: &CertificateDer<'_>,
		_intermediates: &[CertificateDer<'_>],
		_server_name: &ServerName<'_>,
		_ocsp: &[u8],
		_now: UnixTime,
	) -> Result<ServerCertVerified, rustls::Error> {
		if sha256_hex(end_entity) == self.fingerprint {
			Ok(ServerCertVerified::assertion())
		} else {
			Err(rustls::Error::General("certificate fingerprint mismatch".into()))
		}
	}

	fn verify_tls12_signature(
		&self,
		message: &[u8],
		cert: &CertificateDer<'_>,
		dss: &DigitallySignedStruct,
	) -> Result<HandshakeSignatureValid, rustls::Error> {
		rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
	}

	fn verify_tls13_signature(
		&self,
		message: &[u8],
		cert: &CertificateDer<'_>,
		dss: &DigitallySignedStruct,
	) -> Result<HandshakeSignatureValid, rustls::Error> {
		rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
	}

	fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
		self.provider.signature_verification_algorithms.supported_schemes()
	}
}
