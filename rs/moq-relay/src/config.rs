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

use serde::{Deserialize, Serialize};

use crate::auth::{
	ApiKeySettings, ApiKeys, Auth, AuthService, AuthUrl, AuthUrlSettings, BetterAuth, ClientSecrets, DEFAULT_ISSUER,
	GrantTemplate, Identity, IdentityKeys, IdentitySettings, JwksUrl, JwksUrlSettings, PrivacyPass,
	PrivacyPassSettings, Public, Revocations, ServiceSettings, Shape, SigningKey,
};
use crate::cluster::{ClusterSettings, Peer};
use crate::limits::Limits;
use crate::relay::RelayConfig;
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
	/// The TOML is invalid or a value is of the wrong form: one line naming the file, the line and
	/// what is wrong (the parser's message, or the key's own, which names the accepted forms).
	#[error("{path}{}: {message}", line.map(|line| format!(":{line}")).unwrap_or_default())]
	Parse {
		/// The file.
		path: String,
		/// The line of the offending value (1-based), when the parser knows it.
		line: Option<usize>,
		/// What is wrong.
		message: String,
	},
	/// A key no table has; the message names the nearest valid key.
	#[error("{path}:{line}: unknown key `{key}`{}: {hint}", table.as_ref().map(|t| format!(" in [{t}]")).unwrap_or_default())]
	UnknownKey {
		/// The file.
		path: String,
		/// The line of the key (1-based).
		line: usize,
		/// The table the key is in (`None` at the top level, where only tables belong).
		table: Option<String>,
		/// The unknown key.
		key: String,
		/// "did you mean `…`?" or the valid keys.
		hint: String,
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
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::Args)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Server ([server])")]
pub struct ServerConfig {
	/// `[server] bind`: UDP (QUIC, WebTransport) and TCP (HTTP, HTTPS) address(es); a string or a
	/// list in TOML, comma-separated or repeated as a flag.
	#[arg(
		value_name = "ADDR",
		id = "server-bind",
		long = "server-bind",
		env = "MOQ_SERVER_BIND",
		value_delimiter = ',',
		value_parser = parse_bind
	)]
	#[serde(default, deserialize_with = "bind_addresses")]
	pub bind: Option<Vec<SocketAddr>>,
	/// `[server] drain`: how long sessions get to leave after GOAWAY on shutdown (default 5s; a bare
	/// number is seconds).
	#[arg(
		value_name = "DURATION",
		id = "server-drain",
		long = "server-drain",
		env = "MOQ_SERVER_DRAIN",
		value_parser = parse_duration
	)]
	#[serde(default, with = "seconds_or_humantime")]
	pub drain: Option<Duration>,
	/// `[server] port`: the port of every `bind` address (moshi-server's `--port`): `--port 443`
	/// serves `[::]:443` (with `--config`) or `127.0.0.1:443` and `[::1]:443` (the dev default).
	#[arg(
		value_name = "PORT",
		id = "server-port",
		long = "server-port",
		alias = "port",
		env = "MOQ_SERVER_PORT"
	)]
	#[serde(default)]
	pub port: Option<u16>,
}

/// `[tls]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::Args)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "TLS ([tls])")]
pub struct TlsConfig {
	/// `[tls] generate`: host names for a generated self-signed certificate.
	#[arg(
		value_name = "HOST",
		id = "tls-generate",
		long = "tls-generate",
		env = "MOQ_TLS_GENERATE",
		value_delimiter = ','
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub generate: Option<Vec<String>>,
	/// `[tls] cert`: PEM certificate chain file.
	#[arg(
		value_name = "FILE",
		id = "tls-cert",
		long = "tls-cert",
		alias = "ssl-cert",
		env = "MOQ_TLS_CERT"
	)]
	pub cert: Option<PathBuf>,
	/// `[tls] key`: PEM private key file.
	#[arg(
		value_name = "FILE",
		id = "tls-key",
		long = "tls-key",
		alias = "ssl-key",
		env = "MOQ_TLS_KEY"
	)]
	pub key: Option<PathBuf>,
	/// `[tls] domain`: obtain the certificate for these names from an ACME CA (Let's Encrypt by
	/// default), validated with TLS-ALPN-01 on the relay's TCP port; repeatable (`docs/tls.md`).
	#[arg(
		value_name = "DOMAIN",
		id = "tls-domain",
		long = "tls-domain",
		alias = "domain",
		env = "MOQ_TLS_DOMAIN",
		value_delimiter = ','
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub domain: Option<Vec<String>>,
	/// `[tls] email`: the ACME account's contact, for the CA's expiry notices.
	#[arg(
		value_name = "EMAIL",
		id = "tls-email",
		long = "tls-email",
		alias = "email",
		env = "MOQ_TLS_EMAIL"
	)]
	pub email: Option<String>,
	/// `[tls] acme_cache`: directory of the ACME account key and certificates (default `letsencrypt`).
	#[arg(
		value_name = "DIR",
		id = "tls-acme-cache",
		long = "tls-acme-cache",
		alias = "acme-cache",
		env = "MOQ_TLS_ACME_CACHE"
	)]
	pub acme_cache: Option<PathBuf>,
	/// `[tls] acme_staging`: use Let's Encrypt's staging CA (untrusted certificates, higher limits).
	#[arg(
		value_name = "BOOL",
		id = "tls-acme-staging",
		long = "tls-acme-staging",
		alias = "acme-staging",
		env = "MOQ_TLS_ACME_STAGING",
		num_args = 0..=1,
		require_equals = true,
		default_missing_value = "true"
	)]
	pub acme_staging: Option<bool>,
	/// `[tls] acme_directory`: the ACME directory URL of another CA (default Let's Encrypt's).
	#[arg(
		value_name = "URL",
		id = "tls-acme-directory",
		long = "tls-acme-directory",
		alias = "acme-directory",
		env = "MOQ_TLS_ACME_DIRECTORY"
	)]
	pub acme_directory: Option<String>,
	/// `[tls] acme_ca_root`: PEM file of CA roots trusted for the ACME directory, besides the system's.
	#[arg(
		value_name = "FILE",
		id = "tls-acme-ca-root",
		long = "tls-acme-ca-root",
		alias = "acme-ca-root",
		env = "MOQ_TLS_ACME_CA_ROOT"
	)]
	pub acme_ca_root: Option<PathBuf>,
}

impl TlsConfig {
	/// Where the certificate comes from: ACME when `domain` is set, else the `cert`/`key` files,
	/// else a generated certificate for `generate` (or localhost).
	pub fn source(&self) -> Result<crate::tls::Source, ConfigError> {
		use crate::tls::{Source, acme};
		let invalid = |key: &'static str, reason: &str| ConfigError::Invalid {
			key,
			reason: reason.into(),
		};
		let acme_keys = self.email.is_some()
			|| self.acme_cache.is_some()
			|| self.acme_staging.is_some()
			|| self.acme_directory.is_some()
			|| self.acme_ca_root.is_some();
		let Some(domains) = self.domain.as_ref().filter(|d| !d.is_empty()) else {
			if acme_keys {
				return Err(invalid(
					"tls.domain",
					"the ACME settings (email, acme_*) need tls.domain (--domain NAME)",
				));
			}
			return Ok(Source::Static(match (&self.cert, &self.key) {
				(Some(cert), Some(key)) => Certificate::load(cert, key)?,
				(Some(_), None) | (None, Some(_)) => {
					return Err(invalid("tls.cert", "tls.cert and tls.key go together"));
				}
				(None, None) => {
					let hosts = self
						.generate
						.clone()
						.unwrap_or_else(|| vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]);
					Certificate::generate(&hosts)?
				}
			}));
		};
		if self.cert.is_some() || self.key.is_some() || self.generate.is_some() {
			return Err(invalid(
				"tls.domain",
				"tls.domain (ACME) replaces tls.cert/tls.key and tls.generate: set one of them",
			));
		}
		for name in domains {
			let valid = !name.is_empty()
				&& name.parse::<std::net::IpAddr>().is_err()
				&& name
					.split('.')
					.all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
			if !valid {
				return Err(ConfigError::Invalid {
					key: "tls.domain",
					reason: format!(
						"`{name}` is not a DNS name this relay can get a certificate for (TLS-ALPN-01 validates neither IP addresses nor wildcards)"
					),
				});
			}
		}
		let directory = match (&self.acme_directory, self.acme_staging) {
			(Some(_), Some(true)) => {
				return Err(invalid(
					"tls.acme_directory",
					"tls.acme_directory and tls.acme_staging choose the CA both: set one",
				));
			}
			(Some(url), _) => url.clone(),
			(None, Some(true)) => acme::LETS_ENCRYPT_STAGING.into(),
			(None, _) => acme::LETS_ENCRYPT.into(),
		};
		let url = reqwest::Url::parse(&directory).map_err(|err| ConfigError::Invalid {
			key: "tls.acme_directory",
			reason: format!("`{directory}` is not a URL: {err}"),
		})?;
		let host = url
			.host_str()
			.unwrap_or_default()
			.trim_start_matches('[')
			.trim_end_matches(']');
		let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
		if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
			return Err(invalid(
				"tls.acme_directory",
				"an ACME directory is an https:// URL (http:// only on the loopback, for a local test CA)",
			));
		}
		let settings = acme::AcmeSettings {
			domains: domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
			email: self.email.clone(),
			cache: self
				.acme_cache
				.clone()
				.unwrap_or_else(|| PathBuf::from(acme::DEFAULT_CACHE)),
			directory,
			ca_root: self.acme_ca_root.clone(),
		};
		settings.check().map_err(TlsError::from)?;
		Ok(Source::Acme(std::sync::Arc::new(settings)))
	}
}

/// `[auth]`. `Debug` shows it as `--check` prints it: keys and secrets `<redacted>`, URLs without
/// their passwords and queries.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq, clap::Args)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Tokens ([auth])")]
pub struct AuthConfig {
	/// `[auth] public`: anonymous access at and below this prefix (`""` = everything), or to what
	/// this pattern matches when it has a wildcard (upstream's `anon/**`, `*/screen`).
	#[arg(
		value_name = "PREFIX",
		id = "auth-public",
		long = "auth-public",
		env = "MOQ_AUTH_PUBLIC",
		value_delimiter = ','
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub public: Option<Vec<String>>,
	/// `[auth] public_publish`: more prefixes (or patterns) anyone may publish below (adds to `public`).
	#[arg(
		value_name = "PREFIX",
		id = "auth-public-publish",
		long = "auth-public-publish",
		env = "MOQ_AUTH_PUBLIC_PUBLISH",
		value_delimiter = ','
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub public_publish: Option<Vec<String>>,
	/// `[auth] public_subscribe`: more prefixes (or patterns) anyone may subscribe below (adds to `public`).
	#[arg(
		value_name = "PREFIX",
		id = "auth-public-subscribe",
		long = "auth-public-subscribe",
		env = "MOQ_AUTH_PUBLIC_SUBSCRIBE",
		value_delimiter = ','
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub public_subscribe: Option<Vec<String>>,
	/// `[auth] key`: token key file, a JWK or a JWKS, JSON or base64url; re-read when it changes.
	#[arg(value_name = "FILE", id = "auth-key", long = "auth-key", env = "MOQ_AUTH_KEY")]
	pub key: Option<PathBuf>,
	/// `[auth] key_dir`: directory of `{kid}.jwk` files; the token's `kid` picks the file.
	#[arg(
		value_name = "DIR",
		id = "auth-key-dir",
		long = "auth-key-dir",
		env = "MOQ_AUTH_KEY_DIR"
	)]
	pub key_dir: Option<PathBuf>,
	/// `[auth] jwks`: JWKS file (`{"keys": [...]}`).
	#[arg(value_name = "FILE", id = "auth-jwks", long = "auth-jwks", env = "MOQ_AUTH_JWKS")]
	pub jwks: Option<PathBuf>,
	/// `[auth] revoked`: revocation list, one `jti <token id>` or `sub <subject>` a line; re-read
	/// while the relay runs, and the live sessions it lists are closed.
	#[arg(
		value_name = "FILE",
		id = "auth-revoked",
		long = "auth-revoked",
		env = "MOQ_AUTH_REVOKED"
	)]
	pub revoked: Option<PathBuf>,
	/// `[auth] required`: `true`: at least one credential method must be configured (a start-up
	/// error otherwise); `false`: sessions without a credential may do everything (fully open when
	/// no method is configured). Also `AUTH_REQUIRED`.
	#[arg(
		value_name = "BOOL",
		id = "auth-required",
		long = "auth-required",
		env = "MOQ_AUTH_REQUIRED",
		num_args = 0..=1,
		require_equals = true,
		default_missing_value = "true"
	)]
	pub required: Option<bool>,
	/// `[auth] api_keys`: API keys granting everything (comma-separated as a flag). Also
	/// `MOQ_API_KEYS`, `MOSHI_API_KEY` (comma-separated) and `AUTH_API_SECRET` (one key); in TOML also
	/// `authorized_ids`, here or at the top level.
	#[arg(
		value_name = "KEY",
		id = "auth-api-keys",
		long = "auth-api-keys",
		env = "MOQ_AUTH_API_KEYS",
		value_delimiter = ',',
		hide_env_values = true
	)]
	#[serde(default, alias = "authorized_ids", deserialize_with = "one_or_many")]
	pub api_keys: Option<Vec<SecretString>>,
	/// `[[auth.api_key]]`: a named API key with a grant, `{name = "ops", key = "…", root = "",
	/// pub = [""], sub = [""]}` (an absent list is everything); as a flag, that inline table, repeatable.
	#[arg(
		value_name = "TABLE",
		id = "auth-api-key",
		long = "auth-api-key",
		env = "MOQ_AUTH_API_KEY",
		value_parser = ApiKeyParser,
		hide_env_values = true
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub api_key: Option<Vec<ApiKeyEntry>>,
	/// `[auth] service_url`: the delegated auth service credentials no local verifier recognizes
	/// are POSTed to. Also `AUTH_SERVICE_URL`.
	#[arg(
		value_name = "URL",
		id = "auth-service-url",
		long = "auth-service-url",
		env = "MOQ_AUTH_SERVICE_URL",
		hide_env_values = true
	)]
	pub service_url: Option<String>,
	/// `[auth] url`: upstream moq-relay's auth server (`--auth-url`): tokens no local verifier
	/// recognized are decided by its `connect` answer and re-checked as it asks. `http://` to a
	/// loopback host only, `https://`, or `unix:///path`.
	#[arg(
		value_name = "URL",
		id = "auth-url",
		long = "auth-url",
		env = "MOQ_AUTH_URL",
		hide_env_values = true
	)]
	pub url: Option<String>,
	/// `[auth] url_tls_root`: PEM CA certificate(s) trusted for an `https://` `url`, instead of the
	/// system's roots (upstream: `--connect-tls-root`).
	#[arg(
		value_name = "FILE",
		id = "auth-url-tls-root",
		long = "auth-url-tls-root",
		env = "MOQ_AUTH_URL_TLS_ROOT"
	)]
	pub url_tls_root: Option<PathBuf>,
	/// `[auth] url_tls_cert`: PEM certificate chain this relay presents to an `https://` `url` that
	/// asks for a client certificate (mTLS; with `url_tls_key`; upstream: `--connect-tls-cert`).
	#[arg(
		value_name = "FILE",
		id = "auth-url-tls-cert",
		long = "auth-url-tls-cert",
		env = "MOQ_AUTH_URL_TLS_CERT"
	)]
	pub url_tls_cert: Option<PathBuf>,
	/// `[auth] url_tls_key`: the PEM private key of `url_tls_cert` (upstream: `--connect-tls-key`).
	#[arg(
		value_name = "FILE",
		id = "auth-url-tls-key",
		long = "auth-url-tls-key",
		env = "MOQ_AUTH_URL_TLS_KEY"
	)]
	pub url_tls_key: Option<PathBuf>,
	/// `[auth] node`: this relay's name in the requests to `url` (default: `$HOSTNAME`, else
	/// `moq-relay`).
	#[arg(value_name = "NAME", id = "auth-node", long = "auth-node", env = "MOQ_AUTH_NODE")]
	pub node: Option<String>,
	/// `[auth] operator`: the operator endpoint's address (`GET /sessions`, `POST
	/// /sessions/revalidate`, `POST /sessions/{id}/close`), plain HTTP without authentication: keep
	/// it on a loopback address. Off when unset.
	#[arg(
		value_name = "ADDR",
		id = "auth-operator",
		long = "auth-operator",
		env = "MOQ_AUTH_OPERATOR"
	)]
	pub operator: Option<SocketAddr>,
	/// `[auth] signing_key`: PEM private key (RSA, ECDSA P-256/P-384 or Ed25519) signing the requests
	/// to the auth service; its public half is served at `/.well-known/jwks.json`. Also
	/// `AUTH_SIGNING_KEY_PATH`.
	#[arg(
		value_name = "FILE",
		id = "auth-signing-key",
		long = "auth-signing-key",
		env = "MOQ_AUTH_SIGNING_KEY"
	)]
	pub signing_key: Option<PathBuf>,
	/// `[auth] service_timeout`: how long a call to the auth service may take (default 5s; a bare
	/// number is seconds). Also `AUTH_TIMEOUT_SECONDS`.
	#[arg(
		value_name = "DURATION",
		id = "auth-service-timeout",
		long = "auth-service-timeout",
		env = "MOQ_AUTH_SERVICE_TIMEOUT",
		value_parser = parse_duration
	)]
	#[serde(default, with = "seconds_or_humantime")]
	pub service_timeout: Option<Duration>,
	/// `[auth] service_subject`: the `sub` of the relay's requests to the auth service (default
	/// `moq-relay`; `sayna-auth` for a service written for Sayna).
	#[arg(
		value_name = "NAME",
		id = "auth-service-subject",
		long = "auth-service-subject",
		env = "MOQ_AUTH_SERVICE_SUBJECT"
	)]
	pub service_subject: Option<String>,
	/// `[auth] service_concurrency`: calls to the auth service in flight at once (default 32); a call
	/// that finds none free for the whole timeout is `auth_service_unavailable`.
	#[arg(
		value_name = "N",
		id = "auth-service-concurrency",
		long = "auth-service-concurrency",
		env = "MOQ_AUTH_SERVICE_CONCURRENCY"
	)]
	pub service_concurrency: Option<usize>,
	/// `[auth] service_cache`: allow answers remembered at most (default 10000; 0 = none).
	#[arg(
		value_name = "N",
		id = "auth-service-cache",
		long = "auth-service-cache",
		env = "MOQ_AUTH_SERVICE_CACHE"
	)]
	pub service_cache: Option<usize>,
	/// `[auth] client_secret_key`: private JWK (with a `kid`) that signs the ephemeral client secrets
	/// of `POST /v1/client_secrets`; without it that endpoint answers 404. Its tokens are verified
	/// like any MoQ token's (the key joins the token keys unless they already hold it).
	#[arg(
		value_name = "FILE",
		id = "auth-client-secret-key",
		long = "auth-client-secret-key",
		env = "MOQ_AUTH_CLIENT_SECRET_KEY"
	)]
	pub client_secret_key: Option<PathBuf>,
	/// `[auth] client_secret_origins`: browser origins (`https://app.example`, or `*`) whose CORS
	/// requests to `/v1/client_secrets` are answered; a request from any other origin is refused.
	#[arg(
		value_name = "ORIGIN",
		id = "auth-client-secret-origins",
		long = "auth-client-secret-origins",
		env = "MOQ_AUTH_CLIENT_SECRET_ORIGINS",
		value_delimiter = ','
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub client_secret_origins: Option<Vec<String>>,
	/// `[auth] jwks_url`: JWKS URLs (`https://`) whose keys verify MoQ tokens, refreshed while the relay
	/// runs (comma-separated as a flag).
	#[arg(
		value_name = "URL",
		id = "auth-jwks-url",
		long = "auth-jwks-url",
		env = "MOQ_AUTH_JWKS_URL",
		value_delimiter = ','
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub jwks_url: Option<Vec<String>>,
	/// `[auth] jwks_refresh_min`: the least time between two fetches of a JWKS URL (default 30s): the
	/// floor of its `Cache-Control: max-age`, the wait after a failed fetch, and the rate limit of
	/// refetches for unknown `kid`s.
	#[arg(
		value_name = "DURATION",
		id = "auth-jwks-refresh-min",
		long = "auth-jwks-refresh-min",
		env = "MOQ_AUTH_JWKS_REFRESH_MIN",
		value_parser = parse_duration
	)]
	#[serde(default, with = "seconds_or_humantime")]
	pub jwks_refresh_min: Option<Duration>,
	/// `[auth] jwks_refresh_max`: the longest a fetched JWKS is used without fetching it again
	/// (default 5m): a removed key's sessions end within this.
	#[arg(
		value_name = "DURATION",
		id = "auth-jwks-refresh-max",
		long = "auth-jwks-refresh-max",
		env = "MOQ_AUTH_JWKS_REFRESH_MAX",
		value_parser = parse_duration
	)]
	#[serde(default, with = "seconds_or_humantime")]
	pub jwks_refresh_max: Option<Duration>,
	/// `[auth] jwks_timeout`: the longest one fetch of a JWKS URL may take (default 5s); a token of
	/// an unknown `kid` waits at most this.
	#[arg(
		value_name = "DURATION",
		id = "auth-jwks-timeout",
		long = "auth-jwks-timeout",
		env = "MOQ_AUTH_JWKS_TIMEOUT",
		value_parser = parse_duration
	)]
	#[serde(default, with = "seconds_or_humantime")]
	pub jwks_timeout: Option<Duration>,
	/// `[[auth.identity]]`: issuers of identity tokens (an OIDC provider, a Better Auth app), each
	/// with its keys (`jwks_url`, `discovery_url` or `secret`), `issuer`, `audience`, `algorithms`,
	/// `leeway` and a grant template (`root = "users/{sub}"`); as a flag, the inline table.
	#[arg(
		value_name = "TABLE",
		id = "auth-identity",
		long = "auth-identity",
		env = "MOQ_AUTH_IDENTITY",
		value_parser = IdentityParser,
		hide_env_values = true
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub identity: Option<Vec<IdentityEntry>>,
}

