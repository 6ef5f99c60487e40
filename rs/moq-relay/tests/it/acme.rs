//! ACME certificates end to end: the relay binary orders its certificate from Debian's `pebble`
//! (the ACME test CA) with TLS-ALPN-01 on its own TCP port, `pebble-challtestsrv` answering DNS for
//! the test domain; published clients trusting pebble's root then reach it over QUIC,
//! WebTransport and WebSocket (WSS), and an HTTPS client too. Also: the cache across a restart, a short-lived certificate renewed
//! under a live session, and each operator error with its fix. Pebble keeps its default 5 % of
//! refused nonces throughout.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::common::{free_port, within};

/// The name the relay gets its certificate for; the test DNS server answers it with 127.0.0.1.
const DOMAIN: &str = "relay.test";

/// How long an issuance, a renewal or an expected error may take.
const ISSUANCE: Duration = Duration::from_secs(60);

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
	fn new(name: &str) -> Self {
		let dir = std::env::temp_dir().join(format!("moq-relay-acme-{name}-{}", std::process::id()));
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

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
	fn drop(&mut self) {
		let _ = self.0.kill();
		let _ = self.0.wait();
	}
}

/// Polls `check` every 50 ms until it gives a value, failing after `bound` with `what`.
async fn until<T>(what: &str, bound: Duration, mut check: impl FnMut() -> Option<T>) -> T {
	let deadline = tokio::time::Instant::now() + bound;
	loop {
		if let Some(value) = check() {
			return value;
		}
		assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
		tokio::time::sleep(Duration::from_millis(50)).await;
	}
}

/// `pebble` and `pebble-challtestsrv` on free ports, with the HTTPS certificate of a test CA made here.
struct Pebble {
	dir: Scratch,
	_challtestsrv: Process,
	_pebble: Process,
	/// The ACME directory URL.
	directory: String,
	/// The test CA of pebble's HTTPS listeners (for `--acme-ca-root`).
	ca: PathBuf,
	management: u16,
}

/// What a pebble set-up differs in.
struct PebbleOptions {
	/// The port pebble validates TLS-ALPN-01 on (the relay's, or one where nothing listens).
	tls_port: u16,
	/// The validity of issued certificates, in seconds.
	validity: u64,
	/// What the test DNS server answers for every A query ("" = no address).
	ipv4: &'static str,
}

impl Pebble {
	async fn start(name: &str, options: PebbleOptions) -> Self {
		for binary in ["pebble", "pebble-challtestsrv"] {
			let found = Command::new("sh")
				.args(["-c", &format!("command -v {binary}")])
				.output()
				.is_ok_and(|out| out.status.success());
			assert!(
				found,
				"`{binary}` is not installed: run dev/setup.sh (it installs Debian's pebble package)"
			);
		}
		let dir = Scratch::new(name);
		let ca = rcgen::KeyPair::generate().unwrap();
		let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
		ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
		ca_params
			.distinguished_name
			.push(rcgen::DnType::CommonName, "moq-relay test CA");
		let ca_cert = ca_params.self_signed(&ca).unwrap();
		let issuer = rcgen::Issuer::new(ca_params, ca);
		let key = rcgen::KeyPair::generate().unwrap();
		let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
			.unwrap()
			.signed_by(&key, &issuer)
			.unwrap();
		let ca_path = dir.0.join("ca.pem");
		std::fs::write(&ca_path, ca_cert.pem()).unwrap();
		std::fs::write(dir.0.join("pebble.pem"), leaf.pem()).unwrap();
		std::fs::write(dir.0.join("pebble.key"), key.serialize_pem()).unwrap();

		let (dns, challtest_management, listen, management) = (free_port(), free_port(), free_port(), free_port());
		let log = |file: &str| std::fs::File::create(dir.0.join(file)).unwrap();
		let challtestsrv = Process(
			Command::new("pebble-challtestsrv")
				.args(["-dns01", &format!("127.0.0.1:{dns}")])
				.args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
				.args(["-management", &format!("127.0.0.1:{challtest_management}")])
				.args(["-defaultIPv4", options.ipv4, "-defaultIPv6", ""])
				.stdout(log("challtestsrv.log"))
				.stderr(Stdio::null())
				.spawn()
				.unwrap(),
		);
		let config = serde_json::json!({ "pebble": {
			"listenAddress": format!("127.0.0.1:{listen}"),
			"managementListenAddress": format!("127.0.0.1:{management}"),
			"certificate": "pebble.pem",
			"privateKey": "pebble.key",
			"httpPort": free_port(),
			"tlsPort": options.tls_port,
			"ocspResponderURL": "",
			"externalAccountBindingRequired": false,
			"certificateValidityPeriod": options.validity,
		}});
		std::fs::write(dir.0.join("pebble.json"), config.to_string()).unwrap();
		// PEBBLE_WFE_NONCEREJECT is left unset: pebble refuses 5 % of good nonces by default.
		let pebble = Process(
			Command::new("pebble")
				.current_dir(&dir.0)
				.args(["-config", "pebble.json", "-dnsserver", &format!("127.0.0.1:{dns}")])
				.env("PEBBLE_VA_NOSLEEP", "1")
				.env_remove("PEBBLE_WFE_NONCEREJECT")
				.stdout(log("pebble.log"))
				.stderr(Stdio::null())
				.spawn()
				.unwrap(),
		);
		let pebble = Self {
			_challtestsrv: challtestsrv,
			_pebble: pebble,
			directory: format!("https://127.0.0.1:{listen}/dir"),
			ca: ca_path,
			management,
			dir,
		};
		for port in [listen, management, dns] {
			until("pebble's listeners", Duration::from_secs(10), || {
				std::net::TcpStream::connect(("127.0.0.1", port)).ok()
			})
			.await;
		}
		let log = pebble.log();
		assert!(log.contains("Configured to reject 5% of good nonces"), "{log}");
		pebble
	}

