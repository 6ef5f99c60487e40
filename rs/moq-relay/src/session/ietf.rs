//! Drives one IETF moq-transport session (draft-14, draft-16; draft-18 in [`draft18`]) over any [`Session`]
//! (`docs/protocol.md#ietf-moq-transport`), pumping the sans-I/O machines of
//! [`crate::protocol::ietf`].
//!
//! Order of events: the client opens the one bidirectional control stream and sends CLIENT_SETUP;
//! the relay picks the draft ([`negotiate::choose`]), takes the connection target from the binding
//! (PATH on raw QUIC, the CONNECT URL on WebTransport), reads the AUTHORIZATION TOKENs of the SETUP
//! (token type 0: a credential of the same verifier chain as `?jwt=`; the same token in the query
//! and the SETUP counts once, different ones are `ambiguous_credentials`), admits the session as
//! moq-lite sessions are admitted, and answers SERVER_SETUP. Then, as for moq-lite, the relay plays
//! both roles:
//! - as a **publisher** ([`serve`]): SUBSCRIBE_NAMESPACE is answered with a PUBLISH_NAMESPACE per
//!   visible broadcast (and _DONE when it ends), SUBSCRIBE with SUBSCRIBE_OK and one subgroup
//!   stream per group from the [`crate::origin::Origin`], PUBLISH_DONE at the track's end;
//! - as a **subscriber** ([`ingest`]): a PUBLISH_NAMESPACE puts the broadcast in the origin, and a
//!   track the origin wants is subscribed to upstream with SUBSCRIBE; its subgroup streams fill the
//!   shared track, which moq-lite subscribers read; a group the relay does not hold is asked for
//!   with FETCH ([`fetch_upstream`]).
//!
//! A standalone FETCH is served from the cache ([`fetch`]); a joining FETCH, TRACK_STATUS and
//! PUBLISH are refused with NOT_SUPPORTED (`docs/protocol.md#not-supported`). OBJECT_DATAGRAMs
//! pass both ways (`docs/protocol.md#datagrams`). Draft-18 has no control stream: [`draft18`] admits its
//! session the same way and [`requests`] serves its request streams with the same logic.

mod draft18;
mod fetch;
mod fetch_upstream;
mod ingest;
mod io;
mod namespaces;
mod requests;
mod serve;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue};
use moq_token::Path;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::{Context, SessionError, StreamError, decide};
use crate::audit::Trail;
use crate::auth::{AuthError, ConnectRequest, Grant, Transport};
use crate::limits::{LimitError, Ticket};
use crate::origin::Track;
use crate::protocol::ietf::negotiate::{self, Binding, SetupRefusal};
use crate::protocol::ietf::request_stream;
use crate::protocol::ietf::{
	Aliases, Inbound, InboundPolicy, Outbound, OwnRequests, PeerRequests, StreamRequests, TokenCache, UsedToken,
};
use crate::transport::{SendStream, Session, TransportError};
use crate::wire::ietf::{
	AuthToken, ClientSetup, ControlMessage, Draft, KeyValue, RequestError, RequestErrorCode, ServerSetup,
	SetupParameters, TOKEN_TYPE_OUT_OF_BAND, setup_parameter, termination,
};
use crate::wire::{DecodeError, Disposition, SessionCode, VarInt};
use io::DraftReader;

/// How the session's draft is chosen.
#[derive(Clone, Debug)]
pub(crate) enum Negotiation {
	/// The transport identifier named it (ALPN or `WT-Protocol`).
	Fixed(Draft),
	/// WebTransport without a common sub-protocol: CLIENT_SETUP decides, or nothing does.
	Setup {
		/// The client's `WT-Available-Protocols`, for the refusal's reason.
		offered: Vec<String>,
	},
}

/// Requests the peer may have open ahead of the last one (the relay's MAX_REQUEST_ID window).
const REQUEST_WINDOW: u64 = 1024;

/// The MAX_AUTH_TOKEN_CACHE_SIZE the relay advertises: bytes of registered tokens it keeps per
/// session (16 bytes plus the value each, draft-14 §9.3.2.5).
pub(crate) const TOKEN_CACHE_SIZE: u64 = 16 * 1024;

/// Control messages queued for the control stream before a sender waits.
const CONTROL_QUEUE: usize = 256;

/// The longest control message: `Type (i) | Length (16)` and 65,535 bytes.
const MAX_CONTROL: usize = 8 + 2 + 65_535;

/// What the relay keeps of one of its subscriptions to the peer.
struct UpstreamSub {
	track: Weak<Track>,
	/// Its broadcast, relative to the session's root.
	path: Path,
	events: mpsc::UnboundedSender<UpstreamEvent>,
}

/// What the peer answered to one of the relay's SUBSCRIBEs.
#[derive(Debug)]
enum UpstreamEvent {
	Ok,
	Error(String),
	Done,
	/// The session ended: the track's subscribers see it aborted, as with a moq-lite publisher.
	Gone,
	/// The broadcast's publication ended with the request token that allowed it: the relay
	/// cancels its subscription, and the track's subscribers see it cancelled.
	Withdrawn,
}

/// The session's protocol state, shared by its tasks.
struct State {
	peer: PeerRequests,
	/// The peer's draft-18 Request IDs (no flow control; parity, no duplicates).
	requests18: StreamRequests,
	/// The relay sent its draft-18 GOAWAY: new requests are refused with GOING_AWAY.
	going_away: bool,
	own: OwnRequests,
	outbound: Outbound,
	/// Track Aliases of the subscriptions the relay serves.
	ours: Aliases,
	/// Track Aliases the peer chose for the relay's subscriptions.
	theirs: Aliases,
	/// The peer's SUBSCRIBEs being served, by Request ID, each with the count of subgroup streams
	/// it opened (PUBLISH_DONE's Stream Count when an update ends it).
	serving: HashMap<u64, (AbortHandle, Arc<AtomicU64>)>,
	/// The peer's SUBSCRIBE_NAMESPACEs being watched, by Request ID.
	watching: HashMap<u64, AbortHandle>,
	/// The peer's FETCHes on the control stream being written, by Request ID (FETCH_CANCEL ends
	/// one).
	fetching: HashMap<u64, AbortHandle>,
	/// The peer's FETCHes being written, on any stream: at most `[limits] max_inflight_groups`.
	fetches: usize,
	/// The relay's SUBSCRIBEs to the peer, by Request ID.
	upstream: HashMap<u64, UpstreamSub>,
	/// The relay's control-stream FETCHes to the peer waiting for their answer, by Request ID.
	fetch_answers: HashMap<u64, tokio::sync::oneshot::Sender<fetch_upstream::ControlAnswer>>,
	inbound: Inbound,
	/// The AUTHORIZATION TOKEN aliases the peer registered (in CLIENT_SETUP and on requests).
	tokens: TokenCache,
	/// The peer's published namespaces in the origin, withdrawn when dropped.
	publications: HashMap<Path, ingest::Published>,
}

