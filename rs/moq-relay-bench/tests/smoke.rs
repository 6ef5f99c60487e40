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
	config.auth.public = Some("anon".into());
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
