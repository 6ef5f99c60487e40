//! A lean moq-lite-05 subscriber on quinn (raw QUIC), for the throughput phase's `--client raw`.
//!
//! The published client (`moq-tokio`) hands every group through its session's tasks before the
//! load tool sees it, which on the tool's one core takes milliseconds when hundreds of groups start
//! at once: that queueing lands in the latencies of both relays alike and hides their difference.
//! This subscriber speaks only what a viewer needs (SETUP, one SUBSCRIBE, GROUP streams of FRAMEs,
//! `docs/protocol.md`) with one task per session polling all of its group streams.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use moq_wire::{
	Announce, AnnounceOk, AnnounceRequest, BidiType, Decode, DecodeError, Encode, FrameHeader, Group, Setup, Subscribe,
	UniType, VarInt, Version,
};
use quinn::crypto::rustls::QuicClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::HEADER;

const VERSION: Version = Version::Lite05;

/// SETUP's Role parameter for a subscriber (`docs/protocol.md`, "SETUP").
const ROLE_SUBSCRIBER: u32 = 2;

/// The receive buffer asked for each endpoint's UDP socket.
const RECV_BUFFER: usize = 4 << 20;

/// A QUIC client endpoint (one UDP socket) trusting only the certificate whose SHA-256 is
/// `fingerprint` (hex), offering moq-lite-05.
pub fn endpoint(fingerprint: &str, relay: SocketAddr) -> anyhow::Result<quinn::Endpoint> {
	let pinned = Pinned::new(fingerprint).context("--tls-fingerprint")?;
	let mut tls = rustls::ClientConfig::builder_with_provider(pinned.provider.clone())
		.with_protocol_versions(&[&rustls::version::TLS13])?
		.dangerous()
		.with_custom_certificate_verifier(Arc::new(pinned))
		.with_no_client_auth();
	tls.alpn_protocols = vec![VERSION.alpn().as_bytes().to_vec()];
	let bind: SocketAddr = if relay.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
	let socket = std::net::UdpSocket::bind(bind)?;
	// Many viewers on one endpoint (`--endpoints`) receive one packet each at once when a frame
	// fans out: a larger receive buffer (as far as net.core.rmem_max allows) keeps the burst.
	let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER);
	let runtime = Arc::new(quinn::TokioRuntime);
	let mut endpoint = quinn::Endpoint::new(quinn::EndpointConfig::default(), None, socket, runtime)?;
	endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls)?)));
	Ok(endpoint)
}

/// A session past SETUP whose ANNOUNCE stream is open and answered (ANNOUNCE_OK read): what an
/// idle viewer holds, and the first half of a [`Viewer`].
pub struct Session {
	conn: quinn::Connection,
	send: quinn::SendStream,
	recv: quinn::RecvStream,
	/// What arrived on the ANNOUNCE stream after the last message read.
	buf: BytesMut,
}

impl Session {
	/// Dials `relay`, sends SETUP for `path`, asks for every announcement and reads the
	/// ANNOUNCE_OK.
	pub async fn open(endpoint: &quinn::Endpoint, relay: SocketAddr, path: &str) -> anyhow::Result<Self> {
		let conn = endpoint.connect(relay, "localhost")?.await.context("QUIC handshake")?;
		// A viewer only subscribes, and says so as the published client does when it only
		// consumes: a relay then does not ask it for its announcements.
		let setup = Setup {
			path: Some(path.to_string()),
			role: Some(VarInt::from_u32(ROLE_SUBSCRIBER)),
			..Setup::default()
		};
		let mut stream = conn.open_uni().await?;
		stream
			.write_all(&[encode(&UniType::Setup)?, encode(&setup)?].concat())
			.await?;
		stream.finish()?;
		let (mut send, mut recv) = conn.open_bi().await?;
		let request = AnnounceRequest {
			prefix: String::new(),
			exclude_hop: VarInt::ZERO,
		};
		send.write_all(&[encode(&BidiType::Announce)?, encode(&request)?].concat())
			.await?;
		let mut buf = BytesMut::new();
		read::<AnnounceOk>(&mut recv, &mut buf).await?;
		Ok(Self { conn, send, recv, buf })
	}

