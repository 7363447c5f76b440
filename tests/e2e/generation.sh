#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Atomic generations under concurrent traffic, through `unitguardctl apply`:
# G1 = deny 127.0.0.0/24 + allow 127.0.0.2/32 (+ 10 000 other prefixes),
# G2 = allow 127.0.0.0/24 + deny 127.0.0.2/32 (+ 10 000 different prefixes).
# While G2 replaces G1, connects run in a loop. Any mix of the two (an update
# done in place, delete-then-add) would let the old /24 decide for 127.0.0.2,
# or flip a verdict back: every audited decision must name a rule of the
# generation it reports, and each address's verdicts must switch exactly once.
# Also: export/apply round trip, and a bad file changes nothing.
. "$(dirname "$0")/lib.sh"
setup_kernel

CG=$(make_cgroup demo.service)
P=54$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$P"
start_agent
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }

policy() { # policy SLASH24_ACTION SLASH32_ACTION FILLER_OCTET
	echo "version: 1"
	echo "units:"
	echo "  - target: demo.service"
	echo "    rules:"
	echo "      - {direction: egress, action: $1, prefix: 127.0.0.0/24}"
	echo "      - {direction: egress, action: $2, prefix: 127.0.0.2/32}"
	for ((i = 0; i < 10000; i++)); do
		echo "      - {direction: egress, action: deny, prefix: 10.$((i / 256)).$((i % 256)).$3/32}"
	done
}
policy deny allow 1 >"$TMP/g1.yaml"
policy allow deny 2 >"$TMP/g2.yaml"

ctl apply "$TMP/g1.yaml" >/dev/null
wait_for ok in_unit connect 127.0.0.2 "$P"
wait_for EPERM in_unit connect 127.0.0.3 "$P"
maybe_sabotage
expect EPERM in_unit connect 127.0.0.3 "$P"
g1_deny=$(sql "select id from rules where prefix='127.0.0.0/24'")
gen1=$(sql "select max(generation) from generations")

loop() { # loop ADDR OUT: connect until $TMP/stop exists
	while [ ! -e "$TMP/stop" ]; do in_unit connect "$1" "$P" || true; done >"$2"
}
loop 127.0.0.2 "$TMP/two" &
L1=$!
loop 127.0.0.3 "$TMP/three" &
L2=$!
sleep 0.3
t0=$(date +%s%N)
ctl apply "$TMP/g2.yaml" >/dev/null
wait_for EPERM in_unit connect 127.0.0.2 "$P"
echo "10 002-rule generation in force $(( ($(date +%s%N) - t0) / 1000000 )) ms after apply returned"
sleep 0.3
touch "$TMP/stop"
wait $L1 $L2 || true
grep -E "generation [0-9]+ applied in" "$TMP/agent.log" | tail -n 1

g2_deny=$(sql "select id from rules where prefix='127.0.0.2/32'")
gen2=$(sql "select max(generation) from generations")
[ "$gen2" -gt "$gen1" ] || fail "no new generation recorded ($gen1 -> $gen2)"

# Each address switches verdict exactly once: ok* EPERM* and EPERM* ok*.
two=$(uniq <"$TMP/two" | tr '\n' ' ')
three=$(uniq <"$TMP/three" | tr '\n' ' ')
[ "$two" = "ok EPERM " ] || fail "127.0.0.2 verdicts during the switch: $two"
[ "$three" = "EPERM ok " ] || fail "127.0.0.3 verdicts during the switch: $three"
pass "verdicts switched once: $(wc -l <"$TMP/two") + $(wc -l <"$TMP/three") connects during apply"

sleep 0.6
bad=$(sql "select count(*) from audit where address='127.0.0.2' and rule_id is not $g2_deny")
[ "$bad" = 0 ] || fail "$bad denials of 127.0.0.2 decided by a rule other than G2's /32"
bad=$(sql "select count(*) from audit where address='127.0.0.3' and (rule_id is not $g1_deny or generation > $gen1)")
[ "$bad" = 0 ] || fail "$bad denials of 127.0.0.3 not decided by G1's /24 in G1"
bad=$(sql "select count(*) from audit where rule_id=$g2_deny and generation < $gen2")
[ "$bad" = 0 ] || fail "$bad rows name G2's rule with an older generation"
pass "every denial names its generation's rule (G1 $gen1, G2 $gen2)"

# export writes what apply reads; applying it again changes no decision.
ctl export "$TMP/exported.yaml"
grep -q "prefix: 127.0.0.2/32" "$TMP/exported.yaml" || fail "export lacks a rule"
[ "$(grep -c 'prefix:' "$TMP/exported.yaml")" = 10002 ] || fail "export does not hold all 10 002 rules"
ctl apply "$TMP/exported.yaml" >/dev/null
sleep 0.2
expect EPERM in_unit connect 127.0.0.2 "$P"
expect ok in_unit connect 127.0.0.3 "$P"
pass "export -> apply round trip"

