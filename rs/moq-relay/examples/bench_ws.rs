//! The load tool (`moq-relay-bench`) built with the published client's WebSocket support (the
//! `websocket` feature of this crate's `moq-tokio` dev-dependency), so `--url ws://…` and `wss://…`
//! dial MoQ over WebSocket; every other option is the tool's. `docs/performance.md` ("Idle
//! WebSocket sessions") measures idle sessions with it:
//!
//! ```text
//! cargo run --release -p moq-relay --example bench_ws -- --url ws://127.0.0.1:4491/anon \
//!     --relay-pid $PID --idle 500 --idle-settle 5
//! ```

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	let args = moq_relay_bench::Args::parse();
	let json = args.json;
	let report = moq_relay_bench::run(args).await?;
	if json {
		println!("{}", serde_json::to_string(&report)?);
	} else {
		print!("{}", moq_relay_bench::render(&report));
	}
	if report.failed() {
		std::process::exit(2);
	}
	Ok(())
}
