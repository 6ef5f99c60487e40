//! Load tool for MoQ relays.
//!
//! One publisher sends fixed-size frames at a fixed rate through the relay to N
//! subscriber connections (each its own QUIC endpoint by default). Every frame
//! carries its send time (nanoseconds since the Unix epoch; publisher and
//! subscribers share this process's clock), so subscribers compute latency on
//! receipt. Optional phases measure the connect rate (sessions admitted per
//! second, where admission is proven by a round trip: the announcement of the
//! publisher's broadcast arriving) and the relay's memory per idle session.
//! With the relay's pid, its CPU time and RSS are read from `/proc`.
//! `--subscriber-url` points the subscriber sessions at another relay than the
//! publisher's (a cluster peer), so the latency includes the hops between them.
//! `--soak` runs [`soak`] instead: several publishers, many subscriber sessions
//! that churn at a steady rate for a long time, sampled at intervals.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use tokio::task::JoinSet;
use url::Url;

pub mod proc;
pub mod publisher;
pub mod raw;
pub mod soak;
pub mod subscriber;

pub use publisher::Publisher;
pub use subscriber::Subscriber;

/// Bytes of header at the start of every frame: send time (ns), group number,
/// frame number within the group, all little-endian u64.
pub const HEADER: usize = 24;

/// The track every benchmark broadcast carries.
const TRACK: &str = "data";

/// Command-line options.
#[derive(clap::Parser, Debug, Clone)]
#[command(name = "moq-relay-bench", about, disable_version_flag = true)]
pub struct Args {
	/// Relay URL: `https://host:port/path` (WebTransport) or `moqt://host:port/path` (raw QUIC).
	#[arg(long)]
	pub url: Url,

	/// Accept any server certificate.
	#[arg(long)]
	pub tls_insecure: bool,

	/// Trust only the certificate with this SHA-256 fingerprint (hex).
	#[arg(long, value_name = "HEX")]
	pub tls_fingerprint: Option<String>,

	/// Relay URL the subscriber sessions (and the connect and idle phases) dial; default `--url`.
	/// With a cluster, publish on one relay and subscribe on another to measure the hops between.
	#[arg(long, value_name = "URL")]
	pub subscriber_url: Option<Url>,

	/// Certificate fingerprint (hex) for `--subscriber-url`; default `--tls-fingerprint`.
	#[arg(long, value_name = "HEX")]
	pub subscriber_tls_fingerprint: Option<String>,

	/// Offer only these protocol versions (repeatable), e.g. `moq-lite-05`.
	#[arg(long = "version", value_name = "VERSION")]
	pub versions: Vec<String>,

	/// Subscriber connections in the throughput phase; with `--soak`, subscriber sessions kept open.
	#[arg(long, default_value_t = 10)]
	pub subscribers: usize,

	/// Bytes per frame (at least 24: the header).
	#[arg(long, default_value_t = 1200)]
	pub frame_size: usize,

	/// Frames per second sent by the publisher.
	#[arg(long, default_value_t = 30.0)]
	pub fps: f64,

	/// Frames per group (a new group every G frames).
	#[arg(long, default_value_t = 30)]
	pub group_frames: u64,

	/// Measured seconds; with `--soak`, seconds of churn after the ramp.
	#[arg(long, default_value_t = 10.0)]
	pub duration: f64,

	/// Seconds of traffic after every subscriber is subscribed and before measuring; with `--soak`,
	/// seconds of churn after the ramp before the relay's RSS is taken as the reference.
	#[arg(long, default_value_t = 2.0)]
	pub warmup: f64,

	/// Seconds after the measured window during which late frames of it still count; with
	/// `--soak`, how long after a group is finished it must have arrived.
	#[arg(long, default_value_t = 2.0)]
	pub grace: f64,

	/// Sample the relay process's CPU time and RSS from /proc/PID.
	#[arg(long, value_name = "PID")]
	pub relay_pid: Option<u32>,

	/// Connect-rate phase only: open N sessions as fast as possible.
	#[arg(long, value_name = "N")]
	pub connect_only: Option<usize>,

	/// Connect-rate and idle phases: start sessions at this many per second (open loop, each
	/// still waiting for one of `--concurrency` slots) instead of as fast as the slots allow, so
	/// that every relay measured gets the same load and the load tool has time to spare.
	#[arg(long, value_name = "PER_SECOND", value_parser = positive_rate)]
	pub connect_rate: Option<f64>,

	/// Connect-rate phase: every client first opens one session and closes it, unmeasured, then
	/// the measured round reconnects with the same clients (a client that reconnects presents the
	/// TLS session ticket it got the first time, where the relay sends tickets).
	#[arg(long, requires = "connect_only")]
	pub reconnect: bool,

	/// Connect-rate phase with Privacy Pass (`docs/privacy-pass.md`): every session presents a
	/// token of its own (`?pp=`), issued before the measured round with this issuer key (PKCS#8
	/// PEM, as `moq-pp-issuer --key` writes it) for the challenge of a relay configured with
	/// `redemption_context = "empty"`, `--privacy-pass-issuer` and `--privacy-pass-origins`.
	#[arg(long, value_name = "PKCS8.pem", requires_all = ["connect_only", "privacy_pass_issuer"], conflicts_with = "reconnect")]
	pub privacy_pass_key: Option<PathBuf>,

	/// The issuer name of the relay's challenge (`[privacypass] issuer`).
	#[arg(long, value_name = "NAME")]
	pub privacy_pass_issuer: Option<String>,

	/// The relay's `[privacypass] origins`, as configured there (joined with `,` into the
	/// challenge's `origin_info`).
	#[arg(long, value_name = "NAME[,NAME]", default_value = "localhost")]
	pub privacy_pass_origins: String,

	/// Idle-memory phase: open N idle sessions, read the relay's RSS, close them, read it again.
	#[arg(long, value_name = "N")]
	pub idle: Option<usize>,

	/// Idle phase: seconds to wait after closing the sessions before reading the RSS again
	/// (an allocator returns freed memory on its own schedule; jemalloc's background thread within ~10 s).
	#[arg(long, value_name = "SECONDS", default_value_t = 3)]
	pub idle_settle: u64,

	/// Idle phase: first open and close this many sessions (unmeasured) and wait `--idle-settle`,
	/// so what a relay builds once for its whole life (its first sessions' tables, code paged in)
	/// is in the RSS before the measured round.
	#[arg(long, value_name = "N", default_value_t = 0)]
	pub idle_warmup: usize,

	/// Sessions being set up at once (throughput, connect and idle phases).
	#[arg(long, default_value_t = 64)]
	pub concurrency: usize,

	/// QUIC endpoints (UDP sockets) shared round-robin by the sessions; default one per session.
	#[arg(long, value_name = "N")]
	pub endpoints: Option<usize>,

