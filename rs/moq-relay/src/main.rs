//! `moq-relay`: parses the configuration and runs the library's relay.

use std::process::ExitCode;

use clap::Parser;
use moq_relay::auth::Public;
use moq_relay::config::{Args, Config};
use moq_relay::relay::{Relay, RelayError};

/// jemalloc with background threads returns freed memory to the OS on a timer, set in [`memory`] to
/// 5 s: RSS falls back after sessions close with no further activity, where glibc malloc
/// kept every freed page and mimalloc purged only on later allocations; and an idle session costs
/// ~61 KiB against ~79 KiB with mimalloc (docs/performance.md, idle memory).
/// (`--features system-allocator` keeps the system's malloc, for heap profilers such as heaptrack.)
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(not(feature = "system-allocator"))]
mod memory;

/// Prints a start-up line; a closed stdout (say, piped into `head`) is not an error.
macro_rules! say {
	($($arg:tt)*) => {{
		use std::io::Write;
		let _ = writeln!(std::io::stdout(), $($arg)*);
	}};
}

fn main() -> ExitCode {
	let mut runtime = tokio::runtime::Builder::new_multi_thread();
	runtime.enable_all();
	#[cfg(not(feature = "system-allocator"))]
	runtime.on_thread_park(memory::on_park);
	let result = match runtime.build() {
		Ok(runtime) => runtime.block_on(run()),
		Err(err) => Err(anyhow::Error::new(err).context("cannot start the async runtime")),
	};
	match result {
		Ok(()) => ExitCode::SUCCESS,
		Err(err) => {
			eprintln!("moq-relay: {err:#}");
			ExitCode::FAILURE
		}
	}
}

async fn run() -> anyhow::Result<()> {
	tracing_subscriber::fmt()
		.with_env_filter(moq_relay::logging::from_env())
		.with_writer(std::io::stderr)
		// Colours only on a terminal: logs redirected to a file or a pipe carry no escape codes.
		.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none())
		.init();
	#[cfg(not(feature = "system-allocator"))]
	if let Err(err) = memory::configure() {
		tracing::warn!(%err, "cannot set the allocator's decay: freed memory goes back to the OS more slowly");
	}

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
		// The dev default also binds ::1, "if available": only a machine without IPv6 falls back
		// (a busy port is busy on IPv4 too, and is reported as such).
		Err(RelayError::Bind { addr, source })
			if dev && args.server.bind.is_none() && addr.is_ipv6() && ipv6_unavailable(&source) =>
		{
			tracing::info!(%addr, %source, "no IPv6 loopback here: listening on IPv4 only");
			relay_config.bind.retain(|a| a.is_ipv4());
			Relay::bind(relay_config.clone())
				.await
				.map_err(|err| bind_error(err, dev))?
		}
		Err(err) => return Err(bind_error(err, dev)),
	};

	#[cfg(not(feature = "system-allocator"))]
	tokio::spawn(memory::trim_when_quiet(relay.metrics()));

	let port = relay.local_addrs().first().map(|a| a.port()).unwrap_or(4443);
	let host = config
		.tls
		.generate
		.as_ref()
		.or(config.tls.domain.as_ref())
		.and_then(|hosts| hosts.first().cloned())
		.unwrap_or_else(|| "localhost".into());
	let public = relay_config.auth.public().prefixes().first().map(|p| p.to_string());
	for addr in relay.local_addrs() {
		say!("listening: {addr} (UDP: QUIC + WebTransport, TCP: HTTP + HTTPS)");
	}
	match &public {
		Some(public) => say!("url: https://{host}:{port}/{public}"),
		None => say!("url: https://{host}:{port}/ (no anonymous access configured)"),
	}
	match relay.fingerprint() {
		"" => say!("fingerprint: none yet (ACME: ordering a certificate; /ready answers 200 once it is served)"),
		fingerprint => say!("fingerprint: {fingerprint}"),
	}
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
	say!(
		"{}",
		token_line(config.auth.key.as_deref(), &relay_config, public.as_deref())
	);
	if relay_config.demo {
		say!("demo: http://{host}:{port}/ in a browser (publish and watch; status at /status)");
		say!("info: http://{host}:{port}/ with curl (these URLs, the fingerprint and the routes)");
	} else {
		say!("info: http://{host}:{port}/ (these URLs, the fingerprint and the routes)");
	}

	relay.run(shutdown_signal()).await?;
	Ok(())
}

/// How to get a token, from what the relay verifies: the key file to sign with when there is
/// one, else whether anonymous access is all there is.
fn token_line(key: Option<&std::path::Path>, relay: &moq_relay::relay::RelayConfig, public: Option<&str>) -> String {
	let sign = "sign --root <path> --publish <prefix> --subscribe <prefix> --expires-in 1h";
	match key {
		// A public half (`key_ops: ["verify"]`) cannot sign: name its private half instead.
		Some(key) => {
			let signs = std::fs::read_to_string(key)
				.ok()
				.and_then(|text| moq_token::Key::parse(&text).ok())
				.is_some_and(|key| key.ops().sign);
			let file = if signs {
				key.display().to_string()
			} else {
				format!("<the private key of {}>", key.display())
			};
			let just = if key == std::path::Path::new("dev/root.jwk") {
				"   (or: just token)"
			} else {
				""
			};
			format!("token: moq-token --key {file} {sign}{just}")
		}
		None if relay.auth.verifies_tokens() => {
			"token: credentials are checked by the configured methods (docs/auth.md, \"The order of checks\")".into()
		}
		None => match public {
			Some(public) => format!(
				"token: none needed under /{public}; to accept ?jwt= tokens elsewhere set [auth] key (e.g. --auth-key dev/root.jwk)"
			),
			None => "token: no public prefix and no token key, so every session is refused: set [auth] public or [auth] key (docs/auth.md)".into(),
		},
	}
}

/// Whether binding an IPv6 address failed because this machine has no IPv6 (rather than, say, a
/// busy port): `EADDRNOTAVAIL` or `EAFNOSUPPORT`.
fn ipv6_unavailable(err: &std::io::Error) -> bool {
	const EAFNOSUPPORT: i32 = 97;
	err.kind() == std::io::ErrorKind::AddrNotAvailable || err.raw_os_error() == Some(EAFNOSUPPORT)
}

/// A bind failure with the next step: which flag picks another address.
fn bind_error(err: RelayError, dev: bool) -> anyhow::Error {
	let RelayError::Bind { addr, source } = &err else {
		return anyhow::Error::new(err).context("cannot start the relay");
	};
	let other = std::net::SocketAddr::new(addr.ip(), addr.port().wrapping_add(1).max(1024));
	let flag = format!(
		"--server-bind {other} (or MOQ_SERVER_BIND, or [server] bind in {})",
		if dev { "a --config file" } else { "the --config file" }
	);
	let next = match source.kind() {
		std::io::ErrorKind::AddrInUse => format!(
			"{addr} is already in use (another moq-relay? `curl http://{addr}/health` asks it): stop that program, or listen elsewhere with {flag}"
		),
		std::io::ErrorKind::PermissionDenied => {
			format!("ports below 1024 need privileges: pick a port of 1024 or more with {flag}")
		}
		std::io::ErrorKind::AddrNotAvailable => format!(
			"{} is not an address of this machine: bind one of its addresses ([::] or 0.0.0.0 for all) with {flag}",
			addr.ip()
		),
		_ => format!("{source}: listen elsewhere with {flag}"),
	};
	anyhow::anyhow!("cannot listen on {addr}: {next}")
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
