//! Token-scoped access end to end: the published moq-tokio client and raw QUIC/WebTransport
//! sessions against an in-process relay that verifies tokens with `auth.key`.

use crate::common;

use bytes::Bytes;
use common::{
	TestRelay, admitted, announce_ok, closed, webtransport, webtransport_closed, webtransport_served, within,
};
use moq_relay::wire::SessionCode;
use moq_relay_bench::publisher::{Publisher, write_group};
use moq_relay_bench::subscriber::{self, Subscriber};
use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, Path};
use std::time::Duration;

const UNAUTHORIZED: u64 = SessionCode::UNAUTHORIZED.into_inner() as u64;

fn p(s: &str) -> Path {
	Path::new(s).unwrap()
}

/// A relay that verifies tokens with a fresh HS256 key (kid `test`) and has no public prefix.
struct Setup {
	relay: TestRelay,
	key: Key,
	dir: std::path::PathBuf,
}

impl Setup {
	async fn start(name: &str) -> Self {
		Self::start_public(name, None).await
	}

	async fn start_public(name: &str, public: Option<&str>) -> Self {
		let dir = std::env::temp_dir().join(format!("moq-relay-auth-{name}-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		let key = Key::generate(Algorithm::HS256, Some(KeyId::new("test").unwrap())).unwrap();
		key.to_file(dir.join("root.jwk"), KeyFormat::Base64Url).unwrap();
		let key_file = dir.join("root.jwk");
		let public = public.map(|p| vec![p.to_string()]);
		let relay = TestRelay::start_with(move |config| {
			config.auth.key = Some(key_file);
			config.auth.public = public;
		})
		.await;
		Self { relay, key, dir }
	}

	fn token(&self, claims: &Claims) -> String {
		self.key
			.sign(&claims.clone().with_expires(moq_token::unix_now() + 600))
			.unwrap()
	}

	fn url(&self, path: &str, token: &str) -> url::Url {
		self.relay
			.url("https", &format!("{}?jwt={token}", path.trim_start_matches('/')))
	}

	async fn stop(self) {
		self.relay.stop().await;
		let _ = std::fs::remove_dir_all(&self.dir);
	}
}

/// The spec's example token: root `room/123`, pub `alice`, sub `""`.
fn spec_claims() -> Claims {
	Claims::new(p("room/123"))
		.with_publish(p("alice"))
		.with_subscribe(Path::root())
}

fn everything() -> Claims {
	Claims::new(Path::root())
		.with_publish(Path::root())
		.with_subscribe(Path::root())
}

/// A published-client session that publishes `names` (one track `t` each, one frame `hello` written).
pub async fn publish(relay: &TestRelay, url: url::Url, names: &[&str]) -> Publisher {
	let start = Publisher::start_many(relay.client(None), url, names, "t");
	let publisher = within("publisher established", start).await.unwrap();
	for track in publisher.tracks() {
		write_group(track, 1, |_, _| Bytes::from_static(b"hello")).unwrap();
	}
	publisher
}

/// A published-client session watching announcements.
struct Watcher(Subscriber);

async fn watch(relay: &TestRelay, url: url::Url) -> Watcher {
	let client = relay.client(None);
	let session = within("watcher established", Subscriber::connect(&client, url))
		.await
		.unwrap();
	Watcher(session)
}

impl Watcher {
	/// Announcements until every name in `wanted` is active; panics if one of `never` shows up
	/// first. Returns everything seen.
	async fn until(&mut self, wanted: &[&str], never: &[&str]) -> Vec<String> {
		let mut seen = Vec::new();
		while !wanted.iter().all(|w| seen.iter().any(|s| s == w)) {
			let update = within("announcement", self.0.announcements().next())
				.await
				.expect("announcements end");
			let name = update.prefix.as_str().to_string();
			assert!(
				!never.contains(&name.as_str()),
				"{name} must not be announced (seen {seen:?})"
			);
			if update.kind.is_active() {
				seen.push(name);
			}
		}
		seen
	}

	/// Reads the first frame of track `t` of `name`.
	async fn read(&self, name: &str) -> Bytes {
		let mut track = within("subscribe", subscriber::track(self.0.consumer(), name, "t"))
			.await
			.unwrap();
		let frames = within("group", subscriber::read_group(&mut track)).await.unwrap();
		frames.into_iter().next().expect("a frame")
	}
}

/// Every row of `docs/tokens.md` ("Authorizing a connection") and the allowed/denied examples of
/// `docs/auth.md`, with the published client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_table_rows_with_the_published_client() {
	let setup = Setup::start("table").await;
	let relay = &setup.relay;
	let token = setup.token(&spec_claims());
	let mut observer = watch(relay, setup.url("/", &setup.token(&everything()))).await;

	// /room/123: publish alice/** (not bob), subscribe everything.
	let _row1 = publish(
		relay,
		setup.url("/room/123", &token),
		&["bob/camera", "alice/camera", "alice/audio"],
	)
	.await;
	observer
		.until(
			&["room/123/alice/camera", "room/123/alice/audio"],
			&["room/123/bob/camera"],
		)
		.await;

	// /room/123/alice: publish everything below it.
	let _row2 = publish(relay, setup.url("/room/123/alice", &token), &["screen"]).await;
	observer.until(&["room/123/alice/screen"], &[]).await;

	// /room/123/bob: publish nothing, subscribe everything.
	let _full = publish(
		relay,
		setup.url("/", &setup.token(&everything())),
		&["room/123/bob/screen", "secret/x"],
	)
	.await;
	let mut bob = watch(relay, setup.url("/room/123/bob", &token)).await;
	bob.until(&["screen"], &[]).await;
	assert_eq!(bob.read("screen").await.as_ref(), b"hello", "subscribe to bob/screen");
	let _bob_pub = publish(relay, setup.url("/room/123/bob", &token), &["camera"]).await;

	// From /room/123 alice can subscribe to bob/screen; nothing outside the root is visible.
	let mut at_root = watch(relay, setup.url("/room/123", &token)).await;
	at_root
		.until(&["bob/screen", "alice/camera"], &["secret/x", "../secret/x"])
		.await;
	assert_eq!(at_root.read("bob/screen").await.as_ref(), b"hello");
	// bob's camera (published without permission) was never announced: the observer sees
	// another allowed broadcast appear after it and never the camera.
	let _late = publish(relay, setup.url("/room/123", &token), &["alice/late"]).await;
	observer.until(&["room/123/alice/late"], &["room/123/bob/camera"]).await;

	// Refused rows: the connection path must contain the token root.
	for refused in ["/room", "/room/1234", "/secret", "/"] {
		let conn = admitted(relay, &format!("{refused}?jwt={token}")).await;
		assert_eq!(
			closed(&conn).await,
			(UNAUTHORIZED, "root_mismatch".to_string()),
			"{refused}"
		);
	}
	setup.stop().await;
}

/// Read-only and write-only tokens, and the relative-path equivalences (`docs/auth.md`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_and_write_only_tokens() {
	let setup = Setup::start("rw").await;
	let relay = &setup.relay;
	let read_only = setup.token(&Claims::new(p("live")).with_subscribe(Path::root()));
	let write_only = setup.token(&Claims::new(p("live")).with_publish(Path::root()));
	let mut observer = watch(relay, setup.url("/", &setup.token(&everything()))).await;

