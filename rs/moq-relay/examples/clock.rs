//! A test publisher and viewer built on the published moq-tokio client: `publish` announces a
//! broadcast with one track `seconds` and writes the UTC time once a second (one group per
//! second); `subscribe` waits for that broadcast's announcement and prints every frame.
//!
//! ```text
//! cargo run -p moq-relay --example clock -- publish   http://localhost:4443/anon clock
//! cargo run -p moq-relay --example clock -- subscribe http://localhost:4443/anon clock
//! ```
//!
//! An `http://` URL fetches the relay's `/certificate.sha256` and pins it, as the published
//! clients do for development relays; `https://` and `moqt://` URLs verify against the system roots.
//! A token goes in the URL (`?jwt=…`) and is never printed. `just cluster` uses it to publish on
//! leaf 0 and read on leaf 1.
//!
//! `CLOCK_VERSION=moq-lite-03` (any name the published client knows: `moq-lite-03` … `-06`,
//! `moq-transport-14` … `-22`) pins the protocol version, and the line that says the session is up
//! names the version the relay answered.
//!
//! Nothing here waits forever: a URL of another scheme is refused at once, a relay that does not
//! answer within [`CONNECT`] and a broadcast not announced within [`ANNOUNCE`] (`CLOCK_WAIT=SECS`
//! to change it) end the program with exit status 1 and a line saying what to check; so does the
//! session ending.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use moq_relay_bench::publisher::{Publisher, write_group};
use moq_relay_bench::subscriber::Subscriber;

/// How long connecting (certificate fetch, QUIC or WebTransport, SETUP) may take.
const CONNECT: Duration = Duration::from_secs(10);
/// How long `subscribe` waits for the broadcast to be announced, unless `CLOCK_WAIT` says.
const ANNOUNCE: Duration = Duration::from_secs(10);

const USAGE: &str = "usage: clock publish|subscribe URL [BROADCAST]\n  URL: http://HOST:PORT/PATH (a development relay: its certificate is pinned), https://… or moqt://…, e.g. http://localhost:4443/anon\n  BROADCAST: default clock";

#[tokio::main]
async fn main() -> std::process::ExitCode {
	match run().await {
		Ok(()) => std::process::ExitCode::SUCCESS,
		Err(err) => {
			eprintln!("clock: {err:#}");
			std::process::ExitCode::FAILURE
		}
	}
}

async fn run() -> anyhow::Result<()> {
	let args: Vec<String> = std::env::args().skip(1).collect();
	if args.iter().any(|a| a == "-h" || a == "--help") {
		println!("{USAGE}");
		return Ok(());
	}
	let [mode, url, rest @ ..] = args.as_slice() else {
		bail!("{USAGE}");
	};
	let name = match rest {
		[] => "clock",
		[name] => name.as_str(),
		_ => bail!("{USAGE}"),
	};
	let url = parse_url(url)?;

	let mut config = moq_tokio::connect::Config::default();
	// One dial, bounded: an error is reported, never retried in silence.
	config.once = Some(true);
	config.timeout = CONNECT;
	if let Ok(name) = std::env::var("CLOCK_VERSION") {
		let version = name.parse().map_err(|_| {
			anyhow::anyhow!(
				"CLOCK_VERSION={name} is no version the published client knows: moq-lite-03 … moq-lite-06, moq-transport-14 … moq-transport-22"
			)
		})?;
		config.version = vec![version];
	}
	let client = config.init(Default::default())?;
	match mode.as_str() {
		"publish" => publish(client, url, name).await,
		"subscribe" => subscribe(client, url, name).await,
		other => bail!("unknown mode `{other}`: publish or subscribe\n{USAGE}"),
	}
}

/// The relay URL, with the schemes a moq-relay serves; anything else is refused with the forms.
fn parse_url(text: &str) -> anyhow::Result<url::Url> {
	let url: url::Url = text
		.parse()
		.with_context(|| format!("`{}` is not a URL\n{USAGE}", without_query_str(text)))?;
	match url.scheme() {
		"http" | "https" | "moqt" => {}
		other => bail!(
			"the scheme `{other}` is not one a moq-relay serves: use http:// (a development relay, certificate pinned from its /certificate.sha256), https:// (WebTransport, a CA-signed certificate) or moqt:// (raw QUIC)"
		),
	}
	if url.host_str().is_none_or(str::is_empty) {
		bail!("{} has no host\n{USAGE}", without_query(&url));
	}
	Ok(url)
}

