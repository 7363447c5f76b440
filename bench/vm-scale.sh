#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Issue 12, VM tier: the scale figures of bench/scale.sh with systemd as PID 1
# (one boot of tests/e2e/vm/run.sh, systemd 252), where the agent resolves
# units through D-Bus: 1 and SCALE_UNITS (default 100) guarded units x 100 and
# 1 000 deny prefixes, with SCALE_UNITS services running in every
# configuration. The guest side is bench/guest-scale.sh; read its header.
# Timings under TCG are emulated: the table's point is the ratio of the
# many-unit rows to the one-unit rows, measured in the same boot.
#
# Writes its section of BENCHMARKS.md (between the vm-scale markers). Exits
# non-zero if the guest failed, a configuration is missing, or the agent
# did not resolve through D-Bus.
#
# Environment: UG_BUILD (default build-vmbench), BENCH_OUT (BENCHMARKS.md),
# SCALE_UNITS, SCALE_PREFIXES, UG_VM_TIMEOUT (default 1200 s), run.sh's
# UG_VM_* variables. BENCH_FROM=FILE: no build and no boot, only write the
# section again from the guest.out a former run left.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${UG_BUILD:-$SRC/build-vmbench}
OUT=${BENCH_OUT:-$SRC/BENCHMARKS.md}
. "$SRC/bench/section.sh"
. "$SRC/bench/vm-lib.sh"

