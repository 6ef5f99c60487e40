//! A running relay: its listeners, its sessions and its shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;
use web_transport_quinn as wtq;

use crate::auth::Auth;
use crate::cluster::{self, ClusterSettings};
use crate::http::{self, HttpState};
use crate::limits::{Connections, LimitError, PENDING_STREAMS};
use crate::metrics::Metrics;
use crate::origin::Origin;
use crate::session::{self, Context, Limits};
use crate::tls::{self, Resolver, Source, TlsError};
use crate::transport::quic;
use crate::wire::Version;

/// What a relay needs to start: already resolved from the configuration.
#[derive(Clone, Debug)]
pub struct RelayConfig {
	/// UDP (QUIC/WebTransport) addresses; TCP (HTTP/HTTPS) binds the same ports.
	pub bind: Vec<SocketAddr>,
	/// Where the certificate comes from: files, generated, or an ACME CA.
	pub certificate: Source,
	/// The authorization policy.
	pub auth: Auth,
	/// How long sessions get to leave after GOAWAY on shutdown.
	pub drain: Duration,
	/// Session limits and the cache policy.
	pub limits: Limits,
	/// Cluster links to dial, and this relay's hop id.
	pub cluster: ClusterSettings,
	/// The web origins whose pages may send cookies (`[web] allowed_origins`).
	pub allowed_origins: crate::http::origin::AllowedOrigins,
	/// Whether `/` serves the demo page and `/status` the status page (`[web] demo`).
	pub demo: bool,
	/// The operator endpoint's address (`[auth] operator`), off when `None`.
	pub operator: Option<SocketAddr>,
}

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
	/// A socket could not be bound.
	#[error("cannot bind {addr}")]
	Bind {
		/// The address.
		addr: SocketAddr,
		/// Why.
		source: std::io::Error,
	},
	/// No address to bind.
	#[error("no address to bind")]
	NoAddress,
	/// TLS setup failed.
	#[error(transparent)]
	Tls(#[from] TlsError),
	/// The HTTPS listener's TLS configuration could not be made.
	#[error("cannot set up HTTPS")]
	Https(#[source] TlsError),
}

/// The versions spoken, most preferred first, on raw QUIC (the TLS ALPN list,
/// whose order rustls applies) and on WebTransport (`WT-Protocol` is the first of
/// these the client offers): lite-06, then lite-05, lite-04 and lite-03. The IETF drafts
/// (`crate::protocol::ietf::negotiate::DRAFTS`, ALPN `moq-00`, then `moqt-15` to `moqt-22`) come
/// after them on both.
pub const VERSIONS: [Version; 4] = [Version::Lite06, Version::Lite05, Version::Lite04, Version::Lite03];

/// A relay whose sockets are bound; [`Relay::run`] serves them.
pub struct Relay {
	endpoints: Vec<wtq::quinn::Endpoint>,
	tcp: Vec<TcpListener>,
	addrs: Vec<SocketAddr>,
	/// The certificate every listener serves (QUIC, WebTransport, HTTPS).
	resolver: Arc<Resolver>,
	/// The fingerprint of the certificate served when the sockets were bound ("" if none yet).
	fingerprint: String,
	config: RelayConfig,
	metrics: Arc<Metrics>,
	origin: Arc<Origin>,
	/// The operator endpoint's listener (`crate::operator`), when configured.
	operator: Option<(TcpListener, SocketAddr)>,
}

impl Relay {
	/// Binds every UDP and TCP socket. An address with port 0 gets a free port,
	/// shared by its UDP and TCP sockets.
	pub async fn bind(config: RelayConfig) -> Result<Self, RelayError> {
		if config.bind.is_empty() {
			return Err(RelayError::NoAddress);
		}
		let resolver = match &config.certificate {
			Source::Static(certificate) => Resolver::serving(certificate)?,
			Source::Acme(settings) => {
				let resolver = Arc::new(Resolver::default());
				// A valid cached certificate is served from the first handshake on.
				if let Some((certificate, validity)) = settings.cached() {
					resolver.install(&certificate, Some(validity.not_after))?;
				}
				resolver
			}
		};
		let fingerprint = resolver.served().fingerprint().unwrap_or_default().to_string();
		let mut alpn: Vec<&[u8]> = VERSIONS.iter().map(|v| v.alpn().as_bytes()).collect();
		alpn.extend(
			crate::protocol::ietf::negotiate::DRAFTS
				.iter()
				.map(|d| d.alpn().as_bytes()),
		);
		alpn.push(wtq::ALPN.as_bytes());
		let server = quic_server(tls::server_config(resolver.clone(), &alpn)?, &config.limits)?;

		let mut endpoints = Vec::new();
		let mut tcp = Vec::new();
		let mut addrs = Vec::new();
		for &addr in &config.bind {
			let (endpoint, listener, bound) = bind_pair(addr, &server, config.limits.max_queued_datagrams).await?;
			endpoints.push(endpoint);
			tcp.push(listener);
			addrs.push(bound);
		}
		let operator = match config.operator {
			Some(addr) => {
				let listener = TcpListener::bind(addr)
					.await
					.map_err(|source| RelayError::Bind { addr, source })?;
				let bound = listener
					.local_addr()
					.map_err(|source| RelayError::Bind { addr, source })?;
				Some((listener, bound))
			}
			None => None,
		};
		let metrics = Arc::new(Metrics::default());
		metrics.read_endpoints(&endpoints);
		let origin = Arc::new(Origin::with_meters(config.limits.cache, metrics.cache_meters()));
		Ok(Self {
			operator,
			endpoints,
			tcp,
			addrs,
			resolver,
			fingerprint,
			config,
			metrics,
			origin,
		})
	}

	/// The bound addresses (UDP and TCP share each).
	pub fn local_addrs(&self) -> &[SocketAddr] {
		&self.addrs
	}

	/// The operator endpoint's bound address, when configured.
	pub fn operator_addr(&self) -> Option<SocketAddr> {
		self.operator.as_ref().map(|(_, addr)| *addr)
	}

	/// The fingerprint of the certificate served when the sockets were bound, as
	/// `/certificate.sha256` gave it then; empty when an ACME relay has none yet.
	pub fn fingerprint(&self) -> &str {
		&self.fingerprint
	}

	/// The certificate resolver of every listener (what is served now, and its changes).
	pub fn resolver(&self) -> Arc<Resolver> {
		self.resolver.clone()
	}

	/// The counters.
	pub fn metrics(&self) -> Arc<Metrics> {
		self.metrics.clone()
	}

	/// Serves until `shutdown` resolves, then stops accepting, sends GOAWAY to
	/// every session, waits at most the drain bound for them to leave, and closes
	/// what is left. Fails before serving anything if the HTTPS listener cannot be set up.
	pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), RelayError> {
		let (down_tx, down_rx) = watch::channel(false);
		let ready = Arc::new(AtomicBool::new(false));
		let throttle = Arc::new(crate::limits::AuthThrottle::new(&self.config.limits));
		let ctx = Arc::new(Context {
			origin: self.origin.clone(),
			auth: self.config.auth.clone(),
			metrics: self.metrics.clone(),
			hop_id: self
				.config
				.cluster
				.id
				.and_then(|id| crate::wire::VarInt::from_u64(id).ok())
				.unwrap_or_else(session::random_hop_id),
			shutdown: down_rx.clone(),
			limits: self.config.limits.clone(),
			throttle: throttle.clone(),
		});

		let connections = Connections::new(self.config.limits.clone(), self.metrics.clone());
		let mut listeners = JoinSet::new();
		let mut http_listeners = JoinSet::new();
		// HTTPS, and TLS-ALPN-01 validations when a CA validates this relay (RFC 8737 §3).
		let mut https_alpn: Vec<&[u8]> = vec![b"http/1.1"];
		if let Source::Acme(settings) = &self.config.certificate {
			https_alpn.push(tls::ACME_TLS_ALPN);
			let port = self.addrs.first().map_or(443, |a| a.port());
			listeners.spawn(tls::acme::run(
				settings.clone(),
				self.resolver.clone(),
				port,
				down_rx.clone(),
			));
		}
		let https = tls::server_config(self.resolver.clone(), &https_alpn).map_err(RelayError::Https)?;
		let https = tokio_rustls::TlsAcceptor::from(Arc::new(https));
		let (sessions, _) = watch::channel(0usize);
		let sessions = Arc::new(sessions);
		// WebSocket upgrades on the TCP listener run in the same session driver (`transport::ws`).
		let websockets = Arc::new(http::upgrade::WebSockets::new(
			ctx.clone(),
			connections.clone(),
			sessions.clone(),
		));
		let router = http::router(HttpState {
			fingerprint: self.fingerprint.as_str().into(),
			certificate: self.resolver.clone(),
			metrics: self.metrics.clone(),
			ready: ready.clone(),
			auth: self.config.auth.clone(),
			origin: self.origin.clone(),
			throttle: throttle.clone(),
			websocket: Some(websockets.clone()),
			origins: Arc::new(self.config.allowed_origins.clone()),
			demo: self.config.demo,
			body_timeout: self.config.limits.http_timeout,
		});
		// Ready before the first listener runs: nothing below can fail or wait, and a client served
		// by a listener spawned here must not find `/ready` still saying 503 (a thread preempted
		// between the spawns and a later store let that happen).
		ready.store(true, Ordering::Relaxed);
		// HTTP keeps answering through the drain (so `/ready` says 503 while the relay leaves).
		let (http_stop, http_stopped) = watch::channel(false);
		for listener in self.tcp {
			http_listeners.spawn(http::serve(
				listener,
				https.clone(),
				router.clone(),
				http::Bounds::from(&self.config.limits),
				self.metrics.clone(),
				http_stopped.clone(),
			));
		}
		for endpoint in &self.endpoints {
			listeners.spawn(accept(
				endpoint.clone(),
				ctx.clone(),
				connections.clone(),
				sessions.clone(),
				down_rx.clone(),
			));
		}
		if !self.config.cluster.connect.is_empty() {
			listeners.spawn(cluster::run(self.config.cluster.clone(), ctx.clone(), down_rx.clone()));
		}
		if let Some(revocations) = ctx.auth.revocations().cloned() {
			listeners.spawn(watch_revocations(
				revocations,
				ctx.auth.keys().cloned(),
				down_rx.clone(),
			));
		}
		for jwks in ctx.auth.jwks_urls() {
			let revocations = ctx.auth.revocations().cloned();
			listeners.spawn(jwks.clone().run(revocations, self.metrics.clone(), down_rx.clone()));
		}
		// A discovery document's key set is refreshed the same way once a token made the relay read
		// the document.
		for identity in ctx.auth.discovering() {
			let (identity, revocations, metrics) =
				(identity.clone(), ctx.auth.revocations().cloned(), self.metrics.clone());
			let mut down = down_rx.clone();
			listeners.spawn(async move {
				let jwks = tokio::select! {
					Some(jwks) = identity.discovered_jwks() => jwks,
					_ = async { let _ = down.wait_for(|down| *down).await; } => return,
				};
				jwks.run(revocations, metrics, down).await;
			});
		}
		if let Some((listener, addr)) = self.operator {
			tracing::info!(%addr, "operator endpoint (GET /sessions, POST /sessions/revalidate)");
			listeners.spawn(crate::operator::serve(
				listener,
				self.config.auth.clone(),
				down_rx.clone(),
			));
		}
		tracing::info!(addrs = ?self.addrs, hop = %ctx.hop_id, "relay ready");

		shutdown.await;
		tracing::info!("shutting down: GOAWAY to every session");
		ready.store(false, Ordering::Relaxed);
		let _ = down_tx.send(true);
		while listeners.join_next().await.is_some() {}

		let mut open = sessions.subscribe();
		let drained = tokio::time::timeout(self.config.drain, async {
			let _ = open.wait_for(|n| *n == 0).await;
		})
		.await;
		if drained.is_err() {
			tracing::info!(drain = ?self.config.drain, "drain bound reached; closing the remaining sessions");
		}
		websockets.close_all();
		for endpoint in &self.endpoints {
			endpoint.close(0u32.into(), b"relay shutting down");
		}
		for endpoint in &self.endpoints {
			let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
		}
		let _ = http_stop.send(true);
		while http_listeners.join_next().await.is_some() {}
		Ok(())
	}
}

