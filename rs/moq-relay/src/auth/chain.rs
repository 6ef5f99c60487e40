//! The verifiers in their order, and how a presented credential goes through them
//! (`docs/auth.md`, "The order of checks").
//!
//! Each verifier is asked in turn; the first that recognizes the credential decides it, and that
//! decision is final. A credential nobody recognizes is refused with the most specific explanation
//! a verifier gave (`invalid_token: unknown_kid` from the MoQ keys says more than `unauthorized`
//! from the API keys), or, with no verifier at all, `invalid_token: no_verifier`.

use std::sync::Arc;

use super::verifier::{Verdict, Verifier};
use super::{AuthError, ConnectRequest, Credential, CredentialKind, Grant};
use crate::metrics::Metrics;

/// Verifiers ordered by [`Stage`](super::verifier::Stage), in the order added within a stage.
#[derive(Clone, Debug, Default)]
pub struct Chain {
	verifiers: Vec<Arc<dyn Verifier>>,
}

impl Chain {
	/// Adds `verifier` after every verifier of its stage or an earlier one.
	pub fn push(&mut self, verifier: Arc<dyn Verifier>) {
		let at = self
			.verifiers
			.iter()
			.position(|v| v.stage() > verifier.stage())
			.unwrap_or(self.verifiers.len());
		self.verifiers.insert(at, verifier);
	}

	/// Whether any verifier is configured.
	pub fn is_empty(&self) -> bool {
		self.verifiers.is_empty()
	}

	/// The verifiers, in order.
	pub fn verifiers(&self) -> impl Iterator<Item = &Arc<dyn Verifier>> {
		self.verifiers.iter()
	}

	/// Decides a presented credential: who decided, and the decision.
	pub async fn judge(
		&self,
		credential: &Credential<'_>,
		request: &ConnectRequest,
		metrics: Option<&Metrics>,
	) -> (CredentialKind, Result<Grant, AuthError>) {
		let mut explanation: Option<(u8, AuthError)> = None;
		for verifier in &self.verifiers {
			match verifier.judge(credential, request, metrics).await {
				Verdict::Decided(decided) => return (verifier.kind(), decided),
				Verdict::PassOn(Some(why)) => {
					if explanation.as_ref().is_none_or(|(weight, _)| why.weight > *weight) {
						explanation = Some((why.weight, why.error));
					}
				}
				Verdict::PassOn(None) => {}
			}
		}
		let refusal = match (explanation, credential) {
			(Some((_, error)), _) => error,
			(None, Credential::PrivacyPass(_)) => AuthError::InvalidPrivacyPassToken("privacy_pass_disabled"),
			(None, Credential::ApiKey(_)) => AuthError::Unauthorized,
			(None, Credential::Token(_) | Credential::SessionCookie(_)) => AuthError::NoVerifier,
		};
		(CredentialKind::Unrecognized, Err(refusal))
	}
}

#[cfg(test)]
mod tests {
	use super::super::verifier::{Explanation, Judged, Stage};
	use super::*;

	/// A verifier that recognizes one token and records that it was asked.
	#[derive(Debug)]
	struct Fake {
		stage: Stage,
		kind: CredentialKind,
		token: &'static str,
		explain: Option<(u8, AuthError)>,
		asked: std::sync::atomic::AtomicUsize,
	}

	impl Fake {
		fn new(stage: Stage, kind: CredentialKind, token: &'static str) -> Arc<Self> {
			Arc::new(Self {
				stage,
				kind,
				token,
				explain: None,
				asked: Default::default(),
			})
		}

		fn asked(&self) -> usize {
			self.asked.load(std::sync::atomic::Ordering::Relaxed)
		}
	}

	impl Verifier for Fake {
		fn kind(&self) -> CredentialKind {
			self.kind
		}
		fn stage(&self) -> Stage {
			self.stage
		}
		fn judge<'a>(
			&'a self,
			credential: &'a Credential<'a>,
			request: &'a ConnectRequest,
			_: Option<&'a Metrics>,
		) -> Judged<'a> {
			self.asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
			let verdict = match credential {
				Credential::Token(t) if t == self.token => Verdict::Decided(Ok(Grant::new(
					request.path().clone(),
					vec![],
					vec![moq_token::Path::root()],
				))),
				_ => Verdict::PassOn(
					self.explain
						.clone()
						.map(|(weight, error)| Explanation { error, weight }),
				),
			};
			Box::pin(std::future::ready(verdict))
		}
	}

	async fn judge(chain: &Chain, token: &str) -> (CredentialKind, Result<Grant, AuthError>) {
		let request = ConnectRequest::parse(&format!("/x?jwt={token}")).unwrap();
		let credential = request.credential().unwrap().unwrap();
		chain.judge(&credential, &request, None).await
	}

	#[tokio::test]
	async fn stages_order_the_chain_and_the_first_that_recognizes_decides() {
		let service = Fake::new(Stage::Delegated, CredentialKind::Service, "shared");
		let local = Fake::new(Stage::Local, CredentialKind::Jwt, "shared");
		let keys = Fake::new(Stage::ApiKey, CredentialKind::ApiKey, "key");
		let mut chain = Chain::default();
		// Added out of order: the stages put them in order.
		chain.push(service.clone());
		chain.push(local.clone());
		chain.push(keys.clone());
		let kinds: Vec<_> = chain.verifiers().map(|v| v.kind()).collect();
		assert_eq!(
			kinds,
			[CredentialKind::ApiKey, CredentialKind::Jwt, CredentialKind::Service]
		);

		assert_eq!(judge(&chain, "key").await.0, CredentialKind::ApiKey);
		assert_eq!((local.asked(), service.asked()), (0, 0), "decided by the first");
		assert_eq!(judge(&chain, "shared").await.0, CredentialKind::Jwt);
		assert_eq!(
			service.asked(),
			0,
			"a locally recognized token never reaches the service"
		);
		let (kind, decided) = judge(&chain, "nobody's").await;
		assert_eq!(
			(kind, decided.unwrap_err()),
			(CredentialKind::Unrecognized, AuthError::NoVerifier)
		);
		assert_eq!(service.asked(), 1);
	}

	#[tokio::test]
	async fn the_most_specific_explanation_is_the_refusal() {
		let explaining = |stage, weight, error| {
			Arc::new(Fake {
				stage,
				kind: CredentialKind::Jwt,
				token: "-",
				explain: Some((weight, error)),
				asked: Default::default(),
			})
		};
		let mut chain = Chain::default();
		chain.push(explaining(Stage::ApiKey, 1, AuthError::Unauthorized));
		chain.push(explaining(
			Stage::Local,
			0,
			AuthError::InvalidToken(moq_token::ErrorCode::Malformed),
		));
		assert_eq!(judge(&chain, "t").await.1.unwrap_err(), AuthError::Unauthorized);
		chain.push(explaining(
			Stage::Local,
			2,
			AuthError::InvalidToken(moq_token::ErrorCode::UnknownKid),
		));
		assert_eq!(
			judge(&chain, "t").await.1.unwrap_err().reason(),
			"invalid_token: unknown_kid"
		);
	}
}
