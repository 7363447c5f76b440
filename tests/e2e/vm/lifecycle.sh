#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ctest entry: boots the guest and runs guest-lifecycle.sh there.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$UG_SRC"
exec "$here/run.sh" "$here/guest-lifecycle.sh"
