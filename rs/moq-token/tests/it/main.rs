//! moq-token's integration tests, one binary: the shared token corpus, the fuzz corpus replay, keys
//! and key sets, and interop with the published upstream crate.

mod corpus;
mod fuzz_corpus;
mod keys;
mod moq_auth;
mod upstream;
