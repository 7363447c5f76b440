#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The store on a filesystem that fills up, or turns read-only (issue 7), on a
# real tmpfs: the agent keeps enforcing; the CLI fails with one line and
# writes nothing; denials that cannot be stored are still journaled and
# counted, and the count reaches the store once it can take it, also across
# an agent restart: every denial made is an audit row or in that count (or in
# the kernel's ring-buffer loss count), exactly.
. "$(dirname "$0")/lib.sh"
setup_kernel

mkdir "$TMP/st"
mount -t tmpfs -o size=6m tmpfs "$TMP/st" || skip "cannot mount a tmpfs"
EXIT_HOOKS+=("umount -l $TMP/st")
DB=$TMP/st/unitguard.db
CG=$(make_cgroup demo.service)
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }
start_agent
ctl rule add demo.service egress deny 127.0.0.2 >/dev/null
maybe_sabotage
expect EPERM in_unit udp 127.0.0.2 9

# --- disk full ------------------------------------------------------------------
dd if=/dev/zero of="$TMP/st/fill" bs=4k 2>/dev/null || true
N=4000
# Distinct ports: each denial its own record (repeats are counted in the kernel).
got=$(in_unit flood 127.0.0.2 1000 $N $N)
[ "$got" = "refused $N" ] || fail "flood with the disk full: expected 'refused $N', got '$got'"
# A write bigger than any room left in the write-ahead log (at most its
# 512 KiB share, or the frames of a write that failed) must fail: 20 000
# rules with long comments are megabytes of pages.
awk 'BEGIN {
	print "version: 1\nunits:\n  - target: demo.service\n    rules:"
	print "      - {direction: egress, action: deny, prefix: 127.0.0.2/32}"
	print "  - target: big.slice\n    rules:"
	for (i = 0; i < 20000; i++)
		printf "      - {direction: egress, action: deny, prefix: 10.%d.%d.0/24, " \
			"comment: \"%0100d\"}\n", int(i / 256), i % 256, i
}' >"$TMP/big.yaml"
rules=$(sql "select count(*) || ' ' || ifnull(max(id), 0) from rules")
rc=0
ctl apply "$TMP/big.yaml" >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] || fail "apply on a full disk: exit $rc: $(cat "$TMP/err")"
grep -q "full" "$TMP/err" || fail "apply on a full disk does not say so: $(cat "$TMP/err")"
[ "$(sql "select count(*) || ' ' || ifnull(max(id), 0) from rules")" = "$rules" ] ||
	fail "apply on a full disk wrote rules"
# A small write may still fit in the log's room (SQLite reuses its frames):
# then it is whole and in force; or it fails with one line that says why.
rc=0
ctl rule add demo.service egress deny 127.0.0.5 >/dev/null 2>"$TMP/err" || rc=$?
if [ "$rc" = 0 ]; then
	expect EPERM in_unit connect 127.0.0.5 9
	small="fit in the log's room and is in force"
	extra=1
else
	[ "$rc" = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "full" "$TMP/err" ||
		fail "rule add on a full disk: exit $rc: $(cat "$TMP/err")"
	small="failed with one line"
	extra=0
	[ "$(sql "select count(*) from rules where prefix = '127.0.0.5/32'")" = 0 ] ||
		fail "a failed rule add left its rule"
fi
for i in $(seq 60); do grep -q "the store cannot take audit rows" "$TMP/agent.log" && break; sleep 0.05; done
grep -q "the store cannot take audit rows" "$TMP/agent.log" || fail "the agent did not say it cannot store audit rows"
expect EPERM in_unit udp 127.0.0.2 9
pass "disk full: $N denials refused, a large apply fails with one line and writes nothing, a rule add $small, the agent says why"
# Across a restart, with the disk still full: what is queued is counted.
stop_agent
rm "$TMP/st/fill"
start_agent
for i in $(seq 60); do
	[ "$(sql "select ifnull(sum(count), 0) from lost_events where kind = 'store'")" != 0 ] && break
	sleep 0.05
done
stored=$(sql "select ifnull(sum(count), 0) from audit")
unstored=$(sql "select ifnull(sum(count), 0) from lost_events where kind = 'store'")
ringlost=$(sql "select ifnull(sum(count), 0) from lost_events where kind = 'ringbuf'")
[ "$unstored" -gt 0 ] || fail "no unstored denials counted ($stored stored)"
# The checks before and after the flood were denials too: N + 2 in all, and
# the connect that showed a rule added on the full disk in force.
made=$((N + 2 + extra))
[ $((stored + unstored + ringlost)) = $made ] ||
	fail "denials made $made, stored $stored + not stored $unstored + ring lost $ringlost"
[ -n "$(journal_last MESSAGE_ID=4ee33560b8d445539b5d6420e673f630 UNITGUARD_UNSTORED=$unstored)" ] ||
	fail "the journal has no UNITGUARD_UNSTORED=$unstored summary"
pass "after a restart with space again: $stored stored + $unstored counted as not stored + $ringlost lost in the kernel = $((N + 2)) denials made"
ctl rule add demo.service egress deny 127.0.0.3 >/dev/null
expect EPERM in_unit connect 127.0.0.3 9
pass "space again: changes are in force"

# --- read-only --------------------------------------------------------------------
# The CLI sees the store through a read-only mount (a remount would need the
# agent's writable handle closed first).
mkdir "$TMP/ro"
mount --bind -o ro "$TMP/st" "$TMP/ro"
EXIT_HOOKS+=("umount -l $TMP/ro")
rc=0
"$CTL" --db "$TMP/ro/unitguard.db" rule add demo.service egress deny 127.0.0.4 >/dev/null \
	2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] || fail "rule add on a read-only store: exit $rc: $(cat "$TMP/err")"
expect EPERM in_unit udp 127.0.0.2 9
expect ok in_unit udp 127.0.0.4 9
pass "read-only store: the CLI fails with one line ($(cat "$TMP/err")), enforcement holds"
echo "PASS: $TEST_NAME"
