//! Certificates from an ACME CA (RFC 8555), validated with TLS-ALPN-01 (RFC 8737) on the relay's
//! own TCP listener, cached on disk, renewed ahead of expiry (`docs/tls.md`).
//!
//! `instant-acme` speaks the protocol (JWS, nonces and their `badNonce` retries, orders, ACME
//! Renewal Information); this module decides when to order, answers the challenge through the
//! shared [`Resolver`], keeps the account key and the certificates in the cache directory (files
//! readable by the owner only), and turns the CA's problem documents into errors an operator can act on.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use instant_acme::{
	Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, CertificateIdentifier, ChallengeType,
	HttpClient, Identifier, NewAccount, NewOrder, OrderStatus, Problem, RetryPolicy,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

use super::{Certificate, Resolver, TlsError, client, provider, sha256_hex};

/// Let's Encrypt's production directory, the default.
pub const LETS_ENCRYPT: &str = instant_acme::LetsEncrypt::Production.url();
/// Let's Encrypt's staging directory (`--acme-staging`): untrusted certificates, far higher limits.
pub const LETS_ENCRYPT_STAGING: &str = instant_acme::LetsEncrypt::Staging.url();
/// The cache directory when none is configured (as moshi-server's `--acme-cache`).
pub const DEFAULT_CACHE: &str = "letsencrypt";

/// The first retry after a failed order; each failure doubles it up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(10);
/// The longest wait between two orders after failures.
const MAX_RETRY: Duration = Duration::from_secs(3600);
/// The wait after the CA said "rate limited": its windows are hours long.
const RATE_LIMITED_RETRY: Duration = Duration::from_secs(3600);
/// The first retry of cache writes that failed (a full disk, say); each failure doubles it up to
/// [`MAX_SAVE_RETRY`]. What could not be written is served from memory meanwhile.
const FIRST_SAVE_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to write the cache.
const MAX_SAVE_RETRY: Duration = Duration::from_secs(60);
/// How long the CA gets to validate, and then to issue.
const POLL_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a certificate could not be obtained. Each error has a stable [`AcmeError::code`] and says
/// what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
	/// The cache directory cannot be created or written.
	#[error(
		"cannot write the ACME cache directory {dir}: {source}; make it writable by this user (chown/chmod) or choose another with --acme-cache DIR"
	)]
	CacheNotWritable {
		/// The directory.
		dir: String,
		/// Why.
		source: std::io::Error,
	},
	/// The cache directory's file system (or the user's quota on it) is full.
	#[error(
		"cannot write the ACME cache directory {dir}: {source}; free space on its file system (or choose another directory with --acme-cache DIR)"
	)]
	CacheFull {
		/// The directory.
		dir: String,
		/// Why.
		source: std::io::Error,
	},
	/// The CA could not connect to the domain's port 443.
	#[error(
		"the CA could not connect to {domain} on TCP port 443 to validate it ({detail}); the TLS-ALPN-01 challenge always arrives on port 443: forward external TCP port 443 to this relay's TCP port {port} (or bind the relay to port 443) and open it in the firewall"
	)]
	Unreachable {
		/// The name being validated.
		domain: String,
		/// The CA's words.
		detail: String,
		/// The relay's TCP port.
		port: u16,
	},
	/// The CA refused for now: too many orders, failures or certificates.
	#[error(
		"the CA rate-limited this relay ({detail}); the relay retries in an hour; while testing, use --acme-staging, whose limits are far higher"
	)]
	RateLimited {
		/// The CA's words.
		detail: String,
	},
	/// The domain's DNS does not lead the CA to this relay.
	#[error(
		"the CA did not find this relay at {domain} ({detail}); point the DNS A/AAAA records of {domain} at this host's public address (and its port 443 here), then wait for DNS to update"
	)]
	DnsNotHere {
		/// The name being validated.
		domain: String,
		/// The CA's words.
		detail: String,
	},
	/// The CA's directory could not be fetched or a request to it failed.
	#[error(
		"cannot reach the ACME CA at {directory} ({detail}); check the network and the URL (--acme-directory), and for a private CA its root (--acme-ca-root)"
	)]
	CaUnreachable {
		/// The directory URL.
		directory: String,
		/// Why.
		detail: String,
	},
	/// The CA refused the order for another reason.
	#[error("the CA refused the order ({detail})")]
	Refused {
		/// The CA's words.
		detail: String,
	},
	/// The CA offered no TLS-ALPN-01 challenge for a name.
	#[error("the CA offers no tls-alpn-01 challenge for {0}; this relay answers only that challenge")]
	NoTlsAlpn(String),
	/// The issued certificate, or a local certificate operation, failed.
	#[error("the issued certificate is unusable: {0}")]
	Certificate(String),
}

