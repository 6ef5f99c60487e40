//! The configuration examples of the two servers this relay replaces (`docs/auth.md`, "Coming from
//! moshi-server / Sayna"), run with the `moq-relay` binary: their environment variables, their
//! configuration file, their `openssl` commands, adapted only where a name must be this relay's
//! (the binary's name, `--server-bind 127.0.0.1:0`, the route `/announced/...` for their endpoints,
//! `MOQ_AUTH_SERVICE_SUBJECT` for the request subject their example service checks).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path as FsPath;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::auth_service::{PublicKey, Reply, Scratch, TestService, get, openssl, operator_keys, refusal};
use crate::common::{self, Target};

/// The binary, started in `dir` with exactly `env` (nothing inherited) and `args`.
struct Spawned {
	child: Child,
	addr: SocketAddr,
	fingerprint: String,
	stderr: Arc<Mutex<String>>,
}

impl Target for Spawned {
	fn addr(&self) -> SocketAddr {
		self.addr
	}
	fn fingerprint(&self) -> &str {
		&self.fingerprint
	}
}

impl Drop for Spawned {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

fn command(dir: &FsPath, env: &[(&str, &str)], args: &[&str]) -> Command {
	let mut command = Command::new(env!("CARGO_BIN_EXE_moq-relay"));
	command
		.current_dir(dir)
		.env_clear()
		.env("RUST_LOG", "warn")
		.envs(env.iter().copied())
		.args(args)
		.args(["--server-bind", "127.0.0.1:0"]);
	command
}

/// Starts the relay and waits for its fingerprint line (printed once every socket is bound).
fn spawn(dir: &FsPath, env: &[(&str, &str)], args: &[&str]) -> Spawned {
	let mut child = command(dir, env, args)
		.stdout(Stdio::piped())
		.stderr(Stdio::piped())
		.spawn()
		.unwrap();
	let stderr = Arc::new(Mutex::new(String::new()));
	let mut pipe = child.stderr.take().unwrap();
	let sink = stderr.clone();
	std::thread::spawn(move || {
		let mut buf = [0u8; 4096];
		while let Ok(n) = pipe.read(&mut buf) {
			if n == 0 {
				break;
			}
			sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
		}
	});
	let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
	let (mut addr, mut fingerprint) = (None, None);
	while fingerprint.is_none() {
		let Some(Ok(line)) = lines.next() else {
			panic!(
				"the relay exited before printing its fingerprint: {}",
				stderr.lock().unwrap()
			);
		};
		if let Some(rest) = line.strip_prefix("listening: ") {
			addr.get_or_insert(rest.split(' ').next().unwrap().parse().unwrap());
		}
		if let Some(rest) = line.strip_prefix("fingerprint: ") {
			fingerprint = Some(rest.to_string());
		}
	}
	// Keep reading stdout so the relay never blocks on a full pipe.
	std::thread::spawn(move || lines.for_each(drop));
	Spawned {
		child,
		addr: addr.unwrap(),
		fingerprint: fingerprint.unwrap(),
		stderr,
	}
}

/// moshi-server: `MOSHI_API_KEY` (comma-separated), keys in the `kyutai-api-key` header or the
/// `auth_id` query, on HTTP and on a MoQ session; and `authorized_ids` in the configuration file,
/// written as moshi-server's own file has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moshi_server_api_keys_from_the_environment_and_the_file() {
	let dir = Scratch::new("moshi");
	// export MOSHI_API_KEY="secret_token_1,secret_token_2"; moshi-server worker --config config.toml
	std::fs::write(dir.0.join("config.toml"), "").unwrap();
	let relay = spawn(
		&dir.0,
		&[("MOSHI_API_KEY", "secret_token_1,secret_token_2")],
		&["--config", "config.toml"],
	);
	for token in ["secret_token_1", "secret_token_2"] {
		let (status, _) = get(relay.addr, "/announced/asr", &[("kyutai-api-key", token)]).await;
		assert_eq!(status, 200, "kyutai-api-key {token}");
		let (status, _) = get(relay.addr, &format!("/announced/asr?auth_id={token}"), &[]).await;
		assert_eq!(status, 200, "auth_id {token}");
		// A MoQ session (raw QUIC; the query is in the SETUP path).
		common::announce_ok(&common::admitted(&relay, &format!("/asr?auth_id={token}")).await).await;
	}
	let (status, body) = get(relay.addr, "/announced/asr", &[("kyutai-api-key", "secret_token_3")]).await;
	assert_eq!((status, refusal(&body).0.as_str()), (401, "unauthorized"));
	let conn = common::admitted(&relay, "/asr?auth_id=secret_token_3").await;
	assert_eq!(common::closed(&conn).await, (2, "unauthorized".to_string()));
	drop(relay);

