//! API keys end to end (`docs/auth.md`, "API keys"): every carrier (`Authorization: Bearer`, the
//! `kyutai-api-key` header, `?auth_id=`, `?token=`) on the HTTP routes and on MoQ sessions over
//! WebTransport and raw QUIC with the published moq-tokio client; wrong keys refused; a key with a
//! narrower grant held to it.

use crate::auth_service::{get, refusal};
use crate::common::{self, TestRelay, within};

const OPS: &str = "ops-key-8f1e2d3c4b5a69788796";
const VIEWER: &str = "viewer-key-0a1b2c3d4e5f6071";

/// Publishes `name` at `url` with the shared publisher fixture (one track `t`, one frame `hello`).
pub async fn publish(relay: &TestRelay, url: url::Url, name: &str) -> moq_relay_bench::publisher::Publisher {
	crate::auth::publish(relay, url, &[name]).await
}

/// A published-client session watching announcements.
struct Watcher {
	consumer: moq_net::origin::Consumer,
	announced: moq_net::announce::Consumer,
	_connection: moq_tokio::Connection,
}

async fn watch(relay: &TestRelay, url: url::Url) -> Watcher {
	let origin = moq_tokio::origin::spawn();
	let consumer = origin.consume();
	let announced = consumer.announced();
	let connection = relay.client(None).with_subscriber(origin).connect(url);
	let connection = within("watcher established", connection.established()).await.unwrap();
	Watcher {
		consumer,
		announced,
		_connection: connection,
	}
}

impl Watcher {
	/// Waits until `wanted` is announced; panics if `never` is announced first.
	async fn until(&mut self, wanted: &str, never: &str) {
		loop {
			let update = within("announcement", self.announced.next())
				.await
				.expect("announcements end");
			let name = update.prefix.as_str();
			assert_ne!(name, never, "{never} must not be announced");
			if name == wanted && update.kind.is_active() {
				return;
			}
		}
	}

	/// Reads the first frame of track `t` of `name`.
	async fn read(&self, name: &str) -> bytes::Bytes {
		let broadcast = within("broadcast", self.consumer.request_broadcast(name))
			.await
			.unwrap();
		let mut track = within("subscribe", broadcast.track("t").unwrap().subscribe(None))
			.await
			.unwrap();
		let mut group = within("group", track.recv_group()).await.unwrap().expect("a group");
		within("frame", group.read_frame())
			.await
			.unwrap()
			.expect("a frame")
			.payload
	}
}

/// A relay with an unnamed key granting everything and a named subscribe-only key below `live`.
async fn start() -> TestRelay {
	TestRelay::start_with(|config| {
		config.auth.api_keys = Some(vec![OPS.into()]);
		config.auth.api_key = Some(vec![moq_relay::config::ApiKeyEntry {
			name: "viewer".into(),
			key: VIEWER.into(),
			root: Some("live".into()),
			publish: Some(vec![]),
			subscribe: Some(vec![String::new()]),
		}]);
	})
	.await
}

/// Acceptance: HTTP routes, every carrier; wrong keys refused; the narrower key held to its grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_carrier_on_http() {
	let relay = start().await;
	let bearer = format!("Bearer {OPS}");
	for (path, headers) in [
		("/announced/live".to_string(), vec![("authorization", bearer.as_str())]),
		("/announced/live".to_string(), vec![("kyutai-api-key", VIEWER)]),
		(format!("/announced/live?auth_id={OPS}"), vec![]),
		(format!("/announced/live?token={VIEWER}"), vec![]),
		// The same key in two places is one credential.
		(format!("/announced/live?auth_id={OPS}"), vec![("kyutai-api-key", OPS)]),
	] {
		assert_eq!(get(relay.addr, &path, &headers).await.0, 200, "{path} {headers:?}");
	}
	for (path, headers, code) in [
		(
			"/announced/live",
			vec![("authorization", "Bearer wrong-key")],
			"unauthorized",
		),
		("/announced/live", vec![("kyutai-api-key", "wrong-key")], "unauthorized"),
		("/announced/live?auth_id=wrong-key", vec![], "unauthorized"),
		("/announced/live", vec![], "missing_credential"),
		(
			"/announced/live?auth_id=x",
			vec![("kyutai-api-key", VIEWER)],
			"ambiguous_credentials",
		),
		// The viewer key's grant is below `live`.
		("/announced/other", vec![("kyutai-api-key", VIEWER)], "root_mismatch"),
	] {
		let (status, body) = get(relay.addr, path, &headers).await;
		let expected = if code == "root_mismatch" { 403 } else { 401 };
		assert_eq!(
			(status, refusal(&body).0.as_str()),
			(expected, code),
			"{path} {headers:?}"
		);
	}
	let (_, metrics) = get(relay.addr, "/metrics", &[]).await;
	assert!(
		metrics.contains("moq_relay_api_key_grants_total{name=\"key-1\"}")
			&& metrics.contains("moq_relay_api_key_grants_total{name=\"viewer\"}"),
		"{metrics}"
	);
	assert!(
		metrics.contains("moq_relay_auth_decisions_total{kind=\"api_key\",outcome=\"granted\"}"),
		"{metrics}"
	);
	relay.stop().await;
}

