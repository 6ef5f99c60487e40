//! Draft-18's request streams (`docs/protocol.md#draft-18`): every request is a bidirectional
//! stream of its own, its answers on it without a Request ID.
//!
//! - The peer's streams ([`accept`]): SUBSCRIBE is answered SUBSCRIBE_OK (or REQUEST_ERROR) and
//!   served from the origin as on draft-14, PUBLISH_DONE on the stream at the track's end, the
//!   peer's reset or STOP_SENDING cancelling it, and its FIN too before draft-19 (from draft-19
//!   on a FIN only ends its updates); PUBLISH_NAMESPACE is answered REQUEST_OK (or
//!   REQUEST_ERROR) and its broadcast stays published until the stream ends; SUBSCRIBE_NAMESPACE
//!   (0x50) runs as draft-16's stream does; FETCH is served from the cache (`fetch`); PUBLISH,
//!   TRACK_STATUS and SUBSCRIBE_TRACKS get REQUEST_ERROR NOT_SUPPORTED.
//! - The relay's own subscriptions ([`subscribe_upstream`]): one stream per SUBSCRIBE, its
//!   SUBSCRIBE_OK binding the Track Alias the data streams carry, PUBLISH_DONE or the stream's end
//!   ending the track, the relay's FIN cancelling it when nobody reads the track any more.
//!
//! Draft-18 has no MAX_REQUEST_ID: how many requests the peer has open is bounded by the QUIC
//! stream limit the session grants, doubled when half is in use (as for data streams, up to
//! `transport::PEER_STREAMS`). The peer's Request IDs (of every request and REQUEST_UPDATE) must
//! have its parity and be new (INVALID_REQUEST_ID).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};

use moq_token::Path;
use tokio::task::JoinSet;

use super::io::{self, DraftReader};
use super::{Shared, StreamError, UpstreamEvent, Violation, fetch, ingest, namespaces, serve};
use crate::auth::Grant;
use crate::logging::Peer;
use crate::origin::{Track, TrackEnd};
use crate::protocol::ietf::{Window, request_stream};
use crate::transport::{SendStream, Session};
use crate::wire::ietf::draft18::{
	MessageParameters, NamespaceRequest, ParamValue, RequestError, RequestMessage, Subscribe, parameter,
};
use crate::wire::ietf::{
	ControlMessage, Draft, PublishDone, RequestErrorCode, path_to_namespace, stream_code, termination,
};
use crate::wire::{Disposition, StreamCode, VarInt};

/// Encodes an answer of the shared logic for the stream it answers on: as is on draft-14, with
/// draft-15's and draft-16's REQUEST_ERROR codes there, in its draft-18 request-stream form on
/// draft-17 and later.
pub(super) fn encode_answer(message: &ControlMessage, draft: Draft) -> Result<Vec<u8>, StreamError> {
	match draft {
		d if d.has_request_streams() => match request_stream::answer(message) {
			Some(answer) => io::encode(&answer, draft),
			None => Err(StreamError::Session(
				termination::INTERNAL_ERROR,
				"a message with no draft-18 request-stream form",
			)),
		},
		d if d.fields_as_parameters() => io::encode(&request_stream::renumbered(message), draft),
		_ => io::encode(message, draft),
	}
}

async fn write_message<W: SendStream>(
	stream: &mut W,
	message: &RequestMessage,
	draft: Draft,
) -> Result<(), StreamError> {
	io::write(stream, &io::encode(message, draft)?).await
}

/// REQUEST_ERROR with a code of draft-14's registry (the shared logic's), in draft-18's numbers.
pub(super) fn refused(code: u32, reason: &str) -> RequestMessage {
	refused18(request_stream::error_code(code), reason)
}

/// REQUEST_ERROR with a code of draft-18's registry.
fn refused18(code: u32, reason: &str) -> RequestMessage {
	RequestMessage::RequestError(RequestError {
		code: VarInt::from_u32(code),
		retry_interval: VarInt::ZERO,
		reason: reason.into(),
	})
}

