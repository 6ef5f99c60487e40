//! Revocation (`docs/auth.md`, "Revocation"): a revoked token's live session is closed within 2 s
//! and its next session refused; deleting a key file closes every session that key admitted; the
//! operator endpoint revokes for cluster tokens only. Bystanders stay served throughout.

use crate::common;

use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, Instant};

use common::{TestRelay, admitted, announce_ok, closed};
use moq_relay::wire::SessionCode;
use moq_token::{Algorithm, Claims, Key, KeyFormat, KeyId, Path};

const UNAUTHORIZED: u64 = SessionCode::UNAUTHORIZED.into_inner() as u64;
/// How soon a revoked session must be closed.
const BOUND: Duration = Duration::from_secs(2);

fn key(kid: &str) -> Key {
	Key::generate(Algorithm::HS256, Some(KeyId::new(kid).unwrap())).unwrap()
}

fn token(key: &Key, jti: &str) -> String {
	let mut claims = Claims::new(Path::new("room").unwrap())
		.with_publish(Path::root())
		.with_subscribe(Path::root())
		.with_expires(moq_token::unix_now() + 600);
	claims.id = Some(jti.to_string());
	key.sign(&claims).unwrap()
}

/// `Bearer` and a token of `key` that may publish and subscribe everything for ten minutes; a
/// cluster token (the operator's, which may revoke) when `cluster`.
fn everything(key: &Key, cluster: bool) -> String {
	let mut claims = Claims::new(Path::root())
		.with_publish(Path::root())
		.with_subscribe(Path::root())
		.with_expires(moq_token::unix_now() + 600);
	claims.cluster = cluster;
	format!("Bearer {}", key.sign(&claims).unwrap())
}

/// Waits for `conn` to be closed and checks how and how soon (counted from `since`).
async fn closed_within(conn: &web_transport_quinn::quinn::Connection, since: Instant, reason: &str) {
	let (code, got) = closed(conn).await;
	assert_eq!((code, got.as_str()), (UNAUTHORIZED, reason));
	assert!(since.elapsed() < BOUND, "closed {:?} after the change", since.elapsed());
}

/// Replaces `path`'s content (the new content differs in length, so the change is seen even
/// within one tick of the file system's clock).
fn write(path: &FsPath, text: &str) {
	std::fs::write(path, text).unwrap();
}

