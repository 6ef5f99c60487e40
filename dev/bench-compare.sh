#!/usr/bin/env bash
# One moq-relay-bench run against one relay, relay and load tool pinned to different cores.
#
#   dev/bench-compare.sh RELAY CASE [extra moq-relay-bench args...]
#   dev/bench-compare.sh hops N [extra moq-relay-bench args...]
#
# RELAY: `ours` (this repository's moq-relay) or `upstream` (the published moq-relay 0.17.x).
# CASE:
#   small     300 subscribers × 1,200 B × 30 fps
#   large     30 subscribers × 100,000 B × 30 fps
#   overload  300 subscribers × 100,000 B × 30 fps (more than 2 cores carry)
#   thousand  1000 subscribers × 1,200 B × 30 fps
#   connect   1000 sessions set up, 64 at once (--connect-only): relay CPU per admitted session
#   connect-jwt     the same, each session with a MoQ token (HS256, dev/root.jwk, `?jwt=`); the
#                   published relay verifies it through its auth server (`--auth-url`: moq-auth's
#                   server, the upstream_auth_server example, on core $BENCH_CORE)
#   connect-apikey  the same with an API key (`?auth_id=`; ours only: the published relay has none)
#   connect-pp      the same, each session with a Privacy Pass token of its own (`?pp=`; ours only),
#                   nonces in a TLS-only, password-protected redis-server (`rediss://`) on core
#                   $BENCH_CORE; the load tool issues the tokens (moq-pp-issuer's key) before measuring
#   reconnect the connect case with returning clients: each of the 1000 first connects and closes
#             once (unmeasured), then reconnects (--reconnect; TLS resumption where the relay
#             sends session tickets); relay CPU per session of the second round
#   idle      300 idle sessions: relay RSS before, open, after close
#   custom    the load (--subscribers, --frame-size, --fps, --group-frames) from the extra arguments
#
# A fresh relay is started for every run on a free 127.0.0.1 port (taskset core $RELAY_CORE,
# default 0), the load tool runs on core $BENCH_CORE (default 1), and the result is printed as one
# JSON object: {"relay", "case", "loadavg_before", "loadavg_after", "relay_cpu_quota_pct", "relay_threads", "tool_cpu",
# "bench"}, where `bench` is moq-relay-bench's --json report, `relay_threads` the relay's CPU seconds
# per thread name since it started (/proc/PID/task/*/stat at the end of the run) and `tool_cpu` the
# load tool's user and system CPU seconds and wall time (user + sys ≈ wall: its core was the limit).
#
# `hops N` starts a chain of three of this repository's relays linked as a cluster (origin ←
# regional ← edge: regional dials origin, edge dials regional; dev/root.jwk verifies dev/cluster.jwt),
# all on core $RELAY_CORE, publishes on the origin and subscribes 10 × 1,200 B × 30 fps on the relay
# N hops away (0 = the origin, 1 = regional, 2 = edge); every run starts all three. `bench` then
# carries the subscribers' relay's CPU and RSS; `relay_threads` is absent.
#
# Environment: BENCH_BIN (dir with moq-relay, moq-relay-bench, moq-token, moq-pp-issuer and
# examples/upstream_auth_server; default /tmp/target-bench/release),
# UPSTREAM_RELAY (default /tmp/upstream-relay/bin/moq-relay), BENCH_VERSION (default moq-lite-05),
# BENCH_CLIENT (the throughput cases' viewers: raw, the default, or moq-tokio),
# BENCH_DURATION (measured seconds, default 10), BENCH_WARMUP (default 2), BENCH_LOG_DIR (relay
# stderr, default /tmp/bench-compare-logs), PERF_RECORD=FILE (sample the relay with `perf record -F ${PERF_FREQ:-999}`
# into FILE during the run; PERF_ARGS adds options, e.g. `-g` for call graphs), RELAY_CPU_QUOTA=P (the relay
# may use P % of its core: see below).
set -euo pipefail

relay=${1:?usage: bench-compare.sh ours|upstream small|large|overload|thousand|idle|connect|connect-pp|reconnect|custom [args...]}
case=${2:?usage: bench-compare.sh ours|upstream small|large|overload|thousand|idle|connect|connect-pp|reconnect|custom [args...]}
shift 2

bin=${BENCH_BIN:-/tmp/target-bench/release}
upstream=${UPSTREAM_RELAY:-/tmp/upstream-relay/bin/moq-relay}
version=${BENCH_VERSION:-moq-lite-05}
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-2}
relay_core=${RELAY_CORE:-0}
bench_core=${BENCH_CORE:-1}
log_dir=${BENCH_LOG_DIR:-/tmp/bench-compare-logs}
mkdir -p "$log_dir"
repo=$(cd "$(dirname "$0")/.." && pwd)