/// The QUIC server configuration of the relay's endpoints: `tls`, the transport of connections
/// not admitted yet ([`pending_transport`]) and at most `max_pending` of them held by quinn before
/// the accept loop sees them. Public for the QUIC floor benchmark (`docs/performance.md`, "The
/// QUIC floor"), which serves the same stack without the relay.
pub fn quic_server(
	tls: rustls::ServerConfig,
	limits: &crate::limits::Limits,
) -> Result<wtq::quinn::ServerConfig, TlsError> {
	let quic_tls = wtq::quinn::crypto::rustls::QuicServerConfig::try_from(tls)
		.map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
	let mut server = wtq::quinn::ServerConfig::with_crypto(Arc::new(quic_tls));
	server.transport_config(Arc::new(pending_transport(limits)));
	server.max_incoming(limits.max_pending.max(1));
	server.validation_token_config(no_address_tokens());
	Ok(server)
}

/// No address-validation tokens (NEW_TOKEN frames, RFC 9000, section 8.1.3): quinn sends two to
/// every client when its `bloom` feature is on (as it is through a dependency), each an HKDF and an
/// AEAD seal, about 3 % of the relay's instructions per session set up. A token serves a returning
/// client in two ways, and neither applies here: it spares a Retry round trip (the relay never
/// sends Retry), and it lifts the limit of three times what the client sent (RFC 9000, section
/// 8.1) before the client's address is validated. A returning client resumes its TLS session
/// (`tls::serve`, session tickets), so the relay's first flight has no certificate chain and
/// stays well under that limit. A token a client presents anyway (from an earlier version of the
/// relay) was sealed with another run's key: quinn cannot open it and treats it as none.
fn no_address_tokens() -> wtq::quinn::ValidationTokenConfig {
	let mut tokens = wtq::quinn::ValidationTokenConfig::default();
	tokens.sent(0);
	tokens
}

