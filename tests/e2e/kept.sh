#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The verdict kept on a socket (issue 23; README, "The verdict kept on a
# socket"). The packets of an open flow pass on the verdict its first data
# packet left, and are still counted exactly: packets, bytes and rule hits,
# both ways. Every kind of change reaches the open flow at once, in each
# case after the flow has passed on its kept verdict: a rule of the slice
# above (inheritance), the unit's mode, a rule written while no agent ran
# (the next agent's first apply), and an ingress rule against a connection
# the unit accepted; and a UDP socket connected again, in audit mode, has
# each datagram to its new peer recorded. Without the policy's generation
# number changing, the flows went on passing (seen, with ug_gen_bump never
# run); without the connect hooks forgetting, the new peer's datagrams went
# unrecorded.
. "$(dirname "$0")/lib.sh"
setup_kernel

CG=$(make_cgroup ugk.slice/app.service)
P=52$((RANDOM % 90 + 10))0 # P .. P+9
ctl() { "$CTL" --db "$DB" "$@"; }
# Echo peers outside the unit, and a TCP echo server inside it.
flow_bg echo tcp 127.0.0.2 "$P" 120
flow_bg echo udp 127.0.0.2 "$P" 120
flow_bg --cgroup "$CG" echo tcp 127.0.0.1 $((P + 1)) 120
sleep 0.3
start_agent --stats-interval 1
allow=$(ctl rule add app.service egress allow 127.0.0.2 --proto udp)
ctl rule add app.service egress deny 127.0.0.9 >/dev/null
maybe_sabotage
expect EPERM "$PROBE" --cgroup "$CG" connect 127.0.0.9 9

# 1. Counted as in full: a connected UDP socket, 20 round trips after the
# first. Each is one datagram out and its echo in (1 byte: 29 bytes of IPv4
# packet), both judged by the allow rule (the echo as the reply it is).
session u --cgroup "$CG" session udp 127.0.0.2 "$P"
[ "$(opened u | cut -d' ' -f1)" = ready ] || fail "connected UDP session: $(cat "$TMP/u.out")"
expect_ask ok u ping
field() { ctl stats app.service --json | jq -r ".units[0].$1"; }
hits() { ctl stats --json | jq -r ".rules[] | select(.id == $allow) | .hits"; }
e0=$(field egress.allowed_packets) b0=$(field egress.allowed_bytes)
i0=$(field ingress.allowed_packets) c0=$(field ingress.allowed_bytes) h0=$(hits)
for _ in $(seq 20); do
	[ "$(ask u ping)" = ok ] || fail "round trip on the connected UDP socket: $(tail -n 1 "$TMP/u.out")"
done
[ "$(field egress.allowed_packets)/$(field egress.allowed_bytes)" = "$((e0 + 20))/$((b0 + 20 * 29))" ] ||
	fail "egress: $(field egress.allowed_packets) packets, $(field egress.allowed_bytes) bytes; expected $((e0 + 20)), $((b0 + 580))"
[ "$(field ingress.allowed_packets)/$(field ingress.allowed_bytes)" = "$((i0 + 20))/$((c0 + 20 * 29))" ] ||
	fail "ingress: $(field ingress.allowed_packets) packets, $(field ingress.allowed_bytes) bytes; expected $((i0 + 20)), $((c0 + 580))"
[ "$(hits)" = $((h0 + 40)) ] || fail "rule $allow hits $(hits), expected $((h0 + 40))"
pass "20 round trips on a kept verdict: 20 packets and 580 bytes each way, 40 rule hits, exactly"

# 2. Inheritance: a rule of the slice above reaches the unit's open flows.
session t --cgroup "$CG" session tcp 127.0.0.2 "$P"
[ "$(opened t | cut -d' ' -f1)" = ready ] || fail "TCP session: $(cat "$TMP/t.out")"
expect_ask ok t ping
expect_ask ok t ping
s=$(ctl rule add ugk.slice egress deny 127.0.0.2/32 --proto tcp)
expect_ask timeout t ping
expect_ask ok u ping
pass "a TCP deny on the slice above stops the unit's open TCP flow, not its UDP one"
ctl rule del "$s" >/dev/null

# 3. The mode: off, then enforcing again, with a UDP deny of the peer in
# place (a fresh flow each time: TCP's retransmission backoff after a
# refused segment is not what is tested).
d=$(ctl rule add app.service egress deny 127.0.0.2 --proto udp)
ctl rule del "$allow" >/dev/null
expect_ask EPERM u ping
ctl unit set app.service --mode off >/dev/null
expect_ask ok u ping
expect_ask ok u ping
ctl unit set app.service --mode enforce >/dev/null
expect_ask EPERM u ping
pass "mode off lets the flow pass; enforce again stops it at once"
ctl rule del "$d" >/dev/null

# 4. A rule written while no agent runs: in force once the next agent is
# (its first apply), for flows that passed on a verdict of the agent before.
expect_ask ok u ping
expect_ask ok u ping
stop_agent
d4=$(ctl --no-wait rule add app.service egress deny 127.0.0.2 --proto udp)
start_agent --stats-interval 1
wait_for EPERM "$PROBE" --cgroup "$CG" udp 127.0.0.2 "$P"
expect_ask EPERM u ping
pass "a rule written while no agent ran stops the open UDP flow once the next agent is in force"

# 5. A connection the unit accepted: judged both ways by the ingress rules.
session in --from 127.0.0.4 session tcp 127.0.0.1 $((P + 1))
[ "$(opened in | cut -d' ' -f1)" = ready ] || fail "connecting in: $(cat "$TMP/in.out")"
expect_ask ok in ping
expect_ask ok in ping
ctl rule add app.service ingress deny 127.0.0.4 >/dev/null
expect_ask timeout in ping
pass "an ingress deny of its client stops a connection the unit accepted"

# 6. A UDP socket connected again, to a peer its connect hook lets through in
# audit mode: every datagram to it and back is recorded; none passes on the
# verdict kept for the peer before (the connect hooks forget it). The
# policy is set first, so that what was kept is of the current generation.
flow_bg echo udp 127.0.0.3 "$P" 120
ctl rule del "$d4" >/dev/null
ctl rule add app.service egress deny 127.0.0.3 --proto udp >/dev/null
ctl unit set app.service --mode audit >/dev/null
session v --cgroup "$CG" session udp 127.0.0.2 "$P"
expect_ask ok v ping
expect_ask ok v ping
expect_ask ok v "connect 127.0.0.3 $P"
for _ in 1 2 3 4 5; do expect_ask ok v ping; done
audited() {
	[ "$(sql "select ifnull(sum(count), 0) from audit where address = '127.0.0.3' and
		hook = '$1' and verdict = 'audit'")" = "$2" ]
}
wait_until 10 audited egress_skb 5 ||
	fail "datagrams to the new peer audited at egress: $(sql "select hook, count from audit where address = '127.0.0.3'")"
wait_until 10 audited ingress_skb 5 ||
	fail "its echoes audited at ingress: $(sql "select hook, count from audit where address = '127.0.0.3'")"
pass "connected again: 5 datagrams to the new peer and 5 echoes, each recorded as audit"
echo "PASS: $TEST_NAME"
