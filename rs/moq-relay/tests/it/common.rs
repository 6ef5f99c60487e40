//! Shared helpers: an in-process relay on 127.0.0.1 with a free port, and
//! published moq-tokio clients pinned to its certificate.

use std::net::SocketAddr;
use std::time::Duration;

use moq_relay::config::Config;
use moq_relay::relay::Relay;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use moq_relay::client::{self, Outcome};
use moq_relay::wire::{AnnounceOk, Setup};
use web_transport_quinn::quinn;

/// Every await in a test is bounded by this, so a hang fails instead of stalling CI.
pub const BOUND: Duration = Duration::from_secs(20);

/// Awaits `future` or panics naming `what` after [`BOUND`].
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
	client::bounded(BOUND, what, future)
		.await
		.unwrap_or_else(|err| panic!("{err}"))
}

/// Polls `check` every 10 ms until it holds; panics naming `what` after [`BOUND`]. For
/// conditions the relay only reports when asked (its metrics, its HTTP answers).
pub async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
	within(what, async {
		let mut tick = tokio::time::interval(Duration::from_millis(10));
		loop {
			tick.tick().await;
			if check().await {
				return;
			}
		}
	})
	.await
}

/// A scratch directory for a test's files (keys, lists, configuration), named after `prefix` and
/// removed when the returned value drops: when the test ends, a failed one included.
pub fn scratch(prefix: &str) -> tempfile::TempDir {
	tempfile::Builder::new()
		.prefix(prefix)
		.tempdir()
		.unwrap_or_else(|err| panic!("a scratch directory in {}: {err}", std::env::temp_dir().display()))
}

/// Tries `attempt` every 20 ms until it succeeds and returns what it gave; panics naming `what`
/// and the last failure after [`BOUND`]. For what the relay grants only once something it does
/// not report has happened (a place freed when it sees a connection's close, a metric recorded
/// after a write completes).
pub async fn eventually_ok<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
	what: &str,
	mut attempt: impl FnMut() -> F,
) -> T {
	let deadline = tokio::time::Instant::now() + BOUND;
	loop {
		match attempt().await {
			Ok(value) => return value,
			Err(err) if tokio::time::Instant::now() >= deadline => panic!("{what}: {err}"),
			Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
		}
	}
}

/// Subscribes to `name`'s track `track` as a reader of every frame: with a long max age, so the
/// published client keeps reading a group after a newer one starts. Its default (zero) ends a
/// group that is waiting for its next frame as soon as a newer group has data, cleanly and short
/// of its frames: on a loaded machine that is the client's cut, not the relay's, and a test that
/// counts frames would take it for a loss.
pub async fn subscribe_every_frame(
	consumer: &moq_net::origin::Consumer,
	name: &str,
	track: &str,
) -> moq_net::track::Subscriber {
	let subscription = moq_net::track::Subscription::default().with_max_age(Duration::from_secs(30));
	let subscribe = moq_relay_bench::subscriber::track_with(consumer, name, track, Some(subscription));
	within("subscription", subscribe).await.unwrap()
}

/// The published client's version called `name` (`moq-lite-05`, `moq-transport-16`, …).
pub fn version(name: &str) -> moq_net::Version {
	name.parse().unwrap()
}

/// A moq-lite-05 viewer of `path`'s track `t` that keeps the track, and so its recent groups, in
/// the relay's cache (the relay holds a track's groups only while someone reads it).
pub struct Holder {
	client: moq_tokio::Client,
	session: moq_relay_bench::subscriber::Subscriber,
	_track: moq_net::track::Subscriber,
	/// The sequence of the group it had received when it started: a group the relay holds.
	pub held: u64,
}

