//! The delegated auth service end to end (`docs/auth.md`, "Delegated auth service"): an auth
//! service written from the contract alone (POST, `application/jwt`, verify the JWT with the public
//! key, check `sub`, `exp` and a fresh `iat`, validate `auth_data.token`, answer 200 / 401 / other),
//! in axum, against an in-process relay whose signing key was made with the `openssl` commands the
//! contract gives. The service verifies with that PEM or with the relay's `/.well-known/jwks.json`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

use crate::common::{self, TestRelay, within};

/// A scratch directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
	pub fn new(name: &str) -> Self {
		let dir = std::env::temp_dir().join(format!("moq-relay-{name}-{}", std::process::id()));
		let _ = std::fs::remove_dir_all(&dir);
		std::fs::create_dir_all(&dir).unwrap();
		Self(dir)
	}
}

impl Drop for Scratch {
	fn drop(&mut self) {
		let _ = std::fs::remove_dir_all(&self.0);
	}
}

/// Runs one shell-free `openssl` command in `dir`, as the operator would.
pub fn openssl(dir: &FsPath, args: &[&str]) {
	let status = std::process::Command::new("openssl")
		.args(args)
		.current_dir(dir)
		.stdout(std::process::Stdio::null())
		.stderr(std::process::Stdio::null())
		.status()
		.expect("openssl is installed");
	assert!(status.success(), "openssl {args:?} failed");
}

/// The key pair of the contract's "Generate Signing Keys": RSA (`openssl genrsa`, `openssl rsa
/// -pubout`) or ECDSA P-256 (`openssl ecparam -genkey -name prime256v1 -noout`, `openssl ec -pubout`).
/// Returns the private and public PEM files.
pub fn operator_keys(dir: &FsPath, ecdsa: bool) -> (PathBuf, PathBuf) {
	if ecdsa {
		openssl(
			dir,
			&[
				"ecparam",
				"-genkey",
				"-name",
				"prime256v1",
				"-noout",
				"-out",
				"auth_private_key.pem",
			],
		);
		openssl(
			dir,
			&[
				"ec",
				"-in",
				"auth_private_key.pem",
				"-pubout",
				"-out",
				"auth_public_key.pem",
			],
		);
	} else {
		openssl(dir, &["genrsa", "-out", "auth_private_key.pem", "2048"]);
		openssl(
			dir,
			&[
				"rsa",
				"-in",
				"auth_private_key.pem",
				"-pubout",
				"-out",
				"auth_public_key.pem",
			],
		);
	}
	(dir.join("auth_private_key.pem"), dir.join("auth_public_key.pem"))
}

/// How the service answers one bearer token.
#[derive(Clone, Debug)]
pub struct Reply {
	pub status: u16,
	pub body: String,
	pub cache_control: Option<String>,
	/// Held until [`TestService::release`] (or the service stops): a service that does not answer.
	pub hold: bool,
}

impl Reply {
	pub fn new(status: u16, body: &str) -> Self {
		Self {
			status,
			body: body.to_string(),
			cache_control: None,
			hold: false,
		}
	}

	pub fn cached(mut self, cache_control: &str) -> Self {
		self.cache_control = Some(cache_control.to_string());
		self
	}

	pub fn held(mut self) -> Self {
		self.hold = true;
		self
	}
}

/// How the service gets the relay's public key.
#[derive(Clone)]
pub enum PublicKey {
	/// The PEM the operator extracted with `openssl … -pubout`.
	Pem(Vec<u8>),
	/// The relay's JWK Set, fetched from this URL at each request.
	Jwks(String),
}

/// One request the service received, as it verified it.
#[derive(Clone, Debug)]
pub struct Received {
	pub content_type: String,
	pub claims: Value,
	/// The request body: the signed JWT.
	pub jwt: String,
}

#[derive(Default)]
struct Book {
	replies: HashMap<String, Reply>,
	received: Vec<Received>,
	refused_jwts: usize,
	in_flight: usize,
	max_in_flight: usize,
	/// Held replies are held no longer.
	open: bool,
}

