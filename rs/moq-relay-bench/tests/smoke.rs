//! Runs the bench against this repository's relay, started in-process on
//! 127.0.0.1 with a free port, and checks what it reports.

use std::time::Duration;

use clap::Parser;
use moq_relay::config::Config;
use moq_relay::relay::Relay;
use moq_relay_bench::{Args, Report, run};

type Running = (
	std::net::SocketAddr,
	String,
	tokio::sync::oneshot::Sender<()>,
	tokio::task::JoinHandle<()>,
);

/// Starts the relay (public prefix `anon`) and returns its address, certificate
/// fingerprint and a stop handle.
async fn relay() -> Running {
	relay_with(|_| {}).await
}

/// The same, with the configuration changed by `edit` first.
async fn relay_with(edit: impl FnOnce(&mut Config)) -> Running {
	let mut config = Config::defaults(false);
	config.server.bind = Some(vec!["127.0.0.1:0".parse().unwrap()]);
	config.server.drain = Some(std::time::Duration::from_secs(1));
	config.tls.generate = Some(vec!["localhost".into(), "127.0.0.1".into()]);
	config.auth.public = Some(vec!["anon".into()]);
	edit(&mut config);
	let relay = Relay::bind(config.resolve().unwrap()).await.unwrap();
	let addr = relay.local_addrs()[0];
	let fingerprint = relay.fingerprint().to_string();
	let (stop, stopped) = tokio::sync::oneshot::channel();
	let run = relay.run(async {
		let _ = stopped.await;
	});
	let task = tokio::spawn(async move { run.await.expect("the relay runs") });
	(addr, fingerprint, stop, task)
}

