//! The relay as subscriber on a draft session: the peer's PUBLISH_NAMESPACE puts a broadcast in
//! the origin; a track the origin wants is subscribed to with SUBSCRIBE, and the peer's subgroup
//! streams fill the shared track (routed by Track Alias), which subscribers of every version read.
//! A group the origin does not hold is asked for with FETCH ([`super::fetch_upstream`]), whose
//! fetch stream is handed to it by Request ID.

use std::sync::{Arc, Weak};
use std::time::Duration;

use moq_token::Path;
use tokio::sync::mpsc;

use super::io::DraftReader;
use super::{Shared, StreamError, UpstreamEvent, UpstreamSub, Violation};
use crate::auth::Grant;
use crate::logging::Peer;
use crate::origin::{GroupWriter, Publication, Track, TrackEnd, UpstreamRequest, UpstreamRequests};
use crate::protocol::ietf::InboundAction;
use crate::transport::{Session, TransportError};
use crate::wire::ietf::{
	ControlMessage, DataStreamHeader, Filter, GroupOrder, ObjectStatus, PublishNamespace, PublishNamespaceCancel,
	RequestError, RequestErrorCode, SubgroupId, SubgroupObjectHeader, Subscribe, SubscribeOk, path_to_namespace,
	stream_code,
};
use crate::wire::{FrameHeader, StreamCode, VarInt};

/// How long a subgroup stream waits for the SUBSCRIBE_OK that binds its Track Alias (the two
/// travel on different streams, so the data may overtake the answer).
const ALIAS_WAIT: Duration = Duration::from_secs(1);

/// PUBLISH_NAMESPACE on the control stream (draft-14 to draft-16): checked against the grant (or
/// one of its request tokens, `grants`) and the limits, answered, and published; one that a
/// request token allowed is withdrawn when that token ends ([`withdraw_at_token_end`]).
pub(super) async fn publish_namespace<S: Session>(
	shared: &Arc<Shared<S>>,
	request: PublishNamespace,
	grants: &[Grant],
) {
	let (answer, _) = publish(shared, &request, grants, true);
	shared.send(vec![answer]).await;
}

/// A broadcast the peer published: its place in the origin (withdrawn when dropped) and, for one
/// that a request token on the control stream allowed, the task that withdraws it when that token
/// ends (aborted when the publication goes first).
pub(super) struct Published {
	_publication: Publication,
	until: Option<Until>,
}

/// Aborts the task it names when dropped, unless [`disarmed`](Until::disarm) first.
struct Until(Option<tokio::task::AbortHandle>);

impl Until {
	/// Lets the task run on: it is the one dropping its publication.
	fn disarm(mut self) {
		self.0 = None;
	}
}

impl Drop for Until {
	fn drop(&mut self) {
		if let Some(task) = self.0.take() {
			task.abort();
		}
	}
}

