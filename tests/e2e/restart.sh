#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fail static across agent restarts (issue 7): the package-upgrade path. The
# agent enforces a rule on gone.service and on stay.service; it is stopped
# (TERM, then in a second round KILL); gone.service's cgroup is removed (the
# unit stopped meanwhile); the agent must start again, keep enforcing on
# stay.service throughout, and take a new rule. Also: a second agent on the
# same pins or the same store is refused with a line naming the holder, and
# leaves the first one's enforcement alone.
. "$(dirname "$0")/lib.sh"
setup_kernel

GONE=$(make_cgroup gone.service)
STAY=$(make_cgroup stay.service)
PORT=48$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$PORT"
in_stay() { "$PROBE" --cgroup "$STAY" "$@"; }

"$CTL" --db "$DB" --no-wait rule add gone.service egress deny 127.0.0.2 >/dev/null
"$CTL" --db "$DB" --no-wait rule add stay.service egress deny 127.0.0.2 >/dev/null
start_agent
wait_for EPERM in_stay connect 127.0.0.2 "$PORT"
maybe_sabotage

for sig in TERM KILL; do
	wait_for EPERM "$PROBE" --cgroup "$GONE" connect 127.0.0.2 "$PORT"
	stop_agent $sig
	rmdir "$GONE"
	expect EPERM in_stay connect 127.0.0.2 "$PORT"
	start_agent
	expect EPERM in_stay connect 127.0.0.2 "$PORT"
	pass "SIG$sig, unit cgroup removed while the agent was down: the agent starts again"
	# The policy for gone.service is kept for its next start.
	GONE=$(make_cgroup gone.service)
done

id=$("$CTL" --db "$DB" rule add stay.service egress deny 127.0.0.3)
wait_for EPERM in_stay connect 127.0.0.3 "$PORT"
pass "the restarted agent applies a new rule"

# Pins of an older layout (here: the layout marker removed): the agent moves
# them aside, they keep enforcing until its own policy is in force, then go.
# A probe loop runs through it: no connect may pass.
stop_agent
unlink "$PIN"/maps/ug_layout_v*
( while [ ! -e "$TMP/stop" ]; do in_stay connect 127.0.0.3 "$PORT" || true; done >"$TMP/during" ) &
LOOP=$!
sleep 0.2
start_agent
grep -q "pinned maps are of an older layout: moved them aside" "$TMP/agent.log" ||
	fail "no migration: $(grep -v libbpf "$TMP/agent.log" | tail -n 5)"
for i in $(seq 40); do ls -d "$PIN"/old-* >/dev/null 2>&1 || break; sleep 0.05; done
ls -d "$PIN"/old-* >/dev/null 2>&1 && fail "the older generation is still pinned: $(ls "$PIN")"
sleep 0.3
touch "$TMP/stop"
wait $LOOP || true
total=$(wc -l <"$TMP/during")
leaks=$(grep -vc '^EPERM$' "$TMP/during" || true)
[ "$total" -gt 5 ] && [ "$leaks" = 0 ] || fail "migration: $leaks of $total connects got through"
[ "$(bpftool cgroup show "$STAY" | grep -c ug_connect4)" = 1 ] ||
	fail "after the migration: $(bpftool cgroup show "$STAY")"
pass "pins of an older layout: moved aside, enforcing until replaced ($total connects, all EPERM), then gone"

# An upgrade whose new LSM side cannot load (issue 21.5): the older
# generation's LSM links are all that enforces exec/file/family rules, and
# the new agent has nothing to replace them with, so they stay (frozen, said
# loudly) until an agent whose LSM side is in force, or --detach-all, lets
# them go. This host's kernel refuses LSM programs (shared/platform.md), so a
# real link stands in for an LSM one: the agent's connect4 link on stay.service,
# pinned where the LSM links live. It keeps judging stay.service while pinned.
stop_agent
# Denials made while no agent runs wait in the kernel: in the ring, as
# repeats counted in ug_agg, and past the unit's shares as its lost count.
# This upgrade's agent cannot read the older layout's records, so it has the
# older flush program send every count and counts them all as lost (issue
# 21.5: stored + pruned + lost = made across an upgrade). 20 distinct ports
# (a record each), then 6 000 sends over 3 000 ports: past the unit's 1 024
# records and 2 048 entries, so every one of the three places holds some.
lost() { sql "select ifnull(sum(count), 0) from lost_events"; }
lost_before=$(lost)
for p in $(seq 40001 40020); do
	[ "$(in_stay udp 127.0.0.3 "$p")" = EPERM ] || fail "udp to 127.0.0.3:$p was not denied"
