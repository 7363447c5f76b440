#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What unitguard's enforcement costs a unit's traffic, measured side by side
# with no program, a floor program (one LPM lookup per hook: bench/floor.bpf.c)
# and nftables with the equivalent per-cgroup rule, for 10, 1000 and 10000
# prefixes; how long the agent takes to apply a 10000-prefix generation and a
# 100-rule change; what a unit with no rules pays while another has 10000.
# Writes BENCHMARKS.md at the top of the tree. Needs root; about 6 minutes.
#
# Loopback only. Rule prefixes are random /32s, map keys and never
# destinations, placed in 10.0.0.0/8 ("far" from the traffic) and again in
# 127.0.0.0/8 without 127.0.0.1 ("near": the trie lookup goes deep). All
# measured traffic goes to 127.0.0.1, which no rule covers, so every case is
# the allow path after a full lookup. The checks that rules are in force use
# UDP connect(), which sends nothing.
#
# Environment: UG_BUILD (unitguard build directory, default build-bench; it is
# configured and built as needed), BENCH_OUT (default BENCHMARKS.md),
# BENCH_SIZES ("10 1000 10000"), BENCH_ROUNDS (5), BENCH_UDP (50000 round
# trips per configuration and round), BENCH_CONNECT (10000), BENCH_CPU (1: the
# client and its servers share this CPU).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${UG_BUILD:-$SRC/build-bench}
OUT=${BENCH_OUT:-$SRC/BENCHMARKS.md}
SIZES=${BENCH_SIZES:-10 1000 10000}
ROUNDS=${BENCH_ROUNDS:-5}
N_UDP=${BENCH_UDP:-50000}
N_CONN=${BENCH_CONNECT:-10000}
CPU=${BENCH_CPU:-1}
. "$SRC/bench/net-lib.sh"
BLOCKS=25        # interleaved slices per configuration and round
APPLY_REPEAT=3   # agent apply-time measurements of each kind

UNIT=ugbench.service
NFT_TABLE=ugbench_$$
PIN_UG=/sys/fs/bpf/ugbench-ug-$$
PIN_FLOOR=/sys/fs/bpf/ugbench-floor-$$

