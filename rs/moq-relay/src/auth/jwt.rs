//! MoQ JWTs (`docs/tokens.md`) verified with the keys of `[auth] key`, `key_dir` and `jwks`.
//!
//! A JWT is this verifier's when its keys can name it: its `kid` is one of theirs (or, with a
//! single key without a `kid`, any well-formed JWT). Its verdict is then final: a bad signature,
//! an expired token or a root mismatch is refused, never passed on to the auth service. A token
//! that is not a JWT, or names a `kid` none of the keys has, is passed on.

use std::sync::Arc;

use moq_token::{ErrorCode, KeyStore, Validation};

use super::verifier::{Explanation, Judged, Stage, Verdict, Verifier};
use super::{AuthError, ConnectRequest, Credential, CredentialKind, Grant};
use crate::metrics::Metrics;

/// The MoQ token verifier.
#[derive(Debug)]
pub struct MoqJwt {
	keys: Arc<KeyStore>,
}

impl MoqJwt {
	/// A verifier over these keys.
	pub fn new(keys: KeyStore) -> Self {
		Self { keys: Arc::new(keys) }
	}

	/// The keys.
	pub fn keys(&self) -> &Arc<KeyStore> {
		&self.keys
	}

	/// Verifies `token` for the connection path `path`.
	fn verify(&self, token: &str, request: &ConnectRequest) -> Verdict {
		let path = request.path();
		let (claims, thumbprint) = match self.keys.verify_key(token, &Validation::default()) {
			Ok(verified) => verified,
			Err(err) => {
				let code = err.code();
				let error = AuthError::from(err);
				return match code {
					// Not a JWT these keys can name: someone else's, maybe.
					ErrorCode::Malformed | ErrorCode::TooLarge | ErrorCode::UnsupportedAlgorithm => {
						Verdict::PassOn(Some(Explanation { error, weight: 0 }))
					}
					ErrorCode::UnknownKid | ErrorCode::MissingKid => {
						Verdict::PassOn(Some(Explanation { error, weight: 2 }))
					}
					_ => Verdict::Decided(Err(error)),
				};
			}
		};
		let decided = claims.authorize(path).map_err(AuthError::from).map(|permissions| {
			let kid = moq_token::token_kid(token).ok().flatten().map(|kid| kid.to_string());
			Grant::new(path.clone(), permissions.publish, permissions.subscribe)
				.with_expires(claims.expires)
				.with_cluster(claims.cluster)
				.with_subject(kid.as_ref().map(|kid| format!("kid:{kid}")))
				.with_token(claims.id.clone(), kid, thumbprint)
		});
		Verdict::Decided(decided)
	}
}

impl Verifier for MoqJwt {
	fn kind(&self) -> CredentialKind {
		CredentialKind::Jwt
	}

	fn stage(&self) -> Stage {
		Stage::Local
	}

	fn judge<'a>(
		&'a self,
		credential: &'a Credential<'a>,
		request: &'a ConnectRequest,
		_metrics: Option<&'a Metrics>,
	) -> Judged<'a> {
		let verdict = match credential {
			Credential::Token(token) => self.verify(token, request),
			_ => Verdict::PassOn(None),
		};
		Box::pin(std::future::ready(verdict))
	}
}
