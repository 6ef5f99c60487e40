//! The relay's metrics for `GET /metrics`, on a `prometheus-client` [`Registry`].
//!
//! Every metric is declared once, in [`declare!`]'s list below: the exposed name, its help and its
//! type. The methods of [`Metrics`] are what the rest of the relay calls; they never name a metric.
//!
//! The exposition is the Prometheus text format 0.0.4 ([`CONTENT_TYPE`]), made from
//! `prometheus-client`'s OpenMetrics encoder (see [`Metrics::render`]): in OpenMetrics a counter's
//! family is named without `_total`, so the counter `moq_relay_sessions_total` and the gauge
//! `moq_relay_sessions` would be two families of one name, which the OpenMetrics specification
//! forbids; in 0.0.4 they are distinct. Sample names are the same in both formats.
//!
//! Labels are bounded: refusal codes are the relay's fixed `&'static str` codes, credential kinds
//! a closed enum ([`CredentialKind`]), and cluster peers the configured `[cluster] connect` entries
//! plus `accepted` ([`Link`]). The buckets of the histograms are documented in `docs/relay.md`
//! ("Metrics").

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

use crate::auth::CredentialKind;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Session set-up buckets, seconds: a connection on a LAN is admitted in milliseconds, a distant
/// one after a few round trips; `[limits]` handshake_timeout and setup_timeout (10 s each) bound it.
pub const SETUP_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0];

/// Auth decision buckets, seconds: a JWT is checked in microseconds; a Privacy Pass redemption may
/// wait on Redis or on the issuer's key directory.
pub const AUTH_BUCKETS: [f64; 12] = [
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 2.5,
];

/// Auth service call buckets, seconds: a service next to the relay answers in about a
/// millisecond, a distant one in tens; `[auth] service_timeout` (default 5 s) bounds it.
pub const SERVICE_BUCKETS: [f64; 13] = [
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Frame relay latency buckets, seconds: from sub-millisecond (a subscriber that keeps up) to
/// seconds (a subscriber that falls behind, or the latest cached group replayed to a new one).
pub const RELAY_BUCKETS: [f64; 15] = [
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Subscriber queue buckets, groups: 0 is a subscriber that keeps up; at `[limits]`
/// max_inflight_groups (default 4) the oldest group is shed.
pub const QUEUE_BUCKETS: [f64; 9] = [0.0, 1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 32.0, 64.0];

type Level = Gauge<u64, AtomicU64>;
type Histograms<S> = Family<S, Histogram, fn() -> Histogram>;

/// A refusal code (auth or limit): one of the relay's fixed codes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
	code: &'static str,
}

/// What an admitted session asked for that its grant refused: `publish` or `subscribe`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabel {
	request: &'static str,
}

/// What a session's auth decision was made from.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
	kind: &'static str,
}

/// Who decided a session and how: `outcome` is `granted` or the refusal code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Decision {
	kind: &'static str,
	outcome: &'static str,
}

/// An auth service call's outcome (`allow`, `deny`, `error`, `unavailable`), or how a cache
/// lookup went (`hit`, `miss`, `joined`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
	outcome: &'static str,
}

/// A configured API key's name (bounded by the configuration; never the key).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyName {
	name: String,
}

/// A JWKS URL (without its query).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JwksLabel {
	url: String,
}

/// A JWKS URL and how its refresh went (`ok`, `failed`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JwksOutcome {
	url: String,
	outcome: &'static str,
}

/// The cluster link an announcement came over.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
	peer: String,
}

/// The cluster link a session is, as the `peer` label of `moq_relay_cluster_announcements_total`:
/// as many values as `[cluster] connect` entries, plus one, whatever the peers' hop ids.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Link {
	/// A link this relay dialed: its `[cluster] connect` entry (which never holds a credential).
	Dialed(String),
	/// A session a peer (or a client) opened to this relay.
	Accepted,
}

