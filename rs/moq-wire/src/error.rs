//! Session close and stream reset codes (docs/protocol.md#error-codes), and the
//! one mapping from a [`DecodeError`] to what the session must do about it
//! (docs/protocol.md#decode-errors).
//!
//! As in the published moq-net 0.3.x crates, there are two separate registries:
//! the same number means different things in each, so each has its own newtype.

use std::fmt;

use super::coding::DecodeError;

/// Codes at or above this are the application's: `64 + N`.
const APP_BASE: u32 = 64;

/// A session close code (QUIC CONNECTION_CLOSE / WebTransport session close).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionCode(u32);

/// A stream RESET_STREAM / STOP_SENDING code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamCode(u32);

impl SessionCode {
	/// 0x0: cancel / normal close, no error.
	pub const CANCEL: Self = Self(0x0);
	/// 0x1: something went wrong that has no dedicated code.
	pub const INTERNAL: Self = Self(0x1);
	/// 0x2: the peer's credentials do not allow this session.
	pub const UNAUTHORIZED: Self = Self(0x2);
	/// 0x3: the peer broke a protocol rule; the session is unusable.
	pub const PROTOCOL_VIOLATION: Self = Self(0x3);
	/// 0x6: a key-value pair (SETUP parameter) was malformed.
	pub const KEY_VALUE_FORMATTING: Self = Self(0x6);
	/// 0x10: the peer did not close within the GOAWAY drain deadline.
	pub const GOAWAY_TIMEOUT: Self = Self(0x10);
	/// 0x11: a control message took too long.
	pub const TIMEOUT: Self = Self(0x11);
	/// 0x15: no version could be negotiated.
	pub const VERSION_NEGOTIATION: Self = Self(0x15);

	/// The table of registered codes: code, name, meaning.
	pub const TABLE: [(Self, &'static str, &'static str); 8] = [
		(Self::CANCEL, "CANCEL", "the session ended normally"),
		(Self::INTERNAL, "INTERNAL", "an internal error"),
		(Self::UNAUTHORIZED, "UNAUTHORIZED", "the credentials do not allow this"),
		(
			Self::PROTOCOL_VIOLATION,
			"PROTOCOL_VIOLATION",
			"the peer broke a protocol rule",
		),
		(
			Self::KEY_VALUE_FORMATTING,
			"KEY_VALUE_FORMATTING",
			"a SETUP parameter was malformed",
		),
		(
			Self::GOAWAY_TIMEOUT,
			"GOAWAY_TIMEOUT",
			"the peer did not leave after GOAWAY in time",
		),
		(Self::TIMEOUT, "TIMEOUT", "a control message took too long"),
		(Self::VERSION_NEGOTIATION, "VERSION_NEGOTIATION", "no common version"),
	];

	/// An application code: `64 + n` on the wire.
	pub const fn app(n: u16) -> Self {
		Self(APP_BASE + n as u32)
	}

	/// The code received off the wire, registered or not.
	pub const fn from_u32(code: u32) -> Self {
		Self(code)
	}

	/// The number sent on the wire.
	pub const fn into_inner(self) -> u32 {
		self.0
	}

	/// The registered name, if any.
	pub fn name(self) -> Option<&'static str> {
		Self::TABLE.iter().find(|(c, ..)| *c == self).map(|(_, name, _)| *name)
	}

	/// A plain-English meaning, if registered.
	pub fn meaning(self) -> Option<&'static str> {
		Self::TABLE.iter().find(|(c, ..)| *c == self).map(|(.., m)| *m)
	}
}

impl StreamCode {
	/// 0x0: something went wrong that has no dedicated code.
	pub const INTERNAL: Self = Self(0x0);
	/// 0x1: the sender is done with the stream (a routine cancel or refusal).
	pub const CANCEL: Self = Self(0x1);
	/// 0x2: the content missed its delivery deadline.
	pub const DELIVERY_TIMEOUT: Self = Self(0x2);
	/// 0x3: the session closed, taking the stream with it.
	pub const SESSION_CLOSED: Self = Self(0x3);
	/// 0x4: the session is going away (GOAWAY).
	pub const GOING_AWAY: Self = Self(0x4);
	/// 0x5: the reader fell too far behind.
	pub const TOO_FAR_BEHIND: Self = Self(0x5);
	/// 0x12: the track's content could not be parsed.
	pub const MALFORMED_TRACK: Self = Self(0x12);
	/// 0x31: a control request was not answered in time.
	pub const CONTROL_TIMEOUT: Self = Self(0x31);
	/// 0x32: a group grew past its cache budget.
	pub const GROUP_TOO_LARGE: Self = Self(0x32);
	/// 0x33: the broadcast or track does not exist.
	pub const NOT_FOUND: Self = Self(0x33);
	/// 0x34: the group is old / expired.
	pub const OLD: Self = Self(0x34);
	/// 0x35: the group was evicted under memory pressure.
	pub const EVICTED: Self = Self(0x35);
	/// 0x36: there is no route to the broadcast.
	pub const UNROUTABLE: Self = Self(0x36);
	/// 0x37: a frame's payload disagreed with its declared size.
	pub const WRONG_SIZE: Self = Self(0x37);
	/// 0x38: a frame is larger than the receiver accepts.
	pub const FRAME_TOO_LARGE: Self = Self(0x38);
	/// 0x39: a frame timestamp does not match the track's timescale.
	pub const TIMESTAMP_MISMATCH: Self = Self(0x39);

