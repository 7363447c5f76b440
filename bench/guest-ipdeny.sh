#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs INSIDE the VM (tests/e2e/vm/run.sh; systemd 252 is PID 1), started by
# bench/vm-ipdeny.sh: what a unit's traffic pays under systemd's own per-unit
# firewall (IPAddressDeny=, cgroup_skb ingress and egress programs systemd
# builds itself) beside the same prefixes under unitguard, a unit with no
# program, and the floor program (bench/floor.bpf.c: one LPM lookup per hook).
#
# Four transient services (`sleep infinity`, IPAccounting=no so systemd
# attaches nothing but the firewall), each in a slice of its own, so no
# configuration sees another's programs (unitguard attaches at the guarded
# unit's parent, the slice):
#   ugb-none.service   nothing
#   ugb-floor.service  bench/floor.bpf.c on connect4, egress, ingress
#   ugb-sd.service     IPAddressDeny= the N prefixes (set-property --runtime)
#   ugb-ug.service     unitguard: the N prefixes denied egress and ingress
#                      (2N rules: IPAddressDeny= applies to both directions)
# Prefixes: the first N of bench/run.sh's random /32s (bench/net-lib.sh), in
# 10.0.0.0/8 ("far") and 127.0.0.0/8 ("near"); all measured traffic goes to
# 127.0.0.1, which none covers: the allow path after a full lookup.
#
# Per placement and N: every configuration is checked to enforce (a UDP
# datagram to the first prefix's address gets EPERM in the floor, systemd and
# unitguard units and passes in the bare one; one to 127.0.0.1 passes in all:
# UDP because systemd's programs drop packets, which a UDP send reports at
# once, while a dropped SYN only makes connect(2) retransmit), then ROUNDS
# runs of bench/netbench.c over the four cgroups in interleaved slices, then
# one pass with kernel.bpf_stats_enabled for the programs' own time per run.
#
# Output: "UGB ..." lines (key=value), parsed by the host.
#
# Environment: UG_BIN (build directory, required), UG_IPD_DIR (netbench,
# floor.bpf.o, *.prefixes, made by the host; required), UG_IPD_SIZES
# ("10 1000 10000"), UG_IPD_PLACES ("far near"), UG_IPD_ROUNDS (3),
# UG_IPD_UDP, UG_IPD_CONNECT (round trips and connects per configuration
# and round), UG_IPD_BLOCKS (interleaved slices per run).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
UG_BIN=${UG_BIN:?UG_BIN must name the build directory}
D=${UG_IPD_DIR:?UG_IPD_DIR must name the host-made directory}
SIZES=${UG_IPD_SIZES:-10 1000 10000}
PLACES=${UG_IPD_PLACES:-far near}
ROUNDS=${UG_IPD_ROUNDS:-3}
N_UDP=${UG_IPD_UDP:-6000}
N_CONN=${UG_IPD_CONNECT:-1500}
BLOCKS=${UG_IPD_BLOCKS:-15}
CTL=$UG_BIN/unitguardctl
AGENT=$UG_BIN/unitguardd
NB=$D/netbench
W=$(mktemp -d /tmp/ugipd.XXXXXX)
DB=$W/ug.db
PIN=/sys/fs/bpf/ugipd
PIN_FLOOR=/sys/fs/bpf/ugipd-floor
CONFIGS="none floor sd ug"
AGENT_PID=
STATS_SAVED=
CG_none='' CG_floor='' CG_sd='' CG_ug='' # the units' cgroups, set once they run

. "$SRC/bench/net-lib.sh"
say() { echo "UGB-NOTE $*"; }
die() { echo "UGB-FATAL $*"; exit 1; }

[ "$(cat /proc/1/comm)" = systemd ] || die "systemd is not PID 1"
for f in "$CTL" "$AGENT" "$NB" "$D/floor.bpf.o" "$D/far.prefixes"; do [ -e "$f" ] || die "no $f"; done
for t in bpftool jq sqlite3 python3 ip; do command -v "$t" >/dev/null || die "needs $t"; done

floor_unload() {
	[ -d "$PIN_FLOOR/progs" ] || return 0
	for h in connect4:floor_connect4 egress:floor_egress ingress:floor_ingress; do
		bpftool cgroup detach "$CG_floor" "${h%%:*}" pinned "$PIN_FLOOR/progs/${h#*:}" 2>/dev/null || true
	done
	rm -rf "$PIN_FLOOR"
}
cleanup() {
	set +e
	[ -n "$STATS_SAVED" ] && sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED"
	floor_unload
	if [ -n "$AGENT_PID" ]; then
		kill "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
		"$AGENT" --pin-dir "$PIN" --detach-all >/dev/null 2>&1
	fi
	for c in $CONFIGS; do systemctl stop "ugb-$c.service" "ugb-$c.slice" 2>/dev/null; done
	true
}
trap cleanup EXIT