	let _writer = publish(relay, setup.url("/live", &write_only), &["news"]).await;
	observer.until(&["live/news"], &[]).await;
	let _reader_pub = publish(relay, setup.url("/live", &read_only), &["forbidden"]).await;
	let mut reader = watch(relay, setup.url("/live", &read_only)).await;
	reader.until(&["news"], &["forbidden"]).await;
	assert_eq!(reader.read("news").await.as_ref(), b"hello");

	// The write-only session subscribes to nothing: it is told of no broadcast, while a
	// later broadcast shows the announcements flowed past it.
	let mut writer_watch = watch(relay, setup.url("/live", &write_only)).await;
	let _other = publish(relay, setup.url("/live", &write_only), &["later"]).await;
	observer.until(&["live/later"], &["live/forbidden"]).await;
	tokio::select! {
		update = writer_watch.0.announcements().next() => panic!("a write-only session was told of {:?}", update.map(|u| u.prefix)),
		_ = tokio::time::sleep(Duration::from_millis(300)) => {}
	}

	// `docs/auth.md`: connecting at /room/123 and subscribing `alice` reaches the same broadcast as
	// connecting at /room and subscribing `123/alice`, or at / and `room/123/alice`.
	let wide = Claims::new(Path::root()).with_subscribe(Path::root());
	let _alice = publish(relay, setup.url("/", &setup.token(&everything())), &["room/123/alice"]).await;
	for (at, name) in [("/room/123", "alice"), ("/room", "123/alice"), ("/", "room/123/alice")] {
		let mut w = watch(relay, setup.url(at, &setup.token(&wide))).await;
		w.until(&[name], &[]).await;
		assert_eq!(w.read(name).await.as_ref(), b"hello", "{at} {name}");
	}
	setup.stop().await;
}

