#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs INSIDE the VM (systemd PID 1, BPF LSM): the agent's lifeline is outside
# any policy (issue 21, item 4). The agent runs as the packaged service, in a
# slice of its own (ugll.slice; system.slice is the same case, but journald
# and D-Bus live there and would lose their unix sockets to the rules below).
# On the agent's slice goes every LSM rule that would cut the agent off:
# --harden bpf (its bpf() calls), family deny unix and netlink (D-Bus to PID
# 1, the journal), file deny over its store and its pin directory, and an
# exec allow-list that does not name it. Then:
#  1. another unit of that slice is judged by those rules (they are in force);
#  2. a change of that unit's policy is in force when the command returns:
#     the agent still works;
#  3. the agent stopped and started again (a new cgroup: the old one is gone)
#     comes back, and applies a change again;
#  4. a policy for the agent's own unit is refused, the reason in status.
# Negative control: the agent's exemption (its cgroup's entry in ug_lsm_units
# and the one kept by its name in ug_pending_lsm) deleted behind its back: a
# change is no longer applied, and the agent cannot start again.
set -uo pipefail
UG_BIN=${UG_BIN:?}
CTL=$UG_BIN/unitguardctl
AGENT=$UG_BIN/unitguardd
PROBE=$UG_BIN/tests/e2e/ugprobe
DB=/var/lib/unitguard/unitguard.db
PIN=/sys/fs/bpf/unitguard
SLICE=ugll.slice
OTHER=ugll-other.service
failures=0

say() { echo "vm-lifeline: $*"; }
ok() { say "ok - $*"; }
bad() { say "FAIL - $*"; failures=$((failures + 1)); }

[ "$(cat /proc/1/comm)" = systemd ] || { say "SKIP: systemd is not PID 1"; exit 77; }
grep -qw bpf /sys/kernel/security/lsm || { say "SKIP: no BPF LSM"; exit 77; }
# This script, and what it runs, out of any slice the rules cover.
mkdir -p /sys/fs/cgroup/ugll-test
echo $$ >/sys/fs/cgroup/ugll-test/cgroup.procs
trap 'systemctl stop unitguardd $OTHER 2>/dev/null; "$AGENT" --pin-dir "$PIN" --detach-all >/dev/null 2>&1; true' EXIT

install -m 0755 "$AGENT" /usr/local/sbin/unitguardd
install -m 0644 "$UG_BIN/unitguardd.service" /etc/systemd/system/unitguardd.service
mkdir -p /etc/systemd/system/unitguardd.service.d
cat >/etc/systemd/system/unitguardd.service.d/slice.conf <<CONF
[Service]
Slice=$SLICE
CONF
systemctl daemon-reload
ctl() { "$CTL" --db "$DB" --timeout 60 "$@"; }
in_other() { "$PROBE" --cgroup "$CG" "$@" | tail -n 1; }
agent_cg() { echo "/sys/fs/cgroup$(systemctl show -P ControlGroup unitguardd)"; }

systemctl start unitguardd || { bad "unitguardd.service did not start"; journalctl -u unitguardd --no-pager | tail -n 30; exit 1; }
systemd-run --quiet --unit=$OTHER --slice=$SLICE sleep 900
for _ in $(seq 50); do
	CG=/sys/fs/cgroup$(systemctl show -P ControlGroup $OTHER)
	[ -d "$CG" ] && [ "$CG" != /sys/fs/cgroup ] && break
	sleep 0.1
done
[ "$(dirname "$(agent_cg)")" = "$(dirname "$CG")" ] && ok "the agent and $OTHER share $SLICE" ||
	bad "the agent is in $(agent_cg), $OTHER in $CG"

# Every rule that would cut the agent off, on its slice; each in force when
# the command returns.
before=$failures
ctl unit set $SLICE --harden bpf >/dev/null || bad "unit set $SLICE --harden bpf: exit $?"
for r in "family deny unix" "family deny netlink" "file deny /var/lib/unitguard" \
	"file deny $PIN" "exec deny /" "exec allow /usr/bin"; do
	# shellcheck disable=SC2086
	ctl rule add $SLICE $r >/dev/null || bad "rule add $SLICE $r: exit $?"
done
[ $failures = "$before" ] && ok "in force on the agent's slice, one after the other: --harden bpf," \
	"family deny unix and netlink, file deny over the store and the pins, an exec allow-list"