# Issue 10: applying what the store holds already writes nothing (no new
# policy version, so no pass and no generation) and keeps every rule's id,
# so the audit rows keep naming rules that exist; a changed comment keeps
# its rule's id too.
ids=$(sql "select group_concat(id) from (select id from rules order by id)")
v0=$(sql "select value from meta where key = 'policy_version'")
gens=$(sql "select count(*) from generations")
named=$(sql "select count(*) from audit a join rules r on r.id = a.rule_id")
[ "$named" -gt 0 ] || fail "no audit row names a rule in force"
t0=$(date +%s%N)
ctl apply "$TMP/exported.yaml" >"$TMP/out" || fail "apply of the exported policy: exit $?"
echo "apply of an identical 10 002-rule file returned in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
grep -q "^unchanged: the store holds this policy already (1 units, 10002 rules); nothing written" "$TMP/out" ||
	fail "apply of an identical file: $(cat "$TMP/out")"
[ "$(sql "select value from meta where key = 'policy_version'")" = "$v0" ] || fail "an identical apply moved policy_version"
[ "$(sql "select group_concat(id) from (select id from rules order by id)")" = "$ids" ] || fail "an identical apply renumbered rules"
sleep 0.3
[ "$(sql "select count(*) from generations")" = "$gens" ] || fail "an identical apply made a generation"
[ "$(sql "select count(*) from audit a join rules r on r.id = a.rule_id")" -ge "$named" ] ||
	fail "audit rows stopped naming their rules"
sed -E 's|^( *)prefix: 127\.0\.0\.2/32$|&\n\1comment: "the host"|' "$TMP/exported.yaml" >"$TMP/commented.yaml"
grep -q 'comment: "the host"' "$TMP/commented.yaml" || fail "test bug: no comment added"
ctl apply "$TMP/commented.yaml" >"$TMP/out" || fail "apply of a comment change: exit $?"
grep -q "rules 0 added, 0 deleted, 10002 kept with their ids (1 comments changed)" "$TMP/out" ||
	fail "apply of a comment change: $(cat "$TMP/out")"
[ "$(sql "select group_concat(id) from (select id from rules order by id)")" = "$ids" ] || fail "a comment change renumbered rules"
[ "$(sql "select comment from rules where id = $g2_deny")" = "the host" ] || fail "comment not updated in place"
expect EPERM in_unit connect 127.0.0.2 "$P"
pass "an identical apply writes nothing (no policy version, no generation, ids kept); a comment change keeps the id"

# Later changes rewrite only what differs in the unit's standby trie (its
# trie from before the last switch, unread once the grace period is over),
# and decide exactly as a fresh trie would: a deleted rule's entry is gone.
written() { # entries the last generation wrote, from the agent's log
	grep -E "generation [0-9]+ applied in" "$TMP/agent.log" | tail -n 1 |
		sed -E 's/.* ([0-9]+) trie entries written.*/\1/'
}
sleep 0.6
id4=$(ctl rule add demo.service egress deny 127.0.0.4)
wait_for EPERM in_unit connect 127.0.0.4 "$P"
sleep 0.6
ctl rule del "$id4"
wait_for ok in_unit connect 127.0.0.4 "$P"
w=$(written)
[ "$w" = 0 ] || fail "deleting the rule just added wrote $w entries, expected 0 (the standby holds that policy)"
sleep 0.6
ctl rule add demo.service egress deny 127.0.0.5 >/dev/null
wait_for EPERM in_unit connect 127.0.0.5 "$P"
w=$(written)
[ "$w" -le 2 ] || fail "adding one rule wrote $w entries, expected at most 2"
expect ok in_unit connect 127.0.0.4 "$P"
expect EPERM in_unit connect 127.0.0.2 "$P"
expect ok in_unit connect 127.0.0.3 "$P"
pass "changes on a 10 002-rule unit write only the difference ($w entries), stale entries gone"

# A bad file: exit 2, the line named, nothing changed.
dump=$(sqlite3 "$DB" "select * from rules; select * from units")
printf 'version: 1\nunits:\n  - target: demo.service\n    rules:\n      - {direction: egress, action: deny, prefix: 10.0.0.0/33}\n' >"$TMP/bad.yaml"
rc=0
ctl apply "$TMP/bad.yaml" 2>"$TMP/err" || rc=$?
[ $rc = 2 ] || fail "apply of a bad file exited $rc"
grep -q "line 5" "$TMP/err" || fail "the error does not name line 5: $(cat "$TMP/err")"
[ "$(sqlite3 "$DB" "select * from rules; select * from units")" = "$dump" ] || fail "a bad file changed the store"
expect EPERM in_unit connect 127.0.0.2 "$P"
pass "bad file: '$(cat "$TMP/err")', nothing changed"
echo "PASS: $TEST_NAME"
