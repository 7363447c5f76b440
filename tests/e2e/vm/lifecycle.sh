#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ctest entry: boots the guest and runs guest-lifecycle.sh there.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$UG_SRC"
# The agent's life with systemd (start-up race, restarts, units coming and
# going) is a matter of ordering, which a sanitizer only slows down; the
# code it runs is the host tests' (run under ASan there) and vm/lsm's, which
# the sanitizer build runs in the guest. The normal build runs this test.
if ldd "${UG_BIN:?}/unitguardd" | grep -q libasan; then
	echo "vm/lifecycle: SKIP: sanitizer build (the normal build runs this test; vm/lsm runs the agent with systemd under ASan)"
	exit 77
fi
exec "$here/run.sh" "$here/guest-lifecycle.sh"
