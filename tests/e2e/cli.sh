#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The CLI contract against a real store, read back with the sqlite3 CLI:
# good input round-trips; bad input exits 2 with one line on stderr naming
# the bad field and leaves the store byte-for-byte as it was (compared as a
# full SQL dump). Needs no root and no BPF.
. "$(dirname "$0")/lib.sh"
require_tools sqlite3 jq

# No agent runs here: writes do not wait for one (e2e/inforce tests that).
ctl() { "$CTL" --db "$DB" --no-wait "$@"; }

# Reading a store that does not exist is an error, and creates nothing.
if ctl rule list >/dev/null 2>"$TMP/err"; then fail "rule list on a missing store succeeded"; fi
grep -q "no store at" "$TMP/err" || fail "unclear error: $(cat "$TMP/err")"
[ ! -e "$DB" ] || fail "rule list created the store"
pass "missing store: clear error, nothing created"

# Without --no-wait, a write with no agent running is written but reported
# NOT in force: exit 3, one line naming the lock nobody holds.
rc=0
id0=$("$CTL" --db "$DB" rule add demo.service egress deny 10.9.0.0/16 2>"$TMP/err") || rc=$?
[ "$rc" = 3 ] || fail "rule add without an agent: exit $rc, expected 3"
grep -q "written to the store, but NOT in force: unitguardd is not running" "$TMP/err" ||
	fail "rule add without an agent: $(cat "$TMP/err")"
[ "$id0" = 1 ] || fail "rule add without an agent did not print the id: '$id0'"
ctl rule del "$id0"
sqlite3 "$DB" "delete from units; delete from sqlite_sequence"
pass "a write with no agent: written, exit 3, says the agent is not running"

id1=$(ctl rule add demo.service egress deny 10.0.0.0/8)
id2=$(ctl rule add demo.service egress allow 10.1.0.0/16)
id3=$(ctl rule add web.slice ingress deny 2001:db8::/32)
id4=$(ctl rule add /system.slice/x.service egress deny 192.0.2.1)
id5=$(ctl rule add foo@1.service egress deny ::1)
[ "$id1" = 1 ] && [ "$id2" = 2 ] && [ "$id5" = 5 ] || fail "ids: $id1 $id2 $id3 $id4 $id5"
pass "rule add prints ids 1..5"

[ "$(sqlite3 "$DB" "select prefix from rules where id=$id4")" = 192.0.2.1/32 ] ||
	fail "bare address not stored as /32"
[ "$(sqlite3 "$DB" "select prefix from rules where id=$id5")" = ::1/128 ] ||
	fail "bare IPv6 address not stored as /128"
[ "$(sqlite3 "$DB" "select u.target from rules r join units u on u.id=r.unit_id where r.id=$id3")" = web.slice ] ||
	fail "target not stored"
pass "store holds canonical prefixes and targets"

json=$(ctl rule list demo.service --json)
[ "$(jq length <<<"$json")" = 2 ] || fail "rule list demo.service --json: $json"
[ "$(jq -r '.[1].prefix' <<<"$json")" = 10.1.0.0/16 ] || fail "json prefix: $json"
[ "$(jq -r '.[0].action' <<<"$json")" = deny ] || fail "json action: $json"
[ "$(ctl rule list --json | jq length)" = 5 ] || fail "rule list --json: not 5 rules"
ctl rule list | grep -q "web.slice" || fail "rule list table lacks web.slice"
# --json before the command: the same output; refused by a command without JSON.
[ "$(ctl --json rule list demo.service)" = "$json" ] || fail "--json rule list: $(ctl --json rule list demo.service)"
rc=0
ctl --json rule del 999999 >/dev/null 2>"$TMP/err" || rc=$?
[ $rc = 2 ] && grep -q "no JSON output" "$TMP/err" || fail "--json rule del: exit $rc: $(cat "$TMP/err")"
pass "rule list, table and --json (also before the command)"

