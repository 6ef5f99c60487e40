//! The client side of a relay session, for the `probe` and `pp_client` examples and the tests:
//! dialing (raw QUIC or WebTransport, pinned to the relay's certificate fingerprint), SETUP, and the
//! ANNOUNCE_REQUEST / ANNOUNCE_OK exchange that proves a session is admitted.
//!
//! A session is admitted when, after SETUP, an ANNOUNCE_REQUEST for `""` is answered by an
//! ANNOUNCE_OK; it is refused when the relay closes it first, with a code and a reason
//! (`docs/auth.md` lists the reasons).

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use web_transport_quinn::quinn;

use crate::wire::{
	AnnounceOk, AnnounceRequest, BidiType, Decode, DecodeError, Encode, Setup, UniType, VarInt, Version,
};

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

/// `future`, or an error naming `what` after `bound` ([`BOUND`] for every step here; the tests'
/// `within` panics with this error after their own bound).
pub async fn bounded<T>(bound: Duration, what: &str, future: impl Future<Output = T>) -> Result<T, String> {
	tokio::time::timeout(bound, future)
		.await
		.map_err(|_| format!("timed out waiting for {what}"))
}

/// A certificate fingerprint as the relay prints it (the SHA-256 of its DER, 64 hex digits in
/// either case), as bytes. The error never repeats the input.
pub fn fingerprint(hex: &str) -> Result<[u8; 32], String> {
	let mut bytes = [0u8; 32];
	hex::decode_to_slice(hex, &mut bytes).map_err(|_| "the fingerprint must be 64 hex digits (SHA-256)")?;
	Ok(bytes)
}

// ---- dialing --------------------------------------------------------------------------------

/// A raw QUIC connection to `addr` offering `alpn`, trusting only the certificate whose SHA-256 is
/// the hex `fingerprint`; `server_name` is sent as the SNI. The endpoint comes along: its
/// `wait_idle` after a close makes sure the close reached the relay.
pub async fn dial(
	addr: SocketAddr,
	server_name: &str,
	fingerprint: &str,
	alpn: &str,
) -> Result<(quinn::Endpoint, quinn::Connection), String> {
	let trust = crate::tls::Trust::Fingerprint(fingerprint.to_string());
	let tls = crate::tls::client_config(&trust, &[alpn]).map_err(|e| e.to_string())?;
	let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| e.to_string())?;
	let bind = match addr {
		SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
		SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
	};
	let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| e.to_string())?;
	endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
	let connecting = endpoint.connect(addr, server_name).map_err(|e| e.to_string())?;
	let conn = bounded(BOUND, "QUIC handshake", connecting)
		.await?
		.map_err(|e| format!("QUIC connect: {e}"))?;
	Ok((endpoint, conn))
}

/// A WebTransport session to `url` (moq-lite-05), pinned to the hex `fingerprint`, with the
/// CONNECT `headers` (name, value): `authorization`, an API key header, anything the auth service
/// is told. Errors name the URL's path and the header's name, never a value or the query.
pub async fn connect(
	url: &reqwest::Url,
	fingerprint: &str,
	headers: &[(&str, &str)],
) -> Result<web_transport_quinn::Session, String> {
	use web_transport_quinn::http::{HeaderName, HeaderValue};
	let client = web_transport_quinn::ClientBuilder::new()
		.with_server_certificate_hashes(vec![self::fingerprint(fingerprint)?.to_vec()])
		.map_err(|e| e.to_string())?;
	let mut request = web_transport_quinn::proto::ConnectRequest::new(url.clone()).with_protocol("moq-lite-05");
	for &(name, value) in headers {
		let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a header name"))?;
		let value = HeaderValue::from_bytes(value.as_bytes())
			.map_err(|_| format!("the {name} value is not a valid header value"))?;
		request = request.with_header(name, value);
	}
	bounded(BOUND, "WebTransport connect", client.connect(request))
		.await?
		.map_err(|e| format!("WebTransport connect to {}: {e}", url.path()))
}

