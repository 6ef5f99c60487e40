//! The relay as subscriber of the peer: learning what it publishes, and
//! subscribing upstream once per track when the origin asks.

use crate::logging::Peer;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use moq_token::Path;

use super::{Reader, Shared, StreamError, Writer};
use crate::origin::{Track, TrackEnd, Upstream, UpstreamRequest};
use crate::transport::Session;
use crate::wire::{
	Announce, AnnounceEvent, AnnounceIds, AnnounceOk, AnnounceRequest, BidiType, Frame, FrameHeader,
	Group as GroupHeader, SessionCode, StreamCode, Subscribe, SubscribeOptions, SubscribeResponse,
	Track as TrackRequest, TrackInfo, VarInt, Version,
};

/// Asks the peer for everything it announces, publishes what the grant allows,
/// and serves the origin's upstream requests for those broadcasts.
pub(super) async fn run<S: Session>(shared: Arc<Shared<S>>) {
	let (upstream, mut requests) = Upstream::channel();
	let announces = announces(&shared, upstream);
	tokio::pin!(announces);
	loop {
		tokio::select! {
			result = &mut announces => {
				if let Err(err) = result
						&& shared.fail(&err).is_some()
				{
					tracing::debug!(%err, "announce stream to the peer ended");
				}
				return;
			}
			Some(request) = requests.recv() => match request {
				UpstreamRequest::Subscribe { path, track } => {
					tokio::spawn(subscribe(shared.clone(), path, track));
				}
				UpstreamRequest::Info { path, track, reply } => {
					let shared = shared.clone();
					tokio::spawn(async move {
						if let Some(info) = track_info(&shared, &path, &track).await {
							let _ = reply.send(info);
						}
					});
				}
			}
		}
	}
}

async fn announces<S: Session>(shared: &Shared<S>, upstream: Upstream) -> Result<(), StreamError> {
	let version = shared.version;
	let (send, recv) = shared.transport.open_bi().await?;
	let mut writer = Writer::new(send);
	let mut reader = Reader::new(recv);
	writer.encode(&BidiType::Announce, version).await?;
	let request = AnnounceRequest {
		prefix: String::new(),
		// lite-04/05: keep our own broadcasts from coming back through the peer (lite-06 has
		// no Exclude Hop: the SETUP Hop does it).
		exclude_hop: if version == Version::Lite06 {
			VarInt::ZERO
		} else {
			shared.ctx.hop_id
		},
	};
	writer.encode(&request, version).await?;
	let peer_hop = if version >= Version::Lite05 {
		Some(reader.expect::<AnnounceOk>(version).await?.hop_id)
	} else {
		None
	};

	let mut publications = HashMap::new();
	let mut ids = AnnounceIds::new();
	let mut paths: HashMap<u64, String> = HashMap::new();
	loop {
		// Every version's announcement as (suffix, hops if active).
		let (suffix, hops) = if version == Version::Lite06 {
			let Some(event) = reader.decode::<AnnounceEvent>(version).await? else {
				break;
			};
			let id = ids.apply(&event)?.map(VarInt::into_inner);
			match (event, id) {
				(AnnounceEvent::Start(start), Some(id)) => {
					paths.insert(id, start.suffix.clone());
					(start.suffix, Some(start.hops))
				}
				(AnnounceEvent::Restart(restart), Some(id)) => match paths.get(&id) {
					Some(suffix) => (suffix.clone(), Some(restart.hops)),
					None => continue,
				},
				(AnnounceEvent::End { .. }, Some(id)) => match paths.remove(&id) {
					Some(suffix) => (suffix, None),
					None => continue,
				},
				_ => continue,
			}
		} else {
			let Some(announce) = reader.decode::<Announce>(version).await? else {
				break;
			};
			let hops = announce.status.is_active().then_some(announce.hops);
			(announce.suffix, hops)
		};
		// Bounds on what one session may make the relay hold (and copy to every watcher): the
		// path's length, and the broadcasts it has announced at once.
		let limits = &shared.ctx.limits;
		if suffix.len() > limits.max_path {
			shared.ctx.metrics.limit_refused("path_too_long");
			return Err(StreamError::Session(
				SessionCode::INTERNAL,
				"path_too_long: an announced path is longer than [limits] max_path",
			));
		}
		let Ok(path) = Path::new(&suffix) else {
			continue;
		};
		// A cluster peer carries every broadcast behind it: only clients are held to the count.
		let new = hops.is_some() && !publications.contains_key(&path);
		if !shared.grant.cluster()
			&& (ids.live() > limits.max_broadcasts || (new && publications.len() >= limits.max_broadcasts))
		{
			shared.ctx.metrics.limit_refused("too_many_broadcasts");
			return Err(StreamError::Session(
				SessionCode::INTERNAL,
				"too_many_broadcasts: more broadcasts announced at once than [limits] max_broadcasts",
			));
		}
		if shared.grant.cluster() {
			shared.ctx.metrics.cluster_announcement(&shared.link);
		}
		let Some(mut hops) = hops else {
			publications.remove(&path);
			continue;
		};
		// `docs/protocol.md` ("Hop chains"): "drop an announcement whose chain contains your own hop id" (a peer's
		// chain; a client's is ignored below).
		if shared.grant.cluster() && hops.contains(&shared.ctx.hop_id) {
			continue;
		}
		if !shared.grant.can_publish(&path) {
			tracing::info!(broadcast = %Peer(path.as_str()), "announcement outside the grant ignored");
			continue;
		}
		if shared.grant.cluster() {
			// A peer relay: its chain is trusted and extended. lite-05+: the ANNOUNCE_OK hop id is
			// the implicit last hop (lite-04 senders append it themselves).
			hops.extend(peer_hop.filter(|h| *h != VarInt::ZERO));
		} else {
			// `docs/cluster.md`: "A client session's announcements always start a new route at this
			// relay", so a client can neither inject routes nor spoof where a broadcast comes from.
			// The route's first hop is an id this relay drew for the session (never the client's
			// own claim), so two clients publishing one path have different chains and a
			// subscriber sees the newer one as a replacement.
			hops.clear();
			hops.push(shared.route_origin);
		}
		let absolute = shared.grant.absolute(&path);
		tracing::info!(broadcast = %Peer(absolute.as_str()), "broadcast announced");
		let publication = shared.ctx.origin.publish(absolute, hops, upstream.clone());
		let route = shared.grant.cluster().then(|| shared.ctx.metrics.cluster_route());
		// Replacing drops the old publication after the new one is in place.
		publications.insert(path, (publication, route));
	}
	Ok(())
}

