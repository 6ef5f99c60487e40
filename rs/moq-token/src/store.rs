//! File-backed key sources that follow changes on disk: the relay's `auth.key`, `auth.key_dir`
//! and `auth.jwks`. Each lookup checks the files' modification time and size, so a rotated,
//! added or removed key takes effect for the next token without a restart.

use crate::{Claims, Error, Key, KeyError, KeyId, KeySet, Result, Validation, token_kid};
use std::{
	collections::HashMap,
	path::{Path as FsPath, PathBuf},
	sync::{Arc, Mutex},
	time::SystemTime,
};

/// Where verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
	/// One key file (a JWK, or a JWKS), JSON or base64url.
	File(PathBuf),
	/// A directory of `{kid}.jwk` files; the token's `kid` picks the file.
	Dir(PathBuf),
	/// A JWKS file (`{"keys": [...]}`).
	Jwks(PathBuf),
}

/// Verifies tokens against one or more [`KeySource`]s, re-reading files that changed.
///
/// A file that disappears contributes no keys (removal revokes). A file that changes into
/// something unreadable keeps its last good keys, so a half-written rotation never locks
/// everybody out; [`KeyStore::check`] reports the problem for logs and readiness.
#[derive(Debug)]
pub struct KeyStore {
	sources: Vec<KeySource>,
	cache: Mutex<HashMap<PathBuf, Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
	stamp: (SystemTime, u64),
	keys: Arc<Vec<Key>>,
}

impl KeyStore {
	/// A store over these sources. Every file source is loaded once here, so a bad path or a bad
	/// key is a start-up error rather than a refusal at the first session.
	pub fn new(sources: Vec<KeySource>) -> Result<Self> {
		let store = Self {
			sources,
			cache: Mutex::new(HashMap::new()),
		};
		store.check()?;
		Ok(store)
	}

	/// The sources.
	pub fn sources(&self) -> &[KeySource] {
		&self.sources
	}

	/// Load every file source now, failing on the first unreadable or invalid one.
	pub fn check(&self) -> Result<()> {
		for source in &self.sources {
			match source {
				KeySource::File(path) | KeySource::Jwks(path) => {
					self.load_strict(path)?;
				}
				KeySource::Dir(dir) => {
					if !dir.is_dir() {
						return Err(KeyError::Io {
							path: dir.display().to_string(),
							reason: "not a directory".into(),
						}
						.into());
					}
				}
			}
		}
		Ok(())
	}

	/// Verify a token with the key its `kid` names (or the only key, for a token without one).
	pub fn verify(&self, token: &str, validation: &Validation) -> Result<Claims> {
		self.verify_key(token, validation).map(|(claims, _)| claims)
	}

	/// [`KeyStore::verify`], also returning the RFC 7638 thumbprint of the key that verified the
	/// token, so that the store can later be asked whether it still [holds](KeyStore::holds) it.
	pub fn verify_key(&self, token: &str, validation: &Validation) -> Result<(Claims, String)> {
		let kid = token_kid(token)?;
		let key = self.select(kid.as_ref().map(KeyId::as_str))?;
		let claims = key.verify_with(token, validation)?;
		Ok((claims, key.thumbprint()))
	}

	/// Whether the key with this thumbprint is still the one a token with this `kid` selects: false
	/// once its file (or JWKS entry) was removed or replaced.
	pub fn holds(&self, kid: Option<&str>, thumbprint: &str) -> bool {
		self.select(kid).is_ok_and(|key| key.thumbprint() == thumbprint)
	}

	/// A value that changes whenever a key source may have changed: the size and modification time
	/// of every key file, and of every file in a key directory. Cheap enough to poll every second.
	pub fn stamp(&self) -> u64 {
		use std::hash::{Hash, Hasher};
		let mut hasher = std::collections::hash_map::DefaultHasher::new();
		let mut file = |path: &FsPath| {
			path.hash(&mut hasher);
			if let Ok(meta) = std::fs::metadata(path) {
				meta.len().hash(&mut hasher);
				meta.modified().ok().hash(&mut hasher);
			}
		};
		for source in &self.sources {
			match source {
				KeySource::File(path) | KeySource::Jwks(path) => file(path),
				KeySource::Dir(dir) => {
					let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
						.map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
						.unwrap_or_default();
					entries.sort();
					for entry in &entries {
						file(entry);
					}
				}
			}
		}
		hasher.finish()
	}

