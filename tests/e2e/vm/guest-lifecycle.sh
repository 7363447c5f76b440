#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs INSIDE the VM (systemd PID 1, BPF LSM). Unit lifecycle: a unit that
# starts after its rules exist is judged from its very first instruction
# (its first action is the forbidden connect or exec); a stopped unit's map
# entries and links go; a restarted unit (new cgroup id) is judged again; the
# same for a template instance (its slice not made yet) and a scope. Negative control: with the
# start-up race fix disabled (agent frozen, the programs at the slice detached, the pending
# maps emptied) the first-action checks must flip.
set -uo pipefail
UG_BIN=${UG_BIN:?}
CTL=$UG_BIN/unitguardctl
AGENT=$UG_BIN/unitguardd
PROBE=$UG_BIN/tests/e2e/ugprobe
W=$(mktemp -d /tmp/ugvm.XXXXXX)
DB=$W/ug.db
PIN=/sys/fs/bpf/ugvm
P=47998
failures=0

say() { echo "vm-life: $*"; }
ok() { say "ok - $*"; }
bad() { say "FAIL - $*"; failures=$((failures + 1)); }
expect() { # expect NAME WANT GOT
	[ "$3" = "$2" ] && ok "$1: $2" || bad "$1: expected '$2', got '$3'"
}
# unit_result UNIT SINCE: the probe's verdict line from the unit's output
# since SINCE (epoch seconds), waiting up to 5 s for journald to store it.
unit_result() {
	local out _
	for _ in $(seq 50); do
		out=$(journalctl -u "$1" --since "@$2" -o cat --no-pager |
			grep -E '^(ok|EPERM|errno)' | tail -n 1)
		[ -n "$out" ] && break
		sleep 0.1
	done
	printf '%s' "$out"
}

[ "$(cat /proc/1/comm)" = systemd ] || { say "SKIP: systemd is not PID 1"; exit 77; }
grep -qw bpf /sys/kernel/security/lsm || { say "SKIP: no BPF LSM"; exit 77; }

"$AGENT" --db "$DB" --pin-dir "$PIN" -v >"$W/agent.log" 2>&1 &
AGENT_PID=$!
cleanup() {
	kill -CONT $AGENT_PID 2>/dev/null
	kill $AGENT_PID 2>/dev/null
	wait $AGENT_PID 2>/dev/null
	"$AGENT" --pin-dir "$PIN" --detach-all >/dev/null 2>&1
	systemctl stop ugvm-run.service 2>/dev/null
	true
}
trap cleanup EXIT
for i in $(seq 100); do grep -q "agent: running" "$W/agent.log" && break; sleep 0.1; done
"$PROBE" listen 0.0.0.0 $P 600 >/dev/null &
mkdir -p "$W/bin"
cp /bin/echo "$W/bin/no"
ctl() { "$CTL" --db "$DB" "$@"; }

# A template, so that its instances are real units loaded from a unit file.
cat >/run/systemd/system/ugvm-tpl@.service <<UNIT
[Service]
Type=oneshot
ExecStart=$PROBE connect 127.0.0.2 $P
UNIT
systemctl daemon-reload
# The instances' slice (system-ugvm\x2dtpl.slice) is made by the first start
# of any instance, and does not exist yet: ugvm-tpl@1's policy is kept by
# name for a cgroup made in a slice of that name directly below system.slice
# (never by a name alone, issue 21.1), and judges its first instruction.

for u in ugvm-first.service ugvm-run.service ugvm-tpl@1.service ugvm-sc.scope; do
	ctl rule add $u egress deny 127.0.0.2 >/dev/null
done
ctl rule add ugvm-exec.service exec deny "$W/bin" >/dev/null
# Ready when every unit's policy is kept by name and the programs are
# attached at the units' slice (system.slice): no drop-in, no reload.
ready() {
	local u
	bpftool map dump pinned "$PIN/maps/ug_pending_lsm" | grep -q '"ugvm-exec.service"' || return 1
	for u in ugvm-first.service ugvm-run.service ugvm-tpl@1.service ugvm-sc.scope; do
		bpftool map dump pinned "$PIN/maps/ug_pending_net" | grep -q "\"$u\"" || return 1
	done
	bpftool cgroup show /sys/fs/cgroup/system.slice | grep -q ug_connect4
}
for i in $(seq 100); do ready && break; sleep 0.2; done
ready && ok "agent ready: policies kept by name, programs at system.slice" ||
	bad "agent not ready after 20 s"
