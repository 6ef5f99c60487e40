//! The `moq-token` command line: generate keys, sign and verify MoQ tokens, export public keys
//! and build key sets (docs/tokens.md#the-moq-token-cli).
//!
//! [`Cli`] is the clap grammar and [`run`] executes it against any stdin/stdout/stderr, so the
//! whole tool is testable without a process. The binary (`main.rs`) only parses arguments, calls
//! [`run`] and reports an error in one place with [`error_line`].
//!
//! Both this project's spellings and the upstream `moq-token-cli` ones are accepted:
//! `--key` before or after the subcommand, `generate --out/--out-dir/--public/--public-dir`,
//! `sign --issued`, `verify --in`.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use moq_token::{
	Algorithm, Claims, ClaimsFormat, Key, KeyFormat, KeyId, KeySet, Path, Pattern, Patterns, Scope, Validation,
	unix_now,
};
use serde::Serialize;
use std::{
	fs,
	io::{self, Read, Write},
	path::{Path as FsPath, PathBuf},
};

/// The largest accepted unix timestamp. Upstream reads time claims as `i64`, so nothing larger
/// would verify there.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Generate keys, sign and verify MoQ tokens.
///
/// Keys are JWK files (base64url of the JSON by default, plain JSON accepted). `--key -` reads
/// the key from stdin.
#[derive(Debug, Parser)]
#[command(name = "moq-token", version, about, long_about = None)]
pub struct Cli {
	/// The key file: written by `generate`, read by `sign`, `verify` and `public`.
	/// `-` is stdin (or stdout for `generate`). Accepted before or after the subcommand.
	#[arg(long, global = true, value_name = "FILE")]
	pub key: Option<PathBuf>,

	/// What to do.
	#[command(subcommand)]
	pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
	/// Generate a new key and write it to --key (or --out), or to stdout.
	///
	/// The key id is --id, or else the RFC 7638 thumbprint of the public key. An existing key
	/// file is never overwritten without --force: a lost key is an outage.
	Generate(Generate),
	/// Sign a token with the --key and print it.
	Sign(Sign),
	/// Verify a token (stdin or --in) with the --key and print its claims as JSON.
	Verify(Verify),
	/// Print the public half of the --key (asymmetric keys only).
	Public(Public),
	/// Build a key set (JWKS, `{"keys": [...]}`) from key files.
	Jwks(Jwks),
}

/// `generate` options.
#[derive(Debug, clap::Args)]
pub struct Generate {
	/// The signing algorithm.
	#[arg(long, short = 'a', default_value = "HS256", value_parser = parse_algorithm)]
	pub algorithm: Algorithm,

	/// The key id (1..=128 of A-Z a-z 0-9 _ -). Default: the key's RFC 7638 thumbprint.
	#[arg(long, alias = "kid", value_name = "KID")]
	pub id: Option<String>,

	/// Write the key to this file instead of --key (upstream spelling). `-` is stdout.
	#[arg(long, value_name = "FILE", conflicts_with = "out_dir")]
	pub out: Option<PathBuf>,

	/// Write the key to `DIR/{kid}.jwk`.
	#[arg(long, value_name = "DIR")]
	pub out_dir: Option<PathBuf>,

	/// Also write the public half to this file (asymmetric algorithms only). `-` is stdout.
	#[arg(long, value_name = "FILE", conflicts_with = "public_dir")]
	pub public: Option<PathBuf>,

	/// Also write the public half to `DIR/{kid}.jwk` (asymmetric algorithms only).
	#[arg(long, value_name = "DIR")]
	pub public_dir: Option<PathBuf>,

	/// Write readable JSON instead of base64url.
	#[arg(long)]
	pub json: bool,

	/// Overwrite existing key files (the old key is lost, and every token it signed with it).
	#[arg(long)]
	pub force: bool,

	/// Scope root: with --publish/--subscribe, a ceiling on what tokens of this key may grant.
	#[arg(long, value_name = "PATH", default_value = "")]
	pub root: String,

	/// Scope: a publish prefix tokens of this key may grant (repeatable).
	#[arg(long, value_name = "PREFIX")]
	pub publish: Vec<String>,

