//! The development bootstrap (`docs/protocol.md`, "Development certificates"): GET `http://host:port/certificate.sha256` and pin the
//! certificate it names.
//!
//! One HTTP client serves every link. It goes straight to the peer (no proxy: the QUIC link that
//! follows cannot be proxied either), follows no redirect and keeps no idle connection: each dial
//! fetches once.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::StatusCode;

/// The body is 64 hex characters and maybe a newline: anything much longer is not ours.
const MAX_BODY: usize = 1024;
/// Bound on the TCP connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on the whole exchange (connect, request, response and body).
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why the fingerprint could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
	/// The HTTP client could not be built.
	#[error("cannot build the HTTP client: {0}")]
	Client(#[source] reqwest::Error),
	/// TCP, HTTP or I/O failed.
	#[error("GET http://{authority}/certificate.sha256: {source}")]
	Io {
		/// `host:port` (`[v6]:port`).
		authority: String,
		/// Why (without the URL, which the message already names).
		source: reqwest::Error,
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
	static SHARED: OnceLock<Fetcher> = OnceLock::new();
	let fetcher = match SHARED.get() {
		Some(fetcher) => fetcher,
		None => {
			let fetcher = Fetcher::new(CONNECT_TIMEOUT, TIMEOUT)?;
			SHARED.get_or_init(|| fetcher)
		}
	};
	fetcher.fetch(host, port).await
}

/// An HTTP client and the bounds it was built with (errors name them).
struct Fetcher {
	client: reqwest::Client,
	connect: Duration,
	total: Duration,
}

impl Fetcher {
	fn new(connect: Duration, total: Duration) -> Result<Self, BootstrapError> {
		let client = reqwest::Client::builder()
			.connect_timeout(connect)
			.timeout(total)
			.no_proxy()
			.redirect(reqwest::redirect::Policy::none())
			.pool_max_idle_per_host(0)
			.http1_only()
			.build()
			.map_err(BootstrapError::Client)?;
		Ok(Self { client, connect, total })
	}

	async fn fetch(&self, host: &str, port: u16) -> Result<String, BootstrapError> {
		let authority = if host.contains(':') {
			format!("[{host}]:{port}")
		} else {
			format!("{host}:{port}")
		};
		let failed = |err: reqwest::Error| {
			if err.is_timeout() {
				BootstrapError::Timeout(if err.is_connect() { self.connect } else { self.total })
			} else {
				BootstrapError::Io {
					authority: authority.clone(),
					source: err.without_url(),
				}
			}
		};
		let mut response = self
			.client
			.get(format!("http://{authority}/certificate.sha256"))
			.send()
			.await
			.map_err(failed)?;
		let status = response.status();
		let mut body = Vec::new();
		while let Some(chunk) = response.chunk().await.map_err(failed)? {
			if body.len() + chunk.len() > MAX_BODY {
				return Err(BootstrapError::Response("body is not 64 hex characters"));
			}
			body.extend_from_slice(&chunk);
		}
		parse(status, &body)
	}
}

/// Reads the fingerprint out of a response's status and body (sans-I/O).
fn parse(status: StatusCode, body: &[u8]) -> Result<String, BootstrapError> {
	if status != StatusCode::OK {
		return Err(BootstrapError::Response("status is not 200"));
	}
	let text = std::str::from_utf8(body).map_err(|_| BootstrapError::Response("not UTF-8"))?;
	let fingerprint = text.trim().to_ascii_lowercase();
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
		assert_eq!(
			parse(StatusCode::OK, format!("{}\n", hex.to_uppercase()).as_bytes()).unwrap(),
			hex
		);
		assert!(parse(StatusCode::NOT_FOUND, hex.as_bytes()).is_err());
		assert!(parse(StatusCode::MOVED_PERMANENTLY, hex.as_bytes()).is_err());
		for bad in [
			b"not-hex".to_vec(),
			format!("{}zz", "a".repeat(62)).into_bytes(),
			vec![0xff; 64],
			Vec::new(),
		] {
			assert!(parse(StatusCode::OK, &bad).is_err(), "{bad:?}");
		}
	}

	/// A peer on 127.0.0.1 whose `/certificate.sha256` is `route`.
	async fn peer(route: axum::routing::MethodRouter) -> u16 {
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let port = listener.local_addr().unwrap().port();
		let app = axum::Router::new().route("/certificate.sha256", route);
		tokio::spawn(async move { axum::serve(listener, app).await });
		port
	}

	#[tokio::test]
	async fn fetches_over_http_and_follows_no_redirect() {
		let hex = "0f".repeat(32);
		let body = format!("{}\n", hex.to_uppercase());
		let port = peer(axum::routing::get(move || async move { body })).await;
		assert_eq!(fingerprint("127.0.0.1", port).await.unwrap(), hex);

		let moved = || async { axum::response::Redirect::temporary("http://127.0.0.1:1/certificate.sha256") };
		let port = peer(axum::routing::get(moved)).await;
		let err = fingerprint("127.0.0.1", port).await.unwrap_err();
		assert!(matches!(err, BootstrapError::Response("status is not 200")), "{err}");

		let port = peer(axum::routing::get(|| async { "a".repeat(MAX_BODY + 1) })).await;
		let err = fingerprint("127.0.0.1", port).await.unwrap_err();
		assert!(
			matches!(err, BootstrapError::Response("body is not 64 hex characters")),
			"{err}"
		);
	}

	#[tokio::test]
	async fn a_peer_that_never_answers_times_out() {
		let port = peer(axum::routing::get(std::future::pending::<String>)).await;
		let total = Duration::from_millis(200);
		let fetcher = Fetcher::new(CONNECT_TIMEOUT, total).unwrap();
		let err = fetcher.fetch("127.0.0.1", port).await.unwrap_err();
		assert!(matches!(err, BootstrapError::Timeout(t) if t == total), "{err}");
	}

	#[tokio::test]
	async fn a_closed_port_is_an_io_error_naming_the_address() {
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let port = listener.local_addr().unwrap().port();
		drop(listener);
		let err = fingerprint("127.0.0.1", port).await.unwrap_err();
		assert!(matches!(err, BootstrapError::Io { .. }), "{err}");
		let expected = format!("GET http://127.0.0.1:{port}/certificate.sha256: ");
		assert!(err.to_string().starts_with(&expected), "{err}");
	}
}
