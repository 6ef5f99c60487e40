#!/usr/bin/env bash
# One run of the QUIC floor benchmark (rs/moq-relay-bench/examples/quic_floor.rs), server and load
# pinned to different cores.
#
#   dev/bench-floor.sh SERVER MODE [extra quic_floor MODE args...]
#
# SERVER: `floor` (quic_floor serve: the relay's QUIC stack with no relay on it), `ours` (this
# repository's moq-relay) or `upstream` (the published moq-relay 0.17.x).
# MODE:
#   small     floor only: 300 raw viewers × 1,200 B × 30 fps (the side-by-side's `small`)
#   large     floor only: 30 raw viewers × 100,000 B × 30 fps (`large`)
#   connect   1000 sessions (SETUP, ANNOUNCE_OK, close), 64 at once: server CPU per session
#   idle      300 sessions held open: server RSS per session
# The relays get what dev/bench-compare.sh gives them (public path /anon, per-address caps raised on
# ours). One JSON object on stdout, quic_floor's, with "server" and "loadavg_before" added.
#
# Environment: BENCH_BIN (dir with moq-relay and examples/quic_floor; default
# /tmp/target-bench/release), UPSTREAM_RELAY (default /tmp/upstream-relay/bin/moq-relay), RELAY_CORE
# (default 0), BENCH_CORE (default 1), BENCH_LOG_DIR (default /tmp/bench-compare-logs).
set -euo pipefail
# free_port, fingerprint_of
. "$(dirname "$0")/lib.sh"

server=${1:?usage: bench-floor.sh floor|ours|upstream small|large|connect|idle [args...]}
mode=${2:?usage: bench-floor.sh floor|ours|upstream small|large|connect|idle [args...]}
shift 2

bin=${BENCH_BIN:-/tmp/target-bench/release}
upstream=${UPSTREAM_RELAY:-/tmp/upstream-relay/bin/moq-relay}
relay_core=${RELAY_CORE:-0}
bench_core=${BENCH_CORE:-1}
log_dir=${BENCH_LOG_DIR:-/tmp/bench-compare-logs}
mkdir -p "$log_dir"
need_binary "$bin/examples/quic_floor" "$release_build"
[ "$server" != ours ] || need_binary "$bin/moq-relay" "$release_build"
[ "$server" != upstream ] || need_binary "$upstream" "$published_relay"

serve_args=()
load=()
case "$mode" in
small)
	serve_args=(--frame-size 1200)
	load=(fanout --subscribers 300 --frame-size 1200)
	;;
large)
	serve_args=(--frame-size 100000)
	load=(fanout --subscribers 30 --frame-size 100000)
	;;
connect | idle) load=("$mode") ;;
*)
	echo "unknown mode $mode" >&2
	exit 2
	;;
esac
if [ "${load[0]}" = fanout ] && [ "$server" != floor ]; then
	echo "$mode runs against the floor only (a relay needs a publisher: dev/bench-compare.sh)" >&2
	exit 2
fi

port=$(free_port)
log="$log_dir/floor-$server-$mode-$port.log"
out="$log_dir/floor-$server-$mode-$port.out"
case "$server" in
floor)
	taskset -c "$relay_core" "$bin/examples/quic_floor" serve --bind "127.0.0.1:$port" "${serve_args[@]}" \
		>"$out" 2>"$log" &
	;;
ours)
	RUST_LOG=warn taskset -c "$relay_core" "$bin/moq-relay" --server-bind "127.0.0.1:$port" \
		--tls-generate localhost,127.0.0.1 --auth-public anon \
		--limits-max-pending-per-ip 1000 --limits-handshake-rate 1000 >"$log" 2>&1 &
	;;
upstream)
	RUST_LOG=warn taskset -c "$relay_core" "$upstream" --log-level warn --listen "127.0.0.1:$port" \
		--listen-tls-generate localhost,127.0.0.1 --auth-public '**' --web-http-listen "127.0.0.1:$port" \
		>"$log" 2>&1 &
	;;
*)
	echo "unknown server $server" >&2
	exit 2
	;;
esac
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT

if [ "$server" = floor ]; then
	fp=$(fingerprint_of "$port" "$pid" "$log" "$out") || exit 1
else
	fp=$(fingerprint_of "$port" "$pid" "$log") || exit 1
fi

loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)
report=$(taskset -c "$bench_core" "$bin/examples/quic_floor" "${load[@]}" --addr "127.0.0.1:$port" \
	--fingerprint "$fp" --server-pid "$pid" "$@")
jq -c -n --arg server "$server" --arg lb "$loadavg_before" --argjson report "$report" \
	'$report + {server: $server, loadavg_before: $lb}'
