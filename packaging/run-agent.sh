#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Quick start 1: install what is missing, build, and run the agent in the
# foreground on its default store (/var/lib/unitguard/unitguard.db).
# Arguments are passed to unitguardd (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/deps.sh
packaging/build.sh build
exec build/unitguardd "$@"