/// Closes the session for a stream that broke the protocol (its error's code, else
/// PROTOCOL_VIOLATION); a transport error ends the stream alone.
fn broken<S: Session>(shared: &Shared<S>, err: &StreamError, what: &str) {
	if matches!(err, StreamError::Transport(_)) {
		return;
	}
	let code = match err.disposition() {
		Disposition::CloseSession(code) => code,
		_ => termination::PROTOCOL_VIOLATION,
	};
	shared.close(code, &format!("{what}: {err}"));
}

/// Accepts the peer's request streams for as long as the session lives.
pub(super) async fn accept<S: Session>(shared: Arc<Shared<S>>) {
	let mut streams = JoinSet::new();
	loop {
		tokio::select! {
			bi = shared.transport.accept_bi() => match bi {
				Ok((send, recv)) => {
					// Each request holds a stream for its life: the allowance grows with them, as
					// for the data streams.
					let open = shared.budget.opened(&shared.transport);
					let shared = shared.clone();
					streams.spawn(async move {
						let _open = open;
						request(shared, send, recv).await;
					});
				}
				Err(_) => return,
			},
			Some(_) = streams.join_next(), if !streams.is_empty() => {}
		}
	}
}

/// One of the peer's request streams, to its end.
async fn request<S: Session>(shared: Arc<Shared<S>>, mut send: S::Send, recv: S::Recv) {
	let mut reader = DraftReader::new(recv, shared.ctx.limits.max_message);
	let draft = shared.draft;
	let first = match reader.expect::<RequestMessage, _>(draft).await {
		Ok(first) => first,
		Err(err) => {
			broken(&shared, &err, "request stream");
			return;
		}
	};
	let (id, parameters) = match &first {
		RequestMessage::Subscribe(m) => (Some(m.request_id), Some(&m.parameters)),
		RequestMessage::Fetch(m) => (Some(m.request_id), Some(&m.parameters)),
		RequestMessage::PublishNamespace(m) | RequestMessage::SubscribeNamespace(m) => {
			(Some(m.request_id), Some(&m.parameters))
		}
		RequestMessage::Unsupported(m) => match m.request_id() {
			Some(id) => (Some(id), None),
			None => {
				let reason = format!("{} without a Request ID", m.name());
				shared.close(termination::PROTOCOL_VIOLATION, &reason);
				return;
			}
		},
		_ => (None, None),
	};
	if let Some(id) = id
		&& let Err((code, reason)) = request_id(&shared, id)
	{
		shared.close(code, &reason);
		return;
	}
	// After the relay's GOAWAY every new request is refused (draft-18 §10.4).
	if shared.state().going_away {
		let refusal = refused18(request_stream::error_code::GOING_AWAY, "the relay is going away");
		let _ = write_message(&mut send, &refusal, draft).await;
		let _ = send.finish();
		return;
	}
	let verdict = match parameters {
		Some(parameters) => request_tokens(&shared, parameters).await,
		None => Ok(Ok(Vec::new())),
	};
	let grants = match verdict {
		Ok(Ok(grants)) => grants,
		Ok(Err(refusal)) => {
			let _ = write_message(&mut send, &refusal, draft).await;
			let _ = send.finish();
			return;
		}
		Err((code, reason)) => {
			shared.close(code, &reason);
			return;
		}
	};
	match first {
		RequestMessage::Subscribe(request) => subscribe(shared, send, reader, request, &grants).await,
		RequestMessage::Fetch(request) => fetch::on_stream(shared, send, reader, request, &grants).await,
		RequestMessage::PublishNamespace(request) => publish_namespace(shared, send, reader, request, &grants).await,
		RequestMessage::SubscribeNamespace(request) => {
			let request = request_stream::subscribe_namespace(&request);
			namespaces::run(shared, send, reader, request, grants).await;
		}
		RequestMessage::Unsupported(request) => {
			let reason = format!("{} is not supported by this relay on {draft}", request.name());
			let refusal = refused(RequestErrorCode::NOT_SUPPORTED, &reason);
			let _ = write_message(&mut send, &refusal, draft).await;
			let _ = send.finish();
		}
		other => {
			let reason = format!("{} opened a request stream", other.name());
			shared.close(termination::PROTOCOL_VIOLATION, &reason);
		}
	}
}

