//! Interop with the published moq-tokio / moq-net client, over raw QUIC and
//! WebTransport, through an in-process relay on 127.0.0.1.

use crate::common;

use bytes::Bytes;
use common::{TestRelay, lite05, within};
use moq_net::{Timestamp, stats};
use moq_relay_bench::publisher::{Publisher, write_group};
use moq_relay_bench::subscriber::{self, Subscriber};

/// A published broadcast `clock` with one track `seconds`.
async fn publish(client: moq_tokio::Client, url: url::Url) -> Publisher {
	within(
		"publisher established",
		Publisher::start(client, url, "clock", "seconds"),
	)
	.await
	.unwrap()
}

/// A subscriber session with its own client.
struct Viewer {
	session: Subscriber,
	client: moq_tokio::Client,
}

async fn subscriber(client: moq_tokio::Client, url: url::Url) -> Viewer {
	let session = within("subscriber established", Subscriber::connect(&client, url))
		.await
		.unwrap();
	Viewer { session, client }
}

impl Viewer {
	/// Waits for `clock` to be announced (active) and subscribes to `seconds`.
	async fn subscribe_clock(&mut self) -> moq_net::track::Subscriber {
		within("clock subscription", self.session.subscribe("clock", "seconds"))
			.await
			.unwrap()
	}

	async fn close(self) {
		self.session.close().await;
		self.client.close().await;
	}
}

fn write(publisher: &Publisher, frames: &[&str]) {
	write_group(publisher.track(), frames.len() as u64, |_, i| {
		Bytes::copy_from_slice(frames[i as usize].as_bytes())
	})
	.unwrap();
}

async fn read_group(track: &mut moq_net::track::Subscriber) -> Vec<String> {
	let frames = within("group", subscriber::read_group(track)).await.unwrap();
	frames
		.iter()
		.map(|frame| String::from_utf8(frame.to_vec()).unwrap())
		.collect()
}

