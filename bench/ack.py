#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# ack.py DB [SQLFILE]: run SQLFILE (if given) against the store DB, then wait
# in-process for the agent to acknowledge the store's policy version
# (agent_state.applied_version >= meta.policy_version). Prints the
# microseconds from the commit's return to the acknowledgement. Exits 1 if
# the agent has not acknowledged within 300 s. Used by bench/scale.sh and
# bench/guest-scale.sh: polling from one process every 0.5 ms, not from a
# shell loop that forks sqlite3 (a fork costs tens of ms under TCG).
import sqlite3
import sys
import time

db = sys.argv[1]
sqlfile = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
c = sqlite3.connect(db, isolation_level=None, timeout=30)
if sqlfile:
    with open(sqlfile) as f:
        c.executescript(f.read())
t0 = time.monotonic()
want = c.execute("select value from meta where key = 'policy_version'").fetchone()[0]
while True:
    row = c.execute("select value from agent_state where key = 'applied_version'").fetchone()
    if row and int(row[0]) >= int(want):
        break
    if time.monotonic() - t0 > 300:
        sys.exit("ack.py: the agent never acknowledged policy version %s" % want)
    time.sleep(0.0005)
print(int((time.monotonic() - t0) * 1e6))
