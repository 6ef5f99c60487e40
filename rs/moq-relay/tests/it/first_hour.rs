//! The mistakes of a new user's first hour, each answered with what is wrong and the next step:
//! a key id in two key sources, a configuration run from another directory, a host name or a
//! port past 65535 in `[server] bind`, a cluster token that cannot work or a peer certificate
//! that is not trusted, a busy port, and the `clock` example pointed at the wrong place. Also what
//! the relay's own URL answers in a browser, and its start-up lines.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use moq_relay::config::{Args, Config};
use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, Path as TokenPath};

use crate::common::{self, TestRelay, http_get};

const RELAY: &str = env!("CARGO_BIN_EXE_moq-relay");

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
	fn new(name: &str) -> Self {
		let dir = std::env::temp_dir().join(format!("moq-relay-first-hour-{name}-{}", std::process::id()));
		let _ = std::fs::remove_dir_all(&dir);
		std::fs::create_dir_all(&dir).unwrap();
		Self(dir)
	}

	fn path(&self, name: &str) -> PathBuf {
		self.0.join(name)
	}

	fn write(&self, name: &str, text: &str) -> PathBuf {
		let path = self.path(name);
		std::fs::create_dir_all(path.parent().unwrap()).unwrap();
		std::fs::write(&path, text).unwrap();
		path
	}
}

impl Drop for Scratch {
	fn drop(&mut self) {
		let _ = std::fs::remove_dir_all(&self.0);
	}
}

