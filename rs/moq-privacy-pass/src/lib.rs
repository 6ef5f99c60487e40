//! Privacy Pass for MoQ relays: publicly verifiable tokens (type 0x0002, Blind RSA 2048) per RFC 9577
//! (the `PrivateToken` HTTP authentication scheme) and RFC 9578 (issuance protocol 2), as
//! draft-ietf-moq-privacy-pass-auth uses them.
//!
//! **Sans-I/O.** This crate opens no sockets, spawns no tasks and reads no clock: every time-dependent
//! call takes `now: SystemTime` from the caller. The only ambient input is the system random generator
//! (fresh redemption contexts, client nonces, key generation).
//!
//! The relay's side:
//! 1. [`Verifier::new`] with the issuer name and the configured [`IssuerKey`]s (SPKI from PEM, DER or
//!    base64, byte-exact: `token_key_id` = SHA-256 of the bytes as given).
//! 2. No credential → [`Verifier::challenge`] makes (and records) a [`TokenChallenge`]; refuse the MoQ
//!    session with code 0x2 and [`TokenChallenge::to_close_reason`] (`pp:<base64url>`), or answer HTTP
//!    401 with [`Verifier::www_authenticate`].
//! 3. A token comes back in `Authorization: PrivateToken token="..."` ([`parse_authorization`]), in the
//!    `pp=` query ([`Token::from_base64`]) or as SETUP bytes ([`Token::from_bytes`], which also takes the
//!    seed client's 357-byte `PrivateTokenAuth` wrapper).
//! 4. [`Verifier::verify_token`] / [`Verifier::verify`] at `now`: type, key, challenge, signature, nonce.
//!    Errors carry stable codes ([`Error::code`]); a replay is `token_replayed`.
//!
//! The issuer's and client's sides ([`Issuer`], [`request_token`]) make the whole flow run offline.
//!
//! ```
//! use std::time::SystemTime;
//! use moq_privacy_pass::{Issuer, IssuerKeyPair, Verifier, request_token};
//!
//! let issuer = Issuer::new("https://issuer.example/token-request", vec![IssuerKeyPair::generate()?])?;
//! let key = issuer.keys()[0].public_key().clone();
//! let verifier = Verifier::new("issuer.example", [key.clone()])?;
//!
//! let now = SystemTime::now();
//! let challenge = verifier.challenge(now);
//! let (request, state) = request_token(&challenge, &key)?;
//! let response = issuer.issue_request(&request)?;
//! let token = state.finalize(&response)?;
//!
//! assert!(verifier.verify_token(&token, now).is_ok());
//! assert_eq!(verifier.verify_token(&token, now).unwrap_err().code(), "token_replayed");
//! # Ok::<(), moq_privacy_pass::Error>(())
//! ```

mod b64;
mod challenge;
mod challenge_book;
/// The invariants the fuzz targets check, callable on stable Rust (feature `checks`, which the
/// fuzz crate and the corpus replay test enable).
#[cfg(feature = "checks")]
pub mod checks;
mod client;
mod error;
mod header;
mod issuer;
#[cfg(feature = "http")]
pub mod issuer_http;
mod issuer_key;
mod nonce_store;
#[cfg(feature = "redis")]
mod redis_store;
mod token;
mod token_request;
mod verifier;

pub use challenge::{CLOSE_REASON_PREFIX, TokenChallenge};
pub use challenge_book::{ChallengeBook, ChallengeStatus};
pub use client::{TokenRequestState, request_token};
pub use error::{CODES, Error};
pub use header::{
	PrivateTokenChallenge, SCHEME, format_www_authenticate, is_private_token_authorization, parse_authorization,
	parse_www_authenticate,
};
pub use issuer::{DIRECTORY_MEDIA_TYPE, DIRECTORY_PATH, DirectoryKey, Issuer, IssuerDirectory, IssuerKeyPair};
pub use issuer_key::IssuerKey;
pub use nonce_store::{AsyncNonceStore, MemoryNonceStore, NonceStore, Reservation};
#[cfg(feature = "redis")]
pub use redis_store::RedisNonceStore;
pub use token::{
	AUTH_SCHEME_PRIVACY_PASS, AUTHENTICATOR_INPUT_LEN, AUTHENTICATOR_LEN, TOKEN_LEN, TOKEN_TYPE_BLIND_RSA, Token,
	WRAPPED_TOKEN_LEN,
};
pub use token_request::{
	TOKEN_REQUEST_LEN, TOKEN_REQUEST_MEDIA_TYPE, TOKEN_RESPONSE_MEDIA_TYPE, TokenRequest, TokenResponse,
};
pub use verifier::{
	DEFAULT_CHALLENGE_CAPACITY, DEFAULT_CHALLENGE_TTL, DEFAULT_STATIC_NONCE_RETENTION, RedemptionContext, Verified,
	Verifier,
};
