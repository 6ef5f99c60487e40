//! Relay clusters (`docs/cluster.md`): relays on 127.0.0.1 linked with `[cluster] connect` and a
//! cluster token, carrying announcements, subscriptions and data between the published
//! client's sessions on different relays.

use crate::common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{TestRelay, http_get, metrics, start, within};
use moq_net::stats;
use moq_relay::client;
use moq_relay_bench::publisher::{Publisher, write_group};
use moq_relay_bench::subscriber::{self, Subscriber};
use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, Path};

/// A signing key and a cluster token file shared by the relays of one test.
struct Keys {
	dir: PathBuf,
	key: Key,
	key_file: PathBuf,
	token_file: PathBuf,
}

impl Keys {
	fn new(name: &str) -> Self {
		let dir = std::env::temp_dir().join(format!("moq-relay-cluster-{name}-{}", std::process::id()));
		let _ = std::fs::remove_dir_all(&dir);
		std::fs::create_dir_all(&dir).unwrap();
		let key = Key::generate(Algorithm::HS256, Some(KeyId::new("cluster").unwrap())).unwrap();
		let key_file = dir.join("root.jwk");
		key.to_file(&key_file, KeyFormat::Base64Url).unwrap();
		let keys = Self {
			token_file: dir.join("cluster.jwt"),
			dir,
			key,
			key_file,
		};
		keys.write_token(true, moq_token::unix_now() + 600);
		keys
	}

	/// Writes the token file: root, pub and sub `""`, `cluster` as given, expiring at `exp`.
	fn write_token(&self, cluster: bool, exp: u64) {
		let everything = Claims::new(Path::root())
			.with_publish(Path::root())
			.with_subscribe(Path::root());
		let claims = if cluster {
			everything.with_cluster(true)
		} else {
			everything
		};
		let token = self.key.sign(&claims.with_expires(exp)).unwrap();
		std::fs::write(&self.token_file, token).unwrap();
	}

	/// A relay with anonymous access under `anon`, dialing `connect` with the token file.
	async fn relay(&self, id: u64, connect: &[&TestRelay]) -> TestRelay {
		self.relay_as(Some(id), connect).await
	}

	/// [`Keys::relay`] with hop id `id`, or a random one per process (`cluster.id` unset).
	async fn relay_as(&self, id: Option<u64>, connect: &[&TestRelay]) -> TestRelay {
		let key_file = self.key_file.clone();
		let token_file = self.token_file.clone();
		let connect: Vec<String> = connect
			.iter()
			.map(|r| format!("http://127.0.0.1:{}", r.addr.port()))
			.collect();
		TestRelay::start_with(move |config| {
			config.auth.key = Some(key_file);
			config.auth.public = Some(vec!["anon".into()]);
			config.cluster.id = id;
			if !connect.is_empty() {
				config.cluster.connect = Some(connect);
				config.cluster.token = Some(token_file);
			}
		})
		.await
	}
}

impl Drop for Keys {
	fn drop(&mut self) {
		let _ = std::fs::remove_dir_all(&self.dir);
	}
}

async fn metric(relay: &impl common::Target, name: &str) -> u64 {
	metrics(relay).await.get(name).copied().unwrap_or(0)
}

/// Every series of the relay's `/metrics`: name and labels, without the value.
async fn series(relay: &impl common::Target) -> BTreeSet<String> {
	let (status, _, body) = http_get(relay, "/metrics", false).await;
	assert_eq!(status, 200);
	body.lines()
		.filter(|l| !l.starts_with('#'))
		.filter_map(|l| Some(l.rsplit_once(' ')?.0.to_string()))
		.collect()
}

/// The `peer` label of the announcements that arrive over a link dialed to `relay` (as
/// [`Keys::relay`] configures it: `http://127.0.0.1:<port>`).
fn link_label(relay: &TestRelay) -> String {
	format!("http://127.0.0.1:{}/", relay.addr.port())
}

