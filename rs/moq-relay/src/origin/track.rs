//! One track shared by every subscriber: a cache of recent groups, each a
//! growing list of frames that any number of readers follow at their own pace. A frame is its
//! header, then its payload's chunks as they arrive: readers pass a large frame on while it is
//! still arriving, and never hold more of it than the publisher has sent.
//!
//! Memory is bounded by the [`CachePolicy`]: old groups are evicted by age and
//! count (never the latest), and a group is capped in bytes. Readers hold
//! `Arc<Group>`s, so a reader that stalls keeps only the groups it is still
//! writing alive; the session bounds how many those are.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::watch;

use super::CachePolicy;
use super::budget::CacheBudget;
use crate::wire::{Frame, FrameHeader, StreamCode};

/// How a track or a group ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackEnd {
	/// Completed normally.
	Finished,
	/// Abandoned with a stream code.
	Aborted(StreamCode),
}

struct Cache {
	groups: VecDeque<Arc<Group>>,
	end: Option<TrackEnd>,
	/// The newest datagrams, at most [`DATAGRAMS_KEPT`].
	datagrams: VecDeque<Datagram>,
	/// Datagrams pushed, ever: the index of the next one.
	pushed: u64,
}

/// How many of a track's newest datagrams it keeps for subscribers to send: a subscriber that
/// falls further behind skips the older ones (datagrams are best-effort). At most 1,200 bytes
/// each, 38 KiB per track.
pub const DATAGRAMS_KEPT: usize = 32;

/// A datagram of the track: a whole single-frame group that the publisher sent best-effort and
/// the relay passes on the same way, outside the cache of groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
	/// The group sequence (shared with the track's groups).
	pub sequence: u64,
	/// The absolute timestamp, in the track's timescale.
	pub timestamp: u64,
	/// The frame.
	pub payload: Bytes,
}

/// A shared track. Producers: the publishing session's upstream subscription.
/// Consumers: every downstream subscription and fetch.
pub struct Track {
	name: String,
	policy: CachePolicy,
	/// The relay's total cache bytes, shared by every track.
	budget: Arc<CacheBudget>,
	cache: Mutex<Cache>,
	/// Bumped on every new group and on the end, so readers can wait.
	changed: watch::Sender<u64>,
	/// The count of datagrams pushed, so subscribers can wait for the next.
	datagrams: watch::Sender<u64>,
	/// Dropped with the track: tells the upstream subscription nobody is left.
	alive: watch::Sender<()>,
}

impl std::fmt::Debug for Track {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("Track")
			.field("name", &self.name)
			.finish_non_exhaustive()
	}
}

impl Track {
	pub(super) fn new(name: String, policy: CachePolicy, budget: Arc<CacheBudget>) -> Self {
		Self {
			name,
			policy,
			budget,
			cache: Mutex::new(Cache {
				groups: VecDeque::new(),
				end: None,
				datagrams: VecDeque::new(),
				pushed: 0,
			}),
			changed: watch::Sender::new(0),
			datagrams: watch::Sender::new(0),
			alive: watch::Sender::new(()),
		}
	}

