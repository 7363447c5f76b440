#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The metrics: `unitguardctl metrics` and the agent's HTTP listener
# (--metrics-listen) print the same Prometheus text, which promtool accepts;
# its values are right: a unit's denials are exactly the denials made, its
# packets and bytes exactly the traffic sent, its state enforced, the apply
# latency counted once per change; label values are escaped; GET /metrics
# only (404, 405); an idle client does not hold a scrape up; bad
# --metrics-listen values are refused with exit 2.
. "$(dirname "$0")/lib.sh"
setup_kernel
require_tools curl promtool

# Refused before anything starts (no lock, no pins).
for bad in localhost:9187 127.0.0.1 ::1:9187 '[::1]' 127.0.0.1:0 127.0.0.1:65536 '[::1]:x' \
	'[fe80::1%lo]:9187' 10.1:80 ''; do
	st=0
	"$AGENT" --db "$DB" --pin-dir "$PIN" --metrics-listen "$bad" 2>"$TMP/err" || st=$?
	[ $st = 2 ] || fail "--metrics-listen '$bad': exit $st, expected 2"
	grep -q "invalid --metrics-listen" "$TMP/err" || fail "--metrics-listen '$bad': $(cat "$TMP/err")"
done
pass "bad --metrics-listen values: exit 2 with a message"

CG=$(make_cgroup metrics-demo.service)
P=54$((RANDOM % 900 + 100))
"$PROBE" udp-recv 127.0.0.1 "$P" 60 >/dev/null &
BG_PIDS+=($!)
# A free port for the listener.
for MPORT in $(shuf -i 20000-29999 -n 20); do
	! ss -Htln "sport = :$MPORT" | grep -q . && break
done
start_agent --metrics-listen "127.0.0.1:$MPORT" --stats-interval 1
grep -q "metrics: serving http://127.0.0.1:$MPORT/metrics" "$TMP/agent.log" ||
	fail "the agent does not say it serves the metrics"
URL=http://127.0.0.1:$MPORT/metrics
ctl() { "$CTL" --db "$DB" "$@"; }
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
# val FILE SERIES: the sample's value ('' when absent).
val() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
U='unit="metrics-demo.service"'

# In force when it returns: every denial below is counted, and only those.
ctl rule add metrics-demo.service egress deny 127.0.0.9 >/dev/null
maybe_sabotage
# Packet counters from before, read by `stats` (not the code under test).
stats() { ctl stats metrics-demo.service --json | jq -r ".units[0].egress.$1"; }
ap0=$(stats allowed_packets); ab0=$(stats allowed_bytes)
dp0=$(stats dropped_packets); db0=$(stats dropped_bytes)
[ -n "$ap0" ] && [ "$ap0" != null ] || fail "no counters for the unit: $(ctl stats --json)"

# Denials: 3 connects, 40 UDP sends, 2 ICMP echoes (dropped at packet level).
for i in 1 2 3; do expect EPERM in_unit connect 127.0.0.9 "$P"; done
expect "refused 40" in_unit flood 127.0.0.9 "$P" 40
for i in 1 2; do expect EPERM in_unit icmp 127.0.0.9; done
made=$((3 + 40 + 2))
# Allowed: 17 datagrams of 100 bytes (+ 8 UDP + 20 IPv4).
expect ok in_unit udp-send 127.0.0.1 "$P" 17 100

# The kernel aggregates repeated denials for up to a second: wait for the
# count to reach what was made, then it must be exactly that.
for _ in $(seq 100); do
	ctl metrics >"$TMP/m1"
	n=$(val "$TMP/m1" "unitguard_denials_total{$U}")
	[ "${n:-0}" -ge "$made" ] && break
	sleep 0.1
done
sleep 0.5
ctl metrics >"$TMP/m1"
curl -sS -D "$TMP/h1" -o "$TMP/w1" "$URL" || fail "curl $URL failed"

