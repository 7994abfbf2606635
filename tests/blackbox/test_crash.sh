# Crash safety: loads killed with SIGKILL at random moments. After each
# kill the data directory must open and verify, hold every load that had
# reported success, and hold the killed load either whole or not at all;
# re-sending it must then bring the state to exactly that of a clean run.
# CRASH_ROUNDS sets the number of kills (20 in `make test`, 200 in
# `make test-slow`); every other load is written to the log in parts.
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"
ROUNDS=${CRASH_ROUNDS:-20}
R="$XY_ROOT/rules"

# 3000 citizens of Rongcheng, and one events file per round of 4000 events
# (unique ids per file), all generated with one awk run each.
awk 'BEGIN {
    split("7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2", w, " ")
    print "id,name,city"
    for (k = 0; k < 3000; k++) {
        body = sprintf("371082%04d%02d%02d%03d", 1950 + k % 50, 1 + k % 12, 1 + k % 28, k % 1000)
        s = 0
        for (i = 1; i <= 17; i++) s += substr(body, i, 1) * w[i]
        printf "%s%s,Citizen %d,rongcheng\n", body, substr("10X98765432", s % 11 + 1, 1), k
    }
}' >"$T/citizens.csv"
cut -d, -f1 "$T/citizens.csv" | tail -n +2 >"$T/ids"
gen() { # gen FILE ROUND
    awk -v round="$2" 'BEGIN { srand(round) }
    { id[NR] = $0 }
    END {
        split("volunteering blood_donation traffic_violation red_light_crossing unpaid_bill loud_music dog_off_leash charity_donation", b, " ")
        split("neighbourhood_office blood_centre police police utility_company police police civil_affairs_bureau", a, " ")
        print "id,date,citizen,behaviour,agency,amount"
        for (k = 0; k < 4000; k++) {
            j = 1 + int(rand() * 8)
            printf "r%d-%d,2024-%02d-%02d,%s,%s,%s,%d\n", round, k, 1 + int(round / 28) % 12, 1 + round % 28,
                id[1 + int(rand() * NR)], b[j], a[j], int(rand() * 5000)
        }
    }' "$T/ids" >"$1"
}

fresh crash "$R"
setup load citizens "$T/citizens.csv"
fresh clean "$R"
setup load citizens "$T/citizens.csv"
use crash
# Snapshots every 300 kB of log, written by a child process in the
# background, and a new log segment every 500 kB: kills land during both.
export XINYONG_SNAPSHOT_EVERY=300000
export XINYONG_SEGMENT_BYTES=500000

acked=0
for round in $(seq 1 "$ROUNDS"); do
    gen "$T/e$round.csv" "$round"
    "$XY" --data "$T/clean" load events "$T/e$round.csv" >/dev/null 2>&1
    # Every other load writes its batch to the log in parts of 40 kB as it
    # is encoded (XINYONG_SPILL_BYTES; loads past 64 MB do by default), so
    # that kills land while the parts of an unfinished batch are there.
    spill=1000000000
    [ $((round % 2)) -eq 0 ] && spill=40000
    XINYONG_SPILL_BYTES=$spill "$XY" load events "$T/e$round.csv" >"$T/out$round" 2>&1 &
    pid=$!
    # A random moment within the load (opening and replaying the log,
    # validating, appending, fsync, applying).
    sleep "0.0$(awk -v r="$round" 'BEGIN { srand(r * 7919); printf "%02d", int(rand() * 99) }')"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    grep -q "applied" "$T/out$round" && acked=$((acked + 1))
    run verify
    if [ "$RC" -ne 0 ]; then bad "round $round: verify after the kill" "$ERR"; continue; fi
    events=$(printf '%s' "$OUT" | sed -n 's/.* \([0-9]*\) events.*/\1/p')
    # Everything acknowledged is there; the killed load is whole or absent.
    if grep -q "applied" "$T/out$round"; then want=$((round * 4000)); else want=$(( (round - 1) * 4000 )); fi
    if [ "$events" -ne "$want" ] && [ "$events" -ne $((round * 4000)) ]; then
        bad "round $round: events stored after the kill" "$events, expected $want (or $((round * 4000)))"
        continue
    fi
    if [ "$events" -lt "$want" ]; then bad "round $round: an acknowledged load is missing" "$events < $want"; continue; fi
    # The client re-sends what was not acknowledged: harmless either way.
    run load events "$T/e$round.csv"
    if [ "$RC" -ne 0 ]; then bad "round $round: re-sending after the kill" "$ERR"; continue; fi
    ok "round $round: recovered (events $events, killed load $(grep -q applied "$T/out$round" && echo acknowledged || echo not acknowledged))"
done
run verify
expect_out "background snapshots were written along the way" "covers the log up to byte"
expect_out "... and the log went on in new segments" "segments"
run stats --json
crashed=$OUT
run --data "$T/clean" stats --json
expect_eq "after $ROUNDS kills and re-sends, the state equals a clean run" "$crashed" "$OUT"
run list blacklist --json
a=$OUT
run --data "$T/clean" list blacklist --json
expect_eq "... and so does the blacklist" "$a" "$OUT"
echo "($acked of $ROUNDS killed loads had reported success before the kill)"
finish
