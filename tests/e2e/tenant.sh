#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Names are not identity (issue 21, item 1): a process in a guarded unit that
# may make cgroups (root in the unit, or a user owning a delegated subtree)
# makes a child named after another unit and moves in. It must stay judged by
# its own unit's rules: the other unit's policy (kept by name for its next
# start, here an audit-mode one that would let everything pass) reaches only
# a cgroup made where that unit's cgroup is made. Without systemd, a unit is
# placed only at a root-owned cgroup of its name whose ancestors are slices.
# A storm of same-named cgroups fills nothing and other units keep being
# placed. The by-name policy itself still works where it should: a cgroup
# made at the unit's place is covered with the agent frozen.
. "$(dirname "$0")/lib.sh"
setup_kernel
require_tools setpriv

NOBODY=65534
SLICE=$(make_cgroup tn.slice)
A=$(make_cgroup tn.slice/tn-a.service)
P=53$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$P"
start_agent
ctl() { "$CTL" --db "$DB" "$@"; }
in_cg() { local cg=$1; shift; "$PROBE" --cgroup "$cg" "$@"; }
units_in_kernel() { bpftool -j map dump pinned "$PIN/maps/ug_units" | jq length; }
state_of() { sql "select state || ': ' || coalesce(reason, '') from status where target = '$1'"; }

ctl rule add tn-a.service egress deny 127.0.7.0/24 >/dev/null
# tn-b.service: audit mode, everything passes; it never ran.
ctl unit set tn-b.service --mode audit >/dev/null
ctl rule add tn-b.service egress deny 127.0.8.0/24 >/dev/null
wait_for EPERM in_cg "$A" connect 127.0.7.7 "$P"
maybe_sabotage

# 1. Root inside tn-a.service makes a child named tn-b.service.
C1=$(make_cgroup tn.slice/tn-a.service/tn-b.service)
expect EPERM in_cg "$C1" connect 127.0.7.7 "$P"
pass "a child of tn-a named after a unit that never ran: judged by tn-a's rules"

# tn-b.service runs once where a unit's cgroup is made, and stops: its policy
# is then kept by name for its next start, bound to tn.slice.
B=$(make_cgroup tn.slice/tn-b.service)
for _ in $(seq 100); do grep -q "^enforced" <<<"$(state_of tn-b.service)" && break; sleep 0.05; done
grep -q "^enforced" <<<"$(state_of tn-b.service)" || fail "tn-b.service not placed: $(state_of tn-b.service)"
rmdir "$B"
for _ in $(seq 60); do
	grep -q "^waiting: .*in force from its next start" <<<"$(state_of tn-b.service)" && break
	sleep 0.05
done
grep -q "^waiting: .*in force from its next start" <<<"$(state_of tn-b.service)" ||
	fail "tn-b.service not kept for its next start: $(state_of tn-b.service)"
C2=$(make_cgroup tn.slice/tn-a.service/x/tn-b.service)
expect EPERM in_cg "$C2" connect 127.0.7.7 "$P"
rmdir "$C1"
C1=$(make_cgroup tn.slice/tn-a.service/tn-b.service)
expect EPERM in_cg "$C1" connect 127.0.7.7 "$P"
pass "with tn-b kept by name (bound to tn.slice), children named tn-b.service below tn-a get nothing"

# 2. An unprivileged user owning a delegated subtree of tn-a.service.
D=$(make_cgroup tn.slice/tn-a.service/deleg)
chown "$NOBODY" "$D" "$D/cgroup.procs" "$D/cgroup.subtree_control" "$D/cgroup.threads"
as_user() { # as_user CMD...: a process moved into the delegated subtree, then nobody
	bash -c "echo \$\$ > '$D/cgroup.procs' && exec setpriv --reuid=$NOBODY --regid=$NOBODY \
		--clear-groups -- \"\$@\"" as_user "$@"
}
as_user mkdir "$D/tn-b.service" || fail "nobody cannot make a cgroup in its delegated subtree"
echo "$D/tn-b.service" >>"$TMP/cgroups"
[ "$(stat -c %u "$D/tn-b.service")" = $NOBODY ] || fail "the delegated cgroup is not nobody's"
got=$(as_user "$PROBE" --cgroup "$D/tn-b.service" connect 127.0.7.7 "$P" 2>&1) || true
[ "$got" = EPERM ] || fail "nobody in $D/tn-b.service: expected EPERM, got '$got'"
pass "an unprivileged user's tn-b.service in its delegated subtree: judged by tn-a's rules"

# 3. Without systemd, where a unit may be placed: tn-c.service has rules; a
# root-made cgroup of its name below tn-a.service, and one nobody made in a
# slice delegated to it, are not its cgroup; root's below tn.slice is.
ctl --no-wait rule add tn-c.service egress deny 127.0.9.9 >/dev/null
C3=$(make_cgroup tn.slice/tn-a.service/tn-c.service)
USL=$(make_cgroup tnu.slice)
chown "$NOBODY" "$USL"
setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- mkdir "$USL/tn-c.service" ||
	fail "nobody cannot make a cgroup in its slice"