	/// The throughput phase's viewers: `moq-tokio`, the published client, or `raw`, a lean
	/// moq-lite-05 subscriber on quinn (src/raw.rs; raw QUIC, `moqt://` only) whose one task per
	/// session costs the tool less per group, so the relay's latency is less hidden by the tool's.
	#[arg(long, value_enum, default_value_t = ViewerClient::MoqTokio)]
	pub client: ViewerClient,

	/// Broadcast name prefix; the process id and a nonce are appended.
	#[arg(long, default_value = "bench")]
	pub broadcast: String,

	/// Print one JSON object instead of text.
	#[arg(long)]
	pub json: bool,

	/// Also write the JSON report to this file.
	#[arg(long, value_name = "PATH")]
	pub json_out: Option<PathBuf>,

	/// Soak instead of the throughput phase: `--publishers` publishers, `--subscribers` subscriber
	/// sessions spread over their broadcasts, opened at `--ramp` a second, then `--churn` of them
	/// leaving and as many joining every second for `--duration` seconds, sampled every
	/// `--sample-every` seconds (a line on stderr each). The process exits with status 2 after the
	/// report when it counted any error, or when the relay's RSS (with `--relay-pid`) strayed more
	/// than `--rss-tolerance` percent from its value at the end of warm-up.
	#[arg(long, conflicts_with_all = ["connect_only", "idle"])]
	pub soak: bool,

	/// Soak: publishers, each its own session with one broadcast.
	#[arg(long, default_value_t = 5)]
	pub publishers: usize,

	/// Soak: subscriber sessions that never churn, judged over the whole run; default a tenth of
	/// `--subscribers`.
	#[arg(long, value_name = "N")]
	pub stable: Option<usize>,

	/// Soak: subscriber sessions (the oldest of those not stable) that leave every second, and new
	/// ones that join their broadcasts; fractions spread over seconds.
	#[arg(long, value_name = "PER_SECOND", default_value_t = 5.0)]
	pub churn: f64,

	/// Soak: subscriber sessions opened per second at the start. From one address the relay lets 50
	/// connections a second start after a burst of 500 (`limits.handshake_rate`); keep
	/// `--concurrency` below `limits.max_pending_per_ip` (50) too.
	#[arg(long, value_name = "PER_SECOND", default_value_t = 40.0)]
	pub ramp: f64,

	/// Soak: seconds between samples.
	#[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
	pub sample_every: f64,

	/// Soak: the subscribers' max age (Subscriber Max Age): how old a group may get, behind a newer
	/// one, before a subscriber gives up on it. 0 is what a live player asks for, but then a load
	/// tool that falls behind cuts its own groups short; the default, the publishers' retention
	/// (5 s), counts only what the relay fails to deliver.
	#[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
	pub max_age: f64,

	/// Soak: how far, in percent, the relay's RSS may stray from its value at the end of warm-up.
	#[arg(long, value_name = "PERCENT", default_value_t = 10.0)]
	pub rss_tolerance: f64,

	/// Soak: the relay's metrics, `http://host:port/metrics`, read every sample (sessions,
	/// subscriptions, groups dropped, refusals) and after every subscriber left.
	#[arg(long, value_name = "URL")]
	pub relay_metrics: Option<Url>,
}

impl Args {
	/// The URL subscriber sessions dial: `--subscriber-url`, else `--url`.
	pub fn subscriber_url(&self) -> &Url {
		self.subscriber_url.as_ref().unwrap_or(&self.url)
	}
}

/// Which client the throughput phase's viewers use.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViewerClient {
	/// The published client (`moq-tokio`).
	MoqTokio,
	/// [`raw`]: moq-lite-05 on quinn.
	Raw,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
	/// The relay URL (the publisher's).
	pub url: String,
	/// The URL the subscriber sessions dialed (the same as `url` unless `--subscriber-url`).
	pub subscriber_url: String,
	/// Version the publisher's session negotiated.
	pub version: Option<String>,
	/// The publish/subscribe phase (absent with `--connect-only` or `--idle`).
	pub throughput: Option<Throughput>,
	/// The connect-rate phase.
	pub connect: Option<Connect>,
	/// The idle-memory phase.
	pub idle: Option<Idle>,
	/// The relay process over the whole run (with `--relay-pid`).
	pub relay: Option<RelayUsage>,
	/// The soak (with `--soak`).
	pub soak: Option<soak::Soak>,
}

impl Report {
	/// Whether the run found what fails it: a soak that did not pass.
	pub fn failed(&self) -> bool {
		self.soak.as_ref().is_some_and(|soak| !soak.passed)
	}
}

/// Publish/subscribe results over the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
	/// Subscriber connections asked for.
	pub subscribers: usize,
	/// Subscribers that connected and subscribed.
	pub subscribed: usize,
	/// Seconds to connect and subscribe all of them.
	pub setup_s: f64,
	/// Bytes per frame.
	pub frame_size: usize,
	/// Frames per second.
	pub fps: f64,
	/// Frames per group.
	pub group_frames: u64,
	/// Length of the measured window in seconds.
	pub duration_s: f64,
	/// Frames sent in the window.
	pub frames_sent: u64,
	/// Groups whose first frame was sent in the window.
	pub groups_sent: u64,
	/// Window frames received, summed over subscribers.
	pub frames_delivered: u64,
	/// `frames_delivered / (frames_sent × subscribers)`, in percent.
	pub delivery_pct: f64,
	/// Each subscriber's delivery in percent (subscribers that failed count 0).
	pub per_subscriber_delivery_pct: Vec<f64>,
	/// The worst subscriber's delivery in percent.
	pub min_subscriber_delivery_pct: f64,
	/// Delivered payload in Mbit/s over the window.
	pub goodput_mbps: f64,
	/// Send-to-receive latency of window frames.
	pub latency_ms: Percentiles,
	/// The same for each group's first frame only (it also waits for the new stream).
	pub first_frame_latency_ms: Percentiles,
	/// Per window group: share of subscribers that got its first frame within 1 s; mean over groups.
	pub first_frame_within_1s_pct: f64,
	/// The same, worst group.
	pub first_frame_within_1s_min_pct: f64,
	/// Frames with the wrong size or a header naming an unsent frame.
	pub corrupt_frames: u64,
	/// Subscriber sessions that failed to set up or ended early, with the first error.
	pub subscriber_errors: Vec<String>,
	/// Relay CPU seconds (user + system) spent in the window.
	pub relay_cpu_s: Option<f64>,
	/// Relay CPU seconds per delivered GB (10^9 bytes).
	pub relay_cpu_s_per_gb: Option<f64>,
	/// The load tool's own CPU seconds in the window (user + system, this process).
	pub tool_cpu_s: Option<f64>,
	/// The cores the load tool could use: when `tool_cpu_s / duration_s` stays well below it, the
	/// tool was not what limited the run.
	pub tool_cores: usize,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
	/// Samples.
	pub count: usize,
	/// Median.
	pub p50: f64,
	/// 90th percentile.
	pub p90: f64,
	/// 99th percentile.
	pub p99: f64,
	/// Largest.
	pub max: f64,
}

