//! Tokens minted by our `moq-token` are accepted by upstream's moq-relay 0.17 through its own
//! `--auth-url` setup: the upstream binary, pointed at the reference auth server (`moq-auth`'s
//! `serve` module, running in the test), admits the published client with our tokens, subtree
//! and pattern grants alike, and refuses the ones that server refuses (`docs/auth.md`, "Coming from
//! upstream moq-relay").
//!
//! The binary is `$MOQ_UPSTREAM_RELAY`, else `target/upstream-relay/bin/moq-relay`, which
//! `dev/setup.sh` installs (`cargo install moq-relay --version 0.17.10 --debug`). Without it the
//! test fails and says how to get it: it never passes without running.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use moq_auth::serve::{Keys, Policy, Server};
use moq_relay_bench::subscriber::Subscriber;
use moq_token::{Algorithm, Claims, ClaimsFormat, Key, KeyFormat, Path, Pattern};

use crate::common::{free_port, within};

fn binary() -> PathBuf {
	let path = std::env::var_os("MOQ_UPSTREAM_RELAY")
		.map(PathBuf::from)
		.unwrap_or_else(|| {
			PathBuf::from(concat!(
				env!("CARGO_MANIFEST_DIR"),
				"/../../target/upstream-relay/bin/moq-relay"
			))
		});
	assert!(
		path.is_file(),
		"upstream moq-relay 0.17.10 is not at {}: run dev/setup-upstream-relay.sh (it runs `cargo install \
		 moq-relay --version 0.17.10 --debug --root target/upstream-relay --config profile.dev.debug=false`), or \
		 point MOQ_UPSTREAM_RELAY at the binary",
		path.display()
	);
	path
}

/// The upstream relay process, killed when dropped, and the file its stderr goes to (removed then).
pub(crate) struct Upstream(Child, PathBuf);

impl Upstream {
	/// Starts the published relay on 127.0.0.1:`port` (a generated certificate for `hosts`, logging
	/// at `warn`) with the further `args`.
	pub(crate) fn start(port: u16, hosts: &str, args: &[&str]) -> Self {
		let binary = binary();
		let listen = format!("127.0.0.1:{port}");
		let log = std::env::temp_dir().join(format!("moq-upstream-relay-{}-{port}.log", std::process::id()));
		let child = Command::new(&binary)
			.args([
				"--listen",
				&listen,
				"--listen-tls-generate",
				hosts,
				"--log-level",
				"warn",
			])
			.args(args)
			.stdin(Stdio::null())
			.stdout(Stdio::null())
			.stderr(std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display())))
			.spawn()
			.unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
		Self(child, log)
	}

	/// Whether the process has exited (it does at once when it cannot bind its ports).
	pub(crate) fn exited(&mut self) -> bool {
		matches!(self.0.try_wait(), Ok(Some(_)))
	}

	/// What it wrote to stderr so far.
	pub(crate) fn log(&self) -> String {
		std::fs::read_to_string(&self.1).unwrap_or_default()
	}
}

impl Drop for Upstream {
	fn drop(&mut self) {
		let _ = self.0.kill();
		let _ = self.0.wait();
		let _ = std::fs::remove_file(&self.1);
	}
}

