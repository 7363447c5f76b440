#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The CLI's output and exit codes against those of another build (issue 22:
# "byte-for-byte those of before on tests/e2e/cli's cases", before being
# 3779679). Usage: cliparity.sh OLD_BUILD NEW_BUILD (build directories).
#
# Every unitguardctl invocation tests/e2e/cli.sh makes, in its order and
# with the same store edits between them, is run once with each build on a
# fresh store at the same path; stdout, stderr and the exit status of each
# are compared byte for byte, and each difference printed as a diff. Then
# explain and show, which cli.sh does not call, on the store cli.sh leaves,
# on a slice with units below it in each mode (issue 21.2) and on units
# alone in each mode. Between cases, each rule's created_at is set to one
# fixed time: the one thing that differs from run to run.
#
# A difference is accepted only when it is listed in INTENDED below, with
# its reason: the listed rewrite, applied to the new build's output, must
# then give the old build's byte for byte. Exit 0: no other difference;
# 1: one or more; 77: no OLD_BUILD (a developer's check: it needs the
# old build, made with `git worktree add DIR 3779679` and packaging/build.sh).
set -uo pipefail

[ $# = 2 ] || { echo "usage: $0 OLD_BUILD NEW_BUILD" >&2; exit 2; }
OLD=$1 NEW=$2
[ -x "$OLD/unitguardctl" ] || { echo "SKIP: cliparity: no $OLD/unitguardctl"; exit 77; }
[ -x "$NEW/unitguardctl" ] || { echo "cliparity: no $NEW/unitguardctl" >&2; exit 2; }
for t in sqlite3 jq awk diff; do
	command -v $t >/dev/null || { echo "SKIP: cliparity: needs $t"; exit 77; }
done

W=$(mktemp -d /tmp/ug-cliparity.XXXXXX)
trap 'rm -rf "$W"' EXIT
# Both runs use this one directory, so paths in the output are the same.
TMP=$W/run
DB=$TMP/unitguard.db

# ---------------------------------------------------------------------------
# The cases. c ARGS... runs `unitguardctl --db DB --no-wait ARGS` (as cli.sh's
# ctl); C ARGS... runs it as given (cli.sh's "$CTL" ...). Each is recorded
# as case N: N.cmd, N.out, N.err, N.rc.
N=0
record() {
	N=$((N + 1))
	printf '%s\n' "$*" >"$OUT/$N.cmd"
	"$BIN/unitguardctl" "$@" >"$OUT/$N.out" 2>"$OUT/$N.err" </dev/null
	echo $? >"$OUT/$N.rc"
	# The one thing that differs from run to run: when a rule was written.
	[ ! -e "$DB" ] || sqlite3 "$DB" "update rules set created_at = '2026-01-01T00:00:00.000Z'"
}
c() { record --db "$DB" --no-wait "$@"; }
C() { record "$@"; }

cli_cases() {
	c rule list
	C --db "$DB" rule add demo.service egress deny 10.9.0.0/16
	c rule del 1
	sqlite3 "$DB" "delete from units; delete from sqlite_sequence"

	c rule add demo.service egress deny 10.0.0.0/8
	c rule add demo.service egress allow 10.1.0.0/16
	c rule add web.slice ingress deny 2001:db8::/32
	c rule add /system.slice/x.service egress deny 192.0.2.1
	c rule add foo@1.service egress deny ::1

	c rule list demo.service --json
	c rule list --json
	c rule list
	c --json rule list demo.service
	c --json rule del 999999

	c rule add demo.service egress deny 10.0.0.0/33
	c rule add demo.service egress deny 10.0.0.1/8
	c rule add demo.service egress deny 300.1.1.1
	c rule add demo.service egress deny ::/129
	c rule add demo.service egress deny 10.0.0.0/-1
	c rule add demo.service egress deny "10.0.0.0/8 "
	c rule add demo.service egress deny ""
	c rule add demo.service egress deny example.com
	c rule add demo.service sideways deny 10.0.0.0/8
	c rule add demo.service egress maybe 10.0.0.0/8
	c rule add demo egress deny 10.0.0.0/8
	c rule add relative/path egress deny 10.0.0.0/8
	c rule add /a/../b egress deny 10.0.0.0/8
	c rule add "demo.service;rm" egress deny 10.0.0.0/8
	c rule add foo@.service egress deny 10.0.0.0/8
	c rule list nothing
	c audit --unit "bad unit"
	c rule del 999
	c rule del abc
	c rule del -- -1
	c rule del 0
	c rule add demo.service egress deny
	c frobnicate
	c rule list --frob
	c rule add demo.service egress deny 10.0.0.0/8 --comment $'two\nlines'
	c rule add demo.service egress deny 10.0.0.0/8 --comment $'\e[31mred'
	c rule add demo.service exec deny /usr/bin/x --comment "$(printf 'x%.0s' $(seq 1025))"
	printf 'version: 1\nunits:\n  - target: demo.service\n    rules:\n      - {direction: egress, action: deny, prefix: 10.0.0.0/8, comment: "a\\u001bb"}\n' >"$TMP/esc.yaml"
	c apply "$TMP/esc.yaml"
	mkdir "$TMP/adir"
	c apply "$TMP/adir"
	truncate -s $((16 * 1024 * 1024 + 1)) "$TMP/big.yaml"
	c apply "$TMP/big.yaml"

	awk 'BEGIN {
		print "version: 1\nunits:\n  - target: /ugcap.slice\n    rules:"
		for (i = 0; i < 1000; i++)
			printf "      - {direction: egress, action: deny, prefix: 10.0.%d.%d/32}\n",
				int(i / 256), i % 256
		for (k = 0; k < 40; k++)
			printf "  - target: /ugcap.slice/u%d.service\n    rules:\n" \
				"      - {direction: egress, action: allow, prefix: 192.168.%d.0/24}\n", k, k
	}' >"$TMP/cap.yaml"
	c apply --check "$TMP/cap.yaml"
	sqlite3 "$DB" "insert into agent_state (key, value) values ('maps', 'ug_lpm 4160000/4194304, ug_lists 0/65536, ug_units 40/4096, 40 tries')"
	c apply --check "$TMP/cap.yaml"
	c apply "$TMP/cap.yaml"
	sqlite3 "$DB" "delete from agent_state where key = 'maps'"

	c export "$TMP/cur.yaml"
	cp "$TMP/cur.yaml" "$OUT/export.yaml" # what export wrote is output too
	c apply --diff "$TMP/cur.yaml"
	sed 's|prefix: 10.0.0.0/8$|prefix: 10.0.0.0/9|' "$TMP/cur.yaml" >"$TMP/new.yaml"
	printf -- '- target: new.slice\n  default-egress: deny\n  rules:\n  - {direction: family, action: deny, family: packet, comment: "no raw"}\n' >>"$TMP/new.yaml"
	c apply --diff "$TMP/new.yaml"
	printf 'version: 1\nunits:\n  - target: demo.service\n    rules:\n      - {direction: egress, action: deny, prefix: 10.0.0.0/33}\n' >"$TMP/bad5.yaml"
	c apply --diff "$TMP/bad5.yaml"
	c apply --diff --check "$TMP/new.yaml"
	C --db "$TMP/none.db" apply --diff "$TMP/new.yaml"

	c rule del 2
	c rule list --json
	c rule add demo.service egress deny 10.9.0.0/16

	sqlite3 "$DB" "update rules set comment = char(27) || '[2Jgone' || char(10) || 'forged line' where id = 1;
		insert into units (target) values ('ev' || char(27) || '[31mil.service');
		insert into audit (time, time_us, unit, verdict, hook, path, comm, detail)
			values ('2026-11-22T03:29:05.000000Z', 1795318145000000, 'demo.service', 'deny',
				'file_open', '/tmp/a' || char(10) || 'b', 'x' || char(27) || ']0;t' || char(7), NULL);
		insert into status (target, state, reason, enforced, updated_at)
			values ('demo.service', 'refused', 'bad' || char(27) || '[2J', 0, 'now')"
	c rule list
	c unit show demo.service
	c unit list
	c audit
	c audit --summary
	c status
	c rule list --json
	sqlite3 "$DB" "update rules set comment = NULL where id = 1; delete from units where target like 'ev%';
		delete from audit; delete from status"

	c audit --json
	c unit set demo.service --default-egress deny
	c unit list --json
	c unit list
	c unit show demo.service --json
	c unit show demo.service
	c unit show nosuch.service
	c unit del nosuch.service
	c unit del web.slice

	c rule add --help
	c audit --help
	C --version
	c rule add demo.service family deny AF_PACKET
	c rule add demo.service egress deny 10.8.0.0/16 --wait
	c rule del "$(sqlite3 "$DB" "select id from rules where prefix = '10.8.0.0/16'")"

	long=/a-very-long-cgroup-path.slice/with-a-long-service-name.service
	c rule add "$long" egress deny 10.7.0.0/16
	sqlite3 "$DB" "insert into status (target, state, reason, enforced, updated_at) values ('$long', 'waiting', 'not running', 0, 'now')"
	c rule list
	c unit list
	c unit show "$long"
	c status
	sqlite3 "$DB" "delete from status"
}