/// Checks a PUBLISH_NAMESPACE against the grant (or one of the request's verified tokens,
/// `grants`) and the limits and publishes its broadcast: the answer (PUBLISH_NAMESPACE_OK or its
/// refusal, in draft-14's terms), and the request token that allowed it where the session's grant
/// does not. With `watch` (the control stream's PUBLISH_NAMESPACE), a task of its own withdraws
/// such a publication when that token ends; a request stream's task watches the token itself.
pub(super) fn publish<S: Session>(
	shared: &Arc<Shared<S>>,
	request: &PublishNamespace,
	grants: &[Grant],
	watch: bool,
) -> (ControlMessage, Option<Grant>) {
	let (answer, action) = shared.state().inbound.publish(request, grants);
	if let Some(InboundAction::Publish(path, Some(token)) | InboundAction::Renewed(path, Some(token))) = &action {
		let audited = crate::audit::Request::Publish;
		shared.trail.token_granted(&shared.grant, token, audited, path);
	}
	match action {
		Some(InboundAction::Publish(path, token)) => {
			let absolute = shared.grant.absolute(&path);
			tracing::info!(broadcast = %Peer(absolute.as_str()), "broadcast announced (draft)");
			let publication = shared
				.ctx
				.origin
				.publish(absolute, vec![shared.route_origin], shared.upstream.clone());
			// Spawned under the state's lock: the task cannot find its publication missing.
			let mut state = shared.state();
			let until = token
				.clone()
				.filter(|_| watch)
				.map(|token| until(shared, request, token));
			let published = Published {
				_publication: publication,
				until,
			};
			state.publications.insert(path, published);
			(answer, token)
		}
		Some(InboundAction::Renewed(path, token)) => {
			// The publication now lasts as long as this request's token (or the session); the
			// earlier request's watch, if any, is aborted as it is replaced.
			let mut state = shared.state();
			if watch && let Some(published) = state.publications.get_mut(&path) {
				published.until = token.clone().map(|token| until(shared, request, token));
			}
			(answer, token)
		}
		Some(InboundAction::Denied(path)) => {
			let request = crate::audit::Request::Publish;
			shared.trail.denied(&shared.grant, request, &path, &shared.ctx.metrics);
			(answer, None)
		}
		Some(InboundAction::Withdraw(_)) | None => (answer, None),
	}
}

/// The task that withdraws the control stream's publication `request` when `token` ends
/// ([`withdraw_at_token_end`]).
fn until<S: Session>(shared: &Arc<Shared<S>>, request: &PublishNamespace, token: Grant) -> Until {
	let id = request.request_id;
	let task = tokio::spawn(withdraw_at_token_end(
		shared.clone(),
		id,
		request.namespace.clone(),
		token,
	));
	Until(Some(task.abort_handle()))
}

/// Withdraws the publication of the peer's PUBLISH_NAMESPACE `id` (if it still stands) because the
/// request token that allowed it ended: the broadcast leaves the origin, and the relay's
/// subscriptions to the peer for it are cancelled (UNSUBSCRIBE, or the request stream reset), so
/// their subscribers see the tracks end (a publisher whose authorization ended feeds nobody).
pub(super) fn withdraw<S: Session>(shared: &Shared<S>, id: VarInt) -> Option<Published> {
	let mut state = shared.state();
	let Some(InboundAction::Withdraw(path)) = state.inbound.done_request(id) else {
		return None;
	};
	for up in state.upstream.values().filter(|up| up.path == path) {
		let _ = up.events.send(UpstreamEvent::Withdrawn);
	}
	let absolute = shared.grant.absolute(&path);
	tracing::info!(broadcast = %Peer(absolute.as_str()), "broadcast withdrawn: its authorization token ended");
	state.publications.remove(&path)
}

/// The control stream's publication `id`, allowed by the request token `token`, until that token
/// expires or is revoked: then it is withdrawn ([`withdraw`]) and the peer told with
/// PUBLISH_NAMESPACE_CANCEL (by namespace on draft-14 and draft-15, by Request ID on draft-16),
/// EXPIRED_AUTH_TOKEN for an expired token and UNAUTHORIZED otherwise, the reason its code
/// (`token_expired`, `token_revoked`, ...). The draft's text lets the publisher send
/// PUBLISH_NAMESPACE again with a fresh token.
async fn withdraw_at_token_end<S: Session>(shared: Arc<Shared<S>>, id: VarInt, namespace: Vec<String>, token: Grant) {
	let (_, reason) = super::serve::token_end(&shared, std::slice::from_ref(&token)).await;
	let Some(mut published) = withdraw(&shared, id) else {
		return;
	};
	if let Some(until) = published.until.take() {
		until.disarm();
	}
	drop(published);
	let code = match reason {
		super::serve::TOKEN_EXPIRED => RequestErrorCode::EXPIRED_AUTH_TOKEN,
		_ => RequestErrorCode::UNAUTHORIZED,
	};
	let cancel = match shared.draft.namespace_streams() {
		true => ControlMessage::PublishNamespaceCancelRequest(RequestError {
			request_id: id,
			code: VarInt::from_u32(code),
			reason: reason.into(),
			retry_interval: VarInt::ZERO,
		}),
		false => ControlMessage::PublishNamespaceCancel(PublishNamespaceCancel {
			namespace,
			code: VarInt::from_u32(code),
			reason: reason.into(),
		}),
	};
	shared.send(vec![cancel]).await;
}

