//! Identity tokens whose keys come from an OIDC discovery document (`[[auth.identity]]
//! discovery_url`, `docs/auth.md`, "Identity tokens"), against a provider written here from OpenID
//! Connect Discovery 1.0 (section 4: `issuer` and `jwks_uri` in `/.well-known/openid-configuration`):
//! the document's issuer is the one the tokens must carry, its `jwks_uri` supplies the keys, and a
//! provider that cannot be read at first use refuses every token until it can.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use moq_token::{Algorithm, Key, KeyId};
use serde_json::json;

use crate::common::{TestRelay, admitted, announce_ok, jwt_refusal};

/// The provider: its discovery document and key set, and whether it answers.
struct Provider {
	issuer: String,
	up: Arc<AtomicBool>,
	documents: Arc<AtomicU64>,
	task: tokio::task::JoinHandle<()>,
}

impl Drop for Provider {
	fn drop(&mut self) {
		self.task.abort();
	}
}

impl Provider {
	async fn start(key: &Key, up: bool) -> Self {
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let issuer = format!("http://{}", listener.local_addr().unwrap());
		let up = Arc::new(AtomicBool::new(up));
		let documents = Arc::new(AtomicU64::new(0));
		let document = json!({
			"issuer": issuer,
			"jwks_uri": format!("{issuer}/keys"),
			"response_types_supported": ["id_token"],
			"subject_types_supported": ["public"],
			"id_token_signing_alg_values_supported": ["ES256"],
		})
		.to_string();
		let keys = json!({ "keys": [key.to_public().unwrap().to_value()] }).to_string();
		let answer = |up: Arc<AtomicBool>, body: String, count: Option<Arc<AtomicU64>>| {
			move || {
				let (up, body, count) = (up.clone(), body.clone(), count.clone());
				async move {
					if let Some(count) = count {
						count.fetch_add(1, Ordering::SeqCst);
					}
					if !up.load(Ordering::SeqCst) {
						return StatusCode::SERVICE_UNAVAILABLE.into_response();
					}
					([("content-type", "application/json")], body).into_response()
				}
			}
		};
		let router = axum::Router::new()
			.route(
				"/.well-known/openid-configuration",
				axum::routing::get(answer(up.clone(), document, Some(documents.clone()))),
			)
			.route("/keys", axum::routing::get(answer(up.clone(), keys, None)));
		let task = tokio::spawn(async move {
			let _ = axum::serve(listener, router).await;
		});
		Self {
			issuer,
			up,
			documents,
			task,
		}
	}

	fn discovery_url(&self) -> String {
		format!("{}/.well-known/openid-configuration", self.issuer)
	}
}

/// An ID token for `sub` from `issuer` to the audience `aud`, valid for ten minutes.
fn id_token(key: &Key, issuer: &str, sub: &str, aud: &str) -> String {
	let now = moq_token::unix_now();
	let claims = json!({ "iss": issuer, "sub": sub, "aud": aud, "iat": now, "exp": now + 600 });
	key.sign_payload(claims.to_string().as_bytes()).unwrap()
}

async fn relay(discovery_url: String) -> TestRelay {
	TestRelay::start_with(move |config| {
		config.auth.public = None;
		config.auth.identity = Some(vec![moq_relay::config::IdentityEntry {
			name: "corp".into(),
			discovery_url: Some(discovery_url),
			audience: Some(vec!["moq-relay".into()]),
			algorithms: Some(vec!["ES256".into()]),
			root: Some("users/{sub}".into()),
			publish: Some(vec!["**".into()]),
			subscribe: Some(vec!["**".into()]),
			..Default::default()
		}]);
	})
	.await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_the_discovered_issuer_and_keys_are_admitted_and_others_refused() {
	let key = Key::generate(Algorithm::ES256, Some(KeyId::new("login-1").unwrap())).unwrap();
	let provider = Provider::start(&key, true).await;
	let relay = relay(provider.discovery_url()).await;
	let issuer = provider.issuer.clone();

	let alice = id_token(&key, &issuer, "alice", "moq-relay");
	let conn = admitted(&relay, &format!("/users/alice?jwt={alice}")).await;
	announce_ok(&conn).await;
	assert_eq!(
		provider.documents.load(Ordering::SeqCst),
		1,
		"the discovery document is read once, on first use"
	);

	// The issuer the document names is required.
	let elsewhere = id_token(&key, "https://login.example.com", "alice", "moq-relay");
	assert_eq!(
		jwt_refusal(&relay, "/users/alice", &elsewhere).await,
		"invalid_token: invalid_claim"
	);
	// So are the configured audience and the templated root.
	let other_audience = id_token(&key, &issuer, "alice", "another-app");
	assert_eq!(
		jwt_refusal(&relay, "/users/alice", &other_audience).await,
		"invalid_token: invalid_claim"
	);
	assert_eq!(jwt_refusal(&relay, "/users/bob", &alice).await, "root_mismatch");
	// A key that is not in the provider's set, under the same kid, does not verify.
	let forged = Key::generate(Algorithm::ES256, Some(KeyId::new("login-1").unwrap())).unwrap();
	assert_eq!(
		jwt_refusal(
			&relay,
			"/users/alice",
			&id_token(&forged, &issuer, "alice", "moq-relay")
		)
		.await,
		"invalid_token: bad_signature"
	);
	assert_eq!(provider.documents.load(Ordering::SeqCst), 1);
	relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_unreadable_at_first_use_refuses_until_it_answers() {
	let key = Key::generate(Algorithm::ES256, Some(KeyId::new("login-1").unwrap())).unwrap();
	let provider = Provider::start(&key, false).await;
	let relay = relay(provider.discovery_url()).await;
	let alice = id_token(&key, &provider.issuer, "alice", "moq-relay");

	let reason = jwt_refusal(&relay, "/users/alice", &alice).await;
	assert_eq!(reason, "invalid_token: unknown_kid");
	assert_eq!(provider.documents.load(Ordering::SeqCst), 1);

	// Once the provider answers, the next session reads the document again and is admitted.
	provider.up.store(true, Ordering::SeqCst);
	let conn = admitted(&relay, &format!("/users/alice?jwt={alice}")).await;
	announce_ok(&conn).await;
	assert_eq!(provider.documents.load(Ordering::SeqCst), 2);
	relay.stop().await;
}