done
flood=$(in_stay flood 127.0.0.3 50001 6000 3000)
[ "$flood" = "refused 6000" ] || fail "the flood was not all denied: $flood"
made=6020
standin=$(ls "$PIN"/links/*/ug_connect4 | head -n 1)
mkdir -p "$PIN/lsm-links"
mv "$standin" "$PIN/lsm-links/standin"
standin_id=$(bpftool -j link show pinned "$PIN/lsm-links/standin" | jq .id)
unlink "$PIN"/maps/ug_layout_v*
start_agent
grep -q "pinned maps are of an older layout: moved them aside" "$TMP/agent.log" ||
	fail "no second migration: $(grep -v libbpf "$TMP/agent.log" | tail -n 5)"
if grep -q "lsm: BPF LSM is unavailable" "$TMP/agent.log"; then
	# The migration is over once the older maps are gone.
	for i in $(seq 60); do ls -d "$PIN"/old-*/maps >/dev/null 2>&1 || break; sleep 0.05; done
	ls "$PIN"/old-*/lsm-links/standin >/dev/null 2>&1 ||
		fail "the older generation's LSM links were removed by an agent with no LSM side: $(ls "$PIN")"
	grep -q "older generation's LSM links .* are kept" "$TMP/agent.log" ||
		fail "the agent did not say that it keeps the older LSM links"
	bpftool link show id "$standin_id" >/dev/null 2>&1 || fail "the stand-in link is gone"
	[ "$(bpftool cgroup show "$STAY" | grep -c ug_connect4)" = 2 ] ||
		fail "the stand-in no longer judges stay.service: $(bpftool cgroup show "$STAY")"
	for l in "$PIN"/old-*/maps "$PIN"/old-*/links; do
		[ ! -e "$l" ] || fail "the older generation's $l should be gone (only its LSM links stay)"
	done
	wait_for $((lost_before + made)) lost
	pass "upgrade with no LSM side: the older LSM links stay pinned and attached, the rest goes; all $made denials it held (ring, aggregated, lost counts) are counted as lost"
	# A restart (still no LSM side) keeps them too; --detach-all (below) ends them.
	stop_agent
	start_agent
	ls "$PIN"/old-*/lsm-links/standin >/dev/null 2>&1 || fail "a restart removed the kept LSM links"
	pass "a restart with no LSM side keeps them"
	# The stand-in judges with the old maps: end it before the rules change.
	bpftool link detach pinned "$PIN"/old-*/lsm-links/standin
	rm -rf "$PIN"/old-*
else
	echo "note: this kernel loads BPF LSM programs: the keep-the-old-LSM-links case is not reachable here"
fi

# A second agent: refused, names the first, changes nothing.
out=$("$AGENT" --db "$TMP/other.db" --pin-dir "$PIN" 2>&1) && fail "a second agent on the same pins started"
grep -q "pin directory $PIN is in use by another unitguardd (pid $AGENT_PID)" <<<"$out" ||
	fail "second agent on the same pins: unexpected message: $out"
pass "second agent on the same pin directory refused: $(grep -o 'unitguardd: .*' <<<"$out" | head -n 1)"
out=$("$AGENT" --db "$DB" --pin-dir "$PIN-other" 2>&1) && fail "a second agent on the same store started"
grep -q "store $DB is in use by another unitguardd (pid $AGENT_PID)" <<<"$out" ||
	fail "second agent on the same store: unexpected message: $out"
[ ! -e "$PIN-other" ] || fail "the refused agent created $PIN-other"
pass "second agent on the same store refused"
expect EPERM in_stay connect 127.0.0.3 "$PORT"
"$CTL" --db "$DB" rule del "$id" >/dev/null
wait_for ok in_stay connect 127.0.0.3 "$PORT"
pass "the first agent still owns the policy"
echo "PASS: $TEST_NAME"