	fn log(&self) -> String {
		std::fs::read_to_string(self.dir.0.join("pebble.log")).unwrap_or_default()
	}

	/// The orders pebble received so far.
	fn orders(&self) -> usize {
		self.log().matches("Added order").count()
	}

	/// Pebble's root, which issued certificates chain to, written to a file.
	async fn root(&self) -> PathBuf {
		let url = format!("https://127.0.0.1:{}/roots/0", self.management);
		let pem = https_client(&self.ca, None).get(url).send().await.unwrap();
		let path = self.dir.0.join("root.pem");
		std::fs::write(&path, pem.bytes().await.unwrap()).unwrap();
		path
	}
}

/// An HTTPS client trusting only `root`, reaching [`DOMAIN`] at `relay` when given.
fn https_client(root: &Path, relay: Option<SocketAddr>) -> reqwest::Client {
	let trust = moq_relay::tls::Trust::Roots(root.to_path_buf());
	let tls = moq_relay::tls::client_config(&trust, &["http/1.1"]).unwrap();
	let mut builder = reqwest::Client::builder()
		.tls_backend_preconfigured(tls)
		.http1_only()
		.no_proxy()
		.timeout(Duration::from_secs(10));
	if let Some(addr) = relay {
		builder = builder.resolve(DOMAIN, addr);
	}
	builder.build().unwrap()
}

/// The relay's arguments for [`DOMAIN`] with `pebble`'s directory and `cache`.
fn acme_args(pebble: &Pebble, cache: &Path) -> Vec<String> {
	vec![
		"--auth-public".to_string(),
		"anon".into(),
		"--domain".into(),
		DOMAIN.into(),
		"--email".into(),
		"ops@relay.test".into(),
		"--acme-directory".into(),
		pebble.directory.clone(),
		"--acme-ca-root".into(),
		pebble.ca.display().to_string(),
		"--acme-cache".into(),
		cache.display().to_string(),
	]
}

/// The relay binary, its stdout and stderr (logs at `info`) in files.
struct Relay {
	process: Process,
	addr: SocketAddr,
	out: PathBuf,
	log: PathBuf,
}

impl Relay {
	/// Starts the binary on `port` for [`DOMAIN`] with `pebble`'s directory and `cache`, plus `args`.
	fn start(port: u16, pebble: &Pebble, cache: &Path, args: &[&str]) -> Self {
		let mut all = acme_args(pebble, cache);
		all.extend(args.iter().map(|a| a.to_string()));
		Self::spawn(port, &pebble.dir.0, &all)
	}

	fn spawn(port: u16, dir: &Path, args: &[String]) -> Self {
		Self::spawn_as(Command::new(env!("CARGO_BIN_EXE_moq-relay")), port, dir, args)
	}

