//! Where a link dials: the `cluster.connect` entries, parsed.

use std::fmt;

/// How a link learns to trust the peer's certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bootstrap {
	/// `http://host:port`: fetch `/certificate.sha256` over TCP and pin it (development).
	Fingerprint,
	/// `host:port`, `https://…`, `moqt://…`: CA roots (`cluster.tls_root`, else the system's).
	Roots,
}

/// A peer relay to dial.
#[derive(Clone, PartialEq, Eq)]
pub struct Peer {
	/// Host name or IP literal (without brackets).
	pub host: String,
	/// UDP port (and TCP port of the `http://` bootstrap).
	pub port: u16,
	/// The path the link connects at (`""` = the root); the cluster token is added as `?jwt=`.
	pub path: String,
	/// How the certificate is trusted.
	pub bootstrap: Bootstrap,
}

/// Why a `cluster.connect` entry is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cluster.connect {entry:?}: {reason}")]
pub struct PeerError {
	entry: String,
	reason: &'static str,
}

impl Peer {
	/// Parses `host:port`, `[v6]:port`, or a `http`/`https`/`moqt` URL with a port. A query is
	/// refused: the token comes from `cluster.token`, never from the (logged) address.
	pub fn parse(entry: &str) -> Result<Self, PeerError> {
		let error = |reason| PeerError {
			entry: redact(entry),
			reason,
		};
		let (bootstrap, rest) = match entry.split_once("://") {
			Some(("http", rest)) => (Bootstrap::Fingerprint, rest),
			Some(("https" | "moqt", rest)) => (Bootstrap::Roots, rest),
			Some(_) => return Err(error("the scheme must be http, https or moqt")),
			None => (Bootstrap::Roots, entry),
		};
		if rest.contains('?') || rest.contains('#') {
			return Err(error("no query or fragment: put the token in cluster.token"));
		}
		let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
		let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
			let (host, port) = v6.split_once("]:").ok_or_else(|| error("expected [address]:port"))?;
			(host, port)
		} else {
			authority.rsplit_once(':').ok_or_else(|| error("expected host:port"))?
		};
		if host.is_empty() {
			return Err(error("empty host"));
		}
		let port = port
			.parse()
			.map_err(|_| error("the port must be a number below 65536"))?;
		Ok(Self {
			host: host.to_string(),
			port,
			path: path.trim_matches('/').to_string(),
			bootstrap,
		})
	}
}

/// Keeps a mistyped entry's credentials out of error messages.
fn redact(entry: &str) -> String {
	match entry.split_once('?') {
		Some((before, _)) => format!("{before}?…"),
		None => entry.to_string(),
	}
}

impl fmt::Debug for Peer {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		fmt::Display::fmt(self, f)
	}
}

impl fmt::Display for Peer {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		let scheme = match self.bootstrap {
			Bootstrap::Fingerprint => "http",
			Bootstrap::Roots => "https",
		};
		if self.host.contains(':') {
			write!(f, "{scheme}://[{}]:{}/{}", self.host, self.port, self.path)
		} else {
			write!(f, "{scheme}://{}:{}/{}", self.host, self.port, self.path)
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn parses_the_seed_form_and_urls() {
		let seed = Peer::parse("root-relay:4443").unwrap();
		assert_eq!(
			(seed.host.as_str(), seed.port, seed.bootstrap),
			("root-relay", 4443, Bootstrap::Roots)
		);
		let dev = Peer::parse("http://127.0.0.1:4443").unwrap();
		assert_eq!(
			(dev.host.as_str(), dev.bootstrap),
			("127.0.0.1", Bootstrap::Fingerprint)
		);
		let v6 = Peer::parse("https://[::1]:4443/region/").unwrap();
		assert_eq!((v6.host.as_str(), v6.port, v6.path.as_str()), ("::1", 4443, "region"));
		assert_eq!(v6.to_string(), "https://[::1]:4443/region");
	}

	#[test]
	fn refuses_bad_entries_without_echoing_a_token() {
		for bad in ["root-relay", "ftp://a:1", "a:99999", ":4443", "[::1]4443"] {
			assert!(Peer::parse(bad).is_err(), "{bad}");
		}
		let err = Peer::parse("https://a:1/?jwt=secret.token.value").unwrap_err();
		assert!(!err.to_string().contains("secret"), "{err}");
	}
}
