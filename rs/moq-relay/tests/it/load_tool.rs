//! The load tool's lean viewers (`moq-relay-bench --client raw`, `docs/performance.md`) receive
//! every frame whole from this relay and from the published relay 0.17.10, small frames and frames
//! that span many packets alike: what the side-by-side tables measure is delivery, not a
//! misreading of either relay's streams.

use clap::Parser;
use moq_relay_bench::{Args, Report, run};

use crate::common::{Target, TestRelay, free_port, within};
use crate::upstream_relay::Upstream;

/// A short fan-out of `subscribers` raw viewers at `url`, `frame_size`-byte frames, 5 per group.
async fn fan_out(url: &str, fingerprint: &str, subscribers: usize, frame_size: usize) -> Report {
	let args = Args::try_parse_from([
		"moq-relay-bench",
		"--url",
		url,
		"--tls-fingerprint",
		fingerprint,
		"--version",
		"moq-lite-05",
		"--client",
		"raw",
		"--subscribers",
		&subscribers.to_string(),
		"--frame-size",
		&frame_size.to_string(),
		"--fps",
		"20",
		"--group-frames",
		"5",
		"--warmup",
		"0.5",
		"--duration",
		"1",
		// Late frames still count for 3 s: the check is that every frame arrives whole, not how
		// fast (debug builds, and other tests beside this one).
		"--grace",
		"3",
	])
	.unwrap();
	within("the load tool's run", run(args)).await.unwrap()
}

/// Every viewer subscribed, and every frame of the window reached every viewer, whole.
fn assert_all_delivered(report: &Report, subscribers: usize, what: &str) {
	let t = report.throughput.as_ref().unwrap();
	assert_eq!(report.version.as_deref(), Some("moq-lite-05"), "{what}");
	assert_eq!(t.subscribed, subscribers, "{what}: {:?}", t.subscriber_errors);
	assert!(t.frames_sent >= 10, "{what}: {} frames sent", t.frames_sent);
	assert_eq!(t.corrupt_frames, 0, "{what}");
	assert_eq!(t.frames_delivered, t.frames_sent * subscribers as u64, "{what}");
	assert!(t.subscriber_errors.is_empty(), "{what}: {:?}", t.subscriber_errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_viewers_receive_every_frame_from_this_relay() {
	let relay = TestRelay::start_with(|config| config.auth.public = Some(vec!["anon".into()])).await;
	let url = format!("moqt://127.0.0.1:{}/anon", relay.addr().port());
	for (subscribers, frame_size) in [(4, 1_200), (2, 100_000)] {
		let report = fan_out(&url, relay.fingerprint(), subscribers, frame_size).await;
		assert_all_delivered(&report, subscribers, &format!("this relay, {frame_size} B frames"));
	}
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_viewers_receive_every_frame_from_the_published_relay() {
	// Its certificate's fingerprint, once its HTTP listener is up. The relay exits when its port
	// was taken meanwhile (its HTTP listener shares the QUIC port; `free_port` keeps clear of
	// connections' own ports, but another program may still bind it): then it is started again on
	// another.
	let mut last_log = String::new();
	let started = tokio::time::timeout(crate::common::BOUND, async {
		loop {
			let port = free_port();
			let web = format!("127.0.0.1:{port}");
			let mut upstream = Upstream::start(
				port,
				"localhost,127.0.0.1",
				&["--auth-public", "**", "--web-http-listen", &web],
			);
			while !upstream.exited() {
				let response = reqwest::get(format!("http://127.0.0.1:{port}/certificate.sha256")).await;
				if let Ok(response) = response
					&& let Ok(body) = response.text().await
					&& body.trim().len() == 64
				{
					return (upstream, port, body.trim().to_string());
				}
				last_log = format!("(port {port}) {}", upstream.log());
				tokio::time::sleep(std::time::Duration::from_millis(50)).await;
			}
			last_log = format!("(port {port}, exited) {}", upstream.log());
		}
	})
	.await;
	let Ok((_upstream, port, fingerprint)) = started else {
		panic!(
			"the published relay never served /certificate.sha256 within {:?}; its stderr {last_log}",
			crate::common::BOUND
		)
	};
	let url = format!("moqt://127.0.0.1:{port}/anon");
	for (subscribers, frame_size) in [(4, 1_200), (2, 100_000)] {
		let report = fan_out(&url, &fingerprint, subscribers, frame_size).await;
		assert_all_delivered(
			&report,
			subscribers,
			&format!("the published relay, {frame_size} B frames"),
		);
	}
}
