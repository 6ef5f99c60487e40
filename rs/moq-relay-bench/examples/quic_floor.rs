//! The QUIC floor: what the relay's QUIC stack costs with no relay on top of it
//! (`docs/performance.md`, "The QUIC floor").
//!
//! `serve` is a server with the relay's QUIC and TLS configuration (`moq_relay::relay::quic_server`
//! with a generated ECDSA P-256 certificate, the relay's UDP socket, quinn runtime and allocator)
//! that answers just enough moq-lite-05 for the load tool's raw viewers: it reads SETUP and sends
//! its own, answers an ANNOUNCE request with one live broadcast, and writes frames it makes itself to
//! every viewer that subscribed, one GROUP stream per `--group-frames` frames, each frame in one
//! write as the relay writes it. No publisher, origin, admission, limits or metrics: what it spends
//! is what any relay on this stack spends at least.
//!
//! The other modes are the load, from the load tool's own raw viewers (`moq_relay_bench::raw`), and
//! point at this server or at a relay alike:
//!
//! ```text
//! taskset -c 0 quic_floor serve --frame-size 1200              # prints {"port", "fingerprint", "pid"}
//! taskset -c 1 quic_floor fanout --addr 127.0.0.1:PORT --fingerprint FP --server-pid PID --subscribers 300
//! taskset -c 1 quic_floor connect --addr 127.0.0.1:PORT --fingerprint FP --server-pid PID --sessions 1000
//! taskset -c 1 quic_floor idle --addr 127.0.0.1:PORT --fingerprint FP --server-pid PID --sessions 300
//! ```
//!
//! `fanout` needs the server's broadcast (`floor`, track `video`), so it runs against `serve`
//! only; `connect` (SETUP and ANNOUNCE_OK, then close) and `idle` (the same, held open) run against
//! a relay too (`--path /anon`). Each prints one JSON object.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use clap::{Parser, Subcommand};
use moq_relay_bench::raw::{self, Session, Viewer, encode, read};
use moq_relay_bench::{Percentiles, decode_frame, encode_frame, now_ns, proc};
use moq_wire::{
	Announce, AnnounceOk, AnnounceRequest, AnnounceStatus, BidiType, FrameHeader, Group, Setup, Subscribe,
	SubscribeResponse, UniType, VarInt,
};
use serde_json::json;
use tokio::sync::broadcast;
use tokio::task::JoinSet;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The one broadcast `serve` announces, and its track.
const BROADCAST: &str = "floor";
const TRACK: &str = "video";

#[derive(Parser)]
struct Cli {
	#[command(subcommand)]
	mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
	/// Serve the floor: the relay's QUIC stack writing its own frames to every viewer.
	Serve {
		#[arg(long, default_value = "127.0.0.1:0")]
		bind: SocketAddr,
		#[arg(long, default_value_t = 30.0)]
		fps: f64,
		#[arg(long, default_value_t = 1200)]
		frame_size: usize,
		#[arg(long, default_value_t = 30)]
		group_frames: u64,
	},
	/// Viewers subscribed to `serve`'s broadcast: delivery, latency, the server's CPU per GB.
	Fanout {
		#[command(flatten)]
		target: Target,
		#[arg(long, default_value_t = 300)]
		subscribers: usize,
		/// Seconds measured, after the warm-up.
		#[arg(long, default_value_t = 10.0)]
		duration: f64,
		#[arg(long, default_value_t = 2.0)]
		warmup: f64,
		/// The server's frame rate and size (to count what it sent in the window).
		#[arg(long, default_value_t = 30.0)]
		fps: f64,
		#[arg(long, default_value_t = 1200)]
		frame_size: usize,
	},
	/// Sessions set up (SETUP, ANNOUNCE_OK) and closed, `--concurrency` at once: the server's CPU
	/// per session.
	Connect {
		#[command(flatten)]
		target: Target,
		#[arg(long, default_value_t = 1000)]
		sessions: usize,
		#[arg(long, default_value_t = 64)]
		concurrency: usize,
	},
	/// Sessions set up and held: the server's RSS per idle session.
	Idle {
		#[command(flatten)]
		target: Target,
		#[arg(long, default_value_t = 300)]
		sessions: usize,
		#[arg(long, default_value_t = 64)]
		concurrency: usize,
	},
}