/// A secret from the configuration (an API key): `Debug` never shows it, `--check` prints
/// `<redacted>`.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
	/// The secret.
	pub fn expose(&self) -> &str {
		&self.0
	}
}

impl From<&str> for SecretString {
	fn from(value: &str) -> Self {
		Self(value.to_string())
	}
}

impl std::fmt::Debug for SecretString {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.write_str("<redacted>")
	}
}

/// `[[auth.api_key]]`: a named API key and its grant.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
	/// The key's name in logs and metrics.
	pub name: String,
	/// The key.
	pub key: SecretString,
	/// Where the grant applies (default `""`, everything).
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub root: Option<String>,
	/// Publish prefixes, relative to `root` (default: everything; `[]`: nothing).
	#[serde(
		default,
		rename = "pub",
		deserialize_with = "one_or_many",
		skip_serializing_if = "Option::is_none"
	)]
	pub publish: Option<Vec<String>>,
	/// Subscribe prefixes, relative to `root` (default: everything; `[]`: nothing).
	#[serde(
		default,
		rename = "sub",
		deserialize_with = "one_or_many",
		skip_serializing_if = "Option::is_none"
	)]
	pub subscribe: Option<Vec<String>>,
}

/// `--auth-api-key '{name = "ops", key = "…"}'`: the entry as an inline TOML table. Its error never
/// quotes the value (it holds a key), where clap's usual one would.
#[derive(Clone, Debug)]
struct ApiKeyParser;

impl clap::builder::TypedValueParser for ApiKeyParser {
	type Value = ApiKeyEntry;

	fn parse_ref(
		&self,
		cmd: &clap::Command,
		_arg: Option<&clap::Arg>,
		value: &std::ffi::OsStr,
	) -> Result<ApiKeyEntry, clap::Error> {
		value
			.to_str()
			.ok_or_else(|| "not UTF-8".to_string())
			.and_then(parse_api_key)
			.map_err(|why| {
				clap::Error::raw(
					clap::error::ErrorKind::ValueValidation,
					format!("invalid value for --auth-api-key (MOQ_AUTH_API_KEY): {why}\n"),
				)
				.with_cmd(cmd)
			})
	}
}

/// The entry of an inline TOML table.
fn parse_api_key(value: &str) -> Result<ApiKeyEntry, String> {
	#[derive(Deserialize)]
	struct One {
		entry: ApiKeyEntry,
	}
	toml::from_str::<One>(&format!("entry = {value}"))
		.map(|one| one.entry)
		.map_err(|_| {
			"expected an inline TOML table such as {name = \"ops\", key = \"...\", sub = [\"live\"]} \
			 (keys: name, key, root, pub, sub)"
				.to_string()
		})
}

/// `[[auth.identity]]`: an issuer of identity tokens (`docs/auth.md`, "OIDC / JWKS", "Better Auth").
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdentityEntry {
	/// The issuer's name in logs and subjects (`identity:<name>:<sub>`).
	pub name: String,
	/// `"better-auth"`: a Better Auth app at `base_url` (its JWT plugin's tokens, and its cookie cache
	/// with the app's secret).
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub preset: Option<String>,
	/// The Better Auth app's `baseURL`.
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub base_url: Option<String>,
	/// The issuer's JWKS URL.
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub jwks_url: Option<String>,
	/// The issuer's OIDC discovery document (`…/.well-known/openid-configuration`).
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub discovery_url: Option<String>,
	/// A shared secret (HMAC); for the Better Auth preset, the app's secret (default: the
	/// `BETTER_AUTH_SECRET` environment variable).
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub secret: Option<SecretString>,
	/// The `iss` tokens must carry.
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub issuer: Option<String>,
	/// The `aud` tokens must carry (one of these).
	#[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Option::is_none")]
	pub audience: Option<Vec<String>>,
	/// The algorithms tokens may use (default: HS256 with a secret, else RS256, ES256 and EdDSA).
	#[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Option::is_none")]
	pub algorithms: Option<Vec<String>>,
	/// Seconds of clock skew tolerated on `exp` and `nbf` (default 60).
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub leeway: Option<u64>,
	/// The grant's root, a template over the claims (`users/{sub}`).
	#[serde(default, skip_serializing_if = "Option::is_none")]
	pub root: Option<String>,
	/// Publish patterns relative to `root`, templates too (`["{sub}/**"]`).
	#[serde(
		default,
		alias = "pub",
		deserialize_with = "one_or_many",
		skip_serializing_if = "Option::is_none"
	)]
	pub publish: Option<Vec<String>>,
	/// Subscribe patterns relative to `root`.
	#[serde(
		default,
		alias = "sub",
		deserialize_with = "one_or_many",
		skip_serializing_if = "Option::is_none"
	)]
	pub subscribe: Option<Vec<String>>,
}

/// `--auth-identity '{name = "app", preset = "better-auth", base_url = "…"}'`: the entry as an inline
/// TOML table. Its error never quotes the value (it may hold a secret).
#[derive(Clone, Debug)]
struct IdentityParser;

impl clap::builder::TypedValueParser for IdentityParser {
	type Value = IdentityEntry;

	fn parse_ref(
		&self,
		cmd: &clap::Command,
		_arg: Option<&clap::Arg>,
		value: &std::ffi::OsStr,
	) -> Result<IdentityEntry, clap::Error> {
		#[derive(Deserialize)]
		struct One {
			entry: IdentityEntry,
		}
		value
			.to_str()
			.and_then(|value| toml::from_str::<One>(&format!("entry = {value}")).ok())
			.map(|one| one.entry)
			.ok_or_else(|| {
				clap::Error::raw(
					clap::error::ErrorKind::ValueValidation,
					"invalid value for --auth-identity (MOQ_AUTH_IDENTITY): expected an inline TOML table such as \
					 {name = \"app\", preset = \"better-auth\", base_url = \"https://app.example\"}\n",
				)
				.with_cmd(cmd)
			})
	}
}

/// The environment variables of the servers this relay replaces (`docs/auth.md`, "Coming from
/// moshi-server / Sayna"), read under their own names: a layer above the TOML file and below
/// `MOQ_*` variables and flags.
pub const COMPAT_ENV: &[&str] = &[
	"MOQ_API_KEYS",
	"MOSHI_API_KEY",
	"AUTH_API_SECRET",
	"AUTH_REQUIRED",
	"AUTH_SERVICE_URL",
	"AUTH_SIGNING_KEY_PATH",
	"AUTH_TIMEOUT_SECONDS",
];

/// `[privacypass]` (RFC 9577 and RFC 9578 publicly verifiable tokens; `docs/privacy-pass.md`).
/// The flags also answer to the short `--pp-*` spellings. `Debug` shows the URLs without their
/// passwords and queries.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq, clap::Args)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Privacy Pass ([privacypass])")]
pub struct PrivacyPassConfig {
	/// `[privacypass] enabled`: accept Privacy Pass tokens and challenge sessions without a credential.
	#[arg(
		value_name = "BOOL", id = "privacypass-enabled",
		long = "privacypass-enabled",
		alias = "pp-enabled",
		env = "MOQ_PRIVACYPASS_ENABLED",
		num_args = 0..=1,
		require_equals = true,
		default_missing_value = "true"
	)]
	pub enabled: Option<bool>,
	/// `[privacypass] issuer`: issuer name in challenges (default `demo-pat.issuer.cloudflare.com`).
	#[arg(
		value_name = "VALUE",
		id = "privacypass-issuer",
		long = "privacypass-issuer",
		alias = "pp-issuer",
		env = "MOQ_PRIVACYPASS_ISSUER"
	)]
	pub issuer: Option<String>,
	/// `[privacypass] issuer_key`: issuer public key file(s): SPKI (RSASSA-PSS OID) as base64, PEM or
	/// DER, used byte-exact; repeatable.
	#[arg(
		value_name = "FILE",
		id = "privacypass-issuer-key",
		long = "privacypass-issuer-key",
		alias = "pp-issuer-key",
		env = "MOQ_PRIVACYPASS_ISSUER_KEY"
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub issuer_key: Option<Vec<PathBuf>>,
	/// `[privacypass] directory`: issuer directory URL; its type-2 keys are used too and refreshed
	/// per `Cache-Control`. Default: `https://<issuer>/.well-known/private-token-issuer-directory`
	/// when no `issuer_key` is given.
	#[arg(
		value_name = "URL",
		id = "privacypass-directory",
		long = "privacypass-directory",
		alias = "pp-directory",
		env = "MOQ_PRIVACYPASS_DIRECTORY"
	)]
	pub directory: Option<String>,
	/// `[privacypass] redis`: Redis URL of the nonce store shared by relays that share a challenge
	/// configuration (default: in memory).
	#[arg(
		value_name = "URL",
		id = "privacypass-redis",
		long = "privacypass-redis",
		alias = "pp-redis",
		env = "MOQ_PRIVACYPASS_REDIS"
	)]
	pub redis: Option<String>,
	/// `[privacypass] redis_tls_root`: PEM CA certificate(s) trusted for a `rediss://` `redis`,
	/// instead of the system's roots (which the rest of the relay keeps trusting).
	#[arg(
		value_name = "FILE",
		id = "privacypass-redis-tls-root",
		long = "privacypass-redis-tls-root",
		alias = "pp-redis-tls-root",
		env = "MOQ_PRIVACYPASS_REDIS_TLS_ROOT"
	)]
	pub redis_tls_root: Option<PathBuf>,
	/// `[privacypass] root`: root of the grant given to Privacy Pass sessions (default `""`).
	#[arg(
		value_name = "PREFIX",
		id = "privacypass-root",
		long = "privacypass-root",
		alias = "pp-root",
		env = "MOQ_PRIVACYPASS_ROOT"
	)]
	pub root: Option<String>,
	/// `[privacypass] pub`: publish prefixes of that grant, relative to `root`. No default.
	#[arg(
		value_name = "PREFIX",
		id = "privacypass-pub",
		long = "privacypass-pub",
		alias = "pp-pub",
		env = "MOQ_PRIVACYPASS_PUB",
		value_delimiter = ','
	)]
	#[serde(default, rename = "pub", deserialize_with = "one_or_many")]
	pub publish: Option<Vec<String>>,
	/// `[privacypass] sub`: subscribe prefixes of that grant, relative to `root` (`""` = everything).
	/// No default.
	#[arg(
		value_name = "PREFIX",
		id = "privacypass-sub",
		long = "privacypass-sub",
		alias = "pp-sub",
		env = "MOQ_PRIVACYPASS_SUB",
		value_delimiter = ','
	)]
	#[serde(default, rename = "sub", deserialize_with = "one_or_many")]
	pub subscribe: Option<Vec<String>>,
	/// `[privacypass] challenge_ttl`: how long an issued challenge is accepted (default 5m; a bare
	/// number is seconds).
	#[arg(
		value_name = "DURATION",
		id = "privacypass-challenge-ttl",
		long = "privacypass-challenge-ttl",
		alias = "pp-challenge-ttl",
		env = "MOQ_PRIVACYPASS_CHALLENGE_TTL",
		value_parser = parse_duration
	)]
	#[serde(default, with = "seconds_or_humantime")]
	pub challenge_ttl: Option<Duration>,
	/// `[privacypass] redemption_context`: `fresh` (32 random bytes per challenge, default) or
	/// `empty` (one challenge for every session: tokens can be fetched ahead, and relays with the
	/// same configuration share it).
	#[arg(
		id = "privacypass-redemption-context",
		long = "privacypass-redemption-context",
		alias = "pp-redemption-context",
		env = "MOQ_PRIVACYPASS_REDEMPTION_CONTEXT",
		value_enum
	)]
	pub redemption_context: Option<RedemptionContext>,
	/// `[privacypass] origins`: the relay's names for the challenges' `origin_info` (default: the
	/// `[tls] generate` names).
	#[arg(
		value_name = "HOST",
		id = "privacypass-origins",
		long = "privacypass-origins",
		alias = "pp-origins",
		env = "MOQ_PRIVACYPASS_ORIGINS",
		value_delimiter = ','
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub origins: Option<Vec<String>>,
	/// `[privacypass] setup_token_type`: the AUTHORIZATION TOKEN Token Type that carries a Privacy
	/// Pass token in an IETF draft session's SETUP (default 2, the token's own RFC 9578 type; 0 is
	/// taken by MoQ JWTs, API keys and client secrets).
	#[arg(
		value_name = "N",
		id = "privacypass-setup-token-type",
		long = "privacypass-setup-token-type",
		alias = "pp-setup-token-type",
		env = "MOQ_PRIVACYPASS_SETUP_TOKEN_TYPE"
	)]
	pub setup_token_type: Option<u64>,
}

