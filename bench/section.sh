# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the benchmarks that own one section of BENCHMARKS.md.
#
# write_section NAME SECTION OUT: put the file SECTION (without markers)
# between "<!-- NAME:begin -->" and "<!-- NAME:end -->" in OUT, replacing
# what was there, or append it with its markers. bench/run.sh, which writes
# the rest of OUT, keeps every such section.
write_section() {
	local name=$1 section=$2 out=$3 tmp
	tmp=$(mktemp)
	{
		echo "<!-- $name:begin (written by a benchmark script: rerun it, do not edit) -->"
		cat "$section"
		echo "<!-- $name:end -->"
	} >"$tmp.sec"
	if [ -f "$out" ] && grep -q "^<!-- $name:begin" "$out"; then
		awk -v f="$tmp.sec" -v b="^<!-- $name:begin" -v e="^<!-- $name:end" '
			$0 ~ b { while ((getline l < f) > 0) print l; skip = 1; next }
			$0 ~ e { skip = 0; next }
			!skip' "$out" >"$tmp"
	else
		{ [ -f "$out" ] && cat "$out" && echo; cat "$tmp.sec"; } >"$tmp"
	fi
	cp "$tmp" "$out"
	rm -f "$tmp" "$tmp.sec"
}
