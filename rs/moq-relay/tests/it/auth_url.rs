//! `[auth] url` against upstream's reference auth server, the published `moq-auth` crate's `serve`
//! module running in the test (`docs/auth.md`, "Auth server (`[auth] url`)"): the relay admits and
//! refuses exactly as that server decides, tells it when a session ends, and closes a live session
//! within 2 s of a re-check that narrows or withdraws its grant, or when the grant's `expires`
//! passes while the server is down.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::{TestRelay, admitted, announce_ok, closed, within};
use moq_auth::serve::{Keys, Policy, Server};
use moq_auth::{Event, Patterns, Permissions};
use moq_relay::wire::SessionCode;
use moq_relay_bench::subscriber::Subscriber;
use moq_token::{Algorithm, Claims, ClaimsFormat, Key, KeyFormat, Path};
use tokio::sync::Notify;

const UNAUTHORIZED: u64 = SessionCode::UNAUTHORIZED.into_inner() as u64;
/// How soon a withdrawn grant's session must be closed.
const BOUND: Duration = Duration::from_secs(2);

/// The reference server behind a router that records every request and can switch policies (what
/// an operator changing `moq auth serve`'s flags and restarting it does).
struct AuthServer {
	addr: std::net::SocketAddr,
	state: Arc<Shared>,
	task: tokio::task::JoinHandle<()>,
}

struct Shared {
	server: Mutex<Server>,
	log: Mutex<Vec<moq_auth::Request>>,
	seen: Notify,
	/// Answer every request with 503, as a server that is down behind its proxy does.
	down: std::sync::atomic::AtomicBool,
}

async fn handle(State(state): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
	let Ok(request) = serde_json::from_slice::<moq_auth::Request>(&body) else {
		return (StatusCode::BAD_REQUEST, "not the contract's JSON").into_response();
	};
	if state.down.load(std::sync::atomic::Ordering::Relaxed) {
		return StatusCode::SERVICE_UNAVAILABLE.into_response();
	}
	let server = state.server.lock().unwrap().clone();
	let answer = server.answer(&request).await;
	state.log.lock().unwrap().push(request);
	state.seen.notify_waiters();
	match answer {
		Ok(Some(grant)) => (
			[(axum::http::header::CONTENT_TYPE, "application/json")],
			serde_json::to_string(&grant).unwrap(),
		)
			.into_response(),
		Ok(None) => StatusCode::NO_CONTENT.into_response(),
		Err(refusal) => (StatusCode::FORBIDDEN, refusal.to_string()).into_response(),
	}
}

impl AuthServer {
	async fn start(policy: Policy) -> Self {
		let (state, router) = Self::router(policy);
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = listener.local_addr().unwrap();
		let task = tokio::spawn(async move {
			let _ = axum::serve(listener, router).await;
		});
		Self { addr, state, task }
	}

	/// The same server over HTTPS, with `pki`'s server certificate, requiring a client certificate
	/// its CA issued (mTLS): a connection without one fails its handshake.
	async fn start_mtls(policy: Policy, pki: &Pki) -> Self {
		let (state, router) = Self::router(policy);
		let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
		let mut roots = rustls::RootCertStore::empty();
		roots.add(pki.ca.der().clone()).unwrap();
		let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
			.build()
			.unwrap();
		let config = rustls::ServerConfig::builder_with_provider(provider)
			.with_safe_default_protocol_versions()
			.unwrap()
			.with_client_cert_verifier(verifier)
			.with_single_cert(
				vec![pki.server.der().clone()],
				rustls_pki_types::PrivateKeyDer::Pkcs8(pki.server_key.serialize_der().into()),
			)
			.unwrap();
		let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = listener.local_addr().unwrap();
		let task = tokio::spawn(async move {
			loop {
				let Ok((tcp, _)) = listener.accept().await else { return };
				let (acceptor, router) = (acceptor.clone(), router.clone());
				tokio::spawn(async move {
					// A client without a certificate fails here, before any request.
					let Ok(tls) = acceptor.accept(tcp).await else { return };
					let service = hyper_util::service::TowerToHyperService::new(router);
					let _ = hyper::server::conn::http1::Builder::new()
						.serve_connection(hyper_util::rt::TokioIo::new(tls), service)
						.await;
				});
			}
		});
		Self { addr, state, task }
	}

