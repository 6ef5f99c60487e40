//! Credentials never reach the logs: every crate's output at TRACE is captured while sessions
//! are admitted and refused on every path, then searched for the tokens, their parts, the
//! query strings and the key. (One test per process: it owns the global subscriber.)

use crate::common;

use common::{TestRelay, admitted, announce_ok, closed, webtransport, webtransport_closed, webtransport_served};
use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, Path};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_the_logs_at_trace() {
	// The relay's own filter with every crate at TRACE, and the CONNECT events asked for explicitly.
	let capture = common::Capture::install_trace();

	let dir = std::env::temp_dir().join(format!("moq-relay-logs-{}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	let key = Key::generate(Algorithm::HS256, Some(KeyId::new("logs").unwrap())).unwrap();
	key.to_file(dir.join("root.jwk"), KeyFormat::Base64Url).unwrap();
	let key_file = dir.join("root.jwk");
	let relay = TestRelay::start_with(move |config| {
		config.auth.key = Some(key_file);
		config.auth.public = Some("anon".into());
	})
	.await;

	let p = |s: &str| Path::new(s).unwrap();
	let claims = Claims::new(p("room"))
		.with_publish(Path::root())
		.with_subscribe(Path::root());
	let good = key
		.sign(&claims.clone().with_expires(moq_token::unix_now() + 600))
		.unwrap();
	let expired = key.sign(&claims.clone().with_expires(1)).unwrap();
	let other = Key::generate(Algorithm::HS256, Some(KeyId::new("logs").unwrap())).unwrap();
	let forged = other
		.sign(&claims.clone().with_expires(moq_token::unix_now() + 600))
		.unwrap();
	let opaque = "opaque-credential-4b1d2c";

	// Admitted: raw QUIC and WebTransport, query and Bearer.
	announce_ok(&admitted(&relay, &format!("/room?jwt={good}")).await).await;
	announce_ok(&admitted(&relay, &format!("/room/x?token={good}&other=query-value-9f8e")).await).await;
	webtransport_served(&webtransport(&relay, &format!("/room?jwt={good}"), None).await).await;
	webtransport_served(&webtransport(&relay, "/room", Some(&format!("Bearer {good}"))).await).await;
	announce_ok(&admitted(&relay, "/anon?unrelated=query-value-7a6b").await).await;

	// Refused, every path.
	for target in [
		format!("/room?jwt={forged}"),
		format!("/room?jwt={expired}"),
		format!("/elsewhere?jwt={good}"),
		format!("/room?jwt={good}&auth_id={opaque}"),
		format!("/anon?auth_id={opaque}"),
		"/private?nothing=query-value-5c4d".to_string(),
		format!("/room/%2E%2E?jwt={good}"),
		// Misplaced inside the path: no credential, and never written back.
		format!("/room%3Fjwt={good}"),
		format!("/room;jwt={good}"),
	] {
		assert_eq!(closed(&admitted(&relay, &target).await).await.0, 2);
	}
	for (target, header) in [
		(format!("/room?jwt={forged}"), None),
		("/room".to_string(), Some(format!("Basic {opaque}"))),
		("/room".to_string(), Some(format!("Bearer {expired}"))),
	] {
		assert_eq!(
			webtransport_closed(&webtransport(&relay, &target, header.as_deref()).await)
				.await
				.0,
			2
		);
	}
	relay.stop().await;
	let _ = std::fs::remove_dir_all(&dir);

	let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
	assert!(
		logs.contains("session refused") && logs.contains("session admitted"),
		"the capture works"
	);
	assert!(logs.lines().count() > 100, "TRACE output of all crates was captured");
	let secret = key.to_value()["k"].as_str().unwrap().to_string();
	// Literal query syntax is fine in help text ("connect with ?jwt=<token>"); a value is not.
	let mut needles = vec![
		opaque.to_string(),
		secret,
		"query-value".to_string(),
		"jwt=ey".into(),
		"token=ey".into(),
		"Bearer ey".into(),
	];
	for token in [&good, &expired, &forged] {
		needles.push(token.clone());
		// Every part of the token, header aside (it is the same for every token of a key and
		// holds only alg, typ and kid).
		needles.extend(token.split('.').skip(1).map(str::to_string));
	}
	for needle in needles {
		if let Some(line) = logs.lines().find(|l| l.contains(&needle)) {
			panic!("a credential or query reached the logs ({needle:.12}...): {line:.200}");
		}
	}
}
