#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs INSIDE the VM (tests/e2e/vm/run.sh; systemd 252 is PID 1), started by
# bench/vm-inforce.sh: how fast a per-unit deny is in force, systemd's own
# firewall (`systemctl set-property --runtime UNIT IPAddressDeny=...`) beside
# unitguard (`unitguardctl rule add|del`), in one boot, for running units that
# probe all the time (issue 14).
#
# Two identical probe units, one per mechanism, so neither sees the other's
# programs. Per round and mechanism, four changes in a row, each one command:
#   first    no rule         -> deny 127.0.0.2
#   later    deny .2         -> deny .2 and .3
#   remove1  deny .2 and .3  -> deny .2 (systemd: `IPAddressDeny= IPAddressDeny=127.0.0.2`
#                               in one call, its only way to drop one address)
#   remove   deny .2         -> nothing (systemd: `IPAddressDeny=`; unitguard: `rule del`)
# so each round starts from a unit with no rule at all: "first" is a first rule
# every time. Within a round the two mechanisms alternate case by case, and
# which goes first flips every round. Round 0 is a warm-up (binaries and
# libraries read over 9p, programs loaded for the first time), reported but
# left out of the medians.
#
# Output: one "UGB ..." line per measurement (key=value), parsed by the host.
# Times are from this shell's $EPOCHREALTIME; the probes use the same clock.
#
# Why UDP probes and not TCP connects: systemd's firewall is a cgroup_skb
# program, which drops the packet. A dropped SYN does not fail connect(2): the
# kernel keeps the EPERM of the transmit to itself and retransmits, so a TCP
# probe under IPAddressDeny= hangs for minutes (seen here: the probe loop
# stopped at the first denied connect). A UDP send reports the drop at once
# (EPERM from send), and unitguard refuses the connect(2) of the same UDP
# socket with EPERM, so one probe, run the same way in both units, sees both
# mechanisms synchronously. A receiver outside the units logs every datagram
# that arrives, and the end of the run checks that "ok" probes and arrivals
# are the same set, so "ok" does mean "got through".
#
# Environment: UG_BIN (build directory, required), UG_BENCH_ROUNDS (measured
# rounds, default 5), UG_BENCH_SETTLE (minimum probes of the address watched
# after each command returns, default 30).
set -euo pipefail

UG_BIN=${UG_BIN:?UG_BIN must name the build directory}
ROUNDS=${UG_BENCH_ROUNDS:-5}
MIN_AFTER=${UG_BENCH_SETTLE:-30}
CTL=$UG_BIN/unitguardctl
AGENT=$UG_BIN/unitguardd
W=$(mktemp -d /tmp/ugbench.XXXXXX)
DB=$W/ug.db
PIN=/sys/fs/bpf/ugbench
U_SD=ugb-sd.service
U_UG=ugb-ug.service
P_SD=47981 # one port per unit, so the receiver knows who sent what
P_UG=47982
AGENT_PID=
RECV_PID=

say() { echo "UGB-NOTE $*"; }
die() { echo "UGB-FATAL $*"; exit 1; }

[ "$(cat /proc/1/comm)" = systemd ] || die "systemd is not PID 1"
{ [ -x "$CTL" ] && [ -x "$AGENT" ]; } || die "no unitguardctl/unitguardd in $UG_BIN"

