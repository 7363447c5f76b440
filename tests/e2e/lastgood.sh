#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A reboot is a fault like any other (issue 21, item 7): after a reboot
# nothing is pinned, and an agent that cannot read its store would enforce
# nothing. It enforces the last known good policy instead (the copy beside
# the store, written after each change it put in force), says so, and goes
# back to the store once it can be read. A reboot is played by removing every
# pin (--detach-all) while the agent is stopped.
#  1. The store is garbage (cannot even be opened).
#  2. The store is of a newer schema (opened, but not read).
#  3. Put right again: the store's policy (with a rule the copy did not
#     have) replaces the copy's, without a restart.
. "$(dirname "$0")/lib.sh"
setup_kernel

CG=$(make_cgroup lkg.slice/lkg-a.service)
P=55$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$P"
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }
reboot() { # stop the agent and remove every pin: nothing enforced
	stop_agent
	"$AGENT" --pin-dir "$PIN" --detach-all >/dev/null
	expect ok in_unit connect 127.0.0.2 "$P"
}

start_agent
ctl rule add lkg-a.service egress deny 127.0.0.2 >/dev/null
wait_for EPERM in_unit connect 127.0.0.2 "$P"
maybe_sabotage
expect EPERM in_unit connect 127.0.0.2 "$P"
# Written right after the acknowledgement: wait for it.
lkg_rules() { sqlite3 "$DB.lkg" "select count(*) from rules" 2>/dev/null || echo none; }
for _ in $(seq 60); do [ "$(lkg_rules)" = 1 ] && break; sleep 0.05; done
[ "$(lkg_rules)" = 1 ] || fail "the last known good copy beside the store holds $(lkg_rules) rules"
reboot
cp "$DB" "$TMP/good.db"

# 1. Garbage.
head -c 8192 /dev/urandom >"$DB"
rm -f "$DB-wal" "$DB-shm"
start_agent
expect EPERM in_unit connect 127.0.0.2 "$P"
grep -q "enforcing the last known good policy" "$TMP/agent.log" ||
	fail "the agent did not say it enforces the last known good policy"
pass "a store that cannot be opened at start: the last known good policy is enforced"

# 3. Put right, with one more rule: applied without a restart.
sqlite3 "$TMP/good.db" "insert into rules (unit_id, direction, action, prefix)
	select id, 'egress', 'deny', '127.0.0.3/32' from units where target = 'lkg-a.service'"
cp "$TMP/good.db" "$DB.new"
mv "$DB.new" "$DB"
wait_for EPERM in_unit connect 127.0.0.3 "$P"
expect EPERM in_unit connect 127.0.0.2 "$P"
grep -q "its policy replaces the last known good one" "$TMP/agent.log" ||
	fail "no word that the store is back"
pass "the store put right: its policy replaces the copy's, without a restart"

# 2. A store of a newer schema (another build's): opened, not read.
reboot
sqlite3 "$DB" "pragma user_version = 9999"
start_agent
expect EPERM in_unit connect 127.0.0.2 "$P"
expect EPERM in_unit connect 127.0.0.3 "$P"
pass "a store of a newer schema at start: the last known good policy (with the latest rule) is enforced"
sqlite3 "$DB" "pragma user_version = $(sqlite3 "$TMP/good.db" 'pragma user_version')"
echo "PASS: $TEST_NAME"