	/// The table of registered codes: code, name, meaning.
	pub const TABLE: [(Self, &'static str, &'static str); 16] = [
		(Self::INTERNAL, "INTERNAL", "an internal error"),
		(Self::CANCEL, "CANCEL", "the sender is done with this stream"),
		(
			Self::DELIVERY_TIMEOUT,
			"DELIVERY_TIMEOUT",
			"the content missed its deadline",
		),
		(Self::SESSION_CLOSED, "SESSION_CLOSED", "the session closed"),
		(Self::GOING_AWAY, "GOING_AWAY", "the session is going away"),
		(Self::TOO_FAR_BEHIND, "TOO_FAR_BEHIND", "the reader fell too far behind"),
		(
			Self::MALFORMED_TRACK,
			"MALFORMED_TRACK",
			"the track could not be parsed",
		),
		(Self::CONTROL_TIMEOUT, "CONTROL_TIMEOUT", "a control request timed out"),
		(Self::GROUP_TOO_LARGE, "GROUP_TOO_LARGE", "the group is too large"),
		(Self::NOT_FOUND, "NOT_FOUND", "no such broadcast or track"),
		(Self::OLD, "OLD", "the group is old or expired"),
		(Self::EVICTED, "EVICTED", "the group was evicted"),
		(Self::UNROUTABLE, "UNROUTABLE", "no route to the broadcast"),
		(Self::WRONG_SIZE, "WRONG_SIZE", "the frame size was wrong"),
		(Self::FRAME_TOO_LARGE, "FRAME_TOO_LARGE", "the frame is too large"),
		(
			Self::TIMESTAMP_MISMATCH,
			"TIMESTAMP_MISMATCH",
			"the timestamp does not match the timescale",
		),
	];

	/// An application code: `64 + n` on the wire.
	pub const fn app(n: u16) -> Self {
		Self(APP_BASE + n as u32)
	}

	/// The code received off the wire, registered or not.
	pub const fn from_u32(code: u32) -> Self {
		Self(code)
	}

	/// The number sent on the wire.
	pub const fn into_inner(self) -> u32 {
		self.0
	}

	/// The registered name, if any.
	pub fn name(self) -> Option<&'static str> {
		Self::TABLE.iter().find(|(c, ..)| *c == self).map(|(_, name, _)| *name)
	}

	/// A plain-English meaning, if registered.
	pub fn meaning(self) -> Option<&'static str> {
		Self::TABLE.iter().find(|(c, ..)| *c == self).map(|(.., m)| *m)
	}
}

fn fmt_code(f: &mut fmt::Formatter<'_>, code: u32, name: Option<&str>) -> fmt::Result {
	match name {
		Some(name) => write!(f, "{name} ({code:#x})"),
		None if code >= APP_BASE => write!(f, "APP({}) ({code:#x})", code - APP_BASE),
		None => write!(f, "UNKNOWN ({code:#x})"),
	}
}

impl fmt::Display for SessionCode {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		fmt_code(f, self.0, self.name())
	}
}

impl fmt::Debug for SessionCode {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		write!(f, "SessionCode({self})")
	}
}

impl fmt::Display for StreamCode {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		fmt_code(f, self.0, self.name())
	}
}

impl fmt::Debug for StreamCode {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		write!(f, "StreamCode({self})")
	}
}

/// What a session driver does after a decode failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
	/// Nothing is wrong yet: buffer more bytes and decode again. (If the stream
	/// has already ended, the message was truncated: treat that as
	/// [`SessionCode::PROTOCOL_VIOLATION`].)
	NeedMoreBytes,
	/// Reset (and stop sending on) only this stream, with this code.
	ResetStream(StreamCode),
	/// Close the whole session with this code.
	CloseSession(SessionCode),
}

