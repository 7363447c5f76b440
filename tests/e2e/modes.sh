#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A mode governs the rules of the cgroup that set it (issue 21, item 2): a
# unit in audit mode audits its own rules and relaxes nothing its slice
# enforces (not with a longer allow, not with the same prefix, not the
# slice's default deny); a unit in mode off brings nothing, so its slice's
# rules judge it; a slice in audit mode audits its rules in an enforcing unit
# below it, whose own rules stay enforced. Every audited decision is stored
# with verdict audit and the rule of the cgroup in audit mode.
. "$(dirname "$0")/lib.sh"
setup_kernel

make_cgroup ugm.slice >/dev/null
A=$(make_cgroup ugm.slice/ugm-a.service)
O=$(make_cgroup ugm.slice/ugm-o.service)
make_cgroup ugd.slice >/dev/null
D=$(make_cgroup ugd.slice/ugd-a.service)
make_cgroup ugs.slice >/dev/null
S=$(make_cgroup ugs.slice/ugs-a.service)
P=54$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$P"
start_agent
ctl() { "$CTL" --db "$DB" "$@"; }
in_cg() { local cg=$1; shift; "$PROBE" --cgroup "$cg" "$@"; }
audited() { # audited UNIT RULE_ID ADDRESS: a stored audit row says so (5 s at most)
	local n _ rule=${2:+"rule_id = $2"}
	for _ in $(seq 100); do
		n=$(sql "select count(*) from audit where unit = '$1' and verdict = 'audit' and
			${rule:-rule_id is null} and address = '$3'")
		[ "$n" -ge 1 ] && return 0
		sleep 0.05
	done
	fail "no audit row for $1, rule ${2:-none}, $3"
}

slice_deny=$(ctl rule add ugm.slice egress deny 127.0.11.0/24)
ctl unit set ugm-a.service --mode audit >/dev/null
ctl rule add ugm-a.service egress allow 127.0.11.0/25 >/dev/null
ctl rule add ugm-a.service egress allow 127.0.11.0/24 >/dev/null
unit_deny=$(ctl rule add ugm-a.service egress deny 127.0.12.1)
ctl unit set ugm-o.service --mode off >/dev/null
ctl rule add ugm-o.service egress allow 127.0.11.0/24 >/dev/null
wait_for EPERM in_cg "$A" connect 127.0.11.5 "$P"
maybe_sabotage

# 1. The unit in audit mode: the slice's enforced deny stays; its own deny
# is audited.
expect EPERM in_cg "$A" connect 127.0.11.5 "$P"
expect EPERM in_cg "$A" connect 127.0.11.200 "$P"
expect ok in_cg "$A" connect 127.0.12.1 "$P"
audited ugm-a.service "$unit_deny" 127.0.12.1
pass "a unit in audit mode: its slice's deny stays enforced (a longer allow, the same prefix), its own deny is audited"

# 2. The unit in mode off: its allow is not judged, its slice's deny is.
expect EPERM in_cg "$O" connect 127.0.11.5 "$P"
pass "a unit in mode off brings nothing: its slice's rules judge it"

# 3. A slice's enforced default deny stays under a unit in audit mode; a
# unit's default deny in audit mode is audited.
ctl unit set ugd.slice --default-egress deny >/dev/null
ctl rule add ugd.slice egress allow 127.0.0.0/8 >/dev/null
ctl rule add ugd.slice egress deny 127.0.15.0/24 >/dev/null
ctl unit set ugd-a.service --mode audit --default-egress deny >/dev/null
ctl rule add ugd-a.service egress allow 127.0.15.0/24 >/dev/null
ctl rule add ugd-a.service egress deny 127.0.16.0/24 >/dev/null
expect EPERM in_cg "$D" connect 127.0.15.1 "$P"
expect ok in_cg "$D" connect 127.0.16.1 "$P"
expect EPERM in_cg "$D" udp 192.0.2.1 "$P"
pass "a slice's enforced default deny and rules stay below a unit in audit mode"

# 4. A slice in audit mode above a unit in enforce mode.
s_audit=$(ctl rule add ugs.slice egress deny 127.0.17.0/24)
ctl unit set ugs.slice --mode audit >/dev/null
ctl rule add ugs-a.service egress deny 127.0.18.1 >/dev/null
expect ok in_cg "$S" connect 127.0.17.1 "$P"
expect EPERM in_cg "$S" connect 127.0.18.1 "$P"
audited ugs-a.service "$s_audit" 127.0.17.1
pass "a slice in audit mode: its deny audited in the unit below, the unit's own enforced"

# explain says the same.
[ "$(ctl --json explain ugm-a.service 127.0.11.5 | jq -r .verdict)" = deny ] ||
	fail "explain: $(ctl explain ugm-a.service 127.0.11.5)"
[ "$(ctl --json explain ugm-a.service 127.0.11.5 | jq -r .rule.id)" = "$slice_deny" ] ||
	fail "explain names another rule: $(ctl explain ugm-a.service 127.0.11.5)"
[ "$(ctl --json explain ugm-a.service 127.0.12.1 | jq -r .verdict)" = "allowed, audited" ] ||
	fail "explain: $(ctl explain ugm-a.service 127.0.12.1)"
[ "$(ctl --json explain ugm-o.service 127.0.11.5 | jq -r .verdict)" = deny ] ||
	fail "explain of a unit in mode off: $(ctl explain ugm-o.service 127.0.11.5)"
# ... and says which mode governs the rule that decided, and show each rule's.
[ "$(ctl --json explain ugm-a.service 127.0.11.5 | jq -r '.mode + " " + .rule.mode')" = \
	"enforce enforce" ] || fail "explain's mode: $(ctl explain ugm-a.service 127.0.11.5)"
[ "$(ctl --json explain ugm-a.service 127.0.12.1 | jq -r '.mode + " " + .rule.mode')" = \
	"audit audit" ] || fail "explain's mode: $(ctl explain ugm-a.service 127.0.12.1)"
mode_of() { ctl --json show ugm-a.service | jq -r --argjson id "$1" '.rules[] | select(.id == $id) | .mode'; }
[ "$(mode_of "$slice_deny")" = enforce ] && [ "$(mode_of "$unit_deny")" = audit ] ||
	fail "show's rule modes: $slice_deny $(mode_of "$slice_deny"), $unit_deny $(mode_of "$unit_deny")"
ctl show ugm-a.service | grep -q "MODE" || fail "show has no MODE column: $(ctl show ugm-a.service)"
pass "explain and show say which mode governs each rule"
echo "PASS: $TEST_NAME"
