#!/usr/bin/env bash
# A soak run of this repository's relay: moq-relay-bench --soak against a fresh release relay,
# relay and load tool pinned to different cores (as dev/bench-compare.sh does).
#
#   dev/soak.sh [extra moq-relay-bench args...]
#
# Defaults: 5 publishers (one broadcast each, 1,200 B frames at $SOAK_FPS fps, a group a second),
# 1,000 subscriber sessions (100 of them never churn) opened at 40 a second, then 5 leaving and 5
# joining every second for $SOAK_DURATION seconds; a sample every $SOAK_SAMPLE seconds; RSS judged
# after the ramp plus $SOAK_WARMUP seconds. Extra arguments override these.
#
# The relay runs with its default limits on a free 127.0.0.1 port (taskset core $RELAY_CORE,
# default 0); the load tool runs on core $BENCH_CORE (default 1) with at most 32 sessions being
# set up at once (the relay lets one address have 50 pending). Progress lines go to stderr; at the
# end one JSON object is printed: {"loadavg_before", "loadavg_after", "tool_cpu", "relay_threads",
# "relay_log_lines", "exit", "bench"} where `bench` is moq-relay-bench's report, `tool_cpu` the load
# tool's user and system CPU seconds and wall time, `relay_threads` the relay's CPU seconds per
# thread name, `relay_log_lines` the WARN/ERROR lines the relay logged, and `exit` the load tool's
# exit status (2: the soak counted an error or RSS was not flat). The human summary is written
# to $SOAK_OUT.txt and the JSON report to $SOAK_OUT.json.
#
# Environment: BENCH_BIN (dir with moq-relay and moq-relay-bench; default /tmp/target-bench/release),
# BENCH_VERSION (default moq-lite-05), SOAK_SUBSCRIBERS (1000), SOAK_PUBLISHERS (5), SOAK_FPS (30),
# SOAK_DURATION (600), SOAK_WARMUP (60), SOAK_SAMPLE (10), SOAK_CHURN (5), SOAK_OUT
# (default /tmp/soak-<time>), BENCH_LOG_DIR (relay stderr, default /tmp/bench-compare-logs).
set -euo pipefail
# free_port, fingerprint_of
. "$(dirname "$0")/lib.sh"

bin=${BENCH_BIN:-/tmp/target-bench/release}
version=${BENCH_VERSION:-moq-lite-05}
relay_core=${RELAY_CORE:-0}
bench_core=${BENCH_CORE:-1}
subscribers=${SOAK_SUBSCRIBERS:-1000}
publishers=${SOAK_PUBLISHERS:-5}
fps=${SOAK_FPS:-30}
duration=${SOAK_DURATION:-600}
warmup=${SOAK_WARMUP:-60}
sample=${SOAK_SAMPLE:-10}
churn=${SOAK_CHURN:-5}
out=${SOAK_OUT:-/tmp/soak-$(date +%Y%m%d-%H%M%S)}
log_dir=${BENCH_LOG_DIR:-/tmp/bench-compare-logs}
mkdir -p "$log_dir"
need_binary "$bin/moq-relay" "$release_build"
need_binary "$bin/moq-relay-bench" "$release_build"

port=$(free_port)
log="$log_dir/soak-$port.log"
RUST_LOG=warn taskset -c "$relay_core" "$bin/moq-relay" --server-bind "127.0.0.1:$port" \
	--tls-generate localhost,127.0.0.1 --auth-public anon >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT

fp=$(fingerprint_of "$port" "$pid" "$log") || exit 1

# A group a second at any frame rate.
group_frames=$(python3 -c "print(max(1, round($fps)))")
bench=(taskset -c "$bench_core" "$bin/moq-relay-bench" --url "moqt://127.0.0.1:$port/anon"
	--tls-fingerprint "$fp" --version "$version" --relay-pid "$pid"
	--relay-metrics "http://127.0.0.1:$port/metrics" --soak --publishers "$publishers"
	--subscribers "$subscribers" --churn "$churn" --ramp 40 --concurrency 32 --frame-size 1200
	--fps "$fps" --group-frames "$group_frames" --duration "$duration" --warmup "$warmup"
	--sample-every "$sample" --json-out "$out.json")

# glibc malloc raises its mmap threshold each time a large mmapped block is freed; with endpoints
# opened and closed five times a second the load tool's heap then fragments and its RSS grows
# (about 200 KiB per churned session in a trial) as if it leaked. A fixed threshold keeps it flat.
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-131072}

loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "soak: relay pid $pid on core $relay_core, port $port; load average $loadavg_before; report $out.json" >&2
TIMEFORMAT='%U %S %R'
status=0
# The tool's progress lines pass through to stderr; `time` reports on the last line. With pipefail
# the status is the tool's (tee and tail succeed).
bench_time=$({ time "${bench[@]}" "$@" >"$out.txt"; } 2>&1 | tee /dev/stderr | tail -1) || status=$?
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)
[ -s "$out.json" ] || {
	echo "no report (exit $status); see $out.txt and $log" >&2
	exit 1
}

ticks=$(getconf CLK_TCK)
threads=$(for stat in /proc/"$pid"/task/*/stat; do
	sed -E 's/^[0-9]+ \((.*)\) (.*)$/\1\t\2/' "$stat" 2>/dev/null | awk -F'\t' -v t="$ticks" \
		'{ split($2, f, " "); printf "%s\t%.2f\n", $1, (f[12] + f[13]) / t }'
done | jq -R -s 'split("\n") | map(select(length > 0) | split("\t")) | group_by(.[0])
	| map({key: .[0][0], value: (map(.[1] | tonumber) | add * 100 | round / 100)}) | from_entries')
log_lines=$(grep -c -E 'WARN|ERROR' "$log" || true)

read -r tool_user tool_sys tool_wall <<<"$bench_time"
jq -c -n --arg lb "$loadavg_before" --arg la "$loadavg_after" --argjson threads "$threads" \
	--argjson logs "$log_lines" --argjson exit "$status" --slurpfile bench "$out.json" \
	--argjson tool "{\"user_s\": $tool_user, \"sys_s\": $tool_sys, \"wall_s\": $tool_wall}" \
	'{loadavg_before: $lb, loadavg_after: $la, tool_cpu: $tool, relay_threads: $threads,
	  relay_log_lines: $logs, exit: $exit, bench: $bench[0]}'
cat "$out.txt" >&2
exit "$status"
