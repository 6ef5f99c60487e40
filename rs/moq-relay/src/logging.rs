//! The relay's log filter. Credentials never reach the logs: the relay's own types redact them
//! (`ConnectRequest`'s `Debug`), and third-party events that print whole requests are capped
//! here, whatever `RUST_LOG` asks for.

use tracing_subscriber::EnvFilter;

/// Targets whose DEBUG/TRACE events print a request with its URL query and headers
/// (`web_transport_quinn::connect`: "received CONNECT request"). They are held at INFO.
pub const REDACTED_TARGETS: &[&str] = &["web_transport_quinn::connect"];

/// The default when `RUST_LOG` is not set.
pub const DEFAULT: &str = "info,quinn=warn";

/// An [`EnvFilter`] from `directives` (the syntax of `RUST_LOG`) with the credential-carrying
/// targets capped at INFO.
pub fn filter(directives: &str) -> EnvFilter {
	let mut filter = EnvFilter::builder().parse_lossy(directives);
	for target in REDACTED_TARGETS {
		if let Ok(directive) = format!("{target}=info").parse() {
			filter = filter.add_directive(directive);
		}
	}
	filter
}

/// The filter from `RUST_LOG`, or [`DEFAULT`].
pub fn from_env() -> EnvFilter {
	filter(&std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT.to_string()))
}
