#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The agent's view of the cgroup tree under faults (issue 21): failing to see
# is not absence.
#  1. The agent runs out of descriptors (RLIMIT_NOFILE, tightened on the
#     running agent) while a mkdir/rmdir storm overflows its inotify queue:
#     the walk that follows cannot read the tree. The unit keeps its policy
#     (no connect passes, nothing is detached), status says what could not be
#     read, and once descriptors are back the agent catches up by itself.
#  2. A directory the agent could not watch (root's inotify watches used up:
#     fs.inotify.max_user_watches) is said in status, polled meanwhile, and
#     watched once it can be: a unit made below it later is found.
#  3. A delegated user's subtree costs root no watches and its storms cost
#     the agent no walks; its cgroups are still judged by the policy above.
# And the agent raises its soft descriptor limit to the hard one at start.
# The inotify sysctls are lowered for moments and restored at exit.
. "$(dirname "$0")/lib.sh"
setup_kernel
require_tools prlimit setpriv

INO=/proc/sys/fs/inotify
queued=$(cat $INO/max_queued_events)
watches=$(cat $INO/max_user_watches)
EXIT_HOOKS+=("echo $queued >$INO/max_queued_events" "echo $watches >$INO/max_user_watches")

SLICE=$(make_cgroup ugt.slice)
CG=$(make_cgroup ugt.slice/ugtdemo.service)
PORT=47$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$PORT"
in_cg() { local cg=$1; shift; "$PROBE" --cgroup "$cg" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }
# The agent's "cgroups" status line (empty when it sees the whole tree).
cgroups_state() {
	local j
	j=$(ctl status --json) || [ $? = 3 ] || fail "status: exit $?"
	jq -re '.cgroups // ""' <<<"$j" || fail "status: not JSON: $j"
}
# unit_state TARGET: "enforced CGROUP" while it is placed and in force.
unit_state() {
	{ ctl status --json || [ $? = 3 ]; } |
		jq -r --arg t "$1" '.units[] | select(.target == $t) |
			"\(if .enforced then "enforced" else "NOT enforced" end) \(.cgroup)"'
}
links() { find "$PIN/links" -mindepth 1 | sort; }
# inotify watches the agent holds (all its inotify descriptors).
agent_watches() { cat /proc/"$AGENT_PID"/fdinfo/* 2>/dev/null | grep -c '^inotify wd:' || true; }
# watched DIR: the agent holds an inotify watch on DIR.
# (grep reads the files itself: grep -q at the end of a pipe would end it
# early, and pipefail would count the writer's SIGPIPE as a failure.)
watched() {
	grep -qs "^inotify wd:.* ino:$(printf %x "$(stat -c %i "$1")") " /proc/"$AGENT_PID"/fdinfo/*
}
lost_walks() { grep -c "inotify events were lost" "$TMP/agent.log" || true; }
cgroups_clear() { local s; s=$(cgroups_state) && [ -z "$s" ]; }
cgroups_say() { local s; s=$(cgroups_state) && grep -q "$1" <<<"$s"; }
walked_since() { [ "$(lost_walks)" -gt "$1" ]; }

# The agent's inotify queue holds 64 events: the limit is read when the queue
# is made, so it is lowered for the agent's start only.
# And it starts with a soft descriptor limit of 512, which it raises to the
# hard one.
echo 64 >$INO/max_queued_events
ulimit -Sn 512
start_agent
ulimit -Sn "$(ulimit -Hn)"
echo "$queued" >$INO/max_queued_events
hard=$(prlimit --pid "$AGENT_PID" --nofile --raw --noheadings -o HARD)
soft=$(prlimit --pid "$AGENT_PID" --nofile --raw --noheadings -o SOFT)
[ "$soft" = "$hard" ] || fail "the agent's descriptor limit is $soft (hard: $hard)"
ctl rule add ugtdemo.service egress deny 127.0.0.2 >/dev/null
maybe_sabotage
expect EPERM in_cg "$CG" connect 127.0.0.2 "$PORT"
[ "$(unit_state ugtdemo.service)" = "enforced $CG" ] || fail "ugtdemo.service: $(unit_state ugtdemo.service)"
before=$(links)
[ -n "$before" ] || fail "no link pinned"

# --- 1. no descriptors left while events are lost -----------------------------
# The lowest free descriptor number becomes the limit: the agent can open
# nothing more (opendir fails with EMFILE), everything it has stays open.
free=0
while [ -e /proc/"$AGENT_PID"/fd/$free ]; do free=$((free + 1)); done
walks=$(lost_walks)
kill -STOP "$AGENT_PID"
prlimit --pid "$AGENT_PID" --nofile="$free:$hard"
for i in $(seq 100); do mkdir "$SLICE/storm" && rmdir "$SLICE/storm"; done
kill -CONT "$AGENT_PID"
wait_until 10 walked_since "$walks" || fail "the storm did not overflow the agent's queue"
pass "a storm overflowed the agent's inotify queue while it had no descriptor left"
# The pass the walk would trigger has had time to run.
sleep 1.5
expect EPERM in_cg "$CG" connect 127.0.0.2 "$PORT"
[ "$(links)" = "$before" ] || fail "links changed while the tree could not be read: $(links)"
[ "$(unit_state ugtdemo.service)" = "enforced $CG" ] ||
	fail "ugtdemo.service is $(unit_state ugtdemo.service) after an unreadable walk"
state=$(cgroups_state)
grep -q "could not be read.*Too many open files" <<<"$state" ||
	fail "status does not say the tree could not be read: '$state'"
pass "an unreadable tree is unknown, not gone: policy and links kept; status: $state"
# A unit made meanwhile is found once the agent can read again.
LATE=$(make_cgroup ugt.slice/ugtlate.service)
prlimit --pid "$AGENT_PID" --nofile="$hard:$hard"
wait_until 5 cgroups_clear || fail "status still says: $(cgroups_state)"
ctl rule add ugtlate.service egress deny 127.0.0.3 >/dev/null
expect EPERM in_cg "$LATE" connect 127.0.0.3 "$PORT"
expect EPERM in_cg "$CG" connect 127.0.0.2 "$PORT"
pass "descriptors back: caught up by itself (a unit made meanwhile enforced, status clear)"

# --- 2. a directory that could not be watched ------------------------------------
# Root may add no more watches while the limit is 1 (watches held stay).
echo 1 >$INO/max_user_watches
W=$(make_cgroup ugt.slice/ugtw.slice) # units are placed below slices only
wait_until 3 cgroups_say "not watched" ||
	{ echo "$watches" >$INO/max_user_watches; fail "status does not say ugtw is not watched: '$(cgroups_state)'"; }
state=$(cgroups_state)
! watched "$W" || fail "ugtw is watched while root may add no watch"
watched "$SLICE" || fail "the agent does not watch ugt.slice"
pass "an unwatched directory is said in status: $state"
# Polled meanwhile: a unit made below it is found without a watch.
HIDDEN=$(make_cgroup ugt.slice/ugtw.slice/ugthid.service)
ctl rule add ugthid.service egress deny 127.0.0.4 >/dev/null || true
wait_for EPERM in_cg "$HIDDEN" connect 127.0.0.4 "$PORT"
echo "$watches" >$INO/max_user_watches
pass "a unit made below an unwatched directory is found (polled)"
wait_until 3 cgroups_clear || fail "status still says: $(cgroups_state)"
watched "$W" || fail "ugtw is not watched once it can be: $(printf %x "$(stat -c %i "$W")") not in
$(grep -h '^inotify' /proc/"$AGENT_PID"/fdinfo/*)"
# Watched now: a unit made below it is seen at once (no walk needed).
LATER=$(make_cgroup ugt.slice/ugtw.slice/ugtlater.service)
ctl rule add ugtlater.service egress deny 127.0.0.5 >/dev/null || true
wait_for EPERM in_cg "$LATER" connect 127.0.0.5 "$PORT"
pass "the watch is retried until it holds: units below it are found"

# --- 3. delegated subtrees ------------------------------------------------------------
# A unit with Delegate=yes and User=: its cgroup is its user's. The policy is
# on it (by path); what the user makes below it is judged by it, with no
# watch of root's spent on it and no walk the user can force.
D=$(make_cgroup ugt.slice/ugtdel.service)
chown nobody "$D"
ctl rule add /ugt.slice/ugtdel.service egress deny 127.0.0.6 >/dev/null
expect EPERM in_cg "$D" connect 127.0.0.6 "$PORT"
w0=$(agent_watches)
walks=$(lost_walks)
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
as_nobody sh -c "for i in \$(seq 100); do mkdir -p $D/c\$i/n; done" || fail "the delegated user cannot mkdir"
for i in $(seq 100); do echo "$D/c$i" "$D/c$i/n"; done | tr ' ' '\n' >>"$TMP/cgroups"
sleep 0.5
w1=$(agent_watches)
[ "$w1" -le "$w0" ] || fail "200 cgroups of a delegated user took $((w1 - w0)) of root's inotify watches"
! watched "$D" && ! watched "$D/c7" || fail "the agent watches a delegated user's cgroups"
# The agent stopped: 400 events would overflow its queue of 64.
kill -STOP "$AGENT_PID"
as_nobody sh -c "for i in \$(seq 200); do mkdir $D/storm && rmdir $D/storm; done"
kill -CONT "$AGENT_PID"
sleep 0.5
[ "$(lost_walks)" = "$walks" ] || fail "a delegated user's storm made the agent walk the tree"
expect EPERM in_cg "$D/c7/n" connect 127.0.0.6 "$PORT"
expect EPERM in_cg "$CG" connect 127.0.0.2 "$PORT"
pass "a delegated subtree: no root watches ($w0 -> $w1), no forced walks, still judged by its unit"

for u in ugtdemo.service:$CG ugtlate.service:$LATE ugthid.service:$HIDDEN ugtlater.service:$LATER; do
	[ "$(unit_state "${u%%:*}")" = "enforced ${u#*:}" ] || fail "${u%%:*}: $(unit_state "${u%%:*}")"
done
echo "PASS: $TEST_NAME"
