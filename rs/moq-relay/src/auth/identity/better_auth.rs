//! The Better Auth preset (`preset = "better-auth"`, `docs/auth.md`, "Better Auth"): one entry that
//! accepts what a Better Auth app already issues.
//!
//! - The JWT plugin's tokens (`/api/auth/token`, or the `set-auth-jwt` header): verified with the
//!   app's key set at `{base_url}/api/auth/jwks` (EdDSA by default; ES256, RS256 and PS256 too),
//!   `iss` and `aud` the app's base URL, as the plugin writes them by default.
//! - The cookie cache in its `jwt` strategy (the `better-auth.session_data` cookie's value): HS256
//!   with the app's secret (`BETTER_AUTH_SECRET`), claims `{"session": {…}, "user": {…}}` read as
//!   `sub` = the user's id, `email` and `name` from the user.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use moq_token::ErrorCode;
use serde_json::{Value, json};

use super::{GrantTemplate, IdentityKeys, IdentitySettings, Shape};
use crate::auth::{AuthError, JwksUrl, JwksUrlError, JwksUrlSettings};

/// The name suffix of the cookie cache's identity (`<name>:cookie-cache` in subjects and logs).
const COOKIE_CACHE_SUFFIX: &str = ":cookie-cache";

/// A Better Auth app.
#[derive(Clone, Debug)]
pub struct BetterAuth {
	/// The entry's name.
	pub name: String,
	/// The app's `baseURL`, exactly as configured there (`https://app.example`): the JWT plugin's
	/// `iss` and `aud`, and where its key set is.
	pub base_url: String,
	/// The app's secret (`BETTER_AUTH_SECRET`), for the cookie cache; without it, only the JWT
	/// plugin's tokens are accepted.
	pub secret: Option<String>,
	/// The grant, from the claims (`sub` is the user's id).
	pub grant: GrantTemplate,
	/// Clock skew tolerated on `exp` and `nbf`.
	pub leeway: Duration,
	/// How the key set is fetched (its URL is `{base_url}/api/auth/jwks`).
	pub jwks: JwksUrlSettings,
}

impl BetterAuth {
	/// The key set's URL.
	pub fn jwks_url(&self) -> String {
		format!("{}/api/auth/jwks", self.base_url.trim_end_matches('/'))
	}

	/// The identities the preset stands for: the JWT plugin's, and the cookie cache's when the secret
	/// is known.
	pub fn identities(&self) -> Result<Vec<IdentitySettings>, JwksUrlError> {
		let jwks = JwksUrl::for_identity(JwksUrlSettings {
			url: self.jwks_url(),
			..self.jwks.clone()
		})?;
		let mut identities = vec![IdentitySettings {
			name: self.name.clone(),
			keys: IdentityKeys::Jwks(Arc::new(jwks)),
			algorithms: vec![Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256, Algorithm::PS256],
			issuer: Some(self.base_url.clone()),
			audience: vec![self.base_url.clone()],
			leeway: self.leeway,
			grant: self.grant.clone(),
			shape: Shape::Plain,
		}];
		if let Some(secret) = &self.secret {
			identities.push(IdentitySettings {
				name: format!("{}{COOKIE_CACHE_SUFFIX}", self.name),
				keys: IdentityKeys::Secret(secret.as_bytes().to_vec()),
				algorithms: vec![Algorithm::HS256],
				issuer: None,
				audience: Vec::new(),
				leeway: self.leeway,
				grant: self.grant.clone(),
				shape: Shape::BetterAuthCookieCache,
			});
		}
		Ok(identities)
	}
}

/// The claims of a cookie-cache JWT as a template reads them.
pub(super) fn cookie_cache_claims(claims: Value) -> Result<Value, AuthError> {
	let invalid = AuthError::InvalidToken(ErrorCode::InvalidClaim);
	let user = claims.get("user").filter(|u| u.is_object()).ok_or(invalid.clone())?;
	let id = user.get("id").and_then(Value::as_str).ok_or(invalid)?;
	Ok(json!({
		"sub": id,
		"email": user.get("email"),
		"name": user.get("name"),
		"user": user,
		"session": claims.get("session"),
		"exp": claims.get("exp"),
	}))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn the_cookie_cache_reads_as_the_user() {
		let claims = json!({
			"session": {"id": "s-1", "userId": "u-1"},
			"user": {"id": "u-1", "email": "a@example.com", "name": "A"},
			"updatedAt": 1, "version": "1", "iat": 10, "exp": 20,
		});
		let read = cookie_cache_claims(claims).unwrap();
		assert_eq!((read["sub"].as_str(), read["exp"].as_u64()), (Some("u-1"), Some(20)));
		assert_eq!(read["email"], "a@example.com");
		assert_eq!(
			cookie_cache_claims(json!({"user": {"email": "x"}})).unwrap_err().reason(),
			"invalid_token: invalid_claim"
		);
	}
}