cleanup() {
	set +e
	systemctl stop "$U_SD" "$U_UG" 2>/dev/null
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	"$AGENT" --pin-dir "$PIN" --detach-all >/dev/null 2>&1
	[ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null
	true
}
trap cleanup EXIT

echo "UGB meta kernel=$(uname -r) systemd=$(systemctl --version | awk 'NR == 1 { print $2 }')" \
	"cpus=$(nproc) bash=${BASH_VERSION%%(*}"

# --- the agent, on a store and pin directory of its own ------------------------
# JOURNAL_STREAM makes the agent prefix each log line with its syslog priority
# ("<3>"), so errors and warnings can be picked out of its log exactly.
JOURNAL_STREAM=bench "$AGENT" --db "$DB" --pin-dir "$PIN" -v >"$W/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 300); do grep -q "agent: running" "$W/agent.log" && break; sleep 0.1; done
grep -q "agent: running" "$W/agent.log" || { tail -n 20 "$W/agent.log"; die "the agent did not start"; }

# --- receiver: one process outside both units, one line per datagram ----------
# Each probe's payload is its own log line's key ("TIME ADDRESS"), so arrivals
# can be matched to probes one by one.
python3 -u - "$W/recv.log" "$P_SD" "$P_UG" >"$W/recv.out" 2>&1 <<'PY' &
import selectors, socket, sys
out = open(sys.argv[1], "a", buffering=1)
sel = selectors.DefaultSelector()
for port in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("0.0.0.0", int(port)))
    sel.register(s, selectors.EVENT_READ, port)
print("receiving", flush=True)
while True:
    for key, _ in sel.select():
        data = key.fileobj.recv(512)
        out.write("%s %s\n" % (key.data, data.decode(errors="replace")))
PY
RECV_PID=$!
for _ in $(seq 300); do grep -q receiving "$W/recv.out" && break; sleep 0.1; done
grep -q receiving "$W/recv.out" || { cat "$W/recv.out"; die "the receiver did not start"; }

# --- the probe loop, run inside each unit ---------------------------------------
# Bash builtins only: under TCG a fork+exec costs tens of milliseconds, which
# would swamp what is measured. Per probe: open a connected UDP socket to the
# address (unitguard refuses this connect), send the probe's key (systemd's
# firewall refuses this send), close. Each log line: start time, address,
# ok|EPERM|error. No `set -e` here: failing probes are the point.
cat >"$W/probe-loop" <<'LOOP'
#!/bin/bash
log=$1 port=$2
# A FIFO nobody writes to gives `read -t` as a sleep without a fork.
mkfifo "$log.fifo" && exec 7<>"$log.fifo"
exec 4>>"$log"
while :; do
	for a in 127.0.0.2 127.0.0.3; do
		t=$EPOCHREALTIME
		# Redirections apply left to right: stderr goes to the error file
		# first, so a refused connect (the 3> redirection) or a refused
		# send (printf to fd 3) both leave their message there.
		if printf '%s %s' "$t" "$a" 2>"$log.err" 3>"/dev/udp/$a/$port" >&3; then
			r=ok
		else
			e=
			read -r e <"$log.err"
			case $e in *"not permitted"*) r=EPERM ;; *) r=error ;; esac
		fi
		echo "$t $a $r" >&4
	done
	read -t 0.025 -u 7 _
done
LOOP
chmod +x "$W/probe-loop"
# IPAccounting=no: systemd would otherwise attach its accounting programs,
# which would make its "first rule" not the first program on the cgroup.
systemd-run --quiet --unit="$U_SD" -p IPAccounting=no "$W/probe-loop" "$W/sd.log" "$P_SD"
systemd-run --quiet --unit="$U_UG" -p IPAccounting=no "$W/probe-loop" "$W/ug.log" "$P_UG"
sleep 2
for m in sd ug; do
	n=$(awk '$3 == "ok"' "$W/$m.log" | wc -l)
	[ "$n" -ge 20 ] || { tail -n 5 "$W/$m.log"; cat "$W/$m.log.err"; die "the $m probe loop does not get through ($n ok)"; }
done
say "probe loops run: $(wc -l <"$W/sd.log") and $(wc -l <"$W/ug.log") probes in 2 s"

