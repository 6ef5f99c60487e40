//! Privacy Pass client: the three steps of the Privacy Pass quick test (`docs/privacy-pass.md`) against a relay.
//!
//! 1. Connect over WebTransport without a token; the relay closes the session with code 0x2 and the
//!    reason `pp:<base64url TokenChallenge>`; the challenge names the issuer.
//! 2. Fetch the issuer's directory (`/.well-known/private-token-issuer-directory`), send a blinded
//!    RFC 9578 token request to its `issuer-request-uri`, and finalize the token.
//! 3. Reconnect with `Authorization: PrivateToken token="..."` on the CONNECT, check the session is
//!    served (SETUP, then an ANNOUNCE_REQUEST answered by ANNOUNCE_OK), keep it 5 seconds, close.
//!
//! ```text
//! cargo run -p moq-relay --example pp_client -- [--issuer-url URL] [--fingerprint HEX] \
//!     https://127.0.0.1:4443/test/room
//! ```
//!
//! `--issuer-url`: where the issuer is reached (default `https://<issuer name from the challenge>`,
//! or `http://` when that name is a loopback `host:port`, as with the local `moq-pp-issuer`). `--fingerprint`: the relay's certificate SHA-256;
//! without it the client fetches `http://host:port/certificate.sha256` (the relay's development
//! bootstrap) and pins that. `--stay SECONDS` (default 5). The token is never printed.
//!
//! Prints the quick test's lines (`INFO  pp_client: ...`); exits 1 on any failure. `--help` prints the
//! usage and exits 0.

use std::time::Duration;

use clap::Parser;
use moq_privacy_pass::{
	DIRECTORY_MEDIA_TYPE, DIRECTORY_PATH, IssuerDirectory, IssuerKey, TOKEN_REQUEST_MEDIA_TYPE, TokenChallenge,
	TokenResponse, request_token,
};

use moq_relay::client::{self, BOUND, Outcome, bounded, connect, served};

/// What to connect to.
#[derive(Debug, Clone)]
pub struct Args {
	/// The relay URL (`https://host:port/path`).
	pub url: url::Url,
	/// The issuer base URL; default `https://<issuer name>`.
	pub issuer_url: Option<String>,
	/// The relay certificate's SHA-256 (hex); default: fetched from `/certificate.sha256`.
	pub fingerprint: Option<String>,
	/// How long the admitted session is kept.
	pub stay: Duration,
}

/// Privacy Pass client: connects without a token, fetches one from the issuer the relay's
/// challenge names, and reconnects with it.
#[derive(Parser)]
#[command(name = "pp_client")]
struct Cli {
	/// Where the issuer is reached [default: https://<issuer name from the challenge>, or http://
	/// for a loopback host:port]
	#[arg(long, value_name = "URL")]
	issuer_url: Option<String>,
	/// The relay certificate's SHA-256 (hex) [default: fetched from
	/// http://host:port/certificate.sha256]
	#[arg(long, value_name = "HEX")]
	fingerprint: Option<String>,
	/// How long the admitted session is kept, in whole seconds.
	#[arg(long, value_name = "SECONDS", default_value_t = 5)]
	stay: u64,
	/// The relay: https://host:port/path
	#[arg(value_name = "URL")]
	url: String,
}

impl Args {
	/// The command line. `--help` prints the usage and exits 0; a usage error exits 1, like any
	/// other failure of this client.
	fn from_command_line() -> Result<Self, String> {
		let cli = Cli::try_parse().unwrap_or_else(|err| {
			if !err.use_stderr() {
				err.exit();
			}
			let _ = err.print();
			std::process::exit(1);
		});
		Ok(Self {
			url: url::Url::parse(&cli.url).map_err(|e| format!("bad URL: {e}"))?,
			issuer_url: cli.issuer_url,
			fingerprint: cli.fingerprint,
			stay: Duration::from_secs(cli.stay),
		})
	}
}

#[tokio::main]
async fn main() {
	let filter = tracing_subscriber::EnvFilter::try_from_default_env()
		.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("pp_client=info"));
	tracing_subscriber::fmt()
		.with_env_filter(filter)
		.event_format(SeedFormat)
		.with_writer(std::io::stdout)
		.init();
	let result = match Args::from_command_line() {
		Ok(args) => run(&args).await,
		Err(message) => Err(message),
	};
	if let Err(message) = result {
		tracing::error!(target: "pp_client", "{message}");
		std::process::exit(1);
	}
}