# explain and show, which cli.sh does not call: on the store it leaves, on a
# slice with a unit below it in each mode (placed by status rows, as the
# agent would), and on units alone in each mode.
mode_cases() {
	local t

	c show demo.service
	c show demo.service --json
	c explain demo.service 10.0.0.1
	c explain demo.service 10.9.0.1 --json
	c explain demo.service 192.0.2.7
	c explain demo.service /usr/bin/x
	c explain foo@1.service ::1 --json

	c rule add ugp.slice egress deny 10.1.0.0/16
	c rule add ugp.slice family deny packet
	c unit set ugp.slice --default-ingress deny --harden ptrace
	c unit set ugp-a.service --mode audit --default-egress deny --harden bpf
	c rule add ugp-a.service egress deny 10.2.0.0/16
	c rule add ugp-a.service egress allow 10.1.1.0/24
	c unit set ugp-o.service --mode off
	c rule add ugp-o.service egress deny 10.3.0.0/16
	c unit set ugp-n.service --default-ingress allow
	for t in slice a o n; do
		local name=ugp-$t.service cg=/ugp.slice/ugp-$t.service

		[ $t = slice ] && name=ugp.slice cg=/ugp.slice
		sqlite3 "$DB" "insert into status (target, state, cgroup, mode, enforced, reason, updated_at)
			values ('$name', 'enforced', '$cg', 'enforce', 1, NULL, 'now')"
	done
	for t in ugp.slice ugp-a.service ugp-o.service ugp-n.service; do
		c show $t
		c show $t --json
		c explain $t 10.1.0.1
		c explain $t 10.1.1.1 --json
		c explain $t 10.2.0.1
		c explain $t 10.3.0.1 --json
		c explain $t 192.0.2.1
		c explain $t 192.0.2.1 --dir ingress --json
		c explain $t 192.0.2.1 --dir bind
	done
	# Cases no rule judges, on targets alone (not placed): explain's mode is
	# the target's own, as before.
	c unit set lone.service --default-ingress allow
	c unit set lone-a.service --mode audit
	c rule add lone-a.service egress deny 10.5.0.0/16
	c unit set lone-o.service --mode off
	c rule add lone-o.service egress deny 10.5.0.0/16
	for t in lone.service lone-a.service lone-o.service; do
		c explain $t 10.0.0.1
		c explain $t 10.5.0.1 --json
		c explain $t /usr/bin/x
		c explain $t /etc/x --access read --json
		c show $t
	done
}