/// `[cluster]` (`docs/cluster.md`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::Args)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Cluster ([cluster])")]
pub struct ClusterConfig {
	/// `[cluster] connect`: relays to dial (`host:port`, `https://host:port`, or `http://host:port`
	/// to pin the certificate served at `/certificate.sha256`); a string or a list. None = a root.
	#[arg(
		value_name = "PEER",
		id = "cluster-connect",
		long = "cluster-connect",
		env = "MOQ_CLUSTER_CONNECT",
		value_delimiter = ','
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub connect: Option<Vec<String>>,
	/// `[cluster] token`: file with the cluster token (`moq-token sign --cluster`), re-read on every dial.
	#[arg(
		value_name = "FILE",
		id = "cluster-token",
		long = "cluster-token",
		env = "MOQ_CLUSTER_TOKEN"
	)]
	pub token: Option<PathBuf>,
	/// `[cluster] node`: the address other relays may dial this one at.
	#[arg(
		value_name = "ADDR",
		id = "cluster-node",
		long = "cluster-node",
		env = "MOQ_CLUSTER_NODE"
	)]
	pub node: Option<String>,
	/// `[cluster] id`: this relay's hop id (1..2^62); random per process when unset.
	#[arg(value_name = "N", id = "cluster-id", long = "cluster-id", env = "MOQ_CLUSTER_ID")]
	pub id: Option<u64>,
	/// `[cluster] tls_root`: CA file trusted for links (else the system CA bundle).
	#[arg(
		value_name = "FILE",
		id = "cluster-tls-root",
		long = "cluster-tls-root",
		env = "MOQ_CLUSTER_TLS_ROOT"
	)]
	pub tls_root: Option<PathBuf>,
}

impl ClusterConfig {
	/// The links to dial, checked now so a bad entry is a start-up error.
	pub fn resolve(&self) -> Result<ClusterSettings, ConfigError> {
		let invalid = |key: &'static str, reason: String| ConfigError::Invalid { key, reason };
		let connect = (self.connect.iter().flatten())
			.map(|entry| Peer::parse(entry).map_err(|e| invalid("cluster.connect", e.to_string())))
			.collect::<Result<Vec<_>, _>>()?;
		if let Some(id) = self.id
			&& (id == 0 || crate::wire::VarInt::from_u64(id).is_err())
		{
			return Err(invalid("cluster.id", format!("{id} is not in 1..2^62")));
		}
		if let Some(node) = &self.node
			&& node.contains('?')
		{
			return Err(invalid(
				"cluster.node",
				"an address, never a query (tokens belong in cluster.token)".into(),
			));
		}
		Ok(ClusterSettings {
			connect,
			token: self.token.clone(),
			node: self.node.clone(),
			id: self.id,
			tls_root: self.tls_root.clone(),
		})
	}
}

/// `[limits]`: what one client may hold (`docs/reliability.md` has the table). Every key is also
/// a flag (`--limits-<key>`) and an environment variable (`MOQ_LIMITS_<KEY>`); durations are
/// written like `10s` or `1m 30s`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::Args)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Limits ([limits])")]
pub struct LimitsConfig {
	/// `[limits] handshake_timeout`: time for the QUIC handshake and the WebTransport CONNECT (default 10s).
	#[arg(value_name = "DURATION", long = "limits-handshake-timeout", env = "MOQ_LIMITS_HANDSHAKE_TIMEOUT", value_parser = parse_duration)]
	#[serde(default, with = "seconds_or_humantime")]
	pub handshake_timeout: Option<Duration>,
	/// `[limits] setup_timeout`: time for the client's SETUP once connected (default 10s).
	#[arg(value_name = "DURATION", long = "limits-setup-timeout", env = "MOQ_LIMITS_SETUP_TIMEOUT", value_parser = parse_duration)]
	#[serde(default, with = "seconds_or_humantime")]
	pub setup_timeout: Option<Duration>,
	/// `[limits] http_timeout`: time for an HTTP connection's first byte, TLS handshake and each
	/// request's headers, the longest idle keep-alive, the longest a JSON route waits for its
	/// request body, and the longest a response may wait for the client to read (default 10s).
	#[arg(value_name = "DURATION", long = "limits-http-timeout", env = "MOQ_LIMITS_HTTP_TIMEOUT", value_parser = parse_duration)]
	#[serde(default, with = "seconds_or_humantime")]
	pub http_timeout: Option<Duration>,
	/// `[limits] max_connections`: QUIC connections at once, admitted or not (default 10000).
	#[arg(
		value_name = "N",
		long = "limits-max-connections",
		env = "MOQ_LIMITS_MAX_CONNECTIONS"
	)]
	pub max_connections: Option<usize>,
	/// `[limits] max_pending`: QUIC connections not yet admitted, in total (default 1000).
	#[arg(value_name = "N", long = "limits-max-pending", env = "MOQ_LIMITS_MAX_PENDING")]
	pub max_pending: Option<usize>,
	/// `[limits] max_pending_per_ip`: of those, from one address or IPv6 /64 (default 50).
	#[arg(
		value_name = "N",
		long = "limits-max-pending-per-ip",
		env = "MOQ_LIMITS_MAX_PENDING_PER_IP"
	)]
	pub max_pending_per_ip: Option<usize>,
	/// `[limits] max_sessions_per_ip`: admitted sessions from one address or IPv6 /64 (default 2000).
	#[arg(
		value_name = "N",
		long = "limits-max-sessions-per-ip",
		env = "MOQ_LIMITS_MAX_SESSIONS_PER_IP"
	)]
	pub max_sessions_per_ip: Option<usize>,
	/// `[limits] max_http_connections`: HTTP connections at once (default 1000).
	#[arg(
		value_name = "N",
		long = "limits-max-http-connections",
		env = "MOQ_LIMITS_MAX_HTTP_CONNECTIONS"
	)]
	pub max_http_connections: Option<usize>,
	/// `[limits] max_http_connections_per_ip`: of those, from one address or IPv6 /64 (default 100).
	#[arg(
		value_name = "N",
		long = "limits-max-http-connections-per-ip",
		env = "MOQ_LIMITS_MAX_HTTP_CONNECTIONS_PER_IP"
	)]
	pub max_http_connections_per_ip: Option<usize>,
	/// `[limits] pending_window`: bytes a connection may send before admission, all streams
	/// together (default 65536, at least 16384).
	#[arg(
		value_name = "BYTES",
		long = "limits-pending-window",
		env = "MOQ_LIMITS_PENDING_WINDOW"
	)]
	pub pending_window: Option<u64>,
	/// `[limits] session_window`: the same for an admitted session (default 16777216).
	#[arg(
		value_name = "BYTES",
		long = "limits-session-window",
		env = "MOQ_LIMITS_SESSION_WINDOW"
	)]
	pub session_window: Option<u64>,
	/// `[limits] datagram_buffer`: bytes of incoming datagrams buffered per connection (default 65536).
	#[arg(
		value_name = "BYTES",
		long = "limits-datagram-buffer",
		env = "MOQ_LIMITS_DATAGRAM_BUFFER"
	)]
	pub datagram_buffer: Option<usize>,
	/// `[limits] max_queued_datagrams`: UDP datagrams received for one QUIC connection that may
	/// wait for it to handle them; more are dropped (default 1024).
	#[arg(
		value_name = "N",
		long = "limits-max-queued-datagrams",
		env = "MOQ_LIMITS_MAX_QUEUED_DATAGRAMS"
	)]
	pub max_queued_datagrams: Option<usize>,
	/// `[limits] max_path`: the longest broadcast path or track name a peer may announce or ask for,
	/// in bytes (default 1024).
	#[arg(value_name = "BYTES", long = "limits-max-path", env = "MOQ_LIMITS_MAX_PATH")]
	pub max_path: Option<usize>,
	/// `[limits] max_broadcasts`: broadcasts one session may have announced at once (default 1000).
	#[arg(value_name = "N", long = "limits-max-broadcasts", env = "MOQ_LIMITS_MAX_BROADCASTS")]
	pub max_broadcasts: Option<usize>,
	/// `[limits] handshake_rate`: new connections one address (an IPv6 /64) may start per second,
	/// after a burst of ten times as many (default 50); past it the connection is refused.
	#[arg(value_name = "N", long = "limits-handshake-rate", env = "MOQ_LIMITS_HANDSHAKE_RATE")]
	pub handshake_rate: Option<u32>,
	/// `[limits] subscribe_rate`: new SUBSCRIBE, TRACK and FETCH requests one session may start per
	/// second, after a burst of ten times as many (default 100); past it the request is refused
	/// (stream reset CANCEL).
	#[arg(value_name = "N", long = "limits-subscribe-rate", env = "MOQ_LIMITS_SUBSCRIBE_RATE")]
	pub subscribe_rate: Option<u32>,
	/// `[limits] auth_failures`: refused credentials one address may present in a minute before its
	/// cool-down (default 20).
	#[arg(value_name = "N", long = "limits-auth-failures", env = "MOQ_LIMITS_AUTH_FAILURES")]
	pub auth_failures: Option<u32>,
	/// `[limits] auth_cooldown`: how long an address past `auth_failures` is refused with
	/// `too_many_attempts` (default 60s).
	#[arg(
		value_name = "DURATION",
		long = "limits-auth-cooldown",
		env = "MOQ_LIMITS_AUTH_COOLDOWN",
		value_parser = parse_duration
	)]
	#[serde(default, with = "seconds_or_humantime")]
	pub auth_cooldown: Option<Duration>,
	/// `[limits] max_message`: the largest control message (SETUP, ANNOUNCE, SUBSCRIBE, …), in bytes;
	/// a peer that sends a bigger one is closed (default 65536).
	#[arg(value_name = "BYTES", long = "limits-max-message", env = "MOQ_LIMITS_MAX_MESSAGE")]
	pub max_message: Option<usize>,
	/// `[limits] max_control_buffer`: bytes of unfinished control messages one session may have the
	/// relay hold over all its streams (default 1048576).
	#[arg(
		value_name = "BYTES",
		long = "limits-max-control-buffer",
		env = "MOQ_LIMITS_MAX_CONTROL_BUFFER"
	)]
	pub max_control_buffer: Option<usize>,
	/// `[limits] max_frame`: the largest frame a publisher may send, in bytes, refused from its
	/// header (default 16777216).
	#[arg(value_name = "BYTES", long = "limits-max-frame", env = "MOQ_LIMITS_MAX_FRAME")]
	pub max_frame: Option<usize>,
	/// `[limits] max_group`: the largest group, in bytes, refused once a frame header would pass it
	/// (default 16777216).
	#[arg(value_name = "BYTES", long = "limits-max-group", env = "MOQ_LIMITS_MAX_GROUP")]
	pub max_group: Option<usize>,
	/// `[limits] max_cache`: the bytes of all cached groups together; past it the oldest groups of
	/// any track are evicted first, never a track's latest group (default 1073741824).
	#[arg(value_name = "BYTES", long = "limits-max-cache", env = "MOQ_LIMITS_MAX_CACHE")]
	pub max_cache: Option<usize>,
	/// `[limits] max_inflight_groups`: groups in flight per subscription before the oldest is
	/// dropped for a slow subscriber (default 4).
	#[arg(
		value_name = "N",
		long = "limits-max-inflight-groups",
		env = "MOQ_LIMITS_MAX_INFLIGHT_GROUPS"
	)]
	pub max_inflight_groups: Option<usize>,
}

impl LimitsConfig {
	/// The limits, defaults filled in and checked.
	pub fn resolve(&self) -> Result<Limits, ConfigError> {
		let defaults = Limits::default();
		let invalid = |key: &'static str, reason: &str| ConfigError::Invalid {
			key,
			reason: reason.to_string(),
		};
		let duration = |key: &'static str, value: Option<Duration>, default: Duration| match value {
			Some(d) if d.is_zero() => Err(invalid(key, "must be longer than 0s (e.g. \"10s\")")),
			Some(d) => Ok(d),
			None => Ok(default),
		};
		let count = |key: &'static str, value: Option<usize>, default: usize| match value {
			Some(0) => Err(invalid(key, "must be at least 1")),
			Some(n) => Ok(n),
			None => Ok(default),
		};
		let pending_window = self.pending_window.unwrap_or(defaults.pending_window);
		if pending_window < 16 * 1024 {
			return Err(invalid(
				"limits.pending_window",
				"must be at least 16384 bytes (a WebTransport CONNECT with a token must fit)",
			));
		}
		let session_window = self.session_window.unwrap_or(defaults.session_window);
		if session_window < pending_window {
			return Err(invalid(
				"limits.session_window",
				"must not be below limits.pending_window",
			));
		}
		Ok(Limits {
			handshake_timeout: duration(
				"limits.handshake_timeout",
				self.handshake_timeout,
				defaults.handshake_timeout,
			)?,
			setup_timeout: duration("limits.setup_timeout", self.setup_timeout, defaults.setup_timeout)?,
			http_timeout: duration("limits.http_timeout", self.http_timeout, defaults.http_timeout)?,
			max_connections: count("limits.max_connections", self.max_connections, defaults.max_connections)?,
			max_pending: count("limits.max_pending", self.max_pending, defaults.max_pending)?,
			max_pending_per_ip: count(
				"limits.max_pending_per_ip",
				self.max_pending_per_ip,
				defaults.max_pending_per_ip,
			)?,
			max_sessions_per_ip: count(
				"limits.max_sessions_per_ip",
				self.max_sessions_per_ip,
				defaults.max_sessions_per_ip,
			)?,
			max_http_connections: count(
				"limits.max_http_connections",
				self.max_http_connections,
				defaults.max_http_connections,
			)?,
			max_http_connections_per_ip: count(
				"limits.max_http_connections_per_ip",
				self.max_http_connections_per_ip,
				defaults.max_http_connections_per_ip,
			)?,
			pending_window,
			session_window,
			datagram_buffer: self.datagram_buffer.unwrap_or(defaults.datagram_buffer),
			max_queued_datagrams: count(
				"limits.max_queued_datagrams",
				self.max_queued_datagrams,
				defaults.max_queued_datagrams,
			)?,
			max_path: count("limits.max_path", self.max_path, defaults.max_path)?,
			max_broadcasts: count("limits.max_broadcasts", self.max_broadcasts, defaults.max_broadcasts)?,
			handshake_rate: match self.handshake_rate {
				Some(0) => return Err(invalid("limits.handshake_rate", "must be at least 1")),
				Some(n) => n,
				None => defaults.handshake_rate,
			},
			subscribe_rate: match self.subscribe_rate {
				Some(0) => return Err(invalid("limits.subscribe_rate", "must be at least 1")),
				Some(n) => n,
				None => defaults.subscribe_rate,
			},
			auth_failures: match self.auth_failures {
				Some(0) => return Err(invalid("limits.auth_failures", "must be at least 1")),
				Some(n) => n,
				None => defaults.auth_failures,
			},
			auth_cooldown: duration("limits.auth_cooldown", self.auth_cooldown, defaults.auth_cooldown)?,
			max_message: count("limits.max_message", self.max_message, defaults.max_message)?,
			max_control_buffer: count(
				"limits.max_control_buffer",
				self.max_control_buffer,
				defaults.max_control_buffer,
			)?,
			max_frame: count("limits.max_frame", self.max_frame, defaults.max_frame)?,
			max_inflight_groups: count(
				"limits.max_inflight_groups",
				self.max_inflight_groups,
				defaults.max_inflight_groups,
			)?,
			cache: crate::origin::CachePolicy {
				max_group_bytes: count("limits.max_group", self.max_group, defaults.cache.max_group_bytes)?,
				max_bytes: count("limits.max_cache", self.max_cache, defaults.cache.max_bytes)?,
				..defaults.cache
			},
		})
	}
}