/// PUBLISH_NAMESPACE_DONE: the broadcast is withdrawn.
pub(super) fn publish_namespace_done<S: Session>(shared: &Shared<S>, namespace: &[String]) {
	let mut state = shared.state();
	if let Some(InboundAction::Withdraw(path)) = state.inbound.done(namespace) {
		state.publications.remove(&path);
	}
}

/// Draft-16's PUBLISH_NAMESPACE_DONE, naming the PUBLISH_NAMESPACE by its Request ID.
pub(super) fn publish_namespace_done_request<S: Session>(shared: &Shared<S>, request_id: VarInt) {
	let mut state = shared.state();
	if let Some(InboundAction::Withdraw(path)) = state.inbound.done_request(request_id) {
		state.publications.remove(&path);
	}
}

/// SUBSCRIBE_OK for one of the relay's subscriptions: its Track Alias now routes data streams.
pub(super) fn subscribe_ok<S: Session>(shared: &Shared<S>, ok: SubscribeOk) -> Result<(), Violation> {
	{
		let mut state = shared.state();
		if !state.upstream.contains_key(&ok.request_id.into_inner()) {
			// Unsubscribed meanwhile.
			return Ok(());
		}
		state
			.theirs
			.learn(ok.track_alias, ok.request_id)
			.map_err(|v| (v.code, v.reason.to_string()))?;
	}
	shared.aliases.send_modify(|n| *n += 1);
	answered(shared, ok.request_id, UpstreamEvent::Ok);
	Ok(())
}

/// Passes the peer's answer on to the subscription it is for.
pub(super) fn answered<S: Session>(shared: &Shared<S>, request_id: VarInt, event: UpstreamEvent) {
	if let Some(up) = shared.state().upstream.get(&request_id.into_inner()) {
		let _ = up.events.send(event);
	}
}

/// Serves the origin's requests for the broadcasts this session published.
pub(super) async fn serve_requests<S: Session>(shared: Arc<Shared<S>>, mut requests: UpstreamRequests) {
	let fetches = Arc::new(tokio::sync::Semaphore::new(crate::session::upstream::UPSTREAM_FETCHES));
	while let Some(request) = requests.recv().await {
		match request {
			UpstreamRequest::Subscribe { path, track } if shared.draft.has_request_streams() => {
				tokio::spawn(super::requests::subscribe_upstream(shared.clone(), path, track));
			}
			UpstreamRequest::Subscribe { path, track } => {
				tokio::spawn(subscribe(shared.clone(), path, track));
			}
			// As many at once as of a moq-lite publisher (`docs/protocol.md`, "Fetching what the
			// relay does not hold"); past them the group is NOT_FOUND at once.
			UpstreamRequest::Fetch { path, track, group } => match fetches.clone().try_acquire_owned() {
				Ok(place) => {
					let shared = shared.clone();
					tokio::spawn(async move {
						super::fetch_upstream::fetch(shared, path, track, group).await;
						drop(place);
					});
				}
				Err(_) => {
					shared.ctx.metrics.limit_refused("upstream_fetches");
					group.abort(StreamCode::NOT_FOUND);
				}
			},
			// The drafts carry no TRACK_INFO: frames are stamped on arrival in milliseconds.
			UpstreamRequest::Info { reply, .. } => {
				let _ = reply.send(shared.ctx.limits.cache.synthesised_track_info());
			}
		}
	}
}

/// Removes the relay's subscription from the session's tables when it ends.
pub(super) struct Route<'a, S: Session> {
	shared: &'a Shared<S>,
	id: VarInt,
}

