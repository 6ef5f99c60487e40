//! MoQ token keys from a JWKS URL (`[auth] jwks_url`, `docs/auth.md`, "OIDC / JWKS"), against a
//! JWKS server written here: a new `kid` works at once, a removed one's live session is closed
//! within the refresh bound, and a failing or slow server locks no one out and never holds an
//! admission past the fetch timeout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use moq_relay::wire::SessionCode;
use moq_token::{Algorithm, Claims, Key, KeyId, Path};
use tokio::sync::watch;

use crate::auth_service::{get, metric_reaches};
use crate::common::{TestRelay, admitted, announce_ok, closed, jwt_refusal, within};

const UNAUTHORIZED: u64 = SessionCode::UNAUTHORIZED.into_inner() as u64;

/// What the test server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
	/// 200 with the keys and `Cache-Control: max-age`.
	Serve,
	/// 500.
	Fail,
	/// Nothing for a minute.
	Hang,
}

struct Served {
	keys: Vec<Key>,
	mode: Mode,
	max_age: u64,
}

/// A JWKS server on 127.0.0.1 that counts its requests.
#[derive(Clone)]
struct JwksServer {
	served: Arc<Mutex<Served>>,
	requests: Arc<watch::Sender<u64>>,
	last: Arc<Mutex<Option<Instant>>>,
}

struct Running {
	server: JwksServer,
	url: String,
	task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
	fn drop(&mut self) {
		self.task.abort();
	}
}

async fn answer(State(server): State<JwksServer>) -> Response {
	let (mode, body, max_age) = {
		let served = server.served.lock().unwrap();
		let keys: Vec<_> = served.keys.iter().map(|k| k.to_public().unwrap().to_value()).collect();
		(
			served.mode,
			serde_json::json!({ "keys": keys }).to_string(),
			served.max_age,
		)
	};
	*server.last.lock().unwrap() = Some(Instant::now());
	server.requests.send_modify(|n| *n += 1);
	match mode {
		Mode::Serve => (
			[
				(header::CONTENT_TYPE, "application/json".to_string()),
				(header::CACHE_CONTROL, format!("public, max-age={max_age}")),
			],
			body,
		)
			.into_response(),
		Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
		Mode::Hang => {
			tokio::time::sleep(Duration::from_secs(60)).await;
			StatusCode::GATEWAY_TIMEOUT.into_response()
		}
	}
}

impl JwksServer {
	async fn start(keys: Vec<Key>, mode: Mode) -> Running {
		let server = JwksServer {
			served: Arc::new(Mutex::new(Served {
				keys,
				mode,
				max_age: 3600,
			})),
			requests: Arc::new(watch::Sender::new(0)),
			last: Arc::new(Mutex::new(None)),
		};
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
		let router = axum::Router::new()
			.route("/jwks.json", axum::routing::get(answer))
			.with_state(server.clone());
		let task = tokio::spawn(async move {
			let _ = axum::serve(listener, router).await;
		});
		Running { server, url, task }
	}

	fn set(&self, keys: Vec<Key>, mode: Mode) {
		let mut served = self.served.lock().unwrap();
		served.keys = keys;
		served.mode = mode;
	}

	fn requests(&self) -> u64 {
		*self.requests.borrow()
	}

	/// Waits until the server has answered more than `seen` requests.
	async fn requested_after(&self, seen: u64) {
		let mut requests = self.requests.subscribe();
		within("a JWKS request", requests.wait_for(|n| *n > seen))
			.await
			.unwrap();
	}

	/// Waits until `gap` has passed since the last request (the refetch rate limit).
	async fn quiet_for(&self, gap: Duration) {
		let last = self.last.lock().unwrap().expect("a request was made");
		tokio::time::sleep_until((last + gap).into()).await;
	}
}

fn key(kid: &str) -> Key {
	Key::generate(Algorithm::ES256, Some(KeyId::new(kid).unwrap())).unwrap()
}

fn token(key: &Key) -> String {
	key.sign(
		&Claims::new(Path::new("room").unwrap())
			.with_publish(Path::root())
			.with_subscribe(Path::root())
			.with_expires(moq_token::unix_now() + 600),
	)
	.unwrap()
}

async fn relay(url: &str, min: Duration, max: Duration, timeout: Duration) -> TestRelay {
	let url = url.to_string();
	TestRelay::start_with(move |config| {
		config.auth.public = None;
		config.auth.jwks_url = Some(vec![url]);
		config.auth.jwks_refresh_min = Some(min);
		config.auth.jwks_refresh_max = Some(max);
		config.auth.jwks_timeout = Some(timeout);
	})
	.await
}

/// Admitted and served at `/room`.
async fn admits(relay: &TestRelay, token: &str) -> web_transport_quinn::quinn::Connection {
	let conn = admitted(relay, &format!("/room?jwt={token}")).await;
	announce_ok(&conn).await;
	conn
}