/// A token signed by the published upstream moq-token crate (put/get claims).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_signed_tokens_work() {
	let setup = Setup::start("upstream").await;
	let relay = &setup.relay;
	let upstream_key = upstream_moq_token::Key::from_str(&setup.key.to_json()).unwrap();
	let claims = upstream_moq_token::Claims::default()
		.with_root("demo")
		.with_publish(["me"])
		.with_subscribe([""])
		.with_expires(Some(std::time::SystemTime::now() + Duration::from_secs(600)));
	let token = upstream_key.sign(&claims).unwrap();

	let _me = publish(relay, setup.url("/demo", &token), &["me/cam", "you/cam"]).await;
	let _late = publish(relay, setup.url("/demo", &token), &["me/late"]).await;
	let mut viewer = watch(relay, setup.url("/demo", &token)).await;
	viewer.until(&["me/cam", "me/late"], &["you/cam"]).await;
	assert_eq!(viewer.read("me/cam").await.as_ref(), b"hello");
	setup.stop().await;
}

/// Live sessions are served until `exp` and closed within a second after it with
/// `token_expired`; a new connection with the same token is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_close_when_the_token_expires() {
	let setup = Setup::start("expiry").await;
	let relay = &setup.relay;
	// Six seconds leave the set-up below (four sessions) time to finish well before `exp` on a
	// loaded machine: the check "still served before exp" must not race the expiry it checks.
	let exp = moq_token::unix_now() + 6;
	let token = setup.key.sign(&everything().with_expires(exp)).unwrap();
	let deadline = std::time::UNIX_EPOCH + Duration::from_secs(exp);

	let _publisher = publish(relay, setup.url("/", &token), &["live"]).await;
	let mut viewer = watch(relay, setup.url("/", &token)).await;
	viewer.until(&["live"], &[]).await;
	let raw_pub = admitted(relay, &format!("/?jwt={token}")).await;
	let raw_sub = admitted(relay, &format!("/?jwt={token}")).await;

	// 2 s before exp both are still served (an ANNOUNCE_OK round trip fits in 2 s, however
	// loaded the machine).
	let before = deadline - Duration::from_secs(2);
	tokio::time::sleep(before.duration_since(std::time::SystemTime::now()).unwrap_or_default()).await;
	announce_ok(&raw_sub).await;
	announce_ok(&raw_pub).await;
	assert_eq!(viewer.read("live").await.as_ref(), b"hello");

	for conn in [&raw_pub, &raw_sub] {
		assert_eq!(closed(conn).await, (UNAUTHORIZED, "token_expired".to_string()));
		let late = std::time::SystemTime::now()
			.duration_since(deadline)
			.unwrap_or_default();
		assert!(late < Duration::from_secs(1), "closed {late:?} after exp");
	}
	let again = admitted(relay, &format!("/?jwt={token}")).await;
	assert_eq!(closed(&again).await, (UNAUTHORIZED, "token_expired".to_string()));
	setup.stop().await;
}

