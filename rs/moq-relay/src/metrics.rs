//! Counters for `GET /metrics` (Prometheus text format).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The relay's counters. Cheap to bump from any task.
#[derive(Debug, Default)]
pub struct Metrics {
	sessions_active: AtomicU64,
	sessions_total: AtomicU64,
	subscriptions_active: AtomicU64,
	frames_received: AtomicU64,
	bytes_received: AtomicU64,
	groups_received: AtomicU64,
	frames_sent: AtomicU64,
	bytes_sent: AtomicU64,
	groups_sent: AtomicU64,
	groups_dropped: AtomicU64,
	subscriptions_total: AtomicU64,
	upstream_subscriptions_total: AtomicU64,
	cluster_links: AtomicU64,
	cluster_routes: AtomicU64,
	auth_refused: Mutex<BTreeMap<&'static str, u64>>,
	/// Connections waiting for admission now.
	connections_pending: AtomicU64,
	/// Connections and requests refused by a limit, by its code.
	limit_refused: Mutex<BTreeMap<&'static str, u64>>,
	/// Announcements received from cluster peers, by the peer's hop id.
	cluster_announcements: Mutex<BTreeMap<u64, u64>>,
}

/// Decrements a gauge when dropped.
#[derive(Debug)]
pub struct Gauge<'a>(&'a AtomicU64);

impl Drop for Gauge<'_> {
	fn drop(&mut self) {
		self.0.fetch_sub(1, Ordering::Relaxed);
	}
}

