//! A small delegated auth service for the relay (`docs/auth.md`, "Delegated auth service"): what
//! an operator's service does, for trying the relay out and for benchmarks.
//!
//! ```text
//! cargo run -q -p moq-relay --example auth_service -- --listen 127.0.0.1:8081 \
//!     --public-key auth_public_key.pem [--subject moq-relay] [--max-age 60] TOKEN...
//! ```
//!
//! It answers `POST /auth` (`Content-Type: application/jwt`): the JWT is verified with the PEM
//! public key (RS256, ES256 or EdDSA; `exp` checked, `sub` must be `--subject`, `iat` at most 60 s
//! old), then `auth_data.token` must be one of the TOKEN arguments (any token when none are given).
//! 200 `OK` (with `Cache-Control: max-age=N` when `--max-age` is given) allows; 401 with a short
//! reason refuses. It prints one line when listening and never prints a token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Parser;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// A delegated auth service for moq-relay: verifies the relay's signed request, allows listed tokens.
#[derive(Parser)]
#[command(name = "auth_service")]
struct Cli {
	/// Address to listen on.
	#[arg(long, default_value = "127.0.0.1:8081")]
	listen: SocketAddr,
	/// The relay's public key (PEM), e.g. from `openssl rsa -in private.pem -pubout`.
	#[arg(long, value_name = "FILE")]
	public_key: std::path::PathBuf,
	/// The `sub` the relay's requests carry (`[auth] service_subject`).
	#[arg(long, default_value = "moq-relay")]
	subject: String,
	/// Allow answers may be remembered this many seconds (`Cache-Control: max-age`).
	#[arg(long, value_name = "SECONDS")]
	max_age: Option<u64>,
	/// Tokens to allow (any token when none are given).
	#[arg(value_name = "TOKEN")]
	tokens: Vec<String>,
}

struct Service {
	keys: Vec<(Algorithm, DecodingKey)>,
	subject: String,
	max_age: Option<u64>,
	tokens: Vec<String>,
}

fn keys(pem: &[u8]) -> Vec<(Algorithm, DecodingKey)> {
	[
		(Algorithm::RS256, DecodingKey::from_rsa_pem(pem)),
		(Algorithm::ES256, DecodingKey::from_ec_pem(pem)),
		(Algorithm::EdDSA, DecodingKey::from_ed_pem(pem)),
	]
	.into_iter()
	.filter_map(|(alg, key)| key.ok().map(|key| (alg, key)))
	.collect()
}

impl Service {
	fn verify(&self, jwt: &str) -> Result<String, &'static str> {
		let header = jsonwebtoken::decode_header(jwt).map_err(|_| "JWT verification failed")?;
		let (alg, key) = self
			.keys
			.iter()
			.find(|(alg, _)| *alg == header.alg)
			.ok_or("JWT verification failed")?;
		let mut validation = Validation::new(*alg);
		validation.set_required_spec_claims(&["exp", "iat", "sub"]);
		validation.sub = Some(self.subject.clone());
		let claims = jsonwebtoken::decode::<serde_json::Value>(jwt, key, &validation)
			.map_err(|_| "JWT verification failed")?
			.claims;
		let iat = claims["iat"].as_u64().ok_or("JWT verification failed")?;
		let now = std::time::SystemTime::now()
			.duration_since(std::time::UNIX_EPOCH)
			.map_or(0, |d| d.as_secs());
		if now.abs_diff(iat) > 60 {
			return Err("JWT too old");
		}
		Ok(claims["auth_data"]["token"].as_str().unwrap_or_default().to_string())
	}
}

async fn validate(State(service): State<Arc<Service>>, body: String) -> Response {
	let token = match service.verify(body.trim()) {
		Ok(token) => token,
		Err(why) => return (StatusCode::UNAUTHORIZED, why).into_response(),
	};
	if !service.tokens.is_empty() && !service.tokens.contains(&token) {
		return (StatusCode::UNAUTHORIZED, "Invalid token").into_response();
	}
	match service.max_age {
		Some(seconds) => ([(header::CACHE_CONTROL, format!("max-age={seconds}"))], "OK").into_response(),
		None => "OK".into_response(),
	}
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	let cli = Cli::parse();
	let pem = std::fs::read(&cli.public_key)?;
	let keys = keys(&pem);
	anyhow::ensure!(
		!keys.is_empty(),
		"{}: not an RSA, EC or Ed25519 public key in PEM",
		cli.public_key.display()
	);
	let service = Arc::new(Service {
		keys,
		subject: cli.subject,
		max_age: cli.max_age,
		tokens: cli.tokens,
	});
	let app = Router::new().route("/auth", post(validate)).with_state(service);
	let listener = tokio::net::TcpListener::bind(cli.listen).await?;
	println!("auth service: http://{}/auth", listener.local_addr()?);
	axum::serve(listener, app).await?;
	Ok(())
}
