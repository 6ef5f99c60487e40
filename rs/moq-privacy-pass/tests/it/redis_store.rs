//! The Redis nonce store against a real `redis-server` with a password: the commands it sends (as
//! another client sees their effect), a wrong password refused, a dropped connection replaced, and
//! the server's eviction policy read once for the reservations that arrive together.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moq_privacy_pass::{AsyncNonceStore, RedisNonceStore};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Raw, as `requirepass` takes it; percent-encoded in URLs.
const PASSWORD: &str = "p@ss/w rd:x";
const PASSWORD_IN_URL: &str = "p%40ss%2Fw%20rd%3Ax";

/// A real `redis-server` on a free port with [`PASSWORD`], killed on drop.
struct RedisServer {
	port: u16,
	_child: tokio::process::Child,
}

impl RedisServer {
	async fn start() -> Self {
		// A port taken between the probe and redis-server's bind makes it exit: try a few.
		for _ in 0..5 {
			let port = std::net::TcpListener::bind("127.0.0.1:0")
				.unwrap()
				.local_addr()
				.unwrap()
				.port();
			let mut child = tokio::process::Command::new("redis-server")
				.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
				.args(["--appendonly", "no", "--requirepass", PASSWORD])
				.stdout(std::process::Stdio::piped())
				.stderr(std::process::Stdio::null())
				.kill_on_drop(true)
				.spawn()
				.expect("redis-server (apt-get install -y redis-server, or dev/setup.sh)");
			let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
			let ready = tokio::time::timeout(Duration::from_secs(20), async {
				while let Ok(Some(line)) = lines.next_line().await {
					if line.contains("Ready to accept connections") {
						return true;
					}
				}
				false
			})
			.await
			.expect("redis-server start");
			if ready {
				tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
				return Self { port, _child: child };
			}
		}
		panic!("redis-server did not become ready on any of 5 free ports");
	}

	fn url(&self, password: &str) -> String {
		format!("redis://:{password}@127.0.0.1:{}", self.port)
	}

	/// Another client, to look at what the store wrote.
	async fn admin(&self) -> redis::aio::MultiplexedConnection {
		redis::Client::open(self.url(PASSWORD_IN_URL))
			.unwrap()
			.get_multiplexed_async_connection()
			.await
			.unwrap()
	}
}

fn key(nonce: &[u8; 32]) -> String {
	let hex = hex::encode(nonce);
	format!("moq-pp:nonce:{hex}")
}

#[tokio::test]
async fn reserve_commit_release_are_set_nx_set_and_del() {
	let server = RedisServer::start().await;
	let mut admin = server.admin().await;
	let store = RedisNonceStore::new(&server.url(PASSWORD_IN_URL)).unwrap();
	store.ping().await.unwrap();
	let now = SystemTime::now();
	let keep_until = now + Duration::from_secs(60);
	let nonce = [7u8; 32];
	let get = redis::cmd("GET").arg(key(&nonce)).clone();
	let pttl = redis::cmd("PTTL").arg(key(&nonce)).clone();

	let reservation = store.reserve(&nonce, keep_until, now).await.unwrap();
	assert_eq!(get.query_async::<String>(&mut admin).await.unwrap(), "r");
	assert_eq!(
		store.reserve(&nonce, keep_until, now).await.unwrap_err().code(),
		"token_replayed"
	);
	store.release(reservation).await;
	assert_eq!(get.query_async::<Option<String>>(&mut admin).await.unwrap(), None);

	let reservation = store.reserve(&nonce, keep_until, now).await.unwrap();
	store.commit(&reservation, now).await.unwrap();
	assert_eq!(get.query_async::<String>(&mut admin).await.unwrap(), "s");
	let ttl = pttl.query_async::<i64>(&mut admin).await.unwrap();
	assert!((50_000..=60_000).contains(&ttl), "PTTL {ttl}");
	assert_eq!(
		store.reserve(&nonce, keep_until, now).await.unwrap_err().code(),
		"token_replayed"
	);

	// Another prefix is another set of nonces.
	let other = RedisNonceStore::new(&server.url(PASSWORD_IN_URL))
		.unwrap()
		.with_prefix("elsewhere:");
	assert!(other.reserve(&nonce, keep_until, now).await.is_ok());
}

