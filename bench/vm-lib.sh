# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Sourced by the VM-tier benchmarks (bench/vm-inforce.sh, bench/vm-scale.sh,
# bench/vm-ipdeny.sh).
#
# vm_boot GUEST_SCRIPT OUT: build the tree in $BUILD (as RelWithDebInfo),
# boot the qemu guest once (tests/e2e/vm/run.sh, systemd as PID 1) running
# GUEST_SCRIPT with UG_BIN=$BUILD, and write what it printed to OUT, after a
# "UGB host" line (date, commit, whether the source differed from it, host
# load) and followed by one (the guest's exit status, host load). All UG_*
# variables reach the guest. Needs $SRC, $BUILD, say, die.
vm_boot() {
	local guest=$1 out=$2 dirty=0 rc
	say "building in $BUILD"
	cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$out.build.log" 2>&1 ||
		{ tail -n 20 "$out.build.log" >&2; die "cmake configure failed"; }
	cmake --build "$BUILD" -j2 >>"$out.build.log" 2>&1 ||
		{ tail -n 20 "$out.build.log" >&2; die "the tree does not build"; }
	for f in unitguardd unitguardctl tests/e2e/ugprobe; do
		[ -x "$BUILD/$f" ] || die "no $BUILD/$f after the build"
	done
	# What was measured: the commit, and whether the tree differed from it
	# (the build takes the working tree as it is). Documents and bench/
	# scripts are not built into the binaries: their edits do not count.
	git -C "$SRC" diff --quiet HEAD -- ':(exclude)*.md' ':(exclude)bench' 2>/dev/null || dirty=1
	# TCG competes with whatever else runs here (and disturbs it): record the load.
	echo "UGB host date=$(date -u +%Y-%m-%d) commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null ||
		echo unknown) dirty=$dirty load_before=$(cut -d' ' -f1 /proc/loadavg)" >"$out"
	say "booting the guest"
	set +e
	(cd "$SRC" && UG_BIN=$BUILD UG_VM_TIMEOUT=${UG_VM_TIMEOUT:-1200} \
		"$SRC/tests/e2e/vm/run.sh" "$guest") 2>&1 | tee -a "$out"
	rc=${PIPESTATUS[0]}
	set -e
	echo "UGB host guest_rc=$rc load_after=$(cut -d' ' -f1 /proc/loadavg)" >>"$out"
}

# vm_fact OUT KEY: KEY's value in the first "UGB host" or "UGB meta" line of
# OUT (a guest.out vm_boot wrote) that has it.
vm_fact() { sed -n "s/^UGB \(host\|meta\) .*\b$2=\([^ ]*\).*/\2/p" "$1" | head -n 1; }

# vm_commit OUT: the commit measured, saying so if the source differed from it.
vm_commit() {
	local hash
	hash=$(vm_fact "$1" commit)
	[ "$(vm_fact "$1" dirty)" != 1 ] || hash="$hash (with uncommitted changes to the source)"
	echo "$hash"
}
