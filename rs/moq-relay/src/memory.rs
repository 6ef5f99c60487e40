//! How fast the binary's allocator (jemalloc) gives memory that sessions freed back to the OS.
//!
//! jemalloc's defaults keep freed pages mapped for about 10 s, then mark them lazily freeable
//! (`MADV_FREE`, still counted in the RSS until the kernel needs the memory), and let each thread
//! keep a cache of freed objects until that thread allocates again. A relay whose sessions closed
//! and whose threads went idle therefore still held 29–39 % of what 300 idle sessions had added to
//! its RSS 15 s after they closed. With [`configure`] and [`on_park`] it holds 11 %
//! (`docs/performance.md`, "Giving memory back after sessions close"): freed pages go back within
//! [`DIRTY_DECAY_MS`], and an idle worker thread empties its cache.
//!
//! Decay alone still took 10–15 s, and sometimes left a quarter behind: a worker that parked
//! within [`FLUSH_EVERY`] of its last flush kept its cache until something woke it, and the pages
//! that cache then freed waited one more decay period. So when the relay's open sessions fall and
//! then hold still for a [`QUIET`] period ([`Quiet`], run by [`trim_when_quiet`]), every worker
//! empties its cache at its next park and returns the arenas' freed pages at once ([`purge`]).
//! At most one trim per [`TRIM_EVERY`]; a relay whose sessions come and go every second never
//! holds still, and decay alone applies.
//!
//! All of it uses jemalloc's documented controls (`mallctl`) through `tikv-jemalloc-ctl`: the
//! `arenas.dirty_decay_ms` and `arenas.muzzy_decay_ms` defaults, the same per existing arena
//! (setting an arena's to 0 purges its freed pages at once), and `thread.tcache.enabled`
//! (disabling a thread's cache flushes it).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moq_relay::metrics::Metrics;

use tikv_jemalloc_ctl::{Access, AsName};

/// How long freed pages stay mapped before jemalloc's background thread returns them
/// (`MADV_DONTNEED`), in milliseconds. jemalloc's default is 10,000. 5,000 cost no CPU that the
/// throughput benchmark could measure; 1,000 (with a flush every second) cost about 4 % more per
/// byte with small frames, from pages returned and faulted in again.
pub const DIRTY_DECAY_MS: isize = 5_000;

/// How long pages stay in the lazily freed state, in milliseconds: none, so returned pages leave
/// the RSS at once.
pub const MUZZY_DECAY_MS: isize = 0;

/// A worker thread empties its allocation cache when it goes idle at most this often. With
/// [`DIRTY_DECAY_MS`], what closed sessions freed is back with the OS within about 10 s.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// How long the open sessions must hold still after falling before memory is trimmed.
pub const QUIET: Duration = Duration::from_secs(1);

/// At most one trim this often: a relay whose sessions fall and settle again and again purges
/// no more often than its decay already returns pages.
pub const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Sets [`DIRTY_DECAY_MS`] and [`MUZZY_DECAY_MS`] as the default of arenas created from now on
/// and on every arena that exists. Call it once, early; an error leaves jemalloc's defaults.
pub fn configure() -> Result<(), tikv_jemalloc_ctl::Error> {
	b"arenas.dirty_decay_ms\0".name().write(DIRTY_DECAY_MS)?;
	b"arenas.muzzy_decay_ms\0".name().write(MUZZY_DECAY_MS)?;
	let arenas = tikv_jemalloc_ctl::arenas::narenas::read()?;
	for arena in 0..arenas {
		// An arena no thread has used yet does not exist (EFAULT); it takes the defaults above
		// when it is created.
		let _ = format!("arena.{arena}.dirty_decay_ms\0").name().write(DIRTY_DECAY_MS);
		let _ = format!("arena.{arena}.muzzy_decay_ms\0").name().write(MUZZY_DECAY_MS);
	}
	Ok(())
}

/// Trims asked for so far: a worker that has not seen the latest one flushes at its next park.
static TRIMS: AtomicU64 = AtomicU64::new(0);

thread_local! {
	/// When this thread last emptied its cache, and the trims it had seen then.
	static FLUSHED: Cell<Option<(Instant, u64)>> = const { Cell::new(None) };
}

