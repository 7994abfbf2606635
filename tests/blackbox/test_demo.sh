#!/bin/sh
# The end-to-end example behind `make demo` (scripts/demo.sh) runs to its end
# in a checkout of its own, and says what it is meant to show.
. "$XY_ROOT/tests/blackbox/lib.sh"

mkdir -p "$T/checkout/build"
ln -s "$XY_ROOT/rules" "$T/checkout/rules"
ln -s "$XY_ROOT/examples" "$T/checkout/examples"
(cd "$T/checkout" && sh "$XY_ROOT/scripts/demo.sh" "$XY") >"$T/demo.out" 2>"$T/demo.err"
RC=$?
ERR=$(cat "$T/demo.err")
OUT=$(cat "$T/demo.out")
expect_rc "the demo runs to its end" 0
expect_out "... refuses the bad file whole" "nothing of the file was applied"
expect_out "... keeps the bad rows with --rejects, beside the data directory" \
    "id,date,citizen,behaviour,agency,amount,counterpart,reason"
expect_out "... and ends by naming its data directory" "The data directory is build/demo-data"
run --data "$T/checkout/build/demo-data" verify
expect_rc "... which verifies" 0
finish
