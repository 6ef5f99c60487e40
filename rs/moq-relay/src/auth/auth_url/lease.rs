//! What an admitted session holds for its grant, and what the verifier's task changes in it.

use std::sync::{Arc, Mutex};

use moq_token::{Path, Patterns};
use serde::Serialize;
use tokio::sync::{Notify, oneshot};

use super::super::AuthError;
use crate::transport::Totals;

/// The session's side of its grant from `[auth] url`: held inside the [`Grant`](super::super::Grant)
/// and dropped with it, which tells the verifier's task the session ended.
pub struct Lease {
	live: Arc<Live>,
	ended: Mutex<Option<oneshot::Sender<()>>>,
}

impl Lease {
	pub(super) fn new(live: Arc<Live>) -> (Self, oneshot::Receiver<()>) {
		let (tx, rx) = oneshot::channel();
		(
			Self {
				live,
				ended: Mutex::new(Some(tx)),
			},
			rx,
		)
	}

	/// Why the grant no longer holds, once the server refused or narrowed it, or it expired.
	pub fn refusal(&self) -> Option<AuthError> {
		self.live.state().refusal.clone()
	}

	/// The session id the server knows.
	pub fn id(&self) -> &str {
		&self.live.id
	}

	/// Where the session's byte totals are read: while it runs (the operator's listing) and once
	/// when the lease drops (the `end` event). The first meter set stays.
	pub fn meter(&self, read: impl Fn() -> Totals + Send + Sync + 'static) {
		let mut state = self.live.state();
		if matches!(state.meter, Meter::Unset) {
			state.meter = Meter::Reading(Box::new(read));
		}
	}
}

impl Drop for Lease {
	fn drop(&mut self) {
		// The session is over: its totals are final, and the transport the meter holds is let go.
		{
			let mut state = self.live.state();
			if let Meter::Reading(read) = &state.meter {
				state.meter = Meter::Final(read());
			}
			state.ended = true;
		}
		if let Some(tx) = self.ended.lock().unwrap_or_else(|e| e.into_inner()).take() {
			let _ = tx.send(());
		}
	}
}

impl std::fmt::Debug for Lease {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.debug_struct("Lease").field("id", &self.live.id).finish()
	}
}

/// A live session as the operator endpoint lists it: never a credential.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SessionInfo {
	/// The id the auth server knows it by.
	pub id: String,
	/// `auth_url`.
	pub subject: &'static str,
	/// `quic`, `websocket` or `http`.
	pub transport: &'static str,
	/// The peer's address and port.
	pub remote: Option<std::net::SocketAddr>,
	/// The grant's root.
	pub root: String,
	/// The publish patterns, relative to the root.
	pub publish: Vec<String>,
	/// The subscribe patterns, relative to the root.
	pub subscribe: Vec<String>,
	/// When the grant ends (unix seconds).
	pub expires: Option<u64>,
	/// Seconds since admission.
	pub seconds: u64,
	/// What the session's transport moved so far.
	pub bytes: Totals,
}

/// The shared state of one lease.
pub(super) struct Live {
	id: String,
	root: Path,
	transport: &'static str,
	remote: Option<std::net::SocketAddr>,
	publish: Patterns,
	subscribe: Patterns,
	started: std::time::Instant,
	state: Mutex<State>,
	nudge: Notify,
}

struct State {
	expires: Option<u64>,
	refusal: Option<AuthError>,
	meter: Meter,
	/// The session is gone (its lease dropped); only its `end` is still to be sent.
	ended: bool,
}

/// Where a session's byte totals come from.
enum Meter {
	/// The session has not started serving (a refused or aborted admission moved nothing).
	Unset,
	/// Its transport, while it runs.
	Reading(Box<dyn Fn() -> Totals + Send + Sync>),
	/// What it moved, once it ended.
	Final(Totals),
}