/// Polls `/metrics` until `name` satisfies `ok` (at most `limit`).
async fn wait_metric(relay: &impl common::Target, name: &str, limit: Duration, ok: impl Fn(u64) -> bool) {
	let deadline = Instant::now() + limit;
	loop {
		let value = metric(relay, name).await;
		if ok(value) {
			return;
		}
		assert!(Instant::now() < deadline, "{name} stayed at {value} for {limit:?}");
		tokio::time::sleep(Duration::from_millis(50)).await;
	}
}

/// Where a client connects: a relay's port and certificate fingerprint.
struct Target {
	port: u16,
	fingerprint: String,
}

impl From<&TestRelay> for Target {
	fn from(relay: &TestRelay) -> Self {
		Self {
			port: relay.addr.port(),
			fingerprint: relay.fingerprint.clone(),
		}
	}
}

impl Target {
	fn client(&self) -> moq_tokio::Client {
		moq_relay_bench::client(Some(&self.fingerprint), false, &[]).unwrap()
	}

	fn url(&self) -> url::Url {
		format!("moqt://127.0.0.1:{}/anon", self.port).parse().unwrap()
	}
}

/// A publisher of `anon/<name>` (one track `t`) on a relay.
async fn publisher(relay: impl Into<Target>, name: &str, stats: Option<stats::Session>) -> Publisher {
	let target = relay.into();
	let client = match stats {
		Some(stats) => target.client().with_stats(stats),
		None => target.client(),
	};
	within(
		"publisher established",
		Publisher::start(client, target.url(), name, "t"),
	)
	.await
	.unwrap()
}

/// Writes a group of `n` frames `"<group>:<i>"`; its sequence.
fn write(publisher: &Publisher, n: u64) -> u64 {
	write_group(publisher.track(), n, |sequence, i| {
		Bytes::from(format!("{sequence}:{i}"))
	})
	.unwrap()
}

/// A subscriber session on a relay, with its own client.
struct Viewer {
	session: Subscriber,
	client: moq_tokio::Client,
}

async fn viewer(relay: &TestRelay) -> Viewer {
	let client = relay.client(None);
	let session = within(
		"viewer established",
		Subscriber::connect(&client, relay.url("moqt", "anon")),
	)
	.await
	.unwrap();
	Viewer { session, client }
}

impl Viewer {
	/// Waits until `name` is announced active (`true`) or ended (`false`).
	async fn wait_announced(&mut self, name: &str, active: bool) {
		within("announcement", self.session.announced(name, active))
			.await
			.unwrap();
	}

	async fn subscribe(&mut self, name: &str) -> moq_net::track::Subscriber {
		within("subscription", self.session.subscribe(name, "t")).await.unwrap()
	}

	async fn close(self) {
		self.session.close().await;
		self.client.close().await;
	}
}

/// Reads one whole group: (sequence from the payload, frame count), checking every frame.
async fn read_group(track: &mut moq_net::track::Subscriber) -> (u64, usize) {
	let frames = within("group", subscriber::read_group(track)).await.unwrap();
	let frames: Vec<String> = frames
		.iter()
		.map(|frame| String::from_utf8(frame.to_vec()).unwrap())
		.collect();
	let sequence: u64 = frames[0].split(':').next().unwrap().parse().unwrap();
	for (i, frame) in frames.iter().enumerate() {
		assert_eq!(frame, &format!("{sequence}:{i}"), "frames intact and in order");
	}
	(sequence, frames.len())
}

