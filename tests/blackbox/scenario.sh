# scenario.sh -- shared helpers for the black-box scripts, on top of lib.sh and ids.sh.
# Source after lib.sh:  . "$XY_ROOT/tests/blackbox/scenario.sh"
. "$XY_ROOT/tests/blackbox/ids.sh"

# some tests run the binary from another directory: make $XY absolute
case "$XY" in /*) ;; *) XY="$(pwd)/$XY" ;; esac

# fresh NAME RULESDIR: a new data directory $T/NAME bound to RULESDIR becomes the current one.
fresh() {
    D="$T/$1"
    XINYONG_DATA="$D"
    export XINYONG_DATA
    init_rules "$2"
}

# use NAME: switch to an existing data directory $T/NAME.
use() {
    D="$T/$1"
    XINYONG_DATA="$D"
    export XINYONG_DATA
}

# setup CMD...: runs the binary for test set-up; a non-zero exit is counted as a failure
# (so a broken set-up step can never make later assertions pass by accident).
setup() {
    run "$@"
    if [ "$RC" -ne 0 ]; then bad "setup: $*" "exit $RC: $ERR"; fi
}

# csv FILE LINE...: writes the lines to FILE (one per argument).
csv() {
    f=$1
    shift
    printf '%s\n' "$@" >"$f"
}

# events FILE ROW...: an events file with the full header.
events() {
    f=$1
    shift
    csv "$f" "id,date,citizen,behaviour,agency,amount,counterpart" "$@"
}

# load_events ROW...: writes the rows to a fresh events file and loads it (set-up step).
EVN=0
load_events() {
    EVN=$((EVN + 1))
    events "$T/ev$EVN.csv" "$@"
    setup load events "$T/ev$EVN.csv"
}

# q ID FILTER: runs `show ID --json` and prints the jq FILTER of it.
q() {
    run show "$1" --json
    jget "$2"
}

# qe ID FILTER: the same for `explain ID --json`.
qe() {
    run explain "$1" --json
    jget "$2"
}

# expect_json NAME FILTER WANT: jq FILTER on $OUT (compact output) equals WANT.
expect_json() {
    got=$(printf '%s' "$OUT" | jq -rc "$2" 2>&1)
    expect_eq "$1" "$got" "$3"
}

# shim_setup: sets $SHIM to the fault-injection shim (tests/fault/fault.c,
# for LD_PRELOAD) and lets it come first among the libraries, which
# AddressSanitizer otherwise refuses.
shim_setup() {
    SHIM=${XY_FAULT_SHIM:-$XY_ROOT/build/fault.so}
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
    export ASAN_OPTIONS
}
