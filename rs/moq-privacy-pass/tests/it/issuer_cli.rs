//! The `moq-pp-issuer` binary's command line: `--help`, bad arguments, and the flags at work.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_moq-pp-issuer");
const FLAGS: [&str; 4] = ["--bind", "--key", "--public-key-out", "--url"];

#[test]
fn help_prints_the_usage_and_exits_0() {
	for help in ["--help", "-h"] {
		let out = Command::new(BIN).arg(help).output().unwrap();
		assert!(out.status.success(), "{help}: {:?}", out.status);
		let usage = String::from_utf8(out.stdout).unwrap();
		assert!(usage.contains("Usage: moq-pp-issuer"), "{usage}");
		for flag in FLAGS {
			assert!(usage.contains(flag), "{help} does not list {flag}: {usage}");
		}
	}
}

#[test]
fn a_bad_argument_is_named_and_fails() {
	for (args, named) in [
		(&["--nope"][..], "'--nope'"),
		(&["--bind", "not-an-address"], "--bind"),
		(&["--key"], "--key"),
	] {
		let out = Command::new(BIN).args(args).output().unwrap();
		assert_eq!(out.status.code(), Some(2), "{args:?}");
		let err = String::from_utf8(out.stderr).unwrap();
		assert!(err.starts_with("error: ") && err.contains(named), "{args:?}: {err}");
		assert!(err.contains("--help"), "{args:?}: {err}");
	}
}

/// Every flag: the key is generated into `--key` (mode 0600), the public key written to
/// `--public-key-out`, and `--url` (trailing slash dropped) names the issuer and its directory.
#[test]
fn the_flags_configure_the_issuer() {
	let scratch = scratch("moq-pp-issuer-cli-");
	let dir = scratch.path().to_path_buf();
	let (key, public) = (dir.join("issuer.pem"), dir.join("issuer.pub"));
	let mut child = Killed(
		Command::new(BIN)
			.args(["--bind", "127.0.0.1:0", "--url", "http://issuer.test/"])
			.arg("--key")
			.arg(&key)
			.arg("--public-key-out")
			.arg(&public)
			.stdout(Stdio::piped())
			.stderr(Stdio::inherit())
			.spawn()
			.unwrap(),
	);
	let mut lines = Vec::new();
	for line in BufReader::new(child.0.stdout.take().unwrap()).lines() {
		let line = line.unwrap();
		let done = line == "ready";
		lines.push(line);
		if done {
			break;
		}
	}
	drop(child);

	let token_key = std::fs::read_to_string(&public).unwrap();
	assert_eq!(
		lines,
		[
			"issuer: issuer.test".to_string(),
			format!("directory: http://issuer.test{}", moq_privacy_pass::DIRECTORY_PATH),
			format!("token-key: {}", token_key.trim()),
			"ready".to_string(),
		]
	);
	let pem = std::fs::read_to_string(&key).unwrap();
	let pair = moq_privacy_pass::IssuerKeyPair::from_pem(&pem).unwrap();
	assert_eq!(pair.public_key().to_base64(), token_key.trim());
	#[cfg(unix)]
	{
		use std::os::unix::fs::PermissionsExt;
		let mode = std::fs::metadata(&key).unwrap().permissions().mode();
		assert_eq!(mode & 0o777, 0o600);
	}
}

/// A scratch directory named after `prefix`, removed when it drops (a failed test included).
fn scratch(prefix: &str) -> tempfile::TempDir {
	tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}

/// A child process killed (and reaped) when dropped, a failed assertion included.
struct Killed(std::process::Child);

impl Drop for Killed {
	fn drop(&mut self) {
		let _ = self.0.kill();
		let _ = self.0.wait();
	}
}

/// A key generated into `--key` on a full disk: the issuer stops with the file and the cause,
/// and leaves no half-written key (which the next start would refuse to parse). The directory is
/// an 8 KiB tmpfs filled up, in a mount namespace of the script's own (`dev/in-tmpfs.sh`).
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_leaves_no_half_key() {
	let scratch = scratch("moq-pp-issuer-full-");
	let dir = scratch.path().to_path_buf();
	let script = r#"cd "$1" || exit 90
out=$("$2" --key issuer.pem --bind 127.0.0.1:0 2>&1); echo "exit=$? $out"
echo "files: $(ls -A | tr '\n' ' ')"
"#;
	let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../dev/in-tmpfs.sh"))
		.args(["run", "8k"])
		.arg(&dir)
		.arg("--full")
		.args(["sh", "-c", script, "sh"])
		.arg(&dir)
		.arg(BIN)
		.output()
		.unwrap();
	let stdout = String::from_utf8_lossy(&out.stdout);
	assert!(
		out.status.success(),
		"the script failed ({}): {stdout}{}",
		out.status,
		String::from_utf8_lossy(&out.stderr)
	);
	let lines: Vec<&str> = stdout.lines().collect();
	assert_eq!(
		lines,
		[
			"exit=1 moq-pp-issuer: cannot write issuer.pem: No space left on device (os error 28)",
			"files: filler ",
		]
	);
}

/// `--public-key-out` replaces the file whole (a new file renamed over it), never rewriting it in
/// place: a relay reading the key as the issuer starts reads the old key or the new one, never a
/// part. Seen here from a reader that opened the old file before: it still reads the old key (a
/// write in place would show it the new one), and the path then holds the whole new key.
#[cfg(unix)]
#[test]
fn the_public_key_file_is_replaced_whole() {
	use std::io::Read;
	let scratch = scratch("moq-pp-issuer-pub-");
	let dir = scratch.path().to_path_buf();
	let public = dir.join("issuer.pub");
	std::fs::write(&public, "old-key\n").unwrap();
	let mut reader = std::fs::File::open(&public).unwrap();
	let mut child = Killed(
		Command::new(BIN)
			.args(["--bind", "127.0.0.1:0", "--public-key-out"])
			.arg(&public)
			.stdout(Stdio::piped())
			.stderr(Stdio::inherit())
			.spawn()
			.unwrap(),
	);
	let mut token_key = None;
	for line in BufReader::new(child.0.stdout.take().unwrap()).lines() {
		let line = line.unwrap();
		if let Some(key) = line.strip_prefix("token-key: ") {
			token_key = Some(key.to_string());
		}
		if line == "ready" {
			break;
		}
	}
	drop(child);
	let mut old = String::new();
	reader.read_to_string(&mut old).unwrap();
	let new = std::fs::read_to_string(&public).unwrap();
	let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&public).unwrap().permissions());
	assert_eq!(old, "old-key\n", "the file was rewritten in place");
	assert_eq!(new, format!("{}\n", token_key.expect("a token-key line")));
	// A public key: readable by a relay that runs as another user.
	assert_eq!(mode & 0o777, 0o644);
}
