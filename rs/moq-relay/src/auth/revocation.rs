//! Revoked tokens and subjects (`docs/auth.md`, "Revocation"): a denylist from a file, reloaded
//! while the relay runs, plus what the operator endpoint adds. Admission refuses a revoked token,
//! and every live session re-checks its grant whenever the list or the key sources change.
//!
//! The file holds one entry a line, `jti <token id>` or `sub <subject>`; blank lines and lines
//! starting with `#` are ignored. A file that becomes unreadable or invalid keeps the last good list
//! (a half-written edit never un-revokes anything); at start-up it is an error naming the line.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use tokio::sync::watch;

/// One denylist entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Revoked {
	/// Every token with this `jti`.
	TokenId(String),
	/// Every token of this subject (the grant's subject, as in the audit log: `kid:<id>` for a
	/// token without `sub`, or the token's `sub`).
	Subject(String),
}

impl Revoked {
	/// Its value: the token id or the subject.
	fn value(&self) -> &str {
		match self {
			Self::TokenId(value) | Self::Subject(value) => value,
		}
	}

	/// Whether a line of the list file holds it: one line, not empty, no surrounding whitespace.
	pub fn storable(&self) -> bool {
		let value = self.value();
		!value.is_empty() && value.trim() == value && !value.contains(['\n', '\r'])
	}

	/// Its line in the list file.
	fn line(&self) -> String {
		match self {
			Self::TokenId(value) => format!("jti {value}\n"),
			Self::Subject(value) => format!("sub {value}\n"),
		}
	}
}

/// Why the denylist file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
	/// The file could not be read.
	#[error("revocation list {path}: {reason}")]
	Io {
		/// The file.
		path: String,
		/// The system's reason.
		reason: String,
	},
	/// Entries of the operator endpoint could not be added to the file (a full disk, say).
	#[error(
		"revocation list {path}: cannot add to it ({reason}); the entries are in effect until the relay restarts: free space or fix the file's permissions, then revoke again"
	)]
	Unwritable {
		/// The file.
		path: String,
		/// The system's reason.
		reason: String,
	},
	/// A line is neither `jti <id>` nor `sub <subject>`.
	#[error("revocation list {path}:{line}: expected `jti <token id>` or `sub <subject>`")]
	Syntax {
		/// The file.
		path: String,
		/// The line number, from 1.
		line: usize,
	},
}

impl RevocationError {
	/// The stable code.
	pub fn code(&self) -> &'static str {
		match self {
			Self::Io { .. } => "revocation_list_unreadable",
			Self::Unwritable { .. } => "revocation_list_unwritable",
			Self::Syntax { .. } => "revocation_list_invalid",
		}
	}
}

#[derive(Debug, Default)]
struct Lists {
	/// From the file, as last read successfully.
	file: HashSet<Revoked>,
	/// The file's size and modification time when it was last read.
	stamp: Option<(SystemTime, u64)>,
	/// Added through the operator endpoint since start-up.
	added: HashSet<Revoked>,
}

/// The relay's denylist. Cheap to consult: a read lock and two set lookups.
#[derive(Debug)]
pub struct Revocations {
	file: Option<PathBuf>,
	lists: RwLock<Lists>,
	/// Bumped on every change of the denylist or of the key sources: live sessions re-check.
	generation: watch::Sender<u64>,
}

impl Revocations {
	/// The denylist of `file` (none: only what the operator endpoint adds). The file must exist and
	/// parse now.
	pub fn new(file: Option<PathBuf>) -> Result<Arc<Self>, RevocationError> {
		let revocations = Self {
			file,
			lists: RwLock::new(Lists::default()),
			generation: watch::Sender::new(0),
		};
		if let Some(path) = &revocations.file {
			let (entries, stamp) = read(path)?;
			let mut lists = revocations.write();
			lists.file = entries;
			lists.stamp = Some(stamp);
		}
		Ok(Arc::new(revocations))
	}

