//! FETCH (`docs/protocol.md`, "FETCH on the drafts"): the objects of a track's groups the relay
//! holds, on a fetch stream of their own (FETCH_HEADER, then the objects, then FIN).
//!
//! On draft-14 to draft-16 the FETCH comes on the control stream and is answered there (FETCH_OK
//! or FETCH_ERROR, REQUEST_ERROR from draft-15 on), FETCH_CANCEL ending it; from draft-17 on it
//! opens a request stream of its own, answered FETCH_OK or REQUEST_ERROR on that stream, which
//! the relay ends (FIN) once the objects are written; the peer's reset or STOP_SENDING of it (and
//! its FIN before draft-19) cancels the fetch. Which objects are served is
//! [`FetchRange`]'s (sans-I/O) answer from the cache as it stands when the FETCH arrives.

use std::sync::Arc;

use super::io::{self, DraftReader};
use super::serve::{Allowed, allowed_track, token_end};
use super::{Shared, StreamError, request_error};
use crate::auth::Grant;
use crate::origin::{Group, TrackEnd};
use crate::protocol::ietf::{FetchRange, RangeError, end_location, request_stream};
use crate::session::Writer;
use crate::transport::{SendStream, Session};
use crate::wire::VarInt;
use crate::wire::ietf::draft18::{self, FetchTarget, MessageParameters, ParamValue, RequestMessage, parameter};
use crate::wire::ietf::{
	ControlMessage, DataStreamHeader, FetchObjects, FetchOk, FetchType, GroupOrder, Location, RequestErrorCode,
	termination,
};

/// A FETCH of the peer's, whichever draft and stream it came on.
struct Request {
	namespace: Vec<String>,
	track: String,
	range: FetchRange,
	/// Whether the peer asked for its groups newest first (GROUP_ORDER descending).
	descending: bool,
}

/// What the relay serves for a FETCH: the held groups and, in each, the first and last object,
/// in ascending group order; and the request token that allowed it, if one did (the fetch ends
/// when that token does).
struct Served {
	groups: Vec<(Arc<Group>, u64, u64)>,
	token: Option<Grant>,
}

impl Served {
	/// FETCH_OK's End Location: after the last object served, or (`inclusive`, draft-20 on) that
	/// object.
	fn end(&self, inclusive: bool) -> (u64, u64) {
		let last = self
			.groups
			.last()
			.map_or((0, 0, 0), |(group, first, last)| (group.sequence(), *first, *last));
		end_location(last, inclusive)
	}
}