	fn lock(&self) -> MutexGuard<'_, Cache> {
		self.cache.lock().unwrap_or_else(|e| e.into_inner())
	}

	/// The track name.
	pub fn name(&self) -> &str {
		&self.name
	}

	/// Starts group `sequence`. `None` if it is already cached (a duplicate) or
	/// too old to be kept. Evicts by the cache policy, never the latest group.
	pub fn create_group(self: &Arc<Self>, sequence: u64) -> Option<GroupWriter> {
		self.create_group_at(sequence, Instant::now())
	}

	fn create_group_at(self: &Arc<Self>, sequence: u64, arrived: Instant) -> Option<GroupWriter> {
		let mut cache = self.lock();
		if cache.groups.iter().any(|g| g.sequence == sequence) {
			return None;
		}
		let budget = self.budget.clone();
		let group = Arc::new(Group::new(sequence, arrived, self.policy.max_group_bytes, budget));
		let at = cache.groups.partition_point(|g| g.sequence < sequence);
		cache.groups.insert(at, group.clone());
		Self::evict(&mut cache, &self.policy);
		if !cache.groups.iter().any(|g| Arc::ptr_eq(g, &group)) {
			return None;
		}
		drop(cache);
		self.budget.register(Arc::downgrade(self), Arc::downgrade(&group));
		self.changed.send_modify(|n| *n += 1);
		Some(GroupWriter { group, done: false })
	}

	/// Takes `group` out of the cache for the relay's total budget; `false` (and nothing done) when
	/// it is the latest group, which new subscribers start from.
	pub(super) fn evict_group(&self, group: &Arc<Group>) -> bool {
		let mut cache = self.lock();
		if cache.groups.back().is_some_and(|latest| Arc::ptr_eq(latest, group)) {
			return false;
		}
		cache.groups.retain(|g| !Arc::ptr_eq(g, group));
		true
	}

	fn evict(cache: &mut Cache, policy: &CachePolicy) {
		while cache.groups.len() > policy.max_groups.max(1) {
			cache.groups.pop_front();
		}
		let Some(newest) = cache.groups.iter().map(|g| g.arrived).max() else {
			return;
		};
		let latest = cache.groups.back().map(|g| g.sequence);
		cache
			.groups
			.retain(|g| Some(g.sequence) == latest || newest.duration_since(g.arrived) <= policy.max_age);
	}

	/// A receiver whose `changed()` fails once the last subscriber dropped the track.
	pub fn alive(&self) -> watch::Receiver<()> {
		self.alive.subscribe()
	}

	/// Ends the track: no more groups will come.
	pub fn end(&self, end: TrackEnd) {
		let mut cache = self.lock();
		if cache.end.is_none() {
			cache.end = Some(end);
			drop(cache);
			self.changed.send_modify(|n| *n += 1);
		}
	}

	/// How the track ended, if it did.
	pub fn ended(&self) -> Option<TrackEnd> {
		self.lock().end
	}

	/// A receiver that changes whenever a group arrives or the track ends.
	pub fn watch(&self) -> watch::Receiver<u64> {
		self.changed.subscribe()
	}

	/// The cached groups with a sequence above `after` (all if `None`), oldest first.
	pub fn groups_after(&self, after: Option<u64>) -> Vec<Arc<Group>> {
		self.lock()
			.groups
			.iter()
			.filter(|g| after.is_none_or(|a| g.sequence > a))
			.cloned()
			.collect()
	}

	/// Keeps a datagram for the subscribers to send, dropping the oldest beyond
	/// [`DATAGRAMS_KEPT`]; ignored once the track ended.
	pub fn push_datagram(&self, datagram: Datagram) {
		let mut cache = self.lock();
		if cache.end.is_some() {
			return;
		}
		if cache.datagrams.len() == DATAGRAMS_KEPT {
			cache.datagrams.pop_front();
		}
		cache.datagrams.push_back(datagram);
		cache.pushed += 1;
		let pushed = cache.pushed;
		drop(cache);
		self.datagrams.send_replace(pushed);
	}

	/// The datagrams kept from index `next` on (the older ones are gone), and the index after
	/// the last.
	pub fn datagrams_from(&self, next: u64) -> (Vec<Datagram>, u64) {
		let cache = self.lock();
		let kept = cache.datagrams.len() as u64;
		let oldest = cache.pushed - kept;
		let skip = usize::try_from(next.saturating_sub(oldest)).unwrap_or(usize::MAX);
		(cache.datagrams.iter().skip(skip).cloned().collect(), cache.pushed)
	}

	/// A receiver that changes whenever a datagram arrives; its value is the index after the
	/// newest.
	pub fn watch_datagrams(&self) -> watch::Receiver<u64> {
		self.datagrams.subscribe()
	}

	/// The newest cached group.
	pub fn latest(&self) -> Option<Arc<Group>> {
		self.lock().groups.back().cloned()
	}

	/// The cached group `sequence`.
	pub fn group(&self, sequence: u64) -> Option<Arc<Group>> {
		self.lock().groups.iter().find(|g| g.sequence == sequence).cloned()
	}
}

/// Chunks a frame may hold before each must carry [`COALESCE`] bytes: a publisher sending a frame one
/// byte per packet would otherwise cost the relay a chunk (a `Bytes` and its slot, ~32 bytes) per byte.
const SMALL_CHUNKS: usize = 8;

/// The smallest chunk a frame takes once it holds [`SMALL_CHUNKS`] plus one per this many bytes.
pub const COALESCE: usize = 1024;

/// One frame of a group: its header, then its payload as the chunks that have arrived.
struct FrameState {
	header: FrameHeader,
	chunks: Vec<Bytes>,
	/// Payload bytes in `chunks`.
	received: usize,
	/// When its last byte arrived (the relay latency metric's start); `None` while it is incomplete.
	completed: Option<Instant>,
}