/// Acceptance: MoQ sessions with the published client over WebTransport and raw QUIC (`?auth_id=`,
/// `?token=`), and with a Bearer header on the WebTransport CONNECT; the viewer key subscribes but
/// cannot publish; wrong keys are closed with `unauthorized`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moq_sessions_with_the_published_client() {
	let relay = start().await;
	// The ops key publishes over WebTransport...
	let _camera = publish(&relay, relay.url("https", &format!("live?auth_id={OPS}")), "camera").await;
	// ...the viewer watches over raw QUIC and reads it.
	let mut viewer = watch(&relay, relay.url("moqt", &format!("live?auth_id={VIEWER}"))).await;
	viewer.until("camera", "").await;
	assert_eq!(viewer.read("camera").await.as_ref(), b"hello");
	// The viewer's own broadcast is never announced (its grant publishes nothing), while a later
	// broadcast of the ops key is.
	let _forbidden = publish(&relay, relay.url("moqt", &format!("live?token={VIEWER}")), "forbidden").await;
	let _later = publish(&relay, relay.url("moqt", &format!("live?token={OPS}")), "later").await;
	viewer.until("later", "forbidden").await;

	// `Authorization: Bearer` on the WebTransport CONNECT.
	common::webtransport_served(&common::webtransport(&relay, "/live", Some(&format!("Bearer {OPS}"))).await).await;

	// The `kyutai-api-key` header on the WebTransport CONNECT (native clients can send it).
	let session = common::webtransport_with(&relay, "/live", &[("kyutai-api-key", OPS)]).await;
	common::webtransport_served(&session).await;
	let session = common::webtransport_with(&relay, "/live", &[("kyutai-api-key", "wrong-key")]).await;
	assert_eq!(
		common::webtransport_closed(&session).await,
		(2, "unauthorized".to_string())
	);
	// Wrong keys, every transport.
	let conn = common::admitted(&relay, "/live?auth_id=wrong-key").await;
	assert_eq!(common::closed(&conn).await, (2, "unauthorized".to_string()));
	let session = common::webtransport(&relay, "/live", Some("Bearer wrong-key")).await;
	assert_eq!(
		common::webtransport_closed(&session).await,
		(2, "unauthorized".to_string())
	);
	let session = common::webtransport(&relay, "/live?auth_id=wrong-key", None).await;
	assert_eq!(
		common::webtransport_closed(&session).await,
		(2, "unauthorized".to_string())
	);
	// The published client is refused too: its connection ends with the relay's close.
	let refused = relay.client(None).connect(relay.url("https", "live?auth_id=wrong-key"));
	let ended = within("the published client refused", refused.closed()).await;
	let err = ended.expect_err("refused");
	assert!(err.to_string().contains("unauthorized"), "{err}");
	// The viewer key outside its root.
	let conn = common::admitted(&relay, &format!("/other?auth_id={VIEWER}")).await;
	assert_eq!(common::closed(&conn).await, (2, "root_mismatch".to_string()));
	relay.stop().await;
}
