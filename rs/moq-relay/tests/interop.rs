//! Interop with the published moq-tokio / moq-net client, over raw QUIC and
//! WebTransport, through an in-process relay on 127.0.0.1.

mod common;

use bytes::Bytes;
use common::{TestRelay, lite05, within};
use moq_net::{Timestamp, stats};

/// A published broadcast `clock` with one track `seconds`.
struct Publisher {
	_origin: moq_net::origin::Producer,
	broadcast: moq_net::broadcast::Producer,
	track: moq_net::track::Producer,
	connection: moq_tokio::Connection,
	client: moq_tokio::Client,
}

async fn publish(relay: &TestRelay, client: moq_tokio::Client, url: url::Url) -> Publisher {
	let origin = moq_tokio::origin::spawn();
	let broadcast = origin.create_broadcast("clock").unwrap();
	let track = broadcast.create_track("seconds", None).unwrap();
	broadcast.announce(Default::default()).unwrap();
	let connection = client.clone().with_publisher(&origin).connect(url);
	let connection = within("publisher established", connection.established()).await.unwrap();
	let _ = relay;
	Publisher {
		_origin: origin,
		broadcast,
		track,
		connection,
		client,
	}
}

/// A subscriber that found `clock` by announcement.
struct Subscriber {
	consumer: moq_net::origin::Consumer,
	announced: moq_net::announce::Consumer,
	connection: moq_tokio::Connection,
	client: moq_tokio::Client,
}

async fn subscriber(client: moq_tokio::Client, url: url::Url) -> Subscriber {
	let origin = moq_tokio::origin::spawn();
	let consumer = origin.consume();
	let announced = consumer.announced();
	let connection = client.clone().with_subscriber(origin).connect(url);
	let connection = within("subscriber established", connection.established())
		.await
		.unwrap();
	Subscriber {
		consumer,
		announced,
		connection,
		client,
	}
}

impl Subscriber {
	/// Waits for `clock` to be announced (active) and subscribes to `seconds`.
	async fn subscribe_clock(&mut self) -> moq_net::track::Subscriber {
		loop {
			let update = within("clock announcement", self.announced.next())
				.await
				.expect("announcements end");
			if update.kind.is_active() && update.prefix.as_str() == "clock" {
				break;
			}
		}
		let broadcast = within("broadcast", self.consumer.request_broadcast("clock"))
			.await
			.unwrap();
		within("subscription", broadcast.track("seconds").unwrap().subscribe(None))
			.await
			.unwrap()
	}
}

fn write_group(track: &moq_net::track::Producer, frames: &[&str]) {
	let mut group = track.append_group().unwrap();
	for frame in frames {
		group
			.write_frame(Timestamp::now(), Bytes::copy_from_slice(frame.as_bytes()))
			.unwrap();
	}
	group.finish().unwrap();
}

async fn read_group(track: &mut moq_net::track::Subscriber) -> Vec<String> {
	let mut group = within("group", track.recv_group()).await.unwrap().expect("track ended");
	let mut frames = Vec::new();
	while let Some(frame) = within("frame", group.read_frame()).await.unwrap() {
		frames.push(String::from_utf8(frame.payload.to_vec()).unwrap());
	}
	frames
}

async fn pub_sub_frames_in_order(scheme: &str) {
	let relay = TestRelay::start(Some("anon")).await;
	let publisher = publish(&relay, relay.client(None), relay.url(scheme, "anon")).await;
	let mut sub = subscriber(relay.client(Some(lite05())), relay.url(scheme, "anon")).await;
	assert_eq!(
		sub.connection.version().map(|v| v.to_string()),
		Some("moq-lite-05".to_string())
	);

	// Group 0 is complete before the subscription: the relay fetches the latest
	// group upstream and delivers it whole.
	write_group(&publisher.track, &["a", "b", "c"]);
	let mut track = sub.subscribe_clock().await;
	assert_eq!(read_group(&mut track).await, ["a", "b", "c"]);

	// Then live groups, frame for frame, in order.
	for n in 1..5 {
		let frames: Vec<String> = (0..10).map(|i| format!("{n}:{i}")).collect();
		let refs: Vec<&str> = frames.iter().map(String::as_str).collect();
		write_group(&publisher.track, &refs);
		assert_eq!(read_group(&mut track).await, frames);
	}

	drop(track);
	publisher.broadcast.close();
	sub.connection.close().await.ok();
	publisher.connection.close().await.ok();
	sub.client.close().await;
	publisher.client.close().await;
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
	let first = publish(&relay, relay.client(None), relay.url("moqt", "anon")).await;
	let mut sub = subscriber(relay.client(Some(lite05())), relay.url("moqt", "anon")).await;
	write_group(&first.track, &["old"]);
	let mut track = sub.subscribe_clock().await;
	assert_eq!(read_group(&mut track).await, ["old"]);

	// A second publisher announces the same path: it replaces the first.
	let second = publish(&relay, relay.client(None), relay.url("moqt", "anon")).await;
	write_group(&second.track, &["new"]);
	let mut track = sub.subscribe_clock().await;
	assert_eq!(read_group(&mut track).await, ["new"]);

	// The replaced publisher leaving does not take the broadcast down.
	first.connection.close().await.ok();
	first.client.close().await;
	write_group(&second.track, &["newer"]);
	assert_eq!(read_group(&mut track).await, ["newer"]);

	sub.connection.close().await.ok();
	second.connection.close().await.ok();
	sub.client.close().await;
	second.client.close().await;
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_subscribers_share_one_upstream_subscription() {
	let relay = TestRelay::start(Some("anon")).await;
	let registry = stats::Registry::new(stats::Config::new());
	let session_stats = registry.tier(stats::Tier::default()).session("");
	let publisher = {
		let client = relay.client(None).with_stats(session_stats);
		publish(&relay, client, relay.url("moqt", "anon")).await
	};
	write_group(&publisher.track, &["g0"]);

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
		write_group(&publisher.track, &[&frame]);
		for track in &mut tracks {
			assert_eq!(read_group(track).await, [frame.as_str()]);
		}
	}

	let started: u64 = registry
		.snapshot()
		.traffic()
		.into_iter()
		.filter(|(_, role, _)| *role == stats::Role::Publisher)
		.map(|(_, _, traffic)| traffic.subscriptions_started)
		.sum();
	assert_eq!(started, 1, "the publisher must see exactly one subscription");

	drop(tracks);
	for sub in subscribers {
		sub.connection.close().await.ok();
		sub.client.close().await;
	}
	publisher.connection.close().await.ok();
	publisher.client.close().await;
	relay.stop().await;
}
