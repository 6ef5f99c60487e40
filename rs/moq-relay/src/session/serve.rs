//! The relay as publisher: answering the peer's Announce, Subscribe, Track and
//! Fetch streams from the origin.

use crate::logging::Peer;
use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::{AbortHandle, Abortable};
use futures::stream::FuturesUnordered;
use moq_token::Path;

use super::woken::Woken;
use super::{Reader, Shared, StreamError, Writer};
use crate::origin::{Group, TrackEnd};
use crate::protocol::lite::{Dialect, Finish, GroupDecision, Outbound, Subscription};
use crate::transport::Session;
use crate::wire::{
	AnnounceRequest, BidiType, Encode, Fetch, Goaway, Group as GroupHeader, StreamCode, Subscribe, SubscribeUpdate,
	Track as TrackRequest, UniType, VarInt, Version,
};

type W<S> = Writer<<S as Session>::Send>;
type R<S> = Reader<<S as Session>::Recv>;

/// Serves one bidi stream the peer opened.
pub(super) async fn bidi<S: Session>(shared: Arc<Shared<S>>, mut writer: W<S>, mut reader: R<S>) {
	let version = shared.version;
	let result = match reader.decode::<BidiType>(version).await {
		Ok(Some(BidiType::Announce)) => announce(&shared, &mut writer, &mut reader).await,
		Ok(Some(BidiType::Subscribe)) => {
			let result = subscribe(&shared, &mut writer, &mut reader).await;
			tracing::debug!(ok = result.is_ok(), "downstream subscription ended");
			result
		}
		Ok(Some(BidiType::Track)) => track_info(&shared, &mut writer, &mut reader).await,
		Ok(Some(BidiType::Fetch)) => fetch(&shared, &mut writer, &mut reader).await,
		// The relay advertises no Probe capability; a peer that opens one anyway
		// gets an idle stream until it closes it.
		Ok(Some(BidiType::Probe)) => reader.closed().await,
		Ok(Some(BidiType::Goaway)) => match reader.expect::<Goaway>(version).await {
			Ok(_) => {
				tracing::debug!("peer is going away");
				Ok(())
			}
			Err(err) => Err(err),
		},
		Ok(None) => Ok(()),
		Err(err) => Err(err),
	};
	match result {
		Ok(()) => {
			let _ = writer.finish();
		}
		Err(err) => {
			if let Some(code) = shared.fail(&err) {
				tracing::debug!(%err, "bidi stream refused");
				writer.reset(code);
				reader.stop(code);
			}
		}
	}
}

fn relative(path: &str) -> Result<Path, StreamError> {
	Path::new(path).map_err(|_| StreamError::Reset(StreamCode::NOT_FOUND))
}

/// ANNOUNCE_REQUEST → ANNOUNCE_OK, the current broadcasts, then changes ([`Outbound`] decides
/// what each is on the wire).
async fn announce<S: Session>(shared: &Shared<S>, writer: &mut W<S>, reader: &mut R<S>) -> Result<(), StreamError> {
	let version = shared.version;
	let mut out = Outbound::new(Dialect::new(version), shared.ctx.hop_id);
	let request: AnnounceRequest = reader.expect(version).await?;
	let prefix = relative(&request.prefix)?;
	if !shared.grant.may_watch(&prefix) {
		// Nothing under this prefix may be seen: an empty announcement set, like the upstream
		// relay's no-op origin. A reset here would make the published client close the whole
		// session, so a write-only token could not publish through a client that also watches.
		if let Some(ok) = out.ok(0) {
			writer.encode(&ok, version).await?;
		}
		return reader.closed().await;
	}
	let absolute = shared.grant.absolute(&prefix);
	let mut announced = shared.ctx.origin.announced(absolute.clone());
	// `docs/protocol.md` ("Hop chains"): "never announce to a peer a path whose chain contains the hop the peer
	// declared" (SETUP Hop, or the lite-04/05 ANNOUNCE_REQUEST Exclude Hop).
	let excluded: Vec<VarInt> = [shared.peer_hop, Some(request.exclude_hop)]
		.into_iter()
		.flatten()
		.filter(|hop| *hop != VarInt::ZERO)
		.collect();
	let visible = |path: &Path, hops: &[VarInt]| -> Option<String> {
		let rel = path.strip_prefix(shared.grant.root())?;
		if !shared.grant.can_subscribe(&rel) {
			return None;
		}
		if hops.iter().any(|hop| excluded.contains(hop)) {
			return None;
		}
		Some(path.strip_prefix(&absolute)?.to_string())
	};
	// The ids of one stream run out only after 2^62 announcements.
	let internal = |_| StreamError::Reset(StreamCode::INTERNAL);

	let current: Vec<(String, Vec<VarInt>)> = announced
		.take_current()
		.into_iter()
		.filter_map(|(path, hops)| visible(&path, &hops).map(|suffix| (suffix, hops)))
		.collect();
	if let Some(ok) = out.ok(current.len()) {
		writer.encode(&ok, version).await?;
	}
	for (suffix, hops) in current {
		for message in out.active(suffix, hops).map_err(internal)? {
			writer.encode(&message, version).await?;
		}
	}
	loop {
		tokio::select! {
			update = announced.next() => {
				let Some(update) = update else { return Ok(()) };
				let shown = update.active.and_then(|hops| Some((visible(&update.path, &hops)?, hops)));
				let messages = match shown {
					Some((suffix, hops)) => out.active(suffix, hops).map_err(internal)?,
					// Ended, or its new route runs through this peer (or is hidden from it): a
					// path this stream showed as active is withdrawn, so no stale route remains.
					None => match update.path.strip_prefix(&absolute) {
						Some(suffix) => out.ended(suffix.as_str()).map_err(internal)?.into_iter().collect(),
						None => Vec::new(),
					},
				};
				for message in messages {
					writer.encode(&message, version).await?;
				}
			}
			// "nothing more ever comes from the subscriber": its FIN or reset ends the watch.
			res = reader.closed() => return res,
		}
	}
}

