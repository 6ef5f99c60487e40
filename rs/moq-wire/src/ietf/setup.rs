//! CLIENT_SETUP and SERVER_SETUP (draft-14 §9.3): the first message each side
//! sends on the control stream; and draft-18's one SETUP (draft-18 §10.3), the
//! first message of the unidirectional stream each side opens.

use bytes::{Buf, BufMut, Bytes};

use super::coding::{
	AUTHORIZATION_TOKEN, KeyValue, MAX_CONTROL_LEN, MAX_PARAMETERS, decode_control, decode_pair, encode_control,
	encode_pairs, get_var_in, put_var_in,
};
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
	/// Reads `Number of Parameters (i) | Parameters…` (draft-14 and draft-16).
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
			Self::push(&mut pairs, decode_pair(buf, draft, &mut previous)?, draft)?;
		}
		Ok(Self(pairs))
	}

	/// Reads draft-18's Setup Options: delta-coded Key-Value-Pairs filling the
	/// whole of `body`, with no count before them.
	fn decode_to_end(body: &mut Bytes, draft: Draft) -> Result<Self, DecodeError> {
		let mut pairs: Vec<KeyValue> = Vec::new();
		let mut previous = VarInt::ZERO;
		while body.has_remaining() {
			if pairs.len() == MAX_PARAMETERS {
				return Err(DecodeError::TooLarge {
					what: "SETUP option count",
					len: pairs.len() as u64 + 1,
					max: MAX_PARAMETERS as u64,
				});
			}
			Self::push(&mut pairs, decode_pair(body, draft, &mut previous)?, draft)?;
		}
		Ok(Self(pairs))
	}

	/// Checks one decoded parameter against those before it and appends it.
	fn push(pairs: &mut Vec<KeyValue>, pair: KeyValue, draft: Draft) -> Result<(), DecodeError> {
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
				AuthToken::from_parameter_in(&pair, draft)?;
			}
			_ => {}
		}
		// Draft-18 has no MAX_REQUEST_ID: 0x2 is an unknown option there, which may repeat.
		let unique = matches!(
			pair.key,
			sp::PATH | sp::MAX_AUTH_TOKEN_CACHE_SIZE | sp::AUTHORITY | sp::IMPLEMENTATION
		) || (pair.key == sp::MAX_REQUEST_ID && draft.has_control_stream());
		if unique && pairs.iter().any(|p| p.key == pair.key) {
			return Err(DecodeError::DuplicateParameter { id: pair.key });
		}
		pairs.push(pair);
		Ok(())
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

	/// Every AUTHORIZATION TOKEN, in wire order, read in draft-14's and draft-16's
	/// form (QUIC varints; draft-18's [`Setup::auth_tokens`] reads its own).
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
	/// The first offered draft this codec speaks that a CLIENT_SETUP can start:
	/// never draft-18 or later, which have no CLIENT_SETUP (their `0xff000012`, `0xff000014` … are
	/// skipped).
	pub fn common_draft(&self) -> Option<Draft> {
		self.versions
			.iter()
			.filter_map(|v| Draft::from_setup_version(v.into_inner()))
			.find(|d| d.has_control_stream())
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
		draft.decode_form("CLIENT_SETUP (draft-18 sends SETUP)")?;
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
		draft.encode_form("CLIENT_SETUP (draft-18 sends SETUP)")?;
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
		draft.decode_form("SERVER_SETUP (draft-18 sends SETUP)")?;
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
		draft.encode_form("SERVER_SETUP (draft-18 sends SETUP)")?;
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

/// Draft-18's one SETUP message type, the same for client and server.
const SETUP: VarInt = VarInt::from_u32(0x2F00);

/// `SETUP = 0x2F00 | Length (16) | Setup Options…` (draft-18, its integers in the
/// leading-ones form, so the Type is the bytes `af 00`): the first and
/// only message of the unidirectional stream each side opens; the Setup Options
/// are delta-coded Key-Value-Pairs filling the Length, with no count. The
/// stream stays open for the sender's GOAWAY. Draft-17 and later have it (draft-17 without the
/// 7-byte integers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Setup {
	/// The Setup Options (MAX_REQUEST_ID, 0x2, is not one on draft-18).
	pub parameters: SetupParameters,
}

impl Setup {
	/// Every AUTHORIZATION TOKEN, in wire order, its fields read as draft-18's
	/// integers ([`SetupParameters::auth_tokens`] reads draft-14's and draft-16's).
	pub fn auth_tokens(&self) -> impl Iterator<Item = Result<AuthToken, DecodeError>> + '_ {
		self.parameters
			.0
			.iter()
			.filter(|p| p.key == AUTHORIZATION_TOKEN)
			.map(|p| AuthToken::from_parameter_in(p, Draft::Draft18))
	}
}