/// One admitted draft session, shared by its tasks.
struct Shared<S: Session> {
	transport: S,
	draft: Draft,
	grant: Grant,
	ctx: Arc<Context>,
	/// The control stream's queue. Boxed: a channel keeps a block of 32 slots from its start, and
	/// 32 unboxed messages are 4.4 KiB an idle session would hold (`docs/performance.md`).
	control: mpsc::Sender<Box<ControlMessage>>,
	/// The handle the origin asks this session for the tracks of its broadcasts through.
	upstream: crate::origin::Upstream,
	state: Mutex<State>,
	/// Signalled when the peer raises its MAX_REQUEST_ID.
	raised: Notify,
	/// Bumped when the peer binds a Track Alias (a data stream may arrive before its SUBSCRIBE_OK).
	aliases: watch::Sender<u64>,
	/// The first hop of the routes this session publishes.
	route_origin: VarInt,
	/// Streams the peer may keep open, raised on demand (as for moq-lite sessions).
	budget: Arc<super::budget::Budget>,
	/// New subscriptions the peer may start (`limits.subscribe_rate`).
	subscribe_rate: Mutex<crate::limits::Rate>,
	/// Request tokens the relay may verify for the peer (`limits.subscribe_rate` too): each may be
	/// a signature check or a call to the auth server.
	token_rate: Mutex<crate::limits::Rate>,
	/// What the session's grant refuses and how it ends, after its admission line.
	trail: Trail,
	/// The relay's FETCHes to the peer waiting for their fetch streams.
	fetch_streams: fetch_upstream::Awaited<S::Recv>,
	/// Whether the peer's datagrams are read: from the relay's first subscription to it on.
	reading_datagrams: std::sync::atomic::AtomicBool,
}

impl<S: Session> Shared<S> {
	fn state(&self) -> std::sync::MutexGuard<'_, State> {
		self.state.lock().unwrap_or_else(|e| e.into_inner())
	}

	fn close(&self, code: SessionCode, reason: &str) {
		tracing::debug!(%code, reason, "closing session");
		self.transport.close(code.into_inner(), reason);
	}

	/// Queues control messages in order; `false` once the control stream is gone.
	async fn send(&self, messages: Vec<ControlMessage>) -> bool {
		for message in messages {
			if self.control.send(Box::new(message)).await.is_err() {
				return false;
			}
		}
		true
	}
}

fn refusal(code: SessionCode, reason: impl Into<String>) -> SessionError {
	SessionError::Protocol {
		code,
		reason: reason.into(),
	}
}

impl From<SetupRefusal> for SessionError {
	fn from(refusal: SetupRefusal) -> Self {
		SessionError::Protocol {
			code: refusal.code,
			reason: refusal.reason,
		}
	}
}

/// What every moq version the relay speaks is called, for a readable refusal.
fn spoken() -> String {
	let lite = crate::relay::VERSIONS.iter().map(|v| v.alpn().to_string());
	let drafts = negotiate::DRAFTS.iter().map(|d| format!("{} ({d})", d.alpn()));
	lite.chain(drafts).collect::<Vec<_>>().join(", ")
}

/// The no-common-version refusal of a WebTransport session whose SETUP could not decide.
fn no_common_version(offered: &[String]) -> SessionError {
	refusal(
		termination::VERSION_NEGOTIATION_FAILED,
		format!(
			"no common moq version: WT-Available-Protocols offered [{}] and the first stream is no CLIENT_SETUP; \
			 the relay speaks {}",
			offered.join(", "),
			spoken()
		),
	)
}

/// Waits for the control stream: the first bidirectional stream. A unidirectional stream before it
/// is skipped, unless SETUP must decide the version: then it is a moq-lite SETUP stream, which no
/// version the relay speaks can follow without a sub-protocol.
async fn control_stream<S: Session>(
	transport: &S,
	negotiation: &Negotiation,
) -> Result<(S::Send, S::Recv), SessionError> {
	loop {
		tokio::select! {
			bi = transport.accept_bi() => return Ok(bi?),
			uni = transport.accept_uni() => {
				let mut uni = uni?;
				if let Negotiation::Setup { offered } = negotiation {
					return Err(no_common_version(offered));
				}
				crate::transport::RecvStream::stop(&mut uni, crate::wire::StreamCode::CANCEL.into_inner());
			}
		}
	}
}

/// Reads CLIENT_SETUP and picks the draft.
async fn client_setup<S: Session>(
	transport: &S,
	negotiation: &Negotiation,
) -> Result<(S::Send, DraftReader<S::Recv>, ClientSetup, Draft), SessionError> {
	let (send, recv) = control_stream(transport, negotiation).await?;
	let mut reader = DraftReader::new(recv, MAX_CONTROL);
	// Every draft the relay speaks starts its control stream with CLIENT_SETUP (0x20), in the
	// form of the draft the identifier named; without one, draft-14's (whose version list says
	// which draft).
	let form = match negotiation {
		Negotiation::Fixed(draft) => *draft,
		Negotiation::Setup { .. } => Draft::Draft14,
	};
	let setup = match reader.expect::<ClientSetup, _>(form).await {
		Ok(setup) => setup,
		Err(StreamError::Transport(err)) => return Err(err.into()),
		Err(err) => {
			return Err(match negotiation {
				Negotiation::Setup { offered } => no_common_version(offered),
				Negotiation::Fixed(_) => violation(&err),
			});
		}
	};
	let fixed = match negotiation {
		Negotiation::Fixed(draft) => Some(*draft),
		Negotiation::Setup { .. } => None,
	};
	let draft = negotiate::choose(&setup, fixed)?;
	Ok((send, reader, setup, draft))
}

fn violation(err: &StreamError) -> SessionError {
	let code = match err.disposition() {
		Disposition::CloseSession(code) => code,
		_ => SessionCode::PROTOCOL_VIOLATION,
	};
	refusal(code, format!("CLIENT_SETUP: {err}"))
}

