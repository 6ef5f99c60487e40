//! A hostile client cannot exhaust the relay before it is admitted: the attacks of
//! `docs/reliability.md` ("Limits") reproduced against the real binary or an in-process relay,
//! each showing the bound or the refusal, with a bystander session still served.

use crate::common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Running, TestRelay, admitted, announce_ok, http_get, pinned_tls, start, within};
use moq_relay::wire::{Encode, SessionCode, UniType, Version};
use web_transport_quinn::quinn;

/// A value of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
fn proc_kib(pid: u32, field: &str) -> u64 {
	let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
	let line = status
		.lines()
		.find(|l| l.starts_with(field))
		.unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
	line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Seconds of CPU the process has used (user + system), from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
	let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
	// Fields after the command (which may hold spaces) start after the last ')'.
	let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
	let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
	ticks as f64 / 100.0
}

/// Polls `check` every 10 ms until it holds; panics naming `what` after [`common::BOUND`]. For
/// conditions the relay only reports when asked (its metrics, its HTTP answers).
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
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

fn metric(text: &str, line_prefix: &str) -> u64 {
	text.lines()
		.find_map(|l| l.strip_prefix(line_prefix))
		.and_then(|v| v.trim().parse().ok())
		.unwrap_or(0)
}

/// A raw QUIC connection that never sends SETUP and tries to make the relay buffer as much as it
/// can: one byte on its first uni stream (a SETUP stream type, so the relay waits on it), then 99
/// more uni and 100 bidi streams with 1.25 MB each. Returns how the relay closed it.
async fn flood_without_setup(relay: &Running, payload: Bytes) -> (u64, String) {
	let conn = common::raw_connect(relay, "moq-lite-05").await;
	let mut first = conn.open_uni().await.unwrap();
	first
		.write_all(&UniType::Setup.to_bytes(Version::Lite05).unwrap())
		.await
		.unwrap();
	let mut writers = tokio::task::JoinSet::new();
	for i in 0..199 {
		let (conn, payload) = (conn.clone(), payload.clone());
		// Each writer blocks on the relay's stream allowance or flow control until the close.
		writers.spawn(async move {
			let mut send = if i < 99 {
				conn.open_uni().await.ok()?
			} else {
				conn.open_bi().await.ok()?.0
			};
			send.write_chunk(payload).await.ok()
		});
	}
	let closed = common::closed(&conn).await;
	writers.abort_all();
	closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_send_setup_cost_little_and_are_closed() {
	const ATTACKERS: u64 = 16;
	let relay = start(&[
		"--server-bind",
		"127.0.0.1:0",
		"--tls-generate",
		"localhost",
		"--auth-public",
		"anon",
		"--limits-setup-timeout",
		"3s",
	]);
	let pid = relay.child.id();
	let bystander = admitted(&relay, "/anon").await;
	announce_ok(&bystander).await;
	let before = proc_kib(pid, "VmHWM");

	let payload = Bytes::from(vec![0u8; 1_250_000]);
	let mut attacks = tokio::task::JoinSet::new();
	let relay = std::sync::Arc::new(relay);
	for _ in 0..ATTACKERS {
		let (relay, payload) = (relay.clone(), payload.clone());
		attacks.spawn(async move { flood_without_setup(&relay, payload).await });
	}
	while let Some(closed) = attacks.join_next().await {
		let (code, reason) = closed.unwrap();
		assert_eq!(code, u64::from(SessionCode::TIMEOUT.into_inner()), "{reason}");
		assert!(reason.starts_with("setup_timeout: "), "{reason}");
	}
	let peak = proc_kib(pid, "VmHWM");
	let growth_kib = peak.saturating_sub(before);
	// Before the bounds each such connection made the relay buffer ~324 MiB.
	eprintln!("peak RSS growth for {ATTACKERS} flooding connections: {growth_kib} KiB");
	assert!(
		growth_kib < ATTACKERS * 1024,
		"{ATTACKERS} connections grew the relay by {growth_kib} KiB (>= 1 MiB each)"
	);

	announce_ok(&bystander).await;
	let (_, _, body) = http_get(relay.as_ref(), "/metrics", false).await;
	assert_eq!(
		metric(&body, "moq_relay_limit_refused_total{code=\"setup_timeout\"}"),
		ATTACKERS,
		"{body}"
	);
	let mut relay = std::sync::Arc::into_inner(relay).unwrap();
	relay.child.kill().unwrap();
	relay.child.wait().unwrap();
}

/// Connects raw QUIC and returns the connection error if the relay refuses it outright.
async fn try_connect(relay: &TestRelay) -> Result<quinn::Connection, quinn::ConnectionError> {
	let mut tls = pinned_tls(relay);
	tls.alpn_protocols = vec![b"moq-lite-05".to_vec()];
	let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
	let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
	endpoint.set_default_client_config(quinn::ClientConfig::new(std::sync::Arc::new(quic)));
	within("QUIC connect", endpoint.connect(relay.addr, "localhost").unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_connections_per_address_are_capped_and_admitted_sessions_are_not_affected() {
	let relay = TestRelay::start_with(|config| {
		config.auth.public = Some("anon".into());
		config.limits.max_pending_per_ip = Some(3);
	})
	.await;
	let bystander = admitted(&relay, "/anon").await;
	announce_ok(&bystander).await;

	let mut pending = Vec::new();
	for _ in 0..3 {
		pending.push(try_connect(&relay).await.expect("within the per-address cap"));
	}
	match try_connect(&relay).await {
		Err(quinn::ConnectionError::ConnectionClosed(close)) => {
			assert_eq!(close.error_code, quinn::TransportErrorCode::CONNECTION_REFUSED);
		}
		other => panic!("expected CONNECTION_REFUSED over the cap, got {other:?}"),
	}
	announce_ok(&bystander).await;

	// A pending connection that leaves frees its place.
	let gone = pending.pop().unwrap();
	gone.close(0u32.into(), b"bye");
	// The relay learns of the close a moment later.
	let again = std::sync::Mutex::new(Vec::new());
	eventually("a freed place for a new connection", || async {
		let connected = try_connect(&relay).await;
		connected.map(|conn| again.lock().unwrap().push(conn)).is_ok()
	})
	.await;
	let (_, _, body) = http_get(&relay, "/metrics", false).await;
	assert!(
		metric(
			&body,
			"moq_relay_limit_refused_total{code=\"too_many_pending_from_ip\"}"
		) >= 1,
		"{body}"
	);
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_without_connect_is_closed_at_the_handshake_timeout() {
	let relay = TestRelay::start_with(|config| {
		config.auth.public = Some("anon".into());
		config.limits.handshake_timeout = Some(Duration::from_secs(1));
	})
	.await;
	// ALPN h3 and then nothing: no SETTINGS, no CONNECT.
	let conn = common::raw_connect(&relay, "h3").await;
	let started = Instant::now();
	let err = within("the relay to close a silent h3 connection", conn.closed()).await;
	assert!(
		started.elapsed() >= Duration::from_millis(900),
		"closed before the time-out: {err}"
	);
	let (_, _, body) = http_get(&relay, "/metrics", false).await;
	assert_eq!(
		metric(&body, "moq_relay_limit_refused_total{code=\"handshake_timeout\"}"),
		1,
		"{body}"
	);
	assert_eq!(metric(&body, "moq_relay_connections_pending "), 0, "{body}");
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_tcp_connections_do_not_delay_health_and_are_closed_at_the_http_timeout() {
	const SILENT: usize = 500;
	let relay = start(&[
		"--server-bind",
		"127.0.0.1:0",
		"--tls-generate",
		"localhost",
		"--limits-http-timeout",
		"3s",
	]);
	let addr = relay.addr;
	let silent: Vec<std::net::TcpStream> = (0..SILENT)
		.map(|_| std::net::TcpStream::connect(addr).unwrap())
		.collect();
	// One kept-alive connection that goes quiet after its first answer.
	let mut idle = std::net::TcpStream::connect(addr).unwrap();
	idle.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
		.unwrap();

	let asked = Instant::now();
	let (status, _, body) = http_get(&relay, "/health", false).await;
	let took = asked.elapsed();
	assert_eq!((status, body.as_str()), (200, "ok\n"));
	assert!(
		took < Duration::from_secs(3),
		"/health waited {took:?}, as long as the silent connections' time-out"
	);

	// Every silent connection, and the idle kept-alive one, is closed by the relay.
	let closed = tokio::task::spawn_blocking(move || {
		let mut closed = 0;
		for mut tcp in silent.into_iter().chain([idle]) {
			tcp.set_read_timeout(Some(common::BOUND)).unwrap();
			let mut buf = Vec::new();
			// EOF (or a reset) ends the read; a time-out here is an error and counts as open.
			if tcp.read_to_end(&mut buf).is_ok() || buf.is_empty() {
				closed += 1;
			}
		}
		closed
	})
	.await
	.unwrap();
	assert_eq!(closed, SILENT + 1);
	let (status, _, _) = http_get(&relay, "/health", false).await;
	assert_eq!(status, 200);
	let mut relay = relay;
	relay.child.kill().unwrap();
	relay.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_tcp_accept_loop_backs_off() {
	use std::io::{BufRead, BufReader};
	use std::process::{Command, Stdio};

	// The relay with 128 descriptors: 200 connections exhaust them.
	let mut child = Command::new("sh")
		.args(["-c", "ulimit -n 128 && exec \"$0\" \"$@\""])
		.arg(env!("CARGO_BIN_EXE_moq-relay"))
		.args([
			"--server-bind",
			"127.0.0.1:0",
			"--tls-generate",
			"localhost",
			"--limits-http-timeout",
			"4s",
		])
		.env("RUST_LOG", "warn")
		.stdout(Stdio::piped())
		.stderr(Stdio::piped())
		.spawn()
		.unwrap();
	let pid = child.id();
	let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
	let addr: std::net::SocketAddr = loop {
		let line = stdout.next().expect("the relay exited").unwrap();
		if let Some(rest) = line.strip_prefix("listening: ") {
			break rest.split(' ').next().unwrap().parse().unwrap();
		}
	};
	let stderr = child.stderr.take().unwrap();
	let warnings = std::thread::spawn(move || {
		BufReader::new(stderr)
			.lines()
			.map_while(Result::ok)
			.filter(|l| l.contains("TCP accept failing"))
			.count()
	});

	let cpu_before = cpu_seconds(pid);
	let held: Vec<std::net::TcpStream> = (0..200)
		.filter_map(|_| std::net::TcpStream::connect(addr).ok())
		.collect();
	// The relay frees its descriptors as the silent ones reach the time-out; /health answers then.
	let health = tokio::task::spawn_blocking(move || {
		for _ in 0..100 {
			let Ok(mut tcp) = std::net::TcpStream::connect(addr) else {
				continue;
			};
			tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
			let _ = tcp.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
			let mut response = String::new();
			if tcp.read_to_string(&mut response).is_ok() && response.starts_with("HTTP/1.1 200") {
				return true;
			}
		}
		false
	});
	let healthy = within("/health after the descriptors came back", health).await.unwrap();
	let cpu = cpu_seconds(pid) - cpu_before;
	drop(held);
	let _ = child.kill();
	let _ = child.wait();
	let warned = warnings.join().unwrap();
	eprintln!("out of descriptors: {cpu:.2} s of relay CPU, {warned} accept-failure lines");
	assert!(healthy, "/health never answered again");
	// A spinning accept loop burned ~90 % of a core and logged on every failure.
	assert!(cpu < 2.0, "the relay used {cpu:.2} s of CPU while out of descriptors");
	assert!((1..=3).contains(&warned), "{warned} accept-failure lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_answers_503_while_the_relay_drains() {
	let mut relay = TestRelay::start_with(|config| {
		config.auth.public = Some("anon".into());
		config.server.drain = Some(Duration::from_secs(5));
	})
	.await;
	// A session that stays keeps the relay draining.
	let session = admitted(&relay, "/anon").await;
	announce_ok(&session).await;
	let (status, _, _) = http_get(&relay, "/ready", false).await;
	assert_eq!(status, 200);
	let stopping = relay.begin_stop();
	eventually("/ready to say 503 during the drain", || async {
		http_get(&relay, "/ready", false).await.0 == 503
	})
	.await;
	session.close(0u32.into(), b"leaving");
	within("the relay to stop", stopping).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiring_past_the_clock_range_admits_without_panicking() {
	use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, Path};
	let dir = std::env::temp_dir().join(format!("moq-relay-hardening-{}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	let key = Key::generate(Algorithm::HS256, Some(KeyId::new("far").unwrap())).unwrap();
	key.to_file(dir.join("root.jwk"), KeyFormat::Base64Url).unwrap();
	let key_file = dir.join("root.jwk");
	let relay = TestRelay::start_with(move |config| config.auth.key = Some(key_file)).await;
	let claims = Claims::new(Path::new("room").unwrap())
		.with_subscribe(Path::root())
		.with_expires(9_300_000_000_000_000_000);
	let token = key.sign(&claims).unwrap();
	let conn = admitted(&relay, &format!("/room?jwt={token}")).await;
	announce_ok(&conn).await;
	// The session task is alive: it answers a second request too.
	announce_ok(&conn).await;
	relay.stop().await;
	let _ = std::fs::remove_dir_all(dir);
}

/// The published client as a publisher or subscriber of the binary at `/anon`.
fn client(relay: &Running) -> moq_tokio::Client {
	let mut config = moq_tokio::connect::Config::default();
	config.tls.fingerprint = vec![relay.fingerprint.clone()];
	config.version = vec![common::lite05()];
	config.once = Some(true);
	config.init(Default::default()).unwrap()
}

/// Publishes a one-frame group with `text` on `track` and checks `subscription` receives it.
async fn round_trip(track: &mut moq_net::track::Producer, subscription: &mut moq_net::track::Subscriber, text: &str) {
	let mut group = track.append_group().unwrap();
	group
		.write_frame(moq_net::Timestamp::now(), Bytes::from(text.to_string()))
		.unwrap();
	group.finish().unwrap();
	let mut got = within("a small group", subscription.recv_group())
		.await
		.unwrap()
		.unwrap();
	let frame = within("its frame", got.read_frame()).await.unwrap().unwrap();
	assert_eq!(&frame.payload[..], text.as_bytes());
}

/// The published client writes frames up to its own cap of 32 MiB, so the relay's frame limit is
/// lowered to 1 MiB to show a frame refused from its header with room to spare: a relay that
/// buffered the frame before judging it would grow by at least 32 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_the_limit_is_refused_from_its_header() {
	let relay = start(&[
		"--server-bind",
		"127.0.0.1:0",
		"--tls-generate",
		"localhost",
		"--auth-public",
		"anon",
		"--limits-max-frame",
		"1048576",
	]);
	let pid = relay.child.id();
	let url: url::Url = format!("moqt://127.0.0.1:{}/anon", relay.addr.port()).parse().unwrap();

	let publisher_origin = moq_tokio::origin::spawn();
	let broadcast = publisher_origin.create_broadcast("cam").unwrap();
	let big = broadcast.create_track("big", None).unwrap();
	let small = broadcast.create_track("small", None).unwrap();
	broadcast.announce(Default::default()).unwrap();
	let _publisher = client(&relay).with_publisher(&publisher_origin).connect(url.clone());

	let origin = moq_tokio::origin::spawn();
	let consumer = origin.consume();
	let mut announced = consumer.announced();
	let _subscriber = client(&relay).with_subscriber(origin).connect(url);
	within("the announcement", announced.next()).await.unwrap();
	let cam = within("broadcast", consumer.request_broadcast("cam")).await.unwrap();
	let mut big_sub = within("big subscription", cam.track("big").unwrap().subscribe(None))
		.await
		.unwrap();
	// Read the refused track all along (the published client subscribes upstream on demand).
	let big_frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
	let reader = tokio::spawn({
		let frames = big_frames.clone();
		async move {
			while let Ok(Some(mut group)) = big_sub.recv_group().await {
				while let Ok(Some(_)) = group.read_frame().await {
					frames.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
				}
			}
		}
	});
	let mut small_sub = within("small subscription", cam.track("small").unwrap().subscribe(None))
		.await
		.unwrap();
	// A small group first: the path works and the baseline is taken with it warm.
	let mut small = small;
	round_trip(&mut small, &mut small_sub, "before").await;
	let before = proc_kib(pid, "VmHWM");

	let mut group = big.append_group().unwrap();
	group
		.write_frame(moq_net::Timestamp::now(), Bytes::from(vec![7u8; 32 << 20]))
		.unwrap();
	group.finish().unwrap();
	// The refusal is counted once the relay has read the frame's header.
	eventually("the frame's refusal", || async {
		let (_, _, body) = http_get(&relay, "/metrics", false).await;
		metric(&body, "moq_relay_limit_refused_total{code=\"frame_too_large\"}") == 1
	})
	.await;

	// Other tracks of the same publisher keep flowing.
	round_trip(&mut small, &mut small_sub, "after").await;
	let growth_mib = proc_kib(pid, "VmHWM").saturating_sub(before) / 1024;
	eprintln!("peak RSS growth with a refused 32 MiB frame: {growth_mib} MiB");
	assert!(
		growth_mib < 16,
		"the relay grew by {growth_mib} MiB for a refused frame"
	);
	// The subscriber of the refused track got no frame of it.
	reader.abort();
	assert_eq!(
		big_frames.load(std::sync::atomic::Ordering::Relaxed),
		0,
		"a refused frame was delivered"
	);
	let mut relay = relay;
	relay.child.kill().unwrap();
	relay.child.wait().unwrap();
}

/// Opens a bidi stream and writes a SUBSCRIBE stream type, a message length of `declared` bytes and
/// `sent` bytes of it, never finishing the message. The relay may close the session meanwhile.
async fn unfinished_subscribe(conn: &quinn::Connection, declared: u64, sent: usize) {
	use moq_relay::wire::{BidiType, VarInt};
	let Ok((mut send, _recv)) = conn.open_bi().await else {
		return;
	};
	let mut head = BidiType::Subscribe.to_bytes(Version::Lite05).unwrap();
	let mut length = bytes::BytesMut::new();
	VarInt::from_u64(declared).unwrap().encode(&mut length);
	head.extend_from_slice(&length);
	if send.write_all(&head).await.is_err() {
		return;
	}
	let _ = send.write_chunk(Bytes::from(vec![0u8; sent])).await;
	// Keep the stream open until the session ends.
	let _ = conn.closed().await;
}

/// A new admitted session sends `count` unfinished SUBSCRIBEs at once (see
/// [`unfinished_subscribe`]); the relay must close it with PROTOCOL_VIOLATION: the reason.
async fn unfinished_subscribes(relay: &Running, count: usize, declared: u64, sent: usize) -> String {
	let conn = admitted(relay, "/anon").await;
	announce_ok(&conn).await;
	let mut writers = tokio::task::JoinSet::new();
	for _ in 0..count {
		let conn = conn.clone();
		writers.spawn(async move { unfinished_subscribe(&conn, declared, sent).await });
	}
	let (code, reason) = common::closed(&conn).await;
	assert_eq!(
		code,
		u64::from(SessionCode::PROTOCOL_VIOLATION.into_inner()),
		"{reason}"
	);
	writers.join_all().await;
	reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_control_messages_are_bounded_per_stream_and_per_session() {
	let relay = start(&[
		"--server-bind",
		"127.0.0.1:0",
		"--tls-generate",
		"localhost",
		"--auth-public",
		"anon",
	]);
	let pid = relay.child.id();
	let bystander = admitted(&relay, "/anon").await;
	announce_ok(&bystander).await;
	let before = proc_kib(pid, "VmHWM");

	// Eight SUBSCRIBEs declaring 40 MiB, 4 MiB of each sent: the first to pass max_message (64 KiB)
	// closes the session.
	let reason = unfinished_subscribes(&relay, 8, 40 << 20, 4 << 20).await;
	assert!(reason.contains("max_message"), "{reason}");
	// Twenty messages of 60 KiB each stay under max_message, but not under the session's
	// max_control_buffer (1 MiB) together.
	let reason = unfinished_subscribes(&relay, 20, 1 << 20, 60 << 10).await;
	assert!(reason.contains("max_control_buffer"), "{reason}");

	let growth_mib = proc_kib(pid, "VmHWM").saturating_sub(before) / 1024;
	eprintln!("peak RSS growth with unfinished control messages: {growth_mib} MiB");
	// Unbounded, the first session alone made the relay buffer 32 MiB (and 320 MiB had it sent
	// every declared byte).
	assert!(growth_mib < 16, "the relay grew by {growth_mib} MiB");
	announce_ok(&bystander).await;
	let mut relay = relay;
	relay.child.kill().unwrap();
	relay.child.wait().unwrap();
}
