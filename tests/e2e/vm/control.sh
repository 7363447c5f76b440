#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ctest entry for the VM tier's control-plane test: boots the guest and runs
# guest-control.sh there. Exit 77 when this host cannot run the VM.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$UG_SRC"
# Its subjects are timing and the agent's dealings with systemd (D-Bus and PID 1
# restarted, 150 units at once, IPAccounting), which a sanitizer only slows down:
# under ASan and TCG it doubled the suite's longest test. The sanitizer build runs
# the agent with systemd in vm/lsm; the normal build runs this one.
if ldd "${UG_BIN:?}/unitguardd" | grep -q libasan; then
	echo "vm/control: SKIP: sanitizer build (the normal build runs this test; vm/lsm runs the agent with systemd under ASan)"
	exit 77
fi
exec "$here/run.sh" "$here/guest-control.sh"