impl<'a, S: Session> Route<'a, S> {
	/// Registers the relay's upstream subscription `id` for `track`, on every draft: the publisher's
	/// answers and objects for `id` are routed to the returned receiver and to `track` until the
	/// [`Route`] is dropped. Counted in `moq_relay_upstream_subscriptions_total`.
	pub(super) fn register(
		shared: &'a Shared<S>,
		id: VarInt,
		(path, track): (&Path, &Weak<Track>),
	) -> (Self, mpsc::UnboundedReceiver<UpstreamEvent>) {
		let (events, answers) = mpsc::unbounded_channel();
		shared.state().upstream.insert(
			id.into_inner(),
			UpstreamSub {
				track: track.clone(),
				path: path.clone(),
				events,
			},
		);
		shared.ctx.metrics.upstream_subscription();
		(Self { shared, id }, answers)
	}
}

/// Starts reading the peer's datagrams, once: called with the relay's first subscription to it
/// (a session the relay never subscribes to costs no reader).
pub(super) fn read_datagrams<S: Session>(shared: &Arc<Shared<S>>) {
	let first = !shared
		.reading_datagrams
		.swap(true, std::sync::atomic::Ordering::Relaxed);
	if first {
		tokio::spawn(datagrams(shared.clone()));
	}
}

/// The peer's OBJECT_DATAGRAMs, until the session ends: object 0 of a group, routed by Track
/// Alias to one of the relay's subscriptions, is a whole single-frame group its track keeps for
/// its subscribers to send on (`docs/protocol.md`, "Datagrams"), stamped on arrival as objects
/// are. Any other (a status, a later object, an alias not bound yet) is dropped, as a datagram
/// may be; one that does not decode closes nothing either.
async fn datagrams<S: Session>(shared: Arc<Shared<S>>) {
	let mut stamps = ArrivalStamps::default();
	loop {
		let received = tokio::select! {
			received = shared.transport.recv_datagram() => received,
			_ = shared.transport.closed() => return,
		};
		let Ok(bytes) = received else { return };
		let Ok((datagram, _)) = <crate::wire::ietf::ObjectDatagram as crate::wire::ietf::DecodeWith<_>>::decode_prefix(
			&bytes,
			shared.draft,
		) else {
			continue;
		};
		if datagram.object_id() != VarInt::ZERO {
			continue;
		}
		let crate::wire::ietf::DatagramBody::Payload(payload) = datagram.body else {
			continue;
		};
		let Some(track) = routed(&shared, datagram.track_alias).and_then(|track| track.upgrade()) else {
			continue;
		};
		shared.ctx.metrics.datagram_received(payload.len());
		track.push_datagram(crate::origin::Datagram {
			sequence: datagram.group.into_inner(),
			timestamp: stamps.stamp(),
			payload,
		});
	}
}

impl<S: Session> Drop for Route<'_, S> {
	fn drop(&mut self) {
		let mut state = self.shared.state();
		state.upstream.remove(&self.id.into_inner());
		state.theirs.forget(self.id);
	}
}