impl FrameState {
	fn size(&self) -> usize {
		usize::try_from(self.header.size.into_inner()).unwrap_or(usize::MAX)
	}
}

#[derive(Default)]
struct GroupState {
	frames: Vec<FrameState>,
	/// Bytes of the frames begun, counted from their headers: the group's budget is spent when a
	/// frame starts, before any of its payload arrives.
	bytes: usize,
	end: Option<TrackEnd>,
}

impl GroupState {
	/// The frame still receiving its payload, if any.
	fn open(&mut self) -> Option<&mut FrameState> {
		self.frames.last_mut().filter(|f| f.completed.is_none())
	}
}

/// One group: frames appended by the upstream, each as its header then its payload's chunks as they
/// arrive, read by many. Every reader gets the same `Bytes` (a reference count, never a copy).
pub struct Group {
	sequence: u64,
	arrived: Instant,
	max_bytes: usize,
	state: watch::Sender<GroupState>,
	/// Charged for the group's frames; refunded when the group is dropped.
	budget: Arc<CacheBudget>,
}

impl Drop for Group {
	fn drop(&mut self) {
		self.budget.refund(self.state.borrow().bytes);
	}
}

impl std::fmt::Debug for Group {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("Group")
			.field("sequence", &self.sequence)
			.finish_non_exhaustive()
	}
}

impl Group {
	fn new(sequence: u64, arrived: Instant, max_bytes: usize, budget: Arc<CacheBudget>) -> Self {
		Self {
			sequence,
			arrived,
			max_bytes,
			state: watch::Sender::new(GroupState::default()),
			budget,
		}
	}

	/// The group sequence number.
	pub fn sequence(&self) -> u64 {
		self.sequence
	}

	/// How many frames the group has begun (the last may still be arriving).
	pub fn begun(&self) -> u64 {
		u64::try_from(self.state.borrow().frames.len()).unwrap_or(u64::MAX)
	}

	/// A reader from the first frame.
	pub fn reader(self: &Arc<Self>) -> GroupReader {
		GroupReader {
			rx: self.state.subscribe(),
			next: 0,
			current: None,
			chunk: 0,
			completed: None,
		}
	}

	/// A group outside every track's cache, for one FETCH the cache could not answer
	/// ([`super::Origin::fetch`]): the publisher's answer fills it through the writer. Its frames
	/// are charged to the relay's cache budget while it lives; no subscription ever sees it.
	pub(super) fn detached(sequence: u64, max_bytes: usize, budget: Arc<CacheBudget>) -> (Arc<Self>, GroupWriter) {
		let group = Arc::new(Self::new(sequence, Instant::now(), max_bytes, budget));
		let writer = GroupWriter {
			group: group.clone(),
			done: false,
		};
		(group, writer)
	}

	/// Whether the group was aborted (by its writer, or dropped unfinished).
	pub fn aborted(&self) -> bool {
		matches!(self.state.borrow().end, Some(TrackEnd::Aborted(_)))
	}

	/// How the group ended, once it has: complete or aborted with a code.
	pub async fn ended(&self) -> TrackEnd {
		let mut rx = self.state.subscribe();
		loop {
			if let Some(end) = rx.borrow_and_update().end {
				return end;
			}
			// The sender lives in `self`: it cannot be dropped while this waits.
			if rx.changed().await.is_err() {
				return TrackEnd::Aborted(StreamCode::CANCEL);
			}
		}
	}

	fn end(&self, end: TrackEnd) {
		self.state.send_if_modified(|s| {
			if s.end.is_some() {
				return false;
			}
			s.end = Some(end);
			true
		});
	}
}

/// Appends to a group; dropping it unfinished aborts the group, so readers
/// never take a truncated group for a complete one.
pub struct GroupWriter {
	group: Arc<Group>,
	done: bool,
}

impl std::fmt::Debug for GroupWriter {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("GroupWriter").field("group", &self.group).finish()
	}
}