# Bad input: exit 2, one line naming the field, the store unchanged.
before=$(sqlite3 "$DB" .dump)
bad() { # bad FIELD ARGS...
	local field=$1 rc=0
	shift
	ctl "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	[ $rc = 2 ] || fail "'$*' exited $rc, expected 2"
	[ "$(wc -l <"$TMP/err")" = 1 ] || fail "'$*' printed $(wc -l <"$TMP/err") lines on stderr"
	grep -q "$field" "$TMP/err" || fail "'$*': error does not name $field: $(cat "$TMP/err")"
	[ ! -s "$TMP/out" ] || fail "'$*' printed on stdout: $(cat "$TMP/out")"
	[ "$(sqlite3 "$DB" .dump)" = "$before" ] || fail "'$*' changed the store"
	pass "rejected ($field): $*"
}
bad PREFIX rule add demo.service egress deny 10.0.0.0/33
bad PREFIX rule add demo.service egress deny 10.0.0.1/8
bad PREFIX rule add demo.service egress deny 300.1.1.1
bad PREFIX rule add demo.service egress deny ::/129
bad PREFIX rule add demo.service egress deny 10.0.0.0/-1
bad PREFIX rule add demo.service egress deny "10.0.0.0/8 "
bad PREFIX rule add demo.service egress deny ""
bad PREFIX rule add demo.service egress deny example.com
bad DIRECTION rule add demo.service sideways deny 10.0.0.0/8
bad ACTION rule add demo.service egress maybe 10.0.0.0/8
bad TARGET rule add demo egress deny 10.0.0.0/8
bad TARGET rule add relative/path egress deny 10.0.0.0/8
bad TARGET rule add /a/../b egress deny 10.0.0.0/8
bad TARGET rule add "demo.service;rm" egress deny 10.0.0.0/8
bad TARGET rule add foo@.service egress deny 10.0.0.0/8
bad TARGET rule list nothing
bad TARGET audit --unit "bad unit"
bad ID rule del 999
bad ID rule del abc
bad ID rule del -- -1
bad ID rule del 0
bad "rule add" rule add demo.service egress deny
bad "unknown command" frobnicate
bad "unknown option" rule list --frob
# One validator for comments, whatever the way in (issue 14).
bad "comment" rule add demo.service egress deny 10.0.0.0/8 --comment $'two\nlines'
bad "comment" rule add demo.service egress deny 10.0.0.0/8 --comment $'\e[31mred'
bad "comment" rule add demo.service exec deny /usr/bin/x --comment "$(printf 'x%.0s' $(seq 1025))"
printf 'version: 1\nunits:\n  - target: demo.service\n    rules:\n      - {direction: egress, action: deny, prefix: 10.0.0.0/8, comment: "a\\u001bb"}\n' >"$TMP/esc.yaml"
bad "line 5: invalid comment" apply "$TMP/esc.yaml"
mkdir "$TMP/adir"
bad "Is a directory" apply "$TMP/adir"
truncate -s $((16 * 1024 * 1024 + 1)) "$TMP/big.yaml"
bad "File too large" apply "$TMP/big.yaml"

# What a file needs of the kernel's maps is counted before anything is
# written (issue 12): 1 000 rules on a slice, inherited by 40 services below
# it with one rule each, make 41 tries of 1 000 + 40 x 1 001 entries.
awk 'BEGIN {
	print "version: 1\nunits:\n  - target: /ugcap.slice\n    rules:"
	for (i = 0; i < 1000; i++)
		printf "      - {direction: egress, action: deny, prefix: 10.0.%d.%d/32}\n",
			int(i / 256), i % 256
	for (k = 0; k < 40; k++)
		printf "  - target: /ugcap.slice/u%d.service\n    rules:\n" \
			"      - {direction: egress, action: allow, prefix: 192.168.%d.0/24}\n", k, k
}' >"$TMP/cap.yaml"
ctl apply --check "$TMP/cap.yaml" >"$TMP/out" || fail "apply --check of a file that fits failed"
grep -q "needs 41 policy cgroups with network policy (ug_units holds 4096), 41 distinct tries with 41040 entries in all (ug_lpm: 0 in use of 4194304; no agent has reported its maps)" "$TMP/out" ||
	fail "apply --check: $(cat "$TMP/out")"
grep -q "fits: 41 units, 1040 rules (--check: nothing written)" "$TMP/out" ||
	fail "apply --check: $(cat "$TMP/out")"
