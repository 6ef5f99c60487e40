//! Fuzz targets for the Privacy Pass parsers and verifier (`moq-privacy-pass`).
//!
//! Built with the crate's default features (no Redis, no HTTP issuer), so fuzz builds do not pull
//! the relay's QUIC, TLS and HTTP stack. The checks are `moq_privacy_pass::checks`, which the corpus
//! replay test (`rs/moq-privacy-pass/tests/it/fuzz_corpus.rs`) also runs on stable Rust.

pub use moq_privacy_pass::checks;