	fn write(&self) -> std::sync::RwLockWriteGuard<'_, Lists> {
		self.lists.write().unwrap_or_else(|e| e.into_inner())
	}

	fn read(&self) -> std::sync::RwLockReadGuard<'_, Lists> {
		self.lists.read().unwrap_or_else(|e| e.into_inner())
	}

	/// Whether a token with this id, or this subject, is revoked.
	pub fn is_revoked(&self, token_id: Option<&str>, subject: Option<&str>) -> bool {
		let lists = self.read();
		let listed = |entry: &Revoked| lists.file.contains(entry) || lists.added.contains(entry);
		token_id.is_some_and(|id| listed(&Revoked::TokenId(id.to_string())))
			|| subject.is_some_and(|sub| listed(&Revoked::Subject(sub.to_string())))
	}

	/// Adds entries (the operator endpoint): in effect at once (live sessions re-check), then
	/// appended to the file, when there is one, so that they outlive a restart. Returns whether
	/// they are in the file. An error leaves them in effect until the relay restarts and the file
	/// as it was (a line cut short by a full disk is taken back).
	pub fn revoke(&self, entries: &[Revoked]) -> Result<bool, RevocationError> {
		let (new, lines) = {
			let mut lists = self.write();
			let new = entries
				.iter()
				.fold(false, |new, entry| lists.added.insert(entry.clone()) | new);
			let lines: String = entries
				.iter()
				.filter(|entry| !lists.file.contains(entry))
				.map(Revoked::line)
				.collect();
			(new, lines)
		};
		if new {
			self.changed();
		}
		let Some(path) = &self.file else {
			return Ok(false);
		};
		append(path, &lines).map_err(|err| RevocationError::Unwritable {
			path: path.display().to_string(),
			reason: err.to_string(),
		})?;
		Ok(true)
	}

	/// Re-reads the file if its size or modification time changed; returns whether the list did.
	/// An unreadable or invalid file keeps the last good list and is returned as the error.
	pub fn reload(&self) -> Result<bool, RevocationError> {
		let Some(path) = &self.file else {
			return Ok(false);
		};
		let stamp = stamp(path);
		if stamp.is_some() && stamp == self.read().stamp {
			return Ok(false);
		}
		let (entries, stamp) = read(path)?;
		let mut lists = self.write();
		lists.stamp = Some(stamp);
		if lists.file == entries {
			return Ok(false);
		}
		lists.file = entries;
		drop(lists);
		self.changed();
		Ok(true)
	}

	/// Tells every live session to re-check its grant (the denylist or a key source changed).
	pub fn changed(&self) {
		self.generation.send_modify(|g| *g = g.wrapping_add(1));
	}

	/// A receiver that sees every [`Revocations::changed`].
	pub fn changes(&self) -> watch::Receiver<u64> {
		self.generation.subscribe()
	}
}

/// Appends `lines` to the file at `path` (after a line break, if its last line has none), all or
/// nothing: a failed write is truncated back to the old length.
fn append(path: &Path, lines: &str) -> std::io::Result<()> {
	if lines.is_empty() {
		return Ok(());
	}
	let mut file = std::fs::OpenOptions::new().read(true).append(true).open(path)?;
	let len = file.metadata()?.len();
	let mut text = String::with_capacity(lines.len() + 1);
	if len > 0 {
		let mut last = [0u8];
		file.seek(SeekFrom::Start(len - 1))?;
		file.read_exact(&mut last)?;
		if last[0] != b'\n' {
			text.push('\n');
		}
	}
	text.push_str(lines);
	let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
	if written.is_err() {
		let _ = file.set_len(len);
	}
	written
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
	let meta = std::fs::metadata(path).ok()?;
	Some((meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len()))
}

fn read(path: &Path) -> Result<(HashSet<Revoked>, (SystemTime, u64)), RevocationError> {
	let io = |err: std::io::Error| RevocationError::Io {
		path: path.display().to_string(),
		reason: err.to_string(),
	};
	let meta = std::fs::metadata(path).map_err(io)?;
	let text = std::fs::read_to_string(path).map_err(io)?;
	let entries = parse(&text).map_err(|line| RevocationError::Syntax {
		path: path.display().to_string(),
		line,
	})?;
	Ok((entries, (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len())))
}

/// The entries of a denylist text, or the number of the first bad line.
fn parse(text: &str) -> Result<HashSet<Revoked>, usize> {
	let mut entries = HashSet::new();
	for (index, line) in text.lines().enumerate() {
		let line = line.trim();
		if line.is_empty() || line.starts_with('#') {
			continue;
		}
		let (kind, value) = line.split_once(char::is_whitespace).ok_or(index + 1)?;
		let value = value.trim();
		if value.is_empty() {
			return Err(index + 1);
		}
		entries.insert(match kind {
			"jti" => Revoked::TokenId(value.to_string()),
			"sub" => Revoked::Subject(value.to_string()),
			_ => return Err(index + 1),
		});
	}
	Ok(entries)
}

#[cfg(test)]
mod tests {
	use super::*;

	/// `revoked.txt` in a fresh directory, removed when the returned guard drops.
	fn temp() -> (tempfile::TempDir, PathBuf) {
		let dir = tempfile::Builder::new()
			.prefix("moq-relay-revocation-")
			.tempdir()
			.unwrap();
		let path = dir.path().join("revoked.txt");
		(dir, path)
	}

