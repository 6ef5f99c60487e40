use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The bytes of a hex field of the vectors.
pub fn hex(s: &str) -> Vec<u8> {
	hex::decode(s).expect("hex")
}

pub fn json(text: &str) -> serde_json::Value {
	serde_json::from_str(text).expect("vector JSON parses")
}

pub fn field<'a>(v: &'a serde_json::Value, name: &str) -> &'a str {
	v[name].as_str().unwrap_or_else(|| panic!("missing field {name}"))
}

/// A fixed "now" for deterministic tests.
pub fn t(secs: u64) -> SystemTime {
	UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}
