#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A thousand guarded units (issue 12): 1000 cgroups, each with 21 deny rules
# (20 in 10/8 and its own 127.1.X.Y), loaded into the store at once. A
# one-rule change on one unit is in force when `rule add` returns (EPERM
# right after; the delay is printed, not asserted); 20 sampled units still
# deny their own address and not their neighbour's.
. "$(dirname "$0")/lib.sh"
setup_kernel

U=1000
PORT=48$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$PORT"
PARENT=$(make_cgroup ugscale.slice) # units are placed only below slices (or the root)
for u in $(seq 0 $((U - 1))); do
	mkdir "$PARENT/$(printf 's%04d.service' "$u")"
	echo "$PARENT/$(printf 's%04d.service' "$u")" >>"$TMP/cgroups"
done
own() { echo "127.1.$(($1 / 250)).$(($1 % 250 + 1))"; } # unit u's own denied address
"$CTL" --db "$DB" --no-wait apply - <<<$'version: 1\nunits: []' >/dev/null
sql <<SQL
BEGIN;
WITH RECURSIVE u(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM u WHERE x < $U - 1)
INSERT INTO units (target) SELECT printf('s%04d.service', x) FROM u;
WITH RECURSIVE p(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM p WHERE k < $U * 20 - 1)
INSERT INTO rules (unit_id, direction, action, prefix)
SELECT (SELECT id FROM units WHERE target = printf('s%04d.service', k / 20)), 'egress', 'deny',
	printf('10.%d.%d.%d/32', k / 65536, (k / 256) % 256, k % 256) FROM p;
WITH RECURSIVE u(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM u WHERE x < $U - 1)
INSERT INTO rules (unit_id, direction, action, prefix)
SELECT (SELECT id FROM units WHERE target = printf('s%04d.service', x)), 'egress', 'deny',
	printf('127.1.%d.%d/32', x / 250, x % 250 + 1) FROM u;
COMMIT;
SQL
[ "$(sql 'select count(*) from rules')" = $((U * 21)) ] || fail "the store holds $(sql 'select count(*) from rules') rules"
t0=$(date +%s%N)
start_agent
# Any command that waits returns once everything before it is in force.
"$CTL" --db "$DB" unit set s0000.service --mode enforce >/dev/null
t1=$(date +%s%N)
maybe_sabotage
pass "$U units, $((U * 21)) rules in force $(((t1 - t0) / 1000000)) ms after the agent was started"

in_u() { "$PROBE" --cgroup "$PARENT/$(printf 's%04d.service' "$1")" "${@:2}"; }
took=()
for i in 1 2 3; do
	t0=$(date +%s%N)
	"$CTL" --db "$DB" rule add s0500.service egress deny 127.0.0.$((i + 1)) >/dev/null
	t1=$(date +%s%N)
	expect EPERM in_u 500 connect 127.0.0.$((i + 1)) "$PORT"
	expect ok in_u 501 connect 127.0.0.$((i + 1)) "$PORT"
	took+=($(((t1 - t0) / 1000)))
done
pass "a one-rule change on one of $U units: in force when 'rule add' returned (took, us: ${took[*]})"

for k in $(seq 20); do
	u=$((RANDOM % U))
	v=$(((u + 1) % U))
	expect EPERM in_u "$u" connect "$(own "$u")" "$PORT"
	expect ok in_u "$u" connect "$(own "$v")" "$PORT"
done
pass "20 sampled units: each denies its own address, not its neighbour's"
grep -q "cgroups indexed" "$TMP/agent.log" || fail "the agent did not index the cgroup tree"
echo "PASS: $TEST_NAME"