/// Writes groups until `track` has read `count` of them, all whole; returns their sequences.
async fn deliver(publisher: &Publisher, track: &mut moq_net::track::Subscriber, count: usize) -> Vec<u64> {
	let mut seen = Vec::new();
	let mut written = 0;
	while seen.len() < count {
		// The first read may return the group cached before the subscription.
		write(publisher, 5);
		written += 1;
		let (sequence, frames) = read_group(track).await;
		assert_eq!(frames, 5);
		seen.push(sequence);
		assert!(written < count * 4, "groups are lost: {seen:?}");
	}
	seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn star_publish_on_one_leaf_read_on_the_other_and_the_root() {
	let keys = Keys::new("star");
	let root = keys.relay(1, &[]).await;
	let leaf_a = keys.relay(2, &[&root]).await;
	let leaf_b = keys.relay(3, &[&root]).await;
	wait_metric(&root, "moq_relay_cluster_links", Duration::from_secs(10), |n| n == 2).await;

	let publisher = publisher(&leaf_a, "clock", None).await;
	let mut on_b = viewer(&leaf_b).await;
	let mut on_root = viewer(&root).await;
	let mut track_b = on_b.subscribe("clock").await;
	let mut track_root = on_root.subscribe("clock").await;
	deliver(&publisher, &mut track_b, 3).await;
	let last = write(&publisher, 5);
	// The root reads the same groups (its own subscription is shared with leaf B's).
	loop {
		let (sequence, _) = read_group(&mut track_root).await;
		if sequence == last {
			break;
		}
	}
	on_b.close().await;
	on_root.close().await;
	publisher.close().await;
	for relay in [leaf_a, leaf_b, root] {
		relay.stop().await;
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_origin_regional_edge_delivers_to_the_edge() {
	let keys = Keys::new("chain");
	let origin = keys.relay(11, &[]).await;
	let regional = keys.relay(12, &[&origin]).await;
	let edge = keys.relay(13, &[&regional]).await;
	wait_metric(&regional, "moq_relay_cluster_links", Duration::from_secs(10), |n| {
		n == 2
	})
	.await;

	let publisher = publisher(&origin, "clock", None).await;
	let mut on_edge = viewer(&edge).await;
	let mut track = on_edge.subscribe("clock").await;
	let seen = deliver(&publisher, &mut track, 5).await;
	assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order, no repeats: {seen:?}");
	// Two relay hops carried it: the edge learned one route, from the regional relay.
	assert_eq!(metric(&edge, "moq_relay_cluster_routes").await, 1);
	on_edge.close().await;
	publisher.close().await;
	for relay in [edge, regional, origin] {
		relay.stop().await;
	}
}

/// A FETCH on an edge for a group neither relay holds goes up the cluster link to the origin
/// relay, which asks the publisher (`docs/protocol.md`, "Fetching what the relay does not hold"):
/// the groups written before anybody watched reach the edge's viewer whole, from a publisher at
/// moq-lite and from one at draft-22 (which the origin asks with a draft FETCH). The publisher's
/// datagrams cross the link as well, the moq-lite one's with their timestamps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_on_the_edge_reaches_the_publisher_through_the_origin() {
	let keys = Keys::new("fetch");
	let origin = keys.relay(31, &[]).await;
	let edge = keys.relay(32, &[&origin]).await;
	wait_metric(&edge, "moq_relay_cluster_links", Duration::from_secs(10), |n| n == 1).await;
	for (name, version) in [("clock", None), ("drafted", Some("moq-transport-22"))] {
		let publisher = match version {
			None => publisher(&origin, name, None).await,
			Some(version) => {
				let client = origin.client(Some(common::version(version)));
				let start = Publisher::start(client, Target::from(&origin).url(), name, "t");
				within("publisher established", start).await.unwrap()
			}
		};
		// Groups nobody watches, then one every 50 ms for the viewer's subscription to start at.
		let unwatched: Vec<u64> = (0..5).map(|_| write(&publisher, 3)).collect();
		let track = publisher.track().clone();
		let writer = tokio::spawn(async move {
			let mut interval = tokio::time::interval(Duration::from_millis(50));
			loop {
				interval.tick().await;
				write_group(&track, 3, |sequence, i| Bytes::from(format!("{sequence}:{i}"))).unwrap();
			}
		});
		let newer = || async { publisher.track().latest().is_some_and(|latest| latest > unwatched[4]) };
		common::eventually("a group after the unwatched ones", newer).await;
		let mut live = common::Live::start(&edge, "moq-lite-06", &format!("anon/{name}")).await;
		let past = unwatched[2];
		let expected: Vec<String> = (0..3).map(|i| format!("{past}:{i}")).collect();
		assert_eq!(live.fetch(past, None).await, expected, "{name}");
		// Its datagrams cross the link too (`docs/protocol.md`, "Datagrams").
		let mut track = publisher.track().clone();
		let (received, n) = live
			.until_a_datagram(&mut track, &format!("{name}: a datagram through the edge"))
			.await;
		if version.is_none() {
			assert_eq!(
				received.timestamp.as_millis(),
				u128::from(common::DATAGRAM_MS + n),
				"{name}"
			);
		}
		writer.abort();
		live.close().await;
		publisher.close().await;
	}
	for relay in [edge, origin] {
		relay.stop().await;
	}
}

/// A triangle (B dials A; C dials A and B): loops are dropped by hop lists, the viewer on C gets
/// every group exactly once, and no link carries more than 2 announcements of the broadcast in
/// 30 s of traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triangle_delivers_every_frame_once_without_announcement_storms() {
	let keys = Keys::new("triangle");
	let a = keys.relay(21, &[]).await;
	let b = keys.relay(22, &[&a]).await;
	let c = keys.relay(23, &[&a, &b]).await;
	wait_metric(&c, "moq_relay_cluster_links", Duration::from_secs(10), |n| n == 2).await;
	wait_metric(&a, "moq_relay_cluster_links", Duration::from_secs(10), |n| n == 2).await;

	let publisher = publisher(&a, "clock", None).await;
	let mut on_c = viewer(&c).await;
	let mut track = on_c.subscribe("clock").await;
	let first = deliver(&publisher, &mut track, 1).await[0];
	let received_before = metric(&c, "moq_relay_groups_received_total").await;

	// 30 s of traffic: one group every 100 ms, each read whole, once, in order.
	let started = Instant::now();
	let mut expected = first + 1;
	let mut groups = 0u64;
	while started.elapsed() < Duration::from_secs(30) {
		let written = write(&publisher, 5);
		let (sequence, frames) = read_group(&mut track).await;
		assert_eq!((sequence, frames), (written, 5), "every group once, in order");
		assert_eq!(sequence, expected);
		expected += 1;
		groups += 1;
		tokio::time::sleep(Duration::from_millis(100)).await;
	}
	// C received each group once from upstream: one route in use, no duplicate copies.
	let received = metric(&c, "moq_relay_groups_received_total").await - received_before;
	assert_eq!(received, groups, "C took each group from exactly one upstream");

	for relay in [&a, &b, &c] {
		for (name, value) in metrics(relay).await {
			if name.starts_with("moq_relay_cluster_announcements_total") {
				assert!(value <= 2, "{name} = {value}: more than 2 announcements on one link");
			}
		}
	}
	// Every link did carry the broadcast: B and C each heard it from A (over the links they dialed,
	// labelled with their `[cluster] connect` entry for A), B from C or C from B.
	let from_a = format!("moq_relay_cluster_announcements_total{{peer=\"{}\"}}", link_label(&a));
	assert!(metric(&c, &from_a).await >= 1);
	assert!(metric(&b, &from_a).await >= 1);

	on_c.close().await;
	publisher.close().await;
	for relay in [c, b, a] {
		relay.stop().await;
	}
}

/// A peer restarted (a new process: `cluster.id` unset, so a new random hop id) adds no series to
/// the relay it links to: the announcements counter is labelled by link (`accepted`, or the
/// `[cluster] connect` entry of a dialed link), never by a peer's hop id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_a_peer_adds_no_label_value() {
	let keys = Keys::new("restart");
	let root = keys.relay(81, &[]).await;
	// A broadcast on the root, so each leaf hears announcements over the link it dialed.
	let on_root = publisher(&root, "r", None).await;
	let connect = format!("http://127.0.0.1:{}", root.addr.port());
	let (key, token) = (
		keys.key_file.display().to_string(),
		keys.token_file.display().to_string(),
	);
	let dialed = format!(
		"moq_relay_cluster_announcements_total{{peer=\"{}\"}}",
		link_label(&root)
	);
	let accepted = "moq_relay_cluster_announcements_total{peer=\"accepted\"}";
	let mut first: Option<BTreeSet<String>> = None;
	for restart in 0..3u64 {
		let mut leaf = start(&[
			"--server-bind",
			"127.0.0.1:0",
			"--tls-generate",
			"localhost,127.0.0.1",
			"--auth-key",
			&key,
			"--auth-public",
			"anon",
			"--cluster-connect",
			&connect,
			"--cluster-token",
			&token,
		]);
		wait_metric(&root, "moq_relay_cluster_links", Duration::from_secs(10), |n| n == 1).await;
		let target = Target {
			port: leaf.addr.port(),
			fingerprint: leaf.fingerprint.clone(),
		};
		let on_leaf = publisher(target, "leaf", None).await;
		// The root hears the leaf's broadcast over the link the leaf dialed...
		wait_metric(&root, accepted, Duration::from_secs(10), |n| n > restart).await;
		// ... and the leaf hears the root's over that link, labelled with its connect entry.
		wait_metric(&leaf, &dialed, Duration::from_secs(10), |n| n >= 1).await;
		let leaf_series = series(&leaf).await;
		let announcements: Vec<&String> = leaf_series
			.iter()
			.filter(|s| s.starts_with("moq_relay_cluster_announcements_total"))
			.collect();
		assert_eq!(announcements, [&dialed], "the leaf labels by its connect entry only");
		let root_series = series(&root).await;
		match &first {
			None => first = Some(root_series),
			Some(first) => assert_eq!(&root_series, first, "restart {restart} changed the root's series"),
		}
		leaf.child.kill().unwrap();
		leaf.child.wait().unwrap();
		drop(on_leaf);
		// The root drops the link at its idle time-out.
		wait_metric(&root, "moq_relay_cluster_links", Duration::from_secs(10), |n| n == 0).await;
	}
	on_root.close().await;
	root.stop().await;
}