/// The QUIC transport of a connection that is not admitted yet: a small connection window (every
/// stream together cannot make the relay buffer more), [`PENDING_STREAMS`] streams of each
/// direction and a bounded datagram buffer. Admission raises the window and the streams
/// (`crate::session`); quinn's per-stream window stays at its default.
fn pending_transport(limits: &crate::limits::Limits) -> wtq::quinn::TransportConfig {
	let varint = |n: u64| wtq::quinn::VarInt::from_u64(n).unwrap_or(wtq::quinn::VarInt::MAX);
	let mut transport = wtq::quinn::TransportConfig::default();
	transport.max_concurrent_uni_streams(PENDING_STREAMS.into());
	transport.max_concurrent_bidi_streams(PENDING_STREAMS.into());
	transport.receive_window(varint(limits.pending_window));
	transport.datagram_receive_buffer_size(Some(limits.datagram_buffer));
	transport.keep_alive_interval(Some(Duration::from_secs(4)));
	transport.ack_frequency_config(Some(ack_frequency()));
	transport.mtu_discovery_config(Some(mtu_discovery()));
	transport
}

/// How the relay searches a peer's path MTU (RFC 8899, DPLPMTUD, as quinn implements it): its
/// first probe is quinn's upper bound (1,452 bytes, what an Ethernet path carries), so where the
/// path carries it, as almost every path does, the search is one probe and one ACK. quinn's default
/// search halves the range between 1,200 and 1,452 bytes and stops at steps under 20 bytes: four
/// padded probes and four ACKs per session (1,326, 1,389, 1,420, then 1,452 bytes), about a tenth
/// of the relay's CPU per session set up (`docs/performance.md`, "The round of 2026-12-05"). On a
/// path that drops 1,452-byte packets the search goes on in steps of at least
/// [`MTU_MINIMUM_CHANGE`] bytes and may settle up to that much below the largest size the path
/// carries.
fn mtu_discovery() -> wtq::quinn::MtuDiscoveryConfig {
	let mut config = wtq::quinn::MtuDiscoveryConfig::default();
	config.minimum_change(MTU_MINIMUM_CHANGE);
	config
}

