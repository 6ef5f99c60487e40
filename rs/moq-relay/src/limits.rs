//! What one client may hold, and the table that enforces it before a session is admitted.
//!
//! A relay is a public server: every byte it keeps for a client and every connection it keeps open
//! is a lever for that client. Before admission a client has proven nothing, so it gets little: a
//! small connection receive window (all of its streams together cannot make the relay buffer
//! more), a few streams, a bounded time for each handshake step, and a place in a bounded table of
//! pending connections, in total and per address. Only an admitted session gets the windows and
//! stream allowance it needs to publish and subscribe. When a bound is reached the newcomer is
//! refused, never a session already served. `docs/reliability.md` has the table of limits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::Metrics;
use crate::origin::CachePolicy;

/// Every limit, resolved from `[limits]` (see [`crate::config::LimitsConfig`] for the defaults).
#[derive(Clone, Debug)]
pub struct Limits {
	/// How long a QUIC handshake plus, on WebTransport, its HTTP/3 CONNECT may take.
	pub handshake_timeout: Duration,
	/// How long a client may take to send its SETUP once connected.
	pub setup_timeout: Duration,
	/// HTTP on TCP: how long until the first byte, the TLS handshake, and each request's headers;
	/// also the longest idle keep-alive, a JSON route's wait for its request body, and the longest
	/// a response's write may wait for the client to read.
	pub http_timeout: Duration,
	/// QUIC connections open at once, admitted or not.
	pub max_connections: usize,
	/// QUIC connections not yet admitted (in a handshake, or waiting for SETUP or a decision).
	pub max_pending: usize,
	/// Of those, from one address (an IPv6 /64 counts as one address).
	pub max_pending_per_ip: usize,
	/// Admitted sessions from one address (an IPv6 /64 counts as one address).
	pub max_sessions_per_ip: usize,
	/// New QUIC connections (handshakes) one address may start per second, after a burst of ten
	/// times as many.
	pub handshake_rate: u32,
	/// HTTP connections open at once; over it a new connection is closed at once.
	pub max_http_connections: usize,
	/// Of those, from one address (an IPv6 /64 counts as one address).
	pub max_http_connections_per_ip: usize,
	/// Bytes a connection may have in flight to the relay, over all its streams, before admission.
	pub pending_window: u64,
	/// The same for an admitted session.
	pub session_window: u64,
	/// Bytes of incoming datagrams buffered per connection (moq-lite sends none; the oldest are
	/// dropped past this).
	pub datagram_buffer: usize,
	/// UDP datagrams received for one connection that may wait for it to handle them; the QUIC
	/// endpoint drops more (a peer flooding its own connection).
	pub max_queued_datagrams: usize,
	/// The longest broadcast path or track name a peer may announce or ask for, in bytes.
	pub max_path: usize,
	/// Broadcasts one session may have announced at once.
	pub max_broadcasts: usize,
	/// New subscriptions one session may start per second, after a burst of ten times as many: each
	/// may cost an upstream subscription to a publisher, so a client cycling bogus track names cannot
	/// flood publishers, while a player opening a few hundred tracks at once is served.
	pub subscribe_rate: u32,
	/// Failed credentials one address may present in a minute before its cool-down.
	pub auth_failures: u32,
	/// How long an address that failed too often is refused (`too_many_attempts`).
	pub auth_cooldown: Duration,
	/// The largest control message (SETUP, ANNOUNCE, SUBSCRIBE, …) a peer may send, in bytes.
	pub max_message: usize,
	/// Bytes of unfinished control messages one session's streams may hold together.
	pub max_control_buffer: usize,
	/// The largest frame a publisher may send, judged from its header before the payload is read
	/// (`FRAME_TOO_LARGE`). A group's total is bounded by `cache.max_group_bytes` the same way
	/// (`GROUP_TOO_LARGE`).
	pub max_frame: usize,
	/// Per subscriber: how many groups may be in flight at once. When a newer group arrives
	/// beyond this, the oldest in-flight group is reset, so a slow subscriber sheds backlog
	/// instead of stalling anyone or growing memory.
	pub max_inflight_groups: usize,
	/// The cache policy (its max age is also the upstream Max Age asked for).
	pub cache: CachePolicy,
}

