//! One track shared by every subscriber: a cache of recent groups, each a
//! growing list of frames that any number of readers follow at their own pace.
//!
//! Memory is bounded by the [`CachePolicy`]: old groups are evicted by age and
//! count (never the latest), and a group is capped in bytes. Readers hold
//! `Arc<Group>`s, so a reader that stalls keeps only the groups it is still
//! writing alive; the session bounds how many those are.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::watch;

use super::CachePolicy;
use crate::wire::{Frame, StreamCode};

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
}

/// A shared track. Producers: the publishing session's upstream subscription.
/// Consumers: every downstream subscription and fetch.
pub struct Track {
	name: String,
	policy: CachePolicy,
	cache: Mutex<Cache>,
	/// Bumped on every new group and on the end, so readers can wait.
	changed: watch::Sender<u64>,
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
	pub(super) fn new(name: String, policy: CachePolicy) -> Self {
		Self {
			name,
			policy,
			cache: Mutex::new(Cache {
				groups: VecDeque::new(),
				end: None,
			}),
			changed: watch::Sender::new(0),
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
	pub fn create_group(&self, sequence: u64) -> Option<GroupWriter> {
		self.create_group_at(sequence, Instant::now())
	}

	fn create_group_at(&self, sequence: u64, arrived: Instant) -> Option<GroupWriter> {
		let mut cache = self.lock();
		if cache.groups.iter().any(|g| g.sequence == sequence) {
			return None;
		}
		let group = Arc::new(Group::new(sequence, arrived, self.policy.max_group_bytes));
		let at = cache.groups.partition_point(|g| g.sequence < sequence);
		cache.groups.insert(at, group.clone());
		Self::evict(&mut cache, &self.policy);
		if !cache.groups.iter().any(|g| Arc::ptr_eq(g, &group)) {
			return None;
		}
		drop(cache);
		self.changed.send_modify(|n| *n += 1);
		Some(GroupWriter { group, done: false })
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

	/// The newest cached group.
	pub fn latest(&self) -> Option<Arc<Group>> {
		self.lock().groups.back().cloned()
	}

	/// The cached group `sequence`.
	pub fn group(&self, sequence: u64) -> Option<Arc<Group>> {
		self.lock().groups.iter().find(|g| g.sequence == sequence).cloned()
	}
}

#[derive(Default)]
struct GroupState {
	/// Each frame with its arrival (when the upstream appended it), for the relay latency metric.
	frames: Vec<(Frame, Instant)>,
	bytes: usize,
	end: Option<TrackEnd>,
}

/// One group: frames appended by the upstream, read by many.
pub struct Group {
	sequence: u64,
	arrived: Instant,
	max_bytes: usize,
	state: watch::Sender<GroupState>,
}

impl std::fmt::Debug for Group {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("Group")
			.field("sequence", &self.sequence)
			.finish_non_exhaustive()
	}
}

impl Group {
	fn new(sequence: u64, arrived: Instant, max_bytes: usize) -> Self {
		Self {
			sequence,
			arrived,
			max_bytes,
			state: watch::Sender::new(GroupState::default()),
		}
	}

	/// The group sequence number.
	pub fn sequence(&self) -> u64 {
		self.sequence
	}

	/// A reader from the first frame.
	pub fn reader(self: &Arc<Self>) -> GroupReader {
		GroupReader {
			rx: self.state.subscribe(),
			index: 0,
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

impl GroupWriter {
	/// Appends a frame. Fails with `GROUP_TOO_LARGE` past the byte cap (the group
	/// is then aborted).
	pub fn push(&mut self, frame: Frame) -> Result<(), StreamCode> {
		let max = self.group.max_bytes;
		let mut too_large = false;
		self.group.state.send_modify(|s| {
			if s.bytes + frame.payload.len() > max {
				too_large = true;
				s.end = Some(TrackEnd::Aborted(StreamCode::GROUP_TOO_LARGE));
			} else {
				s.bytes += frame.payload.len();
				s.frames.push((frame, Instant::now()));
			}
		});
		if too_large {
			self.done = true;
			return Err(StreamCode::GROUP_TOO_LARGE);
		}
		Ok(())
	}

	/// Bytes the group may still take before `GROUP_TOO_LARGE`.
	pub fn remaining(&self) -> usize {
		let bytes = self.group.state.borrow().bytes;
		self.group.max_bytes.saturating_sub(bytes)
	}

	/// Marks the group complete.
	pub fn finish(mut self) {
		self.done = true;
		self.group.end(TrackEnd::Finished);
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

/// Follows a group frame by frame.
pub struct GroupReader {
	rx: watch::Receiver<GroupState>,
	index: usize,
}

impl GroupReader {
	/// The next frame; `Ok(None)` once the group is complete, `Err` if it was aborted.
	pub async fn next(&mut self) -> Result<Option<Frame>, StreamCode> {
		Ok(self.next_arrived().await?.map(|(frame, _)| frame))
	}

	/// [`GroupReader::next`], with the instant the frame arrived at the relay.
	pub async fn next_arrived(&mut self) -> Result<Option<(Frame, Instant)>, StreamCode> {
		loop {
			{
				let state = self.rx.borrow_and_update();
				if let Some(frame) = state.frames.get(self.index) {
					self.index += 1;
					return Ok(Some(frame.clone()));
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
}

#[cfg(test)]
mod tests {
	use std::time::Duration;

	use bytes::Bytes;

	use super::*;

	fn frame(text: &'static str) -> Frame {
		Frame {
			timestamp_delta: 0,
			payload: Bytes::from_static(text.as_bytes()),
		}
	}

	#[tokio::test]
	async fn readers_follow_a_growing_group() {
		let track = Track::new("t".into(), CachePolicy::default());
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
		};
		let track = Track::new("t".into(), policy);
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

	#[tokio::test]
	async fn age_evicts_all_but_the_latest() {
		let policy = CachePolicy {
			max_age: Duration::ZERO,
			..CachePolicy::default()
		};
		let track = Track::new("t".into(), policy);
		let start = Instant::now();
		let _a = track.create_group_at(1, start);
		let _b = track.create_group_at(2, start + Duration::from_millis(1));
		let seqs: Vec<u64> = track.groups_after(None).iter().map(|g| g.sequence()).collect();
		assert_eq!(seqs, [2]);
	}
}