/// The smallest step of the relay's path MTU search: more than half of the range quinn searches
/// (1,200 to 1,452 bytes), which makes quinn probe the upper bound first.
const MTU_MINIMUM_CHANGE: u16 = 127;

/// What the relay asks of a peer that supports the QUIC ACK frequency extension
/// (draft-ietf-quic-ack-frequency; quinn-based clients do): one ACK per ten packets
/// ([`ACK_ELICITING_THRESHOLD`] plus one) instead of one per two, and at most
/// [`REQUESTED_ACK_DELAY`] after a packet instead of 25 ms. A relay mostly sends: a 100 KB frame
/// is about 70 packets to each subscriber, which without the threshold come back as 35 ACKs to
/// receive, decrypt and process (`docs/performance.md`, "The round of 2026-12-03 (morning)"); a
/// 30 fps stream of small frames is one packet per 33 ms, which without the delay comes back as
/// one ACK per packet ("ACKs of small frames"). Out-of-order packets are still acknowledged at
/// once past the reordering threshold (quinn's packet threshold minus one), so loss is detected
/// about as soon as without it, and a peer that does not support the extension acknowledges as
/// it always did. Public for the tests that run quinn-proto with the relay's settings.
pub fn ack_frequency() -> wtq::quinn::AckFrequencyConfig {
	let mut config = wtq::quinn::AckFrequencyConfig::default();
	config.ack_eliciting_threshold(ACK_ELICITING_THRESHOLD.into());
	config.max_ack_delay(Some(REQUESTED_ACK_DELAY));
	config
}