/// The quick test's three steps; progress goes to `tracing` under the target `pp_client`.
pub async fn run(args: &Args) -> Result<(), String> {
	tracing::info!(target: "pp_client", "Privacy Pass MoQ Client");
	let fingerprint = match &args.fingerprint {
		Some(hex) => {
			client::fingerprint(hex)?;
			hex.clone()
		}
		None => bootstrap_fingerprint(&args.url).await?,
	};

	tracing::info!(target: "pp_client", "Step 1: Connect without token (expect rejection)");
	let session = connect(&args.url, &fingerprint, &[]).await?;
	let challenge = match served(&session).await? {
		Outcome::Admitted(_) => {
			session.close(0, b"done");
			return Err(
				"the relay admitted the session without a token: is Privacy Pass enabled and the path not public?"
					.into(),
			);
		}
		Outcome::Refused(code, reason) => match reason.strip_prefix(moq_privacy_pass::CLOSE_REASON_PREFIX) {
			Some(_) => TokenChallenge::from_close_reason(&reason)
				.map_err(|e| format!("bad challenge in the close reason: {e}"))?,
			None => return Err(format!("refused without a TokenChallenge: code={code} reason={reason}")),
		},
	};
	tracing::info!(target: "pp_client", "  Got TokenChallenge from issuer: {}", challenge.issuer_name());

	tracing::info!(target: "pp_client", "Step 2: Request token from issuer");
	let issuer_url = args
		.issuer_url
		.clone()
		.unwrap_or_else(|| default_issuer_url(challenge.issuer_name()));
	let token = fetch_token(issuer_url.trim_end_matches('/'), &challenge).await?;
	tracing::info!(target: "pp_client", "  Got token: {} bytes", token.as_bytes().len());

	tracing::info!(target: "pp_client", "Step 3: Reconnect with Privacy Pass token");
	let authorization = format!("PrivateToken token=\"{}\"", token.to_base64());
	let session = connect(&args.url, &fingerprint, &[("authorization", authorization.as_str())]).await?;
	match served(&session).await? {
		Outcome::Admitted(_) => {}
		Outcome::Refused(code, reason) => return Err(format!("refused with the token: code={code} reason={reason}")),
	}
	tracing::info!(target: "pp_client", "Connected! Session established with Privacy Pass auth");
	tokio::select! {
		_ = tokio::time::sleep(args.stay) => {
			tracing::info!(target: "pp_client", "Session stayed alive for {} seconds, closing...", args.stay.as_secs());
			session.close(0, b"done");
			Ok(())
		}
		closed = session.closed() => Err(format!("the relay closed the session: {closed}")),
	}
}

/// `https://<issuer name>`, except plain `http://` for a loopback issuer (the local `moq-pp-issuer`).
fn default_issuer_url(name: &str) -> String {
	let host = match name.rsplit_once(':') {
		Some((host, port)) if port.parse::<u16>().is_ok() => host,
		_ => name,
	};
	match host {
		"localhost" | "127.0.0.1" | "[::1]" => format!("http://{name}"),
		_ => format!("https://{name}"),
	}
}

/// The relay's development bootstrap: `http://host:port/certificate.sha256` over TCP.
async fn bootstrap_fingerprint(url: &url::Url) -> Result<String, String> {
	let host = url.host_str().ok_or("the URL has no host")?;
	let port = url.port_or_known_default().unwrap_or(443);
	let host = if host.contains(':') && !host.starts_with('[') {
		format!("[{host}]")
	} else {
		host.to_string()
	};
	let bootstrap = format!("http://{host}:{port}/certificate.sha256");
	let response = bounded(BOUND, "the certificate fingerprint", reqwest::get(&bootstrap))
		.await?
		.map_err(|e| format!("cannot fetch {bootstrap}: {e}"))?;
	let text = response.text().await.map_err(|e| e.to_string())?;
	let hex = text.trim();
	client::fingerprint(hex).map_err(|_| format!("{bootstrap} is not a SHA-256 fingerprint; pass --fingerprint"))?;
	Ok(hex.to_string())
}

/// RFC 9578 §4-§5: the directory, then one token request for `challenge`.
async fn fetch_token(issuer_url: &str, challenge: &TokenChallenge) -> Result<moq_privacy_pass::Token, String> {
	let http = reqwest::Client::builder()
		.timeout(BOUND)
		.build()
		.map_err(|e| e.to_string())?;
	let directory_url = format!("{issuer_url}{DIRECTORY_PATH}");
	let response = http
		.get(&directory_url)
		.header(reqwest::header::ACCEPT, DIRECTORY_MEDIA_TYPE)
		.send()
		.await
		.map_err(|e| format!("issuer directory {directory_url}: {e}"))?;
	if !response.status().is_success() {
		return Err(format!("issuer directory {directory_url}: HTTP {}", response.status()));
	}
	let directory =
		IssuerDirectory::from_json(&response.text().await.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
	let key = directory
		.token_keys
		.iter()
		.rev()
		.filter(|k| k.token_type == moq_privacy_pass::TOKEN_TYPE_BLIND_RSA)
		.find_map(|k| IssuerKey::from_base64(&k.token_key).ok())
		.ok_or("the issuer directory has no type-2 key")?;
	// RFC 9578 §4: the request URI is absolute, or relative to the directory URL.
	let request_uri = url::Url::parse(&directory_url)
		.and_then(|base| base.join(&directory.issuer_request_uri))
		.map_err(|e| format!("bad issuer-request-uri: {e}"))?;

	let (request, state) = request_token(challenge, &key).map_err(|e| e.to_string())?;
	let response = http
		.post(request_uri.clone())
		.header(reqwest::header::CONTENT_TYPE, TOKEN_REQUEST_MEDIA_TYPE)
		.header(reqwest::header::ACCEPT, moq_privacy_pass::TOKEN_RESPONSE_MEDIA_TYPE)
		.body(request.to_bytes())
		.send()
		.await
		.map_err(|e| format!("token request to {request_uri}: {e}"))?;
	if !response.status().is_success() {
		return Err(format!("token request to {request_uri}: HTTP {}", response.status()));
	}
	let body = response.bytes().await.map_err(|e| e.to_string())?;
	let response = TokenResponse::from_bytes(&body).map_err(|e| e.to_string())?;
	state
		.finalize(&response)
		.map_err(|e| format!("the issuer's signature does not verify: {e}"))
}

/// The quick test's log line layout: `INFO  pp_client: message` (level left-aligned in 5 columns).
pub struct SeedFormat;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for SeedFormat
where
	S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
	N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
	fn format_event(
		&self,
		ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
		mut writer: tracing_subscriber::fmt::format::Writer<'_>,
		event: &tracing::Event<'_>,
	) -> std::fmt::Result {
		let meta = event.metadata();
		write!(writer, "{:<5} {}: ", meta.level().as_str(), meta.target())?;
		ctx.field_format().format_fields(writer.by_ref(), event)?;
		writeln!(writer)
	}
}