/// Runs `program args` in `dir` until it exits (killed, and the test failed, after a minute).
fn run(program: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
	let child = Command::new(program)
		.current_dir(dir)
		.args(args)
		.env("RUST_LOG", "warn")
		.envs(env.iter().copied())
		.stdin(Stdio::null())
		.stdout(Stdio::piped())
		.stderr(Stdio::piped())
		.spawn()
		.unwrap_or_else(|err| panic!("cannot start {}: {err}", program.display()));
	let pid = child.id();
	let (tx, rx) = mpsc::channel();
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

/// The relay run to its exit: it must fail, with one line on stderr, which is returned.
fn refused(dir: &Path, args: &[&str]) -> String {
	let output = run(Path::new(RELAY), dir, args, &[]);
	let stderr = String::from_utf8_lossy(&output.stderr).to_string();
	assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
	assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
	stderr
}

/// A process whose stderr lines arrive on a channel; killed on drop.
struct Watched {
	child: Child,
	lines: mpsc::Receiver<String>,
	seen: Vec<String>,
}

impl Watched {
	fn spawn(program: &Path, dir: &Path, args: &[&str]) -> Self {
		Self::spawn_with(program, dir, args, &[])
	}

	fn spawn_with(program: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
		let mut child = Command::new(program)
			.current_dir(dir)
			.args(args)
			.env("RUST_LOG", "info")
			.envs(env.iter().copied())
			.stdin(Stdio::null())
			.stdout(Stdio::null())
			.stderr(Stdio::piped())
			.spawn()
			.unwrap();
		let (tx, lines) = mpsc::channel();
		let stderr = child.stderr.take().unwrap();
		std::thread::spawn(move || {
			for line in BufReader::new(stderr).lines().map_while(Result::ok) {
				if tx.send(line).is_err() {
					break;
				}
			}
		});
		Self {
			child,
			lines,
			seen: Vec::new(),
		}
	}

	/// Waits (at most 20 s) for a line containing `text`; every line read is kept in `seen`.
	fn wait_for(&mut self, text: &str) -> String {
		let deadline = Instant::now() + common::BOUND;
		loop {
			let left = deadline.saturating_duration_since(Instant::now());
			match self.lines.recv_timeout(left) {
				Ok(line) => {
					self.seen.push(line.clone());
					if line.contains(text) {
						return line;
					}
				}
				Err(_) => panic!("no line with {text:?} in {:?}: {:#?}", common::BOUND, self.seen),
			}
		}
	}
}

impl Drop for Watched {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

fn keys(dir: &Scratch) -> Key {
	let key = Key::generate(Algorithm::ES256, Some(KeyId::new("es-2025").unwrap())).unwrap();
	key.to_file(dir.path("es.jwk"), KeyFormat::Base64Url).unwrap();
	key
}

/// The same key id from `--auth-key` and `--auth-jwks` used to start and then refuse every token
/// (`invalid_token: key_error`); now the relay does not start, and says which id, where, and what to do.
#[test]
fn a_key_id_in_two_key_sources_is_a_start_up_error_naming_both() {
	let dir = Scratch::new("dup");
	let key = keys(&dir);
	let public = key.to_public().unwrap();
	public.to_file(dir.path("es.pub.jwk"), KeyFormat::Json).unwrap();
	let jwk: serde_json::Value = serde_json::from_str(&public.to_json()).unwrap();
	dir.write("keys.json", &serde_json::json!({ "keys": [jwk] }).to_string());

	let err = refused(
		&dir.0,
		&[
			"--auth-jwks",
			"keys.json",
			"--auth-key",
			"es.pub.jwk",
			"--server-bind",
			"127.0.0.1:0",
		],
	);
	for text in [
		"auth.jwks",
		"`es-2025`",
		"es.pub.jwk (--auth-key)",
		"keys.json (--auth-jwks)",
		"keep each key in one source only",
	] {
		assert!(err.contains(text), "{text:?} in {err}");
	}
	// Each source alone is fine.
	let check = run(Path::new(RELAY), &dir.0, &["--check", "--auth-jwks", "keys.json"], &[]);
	assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

/// Paths in a configuration file are relative to the file: run from elsewhere, the relay reads the
/// key beside the file and never one that happens to be in the current directory; a path that
/// exists only relative to the current directory is an error naming both places.
#[test]
fn config_paths_are_relative_to_the_file() {
	let dir = Scratch::new("relative");
	keys(&dir);
	std::fs::rename(dir.path("es.jwk"), dir.path("conf/root.jwk")).unwrap_or_else(|_| {
		std::fs::create_dir_all(dir.path("conf")).unwrap();
		std::fs::rename(dir.path("es.jwk"), dir.path("conf/root.jwk")).unwrap();
	});
	dir.write("conf/relay.toml", "[auth]\npublic = \"anon\"\nkey = \"root.jwk\"\n");
	std::fs::create_dir_all(dir.path("elsewhere")).unwrap();
	let check = run(
		Path::new(RELAY),
		&dir.path("elsewhere"),
		&["--check", "--config", "../conf/relay.toml"],
		&[],
	);
	let stdout = String::from_utf8_lossy(&check.stdout);
	assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
	assert!(stdout.contains("key = \"../conf/root.jwk\""), "{stdout}");

	// The old rule's file: `key = "conf/root.jwk"` meant for the directory above the file.
	dir.write("conf/old.toml", "[auth]\nkey = \"conf/root.jwk\"\n");
	let err = refused(&dir.0, &["--check", "--config", "conf/old.toml"]);
	for text in [
		"conf/old.toml",
		"auth.key = \"conf/root.jwk\" is relative to this file",
		"conf/conf/root.jwk",
		"write the path relative to the file's directory",
	] {
		assert!(err.contains(text), "{text:?} in {err}");
	}
}

/// Every key whose flag takes a `FILE` or `DIR` is rebased, lists included: a key added later
/// with such a flag is covered without a change here.
#[test]
fn every_file_and_directory_key_is_relative_to_the_file() {
	use clap::CommandFactory;
	let dir = Scratch::new("every-path");
	let keys: Vec<(String, String)> = Args::command()
		.get_arguments()
		.filter(|arg| {
			arg.get_value_names()
				.is_some_and(|names| names.iter().any(|name| name == "FILE" || name == "DIR"))
		})
		.filter_map(|arg| {
			let (table, key) = arg.get_long()?.split_once('-')?;
			Some((table.to_string(), key.replace('-', "_")))
		})
		.collect();
	assert!(keys.len() >= 10, "{keys:?}");
	let mut tables: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
	// One string each: list keys take one value as a string too (and read back as a list).
	for (table, key) in &keys {
		tables
			.entry(table.as_str())
			.or_default()
			.push(format!("{key} = \"{key}.file\""));
	}
	let text: String = tables
		.iter()
		.map(|(table, lines)| format!("[{table}]\n{}\n", lines.join("\n")))
		.collect();
	let file = dir.write("sub/relay.toml", &text);
	let config = Config::from_file(&file).unwrap();
	let value = serde_json::to_value(&config).unwrap();
	for (table, key) in &keys {
		let expected = dir.path("sub").join(format!("{key}.file")).display().to_string();
		let found = &value[table.as_str()][key.as_str()];
		let found = match found {
			serde_json::Value::Array(items) => items[0].clone(),
			other => other.clone(),
		};
		assert_eq!(found, serde_json::Value::String(expected), "[{table}] {key} in\n{text}");
	}
}

/// `bind = "localhost:14450"` and a port of 99999 were "data did not match any variant of untagged
/// enum OneOrMany"; now they name the file, the line, the key and the forms to write instead.
#[test]
fn bind_host_names_and_ports_past_65535_name_the_key_and_the_forms() {
	let dir = Scratch::new("bind");
	dir.write("host.toml", "[server]\nbind = \"localhost:14450\"\n");
	let err = refused(&dir.0, &["--config", "host.toml"]);
	for text in [
		"host.toml:2: server.bind",
		"`localhost` is not an IP address",
		"\"127.0.0.1:14450\"",
		"\"[::1]:14450\"",
	] {
		assert!(err.contains(text), "{text:?} in {err}");
	}
	dir.write(
		"port.toml",
		"[server]\nbind = [\"127.0.0.1:4443\", \"127.0.0.1:99999\"]\n",
	);
	let err = refused(&dir.0, &["--config", "port.toml"]);
	for text in ["port.toml:2: server.bind", "port 99999 is out of range", "0 to 65535"] {
		assert!(err.contains(text), "{text:?} in {err}");
	}
	dir.write("number.toml", "[server]\nbind = 4443\n");
	let err = refused(&dir.0, &["--config", "number.toml"]);
	assert!(
		err.contains("server.bind: expected a string or a list") && err.contains("\"[::]:4443\""),
		"{err}"
	);

	// The flag and its variable take the same forms (clap names the flag; exit status 2).
	let output = run(Path::new(RELAY), &dir.0, &["--server-bind", "localhost:14450"], &[]);
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert_eq!(output.status.code(), Some(2), "{stderr}");
	assert!(
		stderr.contains("--server-bind") && stderr.contains("\"127.0.0.1:14450\""),
		"{stderr}"
	);
}

/// A port in use: one line naming it and the flag that picks another, and no IPv6 fallback
/// warning (the dev default's `[::1]` fallback is for machines without IPv6, not for a busy port).
#[test]
fn a_busy_port_names_the_flag_that_picks_another() {
	let dir = Scratch::new("busy");
	let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
	let busy = held.local_addr().unwrap().to_string();
	let err = refused(&dir.0, &["--server-bind", &busy]);
	for text in [
		format!("cannot listen on {busy}"),
		"already in use".into(),
		"--server-bind 127.0.0.1:".into(),
	] {
		assert!(err.contains(&text), "{text:?} in {err}");
	}

	// The dev default (no --config, no bind): 127.0.0.1:4443 held here, or by someone else.
	let _dev = std::net::TcpListener::bind("127.0.0.1:4443");
	let output = run(Path::new(RELAY), &dir.0, &[], &[("RUST_LOG", "info")]);
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert_eq!(output.status.code(), Some(1), "{stderr}");
	assert!(
		!stderr.contains("IPv4 loopback only") && !stderr.contains("IPv4 only"),
		"{stderr}"
	);
	assert!(
		stderr.contains("127.0.0.1:4443 is already in use") && stderr.contains("--server-bind 127.0.0.1:4444"),
		"{stderr}"
	);
	drop(held);
}

/// The start-up lines say how to get a token from what is configured, and logs written to a pipe
/// carry no colour escapes.
#[test]
fn start_up_lines_name_the_token_command_and_logs_have_no_colour_in_a_pipe() {
	let dir = Scratch::new("startup");
	keys(&dir);
	let lines = |args: &[&str]| {
		let mut child = Command::new(RELAY)
			.current_dir(&dir.0)
			.args(args)
			.args(["--server-bind", "127.0.0.1:0"])
			.env("RUST_LOG", "info")
			.stdout(Stdio::piped())
			.stderr(Stdio::piped())
			.spawn()
			.unwrap();
		let mut out = Vec::new();
		let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
		while let Some(Ok(line)) = stdout.next() {
			let last = line.starts_with("info:");
			out.push(line);
			if last {
				break;
			}
		}
		let _ = child.kill();
		let output = child.wait_with_output().unwrap();
		(out.join("\n"), String::from_utf8_lossy(&output.stderr).to_string())
	};
	let (out, _) = lines(&["--auth-key", "es.jwk", "--auth-public", "anon"]);
	assert!(
		out.contains("token: moq-token --key es.jwk sign --root <path>"),
		"{out}"
	);
	assert!(out.contains("info: http://localhost:"), "{out}");

	// Its warning is written before the start-up lines, so it is in the pipe by now.
	let (out, stderr) = lines(&["--config", "/dev/null"]);
	assert!(
		out.contains(
			"token: no public prefix and no token key, so every session is refused: set [auth] public or [auth] key"
		),
		"{out}"
	);
	assert!(
		stderr.contains("WARN") && stderr.contains("every session will be refused"),
		"{stderr}"
	);
	assert!(!stderr.contains('\u{1b}'), "colour escapes in a pipe: {stderr:?}");
	let (out, _) = lines(&[]);
	assert!(out.contains("token: none needed under /anon"), "{out}");
}

/// `GET /` answers the relay's MoQ URL, its fingerprint and how to get a token, as JSON or as a
/// page; a MoQ URL opened in a browser gets a 404 that says what it is and points at `/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_url_answers_the_urls_the_fingerprint_and_the_token_command() {
	let relay = TestRelay::start(Some("anon")).await;
	let (status, head, body) = http_get(&relay, "/", false).await;
	assert_eq!(status, 200, "{body}");
	assert!(head.contains("content-type: application/json"), "{head}");
	let index: serde_json::Value = serde_json::from_str(&body).unwrap();
	assert_eq!(index["urls"], serde_json::json!(["https://localhost/anon"]), "{body}");
	assert_eq!(index["fingerprint"], relay.fingerprint.as_str());
	assert_eq!(index["certificate"], "http://localhost/certificate.sha256");
	assert!(index["token"].as_str().unwrap().contains("none needed"), "{body}");

	let (status, _, body) = http_get(&relay, "/anon", true).await;
	assert_eq!(status, 404);
	assert!(
		body.contains("MoQ URLs") && body.contains("http://localhost/ lists"),
		"{body}"
	);
	relay.stop().await;

	let dir = Scratch::new("index");
	keys(&dir);
	let key = dir.path("es.jwk");
	let relay = TestRelay::start_with(move |config| config.auth.key = Some(key)).await;
	let (_, _, body) = http_get(&relay, "/", false).await;
	let index: serde_json::Value = serde_json::from_str(&body).unwrap();
	assert_eq!(index["urls"], serde_json::json!([]), "{body}");
	assert!(index["token"].as_str().unwrap().contains("moq-token --key"), "{body}");
	relay.stop().await;
}

/// A refused `/announced` request is counted like a refused session, and carries CORS headers so a
/// page on another origin can read why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_refusals_are_counted_and_readable_cross_origin() {
	let relay = TestRelay::start(Some("anon")).await;
	let (status, head, body) = http_get(&relay, "/announced/room", false).await;
	assert_eq!(status, 401, "{body}");
	assert!(head.contains("access-control-allow-origin: *"), "{head}");
	assert!(body.contains("missing_credential"), "{body}");
	let (_, _, metrics) = http_get(&relay, "/metrics", false).await;
	assert!(
		metrics.contains("moq_relay_auth_refused_total{code=\"missing_credential\"} 1"),
		"{metrics}"
	);
	relay.stop().await;
}

/// Writes a token for everything, `cluster` as given, expiring at `exp`.
fn cluster_token(key: &Key, file: &Path, cluster: bool, exp: u64) {
	let claims = Claims::new(TokenPath::root())
		.with_publish(TokenPath::root())
		.with_subscribe(TokenPath::root())
		.with_expires(exp);
	let claims = if cluster { claims.with_cluster(true) } else { claims };
	std::fs::write(file, key.sign(&claims).unwrap()).unwrap();
}

/// A leaf with an expired cluster token is refused by the root: its log says so with the next
/// step and never `cluster link up` (it used to, before every refusal); a token without
/// `cluster: true` is not dialed at all, with the command that signs a right one; a valid token
/// then brings the link up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_tokens_that_cannot_work_say_what_to_do_and_never_log_link_up() {
	let dir = Scratch::new("cluster");
	let key = Key::generate(Algorithm::HS256, Some(KeyId::new("cluster").unwrap())).unwrap();
	let key_file = dir.path("root.jwk");
	key.to_file(&key_file, KeyFormat::Base64Url).unwrap();
	let root_key = key_file.clone();
	let root = TestRelay::start_with(move |config| config.auth.key = Some(root_key)).await;
	let connect = format!("http://127.0.0.1:{}", root.addr.port());
	let token = dir.path("cluster.jwt");
	let leaf = |name: &str| {
		vec![
			"--server-bind".to_string(),
			"127.0.0.1:0".into(),
			"--auth-key".into(),
			"root.jwk".into(),
			"--cluster-connect".into(),
			connect.clone(),
			"--cluster-token".into(),
			name.into(),
		]
	};

	cluster_token(&key, &token, true, moq_token::unix_now() - 60);
	let args = leaf("cluster.jwt");
	let args: Vec<&str> = args.iter().map(String::as_str).collect();
	let mut expired = Watched::spawn(Path::new(RELAY), &dir.0, &args);
	let line = expired.wait_for("cluster link failed");
	for text in [
		"token_expired",
		"the cluster token in cluster.jwt has expired",
		"--cluster --expires-in",
		"replace the file",
	] {
		assert!(line.contains(text), "{text:?} in {line}");
	}
	// Replaced on disk: the next dial is admitted, and only now is the link said to be up.
	cluster_token(&key, &token, true, moq_token::unix_now() + 600);
	let up = expired.wait_for("cluster link up");
	let before: Vec<&String> = expired.seen.iter().take_while(|l| **l != up).collect();
	assert!(before.iter().all(|l| !l.contains("cluster link up")), "{before:#?}");
	assert!(before.iter().any(|l| l.contains("token_expired")), "{before:#?}");
	drop(expired);

	cluster_token(&key, &dir.path("plain.jwt"), false, moq_token::unix_now() + 600);
	let args = leaf("plain.jwt");
	let args: Vec<&str> = args.iter().map(String::as_str).collect();
	let mut plain = Watched::spawn(Path::new(RELAY), &dir.0, &args);
	let line = plain.wait_for("cluster link failed");
	for text in [
		"cluster_token_not_cluster",
		"plain.jwt",
		"sign --root \"\" --publish \"\" --subscribe \"\" --cluster",
		"docs/cluster.md",
	] {
		assert!(line.contains(text), "{text:?} in {line}");
	}
	drop(plain);
	root.stop().await;
}

