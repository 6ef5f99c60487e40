#!/usr/bin/env bash
# The one test command: formatting, lints, and every test of every package (Rust and TypeScript).
# Installs what it needs on a fresh Debian machine (the only setup step is a Rust toolchain).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's start is stamped with the seconds since the command began, so a slow CI run shows
# which step took the time.
step() { printf '\n==> %s (at %ds)\n' "$*" "$SECONDS"; }

step "dependencies"
dev/setup.sh --without-upstream-relay

# The published relay the upstream tests run (minutes to build cold) builds beside the lints, in a
# target directory of its own; its output is shown only if it fails.
upstream_log=$(mktemp)
dev/setup-upstream-relay.sh >"$upstream_log" 2>&1 &
upstream=$!
trap 'kill "$upstream" 2>/dev/null || true; rm -f "$upstream_log"' EXIT

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "the published relay for the upstream tests (dev/setup-upstream-relay.sh)"
if ! wait "$upstream"; then
	cat "$upstream_log"
	echo "dev/setup-upstream-relay.sh failed: installing the published moq-relay 0.17.10 (above)" >&2
	exit 1
fi

step "cargo test"
cargo test --workspace --locked --no-fail-fast

step "the docs' commands (dev/doc-test.sh)"
dev/doc-test.sh

if [ -f js/token/package.json ]; then
	step "@moq/token tests"
	(cd js/token && npm test)
fi

echo
echo "all tests passed (${SECONDS}s)"
