#!/usr/bin/env bash
# Installs the published moq-relay 0.17.10 for tests/it/upstream_relay.rs (tokens from our moq-token
# accepted through its --auth-url) into target/upstream-relay, where the test looks for it. Idempotent.
#
# A debug build without debug info: 3 min 46 s cold on this project's 2-core machine, against about
# 4 min 40 s with it (a 467 MB binary) and 11 min with the workspace's profile (dependencies at
# opt-level 1, which would let the workspace's build reuse some of them: far less than it costs).
# It builds in a target directory of its own, removed afterwards, so it never waits on the
# workspace's build lock and dev/test.sh can run it beside the lints. Not --locked: its lock file
# pins a webpki-roots release the registry mirror here does not have.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x target/upstream-relay/bin/moq-relay ]; then
	cargo install moq-relay --version 0.17.10 --debug --quiet --target-dir target/upstream-build \
		--root target/upstream-relay --config 'profile.dev.debug=false'
	rm -rf target/upstream-build
fi