/// The server the load goes to.
#[derive(clap::Args)]
struct Target {
	#[arg(long)]
	addr: SocketAddr,
	/// SHA-256 (hex) of the server's certificate.
	#[arg(long)]
	fingerprint: String,
	/// The server's process, for its CPU and RSS.
	#[arg(long)]
	server_pid: u32,
	/// The SETUP path (a relay's public prefix, e.g. `/anon`; `serve` ignores it).
	#[arg(long, default_value = "/anon")]
	path: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	match Cli::parse().mode {
		Mode::Serve {
			bind,
			fps,
			frame_size,
			group_frames,
		} => serve(bind, fps, frame_size, group_frames.max(1)).await,
		Mode::Fanout {
			target,
			subscribers,
			duration,
			warmup,
			fps,
			frame_size,
		} => fanout(&target, subscribers, duration, warmup, fps, frame_size).await,
		Mode::Connect {
			target,
			sessions,
			concurrency,
		} => connect(&target, sessions, concurrency).await,
		Mode::Idle {
			target,
			sessions,
			concurrency,
		} => idle(&target, sessions, concurrency).await,
	}
}

/// A frame of `serve`'s broadcast: its group and its payload (which carries its send time,
/// group and index, `moq_relay_bench::encode_frame`).
#[derive(Clone)]
struct Frame {
	group: u64,
	payload: Bytes,
}

async fn serve(bind: SocketAddr, fps: f64, frame_size: usize, group_frames: u64) -> anyhow::Result<()> {
	let limits = moq_relay::session::Limits::default();
	let certificate = moq_relay::tls::Certificate::generate(&["localhost".into(), "127.0.0.1".into()])?;
	let tls = certificate.server_config(&[moq_wire::Version::Lite05.alpn()])?;
	let server = moq_relay::relay::quic_server(tls, &limits)?;
	let (socket, _) = moq_relay::relay::udp_socket(bind)?;
	let endpoint = quinn::Endpoint::new(
		quinn::EndpointConfig::default(),
		Some(server),
		socket,
		Arc::new(moq_relay::transport::runtime::ReceiveFirst::default()),
	)?;
	println!(
		"{}",
		json!({
			"port": endpoint.local_addr()?.port(),
			"fingerprint": certificate.fingerprint(),
			"pid": std::process::id(),
		})
	);

	let (frames, _) = broadcast::channel::<Frame>(64);
	let ticker = frames.clone();
	tokio::spawn(async move {
		let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / fps));
		for sent in 0.. {
			interval.tick().await;
			let (group, index) = (sent / group_frames, sent % group_frames);
			let payload = encode_frame(frame_size, now_ns(), group, index);
			// No viewer yet is not an error: the broadcast runs regardless.
			let _ = ticker.send(Frame { group, payload });
		}
	});
	let window = quinn::VarInt::from_u64(limits.session_window)?;
	while let Some(incoming) = endpoint.accept().await {
		let frames = frames.clone();
		tokio::spawn(async move {
			// A viewer that leaves or misbehaves ends only its own connection.
			let _ = session(incoming, frames, window).await;
		});
	}
	Ok(())
}

/// One connection to `serve`, with what an admitted session gets from the relay: its receive
/// window and stream allowance.
async fn session(
	incoming: quinn::Incoming,
	frames: broadcast::Sender<Frame>,
	window: quinn::VarInt,
) -> anyhow::Result<()> {
	let conn = incoming.await?;
	conn.set_receive_window(window);
	let streams = quinn::VarInt::from_u32(moq_relay::transport::RAW_CLIENT_STREAMS);
	conn.set_max_concurrent_uni_streams(streams);
	conn.set_max_concurrent_bi_streams(streams);
	let mut setup = conn.accept_uni().await?;
	setup.read_to_end(4096).await?;
	let mut reply = conn.open_uni().await?;
	reply
		.write_all(&[encode(&UniType::Setup)?, encode(&Setup::default())?].concat())
		.await?;
	reply.finish()?;
	// Requests' streams stay open for the session's life, as the relay keeps them.
	let mut open = Vec::new();
	loop {
		let (mut send, mut recv) = conn.accept_bi().await?;
		let mut buf = BytesMut::new();
		match read::<BidiType>(&mut recv, &mut buf).await? {
			BidiType::Announce => {
				read::<AnnounceRequest>(&mut recv, &mut buf).await?;
				let ok = AnnounceOk {
					hop_id: VarInt::from_u32(1),
					active_count: VarInt::from_u32(1),
				};
				let live = Announce {
					status: AnnounceStatus::Active,
					suffix: BROADCAST.into(),
					hops: Vec::new(),
				};
				send.write_all(&[encode(&ok)?, encode(&live)?].concat()).await?;
			}
			BidiType::Subscribe => {
				let subscribe = read::<Subscribe>(&mut recv, &mut buf).await?;
				let start = SubscribeResponse::Start { group: VarInt::ZERO };
				send.write_all(&encode(&start)?).await?;
				tokio::spawn(feed(conn.clone(), subscribe.id, frames.subscribe()));
			}
			_ => continue,
		}
		open.push((send, recv));
	}
}

