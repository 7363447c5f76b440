#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 10, a fleet: denials reach a central host through
# systemd-journal-upload -> systemd-journal-remote, both ends on loopback
# (plain HTTP on 127.0.0.1). A denial arrives whole: the remote entry has the
# local entry's fields, every one, and they are the denial that was made.
# The uploader's state file makes a second run send only what is new: after
# two uploads the central journal holds every local entry of the window
# exactly once, except the one entry a restarted uploader sends again.
# journal-upload needs no systemd as PID 1: both run here as plain processes.
. "$(dirname "$0")/lib.sh"
setup_kernel
REMOTE=/lib/systemd/systemd-journal-remote
UPLOAD=/lib/systemd/systemd-journal-upload
[ -x "$REMOTE" ] && [ -x "$UPLOAD" ] ||
	skip "needs $REMOTE and $UPLOAD (Debian package systemd-journal-remote)"
require_tools ss timeout hostname

# The central host: one output file, whatever host the entries come from.
mkdir "$TMP/remote"
CENTRAL=$TMP/remote/central.journal
for RPORT in $(shuf -i 30000-39999 -n 20); do
	! ss -Htln "sport = :$RPORT" | grep -q . && break
done
"$REMOTE" --listen-http="127.0.0.1:$RPORT" --split-mode=none --output="$CENTRAL" \
	>"$TMP/remote.log" 2>&1 &
BG_PIDS+=($!)
for _ in $(seq 100); do
	ss -Htln "sport = :$RPORT" | grep -q . && break
	kill -0 "${BG_PIDS[-1]}" 2>/dev/null || fail "journal-remote exited: $(cat "$TMP/remote.log")"
	sleep 0.05
done
ss -Htln "src 127.0.0.1 and sport = :$RPORT" | grep -q . ||
	fail "journal-remote does not listen on 127.0.0.1:$RPORT"

STATE=$TMP/upload.state
# --follow=no: send what is there and exit (the default follows for ever).
upload() { timeout 60 "$UPLOAD" --url="http://127.0.0.1:$RPORT" --follow=no \
	--save-state="$STATE" "$@" >>"$TMP/upload.log" 2>&1 ||
	fail "journal-upload failed: $(tail -n 5 "$TMP/upload.log")"; }
# mark TEXT: a local entry of our own; prints its cursor.
mark() {
	printf 'MESSAGE=%s\nSYSLOG_IDENTIFIER=ug-e2e-fleet\n' "$1" | logger --journald
	journal_last MESSAGE="$1" | jq -r .__CURSOR
}
# An entry's identity on both hosts: its cursor without the seqnum (s=, i=),
# which the central journal assigns anew; time, boot and content hash stay.
KEY='.__CURSOR | sub("^s=[^;]*;i=[^;]*;"; "")'
central() { journalctl --file="$CENTRAL" -o json --no-pager "$@"; }

# The window to upload starts here: the host's journal before it is not ours.
START=$(mark "ug-e2e-fleet $$ start")
[ -n "$START" ] && [ "$START" != null ] || fail "cannot read back a marker entry"

CG=$(make_cgroup fleet-demo.service)
in_unit() { "$PROBE" --cgroup "$CG" "$@"; }
start_agent
ID=$("$CTL" --db "$DB" rule add fleet-demo.service egress deny 127.0.0.9)
P1=48$((RANDOM % 900 + 100))
P2=$((P1 + 1))
expect EPERM in_unit connect 127.0.0.9 "$P1"

# denial PORT: the local journal entry of the connect to 127.0.0.9:PORT.
denial() { journal_last MESSAGE_ID=e4f7245c5540461cabebc455afe162d5 \
	UNITGUARD_UNIT=fleet-demo.service UNITGUARD_PORT="$1"; }
L1=$(denial "$P1")
[ -n "$L1" ] || fail "no local journal entry for the denial"
# journal-upload starts each run AT the entry its state names, so the last
# entry of a run is sent again by the next (since systemd v246, commit
# bc48b25afd "fix dropping first record", which made the cursor case skip one
# entry too few; Debian 12 has 252). A marker after the denial keeps the
# denial from being that entry, so its count below says what the state does.
mark "ug-e2e-fleet $$ fence" >/dev/null

