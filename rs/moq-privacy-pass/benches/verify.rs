//! Verification throughput.
//!
//! `verify/full` verifies a fresh token per iteration: a ring of pre-issued tokens is walked in order and
//! the in-memory nonce store is cleared once per pass (amortized over the ring), so every verification
//! redeems an unseen nonce. `verify/stateless` is the same without the nonce store ([`Verifier::check`]),
//! `nonce/reserve_commit` the nonce store alone.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moq_privacy_pass::{
	Issuer, IssuerKeyPair, MemoryNonceStore, NonceStore, Token, Verifier, parse_authorization, request_token,
};

const RING: usize = 512;

fn setup() -> (Verifier, Vec<Token>, SystemTime) {
	let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
	let issuer = Issuer::new("https://issuer.local/req", vec![IssuerKeyPair::generate().unwrap()]).unwrap();
	let key = issuer.keys()[0].public_key().clone();
	let verifier = Verifier::new("issuer.local", [key.clone()])
		.unwrap()
		.with_challenge_lifetime(Duration::from_secs(3600), 10_000);
	let tokens = (0..RING)
		.map(|_| {
			let (request, state) = request_token(&verifier.challenge(now), &key).unwrap();
			state.finalize(&issuer.issue_request(&request).unwrap()).unwrap()
		})
		.collect();
	(verifier, tokens, now)
}

fn bench(c: &mut Criterion) {
	let (verifier, tokens, now) = setup();

	let mut g = c.benchmark_group("verify");
	g.throughput(Throughput::Elements(1));
	let mut i = 0;
	g.bench_function("full", |b| {
		b.iter(|| {
			if i == RING {
				i = 0;
				verifier.nonce_store().clear();
			}
			let r = verifier.verify(black_box(tokens[i].as_bytes()), now);
			i += 1;
			r.unwrap()
		})
	});
	let mut i = 0;
	g.bench_function("stateless", |b| {
		b.iter(|| {
			i = (i + 1) % RING;
			verifier.check(black_box(&tokens[i]), now).unwrap()
		})
	});
	let header = format!("PrivateToken token=\"{}\"", tokens[0].to_base64());
	g.bench_function("parse_authorization", |b| {
		b.iter(|| parse_authorization(black_box(&header)).unwrap())
	});
	g.finish();

	let store = MemoryNonceStore::new(1 << 20);
	let mut n = 0u64;
	c.bench_function("nonce/reserve_commit", |b| {
		b.iter(|| {
			n += 1;
			if n.is_multiple_of(1 << 19) {
				store.clear();
			}
			let mut nonce = [0u8; 32];
			nonce[..8].copy_from_slice(&n.to_le_bytes());
			let r = store.reserve(&nonce, now + Duration::from_secs(60), now).unwrap();
			store.commit(&r, now).unwrap();
		})
	});
}

criterion_group!(benches, bench);
criterion_main!(benches);
