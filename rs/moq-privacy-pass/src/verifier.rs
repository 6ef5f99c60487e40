//! The relay side: make challenges, verify presented tokens.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use crate::challenge_book::{ChallengeBook, ChallengeStatus, later};
use crate::error::short_hex;
use crate::header::format_www_authenticate;
use crate::nonce_store::{AsyncNonceStore, MemoryNonceStore, NonceStore};
use crate::token::TOKEN_TYPE_BLIND_RSA;
use crate::{Error, IssuerKey, Token, TokenChallenge};

/// What goes in the `redemption_context` of the challenges a verifier makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedemptionContext {
	/// 32 fresh random bytes per challenge: tokens are bound to one challenge (RFC 9577 §2.1.1.2).
	#[default]
	Fresh,
	/// Empty: every challenge is the same, so tokens may be fetched ahead of time.
	Empty,
}

/// A token that passed every check and whose nonce is now spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
	/// The issuer key that signed it.
	pub token_key_id: [u8; 32],
	/// The redeemed nonce.
	pub nonce: [u8; 32],
	/// The challenge it answered.
	pub challenge_digest: [u8; 32],
	/// Whether that challenge was issued (and until when) or static.
	pub challenge: ChallengeStatus,
}

/// Default lifetime of issued challenges.
pub const DEFAULT_CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// Default number of issued challenges remembered.
pub const DEFAULT_CHALLENGE_CAPACITY: usize = 100_000;
/// Default retention of nonces of tokens for long-lived challenges (static, or empty redemption context).
pub const DEFAULT_STATIC_NONCE_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Verifies type-2 Privacy Pass tokens for one relay (or a group sharing `S`).
///
/// All methods take `&self`; share it behind an `Arc`.
pub struct Verifier<S: NonceStore = MemoryNonceStore> {
	issuer_name: String,
	origin_info: Vec<u8>,
	context: RedemptionContext,
	keys: RwLock<HashMap<[u8; 32], Arc<IssuerKey>>>,
	book: ChallengeBook,
	nonces: S,
	static_nonce_retention: Duration,
}

impl<S: NonceStore + std::fmt::Debug> std::fmt::Debug for Verifier<S> {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("Verifier")
			.field("issuer_name", &self.issuer_name)
			.field("context", &self.context)
			.field("keys", &self.read_keys().len())
			.field("book", &self.book)
			.field("nonces", &self.nonces)
			.finish_non_exhaustive()
	}
}

impl Verifier<MemoryNonceStore> {
	/// A verifier for tokens from `issuer_name` signed by any of `keys`, with an in-memory nonce store,
	/// fresh redemption contexts, empty origin info and challenges living [`DEFAULT_CHALLENGE_TTL`].
	pub fn new(issuer_name: impl Into<String>, keys: impl IntoIterator<Item = IssuerKey>) -> Result<Self, Error> {
		let issuer_name = issuer_name.into();
		// Checks the name fits a challenge.
		TokenChallenge::new(TOKEN_TYPE_BLIND_RSA, issuer_name.clone(), None, Vec::new())?;
		let v = Self {
			issuer_name,
			origin_info: Vec::new(),
			context: RedemptionContext::default(),
			keys: RwLock::default(),
			book: ChallengeBook::new(DEFAULT_CHALLENGE_TTL, DEFAULT_CHALLENGE_CAPACITY),
			nonces: MemoryNonceStore::default(),
			static_nonce_retention: DEFAULT_STATIC_NONCE_RETENTION,
		};
		v.set_keys(keys);
		Ok(v)
	}
}

impl<S: NonceStore> Verifier<S> {
	/// Uses `store` for redeemed nonces (e.g. one shared by several relays).
	pub fn with_nonce_store<T: NonceStore>(self, store: T) -> Verifier<T> {
		Verifier {
			issuer_name: self.issuer_name,
			origin_info: self.origin_info,
			context: self.context,
			keys: self.keys,
			book: self.book,
			nonces: store,
			static_nonce_retention: self.static_nonce_retention,
		}
	}