/// The SETUP's AUTHORIZATION TOKENs as the one credential they carry, in the form of the
/// `Authorization` value a CONNECT would carry it in (`None` without any): Token Type 0 is a
/// bearer credential (a MoQ JWT, an API key or a client secret), `privacy_pass` (the configured
/// type, when Privacy Pass is on) a Privacy Pass token. Refused: a token that is not usable
/// (malformed or of another type: MALFORMED_AUTH_TOKEN), an alias error (its own code), or two
/// different tokens (`ambiguous_credentials`, decided with the other credentials by the caller).
fn setup_token(
	tokens: impl Iterator<Item = Result<AuthToken, DecodeError>>,
	draft: Draft,
	cache: &mut TokenCache,
	privacy_pass: Option<u64>,
) -> Result<Option<Result<String, AuthError>>, SessionError> {
	let malformed = |reason: &str| {
		refusal(
			termination::MALFORMED_AUTH_TOKEN,
			format!("malformed_auth_token: {reason}"),
		)
	};
	let mut found: Option<String> = None;
	for token in tokens {
		let token = token.map_err(|_| malformed("not a Token structure"))?;
		// Draft-16 §9.2.2.1 (and draft-18's SETUP the same): DELETE or USE_ALIAS in the SETUP is a
		// PROTOCOL_VIOLATION (draft-14 treats them as any other alias, which no alias can be known
		// for yet).
		if draft != Draft::Draft14 && matches!(token, AuthToken::Delete { .. } | AuthToken::UseAlias { .. }) {
			return Err(refusal(
				termination::PROTOCOL_VIOLATION,
				"DELETE or USE_ALIAS in the SETUP".to_string(),
			));
		}
		let used = match cache.apply(token, true) {
			Ok(Some(used)) => used,
			Ok(None) => continue,
			Err(err) => return Err(refusal(err.session_code(), err.to_string())),
		};
		let value = authorization(&used, privacy_pass).map_err(|reason| malformed(&reason))?;
		match &found {
			Some(other) if *other != value => return Ok(Some(Err(AuthError::AmbiguousCredentials))),
			_ => found = Some(value),
		}
	}
	Ok(found.map(Ok))
}

/// A token's credential as the `Authorization` value a CONNECT would carry it in: Token Type 0 is
/// a bearer credential (a MoQ JWT, an API key or a client secret), `privacy_pass` (the configured
/// type, when Privacy Pass is on) a Privacy Pass token; otherwise why it is malformed.
fn authorization(used: &UsedToken, privacy_pass: Option<u64>) -> Result<String, String> {
	if used.token_type == TOKEN_TYPE_OUT_OF_BAND {
		let text = std::str::from_utf8(&used.value).map_err(|_| "the token is not text".to_string())?;
		return Ok(format!("Bearer {text}"));
	}
	if Some(used.token_type.into_inner()) == privacy_pass {
		let token = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &used.value);
		return Ok(format!("PrivateToken token=\"{token}\""));
	}
	Err(match privacy_pass {
		Some(pp) => {
			format!("the relay reads Token Type 0 (a MoQ JWT, an API key or a client secret) and {pp} (Privacy Pass)")
		}
		None => "the relay reads Token Type 0 only (a MoQ JWT, an API key or a client secret)".into(),
	})
}

/// The session's connection request: the target, the CONNECT's headers, and the SETUP's token as
/// its `Authorization` value (the same token as the query's or the header's counts once).
fn connect_request(
	target: &str,
	headers: Option<&HeaderMap>,
	authorization: Option<Result<String, AuthError>>,
) -> Result<ConnectRequest, AuthError> {
	let mut request = ConnectRequest::parse(target)?;
	if let Some(headers) = headers {
		request = request.with_headers(headers)?;
	}
	let Some(authorization) = authorization.transpose()? else {
		return Ok(request);
	};
	let header = headers.and_then(|h| h.get("authorization"));
	match header {
		Some(value) if value != HeaderValue::from_str(&authorization).map_err(|_| AuthError::InvalidAuthHeader)? => {
			Err(AuthError::AmbiguousCredentials)
		}
		_ => Ok(request.with_authorization(Some(authorization))),
	}
}

/// The draft's close code for a refused credential: EXPIRED_AUTH_TOKEN for an expired one,
/// UNAUTHORIZED otherwise.
fn auth_code(err: &AuthError) -> SessionCode {
	match err {
		AuthError::TokenExpired => termination::EXPIRED_AUTH_TOKEN,
		_ => termination::UNAUTHORIZED,
	}
}

/// Keeps a refused session until the peer has its close (bounded by the refusal linger).
async fn linger<S: Session>(transport: &S) {
	let _ = tokio::time::timeout(super::REFUSAL_LINGER, transport.closed()).await;
}

/// Where and when a draft session arrived: what both session starts (draft-14/16 and draft-18 on)
/// take besides the transport.
pub(crate) struct Arrival {
	/// The target of the HTTP request the session came with (a WebTransport CONNECT or a WebSocket
	/// upgrade, as `kind` says); `None` on raw QUIC, where the SETUP's PATH is.
	pub url_path: Option<String>,
	/// The binding, for the auth decision and the audit line.
	pub kind: Transport,
	/// The HTTP request's headers (credentials among them).
	pub headers: Option<HeaderMap>,
	/// When the session's first packet arrived (the admission latency metric).
	pub first_packet: Instant,
}

/// Runs one draft session to its end (the IETF counterpart of [`super::run`]). Not async itself,
/// for the reason [`super::run`] is not: admission and the session's start run in a box of their
/// own, freed once the session is served, and what stays for the session's life is
/// [`Started`] in a second box (`docs/performance.md`, "A session's state while it serves").
pub(crate) fn run<'a, S: Session>(
	transport: S,
	negotiation: Negotiation,
	arrival: Arrival,
	ctx: Arc<Context>,
	ticket: &'a mut Ticket,
) -> impl std::future::Future<Output = Result<(), SessionError>> + 'a {
	let start = super::on_heap(move || start(transport, negotiation, arrival, ctx, ticket));
	async move {
		let started = start.await?;
		super::on_heap(|| serve(started)).await
	}
}

/// Admits a draft session (its SETUP read within the setup timeout, [`admit`]) and starts it:
/// the relay's SETUP sent, the shared state built and the session's tasks running.
async fn start<S: Session>(
	transport: S,
	negotiation: Negotiation,
	arrival: Arrival,
	ctx: Arc<Context>,
	ticket: &mut Ticket,
) -> Result<Started<S>, SessionError> {
	if let Negotiation::Fixed(draft) = negotiation
		&& draft.has_request_streams()
	{
		return draft18::start(transport, draft, arrival, ctx, ticket).await;
	}
	let started = tokio::time::timeout(ctx.limits.setup_timeout, client_setup(&transport, &negotiation)).await;
	let (send, reader, setup, draft) = started_or_refused(&transport, &ctx, started).await?;
	let admitted = admit(
		&transport,
		draft,
		&setup.parameters,
		setup.parameters.auth_tokens(),
		arrival,
		&ctx,
		ticket,
	)
	.await?;
	let (grant, tokens) = admitted;
	start_session(transport, draft, grant, setup, tokens, (send, reader), ctx).await
}

/// A started draft session: what serving it needs for its whole life, and nothing else.
pub(super) struct Started<S: Session> {
	shared: Arc<Shared<S>>,
	/// The session's tasks, aborted when it ends.
	tasks: JoinSet<()>,
	/// Where the relay's GOAWAY goes when it shuts down.
	farewell: Farewell<S>,
}

/// Where a session's GOAWAY goes.
enum Farewell<S: Session> {
	/// On the control stream (draft-14 and draft-16).
	Control,
	/// On the relay's SETUP stream (draft-18 on, [`draft18::goaway`]).
	SetupStream(S::Send),
}

