//! MoQ tokens: JWK keys, JWT signing and verification, and path-scoped claims.
//!
//! A MoQ token is a JWS-signed JWT whose claims say which broadcast paths the bearer may
//! publish and subscribe to: `root`, `pub`, `sub`, `cluster` (see [`Claims`]). A relay
//! verifies it with a [`Key`] or [`KeySet`] and authorizes a connection at a URL path with
//! [`Claims::authorize`], which yields the [`Permissions`] of the session.
//!
//! ```
//! use moq_token::{Algorithm, Claims, Key, Path};
//!
//! let key = Key::generate(Algorithm::HS256, None)?;
//! let claims = Claims::new(Path::new("room/123")?)
//!     .with_publish(Path::new("alice")?)
//!     .with_subscribe(Path::root());
//! let token = key.sign(&claims)?;
//!
//! let verified = key.verify(&token)?;
//! let session = verified.authorize(&Path::new("/room/123")?)?;
//! assert!(session.can_publish(&Path::new("alice/camera")?));
//! assert!(!session.can_publish(&Path::new("bob/camera")?));
//! # Ok::<(), moq_token::Error>(())
//! ```
//!
//! Security properties: the key pins the algorithm (`alg` in a token never picks one), keys are
//! never taken from a token header, `crit` extensions are refused, tokens over
//! [`MAX_TOKEN_LEN`] are refused before decoding, and secrets never appear in `Debug` output.
//! Every error maps to one stable [`ErrorCode`], shared with the TypeScript package.
//!
//! All crypto is aws-lc-rs, the provider rustls uses in this project.

mod algorithm;
mod base64url;
mod claims;
mod error;
mod fs;
mod jws;
mod key;
mod key_id;
mod material;
mod path;
mod pattern;
mod permissions;
mod scope;
mod secret;
mod set;
mod store;

/// The invariants the fuzz targets check, callable on stable Rust (feature `checks`, which the
/// fuzz crate and the corpus replay test enable).
#[cfg(feature = "checks")]
pub mod checks;

pub use algorithm::{Algorithm, Family};
pub use claims::{Claims, ClaimsFormat};
pub use error::{Error, ErrorCode, KeyError, Result};
pub use fs::KeyFormat;
pub use jws::{MAX_TOKEN_LEN, token_kid};
pub use key::{Key, KeyOps, Validation, unix_now};
pub use key_id::{KeyId, MAX_KID_LEN};
pub use path::Path;
pub use pattern::{InvalidPattern, Pattern, Patterns, Segment};
pub use permissions::Permissions;
pub use scope::Scope;
pub use secret::Secret;
pub use set::KeySet;
pub use store::{KeySource, KeyStore};
