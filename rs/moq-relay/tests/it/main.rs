//! The relay's integration tests, one binary: in-process relays and the real binary on 127.0.0.1,
//! the published clients (`moq-tokio`, `@moq/net` in headless Chromium), a real `redis-server`.
//! Each module is one subject; `common` holds what they share.

mod common;

mod acme;
mod api_keys;
mod auth;
mod auth_migration;
mod auth_service;
mod auth_url;
mod better_auth;
mod binary;
mod browser;
mod browser_privacy_pass;
mod client_secrets;
mod cluster;
mod config_corpus;
mod demo;
mod first_hour;
mod hardening;
mod http;
mod ietf;
mod interop;
mod jwks_url;
mod load_tool;
mod logs;
mod memory;
mod oidc;
mod perf;
mod privacy_pass;
mod privacy_pass_logs;
mod resumption;
mod revocation;
mod upstream_relay;
mod versions;
mod websocket;