	#[test]
	fn the_file_format_and_its_errors() {
		let parsed = parse("# revoked\n\njti abc\nsub  kid:root \n").unwrap();
		assert!(parsed.contains(&Revoked::TokenId("abc".into())));
		assert!(parsed.contains(&Revoked::Subject("kid:root".into())));
		assert_eq!(parse("jti abc\nkid x\n"), Err(2));
		assert_eq!(parse("jti\n"), Err(1));
		let (_dir, path) = temp();
		std::fs::write(&path, "jti a\nnonsense\n").unwrap();
		let err = Revocations::new(Some(path.clone())).unwrap_err();
		assert_eq!(err.code(), "revocation_list_invalid");
		assert!(
			err.to_string()
				.ends_with("revoked.txt:2: expected `jti <token id>` or `sub <subject>`"),
			"{err}"
		);
		let missing = Revocations::new(Some(path.with_file_name("missing.txt"))).unwrap_err();
		assert_eq!(missing.code(), "revocation_list_unreadable");
	}

	#[test]
	fn the_file_is_reloaded_and_a_bad_edit_keeps_the_last_good_list() {
		let (_dir, path) = temp();
		std::fs::write(&path, "jti one\n").unwrap();
		let revocations = Revocations::new(Some(path.clone())).unwrap();
		let mut changes = revocations.changes();
		assert!(revocations.is_revoked(Some("one"), None));
		assert!(!revocations.is_revoked(Some("two"), Some("alice")));
		assert!(!revocations.reload().unwrap(), "unchanged");

		std::fs::write(&path, "jti one\njti two\nsub alice\n").unwrap();
		assert!(revocations.reload().unwrap());
		assert!(changes.has_changed().unwrap());
		changes.mark_unchanged();
		assert!(revocations.is_revoked(Some("two"), None));
		assert!(revocations.is_revoked(None, Some("alice")));

		std::fs::write(&path, "jti one\nhalf-writ").unwrap();
		assert!(revocations.reload().is_err());
		assert!(revocations.is_revoked(Some("two"), None), "the last good list stays");
		assert!(!changes.has_changed().unwrap());
	}

	#[test]
	fn the_operator_adds_entries_that_survive_a_reload() {
		let (_dir, path) = temp();
		std::fs::write(&path, "").unwrap();
		let revocations = Revocations::new(Some(path.clone())).unwrap();
		let mut changes = revocations.changes();
		assert!(revocations.revoke(&[Revoked::TokenId("x".into())]).unwrap());
		assert!(changes.has_changed().unwrap());
		changes.mark_unchanged();
		revocations.revoke(&[Revoked::TokenId("x".into())]).unwrap();
		assert!(!changes.has_changed().unwrap(), "adding it again changes nothing");
		std::fs::write(&path, "sub bob\n").unwrap();
		revocations.reload().unwrap();
		assert!(revocations.is_revoked(Some("x"), None));
		assert!(revocations.is_revoked(None, Some("bob")));
		let memory = Revocations::new(None).unwrap();
		assert!(!memory.is_revoked(Some("x"), Some("bob")));
		assert!(
			!memory.revoke(&[Revoked::Subject("carol".into())]).unwrap(),
			"no file: memory only"
		);
		assert!(memory.is_revoked(None, Some("carol")));
	}

	#[test]
	fn the_operators_entries_are_written_to_the_file_and_outlive_a_restart() {
		let (_dir, path) = temp();
		// An operator's last line without its line break.
		std::fs::write(&path, "# by hand\njti one").unwrap();
		let revocations = Revocations::new(Some(path.clone())).unwrap();
		let entries = [Revoked::TokenId("two words".into()), Revoked::Subject("kid:old".into())];
		assert!(revocations.revoke(&entries).unwrap());
		// Already in the file: not written twice.
		assert!(revocations.revoke(&[Revoked::TokenId("one".into())]).unwrap());
		assert_eq!(
			std::fs::read_to_string(&path).unwrap(),
			"# by hand\njti one\njti two words\nsub kid:old\n"
		);
		let restarted = Revocations::new(Some(path.clone())).unwrap();
		assert!(restarted.is_revoked(Some("two words"), None));
		assert!(restarted.is_revoked(None, Some("kid:old")));

		// Values a line cannot hold are not storable (the endpoint refuses them).
		for value in ["", " padded", "two\nlines", "cr\r"] {
			assert!(!Revoked::TokenId(value.into()).storable(), "{value:?}");
		}
		assert!(Revoked::Subject("kid:a b".into()).storable());

		// A file that cannot be written: in effect anyway, and the error says until when.
		std::fs::remove_file(&path).unwrap();
		std::fs::create_dir(&path).unwrap();
		let err = revocations.revoke(&[Revoked::TokenId("three".into())]).unwrap_err();
		assert_eq!(err.code(), "revocation_list_unwritable");
		assert!(err.to_string().contains("until the relay restarts"), "{err}");
		assert!(revocations.is_revoked(Some("three"), None));
		std::fs::remove_dir(&path).unwrap();
	}
}