/// Why a FETCH is refused before anything is served, as (draft-14 code, reason).
type Refusal = (u32, &'static str);

/// A FETCH being written, counted in its session's state until dropped: a session has at most
/// `[limits] max_inflight_groups` of them at once, so a peer that fetches and never reads holds
/// a bounded number of groups.
struct InFlight<S: Session> {
	shared: Arc<Shared<S>>,
}

impl<S: Session> InFlight<S> {
	/// A place for one more FETCH, or the refusal (INTERNAL_ERROR, `too_many_fetches`, counted in
	/// `moq_relay_limit_refused_total`).
	fn take(shared: &Arc<Shared<S>>) -> Result<Self, Refusal> {
		let mut state = shared.state();
		if state.fetches >= shared.ctx.limits.max_inflight_groups.max(1) {
			drop(state);
			shared.ctx.metrics.limit_refused("too_many_fetches");
			return Err((RequestErrorCode::INTERNAL_ERROR, "too_many_fetches"));
		}
		state.fetches += 1;
		Ok(Self { shared: shared.clone() })
	}
}

impl<S: Session> Drop for InFlight<S> {
	fn drop(&mut self) {
		let mut state = self.shared.state();
		state.fetches = state.fetches.saturating_sub(1);
	}
}

/// A FETCH's type, read: a Standalone one's track and range; Joining ones are refused.
fn standalone(fetch_type: FetchType, descending: bool) -> Result<Request, Refusal> {
	match fetch_type {
		FetchType::Standalone {
			namespace,
			track,
			start,
			end,
		} => Ok(Request {
			namespace,
			track,
			range: FetchRange::standalone(start, end).map_err(range_refusal)?,
			descending,
		}),
		// A joining FETCH counts back from the Largest Location of its SUBSCRIBE_OK, and the
		// relay's SUBSCRIBE_OK names none: a live subscriber gets the current group whole.
		FetchType::RelativeJoining { .. } | FetchType::AbsoluteJoining { .. } => Err((
			RequestErrorCode::NOT_SUPPORTED,
			"joining FETCH is not supported: a subscription starts with its current group whole",
		)),
	}
}

fn range_refusal(err: RangeError) -> Refusal {
	match err {
		RangeError::Empty => (RequestErrorCode::INVALID_RANGE, "the range ends before it starts"),
		RangeError::NotAbsolute => (
			RequestErrorCode::NOT_SUPPORTED,
			"a FETCH's LOCATION_FILTER needs an absolute start",
		),
	}
}

/// A FETCH allowed: what the cache holds of its range, or the one group of it being fetched from
/// the publisher.
enum Decided {
	Served(Served),
	Upstream(Arc<Group>, FetchRange, Option<Grant>),
}

/// How long a FETCH waits for a group asked of the publisher to be complete before it is
/// answered with the objects that have begun by then.
const UPSTREAM_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Decided {
	/// What is served: the cache's answer, or once the publisher's has come (complete, or what has
	/// begun after [`UPSTREAM_WAIT`]); DOES_NOT_EXIST when the publisher has nothing of it.
	async fn settle(self) -> Result<Served, Refusal> {
		let (group, range, token) = match self {
			Decided::Served(served) => return Ok(served),
			Decided::Upstream(group, range, token) => (group, range, token),
		};
		let ended = tokio::time::timeout(UPSTREAM_WAIT, group.ended()).await;
		if let Ok(TrackEnd::Aborted(_)) = ended {
			return Err(ABSENT);
		}
		let plan = range.plan(&[(group.sequence(), group.begun())]);
		let groups: Vec<_> = plan
			.into_iter()
			.map(|(_, first, last)| (group.clone(), first, last))
			.collect();
		match groups.is_empty() {
			true => Err(ABSENT),
			false => Ok(Served { groups, token }),
		}
	}
}

/// DOES_NOT_EXIST: neither the relay nor the publisher holds anything of the range.
const ABSENT: Refusal = (
	RequestErrorCode::DOES_NOT_EXIST,
	"neither the relay nor the publisher holds the range",
);

/// Decides a FETCH: refused as a SUBSCRIBE is for its path ([`allowed_track`]); served from the
/// groups the relay holds; a range within one group the relay does not hold is asked of the
/// publisher ([`crate::origin::Origin::fetch`]); DOES_NOT_EXIST when the broadcast is not
/// announced or a range over several groups finds none held; NOT_SUPPORTED for groups newest
/// first across groups (the relay writes them oldest first).
fn decide<S: Session>(shared: &Shared<S>, request: &Request, grants: &[Grant]) -> Result<Decided, Refusal> {
	let audited = crate::audit::Request::Fetch;
	let Allowed { path, token } = allowed_track(shared, (&request.namespace, &request.track), grants, audited)?;
	let absolute = shared.grant.absolute(&path);
	let held = match shared.ctx.origin.cached(&absolute, &request.track) {
		Some(track) => track.groups_after(None),
		None => Vec::new(),
	};
	let counts: Vec<(u64, u64)> = held.iter().map(|g| (g.sequence(), g.begun())).collect();
	let plan = request.range.plan(&counts);
	if request.descending && plan.len() > 1 {
		return Err((
			RequestErrorCode::NOT_SUPPORTED,
			"the relay fetches groups oldest first (GROUP_ORDER ascending)",
		));
	}
	let upstream = match (plan.is_empty(), request.range.group()) {
		(false, _) => None,
		(true, Some(sequence)) => Some(
			shared
				.ctx
				.origin
				.fetch(&absolute, &request.track, sequence)
				.map_err(|_| ABSENT)?,
		),
		(true, None) => return Err(ABSENT),
	};
	if let Some(token) = &token {
		shared.trail.token_granted(&shared.grant, token, audited, &path);
	}
	Ok(match upstream {
		Some(group) => Decided::Upstream(group, request.range, token),
		None => {
			let groups = plan
				.into_iter()
				.filter_map(|(sequence, first, last)| {
					let group = held.iter().find(|g| g.sequence() == sequence)?.clone();
					Some((group, first, last))
				})
				.collect();
			Decided::Served(Served { groups, token })
		}
	})
}

/// Writes `served` on a fetch stream of its own for the FETCH `request_id`: FETCH_HEADER, each
/// object (a frame still arriving followed to its end), FIN; reset with the publisher's code when
/// a group was aborted under it.
async fn write<S: Session>(
	shared: &Shared<S>,
	request_id: VarInt,
	priority: u8,
	served: Served,
) -> Result<(), StreamError> {
	let draft = shared.draft;
	let mut stream = Writer::new(shared.transport.open_uni().await?);
	let mut head = io::encode(&DataStreamHeader::Fetch(request_id), draft)?;
	let mut objects = FetchObjects::new(draft);
	for (group, first, last) in served.groups {
		let sequence = group.sequence();
		let mut frames = group.reader();
		for id in 0..=last {
			let Some(frame) = frames.next_frame().await.map_err(|code| {
				stream.reset(io::reset_code(code, draft));
				StreamError::Reset(code)
			})?
			else {
				// The group ended short of what it had begun: nothing more to serve of it.
				break;
			};
			if id < first {
				continue;
			}
			let header = objects
				.header((sequence, id), priority, frame.size.into_inner())
				.map_err(|_| {
					StreamError::Session(termination::INTERNAL_ERROR, "a fetch object the writer cannot say")
				})?;
			head.extend_from_slice(&header);
			let reset_code = |code| io::reset_code(code, draft);
			if !stream.write_frame(&mut head, &mut frames, reset_code).await? {
				return Ok(());
			}
			shared
				.ctx
				.metrics
				.frame_sent(usize::try_from(frame.size.into_inner()).unwrap_or(usize::MAX));
		}
	}
	if !head.is_empty() {
		stream.write_all(&head).await?;
	}
	stream.finish()
}

/// A FETCH on the control stream (draft-14 to draft-16): FETCH_OK (End Location exclusive) and
/// the objects on a fetch stream, or FETCH_ERROR (REQUEST_ERROR from draft-15 on). The fetch is
/// registered under its Request ID, so FETCH_CANCEL ends it, also while the publisher is asked
/// for its group (which is waited for on a task of its own: the control stream goes on).
pub(super) async fn on_control<S: Session>(shared: &Arc<Shared<S>>, fetch: crate::wire::ietf::Fetch, grants: &[Grant]) {
	let id = fetch.request_id;
	let descending = fetch.group_order == GroupOrder::Descending;
	let decided = standalone(fetch.fetch_type, descending).and_then(|request| {
		let place = InFlight::take(shared)?;
		Ok((decide(shared, &request, grants)?, place))
	});
	let (decided, place) = match decided {
		Ok(decided) => decided,
		Err(refusal) => {
			refuse_on_control(shared, id, refusal).await;
			return;
		}
	};
	let mut state = shared.state();
	let serving = shared.clone();
	let task = tokio::spawn(async move {
		let _place = place;
		match decided.settle().await {
			Ok(served) => {
				let (group, object) = served.end(false);
				let ok = FetchOk {
					request_id: id,
					group_order: GroupOrder::Ascending,
					end_of_track: false,
					end: Location::new(
						VarInt::from_u64(group).unwrap_or(VarInt::MAX),
						VarInt::from_u64(object).unwrap_or(VarInt::MAX),
					),
					parameters: Default::default(),
					extensions: Vec::new(),
				};
				if serving.send(vec![ControlMessage::FetchOk(ok)]).await {
					let token = served.token.clone();
					// A request token's end ends the fetch: its stream is reset as the writer drops.
					tokio::select! {
						result = write(&serving, id, fetch.priority, served) => if let Err(err) = result {
							tracing::trace!(%err, "fetch not delivered");
						},
						_ = token_end(&serving, token.as_slice()) => {}
					}
				}
			}
			Err(refusal) => refuse_on_control(&serving, id, refusal).await,
		}
		serving.state().fetching.remove(&id.into_inner());
	});
	state.fetching.insert(id.into_inner(), task.abort_handle());
}

/// FETCH_ERROR (REQUEST_ERROR from draft-15 on) for the control stream's FETCH `id`.
async fn refuse_on_control<S: Session>(shared: &Shared<S>, id: VarInt, (code, reason): Refusal) {
	let refused = ControlMessage::FetchError(request_error(id, code, reason));
	shared.send(vec![refused]).await;
}

/// A FETCH on a request stream of its own (draft-17 on): FETCH_OK (End Location exclusive before
/// draft-20, the last object from draft-20 on) and the objects on a fetch stream, then the
/// relay's FIN; or REQUEST_ERROR and FIN. The peer's reset or STOP_SENDING of the stream (its FIN
/// too before draft-19) cancels the fetch, also while the publisher is asked for its group: its
/// fetch stream is reset.
pub(super) async fn on_stream<S: Session>(
	shared: Arc<Shared<S>>,
	mut send: S::Send,
	mut reader: DraftReader<S::Recv>,
	fetch: draft18::Fetch,
	grants: &[Grant],
) {
	let draft = shared.draft;
	let parameters = &fetch.parameters;
	// GROUP_ORDER 0x2: descending.
	let descending = matches!(parameters.get(parameter::GROUP_ORDER), Some(ParamValue::Byte(2)));
	let request = match fetch.target {
		FetchTarget::Typed(fetch_type) => standalone(fetch_type, descending),
		FetchTarget::Track { namespace, track } => match parameters.location_filter(draft) {
			Ok(filter) => FetchRange::filtered(filter)
				.map_err(range_refusal)
				.map(|range| Request {
					namespace,
					track,
					range,
					descending,
				}),
			Err(err) => {
				shared.close(termination::PROTOCOL_VIOLATION, &format!("FETCH: {err}"));
				return;
			}
		},
	};
	let decided = match request {
		Ok(_) if request_stream::range_filtered(parameters) => {
			Err((RequestErrorCode::NOT_SUPPORTED, "range filters not supported"))
		}
		Ok(request) => InFlight::take(&shared).and_then(|place| Ok((decide(&shared, &request, grants)?, place))),
		Err(refusal) => Err(refusal),
	};
	let mut peer = RequestStream::default();
	let settled = match decided {
		// The publisher's answer may take seconds: the peer may cancel meanwhile.
		Ok((decided, place)) => tokio::select! {
			settled = decided.settle() => settled.map(|served| (served, place)),
			said = peer.cancelled(&shared, &mut reader, &mut send) => {
				if said {
					send.reset(io::reset_code(crate::wire::StreamCode::CANCEL, draft).into_inner());
				}
				return;
			}
		},
		Err(refusal) => Err(refusal),
	};
	let (served, _place) = match settled {
		Ok(settled) => settled,
		Err((code, reason)) => {
			let refusal = super::requests::refused(code, reason);
			let _ = io::write(&mut send, &io::encode(&refusal, draft).unwrap_or_default()).await;
			let _ = send.finish();
			return;
		}
	};
	let ok = RequestMessage::FetchOk(draft18::FetchOk {
		end_of_track: false,
		end: served.end(draft.fetch_by_filter()),
		parameters: MessageParameters::default(),
		properties: Vec::new(),
	});
	let Ok(bytes) = io::encode(&ok, draft) else {
		return;
	};
	if io::write(&mut send, &bytes).await.is_err() {
		return;
	}
	let priority = parameters.subscriber_priority();
	let token = served.token.clone();
	tokio::select! {
		result = write(&shared, fetch.request_id, priority, served) => {
			if let Err(err) = result {
				tracing::trace!(%err, "fetch not delivered");
			}
			let _ = send.finish();
			return;
		}
		said = peer.cancelled(&shared, &mut reader, &mut send) => if !said {
			return;
		},
		// The request token that allowed it expired or was revoked.
		_ = token_end(&shared, token.as_slice()) => {}
	}
	// Cancelled, or its token ended: the fetch stream is reset as its writer is dropped.
	send.reset(io::reset_code(crate::wire::StreamCode::CANCEL, draft).into_inner());
}

/// What the peer may still do on a FETCH's request stream: send on its side (its FIN only ends
/// that from draft-19 on), and stop the relay's.
struct RequestStream {
	reading: bool,
	stoppable: bool,
}

impl Default for RequestStream {
	fn default() -> Self {
		Self {
			reading: true,
			stoppable: true,
		}
	}
}

impl RequestStream {
	/// Resolves once the peer cancels the FETCH: `true` when it reset or stopped the stream (or,
	/// before draft-19, ended it), `false` when it sent a message there, which closes the
	/// session (PROTOCOL_VIOLATION). Cancel-safe: what it learned stays in `self`.
	async fn cancelled<S: Session>(
		&mut self,
		shared: &Shared<S>,
		reader: &mut DraftReader<S::Recv>,
		send: &mut S::Send,
	) -> bool {
		let draft = shared.draft;
		loop {
			tokio::select! {
				next = reader.decode::<RequestMessage, _>(draft), if self.reading => match next {
					Ok(None) if draft.fin_keeps_requests() => self.reading = false,
					Ok(Some(message)) => {
						let reason = format!("{} on a FETCH stream", message.name());
						shared.close(termination::PROTOCOL_VIOLATION, &reason);
						return false;
					}
					Ok(None) | Err(_) => return true,
				},
				stopped = send.stopped(), if self.stoppable => match stopped {
					Ok(None) => self.stoppable = false,
					Ok(Some(_)) | Err(_) => return true,
				},
				else => std::future::pending::<()>().await,
			}
		}
	}
}