/// Checks a Request ID of the peer's (a request's or a REQUEST_UPDATE's): its parity, and that it
/// is new (draft-18 §10.1: INVALID_REQUEST_ID).
fn request_id<S: Session>(shared: &Shared<S>, id: VarInt) -> Result<(), Violation> {
	let accepted = shared.state().requests18.accept(id);
	accepted.map_err(|v| (v.code, v.reason.to_string()))
}

/// Applies a request's AUTHORIZATION TOKENs to the session's alias cache and verifies them, as on
/// draft-14 ([`super::request_tokens_verdict`]): the refusal to answer with for an unknown alias or
/// a token that does not verify (its code in draft-18's numbers), else the grants of its tokens;
/// an error when the session must close.
async fn request_tokens<S: Session>(
	shared: &Shared<S>,
	parameters: &MessageParameters,
) -> Result<Result<Vec<Grant>, RequestMessage>, Violation> {
	Ok(super::request_tokens_verdict(shared, parameters.auth_tokens())
		.await?
		.map_err(|(code, reason)| refused(code, &reason)))
}

/// The peer's SUBSCRIBE: refused, or SUBSCRIBE_OK and the track served until it ends (then
/// PUBLISH_DONE and FIN) or the peer ends the stream.
async fn subscribe<S: Session>(
	shared: Arc<Shared<S>>,
	mut send: S::Send,
	mut reader: DraftReader<S::Recv>,
	request: Subscribe,
	grants: &[Grant],
) {
	let draft = shared.draft;
	// Draft-20 and later filters are applied; earlier ones are not, as the published client's
	// publisher has it (`docs/protocol.md`, "Subscription filters").
	let window = match draft.filter_fields() {
		true => match request.parameters.location_filter(draft) {
			Ok(filter) => Window::from_filter(filter),
			Err(err) => {
				shared.close(termination::PROTOCOL_VIOLATION, &format!("SUBSCRIBE: {err}"));
				return;
			}
		},
		false => Window::LATEST,
	};
	let range_filtered = request_stream::range_filtered(&request.parameters);
	let request = request_stream::subscribe(&request);
	let id = request.request_id;
	let serve::Allowed { path, token } = match serve::requested(&shared, &request, grants) {
		Ok(_) if range_filtered => {
			let refusal = refused(RequestErrorCode::NOT_SUPPORTED, "range filters not supported");
			let _ = write_message(&mut send, &refusal, draft).await;
			let _ = send.finish();
			return;
		}
		Ok(allowed) => allowed,
		Err((code, reason)) => {
			let _ = write_message(&mut send, &refused(code, reason), draft).await;
			let _ = send.finish();
			return;
		}
	};
	let absolute = shared.grant.absolute(&path);
	let Ok(track) = shared.ctx.origin.subscribe(&absolute, &request.track) else {
		let _ = write_message(
			&mut send,
			&refused(RequestErrorCode::DOES_NOT_EXIST, "no such broadcast"),
			draft,
		)
		.await;
		let _ = send.finish();
		return;
	};
	tracing::debug!(broadcast = %Peer(absolute.as_str()), track = %Peer(&request.track), %id, %draft, "subscribed");
	let alias = shared.state().ours.assign(id);
	let ok = ControlMessage::SubscribeOk(crate::wire::ietf::SubscribeOk {
		request_id: id,
		track_alias: alias,
		expires: VarInt::ZERO,
		group_order: crate::wire::ietf::GroupOrder::Descending,
		largest: None,
		parameters: Default::default(),
		extensions: Vec::new(),
	});
	let sent = match encode_answer(&ok, draft) {
		Ok(bytes) => io::write(&mut send, &bytes).await,
		Err(err) => Err(err),
	};
	if sent.is_ok() {
		let opened = Arc::new(AtomicU64::new(0));
		let served = serve::serve_track(&shared, (alias, request.priority, opened.clone()), track, window);
		tokio::pin!(served);
		let token_end = serve::token_end(&shared, token.as_slice());
		tokio::pin!(token_end);
		// Whether the subscriber may still send a REQUEST_UPDATE, and whether its STOP_SENDING
		// can still come.
		let (mut updates, mut stoppable) = (true, true);
		let cancel = |send: &mut S::Send| send.reset(super::io::reset_code(StreamCode::CANCEL, draft).into_inner());
		loop {
			tokio::select! {
				done = &mut served => {
					if let Some(done) = done {
						publish_done(&mut send, PublishDone { request_id: id, ..done }, draft).await;
					}
					break;
				}
				next = reader.decode::<RequestMessage, _>(draft), if updates => match next {
					Ok(Some(message)) => {
						let judged = ("SUBSCRIBE", request_stream::update_applies as fn(&MessageParameters) -> bool);
						match follow_up(&shared, &mut send, message, judged).await {
							FollowUp::Answered => {}
							FollowUp::Done => break,
							// The refused update ends the subscription: PUBLISH_DONE UPDATE_FAILED.
							FollowUp::Refused => {
								publish_done(&mut send, serve::done(id, serve::UPDATE_FAILED, &opened), draft).await;
								break;
							}
						}
					}
					// From draft-19 on, the subscriber's FIN only says no REQUEST_UPDATE follows.
					Ok(None) if draft.fin_keeps_requests() => updates = false,
					// Its FIN (draft-17 and draft-18) or reset cancels the subscription.
					Ok(None) | Err(StreamError::Transport(_)) => {
						cancel(&mut send);
						break;
					}
					Err(err) => {
						broken(&shared, &err, "SUBSCRIBE stream");
						break;
					}
				},
				// A request token's subscription ends when the token expires or is revoked.
				ended = &mut token_end => {
					publish_done(&mut send, serve::done(id, ended, &opened), draft).await;
					break;
				},
				// STOP_SENDING cancels it on every draft (the session's end too).
				stopped = send.stopped(), if stoppable => match stopped {
					Ok(None) => stoppable = false,
					Ok(Some(_)) | Err(_) => {
						cancel(&mut send);
						break;
					}
				},
			}
		}
	}
	shared.state().ours.forget(id);
}