// ---- admission ------------------------------------------------------------------------------

/// Over raw QUIC: SETUP with the Path `path` (path and query: raw QUIC has no URL), then
/// ANNOUNCE_REQUEST `""` until the ANNOUNCE_OK (admitted), or the relay's close (refused).
pub async fn quic_served(conn: &quinn::Connection, path: String) -> Result<Outcome, String> {
	let served = async {
		let setup = bounded(BOUND, "open SETUP", conn.open_uni())
			.await?
			.map_err(|e| e.to_string())?;
		let (send, recv) = bounded(BOUND, "open announce", conn.open_bi())
			.await?
			.map_err(|e| e.to_string())?;
		let message = Setup {
			path: Some(path),
			..Setup::default()
		};
		exchange(setup, &message, send, recv).await
	};
	outcome(served, || conn.closed(), quic_refusal).await
}

/// Over WebTransport: SETUP (without a Path: the CONNECT URL carries it), then ANNOUNCE_REQUEST
/// `""` until the ANNOUNCE_OK (admitted), or the relay's close (refused).
pub async fn served(session: &web_transport_quinn::Session) -> Result<Outcome, String> {
	let served = async {
		let setup = bounded(BOUND, "open SETUP", session.open_uni())
			.await?
			.map_err(|e| e.to_string())?;
		let (send, recv) = bounded(BOUND, "open announce", session.open_bi())
			.await?
			.map_err(|e| e.to_string())?;
		exchange(setup, &Setup::default(), send, recv).await
	};
	outcome(served, || session.closed(), webtransport_refusal).await
}

/// `served`'s count as [`Outcome::Admitted`]; when it fails or the session ends first, the
/// relay's close as [`Outcome::Refused`].
async fn outcome<C: Future>(
	served: impl Future<Output = Result<u64, String>>,
	closed: impl Fn() -> C,
	refusal: fn(&C::Output) -> Option<Outcome>,
) -> Result<Outcome, String> {
	tokio::select! {
		served = served => match served {
			Ok(count) => Ok(Outcome::Admitted(count)),
			// A stream error usually means the relay closed the session: read why.
			Err(err) => match bounded(BOUND, "the session close", closed()).await {
				Ok(close) => refusal(&close).ok_or(err),
				Err(_) => Err(err),
			},
		},
		close = closed() => refusal(&close).ok_or_else(|| "the session ended without a close reason".to_string()),
	}
}

/// The relay's refusal in a raw QUIC connection's end: its application close.
pub fn quic_refusal(close: &quinn::ConnectionError) -> Option<Outcome> {
	match close {
		quinn::ConnectionError::ApplicationClosed(close) => Some(Outcome::Refused(
			close.error_code.into_inner(),
			String::from_utf8_lossy(&close.reason).into_owned(),
		)),
		_ => None,
	}
}

/// The relay's refusal in a WebTransport session's end: its session close.
pub fn webtransport_refusal(close: &web_transport_quinn::SessionError) -> Option<Outcome> {
	match close {
		web_transport_quinn::SessionError::WebTransportError(web_transport_quinn::WebTransportError::Closed(
			code,
			reason,
		)) => Some(Outcome::Refused((*code).into(), reason.clone())),
		_ => None,
	}
}

// ---- messages -------------------------------------------------------------------------------

/// Writes SETUP `message` on the `setup` stream (then finishes it) and [`announce`]s on
/// `send`/`recv`: the ANNOUNCE_OK's count of broadcasts already announced. Raw QUIC and
/// WebTransport streams alike.
pub async fn exchange<U, W, R>(mut setup: U, message: &Setup, mut send: W, mut recv: R) -> Result<u64, String>
where
	U: AsyncWrite + Unpin,
	W: AsyncWrite + Unpin,
	R: AsyncRead + Unpin,
{
	setup
		.write_all(&setup_stream(message)?)
		.await
		.map_err(|e| e.to_string())?;
	setup.shutdown().await.map_err(|e| e.to_string())?;
	let ok = announce(&mut send, &mut recv, &mut Vec::new()).await?;
	Ok(ok.active_count.into_inner())
}