impl AcmeError {
	/// The stable code (logged as `code=…`, and the `reason` of `/ready` while no certificate exists).
	pub fn code(&self) -> &'static str {
		match self {
			Self::CacheNotWritable { .. } => "acme_cache_not_writable",
			Self::CacheFull { .. } => "acme_cache_full",
			Self::Unreachable { .. } => "acme_unreachable",
			Self::RateLimited { .. } => "acme_rate_limited",
			Self::DnsNotHere { .. } => "acme_dns_not_here",
			Self::CaUnreachable { .. } => "acme_ca_unreachable",
			Self::Refused { .. } => "acme_refused",
			Self::NoTlsAlpn(_) => "acme_no_tls_alpn",
			Self::Certificate(_) => "acme_certificate_invalid",
		}
	}

	/// A failed write to the cache directory `dir`, as [`AcmeError::CacheFull`] when the file
	/// system or the quota is full, else [`AcmeError::CacheNotWritable`].
	fn cache(dir: &Path, source: std::io::Error) -> Self {
		let dir = dir.display().to_string();
		match source.kind() {
			std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => Self::CacheFull { dir, source },
			_ => Self::CacheNotWritable { dir, source },
		}
	}

	/// How long to wait before the next order after this error (`failures` in a row, from 1).
	fn retry_after(&self, failures: u32) -> Duration {
		match self {
			Self::RateLimited { .. } => RATE_LIMITED_RETRY,
			_ => FIRST_RETRY
				.saturating_mul(1 << failures.saturating_sub(1).min(16))
				.min(MAX_RETRY),
		}
	}
}

/// The ACME settings in force (`[tls] domain`, `email`, `acme_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeSettings {
	/// The names of the certificate (the first is its subject).
	pub domains: Vec<String>,
	/// The account's contact, for the CA's expiry notices.
	pub email: Option<String>,
	/// The cache directory: the account key and the certificates.
	pub cache: PathBuf,
	/// The CA's directory URL.
	pub directory: String,
	/// A PEM file of CA roots trusted for the directory besides the system's.
	pub ca_root: Option<PathBuf>,
}

impl AcmeSettings {
	/// Checks the names and that the cache directory can be written (created with mode 0700 when
	/// missing), so an unusable cache stops the start-up with its fix.
	pub fn check(&self) -> Result<(), AcmeError> {
		prepare_cache(&self.cache)
	}

	/// `account-<hash of the directory>.json`: one account per CA.
	fn account_path(&self) -> PathBuf {
		let hash = sha256_hex(self.directory.as_bytes());
		self.cache.join(format!("account-{}.json", &hash[..16]))
	}

	/// `<first domain>-<hash>.{cert,key}.pem`: one certificate per CA and set of names.
	fn certificate_paths(&self) -> (PathBuf, PathBuf) {
		let mut names = self.domains.clone();
		names.sort();
		let hash = sha256_hex(format!("{}\n{}", self.directory, names.join("\n")).as_bytes());
		let stem = format!("{}-{}", self.domains[0], &hash[..16]);
		(
			self.cache.join(format!("{stem}.cert.pem")),
			self.cache.join(format!("{stem}.key.pem")),
		)
	}

	/// The cached certificate, if there is one that has not expired.
	pub fn cached(&self) -> Option<(Certificate, Validity)> {
		let (cert, key) = self.certificate_paths();
		if !cert.exists() {
			return None;
		}
		let loaded = Certificate::load(&cert, &key).and_then(|c| {
			let validity = Validity::of(&c.chain()[0])?;
			Ok((c, validity))
		});
		match loaded {
			Ok((certificate, validity)) if validity.not_after > SystemTime::now() => Some((certificate, validity)),
			Ok(_) => {
				tracing::info!(file = %cert.display(), "the cached certificate has expired: ordering a new one");
				None
			}
			Err(err) => {
				tracing::warn!(%err, "the cached certificate is unusable: ordering a new one");
				None
			}
		}
	}
}

/// A certificate's validity period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
	/// notBefore.
	pub not_before: SystemTime,
	/// notAfter.
	pub not_after: SystemTime,
}

impl Validity {
	/// The validity of a DER certificate.
	pub fn of(der: &CertificateDer<'_>) -> Result<Self, TlsError> {
		let (_, cert) = x509_parser::parse_x509_certificate(der)
			.map_err(|err| TlsError::Invalid(format!("cannot read the certificate's validity: {err}")))?;
		let at = |seconds: i64| UNIX_EPOCH + Duration::from_secs(seconds.max(0).unsigned_abs());
		Ok(Self {
			not_before: at(cert.validity().not_before.timestamp()),
			not_after: at(cert.validity().not_after.timestamp()),
		})
	}

	/// When to renew without a window from the CA: two thirds into the validity period (30 days
	/// before the end of a 90-day certificate), as Let's Encrypt advises.
	pub fn renew_at(&self) -> SystemTime {
		let lifetime = self.not_after.duration_since(self.not_before).unwrap_or_default();
		self.not_before + lifetime * 2 / 3
	}
}