/// A token our `moq-token` signs for `root`, in the format upstream's `moq-auth` writes.
fn token(key: &Key, root: &str, publish: &[&str], subscribe: &[&str]) -> String {
	let mut claims = Claims::new(Path::new(root).unwrap()).with_expires(moq_token::unix_now() + 600);
	for p in publish {
		claims = claims.with_publish_pattern(p.parse::<Pattern>().unwrap());
	}
	for p in subscribe {
		claims = claims.with_subscribe_pattern(p.parse::<Pattern>().unwrap());
	}
	key.sign_with(&claims, ClaimsFormat::Auto).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_relay_accepts_our_tokens_through_its_auth_url() {
	let scratch = crate::common::scratch("moq-relay-upstream-");
	let dir = scratch.path().to_path_buf();
	let key = Key::generate(Algorithm::ES256, None).unwrap();
	let key_file = dir.join("key.jwk");
	key.to_file(&key_file, KeyFormat::Json).unwrap();

	// The reference auth server, as `moq auth serve --key key.jwk` runs it.
	let mut policy = Policy::default();
	policy.keys = Some(Keys::File(key_file));
	let server = Server::new(policy).unwrap();
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	let auth: SocketAddr = listener.local_addr().unwrap();
	let auth_task = tokio::spawn(async move { server.serve(listener).await });

	let port = free_port();
	let _upstream = Upstream::start(port, "localhost", &["--auth-url", &format!("http://{auth}/")]);

	let client = moq_relay_bench::client(None, true, &[]).unwrap();
	let url =
		|path: &str, jwt: &str| -> url::Url { format!("https://127.0.0.1:{port}/{path}?jwt={jwt}").parse().unwrap() };

	// Subtree grants (written as put/get) and pattern grants (publish/subscribe): both admitted.
	// The first connection also waits for the relay to be up.
	let subtree = token(&key, "room", &["alice/**"], &["**"]);
	let first = within("upstream relay admits a put/get token", async {
		loop {
			match Subscriber::connect(&client, url("room", &subtree)).await {
				Ok(session) => return session,
				Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
			}
		}
	})
	.await;
	let patterns = token(&key, "room", &["alice/**"], &["*/screen"]);
	let second = within("pattern token", Subscriber::connect(&client, url("room", &patterns)))
		.await
		.expect("upstream refused a publish/subscribe token of ours");

	// Refused as its auth server refuses: another root, another key. The session ends with an auth
	// rejection, at connect or right after.
	let stranger = Key::generate(Algorithm::ES256, None).unwrap();
	for (path, jwt, why) in [
		("other", token(&key, "room", &["**"], &[]), "root mismatch"),
		("room", token(&stranger, "room", &["**"], &[]), "unknown key"),
	] {
		if let Ok(session) = within(why, Subscriber::connect(&client, url(path, &jwt))).await {
			let closed = within(why, session.connection().closed()).await;
			assert!(
				closed.is_err(),
				"upstream admitted a token its auth server refuses ({why})"
			);
		}
	}
	// Meanwhile the admitted sessions are still open.
	for (session, what) in [(&first, "put/get"), (&second, "patterns")] {
		let still_open = tokio::time::timeout(Duration::ZERO, session.connection().closed()).await;
		assert!(still_open.is_err(), "the {what} session was closed: {still_open:?}");
	}
	auth_task.abort();
}

/// `docs/auth.md` ("Coming from upstream moq-relay") maps every auth flag upstream 0.17 lists in
/// its `--help`, its `--connect-tls-*` identity for the auth URL, and the flags 0.14 had that 0.15
/// removed (hidden in 0.17's help, still parsed to name their replacement).
#[test]
fn the_upstream_table_maps_every_upstream_auth_flag() {
	let help = Command::new(binary()).arg("--help").output().unwrap();
	assert!(help.status.success(), "upstream --help failed: {help:?}");
	let help = String::from_utf8_lossy(&help.stdout);
	let listed: Vec<&str> = help
		.split_whitespace()
		.filter_map(|word| word.split(['=', '[', '<']).next())
		.filter(|flag| flag.starts_with("--auth-"))
		.collect();
	assert!(
		listed.contains(&"--auth-url") && listed.contains(&"--auth-public"),
		"upstream's --help lists no auth flags: {help}"
	);
	let removed = [
		"--auth-key",
		"--auth-key-dir",
		"--auth-api",
		"--auth-public-api",
		"--auth-domain",
		"--auth-mtls-tier",
		"--auth-tls-root",
		"--auth-tls-cert",
		"--auth-tls-key",
		"--auth-tls-disable-verify",
	];
	let identity = ["--connect-tls-root", "--connect-tls-cert", "--connect-tls-key"];
	let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/auth.md")).unwrap();
	let section = docs
		.split("## Coming from upstream moq-relay")
		.nth(1)
		.and_then(|rest| rest.split("\n## ").next())
		.expect("docs/auth.md has the section");
	let table: Vec<&str> = section.lines().filter(|line| line.starts_with("| `")).collect();
	for flag in listed.iter().copied().chain(removed).chain(identity) {
		// The flag in the upstream column (the first cell), exactly.
		let quoted = format!("`{flag}");
		let mapped = table.iter().any(|row| {
			let first = row.split(" | ").next().unwrap_or_default();
			first.match_indices(&quoted).any(|(at, _)| {
				let after = first[at + quoted.len()..].chars().next();
				!matches!(after, Some(c) if c.is_ascii_alphanumeric() || c == '-')
			})
		});
		assert!(mapped, "upstream's {flag} has no row in docs/auth.md's upstream table");
	}
}