struct Inner {
	key: Mutex<Option<PublicKey>>,
	subject: String,
	book: Mutex<Book>,
	release: Notify,
	arrived: Notify,
}

/// The auth service of the contract, written from it alone.
pub struct TestService {
	pub addr: SocketAddr,
	inner: Arc<Inner>,
	stop: Option<oneshot::Sender<()>>,
	task: Option<tokio::task::JoinHandle<()>>,
}

impl TestService {
	/// Starts on 127.0.0.1:0; requests whose JWT `sub` is not `subject` are refused (401), as the
	/// contract's example does with its own subject. The key is set with [`TestService::trust`].
	pub async fn start(subject: &str) -> Self {
		let inner = Arc::new(Inner {
			key: Mutex::new(None),
			subject: subject.to_string(),
			book: Mutex::default(),
			release: Notify::new(),
			arrived: Notify::new(),
		});
		let app = Router::new().route("/auth", post(validate)).with_state(inner.clone());
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = listener.local_addr().unwrap();
		let (stop, stopped) = oneshot::channel::<()>();
		let task = tokio::spawn(async move {
			let _ = axum::serve(listener, app)
				.with_graceful_shutdown(async {
					let _ = stopped.await;
				})
				.await;
		});
		Self {
			addr,
			inner,
			stop: Some(stop),
			task: Some(task),
		}
	}

	/// The URL the relay is given.
	pub fn url(&self) -> String {
		format!("http://{}/auth", self.addr)
	}

	/// Verifies requests with `key` from now on.
	pub fn trust(&self, key: PublicKey) {
		*self.inner.key.lock().unwrap() = Some(key);
	}

	/// Answers `token` with `reply` (tokens without a reply are answered 401 "Invalid token").
	pub fn script(&self, token: &str, reply: Reply) {
		self.inner.book.lock().unwrap().replies.insert(token.to_string(), reply);
	}

	/// Every verified request so far.
	pub fn received(&self) -> Vec<Received> {
		self.inner.book.lock().unwrap().received.clone()
	}

	/// How many verified requests carried `token`.
	pub fn calls(&self, token: &str) -> usize {
		self.received()
			.iter()
			.filter(|r| r.claims["auth_data"]["token"] == token)
			.count()
	}

	/// Requests whose JWT did not verify.
	pub fn refused_jwts(&self) -> usize {
		self.inner.book.lock().unwrap().refused_jwts
	}

	/// The most requests it held at once.
	pub fn max_in_flight(&self) -> usize {
		self.inner.book.lock().unwrap().max_in_flight
	}

	/// Waits until `n` held requests are waiting.
	pub async fn wait_held(&self, n: usize) {
		within("held requests", async {
			loop {
				let notified = self.inner.arrived.notified();
				if self.inner.book.lock().unwrap().in_flight >= n {
					return;
				}
				notified.await;
			}
		})
		.await;
	}

	/// How many held requests wait now.
	pub fn held(&self) -> usize {
		self.inner.book.lock().unwrap().in_flight
	}

	/// Lets every held request answer, and every later one too.
	pub fn release(&self) {
		self.inner.book.lock().unwrap().open = true;
		self.inner.release.notify_waiters();
	}

	/// Holds requests scripted so again.
	pub fn hold_again(&self) {
		self.inner.book.lock().unwrap().open = false;
	}

	pub async fn stop(mut self) {
		self.release();
		if let Some(stop) = self.stop.take() {
			let _ = stop.send(());
		}
		if let Some(task) = self.task.take() {
			task.abort();
			let _ = task.await;
		}
	}
}

