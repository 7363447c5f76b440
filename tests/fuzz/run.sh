#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run one libFuzzer harness for a bounded time on a copy of its seed corpus.
#
#   run.sh HARNESS CORPUS SECONDS ARTIFACTS [libFuzzer option...]
#   run.sh --skip REASON      (no usable clang: say why, exit 77)
#
# The seeds are replayed first, so a seed that once crashed is a regression test. New inputs
# go to a temporary directory, never into the repository. Exit 0: no finding; 1: a crash,
# leak, timeout, out-of-memory or sanitizer report, whose input is left in ARTIFACTS.
set -euo pipefail

if [ "${1:-}" = --skip ]; then
	echo "fuzz: skipped: $2"
	exit 77
fi
[ $# -ge 4 ] || { echo "usage: $0 HARNESS CORPUS SECONDS ARTIFACTS [option...]" >&2; exit 2; }
harness=$1 corpus=$2 seconds=$3 artifacts=$4
shift 4
name=$(basename "$harness")

if [ ! -x "$harness" ]; then
	echo "fuzz: $harness was not built"
	exit 1
fi

# /dev/shm when there is one: the audit harness keeps its SQLite store here.
tmp=$(mktemp -d -p /dev/shm ugfuzz.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/corpus"
cp -R "$corpus/." "$tmp/corpus/"
mkdir -p "$artifacts"

# libFuzzer's own exit code for a finding is 77, which ctest would count as a skip: make every
# finding exit 1. The harness's output goes to a file: the audit code logs to stderr by design,
# and a passing run should leave a short ctest log.
status=0
UG_FUZZ_TMPDIR=$tmp "$harness" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 \
	-error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 \
	-artifact_prefix="$artifacts/$name-" "$@" "$tmp/corpus" >"$tmp/log" 2>&1 || status=$?

if [ "$status" != 0 ]; then
	tail -n 80 "$tmp/log"
	echo "fuzz: $name failed (exit $status); the input is in $artifacts/$name-*"
	echo "fuzz: reproduce with: $harness $artifacts/$name-<file>"
	exit 1
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/log")
echo "fuzz: $name: ${runs:-?} inputs in ${seconds}s, no finding"
