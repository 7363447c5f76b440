#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Enforcement outlives the agent: after kill -9 a denied connect still fails;
# a restarted agent adopts the pinned links (exactly one program of each kind
# on the cgroup, now the new agent's) with no gap while it starts; rules added
# after the restart are enforced; --detach-all ends enforcement.
. "$(dirname "$0")/lib.sh"
setup_kernel

CG=$(make_cgroup demo.service)
PORT=48$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$PORT"
start_agent
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }

"$CTL" --db "$DB" rule add demo.service egress deny 127.0.0.2 >/dev/null
wait_for EPERM in_unit connect 127.0.0.2 "$PORT"
maybe_sabotage

# One line per attached program: "ID  attach_type  multi  name".
progs() { bpftool cgroup show "$CG" | awk 'NR > 1 { print $NF }' | sort | tr '\n' ' '; }
prog_ids() { bpftool cgroup show "$CG" | awk 'NR > 1 { print $1 }' | sort | tr '\n' ' '; }
WANT="ug_bind4 ug_bind6 ug_connect4 ug_connect6 ug_egress ug_ingress ug_sendmsg4 ug_sendmsg6 "
[ "$(progs)" = "$WANT" ] || fail "attached: '$(progs)', expected '$WANT'"
ids_before=$(prog_ids)

stop_agent KILL
expect EPERM in_unit connect 127.0.0.2 "$PORT"
expect EPERM in_unit udp 127.0.0.2 9
pass "kill -9: still enforced"

# Probe continuously while the agent restarts: no attempt may get through.
( while [ ! -e "$TMP/stop" ]; do in_unit connect 127.0.0.2 "$PORT" || true; done >"$TMP/during" ) &
LOOP=$!
sleep 0.2
start_agent
sleep 0.3
touch "$TMP/stop"
wait $LOOP || true
total=$(wc -l <"$TMP/during")
leaks=$(grep -vc '^EPERM$' "$TMP/during" || true)
[ "$total" -gt 5 ] || fail "the probe loop ran only $total times"
[ "$leaks" = 0 ] || fail "$leaks of $total connects got through during the restart"
pass "restart: $total connects during restart, all EPERM"

[ "$(progs)" = "$WANT" ] || fail "after restart attached: '$(progs)', expected '$WANT'"
ids_after=$(prog_ids)
[ "$ids_after" != "$ids_before" ] || fail "the restarted agent did not switch the links to its programs"
grep -q "adopted the programs attached to cgroup $(stat -c %i "$CG")" "$TMP/agent.log" ||
	fail "agent did not report adopting the links"
pass "restart: exactly one program of each kind, switched to the new agent's"

# The adopted state is live: a new rule and a deleted rule take effect.
id2=$("$CTL" --db "$DB" rule add demo.service egress deny 127.0.0.3)
wait_for EPERM in_unit connect 127.0.0.3 "$PORT"
"$CTL" --db "$DB" rule del "$id2"
wait_for ok in_unit connect 127.0.0.3 "$PORT"
expect EPERM in_unit connect 127.0.0.2 "$PORT"
[ "$(progs)" = "$WANT" ] || fail "after changes attached: '$(progs)'"
pass "restarted agent applies changes"

# Tries replaced after the restart do not pile up: once no program can read
# them (grace period + the 1 s cleanup), each owner (the running cgroup, and
# the policy kept by unit name for its next start) has its live trie and at
# most one standby (the next change rewrites only what differs in it). Trie
# ids: bytes 4-5 of the raw key. Before the restart there were two tries; the
# restart and two changes made five more.
trie_ids() { bpftool -j map dump pinned "$PIN/maps/ug_lpm" | jq -r '[.[] | .key[4] + .key[5]] | unique | .[]'; }
for i in $(seq 40); do
	n=$(trie_ids | wc -l)
	[ "$n" -le 4 ] && break
	sleep 0.1
done
[ "$n" -le 4 ] || fail "ug_lpm holds $n tries after the restart and two changes, expected at most 4"
live_unit=$(bpftool -j map dump pinned "$PIN/maps/ug_units" | jq -r '.[0].value[4] + .[0].value[5]')
trie_ids | grep -qx -- "$live_unit" || fail "the unit's live trie $live_unit is not in ug_lpm"
pass "stale tries from before the restart are deleted ($n tries left, the live one among them)"

# Only --detach-all ends enforcement, even with the agent running.
"$AGENT" --pin-dir "$PIN" --detach-all
expect ok in_unit connect 127.0.0.2 "$PORT"
[ -z "$(bpftool cgroup show "$CG")" ] || fail "programs left after --detach-all"
[ ! -e "$PIN" ] || fail "pins left after --detach-all"
pass "--detach-all: nothing attached, nothing pinned"
echo "PASS: $TEST_NAME"