say() { echo "vm-scale.sh: $*" >&2; }
die() { say "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (qemu, the VM tier's cache)"

TMP=$(mktemp -d /tmp/ug-vm-scale.XXXXXX)
say "raw output in $TMP"
if [ -n "${BENCH_FROM:-}" ]; then
	tr -d '\r' <"$BENCH_FROM" >"$TMP/guest.out"
else
	UG_VM_MEM=${UG_VM_MEM:-2048} vm_boot "$SRC/bench/guest-scale.sh" "$TMP/guest.out"
	tr -d '\r' <"$TMP/guest.out" >"$TMP/g" && mv "$TMP/g" "$TMP/guest.out"
fi

fact() { sed -n "s/^UGB \(host\|meta\) .*\b$1=\([^ ]*\).*/\2/p" "$TMP/guest.out" | head -n 1; }
guest_rc=$(fact guest_rc)
HASH=$(fact commit)
[ "$(fact dirty)" = 1 ] && HASH="$HASH (with uncommitted changes to the source)"
META="$(fact date), unitguard $HASH, guest kernel $(fact kernel), systemd $(fact systemd) as PID 1,"
META="$META $(fact cpus) vCPUs under qemu TCG (host load average $(fact load_before) before the boot,"
META="$META $(fact load_after) after), $(fact units) transient services running in ugscale.slice throughout"

awk -v meta="$META" -v problems="$TMP/problems" '
function kv(line, key,   i, f, n) {
	n = split(line, f, " ")
	for (i = 1; i <= n; i++)
		if (index(f[i], key "=") == 1) return substr(f[i], length(key) + 2)
	return ""
}
function problem(msg) { print msg > problems; plist[++np] = msg }
function msf(us) { return sprintf("%.1f", us / 1000) }
function ratio(a, b) { return b > 0 ? sprintf("**%.2fx**", a / b) : "n/a" }
/^UGB scale / {
	u = kv($0, "units"); p = kv($0, "prefixes")
	if (!(p in seenp)) { seenp[p] = 1; plist_p[++npp] = p }
	if (u == 1) one[p] = NR; else { many[p] = NR; nu = u }
	# + 0: numbers, not strings, in the comparisons below
	st[NR] = kv($0, "start") + 0; add[NR] = kv($0, "add") + 0; ch[NR] = kv($0, "change") + 0
	rss[NR] = kv($0, "rss_kb") + 0; hwm[NR] = kv($0, "hwm_kb") + 0; uu[NR] = u + 0; pp[NR] = p + 0
	row[++nrow] = NR
	if (kv($0, "dbus") != 1) problem(u " x " p ": the agent did not say it resolves through D-Bus")
	if (kv($0, "errors") != 0) problem(u " x " p ": the agent logged " kv($0, "errors") " errors")
}
/^UGB-AGENT / { problem("agent: " substr($0, 11)) }
/^UGB-FATAL / { problem("guest: " substr($0, 11)) }
/^UGB done/ { done = 1 }
END {
	print "## Scale with systemd as PID 1, units resolved through D-Bus (VM tier, bench/vm-scale.sh)"
	print ""
	print meta ". TCG timings are emulated: read the **ratios** of the many-unit rows to the one-unit rows, measured in the same boot."
	print ""
	print "| guarded units | prefixes each | rules | agent start to in force, ms | rule add on one unit, returned (EPERM right after), ms | 100-rule change on one unit, commit to in force, ms | agent RSS steady / peak, MB |"
	print "|---|---|---|---|---|---|---|"
	for (i = 1; i <= nrow; i++) {
		r = row[i]
		printf "| %d | %d | %d | %s | %s | %s | %d / %d |\n", uu[r], pp[r], uu[r] * pp[r], msf(st[r]), msf(add[r]), msf(ch[r]), rss[r] / 1024, hwm[r] / 1024
	}
	print ""
	print "Ratios, " nu " guarded units against 1, same prefixes per unit (issue 12'"'"'s goal: one change within 2x; the start writes " nu " times the rules, so its ratio is not a goal):"
	print ""
	print "| prefixes each | start | rule add | 100-rule change | goal: one change within 2x |"
	print "|---|---|---|---|---|"
	for (i = 1; i <= npp; i++) {
		p = plist_p[i]
		if (!(p in one) || !(p in many)) { problem(p " prefixes: a configuration is missing"); continue }
		a = one[p]; b = many[p]
		printf "| %d | %s | %s | %s | **%s** |\n", p, ratio(st[b], st[a]), ratio(add[b], add[a]), ratio(ch[b], ch[a]),
			(add[b] <= 2 * add[a] && ch[b] <= 2 * ch[a]) ? "met" : "NOT met"
	}
	print ""
	print "Method: bench/guest-scale.sh. The services run `sleep infinity` (systemd-run, IPAccounting=no) from before the first configuration to the end; per configuration a fresh store holds the guarded ones'"'"' rules (the SQL of bench/scale.sh), and a fresh agent (its own pin directory) is started on it. Agent start is from starting unitguardd to its acknowledgement of the store'"'"'s policy version; the agent asks systemd for every unit'"'"'s ControlGroup over D-Bus. rule add: `unitguardctl rule add` of a deny on the middle unit, median of 5, the CLI'"'"'s own start included; a TCP connect from inside that unit'"'"'s cgroup right after its return must get EPERM, or the run stops. 100-rule change: one SQL transaction of 100 denies on the first unit, commit to acknowledgement, median of 3. A warm-up configuration (1 unit x the first prefix count) runs first and is not in the table. No kernel memory figure here: the guest has no cgroup v1 memory controller to charge the maps to; see the host table."
	if (!done) problem("the guest did not finish")
	if (np) {
		print ""
		print "**Problems seen in this run:**"
		print ""
		for (i = 1; i <= np; i++) print "- " plist[i]
	}
	exit (np > 0)
}' "$TMP/guest.out" >"$TMP/section.md" && ok=1 || ok=0

write_section vm-scale "$TMP/section.md" "$OUT"
say "wrote its section of $OUT"
cat "$TMP/section.md"
if [ "$ok" != 1 ] || [ "${guest_rc:-1}" != 0 ]; then
	say "PROBLEMS (guest exit status ${guest_rc:-?}):"
	cat "$TMP/problems" >&2 2>/dev/null || true
	exit 1
fi
