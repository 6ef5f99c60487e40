//! The broadcast tree: who publishes what, who watches which prefix, and one
//! shared [`Track`] per (broadcast, track) that every subscriber reads from.
//!
//! Fan-out is the whole point of a relay: the first subscriber to a track asks
//! the publishing session for it once ([`UpstreamRequest`]); later subscribers
//! join the same [`Track`] and read its cache. When the last subscriber drops
//! its `Arc<Track>`, the upstream subscription is cancelled.

mod budget;
mod track;

pub use budget::{CacheBudget, CacheMeters};
pub use track::{DATAGRAMS_KEPT, Datagram, Group, GroupReader, GroupWriter, Track, TrackEnd};

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use moq_token::Path;
use tokio::sync::{mpsc, oneshot};

use crate::wire::{TrackInfo, VarInt};

/// A request from the origin to a publishing session.
#[derive(Debug)]
pub enum UpstreamRequest {
	/// Subscribe upstream to a track of the broadcast at `path` and fill `track`.
	Subscribe {
		/// The broadcast's absolute path.
		path: Path,
		/// The shared track to fill. Held weakly: when every subscriber is gone
		/// the upstream subscription ends.
		track: Weak<Track>,
	},
	/// Fetch one group of a track from the publisher, for a FETCH the cache could not answer.
	Fetch {
		/// The broadcast's absolute path.
		path: Path,
		/// The track name.
		track: String,
		/// The group to fill, its sequence the one fetched (outside the track's cache); dropped
		/// unfilled it is aborted, which the fetch reads as not found.
		group: GroupWriter,
	},
	/// Ask the publisher for a track's TRACK_INFO (no subscription).
	Info {
		/// The broadcast's absolute path.
		path: Path,
		/// The track name.
		track: String,
		/// Where the answer goes; dropped unanswered if the publisher has none.
		reply: oneshot::Sender<TrackInfo>,
	},
}

/// The handle through which the origin asks a publishing session for tracks.
///
/// Bounded: the session serves each request by starting a task, so the queue is short unless that
/// session is stuck; then a request past [`UPSTREAM_QUEUE`] is refused at once (the subscriber's
/// stream is reset NOT_FOUND) rather than queued without end.
#[derive(Clone, Debug)]
pub struct Upstream(mpsc::Sender<Box<UpstreamRequest>>);

/// The requests an [`Upstream`] queued, in order: what its publishing session serves.
///
/// Boxed in the queue: a channel keeps a block of 32 slots from its start, and every publishing
/// session has one, so unboxed requests would make an idle session hold 32 of them
/// (`docs/performance.md`, "A session's state while it serves").
#[derive(Debug)]
pub struct UpstreamRequests(mpsc::Receiver<Box<UpstreamRequest>>);

impl UpstreamRequests {
	/// The next request; `None` once every [`Upstream`] handle is gone.
	pub async fn recv(&mut self) -> Option<UpstreamRequest> {
		self.0.recv().await.map(|request| *request)
	}

	/// The next request if one is queued (the origin's tests look without waiting).
	#[cfg(test)]
	pub fn try_recv(&mut self) -> Option<UpstreamRequest> {
		self.0.try_recv().ok().map(|request| *request)
	}
}

/// Requests waiting for one publishing session before new ones are refused.
pub const UPSTREAM_QUEUE: usize = 1024;

impl Upstream {
	/// A handle and the receiver the publishing session serves.
	pub fn channel() -> (Self, UpstreamRequests) {
		let (tx, rx) = mpsc::channel(UPSTREAM_QUEUE);
		(Self(tx), UpstreamRequests(rx))
	}

	/// Queues `request`; `false` when the session is gone or its queue is full.
	fn ask(&self, request: UpstreamRequest) -> bool {
		self.0.try_send(Box::new(request)).is_ok()
	}
}

/// A change in the set of broadcasts under a watched prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceUpdate {
	/// The broadcast's absolute path.
	pub path: Path,
	/// `Some(hops)` when it is (re)announced, `None` when it ended.
	pub active: Option<Vec<VarInt>>,
}

/// Why a subscription could not be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
	/// No broadcast is announced at that path.
	#[error("no broadcast at {0:?}")]
	NotFound(String),
}

