#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 9, the audit under a flood, with the real kernel, journald and store.
#  - 2 M denials from two units, four flooding processes and one of a
#    hundred distinct destinations at the same time: per unit, the denials
#    in the audit rows (their count) + lost = denials made, exactly, as the
#    flood clients counted them; every one of the hundred destinations has
#    its row.
#  - unitguardctl audit --since/--until/--summary read the store; --follow
#    prints a denial made after it started; the journal has the aggregated
#    entries with their count.
. "$(dirname "$0")/lib.sh"
require_tools sqlite3 jq
setup_kernel

CGA=$(make_cgroup flood-a.service)
CGB=$(make_cgroup flood-b.service)
in_a() { "$PROBE" --cgroup "$CGA" "$@"; }
in_b() { "$PROBE" --cgroup "$CGB" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }
start_agent
ctl rule add flood-a.service egress deny 127.0.0.2 >/dev/null
ctl rule add flood-b.service egress deny 127.0.0.2 >/dev/null
maybe_sabotage
expect EPERM in_a udp 127.0.0.2 9
expect EPERM in_b udp 127.0.0.2 9
start_s=$(date +%s)

# --- the flood ----------------------------------------------------------------
# flood-a: three processes, one kind each, and one going round 100 ports.
# flood-b: one process, one kind. 2 000 100 denials in all.
N=500000
pids=()
for p in 1 2 3; do
	in_a flood 127.0.0.2 $((9 + p)) $N >"$TMP/a$p" &
	pids+=($!)
done
in_a flood 127.0.0.2 3000 100 100 >"$TMP/a4" &
pids+=($!)
in_b flood 127.0.0.2 9 $N >"$TMP/b1" &
pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
refused() { awk '{ s += $2 } END { print s }' "$@"; }
made_a=$(($(refused "$TMP"/a[1-4]) + 1))
made_b=$(($(refused "$TMP/b1") + 1))
[ "$made_a" = $((3 * N + 101)) ] && [ "$made_b" = $((N + 1)) ] ||
	fail "not every send was refused: flood-a $made_a, flood-b $made_b"

# The agent catches up within a few flushes (250 ms each): wait for the
# totals to reach what was made, then for them to stay there.
total() { sql "select ifnull((select total from audit_totals where unit = '$1'), 0)"; }
for _ in $(seq 100); do
	[ "$(total flood-a.service)" -ge "$made_a" ] && [ "$(total flood-b.service)" -ge "$made_b" ] && break
	sleep 0.1
done
sleep 1
for u in a b; do
	unit=flood-$u.service
	made=made_$u
	got=$(sql "select recorded || ' ' || lost || ' ' || total from audit_totals where unit = '$unit'")
	read -r recorded lost tot <<<"$got"
	[ "$tot" = "${!made}" ] ||
		fail "$unit: made ${!made}, audit rows count $recorded + lost $lost = $tot"
	rows=$(sql "select count(*) from audit where unit = '$unit'")
	pass "$unit: ${!made} denials made = $recorded in $rows audit rows + $lost lost, exactly"
done
n=$(sql "select count(distinct port) from audit where unit = 'flood-a.service' and port between 3000 and 3099")
[ "$n" = 100 ] || fail "only $n of the 100 distinct destinations of the mixed flood have audit rows"
pass "every one of the 100 distinct destinations flooded beside 1.5 M repeated denials has its row"
big=$(sql "select max(count) from audit where unit = 'flood-b.service'")
[ "$big" -gt 1000 ] || fail "no aggregated row for the repeated denials (largest count $big)"
pass "repeated denials are aggregated in the kernel (largest row counts $big)"

# --- a flood of distinct denials does not stall the agent -----------------------------
# 60 000 ports from one process: more identities than the unit's share of
# the kernel's aggregation entries, so the unit uses its share of the ring
# every flush and the agent reads as fast as it can. Its loop
# still runs: a rule change is in force when its command returns, and the
# lost counts reach the store while the flood goes on.
lost_rows() { sql "select count(*) from lost_events where unit = 'flood-b.service'"; }
l0=$(lost_rows)
in_b flood 127.0.0.2 10000 4000000 50000 >"$TMP/b2" &
DISTINCT=$!
sleep 1
ctl --timeout 10 rule add flood-b.service egress deny 127.0.0.9 >/dev/null ||
	fail "rule add during a flood of distinct denials: not in force (exit $?)"
kill -0 "$DISTINCT" 2>/dev/null ||
	fail "rule add returned only after the flood ended: the agent's loop stalls in a flood"
