//! MoQ over WebSocket (`src/transport/ws.rs`): the published Rust client (`moq-tokio`, feature
//! `websocket`) publishes and subscribes through the relay over `ws://` and `wss://` at every
//! moq-lite version, with tokens enforced as on WebTransport; the upgrade's refusals; a subscriber
//! that stops reading is shed without costing its neighbour anything.

use crate::common;

use std::time::Duration;

use bytes::Bytes;
use common::{TestRelay, within};
use moq_relay_bench::publisher::Publisher;
use moq_relay_bench::subscriber::{self, Subscriber};

const VERSIONS: [&str; 3] = ["moq-lite-04", "moq-lite-05", "moq-lite-06"];
const FRAMES: u64 = 4;

fn version(name: &str) -> moq_net::Version {
	name.parse().unwrap()
}

/// A publisher of `name` with one track `t` over `url`, and the task writing a group every 20 ms
/// whose frames are `"<group>:<frame>"` (each padded to `size` bytes).
async fn publisher(
	relay: &TestRelay,
	url: url::Url,
	pinned: Option<&str>,
	name: &str,
	size: usize,
) -> (Publisher, tokio::task::JoinHandle<()>) {
	let client = relay.client(pinned.map(version));
	let publisher = within("publisher established", Publisher::start(client, url, name, "t"))
		.await
		.unwrap();
	let track = publisher.track().clone();
	let writer = tokio::spawn(async move {
		let mut interval = tokio::time::interval(Duration::from_millis(20));
		loop {
			interval.tick().await;
			let Ok(mut group) = track.append_group() else { return };
			let sequence = group.sequence;
			for i in 0..FRAMES {
				let mut payload = format!("{sequence}:{i}").into_bytes();
				payload.resize(size.max(payload.len()), b'.');
				let at = moq_net::Timestamp::from_millis(sequence * 1000 + i).unwrap();
				if group.write_frame(at, Bytes::from(payload)).is_err() {
					return;
				}
			}
			if group.finish().is_err() {
				return;
			}
		}
	});
	(publisher, writer)
}

/// Reads `count` whole groups of `name`'s track `t` and checks every frame's payload and order;
/// returns their sequences. A group the relay reset in favour of a newer one (a loaded machine) is
/// skipped; a group that ends short fails the test.
async fn read_groups(session: &mut Subscriber, name: &str, count: usize, who: &str) -> Vec<u64> {
	within("announced", session.announced(name, true)).await.unwrap();
	// A max age, so the client keeps reading a group after a newer one starts (the default, zero,
	// abandons it: that would be the client's cut, not the relay's).
	let subscription = moq_net::track::Subscription::default().with_max_age(Duration::from_secs(30));
	let subscribe = subscriber::track_with(session.consumer(), name, "t", Some(subscription));
	let mut track = within("subscription", subscribe).await.unwrap();
	let mut whole = Vec::new();
	for _ in 0..50 {
		if whole.len() == count {
			return whole;
		}
		let mut group = within("group", track.recv_group()).await.unwrap().expect("track ended");
		let mut frames = Vec::new();
		let cut = loop {
			match within("frame", group.read_frame()).await {
				Ok(Some(frame)) => frames.push(frame.payload),
				Ok(None) => break false,
				Err(_) => break true,
			}
		};
		if cut {
			continue;
		}
		assert_eq!(frames.len() as u64, FRAMES, "{who} {name}: {frames:?}");
		let sequence: u64 = std::str::from_utf8(&frames[0])
			.unwrap()
			.split(':')
			.next()
			.unwrap()
			.parse()
			.unwrap();
		for (i, frame) in frames.iter().enumerate() {
			let text = std::str::from_utf8(frame).unwrap().trim_end_matches('.');
			assert_eq!(text, format!("{sequence}:{i}"), "{name}");
		}
		whole.push(sequence);
	}
	panic!("{name}: no {count} whole groups in 50");
}

