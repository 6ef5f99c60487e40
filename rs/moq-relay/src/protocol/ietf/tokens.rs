//! AUTHORIZATION TOKEN aliases (draft-14 §9.2.1.1, §9.3.2.4-5): the cache of tokens a peer
//! registered, bounded by the MAX_AUTH_TOKEN_CACHE_SIZE the relay advertised.
//!
//! [`TokenCache::apply`] turns each AUTHORIZATION TOKEN of a message into the token to verify
//! (or nothing, for DELETE); verifying it is the caller's (the same verifier chain as `?jwt=`).

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;

use crate::wire::ietf::{AuthToken, RequestErrorCode, termination};
use crate::wire::{SessionCode, VarInt};

/// A token to verify: its Token Type and value. `Debug` prints the value's length only.
#[derive(Clone, PartialEq, Eq)]
pub struct UsedToken {
	/// The Token Type (0: agreed out of band, e.g. a MoQ JWT).
	pub token_type: VarInt,
	/// The Token Value.
	pub value: Bytes,
}

impl fmt::Debug for UsedToken {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		write!(
			f,
			"UsedToken {{ token_type: {}, value: <{} bytes> }}",
			self.token_type,
			self.value.len()
		)
	}
}

/// Why an AUTHORIZATION TOKEN was not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
	/// REGISTER beyond the advertised cache size (outside SETUP, where it counts as USE_VALUE).
	#[error("auth_token_cache_overflow: the registration exceeds MAX_AUTH_TOKEN_CACHE_SIZE")]
	CacheOverflow,
	/// REGISTER of an alias that is still registered.
	#[error("duplicate_auth_token_alias: the alias is already registered")]
	DuplicateAlias,
	/// USE_ALIAS or DELETE of an alias that is not registered.
	#[error("unknown_auth_token_alias: the alias is not registered")]
	UnknownAlias,
}

impl TokenError {
	/// The stable code, also the start of the reason.
	pub fn code(self) -> &'static str {
		match self {
			Self::CacheOverflow => "auth_token_cache_overflow",
			Self::DuplicateAlias => "duplicate_auth_token_alias",
			Self::UnknownAlias => "unknown_auth_token_alias",
		}
	}

	/// The session termination code (draft-14 §3.4): overflow and duplicates always close the
	/// session; an unknown alias does when it is in SETUP.
	pub fn session_code(self) -> SessionCode {
		match self {
			Self::CacheOverflow => termination::AUTH_TOKEN_CACHE_OVERFLOW,
			Self::DuplicateAlias => termination::DUPLICATE_AUTH_TOKEN_ALIAS,
			Self::UnknownAlias => termination::UNKNOWN_AUTH_TOKEN_ALIAS,
		}
	}

	/// Whether a request carrying it is refused alone (with [`request_code`](Self::request_code))
	/// rather than the session closed: "MUST reject the message with UNKNOWN_AUTH_TOKEN_ALIAS".
	pub fn rejects_request_only(self) -> bool {
		matches!(self, Self::UnknownAlias)
	}

	/// The Error Code of the refusal of a request: draft-14's request registries have no
	/// unknown-alias code, so UNAUTHORIZED, with this error's code as the reason.
	pub fn request_code(self) -> u32 {
		RequestErrorCode::UNAUTHORIZED
	}
}

/// The aliases one peer registered with the relay.
#[derive(Debug)]
pub struct TokenCache {
	limit: u64,
	used: u64,
	aliases: HashMap<u64, UsedToken>,
}

impl TokenCache {
	/// A cache of `limit` bytes (the MAX_AUTH_TOKEN_CACHE_SIZE the relay advertised; 0 forbids
	/// aliases).
	pub fn new(limit: u64) -> Self {
		Self {
			limit,
			used: 0,
			aliases: HashMap::new(),
		}
	}

	/// Bytes the registered tokens take (16 + value length each).
	pub fn used(&self) -> u64 {
		self.used
	}

