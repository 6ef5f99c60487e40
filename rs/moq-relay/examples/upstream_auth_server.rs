//! The published relay's reference auth server, for benchmarks: `moq-auth`'s `serve` module as
//! `moq auth serve --key KEY` runs it, which the published `moq-relay` 0.17 asks about every
//! session it admits with a token (`--auth-url`). `dev/bench-compare.sh upstream connect-jwt` starts it
//! beside the published relay, so its token sessions are measured with their auth server, as they
//! are deployed (`docs/performance.md`, "Session set-up CPU").
//!
//! ```text
//! cargo run -q -p moq-relay --example upstream_auth_server -- --listen 127.0.0.1:8090 --key dev/root.jwk
//! ```
//!
//! It prints one line when listening.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use moq_auth::serve::{Keys, Policy, Server};

/// moq-auth's auth server for the published moq-relay's `--auth-url`.
#[derive(Parser)]
#[command(name = "upstream_auth_server")]
struct Cli {
	/// Address to listen on.
	#[arg(long)]
	listen: SocketAddr,
	/// The JWK file tokens are verified with.
	#[arg(long)]
	key: PathBuf,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
	let cli = Cli::parse();
	let mut policy = Policy::default();
	policy.keys = Some(Keys::File(cli.key));
	let server = Server::new(policy)?;
	let listener = tokio::net::TcpListener::bind(cli.listen).await?;
	println!("upstream auth server listening on http://{}/", listener.local_addr()?);
	server.serve(listener).await?;
	Ok(())
}
