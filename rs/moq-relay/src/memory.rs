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
//! Both use jemalloc's documented controls (`mallctl`) through `tikv-jemalloc-ctl`: the
//! `arenas.dirty_decay_ms` and `arenas.muzzy_decay_ms` defaults, the same per existing arena, and
//! `thread.tcache.enabled` (disabling a thread's cache flushes it).

use std::cell::Cell;
use std::time::{Duration, Instant};

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

thread_local! {
	static FLUSHED: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// For the runtime's `on_thread_park`: when a worker thread goes idle and has not emptied its
/// allocation cache for [`FLUSH_EVERY`], it does, so the freed objects it held can go back to
/// the OS with their pages. A busy thread rarely parks and keeps its cache.
pub fn on_park() {
	let now = Instant::now();
	let due = FLUSHED.with(|flushed| {
		let due = flushed.get().is_none_or(|at| now.duration_since(at) >= FLUSH_EVERY);
		if due {
			flushed.set(Some(now));
		}
		due
	});
	if due {
		flush_thread_cache();
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
	fn an_idle_thread_flushes_its_cache_at_most_once_per_interval() {
		std::thread::spawn(|| {
			let flushed = || FLUSHED.with(Cell::get);
			assert_eq!(flushed(), None);
			on_park();
			let first = flushed().expect("the first park flushes");
			on_park();
			assert_eq!(
				flushed(),
				Some(first),
				"a second park within FLUSH_EVERY does not flush again"
			);
			FLUSHED.with(|at| at.set(Some(first - FLUSH_EVERY)));
			on_park();
			assert!(
				flushed().unwrap() > first - FLUSH_EVERY,
				"a park FLUSH_EVERY later flushes again"
			);
			// The cache is back on after a flush.
			let enabled: bool = b"thread.tcache.enabled\0".name().read().unwrap();
			assert!(enabled);
		})
		.join()
		.unwrap();
	}
}
