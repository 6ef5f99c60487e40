//! The relay as publisher on a draft session: SUBSCRIBE_NAMESPACE answered with the matching
//! broadcasts as PUBLISH_NAMESPACE / _DONE, and SUBSCRIBE served from the origin's tracks, one
//! subgroup stream per group (newest first), PUBLISH_DONE at the track's end.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use moq_token::Path;
use tokio::task::{AbortHandle, JoinSet};

use super::super::Writer;
use super::{Shared, StreamError, io, request_error};
use crate::auth::Grant;
use crate::logging::Peer;
use crate::origin::{Group, TrackEnd};
use crate::protocol::ietf::Window;
use crate::transport::Session;
use crate::wire::VarInt;
use crate::wire::ietf::{
	ControlMessage, GroupOrder, ObjectStatus, PublishDone, PublishDoneCode, RequestErrorCode, RequestOk,
	SubgroupHeader, SubgroupId, SubgroupObjectHeader, Subscribe, SubscribeNamespace, SubscribeOk, SubscribeUpdate,
	namespace_to_path,
};

/// SUBSCRIBE_NAMESPACE: SUBSCRIBE_NAMESPACE_OK, then a PUBLISH_NAMESPACE for every broadcast under
/// the prefix the grant lets the peer see, now and as they start, and PUBLISH_NAMESPACE_DONE as
/// they end. A prefix the grant hides everything under is answered OK with nothing to show, as
/// for moq-lite.
pub(super) async fn subscribe_namespace<S: Session>(shared: &Arc<Shared<S>>, request: SubscribeNamespace) {
	let id = request.request_id;
	let text = namespace_to_path(&request.prefix);
	let prefix = match Path::new(&text) {
		Ok(prefix) if text.len() <= shared.ctx.limits.max_path => prefix,
		_ => {
			let refused = request_error(id, RequestErrorCode::DOES_NOT_EXIST, "not a broadcast path prefix");
			shared
				.send(vec![ControlMessage::SubscribeNamespaceError(refused)])
				.await;
			return;
		}
	};
	shared.send(vec![ControlMessage::SubscribeNamespaceOk(id)]).await;
	if !shared.grant.may_watch(&prefix) {
		return;
	}
	// Registered before the task can run, so an UNSUBSCRIBE_NAMESPACE always finds it.
	let mut state = shared.state();
	let task = tokio::spawn(watch(shared.clone(), prefix));
	state.watching.insert(id.into_inner(), task.abort_handle());
}

async fn watch<S: Session>(shared: Arc<Shared<S>>, prefix: Path) {
	let absolute = shared.grant.absolute(&prefix);
	let mut announced = shared.ctx.origin.announced(absolute);
	let visible = |path: &Path| -> Option<String> {
		let relative = path.strip_prefix(shared.grant.root())?;
		shared.grant.can_subscribe(&relative).then(|| relative.to_string())
	};
	for (path, _) in announced.take_current() {
		if let Some(relative) = visible(&path) {
			let messages = {
				let mut state = shared.state();
				let super::State { outbound, own, .. } = &mut *state;
				outbound.active(&relative, own)
			};
			if !shared.send(messages).await {
				return;
			}
		}
	}
	while let Some(update) = announced.next().await {
		let Some(relative) = visible(&update.path) else {
			continue;
		};
		let messages = {
			let mut state = shared.state();
			let super::State { outbound, own, .. } = &mut *state;
			match update.active {
				Some(_) => outbound.active(&relative, own),
				None => outbound.ended(&relative).into_iter().collect(),
			}
		};
		if !shared.send(messages).await {
			return;
		}
	}
}

/// A SUBSCRIBE allowed: its path, and the request token that allowed it beyond the session's grant
/// (none when the session's grant does), whose expiry or revocation ends it ([`token_end`]).
pub(super) struct Allowed {
	pub path: Path,
	pub token: Option<Grant>,
}

