//! One stalled subscriber must not hurt the others, nor the relay's memory.
//!
//! The relay binary runs as its own process (so its RSS is measured alone, from
//! /proc/<pid>/status). One publisher (the published moq-tokio client) writes
//! 1200-byte frames at 30 fps, one group per second (30 frames, a video-like
//! GOP); each payload starts with its send time. 20 subscribers (moq-tokio,
//! moq-lite-05 over raw QUIC) keep reading. One more subscriber, a raw moq-lite-05
//! QUIC client with small flow-control windows (64 KiB per stream and per
//! connection, so the relay really feels the back-pressure: the moq-tokio client
//! would keep draining its QUIC streams into memory whatever the application
//! does), stops reading its group streams for 30 s and then resumes.
//!
//! Asserted: the 20 receive >= 99% of the frames with p99 latency < 50 ms, the
//! relay's RSS grows by less than 64 MiB, and the stalled subscriber gets the
//! newest group within 1 s of resuming. The numbers are printed
//! (`cargo test --test it slow_subscriber:: -- --nocapture`).

use crate::common;

use std::io::{Read, Write};
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::{lite05, within};
use moq_relay::wire::{
	BidiType, Decode, Encode, FrameHeader, Group as GroupHeader, Setup, Subscribe, SubscribeResponse, UniType, VarInt,
	Version,
};
use tokio::sync::watch;
use web_transport_quinn::quinn;

const DEV_TOML: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/relay.toml");
const FRAME_BYTES: usize = 1200;
const FPS: u64 = 30;
const FRAMES_PER_GROUP: u64 = 30;
const SUBSCRIBERS: usize = 20;
const STALL: Duration = Duration::from_secs(30);
const AFTER_RESUME: Duration = Duration::from_secs(3);
/// The stalled subscriber's QUIC receive windows (per stream and per connection).
const STALLED_WINDOW: u32 = 64 * 1024;

/// The relay binary and what it printed at start-up.
struct Relay {
	child: Child,
	port: u16,
	fingerprint: String,
}

impl Relay {
	fn start() -> Self {
		let running = common::start(&["--config", DEV_TOML, "--server-bind", "127.0.0.1:0"]);
		Self {
			child: running.child,
			port: running.addr.port(),
			fingerprint: running.fingerprint,
		}
	}

	fn url(&self) -> url::Url {
		format!("moqt://127.0.0.1:{}/anon", self.port).parse().unwrap()
	}

	fn client(&self) -> moq_tokio::Client {
		let mut config = moq_tokio::connect::Config::default();
		config.tls.fingerprint = vec![self.fingerprint.clone()];
		config.version = vec![lite05()];
		config.once = Some(true);
		config.init(Default::default()).unwrap()
	}

	/// VmRSS in bytes.
	fn rss(&self) -> u64 {
		let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
		let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
		let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
		kib * 1024
	}

	/// One counter from GET /metrics (plain HTTP on the same port).
	fn metric(&self, name: &str) -> Option<u64> {
		let mut tcp = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
		tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
			.ok()?;
		let mut text = String::new();
		tcp.read_to_string(&mut text).ok()?;
		text.lines()
			.find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
	}
}

