//! Headless Chromium (Debian's `chromium`) over WebTransport against the relay:
//! `serverCertificateHashes` with the generated certificate, WT-Protocol
//! negotiation, a broadcast exchanged both ways between @moq/net 0.3.4 in the
//! page (moq-lite-05, or forced to an IETF draft from -14 to -20) and the published
//! moq-tokio client, and how a refused session looks to the page.
//!
//! `tests/browser/webtransport.mjs` does the browser side (see its header for
//! the arguments and the JSON it prints). `dev/setup.sh` installs Chromium and
//! the script's npm packages; without them these tests fail, they never skip.

use crate::common;

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::{TestRelay, lite05, within};

const BROWSER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");

/// Runs `node webtransport.mjs <url> <fingerprint> <mode>` and returns its JSON line.
pub fn run_script(url: &str, fingerprint: &str, mode: &str) -> serde_json::Value {
	run_script_for(url, fingerprint, mode, 15_000)
}

/// `run_script` with an overall bound of `timeout_ms`.
fn run_script_for(url: &str, fingerprint: &str, mode: &str, timeout_ms: u32) -> serde_json::Value {
	run_node("webtransport.mjs", &[url, fingerprint, mode, &timeout_ms.to_string()])
}

/// Runs `node <script> <args>` in `tests/browser` (one Chromium at a time) and returns the JSON of
/// its last line. Blocking: call it from `spawn_blocking` while the relay runs on the runtime.
pub fn run_node(script: &str, args: &[&str]) -> serde_json::Value {
	// One Chromium at a time: several starting at once on a loaded 2-core machine made an
	// opening handshake time out now and then.
	static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());
	let _turn = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
	let dir = std::path::Path::new(BROWSER_DIR);
	assert!(
		dir.join("node_modules/playwright-core").is_dir() && dir.join("node_modules/@moq/net").is_dir(),
		"{BROWSER_DIR}/node_modules is missing: run dev/setup.sh (npm ci there)"
	);
	let output = Command::new("node")
		.current_dir(dir)
		.arg(script)
		.args(args)
		.output()
		.unwrap_or_else(|err| panic!("running node (install Node.js; dev/setup.sh does the rest): {err}"));
	let stdout = String::from_utf8_lossy(&output.stdout);
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert!(
		output.status.success(),
		"{script} failed ({}); is /usr/bin/chromium installed (dev/setup.sh)?\nstdout: {stdout}\nstderr: {stderr}",
		output.status
	);
	let line = stdout.lines().last().unwrap_or_default();
	let result: serde_json::Value =
		serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}\nstderr: {stderr}"));
	eprintln!("{script} {}: {result}", args.get(1).or(args.first()).unwrap_or(&""));
	result
}

/// The WebTransport URL the page dials. 127.0.0.1, not localhost: Chromium
/// tries ::1 first for localhost and does not fall back on QUIC.
pub fn browser_url(relay: &TestRelay, path: &str) -> String {
	format!("https://127.0.0.1:{}/{path}", relay.addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_exchanges_a_broadcast_with_a_rust_client() {
	let result = exchange(lite05(), None).await;
	// WT-Available-Protocols → WT-Protocol, read back as WebTransport.protocol.
	assert_eq!(result["protocol"], "moq-lite-05", "{result}");
}

/// @moq/net offering only `moqt-16`: the relay answers WT-Protocol `moqt-16` and the page speaks
/// draft-16 with a Rust client that speaks it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_forced_to_draft16_exchanges_a_broadcast_with_a_rust_client() {
	let result = exchange("moq-transport-16".parse().unwrap(), Some("moqt-16")).await;
	assert_eq!(result["protocol"], "moqt-16", "{result}");
	assert_eq!(result["version"], "moq-transport-16", "{result}");
}

/// @moq/net offering only `moqt-20` (the working group's interop target): its own draft-20 code
/// against the relay, with a Rust client at draft-16 on the other side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_forced_to_draft20_exchanges_a_broadcast_with_a_draft16_rust_client() {
	let result = exchange("moq-transport-16".parse().unwrap(), Some("moqt-20")).await;
	assert_eq!(result["protocol"], "moqt-20", "{result}");
	assert_eq!(result["version"], "moq-transport-20", "{result}");
}

