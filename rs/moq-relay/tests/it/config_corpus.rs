//! Replays the committed corpus of the configuration fuzz target (`fuzz/corpus/config/`) through
//! the same check the cargo-fuzz target runs, `moq_relay::config::fuzz_check`, on stable Rust.

use std::fs;
use std::path::PathBuf;

use moq_relay::config::fuzz_check;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus");

/// Every file of the corpus passes the check, and there is a corpus (only the `config` target).
#[test]
fn corpus_replays() {
	let dir = PathBuf::from(CORPUS).join("config");
	let mut files = 0;
	for entry in fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display())) {
		let path = entry.expect("corpus entry").path();
		let data = fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
		let outcome = std::panic::catch_unwind(|| fuzz_check(&data));
		assert!(
			outcome.is_ok(),
			"{} fails the check:\n{}",
			path.display(),
			String::from_utf8_lossy(&data[..data.len().min(1024)])
		);
		files += 1;
	}
	assert!(files > 0, "no corpus files in {}", dir.display());
	let dirs = fs::read_dir(CORPUS).expect("corpus directory").count();
	assert_eq!(dirs, 1, "a corpus directory has no target");
}

/// The empty file, which the fuzzer sees first, is a configuration of defaults.
#[test]
fn empty_file_passes() {
	fuzz_check(b"");
}
