//! Ephemeral client secrets end to end (`docs/auth.md`, "Browser tokens"): an app's server asks
//! `POST /v1/client_secrets` (or `/v1/realtime/client_secrets`) with its API key or token, and the
//! published moq-tokio client connects with the answer as `?jwt=`; the secret stops working at its
//! `expires_at`; a wider scope than the caller's is 403, no credential 401; CORS preflight.

use std::time::Duration;

use moq_relay::wire::SessionCode;
use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, Path};
use serde_json::Value;

use crate::common::{TestRelay, admitted, announce_ok, closed, webtransport, webtransport_closed, within};

const UNAUTHORIZED: u64 = SessionCode::UNAUTHORIZED.into_inner() as u64;
const OPS: &str = "ops-key-5d1c0b9a8f7e6d5c4b3a";
const VIEWER: &str = "viewer-key-9a8b7c6d5e4f3a2b1c";
const APP: &str = "https://app.example";
const PATHS: [&str; 2] = ["/v1/client_secrets", "/v1/realtime/client_secrets"];

/// A relay with the client secret key `cs` (EdDSA), a second token key `app` (HS256), an API key
/// granting everything and a subscribe-only one below `live`, and no public prefix.
struct Setup {
	relay: TestRelay,
	/// Signs callers' tokens (`auth.key`).
	app: Key,
	_dir: tempfile::TempDir,
}

impl Setup {
	async fn start(name: &str, minting: bool) -> Self {
		let dir = crate::common::scratch(&format!("moq-relay-client-secrets-{name}-"));
		let secrets = Key::generate(Algorithm::EdDSA, Some(KeyId::new("cs").unwrap())).unwrap();
		secrets.to_file(dir.path().join("cs.jwk"), KeyFormat::Json).unwrap();
		let app = Key::generate(Algorithm::HS256, Some(KeyId::new("app").unwrap())).unwrap();
		app.to_file(dir.path().join("app.jwk"), KeyFormat::Json).unwrap();
		let (cs, app_file) = (dir.path().join("cs.jwk"), dir.path().join("app.jwk"));
		let relay = TestRelay::start_with(move |config| {
			config.auth.public = None;
			config.auth.key = Some(app_file);
			config.auth.api_keys = Some(vec![OPS.into()]);
			config.auth.api_key = Some(vec![moq_relay::config::ApiKeyEntry {
				name: "viewer".into(),
				key: VIEWER.into(),
				root: Some("live".into()),
				publish: Some(vec![]),
				subscribe: Some(vec![String::new()]),
			}]);
			if minting {
				config.auth.client_secret_key = Some(cs);
				config.auth.client_secret_origins = Some(vec![APP.into()]);
			}
		})
		.await;
		Self { relay, app, _dir: dir }
	}

	/// `POST path` with `headers` and `body`: status, headers, JSON body.
	async fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, reqwest::header::HeaderMap, Value) {
		let mut request = reqwest::Client::new()
			.post(format!("http://{}{path}", self.relay.addr))
			.header("content-type", "application/json")
			.body(body.to_string());
		for (name, value) in headers {
			request = request.header(*name, *value);
		}
		let response = within("client secret answer", request.send()).await.unwrap();
		let status = response.status().as_u16();
		let headers = response.headers().clone();
		let text = within("client secret body", response.text()).await.unwrap();
		let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
		(status, headers, json)
	}

	/// A secret minted with `credential` (a Bearer value) for `body`, through `path`.
	async fn mint(&self, path: &str, credential: &str, body: &str) -> (String, u64) {
		let (status, _, json) = self
			.post(path, &[("authorization", &format!("Bearer {credential}"))], body)
			.await;
		assert_eq!(status, 200, "{json}");
		assert_shape(&json);
		(
			json["client_secret"]["value"].as_str().unwrap().to_string(),
			json["client_secret"]["expires_at"].as_u64().unwrap(),
		)
	}

	fn url(&self, path: &str, secret: &str) -> url::Url {
		self.relay.url("https", &format!("{path}?jwt={secret}"))
	}
}

