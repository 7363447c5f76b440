#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 14, VM tier: systemd's own per-unit firewall and unitguard side by side
# in ONE boot of the qemu guest (tests/e2e/vm/run.sh, systemd 252 as PID 1).
# For a running unit that probes all the time, per change (a unit's first
# deny, a later deny, removing one of two, removing the last one):
#   (a) command start to the first probe in the new state,
#   (b) probes still in the old state after the command returned (must be 0),
#   (c) the command's own duration,
# for `systemctl set-property --runtime UNIT IPAddressDeny=...` and for
# `unitguardctl rule add|del` (which returns once the agent has the change
# in force). The guest side is bench/guest-inforce.sh; read its header for
# how the probes work and why they are UDP.
#
# Timings under TCG are emulated, so the result is the ratio
# unitguard/systemd per case, never the absolute figures.
#
# Writes its section of BENCHMARKS.md (between the vm-inforce markers).
# Exits non-zero if any probe got through (or was refused) after a command
# had returned, if a change touched the other address, if a command failed,
# if a change was never seen by the probes, or if "ok" probes and datagrams
# received disagree. Errors and warnings the agent logged are listed in the
# result and on stderr, but do not fail the run by themselves.
#
# Environment: UG_BUILD (build directory, default build-vmbench; configured
# and built as needed), BENCH_ROUNDS (measured rounds, default 5; one warm-up
# round more is run and not counted), BENCH_OUT (default
# BENCHMARKS.md), UG_VM_TIMEOUT (default 1200 s), and run.sh's
# other UG_VM_* variables. BENCH_FROM=FILE: no build and no boot, only write
# the tables again from the guest.out a former run left (its path is printed).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${UG_BUILD:-$SRC/build-vmbench}
OUT=${BENCH_OUT:-$SRC/BENCHMARKS.md}
. "$SRC/bench/section.sh"
. "$SRC/bench/vm-lib.sh"
ROUNDS=${BENCH_ROUNDS:-5}

