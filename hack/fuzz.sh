#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 60s;
# `make fuzz`), one after the other, and prints a table of executions and
# findings. A target that fails stops nothing: the others run, the script
# exits 1 at the end, and the failing input is in the package's
# testdata/fuzz/<target>/ (commit it: it becomes a regression test).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-60s}
GO=${GO:-go}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

mapfile -t targets < <(git ls-files '*_test.go' | xargs grep -H '^func Fuzz[A-Za-z0-9_]*(' |
	sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#' | sort -u)
if [ "${#targets[@]}" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz: ${#targets[@]} targets, $FUZZTIME each"
failed=0
rows=()
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	out="$log/$(echo "$dir-$name" | tr / _).log"
	printf 'fuzz: %-40s %s ... ' "$name" "./$dir"
	if $GO test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" "./$dir" >"$out" 2>&1; then
		result=ok
	else
		result=FAILED
		failed=1
	fi
	# The last progress line: "fuzz: elapsed: 1m0s, execs: 123456 (2057/sec), new interesting: 12 (total: 40)".
	execs=$({ grep -oE 'execs: [0-9]+' "$out" || true; } | tail -1 | awk '{print $2}')
	found=$({ grep -oE 'new interesting: [0-9]+' "$out" || true; } | tail -1 | awk '{print $3}')
	echo "$result, ${execs:-0} executions"
	rows+=("| $name | ./$dir | ${execs:-0} | ${found:-0} | $result |")
	if [ "$result" = FAILED ]; then
		tail -30 "$out" | sed 's/^/    /'
	fi
done
echo
echo "| target | package | executions | new interesting inputs | result |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit "$failed"
