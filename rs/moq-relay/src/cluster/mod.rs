//! Cluster links (`docs/cluster.md`): this relay dials every `cluster.connect` peer as a client,
//! with the same session code it serves with ([`crate::session::run_link`]), and redials
//! forever with backoff.
//!
//! A link is symmetric once up: each side announces what it has (hop lists extended, loops
//! dropped, see [`crate::session`]) and subscribes to the other once per track. The dialing
//! side presents the cluster token (re-read from `cluster.token` on every dial) as `?jwt=`
//! in the SETUP Path, so the peer admits it as a `cluster: true` session. Links use a short
//! keep-alive and idle time-out so a peer killed without warning is noticed in seconds.

mod backoff;
mod bootstrap;
mod peer;

pub use backoff::Backoff;
pub use peer::{Bootstrap, Peer, PeerError};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::Instrument;
use web_transport_quinn as wtq;

use crate::session::{self, Context};
use crate::tls::{Trust, client_config};
use crate::wire::Version;

/// Versions a link offers, newest first ("Links speak the newest common version"). lite-03/04 are
/// not offered: they carry no path, so the token could not travel.
const LINK_VERSIONS: [Version; 2] = [Version::Lite06, Version::Lite05];

/// QUIC keep-alive on links.
pub const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// A link silent this long is dead (the smaller of both sides' idle time-outs applies, so the
/// accepting relay notices too).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
/// A link that stayed up this long resets the backoff.
const HEALTHY: Duration = Duration::from_secs(10);
/// Bound on connecting (bootstrap fetch, QUIC handshake, SETUP exchange).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The resolved `[cluster]` settings.
#[derive(Clone, Debug, Default)]
pub struct ClusterSettings {
	/// Peers to dial; none = this relay only accepts links (a root).
	pub connect: Vec<Peer>,
	/// File holding the cluster token (`moq-token sign --cluster`), re-read on every dial.
	pub token: Option<PathBuf>,
	/// The address others may dial this relay at (logged; never holds a token).
	pub node: Option<String>,
	/// This relay's hop id; random per process when unset.
	pub id: Option<u64>,
	/// CA file trusted for `https://`/`host:port` peers (else the system bundle).
	pub tls_root: Option<PathBuf>,
}

/// Why one dial failed (logged, then the link redials).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
	/// `cluster.token` could not be read.
	#[error(
		"cluster_token_unreadable: cannot read {path}: {source}; write a token made with `moq-token sign --cluster`"
	)]
	Token {
		/// The file.
		path: String,
		/// Why.
		source: std::io::Error,
	},
	/// The peer's `/certificate.sha256` could not be fetched.
	#[error("cluster_bootstrap_failed: {0}")]
	Bootstrap(#[from] bootstrap::BootstrapError),
	/// TLS settings are unusable.
	#[error("cluster_tls: {0}")]
	Tls(#[from] crate::tls::TlsError),
	/// The host did not resolve.
	#[error("cluster_unresolved: {0}")]
	Resolve(String),
	/// The token file holds a token without `cluster: true`: the peer would admit this relay as an
	/// ordinary client, so the link would carry no routes. Not dialed.
	#[error(
		"cluster_token_not_cluster: the token in {path} is not a cluster token (no `cluster: true`), so the peer would treat this relay as an ordinary client; sign one with `moq-token --key <key> sign --root \"\" --publish \"\" --subscribe \"\" --cluster` (docs/cluster.md, \"Cluster authentication\")"
	)]
	NotClusterToken {
		/// The file.
		path: String,
	},
	/// The peer's certificate was not trusted.
	#[error("cluster_certificate: {reason}; {hint}")]
	Certificate {
		/// What the TLS handshake said (`invalid peer certificate: UnknownIssuer`).
		reason: String,
		/// What to do about it.
		hint: String,
	},
	/// QUIC failed.
	#[error("cluster_connect_failed: {0}")]
	Connect(String),
	/// Connecting took too long.
	#[error("cluster_connect_timeout: no link within {0:?}")]
	Timeout(Duration),
	/// The peer negotiated something this relay does not speak.
	#[error("cluster_version: the peer chose ALPN {0:?}")]
	Version(String),
	/// The peer closed the link as unauthorized (code 0x2): it refused the token, or the token
	/// expired while the link was up.
	#[error("cluster_session: the peer refused the link: {reason}{hint}")]
	Refused {
		/// The peer's close reason (`token_expired`, `invalid_token: unknown_kid`, …).
		reason: String,
		/// The next step for a refusal this relay can fix (an expired token), else empty.
		hint: String,
	},
	/// The session failed or was refused (with what to do, when the refusal says).
	#[error("cluster_session: {source}{hint}")]
	Session {
		/// Why.
		source: session::SessionError,
		/// The next step for a refusal this relay can fix (an expired token), else empty.
		hint: String,
	},
}