/// Every key `over` sets replaces `base`'s, table by table: a layer merge that names no key, so a
/// new key is written once, in its table's struct. Both are plain configuration structs, so their
/// JSON forms are objects (tables) of values or `null` (unset).
fn overlay<T: Serialize + serde::de::DeserializeOwned + Clone>(base: T, over: T) -> T {
	fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
		match (base, over) {
			(serde_json::Value::Object(base), serde_json::Value::Object(over)) => {
				for (key, value) in over {
					match base.get_mut(&key) {
						Some(slot) => merge(slot, value),
						None => {
							base.insert(key, value);
						}
					}
				}
			}
			(_, serde_json::Value::Null) => {}
			(slot, value) => *slot = value,
		}
	}
	/// Unset keys are left out, so each field's serde default applies to them.
	fn prune(value: &mut serde_json::Value) {
		if let serde_json::Value::Object(map) = value {
			map.retain(|_, v| !v.is_null());
			map.values_mut().for_each(prune);
		}
	}
	let (Ok(mut merged), Ok(top)) = (serde_json::to_value(&base), serde_json::to_value(&over)) else {
		return base;
	};
	merge(&mut merged, top);
	prune(&mut merged);
	serde_json::from_value(merged).unwrap_or(base)
}

/// `[web]`: what browsers' pages may do at the relay (`docs/browser.md`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, clap::Args)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Web pages ([web])")]
pub struct WebConfig {
	/// `[web] allowed_origins`: web origins (`https://app.example`, `http://localhost:8080`) whose
	/// pages may send the browser's cookies to the relay, besides the relay's own origin; a request
	/// with a cookie from any other page (a WebSocket upgrade included) is refused with 403
	/// `origin_not_allowed`. `*` allows every origin. A string or a list.
	#[arg(
		value_name = "ORIGIN",
		id = "web-allowed-origins",
		long = "web-allowed-origins",
		env = "MOQ_WEB_ALLOWED_ORIGINS",
		value_delimiter = ','
	)]
	#[serde(default, deserialize_with = "one_or_many")]
	pub allowed_origins: Option<Vec<String>>,
	/// `[web] demo`: the demo page at `/` (publish and watch in a browser) and the status page at
	/// `/status` (`docs/browser.md`, "The demo page"). On in the development relay (no `--config`),
	/// off otherwise.
	#[arg(
		value_name = "BOOL",
		id = "web-demo",
		long = "web-demo",
		env = "MOQ_WEB_DEMO",
		num_args = 0..=1,
		require_equals = true,
		default_missing_value = "true"
	)]
	pub demo: Option<bool>,
}

impl WebConfig {
	/// The allowed origins, checked now.
	pub fn allowed_origins(&self) -> Result<crate::http::origin::AllowedOrigins, ConfigError> {
		crate::http::origin::AllowedOrigins::new(self.allowed_origins.iter().flatten().map(String::as_str)).map_err(
			|reason| ConfigError::Invalid {
				key: "web.allowed_origins",
				reason,
			},
		)
	}
}

/// The whole configuration, every value optional so layers can be merged.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
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
	/// `[privacypass]`.
	#[serde(default)]
	pub privacypass: PrivacyPassConfig,
	/// `[cluster]`.
	#[serde(default)]
	pub cluster: ClusterConfig,
	/// `[limits]`.
	#[serde(default)]
	pub limits: LimitsConfig,
	/// `[web]`.
	#[serde(default)]
	pub web: WebConfig,
}

/// A grant entry of the configuration (`[auth] public…`, `[[auth.api_key]] pub`/`sub`): a value with
/// a wildcard is a pattern (upstream's `anon/**`, `*/screen`), one without a prefix (its whole
/// subtree), `docs/auth.md` ("Anonymous access").
fn grant_pattern(key: &'static str, value: &str) -> Result<moq_token::Pattern, ConfigError> {
	let invalid = |reason: String| ConfigError::Invalid { key, reason };
	if value.contains('*') {
		value
			.parse()
			.map_err(|e: moq_token::InvalidPattern| invalid(e.to_string()))
	} else {
		let prefix = moq_token::Path::new(value).map_err(|e| invalid(e.to_string()))?;
		moq_token::Pattern::subtree(&prefix).map_err(|e| invalid(e.to_string()))
	}
}

impl AuthConfig {
	/// The policy: public prefixes and the token key store (loaded now, so a bad key file is a
	/// start-up error that names it).
	pub fn resolve(&self) -> Result<Auth, ConfigError> {
		let pattern = grant_pattern;
		let mut public = Public::default();
		for value in self.public.iter().flatten() {
			let both = pattern("auth.public", value)?;
			public.publish.insert(both.clone());
			public.subscribe.insert(both);
		}
		for value in self.public_publish.iter().flatten() {
			public.publish.insert(pattern("auth.public_publish", value)?);
		}
		for value in self.public_subscribe.iter().flatten() {
			public.subscribe.insert(pattern("auth.public_subscribe", value)?);
		}
		let mut sources: Vec<KeySource> = [
			self.key.clone().map(KeySource::File),
			self.key_dir.clone().map(KeySource::Dir),
			self.jwks.clone().map(KeySource::Jwks),
		]
		.into_iter()
		.flatten()
		.collect();
		one_source_per_key_id(&sources)?;
		let key_store = |sources: Vec<KeySource>| {
			KeyStore::new(sources).map_err(|e| ConfigError::Invalid {
				key: "auth.key",
				reason: e.to_string(),
			})
		};
		let client_secrets = self.client_secrets()?;
		let mut keys = if sources.is_empty() {
			None
		} else {
			Some(key_store(sources.clone())?)
		};
		// The relay accepts the secrets it mints: their key joins the token keys unless they hold it.
		if let (Some(minter), Some(path)) = (&client_secrets, &self.client_secret_key) {
			let key = minter.key();
			let held = keys
				.as_ref()
				.is_some_and(|keys| keys.holds(key.kid().map(|kid| kid.as_str()), &key.thumbprint()));
			if !held {
				// Another key under the same kid would make every token of that kid ambiguous.
				if let Some(keys) = &keys
					&& let Ok(probe) = key
						.sign(&moq_token::Claims::new(moq_token::Path::root()).with_subscribe(moq_token::Path::root()))
					&& keys
						.verify(&probe, &moq_token::Validation::default())
						.is_err_and(|e| e.code() != moq_token::ErrorCode::UnknownKid)
				{
					return Err(ConfigError::Invalid {
						key: "auth.client_secret_key",
						reason: "its kid names another key of the token keys: give it a kid of its own".into(),
					});
				}
				sources.push(KeySource::File(path.clone()));
				keys = Some(key_store(sources)?);
			}
		}
		let mut auth = Auth::new(public, keys);
		if let Some(minter) = client_secrets {
			auth = auth.with_client_secrets(minter);
		}
		for jwks in self.jwks_urls()? {
			auth = auth.with_jwks_url(jwks);
		}
		for identity in self.identities(|name| std::env::var(name).ok())? {
			auth = auth.with_identity(identity);
		}
		if let Some(keys) = self.api_keys()? {
			auth = auth.with_api_keys(keys);
		}
		if let Some(auth_url) = self.auth_url()? {
			auth = auth.with_auth_url(auth_url);
		}
		if let Some(service) = self.service()? {
			auth = auth.with_service(service);
		}
		let revocations = Revocations::new(self.revoked.clone()).map_err(|e| ConfigError::Invalid {
			key: "auth.revoked",
			reason: e.to_string(),
		})?;
		Ok(auth.with_revocations(revocations))
	}

	/// The identity issuers of `[[auth.identity]]`; `env` reads `BETTER_AUTH_SECRET` for the preset.
	fn identities(&self, env: impl Fn(&str) -> Option<String>) -> Result<Vec<Identity>, ConfigError> {
		let invalid = |entry: &IdentityEntry, reason: String| ConfigError::Invalid {
			key: "auth.identity",
			reason: format!("{}: {reason}", entry.name),
		};
		let jwks = |url: String| JwksUrlSettings {
			url,
			timeout: self.jwks_timeout.unwrap_or(Duration::from_secs(5)),
			min_refresh: self.jwks_refresh_min.unwrap_or(Duration::from_secs(30)),
			max_refresh: self.jwks_refresh_max.unwrap_or(Duration::from_secs(300)),
		};
		let mut identities = Vec::new();
		for entry in self.identity.iter().flatten() {
			let preset = entry.preset.as_deref();
			let everything = || Some(vec!["**".to_string()]);
			let grant = GrantTemplate {
				root: entry
					.root
					.clone()
					.unwrap_or_else(|| if preset.is_some() { "users/{sub}" } else { "" }.into()),
				publish: entry
					.publish
					.clone()
					.or_else(|| preset.and(everything()))
					.unwrap_or_default(),
				subscribe: entry
					.subscribe
					.clone()
					.or_else(|| preset.and(everything()))
					.unwrap_or_default(),
			};
			grant.check().map_err(|e| invalid(entry, e.to_string()))?;
			let leeway = Duration::from_secs(entry.leeway.unwrap_or(60));
			match preset {
				Some("better-auth") => {
					let Some(base_url) = entry.base_url.clone() else {
						return Err(invalid(
							entry,
							"the better-auth preset needs base_url (the app's baseURL)".into(),
						));
					};
					let secret = entry
						.secret
						.clone()
						.or_else(|| env("BETTER_AUTH_SECRET").as_deref().map(SecretString::from));
					let app = BetterAuth {
						name: entry.name.clone(),
						jwks: jwks(String::new()),
						base_url,
						secret,
						grant,
						leeway,
					};
					let settings = app.identities().map_err(|e| invalid(entry, format!("base_url: {e}")))?;
					identities.extend(settings.into_iter().map(Identity::new));
				}
				Some(other) => {
					return Err(invalid(
						entry,
						format!("unknown preset {other:?} (known: \"better-auth\")"),
					));
				}
				None => {
					let keys = match (&entry.jwks_url, &entry.discovery_url, &entry.secret) {
						(Some(url), None, None) => IdentityKeys::Jwks(std::sync::Arc::new(
							JwksUrl::for_identity(jwks(url.clone()))
								.map_err(|e| invalid(entry, format!("jwks_url {}: {e}", redact_url(url))))?,
						)),
						(None, Some(url), None) => {
							JwksUrl::for_identity(jwks(url.clone()))
								.map_err(|e| invalid(entry, format!("discovery_url {}: {e}", redact_url(url))))?;
							IdentityKeys::Discovery {
								url: url.clone(),
								settings: jwks(url.clone()),
								jwks: Default::default(),
							}
						}
						(None, None, Some(secret)) => IdentityKeys::Secret(secret.expose().as_bytes().to_vec()),
						_ => {
							return Err(invalid(
								entry,
								"give exactly one of jwks_url, discovery_url and secret".into(),
							));
						}
					};
					let shared = matches!(keys, IdentityKeys::Secret(_));
					let names = entry.algorithms.clone().unwrap_or_else(|| {
						if shared {
							vec!["HS256".into()]
						} else {
							vec!["RS256".into(), "ES256".into(), "EdDSA".into()]
						}
					});
					let mut algorithms = Vec::new();
					for name in &names {
						let algorithm: jsonwebtoken::Algorithm = name
							.parse()
							.map_err(|_| invalid(entry, format!("unknown algorithm {name:?}")))?;
						let hmac = matches!(
							algorithm,
							jsonwebtoken::Algorithm::HS256
								| jsonwebtoken::Algorithm::HS384
								| jsonwebtoken::Algorithm::HS512
						);
						if hmac != shared {
							return Err(invalid(
								entry,
								format!(
									"{name} needs {}",
									if hmac { "a secret" } else { "jwks_url or discovery_url" }
								),
							));
						}
						algorithms.push(algorithm);
					}
					identities.push(Identity::new(IdentitySettings {
						name: entry.name.clone(),
						keys,
						algorithms,
						issuer: entry.issuer.clone(),
						audience: entry.audience.clone().unwrap_or_default(),
						leeway,
						grant,
						shape: Shape::Plain,
					}));
				}
			}
		}
		Ok(identities)
	}

	/// The JWKS URLs of `jwks_url`, with the refresh bounds.
	fn jwks_urls(&self) -> Result<Vec<JwksUrl>, ConfigError> {
		let settings = |url: &String| JwksUrlSettings {
			url: url.clone(),
			timeout: self.jwks_timeout.unwrap_or(Duration::from_secs(5)),
			min_refresh: self.jwks_refresh_min.unwrap_or(Duration::from_secs(30)),
			max_refresh: self.jwks_refresh_max.unwrap_or(Duration::from_secs(300)),
		};
		self.jwks_url
			.iter()
			.flatten()
			.map(|url| {
				JwksUrl::new(settings(url)).map_err(|e| ConfigError::Invalid {
					key: "auth.jwks_url",
					reason: format!("{}: {e}", redact_url(url)),
				})
			})
			.collect()
	}

	/// The client secret minter, when `client_secret_key` is set.
	fn client_secrets(&self) -> Result<Option<ClientSecrets>, ConfigError> {
		let invalid = |key: &'static str, reason: String| ConfigError::Invalid { key, reason };
		let origins = self.client_secret_origins.clone().unwrap_or_default();
		let Some(path) = &self.client_secret_key else {
			if !origins.is_empty() {
				tracing::warn!("[auth] client_secret_origins is set but client_secret_key is not: no secret is minted");
			}
			return Ok(None);
		};
		let text = std::fs::read_to_string(path)
			.map_err(|e| invalid("auth.client_secret_key", format!("{}: {e}", path.display())))?;
		let key = moq_token::Key::parse(&text)
			.map_err(|e| invalid("auth.client_secret_key", format!("{}: {e}", path.display())))?;
		ClientSecrets::new(key, origins)
			.map(Some)
			.map_err(|e| invalid("auth.client_secret_key", format!("{}: {e}", path.display())))
	}

	/// The API keys of `api_keys` (named `key-1`, `key-2`, … in order) and `[[auth.api_key]]`.
	fn api_keys(&self) -> Result<Option<ApiKeys>, ConfigError> {
		let invalid = |key: &'static str, reason: String| ConfigError::Invalid { key, reason };
		let mut keys = Vec::new();
		for (n, key) in self.api_keys.iter().flatten().enumerate() {
			keys.push(ApiKeySettings {
				name: format!("key-{}", n + 1),
				key: key.expose().to_string(),
				root: moq_token::Path::root(),
				publish: None,
				subscribe: None,
			});
		}
		for entry in self.api_key.iter().flatten() {
			let path = |value: &str| {
				moq_token::Path::new(value).map_err(|e| invalid("auth.api_key", format!("{}: {e}", entry.name)))
			};
			let patterns = |list: &Option<Vec<String>>| {
				list.as_ref()
					.map(|l| {
						l.iter()
							.map(|p| {
								grant_pattern("auth.api_key", p).map_err(|e| match e {
									ConfigError::Invalid { key, reason } => ConfigError::Invalid {
										key,
										reason: format!("{}: {reason}", entry.name),
									},
									other => other,
								})
							})
							.collect::<Result<moq_token::Patterns, _>>()
					})
					.transpose()
			};
			keys.push(ApiKeySettings {
				name: entry.name.clone(),
				key: entry.key.expose().to_string(),
				root: path(entry.root.as_deref().unwrap_or(""))?,
				publish: patterns(&entry.publish)?,
				subscribe: patterns(&entry.subscribe)?,
			});
		}
		if keys.is_empty() {
			return Ok(None);
		}
		for key in keys.iter().filter(|k| k.key.len() < 16) {
			tracing::warn!(name = %key.name, "API key is shorter than 16 characters: use a long random one (openssl rand -base64 32)");
		}
		ApiKeys::new(keys)
			.map(Some)
			.map_err(|e| invalid("auth.api_keys", e.to_string()))
	}