/// Serves a started draft session until it ends: the peer closing it, its grant revoked
/// (UNAUTHORIZED) or expired (EXPIRED_AUTH_TOKEN), or the relay shutting down (GOAWAY, then the
/// peer closes).
async fn serve<S: Session>(started: Started<S>) -> Result<(), SessionError> {
	let Started {
		shared,
		mut tasks,
		farewell,
	} = started;
	let closes = super::Closes {
		revoked: termination::UNAUTHORIZED,
		expired: termination::EXPIRED_AUTH_TOKEN,
	};
	let goaway = || goaway(&shared, farewell);
	let grant = (&shared.grant, &shared.trail);
	let err = super::lifetime(&shared.transport, &shared.ctx, grant, closes, goaway).await;
	tasks.abort_all();
	teardown(&shared);
	tracing::info!(reason = %err, "session closed");
	Ok(())
}

/// Tells the peer the relay is going away, where its draft says to.
async fn goaway<S: Session>(shared: &Shared<S>, farewell: Farewell<S>) {
	match farewell {
		// GOAWAY with no new URI: reconnect to this one later (draft-14 §9.4).
		Farewell::Control => {
			let _ = shared.send(vec![ControlMessage::Goaway(String::new())]).await;
		}
		Farewell::SetupStream(stream) => draft18::goaway(shared, stream).await,
	}
}

/// The peer's SETUP, read within the setup timeout; or the session closed with the refusal (a
/// SETUP that breaks the draft's rules, or none in time).
pub(super) async fn started_or_refused<S: Session, T>(
	transport: &S,
	ctx: &Context,
	started: Result<Result<T, SessionError>, tokio::time::error::Elapsed>,
) -> Result<T, SessionError> {
	match started {
		Ok(Ok(started)) => Ok(started),
		Ok(Err(err)) => {
			if let SessionError::Protocol { code, reason } = &err {
				tracing::info!(%code, "draft session refused in SETUP");
				transport.close(code.into_inner(), reason);
				linger(transport).await;
			}
			Err(err)
		}
		Err(_) => {
			super::refuse(transport, ctx, LimitError::SetupTimeout);
			Err(LimitError::SetupTimeout.into())
		}
	}
}

/// Admits a draft session whose SETUP was read, as moq-lite sessions are admitted: the connection
/// target (the request's URL, or the SETUP's PATH on raw QUIC), the SETUP's AUTHORIZATION TOKENs
/// (`tokens`, applied to the session's token cache), the verifier chain, then the limits. A refusal
/// closes the session with the draft's code and the reason, and is returned.
pub(super) async fn admit<S: Session>(
	transport: &S,
	draft: Draft,
	parameters: &SetupParameters,
	tokens: impl Iterator<Item = Result<AuthToken, DecodeError>>,
	arrival: Arrival,
	ctx: &Context,
	ticket: &mut Ticket,
) -> Result<((Grant, Trail), TokenCache), SessionError> {
	let Arrival {
		url_path,
		kind,
		headers,
		first_packet,
	} = arrival;
	let binding = match url_path {
		Some(_) => Binding::Url,
		None => Binding::Quic,
	};
	let mut cache = TokenCache::new(TOKEN_CACHE_SIZE);
	let checked = negotiate::target(parameters, binding, url_path.as_deref()).and_then(|target| {
		let privacy_pass = ctx.auth.privacy_pass().map(|pp| pp.setup_token_type());
		setup_token(tokens, draft, &mut cache, privacy_pass)
			.map(|token| (target, token))
			.map_err(|err| match err {
				SessionError::Protocol { code, reason } => SetupRefusal { code, reason },
				_ => SetupRefusal {
					code: termination::INTERNAL_ERROR,
					reason: "internal".into(),
				},
			})
	});
	let (target, token) = match checked {
		Ok(checked) => checked,
		Err(refused) => {
			tracing::info!(code = %refused.code, "draft session refused in SETUP");
			transport.close(refused.code.into_inner(), &refused.reason);
			linger(transport).await;
			return Err(refused.into());
		}
	};
	let request = connect_request(&target, headers.as_ref(), token);
	let grant = match decide(ctx, ticket, request, kind).await {
		Ok(grant) => grant,
		Err(err) => {
			transport.close(auth_code(&err).into_inner(), &err.reason());
			linger(transport).await;
			return Err(err.into());
		}
	};
	if let Err(limit) = ticket.admit() {
		crate::audit::limited(limit, ticket.address(), kind);
		super::refuse(transport, ctx, limit);
		linger(transport).await;
		return Err(limit.into());
	}
	ctx.metrics.session_admitted(first_packet.elapsed());
	tracing::info!(root = %grant.root(), subject = grant.subject().unwrap_or("-"), %draft, "session admitted");
	Ok(((grant, Trail::new(ticket.address(), kind)), cache))
}

/// Starts an admitted draft-14 or draft-16 session: the relay's SERVER_SETUP, the shared state and
/// the session's tasks.
async fn start_session<S: Session>(
	transport: S,
	draft: Draft,
	(grant, trail): (Grant, Trail),
	setup: ClientSetup,
	tokens: TokenCache,
	(mut send, reader): (S::Send, DraftReader<S::Recv>),
	ctx: Arc<Context>,
) -> Result<Started<S>, SessionError> {
	transport.allow_receive(ctx.limits.session_window);
	transport.allow_streams(transport.client_streams());
	// Draft-16 requests arrive on more than one stream, so out of their IDs' order; draft-14's and
	// draft-15's all on the control stream, in order.
	let peer = match draft.namespace_streams() {
		false => PeerRequests::new(true, REQUEST_WINDOW),
		true => PeerRequests::across_streams(true, REQUEST_WINDOW),
	};
	let ours = ServerSetup {
		version: VarInt::from_u64(draft.setup_version()).unwrap_or(VarInt::MAX),
		parameters: SetupParameters(vec![
			KeyValue::int(setup_parameter::MAX_REQUEST_ID.into_inner() as u32, peer.initial_max()),
			KeyValue::int(
				setup_parameter::MAX_AUTH_TOKEN_CACHE_SIZE.into_inner() as u32,
				VarInt::from_u64(TOKEN_CACHE_SIZE).unwrap_or(VarInt::MAX),
			),
			KeyValue::bytes(
				setup_parameter::IMPLEMENTATION.into_inner() as u32,
				format!("moq-relay {}", env!("CARGO_PKG_VERSION")).into_bytes(),
			),
		]),
	};
	match io::encode(&ours, draft) {
		Ok(bytes) => io::write(&mut send, &bytes).await.map_err(|err| match err {
			StreamError::Transport(err) => SessionError::Transport(err),
			other => refusal(termination::INTERNAL_ERROR, other.to_string()),
		})?,
		Err(err) => return Err(refusal(termination::INTERNAL_ERROR, err.to_string())),
	}

	grant.meter(&transport);
	let (control, queue) = mpsc::channel(CONTROL_QUEUE);
	let (upstream, requests) = crate::origin::Upstream::channel();
	let own = OwnRequests::new(false, setup.parameters.max_request_id());
	let shared = new_shared(
		&transport,
		draft,
		(&grant, trail),
		&ctx,
		(control, upstream),
		(peer, own),
		tokens,
	);

	let mut tasks = JoinSet::new();
	tasks.spawn(write_control(shared.clone(), send, queue));
	tasks.spawn(read_control(shared.clone(), reader));
	tasks.spawn(ingest::accept_uni(shared.clone()));
	tasks.spawn(ingest::serve_requests(shared.clone(), requests));
	if draft.namespace_streams() {
		tasks.spawn(namespaces::accept(shared.clone()));
	}
	Ok(Started {
		shared,
		tasks,
		farewell: Farewell::Control,
	})
}