# --- one measured change ----------------------------------------------------------
# analyze LOG ADDR T0 T1 NEW OLD OTHER OTHER_STATE prints:
#   react   seconds from T0 to the first probe of ADDR in the NEW state ("none")
#   n       probes of ADDR started after T1 (the command had returned)
#   bad     of those, probes still in the OLD state: must be 0
#   other   probes of the OTHER address started after T0 not in OTHER_STATE
#           (a change must not touch the address it is not about)
#   errors  probes after T0 that neither passed nor got EPERM
# A probe counts as "after T1" by its start time: its socket calls all came
# after the command had returned.
analyze() {
	awk -v a="$2" -v t0="$3" -v t1="$4" -v new="$5" -v old="$6" -v o="$7" -v os="$8" '
		NF < 3 || $1 <= t0 { next }
		$3 == "error" { errors++ }
		$2 == a {
			if (react == "" && $3 == new) react = sprintf("%.4f", $1 - t0)
			if ($1 > t1) { n++; if ($3 == old) bad++ }
		}
		$2 == o && $3 != os && $3 != "error" { other++ }
		END { printf "%s %d %d %d %d\n", react == "" ? "none" : react, n, bad, other, errors }' "$1"
}

# measure ROUND CASE MECH ADDR NEW OLD OTHER OTHER_STATE CMD...
# Both mechanisms' commands run exactly alike: a plain child of this shell,
# stdout and stderr to files, timestamps taken right before and after.
measure() {
	local round=$1 kase=$2 mech=$3 addr=$4 new=$5 old=$6 other=$7 ostate=$8 log=$W/ug.log
	local rc=0 t0 t1 res i react n bad oth errs
	shift 8
	[ "$mech" = systemd ] && log=$W/sd.log
	t0=$EPOCHREALTIME
	"$@" >"$W/cmd.out" 2>"$W/cmd.err" || rc=$?
	t1=$EPOCHREALTIME
	# Watch until the new state was seen and enough probes ran after the
	# return (30 probes of one address: about a second), at most 20 s.
	for ((i = 0; i < 100; i++)); do
		sleep 0.2
		res=$(analyze "$log" "$addr" "$t0" "$t1" "$new" "$old" "$other" "$ostate")
		read -r react n _ <<<"$res"
		[ "$react" != none ] && [ "$n" -ge "$MIN_AFTER" ] && break
	done
	read -r react n bad oth errs <<<"$res"
	echo "UGB round=$round case=$kase mech=$mech rc=$rc" \
		"cmd=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')" \
		"react=$react after=$n bad=$bad other=$oth errors=$errs"
	if [ "$rc" != 0 ] || [ -s "$W/cmd.err" ]; then
		say "round $round $kase $mech: status $rc: $*: $(tr '\n' ' ' <"$W/cmd.err")"
	fi
	[ "$rc" = 0 ]
}

ug() { "$CTL" --db "$DB" "$@"; }

# One mechanism's step of a round. Unitguard's rule ids come from `rule add`'s
# output (a new id every time: ids are never reused).
step_systemd() { # ROUND CASE
	local sp=(systemctl set-property --runtime "$U_SD")
	case $2 in
	first) measure "$1" first systemd 127.0.0.2 EPERM ok 127.0.0.3 ok "${sp[@]}" IPAddressDeny=127.0.0.2 ;;
	later) measure "$1" later systemd 127.0.0.3 EPERM ok 127.0.0.2 EPERM "${sp[@]}" IPAddressDeny=127.0.0.3 ;;
	remove1) measure "$1" remove1 systemd 127.0.0.3 ok EPERM 127.0.0.2 EPERM \
		"${sp[@]}" IPAddressDeny= IPAddressDeny=127.0.0.2 ;;
	remove) measure "$1" remove systemd 127.0.0.2 ok EPERM 127.0.0.3 ok "${sp[@]}" IPAddressDeny= ;;
	esac
}
ID2="" ID3=""
step_unitguard() { # ROUND CASE
	case $2 in
	first)
		measure "$1" first unitguard 127.0.0.2 EPERM ok 127.0.0.3 ok \
			"$CTL" --db "$DB" rule add "$U_UG" egress deny 127.0.0.2 || return 1
		read -r ID2 <"$W/cmd.out" ;;
	later)
		measure "$1" later unitguard 127.0.0.3 EPERM ok 127.0.0.2 EPERM \
			"$CTL" --db "$DB" rule add "$U_UG" egress deny 127.0.0.3 || return 1
		read -r ID3 <"$W/cmd.out" ;;
	remove1) measure "$1" remove1 unitguard 127.0.0.3 ok EPERM 127.0.0.2 EPERM \
		"$CTL" --db "$DB" rule del "$ID3" ;;
	remove) measure "$1" remove unitguard 127.0.0.2 ok EPERM 127.0.0.3 ok \
		"$CTL" --db "$DB" rule del "$ID2" ;;
	esac
}