	/// Scope: a subscribe prefix tokens of this key may grant (repeatable).
	#[arg(long, value_name = "PREFIX")]
	pub subscribe: Vec<String>,
}

/// `sign` options.
#[derive(Debug, clap::Args)]
pub struct Sign {
	/// The root path of the token; the connection URL must be it or below it.
	#[arg(long, value_name = "PATH", default_value = "")]
	pub root: String,

	/// What the bearer may publish, relative to --root (repeatable): a pattern (`alice/**`,
	/// `*/screen`, `room/cam`... any value with a `*`) or a prefix (`alice` is `alice/**`, `""` is
	/// everything).
	#[arg(long, value_name = "PATTERN")]
	pub publish: Vec<String>,

	/// What the bearer may subscribe to, relative to --root (repeatable): a pattern or a prefix.
	#[arg(long, value_name = "PATTERN")]
	pub subscribe: Vec<String>,

	/// Expiry as unix seconds. A time in the past signs with a warning.
	#[arg(long, value_name = "UNIX", value_parser = parse_timestamp, allow_hyphen_values = true)]
	pub expires: Option<u64>,

	/// Expiry relative to now: `90` or `30s`, `10m`, `1h`, `7d`, `2w`.
	#[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "expires", allow_hyphen_values = true)]
	pub expires_in: Option<u64>,

	/// Issued-at as unix seconds (default: now).
	#[arg(long, value_name = "UNIX", value_parser = parse_timestamp, allow_hyphen_values = true)]
	pub issued: Option<u64>,

	/// Not-before as unix seconds: the token is refused until then.
	#[arg(long, value_name = "UNIX", value_parser = parse_timestamp, allow_hyphen_values = true)]
	pub not_before: Option<u64>,

	/// The bearer is a relay of this cluster.
	#[arg(long)]
	pub cluster: bool,

	/// The token id (`jti`), for revocation and single-use tokens.
	#[arg(long, value_name = "ID")]
	pub jti: Option<String>,

	/// How the grants are written: `auto` as upstream's moq-auth writes them (`put`/`get` when
	/// every grant is a subtree, else `publish`/`subscribe` patterns), `pub-sub` strings, or
	/// `put-get` arrays (the last two carry subtrees only).
	#[arg(long, value_enum, default_value_t = Format::Auto)]
	pub claims_format: Format,
}

/// The claims format of `sign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
	/// Upstream's rule: `put`/`get` when every grant is a subtree, else `publish`/`subscribe`.
	Auto,
	/// `pub`/`sub` as comma-joined strings (this project's format).
	PubSub,
	/// `put`/`get` arrays (upstream moq-token >= 0.5).
	PutGet,
}

impl From<Format> for ClaimsFormat {
	fn from(f: Format) -> Self {
		match f {
			Format::Auto => ClaimsFormat::Auto,
			Format::PubSub => ClaimsFormat::PubSub,
			Format::PutGet => ClaimsFormat::PutGet,
		}
	}
}

/// `verify` options.
#[derive(Debug, clap::Args)]
pub struct Verify {
	/// Read the token from this file instead of stdin. `-` is stdin.
	#[arg(long = "in", value_name = "FILE")]
	pub input: Option<PathBuf>,

	/// Also authorize a connection at this URL path and print what it may publish and subscribe.
	#[arg(long, alias = "connect", value_name = "PATH")]
	pub root: Option<String>,

	/// Verify as of this time (unix seconds) instead of now.
	#[arg(long, value_name = "UNIX", value_parser = parse_timestamp, allow_hyphen_values = true)]
	pub now: Option<u64>,

	/// Seconds of clock skew tolerated on exp and nbf.
	#[arg(long, value_name = "SECONDS", default_value_t = 0)]
	pub leeway: u64,
}

/// `public` options.
#[derive(Debug, clap::Args)]
pub struct Public {
	/// Print readable JSON instead of base64url.
	#[arg(long)]
	pub json: bool,
}

/// `jwks` options.
///
/// By default only public keys are accepted. `--public` replaces private asymmetric keys by
/// their public halves; `--allow-private` keeps private keys (HMAC included) as they are, for a
/// private key set that is never published.
#[derive(Debug, clap::Args)]
pub struct Jwks {
	/// Key files (single JWKs or key sets).
	#[arg(required = true, value_name = "FILE")]
	pub files: Vec<PathBuf>,

