//! Drives one MoQ session over any [`transport::Session`](crate::transport::Session).
//!
//! The relay plays both roles in every session (`docs/protocol.md`, "Streams": "Either endpoint
//! may publish and subscribe in one session"):
//! - as a **publisher** to the peer ([`serve`]): it answers the peer's Announce,
//!   Subscribe, Track and Fetch streams from the [`Origin`];
//! - as a **subscriber** of the peer ([`upstream`]): it asks the peer for its
//!   announcements, puts them in the [`Origin`], and subscribes upstream when a
//!   track is first wanted.
//!
//! Order of events (`docs/protocol.md`, "Session start"): the relay sends its SETUP, reads the
//! client's SETUP (the first uni stream; other uni streams before it are
//! stopped and skipped), derives the connection path (CONNECT URL on
//! WebTransport, SETUP Path on raw QUIC), and asks [`Auth`] for a [`Grant`].
//! From then on the [`Grant`] is the only thing consulted about permissions.
//!
//! Errors: a stream-level problem resets only that stream; malformed control
//! data or a second SETUP closes the session with the code of `docs/protocol.md` ("Error codes").
//!
//! This layer does I/O (over the transport trait, like h3 over its `quic`
//! traits); the byte-level protocol lives in the sans-I/O [`crate::wire`].

mod budget;
mod ietf;
mod ingest;
mod serve;
mod stream;
mod upstream;
mod woken;

#[cfg(test)]
mod tests;

pub use stream::{Reader, Writer};

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::auth::{Auth, AuthError, ConnectRequest, CredentialKind, Grant, Transport};
use crate::limits::{LimitError, Ticket};
use crate::metrics::{Link, Metrics};
use crate::origin::{Origin, Track};
use crate::protocol::lite::Dialect;
use crate::transport::{Session, TransportError};
use crate::wire::{
	BidiType, DecodeError, Disposition, EncodeError, Goaway, Role, SessionCode, Setup, StreamCode, UniType, VarInt,
	Version,
};

