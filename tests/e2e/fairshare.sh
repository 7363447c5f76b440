#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 21.6 and 21.8: one unit's flood cannot erase another's audit, and the
# store with its write-ahead log stays within --audit-max-size.
#  - share-a.service floods distinct denials (60 000 destination ports) for
#    SECS seconds against --audit-max-size 16M; share-b.service makes
#    denials of its own before and during the flood, each distinct.
#  - Every one of share-b's denials has its audit row with its details
#    (pid, comm, address, port, hook, rule), none pruned, none lost;
#    share-a's rows are the ones pruned.
#  - Per unit, rows + pruned + lost = denials made, exactly, for both.
#  - The store's files (database, -wal, -shm) never exceed 16 MiB together.
. "$(dirname "$0")/lib.sh"
require_tools sqlite3
setup_kernel

SECS=${UG_FAIRSHARE_SECS:-40}
MAX=$((16 * 1024 * 1024))
CGA=$(make_cgroup share-a.service)
CGB=$(make_cgroup share-b.service)
in_a() { "$PROBE" --cgroup "$CGA" "$@"; }
in_b() { "$PROBE" --cgroup "$CGB" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }
start_agent --audit-max-size 16M
ctl rule add share-a.service egress deny 127.0.0.2 >/dev/null
rule_b=$(ctl rule add share-b.service egress deny 127.0.0.2)
maybe_sabotage
expect EPERM in_a udp 127.0.0.2 9
made_a=1
made_b=0
b_denial() { # one denial of share-b.service to port $1
	[ "$(in_b udp 127.0.0.2 "$1")" = EPERM ] || fail "share-b.service: a send to port $1 was not refused"
	made_b=$((made_b + 1))
	echo "$1" >>"$TMP/b-ports"
}
for p in $(seq 20001 20020); do b_denial "$p"; done
pass "share-b.service: 20 denials before the flood"

on_disk() { # the store's files, together
	local f s=0
	for f in "$DB" "$DB-wal" "$DB-shm"; do
		[ -e "$f" ] && s=$((s + $(stat -c %s "$f")))
	done
	echo "$s"
}
in_a flood 127.0.0.2 1000 1000000000 60000 "$SECS" >"$TMP/a" &
FLOOD=$!
peak=0
p=21000
while kill -0 "$FLOOD" 2>/dev/null; do
	p=$((p + 1))
	b_denial "$p"
	for _ in 1 2; do
		s=$(on_disk)
		[ "$s" -gt "$peak" ] && peak=$s
		sleep 0.1
	done
done
wait "$FLOOD"
read -r _ refused <"$TMP/a"
made_a=$((made_a + refused))
pass "share-a.service flooded $refused distinct denials for $SECS s; share-b.service made $((made_b - 20)) meanwhile"

total() { sql "select ifnull((select total from audit_totals where unit = '$1'), 0)"; }
for _ in $(seq 300); do
	[ "$(total share-a.service)" -ge "$made_a" ] && [ "$(total share-b.service)" -ge "$made_b" ] && break
	s=$(on_disk)
	[ "$s" -gt "$peak" ] && peak=$s
	sleep 0.1
done
sleep 1
for u in a b; do
	made=made_$u
	read -r recorded pruned lost tot <<<"$(sql "select recorded, pruned, lost, total from audit_totals
		where unit = 'share-$u.service'" | tr '|' ' ')"
	[ "$tot" = "${!made}" ] ||
		fail "share-$u.service: made ${!made}, rows $recorded + pruned $pruned + lost $lost = $tot"
	pass "share-$u.service: ${!made} made = $recorded in rows + $pruned pruned + $lost lost, exactly"
	eval "pruned_$u=$pruned lost_$u=$lost"
done
# shellcheck disable=SC2154 # set by the eval above
[ "$pruned_a" -gt 0 ] || fail "nothing of share-a.service was pruned: the flood did not reach the limit"
# shellcheck disable=SC2154
[ "$pruned_b" = 0 ] && [ "$lost_b" = 0 ] ||
	fail "share-b.service lost its audit to the flood: $pruned_b pruned, $lost_b lost"
# Each of share-b's denials: its own row, with its details.
sql "select port from audit where unit = 'share-b.service' and count = 1 and pid > 0
	and comm = 'ugprobe' and address = '127.0.0.2' and protocol = 'udp' and hook = 'sendmsg4'
	and direction = 'egress' and verdict = 'deny' and rule_id = $rule_b
	order by port" >"$TMP/b-rows"
sort -n "$TMP/b-ports" | diff - "$TMP/b-rows" >"$TMP/b-diff" ||
	fail "share-b.service denials without their row: $(grep -c '^<' "$TMP/b-diff") of $made_b: $(head -5 "$TMP/b-diff")"
pass "every one of share-b.service's $made_b denials has its row with its details; share-a.service paid the pruning ($pruned_a)"
[ "$peak" -le "$MAX" ] || fail "the store's files reached $peak bytes with --audit-max-size 16M"
pass "database + WAL + shm at most $peak bytes under --audit-max-size 16M ($MAX)"
echo "PASS: $TEST_NAME"