/// Runs one link per `connect` peer until `shutdown`.
pub async fn run(settings: ClusterSettings, ctx: Arc<Context>, shutdown: watch::Receiver<bool>) {
	if let Some(node) = &settings.node {
		tracing::info!(%node, peers = settings.connect.len(), "cluster node");
	}
	let settings = Arc::new(settings);
	let mut links = tokio::task::JoinSet::new();
	for peer in settings.connect.clone() {
		let span = tracing::info_span!("link", %peer);
		links.spawn(link(peer, settings.clone(), ctx.clone(), shutdown.clone()).instrument(span));
	}
	while links.join_next().await.is_some() {}
}

/// Dials `peer` forever: after each end, waits the backoff (reset after a healthy link).
async fn link(peer: Peer, settings: Arc<ClusterSettings>, ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
	let mut backoff = Backoff::default();
	loop {
		let started = Instant::now();
		let result = tokio::select! {
			result = dial(&peer, &settings, ctx.clone()) => result,
			_ = shutdown.wait_for(|down| *down) => return,
		};
		match result {
			Ok(()) => tracing::info!("cluster link closed"),
			Err(err) => tracing::warn!(%err, "cluster link failed"),
		}
		if started.elapsed() >= HEALTHY {
			backoff.reset();
		}
		let delay = backoff.next(rand::random::<f64>());
		tracing::debug!(?delay, "redialing");
		tokio::select! {
			_ = tokio::time::sleep(delay) => {}
			_ = shutdown.wait_for(|down| *down) => return,
		}
	}
}

/// One dial: token, trust, QUIC, then the session until it ends.
async fn dial(peer: &Peer, settings: &ClusterSettings, ctx: Arc<Context>) -> Result<(), LinkError> {
	let token = match &settings.token {
		Some(path) => Some(read_token(path)?),
		None => None,
	};
	if let (Some(token), Some(path)) = (&token, &settings.token)
		&& unverified_claim(token, "cluster").is_some_and(|cluster| cluster != serde_json::Value::Bool(true))
	{
		return Err(LinkError::NotClusterToken {
			path: path.display().to_string(),
		});
	}
	let connecting = async {
		let trust = match peer.bootstrap {
			Bootstrap::Fingerprint => Trust::Fingerprint(bootstrap::fingerprint(&peer.host, peer.port).await?),
			Bootstrap::Roots => match &settings.tls_root {
				Some(file) => Trust::Roots(file.clone()),
				None => Trust::System,
			},
		};
		let alpn: Vec<&str> = LINK_VERSIONS.iter().map(|v| v.alpn()).collect();
		let tls = client_config(&trust, &alpn)?;
		let quic = wtq::quinn::crypto::rustls::QuicClientConfig::try_from(tls)
			.map_err(|e| LinkError::Connect(e.to_string()))?;
		let mut client = wtq::quinn::ClientConfig::new(Arc::new(quic));
		let mut transport = wtq::quinn::TransportConfig::default();
		transport.keep_alive_interval(Some(KEEP_ALIVE));
		transport.max_idle_timeout(Some(
			IDLE_TIMEOUT.try_into().map_err(|_| LinkError::Connect("idle".into()))?,
		));
		transport.max_concurrent_uni_streams(crate::transport::PEER_STREAMS.into());
		transport.max_concurrent_bidi_streams(crate::transport::PEER_STREAMS.into());
		client.transport_config(Arc::new(transport));

		let addr = resolve(&peer.host, peer.port).await?;
		let local: SocketAddr = if addr.is_ipv4() {
			(std::net::Ipv4Addr::UNSPECIFIED, 0).into()
		} else {
			(std::net::Ipv6Addr::UNSPECIFIED, 0).into()
		};
		// The link's socket gets the relay's buffers: a link carries every subscription crossing it.
		let (socket, _) = crate::relay::udp_socket(local).map_err(|e| LinkError::Connect(e.to_string()))?;
		let endpoint = wtq::quinn::Endpoint::new(
			wtq::quinn::EndpointConfig::default(),
			None,
			socket,
			Arc::new(crate::transport::runtime::ReceiveFirst::default()),
		)
		.map_err(|e| LinkError::Connect(e.to_string()))?;
		endpoint.set_max_queued_datagrams(ctx.limits.max_queued_datagrams);
		let conn = endpoint
			.connect_with(client, addr, &peer.host)
			.map_err(|e| LinkError::Connect(e.to_string()))?
			.await
			.map_err(|e| connect_error(e.to_string(), peer, settings))?;
		let alpn = crate::transport::quic::negotiated_alpn(&conn);
		let version = Version::from_alpn(&alpn)
			.filter(|v| LINK_VERSIONS.contains(v))
			.ok_or(LinkError::Version(alpn))?;
		Ok::<_, LinkError>((endpoint, conn, version))
	};
	let (_endpoint, conn, version) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
		.await
		.map_err(|_| LinkError::Timeout(CONNECT_TIMEOUT))??;
	// "cluster link up" is logged once the peer admitted the link (its ANNOUNCE_OK came back).
	tracing::debug!(%version, "cluster link connected, SETUP next");
	let mut path = format!("/{}", peer.path);
	if let Some(token) = token {
		path.push_str("?jwt=");
		path.push_str(&token);
	}
	let link = crate::metrics::Link::Dialed(peer.to_string());
	// The peer's SETUP comes before its decision, so a refusal may end the session while it runs
	// (an error here) or just after (a close): both are read from the connection's close.
	let raw = conn.clone();
	let result = session::run_link(wtq::Session::raw(conn), version, path, link, ctx).await;
	let refused = match raw.close_reason() {
		Some(wtq::quinn::ConnectionError::ApplicationClosed(close))
			if close.error_code.into_inner() == u64::from(crate::wire::SessionCode::UNAUTHORIZED.into_inner()) =>
		{
			Some(String::from_utf8_lossy(&close.reason).into_owned())
		}
		_ => None,
	};
	match (result, refused) {
		(Err(source), _) => {
			let hint = refusal_hint(settings, &source.to_string());
			Err(LinkError::Session { source, hint })
		}
		(Ok(()), Some(reason)) => {
			let hint = refusal_hint(settings, &reason);
			Err(LinkError::Refused { reason, hint })
		}
		(Ok(()), None) => Ok(()),
	}
}