/// What refuses SETUP on a draft with CLIENT_SETUP and SERVER_SETUP.
const SETUP_IS_DRAFT18: &str = "SETUP (draft-14 and draft-16 send CLIENT_SETUP and SERVER_SETUP)";

impl DecodeWith<Draft> for Setup {
	fn decode<B: Buf>(buf: &mut B, draft: Draft) -> Result<Self, DecodeError> {
		if draft.has_control_stream() {
			return Err(DecodeError::InvalidValue {
				field: SETUP_IS_DRAFT18,
				value: u64::from(draft.number()),
			});
		}
		// Type (i) | Length (16) | Setup Options: the Type a leading-ones integer.
		let ty = get_var_in(buf, draft)?;
		if buf.remaining() < 2 {
			return Err(DecodeError::UnexpectedEnd);
		}
		let len = usize::from(buf.get_u16());
		if buf.remaining() < len {
			return Err(DecodeError::UnexpectedEnd);
		}
		expect_type(ty, SETUP, "SETUP")?;
		let mut body = buf.copy_to_bytes(len);
		// The Length is all there: a pair cut short inside it is malformed, not more to buffer.
		let parameters = SetupParameters::decode_to_end(&mut body, draft).map_err(|err| match err {
			DecodeError::UnexpectedEnd => DecodeError::ShortBody { message: "SETUP" },
			err => err,
		})?;
		Ok(Self { parameters })
	}
}

impl EncodeWith<Draft> for Setup {
	fn encode<B: BufMut>(&self, buf: &mut B, draft: Draft) -> Result<(), EncodeError> {
		if draft.has_control_stream() {
			return Err(EncodeError::InvalidValue {
				field: SETUP_IS_DRAFT18,
				reason: "this draft has no SETUP message",
			});
		}
		let pairs = &self.parameters.0;
		if pairs.len() > MAX_PARAMETERS {
			return Err(EncodeError::TooLarge {
				what: "SETUP option count",
				len: pairs.len() as u64,
				max: MAX_PARAMETERS as u64,
			});
		}
		let body = encode_pairs(pairs, draft)?;
		let len = u16::try_from(body.len()).map_err(|_| EncodeError::TooLarge {
			what: "SETUP",
			len: body.len() as u64,
			max: MAX_CONTROL_LEN,
		})?;
		put_var_in(buf, draft, SETUP);
		buf.put_u16(len);
		buf.put_slice(&body);
		Ok(())
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
		setup_parameters_in(D14)
	}

