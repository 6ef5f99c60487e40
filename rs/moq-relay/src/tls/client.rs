//! TLS for the relay as a client (cluster links): trust a pinned certificate
//! fingerprint (the `http://` bootstrap, like the MoQ clients' `/certificate.sha256`),
//! or CA roots (a `cluster.tls_root` PEM file, else the system's roots as `rustls-native-certs`
//! finds them: `SSL_CERT_FILE`/`SSL_CERT_DIR` when set, else the platform's store).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{TlsError, pem, provider, sha256_hex};

/// How a client decides to trust the server's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
	/// Exactly the certificate whose DER has this SHA-256 (lowercase hex).
	Fingerprint(String),
	/// Certificates chaining to the CAs of this PEM file.
	Roots(std::path::PathBuf),
	/// Certificates chaining to the system's CA roots.
	System,
}

/// A TLS 1.3 client configuration with `alpn`, trusting as `trust` says.
pub fn client_config(trust: &Trust, alpn: &[&str]) -> Result<rustls::ClientConfig, TlsError> {
	client_config_with(provider(), trust, alpn)
}

/// [`client_config`] on `provider` (tests offer fewer cipher suites).
fn client_config_with(
	provider: Arc<rustls::crypto::CryptoProvider>,
	trust: &Trust,
	alpn: &[&str],
) -> Result<rustls::ClientConfig, TlsError> {
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
		Trust::System => builder.with_root_certificates(system_roots()?).with_no_client_auth(),
	};
	config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
	Ok(config)
}

fn roots(file: &Path) -> Result<RootCertStore, TlsError> {
	let mut store = RootCertStore::empty();
	for cert in pem::certificates(file)? {
		store.add(cert).map_err(TlsError::Rustls)?;
	}
	if store.is_empty() {
		return Err(TlsError::Invalid(format!("{}: no certificate", file.display())));
	}
	Ok(store)
}

/// The system's CA roots and, when given, those of `extra` (a PEM file); without `extra`, no system
/// root is an error, with it the file's roots alone will do.
pub(super) fn roots_with_system(extra: Option<&Path>) -> Result<RootCertStore, TlsError> {
	let Some(extra) = extra else {
		return system_roots();
	};
	let mut store = system_roots().unwrap_or_else(|_| RootCertStore::empty());
	store.roots.extend(roots(extra)?.roots);
	Ok(store)
}

/// The system's CA roots. A certificate rustls cannot parse is skipped, as are unreadable
/// files of the store when others could be read; none at all is an error.
fn system_roots() -> Result<RootCertStore, TlsError> {
	let found = rustls_native_certs::load_native_certs();
	let mut store = RootCertStore::empty();
	let (_, skipped) = store.add_parsable_certificates(found.certs);
	if store.is_empty() {
		let why = match found.errors.first() {
			Some(err) => format!(" ({err})"),
			None => String::new(),
		};
		return Err(TlsError::Invalid(format!(
			"no system CA certificate found{why}; set cluster.tls_root or SSL_CERT_FILE"
		)));
	}
	if skipped > 0 || !found.errors.is_empty() {
		tracing::debug!(
			skipped,
			errors = found.errors.len(),
			"some system CA certificates were not loaded"
		);
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

#[cfg(test)]
mod tests {
	use super::*;
	use crate::tls::Certificate;

	/// Completes a TLS 1.3 handshake in memory between `client` and `server`; the suite they agreed on.
	fn handshake(client: rustls::ClientConfig, server: rustls::ServerConfig) -> rustls::CipherSuite {
		let (_, server) = connect(Arc::new(client), Arc::new(server));
		server.negotiated_cipher_suite().unwrap().suite()
	}

	/// Completes a TLS 1.3 handshake in memory, the server's session tickets included (it writes
	/// them after reading the client's Finished).
	fn connect(
		client: Arc<rustls::ClientConfig>,
		server: Arc<rustls::ServerConfig>,
	) -> (rustls::ClientConnection, rustls::ServerConnection) {
		let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
		let mut client = rustls::ClientConnection::new(client, name).unwrap();
		let mut server = rustls::ServerConnection::new(server).unwrap();
		while client.is_handshaking() || server.is_handshaking() {
			let mut bytes = Vec::new();
			while client.wants_write() {
				client.write_tls(&mut bytes).unwrap();
			}
			server.read_tls(&mut bytes.as_slice()).unwrap();
			server.process_new_packets().unwrap();
			bytes.clear();
			while server.wants_write() {
				server.write_tls(&mut bytes).unwrap();
			}
			client.read_tls(&mut bytes.as_slice()).unwrap();
			client.process_new_packets().unwrap();
		}
		(client, server)
	}

	/// Every client that connected before resumes on its next connection (more clients than
	/// rustls' default cache of 256 sessions remembers: the tickets are stateless), without the
	/// certificate; a relay with another ticket key (a restart) makes it do a full handshake.
	#[test]
	fn every_returning_client_resumes_and_a_restarted_relay_falls_back_to_a_full_handshake() {
		use rustls::HandshakeKind::{Full, Resumed};

		let cert = Certificate::generate(&["localhost".to_string()]).unwrap();
		let trust = Trust::Fingerprint(cert.fingerprint().to_string());
		let server = Arc::new(cert.server_config(&[]).unwrap());
		let clients: Vec<_> = (0..300)
			.map(|_| Arc::new(client_config(&trust, &[]).unwrap()))
			.collect();
		for client in &clients {
			let (client, _) = connect(client.clone(), server.clone());
			assert_eq!(client.handshake_kind(), Some(Full));
		}
		for (i, client) in clients.iter().enumerate() {
			let (client, server) = connect(client.clone(), server.clone());
			assert_eq!(client.handshake_kind(), Some(Resumed), "client {i}");
			assert_eq!(server.handshake_kind(), Some(Resumed), "client {i}");
		}

		let restarted = Arc::new(cert.server_config(&[]).unwrap());
		let (client, _) = connect(clients[0].clone(), restarted);
		assert_eq!(client.handshake_kind(), Some(Full));
	}

	#[test]
	fn the_relay_picks_aes_128_gcm_over_a_clients_preference_and_serves_a_client_without_it() {
		let cert = Certificate::generate(&["localhost".to_string()]).unwrap();
		let trust = Trust::Fingerprint(cert.fingerprint().to_string());
		// rustls clients list AES-256-GCM first.
		let client = client_config(&trust, &[]).unwrap();
		assert_eq!(
			client.crypto_provider().cipher_suites[0].suite(),
			rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
		);
		let server = cert.server_config(&[]).unwrap();
		assert_eq!(handshake(client, server), rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);

		// A client that offers only AES-256-GCM (or only ChaCha20) gets what it offers.
		for only in [
			rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
			rustls::crypto::aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
		] {
			let mut provider = rustls::crypto::aws_lc_rs::default_provider();
			provider.cipher_suites = vec![only];
			let client = client_config_with(Arc::new(provider), &trust, &[]).unwrap();
			assert_eq!(handshake(client, cert.server_config(&[]).unwrap()), only.suite());
		}
	}
}