/// Creates the cache directory (0700) if needed and proves it writable with a probe file.
fn prepare_cache(dir: &Path) -> Result<(), AcmeError> {
	let fail = |source| AcmeError::cache(dir, source);
	if !dir.is_dir() {
		let mut builder = std::fs::DirBuilder::new();
		builder.recursive(true);
		#[cfg(unix)]
		std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
		builder.create(dir).map_err(fail)?;
	}
	let probe = dir.join(format!(".write-probe-{}", std::process::id()));
	write_private(&probe, b"").map_err(fail)?;
	std::fs::remove_file(&probe).map_err(fail)
}

/// Writes `bytes` to `path` readable and writable by the owner only (0600), through a temporary
/// file renamed into place, so a reader never sees half a key.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
	write_private_all(&[(path.to_path_buf(), bytes.to_vec())])
}

/// Writes each `(path, bytes)` as [`write_private`] does, all of them or none: every temporary file
/// is written before the first is renamed into place (a rename needs no room), so a full disk
/// leaves the files as they were (no new key beside an old certificate) and no temporary file
/// behind.
fn write_private_all(files: &[(PathBuf, Vec<u8>)]) -> std::io::Result<()> {
	let partial = |path: &Path| {
		let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
		path.with_file_name(format!(".{name}.partial"))
	};
	let written = files.iter().try_for_each(|(path, bytes)| {
		let partial = partial(path);
		let mut options = std::fs::OpenOptions::new();
		options.write(true).create(true).truncate(true);
		#[cfg(unix)]
		std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
		let mut file = options.open(&partial)?;
		#[cfg(unix)]
		std::fs::set_permissions(&partial, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
		file.write_all(bytes)?;
		file.sync_all()
	});
	if let Err(err) = written {
		for (path, _) in files {
			let _ = std::fs::remove_file(partial(path));
		}
		return Err(err);
	}
	files
		.iter()
		.try_for_each(|(path, _)| std::fs::rename(partial(path), path))
}

/// The HTTP client of the ACME requests: reqwest over rustls (aws-lc-rs), trusting the system's
/// roots (`SSL_CERT_FILE`/`SSL_CERT_DIR` first) and the `ca_root` file.
struct Http(reqwest::Client);

impl Http {
	fn new(settings: &AcmeSettings) -> Result<Self, AcmeError> {
		let roots = client::roots_with_system(settings.ca_root.as_deref()).map_err(|err| AcmeError::CaUnreachable {
			directory: settings.directory.clone(),
			detail: err.to_string(),
		})?;
		let mut tls = rustls::ClientConfig::builder_with_provider(provider())
			.with_safe_default_protocol_versions()
			.map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
			.map_err(|err| AcmeError::Certificate(err.to_string()))?;
		tls.alpn_protocols = vec![b"http/1.1".to_vec()];
		let client = reqwest::Client::builder()
			.tls_backend_preconfigured(tls)
			.http1_only()
			.connect_timeout(Duration::from_secs(10))
			.timeout(Duration::from_secs(30))
			.build()
			.map_err(|err| AcmeError::CaUnreachable {
				directory: settings.directory.clone(),
				detail: err.to_string(),
			})?;
		Ok(Self(client))
	}
}

impl HttpClient for Http {
	fn request(
		&self,
		req: http::Request<BodyWrapper<Bytes>>,
	) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
		let client = self.0.clone();
		Box::pin(async move {
			let (parts, body) = req.into_parts();
			let Ok(body) = http_body_util::BodyExt::collect(body).await;
			let body = body.to_bytes();
			let response = client
				.request(parts.method, parts.uri.to_string())
				.headers(parts.headers)
				.body(body)
				.send()
				.await
				.map_err(|err| instant_acme::Error::Other(Box::new(err)))?;
			Ok(BytesResponse::from(http::Response::from(response)))
		})
	}
}

/// Removes the challenge certificates when an order ends, however it ends.
struct Challenges<'a> {
	resolver: &'a Resolver,
	names: Vec<String>,
}

impl Drop for Challenges<'_> {
	fn drop(&mut self) {
		for name in &self.names {
			self.resolver.clear_challenge(name);
		}
	}
}

/// The RFC 8737 §3 challenge certificate for `name`: self-signed, the SHA-256 of the key
/// authorization in a critical acmeIdentifier extension.
fn challenge_certificate(name: &str, key_authorization: &[u8]) -> Result<Arc<CertifiedKey>, AcmeError> {
	let local = |err: rcgen::Error| AcmeError::Certificate(err.to_string());
	let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).map_err(local)?;
	params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(key_authorization)];
	let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(local)?;
	let cert = params.self_signed(&key).map_err(local)?;
	let signing = provider()
		.key_provider
		.load_private_key(PrivateKeyDer::Pkcs8(key.serialize_der().into()))
		.map_err(|err| AcmeError::Certificate(err.to_string()))?;
	Ok(Arc::new(CertifiedKey::new(vec![cert.der().clone()], signing)))
}