/// Why a SUBSCRIBE is refused before it is served: the reasons of [`allowed_track`], and FORWARD
/// 0 (NOT_SUPPORTED).
pub(super) fn requested<S: Session>(
	shared: &Shared<S>,
	request: &Subscribe,
	grants: &[Grant],
) -> Result<Allowed, (u32, &'static str)> {
	let audited = crate::audit::Request::Subscribe;
	let allowed = allowed_track(shared, (&request.namespace, &request.track), grants, audited)?;
	// A subscription that forwards nothing waits for an update turning forwarding on, which the
	// relay does not apply: refused, as the published client refuses it, rather than forwarded.
	if !request.forward {
		return Err((RequestErrorCode::NOT_SUPPORTED, "FORWARD=0 not supported"));
	}
	if let Some(token) = &allowed.token {
		shared.trail.token_granted(&shared.grant, token, audited, &allowed.path);
	}
	Ok(allowed)
}

/// Whether a request (`audited`, for the audit line of a refusal) may read the track `track` of
/// the broadcast `namespace` names: refused for a path too long (DOES_NOT_EXIST), past the
/// session's subscribe rate (INTERNAL_ERROR), for a path that neither the session's grant nor
/// one of the request's verified tokens (`grants`) lets it subscribe to (UNAUTHORIZED).
pub(super) fn allowed_track<S: Session>(
	shared: &Shared<S>,
	(namespace, track): (&[String], &str),
	grants: &[Grant],
	audited: crate::audit::Request,
) -> Result<Allowed, (u32, &'static str)> {
	let limits = &shared.ctx.limits;
	let text = namespace_to_path(namespace);
	if text.len() > limits.max_path || track.len() > limits.max_path {
		shared.ctx.metrics.limit_refused("path_too_long");
		return Err((RequestErrorCode::DOES_NOT_EXIST, "path_too_long"));
	}
	if !shared
		.subscribe_rate
		.lock()
		.unwrap_or_else(|e| e.into_inner())
		.take(tokio::time::Instant::now())
	{
		shared.ctx.metrics.limit_refused("subscribe_rate");
		return Err((RequestErrorCode::INTERNAL_ERROR, "subscribe_rate"));
	}
	let path = Path::new(&text).map_err(|_| (RequestErrorCode::DOES_NOT_EXIST, "not a broadcast path"))?;
	// A request token is verified at the session's root, so its paths are the session's.
	let token = match grants.iter().find(|g| g.can_subscribe(&path)) {
		_ if shared.grant.can_subscribe(&path) => None,
		Some(grant) => Some(grant.clone()),
		None => {
			shared.trail.denied(&shared.grant, audited, &path, &shared.ctx.metrics);
			return Err((RequestErrorCode::UNAUTHORIZED, "not allowed to subscribe here"));
		}
	};
	Ok(Allowed { path, token })
}

/// PUBLISH_DONE of the subscription `request_id` with `status` and `reason`, its Stream Count the
/// subgroup streams it opened (`opened`).
pub(super) fn done(request_id: VarInt, (status, reason): (u32, &str), opened: &AtomicU64) -> PublishDone {
	PublishDone {
		request_id,
		status: VarInt::from_u32(status),
		stream_count: VarInt::from_u64(opened.load(Ordering::Relaxed)).unwrap_or(VarInt::MAX),
		reason: reason.into(),
	}
}

/// PUBLISH_DONE's status and reason for a subscription whose REQUEST_UPDATE was refused.
pub(super) const UPDATE_FAILED: (u32, &str) = (
	PublishDoneCode::UPDATE_FAILED,
	"REQUEST_UPDATE parameters not supported",
);

/// The reason [`token_end`] gives for a token that expired (its other reasons are revocation codes).
pub(super) const TOKEN_EXPIRED: &str = "token_expired";

/// Resolves when the request tokens that allowed a request (`tokens`) stop allowing it: the
/// earliest of them expiring (`token_expired`) or one of them revoked as a session's token is
/// (`token_revoked`, `key_revoked`, ...: `docs/auth.md`, "Revocation"). Gives PUBLISH_DONE's
/// status and reason: UNAUTHORIZED (the subscriber is no longer authorized) and that code. Never
/// resolves without tokens. A revoked token gets an audit line.
pub(super) async fn token_end<S: Session>(shared: &Shared<S>, tokens: &[Grant]) -> (u32, &'static str) {
	if tokens.is_empty() {
		return std::future::pending().await;
	}
	let expiry = crate::session::expired(tokens.iter().filter_map(Grant::expires).min());
	let revocations = tokens
		.iter()
		.map(|token| Box::pin(async move { (token, crate::session::revoked(&shared.ctx, token).await) }));
	let code = tokio::select! {
		() = expiry => TOKEN_EXPIRED,
		((token, revoked), _, _) = futures::future::select_all(revocations) => {
			shared.trail.token_ended(&shared.grant, token, revoked.code());
			revoked.code()
		}
	};
	(PublishDoneCode::UNAUTHORIZED, code)
}