impl Drop for Relay {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

/// A frame payload: send time (µs since `epoch`), group, frame, then padding.
fn payload(epoch: Instant, group: u64, frame: u64) -> Bytes {
	let mut buf = BytesMut::with_capacity(FRAME_BYTES);
	buf.put_u64(epoch.elapsed().as_micros() as u64);
	buf.put_u64(group);
	buf.put_u64(frame);
	buf.resize(FRAME_BYTES, 0xa5);
	buf.freeze()
}

/// (sent µs, group, frame) of a payload.
fn parse(mut payload: &[u8]) -> (u64, u64, u64) {
	assert_eq!(payload.len(), FRAME_BYTES, "frame size");
	(payload.get_u64(), payload.get_u64(), payload.get_u64())
}

/// What one healthy subscriber saw: per received frame its group and latency.
#[derive(Default)]
struct Received {
	frames: Vec<(u64, u64, Duration)>,
}

/// Reads groups in order until the track ends; reports each finished group on `done`.
async fn read_track(
	mut track: moq_net::track::Subscriber,
	epoch: Instant,
	received: Arc<Mutex<Received>>,
	done: watch::Sender<Option<u64>>,
	first: tokio::sync::oneshot::Sender<()>,
) {
	let mut first = Some(first);
	while let Ok(Some(mut group)) = track.recv_group().await {
		let mut sequence = None;
		while let Ok(Some(frame)) = group.read_frame().await {
			let now = epoch.elapsed();
			let (sent, g, f) = parse(&frame.payload);
			let latency = now.saturating_sub(Duration::from_micros(sent));
			received.lock().unwrap().frames.push((g, f, latency));
			sequence = Some(g);
			if let Some(first) = first.take() {
				let _ = first.send(());
			}
		}
		if let Some(g) = sequence {
			done.send_replace(Some(g));
		}
	}
}

/// A moq-tokio subscriber following `clock/seconds`.
struct Healthy {
	connection: moq_tokio::Connection,
	client: moq_tokio::Client,
	_origin: moq_net::origin::Producer,
	received: Arc<Mutex<Received>>,
	done: watch::Receiver<Option<u64>>,
	task: tokio::task::JoinHandle<()>,
}

async fn healthy(relay: &Relay, epoch: Instant) -> (Healthy, tokio::sync::oneshot::Receiver<()>) {
	let origin = moq_tokio::origin::spawn();
	let consumer = origin.consume();
	let mut announced = consumer.announced();
	let client = relay.client();
	let connection = client.clone().with_subscriber(origin.clone()).connect(relay.url());
	let connection = within("subscriber established", connection.established())
		.await
		.unwrap();
	loop {
		let update = within("clock announcement", announced.next())
			.await
			.expect("announcements end");
		if update.kind.is_active() && update.prefix.as_str() == "clock" {
			break;
		}
	}
	let broadcast = within("broadcast", consumer.request_broadcast("clock")).await.unwrap();
	let track = within("subscription", broadcast.track("seconds").unwrap().subscribe(None))
		.await
		.unwrap();
	let received = Arc::new(Mutex::new(Received::default()));
	let (done_tx, done) = watch::channel(None);
	let (first_tx, first_rx) = tokio::sync::oneshot::channel();
	let task = tokio::spawn(read_track(track, epoch, received.clone(), done_tx, first_tx));
	(
		Healthy {
			connection,
			client,
			_origin: origin,
			received,
			done,
			task,
		},
		first_rx,
	)
}

const V: Version = Version::Lite05;

fn bytes<T: Encode>(message: &T) -> Vec<u8> {
	message.to_bytes(V).unwrap()
}

/// Typed reads from a raw QUIC stream.
struct Incoming {
	stream: quinn::RecvStream,
	buf: BytesMut,
}

impl Incoming {
	async fn next<T: Decode>(&mut self) -> Option<T> {
		loop {
			match T::decode_prefix(&self.buf, V) {
				Ok((value, used)) => {
					self.buf.advance(used);
					return Some(value);
				}
				Err(moq_relay::wire::DecodeError::UnexpectedEnd) => {}
				Err(err) => panic!("decode: {err}"),
			}
			let chunk = self.stream.read_chunk(16 * 1024, true).await.ok()??;
			self.buf.extend_from_slice(&chunk.bytes);
		}
	}