/// How long a peer may hold an ACK of fewer than ten packets: about three frames of a 30 fps
/// stream. Media to a viewer rarely fills the congestion window (each frame leaves in a burst and
/// the stream waits for the next), so the ACK's timing paces nothing; when the window does hold
/// the relay back with fewer than ten packets in flight, the packet that fills it asks for its
/// ACK at once (IMMEDIATE_ACK, `vendor/quinn-proto/PATCHED.md`, change 5), so the sender still
/// hears once per round trip. What a later ACK costs is a later probe when the last packet before
/// a pause is lost (the probe timeout includes this delay, RFC 9002, section 6.2.1), and a closed
/// connection's state kept longer (three probe timeouts, RFC 9000, section 10.2: at least 300 ms
/// instead of 75 ms). A gap within the stream is acknowledged as soon as two packets after it have arrived (the
/// reordering threshold, [`ack_frequency`]). Published quinn asks for at most the larger of the
/// RTT and 25 ms (one ACK per frame at 30 fps on any path under 33 ms);
/// `vendor/quinn-proto/PATCHED.md` lets this value through as set. On paths slower than it, the
/// delay asked for is under the RTT as before.
const REQUESTED_ACK_DELAY: Duration = Duration::from_millis(100);

/// Ack-eliciting packets a peer may receive before it must acknowledge them: ten packets per ACK,
/// the ACK decimation of Chromium's QUIC stack.
const ACK_ELICITING_THRESHOLD: u32 = 9;

/// Bytes the relay asks the kernel to buffer on its UDP socket, each way. Packets arrive in
/// bursts: a frame fanned out to hundreds of viewers brings their acknowledgements back together,
/// and clients connecting at once bring their Initial packets together. With Linux's default
/// (208 KiB) the relay's socket dropped 518 packets while 300 viewers connected, and more while
/// their acknowledgements came back (`docs/relay.md`, "UDP socket buffers"). The kernel
/// grants at most `net.core.rmem_max` (`wmem_max` for sending); the relay says so in an INFO
/// line at start-up when it granted less. Cluster links' sockets ask for the same.
pub const UDP_BUFFER: usize = 4 << 20;

/// A UDP socket at `addr` for a QUIC endpoint (the relay's, or a cluster link's), its buffers
/// raised to [`UDP_BUFFER`] as far as the kernel allows; with the receive buffer it got, bytes.
pub fn udp_socket(addr: SocketAddr) -> std::io::Result<(std::net::UdpSocket, usize)> {
	let socket = std::net::UdpSocket::bind(addr)?;
	let sock = socket2::SockRef::from(&socket);
	// A refusal leaves the kernel's default, which the size read back shows.
	let _ = sock.set_recv_buffer_size(UDP_BUFFER);
	let _ = sock.set_send_buffer_size(UDP_BUFFER);
	let granted = sock.recv_buffer_size().map(granted_bytes).unwrap_or(0);
	Ok((socket, granted))
}

