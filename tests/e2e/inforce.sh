#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# In force when the command returns (issue 14), host tier: after `rule add`
# returns, the very next connect from the unit is refused, every time; after
# `rule del` returns it passes; the same for a second unit changed right
# after the first. The command fails (exit 3) with the agent's reason when the
# change is refused, the agent is stopped (timeout) or not running; a unit
# that is not running gets its policy kept for its next start (exit 0, noted).
. "$(dirname "$0")/lib.sh"
setup_kernel

A=$(make_cgroup demo.service)
B=$(make_cgroup other.service)
PORT=48$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$PORT"
start_agent
ctl() { "$CTL" --db "$DB" "$@"; }
"$CTL" --db "$DB" rule add demo.service egress deny 127.0.0.9 >/dev/null # A is guarded
maybe_sabotage

ms() { date +%s%N; }
took=()
for i in $(seq 15); do
	t0=$(ms)
	id=$(ctl rule add demo.service egress deny 127.0.0.2)
	t1=$(ms)
	got=$("$PROBE" --cgroup "$A" connect 127.0.0.2 "$PORT" || true)
	[ "$got" = EPERM ] || fail "round $i: connect right after 'rule add' returned: expected 'EPERM', got '$got'"
	idb=$(ctl rule add other.service egress deny 127.0.0.2)
	got=$("$PROBE" --cgroup "$B" connect 127.0.0.2 "$PORT" || true)
	[ "$got" = EPERM ] || fail "round $i: second unit: expected 'EPERM', got '$got'"
	ctl rule del "$id"
	got=$("$PROBE" --cgroup "$A" connect 127.0.0.2 "$PORT" || true)
	[ "$got" = ok ] || fail "round $i: connect right after 'rule del' returned: expected 'ok', got '$got'"
	ctl rule del "$idb"
	got=$("$PROBE" --cgroup "$B" connect 127.0.0.2 "$PORT" || true)
	[ "$got" = ok ] || fail "round $i: second unit after its last rule went: expected 'ok', got '$got'"
	took+=($(((t1 - t0) / 1000)))
done
sorted=$(printf '%s\n' "${took[@]}" | sort -n | tr '\n' ' ')
pass "15 rounds: every probe right after the command returned saw the change (rule add took, us: $sorted)"

# Refused by the agent: the 17th rule on one prefix exceeds what one entry holds.
for p in $(seq 1 16); do ctl rule add demo.service egress deny 127.0.0.3 --proto tcp --port $((1000 + p)) >/dev/null; done
rc=0
ctl rule add demo.service egress deny 127.0.0.3 --proto tcp --port 2000 >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 3 ] || fail "a refused change: exit $rc, expected 3 ($(cat "$TMP/err"))"
grep -q "demo.service: NOT in force (refused)" "$TMP/err" || fail "refusal not explained: $(cat "$TMP/err")"
expect EPERM "$PROBE" --cgroup "$A" connect 127.0.0.9 "$PORT"
pass "a refused change: exit 3 with the agent's reason; the previous policy stays in force"
sql "delete from rules where prefix = '127.0.0.3/32'"
ctl rule add demo.service egress deny 127.0.0.7 >/dev/null 2>"$TMP/err" ||
	fail "the unit is not in force again once the 17 rules are gone: $(cat "$TMP/err")"

# A unit that is not running: kept for its next start.
ctl rule add later.service egress deny 127.0.0.2 >/dev/null 2>"$TMP/err" ||
	fail "rule add for a unit that is not running failed: $(cat "$TMP/err")"
grep -q "later.service: no cgroup: not running" "$TMP/err" || fail "no note: $(cat "$TMP/err")"
pass "a unit that is not running: exit 0, its state noted"

# A stopped agent: the command times out, says so, exit 3.
freeze_agent
rc=0
t0=$(ms)
ctl --timeout 0.5 rule add demo.service egress deny 127.0.0.4 >/dev/null 2>"$TMP/err" || rc=$?
t1=$(ms)
thaw_agent
[ "$rc" = 3 ] || fail "a stopped agent: exit $rc, expected 3"
grep -q "did not confirm it in force within 0.5 s" "$TMP/err" || fail "timeout: $(cat "$TMP/err")"
[ $(((t1 - t0) / 1000000)) -lt 5000 ] || fail "--timeout 0.5 took $(((t1 - t0) / 1000000)) ms"
wait_for EPERM "$PROBE" --cgroup "$A" connect 127.0.0.4 "$PORT"
pass "a stopped agent: exit 3 after --timeout; applied once it runs again"

# --no-wait returns without the agent.
freeze_agent
ctl --no-wait rule add demo.service egress deny 127.0.0.5 >/dev/null || fail "--no-wait failed"
thaw_agent
pass "--no-wait returns without waiting"

# unit del: the unit's rules are out of the kernel when the command returns.
wait_for EPERM "$PROBE" --cgroup "$A" connect 127.0.0.5 "$PORT"
ctl unit del demo.service || fail "unit del: exit $?"
expect ok "$PROBE" --cgroup "$A" connect 127.0.0.2 "$PORT"
expect ok "$PROBE" --cgroup "$A" connect 127.0.0.5 "$PORT"
pass "unit del: the unit's rules are out of force when the command returns"

stop_agent
rc=0
ctl rule add demo.service egress deny 127.0.0.6 >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 3 ] && grep -q "unitguardd is not running" "$TMP/err" ||
	fail "no agent: exit $rc: $(cat "$TMP/err")"
pass "no agent: exit 3, says so"
echo "PASS: $TEST_NAME"
