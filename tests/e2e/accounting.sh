#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# IP accounting is exact: a known number of datagrams of a known size reads
# back as exactly that many packets and bytes (bytes = IP packet: payload +
# 8 UDP + 20 IPv4 or 40 IPv6 header), allowed and dropped apart, per
# direction; rule hits count decisions; snapshots reach the accounting table.
. "$(dirname "$0")/lib.sh"
setup_kernel

CG=$(make_cgroup demo.service)
P=53$((RANDOM % 900 + 100))
# Receivers outside the unit, so the unit's traffic is one-way and no ICMP
# errors come back.
"$PROBE" udp-recv 127.0.0.1 "$P" 60 >/dev/null &
BG_PIDS+=($!)
"$PROBE" udp-recv ::1 "$P" 60 >/dev/null &
BG_PIDS+=($!)
start_agent --stats-interval 1
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }

allow=$(ctl rule add demo.service egress allow 127.0.0.1 --proto udp)
deny=$(ctl rule add demo.service egress deny 127.0.0.9)
wait_for EPERM in_unit connect 127.0.0.9 "$P"
maybe_sabotage
stats() { ctl stats demo.service --json; }
field() { jq -r ".units[0].$1" <<<"$(stats)"; }
e0=$(field egress.allowed_bytes); p0=$(field egress.allowed_packets)
d0=$(field egress.dropped_bytes); dp0=$(field egress.dropped_packets)
h0=$(ctl stats --json | jq -r ".rules[] | select(.id == $allow) | .hits")

# 37 datagrams of 1000 bytes to an allowed address (sendmsg4 + egress skb).
expect ok in_unit udp-send 127.0.0.1 "$P" 37 1000
# 5 ICMP echoes to the denied address: dropped at packet level, 28 bytes each.
for i in 1 2 3 4 5; do expect EPERM in_unit icmp 127.0.0.9; done
# 11 IPv6 datagrams of 300 bytes: 300 + 8 + 40.
expect ok in_unit udp-send ::1 "$P" 11 300

[ "$(field egress.allowed_packets)" = $((p0 + 37 + 11)) ] ||
	fail "allowed packets $(field egress.allowed_packets), expected $((p0 + 48))"
[ "$(field egress.allowed_bytes)" = $((e0 + 37 * 1028 + 11 * 348)) ] ||
	fail "allowed bytes $(field egress.allowed_bytes), expected $((e0 + 37 * 1028 + 11 * 348))"
[ "$(field egress.dropped_packets)" = $((dp0 + 5)) ] ||
	fail "dropped packets $(field egress.dropped_packets), expected $((dp0 + 5))"
[ "$(field egress.dropped_bytes)" = $((d0 + 5 * 28)) ] ||
	fail "dropped bytes $(field egress.dropped_bytes), expected $((d0 + 140))"
[ "$(field ingress.allowed_packets)" = 0 ] || fail "ingress counted one-way egress traffic"
pass "egress: 48 packets / $((37 * 1028 + 11 * 348)) bytes allowed, 5 / 140 dropped, exactly"

# Each datagram is decided twice (sendmsg4, then egress skb) by the allow rule.
h1=$(ctl stats --json | jq -r ".rules[] | select(.id == $allow) | .hits")
[ "$h1" = $(( ${h0:-0} + 37 * 2 )) ] || fail "rule $allow hits $h1, expected $(( ${h0:-0} + 74 ))"
pass "rule hits: $h1"

# Ingress: 23 datagrams of 500 bytes from outside to a receiver inside the unit.
"$PROBE" --cgroup "$CG" udp-recv 127.0.0.1 "$((P + 1))" 3 >"$TMP/recv" &
RECV=$!
sleep 0.3
i0=$(field ingress.allowed_bytes)
expect ok "$PROBE" udp-send 127.0.0.1 "$((P + 1))" 23 500
wait $RECV
[ "$(cat "$TMP/recv" | tail -n 1)" = "23 11500" ] || fail "receiver got $(tail -n 1 "$TMP/recv")"
[ "$(field ingress.allowed_bytes)" = $((i0 + 23 * 528)) ] ||
	fail "ingress bytes $(field ingress.allowed_bytes), expected $((i0 + 23 * 528))"
pass "ingress: 23 packets / $((23 * 528)) bytes, exactly"

# Snapshots (every second here) carry the same numbers into SQL.
want=$(field egress.allowed_bytes)
for i in $(seq 60); do
	got=$(sql "select allowed_bytes from accounting where unit='demo.service' and direction='egress'
		order by id desc limit 1")
	[ "$got" = "$want" ] && break
	sleep 0.1
done
[ "$got" = "$want" ] || fail "accounting table has '$got' egress bytes, live counters $want"
[ "$(sql "select generation from accounting where unit='demo.service' order by id desc limit 1")" -ge 1 ] ||
	fail "accounting rows carry no generation"
[ "$(sql "select max(hits) from rule_hits where rule_id=$allow")" -ge 74 ] || fail "rule_hits not persisted"
pass "accounting and rule_hits tables match the live counters"

# The final counts of cgroups that go reach the table, also when the store
# is locked while they go, and when more than 64 go in one interval (issue
# 21: both were lost). 80 units below a slice send 3 datagrams each; the
# store is locked by another writer; all 80 cgroups go; the lock lasts
# longer than a snapshot interval; then every one has its final row.
SL=$(make_cgroup ugacct.slice)
ctl unit set ugacct.slice --default-egress deny >/dev/null
ctl rule add ugacct.slice egress allow 127.0.0.1 --proto udp >/dev/null
for i in $(seq 80); do
	mkdir "$SL/ugacct-$i.service"
	echo "$SL/ugacct-$i.service" >>"$TMP/cgroups"
	ctl --no-wait unit set "ugacct-$i.service" --default-egress deny >/dev/null
done
ctl unit set ugacct-1.service --default-egress deny >/dev/null # waits for all of them
for i in $(seq 80); do
	"$PROBE" --cgroup "$SL/ugacct-$i.service" udp-send 127.0.0.1 "$P" 3 100 >/dev/null
done
python3 -c "
import sqlite3, time, os
c = sqlite3.connect('$DB', isolation_level=None, timeout=10)
c.execute('BEGIN EXCLUSIVE')
open('$TMP/locked', 'w').close()
while not os.path.exists('$TMP/unlock'):
    time.sleep(0.05)
c.execute('COMMIT')
" &
LOCKER=$!
for _ in $(seq 100); do [ -e "$TMP/locked" ] && break; sleep 0.05; done
for i in $(seq 80); do rmdir "$SL/ugacct-$i.service"; done
sleep 2.5 # snapshots meanwhile fail: the store is locked
touch "$TMP/unlock"
wait $LOCKER
finals() { # units of ugacct.slice whose last egress row has their 3 datagrams
	sql "select count(*) from (select unit, allowed_packets from accounting a
		where unit like 'ugacct-%' and direction = 'egress' and id = (select max(id)
		from accounting b where b.unit = a.unit and b.cgroup_id = a.cgroup_id and
		b.direction = a.direction))
		where allowed_packets = 3"
}
for _ in $(seq 100); do [ "$(finals)" = 80 ] && break; sleep 0.05; done
[ "$(finals)" = 80 ] || fail "final counts stored for $(finals) of 80 removed cgroups"
pass "80 cgroups gone in one interval, the store locked meanwhile: every final count stored"
echo "PASS: $TEST_NAME"