/// Removes the subscription id from the routing table when the task ends.
struct Route<'a, S> {
	shared: &'a Shared<S>,
	id: u64,
}

impl<S> Drop for Route<'_, S> {
	fn drop(&mut self) {
		self.shared
			.upstream
			.lock()
			.unwrap_or_else(|e| e.into_inner())
			.remove(&self.id);
	}
}

async fn subscribe<S: Session>(shared: Arc<Shared<S>>, absolute: Path, track: Weak<Track>) {
	let Some(track) = track.upgrade() else {
		return;
	};
	let Some(path) = absolute.strip_prefix(shared.grant.root()) else {
		track.end(TrackEnd::Aborted(StreamCode::NOT_FOUND));
		return;
	};
	let id = shared.next_subscribe_id();
	shared.ctx.metrics.upstream_subscription();
	shared
		.upstream
		.lock()
		.unwrap_or_else(|e| e.into_inner())
		.insert(id, Arc::downgrade(&track));
	let _route = Route { shared: &shared, id };
	let mut alive = track.alive();
	let name = track.name().to_string();
	let weak = Arc::downgrade(&track);
	drop(track);

	let result = tokio::select! {
		// Every subscriber is gone: dropping the stream writer resets it, which
		// unsubscribes upstream.
		_ = alive.changed() => Ok(()),
		result = subscription(&shared, id, &path, &name, weak.clone()) => result,
	};
	tracing::debug!(broadcast = %Peer(absolute.as_str()), track = %Peer(&name), ok = result.is_ok(), "upstream subscription ended");
	if let Some(track) = weak.upgrade() {
		match result {
			Ok(()) => track.end(TrackEnd::Finished),
			Err(err) => {
				tracing::debug!(%err, broadcast = %Peer(absolute.as_str()), track = %Peer(&name), "upstream subscription failed");
				let code = match err {
					StreamError::Transport(crate::transport::TransportError::Reset(code)) => StreamCode::from_u32(code),
					StreamError::Reset(code) => code,
					_ => StreamCode::CANCEL,
				};
				track.end(TrackEnd::Aborted(code));
			}
		}
	}
}

async fn subscription<S: Session>(
	shared: &Shared<S>,
	id: u64,
	path: &Path,
	name: &str,
	track: Weak<Track>,
) -> Result<(), StreamError> {
	let version = shared.version;
	let (send, recv) = shared.transport.open_bi().await?;
	let mut writer = Writer::new(send);
	let mut reader = Reader::new(recv);
	writer.encode(&BidiType::Subscribe, version).await?;
	let max_age = shared.ctx.limits.cache.max_age.as_millis();
	let request = Subscribe {
		id: VarInt::from_u64(id).map_err(|_| StreamError::Reset(StreamCode::INTERNAL))?,
		broadcast: path.to_string(),
		track: name.to_string(),
		options: SubscribeOptions {
			priority: 0,
			max_age_ms: VarInt::from_u64(u64::try_from(max_age).unwrap_or(u64::MAX)).unwrap_or(VarInt::MAX),
			..SubscribeOptions::default()
		},
	};
	writer.encode(&request, version).await?;
	while let Some(response) = reader.decode::<SubscribeResponse>(version).await? {
		if let SubscribeResponse::End { group } = response {
			tracing::debug!(%group, "upstream subscription ends");
		}
		if track.strong_count() == 0 {
			break;
		}
	}
	// FIN from the publisher: every group was sent.
	let _ = writer.finish();
	Ok(())
}

