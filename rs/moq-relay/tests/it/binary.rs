//! The `moq-relay` binary as users run it: dev/relay.toml, configuration
//! errors, and graceful shutdown on SIGTERM during live traffic; and the
//! `probe`/`pp_client` examples' command lines.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Running, example, lite05, start, within};
use moq_relay_bench::publisher::Publisher;
use moq_relay_bench::subscriber::Subscriber;

const DEV_TOML: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/relay.toml");

fn client(relay: &Running) -> moq_tokio::Client {
	moq_relay_bench::client(Some(&relay.fingerprint), false, &[lite05()]).unwrap()
}

fn url(relay: &Running) -> url::Url {
	format!("moqt://127.0.0.1:{}/anon", relay.addr.port()).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_traffic_exits_zero_within_the_drain_bound() {
	// dev/relay.toml, with the port overridden by a flag (flags beat TOML).
	let relay = start(&["--config", DEV_TOML, "--server-bind", "127.0.0.1:0"]);

	let start = Publisher::start(client(&relay), url(&relay), "clock", "seconds");
	let publisher = within("publisher", start).await.unwrap();
	let subscriber_client = client(&relay);
	let mut subscriber = within("subscriber", Subscriber::connect(&subscriber_client, url(&relay)))
		.await
		.unwrap();

	// Live traffic: a group every few milliseconds until the relay goes away.
	let track = publisher.track().clone();
	let writer = tokio::spawn(async move {
		let mut tick = tokio::time::interval(Duration::from_millis(5));
		loop {
			tick.tick().await;
			let Ok(mut group) = track.append_group() else { return };
			let _ = group.write_frame(moq_net::Timestamp::now(), Bytes::from_static(b"tick"));
			let _ = group.finish();
		}
	});
	let mut subscription = within("subscription", subscriber.subscribe("clock", "seconds"))
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
	let mut relay = relay;
	let exit = within(
		"the relay to exit",
		tokio::task::spawn_blocking(move || relay.child.wait().unwrap()),
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
	let scratch = crate::common::scratch("moq-relay-bad-toml-");
	let dir = scratch.path().to_path_buf();
	let file = dir.join("bad.toml");
	std::fs::write(&file, "[server]\nbnid = \"127.0.0.1:4443\"\n").unwrap();
	let output = Command::new(env!("CARGO_BIN_EXE_moq-relay"))
		// Paths in dev/relay.toml (the key) are relative to the repository root, as with `just relay`.
		.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
		.args(["--config", file.to_str().unwrap()])
		.output()
		.unwrap();
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

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Runs `program` with `args` (from the repository root) until it exits; fails the test if it
/// is still running after a minute.
fn run_to_exit(program: &Path, args: &[&str]) -> Output {
	let child = Command::new(program)
		.current_dir(REPO)
		.args(args)
		.env("RUST_LOG", "error")
		.stdin(Stdio::null())
		.stdout(Stdio::piped())
		.stderr(Stdio::piped())
		.spawn()
		.unwrap_or_else(|err| panic!("cannot start {}: {err}", program.display()));
	let pid = child.id();
	let (tx, rx) = std::sync::mpsc::channel();
	std::thread::spawn(move || {
		let _ = tx.send(child.wait_with_output());
	});
	match rx.recv_timeout(Duration::from_secs(60)) {
		Ok(output) => output.unwrap(),
		Err(_) => {
			let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
			panic!("{} {args:?} still running after a minute", program.display());
		}
	}
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
	fn new(name: &str) -> Self {
		let dir = std::env::temp_dir().join(format!("moq-relay-binary-{name}-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		Self(dir)
	}

	fn path(&self, name: &str) -> String {
		self.0.join(name).to_str().unwrap().to_string()
	}
}

impl Drop for Scratch {
	fn drop(&mut self) {
		let _ = std::fs::remove_dir_all(&self.0);
	}
}

/// Runs the relay with `--tls-cert cert --tls-key key` and checks it exits non-zero with one
/// stderr line naming `file` and giving `reason`.
fn refuses_certificate(cert: &str, key: &str, file: &str, reason: &str) {
	let relay = Path::new(env!("CARGO_BIN_EXE_moq-relay"));
	let output = run_to_exit(
		relay,
		&["--tls-cert", cert, "--tls-key", key, "--server-bind", "127.0.0.1:0"],
	);
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert!(!output.status.success(), "exit status {}: {stderr}", output.status);
	assert!(
		stderr
			.lines()
			.any(|line| line.starts_with("moq-relay: ") && line.contains(file) && line.contains(reason)),
		"no line naming {file} and {reason:?} in:\n{stderr}"
	);
}

#[test]
fn missing_certificate_or_key_files_exit_non_zero_naming_the_file() {
	let dir = Scratch::new("missing-tls");
	let (cert, key) = (dir.path("cert.pem"), dir.path("key.pem"));
	moq_relay::tls::Certificate::generate(&["localhost".into()])
		.unwrap()
		.write_pem(Path::new(&cert), Path::new(&key))
		.unwrap();
	let (no_cert, no_key) = (dir.path("missing-cert.pem"), dir.path("missing-key.pem"));
	let reason = "No such file or directory";
	refuses_certificate(&no_cert, &no_key, &no_cert, reason);
	refuses_certificate(&cert, &no_key, &no_key, reason);
}

#[test]
fn unparsable_certificate_files_exit_non_zero_naming_the_file_and_the_reason() {
	let dir = Scratch::new("bad-tls");
	let (cert, key) = (dir.path("cert.pem"), dir.path("key.pem"));
	moq_relay::tls::Certificate::generate(&["localhost".into()])
		.unwrap()
		.write_pem(Path::new(&cert), Path::new(&key))
		.unwrap();
	let cases = [
		("text.pem", "not a certificate\n", "holds no PEM certificate"),
		(
			"base64.pem",
			"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
			"is not valid PEM",
		),
		(
			"der.pem",
			"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
			"is unusable",
		),
	];
	for (name, content, reason) in cases {
		let bad = dir.path(name);
		std::fs::write(&bad, content).unwrap();
		refuses_certificate(&bad, &key, &bad, reason);
	}
	// The certificate is read, the key is not a key.
	refuses_certificate(&cert, &cert, &cert, "holds no PEM private key");
}

#[test]
fn probe_help_exits_zero_and_usage_errors_exit_two_without_echoing_the_url() {
	let probe = example("probe");
	let help = run_to_exit(&probe, &["--help"]);
	let stdout = String::from_utf8_lossy(&help.stdout);
	assert!(help.status.success(), "exit status {}", help.status);
	for flag in ["Usage:", "--quic", "--fingerprint <HEX>", "--bearer <TOKEN>", "<URL>"] {
		assert!(stdout.contains(flag), "{flag} missing from:\n{stdout}");
	}

	let missing = run_to_exit(&probe, &["https://127.0.0.1:1/room"]);
	assert_eq!(missing.status.code(), Some(2));
	assert!(String::from_utf8_lossy(&missing.stderr).contains("--fingerprint"));

	let fingerprint = "ab".repeat(32);
	let bad_url = run_to_exit(&probe, &["--fingerprint", &fingerprint, "no-scheme/room?jwt=SECRET"]);
	let stderr = String::from_utf8_lossy(&bad_url.stderr);
	assert_eq!(bad_url.status.code(), Some(2), "{stderr}");
	assert!(stderr.contains("bad URL") && !stderr.contains("SECRET"), "{stderr}");

	let both = run_to_exit(
		&probe,
		&[
			"--quic",
			"--bearer",
			"SECRET",
			"--fingerprint",
			&fingerprint,
			"https://127.0.0.1:1/",
		],
	);
	let stderr = String::from_utf8_lossy(&both.stderr);
	assert_eq!(both.status.code(), Some(2), "{stderr}");
	assert!(stderr.contains("--quic") && !stderr.contains("SECRET"), "{stderr}");

	// An extra argument (a second URL, with its token) is not echoed either.
	let extra = run_to_exit(
		&probe,
		&[
			"--fingerprint",
			&fingerprint,
			"https://127.0.0.1:1/room",
			"https://127.0.0.1:1/room?jwt=SECRET",
		],
	);
	let stderr = String::from_utf8_lossy(&extra.stderr);
	assert_eq!(extra.status.code(), Some(2), "{stderr}");
	assert!(stderr.contains("--help") && !stderr.contains("SECRET"), "{stderr}");
}

#[test]
fn pp_client_help_exits_zero_and_usage_errors_exit_one() {
	let pp_client = example("pp_client");
	let help = run_to_exit(&pp_client, &["--help"]);
	let stdout = String::from_utf8_lossy(&help.stdout);
	assert!(help.status.success(), "exit status {}", help.status);
	for flag in [
		"Usage:",
		"--issuer-url <URL>",
		"--fingerprint <HEX>",
		"--stay <SECONDS>",
		"<URL>",
	] {
		assert!(stdout.contains(flag), "{flag} missing from:\n{stdout}");
	}

	let missing = run_to_exit(&pp_client, &[]);
	assert_eq!(missing.status.code(), Some(1));
	let stay = run_to_exit(&pp_client, &["--stay", "soon", "https://127.0.0.1:1/room"]);
	assert_eq!(stay.status.code(), Some(1));
	assert!(String::from_utf8_lossy(&stay.stderr).contains("--stay"));
}