# Back to "no rule at all" for both units, whatever went wrong in the round,
# and say so if it was not already the case.
reset_units() {
	local left
	left=$(systemctl show -P IPAddressDeny "$U_SD")
	if [ -n "$left" ]; then
		say "systemd unit still denies '$left' after the round: resetting"
		systemctl set-property --runtime "$U_SD" IPAddressDeny=
	fi
	left=$(ug rule list "$U_UG" --json | awk '/"id"/' | wc -l)
	if [ "$left" != 0 ]; then
		say "unitguard unit still has $left rules after the round: deleting"
		ug rule list "$U_UG" --json | sed -n 's/.*"id": *\([0-9]*\).*/\1/p' |
			while read -r id; do ug rule del "$id" >/dev/null || true; done
	fi
	# set-property --runtime keeps the property in a drop-in under /run
	# (system.control/, or transient/ for a transient unit), rewritten by
	# each call: after the reset it holds the empty assignment, the same
	# state as the running unit. It is left there: deleting it would make
	# the loaded unit differ from its files ("changed on disk"), a state a
	# real host would not be in.
	sleep 0.5
}

failed=0
for ((round = 0; round <= ROUNDS; round++)); do
	if ((round % 2)); then order=(systemd unitguard); else order=(unitguard systemd); fi
	for kase in first later remove1 remove; do
		for mech in "${order[@]}"; do
			"step_$mech" "$round" "$kase" || failed=$((failed + 1))
		done
	done
	# Which drop-ins set-property wrote, once, for the record.
	reset_units
	# What set-property left on disk, for the record (first and last round).
	if ((round == 0 || round == ROUNDS)); then
		find /run/systemd -path "*$U_SD.d*" -name '*IPAddress*' | while read -r f; do
			say "round $round: drop-in $f: $(grep -v '^#' "$f" | tr '\n' ' ')"
		done
	fi
done

# --- checks of the probes themselves ---------------------------------------------
systemctl stop "$U_SD" "$U_UG"
sleep 0.5
kill "$RECV_PID"
wait "$RECV_PID" 2>/dev/null || true
RECV_PID=
# Every "ok" probe must have arrived and no refused one: else "ok" and
# "EPERM" would not mean what the tables say.
for m in sd ug; do
	[ $m = sd ] && port=$P_SD || port=$P_UG
	awk -v port="$port" -v m="$m" '
		FILENAME != ARGV[ARGC - 1] { if ($1 == port) got[$2 " " $3] = 1; next }
		NF >= 3 { key = $1 " " $2
			if ($3 == "ok") { ok++; if (!(key in got)) lost++ }
			else if ($3 == "EPERM") { ref++; if (key in got) through++ }
			else err++ }
		END { printf "UGB check unit=%s ok=%d refused=%d errors=%d ok_not_received=%d refused_but_received=%d\n",
			m, ok, ref, err, lost, through }' "$W/recv.log" "$W/$m.log"
done

# --- the agent's own view -----------------------------------------------------------
kill -0 "$AGENT_PID" 2>/dev/null || say "the agent is not running at the end"
grep -E '^<[0-4]>' "$W/agent.log" | sed 's/^/UGB-AGENT /' || true
# ... and what the agent was doing just before each of them.
grep -E -B4 '^<[0-4]>' "$W/agent.log" | grep -vE '^<[0-4]>' | sed 's/^/UGB-AGENT-CONTEXT /' || true
echo "UGB agent-log lines=$(wc -l <"$W/agent.log") errors=$(grep -cE '^<[0-3]>' "$W/agent.log" || true)" \
	"warnings=$(grep -cE '^<4>' "$W/agent.log" || true)"
echo "UGB done failed_commands=$failed"
[ "$failed" = 0 ]