/// No token, bad signature, wrong root, useless token: refused with the right code, and a bad
/// token is never treated as anonymous even where anonymous access exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_their_codes() {
	let setup = Setup::start_public("refusals", Some("anon")).await;
	let relay = &setup.relay;
	let good = setup.token(&spec_claims());
	let other = Key::generate(Algorithm::HS256, Some(KeyId::new("test").unwrap())).unwrap();
	let forged = other
		.sign(&spec_claims().with_expires(moq_token::unix_now() + 600))
		.unwrap();
	let useless = setup.key.sign_payload(br#"{"root":"room/123"}"#).unwrap();
	let cases = [
		("/room/123".to_string(), "missing_credential"),
		(format!("/room/123?jwt={forged}"), "invalid_token: bad_signature"),
		(format!("/anon?jwt={forged}"), "invalid_token: bad_signature"),
		(format!("/anon?jwt={good}"), "root_mismatch"),
		(format!("/room?jwt={good}"), "root_mismatch"),
		(format!("/room/123?jwt={useless}"), "invalid_token: useless_token"),
		("/anon?jwt=not-a-token".to_string(), "invalid_token: malformed"),
		(format!("/room/123?jwt={good}&token={forged}"), "ambiguous_credentials"),
		(format!("/room/123/%2E%2E/x?jwt={good}"), "unauthorized"),
	];
	for (target, reason) in cases {
		let conn = admitted(relay, &target).await;
		assert_eq!(closed(&conn).await, (UNAUTHORIZED, reason.to_string()), "{reason}");
	}
	// The same refusals over WebTransport, decided from the CONNECT before any MoQ message.
	for (target, reason) in [
		("/room/123".to_string(), "missing_credential"),
		(format!("/room/123?jwt={forged}"), "invalid_token: bad_signature"),
		(format!("/room?jwt={good}"), "root_mismatch"),
	] {
		let session = webtransport(relay, &target, None).await;
		assert_eq!(webtransport_closed(&session).await, (2, reason.to_string()), "{reason}");
	}
	// Anonymous access still works, and the good token works at its root.
	announce_ok(&admitted(relay, "/anon").await).await;
	announce_ok(&admitted(relay, &format!("/room/123?jwt={good}")).await).await;
	setup.stop().await;
}

/// Credentials from `Authorization: Bearer` on the CONNECT, `token=` and `auth_id=`; two at once
/// are ambiguous; a header in another scheme is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_sources() {
	let setup = Setup::start("sources").await;
	let relay = &setup.relay;
	let token = setup.token(&spec_claims());
	let bearer = format!("Bearer {token}");

	// Bearer over WebTransport: admitted and served.
	let session = webtransport(relay, "/room/123", Some(&bearer)).await;
	webtransport_served(&session).await;
	let ok = webtransport(relay, &format!("/room/123?jwt={token}"), None).await;
	webtransport_served(&ok).await;
	let refused = webtransport(relay, "/room/123", None).await;
	assert_eq!(webtransport_closed(&refused).await.1, "missing_credential");
	// Two different credentials are ambiguous (the same one twice is just one).
	let other = setup.token(&everything());
	let both = webtransport(relay, &format!("/room/123?jwt={other}"), Some(&bearer)).await;
	assert_eq!(webtransport_closed(&both).await.1, "ambiguous_credentials");
	let same = webtransport(relay, &format!("/room/123?jwt={token}"), Some(&bearer)).await;
	webtransport_served(&same).await;
	let basic = webtransport(relay, "/room/123", Some("Basic dXNlcjpwdw==")).await;
	assert_eq!(webtransport_closed(&basic).await.1, "invalid_auth_header");

	for name in ["token", "auth_id", "jwt"] {
		let conn = admitted(relay, &format!("/room/123?{name}={token}")).await;
		announce_ok(&conn).await;
	}
	let two = admitted(relay, &format!("/room/123?token={token}&auth_id=x{token}")).await;
	assert_eq!(closed(&two).await.1, "ambiguous_credentials");
	// An empty jwt= is no credential; the last non-empty value wins.
	let last = admitted(relay, &format!("/room/123?jwt=garbage&jwt={token}&jwt=")).await;
	announce_ok(&last).await;
	setup.stop().await;
}

