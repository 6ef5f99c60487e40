//! Verifies 20,000 HS256 tokens with this crate or the upstream crate, for instruction-count
//! profiling, which does not depend on machine load (see docs/performance.md):
//!
//! ```text
//! cargo build --release -p moq-token@0.1.0 --example profile_verify
//! valgrind --tool=callgrind target/release/examples/profile_verify ours
//! valgrind --tool=callgrind target/release/examples/profile_verify upstream
//! ```

use moq_token::{Algorithm, Claims, ClaimsFormat, Key, KeyId, Path, unix_now};

const ROUNDS: usize = 20_000;

fn main() {
	let key = Key::generate(Algorithm::HS256, Some(KeyId::new("bench").unwrap())).unwrap();
	let claims = Claims::new(Path::new("room/123").unwrap())
		.with_publish(Path::new("alice").unwrap())
		.with_subscribe(Path::root())
		.with_expires(unix_now() + 3600);
	let tokens: Vec<String> = (0..64)
		.map(|i| {
			key.sign_with(&claims.clone().with_issued(i), ClaimsFormat::PutGet)
				.unwrap()
		})
		.collect();
	let upstream = upstream_moq_token::Key::from_str(&key.to_json()).unwrap();
	let ours = std::env::args().nth(1).as_deref() != Some("upstream");
	for i in 0..ROUNDS {
		if ours {
			std::hint::black_box(key.verify(&tokens[i % tokens.len()]).unwrap());
		} else {
			std::hint::black_box(upstream.verify(&tokens[i % tokens.len()]).unwrap());
		}
	}
}
