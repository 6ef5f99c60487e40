//! PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE and their companions (draft-14
//! §9.20–§9.27), and the mapping between a Track Namespace tuple and a
//! broadcast path.

use bytes::{Buf, BufMut};

use super::coding::{Parameters, decode_namespace, decode_reason, encode_namespace, encode_reason};
use crate::coding::{BufExt, BufMutExt};
use crate::{DecodeError, EncodeError, VarInt};

/// PUBLISH_NAMESPACE (0x6): "I have tracks under this namespace" (moq-lite's announce).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishNamespace {
	/// The Request ID.
	pub request_id: VarInt,
	/// The Track Namespace tuple.
	pub namespace: Vec<String>,
	/// The message parameters (AUTHORIZATION TOKEN).
	pub parameters: Parameters,
}

impl PublishNamespace {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(Self {
			request_id: buf.get_var()?,
			namespace: decode_namespace(buf)?,
			parameters: Parameters::decode(buf)?,
		})
	}

	pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		buf.put_var(self.request_id);
		encode_namespace(buf, &self.namespace)?;
		self.parameters.encode(buf)
	}
}

/// PUBLISH_NAMESPACE_CANCEL (0xC): the subscriber withdraws its acceptance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishNamespaceCancel {
	/// The Track Namespace tuple.
	pub namespace: Vec<String>,
	/// The Error Code.
	pub code: VarInt,
	/// The Reason Phrase.
	pub reason: String,
}

impl PublishNamespaceCancel {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(Self {
			namespace: decode_namespace(buf)?,
			code: buf.get_var()?,
			reason: decode_reason(buf)?,
		})
	}

	pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		encode_namespace(buf, &self.namespace)?;
		buf.put_var(self.code);
		encode_reason(buf, &self.reason)
	}
}

/// SUBSCRIBE_NAMESPACE (0x11): "tell me of every namespace under this prefix"
/// (moq-lite's ANNOUNCE_REQUEST).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeNamespace {
	/// The Request ID.
	pub request_id: VarInt,
	/// The Track Namespace Prefix tuple.
	pub prefix: Vec<String>,
	/// Draft-16's Subscribe Options (0x0 PUBLISH of the tracks, 0x1 NAMESPACE,
	/// 0x2 both); `None` in draft-14, which has no such field.
	pub options: Option<VarInt>,
	/// The message parameters (AUTHORIZATION TOKEN).
	pub parameters: Parameters,
}

impl SubscribeNamespace {
	pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
		Ok(Self {
			request_id: buf.get_var()?,
			prefix: decode_namespace(buf)?,
			options: None,
			parameters: Parameters::decode(buf)?,
		})
	}

	pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
		if self.options.is_some() {
			return Err(EncodeError::InvalidValue {
				field: "Subscribe Options",
				reason: "draft-14 has none",
			});
		}
		buf.put_var(self.request_id);
		encode_namespace(buf, &self.prefix)?;
		self.parameters.encode(buf)
	}
}

/// The broadcast path of a Track Namespace, as the published client maps it:
/// the elements joined with `/`, a `/` or `\` inside an element escaped with a
/// `\`. The empty tuple is the empty path.
pub fn namespace_to_path(namespace: &[String]) -> String {
	let mut path = String::new();
	for (i, element) in namespace.iter().enumerate() {
		if i > 0 {
			path.push('/');
		}
		for ch in element.chars() {
			if matches!(ch, '/' | '\\') {
				path.push('\\');
			}
			path.push(ch);
		}
	}
	path
}

/// The Track Namespace of a broadcast path: the inverse of [`namespace_to_path`]
/// (`\/` and `\\` are a literal `/` and `\`; any other `\` is kept as is).
pub fn path_to_namespace(path: &str) -> Vec<String> {
	if path.is_empty() {
		return Vec::new();
	}
	let mut elements = Vec::new();
	let mut element = String::new();
	let mut chars = path.chars();
	while let Some(ch) = chars.next() {
		match ch {
			'/' => elements.push(std::mem::take(&mut element)),
			'\\' => match chars.next() {
				Some(next @ ('/' | '\\')) => element.push(next),
				Some(next) => {
					element.push('\\');
					element.push(next);
				}
				None => element.push('\\'),
			},
			_ => element.push(ch),
		}
	}
	elements.push(element);
	elements
}

#[cfg(test)]
mod tests {
	use proptest::prelude::*;

	use super::*;

	fn ns(parts: &[&str]) -> Vec<String> {
		parts.iter().map(|s| s.to_string()).collect()
	}

	#[test]
	fn paths() {
		assert_eq!(namespace_to_path(&[]), "");
		assert_eq!(path_to_namespace(""), Vec::<String>::new());
		assert_eq!(namespace_to_path(&ns(&["anon", "room"])), "anon/room");
		assert_eq!(namespace_to_path(&ns(&["a/b", "c\\d"])), "a\\/b/c\\\\d");
		assert_eq!(path_to_namespace("a\\/b/c\\\\d"), ns(&["a/b", "c\\d"]));
		assert_eq!(path_to_namespace("anon/room"), ns(&["anon", "room"]));
	}

	proptest! {
		#[test]
		fn path_mapping_round_trips(parts in prop::collection::vec("[a-z/\\\\é]{0,4}", 1..5).prop_filter("one empty element is the root", |p| p != &[String::new()])) {
			prop_assert_eq!(path_to_namespace(&namespace_to_path(&parts)), parts);
		}
	}
}