	/// Applies one token of a message (`in_setup`: of CLIENT_SETUP) and returns the token the
	/// message is to be authorized with (`None` for DELETE).
	pub fn apply(&mut self, token: AuthToken, in_setup: bool) -> Result<Option<UsedToken>, TokenError> {
		let size = token.cache_size();
		match token {
			AuthToken::Delete { alias } => {
				let removed = self
					.aliases
					.remove(&alias.into_inner())
					.ok_or(TokenError::UnknownAlias)?;
				self.used -= 16 + removed.value.len() as u64;
				Ok(None)
			}
			AuthToken::Register {
				alias,
				token_type,
				value,
			} => {
				let used = UsedToken { token_type, value };
				if self.aliases.contains_key(&alias.into_inner()) {
					return Err(TokenError::DuplicateAlias);
				}
				if self.used.saturating_add(size) > self.limit {
					// §9.3.2.5: in CLIENT_SETUP, "treat the parameter as Alias Type USE_VALUE".
					if in_setup {
						return Ok(Some(used));
					}
					return Err(TokenError::CacheOverflow);
				}
				self.used += size;
				self.aliases.insert(alias.into_inner(), used.clone());
				Ok(Some(used))
			}
			AuthToken::UseAlias { alias } => self
				.aliases
				.get(&alias.into_inner())
				.cloned()
				.map(Some)
				.ok_or(TokenError::UnknownAlias),
			AuthToken::UseValue { token_type, value } => Ok(Some(UsedToken { token_type, value })),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn v(n: u64) -> VarInt {
		VarInt::from_u64(n).unwrap()
	}

	fn register(alias: u64, value: &'static [u8]) -> AuthToken {
		AuthToken::Register {
			alias: v(alias),
			token_type: VarInt::ZERO,
			value: Bytes::from_static(value),
		}
	}

	#[test]
	fn register_then_use_then_delete() {
		let mut cache = TokenCache::new(64);
		let used = cache.apply(register(1, b"jwt"), false).unwrap().unwrap();
		assert_eq!(used.value, Bytes::from_static(b"jwt"));
		assert_eq!(cache.used(), 19);
		assert_eq!(cache.apply(AuthToken::UseAlias { alias: v(1) }, false), Ok(Some(used)));
		assert_eq!(
			cache.apply(register(1, b"other"), false),
			Err(TokenError::DuplicateAlias)
		);
		assert_eq!(cache.apply(AuthToken::Delete { alias: v(1) }, false), Ok(None));
		assert_eq!(cache.used(), 0);
		assert_eq!(
			cache.apply(AuthToken::UseAlias { alias: v(1) }, false),
			Err(TokenError::UnknownAlias)
		);
		assert_eq!(
			cache.apply(AuthToken::Delete { alias: v(1) }, false),
			Err(TokenError::UnknownAlias)
		);
		// Once deleted, the alias may be registered again.
		assert!(cache.apply(register(1, b"jwt"), false).is_ok());
	}

	#[test]
	fn the_cache_size_bounds_registrations() {
		let mut cache = TokenCache::new(40);
		assert!(cache.apply(register(1, b"0123"), false).is_ok()); // 20
		assert!(cache.apply(register(2, b"0123"), false).is_ok()); // 40
		let err = cache.apply(register(3, b"x"), false).unwrap_err();
		assert_eq!(err, TokenError::CacheOverflow);
		assert_eq!(err.session_code(), termination::AUTH_TOKEN_CACHE_OVERFLOW);
		assert!(!err.rejects_request_only());
		// In CLIENT_SETUP an oversize REGISTER is used once and not kept.
		let mut setup = TokenCache::new(0);
		assert!(setup.apply(register(1, b"jwt"), true).unwrap().is_some());
		assert_eq!(
			setup.apply(AuthToken::UseAlias { alias: v(1) }, false),
			Err(TokenError::UnknownAlias)
		);
		assert_eq!(
			TokenError::UnknownAlias.session_code(),
			termination::UNKNOWN_AUTH_TOKEN_ALIAS
		);
		assert!(TokenError::UnknownAlias.rejects_request_only());
	}

	#[test]
	fn debug_hides_the_value() {
		let used = UsedToken {
			token_type: VarInt::ZERO,
			value: Bytes::from_static(b"eyJsecret"),
		};
		assert!(!format!("{used:?}").contains("eyJ"));
	}
}