impl GroupWriter {
	/// Begins a frame of `header.size` bytes, spending that much of the group's budget at once. Fails
	/// with `GROUP_TOO_LARGE` past the budget, and with `WRONG_SIZE` while the previous frame is
	/// still short of its size; the group is aborted then.
	pub fn start_frame(&mut self, header: FrameHeader) -> Result<(), StreamCode> {
		let max = self.group.max_bytes;
		let size = usize::try_from(header.size.into_inner()).unwrap_or(usize::MAX);
		let mut refused = None;
		self.group.state.send_modify(|s| {
			if s.end.is_some() {
				refused = Some(StreamCode::CANCEL);
				return;
			}
			let code = if s.open().is_some() {
				StreamCode::WRONG_SIZE
			} else if size > max.saturating_sub(s.bytes) {
				StreamCode::GROUP_TOO_LARGE
			} else {
				s.bytes += size;
				s.frames.push(FrameState {
					header,
					chunks: Vec::new(),
					received: 0,
					// An empty payload is complete with its header.
					completed: (size == 0).then(Instant::now),
				});
				return;
			};
			s.end = Some(TrackEnd::Aborted(code));
			refused = Some(code);
		});
		if refused.is_none() {
			// Charged from the header, like the group's own budget; over the relay's total, the
			// oldest groups of any track leave the caches.
			self.group.budget.charge(size);
		}
		self.refused(refused)
	}

	/// Appends a chunk of the open frame's payload: every reader may send it on at once. Fails with
	/// `WRONG_SIZE` when no frame is open or the chunk passes the frame's size (the group is
	/// aborted then).
	pub fn append(&mut self, chunk: Bytes) -> Result<(), StreamCode> {
		if chunk.is_empty() {
			return Ok(());
		}
		let mut refused = None;
		self.group.state.send_modify(|s| {
			if let Some(TrackEnd::Aborted(code)) = s.end {
				refused = Some(code);
				return;
			}
			match s.open() {
				Some(frame) if chunk.len() <= frame.size() - frame.received => {
					frame.received += chunk.len();
					frame.chunks.push(chunk);
					if frame.received == frame.size() {
						frame.completed = Some(Instant::now());
					}
				}
				_ => {
					s.end = Some(TrackEnd::Aborted(StreamCode::WRONG_SIZE));
					refused = Some(StreamCode::WRONG_SIZE);
				}
			}
		});
		self.refused(refused)
	}

	fn refused(&mut self, refused: Option<StreamCode>) -> Result<(), StreamCode> {
		match refused {
			Some(code) => {
				self.done = true;
				Err(code)
			}
			None => Ok(()),
		}
	}

	/// Appends a whole frame ([`GroupWriter::start_frame`], then its payload as one chunk).
	pub fn push(&mut self, frame: Frame) -> Result<(), StreamCode> {
		let header = frame.header().map_err(|_| StreamCode::FRAME_TOO_LARGE)?;
		self.start_frame(header)?;
		self.append(frame.payload)
	}

	/// Payload bytes the open frame still expects (0 when none is open).
	pub fn frame_remaining(&self) -> usize {
		let state = self.group.state.borrow();
		state
			.frames
			.last()
			.filter(|f| f.completed.is_none())
			.map_or(0, |f| f.size() - f.received)
	}

	/// The smallest next chunk the open frame takes (never more than it still expects): any size
	/// while it holds fewer than [`SMALL_CHUNKS`] chunks plus one per [`COALESCE`] bytes received,
	/// [`COALESCE`] bytes after that. So a frame of `n` bytes is at most `8 + n / 1024` chunks
	/// (plus its last), however its publisher paced it, and a frame sent at the usual packet size
	/// (over 1 KiB a chunk) is never held back waiting for more: each part is what has arrived.
	pub fn min_chunk(&self) -> usize {
		let state = self.group.state.borrow();
		let Some(frame) = state.frames.last().filter(|f| f.completed.is_none()) else {
			return 0;
		};
		let left = frame.size() - frame.received;
		if frame.chunks.len() < SMALL_CHUNKS + frame.received / COALESCE {
			left.min(1)
		} else {
			left.min(COALESCE)
		}
	}

	/// Bytes the group may still take before `GROUP_TOO_LARGE` (frames begun count whole).
	pub fn remaining(&self) -> usize {
		let bytes = self.group.state.borrow().bytes;
		self.group.max_bytes.saturating_sub(bytes)
	}

	/// The group's sequence number.
	pub fn sequence(&self) -> u64 {
		self.group.sequence
	}

	/// Tells, while the writer is busy, whether anybody but the writer still holds the group: a
	/// [`Group::detached`] group nobody else holds was given up, and filling it serves nobody.
	pub fn held(&self) -> impl Fn() -> bool + use<> {
		let group = Arc::downgrade(&self.group);
		move || group.strong_count() > 1
	}

