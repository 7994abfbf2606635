#!/bin/sh
# Runs both test layers: the C unit tests, then every black-box script in
# tests/blackbox/ against the real binary. Prints one line per failure and a
# last line "N passed, N failed"; exits non-zero if anything failed.
B=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
export XY="$root/$B/xinyong" XY_ROOT="$root" XY_FAULT_SHIM="$root/$B/fault.so"
passed=0
failed=0
tally() { # reads "N passed, N failed" from the last line of a log
    line=$(tail -n 1 "$1")
    p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
    f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
    if [ -z "$p" ]; then p=0; f=1; echo "FAIL $2: no result line (crashed?)"; fi
    passed=$((passed + p)); failed=$((failed + f))
}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$root/$B/unit" >"$log" 2>&1
rc=$?
grep -E '^FAIL' "$log"
before=$failed
tally "$log" unit
# A sanitizer's report at exit (a data race, a leak) changes only the
# status; the tests themselves may all have passed.
if [ "$rc" -ne 0 ] && [ "$failed" -eq "$before" ]; then
    echo "FAIL unit: exit status $rc"
    grep -E 'WARNING: |ERROR: ' "$log" | head -n 5
    failed=$((failed + 1))
fi
for t in "$root"/tests/blackbox/test_*.sh; do
    sh "$t" >"$log" 2>&1
    grep -E '^FAIL' "$log"
    tally "$log" "$(basename "$t")"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