	/// Use the public half of private asymmetric keys.
	#[arg(long)]
	pub public: bool,

	/// Keep private keys (including HMAC secrets) in the set.
	#[arg(long)]
	pub allow_private: bool,

	/// Write the set to this file (mode 0600 if it holds private keys) instead of stdout.
	#[arg(long, value_name = "FILE")]
	pub out: Option<PathBuf>,
}

/// Run a parsed command line. The key or token is read from `stdin` only when asked for (`-`).
pub fn run(cli: Cli, stdin: &mut dyn Read, stdout: &mut dyn Write, stderr: &mut dyn Write) -> anyhow::Result<()> {
	let mut io = Io { stdin, stdout, stderr };
	match cli.command {
		Command::Generate(args) => generate(cli.key, args, &mut io)?,
		Command::Sign(args) => sign(cli.key, args, &mut io)?,
		Command::Verify(args) => verify(cli.key, args, &mut io)?,
		Command::Public(args) => public(cli.key, args, &mut io)?,
		Command::Jwks(args) => jwks(cli.key, args, &mut io)?,
	}
	io.stdout.flush()?;
	Ok(())
}

/// The one-line message for an error: `<code>: ` when a token or key error is in the chain,
/// then every cause, joined by `: `.
pub fn error_line(err: &anyhow::Error) -> String {
	let code = err
		.chain()
		.find_map(|e| e.downcast_ref::<moq_token::Error>())
		.map(|e| e.code().as_str());
	// `Error::Key` displays as "key error: <KeyError>": print the KeyError alone, the code
	// in front already says it is a key error.
	let causes = err.chain().map(|e| match e.downcast_ref::<moq_token::Error>() {
		Some(moq_token::Error::Key(key)) => key.to_string(),
		_ => e.to_string(),
	});
	let mut line = code.map(|c| format!("{c}: ")).unwrap_or_default();
	line.push_str(&causes.collect::<Vec<_>>().join(": "));
	line.replace(['\n', '\r'], " ")
}

/// Whether the error is a closed stdout (`moq-token ... | head`), which is not worth reporting.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
	err.chain()
		.filter_map(|e| e.downcast_ref::<io::Error>())
		.any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

struct Io<'a> {
	stdin: &'a mut dyn Read,
	stdout: &'a mut dyn Write,
	stderr: &'a mut dyn Write,
}

impl Io<'_> {
	fn read_stdin(&mut self, what: &str) -> anyhow::Result<String> {
		let mut text = String::new();
		self.stdin
			.read_to_string(&mut text)
			.with_context(|| format!("cannot read the {what} from stdin"))?;
		Ok(text)
	}
}

fn is_dash(path: &FsPath) -> bool {
	path == FsPath::new("-")
}

/// A key file holds one key or a key set.
enum Keys {
	One(Key),
	Set(KeySet),
}

impl Keys {
	fn sign(&self, claims: &Claims, format: ClaimsFormat) -> moq_token::Result<String> {
		match self {
			Keys::One(key) => key.sign_with(claims, format),
			Keys::Set(set) => set.sign_with(claims, format),
		}
	}

	fn verify(&self, token: &str, validation: &Validation) -> moq_token::Result<Claims> {
		match self {
			Keys::One(key) => key.verify_with(token, validation),
			Keys::Set(set) => set.verify_with(token, validation),
		}
	}
}

fn need_key(key: Option<PathBuf>, command: &str) -> anyhow::Result<PathBuf> {
	key.with_context(|| {
		format!("{command} needs a key: pass --key FILE (create one with `moq-token --key FILE generate`)")
	})
}

fn read_text(path: &FsPath, what: &str, io: &mut Io) -> anyhow::Result<String> {
	if is_dash(path) {
		return io.read_stdin(what);
	}
	fs::read_to_string(path).map_err(|e| {
		let hint = match e.kind() {
			io::ErrorKind::NotFound if what == "key" => {
				" (create a key with `moq-token --key FILE generate`)".to_string()
			}
			_ => String::new(),
		};
		anyhow::Error::new(e).context(format!("cannot read the {what} file {}{hint}", path.display()))
	})
}

