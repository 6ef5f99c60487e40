//! The TCP side of the relay's port: plain HTTP and HTTPS, told apart by the
//! first byte, serving the certificate fingerprint, health, readiness and metrics.

use crate::common;

use bytes::Bytes;
use common::{TestRelay, http_get, lite05};
use moq_relay_bench::publisher::{Publisher, write_group};
use moq_relay_bench::subscriber::{self, Subscriber};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_fingerprint_over_plain_http_and_tls() {
	let relay = TestRelay::start(Some("anon")).await;
	for tls in [false, true] {
		let (status, head, body) = http_get(&relay, "/certificate.sha256", tls).await;
		assert_eq!(status, 200, "tls={tls}");
		assert!(head.contains("access-control-allow-origin: *"), "tls={tls}: {head}");
		assert_eq!(body, relay.fingerprint);
		assert_eq!(body.len(), 64);
		assert!(body.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
	}
	relay.stop().await;
}

/// `/metrics`, parsed by a Prometheus text-format parser.
async fn scrape(relay: &TestRelay) -> (String, prometheus_parse::Scrape) {
	let (status, head, body) = http_get(relay, "/metrics", false).await;
	assert_eq!(status, 200, "{body}");
	let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
	(head, scrape)
}

/// The value of the sample `name` with `labels` (among others).
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<prometheus_parse::Value> {
	scrape
		.samples
		.iter()
		.find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
		.map(|s| s.value.clone())
}

/// How many observations histogram `name` (with `labels`) holds: its `+Inf` bucket, which must
/// equal its `_count`.
fn observations(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
	let Some(prometheus_parse::Value::Histogram(buckets)) = sample(scrape, name, labels) else {
		return 0.0;
	};
	let all = buckets
		.iter()
		.find(|b| b.less_than == f64::INFINITY)
		.map_or(0.0, |b| b.count);
	let count = match sample(scrape, &format!("{name}_count"), labels) {
		Some(prometheus_parse::Value::Untyped(count)) => count,
		other => panic!("{name}_count: {other:?}"),
	};
	assert_eq!(all, count, "{name}: +Inf bucket and _count disagree");
	count
}

/// The four histograms, as (name, labels) of the series this test's sessions fill.
const HISTOGRAMS: [(&str, &[(&str, &str)]); 4] = [
	("moq_relay_session_setup_seconds", &[]),
	("moq_relay_auth_decision_seconds", &[("kind", "public")]),
	("moq_relay_frame_relay_seconds", &[]),
	("moq_relay_subscriber_queue_groups", &[]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_and_metrics() {
	use prometheus_parse::Value::{Counter, Gauge};
	let relay = TestRelay::start(Some("anon")).await;
	assert_eq!(http_get(&relay, "/health", false).await.0, 200);
	assert_eq!(http_get(&relay, "/ready", true).await.0, 200);
	assert_eq!(http_get(&relay, "/nope", false).await.0, 404);

	// Before any session: every histogram is there, empty.
	let (head, before) = scrape(&relay).await;
	assert!(
		head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
		"{head}"
	);
	for (name, _) in HISTOGRAMS.iter().filter(|(_, labels)| labels.is_empty()) {
		assert_eq!(observations(&before, name, &[]), 0.0, "{name}");
	}

	// A publisher of m/t (one group of three frames) and a subscriber that reads the group through
	// the relay.
	let start = Publisher::start(relay.client(None), relay.url("moqt", "anon"), "m", "t");
	let publisher = common::within("publisher", start).await.unwrap();
	write_group(publisher.track(), 3, |_, i| Bytes::from(["a", "b", "c"][i as usize])).unwrap();
	let client = relay.client(Some(lite05()));
	let mut subscriber = common::within("subscriber", Subscriber::connect(&client, relay.url("moqt", "anon")))
		.await
		.unwrap();
	// The announcement's round trip proves both sessions are admitted.
	let mut subscription = common::within("subscription", subscriber.subscribe("m", "t"))
		.await
		.unwrap();
	let frames = common::within("group", subscriber::read_group(&mut subscription))
		.await
		.unwrap();
	assert_eq!(frames.len(), 3);

	// The relay records a write just after it completes: wait until the histograms show it.
	let after = common::eventually_ok("three frame relays observed", || async {
		let (_, after) = scrape(&relay).await;
		let seen = observations(&after, "moq_relay_frame_relay_seconds", &[]);
		if seen >= 3.0 {
			Ok(after)
		} else {
			Err(format!("{seen} observed"))
		}
	})
	.await;
	assert_eq!(sample(&after, "moq_relay_sessions", &[]), Some(Gauge(2.0)));
	assert_eq!(sample(&after, "moq_relay_sessions_total", &[]), Some(Counter(2.0)));
	assert_eq!(sample(&after, "moq_relay_subscriptions", &[]), Some(Gauge(1.0)));
	assert_eq!(sample(&after, "moq_relay_connections_pending", &[]), Some(Gauge(0.0)));
	// The group's three one-byte frames are cached (a track's latest group stays), nothing evicted.
	assert_eq!(sample(&after, "moq_relay_cache_bytes", &[]), Some(Gauge(3.0)));
	assert_eq!(
		sample(&after, "moq_relay_cache_evictions_total", &[]),
		Some(Counter(0.0))
	);
	for (name, at_least) in [
		("moq_relay_frames_received_total", 3.0),
		("moq_relay_frames_sent_total", 3.0),
		("moq_relay_bytes_sent_total", 3.0),
		("moq_relay_groups_received_total", 1.0),
		("moq_relay_groups_sent_total", 1.0),
		("moq_relay_subscriptions_total", 1.0),
		("moq_relay_upstream_subscriptions_total", 1.0),
	] {
		match sample(&after, name, &[]) {
			Some(Counter(value)) => assert!(value >= at_least, "{name} = {value}"),
			other => panic!("{name} is not a counter: {other:?}"),
		}
	}
	// Both sessions were set up and decided (public prefix, no credential); the group was queued
	// for the subscriber and its frames relayed.
	assert_eq!(observations(&after, "moq_relay_session_setup_seconds", &[]), 2.0);
	assert_eq!(
		observations(&after, "moq_relay_auth_decision_seconds", &[("kind", "public")]),
		2.0
	);
	for (name, labels) in HISTOGRAMS {
		assert!(observations(&after, name, labels) > 0.0, "{name}{labels:?}");
		assert!(after.docs.contains_key(name), "{name} has no HELP");
	}

	drop(subscription);
	publisher.close().await;
	subscriber.close().await;
	client.close().await;
	relay.stop().await;
}

/// `GET /announced/{prefix}` lists what a session at that path could subscribe to, with the same
/// credentials: public prefixes, `?jwt=`; refusals are the auth error's status and JSON body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_lists_what_the_credential_allows() {
	use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, Path};
	let scratch = crate::common::scratch("moq-relay-http-announced-");
	let dir = scratch.path().to_path_buf();
	let key = Key::generate(Algorithm::HS256, Some(KeyId::new("http").unwrap())).unwrap();
	let key_file = dir.join("root.jwk");
	key.to_file(&key_file, KeyFormat::Base64Url).unwrap();
	let relay = TestRelay::start_with(move |config| {
		config.auth.public = Some(vec!["anon".into()]);
		config.auth.key = Some(key_file);
	})
	.await;

	// Broadcasts anon/clock (public) and room/secret (token only), from token-holding publishers.
	let publish_all = Claims::new(Path::root())
		.with_publish(Path::root())
		.with_expires(moq_token::unix_now() + 600);
	let token = key.sign(&publish_all).unwrap();
	let url = relay.url("moqt", &format!("?jwt={token}"));
	let start = Publisher::start_many(relay.client(None), url, &["anon/clock", "room/secret"], "t");
	let publisher = common::within("publisher", start).await.unwrap();

	// Until the relay has the announcement the list is empty: poll the public listing.
	common::eventually_ok("anon/clock listed", || async {
		let (status, head, body) = http_get(&relay, "/announced/anon", false).await;
		assert_eq!(status, 200);
		assert!(head.contains("access-control-allow-origin: *"), "{head}");
		match body.as_str() {
			"clock\n" => Ok(()),
			_ => Err(format!("listed {body:?}")),
		}
	})
	.await;
	// The public listing never shows what is outside the public prefix.
	assert_eq!(http_get(&relay, "/announced/anon", true).await.2, "clock\n");

	let (status, head, body) = http_get(&relay, "/announced/room", false).await;
	assert_eq!(status, 401, "{body}");
	assert!(head.contains("content-type: application/json"), "{head}");
	assert!(body.contains("\"error\":\"missing_credential\""), "{body}");

	let viewer = key
		.sign(
			&Claims::new(Path::new("room").unwrap())
				.with_subscribe(Path::root())
				.with_expires(moq_token::unix_now() + 600),
		)
		.unwrap();
	let (status, _, body) = http_get(&relay, &format!("/announced/room?jwt={viewer}"), false).await;
	assert_eq!((status, body.as_str()), (200, "secret\n"));
	let (status, _, body) = http_get(&relay, "/announced/room?jwt=not.a.token", false).await;
	assert_eq!(status, 401, "{body}");
	assert!(body.contains("invalid_token"), "{body}");
	// A token misplaced inside the path is no credential, and the refusal does not echo it.
	for misplaced in [
		format!("/announced/room%3Fjwt={viewer}"),
		format!("/announced/room;jwt={viewer}"),
	] {
		let (status, _, body) = http_get(&relay, &misplaced, false).await;
		assert_eq!(status, 401, "{body}");
		assert!(body.contains("missing_credential"), "{body}");
		for part in viewer.split('.').skip(1) {
			assert!(!body.contains(part), "the refusal echoed the token: {body}");
		}
		assert!(!body.contains("room"), "the refusal echoed the path: {body}");
	}

	publisher.close().await;
	relay.stop().await;
}

/// Refused credentials from one address start its cool-down: `429` with `too_many_attempts`, for
/// valid requests too, on HTTP as on MoQ sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_refusals_get_429_too_many_attempts() {
	let relay = TestRelay::start_with(|config| {
		config.auth.public = Some(vec!["anon".into()]);
		config.limits.auth_failures = Some(3);
	})
	.await;
	assert_eq!(http_get(&relay, "/announced/anon", false).await.0, 200);
	for _ in 0..3 {
		let (status, _, body) = http_get(&relay, "/announced/anon?jwt=not.a.token", false).await;
		assert_eq!(status, 401, "{body}");
	}
	let (status, _, body) = http_get(&relay, "/announced/anon", false).await;
	assert_eq!(status, 429, "{body}");
	assert!(body.contains("\"error\":\"too_many_attempts\""), "{body}");
	// A MoQ session from the same address is in the same cool-down.
	let conn = common::admitted(&relay, "/anon").await;
	let (code, reason) = common::closed(&conn).await;
	assert_eq!((code, reason.as_str()), (2, "too_many_attempts"));
	// Refusals on HTTP are counted like the session's: the 429 above and the session.
	let (_, _, metrics) = http_get(&relay, "/metrics", false).await;
	assert!(
		metrics.contains("moq_relay_auth_refused_total{code=\"too_many_attempts\"} 2"),
		"{metrics}"
	);
	relay.stop().await;
}