run() { # run BUILD DIR: every case with BUILD, recorded in DIR
	BIN=$1 OUT=$2 N=0
	rm -rf "$TMP"
	mkdir -p "$TMP" "$OUT"
	cli_cases
	mode_cases
	echo $N >"$OUT/count"
}

run "$OLD" "$W/old"
run "$NEW" "$W/new"

# ---------------------------------------------------------------------------
# INTENDED: the differences that are meant, one a line: CMD|REWRITE|REASON.
# CMD (grep -E) selects cases by their command line, "--db DB --no-wait"
# left out. Each REWRITE of a case's lines is applied to the new build's
# stdout in turn; the result must then be the old build's byte for byte.
# REWRITE "verdict" instead accepts what is left, printing it: a case whose
# verdict 21.2 changed on purpose, listed one by one.
INTENDED=$(
	cat <<'EOF'
^show [^ ]+$|drop_mode_column|issue 21.2: show's rule tables have a MODE column, the mode of the cgroup each rule comes from
^show [^ ]+$|audited_words|issue 21.2: show says which default denies, hardening switches and families are only audited (set by a cgroup in audit mode)
^show [^ ]+ --json$|drop_json_mode|issue 21.2: show --json gives each rule and each setting a "mode" key (the mode of the cgroup that set it; null: nobody set it); the values are as before
^explain [^ ]+ [^ ]+ --json$|drop_json_mode|issue 21.2: explain --json's deciding rule carries its "mode" key
^explain ugp-a.service 10.1.0.1$|verdict|issue 21.2: the slice's enforced deny keeps refusing below the unit in audit mode (before, the unit's audit mode made the whole target audited)
^explain ugp-a.service 10.1.1.1 --json$|verdict|issue 21.2: an allow of the unit in audit mode does not lift the slice's enforced deny (before, it decided)
^explain ugp-a.service 192.0.2.1 --dir ingress --json$|verdict|issue 21.2: the slice's enforced default-ingress deny is enforced below the unit in audit mode (before, audited)
^[a-z]+ ugp-o\.service|verdict|issue 21.2: a unit in mode off brings no rules of its own: it is shown and judged by its slice's policy alone (before, its rules were merged under the slice's mode)
^[a-z]+ ugp-n\.service|verdict|issue 21.1/21.2: a unit without policy of its own is shown and judged by its nearest policy cgroup above, as the kernel judges it (README, show/explain; before: "no policy applies")
^[a-z]+ lone-o\.service|verdict|issue 21.2: a unit in mode off brings no rules at all (as e2e/explain has said since a4c88d8; before, its rules were shown and explained as deciding, "allow (mode off)")
^explain [^ ]+ [^ ]+$|audited_default|issue 21.2: explain says a default deny decided only audited, set by a cgroup in audit mode
^--version$|version|the version number is the build's own
EOF
)