impl Metrics {
	/// A session started; it ends when the guard drops.
	pub fn session_started(&self) -> Gauge<'_> {
		self.sessions_total.fetch_add(1, Ordering::Relaxed);
		self.sessions_active.fetch_add(1, Ordering::Relaxed);
		Gauge(&self.sessions_active)
	}

	/// A downstream subscription started; it ends when the guard drops.
	pub fn subscription_started(&self) -> Gauge<'_> {
		self.subscriptions_total.fetch_add(1, Ordering::Relaxed);
		self.subscriptions_active.fetch_add(1, Ordering::Relaxed);
		Gauge(&self.subscriptions_active)
	}

	/// The relay subscribed upstream (to a publisher or a peer relay).
	pub fn upstream_subscription(&self) {
		self.upstream_subscriptions_total.fetch_add(1, Ordering::Relaxed);
	}

	/// A cluster link (dialed, or a peer admitted with a `cluster` token) is up until the guard drops.
	pub fn cluster_link_started(&self) -> Gauge<'_> {
		self.cluster_links.fetch_add(1, Ordering::Relaxed);
		Gauge(&self.cluster_links)
	}

	/// A route learned from a cluster peer is held until the guard drops.
	pub fn cluster_route(&self) -> Gauge<'_> {
		self.cluster_routes.fetch_add(1, Ordering::Relaxed);
		Gauge(&self.cluster_routes)
	}

	/// An announcement (start, restart or end) arrived from the cluster peer with this hop id.
	pub fn cluster_announcement(&self, peer: u64) {
		*self
			.cluster_announcements
			.lock()
			.unwrap_or_else(|e| e.into_inner())
			.entry(peer)
			.or_default() += 1;
	}

	/// Cluster links up now.
	pub fn cluster_links(&self) -> u64 {
		self.cluster_links.load(Ordering::Relaxed)
	}

	/// A session was refused with this auth code.
	pub fn auth_refused(&self, code: &'static str) {
		*self
			.auth_refused
			.lock()
			.unwrap_or_else(|e| e.into_inner())
			.entry(code)
			.or_default() += 1;
	}

	/// How many connections wait for admission now.
	pub fn set_pending_connections(&self, pending: usize) {
		self.connections_pending.store(pending as u64, Ordering::Relaxed);
	}

	/// A connection or request was refused by a limit with this code.
	pub fn limit_refused(&self, code: &'static str) {
		*self
			.limit_refused
			.lock()
			.unwrap_or_else(|e| e.into_inner())
			.entry(code)
			.or_default() += 1;
	}

	/// A frame of `bytes` arrived from a publisher.
	pub fn frame_received(&self, bytes: usize) {
		self.frames_received.fetch_add(1, Ordering::Relaxed);
		self.bytes_received.fetch_add(bytes as u64, Ordering::Relaxed);
	}

	/// A group started arriving from a publisher.
	pub fn group_received(&self) {
		self.groups_received.fetch_add(1, Ordering::Relaxed);
	}

	/// A frame of `bytes` was written to a subscriber.
	pub fn frame_sent(&self, bytes: usize) {
		self.frames_sent.fetch_add(1, Ordering::Relaxed);
		self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
	}

	/// A group was completely written to a subscriber.
	pub fn group_sent(&self) {
		self.groups_sent.fetch_add(1, Ordering::Relaxed);
	}

	/// A group was dropped for a subscriber that fell behind.
	pub fn group_dropped(&self) {
		self.groups_dropped.fetch_add(1, Ordering::Relaxed);
	}

	/// Sessions currently open.
	pub fn sessions_active(&self) -> u64 {
		self.sessions_active.load(Ordering::Relaxed)
	}

	/// The Prometheus text exposition.
	pub fn render(&self) -> String {
		let mut out = String::new();
		let rows: [(&str, &str, &str, &AtomicU64); 15] = [
			(
				"moq_relay_sessions",
				"gauge",
				"Sessions open now.",
				&self.sessions_active,
			),
			(
				"moq_relay_sessions_total",
				"counter",
				"Sessions accepted.",
				&self.sessions_total,
			),
			(
				"moq_relay_connections_pending",
				"gauge",
				"Connections waiting for admission now (handshake, CONNECT, SETUP or the auth decision).",
				&self.connections_pending,
			),
			(
				"moq_relay_subscriptions",
				"gauge",
				"Downstream subscriptions open now.",
				&self.subscriptions_active,
			),
			(
				"moq_relay_frames_received_total",
				"counter",
				"Frames received from publishers.",
				&self.frames_received,
			),
			(
				"moq_relay_bytes_received_total",
				"counter",
				"Payload bytes received from publishers.",
				&self.bytes_received,
			),
			(
				"moq_relay_groups_received_total",
				"counter",
				"Groups received from publishers.",
				&self.groups_received,
			),
			(
				"moq_relay_frames_sent_total",
				"counter",
				"Frames sent to subscribers.",
				&self.frames_sent,
			),
			(
				"moq_relay_bytes_sent_total",
				"counter",
				"Payload bytes sent to subscribers.",
				&self.bytes_sent,
			),
			(
				"moq_relay_groups_sent_total",
				"counter",
				"Groups completely sent to subscribers.",
				&self.groups_sent,
			),
			(
				"moq_relay_groups_dropped_total",
				"counter",
				"Groups dropped for subscribers that fell behind.",
				&self.groups_dropped,
			),
			(
				"moq_relay_subscriptions_total",
				"counter",
				"Downstream subscriptions accepted (from clients and cluster peers).",
				&self.subscriptions_total,
			),
			(
				"moq_relay_upstream_subscriptions_total",
				"counter",
				"Subscriptions this relay opened to publishers and peer relays.",
				&self.upstream_subscriptions_total,
			),
			(
				"moq_relay_cluster_links",
				"gauge",
				"Cluster links up now (dialed, and peers admitted with a cluster token).",
				&self.cluster_links,
			),
			(
				"moq_relay_cluster_routes",
				"gauge",
				"Routes to broadcasts learned from cluster peers.",
				&self.cluster_routes,
			),
		];
		for (name, kind, help, value) in rows {
			let _ = writeln!(
				out,
				"# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
				value.load(Ordering::Relaxed)
			);
		}
		let _ = writeln!(
			out,
			"# HELP moq_relay_auth_refused_total Sessions refused, by error code.\n# TYPE moq_relay_auth_refused_total counter"
		);
		for (code, n) in self.auth_refused.lock().unwrap_or_else(|e| e.into_inner()).iter() {
			let _ = writeln!(out, "moq_relay_auth_refused_total{{code=\"{code}\"}} {n}");
		}
		let _ = writeln!(
			out,
			"# HELP moq_relay_limit_refused_total Connections and requests refused by a limit, by code.\n# TYPE moq_relay_limit_refused_total counter"
		);
		for (code, n) in self.limit_refused.lock().unwrap_or_else(|e| e.into_inner()).iter() {
			let _ = writeln!(out, "moq_relay_limit_refused_total{{code=\"{code}\"}} {n}");
		}
		let _ = writeln!(
			out,
			"# HELP moq_relay_cluster_announcements_total Announcements received from cluster peers, by peer hop id.\n# TYPE moq_relay_cluster_announcements_total counter"
		);
		for (peer, n) in self
			.cluster_announcements
			.lock()
			.unwrap_or_else(|e| e.into_inner())
			.iter()
		{
			let _ = writeln!(out, "moq_relay_cluster_announcements_total{{peer=\"{peer}\"}} {n}");
		}
		out
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn gauges_follow_guards_and_render() {
		let metrics = Metrics::default();
		let guard = metrics.session_started();
		metrics.frame_sent(10);
		metrics.auth_refused("missing_credential");
		let text = metrics.render();
		assert!(text.contains("moq_relay_sessions 1\n"), "{text}");
		assert!(text.contains("moq_relay_bytes_sent_total 10\n"), "{text}");
		assert!(
			text.contains("moq_relay_auth_refused_total{code=\"missing_credential\"} 1"),
			"{text}"
		);
		drop(guard);
		assert_eq!(metrics.sessions_active(), 0);
	}
}
