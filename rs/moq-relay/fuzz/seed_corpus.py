#!/usr/bin/env python3
"""Seeds fuzz/corpus/config/ with configuration files.

- the development configurations in dev/*.toml;
- every ```toml block of docs/*.md and README.md;
- every raw string of src/config.rs that holds a `[table]` header (the unit
  tests' configurations, good and bad);
- the hand-written files below (every table and most keys).

Files are named by the SHA-1 of their content, as libFuzzer does. Run from
anywhere; then `cargo fuzz cmin config`.
"""

import hashlib
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
RELAY = HERE.parent
ROOT = RELAY.parent.parent


def write(data: bytes) -> None:
    directory = HERE / "corpus" / "config"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


HAND = [
    # moshi-server's top-level key, taken into [auth] api_keys.
    'authorized_ids = ["secret_token_1", "secret_token_2"]\n\n[server]\nbind = "0.0.0.0:4443"\n',
    # Every limit, durations as seconds and as text.
    """[limits]
handshake_timeout = "10s"
setup_timeout = 10
http_timeout = "1m 30s"
max_connections = 10000
max_pending = 1000
max_pending_per_ip = 50
max_sessions_per_ip = 2000
max_http_connections = 1000
pending_window = 65536
session_window = 16777216
datagram_buffer = 65536
max_path = 1024
max_broadcasts = 1000
subscribe_rate = 100
auth_failures = 20
auth_cooldown = "60s"
max_message = 65536
max_control_buffer = 1048576
max_frame = 16777216
max_group = 16777216
max_inflight_groups = 4
""",
    # Privacy Pass with every key, and a cluster link.
    """[tls]
generate = ["relay.example", "10.0.0.1"]

[privacypass]
enabled = true
issuer = "issuer.example"
redis = "rediss://user:secretpassword@redis.example:6380/2"
root = "live"
pub = ["a", "b"]
sub = ""
challenge_ttl = "5m"
redemption_context = "empty"
origins = ["relay.example"]

[cluster]
connect = ["https://root.example:4443/path", "[::1]:4443"]
node = "leaf.example:4443"
id = 42
""",
    # The auth service and named keys.
    """[auth]
required = true
api_keys = "a-long-api-key-0123456789"
service_url = "https://auth.example/check"
service_timeout = 5
service_subject = "moq-relay"
service_concurrency = 32
service_cache = 0
api_key = [{name = "ops", key = "ops-key-0123456789", root = "", pub = [""], sub = ["x"]}]
""",
]


def main() -> None:
    for text in HAND:
        write(text.encode())
    for path in sorted((ROOT / "dev").glob("*.toml")):
        write(path.read_bytes())
    for path in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]:
        if not path.exists():
            continue
        for block in re.findall(r"```toml\n(.*?)```", path.read_text(), re.S):
            write(block.encode())
    source = (RELAY / "src" / "config.rs").read_text()
    for block in re.findall(r'r#"(.*?)"#', source, re.S):
        if re.search(r"^\s*\[[a-z_.]+\]", block, re.M):
            write(block.encode())


if __name__ == "__main__":
    main()