impl Default for Limits {
	fn default() -> Self {
		Self {
			handshake_timeout: Duration::from_secs(10),
			setup_timeout: Duration::from_secs(10),
			http_timeout: Duration::from_secs(10),
			max_connections: 10_000,
			max_pending: 1_000,
			max_pending_per_ip: 50,
			max_sessions_per_ip: 2_000,
			handshake_rate: 50,
			max_http_connections: 1_000,
			max_http_connections_per_ip: 100,
			pending_window: 64 * 1024,
			session_window: 16 * 1024 * 1024,
			datagram_buffer: 64 * 1024,
			max_queued_datagrams: 1024,
			max_path: 1024,
			max_broadcasts: 1_000,
			subscribe_rate: 100,
			auth_failures: 20,
			auth_cooldown: Duration::from_secs(60),
			max_message: 64 * 1024,
			max_control_buffer: 1024 * 1024,
			max_frame: 16 * 1024 * 1024,
			max_inflight_groups: 4,
			cache: CachePolicy::default(),
		}
	}
}

/// Streams of each direction a connection may open before it is admitted: a raw QUIC client
/// needs one (its SETUP); a WebTransport client needs its HTTP/3 control and QPACK streams and
/// the CONNECT. Admission raises it to the transport's [`crate::transport::Session::client_streams`].
pub const PENDING_STREAMS: u32 = 8;

/// Why a connection or session was refused by a limit. [`LimitError::code`] is the stable code
/// (in the close reason and in `moq_relay_connections_refused_total{code}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
	/// `limits.max_connections` connections are open.
	#[error("the relay has its maximum of connections open ([limits] max_connections): try again later")]
	TooManyConnections,
	/// `limits.max_pending` connections are waiting for admission.
	#[error("too many connections are waiting for admission ([limits] max_pending): try again later")]
	TooManyPending,
	/// `limits.max_pending_per_ip` connections from this address are waiting for admission.
	#[error("too many connections from this address are waiting for admission ([limits] max_pending_per_ip)")]
	TooManyPendingFromIp,
	/// This address started more than `limits.handshake_rate` connections a second (past the burst).
	#[error("too many new connections from this address ([limits] handshake_rate): slow down and retry")]
	TooManyHandshakesFromIp,
	/// `limits.max_sessions_per_ip` sessions from this address are open.
	#[error("too many sessions from this address are open ([limits] max_sessions_per_ip): close some first")]
	TooManySessionsFromIp,
	/// The QUIC handshake or the WebTransport CONNECT did not finish within `limits.handshake_timeout`.
	#[error("the handshake did not finish in time ([limits] handshake_timeout)")]
	HandshakeTimeout,
	/// No SETUP arrived within `limits.setup_timeout`.
	#[error("no SETUP arrived in time ([limits] setup_timeout): send SETUP right after connecting")]
	SetupTimeout,
	/// `limits.max_http_connections` HTTP connections are open.
	#[error("the relay has its maximum of HTTP connections open ([limits] max_http_connections): try again later")]
	TooManyHttpConnections,
	/// `limits.max_http_connections_per_ip` HTTP connections from this address are open.
	#[error(
		"too many HTTP connections from this address are open ([limits] max_http_connections_per_ip): close some first"
	)]
	TooManyHttpConnectionsFromIp,
}