/// A relay that verifies tokens with a fresh key (`kid` root) and reads the revocation list
/// `revoked.txt` (nothing revoked yet) in a directory of its own, after `configure`.
async fn listed(
	name: &str,
	configure: impl FnOnce(&mut moq_relay::config::Config),
) -> (tempfile::TempDir, Key, TestRelay) {
	let dir = crate::common::scratch(&format!("moq-relay-revocation-{name}-"));
	let root = key("root");
	root.to_file(dir.path().join("root.jwk"), KeyFormat::Base64Url).unwrap();
	write(&dir.path().join("revoked.txt"), "# nothing yet\n");
	let (key_file, list) = (dir.path().join("root.jwk"), dir.path().join("revoked.txt"));
	let relay = TestRelay::start_with(move |config| {
		config.auth.key = Some(key_file);
		config.auth.revoked = Some(list);
		configure(config);
	})
	.await;
	(dir, root, relay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_id_closes_its_live_session_within_two_seconds() {
	let (dir, root, relay) = listed("jti", |_| {}).await;
	let revoked = admitted(&relay, &format!("/room?jwt={}", token(&root, "t-1"))).await;
	announce_ok(&revoked).await;
	let bystander = admitted(&relay, &format!("/room?jwt={}", token(&root, "t-2"))).await;
	announce_ok(&bystander).await;

	let since = Instant::now();
	write(&dir.path().join("revoked.txt"), "# revoked\njti t-1\n");
	closed_within(&revoked, since, "token_revoked").await;
	announce_ok(&bystander).await;
	// The same token is refused from now on.
	let again = admitted(&relay, &format!("/room?jwt={}", token(&root, "t-1"))).await;
	assert_eq!(closed(&again).await, (UNAUTHORIZED, "token_revoked".to_string()));

	// A bad edit keeps the last good list: still revoked, the bystander still served.
	write(&dir.path().join("revoked.txt"), "jti t-1\nnonsense-line\n");
	let again = admitted(&relay, &format!("/room?jwt={}", token(&root, "t-1"))).await;
	assert_eq!(closed(&again).await.1, "token_revoked");
	announce_ok(&bystander).await;
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_key_file_closes_every_session_it_admitted() {
	let dir = crate::common::scratch("moq-relay-revocation-keys-");
	std::fs::create_dir_all(dir.path().join("keys")).unwrap();
	let (a, b) = (key("a"), key("b"));
	a.to_file(dir.path().join("keys").join("a.jwk"), KeyFormat::Base64Url)
		.unwrap();
	b.to_file(dir.path().join("keys").join("b.jwk"), KeyFormat::Base64Url)
		.unwrap();
	let keys = dir.path().join("keys");
	let relay = TestRelay::start_with(move |config| config.auth.key_dir = Some(keys)).await;
	let first = admitted(&relay, &format!("/room?jwt={}", token(&a, "a-1"))).await;
	let second = admitted(&relay, &format!("/room?jwt={}", token(&a, "a-2"))).await;
	let other = admitted(&relay, &format!("/room?jwt={}", token(&b, "b-1"))).await;
	for conn in [&first, &second, &other] {
		announce_ok(conn).await;
	}

	let since = Instant::now();
	std::fs::remove_file(dir.path().join("keys").join("a.jwk")).unwrap();
	closed_within(&first, since, "key_revoked").await;
	closed_within(&second, since, "key_revoked").await;
	announce_ok(&other).await;
	relay.stop().await;
}

/// `POST /revoke` on the relay's plain-HTTP port.
async fn post_revoke(relay: &impl common::Target, authorization: Option<&str>, body: &str) -> (u16, serde_json::Value) {
	let client = reqwest::Client::new();
	let mut request = client
		.post(format!("http://127.0.0.1:{}/revoke", relay.addr().port()))
		.header("content-type", "application/json")
		.body(body.to_string());
	if let Some(authorization) = authorization {
		request = request.header("authorization", authorization);
	}
	let response = common::within("POST /revoke", request.send()).await.unwrap();
	let status = response.status().as_u16();
	let text = response.text().await.unwrap();
	(
		status,
		serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
	)
}

/// The endpoint reads its body only once the caller may revoke, and bounds it: a body declared and
/// never sent is answered `408 body_timeout` at `http_timeout` (before, the connection waited for
/// as long as the client kept it), one over 64 KiB `413 body_too_large` (axum's default would have
/// read 2 MB); nothing is revoked by either. A caller without a credential gets its refusal at
/// once, its body unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_bounds_the_body_it_reads() {
	use tokio::io::{AsyncReadExt, AsyncWriteExt};

	let (dir, root, relay) = listed("body", |config| {
		config.limits.http_timeout = Some(Duration::from_secs(2));
	})
	.await;
	let operator = everything(&root, true);
	// The request's head, declaring a body of `length` bytes; `None` when the relay closed the
	// connection without an answer.
	let answer = |authorization: Option<String>, length: usize, sent: Vec<u8>| {
		let addr = relay.addr;
		async move {
			let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
			let authorization = authorization
				.map(|a| format!("authorization: {a}\r\n"))
				.unwrap_or_default();
			let head = format!(
				"POST /revoke HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{authorization}content-length: {length}\r\n\r\n"
			);
			tcp.write_all(head.as_bytes()).await.unwrap();
			// The relay may answer (and close) before it has read all of a body it refuses.
			let _ = tcp.write_all(&sent).await;
			let mut response = Vec::new();
			let _ = common::within("the answer", tcp.read_to_end(&mut response)).await;
			let text = String::from_utf8_lossy(&response).into_owned();
			let status: u16 = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
			let body = text
				.split_once("\r\n\r\n")
				.map(|(_, b)| b.to_string())
				.unwrap_or_default();
			(status, body)
		}
	};
	let asked = Instant::now();
	let (status, body) = answer(Some(operator.clone()), 100, Vec::new()).await;
	assert_eq!(status, 408, "{body}");
	assert!(body.contains("\"body_timeout\""), "{body}");
	assert!(
		asked.elapsed() >= Duration::from_secs(2),
		"answered before the body could come"
	);
	let (status, body) = answer(Some(operator.clone()), 70_000, vec![b' '; 70_000]).await;
	assert_eq!(status, 413, "{body}");
	assert!(body.contains("\"body_too_large\""), "{body}");
	// Without a credential: refused at once, the body never read.
	let asked = Instant::now();
	let (status, _) = answer(None, 100, Vec::new()).await;
	assert_eq!(status, 401);
	assert!(
		asked.elapsed() < Duration::from_secs(2),
		"the refusal waited for the body"
	);
	assert_eq!(
		std::fs::read_to_string(dir.path().join("revoked.txt")).unwrap(),
		"# nothing yet\n"
	);
	// The endpoint still works.
	let (status, body) = post_revoke(&relay, Some(&operator), r#"{"jti":"t-9"}"#).await;
	assert_eq!(status, 200, "{body}");
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_endpoint_revokes_for_cluster_tokens_only() {
	let dir = crate::common::scratch("moq-relay-revocation-endpoint-");
	let root = key("root");
	root.to_file(dir.path().join("root.jwk"), KeyFormat::Base64Url).unwrap();
	let key_file = dir.path().join("root.jwk");
	let relay = TestRelay::start_with(move |config| config.auth.key = Some(key_file)).await;
	let live = admitted(&relay, &format!("/room?jwt={}", token(&root, "live-1"))).await;
	announce_ok(&live).await;
	let bystander = admitted(&relay, &format!("/room?jwt={}", token(&root, "live-2"))).await;
	announce_ok(&bystander).await;

	// No credential, a session token, and a malformed body are refused.
	let (status, body) = post_revoke(&relay, None, r#"{"jti":"live-1"}"#).await;
	assert_eq!((status, body["error"].as_str()), (401, Some("missing_credential")));
	// A token for a room is refused at `/`; one that may do everything, but is not a cluster
	// token, may not revoke either.
	let room = format!("Bearer {}", token(&root, "user"));
	let (status, body) = post_revoke(&relay, Some(&room), r#"{"jti":"live-1"}"#).await;
	assert_eq!((status, body["error"].as_str()), (403, Some("root_mismatch")));
	let (status, body) = post_revoke(&relay, Some(&everything(&root, false)), r#"{"jti":"live-1"}"#).await;
	assert_eq!((status, body["error"].as_str()), (403, Some("no_access")));
	let operator = everything(&root, true);
	let (status, body) = post_revoke(&relay, Some(&operator), r#"{"token":"live-1"}"#).await;
	assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
	announce_ok(&live).await;

	let since = Instant::now();
	let (status, body) = post_revoke(&relay, Some(&operator), r#"{"jti":"live-1"}"#).await;
	assert_eq!((status, &body["revoked"]["jti"]), (200, &serde_json::json!("live-1")));
	closed_within(&live, since, "token_revoked").await;
	announce_ok(&bystander).await;
	relay.stop().await;
}

/// With a revocation list file, what the operator endpoint revokes is appended to it
/// (`"persisted": true`) and so still refused after a restart; a value a line cannot hold is
/// refused (400) and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_endpoints_revocations_outlive_a_restart() {
	let dir = crate::common::scratch("moq-relay-revocation-persisted-");
	let root = key("root");
	root.to_file(dir.path().join("root.jwk"), KeyFormat::Base64Url).unwrap();
	write(&dir.path().join("revoked.txt"), "# by hand\n");
	let (key_file, list) = (dir.path().join("root.jwk"), dir.path().join("revoked.txt"));
	let configure = move |config: &mut moq_relay::config::Config| {
		config.auth.key = Some(key_file.clone());
		config.auth.revoked = Some(list.clone());
	};
	let relay = TestRelay::start_with(configure.clone()).await;
	let live = admitted(&relay, &format!("/room?jwt={}", token(&root, "kept-1"))).await;
	announce_ok(&live).await;
	let operator = everything(&root, true);

	let (status, body) = post_revoke(&relay, Some(&operator), r#"{"jti":"two\nlines"}"#).await;
	assert_eq!(
		(status, body["error"].as_str()),
		(400, Some("invalid_request")),
		"{body}"
	);
	let since = Instant::now();
	let (status, body) = post_revoke(&relay, Some(&operator), r#"{"jti":"kept-1"}"#).await;
	assert_eq!((status, &body["persisted"]), (200, &serde_json::json!(true)), "{body}");
	closed_within(&live, since, "token_revoked").await;
	assert_eq!(
		std::fs::read_to_string(dir.path().join("revoked.txt")).unwrap(),
		"# by hand\njti kept-1\n"
	);
	relay.stop().await;

	let restarted = TestRelay::start_with(configure).await;
	let again = admitted(&restarted, &format!("/room?jwt={}", token(&root, "kept-1"))).await;
	assert_eq!(closed(&again).await, (UNAUTHORIZED, "token_revoked".to_string()));
	let other = admitted(&restarted, &format!("/room?jwt={}", token(&root, "kept-2"))).await;
	announce_ok(&other).await;
	restarted.stop().await;
}

/// A revocation list on a full disk: what the endpoint revokes is in effect at once (the token is
/// refused), the answer is `500 revocation_list_unwritable` naming the cause, and the file is left
/// exactly as it was (no line cut short, no line break added). The list is on a full tmpfs of the
/// relay's own (`dev/in-tmpfs.sh`), 4,090 bytes long: the append fills the 6 bytes left in the
/// file's last page and fails on the next, and the relay truncates what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_keeps_the_revocation_in_effect_and_the_file_whole() {
	let dir = crate::common::scratch("moq-relay-revocation-full-disk-");
	let root = key("root");
	root.to_file(dir.path().join("root.jwk"), KeyFormat::Base64Url).unwrap();
	let list = dir.path().join("list");
	std::fs::create_dir_all(&list).unwrap();
	// The last line without its line break, which an append would add first. 4,090 bytes: the
	// file's page has room for 6 more, so the append ("\njti gone\n") is written in part before
	// the disk refuses the rest, and the relay cuts the file back to what it was.
	let before = format!("{}\njti a", "#".repeat(4084));
	assert_eq!(before.len(), 4090);
	write(&dir.path().join("seed.txt"), &before);
	let in_tmpfs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/in-tmpfs.sh");
	let script = r#"cp "$1" "$2/revoked.txt" && "$3" fill "$2" || exit 90
shift 3
exec "$@""#;
	let mut command = std::process::Command::new(in_tmpfs);
	command
		.args(["run", "16k"])
		.arg(&list)
		.args(["sh", "-c", script, "sh"])
		.arg(dir.path().join("seed.txt"))
		.arg(&list)
		.arg(in_tmpfs)
		.arg(env!("CARGO_BIN_EXE_moq-relay"))
		.args([
			"--server-bind",
			"127.0.0.1:0",
			"--tls-generate",
			"localhost",
			"--auth-key",
		])
		.arg(dir.path().join("root.jwk"))
		.arg("--auth-revoked")
		.arg(list.join("revoked.txt"));
	let relay = common::launch(command);
	let live = admitted(&relay, &format!("/room?jwt={}", token(&root, "gone"))).await;
	announce_ok(&live).await;
	let operator = everything(&root, true);

	let since = Instant::now();
	let (status, body) = post_revoke(&relay, Some(&operator), r#"{"jti":"gone"}"#).await;
	assert_eq!(
		(status, body["error"].as_str()),
		(500, Some("revocation_list_unwritable")),
		"{body}"
	);
	let message = body["message"].as_str().unwrap();
	assert!(message.contains("No space left on device"), "{message}");
	assert!(message.contains("in effect until the relay restarts"), "{message}");
	closed_within(&live, since, "token_revoked").await;
	let again = admitted(&relay, &format!("/room?jwt={}", token(&root, "gone"))).await;
	assert_eq!(closed(&again).await, (UNAUTHORIZED, "token_revoked".to_string()));
	let seen = PathBuf::from(format!(
		"/proc/{}/root{}",
		relay.child.id(),
		list.join("revoked.txt").display()
	));
	assert_eq!(std::fs::read_to_string(&seen).unwrap(), before);
}