/// SUBSCRIBE: SUBSCRIBE_OK with a fresh Track Alias and the track's groups from the latest on, or
/// SUBSCRIBE_ERROR (UNAUTHORIZED outside the grant, TRACK_DOES_NOT_EXIST for no such broadcast).
pub(super) async fn subscribe<S: Session>(shared: &Arc<Shared<S>>, request: Subscribe, grants: &[Grant]) {
	let id = request.request_id;
	let Allowed { path, token } = match requested(shared, &request, grants) {
		Ok(allowed) => allowed,
		Err((code, reason)) => {
			shared
				.send(vec![ControlMessage::SubscribeError(request_error(id, code, reason))])
				.await;
			return;
		}
	};
	let absolute = shared.grant.absolute(&path);
	let Ok(track) = shared.ctx.origin.subscribe(&absolute, &request.track) else {
		let refused = request_error(id, RequestErrorCode::DOES_NOT_EXIST, "no such broadcast");
		shared.send(vec![ControlMessage::SubscribeError(refused)]).await;
		return;
	};
	tracing::debug!(broadcast = %Peer(absolute.as_str()), track = %Peer(&request.track), %id, "subscribed (draft)");
	let alias = shared.state().ours.assign(id);
	// No Largest Location: the subscriber takes the groups as they come, whole (a Largest would
	// ask it to fetch the current group's head with a joining FETCH, which is not served).
	let ok = SubscribeOk {
		request_id: id,
		track_alias: alias,
		expires: VarInt::ZERO,
		group_order: GroupOrder::Descending,
		largest: None,
		parameters: Default::default(),
		extensions: Vec::new(),
	};
	if !shared.send(vec![ControlMessage::SubscribeOk(ok)]).await {
		return;
	}
	// Registered before the task can run, so the task's own removal at the track's end comes after.
	let mut state = shared.state();
	let serving = shared.clone();
	let opened = Arc::new(AtomicU64::new(0));
	let count = opened.clone();
	let task = tokio::spawn(async move {
		// Draft-14 to draft-16 filters are not applied, as the published client does not.
		let served = serve_track(
			&serving,
			(alias, request.priority, count.clone()),
			track,
			Window::LATEST,
		);
		let done = tokio::select! {
			done = served => done,
			ended = token_end(&serving, token.as_slice()) => Some(done(VarInt::ZERO, ended, &count)),
		};
		if let Some(done) = done {
			serving.state().ours.forget(id);
			let done = ControlMessage::PublishDone(PublishDone { request_id: id, ..done });
			serving.send(vec![done]).await;
		}
		serving.state().serving.remove(&id.into_inner());
	});
	state.serving.insert(id.into_inner(), (task.abort_handle(), opened));
}

/// SUBSCRIBE_UPDATE (draft-14) or REQUEST_UPDATE (draft-15 and draft-16) of a subscription the
/// relay serves. Draft-14's has no answer and changes nothing (priorities reorder nothing: groups
/// already go newest first). From draft-15 on it is answered: REQUEST_OK when the relay can take
/// it (a priority, forwarding kept on), else REQUEST_ERROR NOT_SUPPORTED, and the subscription
/// ends with PUBLISH_DONE UPDATE_FAILED, as the published client has it.
pub(super) async fn update<S: Session>(shared: &Arc<Shared<S>>, update: SubscribeUpdate) {
	if !shared.draft.fields_as_parameters() {
		return;
	}
	// FORWARD and SUBSCRIBER_PRIORITY are read into their fields; any other parameter asks for
	// what the relay does not apply.
	if update.forward && update.parameters.0.is_empty() {
		let ok = RequestOk {
			request_id: update.request_id,
			parameters: Default::default(),
		};
		shared.send(vec![ControlMessage::RequestOk(ok)]).await;
		return;
	}
	let mut messages = vec![ControlMessage::RequestError(request_error(
		update.request_id,
		RequestErrorCode::NOT_SUPPORTED,
		UPDATE_FAILED.1,
	))];
	let subscription = update.subscription_request_id;
	let ended = {
		let mut state = shared.state();
		let ended = state.serving.remove(&subscription.into_inner());
		if ended.is_some() {
			state.ours.forget(subscription);
		}
		ended
	};
	if let Some((task, opened)) = ended {
		task.abort();
		messages.push(ControlMessage::PublishDone(done(subscription, UPDATE_FAILED, &opened)));
	}
	shared.send(messages).await;
}