	// config.toml: authorized_ids = ["secret_token_1"]
	std::fs::write(dir.0.join("config.toml"), "authorized_ids = [\"secret_token_1\"]\n").unwrap();
	let relay = spawn(&dir.0, &[], &["--config", "config.toml"]);
	let (status, _) = get(relay.addr, "/announced/asr", &[("kyutai-api-key", "secret_token_1")]).await;
	assert_eq!(status, 200);
	let (status, body) = get(relay.addr, "/announced/asr?auth_id=secret_token_2", &[]).await;
	assert_eq!((status, refusal(&body).0.as_str()), (401, "unauthorized"));
	let (status, body) = get(relay.addr, "/announced/asr", &[]).await;
	assert_eq!((status, refusal(&body).0.as_str()), (401, "missing_credential"));
}

/// moshi-server's TLS example: `openssl req -x509 -newkey rsa:4096 … -subj "/CN=localhost"`, then
/// `--ssl-cert cert.pem --ssl-key key.pem`, with an API key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moshi_server_ssl_certificate_from_openssl() {
	use rustls_pki_types::CertificateDer;
	use rustls_pki_types::pem::PemObject;
	let dir = Scratch::new("moshi-ssl");
	openssl(
		&dir.0,
		&[
			"req",
			"-x509",
			"-newkey",
			"rsa:4096",
			"-keyout",
			"key.pem",
			"-out",
			"cert.pem",
			"-days",
			"365",
			"-nodes",
			"-subj",
			"/CN=localhost",
		],
	);
	std::fs::write(dir.0.join("config.toml"), "").unwrap();
	let relay = spawn(
		&dir.0,
		&[("MOSHI_API_KEY", "secret_token_1")],
		&[
			"--config",
			"config.toml",
			"--ssl-cert",
			"cert.pem",
			"--ssl-key",
			"key.pem",
		],
	);
	let cert = CertificateDer::from_pem_file(dir.0.join("cert.pem")).unwrap();
	let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.as_ref());
	let hex = hex::encode(digest);
	assert_eq!(relay.fingerprint, hex, "the relay serves the operator's certificate");
	// Pinned to that certificate: a MoQ session with the key.
	common::announce_ok(&common::admitted(&relay, "/asr?auth_id=secret_token_1").await).await;
}

/// Sayna's quick start, "API Secret": `openssl rand -base64 32`, `AUTH_REQUIRED=true`,
/// `AUTH_API_SECRET`, and the secret as a bearer token; without it, or with another, refused with
/// the JSON body; the comparison is case-sensitive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sayna_api_secret_quick_start() {
	let dir = Scratch::new("sayna-secret");
	let output = Command::new("openssl")
		.args(["rand", "-base64", "32"])
		.output()
		.unwrap();
	let secret = String::from_utf8(output.stdout).unwrap().trim().to_string();
	let relay = spawn(&dir.0, &[("AUTH_REQUIRED", "true"), ("AUTH_API_SECRET", &secret)], &[]);
	let bearer = format!("Bearer {secret}");
	let (status, _) = get(relay.addr, "/announced/speak", &[("authorization", &bearer)]).await;
	assert_eq!(status, 200);
	common::announce_ok(&common::admitted(&relay, &format!("/speak?token={}", urlencode(&secret))).await).await;
	let (status, body) = get(relay.addr, "/announced/speak", &[("content-type", "application/json")]).await;
	let (code, message) = refusal(&body);
	assert_eq!((status, code.as_str()), (401, "missing_credential"), "{message}");
	for wrong in [
		"Bearer your-configured-secret".to_string(),
		format!("Bearer {}", secret.to_lowercase()),
	] {
		if wrong == bearer {
			continue;
		}
		let (status, body) = get(relay.addr, "/announced/speak", &[("authorization", &wrong)]).await;
		assert_eq!((status, refusal(&body).0.as_str()), (401, "unauthorized"));
	}
	let (status, body) = get(relay.addr, "/announced/speak", &[("authorization", "Basic abc")]).await;
	assert_eq!((status, refusal(&body).0.as_str()), (401, "invalid_auth_header"));
}

