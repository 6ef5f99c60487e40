//! A test publisher and viewer built on the published moq-tokio client: `publish` announces a
//! broadcast with one track `seconds` and writes the UTC time once a second (one group per
//! second); `subscribe` waits for that broadcast's announcement and prints every frame.
//!
//! ```text
//! cargo run -p moq-relay --example clock -- publish   http://127.0.0.1:4444/anon clock
//! cargo run -p moq-relay --example clock -- subscribe http://127.0.0.1:4445/anon clock
//! ```
//!
//! An `http://` URL fetches the relay's `/certificate.sha256` and pins it, as the published
//! clients do for development relays; `https://` and `moqt://` URLs verify against the system roots.
//! `just cluster` uses it to publish on leaf 0 and read on leaf 1.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use moq_relay_bench::publisher::{Publisher, write_group};
use moq_relay_bench::subscriber::Subscriber;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	let mut args = std::env::args().skip(1);
	let usage = "usage: clock publish|subscribe URL [BROADCAST]";
	let mode = args.next().context(usage)?;
	let url: url::Url = args.next().context(usage)?.parse().context("the URL")?;
	let name = args.next().unwrap_or_else(|| "clock".into());

	let config = moq_tokio::connect::Config::default();
	let client = config.init(Default::default())?;
	match mode.as_str() {
		"publish" => publish(client, url, &name).await,
		"subscribe" => subscribe(client, url, &name).await,
		_ => anyhow::bail!(usage),
	}
}

async fn publish(client: moq_tokio::Client, url: url::Url, name: &str) -> anyhow::Result<()> {
	let publisher = Publisher::start(client, url.clone(), name, "seconds").await?;
	println!("publishing {name}/seconds at {}", without_query(&url));
	let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
	loop {
		tick.tick().await;
		let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
		write_group(publisher.track(), 1, |_, _| Bytes::from(format!("{now}")))?;
	}
}

async fn subscribe(client: moq_tokio::Client, url: url::Url, name: &str) -> anyhow::Result<()> {
	println!("waiting for {name} at {}", without_query(&url));
	let mut session = Subscriber::connect(&client, url).await?;
	let mut track = session.subscribe(name, "seconds").await?;
	while let Some(mut group) = track.recv_group().await? {
		while let Some(frame) = group.read_frame().await? {
			println!("{name}/seconds: {}", String::from_utf8_lossy(&frame.payload));
		}
	}
	Ok(())
}

/// The URL for printing: a token in the query is never shown.
fn without_query(url: &url::Url) -> String {
	let mut shown = url.clone();
	shown.set_query(None);
	shown.to_string()
}