impl Percentiles {
	/// Nearest-rank percentiles of nanosecond samples, in milliseconds.
	pub fn of_ns(mut samples: Vec<u64>) -> Self {
		if samples.is_empty() {
			return Self::default();
		}
		samples.sort_unstable();
		let at = |q: f64| {
			let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
			samples[rank - 1] as f64 / 1e6
		};
		Self {
			count: samples.len(),
			p50: at(0.50),
			p90: at(0.90),
			p99: at(0.99),
			max: *samples.last().unwrap() as f64 / 1e6,
		}
	}
}

/// Connect-rate results.
#[derive(Debug, Clone, Serialize)]
pub struct Connect {
	/// Sessions asked for.
	pub sessions: usize,
	/// Sessions admitted (the announcement arrived).
	pub admitted: usize,
	/// Sessions that failed, with the first error.
	pub failed: usize,
	/// First failure, if any.
	pub first_error: Option<String>,
	/// Sessions set up at once.
	pub concurrency: usize,
	/// Sessions started per second (`--connect-rate`); none: as fast as `concurrency` allows.
	pub connect_rate: Option<f64>,
	/// Seconds from the first dial to the last admission.
	pub elapsed_s: f64,
	/// Admitted sessions per second.
	pub sessions_per_s: f64,
	/// Dial-to-announcement latency.
	pub latency_ms: Percentiles,
	/// The clients had connected once before the measured round (`--reconnect`).
	pub reconnect: bool,
	/// Every session presented a Privacy Pass token of its own (`--privacy-pass-key`).
	pub privacy_pass: bool,
	/// The relay's CPU seconds from the first dial of the measured round to the last close
	/// (`--relay-pid`): its start-up and, with `--reconnect`, the first round are not in it.
	pub relay_cpu_s: Option<f64>,
}

/// Idle-session memory results.
#[derive(Debug, Clone, Serialize)]
pub struct Idle {
	/// Sessions asked for.
	pub sessions: usize,
	/// Sessions admitted.
	pub admitted: usize,
	/// Relay RSS before opening them, KiB.
	pub rss_before_kib: Option<u64>,
	/// Relay RSS with them open, KiB.
	pub rss_open_kib: Option<u64>,
	/// Relay RSS `idle_settle_s` seconds after closing them, KiB.
	pub rss_after_close_kib: Option<u64>,
	/// `(rss_open - rss_before) / admitted`, KiB.
	pub per_session_kib: Option<f64>,
	/// Seconds waited after the close before `rss_after_close_kib` was read.
	pub idle_settle_s: u64,
	/// `rss_open - rss_after_close`, KiB: memory returned after the close.
	pub returned_kib: Option<i64>,
	/// Relay CPU seconds spent from before opening to after closing them.
	pub relay_cpu_s: Option<f64>,
}

/// The relay process over the whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RelayUsage {
	/// Its pid.
	pub pid: u32,
	/// CPU seconds (user + system) from start to end of the run.
	pub cpu_s: f64,
	/// RSS at the start, KiB.
	pub rss_start_kib: u64,
	/// Largest RSS sampled (every 50 ms), KiB.
	pub rss_peak_kib: u64,
	/// RSS at the end, KiB.
	pub rss_end_kib: u64,
}

/// `--connect-rate`: a finite rate above zero.
fn positive_rate(value: &str) -> Result<f64, String> {
	match value.parse::<f64>() {
		Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
		_ => Err(format!("{value:?} is not a rate above zero (sessions per second)")),
	}
}

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
	SystemTime::now()
		.duration_since(UNIX_EPOCH)
		.unwrap_or_default()
		.as_nanos() as u64
}

/// Builds a frame: send time, group, frame index, zero padding to `size`.
pub fn encode_frame(size: usize, sent_ns: u64, group: u64, index: u64) -> Bytes {
	let mut buf = BytesMut::with_capacity(size);
	buf.put_u64_le(sent_ns);
	buf.put_u64_le(group);
	buf.put_u64_le(index);
	buf.resize(size, 0);
	buf.freeze()
}

/// Reads a frame's header: (send time ns, group, frame index).
pub fn decode_frame(payload: &[u8]) -> Option<(u64, u64, u64)> {
	let field = |i: usize| Some(u64::from_le_bytes(payload.get(i * 8..i * 8 + 8)?.try_into().ok()?));
	Some((field(0)?, field(1)?, field(2)?))
}

/// Runs the phases `args` asks for and returns what they measured (also written to `--json-out`).
pub async fn run(args: Args) -> anyhow::Result<Report> {
	let json_out = args.json_out.clone();
	let report = run_phases(args).await?;
	if let Some(path) = json_out {
		std::fs::write(&path, serde_json::to_string(&report)? + "\n")
			.with_context(|| format!("write {}", path.display()))?;
	}
	Ok(report)
}

async fn run_phases(args: Args) -> anyhow::Result<Report> {
	if args.frame_size < HEADER {
		bail!("--frame-size must be at least {HEADER}");
	}
	if args.fps <= 0.0 || args.group_frames == 0 || args.duration <= 0.0 || args.concurrency == 0 {
		bail!("--fps, --group-frames, --duration and --concurrency must be positive");
	}
	let versions = args
		.versions
		.iter()
		.map(|v| {
			v.parse::<moq_net::Version>()
				.map_err(|e| anyhow::anyhow!("--version {v}: {e:?}"))
		})
		.collect::<anyhow::Result<Vec<_>>>()?;
	let factory = ClientFactory {
		args: args.clone(),
		versions,
	};

	let sampler = args.relay_pid.map(proc::Sampler::start).transpose()?;

	if args.soak {
		let (soak, version) = soak::run(Arc::new(factory), &args).await?;
		return Ok(Report {
			url: args.url.to_string(),
			subscriber_url: args.subscriber_url().to_string(),
			version,
			throughput: None,
			connect: None,
			idle: None,
			relay: match sampler {
				Some(sampler) => Some(sampler.finish().await?),
				None => None,
			},
			soak: Some(soak),
		});
	}

	let name = format!("{}-{}-{}", args.broadcast, std::process::id(), now_ns() % 1_000_000_000);
	let publisher = Sender::start(&factory, &args, &name).await?;
	let version = publisher.publisher.connection().version().map(|v| v.to_string());

	let mut report = Report {
		url: args.url.to_string(),
		subscriber_url: args.subscriber_url().to_string(),
		version,
		throughput: None,
		connect: None,
		idle: None,
		relay: None,
		soak: None,
	};

	let only = args.connect_only.is_some() || args.idle.is_some();
	if let Some(n) = args.connect_only {
		report.connect = Some(connect_phase(&factory, &args, &name, n).await?);
	}
	if let Some(n) = args.idle {
		report.idle = Some(idle_phase(&factory, &args, &name, n).await?);
	}
	if !only {
		report.throughput = Some(throughput_phase(&factory, &args, &name, &publisher).await?);
	}

	publisher.stop().await;
	if let Some(sampler) = sampler {
		report.relay = Some(sampler.finish().await?);
	}
	Ok(report)
}