/// What to do about a refusal this relay can fix: an expired token file.
fn refusal_hint(settings: &ClusterSettings, refusal: &str) -> String {
	match (&settings.token, refusal.contains("token_expired")) {
		(Some(file), true) => format!(
			"; the cluster token in {} has expired: sign a new one (`moq-token --key <key> sign --root \"\" --publish \"\" --subscribe \"\" --cluster --expires-in 30d`) and replace the file, which the next dial reads",
			file.display()
		),
		_ => String::new(),
	}
}

/// A QUIC connection failure; an untrusted certificate gets what to do about it.
fn connect_error(reason: String, peer: &Peer, settings: &ClusterSettings) -> LinkError {
	if !reason.contains("invalid peer certificate") {
		return LinkError::Connect(reason);
	}
	let hint = match (peer.bootstrap, &settings.tls_root) {
		(Bootstrap::Fingerprint, _) => format!(
			"the certificate differs from the one its /certificate.sha256 served (did {} restart?): the next dial fetches it again",
			peer
		),
		(Bootstrap::Roots, Some(file)) => format!(
			"the peer's certificate is not signed by the CA in [cluster] tls_root ({}): set tls_root to the CA that signed it (docs/cluster.md, \"Configuration\")",
			file.display()
		),
		(Bootstrap::Roots, None) => format!(
			"the peer's certificate is not signed by a CA of the system roots: for a development peer with a self-signed certificate dial http://{}:{} (pins its /certificate.sha256), else set [cluster] tls_root to the CA that signed it (docs/cluster.md, \"Configuration\")",
			if peer.host.contains(':') {
				format!("[{}]", peer.host)
			} else {
				peer.host.clone()
			},
			peer.port
		),
	};
	LinkError::Certificate { reason, hint }
}

/// One claim of a JWT's payload, read without verifying it (the peer verifies): only to tell this
/// relay's operator that the token file cannot work. `None` when the token does not decode.
fn unverified_claim(token: &str, name: &str) -> Option<serde_json::Value> {
	use base64::Engine;
	let payload = token.split('.').nth(1)?;
	let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
		.decode(payload.trim_end_matches('='))
		.ok()?;
	let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
	Some(claims.get(name).cloned().unwrap_or(serde_json::Value::Bool(false)))
}

fn read_token(path: &std::path::Path) -> Result<String, LinkError> {
	let text = std::fs::read_to_string(path).map_err(|source| LinkError::Token {
		path: path.display().to_string(),
		source,
	})?;
	Ok(text.trim().to_string())
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, LinkError> {
	tokio::net::lookup_host((host, port))
		.await
		.map_err(|e| LinkError::Resolve(format!("{host}: {e}")))?
		.next()
		.ok_or_else(|| LinkError::Resolve(format!("{host}: no address")))
}