impl Holder {
	/// Subscribes, and returns once a group numbered `min` or later has arrived.
	pub async fn start(relay: &TestRelay, path: &str, min: u64) -> Self {
		let client = relay.client(Some(version("moq-lite-05")));
		let connect = moq_relay_bench::subscriber::Subscriber::connect(&client, relay.url("moqt", ""));
		let mut session = within("the holding viewer", connect).await.unwrap();
		within("announced", session.announced(path, true)).await.unwrap();
		let mut track = subscribe_every_frame(session.consumer(), path, "t").await;
		let held = loop {
			let sequence = within("a group", track.recv_group()).await.unwrap().unwrap().sequence;
			if sequence >= min {
				break sequence;
			}
		};
		Self {
			client,
			session,
			_track: track,
			held,
		}
	}

	pub async fn close(self) {
		self.session.close().await;
		self.client.close().await;
	}
}

/// The published client at version `name` subscribed to `path`'s track `t` from its live edge:
/// the track (to fetch past groups from), the subscription, and its first group's sequence.
pub struct Live {
	client: moq_tokio::Client,
	session: moq_relay_bench::subscriber::Subscriber,
	pub track: moq_net::track::Consumer,
	pub live: moq_net::track::Subscriber,
	pub first: u64,
}

impl Live {
	pub async fn start(relay: &TestRelay, name: &str, path: &str) -> Self {
		let client = relay.client(Some(version(name)));
		let connect = moq_relay_bench::subscriber::Subscriber::connect(&client, relay.url("moqt", ""));
		let mut session = within("subscriber", connect).await.unwrap();
		within("announced", session.announced(path, true)).await.unwrap();
		let broadcast = within("broadcast", session.consumer().request_broadcast(path))
			.await
			.unwrap();
		let track = broadcast.track("t").unwrap();
		let subscription = moq_net::track::Subscription::default().with_max_age(Duration::from_secs(30));
		let mut live = within("subscribed", track.subscribe(subscription)).await.unwrap();
		let first = within("a live group", live.recv_group())
			.await
			.unwrap()
			.unwrap()
			.sequence;
		Self {
			client,
			session,
			track,
			live,
			first,
		}
	}

	/// Fetches group `sequence` (from `options`' frame on) and reads every frame of it, as text.
	pub async fn fetch(&self, sequence: u64, options: impl Into<Option<moq_net::group::Fetch>>) -> Vec<String> {
		let fetched = within("the fetched group", self.track.fetch_group(sequence, options))
			.await
			.unwrap_or_else(|err| panic!("fetching group {sequence}: {err}"));
		frames_of(fetched).await
	}

	/// Asserts that a fetch of group `sequence` is refused (`what` names it) and that the
	/// subscription goes on: a live group arrives after.
	pub async fn refused(&mut self, sequence: u64, what: &str) {
		let refused = within("the refused fetch", self.track.fetch_group(sequence, None)).await;
		assert!(refused.is_err(), "{what}: group {sequence} fetched");
		within("a live group after", self.live.recv_group())
			.await
			.unwrap()
			.unwrap();
	}

	/// Sends a datagram on `track` every 20 ms (the `n`th's payload `datagram:<n>`, its timestamp
	/// `DATAGRAM_MS + n` ms) until this subscription receives one, as datagrams are best-effort;
	/// that one, and its `n`.
	pub async fn until_a_datagram(
		&mut self,
		track: &mut moq_net::track::Producer,
		what: &str,
	) -> (moq_net::Datagram, u64) {
		let received = within(what, async {
			let mut tick = tokio::time::interval(Duration::from_millis(20));
			let mut sent = 0u64;
			loop {
				tokio::select! {
					_ = tick.tick() => {
						sent += 1;
						let at = moq_net::Timestamp::from_millis(DATAGRAM_MS + sent).unwrap();
						let payload = bytes::Bytes::from(format!("datagram:{sent}"));
						track.append_datagram(at, payload).unwrap();
					}
					received = self.live.recv_datagram() => break received,
				}
			}
		})
		.await
		.unwrap()
		.unwrap_or_else(|| panic!("{what}: the track ended"));
		let payload = String::from_utf8(received.payload.to_vec()).unwrap();
		let n = payload
			.strip_prefix("datagram:")
			.and_then(|n| n.parse().ok())
			.unwrap_or_else(|| panic!("{what}: a datagram {payload:?}"));
		(received, n)
	}

