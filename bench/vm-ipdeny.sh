#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 11, VM tier: systemd's own per-unit firewall (IPAddressDeny=) as a
# peer. In one boot of the qemu guest (tests/e2e/vm/run.sh, systemd 252 as
# PID 1), what a unit's loopback traffic pays with N = 10, 1 000, 10 000
# denied prefixes (bench/run.sh's random /32s, none covering the measured
# destination) under systemd's firewall and under unitguard, beside a unit
# with no program and the floor program (bench/floor.bpf.c); and the
# programs' own time per run from bpf_stats. The guest side is
# bench/guest-ipdeny.sh; read its header for the method.
#
# Timings under TCG are emulated: the section gives ratios (unitguard's
# overhead over systemd's, each overhead over the bare unit), never the
# absolute figures as results (the raw medians are listed as evidence).
#
# Writes its section of BENCHMARKS.md (between the vm-ipdeny markers).
# Exits non-zero if the guest failed (an enforcement check failing stops it),
# a measurement is missing or the agent logged errors.
#
# Environment: UG_BUILD (default build-vmbench), BENCH_OUT (BENCHMARKS.md),
# UG_IPD_SIZES, UG_IPD_PLACES, UG_IPD_ROUNDS, UG_IPD_UDP, UG_IPD_CONNECT,
# UG_IPD_BLOCKS (see the guest script), UG_VM_TIMEOUT (default 3600 s),
# run.sh's UG_VM_* variables. BENCH_FROM="FILE...": no build and no boot,
# only write the section again from the guest.out files former runs left
# (their paths are printed), several when a boot ended at its time limit:
# a later boot with UG_IPD_PLACES/UG_IPD_SIZES set to the rows missing.
set -euo pipefail