[ "$(sqlite3 "$DB" .dump)" = "$before" ] || fail "apply --check changed the store"
# The same file beside a policy in force that leaves fewer free entries
# than it needs is refused whole, by --check and by apply. The agent's
# report of its maps is written here as the agent writes it, standing in
# for an agent holding 4.16 M entries (filling them for real takes minutes
# under ASan); the row is removed after.
sqlite3 "$DB" "insert into agent_state (key, value) values ('maps', 'ug_lpm 4160000/4194304, ug_lists 0/65536, ug_units 40/4096, 40 tries')"
before=$(sqlite3 "$DB" .dump)
bad "does not fit, nothing changed: needs 41 policy cgroups .* 41040 entries in all (ug_lpm: 4160000 in use of 4194304, as the agent reports)" \
	apply --check "$TMP/cap.yaml"
bad "does not fit, nothing changed" apply "$TMP/cap.yaml"
sqlite3 "$DB" "delete from agent_state where key = 'maps'"
before=$(sqlite3 "$DB" .dump)
pass "apply --check: counts inherited tries, refuses what does not fit beside the policy in force, writes nothing"

# apply --diff (issue 10): what apply would change, nothing written; exit 0
# when nothing would, 1 when something would, 2 for a bad file (like diff).
ctl export "$TMP/cur.yaml"
ctl apply --diff "$TMP/cur.yaml" >"$TMP/out" || fail "apply --diff of the store's own policy: exit $?"
[ ! -s "$TMP/out" ] || fail "apply --diff of the store's own policy printed: $(cat "$TMP/out")"
sed 's|prefix: 10.0.0.0/8$|prefix: 10.0.0.0/9|' "$TMP/cur.yaml" >"$TMP/new.yaml"
printf -- '- target: new.slice\n  default-egress: deny\n  rules:\n  - {direction: family, action: deny, family: packet, comment: "no raw"}\n' >>"$TMP/new.yaml"
rc=0
ctl apply --diff "$TMP/new.yaml" >"$TMP/out" || rc=$?
[ "$rc" = 1 ] || fail "apply --diff of a changed file: exit $rc, expected 1"
cat >"$TMP/want" <<EOF
- rule $id1 demo.service egress deny 10.0.0.0/8
+ rule demo.service egress deny 10.0.0.0/9
+ unit new.slice
+ unit new.slice: default-egress deny
+ rule new.slice family deny packet --comment "no raw"
EOF
diff -u "$TMP/want" "$TMP/out" || fail "apply --diff of a changed file printed the above"
[ "$(sqlite3 "$DB" .dump)" = "$before" ] || fail "apply --diff changed the store"
printf 'version: 1\nunits:\n  - target: demo.service\n    rules:\n      - {direction: egress, action: deny, prefix: 10.0.0.0/33}\n' >"$TMP/bad5.yaml"
bad "line 5: invalid prefix" apply --diff "$TMP/bad5.yaml"
bad "exclude each other" apply --diff --check "$TMP/new.yaml"
rc=0
"$CTL" --db "$TMP/none.db" apply --diff "$TMP/new.yaml" >"$TMP/out" || rc=$?
[ "$rc" = 1 ] && grep -q "^+ rule demo.service egress deny 10.0.0.0/9$" "$TMP/out" ||
	fail "apply --diff without a store: exit $rc: $(cat "$TMP/out")"
[ ! -e "$TMP/none.db" ] || fail "apply --diff created a store"
pass "apply --diff: nothing for the store's own policy (exit 0), each change for another (exit 1), exit 2 for a bad file, nothing written"

# rule del removes exactly that rule.
ctl rule del "$id2"
[ "$(ctl rule list --json | jq length)" = 4 ] || fail "rule del did not remove one rule"
[ "$(sqlite3 "$DB" "select count(*) from rules where id=$id2")" = 0 ] || fail "rule $id2 still stored"
[ "$(ctl rule add demo.service egress deny 10.9.0.0/16)" = 6 ] || fail "rule id reused"
pass "rule del; ids are not reused"

# Text written around the CLI (a raw sqlite3 session; the agent's audit rows
# carry what processes chose: comm, paths) is printed escaped (issue 10): C
# escapes, never the raw control character, one line per row; JSON carries
# it as it is, escaped by JSON itself.
sqlite3 "$DB" "update rules set comment = char(27) || '[2Jgone' || char(10) || 'forged line' where id = $id1;
	insert into units (target) values ('ev' || char(27) || '[31mil.service');
	insert into audit (time, time_us, unit, verdict, hook, path, comm, detail)
		values ('2026-11-22T03:29:05.000000Z', 1795318145000000, 'demo.service', 'deny',
			'file_open', '/tmp/a' || char(10) || 'b', 'x' || char(27) || ']0;t' || char(7), NULL);
	insert into status (target, state, reason, enforced, updated_at)
		values ('demo.service', 'refused', 'bad' || char(27) || '[2J', 0, 'now')"
