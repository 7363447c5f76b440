#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Quick start 2: install what is missing, build, and run every test: once on
# a normal build, once on an AddressSanitizer + UndefinedBehaviorSanitizer
# build. ctest names every skipped test (exit 77) in its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/deps.sh

status=0
run_suite() { # run_suite DIR LABEL CMAKE-ARGS...
	local dir=$1 label=$2
	shift 2
	echo "=== $label: build ($dir) ==="
	packaging/build.sh "$dir" "$@"
	echo "=== $label: test ==="
	(cd "$dir" && ctest --output-on-failure --timeout 600) || status=1
}

run_suite build "normal build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite build-asan "ASan+UBSan build" -DCMAKE_BUILD_TYPE=Debug -DUG_SANITIZE=ON

[ $status = 0 ] && echo "=== all suites passed ===" || echo "=== FAILURES above ==="
exit $status
