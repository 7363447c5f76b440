#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Ingress decides who may reach a unit (issue 28), host tier. With
# --default-ingress deny and nothing else: the unit's own outbound TCP
# connections and connected-UDP exchanges get their replies; a connection
# from outside to its listener and a datagram to its unconnected socket are
# refused. An allowed source connects in, and its connection works both ways
# even under --default-egress deny. A rule change stops an open flow in each
# direction. Then the socket-call sequences a tenant could try to make an
# inbound packet pass as a reply: connect then listen, a disconnected UDP
# socket, an unconnected socket that sent to A and hears from B, an
# SO_REUSEPORT group with one connected member, a TCP simultaneous open.
. "$(dirname "$0")/lib.sh"
setup_kernel

CG=$(make_cgroup demo.service)
P=51$((RANDOM % 90 + 10))0 # P .. P+9
ctl() { "$CTL" --db "$DB" "$@"; }

# Peers outside the unit, at 127.0.0.2: TCP and UDP echo.
flow_bg echo tcp 127.0.0.2 "$P" 120
flow_bg echo udp 127.0.0.2 "$P" 120
# A TCP echo server inside the unit.
flow_bg --cgroup "$CG" echo tcp 127.0.0.1 $((P + 1)) 120
sleep 0.3
start_agent
ctl unit set demo.service --default-ingress deny >/dev/null
maybe_sabotage

