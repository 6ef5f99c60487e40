//! The relay process's CPU time and resident memory, read from `/proc/PID`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;

use crate::RelayUsage;

/// Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`, else 100).
pub fn clock_ticks() -> f64 {
	static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
	*TICKS.get_or_init(|| {
		std::process::Command::new("getconf")
			.arg("CLK_TCK")
			.output()
			.ok()
			.and_then(|out| String::from_utf8(out.stdout).ok())
			.and_then(|s| s.trim().parse::<f64>().ok())
			.filter(|&t| t > 0.0)
			.unwrap_or(100.0)
	})
}

/// User + system CPU seconds of `pid` (all threads).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
	let stat =
		std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("read /proc/{pid}/stat"))?;
	parse_stat_cpu_ticks(&stat)
		.map(|ticks| ticks as f64 / clock_ticks())
		.context("malformed /proc/PID/stat")
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
	// The command name (field 2) is in parentheses and may contain spaces.
	let rest = &stat[stat.rfind(')')? + 1..];
	let fields: Vec<&str> = rest.split_whitespace().collect();
	// `rest` starts at field 3 (state), so field n is at index n - 3.
	let utime: u64 = fields.get(11)?.parse().ok()?;
	let stime: u64 = fields.get(12)?.parse().ok()?;
	Some(utime + stime)
}

/// Resident set size of `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
	let status =
		std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("read /proc/{pid}/status"))?;
	parse_status_rss_kib(&status).context("no VmRSS in /proc/PID/status")
}

/// The `VmRSS:   1234 kB` line of `/proc/PID/status`, in KiB.
pub fn parse_status_rss_kib(status: &str) -> Option<u64> {
	let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
	line.split_whitespace().nth(1)?.parse().ok()
}

/// Samples a process's RSS every 50 ms in the background and keeps the peak.
pub struct Sampler {
	pid: u32,
	cpu_start: f64,
	rss_start: u64,
	peak: Arc<AtomicU64>,
	stop: Arc<AtomicBool>,
	task: tokio::task::JoinHandle<()>,
}

impl Sampler {
	/// Reads the start values and starts sampling; fails if the process cannot be read.
	pub fn start(pid: u32) -> anyhow::Result<Self> {
		let cpu_start = cpu_seconds(pid)?;
		let rss_start = rss_kib(pid)?;
		let peak = Arc::new(AtomicU64::new(rss_start));
		let stop = Arc::new(AtomicBool::new(false));
		let task = tokio::spawn({
			let (peak, stop) = (peak.clone(), stop.clone());
			async move {
				while !stop.load(Ordering::Relaxed) {
					if let Ok(rss) = rss_kib(pid) {
						peak.fetch_max(rss, Ordering::Relaxed);
					}
					tokio::time::sleep(Duration::from_millis(50)).await;
				}
			}
		});
		Ok(Self {
			pid,
			cpu_start,
			rss_start,
			peak,
			stop,
			task,
		})
	}

	/// Stops sampling and reads the end values.
	pub async fn finish(self) -> anyhow::Result<RelayUsage> {
		self.stop.store(true, Ordering::Relaxed);
		let _ = self.task.await;
		let rss_end = rss_kib(self.pid)?;
		Ok(RelayUsage {
			pid: self.pid,
			cpu_s: cpu_seconds(self.pid)? - self.cpu_start,
			rss_start_kib: self.rss_start,
			rss_peak_kib: self.peak.load(Ordering::Relaxed).max(rss_end),
			rss_end_kib: rss_end,
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn stat_with_spaces_in_the_name() {
		let stat = "1234 (moq relay) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 1000 300";
		assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
	}

	#[test]
	fn status_rss() {
		let status = "Name:\tmoq-relay\nVmPeak:\t  9000 kB\nVmRSS:\t   4321 kB\nThreads:\t8\n";
		assert_eq!(parse_status_rss_kib(status), Some(4321));
		assert_eq!(parse_status_rss_kib("Name: x\n"), None);
	}

	#[test]
	fn own_process_is_readable() {
		let pid = std::process::id();
		assert!(rss_kib(pid).unwrap() > 0);
		assert!(cpu_seconds(pid).unwrap() >= 0.0);
	}
}
