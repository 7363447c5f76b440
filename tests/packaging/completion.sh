#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# packaging/completion: the bash completion for unitguardctl, sourced in a
# plain bash and asked as bash would ask it (COMP_WORDS, COMP_CWORD), offers
# what `unitguardctl --help` lists:
#  - "unitguardctl " exactly the commands, "unitguardctl rule " and
#    "unitguardctl unit " exactly their subcommands;
#  - "unitguardctl --" every global option of --help;
#  - "unitguardctl COMMAND --" every long option of `COMMAND --help`.
set -euo pipefail
BIN=${UG_BIN:?UG_BIN: the build directory}
SRC=${UG_SRC:?UG_SRC: the source tree}
FILE=$SRC/packaging/unitguardctl.bash-completion

fail() { echo "FAIL: $*" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

bash -n "$FILE" || fail "$FILE does not parse"

# complete LINE: what the completion offers for LINE (the cursor at its end),
# one per line, sorted. The function is the one `complete -p` names.
complete_line() {
	PATH=$BIN:$PATH bash --norc --noprofile -c '
		source "$1" || exit 3
		line=$2
		read -r -a COMP_WORDS <<<"$line"
		[[ $line == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE=$line
		COMP_POINT=${#line}
		spec=$(complete -p unitguardctl) || exit 4
		[[ $spec =~ -F\ ([^ ]+) ]] || exit 5
		"${BASH_REMATCH[1]}" unitguardctl "${COMP_WORDS[COMP_CWORD]}" \
			"${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' _ "$FILE" "$1" 2>"$TMP/err" | sed '/^$/d' | sort -u ||
		fail "completing '$1': $(cat "$TMP/err")"
}

# same WHAT WANT GOT: the two lists (files) are equal.
same() {
	cmp -s "$2" "$3" ||
		fail "$1: completion offers [$(tr '\n' ' ' <"$3")], --help lists [$(tr '\n' ' ' <"$2")]"
}

"$BIN/unitguardctl" --help >"$TMP/help"
sed -n '/^Commands:/,/^$/p' "$TMP/help" |
	sed -nE 's/^  ([a-z][a-z-]*( [a-z][a-z-]*)*)( .*)?$/\1/p' | sort -u >"$TMP/commands"
[ "$(wc -l <"$TMP/commands")" -ge 10 ] || fail "read too few commands from --help"

cut -d' ' -f1 "$TMP/commands" | sort -u >"$TMP/want"
complete_line "unitguardctl " >"$TMP/got"
same "unitguardctl <TAB>" "$TMP/want" "$TMP/got"
echo "ok: unitguardctl <TAB>: $(tr '\n' ' ' <"$TMP/got")"

for c in rule unit; do
	sed -nE "s/^$c ([a-z-]+)$/\\1/p" "$TMP/commands" | sort -u >"$TMP/want"
	complete_line "unitguardctl $c " >"$TMP/got"
	same "unitguardctl $c <TAB>" "$TMP/want" "$TMP/got"
	echo "ok: unitguardctl $c <TAB>: $(tr '\n' ' ' <"$TMP/got")"
done

# --opts: every long option of a help text's usage lines (indented), not of
# prose such as "Options of every command: --db PATH, ...".
options() {
	{ grep -E '^  ' || true; } | { grep -oE '(^|[^a-z-])--[a-z][a-z-]*' || true; } |
		sed -E 's/^[^-]*//' | sort -u
}
sed -n '/^Options:/,/^$/p' "$TMP/help" | options >"$TMP/want"
[ -s "$TMP/want" ] || fail "no global options in --help"
complete_line "unitguardctl --" >"$TMP/got"
missing=$(comm -23 "$TMP/want" "$TMP/got")
[ -z "$missing" ] || fail "unitguardctl --<TAB> does not offer: $missing"
echo "ok: unitguardctl --<TAB>: $(tr '\n' ' ' <"$TMP/got")"

while read -r cmd; do
	"$BIN/unitguardctl" $cmd --help | options >"$TMP/want" # $cmd: its words, on purpose
	echo "--help" >>"$TMP/want"
	sort -u -o "$TMP/want" "$TMP/want"
	complete_line "unitguardctl $cmd --" >"$TMP/got"
	missing=$(comm -23 "$TMP/want" "$TMP/got")
	[ -z "$missing" ] || fail "unitguardctl $cmd --<TAB> does not offer: $missing"
	echo "ok: unitguardctl $cmd --<TAB>: $(tr '\n' ' ' <"$TMP/got")"
done <"$TMP/commands"
echo "PASS"
