#!/usr/bin/env bash
# The side-by-side of docs/performance.md: 3 repetitions × 9 cases × 2 relays (and API-key and Privacy Pass set-up, ours only) (order alternating per
# repetition), then the per-hop latency chain; one JSON file per run in $OUT, then the medians table
# from dev/bench-summary.py. `overload-half` is the overload case with the relay held to half its
# core (RELAY_CPU_QUOTA=50 in dev/bench-compare.sh: root and the cgroup cpu controller), so that the
# relay and not the load tool is the limit; without them its runs fail and the table says n/a.
#
#   dev/bench-side-by-side.sh [OUT]      # default OUT=/tmp/bench-results/side-by-side
#
# Needs the release binaries (BENCH_BIN, see dev/bench-compare.sh) and the published relay
# (UPSTREAM_RELAY). Keep the machine otherwise idle: every run pins the relay to core 0 and the load
# tool to core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/bench-results/side-by-side}
mkdir -p "$out"
for rep in 1 2 3; do
	if [ "$rep" = 2 ]; then order="upstream ours"; else order="ours upstream"; fi
	for case in small large overload overload-half thousand idle connect reconnect connect-jwt; do
		extra=()
		# Read the RSS 15 s after the close: jemalloc's background thread returns pages within ~10 s.
		[ "$case" = idle ] && extra=(--idle-settle 15)
		run=("$case") quota=
		[ "$case" = overload-half ] && run=(overload) quota=50
		for relay in $order; do
			f="$out/$relay-$case-$rep.json"
			echo "$(date +%T) $relay $case $rep load $(cut -d' ' -f1 /proc/loadavg)"
			RELAY_CPU_QUOTA=$quota timeout 240 dev/bench-compare.sh "$relay" "${run[@]}" "${extra[@]}" >"$f" 2>"$out/$relay-$case-$rep.err" ||
				echo "  FAILED rc=$? (see $out/$relay-$case-$rep.err)"
			sleep 2
		done
	done
	for case in connect-apikey connect-pp; do
		f="$out/ours-$case-$rep.json"
		echo "$(date +%T) ours $case $rep load $(cut -d' ' -f1 /proc/loadavg)"
		timeout 240 dev/bench-compare.sh ours "$case" >"$f" 2>"$out/ours-$case-$rep.err" ||
			echo "  FAILED rc=$? (see $out/ours-$case-$rep.err)"
	done
done
for rep in 1 2 3; do
	for hops in 0 1 2; do
		echo "$(date +%T) hops $hops $rep load $(cut -d' ' -f1 /proc/loadavg)"
		timeout 120 dev/bench-compare.sh hops "$hops" >"$out/hops-$hops-$rep.json" 2>"$out/hops-$hops-$rep.err" ||
			echo "  FAILED rc=$? (see $out/hops-$hops-$rep.err)"
		sleep 1
	done
done
python3 dev/bench-summary.py "$out"