async fn bench(extra: &[&str]) -> Report {
	let (addr, fingerprint, stop, task) = relay().await;
	let url = format!("moqt://127.0.0.1:{}/anon", addr.port());
	let pid = std::process::id().to_string();
	let mut argv = vec![
		"moq-relay-bench",
		"--url",
		&url,
		"--tls-fingerprint",
		&fingerprint,
		"--version",
		"moq-lite-05",
		"--relay-pid",
		&pid,
	];
	argv.extend_from_slice(extra);
	let args = Args::try_parse_from(argv).unwrap();
	let report = tokio::time::timeout(Duration::from_secs(30), run(args))
		.await
		.expect("bench finished in time")
		.unwrap();
	let _ = stop.send(());
	tokio::time::timeout(Duration::from_secs(10), task)
		.await
		.unwrap()
		.unwrap();
	report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_subscribers_get_every_frame() {
	let report = bench(&[
		"--subscribers",
		"5",
		"--frame-size",
		"1200",
		"--fps",
		"30",
		"--group-frames",
		"10",
		"--warmup",
		"1",
		"--duration",
		"3",
		"--grace",
		"1",
	])
	.await;
	println!("{}", moq_relay_bench::render(&report));
	assert_eq!(report.version.as_deref(), Some("moq-lite-05"));
	let t = report.throughput.expect("a throughput phase");
	assert_eq!(t.subscribed, 5, "errors: {:?}", t.subscriber_errors);
	// 3 s at 30 fps; the timer may lose a frame or two at the edges.
	assert!((85..=92).contains(&t.frames_sent), "sent {}", t.frames_sent);
	assert!(t.groups_sent >= 8, "groups {}", t.groups_sent);
	assert_eq!(t.frames_delivered, t.frames_sent * 5);
	assert_eq!(t.delivery_pct, 100.0);
	assert!(t.per_subscriber_delivery_pct.iter().all(|&p| p == 100.0));
	assert_eq!(t.corrupt_frames, 0);
	assert_eq!(t.latency_ms.count as u64, t.frames_delivered);
	assert!(t.latency_ms.p50 > 0.0 && t.latency_ms.p99 < 500.0, "{:?}", t.latency_ms);
	assert_eq!(t.first_frame_within_1s_pct, 100.0);
	// Groups' first frames: one per window group and subscriber (a group begun before the
	// window has its first frame outside it).
	let firsts = t.first_frame_latency_ms.count as u64;
	assert!(
		(t.groups_sent.saturating_sub(1) * 5..=t.groups_sent * 5).contains(&firsts),
		"{firsts} first frames for {} groups",
		t.groups_sent
	);
	assert!(t.first_frame_latency_ms.max <= t.latency_ms.max);
	let expected_mbps = t.frames_sent as f64 * 5.0 * 1200.0 * 8.0 / 3.0 / 1e6;
	assert!((t.goodput_mbps - expected_mbps).abs() < 1e-6);
	assert!(t.relay_cpu_s.unwrap() > 0.0);
	// And its own, to show whether the tool or the relay was the limit.
	assert!(t.tool_cpu_s.unwrap() > 0.0 && t.tool_cores >= 1, "{t:?}");
	assert!(t.relay_cpu_s_per_gb.unwrap() > 0.0);
	let relay = report.relay.expect("relay usage with --relay-pid");
	assert!(relay.cpu_s > 0.0 && relay.rss_start_kib > 0 && relay.rss_peak_kib >= relay.rss_end_kib);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_idle_phases_admit_every_session() {
	let report = bench(&["--connect-only", "20", "--idle", "10", "--concurrency", "8", "--json"]).await;
	let json = serde_json::to_value(&report).unwrap();
	assert_eq!(json["connect"]["admitted"], 20);
	assert!(json["relay"]["rss_peak_kib"].as_u64().unwrap() > 0);
	assert!(json["throughput"].is_null());
	let c = report.connect.expect("a connect phase");
	assert_eq!((c.admitted, c.failed), (20, 0), "{:?}", c.first_error);
	assert!(c.sessions_per_s > 0.0 && c.latency_ms.count == 20 && c.latency_ms.p50 > 0.0);
	let i = report.idle.expect("an idle phase");
	assert_eq!(i.admitted, 10);
	assert!(i.rss_before_kib.unwrap() > 0 && i.rss_open_kib.unwrap() > 0 && i.rss_after_close_kib.unwrap() > 0);
	assert!(i.per_session_kib.is_some());
}

/// `--connect-rate` starts sessions on a schedule: 20 at 40 per second cannot all have started
/// before 19/40 s, however fast the relay answers, and every one is still admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_rate_paces_the_sessions() {
	let report = bench(&[
		"--connect-only",
		"20",
		"--connect-rate",
		"40",
		"--concurrency",
		"8",
		"--json",
	])
	.await;
	let c = report.connect.expect("a connect phase");
	assert_eq!((c.admitted, c.failed), (20, 0), "{:?}", c.first_error);
	assert_eq!(c.connect_rate, Some(40.0));
	assert!(
		c.elapsed_s >= 19.0 / 40.0,
		"20 sessions at 40/s took only {} s",
		c.elapsed_s
	);
	assert!(
		c.sessions_per_s <= 40.0 * 20.0 / 19.0,
		"{} sessions/s",
		c.sessions_per_s
	);
}

#[test]
fn connect_rate_must_be_a_rate_above_zero() {
	for rate in ["0", "-5", "NaN", "inf", "fast"] {
		let parsed = Args::try_parse_from([
			"moq-relay-bench",
			"--url",
			"moqt://127.0.0.1:4443/anon",
			"--connect-only",
			"10",
			&format!("--connect-rate={rate}"),
		]);
		let err = parsed
			.err()
			.unwrap_or_else(|| panic!("--connect-rate {rate} was accepted"));
		assert!(err.to_string().contains("not a rate above zero"), "{rate}: {err}");
	}
}

/// The repository's development cluster key and token (`dev/root.jwk`, `dev/cluster.jwt`).
fn dev_file(name: &str) -> std::path::PathBuf {
	std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
		.join("../../dev")
		.join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_on_another_relay_of_a_cluster() {
	let key = dev_file("root.jwk");
	let (origin_addr, origin_fp, origin_stop, origin_task) = relay_with(|c| {
		c.auth.key = Some(key.clone());
		c.cluster.id = Some(1);
	})
	.await;
	let (edge_addr, edge_fp, edge_stop, edge_task) = relay_with(|c| {
		c.auth.key = Some(key.clone());
		c.cluster.id = Some(2);
		c.cluster.connect = Some(vec![format!("http://127.0.0.1:{}", origin_addr.port())]);
		c.cluster.token = Some(dev_file("cluster.jwt"));
	})
	.await;
	let url = format!("moqt://127.0.0.1:{}/anon", origin_addr.port());
	let subscriber_url = format!("moqt://127.0.0.1:{}/anon", edge_addr.port());
	let args = Args::try_parse_from([
		"moq-relay-bench",
		"--url",
		&url,
		"--tls-fingerprint",
		&origin_fp,
		"--subscriber-url",
		&subscriber_url,
		"--subscriber-tls-fingerprint",
		&edge_fp,
		"--version",
		"moq-lite-05",
		"--subscribers",
		"3",
		"--group-frames",
		"10",
		"--warmup",
		"1",
		"--duration",
		"2",
		"--grace",
		"1",
	])
	.unwrap();
	let report = tokio::time::timeout(Duration::from_secs(40), run(args))
		.await
		.expect("bench finished in time")
		.unwrap();
	println!("{}", moq_relay_bench::render(&report));
	assert_eq!(report.url, url);
	assert_eq!(report.subscriber_url, subscriber_url);
	let t = report.throughput.expect("a throughput phase");
	assert_eq!(t.subscribed, 3, "errors: {:?}", t.subscriber_errors);
	assert!(t.frames_sent > 0);
	assert_eq!(
		t.frames_delivered,
		t.frames_sent * 3,
		"errors: {:?}",
		t.subscriber_errors
	);
	assert_eq!(t.corrupt_frames, 0);
	for (stop, task) in [(edge_stop, edge_task), (origin_stop, origin_task)] {
		let _ = stop.send(());
		tokio::time::timeout(Duration::from_secs(10), task)
			.await
			.unwrap()
			.unwrap();
	}
}

/// A few seconds of soak against the in-process relay: two publishers, eight subscribers (two
/// stable), two leaving and two joining every second. Everything subscribed must get every group
/// while subscribed, and the relay must be back to the publishers' sessions once they have left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_churns_sessions_without_errors() {
	let (addr, fingerprint, stop, task) = relay().await;
	let url = format!("moqt://127.0.0.1:{}/anon", addr.port());
	let metrics = format!("http://127.0.0.1:{}/metrics", addr.port());
	let pid = std::process::id().to_string();
	let out = std::env::temp_dir().join(format!("moq-relay-bench-soak-{}.json", std::process::id()));
	let out_arg = out.to_str().unwrap().to_string();
	let args = Args::try_parse_from([
		"moq-relay-bench",
		"--url",
		&url,
		"--tls-fingerprint",
		&fingerprint,
		"--version",
		"moq-lite-05",
		"--relay-pid",
		&pid,
		"--relay-metrics",
		&metrics,
		"--soak",
		"--publishers",
		"2",
		"--subscribers",
		"8",
		"--stable",
		"2",
		"--churn",
		"2",
		"--ramp",
		"20",
		"--concurrency",
		"8",
		"--fps",
		"30",
		"--group-frames",
		"10",
		"--duration",
		"5",
		"--warmup",
		"1",
		"--grace",
		"1",
		"--sample-every",
		"1",
		"--json-out",
		&out_arg,
	])
	.unwrap();
	let report = tokio::time::timeout(Duration::from_secs(60), run(args))
		.await
		.expect("soak finished in time")
		.unwrap();
	println!("{}", moq_relay_bench::render(&report));
	let _ = stop.send(());
	tokio::time::timeout(Duration::from_secs(10), task)
		.await
		.unwrap()
		.unwrap();

	assert!(report.throughput.is_none());
	assert_eq!(report.version.as_deref(), Some("moq-lite-05"));
	let soak = report.soak.as_ref().expect("a soak");
	assert_eq!(soak.error_total, 0, "{:?}\n{:#?}", soak.errors, soak.error_examples);
	assert!(soak.errors.values().all(|&n| n == 0));
	// Ticks at 1..=5 s replace two each; the last may race the end of the run.
	assert!(
		(8..=10).contains(&soak.sessions_churned),
		"churned {}",
		soak.sessions_churned
	);
	// Every initial session subscribed, and every replacement but those still connecting at the end.
	assert!(
		soak.sessions_joined >= 8 + soak.sessions_churned - 2 && soak.sessions_joined <= 8 + soak.sessions_churned,
		"joined {} of {}",
		soak.sessions_joined,
		8 + soak.sessions_churned
	);
	let stable = &soak.stable_delivery;
	assert_eq!(stable.sessions, 2);
	// 3 groups a second for over 5 s, each judged.
	assert!(stable.expected_groups >= 2 * 12, "{stable:?}");
	assert_eq!((stable.missed_groups, stable.incomplete_groups), (0, 0));
	assert_eq!(stable.received_frames, stable.expected_frames);
	assert_eq!((stable.delivery_pct, stable.min_session_pct), (100.0, 100.0));
	let churned = &soak.churned_delivery;
	assert!(churned.sessions >= 6 + soak.sessions_churned - 2, "{churned:?}");
	assert!(churned.expected_groups > 0 && churned.received_frames == churned.expected_frames);
	assert!(soak.latency_ms.count > 0 && soak.latency_ms.p50 > 0.0 && soak.latency_ms.p99 < 1_000.0);
	assert!(soak.latency_after_warmup_ms.count > 0 && soak.latency_after_warmup_ms.count < soak.latency_ms.count);
	assert_eq!(soak.join_ms.count as u64, soak.sessions_joined);
	assert!(soak.frames_received as usize >= soak.latency_ms.count);

	// A sample a second: the ramp (under a second), five seconds of churn, maybe a last partial one.
	assert!((5..=7).contains(&soak.samples.len()), "{} samples", soak.samples.len());
	let last = soak.samples.last().unwrap();
	assert_eq!(last.phase, moq_relay_bench::soak::Phase::Steady);
	for sample in &soak.samples {
		assert!(sample.relay_rss_kib.unwrap() > 0 && sample.relay_rss_max_kib >= sample.relay_rss_kib);
		assert!(sample.relay_cpu_pct.is_some() && sample.tool_cpu_pct.is_some());
		let relay = sample.relay.as_ref().expect("relay metrics every sample");
		// The relay holds the publishers' sessions and the subscribers', give or take those joining
		// and leaving at that moment.
		assert!(relay.sessions >= 2 && relay.sessions <= 2 + 8 + 2, "{relay:?}");
		assert_eq!(relay.groups_dropped, 0);
	}
	let steady: Vec<_> = soak
		.samples
		.iter()
		.filter(|s| s.phase != moq_relay_bench::soak::Phase::Ramp)
		.collect();
	assert!(
		steady
			.iter()
			.all(|s| s.sessions_open >= 6 && s.sessions_open <= 8 && s.frames > 0)
	);
	assert_eq!(soak.relay_sessions_after_leave, Some(2));
	// The relay timed its writes after warm-up: one per frame and subscriber, at least.
	let relay_share = soak.relay_frame_relay_ms.as_ref().expect("the relay's frame histogram");
	assert!(
		relay_share.count > 0 && relay_share.p50_at_most_ms.is_some(),
		"{relay_share:?}"
	);
	let rss = soak.rss.as_ref().expect("judged: several samples after warm-up");
	assert!(rss.samples >= 3 && rss.reference_kib > 0);
	assert_eq!(soak.passed, rss.flat);
	assert_eq!(report.failed(), !rss.flat);

	// The same report as JSON in the file.
	let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
	std::fs::remove_file(&out).unwrap();
	assert_eq!(json["soak"]["error_total"], 0);
	assert_eq!(json["soak"]["errors"]["missed_group"], 0);
	assert_eq!(json["soak"]["samples"].as_array().unwrap().len(), soak.samples.len());
	assert_eq!(json["soak"]["stable_delivery"]["delivery_pct"], 100.0);
}

#[test]
fn soak_is_its_own_mode() {
	let base = ["moq-relay-bench", "--url", "moqt://127.0.0.1:1/anon", "--soak"];
	assert!(Args::try_parse_from(base.iter().chain(&["--connect-only", "3"])).is_err());
	assert!(Args::try_parse_from(base.iter().chain(&["--idle", "3"])).is_err());
	let args = Args::try_parse_from(base).unwrap();
	assert_eq!(
		(args.publishers, args.churn, args.ramp, args.sample_every),
		(5, 5.0, 40.0, 10.0)
	);
	assert_eq!((args.stable, args.rss_tolerance), (None, 10.0));
}

/// The QUIC floor benchmark (`examples/quic_floor.rs`), which `cargo test -p moq-relay-bench`
/// builds next to the load tool's binary (a `--test` filter alone does not).
fn quic_floor() -> std::path::PathBuf {
	let dir = std::path::Path::new(env!("CARGO_BIN_EXE_moq-relay-bench"))
		.parent()
		.unwrap();
	let path = dir
		.join("examples")
		.join(format!("quic_floor{}", std::env::consts::EXE_SUFFIX));
	assert!(
		path.is_file(),
		"{} is missing: `cargo test -p moq-relay-bench` builds it (or `cargo build -p moq-relay-bench --example quic_floor`)",
		path.display()
	);
	path
}

/// A child process killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
	fn drop(&mut self) {
		let _ = self.0.kill();
		let _ = self.0.wait();
	}
}