/// The contract's verification: signature with the public key (RS256 or ES256), `exp`, `sub`, an
/// `iat` no older than 60 seconds; then the bearer token in `auth_data.token`.
async fn verify(inner: &Inner, jwt: &str) -> Result<Value, &'static str> {
	use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
	let header = decode_header(jwt).map_err(|_| "JWT verification failed")?;
	if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
		return Err("JWT verification failed");
	}
	let key = inner.key.lock().unwrap().clone().ok_or("no key")?;
	let key = match key {
		PublicKey::Pem(pem) => match header.alg {
			Algorithm::RS256 => DecodingKey::from_rsa_pem(&pem),
			_ => DecodingKey::from_ec_pem(&pem),
		}
		.map_err(|_| "JWT verification failed")?,
		PublicKey::Jwks(url) => {
			let text = reqwest::get(&url)
				.await
				.map_err(|_| "JWKS unavailable")?
				.text()
				.await
				.map_err(|_| "JWKS unavailable")?;
			let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text).map_err(|_| "bad JWKS")?;
			let jwk = set.find(header.kid.as_deref().ok_or("no kid")?).ok_or("unknown kid")?;
			DecodingKey::from_jwk(jwk).map_err(|_| "bad JWK")?
		}
	};
	let mut validation = Validation::new(header.alg);
	validation.set_required_spec_claims(&["exp", "iat", "sub"]);
	validation.sub = Some(inner.subject.clone());
	let claims = decode::<Value>(jwt, &key, &validation)
		.map_err(|_| "JWT verification failed")?
		.claims;
	let iat = claims["iat"].as_u64().ok_or("no iat")?;
	if moq_token::unix_now().abs_diff(iat) > 60 {
		return Err("JWT too old");
	}
	Ok(claims)
}

