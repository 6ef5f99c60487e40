//! The soak report as text: one line per sample (printed as the run goes) and a summary.

use std::fmt::Write;

use super::{Delivery, Sample, Soak};

fn mib(kib: Option<u64>) -> String {
	kib.map_or("-".into(), |kib| format!("{:.1}", kib as f64 / 1024.0))
}

fn pct(value: Option<f64>) -> String {
	value.map_or("-".into(), |v| format!("{v:.0}"))
}

/// The header of [`sample_line`]'s columns.
pub fn sample_header() -> String {
	format!(
		"{:>7} {:>7} {:>5} {:>5} {:>5} {:>9} {:>7} {:>8} {:>8} {:>8} {:>15} {:>6} {:>6} {:>8} {:>5} {:>7} {:>7} {:>6}",
		"t s",
		"phase",
		"open",
		"joins",
		"ends",
		"frames",
		"Mbit/s",
		"p50 ms",
		"p99 ms",
		"max ms",
		"RSS MiB (max)",
		"relay%",
		"tool%",
		"tool MiB",
		"load",
		"r.sess",
		"dropped",
		"errors"
	)
}

/// One sample as a line of [`sample_header`]'s columns.
pub fn sample_line(s: &Sample) -> String {
	format!(
		"{:>7.1} {:>7} {:>5} {:>5} {:>5} {:>9} {:>7.1} {:>8.2} {:>8.2} {:>8.2} {:>15} {:>6} {:>6} {:>8} {:>5} {:>7} {:>7} {:>6}",
		s.t_s,
		format!("{:?}", s.phase).to_lowercase(),
		s.sessions_open,
		s.joined,
		s.ended,
		s.frames,
		s.mbps,
		s.latency_ms.p50,
		s.latency_ms.p99,
		s.latency_ms.max,
		format!("{} ({})", mib(s.relay_rss_kib), mib(s.relay_rss_max_kib)),
		pct(s.relay_cpu_pct),
		pct(s.tool_cpu_pct),
		mib(s.tool_rss_kib),
		s.loadavg_1m.map_or("-".into(), |l| format!("{l:.2}")),
		s.relay.as_ref().map_or("-".into(), |m| m.sessions.to_string()),
		s.relay.as_ref().map_or("-".into(), |m| m.groups_dropped.to_string()),
		s.errors
	)
}

fn delivery(out: &mut String, what: &str, d: &Delivery) {
	let _ = writeln!(
		out,
		"  {what}: {} sessions, {} of {} expected frames = {:.3}% (worst session {:.3}%); groups: {} expected, {} missed, {} incomplete",
		d.sessions,
		d.received_frames,
		d.expected_frames,
		d.delivery_pct,
		d.min_session_pct,
		d.expected_groups,
		d.missed_groups,
		d.incomplete_groups
	);
}

/// The whole report.
pub fn render(soak: &Soak) -> String {
	let mut out = String::new();
	let _ = writeln!(
		out,
		"soak: {} publishers × {} B × {} fps ({} frames/group); {} subscribers ({} stable), ramp {}/s, churn {}/s",
		soak.publishers,
		soak.frame_size,
		soak.fps,
		soak.group_frames,
		soak.subscribers,
		soak.stable,
		soak.ramp_per_s,
		soak.churn_per_s
	);
	let _ = writeln!(
		out,
		"  ramp {:.1} s, then {:.0} s of churn (warm-up: the ramp and {} s more); run {:.1} s; sample every {} s; subscribers' max age {} s",
		soak.ramp_s, soak.duration_s, soak.warmup_s, soak.run_s, soak.sample_every_s, soak.max_age_s
	);
	let _ = writeln!(out, "{}", sample_header());
	for sample in &soak.samples {
		let _ = writeln!(out, "{}", sample_line(sample));
	}
	let _ = writeln!(
		out,
		"  sessions: {} joined, {} churned; {} frames received ({} catch-up frames sent before their session subscribed, not in the latency)",
		soak.sessions_joined, soak.sessions_churned, soak.frames_received, soak.catchup_frames
	);
	for (what, p) in [
		("latency, whole run", &soak.latency_ms),
		("latency, after warm-up", &soak.latency_after_warmup_ms),
		("dial to first frame", &soak.join_ms),
	] {
		let _ = writeln!(
			out,
			"  {what} ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  ({} samples)",
			p.p50, p.p90, p.p99, p.max, p.count
		);
	}
	if let Some(q) = &soak.relay_frame_relay_ms {
		let ms = |v: Option<f64>| v.map_or("above the largest bucket".into(), |v| format!("{v}"));
		let _ = writeln!(
			out,
			"  the relay's own share after warm-up (moq_relay_frame_relay_seconds), ms at most: p50 {}  p99 {}  max {}  ({} writes)",
			ms(q.p50_at_most_ms),
			ms(q.p99_at_most_ms),
			ms(q.max_at_most_ms),
			q.count
		);
	}
	delivery(&mut out, "stable sessions", &soak.stable_delivery);
	delivery(&mut out, "churned sessions", &soak.churned_delivery);
	if let Some(sessions) = soak.relay_sessions_after_leave {
		let _ = writeln!(
			out,
			"  relay sessions after every subscriber left: {sessions} ({} publishers)",
			soak.publishers
		);
	}
	match &soak.rss {
		Some(r) => {
			let _ = writeln!(
				out,
				"  relay RSS after warm-up (from {:.1} s): reference {} MiB at {:.0} s, min {} max {} last {} MiB; largest deviation {:.1}%, end {:+.1}%, trend {:+.0} KiB/min: {}",
				r.warmup_end_s,
				mib(Some(r.reference_kib)),
				r.reference_t_s,
				mib(Some(r.min_kib)),
				mib(Some(r.max_kib)),
				mib(Some(r.last_kib)),
				r.max_deviation_pct,
				r.end_change_pct,
				r.slope_kib_per_min,
				if r.flat {
					format!("flat within {}%", r.tolerance_pct)
				} else {
					format!("NOT flat within {}%", r.tolerance_pct)
				}
			);
		}
		None => {
			let _ = writeln!(
				out,
				"  relay RSS: not judged (needs --relay-pid and two samples after warm-up)"
			);
		}
	}
	let nonzero: Vec<String> = soak
		.errors
		.iter()
		.filter(|&(_, &n)| n > 0)
		.map(|(code, n)| format!("{code} {n}"))
		.collect();
	if nonzero.is_empty() {
		let _ = writeln!(out, "  errors: none");
	} else {
		let _ = writeln!(out, "  ERRORS: {} ({})", soak.error_total, nonzero.join(", "));
		for example in &soak.error_examples {
			let _ = writeln!(out, "    {example}");
		}
	}
	let _ = writeln!(out, "  {}", if soak.passed { "PASSED" } else { "FAILED" });
	out
}
