//! The shared nonce store: Redis (feature `redis`), for relays that share a challenge configuration.
//!
//! A deliberately small RESP2 client over tokio TCP (no `redis` crate): the store needs four commands.
//! - `reserve` = `SET <prefix><hex nonce> r NX PX <ms to keep_until>`: `+OK` reserves, a nil reply means
//!   another relay (or this one) already holds the nonce → [`Error::TokenReplayed`].
//! - `commit` = `SET <key> s PX <ms>`: marks it spent for the same time.
//! - `release` = `DEL <key>` (best effort).
//! - `AUTH` / `SELECT` once per connection when the URL has a password or a database.
//!
//! Every operation (connect included) is bounded by the store's timeout; any failure (refused,
//! timed out, an error reply, a reply that is not RESP) is [`Error::NonceStore`], so the verifier refuses
//! the token: a store that cannot answer never admits anyone. Broken connections are dropped, never
//! reused; idle ones are pooled.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use crate::Error;
use crate::error::short_hex;
use crate::nonce_store::{AsyncNonceStore, Reservation};

/// Default bound on each Redis operation (connect, or one command and its reply).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept for reuse.
const POOL: usize = 16;
/// Longest reply line or bulk string accepted (replies here are a few bytes).
const MAX_REPLY: usize = 64 * 1024;

/// Redeemed nonces in Redis, shared by every relay pointing at the same server and key prefix.
pub struct RedisNonceStore {
	addr: String,
	username: Option<String>,
	password: Option<Zeroizing<String>>,
	db: Option<u32>,
	prefix: String,
	timeout: Duration,
	idle: Mutex<Vec<BufReader<TcpStream>>>,
}

impl std::fmt::Debug for RedisNonceStore {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("RedisNonceStore")
			.field("addr", &self.addr)
			.field("password", &self.password.as_ref().map(|_| "<redacted>"))
			.field("db", &self.db)
			.field("prefix", &self.prefix)
			.field("timeout", &self.timeout)
			.finish_non_exhaustive()
	}
}

/// One RESP2 reply (arrays are never expected here and are refused).
#[derive(Debug, PartialEq, Eq)]
enum Reply {
	Simple(String),
	Error(String),
	Integer(i64),
	Bulk(Vec<u8>),
	Nil,
}

