//! The draft-14 error code registries (draft-14 §13.1): session termination
//! codes and the request refusal codes, each in its own space.

use crate::SessionCode;

/// Session termination codes (draft-14 §3.4). The numbers the moq-lite
/// registry shares (0x0–0x3, 0x6, 0x10, 0x11, 0x15) mean the same there.
pub mod termination {
	use super::SessionCode;

	/// 0x0 NO_ERROR.
	pub const NO_ERROR: SessionCode = SessionCode::from_u32(0x0);
	/// 0x1 INTERNAL_ERROR.
	pub const INTERNAL_ERROR: SessionCode = SessionCode::from_u32(0x1);
	/// 0x2 UNAUTHORIZED: the credentials do not allow this session.
	pub const UNAUTHORIZED: SessionCode = SessionCode::from_u32(0x2);
	/// 0x3 PROTOCOL_VIOLATION.
	pub const PROTOCOL_VIOLATION: SessionCode = SessionCode::from_u32(0x3);
	/// 0x4 INVALID_REQUEST_ID.
	pub const INVALID_REQUEST_ID: SessionCode = SessionCode::from_u32(0x4);
	/// 0x5 DUPLICATE_TRACK_ALIAS.
	pub const DUPLICATE_TRACK_ALIAS: SessionCode = SessionCode::from_u32(0x5);
	/// 0x6 KEY_VALUE_FORMATTING_ERROR.
	pub const KEY_VALUE_FORMATTING_ERROR: SessionCode = SessionCode::from_u32(0x6);
	/// 0x7 TOO_MANY_REQUESTS: a Request ID at or over the Maximum Request ID.
	pub const TOO_MANY_REQUESTS: SessionCode = SessionCode::from_u32(0x7);
	/// 0x8 INVALID_PATH.
	pub const INVALID_PATH: SessionCode = SessionCode::from_u32(0x8);
	/// 0x9 MALFORMED_PATH.
	pub const MALFORMED_PATH: SessionCode = SessionCode::from_u32(0x9);
	/// 0x10 GOAWAY_TIMEOUT.
	pub const GOAWAY_TIMEOUT: SessionCode = SessionCode::from_u32(0x10);
	/// 0x11 CONTROL_MESSAGE_TIMEOUT.
	pub const CONTROL_MESSAGE_TIMEOUT: SessionCode = SessionCode::from_u32(0x11);
	/// 0x12 DATA_STREAM_TIMEOUT.
	pub const DATA_STREAM_TIMEOUT: SessionCode = SessionCode::from_u32(0x12);
	/// 0x13 AUTH_TOKEN_CACHE_OVERFLOW: a REGISTER beyond MAX_AUTH_TOKEN_CACHE_SIZE.
	pub const AUTH_TOKEN_CACHE_OVERFLOW: SessionCode = SessionCode::from_u32(0x13);
	/// 0x14 DUPLICATE_AUTH_TOKEN_ALIAS: a REGISTER of a live alias.
	pub const DUPLICATE_AUTH_TOKEN_ALIAS: SessionCode = SessionCode::from_u32(0x14);
	/// 0x15 VERSION_NEGOTIATION_FAILED.
	pub const VERSION_NEGOTIATION_FAILED: SessionCode = SessionCode::from_u32(0x15);
	/// 0x16 MALFORMED_AUTH_TOKEN.
	pub const MALFORMED_AUTH_TOKEN: SessionCode = SessionCode::from_u32(0x16);
	/// 0x17 UNKNOWN_AUTH_TOKEN_ALIAS.
	pub const UNKNOWN_AUTH_TOKEN_ALIAS: SessionCode = SessionCode::from_u32(0x17);
	/// 0x18 EXPIRED_AUTH_TOKEN.
	pub const EXPIRED_AUTH_TOKEN: SessionCode = SessionCode::from_u32(0x18);
	/// 0x19 INVALID_AUTHORITY.
	pub const INVALID_AUTHORITY: SessionCode = SessionCode::from_u32(0x19);
	/// 0x1A MALFORMED_AUTHORITY.
	pub const MALFORMED_AUTHORITY: SessionCode = SessionCode::from_u32(0x1A);