fn source(path: &FsPath) -> String {
	if is_dash(path) {
		"stdin".to_string()
	} else {
		path.display().to_string()
	}
}

/// Read a key file: a JWK, or else a key set (JWKS). The error is the JWK's unless the file
/// is a key set.
fn load_keys(path: &FsPath, io: &mut Io) -> anyhow::Result<Keys> {
	let text = read_text(path, "key", io)?;
	match Key::parse(&text) {
		Ok(key) => Ok(Keys::One(key)),
		Err(key_err) => match KeySet::parse(&text) {
			Ok(set) => Ok(Keys::Set(set)),
			Err(set_err) if looks_like_key_set(&text) => {
				Err(anyhow::Error::new(set_err).context(format!("key set {}", source(path))))
			}
			Err(_) => Err(anyhow::Error::new(key_err).context(format!("key {}", source(path)))),
		},
	}
}

fn looks_like_key_set(text: &str) -> bool {
	let text = text.trim();
	text.starts_with('{') && text.contains("\"keys\"")
}

fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
	s.parse().map_err(|e: moq_token::Error| e.to_string())
}

/// Unix seconds: a non-negative integer no larger than `i64::MAX`.
pub fn parse_timestamp(s: &str) -> Result<u64, String> {
	let s = s.trim();
	if s.starts_with('-') {
		return Err(format!("{s:?} is negative: expected unix seconds (0 or more)"));
	}
	if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
		return Err(format!("{s:?} is not a number of unix seconds (e.g. 1703980800)"));
	}
	match s.parse::<u64>() {
		Ok(n) if n <= MAX_TIMESTAMP => Ok(n),
		_ => Err(format!("{s} is out of range: at most {MAX_TIMESTAMP}")),
	}
}

/// A duration in seconds: `90`, `30s`, `10m`, `1h`, `7d`, `2w`.
pub fn parse_duration(s: &str) -> Result<u64, String> {
	let s = s.trim();
	let bad = || format!("{s:?} is not a duration: expected a number with an optional unit s, m, h, d or w (e.g. 1h)");
	let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
		Some(i) => s.split_at(i),
		None => (s, "s"),
	};
	if digits.is_empty() {
		return Err(bad());
	}
	let scale: u64 = match unit {
		"s" => 1,
		"m" => 60,
		"h" => 3600,
		"d" => 86_400,
		"w" => 7 * 86_400,
		_ => return Err(bad()),
	};
	digits
		.parse::<u64>()
		.ok()
		.and_then(|n| n.checked_mul(scale))
		.filter(|n| *n <= MAX_TIMESTAMP)
		.ok_or_else(|| format!("{s} is out of range"))
}

/// One grant per flag value: a value with a `*` is a pattern (`alice/**`, `*/screen`, exact
/// segments otherwise), any other value a prefix, granted with everything below it (`alice` is
/// `alice/**`, `""` is `**`). A comma would be read back as a list separator in `pub`/`sub`.
fn grants(flag: &str, values: &[String]) -> anyhow::Result<Patterns> {
	values
		.iter()
		.map(|value| {
			if value.contains(',') {
				bail!("--{flag} {value:?}: a grant cannot contain ','; repeat --{flag} for several");
			}
			if value.contains('*') {
				return value
					.parse::<Pattern>()
					.with_context(|| format!("--{flag} {value:?} is not a pattern"));
			}
			let prefix = Path::new(value).with_context(|| format!("--{flag}"))?;
			Pattern::subtree(&prefix).with_context(|| format!("--{flag}"))
		})
		.collect()
}

/// Where a generated key goes.
enum Dest {
	Stdout,
	File(PathBuf),
}

impl Dest {
	fn choose(file: Option<PathBuf>, dir: Option<PathBuf>, kid: &str) -> Option<Dest> {
		match (file, dir) {
			(_, Some(dir)) => Some(Dest::File(dir.join(format!("{kid}.jwk")))),
			(Some(path), None) if is_dash(&path) => Some(Dest::Stdout),
			(Some(path), None) => Some(Dest::File(path)),
			(None, None) => None,
		}
	}
}