/// What to check when connecting failed.
fn unreachable(url: &url::Url) -> String {
	format!(
		"cannot reach a relay at {} (is one running there, on this port? It prints `listening: ADDR` and `url: …` when it starts; a development relay with a self-signed certificate needs http://)",
		without_query(url)
	)
}

async fn publish(client: moq_tokio::Client, url: url::Url, name: &str) -> anyhow::Result<()> {
	let publisher = tokio::time::timeout(
		CONNECT + Duration::from_secs(1),
		Publisher::start(client, url.clone(), name, "seconds"),
	)
	.await
	.map_err(|_| anyhow::anyhow!("{}: no answer within {}s", unreachable(&url), CONNECT.as_secs()))?
	.with_context(|| unreachable(&url))?;
	let over = pinned(publisher.connection().version());
	println!("publishing {name}/seconds at {}{over}", without_query(&url));
	let mut tick = tokio::time::interval(Duration::from_secs(1));
	loop {
		tokio::select! {
			_ = tick.tick() => {}
			closed = publisher.connection().closed() => {
				let why = closed.err().map(|e| e.to_string()).unwrap_or_else(|| "closed".into());
				bail!("the session with {} ended: {why}", without_query(&url));
			}
		}
		let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
		write_group(publisher.track(), 1, |_, _| Bytes::from(format!("{now}")))?;
	}
}

async fn subscribe(client: moq_tokio::Client, url: url::Url, name: &str) -> anyhow::Result<()> {
	println!("waiting for {name} at {}", without_query(&url));
	let mut session = tokio::time::timeout(
		CONNECT + Duration::from_secs(1),
		Subscriber::connect(&client, url.clone()),
	)
	.await
	.map_err(|_| anyhow::anyhow!("{}: no answer within {}s", unreachable(&url), CONNECT.as_secs()))?
	.with_context(|| unreachable(&url))?;
	let over = pinned(session.connection().version());
	if !over.is_empty() {
		println!("connected to {}{over}", without_query(&url));
	}
	let announce = std::env::var("CLOCK_WAIT")
		.ok()
		.and_then(|secs| secs.parse().ok())
		.map_or(ANNOUNCE, Duration::from_secs);
	let mut seen = Vec::new();
	let waited = tokio::time::timeout(announce, async {
		loop {
			let update = session.announcements().next().await?;
			let path = update.prefix.as_str().to_string();
			if !update.kind.is_active() {
				seen.retain(|s| s != &path);
			} else if path == name {
				return Some(());
			} else if !seen.contains(&path) {
				seen.push(path);
			}
		}
	})
	.await;
	match waited {
		Ok(Some(())) => {}
		Ok(None) => bail!(
			"the session with {} ended before {name} was announced",
			without_query(&url)
		),
		Err(_) => {
			let published = match seen.as_slice() {
				[] => "nothing is published there".to_string(),
				names => format!("published there: {}", names.join(", ")),
			};
			bail!(
				"no broadcast `{name}` at {} after {}s ({published}): check the name and the path, or start a publisher (clock publish {} {name})",
				without_query(&url),
				announce.as_secs(),
				without_query(&url)
			);
		}
	}
	let mut track = moq_relay_bench::subscriber::track(session.consumer(), name, "seconds").await?;
	while let Some(mut group) = track.recv_group().await? {
		while let Some(frame) = group.read_frame().await? {
			// A closed stdout (piped into `head`) ends the program quietly.
			let line = format!("{name}/seconds: {}", String::from_utf8_lossy(&frame.payload));
			if std::io::Write::write_all(&mut std::io::stdout(), format!("{line}\n").as_bytes()).is_err() {
				return Ok(());
			}
		}
	}
	bail!("{name} ended at {}", without_query(&url))
}

/// ` over VERSION` when `CLOCK_VERSION` pinned one (the version the session speaks), else nothing.
fn pinned(version: Option<impl std::fmt::Display>) -> String {
	match (std::env::var_os("CLOCK_VERSION"), version) {
		(Some(_), Some(version)) => format!(" over {version}"),
		_ => String::new(),
	}
}

/// The URL for printing: a token in the query is never shown.
fn without_query(url: &url::Url) -> String {
	let mut shown = url.clone();
	shown.set_query(None);
	shown.to_string()
}

/// The same for text that did not parse as a URL.
fn without_query_str(text: &str) -> &str {
	text.split('?').next().unwrap_or_default()
}
