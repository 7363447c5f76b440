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
# UG_IPD_BLOCKS (see the guest script), UG_VM_TIMEOUT (default 1800 s),
# run.sh's UG_VM_* variables. BENCH_FROM=FILE: no build and no boot, only
# write the section again from the guest.out a former run left.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${UG_BUILD:-$SRC/build-vmbench}
OUT=${BENCH_OUT:-$SRC/BENCHMARKS.md}
. "$SRC/bench/section.sh"
. "$SRC/bench/vm-lib.sh"
. "$SRC/bench/net-lib.sh"

say() { echo "vm-ipdeny.sh: $*" >&2; }
die() { say "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (qemu, the VM tier's cache)"

# The raw guest output stays: it is the evidence behind the tables.
TMP=$(mktemp -d /tmp/ug-vm-ipdeny.XXXXXX)
chmod 0755 "$TMP"
say "raw output in $TMP"
if [ -n "${BENCH_FROM:-}" ]; then
	tr -d '\r' <"$BENCH_FROM" >"$TMP/guest.out"
else
	# Built here, not under TCG; the guest sees this directory (the host
	# root is its root). floor.bpf.c reads only UAPI context fields, so
	# the host's BTF header serves the guest kernel as well.
	for t in clang bpftool cc; do command -v "$t" >/dev/null || die "needs $t"; done
	bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$TMP/vmlinux.h"
	clang -target bpf -O2 -g -Wall -Werror -I"$TMP" -c "$SRC/bench/floor.bpf.c" -o "$TMP/floor.bpf.o"
	cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$TMP/netbench" "$SRC/bench/netbench.c"
	bench_prefixes "$TMP"
	UG_IPD_DIR=$TMP UG_VM_TIMEOUT=${UG_VM_TIMEOUT:-1800} vm_boot "$SRC/bench/guest-ipdeny.sh" "$TMP/guest.out"
	tr -d '\r' <"$TMP/guest.out" >"$TMP/g" && mv "$TMP/g" "$TMP/guest.out"
fi

fact() { sed -n "s/^UGB \(host\|meta\) .*\b$1=\([^ ]*\).*/\2/p" "$TMP/guest.out" | head -n 1; }
guest_rc=$(fact guest_rc)
HASH=$(fact commit)
[ "$(fact dirty)" = 1 ] && HASH="$HASH (with uncommitted changes to the source)"
META="$(fact date), unitguard $HASH, guest kernel $(fact kernel), systemd $(fact systemd) as PID 1,"
META="$META $(fact cpus) vCPUs under qemu TCG on a 2-core host shared with other work (load average"
META="$META $(fact load_before) before the boot, $(fact load_after) after); per configuration and"
META="$META round $(fact udp) UDP round trips and $(fact connect) connects in $(fact blocks)"
META="$META interleaved slices, $(fact rounds) rounds"

awk -v meta="$META" -v problems="$TMP/problems" '
function kv(line, key,   i, f, n) {
	n = split(line, f, " ")
	for (i = 1; i <= n; i++)
		if (index(f[i], key "=") == 1) return substr(f[i], length(key) + 2)
	return ""
}
function problem(msg) { print msg > problems; plist[++np] = msg }
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
/^UGB res / {
	p = kv($0, "place"); n = kv($0, "n"); c = kv($0, "config")
	if (!((p, n) in seen)) { seen[p, n] = 1; order[++nord] = p SUBSEP n }
	addl(p SUBSEP n SUBSEP c SUBSEP "udp", kv($0, "udp"))
	addl(p SUBSEP n SUBSEP c SUBSEP "connect", kv($0, "connect"))
	raw[++nraw] = sprintf("%-4s %5s %s %-5s %8s %8s", p, n, kv($0, "round"), c, kv($0, "udp"), kv($0, "connect"))
}
/^UGB stats / {
	p = kv($0, "place"); n = kv($0, "n"); c = kv($0, "config"); h = kv($0, "hook")
	# Programs on the same hook run for the same packets: their times add
	# up per run of the hook.
	st_ns[p, n, c, h] += kv($0, "ns")
	if (kv($0, "runs") + 0 > st_runs[p, n, c, h]) st_runs[p, n, c, h] = kv($0, "runs") + 0
	if (kv($0, "runs") == 0) problem(p " " n ": " c " " h " program " kv($0, "id") " never ran during the stats pass")
}
/^UGB check / { checks = checks "\n- `" substr($0, 11) "`" }
/^UGB load / { loads = loads "\n- `" substr($0, 10) "`" }
/^UGB effective / && kv($0, "n") == 10000 && kv($0, "place") == "far" { eff = eff "\n- `" substr($0, 15) "`" }
/^UGB-AGENT / { problem("agent: " substr($0, 11)) }
/^UGB-FATAL / { problem("guest: " substr($0, 11)) }
/^UGB done/ { done = 1 }
END {
	print "## systemd'"'"'s IPAddressDeny= as a peer: per-packet cost (VM tier, bench/vm-ipdeny.sh)"
	print ""
	print "Measured " meta ". **TCG timings are emulated**: only the ratios below mean anything, not the nanoseconds."
	print ""
	print "The same N random /32s (bench/run.sh'"'"'s, first N) as systemd'"'"'s `IPAddressDeny=` on one unit and as unitguard deny rules on another (each prefix denied egress and ingress, as `IPAddressDeny=` does: 2N rules); all measured traffic goes to 127.0.0.1, which no prefix covers (the allow path after a full lookup). Overhead = configuration median minus the bare unit'"'"'s median (medians of the per-round medians); **unitguard/systemd = unitguard'"'"'s overhead divided by systemd'"'"'s**. Far: prefixes in 10.0.0.0/8 (the lookup of 127.0.0.1 ends at the first node); near: in 127.0.0.0/8 (it walks down among the keys)."
	print ""
	print "| placement | N | UDP round trip: systemd overhead | unitguard overhead | floor overhead | **unitguard/systemd** | connect: systemd overhead | unitguard overhead | floor overhead | **unitguard/systemd** |"
	print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for (i = 1; i <= nord; i++) {
		split(order[i], pn, SUBSEP); p = pn[1]; n = pn[2]
		for (m = 1; m <= 2; m++) {
			x = m == 1 ? "udp" : "connect"
			for (ci = 1; ci <= 4; ci++) {
				c = ci == 1 ? "none" : ci == 2 ? "floor" : ci == 3 ? "sd" : "ug"
				med[c, x] = median(p SUBSEP n SUBSEP c SUBSEP x)
				if (med[c, x] == "") problem(p " " n ": no " x " figures for " c)
			}
		}
		line = sprintf("| %s | %d", p, n)
		for (m = 1; m <= 2; m++) {
			x = m == 1 ? "udp" : "connect"
			b = med["none", x]
			line = line sprintf(" | %s | %s | %s | %s", pct(med["sd", x] - b, b), pct(med["ug", x] - b, b),
				pct(med["floor", x] - b, b), ratio(med["ug", x] - b, med["sd", x] - b))
			mline[i] = mline[i] sprintf(" | %d | %d | %d | %d", med["none", x], med["floor", x], med["sd", x], med["ug", x])
		}
		print line " |"
	}
	print ""
	print "Overheads are in percent of the bare unit'"'"'s median. In-program time per run (bpf_stats, the kernel'"'"'s own accounting of each program; one extra run per row with `kernel.bpf_stats_enabled=1`), as ratios to systemd'"'"'s program on the same hook; systemd attaches nothing on connect4, so unitguard'"'"'s and the floor'"'"'s connect4 programs are extra work systemd does not do:"
	print ""
	print "| placement | N | egress: unitguard/systemd | egress: floor/systemd | ingress: unitguard/systemd | ingress: floor/systemd | unitguard connect4 / systemd egress |"
	print "|---|--:|--:|--:|--:|--:|--:|"
	for (i = 1; i <= nord; i++) {
		split(order[i], pn, SUBSEP); p = pn[1]; n = pn[2]
		for (ci = 1; ci <= 3; ci++) {
			c = ci == 1 ? "floor" : ci == 2 ? "sd" : "ug"
			for (hi = 1; hi <= 3; hi++) {
				h = hi == 1 ? "egress" : hi == 2 ? "ingress" : "4_connect"
				r = st_runs[p, n, c, h]
				per[c, h] = r > 0 ? st_ns[p, n, c, h] / r : ""
				sline[i] = sline[i] (c == "sd" && h == "4_connect" ? "" : sprintf(" | %s", per[c, h] == "" ? "-" : sprintf("%.0f", per[c, h])))
			}
		}
		printf "| %s | %d | %s | %s | %s | %s | %s |\n", p, n,
			ratio(per["ug", "egress"], per["sd", "egress"]), ratio(per["floor", "egress"], per["sd", "egress"]),
			ratio(per["ug", "ingress"], per["sd", "ingress"]), ratio(per["floor", "ingress"], per["sd", "ingress"]),
			ratio(per["ug", "4_connect"], per["sd", "egress"])
	}
	print ""
	print "Method: bench/guest-ipdeny.sh. Four transient services (`sleep infinity`, IPAccounting=no, so systemd attaches only its firewall), each in a slice of its own: none; floor (bench/floor.bpf.c on connect4, egress and ingress of the unit'"'"'s cgroup, one LPM lookup each); systemd (`systemctl set-property --runtime U IPAddressDeny= IPAddressDeny=...`, the N prefixes in one call; its programs sit on the unit'"'"'s cgroup, ingress and egress); unitguard (an agent on a store of its own, the rules in one SQL transaction, waited for until acknowledged; it attaches at the unit'"'"'s slice). bench/netbench.c moves itself from cgroup to cgroup and measures, per slice, 1-byte UDP request/response on a connected socket and socket()+connect()+close() of TCP, both to 127.0.0.1 servers outside the units; the four configurations take turns in every block, in an order rotated every block, so drift (the host runs other work) falls on all alike. Before measuring, every configuration was checked to enforce: a UDP datagram to the first prefix'"'"'s address gets EPERM in the floor, systemd and unitguard units (unitguard refuses the connect(2), systemd and the floor drop the packet, which the send reports) and passes in the bare unit, and one to 127.0.0.1 passes in all (10.0.0.0/8 is routed locally in the guest so that datagrams to the far prefixes reach the egress hook). UDP for the check: a SYN that systemd drops does not fail connect(2), which retransmits."
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
	if (!done) problem("the guest did not finish")
	if (np) {
		print ""
		print "**Problems seen in this run:**"
		print ""
		for (i = 1; i <= np; i++) print "- " plist[i]
	}
	exit (np > 0)
}' "$TMP/guest.out" >"$TMP/section.md" && ok=1 || ok=0

write_section vm-ipdeny "$TMP/section.md" "$OUT"
say "wrote its section of $OUT"
cat "$TMP/section.md"
if [ "$ok" != 1 ] || [ "${guest_rc:-1}" != 0 ]; then
	say "PROBLEMS (guest exit status ${guest_rc:-?}):"
	cat "$TMP/problems" >&2 2>/dev/null || true
	exit 1
fi
