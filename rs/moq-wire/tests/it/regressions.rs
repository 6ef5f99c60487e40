//! Inputs that crashed a fuzz target (`fuzz/fuzz_targets/`), kept as tests.
//!
//! Each test feeds the input to the same check the fuzz target runs
//! (`moq_wire::checks`) and states the property that broke. A test marked
//! `#[ignore]` is a crash that is not fixed yet: run it with
//! `cargo test -p moq-wire --test it regressions -- --ignored`, and remove
//! the `#[ignore]` in the commit that fixes the codec.

use moq_wire::{Decode, Encode, Subscribe, SubscribeUpdate, Version};

use moq_wire::checks;

/// Decodes `input` whole; if that succeeds, the value must re-encode and read
/// back unchanged.
fn decodes_to_error_or_round_trips<T>(input: &[u8], version: Version)
where
	T: Decode + Encode + PartialEq + std::fmt::Debug,
{
	let Ok((value, used)) = T::decode_prefix(input, version) else {
		return;
	};
	assert_eq!(used, input.len());
	let bytes = value
		.to_bytes(version)
		.unwrap_or_else(|err| panic!("decoded {value:?} but cannot re-encode it: {err}"));
	assert_eq!(T::decode_prefix(&bytes, version), Ok((value, bytes.len())));
}

/// Found by `subscribe` (artifact `crash-a8d2af8292117864198377653923ea07678977fc`,
/// `07 14 43e8 00 00 00 06`, minimised by hand). A lite-06 SUBSCRIBE_UPDATE with
/// a Frame End but no Group End (`Group End = 0`, `Frame End = 1`) decodes, but
/// the encoder refuses it (docs/protocol.md#subscription-options: a Frame End
/// needs a Group End). The decoder should reject it (or the encoder accept it)
/// so the round trip holds.
#[test]
fn lite06_subscribe_update_frame_end_without_group_end() {
	// Len 6 | Priority 0 | Max Age 0 | Group Start 0 | Group End 0 | Frame Start 0 | Frame End 1.
	let input = [0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01];
	decodes_to_error_or_round_trips::<SubscribeUpdate>(&input, Version::Lite06);
	checks::subscribe(&input);
}

/// The same options inside a lite-06 SUBSCRIBE.
#[test]
fn lite06_subscribe_frame_end_without_group_end() {
	// Len 9 | ID 0 | Broadcast "" | Track "" | Priority 0 | Max Age 0 |
	// Group Start 0 | Group End 0 | Frame Start 0 | Frame End 1.
	let input = [0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01];
	decodes_to_error_or_round_trips::<Subscribe>(&input, Version::Lite06);
	checks::subscribe(&input);
}