	fn router(policy: Policy) -> (Arc<Shared>, axum::Router) {
		let state = Arc::new(Shared {
			server: Mutex::new(Server::new(policy).unwrap()),
			log: Mutex::new(Vec::new()),
			seen: Notify::new(),
			down: Default::default(),
		});
		let router = axum::Router::new()
			.route("/", axum::routing::post(handle))
			.with_state(state.clone());
		(state, router)
	}

	fn url(&self) -> String {
		format!("http://127.0.0.1:{}/", self.addr.port())
	}

	fn switch(&self, policy: Policy) {
		*self.state.server.lock().unwrap() = Server::new(policy).unwrap();
	}

	fn go_down(&self) {
		self.state.down.store(true, std::sync::atomic::Ordering::Relaxed);
	}

	fn events(&self) -> Vec<moq_auth::Request> {
		self.state.log.lock().unwrap().clone()
	}

	/// Waits until a request satisfying `found` was seen, and returns it.
	async fn until(&self, what: &str, found: impl Fn(&moq_auth::Request) -> bool) -> moq_auth::Request {
		within(what, async {
			loop {
				let seen = self.state.seen.notified();
				if let Some(request) = self.events().into_iter().find(|r| found(r)) {
					return request;
				}
				seen.await;
			}
		})
		.await
	}
}

impl Drop for AuthServer {
	fn drop(&mut self) {
		self.task.abort();
	}
}

fn patterns(list: &[&str]) -> Patterns {
	list.iter().map(|p| p.parse().unwrap()).collect()
}

/// A policy verifying tokens with the key file at `key`, re-checking every second.
fn policy(key: Option<&std::path::Path>, public: Option<(&[&str], &[&str])>) -> Policy {
	let mut policy = Policy::default();
	policy.keys = key.map(|k| Keys::File(k.to_path_buf()));
	if let Some((publish, subscribe)) = public {
		policy.public = Permissions::new(patterns(publish), patterns(subscribe));
	}
	policy.revalidate = Some(Duration::from_secs(1));
	policy.expires = Some(Duration::from_secs(3600));
	policy
}

/// A test CA, the auth server's certificate for 127.0.0.1 and the relay's client certificate, the
/// CA and the relay's pair written as PEM files into `dir`.
struct Pki {
	ca: rcgen::Certificate,
	server: rcgen::Certificate,
	server_key: rcgen::KeyPair,
	ca_file: std::path::PathBuf,
	relay_cert: std::path::PathBuf,
	relay_key: std::path::PathBuf,
}

impl Pki {
	fn new(dir: &std::path::Path) -> Self {
		let ca_key = rcgen::KeyPair::generate().unwrap();
		let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
		params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
		params
			.distinguished_name
			.push(rcgen::DnType::CommonName, "auth server test CA");
		let ca = params.self_signed(&ca_key).unwrap();
		let issuer = rcgen::Issuer::new(params, ca_key);
		let server_key = rcgen::KeyPair::generate().unwrap();
		let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
			.unwrap()
			.signed_by(&server_key, &issuer)
			.unwrap();
		let relay_key = rcgen::KeyPair::generate().unwrap();
		let mut relay_params = rcgen::CertificateParams::new(vec!["relay-1".to_string()]).unwrap();
		relay_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
		let relay = relay_params.signed_by(&relay_key, &issuer).unwrap();
		let (ca_file, relay_cert, relay_key_file) = (dir.join("ca.pem"), dir.join("relay.pem"), dir.join("relay.key"));
		std::fs::write(&ca_file, ca.pem()).unwrap();
		std::fs::write(&relay_cert, relay.pem()).unwrap();
		std::fs::write(&relay_key_file, relay_key.serialize_pem()).unwrap();
		Self {
			ca,
			server,
			server_key,
			ca_file,
			relay_cert,
			relay_key: relay_key_file,
		}
	}
}