/// The answer's shape: the secret under `client_secret` and again at the top level, nothing else.
fn assert_shape(json: &Value) {
	let object = json.as_object().expect("an object");
	let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
	keys.sort();
	assert_eq!(keys, ["client_secret", "expires_at", "value"]);
	let inner = json["client_secret"].as_object().expect("client_secret is an object");
	let mut inner_keys: Vec<&str> = inner.keys().map(String::as_str).collect();
	inner_keys.sort();
	assert_eq!(inner_keys, ["expires_at", "value"]);
	assert_eq!(json["value"], json["client_secret"]["value"]);
	assert_eq!(json["expires_at"], json["client_secret"]["expires_at"]);
	assert!(json["value"].as_str().unwrap().split('.').count() == 3, "a JWT");
	assert!(json["expires_at"].is_u64());
}

fn refusal(json: &Value) -> &str {
	assert!(json["message"].is_string(), "{json}");
	json["error"].as_str().unwrap()
}

/// A published-client session watching announcements below its connection path.
struct Watcher {
	consumer: moq_net::origin::Consumer,
	announced: moq_net::announce::Consumer,
	_connection: moq_tokio::Connection,
}

async fn watch(relay: &TestRelay, url: url::Url) -> Watcher {
	let origin = moq_tokio::origin::spawn();
	let consumer = origin.consume();
	let announced = consumer.announced();
	let connection = relay.client(None).with_subscriber(origin).connect(url);
	let connection = within("watcher established", connection.established()).await.unwrap();
	Watcher {
		consumer,
		announced,
		_connection: connection,
	}
}

impl Watcher {
	async fn until(&mut self, wanted: &str) {
		loop {
			let update = within("announcement", self.announced.next())
				.await
				.expect("announcements end");
			if update.prefix.as_str() == wanted && update.kind.is_active() {
				return;
			}
		}
	}

	async fn read(&self, name: &str) -> bytes::Bytes {
		let broadcast = within("broadcast", self.consumer.request_broadcast(name))
			.await
			.unwrap();
		let mut track = within("subscribe", broadcast.track("t").unwrap().subscribe(None))
			.await
			.unwrap();
		let mut group = within("group", track.recv_group()).await.unwrap().expect("a group");
		within("frame", group.read_frame())
			.await
			.unwrap()
			.expect("a frame")
			.payload
	}
}

/// The app's server asks with its API key for a secret that may publish `alice` below `room`; the
/// published client publishes with it, a viewer (with a subscribe-only secret from the other
/// path) reads the frame; the secret also works as `Authorization: Bearer` on the HTTP routes, and
/// does nothing outside its scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_mints_a_secret_the_published_client_connects_with() {
	let setup = Setup::start("e2e", true).await;
	let before = moq_token::unix_now();
	let (publisher, expires_at) = setup
		.mint(
			PATHS[0],
			OPS,
			r#"{"expires_after": {"seconds": 300}, "root": "room", "publish": ["alice/**"], "subscribe": []}"#,
		)
		.await;
	assert!((before + 300..=moq_token::unix_now() + 300).contains(&expires_at));
	let (viewer, _) = setup
		.mint(
			PATHS[1],
			OPS,
			r#"{"expires_after": {"seconds": 300}, "root": "room", "publish": []}"#,
		)
		.await;

	let _alice = crate::auth::publish(&setup.relay, setup.url("room", &publisher), &["alice"]).await;
	let mut watcher = watch(&setup.relay, setup.url("room", &viewer)).await;
	watcher.until("alice").await;
	assert_eq!(watcher.read("alice").await.as_ref(), b"hello");

	// The same secret as a Bearer token on an HTTP route.
	let (status, body) = crate::auth_service::get(
		setup.relay.addr,
		"/announced/room",
		&[("authorization", &format!("Bearer {viewer}"))],
	)
	.await;
	assert_eq!((status, body.as_str()), (200, "alice\n"));
	// Outside its root: refused like any token's.
	let raw = admitted(&setup.relay, &format!("/other?jwt={viewer}")).await;
	assert_eq!(closed(&raw).await, (UNAUTHORIZED, "root_mismatch".to_string()));

	// A short lifetime is raised to the documented floor, a long one lowered to the ceiling.
	let now = moq_token::unix_now();
	let (_, floor) = setup.mint(PATHS[0], OPS, r#"{"expires_after": {"seconds": 1}}"#).await;
	assert!((now + 10..=moq_token::unix_now() + 10).contains(&floor), "{floor}");
	let (_, ceiling) = setup
		.mint(PATHS[1], OPS, r#"{"expires_after": {"seconds": 86400}}"#)
		.await;
	assert!((now + 3600..=moq_token::unix_now() + 3600).contains(&ceiling));
	let (_, default) = setup.mint(PATHS[0], OPS, "").await;
	assert!((now + 600..=moq_token::unix_now() + 600).contains(&default));
	setup.relay.stop().await;
}

/// A secret minted for a caller whose token expires soon expires with it; at `expires_at` its live
/// session is closed with `token_expired` and a new session is refused, over raw QUIC and
/// WebTransport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_stops_working_at_expires_at() {
	let setup = Setup::start("expiry", true).await;
	let caller_exp = moq_token::unix_now() + 3;
	let caller = setup
		.app
		.sign(
			&Claims::new(Path::new("room").unwrap())
				.with_publish(Path::root())
				.with_subscribe(Path::root())
				.with_expires(caller_exp),
		)
		.unwrap();
	let (secret, expires_at) = setup
		.mint(
			PATHS[1],
			&caller,
			r#"{"expires_after": {"seconds": 600}, "root": "room/1"}"#,
		)
		.await;
	assert_eq!(expires_at, caller_exp, "never past the caller's own expiry");

	let live = admitted(&setup.relay, &format!("/room/1?jwt={secret}")).await;
	announce_ok(&live).await;
	assert_eq!(closed(&live).await, (UNAUTHORIZED, "token_expired".to_string()));
	let deadline = std::time::UNIX_EPOCH + Duration::from_secs(expires_at);
	assert!(std::time::SystemTime::now() >= deadline, "closed before expires_at");

	let again = admitted(&setup.relay, &format!("/room/1?jwt={secret}")).await;
	assert_eq!(closed(&again).await, (UNAUTHORIZED, "token_expired".to_string()));
	// Over WebTransport, as a browser presents it.
	let session = webtransport(&setup.relay, &format!("/room/1?jwt={secret}"), None).await;
	assert_eq!(webtransport_closed(&session).await.1, "token_expired");
	// And the expired caller can no longer mint.
	let (status, _, json) = setup
		.post(PATHS[0], &[("authorization", &format!("Bearer {caller}"))], "{}")
		.await;
	assert_eq!((status, refusal(&json)), (401, "token_expired"));
	setup.relay.stop().await;
}