	pub async fn close(self) {
		self.session.close().await;
		self.client.close().await;
	}
}

/// The timestamp base of [`Live::until_a_datagram`]'s datagrams, in milliseconds.
pub const DATAGRAM_MS: u64 = 1_000_000;

/// Every frame of `group`, as text, to its end.
pub async fn frames_of(mut group: moq_net::group::Consumer) -> Vec<String> {
	let mut frames = Vec::new();
	while let Some(frame) = within("a frame", group.read_frame()).await.unwrap() {
		frames.push(String::from_utf8(frame.payload.to_vec()).unwrap());
	}
	frames
}

/// A relay running in this process.
pub struct TestRelay {
	pub addr: SocketAddr,
	pub fingerprint: String,
	stop: Option<oneshot::Sender<()>>,
	task: Option<JoinHandle<()>>,
}

impl TestRelay {
	/// Starts a relay on 127.0.0.1:0 with `public` as the anonymous prefix.
	pub async fn start(public: Option<&str>) -> Self {
		let public = public.map(|p| vec![p.to_string()]);
		Self::start_with(move |config| config.auth.public = public).await
	}

	/// Starts a relay on 127.0.0.1:0 with a generated certificate, after `configure` has
	/// adjusted the configuration (auth keys, public prefixes, ...).
	pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
		logging();
		let mut config = Config::defaults(false);
		config.server.bind = Some(vec!["127.0.0.1:0".parse().unwrap()]);
		config.server.drain = Some(Duration::from_secs(2));
		config.tls.generate = Some(vec!["localhost".into(), "127.0.0.1".into()]);
		// Every test session comes from 127.0.0.1, and many tests present refused credentials on
		// purpose: the cool-down is off unless a test asks for it.
		config.limits.auth_failures = Some(u32::MAX);
		configure(&mut config);
		let relay = Relay::bind(config.resolve().unwrap()).await.unwrap();
		let addr = relay.local_addrs()[0];
		let fingerprint = relay.fingerprint().to_string();
		let (stop, stopped) = oneshot::channel();
		let run = relay.run(async {
			let _ = stopped.await;
		});
		let task = tokio::spawn(async move { run.await.expect("the relay runs") });
		Self {
			addr,
			fingerprint,
			stop: Some(stop),
			task: Some(task),
		}
	}

	/// `scheme://127.0.0.1:port/path`.
	pub fn url(&self, scheme: &str, path: &str) -> url::Url {
		format!("{scheme}://127.0.0.1:{}/{path}", self.addr.port())
			.parse()
			.unwrap()
	}

	/// A published client that trusts only this relay's certificate, pinned to
	/// `version` when given.
	pub fn client(&self, version: Option<moq_net::Version>) -> moq_tokio::Client {
		moq_relay_bench::client(Some(&self.fingerprint), false, version.as_slice()).unwrap()
	}

	/// A subscriber session of the published client pinned to `name` (`moq-lite-05`,
	/// `moq-transport-16`, …) over `scheme`, checked to have negotiated that version. Close both.
	pub async fn subscriber_at(
		&self,
		scheme: &str,
		name: &str,
	) -> (moq_tokio::Client, moq_relay_bench::subscriber::Subscriber) {
		let client = self.client(Some(version(name)));
		let session = within(
			"subscriber established",
			moq_relay_bench::subscriber::Subscriber::connect(&client, self.url(scheme, "")),
		)
		.await
		.unwrap();
		assert_eq!(
			session.connection().version().map(|v| v.to_string()).as_deref(),
			Some(name),
			"{scheme}"
		);
		(client, session)
	}

	/// Starts the shutdown (GOAWAY, drain) and hands over the relay's task to await.
	pub fn begin_stop(&mut self) -> JoinHandle<()> {
		if let Some(stop) = self.stop.take() {
			let _ = stop.send(());
		}
		self.task.take().expect("the relay is running")
	}

	/// Shuts the relay down (GOAWAY, drain) and waits for it.
	pub async fn stop(mut self) {
		if let Some(stop) = self.stop.take() {
			let _ = stop.send(());
		}
		if let Some(task) = self.task.take() {
			within("relay shutdown", task).await.unwrap();
		}
	}
}

