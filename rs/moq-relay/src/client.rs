//! The client side of admission: asking a relay whether it admits a session, for the `probe` and
//! `pp_client` examples and the tests.
//!
//! A session is admitted when, after SETUP, an ANNOUNCE_REQUEST for `""` is answered by an
//! ANNOUNCE_OK; it is refused when the relay closes it first, with a code and a reason
//! (`docs/auth.md` lists the reasons).

use std::time::Duration;

use crate::wire::{AnnounceOk, AnnounceRequest, BidiType, Decode, Encode, Setup, UniType, VarInt, Version};

/// Every network step is bounded by this.
pub const BOUND: Duration = Duration::from_secs(10);

/// How a session attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
	/// The relay served it: the ANNOUNCE_OK's count of broadcasts already announced.
	Admitted(u64),
	/// The relay closed it: code and reason.
	Refused(u64, String),
}

/// `future`, or an error naming `what` after [`BOUND`].
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> Result<T, String> {
	tokio::time::timeout(BOUND, future)
		.await
		.map_err(|_| format!("timed out waiting for {what}"))
}

/// A hex SHA-256 fingerprint as bytes.
pub fn hex_bytes(hex: &str) -> Result<Vec<u8>, String> {
	if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
		return Err("the fingerprint must be 64 hex digits (SHA-256)".into());
	}
	(0..hex.len())
		.step_by(2)
		.map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| "the fingerprint is not hex".to_string()))
		.collect()
}

/// A WebTransport session to `url` (moq-lite-05), pinned to the hex `fingerprint`, with an
/// optional `Authorization` header value. Errors name the URL's path, never its query.
pub async fn connect(
	url: &reqwest::Url,
	fingerprint: &str,
	authorization: Option<&str>,
) -> Result<web_transport_quinn::Session, String> {
	let client = web_transport_quinn::ClientBuilder::new()
		.with_server_certificate_hashes(vec![hex_bytes(fingerprint)?])
		.map_err(|e| e.to_string())?;
	let mut request = web_transport_quinn::proto::ConnectRequest::new(url.clone()).with_protocol("moq-lite-05");
	if let Some(value) = authorization {
		let value = value
			.parse()
			.map_err(|_| "the credential is not a valid header value")?;
		request
			.headers
			.insert(web_transport_quinn::http::header::AUTHORIZATION, value);
	}
	within("WebTransport connect", client.connect(request))
		.await?
		.map_err(|e| format!("WebTransport connect to {}: {e}", url.path()))
}

/// SETUP (without a Path: the CONNECT URL carries it), then ANNOUNCE_REQUEST `""` until the
/// ANNOUNCE_OK (admitted), or the relay's close (refused).
pub async fn served(session: &web_transport_quinn::Session) -> Result<Outcome, String> {
	tokio::select! {
		served = announce(session) => match served {
			Ok(count) => Ok(Outcome::Admitted(count)),
			// A stream error usually means the relay closed the session: read why.
			Err(err) => match within("the session close", session.closed()).await {
				Ok(close) => refusal(close).ok_or(err),
				Err(_) => Err(err),
			},
		},
		close = session.closed() => refusal(close).ok_or_else(|| "the session ended without a close reason".to_string()),
	}
}

fn refusal(close: web_transport_quinn::SessionError) -> Option<Outcome> {
	match close {
		web_transport_quinn::SessionError::WebTransportError(web_transport_quinn::WebTransportError::Closed(
			code,
			reason,
		)) => Some(Outcome::Refused(code.into(), reason)),
		_ => None,
	}
}

async fn announce(session: &web_transport_quinn::Session) -> Result<u64, String> {
	let setup = within("open SETUP", session.open_uni())
		.await?
		.map_err(|e| e.to_string())?;
	let (send, recv) = within("open announce", session.open_bi())
		.await?
		.map_err(|e| e.to_string())?;
	exchange(setup, Setup::default(), send, recv).await
}

/// Writes `message` on the `setup` stream (then finishes it) and ANNOUNCE_REQUEST `""` on `send`,
/// then reads `recv` until the ANNOUNCE_OK: its count of broadcasts already announced. Raw QUIC and
/// WebTransport streams alike.
pub async fn exchange<W, R>(mut setup: W, message: Setup, mut send: W, mut recv: R) -> Result<u64, String>
where
	W: tokio::io::AsyncWrite + Unpin,
	R: tokio::io::AsyncRead + Unpin,
{
	use tokio::io::{AsyncReadExt, AsyncWriteExt};

	let mut head = encode(&UniType::Setup)?;
	head.extend(encode(&message)?);
	setup.write_all(&head).await.map_err(|e| e.to_string())?;
	setup.shutdown().await.map_err(|e| e.to_string())?;

	let mut request = encode(&BidiType::Announce)?;
	request.extend(encode(&announce_request())?);
	send.write_all(&request).await.map_err(|e| e.to_string())?;
	let mut buf = Vec::new();
	loop {
		if let Some(count) = announce_ok(&buf) {
			return Ok(count);
		}
		let mut chunk = [0u8; 1024];
		let n = within("ANNOUNCE_OK", recv.read(&mut chunk))
			.await?
			.map_err(|e| e.to_string())?;
		if n == 0 {
			return Err("stream ended before ANNOUNCE_OK".into());
		}
		buf.extend_from_slice(&chunk[..n]);
	}
}

/// A moq-lite-05 encoding of `message`.
pub fn encode<T: Encode>(message: &T) -> Result<Vec<u8>, String> {
	message.to_bytes(Version::Lite05).map_err(|e| e.to_string())
}

/// ANNOUNCE_REQUEST for every broadcast.
pub fn announce_request() -> AnnounceRequest {
	AnnounceRequest {
		prefix: String::new(),
		exclude_hop: VarInt::ZERO,
	}
}

/// The ANNOUNCE_OK's count of initial announcements, once `buf` holds a whole one.
pub fn announce_ok(buf: &[u8]) -> Option<u64> {
	AnnounceOk::decode_prefix(buf, Version::Lite05)
		.ok()
		.map(|(ok, _)| ok.active_count.into_inner())
}
