//! Layered configuration: built-in defaults < TOML (`--config FILE`) <
//! environment (`MOQ_*`) < flags.
//!
//! Every layer is the same [`Config`] of `Option`s; [`Config::merge`] lets a
//! higher layer override only what it sets, so a flag's default never
//! overwrites a TOML value. Each flag is its TOML table and key joined with `-`
//! (`[server] bind` → `--server-bind`, env `MOQ_SERVER_BIND`).

use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::{Auth, Public};
use crate::relay::RelayConfig;
use crate::session::Limits;
use crate::tls::{Certificate, TlsError};
use moq_token::{KeySource, KeyStore};

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
	/// The TOML file could not be read.
	#[error("cannot read {path}")]
	Read {
		/// The file.
		path: String,
		/// Why.
		source: std::io::Error,
	},
	/// The TOML is invalid or has an unknown key (the message names it).
	#[error("{path}")]
	Parse {
		/// The file.
		path: String,
		/// The parser's message, which names the offending key.
		source: Box<toml::de::Error>,
	},
	/// A value is invalid.
	#[error("{key}: {reason}")]
	Invalid {
		/// The key (`auth.public`, …).
		key: &'static str,
		/// What is wrong.
		reason: String,
	},
	/// The certificate could not be loaded or generated.
	#[error(transparent)]
	Tls(#[from] TlsError),
}

/// `[server]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
	/// UDP and TCP addresses (a string or a list).
	#[serde(default, deserialize_with = "one_or_many")]
	pub bind: Option<Vec<SocketAddr>>,
	/// Seconds sessions get to leave after GOAWAY on shutdown (default 5).
	pub drain: Option<u64>,
}

/// `[tls]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
	/// Host names for a generated self-signed certificate.
	#[serde(default, deserialize_with = "one_or_many")]
	pub generate: Option<Vec<String>>,
	/// PEM certificate chain file.
	pub cert: Option<PathBuf>,
	/// PEM private key file.
	pub key: Option<PathBuf>,
}

/// `[auth]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
	/// Anonymous access at and below this prefix (`""` = everything).
	pub public: Option<String>,
	/// More prefixes anyone may publish below (adds to `public`).
	pub public_publish: Option<Vec<String>>,
	/// More prefixes anyone may subscribe below (adds to `public`).
	pub public_subscribe: Option<Vec<String>>,
	/// Token key file: a JWK or a JWKS, JSON or base64url. Re-read when it changes.
	pub key: Option<PathBuf>,
	/// Directory of `{kid}.jwk` files; the token's `kid` picks the file.
	pub key_dir: Option<PathBuf>,
	/// JWKS file (`{"keys": [...]}`).
	pub jwks: Option<PathBuf>,
}

/// The whole configuration, every value optional so layers can be merged.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
	/// `[server]`.
	#[serde(default)]
	pub server: ServerConfig,
	/// `[tls]`.
	#[serde(default)]
	pub tls: TlsConfig,
	/// `[auth]`.
	#[serde(default)]
	pub auth: AuthConfig,
}

impl AuthConfig {
	/// The policy: public prefixes and the token key store (loaded now, so a bad key file is a
	/// start-up error that names it).
	pub fn resolve(&self) -> Result<Auth, ConfigError> {
		let path = |key: &'static str, value: &str| {
			moq_token::Path::new(value).map_err(|e| ConfigError::Invalid {
				key,
				reason: e.to_string(),
			})
		};
		let mut public = Public::default();
		if let Some(both) = &self.public {
			public = Public::both(path("auth.public", both)?);
		}
		for value in self.public_publish.iter().flatten() {
			public.publish.push(path("auth.public_publish", value)?);
		}
		for value in self.public_subscribe.iter().flatten() {
			public.subscribe.push(path("auth.public_subscribe", value)?);
		}
		let sources: Vec<KeySource> = [
			self.key.clone().map(KeySource::File),
			self.key_dir.clone().map(KeySource::Dir),
			self.jwks.clone().map(KeySource::Jwks),
		]
		.into_iter()
		.flatten()
		.collect();
		let keys = if sources.is_empty() {
			None
		} else {
			Some(KeyStore::new(sources).map_err(|e| ConfigError::Invalid {
				key: "auth.key",
				reason: e.to_string(),
			})?)
		};
		Ok(Auth::new(public, keys))
	}
}

fn one_or_many<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
	D: serde::Deserializer<'de>,
	T: Deserialize<'de>,
{
	#[derive(Deserialize)]
	#[serde(untagged)]
	enum OneOrMany<T> {
		One(T),
		Many(Vec<T>),
	}
	Ok(Some(match OneOrMany::deserialize(deserializer)? {
		OneOrMany::One(one) => vec![one],
		OneOrMany::Many(many) => many,
	}))
}

