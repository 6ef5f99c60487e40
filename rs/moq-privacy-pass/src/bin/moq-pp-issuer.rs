//! `moq-pp-issuer`: a local Privacy Pass issuer (RFC 9578, type 0x0002) over plain HTTP, for
//! development and offline tests. It attests nothing: anyone who reaches it gets tokens.
//!
//! ```text
//! cargo run -p moq-privacy-pass --features http --bin moq-pp-issuer -- \
//!     [--bind 127.0.0.1:8787] [--key issuer.pem] [--public-key-out issuer.pub] [--url http://127.0.0.1:8787]
//! ```
//!
//! `--key FILE`: the issuer's RSA-2048 private key (PKCS#8 PEM); generated and written there (mode 0600)
//! when the file does not exist, so restarts keep the key. Without `--key` a fresh key lives in memory.
//! `--public-key-out FILE`: writes the public key (SPKI DER, base64) for the relay's `--pp-issuer-key`.
//! `--url`: the base URL clients reach it at (default `http://<bind>`), for the directory's request URI.
//!
//! Prints `issuer: <host:port>` (the name for the relay's `--pp-issuer`), `directory: <url>`,
//! `token-key: <base64>` and finally `ready`, then serves until SIGINT/SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use moq_privacy_pass::issuer_http::{self, DEFAULT_REQUEST_PATH};
use moq_privacy_pass::{DIRECTORY_PATH, Issuer, IssuerKeyPair};

struct Args {
	bind: SocketAddr,
	key: Option<PathBuf>,
	public_key_out: Option<PathBuf>,
	url: Option<String>,
}

const USAGE: &str =
	"usage: moq-pp-issuer [--bind ADDR] [--key PKCS8.pem] [--public-key-out FILE] [--url http://host:port]";

fn parse_args() -> Result<Args, String> {
	let mut args = Args {
		bind: "127.0.0.1:8787".parse().expect("literal"),
		key: None,
		public_key_out: None,
		url: None,
	};
	let mut it = std::env::args().skip(1);
	while let Some(arg) = it.next() {
		let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"));
		match arg.as_str() {
			"--bind" => args.bind = value()?.parse().map_err(|e| format!("--bind: {e}"))?,
			"--key" => args.key = Some(value()?.into()),
			"--public-key-out" => args.public_key_out = Some(value()?.into()),
			"--url" => args.url = Some(value()?.trim_end_matches('/').to_string()),
			"-h" | "--help" => return Err(USAGE.to_string()),
			other => return Err(format!("unknown argument {other}\n{USAGE}")),
		}
	}
	Ok(args)
}

fn load_or_generate(path: Option<&PathBuf>) -> Result<IssuerKeyPair, String> {
	let Some(path) = path else {
		return IssuerKeyPair::generate().map_err(|e| e.to_string());
	};
	match std::fs::read_to_string(path) {
		Ok(pem) => IssuerKeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display())),
		Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
			let pair = IssuerKeyPair::generate().map_err(|e| e.to_string())?;
			let pem = pair.to_pkcs8_pem().map_err(|e| e.to_string())?;
			let mut options = std::fs::OpenOptions::new();
			options.write(true).create_new(true);
			#[cfg(unix)]
			std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
			options
				.open(path)
				.and_then(|mut f| f.write_all(pem.as_bytes()))
				.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
			Ok(pair)
		}
		Err(e) => Err(format!("cannot read {}: {e}", path.display())),
	}
}

fn main() -> ExitCode {
	match run() {
		Ok(()) => ExitCode::SUCCESS,
		Err(err) => {
			eprintln!("moq-pp-issuer: {err}");
			ExitCode::FAILURE
		}
	}
}

#[tokio::main]
async fn run() -> Result<(), String> {
	let args = parse_args()?;
	let pair = load_or_generate(args.key.as_ref())?;
	let listener = tokio::net::TcpListener::bind(args.bind)
		.await
		.map_err(|e| format!("cannot bind {}: {e}", args.bind))?;
	let bound = listener.local_addr().map_err(|e| e.to_string())?;
	let base = args.url.unwrap_or_else(|| format!("http://{bound}"));
	let name = base
		.split_once("://")
		.map(|(_, rest)| rest)
		.unwrap_or(&base)
		.trim_end_matches('/')
		.to_string();
	let token_key = pair.public_key().to_base64();
	if let Some(out) = &args.public_key_out {
		std::fs::write(out, format!("{token_key}\n")).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
	}
	let issuer = Issuer::new(format!("{base}{DEFAULT_REQUEST_PATH}"), vec![pair]).map_err(|e| e.to_string())?;
	let router = issuer_http::router(Arc::new(issuer), DEFAULT_REQUEST_PATH, Duration::from_secs(300));

	let mut out = std::io::stdout().lock();
	let _ = writeln!(out, "issuer: {name}");
	let _ = writeln!(out, "directory: {base}{DIRECTORY_PATH}");
	let _ = writeln!(out, "token-key: {token_key}");
	let _ = writeln!(out, "ready");
	let _ = out.flush();
	drop(out);

	issuer_http::serve(listener, router, shutdown())
		.await
		.map_err(|e| e.to_string())
}

async fn shutdown() {
	#[cfg(unix)]
	{
		use tokio::signal::unix::{SignalKind, signal};
		match signal(SignalKind::terminate()) {
			Ok(mut term) => {
				tokio::select! {
					_ = tokio::signal::ctrl_c() => {}
					_ = term.recv() => {}
				}
			}
			Err(_) => {
				let _ = tokio::signal::ctrl_c().await;
			}
		}
	}
	#[cfg(not(unix))]
	let _ = tokio::signal::ctrl_c().await;
}
