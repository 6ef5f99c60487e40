//! The performance regression check (`docs/performance.md`, "Regression check in CI"): a short
//! fan-out through the relay binary (this build, as `cargo test` builds it), driven in-process by
//! the load tool (`moq-relay-bench`), comparing the relay process's CPU per delivered megabyte with
//! the committed baseline `tests/perf-baseline.json`. A change that doubles the relay's cost per
//! byte fails it; noise from the tests running beside it does not (CPU time, not wall time, is
//! compared, with a margin measured under that noise).
//!
//! Not a benchmark: the numbers in `docs/performance.md` come from `dev/bench-side-by-side.sh` on an
//! idle machine with release builds.

use crate::common::start;

use std::time::Duration;

use clap::Parser;
use moq_relay_bench::{Args, run};

const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/perf-baseline.json");

/// How far above the baseline the cost may go before the check fails: below 2, so a doubling
/// fails; above the spread of 10 runs beside the rest of the suite (`docs/performance.md`).
const MARGIN: f64 = 1.6;

/// The file also says when and where it was measured (`measured`), for people.
#[derive(serde::Deserialize)]
struct Baseline {
	/// The relay's CPU milliseconds per delivered megabyte (debug build, this fan-out).
	cpu_ms_per_mb: f64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_fan_out_costs_no_more_cpu_per_byte_than_the_baseline() {
	let baseline: Baseline =
		serde_json::from_str(&std::fs::read_to_string(BASELINE).unwrap_or_else(|err| panic!("{BASELINE}: {err}")))
			.unwrap_or_else(|err| panic!("{BASELINE}: {err}"));
	let relay = start(&["--server-bind", "127.0.0.1:0"]);
	let url = format!("moqt://127.0.0.1:{}/anon", relay.addr.port());
	let pid = relay.child.id().to_string();
	// 8 subscribers × 16 KB × 30 fps: about 11 MB delivered in the 3 s window.
	let args = Args::try_parse_from([
		"moq-relay-bench",
		"--url",
		&url,
		"--tls-fingerprint",
		&relay.fingerprint,
		"--version",
		"moq-lite-05",
		"--relay-pid",
		&pid,
		"--subscribers",
		"8",
		"--frame-size",
		"16000",
		"--fps",
		"30",
		"--duration",
		"3",
		"--warmup",
		"1",
		"--grace",
		"1",
	])
	.unwrap();
	let report = tokio::time::timeout(Duration::from_secs(60), run(args))
		.await
		.expect("the fan-out finished within 60 s")
		.expect("the fan-out ran");
	let throughput = report.throughput.expect("a publish/subscribe phase");
	let usage = report.relay.expect("the relay's usage (--relay-pid)");
	assert!(
		throughput.delivery_pct >= 99.0,
		"delivery {:.1}% (the check needs the frames delivered to mean anything)",
		throughput.delivery_pct
	);
	let megabytes = (throughput.frames_delivered as f64 * throughput.frame_size as f64) / 1e6;
	let cpu_ms_per_mb = usage.cpu_s * 1000.0 / megabytes;
	eprintln!(
		"perf check: {cpu_ms_per_mb:.2} CPU ms per delivered MB (baseline {:.2}, limit {:.2}); {megabytes:.1} MB, p99 {:.1} ms",
		baseline.cpu_ms_per_mb,
		baseline.cpu_ms_per_mb * MARGIN,
		throughput.latency_ms.p99
	);
	assert!(
		cpu_ms_per_mb <= baseline.cpu_ms_per_mb * MARGIN,
		"the relay spent {cpu_ms_per_mb:.2} CPU ms per delivered MB, over {MARGIN}× the baseline {:.2} \
		 (tests/perf-baseline.json): find what made the hot path dearer, or, if the cost is deliberate, \
		 re-measure the baseline as docs/performance.md (\"Regression check in CI\") says",
		baseline.cpu_ms_per_mb
	);
	drop(relay);
}
