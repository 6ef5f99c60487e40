//! The TCP side of the relay's port: plain HTTP and HTTPS, told apart by the
//! first byte, serving the certificate fingerprint, health, readiness and metrics.

mod common;

use common::{TestRelay, http_get, lite05};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_and_metrics() {
	let relay = TestRelay::start(Some("anon")).await;
	assert_eq!(http_get(&relay, "/health", false).await.0, 200);
	assert_eq!(http_get(&relay, "/ready", true).await.0, 200);
	assert_eq!(http_get(&relay, "/nope", false).await.0, 404);

	// A session shows up in the metrics.
	let client = relay.client(Some(lite05()));
	let origin = moq_tokio::origin::spawn();
	let consumer = origin.consume();
	let mut announced = consumer.announced();
	let publisher_origin = moq_tokio::origin::spawn();
	let broadcast = publisher_origin.create_broadcast("m").unwrap();
	broadcast.announce(Default::default()).unwrap();
	let publisher = relay
		.client(None)
		.with_publisher(&publisher_origin)
		.connect(relay.url("moqt", "anon"));
	let subscriber = client
		.clone()
		.with_subscriber(origin)
		.connect(relay.url("moqt", "anon"));
	// The announcement's round trip proves both sessions are admitted.
	let update = common::within("announcement", announced.next()).await.unwrap();
	assert_eq!(update.prefix.as_str(), "m");

	let (status, head, body) = http_get(&relay, "/metrics", false).await;
	assert_eq!(status, 200);
	assert!(head.contains("content-type: text/plain"), "{head}");
	assert!(body.contains("moq_relay_sessions 2\n"), "{body}");
	for name in [
		"moq_relay_bytes_sent_total",
		"moq_relay_frames_sent_total",
		"moq_relay_groups_sent_total",
	] {
		assert!(body.contains(&format!("# TYPE {name} counter")), "{body}");
	}

	drop(broadcast);
	publisher.close().await.ok();
	subscriber.close().await.ok();
	client.close().await;
	relay.stop().await;
}