impl Link {
	fn label(&self) -> PeerLabel {
		PeerLabel {
			peer: match self {
				Self::Dialed(entry) => entry.clone(),
				Self::Accepted => "accepted".into(),
			},
		}
	}
}

/// How a declared metric is registered: a counter's family name is its exposed name without
/// `_total`, which the encoder appends to every counter sample.
trait Declared: Metric + Clone {
	fn family(exposed: &'static str) -> &'static str {
		exposed
	}
}

impl Declared for Level {}
impl Declared for Histogram {}
impl<S: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static> Declared
	for Histograms<S>
{
}

impl<S: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static> Declared
	for Family<S, Level>
{
}

impl Declared for Counter {
	fn family(exposed: &'static str) -> &'static str {
		exposed.strip_suffix("_total").unwrap_or(exposed)
	}
}

impl<S: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static> Declared
	for Family<S, Counter>
{
	fn family(exposed: &'static str) -> &'static str {
		<Counter as Declared>::family(exposed)
	}
}

/// Declares every metric once: `field: type = constructor, "exposed name", "help";`. The help gets
/// its full stop from the registry.
macro_rules! declare {
	($($field:ident: $kind:ty = $new:expr, $name:literal, $help:literal;)*) => {
		#[derive(Debug)]
		struct Declarations {
			$($field: $kind,)*
		}

		impl Declarations {
			/// Every exposed name, in declaration order.
			#[cfg(test)]
			const NAMES: &[&str] = &[$($name),*];

			fn register(registry: &mut Registry) -> Self {
				let declared = Self { $($field: $new,)* };
				$(registry.register(<$kind as Declared>::family($name), $help, declared.$field.clone());)*
				declared
			}
		}
	};
}

declare! {
	sessions: Level = Level::default(), "moq_relay_sessions", "Sessions open now";
	sessions_total: Counter = Counter::default(), "moq_relay_sessions_total", "Sessions accepted";
	tasks: Level = Level::default(), "moq_relay_tasks",
		"Tasks alive in the relay's runtime now (read when scraped): what open sessions and streams need, and back to its idle level when they closed";
	memory_trims: Counter = Counter::default(), "moq_relay_memory_trims_total",
		"Times the relay returned freed memory to the OS after its open sessions fell and held still";
	connections_pending: Level = Level::default(), "moq_relay_connections_pending",
		"Connections waiting for admission now (handshake, CONNECT, SETUP or the auth decision)";
	subscriptions: Level = Level::default(), "moq_relay_subscriptions", "Downstream subscriptions open now";
	frames_received: Counter = Counter::default(), "moq_relay_frames_received_total",
		"Frames received from publishers";
	bytes_received: Counter = Counter::default(), "moq_relay_bytes_received_total",
		"Payload bytes received from publishers";
	groups_received: Counter = Counter::default(), "moq_relay_groups_received_total",
		"Groups received from publishers";
	frames_sent: Counter = Counter::default(), "moq_relay_frames_sent_total", "Frames sent to subscribers";
	datagrams_received: Counter = Counter::default(), "moq_relay_datagrams_received_total",
		"Datagrams received from publishers for the relay's subscriptions";
	datagrams_sent: Counter = Counter::default(), "moq_relay_datagrams_sent_total",
		"Datagrams sent to subscribers";
	bytes_sent: Counter = Counter::default(), "moq_relay_bytes_sent_total", "Payload bytes sent to subscribers";
	groups_sent: Counter = Counter::default(), "moq_relay_groups_sent_total",
		"Groups completely sent to subscribers";
	groups_dropped: Counter = Counter::default(), "moq_relay_groups_dropped_total",
		"Groups dropped for subscribers that fell behind";
	subscriptions_total: Counter = Counter::default(), "moq_relay_subscriptions_total",
		"Downstream subscriptions accepted (from clients and cluster peers)";
	upstream_subscriptions_total: Counter = Counter::default(), "moq_relay_upstream_subscriptions_total",
		"Subscriptions this relay opened to publishers and peer relays";
	cluster_links: Level = Level::default(), "moq_relay_cluster_links",
		"Cluster links up now (dialed, and peers admitted with a cluster token)";
	cluster_routes: Level = Level::default(), "moq_relay_cluster_routes",
		"Routes to broadcasts learned from cluster peers";
	auth_refused: Family<Code, Counter> = Family::default(), "moq_relay_auth_refused_total",
		"Sessions refused, by error code";
	limit_refused: Family<Code, Counter> = Family::default(), "moq_relay_limit_refused_total",
		"Connections and requests refused by a limit, by code";
	requests_denied: Family<RequestLabel, Counter> = Family::default(), "moq_relay_requests_denied_total",
		"Requests of admitted sessions that their grant refused, by request (publish, subscribe), or whose AUTHORIZATION TOKEN did not verify (token)";
	cluster_announcements: Family<PeerLabel, Counter> = Family::default(),
		"moq_relay_cluster_announcements_total",
		"Announcements (start, restart, end) received from cluster peers, by link: peer is the [cluster] connect entry of a link this relay dialed, or accepted for links peers dialed";
	session_setup: Histogram = Histogram::new(SETUP_BUCKETS), "moq_relay_session_setup_seconds",
		"Seconds from a connection's first packet to its session's admission (handshake, SETUP, auth)";
	auth_decision: Histograms<Kind> = Family::new_with_constructor(|| Histogram::new(AUTH_BUCKETS)),
		"moq_relay_auth_decision_seconds",
		"Seconds a session's auth decision took, by what it was made from: kind is the verifier that decided (api_key, jwt, privacy_pass, auth_service), unrecognized (a credential no verifier recognized), public (no credential, anonymous grant), none (no credential, refused or challenged) or invalid (an unreadable or ambiguous credential)";
	auth_decisions: Family<Decision, Counter> = Family::default(), "moq_relay_auth_decisions_total",
		"Auth decisions (MoQ sessions and HTTP requests), by kind (as moq_relay_auth_decision_seconds) and outcome (granted, or the refusal code)";
	auth_service: Histograms<Outcome> = Family::new_with_constructor(|| Histogram::new(SERVICE_BUCKETS)),
		"moq_relay_auth_service_seconds",
		"Seconds a call to the auth service took, by outcome: allow, deny (4xx), error (5xx or an unusable answer) or unavailable (timeout, no connection, every call slot busy)";
	auth_service_cache: Family<Outcome, Counter> = Family::default(), "moq_relay_auth_service_cache_total",
		"Credentials for the auth service, by how they were answered: hit (a remembered allow), joined (an identical call already in flight) or miss (a new call)";
	api_key_grants: Family<KeyName, Counter> = Family::default(), "moq_relay_api_key_grants_total",
		"Sessions and requests granted by an API key, by the key's name";
	jwks_stale: Family<JwksLabel, Level> = Family::default(), "moq_relay_jwks_stale",
		"1 while a JWKS URL's last refresh failed and its last good key set is in use (or none was ever fetched), else 0, by URL";
	jwks_refreshes: Family<JwksOutcome, Counter> = Family::default(), "moq_relay_jwks_refreshes_total",
		"Scheduled refreshes of a JWKS URL, by URL and outcome (ok, failed)";
	frame_relay: Histogram = Histogram::new(RELAY_BUCKETS), "moq_relay_frame_relay_seconds",
		"Seconds from a frame's arrival from its publisher to its write to a subscriber, one observation per subscriber";
	subscriber_queue: Histogram = Histogram::new(QUEUE_BUCKETS), "moq_relay_subscriber_queue_groups",
		"Groups still being written to a subscriber when a new group is queued for it";
	cache_bytes: Level = Level::default(), "moq_relay_cache_bytes",
		"Bytes of frames the group caches hold now, groups readers still hold included (limits.max_cache bounds what the caches keep)";
	cache_evictions: Counter = Counter::default(), "moq_relay_cache_evictions_total",
		"Groups taken out of the caches, oldest first, to keep the total within limits.max_cache";
	quic_datagrams_dropped: Counter = Counter::default(), "moq_relay_quic_datagrams_dropped_total",
		"UDP datagrams the QUIC endpoints dropped because the connection they were for had limits.max_queued_datagrams waiting to be handled (a peer flooding its own connection; read when scraped)";
	quic_max_queued_datagrams: Level = Level::default(), "moq_relay_quic_max_queued_datagrams",
		"The bound the QUIC endpoints apply to each connection's queue of received datagrams (limits.max_queued_datagrams; read from the endpoints when scraped)";
}

/// The relay's metrics. Cheap to update from any task.
#[derive(Debug)]
pub struct Metrics {
	registry: Registry,
	declared: Declarations,
	/// Auth decisions by outcome (`granted` or the refusal code), for `/status.json`.
	outcomes: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
	started: std::time::Instant,
	/// The QUIC endpoints whose statistics a scrape reads ([`Metrics::read_endpoints`]).
	endpoints: std::sync::OnceLock<Vec<web_transport_quinn::quinn::Endpoint>>,
}

impl Default for Metrics {
	fn default() -> Self {
		let mut registry = Registry::default();
		let declared = Declarations::register(&mut registry);
		Self {
			registry,
			declared,
			outcomes: Default::default(),
			started: std::time::Instant::now(),
			endpoints: Default::default(),
		}
	}
}

/// What `/status.json` shows of the counters (`docs/browser.md`, "The demo page").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
	/// Seconds since the relay started.
	pub uptime: u64,
	/// Sessions open now.
	pub live: u64,
	/// Sessions accepted since the start.
	pub total: u64,
	/// Auth decisions granted (sessions and HTTP requests).
	pub admitted: u64,
	/// Auth decisions refused, by code.
	pub refused: std::collections::BTreeMap<&'static str, u64>,
}

/// Decrements a gauge when dropped.
#[derive(Debug)]
pub struct Guard<'a>(&'a Level);

impl Guard<'_> {
	fn hold(gauge: &Level) -> Guard<'_> {
		gauge.inc();
		Guard(gauge)
	}
}

