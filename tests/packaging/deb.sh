#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# packaging/deb: packaging/deb.sh builds the .deb (debhelper, dpkg-buildpackage,
# lintian: it fails on a lintian error), and the package holds what it must:
#  - control: package unitguard at the CMake project version, its libraries
#    in Depends;
#  - files: both programs (executable), the unit in /lib/systemd/system with
#    ExecStart= at the packaged agent and Documentation= at a file it ships,
#    the four man pages, the journal catalog and the bash completion (each
#    the same as in the source), README.md and the copyright file;
#  - maintainer scripts: the unit enabled and started on install, restarted
#    (never stopped first) on upgrade, stopped on remove; prerm and postrm
#    name `unitguardd --detach-all`, and purge removes /var/lib/unitguard;
#  - lintian on the .deb alone: no error.
# About a minute: the package is built from scratch, in a temporary directory.
# The .deb that passed is left in BUILD/deb/, where vm/package takes it from.
set -euo pipefail
SRC=${UG_SRC:?UG_SRC: the source tree}
BIN=${UG_BIN:?UG_BIN: the build directory}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
for t in git dpkg-buildpackage dpkg-deb dh lintian; do
	command -v "$t" >/dev/null || skip "$t not found (packaging/deps.sh installs it)"
done
git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
	skip "$SRC is not a git work tree (deb.sh packages what git tracks)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$SRC/packaging/deb.sh" "$TMP/out" >"$TMP/deb.log" 2>&1 || {
	cat "$TMP/deb.log"
	fail "packaging/deb.sh failed"
}
grep -E '^deb: lintian: ' "$TMP/deb.log"

version=$(sed -nE 's/^project\(unitguard VERSION ([0-9][0-9.]*)[ )].*/\1/p' "$SRC/CMakeLists.txt")
arch=$(dpkg --print-architecture)
deb=$TMP/out/unitguard_${version}_$arch.deb
[ -f "$deb" ] || fail "deb.sh left no $(basename "$deb") in its OUTDIR: $(ls "$TMP/out")"

# --- control ------------------------------------------------------------------------
[ "$(dpkg-deb -f "$deb" Package)" = unitguard ] || fail "Package is not unitguard"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] ||
	fail "Version $(dpkg-deb -f "$deb" Version), CMake says $version"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libbpf1 libsystemd0 libsqlite3-0 libjson-c5 libyaml-0-2 procps; do
	grep -q "\\b$lib\\b" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
echo "ok: unitguard $version, Depends: $depends"

# --- files --------------------------------------------------------------------------
dpkg-deb -c "$deb" >"$TMP/list"
want=(
	"-rwxr-xr-x ./usr/sbin/unitguardd"
	"-rwxr-xr-x ./usr/sbin/unitguardctl"
	"-rw-r--r-- ./lib/systemd/system/unitguardd.service"
	"-rw-r--r-- ./usr/share/man/man8/unitguardd.8.gz"
	"-rw-r--r-- ./usr/share/man/man8/unitguardctl.8.gz"
	"-rw-r--r-- ./usr/share/man/man5/unitguard.policy.5.gz"
	"-rw-r--r-- ./usr/share/man/man7/unitguard.7.gz"
	"-rw-r--r-- ./usr/lib/systemd/catalog/unitguard.catalog"
	"-rw-r--r-- ./usr/share/bash-completion/completions/unitguardctl"
	"-rw-r--r-- ./usr/share/doc/unitguard/README.md"
	"-rw-r--r-- ./usr/share/doc/unitguard/copyright"
)
for w in "${want[@]}"; do
	awk -v m="${w%% *}" -v p="${w#* }" '$1 == m && $2 == "root/root" && $NF == p { f = 1 }
		END { exit !f }' "$TMP/list" || fail "the package has no $w (root-owned)"
done
echo "ok: the package has the ${#want[@]} files it must"

dpkg-deb -x "$deb" "$TMP/root"
r=$TMP/root
cmp -s "$SRC/packaging/unitguard.catalog" "$r/usr/lib/systemd/catalog/unitguard.catalog" ||
	fail "the packaged catalog differs from packaging/unitguard.catalog"
cmp -s "$SRC/packaging/unitguardctl.bash-completion" \
	"$r/usr/share/bash-completion/completions/unitguardctl" ||
	fail "the packaged completion differs from packaging/unitguardctl.bash-completion"
unit=$r/lib/systemd/system/unitguardd.service
grep -qx 'ExecStart=/usr/sbin/unitguardd' "$unit" ||
	fail "the unit's ExecStart= is not the packaged agent: $(grep ExecStart= "$unit")"
doc=$(sed -n 's|^Documentation=file://||p' "$unit")
[ -n "$doc" ] && [ -f "$r$doc" ] || fail "the unit's Documentation= names a file the package lacks: '$doc'"
for page in man8/unitguardd.8 man8/unitguardctl.8 man5/unitguard.policy.5 man7/unitguard.7; do
	zcat "$r/usr/share/man/$page.gz" | grep -q '^\.SH NAME$' || fail "$page.gz has no NAME section"
done
echo "ok: catalog and completion as in the source; unit at /usr/sbin/unitguardd, Documentation=$doc shipped"

# --- maintainer scripts -------------------------------------------------------------
dpkg-deb -e "$deb" "$TMP/ctl"
c=$TMP/ctl
grep -q "deb-systemd-helper enable 'unitguardd.service'" "$c/postinst" ||
	fail "postinst does not enable the unit"
grep -q '_dh_action=restart' "$c/postinst" && grep -q '_dh_action=start' "$c/postinst" ||
	fail "postinst does not start the unit on install and restart it on upgrade"
# Stopped only on remove: an upgrade must not stop the agent before the new one starts.
grep -q "deb-systemd-invoke stop 'unitguardd.service'" "$c/prerm" || fail "prerm does not stop the unit"
grep -B2 "deb-systemd-invoke stop" "$c/prerm" | grep -q '"$1" = remove' ||
	fail "prerm stops the unit on more than remove: $(grep -B2 'deb-systemd-invoke stop' "$c/prerm")"
grep -q "unitguardd --detach-all" "$c/prerm" || fail "prerm does not name unitguardd --detach-all"
grep -q "unitguardd --detach-all" "$c/postrm" || fail "postrm does not name unitguardd --detach-all"
grep -q "rm -r /sys/fs/bpf/unitguard" "$c/postrm" ||
	fail "postrm does not say how to end enforcement once unitguardd is gone"
grep -q 'rm -rf "${DPKG_ROOT:-}/var/lib/unitguard"' "$c/postrm" ||
	fail "postrm does not remove /var/lib/unitguard on purge"
for s in postinst prerm postrm; do
	sh -n "$c/$s" || fail "$s does not parse"
done
echo "ok: enabled and started on install, restarted on upgrade, stopped on remove;" \
	"messages name --detach-all; purge removes the store"

# --- lintian, on the .deb alone -----------------------------------------------------
lintian "$deb" >"$TMP/lintian" 2>&1 || true
cat "$TMP/lintian"
! grep -q '^E: ' "$TMP/lintian" || fail "lintian reports errors for $(basename "$deb")"
echo "ok: lintian: 0 errors, $(grep -c '^W: ' "$TMP/lintian" || true) warnings"
mkdir -p "$BIN/deb"
rm -f "$BIN"/deb/unitguard_*.deb "$BIN"/deb/unitguard-dbgsym_*.deb
cp "$TMP"/out/*.deb "$BIN/deb/"
echo "ok: the checked packages are in $BIN/deb: $(cd "$BIN/deb" && echo *.deb)"
echo "PASS"