	/// SETUP parameters whose AUTHORIZATION TOKENs are in `draft`'s integers.
	fn setup_parameters_in(draft: Draft) -> impl Strategy<Value = SetupParameters> {
		(
			prop::option::of(strategy::text()),
			prop::option::of(strategy::varint()),
			prop::collection::vec(crate::ietf::token::tests::token(), 0..3),
			prop::collection::vec(pair(), 0..4),
		)
			.prop_map(move |(path, max, tokens, unknown)| {
				let mut p = Vec::new();
				if let Some(path) = path {
					p.push(KeyValue::bytes(1, path.into_bytes()));
				}
				if let Some(max) = max {
					p.push(KeyValue::int(2, max));
				}
				p.extend(tokens.iter().map(|t| KeyValue::bytes(3, t.encode_value_in(draft))));
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

		#[test]
		fn draft18_setup_round_trip(parameters in setup_parameters_in(D18)) {
			// Delta-coded types go in ascending order, so that is the order decoding gives back.
			let mut parameters = parameters;
			parameters.0.sort_by_key(|p| p.key);
			strategy::round_trip_with(&Setup { parameters }, D18)?;
		}
	}

	const D18: Draft = Draft::Draft18;

	#[test]
	fn draft18_setup_bytes() {
		// Given out of order, PATH (1) is written first, then IMPLEMENTATION (7) as the delta 6.
		let setup = Setup {
			parameters: SetupParameters(vec![KeyValue::bytes(7, &b"moq"[..]), KeyValue::bytes(1, &b"/a"[..])]),
		};
		let bytes = setup.to_bytes(D18).unwrap();
		assert_eq!(
			bytes,
			[
				0xAF, 0x00, 0x00, 0x09, 0x01, 0x02, b'/', b'a', 0x06, 0x03, b'm', b'o', b'q'
			]
		);
		let back = Setup::decode_prefix(&bytes, D18).unwrap();
		assert_eq!(back.1, bytes.len());
		assert_eq!(back.0.parameters.path(), Some("/a"));
		assert_eq!(back.0.parameters.implementation(), Some("moq"));
		// No Setup Options at all is a SETUP of Length 0.
		assert_eq!(Setup::default().to_bytes(D18).unwrap(), [0xAF, 0x00, 0x00, 0x00]);
		// Integers past 127 take the leading-ones form: MAX_AUTH_TOKEN_CACHE_SIZE 4096 is `90 00`.
		let cache = Setup {
			parameters: SetupParameters(vec![KeyValue::int(4, VarInt::from_u32(4096))]),
		};
		let bytes = cache.to_bytes(D18).unwrap();
		assert_eq!(bytes, [0xAF, 0x00, 0x00, 0x03, 0x04, 0x90, 0x00]);
		assert_eq!(Setup::decode_prefix(&bytes, D18).unwrap().0, cache);
	}

	#[test]
	fn draft18_tokens_use_its_integers() {
		// Token Type 200 is `80 c8` in draft-18's integers, `40 c8` as a QUIC varint.
		let token = AuthToken::UseValue {
			token_type: VarInt::from_u32(200),
			value: Bytes::from_static(b"t"),
		};
		let value = token.encode_value_in(D18);
		assert_eq!(value, [0x03, 0x80, 0xC8, b't']);
		assert_eq!(token.encode_value(), [0x03, 0x40, 0xC8, b't']);
		let setup = Setup {
			parameters: SetupParameters(vec![KeyValue::bytes(3, value)]),
		};
		let (back, _) = Setup::decode_prefix(&setup.to_bytes(D18).unwrap(), D18).unwrap();
		assert_eq!(back.auth_tokens().collect::<Vec<_>>(), [Ok(token)]);
	}

	#[test]
	fn draft18_setup_rules() {
		// MAX_REQUEST_ID is not a draft-18 option: 0x2 twice is an unknown option repeated.
		let repeated = [0xAF, 0x00, 0x00, 0x04, 0x02, 0x05, 0x00, 0x06];
		let (setup, _) = Setup::decode_prefix(&repeated, D18).unwrap();
		assert_eq!(setup.parameters.0.len(), 2);
		// PATH twice is still a PROTOCOL_VIOLATION.
		let paths = [0xAF, 0x00, 0x00, 0x06, 0x01, 0x01, b'a', 0x00, 0x01, b'b'];
		assert_eq!(
			Setup::decode_prefix(&paths, D18),
			Err(DecodeError::DuplicateParameter { id: sp::PATH })
		);
		// Another message type where SETUP must be.
		let client = [0x20, 0x00, 0x00];
		assert!(matches!(
			Setup::decode_prefix(&client, D18),
			Err(DecodeError::UnknownMessageType { message: "SETUP", .. })
		));
		// Short: buffer more.
		assert_eq!(
			Setup::decode_prefix(&repeated[..5], D18),
			Err(DecodeError::UnexpectedEnd)
		);
	}

	#[test]
	fn a_client_setup_cannot_pick_draft18() {
		let offer = |versions: &[u64]| ClientSetup {
			versions: versions.iter().map(|v| VarInt::from_u64(*v).unwrap()).collect(),
			parameters: SetupParameters::default(),
		};
		assert_eq!(offer(&[D18.setup_version()]).common_draft(), None);
		assert_eq!(offer(&[Draft::Draft20.setup_version()]).common_draft(), None);
		assert_eq!(
			offer(&[D18.setup_version(), D14.setup_version()]).common_draft(),
			Some(D14)
		);
	}

	#[test]
	fn each_draft_has_its_own_setup() {
		let setup = Setup::default();
		for draft in [D14, Draft::Draft16] {
			assert!(setup.to_bytes(draft).is_err(), "{draft}");
			assert!(
				Setup::decode_prefix(&[0xAF, 0x00, 0x00, 0x00], draft).is_err(),
				"{draft}"
			);
		}
		let client = ClientSetup {
			versions: Vec::new(),
			parameters: SetupParameters::default(),
		};
		assert!(client.to_bytes(D18).is_err());
		assert!(ClientSetup::decode_prefix(&[0x20, 0x00, 0x01, 0x00], D18).is_err());
		let server = ServerSetup {
			version: VarInt::from_u64(D18.setup_version()).unwrap(),
			parameters: SetupParameters::default(),
		};
		assert!(server.to_bytes(D18).is_err());
		assert!(ServerSetup::decode_prefix(&[0x21, 0x00, 0x01, 0x00], D18).is_err());
	}
}
