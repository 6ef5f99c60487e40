//! The Better Auth preset (`docs/auth.md`, "Better Auth") against the real npm `better-auth` package:
//! a Node app (`tests/better-auth/server.mjs`: memory adapter, email and password sign-up, the JWT
//! plugin, the cookie cache in its `jwt` strategy) signs a user up and hands out its tokens; the
//! relay accepts the JWT plugin's token (verified with the keys that same process serves at
//! `/api/auth/jwks`) and the cookie-cache JWT (HS256 with the app's secret) with the templated
//! grant `users/{sub}`, and refuses tampered, expired and other-secret tokens. The session cookie
//! (signed in through the app's HTTP API) is checked with the app's `get-session` on HTTP routes
//! and WebSocket upgrades, from allowed origins only, and refused once signed out.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::auth_service::{get, refusal as http_refusal};
use crate::common::{TestRelay, admitted, announce_ok, jwt_refusal, within};

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
			jwt_refusal(&relay, "/users/someone-else", &token).await,
			"root_mismatch",
			"{name}"
		);
		assert_eq!(
			jwt_refusal(&relay, &home, &tampered(&token)).await,
			"invalid_token: bad_signature",
			"{name} tampered"
		);
	}
	assert_eq!(
		jwt_refusal(&relay, &home, &app.get("cookie_cache_expired")).await,
		"token_expired"
	);
	assert_eq!(
		jwt_refusal(&relay, &home, &app.get("cookie_cache_other_secret")).await,
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

/// Signs Alice (the user the app signed up) in through the app's HTTP API: her session cookie,
/// `better-auth.session_token=<value>`.
async fn sign_in(base_url: &str) -> String {
	let response = within(
		"sign-in",
		reqwest::Client::new()
			.post(format!("{base_url}/api/auth/sign-in/email"))
			.header("origin", base_url)
			.header("content-type", "application/json")
			.body(r#"{"email": "alice@example.com", "password": "correct horse battery"}"#)
			.send(),
	)
	.await
	.unwrap();
	assert_eq!(response.status(), 200, "sign-in");
	response
		.headers()
		.get_all("set-cookie")
		.iter()
		.filter_map(|v| v.to_str().ok()?.split(';').next())
		.find(|pair| pair.starts_with("better-auth.session_token="))
		.expect("a session cookie")
		.to_string()
}

/// Signs the session of `cookie` out through the app's HTTP API.
async fn sign_out(base_url: &str, cookie: &str) {
	let response = within(
		"sign-out",
		reqwest::Client::new()
			.post(format!("{base_url}/api/auth/sign-out"))
			.header("origin", base_url)
			.header("cookie", cookie)
			.header("content-type", "application/json")
			.body("{}")
			.send(),
	)
	.await
	.unwrap();
	assert_eq!(response.status(), 200, "sign-out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn better_auth_session_cookies_are_checked_with_the_app() {
	let app = App::start();
	let base_url = app.get("base_url");
	let user = app.get("user_id");
	let app_url = base_url.clone();
	let relay = TestRelay::start_with(move |config| {
		config.auth.public = None;
		config.web.allowed_origins = Some(vec!["https://app.example".into()]);
		config.auth.identity = Some(vec![moq_relay::config::IdentityEntry {
			name: "app".into(),
			preset: Some("better-auth".into()),
			base_url: Some(app_url),
			secret: Some(SECRET.into()),
			..Default::default()
		}]);
	})
	.await;
	let home = format!("/announced/users/{user}");
	let own = format!("http://127.0.0.1:{}", relay.addr.port());
	let cookie = sign_in(&base_url).await;

	// The cookie alone (a native client, or the relay's own pages, or an allowed origin): the
	// templated grant, checked with the app's get-session.
	for origin in [None, Some(own.as_str()), Some("https://app.example")] {
		let mut headers = vec![("cookie", cookie.as_str())];
		headers.extend(origin.map(|o| ("origin", o)));
		let (status, body) = get(relay.addr, &home, &headers).await;
		assert_eq!(status, 200, "{origin:?}: {body}");
	}
	// Among the browser's other cookies, too; and nothing outside the user's root.
	let jar = format!("theme=dark; {cookie}; other=1");
	let (status, body) = get(relay.addr, &home, &[("cookie", &jar)]).await;
	assert_eq!(status, 200, "{body}");
	let (status, body) = get(relay.addr, "/announced/users/someone-else", &[("cookie", &cookie)]).await;
	assert_eq!(
		(status, http_refusal(&body).0.as_str()),
		(403, "root_mismatch"),
		"{body}"
	);

	// A page on another site: refused before the cookie is looked at, and nothing repeated.
	let (status, body) = get(
		relay.addr,
		&home,
		&[("cookie", &cookie), ("origin", "https://evil.example")],
	)
	.await;
	assert_eq!(
		(status, http_refusal(&body).0.as_str()),
		(403, "origin_not_allowed"),
		"{body}"
	);
	assert!(!body.contains(&cookie[26..]) && !body.contains("evil"), "{body}");

	// A WebSocket upgrade with the cookie, from the relay's own origin: admitted (the relay opens
	// its SETUP stream, which a refused session never gets).
	let session = crate::websocket::raw_upgrade(
		&relay,
		&format!("/users/{user}"),
		&[("cookie", &cookie), ("origin", &own)],
	)
	.await
	.expect("upgraded");
	within("the relay's SETUP", moq_relay::transport::Session::accept_uni(&session))
		.await
		.expect("admitted");
	// The same cookie on a WebTransport CONNECT is no credential (its Origin is not checked there).
	let session = crate::common::webtransport_with(
		&relay,
		&format!("/users/{user}"),
		&[("cookie", &cookie), ("origin", "https://evil.example")],
	)
	.await;
	assert_eq!(
		crate::common::webtransport_closed(&session).await,
		(2, "missing_credential".to_string())
	);

	// A cookie the app never issued, and a forged one.
	for forged in ["better-auth.session_token=nobody.sig", &format!("{cookie}x")] {
		let (status, body) = get(relay.addr, &home, &[("cookie", forged)]).await;
		assert_eq!(
			(status, http_refusal(&body).0.as_str()),
			(401, "invalid_token"),
			"{body}"
		);
	}

	// Signed out: a session the relay never saw is refused at once; one it allowed within the
	// cache's bound.
	let unseen = sign_in(&base_url).await;
	sign_out(&base_url, &unseen).await;
	let (status, body) = get(relay.addr, &home, &[("cookie", &unseen)]).await;
	assert_eq!(
		(status, http_refusal(&body).0.as_str()),
		(401, "invalid_token"),
		"{body}"
	);
	sign_out(&base_url, &cookie).await;
	let bound = moq_relay::auth::SESSION_CACHE + Duration::from_secs(5);
	let refused = tokio::time::timeout(bound, async {
		loop {
			let (status, body) = get(relay.addr, &home, &[("cookie", &cookie)]).await;
			if status != 200 {
				return (status, body);
			}
			tokio::time::sleep(Duration::from_millis(200)).await;
		}
	})
	.await
	.expect("the signed-out cookie is refused within the cache's bound");
	assert_eq!(
		(refused.0, http_refusal(&refused.1).0.as_str()),
		(401, "invalid_token"),
		"{}",
		refused.1
	);
	relay.stop().await;
}

/// An app that cannot be reached refuses the cookie with `auth_service_unavailable`; it never
/// admits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_better_auth_app_refuses_session_cookies() {
	// A port nobody listens on.
	let closed = std::net::TcpListener::bind("127.0.0.1:0")
		.unwrap()
		.local_addr()
		.unwrap();
	let relay = TestRelay::start_with(move |config| {
		config.auth.public = None;
		config.auth.jwks_timeout = Some(Duration::from_secs(2));
		config.auth.identity = Some(vec![moq_relay::config::IdentityEntry {
			name: "app".into(),
			preset: Some("better-auth".into()),
			base_url: Some(format!("http://{closed}")),
			..Default::default()
		}]);
	})
	.await;
	let (status, body) = get(
		relay.addr,
		"/announced/users/u",
		&[("cookie", "better-auth.session_token=t.sig")],
	)
	.await;
	assert_eq!(
		(status, http_refusal(&body).0.as_str()),
		(503, "auth_service_unavailable"),
		"{body}"
	);
	// Without the cookie, nothing changes: no credential.
	let (status, body) = get(relay.addr, "/announced/users/u", &[]).await;
	assert_eq!(
		(status, http_refusal(&body).0.as_str()),
		(401, "missing_credential"),
		"{body}"
	);
	relay.stop().await;
}