/// Ends a subscription's stream: its PUBLISH_DONE, then FIN.
async fn publish_done<W: SendStream>(send: &mut W, done: PublishDone, draft: Draft) {
	if let Ok(bytes) = encode_answer(&ControlMessage::PublishDone(done), draft) {
		let _ = io::write(send, &bytes).await;
	}
	let _ = send.finish();
}

/// What became of a message the peer sent after its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FollowUp {
	/// Answered; the stream goes on.
	Answered,
	/// A REQUEST_UPDATE refused with REQUEST_ERROR: the request ends.
	Refused,
	/// The stream is done with (the session closes, or the answer could not be written).
	Done,
}

/// A message the peer sent after its request on a `stream` stream the relay serves: a
/// REQUEST_UPDATE is answered REQUEST_OK when `applies` says the relay can take it (nothing the
/// relay keeps changes with one: groups already go newest first, and no MoQ Cluster parameters
/// are kept), else REQUEST_ERROR NOT_SUPPORTED; its Request ID used twice is INVALID_REQUEST_ID
/// and anything else a PROTOCOL_VIOLATION, both closing the session.
async fn follow_up<S: Session>(
	shared: &Shared<S>,
	send: &mut S::Send,
	message: RequestMessage,
	(stream, applies): (&str, fn(&MessageParameters) -> bool),
) -> FollowUp {
	let written = |result: Result<(), StreamError>, then| match result {
		Ok(()) => then,
		Err(_) => FollowUp::Done,
	};
	match message {
		RequestMessage::RequestUpdate(update) if request_id(shared, update.request_id).is_err() => {
			shared.close(
				termination::INVALID_REQUEST_ID,
				"REQUEST_UPDATE: a Request ID used twice or of the wrong parity",
			);
			FollowUp::Done
		}
		RequestMessage::RequestUpdate(update) if applies(&update.parameters) => {
			let ok = RequestMessage::RequestOk(MessageParameters::default());
			written(write_message(send, &ok, shared.draft).await, FollowUp::Answered)
		}
		RequestMessage::RequestUpdate(_) => {
			let refusal = refused(RequestErrorCode::NOT_SUPPORTED, serve::UPDATE_FAILED.1);
			written(write_message(send, &refusal, shared.draft).await, FollowUp::Refused)
		}
		other => {
			let reason = format!("{} on a {stream} stream", other.name());
			shared.close(termination::PROTOCOL_VIOLATION, &reason);
			FollowUp::Done
		}
	}
}