	/// Sets the `origin_info` of issued challenges (the relay's names, or a `MoQAuthorizationInfo`).
	pub fn with_origin_info(mut self, origin_info: impl Into<Vec<u8>>) -> Result<Self, Error> {
		let origin_info = origin_info.into();
		TokenChallenge::new(
			TOKEN_TYPE_BLIND_RSA,
			self.issuer_name.clone(),
			None,
			origin_info.clone(),
		)?;
		self.origin_info = origin_info;
		Ok(self)
	}

	/// Chooses fresh or empty redemption contexts.
	pub fn with_redemption_context(mut self, context: RedemptionContext) -> Self {
		self.context = context;
		self
	}

	/// Sets how long issued challenges are accepted and how many are remembered.
	pub fn with_challenge_lifetime(mut self, ttl: Duration, capacity: usize) -> Self {
		self.book.set_lifetime(ttl, capacity);
		self
	}

	/// Accepts tokens for `challenge` forever (a challenge published in configuration).
	pub fn with_static_challenge(mut self, challenge: &TokenChallenge) -> Self {
		self.book.add_static(challenge);
		self
	}

	/// How long nonces of tokens for long-lived challenges (static ones, and issued ones with an empty
	/// redemption context, which every new challenge renews) are remembered. Replay protection for those
	/// lasts this long: rotate such challenges (e.g. an epoch in `origin_info`) more often than this.
	pub fn with_static_nonce_retention(mut self, retention: Duration) -> Self {
		self.static_nonce_retention = retention;
		self
	}

	/// Replaces the accepted issuer keys (rotation); issued challenges and nonces are kept.
	pub fn set_keys(&self, keys: impl IntoIterator<Item = IssuerKey>) {
		let map = keys.into_iter().map(|k| (*k.token_key_id(), Arc::new(k))).collect();
		*self.keys.write().unwrap_or_else(|p| p.into_inner()) = map;
	}

	/// The accepted issuer keys.
	pub fn keys(&self) -> Vec<Arc<IssuerKey>> {
		self.read_keys().values().cloned().collect()
	}

	/// The issuer name put in challenges.
	pub fn issuer_name(&self) -> &str {
		&self.issuer_name
	}

	/// The challenge registry.
	pub fn challenges(&self) -> &ChallengeBook {
		&self.book
	}

	/// The nonce store.
	pub fn nonce_store(&self) -> &S {
		&self.nonces
	}

	/// Makes a new type-2 challenge and records it as issued at `now`.
	pub fn challenge(&self, now: SystemTime) -> TokenChallenge {
		let context = match self.context {
			RedemptionContext::Empty => None,
			RedemptionContext::Fresh => {
				let mut ctx = [0u8; 32];
				aws_lc_rs::rand::fill(&mut ctx).expect("the system random generator works");
				Some(ctx)
			}
		};
		let challenge = TokenChallenge::new(
			TOKEN_TYPE_BLIND_RSA,
			self.issuer_name.clone(),
			context,
			self.origin_info.clone(),
		)
		.expect("issuer name and origin info were checked at construction");
		self.book.record(&challenge, now);
		challenge
	}

	/// The `WWW-Authenticate` value for `challenge`: one `PrivateToken` challenge per accepted key,
	/// comma-separated, with `max-age` = the challenge lifetime.
	pub fn www_authenticate(&self, challenge: &TokenChallenge) -> String {
		let mut keys: Vec<_> = self.keys();
		keys.sort_by(|a, b| a.spki().cmp(b.spki()));
		keys.iter()
			.map(|k| format_www_authenticate(challenge, k.spki(), Some(self.book.ttl().as_secs())))
			.collect::<Vec<_>>()
			.join(", ")
	}

