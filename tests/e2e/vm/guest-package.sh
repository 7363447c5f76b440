#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs INSIDE the VM, twice on one disk image (tests/e2e/vm/package.sh): PHASE 1 on the
# first boot, PHASE 2 on the second. UG_DEB is the package; UG_BIN the build tree, for
# the probe only (the agent and the CLI are the package's).
set -uo pipefail
PHASE=${1:?phase 1 or 2}
UG_BIN=${UG_BIN:?}
UG_DEB=${UG_DEB:?}
PROBE=$UG_BIN/tests/e2e/ugprobe
BOOT=ugboot.service   # guarded, enabled at boot; its first action is a denied connect
LOOP=ugloop.service   # guarded, running while the agent is restarted
failures=0

say() { echo "vm-package[$PHASE]: $*"; }
ok() { say "ok - $*"; }
bad() { say "FAIL - $*"; failures=$((failures + 1)); }
ctl() { unitguardctl --timeout 120 "$@"; }
in_cg() { "$PROBE" --cgroup "$1" "${@:2}" | tail -n 1; }
mono() { systemctl show -P "$2" "$1"; }

[ "$(cat /proc/1/comm)" = systemd ] || { say "SKIP: systemd is not PID 1"; exit 77; }

if [ "$PHASE" = 1 ]; then
	# --- install ----------------------------------------------------------------
	# The guest's root is the host's, a container image whose policy-rc.d forbids
	# maintainer scripts to start services (exit 101); a real host has none. It is
	# removed from this guest's overlay only.
	rm -f /usr/sbin/policy-rc.d
	# man-db's dpkg trigger re-indexes every manual page over the 9p share, a minute
	# of TCG per dpkg run; the guest's overlay only, like the line above.
	rm -f /var/lib/man-db/auto-update
	if dpkg -i "$UG_DEB" >/tmp/dpkg.log 2>&1; then
		ok "dpkg -i $(basename "$UG_DEB")"
	else
		bad "dpkg -i failed"; cat /tmp/dpkg.log; exit 1
	fi
	[ -x /usr/sbin/unitguardd ] && [ -x /usr/sbin/unitguardctl ] || bad "binaries not in /usr/sbin"
	[ "$(systemctl is-enabled unitguardd)" = enabled ] && ok "dpkg -i enabled unitguardd" ||
		bad "after dpkg -i, unitguardd is $(systemctl is-enabled unitguardd)"
	[ "$(systemctl is-active unitguardd)" = active ] && ok "dpkg -i started unitguardd" ||
		{ bad "after dpkg -i, unitguardd is $(systemctl is-active unitguardd)"; journalctl -u unitguardd --no-pager | tail -n 20; }
	systemctl enable --now unitguardd && ok "systemctl enable --now unitguardd" ||
		bad "systemctl enable --now unitguardd"
	[ "$(systemctl show -P WantedBy unitguardd)" = sysinit.target ] ||
		bad "unitguardd is wanted by '$(systemctl show -P WantedBy unitguardd)', not sysinit.target"

	# --- a guarded unit enabled at boot -------------------------------------------
	cat >/etc/systemd/system/$BOOT <<UNIT
[Unit]
Description=unitguard package test: the first action is a connect its policy denies

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$PROBE connect 127.0.0.2 9

[Install]
WantedBy=multi-user.target
UNIT
	systemctl daemon-reload
	systemctl enable $BOOT >/dev/null 2>&1 || bad "systemctl enable $BOOT"
	# This VM boots ug-vm.target, not multi-user.target: want the unit there too.
	systemctl add-wants ug-vm.target $BOOT >/dev/null 2>&1 || bad "add-wants ug-vm.target"
	ctl rule add $BOOT egress deny 127.0.0.2 >/dev/null && ok "rule for $BOOT (not running) accepted" ||
		bad "rule add $BOOT: exit $?"

	# --- restart: no gap ------------------------------------------------------------
	systemd-run --quiet --unit=$LOOP sleep 600
	for _ in $(seq 50); do
		CG=/sys/fs/cgroup$(systemctl show -P ControlGroup $LOOP)
		[ -d "$CG" ] && break
		sleep 0.1
	done
	ctl rule add $LOOP egress deny 127.0.0.2 >/dev/null || bad "rule add $LOOP: exit $?"
	[ "$(in_cg "$CG" connect 127.0.0.2 9)" = EPERM ] && ok "$LOOP: connect refused" ||
		bad "$LOOP: connect not refused before the restart"
	# probe_during WHAT CMD...: CMD runs while a loop connects from the unit's cgroup;
	# every connect must be refused.
	probe_during() {
		local what=$1 prober n other
		shift
		: >/tmp/probes
		rm -f /tmp/stop-probing
		(
			while [ ! -e /tmp/stop-probing ]; do in_cg "$CG" connect 127.0.0.2 9 >>/tmp/probes; done
		) &
		prober=$!
		sleep 1
		"$@" >/tmp/during.log 2>&1 || { bad "$what failed"; cat /tmp/during.log; }
		sleep 1
		touch /tmp/stop-probing
		wait $prober
		n=$(wc -l </tmp/probes)
		other=$(grep -cvx EPERM /tmp/probes)
		[ "$n" -gt 0 ] && [ "$other" = 0 ] && ok "$what: $n connects meanwhile, every one EPERM" ||
			bad "$what: $other of $n connects were not EPERM: $(sort /tmp/probes | uniq -c | tr '\n' ' ')"
	}
	old=$(systemctl show -P MainPID unitguardd)
	probe_during "systemctl restart unitguardd" systemctl restart unitguardd
	new=$(systemctl show -P MainPID unitguardd)
	[ "$old" != "$new" ] && ok "systemctl restart: a new agent ($old -> $new)" || bad "the agent was not restarted"
	# An upgrade (the same version again takes the same maintainer-script path).
	probe_during "upgrade (dpkg -i over the installed package)" dpkg -i "$UG_DEB"
	[ "$(systemctl show -P MainPID unitguardd)" != "$new" ] && ok "upgrade: the agent was restarted" ||
		bad "upgrade: the agent was not restarted"
	[ "$(systemctl is-active unitguardd)" = active ] || bad "after the upgrade: unitguardd is $(systemctl is-active unitguardd)"

	# --- reload applies a change ----------------------------------------------------
	ctl --no-wait rule add $LOOP egress deny 127.0.0.3 >/dev/null || bad "rule add --no-wait"
	systemctl reload unitguardd || bad "systemctl reload"
	for _ in $(seq 300); do
		[ "$(in_cg "$CG" connect 127.0.0.3 9)" = EPERM ] && break
		sleep 0.1
	done
	[ "$(in_cg "$CG" connect 127.0.0.3 9)" = EPERM ] && ok "systemctl reload: the new rule is in force" ||
		bad "after reload, 127.0.0.3 is not refused"
	journalctl -u unitguardd --no-pager | grep -q "SIGHUP" && ok "the agent logged the reload" ||
		bad "no SIGHUP in the agent's journal"
	systemctl stop $LOOP
	sync
	say "$failures failures"
	[ $failures = 0 ]
	exit