/// A moq-tokio client (it binds its own UDP socket) that makes one connection attempt per session,
/// offering `versions` (every version the client speaks when empty). It trusts only the certificate
/// whose SHA-256 is the hex `fingerprint` when given, any certificate with `insecure`, else the
/// system's roots.
pub fn client(
	fingerprint: Option<&str>,
	insecure: bool,
	versions: &[moq_net::Version],
) -> anyhow::Result<moq_tokio::Client> {
	let mut config = moq_tokio::connect::Config::default();
	if let Some(fingerprint) = fingerprint {
		config.tls.fingerprint = vec![fingerprint.to_ascii_lowercase()];
	}
	if insecure {
		config.tls.insecure = Some(true);
	}
	config.version = versions.to_vec();
	config.once = Some(true);
	Ok(config.init(Default::default())?)
}

/// Makes moq-tokio clients (each binds its own UDP socket) from the options.
pub(crate) struct ClientFactory {
	args: Args,
	versions: Vec<moq_net::Version>,
}

impl ClientFactory {
	/// A client for the publisher (`--url`).
	pub(crate) fn client(&self) -> anyhow::Result<moq_tokio::Client> {
		self.client_with(self.args.tls_fingerprint.as_deref())
	}

	/// A client for subscriber sessions (`--subscriber-url`).
	pub(crate) fn subscriber_client(&self) -> anyhow::Result<moq_tokio::Client> {
		let fingerprint = self
			.args
			.subscriber_tls_fingerprint
			.as_deref()
			.or(self.args.tls_fingerprint.as_deref());
		self.client_with(fingerprint)
	}

	fn client_with(&self, fingerprint: Option<&str>) -> anyhow::Result<moq_tokio::Client> {
		client(fingerprint, self.args.tls_insecure, &self.versions)
	}

	/// `sessions` subscriber clients, shared round-robin when `--endpoints` is below it.
	fn pool(&self, sessions: usize) -> anyhow::Result<Vec<moq_tokio::Client>> {
		let count = self.args.endpoints.unwrap_or(sessions).clamp(1, sessions.max(1));
		(0..count).map(|_| self.subscriber_client()).collect()
	}
}

/// The publishing side: a session holding the broadcast and a task writing frames.
struct Sender {
	publisher: Publisher,
	counters: Arc<SendCounters>,
	stop: Arc<AtomicBool>,
	task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// What the publisher sent inside the measured window.
#[derive(Default)]
struct SendCounters {
	/// Window bounds in ns since the epoch; `u64::MAX` until set.
	window_start: AtomicU64,
	window_end: AtomicU64,
	frames: AtomicU64,
	groups: AtomicU64,
	/// First and last group numbers whose first frame was in the window.
	first_group: AtomicU64,
	last_group: AtomicU64,
}

impl SendCounters {
	fn in_window(&self, sent_ns: u64) -> bool {
		sent_ns >= self.window_start.load(Ordering::Relaxed) && sent_ns < self.window_end.load(Ordering::Relaxed)
	}
}

impl Sender {
	async fn start(factory: &ClientFactory, args: &Args, name: &str) -> anyhow::Result<Self> {
		let start = Publisher::start(factory.client()?, args.url.clone(), name, TRACK);
		let publisher = tokio::time::timeout(Duration::from_secs(20), start)
			.await
			.context("publisher connect timed out")??;

		let counters = Arc::new(SendCounters {
			window_start: AtomicU64::new(u64::MAX),
			window_end: AtomicU64::new(u64::MAX),
			first_group: AtomicU64::new(u64::MAX),
			..Default::default()
		});
		let stop = Arc::new(AtomicBool::new(false));
		let task = tokio::spawn(send_frames(
			publisher.track().clone(),
			args.frame_size,
			args.fps,
			args.group_frames,
			counters.clone(),
			stop.clone(),
		));
		Ok(Self {
			publisher,
			counters,
			stop,
			task,
		})
	}

	async fn stop(self) {
		self.stop.store(true, Ordering::Relaxed);
		let _ = self.task.await;
		self.publisher.close().await;
	}
}

async fn send_frames(
	track: moq_net::track::Producer,
	frame_size: usize,
	fps: f64,
	group_frames: u64,
	counters: Arc<SendCounters>,
	stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
	let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / fps));
	interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
	let mut group: Option<moq_net::group::Producer> = None;
	let mut group_number = 0u64;
	let mut index = 0u64;
	while !stop.load(Ordering::Relaxed) {
		interval.tick().await;
		if index == group_frames || group.is_none() {
			if let Some(done) = group.take() {
				done.finish()?;
				group_number += 1;
			}
			group = Some(track.append_group()?);
			index = 0;
		}
		let sent = now_ns();
		let payload = encode_frame(frame_size, sent, group_number, index);
		group
			.as_mut()
			.expect("a group is open")
			.write_frame(moq_net::Timestamp::now(), payload)?;
		if counters.in_window(sent) {
			counters.frames.fetch_add(1, Ordering::Relaxed);
			if index == 0 {
				counters.groups.fetch_add(1, Ordering::Relaxed);
				counters.first_group.fetch_min(group_number, Ordering::Relaxed);
				counters.last_group.fetch_max(group_number, Ordering::Relaxed);
			}
		}
		index += 1;
	}
	if let Some(done) = group.take() {
		done.finish()?;
	}
	Ok(())
}

/// Dials, then waits for the announcement of `name` (the round trip that proves admission).
async fn open_session(client: &moq_tokio::Client, url: &Url, name: &str) -> anyhow::Result<Subscriber> {
	let admitted = async {
		let mut session = Subscriber::connect(client, url.clone()).await?;
		session.announced(name, true).await?;
		anyhow::Ok(session)
	};
	tokio::time::timeout(Duration::from_secs(30), admitted)
		.await
		.context("no announcement within 30 s")?
}

/// Closes sessions (in parallel) and then their clients.
async fn close_all(sessions: Vec<Subscriber>, clients: Vec<moq_tokio::Client>) {
	close_sessions(sessions).await;
	for client in clients {
		client.close().await;
	}
}

/// Closes sessions in parallel, keeping their clients (and the clients' TLS session caches).
async fn close_sessions(sessions: Vec<Subscriber>) {
	let mut set = JoinSet::new();
	for session in sessions {
		set.spawn(session.close());
	}
	while set.join_next().await.is_some() {}
}

