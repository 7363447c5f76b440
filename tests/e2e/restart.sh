#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fail static across agent restarts (issue 7): the package-upgrade path. The
# agent enforces a rule on gone.service and on stay.service; it is stopped
# (TERM, then in a second round KILL); gone.service's cgroup is removed (the
# unit stopped meanwhile); the agent must start again, keep enforcing on
# stay.service throughout, and take a new rule. Also: a second agent on the
# same pins or the same store is refused with a line naming the holder, and
# leaves the first one's enforcement alone.
. "$(dirname "$0")/lib.sh"
setup_kernel

GONE=$(make_cgroup gone.service)
STAY=$(make_cgroup stay.service)
PORT=48$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$PORT"
in_stay() { "$PROBE" --cgroup "$STAY" "$@"; }

"$CTL" --db "$DB" --no-wait rule add gone.service egress deny 127.0.0.2 >/dev/null
"$CTL" --db "$DB" --no-wait rule add stay.service egress deny 127.0.0.2 >/dev/null
start_agent
wait_for EPERM in_stay connect 127.0.0.2 "$PORT"
maybe_sabotage

for sig in TERM KILL; do
	wait_for EPERM "$PROBE" --cgroup "$GONE" connect 127.0.0.2 "$PORT"
	stop_agent $sig
	rmdir "$GONE"
	expect EPERM in_stay connect 127.0.0.2 "$PORT"
	start_agent
	expect EPERM in_stay connect 127.0.0.2 "$PORT"
	pass "SIG$sig, unit cgroup removed while the agent was down: the agent starts again"
	# The policy for gone.service is kept for its next start.
	GONE=$(make_cgroup gone.service)
done

id=$("$CTL" --db "$DB" rule add stay.service egress deny 127.0.0.3)
wait_for EPERM in_stay connect 127.0.0.3 "$PORT"
pass "the restarted agent applies a new rule"

# Pins of an older layout (here: the layout marker removed): the agent moves
# them aside, they keep enforcing until its own policy is in force, then go.
# A probe loop runs through it: no connect may pass.
stop_agent
unlink "$PIN"/maps/ug_layout_v*
( while [ ! -e "$TMP/stop" ]; do in_stay connect 127.0.0.3 "$PORT" || true; done >"$TMP/during" ) &
LOOP=$!
sleep 0.2
start_agent
grep -q "pinned maps are of an older layout: moved them aside" "$TMP/agent.log" ||
	fail "no migration: $(grep -v libbpf "$TMP/agent.log" | tail -n 5)"
for i in $(seq 40); do ls -d "$PIN"/old-* >/dev/null 2>&1 || break; sleep 0.05; done
ls -d "$PIN"/old-* >/dev/null 2>&1 && fail "the older generation is still pinned: $(ls "$PIN")"
sleep 0.3
touch "$TMP/stop"
wait $LOOP || true
total=$(wc -l <"$TMP/during")
leaks=$(grep -vc '^EPERM$' "$TMP/during" || true)
[ "$total" -gt 5 ] && [ "$leaks" = 0 ] || fail "migration: $leaks of $total connects got through"
[ "$(bpftool cgroup show "$STAY" | grep -c ug_connect4)" = 1 ] ||
	fail "after the migration: $(bpftool cgroup show "$STAY")"
pass "pins of an older layout: moved aside, enforcing until replaced ($total connects, all EPERM), then gone"

# A second agent: refused, names the first, changes nothing.
out=$("$AGENT" --db "$TMP/other.db" --pin-dir "$PIN" 2>&1) && fail "a second agent on the same pins started"
grep -q "pin directory $PIN is in use by another unitguardd (pid $AGENT_PID)" <<<"$out" ||
	fail "second agent on the same pins: unexpected message: $out"
pass "second agent on the same pin directory refused: $(grep -o 'unitguardd: .*' <<<"$out" | head -n 1)"
out=$("$AGENT" --db "$DB" --pin-dir "$PIN-other" 2>&1) && fail "a second agent on the same store started"
grep -q "store $DB is in use by another unitguardd (pid $AGENT_PID)" <<<"$out" ||
	fail "second agent on the same store: unexpected message: $out"
[ ! -e "$PIN-other" ] || fail "the refused agent created $PIN-other"
pass "second agent on the same store refused"
expect EPERM in_stay connect 127.0.0.3 "$PORT"
"$CTL" --db "$DB" rule del "$id" >/dev/null
wait_for ok in_stay connect 127.0.0.3 "$PORT"
pass "the first agent still owns the policy"
echo "PASS: $TEST_NAME"