/// Why a stream's exchange ended badly. [`StreamError::disposition`] says whether
/// that resets the stream or closes the session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
	/// The peer sent bytes the codec rejects.
	#[error("malformed message: {0}")]
	Decode(#[from] DecodeError),
	/// The stream ended inside a message.
	#[error("the stream ended inside a message")]
	Truncated,
	/// We could not encode a message (a bug, never the peer's fault).
	#[error("could not encode: {0}")]
	Encode(EncodeError),
	/// The exchange is refused: reset the stream with this code.
	#[error("stream refused with {0}")]
	Reset(StreamCode),
	/// The peer broke a session rule: close the session.
	#[error("{1}")]
	Session(SessionCode, &'static str),
	/// The transport failed (the peer reset the stream, or the session is gone).
	#[error(transparent)]
	Transport(#[from] TransportError),
}

/// Why a session ended before or instead of being served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
	/// A limit refused the session (no SETUP in time, too many sessions from its address).
	#[error("refused: {0}")]
	Limit(#[from] LimitError),
	/// Authorization refused the session.
	#[error("unauthorized: {0}")]
	Unauthorized(#[from] AuthError),
	/// The peer broke a protocol rule.
	#[error("closed with {code}: {reason}")]
	Protocol {
		/// The close code sent.
		code: SessionCode,
		/// The reason sent.
		reason: String,
	},
	/// The transport went away.
	#[error(transparent)]
	Transport(#[from] TransportError),
}

pub use crate::limits::Limits;

/// What every session of a relay shares.
pub struct Context {
	/// The broadcast tree.
	pub origin: Arc<Origin>,
	/// The authorization policy.
	pub auth: Auth,
	/// Counters for `/metrics`.
	pub metrics: Arc<Metrics>,
	/// This relay's hop id (SETUP Hop, ANNOUNCE_OK).
	pub hop_id: VarInt,
	/// Becomes `true` when the relay shuts down: sessions send GOAWAY.
	pub shutdown: watch::Receiver<bool>,
	/// Limits.
	pub limits: Limits,
	/// Failed credentials by address, and their cool-downs.
	pub throttle: Arc<crate::limits::AuthThrottle>,
}

/// One admitted session, shared by its stream tasks.
struct Shared<S> {
	transport: S,
	version: Version,
	grant: Grant,
	ctx: Arc<Context>,
	/// The peer's SETUP Hop: never announce to it what came through it.
	peer_hop: Option<VarInt>,
	next_subscribe_id: AtomicU64,
	/// The relay's subscriptions to this peer, by Subscribe ID.
	upstream: Mutex<HashMap<u64, Weak<Track>>>,
	/// Whether the peer's datagrams are read: from the relay's first subscription to it on.
	reading_datagrams: std::sync::atomic::AtomicBool,
	/// Streams the peer may keep open, raised on demand.
	budget: Arc<budget::Budget>,
	/// Bytes of unfinished control messages the peer's streams hold, together.
	control: Arc<stream::ControlBudget>,
	/// New subscriptions the peer may start (`limits.subscribe_rate`).
	subscribe_rate: Mutex<crate::limits::Rate>,
	/// The first hop of the routes a client session announces: drawn by this relay per session.
	route_origin: VarInt,
	/// Which cluster link this is, for `moq_relay_cluster_announcements_total`.
	link: Link,
	/// What the session's grant refuses and how it ends, after its admission line.
	trail: crate::audit::Trail,
}

impl<S: Session> Shared<S> {
	fn close(&self, code: SessionCode, reason: &str) {
		tracing::debug!(%code, reason, "closing session");
		self.transport.close(code.into_inner(), reason);
	}

	/// Applies a stream error's disposition; returns the reset code if the
	/// stream (not the session) is what failed.
	fn fail(&self, err: &StreamError) -> Option<StreamCode> {
		match err.disposition() {
			Disposition::CloseSession(code) => {
				self.close(code, &err.to_string());
				None
			}
			Disposition::ResetStream(code) => Some(code),
			Disposition::NeedMoreBytes => Some(StreamCode::INTERNAL),
		}
	}
}

/// Decides a session from its connection request, closing it with the unauthorized code and
/// the refusal's reason when it is refused (for a Privacy Pass challenge, the reason is
/// `pp:<base64url TokenChallenge>`, `docs/privacy-pass.md`).
///
/// The session is kept until the peer has the close (bounded by [`REFUSAL_LINGER`]): dropping it at
/// once would also drop its HTTP/3 control streams, and a browser would then report a failed
/// handshake instead of the code and reason in `WebTransport.closed`.
async fn admit<S: Session>(
	transport: &S,
	ctx: &Context,
	ticket: &Ticket,
	target: &str,
	headers: Option<&HeaderMap>,
	transport_kind: Transport,
) -> Result<Grant, SessionError> {
	// A CONNECT's credential header that is not text is `invalid_auth_header`.
	let request = ConnectRequest::parse(target).and_then(|request| match headers {
		Some(headers) => request.with_headers(headers),
		None => Ok(request),
	});
	match decide(ctx, ticket, request, transport_kind).await {
		Ok(grant) => Ok(grant),
		Err(err) => {
			transport.close(SessionCode::UNAUTHORIZED.into_inner(), &err.reason());
			let _ = tokio::time::timeout(REFUSAL_LINGER, transport.closed()).await;
			Err(err.into())
		}
	}
}

/// Decides a connection request (or the reason it could not be read) with the relay's [`Auth`],
/// counting, auditing and throttling a refusal; the caller closes the session.
async fn decide(
	ctx: &Context,
	ticket: &Ticket,
	request: Result<ConnectRequest, AuthError>,
	transport_kind: Transport,
) -> Result<Grant, AuthError> {
	let address = ticket.address();
	let now = tokio::time::Instant::now();
	let (kind, decided) = match request {
		// An address in its cool-down is refused before any verifier (or service) is asked.
		_ if !ctx.throttle.allows(address, now) => (CredentialKind::None, Err(AuthError::TooManyAttempts)),
		Ok(request) => {
			let request = request.with_transport(transport_kind).with_remote(ticket.remote());
			ctx.auth.admit(&request, &ctx.metrics).await
		}
		Err(err) => (CredentialKind::Invalid, Err(err)),
	};
	match decided {
		Ok(grant) => {
			crate::audit::admitted(kind, &grant, address, transport_kind);
			Ok(grant)
		}
		Err(err) => {
			if err.counts_as_failure() {
				ctx.throttle.failed(address, now);
			}
			ctx.metrics.auth_refused(err.code());
			crate::audit::refused(kind, &err, address, transport_kind);
			tracing::info!(code = err.code(), "session refused");
			Err(err)
		}
	}
}

/// Closes a session a limit refused: [`SessionCode::TIMEOUT`] for a time limit, else
/// [`SessionCode::INTERNAL`], with the limit's code and what to do as the reason.
fn refuse<S: Session>(transport: &S, ctx: &Context, limit: LimitError) {
	ctx.metrics.limit_refused(limit.code());
	let code = match limit {
		LimitError::SetupTimeout | LimitError::HandshakeTimeout => SessionCode::TIMEOUT,
		_ => SessionCode::INTERNAL,
	};
	tracing::info!(code = limit.code(), "session refused by a limit");
	transport.close(code.into_inner(), &format!("{}: {limit}", limit.code()));
}

/// How long a refused session is kept for its close to reach the peer.
const REFUSAL_LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// When a grant's expiry (unix seconds) falls, as a tokio instant; `None` when it is too far
/// ahead for the clock to represent (a validly signed `exp` near 2^63 must not overflow it).
fn expiry_deadline(expires: u64) -> Option<tokio::time::Instant> {
	let at = std::time::UNIX_EPOCH.checked_add(Duration::from_secs(expires))?;
	let left = at.duration_since(std::time::SystemTime::now()).unwrap_or_default();
	tokio::time::Instant::now().checked_add(left)
}

/// Resolves at a grant's expiry (unix seconds, [`expiry_deadline`]); never without one.
async fn expired(expires: Option<u64>) {
	match expires.and_then(expiry_deadline) {
		Some(deadline) => tokio::time::sleep_until(deadline).await,
		None => std::future::pending().await,
	}
}

/// Runs one session accepted on the QUIC endpoint to its end, in the protocol family its handshake
/// chose ([`run`] for moq-lite; the IETF drafts, and sessions whose SETUP decides, in `ietf`).
/// Not async itself: what it is given moves into the future of the family chosen, and the future
/// returned holds nothing else (a session's two boxes, [`run`] for moq-lite or `ietf::run`), where
/// an async function would keep its arguments for the session's whole life
/// (`docs/performance.md`, "A session's state while it serves").
pub fn run_accepted<'a, S: Session>(
	transport: S,
	protocol: crate::transport::quic::Protocol,
	url_path: Option<String>,
	headers: Option<HeaderMap>,
	ctx: Arc<Context>,
	ticket: &'a mut Ticket,
	first_packet: Instant,
) -> impl Future<Output = Result<(), SessionError>> + 'a {
	use crate::transport::quic::Protocol;
	use futures::future::Either;
	let negotiation = match protocol {
		Protocol::Lite(version) => {
			// A CONNECT's cookies are no credential: browsers send none on WebTransport, and the
			// page's `Origin` is checked only where cookies authenticate (HTTP routes, WebSocket
			// upgrades: `docs/auth.md`, "Better Auth").
			let mut headers = headers.unwrap_or_default();
			headers.remove(axum::http::header::COOKIE);
			let url = url_path.map(|target| UrlRequest {
				target,
				binding: Transport::WebTransport,
				headers,
			});
			return Either::Left(run(transport, version, url, ctx, ticket, first_packet));
		}
		Protocol::Ietf(draft) => ietf::Negotiation::Fixed(draft),
		Protocol::Setup { offered } => ietf::Negotiation::Setup { offered },
	};
	let kind = match url_path {
		Some(_) => Transport::WebTransport,
		None => Transport::Quic,
	};
	let arrival = ietf::Arrival {
		url_path,
		kind,
		headers,
		first_packet,
	};
	let metrics = ctx.metrics.clone();
	let session = ietf::run(transport, negotiation, arrival, ctx, ticket);
	Either::Right(async move {
		let _gauge = metrics.session_started();
		session.await
	})
}

/// Runs one IETF draft session that came as a WebSocket upgrade to `target` (its URL path and
/// query) to its end. Its cookies are no credential (the draft sessions read none). Not async
/// itself, for the reason [`run_accepted`] is not.
pub fn run_websocket_draft<'a, S: Session>(
	transport: S,
	draft: crate::wire::ietf::Draft,
	target: String,
	mut headers: HeaderMap,
	ctx: Arc<Context>,
	ticket: &'a mut Ticket,
	first_packet: Instant,
) -> impl Future<Output = Result<(), SessionError>> + 'a {
	headers.remove(axum::http::header::COOKIE);
	let arrival = ietf::Arrival {
		url_path: Some(target),
		kind: Transport::WebSocket,
		headers: Some(headers),
		first_packet,
	};
	let metrics = ctx.metrics.clone();
	let session = ietf::run(transport, ietf::Negotiation::Fixed(draft), arrival, ctx, ticket);
	async move {
		let _gauge = metrics.session_started();
		session.await
	}
}

