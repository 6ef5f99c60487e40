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

const VERSION: Version = Version::Lite05;

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
		let conn = endpoint.connect(relay, "localhost")?.await.context("QUIC handshake")?;
		let setup = Setup {
			path: Some(path.to_string()),
			..Setup::default()
		};
		let mut stream = conn.open_uni().await?;
		stream
			.write_all(&[encode(&UniType::Setup)?, encode(&setup)?].concat())
			.await?;
		stream.finish()?;
		// Subscribing before the relay has the broadcast would be refused: wait for its announcement.
		let (mut send, mut recv) = conn.open_bi().await?;
		let request = AnnounceRequest {
			prefix: String::new(),
			exclude_hop: VarInt::ZERO,
		};
		send.write_all(&[encode(&BidiType::Announce)?, encode(&request)?].concat())
			.await?;
		let mut buf = BytesMut::new();
		read::<AnnounceOk>(&mut recv, &mut buf).await?;
		loop {
			let announce = read::<Announce>(&mut recv, &mut buf).await?;
			if announce.suffix == broadcast && announce.status.is_active() {
				break;
			}
		}
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
	/// whole frame's payload to `frame`. The relay's answers on the SUBSCRIBE stream are read and
	/// ignored; a stream that is not a GROUP (the relay's SETUP) is left unread.
	pub async fn run(self, mut stop: impl Future<Output = ()> + Unpin, mut frame: impl FnMut(Bytes)) {
		let Self { conn, control, .. } = self;
		let (_send, mut answers) = control;
		let mut streams = FuturesUnordered::new();
		let mut answers_open = true;
		loop {
			tokio::select! {
				_ = &mut stop => break,
				accepted = conn.accept_uni() => match accepted {
					Ok(stream) => streams.push(GroupReader::new(stream).next()),
					Err(_) => break,
				},
				Some((reader, frames)) = streams.next(), if !streams.is_empty() => {
					// A stream that failed (reset: a group the relay dropped) is let go.
					let Ok(frames) = frames else { continue };
					for payload in frames {
						frame(payload);
					}
					if !reader.done {
						streams.push(reader.next());
					}
				},
				chunk = answers.read_chunk(usize::MAX, true), if answers_open => {
					answers_open = matches!(chunk, Ok(Some(_)));
				},
			}
		}
		conn.close(0u32.into(), b"done");
	}
}

/// A GROUP stream being read: its type, its header, then FRAMEs.
struct GroupReader {
	stream: quinn::RecvStream,
	buf: BytesMut,
	state: State,
	done: bool,
}

/// What a [`GroupReader`] waits for next.
#[derive(Clone, Copy)]
enum State {
	Kind,
	Header,
	Frames,
}

impl GroupReader {
	fn new(stream: quinn::RecvStream) -> Self {
		Self {
			stream,
			buf: BytesMut::new(),
			state: State::Kind,
			done: false,
		}
	}

	/// Waits for more of the stream; the frames it completed (none at the end of the stream).
	async fn next(mut self) -> (Self, anyhow::Result<Vec<Bytes>>) {
		let result = self.read().await;
		if result.is_err() {
			self.done = true;
		}
		(self, result)
	}

	async fn read(&mut self) -> anyhow::Result<Vec<Bytes>> {
		match self.stream.read_chunk(usize::MAX, true).await? {
			Some(chunk) => self.buf.extend_from_slice(&chunk.bytes),
			None => {
				self.done = true;
				return Ok(Vec::new());
			}
		}
		let mut frames = Vec::new();
		loop {
			match self.state {
				State::Kind => match decoded::<UniType>(&mut self.buf)? {
					Some(UniType::Group) => self.state = State::Header,
					Some(_) => {
						self.done = true;
						return Ok(frames);
					}
					None => return Ok(frames),
				},
				State::Header => match decoded::<Group>(&mut self.buf)? {
					Some(_) => self.state = State::Frames,
					None => return Ok(frames),
				},
				State::Frames => {
					let mut cursor = &self.buf[..];
					let header = match FrameHeader::decode(&mut cursor, VERSION) {
						Ok(header) => header,
						Err(DecodeError::UnexpectedEnd) => return Ok(frames),
						Err(err) => bail!("FRAME: {err}"),
					};
					let head = self.buf.len() - cursor.len();
					let size = usize::try_from(header.size.into_inner())?;
					if cursor.len() < size {
						return Ok(frames);
					}
					self.buf.advance(head);
					frames.push(self.buf.split_to(size).freeze());
				}
			}
		}
	}
}

/// Reads one `T` from `recv`, `buf` keeping what arrived after it.
async fn read<T: Decode>(recv: &mut quinn::RecvStream, buf: &mut BytesMut) -> anyhow::Result<T> {
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

fn encode<T: Encode>(message: &T) -> anyhow::Result<Vec<u8>> {
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