noraw() { # noraw WHAT: stdin has no ESC, BEL or CR, and WANT lines
	local out
	out=$(cat)
	! grep -q $'[\e\a\r]' <<<"$out" || fail "$1 printed a raw control character: $(cat -A <<<"$out")"
	printf '%s\n' "$out"
}
out=$(ctl rule list | noraw "rule list")
grep -F '\x1b[2Jgone\nforged line' <<<"$out" | grep -qE "^ *$id1 +demo\.service +egress +deny +10\.0\.0\.0/8 " ||
	fail "rule list: the comment not escaped: $out"
! grep -q "^forged line" <<<"$out" || fail "rule list: a comment started a line"
out=$(ctl unit show demo.service | noraw "unit show")
grep -qF '\x1b[2Jgone\nforged line' <<<"$out" || fail "unit show: comment not escaped"
out=$(ctl unit list | noraw "unit list")
grep -qF 'ev\x1b[31mil.service' <<<"$out" || fail "unit list: target not escaped"
out=$(ctl audit | noraw audit)
grep -qF '/tmp/a\nb' <<<"$out" && grep -qF 'x\x1b]0;t\x07' <<<"$out" || fail "audit: path or comm not escaped: $out"
[ "$(grep -c . <<<"$out")" = 2 ] || fail "audit: a row took more than one line: $out"
out=$(ctl audit --summary | noraw "audit --summary")
grep -qF '/tmp/a\nb' <<<"$out" || fail "audit --summary: path not escaped"
out=$({ ctl status 2>/dev/null || true; } | noraw status)
grep -qF 'bad\x1b[2J' <<<"$out" || fail "status: reason not escaped"
ctl rule list --json | grep -qF '\u001b[2Jgone\nforged line' || fail "rule list --json: $(ctl rule list --json)"
[ "$(ctl rule list --json | jq -r ".[] | select(.id == $id1) | .comment")" = $'\e[2Jgone\nforged line' ] ||
	fail "rule list --json does not carry the comment as it is"
sqlite3 "$DB" "update rules set comment = NULL where id = $id1; delete from units where target like 'ev%';
	delete from audit; delete from status"
pass "stored control characters are printed escaped (rule list, unit show/list, audit, summary, status); JSON carries them JSON-escaped"

# audit on an empty table: a header, no rows; --json: an empty array.
[ "$(ctl audit --json | jq length)" = 0 ] || fail "audit --json on empty table"

# unit list / show / del (issue 10).
ctl unit set demo.service --default-egress deny >/dev/null
list=$(ctl unit list --json)
[ "$(jq -r '.[] | select(.target == "demo.service") | .default_egress' <<<"$list")" = deny ] &&
	[ "$(jq -r '.[] | select(.target == "demo.service") | .rules' <<<"$list")" = \
		"$(sqlite3 "$DB" "select count(*) from rules r join units u on u.id = r.unit_id where u.target = 'demo.service'")" ] ||
	fail "unit list --json: $list"
ctl unit list | grep -q "^web.slice " || fail "unit list does not list web.slice"
show=$(ctl unit show demo.service --json)
[ "$(jq -r .target <<<"$show")" = demo.service ] && [ "$(jq '.rule_list | length' <<<"$show")" = "$(jq -r .rules <<<"$show")" ] ||
	fail "unit show --json: $show"
ctl unit show demo.service | grep -q "10.0.0.0/8" || fail "unit show does not list the unit's rules"
before=$(sqlite3 "$DB" .dump)
rc=0
ctl unit show nosuch.service >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 2 ] && grep -q "no unit 'nosuch.service'" "$TMP/err" || fail "unit show of a missing unit: exit $rc: $(cat "$TMP/err")"
rc=0
ctl unit del nosuch.service 2>"$TMP/err" || rc=$?
[ "$rc" = 2 ] && grep -q "no unit 'nosuch.service'" "$TMP/err" || fail "unit del of a missing unit: exit $rc: $(cat "$TMP/err")"
[ "$(sqlite3 "$DB" .dump)" = "$before" ] || fail "a refused unit del changed the store"
v0=$(sqlite3 "$DB" "select value from meta where key = 'policy_version'")
ctl unit del web.slice
[ "$(sqlite3 "$DB" "select count(*) from units where target = 'web.slice'")" = 0 ] &&
	[ "$(sqlite3 "$DB" "select count(*) from rules where id = $id3")" = 0 ] || fail "unit del left the unit or its rules"