echo "UGB meta kernel=$(uname -r) systemd=$(systemctl --version | awk 'NR == 1 { print $2 }')" \
	"cpus=$(nproc) udp=$N_UDP connect=$N_CONN blocks=$BLOCKS rounds=$ROUNDS"

# Sends to the far prefixes must leave through the egress hook, not fail at
# the route lookup (the guest has no network): 10.0.0.0/8 becomes local, as
# 127.0.0.0/8 is. 127.0.0.1, the measured destination, is routed as before.
ip route add local 10.0.0.0/8 dev lo table local 2>/dev/null || true

# --- the units --------------------------------------------------------------------
for c in $CONFIGS; do
	systemd-run --quiet --unit="ugb-$c.service" --slice="ugb-$c" -p IPAccounting=no sleep infinity
	cg=/sys/fs/cgroup$(systemctl show -P ControlGroup "ugb-$c.service")
	[ -d "$cg" ] || die "no cgroup $cg for ugb-$c.service"
	printf -v "CG_$c" '%s' "$cg"
done

# --- unitguard: a store of its own, the unit known, no rules yet -------------------
"$CTL" --db "$DB" --no-wait apply - <<<$'version: 1\nunits: []' >/dev/null
sqlite3 -batch "$DB" "INSERT INTO units (target) VALUES ('ugb-ug.service');"
UNIT_ID=$(sqlite3 -batch "$DB" "SELECT id FROM units WHERE target = 'ugb-ug.service'")
JOURNAL_STREAM=bench "$AGENT" --db "$DB" --pin-dir "$PIN" >"$W/agent.log" 2>&1 &
AGENT_PID=$!
python3 "$SRC/bench/ack.py" "$DB" >/dev/null || die "the agent never acknowledged the store"

ug_rules() { # FILE: only FILE's prefixes, denied both ways, in force on return
	{
		echo "BEGIN;"
		echo "DELETE FROM rules WHERE unit_id = $UNIT_ID;"
		awk -v u="$UNIT_ID" -v q="'" '{
			for (i = 0; i < 2; i++)
				printf "INSERT INTO rules (unit_id, direction, action, prefix) VALUES (%s, %s%s%s, %sdeny%s, %s%s%s);\n",
					u, q, i ? "ingress" : "egress", q, q, q, q, $0, q
		}' "$1"
		echo "COMMIT;"
	} >"$W/rules.sql"
	python3 "$SRC/bench/ack.py" "$DB" "$W/rules.sql"
}

sd_rules() { # FILE: IPAddressDeny= exactly FILE's prefixes
	# One call; assignments of 500 prefixes each (one argument may not
	# exceed 128 KiB), the first empty one resetting the list.
	local args
	mapfile -t args < <(echo IPAddressDeny=; xargs -n 500 <"$1" | sed 's/^/IPAddressDeny=/')
	systemctl set-property --runtime ugb-sd.service "${args[@]}"
}

floor_rules() { # FILE
	floor_unload
	mkdir -p "$PIN_FLOOR"
	bpftool prog loadall "$D/floor.bpf.o" "$PIN_FLOOR/progs" pinmaps "$PIN_FLOOR/maps"
	floor_batch "$PIN_FLOOR/maps/floor_lpm" "$1" >"$W/floor.batch"
	bpftool batch file "$W/floor.batch" >/dev/null
	for h in connect4:floor_connect4 egress:floor_egress ingress:floor_ingress; do
		bpftool cgroup attach "$CG_floor" "${h%%:*}" pinned "$PIN_FLOOR/progs/${h#*:}"
	done
}

# probe CONFIG ADDR: one UDP datagram to ADDR:9 from a shell in CONFIG's
# cgroup: ok, EPERM (refused at connect, unitguard, or at send, systemd and
# the floor) or error.
probe() {
	local cg=CG_$1 err
	err=$(bash -c 'echo $$ >"$1/cgroup.procs" && exec 3>"/dev/udp/$2/9" && printf x >&3' \
		_ "${!cg}" "$2" 2>&1 >/dev/null) && { echo ok; return; }
	case $err in *"not permitted"*) echo EPERM ;; *) echo "error:${err//[[:space:]]/_}" ;; esac
}

prog_ids() { # CGROUP ATTACH_TYPE: ids attached right there, one a line
	bpftool cgroup show "$1" -j | jq -r --arg t "$2" '.[] | select(.attach_type == $t) | .id'
}
prog_stats() { # ID: run_time_ns run_cnt
	bpftool prog show id "$1" -j | jq -r '"\(.run_time_ns // 0) \(.run_cnt // 0)"'
}

