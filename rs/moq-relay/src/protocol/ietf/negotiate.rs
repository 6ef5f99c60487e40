//! Which draft a session speaks, and what its CLIENT_SETUP may say on its binding.
//!
//! A draft is fixed by the transport identifier (ALPN `moq-00`, `moqt-15` to `moqt-20`,
//! `moqt-21` or `moqt-22` on raw QUIC,
//! `WT-Protocol` on WebTransport) or, when the client offered none (a WebTransport CONNECT without
//! `WT-Available-Protocols`, the legacy `moql`), by the versions in a draft-14 CLIENT_SETUP
//! (`docs/protocol.md#identifiers`). When nothing is common the session is still accepted and
//! then closed with VERSION_NEGOTIATION_FAILED and a reason the client can read, rather than
//! refused during the handshake (a browser only reports "Opening handshake failed" then).

use crate::wire::SessionCode;
use crate::wire::ietf::{ClientSetup, Draft, SetupParameters, termination};

/// The drafts the relay speaks, most preferred first: draft-14, the widest deployed, then
/// draft-15 to draft-22 in order (the oldest offered), for a client that offers several.
pub const DRAFTS: [Draft; 9] = [
	Draft::Draft14,
	Draft::Draft15,
	Draft::Draft16,
	Draft::Draft17,
	Draft::Draft18,
	Draft::Draft19,
	Draft::Draft20,
	Draft::Draft21,
	Draft::Draft22,
];

/// The draft a transport identifier names, if the relay speaks it.
pub fn from_identifier(identifier: &str) -> Option<Draft> {
	DRAFTS.into_iter().find(|d| d.alpn() == identifier)
}

/// The binding a session arrived on, which decides where its path comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
	/// Raw QUIC: the path is the SETUP PATH parameter (and AUTHORITY may name the host).
	Quic,
	/// WebTransport or WebSocket: the path is the request URL; PATH and AUTHORITY are forbidden.
	Url,
}

/// Why a CLIENT_SETUP ends the session: the termination code and a reason the peer can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SetupRefusal {
	/// The session termination code.
	pub code: SessionCode,
	/// The reason phrase sent with it.
	pub reason: String,
}

impl SetupRefusal {
	fn new(code: SessionCode, reason: impl Into<String>) -> Self {
		Self {
			code,
			reason: reason.into(),
		}
	}
}

/// The draft to answer a CLIENT_SETUP with: `fixed` when the transport identifier already chose
/// one (on draft-14 it must then be among the offered versions; from draft-15 on CLIENT_SETUP
/// lists none, the identifier alone names the draft), else the relay's most preferred draft the
/// client offers. Only draft-14 can be negotiated in SETUP: a later draft's CLIENT_SETUP names
/// no version, so a session without an identifier cannot ask for one.
pub fn choose(setup: &ClientSetup, fixed: Option<Draft>) -> Result<Draft, SetupRefusal> {
	let offered = |d: &Draft| setup.versions.iter().any(|v| v.into_inner() == d.setup_version());
	// The drafts a CLIENT_SETUP can ask for by its version list.
	let listed = || DRAFTS.into_iter().filter(|d| d.setup_names_version());
	let chosen = match fixed {
		Some(draft) if !draft.setup_names_version() => Some(draft),
		Some(draft) => offered(&draft).then_some(draft),
		None => listed().find(offered),
	};
	chosen.ok_or_else(|| {
		let offered: Vec<String> = setup
			.versions
			.iter()
			.map(|v| format!("{:#x}", v.into_inner()))
			.collect();
		let speaks: Vec<String> = match fixed {
			Some(draft) => vec![format!("{draft} ({:#x})", draft.setup_version())],
			None => listed().map(|d| format!("{d} ({:#x})", d.setup_version())).collect(),
		};
		SetupRefusal::new(
			termination::VERSION_NEGOTIATION_FAILED,
			format!(
				"no common moq-transport version: the client offered [{}], the relay speaks {}",
				offered.join(", "),
				speaks.join(", ")
			),
		)
	})
}

