# moq-relay development commands. `just --list` shows them.

# Run every test (the README's test command).
test:
	dev/test.sh

# Run the commands the README and docs/ mark as runnable, and compare what they print.
doc-test *PAGES:
	dev/doc-test.sh {{PAGES}}

# Put moq-relay and moq-token on PATH (~/.cargo/bin), built from this repository.
install:
	cargo install --locked --path rs/moq-relay
	cargo install --locked --path rs/moq-token-cli

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

# A development cluster: a root relay (dev/root.toml, :4443), two leaves that dial it
# (dev/leaf0.toml :4444, dev/leaf1.toml :4445) with dev/cluster.jwt, a test publisher of
# anon/clock on leaf 0, and a viewer on leaf 1 printing what crosses the cluster. Ctrl-C stops all.
cluster:
	#!/usr/bin/env bash
	set -euo pipefail
	cargo build --bin moq-relay --example clock
	bin=target/debug
	pids=()
	trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
	ready() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/ready" >/dev/null && return; sleep 0.1; done; echo "relay :$1 not ready" >&2; exit 1; }
	"$bin/moq-relay" --config dev/root.toml & pids+=($!); ready 4443
	"$bin/moq-relay" --config dev/leaf0.toml & pids+=($!); ready 4444
	"$bin/moq-relay" --config dev/leaf1.toml & pids+=($!); ready 4445
	"$bin/examples/clock" publish http://127.0.0.1:4444/anon clock & pids+=($!)
	"$bin/examples/clock" subscribe http://127.0.0.1:4445/anon clock

# Re-sign dev/cluster.jwt with dev/root.jwk (the cluster token command of docs/cluster.md).
cluster-token:
	cargo run -q --bin moq-token -- --key dev/root.jwk sign --root "" --subscribe "" --publish "" --cluster > dev/cluster.jwt