/// What every SUBSCRIBE, TRACK and FETCH passes first: the names within `limits.max_path`, a token of
/// the client's request rate (`limits.subscribe_rate`; each may cost the publisher an upstream
/// request), and a broadcast the grant lets it subscribe to (a refusal's audit line names the
/// request, `audited`). The broadcast's path, relative to the session's root.
fn requested<S>(
	shared: &Shared<S>,
	(broadcast, track): (&str, &str),
	audited: crate::audit::Request,
) -> Result<Path, StreamError> {
	let limits = &shared.ctx.limits;
	if broadcast.len() > limits.max_path || track.len() > limits.max_path {
		shared.ctx.metrics.limit_refused("path_too_long");
		return Err(StreamError::Reset(StreamCode::NOT_FOUND));
	}
	// Cluster peers carry every subscriber behind them: only clients are held to a rate.
	if !shared.grant.cluster()
		&& !shared
			.subscribe_rate
			.lock()
			.unwrap_or_else(|e| e.into_inner())
			.take(tokio::time::Instant::now())
	{
		shared.ctx.metrics.limit_refused("subscribe_rate");
		return Err(StreamError::Reset(StreamCode::CANCEL));
	}
	let path = relative(broadcast)?;
	if !shared.grant.can_subscribe(&path) {
		shared.trail.denied(&shared.grant, audited, &path, &shared.ctx.metrics);
		return Err(StreamError::Reset(StreamCode::NOT_FOUND));
	}
	Ok(path)
}