/// 50 viewers of one track on leaf B: B subscribes upstream once, the publisher's relay A sees one
/// subscription (from the root, on B's behalf), and so does the publisher client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_viewers_on_a_leaf_make_one_subscription_at_the_publisher() {
	let keys = Keys::new("fifty");
	let root = keys.relay(31, &[]).await;
	let a = keys.relay(32, &[&root]).await;
	let b = keys.relay(33, &[&root]).await;
	wait_metric(&root, "moq_relay_cluster_links", Duration::from_secs(10), |n| n == 2).await;

	let registry = stats::Registry::new(stats::Config::new());
	let session_stats = registry.tier(stats::Tier::default()).session("");
	let publisher = publisher(&a, "clock", Some(session_stats)).await;
	write(&publisher, 5);

	let mut viewers = Vec::new();
	let mut tracks = Vec::new();
	for _ in 0..50 {
		let mut v = viewer(&b).await;
		tracks.push(v.subscribe("clock").await);
		viewers.push(v);
	}
	for _ in 0..2 {
		let written = write(&publisher, 5);
		for track in &mut tracks {
			loop {
				let (sequence, frames) = read_group(track).await;
				assert_eq!(frames, 5);
				if sequence == written {
					break;
				}
			}
		}
	}

	assert_eq!(metric(&b, "moq_relay_subscriptions_total").await, 50);
	assert_eq!(metric(&b, "moq_relay_upstream_subscriptions_total").await, 1);
	assert_eq!(metric(&root, "moq_relay_subscriptions_total").await, 1);
	assert_eq!(
		metric(&a, "moq_relay_subscriptions_total").await,
		1,
		"one subscription arrives at the publisher's relay"
	);
	let started = common::publisher_subscriptions(&registry);
	assert_eq!(started, 1, "the publisher client sees exactly one subscription");

	drop(tracks);
	for v in viewers {
		v.close().await;
	}
	publisher.close().await;
	for relay in [b, a, root] {
		relay.stop().await;
	}
}