# free_port, fingerprint_of
. "$repo/dev/lib.sh"

need_binary "$bin/moq-relay-bench" "$release_build"
need_binary "$bin/moq-relay" "$release_build"
[ "$relay" != upstream ] || need_binary "$upstream" "$published_relay"

if [ "$relay" = hops ]; then
	hops=$case
	[[ "$hops" =~ ^[012]$ ]] || {
		echo "hops N: N is 0, 1 or 2" >&2
		exit 2
	}
	pids=()
	trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done' EXIT
	ports=()
	fps=()
	for i in 0 1 2; do
		port=$(free_port)
		log="$log_dir/hops-$hops-relay$i-$port.log"
		args=(--server-bind "127.0.0.1:$port" --tls-generate localhost,127.0.0.1 --auth-public anon
			--auth-key "$repo/dev/root.jwk" --cluster-id $((i + 1)))
		if [ "$i" -gt 0 ]; then
			args+=(--cluster-connect "http://127.0.0.1:${ports[$((i - 1))]}" --cluster-token "$repo/dev/cluster.jwt")
		fi
		RUST_LOG=warn taskset -c "$relay_core" "$bin/moq-relay" "${args[@]}" >"$log" 2>&1 &
		pids+=($!)
		ports+=("$port")
		fps+=("$(fingerprint_of "$port" "${pids[$i]}" "$log")")
	done
	loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)
	report=$(taskset -c "$bench_core" "$bin/moq-relay-bench" --url "moqt://127.0.0.1:${ports[0]}/anon" \
		--tls-fingerprint "${fps[0]}" --subscriber-url "moqt://127.0.0.1:${ports[$hops]}/anon" \
		--subscriber-tls-fingerprint "${fps[$hops]}" --version "$version" --relay-pid "${pids[$hops]}" \
		--subscribers 10 --frame-size 1200 --fps 30 --group-frames 30 --duration "$duration" \
		--warmup "$warmup" --json "$@")
	loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)
	jq -c -n --arg hops "$hops" --arg lb "$loadavg_before" --arg la "$loadavg_after" --argjson bench "$report" \
		'{relay: "hops", case: $hops, loadavg_before: $lb, loadavg_after: $la, bench: $bench}'
	exit 0
fi

# A port free on TCP now (the relay binds UDP and TCP on it).
port=$(free_port)
log="$log_dir/$relay-$case-$port.log"

# The session path (and credential) every load-tool session dials, and the relay's auth flags.
path=/anon
ours_auth=(--auth-public anon)
upstream_auth=(--auth-public '**')
auth_pid=
redis_pid=
scratch=
relay_env=()
bench_auth=()
api_key=bench-api-key-7f6e5d4c3b2a1908
case "$case" in
connect-jwt)
	path="/bench?jwt=$("$bin/moq-token" --key "$repo/dev/root.jwk" sign --root bench --publish "" --subscribe "" --expires-in 1h)"
	ours_auth=(--auth-key "$repo/dev/root.jwk")
	if [ "$relay" = upstream ]; then
		auth_port=$(free_port)
		taskset -c "$bench_core" "$bin/examples/upstream_auth_server" --listen "127.0.0.1:$auth_port" \
			--key "$repo/dev/root.jwk" >"$log_dir/auth-$auth_port.log" 2>&1 &
		auth_pid=$!
		for _ in $(seq 100); do
			grep -q listening "$log_dir/auth-$auth_port.log" && break
			sleep 0.1
		done
		upstream_auth=(--auth-url "http://127.0.0.1:$auth_port/")
	fi
	;;
connect-apikey)
	[ "$relay" = ours ] || {
		echo "the published relay has no API keys" >&2
		exit 2
	}
	path="/bench?auth_id=$api_key"
	ours_auth=(--auth-api-keys "$api_key")
	;;