/// Opens `n` sessions, `concurrency` at a time; returns the sessions, per-session
/// admission latency in ns, the first error and the failure count.
async fn open_many(
	clients: &[moq_tokio::Client],
	args: &Args,
	name: &str,
	n: usize,
	tokens: &[String],
) -> (Vec<Subscriber>, Vec<u64>, Option<String>, usize) {
	let semaphore = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
	let mut set = JoinSet::new();
	let begin = tokio::time::Instant::now();
	for i in 0..n {
		let due = args
			.connect_rate
			.map(|rate| begin + Duration::from_secs_f64(i as f64 / rate));
		let client = clients[i % clients.len()].clone();
		let mut url = args.subscriber_url().clone();
		if let Some(token) = tokens.get(i) {
			url.query_pairs_mut().append_pair("pp", token);
		}
		let name = name.to_string();
		let semaphore = semaphore.clone();
		set.spawn(async move {
			if let Some(due) = due {
				tokio::time::sleep_until(due).await;
			}
			let _permit = semaphore.acquire_owned().await.expect("semaphore open");
			let start = Instant::now();
			let session = open_session(&client, &url, &name).await;
			(session, start.elapsed().as_nanos() as u64)
		});
	}
	let mut sessions = Vec::with_capacity(n);
	let mut latencies = Vec::with_capacity(n);
	let mut first_error = None;
	let mut failed = 0;
	while let Some(joined) = set.join_next().await {
		match joined {
			Ok((Ok(session), latency)) => {
				sessions.push(session);
				latencies.push(latency);
			}
			Ok((Err(err), _)) => {
				failed += 1;
				first_error.get_or_insert(format!("{err:#}"));
			}
			Err(err) => {
				failed += 1;
				first_error.get_or_insert(err.to_string());
			}
		}
	}
	(sessions, latencies, first_error, failed)
}

async fn connect_phase(factory: &ClientFactory, args: &Args, name: &str, n: usize) -> anyhow::Result<Connect> {
	let clients = factory.pool(n)?;
	let tokens = match &args.privacy_pass_key {
		Some(key) => privacy_pass_tokens(key, args, n)?,
		None => Vec::new(),
	};
	if args.reconnect {
		let (sessions, _, first_error, failed) = open_many(&clients, args, name, n, &[]).await;
		if let Some(err) = first_error {
			anyhow::bail!("{failed} of {n} first connections failed: {err}");
		}
		close_sessions(sessions).await;
	}
	let cpu = || args.relay_pid.and_then(|pid| proc::cpu_seconds(pid).ok());
	let cpu_before = cpu();
	let start = Instant::now();
	let (sessions, latencies, first_error, failed) = open_many(&clients, args, name, n, &tokens).await;
	let elapsed = start.elapsed().as_secs_f64();
	let admitted = sessions.len();
	close_all(sessions, clients).await;
	let relay_cpu_s = cpu_before.zip(cpu()).map(|(a, b)| b - a);
	Ok(Connect {
		sessions: n,
		admitted,
		failed,
		first_error,
		concurrency: args.concurrency,
		connect_rate: args.connect_rate,
		elapsed_s: elapsed,
		sessions_per_s: admitted as f64 / elapsed,
		latency_ms: Percentiles::of_ns(latencies),
		reconnect: args.reconnect,
		privacy_pass: !tokens.is_empty(),
		relay_cpu_s,
	})
}

/// `n` Privacy Pass tokens (base64url) for the `empty`-context challenge of `--privacy-pass-issuer`
/// and `--privacy-pass-origins`, issued here with the issuer's private key (RFC 9578: blind,
/// sign, finalize), one per session since the relay redeems each once.
fn privacy_pass_tokens(key: &std::path::Path, args: &Args, n: usize) -> anyhow::Result<Vec<String>> {
	use moq_privacy_pass::{Issuer, IssuerKeyPair, TokenChallenge, request_token};

	let pem = std::fs::read_to_string(key).with_context(|| format!("cannot read {}", key.display()))?;
	let pair = IssuerKeyPair::from_pem(&pem).with_context(|| format!("{} is not an issuer key", key.display()))?;
	let public = pair.public_key().clone();
	let issuer = Issuer::new("http://127.0.0.1/token-request", vec![pair])?;
	let name = args
		.privacy_pass_issuer
		.as_deref()
		.context("--privacy-pass-issuer is required")?;
	let challenge = TokenChallenge::new(2, name, None, args.privacy_pass_origins.as_bytes())?;
	(0..n)
		.map(|_| {
			let (request, state) = request_token(&challenge, &public)?;
			Ok(state.finalize(&issuer.issue_request(&request)?)?.to_base64())
		})
		.collect()
}

async fn idle_phase(factory: &ClientFactory, args: &Args, name: &str, n: usize) -> anyhow::Result<Idle> {
	let rss = || args.relay_pid.and_then(|pid| proc::rss_kib(pid).ok());
	if args.idle_warmup > 0 {
		let clients = factory.pool(args.idle_warmup)?;
		let (sessions, _, _, _) = open_many(&clients, args, name, args.idle_warmup, &[]).await;
		close_all(sessions, clients).await;
		tokio::time::sleep(Duration::from_secs(args.idle_settle)).await;
	}
	let clients = factory.pool(n)?;
	tokio::time::sleep(Duration::from_secs(1)).await;
	let rss_before = rss();
	let cpu_before = args.relay_pid.and_then(|pid| proc::cpu_seconds(pid).ok());
	let (sessions, _, first_error, failed) = open_many(&clients, args, name, n, &[]).await;
	if failed > 0 {
		eprintln!(
			"idle: {failed} of {n} sessions failed: {}",
			first_error.unwrap_or_default()
		);
	}
	let admitted = sessions.len();
	tokio::time::sleep(Duration::from_secs(2)).await;
	let rss_open = rss();
	close_all(sessions, clients).await;
	tokio::time::sleep(Duration::from_secs(args.idle_settle)).await;
	let rss_after = rss();
	let cpu_after = args.relay_pid.and_then(|pid| proc::cpu_seconds(pid).ok());
	Ok(Idle {
		sessions: n,
		admitted,
		rss_before_kib: rss_before,
		rss_open_kib: rss_open,
		rss_after_close_kib: rss_after,
		idle_settle_s: args.idle_settle,
		per_session_kib: match (rss_before, rss_open) {
			(Some(before), Some(open)) if admitted > 0 => Some((open as f64 - before as f64) / admitted as f64),
			_ => None,
		},
		returned_kib: match (rss_open, rss_after) {
			(Some(open), Some(after)) => Some(open as i64 - after as i64),
			_ => None,
		},
		relay_cpu_s: cpu_before.zip(cpu_after).map(|(a, b)| b - a),
	})
}

/// What one subscriber received of the window.
#[derive(Default)]
struct Received {
	frames: u64,
	bytes: u64,
	corrupt: u64,
	latencies: Vec<u64>,
	/// Latencies of groups' first frames.
	first_latencies: Vec<u64>,
	/// Groups whose first frame arrived within 1 s of being sent.
	first_in_time: HashSet<u64>,
	error: Option<String>,
}

