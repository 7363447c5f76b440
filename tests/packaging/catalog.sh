#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# packaging/catalog: every MESSAGE_ID the agent journals has an entry in the
# journal catalog, and journalctl itself reads the catalog as we mean it.
#  - ids are defined in agent/messages.h only: no MESSAGE_ID literal and no
#    UG_MESSAGE_* definition elsewhere, and every UG_MESSAGE_* used is defined;
#  - the ids defined and the catalog's entries are the same set, no entry twice,
#    and every line starting with "-- " is a well-formed entry header;
#  - `journalctl --root=TMP --update-catalog` builds a database from the file
#    in TMP/usr/lib/systemd/catalog/, and `--list-catalog` lists exactly those
#    ids, each defined by unitguard and with a subject (journalctl skips or
#    merges malformed entries without a word).
set -euo pipefail
SRC=${UG_SRC:?UG_SRC: the source tree}
HDR=$SRC/agent/messages.h
CAT=$SRC/packaging/unitguard.catalog

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
command -v journalctl >/dev/null || skip "journalctl not found (Debian: apt-get install systemd)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- the source ---------------------------------------------------------------------
sed -nE 's/^#define (UG_MESSAGE_[A-Z0-9_]+) "([0-9a-f]{32})"$/\1 \2/p' "$HDR" | sort >"$TMP/defs"
[ -s "$TMP/defs" ] || fail "no '#define UG_MESSAGE_X \"<32 hex digits>\"' in $HDR"
cut -d' ' -f2 "$TMP/defs" | sort >"$TMP/ids"
dup=$(uniq -d "$TMP/ids")
[ -z "$dup" ] || fail "$HDR defines an id twice: $dup"

mapfile -t srcs < <(find "$SRC/agent" "$SRC/ctl" "$SRC/db" "$SRC/policy" "$SRC/bpf" \
	-name '*.[ch]' | sort)
[ ${#srcs[@]} -gt 0 ] || fail "no sources found under $SRC"
if lit=$(grep -nE 'MESSAGE_ID=[0-9a-fA-F]{32}' "${srcs[@]}"); then
	fail "a MESSAGE_ID written as a literal (define it in agent/messages.h): $lit"
fi
if other=$(grep -nE '^#define UG_MESSAGE_' "${srcs[@]}" | grep -v "^$HDR:"); then
	fail "a UG_MESSAGE_* defined outside agent/messages.h: $other"
fi
grep -ohE '\bUG_MESSAGE_[A-Z0-9_]+\b' "${srcs[@]}" | sort -u >"$TMP/used"
cut -d' ' -f1 "$TMP/defs" >"$TMP/names"
undefined=$(comm -23 "$TMP/used" "$TMP/names")
[ -z "$undefined" ] || fail "used but not defined in agent/messages.h: $undefined"
echo "ok: $(wc -l <"$TMP/ids") ids defined in agent/messages.h, the only place"

# --- the catalog file ---------------------------------------------------------------
if bad=$(grep -nE '^--' "$CAT" | grep -vE '^[0-9]+:-- [0-9a-f]{32}$'); then
	fail "malformed entry header in $CAT (want '-- <32 lowercase hex digits>'): $bad"
fi
sed -nE 's/^-- ([0-9a-f]{32})$/\1/p' "$CAT" | sort >"$TMP/entries"
dup=$(uniq -d "$TMP/entries")
[ -z "$dup" ] || fail "$CAT has an entry twice: $dup"
missing=$(comm -23 "$TMP/ids" "$TMP/entries")
[ -z "$missing" ] || fail "ids with no catalog entry: $(grep -F "$missing" "$TMP/defs" | tr '\n' ' ')"
stale=$(comm -13 "$TMP/ids" "$TMP/entries")
[ -z "$stale" ] || fail "catalog entries for ids agent/messages.h does not define: $stale"
echo "ok: $CAT has one entry per id"

# --- what journalctl makes of it ----------------------------------------------------
mkdir -p "$TMP/root/usr/lib/systemd/catalog"
cp "$CAT" "$TMP/root/usr/lib/systemd/catalog/"
journalctl --root="$TMP/root" --update-catalog 2>"$TMP/err" ||
	fail "journalctl --update-catalog failed: $(cat "$TMP/err")"
[ ! -s "$TMP/err" ] || fail "journalctl --update-catalog complained: $(cat "$TMP/err")"
journalctl --root="$TMP/root" --list-catalog >"$TMP/list" 2>"$TMP/err" ||
	fail "journalctl --list-catalog failed: $(cat "$TMP/err")"
cut -d' ' -f1 "$TMP/list" | sort >"$TMP/listed"
cmp -s "$TMP/ids" "$TMP/listed" ||
	fail "journalctl lists other ids than agent/messages.h defines:" \
		"$(diff "$TMP/ids" "$TMP/listed" | grep '^[<>]' | tr '\n' ' ')"
# --list-catalog prints "ID DEFINED-BY: SUBJECT", n/a for a missing field.
if bad=$(grep -vE '^[0-9a-f]{32} unitguard: .*[^ ]' "$TMP/list" || grep -E ': n/a$' "$TMP/list"); then
	fail "entries without 'Defined-By: unitguard' or a Subject: $bad"
fi
echo "ok: journalctl --update-catalog reads every entry, each defined by unitguard, with a subject"
echo "PASS"