/// The connection target (`path[?query]`) of a CLIENT_SETUP's (or draft-18 SETUP's) parameters
/// on a binding: the PATH parameter on raw QUIC (absent: the root), `url` on a binding that
/// carries one. PATH or AUTHORITY on such a binding is INVALID_PATH / INVALID_AUTHORITY (draft-14
/// §9.3.2.1-2); a PATH that does not start with `/` is MALFORMED_PATH.
pub fn target(params: &SetupParameters, binding: Binding, url: Option<&str>) -> Result<String, SetupRefusal> {
	match binding {
		Binding::Url => {
			if params.path().is_some() {
				return Err(SetupRefusal::new(
					termination::INVALID_PATH,
					"SETUP PATH on a binding that carries a URL",
				));
			}
			if params.authority().is_some() {
				return Err(SetupRefusal::new(
					termination::INVALID_AUTHORITY,
					"SETUP AUTHORITY on a binding that carries a URL",
				));
			}
			Ok(url.unwrap_or_default().to_string())
		}
		Binding::Quic => match params.path() {
			None => Ok(String::new()),
			Some(path) if path.starts_with('/') => Ok(path.to_string()),
			Some(_) => Err(SetupRefusal::new(
				termination::MALFORMED_PATH,
				"SETUP PATH must start with '/'",
			)),
		},
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::wire::VarInt;
	use crate::wire::ietf::{KeyValue, SetupParameters};

	fn setup(versions: &[u64], params: Vec<KeyValue>) -> ClientSetup {
		ClientSetup {
			versions: versions.iter().map(|v| VarInt::from_u64(*v).unwrap()).collect(),
			parameters: SetupParameters(params),
		}
	}

	#[test]
	fn identifiers() {
		assert_eq!(from_identifier("moq-00"), Some(Draft::Draft14));
		assert_eq!(from_identifier("moq-lite-05"), None);
		assert_eq!(from_identifier("moqt-16"), Some(Draft::Draft16));
		assert_eq!(from_identifier("moqt-15"), Some(Draft::Draft15));
		assert_eq!(from_identifier("moqt-13"), None);
		assert_eq!(from_identifier("moqt-18"), Some(Draft::Draft18));
		assert_eq!(from_identifier("moqt-17"), Some(Draft::Draft17));
		assert_eq!(from_identifier("moqt-19"), Some(Draft::Draft19));
		assert_eq!(from_identifier("moqt-20"), Some(Draft::Draft20));
		assert_eq!(from_identifier("moqt-21"), Some(Draft::Draft21));
		assert_eq!(from_identifier("moqt-22"), Some(Draft::Draft22));
	}

	#[test]
	fn choosing_a_draft() {
		let d14 = Draft::Draft14.setup_version();
		assert_eq!(choose(&setup(&[0xff00_000d, d14], vec![]), None), Ok(Draft::Draft14));
		assert_eq!(choose(&setup(&[d14], vec![]), Some(Draft::Draft14)), Ok(Draft::Draft14));
		let refused = choose(&setup(&[0xff00_000d, 0xff00_0010], vec![]), None).unwrap_err();
		assert_eq!(refused.code, termination::VERSION_NEGOTIATION_FAILED);
		assert_eq!(
			refused.reason,
			"no common moq-transport version: the client offered [0xff00000d, 0xff000010], \
			 the relay speaks moq-transport-14 (0xff00000e)"
		);
		// Draft-16's CLIENT_SETUP lists no version: its identifier alone decides.
		assert_eq!(choose(&setup(&[], vec![]), Some(Draft::Draft16)), Ok(Draft::Draft16));
		// And a draft-14 CLIENT_SETUP cannot ask for it, since it would then be read in the
		// wrong form (the refusal above lists 0xff000010 and names draft-14 only).
		// The ALPN said draft-14 but the SETUP does not offer it.
		let refused = choose(&setup(&[0xff00_000d], vec![]), Some(Draft::Draft14)).unwrap_err();
		assert_eq!(refused.code, termination::VERSION_NEGOTIATION_FAILED);
	}

	#[test]
	fn targets() {
		let d14 = Draft::Draft14.setup_version();
		let path = |p: &str| KeyValue::bytes(1, p.as_bytes().to_vec());
		assert_eq!(
			target(
				&setup(&[d14], vec![path("/anon?jwt=x")]).parameters,
				Binding::Quic,
				None
			)
			.unwrap(),
			"/anon?jwt=x"
		);
		assert_eq!(
			target(&setup(&[d14], vec![]).parameters, Binding::Quic, None).unwrap(),
			""
		);
		assert_eq!(
			target(&setup(&[d14], vec![path("anon")]).parameters, Binding::Quic, None)
				.unwrap_err()
				.code,
			termination::MALFORMED_PATH
		);
		assert_eq!(
			target(&setup(&[d14], vec![]).parameters, Binding::Url, Some("/anon")).unwrap(),
			"/anon"
		);
		assert_eq!(
			target(&setup(&[d14], vec![path("/x")]).parameters, Binding::Url, Some("/anon"))
				.unwrap_err()
				.code,
			termination::INVALID_PATH
		);
		let authority = KeyValue::bytes(5, &b"relay"[..]);
		assert_eq!(
			target(&setup(&[d14], vec![authority]).parameters, Binding::Url, Some("/anon"))
				.unwrap_err()
				.code,
			termination::INVALID_AUTHORITY
		);
	}
}