	async fn raw(&mut self, n: usize) -> Option<Bytes> {
		while self.buf.len() < n {
			let chunk = self.stream.read_chunk(16 * 1024, true).await.ok()??;
			self.buf.extend_from_slice(&chunk.bytes);
		}
		Some(self.buf.split_to(n).freeze())
	}
}

/// The raw subscriber that stalls: when `paused` is true it neither accepts
/// nor reads any stream.
struct Stalled {
	/// The SUBSCRIBE bidi stream, open for the whole test.
	_subscription: (quinn::SendStream, Incoming),
	conn: quinn::Connection,
	paused: watch::Sender<bool>,
	/// (group, first frame's arrival since `epoch`) of every group whose first frame was read.
	groups: Arc<Mutex<Vec<(u64, Duration)>>>,
	arrived: watch::Receiver<u64>,
	frames: Arc<AtomicU64>,
	task: tokio::task::JoinHandle<()>,
}

async fn stalled(relay: &Relay, epoch: Instant) -> Stalled {
	let mut tls = pinned_tls(&relay.fingerprint);
	tls.alpn_protocols = vec![b"moq-lite-05".to_vec()];
	let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
	let mut transport = quinn::TransportConfig::default();
	transport
		.stream_receive_window(STALLED_WINDOW.into())
		.receive_window(STALLED_WINDOW.into())
		.keep_alive_interval(Some(Duration::from_secs(1)));
	let mut config = quinn::ClientConfig::new(Arc::new(quic));
	config.transport_config(Arc::new(transport));
	let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
	endpoint.set_default_client_config(config);
	let addr = std::net::SocketAddr::from(([127, 0, 0, 1], relay.port));
	let conn = within("raw QUIC connect", endpoint.connect(addr, "localhost").unwrap())
		.await
		.unwrap();

	let mut setup = conn.open_uni().await.unwrap();
	setup.write_all(&bytes(&UniType::Setup)).await.unwrap();
	let message = Setup {
		path: Some("/anon".to_string()),
		..Setup::default()
	};
	setup.write_all(&bytes(&message)).await.unwrap();
	setup.finish().unwrap();

	let (paused, paused_rx) = watch::channel(false);
	let groups = Arc::new(Mutex::new(Vec::new()));
	let frames = Arc::new(AtomicU64::new(0));
	let (arrived_tx, arrived) = watch::channel(0u64);
	let arrived_tx = Arc::new(arrived_tx);
	let task = tokio::spawn({
		let conn = conn.clone();
		let groups = groups.clone();
		let frames = frames.clone();
		async move {
			loop {
				let mut rx = paused_rx.clone();
				if rx.wait_for(|p| !*p).await.is_err() {
					return;
				}
				let Ok(stream) = conn.accept_uni().await else { return };
				let mut rx = paused_rx.clone();
				let groups = groups.clone();
				let frames = frames.clone();
				let arrived = arrived_tx.clone();
				tokio::spawn(async move {
					let mut incoming = Incoming {
						stream,
						buf: BytesMut::new(),
					};
					match incoming.next::<UniType>().await {
						Some(UniType::Group) => {}
						// The relay's SETUP, or a stream reset before its type.
						_ => return,
					}
					let Some(header) = incoming.next::<GroupHeader>().await else {
						return;
					};
					let sequence = header.sequence.into_inner();
					let mut first = true;
					loop {
						// "Hold the group stream unread" while paused.
						if rx.wait_for(|p| !*p).await.is_err() {
							return;
						}
						let Some(frame) = incoming.next::<FrameHeader>().await else {
							return;
						};
						let Some(body) = incoming.raw(frame.size.into_inner() as usize).await else {
							return;
						};
						frames.fetch_add(1, Ordering::Relaxed);
						if first {
							first = false;
							let (_, g, _) = parse(&body);
							assert_eq!(g, sequence, "group header and payload agree");
							groups.lock().unwrap().push((sequence, epoch.elapsed()));
							arrived.send_modify(|n| *n += 1);
						}
					}
				});
			}
		}
	});

	let (mut send, recv) = conn.open_bi().await.unwrap();
	send.write_all(&bytes(&BidiType::Subscribe)).await.unwrap();
	let subscribe = Subscribe {
		id: VarInt::ZERO,
		broadcast: "clock".into(),
		track: "seconds".into(),
		options: Default::default(),
	};
	send.write_all(&bytes(&subscribe)).await.unwrap();
	let mut control = Incoming {
		stream: recv,
		buf: BytesMut::new(),
	};
	let response = within("SUBSCRIBE_START", control.next::<SubscribeResponse>())
		.await
		.expect("subscribe stream ended");
	assert!(matches!(response, SubscribeResponse::Start { .. }), "{response:?}");
	Stalled {
		_subscription: (send, control),
		conn,
		paused,
		groups,
		arrived,
		frames,
		task,
	}
}

/// TLS trusting only the certificate with this SHA-256 fingerprint.
fn pinned_tls(fingerprint: &str) -> rustls::ClientConfig {
	let trust = moq_relay::tls::Trust::Fingerprint(fingerprint.to_string());
	moq_relay::tls::client_config(&trust, &[]).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
	if sorted.is_empty() {
		return Duration::ZERO;
	}
	let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
	sorted[index]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_subscriber_is_shed_without_hurting_the_others() {
	let relay = Relay::start();
	let epoch = Instant::now();

	// The publisher: `clock/seconds`, a group per second, 30 frames of 1200 bytes.
	let origin = moq_tokio::origin::spawn();
	let broadcast = origin.create_broadcast("clock").unwrap();
	let track = broadcast.create_track("seconds", None).unwrap();
	broadcast.announce(Default::default()).unwrap();
	let publisher_client = relay.client();
	let publisher = publisher_client.clone().with_publisher(&origin).connect(relay.url());
	let publisher = within("publisher established", publisher.established()).await.unwrap();
	let current = Arc::new(AtomicU64::new(0));
	let (stop_tx, mut stop_rx) = watch::channel(false);
	let writer = tokio::spawn({
		let current = current.clone();
		async move {
			let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / FPS));
			tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
			let mut sequence = 0u64;
			loop {
				let mut group = track.append_group().unwrap();
				current.store(sequence, Ordering::SeqCst);
				for frame in 0..FRAMES_PER_GROUP {
					tick.tick().await;
					group
						.write_frame(moq_net::Timestamp::now(), payload(epoch, sequence, frame))
						.unwrap();
				}
				group.finish().unwrap();
				if *stop_rx.borrow_and_update() {
					return (track, sequence);
				}
				sequence += 1;
			}
		}
	});