# bench_run PLACE N ROUND [BLOCKS UDP CONNECT]: one interleaved netbench run.
bench_run() {
	"$NB" --cpu 1 --server-cpu 1 --udp "${5:-$N_UDP}" --connect "${6:-$N_CONN}" \
		--blocks "${4:-$BLOCKS}" --cgroup "$CG_none" --cgroup "$CG_floor" \
		--cgroup "$CG_sd" --cgroup "$CG_ug" >"$W/nb.out"
	awk -v pl="$1" -v n="$2" -v r="$3" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		c = f["cgroup"]; sub(".*/ugb-", "", c); sub("\\.service$", "", c)
		printf "UGB res place=%s n=%s round=%s config=%s udp=%s connect=%s udp_mean=%s connect_mean=%s\n",
			pl, n, r, c, f["udp_median_ns"], f["connect_median_ns"], f["udp_mean_ns"], f["connect_mean_ns"]
	}' "$W/nb.out"
}

# stats_pass PLACE N: in-program ns per run of every program on the
# measured hooks, from one netbench run with bpf_stats on.
stats_pass() {
	local pl=$1 n=$2 c h cg id ids=() keys=() before=() i t0 c0 t1 c1
	for c in floor sd ug; do
		cg=CG_$c
		cg=${!cg}
		[ "$c" = ug ] && cg=$(dirname "$cg") # unitguard attaches at the parent
		for h in cgroup_inet4_connect cgroup_inet_egress cgroup_inet_ingress; do
			for id in $(prog_ids "$cg" "$h"); do
				ids+=("$id")
				keys+=("$c ${h#cgroup_inet}")
			done
		done
	done
	STATS_SAVED=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
	for i in "${!ids[@]}"; do before[i]=$(prog_stats "${ids[i]}"); done
	bench_run "$pl" "$n" stats 5 "$((N_UDP / 2))" "$((N_CONN / 2))" >/dev/null
	for i in "${!ids[@]}"; do
		read -r t0 c0 <<<"${before[i]}"
		read -r t1 c1 <<<"$(prog_stats "${ids[i]}")"
		read -r c h <<<"${keys[i]}"
		echo "UGB stats place=$pl n=$n config=$c hook=${h#_} id=${ids[i]} ns=$((t1 - t0)) runs=$((c1 - c0))"
	done
	sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED"
	STATS_SAVED=
}

# --- warm-up: binaries read over 9p, first sockets; not reported --------------------
bench_run warmup 0 0 2 400 80 >/dev/null

for PL in $PLACES; do
	for N in $SIZES; do
		head -n "$N" "$D/$PL.prefixes" >"$W/size.prefixes"
		t0=$EPOCHREALTIME
		sd_rules "$W/size.prefixes"
		t1=$EPOCHREALTIME
		ack=$(ug_rules "$W/size.prefixes") || die "$PL $N: unitguard never acknowledged the rules"
		floor_rules "$W/size.prefixes"
		# What is in place: systemd's list as it reads it back, the
		# programs on each configuration's cgroup.
		sdn=$(systemctl show -P IPAddressDeny ugb-sd.service | wc -w)
		echo "UGB load place=$PL n=$N sd_set_property_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
			"sd_listed=$sdn ug_ack_us=$ack"
		[ "$sdn" = "$N" ] || die "$PL $N: systemd lists $sdn prefixes in IPAddressDeny"
		for c in $CONFIGS; do
			cg=CG_$c
			echo "UGB effective place=$PL n=$N config=$c progs=$(bpftool cgroup show "${!cg}" effective -j |
				jq -r '[.[] | "\(.attach_type):\(.name)"] | join(",")')"
		done

		# Each configuration enforces, and lets the measured destination through.
		deny=$(head -n 1 "$W/size.prefixes" | cut -d/ -f1)
		for c in $CONFIGS; do
			want=EPERM
			[ "$c" = none ] && want=ok
			for _ in $(seq 20); do # systemd may realize the cgroup just after replying
				got=$(probe "$c" "$deny")
				[ "$got" = "$want" ] && break
				sleep 0.2
			done
			pass=$(probe "$c" 127.0.0.1)
			echo "UGB check place=$PL n=$N config=$c denied_addr=$deny got=$got want=$want loopback=$pass"
			[ "$got" = "$want" ] || die "$PL $N: $c: $deny gave $got, not $want"
			[ "$pass" = ok ] || die "$PL $N: $c: 127.0.0.1 gave $pass"
		done

		sleep 2 # the agent's standby sync after a switch, out of the measurement
		for ((r = 1; r <= ROUNDS; r++)); do
			bench_run "$PL" "$N" "$r"
		done
		stats_pass "$PL" "$N"
	done
done

kill -0 "$AGENT_PID" 2>/dev/null || say "the agent is not running at the end"
grep -E '^<[0-3]>' "$W/agent.log" | sed 's/^/UGB-AGENT /' || true
echo "UGB done agent_errors=$(grep -cE '^<[0-3]>' "$W/agent.log" || true)"