	/// The auth server of `url`, when set.
	fn auth_url(&self) -> Result<Option<AuthUrl>, ConfigError> {
		let Some(url) = &self.url else {
			if let Some(key) = [
				(self.url_tls_root.is_some(), "auth.url_tls_root"),
				(self.url_tls_cert.is_some(), "auth.url_tls_cert"),
				(self.url_tls_key.is_some(), "auth.url_tls_key"),
			]
			.into_iter()
			.find_map(|(set, key)| set.then_some(key))
			{
				return Err(ConfigError::Invalid {
					key,
					reason: "it applies to an https:// auth.url, and none is set".into(),
				});
			}
			return Ok(None);
		};
		let node = self
			.node
			.clone()
			.or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
			.unwrap_or_else(|| "moq-relay".into());
		AuthUrl::new(AuthUrlSettings {
			url: url.clone(),
			node,
			tls: crate::auth::AuthUrlTls {
				root: self.url_tls_root.clone(),
				cert: self.url_tls_cert.clone(),
				key: self.url_tls_key.clone(),
			},
		})
		.map(Some)
		.map_err(|e| ConfigError::Invalid {
			key: e.key(),
			reason: e.to_string(),
		})
	}

	/// The delegated auth service, when `service_url` is set (it needs `signing_key`).
	fn service(&self) -> Result<Option<AuthService>, ConfigError> {
		let invalid = |key: &'static str, reason: String| ConfigError::Invalid { key, reason };
		let Some(url) = &self.service_url else {
			if self.signing_key.is_some() {
				tracing::warn!("[auth] signing_key is set but service_url is not: the key signs nothing");
			}
			return Ok(None);
		};
		let Some(key_path) = &self.signing_key else {
			return Err(invalid(
				"auth.signing_key",
				"the auth service (auth.service_url, AUTH_SERVICE_URL) needs a signing key: set auth.signing_key \
				 (AUTH_SIGNING_KEY_PATH) to an RSA or ECDSA private key in PEM (openssl genrsa -out private.pem 2048)"
					.into(),
			));
		};
		let key = SigningKey::load(key_path).map_err(|e| invalid("auth.signing_key", e.to_string()))?;
		let timeout = self.service_timeout.unwrap_or(Duration::from_secs(5));
		if timeout.is_zero() {
			return Err(invalid("auth.service_timeout", "must be longer than 0s".into()));
		}
		let concurrency = self.service_concurrency.unwrap_or(32);
		if concurrency == 0 {
			return Err(invalid("auth.service_concurrency", "must be at least 1".into()));
		}
		AuthService::new(ServiceSettings {
			url: url.clone(),
			key,
			subject: self.service_subject.clone().unwrap_or_else(|| "moq-relay".into()),
			timeout,
			concurrency,
			cache: self.service_cache.unwrap_or(10_000),
		})
		.map(Some)
		.map_err(|e| invalid("auth.service_url", format!("{}: {e}", redact_url(url))))
	}

	/// Applies `required` to the resolved policy (`privacy_pass` included): `true` with no credential
	/// method is a start-up error naming the settings; `false` lets sessions without a credential do
	/// everything, and says so.
	pub fn require(&self, auth: Auth) -> Result<Auth, ConfigError> {
		let methods = auth.verifies_tokens();
		match self.required {
			Some(true) if !methods => Err(ConfigError::Invalid {
				key: "auth.required",
				reason: "Auth required but no method configured: set AUTH_API_SECRET, MOSHI_API_KEY or MOQ_API_KEYS \
				 ([auth] api_keys), or AUTH_SERVICE_URL and AUTH_SIGNING_KEY_PATH ([auth] service_url and \
				 signing_key), or a token key ([auth] key, key_dir or jwks), or [privacypass] enabled; or set \
				 AUTH_REQUIRED=false"
					.into(),
			}),
			Some(false) => {
				if methods {
					tracing::warn!(
						"auth.required = false: sessions without a credential may publish and subscribe everything \
						 (presented credentials are still checked)"
					);
				} else {
					tracing::warn!(
						"authentication is OFF (auth.required = false and no method configured): every session may \
						 publish and subscribe everything"
					);
				}
				Ok(auth.with_public(Public::both(moq_token::Path::root())))
			}
			_ => Ok(auth),
		}
	}

	/// The `[auth]` layer of moshi-server's and Sayna's environment variables ([`COMPAT_ENV`]), read
	/// with `get`.
	pub fn from_compat_env(get: impl Fn(&str) -> Option<String>) -> Result<AuthConfig, ConfigError> {
		let get = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
		let mut layer = AuthConfig::default();
		let mut keys = Vec::new();
		for name in ["MOQ_API_KEYS", "MOSHI_API_KEY"] {
			for key in get(name).iter().flat_map(|v| v.split(',')).map(str::trim) {
				if !key.is_empty() {
					keys.push(SecretString::from(key));
				}
			}
		}
		// One secret: Sayna compares the whole value.
		keys.extend(get("AUTH_API_SECRET").as_deref().map(SecretString::from));
		layer.api_keys = (!keys.is_empty()).then_some(keys);
		layer.required = match get("AUTH_REQUIRED").map(|v| v.to_ascii_lowercase()).as_deref() {
			None => None,
			Some("true" | "1" | "yes" | "on") => Some(true),
			Some("false" | "0" | "no" | "off") => Some(false),
			Some(_) => {
				return Err(ConfigError::Invalid {
					key: "AUTH_REQUIRED",
					reason: "must be true or false".into(),
				});
			}
		};
		layer.service_url = get("AUTH_SERVICE_URL");
		layer.signing_key = get("AUTH_SIGNING_KEY_PATH").map(PathBuf::from);
		layer.service_timeout = get("AUTH_TIMEOUT_SECONDS")
			.map(|v| parse_duration(&v))
			.transpose()
			.map_err(|reason| ConfigError::Invalid {
				key: "AUTH_TIMEOUT_SECONDS",
				reason,
			})?;
		Ok(layer)
	}
}

/// moshi-server's configuration file has `authorized_ids = [...]` at its top level, where this
/// relay has only tables: the key is taken out of the text (blanked, so every line keeps its number
/// for error messages) and its keys returned, to join `[auth] api_keys`.
fn top_level_authorized_ids(text: &str) -> Option<(String, Vec<SecretString>)> {
	if !text.contains("authorized_ids") {
		return None;
	}
	let table = toml::de::DeTable::parse(text).ok()?;
	let (key, value) = table
		.get_ref()
		.iter()
		.find(|(key, _)| key.get_ref() == "authorized_ids")?;
	let toml::de::DeValue::Array(items) = value.get_ref() else {
		return None;
	};
	let ids = items
		.iter()
		.map(|item| match item.get_ref() {
			toml::de::DeValue::String(id) => Some(SecretString::from(id.as_ref())),
			_ => None,
		})
		.collect::<Option<Vec<_>>>()?;
	let span = key.span().start..value.span().end;
	let mut blanked = text.to_string();
	let spaces: String = text[span.clone()]
		.chars()
		.map(|c| if c == '\n' { '\n' } else { ' ' })
		.collect();
	blanked.replace_range(span, &spaces);
	Some((blanked, ids))
}

impl PrivacyPassConfig {
	/// The Privacy Pass verifier when enabled: keys loaded now (a bad key file is a start-up error
	/// naming it), the grant required. `tls_names` are the default origins.
	pub fn resolve(&self, tls_names: &[String]) -> Result<Option<PrivacyPass>, ConfigError> {
		if self.enabled != Some(true) {
			return Ok(None);
		}
		let invalid = |key: &'static str, reason: String| ConfigError::Invalid { key, reason };
		if self.publish.is_none() && self.subscribe.is_none() {
			return Err(invalid(
				"privacypass.sub",
				"Privacy Pass is enabled but its grant is not configured: set [privacypass] root, pub and/or sub \
				 (--privacypass-root, --privacypass-pub, --privacypass-sub). There is no default: an issuer that \
				 attests nothing would open every path to anyone"
					.into(),
			));
		}
		let path =
			|key: &'static str, value: &str| moq_token::Path::new(value).map_err(|e| invalid(key, e.to_string()));
		let root = path("privacypass.root", self.root.as_deref().unwrap_or(""))?;
		let publish = (self.publish.iter().flatten())
			.map(|p| path("privacypass.pub", p))
			.collect::<Result<Vec<_>, _>>()?;
		let subscribe = (self.subscribe.iter().flatten())
			.map(|p| path("privacypass.sub", p))
			.collect::<Result<Vec<_>, _>>()?;
		let mut keys = Vec::new();
		for file in self.issuer_key.iter().flatten() {
			let bytes = std::fs::read(file)
				.map_err(|e| invalid("privacypass.issuer_key", format!("cannot read {}: {e}", file.display())))?;
			keys.push(
				moq_privacy_pass::IssuerKey::parse(&bytes)
					.map_err(|e| invalid("privacypass.issuer_key", format!("{}: {e}", file.display())))?,
			);
		}
		let issuer = self.issuer.clone().unwrap_or_else(|| DEFAULT_ISSUER.to_string());
		let directory = match (&self.directory, keys.is_empty()) {
			(Some(url), _) => Some(url.clone()),
			(None, true) => Some(format!("https://{issuer}{}", moq_privacy_pass::DIRECTORY_PATH)),
			(None, false) => None,
		};
		let redemption_context = match self.redemption_context.unwrap_or_default() {
			RedemptionContext::Fresh => moq_privacy_pass::RedemptionContext::Fresh,
			RedemptionContext::Empty => moq_privacy_pass::RedemptionContext::Empty,
		};
		let challenge_ttl = self.challenge_ttl.unwrap_or(Duration::from_secs(300));
		if challenge_ttl.is_zero() {
			return Err(invalid("privacypass.challenge_ttl", "must be at least 1 second".into()));
		}
		let setup_token_type = self
			.setup_token_type
			.unwrap_or(u64::from(moq_privacy_pass::TOKEN_TYPE_BLIND_RSA));
		if setup_token_type == 0 || crate::wire::VarInt::from_u64(setup_token_type).is_err() {
			return Err(invalid(
				"privacypass.setup_token_type",
				format!(
					"{setup_token_type} is not in 1..2^62 (0 is the Token Type of MoQ JWTs, API keys and client secrets)"
				),
			));
		}
		let redis_root_cert = match &self.redis_tls_root {
			None => None,
			Some(_) if self.redis.is_none() => {
				return Err(invalid(
					"privacypass.redis_tls_root",
					"it applies to a rediss:// privacypass.redis, and none is set".into(),
				));
			}
			Some(file) => Some(std::fs::read(file).map_err(|e| {
				invalid(
					"privacypass.redis_tls_root",
					format!("cannot read {}: {e}", file.display()),
				)
			})?),
		};
		let settings = PrivacyPassSettings {
			issuer,
			keys,
			directory,
			redis: self.redis.clone(),
			redis_root_cert,
			root,
			publish,
			subscribe,
			challenge_ttl,
			redemption_context,
			origins: self.origins.clone().unwrap_or_else(|| tls_names.to_vec()),
			setup_token_type,
		};
		PrivacyPass::new(settings)
			.map(Some)
			.map_err(|e| invalid("privacypass", e.to_string()))
	}
}

/// Refuses a key id found in two key sources (`[auth] key`, `key_dir`, `jwks`), or twice in one: a
/// token naming it could not pick a key, so every such token would be refused (`key_error`) while
/// the relay ran as if all were well. The error names the id, both places and what to do. Files
/// that cannot be read are left to the key store, which names them.
fn one_source_per_key_id(sources: &[KeySource]) -> Result<(), ConfigError> {
	let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
	for source in sources {
		let (files, key, flag): (Vec<PathBuf>, &'static str, &str) = match source {
			KeySource::File(path) => (vec![path.clone()], "auth.key", "--auth-key"),
			KeySource::Jwks(path) => (vec![path.clone()], "auth.jwks", "--auth-jwks"),
			KeySource::Dir(dir) => {
				let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
					.map(|entries| {
						entries
							.filter_map(|e| e.ok().map(|e| e.path()))
							.filter(|p| p.extension().is_some_and(|x| x == "jwk"))
							.collect()
					})
					.unwrap_or_default();
				files.sort();
				(files, "auth.key_dir", "--auth-key-dir")
			}
		};
		for file in files {
			let Ok(text) = std::fs::read_to_string(&file) else {
				continue;
			};
			let keys = match moq_token::Key::parse(&text) {
				Ok(one) => vec![one],
				Err(_) => moq_token::KeySet::parse(&text)
					.map(|set| set.keys().to_vec())
					.unwrap_or_default(),
			};
			for kid in keys.iter().filter_map(|k| k.kid()) {
				let place = format!("{} ({flag})", file.display());
				if let Some(first) = seen.get(kid.as_str()) {
					return Err(ConfigError::Invalid {
						key,
						reason: format!(
							"the key id `{kid}` is in {first} and again in {place}: a token naming it could not pick one, so every such token would be refused; keep each key in one source only (drop one of the two, or remove the entry from the JWKS)",
							kid = kid.as_str()
						),
					});
				}
				seen.insert(kid.as_str().to_string(), place);
			}
		}
	}
	Ok(())
}

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
	let at = at.min(text.len());
	text.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1
}

/// The `(table, key)` of every key whose value is a file or a directory (its flag's value is
/// `FILE` or `DIR`), in the configuration's serde form (`("auth", "key_dir")`).
fn path_keys() -> Vec<(String, String)> {
	use clap::CommandFactory;
	Args::command()
		.get_arguments()
		.filter(|arg| {
			arg.get_value_names()
				.is_some_and(|names| names.iter().any(|name| name == "FILE" || name == "DIR"))
		})
		.filter_map(|arg| {
			let (table, key) = arg.get_long()?.split_once('-')?;
			Some((table.to_string(), key.replace('-', "_")))
		})
		.collect()
}

/// Reads serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`") from a TOML
/// error and names the nearest valid key and the table it was found in.
fn unknown_key(text: &str, origin: &str, err: &toml::de::Error) -> Option<ConfigError> {
	let message = err.message();
	let rest = message.strip_prefix("unknown field `")?;
	let (key, expected) = rest.split_once('`')?;
	let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
	let nearest = valid
		.iter()
		.map(|v| (strsim::levenshtein(key, v), *v))
		.min()
		.filter(|(distance, v)| *distance <= (v.len().max(key.len()) / 3).max(2));
	let hint = match nearest {
		Some((_, v)) => format!("did you mean `{v}`?"),
		None => format!("valid keys are {}", valid.join(", ")),
	};
	// The table is the last `[header]` before the key; a top-level key has none (only tables are
	// valid there).
	let top_level = valid.contains(&"server");
	let at = err.span().map_or(text.len(), |span| span.start.min(text.len()));
	let table = (!top_level)
		.then_some(())
		.and(text[..at].lines().rev().find_map(|line| {
			line.trim()
				.strip_prefix('[')?
				.split(']')
				.next()
				.map(str::trim)
				.map(String::from)
		}));
	Some(ConfigError::UnknownKey {
		path: origin.to_string(),
		line: text[..at].lines().count().max(1) + usize::from(text[..at].ends_with('\n')),
		table,
		key: key.to_string(),
		hint,
	})
}

impl AuthConfig {
	/// Replaces the keys and secrets with `<redacted>` and the URLs' passwords and queries (which
	/// may carry a credential) likewise.
	fn redact(&mut self) {
		let redacted = || SecretString::from("<redacted>");
		if let Some(keys) = &mut self.api_keys {
			keys.iter_mut().for_each(|key| *key = redacted());
		}
		if let Some(entries) = &mut self.api_key {
			entries.iter_mut().for_each(|entry| entry.key = redacted());
		}
		self.service_url = self.service_url.as_deref().map(redact_url);
		self.url = self.url.as_deref().map(redact_url);
		if let Some(entries) = &mut self.identity {
			for entry in entries {
				if entry.secret.is_some() {
					entry.secret = Some(redacted());
				}
				entry.jwks_url = entry.jwks_url.as_deref().map(redact_url);
				entry.discovery_url = entry.discovery_url.as_deref().map(redact_url);
			}
		}
		if let Some(urls) = &mut self.jwks_url {
			urls.iter_mut().for_each(|url| *url = redact_url(url));
		}
	}
}

impl PrivacyPassConfig {
	/// Replaces the URLs' passwords and queries with `<redacted>`.
	fn redact(&mut self) {
		self.redis = self.redis.as_deref().map(redact_url);
		self.directory = self.directory.as_deref().map(redact_url);
	}
}