/// One way to reach a broadcast: the session that announced it and the hop chain it came by.
struct Route {
	id: u64,
	hops: Vec<VarInt>,
	upstream: Upstream,
}

/// A broadcast and every live route to it; the best route serves new subscriptions.
struct Entry {
	/// Every live route. The best is the one with the fewest hops, the newest among equals
	/// (`docs/cluster.md`: "prefers the shortest live route"; a client re-announcing a path replaces
	/// the older announcement).
	routes: Vec<Route>,
	/// The id of the route in use.
	best: u64,
	tracks: HashMap<String, Weak<Track>>,
	/// TRACK_INFO is immutable (`docs/protocol.md`, "Group stream"): asked upstream once per track (per best route).
	infos: HashMap<String, TrackInfo>,
	/// The groups asked of the publisher for FETCHes, by track and sequence, while some fetch
	/// holds them: a FETCH of a group being fetched joins it rather than asking again.
	fetches: HashMap<(String, u64), Weak<Group>>,
}

impl Entry {
	fn best_route(&self) -> Option<&Route> {
		self.routes.iter().find(|r| r.id == self.best)
	}

	/// Re-elects the best route; returns its hops if it changed.
	fn elect(&mut self) -> Option<Vec<VarInt>> {
		let best = self
			.routes
			.iter()
			.min_by_key(|r| (r.hops.len(), std::cmp::Reverse(r.id)))?;
		if best.id == self.best {
			return None;
		}
		self.best = best.id;
		let hops = best.hops.clone();
		// Subscriptions already running stay on their route until it ends them; new
		// subscribers (and TRACK_INFO requests) go to the new route.
		self.tracks.clear();
		self.infos.clear();
		Some(hops)
	}
}

struct Watcher {
	prefix: Path,
	queue: Arc<WatchQueue>,
}

/// A watcher's changes not yet taken: the latest state of each changed path, in the order the
/// paths first changed. A watcher that stops reading holds at most one change per broadcast, so a
/// publisher toggling a broadcast a million times cannot grow it (the newest state is what the
/// watcher needs; a restart it missed shows as the broadcast active with its newest route).
#[derive(Default)]
struct WatchQueue {
	pending: Mutex<Pending>,
	changed: tokio::sync::Notify,
}

#[derive(Default)]
struct Pending {
	order: VecDeque<Path>,
	latest: HashMap<Path, Option<Vec<VarInt>>>,
	/// The origin is gone: nothing more will come.
	closed: bool,
}

impl WatchQueue {
	fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
		self.pending.lock().unwrap_or_else(|e| e.into_inner())
	}

	fn push(&self, update: &AnnounceUpdate) {
		let mut pending = self.lock();
		if pending
			.latest
			.insert(update.path.clone(), update.active.clone())
			.is_none()
		{
			pending.order.push_back(update.path.clone());
		}
		drop(pending);
		self.changed.notify_one();
	}
}

impl Drop for Watcher {
	fn drop(&mut self) {
		self.queue.lock().closed = true;
		self.queue.changed.notify_one();
	}
}

#[derive(Default)]
struct State {
	broadcasts: HashMap<Path, Entry>,
	watchers: HashMap<u64, Watcher>,
	next_id: u64,
}

impl State {
	fn next_id(&mut self) -> u64 {
		self.next_id += 1;
		self.next_id
	}

	fn notify(&mut self, update: &AnnounceUpdate) {
		for watcher in self.watchers.values() {
			if update.path.has_prefix(&watcher.prefix) {
				watcher.queue.push(update);
			}
		}
	}
}

/// How long and how much each track keeps (the latest-group cache).
#[derive(Clone, Copy, Debug)]
pub struct CachePolicy {
	/// Groups older than this behind the latest group are evicted (the latest
	/// group is always kept).
	pub max_age: Duration,
	/// At most this many groups per track.
	pub max_groups: usize,
	/// A group larger than this is aborted (`GROUP_TOO_LARGE`).
	pub max_group_bytes: usize,
	/// The groups of all tracks together: past it the oldest groups of any track are evicted first
	/// (never a track's latest group).
	pub max_bytes: usize,
}