expect EPERM in_b connect 127.0.0.9 9
for _ in $(seq 30); do [ "$(lost_rows)" -gt "$l0" ] && break; sleep 0.1; done
kill -0 "$DISTINCT" 2>/dev/null || fail "the distinct flood ended before the checks: make it longer"
[ "$(lost_rows)" -gt "$l0" ] || fail "no lost count reached the store while the flood ran"
wait "$DISTINCT"
pass "during a flood of distinct denials: a rule change is in force when its command returns, lost counts reach the store"
# And once the agent has caught up, the identity holds for it too.
made_b=$((made_b + $(refused "$TMP/b2") + 1))
for _ in $(seq 300); do [ "$(total flood-b.service)" -ge "$made_b" ] && break; sleep 0.1; done
sleep 1
read -r recorded lost tot <<<"$(sql "select recorded || ' ' || lost || ' ' || total from audit_totals where unit = 'flood-b.service'")"
[ "$tot" = "$made_b" ] || fail "flood-b.service after the distinct flood: made $made_b, rows count $recorded + lost $lost = $tot"
pass "flood-b.service after 4 M distinct denials too: $made_b made = $recorded in rows + $lost lost, exactly"

# --- the journal ----------------------------------------------------------------
journalctl -o json --no-pager UNITGUARD_UNIT=flood-b.service |
	jq -r 'select(.UNITGUARD_COUNT != null) | .UNITGUARD_COUNT' | sort -n | tail -n 1 >"$TMP/jmax"
[ "$(cat "$TMP/jmax")" -gt 1000 ] 2>/dev/null ||
	fail "no journal entry of flood-b.service counts more than 1000 denials (largest: $(cat "$TMP/jmax"))"
pass "the journal has the aggregated entries with UNITGUARD_COUNT (largest $(cat "$TMP/jmax"))"

# --- unitguardctl audit --since/--until/--summary -------------------------------------
n=$(ctl audit --unit flood-b.service --since "@$((start_s - 5))" --json | jq 'map(.count) | add')
[ "$n" = "$(sql "select sum(count) from audit where unit = 'flood-b.service'")" ] ||
	fail "audit --since before the flood: $n denials, not all of the unit's"
n=$(ctl audit --unit flood-b.service --until "@$((start_s - 5))" --json | jq length)
[ "$n" = 0 ] || fail "audit --until before the flood lists $n rows"
n=$(ctl audit --unit flood-b.service --since "+1h" --json | jq length)
[ "$n" = 0 ] || fail "audit --since +1h lists $n rows"
n=$(ctl audit --unit flood-b.service --since "-10min" | tail -n +2 | wc -l)
[ "$n" = "$(sql "select count(*) from audit where unit = 'flood-b.service'")" ] ||
	fail "audit --since -10min prints $n rows"
for bad in later 2026-13-45 -1x; do
	rc=0
	ctl audit --since "$bad" >/dev/null 2>"$TMP/err" || rc=$?
	[ "$rc" = 2 ] && grep -q "invalid time '$bad'" "$TMP/err" ||
		fail "audit --since $bad: exit $rc: $(cat "$TMP/err")"
done
rc=0
ctl audit --summary --since -1h >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "audit --summary --since: exit $rc, expected 2"
pass "audit --since/--until select by time (@EPOCH, -10min, +1h); bad times exit 2"
tot=$(ctl audit --summary --json | jq -r '.totals[] | select(.unit == "flood-a.service") | .total')
[ "$tot" = "$made_a" ] || fail "audit --summary totals: flood-a.service $tot, made $made_a"
dest=$(ctl audit --summary --json --unit flood-a.service | jq -r '.destinations[0].denials')
[ "$dest" -ge "$N" ] || fail "audit --summary destinations: top denials $dest"
ctl audit --summary | grep -q "== destinations ==" || fail "audit --summary prints no destinations table"
pass "audit --summary: totals $tot for flood-a.service, top destination $dest denials"

# --- --follow --------------------------------------------------------------------
"$CTL" --db "$DB" audit --follow --json --unit flood-b.service --since now >"$TMP/follow" 2>"$TMP/follow.err" &
FOLLOW=$!
sleep 0.5
expect EPERM in_b udp 127.0.0.2 7777
for _ in $(seq 50); do
	grep -q '"port":7777' "$TMP/follow" && break
	sleep 0.1
done
kill -TERM "$FOLLOW"
rc=0
wait "$FOLLOW" || rc=$?
grep -q '"port":7777' "$TMP/follow" || fail "audit --follow did not print the new denial: $(cat "$TMP/follow" "$TMP/follow.err")"
[ "$(wc -l <"$TMP/follow")" = 1 ] || fail "audit --follow --since now printed older rows: $(head -3 "$TMP/follow")"
jq -e . "$TMP/follow" >/dev/null || fail "audit --follow --json is not JSON Lines"
[ "$rc" = 0 ] || fail "audit --follow exited $rc on SIGTERM"
pass "audit --follow prints a denial made after it started (JSON Lines), exits 0 on SIGTERM"
echo "PASS: $TEST_NAME"
