# Without threads. Work that runs on a second thread (a load's events
# parser, the log's writes and syncs, the engine thread of loads and
# replays, the append path's applier, the check of the next log segment and
# of a snapshot, faulting in fresh memory) falls back to the calling
# thread when pthread_create fails, as in a process at its limit of
# threads. The fault shim's thread:EAGAIN (tests/fault/fault.c) makes
# every pthread_create fail: the unit tests then pass (two of them expect
# the fallback when no thread can be made), and the same inputs through
# the command line give byte for byte the same answers, from a log of
# several segments, after a snapshot and by replaying the log.
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"
shim_setup
EX="$XY_ROOT/examples"

LD_PRELOAD="$SHIM" XY_FAULT=thread:EAGAIN "$(dirname "$XY")/unit" >"$T/unit" 2>&1
RC=$?
ERR=$(grep -E '^FAIL|^  ' "$T/unit" | head -n 5)
expect_rc "the unit tests pass without threads" 0
case $(tail -n 1 "$T/unit") in
*" passed, 0 failed") ok "... and say so" ;;
*) bad "... and say so" "$(tail -n 1 "$T/unit")" ;;
esac

# The example's events, twenty times over with ids of their own: a load
# of several of the parser's chunks (4,096 rows).
awk -F, 'NR == 1 { print; next } { row[++n] = $0 }
    END { for (k = 0; k < 20; k++) for (i = 1; i <= n; i++) { sub(/^[^,]*/, "x" k "-" i, row[i]); print row[i] } }' \
    "$EX/events.csv" >"$T/events.csv"

# answers FILE: everything the data directory says about the example.
answers() {
    {
        "$XY" stats --json
        "$XY" list blacklist --json
        "$XY" list whitelist --json
        for id in $(cut -d, -f1 "$EX/citizens.csv" | tail -n +2); do
            "$XY" show "$id" --json
            "$XY" explain "$id" --json
            "$XY" check "$id" flight --json
        done
    } >"$1" 2>&1
}

# build: the inputs loaded in three commands and advanced; a new log
# segment every 20 kB, so that replays check one segment while they apply
# another.
build() {
    setup load citizens "$EX/citizens.csv"
    setup load contacts "$EX/contacts.csv"
    setup load events "$T/events.csv"
    setup advance 2025-06-30
}
export XINYONG_SEGMENT_BYTES=20000
fresh with "$XY_ROOT/rules"
build
answers "$T/ans.with"
fresh without "$XY_ROOT/rules"
# From here on every pthread_create fails (the shim's other faults only
# touch the log's files, which the other programs run here do not write).
export LD_PRELOAD="$SHIM" XY_FAULT=thread:EAGAIN
build
expect_eq "several log segments" "$(ls "$D" | grep -cE '^log\.[0-9]+$' | awk '{ print ($1 > 1) }')" 1
answers "$T/ans.without"
expect_eq "without threads: the same answers" "$(cmp "$T/ans.with" "$T/ans.without" && echo same)" same
setup snapshot
answers "$T/ans.without.snap"
expect_eq "... after a snapshot" "$(cmp "$T/ans.with" "$T/ans.without.snap" && echo same)" same
rm -f "$D/snapshot"
answers "$T/ans.without.replay"
expect_eq "... replaying the log" "$(cmp "$T/ans.with" "$T/ans.without.replay" && echo same)" same
run verify
expect_rc "... and the store verifies" 0
# Loading the file again: every event a duplicate, nothing changes.
run load events "$T/events.csv"
expect_rc "a re-sent file without threads" 0
expect_out "... all duplicates" "$(($(wc -l <"$T/events.csv") - 1)) duplicates"
answers "$T/ans.without.again"
expect_eq "... and nothing changed" "$(cmp "$T/ans.with" "$T/ans.without.again" && echo same)" same
unset LD_PRELOAD XY_FAULT
finish
