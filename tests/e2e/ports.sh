#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# How ports and protocols combine with prefixes (README "Semantics"): the
# longest prefix that has a rule matching the packet's protocol and port
# decides. And bind: binding to a denied address or port fails with EPERM.
. "$(dirname "$0")/lib.sh"
setup_kernel

CG=$(make_cgroup demo.service)
P1=49$((RANDOM % 400 + 100))
P2=$((P1 + 500))
for a in 0.0.0.0; do listen_bg $a "$P1"; listen_bg $a "$P2"; done
start_agent
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }

# The issue's example, on loopback: deny 127.0.0.0/8 port P1 + allow 127.0.0.2/32.
r1=$(ctl rule add demo.service egress deny 127.0.0.0/8 --port "$P1" --comment "no P1")
r2=$(ctl rule add demo.service egress allow 127.0.0.2/32)
# A protocol-qualified rule: UDP to 127.0.0.4 denied, TCP to it untouched.
r3=$(ctl rule add demo.service egress deny 127.0.0.4 --proto udp)
# A port range, TCP only.
r4=$(ctl rule add demo.service egress deny 127.0.0.5 --proto tcp --port "$P1-$P2")
wait_for EPERM in_unit connect 127.0.0.3 "$P1"
maybe_sabotage

expect ok in_unit connect 127.0.0.2 "$P1"       # /32 allow is the longest matching prefix
expect EPERM in_unit connect 127.0.0.3 "$P1"    # only the /8 port rule matches
expect ok in_unit connect 127.0.0.3 "$P2"       # no rule matches port P2: default allow
expect EPERM in_unit udp 127.0.0.3 "$P1"        # a port rule without protocol: TCP and UDP
expect ok in_unit udp 127.0.0.3 "$P2"
expect EPERM in_unit udp 127.0.0.4 "$P2"        # --proto udp
expect ok in_unit connect 127.0.0.4 "$P2"       # ... leaves TCP alone
expect EPERM in_unit connect 127.0.0.5 "$P1"    # range, lower bound
expect EPERM in_unit connect 127.0.0.5 "$P2"    # range, upper bound
expect ECONNREFUSED in_unit connect 127.0.0.5 "$((P2 + 1))"   # not denied: nobody listens there
expect ok in_unit udp 127.0.0.5 "$P2"           # the range rule is TCP only, the /8 is P1 only
expect EPERM in_unit udp 127.0.0.5 "$P1"        # /32 has no UDP rule: the /8's port rule decides
expect ok in_unit icmp 127.0.0.3                # ICMP has no port: port rules never match it
# Rules with ports: the packet hooks read the transport header (no UG_UNIT_NO_L4).
[ "$(unit_flags "$CG")" = 0 ] || fail "demo.service's flags are $(unit_flags "$CG"), expected 0 (its rules have ports)"

sleep 0.6
[ "$(sql "select count(*) from audit where rule_id=$r1 and address='127.0.0.3' and port=$P1")" -ge 2 ] ||
	fail "no audit rows naming rule $r1"
[ "$(sql "select count(*) from audit where rule_id=$r4")" -ge 2 ] || fail "no audit rows for rule $r4"
pass "audit rows name the deciding port rules"
[ "$(ctl rule list demo.service --json | jq -r ".[] | select(.id == $r4) | \"\(.proto) \(.port_lo)-\(.port_hi)\"")" = "tcp $P1-$P2" ] ||
	fail "rule list does not show proto/ports"
[ "$(ctl rule list demo.service --json | jq -r ".[] | select(.id == $r1) | .comment")" = "no P1" ] ||
	fail "rule list does not show the comment"

# Bind: a unit may not bind privileged ports, nor bind 127.0.0.7 at all.
b1=$(ctl rule add demo.service bind deny 0.0.0.0/0 --port 1-1023)
b2=$(ctl rule add demo.service bind deny 127.0.0.7)
b3=$(ctl rule add demo.service bind deny ::/0 --port 1-1023)
wait_for EPERM in_unit bind 127.0.0.1 80
expect EPERM in_unit bind 0.0.0.0 80
expect EPERM in_unit bind :: 443
expect ok in_unit bind 127.0.0.1 0              # port 0: the kernel picks one later
expect ok in_unit bind 127.0.0.1 "$((P2 + 7))"
expect EPERM in_unit bind 127.0.0.7 "$((P2 + 8))"
expect ok "$PROBE" bind 127.0.0.1 81            # outside the unit
sleep 0.6
[ "$(sql "select count(*) from audit where hook='bind4' and direction='bind' and rule_id=$b1 and port=80")" -ge 1 ] ||
	fail "no bind4 audit row"
[ "$(sql "select count(*) from audit where hook='bind6' and rule_id=$b3")" -ge 1 ] || fail "no bind6 audit row"
[ "$(sql "select count(*) from audit where hook='bind4' and rule_id=$b2 and address='127.0.0.7'")" -ge 1 ] ||
	fail "no bind audit row for rule $b2"
pass "bind denials audited"
echo "PASS: $TEST_NAME"
