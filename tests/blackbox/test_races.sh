# Readers take no lock: a writer may write a snapshot, and remove the
# event-index runs the older one named, while a reader or verify is between
# two of its files. The reader must then answer from the newer snapshot (no
# warning of damage, no replay of the whole log), and verify must not call
# the directory corrupt. The reader is held at the moment that matters by
# the shim's open:PAUSE (tests/fault/fault.c), while the writer loads.
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"
shim_setup
EX="$XY_ROOT/examples"
head -n 61 "$EX/events.csv" >"$T/part1.csv"
{ head -n 1 "$EX/events.csv"; sed -n 62,121p "$EX/events.csv"; } >"$T/part2.csv"
{ head -n 1 "$EX/events.csv"; sed -n '122,$p' "$EX/events.csv"; } >"$T/part3.csv"

# prepare NAME: a directory with a snapshot of part 1 (one event-index
# run) and part 2 in the log after it.
prepare() {
    fresh "$1" "$XY_ROOT/rules"
    setup load citizens "$EX/citizens.csv"
    setup load contacts "$EX/contacts.csv"
    setup load events "$T/part1.csv"
    setup snapshot
    setup load events "$T/part2.csv"
}

# race SUFFIX CMD...: runs CMD held for 3 s at its first open of a file
# whose name ends with SUFFIX, while part 3 is loaded with a snapshot due
# at the end (its runs merged, the older removed); sets RC, OUT, ERR of CMD.
race() {
    suffix=$1
    shift
    LD_PRELOAD="$SHIM" XY_FAULT=open:PAUSE XY_FAULT_FILE="$suffix" XY_FAULT_MS=3000 \
        "$XY" "$@" >"$T/rout" 2>"$T/rerr" &
    pid=$!
    sleep 0.5
    XINYONG_SNAPSHOT_EVERY=1000 "$XY" load events "$T/part3.csv" >/dev/null 2>"$T/werr" ||
        bad "writer during $*" "$(cat "$T/werr")"
    wait "$pid"
    RC=$?
    OUT=$(cat "$T/rout")
    ERR=$(cat "$T/rerr")
}

prepare r1
runs_before=$(ls "$D" | grep -c '\.run$')
race .run stats --json
expect_rc "a reader whose snapshot was replaced under it answers" 0
expect_eq "... without a warning" "$ERR" ""
got=$OUT
expect_eq "... the directory had one run, the writer merged it away" \
    "$runs_before $(ls "$D" | grep -c 'ev-0-60\.run$')" "1 0"
run stats --json
expect_eq "... with the state after the writer's load" "$got" "$OUT"

prepare r2
race /snapshot verify
expect_rc "verify with a snapshot written between the log and the snapshot: healthy" 0
expect_out "... says the snapshot is ok" "snapshot: "
expect_eq "... without a message" "$ERR" ""

prepare r3
race .run verify
expect_rc "verify with a run removed before it read it: healthy" 0
expect_eq "... without a message" "$ERR" ""

finish
