//! Whole sessions over [`crate::transport::mem`] under tokio's paused time: what a session does at
//! its time limits and with hostile input, checked without a socket and without waiting for real
//! (a time-out that must not have fired yet is checked with a shorter virtual time-out).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, KeySource, KeyStore, Path};
use tokio::sync::watch;

use super::{Context, Reader, Writer, run};
use crate::auth::{Auth, Public, Transport};
use crate::limits::{Connections, Limits};
use crate::metrics::Metrics;
use crate::origin::Origin;
use crate::transport::Session as _;
use crate::transport::mem::{MemSession, pair};
use crate::wire::{
	Announce, AnnounceOk, AnnounceRequest, AnnounceStatus, BidiType, SessionCode, Setup, StreamCode, Subscribe,
	SubscribeOptions, UniType, VarInt, Version,
};

const V: Version = Version::Lite05;

/// A relay's shared state with `auth` and default limits.
pub(super) fn context(auth: Auth) -> (Arc<Context>, watch::Sender<bool>) {
	context_with(auth, Limits::default())
}

/// A relay's shared state with `auth` and `limits`.
fn context_with(auth: Auth, limits: Limits) -> (Arc<Context>, watch::Sender<bool>) {
	let metrics = Arc::new(Metrics::default());
	let (down, shutdown) = watch::channel(false);
	let ctx = Arc::new(Context {
		origin: Arc::new(Origin::default()),
		auth,
		metrics,
		hop_id: VarInt::from_u32(7),
		shutdown,
		throttle: Arc::new(crate::limits::AuthThrottle::new(&limits)),
		limits,
	});
	(ctx, down)
}

/// A place for a session from 127.0.0.1 in a fresh connection table with `ctx`'s limits.
pub(super) fn ticket(ctx: &Context) -> crate::limits::Ticket {
	Connections::new(ctx.limits.clone(), ctx.metrics.clone())
		.open(IpAddr::V4(Ipv4Addr::LOCALHOST), tokio::time::Instant::now())
		.unwrap()
}

/// The relay's side of a session over `server`, run to its end in a task.
fn serve(server: MemSession, ctx: Arc<Context>) -> tokio::task::JoinHandle<()> {
	tokio::spawn(async move {
		let mut ticket = ticket(&ctx);
		let _ = run(server, V, None, ctx, &mut ticket, Instant::now()).await;
	})
}

/// Sends a SETUP with `path` on a uni stream. The relay may close the session as soon as it has
/// read the SETUP (a refusal, a second SETUP), before the write or the FIN is done here: what a
/// test checks is the close that follows, so the errors of this side are not (as
/// `tests/it/common.rs`'s `send_uni`).
async fn setup(client: &MemSession, path: &str) {
	let Ok(stream) = client.open_uni().await else { return };
	let mut writer = Writer::new(stream);
	let message = Setup {
		path: Some(path.to_string()),
		..Setup::default()
	};
	if writer.encode(&UniType::Setup, V).await.is_ok() && writer.encode(&message, V).await.is_ok() {
		let _ = writer.finish();
	}
}

/// ANNOUNCE_REQUEST for everything, answered by an ANNOUNCE_OK: the session is served.
async fn served(client: &MemSession) {
	let (send, recv) = client.open_bi().await.unwrap();
	let mut writer = Writer::new(send);
	writer.encode(&BidiType::Announce, V).await.unwrap();
	let request = AnnounceRequest {
		prefix: String::new(),
		exclude_hop: VarInt::ZERO,
	};
	writer.encode(&request, V).await.unwrap();
	let ok: AnnounceOk = Reader::new(recv).expect(V).await.unwrap();
	assert_eq!(ok.hop_id, VarInt::from_u32(7));
	// The writer is dropped here: the relay sees the request stream reset, as a client leaving.
	drop(writer);
}

/// Whether `future` is still pending after `after` of virtual time.
async fn pending_after<T>(after: Duration, future: impl std::future::Future<Output = T>) -> bool {
	tokio::time::timeout(after, future).await.is_err()
}

/// The test process's peak resident memory over a stretch of a test, for the attacks below: the
/// relay's side and the client's live in this process, so the growth is an upper bound of what the
/// relay kept. Tests run one at a time (`.cargo/config.toml`), so no other test adds to it.
struct PeakRss {
	base_kib: u64,
}

impl PeakRss {
	/// Resets the kernel's high-water mark (`clear_refs` 5, Linux 4.0+) and notes the RSS now.
	fn start() -> Self {
		std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS (/proc/self/clear_refs)");
		Self {
			base_kib: status_kib("VmRSS"),
		}
	}

	/// How far the peak rose above the RSS at [`PeakRss::start`], in KiB.
	fn growth_kib(&self) -> u64 {
		status_kib("VmHWM").saturating_sub(self.base_kib)
	}
}

