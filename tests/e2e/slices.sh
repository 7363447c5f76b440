#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A rule on a slice covers every unit and nested cgroup below it; a unit's rule
# for the same prefix refines it; cgroups created below after the rules exist
# (Delegate=yes containers, scopes, a unit started later) are covered with the
# agent frozen, i.e. without it having to notice them.
. "$(dirname "$0")/lib.sh"
setup_kernel

SLICE=$(make_cgroup web.slice)
A=$(make_cgroup web.slice/web-a.service)
B=$(make_cgroup web.slice/web-b.service)
P=52$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$P"
start_agent
ctl() { "$CTL" --db "$DB" "$@"; }
in_cg() { local cg=$1; shift; "$PROBE" --cgroup "$cg" "$@"; }

s1=$(ctl rule add web.slice egress deny 127.0.0.0/24)
s2=$(ctl rule add web.slice egress deny 127.0.0.9)
a1=$(ctl rule add web-a.service egress allow 127.0.0.0/24)   # same prefix: the unit refines it
a2=$(ctl rule add web-a.service egress deny 127.0.0.1 --port "$P")
wait_for EPERM in_cg "$B" connect 127.0.0.1 "$P"
maybe_sabotage

expect EPERM in_cg "$B" connect 127.0.0.1 "$P"       # slice rule applies to a unit without rules
expect EPERM in_cg "$SLICE" connect 127.0.0.2 "$P"   # and to the slice's own cgroup
expect ok in_cg "$A" connect 127.0.0.2 "$P"          # unit's /24 allow overrides the slice's /24 deny
expect EPERM in_cg "$A" connect 127.0.0.1 "$P"       # unit's own port rule
expect EPERM in_cg "$A" connect 127.0.0.9 "$P"       # slice's longer /32 still applies in the unit
expect ok "$PROBE" connect 127.0.0.2 "$P"            # outside the slice

# Programs sit at the slice only: one copy for everything below it.
[ "$(bpftool cgroup show "$SLICE" | grep -c ug_connect4)" = 1 ] || fail "connect4 not attached at the slice"
[ -z "$(bpftool cgroup show "$A")" ] || fail "programs attached at web-a.service as well as its slice"

# Freeze the agent; create cgroups below the policy cgroups; they are covered.
kill -STOP "$AGENT_PID"
C=$(make_cgroup web.slice/web-c.service)                       # a unit started later
N=$(make_cgroup web.slice/web-a.service/container/payload)      # nested, as with Delegate=yes
expect EPERM in_cg "$C" connect 127.0.0.1 "$P"
expect ok in_cg "$N" connect 127.0.0.2 "$P"                     # follows web-a's refinement
expect EPERM in_cg "$N" connect 127.0.0.1 "$P"
kill -CONT "$AGENT_PID"
pass "new cgroups below covered with the agent frozen"

sleep 0.6
[ "$(sql "select count(*) from audit where unit='web.slice' and rule_id=$s1")" -ge 1 ] ||
	fail "no audit row naming the slice rule"
[ "$(sql "select count(*) from audit where unit='web-a.service' and rule_id=$s2")" -ge 1 ] ||
	fail "the slice's /32 in web-a.service is not audited under web-a.service"
[ "$(sql "select count(*) from audit where unit='web-a.service' and rule_id=$a2 and
	cgroup_id=$(stat -c %i "$N")")" -ge 1 ] || fail "nested cgroup's denial not audited under its unit"
pass "audit rows name the governing unit, the deciding rule and the real cgroup"

# Removing the slice's rules: web-a.service is now the topmost guarded
# cgroup; its programs stay attached at its parent (the slice), once, so
# that its next start is covered from its first instruction too, and the
# slice's other units are judged by nothing (no policy above them).
ctl rule del "$s1"
ctl rule del "$s2"
wait_for ok in_cg "$B" connect 127.0.0.1 "$P"
[ "$(bpftool cgroup show "$SLICE" | grep -c ug_connect4)" = 1 ] ||
	fail "programs not (or not once) at web.slice: $(bpftool cgroup show "$SLICE")"
[ -z "$(bpftool cgroup show "$A")" ] || fail "programs attached at web-a.service as well"
expect EPERM in_cg "$A" connect 127.0.0.1 "$P"
expect ok in_cg "$A" connect 127.0.0.9 "$P"
pass "slice rules removed: the unit's rules stay in force, programs stay once at its parent"

# Two guarded units whose attach points nest: aa.service's parent
# (ugp.slice/sub.slice) lies below bb.service's (ugp.slice), and aa comes
# first. The lower point goes; both units are judged through the upper one,
# once. (The agent once read the freed lower point here: ASan found it.)
AA=$(make_cgroup ugp.slice/sub.slice/aa.service)
BB=$(make_cgroup ugp.slice/bb.service)
ctl rule add aa.service egress deny 127.0.0.5 >/dev/null
ctl rule add bb.service egress deny 127.0.0.6 >/dev/null
expect EPERM in_cg "$AA" connect 127.0.0.5 "$P"
expect EPERM in_cg "$BB" connect 127.0.0.6 "$P"
expect ok in_cg "$AA" connect 127.0.0.6 "$P"
[ "$(bpftool cgroup show "$CG_ROOT/ugp.slice" | grep -c ug_connect4)" = 1 ] ||
	fail "programs not (or not once) at ugp.slice: $(bpftool cgroup show "$CG_ROOT/ugp.slice")"
[ -z "$(bpftool cgroup show "$CG_ROOT/ugp.slice/sub.slice")" ] || fail "programs also at the lower point"
pass "nested attach points: the upper one serves both units, once"
echo "PASS: $TEST_NAME"
