//! Integration tests, one binary: RFC vectors, the fuzz corpus replay, the local issuer flow, interop
//! with the independent `privacypass` crate, the `moq-pp-issuer` command line (feature `http`) and
//! the Redis nonce store against a real `redis-server` (feature `redis`).

mod flow;
mod fuzz_corpus;
mod interop;
#[cfg(feature = "http")]
mod issuer_cli;
#[cfg(feature = "redis")]
mod redis_store;
mod util;
mod vectors;