	/// Marks the group complete. A frame still short of its size aborts it with `WRONG_SIZE`
	/// instead, so no reader takes a truncated frame for a whole one.
	pub fn finish(mut self) {
		self.done = true;
		let short = self.frame_remaining() > 0;
		self.group.end(if short {
			TrackEnd::Aborted(StreamCode::WRONG_SIZE)
		} else {
			TrackEnd::Finished
		});
	}

	/// Abandons the group.
	pub fn abort(mut self, code: StreamCode) {
		self.done = true;
		self.group.end(TrackEnd::Aborted(code));
	}
}

impl Drop for GroupWriter {
	fn drop(&mut self) {
		if !self.done {
			self.group.end(TrackEnd::Aborted(StreamCode::CANCEL));
		}
	}
}

/// Follows a group frame by frame, and each frame chunk by chunk as its payload arrives.
pub struct GroupReader {
	rx: watch::Receiver<GroupState>,
	/// The index of the next frame [`GroupReader::next_frame`] returns.
	next: usize,
	/// The frame whose chunks [`GroupReader::next_chunk`] returns.
	current: Option<usize>,
	/// The next chunk of `current`.
	chunk: usize,
	/// When the last frame read to its end completed.
	completed: Option<Instant>,
}

impl GroupReader {
	/// The next frame's header (its payload follows from [`GroupReader::next_chunk`]); `Ok(None)`
	/// once the group is complete, `Err` if it was aborted. Chunks of the previous frame not read
	/// are skipped.
	pub async fn next_frame(&mut self) -> Result<Option<FrameHeader>, StreamCode> {
		self.current = None;
		self.completed = None;
		loop {
			{
				let state = self.rx.borrow_and_update();
				if let Some(frame) = state.frames.get(self.next) {
					self.current = Some(self.next);
					self.chunk = 0;
					self.next += 1;
					return Ok(Some(frame.header));
				}
				match state.end {
					Some(TrackEnd::Finished) => return Ok(None),
					Some(TrackEnd::Aborted(code)) => return Err(code),
					None => {}
				}
			}
			if self.rx.changed().await.is_err() {
				return Err(StreamCode::CANCEL);
			}
		}
	}

	/// The next chunk of the current frame's payload, as soon as it has arrived; `Ok(None)` once
	/// the frame is complete (and before any [`GroupReader::next_frame`]), `Err` if the group was
	/// aborted before the frame completed.
	pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, StreamCode> {
		let Some(index) = self.current else {
			return Ok(None);
		};
		loop {
			{
				let state = self.rx.borrow_and_update();
				let frame = &state.frames[index];
				if let Some(chunk) = frame.chunks.get(self.chunk) {
					self.chunk += 1;
					return Ok(Some(chunk.clone()));
				}
				if let Some(completed) = frame.completed {
					self.completed = Some(completed);
					return Ok(None);
				}
				match state.end {
					// Finished with a frame short of its size: the writer refuses that, so this
					// is only defensive.
					Some(TrackEnd::Finished) => return Err(StreamCode::WRONG_SIZE),
					Some(TrackEnd::Aborted(code)) => return Err(code),
					None => {}
				}
			}
			if self.rx.changed().await.is_err() {
				return Err(StreamCode::CANCEL);
			}
		}
	}

	/// When the current frame's last byte arrived at the relay, once
	/// [`GroupReader::next_chunk`] has returned `Ok(None)` for it.
	pub fn frame_completed(&self) -> Option<Instant> {
		self.completed
	}

	/// The next whole frame (its chunks joined, a copy when there are several); `Ok(None)` once
	/// the group is complete, `Err` if it was aborted.
	pub async fn next(&mut self) -> Result<Option<Frame>, StreamCode> {
		let Some(header) = self.next_frame().await? else {
			return Ok(None);
		};
		let mut chunks = Vec::new();
		while let Some(chunk) = self.next_chunk().await? {
			chunks.push(chunk);
		}
		let payload = match chunks.len() {
			0 => Bytes::new(),
			1 => chunks.remove(0),
			_ => Bytes::from(chunks.concat()),
		};
		Ok(Some(Frame {
			timestamp_delta: header.timestamp_delta,
			payload,
		}))
	}
}

#[cfg(test)]
mod tests {
	use std::time::Duration;

	use bytes::Bytes;

	use super::*;

	fn unbounded() -> Arc<CacheBudget> {
		Arc::new(CacheBudget::new(usize::MAX))
	}

