#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Crash consistency (issue 7): SIGKILL at a random point while the agent puts
# a 10 000-rule change in the kernel leaves the kernel holding one whole
# generation, the old one or the new one, never a mix; a restarted agent
# converges to the store; tries a killed agent left half-written are deleted.
# Policy A denies 10 000 addresses in 127.10.0.0/16, policy B 10 000 in
# 127.20.0.0/16. After each kill, 20 addresses of each are probed.
. "$(dirname "$0")/lib.sh"
setup_kernel

CG=$(make_cgroup demo.service)
PORT=48$((RANDOM % 900 + 100))
listen_bg 0.0.0.0 "$PORT"
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
ctl() { "$CTL" --db "$DB" "$@"; }

policy() { # policy NET: 10 000 /32 denies in 127.NET.0.0/16
	echo "version: 1"
	echo "units:"
	echo "  - target: demo.service"
	echo "    rules:"
	for x in $(seq 0 39); do
		for y in $(seq 0 249); do
			echo "      - {direction: egress, action: deny, prefix: 127.$1.$x.$y}"
		done
	done
}
policy 10 >"$TMP/a.yaml"
policy 20 >"$TMP/b.yaml"
SAMPLE=$(for i in $(seq 20); do echo "$((RANDOM % 40)).$((RANDOM % 250))"; done)

# Which policy the kernel holds: "A", "B", or "mixed: ..." (prints the counts).
holds() {
	local a=0 b=0 s
	for s in $SAMPLE; do
		[ "$(in_unit connect 127.10."$s" "$PORT" || true)" = EPERM ] && a=$((a + 1))
		[ "$(in_unit connect 127.20."$s" "$PORT" || true)" = EPERM ] && b=$((b + 1))
	done
	if [ $a = 20 ] && [ $b = 0 ]; then echo A
	elif [ $a = 0 ] && [ $b = 20 ]; then echo B
	else echo "mixed: $a of 20 A-addresses and $b of 20 B-addresses denied"
	fi
}

start_agent
ctl apply "$TMP/a.yaml" >/dev/null
maybe_sabotage
expect EPERM in_unit connect "127.10.$(head -n 1 <<<"$SAMPLE")" "$PORT"
[ "$(holds)" = A ] || fail "policy A not in force: $(holds)"
old=0 new=0
rounds=8
[ "$SANITIZED" = 1 ] && rounds=3
for round in $(seq $rounds); do
	ctl --no-wait apply "$TMP/b.yaml" >/dev/null
	sleep "0.0$((RANDOM % 90 + 10))"
	kill -KILL "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=
	got=$(holds)
	case $got in
	A) old=$((old + 1)) ;;
	B) new=$((new + 1)) ;;
	*) fail "round $round: after SIGKILL the kernel holds $got" ;;
	esac
	start_agent
	# Converged: a change acknowledged now is in force on top of B.
	ctl rule add demo.service egress deny 127.0.0.250 >/dev/null
	[ "$(holds)" = B ] || fail "round $round: the restarted agent did not converge to B: $(holds)"
	ctl apply "$TMP/a.yaml" >/dev/null
	[ "$(holds)" = A ] || fail "round $round: A not back in force: $(holds)"
done
pass "$rounds kills during a 10 000-rule change: the kernel held one whole generation each time ($old old, $new new); every restart converged"

# Half-written tries are deleted once the grace period is over: what is
# left is the unit's live trie, its standby and the trie kept by name (and
# its standby): at most 4, about 4 x 10 000 entries.
tries() { bpftool -j map dump pinned "$PIN/maps/ug_lpm" | jq -r '[.[] | .key[4] + .key[5] * 256] | unique | length'; }
for i in $(seq 30); do
	n=$(tries)
	[ "$n" -le 4 ] && break
	sleep 0.2
done
[ "$n" -le 4 ] || fail "ug_lpm holds $n tries after $rounds crashes, expected at most 4"
pass "no half-written trie left behind ($n tries in ug_lpm)"
echo "PASS: $TEST_NAME"