# The MODE column cut out of show's two tables: from where its header starts
# to where the next one starts, on every line down to the end of the table.
drop_mode_column() {
	awk '/^(DIR|KIND) .* MODE / { i = index($0, " MODE ") + 1
				      match(substr($0, i + 4), /[^ ]/); j = i + 3 + RSTART; tab = 1 }
	     !NF || /^note: / { tab = 0 }
	     tab { print substr($0, 1, i - 1) substr($0, j); next }
	     { print }'
}
audited_words() {
	sed -E 's/^(default (egress|ingress)): deny, audited /\1: deny /
		s/^(harden: [^ ]+) \(audited\) /\1 /
		s/^(denied family: [^ ]+ \(rule [0-9]+), audited\)/\1)/'
}
audited_default() {
	sed -E 's/^default: deny, audited: (.*), in audit mode$/default: deny: \1/'
}
drop_json_mode() {
	sed -E '/^    +"mode":("[a-z]+"|null),$/d'
}
version() { sed -E 's/^unitguardctl [0-9.]+$/unitguardctl VERSION/'; }

# ---------------------------------------------------------------------------
fails=0 cases=$(cat "$W/old/count") rewritten=0 accepted=0
[ "$(cat "$W/new/count")" = "$cases" ] || { echo "cliparity: case counts differ" >&2; exit 1; }
for i in $(seq 1 "$cases"); do
	cmd=$(sed -E 's/^--db [^ ]+ --no-wait //' "$W/old/$i.cmd")
	for s in out err rc; do
		old=$W/old/$i.$s new=$W/new/$i.$s verdict=
		cmp -s "$old" "$new" && continue
		cp "$new" "$W/now"
		: >"$W/reasons"
		while IFS='|' read -r re fn reason; do
			[ $s = out ] && grep -Eq -- "$re" <<<"$cmd" || continue
			echo "    $reason" >>"$W/reasons"
			if [ "$fn" = verdict ]; then
				verdict=1
			elif [ "$fn" = version ]; then
				version <"$old" >"$W/old.v"
				old=$W/old.v
				version <"$W/now" >"$W/now.v" && mv "$W/now.v" "$W/now"
			else
				$fn <"$W/now" >"$W/now.r" && mv "$W/now.r" "$W/now"
			fi
		done <<<"$INTENDED"
		if cmp -s "$old" "$W/now"; then
			rewritten=$((rewritten + 1))
			echo "intended ($i $s): unitguardctl $cmd"
			cat "$W/reasons"
		elif [ -n "$verdict" ]; then
			accepted=$((accepted + 1))
			echo "intended, verdict ($i $s): unitguardctl $cmd"
			cat "$W/reasons"
			diff -u --label old --label "new (rewritten)" "$old" "$W/now" | sed 's/^/      /'
		else
			fails=$((fails + 1))
			echo "DIFFERS ($i $s): unitguardctl $cmd"
			diff -u --label old --label "new (rewritten as INTENDED says)" "$old" "$W/now"
		fi
	done
done
if ! cmp -s "$W/old/export.yaml" "$W/new/export.yaml"; then
	fails=$((fails + 1))
	echo "DIFFERS: the file export wrote"
	diff -u "$W/old/export.yaml" "$W/new/export.yaml"
fi
echo "cliparity: $cases invocations compared (stdout, stderr, exit status): $fails unexplained" \
	"differences; intended: $rewritten rewritten back to the old output exactly," \
	"$accepted changed verdicts (printed above)"
[ $fails = 0 ]