/// The HTTP request a session came with: a WebTransport CONNECT or a WebSocket upgrade. Its
/// `Debug` shows neither the query nor a header's value (both may hold credentials).
pub struct UrlRequest {
	/// The path and query (`/anon?jwt=…`: credentials, never logged).
	pub target: String,
	/// Which of the two it is (for the audit line and the auth service).
	pub binding: Transport,
	/// Its headers: the `Authorization` and API key credentials, and what the auth service may be
	/// told.
	pub headers: HeaderMap,
}

impl std::fmt::Debug for UrlRequest {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("UrlRequest")
			.field("path", &self.target.split('?').next().unwrap_or_default())
			.field("binding", &self.binding)
			.field("headers", &self.headers.keys().collect::<Vec<_>>())
			.finish()
	}
}

/// The future `make` builds, on the heap, built in this function (which is not async) so that the
/// unboxed future never has a place in the calling async fn's state.
fn on_heap<F: Future>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
	Box::pin(make())
}

/// Runs one session to its end. `url` is the request it came with (`None` on raw QUIC, where the
/// path comes in SETUP); `ticket` its place in the connection table, admitted once the
/// session is; `first_packet` when the connection's first packet arrived (for the set-up time).
pub fn run<'a, S: Session>(
	transport: S,
	version: Version,
	url: Option<UrlRequest>,
	ctx: Arc<Context>,
	ticket: &'a mut Ticket,
	first_packet: Instant,
) -> impl Future<Output = Result<(), SessionError>> + 'a {
	// Admission (the SETUP exchange and the auth decision: a token, an auth service call, a
	// Privacy Pass redemption) and serving each run in a box of their own, and what is returned
	// holds nothing else: admission's state goes back once the session is admitted, and what stays
	// for the session's life is what serving needs (`docs/performance.md`, "A session's state
	// while it serves").
	let metrics = ctx.metrics.clone();
	let admission = on_heap(move || admit_session(transport, version, url, ctx, ticket, first_packet));
	async move {
		let _gauge = metrics.session_started();
		let (shared, role) = admission.await?;
		on_heap(|| serve(shared, role)).await
	}
}

