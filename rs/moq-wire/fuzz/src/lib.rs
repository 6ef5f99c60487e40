//! Fuzz targets for the moq-lite wire codec (`moq-wire`).
//!
//! The codec depends only on `bytes` and `thiserror`, so fuzz builds stay small and do not need the
//! relay's QUIC, TLS and HTTP stack. The checks are `moq_wire::checks`, which the corpus replay
//! test (`rs/moq-wire/tests/it/corpus.rs`) also runs on stable Rust.

pub use moq_wire as wire;
pub use moq_wire::checks;