async fn validate(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> Response {
	let claims = match verify(&inner, body.trim()).await {
		Ok(claims) => claims,
		Err(why) => {
			inner.book.lock().unwrap().refused_jwts += 1;
			return (StatusCode::UNAUTHORIZED, why).into_response();
		}
	};
	let token = claims["auth_data"]["token"].as_str().unwrap_or_default().to_string();
	let reply = {
		let mut book = inner.book.lock().unwrap();
		book.received.push(Received {
			content_type: headers
				.get(header::CONTENT_TYPE)
				.and_then(|v| v.to_str().ok())
				.unwrap_or_default()
				.to_string(),
			claims,
			jwt: body.trim().to_string(),
		});
		book.replies
			.get(&token)
			.cloned()
			.unwrap_or_else(|| Reply::new(401, "Invalid token"))
	};
	if reply.hold {
		let released = inner.release.notified();
		let open = {
			let mut book = inner.book.lock().unwrap();
			book.in_flight += 1;
			book.max_in_flight = book.max_in_flight.max(book.in_flight);
			book.open
		};
		inner.arrived.notify_waiters();
		if !open {
			released.await;
		}
		inner.book.lock().unwrap().in_flight -= 1;
	}
	let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
	if let Some(cache_control) = reply.cache_control {
		response
			.headers_mut()
			.insert(header::CACHE_CONTROL, cache_control.parse().unwrap());
	}
	response
}

/// `GET http://relay/<path>` with `headers`: (status, body).
pub async fn get(relay: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
	let mut request = reqwest::Client::new().get(format!("http://{relay}{path}"));
	for (name, value) in headers {
		request = request.header(*name, *value);
	}
	let response = within("HTTP answer", request.send()).await.unwrap();
	let status = response.status().as_u16();
	(status, within("HTTP body", response.text()).await.unwrap())
}

/// An HTTP refusal's `error` and `message`.
pub fn refusal(body: &str) -> (String, String) {
	let json: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
	(
		json["error"].as_str().unwrap().to_string(),
		json["message"].as_str().unwrap().to_string(),
	)
}

/// Waits until the relay's `/metrics` has `line`.
pub async fn metric_reaches(relay: &TestRelay, line: &str) {
	within(line, async {
		loop {
			let (_, metrics) = get(relay.addr, "/metrics", &[]).await;
			if metrics.lines().any(|l| l == line) {
				return;
			}
			tokio::time::sleep(Duration::from_millis(20)).await;
		}
	})
	.await;
}

/// A relay that asks `service`, signing with `key`; `timeout` bounds the calls.
async fn relay_for(
	service: &TestService,
	key: &FsPath,
	configure: impl FnOnce(&mut moq_relay::config::Config),
) -> TestRelay {
	let url = service.url();
	let key = key.to_path_buf();
	TestRelay::start_with(move |config| {
		config.auth.service_url = Some(url);
		config.auth.signing_key = Some(key);
		config.auth.service_timeout = Some(Duration::from_secs(1));
		config.auth.api_keys = Some(vec!["relay-api-key-0123456789".into()]);
		configure(config);
	})
	.await
}

/// Acceptance: every status of the contract on an HTTP endpoint, with an RSA key made by
/// `openssl genrsa` and verified by the service with the PEM from `openssl rsa -pubout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_the_contract_with_an_openssl_rsa_key() {
	let dir = Scratch::new("auth-service-rsa");
	let (private, public) = operator_keys(&dir.0, false);
	let service = TestService::start("moq-relay").await;
	service.trust(PublicKey::Pem(std::fs::read(&public).unwrap()));
	let relay = relay_for(&service, &private, |_| {}).await;
	let bearer = |token: &str| format!("Bearer {token}");

	service.script("user-jwt-token-abc123", Reply::new(200, "OK"));
	let (status, _) = get(
		relay.addr,
		"/announced/room",
		&[("authorization", &bearer("user-jwt-token-abc123"))],
	)
	.await;
	assert_eq!(status, 200, "200 allows");

	// What the service was told: the contract's claims and headers, filtered.
	let (status, _) = get(
		relay.addr,
		"/announced/room?other=1",
		&[
			("authorization", &bearer("user-jwt-token-abc123")),
			("user-agent", "client-agent"),
			("cookie", "better-auth.session_token=cookie-secret"),
			("x-forwarded-for", "10.1.2.3"),
			("x-real-ip", "10.1.2.3"),
			("x-sayna-trace", "internal"),
		],
	)
	.await;
	assert_eq!(status, 200);
	let request = service.received().pop().unwrap();
	assert_eq!(request.content_type, "application/jwt");
	let claims = &request.claims;
	assert_eq!(claims["sub"], "moq-relay");
	assert_eq!(
		claims["exp"].as_u64().unwrap(),
		claims["iat"].as_u64().unwrap() + 300,
		"5 minutes"
	);
	let data = &claims["auth_data"];
	assert_eq!(data["token"], "user-jwt-token-abc123");
	assert_eq!(data["request_path"], "/announced/room");
	assert_eq!(data["request_method"], "GET");
	assert_eq!(data["transport"], "http");
	assert_eq!(data["connection_path"], "room");
	assert_eq!(data["request_body"], Value::Null);
	let headers = data["request_headers"].as_object().unwrap();
	assert_eq!(headers["user-agent"], "client-agent");
	for hidden in [
		"authorization",
		"cookie",
		"x-forwarded-for",
		"x-real-ip",
		"x-sayna-trace",
		"host",
		"kyutai-api-key",
	] {
		assert!(!headers.contains_key(hidden), "{hidden} was forwarded: {headers:?}");
	}

	for (token, reply, status, code, message) in [
		(
			"t401",
			Reply::new(401, "Invalid token signature"),
			401,
			"unauthorized",
			"Unauthorized: Invalid token signature".to_string(),
		),
		(
			"t403",
			Reply::new(403, "Forbidden room"),
			401,
			"unauthorized",
			"Unauthorized: Forbidden room".to_string(),
		),
		(
			"t500",
			Reply::new(500, "Database connection failed"),
			502,
			"auth_service_error",
			"Auth service error (500 Internal Server Error): Database connection failed".to_string(),
		),
		(
			"t503",
			Reply::new(503, ""),
			502,
			"auth_service_error",
			"Auth service error (503 Service Unavailable)".to_string(),
		),
		(
			"slow",
			Reply::new(200, "OK").held(),
			503,
			"auth_service_unavailable",
			"Auth service unavailable: Connection timeout".to_string(),
		),
	] {
		service.script(token, reply);
		let (got, body) = get(relay.addr, "/announced/room", &[("authorization", &bearer(token))]).await;
		assert_eq!((got, refusal(&body)), (status, (code.to_string(), message)), "{token}");
	}

	// A 10 KB error body is cut to 500 characters in the message.
	let long = "x".repeat(10 * 1024);
	service.script("big", Reply::new(500, &long));
	let (status, body) = get(relay.addr, "/announced/room", &[("authorization", &bearer("big"))]).await;
	let (_, message) = refusal(&body);
	assert_eq!(status, 502);
	assert_eq!(
		message.len(),
		"Auth service error (500 Internal Server Error): ".len() + 500
	);

	// The service never sees an API key: the relay's own are judged first...
	let before = service.received().len();
	for carrier in [
		("authorization", bearer("relay-api-key-0123456789")),
		("kyutai-api-key", "relay-api-key-0123456789".to_string()),
	] {
		let (status, _) = get(relay.addr, "/announced/room", &[(carrier.0, &carrier.1)]).await;
		assert_eq!(status, 200, "{}", carrier.0);
	}
	assert_eq!(
		get(relay.addr, "/announced/room?auth_id=relay-api-key-0123456789", &[])
			.await
			.0,
		200
	);
	// ...and a `kyutai-api-key` that is none of them is refused, not passed on.
	let (status, body) = get(relay.addr, "/announced/room", &[("kyutai-api-key", "not-a-key")]).await;
	assert_eq!((status, refusal(&body).0.as_str()), (401, "unauthorized"));
	assert_eq!(service.received().len(), before, "no API key reached the service");
	assert_eq!(
		service.refused_jwts(),
		0,
		"every request verified with the operator's public PEM"
	);

	// The same RSA key, fetched by the service from the relay's JWK Set instead.
	service.trust(PublicKey::Jwks(format!("http://{}/.well-known/jwks.json", relay.addr)));
	let (status, _) = get(
		relay.addr,
		"/announced/room",
		&[("authorization", &bearer("user-jwt-token-abc123"))],
	)
	.await;
	assert_eq!(status, 200);
	assert_eq!(service.refused_jwts(), 0, "verified with the relay's JWKS");

	relay.stop().await;
	service.stop().await;
}