/// The shared state of an admitted session, before any of its tasks run.
fn new_shared<S: Session>(
	transport: &S,
	draft: Draft,
	(grant, trail): (&Grant, Trail),
	ctx: &Arc<Context>,
	(control, upstream): (mpsc::Sender<Box<ControlMessage>>, crate::origin::Upstream),
	(peer, own): (PeerRequests, OwnRequests),
	tokens: TokenCache,
) -> Arc<Shared<S>> {
	Arc::new(Shared {
		transport: transport.clone(),
		draft,
		grant: grant.clone(),
		ctx: ctx.clone(),
		control,
		upstream,
		state: Mutex::new(State {
			peer,
			requests18: StreamRequests::new(true),
			going_away: false,
			own,
			outbound: Outbound::new(),
			ours: Aliases::new(),
			theirs: Aliases::new(),
			serving: HashMap::new(),
			watching: HashMap::new(),
			fetching: HashMap::new(),
			fetches: 0,
			upstream: HashMap::new(),
			fetch_answers: HashMap::new(),
			inbound: Inbound::new(InboundPolicy {
				grant: grant.clone(),
				max_path: ctx.limits.max_path,
				max_broadcasts: ctx.limits.max_broadcasts,
			}),
			tokens,
			publications: HashMap::new(),
		}),
		raised: Notify::new(),
		aliases: watch::Sender::new(0),
		route_origin: super::random_hop_id(),
		budget: super::budget::Budget::new(transport.client_streams(), crate::transport::PEER_STREAMS),
		subscribe_rate: Mutex::new(crate::limits::Rate::new(
			ctx.limits.subscribe_rate,
			ctx.limits.subscribe_rate.saturating_mul(10),
			tokio::time::Instant::now(),
		)),
		token_rate: Mutex::new(crate::limits::Rate::new(
			ctx.limits.subscribe_rate,
			ctx.limits.subscribe_rate.saturating_mul(10),
			tokio::time::Instant::now(),
		)),
		trail,
		fetch_streams: Default::default(),
		reading_datagrams: Default::default(),
	})
}

/// Withdraws what the ended session published and ends what it served or subscribed to.
fn teardown<S: Session>(shared: &Shared<S>) {
	let aborted: Vec<AbortHandle> = {
		let mut state = shared.state();
		state.publications.clear();
		for up in state.upstream.values() {
			let _ = up.events.send(UpstreamEvent::Gone);
		}
		let State { serving, watching, .. } = &mut *state;
		serving
			.drain()
			.map(|(id, (h, _))| (id, h))
			.chain(watching.drain())
			.map(|(_, h)| h)
			.collect()
	};
	for handle in aborted {
		handle.abort();
	}
}

/// Writes the queued control messages, in order, on the control stream.
async fn write_control<S: Session>(
	shared: Arc<Shared<S>>,
	mut send: S::Send,
	mut queue: mpsc::Receiver<Box<ControlMessage>>,
) {
	while let Some(message) = queue.recv().await {
		// Draft-15 and draft-16 share a REQUEST_ERROR registry, which renumbered draft-14's.
		let encoded = match shared.draft.fields_as_parameters() {
			true => io::encode(&request_stream::renumbered(&message), shared.draft),
			false => io::encode(&*message, shared.draft),
		};
		let written = match encoded {
			Ok(bytes) => io::write(&mut send, &bytes).await,
			Err(err) => Err(err),
		};
		if let Err(err) = written {
			tracing::debug!(%err, message = message.name(), "control message not sent");
			if !matches!(err, StreamError::Transport(_)) {
				shared.close(termination::INTERNAL_ERROR, "a control message could not be encoded");
			}
			return;
		}
	}
	let _ = send.finish();
}

/// Reads the peer's control messages until the stream or the session ends.
async fn read_control<S: Session>(shared: Arc<Shared<S>>, mut reader: DraftReader<S::Recv>) {
	loop {
		let message = match reader.decode::<ControlMessage, _>(shared.draft).await {
			Ok(Some(message)) => message,
			Ok(None) => {
				shared.close(termination::PROTOCOL_VIOLATION, "the control stream ended");
				return;
			}
			Err(StreamError::Transport(TransportError::Closed(_))) => return,
			Err(err) => {
				let code = match &err {
					StreamError::Decode(DecodeError::UnknownMessageType { .. }) => termination::PROTOCOL_VIOLATION,
					other => match other.disposition() {
						Disposition::CloseSession(code) => code,
						_ => termination::PROTOCOL_VIOLATION,
					},
				};
				shared.close(code, &format!("control stream: {err}"));
				return;
			}
		};
		// On the heap: a session waits for its next control message far longer than it handles
		// one, and handling's state would otherwise be kept all that time (it is most of this
		// task's).
		if let Err((code, reason)) = super::on_heap(|| handle(&shared, message)).await {
			shared.close(code, &reason);
			return;
		}
	}
}

/// A broken session rule: the session closes with this code and reason.
type Violation = (SessionCode, String);

/// Accepts a new request's ID from the peer, raising its maximum when half is used.
async fn new_request<S: Session>(shared: &Shared<S>, id: VarInt) -> Result<(), Violation> {
	let raised = shared
		.state()
		.peer
		.accept(id)
		.map_err(|v| (v.code, v.reason.to_string()))?;
	if let Some(max) = raised {
		shared.send(vec![ControlMessage::MaxRequestId(max)]).await;
	}
	Ok(())
}

fn request_error(request_id: VarInt, code: u32, reason: &str) -> RequestError {
	RequestError {
		request_id,
		code: VarInt::from_u32(code),
		reason: reason.into(),
		retry_interval: VarInt::ZERO,
	}
}

