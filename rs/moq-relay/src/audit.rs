//! The audit trail (`docs/auth.md`, "Audit log"): INFO lines under the target `moq_relay::audit`,
//! one per admission decision, for MoQ sessions and HTTP requests alike, and then, for an admitted
//! MoQ session, what its grant refused and how its grant ended it ([`Trail`]).
//!
//! An admission names the verifier, the subject, the token's key id and `jti`, what the grant allows,
//! the remote address and the transport; a refusal names the verifier, the code, the address and the
//! transport; a session admitted and then refused by a limit gets a line for that too. Never a
//! credential: every field is either the relay's own word or a peer-supplied string escaped by
//! [`Peer`] (a `jti` or a path cannot forge a line). `moq_relay_auth_decisions_total` counts the
//! same decisions by verifier and code.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::auth::{AuthError, CredentialKind, Grant, Transport};
use crate::limits::LimitError;
use crate::logging::Peer;
use crate::metrics::Metrics;

/// The log target of the audit lines (`RUST_LOG=moq_relay::audit=info` keeps only them).
pub const TARGET: &str = "moq_relay::audit";

/// Records an admission.
pub fn admitted(kind: CredentialKind, grant: &Grant, remote: IpAddr, transport: Transport) {
	let (kid, _) = grant.key().unzip();
	tracing::info!(
		target: TARGET,
		verifier = kind.as_str(),
		subject = %Peer(grant.subject().unwrap_or("-")),
		kid = %Peer(kid.flatten().unwrap_or("-")),
		jti = %Peer(grant.token_id().unwrap_or("-")),
		root = %Peer(grant.root().as_str()),
		publish = %Peer(&summary(grant.publish())),
		subscribe = %Peer(&summary(grant.subscribe())),
		cluster = grant.cluster(),
		expires = grant.expires().unwrap_or(0),
		%remote,
		transport = transport.as_str(),
		"admitted"
	);
}

/// Records a refusal.
pub fn refused(kind: CredentialKind, error: &AuthError, remote: IpAddr, transport: Transport) {
	tracing::info!(
		target: TARGET,
		verifier = kind.as_str(),
		code = error.code(),
		%remote,
		transport = transport.as_str(),
		"refused"
	);
}

/// Records that a session whose credential was admitted (its line above) was refused by a limit
/// when it was to take its place (`[limits] max_sessions_per_ip`), so the trail ends with what
/// happened to it.
pub fn limited(limit: LimitError, remote: IpAddr, transport: Transport) {
	tracing::info!(
		target: TARGET,
		code = limit.code(),
		%remote,
		transport = transport.as_str(),
		"refused by a limit"
	);
}

/// A request of an admitted session that its grant refused ([`Trail::denied`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
	/// Publishing a broadcast (a moq-lite announcement, an IETF PUBLISH_NAMESPACE).
	Publish,
	/// Subscribing to a broadcast's track (SUBSCRIBE).
	Subscribe,
	/// Watching the broadcasts under a prefix (SUBSCRIBE_NAMESPACE); only a request token's grant
	/// is recorded for it ([`Trail::token_granted`]).
	Watch,
	/// Fetching a group of a broadcast's track (a moq-lite or IETF FETCH).
	Fetch,
}

impl Request {
	/// The name in the audit line and in `moq_relay_requests_denied_total{request}`.
	pub fn as_str(self) -> &'static str {
		match self {
			Self::Publish => "publish",
			Self::Subscribe => "subscribe",
			Self::Watch => "watch",
			Self::Fetch => "fetch",
		}
	}
}

/// How many refused requests of one session get a line each; the rest are counted
/// (`moq_relay_requests_denied_total`) and not written, so a client that asks for what it may not
/// have again and again cannot fill the log (one more line says that the rest go unwritten).
pub const DENIALS_LOGGED: u32 = 16;

/// Counts one more line against `counter`: `false` once [`DENIALS_LOGGED`] were written.
fn below_cap(counter: &AtomicU32) -> bool {
	counter
		.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
			(n < DENIALS_LOGGED).then_some(n + 1)
		})
		.is_ok()
}

/// The audit trail of one admitted session after its admission line: the requests its grant
/// refused (at most [`DENIALS_LOGGED`] lines) and the moment its grant ended it. Each line names
/// the subject and `jti` as the admission line did, with the address and transport, so that the
/// lines of one session can be found together.
#[derive(Debug)]
pub struct Trail {
	/// The peer's address, `None` on a cluster link this relay dialed.
	remote: Option<IpAddr>,
	transport: Transport,
	/// Refused requests so far.
	denied: AtomicU32,
	/// Requests allowed by their own token so far.
	granted: AtomicU32,
}

impl Trail {
	/// The trail of a session admitted from `remote` over `transport`.
	pub fn new(remote: IpAddr, transport: Transport) -> Self {
		Self {
			remote: Some(remote),
			transport,
			denied: AtomicU32::new(0),
			granted: AtomicU32::new(0),
		}
	}

	/// The trail of a cluster link this relay dialed (its grant is [`Grant::peer`], which neither
	/// refuses nor ends).
	pub fn dialed() -> Self {
		Self {
			remote: None,
			transport: Transport::Quic,
			denied: AtomicU32::new(0),
			granted: AtomicU32::new(0),
		}
	}

