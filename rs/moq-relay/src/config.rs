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

use crate::auth::{Auth, DEFAULT_ISSUER, PrivacyPass, PrivacyPassSettings, Public};
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

/// `[privacypass]` (relay.md §4, `seeds/002`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PrivacyPassConfig {
	/// Accept Privacy Pass tokens and challenge sessions without a credential.
	pub enabled: Option<bool>,
	/// Issuer name in challenges (default `demo-pat.issuer.cloudflare.com`).
	pub issuer: Option<String>,
	/// Issuer public key file(s): SPKI (RSASSA-PSS OID) as base64, PEM or DER, used byte-exact.
	#[serde(default, deserialize_with = "one_or_many")]
	pub issuer_key: Option<Vec<PathBuf>>,
	/// Issuer directory URL; its type-2 keys are used too and refreshed per `Cache-Control`. Default:
	/// `https://<issuer>/.well-known/private-token-issuer-directory` when no `issuer_key` is given.
	pub directory: Option<String>,
	/// Redis URL of the nonce store shared by relays that share challenges (default: in memory).
	pub redis: Option<String>,
	/// Root of the grant given to Privacy Pass sessions (default `""`).
	pub root: Option<String>,
	/// Publish prefixes of that grant, relative to `root`. No default.
	#[serde(default, rename = "pub", deserialize_with = "one_or_many")]
	pub publish: Option<Vec<String>>,
	/// Subscribe prefixes of that grant, relative to `root`. No default.
	#[serde(default, rename = "sub", deserialize_with = "one_or_many")]
	pub subscribe: Option<Vec<String>>,
	/// Seconds an issued challenge is accepted (default 300).
	pub challenge_ttl: Option<u64>,
	/// `"fresh"` (32 random bytes per challenge, default) or `"empty"` (one challenge for every
	/// session: tokens can be fetched ahead, and relays with the same configuration share it).
	pub redemption_context: Option<String>,
	/// The relay's names for the challenges' `origin_info` (default: the `[tls] generate` names).
	#[serde(default, deserialize_with = "one_or_many")]
	pub origins: Option<Vec<String>>,
}

/// `[cluster]` (relay.md §5, `seeds/003` "Cluster Authentication").
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
	/// Relays to dial (`host:port`, `https://host:port`, or `http://host:port` to pin the
	/// certificate served at `/certificate.sha256`); a string or a list. None = a root.
	#[serde(default, deserialize_with = "one_or_many")]
	pub connect: Option<Vec<String>>,
	/// File with the cluster token (`moq-token sign --cluster`), re-read on every dial.
	pub token: Option<PathBuf>,
	/// The address other relays may dial this one at.
	pub node: Option<String>,
	/// This relay's hop id (1..2^62); random per process when unset.
	pub id: Option<u64>,
	/// CA file trusted for links (else the system CA bundle).
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
	#[arg(long = "limits-handshake-timeout", env = "MOQ_LIMITS_HANDSHAKE_TIMEOUT", value_parser = humantime::parse_duration)]
	#[serde(default, with = "humantime_serde")]
	pub handshake_timeout: Option<Duration>,
	/// `[limits] setup_timeout`: time for the client's SETUP once connected (default 10s).
	#[arg(long = "limits-setup-timeout", env = "MOQ_LIMITS_SETUP_TIMEOUT", value_parser = humantime::parse_duration)]
	#[serde(default, with = "humantime_serde")]
	pub setup_timeout: Option<Duration>,
	/// `[limits] http_timeout`: time for an HTTP connection's first byte, TLS handshake and each
	/// request's headers, and the longest idle keep-alive (default 10s).
	#[arg(long = "limits-http-timeout", env = "MOQ_LIMITS_HTTP_TIMEOUT", value_parser = humantime::parse_duration)]
	#[serde(default, with = "humantime_serde")]
	pub http_timeout: Option<Duration>,
	/// `[limits] max_connections`: QUIC connections at once, admitted or not (default 10000).
	#[arg(long = "limits-max-connections", env = "MOQ_LIMITS_MAX_CONNECTIONS")]
	pub max_connections: Option<usize>,
	/// `[limits] max_pending`: QUIC connections not yet admitted, in total (default 1000).
	#[arg(long = "limits-max-pending", env = "MOQ_LIMITS_MAX_PENDING")]
	pub max_pending: Option<usize>,
	/// `[limits] max_pending_per_ip`: of those, from one address or IPv6 /64 (default 50).
	#[arg(long = "limits-max-pending-per-ip", env = "MOQ_LIMITS_MAX_PENDING_PER_IP")]
	pub max_pending_per_ip: Option<usize>,
	/// `[limits] max_sessions_per_ip`: admitted sessions from one address or IPv6 /64 (default 2000).
	#[arg(long = "limits-max-sessions-per-ip", env = "MOQ_LIMITS_MAX_SESSIONS_PER_IP")]
	pub max_sessions_per_ip: Option<usize>,
	/// `[limits] max_http_connections`: HTTP connections at once (default 1000).
	#[arg(long = "limits-max-http-connections", env = "MOQ_LIMITS_MAX_HTTP_CONNECTIONS")]
	pub max_http_connections: Option<usize>,
	/// `[limits] pending_window`: bytes a connection may send before admission, all streams
	/// together (default 65536, at least 16384).
	#[arg(long = "limits-pending-window", env = "MOQ_LIMITS_PENDING_WINDOW")]
	pub pending_window: Option<u64>,
	/// `[limits] session_window`: the same for an admitted session (default 16777216).
	#[arg(long = "limits-session-window", env = "MOQ_LIMITS_SESSION_WINDOW")]
	pub session_window: Option<u64>,
	/// `[limits] datagram_buffer`: bytes of incoming datagrams buffered per connection (default 65536).
	#[arg(long = "limits-datagram-buffer", env = "MOQ_LIMITS_DATAGRAM_BUFFER")]
	pub datagram_buffer: Option<usize>,
	/// `[limits] max_frame`: the largest frame a publisher may send, in bytes, refused from its
	/// header (default 16777216).
	#[arg(long = "limits-max-frame", env = "MOQ_LIMITS_MAX_FRAME")]
	pub max_frame: Option<usize>,
	/// `[limits] max_group`: the largest group, in bytes, refused once a frame header would pass it
	/// (default 16777216).
	#[arg(long = "limits-max-group", env = "MOQ_LIMITS_MAX_GROUP")]
	pub max_group: Option<usize>,
	/// `[limits] max_inflight_groups`: groups in flight per subscription before the oldest is
	/// dropped for a slow subscriber (default 4).
	#[arg(long = "limits-max-inflight-groups", env = "MOQ_LIMITS_MAX_INFLIGHT_GROUPS")]
	pub max_inflight_groups: Option<usize>,
}

