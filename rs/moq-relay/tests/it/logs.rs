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

	let scratch = crate::common::scratch("moq-relay-logs-");
	let dir = scratch.path().to_path_buf();
	let key = Key::generate(Algorithm::HS256, Some(KeyId::new("logs").unwrap())).unwrap();
	key.to_file(dir.join("root.jwk"), KeyFormat::Base64Url).unwrap();
	let key_file = dir.join("root.jwk");
	let relay = TestRelay::start_with(move |config| {
		config.auth.key = Some(key_file);
		config.auth.public = Some(vec!["anon".into()]);
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

/// No API key, bearer token for the auth service, service answer body, request JWT or signing key
/// reaches the logs at TRACE, on any path: API keys by every carrier (right and wrong), tokens the
/// service allows, denies (with a body) or fails on, over HTTP, raw QUIC and WebTransport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_api_key_service_token_body_or_signing_key_reaches_the_logs_at_trace() {
	use crate::auth_service::{PublicKey, Reply, Scratch, TestService, get, operator_keys};

	let dir = Scratch::new("logs-service");
	let (private, public) = operator_keys(&dir.0, false);
	let capture = common::Capture::install_trace();
	let service = TestService::start("moq-relay").await;
	service.trust(PublicKey::Pem(std::fs::read(&public).unwrap()));
	let api_key = "api-key-secret-3c2b1a09f8e7";
	let named_key = "named-key-secret-6d5c4b3a2918";
	let allowed = "svc-token-allowed-8a7b6c5d";
	let denied = "svc-token-denied-1f2e3d4c";
	let failing = "svc-token-failing-9e8d7c6b";
	let deny_body = "service-deny-body-5e6f7a8b";
	let error_body = "service-error-body-2c3d4e5f";
	service.script(
		allowed,
		Reply::new(200, "{\"subject\": \"user-1\"}").cached("max-age=60"),
	);
	service.script(denied, Reply::new(401, deny_body));
	service.script(failing, Reply::new(500, error_body));
	let (url, key) = (service.url(), private.clone());
	let relay = TestRelay::start_with(move |config| {
		config.auth.api_keys = Some(vec![api_key.into()]);
		config.auth.api_key = Some(vec![moq_relay::config::ApiKeyEntry {
			name: "named".into(),
			key: named_key.into(),
			..Default::default()
		}]);
		config.auth.service_url = Some(url);
		config.auth.signing_key = Some(key);
	})
	.await;

	for (key, admit) in [(api_key, true), (named_key, true), ("wrong-api-key-4f3e2d1c", false)] {
		let bearer = format!("Bearer {key}");
		get(relay.addr, "/announced/room", &[("authorization", &bearer)]).await;
		get(relay.addr, "/announced/room", &[("kyutai-api-key", key)]).await;
		get(relay.addr, &format!("/announced/room?auth_id={key}"), &[]).await;
		session(&relay, &format!("/room?auth_id={key}"), None, admit).await;
		session(&relay, "/room", Some(&bearer), admit).await;
	}
	for (token, admit) in [(allowed, true), (denied, false), (failing, false)] {
		let bearer = format!("Bearer {token}");
		get(relay.addr, "/announced/room", &[("authorization", &bearer)]).await;
		get(relay.addr, &format!("/announced/room?token={token}"), &[]).await;
		session(&relay, &format!("/room?jwt={token}"), None, admit).await;
		session(&relay, &format!("/room?token={token}"), Some(""), admit).await;
	}
	let jwts: Vec<String> = service.received().into_iter().map(|r| r.jwt).collect();
	assert!(jwts.len() >= 6, "the service was asked");
	relay.stop().await;
	service.stop().await;

	let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
	drop(capture);
	assert!(
		logs.contains("session admitted") && logs.contains("api_key:named") && logs.contains("auth_service:user-1"),
		"the capture works, and names the keys and users"
	);
	let pem = std::fs::read_to_string(&private).unwrap();
	let mut needles: Vec<String> = vec![
		api_key.into(),
		named_key.into(),
		"wrong-api-key-4f3e2d1c".into(),
		allowed.into(),
		denied.into(),
		failing.into(),
		deny_body.into(),
		error_body.into(),
	];
	// Every line of the private key, and every part of every request JWT but its header.
	needles.extend(pem.lines().filter(|l| !l.starts_with("-----")).map(str::to_string));
	for jwt in &jwts {
		needles.extend(jwt.split('.').skip(1).map(str::to_string));
	}
	for needle in needles {
		if let Some(line) = logs.lines().find(|l| l.contains(&needle)) {
			panic!("a secret reached the logs ({needle:.12}...): {line:.200}");
		}
	}
}

/// A session at `target`, raw QUIC (`authorization` `None`) or WebTransport (with that
/// `Authorization` header, none if empty), admitted or refused as `admit` says.
async fn session(relay: &TestRelay, target: &str, authorization: Option<&str>, admit: bool) {
	match authorization {
		None => {
			let conn = admitted(relay, target).await;
			match admit {
				true => drop(announce_ok(&conn).await),
				false => assert_eq!(closed(&conn).await.0, 2, "{target:.12}"),
			}
		}
		Some(header) => {
			let header = (!header.is_empty()).then_some(header);
			let session = webtransport(relay, target, header).await;
			match admit {
				true => drop(webtransport_served(&session).await),
				false => assert_eq!(webtransport_closed(&session).await.0, 2, "{target:.12}"),
			}
		}
	}
}
