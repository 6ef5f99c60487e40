//! Base64 as Privacy Pass values arrive in practice.
//!
//! RFC 9577 writes base64url *with* padding, possibly inside a quoted-string; clients differ (unpadded,
//! standard alphabet, no quotes). Decoding accepts all of these; encoding writes what each place expects.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::Error;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
	.with_encode_padding(true)
	.with_decode_padding_mode(DecodePaddingMode::Indifferent)
	.with_decode_allow_trailing_bits(false);

const URL_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// base64url with padding, as RFC 9577 writes `challenge=` and `token-key=` and RFC 9578 writes `token-key`.
pub(crate) fn encode_padded(bytes: &[u8]) -> String {
	base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// base64url without padding, for close reasons and URL query values.
pub(crate) fn encode_unpadded(bytes: &[u8]) -> String {
	base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url or standard base64, padded or not, after removing surrounding whitespace and one
/// pair of double quotes.
pub(crate) fn decode_lenient(text: &str, what: &str) -> Result<Vec<u8>, Error> {
	let text = unquote(text.trim());
	let normalized: String = text
		.chars()
		.map(|c| match c {
			'+' => '-',
			'/' => '_',
			c => c,
		})
		.collect();
	URL_LENIENT
		.decode(normalized.as_bytes())
		.map_err(|e| Error::malformed(format!("{what} is not base64url: {e}")))
}

/// Strips one pair of surrounding double quotes, if present.
pub(crate) fn unquote(text: &str) -> &str {
	text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn decodes_every_spelling() {
		let bytes = [0xfbu8, 0xff, 0x01];
		for text in ["-_8B", "+/8B", "\"-_8B\"", "  -_8B \n"] {
			assert_eq!(decode_lenient(text, "x").unwrap(), bytes, "{text}");
		}
		let two = [0xfbu8, 0xff];
		for text in ["-_8", "-_8=", "+/8=", "\"-_8=\""] {
			assert_eq!(decode_lenient(text, "x").unwrap(), two, "{text}");
		}
	}

	#[test]
	fn refuses_garbage() {
		assert_eq!(decode_lenient("a*b", "token").unwrap_err().code(), "malformed");
		// Non-zero trailing bits are not a canonical encoding.
		assert!(decode_lenient("-_9", "x").is_err());
	}

	#[test]
	fn encodes() {
		assert_eq!(encode_padded(&[0xfb, 0xff]), "-_8=");
		assert_eq!(encode_unpadded(&[0xfb, 0xff]), "-_8");
	}
}