/// Admits a session: the auth decision on the URL (WebTransport, WebSocket), the SETUP exchange,
/// the auth decision on SETUP's Path (raw QUIC) and the connection table's admission; a refused
/// peer is told why. The admitted session ([`admitted`]).
async fn admit_session<S: Session>(
	transport: S,
	version: Version,
	url: Option<UrlRequest>,
	ctx: Arc<Context>,
	ticket: &mut Ticket,
	first_packet: Instant,
) -> Result<(Arc<Shared<S>>, Role), SessionError> {
	// `docs/auth.md`: "On WebTransport the decision is made from the CONNECT's URL and headers,
	// before any MoQ message", so even a client that never sends SETUP learns why.
	let early = match &url {
		Some(url) => Some(admit(&transport, &ctx, ticket, &url.target, Some(&url.headers), url.binding).await?),
		None => None,
	};
	let binding = url.as_ref().map_or(Transport::Quic, |url| url.binding);
	let setup = match admit_setup(&transport, version, &ctx).await {
		Ok(setup) => setup,
		Err(err) => {
			match &err {
				SessionError::Protocol { code, reason } => transport.close(code.into_inner(), reason),
				SessionError::Limit(limit) => refuse(&transport, &ctx, *limit),
				_ => {}
			}
			return Err(err);
		}
	};

	let peer_path = setup.as_ref().and_then(|s| s.path.clone());
	let target = match (url.map(|url| url.target), peer_path) {
		(Some(_), Some(_)) => {
			// `docs/protocol.md` ("Session start"): Path "must not appear on WebTransport/WebSocket".
			let reason = "SETUP Path on a binding that carries a URL";
			transport.close(SessionCode::PROTOCOL_VIOLATION.into_inner(), reason);
			return Err(SessionError::Protocol {
				code: SessionCode::PROTOCOL_VIOLATION,
				reason: reason.into(),
			});
		}
		(Some(path), None) | (None, Some(path)) => path,
		(None, None) => String::new(),
	};
	let grant = match early {
		Some(grant) => grant,
		None => admit(&transport, &ctx, ticket, &target, None, Transport::Quic).await?,
	};
	if let Err(limit) = ticket.admit() {
		crate::audit::limited(limit, ticket.address(), binding);
		refuse(&transport, &ctx, limit);
		let _ = tokio::time::timeout(REFUSAL_LINGER, transport.closed()).await;
		return Err(limit.into());
	}
	ctx.metrics.session_admitted(first_packet.elapsed());
	tracing::info!(root = %grant.root(), subject = grant.subject().unwrap_or("-"), %version, "session admitted");
	let trail = crate::audit::Trail::new(ticket.address(), binding);
	Ok(admitted(transport, version, (grant, trail), setup, ctx, Link::Accepted))
}

