//! Soak mode: hours-long behaviour in minutes. P publishers (one broadcast each) and S subscriber
//! sessions spread over their broadcasts; the sessions are opened at a fixed rate (the ramp), then
//! every second the oldest few churnable sessions leave and as many new ones join, for a duration.
//! Every sample interval records the relay's RSS and CPU, the sessions open, the frames delivered
//! and that interval's latency; at the end each session's delivery is checked group by group
//! against what its publisher sent while it was subscribed. Whatever goes wrong is counted by kind
//! ([`errors::ErrorKind`]), and the run passes only with no error and, when the relay's pid is
//! known, its RSS within a tolerance of its value at the end of warm-up.

pub mod churn;
pub mod errors;
pub mod flat;
pub mod groups;
pub mod histogram;
pub mod metrics;
pub(crate) mod publish;
pub mod render;
pub(crate) mod session;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use self::errors::{ErrorKind, Errors};
use self::flat::{RssFlatness, RssPoint};
use self::groups::Accounting;
use self::histogram::Histogram;
use self::metrics::RelayMetrics;
use self::publish::{Load, SoakPublisher};
use self::session::{Clients, Context, Live, SessionEnd};
use crate::{Args, ClientFactory, Percentiles, now_ns, proc};

/// The track every soak broadcast carries.
const TRACK: &str = "data";

/// What a soak run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Soak {
	/// Publishers (one broadcast each).
	pub publishers: usize,
	/// Subscriber sessions kept open.
	pub subscribers: usize,
	/// Of those, sessions that never churn.
	pub stable: usize,
	/// Sessions that leave (and join) per second after the ramp.
	pub churn_per_s: f64,
	/// Sessions opened per second at the start.
	pub ramp_per_s: f64,
	/// Bytes per frame.
	pub frame_size: usize,
	/// Frames per second per publisher.
	pub fps: f64,
	/// Frames per group.
	pub group_frames: u64,
	/// Seconds of churn after the ramp.
	pub duration_s: f64,
	/// Seconds after the ramp before the RSS reference sample.
	pub warmup_s: f64,
	/// How long after a group is finished it may still arrive, seconds.
	pub grace_s: f64,
	/// The subscribers' max age, seconds.
	pub max_age_s: f64,
	/// Seconds between samples.
	pub sample_every_s: f64,
	/// Seconds from the first dial until every initial session had subscribed or failed.
	pub ramp_s: f64,
	/// Seconds from the first dial to the end of the churn.
	pub run_s: f64,
	/// One per sample interval.
	pub samples: Vec<Sample>,
	/// Subscriber sessions that subscribed, in all.
	pub sessions_joined: u64,
	/// Subscriber sessions asked to leave by the churn.
	pub sessions_churned: u64,
	/// Frames received by subscribers, in all.
	pub frames_received: u64,
	/// Frames a session received that were sent before it subscribed (the group in progress,
	/// sent to a new subscriber from its start); not in the latency.
	pub catchup_frames: u64,
	/// Send-to-receive latency of every other frame of the run.
	pub latency_ms: Percentiles,
	/// The same, for the sample intervals after warm-up only.
	pub latency_after_warmup_ms: Percentiles,
	/// From a session's dial to its first frame.
	pub join_ms: Percentiles,
	/// Sessions that never churned, judged over their whole subscription.
	pub stable_delivery: Delivery,
	/// Sessions that churned (and those opened to replace them), over their subscriptions.
	pub churned_delivery: Delivery,
	/// Errors by code ([`errors::ErrorKind::code`]), zeros included.
	pub errors: BTreeMap<String, u64>,
	/// Sum of `errors`.
	pub error_total: u64,
	/// The first few messages of each kind.
	pub error_examples: Vec<String>,
	/// The relay's `moq_relay_sessions` after every subscriber left (publishers still open).
	pub relay_sessions_after_leave: Option<u64>,
	/// The relay's own share of the latency after warm-up (its `moq_relay_frame_relay_seconds`:
	/// last byte in from the publisher to the end of the write to the subscriber's stream), from
	/// the first sample after warm-up to the last; with `--relay-metrics`.
	pub relay_frame_relay_ms: Option<metrics::Quantiles>,
	/// The RSS verdict (with the relay's pid and at least two samples after warm-up).
	pub rss: Option<RssFlatness>,
	/// No error, and RSS flat when judged.
	pub passed: bool,
}