impl CachePolicy {
	/// [`Self::max_age`] in whole milliseconds, as SUBSCRIBE and TRACK_INFO carry it.
	pub fn max_age_ms(&self) -> VarInt {
		let ms = u64::try_from(self.max_age.as_millis()).unwrap_or(u64::MAX);
		VarInt::from_u64(ms).unwrap_or(VarInt::MAX)
	}

	/// The TRACK_INFO the relay answers for a track whose publisher sends none (lite-04 and the
	/// IETF drafts): priority 0, timescale 1000 (such frames are stamped on arrival in
	/// milliseconds), and as max age how long this relay keeps the track's groups. A max age of 0
	/// would tell a lite-06 subscriber that any group behind the newest is worthless, and the
	/// published client then ends such a group at the frame it is waiting for.
	pub fn synthesised_track_info(&self) -> TrackInfo {
		TrackInfo {
			priority: 0,
			max_age_ms: self.max_age_ms(),
			timescale: VarInt::from_u32(1000),
		}
	}
}

impl Default for CachePolicy {
	fn default() -> Self {
		Self {
			max_age: Duration::from_secs(10),
			max_groups: 64,
			max_group_bytes: 16 * 1024 * 1024,
			max_bytes: 1024 * 1024 * 1024,
		}
	}
}

/// The broadcast tree shared by every session of a relay.
pub struct Origin {
	state: Mutex<State>,
	cache: CachePolicy,
	budget: Arc<CacheBudget>,
}

impl Default for Origin {
	fn default() -> Self {
		Self::new(CachePolicy::default())
	}
}

impl Origin {
	/// An empty tree.
	pub fn new(cache: CachePolicy) -> Self {
		Self::with_meters(cache, CacheMeters::default())
	}

	/// An empty tree whose cache budget reports to `meters`.
	pub fn with_meters(cache: CachePolicy, meters: CacheMeters) -> Self {
		Self {
			state: Mutex::new(State::default()),
			cache,
			budget: Arc::new(CacheBudget::with_meters(cache.max_bytes, meters)),
		}
	}