/// Obtains and renews the certificate of `settings`, installing each in `resolver`, until
/// `shutdown` becomes true. `port` is the relay's TCP port (named in the port-forwarding advice).
pub async fn run(settings: Arc<AcmeSettings>, resolver: Arc<Resolver>, port: u16, mut shutdown: watch::Receiver<bool>) {
	let mut manager = Manager {
		settings,
		resolver,
		port,
		account: None,
		validity: None,
		unsaved: Vec::new(),
		save_failures: 0,
	};
	tokio::select! {
		_ = manager.run() => {}
		_ = shutdown.wait_for(|down| *down) => {}
	}
}

struct Manager {
	settings: Arc<AcmeSettings>,
	resolver: Arc<Resolver>,
	port: u16,
	account: Option<Account>,
	/// The served certificate's validity and ARI identifier.
	validity: Option<(Validity, Option<CertificateIdentifier<'static>>)>,
	/// Cache files not written yet (the account's credentials, a new certificate and its key),
	/// with their content: in use from memory, written again until the cache takes them.
	unsaved: Vec<(PathBuf, Vec<u8>)>,
	/// Failed attempts in a row to write `unsaved`.
	save_failures: u32,
}

impl Manager {
	async fn run(&mut self) {
		if let Some((certificate, validity)) = self.settings.cached() {
			match self.resolver.install(&certificate, Some(validity.not_after)) {
				Ok(()) => {
					tracing::info!(
						domains = ?self.settings.domains,
						fingerprint = certificate.fingerprint(),
						"serving the cached ACME certificate"
					);
					self.validity = Some((validity, identifier(&certificate)));
				}
				Err(err) => tracing::warn!(%err, "the cached certificate is unusable: ordering a new one"),
			}
		}
		if self.validity.is_none() {
			let reason = format!(
				"no certificate yet: ordering one for {} from {}",
				self.settings.domains.join(", "),
				self.settings.directory
			);
			tracing::warn!(
				code = "acme_no_certificate",
				"{reason}; the relay answers the CA's TLS-ALPN-01 challenge on TCP port {}",
				self.port
			);
			self.resolver.set_waiting(reason);
		}
		let mut failures = 0u32;
		loop {
			let due = self.renewal_due().await;
			if let Ok(wait) = due.duration_since(SystemTime::now()) {
				tracing::info!(in_secs = wait.as_secs(), "next certificate renewal scheduled");
				self.wait(wait).await;
			}
			match self.order().await {
				Ok(()) => failures = 0,
				Err(err) => {
					failures += 1;
					let retry = err.retry_after(failures);
					tracing::warn!(code = err.code(), retry_in_secs = retry.as_secs(), "{err}");
					if self.validity.is_none() {
						self.resolver.set_waiting(format!("{}: {err}", err.code()));
					}
					self.wait(retry).await;
				}
			}
		}
	}

	/// Sleeps for `duration`, meanwhile writing what the cache has not taken yet whenever its
	/// retry comes.
	async fn wait(&mut self, duration: Duration) {
		let end = tokio::time::Instant::now() + duration;
		while !self.unsaved.is_empty() {
			let retry = FIRST_SAVE_RETRY
				.saturating_mul(1 << self.save_failures.saturating_sub(1).min(16))
				.min(MAX_SAVE_RETRY);
			let next = tokio::time::Instant::now() + retry;
			if next >= end {
				break;
			}
			tokio::time::sleep_until(next).await;
			self.save();
		}
		tokio::time::sleep_until(end).await;
	}

	/// Keeps `files` (path and content) to be written, replacing what waited for the same paths,
	/// and tries to write all that waits.
	fn keep(&mut self, files: Vec<(PathBuf, Vec<u8>)>) {
		self.unsaved
			.retain(|(waiting, _)| files.iter().all(|(path, _)| path != waiting));
		self.unsaved.extend(files);
		self.save();
	}

	/// Writes what waits for the cache, all or nothing; a failure is logged with its code and
	/// tried again from [`Manager::wait`]. Nothing is lost meanwhile: the relay serves the
	/// certificate and uses the account from memory, and only a restart before the write would
	/// order (or register) again.
	fn save(&mut self) {
		match write_private_all(&self.unsaved) {
			Ok(()) => {
				let files: Vec<String> = self
					.unsaved
					.iter()
					.map(|(path, _)| path.display().to_string())
					.collect();
				tracing::info!(?files, "written to the ACME cache");
				self.unsaved.clear();
				self.save_failures = 0;
			}
			Err(source) => {
				self.save_failures += 1;
				let err = AcmeError::cache(&self.settings.cache, source);
				tracing::warn!(
					code = err.code(),
					"{err}; meanwhile the relay works from memory (its account, its certificate) and tries the cache again within a minute; a restart before then orders a new certificate"
				);
			}
		}
	}