fn urlencode(value: &str) -> String {
	percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Sayna's "JWT-Based" setup with both key types of its "Generate Signing Keys" (RSA, ECDSA), the
/// service verifying with the extracted public PEM, `AUTH_TIMEOUT_SECONDS=5`; users' tokens decided
/// by the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sayna_jwt_mode_with_rsa_and_ecdsa_keys() {
	for ecdsa in [false, true] {
		let dir = Scratch::new(if ecdsa { "sayna-ec" } else { "sayna-rsa" });
		let (private, public) = operator_keys(&dir.0, ecdsa);
		let service = TestService::start("sayna-auth").await;
		service.trust(PublicKey::Pem(std::fs::read(&public).unwrap()));
		service.script("user-jwt-token-abc123", Reply::new(200, "OK"));
		let url = service.url();
		let relay = spawn(
			&dir.0,
			&[
				("AUTH_REQUIRED", "true"),
				("AUTH_SERVICE_URL", &url),
				("AUTH_SIGNING_KEY_PATH", private.to_str().unwrap()),
				("AUTH_TIMEOUT_SECONDS", "5"),
				("MOQ_AUTH_SERVICE_SUBJECT", "sayna-auth"),
			],
			&[],
		);
		let (status, _) = get(
			relay.addr,
			"/announced/speak",
			&[("authorization", "Bearer user-jwt-token-abc123")],
		)
		.await;
		assert_eq!(status, 200, "ecdsa: {ecdsa}");
		let (status, body) = get(
			relay.addr,
			"/announced/speak",
			&[("authorization", "Bearer user-jwt-token-xyz789")],
		)
		.await;
		assert_eq!(
			(status, refusal(&body)),
			(401, ("unauthorized".into(), "Unauthorized: Invalid token".into()))
		);
		common::announce_ok(&common::admitted(&relay, "/speak?token=user-jwt-token-abc123").await).await;
		assert_eq!(service.refused_jwts(), 0, "every request verified with the public PEM");
		assert_eq!(service.calls("user-jwt-token-abc123"), 2);
		drop(relay);
		service.stop().await;
	}
}

/// Sayna: "Both methods can coexist: … API Secret is checked first".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sayna_both_methods_coexist_api_secret_first() {
	let dir = Scratch::new("sayna-both");
	let (private, public) = operator_keys(&dir.0, false);
	let service = TestService::start("sayna-auth").await;
	service.trust(PublicKey::Pem(std::fs::read(&public).unwrap()));
	service.script("user-jwt-token-abc123", Reply::new(200, "OK"));
	let url = service.url();
	let relay = spawn(
		&dir.0,
		&[
			("AUTH_REQUIRED", "true"),
			("AUTH_API_SECRET", "admin-secret-0123456789abcdef"),
			("AUTH_SERVICE_URL", &url),
			("AUTH_SIGNING_KEY_PATH", private.to_str().unwrap()),
			("MOQ_AUTH_SERVICE_SUBJECT", "sayna-auth"),
		],
		&[],
	);
	let admin = [("authorization", "Bearer admin-secret-0123456789abcdef")];
	assert_eq!(get(relay.addr, "/announced/speak", &admin).await.0, 200);
	assert!(
		service.received().is_empty(),
		"the API secret never reaches the service"
	);
	let user = [("authorization", "Bearer user-jwt-token-abc123")];
	assert_eq!(get(relay.addr, "/announced/speak", &user).await.0, 200);
	assert_eq!(service.received().len(), 1, "a user token goes to the service");
	drop(relay);
	service.stop().await;
}

/// Sayna: `AUTH_REQUIRED=true` with no method is a start-up error ("Auth required but no method
/// configured", naming what to set); `AUTH_REQUIRED=false` runs open and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sayna_auth_required_with_and_without_a_method() {
	let dir = Scratch::new("sayna-required");
	let output = command(&dir.0, &[("AUTH_REQUIRED", "true")], &[]).output().unwrap();
	let stderr = String::from_utf8_lossy(&output.stderr);
	assert_eq!(output.status.code(), Some(1), "{stderr}");
	assert!(stderr.contains("Auth required but no method configured"), "{stderr}");
	for variable in ["AUTH_API_SECRET", "AUTH_SERVICE_URL", "AUTH_SIGNING_KEY_PATH"] {
		assert!(stderr.contains(variable), "{stderr}");
	}
	let output = command(&dir.0, &[("AUTH_REQUIRED", "yes please")], &[])
		.output()
		.unwrap();
	assert!(
		String::from_utf8_lossy(&output.stderr).contains("AUTH_REQUIRED: must be true or false"),
		"a bad value names the variable"
	);

	// # In .env file: AUTH_REQUIRED=false
	let relay = spawn(&dir.0, &[("AUTH_REQUIRED", "false")], &[]);
	assert_eq!(get(relay.addr, "/announced/speak", &[]).await.0, 200);
	common::announce_ok(&common::admitted(&relay, "/any/where").await).await;
	common::within("the start-up warning", async {
		while !relay.stderr.lock().unwrap().contains("authentication is OFF") {
			tokio::time::sleep(std::time::Duration::from_millis(20)).await;
		}
	})
	.await;
}
