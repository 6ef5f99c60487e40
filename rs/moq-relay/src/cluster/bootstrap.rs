//! The development bootstrap (wire.md §3): GET `http://host:port/certificate.sha256` over TCP
//! and pin the certificate it names.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The response is 64 hex characters plus headers: anything much longer is not ours.
const MAX_RESPONSE: u64 = 16 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why the fingerprint could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
	/// TCP or I/O failed.
	#[error("GET http://{host}:{port}/certificate.sha256: {source}")]
	Io {
		/// The host.
		host: String,
		/// The port.
		port: u16,
		/// Why.
		source: std::io::Error,
	},
	/// No answer in time.
	#[error("GET /certificate.sha256: no answer within {0:?}")]
	Timeout(Duration),
	/// The answer is not a 200 with 64 hex characters.
	#[error("GET /certificate.sha256: {0}")]
	Response(&'static str),
}

/// The peer's certificate fingerprint (lowercase hex SHA-256).
pub async fn fingerprint(host: &str, port: u16) -> Result<String, BootstrapError> {
	let io = |source| BootstrapError::Io {
		host: host.to_string(),
		port,
		source,
	};
	let fetch = async {
		let mut tcp = tokio::net::TcpStream::connect((host, port)).await.map_err(io)?;
		let authority = if host.contains(':') {
			format!("[{host}]:{port}")
		} else {
			format!("{host}:{port}")
		};
		let request = format!("GET /certificate.sha256 HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
		tcp.write_all(request.as_bytes()).await.map_err(io)?;
		let mut response = Vec::new();
		tcp.take(MAX_RESPONSE).read_to_end(&mut response).await.map_err(io)?;
		parse(&response)
	};
	tokio::time::timeout(TIMEOUT, fetch)
		.await
		.map_err(|_| BootstrapError::Timeout(TIMEOUT))?
}

/// Reads the fingerprint out of a complete HTTP/1.1 response (sans-I/O).
fn parse(response: &[u8]) -> Result<String, BootstrapError> {
	let text = std::str::from_utf8(response).map_err(|_| BootstrapError::Response("not UTF-8"))?;
	let (head, body) = text
		.split_once("\r\n\r\n")
		.ok_or(BootstrapError::Response("incomplete response"))?;
	let status = head.split(' ').nth(1).ok_or(BootstrapError::Response("no status"))?;
	if status != "200" {
		return Err(BootstrapError::Response("status is not 200"));
	}
	let fingerprint = body.trim().to_ascii_lowercase();
	if fingerprint.len() != 64 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
		return Err(BootstrapError::Response("body is not 64 hex characters"));
	}
	Ok(fingerprint)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn reads_a_fingerprint_and_refuses_anything_else() {
		let hex = "ab".repeat(32);
		let ok = format!("HTTP/1.1 200 OK\r\ncontent-length: 64\r\n\r\n{}", hex.to_uppercase());
		assert_eq!(parse(ok.as_bytes()).unwrap(), hex);
		for bad in [
			format!("HTTP/1.1 404 Not Found\r\n\r\n{hex}"),
			"HTTP/1.1 200 OK\r\n\r\nnot-hex".to_string(),
			format!("HTTP/1.1 200 OK\r\n{hex}"),
			format!("HTTP/1.1 200 OK\r\n\r\n{}zz", "a".repeat(62)),
		] {
			assert!(parse(bad.as_bytes()).is_err(), "{bad}");
		}
	}
}