U3=$USL/tn-c.service
echo "$U3" >>"$TMP/cgroups"
sleep 0.5
expect ok in_cg "$C3" connect 127.0.9.9 "$P"
expect EPERM in_cg "$C3" connect 127.0.7.7 "$P"
expect ok in_cg "$U3" connect 127.0.9.9 "$P"
grep -q "^waiting: " <<<"$(state_of tn-c.service)" || fail "tn-c.service placed: $(state_of tn-c.service)"
grep -q "is not where a unit's cgroup is made" <<<"$(state_of tn-c.service)" ||
	fail "tn-c.service: no note on the ignored cgroups: $(state_of tn-c.service)"
R3=$(make_cgroup tn.slice/tn-c.service)
wait_for EPERM in_cg "$R3" connect 127.0.9.9 "$P"
expect ok in_cg "$C3" connect 127.0.9.9 "$P"
expect ok in_cg "$U3" connect 127.0.9.9 "$P"
pass "tn-c.service placed only at root's cgroup below the slice, never below tn-a.service or in nobody's slice"

# 4. A storm of cgroups named tn-b.service in the delegated subtree fills
# nothing, and a unit started meanwhile is placed and enforced.
before=$(units_in_kernel)
as_user bash -c "for i in \$(seq 300); do mkdir -p '$D'/s\$i/tn-b.service; done"
for i in $(seq 300); do echo "$D/s$i" >>"$TMP/cgroups"; echo "$D/s$i/tn-b.service" >>"$TMP/cgroups"; done
ctl rule add tn-d.service egress deny 127.0.10.1 >/dev/null
E=$(make_cgroup tn.slice/tn-d.service)
wait_for EPERM in_cg "$E" connect 127.0.10.1 "$P"
after=$(units_in_kernel)
[ "$after" = $((before + 1)) ] || fail "ug_units went from $before to $after entries (expected +1: tn-d)"
pass "300 cgroups named tn-b.service: ug_units grew by tn-d.service's entry only"

# 5. The by-name policy still covers the unit's own next start, from its
# first instruction: the agent is frozen while its cgroup is made, and the
# connect is judged (audited) by tn-b's rules.
kill -STOP "$AGENT_PID"
B=$(make_cgroup tn.slice/tn-b.service)
got=$(in_cg "$B" connect 127.0.8.1 "$P" 2>&1) || true
kill -CONT "$AGENT_PID"
[ "$got" = ok ] || fail "tn-b.service's next start, agent frozen: expected ok (audit mode), got $got"
for _ in $(seq 200); do # a bound on the wait (rows are stored every 250 ms)
	n=$(sql "select count(*) from audit where unit = 'tn-b.service' and verdict = 'audit' and
		cgroup_id = $(stat -c %i "$B")")
	[ "$n" -ge 1 ] && break
	sleep 0.05
done
[ "$n" -ge 1 ] || fail "tn-b.service's first connect was not judged by its policy (no audit row)"
expect EPERM in_cg "$C1" connect 127.0.7.7 "$P"
pass "tn-b.service's own next start gets its policy at once, at its place only"

# 6. A parent not made yet, below the root: tn-v.service ran in tn-v.slice,
# both are gone, and its policy is kept for a cgroup made in a slice of that
# name directly below the root (the root's id: 1). A cgroup v1 hierarchy's
# root has id 1 too, and the cgroup tracepoints fire for every hierarchy: a
# v1 cgroup of those names (root here; in a user namespace, anyone's named
# hierarchy) must get nothing, nor may a v1 rmdir remove anything.
V=$(make_cgroup tn-v.slice/tn-v.service)
ctl rule add tn-v.service egress deny 127.0.9.9 >/dev/null
expect EPERM in_cg "$V" connect 127.0.9.9 "$P"
rmdir "$V" "$CG_ROOT/tn-v.slice"
pend_v() { bpftool -j map dump pinned "$PIN/maps/ug_pending_net" |
	jq -r '.[] | select(.formatted.key.name == "tn-v.service") | .formatted.value.via' 2>/dev/null; }
wait_for tn-v.slice pend_v
V1=$TMP/v1
mkdir -p "$V1"
before=$(units_in_kernel)
# Counted while the v1 cgroup exists (its rmdir would take an entry away).
export PIN
out=$(unshare -m sh -c 'mount -t cgroup -o none,name=ug-e2e-tenant none "$1" || exit 77
	mkdir -p "$1/tn-v.slice/tn-v.service" && stat -c %i "$1/tn-v.slice/tn-v.service" &&
	bpftool -j map dump pinned "$PIN/maps/ug_units" | jq length
	rmdir "$1/tn-v.slice/tn-v.service" "$1/tn-v.slice"; umount "$1"' sh "$V1") ||
	{ [ $? = 77 ] || fail "v1 hierarchy: $out"; out=; }
if [ -n "$out" ]; then
	set -- $out
	[ "${2:-}" = "$before" ] ||
		fail "a cgroup v1 mkdir of tn-v.slice/tn-v.service (id ${1:-?}): ug_units went from $before to ${2:-?} entries"
	pass "a cgroup v1 hierarchy's tn-v.slice/tn-v.service gets nothing of the policy kept for its v2 namesake"
else
	echo "note: no named cgroup v1 hierarchy can be mounted here (nor by an attacker): not checked"
fi
echo "PASS: $TEST_NAME"