/// Serves a subscription's track over `window` (its first group, then every newer one up to the
/// window's last), until the track ends: then the PUBLISH_DONE to answer with (its Request ID left
/// for the caller to fill in on drafts that carry one), or `None` when the track's writer went
/// away without an end. A window whose last group was sent stays open until then, as the
/// published client leaves it. `opened` counts the subgroup streams opened, for PUBLISH_DONE's
/// Stream Count.
pub(super) async fn serve_track<S: Session>(
	shared: &Arc<Shared<S>>,
	(alias, priority, opened): (VarInt, u8, Arc<AtomicU64>),
	track: Arc<crate::origin::Track>,
	window: Window,
) -> Option<PublishDone> {
	let _gauge = shared.ctx.metrics.subscription_started();
	let max_inflight = shared.ctx.limits.max_inflight_groups.max(1);
	let mut changes = track.watch();
	let mut writers: HashMap<u64, AbortHandle> = HashMap::new();
	let mut tasks: JoinSet<u64> = JoinSet::new();
	// The window's first group (of those still cached), then every newer one.
	let latest = track.latest().map(|g| g.sequence());
	let mut after = window.first_group(latest).and_then(|s| s.checked_sub(1));
	// The track's datagrams from now on, as OBJECT_DATAGRAMs (best-effort).
	let mut datagrams = track.watch_datagrams();
	let mut next_datagram = *datagrams.borrow_and_update();
	let mut sending_datagrams = true;
	loop {
		while let Some(Ok(sequence)) = tasks.try_join_next() {
			writers.remove(&sequence);
		}
		// Once the window's last group is offered, nothing newer is looked at.
		let groups = match after.is_some_and(|after| window.past_end(after.saturating_add(1))) {
			true => Vec::new(),
			false => track.groups_after(after),
		};
		for group in groups {
			let sequence = group.sequence();
			if window.past_end(sequence) {
				break;
			}
			after = Some(sequence);
			if writers.len() >= max_inflight
				&& let Some(oldest) = writers.keys().min().copied()
				&& let Some(handle) = writers.remove(&oldest)
			{
				// Shed the oldest backlog, never the newest group.
				shared.ctx.metrics.group_dropped();
				handle.abort();
			}
			let stream = (alias, priority, opened.clone());
			let write = write_subgroup(shared.clone(), stream, group, window.objects(sequence));
			let handle = tasks.spawn(async move {
				write.await;
				sequence
			});
			writers.insert(sequence, handle);
		}
		if let Some(end) = track.ended() {
			while tasks.join_next().await.is_some() {}
			let (status, reason) = match end {
				TrackEnd::Finished => (PublishDoneCode::TRACK_ENDED, "track ended"),
				TrackEnd::Aborted(_) => (PublishDoneCode::INTERNAL_ERROR, "the publisher went away"),
			};
			return Some(done(VarInt::ZERO, (status, reason), &opened));
		}
		tokio::select! {
			res = changes.changed() => if res.is_err() { return None },
			Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
				if let Ok(sequence) = joined {
					writers.remove(&sequence);
				}
			}
			res = datagrams.changed(), if sending_datagrams => match res {
				Ok(()) => {
					let (kept, next) = track.datagrams_from(next_datagram);
					next_datagram = next;
					for datagram in kept.into_iter().filter(|d| !window.past_end(d.sequence)) {
						send_datagram(shared, (alias, priority), datagram);
					}
				}
				Err(_) => sending_datagrams = false,
			},
		}
	}
}

