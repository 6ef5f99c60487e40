//! CLIENT_SETUP and SERVER_SETUP (draft-14 §9.3): the first message each side
//! sends on the control stream.

use bytes::{Buf, BufMut, Bytes};

use super::coding::{AUTHORIZATION_TOKEN, KeyValue, MAX_PARAMETERS, decode_control, decode_pair, encode_control};
use super::draft::{DecodeWith, Draft, EncodeWith};
use super::token::AuthToken;
use crate::coding::{BufExt, BufMutExt};
use crate::{DecodeError, EncodeError, VarInt};

const CLIENT_SETUP: VarInt = VarInt::from_u32(0x20);
const SERVER_SETUP: VarInt = VarInt::from_u32(0x21);

/// Most versions a CLIENT_SETUP may offer.
pub const MAX_SETUP_VERSIONS: usize = 64;

/// SETUP parameter types (draft-14 §9.3.2; MOQT_IMPLEMENTATION is 0x07 in the
/// published client, where the draft's text says 0x05, AUTHORITY's number).
pub mod setup_parameter {
	use crate::VarInt;

	/// PATH (odd): the `path-abempty[?query]` of a `moqt://` URI; raw QUIC only.
	pub const PATH: VarInt = VarInt::from_u32(0x1);
	/// MAX_REQUEST_ID (even): the initial Maximum Request ID; default 0.
	pub const MAX_REQUEST_ID: VarInt = VarInt::from_u32(0x2);
	/// AUTHORIZATION TOKEN (odd): a Token structure; may repeat.
	pub const AUTHORIZATION_TOKEN: VarInt = VarInt::from_u32(0x3);
	/// MAX_AUTH_TOKEN_CACHE_SIZE (even): bytes of registered tokens the sender stores; default 0.
	pub const MAX_AUTH_TOKEN_CACHE_SIZE: VarInt = VarInt::from_u32(0x4);
	/// AUTHORITY (odd): the authority of a `moqt://` URI; raw QUIC only.
	pub const AUTHORITY: VarInt = VarInt::from_u32(0x5);
	/// MOQT_IMPLEMENTATION (odd): the sender's name and version, UTF-8.
	pub const IMPLEMENTATION: VarInt = VarInt::from_u32(0x7);
}

use setup_parameter as sp;

/// The SETUP parameters, in wire order.
///
/// Decoding checks each known parameter's form: PATH, AUTHORITY and
/// MOQT_IMPLEMENTATION are UTF-8, AUTHORIZATION TOKEN a Token structure
/// (otherwise KEY_VALUE_FORMATTING_ERROR); every known parameter but
/// AUTHORIZATION TOKEN appears at most once (otherwise PROTOCOL_VIOLATION).
/// Unknown parameters are kept, meaningless, and may repeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupParameters(pub Vec<KeyValue>);