	fn lock(&self) -> MutexGuard<'_, State> {
		// A panic while holding the lock leaves plain maps behind: still usable.
		self.state.lock().unwrap_or_else(|e| e.into_inner())
	}

	/// Adds a route to the broadcast at `path`, served by `upstream`. The route stays until
	/// the returned [`Publication`] is dropped. Watchers hear of the broadcast when its first
	/// route appears, of a new hop chain when the best route changes, and of its end when its
	/// last route goes.
	pub fn publish(self: &Arc<Self>, path: Path, hops: Vec<VarInt>, upstream: Upstream) -> Publication {
		let mut state = self.lock();
		let id = state.next_id();
		let entry = state.broadcasts.entry(path.clone()).or_insert_with(|| Entry {
			routes: Vec::new(),
			best: 0,
			tracks: HashMap::new(),
			infos: HashMap::new(),
			fetches: HashMap::new(),
		});
		entry.routes.push(Route { id, hops, upstream });
		if let Some(hops) = entry.elect() {
			state.notify(&AnnounceUpdate {
				path: path.clone(),
				active: Some(hops),
			});
		}
		Publication {
			origin: Arc::downgrade(self),
			path,
			id,
		}
	}

	fn unpublish(&self, path: &Path, id: u64) {
		let mut state = self.lock();
		let Some(entry) = state.broadcasts.get_mut(path) else {
			return;
		};
		entry.routes.retain(|r| r.id != id);
		let update = if entry.routes.is_empty() {
			state.broadcasts.remove(path);
			None
		} else {
			match entry.elect() {
				Some(hops) => Some(hops),
				None => return,
			}
		};
		state.notify(&AnnounceUpdate {
			path: path.clone(),
			active: update,
		});
	}

	/// How many routes the origin holds, over every broadcast.
	pub fn route_count(&self) -> usize {
		self.lock().broadcasts.values().map(|e| e.routes.len()).sum()
	}

	/// Watches the broadcasts at or below `prefix`: the current ones, then every
	/// change, in order.
	pub fn announced(self: &Arc<Self>, prefix: Path) -> Announced {
		let mut state = self.lock();
		let id = state.next_id();
		let queue = Arc::new(WatchQueue::default());
		let mut current: Vec<(Path, Vec<VarInt>)> = state
			.broadcasts
			.iter()
			.filter(|(path, _)| path.has_prefix(&prefix))
			.filter_map(|(path, entry)| Some((path.clone(), entry.best_route()?.hops.clone())))
			.collect();
		current.sort();
		state.watchers.insert(
			id,
			Watcher {
				prefix,
				queue: queue.clone(),
			},
		);
		Announced {
			origin: Arc::downgrade(self),
			id,
			current,
			queue,
		}
	}

	/// The shared track `track` of the broadcast at `path`: joins the existing
	/// upstream subscription, or asks the publisher for one.
	pub fn subscribe(&self, path: &Path, track: &str) -> Result<Arc<Track>, OriginError> {
		let mut state = self.lock();
		let not_found = || OriginError::NotFound(path.to_string());
		let entry = state.broadcasts.get_mut(path).ok_or_else(not_found)?;
		if let Some(existing) = entry.tracks.get(track).and_then(Weak::upgrade) {
			return Ok(existing);
		}
		entry.tracks.retain(|_, t| t.strong_count() > 0);
		let shared = Arc::new(Track::new(track.to_string(), self.cache, self.budget.clone()));
		let request = UpstreamRequest::Subscribe {
			path: path.clone(),
			track: Arc::downgrade(&shared),
		};
		let route = entry.best_route().ok_or_else(not_found)?;
		if !route.upstream.ask(request) {
			return Err(not_found());
		}
		entry.tracks.insert(track.to_string(), Arc::downgrade(&shared));
		Ok(shared)
	}

	/// The publisher's TRACK_INFO for `track`: cached, or asked upstream once
	/// (without subscribing, so a subscriber's TRACK stream never costs the
	/// publisher a subscription).
	pub async fn track_info(self: &Arc<Self>, path: &Path, track: &str) -> Result<TrackInfo, OriginError> {
		let not_found = || OriginError::NotFound(path.to_string());
		let (id, reply) = {
			let state = self.lock();
			let entry = state.broadcasts.get(path).ok_or_else(not_found)?;
			if let Some(info) = entry.infos.get(track) {
				return Ok(*info);
			}
			let (tx, rx) = oneshot::channel();
			let request = UpstreamRequest::Info {
				path: path.clone(),
				track: track.to_string(),
				reply: tx,
			};
			let route = entry.best_route().ok_or_else(not_found)?;
			if !route.upstream.ask(request) {
				return Err(not_found());
			}
			(entry.best, rx)
		};
		let info = reply.await.map_err(|_| not_found())?;
		let mut state = self.lock();
		if let Some(entry) = state.broadcasts.get_mut(path).filter(|e| e.best == id) {
			entry.infos.insert(track.to_string(), info);
		}
		Ok(info)
	}

	/// Group `sequence` of `track` for a FETCH: the cached group when a subscription holds it,
	/// the group another FETCH asked the publisher for while that one still holds it, else a
	/// group of its own that the publisher is asked to fill (a publisher that cannot answer aborts
	/// it `NOT_FOUND`). So a thousand viewers fetching the same group cost the publisher one
	/// answer. `docs/protocol.md`, "Fetching what the relay does not hold".
	pub fn fetch(&self, path: &Path, track: &str, sequence: u64) -> Result<Arc<Group>, OriginError> {
		let mut state = self.lock();
		let not_found = || OriginError::NotFound(path.to_string());
		let entry = state.broadcasts.get_mut(path).ok_or_else(not_found)?;
		let cached = entry.tracks.get(track).and_then(Weak::upgrade);
		if let Some(group) = cached.and_then(|track| track.group(sequence)) {
			return Ok(group);
		}
		let key = (track.to_string(), sequence);
		let fetching = entry.fetches.get(&key).and_then(Weak::upgrade);
		if let Some(group) = fetching.filter(|group| !group.aborted()) {
			return Ok(group);
		}
		entry.fetches.retain(|_, group| group.strong_count() > 0);
		let route = entry.best_route().ok_or_else(not_found)?;
		let (group, writer) = Group::detached(sequence, self.cache.max_group_bytes, self.budget.clone());
		let request = UpstreamRequest::Fetch {
			path: path.clone(),
			track: track.to_string(),
			group: writer,
		};
		if !route.upstream.ask(request) {
			return Err(not_found());
		}
		entry.fetches.insert(key, Arc::downgrade(&group));
		Ok(group)
	}

	/// The shared track if some subscriber already holds it (no upstream request).
	pub fn cached(&self, path: &Path, track: &str) -> Option<Arc<Track>> {
		self.lock().broadcasts.get(path)?.tracks.get(track)?.upgrade()
	}

	/// How many broadcasts are announced.
	pub fn broadcast_count(&self) -> usize {
		self.lock().broadcasts.len()
	}
}