impl Drop for TestRelay {
	fn drop(&mut self) {
		if let Some(task) = self.task.take() {
			task.abort();
		}
	}
}

/// A relay the helpers can reach: in-process ([`TestRelay`]) or the binary ([`Running`]).
pub trait Target {
	/// Its UDP and TCP address.
	fn addr(&self) -> SocketAddr;
	/// Its certificate's SHA-256, lowercase hex.
	fn fingerprint(&self) -> &str;
}

impl Target for TestRelay {
	fn addr(&self) -> SocketAddr {
		self.addr
	}
	fn fingerprint(&self) -> &str {
		&self.fingerprint
	}
}

impl Target for Running {
	fn addr(&self) -> SocketAddr {
		self.addr
	}
	fn fingerprint(&self) -> &str {
		&self.fingerprint
	}
}

/// moq-lite-05.
pub fn lite05() -> moq_net::Version {
	"moq-lite-05".parse().unwrap()
}

/// A port free for both UDP and TCP on 127.0.0.1 at the time of asking: a relay (ours, or the
/// published one with `--web-http-listen`) binds both on one port.
///
/// It is drawn below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`), so no
/// outgoing connection of a concurrent test can be given it between this pick and the relay's
/// bind; only an explicit bind elsewhere could still take it. Ports handed out once are not
/// handed out again in this process.
pub fn free_port() -> u16 {
	static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
	let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
		.ok()
		.and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
		.unwrap_or(32768);
	let range = 10_000..ephemeral_low.max(10_001);
	let mut given = GIVEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
	loop {
		let port = rand::random_range(range.clone());
		if given.contains(&port) {
			continue;
		}
		let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
		let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
		if udp.is_ok() && tcp.is_ok() {
			given.push(port);
			return port;
		}
	}
}

/// A raw QUIC connection to the relay (for byte-level tests), trusting only
/// the relay's certificate fingerprint.
pub async fn raw_connect(relay: &impl Target, alpn: &str) -> quinn::Connection {
	let (_endpoint, conn) = client::dial(relay.addr(), "localhost", relay.fingerprint(), alpn)
		.await
		.unwrap_or_else(|err| panic!("{err}"));
	conn
}

/// A TLS client configuration that trusts only the relay's fingerprint.
pub fn pinned_tls(relay: &impl Target) -> rustls::ClientConfig {
	let trust = moq_relay::tls::Trust::Fingerprint(relay.fingerprint().to_string());
	moq_relay::tls::client_config(&trust, &[]).unwrap()
}

/// The relay's `/metrics`, as name (with labels) → value.
pub async fn metrics(relay: &impl Target) -> std::collections::BTreeMap<String, u64> {
	let (status, _, body) = http_get(relay, "/metrics", false).await;
	assert_eq!(status, 200);
	body.lines()
		.filter(|l| !l.starts_with('#'))
		.filter_map(|l| {
			let (name, value) = l.rsplit_once(' ')?;
			Some((name.to_string(), value.parse().ok()?))
		})
		.collect()
}

/// A minimal HTTP/1.1 GET over TCP, plain or TLS: (status, headers lowercased, body).
pub async fn http_get(relay: &impl Target, path: &str, tls: bool) -> (u16, String, String) {
	let (status, head, body) = http_get_exact(relay, path, tls).await;
	(status, head.to_ascii_lowercase(), body)
}