/// A datagram of the track as an OBJECT_DATAGRAM (object 0, the end of its group, no extensions),
/// dropped when the transport does not take it, as the publisher's own would be.
fn send_datagram<S: Session>(shared: &Shared<S>, (alias, priority): (VarInt, u8), datagram: crate::origin::Datagram) {
	let len = datagram.payload.len();
	let object = crate::wire::ietf::ObjectDatagram {
		track_alias: alias,
		group: VarInt::from_u64(datagram.sequence).unwrap_or(VarInt::MAX),
		object: None,
		priority: Some(priority),
		end_of_group: true,
		extensions: Vec::new(),
		body: crate::wire::ietf::DatagramBody::Payload(datagram.payload),
	};
	let Ok(bytes) = io::encode(&object, shared.draft) else {
		return;
	};
	match shared.transport.send_datagram(bytes.into()) {
		Ok(()) => shared.ctx.metrics.datagram_sent(len),
		Err(err) => tracing::trace!(%err, "datagram not sent"),
	}
}

/// One group as one subgroup stream: SUBGROUP_HEADER (type 0x18: subgroup 0, end of group, no
/// extensions; 0x58 on draft-18, whose FIRST_OBJECT bit says the stream starts at object 0), then
/// each frame as an object with the next Object ID, its payload passed on as it arrives; FIN after
/// the last, a reset if the publisher abandoned the group. `objects` narrows it to a window's
/// ends: the objects before the first are not sent (the first one sent carries its Object ID as
/// its delta, and the header no FIRST_OBJECT bit), and after the last (inclusive) the stream ends
/// (the header then says nothing of the group's end); no stream is opened for a group with no
/// object in the window. `opened` counts the streams opened.
async fn write_subgroup<S: Session>(
	shared: Arc<Shared<S>>,
	(alias, priority, opened): (VarInt, u8, Arc<AtomicU64>),
	group: Arc<Group>,
	(first, last): (u64, Option<u64>),
) {
	let sequence = group.sequence();
	let metrics = shared.ctx.metrics.clone();
	let run = async {
		if last.is_some_and(|last| last < first) {
			return Ok(());
		}
		let mut frames = group.reader();
		let mut next = frames.next_frame().await;
		for _ in 0..first {
			match next {
				Ok(Some(_)) => next = frames.next_frame().await,
				// The group ended (or was abandoned) before the window's first object.
				_ => return Ok(()),
			}
		}
		let mut stream = Writer::new(shared.transport.open_uni().await?);
		opened.fetch_add(1, Ordering::Relaxed);
		stream.set_priority(i32::try_from(sequence).unwrap_or(i32::MAX));
		let header = SubgroupHeader {
			track_alias: alias,
			group: VarInt::from_u64(sequence).unwrap_or(VarInt::MAX),
			subgroup: SubgroupId::Zero,
			priority: Some(priority),
			extensions: false,
			end_of_group: last.is_none(),
			first_object: first == 0,
		};
		let context = header.context(shared.draft);
		let mut head = io::encode(&crate::wire::ietf::DataStreamHeader::Subgroup(header), shared.draft)?;
		let (mut id, mut delta) = (first, VarInt::from_u64(first).unwrap_or(VarInt::MAX));
		loop {
			match next {
				Ok(Some(frame)) => {
					let object = SubgroupObjectHeader {
						id_delta: std::mem::replace(&mut delta, VarInt::ZERO),
						extensions: Vec::new(),
						status: ObjectStatus::Normal,
						payload_len: frame.size,
					};
					head.extend(io::encode(&object, context)?);
					let draft = shared.draft;
					let reset_code = |code| super::io::reset_code(code, draft);
					if !stream.write_frame(&mut head, &mut frames, reset_code).await? {
						return Ok(());
					}
					metrics.frame_sent(usize::try_from(frame.size.into_inner()).unwrap_or(usize::MAX));
					if last == Some(id) {
						stream.write_all(&head).await?;
						return stream.finish();
					}
					id = id.saturating_add(1);
				}
				Ok(None) => {
					stream.write_all(&head).await?;
					metrics.group_sent();
					return stream.finish();
				}
				Err(code) => {
					stream.write_all(&head).await?;
					// The publisher's moq-lite code, as this draft numbers it.
					stream.reset(super::io::reset_code(code, shared.draft));
					return Ok(());
				}
			}
			next = frames.next_frame().await;
		}
	};
	let result: Result<(), StreamError> = run.await;
	if let Err(err) = result {
		tracing::trace!(%err, group = sequence, "subgroup not delivered");
	}
}