	/// A track keeps its newest [`DATAGRAMS_KEPT`] datagrams: a subscriber reads from its index
	/// on, skipping what is gone; its watch tells the count; once the track ended, no more.
	#[test]
	fn a_track_keeps_its_newest_datagrams() {
		let track = Track::new("t".into(), CachePolicy::default(), unbounded());
		let datagram = |sequence: u64| Datagram {
			sequence,
			timestamp: sequence * 10,
			payload: Bytes::from(sequence.to_string()),
		};
		let watch = track.watch_datagrams();
		let sequences = |from| {
			let (datagrams, next) = track.datagrams_from(from);
			(datagrams.iter().map(|d| d.sequence).collect::<Vec<_>>(), next)
		};
		assert_eq!(sequences(0), (vec![], 0));
		for sequence in 0..40 {
			track.push_datagram(datagram(sequence));
		}
		assert_eq!(*watch.borrow(), 40);
		let kept = DATAGRAMS_KEPT as u64;
		assert_eq!(sequences(0), ((40 - kept..40).collect(), 40), "the oldest are gone");
		assert_eq!(sequences(38), (vec![38, 39], 40));
		assert_eq!(sequences(40), (vec![], 40));
		assert_eq!(track.datagrams_from(39).0, vec![datagram(39)]);
		track.end(TrackEnd::Finished);
		track.push_datagram(datagram(40));
		assert_eq!(sequences(40), (vec![], 40), "a datagram after the end");
	}

	#[tokio::test]
	async fn the_total_budget_evicts_the_oldest_groups_of_any_track_but_never_a_latest() {
		let meters = crate::origin::CacheMeters::default();
		let budget = Arc::new(CacheBudget::with_meters(10_000, meters.clone()));
		let track = |name: &str| Arc::new(Track::new(name.into(), CachePolicy::default(), budget.clone()));
		let (a, b) = (track("a"), track("b"));
		let write = |track: &Arc<Track>, sequence| {
			let mut writer = track.create_group(sequence).unwrap();
			let frame = Frame {
				timestamp_delta: 0,
				payload: Bytes::from(vec![7u8; 4000]),
			};
			writer.push(frame).unwrap();
			writer.finish();
		};
		write(&a, 0);
		write(&b, 0);
		assert_eq!(budget.used(), 8000);
		// 12,000 bytes: the oldest group of any track goes.
		write(&a, 1);
		assert!(a.group(0).is_none() && b.group(0).is_some(), "a/0 was the oldest");
		assert_eq!(budget.used(), 8000);
		write(&b, 1);
		assert!(b.group(0).is_none() && a.group(1).is_some());
		assert_eq!(budget.used(), 8000);
		assert_eq!(
			(meters.bytes.get(), meters.evictions.get()),
			(8000, 2),
			"the metrics follow"
		);
		// Only latest groups left: they all stay, even over the budget.
		let c = track("c");
		write(&c, 0);
		assert!(a.group(1).is_some() && b.group(1).is_some() && c.group(0).is_some());
		assert_eq!(budget.used(), 12_000);
		// A group a reader holds leaves the cache but stays charged until the reader lets go.
		let held = a.group(1).unwrap();
		write(&a, 2);
		assert!(a.group(1).is_none());
		assert_eq!(budget.used(), 16_000);
		drop(held);
		assert_eq!(budget.used(), 12_000);
		drop((a, b, c));
		assert_eq!(budget.used(), 0, "every group refunded");
		assert_eq!((meters.bytes.get(), meters.evictions.get()), (0, 3));
	}

	fn frame(text: &'static str) -> Frame {
		Frame {
			timestamp_delta: 0,
			payload: Bytes::from_static(text.as_bytes()),
		}
	}

	#[tokio::test]
	async fn readers_follow_a_growing_group() {
		let track = Arc::new(Track::new("t".into(), CachePolicy::default(), unbounded()));
		let mut writer = track.create_group(5).unwrap();
		let group = track.latest().unwrap();
		let mut reader = group.reader();
		writer.push(frame("a")).unwrap();
		assert_eq!(reader.next().await.unwrap().unwrap().payload, "a");
		let late = tokio::spawn(async move { reader.next().await });
		writer.push(frame("b")).unwrap();
		assert_eq!(late.await.unwrap().unwrap().unwrap().payload, "b");
		writer.finish();
		let mut again = group.reader();
		assert_eq!(again.next().await.unwrap().unwrap().payload, "a");
		assert_eq!(again.next().await.unwrap().unwrap().payload, "b");
		assert_eq!(again.next().await, Ok(None));
		assert!(track.create_group(5).is_none(), "duplicates are refused");
	}

