#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 9, a bounded store: a unit floods denials against an agent run with
# --audit-max-size 2M. The store's files (database, -wal, -shm) stay within
# the limit together (issue 21.8: the write-ahead log counts), and nothing is
# lost from the count: rows left + rows pruned (audit_summary) + not stored +
# lost in the kernel = denials made, exactly, as the flood client counted
# them.
. "$(dirname "$0")/lib.sh"
setup_kernel

CG=$(make_cgroup demo.service)
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }
MAX=$((2 * 1024 * 1024))
# Bad limits are refused before anything starts, naming the option.
for bad in "--audit-max-size 512K" "--audit-max-size 2X" "--audit-max-size -1M" "--audit-max-age -1" "--audit-max-age 1d"; do
	rc=0
	# shellcheck disable=SC2086
	"$AGENT" --db "$TMP/bad.db" --pin-dir /sys/fs/bpf/ug-bad-$$ $bad 2>"$TMP/err" || rc=$?
	[ "$rc" = 2 ] && grep -q "invalid ${bad%% *}" "$TMP/err" || fail "unitguardd $bad: exit $rc: $(cat "$TMP/err")"
done
[ ! -e "$TMP/bad.db" ] || fail "a refused option created the store"
pass "bad --audit-max-size and --audit-max-age values: exit 2, named"
start_agent --audit-max-size 2M
ctl rule add demo.service egress deny 127.0.0.2 >/dev/null
expect EPERM in_unit udp 127.0.0.2 9

# Three floods with pauses, so the agent stores (and prunes) tens of
# thousands of rows, far more than 2 MiB holds (about 160 bytes a row).
# Each goes round 60 000 destination ports: denials of one kind are counted
# in the kernel and cost one row a window, so the flood that fills a store
# is one of distinct denials, more than the kernel's 16 384 aggregation
# entries.
N=300000
peak=0
peak_parts=
sample() { # the store's files together; their sizes at the peak
	local f s=0 z parts=
	for f in "$DB" "$DB-wal" "$DB-shm"; do
		z=0
		[ -e "$f" ] && z=$(stat -c %s "$f")
		s=$((s + z))
		parts="$parts ${f##*.}=$z"
	done
	[ "$s" -gt "$peak" ] && peak=$s && peak_parts=$parts
	true
}
for round in 1 2 3; do
	in_unit flood 127.0.0.2 1000 $N 60000 >"$TMP/flood" &
	while kill -0 $! 2>/dev/null; do sample; sleep 0.05; done
	got=$(cat "$TMP/flood")
	[ "$got" = "refused $N" ] || fail "flood $round: expected 'refused $N', got '$got'"
	for _ in $(seq 20); do
		sample
		sleep 0.1
	done
done
made=$((3 * N + 1))
# The agent catches up: wait until every denial is accounted for (30 s at most).
count() {
	sql "select (select ifnull(sum(count), 0) from audit where unit = 'demo.service')
		+ (select ifnull(sum(count), 0) from audit_summary where unit = 'demo.service')
		+ (select ifnull(sum(count), 0) from lost_events)"
}
for _ in $(seq 300); do
	[ "$(count)" = "$made" ] && break
	sample
	sleep 0.1
done
rows=$(sql "select ifnull(sum(count), 0) from audit")
pruned=$(sql "select ifnull(sum(count), 0) from audit_summary")
lost=$(sql "select ifnull(sum(count), 0) from lost_events")
[ "$(count)" = "$made" ] ||
	fail "denials made $made, rows $rows + pruned $pruned + lost or not stored $lost = $(count)"
[ "$pruned" -gt 0 ] || fail "nothing was pruned ($rows rows): the test did not exceed the limit"
sample
[ "$peak" -le "$MAX" ] ||
	fail "the store's files reached $peak bytes ($peak_parts) with --audit-max-size $MAX"
pass "flood of $made denials against --audit-max-size 2M: database + WAL + shm at most $peak bytes ($peak_parts), $rows in rows + $pruned pruned + $lost lost = $made, exactly"
sql "select day, verdict, count from audit_summary where unit = 'demo.service'" | grep -q "|deny|" ||
	fail "audit_summary has no per-day row for demo.service"
pass "pruned rows are counted per unit and day in audit_summary"
echo "PASS: $TEST_NAME"