/// Keeps a broadcast announced; dropping it ends the broadcast (unless a newer
/// publication has replaced it).
#[derive(Debug)]
pub struct Publication {
	origin: Weak<Origin>,
	path: Path,
	id: u64,
}

impl Drop for Publication {
	fn drop(&mut self) {
		if let Some(origin) = self.origin.upgrade() {
			origin.unpublish(&self.path, self.id);
		}
	}
}

/// A watch over a prefix; see [`Origin::announced`].
pub struct Announced {
	origin: Weak<Origin>,
	id: u64,
	current: Vec<(Path, Vec<VarInt>)>,
	queue: Arc<WatchQueue>,
}

impl Announced {
	/// The broadcasts active when the watch started (absolute paths, sorted).
	pub fn take_current(&mut self) -> Vec<(Path, Vec<VarInt>)> {
		std::mem::take(&mut self.current)
	}

	/// The next change (the latest state of the path that changed first); `None` once the origin
	/// is gone.
	pub async fn next(&mut self) -> Option<AnnounceUpdate> {
		loop {
			{
				let mut pending = self.queue.lock();
				if let Some(path) = pending.order.pop_front() {
					let active = pending.latest.remove(&path).flatten();
					return Some(AnnounceUpdate { path, active });
				}
				if pending.closed {
					return None;
				}
			}
			self.queue.changed.notified().await;
		}
	}
}