impl RedisNonceStore {
	/// A store for `url` = `redis://[[user]:password@]host[:port][/db]` (port 6379 by default). Nothing is
	/// connected yet: the first operation connects, so a relay starts even while Redis is down (and
	/// refuses Privacy Pass tokens until it is back).
	pub fn new(url: &str) -> Result<Self, Error> {
		let bad = |why: &str| {
			Error::NonceStore(format!(
				"bad Redis URL ({why}); expected redis://[:password@]host[:port][/db]"
			))
		};
		let rest = url.strip_prefix("redis://").ok_or_else(|| bad("not redis://"))?;
		let (auth, rest) = match rest.rsplit_once('@') {
			Some((auth, rest)) => (Some(auth), rest),
			None => (None, rest),
		};
		let (host, db) = match rest.split_once('/') {
			Some((host, "")) => (host, None),
			Some((host, db)) => (
				host,
				Some(db.parse::<u32>().map_err(|_| bad("the database is not a number"))?),
			),
			None => (rest, None),
		};
		if host.is_empty() {
			return Err(bad("no host"));
		}
		let has_port = match host.rsplit_once(':') {
			// `[::1]` alone has colons but no port.
			Some((h, p)) => !h.ends_with(':') && !p.ends_with(']') && p.parse::<u16>().is_ok(),
			None => false,
		};
		let addr = if has_port {
			host.to_string()
		} else {
			format!("{host}:6379")
		};
		let (username, password) = match auth {
			None => (None, None),
			Some(auth) => match auth.split_once(':') {
				Some((user, pass)) => (
					(!user.is_empty()).then(|| user.to_string()),
					Some(Zeroizing::new(pass.to_string())),
				),
				None => (None, Some(Zeroizing::new(auth.to_string()))),
			},
		};
		Ok(Self {
			addr,
			username,
			password,
			db,
			prefix: "moq-pp:nonce:".to_string(),
			timeout: DEFAULT_TIMEOUT,
			idle: Mutex::default(),
		})
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

	/// Sends `PING`: `Ok` once the server answers.
	pub async fn ping(&self) -> Result<(), Error> {
		match self.command(&[b"PING"]).await? {
			Reply::Simple(s) if s == "PONG" => Ok(()),
			other => Err(unexpected("PING", &other)),
		}
	}

	fn key(&self, nonce: &[u8; 32]) -> Vec<u8> {
		let mut key = self.prefix.clone().into_bytes();
		for b in nonce {
			key.extend_from_slice(format!("{b:02x}").as_bytes());
		}
		key
	}

	/// Runs one command on a pooled (or new) connection, bounded by the timeout.
	async fn command(&self, args: &[&[u8]]) -> Result<Reply, Error> {
		let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
		let mut conn = match pooled {
			Some(conn) => conn,
			None => self.connect().await?,
		};
		let reply = tokio::time::timeout(self.timeout, roundtrip(&mut conn, args))
			.await
			.map_err(|_| self.fail(format!("no reply within {:?}", self.timeout)))?
			.map_err(|e| self.fail(e))?;
		let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
		if idle.len() < POOL {
			idle.push(conn);
		}
		Ok(reply)
	}

	async fn connect(&self) -> Result<BufReader<TcpStream>, Error> {
		let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(&self.addr))
			.await
			.map_err(|_| self.fail(format!("connect timed out after {:?}", self.timeout)))?
			.map_err(|e| self.fail(format!("connect: {e}")))?;
		let _ = tcp.set_nodelay(true);
		let mut conn = BufReader::new(tcp);
		let setup = async {
			if let Some(password) = &self.password {
				let mut args: Vec<&[u8]> = vec![b"AUTH"];
				if let Some(user) = &self.username {
					args.push(user.as_bytes());
				}
				args.push(password.as_bytes());
				match roundtrip(&mut conn, &args).await? {
					Reply::Simple(_) => {}
					// The server's message never contains the password.
					Reply::Error(e) => return Err(format!("AUTH refused: {e}")),
					other => return Err(format!("AUTH: unexpected reply {other:?}")),
				}
			}
			if let Some(db) = self.db {
				let db = db.to_string();
				match roundtrip(&mut conn, &[b"SELECT", db.as_bytes()]).await? {
					Reply::Simple(_) => {}
					other => return Err(format!("SELECT {db}: unexpected reply {other:?}")),
				}
			}
			Ok(())
		};
		tokio::time::timeout(self.timeout, setup)
			.await
			.map_err(|_| self.fail(format!("connection setup timed out after {:?}", self.timeout)))?
			.map_err(|e| self.fail(e))?;
		Ok(conn)
	}

	fn fail(&self, why: impl std::fmt::Display) -> Error {
		Error::NonceStore(format!("Redis at {}: {why}", self.addr))
	}
}

fn unexpected(what: &str, reply: &Reply) -> Error {
	match reply {
		Reply::Error(e) => Error::NonceStore(format!("Redis {what}: {e}")),
		other => Error::NonceStore(format!("Redis {what}: unexpected reply {other:?}")),
	}
}

fn millis_until(keep_until: SystemTime, now: SystemTime) -> String {
	let ms = keep_until.duration_since(now).unwrap_or_default().as_millis().max(1);
	ms.to_string()
}

impl AsyncNonceStore for RedisNonceStore {
	async fn reserve(&self, nonce: &[u8; 32], keep_until: SystemTime, now: SystemTime) -> Result<Reservation, Error> {
		let key = self.key(nonce);
		let ms = millis_until(keep_until, now);
		match self.command(&[b"SET", &key, b"r", b"NX", b"PX", ms.as_bytes()]).await? {
			Reply::Simple(s) if s == "OK" => Ok(Reservation::new(*nonce, keep_until)),
			Reply::Nil => Err(Error::TokenReplayed(short_hex(nonce))),
			other => Err(unexpected("SET NX", &other)),
		}
	}

	async fn commit(&self, reservation: &Reservation, now: SystemTime) -> Result<(), Error> {
		let key = self.key(reservation.nonce());
		let ms = millis_until(reservation.keep_until(), now);
		match self.command(&[b"SET", &key, b"s", b"PX", ms.as_bytes()]).await? {
			Reply::Simple(s) if s == "OK" => Ok(()),
			other => Err(unexpected("SET", &other)),
		}
	}

	async fn release(&self, reservation: Reservation) {
		let key = self.key(reservation.nonce());
		let _ = self.command(&[b"DEL", &key]).await;
	}
}

/// Writes one command as a RESP array of bulk strings and reads one reply.
async fn roundtrip(conn: &mut BufReader<TcpStream>, args: &[&[u8]]) -> Result<Reply, String> {
	let mut out = format!("*{}\r\n", args.len()).into_bytes();
	for arg in args {
		out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
		out.extend_from_slice(arg);
		out.extend_from_slice(b"\r\n");
	}
	conn.get_mut()
		.write_all(&out)
		.await
		.map_err(|e| format!("write: {e}"))?;
	read_reply(conn).await
}