/// [`http_get`] with the response head as sent (header values can be case-sensitive).
pub async fn http_get_exact(relay: &impl Target, path: &str, tls: bool) -> (u16, String, String) {
	use tokio::io::{AsyncReadExt, AsyncWriteExt};

	let tcp = within("TCP connect", tokio::net::TcpStream::connect(relay.addr()))
		.await
		.unwrap();
	let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
	let mut response = Vec::new();
	if tls {
		let mut config = pinned_tls(relay);
		config.alpn_protocols = vec![b"http/1.1".to_vec()];
		let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
		let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
		let mut stream = within("TLS handshake", connector.connect(name, tcp)).await.unwrap();
		stream.write_all(request.as_bytes()).await.unwrap();
		let _ = within("HTTPS response", stream.read_to_end(&mut response)).await;
	} else {
		let mut stream = tcp;
		stream.write_all(request.as_bytes()).await.unwrap();
		within("HTTP response", stream.read_to_end(&mut response))
			.await
			.unwrap();
	}
	let text = String::from_utf8(response).unwrap();
	let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
	let status = head.split(' ').nth(1).unwrap().parse().unwrap();
	(status, head.to_string(), body.to_string())
}

/// Connects and sends a SETUP with Path `path` (the relay may refuse it: see [`closed`]).
pub async fn admitted(relay: &impl Target, path: &str) -> quinn::Connection {
	let conn = raw_connect(relay, "moq-lite-05").await;
	let setup = Setup {
		path: Some(path.to_string()),
		..Setup::default()
	};
	send_uni(&conn, &client::setup_stream(&setup).unwrap()).await;
	conn
}

/// Opens a uni stream, writes `bytes` and finishes it. The relay may close the session as soon as
/// it has read them (a refusal, a second SETUP), before the write or the FIN is done here: what a
/// test checks is the close that follows ([`closed`]), so errors of this side are not.
pub async fn send_uni(conn: &quinn::Connection, bytes: &[u8]) {
	let Ok(mut stream) = conn.open_uni().await else { return };
	if stream.write_all(bytes).await.is_ok() {
		let _ = stream.finish();
	}
}

/// Asks for announcements under "" and returns the ANNOUNCE_OK: proof that the
/// session is admitted and served.
pub async fn announce_ok(conn: &quinn::Connection) -> AnnounceOk {
	let (mut send, mut recv) = within("open announce", conn.open_bi()).await.unwrap();
	client::announce(&mut send, &mut recv, &mut Vec::new())
		.await
		.unwrap_or_else(|err| panic!("{err}"))
}

/// Waits for the relay to close the connection and returns its code and reason.
pub async fn closed(conn: &quinn::Connection) -> (u64, String) {
	let close = within("session close", conn.closed()).await;
	match client::quic_refusal(&close) {
		Some(Outcome::Refused(code, reason)) => (code, reason),
		_ => panic!("expected an application close, got {close}"),
	}
}

/// The reason a session at `path` with `?jwt=token` is refused for: it must be closed with
/// UNAUTHORIZED.
pub async fn jwt_refusal(relay: &impl Target, path: &str, token: &str) -> String {
	let conn = admitted(relay, &format!("{path}?jwt={token}")).await;
	let (code, reason) = closed(&conn).await;
	assert_eq!(
		code,
		moq_relay::wire::SessionCode::UNAUTHORIZED.into_inner() as u64,
		"{path}: {reason}"
	);
	reason
}

/// A WebTransport session to `path_and_query` with an optional `Authorization` header, offering
/// moq-lite-05, trusting only the relay's certificate.
pub async fn webtransport(
	relay: &TestRelay,
	path_and_query: &str,
	authorization: Option<&str>,
) -> web_transport_quinn::Session {
	let headers: Vec<(&str, &str)> = authorization
		.map(|value| ("authorization", value))
		.into_iter()
		.collect();
	webtransport_with(relay, path_and_query, &headers).await
}

