#!/bin/sh
# The end-to-end example behind `make demo`: a data directory bound to the
# shipped rules, the sample citizens, contacts and events of examples/, and
# a tour of what xinyong shows and explains. Synthetic people only.
set -eu
XY=${1:-build/xinyong}
D=build/demo-data
rm -rf "$D"
step() { printf '\n== %s\n$ xinyong %s\n' "$1" "$2"; }

step "Check the rulesets" "rules check rules/*.rules"
$XY rules check rules/*.rules

step "Create a data directory bound to them" "init --rules rules"
$XY --data $D init --rules rules

step "Load the population, its contacts and two years of reports" "load ..."
$XY --data $D load citizens examples/citizens.csv
$XY --data $D load contacts examples/contacts.csv
$XY --data $D load events examples/events.csv

step "Move the clock to the end of 2024" "advance 2024-12-31"
$XY --data $D advance 2024-12-31

step "Per-city statistics" "stats"
$XY --data $D stats

step "The public blacklist (names published, IDs masked)" "list blacklist --public"
$XY --data $D list blacklist --public

step "One citizen on the court's list of dishonest judgment debtors" "show 371082197503141552"
$XY --data $D show 371082197503141552

step "Why: every contribution, list entry and consequence" "explain 371082197503141552"
$XY --data $D explain 371082197503141552

step "Checkpoints: a flight, a train ticket in the first year on the list, a child's school" "check ID ACTION"
$XY --data $D check 371082197503141552 flight_ticket || true
$XY --data $D check 440105198710010525 train_ticket || true
child=$(awk -F, '$4=="371082197503141552" || $5=="371082197503141552" {print $1; exit}' examples/citizens.csv)
[ -n "$child" ] && $XY --data $D check "$child" private_school || true

step "A whitelisted citizen at the hospital" "check 371082198211300843 hospital_queue"
$XY --data $D check 371082198211300843 hospital_queue || true
step "A file with bad rows is refused whole, naming file, line and column" "load events examples/bad_events.csv"
$XY --data $D load events examples/bad_events.csv || echo "(exit $?: nothing of the file was applied)"

step "... or, with --rejects, the good rows go in and the bad ones are kept" \
     "load events examples/bad_events.csv --rejects build/demo-rejects.csv"
$XY --data $D load events examples/bad_events.csv --rejects build/demo-rejects.csv
cat build/demo-rejects.csv

printf '\nThe data directory is %s; try: build/xinyong --data %s help\n' "$D" "$D"