	/// Waits until `broadcast` is announced active.
	pub async fn announced(&mut self, broadcast: &str) -> anyhow::Result<()> {
		loop {
			let announce = read::<Announce>(&mut self.recv, &mut self.buf).await?;
			if announce.suffix == broadcast && announce.status.is_active() {
				return Ok(());
			}
		}
	}

	/// The connection.
	pub fn connection(&self) -> &quinn::Connection {
		&self.conn
	}
}

/// One viewer: a session at `path` subscribed to `broadcast`'s `track`.
pub struct Viewer {
	conn: quinn::Connection,
	/// The SUBSCRIBE stream, kept open for as long as the subscription lasts.
	control: (quinn::SendStream, quinn::RecvStream),
	/// The ANNOUNCE stream, kept open (its later announcements unread).
	_announcements: (quinn::SendStream, quinn::RecvStream),
}

impl Viewer {
	/// Dials `relay`, sends SETUP for `path` and SUBSCRIBE for `broadcast`/`track`.
	pub async fn subscribe(
		endpoint: &quinn::Endpoint,
		relay: SocketAddr,
		path: &str,
		broadcast: &str,
		track: &str,
	) -> anyhow::Result<Self> {
		let mut session = Session::open(endpoint, relay, path).await?;
		// Subscribing before the relay has the broadcast would be refused: wait for its announcement.
		session.announced(broadcast).await?;
		let Session { conn, send, recv, .. } = session;
		let subscribe = Subscribe {
			id: VarInt::ZERO,
			broadcast: broadcast.to_string(),
			track: track.to_string(),
			options: Default::default(),
		};
		let announcements = (send, recv);
		let (mut send, recv) = conn.open_bi().await?;
		send.write_all(&[encode(&BidiType::Subscribe)?, encode(&subscribe)?].concat())
			.await?;
		Ok(Self {
			conn,
			control: (send, recv),
			_announcements: announcements,
		})
	}

	/// Reads group streams until `stop` ends (or the relay closes the session), handing every
	/// whole frame to `frame` as its first [`HEADER`] bytes (the load tool's stamp: send time,
	/// group, index; fewer if the frame is shorter) and its size. The relay's answers on the
	/// SUBSCRIBE stream are read and ignored; a stream that is not a GROUP (the relay's SETUP) is
	/// left unread.
	///
	/// Payloads are never copied or kept: at 300 MB/s the tool's own copies were as much of its
	/// CPU as its decryption (`docs/performance.md`), and it must not be the limit of a run.
	pub async fn run(self, mut stop: impl Future<Output = ()> + Unpin, frame: impl FnMut(&[u8], usize) + Send) {
		let Self { conn, control, .. } = self;
		let (_send, mut answers) = control;
		// One future per group stream for its whole life, all of them polled by this task; they
		// share the callback.
		let frame = std::sync::Mutex::new(frame);
		let mut streams = FuturesUnordered::new();
		let mut answers_open = true;
		loop {
			tokio::select! {
				_ = &mut stop => break,
				accepted = conn.accept_uni() => match accepted {
					Ok(stream) => streams.push(read_group(stream, &frame)),
					Err(_) => break,
				},
				// A stream that failed (reset: a group the relay dropped) is let go.
				Some(_) = streams.next(), if !streams.is_empty() => {},
				chunk = answers.read_chunk(usize::MAX, true), if answers_open => {
					answers_open = matches!(chunk, Ok(Some(_)));
				},
			}
		}
		conn.close(0u32.into(), b"done");
	}
}

/// Reads one GROUP stream to its end, handing each whole frame to `frame`.
async fn read_group<F: FnMut(&[u8], usize)>(
	mut stream: quinn::RecvStream,
	frame: &std::sync::Mutex<F>,
) -> anyhow::Result<()> {
	let mut group = GroupParser::default();
	while let Some(chunk) = stream.read_chunk(usize::MAX, true).await? {
		let mut frame = frame.lock().unwrap_or_else(|e| e.into_inner());
		if !group.push(chunk.bytes, &mut *frame)? {
			break;
		}
	}
	Ok(())
}

/// A GROUP stream's bytes as they arrive (sans-I/O): its type, its header, then FRAMEs, of which
/// only the first [`HEADER`] payload bytes are kept.
#[derive(Default)]
struct GroupParser {
	/// The start of a message (type, group header or frame header) still missing bytes.
	partial: BytesMut,
	state: State,
}