fn generate(key_flag: Option<PathBuf>, args: Generate, io: &mut Io) -> anyhow::Result<()> {
	let out = match (key_flag, args.out) {
		(Some(key), Some(out)) if key != out => {
			bail!(
				"--key {} and --out {} name different files: pass one of them",
				key.display(),
				out.display()
			)
		}
		(key, out) => out.or(key),
	};
	let kid = args.id.as_deref().map(KeyId::new).transpose().context("--id")?;
	let mut key = Key::generate(args.algorithm, kid)?;

	if !args.publish.is_empty() || !args.subscribe.is_empty() {
		let scope = Scope {
			root: Path::new(&args.root).context("--root")?,
			publish: grants("publish", &args.publish)?,
			subscribe: grants("subscribe", &args.subscribe)?,
		};
		key = key.with_scope(Some(scope))?;
	} else if !args.root.is_empty() {
		writeln!(
			io.stderr,
			"warning: --root {:?} is ignored: a key scope needs --publish and/or --subscribe",
			args.root
		)?;
	}

	let kid = key.kid().map(|k| k.as_str().to_string()).unwrap_or_default();
	let private = Dest::choose(out, args.out_dir, &kid).unwrap_or(Dest::Stdout);
	let public = match Dest::choose(args.public, args.public_dir, &kid) {
		Some(dest) => Some((dest, key.to_public().context("--public")?)),
		None => None,
	};
	if matches!(private, Dest::Stdout) && matches!(public, Some((Dest::Stdout, _))) {
		bail!("cannot write both keys to stdout: give --key/--out or --public a file path");
	}

	// Refuse before writing anything, so a refused run leaves no half-written pair.
	let format = if args.json {
		KeyFormat::Json
	} else {
		KeyFormat::Base64Url
	};
	let mut files = Vec::new();
	if let Dest::File(path) = &private {
		files.push((path.clone(), key.clone()));
	}
	if let Some((Dest::File(path), public)) = &public {
		files.push((path.clone(), public.clone()));
	}
	if files.len() == 2 && files[0].0 == files[1].0 {
		bail!(
			"the key and its public half would be written to the same file {}",
			files[0].0.display()
		);
	}
	if !args.force {
		for (path, _) in &files {
			if path.exists() {
				bail!(
					"{} already exists: refusing to overwrite a key (every token it signed would stop verifying); \
					 use --force to replace it, or pick another path",
					path.display()
				);
			}
		}
	}
	for (path, key) in &files {
		write_key_file(path, key, format, args.force)?;
	}
	let print = |key: &Key| match format {
		KeyFormat::Json => key.to_json_pretty(),
		_ => key.to_base64url(),
	};
	if let Dest::Stdout = private {
		writeln!(io.stdout, "{}", print(&key))?;
	}
	if let Some((Dest::Stdout, public)) = &public {
		writeln!(io.stdout, "{}", print(public))?;
	}
	Ok(())
}

/// Write a key file, creating parent directories. Without `force` the file is created
/// exclusively (mode 0600 for private keys), so a file that appeared meanwhile is not clobbered.
fn write_key_file(path: &FsPath, key: &Key, format: KeyFormat, force: bool) -> anyhow::Result<()> {
	if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
		fs::create_dir_all(parent).with_context(|| format!("cannot create the directory {}", parent.display()))?;
	}
	if !force {
		let mut options = fs::OpenOptions::new();
		options.write(true).create_new(true);
		#[cfg(unix)]
		if key.is_private() {
			use std::os::unix::fs::OpenOptionsExt;
			options.mode(0o600);
		}
		options.open(path).map_err(|e| {
			let hint = if e.kind() == io::ErrorKind::AlreadyExists {
				": use --force to replace it, or pick another path"
			} else {
				""
			};
			anyhow::Error::new(e).context(format!("cannot create {}{hint}", path.display()))
		})?;
	}
	let written = key.to_file(path, format);
	if written.is_err() && !force {
		// The empty file that reserved the name goes too: a retry must not need --force.
		let _ = fs::remove_file(path);
	}
	Ok(written?)
}