/// A peer dialed as `host:port` (CA roots) with a self-signed certificate: the failure names the
/// certificate, `http://` pinning and `tls_root`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peer_certificate_names_http_pinning_and_tls_root() {
	let dir = Scratch::new("untrusted");
	let key = Key::generate(Algorithm::HS256, Some(KeyId::new("cluster").unwrap())).unwrap();
	key.to_file(dir.path("root.jwk"), KeyFormat::Base64Url).unwrap();
	cluster_token(&key, &dir.path("cluster.jwt"), true, moq_token::unix_now() + 600);
	let root_key = dir.path("root.jwk");
	let root = TestRelay::start_with(move |config| config.auth.key = Some(root_key)).await;
	let connect = format!("127.0.0.1:{}", root.addr.port());
	let args = [
		"--server-bind",
		"127.0.0.1:0",
		"--cluster-connect",
		&connect,
		"--cluster-token",
		"cluster.jwt",
	];
	let mut leaf = Watched::spawn(Path::new(RELAY), &dir.0, &args);
	let line = leaf.wait_for("cluster link failed");
	for text in [
		"cluster_certificate",
		"invalid peer certificate",
		&format!("dial http://{connect}"),
		"[cluster] tls_root",
	] {
		assert!(line.contains(text), "{text:?} in {line}");
	}
	drop(leaf);
	root.stop().await;
}

