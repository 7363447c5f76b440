#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What one piece of the network hooks costs or saves, in-program (bpf_stats):
# egress and ingress time per run for connected-UDP round trips, and connect4,
# egress and ingress time per run for TCP connects, from a unit with one deny
# rule (4 000 of each, measured apart), this tree (A) against the same
# tree with that piece turned off (B), alternating, ROUNDS times. Needs root;
# about 3 minutes. Prints a Markdown table; BENCHMARKS.md quotes runs.
#
# VARIANT=mark (default): the connect hooks' socket mark (issue 28; README,
#   "Ingress"): B never takes connect4's mark_out() call.
# VARIANT=kept: the verdict kept on a socket for its own flow (issue 23;
#   README, "The verdict kept on a socket"): B never uses or keeps one.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
TMP=$(mktemp -d)
CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
CG=$CG_ROOT/ugbench-mark.service
PIN=/sys/fs/bpf/ugbench-mark
cleanup() {
	sysctl -qw kernel.bpf_stats_enabled=0
	pkill -f "unitguardd --db $TMP/.* --pin-dir $PIN" || true
	[ -x "$TMP/a/build/unitguardd" ] && "$TMP/a/build/unitguardd" --pin-dir "$PIN" --detach-all >/dev/null 2>&1
	rmdir "$CG" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

VARIANT=${VARIANT:-mark}
case $VARIANT in
mark | kept) ;;
*) echo "VARIANT: mark or kept" >&2; exit 2 ;;
esac
build() { # build DIR [-n]: this tree built in DIR; -n: with VARIANT off
	local f
	mkdir -p "$1/src"
	git -C "$SRC" archive HEAD | tar -x -C "$1/src"
	f=$1/src/bpf/cgroup/net.bpf.c
	if [ "${2:-}" = -n ] && [ "$VARIANT" = mark ]; then
		sed -i 's/hook == UG_HOOK_CONNECT4 \&\& op.proto == IPPROTO_TCP)/hook == UG_HOOK_CONNECT4 \&\& op.proto == 255)/' "$f"
		grep -q 'op.proto == 255' "$f" || { echo "the mark_out() call moved" >&2; exit 1; }
	elif [ "${2:-}" = -n ]; then
		# Referenced still (no unused function), never taken.
		sed -i 's/\tret = kept(skb, op->dir, gen);/\tret = 1 ? -1 : kept(skb, op->dir, gen);/
			s/\tif (rule_id != ~0u)$/\tif (0 \&\& rule_id != ~0u)/' "$f"
		[ "$(grep -c -e '1 ? -1 : kept' -e 'if (0 && rule_id' "$f")" = 2 ] ||
			{ echo "the kept()/keep() calls moved" >&2; exit 1; }
	fi
	"$1/src/packaging/build.sh" "$1/build" >"$1/build.log" 2>&1 || { tail "$1/build.log" >&2; exit 1; }
}
echo "building both ..." >&2
build "$TMP/a"
build "$TMP/b" -n
cc -O2 -Wall -D_GNU_SOURCE -o "$TMP/netbench" "$SRC/bench/netbench.c"

# snap: "time count" of ug_connect4, ug_egress, ug_ingress (cumulative bpf_stats).
snap() {
	bpftool -j prog show | jq -r '[.[] | select(.name == "ug_connect4" or .name == "ug_egress" or
		.name == "ug_ingress") | {(.name): "\(.run_time_ns // 0) \(.run_cnt // 0)"}] | add |
		"\(.ug_connect4) \(.ug_egress) \(.ug_ingress)"'
}
# per_run BEFORE AFTER K: ns per run of the K-th program (1 connect4, 2 egress, 3 ingress)
per_run() {
	local -a a b
	read -ra a <<<"$1"
	read -ra b <<<"$2"
	local i=$((($3 - 1) * 2))
	echo $(((b[i] - a[i]) / (b[i + 1] - a[i + 1] > 0 ? b[i + 1] - a[i + 1] : 1)))
}

measure() { # measure BUILD: "connect4 egress ingress" ns per run
	local b=$1 d pid
	d=$(mktemp -d -p "$TMP")
	mkdir -p "$CG"
	"$b/unitguardctl" --db "$d/db" --no-wait rule add ugbench-mark.service egress deny 10.0.0.1 >/dev/null
	"$b/unitguardd" --db "$d/db" --pin-dir "$PIN" >"$d/log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		[ "$("$TMP/netbench" --cgroup "$CG" check 10.0.0.1)" = EPERM ] && break
		sleep 0.05
	done
	[ "$("$TMP/netbench" --cgroup "$CG" check 10.0.0.1)" = EPERM ] ||
		{ echo "not enforcing: $(cat "$d/log")" >&2; kill "$pid"; exit 1; }
	sysctl -qw kernel.bpf_stats_enabled=1
	s0=$(snap)
	"$TMP/netbench" --cgroup "$CG" --udp 4000 --connect 0 --blocks 2 --cpu 1 --server-cpu 1 >/dev/null
	s1=$(snap)
	"$TMP/netbench" --cgroup "$CG" --udp 0 --connect 4000 --blocks 2 --cpu 1 --server-cpu 1 >/dev/null
	s2=$(snap)
	sysctl -qw kernel.bpf_stats_enabled=0
	# UDP: egress ingress; connects: connect4 egress ingress (ns per run)
	echo "$(per_run "$s0" "$s1" 2) $(per_run "$s0" "$s1" 3) $(per_run "$s1" "$s2" 1)" \
		"$(per_run "$s1" "$s2" 2) $(per_run "$s1" "$s2" 3)"
	kill "$pid"
	wait "$pid" || true
	"$b/unitguardd" --pin-dir "$PIN" --detach-all >/dev/null 2>&1
	rmdir "$CG"
}

echo "| round | UDP egress, A | UDP egress, B ($VARIANT off) | UDP ingress, A | UDP ingress, B | connect: connect4, A | connect4, B | connect: egress, A | egress, B | connect: ingress, A | ingress, B |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for r in $(seq "$ROUNDS"); do
	# One after the other: each ends (agent stopped, pins gone) before the next.
	read -r ua ia ca ea ja <<<"$(measure "$TMP/a/build")"
	read -r ub ib cb eb jb <<<"$(measure "$TMP/b/build")"
	echo "| $r | $ua | $ub | $ia | $ib | $ca | $cb | $ea | $eb | $ja | $jb |"
done
