//! The Better Auth preset (`docs/auth.md`, "Better Auth") against the real npm `better-auth` package:
//! a Node app (`tests/better-auth/server.mjs`: memory adapter, email and password sign-up, the JWT
//! plugin, the cookie cache in its `jwt` strategy) signs a user up and hands out its tokens; the
//! relay accepts the JWT plugin's token (verified with the keys that same process serves at
//! `/api/auth/jwks`) and the cookie-cache JWT (HS256 with the app's secret) with the templated
//! grant `users/{sub}`, and refuses tampered, expired and other-secret tokens.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use moq_relay::wire::SessionCode;
use serde_json::Value;

use crate::auth_service::get;
use crate::common::{TestRelay, admitted, announce_ok, closed};

const UNAUTHORIZED: u64 = SessionCode::UNAUTHORIZED.into_inner() as u64;
const APP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/better-auth");
const SECRET: &str = "better-auth-test-secret-0123456789abcdef";

/// The Node app, stopped when dropped.
struct App {
	child: Child,
	handed: Value,
}

impl Drop for App {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

impl App {
	/// Starts the app and reads what it handed out (its first line of output).
	fn start() -> Self {
		let dir = std::path::Path::new(APP_DIR);
		assert!(
			dir.join("node_modules/better-auth").is_dir(),
			"{APP_DIR}/node_modules is missing: run dev/setup.sh (npm ci there)"
		);
		let mut child = Command::new("node")
			.arg("server.mjs")
			.current_dir(dir)
			.env("BETTER_AUTH_SECRET", SECRET)
			.env("BETTER_AUTH_TELEMETRY", "0")
			.stdin(Stdio::piped())
			.stdout(Stdio::piped())
			.stderr(Stdio::inherit())
			.spawn()
			.unwrap_or_else(|err| panic!("running node (install Node.js; dev/setup.sh does the rest): {err}"));
		let stdout = child.stdout.take().expect("stdout");
		let (tx, rx) = std::sync::mpsc::channel();
		std::thread::spawn(move || {
			let mut line = String::new();
			let _ = BufReader::new(stdout).read_line(&mut line);
			let _ = tx.send(line);
		});
		let line = rx
			.recv_timeout(Duration::from_secs(30))
			.expect("the Better Auth app printed nothing within 30 s");
		let handed = serde_json::from_str(&line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
		Self { child, handed }
	}

	fn get(&self, name: &str) -> String {
		self.handed[name]
			.as_str()
			.unwrap_or_else(|| panic!("{name} in {}", self.handed))
			.to_string()
	}
}

/// `token` with one character of its signature changed.
fn tampered(token: &str) -> String {
	let at = token.rfind('.').unwrap() + 5;
	let mut bytes = token.as_bytes().to_vec();
	bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
	String::from_utf8(bytes).unwrap()
}

async fn refusal(relay: &TestRelay, path: &str, token: &str) -> String {
	let conn = admitted(relay, &format!("{path}?jwt={token}")).await;
	let (code, reason) = closed(&conn).await;
	assert_eq!(code, UNAUTHORIZED);
	reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn better_auth_tokens_get_the_templated_grant() {
	let app = App::start();
	let base_url = app.get("base_url");
	let user = app.get("user_id");
	let relay = TestRelay::start_with(move |config| {
		config.auth.public = None;
		config.auth.jwks_refresh_min = Some(Duration::from_secs(1));
		config.auth.identity = Some(vec![moq_relay::config::IdentityEntry {
			name: "app".into(),
			preset: Some("better-auth".into()),
			base_url: Some(base_url),
			secret: Some(SECRET.into()),
			..Default::default()
		}]);
	})
	.await;
	let home = format!("/users/{user}");

	for name in ["plugin_jwt", "cookie_cache"] {
		let token = app.get(name);
		// A MoQ session at the user's root, over raw QUIC...
		let conn = admitted(&relay, &format!("{home}?jwt={token}")).await;
		announce_ok(&conn).await;
		// ...an HTTP route with the token as a Bearer...
		let (status, body) = get(
			relay.addr,
			&format!("/announced{home}"),
			&[("authorization", &format!("Bearer {token}"))],
		)
		.await;
		assert_eq!(status, 200, "{name}: {body}");
		// ...and nothing outside it.
		assert_eq!(
			refusal(&relay, "/users/someone-else", &token).await,
			"root_mismatch",
			"{name}"
		);
		assert_eq!(
			refusal(&relay, &home, &tampered(&token)).await,
			"invalid_token: bad_signature",
			"{name} tampered"
		);
	}
	assert_eq!(
		refusal(&relay, &home, &app.get("cookie_cache_expired")).await,
		"token_expired"
	);
	assert_eq!(
		refusal(&relay, &home, &app.get("cookie_cache_other_secret")).await,
		"invalid_token: bad_signature"
	);
	// The audit subject names the identity and the user.
	let (status, _) = get(
		relay.addr,
		&format!("/announced{home}"),
		&[("authorization", &format!("Bearer {}", app.get("cookie_cache")))],
	)
	.await;
	assert_eq!(status, 200);
	relay.stop().await;
}
