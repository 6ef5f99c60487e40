//! The relay as publisher: answering the peer's Announce, Subscribe, Track and
//! Fetch streams from the origin.

use crate::logging::Peer;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use moq_token::Path;
use tokio::task::{AbortHandle, JoinSet};

use super::{Reader, Shared, StreamError, Writer};
use crate::origin::{Group, TrackEnd};
use crate::transport::{SendStream, Session};
use crate::wire::{
	Announce, AnnounceEvent, AnnounceOk, AnnounceRequest, AnnounceRestart, AnnounceStart, AnnounceStatus, BidiType,
	Encode, Fetch, Goaway, Group as GroupHeader, StreamCode, Subscribe, SubscribeOk, SubscribeResponse,
	SubscribeUpdate, Track as TrackRequest, UniType, VarInt, Version,
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

/// ANNOUNCE_REQUEST → ANNOUNCE_OK, the current broadcasts, then changes.
async fn announce<S: Session>(shared: &Shared<S>, writer: &mut W<S>, reader: &mut R<S>) -> Result<(), StreamError> {
	let version = shared.version;
	let request: AnnounceRequest = reader.expect(version).await?;
	let prefix = relative(&request.prefix)?;
	if !shared.grant.may_watch(&prefix) {
		// Nothing under this prefix may be seen: an empty announcement set, like the upstream
		// relay's no-op origin. A reset here would make the published client close the whole
		// session, so a write-only token could not publish through a client that also watches.
		if version >= Version::Lite05 {
			let ok = AnnounceOk {
				hop_id: shared.ctx.hop_id,
				active_count: VarInt::ZERO,
			};
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

	let current: Vec<(String, Vec<VarInt>)> = announced
		.take_current()
		.into_iter()
		.filter_map(|(path, hops)| visible(&path, &hops).map(|suffix| (suffix, hops)))
		.collect();
	if version >= Version::Lite05 {
		let ok = AnnounceOk {
			hop_id: shared.ctx.hop_id,
			active_count: VarInt::try_from(current.len()).unwrap_or(VarInt::MAX),
		};
		writer.encode(&ok, version).await?;
	}
	let mut out = Announcer::new(version, shared.ctx.hop_id);
	for (suffix, hops) in current {
		out.active(writer, suffix, hops).await?;
	}
	loop {
		tokio::select! {
			update = announced.next() => {
				let Some(update) = update else { return Ok(()) };
				let shown = update.active.and_then(|hops| Some((visible(&update.path, &hops)?, hops)));
				match shown {
					Some((suffix, hops)) => out.active(writer, suffix, hops).await?,
					// Ended, or its new route runs through this peer (or is hidden from it): a
					// path this stream showed as active is withdrawn, so no stale route remains.
					None => {
						if let Some(suffix) = update.path.strip_prefix(&absolute) {
							out.ended(writer, &suffix.to_string()).await?;
						}
					}
				}
			}
			// "nothing more ever comes from the subscriber": its FIN or reset ends the watch.
			res = reader.closed() => return res,
		}
	}
}

/// The announcements sent on one Announce stream, in the stream's version.
///
/// - lite-04: `ANNOUNCE` with this relay's hop id appended to the chain ("On lite-04 the sender
///   appends its own hop id to the chain; on lite-05 it does not (it sent it in ANNOUNCE_OK)").
/// - lite-05: `ANNOUNCE`; a second `active` for a live path replaces it.
/// - lite-06: typed `START` (taking the next implicit Announce ID), `RESTART` for a live path,
///   `END` naming the id. Costs are the hop count: each relay hop costs 1 (warm = cold, the
///   relay applies no cache discount).
struct Announcer {
	version: Version,
	hop_id: VarInt,
	/// Live suffixes: their lite-06 Announce ID and the chain last sent.
	live: HashMap<String, (VarInt, Vec<VarInt>)>,
	next_id: u64,
}

impl Announcer {
	fn new(version: Version, hop_id: VarInt) -> Self {
		Self {
			version,
			hop_id,
			live: HashMap::new(),
			next_id: 0,
		}
	}

	/// Shows `suffix` as active with `hops`. A path already shown is updated in place (lite-05 second
	/// `active`, lite-06 RESTART) when its chain changed; when the chain is the same, another route
	/// replaced it (a client published the path again), and when the version has no restart
	/// (lite-04: a second `active` is a protocol violation for moq-net), it is ended and started
	/// again, so subscribers see the replacement and re-subscribe to it.
	async fn active<T: SendStream>(
		&mut self,
		writer: &mut Writer<T>,
		suffix: String,
		mut hops: Vec<VarInt>,
	) -> Result<(), StreamError> {
		if !self.version.has_setup() {
			hops.push(self.hop_id);
		}
		let restart = match self.live.get(&suffix) {
			Some((id, shown)) if self.version.has_setup() && *shown != hops => Some(*id),
			Some(_) => {
				self.ended(writer, &suffix).await?;
				None
			}
			None => None,
		};
		if self.version == Version::Lite06 {
			let cost = VarInt::try_from(hops.len() + 1).unwrap_or(VarInt::MAX);
			let event = match restart {
				Some(id) => AnnounceEvent::Restart(AnnounceRestart {
					id,
					hops: hops.clone(),
					warm_cost: cost,
					cold_cost: cost,
				}),
				None => {
					// The next implicit Announce ID is `next_id`; it is recorded below.
					VarInt::from_u64(self.next_id).map_err(|_| StreamError::Reset(StreamCode::INTERNAL))?;
					self.next_id += 1;
					AnnounceEvent::Start(AnnounceStart {
						suffix: suffix.clone(),
						hops: hops.clone(),
						warm_cost: cost,
						cold_cost: cost,
					})
				}
			};
			let id = match &event {
				AnnounceEvent::Restart(restart) => restart.id,
				_ => VarInt::from_u64(self.next_id - 1).unwrap_or(VarInt::ZERO),
			};
			self.live.insert(suffix, (id, hops));
			return writer.encode(&event, self.version).await;
		}
		self.live.insert(suffix.clone(), (VarInt::ZERO, hops.clone()));
		let message = Announce {
			status: AnnounceStatus::Active,
			suffix,
			hops,
		};
		writer.encode(&message, self.version).await
	}

	async fn ended<T: SendStream>(&mut self, writer: &mut Writer<T>, suffix: &str) -> Result<(), StreamError> {
		let Some((id, _)) = self.live.remove(suffix) else {
			return Ok(());
		};
		if self.version == Version::Lite06 {
			return writer.encode(&AnnounceEvent::End { id }, self.version).await;
		}
		let message = Announce {
			status: AnnounceStatus::Ended,
			suffix: suffix.to_string(),
			hops: Vec::new(),
		};
		writer.encode(&message, self.version).await
	}
}

/// SUBSCRIBE → SUBSCRIBE_START, groups on uni streams (newest first), and
/// SUBSCRIBE_END/FIN when a bounded range is done.
/// What every SUBSCRIBE, TRACK and FETCH passes first: the names within `limits.max_path`, a token of
/// the client's request rate (`limits.subscribe_rate`; each may cost the publisher an upstream
/// request), and a broadcast the grant lets it subscribe to. The broadcast's path, relative to the
/// session's root.
fn requested<S>(shared: &Shared<S>, broadcast: &str, track: &str) -> Result<Path, StreamError> {
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
		return Err(StreamError::Reset(StreamCode::NOT_FOUND));
	}
	Ok(path)
}

async fn subscribe<S: Session>(shared: &Shared<S>, writer: &mut W<S>, reader: &mut R<S>) -> Result<(), StreamError> {
	let version = shared.version;
	let request: Subscribe = reader.expect(version).await?;
	let path = requested(shared, &request.broadcast, &request.track)?;
	let absolute = shared.grant.absolute(&path);
	let track = shared
		.ctx
		.origin
		.subscribe(&absolute, &request.track)
		.map_err(|_| StreamError::Reset(StreamCode::NOT_FOUND))?;
	let _gauge = shared.ctx.metrics.subscription_started();
	tracing::debug!(broadcast = %Peer(absolute.as_str()), track = %Peer(&request.track), id = %request.id, "subscribed");

	if !version.has_setup() {
		// lite-04: SUBSCRIBE_OK at once on accept.
		let ok = SubscribeResponse::Ok(SubscribeOk {
			priority: request.options.priority,
			max_age_ms: VarInt::ZERO,
			group_start: None,
			group_end: None,
		});
		writer.encode(&ok, version).await?;
	}

	let end = request.options.group_end.map(VarInt::into_inner);
	let mut next: Option<u64> = request.options.group_start.map(VarInt::into_inner);
	let mut started = false;
	let mut changes = track.watch();
	let mut inflight: VecDeque<(u64, AbortHandle)> = VecDeque::new();
	let mut tasks = JoinSet::new();
	let max_inflight = shared.ctx.limits.max_inflight_groups.max(1);

	loop {
		if next.is_none() {
			// lite-05: no Group Start = start at the latest group.
			next = track.latest().map(|g| g.sequence());
		}
		if let Some(first) = next {
			if !started && version.has_setup() {
				let start = SubscribeResponse::Start {
					group: VarInt::from_u64(first).unwrap_or(VarInt::MAX),
				};
				writer.encode(&start, version).await?;
			}
			started = true;
			for group in track.groups_after(first.checked_sub(1)) {
				let sequence = group.sequence();
				if end.is_some_and(|end| sequence > end) {
					break;
				}
				next = Some(sequence + 1);
				inflight.retain(|(_, handle)| !handle.is_finished());
				shared.ctx.metrics.group_queued(inflight.len());
				if inflight.len() >= max_inflight
					&& let Some((old, handle)) = inflight.pop_front()
				{
					// Shed the oldest backlog, never the newest group.
					tracing::trace!(group = old, "subscriber too far behind, dropping group");
					shared.ctx.metrics.group_dropped();
					handle.abort();
				}
				let handle = tasks.spawn(write_group(
					shared.transport.clone(),
					version,
					request.id,
					group,
					shared.ctx.metrics.clone(),
				));
				inflight.push_back((sequence, handle));
			}
		}

		let range_done = matches!((end, next), (Some(end), Some(next)) if next > end);
		let track_end = track.ended();
		if range_done || track_end.is_some() {
			while tasks.join_next().await.is_some() {}
			if let Some(TrackEnd::Aborted(code)) = track_end.filter(|_| !range_done) {
				return Err(StreamError::Reset(code));
			}
			if version.has_setup() {
				let group = VarInt::from_u64(next.unwrap_or(0)).unwrap_or(VarInt::MAX);
				writer.encode(&SubscribeResponse::End { group }, version).await?;
			}
			return Ok(());
		}

		tokio::select! {
			res = changes.changed() => if res.is_err() { return Ok(()) },
			update = reader.decode::<SubscribeUpdate>(version) => match update? {
				// Priority changes reorder nothing here yet: groups already go newest first.
				Some(_) => {}
				// The subscriber ended the subscription.
				None => return Ok(()),
			},
			Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
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
		let first = frames.next_arrived().await;
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
				Ok(Some((frame, arrived))) => {
					let mut header = frame.header().map_err(StreamError::Encode)?;
					if !version.has_timestamps() {
						// `docs/protocol.md` ("Bridging between versions"): timestamps are stripped for pre-05 subscribers.
						header.timestamp_delta = 0;
					}
					header.encode(&mut head, version).map_err(StreamError::Encode)?;
					writer.write_all(&head).await?;
					head.clear();
					metrics.frame_sent(frame.payload.len());
					writer.write(frame.payload).await?;
					metrics.frame_relayed(arrived.elapsed());
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
			next = frames.next_arrived().await;
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
	let path = requested(shared, &request.broadcast, &request.track)?;
	let info = shared
		.ctx
		.origin
		.track_info(&shared.grant.absolute(&path), &request.track)
		.await
		.map_err(|_| StreamError::Reset(StreamCode::NOT_FOUND))?;
	writer.encode(&info, version).await
}

/// FETCH → the cached group's frames, FIN; NOT_FOUND if it is not cached.
async fn fetch<S: Session>(shared: &Shared<S>, writer: &mut W<S>, reader: &mut R<S>) -> Result<(), StreamError> {
	let version = shared.version;
	let request: Fetch = reader.expect(version).await?;
	let path = requested(shared, &request.broadcast, &request.track)?;
	let group = shared
		.ctx
		.origin
		.cached(&shared.grant.absolute(&path), &request.track)
		.and_then(|track| track.group(request.group.into_inner()))
		.ok_or(StreamError::Reset(StreamCode::NOT_FOUND))?;
	let mut frames = group.reader();
	while let Some(frame) = frames.next().await.map_err(StreamError::Reset)? {
		writer.encode(&frame, version).await?;
	}
	Ok(())
}