/// A WebTransport session to the relay at `path_and_query` whose CONNECT carries `headers`.
pub async fn webtransport_with(
	relay: &TestRelay,
	path_and_query: &str,
	headers: &[(&str, &str)],
) -> web_transport_quinn::Session {
	let url: url::Url = format!("https://127.0.0.1:{}{path_and_query}", relay.addr.port())
		.parse()
		.unwrap();
	client::connect(&url, &relay.fingerprint, headers)
		.await
		.unwrap_or_else(|err| panic!("{err}"))
}

/// Waits for the relay to close a WebTransport session; its code and reason.
pub async fn webtransport_closed(session: &web_transport_quinn::Session) -> (u32, String) {
	let close = within("WebTransport close", session.closed()).await;
	match client::webtransport_refusal(&close) {
		Some(Outcome::Refused(code, reason)) => (code.try_into().unwrap(), reason),
		_ => panic!("expected a WebTransport close, got {close}"),
	}
}

/// Proves a WebTransport session is admitted and served: sends a SETUP (no Path, the URL carries
/// it), asks for announcements and waits for the ANNOUNCE_OK; its count of broadcasts announced.
pub async fn webtransport_served(session: &web_transport_quinn::Session) -> u64 {
	match client::served(session).await {
		Ok(Outcome::Admitted(count)) => count,
		other => panic!("the session was not served: {other:?}"),
	}
}

/// The `moq-relay` binary, started with `args`, and what it printed at start-up.
pub struct Running {
	pub child: std::process::Child,
	pub addr: SocketAddr,
	pub fingerprint: String,
}

impl Running {
	/// The load tool's arguments for this relay: moq-lite-05 over raw QUIC to its `/anon` path,
	/// its certificate pinned, then `extra`.
	pub fn load_tool_args(&self, extra: &[&str]) -> moq_relay_bench::Args {
		use clap::Parser;

		let url = format!("moqt://127.0.0.1:{}/anon", self.addr.port());
		let base = [
			"moq-relay-bench",
			"--url",
			&url,
			"--tls-fingerprint",
			&self.fingerprint,
			"--version",
			"moq-lite-05",
		];
		moq_relay_bench::Args::try_parse_from(base.iter().chain(extra)).unwrap()
	}
}

