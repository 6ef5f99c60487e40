//! A session of the published client (`moq-tokio`) subscribing: the load tool's subscriber sessions,
//! and the relay's tests' viewers.

use anyhow::Context;
use bytes::Bytes;
use url::Url;

/// A subscribing session, gathering the announcements the relay sends it from the start.
pub struct Subscriber {
	consumer: moq_net::origin::Consumer,
	announced: moq_net::announce::Consumer,
	connection: moq_tokio::Connection,
}

impl Subscriber {
	/// Connects `client` to `url` as a subscriber and waits until the session is established.
	/// Unbounded: callers bound it. The client stays the caller's (it may carry other sessions).
	pub async fn connect(client: &moq_tokio::Client, url: Url) -> anyhow::Result<Self> {
		let origin = moq_tokio::origin::spawn();
		let consumer = origin.consume();
		let announced = consumer.announced();
		let connection = client
			.clone()
			.with_subscriber(origin)
			.connect(url)
			.established()
			.await
			.context("connect")?;
		Ok(Self {
			consumer,
			announced,
			connection,
		})
	}

	/// Waits until `name` is announced active (`active`) or ended (`!active`).
	pub async fn announced(&mut self, name: &str, active: bool) -> anyhow::Result<()> {
		loop {
			let update = self.announced.next().await.context("announcements ended")?;
			if update.prefix.as_str() == name && update.kind.is_active() == active {
				return Ok(());
			}
		}
	}

	/// Waits until `name` is announced, then subscribes to its track `track`.
	pub async fn subscribe(&mut self, name: &str, track: &str) -> anyhow::Result<moq_net::track::Subscriber> {
		self.announced(name, true).await?;
		self::track(&self.consumer, name, track).await
	}

	/// The announcements not yet taken.
	pub fn announcements(&mut self) -> &mut moq_net::announce::Consumer {
		&mut self.announced
	}

	/// What the session receives.
	pub fn consumer(&self) -> &moq_net::origin::Consumer {
		&self.consumer
	}

	/// The session.
	pub fn connection(&self) -> &moq_tokio::Connection {
		&self.connection
	}

	/// Closes the session, waiting at most 2 s; not the client.
	pub async fn close(self) {
		let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.connection.close()).await;
	}
}

/// Subscribes to track `track` of broadcast `name` as `consumer` receives it, announced or not.
pub async fn track(
	consumer: &moq_net::origin::Consumer,
	name: &str,
	track: &str,
) -> anyhow::Result<moq_net::track::Subscriber> {
	track_with(consumer, name, track, None).await
}

/// [`track`] with the subscriber's preferences (`None`: the defaults, whose zero max age abandons
/// a group as soon as a newer one has data).
pub async fn track_with(
	consumer: &moq_net::origin::Consumer,
	name: &str,
	track: &str,
	subscription: Option<moq_net::track::Subscription>,
) -> anyhow::Result<moq_net::track::Subscriber> {
	let broadcast = consumer.request_broadcast(name).await.context("request broadcast")?;
	broadcast
		.track(track)
		.context("track")?
		.subscribe(subscription)
		.await
		.context("subscribe")
}

/// The next whole group of `track`: its frames' payloads, in order.
pub async fn read_group(track: &mut moq_net::track::Subscriber) -> anyhow::Result<Vec<Bytes>> {
	let mut group = track.recv_group().await?.context("the track ended")?;
	let mut frames = Vec::new();
	while let Some(frame) = group.read_frame().await? {
		frames.push(frame.payload);
	}
	Ok(frames)
}