fi

# --- PHASE 2: the second boot of the same disk ------------------------------------
[ -e /etc/systemd/system/$BOOT ] || { bad "boot 1's files are not on the disk"; exit 1; }
for _ in $(seq 600); do
	[ "$(systemctl is-active $BOOT)" = activating ] || break
	sleep 0.1
done
first=$(journalctl -b -u $BOOT -o cat --no-pager | grep -xE 'ok|EPERM|E[A-Z]+' | head -n 1)
[ "$first" = EPERM ] && ok "$BOOT, started at boot: its first connect was refused (EPERM)" ||
	{ bad "$BOOT's first connect at boot: '${first:-nothing}'"; journalctl -b -u $BOOT --no-pager | tail; }
ready=$(mono unitguardd ActiveEnterTimestampMonotonic)
start=$(mono $BOOT ExecMainStartTimestampMonotonic)
[ "${ready:-0}" -gt 0 ] && [ "${start:-0}" -ge "$ready" ] &&
	ok "unitguardd was ready (${ready} us) before $BOOT started (${start} us)" ||
	bad "unitguardd ready at '${ready}', $BOOT started at '${start}'"
# Ordered by sysinit.target alone: the guarded unit names no dependency on the agent.
systemctl show -P After $BOOT | grep -qw unitguardd.service &&
	bad "$BOOT has an After= on unitguardd.service: the test would not show the boot order"
ctl status >/dev/null && ok "unitguardctl status: exit 0 after the reboot" || bad "status: exit $?"

# first_line: the probe's outcome from the unit's latest start.
last_run() {
	systemctl restart $BOOT
	journalctl -u $BOOT -o cat --no-pager | grep -xE 'ok|E[A-Z]+' | tail -n 1
}

# --- apt-get remove, then purge, as documented --------------------------------------
apt-get remove -y unitguard >/tmp/remove.log 2>&1 || { bad "apt-get remove"; cat /tmp/remove.log; }
sed 's/^/  | /' /tmp/remove.log | grep -iE "enforc|detach|unitguard" | head -n 20
[ "$(systemctl is-active unitguardd)" != active ] && ok "removed: the agent is stopped" ||
	bad "removed: the agent still runs"
[ ! -e /usr/sbin/unitguardd ] && ok "removed: the binaries are gone" || bad "removed: /usr/sbin/unitguardd remains"
[ -e /var/lib/unitguard/unitguard.db ] && ok "removed: the store stays (until purge)" ||
	bad "removed: the store is gone"
grep -qi "enforc" /tmp/remove.log && ok "remove says what stays enforced" ||
	bad "remove said nothing about enforcement"
got=$(last_run)
[ "$got" = EPERM ] && ok "removed: $BOOT started again is still refused (pinned programs, as documented)" ||
	bad "removed: $BOOT started again: '$got'"
# dpkg -P: the same maintainer scripts as apt-get purge, without apt's minute of
# reading the host's package lists under TCG.
dpkg -P unitguard >/tmp/purge.log 2>&1 || { bad "dpkg -P"; cat /tmp/purge.log; }
sed 's/^/  | /' /tmp/purge.log | grep -iE "enforc|detach|unitguard|bpf" | head -n 20
[ ! -e /var/lib/unitguard ] && ok "purged: the store is gone" || bad "purged: /var/lib/unitguard remains"
# The documented way to end enforcement without the agent: remove the pins (the
# links go with them). Also the negative control: the refusals above were ours.
rm -rf /sys/fs/bpf/unitguard
got=$(last_run)
[ "$got" = ECONNREFUSED ] && ok "pins removed: $BOOT's connect reaches the (closed) port" ||
	bad "pins removed: $BOOT started again: '$got'"

say "$failures failures"
[ $failures = 0 ]