/// A leaf whose token file holds an expired cluster token is refused; the file replaced on disk
/// is read on the next redial, and the link comes up without restarting anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_cluster_token_replaced_on_disk_is_picked_up_on_redial() {
	let keys = Keys::new("expired");
	keys.write_token(true, moq_token::unix_now() - 60);
	let root = keys.relay(41, &[]).await;
	let leaf = keys.relay(42, &[&root]).await;
	wait_metric(
		&root,
		"moq_relay_auth_refused_total{code=\"token_expired\"}",
		Duration::from_secs(10),
		|n| n >= 1,
	)
	.await;
	assert_eq!(metric(&leaf, "moq_relay_cluster_links").await, 0);

	keys.write_token(true, moq_token::unix_now() + 600);
	// Backoff is 1 s doubling to 10 s: the next dial is at most ~12.5 s away.
	wait_metric(&root, "moq_relay_cluster_links", Duration::from_secs(15), |n| n == 1).await;
	let publisher = publisher(&leaf, "clock", None).await;
	let mut on_root = viewer(&root).await;
	let mut track = on_root.subscribe("clock").await;
	deliver(&publisher, &mut track, 2).await;
	on_root.close().await;
	publisher.close().await;
	leaf.stop().await;
	root.stop().await;
}

/// Reads one `T` from a raw stream, buffering in `buf`.
async fn read<T: moq_relay::wire::Decode>(recv: &mut web_transport_quinn::quinn::RecvStream, buf: &mut Vec<u8>) -> T {
	client::read(recv, buf, "a message")
		.await
		.unwrap_or_else(|err| panic!("{err}"))
}