/// Runs a cluster link this relay dialed (`docs/cluster.md`) to its end: sends a SETUP with `path`
/// (which carries the cluster token as `?jwt=`) and this relay's hop id, reads the peer's, then
/// serves the peer exactly like an admitted peer session, with [`Grant::peer`]. `link` names the
/// link in the metrics (its `[cluster] connect` entry).
pub async fn run_link<S: Session>(
	transport: S,
	version: Version,
	path: String,
	link: Link,
	ctx: Arc<Context>,
) -> Result<(), SessionError> {
	let ours = Setup {
		path: Some(path),
		hop: Some(ctx.hop_id),
		..Setup::default()
	};
	let setup = match exchange_setup(&transport, version, ours, &ctx).await {
		Ok(setup) => setup,
		Err(err) => {
			if let SessionError::Protocol { code, reason } = &err {
				transport.close(code.into_inner(), reason);
			}
			return Err(err);
		}
	};
	let grant = (Grant::peer(), crate::audit::Trail::dialed());
	let (shared, role) = admitted(transport, version, grant, setup, ctx, link);
	serve(shared, role).await
}

/// What an admitted session shares between its tasks, with the peer given what an admitted
/// session may use: the relay's side of the session from admission on.
fn admitted<S: Session>(
	transport: S,
	version: Version,
	(grant, trail): (Grant, crate::audit::Trail),
	setup: Option<Setup>,
	ctx: Arc<Context>,
	link: Link,
) -> (Arc<Shared<S>>, Role) {
	grant.meter(&transport);
	// Before admission the peer had a small window and a few streams (crate::limits): now it may use
	// what an admitted session needs.
	transport.allow_receive(ctx.limits.session_window);
	let budget = if grant.cluster() {
		transport.allow_streams(crate::transport::PEER_STREAMS);
		budget::Budget::new(crate::transport::PEER_STREAMS, crate::transport::PEER_STREAMS)
	} else {
		transport.allow_streams(transport.client_streams());
		budget::Budget::new(transport.client_streams(), crate::transport::PEER_STREAMS)
	};
	let role = setup.as_ref().map(Setup::role_kind).unwrap_or(Role::Both);
	let shared = Arc::new(Shared {
		transport,
		version,
		grant,
		peer_hop: setup.as_ref().and_then(Setup::hop_id),
		next_subscribe_id: AtomicU64::new(0),
		upstream: Mutex::new(HashMap::new()),
		reading_datagrams: std::sync::atomic::AtomicBool::new(false),
		budget,
		control: stream::ControlBudget::new(ctx.limits.max_control_buffer),
		subscribe_rate: Mutex::new(crate::limits::Rate::new(
			ctx.limits.subscribe_rate,
			ctx.limits.subscribe_rate.saturating_mul(10),
			tokio::time::Instant::now(),
		)),
		route_origin: random_hop_id(),
		link,
		trail,
		ctx,
	});
	(shared, role)
}

