#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 21.7: nothing is lost across SIGKILL. The agent is killed (-9) three
# times while a unit floods denials, and started again each time; once the
# last one has caught up, the unit's denials in audit rows + pruned + lost
# = the denials made, exactly, as the flood client counted them. Records
# the agent had read from the ring but not yet stored when it died are read
# again by the next agent (the ring's consumer position moves only once
# their rows are committed).
. "$(dirname "$0")/lib.sh"
require_tools sqlite3
setup_kernel

CG=$(make_cgroup killflood.service)
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }
start_agent
ctl rule add killflood.service egress deny 127.0.0.2 >/dev/null
expect EPERM in_unit udp 127.0.0.2 9

# Distinct destinations (2 000 ports) and repeats of each: both records sent
# one by one and aggregated counts are in flight when the agent dies.
SECS=20
in_unit flood 127.0.0.2 20000 1000000000 2000 $SECS >"$TMP/flood" &
FLOOD=$!
for round in 1 2 3; do
	sleep 1.5
	kill -0 "$FLOOD" 2>/dev/null || fail "the flood ended before kill $round: make it longer"
	stop_agent KILL
	start_agent
done
wait "$FLOOD"
read -r _ refused <"$TMP/flood"
made=$((refused + 1))
[ "$refused" -gt 100000 ] || fail "the flood made only $refused denials"

total() { sql "select ifnull((select total from audit_totals where unit = 'killflood.service'), 0)"; }
for _ in $(seq 300); do [ "$(total)" -ge "$made" ] && break; sleep 0.1; done
sleep 1
read -r recorded pruned lost tot <<<"$(sql "select recorded, pruned, lost, total from audit_totals
	where unit = 'killflood.service'" | tr '|' ' ')"
[ "$tot" = "$made" ] ||
	fail "after 3 kills: made $made, rows count $recorded + pruned $pruned + lost $lost = $tot"
pass "3 SIGKILLs mid-flood: $made denials made = $recorded in rows + $pruned pruned + $lost lost, exactly"
echo "PASS: $TEST_NAME"