/// Runs `quic_floor` with `args` to its end (at most `limit`, else it is killed) and returns the
/// JSON object it prints.
async fn floor_load(args: &[&str], limit: Duration) -> serde_json::Value {
	let child = tokio::process::Command::new(quic_floor())
		.args(args)
		.stdout(std::process::Stdio::piped())
		.kill_on_drop(true)
		.spawn()
		.unwrap();
	let output = tokio::time::timeout(limit, child.wait_with_output())
		.await
		.unwrap_or_else(|_| panic!("quic_floor {args:?} still runs after {limit:?}"))
		.unwrap();
	assert!(output.status.success(), "quic_floor {args:?}: {}", output.status);
	let out = String::from_utf8_lossy(&output.stdout);
	serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("quic_floor {args:?} printed {out:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quic_floor_feeds_raw_viewers_and_measures_relays_too() {
	let mut server = Child(
		std::process::Command::new(quic_floor())
			.args(["serve", "--frame-size", "300", "--fps", "30", "--group-frames", "10"])
			.stdout(std::process::Stdio::piped())
			.spawn()
			.unwrap(),
	);
	// Its first line says where it listens; read on a thread of its own, so a server that never
	// prints fails the test instead of hanging it.
	let stdout = server.0.stdout.take().unwrap();
	let (tx, rx) = std::sync::mpsc::channel();
	std::thread::spawn(move || {
		let mut line = String::new();
		let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
		let _ = tx.send(line);
	});
	let line = rx
		.recv_timeout(Duration::from_secs(30))
		.expect("quic_floor serve starts");
	let started: serde_json::Value = serde_json::from_str(&line).unwrap();
	let addr = format!("127.0.0.1:{}", started["port"]);
	let fingerprint = started["fingerprint"].as_str().unwrap().to_string();
	let pid = started["pid"].to_string();
	assert_eq!(pid, server.0.id().to_string());
	let target = ["--addr", &addr, "--fingerprint", &fingerprint, "--server-pid", &pid];

	let fanout = [
		&[
			"fanout",
			"--subscribers",
			"3",
			"--duration",
			"1",
			"--warmup",
			"0.5",
			"--frame-size",
			"300",
		][..],
		&target,
	]
	.concat();
	let report = floor_load(&fanout, Duration::from_secs(60)).await;
	assert_eq!(report["mode"], "fanout");
	// Every viewer gets every frame the server sent in the window, whole.
	assert_eq!(report["delivery_pct"], 100.0, "{report}");
	assert!(report["frames_sent"].as_f64().unwrap() >= 30.0, "{report}");
	assert_eq!(report["latency_ms"]["count"], report["frames"]);
	assert!(report["server_cpu_s_per_gb"].as_f64().unwrap() >= 0.0, "{report}");

	let connect = [&["connect", "--sessions", "5", "--concurrency", "2"][..], &target].concat();
	let report = floor_load(&connect, Duration::from_secs(60)).await;
	assert_eq!(
		(report["mode"].as_str(), report["sessions"].as_u64()),
		(Some("connect"), Some(5))
	);
	assert!(report["server_cpu_ms_per_session"].as_f64().unwrap() >= 0.0);

	// `connect` and `idle` set sessions up with a relay the same way (here in this process).
	let (relay, relay_fingerprint, stop, task) = relay().await;
	let relay_addr = relay.to_string();
	let own = std::process::id().to_string();
	let relay_target = [
		"--addr",
		&relay_addr,
		"--fingerprint",
		&relay_fingerprint,
		"--server-pid",
		&own,
	];
	for mode in ["connect", "idle"] {
		let args = [&[mode, "--sessions", "4", "--concurrency", "2"][..], &relay_target].concat();
		let report = floor_load(&args, Duration::from_secs(60)).await;
		assert_eq!(
			(report["mode"].as_str(), report["sessions"].as_u64()),
			(Some(mode), Some(4))
		);
	}
	let _ = stop.send(());
	task.await.unwrap();
}