/// Asks for every broadcast (ANNOUNCE_REQUEST `""` on a new announce stream, `send`) and reads
/// `recv` until the relay's ANNOUNCE_OK. `buf` keeps what arrived after it (announcements), for
/// [`read`].
pub async fn announce<W, R>(send: &mut W, recv: &mut R, buf: &mut Vec<u8>) -> Result<AnnounceOk, String>
where
	W: AsyncWrite + Unpin,
	R: AsyncRead + Unpin,
{
	let request = AnnounceRequest {
		prefix: String::new(),
		exclude_hop: VarInt::ZERO,
	};
	let bytes = [encode(&BidiType::Announce)?, encode(&request)?].concat();
	send.write_all(&bytes).await.map_err(|e| e.to_string())?;
	read(recv, buf, "ANNOUNCE_OK").await
}

/// The bytes of a SETUP stream: its type, then `message`.
pub fn setup_stream(message: &Setup) -> Result<Vec<u8>, String> {
	Ok([encode(&UniType::Setup)?, encode(message)?].concat())
}

/// Reads one moq-lite-05 `T` (named `what` in errors) from `recv`. `buf` holds bytes read before
/// and keeps those after the message, for the next call on the same stream.
pub async fn read<T, R>(recv: &mut R, buf: &mut Vec<u8>, what: &str) -> Result<T, String>
where
	T: Decode,
	R: AsyncRead + Unpin,
{
	loop {
		match T::decode_prefix(buf, Version::Lite05) {
			Ok((message, used)) => {
				buf.drain(..used);
				return Ok(message);
			}
			Err(DecodeError::UnexpectedEnd) => {}
			Err(err) => return Err(format!("{what}: {err}")),
		}
		let mut chunk = [0u8; 1024];
		let n = bounded(BOUND, what, recv.read(&mut chunk))
			.await?
			.map_err(|e| e.to_string())?;
		if n == 0 {
			return Err(format!("the stream ended before {what}"));
		}
		buf.extend_from_slice(&chunk[..n]);
	}
}

/// A moq-lite-05 encoding of `message`.
pub fn encode<T: Encode>(message: &T) -> Result<Vec<u8>, String> {
	message.to_bytes(Version::Lite05).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn fingerprints_are_64_hex_digits_in_either_case() {
		let lower = "00".repeat(31) + "ab";
		assert_eq!(fingerprint(&lower).unwrap()[31], 0xab);
		assert_eq!(fingerprint(&lower.to_ascii_uppercase()).unwrap()[31], 0xab);
		for bad in [
			"",
			"ab",
			&"0".repeat(63),
			&"0".repeat(66),
			&("zz".to_string() + &"0".repeat(62)),
		] {
			let err = fingerprint(bad).unwrap_err();
			assert!(err.contains("64 hex digits"), "{err}");
		}
	}

	#[tokio::test]
	async fn read_keeps_what_follows_the_message_and_names_what_is_missing() {
		let ok = AnnounceOk {
			hop_id: VarInt::from_u32(7),
			active_count: VarInt::from_u32(3),
		};
		let bytes = [encode(&ok).unwrap(), encode(&BidiType::Announce).unwrap()].concat();
		let mut stream = &bytes[..];
		let mut buf = Vec::new();
		let got: AnnounceOk = read(&mut stream, &mut buf, "ANNOUNCE_OK").await.unwrap();
		assert_eq!(got, ok);
		let next: BidiType = read(&mut stream, &mut buf, "the stream type").await.unwrap();
		assert_eq!(next, BidiType::Announce);
		let end = read::<AnnounceOk, _>(&mut stream, &mut buf, "ANNOUNCE_OK")
			.await
			.unwrap_err();
		assert_eq!(end, "the stream ended before ANNOUNCE_OK");
	}
}