/// Where in the run a sample was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
	/// Initial sessions still being opened.
	Ramp,
	/// Churning, before the end of warm-up.
	Warmup,
	/// Churning, after warm-up.
	Steady,
}

/// One sample interval.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
	/// Seconds since the first dial, at the end of the interval.
	pub t_s: f64,
	/// Phase at the end of the interval.
	pub phase: Phase,
	/// Subscriber sessions subscribed at the end of the interval.
	pub sessions_open: u64,
	/// Sessions that subscribed during the interval.
	pub joined: u64,
	/// Subscribed sessions that ended during the interval.
	pub ended: u64,
	/// Frames received during the interval.
	pub frames: u64,
	/// Payload received during the interval, Mbit/s.
	pub mbps: f64,
	/// Latency of the interval's live frames.
	pub latency_ms: Percentiles,
	/// Relay RSS at the end of the interval, KiB.
	pub relay_rss_kib: Option<u64>,
	/// Largest relay RSS polled (every second) during the interval, KiB.
	pub relay_rss_max_kib: Option<u64>,
	/// Relay CPU during the interval, percent of one core.
	pub relay_cpu_pct: Option<f64>,
	/// This load tool's CPU during the interval, percent of one core (near 100 % when pinned to one
	/// core: its own latency measurements then include its queueing).
	pub tool_cpu_pct: Option<f64>,
	/// This load tool's RSS at the end of the interval, KiB.
	pub tool_rss_kib: Option<u64>,
	/// The machine's 1-minute load average.
	pub loadavg_1m: Option<f64>,
	/// The relay's metrics (with `--relay-metrics`).
	pub relay: Option<RelayMetrics>,
	/// Errors so far.
	pub errors: u64,
}

/// Delivery of a set of sessions: the sum of their accountings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Delivery {
	/// Sessions that subscribed.
	pub sessions: u64,
	/// Groups they should have received, summed over sessions.
	pub expected_groups: u64,
	/// Of those, groups with no frame.
	pub missed_groups: u64,
	/// Of those, groups with some frames missing.
	pub incomplete_groups: u64,
	/// Frames of the expected groups.
	pub expected_frames: u64,
	/// Of those, frames received.
	pub received_frames: u64,
	/// `received_frames / expected_frames`, percent.
	pub delivery_pct: f64,
	/// The worst session's delivery, percent.
	pub min_session_pct: f64,
}

impl Delivery {
	fn of<'a>(ends: impl Iterator<Item = &'a SessionEnd>) -> Self {
		let mut total = Accounting::default();
		let (mut sessions, mut min) = (0, 100.0f64);
		for end in ends.filter(|end| end.subscribed) {
			sessions += 1;
			total.add(&end.accounting);
			min = min.min(end.accounting.delivery_pct());
		}
		Self {
			sessions,
			expected_groups: total.expected_groups,
			missed_groups: total.missed_groups,
			incomplete_groups: total.incomplete_groups,
			expected_frames: total.expected_frames,
			received_frames: total.received_frames,
			delivery_pct: total.delivery_pct(),
			min_session_pct: min,
		}
	}
}

/// The soak options out of the command line, checked.
struct Plan {
	publishers: usize,
	subscribers: usize,
	stable: usize,
	churn: f64,
	ramp: f64,
	duration: Duration,
	warmup: Duration,
	sample_every: Duration,
	load: Load,
}

impl Plan {
	fn from_args(args: &Args) -> anyhow::Result<Self> {
		let stable = args.stable.unwrap_or(args.subscribers / 10);
		if args.publishers == 0 || args.subscribers == 0 {
			bail!("--soak needs at least one publisher and one subscriber");
		}
		if stable > args.subscribers {
			bail!("--stable cannot exceed --subscribers");
		}
		if !(args.churn >= 0.0
			&& args.ramp > 0.0
			&& args.sample_every > 0.0
			&& args.warmup >= 0.0
			&& args.max_age >= 0.0)
		{
			bail!("--churn, --warmup and --max-age must not be negative, --ramp and --sample-every must be positive");
		}
		Ok(Self {
			publishers: args.publishers,
			subscribers: args.subscribers,
			stable,
			churn: args.churn,
			ramp: args.ramp,
			duration: Duration::from_secs_f64(args.duration),
			warmup: Duration::from_secs_f64(args.warmup),
			sample_every: Duration::from_secs_f64(args.sample_every),
			load: Load {
				frame_size: args.frame_size,
				fps: args.fps,
				group_frames: args.group_frames,
			},
		})
	}
}