impl LimitError {
	/// The stable code.
	pub fn code(self) -> &'static str {
		match self {
			Self::TooManyConnections => "too_many_connections",
			Self::TooManyPending => "too_many_pending",
			Self::TooManyPendingFromIp => "too_many_pending_from_ip",
			Self::TooManySessionsFromIp => "too_many_sessions_from_ip",
			Self::TooManyHandshakesFromIp => "too_many_handshakes_from_ip",
			Self::HandshakeTimeout => "handshake_timeout",
			Self::SetupTimeout => "setup_timeout",
			Self::TooManyHttpConnections => "too_many_http_connections",
			Self::TooManyHttpConnectionsFromIp => "too_many_http_connections_from_ip",
		}
	}
}

/// The address limits count by: IPv4 as is (also when IPv4-mapped), IPv6 by its /64, since one
/// host commonly holds a whole /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
	match ip {
		IpAddr::V4(v4) => IpAddr::V4(v4),
		IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
			Some(v4) => IpAddr::V4(v4),
			None => {
				let bits = u128::from(v6) & !((1u128 << 64) - 1);
				IpAddr::V6(bits.into())
			}
		},
	}
}

#[derive(Debug, Default)]
struct Counts {
	pending: usize,
	sessions: usize,
}

#[derive(Debug, Default)]
struct State {
	total: usize,
	pending: usize,
	by_ip: HashMap<IpAddr, Counts>,
	/// The handshake rate of each address that started one recently.
	handshakes: HashMap<IpAddr, Rate>,
	/// The size of `handshakes` at which it is next pruned.
	prune_at: usize,
}

/// The QUIC connections open now, by address: what [`Limits`] bounds.
#[derive(Debug)]
pub struct Connections {
	limits: Limits,
	metrics: Arc<Metrics>,
	state: Mutex<State>,
}

impl Connections {
	/// An empty table enforcing `limits`.
	pub fn new(limits: Limits, metrics: Arc<Metrics>) -> Arc<Self> {
		Arc::new(Self {
			limits,
			metrics,
			state: Mutex::new(State::default()),
		})
	}

	fn state(&self) -> std::sync::MutexGuard<'_, State> {
		self.state.lock().unwrap_or_else(|e| e.into_inner())
	}

	/// A new connection from `ip` at `now`: pending until [`Ticket::admit`], counted until the
	/// ticket drops.
	pub fn open(self: &Arc<Self>, ip: IpAddr, now: tokio::time::Instant) -> Result<Ticket, LimitError> {
		let ip = address_key(ip);
		let mut state = self.state();
		if state.total >= self.limits.max_connections {
			return Err(LimitError::TooManyConnections);
		}
		if state.pending >= self.limits.max_pending {
			return Err(LimitError::TooManyPending);
		}
		if !self.handshake(&mut state, ip, now) {
			return Err(LimitError::TooManyHandshakesFromIp);
		}
		let counts = state.by_ip.entry(ip).or_default();
		if counts.pending >= self.limits.max_pending_per_ip {
			return Err(LimitError::TooManyPendingFromIp);
		}
		counts.pending += 1;
		state.pending += 1;
		state.total += 1;
		self.metrics.set_pending_connections(state.pending);
		Ok(Ticket {
			table: self.clone(),
			ip,
			remote: None,
			admitted: false,
		})
	}

	/// Takes a handshake token of `ip` at `now`. The table of rates stays bounded by the addresses
	/// that started a connection within the last burst: whenever it has doubled since it was last
	/// pruned (and holds at least 1024), the addresses whose bucket has refilled are forgotten (they
	/// owe nothing, so forgetting them changes no decision), which costs O(1) per handshake over time.
	fn handshake(&self, state: &mut State, ip: IpAddr, now: tokio::time::Instant) -> bool {
		let rate = self.limits.handshake_rate;
		if state.handshakes.len() >= state.prune_at.max(1024) {
			state.handshakes.retain(|_, bucket| !bucket.is_full(now));
			state.prune_at = state.handshakes.len().saturating_mul(2);
		}
		state
			.handshakes
			.entry(ip)
			.or_insert_with(|| Rate::new(rate, rate.saturating_mul(10), now))
			.take(now)
	}

	/// (connections, pending) open now.
	pub fn counts(&self) -> (usize, usize) {
		let state = self.state();
		(state.total, state.pending)
	}
}