/// The refusal of a request with an Error Code and a reason, in the message that answers it
/// (`None` for SUBSCRIBE_UPDATE, which has no answer).
fn refuse_request(message: &ControlMessage, code: u32, reason: &str) -> Option<ControlMessage> {
	Some(match message {
		ControlMessage::Subscribe(m) => ControlMessage::SubscribeError(request_error(m.request_id, code, reason)),
		ControlMessage::TrackStatus(m) => ControlMessage::TrackStatusError(request_error(m.request_id, code, reason)),
		ControlMessage::Fetch(m) => ControlMessage::FetchError(request_error(m.request_id, code, reason)),
		ControlMessage::Publish(m) => ControlMessage::PublishError(request_error(m.request_id, code, reason)),
		ControlMessage::PublishNamespace(m) => {
			ControlMessage::PublishNamespaceError(request_error(m.request_id, code, reason))
		}
		ControlMessage::SubscribeNamespace(m) => {
			ControlMessage::SubscribeNamespaceError(request_error(m.request_id, code, reason))
		}
		_ => return None,
	})
}

/// Applies a request's AUTHORIZATION TOKENs to the session's alias cache (draft-14 §9.2.1.1) and
/// verifies them ([`request_tokens_verdict`]): the grants of the tokens that verified, `Ok(None)`
/// when the request is refused for an unknown alias or a token that does not verify (the refusal
/// is sent), an error when the session must close (a malformed token, cache overflow, a duplicate
/// alias).
async fn request_tokens<S: Session>(
	shared: &Shared<S>,
	message: &ControlMessage,
) -> Result<Option<Vec<Grant>>, Violation> {
	// Only requests carry tokens.
	let Some(parameters) = message.parameters().filter(|_| message.new_request_id().is_some()) else {
		return Ok(Some(Vec::new()));
	};
	match request_tokens_verdict(shared, parameters.auth_tokens()).await? {
		Ok(grants) => Ok(Some(grants)),
		Err((code, reason)) => {
			if let Some(refusal) = refuse_request(message, code, &reason) {
				shared.send(vec![refusal]).await;
				return Ok(None);
			}
			Ok(Some(Vec::new()))
		}
	}
}

/// Applies a request's AUTHORIZATION TOKENs to the session's alias cache, in order, on every draft,
/// then verifies the credentials they carry ([`verify_request_tokens`]): `Ok(Ok(grants))` the
/// grants of the tokens, `Ok(Err((code, reason)))` refuses the request alone (draft-14's Error
/// Code; the caller writes the refusal in its draft's form), `Err` closes the session (a token
/// that is not a Token structure, or a cache violation).
/// Every alias is applied before any verification, so a REGISTER holds even when its request is
/// refused (draft-16 §9.2.2.1).
async fn request_tokens_verdict<S: Session>(
	shared: &Shared<S>,
	tokens: impl Iterator<Item = Result<AuthToken, DecodeError>>,
) -> Result<Result<Vec<Grant>, (u32, String)>, Violation> {
	let mut used = Vec::new();
	{
		let mut state = shared.state();
		for token in tokens {
			let token = token.map_err(|_| {
				(
					termination::MALFORMED_AUTH_TOKEN,
					"malformed_auth_token: not a Token structure".to_string(),
				)
			})?;
			match state.tokens.apply(token, false) {
				Ok(Some(token)) => used.push(token),
				Ok(None) => {}
				Err(err) if err.rejects_request_only() => return Ok(Err((err.request_code(), err.to_string()))),
				Err(err) => return Err((err.session_code(), err.to_string())),
			}
		}
	}
	Ok(verify_request_tokens(shared, used).await)
}

/// Verifies each credential a request's AUTHORIZATION TOKENs carry as its session's own would be
/// (`docs/protocol.md`, "Request tokens"): through the relay's verifiers, at the session's root.
/// The refusal of the first that does not verify: MALFORMED_AUTH_TOKEN for one that cannot be
/// read or verified (draft-16 §9.2.2.1), EXPIRED_AUTH_TOKEN for an expired one, UNAUTHORIZED for
/// a valid one that is not for this session (another root, revoked) or that could not be judged
/// (the auth service unreachable), each with the refusal's code as the reason; the grants of the
/// tokens when all verify. A SUBSCRIBE that the session's grant does not allow is served under the
/// grant of one of its tokens that allows it, until that token expires
/// (`docs/protocol.md`, "Request tokens").
async fn verify_request_tokens<S: Session>(
	shared: &Shared<S>,
	used: Vec<UsedToken>,
) -> Result<Vec<Grant>, (u32, String)> {
	let privacy_pass = shared.ctx.auth.privacy_pass().map(|pp| pp.setup_token_type());
	let mut grants = Vec::new();
	for token in used {
		// A token is a signature check or a call to the auth server: as many a second as new
		// subscriptions, so a session cannot make the relay verify without bound.
		let now = tokio::time::Instant::now();
		if !shared.token_rate.lock().unwrap_or_else(|e| e.into_inner()).take(now) {
			shared.ctx.metrics.limit_refused("token_rate");
			return Err((RequestErrorCode::INTERNAL_ERROR, "token_rate".to_string()));
		}
		let value = match authorization(&token, privacy_pass) {
			Ok(value) => value,
			Err(reason) => {
				shared
					.trail
					.token_refused(&shared.grant, "malformed_auth_token", &shared.ctx.metrics);
				return Err((
					RequestErrorCode::MALFORMED_AUTH_TOKEN,
					format!("malformed_auth_token: {reason}"),
				));
			}
		};
		let request = ConnectRequest::at(shared.grant.root().clone()).with_authorization(Some(value));
		let err = match shared.ctx.auth.decide(&request).await {
			(_, Ok(grant)) => {
				grants.push(grant);
				continue;
			}
			(_, Err(err)) => err,
		};
		let code = match err {
			AuthError::TokenExpired => RequestErrorCode::EXPIRED_AUTH_TOKEN,
			AuthError::InvalidToken(_)
			| AuthError::NoVerifier
			| AuthError::InvalidPrivacyPassToken(_)
			| AuthError::InvalidAuthHeader => RequestErrorCode::MALFORMED_AUTH_TOKEN,
			_ => RequestErrorCode::UNAUTHORIZED,
		};
		tracing::debug!(code = err.code(), "a request's AUTHORIZATION TOKEN refused");
		shared
			.trail
			.token_refused(&shared.grant, err.code(), &shared.ctx.metrics);
		return Err((code, err.reason()));
	}
	Ok(grants)
}