/// Every negative case of the shared token corpus that the `hs256` key decides, presented to the
/// relay as `?jwt=`: refused with `invalid_token: <the corpus code>`, never admitted. Cases whose
/// verdict depends on the corpus' fixed clock (expired, not yet valid) are covered above with
/// real time; `too_large` tokens do not fit a SETUP Path and are refused by the library test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_corpus_cases_are_refused_with_their_codes() {
	let vectors = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/token"));
	let read = |name: &str| -> serde_json::Value {
		serde_json::from_str(&std::fs::read_to_string(vectors.join(name)).unwrap()).unwrap()
	};
	let keys = read("keys.json");
	let scratch = crate::common::scratch("moq-relay-auth-corpus-");
	let dir = scratch.path().to_path_buf();
	let key = Key::from_value(&keys["keys"]["hs256"]).unwrap();
	key.to_file(dir.join("hs256.jwk"), KeyFormat::Json).unwrap();
	let key_file = dir.join("hs256.jwk");
	let relay = TestRelay::start_with(move |config| config.auth.key = Some(key_file)).await;

	let mut checked = 0;
	for file in [
		"verify-moq-token-rs.json",
		"verify-upstream.json",
		"verify-pyjwt.json",
		"verify-moq-token-ts.json",
	] {
		for case in read(file)["cases"].as_array().unwrap() {
			let Some(code) = case["expect"]["error"].as_str() else {
				continue;
			};
			if case["key"] != "hs256" || ["expired", "not_yet_valid", "too_large"].contains(&code) {
				continue;
			}
			let token = case["token"].as_str().unwrap();
			// Query syntax: the token travels percent-encoded, as a browser's URL would carry it.
			let encoded: String = token
				.bytes()
				.map(|b| match b {
					b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
					other => format!("%{other:02X}"),
				})
				.collect();
			let conn = admitted(&relay, &format!("/room/123?jwt={encoded}")).await;
			let (close, reason) = closed(&conn).await;
			let name = case["name"].as_str().unwrap();
			assert_eq!(close, UNAUTHORIZED, "{file}: {name}");
			// A token the corpus refuses for its claims may be refused by the relay for the same
			// reason only; an empty token is no credential at all.
			let expected = if token.is_empty() {
				"missing_credential".to_string()
			} else {
				format!("invalid_token: {code}")
			};
			assert_eq!(reason, expected, "{file}: {name}");
			// The same token as `Authorization: Bearer` on WebTransport, and in a draft-14
			// CLIENT_SETUP's AUTHORIZATION TOKEN: the same refusal.
			if !token.is_empty() {
				let refused =
					crate::ietf::quic_session(&relay, vec![crate::ietf::path("/room/123"), crate::ietf::token(token)])
						.await;
				assert_eq!(
					refused.map(|_| ()),
					Err((UNAUTHORIZED, expected.clone())),
					"SETUP token, {file}: {name}"
				);
				let session = webtransport(&relay, "/room/123", Some(&format!("Bearer {token}"))).await;
				let (close, reason) = webtransport_closed(&session).await;
				assert_eq!(
					(u64::from(close), reason.as_str()),
					(UNAUTHORIZED, expected.as_str()),
					"Bearer, {file}: {name}"
				);
			}
			checked += 1;
		}
	}
	assert!(
		checked >= 80,
		"only {checked} corpus cases were presented (91 when written)"
	);
	relay.stop().await;

	// With the default cool-down, an address that keeps presenting bad tokens is refused with
	// too_many_attempts, even with a good token, before any verifier is asked.
	let key_file = dir.join("hs256.jwk");
	let relay = TestRelay::start_with(move |config| {
		config.auth.key = Some(key_file);
		config.limits.auth_failures = Some(3);
	})
	.await;
	let good = key
		.sign(
			&Claims::new(p("room"))
				.with_subscribe(Path::root())
				.with_expires(moq_token::unix_now() + 600),
		)
		.unwrap();
	for _ in 0..3 {
		let conn = admitted(&relay, "/room?jwt=not-a-token").await;
		assert_eq!(
			closed(&conn).await,
			(UNAUTHORIZED, "invalid_token: malformed".to_string())
		);
	}
	let conn = admitted(&relay, &format!("/room?jwt={good}")).await;
	assert_eq!(closed(&conn).await, (UNAUTHORIZED, "too_many_attempts".to_string()));
	let session = webtransport(&relay, "/room", Some(&format!("Bearer {good}"))).await;
	let (close, reason) = webtransport_closed(&session).await;
	assert_eq!((u64::from(close), reason.as_str()), (UNAUTHORIZED, "too_many_attempts"));
	relay.stop().await;
}
