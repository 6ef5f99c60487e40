//! The AUTHORIZATION TOKEN value (draft-14 §9.2.1.1): a Token structure with
//! an optional session-scoped alias.

use std::fmt;

use bytes::{Buf, BufMut, Bytes};

use super::coding::{AUTHORIZATION_TOKEN, KeyValue, get_var_in, put_var_in};
use super::draft::Draft;
use crate::{DecodeError, EncodeError, VarInt};

/// Token Type 0: a format agreed out of band (the relay reads a MoQ JWT, an
/// API key or a client secret, as it would from `?jwt=`).
pub const TOKEN_TYPE_OUT_OF_BAND: VarInt = VarInt::ZERO;

/// The Token structure, `Alias Type (i) | [Token Alias (i)] | [Token Type (i)] | [Token Value (..)]`.
///
/// The Token Value runs to the end of the parameter. Its `Debug` prints the
/// value's length only: a token is a credential.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthToken {
	/// 0x0 DELETE: retire the alias and the token registered with it.
	Delete {
		/// The alias.
		alias: VarInt,
	},
	/// 0x1 REGISTER: use this token and remember it under the alias.
	Register {
		/// The alias.
		alias: VarInt,
		/// The Token Type.
		token_type: VarInt,
		/// The Token Value.
		value: Bytes,
	},
	/// 0x2 USE_ALIAS: use the token registered under the alias.
	UseAlias {
		/// The alias.
		alias: VarInt,
	},
	/// 0x3 USE_VALUE: use this token once.
	UseValue {
		/// The Token Type.
		token_type: VarInt,
		/// The Token Value.
		value: Bytes,
	},
}

impl fmt::Debug for AuthToken {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		match self {
			Self::Delete { alias } => write!(f, "Delete {{ alias: {alias} }}"),
			Self::Register {
				alias,
				token_type,
				value,
			} => write!(
				f,
				"Register {{ alias: {alias}, token_type: {token_type}, value: <{} bytes> }}",
				value.len()
			),
			Self::UseAlias { alias } => write!(f, "UseAlias {{ alias: {alias} }}"),
			Self::UseValue { token_type, value } => write!(
				f,
				"UseValue {{ token_type: {token_type}, value: <{} bytes> }}",
				value.len()
			),
		}
	}
}

impl AuthToken {
	/// The size the token takes in the alias cache (draft-14 §9.3.2.4: "16 bytes
	/// + the size of the Token Value"); 0 for the types that register nothing.
	pub fn cache_size(&self) -> u64 {
		match self {
			Self::Register { value, .. } => 16 + value.len() as u64,
			_ => 0,
		}
	}

	/// Reads a Token structure that fills `value` exactly.
	///
	/// A structure that cannot be read is [`DecodeError::InvalidParameter`]:
	/// draft-14 §9.2.1.1, "the receiver MUST close the Session with Key-Value
	/// Formatting error".
	pub fn decode_value(value: &[u8]) -> Result<Self, DecodeError> {
		Self::decode_value_in(value, Draft::Draft14)
	}

	/// [`decode_value`](Self::decode_value) in `draft`'s integers (draft-18's Token
	/// fields are leading-ones integers, `vi64` in draft-18 §10.2.2).
	pub fn decode_value_in(value: &[u8], draft: Draft) -> Result<Self, DecodeError> {
		let malformed = |reason| DecodeError::InvalidParameter {
			id: AUTHORIZATION_TOKEN,
			reason,
		};
		let mut buf = value;
		let var = |buf: &mut &[u8]| get_var_in(buf, draft).map_err(|_| malformed("the Token structure is cut short"));
		let token = match var(&mut buf)?.into_inner() {
			0x0 => Self::Delete { alias: var(&mut buf)? },
			0x1 => {
				let alias = var(&mut buf)?;
				let token_type = var(&mut buf)?;
				Self::Register {
					alias,
					token_type,
					value: Bytes::copy_from_slice(buf),
				}
			}
			0x2 => Self::UseAlias { alias: var(&mut buf)? },
			0x3 => {
				let token_type = var(&mut buf)?;
				Self::UseValue {
					token_type,
					value: Bytes::copy_from_slice(buf),
				}
			}
			_ => return Err(malformed("unknown Alias Type")),
		};
		if matches!(token, Self::Delete { .. } | Self::UseAlias { .. }) && buf.has_remaining() {
			return Err(malformed("bytes after the Token Alias"));
		}
		Ok(token)
	}

	/// Reads the Token of an AUTHORIZATION TOKEN parameter.
	pub fn from_parameter(pair: &KeyValue) -> Result<Self, DecodeError> {
		Self::from_parameter_in(pair, Draft::Draft14)
	}