/// A value of `/proc/self/status` in KiB.
fn status_kib(field: &str) -> u64 {
	let status = std::fs::read_to_string("/proc/self/status").unwrap();
	let line = status.lines().find(|l| l.starts_with(field)).unwrap();
	line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

pub(super) fn anon() -> Auth {
	Auth::new(Public::both(Path::new("anon").unwrap()), None)
}

#[tokio::test(start_paused = true)]
async fn a_session_is_closed_the_moment_its_token_expires() {
	let dir = std::env::temp_dir().join(format!("moq-relay-session-expiry-{}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	let key = Key::generate(Algorithm::HS256, Some(KeyId::new("expiry").unwrap())).unwrap();
	key.to_file(dir.join("root.jwk"), KeyFormat::Base64Url).unwrap();
	let keys = KeyStore::new(vec![KeySource::File(dir.join("root.jwk"))]).unwrap();
	let (ctx, _down) = context(Auth::new(Public::default(), Some(keys)));
	let claims = Claims::new(Path::new("room").unwrap())
		.with_subscribe(Path::root())
		.with_expires(moq_token::unix_now() + 30);
	let token = key.sign(&claims).unwrap();

	let (client, server) = pair();
	let relay = serve(server, ctx.clone());
	setup(&client, &format!("/room?jwt={token}")).await;
	served(&client).await;
	// Served until the expiry (the token's exp is in whole seconds: up to 29 s from now)...
	assert!(pending_after(Duration::from_secs(28), client.closed()).await);
	served(&client).await;
	// ...and closed then, with the code and reason a client reads.
	client.closed().await;
	assert_eq!(
		client.close_reason(),
		Some((SessionCode::UNAUTHORIZED.into_inner(), "token_expired".to_string()))
	);
	relay.await.unwrap();
	let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_sends_setup_is_closed_at_the_setup_timeout() {
	let (ctx, _down) = context(anon());
	let timeout = ctx.limits.setup_timeout;
	let (client, server) = pair();
	let relay = serve(server, ctx.clone());
	assert!(pending_after(timeout - Duration::from_millis(10), client.closed()).await);
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	assert_eq!(code, SessionCode::TIMEOUT.into_inner());
	assert!(reason.starts_with("setup_timeout: "), "{reason}");
	relay.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_second_setup_closes_the_session_with_protocol_violation() {
	let (ctx, _down) = context(anon());
	let (client, server) = pair();
	let relay = serve(server, ctx);
	setup(&client, "/anon").await;
	served(&client).await;
	setup(&client, "/anon").await;
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	assert_eq!(code, SessionCode::PROTOCOL_VIOLATION.into_inner());
	assert!(reason.contains("SETUP"), "{reason}");
	relay.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_control_message_over_the_limit_closes_the_session() {
	let (ctx, _down) = context(anon());
	let limit = ctx.limits.max_message;
	let (client, server) = pair();
	let relay = serve(server, ctx);
	setup(&client, "/anon").await;
	served(&client).await;
	let (send, _recv) = client.open_bi().await.unwrap();
	let mut writer = Writer::new(send);
	writer.encode(&BidiType::Subscribe, V).await.unwrap();
	// A Message Length of 40 MiB, then more than the limit of it.
	let mut length = bytes::BytesMut::new();
	VarInt::from_u32(40 << 20).encode(&mut length);
	writer.write_all(&length).await.unwrap();
	let _ = writer.write_all(&vec![0u8; limit + 1]).await;
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	assert_eq!(code, SessionCode::PROTOCOL_VIOLATION.into_inner());
	assert!(reason.contains("max_message"), "{reason}");
	relay.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn paths_outside_the_public_prefix_are_refused_and_never_downgraded() {
	let (ctx, _down) = context(anon());
	for (path, reason) in [
		("/private", "missing_credential"),
		// A credential the relay cannot verify is refused, never treated as anonymous.
		("/anon?jwt=abc", "invalid_token: no_verifier"),
	] {
		let (client, server) = pair();
		let relay = serve(server, ctx.clone());
		setup(&client, path).await;
		client.closed().await;
		assert_eq!(
			client.close_reason(),
			Some((SessionCode::UNAUTHORIZED.into_inner(), reason.to_string())),
			"{path}"
		);
		relay.await.unwrap();
	}
}

/// Answers the relay's ANNOUNCE_REQUEST (it asks every session that may publish) with an
/// ANNOUNCE_OK; the stream to write ANNOUNCEs on.
async fn announce_stream(client: &MemSession) -> Writer<crate::transport::mem::MemSend> {
	let (send, recv) = client.accept_bi().await.unwrap();
	let mut reader = Reader::new(recv);
	assert_eq!(reader.expect::<BidiType>(V).await.unwrap(), BidiType::Announce);
	let _request: AnnounceRequest = reader.expect(V).await.unwrap();
	let mut writer = Writer::new(send);
	let ok = AnnounceOk {
		hop_id: VarInt::from_u32(99),
		active_count: VarInt::ZERO,
	};
	writer.encode(&ok, V).await.unwrap();
	writer
}

/// Answers the relay's ANNOUNCE_REQUEST (it asks every session that may publish) with `paths`,
/// announced active one after the other.
async fn announce(client: &MemSession, paths: &[String]) {
	let mut writer = announce_stream(client).await;
	for path in paths {
		let announce = Announce {
			status: AnnounceStatus::Active,
			suffix: path.clone(),
			hops: Vec::new(),
		};
		if writer.encode(&announce, V).await.is_err() {
			return;
		}
	}
	// The stream stays open, as a publisher's does.
	std::mem::forget(writer);
}

#[tokio::test(start_paused = true)]
async fn announcing_more_broadcasts_than_the_limit_closes_only_that_session() {
	let limits = Limits {
		max_broadcasts: 3,
		..Limits::default()
	};
	let (ctx, _down) = context_with(anon(), limits);
	let (bystander, bystander_server) = pair();
	let bystander_relay = serve(bystander_server, ctx.clone());
	setup(&bystander, "/anon").await;
	served(&bystander).await;

	let (client, server) = pair();
	let relay = serve(server, ctx.clone());
	setup(&client, "/anon").await;
	let three: Vec<String> = (0..3).map(|i| format!("cam{i}")).collect();
	announce(&client, &three).await;
	// Within the limit: served.
	served(&client).await;
	assert!(client.close_reason().is_none());

	let (client, server) = pair();
	let over = serve(server, ctx.clone());
	setup(&client, "/anon").await;
	let four: Vec<String> = (0..4).map(|i| format!("mic{i}")).collect();
	announce(&client, &four).await;
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	assert_eq!(code, SessionCode::INTERNAL.into_inner());
	assert!(reason.starts_with("too_many_broadcasts"), "{reason}");
	over.await.unwrap();

	served(&bystander).await;
	drop((relay, bystander_relay));
}

/// 100,000 broadcasts from one session (the attack grew the relay by 81 MiB): the default limit
/// closes it at the 1,001st, with little memory spent, and a bystander is served.
#[tokio::test(start_paused = true)]
async fn a_hundred_thousand_broadcasts_cost_only_the_limit() {
	const BROADCASTS: usize = 100_000;
	let (ctx, _down) = context(anon());
	let (bystander, bystander_server) = pair();
	let _bystander_relay = serve(bystander_server, ctx.clone());
	setup(&bystander, "/anon").await;
	served(&bystander).await;

	let names: Vec<String> = (0..BROADCASTS).map(|i| format!("cam{i}")).collect();
	let peak = PeakRss::start();
	let (client, server) = pair();
	let relay = serve(server, ctx.clone());
	setup(&client, "/anon").await;
	announce(&client, &names).await;
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	assert_eq!(code, SessionCode::INTERNAL.into_inner());
	assert!(reason.starts_with("too_many_broadcasts"), "{reason}");
	relay.await.unwrap();
	let growth = peak.growth_kib();
	eprintln!("peak RSS growth for {BROADCASTS} broadcasts announced: {growth} KiB");
	assert!(growth < 16 * 1024, "{growth} KiB");
	served(&bystander).await;
}

#[tokio::test(start_paused = true)]
async fn announcing_a_path_over_the_limit_closes_the_session() {
	let (ctx, _down) = context(anon());
	let (client, server) = pair();
	let relay = serve(server, ctx.clone());
	setup(&client, "/anon").await;
	announce(&client, &["x".repeat(ctx.limits.max_path + 1)]).await;
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	assert_eq!(code, SessionCode::INTERNAL.into_inner());
	assert!(reason.starts_with("path_too_long"), "{reason}");
	relay.await.unwrap();
}

/// ANNOUNCE_REQUEST for everything, answered; the stream is kept open (a watcher).
async fn watch_all(
	client: &MemSession,
) -> (
	Writer<crate::transport::mem::MemSend>,
	Reader<crate::transport::mem::MemRecv>,
) {
	let (send, recv) = client.open_bi().await.unwrap();
	let mut writer = Writer::new(send);
	writer.encode(&BidiType::Announce, V).await.unwrap();
	let all = AnnounceRequest {
		prefix: String::new(),
		exclude_hop: VarInt::ZERO,
	};
	writer.encode(&all, V).await.unwrap();
	let mut reader = Reader::new(recv);
	let _ok: AnnounceOk = reader.expect(V).await.unwrap();
	(writer, reader)
}

/// Three 8 MiB broadcast names with ten watchers (the attack grew the relay by 409 MiB, copying
/// each name to every watcher): the first is refused from its length, nothing reaches a watcher,
/// and the memory spent is a small part of the 24 MiB offered.
#[tokio::test(start_paused = true)]
async fn huge_broadcast_names_are_refused_before_any_watcher_sees_them() {
	const WATCHERS: usize = 10;
	let (ctx, _down) = context(anon());
	let mut watchers = Vec::new();
	for _ in 0..WATCHERS {
		let (watcher, server) = pair();
		let task = serve(server, ctx.clone());
		setup(&watcher, "/anon").await;
		let streams = watch_all(&watcher).await;
		watchers.push((watcher, task, streams));
	}
	// The three ANNOUNCEs, encoded before the measurement starts (24 MiB of the test's own).
	let mut bytes = Vec::new();
	for i in 0..3 {
		let announce = Announce {
			status: AnnounceStatus::Active,
			suffix: format!("{i}").repeat(8 << 20),
			hops: Vec::new(),
		};
		crate::wire::Encode::encode(&announce, &mut bytes, V).unwrap();
	}
	let peak = PeakRss::start();
	let (client, server) = pair();
	let relay = serve(server, ctx.clone());
	setup(&client, "/anon").await;
	let mut out = announce_stream(&client).await;
	// Refused part of the way in: the rest cannot be written.
	assert!(out.write(bytes::Bytes::from(bytes)).await.is_err());
	client.closed().await;
	let (code, reason) = client.close_reason().unwrap();
	// The ANNOUNCE is refused from its length prefix, past `limits.max_message`.
	assert_eq!(code, SessionCode::PROTOCOL_VIOLATION.into_inner(), "{reason}");
	assert!(reason.contains("max_message"), "{reason}");
	relay.await.unwrap();
	let growth = peak.growth_kib();
	eprintln!("peak RSS growth for three 8 MiB names and {WATCHERS} watchers: {growth} KiB");
	assert!(growth < 16 * 1024, "{growth} KiB");
	for (watcher, _task, (_writer, reader)) in &mut watchers {
		assert!(watcher.close_reason().is_none(), "a watcher was closed");
		assert!(
			pending_after(Duration::from_millis(100), reader.expect::<Announce>(V)).await,
			"a watcher was told of a refused name"
		);
	}
}

/// Lets every task run until all wait (virtual time only moves once they do).
async fn settle() {
	tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Counts the requests of type `kind` the relay opens to `publisher`, and holds every stream
/// unanswered.
fn hold_requests(publisher: &MemSession, kind: BidiType) -> Arc<std::sync::atomic::AtomicUsize> {
	let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
	let (publisher, counted) = (publisher.clone(), count.clone());
	tokio::spawn(async move {
		let mut held = Vec::new();
		while let Ok((send, recv)) = publisher.accept_bi().await {
			let mut reader = Reader::new(recv);
			if reader.decode::<BidiType>(V).await.ok().flatten() == Some(kind) {
				counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
			}
			held.push((send, reader));
		}
	});
	count
}

type Request = (Writer<crate::transport::mem::MemSend>, crate::transport::mem::MemRecv);

/// Opens a request stream of type `kind` from `client` and sends `message` on it.
async fn request(client: &MemSession, kind: BidiType, message: &impl crate::wire::Encode) -> Request {
	let (send, recv) = client.open_bi().await.unwrap();
	let mut writer = Writer::new(send);
	writer.encode(&kind, V).await.unwrap();
	writer.encode(message, V).await.unwrap();
	(writer, recv)
}

/// The codes of the requests among `requests` that were reset (right away: within 1 ms).
async fn resets(requests: Vec<Request>) -> Vec<u32> {
	use crate::transport::{RecvStream as _, TransportError};
	let mut codes = Vec::new();
	for (_writer, mut recv) in requests {
		if let Ok(Err(TransportError::Reset(code))) =
			tokio::time::timeout(Duration::from_millis(1), recv.read_chunk(16)).await
		{
			codes.push(code);
		}
	}
	codes
}

#[tokio::test(start_paused = true)]
async fn a_client_cycling_track_names_cannot_flood_the_publisher() {
	use std::sync::atomic::Ordering;

	let limits = Limits {
		subscribe_rate: 10,
		..Limits::default()
	};
	let (ctx, _down) = context_with(anon(), limits);
	let (bystander, bystander_server) = pair();
	let _bystander_relay = serve(bystander_server, ctx.clone());
	setup(&bystander, "/anon").await;
	// The burst: ten times the rate.
	let burst = 10 * ctx.limits.subscribe_rate as usize;
	let (publisher, publisher_server) = pair();
	// The publisher lets the relay open as many streams as it likes.
	publisher.allow_streams(10 * burst as u32);
	let _publishing = serve(publisher_server, ctx.clone());
	setup(&publisher, "/anon").await;
	announce(&publisher, &["clock".to_string()]).await;
	// Every upstream SUBSCRIBE the relay opens to the publisher, held unanswered.
	let upstream = hold_requests(&publisher, BidiType::Subscribe);

	let (client, client_server) = pair();
	let _subscribing = serve(client_server, ctx.clone());
	setup(&client, "/anon").await;
	served(&client).await;
	settle().await;
	let peak = PeakRss::start();
	let mut streams = Vec::new();
	for i in 0..burst + 50 {
		let subscribe = Subscribe {
			id: VarInt::from_u32(i as u32),
			broadcast: "clock".into(),
			track: format!("bogus-{i}"),
			options: SubscribeOptions::default(),
		};
		streams.push(request(&client, BidiType::Subscribe, &subscribe).await);
	}
	settle().await;
	assert_eq!(
		resets(streams).await,
		vec![StreamCode::CANCEL.into_inner(); 50],
		"past the burst"
	);
	assert_eq!(
		upstream.load(Ordering::Relaxed),
		burst,
		"one upstream SUBSCRIBE per admitted one"
	);
	let growth = peak.growth_kib();
	eprintln!(
		"peak RSS growth for {} bogus track subscriptions: {growth} KiB",
		burst + 50
	);
	assert!(growth < 16 * 1024, "{growth} KiB");
	served(&bystander).await;
}

#[tokio::test(start_paused = true)]
async fn an_address_that_keeps_failing_is_cooled_down_even_where_it_needs_no_credential() {
	let limits = Limits {
		auth_failures: 3,
		auth_cooldown: Duration::from_secs(30),
		..Limits::default()
	};
	let (ctx, _down) = context_with(anon(), limits);
	let refused = |path: &'static str| {
		let ctx = ctx.clone();
		async move {
			let (client, server) = pair();
			let relay = serve(server, ctx);
			setup(&client, path).await;
			client.closed().await;
			relay.await.unwrap();
			client.close_reason().map(|(_, reason)| reason)
		}
	};
	for _ in 0..3 {
		assert_eq!(
			refused("/anon?jwt=forged").await.as_deref(),
			Some("invalid_token: no_verifier")
		);
	}
	// The cool-down: even the public prefix is refused, before any verifier is asked.
	assert_eq!(refused("/anon").await.as_deref(), Some("too_many_attempts"));
	tokio::time::sleep(Duration::from_secs(30)).await;
	let (client, server) = pair();
	let _relay = serve(server, ctx.clone());
	setup(&client, "/anon").await;
	served(&client).await;
}

/// Backlog shedding: what one subscriber that stops reading costs, and what it gets back.
mod shedding {
	use std::collections::BTreeMap;
	use std::sync::Mutex;
	use std::sync::atomic::{AtomicU64, Ordering};

	use bytes::{Buf, BufMut, Bytes, BytesMut};
	use tokio::time::Instant;

	use super::*;
	use crate::wire::{Frame, Group as GroupHeader, SubscribeResponse};

	/// A group a second, 30 frames 33 ms apart: a video-like GOP. Each frame is larger than a
	/// twelfth of the stream window, so a group stream (360 KiB) cannot sit whole in the
	/// transport while its reader stalls: the relay's writer really waits.
	const FRAMES: u64 = 30;
	const FRAME_BYTES: usize = 12 * 1024;
	const STALL: Duration = Duration::from_secs(30);

	/// What a subscriber got of each group: frames read, whether the stream ended cleanly (FIN) or
	/// was reset, and when its first frame arrived.
	#[derive(Default, Clone, Debug)]
	struct Got {
		frames: u64,
		finished: bool,
		reset: bool,
		first: Option<Instant>,
		/// A frame out of order, or later than the subscriber's bound.
		wrong: Option<String>,
	}

	type Groups = Arc<Mutex<BTreeMap<u64, Got>>>;

	fn payload(epoch: Instant, group: u64, frame: u64) -> Bytes {
		let mut out = BytesMut::with_capacity(FRAME_BYTES);
		out.put_u64(group);
		out.put_u64(frame);
		out.put_u64(epoch.elapsed().as_millis() as u64);
		out.resize(FRAME_BYTES, 0xAB);
		out.freeze()
	}

	/// The publisher: announces `clock`, waits for the relay's upstream SUBSCRIBE, then writes a
	/// group a second until `stop`; `current` is the group being written.
	async fn publish(ctx: Arc<Context>, epoch: Instant, current: Arc<AtomicU64>, mut stop: watch::Receiver<bool>) {
		let (publisher, server) = pair();
		let _relay = serve(server, ctx);
		setup(&publisher, "/anon").await;
		announce(&publisher, &["clock".to_string()]).await;
		let (send, recv) = publisher.accept_bi().await.unwrap();
		let mut reader = Reader::new(recv);
		assert_eq!(reader.expect::<BidiType>(V).await.unwrap(), BidiType::Subscribe);
		let request: Subscribe = reader.expect(V).await.unwrap();
		assert_eq!(
			(request.broadcast.as_str(), request.track.as_str()),
			("clock", "seconds")
		);
		let mut control = Writer::new(send);
		let start = SubscribeResponse::Start { group: VarInt::ZERO };
		control.encode(&start, V).await.unwrap();
		let mut tick = tokio::time::interval(Duration::from_millis(1000 / FRAMES));
		for sequence in 0.. {
			current.store(sequence, Ordering::SeqCst);
			let mut group = Writer::new(publisher.open_uni().await.unwrap());
			group.encode(&UniType::Group, V).await.unwrap();
			let header = GroupHeader {
				subscribe_id: request.id,
				sequence: VarInt::from_u64(sequence).unwrap(),
				frame_start: VarInt::ZERO,
			};
			group.encode(&header, V).await.unwrap();
			for frame in 0..FRAMES {
				tick.tick().await;
				let frame = Frame {
					timestamp_delta: 0,
					payload: payload(epoch, sequence, frame),
				};
				group.encode(&frame, V).await.unwrap();
			}
			group.finish().unwrap();
			if *stop.borrow_and_update() {
				break;
			}
		}
		// The publisher's session stays up until the test ends.
		std::future::pending::<()>().await;
	}

	/// A subscriber of `clock/seconds` that reads every group stream while `paused` is false, and
	/// neither accepts nor reads while it is true. With `max_latency`, each frame must arrive within
	/// it (virtual time) of being sent.
	async fn subscribe(
		ctx: Arc<Context>,
		epoch: Instant,
		groups: Groups,
		paused: watch::Receiver<bool>,
		max_latency: Option<Duration>,
	) {
		let (client, server) = pair();
		let _relay = serve(server, ctx);
		setup(&client, "/anon").await;
		let (send, recv) = client.open_bi().await.unwrap();
		let mut writer = Writer::new(send);
		writer.encode(&BidiType::Subscribe, V).await.unwrap();
		let request = Subscribe {
			id: VarInt::ZERO,
			broadcast: "clock".into(),
			track: "seconds".into(),
			options: SubscribeOptions::default(),
		};
		writer.encode(&request, V).await.unwrap();
		let response: SubscribeResponse = Reader::new(recv).expect(V).await.unwrap();
		assert!(matches!(response, SubscribeResponse::Start { .. }), "{response:?}");
		let mut readers = tokio::task::JoinSet::new();
		loop {
			let mut gate = paused.clone();
			let _ = gate.wait_for(|paused| !*paused).await;
			let Ok(recv) = client.accept_uni().await else { return };
			let (groups, mut gate) = (groups.clone(), paused.clone());
			readers.spawn(async move {
				let mut reader = Reader::new(recv);
				// The relay's SETUP stream comes first; only group streams are counted.
				if reader.expect::<UniType>(V).await.ok() != Some(UniType::Group) {
					return;
				}
				let header: GroupHeader = reader.expect(V).await.unwrap();
				let sequence = header.sequence.into_inner();
				loop {
					let _ = gate.wait_for(|paused| !*paused).await;
					let read = reader.decode::<Frame>(V).await;
					let mut groups = groups.lock().unwrap();
					let got = groups.entry(sequence).or_default();
					match read {
						Ok(Some(frame)) => {
							let mut payload = frame.payload;
							let (group, index) = (payload.get_u64(), payload.get_u64());
							if (group, index) != (sequence, got.frames) {
								got.wrong = Some(format!(
									"frame {group}/{index} as frame {} of group {sequence}",
									got.frames
								));
							}
							got.frames += 1;
							got.first.get_or_insert_with(Instant::now);
							let sent = Duration::from_millis(payload.get_u64());
							let latency = epoch.elapsed().saturating_sub(sent);
							if max_latency.is_some_and(|max| latency > max) {
								got.wrong = Some(format!("frame {index} came after {latency:?}"));
							}
						}
						Ok(None) => {
							got.finished = true;
							return;
						}
						Err(_) => {
							got.reset = true;
							return;
						}
					}
				}
			});
		}
	}

	#[tokio::test(start_paused = true)]
	async fn a_stalled_subscriber_is_shed_to_the_newest_group_and_the_others_miss_nothing() {
		let (ctx, _down) = context(anon());
		let max_inflight = ctx.limits.max_inflight_groups as u64;
		let epoch = Instant::now();
		let current = Arc::new(AtomicU64::new(0));
		let (stop, stopped) = watch::channel(false);
		let _publisher = tokio::spawn(publish(ctx.clone(), epoch, current.clone(), stopped));
		// Subscribers come once the broadcast is announced (before, it does not exist).
		let mut announced = ctx.origin.announced(Path::new("anon").unwrap());
		if announced.take_current().is_empty() {
			let update = tokio::time::timeout(Duration::from_secs(1), announced.next()).await;
			assert!(update.expect("the announcement").is_some_and(|u| u.active.is_some()));
		}

		let healthy = Groups::default();
		let (_never, reading) = watch::channel(false);
		let _healthy = tokio::spawn(subscribe(
			ctx.clone(),
			epoch,
			healthy.clone(),
			reading,
			Some(Duration::from_millis(50)),
		));
		let stalled = Groups::default();
		let (pause, paused) = watch::channel(false);
		let _stalled = tokio::spawn(subscribe(ctx.clone(), epoch, stalled.clone(), paused, None));

		// Both receive a first whole group.
		let whole = |groups: &Groups| groups.lock().unwrap().values().any(|g| g.finished);
		let first_groups = async {
			while !(whole(&healthy) && whole(&stalled)) {
				tokio::time::sleep(Duration::from_millis(100)).await;
			}
		};
		tokio::time::timeout(Duration::from_secs(10), first_groups)
			.await
			.expect("a first whole group each");

		// The stall: 30 virtual seconds without reading.
		let stalled_at = current.load(Ordering::SeqCst);
		pause.send_replace(true);
		tokio::time::sleep(STALL).await;
		let newest = current.load(Ordering::SeqCst);
		let resumed = Instant::now();
		pause.send_replace(false);

		// It gets the newest group at once, and whole (shedding never drops the newest).
		let newest_whole = async {
			loop {
				let got = stalled.lock().unwrap().get(&newest).cloned();
				if let Some(got) = got.filter(|g| g.finished || g.reset) {
					return got;
				}
				tokio::time::sleep(Duration::from_millis(10)).await;
			}
		};
		let newest_whole = tokio::time::timeout(Duration::from_secs(5), newest_whole)
			.await
			.expect("the newest group after resuming");
		assert!(
			newest_whole.finished && newest_whole.frames == FRAMES,
			"{newest_whole:?}"
		);
		let first = newest_whole.first.unwrap().duration_since(resumed);
		assert!(
			first <= Duration::from_millis(50),
			"the newest group came {first:?} after resuming"
		);

		// A few more groups, then the publisher stops; everyone finishes what was sent.
		tokio::time::sleep(Duration::from_secs(3)).await;
		stop.send_replace(true);
		let finished = async {
			loop {
				let last = current.load(Ordering::SeqCst);
				let done = |groups: &Groups| groups.lock().unwrap().get(&last).is_some_and(|g| g.finished);
				if done(&healthy) && done(&stalled) {
					return last;
				}
				tokio::time::sleep(Duration::from_millis(100)).await;
			}
		};
		let last = tokio::time::timeout(Duration::from_secs(5), finished)
			.await
			.expect("both subscribers finish the last group");

		// The healthy subscriber missed nothing.
		let healthy = healthy.lock().unwrap();
		let first_healthy = *healthy.keys().next().unwrap();
		for sequence in first_healthy..=last {
			let got = healthy.get(&sequence).cloned().unwrap_or_default();
			assert!(
				got.finished && got.frames == FRAMES && got.wrong.is_none(),
				"healthy, group {sequence}: {got:?}"
			);
		}
		// The stalled one: the backlog it was left during the stall is bounded by the in-flight
		// limit; everything older was shed (reset), and every group after the resume is whole.
		let stalled = stalled.lock().unwrap();
		let kept = (stalled_at + 1..newest)
			.filter(|s| stalled.get(s).is_some_and(|g| g.finished))
			.count() as u64;
		let shed = (stalled_at + 1..newest)
			.filter(|s| stalled.get(s).is_some_and(|g| g.reset))
			.count() as u64;
		assert!(kept < max_inflight, "kept {kept} groups of the stall");
		assert!(
			shed >= newest - stalled_at - max_inflight,
			"shed {shed} of {}",
			newest - stalled_at - 1
		);
		for sequence in newest..=last {
			let got = stalled.get(&sequence).cloned().unwrap_or_default();
			assert!(
				got.finished && got.frames == FRAMES && got.wrong.is_none(),
				"stalled, group {sequence} after resuming: {got:?}"
			);
		}
		let metrics = ctx.metrics.render().unwrap();
		let dropped = metrics
			.lines()
			.find_map(|l| l.strip_prefix("moq_relay_groups_dropped_total "))
			.and_then(|v| v.trim().parse::<f64>().ok())
			.unwrap_or(0.0);
		assert!(dropped as u64 >= shed, "dropped {dropped}, shed seen {shed}");
	}
}

/// Malformed and hostile input: only the offending stream or session is closed, with the code of
/// `docs/protocol.md` ("Error codes"), and the relay keeps serving the others.
mod robustness {
	use super::*;
	use crate::transport::{RecvStream as _, SendStream as _, TransportError};
	use crate::wire::Encode;

	/// A session admitted under `/anon` and served, with its relay task.
	async fn admitted(ctx: &Arc<Context>) -> (MemSession, tokio::task::JoinHandle<()>) {
		let (client, server) = pair();
		let relay = serve(server, ctx.clone());
		setup(&client, "/anon").await;
		served(&client).await;
		(client, relay)
	}

	fn bytes<T: Encode>(message: &T) -> Vec<u8> {
		message.to_bytes(V).unwrap()
	}

	/// Writes `bytes` on a new bidi stream and finishes it; the receive half is returned.
	async fn send_bi(client: &MemSession, bytes: &[u8]) -> crate::transport::mem::MemRecv {
		let (mut send, recv) = client.open_bi().await.unwrap();
		// The relay may close the session as soon as it has read enough: the close is checked.
		let _ = send.write_all(bytes).await;
		let _ = send.finish();
		recv
	}

	async fn closed_with(client: &MemSession) -> (u32, String) {
		client.closed().await;
		client.close_reason().unwrap()
	}

	#[tokio::test(start_paused = true)]
	async fn unknown_stream_types_reset_only_that_stream() {
		let (ctx, _down) = context(anon());
		let (client, _relay) = admitted(&ctx).await;
		// Unknown bidi type 0x9: that stream is reset.
		let mut recv = send_bi(&client, &[0x09]).await;
		assert!(matches!(recv.read_chunk(16).await, Err(TransportError::Reset(_))));
		// Unknown uni type 0x7: that stream is stopped.
		let mut uni = client.open_uni().await.unwrap();
		uni.write_all(&[0x07]).await.unwrap();
		assert!(uni.stopped().await.unwrap().is_some());
		// The session itself is still served.
		served(&client).await;
		assert!(client.close_reason().is_none());
	}

	/// A truncated control message, and a Message Length of 2^62-1 (far over any limit, refused from
	/// the length alone): each closes its session with PROTOCOL_VIOLATION, and only that session.
	#[tokio::test(start_paused = true)]
	async fn a_truncated_or_oversize_control_message_closes_only_that_session() {
		let full = bytes(&AnnounceRequest {
			prefix: "clock".into(),
			exclude_hop: VarInt::ZERO,
		});
		let truncated = [&bytes(&BidiType::Announce)[..], &full[..full.len() - 2]].concat();
		let mut oversize = bytes(&BidiType::Subscribe);
		VarInt::MAX.encode(&mut oversize);
		oversize.extend_from_slice(&[0u8; 16]);
		for message in [truncated, oversize] {
			let (ctx, _down) = context(anon());
			let (bystander, _bystander_relay) = admitted(&ctx).await;
			let (client, relay) = admitted(&ctx).await;
			send_bi(&client, &message).await;
			assert_eq!(
				closed_with(&client).await.0,
				SessionCode::PROTOCOL_VIOLATION.into_inner()
			);
			relay.await.unwrap();
			served(&bystander).await;
		}
	}

	#[tokio::test(start_paused = true)]
	async fn a_malformed_setup_closes_the_session_with_key_value_formatting() {
		let (ctx, _down) = context(anon());
		let (client, server) = pair();
		let relay = serve(server, ctx);
		// One parameter (Role, 0x3) whose varint value has a trailing byte.
		let mut uni = client.open_uni().await.unwrap();
		let setup = [&bytes(&UniType::Setup)[..], &[0x05, 0x01, 0x03, 0x02, 0x01, 0x00]].concat();
		uni.write_all(&setup).await.unwrap();
		uni.finish().unwrap();
		assert_eq!(
			closed_with(&client).await.0,
			SessionCode::KEY_VALUE_FORMATTING.into_inner()
		);
		relay.await.unwrap();
	}

	#[tokio::test(start_paused = true)]
	async fn with_no_public_prefix_everything_needs_a_credential() {
		let (ctx, _down) = context(Auth::new(Public::default(), None));
		let (client, server) = pair();
		let relay = serve(server, ctx);
		setup(&client, "/anon").await;
		assert_eq!(
			closed_with(&client).await,
			(SessionCode::UNAUTHORIZED.into_inner(), "missing_credential".to_string())
		);
		relay.await.unwrap();
	}
}

/// A watcher that stops reading while a publisher toggles one broadcast 100,000 times: the relay
/// keeps at most the newest state per broadcast for it (`docs/reliability.md`, "Limits"), so when it
/// reads again it gets a bounded backlog (what its stream window held) and then the current state,
/// not 200,000 queued changes.
#[tokio::test(start_paused = true)]
async fn a_watcher_that_stops_reading_gets_the_newest_state_not_every_change() {
	use crate::wire::Encode as _;

	const TOGGLES: usize = 100_000;
	let (ctx, _down) = context(anon());
	let (bystander, bystander_server) = pair();
	let _bystander_relay = serve(bystander_server, ctx.clone());
	setup(&bystander, "/anon").await;
	served(&bystander).await;
	let (watcher, watcher_server) = pair();
	let _watching = serve(watcher_server, ctx.clone());
	setup(&watcher, "/anon").await;
	let (_request, mut reader) = watch_all(&watcher).await;

	// The publisher toggles `x`, ends with it active, then announces `done`.
	let (publisher, publisher_server) = pair();
	let _publishing = serve(publisher_server, ctx.clone());
	setup(&publisher, "/anon").await;
	let mut out = announce_stream(&publisher).await;
	let announce = |suffix: &str, status| Announce {
		status,
		suffix: suffix.to_string(),
		hops: Vec::new(),
	};
	let peak = PeakRss::start();
	let mut bytes = Vec::new();
	for _ in 0..TOGGLES {
		announce("x", AnnounceStatus::Active).encode(&mut bytes, V).unwrap();
		announce("x", AnnounceStatus::Ended).encode(&mut bytes, V).unwrap();
	}
	announce("x", AnnounceStatus::Active).encode(&mut bytes, V).unwrap();
	announce("done", AnnounceStatus::Active).encode(&mut bytes, V).unwrap();
	out.write_all(&bytes).await.unwrap();

	// The watcher reads again once the relay has taken every change in.
	let mut announced = ctx.origin.announced(Path::new("anon").unwrap());
	let done = async {
		if announced
			.take_current()
			.iter()
			.any(|(path, _)| path.as_str() == "anon/done")
		{
			return;
		}
		while let Some(update) = announced.next().await {
			if update.path.as_str() == "anon/done" && update.active.is_some() {
				return;
			}
		}
	};
	tokio::time::timeout(Duration::from_secs(60), done)
		.await
		.expect("every change taken in");
	let mut received = 0usize;
	let mut x_active = false;
	loop {
		let message: Announce = tokio::time::timeout(Duration::from_secs(5), reader.expect(V))
			.await
			.expect("the watcher's backlog, then `done`")
			.unwrap();
		received += 1;
		match message.suffix.as_str() {
			"x" => x_active = message.status.is_active(),
			"done" => break,
			other => panic!("announced {other}"),
		}
	}
	assert!(x_active, "the watcher ends with x's newest state");
	let growth = peak.growth_kib();
	// Before the bound, the attack (a million toggles) grew the relay by 435 MiB: ~230 bytes a change.
	eprintln!(
		"peak RSS growth for {} changes to a watcher that stopped reading: {growth} KiB",
		2 * TOGGLES
	);
	// The publisher's own 1 MB of messages are in this process too.
	assert!(growth < 16 * 1024, "{growth} KiB");
	served(&bystander).await;
	// What the stream window held (256 KiB of 5-byte messages), not the 200,001 changes.
	let window = crate::transport::mem::STREAM_WINDOW / 5 + 3;
	assert!(
		received <= window,
		"{received} messages for {} changes",
		2 * TOGGLES + 2
	);
	std::mem::forget(out);
}

/// A session's HTTP request in `Debug` (a log line, a panic message): its path and header names,
/// never the query's token or a header's value.
#[test]
fn a_url_request_shows_no_credential_in_debug() {
	let mut headers = axum::http::HeaderMap::new();
	headers.insert("authorization", "Bearer secret-bearer".parse().unwrap());
	headers.insert("kyutai-api-key", "secret-key".parse().unwrap());
	let url = super::UrlRequest {
		target: "/room?jwt=secret-jwt".into(),
		binding: crate::auth::Transport::WebSocket,
		headers,
	};
	let text = format!("{url:?}");
	assert!(!text.contains("secret"), "{text}");
	assert!(
		text.contains("/room") && text.contains("kyutai-api-key") && text.contains("WebSocket"),
		"{text}"
	);
}

/// Every admitted session keeps its future for its whole life, so it holds nothing but two boxes:
/// admission's (the SETUP exchange and the auth decision), freed once the session is admitted,
/// and serving's, which takes the session's shared state and nothing by value. With admission
/// held inline the session's future was 3.6 KB, with it boxed inside the session's future 2.5 KB
/// (5.5 KB on QUIC, whose session type is larger), and serving's took what it had moved into the
/// shared state a second time (`docs/performance.md`, "A session's state while it serves").
#[tokio::test]
async fn a_session_keeps_only_what_serving_needs() {
	let (ctx, _down) = context(anon());
	let (_client, server) = crate::transport::mem::pair();
	let mut ticket = ticket(&ctx);
	let admission = std::mem::size_of_val(&super::admit(&server, &ctx, &ticket, "", None, Transport::Quic));
	let transport = std::mem::size_of_val(&server);
	let session = std::mem::size_of_val(&run(server.clone(), V, None, ctx.clone(), &mut ticket, Instant::now()));
	assert!(
		session <= 64,
		"the session's future is {session} B: does it hold admission or serving inline again?"
	);
	let (shared, role) = super::admitted(
		server,
		V,
		(super::Grant::peer(), crate::audit::Trail::dialed()),
		None,
		ctx.clone(),
		super::Link::Accepted,
	);
	let serving = std::mem::size_of_val(&super::serve(shared, role));
	assert!(
		serving < admission && serving < 1024,
		"serving's future is {serving} B (admission's {admission} B, the transport's {transport} B)"
	);
}

/// A lite-06 FETCH's frame bounds (`docs/protocol.md`, "Fetch stream"): the answer carries no
/// frame numbers, so only the frames from `frame_start` to `frame_end` (inclusive) are sent; a
/// start past the group's last frame, or a range that ends before it starts, is reset NOT_FOUND.
/// A FETCH outside the grant (which lets anyone read `anon/clock` only) is reset NOT_FOUND too,
/// and counted as a refused `fetch`.
#[tokio::test]
async fn a_lite06_fetch_sends_only_the_frames_asked_for() {
	use crate::wire::{Fetch, Frame};
	let clock = moq_token::Pattern::subtree(&Path::new("anon/clock").unwrap()).unwrap();
	let public = Public {
		publish: std::iter::once(clock.clone()).collect(),
		subscribe: std::iter::once(clock).collect(),
	};
	let (ctx, _down) = context(Auth::new(public, None));
	let path = Path::new("anon/clock").unwrap();
	let (upstream, _requests) = crate::origin::Upstream::channel();
	let _publication = ctx.origin.publish(path.clone(), Vec::new(), upstream);
	let track = ctx.origin.subscribe(&path, "seconds").unwrap();
	let mut group = track.create_group(3).unwrap();
	for i in 0..5 {
		let payload = bytes::Bytes::from(format!("frame {i}"));
		group
			.push(Frame {
				timestamp_delta: 0,
				payload,
			})
			.unwrap();
	}
	group.finish();

	let (client, server) = pair();
	let relay = ctx.clone();
	let _relay = tokio::spawn(async move {
		let mut ticket = ticket(&relay);
		let _ = run(server, Version::Lite06, None, relay, &mut ticket, Instant::now()).await;
	});
	setup(&client, "/anon").await;
	let fetch = |frame_start: u32, frame_end: Option<u32>| Fetch {
		broadcast: "clock".into(),
		track: "seconds".into(),
		priority: 0,
		group: VarInt::from_u32(3),
		frame_start: VarInt::from_u32(frame_start),
		frame_end: frame_end.map(VarInt::from_u32),
	};
	let answer = |request: Fetch| {
		let client = client.clone();
		async move {
			let (send, recv) = client.open_bi().await.unwrap();
			let mut writer = Writer::new(send);
			writer.encode(&BidiType::Fetch, Version::Lite06).await.unwrap();
			writer.encode(&request, Version::Lite06).await.unwrap();
			let mut reader = Reader::new(recv);
			let mut frames = Vec::new();
			loop {
				match reader.decode::<Frame>(Version::Lite06).await {
					Ok(Some(frame)) => frames.push(String::from_utf8(frame.payload.to_vec()).unwrap()),
					Ok(None) => return Ok(frames),
					Err(err) => return Err(err),
				}
			}
		}
	};
	assert_eq!(answer(fetch(0, None)).await.unwrap().len(), 5);
	assert_eq!(answer(fetch(1, Some(2))).await.unwrap(), ["frame 1", "frame 2"]);
	assert_eq!(answer(fetch(4, None)).await.unwrap(), ["frame 4"]);
	let elsewhere = Fetch {
		broadcast: "elsewhere".into(),
		..fetch(0, None)
	};
	for (request, what) in [
		(fetch(5, None), "a start past the end"),
		(fetch(3, Some(1)), "an end before the start"),
		(elsewhere, "a broadcast outside the grant"),
	] {
		match answer(request).await {
			Err(super::StreamError::Transport(crate::transport::TransportError::Reset(code))) => {
				assert_eq!(code, StreamCode::NOT_FOUND.into_inner(), "{what}")
			}
			other => panic!("{what}: expected NOT_FOUND, got {other:?}"),
		}
	}
	let text = ctx.metrics.render().unwrap();
	assert!(
		text.lines()
			.any(|l| l == "moq_relay_requests_denied_total{request=\"fetch\"} 1"),
		"{text}"
	);
}

/// A subscriber's FETCHes of groups the relay does not hold are asked of the publisher, at most
/// [`super::upstream::UPSTREAM_FETCHES`] at once (`docs/reliability.md`): with a publisher that
/// answers none of them, a client's 100 FETCHes make the relay open exactly that many FETCH streams
/// to the publisher, and the rest are reset NOT_FOUND at once and counted
/// (`moq_relay_limit_refused_total{code="upstream_fetches"}`).
#[tokio::test(start_paused = true)]
async fn fetches_asked_of_a_publisher_are_bounded() {
	use std::sync::atomic::Ordering;

	use crate::wire::Fetch;

	let cap = super::upstream::UPSTREAM_FETCHES;
	let (ctx, _down) = context_with(anon(), Limits::default());
	let (publisher, publisher_server) = pair();
	publisher.allow_streams(1_000);
	let _publishing = serve(publisher_server, ctx.clone());
	setup(&publisher, "/anon").await;
	announce(&publisher, &["clock".to_string()]).await;
	// Every FETCH the relay sends the publisher, held unanswered.
	let asked = hold_requests(&publisher, BidiType::Fetch);

	let (client, client_server) = pair();
	client.allow_streams(1_000);
	let _subscribing = serve(client_server, ctx.clone());
	setup(&client, "/anon").await;
	served(&client).await;
	let mut streams = Vec::new();
	for group in 0..100u32 {
		let fetch = Fetch {
			broadcast: "clock".into(),
			track: "t".into(),
			priority: 0,
			group: VarInt::from_u32(group),
			frame_start: VarInt::ZERO,
			frame_end: None,
		};
		streams.push(request(&client, BidiType::Fetch, &fetch).await);
	}
	settle().await;
	let refused = resets(streams).await;
	assert_eq!(asked.load(Ordering::Relaxed), cap, "FETCH streams to the publisher");
	assert_eq!(
		refused,
		vec![StreamCode::NOT_FOUND.into_inner(); 100 - cap],
		"the fetches past the bound"
	);
	let text = ctx.metrics.render().unwrap();
	assert!(
		text.contains(&format!(
			"moq_relay_limit_refused_total{{code=\"upstream_fetches\"}} {}",
			100 - cap
		)),
		"{text}"
	);
}