/// Acts on one control message from the peer.
async fn handle<S: Session>(shared: &Arc<Shared<S>>, message: ControlMessage) -> Result<(), Violation> {
	if let Some(id) = message.new_request_id() {
		new_request(shared, id).await?;
	}
	let Some(grants) = request_tokens(shared, &message).await? else {
		return Ok(());
	};
	let unsupported = match shared.draft {
		Draft::Draft15 => "not supported by this relay on draft-15",
		Draft::Draft16 => "not supported by this relay on draft-16",
		_ => "not supported by this relay on draft-14",
	};
	match message {
		// Draft-16 §9.25: on a new bidirectional stream (`namespaces`), not the control stream.
		ControlMessage::SubscribeNamespace(_) if shared.draft.namespace_streams() => {
			return Err((
				termination::PROTOCOL_VIOLATION,
				"SUBSCRIBE_NAMESPACE on the control stream: draft-16 sends it on its own stream".into(),
			));
		}
		ControlMessage::SubscribeNamespace(request) => serve::subscribe_namespace(shared, request).await,
		ControlMessage::UnsubscribeNamespace(id) => {
			if let Some(task) = shared.state().watching.remove(&id.into_inner()) {
				task.abort();
			}
		}
		ControlMessage::Subscribe(request) => serve::subscribe(shared, request, &grants).await,
		ControlMessage::Unsubscribe(id) => {
			let mut state = shared.state();
			if let Some((task, _)) = state.serving.remove(&id.into_inner()) {
				task.abort();
			}
			state.ours.forget(id);
		}
		ControlMessage::SubscribeUpdate(update) => serve::update(shared, update).await,
		ControlMessage::Fetch(request) => fetch::on_control(shared, request, &grants).await,
		ControlMessage::FetchCancel(id) => {
			if let Some(task) = shared.state().fetching.remove(&id.into_inner()) {
				task.abort();
			}
		}
		ControlMessage::TrackStatus(request) => {
			let refused = request_error(request.request_id, RequestErrorCode::NOT_SUPPORTED, unsupported);
			shared.send(vec![ControlMessage::TrackStatusError(refused)]).await;
		}
		ControlMessage::Publish(publish) => {
			let refused = request_error(publish.request_id, RequestErrorCode::NOT_SUPPORTED, unsupported);
			shared.send(vec![ControlMessage::PublishError(refused)]).await;
		}
		ControlMessage::PublishNamespace(request) => ingest::publish_namespace(shared, request, &grants).await,
		ControlMessage::PublishNamespaceDone(namespace) => ingest::publish_namespace_done(shared, &namespace),
		ControlMessage::PublishNamespaceDoneRequest(id) => ingest::publish_namespace_done_request(shared, id),
		ControlMessage::PublishNamespaceOk(_) | ControlMessage::RequestOk(_) => {}
		message @ (ControlMessage::PublishNamespaceError(_) | ControlMessage::PublishNamespaceCancel(_)) => {
			shared.state().outbound.declined(&message);
		}
		// Draft-16 names the refused or cancelled request by its ID alone: one of the relay's
		// subscriptions, or one of its PUBLISH_NAMESPACEs.
		ControlMessage::RequestError(err) | ControlMessage::PublishNamespaceCancelRequest(err) => {
			let id = err.request_id.into_inner();
			let (subscription, fetch) = {
				let mut state = shared.state();
				(state.upstream.contains_key(&id), state.fetch_answers.remove(&id))
			};
			match (subscription, fetch) {
				(_, Some(fetch)) => {
					let _ = fetch.send(Err(err.reason));
				}
				(true, None) => ingest::answered(shared, err.request_id, UpstreamEvent::Error(err.reason)),
				(false, None) => shared
					.state()
					.outbound
					.declined(&ControlMessage::PublishNamespaceError(err)),
			}
		}
		// The answers to the relay's FETCHes; one to a FETCH it gave up meanwhile is late.
		ControlMessage::FetchOk(ok) => {
			let end = (ok.end.group.into_inner(), ok.end.object.into_inner());
			fetch_answered(shared, ok.request_id, Ok(end))?;
		}
		ControlMessage::FetchError(err) => fetch_answered(shared, err.request_id, Err(err.reason))?,
		// These belong on a SUBSCRIBE_NAMESPACE stream, which the relay never opens.
		ControlMessage::Namespace(_) | ControlMessage::NamespaceDone(_) => {
			return Err((
				termination::PROTOCOL_VIOLATION,
				"NAMESPACE on the control stream".into(),
			));
		}
		ControlMessage::MaxRequestId(max) => {
			let messages = {
				let mut state = shared.state();
				state.own.raise(max).map_err(|v| (v.code, v.reason.to_string()))?;
				let State { outbound, own, .. } = &mut *state;
				outbound.unblocked(own)
			};
			shared.send(messages).await;
			shared.raised.notify_waiters();
		}
		ControlMessage::RequestsBlocked(_) => {}
		ControlMessage::SubscribeOk(ok) => ingest::subscribe_ok(shared, ok)?,
		ControlMessage::SubscribeError(err) => {
			ingest::answered(shared, err.request_id, UpstreamEvent::Error(err.reason))
		}
		ControlMessage::PublishDone(done) => ingest::answered(shared, done.request_id, UpstreamEvent::Done),
		ControlMessage::Goaway(_) => tracing::debug!("peer is going away"),
		// Answers to requests the relay never sends.
		ControlMessage::TrackStatusOk(_)
		| ControlMessage::TrackStatusError(_)
		| ControlMessage::SubscribeNamespaceOk(_)
		| ControlMessage::SubscribeNamespaceError(_)
		| ControlMessage::PublishOk(_)
		| ControlMessage::PublishError(_) => {
			return Err((
				termination::PROTOCOL_VIOLATION,
				"an answer to a request the relay did not send".into(),
			));
		}
	}
	Ok(())
}