async fn read_line(conn: &mut BufReader<TcpStream>) -> Result<String, String> {
	let mut line = Vec::new();
	let n = (&mut *conn)
		.take(MAX_REPLY as u64)
		.read_until(b'\n', &mut line)
		.await
		.map_err(|e| format!("read: {e}"))?;
	if n == 0 {
		return Err("the server closed the connection".into());
	}
	if !line.ends_with(b"\r\n") {
		return Err("reply line too long or not CRLF-terminated".into());
	}
	line.truncate(line.len() - 2);
	String::from_utf8(line).map_err(|_| "reply line is not UTF-8".into())
}

async fn read_reply(conn: &mut BufReader<TcpStream>) -> Result<Reply, String> {
	let line = read_line(conn).await?;
	let (kind, rest) = line.split_at_checked(1).ok_or("empty reply line")?;
	match kind {
		"+" => Ok(Reply::Simple(rest.to_string())),
		"-" => Ok(Reply::Error(rest.to_string())),
		":" => rest.parse().map(Reply::Integer).map_err(|_| "bad integer reply".into()),
		"_" => Ok(Reply::Nil),
		"$" => {
			let len: i64 = rest.parse().map_err(|_| "bad bulk length")?;
			if len < 0 {
				return Ok(Reply::Nil);
			}
			let len = usize::try_from(len).map_err(|_| "bad bulk length")?;
			if len > MAX_REPLY {
				return Err("bulk reply too long".into());
			}
			let mut data = vec![0u8; len + 2];
			conn.read_exact(&mut data).await.map_err(|e| format!("read: {e}"))?;
			if !data.ends_with(b"\r\n") {
				return Err("bulk reply not CRLF-terminated".into());
			}
			data.truncate(len);
			Ok(Reply::Bulk(data))
		}
		"*" if rest == "-1" => Ok(Reply::Nil),
		_ => Err(format!("unexpected reply type {kind:?}")),
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn urls() {
		let s = RedisNonceStore::new("redis://127.0.0.1:7000").unwrap();
		assert_eq!((s.addr(), s.db, s.password.is_none()), ("127.0.0.1:7000", None, true));
		let s = RedisNonceStore::new("redis://localhost/3").unwrap();
		assert_eq!((s.addr(), s.db), ("localhost:6379", Some(3)));
		let s = RedisNonceStore::new("redis://:sekrit@[::1]:6380/").unwrap();
		assert_eq!(s.addr(), "[::1]:6380");
		assert_eq!(s.password.as_deref().map(String::as_str), Some("sekrit"));
		assert!(!format!("{s:?}").contains("sekrit"));
		let s = RedisNonceStore::new("redis://user:pw@h:1").unwrap();
		assert_eq!(s.username.as_deref(), Some("user"));
		assert_eq!(RedisNonceStore::new("redis://[::1]").unwrap().addr(), "[::1]:6379");
		for bad in ["http://x", "redis://", "redis://h/x"] {
			assert_eq!(
				RedisNonceStore::new(bad).unwrap_err().code(),
				"nonce_store_unavailable",
				"{bad}"
			);
		}
	}

	#[test]
	fn keys_are_prefixed_hex() {
		let s = RedisNonceStore::new("redis://h").unwrap().with_prefix("p:");
		let key = s.key(&[0xab; 32]);
		assert_eq!(key.len(), 2 + 64);
		assert!(key.starts_with(b"p:abab"));
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
		let store = RedisNonceStore::new(&format!("redis://{addr}"))
			.unwrap()
			.with_timeout(Duration::from_millis(200));
		let now = SystemTime::now();
		let started = std::time::Instant::now();
		let err = store
			.reserve(&[1; 32], now + Duration::from_secs(60), now)
			.await
			.unwrap_err();
		assert_eq!(err.code(), "nonce_store_unavailable");
		assert!(err.to_string().contains("no reply within"), "{err}");
		assert!(started.elapsed() < Duration::from_secs(2));
		keep.abort();

		// Nobody listening at all: connection refused.
		let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let addr = closed.local_addr().unwrap();
		drop(closed);
		let store = RedisNonceStore::new(&format!("redis://{addr}")).unwrap();
		let err = store.ping().await.unwrap_err();
		assert_eq!(err.code(), "nonce_store_unavailable");
	}
}
