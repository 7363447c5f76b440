#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The read commands as an unprivileged user (issue 10): on a copy of a store
# made readable to all (0644, its directory 0755), `nobody` can list, show,
# audit, report, export and diff against it, both when no process has the
# store open (no -wal or -shm: read as immutable) and while the agent runs
# (read through the agent's -shm, seeing the agent's and root's changes);
# nothing is created or changed beside the store; a write as `nobody` fails
# and changes nothing. A missing or empty store is a clear error and an empty
# file stays empty, also for root.
. "$(dirname "$0")/lib.sh"
setup_kernel
require_tools setpriv md5sum

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
id nobody >/dev/null 2>&1 || skip "needs the user nobody"
root_ctl() { "$CTL" --db "$DB" --no-wait "$@"; }

# A store made the usual way (mode 0600, by root), with a comment, settings
# and an audit row; then copied where anyone may read it.
root_ctl rule add demo.service egress deny 10.0.0.0/8 --comment "no private range" >/dev/null
root_ctl rule add demo.service exec deny /usr/bin/nc >/dev/null
root_ctl unit set web.slice --default-ingress deny >/dev/null
sql "insert into audit (time, time_us, unit, verdict, hook, address, port, rule_id)
	values ('2026-11-22T03:29:05.000000Z', 1795318145000000, 'demo.service', 'deny',
		'connect4', '10.1.2.3', 443, 1)"
[ ! -e "$DB-wal" ] || fail "test bug: the store is still open ($DB-wal)"
chmod 711 "$TMP"
RO=$TMP/ro
mkdir -m 755 "$RO"
cp "$DB" "$RO/ug.db"
chmod 644 "$RO/ug.db"
S=$RO/ug.db
as_nobody test -r "$S" || fail "test bug: nobody cannot read $S"
! as_nobody test -w "$RO" || fail "test bug: nobody may write $RO"
nobody_ctl() { as_nobody "$CTL" --db "$S" "$@"; }

# Missing and empty stores: a clear error, nothing created, an empty file
# stays empty (it once became a store when a read command opened it).
for who in as_nobody ""; do
	rc=0
	$who "$CTL" --db "$RO/none.db" rule list >/dev/null 2>"$TMP/err" || rc=$?
	[ "$rc" = 1 ] && grep -q "no store at $RO/none.db (unitguardd creates it on start)" "$TMP/err" ||
		fail "${who:-root}: rule list on a missing store: exit $rc: $(cat "$TMP/err")"
	[ ! -e "$RO/none.db" ] || fail "${who:-root}: rule list created a store"
	: >"$RO/empty.db"
	chmod 644 "$RO/empty.db"
	for cmd in "rule list" "unit list" "audit" "status" "export" "metrics" "rule del 1" \
		"unit del x.service"; do
		rc=0
		$who "$CTL" --db "$RO/empty.db" $cmd >/dev/null 2>"$TMP/err" || rc=$?
		[ "$rc" = 1 ] && grep -q "no store at $RO/empty.db: the file is empty" "$TMP/err" ||
			fail "${who:-root}: $cmd on an empty file: exit $rc: $(cat "$TMP/err")"
		[ ! -s "$RO/empty.db" ] || fail "${who:-root}: $cmd turned an empty file into a store"
	done
	[ "$(ls "$RO")" = "$(printf 'empty.db\nug.db')" ] || fail "${who:-root}: files made: $(ls "$RO")"
	rm "$RO/empty.db"
done
pass "a missing or empty store: exit 1, said so; nothing created, the empty file still empty (nobody and root)"

# No process has the store open: no -wal, no -shm, and nobody may not make
# them; read as immutable.
sum=$(md5sum <"$S")
reads() { # reads ROOT_DB: every read command as nobody on $S prints what root's does on ROOT_DB
	local cmd
	for cmd in "rule list" "rule list --json" "unit list" "unit show demo.service" "audit" \
		"audit --json" "audit --summary --json" "export"; do
		nobody_ctl $cmd >"$TMP/nobody.out" 2>&1 || fail "nobody: $cmd: exit $?: $(cat "$TMP/nobody.out")"
		"$CTL" --db "$1" $cmd >"$TMP/root.out" 2>&1 || fail "root: $cmd: exit $?: $(cat "$TMP/root.out")"
		cmp -s "$TMP/root.out" "$TMP/nobody.out" ||
			fail "nobody: $cmd differs from root's: $(diff "$TMP/root.out" "$TMP/nobody.out")"
	done
	nobody_ctl rule list | grep -q "10.0.0.0/8 .*no private range" || fail "nobody: rule list lacks the rule"
	nobody_ctl audit | grep -q "10.1.2.3" || fail "nobody: audit lacks the row"
	"$CTL" --db "$1" export >"$TMP/exported.yaml"
	nobody_ctl apply --diff "$TMP/exported.yaml" || fail "nobody: apply --diff: exit $?"
	nobody_ctl apply --check "$TMP/exported.yaml" >/dev/null || fail "nobody: apply --check: exit $?"
}
reads "$DB"
rc=0
nobody_ctl status >"$TMP/out" 2>&1 || rc=$?
[ "$rc" = 3 ] && grep -q "agent: NOT RUNNING (never ran on this store)" "$TMP/out" ||
	fail "nobody status without an agent: exit $rc: $(cat "$TMP/out")"
[ "$(ls "$RO")" = ug.db ] || fail "reading as nobody made files: $(ls "$RO")"
[ "$(md5sum <"$S")" = "$sum" ] || fail "reading as nobody changed the store"
pass "no process has the store open: nobody reads it all (rule/unit list, show, audit, summary, export, apply --diff/--check, status), nothing made or changed"

# A write as nobody: refused, one line, nothing changed.
rc=0
nobody_ctl --no-wait rule add demo.service egress deny 10.2.0.0/16 >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] && grep -q "cannot open the store $S" "$TMP/err" ||
	fail "rule add as nobody: exit $rc: $(cat "$TMP/err")"
[ "$(md5sum <"$S")" = "$sum" ] || fail "a refused write changed the store"
pass "a write as nobody: exit 1 ($(cat "$TMP/err")), store unchanged"

# The agent runs on it: its -wal and -shm take the store's mode, and nobody
# reads through them, seeing what root changes meanwhile.
DB=$S
start_agent
"$CTL" --db "$S" rule add demo.service egress deny 10.3.0.0/16 >/dev/null 2>&1 ||
	[ $? = 3 ] || fail "root rule add with the agent running failed"
[ -e "$S-shm" ] || fail "no $S-shm while the agent runs"
as_nobody test -r "$S-shm" || fail "test bug: nobody cannot read $S-shm"
nobody_ctl rule list | grep -q "10.3.0.0/16" || fail "nobody does not see root's new rule"
rc=0
nobody_ctl status >"$TMP/out" 2>&1 || rc=$?
grep -q "agent: running (pid $AGENT_PID" "$TMP/out" || fail "nobody status with the agent running: exit $rc: $(cat "$TMP/out")"
reads "$S"
pass "while the agent runs: nobody reads through its -shm and sees root's changes; status sees the agent"
echo "PASS: $TEST_NAME"
