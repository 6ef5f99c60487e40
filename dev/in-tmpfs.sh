#!/bin/sh
# A file system of a given size, for tests of what happens when a disk is full.
#
#   dev/in-tmpfs.sh run SIZE DIR [--full] COMMAND [ARG...]
#       Runs COMMAND with a new tmpfs of SIZE (64k, 1m, ...) mounted at DIR (which must exist), in a
#       mount namespace of its own (util-linux `unshare`): nothing else sees the mount, and it goes
#       with the command. As root a mount namespace alone is used (user namespaces may be disabled
#       there); otherwise a user namespace maps the user to root. With --full, DIR is filled
#       (DIR/filler) before COMMAND starts. The mount is seen from outside at /proc/PID/root/DIR.
#   dev/in-tmpfs.sh fill DIR
#       Fills DIR's file system with DIR/filler; fails if room is left.
set -eu

fill() {
	dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null || true
	[ "$(df --output=avail "$1" | tail -n 1 | tr -d ' ')" = 0 ] || {
		echo "in-tmpfs.sh: $1 still has room after filling it" >&2
		exit 91
	}
}

case "${1:-}" in
fill)
	fill "$2"
	;;
run)
	size=$2 dir=$3
	shift 3
	if [ "${IN_TMPFS_NAMESPACE:-}" != 1 ]; then
		command -v unshare >/dev/null || {
			echo "in-tmpfs.sh: unshare is not installed (Debian's util-linux package has it)" >&2
			exit 90
		}
		namespace="--mount"
		[ "$(id -u)" = 0 ] || namespace="--map-root-user --mount"
		# shellcheck disable=SC2086 # two words on purpose
		IN_TMPFS_NAMESPACE=1 exec unshare $namespace "$0" run "$size" "$dir" "$@"
	fi
	mount -t tmpfs -o "size=$size,mode=0700" tmpfs "$dir"
	if [ "${1:-}" = --full ]; then
		shift
		fill "$dir"
	fi
	unset IN_TMPFS_NAMESPACE
	exec "$@"
	;;
*)
	echo "usage: in-tmpfs.sh run SIZE DIR [--full] COMMAND [ARG...] | in-tmpfs.sh fill DIR" >&2
	exit 2
	;;
esac