/// SUBSCRIBE → SUBSCRIBE_START, groups on uni streams (newest first), and
/// SUBSCRIBE_END/FIN when a bounded range is done.
async fn subscribe<S: Session>(shared: &Shared<S>, writer: &mut W<S>, reader: &mut R<S>) -> Result<(), StreamError> {
	let version = shared.version;
	let request: Subscribe = reader.expect(version).await?;
	let audited = crate::audit::Request::Subscribe;
	let path = requested(shared, (&request.broadcast, &request.track), audited)?;
	let absolute = shared.grant.absolute(&path);
	let track = shared
		.ctx
		.origin
		.subscribe(&absolute, &request.track)
		.map_err(|_| StreamError::Reset(StreamCode::NOT_FOUND))?;
	let _gauge = shared.ctx.metrics.subscription_started();
	tracing::debug!(broadcast = %Peer(absolute.as_str()), track = %Peer(&request.track), id = %request.id, "subscribed");

	let mut subscription = Subscription::new(Dialect::new(version), &request, shared.ctx.limits.max_inflight_groups);
	if let Some(ok) = subscription.accepted() {
		writer.encode(&ok, version).await?;
	}
	let mut changes = track.watch();
	// The track's datagrams from now on, sent on as datagrams (lite-05 on; best-effort: a
	// transport that carries none, as WebSocket, or a full path drops them).
	let mut datagrams = track.watch_datagrams();
	let mut next_datagram = *datagrams.borrow_and_update();
	let mut sending_datagrams = version.has_timestamps();
	// What the subscriber sends after SUBSCRIBE: updates (priority changes reorder nothing here yet:
	// groups already go newest first) until its FIN or reset ends the subscription. Polled only
	// when data arrives, not on every frame this task writes.
	let mut ended = Woken::new(async {
		while reader.decode::<SubscribeUpdate>(version).await?.is_some() {}
		Ok::<(), StreamError>(())
	});
	// The writers of the groups in flight, polled by this task (no task per group: a group's first
	// frame goes out when this task wakes, without a hand-off to another). Each returns its group's
	// sequence, or is aborted when shed.
	let mut writers: HashMap<u64, AbortHandle> = HashMap::new();
	let mut tasks = FuturesUnordered::new();
	let done = |subscription: &mut Subscription, writers: &mut HashMap<u64, AbortHandle>, joined| {
		if let Ok(sequence) = joined {
			writers.remove(&sequence);
			subscription.delivered(sequence);
		}
	};

	loop {
		let (start, first) = subscription.start(track.latest().map(|g| g.sequence()));
		if let Some(start) = start {
			writer.encode(&start, version).await?;
		}
		for group in first
			.map(|first| track.groups_after(first.checked_sub(1)))
			.unwrap_or_default()
		{
			// Writers that finished meanwhile are no longer backlog.
			while let Some(Some(joined)) = futures::FutureExt::now_or_never(tasks.next()) {
				done(&mut subscription, &mut writers, joined);
			}
			let sequence = group.sequence();
			match subscription.group(sequence) {
				GroupDecision::PastEnd => break,
				GroupDecision::Skip => continue,
				GroupDecision::Open { shed } => {
					shared.ctx.metrics.group_queued(subscription.inflight() - 1);
					if let Some(handle) = shed.and_then(|old| writers.remove(&old)) {
						// Shed the oldest backlog, never the newest group.
						tracing::trace!("subscriber too far behind, dropping a group");
						shared.ctx.metrics.group_dropped();
						handle.abort();
					}
					let write = write_group(
						shared.transport.clone(),
						version,
						request.id,
						group,
						shared.ctx.metrics.clone(),
					);
					let (handle, registration) = AbortHandle::new_pair();
					tasks.push(Abortable::new(
						async move {
							write.await;
							sequence
						},
						registration,
					));
					writers.insert(sequence, handle);
				}
			}
		}

		let track_end = track.ended();
		if subscription.range_done() || track_end.is_some() {
			while tasks.next().await.is_some() {}
			let aborted = match track_end {
				Some(TrackEnd::Aborted(code)) => Some(code),
				_ => None,
			};
			return match subscription.finish(aborted) {
				Finish::Reset(code) => Err(StreamError::Reset(code)),
				Finish::End(Some(end)) => writer.encode(&end, version).await,
				Finish::End(None) => Ok(()),
			};
		}

		tokio::select! {
			res = changes.changed() => if res.is_err() { return Ok(()) },
			res = &mut ended => return res,
			Some(joined) = tasks.next(), if !tasks.is_empty() => done(&mut subscription, &mut writers, joined),
			res = datagrams.changed(), if sending_datagrams => match res {
				Ok(()) => {
					let (kept, next) = track.datagrams_from(next_datagram);
					next_datagram = next;
					let wanted = kept.into_iter().filter(|d| subscription.wants_datagram(d.sequence));
					send_datagrams(shared, request.id, wanted);
				}
				Err(_) => sending_datagrams = false,
			},
		}
	}
}

/// Sends a subscription's datagrams, tagged with its Subscribe ID. One the transport does not
/// take (none over WebSocket, too large for the path, the session closing) is dropped, as a
/// publisher's own would be.
fn send_datagrams<S: Session>(
	shared: &Shared<S>,
	subscribe_id: VarInt,
	kept: impl IntoIterator<Item = crate::origin::Datagram>,
) {
	for datagram in kept {
		let len = datagram.payload.len();
		let wire = crate::wire::Datagram {
			subscribe_id,
			sequence: VarInt::from_u64(datagram.sequence).unwrap_or(VarInt::MAX),
			timestamp: VarInt::from_u64(datagram.timestamp).unwrap_or(VarInt::MAX),
			payload: datagram.payload,
		};
		let mut bytes = Vec::with_capacity(len + 16);
		if wire.encode(&mut bytes, shared.version).is_err() {
			continue;
		}
		match shared.transport.send_datagram(bytes.into()) {
			Ok(()) => shared.ctx.metrics.datagram_sent(len),
			Err(err) => tracing::trace!(%err, "datagram not sent"),
		}
	}
}