/// The flags (and their `MOQ_*` environment variables).
#[derive(Clone, Debug, Default, clap::Parser)]
#[command(
	name = "moq-relay",
	version,
	about = "A Media over QUIC relay (moq-lite-05 over QUIC and WebTransport)"
)]
pub struct Args {
	/// TOML configuration file.
	#[arg(long, env = "MOQ_CONFIG")]
	pub config: Option<PathBuf>,
	/// `[server] bind`: UDP+TCP address(es), comma-separated or repeated.
	#[arg(long = "server-bind", env = "MOQ_SERVER_BIND", value_delimiter = ',')]
	pub server_bind: Option<Vec<SocketAddr>>,
	/// `[server] drain`: seconds to wait for sessions after GOAWAY.
	#[arg(long = "server-drain", env = "MOQ_SERVER_DRAIN")]
	pub server_drain: Option<u64>,
	/// `[tls] generate`: host names for a self-signed certificate.
	#[arg(long = "tls-generate", env = "MOQ_TLS_GENERATE", value_delimiter = ',')]
	pub tls_generate: Option<Vec<String>>,
	/// `[tls] cert`: PEM certificate chain.
	#[arg(long = "tls-cert", alias = "ssl-cert", env = "MOQ_TLS_CERT")]
	pub tls_cert: Option<PathBuf>,
	/// `[tls] key`: PEM private key.
	#[arg(long = "tls-key", alias = "ssl-key", env = "MOQ_TLS_KEY")]
	pub tls_key: Option<PathBuf>,
	/// `[auth] public`: anonymous prefix (`""` = everything).
	#[arg(long = "auth-public", env = "MOQ_AUTH_PUBLIC")]
	pub auth_public: Option<String>,
	/// `[auth] public_publish`: more prefixes anyone may publish below.
	#[arg(long = "auth-public-publish", env = "MOQ_AUTH_PUBLIC_PUBLISH", value_delimiter = ',')]
	pub auth_public_publish: Option<Vec<String>>,
	/// `[auth] public_subscribe`: more prefixes anyone may subscribe below.
	#[arg(
		long = "auth-public-subscribe",
		env = "MOQ_AUTH_PUBLIC_SUBSCRIBE",
		value_delimiter = ','
	)]
	pub auth_public_subscribe: Option<Vec<String>>,
	/// `[auth] key`: token key file (JWK or JWKS), re-read when it changes.
	#[arg(long = "auth-key", env = "MOQ_AUTH_KEY")]
	pub auth_key: Option<PathBuf>,
	/// `[auth] key_dir`: directory of `{kid}.jwk` token keys.
	#[arg(long = "auth-key-dir", env = "MOQ_AUTH_KEY_DIR")]
	pub auth_key_dir: Option<PathBuf>,
	/// `[auth] jwks`: JWKS file of token keys.
	#[arg(long = "auth-jwks", env = "MOQ_AUTH_JWKS")]
	pub auth_jwks: Option<PathBuf>,
}

impl Args {
	/// The layer these flags (and environment variables) form.
	pub fn layer(&self) -> Config {
		Config {
			server: ServerConfig {
				bind: self.server_bind.clone(),
				drain: self.server_drain,
			},
			tls: TlsConfig {
				generate: self.tls_generate.clone(),
				cert: self.tls_cert.clone(),
				key: self.tls_key.clone(),
			},
			auth: AuthConfig {
				public: self.auth_public.clone(),
				public_publish: self.auth_public_publish.clone(),
				public_subscribe: self.auth_public_subscribe.clone(),
				key: self.auth_key.clone(),
				key_dir: self.auth_key_dir.clone(),
				jwks: self.auth_jwks.clone(),
			},
		}
	}

	/// Reads the TOML file (if any) and merges these flags over it.
	pub fn load(&self) -> Result<Config, ConfigError> {
		let file = match &self.config {
			Some(path) => Config::from_file(path)?,
			None => Config::default(),
		};
		Ok(file.merge(self.layer()))
	}
}

