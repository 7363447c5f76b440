#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs INSIDE the VM (tests/e2e/vm/run.sh; systemd 252 is PID 1), started by
# bench/vm-scale.sh: issue 12's scale figures with systemd as PID 1, where the
# agent finds each unit's cgroup through D-Bus (ControlGroup of the unit
# object) and learns of starts and stops from JobRemoved signals.
#
# SCALE_UNITS (default 100) transient services run all the time, s0000 ...,
# in ugscale.slice (`systemd-run ... sleep infinity`). Per configuration, U
# of them guarded (U in 1 and SCALE_UNITS) with P deny prefixes each (P in
# 100 1000), the same store bench/scale.sh writes on the host:
#   start   agent start on the loaded store (fresh pins) to its
#           acknowledgement of the store's policy version;
#   add     `unitguardctl rule add` on one unit until it returns (it waits for
#           the agent's acknowledgement), with a connect from inside the
#           unit's cgroup right after that must get EPERM; median of 5;
#   change  a 100-rule change on one unit, commit to acknowledgement, median of 3;
#   rss/hwm the agent's VmRSS after the changes settled, and VmHWM.
# Output: one "UGB scale ..." line per configuration (key=value, times in
# microseconds), parsed by the host. Under TCG only the ratios mean anything.
#
# Environment: UG_BIN (build directory, required), SCALE_UNITS,
# SCALE_PREFIXES ("100 1000").
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
UG_BIN=${UG_BIN:?UG_BIN must name the build directory}
NUNITS=${SCALE_UNITS:-100}
PREFIXES=${SCALE_PREFIXES:-100 1000}
CTL=$UG_BIN/unitguardctl
AGENT=$UG_BIN/unitguardd
PROBE=$UG_BIN/tests/e2e/ugprobe
W=$(mktemp -d /tmp/ugscale.XXXXXX)
DB=$W/ug.db
PIN=/sys/fs/bpf/ugscale
SLICE=ugscale.slice
AGENT_PID=

. "$SRC/bench/scale-lib.sh"
say() { echo "UGB-NOTE $*"; }
die() { echo "UGB-FATAL $*"; exit 1; }
us() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }

[ "$(cat /proc/1/comm)" = systemd ] || die "systemd is not PID 1"
for f in "$CTL" "$AGENT" "$PROBE"; do [ -x "$f" ] || die "no $f"; done

stop_agent() {
	[ -n "$AGENT_PID" ] || return 0
	kill "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=
	"$AGENT" --pin-dir "$PIN" --detach-all >/dev/null 2>&1 || true
}
cleanup() {
	set +e
	stop_agent
	systemctl stop "$SLICE" 2>/dev/null
	true
}
trap cleanup EXIT

echo "UGB meta kernel=$(uname -r) systemd=$(systemctl --version | awk 'NR == 1 { print $2 }')" \
	"cpus=$(nproc) units=$NUNITS"

# --- the units: running all the time, whatever is guarded -------------------------
t0=$(us)
for ((u = 0; u < NUNITS; u++)); do
	systemd-run --quiet --unit="$(unit_name "$u")" --slice="$SLICE" -p IPAccounting=no sleep infinity
done
say "$NUNITS units started in $((($(us) - t0) / 1000)) ms"
CG=$(systemctl show -P ControlGroup "$SLICE")
[ -d "/sys/fs/cgroup$CG/$(unit_name $((NUNITS - 1)))" ] || die "no cgroup for the last unit under $CG"

# --- one configuration ------------------------------------------------------------
run_config() { # U P
	local U=$1 P=$2 t0 t1 start add ch rss hwm id got i mid dbus
	rm -f "$DB" "$DB"-*
	"$CTL" --db "$DB" --no-wait apply - <<<$'version: 1\nunits: []' >/dev/null
	scale_load "$DB" "$U" "$P"
	# JOURNAL_STREAM: the agent prefixes each log line with its priority.
	t0=$(us)
	JOURNAL_STREAM=bench "$AGENT" --db "$DB" --pin-dir "$PIN" >"$W/agent-$U-$P.log" 2>&1 &
	AGENT_PID=$!
	python3 "$SRC/bench/ack.py" "$DB" >/dev/null || die "$U x $P: the agent never acknowledged"
	t1=$(us)
	start=$((t1 - t0))
	sleep 3 # retired tries past their grace period, standbys synced
	mid=$(unit_name $((U / 2)))
	add=()
	for i in 1 2 3 4 5; do
		t0=$(us)
		id=$("$CTL" --db "$DB" rule add "$mid" egress deny "127.0.0.$((i + 1))") ||
			die "$U x $P: rule add failed"
		t1=$(us)
		got=$("$PROBE" --cgroup "/sys/fs/cgroup$CG/$mid" connect "127.0.0.$((i + 1))" 9 || true)
		[ "$got" = EPERM ] || die "$U x $P: rule add on one of $U units: connect right after gave $got"
		add+=($((t1 - t0)))
		"$CTL" --db "$DB" rule del "$id"
	done
	ch=()
	for i in 1 2 3; do
		scale_change_sql "$(unit_name 0)" "$i" >"$W/ch.sql"
		ch+=($(python3 "$SRC/bench/ack.py" "$DB" "$W/ch.sql")) || die "$U x $P: change not acknowledged"
	done
	sleep 2
	rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$AGENT_PID/status")
	hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$AGENT_PID/status")
	# The agent must have found the units through D-Bus, not the tree.
	dbus=0
	grep -q "units are resolved through systemd over D-Bus" "$W/agent-$U-$P.log" && dbus=1
	stop_agent
	echo "UGB scale units=$U prefixes=$P start=$start add=$(printf '%s\n' "${add[@]}" | median)" \
		"change=$(printf '%s\n' "${ch[@]}" | median) rss_kb=$rss hwm_kb=$hwm dbus=$dbus" \
		"errors=$(grep -cE '^<[0-3]>' "$W/agent-$U-$P.log" || true)"
	grep -E '^<[0-3]>' "$W/agent-$U-$P.log" | sed 's/^/UGB-AGENT /' || true
}

for P in $PREFIXES; do
	# A warm-up configuration first (binaries and libraries read over 9p,
	# programs loaded for the first time), reported and not counted.
	[ "$P" = "${PREFIXES%% *}" ] && { run_config 1 "$P" | sed 's/^UGB scale /UGB warmup /'; }
	run_config 1 "$P"
	run_config "$NUNITS" "$P"
done
echo "UGB done"