/// One connection's place in [`Connections`].
#[derive(Debug)]
pub struct Ticket {
	table: Arc<Connections>,
	ip: IpAddr,
	/// The peer's address and port, as the auth server of `[auth] url` is told (`remote`).
	remote: Option<std::net::SocketAddr>,
	admitted: bool,
}

impl Ticket {
	/// The address it counts for (IPv6 by its /64).
	pub fn address(&self) -> IpAddr {
		self.ip
	}

	/// The ticket of a connection from `remote` (its full address and port).
	pub fn with_remote(mut self, remote: std::net::SocketAddr) -> Self {
		self.remote = Some(remote);
		self
	}

	/// The peer's address and port, when the listener knew it.
	pub fn remote(&self) -> Option<std::net::SocketAddr> {
		self.remote
	}

	/// The connection became an admitted session: it leaves the pending count and takes a
	/// session place of its address, if one is free.
	pub fn admit(&mut self) -> Result<(), LimitError> {
		if self.admitted {
			return Ok(());
		}
		let table = &self.table;
		let mut state = table.state();
		let counts = state.by_ip.entry(self.ip).or_default();
		if counts.sessions >= table.limits.max_sessions_per_ip {
			return Err(LimitError::TooManySessionsFromIp);
		}
		counts.sessions += 1;
		counts.pending -= 1;
		state.pending -= 1;
		self.admitted = true;
		table.metrics.set_pending_connections(state.pending);
		Ok(())
	}
}

impl Drop for Ticket {
	fn drop(&mut self) {
		let table = &self.table;
		let mut state = table.state();
		state.total -= 1;
		if !self.admitted {
			state.pending -= 1;
		}
		if let Some(counts) = state.by_ip.get_mut(&self.ip) {
			if self.admitted {
				counts.sessions -= 1;
			} else {
				counts.pending -= 1;
			}
			if counts.pending == 0 && counts.sessions == 0 {
				state.by_ip.remove(&self.ip);
			}
		}
		table.metrics.set_pending_connections(state.pending);
	}
}

/// The HTTP connections open now, by address (`[limits] max_http_connections` and
/// `max_http_connections_per_ip`): a connection holds its place from `accept` until it closes,
/// or until it becomes a WebSocket session, which [`Connections`] counts from then on.
#[derive(Debug)]
pub struct HttpConnections {
	max: usize,
	max_per_ip: usize,
	state: Mutex<HttpState>,
}

#[derive(Debug, Default)]
struct HttpState {
	total: usize,
	by_ip: HashMap<IpAddr, usize>,
}

impl HttpConnections {
	/// An empty table: at most `max` connections, `max_per_ip` of them from one address.
	pub fn new(max: usize, max_per_ip: usize) -> Arc<Self> {
		Arc::new(Self {
			max: max.max(1),
			max_per_ip: max_per_ip.max(1),
			state: Mutex::new(HttpState::default()),
		})
	}

	fn state(&self) -> std::sync::MutexGuard<'_, HttpState> {
		self.state.lock().unwrap_or_else(|e| e.into_inner())
	}

	/// A new connection from `ip`: its place, held until the place drops.
	pub fn open(self: &Arc<Self>, ip: IpAddr) -> Result<HttpPlace, LimitError> {
		let ip = address_key(ip);
		let mut state = self.state();
		if state.total >= self.max {
			return Err(LimitError::TooManyHttpConnections);
		}
		let count = state.by_ip.entry(ip).or_default();
		if *count >= self.max_per_ip {
			return Err(LimitError::TooManyHttpConnectionsFromIp);
		}
		*count += 1;
		state.total += 1;
		Ok(HttpPlace {
			table: self.clone(),
			ip,
			left: std::sync::atomic::AtomicBool::new(false),
		})
	}

	/// HTTP connections open now, and the addresses they come from.
	pub fn counts(&self) -> (usize, usize) {
		let state = self.state();
		(state.total, state.by_ip.len())
	}
}

