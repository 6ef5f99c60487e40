//! The real `moq-token` binary, run in a fresh temporary directory per test: the key and token
//! command lines the docs show (docs/tokens.md#examples, docs/cluster.md#cluster-authentication),
//! every algorithm end to end, failures, upstream spellings and file safety.

use serde_json::Value;
use std::{
	io::Write,
	path::{Path, PathBuf},
	process::{Command, Stdio},
	sync::atomic::{AtomicUsize, Ordering},
	time::{SystemTime, UNIX_EPOCH},
};

/// A fresh directory under the system temp dir, removed on drop.
struct Dir(PathBuf);

impl Dir {
	fn new(name: &str) -> Self {
		static COUNTER: AtomicUsize = AtomicUsize::new(0);
		let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
		let path = std::env::temp_dir().join(format!(
			"moq-token-cli-{name}-{}-{nanos}-{}",
			std::process::id(),
			COUNTER.fetch_add(1, Ordering::Relaxed)
		));
		std::fs::create_dir_all(&path).unwrap();
		Self(path)
	}

	fn join(&self, path: &str) -> PathBuf {
		self.0.join(path)
	}

	fn read(&self, path: &str) -> String {
		std::fs::read_to_string(self.join(path)).unwrap()
	}

	fn write(&self, path: &str, text: &str) {
		std::fs::write(self.join(path), text).unwrap();
	}

	/// Run `moq-token` here with `stdin`.
	fn run(&self, args: &[&str], stdin: &str) -> Out {
		let mut child = Command::new(env!("CARGO_BIN_EXE_moq-token"))
			.args(args)
			.current_dir(&self.0)
			.stdin(Stdio::piped())
			.stdout(Stdio::piped())
			.stderr(Stdio::piped())
			.spawn()
			.unwrap();
		// The tool may exit without reading stdin; a failed write is fine then.
		let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
		let out = child.wait_with_output().unwrap();
		Out {
			code: out.status.code().unwrap(),
			stdout: String::from_utf8(out.stdout).unwrap(),
			stderr: String::from_utf8(out.stderr).unwrap(),
		}
	}

	/// Run and require success; returns stdout.
	fn ok(&self, args: &[&str], stdin: &str) -> String {
		let out = self.run(args, stdin);
		assert_eq!(out.code, 0, "{out:?}");
		out.stdout
	}
}

impl Drop for Dir {
	fn drop(&mut self) {
		let _ = std::fs::remove_dir_all(&self.0);
	}
}

#[derive(Debug)]
struct Out {
	code: i32,
	stdout: String,
	stderr: String,
}

impl Out {
	/// A failed run: exit 1, nothing on stdout, one stderr line `error: <code>: ...`.
	fn fails_with(&self, code: &str) -> &str {
		assert_eq!(self.code, 1, "{self:?}");
		assert!(self.stdout.is_empty(), "{self:?}");
		assert_eq!(self.stderr.lines().count(), 1, "one line: {self:?}");
		let prefix = format!("error: {code}: ");
		assert!(self.stderr.starts_with(&prefix), "{prefix:?} expected: {self:?}");
		self.stderr.trim_end()
	}

	/// A failed run without a token error code: exit 1, one stderr line containing `text`.
	fn fails_saying(&self, text: &str) {
		assert_eq!(self.code, 1, "{self:?}");
		assert!(self.stdout.is_empty(), "{self:?}");
		assert_eq!(self.stderr.lines().count(), 1, "one line: {self:?}");
		assert!(self.stderr.starts_with("error: "), "{self:?}");
		assert!(self.stderr.contains(text), "{text:?} expected: {self:?}");
	}
}