	/// Records that the session's grant refused `request` for the broadcast at `path` (relative
	/// to the grant's root): counted in `moq_relay_requests_denied_total`, and a line for each of
	/// the first [`DENIALS_LOGGED`], then one saying the rest go unwritten. Returns whether a line
	/// was written.
	pub fn denied(&self, grant: &Grant, request: Request, path: &moq_token::Path, metrics: &Metrics) -> bool {
		metrics.request_denied(request.as_str());
		let counted = self.denied.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
			(n <= DENIALS_LOGGED).then_some(n + 1)
		});
		let Ok(before) = counted else {
			return false;
		};
		let seen = before + 1;
		let remote = self.remote();
		let (kid, _) = grant.key().unzip();
		if seen == DENIALS_LOGGED + 1 {
			tracing::info!(
				target: TARGET,
				subject = %Peer(grant.subject().unwrap_or("-")),
				jti = %Peer(grant.token_id().unwrap_or("-")),
				logged = DENIALS_LOGGED,
				%remote,
				transport = self.transport.as_str(),
				"further requests refused by the grant are counted, not logged"
			);
			return true;
		}
		tracing::info!(
			target: TARGET,
			request = request.as_str(),
			path = %Peer(path.as_str()),
			root = %Peer(grant.root().as_str()),
			subject = %Peer(grant.subject().unwrap_or("-")),
			kid = %Peer(kid.flatten().unwrap_or("-")),
			jti = %Peer(grant.token_id().unwrap_or("-")),
			%remote,
			transport = self.transport.as_str(),
			"request refused by the grant"
		);
		true
	}

	/// Records that a request of the session was refused because its AUTHORIZATION TOKEN did not
	/// verify (`code`: `invalid_token`, `token_expired`, `root_mismatch`, `malformed_auth_token`
	/// for one the relay cannot read, ...): counted in
	/// `moq_relay_requests_denied_total{request="token"}`, and a line under the same cap as
	/// [`Trail::denied`]. The token itself is never written.
	pub fn token_refused(&self, grant: &Grant, code: &str, metrics: &Metrics) {
		metrics.request_denied("token");
		if !below_cap(&self.denied) {
			return;
		}
		tracing::info!(
			target: TARGET,
			code,
			subject = %Peer(grant.subject().unwrap_or("-")),
			jti = %Peer(grant.token_id().unwrap_or("-")),
			remote = %self.remote(),
			transport = self.transport.as_str(),
			"request refused: its authorization token did not verify"
		);
	}

	/// Records that a request was allowed by its own AUTHORIZATION TOKEN (`token`, that token's
	/// grant) beyond the session's grant, for the broadcast (or, watching, the prefix) at `path`: a
	/// line naming both the session's and the token's subject and `jti`, for each of the first
	/// [`DENIALS_LOGGED`] of a session (a session's requests are bounded by its subscribe rate, and
	/// the lines by this cap). The token itself is never written.
	pub fn token_granted(&self, grant: &Grant, token: &Grant, request: Request, path: &moq_token::Path) {
		if !below_cap(&self.granted) {
			return;
		}
		tracing::info!(
			target: TARGET,
			request = request.as_str(),
			path = %Peer(path.as_str()),
			root = %Peer(grant.root().as_str()),
			subject = %Peer(grant.subject().unwrap_or("-")),
			jti = %Peer(grant.token_id().unwrap_or("-")),
			token_subject = %Peer(token.subject().unwrap_or("-")),
			token_jti = %Peer(token.token_id().unwrap_or("-")),
			expires = token.expires().unwrap_or(0),
			remote = %self.remote(),
			transport = self.transport.as_str(),
			"request allowed by its authorization token"
		);
	}

	/// Records that a request a request token allowed (`token`, that token's grant) was ended
	/// because the token was revoked (`code`, as PUBLISH_DONE's reason says), under the cap of
	/// [`Trail::token_granted`]. The token itself is never written.
	pub fn token_ended(&self, grant: &Grant, token: &Grant, code: &str) {
		if !below_cap(&self.granted) {
			return;
		}
		tracing::info!(
			target: TARGET,
			code,
			subject = %Peer(grant.subject().unwrap_or("-")),
			jti = %Peer(grant.token_id().unwrap_or("-")),
			token_subject = %Peer(token.subject().unwrap_or("-")),
			token_jti = %Peer(token.token_id().unwrap_or("-")),
			remote = %self.remote(),
			transport = self.transport.as_str(),
			"request ended by its authorization token"
		);
	}

	/// Records that the session's grant ended it: revoked, its key removed, refused or narrowed
	/// by the auth service (`code`, as the close reason says), or expired (`token_expired`).
	pub fn ended(&self, grant: &Grant, code: &str) {
		let (kid, _) = grant.key().unzip();
		tracing::info!(
			target: TARGET,
			code,
			subject = %Peer(grant.subject().unwrap_or("-")),
			kid = %Peer(kid.flatten().unwrap_or("-")),
			jti = %Peer(grant.token_id().unwrap_or("-")),
			remote = %self.remote(),
			transport = self.transport.as_str(),
			"session ended by its grant"
		);
	}

	fn remote(&self) -> String {
		self.remote.map_or_else(|| "-".into(), |ip| ip.to_string())
	}
}

/// A grant's prefixes (relative to its root) as the audit line shows them: comma-separated, `(all)`
/// for everything below the root, `-` for nothing.
fn summary(patterns: &moq_token::Patterns) -> String {
	if patterns.is_empty() {
		return "-".into();
	}
	let shown: Vec<&str> = patterns
		.iter()
		.map(|p| if p.as_str() == "**" { "(all)" } else { p.as_str() })
		.collect();
	shown.join(",")
}
