//! What identity tokens and client secrets cost (`docs/performance.md`, "Identity tokens and client
//! secrets").
//!
//! `identity/eddsa` and `identity/es256` decide a connection request carrying an identity JWT (the
//! shape an OIDC provider or Better Auth's JWT plugin issues: `iss`, `aud`, `sub`, `exp`) with
//! [`Auth::authorize`]: header, key lookup in the fetched key set, signature, `iss`/`aud`/`exp`, the
//! grant template, the connection path. The key set is served by a local HTTP server and fetched once
//! before measuring. `identity/hs256_cookie_cache` is Better Auth's cookie cache (HS256, shared
//! secret). `client_secret/mint` mints one client secret (EdDSA) for an API key's grant.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moq_relay::auth::{
	ApiKeySettings, ApiKeys, Auth, ClientSecrets, ConnectRequest, GrantTemplate, Identity, IdentityKeys,
	IdentitySettings, JwksUrl, JwksUrlSettings, Public, SecretRequest, Shape,
};
use moq_token::{Algorithm, Key, KeyId, KeySet, Path};

fn identity_token(key: &Key) -> String {
	let claims = serde_json::json!({
		"iss": "https://login.example",
		"aud": "moq-relay",
		"sub": "user-1",
		"email": "a@example.com",
		"iat": moq_token::unix_now(),
		"exp": moq_token::unix_now() + 3600,
	});
	key.sign_payload(claims.to_string().as_bytes()).unwrap()
}

fn template() -> GrantTemplate {
	GrantTemplate {
		root: "users/{sub}".into(),
		publish: vec!["**".into()],
		subscribe: vec!["**".into()],
	}
}

/// An [`Auth`] with one identity whose keys (`keys`, public halves) a local server publishes.
fn jwks_auth(rt: &tokio::runtime::Runtime, keys: &[Key]) -> Auth {
	let set = KeySet::new(keys.iter().map(|k| k.to_public().unwrap()).collect()).unwrap();
	let body = set.to_json();
	let url = rt.block_on(async move {
		let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
		let url = format!("http://{}/jwks", listener.local_addr().unwrap());
		let app = axum::Router::new().route("/jwks", axum::routing::get(move || async move { body }));
		tokio::spawn(async move { axum::serve(listener, app).await });
		url
	});
	let jwks = std::sync::Arc::new(
		JwksUrl::for_identity(JwksUrlSettings {
			url,
			timeout: Duration::from_secs(5),
			min_refresh: Duration::from_secs(60),
			max_refresh: Duration::from_secs(3600),
		})
		.unwrap(),
	);
	rt.block_on(jwks.refresh()).unwrap();
	let identity = Identity::new(IdentitySettings {
		name: "login".into(),
		keys: IdentityKeys::Jwks(jwks),
		algorithms: vec![jsonwebtoken::Algorithm::EdDSA, jsonwebtoken::Algorithm::ES256],
		issuer: Some("https://login.example".into()),
		audience: vec!["moq-relay".into()],
		leeway: Duration::from_secs(60),
		grant: template(),
		shape: Shape::Plain,
	});
	Auth::new(Public::default(), None).with_identity(identity)
}

fn bench(c: &mut Criterion) {
	let rt = tokio::runtime::Builder::new_multi_thread()
		.worker_threads(1)
		.enable_all()
		.build()
		.unwrap();
	let eddsa = Key::generate(Algorithm::EdDSA, Some(KeyId::new("ed").unwrap())).unwrap();
	let es256 = Key::generate(Algorithm::ES256, Some(KeyId::new("ec").unwrap())).unwrap();
	let auth = jwks_auth(&rt, &[eddsa.clone(), es256.clone()]);

	let mut g = c.benchmark_group("identity");
	g.throughput(Throughput::Elements(1));
	for (name, key) in [("eddsa", &eddsa), ("es256", &es256)] {
		let request = ConnectRequest::parse(&format!("/users/user-1?jwt={}", identity_token(key))).unwrap();
		assert!(rt.block_on(auth.authorize(&request)).is_ok());
		g.bench_function(name, |b| {
			b.iter(|| rt.block_on(auth.authorize(black_box(&request))).unwrap())
		});
	}

	let secret = b"better-auth-bench-secret-0123456789abcdef".to_vec();
	let cookie_cache = Auth::new(Public::default(), None).with_identity(Identity::new(IdentitySettings {
		name: "app:cookie-cache".into(),
		keys: IdentityKeys::Secret(secret.clone()),
		algorithms: vec![jsonwebtoken::Algorithm::HS256],
		issuer: None,
		audience: Vec::new(),
		leeway: Duration::from_secs(60),
		grant: template(),
		shape: Shape::BetterAuthCookieCache,
	}));
	let claims = serde_json::json!({
		"session": {"id": "s-1", "userId": "user-1", "expiresAt": "2030-01-01T00:00:00.000Z"},
		"user": {"id": "user-1", "email": "a@example.com", "name": "A", "emailVerified": false},
		"updatedAt": 1, "version": "1",
		"iat": moq_token::unix_now(), "exp": moq_token::unix_now() + 300,
	});
	let token = jsonwebtoken::encode(
		&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
		&claims,
		&jsonwebtoken::EncodingKey::from_secret(&secret),
	)
	.unwrap();
	let request = ConnectRequest::parse(&format!("/users/user-1?jwt={token}")).unwrap();
	assert!(rt.block_on(cookie_cache.authorize(&request)).is_ok());
	g.bench_function("hs256_cookie_cache", |b| {
		b.iter(|| rt.block_on(cookie_cache.authorize(black_box(&request))).unwrap())
	});
	g.finish();

	let minter = ClientSecrets::new(
		Key::generate(Algorithm::EdDSA, Some(KeyId::new("cs").unwrap())).unwrap(),
		Vec::new(),
	)
	.unwrap();
	let keys = ApiKeys::new(vec![ApiKeySettings {
		name: "app".into(),
		key: "sk_bench_0123456789abcdef".into(),
		root: Path::root(),
		publish: None,
		subscribe: None,
	}])
	.unwrap();
	let api = Auth::new(Public::default(), None).with_api_keys(keys);
	let caller = rt
		.block_on(api.authorize(&ConnectRequest::parse("/room/1?jwt=sk_bench_0123456789abcdef").unwrap()))
		.unwrap();
	let secret_request =
		SecretRequest::parse(br#"{"expires_after": {"seconds": 300}, "publish": [], "subscribe": ["**"]}"#).unwrap();
	let mut g = c.benchmark_group("client_secret");
	g.throughput(Throughput::Elements(1));
	g.bench_function("mint", |b| {
		b.iter(|| {
			minter
				.mint(black_box(&caller), &secret_request, moq_token::unix_now())
				.unwrap()
		})
	});
	g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