/// `Debug` of a configuration section that may hold secrets: the section with `redact` applied,
/// as JSON.
macro_rules! redacted_debug {
	($section:ty) => {
		impl std::fmt::Debug for $section {
			fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
				let mut shown = self.clone();
				shown.redact();
				match serde_json::to_string(&shown) {
					Ok(json) => write!(f, "{} {json}", stringify!($section)),
					Err(_) => write!(f, "{} {{ .. }}", stringify!($section)),
				}
			}
		}
	};
}

redacted_debug!(AuthConfig);
redacted_debug!(PrivacyPassConfig);

/// A URL with its password and its query replaced by `<redacted>`
/// (`redis://:<redacted>@host:6379`).
fn redact_url(url: &str) -> String {
	let (url, query) = match url.split_once('?') {
		Some((url, _)) => (url, "?<redacted>"),
		None => (url, ""),
	};
	let redacted = match url.split_once("://") {
		Some((scheme, rest)) => match rest.split_once('@') {
			Some((userinfo, host)) => {
				let user = userinfo.split_once(':').map_or("", |(user, _)| user);
				format!("{scheme}://{user}:<redacted>@{host}")
			}
			None => format!("{scheme}://{rest}"),
		},
		None => url.to_string(),
	};
	format!("{redacted}{query}")
}

/// `[privacypass] redemption_context`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RedemptionContext {
	/// 32 random bytes per challenge: a token answers one challenge of one relay.
	#[default]
	Fresh,
	/// No context: one challenge per configuration, shared by relays configured alike.
	Empty,
}

/// A duration flag: a bare number is seconds (`5`), anything else humantime (`5s`, `1m 30s`).
fn parse_duration(value: &str) -> Result<Duration, String> {
	match value.trim().parse::<u64>() {
		Ok(seconds) => Ok(Duration::from_secs(seconds)),
		Err(_) => humantime::parse_duration(value.trim()).map_err(|e| format!("{e} (write e.g. 5s, 500ms or 1m 30s)")),
	}
}

/// A duration in TOML: an integer is seconds (`drain = 5`), a string humantime (`drain = "5s"`).
/// Written back as humantime.
mod seconds_or_humantime {
	use std::time::Duration;

	use serde::{Deserialize, Deserializer, Serializer};

	#[derive(Deserialize)]
	#[serde(untagged)]
	enum Raw {
		Seconds(u64),
		Text(String),
	}

	pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
		match Option::<Raw>::deserialize(deserializer)? {
			None => Ok(None),
			Some(Raw::Seconds(seconds)) => Ok(Some(Duration::from_secs(seconds))),
			Some(Raw::Text(text)) => super::parse_duration(&text).map(Some).map_err(serde::de::Error::custom),
		}
	}

	pub fn serialize<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
		match value {
			Some(duration) => serializer.serialize_str(&humantime::format_duration(*duration).to_string()),
			None => serializer.serialize_none(),
		}
	}
}

/// The forms `[server] bind` (and `--server-bind`) accepts, for its errors.
const BIND_FORMS: &str = "write an IP address and a port: \"127.0.0.1:4443\" (this machine only), \"[::]:4443\" (every address), \"[::1]:4443\"; a list for several";

/// One `[server] bind` address. Only IP addresses: a host name is refused with the address to
/// write instead, a port past 65535 with the range.
fn parse_bind(value: &str) -> Result<SocketAddr, String> {
	let value = value.trim();
	if let Ok(addr) = value.parse::<SocketAddr>() {
		return Ok(addr);
	}
	let Some((host, port)) = value.rsplit_once(':') else {
		return Err(format!("`{value}` has no port: {BIND_FORMS}"));
	};
	match port.parse::<u64>() {
		Ok(port) if port > u64::from(u16::MAX) => {
			return Err(format!(
				"`{value}`: port {port} is out of range: a port is 0 to 65535 (0 picks a free one)"
			));
		}
		Ok(_) => {}
		Err(_) => return Err(format!("`{value}`: `{port}` is not a port number: {BIND_FORMS}")),
	}
	let bare = host.trim_start_matches('[').trim_end_matches(']');
	if bare.parse::<std::net::IpAddr>().is_ok() {
		return Err(format!(
			"`{value}`: an IPv6 address goes in brackets, as in \"[{bare}]:{port}\""
		));
	}
	let instead = match bare {
		"localhost" => format!(" (for localhost: \"127.0.0.1:{port}\" and \"[::1]:{port}\")"),
		_ => String::new(),
	};
	Err(format!(
		"`{value}`: `{bare}` is not an IP address: the relay binds IP addresses, never host names{instead}; {BIND_FORMS}"
	))
}

/// `[server] bind`: one address or a list, each read by [`parse_bind`], so a mistake is an error
/// that names the key and the accepted forms rather than a type mismatch.
fn bind_addresses<'de, D>(deserializer: D) -> Result<Option<Vec<SocketAddr>>, D::Error>
where
	D: serde::Deserializer<'de>,
{
	#[derive(Deserialize)]
	#[serde(untagged)]
	enum Raw {
		One(String),
		Many(Vec<String>),
		Other(serde::de::IgnoredAny),
	}
	let values = match Raw::deserialize(deserializer)? {
		Raw::One(one) => vec![one],
		Raw::Many(many) => many,
		Raw::Other(_) => {
			return Err(serde::de::Error::custom(format!(
				"server.bind: expected a string or a list of strings: {BIND_FORMS}"
			)));
		}
	};
	values
		.iter()
		.map(|value| parse_bind(value).map_err(|reason| serde::de::Error::custom(format!("server.bind: {reason}"))))
		.collect::<Result<Vec<_>, _>>()
		.map(Some)
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

/// The flags (and their `MOQ_*` environment variables): `--config`, `--check`, and one flag per
/// key of every table, `--<table>-<key>` (`[server] bind` is `--server-bind`, `MOQ_SERVER_BIND`).
#[derive(Clone, Debug, Default, clap::Parser)]
#[command(
	name = "moq-relay",
	version,
	about = "A Media over QUIC relay (moq-lite-03/04/05/06 over QUIC and WebTransport)"
)]
pub struct Args {
	/// TOML configuration file.
	#[arg(long, env = "MOQ_CONFIG")]
	pub config: Option<PathBuf>,
	/// Check the configuration (file, environment and flags, keys and certificates loaded), print
	/// the resolved settings with secrets redacted, and exit.
	#[arg(long)]
	pub check: bool,
	/// `[server]`.
	#[command(flatten)]
	pub server: ServerConfig,
	/// `[tls]`.
	#[command(flatten)]
	pub tls: TlsConfig,
	/// `[auth]`.
	#[command(flatten)]
	pub auth: AuthConfig,
	/// `[privacypass]`.
	#[command(flatten)]
	pub privacypass: PrivacyPassConfig,
	/// `[cluster]`.
	#[command(flatten)]
	pub cluster: ClusterConfig,
	/// `[limits]`.
	#[command(flatten)]
	pub limits: LimitsConfig,
	/// `[web]`.
	#[command(flatten)]
	pub web: WebConfig,
}

impl Args {
	/// The layer these flags (and environment variables) form.
	pub fn layer(&self) -> Config {
		Config {
			server: self.server.clone(),
			tls: self.tls.clone(),
			auth: self.auth.clone(),
			privacypass: self.privacypass.clone(),
			cluster: self.cluster.clone(),
			limits: self.limits.clone(),
			web: self.web.clone(),
		}
	}

	/// Reads the TOML file (if any) and merges over it moshi-server's and Sayna's environment
	/// variables ([`COMPAT_ENV`]), then these flags (and `MOQ_*` variables).
	pub fn load(&self) -> Result<Config, ConfigError> {
		let file = match &self.config {
			Some(path) => Config::from_file(path)?,
			None => Config::default(),
		};
		let compat = Config {
			auth: AuthConfig::from_compat_env(|name| std::env::var(name).ok())?,
			..Config::default()
		};
		Ok(file.merge(compat).merge(self.layer()))
	}
}

impl Config {
	/// Parses TOML text; an unknown key is an error naming it and the nearest valid key.
	pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
		let moshi = top_level_authorized_ids(text);
		let text = moshi.as_ref().map_or(text, |(blanked, _)| blanked.as_str());
		let mut config: Self = toml::from_str(text).map_err(|source| {
			unknown_key(text, origin, &source).unwrap_or_else(|| ConfigError::Parse {
				path: origin.to_string(),
				line: source.span().map(|span| line_of(text, span.start)),
				message: source.message().trim_end().to_string(),
			})
		})?;
		if let Some((_, ids)) = moshi {
			config.auth.api_keys.get_or_insert_with(Vec::new).extend(ids);
		}
		Ok(config)
	}

	/// Reads and parses a TOML file. Its relative file and directory paths (every `FILE` and `DIR`
	/// key: `auth.key`, `cluster.token`, …) are relative to the file, not to the directory the relay
	/// was started in, so a configuration means the same wherever it is run from.
	pub fn from_file(path: &FsPath) -> Result<Self, ConfigError> {
		let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
			path: path.display().to_string(),
			source,
		})?;
		let origin = path.display().to_string();
		let config = Self::from_toml(&text, &origin)?;
		config.relative_to(path.parent().unwrap_or(FsPath::new("")), &origin)
	}

	/// Every relative path of a `FILE` or `DIR` key joined to `dir`, the directory of the file
	/// `origin`. A path that exists only relative to the current directory is the mistake of a
	/// file written for the old rule (or run from elsewhere): an error naming both places.
	fn relative_to(self, dir: &FsPath, origin: &str) -> Result<Self, ConfigError> {
		let error = |message: String| ConfigError::Parse {
			path: origin.to_string(),
			line: None,
			message,
		};
		let mut value = serde_json::to_value(&self).map_err(|err| error(err.to_string()))?;
		let mut mistake = None;
		for (table, key) in path_keys() {
			let mut rebase = |path: &mut serde_json::Value| {
				let serde_json::Value::String(text) = path else {
					return;
				};
				if !FsPath::new(text.as_str()).is_relative() {
					return;
				}
				let joined = dir.join(text.as_str());
				if mistake.is_none() && !joined.exists() && FsPath::new(text.as_str()).exists() {
					mistake = Some(format!(
						"{table}.{key} = {text:?} is relative to this file, so it names {}, which does not exist (the {text} in the current directory is not read): write the path relative to the file's directory, or an absolute path",
						joined.display()
					));
				}
				*text = joined.display().to_string();
			};
			match value.get_mut(&table).and_then(|t| t.get_mut(&key)) {
				Some(serde_json::Value::Array(paths)) => paths.iter_mut().for_each(&mut rebase),
				Some(path) => rebase(path),
				None => {}
			}
		}
		if let Some(mistake) = mistake {
			return Err(error(mistake));
		}
		// Unset keys are left out (as in `overlay`), so each field's serde default applies to them.
		if let serde_json::Value::Object(tables) = &mut value {
			for table in tables.values_mut() {
				if let serde_json::Value::Object(keys) = table {
					keys.retain(|_, v| !v.is_null());
				}
			}
		}
		serde_json::from_value(value).map_err(|err| error(err.to_string()))
	}

	/// `over` wins wherever it sets a value.
	pub fn merge(self, over: Config) -> Config {
		overlay(self, over)
	}

	/// What `moq-relay --check` prints: the settings in force (every layer merged, the limits with
	/// their defaults filled in) as TOML, once [`Config::resolve`] accepted them (keys and
	/// certificates loaded). Secrets in values are redacted: a URL's password and query.
	pub fn check_report(&self) -> Result<String, ConfigError> {
		let resolved = self.resolve()?;
		let limits = &resolved.limits;
		let mut shown = self.clone();
		shown.server.drain = Some(resolved.drain);
		shown.limits = LimitsConfig {
			handshake_timeout: Some(limits.handshake_timeout),
			setup_timeout: Some(limits.setup_timeout),
			http_timeout: Some(limits.http_timeout),
			max_connections: Some(limits.max_connections),
			max_pending: Some(limits.max_pending),
			max_pending_per_ip: Some(limits.max_pending_per_ip),
			max_sessions_per_ip: Some(limits.max_sessions_per_ip),
			max_http_connections: Some(limits.max_http_connections),
			max_http_connections_per_ip: Some(limits.max_http_connections_per_ip),
			pending_window: Some(limits.pending_window),
			session_window: Some(limits.session_window),
			datagram_buffer: Some(limits.datagram_buffer),
			max_queued_datagrams: Some(limits.max_queued_datagrams),
			max_path: Some(limits.max_path),
			max_broadcasts: Some(limits.max_broadcasts),
			handshake_rate: Some(limits.handshake_rate),
			subscribe_rate: Some(limits.subscribe_rate),
			auth_failures: Some(limits.auth_failures),
			auth_cooldown: Some(limits.auth_cooldown),
			max_message: Some(limits.max_message),
			max_control_buffer: Some(limits.max_control_buffer),
			max_frame: Some(limits.max_frame),
			max_group: Some(limits.cache.max_group_bytes),
			max_cache: Some(limits.cache.max_bytes),
			max_inflight_groups: Some(limits.max_inflight_groups),
		};
		shown.auth.redact();
		shown.privacypass.redact();
		toml::to_string(&shown).map_err(|err| ConfigError::Invalid {
			key: "config",
			reason: format!("cannot print the configuration: {err}"),
		})
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
				drain: Some(Duration::from_secs(5)),
				port: None,
			},
			tls: TlsConfig::default(),
			auth: AuthConfig {
				public: dev.then(|| vec!["anon".to_string()]),
				..AuthConfig::default()
			},
			privacypass: PrivacyPassConfig::default(),
			cluster: ClusterConfig::default(),
			limits: LimitsConfig::default(),
			web: WebConfig {
				demo: dev.then_some(true),
				..WebConfig::default()
			},
		}
	}

	/// Turns a merged configuration into what the relay runs with.
	pub fn resolve(&self) -> Result<RelayConfig, ConfigError> {
		let certificate = self.tls.source()?;
		let mut auth = self.auth.resolve()?;
		let tls_names = (self.tls.generate.clone().or_else(|| self.tls.domain.clone())).unwrap_or_default();
		if let Some(pp) = self.privacypass.resolve(&tls_names)? {
			auth = auth.with_privacy_pass(pp);
		}
		let auth = self.auth.require(auth)?;
		let mut bind = self.server.bind.clone().unwrap_or_default();
		if let Some(port) = self.server.port {
			bind.iter_mut().for_each(|addr| addr.set_port(port));
		}
		Ok(RelayConfig {
			bind,
			certificate,
			auth,
			drain: self.server.drain.unwrap_or(Duration::from_secs(5)),
			limits: self.limits.resolve()?,
			cluster: self.cluster.resolve()?,
			allowed_origins: self.web.allowed_origins()?,
			demo: self.web.demo.unwrap_or(false),
			operator: self.auth.operator,
		})
	}
}

