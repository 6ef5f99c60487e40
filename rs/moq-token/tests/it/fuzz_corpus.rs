//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! same checks the cargo-fuzz targets run, on stable Rust.
//!
//! The checks are written once, in `moq_token::checks`. Every target must
//! have a non-empty corpus, so a target can never be skipped silently.

use std::fs;
use std::path::PathBuf;

use moq_token::checks;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus");

/// Every fuzz target has its corpus replayed, and every corpus directory
/// belongs to a target.
#[test]
fn corpus_replays_for_every_target() {
	let mut total = 0;
	for (name, check) in checks::TARGETS {
		let dir = PathBuf::from(CORPUS).join(name);
		let entries = fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
		let mut files = 0;
		for entry in entries {
			let path = entry.expect("corpus entry").path();
			let data = fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
			let outcome = std::panic::catch_unwind(|| check(&data));
			assert!(
				outcome.is_ok(),
				"target {name}: {} (hex {}) fails its check",
				path.display(),
				hex(&data)
			);
			files += 1;
		}
		assert!(files > 0, "target {name}: no corpus files in {}", dir.display());
		total += files;
	}
	let dirs = fs::read_dir(CORPUS).expect("corpus directory").count();
	assert_eq!(dirs, checks::TARGETS.len(), "a corpus directory has no target");
	assert!(total >= checks::TARGETS.len());
}

/// The checks also hold for the empty input, which every target sees first.
#[test]
fn empty_input_passes_every_check() {
	for (_, check) in checks::TARGETS {
		check(&[]);
	}
}

/// The fixed keys verify tokens from the vector corpus: without that, `jwt_verify` would only
/// ever see refusals.
#[test]
fn corpus_has_tokens_the_fixed_keys_verify() {
	let dir = PathBuf::from(CORPUS).join("jwt_verify");
	let verified = fs::read_dir(&dir)
		.expect("jwt_verify corpus")
		.map(|entry| fs::read_to_string(entry.expect("corpus entry").path()).unwrap_or_default())
		.filter(|token| checks::verifies(token))
		.count();
	assert!(
		verified > 0,
		"no token of {} verifies under the fixed keys",
		dir.display()
	);
}

/// The input in hex, its first 256 bytes (enough to recognize it; the file has all of it).
fn hex(data: &[u8]) -> String {
	let mut out = ::hex::encode(&data[..data.len().min(256)]);
	if data.len() > 256 {
		out.push_str(&format!("... ({} bytes)", data.len()));
	}
	out
}
