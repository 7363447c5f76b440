#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# packaging/man: the man pages the build rendered from packaging/man/*.scd.
#  - each renders with `man --warnings` and no warning (what lintian's
#    groff-message check sees), and lexgrog finds its NAME section, naming
#    the page's own name;
#  - every command `unitguardctl --help` lists has an entry of its own in
#    unitguardctl(8), and every long option of `unitguardctl --help`, of each
#    command's --help, and of `unitguardd --help` appears in that page: a
#    command or option added to a program but not to its page fails here.
set -euo pipefail
BIN=${UG_BIN:?UG_BIN: the build directory}
MAN=$BIN/man
PAGES=(unitguardd.8 unitguardctl.8 unitguard.policy.5 unitguard.7)

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
for t in man lexgrog; do
	command -v "$t" >/dev/null || skip "$t not found (Debian: apt-get install man-db)"
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

for page in "${PAGES[@]}"; do
	f=$MAN/$page
	[ -s "$f" ] || fail "$f missing or empty (does the build render it?)"
	# man writes groff's warnings to stderr; the rendered page goes nowhere.
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l -Tutf8 "$f" 2>"$TMP/warn" >/dev/null ||
		fail "$page: man could not render it: $(cat "$TMP/warn")"
	[ ! -s "$TMP/warn" ] || fail "$page: warnings: $(cat "$TMP/warn")"
	name=${page%.*}
	# lexgrog takes a NAME section in any of the languages it knows; ours is English.
	grep -q '^\.SH NAME$' "$f" || fail "$page: no NAME section"
	lexgrog "$f" >"$TMP/lex" 2>&1 || fail "$page: lexgrog finds no NAME section: $(cat "$TMP/lex")"
	grep -qF ": \"$name - " "$TMP/lex" ||
		fail "$page: NAME section does not start with '$name - ': $(cat "$TMP/lex")"
	echo "ok: $page renders without warnings; NAME: ${name}"
done

# --- the pages keep up with the programs ------------------------------------------
# Commands: the lines of the "Commands:" block that start with a command, its
# leading lowercase words ("rule add", "audit").
"$BIN/unitguardctl" --help >"$TMP/help"
sed -n '/^Commands:/,/^$/p' "$TMP/help" |
	sed -nE 's/^  ([a-z][a-z-]*( [a-z][a-z-]*)*)( .*)?$/\1/p' | sort -u >"$TMP/commands"
[ "$(wc -l <"$TMP/commands")" -ge 10 ] ||
	fail "read only $(wc -l <"$TMP/commands") commands from unitguardctl --help:" \
		"$(tr '\n' ',' <"$TMP/commands")"
roff=$MAN/unitguardctl.8
while read -r cmd; do
	# An entry starts its line with the command in bold: "\fBrule add\fR ...".
	grep -qE "^\\\\fB$cmd\\\\fR( |$)" "$roff" ||
		fail "unitguardctl --help lists '$cmd', unitguardctl.8 has no entry for it"
	"$BIN/unitguardctl" $cmd --help >>"$TMP/help" # $cmd split into its words on purpose
done <"$TMP/commands"
echo "ok: unitguardctl.8 has an entry for each of $(wc -l <"$TMP/commands") commands:" \
	"$(tr '\n' ',' <"$TMP/commands" | sed 's/,$//')"

# check_options HELP PAGE: every --option of HELP is in PAGE, in bold.
check_options() {
	grep -oE '(^|[^a-z-])--[a-z][a-z-]*' "$1" | sed -E 's/^[^-]*//' | sort -u >"$TMP/opts"
	[ -s "$TMP/opts" ] || fail "no options found in the help for $2"
	while read -r opt; do
		grep -qF "\\fB$opt\\fR" "$MAN/$2" || fail "the help lists $opt, $2 does not"
	done <"$TMP/opts"
	echo "ok: $2 has each of $(wc -l <"$TMP/opts") options of the help: $(tr '\n' ' ' <"$TMP/opts")"
}
check_options "$TMP/help" unitguardctl.8
"$BIN/unitguardd" --help >"$TMP/dhelp"
check_options "$TMP/dhelp" unitguardd.8
echo "PASS"