	/// When to order next: now without a certificate, else in the CA's renewal window (ACME
	/// Renewal Information) when it offers one, else two thirds into the validity period.
	async fn renewal_due(&mut self) -> SystemTime {
		let Some((validity, id)) = self.validity.clone() else {
			return SystemTime::now();
		};
		if let (Some(id), Ok(account)) = (id, self.account().await) {
			match account.renewal_info(&id).await {
				Ok((info, _)) => {
					let at = |t: i64| UNIX_EPOCH + Duration::from_secs(t.max(0).unsigned_abs());
					let start = at(info.suggested_window.start.unix_timestamp());
					let end = at(info.suggested_window.end.unix_timestamp()).max(start);
					let spread = end.duration_since(start).unwrap_or_default();
					return start + spread.mul_f64(rand::random::<f64>());
				}
				Err(instant_acme::Error::Unsupported(_)) => {}
				Err(err) => tracing::debug!(%err, "no renewal information from the CA"),
			}
		}
		validity.renew_at()
	}

	/// The account: from the cache, else registered and cached.
	async fn account(&mut self) -> Result<Account, AcmeError> {
		if let Some(account) = &self.account {
			return Ok(account.clone());
		}
		let settings = self.settings.clone();
		let path = settings.account_path();
		let cached = std::fs::read(&path)
			.ok()
			.and_then(|bytes| serde_json::from_slice::<AccountCredentials>(&bytes).ok());
		let http = || Http::new(&settings).map(|http| Account::builder_with_http(Box::new(http)));
		let account = match cached {
			Some(credentials) => {
				let account = http()?
					.from_credentials(credentials)
					.await
					.map_err(|err| self.classify(err, None))?;
				tracing::info!(file = %path.display(), "ACME account loaded from the cache");
				account
			}
			None => {
				let contact = settings.email.iter().map(|e| format!("mailto:{e}")).collect::<Vec<_>>();
				let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
				let new = NewAccount {
					contact: &contact,
					terms_of_service_agreed: true,
					only_return_existing: false,
				};
				let (account, credentials) = http()?
					.create(&new, settings.directory.clone(), None)
					.await
					.map_err(|err| self.classify(err, None))?;
				let json = serde_json::to_vec(&credentials).map_err(|err| AcmeError::Certificate(err.to_string()))?;
				tracing::info!(file = %path.display(), "ACME account registered");
				self.keep(vec![(path, json)]);
				account
			}
		};
		self.account = Some(account.clone());
		Ok(account)
	}

	/// One order: new order, TLS-ALPN-01 for each name, finalize, download, cache, install.
	async fn order(&mut self) -> Result<(), AcmeError> {
		let account = self.account().await?;
		let identifiers: Vec<Identifier> = self.settings.domains.iter().cloned().map(Identifier::Dns).collect();
		tracing::info!(domains = ?self.settings.domains, directory = %self.settings.directory, "ordering a certificate");
		let mut order = account
			.new_order(&NewOrder::new(&identifiers))
			.await
			.map_err(|err| self.classify(err, None))?;
		let mut challenges = Challenges {
			resolver: &self.resolver,
			names: Vec::new(),
		};
		let mut authorizations = order.authorizations();
		while let Some(authorization) = authorizations.next().await {
			let mut authorization = authorization.map_err(|err| self.classify(err, None))?;
			match authorization.status {
				AuthorizationStatus::Valid => continue,
				AuthorizationStatus::Pending => {}
				status => {
					return Err(AcmeError::Refused {
						detail: format!("an authorization is {status:?}"),
					});
				}
			}
			let name = authorization.identifier().to_string();
			let mut challenge = authorization
				.challenge(ChallengeType::TlsAlpn01)
				.ok_or_else(|| AcmeError::NoTlsAlpn(name.clone()))?;
			let certificate = challenge_certificate(&name, challenge.key_authorization().digest().as_ref())?;
			challenges.resolver.set_challenge(&name, certificate);
			challenges.names.push(name.clone());
			challenge
				.set_ready()
				.await
				.map_err(|err| self.classify(err, Some(&name)))?;
		}
		let polled = order.poll_ready(&RetryPolicy::new().timeout(POLL_TIMEOUT)).await;
		match polled {
			Ok(OrderStatus::Ready) => {}
			Ok(_) | Err(instant_acme::Error::Api(_)) => {
				let order_problem = order.state().error.clone();
				return Err(self.failed_validation(&mut order, order_problem).await);
			}
			Err(err) => return Err(self.classify(err, None)),
		}
		drop(challenges);
		let key_pem = order.finalize().await.map_err(|err| self.classify(err, None))?;
		let chain_pem = order
			.poll_certificate(&RetryPolicy::new().timeout(POLL_TIMEOUT))
			.await
			.map_err(|err| self.classify(err, None))?;
		self.store_and_install(&chain_pem, &key_pem)
	}

	/// Why validation failed: the first challenge error the CA reports, else the order's.
	async fn failed_validation(&self, order: &mut instant_acme::Order, order_problem: Option<Problem>) -> AcmeError {
		let mut authorizations = order.authorizations();
		while let Some(Ok(mut authorization)) = authorizations.next().await {
			let Ok(state) = authorization.refresh().await else {
				continue;
			};
			let name = state.identifier().to_string();
			for challenge in &state.challenges {
				if let Some(problem) = &challenge.error {
					return self.problem(problem, Some(&name));
				}
			}
		}
		match order_problem {
			Some(problem) => self.problem(&problem, None),
			None => AcmeError::Refused {
				detail: "the order became invalid without a reason".into(),
			},
		}
	}