impl SetupParameters {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		let count = buf.get_var()?.into_inner();
		if count > MAX_PARAMETERS as u64 {
			return Err(DecodeError::TooLarge {
				what: "SETUP parameter count",
				len: count,
				max: MAX_PARAMETERS as u64,
			});
		}
		let mut pairs: Vec<KeyValue> = Vec::with_capacity(count as usize);
		let mut previous = VarInt::ZERO;
		for _ in 0..count {
			let pair = decode_pair(buf, draft, &mut previous)?;
			match pair.key {
				sp::PATH | sp::AUTHORITY | sp::IMPLEMENTATION => {
					let ok = pair.as_bytes().is_some_and(|b| std::str::from_utf8(b).is_ok());
					if !ok {
						return Err(DecodeError::InvalidParameter {
							id: pair.key,
							reason: "not valid UTF-8",
						});
					}
				}
				AUTHORIZATION_TOKEN => {
					AuthToken::from_parameter(&pair)?;
				}
				_ => {}
			}
			let unique = matches!(
				pair.key,
				sp::PATH | sp::MAX_REQUEST_ID | sp::MAX_AUTH_TOKEN_CACHE_SIZE | sp::AUTHORITY | sp::IMPLEMENTATION
			);
			if unique && pairs.iter().any(|p| p.key == pair.key) {
				return Err(DecodeError::DuplicateParameter { id: pair.key });
			}
			pairs.push(pair);
		}
		Ok(Self(pairs))
	}

	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		super::coding::Parameters(self.0.clone()).encode_with(buf, draft)
	}

	fn text(&self, key: VarInt) -> Option<&str> {
		let pair = self.0.iter().find(|p| p.key == key)?;
		// Checked on decode; a hand-built value that is not UTF-8 reads as absent.
		std::str::from_utf8(pair.as_bytes()?).ok()
	}

	fn int(&self, key: VarInt) -> Option<VarInt> {
		self.0.iter().find(|p| p.key == key).and_then(KeyValue::as_int)
	}

	/// PATH: `path[?query]`, as the client dialed it over raw QUIC.
	pub fn path(&self) -> Option<&str> {
		self.text(sp::PATH)
	}

	/// AUTHORITY: `host[:port]`.
	pub fn authority(&self) -> Option<&str> {
		self.text(sp::AUTHORITY)
	}

	/// MOQT_IMPLEMENTATION.
	pub fn implementation(&self) -> Option<&str> {
		self.text(sp::IMPLEMENTATION)
	}

	/// MAX_REQUEST_ID (absent means 0: the peer may send no request).
	pub fn max_request_id(&self) -> VarInt {
		self.int(sp::MAX_REQUEST_ID).unwrap_or(VarInt::ZERO)
	}

	/// MAX_AUTH_TOKEN_CACHE_SIZE (absent means 0: no aliases).
	pub fn max_auth_token_cache_size(&self) -> VarInt {
		self.int(sp::MAX_AUTH_TOKEN_CACHE_SIZE).unwrap_or(VarInt::ZERO)
	}

	/// Every AUTHORIZATION TOKEN, in wire order.
	pub fn auth_tokens(&self) -> impl Iterator<Item = Result<AuthToken, DecodeError>> + '_ {
		self.0
			.iter()
			.filter(|p| p.key == AUTHORIZATION_TOKEN)
			.map(AuthToken::from_parameter)
	}

	/// Appends a parameter (builder style).
	pub fn with(mut self, pair: KeyValue) -> Self {
		self.0.push(pair);
		self
	}
}

/// `CLIENT_SETUP = 0x20 | Length (16) | Number of Supported Versions (i) | Versions (i)… | Parameters`
/// on draft-14; `0x20 | Length (16) | Parameters` from draft-15 on, where the
/// transport's identifier names the version and `versions` is empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSetup {
	/// The versions offered, most preferred first (`0xff000000 + draft`).
	pub versions: Vec<VarInt>,
	/// The SETUP parameters.
	pub parameters: SetupParameters,
}

/// `SERVER_SETUP = 0x21 | Length (16) | Selected Version (i) | Parameters` on
/// draft-14; `0x21 | Length (16) | Parameters` from draft-15 on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSetup {
	/// The version chosen from the client's list; from draft-15 on not on the
	/// wire: decoding fills in the draft's own, and encoding refuses another.
	pub version: VarInt,
	/// The SETUP parameters.
	pub parameters: SetupParameters,
}

impl ClientSetup {
	/// The first offered draft this codec speaks.
	pub fn common_draft(&self) -> Option<Draft> {
		self.versions
			.iter()
			.find_map(|v| Draft::from_setup_version(v.into_inner()))
	}
}

fn expect_type(ty: VarInt, want: VarInt, message: &'static str) -> Result<(), DecodeError> {
	if ty == want {
		Ok(())
	} else {
		Err(DecodeError::UnknownMessageType { message, ty })
	}
}

impl DecodeWith<Draft> for ClientSetup {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		decode_control(buf, |ty, body: &mut Bytes| {
			expect_type(ty, CLIENT_SETUP, "CLIENT_SETUP")?;
			if !draft.setup_names_version() {
				let parameters = SetupParameters::decode(body, draft)?;
				return Ok(Self {
					versions: Vec::new(),
					parameters,
				});
			}
			let count = body.get_var()?.into_inner();
			if count > MAX_SETUP_VERSIONS as u64 {
				return Err(DecodeError::TooLarge {
					what: "CLIENT_SETUP version count",
					len: count,
					max: MAX_SETUP_VERSIONS as u64,
				});
			}
			let versions = (0..count).map(|_| body.get_var()).collect::<Result<_, _>>()?;
			let parameters = SetupParameters::decode(body, draft)?;
			Ok(Self { versions, parameters })
		})
	}
}