/// The properties the `config` fuzz target (`rs/moq-relay/fuzz/`) and its corpus replay test
/// (`tests/it/config_corpus.rs`) check on arbitrary bytes read as a configuration file (feature
/// `checks`); a broken one panics:
///
/// - parsing never panics: the bytes are refused with a parse error or an unknown key that names
///   a line of the file, or they are a configuration;
/// - a configuration prints as TOML that reads back as itself, and merging it with an empty layer,
///   under or over it, changes nothing;
/// - its own checks accept it or refuse it with a [`ConfigError`], never a panic, and no refusal
///   repeats an API key or a Redis password (replaced by canaries to look for them): the parts of
///   [`Config::resolve`] that read no file and open no socket (limits, cluster links, public prefixes, API keys, `required`, the names of
///   a generated certificate) and Privacy Pass with the key files and the directory replaced by
///   one fixed issuer key (the RFC 9578 test key).
#[cfg(feature = "checks")]
pub fn fuzz_check(data: &[u8]) {
	let text = String::from_utf8_lossy(data);
	let config = match Config::from_toml(&text, "fuzz.toml") {
		Ok(config) => config,
		Err(err) => {
			assert!(!err.to_string().is_empty());
			match &err {
				ConfigError::Parse { path, .. } => assert_eq!(path, "fuzz.toml"),
				ConfigError::UnknownKey { path, line, key, .. } => {
					assert_eq!(path, "fuzz.toml");
					let lines = text.split('\n').count();
					assert!((1..=lines).contains(line), "`{key}` at line {line} of {lines}");
				}
				other => panic!("parsing alone refused the file: {other}"),
			}
			return;
		}
	};

	let printed = toml::to_string(&config).unwrap_or_else(|err| panic!("{config:?} does not print: {err}"));
	match Config::from_toml(&printed, "printed") {
		Ok(again) => assert_eq!(again, config, "printed as\n{printed}"),
		Err(err) => panic!("the printed configuration is refused: {err}\n{printed}"),
	}
	assert_eq!(
		config.clone().merge(Config::default()),
		config,
		"an empty layer over it"
	);
	assert_eq!(
		Config::default().merge(config.clone()),
		config,
		"it over an empty layer"
	);

	let _ = config.limits.resolve();
	let _ = config.cluster.resolve();
	if let Some(hosts) = &config.tls.generate {
		let _ = Certificate::generate(hosts);
	}
	let names = config.tls.generate.clone().unwrap_or_default();
	let offline = |auth: &AuthConfig| AuthConfig {
		key: None,
		key_dir: None,
		jwks: None,
		revoked: None,
		service_url: None,
		signing_key: None,
		client_secret_key: None,
		jwks_url: None,
		..auth.clone()
	};
	let privacy_pass = |pp: &PrivacyPassConfig| PrivacyPassConfig {
		issuer_key: Some(vec![fuzz_issuer_key()]),
		directory: None,
		..pp.clone()
	};
	let auth = offline(&config.auth);
	let _ = auth.resolve().and_then(|resolved| auth.require(resolved));
	let _ = privacy_pass(&config.privacypass).resolve(&names);

	// The same with every API key and the Redis password replaced by canaries that no message of
	// the relay holds: a refusal that shows a canary would show the secret.
	let canary = |n: usize| format!("fuzzcanary{n}secret");
	let mut secret = config.clone();
	let keys = (secret.auth.api_keys.iter_mut().flatten())
		.chain(secret.auth.api_key.iter_mut().flatten().map(|entry| &mut entry.key));
	for (n, key) in keys.enumerate() {
		*key = SecretString::from(canary(n).as_str());
	}
	if let Some(url) = &mut secret.privacypass.redis {
		*url = with_redis_password(url, &canary(0));
	}
	let auth = offline(&secret.auth);
	let refusals = [
		auth.resolve().and_then(|resolved| auth.require(resolved)).err(),
		privacy_pass(&secret.privacypass).resolve(&names).err(),
	];
	for message in refusals.iter().flatten().map(ToString::to_string) {
		assert!(!message.contains("fuzzcanary"), "a secret in the refusal: {message}");
	}
}

/// `url` with the password of its userinfo, if it has one, replaced by `password`.
#[cfg(feature = "checks")]
fn with_redis_password(url: &str, password: &str) -> String {
	let Some((scheme, rest)) = url.split_once("://") else {
		return url.to_string();
	};
	let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
	let (authority, path) = rest.split_at(end);
	let Some((userinfo, host)) = authority.rsplit_once('@') else {
		return url.to_string();
	};
	let Some((user, _)) = userinfo.split_once(':') else {
		return url.to_string();
	};
	format!("{scheme}://{user}:{password}@{host}{path}")
}

/// A file holding the RFC 9578 Appendix A.2 issuer public key (base64 SPKI), written once per
/// process into the temporary directory (by rename, so a reader never sees half of it).
#[cfg(feature = "checks")]
fn fuzz_issuer_key() -> PathBuf {
	const RFC_9578_KEY: &str = "MIIBUjA9BgkqhkiG9w0BAQowMKANMAsGCWCGSAFlAwQCAqEaMBgGCSqGSIb3DQEBCDALBglghkgBZQMEAgKiAwIBMAOC\
		AQ8AMIIBCgKCAQEAyxrta2qV9bHOATpM/KsluUsuZKIwNOQlCn6rQ8DfOowSmTrxKxEZCNS0cb7DHUtsmtnN2pBhKi7p\
		A1I+beWiJNawLwnlw3TQz+Adj1KcUAp4ovZ5CPpoK1orQwyB6vGvcte155T8mKMTknaHl1fORTtSbvm/bOuZl5uEI7kP\
		RGGiKvN6qwz1cz91l6vkTTHHMttooYHGy75gfYwOUuBlX9mZbcWE7KC+h6+814ozfRex26noKLvYHikTFxROf/ifVWGX\
		CbCWy7nqR0zq0mTCBz/kl0DAHwDhCRBgZpg9IeX4PwhuLoI8h5zUPO9wDSo1Kpur1hLQPK0C2xNLfiJaXwIDAQAB";
	static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
	PATH.get_or_init(|| {
		let dir = std::env::temp_dir();
		let path = dir.join("moq-relay-config-fuzz-issuer-key.b64");
		let partial = dir.join(format!("moq-relay-config-fuzz-issuer-key.{}", std::process::id()));
		std::fs::write(&partial, RFC_9578_KEY).expect("writing the fuzz issuer key");
		std::fs::rename(&partial, &path).expect("placing the fuzz issuer key");
		path
	})
	.clone()
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
		assert_eq!(merged.auth.public, Some(vec!["anon".to_string()]));
		assert_eq!(merged.tls.cert, Some(PathBuf::from("c.pem")));
		assert_eq!(merged.server.drain, Some(Duration::from_secs(5)));
	}

	/// Every key set, to a value other than its default.
	const EVERY_KEY: &str = r#"
