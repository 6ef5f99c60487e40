//! Asks a relay whether it admits a session, and prints one line:
//! `admitted (N broadcasts announced)` (exit 0) or `refused: code=<n> reason=<reason>` (exit 1).
//!
//! ```text
//! cargo run -q -p moq-relay --example probe -- [--quic] --fingerprint HEX [--bearer TOKEN] \
//!     'https://127.0.0.1:4443/room/123?jwt=...'
//! ```
//!
//! WebTransport (the default) carries the path and query in the CONNECT URL and sends a SETUP
//! without a Path; `--quic` opens raw QUIC (ALPN `moq-lite-05`) and sends the path and query as
//! the SETUP Path parameter. Either way it then sends an ANNOUNCE_REQUEST for `""` and waits for
//! the ANNOUNCE_OK (admitted) or the relay's close (refused). `--fingerprint` pins the relay's
//! certificate (the hex SHA-256 the relay prints, also at `/certificate.sha256`). `--bearer`
//! sends `Authorization: Bearer TOKEN` on the WebTransport CONNECT (raw QUIC has no headers).
//!
//! The token and the query are never printed; errors name the URL path only. Other failures
//! (no connection, bad arguments) print `error: ...` on stderr and exit 2. `--help` prints the
//! usage and exits 0.

use clap::Parser;

use moq_relay::client::{self as admission, BOUND, Outcome, bounded};

/// Asks a relay whether it admits a session: prints `admitted (N broadcasts announced)` (exit 0)
/// or `refused: code=<n> reason=<reason>` (exit 1); other failures exit 2.
#[derive(Parser)]
#[command(name = "probe")]
struct Cli {
	/// Raw QUIC (ALPN moq-lite-05, path and query in the SETUP Path) instead of WebTransport.
	#[arg(long)]
	quic: bool,
	/// The relay certificate's SHA-256, 64 hex digits (the relay prints it; also at
	/// /certificate.sha256).
	#[arg(long, value_name = "HEX", value_parser = fingerprint)]
	fingerprint: String,
	/// Sends `Authorization: Bearer TOKEN` on the WebTransport CONNECT (raw QUIC has no headers).
	#[arg(long, value_name = "TOKEN", conflicts_with = "quic")]
	bearer: Option<String>,
	/// https://host:port/path[?jwt=...]
	#[arg(value_name = "URL")]
	url: String,
}

struct Args {
	url: url::Url,
	quic: bool,
	fingerprint: String,
	bearer: Option<String>,
}

/// `--fingerprint`: 64 hex digits, either case.
fn fingerprint(hex: &str) -> Result<String, String> {
	admission::fingerprint(hex).map(|_| hex.to_string())
}

impl Args {
	/// The command line; a usage error exits 2 (`--help` prints the usage and exits 0).
	fn parse() -> Result<Self, String> {
		let cli = Cli::try_parse().unwrap_or_else(|err| {
			if !err.use_stderr() {
				err.exit(); // --help, --version
			}
			// A missing or conflicting flag is named by clap without any value; for other mistakes
			// clap quotes the offending value, which can be a URL with a token or the --bearer token
			// itself, so only the kind of mistake is said.
			use clap::error::ErrorKind;
			match err.kind() {
				ErrorKind::MissingRequiredArgument | ErrorKind::ArgumentConflict => err.exit(),
				kind => {
					let kind = kind.as_str().unwrap_or("invalid arguments");
					eprintln!("error: {kind}; run `probe --help` for the usage");
					std::process::exit(2);
				}
			}
		});
		// Parsed here rather than by clap, whose error would echo the URL and the token in it.
		let url = url::Url::parse(&cli.url).map_err(|e| format!("bad URL: {e}"))?;
		Ok(Self {
			url,
			quic: cli.quic,
			fingerprint: cli.fingerprint,
			bearer: cli.bearer,
		})
	}
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
	let args = match Args::parse() {
		Ok(args) => args,
		Err(message) => {
			eprintln!("error: {message}");
			std::process::exit(2);
		}
	};
	let result = if args.quic {
		quic(&args).await
	} else {
		webtransport(&args).await
	};
	match result {
		Ok(Outcome::Admitted(n)) => println!("admitted ({n} broadcasts announced)"),
		Ok(Outcome::Refused(code, reason)) => {
			println!("refused: code={code} reason={reason}");
			std::process::exit(1);
		}
		Err(message) => {
			eprintln!("error: {} (path {})", message, args.url.path());
			std::process::exit(2);
		}
	}
}

/// The SETUP Path parameter / CONNECT target: the URL's path and query.
fn path_and_query(url: &url::Url) -> String {
	match url.query() {
		Some(query) => format!("{}?{query}", url.path()),
		None => url.path().to_string(),
	}
}

// ---- raw QUIC -------------------------------------------------------------------------------

async fn quic(args: &Args) -> Result<Outcome, String> {
	let host = args.url.host_str().ok_or("the URL has no host")?.to_string();
	let port = args.url.port_or_known_default().unwrap_or(443);
	let addr = bounded(BOUND, "DNS", tokio::net::lookup_host((host.as_str(), port)))
		.await?
		.map_err(|e| format!("cannot resolve {host}: {e}"))?
		.next()
		.ok_or_else(|| format!("{host} has no address"))?;
	let server_name = match args.url.host() {
		Some(url::Host::Domain(name)) => name.to_string(),
		_ => "localhost".to_string(),
	};
	let (endpoint, conn) = admission::dial(addr, &server_name, &args.fingerprint, "moq-lite-05").await?;
	let outcome = admission::quic_served(&conn, path_and_query(&args.url)).await;
	conn.close(0u32.into(), b"probe done");
	endpoint.wait_idle().await;
	outcome
}

// ---- WebTransport ---------------------------------------------------------------------------

async fn webtransport(args: &Args) -> Result<Outcome, String> {
	let authorization = args.bearer.as_ref().map(|token| format!("Bearer {token}"));
	let headers: Vec<(&str, &str)> = authorization
		.iter()
		.map(|value| ("authorization", value.as_str()))
		.collect();
	let session = admission::connect(&args.url, &args.fingerprint, &headers).await?;
	let outcome = admission::served(&session).await?;
	session.close(0, b"probe done");
	Ok(outcome)
}
