//! The shared nonce store: Redis (feature `redis`), for relays that share a challenge configuration.
//!
//! Built on the `redis` crate (async, tokio; `rediss://` is TLS through rustls with the aws-lc-rs
//! provider). The store needs three commands:
//! - `reserve` = `SET <prefix><hex nonce> r NX PX <ms to keep_until>`: `OK` reserves, a nil reply means
//!   another relay (or this one) already holds the nonce → [`Error::TokenReplayed`].
//! - `commit` = `SET <key> s PX <ms>`: marks it spent for the same time.
//! - `release` = `DEL <key>` (best effort).
//!
//! A spent nonce must stay until its challenge can no longer be redeemed: a server that evicts keys
//! under memory pressure (a `maxmemory` with any `maxmemory-policy` but `noeviction`, the default
//! of several managed Redis services being `volatile-lru`) would drop spent nonces and let their
//! tokens in again. So before reserving, the store reads the server's `INFO memory` (again at most
//! every [`EVICTION_RECHECK`], one read at a time: reservations that arrive during a read take its
//! answer) and refuses every token while the server may evict
//! ([`Error::NonceStore`], naming the policy and the fix); a server that does not answer `INFO` (an
//! ACL without `+info`) is refused the same way, since nothing then says its nonces stay.
//!
//! The URL is `redis://` or `rediss://` (TLS), `[[user]:password@]host[:port][/db]`, credentials
//! percent-decoded; the crate sends `AUTH` and `SELECT` once per connection. A `rediss://` server's
//! certificate is checked against the CA certificates given to [`RedisNonceStore::with_root_cert`]
//! or else the system's roots as rustls-native-certs finds them (so `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`, when set, replace them); `#insecure` is refused.
//!
//! Every operation (connecting included) is bounded by the store's timeout; any failure (refused,
//! timed out, a TLS or `AUTH` failure, an error reply) is [`Error::NonceStore`], so the verifier refuses
//! the token: a store that cannot answer never admits anyone. One multiplexed connection serves every
//! operation; after a failure it is dropped and the next operation reconnects. The password never
//! appears in `Debug` output or in an error message.

mod link;

use std::time::{Duration, SystemTime};

use redis::{AsyncConnectionConfig, Client, ConnectionAddr, Value};
use zeroize::Zeroizing;

use crate::Error;
use crate::error::short_hex;
use crate::nonce_store::{AsyncNonceStore, Reservation};
use link::Link;

/// Default bound on each Redis operation (connecting if needed, one command and its reply).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// The key prefix unless [`RedisNonceStore::with_prefix`] sets another.
const DEFAULT_PREFIX: &str = "moq-pp:nonce:";
/// How long a server found not to evict is trusted before its `INFO memory` is read again: a
/// `CONFIG SET maxmemory-policy` that turns eviction on is seen within this.
pub const EVICTION_RECHECK: Duration = Duration::from_secs(60);
/// What the URL looks like, for error messages.
const URL_FORM: &str = "redis[s]://[[user]:password@]host[:port][/db]";

/// Redeemed nonces in Redis, shared by every relay pointing at the same server and key prefix.
pub struct RedisNonceStore {
	link: Link,
	addr: String,
	tls: bool,
	/// The password, kept only to scrub it from error messages.
	password: Option<Zeroizing<String>>,
	prefix: String,
	timeout: Duration,
	/// What the last read of the server's eviction policy found (see [`EVICTION_RECHECK`]); held
	/// while one is read, so that reservations arriving meanwhile wait for its answer instead of
	/// each sending `INFO` of their own.
	eviction: tokio::sync::Mutex<EvictionCheck>,
}

/// The outcome of the last read of a server's eviction policy.
#[derive(Default)]
struct EvictionCheck {
	/// When the server was last found not to evict.
	trusted_at: Option<tokio::time::Instant>,
	/// When the last read was refused, and why: answers the reservations that waited for it.
	refused: Option<(tokio::time::Instant, Error)>,
}