/// The `clock` example fails at once, with what to check, on a scheme no relay serves and on a
/// port nothing listens on, and after `CLOCK_WAIT` on a broadcast nobody publishes (naming what
/// is published there); it used to wait forever, silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_example_fails_clearly_on_a_wrong_scheme_port_or_name() {
	let clock = common::example("clock");
	let dir = Scratch::new("clock");
	let output = run(&clock, &dir.0, &["subscribe", "ftp://127.0.0.1:4443/anon"], &[]);
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert_eq!(output.status.code(), Some(1), "{stderr}");
	assert!(
		stderr.contains("the scheme `ftp`") && stderr.contains("http://") && stderr.contains("moqt://"),
		"{stderr}"
	);

	let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
	let port = closed.local_addr().unwrap().port();
	drop(closed);
	let url = format!("http://127.0.0.1:{port}/anon?jwt=secret-token");
	let output = run(&clock, &dir.0, &["publish", &url], &[]);
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert_eq!(output.status.code(), Some(1), "{stderr}");
	assert!(
		stderr.contains("cannot reach a relay at") && stderr.contains("listening: ADDR"),
		"{stderr}"
	);
	assert!(!stderr.contains("secret-token"), "the token is never printed: {stderr}");

	let relay = TestRelay::start(Some("anon")).await;
	let publisher = moq_relay_bench::publisher::Publisher::start(
		relay.client(None),
		relay.url("https", "/anon"),
		"clock",
		"seconds",
	)
	.await
	.unwrap();
	// Announced at the relay before the example looks.
	let deadline = Instant::now() + common::BOUND;
	while http_get(&relay, "/announced/anon", false).await.2 != "clock\n" {
		assert!(Instant::now() < deadline, "clock was never announced");
		tokio::time::sleep(Duration::from_millis(20)).await;
	}
	let url = format!("http://127.0.0.1:{}/anon", relay.addr.port());
	let clock2 = clock.clone();
	let output = tokio::task::spawn_blocking(move || {
		run(
			&clock2,
			Path::new("."),
			&["subscribe", &url, "clok"],
			&[("CLOCK_WAIT", "5")],
		)
	})
	.await
	.unwrap();
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert_eq!(output.status.code(), Some(1), "{stderr}");
	for text in [
		"no broadcast `clok`",
		"after 5s",
		"published there: clock",
		"check the name",
	] {
		assert!(stderr.contains(text), "{text:?} in {stderr}");
	}
	publisher.close().await;
	relay.stop().await;
}