fn json(text: &str) -> Value {
	serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn now() -> u64 {
	SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A token on stdout: one line, three base64url parts.
fn token(stdout: &str) -> String {
	assert!(stdout.ends_with('\n'), "trailing newline: {stdout:?}");
	let token = stdout.trim_end().to_string();
	assert!(!token.contains('\n'));
	assert_eq!(token.split('.').count(), 3, "{token}");
	token
}

/// The JWK JSON of a key file, whatever its encoding.
fn jwk(dir: &Dir, path: &str) -> Value {
	json(&moq_token::Key::from_file(dir.join(path)).unwrap().to_json())
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
	use std::os::unix::fs::PermissionsExt;
	std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

const SEED_EXPIRES: &str = "1703980800";

// --- 1. The documented command lines ------------------------------------------------------

/// docs/tokens.md#examples: `--key "dev/root.jwk" generate --algorithm HS256`, then `... --id "primary"`.
#[test]
fn seed_generate_into_dev() {
	let dir = Dir::new("seed-gen");
	let out = dir.run(&["--key", "dev/root.jwk", "generate", "--algorithm", "HS256"], "");
	assert_eq!(out.code, 0, "{out:?}");
	assert!(out.stdout.is_empty(), "the key goes to the file: {out:?}");
	let first = dir.read("dev/root.jwk");
	// "Keys are stored as base64url-encoded JSON files".
	assert!(!first.trim().starts_with('{'));
	assert!(
		first
			.trim()
			.bytes()
			.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
	);
	let key = jwk(&dir, "dev/root.jwk");
	assert_eq!(key["alg"], "HS256");
	assert_eq!(key["kty"], "oct");
	assert_eq!(key["key_ops"], serde_json::json!(["sign", "verify"]));
	let thumbprint = moq_token::Key::from_file(dir.join("dev/root.jwk"))
		.unwrap()
		.thumbprint();
	assert_eq!(key["kid"], thumbprint.as_str());

	// The same command again refuses to overwrite: a lost key is an outage.
	let again = dir.run(
		&[
			"--key",
			"dev/root.jwk",
			"generate",
			"--algorithm",
			"HS256",
			"--id",
			"primary",
		],
		"",
	);
	again.fails_saying("--force");
	assert!(again.stderr.contains("already exists"), "{again:?}");
	assert!(again.stderr.contains("another path"), "{again:?}");
	assert_eq!(dir.read("dev/root.jwk"), first, "untouched");

	// The second command, in a fresh directory.
	let fresh = Dir::new("seed-gen-primary");
	fresh.ok(
		&[
			"--key",
			"dev/root.jwk",
			"generate",
			"--algorithm",
			"HS256",
			"--id",
			"primary",
		],
		"",
	);
	let key = jwk(&fresh, "dev/root.jwk");
	assert_eq!(key["kid"], "primary");
	assert_eq!(key["alg"], "HS256");
}

/// docs/tokens.md#examples: `--key "root.jwk" generate`, the user token, and verifying it.
#[test]
fn seed_root_key_and_user_token() {
	let dir = Dir::new("seed-002");
	dir.ok(&["--key", "root.jwk", "generate"], "");
	assert_eq!(jwk(&dir, "root.jwk")["alg"], "HS256", "HS256 is the default");

	let out = dir.run(
		&[
			"--key",
			"root.jwk",
			"sign",
			"--root",
			"rooms/meeting-123",
			"--subscribe",
			"",
			"--publish",
			"alice",
			"--expires",
			SEED_EXPIRES,
		],
		"",
	);
	assert_eq!(out.code, 0, "a past --expires signs: {out:?}");
	let jwt = token(&out.stdout);
	assert!(out.stderr.starts_with("warning: "), "{out:?}");
	assert!(out.stderr.contains("already expired"), "{out:?}");
	assert_eq!(out.stderr.lines().count(), 1);
	dir.write("alice.jwt", &out.stdout);

	// Verifying it now fails: it expired at the end of 2023.
	let line = dir
		.run(&["--key", "root.jwk", "verify", "--in", "alice.jwt"], "")
		.fails_with("expired")
		.to_string();
	assert!(
		line.contains(SEED_EXPIRES) && line.contains("sign a new token"),
		"{line}"
	);

	// As of before the expiry, the claims are what docs/tokens.md#examples shows.
	let claims = json(&dir.ok(&["--key", "root.jwk", "verify", "--now", "1703977200"], &jwt));
	assert_eq!(claims["root"], "rooms/meeting-123");
	assert_eq!(claims["pub"], serde_json::json!(["alice/**"]));
	assert_eq!(claims["sub"], serde_json::json!(["**"]));
	assert_eq!(claims["cluster"], false);
	assert_eq!(claims["exp"], 1703980800);
	assert!(claims["iat"].as_u64().unwrap() >= now() - 60);
	assert_eq!(claims["nbf"], Value::Null);
	assert_eq!(claims["jti"], Value::Null);
}

/// The user token for `hang/meeting-123` and the cluster token (docs/cluster.md#cluster-authentication),
/// with `dev/root.jwk`.
#[test]
fn seed_user_and_cluster_tokens() {
	let dir = Dir::new("seed-003");
	dir.ok(&["--key", "dev/root.jwk", "generate", "--algorithm", "HS256"], "");

	let out = dir.run(
		&[
			"--key",
			"dev/root.jwk",
			"sign",
			"--root",
			"hang/meeting-123",
			"--subscribe",
			"",
			"--publish",
			"alice",
			"--expires",
			SEED_EXPIRES,
		],
		"",
	);
	assert_eq!(out.code, 0, "{out:?}");
	assert!(out.stderr.contains("already expired"));
	let user = token(&out.stdout);
	let at = ["--key", "dev/root.jwk", "verify", "--now", "1703977200"];
	let claims = json(&dir.ok(&at, &user));
	assert_eq!(claims["root"], "hang/meeting-123");
	assert_eq!(claims["pub"], serde_json::json!(["alice/**"]));
	assert_eq!(claims["sub"], serde_json::json!(["**"]));
	dir.run(&["--key", "dev/root.jwk", "verify"], &user)
		.fails_with("expired");

	// "Connection Path: Must match or be under the token's root path".
	let mut args = at.to_vec();
	args.extend(["--root", "/hang/meeting-123/alice"]);
	let connect = &json(&dir.ok(&args, &user))["connect"];
	assert_eq!(connect["path"], "hang/meeting-123/alice");
	assert_eq!(connect["publish"], serde_json::json!(["**"]));
	assert_eq!(connect["subscribe"], serde_json::json!(["**"]));
	let mut args = at.to_vec();
	args.extend(["--root", "hang"]);
	dir.run(&args, &user).fails_with("root_mismatch");

	let out = dir.run(
		&[
			"--key",
			"dev/root.jwk",
			"sign",
			"--root",
			"",
			"--subscribe",
			"",
			"--publish",
			"",
			"--cluster",
		],
		"",
	);
	assert_eq!(out.code, 0, "{out:?}");
	assert!(out.stderr.is_empty(), "no expiry, no warning: {out:?}");
	let cluster = token(&out.stdout);
	let claims = json(&dir.ok(&["--key", "dev/root.jwk", "verify"], &cluster));
	assert_eq!(claims["cluster"], true);
	assert_eq!(claims["root"], "");
	assert_eq!(claims["pub"], serde_json::json!(["**"]));
	assert_eq!(claims["sub"], serde_json::json!(["**"]));
	assert_eq!(claims["exp"], Value::Null, "the documented cluster token has no expiry");
}

// --- 2. Every algorithm -------------------------------------------------------------------

#[test]
fn every_algorithm_generates_signs_and_verifies() {
	let dir = Dir::new("algorithms");
	for alg in moq_token::Algorithm::NAMES {
		let private = format!("{alg}.jwk");
		let public = format!("{alg}.pub.jwk");
		dir.ok(&["--key", &private, "generate", "--algorithm", alg], "");
		let key = jwk(&dir, &private);
		assert_eq!(key["alg"], alg);

		let jwt = token(&dir.ok(
			&[
				"--key",
				&private,
				"sign",
				"--root",
				"room/123",
				"--publish",
				"alice",
				"--subscribe",
				"",
				"--expires-in",
				"1h",
				"--jti",
				"t-1",
			],
			"",
		));
		let check = |claims: Value| {
			assert_eq!(claims["root"], "room/123", "{alg}");
			assert_eq!(claims["pub"], serde_json::json!(["alice/**"]), "{alg}");
			assert_eq!(claims["sub"], serde_json::json!(["**"]), "{alg}");
			assert_eq!(claims["jti"], "t-1", "{alg}");
			assert_eq!(claims["cluster"], false, "{alg}");
		};
		check(json(&dir.ok(&["--key", &private, "verify"], &jwt)));

		let out = dir.run(&["--key", &private, "public"], "");
		if alg.starts_with("HS") {
			out.fails_with("key_error");
			assert!(out.stderr.contains("no public half"), "{out:?}");
			continue;
		}
		assert_eq!(out.code, 0, "{out:?}");
		dir.write(&public, &out.stdout);
		let public_jwk = jwk(&dir, &public);
		assert_eq!(public_jwk["key_ops"], serde_json::json!(["verify"]), "{alg}");
		assert_eq!(public_jwk["kid"], key["kid"], "{alg}");
		assert!(public_jwk.get("d").is_none(), "{alg}: no private field");
		check(json(&dir.ok(&["--key", &public, "verify"], &jwt)));

		// --json prints the readable JWK.
		let readable = json(&dir.ok(&["--key", &private, "public", "--json"], ""));
		assert_eq!(readable, public_jwk, "{alg}");

		// A public key cannot sign.
		let out = dir.run(&["--key", &public, "sign", "--subscribe", ""], "");
		assert_eq!(out.code, 1, "{out:?}");
		assert!(out.stderr.starts_with("error: "), "{out:?}");
	}
}

// --- 3. Failures --------------------------------------------------------------------------

#[test]
fn bad_tokens_fail_with_one_line_and_the_code() {
	let dir = Dir::new("bad");
	dir.ok(&["--key", "a.jwk", "generate", "--id", "same"], "");
	dir.ok(&["--key", "b.jwk", "generate", "--id", "same"], "");
	dir.ok(&["--key", "other.jwk", "generate"], "");
	let jwt = token(&dir.ok(&["--key", "a.jwk", "sign", "--root", "room/123", "--subscribe", ""], ""));

	// Same kid, different secret.
	dir.run(&["--key", "b.jwk", "verify"], &jwt).fails_with("bad_signature");
	dir.run(&["--key", "other.jwk", "verify"], &jwt)
		.fails_with("unknown_kid");
	dir.run(&["--key", "a.jwk", "verify"], "not a token")
		.fails_with("malformed");
	dir.run(&["--key", "a.jwk", "verify"], "").fails_with("malformed");

	// A tampered payload.
	let parts: Vec<&str> = jwt.split('.').collect();
	let forged = moq_token::Key::generate(moq_token::Algorithm::HS256, None)
		.unwrap()
		.sign(
			&moq_token::Claims::new(moq_token::Path::root())
				.with_publish(moq_token::Path::root())
				.with_subscribe(moq_token::Path::root()),
		)
		.unwrap();
	let tampered = format!("{}.{}.{}", parts[0], forged.split('.').nth(1).unwrap(), parts[2]);
	dir.run(&["--key", "a.jwk", "verify"], &tampered)
		.fails_with("bad_signature");

	let expired = token(&dir.ok(&["--key", "a.jwk", "sign", "--subscribe", "", "--expires", "1"], ""));
	dir.run(&["--key", "a.jwk", "verify"], &expired).fails_with("expired");
	let later = token(&dir.ok(
		&[
			"--key",
			"a.jwk",
			"sign",
			"--subscribe",
			"",
			"--not-before",
			"4102444800",
		],
		"",
	));
	dir.run(&["--key", "a.jwk", "verify"], &later)
		.fails_with("not_yet_valid");

	// Connecting outside the root.
	for outside in ["/room", "room/1234", "/secret", "/"] {
		let line = dir
			.run(&["--key", "a.jwk", "verify", "--root", outside], &jwt)
			.fails_with("root_mismatch")
			.to_string();
		assert!(line.contains("connect to /room/123 or below"), "{line}");
	}
	dir.ok(&["--key", "a.jwk", "verify", "--root", "/room/123/bob"], &jwt);
	dir.run(&["--key", "a.jwk", "verify", "--root", "room/../x"], &jwt)
		.fails_with("invalid_path");

	// Signing errors.
	dir.run(&["--key", "a.jwk", "sign", "--root", "x"], "")
		.fails_with("useless_token");
	dir.run(&["--key", "a.jwk", "sign", "--publish", "../etc"], "")
		.fails_with("invalid_path");
	dir.run(&["--key", "missing.jwk", "sign", "--publish", ""], "")
		.fails_saying("generate");
	dir.write("junk.jwk", "{\"alg\":\"HS999\"}");
	dir.run(&["--key", "junk.jwk", "sign", "--publish", ""], "")
		.fails_with("unsupported_algorithm");
	dir.run(&["sign", "--publish", ""], "").fails_saying("--key FILE");
}

#[test]
fn bad_timestamps_are_usage_errors_not_panics() {
	let dir = Dir::new("timestamps");
	dir.ok(&["--key", "k.jwk", "generate"], "");
	for (flag, value, says) in [
		("--expires", "-1", "negative"),
		("--expires", "soon", "not a number"),
		("--expires", "18446744073709551616", "out of range"),
		("--expires", "9223372036854775808", "out of range"),
		("--issued", "-5", "negative"),
		("--expires-in", "1y", "not a duration"),
		("--expires-in", "99999999999999999999w", "out of range"),
	] {
		let out = dir.run(&["--key", "k.jwk", "sign", "--subscribe", "", flag, value], "");
		assert_eq!(out.code, 2, "{out:?}");
		assert!(out.stderr.contains(says), "{says:?}: {out:?}");
		assert!(!out.stderr.contains("panicked"), "{out:?}");
	}
	// The largest timestamp signs and verifies; a relative expiry past it is refused cleanly.
	let max = i64::MAX.to_string();
	let jwt = token(&dir.ok(&["--key", "k.jwk", "sign", "--subscribe", "", "--expires", &max], ""));
	assert_eq!(json(&dir.ok(&["--key", "k.jwk", "verify"], &jwt))["exp"], i64::MAX);
	let out = dir.run(&["--key", "k.jwk", "sign", "--subscribe", "", "--expires-in", &max], "");
	out.fails_saying("too far in the future");
	let out = dir.run(
		&[
			"--key",
			"k.jwk",
			"sign",
			"--subscribe",
			"",
			"--expires",
			"5",
			"--expires-in",
			"1h",
		],
		"",
	);
	assert_eq!(out.code, 2, "exactly one of --expires/--expires-in: {out:?}");
}

// --- 4. Stdin, flag placement, upstream spellings, formats --------------------------------

#[test]
fn key_from_stdin_and_after_the_subcommand() {
	let dir = Dir::new("stdin");
	let key = dir.ok(&["generate"], "");
	assert_eq!(key.lines().count(), 1, "no --key: the key goes to stdout");
	dir.write("k.jwk", &key);

	let jwt = token(&dir.ok(&["--key", "-", "sign", "--publish", "bob"], &key));
	dir.write("bob.jwt", &jwt);
	let claims = json(&dir.ok(&["verify", "--key", "k.jwk"], &jwt));
	assert_eq!(claims["pub"], serde_json::json!(["bob/**"]));
	assert_eq!(claims["sub"], serde_json::json!([]));
	dir.ok(&["verify", "--key", "-", "--in", "bob.jwt"], &key);
	dir.ok(&["sign", "--key", "k.jwk", "--publish", "x"], "");

	// Key and token cannot both come from stdin.
	dir.run(&["--key", "-", "verify"], &key).fails_saying("--in FILE");
	dir.run(&["--key", "-", "verify", "--in", "-"], &key)
		.fails_saying("--in FILE");

	// JSON key files load too, and so does a key set for verify.
	let readable = dir.ok(&["generate", "--json"], "");
	assert_eq!(json(&readable)["alg"], "HS256");
	dir.write("set.json", &format!("{{\"keys\":[{}]}}", readable));
	let jwt = token(&dir.ok(&["--key", "-", "sign", "--subscribe", "a"], &readable));
	assert_eq!(
		json(&dir.ok(&["--key", "set.json", "verify"], &jwt))["sub"],
		serde_json::json!(["a/**"])
	);
}

#[test]
fn upstream_spellings() {
	let dir = Dir::new("upstream");
	// generate --out / --public
	dir.ok(
		&[
			"generate",
			"--algorithm",
			"ES256",
			"--out",
			"private.jwk",
			"--public",
			"public.jwk",
		],
		"",
	);
	assert!(jwk(&dir, "private.jwk").get("d").is_some());
	assert!(jwk(&dir, "public.jwk").get("d").is_none());

	// generate --out-dir names the file after the kid.
	std::fs::create_dir(dir.join("keys")).unwrap();
	dir.ok(&["generate", "--out-dir", "keys", "--id", "k-2024"], "");
	assert_eq!(jwk(&dir, "keys/k-2024.jwk")["kid"], "k-2024");
	dir.ok(
		&[
			"generate",
			"--out-dir",
			"keys",
			"--algorithm",
			"EdDSA",
			"--public-dir",
			"pub",
		],
		"",
	);
	let names: Vec<String> = std::fs::read_dir(dir.join("pub"))
		.unwrap()
		.map(|e| e.unwrap().file_name().into_string().unwrap())
		.collect();
	assert_eq!(names.len(), 1);
	let kid = names[0].strip_suffix(".jwk").unwrap();
	assert_eq!(jwk(&dir, &format!("keys/{kid}.jwk"))["kid"], kid, "thumbprint kid");
	assert_eq!(jwk(&dir, &format!("pub/{kid}.jwk"))["alg"], "EdDSA");

	// Both halves to stdout is refused.
	dir.run(&["generate", "--algorithm", "ES256", "--public", "-"], "")
		.fails_saying("both keys to stdout");

	// sign --key --issued, verify --key --in.
	let out = dir.ok(
		&[
			"sign",
			"--key",
			"private.jwk",
			"--root",
			"demo",
			"--publish",
			"bbb",
			"--issued",
			"1700000000",
			"--expires",
			"4102444800",
		],
		"",
	);
	dir.write("token.jwt", &out);
	let claims = json(&dir.ok(&["verify", "--key", "public.jwk", "--in", "token.jwt"], ""));
	assert_eq!(claims["iat"], 1700000000);
	assert_eq!(claims["exp"], 4102444800u64);
	assert_eq!(claims["root"], "demo");

	// Upstream scope flags on generate write a key scope that signing enforces.
	dir.ok(
		&[
			"generate",
			"--out",
			"scoped.jwk",
			"--root",
			"demo",
			"--publish",
			"alice",
		],
		"",
	);
	assert_eq!(
		jwk(&dir, "scoped.jwk")["scope"],
		serde_json::json!({"root": "demo", "put": ["alice"]})
	);
	dir.ok(
		&[
			"sign",
			"--key",
			"scoped.jwk",
			"--root",
			"demo/alice",
			"--publish",
			"cam",
		],
		"",
	);
	dir.run(
		&["sign", "--key", "scoped.jwk", "--root", "demo", "--publish", "bob"],
		"",
	)
	.fails_with("scope_exceeded");
}

#[test]
fn expires_in_is_relative_to_now() {
	let dir = Dir::new("expires-in");
	dir.ok(&["--key", "k.jwk", "generate"], "");
	for (spec, secs) in [("1h", 3600), ("10m", 600), ("90", 90), ("7d", 604_800)] {
		let before = now();
		let jwt = token(&dir.ok(&["--key", "k.jwk", "sign", "--subscribe", "", "--expires-in", spec], ""));
		let after = now();
		let claims = json(&dir.ok(&["--key", "k.jwk", "verify"], &jwt));
		let exp = claims["exp"].as_u64().unwrap();
		assert!((before + secs..=after + secs).contains(&exp), "{spec}: {exp}");
		let iat = claims["iat"].as_u64().unwrap();
		assert!((before..=after).contains(&iat), "iat is now");
	}
}

#[test]
fn put_get_tokens_verify_with_the_upstream_library() {
	let dir = Dir::new("put-get");
	for alg in ["HS256", "ES256", "EdDSA"] {
		let file = format!("{alg}.jwk");
		dir.ok(&["--key", &file, "generate", "--algorithm", alg], "");
		let out = dir.ok(
			&[
				"--key",
				&file,
				"sign",
				"--root",
				"demo",
				"--publish",
				"alice",
				"--publish",
				"bob/cam",
				"--subscribe",
				"",
				"--claims-format",
				"put-get",
				"--expires-in",
				"1h",
			],
			"",
		);
		let jwt = token(&out);
		let payload = moq_token_payload(&jwt);
		assert_eq!(payload["put"], serde_json::json!(["alice", "bob/cam"]));
		assert_eq!(payload["get"], serde_json::json!([""]));
		assert!(payload.get("pub").is_none() && payload.get("sub").is_none());

		// Ours reads it back.
		let claims = json(&dir.ok(&["--key", &file, "verify"], &jwt));
		assert_eq!(claims["pub"], serde_json::json!(["alice/**", "bob/cam/**"]));

		// Upstream reads our key file and verifies our token.
		let key = upstream_moq_token::Key::from_file(dir.join(&file)).unwrap();
		let claims = key.verify(&jwt).unwrap();
		assert_eq!(claims.root, "demo");
		assert_eq!(claims.publish, vec!["alice".to_string(), "bob/cam".to_string()]);
		assert_eq!(claims.subscribe, vec![String::new()]);
	}
}

/// The payload of a token, decoded without verifying it.
fn moq_token_payload(jwt: &str) -> Value {
	use base64::Engine;
	let part = jwt.split('.').nth(1).unwrap();
	let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap();
	serde_json::from_slice(&bytes).unwrap()
}

/// Key files and tokens of the upstream library work with this CLI.
#[test]
fn upstream_keys_and_tokens_work_here() {
	let dir = Dir::new("upstream-keys");
	for alg in [
		upstream_moq_token::Algorithm::HS256,
		upstream_moq_token::Algorithm::ES256,
	] {
		let key = upstream_moq_token::Key::generate(alg, None).unwrap();
		key.to_file(dir.join("up.jwk")).unwrap();
		let claims = upstream_moq_token::Claims::default()
			.with_root("demo")
			.with_publish(["alice"])
			.with_subscribe([""]);
		let upstream_token = key.sign(&claims).unwrap();
		let ours = json(&dir.ok(&["--key", "up.jwk", "verify"], &upstream_token));
		assert_eq!(ours["root"], "demo");
		assert_eq!(ours["pub"], serde_json::json!(["alice/**"]));
		assert_eq!(ours["sub"], serde_json::json!(["**"]));

		// Ours signs with the upstream key file, and upstream verifies it.
		let jwt = token(&dir.ok(
			&[
				"--key",
				"up.jwk",
				"sign",
				"--root",
				"demo",
				"--subscribe",
				"bob",
				"--claims-format",
				"put-get",
			],
			"",
		));
		assert_eq!(key.verify(&jwt).unwrap().subscribe, vec!["bob".to_string()]);
		std::fs::remove_file(dir.join("up.jwk")).unwrap();
	}
}

#[test]
fn jwks_builds_public_key_sets() {
	let dir = Dir::new("jwks");
	dir.ok(
		&[
			"generate",
			"--algorithm",
			"ES256",
			"--out",
			"a.jwk",
			"--public",
			"a.pub.jwk",
			"--id",
			"a",
		],
		"",
	);
	dir.ok(
		&[
			"generate",
			"--algorithm",
			"EdDSA",
			"--out",
			"b.jwk",
			"--public",
			"b.pub.jwk",
			"--id",
			"b",
		],
		"",
	);
	dir.ok(&["generate", "--out", "h.jwk", "--id", "h"], "");

	let set = json(&dir.ok(&["jwks", "a.pub.jwk", "b.pub.jwk"], ""));
	let keys = set["keys"].as_array().unwrap();
	assert_eq!(keys.len(), 2);
	assert_eq!(keys[0]["kid"], "a");
	assert_eq!(keys[1]["kty"], "OKP");
	dir.write("keys.json", &serde_json::to_string(&set).unwrap());

	// Each key's tokens verify with the set, picked by kid.
	for key in ["a.jwk", "b.jwk"] {
		let jwt = token(&dir.ok(&["--key", key, "sign", "--subscribe", ""], ""));
		dir.ok(&["--key", "keys.json", "verify"], &jwt);
	}
	let jwt = token(&dir.ok(&["--key", "h.jwk", "sign", "--subscribe", ""], ""));
	dir.run(&["--key", "keys.json", "verify"], &jwt)
		.fails_with("unknown_kid");

	// Private keys are refused unless converted or explicitly allowed.
	dir.run(&["jwks", "a.jwk"], "").fails_saying("--public");
	let set = json(&dir.ok(&["jwks", "--public", "a.jwk", "b.pub.jwk"], ""));
	assert!(set["keys"][0].get("d").is_none());
	dir.run(&["jwks", "--public", "h.jwk"], "")
		.fails_saying("no public half");
	let private = json(&dir.ok(&["jwks", "--allow-private", "h.jwk", "a.jwk"], ""));
	assert!(private["keys"][0].get("k").is_some());

	// Duplicate kids cannot make a set.
	dir.run(&["jwks", "a.pub.jwk", "a.pub.jwk"], "").fails_with("key_error");

	#[cfg(unix)]
	{
		dir.ok(&["jwks", "--allow-private", "h.jwk", "--out", "private.json"], "");
		assert_eq!(mode(&dir.join("private.json")), 0o600);
	}
}

// --- 5. Key files -------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn key_files_are_private_and_never_silently_overwritten() {
	let dir = Dir::new("files");
	dir.ok(
		&[
			"--key",
			"k.jwk",
			"generate",
			"--algorithm",
			"ES256",
			"--public",
			"k.pub.jwk",
		],
		"",
	);
	assert_eq!(mode(&dir.join("k.jwk")), 0o600);
	let first = dir.read("k.jwk");
	let first_public = dir.read("k.pub.jwk");

	// Refused, whichever of the two exists, and nothing is written.
	dir.run(&["--key", "k.jwk", "generate"], "").fails_saying("--force");
	dir.run(
		&[
			"--key",
			"new.jwk",
			"generate",
			"--algorithm",
			"ES256",
			"--public",
			"k.pub.jwk",
		],
		"",
	)
	.fails_saying("--force");
	assert!(!dir.join("new.jwk").exists(), "no half-written pair");
	assert_eq!(dir.read("k.jwk"), first);
	assert_eq!(dir.read("k.pub.jwk"), first_public);

	// --force replaces it, and tightens a loose file.
	use std::os::unix::fs::PermissionsExt;
	std::fs::set_permissions(dir.join("k.jwk"), std::fs::Permissions::from_mode(0o644)).unwrap();
	dir.ok(&["--key", "k.jwk", "generate", "--json", "--force"], "");
	let second = dir.read("k.jwk");
	assert_ne!(second, first);
	assert!(second.trim_start().starts_with('{'), "--json writes readable JSON");
	assert_eq!(json(&second)["alg"], "HS256");
	assert_eq!(mode(&dir.join("k.jwk")), 0o600);

	// --out-dir and --out files are private too.
	dir.ok(&["generate", "--out-dir", "d", "--id", "x"], "");
	assert_eq!(mode(&dir.join("d/x.jwk")), 0o600);
	dir.run(&["generate", "--out-dir", "d", "--id", "x"], "")
		.fails_saying("--force");
}

/// `moq-token ... | head`: a reader that went away is not an error worth reporting.
#[test]
fn closed_stdout_exits_quietly() {
	let dir = Dir::new("pipe");
	let key = dir.ok(&["generate"], "");
	let mut child = Command::new(env!("CARGO_BIN_EXE_moq-token"))
		.args(["--key", "-", "sign", "--subscribe", ""])
		.current_dir(&dir.0)
		.stdin(Stdio::piped())
		.stdout(Stdio::piped())
		.stderr(Stdio::piped())
		.spawn()
		.unwrap();
	// Close the read end of stdout before the tool can write: it waits for the key on stdin.
	drop(child.stdout.take());
	child.stdin.take().unwrap().write_all(key.as_bytes()).unwrap();
	let out = child.wait_with_output().unwrap();
	let stderr = String::from_utf8(out.stderr).unwrap();
	assert_eq!(out.status.code(), Some(0), "{stderr}");
	assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn help_and_version() {
	let dir = Dir::new("help");
	let help = dir.ok(&["--help"], "");
	for command in ["generate", "sign", "verify", "public", "jwks"] {
		assert!(help.contains(command), "{help}");
	}
	let sign = dir.ok(&["sign", "--help"], "");
	for flag in [
		"--expires-in",
		"--claims-format",
		"--cluster",
		"--jti",
		"--issued",
		"--key",
	] {
		assert!(sign.contains(flag), "{flag}: {sign}");
	}
	assert!(dir.ok(&["--version"], "").contains("0.1.0"));
	let out = dir.run(&["frobnicate"], "");
	assert_eq!(out.code, 2, "{out:?}");
}

/// A full disk while a key set is rewritten in place (`jwks set.json new.pub.jwk --out
/// set.json`, adding a key for a rotation) or a key generated leaves every file as it was: the
/// set is not truncated (the relay reading it would lose every key), no half-written or empty
/// file stays behind, and the error names the file and the cause. The directory is a 512 KiB
/// tmpfs filled up, in a mount namespace of the script's own (`dev/in-tmpfs.sh`).
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_leaves_key_files_as_they_were() {
	let dir = Dir::new("full-disk");
	// Twenty-four public keys make a set of more than one 4 KiB page, so the rewrite needs room
	// the old file does not hold.
	let script = r#"cd "$1" || exit 90
M="$2"
for i in $(seq 24); do "$M" generate --algorithm ES256 --out k$i.jwk --public k$i.pub.jwk --id k$i >/dev/null || exit 91; done
"$M" jwks k1.pub.jwk --out set.json || exit 92
cp set.json before.json
"$3" fill . || exit 93
others=$(ls k*.pub.jwk | grep -v '^k1\.pub')
out=$("$M" jwks set.json $others --out set.json 2>&1); echo "jwks exit=$? $out"
cmp -s set.json before.json && echo "set unchanged"
out=$("$M" --key new.jwk generate 2>&1); echo "generate exit=$? $out"
echo "files: $(ls -A | grep -v '^k' | tr '\n' ' ')"
rm filler
out=$("$M" jwks set.json $others --out set.json 2>&1); echo "with room exit=$? $out"
echo "kids: $(grep -o '"kid"' set.json | wc -l)"
"#;
	let in_tmpfs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/in-tmpfs.sh");
	let out = Command::new(in_tmpfs)
		.args(["run", "512k"])
		.arg(&dir.0)
		.args(["sh", "-c", script, "sh"])
		.arg(&dir.0)
		.arg(env!("CARGO_BIN_EXE_moq-token"))
		.arg(in_tmpfs)
		.output()
		.unwrap();
	let stdout = String::from_utf8_lossy(&out.stdout);
	let stderr = String::from_utf8_lossy(&out.stderr);
	assert!(
		out.status.success(),
		"the script failed ({}): {stdout}{stderr}",
		out.status
	);
	let lines: Vec<&str> = stdout.lines().collect();
	assert_eq!(
		lines,
		[
			"jwks exit=1 error: key_error: set.json: No space left on device (os error 28)",
			"set unchanged",
			"generate exit=1 error: key_error: new.jwk: No space left on device (os error 28)",
			"files: before.json filler set.json ",
			"with room exit=0 ",
			"kids: 24",
		],
		"{stderr}"
	);
}