/// A raw lite-05 session (token in the SETUP Path, SETUP Hop 77) that answers the relay's
/// ANNOUNCE_REQUEST with two broadcasts: `anon/spoof` whose chain claims to have passed through
/// the relay itself (hop 51) and `anon/legit` with chain [55]. Then an anonymous watcher on the
/// same relay reports what it sees: (suffix, chain) for each active announcement.
async fn announce_with_chains(relay: &TestRelay, token: &str) -> (Vec<(String, Vec<u64>)>, u64) {
	use moq_relay::wire::{Announce, AnnounceOk, AnnounceRequest, AnnounceStatus, BidiType, Setup, VarInt};
	let conn = common::raw_connect(relay, "moq-lite-05").await;
	let mut setup = conn.open_uni().await.unwrap();
	let message = Setup {
		path: Some(format!("/?jwt={token}")),
		hop: Some(VarInt::from_u32(77)),
		..Setup::default()
	};
	setup.write_all(&client::setup_stream(&message).unwrap()).await.unwrap();
	setup.finish().unwrap();

	// The relay asks this session for its announcements.
	let (mut send, mut recv) = within("announce request", conn.accept_bi()).await.unwrap();
	let mut buf = Vec::new();
	assert_eq!(read::<BidiType>(&mut recv, &mut buf).await, BidiType::Announce);
	let _request: AnnounceRequest = read(&mut recv, &mut buf).await;
	let ok = AnnounceOk {
		hop_id: VarInt::from_u32(77),
		active_count: VarInt::from_u32(3),
	};
	send.write_all(&client::encode(&ok).unwrap()).await.unwrap();
	// `anon/zzz` goes last: once the watcher sees it, the relay has decided on the other two.
	for (suffix, hops) in [
		("anon/spoof", vec![51u32, 55]),
		("anon/legit", vec![55]),
		("anon/zzz", vec![55]),
	] {
		let announce = Announce {
			status: AnnounceStatus::Active,
			suffix: suffix.into(),
			hops: hops.into_iter().map(VarInt::from_u32).collect(),
		};
		send.write_all(&client::encode(&announce).unwrap()).await.unwrap();
	}

	// An anonymous watcher: what does the relay announce, and with which chain?
	let watcher = common::admitted(relay, "/anon").await;
	let (mut wsend, mut wrecv) = watcher.open_bi().await.unwrap();
	let mut wbuf = Vec::new();
	// The announcements may land before or after the watcher's snapshot: read until `zzz`.
	client::announce(&mut wsend, &mut wrecv, &mut wbuf)
		.await
		.unwrap_or_else(|err| panic!("{err}"));
	let mut seen = Vec::new();
	loop {
		let announce: Announce = read(&mut wrecv, &mut wbuf).await;
		if announce.suffix == "zzz" {
			break;
		}
		if announce.status.is_active() {
			seen.push((announce.suffix, announce.hops.iter().map(|h| h.into_inner()).collect()));
		}
	}
	let routes = metric(relay, "moq_relay_cluster_routes").await;
	conn.close(0u32.into(), b"done");
	watcher.close(0u32.into(), b"done");
	seen.sort();
	(seen, routes)
}