/// Serves an admitted session ([`admitted`]) until it closes, its grant expires or the relay
/// shuts down. It takes the session's shared state only, built before it: what it took by value
/// would keep a slot in its state for the session's whole life after moving on.
async fn serve<S: Session>(shared: Arc<Shared<S>>, role: Role) -> Result<(), SessionError> {
	let (transport, ctx) = (&shared.transport, &shared.ctx);
	let _link = shared.grant.cluster().then(|| ctx.metrics.cluster_link_started());

	let mut tasks = JoinSet::new();
	tasks.spawn(accept_bi(shared.clone()));
	tasks.spawn(accept_uni(shared.clone()));
	if role != Role::Subscriber && !shared.grant.publish().is_empty() {
		tasks.spawn(upstream::run(shared.clone()));
	}

	let closes = Closes {
		revoked: SessionCode::UNAUTHORIZED,
		expired: SessionCode::UNAUTHORIZED,
	};
	let err = lifetime(transport, ctx, (&shared.grant, &shared.trail), closes, || {
		goaway(&shared)
	})
	.await;
	tasks.abort_all();
	tracing::info!(reason = %err, "session closed");
	Ok(())
}

/// The codes a served session is closed with when its grant ends.
struct Closes {
	/// Its token revoked or the key that verified it removed.
	revoked: SessionCode,
	/// Its token expired (moq-lite has no code of its own for it; the drafts do).
	expired: SessionCode,
}

/// Waits for a served session's end: the peer closing it, its grant revoked or expired (closed
/// with the code `closes` names; `docs/auth.md`: "a session whose grant expires is closed at that
/// moment", and "Revocation": the lists and key sources are re-checked whenever they change), or
/// the relay shutting down (`goaway`'s future, made and put on the heap only then, tells the peer;
/// then the peer closes). An end by the grant goes into the session's audit `trail`. Of every
/// protocol family.
async fn lifetime<S: Session, F: Future<Output = ()>>(
	transport: &S,
	ctx: &Context,
	(grant, trail): (&Grant, &crate::audit::Trail),
	closes: Closes,
	goaway: impl FnOnce() -> F,
) -> TransportError {
	let mut shutdown = ctx.shutdown.clone();
	let expiry = expired(grant.expires());
	let revocation = revoked(ctx, grant);
	tokio::select! {
		err = transport.closed() => err,
		revoked = revocation => {
			ctx.metrics.auth_refused(revoked.code());
			trail.ended(grant, revoked.code());
			transport.close(closes.revoked.into_inner(), &revoked.reason());
			transport.closed().await
		}
		_ = expiry => {
			ctx.metrics.auth_refused("token_expired");
			trail.ended(grant, "token_expired");
			transport.close(closes.expired.into_inner(), "token_expired");
			transport.closed().await
		}
		_ = async { let _ = shutdown.wait_for(|down| *down).await; } => {
			on_heap(goaway).await;
			// The relay closes every session once its drain bound has passed.
			transport.closed().await
		}
	}
}

/// Resolves with why `grant` no longer holds once it is revoked: its token ID or subject listed,
/// the key that verified it removed, or the auth service refusing or narrowing it (re-checked
/// whenever the lists and key sources change: `docs/auth.md`, "Revocation"). Never for a relay
/// without them.
async fn revoked(ctx: &Context, grant: &Grant) -> AuthError {
	let Some(mut changes) = ctx.auth.revocations().map(|r| r.changes()) else {
		return std::future::pending().await;
	};
	loop {
		if let Some(revoked) = ctx.auth.revoked(grant) {
			return revoked;
		}
		if changes.changed().await.is_err() {
			return std::future::pending().await;
		}
	}
}

/// Sends our SETUP and reads the client's (lite-05+).
async fn admit_setup<S: Session>(
	transport: &S,
	version: Version,
	ctx: &Context,
) -> Result<Option<Setup>, SessionError> {
	let ours = Setup {
		hop: Some(ctx.hop_id),
		..Setup::default()
	};
	exchange_setup(transport, version, ours, ctx).await
}