impl LimitsConfig {
	/// `over` wins wherever it sets a value. Generic over the keys (a serde round trip), so a new
	/// key is written once, in the struct.
	pub fn merge(self, over: Self) -> Self {
		overlay(self, over)
	}

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
			pending_window,
			session_window,
			datagram_buffer: self.datagram_buffer.unwrap_or(defaults.datagram_buffer),
			max_frame: count("limits.max_frame", self.max_frame, defaults.max_frame)?,
			max_inflight_groups: count(
				"limits.max_inflight_groups",
				self.max_inflight_groups,
				defaults.max_inflight_groups,
			)?,
			cache: crate::origin::CachePolicy {
				max_group_bytes: count("limits.max_group", self.max_group, defaults.cache.max_group_bytes)?,
				..defaults.cache
			},
		})
	}
}

/// Every key `over` sets replaces `base`'s: a layer merge that names no key. Both are plain
/// configuration structs, so their JSON forms are objects of values or `null`.
fn overlay<T: Serialize + serde::de::DeserializeOwned + Clone>(base: T, over: T) -> T {
	let (Ok(serde_json::Value::Object(mut merged)), Ok(serde_json::Value::Object(top))) =
		(serde_json::to_value(&base), serde_json::to_value(&over))
	else {
		return base;
	};
	for (key, value) in top {
		if !value.is_null() {
			merged.insert(key, value);
		}
	}
	serde_json::from_value(serde_json::Value::Object(merged)).unwrap_or(base)
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
	/// `[privacypass]`.
	#[serde(default)]
	pub privacypass: PrivacyPassConfig,
	/// `[cluster]`.
	#[serde(default)]
	pub cluster: ClusterConfig,
	/// `[limits]`.
	#[serde(default)]
	pub limits: LimitsConfig,
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
		let redemption_context = match self.redemption_context.as_deref() {
			None | Some("fresh") => moq_privacy_pass::RedemptionContext::Fresh,
			Some("empty") => moq_privacy_pass::RedemptionContext::Empty,
			Some(other) => {
				return Err(invalid(
					"privacypass.redemption_context",
					format!("{other:?} is neither \"fresh\" nor \"empty\""),
				));
			}
		};
		let challenge_ttl = Duration::from_secs(self.challenge_ttl.unwrap_or(300));
		if challenge_ttl.is_zero() {
			return Err(invalid("privacypass.challenge_ttl", "must be at least 1 second".into()));
		}
		let settings = PrivacyPassSettings {
			issuer,
			keys,
			directory,
			redis: self.redis.clone(),
			root,
			publish,
			subscribe,
			challenge_ttl,
			redemption_context,
			origins: self.origins.clone().unwrap_or_else(|| tls_names.to_vec()),
		};
		PrivacyPass::new(settings)
			.map(Some)
			.map_err(|e| invalid("privacypass", e.to_string()))
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
	about = "A Media over QUIC relay (moq-lite-04/05/06 over QUIC and WebTransport)"
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
	/// `[privacypass] enabled`: accept Privacy Pass tokens, challenge sessions without a credential.
	#[arg(
		long = "pp-enabled",
		alias = "privacypass-enabled",
		env = "MOQ_PRIVACYPASS_ENABLED",
		num_args = 0..=1,
		require_equals = true,
		default_missing_value = "true"
	)]
	pub pp_enabled: Option<bool>,
	/// `[privacypass] issuer`: issuer name in challenges (default demo-pat.issuer.cloudflare.com).
	#[arg(long = "pp-issuer", alias = "privacypass-issuer", env = "MOQ_PRIVACYPASS_ISSUER")]
	pub pp_issuer: Option<String>,
	/// `[privacypass] issuer_key`: issuer public key file (SPKI; base64, PEM or DER); repeatable.
	#[arg(
		long = "pp-issuer-key",
		alias = "privacypass-issuer-key",
		env = "MOQ_PRIVACYPASS_ISSUER_KEY"
	)]
	pub pp_issuer_key: Option<Vec<PathBuf>>,
	/// `[privacypass] directory`: issuer directory URL (keys refreshed per Cache-Control).
	#[arg(
		long = "privacypass-directory",
		alias = "pp-directory",
		env = "MOQ_PRIVACYPASS_DIRECTORY"
	)]
	pub privacypass_directory: Option<String>,
	/// `[privacypass] redis`: Redis URL of the shared nonce store (redis://[:password@]host[:port][/db]).
	#[arg(long = "privacypass-redis", alias = "pp-redis", env = "MOQ_PRIVACYPASS_REDIS")]
	pub privacypass_redis: Option<String>,
	/// `[privacypass] root`: root of the Privacy Pass sessions' grant.
	#[arg(long = "privacypass-root", alias = "pp-root", env = "MOQ_PRIVACYPASS_ROOT")]
	pub privacypass_root: Option<String>,
	/// `[privacypass] pub`: publish prefixes of that grant (relative to root).
	#[arg(
		long = "privacypass-pub",
		alias = "pp-pub",
		env = "MOQ_PRIVACYPASS_PUB",
		value_delimiter = ','
	)]
	pub privacypass_pub: Option<Vec<String>>,
	/// `[privacypass] sub`: subscribe prefixes of that grant (relative to root; "" = everything).
	#[arg(
		long = "privacypass-sub",
		alias = "pp-sub",
		env = "MOQ_PRIVACYPASS_SUB",
		value_delimiter = ','
	)]
	pub privacypass_sub: Option<Vec<String>>,
	/// `[privacypass] challenge_ttl`: seconds an issued challenge is accepted.
	#[arg(
		long = "privacypass-challenge-ttl",
		alias = "pp-challenge-ttl",
		env = "MOQ_PRIVACYPASS_CHALLENGE_TTL"
	)]
	pub privacypass_challenge_ttl: Option<u64>,
	/// `[privacypass] redemption_context`: "fresh" or "empty".
	#[arg(
		long = "privacypass-redemption-context",
		alias = "pp-redemption-context",
		env = "MOQ_PRIVACYPASS_REDEMPTION_CONTEXT"
	)]
	pub privacypass_redemption_context: Option<String>,
	/// `[privacypass] origins`: the relay's names in the challenges' origin_info.
	#[arg(
		long = "privacypass-origins",
		alias = "pp-origins",
		env = "MOQ_PRIVACYPASS_ORIGINS",
		value_delimiter = ','
	)]
	pub privacypass_origins: Option<Vec<String>>,
	/// `[cluster] connect`: relays to dial, comma-separated or repeated.
	#[arg(long = "cluster-connect", env = "MOQ_CLUSTER_CONNECT", value_delimiter = ',')]
	pub cluster_connect: Option<Vec<String>>,
	/// `[cluster] token`: file with the cluster token, re-read on every dial.
	#[arg(long = "cluster-token", env = "MOQ_CLUSTER_TOKEN")]
	pub cluster_token: Option<PathBuf>,
	/// `[cluster] node`: the address other relays may dial this one at.
	#[arg(long = "cluster-node", env = "MOQ_CLUSTER_NODE")]
	pub cluster_node: Option<String>,
	/// `[cluster] id`: this relay's hop id (1..2^62).
	#[arg(long = "cluster-id", env = "MOQ_CLUSTER_ID")]
	pub cluster_id: Option<u64>,
	/// `[cluster] tls_root`: CA file trusted for cluster links.
	#[arg(long = "cluster-tls-root", env = "MOQ_CLUSTER_TLS_ROOT")]
	pub cluster_tls_root: Option<PathBuf>,
	/// `[limits]`.
	#[command(flatten)]
	pub limits: LimitsConfig,
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
			privacypass: PrivacyPassConfig {
				enabled: self.pp_enabled,
				issuer: self.pp_issuer.clone(),
				issuer_key: self.pp_issuer_key.clone(),
				directory: self.privacypass_directory.clone(),
				redis: self.privacypass_redis.clone(),
				root: self.privacypass_root.clone(),
				publish: self.privacypass_pub.clone(),
				subscribe: self.privacypass_sub.clone(),
				challenge_ttl: self.privacypass_challenge_ttl,
				redemption_context: self.privacypass_redemption_context.clone(),
				origins: self.privacypass_origins.clone(),
			},
			cluster: ClusterConfig {
				connect: self.cluster_connect.clone(),
				token: self.cluster_token.clone(),
				node: self.cluster_node.clone(),
				id: self.cluster_id,
				tls_root: self.cluster_tls_root.clone(),
			},
			limits: self.limits.clone(),
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
			privacypass: PrivacyPassConfig {
				enabled: over.privacypass.enabled.or(self.privacypass.enabled),
				issuer: over.privacypass.issuer.or(self.privacypass.issuer),
				issuer_key: over.privacypass.issuer_key.or(self.privacypass.issuer_key),
				directory: over.privacypass.directory.or(self.privacypass.directory),
				redis: over.privacypass.redis.or(self.privacypass.redis),
				root: over.privacypass.root.or(self.privacypass.root),
				publish: over.privacypass.publish.or(self.privacypass.publish),
				subscribe: over.privacypass.subscribe.or(self.privacypass.subscribe),
				challenge_ttl: over.privacypass.challenge_ttl.or(self.privacypass.challenge_ttl),
				redemption_context: over
					.privacypass
					.redemption_context
					.or(self.privacypass.redemption_context),
				origins: over.privacypass.origins.or(self.privacypass.origins),
			},
			cluster: ClusterConfig {
				connect: over.cluster.connect.or(self.cluster.connect),
				token: over.cluster.token.or(self.cluster.token),
				node: over.cluster.node.or(self.cluster.node),
				id: over.cluster.id.or(self.cluster.id),
				tls_root: over.cluster.tls_root.or(self.cluster.tls_root),
			},
			limits: self.limits.merge(over.limits),
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
			privacypass: PrivacyPassConfig::default(),
			cluster: ClusterConfig::default(),
			limits: LimitsConfig::default(),
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
		let mut auth = self.auth.resolve()?;
		let tls_names = self.tls.generate.clone().unwrap_or_default();
		if let Some(pp) = self.privacypass.resolve(&tls_names)? {
			auth = auth.with_privacy_pass(pp);
		}
		Ok(RelayConfig {
			bind: self.server.bind.clone().unwrap_or_default(),
			certificate,
			auth,
			drain: Duration::from_secs(self.server.drain.unwrap_or(5)),
			limits: self.limits.resolve()?,
			cluster: self.cluster.resolve()?,
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
		assert_eq!(args.pp_enabled, Some(false));
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
		let err = Config::from_toml("[privacypass]\nenable = true\n", "t").unwrap_err();
		assert!(std::error::Error::source(&err).unwrap().to_string().contains("enable"));
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
		let bad = PrivacyPassConfig {
			redemption_context: Some("random".into()),
			..ok.clone()
		};
		assert!(bad.resolve(&[]).unwrap_err().to_string().contains("redemption_context"));
		let bad = PrivacyPassConfig {
			redis: Some("http://nope".into()),
			..ok
		};
		assert!(bad.resolve(&[]).unwrap_err().to_string().starts_with("privacypass:"));
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