#[tokio::test]
async fn a_wrong_or_missing_password_fails_closed_and_is_never_echoed() {
	let server = RedisServer::start().await;
	let now = SystemTime::now();
	for url in [server.url("wrong-7f3a9c"), format!("redis://127.0.0.1:{}", server.port)] {
		let store = RedisNonceStore::new(&url).unwrap();
		let err = store
			.reserve(&[1; 32], now + Duration::from_secs(60), now)
			.await
			.unwrap_err();
		assert_eq!(err.code(), "nonce_store_unavailable", "{err}");
		let text = format!("{err} {err:?} {store:?}");
		assert!(text.contains(&format!("127.0.0.1:{}", server.port)), "{text}");
		for secret in ["wrong-7f3a9c", PASSWORD, PASSWORD_IN_URL] {
			assert!(!text.contains(secret), "{text}");
		}
	}
}

#[tokio::test]
async fn a_dropped_connection_is_replaced() {
	let server = RedisServer::start().await;
	let mut admin = server.admin().await;
	let store = RedisNonceStore::new(&server.url(PASSWORD_IN_URL)).unwrap();
	store.ping().await.unwrap();
	let killed: i64 = redis::cmd("CLIENT")
		.arg("KILL")
		.arg("TYPE")
		.arg("normal")
		.arg("SKIPME")
		.arg("yes")
		.query_async(&mut admin)
		.await
		.unwrap();
	assert_eq!(killed, 1, "the store's one connection");
	// The first command may still go to the dead connection (and be refused); the next reconnects.
	let _ = store.ping().await;
	store.ping().await.unwrap();
}

/// How many `INFO` commands the server has run since the last call (`INFO commandstats`,
/// `cmdstat_info:calls=N`, then `CONFIG RESETSTAT`), this call's own not counted.
async fn info_calls(admin: &mut redis::aio::MultiplexedConnection) -> u64 {
	let stats: String = redis::cmd("INFO").arg("commandstats").query_async(admin).await.unwrap();
	let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(admin).await.unwrap();
	stats
		.lines()
		.find_map(|line| line.strip_prefix("cmdstat_info:calls="))
		.map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

/// Reservations of the nonces `[i; 32]` for every `i` in `nonces`, all at once through one store;
/// their results.
async fn reserve_together(store: &Arc<RedisNonceStore>, nonces: std::ops::Range<u8>) -> Vec<Result<(), String>> {
	let now = SystemTime::now();
	let mut set = tokio::task::JoinSet::new();
	for i in nonces {
		let store = store.clone();
		set.spawn(async move {
			store
				.reserve(&[i; 32], now + Duration::from_secs(60), now)
				.await
				.map(|_| ())
				.map_err(|err| err.code().to_string())
		});
	}
	set.join_all().await
}

#[tokio::test]
async fn reservations_that_arrive_together_read_the_eviction_policy_once() {
	let server = RedisServer::start().await;
	let mut admin = server.admin().await;
	assert_eq!(info_calls(&mut admin).await, 0);

	// A fresh store trusts nothing yet: the first 32 reservations wait for one read of its policy.
	let store = Arc::new(RedisNonceStore::new(&server.url(PASSWORD_IN_URL)).unwrap());
	let results = reserve_together(&store, 0..32).await;
	assert!(results.iter().all(Result::is_ok), "{results:?}");
	assert_eq!(info_calls(&mut admin).await, 1, "one INFO for 32 reservations");

	// A server that may evict: the reservations waiting together share the one refusal...
	let config = |key: &str, value: &str| redis::cmd("CONFIG").arg("SET").arg(key).arg(value).clone();
	let _: () = config("maxmemory", "64mb").query_async(&mut admin).await.unwrap();
	let _: () = config("maxmemory-policy", "volatile-lru")
		.query_async(&mut admin)
		.await
		.unwrap();
	let evicting = Arc::new(RedisNonceStore::new(&server.url(PASSWORD_IN_URL)).unwrap());
	let results = reserve_together(&evicting, 32..48).await;
	assert!(
		results
			.iter()
			.all(|r| r.as_ref().is_err_and(|code| code == "nonce_store_unavailable")),
		"{results:?}"
	);
	assert_eq!(info_calls(&mut admin).await, 1, "one INFO for 16 refusals");

	// ...and a reservation after it reads again, so a fixed server is trusted at once.
	let _: () = config("maxmemory-policy", "noeviction")
		.query_async(&mut admin)
		.await
		.unwrap();
	let results = reserve_together(&evicting, 48..49).await;
	assert_eq!(results, vec![Ok(())]);
	assert_eq!(info_calls(&mut admin).await, 1);
}