/// Sends `ours` and reads the peer's SETUP (lite-05+; `None` on lite-04, which has none).
async fn exchange_setup<S: Session>(
	transport: &S,
	version: Version,
	ours: Setup,
	ctx: &Context,
) -> Result<Option<Setup>, SessionError> {
	if !Dialect::new(version).has_setup() {
		return Ok(None);
	}
	let send = async {
		let mut writer = Writer::new(transport.open_uni().await?);
		writer.encode(&UniType::Setup, version).await?;
		writer.encode(&ours, version).await?;
		writer.finish()
	};
	let timeout = ctx.limits.setup_timeout;
	let (sent, received) = tokio::join!(send, tokio::time::timeout(timeout, read_setup(transport, version)));
	let received = received.map_err(|_| LimitError::SetupTimeout)?;
	if let Err(StreamError::Transport(err)) = sent {
		return Err(err.into());
	}
	received.map(Some)
}

async fn read_setup<S: Session>(transport: &S, version: Version) -> Result<Setup, SessionError> {
	loop {
		let mut reader = Reader::new(transport.accept_uni().await?);
		let violation = |err: StreamError| match err.disposition() {
			Disposition::CloseSession(code) => SessionError::Protocol {
				code,
				reason: err.to_string(),
			},
			_ => SessionError::Protocol {
				code: SessionCode::PROTOCOL_VIOLATION,
				reason: format!("SETUP stream: {err}"),
			},
		};
		match reader.decode::<UniType>(version).await {
			Ok(Some(UniType::Setup)) => {
				return reader.expect::<Setup>(version).await.map_err(violation);
			}
			// `docs/protocol.md` ("Session start"): "a non-Setup uni stream arriving first is
			// STOP_SENDING-ed and skipped".
			Ok(_) | Err(StreamError::Decode(DecodeError::UnknownStreamType { .. })) => {
				reader.stop(StreamCode::CANCEL);
			}
			Err(StreamError::Transport(TransportError::Closed(reason))) => {
				return Err(TransportError::Closed(reason).into());
			}
			Err(err) => return Err(violation(err)),
		}
	}
}

async fn goaway<S: Session>(shared: &Shared<S>) {
	if !Dialect::new(shared.version).goaway() {
		// lite-03 has no Goaway stream: the peer learns of the end when the drain closes it.
		return;
	}
	let send = async {
		let (send, _recv) = shared.transport.open_bi().await?;
		let mut writer = Writer::new(send);
		writer.encode(&BidiType::Goaway, shared.version).await?;
		writer.encode(&Goaway { uri: String::new() }, shared.version).await?;
		writer.finish()
	};
	if let Err(err) = send.await {
		tracing::debug!(%err, "GOAWAY not sent");
	}
}

async fn accept_bi<S: Session>(shared: Arc<Shared<S>>) {
	while let Ok((send, recv)) = shared.transport.accept_bi().await {
		let open = shared.budget.opened(&shared.transport);
		let shared = shared.clone();
		tokio::spawn(async move {
			let reader = Reader::control(recv, shared.ctx.limits.max_message, shared.control.clone());
			serve::bidi(shared, Writer::new(send), reader).await;
			drop(open);
		});
	}
}

async fn accept_uni<S: Session>(shared: Arc<Shared<S>>) {
	while let Ok(recv) = shared.transport.accept_uni().await {
		let shared = shared.clone();
		let _open = shared.budget.opened(&shared.transport);
		tokio::spawn(async move {
			let _open = _open;
			let mut reader = Reader::control(recv, shared.ctx.limits.max_message, shared.control.clone());
			let result = match reader.decode::<UniType>(shared.version).await {
				Ok(Some(UniType::Group)) => ingest::group(&shared, &mut reader).await,
				// `docs/protocol.md` ("Session start"): "A second Setup stream → PROTOCOL_VIOLATION."
				Ok(Some(UniType::Setup)) => {
					Err(StreamError::Session(SessionCode::PROTOCOL_VIOLATION, "a second SETUP"))
				}
				Ok(None) => Ok(()),
				Err(err) => Err(err),
			};
			if let Err(err) = result
				&& let Some(code) = shared.fail(&err)
			{
				tracing::debug!(%err, "uni stream refused");
				reader.stop(code);
			}
		});
	}
}

/// A fresh random hop id (non-zero, below 2^62).
pub fn random_hop_id() -> VarInt {
	let id = rand::random::<u64>() >> 2;
	VarInt::from_u64(id.max(1)).unwrap_or(VarInt::from_u32(1))
}

impl<S> Shared<S> {
	fn next_subscribe_id(&self) -> u64 {
		self.next_subscribe_id.fetch_add(1, Ordering::Relaxed)
	}
}