	/// Code, name: the whole registry.
	pub const TABLE: [(SessionCode, &str); 21] = [
		(NO_ERROR, "NO_ERROR"),
		(INTERNAL_ERROR, "INTERNAL_ERROR"),
		(UNAUTHORIZED, "UNAUTHORIZED"),
		(PROTOCOL_VIOLATION, "PROTOCOL_VIOLATION"),
		(INVALID_REQUEST_ID, "INVALID_REQUEST_ID"),
		(DUPLICATE_TRACK_ALIAS, "DUPLICATE_TRACK_ALIAS"),
		(KEY_VALUE_FORMATTING_ERROR, "KEY_VALUE_FORMATTING_ERROR"),
		(TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS"),
		(INVALID_PATH, "INVALID_PATH"),
		(MALFORMED_PATH, "MALFORMED_PATH"),
		(GOAWAY_TIMEOUT, "GOAWAY_TIMEOUT"),
		(CONTROL_MESSAGE_TIMEOUT, "CONTROL_MESSAGE_TIMEOUT"),
		(DATA_STREAM_TIMEOUT, "DATA_STREAM_TIMEOUT"),
		(AUTH_TOKEN_CACHE_OVERFLOW, "AUTH_TOKEN_CACHE_OVERFLOW"),
		(DUPLICATE_AUTH_TOKEN_ALIAS, "DUPLICATE_AUTH_TOKEN_ALIAS"),
		(VERSION_NEGOTIATION_FAILED, "VERSION_NEGOTIATION_FAILED"),
		(MALFORMED_AUTH_TOKEN, "MALFORMED_AUTH_TOKEN"),
		(UNKNOWN_AUTH_TOKEN_ALIAS, "UNKNOWN_AUTH_TOKEN_ALIAS"),
		(EXPIRED_AUTH_TOKEN, "EXPIRED_AUTH_TOKEN"),
		(INVALID_AUTHORITY, "INVALID_AUTHORITY"),
		(MALFORMED_AUTHORITY, "MALFORMED_AUTHORITY"),
	];

	/// The registered name of a termination code.
	pub fn name(code: SessionCode) -> Option<&'static str> {
		TABLE.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
	}
}

/// The Error Code of a refusal ([`RequestError`](super::RequestError)):
/// draft-14 §13.1.2–§13.1.7. Each message's registry starts with these; the
/// numbers after them differ per message (see each constant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestErrorCode;

impl RequestErrorCode {
	/// 0x0 INTERNAL_ERROR (every registry).
	pub const INTERNAL_ERROR: u32 = 0x0;
	/// 0x1 UNAUTHORIZED (every registry).
	pub const UNAUTHORIZED: u32 = 0x1;
	/// 0x2 TIMEOUT (every registry).
	pub const TIMEOUT: u32 = 0x2;
	/// 0x3 NOT_SUPPORTED (every registry).
	pub const NOT_SUPPORTED: u32 = 0x3;
	/// 0x4 TRACK_DOES_NOT_EXIST (SUBSCRIBE_ERROR, FETCH_ERROR, TRACK_STATUS_ERROR);
	/// UNINTERESTED in PUBLISH_NAMESPACE_ERROR and PUBLISH_ERROR;
	/// NAMESPACE_PREFIX_UNKNOWN in SUBSCRIBE_NAMESPACE_ERROR.
	pub const DOES_NOT_EXIST: u32 = 0x4;
	/// 0x5 INVALID_RANGE (SUBSCRIBE_ERROR, FETCH_ERROR).
	pub const INVALID_RANGE: u32 = 0x5;
	/// 0x10 MALFORMED_AUTH_TOKEN (every request registry).
	pub const MALFORMED_AUTH_TOKEN: u32 = 0x10;
	/// 0x12 EXPIRED_AUTH_TOKEN (every request registry).
	pub const EXPIRED_AUTH_TOKEN: u32 = 0x12;
}

/// PUBLISH_DONE Status Codes (draft-14 §13.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PublishDoneCode;

impl PublishDoneCode {
	/// 0x0 INTERNAL_ERROR.
	pub const INTERNAL_ERROR: u32 = 0x0;
	/// 0x1 UNAUTHORIZED.
	pub const UNAUTHORIZED: u32 = 0x1;
	/// 0x2 TRACK_ENDED.
	pub const TRACK_ENDED: u32 = 0x2;
	/// 0x3 SUBSCRIPTION_ENDED.
	pub const SUBSCRIPTION_ENDED: u32 = 0x3;
	/// 0x4 GOING_AWAY.
	pub const GOING_AWAY: u32 = 0x4;
	/// 0x5 EXPIRED.
	pub const EXPIRED: u32 = 0x5;
	/// 0x6 TOO_FAR_BEHIND.
	pub const TOO_FAR_BEHIND: u32 = 0x6;
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn registry_numbers() {
		let numbers: Vec<u32> = termination::TABLE.iter().map(|(c, _)| c.into_inner()).collect();
		assert_eq!(
			numbers,
			[
				0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0x9, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
				0x19, 0x1A
			]
		);
		assert_eq!(
			termination::name(termination::EXPIRED_AUTH_TOKEN),
			Some("EXPIRED_AUTH_TOKEN")
		);
		// The shared numbers agree with the moq-lite registry.
		assert_eq!(termination::UNAUTHORIZED, SessionCode::UNAUTHORIZED);
		assert_eq!(termination::PROTOCOL_VIOLATION, SessionCode::PROTOCOL_VIOLATION);
		assert_eq!(
			termination::KEY_VALUE_FORMATTING_ERROR,
			SessionCode::KEY_VALUE_FORMATTING
		);
		assert_eq!(
			termination::VERSION_NEGOTIATION_FAILED,
			SessionCode::VERSION_NEGOTIATION
		);
	}
}