say() { echo "vm-inforce.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (qemu, the VM tier's cache)"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive number"

# The raw guest output stays: it is the evidence behind the tables.
TMP=$(mktemp -d /tmp/ug-vm-inforce.XXXXXX)
say "raw output in $TMP"

if [ -n "${BENCH_FROM:-}" ]; then
	# Only render the tables again, from a guest.out a former run left.
	tr -d '\r' <"$BENCH_FROM" >"$TMP/guest.out"
else
	UG_BENCH_ROUNDS=$ROUNDS vm_boot "$SRC/bench/guest-inforce.sh" "$TMP/guest.out"
fi

# key=value from the "UGB host" and "UGB meta" lines
fact() { sed -n "s/^UGB \(host\|meta\) .*\b$1=\([^ ]*\).*/\2/p" "$TMP/guest.out" | head -n 1; }
guest_rc=$(fact guest_rc)
ROUNDS=$(awk '/^UGB round=/ { sub(/.*round=/, ""); sub(/ .*/, ""); if ($0 + 0 > n) n = $0 + 0 } END { print n + 0 }' "$TMP/guest.out")
CONSOLE=$(sed -n 's/^run\.sh: console log: //p' "$TMP/guest.out" | tail -n 1)
say "guest exit status ${guest_rc:-?}, console log ${CONSOLE:-unknown}"
[ "$ROUNDS" -ge 1 ] || die "the guest produced no measurements (exit ${guest_rc:-?})"
HASH=$(fact commit)
[ "$(fact dirty)" = 1 ] && HASH="$HASH (with uncommitted changes to the source)"
META="date $(fact date), commit $HASH, guest kernel $(fact kernel), systemd $(fact systemd),"
META="$META $(fact cpus) vCPUs under qemu TCG (host load average $(fact load_before) before"
META="$META the boot, $(fact load_after) after)"

# --- tables -----------------------------------------------------------------------
# From the "UGB round=..." lines: per case and mechanism, medians (and range)
# of the reaction time and the command's duration over rounds 1..N, sums of
# the must-be-zero counts; the problems found go to $TMP/problems.
awk -v rounds="$ROUNDS" -v problems="$TMP/problems" -v notes="$TMP/notes" -v meta="$META" '
function kv(line, key,   i, f, n) {
	n = split(line, f, " ")
	for (i = 1; i <= n; i++)
		if (index(f[i], key "=") == 1) return substr(f[i], length(key) + 2)
	return ""
}
# Median and range of the values list[k, 1..cnt[k]] (mawk has no asort).
function sortk(k,   i, j, v) {
	for (i = 2; i <= cnt[k]; i++) {
		v = list[k, i]
		for (j = i - 1; j >= 1 && list[k, j] > v; j--) list[k, j + 1] = list[k, j]
		list[k, j + 1] = v
	}
}
function median(k,   c) {
	c = cnt[k]
	if (!c) return ""
	sortk(k)
	return c % 2 ? list[k, (c + 1) / 2] : (list[k, c / 2] + list[k, c / 2 + 1]) / 2
}
function range(k) { return cnt[k] ? sprintf("%.3f-%.3f", list[k, 1], list[k, cnt[k]]) : "" }
function s(x) { return x == "" ? "n/a" : sprintf("%.3f s", x) }
function ratio(u, d) { return (u == "" || d == "" || d == 0) ? "n/a" : sprintf("**%.2f**", u / d) }
function problem(msg) { print msg > problems; plist[++nproblems] = msg }
/^UGB round=/ {
	r = kv($0, "round"); c = kv($0, "case"); m = kv($0, "mech")
	raw[r, c, m] = sprintf("%.3f / %s", kv($0, "cmd"), kv($0, "react") == "none" ? "none" : sprintf("%.3f", kv($0, "react")))
	if (kv($0, "rc") != 0) problem("round " r " " c " " m ": the command failed (status " kv($0, "rc") ")")
	if (kv($0, "react") == "none") problem("round " r " " c " " m ": the probes never saw the change")
	if (kv($0, "bad") != 0) problem("round " r " " c " " m ": " kv($0, "bad") " probes in the old state after the command returned")
	if (kv($0, "other") != 0) problem("round " r " " c " " m ": the other address was judged wrongly " kv($0, "other") " times")
	if (kv($0, "errors") != 0) problem("round " r " " c " " m ": " kv($0, "errors") " probes failed otherwise than EPERM")
	if (r < 1) next
	seen[c, m]++
	if (kv($0, "react") != "none") { k = c SUBSEP m SUBSEP "react"; list[k, ++cnt[k]] = kv($0, "react") + 0 }
	k = c SUBSEP m SUBSEP "cmd"; list[k, ++cnt[k]] = kv($0, "cmd") + 0
	bad[c, m] += kv($0, "bad"); after[c, m] += kv($0, "after"); other[c, m] += kv($0, "other")
	if (kv($0, "react") != "none" && kv($0, "react") + 0 > kv($0, "cmd") + 0) late[c, m]++
	next
}
/^UGB check / {
	if (kv($0, "ok_not_received") != 0 || kv($0, "refused_but_received") != 0)
		problem("unit " kv($0, "unit") ": probes and datagrams received disagree: " $0)
	checks = checks "\n- `" substr($0, 11) "`"
}
/^UGB agent-log / { agentlog = $0 }
/^UGB-AGENT / { agentlines = agentlines "\n- `" substr($0, 11) "`"; print "agent: " substr($0, 11) > notes }
/^UGB-FATAL / { problem("guest: " substr($0, 11)) }
/^UGB done / { done = 1 }
END {
	ncase = split("first later remove1 remove", cases, " ")
	title["first"] = "A unit'"'"'s first rule: deny 127.0.0.2"
	title["later"] = "A later rule: deny 127.0.0.3 beside 127.0.0.2"
	title["remove1"] = "Removing one of two rules: 127.0.0.3 (127.0.0.2 stays denied)"
	title["remove"] = "Removing the last rule: 127.0.0.2"
	sdcmd["first"] = "`systemctl set-property --runtime U IPAddressDeny=127.0.0.2`"
	sdcmd["later"] = "`systemctl set-property --runtime U IPAddressDeny=127.0.0.3` (appends)"
	sdcmd["remove1"] = "`systemctl set-property --runtime U IPAddressDeny= IPAddressDeny=127.0.0.2` (one call)"
	sdcmd["remove"] = "`systemctl set-property --runtime U IPAddressDeny=`"
	ugcmd["first"] = "`unitguardctl rule add U egress deny 127.0.0.2`"
	ugcmd["later"] = "`unitguardctl rule add U egress deny 127.0.0.3`"
	ugcmd["remove1"] = "`unitguardctl rule del ID` (the 127.0.0.3 rule)"
	ugcmd["remove"] = "`unitguardctl rule del ID` (the 127.0.0.2 rule)"
	print "## Time to in force: systemd'"'"'s IPAddressDeny= and unitguard side by side (VM tier)"
	print ""
	print "Measured by `bench/vm-inforce.sh` in one boot: " meta ", " rounds " rounds (after one warm-up round, not counted). TCG timings are emulated: read the **ratios**, not the seconds."
	print ""
	print "Summary, medians: (a) command start to the first probe in the new state (refused after an add, passing after a removal); (c) the command'"'"'s own duration; (b) probes that started after the command had returned and still saw the old state, all rounds (must be 0)."
	print ""
	print "| case | (a) systemd | (a) unitguard | (a) unitguard/systemd | (c) systemd | (c) unitguard | (c) unitguard/systemd | (b) systemd / unitguard |"
	print "|---|--:|--:|--:|--:|--:|--:|--:|"
	for (i = 1; i <= ncase; i++) {
		c = cases[i]
		rs = median(c SUBSEP "systemd" SUBSEP "react"); ru = median(c SUBSEP "unitguard" SUBSEP "react")
		cs = median(c SUBSEP "systemd" SUBSEP "cmd"); cu = median(c SUBSEP "unitguard" SUBSEP "cmd")
		printf "| %s | %s | %s | %s | %s | %s | %s | %d / %d |\n", c, s(rs), s(ru), ratio(ru, rs), s(cs), s(cu), ratio(cu, cs), bad[c, "systemd"], bad[c, "unitguard"]
	}
	print ""
	for (i = 1; i <= ncase; i++) {
		c = cases[i]
		add = (c == "first" || c == "later")
		print "### " title[c]
		print ""
		print "systemd: " sdcmd[c] "; unitguard: " ugcmd[c] "."
		print ""
		print "| | systemd | unitguard | unitguard / systemd |"
		print "|---|--:|--:|--:|"
		for (j = 1; j <= 2; j++) {
			mt = j == 1 ? "react" : "cmd"
			label = j == 1 ? (add ? "(a) command start to the first refused probe" : "(a) command start to the first probe that passes again") : "(c) the command'"'"'s own duration"
			ks = c SUBSEP "systemd" SUBSEP mt; ku = c SUBSEP "unitguard" SUBSEP mt
			md = median(ks); mu = median(ku)
			printf "| %s, median (range) | %s (%s) | %s (%s) | %s |\n", label, s(md), range(ks), s(mu), range(ku), ratio(mu, md)
		}
		printf "| (b) %s after the command returned (must be 0), of probes watched, all rounds | %d of %d | %d of %d | |\n", add ? "probes that got through" : "probes still refused", bad[c, "systemd"], after[c, "systemd"], bad[c, "unitguard"], after[c, "unitguard"]
		printf "| the other address judged wrongly from the command'"'"'s start on (must be 0) | %d | %d | |\n", other[c, "systemd"], other[c, "unitguard"]
		printf "| rounds in which the first probe in the new state started only after the command had returned (no probe fell between; not a leak) | %d of %d | %d of %d | |\n", late[c, "systemd"], rounds, late[c, "unitguard"], rounds
		if (seen[c, "systemd"] != rounds || seen[c, "unitguard"] != rounds)
			problem(c ": " seen[c, "systemd"] + 0 " systemd and " seen[c, "unitguard"] + 0 " unitguard measurements, expected " rounds " each")
		print ""
	}
	if (!done) problem("the guest did not finish its rounds")
	print "Per round, command duration / time to the new state, in seconds (round 0 is the warm-up):"
	print ""
	print "| round | case | systemd | unitguard |"
	print "|--:|---|--:|--:|"
	for (r = 0; r <= rounds; r++)
		for (i = 1; i <= ncase; i++)
			printf "| %d | %s | %s | %s |\n", r, cases[i], raw[r, cases[i], "systemd"], raw[r, cases[i], "unitguard"]
	print ""
	print "Method. Two identical transient services run the same bash loop (builtins only, no fork per probe: a fork costs tens of milliseconds under TCG): every ~25 ms one UDP datagram to 127.0.0.2, then one to 127.0.0.3, each logged with its start time ($EPOCHREALTIME) and result (ok, EPERM). UDP, not TCP: systemd'"'"'s firewall drops packets (cgroup_skb), and a dropped SYN does not fail connect(2), which then hangs for minutes, while a refused UDP send returns EPERM at once; unitguard refuses the connect(2) of the same UDP socket. A receiver outside both units logs every datagram, and every \"ok\" probe was checked to have arrived and every refused one not to have. One unit is changed only with `systemctl set-property --runtime` (IPAccounting=no, so the deny list is the only program systemd attaches), the other only with `unitguardctl` against an agent on a store and pin directory of its own. Both commands run the same way: a child of the same shell, timestamps from $EPOCHREALTIME just before and after. (a) is from the command'"'"'s start to the first probe of the address in the new state; (b) counts probes that started after the command had returned and still saw the old state; (c) is the command'"'"'s wall time. Per round, each unit goes first rule, later rule, remove one of two, remove the last, so every round starts from a unit without any rule (the last systemd change of a round is the reset, which also leaves the runtime drop-in, /run/systemd/transient/U.d/50-IPAddressDeny.conf for a transient unit, holding the empty assignment); the mechanisms alternate case by case, and which goes first flips every round. Resolution: one probe of each address about every 30 ms, so a change in force shortly before the command returns may first show in a probe that starts after it (the \"only after the command had returned\" row); what must never happen is a probe started after the return that still sees the old state (b). Not the same work: every probe unitguard refuses is an audit event the agent journals and writes to its SQLite store (about 40 a second here), systemd'"'"'s firewall records nothing."
	print ""
	printf "Checks of the probes (every ok probe arrived, no refused one did):%s\n", checks
	if (agentlog != "") {
		print ""
		printf "Agent log (priority 0-4 lines listed): %s.%s\n", substr(agentlog, 15), agentlines
	}
	if (nproblems) {
		print ""
		print "**Problems seen in this run:**"
		print ""
		for (i = 1; i <= nproblems; i++) print "- " plist[i]
	}
	exit (nproblems > 0)
}' "$TMP/guest.out" >"$TMP/section.md" && tables_ok=1 || tables_ok=0

write_section vm-inforce "$TMP/section.md" "$OUT"
say "wrote its section of $OUT"
cat "$TMP/section.md"

if [ -s "$TMP/notes" ]; then
	say "the agent logged errors or warnings (console log ${CONSOLE:-unknown}):"
	sed 's/^/  /' "$TMP/notes" >&2
fi
if [ -s "$TMP/problems" ] || [ "${guest_rc:-1}" != 0 ] || [ "$tables_ok" != 1 ]; then
	say "PROBLEMS (guest exit status ${guest_rc:-?}, console log ${CONSOLE:-unknown}):"
	sed 's/^/  /' "$TMP/problems" >&2 2>/dev/null || true
	exit 1
fi
say "all leaks-after-return counts are 0"
