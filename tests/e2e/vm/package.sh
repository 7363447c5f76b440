#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ctest entry for the VM tier's package test: two boots of one disk image.
#   Boot 1: install the .deb, enable the service, enable a guarded unit whose first
#           action is a denied connect; restart and reload the agent under a running
#           guarded unit; power off.
#   Boot 2: the same disk (a reboot: /run and bpffs start empty): the guarded unit
#           started at boot was denied from its first instruction; then apt-get remove
#           and purge behave as documented.
# The .deb comes from UG_DEB, else from the build tree (BUILD/deb, made by the
# packaging/deb test), else packaging/deb.sh makes one. Exit 77 when the host cannot
# run the VM.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$UG_SRC"
UG_BIN=${UG_BIN:?}
if ldd "$UG_BIN/unitguardd" | grep -q libasan; then
	# The .deb is a normal build whatever this tree is: the normal suite runs this test.
	echo "vm/package: SKIP: sanitizer build (the .deb is built without sanitizers; the normal build runs this test)"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ug-package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
deb=${UG_DEB:-}
if [ -z "$deb" ]; then
	deb=$(ls -t "$UG_BIN"/deb/unitguard_*.deb 2>/dev/null | head -n 1)
	if [ -z "$deb" ] || [ -n "$(find "$UG_SRC" -path "$UG_SRC/build*" -prune -o -newer "$deb" -type f \
		\( -name '*.c' -o -name '*.h' -o -name '*.in' -o -name '*.txt' \) -print -quit)" ]; then
		echo "vm/package: building the .deb (packaging/deb.sh)"
		packaging/deb.sh "$tmp/deb" >"$tmp/deb.log" 2>&1 || { tail -n 40 "$tmp/deb.log"; exit 1; }
		deb=$(ls "$tmp"/deb/unitguard_*.deb | head -n 1)
	fi
fi
echo "vm/package: $deb"
export UG_DEB=$deb
# The disk holds the overlay's upper layer: what boot 1 installs, boot 2 finds.
truncate -s 2G "$tmp/disk.img"
mkfs.ext4 -q -F "$tmp/disk.img" || exit 1
export UG_VM_DISK=$tmp/disk.img
rc=0
"$here/run.sh" "$here/guest-package.sh" 1 || rc=$?
[ $rc = 0 ] && { "$here/run.sh" "$here/guest-package.sh" 2 || rc=$?; }
exit $rc