impl From<&DecodeError> for Disposition {
	fn from(err: &DecodeError) -> Self {
		match err {
			DecodeError::UnexpectedEnd => Disposition::NeedMoreBytes,
			// docs/protocol.md#streams: an unknown or disallowed type resets that
			// stream only. No registry code means "unknown stream"; CANCEL says we
			// are done with it without blaming anything else.
			DecodeError::UnknownStreamType { .. } => Disposition::ResetStream(StreamCode::CANCEL),
			// docs/protocol.md#setup: 0x6 KEY_VALUE_FORMATTING is for a SETUP
			// parameter whose value is not what its id requires.
			DecodeError::InvalidParameter { .. } => Disposition::CloseSession(SessionCode::KEY_VALUE_FORMATTING),
			// Draft-17 has a code of its own for it (draft-17, "Required Request ID").
			DecodeError::InvalidRequiredRequestId { .. } => {
				Disposition::CloseSession(crate::ietf::termination::INVALID_REQUIRED_REQUEST_ID)
			}
			// Our own bug, not the peer's: asking for a message the version lacks.
			DecodeError::NotInVersion { .. } => Disposition::CloseSession(SessionCode::INTERNAL),
			// docs/protocol.md#setup: a duplicate ID is a PROTOCOL_VIOLATION;
			// #announce-ids: so is an END/RESTART naming an unknown or retired id;
			// and every other malformed or forbidden input breaks a rule of
			// docs/protocol.md (#encoding, #message-framing, #limits, the messages).
			DecodeError::ShortBody { .. }
			| DecodeError::TrailingBytes { .. }
			| DecodeError::TooLarge { .. }
			| DecodeError::InvalidUtf8 { .. }
			| DecodeError::InvalidValue { .. }
			| DecodeError::DuplicateParameter { .. }
			| DecodeError::UnknownMessageType { .. }
			| DecodeError::UnknownAnnounceId { .. } => Disposition::CloseSession(SessionCode::PROTOCOL_VIOLATION),
		}
	}
}

impl DecodeError {
	/// What the session driver must do about this error on a stream.
	///
	/// A [`Datagram`](super::Datagram) that fails to decode is simply dropped
	/// (docs/protocol.md#datagrams), whatever this says.
	pub fn disposition(&self) -> Disposition {
		Disposition::from(self)
	}
}

#[cfg(test)]
mod tests {
	use super::super::{Direction, VarInt, Version};
	use super::*;

	#[test]
	fn registered_numbers_match_protocol_md() {
		let session: Vec<u32> = SessionCode::TABLE.iter().map(|(c, ..)| c.into_inner()).collect();
		assert_eq!(session, [0x0, 0x1, 0x2, 0x3, 0x6, 0x10, 0x11, 0x15]);
		let stream: Vec<u32> = StreamCode::TABLE.iter().map(|(c, ..)| c.into_inner()).collect();
		assert_eq!(
			stream,
			[
				0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0x12, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39
			]
		);
		assert_eq!(SessionCode::app(1).into_inner(), 65);
		assert_eq!(StreamCode::app(0).to_string(), "APP(0) (0x40)");
		assert_eq!(SessionCode::PROTOCOL_VIOLATION.to_string(), "PROTOCOL_VIOLATION (0x3)");
		assert_eq!(StreamCode::from_u32(0x20).to_string(), "UNKNOWN (0x20)");
		assert_eq!(SessionCode::from_u32(0x2).name(), Some("UNAUTHORIZED"));
		assert!(StreamCode::NOT_FOUND.meaning().is_some());
	}

	#[test]
	fn decode_errors_map_to_one_action() {
		assert_eq!(DecodeError::UnexpectedEnd.disposition(), Disposition::NeedMoreBytes);
		let unknown = DecodeError::UnknownStreamType {
			direction: Direction::Bidi,
			ty: VarInt::from_u32(9),
			version: Version::Lite05,
		};
		assert_eq!(unknown.disposition(), Disposition::ResetStream(StreamCode::CANCEL));
		let dup = DecodeError::DuplicateParameter {
			id: VarInt::from_u32(1),
		};
		assert_eq!(
			dup.disposition(),
			Disposition::CloseSession(SessionCode::PROTOCOL_VIOLATION)
		);
		let trailing = DecodeError::TrailingBytes {
			message: "GOAWAY",
			extra: 1,
		};
		assert_eq!(
			trailing.disposition(),
			Disposition::CloseSession(SessionCode::PROTOCOL_VIOLATION)
		);
		let param = DecodeError::InvalidParameter {
			id: VarInt::from_u32(4),
			reason: "trailing bytes",
		};
		assert_eq!(
			param.disposition(),
			Disposition::CloseSession(SessionCode::KEY_VALUE_FORMATTING)
		);
	}
}