die() { echo "run.sh: $*" >&2; exit 1; }
say() { echo "run.sh: $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root (BPF programs, cgroups, nftables)"
if ! command -v nft >/dev/null; then
	say "installing nftables"
	apt-get install -y nftables >/dev/null 2>&1 ||
		{ apt-get update >/dev/null 2>&1 && apt-get install -y nftables >/dev/null 2>&1; } ||
		die "cannot install nftables"
fi
for t in bpftool clang cc cmake sqlite3 nft jq awk sysctl; do
	command -v "$t" >/dev/null || die "needs $t"
done
CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$CG_ROOT" ] || die "no cgroup2 hierarchy mounted"
grep -q ' /sys/fs/bpf bpf ' /proc/self/mounts || mount -t bpf bpf /sys/fs/bpf

# --- cleanup, whatever happens ------------------------------------------------
TMP=
AGENT_PID=
CGS=()
CG_FLOOR=
STATS_SAVED=

floor_unload() {
	[ -d "$PIN_FLOOR/progs" ] || return 0
	bpftool cgroup detach "$CG_FLOOR" connect4 pinned "$PIN_FLOOR/progs/floor_connect4" || true
	bpftool cgroup detach "$CG_FLOOR" egress pinned "$PIN_FLOOR/progs/floor_egress" || true
	bpftool cgroup detach "$CG_FLOOR" ingress pinned "$PIN_FLOOR/progs/floor_ingress" 2>/dev/null ||
		true
	rm -rf "$PIN_FLOOR"
}

cleanup() {
	local rc=$? cg p i
	set +e
	trap - EXIT
	nft delete table inet "$NFT_TABLE" 2>/dev/null
	if [ -n "$AGENT_PID" ]; then
		kill "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
	fi
	if [ -d "$PIN_UG" ]; then
		"$BUILD/unitguardd" --pin-dir "$PIN_UG" --detach-all >/dev/null 2>&1
		rm -rf "$PIN_UG"
	fi
	floor_unload 2>/dev/null
	rm -rf "$PIN_FLOOR"
	for ((i = ${#CGS[@]} - 1; i >= 0; i--)); do # children first
		cg=${CGS[i]}
		[ -d "$cg" ] || continue
		while read -r p; do echo "$p" >"$CG_ROOT/cgroup.procs"; done <"$cg/cgroup.procs"
		rmdir "$cg"
	done
	[ -n "$STATS_SAVED" ] && sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED"
	if [ $rc -ne 0 ] && [ -f "$TMP/agent.log" ]; then
		echo "--- agent log (last lines) ---" >&2
		tail -n 20 "$TMP/agent.log" >&2
	fi
	[ -n "$TMP" ] && rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMP=$(mktemp -d /tmp/ugbench.XXXXXX)
STATS_SAVED=$(sysctl -n kernel.bpf_stats_enabled)
T_BEGIN=$(date +%s)

# --- build ----------------------------------------------------------------------
say "building unitguard in $BUILD"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
	cmake -S "$SRC" -B "$BUILD" >"$TMP/build.log" 2>&1 ||
		{ tail -n 20 "$TMP/build.log" >&2; die "cmake configure failed"; }
fi
cmake --build "$BUILD" -j"$(nproc)" >>"$TMP/build.log" 2>&1 ||
	{ tail -n 20 "$TMP/build.log" >&2; die "the tree does not build"; }
AGENT=$BUILD/unitguardd
CTL=$BUILD/unitguardctl
bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$TMP/vmlinux.h"
clang -target bpf -O2 -g -Wall -Werror -I"$TMP" -c "$SRC/bench/floor.bpf.c" -o "$TMP/floor.bpf.o"
cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$TMP/netbench" "$SRC/bench/netbench.c"
NB=$TMP/netbench
cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$SRC/policy" -I"$SRC/bpf" -o "$TMP/lpm_floor" \
	"$SRC/bench/lpm_floor.c" "$BUILD/libug_policy.a" -lbpf

# --- cgroups: one per configuration ----------------------------------------------
# All at level 1 but unitguard's unit and its sibling, which share a parent
# (ugbench.slice, like services in system.slice): unitguard attaches its
# programs at the parent of a guarded cgroup, so the sibling without rules
# runs them and finds no policy. ugbench-idle.service, in no slice with a
# guarded unit, runs nothing.
mkcg() { # VAR NAME: create $CG_ROOT/NAME, removed on exit
	local cg=$CG_ROOT/$2
	[ -e "$cg" ] && die "$cg exists: another run, or a leftover (move its tasks out, rmdir it)"
	mkdir "$cg"
	CGS+=("$cg")
	printf -v "$1" '%s' "$cg"
}
mkcg CG_NONE ugbench-none.service   # no program
mkcg CG_FLOOR ugbench-floor.service # the floor program
mkcg CG_SLICE ugbench.slice         # the parent of the next two
mkcg CG_UG "ugbench.slice/$UNIT"    # unitguard's rules
mkcg CG_SIB ugbench.slice/ugbench-sib.service # no rules, same parent as $UNIT
mkcg CG_IDLE ugbench-idle.service   # no rules while $UNIT has them, another parent
mkcg CG_NFT ugbench-nft.service     # the nftables rule
cgname() { basename "$1"; }
# nft 1.0 resolves a cgroupv2 path below /sys/fs/cgroup, whatever the cgroup2
# mount (here it may be /sys/fs/cgroup/unified); the level counts from the
# cgroup2 root.
case $CG_NFT in
/sys/fs/cgroup/*) NFT_CG_PATH=${CG_NFT#/sys/fs/cgroup/} ;;
*) die "cgroup2 is not below /sys/fs/cgroup: nft cannot name $CG_NFT" ;;
esac

# --- prefixes ---------------------------------------------------------------------
# 20100 distinct random 24-bit host parts, fixed seed, as /32s in two places:
# - far: in 10.0.0.0/8. A lookup of 127.0.0.1 leaves the trie at its first
#   node, where all keys share 10.: the cost of traffic that goes nowhere
#   near any rule.
# - near: in 127.0.0.0/8 (never 127.0.0.1). A lookup of 127.0.0.1 walks the
#   trie down among the keys as deep as the trie goes: traffic to a
#   destination that sits among the rules, without matching one.
# Lines 1-10000 give the sizes (the first N); 10001-20000 (far) the
# generation test; the rest (far) the 100-rule change.
bench_prefixes "$TMP"
sed -n 10001,20000p "$TMP/far.prefixes" >"$TMP/gen.prefixes"
sed -n '20001,$p' "$TMP/far.prefixes" >"$TMP/change.prefixes"
addr_of() { sed -n "${1}p" "$2" | cut -d/ -f1; }

# --- the floor program ------------------------------------------------------------
floor_load() { # FILE: fresh programs and a map holding FILE's prefixes
	floor_unload
	mkdir -p "$PIN_FLOOR"
	bpftool prog loadall "$TMP/floor.bpf.o" "$PIN_FLOOR/progs" pinmaps "$PIN_FLOOR/maps"
	floor_batch "$PIN_FLOOR/maps/floor_lpm" "$1" >"$TMP/floor.batch"
	bpftool batch file "$TMP/floor.batch" >/dev/null
	bpftool cgroup attach "$CG_FLOOR" connect4 pinned "$PIN_FLOOR/progs/floor_connect4"
	bpftool cgroup attach "$CG_FLOOR" egress pinned "$PIN_FLOOR/progs/floor_egress"
	if [ -n "$FLOOR_INGRESS" ]; then
		bpftool cgroup attach "$CG_FLOOR" ingress pinned "$PIN_FLOOR/progs/floor_ingress"
	fi
}

# --- unitguard ------------------------------------------------------------------------
DB=$TMP/store/unitguard.db
mkdir "$TMP/store"
sql() { sqlite3 -batch -cmd '.timeout 30000' "$DB" "$@"; }

# rules_sql MODE FILE: SQL for one transaction on $UNIT's rules with FILE's
# prefixes: MODE replace (only these), add or del.
rules_sql() {
	echo "BEGIN;"
	case $1 in
	replace) echo "DELETE FROM rules WHERE unit_id = $UNIT_ID;" ;;
	del)
		awk -v u="$UNIT_ID" -v q="'" '{
			printf "DELETE FROM rules WHERE unit_id = %s AND prefix = %s%s%s;\n", u, q, $0, q
		}' "$2"
		;;
	esac
	case $1 in
	replace | add)
		awk -v u="$UNIT_ID" -v q="'" '{
			printf "INSERT INTO rules (unit_id, direction, action, prefix) "
			printf "VALUES (%s, %segress%s, %sdeny%s, %s%s%s);\n", u, q, q, q, q, q, $0, q
		}' "$2"
		;;
	esac
	echo "COMMIT;"
}

gen_count() { # N: agent log lines reporting a generation of N rules for $UNIT
	grep -cE "net: ${UNIT//./\\.}: generation [0-9]+, $1 rules" "$TMP/agent.log" || true
}

wait_gen() { # N BEFORE: wait until gen_count N exceeds BEFORE (60 s at most)
	local i
	for ((i = 0; i < 1200; i++)); do
		[ "$(gen_count "$1")" -gt "$2" ] && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || die "the agent exited"
		grep -q "net: $UNIT: cannot load" "$TMP/agent.log" && die "the agent could not load the rules"
		sleep 0.05
	done
	die "the agent never reported a generation of $1 rules for $UNIT"
}

# 0.5 to 1.5 s after a switch (a grace period, then its once-a-second
# cleanup) the agent syncs the replaced trie to the live one, as the unit's
# standby for its next change: wait that out, so that work does not fall into
# a measurement.
settle() { sleep 2; }

apply_rules() { # MODE FILE N: commit, then wait for the agent's generation of N rules
	local before
	before=$(gen_count "$3")
	rules_sql "$1" "$2" >"$TMP/commit.sql"
	sql ".read $TMP/commit.sql"
	wait_gen "$3" "$before"
}

# The CLI creates the store (at the schema this build expects) and the unit.
head -n 1 "$TMP/far.prefixes" | xargs "$CTL" --db "$DB" --no-wait rule add "$UNIT" egress deny >/dev/null
UNIT_ID=$(sql "SELECT id FROM units WHERE target = '$UNIT'")
"$AGENT" --db "$DB" --pin-dir "$PIN_UG" >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
for ((i = 0; i < 200; i++)); do
	grep -q "agent: running" "$TMP/agent.log" && break
	kill -0 "$AGENT_PID" 2>/dev/null || die "the agent exited"
	sleep 0.05
done
grep -q "agent: running" "$TMP/agent.log" || die "the agent did not start"
# The floor has a program on each hook unitguard uses for this traffic:
# connect4 and egress, and ingress when this build attaches one.
# (grep reads a here-string: grep -q on a pipe can end bpftool with SIGPIPE.)
attached=$(bpftool cgroup show "$CG_SLICE")
grep -q cgroup_inet4_connect <<<"$attached" || die "no connect4 on $UNIT's parent"
FLOOR_INGRESS=
if grep -q cgroup_inet_ingress <<<"$attached"; then
	FLOOR_INGRESS=1
fi

# --- nftables ---------------------------------------------------------------------------
# The table and its set stay loaded for a whole size; the base chain (what
# puts nftables on the packet path) is added and deleted around the nftables
# slices of every block, so the same netbench process measures with and
# without it.
nft_set_file() { # PREFIXES OUT: the table, its set holding PREFIXES, no chain
	{
		echo "table inet $NFT_TABLE {"
		echo "	set blocked {"
		echo "		type ipv4_addr"
		echo "		flags interval"
		echo "		elements = {"
		sed 's/$/,/' "$1"
		echo "		}"
		echo "	}"
		echo "}"
	} >"$2"
}
{
	echo "add chain inet $NFT_TABLE output { type filter hook output priority filter; policy accept; }"
	echo "add rule inet $NFT_TABLE output" \
		"socket cgroupv2 level 1 \"$NFT_CG_PATH\" ip daddr @blocked drop"
} >"$TMP/nft-on.nft"
echo "delete chain inet $NFT_TABLE output" >"$TMP/nft-off.nft"

# Once, with a loopback element: the rule matches the cgroup and drops.
echo 127.77.0.1/32 >"$TMP/nft-check.prefixes"
nft_set_file "$TMP/nft-check.prefixes" "$TMP/nft.nft"
nft -f "$TMP/nft.nft"
nft -f "$TMP/nft-on.nft"
[ "$("$NB" --cgroup "$CG_NFT" send 127.77.0.1)" = EPERM ] || die "the nftables rule does not drop"
[ "$("$NB" --cgroup "$CG_NONE" send 127.77.0.1)" = ok ] || die "the nftables rule drops too much"
nft -f "$TMP/nft-off.nft"
[ "$("$NB" --cgroup "$CG_NFT" send 127.77.0.1)" = ok ] || die "the nftables chain is still there"
nft delete table inet "$NFT_TABLE"

# --- measurements -----------------------------------------------------------------------
RES=$TMP/results  # placement N round config udp_median connect_median udp_mean connect_mean
: >"$RES"
: >"$TMP/nft-load"
: >"$TMP/progstats"
: >"$TMP/cgshow"

# bench N ROUND: one interleaved netbench run of every configuration,
# appended to $RES. With the nftables chain in place ("on"), the no-program
# cgroup is "nft-other".
bench() {
	"$NB" --cpu "$CPU" --server-cpu "$CPU" --udp "$N_UDP" --connect "$N_CONN" \
		--blocks "$BLOCKS" --cgroup "$CG_NONE" --cgroup "$CG_FLOOR" --cgroup "$CG_UG" \
		--cgroup "$CG_IDLE" --cgroup "$CG_SIB" --on-cgroup "$CG_NONE" --on-cgroup "$CG_NFT" \
		--on-cmd "nft -f $TMP/nft-on.nft" --off-cmd "nft -f $TMP/nft-off.nft" >"$TMP/nb.out"
	awk -v pl="$PLACE" -v n="$1" -v r="$2" '{
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			f[kv[1]] = kv[2]
		}
		c = f["cgroup"]
		sub(".*/", "", c)
		if (c == "ugbench-none.service") c = f["state"] == "on" ? "nft-other" : "none"
		else if (c == "ugbench-floor.service") c = "floor"
		else if (c == "ugbench.service") c = "unitguard"
		else if (c == "ugbench-idle.service") c = "idle"
		else if (c == "ugbench-sib.service") c = "sibling"
		else if (c == "ugbench-nft.service") c = "nftables"
		print pl, n, r, c, f["udp_median_ns"], f["connect_median_ns"], f["udp_mean_ns"],
			f["connect_mean_ns"]
	}' "$TMP/nb.out" >>"$RES"
}

prog_stats() { # ID: run_time_ns run_cnt
	bpftool prog show id "$1" -j | jq -r '"\(.run_time_ns // 0) \(.run_cnt // 0)"'
}
cg_prog() { # CGROUP ATTACH_TYPE: id of the program attached there
	bpftool cgroup show "$1" -j | jq -r --arg t "$2" '.[] | select(.attach_type == $t) | .id'
}

# In-program time per run, from the kernel's own accounting (bpf_stats).
stats_pass() {
	local n=$1 name ids=() before=() after=() i t0 c0 t1 c1
	ids=("floor_connect4 $(cg_prog "$CG_FLOOR" cgroup_inet4_connect)"
		"floor_egress $(cg_prog "$CG_FLOOR" cgroup_inet_egress)"
		"unitguard_connect4 $(cg_prog "$CG_SLICE" cgroup_inet4_connect)"
		"unitguard_egress $(cg_prog "$CG_SLICE" cgroup_inet_egress)")
	if [ -n "$FLOOR_INGRESS" ]; then
		ids+=("floor_ingress $(cg_prog "$CG_FLOOR" cgroup_inet_ingress)"
			"unitguard_ingress $(cg_prog "$CG_SLICE" cgroup_inet_ingress)")
	fi
	sysctl -qw kernel.bpf_stats_enabled=1
	for i in "${!ids[@]}"; do before[i]=$(prog_stats "${ids[i]#* }"); done
	"$NB" --cpu "$CPU" --server-cpu "$CPU" --udp 20000 --connect 4000 --blocks 10 \
		--cgroup "$CG_FLOOR" --cgroup "$CG_UG" >/dev/null
	for i in "${!ids[@]}"; do after[i]=$(prog_stats "${ids[i]#* }"); done
	sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED"
	for i in "${!ids[@]}"; do
		read -r t0 c0 <<<"${before[i]}"
		read -r t1 c1 <<<"${after[i]}"
		name=${ids[i]%% *}
		[ $((c1 - c0)) -gt 0 ] || die "$name did not run during the stats pass"
		echo "$PLACE $n $name $(( (t1 - t0) / (c1 - c0) )) $((c1 - c0))" >>"$TMP/progstats"
	done
}

# The same programs on a hot cache: BPF_PROG_TEST_RUN (bpftool prog run) of
# one crafted packet, many times in a row, from a process in the unit's
# cgroup (the kernel gives the test skb a socket of the caller's cgroup, so
# unitguard finds the unit as for real traffic). No clock reads per run, no
# cold maps: what the instructions themselves cost. IPv4 UDP from 127.0.0.1
# to 127.0.0.1 port 9 (egress: the destination is judged; ingress: the
# source); preceded by an Ethernet header, which the kernel strips.
packet() { # SRC DST FILE
	python3 - "$1" "$2" "$3" <<'PY'
import socket, struct, sys
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 28, 0, 0, 64, 17, 0,
                 socket.inet_aton(sys.argv[1]), socket.inet_aton(sys.argv[2]))
open(sys.argv[3], 'wb').write(b'\0' * 12 + b'\x08\x00' + ip + struct.pack('!HHHH', 40000, 9, 8, 0))
PY
}
testrun() { # PROG_ID PACKET REPEAT: "return-value ns-per-run"
	(echo "$BASHPID" >"$CG_UG/cgroup.procs"
	 bpftool prog run id "$1" data_in "$2" repeat "$3" |
		sed -nE 's/.*Return value: ([0-9]+), duration( \(average\))?: ([0-9]+)ns.*/\1 \3/p')
}
testrun_pass() { # N PROBE: best of 7 alternations of 200000 runs, each program
	local n=$1 probe=$2 hook prog best r ret ns
	packet 127.0.0.1 127.0.0.1 "$TMP/pkt-egress"
	packet 127.0.0.1 127.0.0.1 "$TMP/pkt-ingress"
	packet 127.0.0.1 "$probe" "$TMP/pkt-deny"
	read -r ret ns <<<"$(testrun "$(cg_prog "$CG_SLICE" cgroup_inet_egress)" "$TMP/pkt-deny" 1)"
	[ "$ret" = 0 ] || die "test run: unitguard's egress program did not deny $probe from $UNIT"
	for hook in egress ingress; do
		[ "$hook" = ingress ] && [ -z "$FLOOR_INGRESS" ] && continue
		declare -A best=()
		for ((r = 0; r < 7; r++)); do
			for prog in floor unitguard; do
				local cg=$CG_FLOOR
				[ $prog = unitguard ] && cg=$CG_SLICE
				read -r ret ns <<<"$(testrun "$(cg_prog "$cg" "cgroup_inet_$hook")" \
					"$TMP/pkt-$hook" 200000)"
				[ "$ret" = 1 ] || die "test run: $prog $hook did not allow 127.0.0.1"
				[ -z "${best[$prog]:-}" ] || [ "$ns" -lt "${best[$prog]}" ] && best[$prog]=$ns
			done
		done
		for prog in floor unitguard; do
			echo "$PLACE $n ${prog}_$hook ${best[$prog]}" >>"$TMP/testrun"
		done
		unset best
	done
}
: >"$TMP/testrun"

for PLACE in far near; do
for n in $SIZES; do
	[ "$n" -le 10000 ] || die "sizes above 10000 are not generated"
	say "$n prefixes, $PLACE: loading the floor, unitguard's rules, the nftables set"
	head -n "$n" "$TMP/$PLACE.prefixes" >"$TMP/size.prefixes"
	floor_load "$TMP/size.prefixes"
	apply_rules replace "$TMP/size.prefixes" "$n"
	settle
	nft_set_file "$TMP/size.prefixes" "$TMP/nft.nft"
	t0=$(date +%s%N)
	nft -f "$TMP/nft.nft"
	echo "$PLACE $n $(( ($(date +%s%N) - t0) / 1000000 ))" >>"$TMP/nft-load"

	# Everything is in force where it should be, and nowhere else.
	probe=$(addr_of 1 "$TMP/size.prefixes")
	[ "$("$NB" --cgroup "$CG_UG" check "$probe")" = EPERM ] || die "unitguard does not deny $probe"
	[ "$("$NB" --cgroup "$CG_FLOOR" check "$probe")" = EPERM ] || die "the floor does not deny $probe"
	[ "$("$NB" --cgroup "$CG_IDLE" check "$probe")" != EPERM ] || die "$probe denied in the idle unit"
	[ "$("$NB" --cgroup "$CG_SIB" check "$probe")" != EPERM ] || die "$probe denied in the sibling"
	[ "$("$NB" --cgroup "$CG_UG" check 127.0.0.1)" = ok ] || die "unitguard denies 127.0.0.1"
	[ "$("$NB" --cgroup "$CG_FLOOR" check 127.0.0.1)" = ok ] || die "the floor denies 127.0.0.1"
	if [ "$PLACE" = near ]; then # loopback: a datagram can be sent for real
		nft -f "$TMP/nft-on.nft"
		[ "$("$NB" --cgroup "$CG_NFT" send "$probe")" = EPERM ] || die "nftables does not drop $probe"
		[ "$("$NB" --cgroup "$CG_NFT" send 127.0.0.1)" = ok ] || die "nftables drops 127.0.0.1"
		nft -f "$TMP/nft-off.nft"
	fi
	attached=$(bpftool cgroup show "$CG_UG" effective)
	grep -q cgroup_inet4_connect <<<"$attached" || die "no connect4 in effect on $UNIT"
	grep -q cgroup_inet_egress <<<"$attached" || die "no egress program in effect on $UNIT"
	for cg in "$CG_NONE" "$CG_IDLE" "$CG_NFT"; do
		[ -z "$(bpftool cgroup show "$cg" effective)" ] ||
			die "programs in effect on $cg: $(bpftool cgroup show "$cg" effective)"
	done
	if [ "$PLACE" = far ] && [ "$n" = "${SIZES##* }" ]; then
		for cg in "$CG_UG" "$CG_SIB" "$CG_IDLE"; do
			echo "$(cgname "$cg"):"
			bpftool cgroup show "$cg" effective | sed 's/^/    /'
			[ -n "$(bpftool cgroup show "$cg" effective)" ] || echo "    (nothing)"
		done >"$TMP/cgshow"
	fi

	for ((r = 1; r <= ROUNDS; r++)); do
		say "$n prefixes, $PLACE: round $r of $ROUNDS"
		bench "$n" "$r"
	done
	nft delete table inet "$NFT_TABLE"
	stats_pass "$n"
	testrun_pass "$n" "$probe"
done
done

# --- agent apply times --------------------------------------------------------------------
# Polled: a process in $UNIT does UDP connect() to an address the commit
# newly denies, every 100 us, until EPERM (netbench apply-latency).
: >"$TMP/apply"
apply_latency() { # KIND MODE FILE N PROBE
	local before out line gen ms
	before=$(gen_count "$4")
	rules_sql "$2" "$3" >"$TMP/commit.sql"
	out=$("$NB" --cgroup "$CG_UG" apply-latency "$5" 120000 \
		sqlite3 -batch -cmd '.timeout 30000' "$DB" ".read $TMP/commit.sql")
	wait_gen "$4" "$before"
	line=$(grep -E "net: ${UNIT//./\\.}: generation [0-9]+, $4 rules" "$TMP/agent.log" | tail -n 1)
	# Builds that time their work log "net: generation G applied in X ms".
	gen=$(sed -E 's/.*: generation ([0-9]+),.*/\1/' <<<"$line")
	ms=$(sed -nE "s/^net: generation $gen applied in ([0-9.]+) ms.*/\\1/p" "$TMP/agent.log" |
		tail -n 1)
	# KIND cmd_ns enforced_ns total_ns agent_ms|the agent's log line
	echo "$1 $(sed 's/[a-z_]*=//g' <<<"$out") ${ms:--}|${line#*: }" >>"$TMP/apply"
}
head -n 10 "$TMP/far.prefixes" >"$TMP/ten.prefixes"
gen_probe=$(addr_of 5000 "$TMP/gen.prefixes")
change_probe=$(addr_of 100 "$TMP/change.prefixes")
for ((i = 1; i <= APPLY_REPEAT; i++)); do
	say "agent apply time: 10 -> 10000 prefixes, $i of $APPLY_REPEAT"
	apply_rules replace "$TMP/ten.prefixes" 10
	settle
	apply_latency gen10000 replace "$TMP/gen.prefixes" 10000 "$gen_probe"
done
settle
for ((i = 1; i <= APPLY_REPEAT; i++)); do
	say "agent apply time: 10000 + 100 prefixes, $i of $APPLY_REPEAT"
	apply_latency change100 add "$TMP/change.prefixes" 10100 "$change_probe"
	apply_rules del "$TMP/change.prefixes" 10000
	settle
done
# The floor under those: compile 10 000 rules, insert 10 000 entries into a
# fresh LPM trie, overwrite 100 (no agent; best of 5).
say "apply floor: compiling and inserting 10000 entries"
"$TMP/lpm_floor" 10000 5 >"$TMP/lpm_floor.out" || die "lpm_floor failed"

# Errors about the benchmark's unit or the network side fail the run; others
# (e.g. no BPF LSM on this kernel) are quoted in the report.
! grep -E "(ugbench.*(NOT enforced|cannot))|^net: .*(cannot|failed)" "$TMP/agent.log" >&2 ||
	die "the agent reported errors"

# --- report ---------------------------------------------------------------------------------
T_END=$(date +%s)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
rev=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null)" ] &&
	rev="$rev + uncommitted changes"

# Medians over rounds; an overhead is taken per round against the same round's
# no-program figure, then its median over rounds.
AWK_MED='
function med(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	if (!n)
		return 0
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}'

report_place() { # PLACEMENT
	awk -v pl="$1" "$AWK_MED"'
	function ratio(a, b) { return b > 0 && a > 0 ? sprintf("%.2f", a / b) : "n/a" }
	$1 == pl {
		for (col = 5; col <= 6; col++)
			v[col, $2, $3, $4] = $col
		if (!($2 in seen)) { seen[$2] = 1; sizes[++ns] = $2 }
		if ($3 > nr) nr = $3
	}
	END {
		nc = split("none floor unitguard nftables idle sibling nft-other", cfgs, " ")
		title[5] = "UDP request/response, ns per round trip"
		title[6] = "TCP socket() + connect() + close(), ns per connection"
		for (col = 5; col <= 6; col++) {
			printf "%s:\n\n", title[col]
			printf "| prefixes | no program | floor | unitguard | nftables | floor overhead "
			printf "| unitguard overhead | nftables overhead | unitguard / floor "
			print "| unitguard / nftables |"
			print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
			for (k = 1; k <= ns; k++) {
				n = sizes[k]
				for (c = 1; c <= nc; c++) { val[cfgs[c]] = ""; ov[cfgs[c]] = "" }
				for (r = 1; r <= nr; r++) {
					base = v[col, n, r, "none"]
					for (c = 1; c <= nc; c++) {
						x = v[col, n, r, cfgs[c]]
						if (x == "") continue
						val[cfgs[c]] = val[cfgs[c]] " " x
						ov[cfgs[c]] = ov[cfgs[c]] " " (x - base)
					}
				}
				for (c = 1; c <= nc; c++) {
					m[cfgs[c]] = med(val[cfgs[c]])
					o[col, n, cfgs[c]] = med(ov[cfgs[c]])
				}
				printf "| %d | %d | %d | %d | %d | %+d | %+d | %+d | %s | %s |\n", n,
					m["none"], m["floor"], m["unitguard"], m["nftables"],
					o[col, n, "floor"], o[col, n, "unitguard"], o[col, n, "nftables"],
					ratio(o[col, n, "unitguard"], o[col, n, "floor"]),
					ratio(o[col, n, "unitguard"], o[col, n, "nftables"])
			}
			print ""
		}
		print "What **other** units pay (ns, overhead against no program) while"
		print "`ugbench.service` has N rules. unitguard: a unit without rules in another slice"
		print "runs nothing (this column is also an A/A comparison: it shows the method'"'"'s noise);"
		print "a unit without rules in the *same* slice (`ugbench-sib.service`) runs the programs"
		print "unitguard attaches at the slice, which find no policy for it. nftables runs its"
		print "output chain for every packet of the host.\n"
		printf "| prefixes | unitguard, unit without rules, other slice: UDP | connect "
		printf "| unitguard, unit without rules, same slice: UDP | connect "
		print "| nftables, any other cgroup: UDP | connect |"
		print "|---:|---:|---:|---:|---:|---:|---:|"
		for (k = 1; k <= ns; k++) {
			n = sizes[k]
			printf "| %d | %+d | %+d | %+d | %+d | %+d | %+d |\n", n, o[5, n, "idle"],
				o[6, n, "idle"], o[5, n, "sibling"], o[6, n, "sibling"],
				o[5, n, "nft-other"], o[6, n, "nft-other"]
		}
		print ""
	}' "$RES"
}