	/// Serves the new certificate, then writes it to the cache (0600); a cache that cannot take it
	/// yet does not stop it being served ([`Manager::save`]).
	fn store_and_install(&mut self, chain_pem: &str, key_pem: &str) -> Result<(), AcmeError> {
		let unusable = |err: TlsError| AcmeError::Certificate(err.to_string());
		let certificate = Certificate::from_pem(chain_pem.as_bytes(), key_pem.as_bytes(), "the issued certificate")
			.map_err(unusable)?;
		let validity = Validity::of(&certificate.chain()[0]).map_err(unusable)?;
		self.resolver
			.install(&certificate, Some(validity.not_after))
			.map_err(unusable)?;
		tracing::info!(
			domains = ?self.settings.domains,
			fingerprint = certificate.fingerprint(),
			not_after = %humantime::format_rfc3339_seconds(validity.not_after),
			"new ACME certificate installed"
		);
		self.validity = Some((validity, identifier(&certificate)));
		let (cert_path, key_path) = self.settings.certificate_paths();
		self.keep(vec![
			(key_path, key_pem.as_bytes().to_vec()),
			(cert_path, chain_pem.as_bytes().to_vec()),
		]);
		Ok(())
	}

	/// An `instant-acme` error as an operator error.
	fn classify(&self, err: instant_acme::Error, name: Option<&str>) -> AcmeError {
		match err {
			instant_acme::Error::Api(problem) => self.problem(&problem, name),
			err => AcmeError::CaUnreachable {
				directory: self.settings.directory.clone(),
				detail: error_chain(&err),
			},
		}
	}

	/// A CA's problem document (RFC 8555 §6.7) as an operator error.
	fn problem(&self, problem: &Problem, name: Option<&str>) -> AcmeError {
		let kind = problem
			.r#type
			.as_deref()
			.and_then(|t| t.strip_prefix("urn:ietf:params:acme:error:"))
			.unwrap_or_default();
		let detail = problem.detail.clone().unwrap_or_else(|| kind.to_string());
		let domain = name.map_or_else(|| self.settings.domains.join(", "), str::to_string);
		// A validation's failure: Let's Encrypt types it (`connection`, `dns`); other CAs (pebble)
		// say it only in the detail.
		let said = |phrases: &[&str]| {
			let detail = detail.to_ascii_lowercase();
			name.is_some() && phrases.iter().any(|phrase| detail.contains(phrase))
		};
		let unreachable = said(&[
			"failed to connect",
			"connection refused",
			"timeout during connect",
			"i/o timeout",
			"no route to host",
		]);
		let unresolved = said(&["could not resolve", "nxdomain", "dns problem", "no valid a", "servfail"]);
		match kind {
			"rateLimited" => AcmeError::RateLimited { detail },
			"connection" => AcmeError::Unreachable {
				domain,
				detail,
				port: self.port,
			},
			_ if unreachable => AcmeError::Unreachable {
				domain,
				detail,
				port: self.port,
			},
			"dns" => AcmeError::DnsNotHere { domain, detail },
			_ if unresolved => AcmeError::DnsNotHere { domain, detail },
			// Something answered on port 443, but not with this relay's challenge certificate.
			"unauthorized" | "incorrectResponse" | "tls" if name.is_some() => AcmeError::DnsNotHere { domain, detail },
			_ => AcmeError::Refused {
				detail: format!("{kind}: {detail}"),
			},
		}
	}
}

/// The ARI identifier of a certificate (none when it lacks an authority key identifier).
fn identifier(certificate: &Certificate) -> Option<CertificateIdentifier<'static>> {
	CertificateIdentifier::try_from(&certificate.chain()[0])
		.ok()
		.map(|id| id.into_owned())
}

/// An error and its sources, joined.
fn error_chain(err: &dyn std::error::Error) -> String {
	let mut text = err.to_string();
	let mut source = err.source();
	while let Some(err) = source {
		let next = err.to_string();
		if !text.contains(&next) {
			text.push_str(": ");
			text.push_str(&next);
		}
		source = err.source();
	}
	text
}

#[cfg(test)]
mod tests {
	use super::*;

	fn settings(dir: &Path) -> AcmeSettings {
		AcmeSettings {
			domains: vec!["relay.example".into(), "www.relay.example".into()],
			email: None,
			cache: dir.to_path_buf(),
			directory: LETS_ENCRYPT.into(),
			ca_root: None,
		}
	}

	#[test]
	fn renewal_is_two_thirds_into_the_validity() {
		let start = UNIX_EPOCH + Duration::from_secs(1_000_000);
		let validity = Validity {
			not_before: start,
			not_after: start + Duration::from_secs(90 * 86_400),
		};
		assert_eq!(validity.renew_at(), start + Duration::from_secs(60 * 86_400));
	}