/// The relay configurations of the upstream relay's authentication guide, as it writes them: a
/// `dev.toml` at the top of a checkout (`key = "dev/root.jwk"`, `public = "anon"`), and a
/// `leaf.toml` that dials its root as `host:port` (CA roots) with `token = "dev/cluster.jwt"`. Only
/// the root's name and port are ours (`localhost` and a free port for `root-relay:4443`); the root's
/// certificate comes from a CA the leaf trusts through `SSL_CERT_FILE`, as a system CA would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_guides_dev_and_leaf_configurations_run_as_written() {
	let dir = Scratch::new("guide");
	std::fs::create_dir_all(dir.path("dev")).unwrap();
	let key = Key::generate(Algorithm::HS256, None).unwrap();
	key.to_file(dir.path("dev/root.jwk"), KeyFormat::Base64Url).unwrap();
	let everything = Claims::new(TokenPath::root())
		.with_publish(TokenPath::root())
		.with_subscribe(TokenPath::root());
	std::fs::write(
		dir.path("dev/cluster.jwt"),
		key.sign(&everything.with_cluster(true)).unwrap(),
	)
	.unwrap();

	dir.write(
		"dev.toml",
		"[auth]\nkey = \"dev/root.jwk\"    # Path to JWT signing key\npublic = \"anon\"         # Allow anonymous access to /anon prefix\n",
	);
	let check = run(Path::new(RELAY), &dir.0, &["--check", "--config", "dev.toml"], &[]);
	let stdout = String::from_utf8_lossy(&check.stdout);
	assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
	assert!(
		stdout.contains("key = \"dev/root.jwk\"") && stdout.contains("public = [\"anon\"]"),
		"{stdout}"
	);

	let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
	params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
	params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
	params
		.distinguished_name
		.push(rcgen::DnType::CommonName, "guide test CA");
	let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
	let root_key = rcgen::KeyPair::generate().unwrap();
	let root_cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
		.unwrap()
		.signed_by(&root_key, &ca)
		.unwrap();
	let ca_pem = dir.write("ca.pem", &ca.pem());
	let (cert, pem_key) = (
		dir.write("root.pem", &root_cert.pem()),
		dir.write("root.key", &root_key.serialize_pem()),
	);
	let key_file = dir.path("dev/root.jwk");
	let root = TestRelay::start_with(move |config| {
		config.tls.generate = None;
		config.tls.cert = Some(cert);
		config.tls.key = Some(pem_key);
		config.auth.key = Some(key_file);
	})
	.await;

	dir.write(
		"leaf.toml",
		&format!(
			"[cluster]\nconnect = \"localhost:{}\"\ntoken = \"dev/cluster.jwt\"    # Pre-generated cluster token\n",
			root.addr.port()
		),
	);
	let mut leaf = Watched::spawn_with(
		Path::new(RELAY),
		&dir.0,
		&["--config", "leaf.toml", "--server-bind", "127.0.0.1:0"],
		&[("SSL_CERT_FILE", ca_pem.to_str().unwrap())],
	);
	leaf.wait_for("cluster link up");
	assert!(
		leaf.seen.iter().all(|l| !l.contains("cluster link failed")),
		"{:#?}",
		leaf.seen
	);
	drop(leaf);
	root.stop().await;
}