prog_table() { # PLACEMENT [FILE]: connect4 has no test run (BPF_PROG_TEST_RUN)
	awk -v pl="$1" '
	function cell(n, hook,   f, u) {
		f = t[n, "floor_" hook]; u = t[n, "unitguard_" hook]
		if (f == "" || u == "")
			return "| - | - | - "
		return sprintf("| %d | %d | %.2f ", f, u, u / f)
	}
	$1 == pl { t[$2, $3] = $4; if (!($2 in seen)) { seen[$2] = 1; sizes[++ns] = $2 } }
	END {
		printf "| prefixes | floor connect4 | unitguard connect4 | ratio | floor egress "
		print "| unitguard egress | ratio | floor ingress | unitguard ingress | ratio |"
		print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for (k = 1; k <= ns; k++) {
			n = sizes[k]
			print "| " n " " cell(n, "connect4") cell(n, "egress") cell(n, "ingress") "|"
		}
	}' "${2:-$TMP/progstats}"
}

apply_table() {
	awk -F'|' "$AWK_MED"'
	{
		split($1, f, " ")
		k = f[1]
		cmd[k] = cmd[k] " " f[2] / 1e6
		enf[k] = enf[k] " " f[3] / 1e6
		each[k] = each[k] sprintf("%s%.1f", each[k] == "" ? "" : ", ", f[3] / 1e6)
		if (f[5] != "-") {
			agent[k] = agent[k] " " f[5]
			aeach[k] = aeach[k] sprintf("%s%.1f", aeach[k] == "" ? "" : ", ", f[5])
		}
		logline[k] = $2
	}
	END {
		printf "| change | sqlite3 commit (process run time) | commit -> first EPERM, median (each run) "
		print "| agent'"'"'s own timing, median (each run) | agent log (last run) |"
		print "|---|---:|---:|---:|---|"
		split("gen10000 change100", kinds, " ")
		what["gen10000"] = "10 -> 10 000 prefixes, one transaction"
		what["change100"] = "10 000 -> 10 100 prefixes (+100 rules)"
		for (i = 1; i <= 2; i++) {
			k = kinds[i]
			printf "| %s | %.1f ms | **%.1f ms** (%s) | %s | `%s` |\n", what[k], med(cmd[k]),
				med(enf[k]), each[k],
				agent[k] == "" ? "not logged" : sprintf("%.1f ms (%s)", med(agent[k]), aeach[k]),
				logline[k]
		}
	}' "$TMP/apply"
}

