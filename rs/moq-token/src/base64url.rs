//! base64url (RFC 4648 §5) as JWS and JWK use it.

use base64::{
	Engine,
	alphabet::URL_SAFE,
	engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};

/// Strict: no padding, as JWS compact serialization requires (RFC 7515 §2).
const STRICT: GeneralPurpose = GeneralPurpose::new(
	&URL_SAFE,
	GeneralPurposeConfig::new()
		.with_encode_padding(false)
		.with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Lenient: padding optional, for key files and JWK fields written by other tools.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
	&URL_SAFE,
	GeneralPurposeConfig::new()
		.with_encode_padding(false)
		.with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encode without padding.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
	STRICT.encode(bytes)
}

/// Append the unpadded encoding to `out`.
pub fn encode_into(bytes: impl AsRef<[u8]>, out: &mut String) {
	STRICT.encode_string(bytes, out)
}

/// Decode a token part: unpadded only.
pub fn decode_strict(s: &str) -> Option<Vec<u8>> {
	STRICT.decode(s).ok()
}

/// Decode a key field or key file: padded or not.
pub fn decode_lenient(s: &str) -> Option<Vec<u8>> {
	LENIENT.decode(s).ok()
}