/// SUBSCRIBE upstream for one track, until the peer ends it or every subscriber is gone
/// (UNSUBSCRIBE).
async fn subscribe<S: Session>(shared: Arc<Shared<S>>, absolute: Path, weak: Weak<Track>) {
	let Some(track) = weak.upgrade() else { return };
	let Some(path) = absolute.strip_prefix(shared.grant.root()) else {
		track.end(TrackEnd::Aborted(StreamCode::NOT_FOUND));
		return;
	};
	let name = track.name().to_string();
	let mut alive = track.alive();
	drop(track);
	let id = tokio::select! {
		id = own_request_id(&shared) => id,
		_ = alive.changed() => return,
	};
	let Some(id) = id else {
		if let Some(track) = weak.upgrade() {
			track.end(TrackEnd::Aborted(StreamCode::CANCEL));
		}
		return;
	};
	let (_route, mut answers) = Route::register(&shared, id, (&path, &weak));
	read_datagrams(&shared);
	// Next Group Start: the published client serves a draft-14 subscription other than Largest
	// Object from the start of its latest group, so every group arrives whole.
	let request = Subscribe {
		request_id: id,
		namespace: path_to_namespace(path.as_str()),
		track: name.clone(),
		priority: 0,
		group_order: GroupOrder::Descending,
		forward: true,
		filter: Filter::NextGroupStart,
		parameters: Default::default(),
	};
	if !shared.send(vec![ControlMessage::Subscribe(request)]).await {
		return;
	}
	let end = loop {
		tokio::select! {
			_ = alive.changed() => {
				shared.send(vec![ControlMessage::Unsubscribe(id)]).await;
				break None;
			}
			answer = answers.recv() => match answer {
				Some(UpstreamEvent::Ok) => {}
				Some(UpstreamEvent::Error(reason)) => {
					tracing::debug!(broadcast = %Peer(absolute.as_str()), track = %Peer(&name), reason = %Peer(&reason), "upstream subscription refused");
					break Some(TrackEnd::Aborted(StreamCode::NOT_FOUND));
				}
				Some(UpstreamEvent::Done) | None => break Some(TrackEnd::Finished),
				Some(UpstreamEvent::Gone) => break Some(TrackEnd::Aborted(StreamCode::CANCEL)),
				Some(UpstreamEvent::Withdrawn) => {
					shared.send(vec![ControlMessage::Unsubscribe(id)]).await;
					break Some(TrackEnd::Aborted(StreamCode::CANCEL));
				}
			}
		}
	};
	if let (Some(end), Some(track)) = (end, weak.upgrade()) {
		track.end(end);
	}
}

/// A Request ID of the relay's for a control-stream request (draft-14 to draft-16), waiting
/// while the peer's MAX_REQUEST_ID is used up (REQUESTS_BLOCKED says so once per maximum);
/// `None` once the session is gone.
pub(super) async fn own_request_id<S: Session>(shared: &Shared<S>) -> Option<VarInt> {
	loop {
		let raised = shared.raised.notified();
		tokio::pin!(raised);
		raised.as_mut().enable();
		let allocated = shared.state().own.allocate();
		match allocated {
			Ok(id) => return Some(id),
			Err(blocked) => {
				shared
					.send(blocked.map(ControlMessage::RequestsBlocked).into_iter().collect())
					.await;
			}
		}
		tokio::select! {
			_ = raised => {}
			_ = shared.transport.closed() => return None,
		}
	}
}

/// Accepts the peer's unidirectional streams: subgroup streams of the relay's subscriptions and
/// fetch streams answering its FETCHes.
pub(super) async fn accept_uni<S: Session>(shared: Arc<Shared<S>>) {
	while let Ok(recv) = shared.transport.accept_uni().await {
		let reader = DraftReader::new(recv, shared.ctx.limits.max_message);
		spawn_data_stream(&shared, reader);
	}
}

/// Reads one of the peer's data streams in a task of its own (a draft-18 one may have been held
/// since before the session started).
pub(super) fn spawn_data_stream<S: Session>(shared: &Arc<Shared<S>>, mut reader: DraftReader<S::Recv>) {
	let open = shared.budget.opened(&shared.transport);
	let shared = shared.clone();
	tokio::spawn(async move {
		match data_stream(&shared, &mut reader).await {
			Ok(None) => {}
			// A fetch stream: the relay's FETCH waiting for it reads it.
			Ok(Some(id)) => {
				if let Err((mut reader, _open)) = shared.fetch_streams.deliver(id, (reader, open)) {
					reader.stop(StreamCode::CANCEL, shared.draft);
				}
			}
			Err(err) => match err.disposition() {
				crate::wire::Disposition::CloseSession(code) => shared.close(code, &err.to_string()),
				_ => {
					tracing::debug!(%err, "data stream refused");
					reader.stop(StreamCode::CANCEL, shared.draft);
				}
			},
		}
	});
}