/// For the runtime's `on_thread_park`: when a worker thread goes idle and has not emptied its
/// allocation cache for [`FLUSH_EVERY`], it does, so the freed objects it held can go back to
/// the OS with their pages. A busy thread rarely parks and keeps its cache. After a trim was
/// asked for ([`trim_when_quiet`]) it flushes at once and purges what that freed.
pub fn on_park() {
	let now = Instant::now();
	let trims = TRIMS.load(Ordering::Relaxed);
	let (due, trim) = FLUSHED.with(|flushed| {
		let (due, trim) = match flushed.get() {
			None => (true, false),
			Some((at, seen)) => (now.duration_since(at) >= FLUSH_EVERY || seen != trims, seen != trims),
		};
		if due {
			flushed.set(Some((now, trims)));
		}
		(due, trim)
	});
	if due {
		flush_thread_cache();
	}
	if trim {
		purge();
	}
}

/// Decides when to trim from the number of open sessions, looked at every [`QUIET`]: after
/// they fell, at the first look that finds them unchanged, and at most once per [`TRIM_EVERY`]
/// (a fall within it is trimmed when it is over). Sans-I/O, time passed in; [`trim_when_quiet`]
/// drives it.
#[derive(Debug, Default)]
pub struct Quiet {
	last: u64,
	fell: bool,
	trimmed: Option<Instant>,
}

impl Quiet {
	/// Takes the number of open sessions at `now`; `true` when memory should be trimmed.
	pub fn observe(&mut self, now: Instant, sessions: u64) -> bool {
		let still = match sessions.cmp(&self.last) {
			std::cmp::Ordering::Less => {
				self.fell = true;
				false
			}
			std::cmp::Ordering::Equal => true,
			// Sessions arriving need memory: wait until they hold still.
			std::cmp::Ordering::Greater => false,
		};
		self.last = sessions;
		let due = self.trimmed.is_none_or(|at| now.duration_since(at) >= TRIM_EVERY);
		let trim = still && self.fell && due;
		if trim {
			self.fell = false;
			self.trimmed = Some(now);
		}
		trim
	}
}

/// Runs for the life of the relay: when its open sessions ([`Metrics::sessions_active`], and the
/// WebSocket connections still closing after theirs) fell and then held still for [`QUIET`], asks
/// every worker to empty its cache and purges the arenas' freed pages, so what the closed sessions
/// held leaves the RSS within seconds.
pub async fn trim_when_quiet(metrics: Arc<Metrics>) {
	let mut quiet = Quiet::default();
	let mut tick = tokio::time::interval(QUIET);
	tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		tick.tick().await;
		// A WebSocket session's memory is freed when its socket goes, after the session.
		let open = metrics.sessions_active() + moq_relay::transport::ws::open_connections();
		if quiet.observe(Instant::now(), open) {
			TRIMS.fetch_add(1, Ordering::Relaxed);
			// Wake idle workers: each one that finds no work parks again and flushes (a
			// spawned task is offered to a parked worker). This task's own thread flushes
			// when it parks after this.
			let workers = tokio::runtime::Handle::current().metrics().num_workers();
			for _ in 0..workers {
				tokio::spawn(async {});
			}
			purge();
			metrics.memory_trimmed();
		}
	}
}

/// Returns every arena's freed pages to the OS now: setting an arena's `dirty_decay_ms` to 0
/// purges them, and [`DIRTY_DECAY_MS`] is set again right after.
pub fn purge() {
	let Ok(arenas) = tikv_jemalloc_ctl::arenas::narenas::read() else {
		return;
	};
	for arena in 0..arenas {
		let name = format!("arena.{arena}.dirty_decay_ms\0");
		// An arena no thread has used yet does not exist (EFAULT): nothing to purge.
		if name.name().write(0isize).is_ok() {
			let _ = name.name().write(DIRTY_DECAY_MS);
		}
	}
}

