//! `moq-relay-bench`: drive a MoQ relay with one publisher and N subscribers, or soak it.

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
		// A soak that counted errors or saw the relay's memory grow: the report says which.
		std::process::exit(2);
	}
	Ok(())
}
