//! `moq-token`: generate keys, sign and verify MoQ tokens. The commands live in the library;
//! this binary parses arguments, runs them and reports an error in exactly one place.

use clap::Parser;
use std::{
	io::{self, Write},
	process::ExitCode,
};

fn main() -> ExitCode {
	let cli = match moq_token_cli::Cli::try_parse() {
		Ok(cli) => cli,
		Err(err) => {
			// Usage errors (exit 2), or --help / --version (exit 0).
			let _ = err.print();
			return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
		}
	};
	let result = moq_token_cli::run(
		cli,
		&mut io::stdin().lock(),
		&mut io::stdout().lock(),
		&mut io::stderr(),
	);
	match result {
		Ok(()) => ExitCode::SUCCESS,
		// `moq-token ... | head`: the reader is gone, nothing to report.
		Err(err) if moq_token_cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
		Err(err) => {
			let _ = writeln!(io::stderr(), "error: {}", moq_token_cli::error_line(&err));
			ExitCode::FAILURE
		}
	}
}