fn sign(key_flag: Option<PathBuf>, args: Sign, io: &mut Io) -> anyhow::Result<()> {
	let keys = load_keys(&need_key(key_flag, "sign")?, io)?;
	let now = unix_now();

	let mut claims = Claims::new(Path::new(&args.root).context("--root")?);
	claims.publish = grants("publish", &args.publish)?;
	claims.subscribe = grants("subscribe", &args.subscribe)?;
	claims.cluster = args.cluster;
	claims.expires = match (args.expires, args.expires_in) {
		(Some(exp), _) => Some(exp),
		(None, Some(secs)) => Some(
			now.checked_add(secs)
				.filter(|exp| *exp <= MAX_TIMESTAMP)
				.context("--expires-in is too far in the future")?,
		),
		(None, None) => None,
	};
	claims.issued = Some(args.issued.unwrap_or(now));
	claims.not_before = args.not_before;
	claims.id = args.jti;

	let token = keys.sign(&claims, args.claims_format.into())?;
	if let Some(exp) = claims.expires
		&& exp <= now
	{
		writeln!(
			io.stderr,
			"warning: this token already expired at {exp} (now {now}): verifying it fails with `expired`"
		)?;
	}
	writeln!(io.stdout, "{token}")?;
	Ok(())
}

/// The claims as `verify` prints them.
#[derive(Serialize)]
struct ClaimsOut<'a> {
	root: &'a Path,
	#[serde(rename = "pub")]
	publish: &'a Patterns,
	#[serde(rename = "sub")]
	subscribe: &'a Patterns,
	cluster: bool,
	exp: Option<u64>,
	iat: Option<u64>,
	nbf: Option<u64>,
	jti: Option<&'a str>,
	#[serde(skip_serializing_if = "Option::is_none")]
	connect: Option<ConnectOut>,
}

#[derive(Serialize)]
struct ConnectOut {
	path: Path,
	publish: Patterns,
	subscribe: Patterns,
}

fn verify(key_flag: Option<PathBuf>, args: Verify, io: &mut Io) -> anyhow::Result<()> {
	let key_path = need_key(key_flag, "verify")?;
	let input = args.input.unwrap_or_else(|| PathBuf::from("-"));
	if is_dash(&key_path) && is_dash(&input) {
		bail!("--key - reads the key from stdin, so the token cannot come from stdin too: pass it with --in FILE");
	}
	// Parse the connection path first: a bad --root is a usage error, not a token verdict.
	let connect = args.root.as_deref().map(Path::new).transpose().context("--root")?;
	let keys = load_keys(&key_path, io)?;
	let token = read_text(&input, "token", io)?;
	let validation = Validation {
		now: args.now,
		leeway: args.leeway,
	};
	let claims = keys.verify(token.trim(), &validation)?;
	let connect = match connect {
		Some(path) => {
			let permissions = claims.authorize(&path)?;
			Some(ConnectOut {
				path,
				publish: permissions.publish,
				subscribe: permissions.subscribe,
			})
		}
		None => None,
	};
	let out = ClaimsOut {
		root: &claims.root,
		publish: &claims.publish,
		subscribe: &claims.subscribe,
		cluster: claims.cluster,
		exp: claims.expires,
		iat: claims.issued,
		nbf: claims.not_before,
		jti: claims.id.as_deref(),
		connect,
	};
	writeln!(io.stdout, "{}", serde_json::to_string_pretty(&out)?)?;
	Ok(())
}

fn public(key_flag: Option<PathBuf>, args: Public, io: &mut Io) -> anyhow::Result<()> {
	let key_path = need_key(key_flag, "public")?;
	match load_keys(&key_path, io)? {
		Keys::One(key) => {
			let public = key.to_public()?;
			let text = if args.json {
				public.to_json_pretty()
			} else {
				public.to_base64url()
			};
			writeln!(io.stdout, "{text}")?;
		}
		Keys::Set(set) => {
			let public = set.to_public()?;
			writeln!(io.stdout, "{}", pretty_set(&public)?)?;
		}
	}
	Ok(())
}

fn pretty_set(set: &KeySet) -> anyhow::Result<String> {
	let value: serde_json::Value = serde_json::from_str(&set.to_json())?;
	Ok(serde_json::to_string_pretty(&value)?)
}

