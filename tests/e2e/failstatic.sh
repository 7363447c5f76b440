#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fail static (issue 7): errors never remove or weaken enforcement; only a
# fact does (rules deleted, cgroup gone). With a rule in force on demo.service:
#  - a second cgroup named demo.service appears (anyone who can mkdir in the
#    cgroup tree): the unit keeps its cgroup, also across an agent restart; a
#    delegated user's cgroup of that name does not count against root's;
#  - cgroups churn while the policy changes: no decision is lost;
#  - the store is replaced by garbage, has a newer schema, is locked by a
#    long transaction, or is read-only: the agent keeps enforcing and says
#    what is wrong; the CLI exits non-zero with one line and changes nothing;
#    once fixed, the agent catches up by itself.
. "$(dirname "$0")/lib.sh"
setup_kernel
require_tools python3

CG=$(make_cgroup demo.service)
PORT=48$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$PORT"
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }
# Every decision from now on, while the faults come and go: none may pass.
probe_loop() {
	while [ ! -e "$TMP/stop" ]; do in_unit connect 127.0.0.2 "$PORT" || true; done >"$TMP/during"
}
start_agent
ctl rule add demo.service egress deny 127.0.0.2 >/dev/null
maybe_sabotage
expect EPERM in_unit connect 127.0.0.2 "$PORT"
probe_loop &
LOOP=$!
BG_PIDS+=($LOOP)
state_of() { { ctl status --json || [ $? = 3 ]; } | jq -r --arg t "$1" '.units[] | select(.target == $t) | .reason'; }

# --- names are not identity -------------------------------------------------
# A second cgroup of the name where a unit's can be (root's, below a slice):
# ambiguous, the unit keeps the one it had. (One anywhere else is never the
# unit's: e2e/tenant.)
OTHER=$(make_cgroup ugx.slice/demo.service)
ctl rule add demo.service egress deny 127.0.0.3 >/dev/null # a pass with two names
expect EPERM in_unit connect 127.0.0.3 "$PORT"
expect ok "$PROBE" --cgroup "$OTHER" connect 127.0.0.9 "$PORT"
for _ in $(seq 100); do
	grep -q "several cgroups are named demo.service" <<<"$(state_of demo.service)" && break
	sleep 0.05
done
grep -q "several cgroups are named demo.service" <<<"$(state_of demo.service)" ||
	fail "status does not say the name is ambiguous: $(state_of demo.service)"
stop_agent
start_agent
expect EPERM in_unit connect 127.0.0.3 "$PORT"
ctl rule add demo.service egress deny 127.0.0.4 >/dev/null
expect EPERM in_unit connect 127.0.0.4 "$PORT"
pass "a second cgroup of the same name: the unit keeps its cgroup, across a restart too"
rmdir "$OTHER"
# A delegated user's cgroup of that name does not make the name ambiguous.
DELEG=$(make_cgroup ugdeleg)
chown nobody "$DELEG"
su nobody -s /bin/sh -c "mkdir $DELEG/demo.service" || fail "the delegated user cannot mkdir"
echo "$DELEG/demo.service" >>"$TMP/cgroups"
stop_agent
start_agent
ctl rule add demo.service egress deny 127.0.0.5 >/dev/null 2>"$TMP/err" ||
	fail "a delegated user's cgroup of the same name made the unit unresolvable: $(cat "$TMP/err")"
expect EPERM in_unit connect 127.0.0.5 "$PORT"
pass "a delegated user's cgroup named demo.service does not count against root's"

# --- churn ----------------------------------------------------------------------
( for i in $(seq 150); do
	mkdir -p "$CG_ROOT/ugchurn/c$i/d" && rmdir "$CG_ROOT/ugchurn/c$i/d" "$CG_ROOT/ugchurn/c$i"
done ) &
CHURN=$!
for i in $(seq 10); do
	id=$(ctl rule add demo.service egress deny 127.0.1.$i)
	expect EPERM in_unit connect 127.0.1."$i" "$PORT"
done
wait $CHURN
rmdir "$CG_ROOT/ugchurn" 2>/dev/null || true
pass "cgroups churning while the policy changes: every change in force"

# --- rows another program wrote ----------------------------------------------------
# One bad column of a units row keeps the last valid value of that column (it
# once reset every setting: default-egress deny became allow); a row whose
# target no longer parses keeps what that target had (it once removed it).
row_state() { sql "select state || ': ' || coalesce(reason, '') from status where target = '$1'"; }
ctl unit set demo.service --default-egress deny >/dev/null
expect EPERM in_unit connect 127.0.0.77 "$PORT"
# The store refuses such a value (a trigger) ...
sql "update units set harden = 'bpf,ptrace ' where target = 'demo.service'" 2>"$TMP/err" &&
	fail "the store took harden = 'bpf,ptrace '"
grep -q "harden must be a comma list" "$TMP/err" || fail "refused, but how: $(cat "$TMP/err")"
# ... but a writer that drops the trigger (or an older build's store) is not stopped by it.
sql "drop trigger units_harden_bu; update units set harden = 'bpf,ptrace ' where target = 'demo.service'"
for _ in $(seq 60); do grep -q "^partial: .*invalid settings" <<<"$(row_state demo.service)" && break; sleep 0.05; done
grep -q "^partial: .*invalid settings in the store (harden)" <<<"$(row_state demo.service)" ||
	fail "a bad harden column: $(row_state demo.service)"
