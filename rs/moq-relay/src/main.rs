//! `moq-relay`: parses the configuration and runs the library's relay.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use moq_relay::auth::Public;
use moq_relay::config::{Args, Config};
use moq_relay::relay::Relay;

/// jemalloc with background threads returns freed memory to the OS on a timer (about 10 s of decay):
/// RSS falls back after sessions close with no further activity, where glibc malloc kept every freed
/// page and mimalloc purged only on later allocations; and an idle session costs ~61 KiB against
/// ~79 KiB with mimalloc (docs/performance.md, idle memory).
/// (`--features system-allocator` keeps the system's malloc, for heap profilers such as heaptrack.)
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Prints a start-up line; a closed stdout (say, piped into `head`) is not an error.
macro_rules! say {
	($($arg:tt)*) => {{
		use std::io::Write;
		let _ = writeln!(std::io::stdout(), $($arg)*);
	}};
}

fn main() -> ExitCode {
	match run() {
		Ok(()) => ExitCode::SUCCESS,
		Err(err) => {
			eprintln!("moq-relay: {err:#}");
			ExitCode::FAILURE
		}
	}
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
	tracing_subscriber::fmt()
		.with_env_filter(moq_relay::logging::from_env())
		.with_writer(std::io::stderr)
		.init();

	let args = Args::parse();
	let dev = args.config.is_none();
	let config = Config::defaults(dev).merge(args.load()?);
	if args.check {
		say!("{}", config.check_report()?.trim_end());
		say!("# the configuration above is valid (keys and certificates loaded)");
		return Ok(());
	}
	let mut relay_config = config.resolve()?;
	if !relay_config.auth.verifies_tokens()
		&& relay_config.auth.privacy_pass().is_none()
		&& relay_config.auth.public() == &Public::default()
	{
		tracing::warn!("no [auth] public prefix and no token key: every session will be refused");
	}

	let relay = match Relay::bind(relay_config.clone()).await {
		Ok(relay) => relay,
		// The dev default also binds ::1, "if available".
		Err(err) if dev && args.server.bind.is_none() && relay_config.bind.len() > 1 => {
			tracing::warn!(%err, "binding the IPv4 loopback only");
			relay_config.bind.retain(|a| a.is_ipv4());
			Relay::bind(relay_config.clone()).await.context("cannot bind")?
		}
		Err(err) => return Err(err).context("cannot start the relay"),
	};

	let port = relay.local_addrs().first().map(|a| a.port()).unwrap_or(4443);
	let host = config
		.tls
		.generate
		.as_ref()
		.and_then(|hosts| hosts.first().cloned())
		.unwrap_or_else(|| "localhost".into());
	let public = relay_config.auth.public().subscribe.first().map(|p| p.to_string());
	for addr in relay.local_addrs() {
		say!("listening: {addr} (UDP: QUIC + WebTransport, TCP: HTTP + HTTPS)");
	}
	match &public {
		Some(public) => say!("url: https://{host}:{port}/{public}"),
		None => say!("url: https://{host}:{port}/ (no anonymous access configured)"),
	}
	say!("fingerprint: {}", relay.fingerprint());
	say!("  (also at http://{host}:{port}/certificate.sha256)");
	if let Some(pp) = relay_config.auth.privacy_pass() {
		// Fetch the issuer directory now, so a bad URL shows at start-up rather than at the first session.
		pp.start();
		let keys = match pp.directory_url() {
			Some(url) => format!("{} key file(s) + directory {url}", pp.keys().len()),
			None => format!("{} key file(s)", pp.keys().len()),
		};
		let nonces = pp
			.redis_addr()
			.map_or("in memory".to_string(), |addr| format!("Redis at {addr}"));
		say!("privacy pass: issuer {}, {keys}, nonces {nonces}", pp.issuer());
	}
	if relay_config.auth.verifies_tokens() {
		say!(
			"token: just token   (or: moq-token --key <key> sign --root <path> --publish <p> --subscribe <s> --expires-in 1h)"
		);
	} else {
		say!(
			"token: none needed under the public prefix; set [auth] key (e.g. --auth-key dev/root.jwk) to accept ?jwt= tokens"
		);
	}

	relay.run(shutdown_signal()).await?;
	Ok(())
}

async fn shutdown_signal() {
	let ctrl_c = tokio::signal::ctrl_c();
	#[cfg(unix)]
	{
		let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
			Ok(term) => term,
			Err(_) => {
				let _ = ctrl_c.await;
				return;
			}
		};
		tokio::select! {
			_ = ctrl_c => {},
			_ = term.recv() => {},
		}
	}
	#[cfg(not(unix))]
	let _ = ctrl_c.await;
}
