#!/usr/bin/env bash
# Installs what the tests need that a fresh machine lacks. Idempotent and quiet when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, installed as root (or with sudo) when a command they provide is missing.
apt_install() {
	local sudo_cmd=""
	if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}

if ! rustup component list --installed 2>/dev/null | grep -q '^clippy'; then rustup component add clippy; fi
if ! rustup component list --installed 2>/dev/null | grep -q '^rustfmt'; then rustup component add rustfmt; fi

if [ -f js/token/package.json ] && [ ! -d js/token/node_modules ]; then
	(cd js/token && npm ci --no-audit --no-fund)
fi

# Browser tests (rs/moq-relay/tests/it/browser.rs): Debian's Chromium and the page's npm packages.
if [ ! -x /usr/bin/chromium ]; then
	apt_install chromium
fi
# The relay's allocator (tikv-jemalloc-sys) builds jemalloc with make and a C compiler.
if ! command -v make >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
	apt_install make gcc
fi
# Privacy Pass tests (rs/moq-relay/tests/it/privacy_pass.rs) start a real redis-server for the shared nonce store.
if ! command -v redis-server >/dev/null 2>&1; then
	apt_install redis-server
fi
if [ -f rs/moq-relay/tests/browser/package.json ] && [ ! -d rs/moq-relay/tests/browser/node_modules ]; then
	(cd rs/moq-relay/tests/browser && npm ci --no-audit --no-fund)
fi
# The demo page's sources and bundler (js/demo; tests/it/demo.rs rebuilds the committed bundle).
if [ -f js/demo/package.json ] && [ ! -d js/demo/node_modules ]; then
	(cd js/demo && npm ci --no-audit --no-fund)
fi
# `just` (the README's and docs' recipes: just relay, just token, just cluster; the README's `just token`
# block that dev/doc-test.sh runs): Debian's package where there is one (trixie and later), else cargo.
if ! command -v just >/dev/null 2>&1; then
	if apt-cache show just >/dev/null 2>&1; then
		apt_install just
	else
		cargo install just --locked --quiet
	fi
fi
# dev/doc-test.sh (the docs' commands) is a python3 script; its commands use curl and openssl.
if ! command -v python3 >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
	apt_install python3 curl openssl
fi
# ACME tests (rs/moq-relay/tests/it/acme.rs): Debian's pebble package (pebble and pebble-challtestsrv),
# the ACME test CA the relay gets its certificate from.
if ! command -v pebble >/dev/null 2>&1 || ! command -v pebble-challtestsrv >/dev/null 2>&1; then
	apt_install pebble
fi
# A hardening test (rs/moq-relay/tests/it/hardening.rs, the client that never reads) runs the relay in a
# network namespace of its own, whose loopback interface it brings up with iproute2's `ip`.
if ! command -v ip >/dev/null 2>&1; then
	apt_install iproute2
fi
# The performance regression check (rs/moq-relay/tests/it/perf.rs) counts the relay's instructions
# with valgrind's callgrind.
if ! command -v valgrind >/dev/null 2>&1; then
	apt_install valgrind
fi
# Better Auth tests (rs/moq-relay/tests/it/better_auth.rs): the real npm better-auth package, run by Node.
if [ -f rs/moq-relay/tests/better-auth/package.json ] && [ ! -d rs/moq-relay/tests/better-auth/node_modules ]; then
	(cd rs/moq-relay/tests/better-auth && npm ci --no-audit --no-fund)
fi
# The published moq-relay 0.17.10 for tests/it/upstream_relay.rs (dev/setup-upstream-relay.sh), unless
# the caller builds it itself (dev/test.sh runs it beside the lints).
if [ "${1:-}" != "--without-upstream-relay" ]; then
	dev/setup-upstream-relay.sh
fi