/// A test that fails (panics) before it stops the binary must not leave it running.
impl Drop for Running {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

/// Starts the binary from the repository root (where dev/*.toml's relative paths resolve, as with
/// `just relay`) and waits for its fingerprint line, printed once every socket is bound.
pub fn start(args: &[&str]) -> Running {
	let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_moq-relay"));
	command.args(args);
	launch(command)
}

/// [`start`] for a command that runs the binary some other way (under valgrind, say).
pub fn launch(mut command: std::process::Command) -> Running {
	use std::io::{BufRead, BufReader};
	use std::process::Stdio;

	let mut child = command
		.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
		.env("RUST_LOG", "warn")
		.stdout(Stdio::piped())
		.stderr(Stdio::null())
		.spawn()
		.unwrap_or_else(|err| panic!("{:?}: {err}", command.get_program()));
	let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
	let (mut addr, mut fingerprint) = (None, None);
	while fingerprint.is_none() {
		let line = lines
			.next()
			.expect("the relay exited before printing its fingerprint")
			.unwrap();
		if let Some(rest) = line.strip_prefix("listening: ") {
			addr.get_or_insert(rest.split(' ').next().unwrap().parse().unwrap());
		}
		if let Some(rest) = line.strip_prefix("fingerprint: ") {
			fingerprint = Some(rest.to_string());
		}
	}
	Running {
		child,
		addr: addr.unwrap(),
		fingerprint: fingerprint.unwrap(),
	}
}

/// How many subscriptions the published client's publisher sessions saw, from its stats registry.
pub fn publisher_subscriptions(registry: &moq_net::stats::Registry) -> u64 {
	registry
		.snapshot()
		.traffic()
		.into_iter()
		.filter(|(_, role, _)| *role == moq_net::stats::Role::Publisher)
		.map(|(_, _, traffic)| traffic.subscriptions_started)
		.sum()
}

/// Whether a log line carries `field` with `value` (a `str` field is quoted, a peer's string is
/// not).
pub fn has_field(line: &str, field: &str, value: &str) -> bool {
	let (quoted, bare) = (format!("{field}=\"{value}\""), format!("{field}={value}"));
	line.split(' ').any(|word| word == quoted || word == bare)
}

/// An in-memory log sink for `tracing_subscriber`'s `with_writer`.
#[derive(Clone, Default)]
pub struct Capture(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

/// The test binary's one global subscriber: `RUST_LOG` to the test output (`RUST_LOG=moq_relay=debug
/// cargo test …` shows the relay's side), and a capture layer, off until a log test turns it on.
struct Logging {
	capture: Capture,
	/// Sets the capture layer's filter.
	set_capture: Box<dyn Fn(tracing_subscriber::EnvFilter) + Send + Sync>,
	/// One capture at a time.
	capturing: std::sync::Mutex<()>,
}

fn logging() -> &'static Logging {
	use tracing_subscriber::Layer;
	use tracing_subscriber::layer::SubscriberExt;
	use tracing_subscriber::util::SubscriberInitExt;

	static LOGGING: std::sync::OnceLock<Logging> = std::sync::OnceLock::new();
	LOGGING.get_or_init(|| {
		let capture = Capture::default();
		let writer = capture.clone();
		let (filter, handle) = tracing_subscriber::reload::Layer::new(tracing_subscriber::EnvFilter::new("off"));
		let captured = tracing_subscriber::fmt::layer()
			.with_ansi(false)
			.with_writer(move || writer.clone())
			.with_filter(filter);
		let console = tracing_subscriber::fmt::layer()
			.with_test_writer()
			.with_filter(tracing_subscriber::EnvFilter::from_default_env());
		let _ = tracing_subscriber::registry().with(console).with(captured).try_init();
		Logging {
			capture,
			set_capture: Box::new(move |filter| {
				let _ = handle.reload(filter);
			}),
			capturing: std::sync::Mutex::new(()),
		}
	})
}

/// What [`Capture::install_trace`] captured (`.0`) while it lives; the capture stops when it drops.
pub struct TraceCapture(
	pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
	std::sync::MutexGuard<'static, ()>,
);

impl Drop for TraceCapture {
	fn drop(&mut self) {
		// Off before the turn (`self.1`) passes to the next capture.
		(logging().set_capture)(tracing_subscriber::EnvFilter::new("off"));
		let _turn = &self.1;
	}
}

impl Capture {
	/// Captures, until the returned guard drops, every crate's events at TRACE through the relay's
	/// own filter (what `RUST_LOG=trace moq-relay` uses; the WebTransport CONNECT events asked for
	/// explicitly). Every test running meanwhile is captured too, which a search for leaked
	/// credentials only makes stricter. One capture at a time.
	pub fn install_trace() -> TraceCapture {
		let logging = logging();
		let turn = logging.capturing.lock().unwrap_or_else(|e| e.into_inner());
		logging.capture.0.lock().unwrap().clear();
		(logging.set_capture)(moq_relay::logging::filter("trace,web_transport_quinn::connect=trace"));
		TraceCapture(logging.capture.0.clone(), turn)
	}
}

impl std::io::Write for Capture {
	fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
		self.0.lock().unwrap().extend_from_slice(buf);
		Ok(buf.len())
	}
	fn flush(&mut self) -> std::io::Result<()> {
		Ok(())
	}
}

/// `<target>/debug/examples/<name>`: `cargo test -p moq-relay` builds the examples next to the
/// binary (a `--test` filter alone does not: `cargo build -p moq-relay --examples` then).
pub fn example(name: &str) -> std::path::PathBuf {
	let dir = std::path::Path::new(env!("CARGO_BIN_EXE_moq-relay")).parent().unwrap();
	let path = dir
		.join("examples")
		.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
	assert!(
		path.is_file(),
		"{} is missing: run `cargo test -p moq-relay` or `cargo build -p moq-relay --examples`",
		path.display()
	);
	path
}
