#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| moq_relay_fuzz::checks::ietf_setup(data));
