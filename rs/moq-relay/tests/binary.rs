//! The `moq-relay` binary as users run it: dev/relay.toml, configuration
//! errors, and graceful shutdown on SIGTERM during live traffic.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Running, lite05, start, within};

const DEV_TOML: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/relay.toml");

fn client(relay: &Running) -> moq_tokio::Client {
	let mut config = moq_tokio::connect::Config::default();
	config.tls.fingerprint = vec![relay.fingerprint.clone()];
	config.version = vec![lite05()];
	config.once = Some(true);
	config.init(Default::default()).unwrap()
}

fn url(relay: &Running) -> url::Url {
	format!("moqt://127.0.0.1:{}/anon", relay.addr.port()).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_traffic_exits_zero_within_the_drain_bound() {
	// dev/relay.toml, with the port overridden by a flag (flags beat TOML).
	let relay = start(&["--config", DEV_TOML, "--server-bind", "127.0.0.1:0"]);

	let publisher_origin = moq_tokio::origin::spawn();
	let broadcast = publisher_origin.create_broadcast("clock").unwrap();
	let track = broadcast.create_track("seconds", None).unwrap();
	broadcast.announce(Default::default()).unwrap();
	let publisher = client(&relay).with_publisher(&publisher_origin).connect(url(&relay));

	let origin = moq_tokio::origin::spawn();
	let consumer = origin.consume();
	let mut announced = consumer.announced();
	let subscriber = client(&relay).with_subscriber(origin).connect(url(&relay));
	let update = within("announcement", announced.next()).await.unwrap();
	assert_eq!(update.prefix.as_str(), "clock");

	// Live traffic: a group every few milliseconds until the relay goes away.
	let writer = tokio::spawn(async move {
		let mut tick = tokio::time::interval(Duration::from_millis(5));
		loop {
			tick.tick().await;
			let Ok(mut group) = track.append_group() else { return };
			let _ = group.write_frame(moq_net::Timestamp::now(), Bytes::from_static(b"tick"));
			let _ = group.finish();
		}
	});
	let broadcast_consumer = within("broadcast", consumer.request_broadcast("clock")).await.unwrap();
	let mut subscription = within(
		"subscription",
		broadcast_consumer.track("seconds").unwrap().subscribe(None),
	)
	.await
	.unwrap();
	let mut group = within("a live group", subscription.recv_group())
		.await
		.unwrap()
		.unwrap();
	assert!(within("a live frame", group.read_frame()).await.unwrap().is_some());

	let sent = Instant::now();
	let status = Command::new("kill")
		.args(["-TERM", &relay.child.id().to_string()])
		.status()
		.unwrap();
	assert!(status.success());
	let mut child = relay.child;
	let exit = within(
		"the relay to exit",
		tokio::task::spawn_blocking(move || child.wait().unwrap()),
	)
	.await
	.unwrap();
	let took = sent.elapsed();
	assert!(exit.success(), "exit status {exit}");
	// dev/relay.toml: drain = 5 s, plus at most 1 s to flush the closes.
	assert!(took < Duration::from_secs(7), "took {took:?}");

	writer.abort();
	drop((publisher, subscriber));
}

#[test]
fn unknown_toml_keys_are_an_error_naming_the_key() {
	let dir = std::env::temp_dir().join(format!("moq-relay-bad-toml-{}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	let file = dir.join("bad.toml");
	std::fs::write(&file, "[server]\nbnid = \"127.0.0.1:4443\"\n").unwrap();
	let output = Command::new(env!("CARGO_BIN_EXE_moq-relay"))
		// Paths in dev/relay.toml (the key) are relative to the repository root, as with `just relay`.
		.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
		.args(["--config", file.to_str().unwrap()])
		.output()
		.unwrap();
	std::fs::remove_dir_all(&dir).unwrap();
	assert!(!output.status.success());
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert!(stderr.contains("bnid"), "{stderr}");
}

#[test]
fn help_lists_every_flag() {
	let output = Command::new(env!("CARGO_BIN_EXE_moq-relay"))
		// Paths in dev/relay.toml (the key) are relative to the repository root, as with `just relay`.
		.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
		.arg("--help")
		.output()
		.unwrap();
	let help = String::from_utf8_lossy(&output.stdout);
	for flag in [
		"--config",
		"--server-bind",
		"--server-drain",
		"--tls-generate",
		"--tls-cert",
		"--tls-key",
		"--auth-public",
		"--auth-key",
		"--cluster-connect",
		"--cluster-token",
		"--cluster-node",
		"--cluster-id",
		"--cluster-tls-root",
	] {
		assert!(help.contains(flag), "{flag} missing from:\n{help}");
	}
}