/// What the kernel granted for a buffer whose size `getsockopt` reported: Linux reports twice the
/// size asked for (half of it is its own bookkeeping).
fn granted_bytes(reported: usize) -> usize {
	if cfg!(target_os = "linux") {
		reported / 2
	} else {
		reported
	}
}

async fn bind_pair(
	addr: SocketAddr,
	server: &wtq::quinn::ServerConfig,
	max_queued_datagrams: usize,
) -> Result<(wtq::quinn::Endpoint, TcpListener, SocketAddr), RelayError> {
	// With port 0 the UDP port is picked first; the TCP bind of the same port
	// can collide with another program, so try a few fresh ports.
	let attempts = if addr.port() == 0 { 8 } else { 1 };
	let mut last = None;
	for _ in 0..attempts {
		let (socket, granted) = udp_socket(addr).map_err(|source| RelayError::Bind { addr, source })?;
		let endpoint = wtq::quinn::Endpoint::new(
			wtq::quinn::EndpointConfig::default(),
			Some(server.clone()),
			socket,
			Arc::new(crate::transport::runtime::ReceiveFirst::default()),
		)
		.map_err(|source| RelayError::Bind { addr, source })?;
		endpoint.set_max_queued_datagrams(max_queued_datagrams);
		let bound = endpoint
			.local_addr()
			.map_err(|source| RelayError::Bind { addr, source })?;
		match TcpListener::bind(bound).await {
			Ok(listener) => {
				if granted < UDP_BUFFER {
					tracing::info!(
						addr = %bound,
						granted_kib = granted / 1024,
						wanted_kib = UDP_BUFFER / 1024,
						"the kernel capped the UDP receive buffer: bursts of packets (many viewers' acknowledgements, many \
						 clients connecting at once) may be dropped; raise the cap with `sysctl -w \
						 net.core.rmem_max={UDP_BUFFER}` (docs/relay.md, \"UDP socket buffers\")"
					);
				}
				return Ok((endpoint, listener, bound));
			}
			Err(source) => last = Some(RelayError::Bind { addr: bound, source }),
		}
	}
	Err(last.unwrap_or(RelayError::NoAddress))
}

async fn accept(
	endpoint: wtq::quinn::Endpoint,
	ctx: Arc<Context>,
	connections: Arc<Connections>,
	sessions: Arc<watch::Sender<usize>>,
	mut shutdown: watch::Receiver<bool>,
) {
	loop {
		let incoming = tokio::select! {
			incoming = endpoint.accept() => match incoming {
				Some(incoming) => incoming,
				None => return,
			},
			_ = async { let _ = shutdown.wait_for(|down| *down).await; } => {
				// Stop accepting: new connections are refused from now on.
				endpoint.set_server_config(None);
				return;
			}
		};
		// The session's set-up time (moq_relay_session_setup_seconds) counts from here.
		let first_packet = std::time::Instant::now();
		// Counted from its first packet: a connection that never finishes its handshake holds a
		// pending place until the handshake time-out frees it.
		let remote = incoming.remote_address();
		let mut ticket = match connections.open(remote.ip(), tokio::time::Instant::now()) {
			Ok(ticket) => ticket.with_remote(remote),
			Err(limit) => {
				ctx.metrics.limit_refused(limit.code());
				incoming.refuse();
				continue;
			}
		};
		let ctx = ctx.clone();
		let count = SessionCount::new(sessions.clone());
		tokio::spawn(async move {
			let _count = count;
			// Boxed, as the session is (`session::run_accepted`): the spawned task keeps its own
			// state small for as long as the session lives, where an unboxed handshake would
			// reserve its size in it after it finished.
			let handshake = Box::pin(quic::accept(incoming, &crate::relay::VERSIONS));
			// What the handshake returned moves into the session's future in a block of its own,
			// so that this task keeps no place for it while the session lives.
			let (session, span) = {
				// Dropping the handshake closes the connection.
				let Some(accepted) = handshake_within(&ctx, "QUIC handshake", handshake).await else {
					return;
				};
				let span = tracing::info_span!("session", id = accepted.session.stable_id());
				let session = session::run_accepted(
					accepted.session,
					accepted.protocol,
					accepted.url_path,
					accepted.headers,
					ctx,
					&mut ticket,
					first_packet,
				);
				(session, span)
			};
			let result = session.instrument(span).await;
			if let Err(err) = result {
				tracing::info!(%err, "session refused");
			}
		});
	}
}

