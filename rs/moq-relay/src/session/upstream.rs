//! The relay as subscriber of the peer: learning what it publishes, and
//! subscribing upstream once per track when the origin asks.

use crate::logging::Peer;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use moq_token::Path;

use super::{Reader, Shared, StreamError, Writer};
use crate::audit::Request;
use crate::origin::{GroupWriter, Track, TrackEnd, Upstream, UpstreamRequest};
use crate::protocol::lite::{AnnounceMessage, Dialect, Inbound, InboundAction, InboundPolicy, Refusal};
use crate::transport::Session;
use crate::wire::{
	AnnounceOk, BidiType, Fetch, StreamCode, Subscribe, SubscribeOptions, SubscribeResponse, SubscribeUpdate,
	Track as TrackRequest, TrackInfo, VarInt,
};

/// Asks the peer for everything it announces, publishes what the grant allows,
/// and serves the origin's upstream requests for those broadcasts.
pub(super) async fn run<S: Session>(shared: Arc<Shared<S>>) {
	let (upstream, mut requests) = Upstream::channel();
	let fetches = Arc::new(tokio::sync::Semaphore::new(UPSTREAM_FETCHES));
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
				UpstreamRequest::Fetch { path, track, group } => match fetches.clone().try_acquire_owned() {
					Ok(place) => {
						let shared = shared.clone();
						tokio::spawn(async move {
							fetch(shared, path, track, group).await;
							drop(place);
						});
					}
					Err(_) => {
						shared.ctx.metrics.limit_refused("upstream_fetches");
						group.abort(StreamCode::NOT_FOUND);
					}
				},
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
	let mut inbound = Inbound::new(
		Dialect::new(version),
		InboundPolicy {
			grant: shared.grant.clone(),
			hop_id: shared.ctx.hop_id,
			route_origin: shared.route_origin,
			max_path: shared.ctx.limits.max_path,
			max_broadcasts: shared.ctx.limits.max_broadcasts,
		},
	);
	let (send, recv) = shared.transport.open_bi().await?;
	let mut writer = Writer::new(send);
	let mut reader = Reader::new(recv);
	writer.encode(&BidiType::Announce, version).await?;
	writer.encode(&inbound.request(), version).await?;
	if inbound.expects_ok() {
		inbound.ok(&reader.expect::<AnnounceOk>(version).await?);
	}
	// The peer answered: it admitted this relay's link (a refused token closes the session before).
	if let crate::metrics::Link::Dialed(peer) = &shared.link {
		tracing::info!(%peer, %version, "cluster link up");
	}

	// This session's publications, each withdrawn from the origin when dropped.
	let mut publications = HashMap::new();
	while let Some(message) = reader.decode::<AnnounceMessage>(version).await? {
		let action = match inbound.receive(message) {
			Ok(action) => action,
			Err(Refusal::Malformed(err)) => return Err(err.into()),
			Err(refusal) => {
				if let Some(limit) = refusal.limit() {
					shared.ctx.metrics.limit_refused(limit);
				}
				return Err(StreamError::Session(refusal.code(), refusal.reason()));
			}
		};
		if shared.grant.cluster() {
			shared.ctx.metrics.cluster_announcement(&shared.link);
		}
		match action {
			InboundAction::Publish { path, hops } => {
				let absolute = shared.grant.absolute(&path);
				tracing::info!(broadcast = %Peer(absolute.as_str()), "broadcast announced");
				let publication = shared.ctx.origin.publish(absolute, hops, upstream.clone());
				let route = shared.grant.cluster().then(|| shared.ctx.metrics.cluster_route());
				// Replacing drops the old publication after the new one is in place.
				publications.insert(path, (publication, route));
			}
			InboundAction::Withdraw { path } => {
				publications.remove(&path);
			}
			InboundAction::Denied { path } => {
				shared
					.trail
					.denied(&shared.grant, Request::Publish, &path, &shared.ctx.metrics);
			}
			InboundAction::Ignore(_) => {}
		}
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
	// The peer's datagrams answer the relay's subscriptions: read from the first one on (a
	// session the relay never subscribes to holds no reader).
	if shared.version.has_timestamps()
		&& !shared
			.reading_datagrams
			.swap(true, std::sync::atomic::Ordering::Relaxed)
	{
		tokio::spawn(super::ingest::datagrams(shared.clone()));
	}
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
	let (mut writer, mut reader) = open(shared, BidiType::Subscribe).await?;
	// The relay keeps a group that is late for up to its cache's max age, so that is the
	// staleness it tolerates from the publisher. But a lite-06 publisher also starts a
	// subscription at the oldest group its Max Age finds fresh: asked with the cache's, it would
	// send seconds of groups nobody watched before the first viewer came. So lite-06 asks with
	// 0 (start at the newest group, as every later viewer does) and raises it to the cache's max
	// age once SUBSCRIBE_START says where it started.
	let tolerated = shared.ctx.limits.cache.max_age_ms();
	let mut raise = Dialect::new(version).max_age_sets_start();
	let options = |max_age_ms| SubscribeOptions {
		priority: 0,
		max_age_ms,
		..SubscribeOptions::default()
	};
	let request = Subscribe {
		id: VarInt::from_u64(id).map_err(|_| StreamError::Reset(StreamCode::INTERNAL))?,
		broadcast: path.to_string(),
		track: name.to_string(),
		options: options(if raise { VarInt::ZERO } else { tolerated }),
	};
	writer.encode(&request, version).await?;
	while let Some(response) = reader.decode::<SubscribeResponse>(version).await? {
		match response {
			SubscribeResponse::Start { .. } if std::mem::take(&mut raise) => {
				let update = SubscribeUpdate {
					options: options(tolerated),
				};
				writer.encode(&update, version).await?;
			}
			SubscribeResponse::End { group } => tracing::debug!(%group, "upstream subscription ends"),
			_ => {}
		}
		if track.strong_count() == 0 {
			break;
		}
	}
	// FIN from the publisher: every group was sent.
	let _ = writer.finish();
	Ok(())
}

/// FETCH of one group from the peer, for a subscriber's FETCH the cache could not answer: the
/// answer's frames fill `group` as they arrive, its FIN completes it. A version without FETCH
/// (lite-03, lite-04) or a refusal aborts the group `NOT_FOUND` (a reset with the peer's code);
/// once nobody waits for the group any more the fetch is given up.
async fn fetch<S: Session>(shared: Arc<Shared<S>>, absolute: Path, name: String, mut group: GroupWriter) {
	let sequence = group.sequence();
	let held = group.held();
	let result = {
		let fetched = async {
			if !shared.version.has_timestamps() {
				return Err(StreamError::Reset(StreamCode::NOT_FOUND));
			}
			let path = absolute
				.strip_prefix(shared.grant.root())
				.ok_or(StreamError::Reset(StreamCode::NOT_FOUND))?;
			fetch_into(&shared, &path, &name, &mut group).await
		};
		tokio::select! {
			result = fetched => result,
			() = given_up(held) => Err(StreamError::Reset(StreamCode::CANCEL)),
		}
	};
	tracing::debug!(broadcast = %Peer(absolute.as_str()), track = %Peer(&name), sequence, ok = result.is_ok(), "upstream fetch ended");
	match result {
		Ok(true) => group.finish(),
		Ok(false) => group.abort(StreamCode::NOT_FOUND),
		Err(StreamError::Transport(crate::transport::TransportError::Reset(code))) => {
			group.abort(StreamCode::from_u32(code))
		}
		Err(StreamError::Reset(code)) => group.abort(code),
		Err(_) => group.abort(StreamCode::CANCEL),
	}
}

/// FETCHes one publishing session is asked for at once, each a stream to it: past them a
/// subscriber's fetch of a group the relay does not hold fails NOT_FOUND at once, so fetches
/// cannot take the publisher's streams from the relay's subscriptions.
pub(crate) const UPSTREAM_FETCHES: usize = 64;

/// How often an upstream fetch looks whether anybody still waits for its group.
const FETCH_WAITING: std::time::Duration = std::time::Duration::from_secs(1);

/// Resolves once nobody but its writer holds a fetched group (`held`, from
/// [`GroupWriter::held`]), looked at every [`FETCH_WAITING`]: the upstream fetch, of any
/// version, is then given up.
pub(super) async fn given_up(held: impl Fn() -> bool) {
	let mut waiting = tokio::time::interval(FETCH_WAITING);
	loop {
		waiting.tick().await;
		if !held() {
			return;
		}
	}
}

/// The FETCH stream of [`fetch`]: `Ok(true)` once the peer's FIN ended a non-empty answer,
/// `Ok(false)` for an empty one (a group the peer does not hold).
async fn fetch_into<S: Session>(
	shared: &Shared<S>,
	path: &Path,
	name: &str,
	group: &mut GroupWriter,
) -> Result<bool, StreamError> {
	let version = shared.version;
	let (mut writer, mut reader) = open(shared, BidiType::Fetch).await?;
	let request = Fetch {
		broadcast: path.to_string(),
		track: name.to_string(),
		priority: 0,
		group: VarInt::from_u64(group.sequence()).map_err(|_| StreamError::Reset(StreamCode::NOT_FOUND))?,
		frame_start: VarInt::ZERO,
		frame_end: None,
	};
	writer.encode(&request, version).await?;
	// Frames follow: the stream leaves the control budget.
	reader.carry_frames();
	let mut frames = 0u64;
	while super::ingest::fetched_frame(shared, &mut reader, group).await? {
		frames += 1;
	}
	// FIN only after the answer: the published client reads an early FIN as a cancel.
	let _ = writer.finish();
	Ok(frames > 0)
}

/// A bidi stream to the peer for a request of the relay's, its type written.
async fn open<S: Session>(
	shared: &Shared<S>,
	kind: BidiType,
) -> Result<(Writer<S::Send>, Reader<S::Recv>), StreamError> {
	let (send, recv) = shared.transport.open_bi().await?;
	let mut writer = Writer::new(send);
	writer.encode(&kind, shared.version).await?;
	Ok((writer, Reader::new(recv)))
}

/// TRACK → TRACK_INFO from the peer, relative to its root; `None` if it has none.
async fn track_info<S: Session>(shared: &Shared<S>, absolute: &Path, name: &str) -> Option<TrackInfo> {
	let version = shared.version;
	if !Dialect::new(version).track_info() {
		// lite-04 has no TRACK stream.
		return Some(shared.ctx.limits.cache.synthesised_track_info());
	}
	let path = absolute.strip_prefix(shared.grant.root())?;
	let info = async {
		let (mut writer, mut reader) = open(shared, BidiType::Track).await?;
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
