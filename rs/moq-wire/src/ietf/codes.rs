//! The draft-14 error code registries (draft-14 §13.1): session termination
//! codes and the request refusal codes, each in its own space; and the stream
//! reset codes of every draft ([`stream_code`]), which grew across them.

use super::Draft;
use crate::{SessionCode, StreamCode};

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
	/// 0x7 INVALID_REQUIRED_REQUEST_ID, draft-17's only (its registry gave TOO_MANY_REQUESTS's
	/// number to it): a Required Request ID Delta whose double is more than the Request ID.
	pub const INVALID_REQUIRED_REQUEST_ID: SessionCode = SessionCode::from_u32(0x7);
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

/// The codes of RESET_STREAM and STOP_SENDING on an IETF draft's streams, and how the moq-lite
/// [`StreamCode`]s the relay's origin carries map onto them. The registry grew across the drafts,
/// and moved a value, as the published client (moq-net 0.3.18) reads them:
///
/// | code | draft-14, -15 | draft-16 | draft-17 | draft-18 on |
/// |---|---|---|---|---|
/// | 0x0 | INTERNAL_ERROR | INTERNAL_ERROR | INTERNAL_ERROR | INTERNAL_ERROR |
/// | 0x1 | CANCELLED | CANCELLED | CANCELLED | CANCELLED |
/// | 0x2 | DELIVERY_TIMEOUT | DELIVERY_TIMEOUT | DELIVERY_TIMEOUT | DELIVERY_TIMEOUT |
/// | 0x3 | SESSION_CLOSED | SESSION_CLOSED | SESSION_CLOSED | SESSION_CLOSED |
/// | 0x4 | - | UNKNOWN_OBJECT_STATUS | UNKNOWN_OBJECT_STATUS | GOING_AWAY |
/// | 0x5 | - | - | TOO_FAR_BEHIND | TOO_FAR_BEHIND |
/// | 0x7 | - | - | - | EXPIRED_AUTH_TOKEN |
/// | 0x12 | - | MALFORMED_TRACK | MALFORMED_TRACK | MALFORMED_TRACK |
pub mod stream_code {
	use super::{Draft, StreamCode};

	/// 0x0 INTERNAL_ERROR: the stream ended on the sender's side with no code for why.
	pub const INTERNAL_ERROR: u32 = 0x0;
	/// 0x1 CANCELLED: a routine end by either side, not a failure.
	pub const CANCELLED: u32 = 0x1;
	/// 0x2 DELIVERY_TIMEOUT.
	pub const DELIVERY_TIMEOUT: u32 = 0x2;
	/// 0x3 SESSION_CLOSED.
	pub const SESSION_CLOSED: u32 = 0x3;
	/// 0x4 GOING_AWAY from draft-18 on (UNKNOWN_OBJECT_STATUS on draft-16 and draft-17).
	pub const GOING_AWAY: u32 = 0x4;
	/// 0x5 TOO_FAR_BEHIND, draft-17 on.
	pub const TOO_FAR_BEHIND: u32 = 0x5;
	/// 0x7 EXPIRED_AUTH_TOKEN, draft-18 on: the request's authorization token expired.
	pub const EXPIRED_AUTH_TOKEN: u32 = 0x7;
	/// 0x12 MALFORMED_TRACK, draft-16 on.
	pub const MALFORMED_TRACK: u32 = 0x12;

	/// The code to cancel a request whose authorization token expired with: EXPIRED_AUTH_TOKEN
	/// from draft-18 on, CANCELLED before (the earlier drafts have no such code).
	pub fn expired_auth_token(draft: Draft) -> u32 {
		match draft.number() >= 18 {
			true => EXPIRED_AUTH_TOKEN,
			false => CANCELLED,
		}
	}

	fn going_away(draft: Draft) -> bool {
		draft.number() >= 18
	}

	fn too_far_behind(draft: Draft) -> bool {
		draft.number() >= 17
	}

	fn malformed_track(draft: Draft) -> bool {
		draft.number() >= 16
	}

	/// The code to reset (or stop) a stream with on `draft` for the moq-lite `code`: the same
	/// condition where the draft has it; a deliberate discard (a group too old, or evicted) is
	/// CANCELLED; anything the draft has no code for is INTERNAL_ERROR (never a number the
	/// draft gives another meaning, or none).
	pub fn to_draft(code: StreamCode, draft: Draft) -> u32 {
		match code {
			StreamCode::CANCEL | StreamCode::OLD | StreamCode::EVICTED => CANCELLED,
			StreamCode::DELIVERY_TIMEOUT => DELIVERY_TIMEOUT,
			StreamCode::SESSION_CLOSED => SESSION_CLOSED,
			StreamCode::GOING_AWAY if going_away(draft) => GOING_AWAY,
			StreamCode::TOO_FAR_BEHIND if too_far_behind(draft) => TOO_FAR_BEHIND,
			StreamCode::MALFORMED_TRACK if malformed_track(draft) => MALFORMED_TRACK,
			_ => INTERNAL_ERROR,
		}
	}