/// Runs a soak; returns its report and the version the first publisher negotiated.
pub(crate) async fn run(factory: Arc<ClientFactory>, args: &Args) -> anyhow::Result<(Soak, Option<String>)> {
	let plan = Plan::from_args(args)?;
	let errors = Arc::new(Errors::default());

	let prefix = format!("{}-{}-{}", args.broadcast, std::process::id(), now_ns() % 1_000_000_000);
	let names: Vec<String> = (0..plan.publishers).map(|k| format!("{prefix}-{k}")).collect();
	let mut publishers = Vec::with_capacity(plan.publishers);
	for name in &names {
		let publisher = SoakPublisher::start(
			factory.client()?,
			args.url.clone(),
			name,
			TRACK,
			plan.load,
			errors.clone(),
		)
		.await?;
		publishers.push(publisher);
	}
	let version = publishers[0].version();

	let live = Arc::new(Live {
		errors: errors.clone(),
		..Default::default()
	});
	let (subscribed_tx, mut subscribed_rx) = mpsc::unbounded_channel();
	let clients = match args.endpoints {
		Some(n) => Clients::Pool(
			(0..n.max(1))
				.map(|_| factory.subscriber_client())
				.collect::<anyhow::Result<_>>()?,
		),
		None => Clients::PerSession(factory.clone()),
	};
	let cx = Arc::new(Context {
		url: args.subscriber_url().clone(),
		names: names.clone(),
		logs: publishers.iter().map(SoakPublisher::log).collect(),
		track: TRACK,
		subscription: moq_net::track::Subscription::default().with_max_age(Duration::from_secs_f64(args.max_age)),
		frame_size: plan.load.frame_size,
		grace_ns: (args.grace * 1e9) as u64,
		clients,
		setup_limit: Arc::new(Semaphore::new(args.concurrency)),
		live: live.clone(),
		subscribed: subscribed_tx,
	});

	let start = Instant::now();
	let rss_poller = args.relay_pid.map(RssPoller::start);
	let mut sampler = Sampler::new(args.relay_pid, args.relay_metrics.clone(), live.clone(), start);
	let mut sessions = Sessions::new(cx.clone(), plan.stable);

	let mut ramp_timer = tokio::time::interval(Duration::from_secs_f64(1.0 / plan.ramp));
	let mut sample_timer = tokio::time::interval_at(tokio::time::Instant::now() + plan.sample_every, plan.sample_every);
	let mut ramp_pending = plan.subscribers;
	let mut ramp_end: Option<Instant> = None;
	let mut churn_timer: Option<tokio::time::Interval> = None;
	let mut churn_tick = 0;
	let mut deadline: Option<tokio::time::Instant> = None;

	loop {
		if ramp_end.is_none() && sessions.next_id as usize == plan.subscribers && ramp_pending == 0 {
			let now = Instant::now();
			ramp_end = Some(now);
			churn_timer = Some(tokio::time::interval_at(
				tokio::time::Instant::now() + Duration::from_secs(1),
				Duration::from_secs(1),
			));
			deadline = Some(tokio::time::Instant::now() + plan.duration);
			eprintln!(
				"soak: {} of {} sessions subscribed after {:.1} s; churning for {:.0} s",
				live.open.load(Ordering::Relaxed),
				plan.subscribers,
				now.duration_since(start).as_secs_f64(),
				plan.duration.as_secs_f64()
			);
		}
		tokio::select! {
			_ = ramp_timer.tick(), if (sessions.next_id as usize) < plan.subscribers => {
				let id = sessions.next_id;
				sessions.spawn(id as usize % plan.publishers);
			}
			Some(id) = subscribed_rx.recv() => {
				if id < plan.subscribers as u64 {
					ramp_pending -= 1;
				}
				sessions.subscribed(id);
			}
			Some(joined) = sessions.tasks.join_next(), if !sessions.tasks.is_empty() => {
				if let Some(end) = sessions.ended(joined) && !end.subscribed && end.id < plan.subscribers as u64 {
					ramp_pending -= 1;
				}
			}
			_ = tick(&mut churn_timer) => {
				churn_tick += 1;
				sessions.churn(churn::due(plan.churn, churn_tick));
			}
			_ = sample_timer.tick() => {
				let phase = phase(ramp_end, plan.warmup, Instant::now());
				sampler.sample(phase, rss_poller.as_ref()).await;
			}
			_ = sleep_until(deadline) => break,
		}
	}
	let ramp_end = ramp_end.expect("the run ends after the ramp");
	let run_s = start.elapsed().as_secs_f64();
	if sampler.samples.last().is_none_or(|last| run_s - last.t_s > 1.0) {
		let phase = phase(Some(ramp_end), plan.warmup, Instant::now());
		sampler.sample(phase, rss_poller.as_ref()).await;
	}

	sessions.leave_all().await;
	let relay_sessions_after_leave = match &args.relay_metrics {
		Some(url) => relay_sessions_settled(url, plan.publishers as u64, &errors).await,
		None => None,
	};
	for publisher in publishers {
		publisher.stop().await;
	}
	if let Clients::Pool(pool) = &cx.clients {
		for client in pool {
			client.clone().close().await;
		}
	}
	if let Some(poller) = rss_poller {
		poller.task.abort();
	}

	let warmup_end_s = (ramp_end - start + plan.warmup).as_secs_f64();
	let rss = flat::rss_flatness(&sampler.rss_points(), warmup_end_s, args.rss_tolerance);
	let mut latency = Histogram::default();
	let mut after_warmup = Histogram::default();
	for (sample, histogram) in sampler.samples.iter().zip(&sampler.histograms) {
		latency.merge(histogram);
		if sample.phase == Phase::Steady {
			after_warmup.merge(histogram);
		}
	}
	let stable_ids = plan.stable as u64;
	let error_total = errors.total();
	let soak = Soak {
		publishers: plan.publishers,
		subscribers: plan.subscribers,
		stable: plan.stable,
		churn_per_s: plan.churn,
		ramp_per_s: plan.ramp,
		frame_size: plan.load.frame_size,
		fps: plan.load.fps,
		group_frames: plan.load.group_frames,
		duration_s: plan.duration.as_secs_f64(),
		warmup_s: plan.warmup.as_secs_f64(),
		grace_s: args.grace,
		max_age_s: args.max_age,
		sample_every_s: plan.sample_every.as_secs_f64(),
		ramp_s: (ramp_end - start).as_secs_f64(),
		run_s,
		sessions_joined: live.joined.load(Ordering::Relaxed),
		sessions_churned: sessions.churned,
		frames_received: sampler.samples.iter().map(|s| s.frames).sum(),
		catchup_frames: live.catchup_frames.load(Ordering::Relaxed),
		latency_ms: latency.percentiles(),
		latency_after_warmup_ms: after_warmup.percentiles(),
		join_ms: live.join_time.lock().unwrap().percentiles(),
		stable_delivery: Delivery::of(sessions.ends.iter().filter(|end| end.id < stable_ids)),
		churned_delivery: Delivery::of(sessions.ends.iter().filter(|end| end.id >= stable_ids)),
		errors: errors.by_code(),
		error_total,
		error_examples: errors.examples(),
		relay_sessions_after_leave,
		relay_frame_relay_ms: relay_frame_relay(&sampler.samples),
		passed: error_total == 0 && rss.as_ref().is_none_or(|rss| rss.flat),
		rss,
		samples: sampler.samples,
	};
	Ok((soak, version))
}

