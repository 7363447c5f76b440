#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A deny rule for demo.service: TCP connect, UDP send and ICMP from inside the
# unit's cgroup are refused with EPERM, other destinations and other cgroups
# are not; the denial reaches the journal and the audit table; deleting the
# rule restores access and detaches the programs.
. "$(dirname "$0")/lib.sh"
setup_kernel

CG=$(make_cgroup demo.service)
PORT=47$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$PORT"
listen_bg :: "$PORT"
START=$(date +%s)
start_agent

in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
outside() { "$PROBE" "$@"; }

# Before any rule: no program on the cgroup, everything passes.
[ -z "$(bpftool cgroup show "$CG")" ] || fail "programs attached to a unit with no rules"
expect ok in_unit connect 127.0.0.2 "$PORT"

ID=$("$CTL" --db "$DB" rule add demo.service egress deny 127.0.0.2)
ID6=$("$CTL" --db "$DB" rule add demo.service egress deny ::1/128)
[[ $ID =~ ^[0-9]+$ ]] || fail "rule add printed '$ID', not an id"
t0=$(date +%s%N)
wait_for EPERM in_unit connect 127.0.0.2 "$PORT"
echo "enforced $(( ($(date +%s%N) - t0) / 1000000 )) ms after rule add"
maybe_sabotage

expect EPERM in_unit connect 127.0.0.2 "$PORT"
expect ok in_unit connect 127.0.0.1 "$PORT"
expect EPERM in_unit udp 127.0.0.2 9
expect ok in_unit udp 127.0.0.1 9
expect EPERM in_unit icmp 127.0.0.2
expect ok in_unit icmp 127.0.0.1
expect EPERM in_unit connect ::1 "$PORT"
expect EPERM in_unit udp ::1 9
# A dual-stack socket reaching IPv4 through a mapped address meets the IPv4 rule.
expect EPERM in_unit connect ::ffff:127.0.0.2 "$PORT"
expect ok in_unit connect ::ffff:127.0.0.1 "$PORT"
# The same client outside the unit is unaffected.
expect ok outside connect 127.0.0.2 "$PORT"
expect ok outside udp 127.0.0.2 9
expect ok outside icmp 127.0.0.2
expect ok outside connect ::1 "$PORT"

# A cgroup created below the unit later is covered without the agent noticing.
SUB=$(make_cgroup demo.service/worker)
expect EPERM "$PROBE" --cgroup "$SUB" connect 127.0.0.2 "$PORT"

# Audit table: rows written in batches within about a quarter second.
sleep 0.6
n=$(sql "select count(*) from audit where unit='demo.service' and hook='connect4' and
	address='127.0.0.2' and port=$PORT and verdict='deny' and rule_id=$ID and
	comm='ugprobe' and protocol='tcp' and family='ipv4' and pid > 0")
[ "$n" -ge 1 ] || fail "no connect4 audit row (have: $(sql 'select * from audit'))"
pass "audit table: $n connect4 rows for rule $ID"
for hook in sendmsg4 egress_skb connect6 sendmsg6; do
	n=$(sql "select count(*) from audit where unit='demo.service' and hook='$hook'")
	[ "$n" -ge 1 ] || fail "no $hook audit row"
done
n=$(sql "select count(*) from audit where hook='egress_skb' and protocol='icmp' and address='127.0.0.2'")
[ "$n" -ge 1 ] || fail "no ICMP audit row"
n=$(sql "select count(*) from audit where hook='connect6' and address='::1' and rule_id=$ID6")
[ "$n" -ge 1 ] || fail "no IPv6 audit row naming rule $ID6"
pass "audit table: sendmsg4, egress_skb (icmp), connect6, sendmsg6 rows"

# Journal: `journalctl -u demo.service` lists the entry, with its fields.
j=$(journal_last -u demo.service --since "@$START" \
	UNITGUARD_HOOK=connect4 UNITGUARD_RULE_ID="$ID" UNITGUARD_CGROUP_ID="$(stat -c %i "$CG")")
[ -n "$j" ] || fail "journalctl -u demo.service shows no connect4 denial"
check_field() {
	local got
	got=$(jq -r ".$1" <<<"$j")
	[ "$got" = "$2" ] || fail "journal field $1 is '$got', expected '$2'"
}
check_field MESSAGE_ID e4f7245c5540461cabebc455afe162d5
check_field PRIORITY 4
check_field OBJECT_SYSTEMD_UNIT demo.service
check_field UNITGUARD_UNIT demo.service
check_field UNITGUARD_ADDRESS 127.0.0.2
check_field UNITGUARD_PORT "$PORT"
check_field UNITGUARD_PROTOCOL tcp
check_field UNITGUARD_FAMILY ipv4
check_field UNITGUARD_DIRECTION egress
check_field UNITGUARD_VERDICT deny
check_field UNITGUARD_COMM ugprobe
check_field UNITGUARD_CGROUP_ID "$(stat -c %i "$CG")"
[ "$(jq -r .UNITGUARD_GENERATION <<<"$j")" -ge 1 ] || fail "no generation in the journal entry"
[ "$(jq -r .UNITGUARD_PID <<<"$j")" -gt 0 ] || fail "no pid in the journal entry"
grep -q "denied egress connect4 tcp to 127.0.0.2" <<<"$(jq -r .MESSAGE <<<"$j")" ||
	fail "unreadable MESSAGE: $(jq -r .MESSAGE <<<"$j")"
pass "journal entry with MESSAGE_ID, PRIORITY=4, OBJECT_SYSTEMD_UNIT and UNITGUARD_* fields"

# Deleting the rules restores access and removes the programs.
"$CTL" --db "$DB" rule del "$ID"
wait_for ok in_unit connect 127.0.0.2 "$PORT"
expect EPERM in_unit connect ::1 "$PORT"
"$CTL" --db "$DB" rule del "$ID6"
wait_for ok in_unit connect ::1 "$PORT"
for i in $(seq 40); do
	[ -z "$(bpftool cgroup show "$CG")" ] && break
	sleep 0.05
done
[ -z "$(bpftool cgroup show "$CG")" ] || fail "programs still attached after the last rule went"
pass "rule del restores access; no program left on the cgroup"
echo "PASS: $TEST_NAME"
