//! Privacy Pass end to end (`docs/privacy-pass.md`): challenges on WebTransport and raw QUIC,
//! tokens from the local RFC 9578 issuer over HTTP and from the independent `privacypass` crate,
//! replays refused on one relay and across relays sharing a real `redis-server`, foreign and expired
//! challenges refused, directory keys refreshed per Cache-Control, a dead Redis refusing (never
//! admitting), relay binaries sharing a Redis over TLS with a password (a wrong password or an untrusted
//! certificate refusing, the password never printed), and the `pp_client` example's lines.

use crate::common;

#[allow(unused_imports)]
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blind_rsa_signatures::reexports::rand::rng;
use common::{
	TestRelay, admitted, announce_ok, closed, webtransport, webtransport_closed, webtransport_served, within,
};
use moq_privacy_pass::issuer_http::{self, DEFAULT_REQUEST_PATH};
use moq_privacy_pass::{
	DIRECTORY_PATH, Issuer, IssuerKey, IssuerKeyPair, Token, TokenChallenge, TokenRequest, TokenResponse, request_token,
};
use moq_relay::config::Config;
use moq_relay::wire::SessionCode;
use privacypass::Serialize;
use privacypass::public_tokens::server::IssuerServer;
use privacypass::public_tokens::{PublicKey, TokenRequest as PpRequest};
use privacypass::test_utils::public_memory_store::IssuerMemoryKeyStore;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