impl EncodeWith<Draft> for ClientSetup {
	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		if !draft.setup_names_version() {
			if !self.versions.is_empty() {
				return Err(EncodeError::InvalidValue {
					field: "CLIENT_SETUP versions",
					reason: "this draft's CLIENT_SETUP lists no versions",
				});
			}
			return encode_control(buf, "CLIENT_SETUP", CLIENT_SETUP, |body| {
				self.parameters.encode(body, draft)
			});
		}
		if self.versions.len() > MAX_SETUP_VERSIONS {
			return Err(EncodeError::TooLarge {
				what: "CLIENT_SETUP version count",
				len: self.versions.len() as u64,
				max: MAX_SETUP_VERSIONS as u64,
			});
		}
		encode_control(buf, "CLIENT_SETUP", CLIENT_SETUP, |body| {
			body.put_var(VarInt::from_u32(self.versions.len() as u32));
			for v in &self.versions {
				body.put_var(*v);
			}
			self.parameters.encode(body, draft)
		})
	}
}

impl DecodeWith<Draft> for ServerSetup {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		decode_control(buf, |ty, body: &mut Bytes| {
			expect_type(ty, SERVER_SETUP, "SERVER_SETUP")?;
			let version = match draft.setup_names_version() {
				true => body.get_var()?,
				// Below 2^62.
				false => VarInt::from_u64(draft.setup_version()).expect("a draft's version"),
			};
			let parameters = SetupParameters::decode(body, draft)?;
			Ok(Self { version, parameters })
		})
	}
}

impl EncodeWith<Draft> for ServerSetup {
	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		if !draft.setup_names_version() && self.version.into_inner() != draft.setup_version() {
			return Err(EncodeError::InvalidValue {
				field: "SERVER_SETUP version",
				reason: "this draft's SERVER_SETUP names no version: it can only be the draft's own",
			});
		}
		encode_control(buf, "SERVER_SETUP", SERVER_SETUP, |body| {
			if draft.setup_names_version() {
				body.put_var(self.version);
			}
			self.parameters.encode(body, draft)
		})
	}
}

#[cfg(test)]
pub(crate) mod tests {
	use proptest::prelude::*;

	use super::*;
	use crate::ietf::coding::Value;
	use crate::{Disposition, SessionCode, strategy};

	const D14: Draft = Draft::Draft14;

	fn client(params: Vec<KeyValue>) -> ClientSetup {
		ClientSetup {
			versions: vec![VarInt::from_u64(D14.setup_version()).unwrap()],
			parameters: SetupParameters(params),
		}
	}

	#[test]
	fn known_parameters() {
		let token = AuthToken::UseValue {
			token_type: VarInt::ZERO,
			value: Bytes::from_static(b"t"),
		};
		let setup = client(vec![
			KeyValue::bytes(1, &b"/anon?jwt=x"[..]),
			KeyValue::int(2, VarInt::from_u32(100)),
			token.to_parameter().unwrap(),
			KeyValue::int(4, VarInt::from_u32(4096)),
			KeyValue::bytes(5, &b"relay:443"[..]),
			KeyValue::bytes(7, &b"moq-lite-rs"[..]),
		]);
		let bytes = setup.to_bytes(D14).unwrap();
		let (back, used) = ClientSetup::decode_prefix(&bytes, D14).unwrap();
		assert_eq!(used, bytes.len());
		assert_eq!(back, setup);
		let p = &back.parameters;
		assert_eq!(p.path(), Some("/anon?jwt=x"));
		assert_eq!(p.authority(), Some("relay:443"));
		assert_eq!(p.implementation(), Some("moq-lite-rs"));
		assert_eq!(p.max_request_id(), VarInt::from_u32(100));
		assert_eq!(p.max_auth_token_cache_size(), VarInt::from_u32(4096));
		assert_eq!(p.auth_tokens().collect::<Result<Vec<_>, _>>().unwrap(), vec![token]);
		assert_eq!(back.common_draft(), Some(D14));
		assert_eq!(SetupParameters::default().max_request_id(), VarInt::ZERO);
	}

