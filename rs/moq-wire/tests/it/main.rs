//! The codec's integration tests: the golden moq-lite vectors, the fuzz corpus replay, and the
//! inputs that once crashed a fuzz target.

mod corpus;
mod ietf_vectors;
mod regressions;
mod vectors;