expect EPERM in_unit connect 127.0.0.77 "$PORT"
expect EPERM in_unit connect 127.0.0.2 "$PORT"
pass "a units row with a bad harden column: default-egress deny stays, status says partial"
sql "update units set harden = '', target = 'demo.service ' where target = 'demo.service'"
for _ in $(seq 60); do grep -q "names no valid target" <<<"$(row_state demo.service)" && break; sleep 0.05; done
grep -q "^partial: .*names no valid target" <<<"$(row_state demo.service)" ||
	fail "a units row with a bad target: $(row_state demo.service)"
expect EPERM in_unit connect 127.0.0.77 "$PORT"
expect EPERM in_unit connect 127.0.0.2 "$PORT"
sql "update units set target = 'demo.service', default_egress = 'allow' where target = 'demo.service '"
wait_for ok in_unit connect 127.0.0.77 "$PORT"
for _ in $(seq 60); do grep -q "^enforced" <<<"$(row_state demo.service)" && break; sleep 0.05; done
grep -q "^enforced" <<<"$(row_state demo.service)" || fail "the row put right: $(row_state demo.service)"
expect EPERM in_unit connect 127.0.0.2 "$PORT"
pass "a units row whose target does not parse: the policy stays until the row is put right"

# --- store faults ------------------------------------------------------------------
# 1. A long transaction by another writer: the agent does not stall.
python3 -c "
import sqlite3, time
c = sqlite3.connect('$DB', isolation_level=None)
c.execute('BEGIN EXCLUSIVE')
open('$TMP/locked', 'w').close()
time.sleep(6)
c.execute('ROLLBACK')
" &
LOCKER=$!
for i in $(seq 50); do [ -e "$TMP/locked" ] && break; sleep 0.1; done
rc=0
ctl rule add demo.service egress deny 127.0.0.6 >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] || fail "rule add while the store is locked: exit $rc, expected 1"
[ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "database is locked" "$TMP/err" ||
	fail "locked store: $(cat "$TMP/err")"
expect EPERM in_unit connect 127.0.0.2 "$PORT"
wait $LOCKER
ctl rule add demo.service egress deny 127.0.0.6 >/dev/null
expect EPERM in_unit connect 127.0.0.6 "$PORT"
pass "a store locked by a long transaction: CLI fails with one line, enforcement holds, then catches up"

# 2. A newer schema: neither the agent nor the CLI guesses at it.
version=$(sql "PRAGMA user_version")
sql "PRAGMA user_version = 99"
rc=0
ctl rule add demo.service egress deny 127.0.0.7 >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] && grep -q "schema version 99 is newer than this build" "$TMP/err" ||
	fail "newer schema: exit $rc: $(cat "$TMP/err")"
sql "INSERT INTO rules (unit_id, direction, action, prefix) SELECT id, 'egress', 'deny', '127.0.0.7/32' FROM units WHERE target = 'demo.service'"
for i in $(seq 40); do grep -q "schema version 99 is newer" "$TMP/agent.log" && break; sleep 0.05; done
grep -q "cannot read the store .*schema version 99 is newer than this build" "$TMP/agent.log" ||
	fail "the agent does not say the schema is newer"
expect ok in_unit connect 127.0.0.7 "$PORT"
expect EPERM in_unit connect 127.0.0.2 "$PORT"
sql "PRAGMA user_version = $version"
wait_for EPERM in_unit connect 127.0.0.7 "$PORT"
pass "a newer schema: not read (the policy in force stays), CLI refuses; back to 5: caught up"

# 3. Garbage in place of the store: the agent keeps enforcing, says so; the
# CLI fails with one line and writes nothing; the store back: caught up.
# The database and its WAL move together: a WAL left beside garbage would
# still serve the old pages (sqlite checks a WAL against itself, not the file).
sql "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
mkdir "$TMP/saved"
mv "$DB" "$DB-wal" "$DB-shm" "$TMP/saved/"
head -c 65536 /dev/urandom >"$DB"
garbage=$(md5sum <"$DB")
for i in $(seq 60); do grep -q "was replaced and cannot be opened" "$TMP/agent.log" && break; sleep 0.05; done
grep -q "was replaced and cannot be opened" "$TMP/agent.log" || fail "the agent did not notice the garbage"
rc=0
ctl rule add demo.service egress deny 127.0.0.8 >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] || fail "garbage store: exit $rc: $(cat "$TMP/err")"
[ "$(md5sum <"$DB")" = "$garbage" ] || fail "the CLI wrote to a file that is not a store"
expect EPERM in_unit connect 127.0.0.2 "$PORT"
rm -f "$DB-wal" "$DB-shm"
mv "$TMP"/saved/* "$(dirname "$DB")/"
ctl rule add demo.service egress deny 127.0.0.8 >/dev/null 2>"$TMP/err" ||
	fail "the store restored, rule add: $(cat "$TMP/err")"
expect EPERM in_unit connect 127.0.0.8 "$PORT"
pass "garbage in place of the store: enforcement holds, CLI refuses, restored: caught up"

touch "$TMP/stop"
wait $LOOP || true
total=$(wc -l <"$TMP/during")
leaks=$(grep -vc '^EPERM$' "$TMP/during" || true)
[ "$total" -gt 20 ] || fail "the probe loop ran only $total times"
[ "$leaks" = 0 ] || fail "$leaks of $total connects to a denied address got through during the faults"
pass "$total connects during every fault above, all EPERM"
echo "PASS: $TEST_NAME"
