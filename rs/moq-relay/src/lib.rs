//! The moq-relay library: a Media over QUIC relay for moq-lite.
//!
//! A relay accepts sessions over raw QUIC (ALPN `moq-lite-06`/`-05`/`-04`) and WebTransport
//! (ALPN `h3`) on one UDP port, and serves HTTP on the same TCP port. What one
//! session publishes, every other session may subscribe to; each track is
//! subscribed upstream once and fanned out from a latest-group cache.
//!
//! Layout (one noun per module):
//! - [`wire`]: the sans-I/O codec for moq-lite-03/04/05/06 (the `moq-wire` crate). Deterministic:
//!   bytes in, typed messages out; no sockets, no runtime, no clock.
//! - [`transport`]: the small trait a session runs over, and its quinn /
//!   web-transport-quinn implementation.
//! - [`protocol`]: what a session does, as sans-I/O state machines per protocol family (announce,
//!   subscriptions, the version differences); time and ids are passed in.
//! - [`session`]: drives one session over a transport: pumps bytes, origin events and the
//!   [`protocol`] machines' actions.
//! - [`origin`]: the broadcast tree, the track cache and fan-out.
//! - [`auth`]: from a connection request to a [`auth::Grant`].
//! - [`tls`]: certificates (files or self-signed).
//! - [`http`]: the TCP routes (`/certificate.sha256`, `/health`, `/ready`, `/metrics`).
//! - [`limits`]: what one client may hold, and the connection table enforcing it before admission.
//! - [`client`]: the client side of admission (connect, SETUP, ANNOUNCE exchange), for the
//!   examples and tests.
//! - [`config`]: layered configuration; [`relay`]: listeners and shutdown.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use moq_relay::config::Config;
//! use moq_relay::relay::Relay;
//!
//! let config = Config::defaults(true).resolve()?;
//! let relay = Relay::bind(config).await?;
//! println!("fingerprint {}", relay.fingerprint());
//! relay.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod audit;
pub mod auth;
pub mod client;
pub mod cluster;
pub mod config;
pub mod http;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod operator;
pub mod origin;
pub mod protocol;
pub mod relay;
pub mod session;
pub mod tls;
pub mod transport;

/// The sans-I/O moq-lite codec: the `moq-wire` crate, under the name the relay has always used.
pub use moq_wire as wire;