	#[tokio::test]
	async fn dropped_writer_aborts_and_cache_is_bounded() {
		let policy = CachePolicy {
			max_age: Duration::from_secs(60),
			max_groups: 3,
			max_group_bytes: 4,
			..CachePolicy::default()
		};
		let track = Arc::new(Track::new("t".into(), policy, unbounded()));
		for seq in 0..10 {
			drop(track.create_group(seq));
		}
		let seqs: Vec<u64> = track.groups_after(None).iter().map(|g| g.sequence()).collect();
		assert_eq!(seqs, [7, 8, 9]);
		assert!(track.create_group(1).is_none(), "older than the whole cache");
		assert_eq!(track.latest().unwrap().reader().next().await, Err(StreamCode::CANCEL));

		let mut writer = track.create_group(20).unwrap();
		assert_eq!(writer.push(frame("12345")), Err(StreamCode::GROUP_TOO_LARGE));
	}

	fn header(size: u32) -> FrameHeader {
		FrameHeader {
			timestamp_delta: 7,
			size: crate::wire::VarInt::from_u32(size),
		}
	}

	#[tokio::test]
	async fn a_frame_is_read_chunk_by_chunk_as_it_arrives() {
		let track = Arc::new(Track::new("t".into(), CachePolicy::default(), unbounded()));
		let mut writer = track.create_group(1).unwrap();
		let group = track.latest().unwrap();
		let (mut one, mut two) = (group.reader(), group.reader());
		writer.start_frame(header(6)).unwrap();
		assert_eq!(
			one.next_frame().await,
			Ok(Some(header(6))),
			"the header before any payload"
		);
		let chunk = Bytes::from(b"abc".to_vec());
		writer.append(chunk.clone()).unwrap();
		let first = one.next_chunk().await.unwrap().unwrap();
		assert_eq!(first, "abc");
		// The frame is not complete: the next chunk is awaited, and delivered when it arrives.
		let waiting = tokio::spawn(async move {
			let chunk = one.next_chunk().await;
			let end = one.next_chunk().await;
			(chunk, end, one.frame_completed().is_some(), one)
		});
		tokio::task::yield_now().await;
		assert!(!waiting.is_finished(), "a chunk was invented");
		writer.append(Bytes::from_static(b"def")).unwrap();
		let (second, end, completed, mut one) = waiting.await.unwrap();
		assert_eq!(second.unwrap().unwrap(), "def");
		assert_eq!(end, Ok(None));
		assert!(completed, "a complete frame has its arrival");
		writer.finish();
		assert_eq!(one.next_frame().await, Ok(None));
		// Every reader gets the very bytes appended: a reference, not a copy.
		assert_eq!(two.next_frame().await, Ok(Some(header(6))));
		assert_eq!(two.next_chunk().await.unwrap().unwrap().as_ptr(), chunk.as_ptr());
		assert_eq!(first.as_ptr(), chunk.as_ptr());
		// A late reader gets the frame whole.
		let whole = group.reader().next().await.unwrap().unwrap();
		assert_eq!((whole.timestamp_delta, &whole.payload[..]), (7, &b"abcdef"[..]));
	}

	#[tokio::test]
	async fn the_group_budget_is_spent_from_the_header() {
		let policy = CachePolicy {
			max_group_bytes: 10,
			..CachePolicy::default()
		};
		let track = Arc::new(Track::new("t".into(), policy, unbounded()));
		let mut writer = track.create_group(1).unwrap();
		let mut reader = track.latest().unwrap().reader();
		writer.start_frame(header(8)).unwrap();
		assert_eq!(writer.remaining(), 2, "the whole frame counts before its payload");
		writer.append(Bytes::from_static(b"12345678")).unwrap();
		assert_eq!(writer.start_frame(header(3)), Err(StreamCode::GROUP_TOO_LARGE));
		assert_eq!(reader.next().await.unwrap().unwrap().payload, "12345678");
		assert_eq!(reader.next_frame().await, Err(StreamCode::GROUP_TOO_LARGE));
	}