fn jwks(key_flag: Option<PathBuf>, args: Jwks, io: &mut Io) -> anyhow::Result<()> {
	if let Some(key) = key_flag {
		bail!(
			"jwks takes key files as arguments, not --key: `moq-token jwks {} ...`",
			key.display()
		);
	}
	if args.files.iter().filter(|f| is_dash(f)).count() > 1 {
		bail!("only one key file can come from stdin (-)");
	}
	let mut keys = Vec::new();
	for file in &args.files {
		let found = match load_keys(file, io)? {
			Keys::One(key) => vec![key],
			Keys::Set(set) => set.keys().to_vec(),
		};
		for key in found {
			keys.push(admit(key, file, &args)?);
		}
	}
	let set = KeySet::new(keys)?;
	match &args.out {
		Some(path) if !is_dash(path) => set.to_file(path)?,
		_ => writeln!(io.stdout, "{}", pretty_set(&set)?)?,
	}
	Ok(())
}

/// Apply the `jwks` policy to one key: public keys pass, private ones need a flag.
fn admit(key: Key, file: &FsPath, args: &Jwks) -> anyhow::Result<Key> {
	let name = || {
		let kid = key.kid().map(|k| format!(" {k}")).unwrap_or_default();
		format!("{} key{kid} in {}", key.algorithm(), source(file))
	};
	if !key.is_private() || args.allow_private && !args.public {
		return Ok(key);
	}
	if args.public {
		return match key.to_public() {
			Ok(public) => Ok(public),
			Err(_) if args.allow_private => Ok(key),
			Err(_) => bail!(
				"the {} is an HMAC secret with no public half: leave it out, or pass --allow-private \
				 to build a private key set",
				name()
			),
		};
	}
	bail!(
		"the {} holds private material: pass --public to use its public half (or `moq-token --key FILE \
		 public`), or --allow-private to build a private key set",
		name()
	)
}

#[cfg(test)]
mod tests {
	use super::*;
	use clap::CommandFactory;

	#[test]
	fn clap_definition_is_valid() {
		Cli::command().debug_assert();
	}

