#!/bin/sh
# Explanations name the rule behind each number (docs/semantics.md, section 9): every
# contribution, list entry, consequence, the base and the grade carry "rule": FILE:LINE of the
# directive in force, FILE relative to the ruleset, a city's override over the shared file;
# a blacklist entry by score also its exit line, and show's and list's memberships the rules
# they stand on ("rules").
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"

R="$T/rules"
mkdir -p "$R"
cat >"$R/shared.rules" <<'RULES'
# shared by the city below
behaviour fine points -300 category j
behaviour praise points +10 category j
behaviour listed points -1 lists blacklist for 30 days category j
sanction no_train on blacklist deny train_ticket
privilege heat on grade A discount 10 heating_bill
RULES
cat >"$R/city.rules" <<'RULES'
city cc "Cited City"
region 150000
include "shared.rules"
score base 1000 min 0 max 2000
grade B from 0
grade A from 1000
behaviour praise points +20 category j
behaviour star points +600 category j
agency ag reports category j
blacklist below 800
whitelist from 1500
association -5 per blacklisted contact every 30 days
sanction no_train on blacklist for 365 days deny train_ticket
blacklist exit 900 after 60 days
RULES

P=$(mkid 150000 19800101 001); Q=$(mkid 150000 19800101 003); W=$(mkid 150000 19800101 005)
fresh main "$R"
csv "$T/cit.csv" "id,name" "$P,Pei" "$Q,Qiu" "$W,Wu"
setup load citizens "$T/cit.csv"
csv "$T/con.csv" "a,b" "$P,$Q"
setup load contacts "$T/con.csv"
# 2024-01-18 is an association day (day 19740 of the epoch, a multiple of 30).
load_events "e1,2024-01-01,$P,fine,ag,," "e2,2024-01-02,$P,praise,ag,," "e3,2024-01-03,$P,listed,ag,," \
    "e4,2024-01-04,$W,star,ag,,"
setup advance 2024-01-20

qe "$P" '.base_rule' >/dev/null
expect_eq "base: the score line of the city" "$(jget .base_rule)" "city.rules:4"
expect_eq "event of a shared behaviour: its line in the shared file" \
    "$(jget '.contributions[] | select(.event == "e1") | .rule')" "shared.rules:2"
expect_eq "event of a behaviour the city overrides: the city's line" \
    "$(jget '.contributions[] | select(.event == "e2") | .rule')" "city.rules:7"
expect_eq "blacklist by score: the 'blacklist below' line" \
    "$(jget '.lists[] | select(.by == "score") | .rule')" "city.rules:10"
expect_eq "blacklist by term: the behaviour that lists" \
    "$(jget '.lists[] | select(.by == "term") | .rule')" "shared.rules:4"
expect_eq "consequence the city overrides: the city's line" \
    "$(jget '.consequences[] | select(.name == "no_train") | .rule')" "city.rules:13"
expect_eq "grade B: its grade line" "$(jget .grade_rule)" "city.rules:5"
expect_eq "blacklist by score: ... and its exit line" \
    "$(jget '.lists[] | select(.by == "score") | .exit_rule')" "city.rules:14"
expect_eq "blacklist by term: no exit line" \
    "$(jget '.lists[] | select(.by == "term") | has("exit_rule")')" "false"
run explain "$P"
expect_eq "text: the list entry's rules" \
    "$(printf '%s\n' "$OUT" | grep -c 'by score .*\[city.rules:10, exit city.rules:14\]$')" 1
expect_out "text: the rule at the end of the contribution's line" "+20  e2"
expect_eq "text: ... as [FILE:LINE]" "$(printf '%s\n' "$OUT" | grep -c ' e2 .*\[city.rules:7\]$')" 1
expect_out "text: the base's rule" "base 1000  [city.rules:4]"

qe "$Q" '.contributions' >/dev/null
expect_eq "association adjustment: the 'association' line" \
    "$(jget '.contributions[] | select(.kind == "association") | .rule')" "city.rules:12"

qe "$W" '.lists' >/dev/null
expect_eq "whitelist: the 'whitelist from' line" "$(jget '.lists[0].rule')" "city.rules:11"
expect_eq "grade A: its grade line" "$(jget .grade_rule)" "city.rules:6"
run check "$W" heating_bill --json
expect_eq "check: the consequence's rule (shared privilege)" "$(jget '.consequences[0].rule')" "shared.rules:6"
run show "$P" --json
expect_eq "show: consequences carry their rule too" \
    "$(jget '.consequences[] | select(.name == "no_train") | .rule')" "city.rules:13"
expect_eq "show: the blacklist membership's rules (score, exit, the term's behaviour)" \
    "$(printf '%s' "$OUT" | jq -c .blacklist.rules)" '["city.rules:10","city.rules:14","shared.rules:4"]'
run show "$P"
expect_out "show text: the rules at the end of the blacklist line" \
    "[city.rules:10, city.rules:14, shared.rules:4]"
run show "$W" --json
expect_eq "show: the whitelist membership's rule" "$(printf '%s' "$OUT" | jq -c .whitelist.rules)" \
    '["city.rules:11"]'
run list blacklist --json
expect_eq "list: each entry's rules" "$(printf '%s' "$OUT" | jq -c ".citizens[] | select(.id == \"$P\") | .rules")" \
    '["city.rules:10","city.rules:14","shared.rules:4"]'
run list whitelist
expect_eq "list text: the rules at the end of the line" \
    "$(printf '%s\n' "$OUT" | grep -c "^$W .*\[city.rules:11\]\$")" 1
# The explanation replayed from the whole log cites the same rules.
run explain "$P" --json
A=$(printf '%s' "$OUT" | jq -c '[.contributions[].rule, .lists[].rule]')
run explain "$P" --json --from-log
expect_eq "explain --from-log: the same rules" "$(printf '%s' "$OUT" | jq -c '[.contributions[].rule, .lists[].rule]')" "$A"

finish