/// The result of a connection's handshake (`what`: the QUIC and TLS handshake, or a WebSocket
/// upgrade) if it succeeds within `limits.handshake_timeout`; `None`, logged, when it fails or times
/// out (counted as `handshake_timeout`), and the caller drops the connection.
pub(crate) async fn handshake_within<T, E: std::fmt::Display>(
	ctx: &Context,
	what: &'static str,
	handshake: impl std::future::Future<Output = Result<T, E>>,
) -> Option<T> {
	match tokio::time::timeout(ctx.limits.handshake_timeout, handshake).await {
		Ok(Ok(done)) => Some(done),
		Ok(Err(err)) => {
			tracing::debug!(%err, what, "handshake failed");
			None
		}
		Err(_) => {
			ctx.metrics.limit_refused(LimitError::HandshakeTimeout.code());
			tracing::debug!(what, "handshake timed out");
			None
		}
	}
}

/// Counts a session while it lives, so shutdown can wait for none to be left.
pub(crate) struct SessionCount(Arc<watch::Sender<usize>>);

impl SessionCount {
	pub(crate) fn new(count: Arc<watch::Sender<usize>>) -> Self {
		count.send_modify(|n| *n += 1);
		Self(count)
	}
}

impl Drop for SessionCount {
	fn drop(&mut self) {
		self.0.send_modify(|n| *n -= 1);
	}
}

/// How often the revocation list and the key sources are looked at: a revoked token's session is
/// closed within this (and a moment).
const REVOCATION_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Re-reads the revocation list when it changes and watches the token keys' files, telling every
/// live session to re-check its grant on either change (`docs/auth.md`, "Revocation"), until the
/// relay shuts down. A list that becomes unreadable or invalid keeps its last good entries and is
/// logged once per distinct problem.
async fn watch_revocations(
	revocations: Arc<crate::auth::Revocations>,
	keys: Option<Arc<moq_token::KeyStore>>,
	mut down: watch::Receiver<bool>,
) {
	let mut tick = tokio::time::interval(REVOCATION_POLL);
	tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	let mut stamp = keys.as_ref().map(|keys| keys.stamp());
	let mut problem: Option<String> = None;
	loop {
		tokio::select! {
			_ = tick.tick() => {}
			_ = down.wait_for(|down| *down) => return,
		}
		match revocations.reload() {
			Ok(changed) => {
				if changed {
					tracing::info!("revocation list reloaded");
				}
				problem = None;
			}
			Err(err) => {
				let text = err.to_string();
				if problem.as_ref() != Some(&text) {
					tracing::warn!(code = err.code(), "{text}: keeping the last good list; fix the file");
					problem = Some(text);
				}
			}
		}
		let now = keys.as_ref().map(|keys| keys.stamp());
		if now != stamp {
			stamp = now;
			tracing::info!("token keys changed: live sessions re-check their keys");
			revocations.changed();
		}
	}
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
	use super::*;

	/// The most the kernel grants for a socket buffer: `net.core.rmem_max` or `wmem_max`.
	fn kernel_cap(name: &str) -> usize {
		let path = format!("/proc/sys/net/core/{name}");
		let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
		text.trim().parse().unwrap_or_else(|err| panic!("{path}: {err}"))
	}

	#[test]
	fn the_udp_socket_gets_large_buffers_as_far_as_the_kernel_allows() {
		let (socket, granted) = udp_socket(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
		assert_eq!(granted, UDP_BUFFER.min(kernel_cap("rmem_max")));
		let sock = socket2::SockRef::from(&socket);
		assert_eq!(
			granted_bytes(sock.send_buffer_size().unwrap()),
			UDP_BUFFER.min(kernel_cap("wmem_max"))
		);
	}
}