	/// [`Relay::start`] with the cache on a file system of its own that is full: a 64 KiB tmpfs
	/// filled by a file `filler`, in a mount namespace of the relay's own (`dev/in-tmpfs.sh`),
	/// which only the relay's `/proc/PID/root` shows.
	fn start_on_a_full_disk(port: u16, pebble: &Pebble, cache: &Path) -> Self {
		std::fs::create_dir_all(cache).unwrap();
		let mut command = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/in-tmpfs.sh"));
		command
			.args(["run", "64k"])
			.arg(cache)
			.arg("--full")
			.arg(env!("CARGO_BIN_EXE_moq-relay"));
		Self::spawn_as(command, port, &pebble.dir.0, &acme_args(pebble, cache))
	}

	fn spawn_as(mut command: Command, port: u16, dir: &Path, args: &[String]) -> Self {
		let n = std::fs::read_dir(dir).unwrap().count();
		let (out, log) = (dir.join(format!("relay-{n}.out")), dir.join(format!("relay-{n}.log")));
		let child = command
			.args(["--server-bind", &format!("127.0.0.1:{port}")])
			.args(args)
			.env("RUST_LOG", "info,quinn=warn")
			.env("NO_COLOR", "1")
			.stdout(std::fs::File::create(&out).unwrap())
			.stderr(std::fs::File::create(&log).unwrap())
			.spawn()
			.unwrap();
		Self {
			process: Process(child),
			addr: SocketAddr::from(([127, 0, 0, 1], port)),
			out,
			log,
		}
	}

	/// Its log so far, without colours.
	fn log(&self) -> String {
		let text = std::fs::read_to_string(&self.log).unwrap_or_default();
		strip_ansi(&text)
	}

	/// Waits until the log has a line containing every one of `needles`; that line.
	async fn logged(&self, needles: &[&str]) -> String {
		until(&format!("a log line with {needles:?}"), ISSUANCE, || {
			self.log()
				.lines()
				.find(|line| needles.iter().all(|n| line.contains(n)))
				.map(str::to_string)
		})
		.await
	}

	/// The line of its start-up output beginning with `prefix`, once printed.
	async fn printed(&self, prefix: &str) -> String {
		until(&format!("`{prefix}` on stdout"), Duration::from_secs(20), || {
			let out = std::fs::read_to_string(&self.out).unwrap_or_default();
			out.lines().find_map(|l| l.strip_prefix(prefix).map(str::to_string))
		})
		.await
	}

	/// Plain-HTTP GET: status and body (`None` while nothing answers).
	async fn try_get(&self, path: &str) -> Option<(u16, String)> {
		let client = reqwest::Client::builder()
			.no_proxy()
			.timeout(Duration::from_secs(5))
			.build()
			.unwrap();
		let response = client.get(format!("http://{}{path}", self.addr)).send().await.ok()?;
		Some((response.status().as_u16(), response.text().await.ok()?))
	}

	/// Plain-HTTP GET of a relay that is listening: status and body.
	async fn get(&self, path: &str) -> (u16, String) {
		let answer = self.try_get(path).await;
		answer.unwrap_or_else(|| panic!("GET {path}: no answer; the relay's log:\n{}", self.log()))
	}

	/// Waits until `/ready` answers 200.
	async fn ready(&self) {
		let deadline = tokio::time::Instant::now() + ISSUANCE;
		loop {
			if let Some((200, _)) = self.try_get("/ready").await {
				return;
			}
			assert!(
				tokio::time::Instant::now() < deadline,
				"the relay never became ready; its log:\n{}",
				self.log()
			);
			tokio::time::sleep(Duration::from_millis(50)).await;
		}
	}

	/// The fingerprint `/certificate.sha256` names now.
	async fn fingerprint(&self) -> String {
		self.get("/certificate.sha256").await.1
	}
}

fn strip_ansi(text: &str) -> String {
	let mut out = String::with_capacity(text.len());
	let mut chars = text.chars();
	while let Some(c) = chars.next() {
		if c == '\u{1b}' {
			for c in chars.by_ref() {
				if c.is_ascii_alphabetic() {
					break;
				}
			}
		} else {
			out.push(c);
		}
	}
	out
}

