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

/// A string the peer chose (a broadcast path, a track name), made safe for a log field: control
/// characters escaped (a `\n` cannot forge a log line, an escape sequence cannot reach a
/// terminal), and the value of anything that looks like a credential (`jwt=`, `token=`,
/// `auth_id=`, `pp=`, or a JWT's `eyJ` header) replaced by `<redacted>`.
pub struct Peer<'a>(pub &'a str);

/// Parameter names whose value is a credential wherever they appear in a peer's string.
const CREDENTIAL_KEYS: &[&str] = &["jwt=", "token=", "auth_id=", "pp=", "access_token=", "api_key="];

impl std::fmt::Display for Peer<'_> {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		let mut rest = self.0;
		while !rest.is_empty() {
			let lower = rest.to_ascii_lowercase();
			let key = CREDENTIAL_KEYS
				.iter()
				.filter_map(|k| lower.find(k).map(|at| at + k.len()))
				.min();
			let jwt = rest.find("eyJ");
			let (start, redact_from) = match (key, jwt) {
				(Some(k), Some(j)) if j < k => (j, j),
				(Some(k), _) => (k, k),
				(None, Some(j)) => (j, j),
				(None, None) => (rest.len(), rest.len()),
			};
			write!(f, "{}", rest[..start].escape_debug())?;
			if start == rest.len() {
				break;
			}
			f.write_str("<redacted>")?;
			// The value runs to the next separator of a path or a query.
			let end = rest[redact_from..]
				.find(['/', '&', ';', ' ', '"'])
				.map_or(rest.len(), |n| redact_from + n);
			rest = &rest[end..];
		}
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use super::Peer;

	#[test]
	fn peer_strings_cannot_forge_lines_or_leak_credentials() {
		assert_eq!(Peer("room/1").to_string(), "room/1");
		assert_eq!(
			Peer("a\nINFO session admitted root=admin").to_string(),
			"a\\nINFO session admitted root=admin"
		);
		assert_eq!(Peer("x\u{1b}[31m").to_string(), "x\\u{1b}[31m");
		assert_eq!(Peer("room/1?jwt=abc.def.ghi/x").to_string(), "room/1?jwt=<redacted>/x");
		assert_eq!(Peer("room;TOKEN=secret&a=b").to_string(), "room;TOKEN=<redacted>&a=b");
		assert_eq!(Peer("live/eyJhbGciOi.x.y").to_string(), "live/<redacted>");
		assert_eq!(
			Peer("p?auth_id=1&pp=2").to_string(),
			"p?auth_id=<redacted>&pp=<redacted>"
		);
	}
}
