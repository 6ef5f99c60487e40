//! One draft-18 session (ALPN and `WT-Protocol` `moqt-18`, `docs/protocol.md#draft-18`), or one of
//! draft-20, -21 or -22 (`moqt-20`, `moqt-21`, `moqt-22`, `docs/protocol.md#draft-20`), which keep
//! its session and differ in message forms the codec knows by the draft passed through: no
//! control stream. The client's first unidirectional stream carries its SETUP; the relay admits
//! the session on it as it admits draft-14 and draft-16 sessions (the PATH on raw QUIC or the
//! CONNECT URL, `?jwt=`, the SETUP's AUTHORIZATION TOKENs), answers with its own SETUP on a
//! unidirectional stream it keeps open for its GOAWAY, then serves a bidirectional stream per
//! request ([`super::requests`]) and the subgroup streams of its own subscriptions
//! ([`super::ingest`]), with the origin, alias and token logic of the other drafts.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::io::{self, DraftReader};
use super::{
	Arrival, Context, Farewell, MAX_CONTROL, REQUEST_WINDOW, SessionError, Started, StreamError, TOKEN_CACHE_SIZE,
	admit, ingest, new_shared, refusal, requests, started_or_refused,
};
use crate::limits::Ticket;
use crate::protocol::ietf::{OwnRequests, PeerRequests, TokenCache};
use crate::transport::{Session, TransportError};
use crate::wire::ietf::draft18::{Goaway, RequestMessage, UniStreamType};
use crate::wire::ietf::{Draft, KeyValue, Setup, SetupParameters, setup_parameter, termination};
use crate::wire::{Disposition, SessionCode, StreamCode, VarInt};

/// Data streams of the client held until its SETUP arrives (§3.3 says to buffer them); more are
/// stopped.
const EARLY_STREAMS: usize = 16;

/// What arrived on the client's unidirectional streams before the session starts: its SETUP, the
/// stream it came on (which then stays open for its GOAWAY), and the data streams that came first.
struct PeerSetup<R> {
	setup: Setup,
	stream: DraftReader<R>,
	early: Vec<DraftReader<R>>,
}

/// Reads the client's SETUP off its control stream: the first unidirectional stream that starts
/// with SETUP's type. A data stream before it is held for the session (up to [`EARLY_STREAMS`]).
async fn peer_setup<S: Session>(transport: &S, draft: Draft) -> Result<PeerSetup<S::Recv>, SessionError> {
	let refused = |err: StreamError, what: &str| match err {
		StreamError::Transport(err) => SessionError::from(err),
		err => {
			let code = match err.disposition() {
				Disposition::CloseSession(code) => code,
				_ => SessionCode::PROTOCOL_VIOLATION,
			};
			refusal(code, format!("{what}: {err}"))
		}
	};
	let mut early = Vec::new();
	loop {
		let recv = transport.accept_uni().await?;
		let mut reader = DraftReader::new(recv, MAX_CONTROL);
		let kind = match reader.peek::<UniStreamType, _>(draft).await {
			Ok(Some(kind)) => kind,
			// A stream that ended or was reset before its type says nothing.
			Ok(None) | Err(StreamError::Transport(TransportError::Reset(_))) => continue,
			Err(err) => return Err(refused(err, "unidirectional stream")),
		};
		if !kind.is_setup() {
			match early.len() < EARLY_STREAMS {
				true => early.push(reader),
				false => reader.stop(StreamCode::CANCEL, draft),
			}
			continue;
		}
		let setup = reader
			.expect::<Setup, _>(draft)
			.await
			.map_err(|err| refused(err, "SETUP"))?;
		return Ok(PeerSetup {
			setup,
			stream: reader,
			early,
		});
	}
}

/// Admits one draft-18 (or later) session and starts it (the arguments of [`super::run`], the
/// draft fixed).
pub(super) async fn start<S: Session>(
	transport: S,
	draft: Draft,
	arrival: Arrival,
	ctx: Arc<Context>,
	ticket: &mut Ticket,
) -> Result<Started<S>, SessionError> {
	let started = tokio::time::timeout(ctx.limits.setup_timeout, peer_setup(&transport, draft)).await;
	let PeerSetup { setup, stream, early } = started_or_refused(&transport, &ctx, started).await?;
	let (grant, tokens) = admit(
		&transport,
		draft,
		&setup.parameters,
		setup.auth_tokens(),
		arrival,
		&ctx,
		ticket,
	)
	.await?;
	start_session(transport, draft, grant, tokens, (stream, early), ctx).await
}

/// The relay's SETUP: the token cache it keeps (MAX_AUTH_TOKEN_CACHE_SIZE) and its name.
fn own_setup() -> Setup {
	Setup {
		parameters: SetupParameters(vec![
			KeyValue::int(
				setup_parameter::MAX_AUTH_TOKEN_CACHE_SIZE.into_inner() as u32,
				VarInt::from_u64(TOKEN_CACHE_SIZE).unwrap_or(VarInt::MAX),
			),
			KeyValue::bytes(
				setup_parameter::IMPLEMENTATION.into_inner() as u32,
				format!("moq-relay {}", env!("CARGO_PKG_VERSION")).into_bytes(),
			),
		]),
	}
}