/// One HTTP connection's place in [`HttpConnections`], given back when it drops or, earlier, at
/// [`HttpPlace::leave`] (a WebSocket upgrade: before its 101 is written, so a client that has its
/// answer finds the place free for its next connection).
#[derive(Debug)]
pub struct HttpPlace {
	table: Arc<HttpConnections>,
	ip: IpAddr,
	left: std::sync::atomic::AtomicBool,
}

impl HttpPlace {
	/// Gives the place back now; once only, however often it is called.
	pub fn leave(&self) {
		if self.left.swap(true, std::sync::atomic::Ordering::Relaxed) {
			return;
		}
		let mut state = self.table.state();
		state.total -= 1;
		if let Some(count) = state.by_ip.get_mut(&self.ip) {
			*count -= 1;
			if *count == 0 {
				state.by_ip.remove(&self.ip);
			}
		}
	}
}

impl Drop for HttpPlace {
	fn drop(&mut self) {
		self.leave();
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn table(limits: Limits) -> Arc<Connections> {
		Connections::new(limits, Arc::new(Metrics::default()))
	}

	fn ip(s: &str) -> IpAddr {
		s.parse().unwrap()
	}

	fn now() -> tokio::time::Instant {
		tokio::time::Instant::now()
	}

	#[test]
	fn handshakes_per_address_are_rate_limited_after_a_burst() {
		let table = table(Limits {
			handshake_rate: 2,
			..Limits::default()
		});
		let start = now();
		// A burst of ten times the rate, each dropped at once (a refused or failed handshake).
		for _ in 0..20 {
			drop(table.open(ip("10.0.0.1"), start).unwrap());
		}
		assert_eq!(
			table.open(ip("10.0.0.1"), start).unwrap_err(),
			LimitError::TooManyHandshakesFromIp
		);
		assert_eq!(
			LimitError::TooManyHandshakesFromIp.code(),
			"too_many_handshakes_from_ip"
		);
		// Another address is not affected, and the rate refills.
		drop(table.open(ip("10.0.0.2"), start).unwrap());
		let later = start + std::time::Duration::from_millis(500);
		drop(table.open(ip("10.0.0.1"), later).unwrap());
		assert!(table.open(ip("10.0.0.1"), later).is_err());
	}

	#[test]
	fn the_rate_table_forgets_addresses_that_owe_nothing() {
		let table = table(Limits {
			max_connections: 10,
			..Limits::default()
		});
		let start = now();
		for n in 0..5000u32 {
			drop(table.open(IpAddr::V4(n.into()), start).unwrap());
		}
		// A minute later, 5000 other addresses: the first 5000 have refilled and are forgotten.
		let later = start + std::time::Duration::from_secs(60);
		for n in 10_000..15_000u32 {
			drop(table.open(IpAddr::V4(n.into()), later).unwrap());
		}
		let held = table.state().handshakes.len();
		assert!(held <= 5000 + 1024, "{held} addresses held");
	}

	#[test]
	fn pending_per_address_is_bounded_and_freed() {
		let table = table(Limits {
			max_pending_per_ip: 2,
			..Limits::default()
		});
		let a = table.open(ip("10.0.0.1"), now()).unwrap();
		let _b = table.open(ip("10.0.0.1"), now()).unwrap();
		assert_eq!(
			table.open(ip("10.0.0.1"), now()).unwrap_err(),
			LimitError::TooManyPendingFromIp
		);
		// Another address is not affected.
		let _c = table.open(ip("10.0.0.2"), now()).unwrap();
		drop(a);
		let _d = table.open(ip("10.0.0.1"), now()).unwrap();
		assert_eq!(table.counts(), (3, 3));
	}

	#[test]
	fn admission_frees_the_pending_place_and_counts_sessions() {
		let table = table(Limits {
			max_pending_per_ip: 1,
			max_sessions_per_ip: 1,
			..Limits::default()
		});
		let mut first = table.open(ip("10.0.0.1"), now()).unwrap();
		first.admit().unwrap();
		assert_eq!(table.counts(), (1, 0));
		let mut second = table.open(ip("10.0.0.1"), now()).unwrap();
		assert_eq!(second.admit().unwrap_err(), LimitError::TooManySessionsFromIp);
		// Refused admission leaves it pending until it drops.
		assert_eq!(table.counts(), (2, 1));
		drop(second);
		drop(first);
		assert_eq!(table.counts(), (0, 0));
		assert!(
			table.state().by_ip.is_empty(),
			"no address is remembered once its connections are gone"
		);
	}

	#[test]
	fn totals_are_bounded() {
		let table = table(Limits {
			max_connections: 2,
			max_pending: 1,
			..Limits::default()
		});
		let mut a = table.open(ip("10.0.0.1"), now()).unwrap();
		assert_eq!(
			table.open(ip("10.0.0.2"), now()).unwrap_err(),
			LimitError::TooManyPending
		);
		a.admit().unwrap();
		let _b = table.open(ip("10.0.0.2"), now()).unwrap();
		assert_eq!(
			table.open(ip("10.0.0.3"), now()).unwrap_err(),
			LimitError::TooManyConnections
		);
	}

	#[test]
	fn http_connections_are_bounded_in_total_and_per_address_and_freed() {
		let table = HttpConnections::new(3, 2);
		let a = table.open(ip("10.0.0.1")).unwrap();
		let _b = table.open(ip("10.0.0.1")).unwrap();
		assert_eq!(
			table.open(ip("10.0.0.1")).unwrap_err(),
			LimitError::TooManyHttpConnectionsFromIp
		);
		// Another address is not held to the first one's bound, only to the total.
		let _c = table.open(ip("2001:db8::1")).unwrap();
		assert_eq!(
			table.open(ip("10.0.0.2")).unwrap_err(),
			LimitError::TooManyHttpConnections
		);
		drop(a);
		let _d = table.open(ip("10.0.0.1")).unwrap();
		drop(_c);
		let _e = table.open(ip("2001:db8::2")).unwrap();
		assert_eq!(
			table.open(ip("2001:db8::3")).unwrap_err(),
			LimitError::TooManyHttpConnections
		);
		drop((_b, _d, _e));
		assert_eq!(
			table.counts(),
			(0, 0),
			"no address is remembered once its connections are gone"
		);
		assert_eq!(
			LimitError::TooManyHttpConnectionsFromIp.code(),
			"too_many_http_connections_from_ip"
		);
	}

	#[test]
	fn an_http_place_left_early_is_given_back_once() {
		let table = HttpConnections::new(10, 1);
		let upgraded = table.open(ip("10.0.0.1")).unwrap();
		let other = table.open(ip("10.0.0.2")).unwrap();
		upgraded.leave();
		assert_eq!(table.counts(), (1, 1), "left at the upgrade");
		let next = table.open(ip("10.0.0.1")).expect("its address may connect again");
		upgraded.leave();
		drop(upgraded);
		assert_eq!(
			table.counts(),
			(2, 2),
			"leaving again or dropping it frees nothing more"
		);
		drop((next, other));
		assert_eq!(table.counts(), (0, 0));
	}

	#[test]
	fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
		assert_eq!(address_key(ip("2001:db8::1")), address_key(ip("2001:db8::ffff:1")));
		assert_ne!(address_key(ip("2001:db8::1")), address_key(ip("2001:db8:0:1::1")));
		assert_eq!(address_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
		let table = table(Limits {
			max_pending_per_ip: 1,
			..Limits::default()
		});
		let _a = table.open(ip("2001:db8::1"), now()).unwrap();
		assert_eq!(
			table.open(ip("2001:db8::2"), now()).unwrap_err(),
			LimitError::TooManyPendingFromIp
		);
	}
}

/// A token bucket: `rate` tokens a second, at most `burst` held. Time is passed in, so it is the
/// caller's clock (tokio's in the relay, paused in tests).
#[derive(Debug)]
pub struct Rate {
	rate: f64,
	burst: f64,
	tokens: f64,
	at: tokio::time::Instant,
}

impl Rate {
	/// A full bucket at `now`.
	pub fn new(rate: u32, burst: u32, now: tokio::time::Instant) -> Self {
		let burst = f64::from(burst.max(1));
		Self {
			rate: f64::from(rate.max(1)),
			burst,
			tokens: burst,
			at: now,
		}
	}

