# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by bench/scale.sh (host) and bench/guest-scale.sh (VM tier): the
# same store, the same names and the same medians on both tiers.

# unit_name K: the K-th guarded unit.
unit_name() { printf 's%04d.service' "$1"; }

# median: of the numbers on stdin, one per line (the lower one of an even count).
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# scale_load DB U P: U units of P /32 denies each, all distinct (rule k of
# all is 10.(k >> 16).(k >> 8 & 255).(k & 255)), written with SQL in one
# transaction (a policy file of a million rules is over the 16 MiB the CLI
# reads). DB must hold the schema already.
scale_load() {
	sqlite3 -batch -cmd '.timeout 5000' "$1" <<SQL
BEGIN;
WITH RECURSIVE u(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM u WHERE x < $2 - 1)
INSERT INTO units (target) SELECT printf('s%04d.service', x) FROM u;
WITH RECURSIVE p(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM p WHERE k < $2 * $3 - 1)
INSERT INTO rules (unit_id, direction, action, prefix)
SELECT (SELECT id FROM units WHERE target = printf('s%04d.service', k / $3)), 'egress', 'deny',
	printf('10.%d.%d.%d/32', k / 65536, (k / 256) % 256, k % 256) FROM p;
COMMIT;
SQL
}

# scale_change_sql UNIT BATCH: 100 more egress denies (172.16.BATCH.1-100/32)
# on UNIT, one transaction, on stdout.
scale_change_sql() {
	echo "BEGIN;"
	for r in $(seq 100); do
		echo "INSERT INTO rules (unit_id, direction, action, prefix) SELECT id, 'egress', 'deny', '172.16.$2.$r/32' FROM units WHERE target = '$1';"
	done
	echo "COMMIT;"
}
