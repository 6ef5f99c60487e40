//! The JSON of the contract: what the relay POSTs, and the grant it reads back.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::super::{ConnectRequest, Transport};
use crate::transport::Totals;

/// What every event of one session carries.
#[derive(Debug, Clone)]
pub(super) struct Base<'a> {
	id: Cow<'a, str>,
	node: Cow<'a, str>,
	transport: &'static str,
	remote: Option<std::net::SocketAddr>,
	path: String,
	query: Option<String>,
	token: Option<WireToken>,
}

impl<'a> Base<'a> {
	/// The session's facts. A token that did not come from the query's `jwt=` (which the server
	/// reads from `query`) is sent as a SETUP token of type 0, the contract's slot for a JWT.
	pub(super) fn new(id: &'a str, node: &'a str, request: &ConnectRequest, token: Option<&str>) -> Self {
		let query = request.query().map(str::to_string);
		let in_query = token.is_some_and(|t| {
			query.as_deref().is_some_and(|q| {
				q.split('&')
					.filter_map(|pair| pair.strip_prefix("jwt="))
					.rfind(|v| !v.is_empty())
					== Some(t)
			})
		});
		Self {
			id: Cow::Borrowed(id),
			node: Cow::Borrowed(node),
			transport: match request.transport() {
				Transport::Quic | Transport::WebTransport => "quic",
				Transport::WebSocket => "websocket",
				Transport::Http => "http",
			},
			remote: request.remote(),
			path: format!("/{}", request.path().as_str()),
			query,
			token: token.filter(|_| !in_query).map(|t| WireToken {
				kind: 0,
				value: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t.as_bytes()),
			}),
		}
	}

	pub(super) fn into_owned(self) -> Base<'static> {
		Base {
			id: Cow::Owned(self.id.into_owned()),
			node: Cow::Owned(self.node.into_owned()),
			transport: self.transport,
			remote: self.remote,
			path: self.path,
			query: self.query,
			token: self.token,
		}
	}

	pub(super) fn event(&self, event: &'static str) -> WireRequest<'_> {
		WireRequest {
			id: &self.id,
			event,
			end: None,
			node: &self.node,
			transport: self.transport,
			remote: self.remote,
			path: &self.path,
			query: self.query.as_deref(),
			token: self.token.as_ref(),
		}
	}

	pub(super) fn end(&self, reason: &str, duration: Duration, bytes: Totals) -> WireRequest<'_> {
		WireRequest {
			end: Some(End {
				reason: reason.to_string(),
				duration: duration.as_secs_f64(),
				bytes,
			}),
			..self.event("end")
		}
	}
}

/// One POST.
#[derive(Debug, Serialize)]
pub(super) struct WireRequest<'a> {
	pub(super) id: &'a str,
	pub(super) event: &'static str,
	#[serde(flatten, skip_serializing_if = "Option::is_none")]
	pub(super) end: Option<End>,
	pub(super) node: &'a str,
	pub(super) transport: &'static str,
	#[serde(skip_serializing_if = "Option::is_none")]
	pub(super) remote: Option<std::net::SocketAddr>,
	pub(super) path: &'a str,
	#[serde(skip_serializing_if = "Option::is_none")]
	pub(super) query: Option<&'a str>,
	#[serde(skip_serializing_if = "Option::is_none")]
	pub(super) token: Option<&'a WireToken>,
}

/// What an `end` adds.
#[derive(Debug, Serialize)]
pub(super) struct End {
	reason: String,
	duration: f64,
	bytes: Totals,
}

/// A credential as a SETUP token: its type and base64url bytes.
#[derive(Debug, Clone, Serialize)]
pub(super) struct WireToken {
	kind: u64,
	value: String,
}

/// The grant a 2xx carries.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireGrant {
	pub(super) publish: Vec<String>,
	pub(super) subscribe: Vec<String>,
	pub(super) root: Option<String>,
	pub(super) expires: Option<i64>,
	pub(super) revalidate: Option<u64>,
	pub(super) peer: bool,
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn requests_are_the_contracts_json() {
		let request = ConnectRequest::parse("/demo/room?jwt=abc&x=1")
			.unwrap()
			.with_remote(Some("203.0.113.9:4433".parse().unwrap()));
		let base = Base::new("00ff", "relay-1", &request, Some("abc"));
		assert_eq!(
			serde_json::to_string(&base.event("connect")).unwrap(),
			r#"{"id":"00ff","event":"connect","node":"relay-1","transport":"quic","remote":"203.0.113.9:4433","path":"/demo/room","query":"jwt=abc&x=1"}"#
		);
		let bytes = Totals { sent: 10, received: 20 };
		assert_eq!(
			serde_json::to_string(&base.end("expired", Duration::from_millis(1500), bytes)).unwrap(),
			r#"{"id":"00ff","event":"end","reason":"expired","duration":1.5,"bytes":{"sent":10,"received":20},"node":"relay-1","transport":"quic","remote":"203.0.113.9:4433","path":"/demo/room","query":"jwt=abc&x=1"}"#
		);
		// A token from a header rides as a SETUP token of type 0.
		let header = ConnectRequest::parse("/demo").unwrap();
		let json = serde_json::to_string(&Base::new("1", "n", &header, Some("t.k.n")).event("revalidate")).unwrap();
		assert!(
			json.ends_with(r#""path":"/demo","token":{"kind":0,"value":"dC5rLm4"}}"#),
			"{json}"
		);
	}
}
