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

/// `GET /announced/{prefix}` lists what a session at that path could subscribe to, with the same
/// credentials: public prefixes, `?jwt=`; refusals are the auth error's status and JSON body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_lists_what_the_credential_allows() {
	use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, Path};
	let dir = std::env::temp_dir().join(format!("moq-relay-http-announced-{}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	let key = Key::generate(Algorithm::HS256, Some(KeyId::new("http").unwrap())).unwrap();
	let key_file = dir.join("root.jwk");
	key.to_file(&key_file, KeyFormat::Base64Url).unwrap();
	let relay = TestRelay::start_with(move |config| {
		config.auth.public = Some("anon".into());
		config.auth.key = Some(key_file);
	})
	.await;

	// Broadcasts anon/clock (public) and room/secret (token only), from token-holding publishers.
	let publish_all = Claims::new(Path::root())
		.with_publish(Path::root())
		.with_expires(moq_token::unix_now() + 600);
	let token = key.sign(&publish_all).unwrap();
	let origin = moq_tokio::origin::spawn();
	let clock = origin.create_broadcast("anon/clock").unwrap();
	clock.announce(Default::default()).unwrap();
	let secret = origin.create_broadcast("room/secret").unwrap();
	secret.announce(Default::default()).unwrap();
	let client = relay.client(None);
	let publisher = client
		.clone()
		.with_publisher(&origin)
		.connect(relay.url("moqt", &format!("?jwt={token}")));
	let publisher = common::within("publisher", publisher.established()).await.unwrap();

	// Until the relay has the announcement the list is empty: poll the public listing.
	let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
	loop {
		let (status, head, body) = http_get(&relay, "/announced/anon", false).await;
		assert_eq!(status, 200);
		assert!(head.contains("access-control-allow-origin: *"), "{head}");
		if body == "clock\n" {
			break;
		}
		assert!(
			std::time::Instant::now() < deadline,
			"anon/clock never listed: {body:?}"
		);
		tokio::time::sleep(std::time::Duration::from_millis(50)).await;
	}
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

	publisher.close().await.ok();
	client.close().await;
	relay.stop().await;
	let _ = std::fs::remove_dir_all(&dir);
}