async fn write_group<S: Session>(
	transport: S,
	version: Version,
	subscribe_id: VarInt,
	group: Arc<Group>,
	metrics: Arc<crate::metrics::Metrics>,
) {
	let sequence = group.sequence();
	let run = async {
		let mut frames = group.reader();
		// The stream type, the group header and the first frame's header go out in one write,
		// so they share a packet instead of the header leaving alone ahead of its frame.
		let first = frames.next_frame().await;
		let mut writer = Writer::new(transport.open_uni().await?);
		// `docs/protocol.md` ("Delivery order"): newest group first.
		writer.set_priority(i32::try_from(sequence).unwrap_or(i32::MAX));
		let header = GroupHeader {
			subscribe_id,
			sequence: VarInt::from_u64(sequence).unwrap_or(VarInt::MAX),
			frame_start: VarInt::ZERO,
		};
		let mut head = Vec::with_capacity(32);
		UniType::Group.encode(&mut head, version).map_err(StreamError::Encode)?;
		header.encode(&mut head, version).map_err(StreamError::Encode)?;
		let mut next = first;
		loop {
			match next {
				Ok(Some(mut header)) => {
					if !version.has_timestamps() {
						// `docs/protocol.md` ("Bridging between versions"): timestamps are stripped for pre-05 subscribers.
						header.timestamp_delta = 0;
					}
					header.encode(&mut head, version).map_err(StreamError::Encode)?;
					if !writer.write_frame(&mut head, &mut frames, |code| code).await? {
						return Ok(());
					}
					// Counted once the whole frame is written (`docs/relay.md`, "Metrics").
					metrics.frame_sent(usize::try_from(header.size.into_inner()).unwrap_or(usize::MAX));
					if let Some(arrived) = frames.frame_completed() {
						metrics.frame_relayed(arrived.elapsed());
					}
				}
				Ok(None) => {
					writer.write_all(&head).await?;
					metrics.group_sent();
					return writer.finish();
				}
				Err(code) => {
					writer.write_all(&head).await?;
					writer.reset(code);
					return Ok(());
				}
			}
			next = frames.next_frame().await;
		}
	};
	if let Err(err) = run.await {
		tracing::trace!(%err, group = sequence, "group not delivered");
	}
}

/// TRACK → TRACK_INFO (from the publisher, via the shared track), FIN.
async fn track_info<S: Session>(shared: &Shared<S>, writer: &mut W<S>, reader: &mut R<S>) -> Result<(), StreamError> {
	let version = shared.version;
	let request: TrackRequest = reader.expect(version).await?;
	let path = requested(
		shared,
		(&request.broadcast, &request.track),
		crate::audit::Request::Subscribe,
	)?;
	let info = shared
		.ctx
		.origin
		.track_info(&shared.grant.absolute(&path), &request.track)
		.await
		.map_err(|_| StreamError::Reset(StreamCode::NOT_FOUND))?;
	writer.encode(&info, version).await
}

/// FETCH → the group's frames, FIN: from the cache, else fetched from the publisher as they
/// arrive ([`crate::origin::Origin::fetch`]); reset NOT_FOUND (or with the publisher's code) when
/// neither has it. On lite-06 only the
/// frames from `frame_start` to `frame_end` (inclusive) are sent: the answer carries no frame
/// numbers, so the subscriber takes its first frame for frame `frame_start`; a group that ends
/// before `frame_start` (or a range that ends before it starts) is NOT_FOUND too.
async fn fetch<S: Session>(shared: &Shared<S>, writer: &mut W<S>, reader: &mut R<S>) -> Result<(), StreamError> {
	let version = shared.version;
	let request: Fetch = reader.expect(version).await?;
	let path = requested(
		shared,
		(&request.broadcast, &request.track),
		crate::audit::Request::Fetch,
	)?;
	let (first, last) = (
		request.frame_start.into_inner(),
		request.frame_end.map(VarInt::into_inner),
	);
	if last.is_some_and(|last| last < first) {
		return Err(StreamError::Reset(StreamCode::NOT_FOUND));
	}
	let group = shared
		.ctx
		.origin
		.fetch(
			&shared.grant.absolute(&path),
			&request.track,
			request.group.into_inner(),
		)
		.map_err(|_| StreamError::Reset(StreamCode::NOT_FOUND))?;
	let mut frames = group.reader();
	// Each frame's header, then its payload as it arrives (a group still arriving is followed live).
	// A frame's timestamp is a delta from the previous frame's, and from 0 for the answer's first:
	// a first frame past the group's first carries the deltas of the frames skipped before it.
	let mut index = 0u64;
	let mut skipped = 0i64;
	while let Some(mut header) = frames.next_frame().await.map_err(StreamError::Reset)? {
		if index < first {
			skipped = skipped.saturating_add(header.timestamp_delta);
		} else {
			if index == first {
				header.timestamp_delta = header.timestamp_delta.saturating_add(skipped);
			}
			writer.encode(&header, version).await?;
			while let Some(chunk) = frames.next_chunk().await.map_err(StreamError::Reset)? {
				writer.write(chunk).await?;
			}
		}
		if last == Some(index) {
			return Ok(());
		}
		index += 1;
	}
	match index > first || first == 0 {
		true => Ok(()),
		false => Err(StreamError::Reset(StreamCode::NOT_FOUND)),
	}
}