/// Acceptance: over `ws://` and `wss://`, at lite-04, -05 and -06, the published client publishes
/// and subscribes through the relay with the version it asked for, and a raw QUIC subscriber reads
/// the same broadcast with the same frames (the same delivery as over QUIC).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_client_over_ws_and_wss_at_every_version() {
	let relay = TestRelay::start(Some("anon")).await;
	for scheme in ["ws", "wss"] {
		for name in VERSIONS {
			let path = format!("anon/{scheme}/{name}");
			let (publisher, writer) = publisher(&relay, relay.url(scheme, ""), Some(name), &path, 16).await;
			assert_eq!(
				publisher.connection().version().map(|v| v.to_string()).as_deref(),
				Some(name),
				"{scheme}"
			);
			let client = relay.client(Some(version(name)));
			let mut session = within(
				"subscriber established",
				Subscriber::connect(&client, relay.url(scheme, "")),
			)
			.await
			.unwrap();
			assert_eq!(
				session.connection().version().map(|v| v.to_string()).as_deref(),
				Some(name),
				"{scheme}"
			);
			let over_ws = read_groups(&mut session, &path, 3, scheme).await;
			let quic = relay.client(Some(version(name)));
			let mut quic_session = within(
				"QUIC subscriber established",
				Subscriber::connect(&quic, relay.url("moqt", "")),
			)
			.await
			.unwrap();
			let over_quic = read_groups(&mut quic_session, &path, 3, "QUIC").await;
			// Whole groups, each once (concurrent group streams may arrive in any order).
			for groups in [&over_ws, &over_quic] {
				let distinct: std::collections::BTreeSet<_> = groups.iter().collect();
				assert_eq!(
					distinct.len(),
					groups.len(),
					"{scheme} {name}: {over_ws:?} {over_quic:?}"
				);
			}
			writer.abort();
			quic_session.close().await;
			session.close().await;
			publisher.close().await;
			client.close().await;
			quic.close().await;
		}
	}
	relay.stop().await;
}

/// A relay that verifies tokens with a fresh HS256 key and has no public prefix.
struct Tokens {
	relay: TestRelay,
	key: moq_token::Key,
	dir: std::path::PathBuf,
}

