#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 8, network: the ways around a unit's rules that the programs close,
# each tried the way an attacker would, over a veth pair into a network
# namespace (IPv6 fd77:8::/64, IPv4 169.254.78.0/30, never routed off-host).
#  1. IPv6 extension headers do not hide the protocol and port: a datagram
#     with a Destination Options or Hop-by-Hop header meets a port rule on
#     ingress; a routing header does not take a packet past an egress rule
#     on any address it visits; a raw socket's header chain too long to walk
#     is denied, not let through unjudged.
#  3. A dual-stack [::] bind meets the IPv4 bind rules; a listener that got
#     its port from listen(2) alone (autobind, no bind hook) meets the bind
#     rules when a connection request arrives.
. "$(dirname "$0")/lib.sh"
setup_kernel
require_tools ip

START=$(date +%s)
CG=$(make_cgroup demo.service)
P=51$((RANDOM % 400 + 100))
NS=ugbp-$$
H=fd77:8::1 PEER=fd77:8::2 HOP=fd77:8::3 MID=fd77:8::4 OTHER=fd77:8::5
ip netns add "$NS"
EXIT_HOOKS+=("ip netns del $NS" "ip link del ugbh$$")
ip link add "ugbh$$" type veth peer name "ugbn$$"
ip link set "ugbn$$" netns "$NS"
ip addr add $H/64 dev "ugbh$$" nodad
ip addr add 169.254.78.1/30 dev "ugbh$$"
ip link set "ugbh$$" up
for a in $PEER $HOP $MID $OTHER; do ip -n "$NS" addr add $a/64 dev "ugbn$$" nodad; done
ip -n "$NS" addr add 169.254.78.2/30 dev "ugbn$$"
ip -n "$NS" link set "ugbn$$" up
ip -n "$NS" link set lo up
start_agent
ctl() { "$CTL" --db "$DB" "$@"; }
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
peer() { ip netns exec "$NS" "$PROBE" "$@"; }

# arrives PORT SENDER-ARGS...: one datagram from the namespace to the unit's
# receiver on PORT: "ok" if it arrived within 2 s, else "ETIMEDOUT".
arrives() {
	local port=$1 out
	shift
	in_unit udp-recv :: "$port" 2 >"$TMP/recv" &
	for _ in $(seq 40); do grep -q listening "$TMP/recv" && break; sleep 0.05; done
	peer --from $PEER "$@" udp $H "$port" >/dev/null
	wait $!
	out=$(tail -n 1 "$TMP/recv")
	[ "${out%% *}" -ge 1 ] && echo ok || echo ETIMEDOUT
}

# The namespace reaches the unit at all, with each kind of header.
for ext in "" "--ext6 dstopts" "--ext6 hopopts"; do
	# shellcheck disable=SC2086
	[ "$(arrives $P $ext)" = ok ] || fail "no datagram with '$ext' arrives even without a rule"
done
pass "datagrams from the namespace arrive, with and without extension headers"

# --- 1a. ingress: extension headers before UDP ------------------------------------
in1=$(ctl rule add demo.service ingress deny $PEER --proto udp --port $P)
maybe_sabotage
expect ETIMEDOUT arrives $P                       # the rule itself
expect ETIMEDOUT arrives $P --ext6 dstopts        # Destination Options, PadN
expect ETIMEDOUT arrives $P --ext6 hopopts        # Hop-by-Hop, PadN
expect ok arrives $((P + 1)) --ext6 dstopts       # another port: the header alone is not refused

# --- 1b. egress: a routing header ------------------------------------------------
# The socket sends to PEER; the segment routing header sends the packet to
# HOP first (the packet's destination address), or through MID. The sendmsg
# hook sees PEER only; the packet hook must judge every address.
eg1=$(ctl rule add demo.service egress deny $HOP --proto udp --port $P)
eg2=$(ctl rule add demo.service egress deny $MID)
expect EPERM in_unit udp $HOP $P                               # the rule itself
expect EPERM in_unit --ext6 srh:$HOP udp $PEER $P              # first hop, port rule
expect EPERM in_unit --ext6 srh:$OTHER,$MID udp $PEER $((P + 1))  # a later hop
expect ok in_unit --ext6 srh:$OTHER udp $PEER $P               # hops not denied
expect ok in_unit --ext6 srh:$HOP udp $PEER $((P + 1))         # HOP, another port

# --- 1c. a raw socket's header chain ---------------------------------------------
expect EPERM in_unit raw6 $HOP $P 7                # 7 Destination Options headers, then UDP
expect ok in_unit raw6 $PEER $((P + 2)) 7          # the same chain, a port no rule denies
expect EPERM in_unit raw6 $PEER $((P + 2)) 9       # 9 headers: past what is walked

# --- 3a. a dual-stack bind --------------------------------------------------------
Q=$((P + 10))
b1=$(ctl rule add demo.service bind deny 0.0.0.0/0 --port $Q)
expect EPERM in_unit bind 0.0.0.0 $Q
expect EPERM in_unit bind :: $Q                    # [::] takes IPv4 too
expect ok in_unit bind-v6only :: $Q                # ... unless IPV6_V6ONLY

