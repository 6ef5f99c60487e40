#!/usr/bin/env bash
# A profile-guided release build of the relay (docs/performance.md, "Profile-guided optimisation").
#
#   dev/build-pgo.sh [DIR]        # default DIR: /tmp/moq-relay-pgo
#
# 1. builds the relay instrumented (`-Cprofile-generate`) into DIR/gen, and the load tool (plain
#    release) into DIR/tool unless PGO_TOOL names one already built;
# 2. runs the training loads through dev/bench-compare.sh against the instrumented relay: small
#    frames, large frames and session set-up (each relay writes its profile when it exits);
# 3. merges the profiles with llvm-profdata (Debian's llvm-19 reads the profiles of rustc's LLVM);
# 4. builds the relay with the merged profile (`-Cprofile-use`) into DIR/use.
#
# The result is DIR/use/<host triple>/release/moq-relay. Both release builds are link-time optimised (the
# workspace's release profile), so the script takes about three times a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-/tmp/moq-relay-pgo}
profiles="$dir/profiles"
mkdir -p "$dir"
rm -rf "$profiles"

profdata=$(command -v llvm-profdata-19 || true)
[ -n "$profdata" ] || profdata=/usr/lib/llvm-19/bin/llvm-profdata
if [ ! -x "$profdata" ]; then
	echo "installing llvm-19 for llvm-profdata" >&2
	apt-get install -y -q llvm-19 >/dev/null
	profdata=/usr/lib/llvm-19/bin/llvm-profdata
fi

# With an explicit --target, RUSTFLAGS reach the relay's code only, not the build scripts and
# procedural macros that run during the build (which would write profiles of their own).
host=$(rustc -vV | sed -n 's/^host: //p')

echo "==> the instrumented relay ($dir/gen)" >&2
RUSTFLAGS="-Cprofile-generate=$profiles" CARGO_TARGET_DIR="$dir/gen" \
	cargo build --release --locked --target "$host" -p moq-relay --bin moq-relay
# The load tool: PGO_TOOL (a built moq-relay-bench), or a plain release build of it.
tool=${PGO_TOOL:-}
if [ -z "$tool" ]; then
	echo "==> the load tool ($dir/tool)" >&2
	CARGO_TARGET_DIR="$dir/tool" cargo build --release --locked -p moq-relay-bench --bin moq-relay-bench
	tool="$dir/tool/release/moq-relay-bench"
fi

# dev/bench-compare.sh takes its binaries from one directory.
train="$dir/train"
mkdir -p "$train"
ln -sf "$dir/gen/$host/release/moq-relay" "$train/moq-relay"
ln -sf "$tool" "$train/moq-relay-bench"
for case in small large connect; do
	echo "==> training: $case" >&2
	BENCH_BIN="$train" BENCH_DURATION=5 dev/bench-compare.sh ours "$case" >/dev/null
done
shopt -s nullglob
raw=("$profiles"/*.profraw)
if [ ${#raw[@]} -eq 0 ]; then
	echo "no profile was written: did the instrumented relay exit cleanly?" >&2
	exit 1
fi
"$profdata" merge -o "$dir/merged.profdata" "${raw[@]}"

echo "==> the relay built with the profile ($dir/use)" >&2
RUSTFLAGS="-Cprofile-use=$dir/merged.profdata" CARGO_TARGET_DIR="$dir/use" \
	cargo build --release --locked --target "$host" -p moq-relay --bin moq-relay
echo "$dir/use/$host/release/moq-relay"
