//! Fuzz targets for the moq-relay wire codec.
//!
//! The codec is compiled straight from `rs/moq-relay/src/wire` (it depends only
//! on `bytes` and `thiserror`), so fuzz builds stay small and do not need the
//! relay's QUIC, TLS and HTTP stack. The checks live in [`checks`], which
//! `rs/moq-relay/tests/fuzz_corpus.rs` also includes to replay the committed
//! corpus on stable Rust.

#[path = "../../src/wire/mod.rs"]
#[allow(dead_code)]
pub mod wire;

pub mod checks;