/// The relay's frame latency histogram from the first sample after warm-up to the last.
fn relay_frame_relay(samples: &[Sample]) -> Option<metrics::Quantiles> {
	let first = samples.iter().find(|s| s.phase == Phase::Steady)?.relay.as_ref()?;
	let last = samples.last()?.relay.as_ref()?;
	metrics::Quantiles::between(&first.frame_relay, &last.frame_relay)
}

/// The phase at `now`.
fn phase(ramp_end: Option<Instant>, warmup: Duration, now: Instant) -> Phase {
	match ramp_end {
		None => Phase::Ramp,
		Some(end) if now < end + warmup => Phase::Warmup,
		Some(_) => Phase::Steady,
	}
}

/// The next tick of `timer`, never when there is none.
async fn tick(timer: &mut Option<tokio::time::Interval>) {
	match timer {
		Some(timer) => {
			timer.tick().await;
		}
		None => std::future::pending().await,
	}
}

/// Sleeps until `deadline`, forever when there is none.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
	match deadline {
		Some(deadline) => tokio::time::sleep_until(deadline).await,
		None => std::future::pending().await,
	}
}

/// Waits (up to 10 s) for the relay to count no more sessions than the publishers'; returns its
/// last count, and counts any sessions above that as an error.
async fn relay_sessions_settled(url: &url::Url, publishers: u64, errors: &Errors) -> Option<u64> {
	let give_up = Instant::now() + Duration::from_secs(10);
	let mut last = None;
	loop {
		match metrics::fetch(url).await {
			Ok(m) => last = Some(m.sessions),
			Err(err) => eprintln!("soak: relay metrics: {err:#}"),
		}
		if last.is_some_and(|sessions| sessions <= publishers) || Instant::now() >= give_up {
			break;
		}
		tokio::time::sleep(Duration::from_millis(200)).await;
	}
	if let Some(sessions) = last
		&& sessions > publishers
	{
		errors.record(ErrorKind::RelaySessionsLeft, sessions - publishers, || {
			format!("the relay counted {sessions} sessions 10 s after every subscriber left ({publishers} publishers)")
		});
	}
	last
}

