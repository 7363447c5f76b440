#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# cgroup_skb/ingress judges the source of packets delivered to the unit's
# sockets: over loopback with bound source addresses, for a TCP flow that was
# established before the rule existed, and over a veth pair from a network
# namespace. The veth uses link-local 169.254.77.0/30, never routed off-host.
. "$(dirname "$0")/lib.sh"
setup_kernel
require_tools ip

CG=$(make_cgroup demo.service)
P=50$((RANDOM % 900 + 100))
start_agent
ctl() { "$CTL" --db "$DB" "$@"; }

# Servers inside the unit; clients outside it, from chosen source addresses.
"$PROBE" --cgroup "$CG" listen 0.0.0.0 "$P" 60 >/dev/null &
BG_PIDS+=($!)
"$PROBE" --cgroup "$CG" tcp-serve 127.0.0.1 "$((P + 1))" 60 >"$TMP/stream" &
BG_PIDS+=($!)
sleep 0.3
# A flow established before any rule: 100 bytes every 20 ms from 127.0.0.3.
"$PROBE" --from 127.0.0.3 tcp-stream 127.0.0.1 "$((P + 1))" 30 >/dev/null &
BG_PIDS+=($!)

expect ok "$PROBE" --from 127.0.0.2 connect 127.0.0.1 "$P"
id=$(ctl rule add demo.service ingress deny 127.0.0.2)
id3=$(ctl rule add demo.service ingress deny 127.0.0.3)
t0=$(date +%s%N)
wait_for ETIMEDOUT "$PROBE" --from 127.0.0.2 connect 127.0.0.1 "$P"
echo "ingress enforced $(( ($(date +%s%N) - t0) / 1000000 )) ms after rule add (incl. a 2 s timeout)"
maybe_sabotage

# The SYN from 127.0.0.2 never reaches the listener: the client times out.
expect ETIMEDOUT "$PROBE" --from 127.0.0.2 connect 127.0.0.1 "$P"
expect ok "$PROBE" --from 127.0.0.1 connect 127.0.0.1 "$P"
expect ok "$PROBE" --from 127.0.0.4 connect 127.0.0.1 "$P"
# The unit's own egress is not ingress: it may still connect out from anywhere.
expect ok "$PROBE" --cgroup "$CG" connect 127.0.0.1 "$P"

# The established flow stops delivering once its source is denied.
sleep 0.5
b1=$(tail -n 1 "$TMP/stream")
sleep 1
b2=$(tail -n 1 "$TMP/stream")
[ -n "$b1" ] || fail "the pre-existing stream never delivered anything"
[ "$b1" = "$b2" ] || fail "the pre-existing flow still delivers after the deny ($b1 -> $b2 bytes)"
pass "established flow from a denied source: stalled at $b1 bytes"

sleep 0.3
[ "$(sql "select count(*) from audit where hook='ingress_skb' and direction='ingress' and
	address='127.0.0.2' and port=$P and rule_id=$id and protocol='tcp'")" -ge 1 ] ||
	fail "no ingress audit row for 127.0.0.2"
[ "$(sql "select count(*) from audit where hook='ingress_skb' and rule_id=$id3")" -ge 1 ] ||
	fail "no ingress audit row for the established flow"
# Its rules have no ports and no bind rule: the packet hooks decide without
# reading the transport header (UG_UNIT_NO_L4), and the denial's record above
# still carries the port, read for the record alone.
[ "$(unit_flags "$CG")" = 1 ] || fail "demo.service's flags are $(unit_flags "$CG"), expected UG_UNIT_NO_L4 (1)"
pass "ingress denials audited (address = source, port = the unit's port, read for the record only)"

# Over a veth pair from a network namespace.
NS=ugtest-$$
ip netns add "$NS"
EXIT_HOOKS+=("ip netns del $NS" "ip link del ugh$$")
ip link add "ugh$$" type veth peer name "ugn$$"
ip link set "ugn$$" netns "$NS"
ip addr add 169.254.77.1/30 dev "ugh$$"
ip link set "ugh$$" up
ip -n "$NS" addr add 169.254.77.2/30 dev "ugn$$"
ip -n "$NS" link set "ugn$$" up
ip -n "$NS" link set lo up
for i in $(seq 40); do
	ip netns exec "$NS" "$PROBE" connect 169.254.77.1 "$P" >/dev/null 2>&1 && break
	sleep 0.1
done
expect ok ip netns exec "$NS" "$PROBE" connect 169.254.77.1 "$P"
vid=$(ctl rule add demo.service ingress deny 169.254.77.2)
wait_for ETIMEDOUT ip netns exec "$NS" "$PROBE" connect 169.254.77.1 "$P"
expect ETIMEDOUT ip netns exec "$NS" "$PROBE" connect 169.254.77.1 "$P"
# A listener outside the unit on the same host still takes the connection.
"$PROBE" listen 169.254.77.1 "$((P + 2))" 30 >/dev/null &
BG_PIDS+=($!)
sleep 0.2
expect ok ip netns exec "$NS" "$PROBE" connect 169.254.77.1 "$((P + 2))"
sleep 0.3
[ "$(sql "select count(*) from audit where hook='ingress_skb' and rule_id=$vid and address='169.254.77.2'")" -ge 1 ] ||
	fail "no ingress audit row for the veth peer"
pass "veth: ingress from the namespace denied, audited; other listeners unaffected"
echo "PASS: $TEST_NAME"