/// The SHA-256 of the certificate a fresh TLS handshake with `relay` (SNI [`DOMAIN`]) gets,
/// verified against `root`.
async fn served_fingerprint(relay: SocketAddr, root: &Path) -> String {
	let trust = moq_relay::tls::Trust::Roots(root.to_path_buf());
	let config = moq_relay::tls::client_config(&trust, &["http/1.1"]).unwrap();
	let tcp = tokio::net::TcpStream::connect(relay).await.unwrap();
	let name = rustls::pki_types::ServerName::try_from(DOMAIN).unwrap();
	let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
		.connect(name, tcp)
		.await
		.unwrap();
	let leaf = &tls.get_ref().1.peer_certificates().unwrap()[0];
	hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, leaf))
}

/// A published client that trusts only `root` (no system roots, no fingerprint).
fn client(root: &Path) -> moq_tokio::Client {
	let mut config = moq_tokio::connect::Config::default();
	config.tls.root = vec![root.to_path_buf()];
	config.tls.system_roots = Some(false);
	config.once = Some(true);
	config.init(Default::default()).unwrap()
}

/// `scheme://relay.test:port/anon`, dialled at 127.0.0.1.
fn target(scheme: &str, relay: SocketAddr) -> moq_tokio::connect::Addr {
	let url: url::Url = format!("{scheme}://{DOMAIN}:{}/anon", relay.port()).parse().unwrap();
	moq_tokio::connect::Addr::pinned(url, [relay]).unwrap()
}

/// A publishing session: its connection, its track, and what must live as long as it.
type Publishing = (moq_tokio::Connection, moq_net::track::Producer, Box<dyn std::any::Any>);

/// A published session of `client` to `relay` over `scheme`, publishing `clock`/`seconds`.
async fn publisher(client: &moq_tokio::Client, scheme: &str, relay: SocketAddr) -> Publishing {
	let origin = moq_tokio::origin::spawn();
	let broadcast = origin.create_broadcast("clock").unwrap();
	let track = broadcast.create_track("seconds", None).unwrap();
	broadcast.announce(Default::default()).unwrap();
	let connection = within(
		"publisher connected",
		client
			.clone()
			.with_publisher(&origin)
			.connect(target(scheme, relay))
			.established(),
	)
	.await
	.unwrap_or_else(|err| panic!("{scheme} publisher: {err}"));
	(connection, track, Box::new((origin, broadcast)))
}

/// A subscribing session of `client` to `relay` over `scheme`, subscribed to `clock`/`seconds`.
async fn subscriber(
	client: &moq_tokio::Client,
	scheme: &str,
	relay: SocketAddr,
) -> (moq_tokio::Connection, moq_net::track::Subscriber) {
	let origin = moq_tokio::origin::spawn();
	let consumer = origin.consume();
	let mut announced = consumer.announced();
	let connection = within(
		"subscriber connected",
		client
			.clone()
			.with_subscriber(origin)
			.connect(target(scheme, relay))
			.established(),
	)
	.await
	.unwrap_or_else(|err| panic!("{scheme} subscriber: {err}"));
	within("clock announced", async {
		loop {
			let update = announced.next().await.expect("announcements ended");
			if update.prefix.as_str() == "clock" && update.kind.is_active() {
				return;
			}
		}
	})
	.await;
	let track = within(
		"subscription",
		moq_relay_bench::subscriber::track(&consumer, "clock", "seconds"),
	)
	.await
	.unwrap();
	(connection, track)
}