/// @moq/net offering only `moqt-18`: draft-18's SETUP streams and a stream per request, with a
/// Rust client at lite-05 on the other side of the relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_forced_to_draft18_exchanges_a_broadcast_with_a_lite05_rust_client() {
	let result = exchange(lite05(), Some("moqt-18")).await;
	assert_eq!(result["protocol"], "moqt-18", "{result}");
	assert_eq!(result["version"], "moq-transport-18", "{result}");
}

/// @moq/net offering only `moq-lite-03`, the oldest moq-lite the relay speaks: no SETUP, hop
/// counts in place of hop ids, no GOAWAY, against a lite-05 Rust client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_forced_to_lite03_exchanges_a_broadcast_with_a_lite05_rust_client() {
	let result = exchange(lite05(), Some("moq-lite-03")).await;
	assert_eq!(result["protocol"], "moq-lite-03", "{result}");
	assert_eq!(result["version"], "moq-lite-03", "{result}");
}

/// @moq/net offering only `moqt-15`, `moqt-17` or `moqt-19`, the drafts between those above, each
/// with a Rust client at a neighbouring draft on the other side of the relay: a second,
/// independent reading of each (the relay's forms were written from the Rust client's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_forced_to_draft15_exchanges_a_broadcast_with_a_draft14_rust_client() {
	let result = exchange("moq-transport-14".parse().unwrap(), Some("moqt-15")).await;
	assert_eq!(result["protocol"], "moqt-15", "{result}");
	assert_eq!(result["version"], "moq-transport-15", "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_forced_to_draft17_exchanges_a_broadcast_with_a_draft18_rust_client() {
	let result = exchange("moq-transport-18".parse().unwrap(), Some("moqt-17")).await;
	assert_eq!(result["protocol"], "moqt-17", "{result}");
	assert_eq!(result["version"], "moq-transport-17", "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_forced_to_draft19_exchanges_a_broadcast_with_a_lite05_rust_client() {
	let result = exchange(lite05(), Some("moqt-19")).await;
	assert_eq!(result["protocol"], "moqt-19", "{result}");
	assert_eq!(result["version"], "moq-transport-19", "{result}");
}

/// @moq/net offering only `moql` (no sub-protocol the relay knows): no WT-Protocol, CLIENT_SETUP
/// offers lite-02, lite-01 and draft-14, the relay picks draft-14, and the page's broadcast
/// reaches a lite-05 Rust client (and the reverse) through the relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_forced_to_draft14_exchanges_a_broadcast_with_a_lite05_rust_client() {
	let result = exchange(lite05(), Some("moql")).await;
	assert_eq!(result["protocol"], "", "{result}");
	assert_eq!(result["version"], "moq-transport-14", "{result}");
}

