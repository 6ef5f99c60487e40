//! `moq-relay-bench`: drive a MoQ relay with one publisher and N subscribers.

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
	Ok(())
}
