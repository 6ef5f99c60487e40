#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| moq_privacy_pass_fuzz::checks::challenge(data));