impl std::fmt::Debug for RedisNonceStore {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		let settings = self.link.client().get_connection_info().redis_settings();
		f.debug_struct("RedisNonceStore")
			.field("addr", &self.addr)
			.field("tls", &self.tls)
			.field("password", &self.password.as_ref().map(|_| "<redacted>"))
			.field("db", &settings.db())
			.field("prefix", &self.prefix)
			.field("timeout", &self.timeout)
			.finish_non_exhaustive()
	}
}

impl RedisNonceStore {
	/// A store for `url` = `redis[s]://[[user]:password@]host[:port][/db]` (port 6379 by default;
	/// `rediss` is TLS). Nothing is connected yet: the first operation connects, so a relay starts even
	/// while Redis is down (and refuses Privacy Pass tokens until it is back).
	pub fn new(url: &str) -> Result<Self, Error> {
		let bad = |why: &dyn std::fmt::Display| {
			Error::NonceStoreConfig(format!("bad Redis URL ({why}); expected {URL_FORM}"))
		};
		if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
			return Err(bad(&"not redis:// or rediss://"));
		}
		// The crate's messages name what is wrong, never the URL or its password.
		let client = Client::open(url).map_err(|e| bad(&e))?;
		let info = client.get_connection_info();
		let (host, port, tls) = match info.addr() {
			ConnectionAddr::Tcp(host, port) => (host, *port, false),
			ConnectionAddr::TcpTls { insecure: true, .. } => {
				return Err(bad(
					&"#insecure is refused: the server's certificate is always verified",
				));
			}
			ConnectionAddr::TcpTls { host, port, .. } => (host, *port, true),
			_ => return Err(bad(&"not a TCP address")),
		};
		if info.redis_settings().db() < 0 {
			return Err(bad(&"the database is negative"));
		}
		let addr = if host.contains(':') {
			format!("[{host}]:{port}")
		} else {
			format!("{host}:{port}")
		};
		let password = info
			.redis_settings()
			.password()
			.filter(|p| !p.is_empty())
			.map(|p| Zeroizing::new(p.to_string()));
		Ok(Self {
			link: Link::new(client),
			addr,
			tls,
			password,
			prefix: DEFAULT_PREFIX.to_string(),
			timeout: DEFAULT_TIMEOUT,
			eviction: tokio::sync::Mutex::new(EvictionCheck::default()),
		})
	}

	/// Trusts the CA certificates of `pem` (one or more PEM `CERTIFICATE` blocks) for the server's
	/// certificate instead of the system's roots: a Redis behind a private CA, without changing
	/// what the rest of the process trusts. Only for `rediss://`.
	pub fn with_root_cert(mut self, pem: &[u8]) -> Result<Self, Error> {
		let bad = |why: &dyn std::fmt::Display| Error::NonceStoreConfig(format!("Redis CA certificates: {why}"));
		if !self.tls {
			return Err(bad(&"only a rediss:// (TLS) URL uses them"));
		}
		use rustls::pki_types::CertificateDer;
		use rustls::pki_types::pem::PemObject;
		let certificates = CertificateDer::pem_slice_iter(pem)
			.collect::<Result<Vec<_>, _>>()
			.map_err(|e| bad(&format!("not PEM ({e})")))?;
		if certificates.is_empty() {
			return Err(bad(&"no CERTIFICATE block in the file"));
		}
		let info = self.link.client().get_connection_info().clone();
		let certificates = redis::TlsCertificates {
			client_tls: None,
			root_cert: Some(pem.to_vec()),
		};
		let client = Client::build_with_tls(info, certificates).map_err(|e| bad(&e))?;
		self.link = Link::new(client);
		Ok(self)
	}

	/// Prefixes every key (default `moq-pp:nonce:`): relays share replay protection exactly when they
	/// share the server, the database and this prefix.
	pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
		self.prefix = prefix.into();
		self
	}

	/// Bounds each operation (default [`DEFAULT_TIMEOUT`]).
	pub fn with_timeout(mut self, timeout: Duration) -> Self {
		self.timeout = timeout;
		self
	}

	/// `host:port` of the server (no credentials).
	pub fn addr(&self) -> &str {
		&self.addr
	}

	/// Whether the store speaks TLS to the server (`rediss://`).
	pub fn is_tls(&self) -> bool {
		self.tls
	}

	/// Sends `PING`: `Ok` once the server answers.
	pub async fn ping(&self) -> Result<(), Error> {
		match self.query(&redis::cmd("PING"), "PING").await? {
			Value::SimpleString(s) if s == "PONG" => Ok(()),
			other => Err(self.unexpected("PING", &other)),
		}
	}

	/// `Ok` when the server keeps every key until it expires (no `maxmemory`, or the policy
	/// `noeviction`), read from `INFO memory` at most every [`EVICTION_RECHECK`]; otherwise the
	/// refusal that names the policy and the fix. One read at a time: callers that arrive while it
	/// is under way take its answer, a refusal included (a later caller reads again).
	pub async fn check_keeps_nonces(&self) -> Result<(), Error> {
		let asked = tokio::time::Instant::now();
		let mut check = self.eviction.lock().await;
		let now = tokio::time::Instant::now();
		if check
			.trusted_at
			.is_some_and(|at| now.duration_since(at) < EVICTION_RECHECK)
		{
			return Ok(());
		}
		if let Some((at, refused)) = &check.refused
			&& *at >= asked
		{
			return Err(refused.clone());
		}
		let result = self.read_eviction_policy().await;
		match &result {
			Ok(()) => {
				*check = EvictionCheck {
					trusted_at: Some(now),
					refused: None,
				}
			}
			Err(err) => check.refused = Some((tokio::time::Instant::now(), err.clone())),
		}
		result
	}

	/// Reads `INFO memory`: `Ok` when it says the server keeps every key until it expires.
	async fn read_eviction_policy(&self) -> Result<(), Error> {
		let mut cmd = redis::cmd("INFO");
		cmd.arg("memory");
		let info = match self.query(&cmd, "INFO memory").await {
			Ok(Value::BulkString(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
			Ok(Value::VerbatimString { text, .. }) => text,
			Ok(other) => return Err(self.unexpected("INFO memory", &other)),
			// INFO denied (an ACL) or renamed away: say what the store needs it for.
			Err(Error::NonceStore(why)) if why.contains("NOPERM") || why.to_lowercase().contains("unknown command") => {
				return Err(Error::NonceStore(format!(
					"{why} (the store reads the server's eviction policy before it trusts it with spent nonces: \
					 allow INFO for its user, e.g. ACL +info)"
				)));
			}
			Err(err) => return Err(err),
		};
		if let Some((maxmemory, policy)) = evicting(&info) {
			return Err(self.fail(&format!(
				"maxmemory-policy {policy} with maxmemory {maxmemory} may evict spent nonces and let their \
				 tokens in again: set maxmemory-policy noeviction (or maxmemory 0) on the server"
			)));
		}
		Ok(())
	}

	fn key(&self, nonce: &[u8; 32]) -> Vec<u8> {
		let mut key = self.prefix.clone().into_bytes();
		key.extend_from_slice(hex::encode(nonce).as_bytes());
		key
	}

	/// Runs one command, connecting first if needed, all within the timeout. A connection that failed
	/// (or did not answer in time) is dropped.
	async fn query(&self, cmd: &redis::Cmd, what: &str) -> Result<Value, Error> {
		let config = AsyncConnectionConfig::new()
			.set_connection_timeout(Some(self.timeout))
			.set_response_timeout(Some(self.timeout));
		let mut used = None;
		let attempt = async {
			let (number, mut conn) = self.link.get(&config).await.map_err(|e| format!("connect: {e}"))?;
			used = Some(number);
			cmd.query_async::<Value>(&mut conn)
				.await
				.map_err(|e| format!("{what}: {e}"))
		};
		let result = match tokio::time::timeout(self.timeout, attempt).await {
			Ok(result) => result,
			Err(_) => Err(format!("no reply within {:?}", self.timeout)),
		};
		if result.is_err()
			&& let Some(number) = used
		{
			self.link.forget(number);
		}
		result.map_err(|why| self.fail(&why))
	}

	/// [`Error::NonceStore`] naming the server, with the password scrubbed from `why`.
	fn fail(&self, why: &str) -> Error {
		let text = format!("Redis at {}: {why}", self.addr);
		Error::NonceStore(match &self.password {
			Some(password) if text.contains(password.as_str()) => text.replace(password.as_str(), "<redacted>"),
			_ => text,
		})
	}

	fn unexpected(&self, what: &str, reply: &Value) -> Error {
		self.fail(&format!("{what}: unexpected reply {reply:?}"))
	}
}

/// `(maxmemory, maxmemory_policy)` of an `INFO memory` text when the server may evict a key
/// before it expires: a memory limit and a policy other than `noeviction`. `None` when it keeps
/// every key (fields it lacks count as Redis's defaults: no limit, `noeviction`).
fn evicting(info: &str) -> Option<(String, String)> {
	let field = |name: &str| {
		info.lines()
			.find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
			.map(|value| value.trim().to_string())
	};
	let maxmemory = field("maxmemory").unwrap_or_else(|| "0".into());
	let policy = field("maxmemory_policy").unwrap_or_else(|| "noeviction".into());
	(maxmemory != "0" && policy != "noeviction").then_some((maxmemory, policy))
}

fn is_ok(reply: &Value) -> bool {
	matches!(reply, Value::Okay) || matches!(reply, Value::SimpleString(s) if s == "OK")
}

fn millis_until(keep_until: SystemTime, now: SystemTime) -> u128 {
	keep_until.duration_since(now).unwrap_or_default().as_millis().max(1)
}

impl AsyncNonceStore for RedisNonceStore {
	async fn reserve(&self, nonce: &[u8; 32], keep_until: SystemTime, now: SystemTime) -> Result<Reservation, Error> {
		self.check_keeps_nonces().await?;
		let mut cmd = redis::cmd("SET");
		cmd.arg(self.key(nonce))
			.arg("r")
			.arg("NX")
			.arg("PX")
			.arg(millis_until(keep_until, now).to_string());
		match self.query(&cmd, "SET NX").await? {
			reply if is_ok(&reply) => Ok(Reservation::new(*nonce, keep_until)),
			Value::Nil => Err(Error::TokenReplayed(short_hex(nonce))),
			other => Err(self.unexpected("SET NX", &other)),
		}
	}

	async fn commit(&self, reservation: &Reservation, now: SystemTime) -> Result<(), Error> {
		let mut cmd = redis::cmd("SET");
		cmd.arg(self.key(reservation.nonce()))
			.arg("s")
			.arg("PX")
			.arg(millis_until(reservation.keep_until(), now).to_string());
		match self.query(&cmd, "SET").await? {
			reply if is_ok(&reply) => Ok(()),
			other => Err(self.unexpected("SET", &other)),
		}
	}

	async fn release(&self, reservation: Reservation) {
		let mut cmd = redis::cmd("DEL");
		cmd.arg(self.key(reservation.nonce()));
		let _ = self.query(&cmd, "DEL").await;
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn settings(store: &RedisNonceStore) -> &redis::RedisConnectionInfo {
		store.link.client().get_connection_info().redis_settings()
	}

	#[test]
	fn urls() {
		let s = RedisNonceStore::new("redis://127.0.0.1:7000").unwrap();
		assert_eq!((s.addr(), s.is_tls(), settings(&s).db()), ("127.0.0.1:7000", false, 0));
		assert!(settings(&s).password().is_none());
		let s = RedisNonceStore::new("redis://localhost/3").unwrap();
		assert_eq!((s.addr(), settings(&s).db()), ("localhost:6379", 3));
		let s = RedisNonceStore::new("rediss://:sekrit@[::1]:6380/").unwrap();
		assert_eq!((s.addr(), s.is_tls()), ("[::1]:6380", true));
		assert_eq!(settings(&s).password(), Some("sekrit"));
		assert!(!format!("{s:?}").contains("sekrit"), "{s:?}");
		let s = RedisNonceStore::new("redis://user:pw@h:1").unwrap();
		assert_eq!(settings(&s).username(), Some("user"));
		assert_eq!(RedisNonceStore::new("redis://[::1]").unwrap().addr(), "[::1]:6379");
		// Credentials are percent-decoded.
		let s = RedisNonceStore::new("rediss://:p%40ss%2Fw%20rd@h:1/2").unwrap();
		assert_eq!(settings(&s).password(), Some("p@ss/w rd"));
	}

	#[test]
	fn bad_urls_are_refused_without_echoing_the_password() {
		for bad in [
			"http://x",
			"redis://",
			"redis://:hunter2@h/x",
			"redis://:hunter2@h/-1",
			"rediss://:hunter2@h:1/#insecure",
			"redis+unix:///tmp/redis.sock",
			"unix:///tmp/redis.sock",
		] {
			let err = RedisNonceStore::new(bad).unwrap_err();
			assert_eq!(err.code(), "invalid_nonce_store_config", "{bad}");
			assert!(err.to_string().contains("bad Redis URL"), "{bad}: {err}");
			assert!(!err.to_string().contains("hunter2"), "{bad}: {err}");
		}
	}

	#[test]
	fn the_password_is_scrubbed_from_errors() {
		let s = RedisNonceStore::new("redis://:hunter2@h:1").unwrap();
		let err = s.fail("server said hunter2");
		assert_eq!(
			err.to_string(),
			"nonce store unavailable: Redis at h:1: server said <redacted>"
		);
	}

	#[test]
	fn a_memory_limit_with_any_policy_but_noeviction_evicts() {
		let info = |maxmemory: &str, policy: &str| {
			format!(
				"# Memory\r\nused_memory:1000\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:x\r\nmaxmemory_policy:{policy}\r\n"
			)
		};
		assert_eq!(
			evicting(&info("0", "volatile-lru")),
			None,
			"no limit: nothing is evicted"
		);
		assert_eq!(evicting(&info("104857600", "noeviction")), None);
		for policy in [
			"volatile-lru",
			"allkeys-lru",
			"volatile-ttl",
			"allkeys-random",
			"volatile-lfu",
		] {
			assert_eq!(
				evicting(&info("104857600", policy)),
				Some(("104857600".to_string(), policy.to_string()))
			);
		}
		// `maxmemory_human` is not `maxmemory`; missing fields are Redis's defaults.
		assert_eq!(evicting("maxmemory_human:100M\nmaxmemory_policy:allkeys-lru\n"), None);
		assert_eq!(evicting(""), None);
	}

	#[test]
	fn keys_are_prefixed_hex() {
		let s = RedisNonceStore::new("redis://h").unwrap().with_prefix("p:");
		let key = s.key(&[0xab; 32]);
		assert_eq!(key.len(), 2 + 64);
		assert!(key.starts_with(b"p:abab"));
		let s = RedisNonceStore::new("redis://h").unwrap();
		assert!(s.key(&[0; 32]).starts_with(DEFAULT_PREFIX.as_bytes()));
	}

	#[tokio::test]
	async fn unreachable_server_fails_closed_and_in_time() {
		// A listener that accepts and never answers: the timeout, not a hang.
		let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = silent.local_addr().unwrap();
		let keep = tokio::spawn(async move {
			let mut held = Vec::new();
			while let Ok((conn, _)) = silent.accept().await {
				held.push(conn);
			}
		});
		let store = RedisNonceStore::new(&format!("redis://:hunter2@{addr}"))
			.unwrap()
			.with_timeout(Duration::from_millis(200));
		let now = SystemTime::now();
		let started = std::time::Instant::now();
		let err = store
			.reserve(&[1; 32], now + Duration::from_secs(60), now)
			.await
			.unwrap_err();
		assert_eq!(err.code(), "nonce_store_unavailable");
		assert!(
			err.to_string().contains("no reply within") || err.to_string().contains("timed out"),
			"{err}"
		);
		assert!(!err.to_string().contains("hunter2"), "{err}");
		assert!(started.elapsed() < Duration::from_secs(2));
		keep.abort();

		// Nobody listening at all: connection refused.
		let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = closed.local_addr().unwrap();
		drop(closed);
		let store = RedisNonceStore::new(&format!("redis://{addr}")).unwrap();
		let err = store.ping().await.unwrap_err();
		assert_eq!(err.code(), "nonce_store_unavailable");
		assert!(err.to_string().contains(&format!("Redis at {addr}: connect:")), "{err}");
	}
}