for f in m1 w1; do
	promtool check metrics <"$TMP/$f" >"$TMP/lint" 2>&1 ||
		fail "promtool check metrics on $f: $(cat "$TMP/lint")"
	got=$(val "$TMP/$f" "unitguard_denials_total{$U}")
	[ "$got" = "$made" ] || fail "$f: denials $got, made $made"
	[ "$(val "$TMP/$f" "unitguard_audit_lost_total{$U}")" = 0 ] || fail "$f: lost denials"
	for s in enforced partial waiting refused unresolved; do
		want=0
		[ $s = enforced ] && want=1
		got=$(val "$TMP/$f" "unitguard_unit_state{$U,state=\"$s\"}")
		[ "$got" = $want ] || fail "$f: state $s is '$got', expected $want"
	done
	got=$(val "$TMP/$f" "unitguard_packets_total{$U,direction=\"egress\",verdict=\"allowed\"}")
	[ "$got" = $((ap0 + 17)) ] || fail "$f: allowed packets $got, expected $((ap0 + 17))"
	got=$(val "$TMP/$f" "unitguard_bytes_total{$U,direction=\"egress\",verdict=\"allowed\"}")
	[ "$got" = $((ab0 + 17 * 128)) ] || fail "$f: allowed bytes $got, expected $((ab0 + 17 * 128))"
	got=$(val "$TMP/$f" "unitguard_packets_total{$U,direction=\"egress\",verdict=\"dropped\"}")
	[ "$got" = $((dp0 + 2)) ] || fail "$f: dropped packets $got, expected $((dp0 + 2))"
	got=$(val "$TMP/$f" "unitguard_bytes_total{$U,direction=\"egress\",verdict=\"dropped\"}")
	[ "$got" = $((db0 + 2 * 28)) ] || fail "$f: dropped bytes $got, expected $((db0 + 56))"
	[ "$(val "$TMP/$f" unitguard_agent_up)" = 1 ] || fail "$f: agent not up"
	age=$(val "$TMP/$f" unitguard_agent_heartbeat_age_seconds)
	awk -v a="$age" 'BEGIN { exit !(a >= 0 && a < 3) }' || fail "$f: heartbeat age '$age'"
	gen=$(sql "select value from agent_state where key = 'generation'")
	[ "$(val "$TMP/$f" unitguard_generation)" = "$gen" ] && [ "$gen" -ge 1 ] ||
		fail "$f: generation $(val "$TMP/$f" unitguard_generation), agent_state $gen"
	[ "$(val "$TMP/$f" unitguard_applied_policy_version)" = \
		"$(val "$TMP/$f" unitguard_policy_version)" ] || fail "$f: the change is not acknowledged"
	# One policy change made while the agent ran: one latency sample, in a finite bucket.
	[ "$(val "$TMP/$f" unitguard_apply_latency_seconds_count)" = 1 ] ||
		fail "$f: apply latency count $(val "$TMP/$f" unitguard_apply_latency_seconds_count)"
	[ "$(val "$TMP/$f" 'unitguard_apply_latency_seconds_bucket{le="10"}')" = 1 ] ||
		fail "$f: the apply took more than 10 s"
done
pass "denials $made, egress 17/$((17 * 128)) allowed and 2/56 dropped, enforced, in both texts"

# The same text both ways (but for the heartbeat's age, read at another moment).
diff <(grep -v heartbeat_age "$TMP/m1") <(grep -v heartbeat_age "$TMP/w1") >"$TMP/diff" ||
	fail "unitguardctl metrics and GET /metrics differ: $(head -n 20 "$TMP/diff")"
pass "unitguardctl metrics = GET /metrics"
grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$TMP/h1" ||
	fail "content type: $(grep -i content-type "$TMP/h1")"
pass "content type text/plain; version=0.0.4"