impl Drop for Announced {
	fn drop(&mut self) {
		if let Some(origin) = self.origin.upgrade() {
			origin.lock().watchers.remove(&self.id);
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::wire::{FrameHeader, StreamCode};
	use bytes::Bytes;

	fn path(p: &str) -> Path {
		Path::new(p).unwrap()
	}

	#[tokio::test]
	async fn a_watcher_that_does_not_read_holds_one_change_per_broadcast() {
		let origin = Arc::new(Origin::default());
		let mut watch = origin.announced(path("anon"));
		let (upstream, _requests) = Upstream::channel();
		for _ in 0..10_000 {
			drop(origin.publish(path("anon/flicker"), vec![VarInt::from_u32(1)], upstream.clone()));
		}
		let _steady = origin.publish(path("anon/steady"), vec![VarInt::from_u32(2)], upstream.clone());
		assert_eq!(watch.queue.lock().order.len(), 2, "one pending change per path");
		// The newest state of each, in the order they first changed.
		assert_eq!(
			watch.next().await,
			Some(AnnounceUpdate {
				path: path("anon/flicker"),
				active: None
			})
		);
		assert_eq!(
			watch.next().await,
			Some(AnnounceUpdate {
				path: path("anon/steady"),
				active: Some(vec![VarInt::from_u32(2)])
			})
		);
		drop(origin);
		assert_eq!(watch.next().await, None, "the origin is gone");
	}

	#[tokio::test]
	async fn one_upstream_request_per_track() {
		let origin = Arc::new(Origin::default());
		let (upstream, mut requests) = Upstream::channel();
		let _publication = origin.publish(path("anon/clock"), vec![], upstream);
		let a = origin.subscribe(&path("anon/clock"), "seconds").unwrap();
		let b = origin.subscribe(&path("anon/clock"), "seconds").unwrap();
		assert!(Arc::ptr_eq(&a, &b));
		let Some(UpstreamRequest::Subscribe { path: asked, track }) = requests.recv().await else {
			panic!("expected a subscribe request");
		};
		assert_eq!(asked, path("anon/clock"));
		assert!(requests.try_recv().is_none());
		drop((a, b));
		assert!(track.upgrade().is_none(), "last subscriber gone cancels upstream");
		let _c = origin.subscribe(&path("anon/clock"), "seconds").unwrap();
		assert!(requests.try_recv().is_some(), "a later subscriber asks again");
		assert_eq!(
			origin.subscribe(&path("anon/other"), "seconds").unwrap_err(),
			OriginError::NotFound("anon/other".into())
		);
	}

	/// A FETCH's group: the cached one when a subscription holds it (nothing asked upstream), else
	/// a group of its own the publisher is asked to fill, read as it is filled; a publisher that
	/// drops the request unanswered aborts it; no broadcast, no group.
	#[tokio::test]
	async fn a_fetch_takes_the_cached_group_or_asks_the_publisher() {
		let origin = Arc::new(Origin::default());
		let (upstream, mut requests) = Upstream::channel();
		let _publication = origin.publish(path("anon/clock"), vec![], upstream);
		let track = origin.subscribe(&path("anon/clock"), "seconds").unwrap();
		assert!(matches!(requests.try_recv(), Some(UpstreamRequest::Subscribe { .. })));
		track.create_group(7).unwrap().finish();
		let cached = origin.fetch(&path("anon/clock"), "seconds", 7).unwrap();
		assert!(Arc::ptr_eq(&cached, &track.group(7).unwrap()));
		assert!(requests.try_recv().is_none(), "a cached group is not asked for");

		let fetched = origin.fetch(&path("anon/clock"), "seconds", 3).unwrap();
		let Some(UpstreamRequest::Fetch {
			path: asked,
			track: name,
			group: mut writer,
		}) = requests.try_recv()
		else {
			panic!("expected a fetch request");
		};
		assert_eq!(
			(asked, name.as_str(), writer.sequence()),
			(path("anon/clock"), "seconds", 3)
		);
		assert!(track.group(3).is_none(), "the fetched group stays out of the cache");
		let held = writer.held();
		assert!(held());
		let header = FrameHeader {
			timestamp_delta: 0,
			size: VarInt::from_u32(2),
		};
		writer.start_frame(header).unwrap();
		writer.append(Bytes::from_static(b"hi")).unwrap();
		writer.finish();
		let mut reader = fetched.reader();
		assert_eq!(reader.next().await.unwrap().unwrap().payload, Bytes::from_static(b"hi"));
		assert_eq!(fetched.ended().await, TrackEnd::Finished);
		drop((reader, fetched));
		assert!(!held(), "nobody waits for the group any more");

		// A second FETCH of a group being fetched joins it: one request.
		let first = origin.fetch(&path("anon/clock"), "seconds", 4).unwrap();
		let joined = origin.fetch(&path("anon/clock"), "seconds", 4).unwrap();
		assert!(Arc::ptr_eq(&first, &joined));
		let request = requests.try_recv();
		assert!(matches!(request, Some(UpstreamRequest::Fetch { .. })));
		assert!(requests.try_recv().is_none(), "one request for both");
		// Unanswered, it is aborted; the next FETCH asks again.
		drop(request);
		assert_eq!(first.ended().await, TrackEnd::Aborted(StreamCode::CANCEL));
		let again = origin.fetch(&path("anon/clock"), "seconds", 4).unwrap();
		assert!(!Arc::ptr_eq(&first, &again));
		assert!(matches!(requests.try_recv(), Some(UpstreamRequest::Fetch { .. })));
		assert_eq!(
			origin.fetch(&path("anon/other"), "seconds", 0).unwrap_err(),
			OriginError::NotFound("anon/other".into())
		);
	}

	#[tokio::test]
	async fn a_publisher_that_serves_no_requests_holds_a_bounded_queue() {
		let origin = Arc::new(Origin::default());
		let (upstream, mut requests) = Upstream::channel();
		let _publication = origin.publish(path("anon/clock"), vec![], upstream);
		let mut tracks = Vec::new();
		for n in 0..UPSTREAM_QUEUE {
			tracks.push(origin.subscribe(&path("anon/clock"), &format!("t{n}")).unwrap());
		}
		// The session is stuck: the next request is refused at once, not queued.
		assert_eq!(
			origin.subscribe(&path("anon/clock"), "one-more").unwrap_err(),
			OriginError::NotFound("anon/clock".into())
		);
		// Once it serves one, there is room again.
		assert!(requests.recv().await.is_some());
		assert!(origin.subscribe(&path("anon/clock"), "one-more").is_ok());
	}

	#[tokio::test]
	async fn track_info_is_asked_once_and_cached() {
		let origin = Arc::new(Origin::default());
		let (upstream, mut requests) = Upstream::channel();
		let _publication = origin.publish(path("a"), vec![], upstream);
		let info = TrackInfo {
			priority: 1,
			max_age_ms: VarInt::ZERO,
			timescale: VarInt::from_u32(1000),
		};
		let answer = tokio::spawn(async move {
			let Some(UpstreamRequest::Info { reply, .. }) = requests.recv().await else {
				panic!("expected an info request");
			};
			reply.send(info).unwrap();
			requests
		});
		assert_eq!(origin.track_info(&path("a"), "t").await.unwrap(), info);
		let mut requests = answer.await.unwrap();
		assert_eq!(origin.track_info(&path("a"), "t").await.unwrap(), info);
		assert!(requests.try_recv().is_none(), "the second answer came from the cache");
	}

	#[tokio::test]
	async fn shortest_route_serves_and_the_next_takes_over() {
		let origin = Arc::new(Origin::default());
		let (far, mut far_requests) = Upstream::channel();
		let (near, mut near_requests) = Upstream::channel();
		let mut watch = origin.announced(path(""));
		let (a, b) = (VarInt::from_u32(1), VarInt::from_u32(2));
		let long = origin.publish(path("x"), vec![a, b], far);
		assert_eq!(watch.next().await.unwrap().active, Some(vec![a, b]));
		let short = origin.publish(path("x"), vec![a], near);
		assert_eq!(watch.next().await.unwrap().active, Some(vec![a]));
		assert_eq!(origin.route_count(), 2);
		let _track = origin.subscribe(&path("x"), "t").unwrap();
		assert!(near_requests.try_recv().is_some(), "the shortest route serves");
		assert!(far_requests.try_recv().is_none());
		// A longer route arriving later changes nothing.
		let (other, _other_requests) = Upstream::channel();
		let longer = origin.publish(path("x"), vec![b, a, b], other);
		drop(longer);
		// The short route goes: the long one takes over, without an end in between.
		drop(short);
		assert_eq!(watch.next().await.unwrap().active, Some(vec![a, b]));
		let _again = origin.subscribe(&path("x"), "t").unwrap();
		assert!(
			far_requests.try_recv().is_some(),
			"new subscribers use the remaining route"
		);
		drop(long);
		assert_eq!(watch.next().await.unwrap().active, None);
		assert_eq!(origin.route_count(), 0);
	}

	#[tokio::test]
	async fn announcements_snapshot_then_changes_and_replacement() {
		let origin = Arc::new(Origin::default());
		let (upstream, _requests) = Upstream::channel();
		let first = origin.publish(path("anon/a"), vec![], upstream.clone());
		let _elsewhere = origin.publish(path("other/b"), vec![], upstream.clone());
		let mut watch = origin.announced(path("anon"));
		assert_eq!(watch.take_current(), vec![(path("anon/a"), vec![])]);

		// A re-announcement with an equally short chain (a client publishing the same path again)
		// replaces the older one: watchers hear of it once more.
		let second = origin.publish(path("anon/a"), vec![], upstream.clone());
		assert_eq!(
			watch.next().await.unwrap(),
			AnnounceUpdate {
				path: path("anon/a"),
				active: Some(vec![])
			}
		);
		// The replaced publication ending does not end its replacement.
		drop(first);
		assert_eq!(origin.broadcast_count(), 2);
		drop(second);
		assert_eq!(
			watch.next().await.unwrap(),
			AnnounceUpdate {
				path: path("anon/a"),
				active: None
			}
		);
	}
}