	/// Whether the bucket would be full at `now` (nothing taken is still owed).
	pub fn is_full(&self, now: tokio::time::Instant) -> bool {
		let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
		self.tokens + elapsed * self.rate >= self.burst
	}

	/// Takes one token at `now`, if there is one.
	pub fn take(&mut self, now: tokio::time::Instant) -> bool {
		let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
		self.at = now;
		self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
		if self.tokens >= 1.0 {
			self.tokens -= 1.0;
			true
		} else {
			false
		}
	}
}

#[cfg(test)]
mod rate_tests {
	use std::time::Duration;

	use super::Rate;

	#[test]
	fn the_burst_can_exceed_the_rate() {
		let start = tokio::time::Instant::now();
		let mut rate = Rate::new(10, 100, start);
		assert_eq!((0..150).filter(|_| rate.take(start)).count(), 100);
		assert_eq!(
			(0..150).filter(|_| rate.take(start + Duration::from_secs(1))).count(),
			10
		);
	}

	#[test]
	fn a_burst_then_the_rate() {
		let start = tokio::time::Instant::now();
		let mut rate = Rate::new(10, 10, start);
		assert_eq!((0..20).filter(|_| rate.take(start)).count(), 10, "the burst");
		assert!(!rate.take(start + Duration::from_millis(50)));
		assert!(rate.take(start + Duration::from_millis(100)), "one token per 100 ms");
		assert_eq!(
			(0..30).filter(|_| rate.take(start + Duration::from_secs(60))).count(),
			10,
			"never more than a burst"
		);
	}
}

/// Failed credentials by address: past `limits.auth_failures` in a minute, the address is refused
/// for `limits.auth_cooldown` (`too_many_attempts`), so a client cannot guess tokens or flood the
/// verifiers (and the services behind them). Addresses count as in [`address_key`]. Bounded: at
/// most [`AuthThrottle::MAX_ADDRESSES`] are remembered, the idle ones forgotten first.
#[derive(Debug)]
pub struct AuthThrottle {
	max_failures: u32,
	cooldown: Duration,
	state: Mutex<HashMap<IpAddr, Attempts>>,
}

#[derive(Debug)]
struct Attempts {
	/// Start of the current one-minute window and the failures in it.
	since: tokio::time::Instant,
	failures: u32,
	blocked_until: Option<tokio::time::Instant>,
}

impl AuthThrottle {
	/// Addresses remembered at most.
	pub const MAX_ADDRESSES: usize = 65_536;
	/// The longest cool-down: a larger `limits.auth_cooldown` is taken as this (a year), so that
	/// the moment it ends can always be computed.
	pub const MAX_COOLDOWN: Duration = Duration::from_secs(365 * 24 * 3600);
	const WINDOW: Duration = Duration::from_secs(60);