[server]
bind = ["127.0.0.1:5000", "[::1]:5000"]
drain = 7
port = 5001
[tls]
generate = ["relay.example"]
cert = "cert.pem"
key = "key.pem"
domain = ["relay.example", "www.relay.example"]
email = "ops@relay.example"
acme_cache = "/var/lib/moq-relay/acme"
acme_staging = true
acme_directory = "https://acme.example/directory"
acme_ca_root = "ca.pem"
[auth]
public = "anon"
public_publish = ["drop"]
public_subscribe = ["view"]
key = "root.jwk"
key_dir = "keys"
jwks = "keys.json"
revoked = "revoked.txt"
required = true
api_keys = ["every-key-secret-1"]
service_url = "https://auth.example/validate"
signing_key = "auth.pem"
service_timeout = 6
service_subject = "sayna-auth"
service_concurrency = 3
service_cache = 4
url = "https://auth.example/moq"
url_tls_root = "auth-ca.pem"
url_tls_cert = "relay.pem"
url_tls_key = "relay.key"
node = "relay-1"
operator = "127.0.0.1:9100"
client_secret_key = "client-secrets.jwk"
client_secret_origins = ["https://app.example"]
jwks_url = ["https://idp.example/jwks.json"]
jwks_refresh_min = "10s"
jwks_refresh_max = 600
jwks_timeout = "2s"
[[auth.identity]]
name = "app"
preset = "better-auth"
base_url = "https://app.example"
secret = "every-key-secret-3"
[[auth.api_key]]
name = "ops"
key = "every-key-secret-2"
root = "live"
pub = []
sub = [""]
[privacypass]
enabled = true
issuer = "issuer.example"
issuer_key = ["issuer.pub"]
directory = "https://issuer.example/dir"
redis = "redis://127.0.0.1:6379"
redis_tls_root = "redis-ca.pem"
root = "rooms"
pub = ["a"]
sub = [""]
challenge_ttl = 60
redemption_context = "empty"
origins = ["relay.example"]
setup_token_type = 7
[cluster]
connect = ["root:4443"]
token = "cluster.jwt"
node = "leaf:4443"
id = 9
tls_root = "ca.pem"
[limits]
handshake_timeout = "3s"
setup_timeout = "4s"
http_timeout = "5s"
max_connections = 11
max_pending = 12
max_pending_per_ip = 13
max_sessions_per_ip = 14
max_http_connections = 15
max_http_connections_per_ip = 18
pending_window = 20000
session_window = 30000
datagram_buffer = 16
max_queued_datagrams = 31
max_path = 23
max_broadcasts = 24
subscribe_rate = 25
handshake_rate = 28
auth_failures = 26
auth_cooldown = "27s"
max_message = 21
max_control_buffer = 22
max_frame = 17
max_group = 18
max_cache = 29
max_inflight_groups = 19
[web]
allowed_origins = ["https://app.example"]
demo = true
"#;

	/// Every `(table, key)` of the schema, from the configuration's own serde form.
	fn schema() -> Vec<(String, String)> {
		let serde_json::Value::Object(tables) = serde_json::to_value(Config::default()).unwrap() else {
			panic!("the configuration is a table of tables");
		};
		let mut keys = Vec::new();
		for (table, value) in tables {
			let serde_json::Value::Object(fields) = value else {
				panic!("[{table}] is a table");
			};
			keys.extend(fields.keys().map(|key| (table.clone(), key.clone())));
		}
		keys
	}

	#[test]
	fn every_key_has_a_flag_an_env_var_and_a_doc_line() {
		let command = Args::command();
		let docs = include_str!("../../../docs/config.md");
		let full: toml::Table = toml::from_str(EVERY_KEY).unwrap();
		let keys = schema();
		assert!(keys.len() >= 40, "{} keys", keys.len());
		for (table, key) in keys {
			let flag = format!("{table}-{}", key.replace('_', "-"));
			let env = format!("MOQ_{}_{}", table.to_uppercase(), key.to_uppercase());
			let arg = command
				.get_arguments()
				.find(|a| a.get_long() == Some(flag.as_str()))
				.unwrap_or_else(|| panic!("[{table}] {key} has no flag --{flag}"));
			assert_eq!(
				arg.get_env().and_then(|e| e.to_str()),
				Some(env.as_str()),
				"--{flag}'s environment variable"
			);
			assert!(
				docs.contains(&format!("`[{table}] {key}`")),
				"docs/config.md has no line for `[{table}] {key}`"
			);
			assert!(
				full.get(&table).and_then(|t| t.get(&key)).is_some(),
				"EVERY_KEY does not set [{table}] {key}"
			);
		}
	}

	#[test]
	fn every_key_survives_the_layer_merge() {
		let full = Config::from_toml(EVERY_KEY, "every key").unwrap();
		assert_eq!(Config::default().merge(full.clone()), full);
		assert_eq!(full.clone().merge(Config::default()), full);
		let limits = full.limits.resolve().unwrap();
		assert_eq!(limits.setup_timeout, Duration::from_secs(4));
		assert_eq!(limits.cache.max_group_bytes, 18);
		let flags =
			Args::try_parse_from(["moq-relay", "--limits-setup-timeout", "1m 30s", "--server-drain", "2"]).unwrap();
		let merged = full.merge(flags.layer());
		assert_eq!(merged.limits.setup_timeout, Some(Duration::from_secs(90)));
		assert_eq!(merged.server.drain, Some(Duration::from_secs(2)));
		assert_eq!(
			merged.limits.handshake_timeout,
			Some(Duration::from_secs(3)),
			"unset flags keep TOML"
		);
	}

	#[test]
	fn check_prints_the_settings_in_force_without_secrets() {
		let config = Config::defaults(true).merge(
			Config::from_toml(
				"[privacypass]\nredis = \"rediss://app:hunter2@cache.example:6380/0?token=abc\"\n",
				"t",
			)
			.unwrap(),
		);
		let report = config.check_report().unwrap();
		assert!(!report.contains("hunter2") && !report.contains("abc"), "{report}");
		assert!(
			report.contains("rediss://app:<redacted>@cache.example:6380/0?<redacted>"),
			"{report}"
		);
		assert!(report.contains("setup_timeout = \"10s\""), "{report}");
		assert!(report.contains("public = [\"anon\"]"), "{report}");
		let back = Config::from_toml(&report, "report").unwrap();
		assert_eq!(back.limits.max_pending_per_ip, Some(50));
		assert!(
			Config::defaults(false)
				.merge(Config::from_toml("[auth]\nkey = \"/nonexistent/root.jwk\"\n", "t").unwrap())
				.check_report()
				.unwrap_err()
				.to_string()
				.contains("/nonexistent/root.jwk")
		);
	}

	#[test]
	fn unknown_keys_are_named_with_the_nearest_valid_key() {
		let err = Config::from_toml("[server]\nbnid = \"x\"\n", "relay.toml").unwrap_err();
		assert_eq!(
			err.to_string(),
			"relay.toml:2: unknown key `bnid` in [server]: did you mean `bind`?"
		);
		let err = Config::from_toml("[limits]\nmax_pending_per_address = 3\n", "relay.toml").unwrap_err();
		assert_eq!(
			err.to_string(),
			"relay.toml:2: unknown key `max_pending_per_address` in [limits]: did you mean `max_pending_per_ip`?"
		);
		let err = Config::from_toml("[nope]\n", "relay.toml").unwrap_err();
		assert_eq!(
			err.to_string(),
			"relay.toml:1: unknown key `nope`: valid keys are server, tls, auth, privacypass, cluster, limits, web"
		);
		let err = Config::from_toml("[privacypass]\nenable = true\n", "t").unwrap_err();
		assert_eq!(
			err.to_string(),
			"t:2: unknown key `enable` in [privacypass]: did you mean `enabled`?"
		);
	}

	#[test]
	fn privacy_pass_flags_and_toml() {
		let args = Args::try_parse_from([
			"moq-relay",
			"--pp-enabled",
			"--pp-issuer",
			"issuer.local",
			"--pp-issuer-key",
			"a.pub",
			"--pp-issuer-key",
			"b.pub",
			"--privacypass-sub",
			"",
			"--tls-generate=localhost",
		])
		.unwrap();
		let layer = args.layer().privacypass;
		assert_eq!(layer.enabled, Some(true));
		assert_eq!(layer.issuer.as_deref(), Some("issuer.local"));
		assert_eq!(
			layer.issuer_key,
			Some(vec![PathBuf::from("a.pub"), PathBuf::from("b.pub")])
		);
		assert_eq!(layer.subscribe, Some(vec![String::new()]));
		let args = Args::try_parse_from(["moq-relay", "--pp-enabled=false"]).unwrap();
		assert_eq!(args.privacypass.enabled, Some(false));
		assert_eq!(
			Args::try_parse_from(["moq-relay"]).unwrap().layer().privacypass,
			PrivacyPassConfig::default()
		);

		let toml = Config::from_toml(
			"[privacypass]\nenabled = true\nissuer = \"i.example\"\nissuer_key = \"k.pem\"\nroot = \"rooms\"\npub = \"\"\nsub = [\"a\", \"b\"]\nredis = \"redis://127.0.0.1:1\"\nchallenge_ttl = 60\nredemption_context = \"empty\"\norigins = \"relay.example\"\n",
			"t",
		)
		.unwrap();
		assert_eq!(toml.privacypass.issuer_key, Some(vec![PathBuf::from("k.pem")]));
		assert_eq!(toml.privacypass.publish, Some(vec![String::new()]));
		assert_eq!(toml.privacypass.subscribe, Some(vec!["a".into(), "b".into()]));
	}

	#[test]
	fn privacy_pass_needs_a_grant_and_good_keys() {
		let enabled = PrivacyPassConfig {
			enabled: Some(true),
			..PrivacyPassConfig::default()
		};
		let err = enabled.resolve(&[]).unwrap_err();
		assert!(err.to_string().starts_with("privacypass.sub:"), "{err}");
		assert!(PrivacyPassConfig::default().resolve(&[]).unwrap().is_none());

		let missing = PrivacyPassConfig {
			subscribe: Some(vec![String::new()]),
			issuer_key: Some(vec![PathBuf::from("/nonexistent/issuer.pub")]),
			..enabled.clone()
		};
		let err = missing.resolve(&[]).unwrap_err().to_string();
		assert!(err.contains("/nonexistent/issuer.pub"), "{err}");

		let ok = PrivacyPassConfig {
			subscribe: Some(vec![String::new()]),
			..enabled.clone()
		};
		let pp = ok.resolve(&["relay.example".into()]).unwrap().unwrap();
		assert_eq!(pp.issuer(), DEFAULT_ISSUER);
		assert_eq!(
			pp.directory_url(),
			Some("https://demo-pat.issuer.cloudflare.com/.well-known/private-token-issuer-directory")
		);
		let err = Config::from_toml("[privacypass]\nredemption_context = \"random\"\n", "t").unwrap_err();
		assert!(
			err.to_string().starts_with("t:2: ") && err.to_string().contains("fresh"),
			"{err}"
		);
		let zero = PrivacyPassConfig {
			challenge_ttl: Some(Duration::ZERO),
			..ok.clone()
		};
		assert!(zero.resolve(&[]).unwrap_err().to_string().contains("challenge_ttl"));
		assert_eq!(ok.resolve(&[]).unwrap().unwrap().setup_token_type(), 2);
		let out_of_band = PrivacyPassConfig {
			setup_token_type: Some(0),
			..ok.clone()
		};
		let err = out_of_band.resolve(&[]).unwrap_err().to_string();
		assert!(err.starts_with("privacypass.setup_token_type: 0 "), "{err}");
		let toml = Config::from_toml("[privacypass]\nsetup_token_type = 7\n", "t").unwrap();
		assert_eq!(toml.privacypass.setup_token_type, Some(7));
		let bad = PrivacyPassConfig {
			redis: Some("http://nope".into()),
			..ok.clone()
		};
		assert!(bad.resolve(&[]).unwrap_err().to_string().starts_with("privacypass:"));
		// The Redis CA file: only with a rediss:// URL, and it must be readable PEM certificates.
		let ca_file = |text: &str| {
			let file =
				std::env::temp_dir().join(format!("moq-relay-redis-ca-{}-{}.pem", std::process::id(), text.len()));
			std::fs::write(&file, text).unwrap();
			file
		};
		let with_root = |redis: Option<&str>, root: PathBuf| PrivacyPassConfig {
			redis: redis.map(str::to_string),
			redis_tls_root: Some(root),
			..ok.clone()
		};
		let pem = rcgen::generate_simple_self_signed(vec!["redis.test".into()])
			.unwrap()
			.cert
			.pem();
		let (good, empty) = (ca_file(&pem), ca_file("no certificate here\n"));
		assert!(
			with_root(Some("rediss://127.0.0.1:6380"), good.clone())
				.resolve(&[])
				.unwrap()
				.is_some()
		);
		for (config, expected) in [
			(
				with_root(None, good.clone()),
				"privacypass.redis_tls_root: it applies to a rediss:// privacypass.redis, and none is set",
			),
			(
				with_root(Some("redis://127.0.0.1:6379"), good.clone()),
				"privacypass: invalid nonce store configuration: Redis CA certificates: only a rediss:// (TLS) URL uses them",
			),
			(
				with_root(Some("rediss://127.0.0.1:6380"), empty.clone()),
				"privacypass: invalid nonce store configuration: Redis CA certificates: no CERTIFICATE block in the file",
			),
			(
				with_root(Some("rediss://127.0.0.1:6380"), PathBuf::from("/nonexistent/ca.pem")),
				"privacypass.redis_tls_root: cannot read /nonexistent/ca.pem: ",
			),
		] {
			let err = config.resolve(&[]).unwrap_err().to_string();
			assert!(err.starts_with(expected), "{err}");
		}
		let _ = (std::fs::remove_file(good), std::fs::remove_file(empty));
	}

	/// moshi-server's and Sayna's variables are read under their own names, above the file and below `MOQ_*`
	/// and flags; a bad value names the variable.
	#[test]
	fn moshi_and_sayna_environment_variables_are_aliases() {
		let env = |pairs: &'static [(&'static str, &'static str)]| {
			move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
		};
		let layer = AuthConfig::from_compat_env(env(&[
			("MOSHI_API_KEY", "secret_token_1, secret_token_2"),
			("MOQ_API_KEYS", "moq-key"),
			("AUTH_API_SECRET", "sayna,secret"),
			("AUTH_REQUIRED", "TRUE"),
			("AUTH_SERVICE_URL", "https://auth.example/validate"),
			("AUTH_SIGNING_KEY_PATH", "/keys/private.pem"),
			("AUTH_TIMEOUT_SECONDS", "10"),
		]))
		.unwrap();
		let keys: Vec<&str> = layer.api_keys.iter().flatten().map(SecretString::expose).collect();
		assert_eq!(keys, ["moq-key", "secret_token_1", "secret_token_2", "sayna,secret"]);
		assert_eq!(layer.required, Some(true));
		assert_eq!(layer.service_url.as_deref(), Some("https://auth.example/validate"));
		assert_eq!(layer.signing_key, Some(PathBuf::from("/keys/private.pem")));
		assert_eq!(layer.service_timeout, Some(Duration::from_secs(10)));
		assert_eq!(
			AuthConfig::from_compat_env(env(&[])).unwrap(),
			AuthConfig::default(),
			"nothing set, nothing layered"
		);
		assert_eq!(
			AuthConfig::from_compat_env(env(&[("AUTH_REQUIRED", "")]))
				.unwrap()
				.required,
			None
		);
		for (name, value) in [("AUTH_REQUIRED", "maybe"), ("AUTH_TIMEOUT_SECONDS", "soon")] {
			let pairs: &'static [(&str, &str)] = Box::leak(Box::new([(name, value)]));
			let err = AuthConfig::from_compat_env(env(pairs)).unwrap_err().to_string();
			assert!(err.starts_with(name), "{err}");
		}
		// MOQ_AUTH_* (and flags) are a higher layer.
		let compat = Config {
			auth: AuthConfig::from_compat_env(env(&[("AUTH_REQUIRED", "false")])).unwrap(),
			..Config::default()
		};
		let flags = Args::try_parse_from(["moq-relay", "--auth-required"]).unwrap().layer();
		assert_eq!(Config::default().merge(compat).merge(flags).auth.required, Some(true));
	}

	/// `authorized_ids` as moshi-server's file has it (top level), or in `[auth]`; named entries
	/// in TOML and as flags; `--check` never prints a key.
	#[test]
	fn api_keys_in_toml_flags_and_the_check_report() {
		let moshi = Config::from_toml(
			"authorized_ids = [\"secret_token_1\"]\n[server]\nbnid = 1\n",
			"config.toml",
		)
		.unwrap_err();
		assert_eq!(
			moshi.to_string(),
			"config.toml:3: unknown key `bnid` in [server]: did you mean `bind`?",
			"lines keep their numbers"
		);
		let moshi = Config::from_toml("authorized_ids = [\"secret_token_1\"]\n", "config.toml").unwrap();
		assert_eq!(moshi.auth.api_keys, Some(vec![SecretString::from("secret_token_1")]));
		let inside = Config::from_toml("[auth]\nauthorized_ids = [\"a\", \"b\"]\n", "t").unwrap();
		assert_eq!(inside.auth.api_keys.map(|k| k.len()), Some(2));

		let entries = Config::from_toml(
			"[[auth.api_key]]\nname = \"ops\"\nkey = \"k1\"\n[[auth.api_key]]\nname = \"viewer\"\nkey = \"k2\"\nroot = \"live\"\npub = []\nsub = \"\"\n",
			"t",
		)
		.unwrap();
		let viewer = &entries.auth.api_key.as_ref().unwrap()[1];
		assert_eq!(
			(viewer.root.as_deref(), viewer.publish.clone(), viewer.subscribe.clone()),
			(Some("live"), Some(vec![]), Some(vec![String::new()]))
		);
		let flags = Args::try_parse_from([
			"moq-relay",
			"--auth-api-key",
			"{name = \"viewer\", key = \"k2\", root = \"live\", pub = [], sub = \"\"}",
			"--auth-api-keys",
			"x1,x2",
		])
		.unwrap()
		.layer();
		assert_eq!(flags.auth.api_key.as_ref().unwrap()[0], *viewer);
		assert_eq!(flags.auth.api_keys.as_ref().map(Vec::len), Some(2));
		let bad = Args::try_parse_from([
			"moq-relay",
			"--auth-api-key",
			"{name = \"x\", key = \"hunter2\", extra = 1}",
		])
		.unwrap_err()
		.to_string();
		assert!(!bad.contains("hunter2") && bad.contains("inline TOML table"), "{bad}");

		let config = Config::defaults(false).merge(entries).merge(flags);
		let auth = config.auth.resolve().unwrap();
		assert!(auth.verifies_tokens());
		let report = config.check_report().unwrap();
		for secret in ["k1", "k2", "x1", "x2"] {
			assert!(!report.contains(&format!("\"{secret}\"")), "{report}");
		}
		assert!(report.contains("<redacted>"), "{report}");
		assert!(!format!("{config:?}").contains("x1"));
		let dup = Config::from_toml("[auth]\napi_keys = [\"same\", \"same\"]\n", "t").unwrap();
		assert!(dup.auth.resolve().unwrap_err().to_string().starts_with("auth.api_keys"));
	}

	/// Every secret a configuration may hold stays out of its `Debug` output (a log line, a
	/// panic): URLs' passwords and queries, API keys, identity secrets.
	#[test]
	fn debug_output_redacts_every_secret() {
		let text = r#"
[auth]
url = "https://auth.example/check?api_key=url-query-secret"
service_url = "https://user:service-password@auth.example/validate"
jwks_url = ["https://keys.example/jwks.json?sig=jwks-query-secret"]
api_keys = ["plain-api-key-secret"]
[[auth.api_key]]
name = "ops"
key = "named-api-key-secret"
[[auth.identity]]
name = "oidc"
discovery_url = "https://id.example/.well-known/openid-configuration?k=discovery-secret"
[[auth.identity]]
name = "app"
preset = "better-auth"
base_url = "https://app.example"
secret = "better-auth-secret"
[privacypass]
redis = "rediss://:redis-password@redis.example:6380"
directory = "https://issuer.example/dir?t=directory-secret"
"#;
		let config = Config::from_toml(text, "t").unwrap();
		let shown = format!("{config:?} {:?} {:?}", config.auth, config.privacypass);
		for secret in [
			"url-query-secret",
			"service-password",
			"jwks-query-secret",
			"plain-api-key-secret",
			"named-api-key-secret",
			"discovery-secret",
			"better-auth-secret",
			"redis-password",
			"directory-secret",
		] {
			assert!(!shown.contains(secret), "{secret} in {shown}");
		}
		for kept in ["auth.example/check", "redis.example:6380", "id.example", "<redacted>"] {
			assert!(shown.contains(kept), "{kept} missing from {shown}");
		}
	}

	/// `required = true` with no method is a start-up error naming the variables; `false` with none
	/// is fully open.
	#[test]
	fn required_auth_needs_a_method() {
		let required = |toml: &str| {
			Config::defaults(false)
				.merge(Config::from_toml(toml, "t").unwrap())
				.resolve()
		};
		let err = required("[auth]\nrequired = true\n").unwrap_err().to_string();
		assert!(
			err.starts_with("auth.required: Auth required but no method configured"),
			"{err}"
		);
		for variable in ["AUTH_API_SECRET", "AUTH_SERVICE_URL", "AUTH_SIGNING_KEY_PATH"] {
			assert!(err.contains(variable), "{err}");
		}
		assert!(required("[auth]\nrequired = true\napi_keys = [\"k-0123456789abcdef\"]\n").is_ok());
		let open = required("[auth]\nrequired = false\n").unwrap().auth;
		assert_eq!(open.public(), &Public::both(moq_token::Path::root()));
		assert!(!open.verifies_tokens());
		let err = required("[auth]\nservice_url = \"https://auth.example/v\"\n")
			.unwrap_err()
			.to_string();
		assert!(
			err.starts_with("auth.signing_key") && err.contains("AUTH_SIGNING_KEY_PATH"),
			"{err}"
		);
		let err = required("[auth]\nservice_url = \"https://a/v\"\nsigning_key = \"/nonexistent/private.pem\"\n")
			.unwrap_err()
			.to_string();
		assert!(err.contains("/nonexistent/private.pem"), "{err}");
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
		assert_eq!(args.tls.generate, Some(vec!["x".into(), "y".into()]));
	}

	/// moshi-server's `--port 443`: the port of every bind address, the defaults' and a file's alike.
	#[test]
	fn port_sets_the_port_of_every_bind_address() {
		let port = |base: Config, flags: &[&str]| {
			let args = Args::try_parse_from([&["moq-relay"], flags].concat()).unwrap();
			base.merge(args.layer()).resolve().unwrap().bind
		};
		let all: Vec<SocketAddr> = vec!["[::]:443".parse().unwrap()];
		assert_eq!(port(Config::defaults(false), &["--port", "443"]), all);
		assert_eq!(port(Config::defaults(false), &["--server-port", "443"]), all);
		let dev: Vec<SocketAddr> = vec!["127.0.0.1:443".parse().unwrap(), "[::1]:443".parse().unwrap()];
		assert_eq!(port(Config::defaults(true), &["--port", "443"]), dev);
		let file = Config::from_toml("[server]\nbind = \"10.0.0.1:4443\"\nport = 8443\n", "test").unwrap();
		assert_eq!(
			port(Config::defaults(false).merge(file), &[]),
			vec!["10.0.0.1:8443".parse::<SocketAddr>().unwrap()]
		);
		assert!(Args::try_parse_from(["moq-relay", "--port", "65536"]).is_err());
	}

	/// `docs/auth.md` ("Anonymous access"): upstream's pattern spelling of the public grant reads the
	/// same here; a value without a wildcard stays a prefix; a bad pattern names its key.
	#[test]
	fn public_grants_are_prefixes_or_upstreams_patterns() {
		let auth = |toml: &str| {
			Config::from_toml(&format!("[auth]\n{toml}\n"), "t")
				.unwrap()
				.auth
				.resolve()
		};
		let path = |p: &str| moq_token::Path::new(p).unwrap();
		let public = auth(
			r#"public = ["anon/**", "live"]
public_subscribe = "*/screen""#,
		)
		.unwrap()
		.public()
		.clone();
		assert_eq!(public.prefixes(), vec![path("anon"), path("live")]);
		assert!(public.publish.matches(&path("anon/x")) && public.publish.matches(&path("live/x")));
		assert!(public.subscribe.matches(&path("alice/screen")) && !public.publish.matches(&path("alice/screen")));
		assert_eq!(
			auth(r#"public = "anon""#).unwrap().public(),
			auth(r#"public = "anon/**""#).unwrap().public()
		);
		let err = auth(r#"public = "a/**/b/**""#).unwrap_err().to_string();
		assert!(err.starts_with("auth.public"), "{err}");
	}

	/// `[[auth.api_key]]` grants read prefixes and patterns as `[auth] public` does.
	#[tokio::test]
	async fn api_key_grants_take_patterns() {
		let auth = Config::from_toml(
			"[[auth.api_key]]\nname = \"screens\"\nkey = \"screens-secret-0123\"\npub = []\nsub = [\"*/screen\", \"live\"]\n",
			"t",
		)
		.unwrap()
		.auth
		.resolve()
		.unwrap();
		let request = crate::auth::ConnectRequest::parse("/?jwt=screens-secret-0123").unwrap();
		let grant = auth.authorize(&request).await.unwrap();
		let path = |p: &str| moq_token::Path::new(p).unwrap();
		assert!(grant.can_subscribe(&path("alice/screen")) && grant.can_subscribe(&path("live/x")));
		assert!(!grant.can_subscribe(&path("alice/cam")) && !grant.can_publish(&path("alice/screen")));
		let bad = Config::from_toml(
			"[[auth.api_key]]\nname = \"bad\"\nkey = \"bad-secret-0123456\"\nsub = [\"a/**/b/**\"]\n",
			"t",
		)
		.unwrap()
		.auth
		.resolve()
		.unwrap_err()
		.to_string();
		assert!(bad.starts_with("auth.api_key") && bad.contains("bad:"), "{bad}");
	}

	#[test]
	fn dev_defaults_are_public_anon_on_localhost() {
		let dev = Config::defaults(true);
		assert_eq!(dev.auth.public, Some(vec!["anon".to_string()]));
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

	#[test]
	fn cluster_keys_layer_and_bad_entries_are_start_up_errors() {
		let toml = Config::from_toml(
			"[cluster]\nconnect = \"root-relay:4443\"\ntoken = \"dev/cluster.jwt\"\nid = 7\n",
			"leaf.toml",
		)
		.unwrap();
		let flags = Args::try_parse_from([
			"moq-relay",
			"--cluster-connect",
			"http://a:1,b:2",
			"--cluster-node",
			"me:3",
		])
		.unwrap()
		.layer();
		let merged = toml.clone().merge(flags);
		assert_eq!(merged.cluster.connect, Some(vec!["http://a:1".into(), "b:2".into()]));
		assert_eq!(
			merged.cluster.token,
			Some("dev/cluster.jwt".into()),
			"an absent flag keeps the TOML value"
		);
		assert_eq!(merged.cluster.id, Some(7));
		let settings = merged.cluster.resolve().unwrap();
		assert_eq!(settings.connect.len(), 2);
		assert_eq!(toml.cluster.resolve().unwrap().connect[0].host, "root-relay");

		let bad = |cluster: ClusterConfig| cluster.resolve().unwrap_err().to_string();
		let with = |connect: &str| ClusterConfig {
			connect: Some(vec![connect.into()]),
			..ClusterConfig::default()
		};
		assert!(bad(with("no-port")).starts_with("cluster.connect"));
		let err = bad(with("https://a:1/?jwt=secret"));
		assert!(!err.contains("secret"), "{err}");
		for id in [0, 1 << 62] {
			let err = bad(ClusterConfig {
				id: Some(id),
				..ClusterConfig::default()
			});
			assert!(err.starts_with("cluster.id"), "{err}");
		}
	}
}