[ "$(sqlite3 "$DB" "select value from meta where key = 'policy_version'")" -gt "$v0" ] || fail "unit del did not bump policy_version"
pass "unit list/show/del: settings and rule counts, exit 2 for a missing unit, the unit and its rules deleted"

# Per-command --help, --version; systemd's spelling of families.
ctl rule add --help | grep -q "rule add TARGET family deny FAMILY" || fail "rule add --help"
ctl audit --help | grep -q -- "--since TIME" || fail "audit --help"
! ctl audit --help | grep -q "rule add" || fail "audit --help shows other commands"
"$CTL" --version | grep -Eq "^unitguardctl [0-9]+\.[0-9]+\.[0-9]+$" || fail "unitguardctl --version"
"$AGENT" --version | grep -Eq "^unitguardd [0-9]+\.[0-9]+\.[0-9]+$" || fail "unitguardd --version"
ctl rule add demo.service family deny AF_PACKET >/dev/null
[ "$(sqlite3 "$DB" "select prefix from rules where direction = 'family' order by id desc limit 1")" = packet ] ||
	fail "family AF_PACKET not stored as packet"
pass "per-command --help, --version, family AF_PACKET stored as packet"

# --wait is the default said explicitly: after --no-wait, it waits again.
rc=0
ctl rule add demo.service egress deny 10.8.0.0/16 --wait >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 3 ] && grep -q "NOT in force: unitguardd is not running" "$TMP/err" ||
	fail "--wait after --no-wait: exit $rc: $(cat "$TMP/err")"
ctl rule del "$(sqlite3 "$DB" "select id from rules where prefix = '10.8.0.0/16'")"
pass "--wait after --no-wait waits (no agent: exit 3, the reason said)"

# Tables size their columns to the content (issue 10): a target longer than
# any fixed width still leaves the next column where its header is, on
# every row.
aligned() { # aligned WHAT COLUMN: stdin's rows start COLUMN where its header does
	awk -v col="$2" 'NR == 1 { i = index($0, " " col " ") + 1; if (i == 1) exit 2; next }
		/^    / || !NF { next } # status: the lines under a row
		substr($0, i - 1, 1) != " " || substr($0, i, 1) == " " { bad = 1 }
		END { exit bad }' || fail "$1: $2 not aligned: $(cat -A "$TMP/table")"
}
long=/a-very-long-cgroup-path.slice/with-a-long-service-name.service
ctl rule add "$long" egress deny 10.7.0.0/16 >/dev/null
sqlite3 "$DB" "insert into status (target, state, reason, enforced, updated_at) values ('$long', 'waiting', 'not running', 0, 'now')"
ctl rule list >"$TMP/table"
aligned "rule list" DIR <"$TMP/table"
# TARGET is as wide as the longest target, and one space apart from DIR.
[ "$(awk 'NR == 1 { print index($0, " DIR ") - index($0, "TARGET") }' "$TMP/table")" = "${#long}" ] ||
	fail "rule list: TARGET is not as wide as its content: $(head -n 1 "$TMP/table")"
ctl unit list >"$TMP/table"
aligned "unit list" MODE <"$TMP/table"
ctl unit show "$long" | sed '/^$/,$d' >"$TMP/table"
aligned "unit show" MODE <"$TMP/table"
{ ctl status || true; } | sed -n '/^TARGET /,/^$/p' >"$TMP/table"
grep -q "^$long " "$TMP/table" || fail "status lacks the long target: $(cat "$TMP/table")"
aligned status MODE <"$TMP/table"
aligned status NOTE <"$TMP/table"
sqlite3 "$DB" "delete from status"
pass "rule list, unit list/show and status size their columns to the content (a ${#long}-character target)"
echo "PASS: $TEST_NAME"