	/// A throttle from `limits`.
	pub fn new(limits: &Limits) -> Self {
		Self {
			max_failures: limits.auth_failures.max(1),
			cooldown: limits.auth_cooldown.min(Self::MAX_COOLDOWN),
			state: Mutex::new(HashMap::new()),
		}
	}

	fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Attempts>> {
		self.state.lock().unwrap_or_else(|e| e.into_inner())
	}

	/// Whether `ip` may present a credential at `now`.
	pub fn allows(&self, ip: IpAddr, now: tokio::time::Instant) -> bool {
		let state = self.lock();
		!matches!(state.get(&address_key(ip)), Some(Attempts { blocked_until: Some(until), .. }) if *until > now)
	}

	/// `ip` presented a credential that was refused at `now`.
	pub fn failed(&self, ip: IpAddr, now: tokio::time::Instant) {
		let mut state = self.lock();
		if state.len() >= Self::MAX_ADDRESSES {
			state.retain(|_, a| {
				a.blocked_until.is_some_and(|until| until > now) || now.duration_since(a.since) < Self::WINDOW
			});
		}
		if state.len() >= Self::MAX_ADDRESSES {
			// Every remembered address is active: this failure is not counted (the credential was
			// refused all the same).
			return;
		}
		let attempts = state.entry(address_key(ip)).or_insert(Attempts {
			since: now,
			failures: 0,
			blocked_until: None,
		});
		if now.duration_since(attempts.since) >= Self::WINDOW {
			attempts.since = now;
			attempts.failures = 0;
		}
		attempts.failures += 1;
		if attempts.failures >= self.max_failures {
			attempts.blocked_until = Some(now + self.cooldown);
			attempts.since = now;
			attempts.failures = 0;
		}
	}
}

#[cfg(test)]
mod throttle_tests {
	use super::*;

