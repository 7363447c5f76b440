#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sabotaged.sh TEST: run an enforcement test with its programs detached behind
# the agent's back (UG_E2E_SABOTAGE=detach). It passes only when the test then
# fails on an enforcement check, which proves the test can see a missing program.
set -uo pipefail
test=$1
out=$(UG_E2E_SABOTAGE=detach "$(dirname "$0")/$test.sh" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -v '^libbpf' | tail -n 5
[ $rc = 77 ] && exit 77
if [ $rc = 1 ] && grep -q '^SABOTAGE:' <<<"$out" &&
	grep -qE "^FAIL: .*(expected '(EPERM|ETIMEDOUT)', got '(ok|ECONNREFUSED)'|never printed '(EPERM|ETIMEDOUT)' \(last: '(ok|ECONNREFUSED)'\)|attached: )" <<<"$out"; then
	echo "PASS: $test fails when its programs are not attached"
	exit 0
fi
echo "FAIL: $test did not fail on an enforcement check with its programs detached (rc=$rc)"
exit 1