connect-pp)
	[ "$relay" = ours ] || {
		echo "the published relay has no Privacy Pass" >&2
		exit 2
	}
	[ -x "$bin/moq-pp-issuer" ] || {
		echo "$bin/moq-pp-issuer is missing: CARGO_TARGET_DIR=$(dirname "$bin") cargo build --release -p moq-privacy-pass --features http --bin moq-pp-issuer" >&2
		exit 2
	}
	need_binary "$bin/moq-pp-issuer" "CARGO_TARGET_DIR=/tmp/target-bench cargo build --release -p moq-privacy-pass --features http --bin moq-pp-issuer"
	scratch=$(mktemp -d)
	# The issuer's key pair: moq-pp-issuer writes both, then is stopped.
	"$bin/moq-pp-issuer" --bind 127.0.0.1:0 --key "$scratch/issuer.pem" \
		--public-key-out "$scratch/issuer.pub" >"$scratch/issuer.log" 2>&1 &
	issuer_pid=$!
	for _ in $(seq 100); do
		grep -q ready "$scratch/issuer.log" && break
		sleep 0.1
	done
	kill "$issuer_pid" && wait "$issuer_pid" 2>/dev/null || true
	[ -s "$scratch/issuer.pub" ] || {
		echo "moq-pp-issuer wrote no public key: $(cat "$scratch/issuer.log")" >&2
		exit 2
	}
	# A TLS-only redis-server with a password, its certificate from a CA the relay trusts through
	# SSL_CERT_FILE (docs/privacy-pass.md).
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=bench-ca \
		-keyout "$scratch/ca.key" -out "$scratch/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
		-keyout "$scratch/redis.key" -out "$scratch/redis.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$scratch/san.ext"
	openssl x509 -req -in "$scratch/redis.csr" -CA "$scratch/ca.pem" -CAkey "$scratch/ca.key" -CAcreateserial \
		-days 1 -extfile "$scratch/san.ext" -out "$scratch/redis.pem" 2>/dev/null
	redis_port=$(free_port)
	redis_password=$(openssl rand -hex 16)
	taskset -c "$bench_core" redis-server --port 0 --tls-port "$redis_port" --tls-cert-file "$scratch/redis.pem" \
		--tls-key-file "$scratch/redis.key" --tls-ca-cert-file "$scratch/ca.pem" --tls-auth-clients no \
		--requirepass "$redis_password" --save "" --appendonly no >"$scratch/redis.log" 2>&1 &
	redis_pid=$!
	for _ in $(seq 100); do
		grep -q "Ready to accept connections" "$scratch/redis.log" && break
		sleep 0.1
	done
	# The publisher comes with a MoQ token; the 1000 measured sessions each with a Privacy Pass token.
	path="/bench?jwt=$("$bin/moq-token" --key "$repo/dev/root.jwk" sign --root bench --publish "" --subscribe "" --expires-in 1h)"
	ours_auth=(--auth-key "$repo/dev/root.jwk" --privacypass-enabled --privacypass-issuer bench-issuer.local
		--privacypass-issuer-key "$scratch/issuer.pub" --privacypass-redemption-context empty
		--privacypass-origins bench.local --privacypass-root bench --privacypass-sub ""
		--privacypass-redis "rediss://:$redis_password@127.0.0.1:$redis_port")
	relay_env=(SSL_CERT_FILE="$scratch/ca.pem")
	bench_auth=(--privacy-pass-key "$scratch/issuer.pem" --privacy-pass-issuer bench-issuer.local
		--privacy-pass-origins bench.local)
	;;
esac

case "$relay" in
ours)
	# The load tool's hundreds of viewers all come from 127.0.0.1: the per-address caps (which the
	# published relay does not have) are raised so they measure delivery, not admission.
	env "${relay_env[@]}" RUST_LOG="${RELAY_LOG:-warn}" taskset -c "$relay_core" "$bin/moq-relay" --server-bind "127.0.0.1:$port" \
		--tls-generate localhost,127.0.0.1 "${ours_auth[@]}" \
		--limits-max-pending-per-ip 1000 --limits-handshake-rate 1000 >"$log" 2>&1 &
	;;
upstream)
	RUST_LOG=warn taskset -c "$relay_core" "$upstream" --log-level warn --listen "127.0.0.1:$port" \
		--listen-tls-generate localhost,127.0.0.1 "${upstream_auth[@]}" --web-http-listen "127.0.0.1:$port" >"$log" 2>&1 &
	;;
*)
	echo "unknown relay $relay" >&2
	exit 2
	;;
esac
pid=$!
perf_pid=
cgroup=

cleanup() {
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
	fi
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	[ -z "${cgroup:-}" ] || rmdir "$cgroup" 2>/dev/null || true
	for p in "$auth_pid" "$redis_pid"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[ -z "$scratch" ] || rm -rf "$scratch"
}
trap cleanup EXIT

