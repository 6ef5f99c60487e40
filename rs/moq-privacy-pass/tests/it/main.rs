//! Integration tests, one binary: RFC vectors, the local issuer flow, and interop with the independent
//! `privacypass` crate.

mod flow;
mod interop;
mod util;
mod vectors;