say() { echo "vm-ipdeny.sh: $*" >&2; }
die() { say "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (qemu, the VM tier's cache)"

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${UG_BUILD:-$SRC/build-vmbench}
OUT=${BENCH_OUT:-$SRC/BENCHMARKS.md}
. "$SRC/bench/section.sh"
. "$SRC/bench/vm-lib.sh"
. "$SRC/bench/net-lib.sh"

# The raw guest output stays: it is the evidence behind the tables.
TMP=$(mktemp -d /tmp/ug-vm-ipdeny.XXXXXX)
chmod 0755 "$TMP"
say "raw output in $TMP"
if [ -n "${BENCH_FROM:-}" ]; then
	# Several files, in order, when one boot did not reach every row (each
	# row must then come from one boot: the section says which boots there were).
	for f in $BENCH_FROM; do tr -d '\r' <"$f"; done >"$TMP/guest.out"
else
	# Built here, not under TCG; the guest sees this directory (the host
	# root is its root). floor.bpf.c reads only UAPI context fields, so
	# the host's BTF header serves the guest kernel as well.
	for t in clang bpftool cc; do command -v "$t" >/dev/null || die "needs $t"; done
	bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$TMP/vmlinux.h"
	clang -target bpf -O2 -g -Wall -Werror -I"$TMP" -c "$SRC/bench/floor.bpf.c" -o "$TMP/floor.bpf.o"
	cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$TMP/netbench" "$SRC/bench/netbench.c"
	bench_prefixes "$TMP"
	UG_IPD_DIR=$TMP UG_VM_TIMEOUT=${UG_VM_TIMEOUT:-3600} vm_boot "$SRC/bench/guest-ipdeny.sh" "$TMP/guest.out"
	tr -d '\r' <"$TMP/guest.out" >"$TMP/g" && mv "$TMP/g" "$TMP/guest.out"
fi

fact() { vm_fact "$TMP/guest.out" "$1"; }
# The last boot's status (an earlier one may have timed out: see BENCH_FROM).
guest_rc=$(sed -n 's/^UGB host .*guest_rc=\([0-9]*\).*/\1/p' "$TMP/guest.out" | tail -n 1)
BOOTS=$(grep -c '^UGB host date=' "$TMP/guest.out" || true)
META="$(fact date), unitguard $(vm_commit "$TMP/guest.out"), guest kernel $(fact kernel),"
META="$META systemd $(fact systemd) as PID 1, $(fact cpus) vCPUs under qemu TCG on a 2-core host"
META="$META shared with other work (load average $(fact load_before) before the boot,"
META="$META $(fact load_after) after); per configuration and round $(fact udp) UDP round trips"
META="$META and $(fact connect) connects in $(fact blocks) interleaved slices, $(fact rounds) rounds"

# The tables from the "UGB ..." lines; what went wrong goes to $TMP/problems,
# listed under the tables below.
: >"$TMP/problems"
awk -v meta="$META" -v problems="$TMP/problems" -v boots="$BOOTS" '
# F: the key=value fields of the line.
{
	delete F
	for (i = 2; i <= NF; i++)
		if ((j = index($i, "=")) > 1) F[substr($i, 1, j - 1)] = substr($i, j + 1)
}
function problem(msg) { print "- " msg > problems }
# Median of list[k, 1..cnt[k]] (mawk has no asort; the lists are short).
function median(k,   i, j, v, c) {
	c = cnt[k]
	if (!c) return ""
	for (i = 2; i <= c; i++) {
		v = list[k, i]
		for (j = i - 1; j >= 1 && list[k, j] > v; j--) list[k, j + 1] = list[k, j]
		list[k, j + 1] = v
	}
	return c % 2 ? list[k, (c + 1) / 2] : (list[k, c / 2] + list[k, c / 2 + 1]) / 2
}
function pct(x, base) { return base > 0 ? sprintf("%+.1f%%", 100 * x / base) : "n/a" }
function ratio(a, b) { return b > 0 ? sprintf("**%.2f**", a / b) : "n/a (systemd overhead <= 0)" }
function addl(k, v) { list[k, ++cnt[k]] = v + 0 }
/^UGB host date=/ {
	boot++
	hostloads = hostloads (boot > 1 ? "; " : "") "boot " boot ": " F["commit"] (F["dirty"] == 1 ? " with uncommitted changes" : "") ", load " F["load_before"]
}
/^UGB host .*guest_rc=/ { hostloads = hostloads " to " F["load_after"] }
/^UGB res / {
	p = F["place"]; n = F["n"]; c = F["config"]
	if (!((p, n) in seen)) { seen[p, n] = boot; order[++nord] = p SUBSEP n }
	if (seen[p, n] != boot) problem(p " " n ": figures from more than one boot")
	addl(p SUBSEP n SUBSEP c SUBSEP "udp", F["udp"])
	addl(p SUBSEP n SUBSEP c SUBSEP "connect", F["connect"])
	raw[++nraw] = sprintf("%-4s %5s %s %-5s %8s %8s", p, n, F["round"], c, F["udp"], F["connect"])
}
/^UGB stats / {
	p = F["place"]; n = F["n"]; c = F["config"]; h = F["hook"]
	# Programs on the same hook run for the same packets: their times add
	# up per run of the hook.
	st_ns[p, n, c, h] += F["ns"]
	if (F["runs"] + 0 > st_runs[p, n, c, h]) st_runs[p, n, c, h] = F["runs"] + 0
	if (F["runs"] == 0) problem(p " " n ": " c " " h " program " F["id"] " never ran during the stats pass")
}
/^UGB check / { checks = checks "\n- `" substr($0, 11) "`" }
/^UGB load / { loads = loads "\n- `" substr($0, 10) "`" }
/^UGB effective / && F["n"] == 10000 && F["place"] == "far" { eff = eff "\n- `" substr($0, 15) "`" }
/^UGB-AGENT / { problem("agent: " substr($0, 11)) }
/^UGB-FATAL / { problem("guest: " substr($0, 11)) }
/^UGB done/ { done[boot] = 1 }
# Ranges of ratios for the summary: lo[k], hi[k] over the rows.
function span(k, v) {
	if (v == "") return
	if (!(k in lo) || v < lo[k]) lo[k] = v
	if (!(k in hi) || v > hi[k]) hi[k] = v
}
function spantext(k) {
	if (!(k in lo)) return "n/a"
	return lo[k] == hi[k] ? sprintf("%.2f", lo[k]) : sprintf("%.2f to %.2f", lo[k], hi[k])
}
END {
	# End to end: medians, overheads and the ratios, one row per placement and N.
	for (i = 1; i <= nord; i++) {
		split(order[i], pn, SUBSEP); p = pn[1]; n = pn[2]
		row = sprintf("| %s | %d", p, n)
		for (m = 1; m <= 2; m++) {
			x = m == 1 ? "udp" : "connect"
			for (ci = 1; ci <= 4; ci++) {
				c = ci == 1 ? "none" : ci == 2 ? "floor" : ci == 3 ? "sd" : "ug"
				k = p SUBSEP n SUBSEP c SUBSEP x
				med[c] = median(k)
				if (med[c] == "") problem(p " " n ": no " x " figures for " c)
				mline[i] = mline[i] sprintf(" | %d", med[c])
			}
			# The own spread of the bare unit from round to round (the list is
			# sorted now): what an overhead must exceed to mean anything.
			k = p SUBSEP n SUBSEP "none" SUBSEP x
			b = med["none"]
			spread = b > 0 ? 100 * (list[k, cnt[k]] - list[k, 1]) / b : 0
			span(x "spread", spread)
			so = med["sd"] - b; uo = med["ug"] - b
			row = row sprintf(" | %s | %s | %s | %s | %.1f%%", pct(so, b), pct(uo, b), pct(med["floor"] - b, b),
				ratio(uo, so), spread)
			if (so > 0) span(x, uo / so)
		}
		t1 = t1 row " |\n"
	}
	# In-program time per run of each hook.
	for (i = 1; i <= nord; i++) {
		split(order[i], pn, SUBSEP); p = pn[1]; n = pn[2]
		for (ci = 1; ci <= 3; ci++) {
			c = ci == 1 ? "floor" : ci == 2 ? "sd" : "ug"
			for (hi_ = 1; hi_ <= 3; hi_++) {
				h = hi_ == 1 ? "egress" : hi_ == 2 ? "ingress" : "4_connect"
				r = st_runs[p, n, c, h]
				per[c, h] = r > 0 ? st_ns[p, n, c, h] / r : ""
				if (c != "sd" || h != "4_connect")
					sline[i] = sline[i] sprintf(" | %s", per[c, h] == "" ? "-" : sprintf("%.0f", per[c, h]))
			}
		}
		if (per["sd", "egress"] == "" || per["sd", "ingress"] == "") problem(p " " n ": no bpf_stats figures for systemd")
		else {
			span("egress", per["ug", "egress"] / per["sd", "egress"])
			span("ingress", per["ug", "ingress"] / per["sd", "ingress"])
			span("fegress", per["floor", "egress"] / per["sd", "egress"])
			span("fingress", per["floor", "ingress"] / per["sd", "ingress"])
			span("connect4", per["ug", "4_connect"] / per["sd", "egress"])
			# A UDP round trip runs each side once.
			both["ug"] = per["ug", "egress"] + per["ug", "ingress"]
			both["sd"] = per["sd", "egress"] + per["sd", "ingress"]
			span("both", both["ug"] / both["sd"])
		}
		t2 = t2 sprintf("| %s | %d | %s | %s | %s | %s | %s | %s |\n", p, n, ratio(both["ug"], both["sd"]),
			ratio(per["ug", "egress"], per["sd", "egress"]), ratio(per["floor", "egress"], per["sd", "egress"]),
			ratio(per["ug", "ingress"], per["sd", "ingress"]), ratio(per["floor", "ingress"], per["sd", "ingress"]),
			ratio(per["ug", "4_connect"], per["sd", "egress"]))
	}

	if (boots > 1) {
		bootnote = sprintf("; from %d boots of the guest with the same settings, each row from one boot (commit and host load average before to after, per boot: %s)", boots, hostloads)
		for (b = 1; b < boots; b++)
			if (!done[b]) bootnote = bootnote sprintf("; boot %d ended at its time limit (UG_VM_TIMEOUT) and the rows it did not complete are from boot %d", b, b + 1)
	}
	print "## systemd'"'"'s IPAddressDeny= as a peer: per-packet cost (VM tier, bench/vm-ipdeny.sh)"
	print ""
	print "Measured by `bench/vm-ipdeny.sh` (as root from the top of the tree, about 40 minutes; `BENCH_FROM=\"guest.out ...\"` writes this section again from former runs'"'"' raw output) on " meta bootnote ". **TCG timings are emulated**: only the ratios mean anything, not the nanoseconds; and the host ran other work throughout, which the interleaving spreads over all configurations alike but does not remove."
	print ""
	printf "**In short.** Per run of a hook (bpf_stats, the cleanest figure; one pass per row), unitguard'"'"'s egress and ingress programs together take **%s times** as long as systemd'"'"'s IPAddressDeny= programs (%s times on egress, %s on ingress), over these placements and sizes; unitguard also runs a connect4 program, once per connect(2), which systemd does not have (its time per run is %s times that of systemd'"'"'s egress program). The floor (one LPM lookup per hook) takes %s times systemd'"'"'s on egress and %s on ingress. End to end, unitguard'"'"'s overhead over the bare unit is %s times systemd'"'"'s for a UDP round trip and %s times for a TCP connect (rows where systemd'"'"'s overhead came out above zero), but these overheads are small beside an emulated round trip, and the bare unit'"'"'s own median moved by up to %.0f%% (UDP) and %.0f%% (connect) from round to round: read the end-to-end ratios as noise-bound, the bpf_stats ratios as the result.\n",
		spantext("both"), spantext("egress"), spantext("ingress"), spantext("connect4"), spantext("fegress"), spantext("fingress"),
		spantext("udp"), spantext("connect"), hi["udpspread"], hi["connectspread"]
	print ""
	print "The same N random /32s (bench/run.sh'"'"'s, the first N) as systemd'"'"'s `IPAddressDeny=` on one unit and as unitguard deny rules on another (each prefix denied egress and ingress, as `IPAddressDeny=` does: 2N rules); all measured traffic goes to 127.0.0.1, which no prefix covers (the allow path after a full lookup). Far: prefixes in 10.0.0.0/8 (the lookup of 127.0.0.1 leaves the trie at its first node); near: in 127.0.0.0/8 (it walks down among the keys)."
	print ""
	print "In-program time per run, as ratios to systemd'"'"'s program on the same hook:"
	print ""
	print "| placement | N | egress + ingress (one UDP round trip): unitguard/systemd | egress: unitguard/systemd | egress: floor/systemd | ingress: unitguard/systemd | ingress: floor/systemd | unitguard connect4 / systemd egress |"
	print "|---|--:|--:|--:|--:|--:|--:|--:|"
	printf "%s", t2
	print ""
	print "End to end: overhead = the configuration'"'"'s median minus the bare unit'"'"'s (medians of the per-round medians), in percent of the bare unit'"'"'s; **unitguard/systemd = unitguard'"'"'s overhead divided by systemd'"'"'s**; spread = the bare unit'"'"'s highest minus lowest per-round median, in percent of its median:"
	print ""
	print "| placement | N | UDP: systemd overhead | unitguard overhead | floor overhead | **unitguard/systemd** | spread | connect: systemd overhead | unitguard overhead | floor overhead | **unitguard/systemd** | spread |"
	print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	printf "%s", t1
	print ""
	print "Method: bench/guest-ipdeny.sh. Four transient services (`sleep infinity`, IPAccounting=no, so systemd attaches only its firewall), each in a slice of its own: none; floor (bench/floor.bpf.c on connect4, egress and ingress of the unit'"'"'s cgroup, one LPM lookup each); systemd (`systemctl set-property --runtime U IPAddressDeny= IPAddressDeny=...`, the N prefixes in one call; its programs sit on the unit'"'"'s cgroup, ingress and egress); unitguard (an agent on a store of its own, the rules in one SQL transaction, waited for until acknowledged; it attaches at the unit'"'"'s slice). bench/netbench.c moves itself from cgroup to cgroup and measures, per slice, 1-byte UDP request/response on a connected socket and socket()+connect()+close() of TCP, both to 127.0.0.1 servers outside the units (client and servers on vCPU 1); the four configurations take turns in every block, in an order rotated every block, so drift falls on all alike. bpf_stats: one more netbench run per row (half the samples) with `kernel.bpf_stats_enabled=1`, run_time_ns over run_cnt of each program on the hooks this traffic runs (egress, ingress, connect4; programs on one hook added up). unitguard also has bind and sendmsg programs at the slice (listed below), which this traffic does not run: connected sockets, no bind(2). Before measuring, every configuration was checked to enforce: a UDP datagram to the first prefix'"'"'s address gets EPERM in the floor, systemd and unitguard units (unitguard refuses the connect(2), systemd and the floor drop the packet, which the send reports) and passes in the bare unit, and one to 127.0.0.1 passes in all (10.0.0.0/8 is routed locally in the guest so that datagrams to the far prefixes reach the egress hook). UDP for the check: a SYN that systemd drops does not fail connect(2), which retransmits."
	print ""
	printf "Enforcement checks:%s\n", checks
	print ""
	printf "Rules loaded (systemd: set-property wall time and the prefixes it lists back; unitguard: commit to acknowledgement, µs; emulated times):%s\n", loads
	print ""
	printf "Programs in effect on each unit'"'"'s cgroup (far, 10000):%s\n", eff
	print ""
	print "Raw figures (emulated ns; evidence, not results). Medians of the per-round medians:"
	print ""
	print "| placement | N | UDP none | UDP floor | UDP systemd | UDP unitguard | connect none | connect floor | connect systemd | connect unitguard |"
	print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for (i = 1; i <= nord; i++) { split(order[i], pn, SUBSEP); printf "| %s | %d%s |\n", pn[1], pn[2], mline[i] }
	print ""
	print "In-program ns per run (bpf_stats):"
	print ""
	print "| placement | N | floor egress | floor ingress | floor connect4 | systemd egress | systemd ingress | unitguard egress | unitguard ingress | unitguard connect4 |"
	print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for (i = 1; i <= nord; i++) { split(order[i], pn, SUBSEP); printf "| %s | %d%s |\n", pn[1], pn[2], sline[i] }
	print ""
	print "Per round (placement, N, round, configuration, UDP median, connect median, ns):"
	print ""
	print "```"
	for (i = 1; i <= nraw; i++) print raw[i]
	print "```"
	if (!nord) problem("no measurements")
	# Several boots: only the last one must have finished; an earlier one
	# that ended at its time limit gave the rows it completed.
	if (!done[boot]) problem("the guest did not finish")
}' "$TMP/guest.out" >"$TMP/section.md" || echo "- the tables could not be written" >>"$TMP/problems"
if [ -s "$TMP/problems" ]; then
	printf '\n**Problems seen in this run:**\n\n' >>"$TMP/section.md"
	cat "$TMP/problems" >>"$TMP/section.md"
fi

write_section vm-ipdeny "$TMP/section.md" "$OUT"
say "wrote its section of $OUT"
cat "$TMP/section.md"
if [ -s "$TMP/problems" ] || [ "${guest_rc:-1}" != 0 ]; then
	say "PROBLEMS (guest exit status ${guest_rc:-?}):"
	cat "$TMP/problems" >&2
	exit 1
fi
