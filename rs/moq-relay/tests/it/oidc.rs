//! Identity tokens whose keys come from an OIDC discovery document (`[[auth.identity]]
//! discovery_url`, `docs/auth.md`, "Identity tokens"), against a provider written here from OpenID
//! Connect Discovery 1.0 (section 4: `issuer` and `jwks_uri` in `/.well-known/openid-configuration`):
//! the document's issuer is the one the tokens must carry, its `jwks_uri` supplies the keys, a
//! provider that cannot be read at first use refuses every token until it can, and a key the
//! provider removes from its set ends the sessions it admitted (as with a JWKS URL identity).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use moq_token::{Algorithm, Key, KeyId};
use serde_json::json;

use crate::common::{TestRelay, admitted, announce_ok, closed, jwt_refusal};

const UNAUTHORIZED: u64 = moq_relay::wire::SessionCode::UNAUTHORIZED.into_inner() as u64;

/// The provider: its discovery document and key set, and whether it answers.
struct Provider {
	issuer: String,
	up: Arc<AtomicBool>,
	documents: Arc<AtomicU64>,
	/// Requests for its key set.
	key_sets: Arc<AtomicU64>,
	/// The key set it publishes (JSON).
	keys: Arc<Mutex<String>>,
	task: tokio::task::JoinHandle<()>,
}

impl Drop for Provider {
	fn drop(&mut self) {
		self.task.abort();
	}
}

impl Provider {
	async fn start(key: &Key, up: bool) -> Self {
		Self::with_keys(&[key], up).await
	}