	/// The key a token with `kid` is verified with.
	fn select(&self, kid: Option<&str>) -> Result<Key> {
		let mut candidates: Vec<Key> = Vec::new();
		for source in &self.sources {
			match source {
				KeySource::File(path) | KeySource::Jwks(path) => candidates.extend(self.load(path).iter().cloned()),
				KeySource::Dir(dir) => {
					if let Some(kid) = &kid {
						// A valid kid is [A-Za-z0-9_-]+, so it is a plain file name.
						candidates.extend(self.load(&dir.join(format!("{kid}.jwk"))).iter().cloned());
					}
				}
			}
		}
		let verifiers = candidates.iter().filter(|k| k.ops().verify);
		let key = match &kid {
			Some(kid) => {
				let named: Vec<&Key> = verifiers
					.clone()
					.filter(|k| k.kid().map(KeyId::as_str) == Some(*kid))
					.collect();
				match named.as_slice() {
					[one] => *one,
					[] => {
						// A key without an id (older key files) verifies tokens of any kid.
						let unnamed: Vec<&Key> = verifiers.filter(|k| k.kid().is_none()).collect();
						match unnamed.as_slice() {
							[one] => *one,
							_ => return Err(Error::UnknownKid(kid.to_string())),
						}
					}
					_ => {
						return Err(KeyError::InvalidField {
							field: "kid",
							reason: format!("{kid} names several keys"),
						}
						.into());
					}
				}
			}
			None => {
				let all: Vec<&Key> = verifiers.collect();
				match all.as_slice() {
					[one] => *one,
					[] => return Err(Error::UnknownKid("(no key is configured)".into())),
					_ => return Err(Error::MissingKid),
				}
			}
		};
		Ok(key.clone())
	}

	/// The keys of a file as of now: reloaded if it changed, none if it is gone, the last good
	/// keys if it became unreadable.
	fn load(&self, path: &FsPath) -> Arc<Vec<Key>> {
		let Ok(meta) = std::fs::metadata(path) else {
			self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(path);
			return Arc::default();
		};
		let stamp = (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len());
		if let Some(cached) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(path)
			&& cached.stamp == stamp
		{
			return cached.keys.clone();
		}
		match read_keys(path) {
			Ok(keys) => {
				let keys = Arc::new(keys);
				self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(
					path.to_path_buf(),
					Cached {
						stamp,
						keys: keys.clone(),
					},
				);
				keys
			}
			Err(_) => self
				.cache
				.lock()
				.unwrap_or_else(|e| e.into_inner())
				.get(path)
				.map(|c| c.keys.clone())
				.unwrap_or_default(),
		}
	}

	fn load_strict(&self, path: &FsPath) -> Result<()> {
		let meta = std::fs::metadata(path).map_err(|e| KeyError::Io {
			path: path.display().to_string(),
			reason: e.to_string(),
		})?;
		let keys = read_keys(path)?;
		let stamp = (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len());
		self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(
			path.to_path_buf(),
			Cached {
				stamp,
				keys: Arc::new(keys),
			},
		);
		Ok(())
	}
}