impl Received {
	/// Adds what one group task counted.
	fn merge(&mut self, other: Received) {
		self.frames += other.frames;
		self.bytes += other.bytes;
		self.corrupt += other.corrupt;
		self.latencies.extend(other.latencies);
		self.first_latencies.extend(other.first_latencies);
		self.first_in_time.extend(other.first_in_time);
		if self.error.is_none() {
			self.error = other.error;
		}
	}
}

async fn subscribe(
	consumer: moq_net::origin::Consumer,
	name: &str,
	frame_size: usize,
	counters: Arc<SendCounters>,
	received: Arc<Mutex<Received>>,
	mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
	let mut track = subscriber::track(&consumer, name, TRACK).await?;
	Ok(tokio::spawn(async move {
		let mut groups = JoinSet::new();
		loop {
			tokio::select! {
				// The run is over: the group tasks still reading merge what they counted as they
				// are cancelled, and are awaited below so none is lost.
				_ = stop.wait_for(|stop| *stop) => break,
				group = track.recv_group() => match group {
					Ok(Some(group)) => {
						groups.spawn(read_group(group, frame_size, counters.clone(), received.clone()));
					}
					Ok(None) => break,
					Err(err) => {
						received.lock().unwrap().error.get_or_insert(format!("track: {err}"));
						break;
					}
				},
				Some(_) = groups.join_next(), if !groups.is_empty() => {}
			}
		}
		// Groups still arriving finish on their own, or are cancelled when the run ends.
		loop {
			tokio::select! {
				_ = stop.wait_for(|stop| *stop) => groups.abort_all(),
				joined = groups.join_next() => if joined.is_none() { break },
			}
		}
	}))
}

