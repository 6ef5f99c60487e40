//! Fuzz targets for MoQ token parsing and verification (`moq-token`).
//!
//! The token crate needs only aws-lc-rs, base64 and serde, so fuzz builds do not pull the relay's
//! QUIC, TLS and HTTP stack. The checks are `moq_token::checks`, which the corpus replay test
//! (`rs/moq-token/tests/it/fuzz_corpus.rs`) also runs on stable Rust.

pub use moq_token::checks;