	#[test]
	fn parameter_rules() {
		let decode = |params: Vec<KeyValue>| {
			let bytes = client(params).to_bytes(D14).unwrap();
			ClientSetup::decode_prefix(&bytes, D14).map(|(s, _)| s)
		};
		// Tokens may repeat; unknown parameters may repeat.
		let t = AuthToken::UseAlias { alias: VarInt::ZERO }.to_parameter().unwrap();
		assert!(decode(vec![t.clone(), t]).is_ok());
		assert!(
			decode(vec![
				KeyValue::int(0x20, VarInt::ZERO),
				KeyValue::int(0x20, VarInt::ZERO)
			])
			.is_ok()
		);
		// Known ones may not.
		let err = decode(vec![KeyValue::bytes(1, &b"/a"[..]), KeyValue::bytes(1, &b"/b"[..])]).unwrap_err();
		assert_eq!(err, DecodeError::DuplicateParameter { id: sp::PATH });
		assert_eq!(
			err.disposition(),
			Disposition::CloseSession(SessionCode::PROTOCOL_VIOLATION)
		);
		// A PATH that is not UTF-8, a malformed token: KEY_VALUE_FORMATTING.
		for bad in [KeyValue::bytes(1, &[0xff][..]), KeyValue::bytes(3, &[0x09][..])] {
			let err = decode(vec![bad]).unwrap_err();
			assert_eq!(
				err.disposition(),
				Disposition::CloseSession(SessionCode::KEY_VALUE_FORMATTING)
			);
		}
	}

	#[test]
	fn wrong_type_and_version() {
		let server = ServerSetup {
			version: VarInt::from_u64(D14.setup_version()).unwrap(),
			parameters: SetupParameters::default(),
		};
		let bytes = server.to_bytes(D14).unwrap();
		// 0x21, Length 9: 0xff00000e is over 2^30, so an 8-byte varint, then no parameters.
		assert_eq!(hex::encode(&bytes), "210009c0000000ff00000e00");
		assert!(matches!(
			ClientSetup::decode_prefix(&bytes, D14),
			Err(DecodeError::UnknownMessageType { .. })
		));
		assert_eq!(ServerSetup::decode_prefix(&bytes, D14).unwrap().0, server);
	}

	pub(crate) fn pair() -> impl Strategy<Value = KeyValue> {
		prop_oneof![
			(0u64..1000, strategy::varint()).prop_map(|(k, v)| KeyValue {
				key: VarInt::from_u64(k * 2 + 8).unwrap(),
				value: Value::Int(v)
			}),
			(0u64..1000, strategy::payload()).prop_map(|(k, v)| KeyValue {
				key: VarInt::from_u64(k * 2 + 9).unwrap(),
				value: Value::Bytes(v)
			}),
		]
	}

	fn setup_parameters() -> impl Strategy<Value = SetupParameters> {
		(
			prop::option::of(strategy::text()),
			prop::option::of(strategy::varint()),
			prop::collection::vec(crate::ietf::token::tests::token(), 0..3),
			prop::collection::vec(pair(), 0..4),
		)
			.prop_map(|(path, max, tokens, unknown)| {
				let mut p = Vec::new();
				if let Some(path) = path {
					p.push(KeyValue::bytes(1, path.into_bytes()));
				}
				if let Some(max) = max {
					p.push(KeyValue::int(2, max));
				}
				p.extend(tokens.iter().map(|t| t.to_parameter().unwrap()));
				p.extend(unknown);
				SetupParameters(p)
			})
	}

	proptest! {
		#[test]
		fn round_trip(versions in prop::collection::vec(strategy::varint(), 0..4), parameters in setup_parameters()) {
			let client = ClientSetup { versions: versions.clone(), parameters: parameters.clone() };
			strategy::round_trip_with(&client, D14)?;
			let server = ServerSetup { version: versions.first().copied().unwrap_or(VarInt::ZERO), parameters };
			strategy::round_trip_with(&server, D14)?;
		}
	}
}
