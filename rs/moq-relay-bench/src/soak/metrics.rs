//! The relay's own counts, read from its `GET /metrics` (Prometheus text format) over plain HTTP:
//! the sessions it holds open against the sessions the load tool has open, groups it dropped for
//! slow subscribers, and connections it refused.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

/// The metrics a soak sample keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RelayMetrics {
	/// `moq_relay_sessions`: sessions open now.
	pub sessions: u64,
	/// `moq_relay_subscriptions`: downstream subscriptions open now.
	pub subscriptions: u64,
	/// `moq_relay_groups_dropped_total`: groups dropped for subscribers that fell behind.
	pub groups_dropped: u64,
	/// `moq_relay_limit_refused_total`, all codes: connections and requests refused by a limit.
	pub limit_refused: u64,
}

/// Sums each metric family's samples (all label sets) of a Prometheus text exposition; comment
/// lines and unparsable values are skipped.
pub fn parse(text: &str) -> HashMap<String, f64> {
	let mut families = HashMap::new();
	for line in text.lines() {
		let line = line.trim();
		if line.is_empty() || line.starts_with('#') {
			continue;
		}
		// `name{labels} value [timestamp]`: label values may hold spaces, so split after the `}`.
		let (name, rest) = match line.find('{') {
			Some(open) => match line.rfind('}') {
				Some(close) if close > open => (&line[..open], &line[close + 1..]),
				_ => continue,
			},
			None => match line.split_once(' ') {
				Some((name, rest)) => (name, rest),
				None => continue,
			},
		};
		let Some(Ok(value)) = rest.split_whitespace().next().map(str::parse::<f64>) else {
			continue;
		};
		*families.entry(name.to_string()).or_insert(0.0) += value;
	}
	families
}

impl RelayMetrics {
	/// The metrics out of a parsed exposition (absent families count 0).
	pub fn from_families(families: &HashMap<String, f64>) -> Self {
		let get = |name: &str| families.get(name).copied().unwrap_or(0.0).max(0.0) as u64;
		Self {
			sessions: get("moq_relay_sessions"),
			subscriptions: get("moq_relay_subscriptions"),
			groups_dropped: get("moq_relay_groups_dropped_total"),
			limit_refused: get("moq_relay_limit_refused_total"),
		}
	}
}

/// Fetches `url` (plain `http://host:port/path`) and parses it, within 5 s.
pub async fn fetch(url: &Url) -> anyhow::Result<RelayMetrics> {
	tokio::time::timeout(Duration::from_secs(5), fetch_unbounded(url))
		.await
		.context("GET /metrics took over 5 s")?
}

async fn fetch_unbounded(url: &Url) -> anyhow::Result<RelayMetrics> {
	if url.scheme() != "http" {
		bail!("--relay-metrics must be an http:// URL");
	}
	let host = url.host_str().context("--relay-metrics has no host")?;
	let port = url.port_or_known_default().context("--relay-metrics has no port")?;
	let mut stream = tokio::net::TcpStream::connect((host, port))
		.await
		.context("connect to the metrics endpoint")?;
	// HTTP/1.0: the answer is not chunked and ends with the connection.
	let request = format!("GET {} HTTP/1.0\r\nHost: {host}\r\n\r\n", url.path());
	stream.write_all(request.as_bytes()).await?;
	let mut response = Vec::new();
	stream.read_to_end(&mut response).await?;
	let text = String::from_utf8_lossy(&response);
	let (head, body) = text.split_once("\r\n\r\n").context("not an HTTP response")?;
	let status = head.split(' ').nth(1).unwrap_or_default();
	if status != "200" {
		bail!("GET {} answered {status}", url.path());
	}
	Ok(RelayMetrics::from_families(&parse(body)))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn families_are_summed_over_labels() {
		let text = "# HELP moq_relay_sessions Sessions open now.\n# TYPE moq_relay_sessions gauge\n\
			moq_relay_sessions 1005\n\
			moq_relay_subscriptions 1000\n\
			moq_relay_limit_refused_total{code=\"too_many_handshakes_from_ip\"} 3\n\
			moq_relay_limit_refused_total{code=\"a b}c\"} 2 1700000000\n\
			moq_relay_groups_dropped_total 0\n\
			moq_relay_frame_relay_seconds_bucket{le=\"+Inf\"} 77\n\
			garbage\n\
			moq_relay_broken{x=\"1\" 9\n";
		let families = parse(text);
		assert_eq!(families["moq_relay_limit_refused_total"], 5.0);
		assert_eq!(families["moq_relay_frame_relay_seconds_bucket"], 77.0);
		assert!(!families.contains_key("garbage") && !families.contains_key("moq_relay_broken"));
		let m = RelayMetrics::from_families(&families);
		assert_eq!(
			m,
			RelayMetrics {
				sessions: 1005,
				subscriptions: 1000,
				groups_dropped: 0,
				limit_refused: 5,
			}
		);
		assert_eq!(RelayMetrics::from_families(&HashMap::new()), RelayMetrics::default());
	}
}
