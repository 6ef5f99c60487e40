//! A session of the published client (`moq-tokio`) publishing broadcasts of one track each: the load
//! tool's publisher, and the relay's tests' (they depend on this crate for it).

use anyhow::Context;
use bytes::Bytes;
use url::Url;

/// A publishing session and what it publishes. Dropping it ends the broadcasts and the session
/// abruptly; [`Publisher::close`] closes them.
pub struct Publisher {
	_origin: moq_net::origin::Producer,
	broadcasts: Vec<moq_net::broadcast::Producer>,
	tracks: Vec<moq_net::track::Producer>,
	connection: moq_tokio::Connection,
	client: moq_tokio::Client,
}

impl Publisher {
	/// Announces broadcast `name` with one track `track`, then connects `client` to `url`
	/// publishing it, and waits until the session is established. Unbounded: callers bound it.
	pub async fn start(client: moq_tokio::Client, url: Url, name: &str, track: &str) -> anyhow::Result<Self> {
		Self::start_many(client, url, &[name], track).await
	}

	/// [`Publisher::start`] with one broadcast per name, each with one track `track`.
	pub async fn start_many(client: moq_tokio::Client, url: Url, names: &[&str], track: &str) -> anyhow::Result<Self> {
		let origin = moq_tokio::origin::spawn();
		let mut broadcasts = Vec::with_capacity(names.len());
		let mut tracks = Vec::with_capacity(names.len());
		for name in names {
			let broadcast = origin.create_broadcast(*name).context("create broadcast")?;
			tracks.push(broadcast.create_track(track, None).context("create track")?);
			broadcast.announce(Default::default()).context("announce")?;
			broadcasts.push(broadcast);
		}
		let connection = client
			.clone()
			.with_publisher(&origin)
			.connect(url)
			.established()
			.await
			.context("publisher connect")?;
		Ok(Self {
			_origin: origin,
			broadcasts,
			tracks,
			connection,
			client,
		})
	}

	/// The first broadcast's track.
	pub fn track(&self) -> &moq_net::track::Producer {
		&self.tracks[0]
	}

	/// Each broadcast's track, in the order of the names.
	pub fn tracks(&self) -> &[moq_net::track::Producer] {
		&self.tracks
	}

	/// The session.
	pub fn connection(&self) -> &moq_tokio::Connection {
		&self.connection
	}

	/// Ends the broadcasts, then closes the session (waiting at most 3 s) and the client.
	pub async fn close(self) {
		for broadcast in &self.broadcasts {
			broadcast.close();
		}
		let _ = tokio::time::timeout(std::time::Duration::from_secs(3), self.connection.close()).await;
		self.client.close().await;
	}
}

/// Appends a group of `count` frames to `track`, frame `i` being `frame(sequence, i)` stamped now,
/// and finishes it; returns the group's sequence number.
pub fn write_group(
	track: &moq_net::track::Producer,
	count: u64,
	frame: impl Fn(u64, u64) -> Bytes,
) -> anyhow::Result<u64> {
	let mut group = track.append_group()?;
	let sequence = group.sequence;
	for i in 0..count {
		group.write_frame(moq_net::Timestamp::now(), frame(sequence, i))?;
	}
	group.finish()?;
	Ok(sequence)
}
