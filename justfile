# moq-relay development commands. `just --list` shows them.

# Run every test (the README's test command).
test:
	dev/test.sh

# Format the code.
fmt:
	cargo fmt --all

# Lint like CI does.
lint:
	cargo clippy --workspace --all-targets -- -D warnings

# Benchmarks (token sign/verify against the upstream crate).
bench:
	cargo bench -p moq-token@0.1.0

# Run a development relay: https://localhost:4443/anon, self-signed certificate, anonymous access under /anon.
# Extra flags go to the relay, e.g. `just relay --config dev/relay.toml`.
relay *ARGS:
	cargo run --bin moq-relay -- {{ARGS}}

# Sign a development token with dev/root.jwk and print a URL that uses it (valid one day).
# `just token room/123 alice ""` = root room/123, publish alice, subscribe everything.
token root="demo" publish="" subscribe="":
	#!/usr/bin/env bash
	set -euo pipefail
	token=$(cargo run -q --bin moq-token -- --key dev/root.jwk sign --root "{{root}}" --publish "{{publish}}" --subscribe "{{subscribe}}" --expires-in 1d)
	echo "https://localhost:4443/{{root}}?jwt=${token}"