async fn pub_sub_frames_in_order(scheme: &str) {
	let relay = TestRelay::start(Some("anon")).await;
	let publisher = publish(relay.client(None), relay.url(scheme, "anon")).await;
	let mut sub = subscriber(relay.client(Some(lite05())), relay.url(scheme, "anon")).await;
	assert_eq!(
		sub.session.connection().version().map(|v| v.to_string()),
		Some("moq-lite-05".to_string())
	);

	// Group 0 is complete before the subscription: the relay fetches the latest
	// group upstream and delivers it whole.
	write(&publisher, &["a", "b", "c"]);
	let mut track = sub.subscribe_clock().await;
	assert_eq!(read_group(&mut track).await, ["a", "b", "c"]);

	// Then live groups, frame for frame, in order.
	for n in 1..5 {
		let frames: Vec<String> = (0..10).map(|i| format!("{n}:{i}")).collect();
		let refs: Vec<&str> = frames.iter().map(String::as_str).collect();
		write(&publisher, &refs);
		assert_eq!(read_group(&mut track).await, frames);
	}

	drop(track);
	sub.close().await;
	publisher.close().await;
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_quic_lite05_frames_arrive_in_order() {
	pub_sub_frames_in_order("moqt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_lite05_frames_arrive_in_order() {
	pub_sub_frames_in_order("https").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reannounced_broadcast_replaces_the_old_one() {
	let relay = TestRelay::start(Some("anon")).await;
	let first = publish(relay.client(None), relay.url("moqt", "anon")).await;
	let mut sub = subscriber(relay.client(Some(lite05())), relay.url("moqt", "anon")).await;
	write(&first, &["old"]);
	let mut track = sub.subscribe_clock().await;
	assert_eq!(read_group(&mut track).await, ["old"]);

	// A second publisher announces the same path: it replaces the first.
	let second = publish(relay.client(None), relay.url("moqt", "anon")).await;
	write(&second, &["new"]);
	let mut track = sub.subscribe_clock().await;
	assert_eq!(read_group(&mut track).await, ["new"]);

	// The replaced publisher leaving does not take the broadcast down.
	first.close().await;
	write(&second, &["newer"]);
	assert_eq!(read_group(&mut track).await, ["newer"]);

	sub.close().await;
	second.close().await;
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_subscribers_share_one_upstream_subscription() {
	let relay = TestRelay::start(Some("anon")).await;
	let registry = stats::Registry::new(stats::Config::new());
	let session_stats = registry.tier(stats::Tier::default()).session("");
	let publisher = {
		let client = relay.client(None).with_stats(session_stats);
		publish(client, relay.url("moqt", "anon")).await
	};
	write(&publisher, &["g0"]);

	let mut subscribers = Vec::new();
	let mut tracks = Vec::new();
	for _ in 0..100 {
		let mut sub = subscriber(relay.client(Some(lite05())), relay.url("moqt", "anon")).await;
		tracks.push(sub.subscribe_clock().await);
		subscribers.push(sub);
	}
	for track in &mut tracks {
		assert_eq!(read_group(track).await, ["g0"]);
	}
	for n in 1..4 {
		let frame = format!("g{n}");
		write(&publisher, &[&frame]);
		for track in &mut tracks {
			assert_eq!(read_group(track).await, [frame.as_str()]);
		}
	}

	let started = common::publisher_subscriptions(&registry);
	assert_eq!(started, 1, "the publisher must see exactly one subscription");

	drop(tracks);
	for sub in subscribers {
		sub.close().await;
	}
	publisher.close().await;
	relay.stop().await;
}

/// One session may keep far more streams open than the relay allows at first (it starts small to
/// keep idle sessions cheap and raises the allowance on demand): 200 concurrent subscriptions on
/// one subscriber session, and 200 groups held open at once by one publisher session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_open_subscriptions_and_groups_on_one_session() {
	const TRACKS: usize = 200;
	let relay = TestRelay::start(Some("anon")).await;
	let origin = moq_tokio::origin::spawn();
	let broadcast = origin.create_broadcast("many").unwrap();
	let tracks: Vec<_> = (0..TRACKS)
		.map(|i| broadcast.create_track(format!("t{i}"), None).unwrap())
		.collect();
	broadcast.announce(Default::default()).unwrap();
	let pub_client = relay.client(None);
	let publisher = pub_client
		.clone()
		.with_publisher(&origin)
		.connect(relay.url("moqt", "anon"));
	let publisher = within("publisher", publisher.established()).await.unwrap();

	let sub = moq_tokio::origin::spawn();
	let consumer = sub.consume();
	let mut announced = consumer.announced();
	let sub_client = relay.client(None);
	let subscriber = sub_client
		.clone()
		.with_subscriber(sub)
		.connect(relay.url("moqt", "anon"));
	let subscriber = within("subscriber", subscriber.established()).await.unwrap();
	loop {
		let update = within("announcement", announced.next()).await.unwrap();
		if update.prefix.as_str() == "many" && update.kind.is_active() {
			break;
		}
	}
	let remote = within("broadcast", consumer.request_broadcast("many")).await.unwrap();
	let mut subscriptions = Vec::new();
	for i in 0..TRACKS {
		let track = remote.track(&format!("t{i}")).unwrap();
		subscriptions.push(within("subscription", track.subscribe(None)).await.unwrap());
	}
	// Every track gets a group whose first frame is written and which stays open.
	let mut open_groups = Vec::new();
	for (i, track) in tracks.iter().enumerate() {
		let mut group = track.append_group().unwrap();
		group
			.write_frame(Timestamp::now(), Bytes::from(format!("first {i}")))
			.unwrap();
		open_groups.push(group);
	}
	let mut readers = Vec::new();
	for (i, subscription) in subscriptions.iter_mut().enumerate() {
		let mut group = within("group", subscription.recv_group())
			.await
			.unwrap()
			.expect("track ended");
		let frame = within("first frame", group.read_frame())
			.await
			.unwrap()
			.expect("group ended");
		assert_eq!(frame.payload, format!("first {i}").as_bytes());
		readers.push(group);
	}
	// All 200 groups were open at once on both sessions; now finish them.
	for (i, mut group) in open_groups.into_iter().enumerate() {
		group
			.write_frame(Timestamp::now(), Bytes::from(format!("last {i}")))
			.unwrap();
		group.finish().unwrap();
	}
	for (i, group) in readers.iter_mut().enumerate() {
		let frame = within("last frame", group.read_frame())
			.await
			.unwrap()
			.expect("group ended");
		assert_eq!(frame.payload, format!("last {i}").as_bytes());
	}

	drop(readers);
	drop(subscriptions);
	subscriber.close().await.ok();
	publisher.close().await.ok();
	sub_client.close().await;
	pub_client.close().await;
	relay.stop().await;
}