/// Our `moq-token` signs, in the format upstream writes (put/get here: every grant a subtree).
fn token(key: &Key, root: &str) -> String {
	let claims = Claims::new(Path::new(root).unwrap())
		.with_publish(Path::root())
		.with_subscribe(Path::root())
		.with_expires(moq_token::unix_now() + 600);
	key.sign_with(&claims, ClaimsFormat::Auto).unwrap()
}

async fn relay(url: String) -> TestRelay {
	TestRelay::start_with(move |config| config.auth.url = Some(url)).await
}

/// A relay asking `url`, with its operator endpoint on a free loopback port.
async fn relay_with_operator(url: String) -> (TestRelay, std::net::SocketAddr) {
	let operator = std::net::TcpListener::bind("127.0.0.1:0")
		.unwrap()
		.local_addr()
		.unwrap();
	let relay = TestRelay::start_with(move |config| {
		config.auth.url = Some(url);
		config.auth.operator = Some(operator);
	})
	.await;
	(relay, operator)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_server_decides_every_session_and_hears_its_end() {
	let dir = crate::common::scratch("moq-relay-auth-url-decide-");
	let key = Key::generate(Algorithm::ES256, None).unwrap();
	let key_file = dir.path().join("key.jwk");
	key.to_file(&key_file, KeyFormat::Json).unwrap();
	let server = AuthServer::start(policy(Some(&key_file), None)).await;
	let relay = relay(server.url()).await;

	// The published client, admitted by the server's verdict on our token.
	let client = relay.client(None);
	let url = relay.url("https", &format!("room?jwt={}", token(&key, "room")));
	let session = within("admitted", Subscriber::connect(&client, url)).await;
	assert!(session.is_ok(), "the server admits a token of its key");
	let connect = server.until("connect", |r| r.event == Event::Connect).await;
	assert_eq!((connect.path.as_str(), connect.node.is_empty()), ("/room", false));
	assert_eq!(connect.id.len(), 32);
	assert!(connect.query.as_deref().is_some_and(|q| q.starts_with("jwt=")));

	// Refused as the server refuses: another root, another key, no credential.
	let other_key = Key::generate(Algorithm::ES256, None).unwrap();
	for (path, why) in [
		(format!("/other?jwt={}", token(&key, "room")), "root mismatch"),
		(format!("/room?jwt={}", token(&other_key, "room")), "unknown key"),
		("/room".to_string(), "no credential, no public grant"),
	] {
		let conn = admitted(&relay, &path).await;
		assert_eq!(closed(&conn).await, (UNAUTHORIZED, "unauthorized".to_string()), "{why}");
	}

	// A session that ends is reported with its duration and the bytes its QUIC connection moved
	// (UDP payloads, as upstream counts them), and the server hears the peer's address and port.
	let before = server.events().len();
	let conn = admitted(&relay, &format!("/room?jwt={}", token(&key, "room"))).await;
	announce_ok(&conn).await;
	let connect = server.events()[before..]
		.iter()
		.find(|r| r.event == Event::Connect)
		.expect("its connect")
		.clone();
	let remote = connect.remote.expect("the connect names the client's address");
	assert!(remote.ip().is_loopback() && remote.port() != 0, "{remote}");
	// What the client counted before closing: the relay's totals include at least this.
	let client = conn.stats();
	conn.close(quinn::VarInt::from_u32(0), b"done");
	let end = server
		.until("end", |r| r.id == connect.id && matches!(r.event, Event::End { .. }))
		.await;
	let Event::End { duration, bytes, .. } = end.event else {
		unreachable!()
	};
	assert!(duration > Duration::ZERO, "{duration:?}");
	// quinn counts a connection's first datagram (the client's padded Initial, at most one QUIC
	// datagram) at the endpoint, before the connection exists: the rest is in the relay's totals.
	const FIRST_DATAGRAM: u64 = 1500;
	assert!(
		bytes.received + FIRST_DATAGRAM >= client.udp_tx.bytes
			&& bytes.received > 0
			&& bytes.sent >= client.udp_rx.bytes,
		"the relay reported {bytes:?}; the client had sent {} and received {} bytes",
		client.udp_tx.bytes,
		client.udp_rx.bytes
	);
	// An HTTP route's decision is the server's too, told the client's address.
	let jwt = token(&key, "room");
	let response = within(
		"GET /announced",
		reqwest::get(format!(
			"http://127.0.0.1:{}/announced/room?jwt={jwt}",
			relay.addr.port()
		)),
	)
	.await
	.unwrap();
	assert_eq!(response.status().as_u16(), 200);
	let http = server
		.until("an http connect", |r| {
			r.event == Event::Connect && serde_json::to_value(r.transport).unwrap() == "http"
		})
		.await;
	assert!(
		http.remote.is_some_and(|r| r.ip().is_loopback() && r.port() != 0),
		"{:?}",
		http.remote
	);
	drop(session);
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_or_withdrawn_grant_closes_the_live_session_within_two_seconds() {
	let dir = crate::common::scratch("moq-relay-auth-url-narrow-");
	let key = Key::generate(Algorithm::HS256, None).unwrap();
	let key_file = dir.path().join("key.jwk");
	key.to_file(&key_file, KeyFormat::Json).unwrap();
	let everything: (&[&str], &[&str]) = (&["**"], &["**"]);
	let server = AuthServer::start(policy(Some(&key_file), Some(everything))).await;
	let relay = relay(server.url()).await;

	let anonymous = admitted(&relay, "/").await;
	announce_ok(&anonymous).await;
	let with_token = admitted(&relay, &format!("/room?jwt={}", token(&key, "room"))).await;
	announce_ok(&with_token).await;

	// Anonymous sessions may now only subscribe: narrower than what the live one holds.
	let read_only: (&[&str], &[&str]) = (&[], &["**"]);
	server.switch(policy(Some(&key_file), Some(read_only)));
	let since = Instant::now();
	assert_eq!(closed(&anonymous).await, (UNAUTHORIZED, "grant_narrowed".to_string()));
	assert!(since.elapsed() < BOUND, "closed {:?} after the change", since.elapsed());
	announce_ok(&with_token).await;

	// The key is no longer trusted: the token's session is withdrawn.
	server.switch(policy(None, Some(read_only)));
	let since = Instant::now();
	assert_eq!(closed(&with_token).await, (UNAUTHORIZED, "grant_refused".to_string()));
	assert!(since.elapsed() < BOUND, "closed {:?} after the change", since.elapsed());
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expires_is_enforced_while_the_server_is_down() {
	let mut short = policy(None, Some((&["**"], &["**"])));
	short.expires = Some(Duration::from_secs(2));
	let server = AuthServer::start(short).await;
	let relay = relay(server.url()).await;
	let conn = admitted(&relay, "/").await;
	announce_ok(&conn).await;
	let admitted_at = Instant::now();
	// The server goes away: re-checks fail, and the grant stands only until its `expires`.
	server.go_down();
	assert_eq!(closed(&conn).await, (UNAUTHORIZED, "token_expired".to_string()));
	assert!(
		admitted_at.elapsed() < Duration::from_secs(3),
		"{:?}",
		admitted_at.elapsed()
	);
	// And nothing is admitted while it is down.
	let refused = admitted(&relay, "/").await;
	assert_eq!(closed(&refused).await, (UNAUTHORIZED, "auth_service_error".to_string()));
	relay.stop().await;
}

/// `docs/auth.md`, "Operator endpoint": the live sessions listed without a credential, a re-check
/// pushed by `POST /sessions/revalidate` that narrows a grant closing its session within 2 s, and
/// `POST /sessions/{id}/close`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_endpoint_lists_rechecks_and_closes_sessions() {
	let dir = crate::common::scratch("moq-relay-auth-url-operator-");
	let key = Key::generate(Algorithm::HS256, None).unwrap();
	let key_file = dir.path().join("key.jwk");
	key.to_file(&key_file, KeyFormat::Json).unwrap();
	let everything: (&[&str], &[&str]) = (&["**"], &["**"]);
	// Re-checked hourly: only the operator's push re-checks within this test.
	let hourly = |public| {
		let mut policy = policy(Some(&key_file), Some(public));
		policy.revalidate = Some(Duration::from_secs(3600));
		policy.expires = Some(Duration::from_secs(7200));
		policy
	};
	let server = AuthServer::start(hourly(everything)).await;
	let (relay, operator) = relay_with_operator(server.url()).await;
	let http = reqwest::Client::new();
	let call = |method: reqwest::Method, path: &str| {
		let request = http.request(method, format!("http://{operator}{path}"));
		async move {
			let response = within("operator endpoint", request.send()).await.unwrap();
			let status = response.status().as_u16();
			(status, response.text().await.unwrap())
		}
	};

	let jwt = token(&key, "room");
	let with_token = admitted(&relay, &format!("/room?jwt={jwt}")).await;
	announce_ok(&with_token).await;
	let anonymous = admitted(&relay, "/").await;
	announce_ok(&anonymous).await;

	let (status, body) = call(reqwest::Method::GET, "/sessions").await;
	assert_eq!(status, 200, "{body}");
	assert!(!body.contains(&jwt) && !body.contains("jwt"), "a credential in {body}");
	let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
	let sessions = listed["sessions"].as_array().unwrap();
	assert_eq!(sessions.len(), 2, "{body}");
	let token_session = sessions
		.iter()
		.find(|s| s["root"] == "room")
		.expect("the token's session");
	assert_eq!(token_session["subject"], "auth_url");
	assert_eq!(token_session["publish"], serde_json::json!(["**"]));
	// Its peer and what its transport moved so far.
	let remote: std::net::SocketAddr = token_session["remote"].as_str().unwrap().parse().unwrap();
	assert!(remote.ip().is_loopback() && remote.port() != 0, "{remote}");
	assert!(token_session["bytes"]["received"].as_u64().unwrap() >= 1200, "{body}");
	assert!(token_session["bytes"]["sent"].as_u64().unwrap() > 0, "{body}");

	// Close one by id.
	let id = token_session["id"].as_str().unwrap();
	let (status, _) = call(reqwest::Method::POST, &format!("/sessions/{id}/close")).await;
	assert_eq!(status, 204);
	assert_eq!(closed(&with_token).await, (UNAUTHORIZED, "grant_refused".to_string()));
	let (status, body) = call(reqwest::Method::POST, "/sessions/0000/close").await;
	assert_eq!((status, body.contains("not_found")), (404, true), "{body}");

	// A pushed re-check that narrows the anonymous grant closes that session at once.
	let read_only: (&[&str], &[&str]) = (&[], &["**"]);
	server.switch(hourly(read_only));
	let since = Instant::now();
	let (status, body) = call(reqwest::Method::POST, "/sessions/revalidate").await;
	assert_eq!((status, body.as_str()), (200, r#"{"revalidated":1}"#));
	assert_eq!(closed(&anonymous).await, (UNAUTHORIZED, "grant_narrowed".to_string()));
	assert!(since.elapsed() < BOUND, "closed {:?} after the push", since.elapsed());
	relay.stop().await;
}

/// `docs/auth.md`, "Auth server (`[auth] url`)": an `https://` server that asks for a client
/// certificate gets the relay's (`url_tls_cert`, `url_tls_key`), verified against its CA
/// (`url_tls_root`); without one the TLS handshake fails and nothing is admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mtls_auth_server_gets_the_relays_client_certificate() {
	let dir = crate::common::scratch("moq-relay-auth-url-mtls-");
	let pki = Pki::new(dir.path());
	let server = AuthServer::start_mtls(policy(None, Some((&["**"], &["**"]))), &pki).await;
	let url = format!("https://127.0.0.1:{}/", server.addr.port());
	let start = |identity: bool| {
		let (url, root) = (url.clone(), pki.ca_file.clone());
		let (cert, key) = (pki.relay_cert.clone(), pki.relay_key.clone());
		TestRelay::start_with(move |config| {
			config.auth.url = Some(url);
			config.auth.url_tls_root = Some(root);
			if identity {
				config.auth.url_tls_cert = Some(cert);
				config.auth.url_tls_key = Some(key);
			}
		})
	};

	let relay = start(true).await;
	let conn = admitted(&relay, "/").await;
	announce_ok(&conn).await;
	server.until("connect over mTLS", |r| r.event == Event::Connect).await;
	relay.stop().await;

	// Without the relay's certificate the server's handshake refuses it: so is the session.
	let relay = start(false).await;
	let before = server.events().len();
	let conn = admitted(&relay, "/").await;
	let (code, reason) = closed(&conn).await;
	assert_eq!(code, UNAUTHORIZED, "{reason}");
	assert!(reason.starts_with("auth_service"), "{reason}");
	assert_eq!(
		server.events().len(),
		before,
		"no request got through without a certificate"
	);
	relay.stop().await;
}

/// Over WebSocket the `end` event carries the WebSocket message bytes the session moved (at least
/// what the operator endpoint listed while it ran), and the listing says `websocket`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_sessions_end_carries_its_bytes() {
	use moq_relay::transport::{SendStream as _, Session as _};
	let server = AuthServer::start(policy(None, Some((&["**"], &["**"])))).await;
	let (relay, operator) = relay_with_operator(server.url()).await;
	let session = crate::websocket::raw_upgrade(&relay, "/", &[])
		.await
		.unwrap_or_else(|refused| panic!("refused: {refused:?}"));
	// The relay's SETUP arrives once it admitted the session; ours follows.
	let mut from_relay = within("the relay's SETUP", session.accept_uni()).await.unwrap();
	let _ = within(
		"its bytes",
		moq_relay::transport::RecvStream::read_chunk(&mut from_relay, 4096),
	)
	.await;
	let setup = moq_relay::client::setup_stream(&moq_relay::wire::Setup::default()).unwrap();
	let mut send = within("open", session.open_uni()).await.unwrap();
	send.write_all(&setup).await.unwrap();
	send.finish().unwrap();
	let connect = server.until("connect", |r| r.event == Event::Connect).await;
	assert_eq!(serde_json::to_value(connect.transport).unwrap(), "websocket");
	// Served: the operator endpoint lists it with what it moved so far.
	let listed = within("the session listed with its bytes", async {
		loop {
			let body = reqwest::get(format!("http://{operator}/sessions"))
				.await
				.unwrap()
				.text()
				.await
				.unwrap();
			let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
			let session = listed["sessions"][0].clone();
			if session["bytes"]["received"].as_u64().unwrap_or(0) >= setup.len() as u64 {
				return session;
			}
			tokio::time::sleep(Duration::from_millis(20)).await;
		}
	})
	.await;
	assert_eq!(listed["transport"], "websocket", "{listed}");
	// The relay counted at least what it has received of the client's messages by now.
	let sent_before_close = listed["bytes"]["received"].as_u64().unwrap();
	let client = session.totals();
	session.close(0, "done");
	let end = server
		.until("end", |r| r.id == connect.id && matches!(r.event, Event::End { .. }))
		.await;
	let Event::End { bytes, .. } = end.event else {
		unreachable!()
	};
	// Both sides counted the client's SETUP (the client's count may hold a last frame still queued
	// when it closed, so the two are not compared exactly).
	assert!(
		client.sent >= setup.len() as u64 && bytes.received >= setup.len() as u64,
		"{client:?} {bytes:?}"
	);
	assert!(
		bytes.received >= sent_before_close && bytes.sent > 0,
		"the relay reported {bytes:?} at the end, {listed} while it ran"
	);
	relay.stop().await;
}
