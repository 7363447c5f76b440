#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ctest entry for the VM tier's lifeline test: boots the guest and runs
# guest-lifeline.sh there. Exit 77 when this host cannot run the VM.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$UG_SRC"
# The agent runs as the packaged unit, with its watchdog: too slow under
# ASan and TCG (as vm/service); the normal build runs this test.
if ldd "${UG_BIN:?}/unitguardd" | grep -q libasan; then
	echo "vm-lifeline: SKIP: sanitizer build: too slow under TCG for the unit's watchdog (the normal build runs this test)"
	exit 77
fi
exec "$here/run.sh" "$here/guest-lifeline.sh"
