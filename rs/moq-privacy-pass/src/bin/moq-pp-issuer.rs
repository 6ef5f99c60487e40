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
//! `--public-key-out FILE`: writes the public key (SPKI DER, base64) for the relay's `--pp-issuer-key`,
//! whole or not at all (a temporary file beside it, renamed over it): a reader never sees part of a
//! key, and a failed write (a full disk) leaves the file that was there.
//! `--url`: the base URL clients reach it at (default `http://<bind>`), for the directory's request URI.
//!
//! Prints `issuer: <host:port>` (the name for the relay's `--pp-issuer`), `directory: <url>`,
//! `token-key: <base64>` and finally `ready`, then serves until SIGINT/SIGTERM. `--help` prints the
//! usage and exits 0; a bad argument is named on stderr, exit code 2.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use moq_privacy_pass::issuer_http::{self, DEFAULT_REQUEST_PATH};
use moq_privacy_pass::{DIRECTORY_PATH, Issuer, IssuerKeyPair};

/// A local Privacy Pass issuer (RFC 9578, type 0x0002) over plain HTTP, for development and offline
/// tests. It attests nothing: anyone who reaches it gets tokens.
#[derive(Debug, Parser)]
#[command(name = "moq-pp-issuer")]
struct Args {
	/// Address to listen on.
	#[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
	bind: SocketAddr,
	/// The issuer's RSA-2048 private key (PKCS#8 PEM); generated and written there (mode 0600) when
	/// the file does not exist. Without it a fresh key lives in memory.
	#[arg(long, value_name = "PKCS8.pem")]
	key: Option<PathBuf>,
	/// Writes the public key (SPKI DER, base64) here, for the relay's `--pp-issuer-key`.
	#[arg(long, value_name = "FILE")]
	public_key_out: Option<PathBuf>,
	/// The base URL clients reach it at (default `http://<bind>`), for the directory's request URI.
	#[arg(long, value_name = "http://host:port", value_parser = base_url)]
	url: Option<String>,
}

/// `--url` without its trailing slashes.
fn base_url(value: &str) -> Result<String, String> {
	Ok(value.trim_end_matches('/').to_string())
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
			let mut file = options
				.open(path)
				.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
			if let Err(e) = file.write_all(pem.as_bytes()).and_then(|()| file.sync_all()) {
				// Half a key would stop the next start with a parse error: leave no file instead.
				let _ = std::fs::remove_file(path);
				return Err(format!("cannot write {}: {e}", path.display()));
			}
			Ok(pair)
		}
		Err(e) => Err(format!("cannot read {}: {e}", path.display())),
	}
}

/// Replaces `path` with `contents`, readable by all (a public key): written to a temporary file in
/// the same directory, flushed to disk, then renamed over `path`. On failure the temporary file is
/// removed and `path` is as it was.
fn write_whole(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
	let dir = path
		.parent()
		.filter(|dir| !dir.as_os_str().is_empty())
		.unwrap_or(std::path::Path::new("."));
	let mut file = tempfile::NamedTempFile::new_in(dir)?;
	// The file itself: its error names no temporary path (the caller names `path`).
	file.as_file_mut().write_all(contents.as_bytes())?;
	#[cfg(unix)]
	std::fs::set_permissions(file.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
	file.as_file().sync_all()?;
	file.persist(path).map_err(|e| e.error)?;
	Ok(())
}

fn main() -> ExitCode {
	let args = Args::parse();
	match run(args) {
		Ok(()) => ExitCode::SUCCESS,
		Err(err) => {
			eprintln!("moq-pp-issuer: {err}");
			ExitCode::FAILURE
		}
	}
}

#[tokio::main]
async fn run(args: Args) -> Result<(), String> {
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
		write_whole(out, &format!("{token_key}\n")).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
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
