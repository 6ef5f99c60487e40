//! Privacy Pass from a browser page (headless Chromium, `tests/browser/webtransport.mjs` in its
//! `closed` mode): the page reads the relay's TokenChallenge from `WebTransport.closed` (code 2,
//! reason `pp:<base64url>`), a token for that challenge (issued here by the local issuer) opens a
//! session with `?pp=`, and its replay is closed with `token_replayed`.
//!
//! Needs Node.js, `/usr/bin/chromium` and the npm packages of `tests/browser` (`dev/setup.sh`);
//! without them the test fails, it never skips.

use crate::common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::TestRelay;
use moq_privacy_pass::{Issuer, IssuerKeyPair, TokenChallenge, request_token};

const BROWSER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");

/// `node webtransport.mjs <url> <fingerprint> closed <timeout-ms>`: its JSON line.
fn page_closed(url: &str, fingerprint: &str, timeout_ms: u32) -> serde_json::Value {
	let dir = std::path::Path::new(BROWSER_DIR);
	assert!(
		dir.join("node_modules/playwright-core").is_dir(),
		"{BROWSER_DIR}/node_modules is missing: run dev/setup.sh (npm ci there)"
	);
	let output = Command::new("node")
		.current_dir(dir)
		.args(["webtransport.mjs", url, fingerprint, "closed", &timeout_ms.to_string()])
		.output()
		.unwrap_or_else(|err| panic!("running node (install Node.js; dev/setup.sh does the rest): {err}"));
	let stdout = String::from_utf8_lossy(&output.stdout);
	assert!(
		output.status.success(),
		"webtransport.mjs failed ({}); is /usr/bin/chromium installed (dev/setup.sh)?\nstdout: {stdout}\nstderr: {}",
		output.status,
		String::from_utf8_lossy(&output.stderr)
	);
	let line = stdout.lines().last().unwrap_or_default();
	serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
}

async fn page(relay: &TestRelay, path_and_query: &str, timeout_ms: u32) -> serde_json::Value {
	// 127.0.0.1, not localhost: Chromium tries ::1 first for localhost and does not fall back on QUIC.
	let url = format!("https://127.0.0.1:{}/{path_and_query}", relay.addr.port());
	let fingerprint = relay.fingerprint.clone();
	tokio::task::spawn_blocking(move || page_closed(&url, &fingerprint, timeout_ms))
		.await
		.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reads_the_challenge_and_redeems_a_token_with_pp() {
	let issuer = Arc::new(
		Issuer::new(
			"http://issuer.test/token-request",
			vec![IssuerKeyPair::generate().unwrap()],
		)
		.unwrap(),
	);
	let key = issuer.keys()[0].public_key().clone();
	let scratch = crate::common::scratch("moq-relay-browser-pp-");
	let dir = scratch.path().to_path_buf();
	let key_file = dir.join("issuer.pub");
	std::fs::write(&key_file, key.to_base64()).unwrap();
	let relay = TestRelay::start_with(move |config| {
		config.auth.public = Some(vec!["anon".into()]);
		let pp = &mut config.privacypass;
		pp.enabled = Some(true);
		pp.issuer = Some("issuer.test".into());
		pp.issuer_key = Some(vec![key_file]);
		pp.subscribe = Some(vec![String::new()]);
		pp.origins = Some(vec!["relay.test".into()]);
	})
	.await;

	// No credential at a non-public path: the page reads the challenge from WebTransport.closed.
	let result = page(&relay, "room", 15_000).await;
	assert_eq!(result["ready"], true, "{result}");
	assert_eq!(result["closed"], "clean", "{result}");
	assert_eq!(result["closeCode"], 2, "{result}");
	let reason = result["reason"].as_str().unwrap_or_default();
	assert!(reason.starts_with("pp:"), "{result}");
	let challenge = TokenChallenge::from_close_reason(reason).unwrap();
	assert_eq!(challenge.issuer_name(), "issuer.test");
	assert_eq!(challenge.origin_info(), b"relay.test");

	// A token for exactly that challenge, in ?pp= (WebTransport in a browser sends no headers):
	// the session opens and stays open until the page stops waiting.
	let (request, state) = request_token(&challenge, &key).unwrap();
	let token = state.finalize(&issuer.issue_request(&request).unwrap()).unwrap();
	let with_token = format!("room?pp={}", token.to_base64());
	let result = page(&relay, &with_token, 3_000).await;
	assert_eq!(result["ready"], true, "{result}");
	assert_eq!(result["closed"], "timeout", "an admitted session stays open: {result}");

	// The same token again: refused, and the page reads why.
	let result = page(&relay, &with_token, 15_000).await;
	assert_eq!(result["closed"], "clean", "{result}");
	assert_eq!(result["closeCode"], 2, "{result}");
	assert_eq!(result["reason"], "token_replayed", "{result}");

	tokio::time::timeout(Duration::from_secs(20), relay.stop())
		.await
		.unwrap();
}