/// What a [`GroupParser`] waits for next.
#[derive(Default)]
enum State {
	#[default]
	Kind,
	Header,
	FrameHeader,
	Payload {
		size: usize,
		left: usize,
		head: [u8; HEADER],
		seen: usize,
	},
	/// Not a GROUP stream: the rest is not read.
	Other,
}

/// How many bytes of a chunk are tried at a time for a message that started in an earlier
/// chunk; more than any message before a payload takes.
const PARTIAL_STEP: usize = 64;

impl GroupParser {
	/// Takes the next bytes of the stream, handing each frame completed to `frame`; `false` once
	/// the stream turned out not to be a GROUP.
	fn push(&mut self, mut data: Bytes, frame: &mut impl FnMut(&[u8], usize)) -> anyhow::Result<bool> {
		while !data.is_empty() {
			match &mut self.state {
				State::Other => return Ok(false),
				State::Payload { size, left, head, seen } => {
					let n = (*left).min(data.len());
					let keep = (HEADER - *seen).min(n);
					head[*seen..*seen + keep].copy_from_slice(&data[..keep]);
					*seen += keep;
					*left -= n;
					data.advance(n);
					if *left == 0 {
						frame(&head[..*seen], *size);
						self.state = State::FrameHeader;
					}
				}
				State::Kind => {
					if let Some(kind) = self.message::<UniType>(&mut data)? {
						self.state = if kind == UniType::Group {
							State::Header
						} else {
							State::Other
						};
					}
				}
				State::Header => {
					if self.message::<Group>(&mut data)?.is_some() {
						self.state = State::FrameHeader;
					}
				}
				State::FrameHeader => {
					if let Some(header) = self.message::<FrameHeader>(&mut data)? {
						let size = usize::try_from(header.size.into_inner())?;
						if size == 0 {
							frame(&[], 0);
						} else {
							self.state = State::Payload {
								size,
								left: size,
								head: [0; HEADER],
								seen: 0,
							};
						}
					}
				}
			}
		}
		Ok(!matches!(self.state, State::Other))
	}

	/// Decodes one `T` from what is kept of it and the front of `data`, taking its bytes; `None`
	/// (with all of `data` kept) until all of it has arrived. Only a message's own bytes are
	/// copied, never a payload's.
	fn message<T: Decode>(&mut self, data: &mut Bytes) -> anyhow::Result<Option<T>> {
		if self.partial.is_empty() {
			return match T::decode_prefix(data, VERSION) {
				Ok((value, used)) => {
					data.advance(used);
					Ok(Some(value))
				}
				Err(DecodeError::UnexpectedEnd) => {
					self.partial.extend_from_slice(data);
					data.clear();
					Ok(None)
				}
				Err(err) => bail!("{err}"),
			};
		}
		loop {
			let kept = self.partial.len();
			let step = data.len().min(PARTIAL_STEP);
			self.partial.extend_from_slice(&data[..step]);
			match T::decode_prefix(&self.partial, VERSION) {
				Ok((value, used)) => {
					data.advance(used - kept);
					self.partial.clear();
					return Ok(Some(value));
				}
				Err(DecodeError::UnexpectedEnd) => {
					data.advance(step);
					if data.is_empty() {
						return Ok(None);
					}
				}
				Err(err) => bail!("{err}"),
			}
		}
	}
}

/// Reads one `T` from `recv`, `buf` keeping what arrived after it.
pub async fn read<T: Decode>(recv: &mut quinn::RecvStream, buf: &mut BytesMut) -> anyhow::Result<T> {
	loop {
		if let Some(value) = decoded(buf)? {
			return Ok(value);
		}
		match recv.read_chunk(usize::MAX, true).await? {
			Some(chunk) => buf.extend_from_slice(&chunk.bytes),
			None => bail!("the relay ended the stream"),
		}
	}
}

/// Decodes one `T` from the front of `buf`, removing its bytes; `None` until all of it is there.
fn decoded<T: Decode>(buf: &mut BytesMut) -> anyhow::Result<Option<T>> {
	match T::decode_prefix(buf, VERSION) {
		Ok((value, used)) => {
			buf.advance(used);
			Ok(Some(value))
		}
		Err(DecodeError::UnexpectedEnd) => Ok(None),
		Err(err) => bail!("{err}"),
	}
}