/// The page (`webtransport.mjs exchange`, offering `protocols` or @moq/net's own list) and a Rust
/// client at `version` exchange a broadcast each way through the relay; returns the page's JSON.
async fn exchange(version: moq_net::Version, protocols: Option<&str>) -> serde_json::Value {
	let relay = TestRelay::start(Some("anon")).await;

	// The Rust side: publishes `rust/t`, watches for `browser`.
	let origin = moq_tokio::origin::spawn();
	let broadcast = origin.create_broadcast("rust").unwrap();
	let track = broadcast.create_track("t", None).unwrap();
	broadcast.announce(Default::default()).unwrap();
	let incoming = moq_tokio::origin::spawn();
	let consumer = incoming.consume();
	let mut announced = consumer.announced();
	let client = relay.client(Some(version));
	let connection = client
		.clone()
		.with_publisher(&origin)
		.with_subscriber(incoming.clone())
		.connect(relay.url("moqt", "anon"));
	let connection = within("Rust client established", connection.established())
		.await
		.unwrap();

	let url = browser_url(&relay, "anon");
	let fingerprint = relay.fingerprint.clone();
	let mut args = vec![url, fingerprint, "exchange".to_string(), "15000".to_string()];
	args.extend(protocols.map(str::to_string));
	let mut browser = tokio::task::spawn_blocking(move || {
		run_node("webtransport.mjs", &args.iter().map(String::as_str).collect::<Vec<_>>())
	});

	// The page's broadcast, read here.
	loop {
		let update = within("the browser's announcement", announced.next())
			.await
			.expect("announcements end");
		if update.kind.is_active() && update.prefix.as_str() == "browser" {
			break;
		}
	}
	let remote = within("broadcast", consumer.request_broadcast("browser"))
		.await
		.unwrap();
	let mut subscription = within("subscription", remote.track("t").unwrap().subscribe(None))
		.await
		.unwrap();
	let mut group = within("a browser group", subscription.recv_group())
		.await
		.unwrap()
		.expect("the browser's track ended");
	let frame = within("a browser frame", group.read_frame())
		.await
		.unwrap()
		.expect("an empty group");
	let text = String::from_utf8(frame.payload.to_vec()).unwrap();
	assert!(text.starts_with("browser-"), "{text}");

	// Answer until the page has read the answer and finished.
	let ack = format!("ack:{text}");
	let mut tick = tokio::time::interval(Duration::from_millis(100));
	let result = loop {
		tokio::select! {
			done = &mut browser => break done.unwrap(),
			_ = tick.tick() => {
				let mut group = track.append_group().unwrap();
				group
					.write_frame(moq_net::Timestamp::now(), Bytes::from(ack.clone().into_bytes()))
					.unwrap();
				group.finish().unwrap();
			}
			_ = tokio::time::sleep(Duration::from_secs(30)) => panic!("the browser script did not finish"),
		}
	};

	assert_eq!(result["secureContext"], true, "{result}");
	assert_eq!(result["ready"], true, "{result}");
	assert_eq!(result["ok"], true, "{result}");
	assert_eq!(result["received"], ack.as_str(), "{result}");

	drop(subscription);
	broadcast.close();
	connection.close().await.ok();
	client.close().await;
	relay.stop().await;
	result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_sees_the_refusal_code_and_reason() {
	// No public access at /private and no credential: missing_credential.
	let relay = TestRelay::start(Some("anon")).await;
	let url = browser_url(&relay, "private");
	let fingerprint = relay.fingerprint.clone();
	// The script bounds itself (15 s).
	let result = tokio::task::spawn_blocking(move || run_script(&url, &fingerprint, "closed"))
		.await
		.unwrap();
	assert_eq!(result["ok"], true, "{result}");
	assert_eq!(result["closed"], "clean", "{result}");
	assert_eq!(result["closeCode"], 2, "{result}");
	assert_eq!(result["reason"], "missing_credential", "{result}");
	relay.stop().await;
}

/// `?jwt=` from a browser page: a good token gives a session that opens and stays open; a bad
/// or expired one is closed with code 2 and the error code, which the page reads from
/// `WebTransport.closed` (an HTTP status on the CONNECT would be invisible to it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_with_a_jwt_in_the_url() {
	use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, Path};
	let scratch = crate::common::scratch("moq-relay-browser-jwt-");
	let dir = scratch.path().to_path_buf();
	let key = Key::generate(Algorithm::ES256, Some(KeyId::new("browser").unwrap())).unwrap();
	key.to_public()
		.unwrap()
		.to_file(dir.join("root.pub.jwk"), KeyFormat::Base64Url)
		.unwrap();
	let key_file = dir.join("root.pub.jwk");
	let relay = TestRelay::start_with(move |config| config.auth.key = Some(key_file)).await;
	let claims = Claims::new(Path::new("room").unwrap()).with_subscribe(Path::root());
	let good = key
		.sign(&claims.clone().with_expires(moq_token::unix_now() + 600))
		.unwrap();
	let expired = key
		.sign(&claims.clone().with_expires(moq_token::unix_now() - 1))
		.unwrap();
	let other = Key::generate(Algorithm::ES256, Some(KeyId::new("browser").unwrap())).unwrap();
	let forged = other.sign(&claims.with_expires(moq_token::unix_now() + 600)).unwrap();

	let cases = [
		(good.clone(), "closed", None),
		(forged, "closed", Some("invalid_token: bad_signature")),
		(expired, "closed", Some("token_expired")),
	];
	for (token, mode, refusal) in cases {
		let url = format!("{}?jwt={token}", browser_url(&relay, "room"));
		let fingerprint = relay.fingerprint.clone();
		// An admitted session is still open when the page stops waiting (3 s).
		let result = tokio::task::spawn_blocking(move || run_script_for(&url, &fingerprint, mode, 3_000))
			.await
			.unwrap();
		assert_eq!(result["ready"], true, "{result}");
		match refusal {
			None => assert_eq!(
				result["closed"], "timeout",
				"a good token's session stays open: {result}"
			),
			Some(reason) => {
				assert_eq!(result["closed"], "clean", "{result}");
				assert_eq!(result["closeCode"], 2, "{result}");
				assert_eq!(result["reason"], reason, "{result}");
			}
		}
	}
	relay.stop().await;
}