/// Publishes `text` as one group and reads it back on `subscription`.
async fn round_trip(track: &moq_net::track::Producer, subscription: &mut moq_net::track::Subscriber, text: &str) {
	moq_relay_bench::publisher::write_group(track, 1, |_, _| Bytes::copy_from_slice(text.as_bytes())).unwrap();
	let frames = within("group delivered", moq_relay_bench::subscriber::read_group(subscription))
		.await
		.unwrap();
	assert_eq!(frames, vec![Bytes::copy_from_slice(text.as_bytes())]);
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
	use std::os::unix::fs::PermissionsExt;
	std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Acceptance: a certificate is obtained (with pebble refusing 5 % of nonces), `/ready` turns 200,
/// and published clients trusting only pebble's root connect over raw QUIC, WebTransport and
/// WebSocket (`wss://`, the TCP listener's upgrade), and an HTTPS client too. The cache holds the account and the certificate, owner-only.
#[tokio::test]
async fn certificate_from_pebble_serves_quic_webtransport_and_https() {
	let port = free_port();
	let pebble = Pebble::start(
		"issue",
		PebbleOptions {
			tls_port: port,
			validity: 3600,
			ipv4: "127.0.0.1",
		},
	)
	.await;
	let cache = pebble.dir.0.join("cache");
	let relay = Relay::start(port, &pebble, &cache, &[]);
	assert!(relay.printed("fingerprint: ").await.starts_with("none yet"));
	relay
		.logged(&["code=\"acme_no_certificate\"", "no certificate yet"])
		.await;
	relay.ready().await;
	relay.logged(&["new ACME certificate installed"]).await;
	let root = pebble.root().await;

	let https = https_client(&root, Some(relay.addr));
	let response = within("HTTPS GET", https.get(format!("https://{DOMAIN}:{port}/ready")).send())
		.await
		.unwrap();
	assert_eq!(response.status().as_u16(), 200);
	let fingerprint = relay.fingerprint().await;
	assert_eq!(served_fingerprint(relay.addr, &root).await, fingerprint);

	for scheme in ["moqt", "https", "wss"] {
		let client = client(&root);
		let (publishing, track, _broadcast) = publisher(&client, scheme, relay.addr).await;
		let (subscribing, mut subscription) = subscriber(&client, scheme, relay.addr).await;
		round_trip(&track, &mut subscription, scheme).await;
		drop((publishing, subscribing));
		client.close().await;
	}

	let files: Vec<PathBuf> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
	assert_eq!(files.len(), 3, "{files:?}");
	for suffix in [".json", ".cert.pem", ".key.pem"] {
		let file = files.iter().find(|f| f.to_str().unwrap().ends_with(suffix)).unwrap();
		#[cfg(unix)]
		assert_eq!(mode(file), 0o600, "{}", file.display());
	}
	#[cfg(unix)]
	assert_eq!(mode(&cache), 0o700);
}

/// Acceptance: a restart serves the cached certificate at once with no new order; a short-lived
/// certificate (30 s) is renewed two thirds into its life and served without a restart, while a
/// session opened before the renewal keeps working.
#[tokio::test]
async fn restart_reuses_the_cache_and_a_short_certificate_renews_under_a_live_session() {
	let port = free_port();
	let pebble = Pebble::start(
		"renew",
		PebbleOptions {
			tls_port: port,
			validity: 30,
			ipv4: "127.0.0.1",
		},
	)
	.await;
	let cache = pebble.dir.0.join("cache");
	let first = Relay::start(port, &pebble, &cache, &[]);
	first.ready().await;
	let issued = first.fingerprint().await;
	assert_eq!(pebble.orders(), 1);
	drop(first);

	let relay = Relay::start(port, &pebble, &cache, &[]);
	// Served from the first handshake on: printed at start-up, before any order could finish.
	assert_eq!(relay.printed("fingerprint: ").await, issued);
	relay.ready().await;
	relay.logged(&["serving the cached ACME certificate"]).await;
	assert_eq!(relay.fingerprint().await, issued);
	assert_eq!(
		pebble.orders(),
		1,
		"a restart with a valid cached certificate orders nothing"
	);
	assert!(!relay.log().contains("ordering a certificate"), "{}", relay.log());

	let root = pebble.root().await;
	let client = client(&root);
	let (publishing, track, _broadcast) = publisher(&client, "moqt", relay.addr).await;
	let (subscribing, mut subscription) = subscriber(&client, "moqt", relay.addr).await;
	round_trip(&track, &mut subscription, "before").await;

	relay.logged(&["ordering a certificate"]).await;
	let deadline = tokio::time::Instant::now() + ISSUANCE;
	let fresh = loop {
		let now = relay.fingerprint().await;
		if now != issued {
			break now;
		}
		assert!(
			tokio::time::Instant::now() < deadline,
			"never renewed:\n{}",
			relay.log()
		);
		tokio::time::sleep(Duration::from_millis(100)).await;
	};
	assert_eq!(
		served_fingerprint(relay.addr, &root).await,
		fresh,
		"new handshakes get it"
	);
	assert_eq!(pebble.orders(), 2);
	let mut process = relay.process;
	assert!(process.0.try_wait().unwrap().is_none(), "the relay kept running");

	// The sessions opened under the old certificate are undisturbed.
	round_trip(&track, &mut subscription, "after").await;
	drop((publishing, subscribing));
	client.close().await;
}

/// A full disk when the certificate arrives loses nothing: the relay serves the certificate (and
/// uses the account it registered) from memory, logs `acme_cache_full` with its fix, and writes the
/// cache as soon as there is room, without a second order; what it wrote is a cache a restarted
/// relay serves from.
#[tokio::test]
async fn a_full_disk_loses_no_certificate_and_the_cache_is_written_once_there_is_room() {
	let port = free_port();
	let pebble = Pebble::start(
		"full-disk",
		PebbleOptions {
			tls_port: port,
			validity: 3600,
			ipv4: "127.0.0.1",
		},
	)
	.await;
	let cache = pebble.dir.0.join("cache");
	let relay = Relay::start_on_a_full_disk(port, &pebble, &cache);
	relay.ready().await;
	relay.logged(&["new ACME certificate installed"]).await;
	let full = relay.logged(&["code=\"acme_cache_full\""]).await;
	assert!(full.contains("No space left on device"), "{full}");
	assert!(full.contains("free space on its file system"), "{full}");
	assert!(full.contains("works from memory"), "{full}");
	let root = pebble.root().await;
	let fingerprint = relay.fingerprint().await;
	assert_eq!(served_fingerprint(relay.addr, &root).await, fingerprint);
	let client = client(&root);
	let (publishing, track, _broadcast) = publisher(&client, "moqt", relay.addr).await;
	let (subscribing, mut subscription) = subscriber(&client, "moqt", relay.addr).await;
	round_trip(&track, &mut subscription, "while the disk is full").await;

	// The relay's view of its cache: the filler alone, no half-written file.
	let seen = PathBuf::from(format!("/proc/{}/root{}", relay.process.0.id(), cache.display()));
	let names = |dir: &Path| -> Vec<String> {
		let mut names: Vec<String> = std::fs::read_dir(dir)
			.unwrap()
			.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
			.collect();
		names.sort();
		names
	};
	assert_eq!(names(&seen), ["filler"]);
	std::fs::remove_file(seen.join("filler")).unwrap();
	relay.logged(&["written to the ACME cache"]).await;
	let written = names(&seen);
	assert_eq!(written.len(), 3, "{written:?}");
	for suffix in [".json", ".cert.pem", ".key.pem"] {
		let name = written.iter().find(|n| n.ends_with(suffix)).unwrap();
		assert!(
			name.starts_with(if suffix == ".json" { "account-" } else { "relay.test-" }),
			"{name}"
		);
		assert_eq!(mode(&seen.join(name)), 0o600, "{name}");
	}
	assert_eq!(pebble.orders(), 1, "the certificate was ordered once");
	round_trip(&track, &mut subscription, "after the write").await;
	drop((publishing, subscribing));
	client.close().await;

	// What was written is a whole cache: a relay started on a copy serves it without ordering.
	let copy = pebble.dir.0.join("cache-copy");
	std::fs::create_dir_all(&copy).unwrap();
	for name in &written {
		std::fs::copy(seen.join(name), copy.join(name)).unwrap();
	}
	drop(relay);
	let restarted = Relay::start(port, &pebble, &copy, &[]);
	assert_eq!(restarted.printed("fingerprint: ").await, fingerprint);
	restarted.logged(&["serving the cached ACME certificate"]).await;
	restarted.ready().await;
	assert_eq!(pebble.orders(), 1, "a restart on the written cache orders nothing");
	assert!(
		!restarted.log().contains("ACME account registered"),
		"{}",
		restarted.log()
	);
}

/// `/ready` while no certificate exists: 503 with a JSON reason naming the last error's code.
async fn not_ready_because(relay: &Relay, code: &str) -> String {
	let (status, body) = relay.get("/ready").await;
	assert_eq!(status, 503, "{body}");
	let json: serde_json::Value = serde_json::from_str(&body).unwrap();
	assert_eq!(json["ready"], false);
	assert_eq!(json["reason"], "no_certificate");
	let message = json["message"].as_str().unwrap().to_string();
	assert!(message.starts_with(&format!("{code}: ")), "{message}");
	message
}

/// Error: the CA cannot reach the relay's port (here pebble validates a port where nothing listens,
/// as when port 443 is not forwarded): `acme_unreachable`, with the port-forwarding fix.
#[tokio::test]
async fn ca_cannot_reach_the_port() {
	let port = free_port();
	let pebble = Pebble::start(
		"unreachable",
		PebbleOptions {
			tls_port: free_port(),
			validity: 3600,
			ipv4: "127.0.0.1",
		},
	)
	.await;
	let relay = Relay::start(port, &pebble, &pebble.dir.0.join("cache"), &[]);
	let line = relay.logged(&["code=\"acme_unreachable\""]).await;
	assert!(
		line.contains(&format!(
			"forward external TCP port 443 to this relay's TCP port {port}"
		)),
		"{line}"
	);
	assert!(
		line.contains("the CA could not connect to relay.test on TCP port 443"),
		"{line}"
	);
	let message = not_ready_because(&relay, "acme_unreachable").await;
	assert!(message.contains("open it in the firewall"), "{message}");
	assert_eq!(relay.fingerprint().await, "no certificate yet\n");
}

/// Error: the domain's DNS does not lead to this relay (the test DNS server has no address for it):
/// `acme_dns_not_here`, with the DNS fix.
#[tokio::test]
async fn dns_not_pointing_here() {
	let port = free_port();
	let pebble = Pebble::start(
		"dns",
		PebbleOptions {
			tls_port: port,
			validity: 3600,
			ipv4: "",
		},
	)
	.await;
	let relay = Relay::start(port, &pebble, &pebble.dir.0.join("cache"), &[]);
	let line = relay.logged(&["code=\"acme_dns_not_here\""]).await;
	assert!(
		line.contains("point the DNS A/AAAA records of relay.test at this host's public address"),
		"{line}"
	);
	not_ready_because(&relay, "acme_dns_not_here").await;
}

/// A stand-in ACME CA on plain HTTP (loopback only) that registers accounts and refuses every
/// order as rate limited, as Let's Encrypt does past its limits (RFC 8555 §6.7, `rateLimited`).
async fn rate_limiting_ca() -> (String, tokio::task::JoinHandle<()>) {
	use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
	use axum::routing::{get, post};

	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	let base = format!("http://{}", listener.local_addr().unwrap());
	let nonce = || {
		let mut headers = HeaderMap::new();
		headers.insert("replay-nonce", HeaderValue::from_static("bm9uY2U"));
		headers
	};
	let directory = serde_json::json!({
		"newNonce": format!("{base}/nonce"),
		"newAccount": format!("{base}/account"),
		"newOrder": format!("{base}/order"),
	})
	.to_string();
	let account = format!("{base}/account/1");
	let router = axum::Router::new()
		.route("/dir", get(move || async move { directory }))
		.route(
			"/nonce",
			get(move || async move { nonce() }).head(move || async move { nonce() }),
		)
		.route(
			"/account",
			post(move || async move {
				let mut headers = nonce();
				headers.insert(header::LOCATION, account.parse().unwrap());
				(StatusCode::CREATED, headers, r#"{"status":"valid"}"#)
			}),
		)
		.route(
			"/order",
			post(move || async move {
				let mut headers = nonce();
				headers.insert(
					header::CONTENT_TYPE,
					HeaderValue::from_static("application/problem+json"),
				);
				let problem = serde_json::json!({
					"type": "urn:ietf:params:acme:error:rateLimited",
					"detail": "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s",
					"status": 429,
				});
				(StatusCode::TOO_MANY_REQUESTS, headers, problem.to_string())
			}),
		);
	let task = tokio::spawn(async move {
		axum::serve(listener, router).await.unwrap();
	});
	(format!("{base}/dir"), task)
}

/// Error: the CA rate-limits the order: `acme_rate_limited`, suggesting `--acme-staging`.
#[tokio::test]
async fn rate_limited_suggests_staging() {
	let (directory, ca) = rate_limiting_ca().await;
	let dir = Scratch::new("rate-limited");
	let args: Vec<String> = [
		"--auth-public",
		"anon",
		"--domain",
		DOMAIN,
		"--acme-directory",
		&directory,
		"--acme-cache",
		&dir.0.join("cache").display().to_string(),
	]
	.iter()
	.map(|a| a.to_string())
	.collect();
	let relay = Relay::spawn(free_port(), &dir.0, &args);
	let line = relay.logged(&["code=\"acme_rate_limited\""]).await;
	assert!(line.contains("use --acme-staging"), "{line}");
	assert!(line.contains("too many certificates"), "{line}");
	assert!(line.contains("retry_in_secs=3600"), "{line}");
	not_ready_because(&relay, "acme_rate_limited").await;
	ca.abort();
}

/// Error: the cache directory cannot be written (here its path runs through a file): the relay
/// does not start, and says how to fix it.
#[tokio::test]
async fn cache_dir_not_writable_stops_the_start() {
	let dir = Scratch::new("cache-not-writable");
	let file = dir.0.join("a-file");
	std::fs::write(&file, b"").unwrap();
	let cache = file.join("cache");
	let output = within(
		"the relay refusing to start",
		tokio::task::spawn_blocking(move || {
			Command::new(env!("CARGO_BIN_EXE_moq-relay"))
				.args([
					"--server-bind",
					"127.0.0.1:0",
					"--auth-public",
					"anon",
					"--domain",
					DOMAIN,
				])
				.arg("--acme-cache")
				.arg(&cache)
				.output()
				.unwrap()
		}),
	)
	.await
	.unwrap();
	assert!(!output.status.success());
	let stderr = String::from_utf8_lossy(&output.stderr);
	let line = BufReader::new(stderr.as_bytes())
		.lines()
		.map_while(Result::ok)
		.find(|l| l.contains("cannot write the ACME cache directory"))
		.unwrap_or_else(|| panic!("{stderr}"));
	assert!(line.contains("a-file/cache"), "{line}");
	assert!(line.contains("or choose another with --acme-cache DIR"), "{line}");
	let err = moq_relay::tls::acme::AcmeSettings {
		domains: vec![DOMAIN.into()],
		email: None,
		cache: file.join("cache"),
		directory: moq_relay::tls::acme::LETS_ENCRYPT.into(),
		ca_root: None,
	}
	.check()
	.unwrap_err();
	assert_eq!(err.code(), "acme_cache_not_writable");
}

/// moshi-server's "Automatic SSL (Let's Encrypt)" example as its users run it:
/// `--config config.toml --domain … --email admin@example.com --port …`, with moshi's own
/// `authorized_ids` in the file. Only the CA is ours to choose (pebble, trusted with
/// `--acme-ca-root`) and the port a free one (443 needs root); the cache is the default
/// `letsencrypt` directory beside the process.
#[tokio::test]
async fn moshi_server_lets_encrypt_example() {
	let port = free_port();
	let pebble = Pebble::start(
		"moshi",
		PebbleOptions {
			tls_port: port,
			validity: 3600,
			ipv4: "127.0.0.1",
		},
	)
	.await;
	let dir = &pebble.dir.0;
	// moshi's config.toml, plus the loopback address this test may bind (the port comes from --port).
	std::fs::write(
		dir.join("config.toml"),
		"authorized_ids = [\"secret_token_1\"]\n[server]\nbind = \"127.0.0.1:4443\"\n",
	)
	.unwrap();
	let (out, log) = (dir.join("moshi.out"), dir.join("moshi.log"));
	let child = Command::new(env!("CARGO_BIN_EXE_moq-relay"))
		.current_dir(dir)
		.args([
			"--config",
			"config.toml",
			"--domain",
			DOMAIN,
			"--email",
			"admin@example.com",
		])
		.args(["--port", &port.to_string()])
		.args(["--acme-directory", &pebble.directory])
		.args(["--acme-ca-root", &pebble.ca.display().to_string()])
		.env("RUST_LOG", "info,quinn=warn")
		.env("NO_COLOR", "1")
		.stdout(std::fs::File::create(&out).unwrap())
		.stderr(std::fs::File::create(&log).unwrap())
		.spawn()
		.unwrap();
	let relay = Relay {
		process: Process(child),
		addr: SocketAddr::from(([127, 0, 0, 1], port)),
		out,
		log,
	};
	relay.ready().await;
	let root = pebble.root().await;
	let https = https_client(&root, Some(relay.addr));
	let get = |key: Option<&str>| {
		let mut request = https.get(format!("https://{DOMAIN}:{port}/announced"));
		if let Some(key) = key {
			request = request.header("kyutai-api-key", key);
		}
		within("HTTPS GET", request.send())
	};
	assert_eq!(get(Some("secret_token_1")).await.unwrap().status().as_u16(), 200);
	assert_eq!(get(None).await.unwrap().status().as_u16(), 401);
	assert_eq!(get(Some("wrong")).await.unwrap().status().as_u16(), 401);
	// The account and certificate are in `letsencrypt/`, where moshi-server keeps them.
	let cached = std::fs::read_dir(dir.join("letsencrypt")).unwrap().count();
	assert_eq!(cached, 3, "the account, the certificate and its key");
	drop(relay);
}