/// `docs/cluster.md`: only a `cluster: true` session's chains are trusted. With an ordinary token for
/// everything, both broadcasts start a new route at the relay (a chain of one relay-drawn id:
/// nothing injected, nothing spoofed); with a cluster token, the chain through the relay itself
/// is dropped as a loop and the other is extended with the peer's hop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_cluster_tokens_make_a_session_a_peer() {
	let keys = Keys::new("claim");
	let relay = keys.relay(51, &[]).await;
	let everything = Claims::new(Path::root())
		.with_publish(Path::root())
		.with_subscribe(Path::root())
		.with_expires(moq_token::unix_now() + 600);

	let client = keys.key.sign(&everything).unwrap();
	let (seen, routes) = announce_with_chains(&relay, &client).await;
	let names: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
	assert_eq!(
		names,
		["legit", "spoof"],
		"a client's chain is ignored: nothing is dropped"
	);
	// Both start at the relay with the one id it drew for the session: none of the client's hops.
	let origin = seen[0].1.clone();
	assert_eq!(origin.len(), 1, "{seen:?}");
	assert_eq!(seen[1].1, origin, "{seen:?}");
	assert!(![51, 55, 77].contains(&origin[0]), "{seen:?}");
	assert_eq!(routes, 0, "a client's broadcasts are not cluster routes");

	relay.stop().await;

	let relay = keys.relay(51, &[]).await;
	let peer = keys.key.sign(&everything.with_cluster(true)).unwrap();
	let (seen, routes) = announce_with_chains(&relay, &peer).await;
	assert_eq!(
		seen,
		[("legit".to_string(), vec![55, 77])],
		"a peer's chain is trusted and extended"
	);
	assert_eq!(routes, 2, "only the loop-free routes are kept (legit and zzz)");
	relay.stop().await;
}