/// Writes every frame of the broadcast to one viewer: a GROUP stream per group, the stream type,
/// group header and first frame header in one write with the frame, as the relay does.
async fn feed(conn: quinn::Connection, id: VarInt, mut frames: broadcast::Receiver<Frame>) {
	// The group being written and its stream.
	let mut current: Option<(u64, quinn::SendStream)> = None;
	loop {
		let frame = match frames.recv().await {
			Ok(frame) => frame,
			// Behind by more than the channel holds: the frames missed are gone for this viewer.
			Err(broadcast::error::RecvError::Lagged(_)) => continue,
			Err(broadcast::error::RecvError::Closed) => return,
		};
		let mut head = Vec::with_capacity(32);
		if current.as_ref().is_none_or(|(group, _)| *group != frame.group) {
			if let Some((_, mut done)) = current.take() {
				let _ = done.finish();
			}
			let Ok(opened) = conn.open_uni().await else { return };
			let _ = opened.set_priority(i32::try_from(frame.group).unwrap_or(i32::MAX));
			let header = Group {
				subscribe_id: id,
				sequence: VarInt::from_u64(frame.group).unwrap_or(VarInt::MAX),
				frame_start: VarInt::ZERO,
			};
			let (Ok(kind), Ok(header)) = (encode(&UniType::Group), encode(&header)) else {
				return;
			};
			head.extend(kind);
			head.extend(header);
			current = Some((frame.group, opened));
		}
		let frame_header = FrameHeader {
			timestamp_delta: 0,
			size: VarInt::from_u64(frame.payload.len() as u64).unwrap_or(VarInt::MAX),
		};
		let Ok(frame_header) = encode(&frame_header) else {
			return;
		};
		head.extend(frame_header);
		if let Some((_, open)) = current.as_mut()
			&& open
				.write_all_chunks(&mut [Bytes::from(head), frame.payload])
				.await
				.is_err()
		{
			// A stream the viewer stopped: the next frame opens another.
			current = None;
		}
	}
}

/// What one viewer received of the measured window.
#[derive(Default)]
struct Received {
	frames: u64,
	bytes: u64,
	latencies: Vec<u64>,
	/// The frames (group, index) it received: together, what the server sent in the window.
	seen: HashSet<(u64, u64)>,
}

async fn fanout(
	target: &Target,
	subscribers: usize,
	duration: f64,
	warmup: f64,
	fps: f64,
	frame_size: usize,
) -> anyhow::Result<()> {
	let mut viewers = Vec::with_capacity(subscribers);
	let mut pending = JoinSet::new();
	for _ in 0..subscribers {
		let endpoint = raw::endpoint(&target.fingerprint, target.addr)?;
		let (addr, path) = (target.addr, target.path.clone());
		pending.spawn(async move {
			let viewer = Viewer::subscribe(&endpoint, addr, &path, BROADCAST, TRACK).await;
			(endpoint, viewer)
		});
	}
	while let Some(joined) = pending.join_next().await {
		let (endpoint, viewer) = joined?;
		viewers.push((endpoint, viewer.context("subscribe")?));
	}
	let start = now_ns() + (warmup * 1e9) as u64;
	let end = start + (duration * 1e9) as u64;
	let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
	let mut running = JoinSet::new();
	let mut stats = Vec::new();
	for (endpoint, viewer) in viewers {
		let received = Arc::new(Mutex::new(Received::default()));
		stats.push(received.clone());
		let mut stop = stop_rx.clone();
		running.spawn(async move {
			let stop = Box::pin(async move {
				let _ = stop.wait_for(|&stopped| stopped).await;
			});
			viewer
				.run(stop, move |head, size| {
					let arrived = now_ns();
					if let Some((sent, group, index)) = decode_frame(head)
						&& (start..end).contains(&sent)
					{
						let mut received = received.lock().unwrap_or_else(|e| e.into_inner());
						received.frames += 1;
						received.bytes += size as u64;
						received.latencies.push(arrived.saturating_sub(sent));
						received.seen.insert((group, index));
					}
				})
				.await;
			endpoint.wait_idle().await;
		});
	}
	sleep_until_ns(start).await;
	let cpu_start = proc::cpu_seconds(target.server_pid)?;
	let tool_start = proc::cpu_seconds(std::process::id())?;
	sleep_until_ns(end).await;
	let cpu = proc::cpu_seconds(target.server_pid)? - cpu_start;
	let tool = proc::cpu_seconds(std::process::id())? - tool_start;
	// Frames sent at the window's end are still on their way.
	tokio::time::sleep(Duration::from_secs(1)).await;
	stop_tx.send_replace(true);
	while running.join_next().await.is_some() {}

	let (mut frames, mut bytes, mut latencies, mut sent) = (0, 0, Vec::new(), HashSet::new());
	for received in stats {
		let mut received = received.lock().unwrap_or_else(|e| e.into_inner());
		frames += received.frames;
		bytes += received.bytes;
		latencies.append(&mut received.latencies);
		sent.extend(received.seen.drain());
	}
	// A frame no viewer received is missing here: at least as many as the window should hold.
	let sent = (sent.len() as f64).max((duration * fps).floor());
	let expected = sent * subscribers as f64;
	println!(
		"{}",
		json!({
			"mode": "fanout",
			"subscribers": subscribers,
			"frame_size": frame_size,
			"fps": fps,
			"duration_s": duration,
			"frames_sent": sent,
			"frames": frames,
			"delivery_pct": frames as f64 * 100.0 / expected,
			"server_cpu_s": cpu,
			"server_cpu_s_per_gb": cpu / (bytes as f64 / 1e9),
			"latency_ms": serde_json::to_value(Percentiles::of_ns(latencies))?,
			"tool_cpu_s": tool,
		})
	);
	Ok(())
}