/// The track of the relay's subscription the Track Alias `alias` is bound to, if it is yet.
fn routed<S: Session>(shared: &Shared<S>, alias: VarInt) -> Option<Weak<Track>> {
	let state = shared.state();
	let id = state.theirs.route(alias)?;
	state.upstream.get(&id.into_inner()).map(|up| up.track.clone())
}

/// The subscription a Track Alias routes to, waiting a moment for its SUBSCRIBE_OK.
async fn route<S: Session>(shared: &Shared<S>, alias: VarInt) -> Option<Arc<Track>> {
	let mut learned = shared.aliases.subscribe();
	let find = async {
		loop {
			if let Some(track) = routed(shared, alias) {
				return track;
			}
			if learned.changed().await.is_err() {
				return std::future::pending().await;
			}
		}
	};
	tokio::time::timeout(ALIAS_WAIT, find).await.ok()?.upgrade()
}

/// Reads a subgroup stream into its track; a fetch stream's Request ID is returned for the FETCH
/// it answers to read.
async fn data_stream<S: Session>(
	shared: &Shared<S>,
	reader: &mut DraftReader<S::Recv>,
) -> Result<Option<VarInt>, StreamError> {
	let Some(header) = reader.decode::<DataStreamHeader, _>(shared.draft).await? else {
		return Ok(None);
	};
	let header = match header {
		DataStreamHeader::Subgroup(header) => header,
		DataStreamHeader::Fetch(id) => return Ok(Some(id)),
		// A draft-18 PADDING stream is discarded (§11.5).
		DataStreamHeader::Padding => {
			reader.stop(StreamCode::CANCEL, shared.draft);
			return Ok(None);
		}
	};
	if !header.first_object {
		// Draft-18 without FIRST_OBJECT: the stream starts partway through its subgroup, and a
		// group with a hole at its front is no group the relay can hold.
		reader.stop(StreamCode::CANCEL, shared.draft);
		return Ok(None);
	}
	if let SubgroupId::Explicit(id) = header.subgroup
		&& id != VarInt::ZERO
	{
		// One subgroup per group is what the relay's groups are.
		reader.stop(StreamCode::CANCEL, shared.draft);
		return Ok(None);
	}
	let Some(track) = route(shared, header.track_alias).await else {
		reader.stop(StreamCode::CANCEL, shared.draft);
		return Ok(None);
	};
	let Some(group) = track.create_group(header.group.into_inner()) else {
		reader.stop(StreamCode::OLD, shared.draft);
		return Ok(None);
	};
	let changes = track.watch();
	let watched = Arc::downgrade(&track);
	drop(track);
	shared.ctx.metrics.group_received();
	let context = header.context(shared.draft);
	tokio::select! {
		read = objects(shared, reader, group, context) => read,
		// The relay gave the track up (its publication withdrawn, the session ending): the
		// group is aborted as its writer drops, whatever the peer still sends.
		() = abandoned(watched, changes) => {
			reader.stop(StreamCode::CANCEL, shared.draft);
			Ok(None)
		}
	}
}

/// Resolves once `track` has ended aborted, or is gone: what is still arriving for it has no
/// reader to reach.
async fn abandoned(track: Weak<Track>, mut changes: tokio::sync::watch::Receiver<u64>) {
	loop {
		match track.upgrade().map(|track| track.ended()) {
			None | Some(Some(TrackEnd::Aborted(_))) => return,
			Some(_) => {}
		}
		if changes.changed().await.is_err() {
			return;
		}
	}
}

