#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# deb.sh [OUTDIR]: build the unitguard .deb with Debian's own tools and check it.
#
# The files git tracks (as they are in the work tree, uncommitted changes
# included) are copied into a temporary directory, packaging/debian/ becomes
# its debian/, and `dpkg-buildpackage -us -uc -b` builds the binary packages
# there (debhelper, dh with the cmake build system). lintian checks the
# result: any error fails the build, warnings are printed. The .deb files end
# up in OUTDIR (default build/deb/). debian/changelog's version must be the
# CMake project version.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
OUT=$(realpath -m "${1:-build/deb}")

die() { echo "deb: $*" >&2; exit 1; }
for t in git dpkg-buildpackage dpkg-parsechangelog dh lintian; do
	command -v "$t" >/dev/null ||
		die "$t not found (packaging/deps.sh installs what the package build needs)"
done
git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
	die "$SRC is not a git work tree: the files to package are the ones git tracks"

# One version: CMake's project(), which the programs print with --version.
cmake_version=$(sed -nE 's/^project\(unitguard VERSION ([0-9][0-9.]*)[ )].*/\1/p' CMakeLists.txt)
[ -n "$cmake_version" ] || die "no 'project(unitguard VERSION X.Y.Z ...)' line in CMakeLists.txt"
deb_version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
[ "$deb_version" = "$cmake_version" ] ||
	die "packaging/debian/changelog is at $deb_version, CMakeLists.txt at $cmake_version:" \
		"add a changelog entry (dch -v $cmake_version)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
tree=$TMP/unitguard-$cmake_version
mkdir "$tree"
# Tracked files, as they are in the work tree; one deleted there is not copied.
git ls-files -z --cached | while IFS= read -r -d '' f; do
	if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
done | tar --null -T - -cf - | tar -xf - -C "$tree"
cp -a packaging/debian "$tree/debian"

echo "deb: building unitguard $cmake_version in $tree"
(
	cd "$tree"
	export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}"
	dpkg-buildpackage -us -uc -b
) >"$TMP/build.log" 2>&1 || {
	tail -n 60 "$TMP/build.log" >&2
	die "dpkg-buildpackage failed (the last 60 lines of its output are above)"
}

arch=$(dpkg --print-architecture)
changes=$TMP/unitguard_${cmake_version}_$arch.changes
[ -f "$changes" ] || die "no $changes after the build"
deb=$TMP/unitguard_${cmake_version}_$arch.deb
[ -f "$deb" ] || die "no $(basename "$deb") after the build"

# The binary in the package reports the version the package has.
dpkg-deb -x "$deb" "$TMP/x"
got=$("$TMP/x/usr/sbin/unitguardd" --version) || die "the packaged unitguardd does not run"
[ "$got" = "unitguardd $cmake_version" ] ||
	die "the packaged unitguardd says '$got', the package is $cmake_version"

echo "deb: lintian $(basename "$changes")"
lintian_rc=0
lintian --fail-on error "$changes" >"$TMP/lintian" 2>&1 || lintian_rc=$?
cat "$TMP/lintian"
errors=$(grep -c '^E: ' "$TMP/lintian" || true)
warnings=$(grep -c '^W: ' "$TMP/lintian" || true)
echo "deb: lintian: $errors errors, $warnings warnings"
[ "$lintian_rc" -eq 0 ] && [ "$errors" -eq 0 ] || die "lintian reports errors (exit $lintian_rc)"

mkdir -p "$OUT"
for f in "$TMP"/*.deb "$TMP"/*.ddeb; do
	[ -e "$f" ] || continue
	cp "$f" "$OUT/"
	echo "deb: $OUT/$(basename "$f")"
done