	fn run_args(args: &[&str], stdin: &str) -> (anyhow::Result<()>, String, String) {
		let cli = Cli::try_parse_from(std::iter::once("moq-token").chain(args.iter().copied())).unwrap();
		let (mut out, mut err) = (Vec::new(), Vec::new());
		let result = run(cli, &mut stdin.as_bytes(), &mut out, &mut err);
		(result, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
	}

	#[test]
	fn timestamps() {
		assert_eq!(parse_timestamp("1703980800"), Ok(1703980800));
		assert_eq!(parse_timestamp("0"), Ok(0));
		assert_eq!(parse_timestamp(&i64::MAX.to_string()), Ok(MAX_TIMESTAMP));
		for bad in [
			"-1",
			"",
			"abc",
			"1.5",
			"1e9",
			"+5",
			&(MAX_TIMESTAMP + 1).to_string(),
			&u64::MAX.to_string(),
		] {
			assert!(parse_timestamp(bad).is_err(), "{bad}");
		}
		assert!(
			parse_timestamp("18446744073709551616")
				.unwrap_err()
				.contains("out of range")
		);
		assert!(parse_timestamp("-5").unwrap_err().contains("negative"));
	}

	#[test]
	fn durations() {
		for (s, secs) in [
			("90", 90),
			("30s", 30),
			("10m", 600),
			("1h", 3600),
			("7d", 604_800),
			("2w", 1_209_600),
		] {
			assert_eq!(parse_duration(s), Ok(secs), "{s}");
		}
		for bad in [
			"",
			"h",
			"1x",
			"-1h",
			"1.5h",
			"1hh",
			"99999999999999999999d",
			&format!("{}w", u64::MAX / 2),
		] {
			assert!(parse_duration(bad).is_err(), "{bad}");
		}
	}

	#[test]
	fn sign_and_verify_in_process_with_the_key_on_stdin() {
		let key = Key::generate(Algorithm::HS256, None).unwrap().to_base64url();
		let (result, token, err) = run_args(
			&[
				"--key",
				"-",
				"sign",
				"--root",
				"room",
				"--publish",
				"a",
				"--publish",
				"b/c",
			],
			&key,
		);
		result.unwrap();
		assert!(err.is_empty());
		let claims = Key::parse(&key).unwrap().verify(token.trim()).unwrap();
		assert_eq!(
			claims.publish,
			Patterns::from(vec![Path::new("a").unwrap(), Path::new("b/c").unwrap()])
		);
		assert!(claims.subscribe.is_empty());
	}

	/// `moq-token sign --publish 'alice/**' --subscribe '*/screen'`: a grant that is not a
	/// subtree is written as upstream's `publish`/`subscribe` patterns; subtrees only as `put`/`get`.
	#[test]
	fn patterns_are_written_as_upstream_writes_them() {
		let key = Key::generate(Algorithm::HS256, None).unwrap().to_base64url();
		let payload = |token: &str| -> serde_json::Value {
			let part = token.trim().split('.').nth(1).unwrap();
			let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part).unwrap();
			serde_json::from_slice(&bytes).unwrap()
		};
		let args = ["--key", "-", "sign", "--publish", "alice/**", "--subscribe", "*/screen"];
		let (result, token, _) = run_args(&args, &key);
		result.unwrap();
		let json = payload(&token);
		assert_eq!(json["publish"], serde_json::json!(["alice/**"]));
		assert_eq!(json["subscribe"], serde_json::json!(["*/screen"]));
		assert!(json.get("put").is_none() && json.get("pub").is_none());
		let claims = Key::parse(&key).unwrap().verify(token.trim()).unwrap();
		let at = claims.authorize(&Path::root()).unwrap();
		assert!(at.can_subscribe(&Path::new("bob/screen").unwrap()));
		assert!(!at.can_subscribe(&Path::new("bob/cam").unwrap()));

		let (result, token, _) = run_args(
			&["--key", "-", "sign", "--publish", "alice/**", "--subscribe", ""],
			&key,
		);
		result.unwrap();
		let json = payload(&token);
		assert_eq!(
			(&json["put"], &json["get"]),
			(&serde_json::json!(["alice"]), &serde_json::json!([""]))
		);

		let (result, _, _) = run_args(&["--key", "-", "sign", "--publish", "a/**/b/**"], &key);
		assert!(error_line(&result.unwrap_err()).contains("not a pattern"));
		let (result, _, _) = run_args(
			&[
				"--key",
				"-",
				"sign",
				"--subscribe",
				"*/screen",
				"--claims-format",
				"pub-sub",
			],
			&key,
		);
		assert!(error_line(&result.unwrap_err()).starts_with("invalid_claim"));
	}

	#[test]
	fn comma_in_a_prefix_is_refused() {
		let key = Key::generate(Algorithm::HS256, None).unwrap().to_base64url();
		let (result, out, _) = run_args(&["sign", "--key", "-", "--publish", "a,b"], &key);
		let line = error_line(&result.unwrap_err());
		assert!(line.contains("repeat --publish"), "{line}");
		assert!(out.is_empty());
	}

	#[test]
	fn error_line_has_the_code_first_and_one_line() {
		let key = Key::generate(Algorithm::HS256, None).unwrap().to_base64url();
		let (result, out, _) = run_args(&["sign", "--key", "-"], &key);
		assert_eq!(
			error_line(&result.unwrap_err()),
			"useless_token: token grants neither publish nor subscribe: set pub and/or sub"
		);
		assert!(out.is_empty());

		let (result, _, _) = run_args(&["public", "--key", "-"], "{\"alg\":\"HS256\"}");
		let line = error_line(&result.unwrap_err());
		assert!(line.starts_with("key_error: key stdin: "), "{line}");
		assert!(!line.contains("key error"), "{line}");

		let key = Key::generate(Algorithm::HS256, None).unwrap().to_base64url();
		let (result, _, _) = run_args(&["public", "--key", "-"], &key);
		assert_eq!(
			error_line(&result.unwrap_err()),
			"key_error: an HMAC (oct) key has no public half; share it only with verifiers you trust"
		);
	}

	#[test]
	fn broken_pipe_is_recognized() {
		let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
		assert!(is_broken_pipe(&err));
		assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
	}
}