/// `--client raw`: `args.subscribers` [`raw::Viewer`]s of `name`, set up `--concurrency` at a time,
/// each counting what it receives into its own [`Received`] until `stop`; their tasks, and the
/// errors of those that could not subscribe.
async fn raw_viewers(
	args: &Args,
	name: &str,
	counters: &Arc<SendCounters>,
	stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(Vec<(tokio::task::JoinHandle<()>, Arc<Mutex<Received>>)>, Option<String>)> {
	let url = args.subscriber_url();
	if url.scheme() != "moqt" {
		bail!("--client raw dials raw QUIC: give a moqt:// URL");
	}
	if args.versions.iter().any(|v| v != "moq-lite-05") {
		bail!("--client raw speaks moq-lite-05 only: drop --version or use --client moq-tokio");
	}
	let relay = *url.socket_addrs(|| None)?.first().context("the URL names no address")?;
	let path = match url.query() {
		Some(query) => format!("{}?{query}", url.path()),
		None => url.path().to_string(),
	};
	let fingerprint = args
		.subscriber_tls_fingerprint
		.as_deref()
		.or(args.tls_fingerprint.as_deref())
		.context("--client raw needs --tls-fingerprint")?;
	let n = args.subscribers;
	let endpoints = (0..args.endpoints.unwrap_or(n).clamp(1, n.max(1)))
		.map(|_| raw::endpoint(fingerprint, relay))
		.collect::<anyhow::Result<Vec<_>>>()?;
	let semaphore = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
	let mut set = JoinSet::new();
	for i in 0..n {
		let endpoint = endpoints[i % endpoints.len()].clone();
		let (path, name, semaphore) = (path.clone(), name.to_string(), semaphore.clone());
		set.spawn(async move {
			let _permit = semaphore.acquire_owned().await.expect("semaphore open");
			let viewer = raw::Viewer::subscribe(&endpoint, relay, &path, &name, TRACK);
			tokio::time::timeout(Duration::from_secs(30), viewer)
				.await
				.unwrap_or_else(|_| Err(anyhow::anyhow!("no session within 30 s")))
		});
	}
	let mut viewers = Vec::with_capacity(n);
	let (mut failed, mut first_error) = (0, None);
	while let Some(joined) = set.join_next().await {
		match joined? {
			Ok(viewer) => viewers.push(viewer),
			Err(err) => {
				failed += 1;
				first_error.get_or_insert(format!("{err:#}"));
			}
		}
	}
	let tasks = viewers
		.into_iter()
		.map(|viewer| {
			let received = Arc::new(Mutex::new(Received::default()));
			let (into, counters, frame_size) = (received.clone(), counters.clone(), args.frame_size);
			let mut stop = stop.clone();
			let task = tokio::spawn(async move {
				let mut counted = Received::default();
				let stop = Box::pin(async move {
					let _ = stop.wait_for(|stop| *stop).await;
				});
				viewer
					.run(stop, |head, size| {
						count_frame(&mut counted, head, size, frame_size, &counters)
					})
					.await;
				into.lock().unwrap_or_else(|e| e.into_inner()).merge(counted);
			});
			(task, received)
		})
		.collect();
	Ok((tasks, first_error.map(|e| format!("{failed} session(s) failed: {e}"))))
}

/// Counts one received frame of `size` bytes into `received`; `head` is the start of its payload,
/// which names its send time, group and index.
fn count_frame(received: &mut Received, head: &[u8], size: usize, frame_size: usize, counters: &SendCounters) {
	let now = now_ns();
	let Some((sent, group_number, index)) = decode_frame(head) else {
		received.corrupt += 1;
		return;
	};
	if size != frame_size || sent > now + 1_000_000_000 {
		received.corrupt += 1;
		return;
	}
	if !counters.in_window(sent) {
		return;
	}
	let latency = now.saturating_sub(sent);
	received.frames += 1;
	received.bytes += size as u64;
	received.latencies.push(latency);
	if index == 0 {
		received.first_latencies.push(latency);
		if latency <= 1_000_000_000 {
			received.first_in_time.insert(group_number);
		}
	}
}

async fn read_group(
	mut group: moq_net::group::Consumer,
	frame_size: usize,
	counters: Arc<SendCounters>,
	received: Arc<Mutex<Received>>,
) {
	// Counted here and merged into the subscriber's totals once, when the group ends or its task
	// is aborted at the end of the run: no lock per frame, so the tool's own cost stays flat as
	// subscribers and frame rates grow.
	let mut local = Merged {
		counted: Received::default(),
		into: received,
	};
	// A group reset by the relay (overload) ends the loop; its missing frames count as lost.
	while let Ok(Some(frame)) = group.read_frame().await {
		count_frame(
			&mut local.counted,
			&frame.payload,
			frame.payload.len(),
			frame_size,
			&counters,
		);
	}
}

/// A group task's counts, merged into its subscriber's when dropped (the group ended, or the run
/// aborted the task).
struct Merged {
	counted: Received,
	into: Arc<Mutex<Received>>,
}

impl Drop for Merged {
	fn drop(&mut self) {
		let counted = std::mem::take(&mut self.counted);
		self.into.lock().unwrap_or_else(|e| e.into_inner()).merge(counted);
	}
}

async fn throughput_phase(
	factory: &ClientFactory,
	args: &Args,
	name: &str,
	publisher: &Sender,
) -> anyhow::Result<Throughput> {
	let n = args.subscribers;
	let counters = publisher.counters.clone();
	let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
	let setup = Instant::now();
	let mut tasks = Vec::new();
	let mut stats = Vec::new();
	let mut errors: Vec<String> = Vec::new();
	let (sessions, clients) = if args.client == ViewerClient::Raw {
		let (raw_tasks, failed) = raw_viewers(args, name, &counters, &stop_rx).await?;
		for (task, received) in raw_tasks {
			tasks.push(task);
			stats.push(received);
		}
		errors.extend(failed);
		(Vec::new(), Vec::new())
	} else {
		let clients = factory.pool(n)?;
		let (sessions, _, first_error, failed) = open_many(&clients, args, name, n, &[]).await;
		errors.extend(first_error.map(|e| format!("{failed} session(s) failed: {e}")));
		(sessions, clients)
	};
	{
		let mut set = JoinSet::new();
		for (i, session) in sessions.iter().enumerate() {
			let received = Arc::new(Mutex::new(Received::default()));
			stats.push(received.clone());
			let consumer = session.consumer().clone();
			let name = name.to_string();
			let counters = counters.clone();
			let frame_size = args.frame_size;
			let stop = stop_rx.clone();
			set.spawn(async move {
				(
					i,
					subscribe(consumer, &name, frame_size, counters, received, stop).await,
				)
			});
		}
		while let Some(joined) = set.join_next().await {
			match joined? {
				(_, Ok(task)) => tasks.push(task),
				(i, Err(err)) => {
					stats[i].lock().unwrap().error = Some(format!("{err:#}"));
				}
			}
		}
	}
	let setup_s = setup.elapsed().as_secs_f64();
	let subscribed = tasks.len();

	let start = now_ns() + (args.warmup * 1e9) as u64;
	let end = start + (args.duration * 1e9) as u64;
	counters.window_start.store(start, Ordering::Relaxed);
	counters.window_end.store(end, Ordering::Relaxed);
	sleep_until_ns(start).await;
	let cpu_start = args.relay_pid.and_then(|pid| proc::cpu_seconds(pid).ok());
	let tool_start = proc::cpu_seconds(std::process::id()).ok();
	sleep_until_ns(end).await;
	let cpu_end = args.relay_pid.and_then(|pid| proc::cpu_seconds(pid).ok());
	let tool_end = proc::cpu_seconds(std::process::id()).ok();
	tokio::time::sleep(Duration::from_secs_f64(args.grace)).await;

	stop_tx.send_replace(true);
	for task in tasks {
		let _ = task.await;
	}
	close_all(sessions, clients).await;

	let frames_sent = counters.frames.load(Ordering::Relaxed);
	let groups_sent = counters.groups.load(Ordering::Relaxed);
	let (first_group, last_group) = (
		counters.first_group.load(Ordering::Relaxed),
		counters.last_group.load(Ordering::Relaxed),
	);
	let mut per_subscriber = Vec::with_capacity(n);
	let mut latencies = Vec::new();
	let mut first_latencies = Vec::new();
	let mut frames_delivered = 0;
	let mut bytes_delivered = 0;
	let mut corrupt = 0;
	let mut first_counts = vec![0u64; groups_sent as usize];
	for received in &stats {
		let mut received = received.lock().unwrap();
		frames_delivered += received.frames;
		bytes_delivered += received.bytes;
		corrupt += received.corrupt;
		per_subscriber.push(pct(received.frames, frames_sent));
		latencies.append(&mut received.latencies);
		first_latencies.append(&mut received.first_latencies);
		for &group in &received.first_in_time {
			if groups_sent > 0 && (first_group..=last_group).contains(&group) {
				first_counts[(group - first_group) as usize] += 1;
			}
		}
		if let Some(err) = &received.error {
			errors.push(err.clone());
		}
	}
	// Subscribers that never connected delivered nothing.
	per_subscriber.resize(n, 0.0);
	let first_pcts: Vec<f64> = first_counts.iter().map(|&c| pct(c, n as u64)).collect();
	let relay_cpu_s = cpu_start.zip(cpu_end).map(|(a, b)| b - a);
	Ok(Throughput {
		subscribers: n,
		subscribed,
		setup_s,
		frame_size: args.frame_size,
		fps: args.fps,
		group_frames: args.group_frames,
		duration_s: args.duration,
		frames_sent,
		groups_sent,
		frames_delivered,
		delivery_pct: pct(frames_delivered, frames_sent * n as u64),
		min_subscriber_delivery_pct: per_subscriber.iter().copied().fold(f64::INFINITY, f64::min),
		per_subscriber_delivery_pct: per_subscriber,
		goodput_mbps: bytes_delivered as f64 * 8.0 / args.duration / 1e6,
		latency_ms: Percentiles::of_ns(latencies),
		first_frame_latency_ms: Percentiles::of_ns(first_latencies),
		first_frame_within_1s_pct: if first_pcts.is_empty() {
			0.0
		} else {
			first_pcts.iter().sum::<f64>() / first_pcts.len() as f64
		},
		first_frame_within_1s_min_pct: first_pcts.iter().copied().fold(f64::INFINITY, f64::min).min(100.0),
		corrupt_frames: corrupt,
		subscriber_errors: errors,
		relay_cpu_s,
		relay_cpu_s_per_gb: relay_cpu_s
			.filter(|_| bytes_delivered > 0)
			.map(|cpu| cpu / (bytes_delivered as f64 / 1e9)),
		tool_cpu_s: tool_start.zip(tool_end).map(|(a, b)| b - a),
		tool_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
	})
}

fn pct(part: u64, whole: u64) -> f64 {
	if whole == 0 {
		0.0
	} else {
		part as f64 * 100.0 / whole as f64
	}
}

async fn sleep_until_ns(target: u64) {
	let now = now_ns();
	if target > now {
		tokio::time::sleep(Duration::from_nanos(target - now)).await;
	}
}

/// Human-readable report.
pub fn render(report: &Report) -> String {
	use std::fmt::Write;
	let mut out = String::new();
	let _ = writeln!(
		out,
		"relay: {}  version: {}",
		report.url,
		report.version.as_deref().unwrap_or("?")
	);
	if report.subscriber_url != report.url {
		let _ = writeln!(out, "subscribers: {}", report.subscriber_url);
	}
	if let Some(t) = &report.throughput {
		let _ = writeln!(
			out,
			"throughput: {} subscribers ({} subscribed in {:.2} s), {} B × {} fps, {} frames/group, {} s window",
			t.subscribers, t.subscribed, t.setup_s, t.frame_size, t.fps, t.group_frames, t.duration_s
		);
		let _ = writeln!(
			out,
			"  sent {} frames / {} groups; delivered {} = {:.3}% (worst subscriber {:.3}%); goodput {:.1} Mbit/s",
			t.frames_sent,
			t.groups_sent,
			t.frames_delivered,
			t.delivery_pct,
			t.min_subscriber_delivery_pct,
			t.goodput_mbps
		);
		let _ = writeln!(
			out,
			"  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  ({} samples)",
			t.latency_ms.p50, t.latency_ms.p90, t.latency_ms.p99, t.latency_ms.max, t.latency_ms.count
		);
		let f = &t.first_frame_latency_ms;
		let _ = writeln!(
			out,
			"  groups' first frames, latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  ({} samples)",
			f.p50, f.p90, f.p99, f.max, f.count
		);
		let _ = writeln!(
			out,
			"  group first frame within 1 s: mean {:.2}% of subscribers, worst group {:.2}%",
			t.first_frame_within_1s_pct, t.first_frame_within_1s_min_pct
		);
		if let (Some(cpu), per_gb) = (t.relay_cpu_s, t.relay_cpu_s_per_gb) {
			let _ = writeln!(
				out,
				"  relay CPU in window: {cpu:.2} s ({} s per delivered GB)",
				per_gb.map_or("-".into(), |v| format!("{v:.2}"))
			);
		}
		if let Some(cpu) = t.tool_cpu_s {
			let _ = writeln!(
				out,
				"  load tool CPU in window: {cpu:.2} s ({:.2} of its {} cores busy)",
				cpu / t.duration_s.max(f64::EPSILON),
				t.tool_cores
			);
		}
		if t.corrupt_frames > 0 {
			let _ = writeln!(out, "  corrupt frames: {}", t.corrupt_frames);
		}
		for err in t.subscriber_errors.iter().take(5) {
			let _ = writeln!(out, "  error: {err}");
		}
	}
	if let Some(c) = &report.connect {
		let _ = writeln!(
			out,
			"connect: {} of {} admitted in {:.2} s = {:.1} sessions/s (concurrency {}); latency ms p50 {:.2} p99 {:.2} max {:.2}",
			c.admitted,
			c.sessions,
			c.elapsed_s,
			c.sessions_per_s,
			c.concurrency,
			c.latency_ms.p50,
			c.latency_ms.p99,
			c.latency_ms.max
		);
		if let Some(cpu) = c.relay_cpu_s {
			let round = match (c.reconnect, c.privacy_pass) {
				(true, _) => "reconnecting clients",
				(false, true) => "new clients, a Privacy Pass token each",
				(false, false) => "new clients",
			};
			let per_session = cpu * 1000.0 / c.admitted.max(1) as f64;
			let _ = writeln!(
				out,
				"  relay CPU {cpu:.2} s = {per_session:.3} ms per session ({round})"
			);
		}
		if let Some(err) = &c.first_error {
			let _ = writeln!(out, "  {} failed, first: {err}", c.failed);
		}
	}
	if let Some(i) = &report.idle {
		let kib = |v: Option<u64>| v.map_or("-".into(), |v| v.to_string());
		let _ = writeln!(
			out,
			"idle: {} of {} sessions; relay RSS KiB before {} open {} after close {}; {} KiB per session; {} KiB returned",
			i.admitted,
			i.sessions,
			kib(i.rss_before_kib),
			kib(i.rss_open_kib),
			kib(i.rss_after_close_kib),
			i.per_session_kib.map_or("-".into(), |v| format!("{v:.1}")),
			i.returned_kib.map_or("-".into(), |v| v.to_string())
		);
	}
	if let Some(soak) = &report.soak {
		out.push_str(&soak::render::render(soak));
	}
	if let Some(r) = &report.relay {
		let _ = writeln!(
			out,
			"relay pid {}: CPU {:.2} s over the run; RSS KiB start {} peak {} end {}",
			r.pid, r.cpu_s, r.rss_start_kib, r.rss_peak_kib, r.rss_end_kib
		);
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn frame_header_round_trips_and_pads() {
		let frame = encode_frame(1200, 123_456_789, 7, 29);
		assert_eq!(frame.len(), 1200);
		assert_eq!(decode_frame(&frame), Some((123_456_789, 7, 29)));
		assert!(frame[HEADER..].iter().all(|&b| b == 0));
		assert_eq!(decode_frame(&frame[..HEADER - 1]), None);
	}

	/// The tokens of `--privacy-pass-key` are what a relay with that issuer, its key, `empty`
	/// redemption contexts and those origins accepts, once each; another origin's relay refuses them.
	#[test]
	fn privacy_pass_tokens_verify_at_a_relay_configured_alike() {
		use clap::Parser;
		use moq_privacy_pass::{IssuerKeyPair, RedemptionContext, Token, Verifier};

		let pair = IssuerKeyPair::generate().unwrap();
		let key = std::env::temp_dir().join(format!("moq-relay-bench-issuer-{}.pem", std::process::id()));
		std::fs::write(&key, pair.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
		let args = Args::parse_from([
			"moq-relay-bench",
			"--url",
			"moqt://127.0.0.1:4443/bench",
			"--connect-only",
			"2",
			"--privacy-pass-key",
			key.to_str().unwrap(),
			"--privacy-pass-issuer",
			"bench-issuer.local",
			"--privacy-pass-origins",
			"bench.local",
		]);
		let tokens = privacy_pass_tokens(&key, &args, 2);
		std::fs::remove_file(&key).unwrap();
		let tokens = tokens.unwrap();
		assert_eq!(tokens.len(), 2);

		let now = std::time::SystemTime::now();
		let relay = |origins: &str| {
			let verifier = Verifier::new("bench-issuer.local", [pair.public_key().clone()])
				.unwrap()
				.with_origin_info(origins)
				.unwrap()
				.with_redemption_context(RedemptionContext::Empty);
			verifier.challenge(now);
			verifier
		};
		let alike = relay("bench.local");
		let other = relay("other.local");
		for token in &tokens {
			let token = Token::from_base64(token).unwrap();
			assert!(other.verify(token.as_bytes(), now).is_err());
			alike.verify(token.as_bytes(), now).unwrap();
			assert!(alike.verify(token.as_bytes(), now).is_err(), "a replay");
		}
	}

	#[test]
	fn nearest_rank_percentiles() {
		let p = Percentiles::of_ns((1..=100).rev().map(|ms| ms * 1_000_000).collect());
		assert_eq!(p.count, 100);
		assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
		let one = Percentiles::of_ns(vec![2_500_000]);
		assert_eq!((one.p50, one.p99, one.max), (2.5, 2.5, 2.5));
		assert_eq!(Percentiles::of_ns(Vec::new()).count, 0);
	}
}