/// The peer's PUBLISH_NAMESPACE: answered, and its broadcast published until the stream ends; or,
/// for one that a request token allowed, until that token expires or is revoked: then the relay
/// withdraws it ([`ingest::withdraw`]) and cancels the request (draft-18 §3.3.2), resetting its
/// side and stopping the peer's with EXPIRED_AUTH_TOKEN (from draft-18 on; CANCELLED before) for
/// an expired token, CANCELLED for a revoked one.
async fn publish_namespace<S: Session>(
	shared: Arc<Shared<S>>,
	mut send: S::Send,
	mut reader: DraftReader<S::Recv>,
	request: NamespaceRequest,
	grants: &[Grant],
) {
	let draft = shared.draft;
	let request = request_stream::publish_namespace(&request);
	let (answer, token) = ingest::publish(&shared, &request, grants, false);
	let accepted = !matches!(answer, ControlMessage::PublishNamespaceError(_));
	let written = match encode_answer(&answer, draft) {
		Ok(bytes) => io::write(&mut send, &bytes).await,
		Err(err) => Err(err),
	};
	if accepted && written.is_ok() {
		let token: Vec<Grant> = token.into_iter().collect();
		loop {
			let next = tokio::select! {
				next = reader.decode::<RequestMessage, _>(draft) => next,
				(_, reason) = serve::token_end(&shared, &token) => {
					drop(ingest::withdraw(&shared, request.request_id));
					let code = match reason {
						serve::TOKEN_EXPIRED => stream_code::expired_auth_token(draft),
						_ => stream_code::CANCELLED,
					};
					send.reset(code);
					reader.stop_with(code);
					return;
				}
			};
			match next {
				Ok(Some(message)) => {
					// Nothing of a published namespace changes with an update.
					let judged = ("PUBLISH_NAMESPACE", (|_| true) as fn(&MessageParameters) -> bool);
					if follow_up(&shared, &mut send, message, judged).await != FollowUp::Answered {
						break;
					}
				}
				// Draft-18 withdraws a namespace by ending its stream.
				Ok(None) | Err(StreamError::Transport(_)) => break,
				Err(err) => {
					broken(&shared, &err, "PUBLISH_NAMESPACE stream");
					break;
				}
			}
		}
		ingest::publish_namespace_done_request(&shared, request.request_id);
	}
	let _ = send.finish();
}

/// The relay's SUBSCRIBE to the peer for one track, on a stream of its own, until the peer ends
/// it or every subscriber is gone (the relay's FIN cancels it).
pub(super) async fn subscribe_upstream<S: Session>(shared: Arc<Shared<S>>, absolute: Path, weak: Weak<Track>) {
	let Some(track) = weak.upgrade() else { return };
	let Some(path) = absolute.strip_prefix(shared.grant.root()) else {
		track.end(TrackEnd::Aborted(StreamCode::NOT_FOUND));
		return;
	};
	let name = track.name().to_string();
	let mut alive = track.alive();
	drop(track);
	// Draft-18 has no MAX_REQUEST_ID: the relay's odd Request IDs are never blocked.
	let Ok(id) = shared.state().own.allocate() else {
		if let Some(track) = weak.upgrade() {
			track.end(TrackEnd::Aborted(StreamCode::CANCEL));
		}
		return;
	};
	let (_route, mut gone) = ingest::Route::register(&shared, id, (&path, &weak));
	ingest::read_datagrams(&shared);
	let end = upstream(&shared, id, (path, &name, &absolute), (&mut alive, &mut gone)).await;
	if let (Some(end), Some(track)) = (end, weak.upgrade()) {
		track.end(end);
	}
}