	/// The stateless checks, in order: token type, full `token_key_id` is a configured key,
	/// `challenge_digest` was issued and has not expired (or is static), RSASSA-PSS signature over the first
	/// 98 bytes. The nonce is *not* looked at; [`Self::verify`] does that. An async relay with a remote
	/// nonce store can call this and then reserve/commit the nonce itself.
	pub fn check(&self, token: &Token, now: SystemTime) -> Result<ChallengeStatus, Error> {
		if token.token_type() != TOKEN_TYPE_BLIND_RSA {
			return Err(Error::UnsupportedTokenType(token.token_type()));
		}
		let key = self
			.read_keys()
			.get(token.token_key_id())
			.cloned()
			.ok_or_else(|| Error::UnknownKey(short_hex(token.token_key_id())))?;
		let status = self.book.check(token.challenge_digest(), now)?;
		key.verify(token.authenticator_input(), token.authenticator())?;
		Ok(status)
	}

	/// Verifies presented token bytes (354, or the original client's 357-byte wrapped form) at `now`.
	///
	/// Checks, in order: length (`malformed`), type (`unsupported_token_type`), key (`unknown_key`),
	/// challenge (`unknown_challenge`, `challenge_expired`), signature (`bad_signature`), nonce
	/// (`token_replayed`). The nonce step is reserve → commit, releasing the reservation if the commit
	/// fails. The signature is checked before the nonce store is touched, so forged tokens never cost a
	/// store round trip and never occupy a nonce.
	pub fn verify(&self, presented: &[u8], now: SystemTime) -> Result<Verified, Error> {
		self.verify_token(&Token::from_bytes(presented)?, now)
	}

	/// [`Self::verify`] for an already parsed token (e.g. from [`crate::parse_authorization`]).
	pub fn verify_token(&self, token: &Token, now: SystemTime) -> Result<Verified, Error> {
		let status = self.check(token, now)?;
		let reservation = self
			.nonces
			.reserve(token.nonce(), self.keep_nonce_until(status, now), now)?;
		if let Err(e) = self.nonces.commit(&reservation, now) {
			self.nonces.release(reservation);
			return Err(e);
		}
		Ok(verified(token, status))
	}

	/// [`Self::verify_token`] with the nonce step against `store` (e.g. Redis, shared by several relays
	/// that share this verifier's challenge configuration) instead of this verifier's own store.
	///
	/// Same order: every stateless check ([`Self::check`]) first, so a forged token never reaches the
	/// store; then reserve → commit, releasing the reservation if the commit fails.
	pub async fn verify_token_with<A: AsyncNonceStore>(
		&self,
		token: &Token,
		now: SystemTime,
		store: &A,
	) -> Result<Verified, Error> {
		let status = self.check(token, now)?;
		let keep_until = self.keep_nonce_until(status, now);
		let reservation = store.reserve(token.nonce(), keep_until, now).await?;
		if let Err(e) = store.commit(&reservation, now).await {
			store.release(reservation).await;
			return Err(e);
		}
		Ok(verified(token, status))
	}

	/// Until when the nonce of a token for a challenge in `status` must be remembered.
	///
	/// A challenge with a fresh random context is unique, so its nonces need keeping only until it
	/// expires. Static challenges never expire, and empty-context challenges are re-issued (their expiry
	/// is pushed back by every `challenge()` call), so their nonces are kept for the long retention.
	pub fn keep_nonce_until(&self, status: ChallengeStatus, now: SystemTime) -> SystemTime {
		match (status, self.context) {
			(ChallengeStatus::Issued { expires_at }, RedemptionContext::Fresh) => expires_at,
			(ChallengeStatus::Issued { expires_at }, RedemptionContext::Empty) => {
				expires_at.max(later(now, self.static_nonce_retention))
			}
			(ChallengeStatus::Static, _) => later(now, self.static_nonce_retention),
		}
	}

	fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, HashMap<[u8; 32], Arc<IssuerKey>>> {
		self.keys.read().unwrap_or_else(|p| p.into_inner())
	}
}

fn verified(token: &Token, status: ChallengeStatus) -> Verified {
	Verified {
		token_key_id: *token.token_key_id(),
		nonce: *token.nonce(),
		challenge_digest: *token.challenge_digest(),
		challenge: status,
	}
}
