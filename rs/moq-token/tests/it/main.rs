//! moq-token's integration tests, one binary: the shared token corpus, keys and key sets, and
//! interop with the published upstream crate.

mod corpus;
mod keys;
mod upstream;