impl Live {
	pub(super) fn new(
		id: String,
		root: Path,
		transport: &'static str,
		remote: Option<std::net::SocketAddr>,
		publish: Patterns,
		subscribe: Patterns,
		expires: Option<u64>,
	) -> Arc<Self> {
		Arc::new(Self {
			id,
			root,
			transport,
			remote,
			publish,
			subscribe,
			started: std::time::Instant::now(),
			state: Mutex::new(State {
				expires,
				refusal: None,
				meter: Meter::Unset,
				ended: false,
			}),
			nudge: Notify::new(),
		})
	}

	fn state(&self) -> std::sync::MutexGuard<'_, State> {
		self.state.lock().unwrap_or_else(|e| e.into_inner())
	}

	pub(super) fn id(&self) -> &str {
		&self.id
	}

	pub(super) fn expires(&self) -> Option<u64> {
		self.state().expires
	}

	/// What the session moved: so far while it runs, in full once its lease dropped.
	pub(super) fn totals(&self) -> Totals {
		match &self.state().meter {
			Meter::Unset => Totals::default(),
			Meter::Reading(read) => read(),
			Meter::Final(totals) => *totals,
		}
	}

	/// A fresh grant that covers the session's keeps it, with the fresh expiry.
	pub(super) fn extend(&self, expires: Option<u64>) {
		self.state().expires = expires;
	}

	/// Whether a fresh grant still allows everything the session was admitted with.
	pub(super) fn covered_by(&self, root: Option<&Path>, publish: &Patterns, subscribe: &Patterns) -> bool {
		root.is_none_or(|r| *r == self.root) && publish.covers(&self.publish) && subscribe.covers(&self.subscribe)
	}

	/// Whether the session still runs under its grant: not ended, and not refused (a refused one is
	/// closing). Only these are listed, re-checked and closable by the operator.
	pub(super) fn is_live(&self) -> bool {
		let state = self.state();
		!state.ended && state.refusal.is_none()
	}

	/// The first refusal stands.
	pub(super) fn refuse(&self, why: AuthError) {
		let mut state = self.state();
		if state.refusal.is_none() {
			state.refusal = Some(why);
		}
	}

	/// The `end` reason, in the contract's words.
	pub(super) fn ended_reason(&self) -> &'static str {
		match self.state().refusal {
			None => "closed",
			Some(AuthError::TokenExpired) => "expired",
			Some(_) => "refused",
		}
	}

	pub(super) fn nudge(&self) {
		self.nudge.notify_one();
	}

	pub(super) async fn nudged(&self) {
		self.nudge.notified().await
	}

	pub(super) fn info(&self) -> SessionInfo {
		let list = |p: &Patterns| p.iter().map(|p| p.as_str().to_string()).collect();
		SessionInfo {
			id: self.id.clone(),
			subject: "auth_url",
			transport: self.transport,
			remote: self.remote,
			root: self.root.as_str().to_string(),
			publish: list(&self.publish),
			subscribe: list(&self.subscribe),
			expires: self.expires(),
			seconds: self.started.elapsed().as_secs(),
			bytes: self.totals(),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn live() -> Arc<Live> {
		Live::new(
			"00ff".into(),
			Path::default(),
			"quic",
			None,
			Patterns::all(),
			Patterns::all(),
			None,
		)
	}

	/// A session whose grant was withdrawn, or whose lease dropped, is no longer live (listed,
	/// re-checked or closable), though its task still holds it until `end` is sent.
	#[test]
	fn refused_or_ended_sessions_are_not_live() {
		let refused = live();
		assert!(refused.is_live());
		refused.refuse(AuthError::GrantRefused);
		assert!(!refused.is_live());

		let ended = live();
		let (lease, _ended) = Lease::new(ended.clone());
		lease.meter(|| Totals { sent: 3, received: 4 });
		assert_eq!(ended.totals(), Totals { sent: 3, received: 4 });
		drop(lease);
		assert!(!ended.is_live());
		// The totals read at the drop stay: the meter (and the transport it held) is let go.
		assert_eq!(ended.totals(), Totals { sent: 3, received: 4 });
	}
}