impl Drop for Guard<'_> {
	fn drop(&mut self) {
		self.0.dec();
	}
}

impl Metrics {
	/// A session started; it ends when the guard drops.
	pub fn session_started(&self) -> Guard<'_> {
		self.declared.sessions_total.inc();
		Guard::hold(&self.declared.sessions)
	}

	/// A session was admitted `set_up` after its connection's first packet.
	pub fn session_admitted(&self, set_up: Duration) {
		self.declared.session_setup.observe(set_up.as_secs_f64());
	}

	/// A session's auth decision, made from `kind`, took `took`.
	pub fn auth_decided(&self, kind: CredentialKind, took: Duration) {
		let kind = Kind { kind: kind.as_str() };
		self.declared
			.auth_decision
			.get_or_create(&kind)
			.observe(took.as_secs_f64());
	}

	/// A decision by `kind`: granted (`refused` is `None`) or refused with that code.
	pub fn auth_outcome(&self, kind: CredentialKind, refused: Option<&'static str>) {
		let decision = Decision {
			kind: kind.as_str(),
			outcome: refused.unwrap_or("granted"),
		};
		self.declared.auth_decisions.get_or_create(&decision).inc();
		*self
			.outcomes
			.lock()
			.unwrap_or_else(|e| e.into_inner())
			.entry(decision.outcome)
			.or_default() += 1;
	}

	/// The counters `/status.json` shows.
	pub fn status(&self) -> Status {
		let mut refused = self.outcomes.lock().unwrap_or_else(|e| e.into_inner()).clone();
		let admitted = refused.remove("granted").unwrap_or(0);
		Status {
			uptime: self.started.elapsed().as_secs(),
			live: self.declared.sessions.get(),
			total: self.declared.sessions_total.get(),
			admitted,
			refused,
		}
	}

	/// A call to the auth service ended with `outcome` after `took`.
	pub fn auth_service_called(&self, outcome: &'static str, took: Duration) {
		self.declared
			.auth_service
			.get_or_create(&Outcome { outcome })
			.observe(took.as_secs_f64());
	}

	/// A credential for the auth service was answered from the cache (`hit`), by joining a call in
	/// flight (`joined`) or by a new call (`miss`).
	pub fn auth_service_cache(&self, outcome: &'static str) {
		self.declared
			.auth_service_cache
			.get_or_create(&Outcome { outcome })
			.inc();
	}

	/// The API key named `name` granted a session or request.
	pub fn api_key_granted(&self, name: &str) {
		self.declared
			.api_key_grants
			.get_or_create(&KeyName { name: name.to_string() })
			.inc();
	}

	/// A scheduled refresh of the JWKS at `url` went `ok` or not; `stale`: the last good set is in use.
	pub fn jwks_refreshed(&self, url: &str, ok: bool, stale: bool) {
		let outcome = if ok { "ok" } else { "failed" };
		self.declared
			.jwks_refreshes
			.get_or_create(&JwksOutcome {
				url: url.to_string(),
				outcome,
			})
			.inc();
		self.declared
			.jwks_stale
			.get_or_create(&JwksLabel { url: url.to_string() })
			.set(u64::from(stale));
	}

	/// A downstream subscription started; it ends when the guard drops.
	pub fn subscription_started(&self) -> Guard<'_> {
		self.declared.subscriptions_total.inc();
		Guard::hold(&self.declared.subscriptions)
	}

	/// The relay subscribed upstream (to a publisher or a peer relay).
	pub fn upstream_subscription(&self) {
		self.declared.upstream_subscriptions_total.inc();
	}

	/// A cluster link (dialed, or a peer admitted with a `cluster` token) is up until the guard drops.
	pub fn cluster_link_started(&self) -> Guard<'_> {
		Guard::hold(&self.declared.cluster_links)
	}

	/// A route learned from a cluster peer is held until the guard drops.
	pub fn cluster_route(&self) -> Guard<'_> {
		Guard::hold(&self.declared.cluster_routes)
	}

	/// An announcement (start, restart or end) arrived over this cluster link.
	pub fn cluster_announcement(&self, link: &Link) {
		self.declared.cluster_announcements.get_or_create(&link.label()).inc();
	}

	/// Cluster links up now.
	pub fn cluster_links(&self) -> u64 {
		self.declared.cluster_links.get()
	}

	/// A session was refused with this auth code.
	pub fn auth_refused(&self, code: &'static str) {
		self.declared.auth_refused.get_or_create(&Code { code }).inc();
	}

	/// How many connections wait for admission now.
	pub fn set_pending_connections(&self, pending: usize) {
		self.declared
			.connections_pending
			.set(u64::try_from(pending).unwrap_or(u64::MAX));
	}

	/// An admitted session's grant refused a request of this kind (`publish`, `subscribe`).
	pub fn request_denied(&self, request: &'static str) {
		self.declared
			.requests_denied
			.get_or_create(&RequestLabel { request })
			.inc();
	}

	/// A connection or request was refused by a limit with this code.
	pub fn limit_refused(&self, code: &'static str) {
		self.declared.limit_refused.get_or_create(&Code { code }).inc();
	}

	/// A frame of `bytes` arrived from a publisher.
	pub fn frame_received(&self, bytes: usize) {
		self.declared.frames_received.inc();
		self.declared.bytes_received.inc_by(bytes as u64);
	}

	/// A group started arriving from a publisher.
	pub fn group_received(&self) {
		self.declared.groups_received.inc();
	}

	/// A frame of `bytes` was written to a subscriber.
	pub fn frame_sent(&self, bytes: usize) {
		self.declared.frames_sent.inc();
		self.declared.bytes_sent.inc_by(bytes as u64);
	}

	/// A datagram of a subscription of the relay's arrived from its publisher (its payload's
	/// `bytes` count as received payload bytes).
	pub fn datagram_received(&self, bytes: usize) {
		self.declared.datagrams_received.inc();
		self.declared.bytes_received.inc_by(bytes as u64);
	}

	/// A datagram went to a subscriber (its payload's `bytes` count as sent payload bytes).
	pub fn datagram_sent(&self, bytes: usize) {
		self.declared.datagrams_sent.inc();
		self.declared.bytes_sent.inc_by(bytes as u64);
	}

	/// A frame's write to a subscriber completed `latency` after the frame arrived from its publisher.
	pub fn frame_relayed(&self, latency: Duration) {
		self.declared.frame_relay.observe(latency.as_secs_f64());
	}

	/// A group was queued for a subscriber while `in_flight` groups were still being written to it.
	pub fn group_queued(&self, in_flight: usize) {
		self.declared.subscriber_queue.observe(in_flight as f64);
	}

	/// A group was completely written to a subscriber.
	pub fn group_sent(&self) {
		self.declared.groups_sent.inc();
	}

	/// A group was dropped for a subscriber that fell behind.
	pub fn group_dropped(&self) {
		self.declared.groups_dropped.inc();
	}

	/// Handles the cache budget updates (`moq_relay_cache_bytes`, `moq_relay_cache_evictions_total`).
	pub fn cache_meters(&self) -> crate::origin::CacheMeters {
		crate::origin::CacheMeters {
			bytes: self.declared.cache_bytes.clone(),
			evictions: self.declared.cache_evictions.clone(),
		}
	}

	/// The relay's QUIC endpoints, whose statistics each scrape reads: what the patched quinn's
	/// bound on a connection's queue dropped (`vendor/quinn/PATCHED.md`). Set once; later calls
	/// change nothing. The handles keep the endpoints' drivers alive for as long as the metrics
	/// live, which is the relay's life.
	pub fn read_endpoints(&self, endpoints: &[web_transport_quinn::quinn::Endpoint]) {
		let _ = self.endpoints.set(endpoints.to_vec());
	}

	/// Sessions currently open.
	pub fn sessions_active(&self) -> u64 {
		self.declared.sessions.get()
	}

	/// The binary returned what its allocator held freed to the OS (`moq_relay_memory_trims_total`).
	pub fn memory_trimmed(&self) {
		self.declared.memory_trims.inc();
	}

	/// The Prometheus text exposition (format 0.0.4, [`CONTENT_TYPE`]).
	///
	/// `prometheus-client` encodes OpenMetrics text; for these metrics (no units, no exemplars) it
	/// differs from 0.0.4 only in a counter's `# HELP` and `# TYPE` lines, which name the family
	/// (`x`) where 0.0.4 names the samples (`x_total`), and in the `# EOF` line, which
	/// [`encode_registry`] leaves out. Errors come only from a label's encoding.
	pub fn render(&self) -> Result<String, std::fmt::Error> {
		if let Ok(runtime) = tokio::runtime::Handle::try_current() {
			let tasks = runtime.metrics().num_alive_tasks();
			self.declared.tasks.set(u64::try_from(tasks).unwrap_or(u64::MAX));
		}
		if let Some(endpoints) = self.endpoints.get() {
			let dropped = endpoints.iter().map(|e| e.stats().dropped_datagrams).sum();
			self.declared
				.quic_datagrams_dropped
				.inner()
				.store(dropped, std::sync::atomic::Ordering::Relaxed);
			let bound = endpoints.iter().map(|e| e.max_queued_datagrams()).max().unwrap_or(0);
			self.declared
				.quic_max_queued_datagrams
				.set(u64::try_from(bound).unwrap_or(u64::MAX));
		}
		let mut open_metrics = String::new();
		encode_registry(&mut open_metrics, &self.registry)?;
		let mut text = String::with_capacity(open_metrics.len() + 512);
		let mut lines = open_metrics.lines().peekable();
		while let Some(line) = lines.next() {
			if let Some((name, help)) = line.strip_prefix("# HELP ").and_then(|rest| rest.split_once(' '))
				&& lines.peek() == Some(&format!("# TYPE {name} counter").as_str())
			{
				lines.next();
				text.push_str(&format!("# HELP {name}_total {help}\n# TYPE {name}_total counter\n"));
				continue;
			}
			text.push_str(line);
			text.push('\n');
		}
		Ok(text)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn scrape(metrics: &Metrics) -> prometheus_parse::Scrape {
		let text = metrics.render().unwrap();
		prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
	}

	fn value(
		scrape: &prometheus_parse::Scrape,
		name: &str,
		labels: &[(&str, &str)],
	) -> Option<prometheus_parse::Value> {
		scrape
			.samples
			.iter()
			.find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
			.map(|s| s.value.clone())
	}

	#[test]
	fn gauges_follow_their_guards() {
		use prometheus_parse::Value::{Counter, Gauge};
		let metrics = Metrics::default();
		let session = metrics.session_started();
		let other = metrics.session_started();
		let subscription = metrics.subscription_started();
		let link = metrics.cluster_link_started();
		let route = metrics.cluster_route();
		let s = scrape(&metrics);
		assert_eq!(value(&s, "moq_relay_sessions", &[]), Some(Gauge(2.0)));
		assert_eq!(value(&s, "moq_relay_sessions_total", &[]), Some(Counter(2.0)));
		assert_eq!(value(&s, "moq_relay_subscriptions", &[]), Some(Gauge(1.0)));
		assert_eq!(value(&s, "moq_relay_cluster_links", &[]), Some(Gauge(1.0)));
		assert_eq!(value(&s, "moq_relay_cluster_routes", &[]), Some(Gauge(1.0)));
		assert_eq!(metrics.cluster_links(), 1);

		drop(other);
		assert_eq!(metrics.sessions_active(), 1);
		drop((session, subscription, link, route));
		let s = scrape(&metrics);
		for gauge in [
			"moq_relay_sessions",
			"moq_relay_subscriptions",
			"moq_relay_cluster_links",
			"moq_relay_cluster_routes",
		] {
			assert_eq!(value(&s, gauge, &[]), Some(Gauge(0.0)), "{gauge}");
		}
		// The totals stay.
		assert_eq!(value(&s, "moq_relay_sessions_total", &[]), Some(Counter(2.0)));
		assert_eq!(value(&s, "moq_relay_subscriptions_total", &[]), Some(Counter(1.0)));
		assert_eq!(metrics.sessions_active(), 0);
	}

	#[test]
	fn counters_and_labels_render_in_the_text_format() {
		use prometheus_parse::Value::{Counter, Gauge};
		let metrics = Metrics::default();
		metrics.frame_sent(10);
		metrics.frame_sent(5);
		metrics.auth_refused("missing_credential");
		metrics.limit_refused("setup_timeout");
		metrics.limit_refused("setup_timeout");
		metrics.set_pending_connections(3);
		metrics.cluster_announcement(&Link::Dialed("http://127.0.0.1:4443/".into()));
		metrics.cluster_announcement(&Link::Accepted);
		metrics.cluster_announcement(&Link::Accepted);
		let text = metrics.render().unwrap();
		// The 0.0.4 text format: a counter's TYPE names its samples, and there is no `# EOF`.
		assert!(text.contains("# TYPE moq_relay_bytes_sent_total counter\n"), "{text}");
		assert!(
			text.contains("# HELP moq_relay_sessions Sessions open now.\n"),
			"{text}"
		);
		assert!(!text.contains("# EOF"), "{text}");
		let s = scrape(&metrics);
		assert_eq!(value(&s, "moq_relay_bytes_sent_total", &[]), Some(Counter(15.0)));
		assert_eq!(value(&s, "moq_relay_frames_sent_total", &[]), Some(Counter(2.0)));
		assert_eq!(
			value(&s, "moq_relay_auth_refused_total", &[("code", "missing_credential")]),
			Some(Counter(1.0))
		);
		assert_eq!(
			value(&s, "moq_relay_limit_refused_total", &[("code", "setup_timeout")]),
			Some(Counter(2.0))
		);
		assert_eq!(value(&s, "moq_relay_connections_pending", &[]), Some(Gauge(3.0)));
		assert_eq!(
			value(
				&s,
				"moq_relay_cluster_announcements_total",
				&[("peer", "http://127.0.0.1:4443/")]
			),
			Some(Counter(1.0))
		);
		assert_eq!(
			value(&s, "moq_relay_cluster_announcements_total", &[("peer", "accepted")]),
			Some(Counter(2.0))
		);
	}

	#[test]
	fn histograms_count_observations_in_their_buckets() {
		use prometheus_parse::{HistogramCount, Value};
		let metrics = Metrics::default();
		metrics.session_admitted(Duration::from_millis(30));
		metrics.auth_decided(CredentialKind::Jwt, Duration::from_micros(200));
		metrics.auth_decided(CredentialKind::Public, Duration::from_micros(20));
		metrics.frame_relayed(Duration::from_millis(2));
		metrics.group_queued(0);
		metrics.group_queued(3);
		let s = scrape(&metrics);
		let buckets = |name: &str, labels: &[(&str, &str)]| match value(&s, name, labels) {
			Some(Value::Histogram(buckets)) => buckets,
			other => panic!("{name}: {other:?}"),
		};
		let at = |buckets: &[HistogramCount], le: f64| {
			buckets
				.iter()
				.find(|b| b.less_than == le)
				.map(|b| b.count)
				.unwrap_or_else(|| panic!("no bucket {le}"))
		};
		let setup = buckets("moq_relay_session_setup_seconds", &[]);
		assert_eq!(
			(at(&setup, 0.025), at(&setup, 0.05), at(&setup, f64::INFINITY)),
			(0.0, 1.0, 1.0)
		);
		let jwt = buckets("moq_relay_auth_decision_seconds", &[("kind", "jwt")]);
		assert_eq!((at(&jwt, 0.0001), at(&jwt, 0.00025)), (0.0, 1.0));
		let public = buckets("moq_relay_auth_decision_seconds", &[("kind", "public")]);
		assert_eq!(at(&public, 0.0001), 1.0);
		let relay = buckets("moq_relay_frame_relay_seconds", &[]);
		assert_eq!((at(&relay, 0.001), at(&relay, 0.0025)), (0.0, 1.0));
		let queue = buckets("moq_relay_subscriber_queue_groups", &[]);
		assert_eq!((at(&queue, 0.0), at(&queue, 2.0), at(&queue, 3.0)), (1.0, 1.0, 2.0));
		assert_eq!(
			value(&s, "moq_relay_subscriber_queue_groups_count", &[]),
			Some(Value::Untyped(2.0))
		);
	}

	/// Every declared name is exposed as declared (a counter's `_total` included), with its help.
	#[test]
	fn every_declared_name_is_exposed() {
		let metrics = Metrics::default();
		// Families show once they have a label value.
		metrics.auth_refused("x");
		metrics.limit_refused("x");
		metrics.request_denied("publish");
		metrics.cluster_announcement(&Link::Accepted);
		metrics.auth_decided(CredentialKind::None, Duration::ZERO);
		metrics.auth_outcome(CredentialKind::ApiKey, None);
		metrics.auth_service_called("allow", Duration::from_millis(2));
		metrics.auth_service_cache("hit");
		metrics.api_key_granted("ops");
		metrics.jwks_refreshed("https://idp.example/jwks", false, true);
		let text = metrics.render().unwrap();
		let s = scrape(&metrics);
		for name in Declarations::NAMES {
			assert!(s.docs.contains_key(*name), "no HELP for {name}: {text}");
			assert!(
				s.samples.iter().any(|sample| sample.metric == *name),
				"no sample named {name}: {text}"
			);
		}
	}
}