	/// [`from_parameter`](Self::from_parameter) in `draft`'s integers.
	pub fn from_parameter_in(pair: &KeyValue, draft: Draft) -> Result<Self, DecodeError> {
		match pair.as_bytes() {
			Some(value) => Self::decode_value_in(value, draft),
			// An odd type always decodes to bytes.
			None => Err(DecodeError::InvalidParameter {
				id: pair.key,
				reason: "AUTHORIZATION TOKEN is not a byte value",
			}),
		}
	}

	/// The Token structure's bytes (the parameter's value).
	pub fn encode_value(&self) -> Vec<u8> {
		self.encode_value_in(Draft::Draft14)
	}

	/// [`encode_value`](Self::encode_value) in `draft`'s integers.
	pub fn encode_value_in(&self, draft: Draft) -> Vec<u8> {
		let mut out = Vec::new();
		match self {
			Self::Delete { alias } => {
				put_var_in(&mut out, draft, VarInt::ZERO);
				put_var_in(&mut out, draft, *alias);
			}
			Self::Register {
				alias,
				token_type,
				value,
			} => {
				put_var_in(&mut out, draft, VarInt::from_u32(1));
				put_var_in(&mut out, draft, *alias);
				put_var_in(&mut out, draft, *token_type);
				out.put_slice(value);
			}
			Self::UseAlias { alias } => {
				put_var_in(&mut out, draft, VarInt::from_u32(2));
				put_var_in(&mut out, draft, *alias);
			}
			Self::UseValue { token_type, value } => {
				put_var_in(&mut out, draft, VarInt::from_u32(3));
				put_var_in(&mut out, draft, *token_type);
				out.put_slice(value);
			}
		}
		out
	}

	/// The AUTHORIZATION TOKEN parameter carrying this token.
	pub fn to_parameter(&self) -> Result<KeyValue, EncodeError> {
		let value = self.encode_value();
		let pair = KeyValue::bytes(0x3, value);
		// Checks the 2^16-1 limit.
		pair.encode(&mut Vec::new())?;
		Ok(pair)
	}
}

#[cfg(test)]
pub(crate) mod tests {
	use proptest::prelude::*;

	use super::*;
	use crate::strategy;

	#[test]
	fn alias_types() {
		let use_value = AuthToken::decode_value(&[0x03, 0x00, b'j', b'w', b't']).unwrap();
		assert_eq!(
			use_value,
			AuthToken::UseValue {
				token_type: VarInt::ZERO,
				value: Bytes::from_static(b"jwt")
			}
		);
		assert_eq!(use_value.cache_size(), 0);
		let register = AuthToken::decode_value(&[0x01, 0x07, 0x00, b'x']).unwrap();
		assert_eq!(register.cache_size(), 17);
		assert_eq!(
			AuthToken::decode_value(&[0x02, 0x07]).unwrap(),
			AuthToken::UseAlias {
				alias: VarInt::from_u32(7)
			}
		);
		assert_eq!(
			AuthToken::decode_value(&[0x00, 0x07]).unwrap(),
			AuthToken::Delete {
				alias: VarInt::from_u32(7)
			}
		);
		// Malformed: unknown type, cut short, bytes after an alias.
		for bad in [&[0x04, 0x00][..], &[0x01, 0x07], &[0x02], &[0x00, 0x07, 0x00], &[]] {
			let err = AuthToken::decode_value(bad).unwrap_err();
			assert_eq!(
				err.disposition(),
				crate::Disposition::CloseSession(crate::SessionCode::KEY_VALUE_FORMATTING),
				"{bad:02x?}"
			);
		}
	}

	#[test]
	fn debug_hides_the_value() {
		let token = AuthToken::UseValue {
			token_type: VarInt::ZERO,
			value: Bytes::from_static(b"eyJsecret"),
		};
		let printed = format!("{token:?}");
		assert!(!printed.contains("eyJ"), "{printed}");
	}

	pub(crate) fn token() -> impl Strategy<Value = AuthToken> {
		prop_oneof![
			strategy::varint().prop_map(|alias| AuthToken::Delete { alias }),
			(strategy::varint(), strategy::varint(), strategy::payload()).prop_map(|(alias, token_type, value)| {
				AuthToken::Register {
					alias,
					token_type,
					value,
				}
			}),
			strategy::varint().prop_map(|alias| AuthToken::UseAlias { alias }),
			(strategy::varint(), strategy::payload())
				.prop_map(|(token_type, value)| AuthToken::UseValue { token_type, value }),
		]
	}

	proptest! {
		#[test]
		fn round_trip(token in token()) {
			let bytes = token.encode_value();
			prop_assert_eq!(AuthToken::decode_value(&bytes).unwrap(), token);
		}
	}
}
