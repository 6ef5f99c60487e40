#!/usr/bin/env bash
# The one test command: formatting, lints, and every test of every package (Rust and TypeScript).
# Installs what it needs on a fresh Debian machine (the only setup step is a Rust toolchain).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's start is stamped with the seconds since the command began, so a slow CI run shows
# which step took the time.
step() { printf '\n==> %s (at %ds)\n' "$*" "$SECONDS"; }

step "dependencies"
dev/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

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