	async fn with_keys(keys: &[&Key], up: bool) -> Self {
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let issuer = format!("http://{}", listener.local_addr().unwrap());
		let up = Arc::new(AtomicBool::new(up));
		let documents = Arc::new(AtomicU64::new(0));
		let key_sets = Arc::new(AtomicU64::new(0));
		let document = json!({
			"issuer": issuer,
			"jwks_uri": format!("{issuer}/keys"),
			"response_types_supported": ["id_token"],
			"subject_types_supported": ["public"],
			"id_token_signing_alg_values_supported": ["ES256"],
		})
		.to_string();
		let keys = Arc::new(Mutex::new(key_set(keys)));
		let answer = |up: Arc<AtomicBool>, body: Arc<Mutex<String>>, count: Option<Arc<AtomicU64>>| {
			move || {
				let (up, body, count) = (up.clone(), body.lock().unwrap().clone(), count.clone());
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
		let document = Arc::new(Mutex::new(document));
		let router = axum::Router::new()
			.route(
				"/.well-known/openid-configuration",
				axum::routing::get(answer(up.clone(), document, Some(documents.clone()))),
			)
			.route(
				"/keys",
				axum::routing::get(answer(up.clone(), keys.clone(), Some(key_sets.clone()))),
			);
		let task = tokio::spawn(async move {
			let _ = axum::serve(listener, router).await;
		});
		Self {
			issuer,
			up,
			documents,
			key_sets,
			keys,
			task,
		}
	}

	fn discovery_url(&self) -> String {
		format!("{}/.well-known/openid-configuration", self.issuer)
	}

	fn jwks_url(&self) -> String {
		format!("{}/keys", self.issuer)
	}

	/// Publishes `keys` from now on.
	fn set_keys(&self, keys: &[&Key]) {
		*self.keys.lock().unwrap() = key_set(keys);
	}
}

/// A JWKS document of the public halves of `keys`.
fn key_set(keys: &[&Key]) -> String {
	let keys: Vec<_> = keys.iter().map(|k| k.to_public().unwrap().to_value()).collect();
	json!({ "keys": keys }).to_string()
}

/// An ID token for `sub` from `issuer` to the audience `aud`, valid for ten minutes.
fn id_token(key: &Key, issuer: &str, sub: &str, aud: &str) -> String {
	let now = moq_token::unix_now();
	let claims = json!({ "iss": issuer, "sub": sub, "aud": aud, "iat": now, "exp": now + 600 });
	key.sign_payload(claims.to_string().as_bytes()).unwrap()
}

/// The same with a token id (`jti`).
fn id_token_with_id(key: &Key, issuer: &str, sub: &str, jti: &str) -> String {
	let now = moq_token::unix_now();
	let claims = json!({ "iss": issuer, "sub": sub, "aud": "moq-relay", "jti": jti, "iat": now, "exp": now + 600 });
	key.sign_payload(claims.to_string().as_bytes()).unwrap()
}

async fn relay(discovery_url: String) -> TestRelay {
	relay_with(Some(discovery_url), None, None).await
}

/// A relay with the `corp` identity, its keys from a discovery document or a JWKS URL, and
/// `refresh` as the bounds of the key set's refresh and `revoked` as its revocation list, if given.
async fn relay_with(
	discovery_url: Option<String>,
	jwks_url: Option<String>,
	refresh: Option<(Duration, std::path::PathBuf)>,
) -> TestRelay {
	TestRelay::start_with(move |config| {
		config.auth.public = None;
		if let Some((refresh, revoked)) = refresh {
			config.auth.jwks_refresh_min = Some(refresh);
			config.auth.jwks_refresh_max = Some(refresh);
			config.auth.revoked = Some(revoked);
		}
		config.auth.identity = Some(vec![moq_relay::config::IdentityEntry {
			name: "corp".into(),
			discovery_url,
			jwks_url,
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
	// Nor is the key set fetched again before `jwks_refresh_min` (30 s) once the relay refreshes
	// it on schedule: the refresh task starts from the set of the first use.
	assert_eq!(provider.key_sets.load(Ordering::SeqCst), 1);
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

/// A key the provider removes from its set ends the live sessions it admitted (`key_revoked`)
/// within the refresh bound and is refused from then on; the sessions of the key that stays go
/// on, until their token id is revoked (`token_revoked`). Keys from a discovery document
/// (refreshed once the document was read) and from a JWKS URL alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_provider_removes_ends_its_sessions() {
	for discovery in [true, false] {
		let old = Key::generate(Algorithm::ES256, Some(KeyId::new("login-1").unwrap())).unwrap();
		let new = Key::generate(Algorithm::ES256, Some(KeyId::new("login-2").unwrap())).unwrap();
		let provider = Provider::with_keys(&[&old, &new], true).await;
		let refresh = Duration::from_secs(1);
		let list = std::env::temp_dir().join(format!("moq-relay-oidc-revoked-{}-{discovery}.txt", std::process::id()));
		std::fs::write(&list, "# nothing yet\n").unwrap();
		let relay = match discovery {
			true => relay_with(Some(provider.discovery_url()), None, Some((refresh, list.clone()))).await,
			false => relay_with(None, Some(provider.jwks_url()), Some((refresh, list.clone()))).await,
		};
		let what = if discovery { "discovery document" } else { "JWKS URL" };
		let issuer = provider.issuer.clone();
		let alice = id_token(&old, &issuer, "alice", "moq-relay");
		let bob = id_token_with_id(&new, &issuer, "bob", "bob-1");
		let live_alice = admitted(&relay, &format!("/users/alice?jwt={alice}")).await;
		announce_ok(&live_alice).await;
		let live_bob = admitted(&relay, &format!("/users/bob?jwt={bob}")).await;
		announce_ok(&live_bob).await;

		provider.set_keys(&[&new]);
		let removed = Instant::now();
		assert_eq!(
			closed(&live_alice).await,
			(UNAUTHORIZED, "key_revoked".to_string()),
			"{what}"
		);
		let took = removed.elapsed();
		assert!(
			took <= refresh * 2 + Duration::from_secs(2),
			"{what}: closed {took:?} after the removal"
		);
		assert_eq!(
			jwt_refusal(&relay, "/users/alice", &alice).await,
			"invalid_token: unknown_kid",
			"{what}"
		);
		// The other key's session is still served, until its token id is revoked.
		announce_ok(&live_bob).await;
		std::fs::write(&list, "jti bob-1\n").unwrap();
		assert_eq!(
			closed(&live_bob).await,
			(UNAUTHORIZED, "token_revoked".to_string()),
			"{what}"
		);
		relay.stop().await;
		let _ = std::fs::remove_file(&list);
	}
}