/// TRACK → TRACK_INFO from the peer, relative to its root; `None` if it has none.
async fn track_info<S: Session>(shared: &Shared<S>, absolute: &Path, name: &str) -> Option<TrackInfo> {
	let version = shared.version;
	if !version.has_timestamps() {
		// lite-04 has no TRACK stream: synthesise a millisecond timescale.
		return Some(TrackInfo {
			priority: 0,
			max_age_ms: VarInt::ZERO,
			timescale: VarInt::from_u32(1000),
		});
	}
	let path = absolute.strip_prefix(shared.grant.root())?;
	let info = async {
		let (send, recv) = shared.transport.open_bi().await?;
		let mut writer = Writer::new(send);
		let mut reader = Reader::new(recv);
		writer.encode(&BidiType::Track, version).await?;
		let request = TrackRequest {
			broadcast: path.to_string(),
			track: name.to_string(),
		};
		writer.encode(&request, version).await?;
		// FIN only after the reply: moq-net reads an early FIN as a cancel.
		let info = reader.expect::<TrackInfo>(version).await?;
		writer.finish()?;
		Ok::<_, StreamError>(info)
	};
	match info.await {
		Ok(info) => Some(info),
		Err(err) => {
			tracing::debug!(%err, "TRACK_INFO unavailable");
			None
		}
	}
}

/// A GROUP stream from the peer: route it to the upstream subscription it
/// belongs to and fill the shared group.
pub(super) async fn group<S: Session>(shared: &Shared<S>, reader: &mut Reader<S::Recv>) -> Result<(), StreamError> {
	let version = shared.version;
	let header: GroupHeader = reader.expect(version).await?;
	// Frames follow, each refused from its header when over max_frame: the stream leaves the control
	// budget and may buffer one frame.
	reader.carry_frames(shared.ctx.limits.max_frame.saturating_add(32));
	let track = shared
		.upstream
		.lock()
		.unwrap_or_else(|e| e.into_inner())
		.get(&header.subscribe_id.into_inner())
		.and_then(Weak::upgrade);
	let Some(track) = track else {
		// Unsubscribed meanwhile, or never ours: not an error worth a session.
		reader.stop(StreamCode::CANCEL);
		return Ok(());
	};
	let Some(mut group) = track.create_group(header.sequence.into_inner()) else {
		reader.stop(StreamCode::OLD);
		return Ok(());
	};
	drop(track);
	shared.ctx.metrics.group_received();
	// `docs/protocol.md` ("Bridging between versions"): a pre-05 publisher's frames are stamped with their arrival time in
	// milliseconds since the UNIX epoch (the timescale synthesised in its TRACK_INFO); on the
	// wire that is the first frame's absolute time, then deltas from the previous frame.
	let mut stamps = ArrivalStamps::default();
	loop {
		// The header alone decides whether the frame fits: a declared 2^40 bytes is refused
		// before any of its payload is buffered.
		match reader.peek::<FrameHeader>(version).await {
			Ok(Some(header)) => {
				let size = header.size.into_inner();
				let refusal = if size > shared.ctx.limits.max_frame as u64 {
					Some(StreamCode::FRAME_TOO_LARGE)
				} else if size > group.remaining() as u64 {
					Some(StreamCode::GROUP_TOO_LARGE)
				} else {
					None
				};
				if let Some(code) = refusal {
					tracing::debug!(size, %code, "frame refused from its header");
					shared
						.ctx
						.metrics
						.limit_refused(if code == StreamCode::FRAME_TOO_LARGE {
							"frame_too_large"
						} else {
							"group_too_large"
						});
					reader.stop(code);
					group.abort(code);
					return Ok(());
				}
			}
			Ok(None) => {}
			Err(StreamError::Transport(crate::transport::TransportError::Reset(code))) => {
				group.abort(StreamCode::from_u32(code));
				return Ok(());
			}
			Err(err) => return Err(err),
		}
		match reader.decode::<Frame>(version).await {
			Ok(Some(mut frame)) => {
				if !version.has_timestamps() {
					frame.timestamp_delta = stamps.next();
				}
				shared.ctx.metrics.frame_received(frame.payload.len());
				if let Err(code) = group.push(frame) {
					reader.stop(code);
					return Ok(());
				}
			}
			Ok(None) => {
				group.finish();
				return Ok(());
			}
			// The publisher abandoned the group: not fatal (`docs/protocol.md`, "Group stream").
			Err(StreamError::Transport(crate::transport::TransportError::Reset(code))) => {
				group.abort(StreamCode::from_u32(code));
				return Ok(());
			}
			Err(err) => return Err(err),
		}
	}
}

/// Arrival timestamps for the frames of one pre-05 group, as the deltas lite-05+ carries.
#[derive(Default)]
struct ArrivalStamps {
	last_ms: Option<i64>,
}

impl ArrivalStamps {
	fn next(&mut self) -> i64 {
		let now = std::time::SystemTime::now()
			.duration_since(std::time::UNIX_EPOCH)
			.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
			.unwrap_or(0);
		// Never backwards, even if the clock steps.
		let now = self.last_ms.map_or(now, |last| now.max(last));
		let delta = now - self.last_ms.unwrap_or(0);
		self.last_ms = Some(now);
		delta
	}
}