	/// The moq-lite code for a reset (or stop) code a `draft` peer sent: what the draft says
	/// it means, and INTERNAL for a code it does not assign (or UNKNOWN_OBJECT_STATUS, which
	/// moq-lite has no code for).
	pub fn from_draft(code: u32, draft: Draft) -> StreamCode {
		match code {
			CANCELLED => StreamCode::CANCEL,
			DELIVERY_TIMEOUT => StreamCode::DELIVERY_TIMEOUT,
			SESSION_CLOSED => StreamCode::SESSION_CLOSED,
			GOING_AWAY if going_away(draft) => StreamCode::GOING_AWAY,
			TOO_FAR_BEHIND if too_far_behind(draft) => StreamCode::TOO_FAR_BEHIND,
			MALFORMED_TRACK if malformed_track(draft) => StreamCode::MALFORMED_TRACK,
			_ => StreamCode::INTERNAL,
		}
	}
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
	/// 0x8 UPDATE_FAILED (draft-16 on): a REQUEST_UPDATE the publisher could not apply ended the
	/// subscription.
	pub const UPDATE_FAILED: u32 = 0x8;
}

#[cfg(test)]
mod tests {
	use super::*;

	/// Each moq-lite code goes out as the draft's code for the same condition, or as one the
	/// draft assigns no other meaning: 0x4 is GOING_AWAY only from draft-18 on, 0x5 and 0x12
	/// only where they exist; and a peer's codes come back as what its draft says.
	#[test]
	fn stream_codes_per_draft() {
		use stream_code::*;
		let d = |n: u32| Draft::ALL.into_iter().find(|d| d.number() == n).unwrap();
		let cases = [
			(StreamCode::CANCEL, [CANCELLED; 5]),
			(StreamCode::OLD, [CANCELLED; 5]),
			(StreamCode::EVICTED, [CANCELLED; 5]),
			(StreamCode::INTERNAL, [INTERNAL_ERROR; 5]),
			(StreamCode::DELIVERY_TIMEOUT, [DELIVERY_TIMEOUT; 5]),
			(StreamCode::SESSION_CLOSED, [SESSION_CLOSED; 5]),
			(StreamCode::GOING_AWAY, [0, 0, 0, 0, GOING_AWAY]),
			(StreamCode::TOO_FAR_BEHIND, [0, 0, 0, TOO_FAR_BEHIND, TOO_FAR_BEHIND]),
			(
				StreamCode::MALFORMED_TRACK,
				[0, 0, MALFORMED_TRACK, MALFORMED_TRACK, MALFORMED_TRACK],
			),
			(StreamCode::NOT_FOUND, [INTERNAL_ERROR; 5]),
			(StreamCode::GROUP_TOO_LARGE, [INTERNAL_ERROR; 5]),
			(StreamCode::app(9), [INTERNAL_ERROR; 5]),
		];
		for (code, expected) in cases {
			let got = [14, 15, 16, 17, 18].map(|n| to_draft(code, d(n)));
			assert_eq!(got, expected, "{code:?}");
			// Later drafts read as draft-18.
			assert_eq!(to_draft(code, Draft::Draft22), expected[4], "{code:?}");
		}
		// 0x4 from a draft-16 or draft-17 peer is UNKNOWN_OBJECT_STATUS, not GOING_AWAY.
		assert_eq!(from_draft(0x4, Draft::Draft17), StreamCode::INTERNAL);
		assert_eq!(from_draft(0x4, Draft::Draft18), StreamCode::GOING_AWAY);
		assert_eq!(from_draft(0x5, Draft::Draft16), StreamCode::INTERNAL);
		assert_eq!(from_draft(0x5, Draft::Draft17), StreamCode::TOO_FAR_BEHIND);
		assert_eq!(from_draft(0x12, Draft::Draft15), StreamCode::INTERNAL);
		assert_eq!(from_draft(0x12, Draft::Draft16), StreamCode::MALFORMED_TRACK);
		assert_eq!(from_draft(0x1, Draft::Draft14), StreamCode::CANCEL);
		assert_eq!(from_draft(0x34, Draft::Draft20), StreamCode::INTERNAL);
		// What goes out comes back as itself, or as INTERNAL where the draft has no code.
		for draft in Draft::ALL {
			for (code, _) in cases {
				let back = from_draft(to_draft(code, draft), draft);
				assert!(
					back == code || back == StreamCode::INTERNAL || back == StreamCode::CANCEL,
					"{draft} {code:?}"
				);
			}
		}
	}

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