/// Acceptance: an ECDSA key from `openssl ecparam`, the service verifying with the relay's
/// `/.well-known/jwks.json`; MoQ sessions over WebTransport and raw QUIC; narrowed grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_key_jwks_and_moq_sessions() {
	let dir = Scratch::new("auth-service-ecdsa");
	let (private, _public) = operator_keys(&dir.0, true);
	let service = TestService::start("moq-relay").await;
	let relay = relay_for(&service, &private, |_| {}).await;
	service.trust(PublicKey::Jwks(format!("http://{}/.well-known/jwks.json", relay.addr)));

	let (status, jwks) = get(relay.addr, "/.well-known/jwks.json", &[]).await;
	assert_eq!(status, 200);
	let jwks: Value = serde_json::from_str(&jwks).unwrap();
	assert_eq!(jwks["keys"][0]["alg"], "ES256");
	assert!(jwks["keys"][0].get("d").is_none(), "only the public half");

	service.script("allow", Reply::new(200, "OK"));
	service.script("deny", Reply::new(401, "Invalid token"));
	service.script("broken", Reply::new(500, "Database connection failed"));
	// Subscribe only, below `live`, within root `room`.
	service.script(
		"narrow",
		Reply::new(200, r#"{"root": "room", "publish": [], "subscribe": ["live"]}"#),
	);

	// Raw QUIC (SETUP Path) and WebTransport (CONNECT URL and Bearer header).
	common::announce_ok(&common::admitted(&relay, "/room?token=allow").await).await;
	common::webtransport_served(&common::webtransport(&relay, "/room?jwt=allow", None).await).await;
	common::webtransport_served(&common::webtransport(&relay, "/room", Some("Bearer allow")).await).await;
	let told: Vec<(String, String)> = service
		.received()
		.iter()
		.map(|r| {
			let data = &r.claims["auth_data"];
			(
				data["transport"].as_str().unwrap().to_string(),
				data["request_method"].as_str().unwrap().to_string(),
			)
		})
		.collect();
	assert!(told.contains(&("quic".into(), "SETUP".into())), "{told:?}");
	assert!(told.contains(&("webtransport".into(), "CONNECT".into())), "{told:?}");
	// A CONNECT's own headers reach the service as `request_headers`, its credentials never.
	let before = service.received().len();
	let session = common::webtransport_with(
		&relay,
		"/room",
		&[
			("authorization", "Bearer allow"),
			("user-agent", "connect-agent"),
			("cookie", "session=secret-cookie"),
			("x-forwarded-for", "203.0.113.9"),
		],
	)
	.await;
	common::webtransport_served(&session).await;
	let received = service.received();
	let data = &received[before].claims["auth_data"];
	assert_eq!(data["transport"], "webtransport");
	let headers = data["request_headers"].as_object().unwrap();
	assert_eq!(headers["user-agent"], "connect-agent", "{headers:?}");
	for hidden in ["authorization", "cookie", "x-forwarded-for"] {
		assert!(!headers.contains_key(hidden), "{hidden} was forwarded: {headers:?}");
	}

	for (token, reason) in [
		("deny", "unauthorized"),
		("broken", "auth_service_error"),
		("unknown", "unauthorized"),
	] {
		let conn = common::admitted(&relay, &format!("/room?token={token}")).await;
		assert_eq!(common::closed(&conn).await, (2, reason.to_string()), "{token}");
		let session = common::webtransport(&relay, "/room", Some(&format!("Bearer {token}"))).await;
		assert_eq!(
			common::webtransport_closed(&session).await,
			(2, reason.to_string()),
			"{token}"
		);
	}

	// The narrowed grant: at room/live, subscribe only; outside `room`, nothing.
	common::announce_ok(&common::admitted(&relay, "/room/live?token=narrow").await).await;
	let conn = common::admitted(&relay, "/other?token=narrow").await;
	assert_eq!(common::closed(&conn).await, (2, "root_mismatch".to_string()));
	let (status, body) = get(relay.addr, "/announced/other", &[("authorization", "Bearer narrow")]).await;
	assert_eq!((status, refusal(&body).0.as_str()), (403, "root_mismatch"));
	// Publishing with it is refused: a broadcast it announces never appears.
	let publisher = crate::api_keys::publish(&relay, relay.url("moqt", "room/live?token=narrow"), "forbidden").await;
	let _witness = crate::api_keys::publish(
		&relay,
		relay.url("moqt", "room/live?auth_id=relay-api-key-0123456789"),
		"allowed",
	)
	.await;
	let listing = within("the allowed broadcast", async {
		loop {
			let (_, listing) = get(
				relay.addr,
				"/announced/room/live",
				&[("authorization", "Bearer narrow")],
			)
			.await;
			if listing.contains("allowed") {
				return listing;
			}
			tokio::time::sleep(Duration::from_millis(20)).await;
		}
	})
	.await;
	assert_eq!(listing, "allowed\n", "the narrowed grant cannot publish");
	drop(publisher);
	assert_eq!(
		service.refused_jwts(),
		0,
		"every request verified with the relay's JWKS"
	);

	relay.stop().await;
	service.stop().await;
}