/// SIGKILL of leaf A (a real process): leaf B withdraws A's broadcast within 5 s. A restarted on
/// the same port redials the root by itself; the broadcast reappears at B and a viewer that
/// re-subscribes gets data again. Nothing else is restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_leaf_is_withdrawn_and_its_restart_restores_the_broadcast() {
	let keys = Keys::new("sigkill");
	let root = keys.relay(61, &[]).await;
	let b = keys.relay(63, &[&root]).await;
	let connect = format!("http://127.0.0.1:{}", root.addr.port());
	let key = keys.key_file.display().to_string();
	let token = keys.token_file.display().to_string();
	let leaf_a = |bind: &str| {
		start(&[
			"--server-bind",
			bind,
			"--tls-generate",
			"localhost,127.0.0.1",
			"--auth-key",
			&key,
			"--auth-public",
			"anon",
			"--cluster-connect",
			&connect,
			"--cluster-token",
			&token,
			"--cluster-id",
			"62",
		])
	};
	let mut a = leaf_a("127.0.0.1:0");
	let port = a.addr.port();
	wait_metric(&root, "moq_relay_cluster_links", Duration::from_secs(10), |n| n == 2).await;

	let target = |a: &common::Running| Target {
		port,
		fingerprint: a.fingerprint.clone(),
	};
	let first = publisher(target(&a), "clock", None).await;
	let mut on_b = viewer(&b).await;
	let mut track = on_b.subscribe("clock").await;
	deliver(&first, &mut track, 2).await;

	a.child.kill().unwrap();
	let killed = Instant::now();
	a.child.wait().unwrap();
	tokio::time::timeout(Duration::from_secs(5), on_b.wait_announced("clock", false))
		.await
		.expect("B still announces the killed leaf's broadcast after 5 s");
	let withdrawn = killed.elapsed();
	drop(track);
	drop(first);

	let mut a = leaf_a(&format!("127.0.0.1:{port}"));
	let second = publisher(target(&a), "clock", None).await;
	let mut track = on_b.subscribe("clock").await;
	deliver(&second, &mut track, 2).await;
	eprintln!("withdrawn at B {withdrawn:?} after SIGKILL");

	on_b.close().await;
	second.close().await;
	a.child.kill().unwrap();
	a.child.wait().unwrap();
	b.stop().await;
	root.stop().await;
}

/// `https://` links verify the peer's certificate against `cluster.tls_root`: the link comes up
/// with the root's certificate as trust anchor, and never with an unrelated one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_links_verify_the_peer_against_tls_root() {
	use moq_relay::tls::Certificate;
	let keys = Keys::new("tlsroot");
	let hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
	let (cert, key) = (keys.dir.join("root.pem"), keys.dir.join("root.key"));
	Certificate::generate(&hosts).unwrap().write_pem(&cert, &key).unwrap();
	let other = keys.dir.join("other.pem");
	Certificate::generate(&hosts)
		.unwrap()
		.write_pem(&other, &keys.dir.join("other.key"))
		.unwrap();

	let key_file = keys.key_file.clone();
	let root = TestRelay::start_with(move |config| {
		config.tls.generate = None;
		config.tls.cert = Some(cert.clone());
		config.tls.key = Some(key);
		config.auth.key = Some(key_file);
		config.cluster.id = Some(71);
	})
	.await;
	let leaf = |trusted: PathBuf, id: u64| {
		let key_file = keys.key_file.clone();
		let token_file = keys.token_file.clone();
		let connect = format!("https://127.0.0.1:{}", root.addr.port());
		TestRelay::start_with(move |config| {
			config.auth.key = Some(key_file);
			config.cluster.connect = Some(vec![connect]);
			config.cluster.token = Some(token_file);
			config.cluster.tls_root = Some(trusted);
			config.cluster.id = Some(id);
		})
	};

	let untrusting = leaf(other, 72).await;
	let trusting = leaf(keys.dir.join("root.pem"), 73).await;
	wait_metric(&trusting, "moq_relay_cluster_links", Duration::from_secs(10), |n| {
		n == 1
	})
	.await;
	// The untrusting leaf dialed first (it started first); its handshake fails on the certificate
	// whenever it dials, so the root holds exactly the trusting leaf's link.
	assert_eq!(metric(&untrusting, "moq_relay_cluster_links").await, 0);
	assert_eq!(metric(&root, "moq_relay_cluster_links").await, 1);
	for relay in [untrusting, trusting, root] {
		relay.stop().await;
	}
}