ls /run/systemd/system/*.d/50-unitguard.conf 2>/dev/null && bad "the agent wrote drop-ins"

# first_actions: each unit's very first action is the forbidden one.
first_actions() {
	local out since
	out=$(systemd-run --quiet --wait --pipe --unit=ugvm-first.service -p Type=oneshot \
		"$PROBE" connect 127.0.0.2 $P 2>&1 | tail -n 1)
	echo "first connect|$out"
	systemctl reset-failed ugvm-first.service 2>/dev/null
	systemd-run --quiet --wait --unit=ugvm-exec.service -p Type=oneshot "$W/bin/no" >/dev/null 2>&1
	echo "first exec|$(systemctl show -P ExecMainStatus ugvm-exec.service)"
	systemctl reset-failed ugvm-exec.service 2>/dev/null
	since=$(date +%s.%N)
	systemctl start ugvm-tpl@1.service 2>/dev/null
	out=$(unit_result ugvm-tpl@1.service "$since")
	echo "template instance|$out"
	systemctl reset-failed ugvm-tpl@1.service 2>/dev/null
	out=$(systemd-run --quiet --scope --unit=ugvm-sc.scope "$PROBE" connect 127.0.0.2 $P 2>&1 | tail -n 1)
	echo "scope|$out"
	systemctl reset-failed ugvm-sc.scope 2>/dev/null
}
declare -A want=( ["first connect"]=EPERM ["first exec"]=203 ["template instance"]=EPERM ["scope"]=EPERM )
while IFS='|' read -r name got; do
	expect "$name, from the first instruction" "${want[$name]}" "$got"
done < <(first_actions)
# An instance without rules is not affected.
since=$(date +%s.%N)
systemctl start ugvm-tpl@2.service 2>/dev/null
expect "template instance without rules" ok \
	"$(unit_result ugvm-tpl@2.service "$since")"

# Stop releases, restart re-enforces.
systemd-run --quiet --unit=ugvm-run.service sleep 600
sleep 0.5
CG1=/sys/fs/cgroup$(systemctl show -P ControlGroup ugvm-run.service)
ID1=$(stat -c %i "$CG1")
expect "running unit" EPERM "$("$PROBE" --cgroup "$CG1" connect 127.0.0.2 $P)"
sleep 1.5 # the agent has seen it: links and entries exist
systemctl stop ugvm-run.service
sleep 1.5
key=$(printf '%016x' "$ID1" | sed 's/../& /g' | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}')
if bpftool map lookup pinned "$PIN/maps/ug_units" key hex $key >/dev/null 2>&1; then
	bad "stopped unit: its ug_units entry (cgroup $ID1) is still there"
else
	ok "stopped unit: its ug_units entry is gone"
fi
[ ! -e "$PIN/links/$ID1" ] && ok "stopped unit: no links pinned for its cgroup" ||
	bad "stopped unit: links still pinned under $PIN/links/$ID1"
systemd-run --quiet --unit=ugvm-run.service sleep 600
sleep 0.2
CG2=/sys/fs/cgroup$(systemctl show -P ControlGroup ugvm-run.service)
ID2=$(stat -c %i "$CG2")
[ "$ID1" != "$ID2" ] || bad "restart kept the cgroup id"
expect "restarted unit (new cgroup $ID2)" EPERM "$("$PROBE" --cgroup "$CG2" connect 127.0.0.2 $P)"
systemctl stop ugvm-run.service

# Negative control: freeze the agent, detach the programs at system.slice,
# empty the pending maps. The first-action checks must now see the
# forbidden action succeed.
say "disabling the start-up race fix; the first-action checks must now fail"
kill -STOP $AGENT_PID
SLICE_ID=$(stat -c %i /sys/fs/cgroup/system.slice)
for l in "$PIN/links/$SLICE_ID"/*; do
	[ -e "$l" ] && bpftool link detach pinned "$l"
done
for m in ug_pending_net ug_pending_lsm; do
	bpftool -j map dump pinned "$PIN/maps/$m" 2>/dev/null | jq -r '.[].key | map(.) | join(" ")' |
	while read -r k; do bpftool map delete pinned "$PIN/maps/$m" key $k; done
done
declare -A flipped=( ["first connect"]=ok ["first exec"]=0 ["template instance"]=ok ["scope"]=ok )
while IFS='|' read -r name got; do
	[ "$got" = "${flipped[$name]}" ] && ok "race fix off: '$name' now '$got'" ||
		bad "race fix off: '$name' still '$got': the check cannot see the fix"
done < <(first_actions)
say "$failures failures"
[ $failures = 0 ]