/// Opens the SUBSCRIBE stream and follows its answers: how the track ends (`None` when nobody
/// wants it any more: the relay then cancels the request by resetting its stream, CANCELLED,
/// draft-18 §3.3.2, as it does when the session ends or the broadcast is withdrawn, `gone`).
async fn upstream<S: Session>(
	shared: &Shared<S>,
	id: VarInt,
	(path, name, absolute): (Path, &str, &Path),
	(alive, gone): (
		&mut tokio::sync::watch::Receiver<()>,
		&mut tokio::sync::mpsc::UnboundedReceiver<UpstreamEvent>,
	),
) -> Option<TrackEnd> {
	let aborted = Some(TrackEnd::Aborted(StreamCode::CANCEL));
	let Ok((mut send, recv)) = shared.transport.open_bi().await else {
		return aborted;
	};
	// The publisher's current group from its start, newest first, as on draft-14 and draft-16:
	// every group arrives whole.
	let draft = shared.draft;
	let request = RequestMessage::Subscribe(Subscribe {
		request_id: id,
		namespace: path_to_namespace(path.as_str()),
		track: name.to_string(),
		parameters: MessageParameters::default()
			.with(parameter::SUBSCRIBER_PRIORITY, ParamValue::Byte(0))
			.with(
				parameter::SUBSCRIPTION_FILTER,
				ParamValue::Bytes(request_stream::upstream_filter(draft).into()),
			)
			.with(parameter::GROUP_ORDER, ParamValue::Byte(2)),
	});
	if write_message(&mut send, &request, draft).await.is_err() {
		return aborted;
	}
	let mut reader = DraftReader::new(recv, shared.ctx.limits.max_message);
	let mut answered = false;
	loop {
		let next = tokio::select! {
			next = reader.decode::<RequestMessage, _>(draft) => next,
			_ = alive.changed() => {
				send.reset(super::io::reset_code(StreamCode::CANCEL, draft).into_inner());
				reader.stop(StreamCode::CANCEL, draft);
				return None;
			}
			_ = gone.recv() => {
				send.reset(super::io::reset_code(StreamCode::CANCEL, draft).into_inner());
				reader.stop(StreamCode::CANCEL, draft);
				return aborted;
			}
		};
		match next {
			Ok(Some(RequestMessage::SubscribeOk(ok))) if !answered => {
				answered = true;
				let learned = shared.state().theirs.learn(ok.track_alias, id);
				if let Err(v) = learned {
					shared.close(v.code, v.reason);
					return aborted;
				}
				shared.aliases.send_modify(|n| *n += 1);
			}
			Ok(Some(RequestMessage::RequestError(err))) => {
				tracing::debug!(broadcast = %Peer(absolute.as_str()), track = %Peer(name), reason = %Peer(&err.reason), "upstream subscription refused");
				let _ = send.finish();
				return Some(TrackEnd::Aborted(StreamCode::NOT_FOUND));
			}
			Ok(Some(RequestMessage::PublishDone(_))) if answered => {
				let _ = send.finish();
				return Some(TrackEnd::Finished);
			}
			Ok(Some(RequestMessage::RequestOk(_))) if answered => {}
			Ok(Some(other)) => {
				let reason = format!("{} on a SUBSCRIBE stream", other.name());
				shared.close(termination::PROTOCOL_VIOLATION, &reason);
				return aborted;
			}
			Ok(None) => {
				let _ = send.finish();
				return Some(TrackEnd::Finished);
			}
			Err(err) => {
				broken(shared, &err, "SUBSCRIBE stream");
				return aborted;
			}
		}
	}
}