# 1. --default-ingress deny and nothing else.
expect ETIMEDOUT "$PROBE" --from 127.0.0.3 connect 127.0.0.1 $((P + 1))
session u --cgroup "$CG" session udp-unconnected 127.0.0.2 "$P"
r=$(opened u)
uport=${r#ready }
[ "$uport" != "$r" ] || fail "unconnected UDP session: $r"
"$PROBE" --from 127.0.0.3 udp 127.0.0.1 "$uport" >/dev/null
expect_ask timeout u recv
pass "from outside, uninvited: a connection to the unit's listener and a datagram to its unconnected socket are refused"
session t --cgroup "$CG" session tcp 127.0.0.2 "$P"
[ "$(opened t | cut -d' ' -f1)" = ready ] ||
	fail "the unit's outbound TCP connect: $(cat "$TMP/t.out")"
expect_ask ok t ping
session c --cgroup "$CG" session udp 127.0.0.2 "$P"
[ "$(opened c | cut -d' ' -f1)" = ready ] ||
	fail "the unit's connected UDP socket: $(cat "$TMP/c.out")"
expect_ask ok c ping
pass "the unit's own TCP connection and connected-UDP exchange get their replies"
# An unconnected socket chose no peer: what comes back is judged as any
# datagram (README, "Ingress"), so even the echo of what it sent is refused.
expect_ask timeout u ping
pass "an unconnected UDP socket gets no reply credit: the echo from the address it sent to is refused"

# 2. An allowed source connects in; its connection works both ways, judged by
# the ingress rule that let it in, even with every egress denied by default.
allow=$(ctl rule add demo.service ingress allow 127.0.0.4)
ctl unit set demo.service --default-egress deny >/dev/null
session in --from 127.0.0.4 session tcp 127.0.0.1 $((P + 1))
[ "$(opened in | cut -d' ' -f1)" = ready ] ||
	fail "an allowed source could not connect in: $(cat "$TMP/in.out")"
expect_ask ok in ping
expect ETIMEDOUT "$PROBE" --from 127.0.0.3 connect 127.0.0.1 $((P + 1))
pass "an allowed source connects in; the unit's answers pass under --default-egress deny"
# The unit's own outbound connection is egress's to judge: now denied by default.
expect_ask timeout t ping
ctl unit set demo.service --default-egress allow >/dev/null
expect_ask ok t ping

# 3. A rule change reaches open flows, in each direction.
ctl rule del "$allow" >/dev/null
expect_ask timeout in ping
pass "the ingress allow removed: the accepted connection stops (both ways)"
deny=$(ctl rule add demo.service egress deny 127.0.0.2)
expect_ask timeout t ping
expect_ask EPERM c ping # a UDP send the egress packet hook drops fails at once
ctl rule del "$deny" >/dev/null
expect_ask ok c ping
pass "an egress deny of the peer: the unit's own connections stop; removed, they work again"

# 4. Sequences that try to pass an inbound packet off as a reply.
# a. A UDP socket connected to 127.0.0.2, then disconnected: it chose no
#    peer any more, so 127.0.0.2 is as any other source.
expect_ask ok c disconnect
cport=$(sed -n 's/^ready //p' "$TMP/c.out")
"$FLOW" send-udp 127.0.0.2 "$P" 127.0.0.1 "$cport" >/dev/null
expect_ask timeout c recv
pass "a disconnected UDP socket: its former peer's datagram is refused"
# b. Connect (refused: nothing listens), then listen on the same socket: a
#    connection request is judged by the ingress rules, also from the very
#    address the socket had pointed at.
"$FLOW" --cgroup "$CG" connect-listen 127.0.0.2 $((P + 5)) 8 >"$TMP/cl.out" &
BG_PIDS+=($!)
for i in $(seq 60); do grep -q '^listen' "$TMP/cl.out" && break; sleep 0.05; done
[ "$(head -n 1 "$TMP/cl.out")" = ECONNREFUSED ] || fail "connect-listen: $(cat "$TMP/cl.out")"
lport=$(sed -n 's/^listening //p' "$TMP/cl.out")
if [ -n "$lport" ]; then
	expect ETIMEDOUT "$PROBE" --from 127.0.0.2 connect 127.0.0.1 "$lport"
	expect ETIMEDOUT "$PROBE" --from 127.0.0.3 connect 127.0.0.1 "$lport"
	pass "connect, then listen: connection requests are judged as new inbound ones"
elif grep -q '^listen: EINVAL' "$TMP/cl.out"; then
	# The programs judge a listener's requests by its state, not by what
	# the socket did before (net.bpf.c, origin()): nothing to open here.
	pass "connect, then listen: this kernel ($(uname -r)) refuses the listen (EINVAL)"
else
	fail "connect-listen: $(cat "$TMP/cl.out")"
fi
# c. An SO_REUSEPORT group, one member connected to 127.0.0.2:P+7: only
#    that peer's datagrams reach it; the same address from another port,
#    and another address from that port, are refused.
"$FLOW" --cgroup "$CG" reuseport-udp 127.0.0.1 $((P + 6)) 127.0.0.2 $((P + 7)) 3 >"$TMP/rp.out" &
rp=$!
for i in $(seq 60); do grep -q '^listening' "$TMP/rp.out" && break; sleep 0.05; done
"$FLOW" send-udp 127.0.0.2 $((P + 7)) 127.0.0.1 $((P + 6)) >/dev/null
"$FLOW" send-udp 127.0.0.2 $((P + 8)) 127.0.0.1 $((P + 6)) >/dev/null
"$FLOW" send-udp 127.0.0.3 $((P + 7)) 127.0.0.1 $((P + 6)) >/dev/null
wait "$rp"
[ "$(tail -n 1 "$TMP/rp.out")" = "1 0" ] ||
	fail "SO_REUSEPORT group: expected '1 0' (connected, unconnected), got '$(tail -n 1 "$TMP/rp.out")'"
pass "an SO_REUSEPORT group: only the connected member's peer gets through"

# d. A TCP simultaneous open: a socket bound to 127.0.0.1:P+9 connects to
#    itself, so its own SYN arrives while it is in SYN_SENT. The unit pointed
#    at that address: the egress rules judge it, the default ingress deny
#    does not; an egress deny of it refuses the connect.
expect ok "$FLOW" --cgroup "$CG" self-connect 127.0.0.1 $((P + 9))
deny=$(ctl rule add demo.service egress deny 127.0.0.1 --proto tcp --port $((P + 9)))
expect EPERM "$FLOW" --cgroup "$CG" self-connect 127.0.0.1 $((P + 9))
ctl rule del "$deny" >/dev/null
pass "a simultaneous open is judged as the connect the unit made"

# The refusals above were audited as ingress denials, the replies were not.
sleep 0.5
[ "$(sql "select count(*) from audit where hook='ingress_skb' and direction='ingress' and
	address='127.0.0.3' and verdict='deny'")" -ge 1 ] || fail "no ingress denial audited for 127.0.0.3"
[ "$(sql "select count(*) from audit where address='127.0.0.4' and verdict='deny'")" -ge 1 ] ||
	fail "no denial audited for 127.0.0.4 after its allow went"
pass "audited: ingress denials of uninvited packets"
echo "PASS: $TEST_NAME"
