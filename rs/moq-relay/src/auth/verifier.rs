//! The interface every credential type implements: a [`Verifier`] says whether it recognizes a
//! credential and, if it does, decides it. The [`Chain`](super::chain::Chain) asks them in order;
//! the session code never sees them.

use std::future::Future;
use std::pin::Pin;

use super::{AuthError, ConnectRequest, Credential, CredentialKind, Grant};
use crate::metrics::Metrics;

/// Where a verifier stands in the chain (`docs/auth.md`, "The order of checks"): API keys are
/// compared first, then the verifiers that decide locally (MoQ keys, Privacy Pass, identity
/// issuers), and last the ones that ask someone else (the auth service), which only ever see a
/// credential no local verifier recognized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
	/// Shared secrets: a constant-time comparison, no parsing.
	ApiKey,
	/// Verified with keys or state the relay holds.
	Local,
	/// Decided by a service over the network.
	Delegated,
}

/// A verifier's answer.
#[derive(Debug)]
pub enum Verdict {
	/// The credential is this verifier's: its decision is final, never passed on (a recognized
	/// but invalid token is refused here).
	Decided(Result<Grant, AuthError>),
	/// Not this verifier's credential: the next one is asked. The explanation is the refusal this
	/// verifier would give if nobody recognizes the credential, with how specific it is.
	PassOn(Option<Explanation>),
}

/// Why a verifier passed a credential on, for the refusal when no verifier recognizes it.
#[derive(Debug)]
pub struct Explanation {
	/// The refusal.
	pub error: AuthError,
	/// How specific it is: the chain refuses with the most specific explanation (the first one
	/// of the highest weight). A JWT verifier that parsed a JWS header but knows none of its keys
	/// says more than an API key list that matched nothing.
	pub weight: u8,
}

/// A future a verifier returns (boxed, so verifiers can live in one list).
pub type Judged<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// One credential type.
///
/// Adding one is a new file implementing this and one line where the chain is built
/// ([`Auth::with_verifier`](super::Auth::with_verifier) in the configuration's resolution).
pub trait Verifier: Send + Sync + std::fmt::Debug {
	/// What decisions by this verifier are labelled with in the metrics.
	fn kind(&self) -> CredentialKind;

	/// Where it stands in the chain.
	fn stage(&self) -> Stage;

	/// Judges `credential`, presented with `request`. `metrics` is where a verifier that waits
	/// on something (a service, a store) records how long it waited; `None` outside the relay.
	fn judge<'a>(
		&'a self,
		credential: &'a Credential<'a>,
		request: &'a ConnectRequest,
		metrics: Option<&'a Metrics>,
	) -> Judged<'a>;
}