/// Request headers, body, and the expected status and code.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, u16, &'a str);

/// 401 without (or with a wrong) credential, 403 for a scope wider than the caller's, 400 for a body
/// that is not a request, on both paths; 404 where no key is configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_their_codes() {
	let setup = Setup::start("refusals", true).await;
	let viewer = [("kyutai-api-key", VIEWER)];
	for path in PATHS {
		let cases: [Case; 9] = [
			(&[], "{}", 401, "missing_credential"),
			(&[("authorization", "Bearer not-a-key")], "{}", 401, "unauthorized"),
			(&[("authorization", "Basic b3BzOg==")], "{}", 401, "invalid_auth_header"),
			(&viewer, r#"{"root": "live", "publish": ["x"]}"#, 403, "scope_exceeded"),
			(&viewer, r#"{"subscribe": ["**"]}"#, 403, "root_mismatch"),
			(
				&viewer,
				r#"{"root": "live/a", "subscribe": ["**", "b"], "publish": ["b"]}"#,
				403,
				"scope_exceeded",
			),
			(&viewer, r#"{"root": "elsewhere"}"#, 403, "root_mismatch"),
			(
				&viewer,
				r#"{"expires_after": {"seconds": "soon"}}"#,
				400,
				"invalid_request",
			),
			(
				&viewer,
				r#"{"root": "live", "publish": [], "subscribe": []}"#,
				400,
				"invalid_request",
			),
		];
		for (headers, body, status, code) in cases {
			let (got, _, json) = setup.post(path, headers, body).await;
			assert_eq!((got, refusal(&json)), (status, code), "{path} {headers:?} {body}");
			assert!(!json.to_string().contains(VIEWER), "no credential in a refusal");
		}
		// The viewer's own scope is fine: subscribe-only below live.
		let (secret, _) = setup.mint(path, VIEWER, r#"{"root": "live"}"#).await;
		let raw = admitted(&setup.relay, &format!("/live?jwt={secret}")).await;
		announce_ok(&raw).await;
	}
	setup.relay.stop().await;

	let plain = Setup::start("unconfigured", false).await;
	let (status, _, json) = plain
		.post(PATHS[0], &[("authorization", &format!("Bearer {OPS}"))], "{}")
		.await;
	assert_eq!((status, refusal(&json)), (404, "not_found"));
	plain.relay.stop().await;
}

/// The CORS preflight answers the configured origin and refuses others; a POST from the allowed
/// origin carries `Access-Control-Allow-Origin`, one from another origin is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_for_the_configured_origins() {
	let setup = Setup::start("cors", true).await;
	let client = reqwest::Client::new();
	for path in PATHS {
		let preflight = |origin: &'static str| {
			client
				.request(reqwest::Method::OPTIONS, format!("http://{}{path}", setup.relay.addr))
				.header("origin", origin)
				.header("access-control-request-method", "POST")
				.header("access-control-request-headers", "authorization, content-type")
				.send()
		};
		let allowed = within("preflight", preflight(APP)).await.unwrap();
		assert_eq!(allowed.status().as_u16(), 204);
		let headers = allowed.headers();
		assert_eq!(headers["access-control-allow-origin"], APP);
		assert_eq!(headers["access-control-allow-methods"], "POST, OPTIONS");
		assert!(
			headers["access-control-allow-headers"]
				.to_str()
				.unwrap()
				.contains("authorization")
		);
		let other = within("preflight", preflight("https://evil.example")).await.unwrap();
		assert_eq!(other.status().as_u16(), 403);
		assert!(other.headers().get("access-control-allow-origin").is_none());

		let bearer = format!("Bearer {OPS}");
		let (status, headers, json) = setup
			.post(path, &[("origin", APP), ("authorization", &bearer)], "{}")
			.await;
		assert_eq!(status, 200);
		assert_shape(&json);
		assert_eq!(headers["access-control-allow-origin"], APP);
		assert_eq!(headers["cache-control"], "no-store");
		let (status, headers, json) = setup
			.post(
				path,
				&[("origin", "https://evil.example"), ("authorization", &bearer)],
				"{}",
			)
			.await;
		assert_eq!((status, refusal(&json)), (403, "origin_not_allowed"));
		assert!(headers.get("access-control-allow-origin").is_none());
	}
	setup.relay.stop().await;
}

/// Headless Chromium with @moq/net, as a browser app would: the app's server mints a secret with its
/// API key, the page connects over WebTransport with it as `?jwt=`, publishes its broadcast and reads
/// the answer of a Rust client (the published moq-tokio client, with the API key) to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_with_moq_net_connects_with_a_secret() {
	let setup = Setup::start("chromium", true).await;
	let relay = &setup.relay;
	let (secret, _) = setup
		.mint(PATHS[1], OPS, r#"{"expires_after": {"seconds": 120}, "root": "room"}"#)
		.await;

	// The Rust side: publishes `rust/t`, watches for `browser`.
	let origin = moq_tokio::origin::spawn();
	let broadcast = origin.create_broadcast("rust").unwrap();
	let track = broadcast.create_track("t", None).unwrap();
	broadcast.announce(Default::default()).unwrap();
	let incoming = moq_tokio::origin::spawn();
	let consumer = incoming.consume();
	let mut announced = consumer.announced();
	let client = relay.client(Some(crate::common::lite05()));
	let connection = client
		.clone()
		.with_publisher(&origin)
		.with_subscriber(incoming.clone())
		.connect(relay.url("moqt", &format!("room?jwt={OPS}")));
	let connection = within("Rust client established", connection.established())
		.await
		.unwrap();

	let url = format!("{}?jwt={secret}", crate::browser::browser_url(relay, "room"));
	let fingerprint = relay.fingerprint.clone();
	let mut browser = tokio::task::spawn_blocking(move || crate::browser::run_script(&url, &fingerprint, "exchange"));
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
	let ack = format!("ack:{text}");
	let mut tick = tokio::time::interval(Duration::from_millis(100));
	let result = loop {
		tokio::select! {
			done = &mut browser => break done.unwrap(),
			_ = tick.tick() => {
				let mut group = track.append_group().unwrap();
				group
					.write_frame(moq_net::Timestamp::now(), bytes::Bytes::from(ack.clone().into_bytes()))
					.unwrap();
				group.finish().unwrap();
			}
			_ = tokio::time::sleep(Duration::from_secs(30)) => panic!("the browser script did not finish"),
		}
	};
	assert_eq!(result["ready"], true, "{result}");
	assert_eq!(result["ok"], true, "{result}");
	assert_eq!(result["received"], ack.as_str(), "{result}");
	drop(subscription);
	broadcast.close();
	connection.close().await.ok();
	client.close().await;
	setup.relay.stop().await;
}