/// A subgroup's objects into its group, to the end of the stream (or of the group).
async fn objects<S: Session>(
	shared: &Shared<S>,
	reader: &mut DraftReader<S::Recv>,
	mut group: GroupWriter,
	context: crate::wire::ietf::SubgroupContext,
) -> Result<Option<VarInt>, StreamError> {
	let mut stamps = ArrivalStamps::default();
	loop {
		let object = match reader.decode::<SubgroupObjectHeader, _>(context).await {
			Ok(Some(object)) => object,
			Ok(None) => {
				group.finish();
				return Ok(None);
			}
			Err(StreamError::Transport(TransportError::Reset(code))) => {
				group.abort(stream_code::from_draft(code, shared.draft));
				return Ok(None);
			}
			Err(err) => return Err(err),
		};
		match object.status {
			ObjectStatus::Normal => {}
			ObjectStatus::DoesNotExist => continue,
			ObjectStatus::EndOfGroup | ObjectStatus::EndOfTrack => {
				group.finish();
				return Ok(None);
			}
		}
		match object_payload(shared, reader, &mut group, object.payload_len, &mut stamps).await {
			Ok(()) => {}
			Err(Refused::Code(code)) => {
				reader.stop(code, shared.draft);
				group.abort(code);
				return Ok(None);
			}
			Err(Refused::Stream(StreamError::Transport(TransportError::Reset(code)))) => {
				group.abort(stream_code::from_draft(code, shared.draft));
				return Ok(None);
			}
			Err(Refused::Stream(err)) => return Err(err),
		}
	}
}

/// Why an object's payload was not taken.
pub(super) enum Refused {
	/// The relay's limits refuse it: the stream is stopped, the group aborted with the code.
	Code(StreamCode),
	/// Reading the stream failed.
	Stream(StreamError),
}

/// One object's payload into the group as a frame: refused from its length over `limits.max_frame`
/// or the group's budget, then appended in parts as it arrives.
pub(super) async fn object_payload<S: Session>(
	shared: &Shared<S>,
	reader: &mut DraftReader<S::Recv>,
	group: &mut GroupWriter,
	size: VarInt,
	stamps: &mut ArrivalStamps,
) -> Result<(), Refused> {
	let bytes = size.into_inner();
	if bytes > shared.ctx.limits.max_frame as u64 {
		shared.ctx.metrics.limit_refused("frame_too_large");
		return Err(Refused::Code(StreamCode::FRAME_TOO_LARGE));
	}
	if bytes > group.remaining() as u64 {
		shared.ctx.metrics.limit_refused("group_too_large");
		return Err(Refused::Code(StreamCode::GROUP_TOO_LARGE));
	}
	let header = FrameHeader {
		timestamp_delta: stamps.next(),
		size,
	};
	group.start_frame(header).map_err(Refused::Code)?;
	loop {
		let left = group.frame_remaining();
		if left == 0 {
			break;
		}
		// At least `min_chunk` bytes a part, as for moq-lite: a publisher sending an object a byte
		// per packet cannot make the relay keep a chunk per byte.
		let part = reader
			.read_payload(group.min_chunk(), left)
			.await
			.map_err(Refused::Stream)?;
		group.append(part).map_err(Refused::Code)?;
	}
	shared
		.ctx
		.metrics
		.frame_received(usize::try_from(bytes).unwrap_or(usize::MAX));
	Ok(())
}

/// Arrival timestamps in milliseconds since the UNIX epoch, as the deltas moq-lite frames carry:
/// draft-14 has no way to say in which timescale an object's timestamp is.
#[derive(Default)]
pub(super) struct ArrivalStamps {
	last_ms: Option<i64>,
}

impl ArrivalStamps {
	/// Now, in milliseconds since the UNIX epoch, never before the last stamp.
	fn stamp(&mut self) -> u64 {
		self.next();
		u64::try_from(self.last_ms.unwrap_or(0)).unwrap_or(0)
	}

	/// The next stamp as a delta from the last (the first: from 0, so absolute).
	fn next(&mut self) -> i64 {
		let now = std::time::SystemTime::now()
			.duration_since(std::time::UNIX_EPOCH)
			.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
			.unwrap_or(0);
		let now = self.last_ms.map_or(now, |last| now.max(last));
		let delta = now - self.last_ms.unwrap_or(0);
		self.last_ms = Some(now);
		delta
	}
}
