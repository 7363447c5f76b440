#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ctest entry for the VM tier's service test: boots the guest and runs
# guest-service.sh there. Exit 77 when this host cannot run the VM.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$UG_SRC"
exec "$here/run.sh" "$here/guest-service.sh"