# 1. They are in force on the slice's other unit.
for c in "bpf:bpf" "unix socket:socket 1" "netlink socket:socket 16" \
	"read the store:open $DB read" "open the pin directory:open $PIN read" \
	"exec the agent:exec /usr/local/sbin/unitguardd --help"; do
	# shellcheck disable=SC2086
	got=$(in_other ${c#*:})
	[ "$got" = EPERM ] && ok "$OTHER: ${c%%:*} refused" || bad "$OTHER: ${c%%:*}: '$got'"
done

# 2. The agent still applies a change.
applied() { # ADDR: a rule for ADDR on $OTHER is in force when the command returns
	ctl rule add $OTHER egress deny "$1" >/dev/null && [ "$(in_other connect "$1" 9)" = EPERM ]
}
applied 127.0.0.2 && ok "a change of $OTHER is in force: the agent works under its slice's rules" ||
	bad "a change of $OTHER was not applied"
ctl rule add $OTHER family deny packet >/dev/null && [ "$(in_other socket 17)" = EPERM ] &&
	ok "an LSM rule of $OTHER is in force" || bad "LSM rule of $OTHER not applied"

# 3. Stopped and started again, in a new cgroup.
old_cg=$(stat -c %i "$(agent_cg)")
systemctl stop unitguardd
if systemctl start unitguardd; then
	new_cg=$(stat -c %i "$(agent_cg)")
	[ "$old_cg" != "$new_cg" ] && ok "the agent started again, in a new cgroup ($old_cg -> $new_cg)" ||
		bad "the agent started again in the same cgroup $new_cg: its exemption by name is not tested"
else
	bad "the agent did not start again under its slice's rules"
	journalctl -u unitguardd --no-pager | tail -n 20
fi
applied 127.0.0.3 && ok "after the restart a change of $OTHER is in force (D-Bus, store, pins, bpf())" ||
	bad "after the restart a change of $OTHER was not applied"
journalctl -u unitguardd --no-pager -o cat | grep -q "the agent's own cgroup .* is exempt from LSM rules" &&
	ok "the agent journals (unix socket) and says it is exempt" || bad "no exemption line in the journal"

# 4. A policy for the agent's own unit: refused, and said so.
ctl rule add unitguardd.service family deny packet >/dev/null
for _ in $(seq 100); do
	reason=$(ctl status --json | jq -r '.units[] | select(.target == "unitguardd.service") | .reason // ""')
	[ -n "$reason" ] && break
	sleep 0.1
done
grep -q "agent's own cgroup" <<<"$reason" && ok "a policy for the agent's own unit is refused: $reason" ||
	bad "policy for unitguardd.service: reason '$reason'"
ctl rule del "$(ctl rule list --json | jq -r '.[] | select(.target == "unitguardd.service") | .id')" >/dev/null

# Negative control: the exemption deleted behind the agent's back.
say "deleting the agent's exemption; the agent must now be locked out"
le64() { local x; x=$(printf '%016x' "$1"); for i in 14 12 10 8 6 4 2 0; do printf '0x%s ' "${x:$i:2}"; done; }
namekey() { local n; n=$(printf '%s' "$1" | od -An -tx1 -v); for b in $n; do printf '0x%s ' "$b"; done
	for _ in $(seq $((128 - ${#1}))); do printf '0x00 '; done; }
# shellcheck disable=SC2046
bpftool map delete pinned "$PIN/maps/ug_pending_lsm" key $(namekey unitguardd.service) ||
	bad "cannot delete the agent's pending entry"
# shellcheck disable=SC2046
bpftool map delete pinned "$PIN/maps/ug_lsm_units" key $(le64 "$(stat -c %i "$(agent_cg)")") ||
	bad "cannot delete the agent's entry"
if "$CTL" --db "$DB" --timeout 15 rule add $OTHER egress deny 127.0.0.4 >/dev/null &&
	[ "$(in_other connect 127.0.0.4 9)" = EPERM ]; then
	bad "negative control: a change was applied without the exemption: the test cannot see it"
else
	ok "negative control: without the exemption a change is not applied"
fi
systemctl stop unitguardd
systemctl start unitguardd 2>/dev/null
sleep 3
if [ "$(systemctl is-active unitguardd)" = active ]; then
	bad "negative control: the agent started again without its exemption"
else
	ok "negative control: without the exemption the agent cannot start ($(systemctl is-active unitguardd))"
	journalctl -u unitguardd --no-pager -o cat | grep -m 1 "cannot load" | sed 's/^/vm-lifeline:   /'
fi

say "$failures failures"
[ $failures = 0 ]
