//! Sign and verify throughput for every algorithm, against the published upstream crate in the
//! same run. Every iteration verifies a different token (a ring of distinct tokens; neither
//! library caches verification results), and every signing iteration signs different claims.
//!
//! `cargo bench -p moq-token@0.1.0`, then `python3 dev/bench-table.py` prints the table that
//! goes in docs/performance.md.

use criterion::{Criterion, criterion_group, criterion_main};
use moq_token::{Algorithm, Claims, ClaimsFormat, Key, KeyId, Path};
use std::{
	hint::black_box,
	time::{Duration, UNIX_EPOCH},
};
use upstream_moq_token as upstream;

const RING: usize = 1024;

fn upstream_alg(alg: Algorithm) -> Option<upstream::Algorithm> {
	use upstream::Algorithm as U;
	Some(match alg {
		Algorithm::HS256 => U::HS256,
		Algorithm::HS384 => U::HS384,
		Algorithm::HS512 => U::HS512,
		Algorithm::RS256 => U::RS256,
		Algorithm::RS384 => U::RS384,
		Algorithm::RS512 => U::RS512,
		Algorithm::PS256 => U::PS256,
		Algorithm::PS384 => U::PS384,
		Algorithm::PS512 => U::PS512,
		Algorithm::ES256 => U::ES256,
		Algorithm::ES384 => U::ES384,
		Algorithm::ES512 => return None,
		Algorithm::EdDSA => U::EdDSA,
	})
}

fn claims(i: u64) -> Claims {
	Claims::new(Path::new("room/123").unwrap())
		.with_publish(Path::new("alice").unwrap())
		.with_subscribe(Path::root())
		.with_expires(moq_token::unix_now() + 3600 + i)
}

fn upstream_claims(i: u64) -> upstream::Claims {
	upstream::Claims::default()
		.with_root("room/123")
		.with_publish(["alice"])
		.with_subscribe([""])
		.with_expires(Some(UNIX_EPOCH + Duration::from_secs(moq_token::unix_now() + 3600 + i)))
}

fn bench(c: &mut Criterion) {
	for alg in Algorithm::ALL {
		let key = Key::generate(alg, Some(KeyId::new("bench").unwrap())).unwrap();
		let up_key = upstream_alg(alg).map(|_| upstream::Key::from_str(&key.to_json()).unwrap());
		// put/get tokens, which both libraries read; the same ring for both.
		let tokens: Vec<String> = (0..RING as u64)
			.map(|i| key.sign_with(&claims(i), ClaimsFormat::PutGet).unwrap())
			.collect();

		let mut group = c.benchmark_group(format!("verify/{alg}"));
		let mut i = 0;
		group.bench_function("ours", |b| {
			b.iter(|| {
				i = (i + 1) % RING;
				black_box(key.verify(&tokens[i]).unwrap());
			})
		});
		if let Some(up_key) = &up_key {
			group.bench_function("upstream", |b| {
				b.iter(|| {
					i = (i + 1) % RING;
					black_box(up_key.verify(&tokens[i]).unwrap());
				})
			});
		}
		group.finish();

		let mut group = c.benchmark_group(format!("sign/{alg}"));
		let mut n = 0u64;
		let ring: Vec<Claims> = (0..RING as u64).map(claims).collect();
		group.bench_function("ours", |b| {
			b.iter(|| {
				n += 1;
				black_box(key.sign_with(&ring[n as usize % RING], ClaimsFormat::PutGet).unwrap());
			})
		});
		if let Some(up_key) = &up_key {
			let ring: Vec<upstream::Claims> = (0..RING as u64).map(upstream_claims).collect();
			group.bench_function("upstream", |b| {
				b.iter(|| {
					n += 1;
					black_box(up_key.sign(&ring[n as usize % RING]).unwrap());
				})
			});
		}
		group.finish();
	}
}

criterion_group! {
	name = benches;
	config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
	targets = bench
}
criterion_main!(benches);