async fn sleep_until_ns(at: u64) {
	let now = now_ns();
	if at > now {
		tokio::time::sleep(Duration::from_nanos(at - now)).await;
	}
}

/// Opens `n` sessions, `concurrency` at a time, each on an endpoint of its own.
async fn open(target: &Target, n: usize, concurrency: usize) -> anyhow::Result<Vec<(quinn::Endpoint, Session)>> {
	let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
	let mut pending = JoinSet::new();
	for _ in 0..n {
		let endpoint = raw::endpoint(&target.fingerprint, target.addr)?;
		let (addr, path, permits) = (target.addr, target.path.clone(), permits.clone());
		pending.spawn(async move {
			let _permit = permits.acquire_owned().await?;
			let session = Session::open(&endpoint, addr, &path).await?;
			anyhow::Ok((endpoint, session))
		});
	}
	let mut sessions = Vec::with_capacity(n);
	while let Some(joined) = pending.join_next().await {
		sessions.push(joined??);
	}
	Ok(sessions)
}

/// Closes every session and waits until each endpoint has nothing left to send.
async fn close(sessions: Vec<(quinn::Endpoint, Session)>) {
	let mut closing = JoinSet::new();
	for (endpoint, session) in sessions {
		session.connection().close(0u32.into(), b"done");
		closing.spawn(async move { endpoint.wait_idle().await });
	}
	while closing.join_next().await.is_some() {}
}

async fn connect(target: &Target, n: usize, concurrency: usize) -> anyhow::Result<()> {
	let cpu_start = proc::cpu_seconds(target.server_pid)?;
	let started = Instant::now();
	let sessions = open(target, n, concurrency).await?;
	let elapsed = started.elapsed().as_secs_f64();
	close(sessions).await;
	let cpu = proc::cpu_seconds(target.server_pid)? - cpu_start;
	println!(
		"{}",
		json!({
			"mode": "connect",
			"sessions": n,
			"concurrency": concurrency,
			"sessions_per_s": n as f64 / elapsed,
			"server_cpu_s": cpu,
			"server_cpu_ms_per_session": cpu * 1000.0 / n as f64,
		})
	);
	Ok(())
}

async fn idle(target: &Target, n: usize, concurrency: usize) -> anyhow::Result<()> {
	let before = proc::rss_kib(target.server_pid)?;
	let sessions = open(target, n, concurrency).await?;
	// What the server does once a session is set up (its last acknowledgements, its MTU probe)
	// is over well within this.
	tokio::time::sleep(Duration::from_secs(2)).await;
	let open_rss = proc::rss_kib(target.server_pid)?;
	close(sessions).await;
	println!(
		"{}",
		json!({
			"mode": "idle",
			"sessions": n,
			"rss_before_kib": before,
			"rss_open_kib": open_rss,
			"per_session_kib": (open_rss as f64 - before as f64) / n as f64,
		})
	);
	Ok(())
}
