//! The relay's own counts, read from its `GET /metrics` (Prometheus text format) over plain HTTP:
//! the sessions it holds open against the sessions the load tool has open, groups it dropped for
//! slow subscribers, and connections it refused.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

/// The histogram of the relay's own share of a frame's latency: from the arrival of its last byte
/// from the publisher to the end of its write to a subscriber's stream.
pub const FRAME_RELAY: &str = "moq_relay_frame_relay_seconds";

/// The metrics a soak sample keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RelayMetrics {
	/// `moq_relay_sessions`: sessions open now.
	pub sessions: u64,
	/// `moq_relay_subscriptions`: downstream subscriptions open now.
	pub subscriptions: u64,
	/// `moq_relay_groups_dropped_total`: groups dropped for subscribers that fell behind.
	pub groups_dropped: u64,
	/// `moq_relay_limit_refused_total`, all codes: connections and requests refused by a limit.
	pub limit_refused: u64,
	/// [`FRAME_RELAY`]'s cumulative buckets: (upper bound in seconds, count), ascending. Not in the
	/// report's samples: [`Quantiles::between`] of two of them is.
	#[serde(skip)]
	pub frame_relay: Vec<(f64, u64)>,
}

/// Quantiles of a Prometheus histogram between two readings, as the bucket bounds that hold them:
/// "at most" values, as coarse as the relay's buckets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantiles {
	/// Observations between the readings.
	pub count: u64,
	/// Upper bound of the bucket holding the median, ms (`None`: above the largest finite bound).
	pub p50_at_most_ms: Option<f64>,
	/// The same for the 99th percentile.
	pub p99_at_most_ms: Option<f64>,
	/// The same for the largest observation.
	pub max_at_most_ms: Option<f64>,
}

impl Quantiles {
	/// The observations added from cumulative buckets `before` to `after` (same bounds; `None`
	/// when they differ or nothing was observed).
	pub fn between(before: &[(f64, u64)], after: &[(f64, u64)]) -> Option<Self> {
		if before.len() != after.len() || before.iter().zip(after).any(|(b, a)| b.0 != a.0) {
			return None;
		}
		let delta: Vec<(f64, u64)> = before
			.iter()
			.zip(after)
			.map(|(b, a)| (a.0, a.1.saturating_sub(b.1)))
			.collect();
		let count = delta.last()?.1;
		if count == 0 {
			return None;
		}
		let at = |q: f64| {
			let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
			let le = delta.iter().find(|(_, cumulative)| *cumulative >= rank)?.0;
			le.is_finite().then_some(le * 1e3)
		};
		Some(Self {
			count,
			p50_at_most_ms: at(0.50),
			p99_at_most_ms: at(0.99),
			max_at_most_ms: at(1.0),
		})
	}
}

/// The cumulative buckets of histogram `family` (summed over its other labels), ascending by bound.
pub fn buckets(text: &str, family: &str) -> Vec<(f64, u64)> {
	let prefix = format!("{family}_bucket{{");
	let mut by_bound: Vec<(f64, u64)> = Vec::new();
	for line in text.lines().map(str::trim).filter(|l| l.starts_with(&prefix)) {
		let Some(close) = line.rfind('}') else { continue };
		let labels = &line[prefix.len()..close];
		let Some(le) = labels.split("le=\"").nth(1).and_then(|rest| rest.split('"').next()) else {
			continue;
		};
		let bound = if le == "+Inf" {
			f64::INFINITY
		} else {
			le.parse().unwrap_or(f64::NAN)
		};
		let Some(Ok(count)) = line[close + 1..].split_whitespace().next().map(str::parse::<f64>) else {
			continue;
		};
		if bound.is_nan() {
			continue;
		}
		match by_bound.iter_mut().find(|(b, _)| *b == bound) {
			Some((_, total)) => *total += count as u64,
			None => by_bound.push((bound, count as u64)),
		}
	}
	by_bound.sort_by(|a, b| a.0.total_cmp(&b.0));
	by_bound
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
	/// The metrics out of an exposition (absent families count 0).
	pub fn from_text(text: &str) -> Self {
		let families = parse(text);
		let get = |name: &str| families.get(name).copied().unwrap_or(0.0).max(0.0) as u64;
		Self {
			sessions: get("moq_relay_sessions"),
			subscriptions: get("moq_relay_subscriptions"),
			groups_dropped: get("moq_relay_groups_dropped_total"),
			limit_refused: get("moq_relay_limit_refused_total"),
			frame_relay: buckets(text, FRAME_RELAY),
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
	Ok(RelayMetrics::from_text(body))
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
		let m = RelayMetrics::from_text(text);
		assert_eq!(
			m,
			RelayMetrics {
				sessions: 1005,
				subscriptions: 1000,
				groups_dropped: 0,
				limit_refused: 5,
				frame_relay: vec![(f64::INFINITY, 77)],
			}
		);
		assert_eq!(RelayMetrics::from_text(""), RelayMetrics::default());
	}

	const HISTOGRAM: &str = "# TYPE moq_relay_frame_relay_seconds histogram\n\
		moq_relay_frame_relay_seconds_bucket{le=\"0.0001\"} 10\n\
		moq_relay_frame_relay_seconds_bucket{le=\"0.001\"} 50\n\
		moq_relay_frame_relay_seconds_bucket{le=\"0.01\"} 99\n\
		moq_relay_frame_relay_seconds_bucket{le=\"+Inf\"} 100\n\
		moq_relay_frame_relay_seconds_sum 0.5\n\
		moq_relay_frame_relay_seconds_count 100\n";

	#[test]
	fn histogram_buckets_in_order() {
		let shuffled: String = HISTOGRAM.lines().rev().map(|l| format!("{l}\n")).collect();
		let expected = vec![(0.0001, 10), (0.001, 50), (0.01, 99), (f64::INFINITY, 100)];
		assert_eq!(buckets(HISTOGRAM, FRAME_RELAY), expected);
		assert_eq!(buckets(&shuffled, FRAME_RELAY), expected);
		assert!(buckets(HISTOGRAM, "moq_relay_other_seconds").is_empty());
	}

	#[test]
	fn quantiles_between_two_readings() {
		let after = buckets(HISTOGRAM, FRAME_RELAY);
		// From empty: 100 observations, the median in the 1 ms bucket, p99 in the 10 ms one, the
		// largest above every finite bound.
		let zero: Vec<(f64, u64)> = after.iter().map(|&(le, _)| (le, 0)).collect();
		let q = Quantiles::between(&zero, &after).unwrap();
		assert_eq!(q.count, 100);
		assert_eq!(
			(q.p50_at_most_ms, q.p99_at_most_ms, q.max_at_most_ms),
			(Some(1.0), Some(10.0), None)
		);
		// Only what was added between: 40 observations, all at most 1 ms.
		let before = vec![(0.0001, 10), (0.001, 10), (0.01, 59), (f64::INFINITY, 60)];
		let q = Quantiles::between(&before, &after).unwrap();
		assert_eq!(q.count, 40);
		assert_eq!(
			(q.p50_at_most_ms, q.p99_at_most_ms, q.max_at_most_ms),
			(Some(1.0), Some(1.0), Some(1.0))
		);
		// Nothing observed, or buckets that do not match.
		assert_eq!(Quantiles::between(&after, &after), None);
		assert_eq!(Quantiles::between(&after[..2], &after), None);
	}
}