# RELAY_CPU_QUOTA=P: the relay may use P % of one core (a CFS quota in a cgroup of its own, per
# 10 ms period), so that a load tool on one core can outrun it and a run shows the relay's own
# overload behaviour (target 4 of docs/performance.md on a 2-core machine). Needs root and the
# cgroup cpu controller (v1 at /sys/fs/cgroup/cpu, or v2 with cpu enabled for children).
if [ -n "${RELAY_CPU_QUOTA:-}" ]; then
	if [ -d /sys/fs/cgroup/cpu ] && [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
		cgroup=/sys/fs/cgroup/cpu/moq-bench-$$
		mkdir "$cgroup"
		echo 10000 >"$cgroup/cpu.cfs_period_us"
		echo $((RELAY_CPU_QUOTA * 100)) >"$cgroup/cpu.cfs_quota_us"
	elif grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
		cgroup=/sys/fs/cgroup/moq-bench-$$
		mkdir "$cgroup"
		echo "$((RELAY_CPU_QUOTA * 100)) 10000" >"$cgroup/cpu.max"
	else
		echo "RELAY_CPU_QUOTA needs root and the cgroup cpu controller (v1, or v2 enabled for children)" >&2
		exit 2
	fi
	echo "$pid" >"$cgroup/cgroup.procs"
fi

fingerprint=$(fingerprint_of "$port" "$pid" "$log")

bench=(taskset -c "$bench_core" "$bin/moq-relay-bench" --url "moqt://127.0.0.1:$port$path"
	--tls-fingerprint "$fingerprint" --version "$version" --relay-pid "$pid" --json)
# The viewers of the throughput cases: the lean raw-QUIC subscriber (`--client raw`), whose cost per
# group leaves the relay's latency visible; BENCH_CLIENT=moq-tokio for the published client.
load=(--fps 30 --group-frames 30 --duration "$duration" --warmup "$warmup" --client "${BENCH_CLIENT:-raw}")
case "$case" in
small) bench+=(--subscribers 300 --frame-size 1200 "${load[@]}") ;;
large) bench+=(--subscribers 30 --frame-size 100000 "${load[@]}") ;;
overload) bench+=(--subscribers 300 --frame-size 100000 "${load[@]}") ;;
thousand) bench+=(--subscribers 1000 --frame-size 1200 "${load[@]}") ;;
connect | connect-jwt | connect-apikey) bench+=(--connect-only 1000) ;;
connect-pp) bench+=(--connect-only 1000 --subscriber-url "moqt://127.0.0.1:$port/bench" "${bench_auth[@]}") ;;
reconnect) bench+=(--connect-only 1000 --reconnect) ;;
idle) bench+=(--idle 300) ;;
custom) bench+=(--duration "$duration" --warmup "$warmup" --client "${BENCH_CLIENT:-raw}") ;; # the load from the extra arguments
*)
	echo "unknown case $case" >&2
	exit 2
	;;
esac

if [ -n "${PERF_RECORD:-}" ]; then
	perf record ${PERF_ARGS:-} -F ${PERF_FREQ:-999} -o "$PERF_RECORD" -p "$pid" 2>/dev/null &
	perf_pid=$!
fi

loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)
out=$(mktemp)
# The load tool's own user and system CPU seconds and wall time: whether its core was the limit.
TIMEFORMAT='%U %S %R'
bench_time=$({ time "${bench[@]}" "$@" >"$out"; } 2>&1 | tail -1)
report=$(cat "$out")
rm -f "$out"
loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Per-thread CPU seconds of the relay, summed by thread name (comm).
ticks=$(getconf CLK_TCK)
threads=$(for stat in /proc/"$pid"/task/*/stat; do
	# comm is in parentheses and may hold spaces; utime and stime are fields 14 and 15.
	sed -E 's/^[0-9]+ \((.*)\) (.*)$/\1\t\2/' "$stat" 2>/dev/null | awk -F'\t' -v t="$ticks" \
		'{ split($2, f, " "); printf "%s\t%.2f\n", $1, (f[12] + f[13]) / t }'
done | jq -R -s 'split("\n") | map(select(length > 0) | split("\t")) | group_by(.[0])
	| map({key: .[0][0], value: (map(.[1] | tonumber) | add * 100 | round / 100)}) | from_entries')

read -r tool_user tool_sys tool_wall <<<"$bench_time"
jq -c -n --arg relay "$relay" --arg case "$case" --arg lb "$loadavg_before" --arg la "$loadavg_after" \
	--argjson threads "$threads" --argjson bench "$report" \
	--argjson tool "{\"user_s\": $tool_user, \"sys_s\": $tool_sys, \"wall_s\": $tool_wall}" \
	--argjson quota "${RELAY_CPU_QUOTA:-null}" \
	'{relay: $relay, case: $case, loadavg_before: $lb, loadavg_after: $la, relay_cpu_quota_pct: $quota, relay_threads: $threads, tool_cpu: $tool, bench: $bench}'