impl Config {
	/// Parses TOML text; unknown keys are an error naming the key.
	pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
		toml::from_str(text).map_err(|source| ConfigError::Parse {
			path: origin.to_string(),
			source: Box::new(source),
		})
	}

	/// Reads and parses a TOML file.
	pub fn from_file(path: &FsPath) -> Result<Self, ConfigError> {
		let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
			path: path.display().to_string(),
			source,
		})?;
		Self::from_toml(&text, &path.display().to_string())
	}

	/// `over` wins wherever it sets a value.
	pub fn merge(self, over: Config) -> Config {
		Config {
			server: ServerConfig {
				bind: over.server.bind.or(self.server.bind),
				drain: over.server.drain.or(self.server.drain),
			},
			tls: TlsConfig {
				generate: over.tls.generate.or(self.tls.generate),
				cert: over.tls.cert.or(self.tls.cert),
				key: over.tls.key.or(self.tls.key),
			},
			auth: AuthConfig {
				public: over.auth.public.or(self.auth.public),
				public_publish: over.auth.public_publish.or(self.auth.public_publish),
				public_subscribe: over.auth.public_subscribe.or(self.auth.public_subscribe),
				key: over.auth.key.or(self.auth.key),
				key_dir: over.auth.key_dir.or(self.auth.key_dir),
				jwks: over.auth.jwks.or(self.auth.jwks),
			},
		}
	}

	/// The built-in defaults. `dev` (no `--config` file) is the zero-setup
	/// development relay: localhost only, anonymous access under `anon`.
	pub fn defaults(dev: bool) -> Config {
		let bind = if dev {
			vec![
				"127.0.0.1:4443".parse().expect("literal"),
				"[::1]:4443".parse().expect("literal"),
			]
		} else {
			vec!["[::]:4443".parse().expect("literal")]
		};
		Config {
			server: ServerConfig {
				bind: Some(bind),
				drain: Some(5),
			},
			tls: TlsConfig::default(),
			auth: AuthConfig {
				public: dev.then(|| "anon".to_string()),
				..AuthConfig::default()
			},
		}
	}

	/// Turns a merged configuration into what the relay runs with.
	pub fn resolve(&self) -> Result<RelayConfig, ConfigError> {
		let certificate = match (&self.tls.cert, &self.tls.key) {
			(Some(cert), Some(key)) => Certificate::load(cert, key)?,
			(Some(_), None) | (None, Some(_)) => {
				return Err(ConfigError::Invalid {
					key: "tls.cert",
					reason: "tls.cert and tls.key go together".into(),
				});
			}
			(None, None) => {
				let hosts = self
					.tls
					.generate
					.clone()
					.unwrap_or_else(|| vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]);
				Certificate::generate(&hosts)?
			}
		};
		let auth = self.auth.resolve()?;
		Ok(RelayConfig {
			bind: self.server.bind.clone().unwrap_or_default(),
			certificate,
			auth,
			drain: Duration::from_secs(self.server.drain.unwrap_or(5)),
			limits: Limits::default(),
		})
	}
}

#[cfg(test)]
mod tests {
	use clap::{CommandFactory, Parser};

	use super::*;

	#[test]
	fn clap_command_is_consistent() {
		Args::command().debug_assert();
	}

	#[test]
	fn flags_override_toml_but_their_absence_does_not() {
		let toml = Config::from_toml(
			"[server]\nbind = \"127.0.0.1:5000\"\n[auth]\npublic = \"room\"\n",
			"test",
		)
		.unwrap();
		let args = Args::try_parse_from(["moq-relay", "--auth-public", "anon", "--ssl-cert", "c.pem"]).unwrap();
		let merged = Config::defaults(false).merge(toml).merge(args.layer());
		assert_eq!(merged.server.bind, Some(vec!["127.0.0.1:5000".parse().unwrap()]));
		assert_eq!(merged.auth.public.as_deref(), Some("anon"));
		assert_eq!(merged.tls.cert, Some(PathBuf::from("c.pem")));
		assert_eq!(merged.server.drain, Some(5));
	}

	#[test]
	fn unknown_keys_are_named() {
		let cause = |err: ConfigError| {
			std::error::Error::source(&err)
				.map(|s| s.to_string())
				.unwrap_or_default()
		};
		let err = Config::from_toml("[server]\nbnid = \"x\"\n", "relay.toml").unwrap_err();
		assert_eq!(err.to_string(), "relay.toml");
		assert!(cause(err).contains("unknown field `bnid`"));
		let err = Config::from_toml("[nope]\n", "relay.toml").unwrap_err();
		assert!(cause(err).contains("nope"));
	}

	#[test]
	fn lists_or_single_values() {
		let c = Config::from_toml(
			"[tls]\ngenerate = [\"a\", \"b\"]\n[server]\nbind = [\"[::1]:1\"]\n",
			"t",
		)
		.unwrap();
		assert_eq!(c.tls.generate, Some(vec!["a".into(), "b".into()]));
		assert_eq!(c.server.bind.map(|b| b.len()), Some(1));
		let args = Args::try_parse_from(["moq-relay", "--tls-generate", "x,y"]).unwrap();
		assert_eq!(args.tls_generate, Some(vec!["x".into(), "y".into()]));
	}

	#[test]
	fn dev_defaults_are_public_anon_on_localhost() {
		let dev = Config::defaults(true);
		assert_eq!(dev.auth.public.as_deref(), Some("anon"));
		assert!(dev.server.bind.unwrap().iter().all(|a| a.ip().is_loopback()));
		assert_eq!(Config::defaults(false).auth.public, None);
		let err = Config {
			tls: TlsConfig {
				cert: Some("x".into()),
				..TlsConfig::default()
			},
			..Config::default()
		}
		.resolve()
		.unwrap_err();
		assert!(err.to_string().contains("tls.key"), "{err}");
	}
}