	#[test]
	fn retries_back_off_and_rate_limits_wait_an_hour() {
		let refused = AcmeError::Refused { detail: "x".into() };
		assert_eq!(refused.retry_after(1), FIRST_RETRY);
		assert_eq!(refused.retry_after(2), FIRST_RETRY * 2);
		assert_eq!(refused.retry_after(40), MAX_RETRY);
		let limited = AcmeError::RateLimited { detail: "x".into() };
		assert_eq!(limited.retry_after(1), RATE_LIMITED_RETRY);
	}

	#[test]
	fn cache_files_are_private_and_named_per_ca_and_names() {
		let dir = std::env::temp_dir().join(format!("moq-relay-acme-cache-{}", std::process::id()));
		let _ = std::fs::remove_dir_all(&dir);
		let settings = settings(&dir.join("nested"));
		settings.check().unwrap();
		let account = settings.account_path();
		write_private(&account, b"{}").unwrap();
		#[cfg(unix)]
		{
			use std::os::unix::fs::PermissionsExt;
			let mode = std::fs::metadata(&account).unwrap().permissions().mode() & 0o777;
			assert_eq!(mode, 0o600);
			let mode = std::fs::metadata(&settings.cache).unwrap().permissions().mode() & 0o777;
			assert_eq!(mode, 0o700);
		}
		let (cert, key) = settings.certificate_paths();
		assert!(
			cert.file_name()
				.unwrap()
				.to_str()
				.unwrap()
				.starts_with("relay.example-")
		);
		assert_ne!(cert, key);
		let staging = AcmeSettings {
			directory: LETS_ENCRYPT_STAGING.into(),
			..settings.clone()
		};
		assert_ne!(staging.certificate_paths(), settings.certificate_paths());
		assert_ne!(staging.account_path(), settings.account_path());
		assert!(settings.cached().is_none());
		std::fs::remove_dir_all(&dir).unwrap();
	}

	#[test]
	fn cache_files_are_written_all_or_none() {
		let dir = std::env::temp_dir().join(format!("moq-relay-acme-all-{}", std::process::id()));
		let _ = std::fs::remove_dir_all(&dir);
		std::fs::create_dir_all(&dir).unwrap();
		let (key, cert) = (dir.join("a.key.pem"), dir.join("a.cert.pem"));
		write_private_all(&[(key.clone(), b"old key".to_vec()), (cert.clone(), b"old cert".to_vec())]).unwrap();
		// The second file cannot be written (its directory is missing): the first keeps its old
		// content, and no temporary file stays behind.
		let missing = dir.join("missing").join("a.cert.pem");
		let err = write_private_all(&[(key.clone(), b"new key".to_vec()), (missing, b"new cert".to_vec())]);
		assert!(err.is_err());
		assert_eq!(std::fs::read(&key).unwrap(), b"old key");
		let mut names: Vec<String> = std::fs::read_dir(&dir)
			.unwrap()
			.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
			.collect();
		names.sort();
		assert_eq!(names, ["a.cert.pem", "a.key.pem"]);
		write_private_all(&[(key.clone(), b"new key".to_vec()), (cert.clone(), b"new cert".to_vec())]).unwrap();
		assert_eq!(std::fs::read(&key).unwrap(), b"new key");
		assert_eq!(std::fs::read(&cert).unwrap(), b"new cert");
		std::fs::remove_dir_all(&dir).unwrap();
	}

	#[test]
	fn a_full_cache_says_to_free_space() {
		let full = AcmeError::cache(
			Path::new("/var/cache/acme"),
			std::io::Error::from(std::io::ErrorKind::StorageFull),
		);
		assert_eq!(full.code(), "acme_cache_full");
		assert!(full.to_string().contains("free space on its file system"), "{full}");
		let quota = AcmeError::cache(Path::new("/x"), std::io::Error::from(std::io::ErrorKind::QuotaExceeded));
		assert_eq!(quota.code(), "acme_cache_full");
		let denied = AcmeError::cache(
			Path::new("/x"),
			std::io::Error::from(std::io::ErrorKind::PermissionDenied),
		);
		assert_eq!(denied.code(), "acme_cache_not_writable");
	}

	#[test]
	fn a_cache_path_that_cannot_be_a_directory_is_refused_with_its_fix() {
		let file = std::env::temp_dir().join(format!("moq-relay-acme-file-{}", std::process::id()));
		std::fs::write(&file, b"").unwrap();
		let err = settings(&file.join("cache")).check().unwrap_err();
		assert_eq!(err.code(), "acme_cache_not_writable");
		assert!(err.to_string().contains("--acme-cache DIR"), "{err}");
		std::fs::remove_file(&file).unwrap();
	}