/// Starts an admitted draft-18 session: the relay's SETUP on a stream it keeps for its GOAWAY, the
/// shared state and the session's tasks.
async fn start_session<S: Session>(
	transport: S,
	draft: Draft,
	(grant, trail): (crate::auth::Grant, crate::audit::Trail),
	tokens: TokenCache,
	(peer_setup, early): (DraftReader<S::Recv>, Vec<DraftReader<S::Recv>>),
	ctx: Arc<Context>,
) -> Result<Started<S>, SessionError> {
	transport.allow_receive(ctx.limits.session_window);
	transport.allow_streams(transport.client_streams());
	let internal = |err: StreamError| match err {
		StreamError::Transport(err) => SessionError::Transport(err),
		other => refusal(termination::INTERNAL_ERROR, other.to_string()),
	};
	let mut setup_stream = transport.open_uni().await?;
	let ours = io::encode(&own_setup(), draft).map_err(internal)?;
	io::write(&mut setup_stream, &ours).await.map_err(internal)?;

	grant.meter(&transport);
	// No control stream: nothing is ever queued on one.
	let (control, _) = mpsc::channel(1);
	let (upstream, origin_requests) = crate::origin::Upstream::channel();
	// Draft-18 has no MAX_REQUEST_ID: the relay's Request IDs (odd) are not limited.
	let ids = (
		PeerRequests::new(true, REQUEST_WINDOW),
		OwnRequests::new(false, VarInt::MAX),
	);
	let shared = new_shared(
		&transport,
		draft,
		(&grant, trail),
		&ctx,
		(control, upstream),
		ids,
		tokens,
	);

	let mut tasks = JoinSet::new();
	tasks.spawn(read_setup_stream(shared.clone(), peer_setup));
	for reader in early {
		ingest::spawn_data_stream(&shared, reader);
	}
	tasks.spawn(ingest::accept_uni(shared.clone()));
	tasks.spawn(ingest::serve_requests(shared.clone(), origin_requests));
	tasks.spawn(requests::accept(shared.clone()));
	Ok(Started {
		shared,
		tasks,
		farewell: Farewell::SetupStream(setup_stream),
	})
}

/// Sends the relay's GOAWAY with no new URI (reconnect to this one later) on its SETUP stream
/// (§10.4), on draft-18 with the lowest of the peer's Request IDs the relay has not seen (draft-19
/// removed the field); new requests are refused from then on.
pub(super) async fn goaway<S: Session>(shared: &super::Shared<S>, mut setup_stream: S::Send) {
	let next = {
		let mut state = shared.state();
		state.going_away = true;
		state.requests18.next()
	};
	let goaway = RequestMessage::Goaway(Goaway {
		uri: String::new(),
		timeout: VarInt::ZERO,
		request_id: shared.draft.goaway_has_request_id().then_some(next),
	});
	if let Ok(bytes) = io::encode(&goaway, shared.draft) {
		let _ = io::write(&mut setup_stream, &bytes).await;
	}
}

/// The peer's SETUP stream after its SETUP: one GOAWAY is noted (a client's with no New Session
/// URI, §10.4; its Request ID is not checked, see docs/protocol.md#draft-18); anything else, or the
/// stream's end, closes the session with PROTOCOL_VIOLATION.
async fn read_setup_stream<S: Session>(shared: Arc<super::Shared<S>>, mut reader: DraftReader<S::Recv>) {
	let mut going = false;
	loop {
		match reader.decode::<RequestMessage, _>(shared.draft).await {
			Ok(Some(RequestMessage::Goaway(goaway))) if going || !goaway.uri.is_empty() => {
				let reason = match going {
					true => "a second GOAWAY",
					false => "a client's GOAWAY with a New Session URI",
				};
				shared.close(termination::PROTOCOL_VIOLATION, reason);
				return;
			}
			Ok(Some(RequestMessage::Goaway(_))) => {
				going = true;
				tracing::debug!("peer is going away");
			}
			Ok(Some(other)) => {
				let reason = format!("{} on the SETUP stream", other.name());
				shared.close(termination::PROTOCOL_VIOLATION, &reason);
				return;
			}
			// §3.3: closing a control stream during the session closes it as a PROTOCOL_VIOLATION.
			Ok(None) | Err(StreamError::Transport(TransportError::Reset(_))) => {
				shared.close(termination::PROTOCOL_VIOLATION, "the SETUP stream was closed");
				return;
			}
			// The session ended.
			Err(StreamError::Transport(_)) => return,
			Err(err) => {
				let code = match err.disposition() {
					Disposition::CloseSession(code) => code,
					_ => termination::PROTOCOL_VIOLATION,
				};
				shared.close(code, &format!("SETUP stream: {err}"));
				return;
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::wire::ietf::{DecodeWith, EncodeWith};

	const D18: Draft = Draft::Draft18;

	#[test]
	fn the_relays_setup() {
		let bytes = own_setup().to_bytes(D18).unwrap();
		// SETUP's Type is `af 00` in draft-18's integers.
		assert_eq!(bytes[..2], [0xaf, 0x00]);
		let (read, _) = Setup::decode_prefix(&bytes, D18).unwrap();
		assert_eq!(
			read.parameters.max_auth_token_cache_size().into_inner(),
			TOKEN_CACHE_SIZE
		);
		assert!(read.parameters.implementation().unwrap().starts_with("moq-relay "));
		// No MAX_REQUEST_ID: draft-18 has none.
		assert!(
			read.parameters
				.0
				.iter()
				.all(|p| p.key != setup_parameter::MAX_REQUEST_ID)
		);
	}
}
