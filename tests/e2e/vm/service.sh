#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ctest entry for the VM tier's service test: boots the guest and runs
# guest-service.sh there. Exit 77 when this host cannot run the VM.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$UG_SRC"
# Under ASan and TCG a pass that loads the LSM programs takes longer than the
# unit's watchdog allows (the agent is killed mid-pass, as it should be): the
# sanitizer build skips this test, the normal build runs it. Decided here,
# before a guest is booted for nothing.
if ldd "${UG_BIN:?}/unitguardd" | grep -q libasan; then
	echo "vm-service: SKIP: sanitizer build: too slow under TCG for the unit's watchdog (the normal build runs this test)"
	exit 77
fi
exec "$here/run.sh" "$here/guest-service.sh"