/// A key file holds one JWK or a JWKS.
fn read_keys(path: &FsPath) -> Result<Vec<Key>> {
	let text = std::fs::read_to_string(path).map_err(|e| KeyError::Io {
		path: path.display().to_string(),
		reason: e.to_string(),
	})?;
	match Key::parse(&text) {
		Ok(key) => Ok(vec![key]),
		Err(key_err) => match KeySet::parse(&text) {
			Ok(set) => Ok(set.keys().to_vec()),
			Err(_) => Err(key_err),
		},
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::{Algorithm, ErrorCode, KeyFormat, KeyId, Path};

	struct Dir(PathBuf);
	impl Drop for Dir {
		fn drop(&mut self) {
			let _ = std::fs::remove_dir_all(&self.0);
		}
	}
	fn temp(name: &str) -> Dir {
		let dir = std::env::temp_dir().join(format!("moq-token-store-{name}-{}", std::process::id()));
		let _ = std::fs::remove_dir_all(&dir);
		std::fs::create_dir_all(&dir).unwrap();
		Dir(dir)
	}
	fn key(alg: Algorithm, kid: &str) -> Key {
		Key::generate(alg, Some(KeyId::new(kid).unwrap())).unwrap()
	}
	fn token(key: &Key) -> String {
		key.sign(&Claims::new(Path::root()).with_subscribe(Path::root()))
			.unwrap()
	}
	fn code(store: &KeyStore, token: &str) -> Option<ErrorCode> {
		store.verify(token, &Validation::default()).err().map(|e| e.code())
	}
	/// Rewrite a file so its stamp changes even within one clock tick (the size differs or
	/// the mtime is pushed forward).
	fn replace(path: &FsPath, key: &Key) {
		key.to_file(path, KeyFormat::Json).unwrap();
		let later = SystemTime::now() + std::time::Duration::from_secs(5);
		std::fs::File::options()
			.write(true)
			.open(path)
			.unwrap()
			.set_modified(later)
			.unwrap();
	}

	#[test]
	fn a_store_knows_whether_it_still_holds_the_key_of_a_verified_token() {
		let dir = temp("holds");
		let path = dir.0.join("root.jwk");
		let (a, a2) = (key(Algorithm::HS256, "a"), key(Algorithm::HS256, "a"));
		a.to_file(&path, KeyFormat::Base64Url).unwrap();
		let store = KeyStore::new(vec![KeySource::File(path.clone())]).unwrap();
		let (_, thumbprint) = store.verify_key(&token(&a), &Validation::default()).unwrap();
		assert_eq!(thumbprint, a.thumbprint());
		assert!(store.holds(Some("a"), &thumbprint));
		let before = store.stamp();
		// Replaced under the same kid: not the key that verified the token any more.
		replace(&path, &a2);
		assert_ne!(store.stamp(), before);
		assert!(!store.holds(Some("a"), &thumbprint));
		replace(&path, &a);
		assert!(store.holds(Some("a"), &thumbprint));
		std::fs::remove_file(&path).unwrap();
		assert!(!store.holds(Some("a"), &thumbprint), "removed");

		// A key directory: removing the kid's file is seen by the stamp and by holds.
		let keys = temp("holds-dir");
		a.to_file(keys.0.join("a.jwk"), KeyFormat::Base64Url).unwrap();
		let store = KeyStore::new(vec![KeySource::Dir(keys.0.clone())]).unwrap();
		let (_, thumbprint) = store.verify_key(&token(&a), &Validation::default()).unwrap();
		let before = store.stamp();
		std::fs::remove_file(keys.0.join("a.jwk")).unwrap();
		assert_ne!(store.stamp(), before);
		assert!(!store.holds(Some("a"), &thumbprint));
	}

	#[test]
	fn file_rotation_and_removal() {
		let dir = temp("file");
		let path = dir.0.join("root.jwk");
		let (a, b) = (key(Algorithm::HS256, "a"), key(Algorithm::HS256, "b"));
		a.to_file(&path, KeyFormat::Base64Url).unwrap();
		let store = KeyStore::new(vec![KeySource::File(path.clone())]).unwrap();
		assert_eq!(code(&store, &token(&a)), None);
		assert_eq!(code(&store, &token(&b)), Some(ErrorCode::UnknownKid));

		replace(&path, &b);
		assert_eq!(code(&store, &token(&b)), None, "rotated in");
		assert_eq!(code(&store, &token(&a)), Some(ErrorCode::UnknownKid), "rotated out");

		std::fs::write(&path, "half-written").unwrap();
		assert_eq!(
			code(&store, &token(&b)),
			None,
			"a broken rewrite keeps the last good key"
		);

		std::fs::remove_file(&path).unwrap();
		assert_eq!(code(&store, &token(&b)), Some(ErrorCode::UnknownKid), "removal revokes");
	}

	#[test]
	fn key_dir_by_kid() {
		let dir = temp("dir");
		let (a, b) = (key(Algorithm::ES256, "alpha"), key(Algorithm::EdDSA, "beta"));
		a.to_public()
			.unwrap()
			.to_file(dir.0.join("alpha.jwk"), KeyFormat::Base64Url)
			.unwrap();
		let store = KeyStore::new(vec![KeySource::Dir(dir.0.clone())]).unwrap();
		assert_eq!(code(&store, &token(&a)), None);
		assert_eq!(code(&store, &token(&b)), Some(ErrorCode::UnknownKid));
		b.to_public()
			.unwrap()
			.to_file(dir.0.join("beta.jwk"), KeyFormat::Json)
			.unwrap();
		assert_eq!(code(&store, &token(&b)), None, "a new key file is picked up");
		std::fs::remove_file(dir.0.join("alpha.jwk")).unwrap();
		assert_eq!(code(&store, &token(&a)), Some(ErrorCode::UnknownKid), "removal revokes");
		// A kid can never name a file outside the directory.
		let evil = format!(
			"{}.e30.x",
			crate::base64url::encode(r#"{"alg":"ES256","kid":"../alpha"}"#)
		);
		assert_eq!(code(&store, &evil), Some(ErrorCode::UnknownKid));
		// Without a kid, a directory cannot pick a key.
		assert_eq!(
			code(&store, &token(&a.with_kid(None).unwrap())),
			Some(ErrorCode::UnknownKid)
		);
	}

	#[test]
	fn jwks_and_startup_errors() {
		let dir = temp("jwks");
		let (a, b) = (key(Algorithm::RS256, "r"), key(Algorithm::ES384, "e"));
		let set = KeySet::new(vec![a.to_public().unwrap(), b.to_public().unwrap()]).unwrap();
		set.to_file(dir.0.join("keys.json")).unwrap();
		let store = KeyStore::new(vec![KeySource::Jwks(dir.0.join("keys.json"))]).unwrap();
		assert_eq!(code(&store, &token(&a)), None);
		assert_eq!(code(&store, &token(&b)), None);
		assert_eq!(
			code(&store, &token(&b.with_kid(None).unwrap())),
			Some(ErrorCode::MissingKid)
		);

		let missing = KeyStore::new(vec![KeySource::File(dir.0.join("nope.jwk"))]).unwrap_err();
		assert_eq!(missing.code(), ErrorCode::KeyError);
		assert!(missing.to_string().contains("nope.jwk"), "{missing}");
		std::fs::write(dir.0.join("bad.jwk"), "{}").unwrap();
		assert_eq!(
			KeyStore::new(vec![KeySource::File(dir.0.join("bad.jwk"))])
				.unwrap_err()
				.code(),
			ErrorCode::KeyError
		);
		assert_eq!(
			KeyStore::new(vec![KeySource::Dir(dir.0.join("nope"))])
				.unwrap_err()
				.code(),
			ErrorCode::KeyError
		);
	}

	#[test]
	fn legacy_key_without_kid_verifies_any_kid() {
		let dir = temp("legacy");
		let a = key(Algorithm::HS256, "signer");
		a.with_kid(None)
			.unwrap()
			.to_file(dir.0.join("root.jwk"), KeyFormat::Base64Url)
			.unwrap();
		let store = KeyStore::new(vec![KeySource::File(dir.0.join("root.jwk"))]).unwrap();
		assert_eq!(code(&store, &token(&a)), None);
		assert_eq!(code(&store, &token(&a.with_kid(None).unwrap())), None);
	}
}
