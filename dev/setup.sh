#!/usr/bin/env bash
# Installs what the tests need that a fresh machine lacks. Idempotent and quiet when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup component list --installed 2>/dev/null | grep -q '^clippy'; then rustup component add clippy; fi
if ! rustup component list --installed 2>/dev/null | grep -q '^rustfmt'; then rustup component add rustfmt; fi

if [ -f js/token/package.json ] && [ ! -d js/token/node_modules ]; then
	(cd js/token && npm ci --no-audit --no-fund)
fi