const UNAUTHORIZED: u32 = SessionCode::UNAUTHORIZED.into_inner();

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
	fn new(name: &str) -> Self {
		let dir = std::env::temp_dir().join(format!("moq-relay-pp-{name}-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		Self(dir)
	}

	/// Writes `key` as base64 SPKI (what `moq-pp-issuer --public-key-out` writes) and returns the file.
	fn key_file(&self, name: &str, key: &IssuerKey) -> PathBuf {
		let file = self.0.join(name);
		std::fs::write(&file, key.to_base64()).unwrap();
		file
	}
}

impl Drop for Scratch {
	fn drop(&mut self) {
		let _ = std::fs::remove_dir_all(&self.0);
	}
}

/// The local issuer (moq-privacy-pass `http` feature) on 127.0.0.1:0, stopped on drop.
struct LocalIssuer {
	url: String,
	issuer: Arc<Issuer>,
	stop: Option<oneshot::Sender<()>>,
}

impl LocalIssuer {
	async fn start() -> Self {
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let url = format!("http://{}", listener.local_addr().unwrap());
		let issuer = Arc::new(
			Issuer::new(
				format!("{url}{DEFAULT_REQUEST_PATH}"),
				vec![IssuerKeyPair::generate().unwrap()],
			)
			.unwrap(),
		);
		let router = issuer_http::router(issuer.clone(), DEFAULT_REQUEST_PATH, Duration::from_secs(300));
		let (stop, stopped) = oneshot::channel::<()>();
		tokio::spawn(issuer_http::serve(listener, router, async {
			let _ = stopped.await;
		}));
		Self {
			url,
			issuer,
			stop: Some(stop),
		}
	}

	fn key(&self) -> IssuerKey {
		self.issuer.keys()[0].public_key().clone()
	}

	/// The issuer name the relay puts in challenges: `host:port`.
	fn name(&self) -> &str {
		self.url.trim_start_matches("http://")
	}

	/// RFC 9578 issuance over HTTP, as a client does it.
	async fn token_over_http(&self, challenge: &TokenChallenge) -> Token {
		let (request, state) = request_token(challenge, &self.key()).unwrap();
		let response = reqwest::Client::new()
			.post(format!("{}{DEFAULT_REQUEST_PATH}", self.url))
			.header("content-type", moq_privacy_pass::TOKEN_REQUEST_MEDIA_TYPE)
			.body(request.to_bytes())
			.send()
			.await
			.unwrap();
		assert_eq!(response.status(), 200);
		assert_eq!(
			response.headers()["content-type"],
			moq_privacy_pass::TOKEN_RESPONSE_MEDIA_TYPE
		);
		let body = response.bytes().await.unwrap();
		state.finalize(&TokenResponse::from_bytes(&body).unwrap()).unwrap()
	}
}

impl Drop for LocalIssuer {
	fn drop(&mut self) {
		if let Some(stop) = self.stop.take() {
			let _ = stop.send(());
		}
	}
}

/// A CA certificate and its key, generated.
fn certificate_authority(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
	let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
	params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
	params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
	params.distinguished_name.push(rcgen::DnType::CommonName, name);
	rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
}

/// A real `redis-server` on a free port, killed on drop.
struct RedisServer {
	url: String,
	port: u16,
	_child: tokio::process::Child,
}

impl RedisServer {
	/// Plain TCP, no password.
	async fn start() -> Self {
		let (port, child) = Self::spawn(|port| vec!["--port".into(), port.to_string()]).await;
		Self {
			url: format!("redis://127.0.0.1:{port}"),
			port,
			_child: child,
		}
	}

	/// TLS only (`--port 0`) with `requirepass password`, clients not asked for a certificate. The
	/// server's certificate (for 127.0.0.1) is issued by a CA made here, whose PEM is written to
	/// `ca.pem` in `scratch` for the relay to trust. `url` has no password: see [`Self::tls_url`].
	async fn start_tls(scratch: &Scratch, password: &str) -> Self {
		let ca = certificate_authority("moq-relay test Redis CA");
		let server_key = rcgen::KeyPair::generate().unwrap();
		let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
			.unwrap()
			.signed_by(&server_key, &ca)
			.unwrap();
		let file = |name: &str, pem: String| {
			let path = scratch.0.join(name);
			std::fs::write(&path, pem).unwrap();
			path.to_str().unwrap().to_string()
		};
		let (ca_pem, cert, key) = (
			file("ca.pem", ca.pem()),
			file("redis.pem", server.pem()),
			file("redis.key", server_key.serialize_pem()),
		);
		let password = password.to_string();
		let (port, child) = Self::spawn(move |port| {
			[
				"--port",
				"0",
				"--tls-port",
				&port.to_string(),
				"--tls-cert-file",
				&cert,
				"--tls-key-file",
				&key,
				"--tls-ca-cert-file",
				&ca_pem,
				"--tls-auth-clients",
				"no",
				"--requirepass",
				&password,
			]
			.map(String::from)
			.to_vec()
		})
		.await;
		Self {
			url: format!("rediss://127.0.0.1:{port}"),
			port,
			_child: child,
		}
	}

	/// `rediss://:<password_in_url>@127.0.0.1:<port>`.
	fn tls_url(&self, password_in_url: &str) -> String {
		format!("rediss://:{password_in_url}@127.0.0.1:{}", self.port)
	}

	/// Starts `redis-server` with `listen(port)` and waits until it accepts connections.
	async fn spawn(listen: impl Fn(u16) -> Vec<String>) -> (u16, tokio::process::Child) {
		// A port taken between the probe and redis-server's bind makes it exit: try a few.
		for _ in 0..5 {
			let port = {
				let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
				probe.local_addr().unwrap().port()
			};
			let spawned = tokio::process::Command::new("redis-server")
				.args(listen(port))
				.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
				.stdout(std::process::Stdio::piped())
				.stderr(std::process::Stdio::null())
				.kill_on_drop(true)
				.spawn();
			let mut child = match spawned {
				Ok(child) => child,
				Err(err) => panic!(
					"redis-server could not be started ({err}): install it (apt-get install -y redis-server, \
					 or dev/setup.sh); the shared nonce store is tested against a real server"
				),
			};
			let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
			let ready = within("redis-server start", async {
				while let Ok(Some(line)) = lines.next_line().await {
					if line.contains("Ready to accept connections") {
						return true;
					}
				}
				false
			})
			.await;
			if ready {
				// Keep draining its output so it never blocks on a full pipe.
				tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
				return (port, child);
			}
		}
		panic!("redis-server did not become ready on any of 5 free ports (built without TLS?)");
	}
}

/// Privacy Pass settings shared by the relays of a test.
#[derive(Clone, Default)]
struct Pp {
	issuer: String,
	key_file: Option<PathBuf>,
	directory: Option<String>,
	redis: Option<String>,
	context: Option<moq_relay::config::RedemptionContext>,
	origins: Vec<String>,
	ttl: Option<u64>,
	public: Option<&'static str>,
}

async fn relay(pp: Pp) -> TestRelay {
	TestRelay::start_with(move |config: &mut Config| {
		config.auth.public = pp.public.map(|p| vec![p.to_string()]);
		let c = &mut config.privacypass;
		c.enabled = Some(true);
		c.issuer = Some(pp.issuer);
		c.issuer_key = pp.key_file.map(|f| vec![f]);
		c.directory = pp.directory;
		c.redis = pp.redis;
		c.root = Some(String::new());
		c.subscribe = Some(vec![String::new()]);
		c.publish = Some(vec!["room".to_string()]);
		c.redemption_context = pp.context;
		c.origins = Some(pp.origins);
		c.challenge_ttl = pp.ttl.map(Duration::from_secs);
	})
	.await
}

/// Connects over WebTransport without a credential and returns the challenge from the close.
async fn challenge_of(relay: &TestRelay, path: &str) -> TokenChallenge {
	let session = webtransport(relay, path, None).await;
	let (code, reason) = webtransport_closed(&session).await;
	assert_eq!(code, UNAUTHORIZED, "{reason}");
	assert!(reason.starts_with("pp:"), "{reason}");
	TokenChallenge::from_close_reason(&reason).unwrap()
}

fn header(token: &[u8]) -> String {
	format!(
		"PrivateToken token=\"{}\"",
		Token::from_bytes(token).unwrap().to_base64()
	)
}

/// Presents `authorization` on a WebTransport CONNECT: `Ok` if served, else the close reason.
async fn present(relay: &TestRelay, path: &str, authorization: &str) -> Result<(), String> {
	let session = webtransport(relay, path, Some(authorization)).await;
	match within("the relay's decision", moq_relay::client::served(&session))
		.await
		.unwrap()
	{
		moq_relay::client::Outcome::Admitted(_) => {
			session.close(0, b"done");
			Ok(())
		}
		moq_relay::client::Outcome::Refused(code, reason) => {
			assert_eq!(code, u64::from(UNAUTHORIZED), "{reason}");
			Err(reason)
		}
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenges_on_webtransport_and_raw_quic_and_tokens_from_the_local_issuer() {
	let scratch = Scratch::new("flow");
	let issuer = LocalIssuer::start().await;
	let relay = relay(Pp {
		issuer: issuer.name().to_string(),
		key_file: Some(scratch.key_file("issuer.pub", &issuer.key())),
		origins: vec!["relay.test".into()],
		public: Some("anon"),
		..Pp::default()
	})
	.await;

	// The public prefix needs nothing and gets no challenge.
	let conn = admitted(&relay, "/anon").await;
	announce_ok(&conn).await;

	// WebTransport: closed with 0x2 and `pp:<base64url TokenChallenge>`.
	let challenge = challenge_of(&relay, "/room").await;
	assert_eq!(challenge.token_type(), 2);
	assert_eq!(challenge.issuer_name(), issuer.name());
	assert!(challenge.redemption_context().is_some());
	assert_eq!(challenge.origin_info(), b"relay.test");
	// Raw QUIC: the same, after SETUP.
	let conn = admitted(&relay, "/room").await;
	let (code, reason) = closed(&conn).await;
	assert_eq!(code, u64::from(UNAUTHORIZED));
	let quic_challenge = TokenChallenge::from_close_reason(&reason).unwrap();
	assert_ne!(quic_challenge, challenge, "fresh redemption context per challenge");

	// The token from the issuer's HTTP API, in the CONNECT's Authorization header: served once.
	let token = issuer.token_over_http(&challenge).await;
	let authorization = header(token.as_bytes());
	present(&relay, "/room", &authorization).await.unwrap();
	assert_eq!(
		present(&relay, "/room", &authorization).await.unwrap_err(),
		"token_replayed"
	);
	// The original client's 357-byte wrapper is accepted too (and is the same nonce: replayed).
	let wrapped = format!(
		"PrivateToken token={}",
		base64::Engine::encode(
			&base64::engine::general_purpose::URL_SAFE_NO_PAD,
			token.to_wrapped_bytes()
		)
	);
	assert_eq!(present(&relay, "/room", &wrapped).await.unwrap_err(), "token_replayed");

	// `?pp=` (browsers) on WebTransport, and in the SETUP Path on raw QUIC.
	let token = issuer.token_over_http(&challenge_of(&relay, "/room").await).await;
	let session = webtransport(&relay, &format!("/room?pp={}", token.to_base64()), None).await;
	webtransport_served(&session).await;
	let token = issuer.token_over_http(&quic_challenge).await;
	let conn = admitted(&relay, &format!("/room?pp={}", token.to_base64())).await;
	announce_ok(&conn).await;

	// A bad token at a public path is refused, never downgraded to anonymous access.
	let mut forged = token.as_bytes().to_vec();
	forged[353] ^= 1;
	assert_eq!(
		present(&relay, "/anon", &header(&forged)).await.unwrap_err(),
		"invalid_token: bad_signature"
	);
	// JWT and Privacy Pass at once: ambiguous.
	let session = webtransport(&relay, "/room?jwt=x", Some(&authorization)).await;
	assert_eq!(webtransport_closed(&session).await.1, "ambiguous_credentials");
	relay.stop().await;
}

/// The independent `privacypass` crate's issuer and client.
struct TheirIssuer {
	server: IssuerServer,
	store: IssuerMemoryKeyStore,
	public: PublicKey,
}

impl TheirIssuer {
	async fn start() -> Self {
		let server = IssuerServer::new();
		let store = IssuerMemoryKeyStore::default();
		let public = server.create_keypair(&mut rng(), &store).await.unwrap();
		Self { server, store, public }
	}

	fn key(&self) -> IssuerKey {
		IssuerKey::from_spki_der(&self.public.to_spki().unwrap()).unwrap()
	}

	async fn token_for(&self, challenge: &TokenChallenge) -> Vec<u8> {
		let challenge = privacypass::auth::authenticate::TokenChallenge::deserialize(&challenge.to_bytes()).unwrap();
		let (request, state) = PpRequest::new(&mut rng(), self.public.clone(), &challenge).unwrap();
		let response = self.server.issue_token_response(&self.store, request).await.unwrap();
		response.issue_token(&state).unwrap().tls_serialize_detached().unwrap()
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacypass_crate_tokens_are_accepted_once_across_relays_sharing_redis() {
	let scratch = Scratch::new("cluster");
	let redis = RedisServer::start().await;
	let theirs = TheirIssuer::start().await;
	let key_file = scratch.key_file("their.pub", &theirs.key());
	// Two relays of one cluster: same issuer, key, origins and redemption context, one Redis.
	let cluster = Pp {
		issuer: "issuer.test".into(),
		key_file: Some(key_file.clone()),
		redis: Some(redis.url.clone()),
		context: Some(moq_relay::config::RedemptionContext::Empty),
		origins: vec!["cluster.test".into()],
		..Pp::default()
	};
	let a = relay(cluster.clone()).await;
	let b = relay(cluster.clone()).await;
	let challenge = challenge_of(&a, "/room").await;
	assert_eq!(
		challenge,
		challenge_of(&b, "/room").await,
		"the cluster shares one challenge"
	);

	let token = theirs.token_for(&challenge).await;
	assert_eq!(token.len(), 354);
	present(&a, "/room", &header(&token)).await.unwrap();
	assert_eq!(
		present(&a, "/room", &header(&token)).await.unwrap_err(),
		"token_replayed"
	);
	assert_eq!(
		present(&b, "/room", &header(&token)).await.unwrap_err(),
		"token_replayed",
		"the replay on the second relay is caught by the shared Redis"
	);
	// Relay B accepts a fresh token for the shared challenge, and A then refuses it.
	let token = theirs.token_for(&challenge).await;
	present(&b, "/room", &header(&token)).await.unwrap();
	assert_eq!(
		present(&a, "/room", &header(&token)).await.unwrap_err(),
		"token_replayed"
	);

	// One relay, fresh challenges, nonces in memory: accepted once too.
	let single = relay(Pp {
		issuer: "issuer.test".into(),
		key_file: Some(key_file),
		..Pp::default()
	})
	.await;
	let token = theirs.token_for(&challenge_of(&single, "/room").await).await;
	present(&single, "/room", &header(&token)).await.unwrap();
	assert_eq!(
		present(&single, "/room", &header(&token)).await.unwrap_err(),
		"token_replayed"
	);
	for r in [a, b, single] {
		r.stop().await;
	}
}

/// The Redis password of the TLS tests, as `requirepass` takes it and percent-encoded for the URL.
const REDIS_PASSWORD: &str = "tls p@ss/word-4b1d";
const REDIS_PASSWORD_IN_URL: &str = "tls%20p%40ss%2Fword-4b1d";

/// How a relay process trusts the Redis server's CA.
#[derive(Clone, Copy)]
enum RedisTrust {
	/// Through `SSL_CERT_FILE`: the only roots the whole process trusts.
	SslCertFile,
	/// Through `[privacypass] redis_tls_root` (`MOQ_PRIVACYPASS_REDIS_TLS_ROOT`), for the nonce store
	/// alone; `SSL_CERT_FILE` unset.
	Option,
}

/// The `moq-relay` binary as a cluster member runs it: Privacy Pass from a config file, the Redis URL
/// (password included) in `MOQ_PRIVACYPASS_REDIS` rather than on its command line, and the Redis
/// server's CA trusted as `trust` says. Killed on drop; what it printed (stdout and stderr, at
/// `RUST_LOG=debug`) is kept for [`RelayProcess::stop`].
struct RelayProcess {
	running: common::Running,
	stderr: PathBuf,
	stdout: Option<std::thread::JoinHandle<String>>,
}

impl RelayProcess {
	fn start(
		scratch: &Scratch,
		name: &str,
		key_file: &std::path::Path,
		redis: &str,
		ca: &std::path::Path,
		trust: RedisTrust,
	) -> Self {
		use std::io::BufRead;

		let config = scratch.0.join(format!("{name}.toml"));
		std::fs::write(
			&config,
			format!(
				"[server]\nbind = \"127.0.0.1:0\"\n[tls]\ngenerate = [\"localhost\", \"127.0.0.1\"]\n\
				 [privacypass]\nenabled = true\nissuer = \"issuer.test\"\nissuer_key = {key:?}\nroot = \"\"\n\
				 pub = [\"room\"]\nsub = \"\"\nredemption_context = \"empty\"\norigins = [\"cluster.test\"]\n",
				key = key_file.to_str().unwrap()
			),
		)
		.unwrap();
		let stderr = scratch.0.join(format!("{name}.stderr"));
		let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_moq-relay"));
		command
			.arg("--config")
			.arg(&config)
			.env("MOQ_PRIVACYPASS_REDIS", redis)
			.env("RUST_LOG", "debug")
			.env_remove("SSL_CERT_FILE")
			.env_remove("SSL_CERT_DIR")
			.stdout(std::process::Stdio::piped())
			.stderr(std::fs::File::create(&stderr).unwrap());
		match trust {
			RedisTrust::SslCertFile => command.env("SSL_CERT_FILE", ca),
			RedisTrust::Option => command.env("MOQ_PRIVACYPASS_REDIS_TLS_ROOT", ca),
		};
		let mut child = command.spawn().unwrap();
		let (lines, printed) = std::sync::mpsc::channel();
		let out = std::io::BufReader::new(child.stdout.take().unwrap());
		let stdout = std::thread::spawn(move || {
			let mut all = String::new();
			for line in out.lines().map_while(Result::ok) {
				all.push_str(&line);
				all.push('\n');
				let _ = lines.send(line);
			}
			all
		});
		let (mut addr, mut fingerprint) = (None, None);
		while fingerprint.is_none() {
			let line = printed
				.recv_timeout(common::BOUND)
				.expect("the relay printed its fingerprint");
			if let Some(rest) = line.strip_prefix("listening: ") {
				addr.get_or_insert(rest.split(' ').next().unwrap().parse::<SocketAddr>().unwrap());
			}
			fingerprint = line.strip_prefix("fingerprint: ").map(str::to_string);
		}
		Self {
			running: common::Running {
				child,
				addr: addr.unwrap(),
				fingerprint: fingerprint.unwrap(),
			},
			stderr,
			stdout: Some(stdout),
		}
	}

	/// Kills the relay; everything it printed.
	fn stop(mut self) -> String {
		let _ = self.running.child.kill();
		let _ = self.running.child.wait();
		let stdout = self.stdout.take().unwrap().join().unwrap();
		stdout + &std::fs::read_to_string(&self.stderr).unwrap()
	}
}

impl Drop for RelayProcess {
	fn drop(&mut self) {
		let _ = self.running.child.kill();
		let _ = self.running.child.wait();
	}
}

/// The challenge of a `401` on `GET /announced/room` without a credential.
async fn http_challenge(relay: &impl common::Target) -> TokenChallenge {
	let (status, head, body) = common::http_get_exact(relay, "/announced/room", false).await;
	assert_eq!(status, 401, "{body}");
	let value = head
		.lines()
		.find_map(|l| {
			l.split_once(": ")
				.filter(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"))
		})
		.unwrap_or_else(|| panic!("no WWW-Authenticate in {head}"))
		.1;
	moq_privacy_pass::parse_www_authenticate(value)
		.unwrap()
		.remove(0)
		.challenge
}

/// `GET /announced/room?pp=<token>`: `Ok` if served, else the status and the error code.
async fn http_present(relay: &impl common::Target, token: &[u8]) -> Result<(), (u16, String)> {
	let pp = Token::from_bytes(token).unwrap().to_base64_unpadded();
	let (status, _, body) = common::http_get(relay, &format!("/announced/room?pp={pp}"), false).await;
	if status == 200 {
		return Ok(());
	}
	let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"));
	Err((status, body["error"].as_str().unwrap_or_default().to_string()))
}

/// Asserts that `output` (a relay's logs) names none of `secrets`.
fn assert_never_printed(output: &str, secrets: &[&str]) {
	for secret in secrets {
		assert!(!output.contains(secret), "{secret:?} was printed:\n{output}");
	}
}

/// Two relay binaries share a Redis over TLS with a password (`rediss://:password@127.0.0.1:port`,
/// the password percent-encoded, the test CA trusted through `SSL_CERT_FILE` by one and through
/// `[privacypass] redis_tls_root` by the other): a token is accepted once, its replay refused on
/// either relay, and the password is printed by neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacypass_tokens_are_accepted_once_across_relays_sharing_redis_over_tls_with_a_password() {
	let scratch = Scratch::new("tls-cluster");
	let redis = RedisServer::start_tls(&scratch, REDIS_PASSWORD).await;
	let ca = scratch.0.join("ca.pem");
	let theirs = TheirIssuer::start().await;
	let key_file = scratch.key_file("their.pub", &theirs.key());
	let url = redis.tls_url(REDIS_PASSWORD_IN_URL);
	let a = RelayProcess::start(&scratch, "a", &key_file, &url, &ca, RedisTrust::SslCertFile);
	let b = RelayProcess::start(&scratch, "b", &key_file, &url, &ca, RedisTrust::Option);
	let challenge = http_challenge(&a.running).await;
	assert_eq!(
		challenge,
		http_challenge(&b.running).await,
		"the cluster shares one challenge"
	);

	let replayed = Err((401, "token_replayed".to_string()));
	let token = theirs.token_for(&challenge).await;
	http_present(&a.running, &token).await.unwrap();
	assert_eq!(http_present(&a.running, &token).await, replayed);
	assert_eq!(
		http_present(&b.running, &token).await,
		replayed,
		"the replay on the second relay is caught by the shared Redis"
	);
	let token = theirs.token_for(&challenge).await;
	http_present(&b.running, &token).await.unwrap();
	assert_eq!(http_present(&a.running, &token).await, replayed);

	for relay in [a, b] {
		let output = relay.stop();
		assert!(
			output.contains(&format!("nonces Redis at 127.0.0.1:{}", redis.port)),
			"{output}"
		);
		assert_never_printed(&output, &[REDIS_PASSWORD, REDIS_PASSWORD_IN_URL]);
	}
}

/// A relay whose Redis password is wrong, or which trusts another CA than the server's (through
/// `SSL_CERT_FILE` or `[privacypass] redis_tls_root`), refuses tokens with `nonce_store_unavailable`
/// (never admits them), logs that code, and prints no password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_redis_password_or_an_untrusted_certificate_refuses_and_prints_no_password() {
	const WRONG: &str = "wrong-password-5c1e";
	let scratch = Scratch::new("tls-refused");
	let redis = RedisServer::start_tls(&scratch, REDIS_PASSWORD).await;
	let ca = scratch.0.join("ca.pem");
	let other_ca = scratch.0.join("other-ca.pem");
	std::fs::write(&other_ca, certificate_authority("another CA").pem()).unwrap();
	let theirs = TheirIssuer::start().await;
	let key_file = scratch.key_file("their.pub", &theirs.key());
	let wrong_password = RelayProcess::start(
		&scratch,
		"wrong",
		&key_file,
		&redis.tls_url(WRONG),
		&ca,
		RedisTrust::SslCertFile,
	);
	let right_password = redis.tls_url(REDIS_PASSWORD_IN_URL);
	let untrusted = RelayProcess::start(
		&scratch,
		"untrusted",
		&key_file,
		&right_password,
		&other_ca,
		RedisTrust::SslCertFile,
	);
	let untrusted_root = RelayProcess::start(
		&scratch,
		"untrusted-root",
		&key_file,
		&right_password,
		&other_ca,
		RedisTrust::Option,
	);
	// The cause, as the `redis` crate and rustls word it, so that each relay fails for its own reason.
	for (relay, cause) in [
		(wrong_password, "AuthenticationFailed"),
		(untrusted, "invalid peer certificate: UnknownIssuer"),
		(untrusted_root, "invalid peer certificate: UnknownIssuer"),
	] {
		let token = theirs.token_for(&http_challenge(&relay.running).await).await;
		let refused = Err((503, "nonce_store_unavailable".to_string()));
		assert_eq!(http_present(&relay.running, &token).await, refused);
		assert_eq!(http_present(&relay.running, &token).await, refused, "still refused");
		let output = relay.stop();
		assert!(
			output.contains("nonce_store_unavailable")
				&& output.contains(&format!("Redis at 127.0.0.1:{}", redis.port)),
			"the refusal is logged with its code and the server: {output}"
		);
		assert!(output.contains(cause), "{cause}: {output}");
		assert_never_printed(&output, &[WRONG, REDIS_PASSWORD, REDIS_PASSWORD_IN_URL]);
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_expired_challenges_are_refused() {
	let scratch = Scratch::new("foreign");
	let theirs = TheirIssuer::start().await;
	let key_file = scratch.key_file("their.pub", &theirs.key());
	let ours = relay(Pp {
		issuer: "issuer.test".into(),
		key_file: Some(key_file.clone()),
		origins: vec!["ours.test".into()],
		ttl: Some(1),
		..Pp::default()
	})
	.await;
	// An unrelated relay: same issuer and key, another configuration (origins).
	let unrelated = relay(Pp {
		issuer: "issuer.test".into(),
		key_file: Some(key_file.clone()),
		origins: vec!["elsewhere.test".into()],
		..Pp::default()
	})
	.await;
	let token = theirs.token_for(&challenge_of(&unrelated, "/room").await).await;
	assert_eq!(
		present(&ours, "/room", &header(&token)).await.unwrap_err(),
		"invalid_token: unknown_challenge"
	);
	// An unrelated relay with the very same configuration but fresh contexts: still not ours.
	let twin = relay(Pp {
		issuer: "issuer.test".into(),
		key_file: Some(key_file),
		origins: vec!["ours.test".into()],
		..Pp::default()
	})
	.await;
	let token = theirs.token_for(&challenge_of(&twin, "/room").await).await;
	assert_eq!(
		present(&ours, "/room", &header(&token)).await.unwrap_err(),
		"invalid_token: unknown_challenge"
	);

	// Our challenge lives 1 s: a token for it presented later is refused as expired.
	let challenge = challenge_of(&ours, "/room").await;
	let issued = tokio::time::Instant::now();
	let token = theirs.token_for(&challenge).await;
	tokio::time::sleep_until(issued + Duration::from_millis(1500)).await;
	assert_eq!(
		present(&ours, "/room", &header(&token)).await.unwrap_err(),
		"invalid_token: challenge_expired"
	);
	for r in [ours, unrelated, twin] {
		r.stop().await;
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_refuses_in_bounded_time() {
	let theirs = TheirIssuer::start().await;
	let scratch = Scratch::new("noredis");
	let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
	let addr: SocketAddr = dead.local_addr().unwrap();
	drop(dead);
	let (relay, token) = with_redis(&scratch, &theirs, format!("redis://{addr}")).await;
	assert_eq!(
		present(&relay, "/room", &header(&token)).await.unwrap_err(),
		"nonce_store_unavailable"
	);
	relay.stop().await;
}

/// A relay that trusts `theirs` (its key written to `scratch`) and keeps nonces in the Redis at
/// `url`, and a token of `theirs` for the relay's challenge at `/room`.
async fn with_redis(scratch: &Scratch, theirs: &TheirIssuer, url: String) -> (TestRelay, Vec<u8>) {
	let relay = relay(Pp {
		issuer: "issuer.test".into(),
		key_file: Some(scratch.key_file("their.pub", &theirs.key())),
		redis: Some(url),
		..Pp::default()
	})
	.await;
	let token = theirs.token_for(&challenge_of(&relay, "/room").await).await;
	(relay, token)
}

/// The password of the Redis in [`a_redis_that_may_evict_spent_nonces_is_not_trusted_with_them`].
const EVICTING_PASSWORD: &str = "evicting-password-7f41";

/// A Redis that may evict keys under memory pressure (a `maxmemory` with `volatile-lru`, the
/// default policy of several managed Redis services) would drop spent nonces and let their tokens
/// in again. The relay refuses every token while the server says it may evict
/// (`nonce_store_unavailable`; the log names the policy and the fix, not the server's password or
/// the token), and once the server keeps
/// its keys (`CONFIG SET maxmemory-policy noeviction`, through `redis-cli`) a token is accepted
/// once and its replay refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_may_evict_spent_nonces_is_not_trusted_with_them() {
	let capture = common::Capture::install_trace();
	let scratch = Scratch::new("evicting");
	let (port, child) = RedisServer::spawn(|port| {
		let port = port.to_string();
		[
			"--port",
			&port,
			"--maxmemory",
			"64mb",
			"--maxmemory-policy",
			"volatile-lru",
			"--requirepass",
			EVICTING_PASSWORD,
		]
		.map(String::from)
		.to_vec()
	})
	.await;
	let redis = RedisServer {
		url: format!("redis://:{EVICTING_PASSWORD}@127.0.0.1:{port}"),
		port,
		_child: child,
	};
	let theirs = TheirIssuer::start().await;
	let (relay, token) = with_redis(&scratch, &theirs, redis.url.clone()).await;
	assert_eq!(
		present(&relay, "/room", &header(&token)).await.unwrap_err(),
		"nonce_store_unavailable"
	);
	let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
	assert!(
		text.contains("maxmemory-policy volatile-lru with maxmemory 67108864 may evict spent nonces")
			&& text.contains("set maxmemory-policy noeviction"),
		"the log names the policy and the fix"
	);
	let token_text = Token::from_bytes(&token).unwrap().to_base64();
	assert!(
		!text.contains(EVICTING_PASSWORD) && !text.contains(&token_text),
		"the refusal's log lines carry the store's password or the token"
	);

	let set = std::process::Command::new("redis-cli")
		.args([
			"-p",
			&redis.port.to_string(),
			"--no-auth-warning",
			"-a",
			EVICTING_PASSWORD,
			"CONFIG",
			"SET",
			"maxmemory-policy",
			"noeviction",
		])
		.output()
		.expect("redis-cli (Debian's redis-tools, which redis-server depends on)");
	assert_eq!(String::from_utf8_lossy(&set.stdout).trim(), "OK");
	present(&relay, "/room", &header(&token)).await.unwrap();
	assert_eq!(
		present(&relay, "/room", &header(&token)).await.unwrap_err(),
		"token_replayed"
	);
	relay.stop().await;
}

/// A directory whose JSON the test can change, served with `Cache-Control: max-age=1`.
async fn mutable_directory(json: Arc<Mutex<String>>) -> (String, oneshot::Sender<()>) {
	use axum::routing::get;
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	let url = format!("http://{}{DIRECTORY_PATH}", listener.local_addr().unwrap());
	let router = axum::Router::new().route(
		DIRECTORY_PATH,
		get(move || {
			let json = json.lock().unwrap().clone();
			async move { ([("cache-control", "max-age=1")], json) }
		}),
	);
	let (stop, stopped) = oneshot::channel::<()>();
	tokio::spawn(issuer_http::serve(listener, router, async {
		let _ = stopped.await;
	}));
	(url, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_keys_are_used_and_refreshed_per_cache_control() {
	let first = Issuer::new("/token-request", vec![IssuerKeyPair::generate().unwrap()]).unwrap();
	let second = Issuer::new("/token-request", vec![IssuerKeyPair::generate().unwrap()]).unwrap();
	let json = Arc::new(Mutex::new(first.directory_json()));
	let (url, _stop) = mutable_directory(json.clone()).await;
	let relay = relay(Pp {
		issuer: "issuer.test".into(),
		directory: Some(url),
		..Pp::default()
	})
	.await;
	let token = |issuer: &Issuer, challenge: &TokenChallenge| {
		let key = issuer.keys()[0].public_key().clone();
		let (request, state) = request_token(challenge, &key).unwrap();
		let request = TokenRequest::from_bytes(&request.to_bytes()).unwrap();
		state.finalize(&issuer.issue_request(&request).unwrap()).unwrap()
	};
	let t = token(&first, &challenge_of(&relay, "/room").await);
	present(&relay, "/room", &header(t.as_bytes())).await.unwrap();
	let t = token(&second, &challenge_of(&relay, "/room").await);
	assert_eq!(
		present(&relay, "/room", &header(t.as_bytes())).await.unwrap_err(),
		"invalid_token: unknown_key"
	);

	// The issuer rotates; within a few max-ages the relay has the new key and drops the old one.
	*json.lock().unwrap() = second.directory_json();
	within("the rotated key", async {
		loop {
			let t = token(&second, &challenge_of(&relay, "/room").await);
			if present(&relay, "/room", &header(t.as_bytes())).await.is_ok() {
				break;
			}
			tokio::time::sleep(Duration::from_millis(200)).await;
		}
	})
	.await;
	let t = token(&first, &challenge_of(&relay, "/room").await);
	assert_eq!(
		present(&relay, "/room", &header(t.as_bytes())).await.unwrap_err(),
		"invalid_token: unknown_key"
	);
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pp_client_prints_the_seed_lines() {
	let scratch = Scratch::new("client");
	let issuer = LocalIssuer::start().await;
	let relay = relay(Pp {
		issuer: issuer.name().to_string(),
		key_file: Some(scratch.key_file("issuer.pub", &issuer.key())),
		..Pp::default()
	})
	.await;
	// The example as a user runs it; the certificate comes from the http://…/certificate.sha256
	// bootstrap, as from the command line.
	let client = std::process::Command::new(common::example("pp_client"))
		.arg(relay.url("https", "test/room").as_str())
		.args(["--issuer-url", &issuer.url, "--stay", "5"])
		.env_remove("RUST_LOG")
		.stdout(std::process::Stdio::piped())
		.stderr(std::process::Stdio::piped())
		.spawn()
		.unwrap();
	let output = tokio::time::timeout(
		Duration::from_secs(40),
		tokio::task::spawn_blocking(move || client.wait_with_output().unwrap()),
	)
	.await
	.expect("pp_client finished in time")
	.unwrap();
	let stdout = String::from_utf8(output.stdout).unwrap();
	assert!(
		output.status.success(),
		"{stdout}{}",
		String::from_utf8_lossy(&output.stderr)
	);
	let expected = format!(
		"INFO  pp_client: Privacy Pass MoQ Client
INFO  pp_client: Step 1: Connect without token (expect rejection)
INFO  pp_client:   Got TokenChallenge from issuer: {}
INFO  pp_client: Step 2: Request token from issuer
INFO  pp_client:   Got token: 354 bytes
INFO  pp_client: Step 3: Reconnect with Privacy Pass token
INFO  pp_client: Connected! Session established with Privacy Pass auth
INFO  pp_client: Session stayed alive for 5 seconds, closing...
",
		issuer.name()
	);
	assert_eq!(stdout, expected);
	relay.stop().await;
}

/// HTTP routes challenge like MoQ sessions do (`docs/privacy-pass.md`): `GET /announced/room` without a
/// credential is `401` with `WWW-Authenticate: PrivateToken challenge="...", token-key="..."`, and
/// the challenge in it is one this relay issued (a token for it is accepted on a session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_routes_answer_401_with_a_private_token_challenge() {
	let scratch = Scratch::new("http401");
	let theirs = TheirIssuer::start().await;
	let key_file = scratch.key_file("their.pub", &theirs.key());
	let relay = relay(Pp {
		issuer: "issuer.test".into(),
		key_file: Some(key_file),
		origins: vec!["ours.test".into()],
		..Pp::default()
	})
	.await;
	let (status, head, body) = common::http_get(&relay, "/announced/room", false).await;
	assert_eq!(status, 401, "{body}");
	let value = head
		.lines()
		.find_map(|l| l.strip_prefix("www-authenticate: "))
		.unwrap_or_else(|| panic!("no WWW-Authenticate in {head}"));
	assert!(value.starts_with("privatetoken "), "{value}");
	// The helper lowercased that head; the challenge is base64url, so read it as sent.
	let (_, exact, _) = common::http_get_exact(&relay, "/announced/room", false).await;
	let raw = exact
		.lines()
		.find_map(|l| {
			l.split_once(": ")
				.filter(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"))
		})
		.map(|(_, value)| value.to_string())
		.unwrap();
	let challenge = moq_privacy_pass::parse_www_authenticate(&raw)
		.unwrap()
		.remove(0)
		.challenge;
	let token = theirs.token_for(&challenge).await;
	present(&relay, "/room", &header(&token)).await.unwrap();
	relay.stop().await;
}

/// An IETF draft client (draft-14, raw QUIC) without a credential gets the challenge in the close
/// reason, and reconnects with the token in its SETUP AUTHORIZATION TOKEN, Token Type 2
/// (`[privacypass] setup_token_type`): admitted once, then `token_replayed`; a forged token or
/// one of a type the relay does not read is refused with the draft's code and a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_client_presents_its_token_in_the_setup_authorization_token() {
	use crate::ietf::{path, quic_session};
	use moq_relay::wire::VarInt;
	use moq_relay::wire::ietf::{AuthToken, termination};

	let scratch = Scratch::new("draft");
	let issuer = LocalIssuer::start().await;
	let relay = relay(Pp {
		issuer: issuer.name().to_string(),
		key_file: Some(scratch.key_file("issuer.pub", &issuer.key())),
		origins: vec!["relay.test".into()],
		..Pp::default()
	})
	.await;
	let unauthorized = u64::from(termination::UNAUTHORIZED.into_inner());
	let typed = |token_type: u32, value: &[u8]| {
		AuthToken::UseValue {
			token_type: VarInt::from_u32(token_type),
			value: bytes::Bytes::copy_from_slice(value),
		}
		.to_parameter()
		.unwrap()
	};

	// No credential: UNAUTHORIZED with the challenge.
	let (code, reason) = quic_session(&relay, vec![path("/room")]).await.unwrap_err();
	assert_eq!(code, unauthorized, "{reason}");
	let challenge = TokenChallenge::from_close_reason(&reason).unwrap();

	// The token in the SETUP: admitted, once.
	let token = issuer.token_over_http(&challenge).await;
	let setup = vec![path("/room"), typed(2, token.as_bytes())];
	assert!(quic_session(&relay, setup.clone()).await.is_ok());
	assert_eq!(
		quic_session(&relay, setup).await.unwrap_err(),
		(unauthorized, "token_replayed".to_string())
	);

	// A forged token: refused with the reason; never admitted.
	let token = issuer.token_over_http(&challenge).await;
	let mut forged = token.as_bytes().to_vec();
	forged[353] ^= 1;
	assert_eq!(
		quic_session(&relay, vec![path("/room"), typed(2, &forged)])
			.await
			.unwrap_err(),
		(unauthorized, "invalid_token: bad_signature".to_string())
	);
	// A Token Type the relay does not read: MALFORMED_AUTH_TOKEN, naming the ones it reads.
	let (code, reason) = quic_session(&relay, vec![path("/room"), typed(3, token.as_bytes())])
		.await
		.unwrap_err();
	assert_eq!(code, u64::from(termination::MALFORMED_AUTH_TOKEN.into_inner()));
	assert!(
		reason.contains("0 (a MoQ JWT") && reason.contains("2 (Privacy Pass)"),
		"{reason}"
	);
	// The good token is still unspent: the refusals above did not consume it.
	assert!(
		quic_session(&relay, vec![path("/room"), typed(2, token.as_bytes())])
			.await
			.is_ok()
	);
	relay.stop().await;
}
