//! The audit trail (`docs/auth.md`, "Audit log"): one INFO line per admission decision, under the
//! target `moq_relay::audit`, for MoQ sessions and HTTP requests alike.
//!
//! An admission names the verifier, the subject, the token's key id and `jti`, what the grant allows,
//! the remote address and the transport; a refusal names the verifier, the code, the address and the
//! transport; a session admitted and then refused by a limit gets a line for that too. Never a
//! credential: every field is either the relay's own word or a peer-supplied string escaped by
//! [`Peer`] (a `jti` or a path cannot forge a line). `moq_relay_auth_decisions_total` counts the
//! same decisions by verifier and code.

use std::net::IpAddr;

use crate::auth::{AuthError, CredentialKind, Grant, Transport};
use crate::limits::LimitError;
use crate::logging::Peer;

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