upload --cursor="$START"
grep -q '^LAST_CURSOR=' "$STATE" || fail "no LAST_CURSOR in the state file: $(cat "$STATE")"
LAST1=$(sed -n 's/^LAST_CURSOR=//p' "$STATE")

K1=$(jq -r "$KEY" <<<"$L1")
n=$(central | jq -r "$KEY" | grep -cxF "$K1" || true)
[ "$n" = 1 ] || fail "the denial is in the central journal $n times after one upload"
R1=$(central MESSAGE_ID=e4f7245c5540461cabebc455afe162d5 UNITGUARD_PORT="$P1" | tail -n 1)
check_field() {
	local got
	got=$(jq -r ".$1" <<<"$R1")
	[ "$got" = "$2" ] || fail "central journal: $1 is '$got', expected '$2'"
}
check_field MESSAGE_ID e4f7245c5540461cabebc455afe162d5
check_field PRIORITY 4
check_field OBJECT_SYSTEMD_UNIT fleet-demo.service
check_field UNITGUARD_UNIT fleet-demo.service
check_field UNITGUARD_CGROUP_ID "$(stat -c %i "$CG")"
check_field UNITGUARD_ADDRESS 127.0.0.9
check_field UNITGUARD_PORT "$P1"
check_field UNITGUARD_PROTOCOL tcp
check_field UNITGUARD_FAMILY ipv4
check_field UNITGUARD_HOOK connect4
check_field UNITGUARD_DIRECTION egress
check_field UNITGUARD_VERDICT deny
check_field UNITGUARD_RULE_ID "$ID"
check_field UNITGUARD_COMM ugprobe
check_field UNITGUARD_COUNT 1
check_field _HOSTNAME "$(hostname)"
pass "the denial reached the central journal with its MESSAGE_ID and UNITGUARD_* fields"
# Whole: every field the local entry has, with its value (the journal's own
# "__" fields aside: the central journal numbers its entries itself).
fields() { jq -S 'with_entries(select(.key | startswith("__") | not))'; }
diff <(fields <<<"$L1") <(fields <<<"$R1") >"$TMP/diff" ||
	fail "the central entry differs from the local one: $(cat "$TMP/diff")"
pass "the central entry has all $(fields <<<"$L1" | jq length) fields of the local one, equal"

# A second denial, then a second run that starts from the state file.
expect EPERM in_unit connect 127.0.0.9 "$P2"
[ -n "$(denial "$P2")" ] || fail "no local journal entry for the second denial"
upload
LAST2=$(sed -n 's/^LAST_CURSOR=//p' "$STATE")
[ "$LAST2" != "$LAST1" ] || fail "the second upload did not advance the state file"
for p in "$P1" "$P2"; do
	n=$(central MESSAGE_ID=e4f7245c5540461cabebc455afe162d5 UNITGUARD_PORT="$p" | wc -l)
	[ "$n" = 1 ] || fail "the denial to port $p is in the central journal $n times"
done
pass "after two uploads each denial is in the central journal once"

# Nothing lost, nothing sent twice: the central journal is the local window
# from START to the state's cursor, entry for entry; the entry the first run
# ended on may come twice (see above).
journalctl --cursor="$START" -o json --no-pager | jq -r "[.__CURSOR, ($KEY)] | @tsv" |
	awk -F '\t' -v last="$LAST2" '!found { print } $1 == last { found = 1 } END { exit !found }' \
	>"$TMP/window" || fail "the state's cursor is not in the local journal"
cut -f 2 "$TMP/window" | sort >"$TMP/local"
B=$(awk -F '\t' -v c="$LAST1" '$1 == c { print $2 }' "$TMP/window")
[ -n "$B" ] || fail "the first run's last cursor is not in the local window"
central | jq -r "$KEY" | sort >"$TMP/central"
if diff "$TMP/local" "$TMP/central" >"$TMP/diff"; then
	note="no entry sent twice"
elif diff <(sort "$TMP/local" - <<<"$B") "$TMP/central" >/dev/null; then
	note="the first run's last entry sent again, as systemd v246+ does"
else
	fail "the central journal is not the local window ($(wc -l <"$TMP/local") entries):
$(head -n 20 "$TMP/diff")"
fi
pass "central journal = local window, $(wc -l <"$TMP/local") entries ($note)"
echo "PASS: $TEST_NAME"
