#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs INSIDE the VM (systemd PID 1, BPF LSM): the agent as the packaged,
# hardened service (BUILD/unitguardd.service, from packaging/unitguardd.service.in),
# installed in the guest as it would be on a host, with a short watchdog. The
# sandbox must leave it able to do its job: start (Type=notify), put network
# and LSM rules in force on a real unit, reload, and be restarted by the
# watchdog when its loop stops, the rules holding throughout. Prints
# `systemd-analyze security` for the unit.
set -uo pipefail
UG_BIN=${UG_BIN:?}
CTL=$UG_BIN/unitguardctl
AGENT=$UG_BIN/unitguardd
PROBE=$UG_BIN/tests/e2e/ugprobe
DB=/var/lib/unitguard/unitguard.db
PIN=/sys/fs/bpf/unitguard
UNIT=ugsvc-demo.service
failures=0

say() { echo "vm-service: $*"; }
ok() { say "ok - $*"; }
bad() { say "FAIL - $*"; failures=$((failures + 1)); }

[ "$(cat /proc/1/comm)" = systemd ] || { say "SKIP: systemd is not PID 1"; exit 77; }
trap 'systemctl stop unitguardd $UNIT 2>/dev/null; "$AGENT" --pin-dir "$PIN" --detach-all >/dev/null 2>&1; true' EXIT

# Installed where the unit expects it (the guest's root is a throwaway
# overlay): the build tree may be under /tmp, which PrivateTmp= hides.
install -m 0755 "$AGENT" /usr/local/sbin/unitguardd
install -m 0644 "$UG_BIN/unitguardd.service" /etc/systemd/system/unitguardd.service
grep -qx "ExecStart=/usr/local/sbin/unitguardd" /etc/systemd/system/unitguardd.service ||
	bad "the configured unit does not start /usr/local/sbin/unitguardd"
mkdir -p /etc/systemd/system/unitguardd.service.d
cat >/etc/systemd/system/unitguardd.service.d/test.conf <<CONF
[Service]
WatchdogSec=10s
CONF
systemctl daemon-reload
ctl() { "$CTL" --db "$DB" --timeout 60 "$@"; }
# in_unit CMD...: CMD's outcome word, run in the cgroup of the running unit
# (a unit that starts while no agent has put its programs above it is the
# start-up race, vm/lifecycle's subject; here the unit runs throughout).
in_unit() { "$PROBE" --cgroup "$CG" "$@" | tail -n 1; }

if systemctl start unitguardd; then
	ok "systemctl start: active (Type=notify: READY=1 once the first generation is in force)"
else
	bad "unitguardd.service did not start"
	journalctl -u unitguardd --no-pager | tail -n 30
	exit 1
fi
st=$(systemctl show -P StatusText unitguardd)
[[ $st == generation* ]] && ok "STATUS=: $st" || bad "no STATUS= text: '$st'"

systemd-run --quiet --unit=$UNIT sleep 600
for _ in $(seq 50); do
	CG=/sys/fs/cgroup$(systemctl show -P ControlGroup $UNIT)
	[ -d "$CG" ] && break
	sleep 0.1
done
ctl rule add $UNIT egress deny 127.0.0.2 >/dev/null && ok "a network rule is in force under the sandbox" ||
	bad "rule add under the service: exit $?"
ctl rule add $UNIT family deny packet >/dev/null && ok "an LSM rule is in force under the sandbox" ||
	bad "LSM rule add under the service: exit $?"
got=$(in_unit connect 127.0.0.2 9)
[ "$got" = EPERM ] && ok "the unit's connect is refused" || bad "connect in the unit: '$got'"
got=$(in_unit socket 17)
[ "$got" = EPERM ] && ok "the unit's packet socket is refused" || bad "packet socket in the unit: '$got'"
got=$("$PROBE" socket 17 | tail -n 1)
[ "$got" = ok ] && ok "outside the unit: allowed" || bad "packet socket outside: '$got'"

systemctl reload unitguardd || bad "systemctl reload failed"
for _ in $(seq 300); do
	journalctl -u unitguardd --no-pager | grep -q "SIGHUP, re-reading the store" && break
	sleep 0.1
done
journalctl -u unitguardd --no-pager | grep -q "SIGHUP, re-reading the store" &&
	ok "systemctl reload: the agent re-reads the store" || bad "reload: no SIGHUP in the agent's log"

# The metrics listener under the sandbox, with the drop-in the README gives.
cat >/etc/systemd/system/unitguardd.service.d/metrics.conf <<CONF
[Service]
ExecStart=
ExecStart=/usr/local/sbin/unitguardd --metrics-listen 127.0.0.1:9187
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
IPAddressAllow=localhost
CONF
systemctl daemon-reload
systemctl restart unitguardd || bad "restart with the metrics drop-in"
body=$(curl -sf --max-time 20 http://127.0.0.1:9187/metrics)
grep -qx "unitguard_unit_state{unit=\"$UNIT\",state=\"enforced\"} 1" <<<"$body" &&
	ok "the README's metrics drop-in: GET /metrics under the sandbox says $UNIT is enforced" ||
	bad "metrics under the sandbox: $(head -c 300 <<<"$body")"
if command -v promtool >/dev/null; then
	promtool check metrics <<<"$body" >/dev/null 2>&1 && ok "promtool accepts it" ||
		bad "promtool check metrics: $(promtool check metrics <<<"$body" 2>&1 | head -n 3)"
fi
# The exposure below is the shipped unit's: the drop-in (AF_INET, an IP allow
# list) raises it, from 2.8 to 3.3.
rm /etc/systemd/system/unitguardd.service.d/metrics.conf
systemctl daemon-reload

# The watchdog: an agent whose loop stops is killed and started again.
pid=$(systemctl show -P MainPID unitguardd)
kill -STOP "$pid"
new=$pid
held=yes
for _ in $(seq 600); do
	[ "$(in_unit connect 127.0.0.2 9)" = EPERM ] || held=no
	new=$(systemctl show -P MainPID unitguardd)
	[ "$new" != "$pid" ] && [ "$new" != 0 ] && break
	sleep 0.1
done
[ "$new" != "$pid" ] && [ "$new" != 0 ] && ok "a stopped loop: the watchdog restarted the agent ($pid -> $new)" ||
	bad "the watchdog did not restart the agent (MainPID $pid, now $new)"
for _ in $(seq 300); do
	[ "$(systemctl is-active unitguardd)" = active ] && break
	[ "$(in_unit connect 127.0.0.2 9)" = EPERM ] || held=no
	sleep 0.1
done
[ "$(in_unit connect 127.0.0.2 9)" = EPERM ] || held=no
[ "$held" = yes ] && ok "the rule held throughout (probed while stopped, killed and started again)" ||
	bad "a connect got through while the agent was restarted"
journalctl -u unitguardd --no-pager | grep -q "Watchdog timeout" || say "(no 'Watchdog timeout' line in the journal)"

sec=$(systemd-analyze security unitguardd.service --no-pager 2>&1 | tail -n 1)
say "systemd-analyze security: $sec"
exposure=$(grep -oE '[0-9]+\.[0-9]+' <<<"$sec" | head -n 1)
[ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 3.0) }' &&
	ok "exposure $exposure (at most 3.0)" || bad "exposure '$exposure' (more than 3.0)"
systemd-analyze security unitguardd.service --no-pager 2>&1 | grep -E "^✗" | head -n 40

say "$failures failures"
[ $failures = 0 ]
