#!/usr/bin/env bash
# Runs the blocks of README.md and docs/*.md marked `<!-- run -->` with the built binaries and fails
# when a command fails or prints something other than the doc shows (dev/doc-test.py says how).
# Arguments: pages to run (default: all), and --fix to paste what out-of-date commands printed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --locked --bins --examples -p moq-relay -p moq-token-cli
exec python3 dev/doc-test.py "$@"