	/// A cool-down as long as a config file can say (`u64::MAX` seconds) starts without overflowing
	/// the clock: it is taken as a year.
	#[test]
	fn the_longest_cooldown_is_a_year() {
		let limits = Limits {
			auth_failures: 1,
			auth_cooldown: Duration::from_secs(u64::MAX),
			..Limits::default()
		};
		let throttle = AuthThrottle::new(&limits);
		let (ip, now) = (IpAddr::from([192, 0, 2, 1]), tokio::time::Instant::now());
		throttle.failed(ip, now);
		assert!(!throttle.allows(ip, now + Duration::from_secs(364 * 24 * 3600)));
		assert!(throttle.allows(ip, now + AuthThrottle::MAX_COOLDOWN + Duration::from_secs(1)));
	}

	#[test]
	fn failures_past_the_limit_start_a_cooldown_for_that_address_only() {
		let limits = Limits {
			auth_failures: 3,
			auth_cooldown: Duration::from_secs(30),
			..Limits::default()
		};
		let throttle = AuthThrottle::new(&limits);
		let now = tokio::time::Instant::now();
		let ip: IpAddr = "10.0.0.1".parse().unwrap();
		let other: IpAddr = "10.0.0.2".parse().unwrap();
		for _ in 0..2 {
			throttle.failed(ip, now);
		}
		assert!(throttle.allows(ip, now), "two failures are allowed");
		throttle.failed(ip, now);
		assert!(!throttle.allows(ip, now), "the third starts the cool-down");
		assert!(throttle.allows(other, now));
		assert!(!throttle.allows(ip, now + Duration::from_secs(29)));
		assert!(throttle.allows(ip, now + Duration::from_secs(30)), "the cool-down ends");
	}

	#[test]
	fn failures_spread_over_minutes_never_block() {
		let throttle = AuthThrottle::new(&Limits {
			auth_failures: 3,
			..Limits::default()
		});
		let start = tokio::time::Instant::now();
		let ip: IpAddr = "2001:db8::1".parse().unwrap();
		for minute in 0..10 {
			let now = start + Duration::from_secs(61 * minute);
			throttle.failed(ip, now);
			throttle.failed(ip, now);
			assert!(throttle.allows(ip, now));
		}
		// Another host of the same /64 shares the count.
		throttle.failed("2001:db8::2".parse().unwrap(), start + Duration::from_secs(61 * 9));
		assert!(!throttle.allows(ip, start + Duration::from_secs(61 * 9)));
	}
}