	#[tokio::test]
	async fn a_frame_cut_short_aborts_the_group() {
		let track = Arc::new(Track::new("t".into(), CachePolicy::default(), unbounded()));
		// The publisher reset its stream mid-frame: readers get what arrived, then the reset.
		let mut writer = track.create_group(1).unwrap();
		let mut reader = track.latest().unwrap().reader();
		writer.start_frame(header(10)).unwrap();
		writer.append(Bytes::from_static(b"1234")).unwrap();
		writer.abort(StreamCode::app(9));
		assert!(reader.next_frame().await.unwrap().is_some());
		assert_eq!(reader.next_chunk().await.unwrap().unwrap(), "1234");
		assert_eq!(reader.next_chunk().await, Err(StreamCode::app(9)));

		// A frame finished short of its size, or overrun, is never delivered as whole.
		let mut writer = track.create_group(2).unwrap();
		let mut reader = track.latest().unwrap().reader();
		writer.start_frame(header(4)).unwrap();
		writer.append(Bytes::from_static(b"12")).unwrap();
		writer.finish();
		assert_eq!(reader.next().await, Err(StreamCode::WRONG_SIZE));
		let mut writer = track.create_group(3).unwrap();
		writer.start_frame(header(2)).unwrap();
		assert_eq!(writer.append(Bytes::from_static(b"123")), Err(StreamCode::WRONG_SIZE));
		assert_eq!(
			track.latest().unwrap().reader().next().await,
			Err(StreamCode::WRONG_SIZE)
		);
		// A frame begun before the previous one completed.
		let mut writer = track.create_group(4).unwrap();
		writer.start_frame(header(2)).unwrap();
		assert_eq!(writer.start_frame(header(2)), Err(StreamCode::WRONG_SIZE));
	}

	#[tokio::test]
	async fn an_empty_frame_is_complete_with_its_header() {
		let track = Arc::new(Track::new("t".into(), CachePolicy::default(), unbounded()));
		let mut writer = track.create_group(1).unwrap();
		writer.start_frame(header(0)).unwrap();
		assert_eq!(writer.frame_remaining(), 0);
		writer.start_frame(header(1)).unwrap();
		writer.append(Bytes::from_static(b"x")).unwrap();
		writer.finish();
		let mut reader = track.latest().unwrap().reader();
		assert_eq!(reader.next_frame().await, Ok(Some(header(0))));
		assert_eq!(reader.next_chunk().await, Ok(None));
		assert!(reader.frame_completed().is_some());
		// The next frame skips nothing and reads whole.
		assert_eq!(reader.next().await.unwrap().unwrap().payload, "x");
		assert_eq!(reader.next().await, Ok(None));
	}

	#[test]
	fn tiny_chunks_are_coalesced_once_a_frame_holds_many() {
		let track = Arc::new(Track::new("t".into(), CachePolicy::default(), unbounded()));
		let mut writer = track.create_group(1).unwrap();
		// Packet-sized chunks (over 1 KiB each) are taken one by one.
		writer.start_frame(header(40 * 1500)).unwrap();
		for _ in 0..40 {
			assert_eq!(writer.min_chunk(), 1);
			writer.append(Bytes::from(vec![0u8; 1500])).unwrap();
		}
		assert_eq!(writer.min_chunk(), 0, "no frame open");
		// One byte at a time: eight chunks, then each must hold a kibibyte.
		writer.start_frame(header(4000)).unwrap();
		for _ in 0..8 {
			assert_eq!(writer.min_chunk(), 1);
			writer.append(Bytes::from_static(b"x")).unwrap();
		}
		for _ in 0..3 {
			assert_eq!(writer.min_chunk(), COALESCE);
			writer.append(Bytes::from(vec![0u8; COALESCE])).unwrap();
		}
		// Never more than the frame still expects.
		assert_eq!(writer.frame_remaining(), 4000 - 8 - 3 * COALESCE);
		assert_eq!(writer.min_chunk(), 4000 - 8 - 3 * COALESCE);
		writer.append(Bytes::from(vec![0u8; 4000 - 8 - 3 * COALESCE])).unwrap();
		// A larger chunk earns room for small ones again.
		writer.start_frame(header(10_000)).unwrap();
		for _ in 0..8 {
			writer.append(Bytes::from_static(b"x")).unwrap();
		}
		writer.append(Bytes::from(vec![0u8; 4 * COALESCE])).unwrap();
		assert_eq!(writer.min_chunk(), 1);
	}

	#[tokio::test]
	async fn age_evicts_all_but_the_latest() {
		let policy = CachePolicy {
			max_age: Duration::ZERO,
			..CachePolicy::default()
		};
		let track = Arc::new(Track::new("t".into(), policy, unbounded()));
		let start = Instant::now();
		let _a = track.create_group_at(1, start);
		let _b = track.create_group_at(2, start + Duration::from_millis(1));
		let seqs: Vec<u64> = track.groups_after(None).iter().map(|g| g.sequence()).collect();
		assert_eq!(seqs, [2]);
	}
}