{
	echo "# unitguard benchmarks"
	echo
	echo "Generated by \`bench/run.sh\` (as root, from the top of the tree; about"
	echo "$(( (T_END - T_BEGIN + 30) / 60 )) minutes). Do not edit by hand: rerun it."
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
	echo "| kernel | $(uname -r) |"
	echo "| CPUs | $(nproc) × $cpu_model (shared machine) |"
	echo "| unitguard | $rev, built in \`$(basename "$BUILD")\` |"
	echo "| nftables | $(nft --version) |"
	echo "| per configuration and round | $N_UDP UDP round trips, $N_CONN connects," \
		"in $BLOCKS interleaved slices; $ROUNDS rounds |"
	echo
	echo "## Method"
	echo
	echo "- Cgroups directly below the cgroup2 root (level 1): \`ugbench-none.service\`"
	echo "  (nothing attached), \`ugbench-floor.service\` (\`bench/floor.bpf.c\`: connect4,"
	echo "  cgroup_skb/egress$([ -z "$FLOOR_INGRESS" ] || echo " and, as unitguard attaches one, cgroup_skb/ingress"):"
	echo "  each exactly one LPM-trie lookup of the peer address, key shaped like"
	echo "  \`struct ug_lpm_key\`); \`ugbench.slice/ugbench.service\` (\`unitguardd\` on a temporary"
	echo "  store, its own pin directory, N deny rules; unitguard attaches its programs at the"
	echo "  slice, the unit's parent) and its sibling \`ugbench.slice/ugbench-sib.service\` (no"
	echo "  rules); \`ugbench-idle.service\` (no rules, no guarded unit in its parent) and"
	echo "  \`ugbench-nft.service\` (an \`inet\` table, output chain:"
	echo "  \`socket cgroupv2 level 1 \"$NFT_CG_PATH\" ip daddr @blocked drop\`, \`blocked\` an"
	echo "  interval set of the same N prefixes; nft 1.0 takes the path below /sys/fs/cgroup)."
	echo "- Prefixes: N distinct random /32s (fixed seed), the same in the three configurations, in"
	echo "  two placements: in 10.0.0.0/8 (\"far\") and, with the same host parts, in 127.0.0.0/8"
	echo "  without 127.0.0.1 (\"near\"). No traffic goes to them: all traffic is on 127.0.0.1, which"
	echo "  no rule covers, so every case is the allow path after a full lookup. How far a trie lookup"
	echo "  goes depends on the keys around the address: for 127.0.0.1 it stops at the first node when"
	echo "  all keys are in 10/8, and walks the trie's depth when they are in 127/8."
	echo "- Before measuring, each configuration is checked: a UDP \`connect()\` (which sends nothing)"
	echo "  to a rule's address gives EPERM in the floor and unitguard cgroups and not in the idle one,"
	echo "  127.0.0.1 passes; the nftables rule, loaded once with 127.77.0.1 in its set, drops a"
	echo "  datagram from its cgroup and from no other; \`bpftool cgroup show ... effective\` is empty"
	echo "  for the no-program, idle and nftables cgroups; the agent's log reports the generation with"
	echo "  N rules before anything is measured."
	echo "- \`bench/netbench.c\` forks a UDP echo server and a TCP listener on 127.0.0.1 first (they stay"
	echo "  outside the measured cgroups), then moves itself from cgroup to cgroup, taking each"
	echo "  configuration's samples in $BLOCKS slices in rotating order, so drift on this shared machine"
	echo "  falls on all alike. UDP: a connected socket, 1-byte request and echo: an established flow,"
	echo "  each round trip runs the client's egress hook once (and ingress once, for the echo, where"
	echo "  attached: for unitguard a reply on a connection the unit opened, judged by the egress rules;"
	echo "  README, \"Ingress\"). Connect: \`socket()\` + \`connect()\` + \`close()\` with SO_LINGER 0:"
	echo "  connect4 once (unitguard's also marks the TCP socket with the peer it allowed: one"
	echo "  socket-local storage allocation), egress three times (SYN, ACK, RST), ingress for the"
	echo "  SYN-ACK (a reply). Client and servers are pinned to CPU $CPU"
	echo "  (cross-CPU wake-ups in this VM make round trips bimodal, 12 or 60 µs)."
	echo "- nftables taxes every packet of the host while its output chain exists, so the chain is"
	echo "  added (\`nft -f\`, the table and its set stay loaded) before the nftables slices of each block"
	echo "  and deleted after them; in those slices the nftables cgroup and the no-program cgroup"
	echo "  (\"any other cgroup\") are measured. One netbench process per round measures all six, so"
	echo "  every overhead = configuration − no program (chain absent) within one process; the table"
	echo "  shows each configuration's median over $ROUNDS rounds and the median of the per-round"
	echo "  overheads. The idle unit is an A/A comparison: its figure shows the noise of the method."
	echo "- In-program time: \`kernel.bpf_stats_enabled=1\` during a separate pass (20000 round trips"
	echo "  and 4000 connects in the floor and unitguard cgroups); run_time_ns / run_cnt of each attached"
	echo "  program. It isolates what the programs cost from the noise of end-to-end timing, but"
	echo "  includes the clock reads of the accounting itself (the same for both), which pulls the"
	echo "  ratio towards 1. The end-to-end overheads add the hooks' own fixed cost."
	echo "- In-program time on a hot cache: the egress and ingress programs run by"
	echo "  \`BPF_PROG_TEST_RUN\` (\`bpftool prog run ... repeat 200000\`) on one crafted IPv4 UDP"
	echo "  packet to (egress) or from (ingress) 127.0.0.1, from a process in \`ugbench.service\`"
	echo "  (the test skb gets a socket of the caller's cgroup, so unitguard finds the unit); floor and"
	echo "  unitguard alternate 7 times, best of each. A denied address is first checked to return"
	echo "  drop. Maps and code stay in cache and there is no clock read per run: this is what the"
	echo "  instructions cost, the lower bound of what real traffic pays."
	echo "- Agent apply time, measured from outside: a process in \`ugbench.service\` polls (every"
	echo "  100 µs) a UDP \`connect()\` to an address the commit newly denies; the time runs from the"
	echo "  end of the \`sqlite3\` process that commits the transaction (rules inserted directly into"
	echo "  the store's \`rules\` table) to the first EPERM, so it includes noticing the change and"
	echo "  reading the store. Where the agent logs \"net: generation G applied in X ms\", X is"
	echo "  reported too (its own account of the generation's work)."
	echo "- After every policy change the script waits 2 s before measuring anything: 0.5-1.5 s"
	echo "  after the switch the agent syncs the replaced trie to the live rules (it becomes the"
	echo "  unit's standby, and the next change rewrites only what differs in it); that work must"
	echo "  not fall into a measurement, and it is not part of the apply times. So the 100-rule"
	echo "  change writes 100 entries; the 10 000-prefix generation writes all of them."
	echo
	echo "## Results"
	echo
	echo "### Destination far from every rule (rules in 10.0.0.0/8)"
	echo
	echo "The trie lookup of 127.0.0.1 ends at the first node (all keys share 10.): N barely matters."
	echo
	report_place far
	echo "In-program time, ns per run (bpf_stats):"
	echo
	prog_table far
	echo
	echo "In-program time on a hot cache, ns per run (BPF_PROG_TEST_RUN, best of 7 x 200000;"
	echo "connect4 programs cannot be test-run):"
	echo
	prog_table far "$TMP/testrun"
	echo
	echo "### Destination among the rules (rules in 127.0.0.0/8, not 127.0.0.1)"
	echo
	echo "The lookup of 127.0.0.1 walks the trie down among the keys: the deepest lookup N /32s give."
	echo
	report_place near
	echo "In-program time, ns per run (bpf_stats):"
	echo
	prog_table near
	echo
	echo "In-program time on a hot cache, ns per run (BPF_PROG_TEST_RUN, best of 7 x 200000;"
	echo "connect4 programs cannot be test-run):"
	echo
	prog_table near "$TMP/testrun"
	echo
	echo "### Agent apply time ($APPLY_REPEAT runs each)"
	echo
	apply_table
	echo
	echo "The floor under these (\`bench/lpm_floor.c\`, no agent, best of 5): the agent's compiler"
	echo "on 10 000 /32 rules, then one \`bpf_map_update_elem()\` per entry into a fresh LPM trie"
	echo "of unitguard's key and value size, then 100 overwrites:"
	echo
	sed -E 's/entries=([0-9]+) compile_ms=([0-9.]+) insert_ms=([0-9.]+) update100_ms=([0-9.]+)/- compile \2 ms; insert \1 entries \3 ms; overwrite 100 entries \4 ms/' \
		"$TMP/lpm_floor.out"
	echo
	echo "### Other figures"
	echo
	echo "nftables: loading the table and its set of N prefixes (one \`nft -f\`) took, in ms:"
	echo
	awk '{ l[$1 " " $2] = l[$1 " " $2] " " $3 } END { for (k in l) print k ":" l[k] }' \
		"$TMP/nft-load" | sort -k1,1 -k2,2n | sed 's/^\([a-z]*\) \([0-9]*\):/- \2 prefixes (\1):/'
	echo
	if grep -qE "NOT enforced|cannot|failed" "$TMP/agent.log"; then
		echo "The agent's log also said (nothing about the benchmark's unit):"
		echo
		echo '```'
		# (minus "failed to open link ...: -2": no pinned link to adopt yet, as expected)
		grep -E "NOT enforced|cannot|failed" "$TMP/agent.log" | grep -v "open link at .*: -2" |
			sort -u
		echo '```'
		echo
	fi
	echo "Programs in effect (\`bpftool cgroup show CGROUP effective\`) while \`ugbench.service\` has"
	echo "${SIZES##* } rules:"
	echo
	echo '```'
	cat "$TMP/cgshow"
	echo '```'
	echo
	echo "## Raw figures"
	echo
	echo "Each round's medians (ns): placement, prefixes, round, configuration, UDP round trip,"
	echo "connect; then the means."
	echo
	echo '```'
	sort -k1,1 -k2,2n -k3,3n -k4,4 "$RES" |
		awk '{ printf "%-4s %6s %2s %-10s %7s %7s %7s %7s\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
	echo '```'
	# Sections other scripts write (bench/scale.sh, between its markers)
	# are kept.
	kept=
	[ -f "$OUT" ] && kept=$(sed -n '/^<!-- [a-z-]*:begin/,/^<!-- [a-z-]*:end -->/p' "$OUT")
	[ -z "$kept" ] || printf '\n%s\n' "$kept"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
say "wrote $OUT ($(( T_END - T_BEGIN )) s)"