async fn refuses(relay: &TestRelay, token: &str) -> String {
	jwt_refusal(relay, "/room", token).await
}

/// A key added to the set works on its first use (one refetch, as the unknown `kid` asks for),
/// while a made-up `kid` right after makes no second fetch (rate-limited) and is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kid_works_at_once() {
	let (a, b) = (key("a"), key("b"));
	let jwks = JwksServer::start(vec![a.clone()], Mode::Serve).await;
	let min = Duration::from_secs(1);
	let relay = relay(&jwks.url, min, Duration::from_secs(600), Duration::from_secs(2)).await;
	jwks.server.requested_after(0).await;
	admits(&relay, &token(&a)).await;

	jwks.server.set(vec![a.clone(), b.clone()], Mode::Serve);
	jwks.server.quiet_for(min).await;
	let before = jwks.server.requests();
	admits(&relay, &token(&b)).await;
	assert_eq!(jwks.server.requests(), before + 1, "one refetch for the unknown kid");

	let made_up = token(&key("nobody"));
	assert_eq!(refuses(&relay, &made_up).await, "invalid_token: unknown_kid");
	assert_eq!(jwks.server.requests(), before + 1, "no refetch within jwks_refresh_min");
	relay.stop().await;
}

/// A key removed from the set closes the live session it admitted (`key_revoked`) within the
/// refresh bound, and is refused from then on; the key that stays keeps its session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_kid_closes_its_live_sessions() {
	let (a, b) = (key("a"), key("b"));
	let jwks = JwksServer::start(vec![a.clone(), b.clone()], Mode::Serve).await;
	let max = Duration::from_secs(2);
	let relay = relay(&jwks.url, Duration::from_secs(1), max, Duration::from_secs(2)).await;
	jwks.server.requested_after(0).await;
	let live_a = admits(&relay, &token(&a)).await;
	let live_b = admits(&relay, &token(&b)).await;

	jwks.server.set(vec![b.clone()], Mode::Serve);
	let removed = Instant::now();
	assert_eq!(closed(&live_a).await, (UNAUTHORIZED, "key_revoked".to_string()));
	let took = removed.elapsed();
	assert!(
		took <= max + Duration::from_secs(2),
		"closed {took:?} after the removal"
	);
	assert_eq!(refuses(&relay, &token(&a)).await, "invalid_token: unknown_kid");
	// The other key's session is still served.
	announce_ok(&live_b).await;
	relay.stop().await;
}

/// A JWKS server that fails keeps the last good set in use (said on `/ready` and by
/// `moq_relay_jwks_stale`); one that hangs holds a token of an unknown `kid` for at most the
/// timeout, and known keys are admitted without waiting; a relay that starts while the server
/// fails admits once it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_slow_server_locks_no_one_out() {
	let a = key("a");
	let jwks = JwksServer::start(vec![a.clone()], Mode::Fail).await;
	let timeout = Duration::from_millis(500);
	let relay = relay(&jwks.url, Duration::from_secs(1), Duration::from_secs(1), timeout).await;
	jwks.server.requested_after(0).await;
	let label = format!("moq_relay_jwks_stale{{url=\"{}\"}} 1", jwks.url);
	metric_reaches(&relay, &label).await;
	let (_, ready) = get(relay.addr, "/ready", &[]).await;
	assert!(ready.contains("no key set fetched yet (jwks_http_status"), "{ready}");

	jwks.server.set(vec![a.clone()], Mode::Serve);
	metric_reaches(&relay, &label.replace("} 1", "} 0")).await;
	let live = admits(&relay, &token(&a)).await;

	jwks.server.set(vec![a.clone()], Mode::Fail);
	metric_reaches(&relay, &label).await;
	let (status, ready) = get(relay.addr, "/ready", &[]).await;
	assert_eq!(status, 200, "a stale key set does not make the relay unready");
	assert!(
		ready.contains("the last refresh failed (jwks_http_status") && ready.contains("last good set of 1 key"),
		"{ready}"
	);
	admits(&relay, &token(&a)).await;
	announce_ok(&live).await;

	jwks.server.set(vec![a.clone()], Mode::Hang);
	let seen = jwks.server.requests();
	jwks.server.requested_after(seen).await;
	jwks.server.quiet_for(Duration::from_secs(1)).await;
	let started = Instant::now();
	assert_eq!(refuses(&relay, &token(&key("new"))).await, "invalid_token: unknown_kid");
	let waited = started.elapsed();
	assert!(
		waited < timeout + Duration::from_millis(700),
		"an unknown kid waited {waited:?}"
	);
	let started = Instant::now();
	admits(&relay, &token(&a)).await;
	assert!(
		started.elapsed() < Duration::from_millis(500),
		"a known kid never waits on the server"
	);
	announce_ok(&live).await;
	relay.stop().await;
}