/// Empties the calling thread's jemalloc cache: turning it off flushes it, and it is turned on
/// again at once.
pub fn flush_thread_cache() {
	let enabled = b"thread.tcache.enabled\0".name();
	if enabled.write(false).is_ok() {
		let _ = enabled.write(true);
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn read(key: &str) -> isize {
		format!("{key}\0").name().read().unwrap()
	}

	#[test]
	fn configure_sets_the_decay_of_existing_and_later_arenas() {
		configure().unwrap();
		assert_eq!(read("arenas.dirty_decay_ms"), DIRTY_DECAY_MS);
		assert_eq!(read("arenas.muzzy_decay_ms"), MUZZY_DECAY_MS);
		// Arena 0 exists from the first allocation on: configure changed it in place.
		assert_eq!(read("arena.0.dirty_decay_ms"), DIRTY_DECAY_MS);
		assert_eq!(read("arena.0.muzzy_decay_ms"), MUZZY_DECAY_MS);
		// A thread started afterwards allocates from an arena with the same settings.
		let arena = std::thread::spawn(|| {
			let warm = vec![1u8; 4096];
			let arena: u32 = b"thread.arena\0".name().read().unwrap();
			(arena, warm.len())
		})
		.join()
		.unwrap()
		.0;
		assert_eq!(read(&format!("arena.{arena}.dirty_decay_ms")), DIRTY_DECAY_MS);
		assert_eq!(read(&format!("arena.{arena}.muzzy_decay_ms")), MUZZY_DECAY_MS);
	}

	#[test]
	fn an_idle_thread_flushes_its_cache_at_most_once_per_interval_or_after_a_trim() {
		std::thread::spawn(|| {
			let flushed = || FLUSHED.with(Cell::get).map(|(at, _)| at);
			assert_eq!(flushed(), None);
			on_park();
			let first = flushed().expect("the first park flushes");
			on_park();
			assert_eq!(
				flushed(),
				Some(first),
				"a second park within FLUSH_EVERY does not flush again"
			);
			FLUSHED.with(|at| at.set(Some((first - FLUSH_EVERY, TRIMS.load(Ordering::Relaxed)))));
			on_park();
			let second = flushed().unwrap();
			assert!(second > first - FLUSH_EVERY, "a park FLUSH_EVERY later flushes again");
			// A trim asked for since: the next park flushes although FLUSH_EVERY has not passed.
			TRIMS.fetch_add(1, Ordering::Relaxed);
			on_park();
			assert!(flushed().unwrap() > second, "a park after a trim flushes at once");
			// The cache is back on after a flush.
			let enabled: bool = b"thread.tcache.enabled\0".name().read().unwrap();
			assert!(enabled);
		})
		.join()
		.unwrap();
	}

	#[test]
	fn a_trim_comes_once_the_sessions_fell_and_held_still_at_most_once_per_interval() {
		// Each scenario: (second, open sessions, whether that look trims), from a fresh `Quiet`.
		#[rustfmt::skip]
		let scenarios: [&[(u64, u64, bool)]; 3] = [
			// Fell, then held still: once.
			&[(0, 200, false), (1, 150, false), (2, 0, false), (3, 0, true), (4, 0, false)],
			// Rising again after a fall: once it holds still; falling again within TRIM_EVERY of
			// that trim: when TRIM_EVERY has passed.
			&[(0, 10, false), (1, 5, false), (2, 8, false), (3, 8, true), (4, 3, false),
				(5, 3, false), (7, 3, false), (8, 3, true), (9, 3, false)],
			// Never holding still: never.
			&[(0, 10, false), (1, 9, false), (2, 10, false), (3, 9, false), (9, 10, false)],
		];
		let start = Instant::now();
		for looks in scenarios {
			let mut quiet = Quiet::default();
			for &(second, sessions, trim) in looks {
				let now = start + Duration::from_secs(second);
				assert_eq!(quiet.observe(now, sessions), trim, "{sessions} sessions at {second} s");
			}
		}
	}

	#[test]
	fn purge_keeps_the_decay() {
		configure().unwrap();
		let freed = vec![7u8; 1 << 20];
		drop(freed);
		purge();
		assert_eq!(read("arena.0.dirty_decay_ms"), DIRTY_DECAY_MS);
		assert_eq!(read("arenas.dirty_decay_ms"), DIRTY_DECAY_MS);
	}
}