# --- 3b. listen(2) without bind(2) ------------------------------------------------
b2=$(ctl rule add demo.service bind deny 127.0.0.0/8)
expect EPERM in_unit bind 127.0.0.1 $((Q + 1))
in_unit listen-auto 0.0.0.0 20 >"$TMP/auto" &
BG_PIDS+=($!)
for _ in $(seq 40); do grep -q '^port ' "$TMP/auto" && break; sleep 0.05; done
AP=$(sed -n 's/^port //p' "$TMP/auto")
[ -n "$AP" ] || fail "listen-auto did not listen: $(cat "$TMP/auto")"
expect ETIMEDOUT "$PROBE" connect 127.0.0.1 "$AP"  # to a denied local address
expect ok peer connect 169.254.78.1 "$AP"          # to one no rule denies

# --- what the audit says -----------------------------------------------------------
# rows N WHERE: audit rows matching count at least N denials, within 5 s (the agent stores
# denials in batches). Where the number of denials is known it is checked
# exactly; a refused SYN is retransmitted, so the autobind row is "at least".
rows() {
	local n
	for _ in $(seq 50); do
		n=$(sql "select ifnull(sum(count), 0) from audit where $2")
		[ "$n" -ge "$1" ] && return 0
		sleep 0.1
	done
	echo "only $n audit rows where $2" >&2
	return 1
}
# exactly N WHERE: N rows, no more, once the agent has stored what it has.
exactly() {
	local n
	rows "$1" "$2" || return 1
	sleep 0.5
	n=$(sql "select ifnull(sum(count), 0) from audit where $2")
	[ "$n" = "$1" ] || { echo "$n audit rows where $2, expected $1" >&2; return 1; }
}
exactly 3 "hook='ingress_skb' and rule_id=$in1 and port=$P and protocol='udp'" ||
	fail "ingress denials behind extension headers are not audited with their port and rule"
exactly 2 "hook='egress_skb' and rule_id=$eg1 and address='$HOP' and port=$P" ||
	fail "no egress audit row for the routing header's first hop"
exactly 1 "hook='egress_skb' and rule_id=$eg2 and address='$MID'" ||
	fail "no egress audit row naming the routing header's later hop"
exactly 1 "hook='bind6' and rule_id=$b1 and address='0.0.0.0' and port=$Q" ||
	fail "no bind6 audit row for the dual-stack bind"
rows 1 "hook='ingress_skb' and direction='bind' and rule_id=$b2 and port=$AP" ||
	fail "no audit row for the connection request to the autobound listener"
j=$(journal_last --since "@$START" UNITGUARD_UNIT=demo.service UNITGUARD_HOOK=egress_skb \
	UNITGUARD_ADDRESS=$PEER UNITGUARD_PORT=0)
[[ "$(jq -r .MESSAGE <<<"$j")" == *"IPv6 header chain not walkable"* ]] ||
	fail "the unwalkable chain's denial is not journaled as such: $(jq -r .MESSAGE <<<"$j")"
pass "audit rows name the rule, the port behind the headers, the hop, the bind"

# --- what is left open is shown in status, per target ------------------------------
# status exits 3 where a target is not fully in force: the LSM rules below, on
# a kernel without BPF LSM.
st() { ctl status "$@" || [ $? = 3 ]; }
open_of() { st --json | jq -r '.units[] | select(.target == "demo.service") | .open | join(",")'; }
o=$(open_of)
[ "$o" = "packet,xdp,tun,foreign-socket,udp-autobind,cgroup-escape" ] || fail "status open: '$o'"
"$CTL" --db "$DB" --no-wait rule add demo.service family deny packet >/dev/null
"$CTL" --db "$DB" --no-wait rule add demo.service egress deny 192.0.2.0/24 >/dev/null
o=$(open_of)
[ "$o" = "xdp,tun,nat64,foreign-socket,udp-autobind,cgroup-escape" ] || fail "status open after family deny packet and an IPv4 egress rule: '$o'"
"$CTL" --db "$DB" --no-wait rule add demo.service egress deny 64:ff9b::/96 >/dev/null
[ "$(open_of)" = "xdp,tun,foreign-socket,udp-autobind,cgroup-escape" ] || fail "status open after denying NAT64: '$(open_of)'"
st | grep -q "^    open: xdp, tun, foreign-socket, udp-autobind, cgroup-escape$" || fail "status text lacks the open line"
st | grep -q "^  nat64 " && fail "status text explains a limit no target has"
pass "status names what each target leaves open, and stops when a rule closes it"
# A path rule through a symlink never matches (the kernel sees the resolved path).
if [ "$(readlink -f /bin/ls)" = /usr/bin/ls ]; then
	"$CTL" --db "$DB" --no-wait rule add demo.service file deny /bin/ls >/dev/null 2>"$TMP/err"
	grep -q "/bin/ls resolves to /usr/bin/ls" "$TMP/err" || fail "no warning for a symlinked path: $(cat "$TMP/err")"
	[[ "$(open_of)" == *symlink* ]] || fail "status does not show the symlinked path rule: $(open_of)"
	pass "a rule on /bin/ls warns that it resolves to /usr/bin/ls; status shows it"
fi
echo "PASS: $TEST_NAME"