/// Acceptance: identical concurrent requests share one call; an allow is remembered per
/// `Cache-Control: max-age` but never past the credential's own `exp`, and the session it admitted
/// ends at that `exp`; a flood of distinct tokens is held to the concurrency limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_shared_cached_and_bounded() {
	let dir = Scratch::new("auth-service-cache");
	let (private, public) = operator_keys(&dir.0, false);
	let service = TestService::start("moq-relay").await;
	service.trust(PublicKey::Pem(std::fs::read(&public).unwrap()));
	let relay = relay_for(&service, &private, |config| {
		config.auth.service_concurrency = Some(2);
		config.auth.service_timeout = Some(Duration::from_secs(10));
	})
	.await;

	// A JWT of the service's own (the relay has no key for it) that expires in a few seconds; the
	// service allows it for an hour.
	let user_key = moq_token::Key::generate(moq_token::Algorithm::HS256, None).unwrap();
	let exp = moq_token::unix_now() + 6;
	let claims = moq_token::Claims::new(moq_token::Path::new("room").unwrap())
		.with_subscribe(moq_token::Path::root())
		.with_expires(exp);
	let user_jwt = user_key.sign(&claims).unwrap();
	service.script(&user_jwt, Reply::new(200, "OK").cached("max-age=3600").held());

	// Ten identical requests at once: one call.
	let bearer = format!("Bearer {user_jwt}");
	let requests: Vec<_> = (0..10)
		.map(|_| {
			let bearer = bearer.clone();
			let addr = relay.addr;
			tokio::spawn(async move { get(addr, "/announced/room", &[("authorization", &bearer)]).await.0 })
		})
		.collect();
	service.wait_held(1).await;
	metric_reaches(&relay, "moq_relay_auth_service_cache_total{outcome=\"joined\"} 9").await;
	service.release();
	for request in requests {
		assert_eq!(request.await.unwrap(), 200);
	}
	assert_eq!(
		service.calls(&user_jwt),
		1,
		"concurrent identical requests share one call"
	);
	service.hold_again();

	// Remembered: the same request later is not asked again. Answers are remembered per credential
	// and per place it is used (connection path, transport, method, route): a WebTransport session
	// is asked once, then remembered too.
	service.script(&user_jwt, Reply::new(200, "OK").cached("max-age=3600"));
	assert_eq!(
		get(relay.addr, "/announced/room", &[("authorization", &bearer)])
			.await
			.0,
		200
	);
	assert_eq!(service.calls(&user_jwt), 1, "the cached allow is reused");
	let first = common::webtransport(&relay, "/room", Some(&bearer)).await;
	common::webtransport_served(&first).await;
	let session = common::webtransport(&relay, "/room", Some(&bearer)).await;
	common::webtransport_served(&session).await;
	assert_eq!(service.calls(&user_jwt), 2, "one call for the sessions");
	let (_, metrics) = get(relay.addr, "/metrics", &[]).await;
	assert!(
		metrics.contains("moq_relay_auth_service_cache_total{outcome=\"hit\"} 2"),
		"{metrics}"
	);

	// The session admitted with it ends at its exp; after that the answer is not reused.
	assert_eq!(
		common::webtransport_closed(&session).await,
		(2, "token_expired".to_string()),
		"closed at the credential's exp"
	);
	while moq_token::unix_now() <= exp {
		tokio::time::sleep(Duration::from_millis(50)).await;
	}
	service.script(&user_jwt, Reply::new(401, "Token expired"));
	let (status, body) = get(relay.addr, "/announced/room", &[("authorization", &bearer)]).await;
	assert_eq!((status, refusal(&body).0.as_str()), (401, "unauthorized"));
	assert_eq!(
		service.calls(&user_jwt),
		3,
		"the cached allow did not outlive the credential"
	);

	// A flood of distinct unknown tokens: at most `service_concurrency` calls at once.
	for n in 0..8 {
		service.script(&format!("flood-{n}"), Reply::new(401, "Invalid token").held());
	}
	let flood: Vec<_> = (0..8)
		.map(|n| {
			let addr = relay.addr;
			tokio::spawn(async move {
				get(
					addr,
					"/announced/room",
					&[("authorization", &format!("Bearer flood-{n}"))],
				)
				.await
				.0
			})
		})
		.collect();
	// Every request has reached the service verifier (a cache miss each)...
	metric_reaches(&relay, "moq_relay_auth_service_cache_total{outcome=\"miss\"} 11").await;
	// ...and two calls are held at the service; the others wait for a call slot.
	service.wait_held(2).await;
	for _ in 0..10 {
		tokio::task::yield_now().await;
	}
	assert_eq!(service.held(), 2);
	service.release();
	let mut answered = 0;
	for request in flood {
		assert_eq!(request.await.unwrap(), 401);
		answered += 1;
	}
	assert_eq!(answered, 8);
	assert_eq!(service.max_in_flight(), 2, "the concurrency limit held");

	relay.stop().await;
	service.stop().await;
}
