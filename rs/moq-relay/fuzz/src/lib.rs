//! The fuzz target for the relay's configuration file (`moq-relay`): TOML text in, an error or a
//! configuration that passes its own checks out.
//!
//! The check is `moq_relay::config::fuzz_check` (feature `checks`), which the corpus replay test
//! (`rs/moq-relay/tests/it/config_corpus.rs`) also runs on stable Rust.

pub use moq_relay::config::fuzz_check;