# Only GET /metrics.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "http://127.0.0.1:$MPORT/")" = 404 ] || fail "GET / did not get 404"
[ "$(code "http://127.0.0.1:$MPORT/metricsx")" = 404 ] || fail "GET /metricsx did not get 404"
[ "$(code -X POST -d x=1 "$URL")" = 405 ] || fail "POST /metrics did not get 405"
[ "$(code -X DELETE "$URL")" = 405 ] || fail "DELETE /metrics did not get 405"
curl -s -D - -o /dev/null -X PUT "$URL" | grep -qi '^allow: GET' || fail "405 without Allow: GET"
pass "404 for other paths, 405 (Allow: GET) for other methods"

# A client that connects and sends nothing does not hold the next scrape up.
exec 7<>"/dev/tcp/127.0.0.1/$MPORT"
t0=$(date +%s%N)
curl -sS -m 5 -o /dev/null "$URL" || fail "a scrape beside an idle connection failed"
ms=$((($(date +%s%N) - t0) / 1000000))
exec 7>&-
[ $ms -lt 2000 ] || fail "a scrape beside an idle connection took $ms ms"
pass "scrape beside an idle connection: $ms ms"

# Eight connections from eight loopback addresses (the per-address limit is
# two), each trickling a header byte every 2 s, so none is ever idle: they
# hold every connection the listener takes. Each is shut down 10 s after it
# was accepted (issue 21: they held them for as long as they liked), so a
# scrape gets in then, while the trickler goes on for 30 s.
python3 - "$MPORT" <<'PY' &
import socket, sys, time
port, socks = int(sys.argv[1]), []
for i in range(2, 10):
    s = socket.socket()
    s.bind(("127.0.0.%d" % i, 0))
    s.connect(("127.0.0.1", port))
    s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
end = time.time() + 30
while time.time() < end:
    for s in socks:
        try:
            s.send(b"X")
        except OSError:
            pass
    time.sleep(2)
PY
BG_PIDS+=($!)
sleep 1
t0=$(date +%s%N)
got=no
for _ in $(seq 40); do
	curl -sS -m 1 -o /dev/null "$URL" 2>/dev/null && { got=yes; break; }
	sleep 0.5
done
ms=$((($(date +%s%N) - t0) / 1000000))
[ $got = yes ] || fail "no scrape got in while eight trickling connections were held ($ms ms)"
pass "eight trickling connections: a scrape got in after $ms ms (each is shut 10 s after it came)"

# Label values as the format wants them: \\, \", \n escaped, and a byte that
# is not UTF-8 replaced (a raw sqlite3 session can write any target).
sql "insert into status (target, enforced, state) values
	('x\"y\\z' || char(10) || 'w' || cast(x'ff' as text), 0, 'waiting')"
ctl metrics >"$TMP/m2"
curl -sS -o "$TMP/w2" "$URL"
for f in m2 w2; do
	promtool check metrics <"$TMP/$f" >"$TMP/lint" 2>&1 ||
		fail "promtool check metrics on $f with an odd label: $(cat "$TMP/lint")"
	grep -qF "unitguard_unit_state{unit=\"x\\\"y\\\\z\\nw"$'\xef\xbf\xbd'"\",state=\"waiting\"} 1" \
		"$TMP/$f" || fail "$f: label not escaped: $(grep -a 'unit="x' "$TMP/$f" | head -n 2)"
done
sql "delete from status where target like 'x\"y%'"
pass "label values escaped, invalid UTF-8 replaced"

# The agent stopped: the CLI still prints the store's view, with up 0.
stop_agent
ctl metrics >"$TMP/m3"
promtool check metrics <"$TMP/m3" >"$TMP/lint" 2>&1 || fail "promtool, agent stopped: $(cat "$TMP/lint")"
[ "$(val "$TMP/m3" unitguard_agent_up)" = 0 ] || fail "agent_up $(val "$TMP/m3" unitguard_agent_up) after it stopped"
[ "$(val "$TMP/m3" "unitguard_denials_total{$U}")" = "$made" ] || fail "denials changed after the stop"
pass "agent stopped: up 0, the counts stay"
echo "PASS: $TEST_NAME"
