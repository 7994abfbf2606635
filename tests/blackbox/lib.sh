# lib.sh -- helpers for black-box tests of the xinyong binary. A test script
# sources this file, calls `check NAME COMMAND...` style assertions, and ends
# with `finish`, which prints "N passed, N failed".
#
# $XY is the binary, $XY_ROOT the repository. Each script gets a fresh
# scratch directory $T (removed at the end) and $D, a data directory path in it.
set -u
T=$(mktemp -d)
D="$T/data"
export XINYONG_DATA="$D"
PASSED=0
FAILED=0
trap 'rm -rf "$T"' EXIT

ok() { PASSED=$((PASSED + 1)); echo "ok $1"; }
bad() { FAILED=$((FAILED + 1)); echo "FAIL $1: $2"; }

# run CMD...: runs the binary; sets $OUT, $ERR and $RC.
run() {
    "$XY" "$@" >"$T/out" 2>"$T/err"
    RC=$?
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
}

# expect_rc NAME CODE: the last run exited with CODE.
expect_rc() {
    if [ "$RC" -eq "$2" ]; then ok "$1"; else bad "$1" "exit $RC, expected $2; stderr: $ERR"; fi
}

# expect_out NAME TEXT: stdout of the last run contains TEXT.
expect_out() {
    case "$OUT" in *"$2"*) ok "$1" ;; *) bad "$1" "stdout lacks '$2': $OUT" ;; esac
}

# expect_err NAME TEXT: stderr of the last run contains TEXT.
expect_err() {
    case "$ERR" in *"$2"*) ok "$1" ;; *) bad "$1" "stderr lacks '$2': $ERR" ;; esac
}

# expect_not_out NAME TEXT: stdout of the last run does not contain TEXT.
expect_not_out() {
    case "$OUT" in *"$2"*) bad "$1" "stdout has '$2': $OUT" ;; *) ok "$1" ;; esac
}

# expect_eq NAME GOT WANT
expect_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', expected '$3'"; fi
}

# jget FILTER: applies a jq filter to $OUT (raw output), e.g.
# jget .score prints the score of a `show --json`.
jget() {
    printf '%s' "$OUT" | jq -r "$1"
}

# init_rules DIR: creates a data directory bound to the rules in DIR.
init_rules() {
    rm -rf "$D"
    "$XY" init --rules "$1" >/dev/null 2>"$T/err" || { echo "init failed: $(cat "$T/err")"; exit 1; }
}

finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