/// The subscriber sessions: their tasks, how to make them leave, and who churns next.
struct Sessions {
	cx: Arc<Context>,
	stable: u64,
	next_id: u64,
	tasks: JoinSet<SessionEnd>,
	/// Sessions still running: the sender that makes one leave, and its broadcast.
	handles: HashMap<u64, (oneshot::Sender<()>, usize)>,
	roster: churn::Roster,
	churned: u64,
	ends: Vec<SessionEnd>,
}

impl Sessions {
	fn new(cx: Arc<Context>, stable: usize) -> Self {
		Self {
			cx,
			stable: stable as u64,
			next_id: 0,
			tasks: JoinSet::new(),
			handles: HashMap::new(),
			roster: churn::Roster::default(),
			churned: 0,
			ends: Vec::new(),
		}
	}

	/// Starts the next session on `broadcast`.
	fn spawn(&mut self, broadcast: usize) {
		let id = self.next_id;
		self.next_id += 1;
		let (leave, left) = oneshot::channel();
		self.handles.insert(id, (leave, broadcast));
		self.tasks.spawn(session::run(self.cx.clone(), id, broadcast, left));
	}

	/// Session `id` has subscribed: unless it is stable (or already gone), it may now churn.
	fn subscribed(&mut self, id: u64) {
		if id >= self.stable && self.handles.contains_key(&id) {
			self.roster.push(id);
		}
	}

	/// A session task ended: forget it, keep its accounting.
	fn ended(&mut self, joined: Result<SessionEnd, tokio::task::JoinError>) -> Option<&SessionEnd> {
		match joined {
			Ok(end) => {
				self.handles.remove(&end.id);
				self.roster.remove(end.id);
				self.ends.push(end);
				self.ends.last()
			}
			Err(err) => {
				self.cx.live.errors.record(ErrorKind::UnexpectedClose, 1, || {
					format!("a session task failed: {err}")
				});
				None
			}
		}
	}

	/// The `n` oldest churnable sessions leave and as many new ones join their broadcasts.
	fn churn(&mut self, n: u64) {
		for id in self.roster.take_oldest(n) {
			if let Some((leave, broadcast)) = self.handles.remove(&id) {
				let _ = leave.send(());
				self.churned += 1;
				self.spawn(broadcast);
			}
		}
	}

	/// Every session leaves; waits (up to 60 s) for all of them to end.
	async fn leave_all(&mut self) {
		for (_, (leave, _)) in self.handles.drain() {
			let _ = leave.send(());
		}
		let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
		loop {
			match tokio::time::timeout_at(give_up, self.tasks.join_next()).await {
				Ok(Some(joined)) => {
					self.ended(joined);
				}
				Ok(None) => break,
				Err(_) => {
					let stuck = self.tasks.len() as u64;
					self.cx.live.errors.record(ErrorKind::CloseFailed, stuck, || {
						format!("{stuck} sessions had not ended 60 s after being asked to leave")
					});
					self.tasks.abort_all();
					while self.tasks.join_next().await.is_some() {}
					break;
				}
			}
		}
	}
}

/// Polls the relay's RSS every second, keeping the largest reading since it was last taken.
struct RssPoller {
	max: Arc<AtomicU64>,
	task: tokio::task::JoinHandle<()>,
}

impl RssPoller {
	fn start(pid: u32) -> Self {
		let max = Arc::new(AtomicU64::new(0));
		let task = tokio::spawn({
			let max = max.clone();
			async move {
				let mut timer = tokio::time::interval(Duration::from_secs(1));
				loop {
					timer.tick().await;
					if let Ok(kib) = proc::rss_kib(pid) {
						max.fetch_max(kib, Ordering::Relaxed);
					}
				}
			}
		});
		Self { max, task }
	}

