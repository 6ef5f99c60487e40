# Shell helpers of the benchmark scripts (dev/bench-compare.sh, dev/bench-floor.sh, dev/soak.sh):
# sourced, never run.

# Stops the script, naming the command that makes it (`how`), when `path` is not an executable:
# the benchmarks want release builds. (dev/setup.sh installs the published relay as a debug build for the tests, which
# would make any comparison meaningless.)
need_binary() {
	local path=$1 how=$2
	[ -x "$path" ] || {
		echo "no $path: $how" >&2
		exit 2
	}
}
release_build="CARGO_TARGET_DIR=/tmp/target-bench cargo build --release -p moq-relay -p moq-relay-bench -p moq-token-cli --bins --examples (or set BENCH_BIN)"
published_relay="cargo install moq-relay --version 0.17.10 --root /tmp/upstream-relay (or set UPSTREAM_RELAY)"

# A free TCP port on 127.0.0.1 (the relays bind the same number for UDP).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until the server `pid` started (`log` is where it writes) is ready and prints its
# certificate fingerprint: from /certificate.sha256 on `port`, or, given a fourth argument, from
# the JSON line with a `fingerprint` the server writes to that file (the QUIC floor's `serve`).
# Fails, saying where to look, when the server exits or is not ready in 10 s.
fingerprint_of() {
	local port=$1 pid=$2 log=$3 json=${4:-} fp=
	for _ in $(seq 100); do
		if [ -n "$json" ]; then
			[ -s "$json" ] && fp=$(jq -r .fingerprint "$json")
		else
			fp=$(curl -sf "http://127.0.0.1:$port/certificate.sha256" || true)
		fi
		[ -n "$fp" ] && break
		kill -0 "$pid" 2>/dev/null || {
			echo "the server exited; see $log" >&2
			return 1
		}
		sleep 0.1
	done
	[ -n "$fp" ] || {
		echo "the server was not ready on port $port within 10 s; see $log" >&2
		return 1
	}
	echo "$fp"
}
