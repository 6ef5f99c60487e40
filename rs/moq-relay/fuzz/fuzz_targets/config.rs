#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| moq_relay_config_fuzz::fuzz_check(data));