	#[test]
	fn problems_become_operator_errors() {
		let manager = Manager {
			settings: Arc::new(settings(Path::new("unused"))),
			resolver: Arc::new(Resolver::default()),
			port: 4443,
			account: None,
			validity: None,
			unsaved: Vec::new(),
			save_failures: 0,
		};
		let problem = |kind: &str| Problem {
			r#type: Some(format!("urn:ietf:params:acme:error:{kind}")),
			detail: Some("the CA's words".into()),
			status: Some(400),
			subproblems: Vec::new(),
		};
		let code = |kind: &str, name| manager.problem(&problem(kind), name).code();
		let said = |kind: &str, detail: &str| {
			let problem = Problem {
				detail: Some(detail.into()),
				..problem(kind)
			};
			manager.problem(&problem, Some("relay.example")).code()
		};
		// How pebble words them.
		assert_eq!(
			said(
				"unauthorized",
				"Failed to connect to 127.0.0.1:5001 for the tls-alpn-01 challenge"
			),
			"acme_unreachable"
		);
		assert_eq!(
			said("malformed", "Could not resolve URL \"relay.example\""),
			"acme_dns_not_here"
		);
		assert_eq!(code("rateLimited", None), "acme_rate_limited");
		assert_eq!(code("connection", Some("relay.example")), "acme_unreachable");
		assert_eq!(code("dns", Some("relay.example")), "acme_dns_not_here");
		assert_eq!(code("unauthorized", Some("relay.example")), "acme_dns_not_here");
		assert_eq!(code("unauthorized", None), "acme_refused");
		assert_eq!(code("rejectedIdentifier", None), "acme_refused");
		let unreachable = manager.problem(&problem("connection"), Some("relay.example"));
		assert!(
			unreachable
				.to_string()
				.contains("forward external TCP port 443 to this relay's TCP port 4443")
		);
		assert!(
			manager
				.problem(&problem("rateLimited"), None)
				.to_string()
				.contains("--acme-staging")
		);
	}

	#[test]
	fn tls_settings_choose_acme_and_refuse_what_cannot_work() {
		use crate::config::{ConfigError, TlsConfig};
		use crate::tls::Source;

		let cache = std::env::temp_dir().join(format!("moq-relay-acme-config-{}", std::process::id()));
		let acme = |domains: &[&str]| TlsConfig {
			domain: Some(domains.iter().map(|d| d.to_string()).collect()),
			acme_cache: Some(cache.clone()),
			..TlsConfig::default()
		};
		let refused = |config: TlsConfig| match config.source() {
			Err(ConfigError::Invalid { key, reason }) => format!("{key}: {reason}"),
			Err(other) => panic!("{other}"),
			Ok(_) => panic!("accepted"),
		};

		let Ok(Source::Acme(settings)) = acme(&["Relay.Example", "www.relay.example"]).source() else {
			panic!("ACME expected");
		};
		assert_eq!(settings.domains, ["relay.example", "www.relay.example"]);
		assert_eq!(settings.directory, LETS_ENCRYPT, "production by default");
		assert!(settings.email.is_none());
		let staging = TlsConfig {
			acme_staging: Some(true),
			..acme(&["relay.example"])
		};
		let Ok(Source::Acme(settings)) = staging.source() else {
			panic!("ACME expected");
		};
		assert_eq!(settings.directory, LETS_ENCRYPT_STAGING);

		for bad in ["127.0.0.1", "*.relay.example", "relay..example", "relay_example.com"] {
			assert!(refused(acme(&[bad])).starts_with("tls.domain: "), "{bad}");
		}
		let both = TlsConfig {
			cert: Some("cert.pem".into()),
			key: Some("key.pem".into()),
			..acme(&["relay.example"])
		};
		assert!(refused(both).contains("replaces tls.cert/tls.key"));
		let two_cas = TlsConfig {
			acme_staging: Some(true),
			acme_directory: Some("https://ca.example/directory".into()),
			..acme(&["relay.example"])
		};
		assert!(refused(two_cas).starts_with("tls.acme_directory: "));
		let plain = TlsConfig {
			acme_directory: Some("http://ca.example/directory".into()),
			..acme(&["relay.example"])
		};
		assert!(refused(plain).contains("https://"));
		let local = TlsConfig {
			acme_directory: Some("http://127.0.0.1:14000/dir".into()),
			..acme(&["relay.example"])
		};
		assert!(matches!(local.source(), Ok(Source::Acme(_))));
		let orphan = TlsConfig {
			email: Some("ops@relay.example".into()),
			..TlsConfig::default()
		};
		assert!(refused(orphan).contains("need tls.domain"));
		std::fs::remove_dir_all(&cache).unwrap();
	}

	#[test]
	fn the_challenge_certificate_carries_the_key_authorization_digest() {
		let digest = [7u8; 32];
		let certified = challenge_certificate("relay.example", &digest).unwrap();
		let (_, cert) = x509_parser::parse_x509_certificate(&certified.cert[0]).unwrap();
		let acme = cert
			.extensions()
			.iter()
			.find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
			.expect("the acmeIdentifier extension");
		assert!(acme.critical);
		// An OCTET STRING of the 32 bytes (RFC 8737 §3).
		assert_eq!(&acme.value[..2], &[0x04, 32]);
		assert_eq!(&acme.value[2..], &digest);
	}
}