/// Passes the peer's answer on to the relay's control-stream FETCH `id`; an answer to a FETCH the
/// relay never sent is a protocol violation.
fn fetch_answered<S: Session>(
	shared: &Shared<S>,
	id: VarInt,
	answer: fetch_upstream::ControlAnswer,
) -> Result<(), (SessionCode, String)> {
	let mut state = shared.state();
	match state.fetch_answers.remove(&id.into_inner()) {
		Some(fetch) => {
			let _ = fetch.send(answer);
			Ok(())
		}
		None if state.own.issued(id) => Ok(()),
		None => Err((
			termination::PROTOCOL_VIOLATION,
			"an answer to a FETCH the relay did not send".into(),
		)),
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::session::tests::{anon, context, ticket};

	fn arrival() -> Arrival {
		Arrival {
			url_path: None,
			kind: Transport::Quic,
			headers: None,
			first_packet: Instant::now(),
		}
	}

	/// The relay's state for a session over `server` on `draft` with a cluster peer's grant (every
	/// path).
	fn peer_shared<S: Session>(server: &S, draft: Draft, ctx: &Arc<Context>) -> Arc<Shared<S>> {
		let (control, _queue) = mpsc::channel(1);
		let (upstream, _requests) = crate::origin::Upstream::channel();
		let ids = (
			PeerRequests::new(true, REQUEST_WINDOW),
			OwnRequests::new(false, VarInt::MAX),
		);
		let tokens = TokenCache::new(TOKEN_CACHE_SIZE);
		let grant = (&Grant::peer(), Trail::dialed());
		new_shared(server, draft, grant, ctx, (control, upstream), ids, tokens)
	}

	/// A SUBSCRIBE_NAMESPACE stream whose requester sends FIN right after its request: from
	/// draft-19 on the FIN only ends its updates ("Graceful Request Stream Closure"), so a
	/// broadcast that starts later is still shown, and the requester's STOP_SENDING ends the
	/// stream; on draft-17 and draft-18 the FIN cancels it.
	#[tokio::test]
	async fn a_namespace_requesters_fin_cancels_only_before_draft_19() {
		use crate::wire::StreamCode;
		use crate::wire::ietf::SubscribeNamespace;
		use crate::wire::ietf::draft18::RequestMessage;

		for draft in [
			Draft::Draft17,
			Draft::Draft18,
			Draft::Draft19,
			Draft::Draft20,
			Draft::Draft22,
		] {
			let (ctx, _down) = context(anon());
			let (client, server) = crate::transport::mem::pair();
			let shared = peer_shared(&server, draft, &ctx);
			let (mut send, recv) = client.open_bi().await.unwrap();
			let (relay_send, relay_recv) = server.accept_bi().await.unwrap();
			let request = SubscribeNamespace {
				request_id: VarInt::ZERO,
				prefix: Vec::new(),
				options: Some(VarInt::from_u32(1)),
				parameters: Default::default(),
			};
			let reader = DraftReader::new(relay_recv, 4096);
			let stream = namespaces::run(shared, relay_send, reader, request, Vec::new());
			let mut stream = tokio::spawn(stream);
			let mut answers = DraftReader::new(recv, 4096);
			let ok = answers.decode::<RequestMessage, _>(draft).await.unwrap();
			assert_eq!(ok, Some(RequestMessage::RequestOk(Default::default())), "{draft}");
			send.finish().unwrap();
			if !draft.fin_keeps_requests() {
				let ended = tokio::time::timeout(std::time::Duration::from_secs(5), &mut stream).await;
				assert!(ended.is_ok(), "{draft}: the FIN did not end the stream");
				assert_eq!(
					answers.decode::<RequestMessage, _>(draft).await.unwrap(),
					None,
					"{draft}"
				);
				continue;
			}
			let (upstream, _requests) = crate::origin::Upstream::channel();
			let _later = ctx.origin.publish(Path::new("later").unwrap(), Vec::new(), upstream);
			let shown = answers.decode::<RequestMessage, _>(draft).await.unwrap();
			assert_eq!(
				shown,
				Some(RequestMessage::Namespace(vec!["later".to_string()])),
				"{draft}"
			);
			answers.stop(StreamCode::CANCEL, draft);
			let ended = tokio::time::timeout(std::time::Duration::from_secs(5), &mut stream).await;
			assert!(ended.is_ok(), "{draft}: STOP_SENDING did not end the stream");
		}
	}

	/// A FETCH on a request stream (draft-17 on) that the peer cancels while the relay waits for
	/// the publisher's answer ends at once, and lets the group it waited for go (so the upstream
	/// fetch is given up), instead of after the wait's 5 seconds: by the peer's reset, or by its
	/// STOP_SENDING.
	#[tokio::test(start_paused = true)]
	async fn a_fetch_cancelled_while_the_publisher_answers_ends_at_once() {
		use crate::origin::UpstreamRequest;
		use crate::transport::RecvStream;
		use std::time::Duration;

		for draft in [Draft::Draft17, Draft::Draft18, Draft::Draft20] {
			for stop in [false, true] {
				let (ctx, _down) = context(anon());
				let (client, server) = crate::transport::mem::pair();
				let shared = peer_shared(&server, draft, &ctx);
				let (upstream, mut requests) = crate::origin::Upstream::channel();
				let _publication = ctx.origin.publish(Path::new("clock").unwrap(), Vec::new(), upstream);
				let (mut send, mut recv) = client.open_bi().await.unwrap();
				let (relay_send, relay_recv) = server.accept_bi().await.unwrap();
				let request = fetch_upstream::Request {
					namespace: vec!["clock".into()],
					track: "t".into(),
					group: 5,
				};
				let fetch = fetch_upstream::fetch18(VarInt::ZERO, &request, draft).unwrap();
				let reader = DraftReader::new(relay_recv, 4096);
				let serving =
					tokio::spawn(async move { fetch::on_stream(shared, relay_send, reader, fetch, &[]).await });
				// The relay asks the publisher, which does not answer.
				let Some(UpstreamRequest::Fetch { group, .. }) = requests.recv().await else {
					panic!("{draft}: no upstream fetch");
				};
				let held = group.held();
				match stop {
					true => recv.stop(0),
					false => send.reset(0),
				}
				let ended = tokio::time::timeout(Duration::from_secs(1), serving).await;
				assert!(
					ended.is_ok(),
					"{draft} (stop: {stop}): the fetch went on after its cancel"
				);
				assert!(!held(), "{draft} (stop: {stop}): the group is still held");
			}
		}
	}

	/// A draft session's future holds two boxes: its start's (freed once it is served) and
	/// serving's, which holds what [`Started`] holds. Run as one async function, the session's
	/// arguments, its SETUP, its control stream's reader and its start's futures kept their places
	/// in its state for the session's whole life (`docs/performance.md`, "A session's state while
	/// it serves").
	#[tokio::test]
	async fn a_draft_session_keeps_only_what_serving_needs() {
		let (ctx, _down) = context(anon());
		let (_client, server) = crate::transport::mem::pair();
		let mut ticket = ticket(&ctx);
		for draft in [Draft::Draft14, Draft::Draft15, Draft::Draft16, Draft::Draft18] {
			let negotiation = || Negotiation::Fixed(draft);
			let session =
				std::mem::size_of_val(&run(server.clone(), negotiation(), arrival(), ctx.clone(), &mut ticket));
			assert!(
				session <= 64,
				"{draft}: the session's future is {session} B: does it hold its start or serving inline again?"
			);
			let starting = std::mem::size_of_val(&start(
				server.clone(),
				negotiation(),
				arrival(),
				ctx.clone(),
				&mut ticket,
			));
			let shared = peer_shared(&server, draft, &ctx);
			let started = Started {
				shared,
				tasks: JoinSet::new(),
				farewell: Farewell::Control,
			};
			// The control stream's reader waits for the next message with nothing of the last one's
			// handling in its state.
			let (_send, recv) = server.open_bi().await.expect("the in-memory transport opens streams");
			let reader = std::mem::size_of_val(&read_control(started.shared.clone(), DraftReader::new(recv, 1)));
			assert!(reader <= 512, "{draft}: the control reader's future is {reader} B");
			let serving = std::mem::size_of_val(&serve(started));
			assert!(
				serving < starting && serving < 1024,
				"{draft}: serving's future is {serving} B (its start's {starting} B)"
			);
		}
	}
}