	/// The largest reading since the last call (0 if none).
	fn take(&self) -> u64 {
		self.max.swap(0, Ordering::Relaxed)
	}
}

/// Takes the samples: each interval's counters and the processes' readings.
struct Sampler {
	relay_pid: Option<u32>,
	metrics_url: Option<url::Url>,
	live: Arc<Live>,
	start: Instant,
	last_t: f64,
	last_relay_cpu: Option<f64>,
	last_tool_cpu: Option<f64>,
	last_joined: u64,
	last_ended: u64,
	samples: Vec<Sample>,
	/// Each sample's latency histogram, to merge at the end.
	histograms: Vec<Histogram>,
}

impl Sampler {
	fn new(relay_pid: Option<u32>, metrics_url: Option<url::Url>, live: Arc<Live>, start: Instant) -> Self {
		Self {
			last_relay_cpu: relay_pid.and_then(|pid| proc::cpu_seconds(pid).ok()),
			last_tool_cpu: proc::cpu_seconds(std::process::id()).ok(),
			relay_pid,
			metrics_url,
			live,
			start,
			last_t: 0.0,
			last_joined: 0,
			last_ended: 0,
			samples: Vec::new(),
			histograms: Vec::new(),
		}
	}

	async fn sample(&mut self, phase: Phase, rss_poller: Option<&RssPoller>) {
		let interval = std::mem::take(&mut *self.live.interval.lock().unwrap());
		let t_s = self.start.elapsed().as_secs_f64();
		let dt = (t_s - self.last_t).max(1e-9);
		self.last_t = t_s;
		let relay_cpu = self.relay_pid.and_then(|pid| proc::cpu_seconds(pid).ok());
		let tool_cpu = proc::cpu_seconds(std::process::id()).ok();
		let pct = |now: Option<f64>, before: Option<f64>| now.zip(before).map(|(b, a)| (b - a) * 100.0 / dt);
		let relay_cpu_pct = pct(relay_cpu, self.last_relay_cpu);
		let tool_cpu_pct = pct(tool_cpu, self.last_tool_cpu);
		(self.last_relay_cpu, self.last_tool_cpu) = (relay_cpu, tool_cpu);
		let relay_rss_kib = self.relay_pid.and_then(|pid| proc::rss_kib(pid).ok());
		let relay_rss_max_kib = relay_rss_kib.map(|now| now.max(rss_poller.map_or(0, RssPoller::take)));
		let relay = match &self.metrics_url {
			Some(url) => match metrics::fetch(url).await {
				Ok(m) => Some(m),
				Err(err) => {
					eprintln!("soak: relay metrics: {err:#}");
					None
				}
			},
			None => None,
		};
		let joined = self.live.joined.load(Ordering::Relaxed);
		let ended = self.live.ended.load(Ordering::Relaxed);
		let sample = Sample {
			t_s,
			phase,
			sessions_open: self.live.open.load(Ordering::Relaxed),
			joined: joined - self.last_joined,
			ended: ended - self.last_ended,
			frames: interval.frames,
			mbps: interval.bytes as f64 * 8.0 / dt / 1e6,
			latency_ms: interval.latency.percentiles(),
			relay_rss_kib,
			relay_rss_max_kib,
			relay_cpu_pct,
			tool_cpu_pct,
			tool_rss_kib: proc::rss_kib(std::process::id()).ok(),
			loadavg_1m: loadavg_1m(),
			relay,
			errors: self.live.errors.total(),
		};
		(self.last_joined, self.last_ended) = (joined, ended);
		if self.samples.is_empty() {
			eprintln!("{}", render::sample_header());
		}
		eprintln!("{}", render::sample_line(&sample));
		self.samples.push(sample);
		self.histograms.push(interval.latency);
	}

	/// The samples' RSS readings.
	fn rss_points(&self) -> Vec<RssPoint> {
		self.samples
			.iter()
			.filter_map(|s| {
				Some(RssPoint {
					t_s: s.t_s,
					kib: s.relay_rss_kib?,
					max_kib: s.relay_rss_max_kib?,
				})
			})
			.collect()
	}
}

/// The first field of `/proc/loadavg`.
fn loadavg_1m() -> Option<f64> {
	std::fs::read_to_string("/proc/loadavg")
		.ok()?
		.split_whitespace()
		.next()?
		.parse()
		.ok()
}