/// `message` as moq-lite-05 bytes.
pub fn encode<T: Encode>(message: &T) -> anyhow::Result<Vec<u8>> {
	message.to_bytes(VERSION).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Trusts one certificate by its SHA-256 (handshake signatures are still verified), and counts
/// the certificate checks it made: a resumed TLS session makes none.
#[derive(Debug)]
pub struct Pinned {
	fingerprint: Vec<u8>,
	provider: Arc<rustls::crypto::CryptoProvider>,
	checks: AtomicUsize,
}

impl Pinned {
	/// Trusts the certificate whose SHA-256 is `fingerprint` (hex), on aws-lc-rs.
	pub fn new(fingerprint: &str) -> anyhow::Result<Self> {
		let fingerprint = hex::decode(fingerprint).context("not hex")?;
		if fingerprint.len() != 32 {
			bail!("not a SHA-256 (64 hex digits)");
		}
		Ok(Self {
			fingerprint,
			provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
			checks: AtomicUsize::new(0),
		})
	}

	/// The certificate checks made so far.
	pub fn checks(&self) -> usize {
		self.checks.load(Ordering::SeqCst)
	}
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
		self.checks.fetch_add(1, Ordering::SeqCst);
		let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, end_entity);
		if digest.as_ref() == self.fingerprint.as_slice() {
			Ok(ServerCertVerified::assertion())
		} else {
			Err(rustls::Error::General("not the pinned certificate".into()))
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

	/// A GROUP stream: type, header, then one FRAME per payload.
	fn group_stream(payloads: &[Vec<u8>]) -> Vec<u8> {
		let group = Group {
			subscribe_id: VarInt::ZERO,
			sequence: VarInt::from_u32(7),
			frame_start: VarInt::ZERO,
		};
		let mut bytes = [encode(&UniType::Group).unwrap(), encode(&group).unwrap()].concat();
		for payload in payloads {
			let header = FrameHeader {
				timestamp_delta: 0,
				size: VarInt::try_from(payload.len() as u64).unwrap(),
			};
			bytes.extend(encode(&header).unwrap());
			bytes.extend(payload);
		}
		bytes
	}

	/// What a parser fed `stream` in chunks of `step` bytes reports: each frame's kept head and size.
	fn frames_seen(stream: &[u8], step: usize) -> (Vec<(Vec<u8>, usize)>, bool) {
		let mut parser = GroupParser::default();
		let mut seen = Vec::new();
		let mut group = true;
		for chunk in stream.chunks(step) {
			group = parser
				.push(Bytes::copy_from_slice(chunk), &mut |head: &[u8], size| {
					seen.push((head.to_vec(), size))
				})
				.unwrap();
		}
		(seen, group)
	}

	#[test]
	fn every_frame_is_reported_with_its_head_and_size_however_the_stream_is_cut() {
		let long: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
		let short = vec![9u8; 5];
		let payloads = vec![
			long.clone(),
			Vec::new(),
			short.clone(),
			long[..HEADER].to_vec(),
			vec![1; 200],
		];
		let want: Vec<(Vec<u8>, usize)> = payloads
			.iter()
			.map(|p| (p[..p.len().min(HEADER)].to_vec(), p.len()))
			.collect();
		let stream = group_stream(&payloads);
		for step in [1, 2, 3, 7, 24, 25, 64, 65, 1000, 1452, stream.len()] {
			assert_eq!(
				frames_seen(&stream, step),
				(want.clone(), true),
				"chunks of {step} bytes"
			);
		}
	}

	#[test]
	fn a_frame_cut_short_is_not_reported() {
		let stream = group_stream(&[vec![3; 100]]);
		let (seen, group) = frames_seen(&stream[..stream.len() - 1], 10);
		assert!(seen.is_empty());
		assert!(group);
	}

	#[test]
	fn a_stream_that_is_not_a_group_is_left_unread() {
		let mut stream = encode(&UniType::Setup).unwrap();
		stream.extend([0xff; 40]);
		assert_eq!(frames_seen(&stream, 1), (Vec::new(), false));
		assert_eq!(frames_seen(&stream, stream.len()), (Vec::new(), false));
	}

	#[test]
	fn an_unknown_stream_type_is_an_error() {
		// 0x3f: a one-byte varint that names no uni stream type.
		let mut parser = GroupParser::default();
		assert!(parser.push(Bytes::from_static(&[0x3f]), &mut |_: &[u8], _| {}).is_err());
	}
}
