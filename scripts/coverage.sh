#!/bin/sh
# Reports which lines of src/ the tests ran, from a build made with
# --coverage whose tests have run (make coverage does both): a line per
# module with the share of its lines run and of its branches taken, then
# the total. With --missed, the lines never run follow, as FILE:LINE: text,
# for a reader to find the paths no test reaches.
#
# The background snapshot's child ends with _exit, which skips the
# counters' write-out, so the lines only that child runs read as never run.
set -eu
B=${1:-build/cov}
missed=${2:-}
out="$B/gcov"
rm -rf "$out"
mkdir -p "$out"
root=$(pwd)
# gcov writes its .gcov files into the directory it runs in and names the
# sources as the compiler was given them (src/X.c), so it runs from the
# root with its output moved aside afterwards.
gcov -b -o "$B/obj" src/*.c >"$out/summary.txt" 2>/dev/null
mv ./*.gcov "$out/" 2>/dev/null || true
awk -v root="$root/" '
    /^$/ { keep = 0 }
    /^File / { f = $2; gsub("\047", "", f); sub(root, "", f); keep = (f ~ /^src\/.*\.c$/) }
    keep && /^Lines executed:/ { split($2, a, ":"); lp[f] = a[2]; ln[f] = $4 }
    keep && /^Taken at least once:/ { split($4, a, ":"); bp[f] = a[2]; bn[f] = $6 }
    END {
        printf "%-18s %8s %7s %9s %8s\n", "module", "lines", "run", "branches", "taken"
        n = 0
        for (f in lp) names[++n] = f
        for (i = 2; i <= n; i++) { k = names[i]; for (j = i - 1; j >= 1 && names[j] > k; j--) names[j + 1] = names[j]; names[j + 1] = k }
        for (i = 1; i <= n; i++) {
            f = names[i]; l = lp[f] + 0; b = bp[f] + 0
            printf "%-18s %8d %6.1f%% %9d %7.1f%%\n", f, ln[f], l, bn[f], b
            tl += ln[f]; tr += ln[f] * l / 100; tb += bn[f]; tt += bn[f] * b / 100
        }
        printf "%-18s %8d %6.1f%% %9d %7.1f%%\n", "total", tl, tl ? 100 * tr / tl : 0, tb, tb ? 100 * tt / tb : 0
    }' "$out/summary.txt"
if [ "$missed" = "--missed" ]; then
    for g in "$out"/*.c.gcov; do
        f=src/$(basename "$g" .gcov)
        [ -f "$f" ] || continue
        sed -n "s|^ *#####: *\([0-9]*\):\(.*\)|$f:\1:\2|p" "$g"
    done
fi