impl Tokens {
	async fn start() -> Self {
		use moq_token::{Algorithm, Key, KeyFormat, KeyId};
		let dir = std::env::temp_dir().join(format!("moq-relay-ws-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		let key = Key::generate(Algorithm::HS256, Some(KeyId::new("test").unwrap())).unwrap();
		key.to_file(dir.join("root.jwk"), KeyFormat::Base64Url).unwrap();
		let key_file = dir.join("root.jwk");
		let relay = TestRelay::start_with(move |config| {
			config.auth.key = Some(key_file);
			config.auth.public = None;
		})
		.await;
		Self { relay, key, dir }
	}

	/// A token for everything under `root`.
	fn token(&self, root: &str) -> String {
		let root = moq_token::Path::new(root).unwrap();
		let claims = moq_token::Claims::new(root)
			.with_publish(moq_token::Path::root())
			.with_subscribe(moq_token::Path::root())
			.with_expires(moq_token::unix_now() + 600);
		self.key.sign(&claims).unwrap()
	}

	async fn stop(self) {
		self.relay.stop().await;
		let _ = std::fs::remove_dir_all(&self.dir);
	}
}

/// A WebSocket upgrade over plain TCP to `path` (with its query) offering lite-05 on qmux-01, with
/// `headers`: the session, or the refusal's status and body.
async fn raw_upgrade(
	relay: &TestRelay,
	path: &str,
	headers: &[(&str, &str)],
) -> Result<moq_relay::transport::ws::WsSession, (u16, String)> {
	use qmux::ws::tokio_tungstenite::{client_async, tungstenite::client::IntoClientRequest};
	let mut request = format!("ws://127.0.0.1:{}{path}", relay.addr.port())
		.into_client_request()
		.unwrap();
	let mut offered = "qmux-01.moq-lite-05, qmux-01".to_string();
	for (name, value) in headers {
		if *name == "sec-websocket-protocol" {
			offered = value.to_string();
			continue;
		}
		request.headers_mut().insert(
			axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
			value.parse().unwrap(),
		);
	}
	request
		.headers_mut()
		.insert("sec-websocket-protocol", offered.parse().unwrap());
	let tcp = within("TCP connect", tokio::net::TcpStream::connect(relay.addr))
		.await
		.unwrap();
	match within("upgrade", client_async(request, tcp)).await {
		Ok((ws, response)) => {
			let answered = response.headers()["sec-websocket-protocol"]
				.to_str()
				.unwrap()
				.to_string();
			Ok(moq_relay::transport::ws::WsSession::client(ws, &answered))
		}
		Err(qmux::ws::tungstenite::Error::Http(response)) => {
			let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
			Err((response.status().as_u16(), body))
		}
		Err(err) => panic!("upgrade failed: {err}"),
	}
}

/// Waits for the relay to close `session` with the unauthorized code and a reason holding `code`.
async fn assert_closed_with(session: &moq_relay::transport::ws::WsSession, code: &str) {
	use moq_relay::transport::Session as _;
	let closed = within("the relay's close", session.closed()).await;
	let text = closed.to_string();
	assert!(text.contains("2: ") && text.contains(code), "{text}");
}

/// How the published client's session at `url` ended: the error's text.
async fn refused(relay: &TestRelay, url: url::Url) -> String {
	let connection = relay.client(None).connect(url);
	let ended = within("the published client refused", connection.closed()).await;
	ended.expect_err("refused").to_string()
}

/// Acceptance: `?jwt=` is enforced on WebSocket exactly as on WebTransport, over `ws://` and
/// `wss://`: a good token publishes and subscribes; a token for another root and no token at all
/// are refused with their codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_enforced_over_ws_and_wss() {
	let setup = Tokens::start().await;
	let relay = &setup.relay;
	let good = setup.token("room");
	for scheme in ["ws", "wss"] {
		let url = relay.url(scheme, &format!("room?jwt={good}"));
		let name = format!("{scheme}-cam");
		let (publisher, writer) = publisher(relay, url.clone(), None, &name, 16).await;
		let client = relay.client(None);
		let mut session = within("subscriber established", Subscriber::connect(&client, url))
			.await
			.unwrap();
		read_groups(&mut session, &name, 2, scheme).await;
		writer.abort();
		session.close().await;
		publisher.close().await;

		// A token for another root than the URL's path, and no token at all: the published client
		// reads the unauthorized close code.
		let other = setup.token("elsewhere");
		let err = refused(relay, relay.url(scheme, &format!("room?jwt={other}"))).await;
		assert!(err.contains("unauthorized"), "{scheme}: {err}");
		let err = refused(relay, relay.url(scheme, "room")).await;
		assert!(err.contains("unauthorized"), "{scheme}: {err}");
	}
	// The close carries the refusal's code as its reason, as on WebTransport.
	let session = raw_upgrade(relay, &format!("/room?jwt={}", setup.token("elsewhere")), &[])
		.await
		.unwrap();
	assert_closed_with(&session, "root_mismatch").await;
	let session = raw_upgrade(relay, "/room", &[]).await.unwrap();
	assert_closed_with(&session, "missing_credential").await;
	// `Authorization: Bearer` on the upgrade, as native clients send it.
	let bearer = format!("Bearer {good}");
	let session = raw_upgrade(relay, "/room", &[("authorization", &bearer)])
		.await
		.unwrap();
	// Admitted: the relay opens its SETUP stream (a refused session never gets one).
	within("the relay's SETUP", moq_relay::transport::Session::accept_uni(&session))
		.await
		.unwrap();
	let bad = raw_upgrade(relay, "/room", &[("authorization", "Bearer nope")])
		.await
		.unwrap();
	assert_closed_with(&bad, "").await;
	setup.stop().await;
}