	// Everyone subscribes (readiness by announcement) and gets a first frame.
	let mut subscribers = Vec::new();
	for _ in 0..SUBSCRIBERS {
		let (sub, first) = healthy(&relay, epoch).await;
		within("a first frame", first).await.unwrap();
		subscribers.push(sub);
	}
	let stalled = stalled(&relay, epoch).await;
	within(
		"the stalled subscriber's first group",
		stalled.arrived.clone().wait_for(|n| *n > 0),
	)
	.await
	.unwrap();

	// Measurement window: groups after this one.
	let baseline_group = current.load(Ordering::SeqCst);
	let rss_baseline = relay.rss();
	let rss_peak = Arc::new(AtomicU64::new(rss_baseline));
	let sampler = tokio::spawn({
		let rss_peak = rss_peak.clone();
		let pid = relay.child.id();
		async move {
			let mut tick = tokio::time::interval(Duration::from_millis(200));
			loop {
				tick.tick().await;
				let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
					return;
				};
				if let Some(kib) = status
					.lines()
					.find_map(|l| l.strip_prefix("VmRSS:"))
					.and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
				{
					rss_peak.fetch_max(kib * 1024, Ordering::Relaxed);
				}
			}
		}
	});

	// The stall: the test's subject, a timed phase.
	stalled.paused.send_replace(true);
	let frames_before_stall = stalled.frames.load(Ordering::Relaxed);
	tokio::time::sleep(STALL).await;
	let newest = current.load(Ordering::SeqCst);
	let resumed = epoch.elapsed();
	stalled.paused.send_replace(false);

	// The newest group (the one being written at the resume) must arrive within 1 s.
	let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
	let mut arrived = stalled.arrived.clone();
	let caught_up = loop {
		let found = stalled
			.groups
			.lock()
			.unwrap()
			.iter()
			.filter(|(g, _)| *g >= newest)
			.map(|(g, at)| (*g, *at))
			.min_by_key(|(_, at)| *at);
		if let Some(found) = found {
			break Some(found);
		}
		match tokio::time::timeout_at(deadline, arrived.changed()).await {
			Ok(Ok(())) => {}
			_ => break None,
		}
	};

	tokio::time::sleep(AFTER_RESUME).await;
	stop_tx.send_replace(true);
	let (track, last_group) = within("the publisher's last group", writer).await.unwrap();

	// Let every healthy subscriber finish the last group (bounded; a miss is a loss).
	for sub in &subscribers {
		let mut done = sub.done.clone();
		let _ = tokio::time::timeout(
			Duration::from_secs(2),
			done.wait_for(|g| g.is_some_and(|g| g >= last_group)),
		)
		.await;
	}
	sampler.abort();
	let rss_end = relay.rss();
	let peak = rss_peak.load(Ordering::Relaxed).max(rss_end);
	let dropped = relay.metric("moq_relay_groups_dropped_total");

	// The numbers.
	let measured_groups = last_group - baseline_group;
	let expected = measured_groups * FRAMES_PER_GROUP;
	let mut latencies = Vec::new();
	let mut worst_delivery = 1.0f64;
	let mut total_received = 0u64;
	for sub in &subscribers {
		let received = sub.received.lock().unwrap();
		let mut seen = std::collections::HashSet::new();
		for &(g, f, latency) in &received.frames {
			if g > baseline_group && g <= last_group && seen.insert((g, f)) {
				latencies.push(latency);
			}
		}
		total_received += seen.len() as u64;
		worst_delivery = worst_delivery.min(seen.len() as f64 / expected as f64);
	}
	latencies.sort();
	let delivery = total_received as f64 / (expected * SUBSCRIBERS as u64) as f64;
	let p50 = percentile(&latencies, 0.50);
	let p99 = percentile(&latencies, 0.99);
	let max = latencies.last().copied().unwrap_or_default();
	let growth = peak.saturating_sub(rss_baseline);
	let resume_latency = caught_up.map(|(_, at)| at.saturating_sub(resumed));
	let stalled_groups: Vec<u64> = stalled.groups.lock().unwrap().iter().map(|(g, _)| *g).collect();
	println!(
		"slow_subscriber: {SUBSCRIBERS} subscribers x {measured_groups} groups x {FRAMES_PER_GROUP} frames of \
		 {FRAME_BYTES} B at {FPS} fps; delivery {:.3}% (worst subscriber {:.3}%), latency p50 {p50:?} p99 {p99:?} \
		 max {max:?}; relay RSS {} KiB -> peak {} KiB (growth {} KiB), end {} KiB; stalled: {} frames read before \
		 the stall, newest group {newest} at resume, caught up with {:?} after {resume_latency:?}, groups seen \
		 {stalled_groups:?}; groups dropped by the relay: {dropped:?}",
		delivery * 100.0,
		worst_delivery * 100.0,
		rss_baseline / 1024,
		peak / 1024,
		growth / 1024,
		rss_end / 1024,
		frames_before_stall,
		caught_up.map(|(g, _)| g),
	);

	assert!(measured_groups >= 30, "the run covered {measured_groups} groups");
	assert!(
		worst_delivery >= 0.99,
		"a healthy subscriber received only {:.2}% of the frames",
		worst_delivery * 100.0
	);
	assert!(p99 < Duration::from_millis(50), "p99 latency {p99:?}");
	assert!(growth < 64 * 1024 * 1024, "relay RSS grew by {} KiB", growth / 1024);
	// The stall really pushed back: the relay shed the stalled subscriber's backlog.
	assert!(dropped.unwrap_or(0) > 0, "the relay dropped no group: {dropped:?}");
	let resume_latency = resume_latency.expect("the stalled subscriber never got the newest group after resuming");
	assert!(
		resume_latency < Duration::from_secs(1),
		"the stalled subscriber got the newest group {resume_latency:?} after resuming"
	);

	drop(track);
	broadcast.close();
	stalled.task.abort();
	stalled.conn.close(0u32.into(), b"done");
	for sub in subscribers {
		sub.task.abort();
		sub.connection.close().await.ok();
		sub.client.close().await;
	}
	publisher.close().await.ok();
	publisher_client.close().await;
}
