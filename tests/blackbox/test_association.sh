#!/bin/sh
# Association (spec 2.7), publication (2.8), time and late reports (2.1).
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"

R="$T/rules"
mkdir -p "$R"
# Association days with `every 30 days`: days since 1970-01-01 divisible by 30, i.e.
# 2024-01-18 (19740), 2024-02-17 (19770), 2024-03-18 (19800).
cat >"$R/ac.rules" <<'RULES'
city ac "Assoc City"
region 150000
score base 1000 min 0 max 2000
grade A from 0
behaviour drop points -500 category j
behaviour m399 points -399 category j
behaviour up300 points +300 category j
behaviour p100 points +100 category j
behaviour m404 points -404 category j
behaviour bonus points +10 expires 10 days category j
behaviour bonus200 points +200 expires 10 days category j
agency ag reports category j
blacklist below 600
blacklist exit 700 after 10 days
whitelist from 1050
association -5 per blacklisted contact every 30 days max -12
publish blacklist
RULES
cat >"$R/weekly.rules" <<'RULES'
city weekly "Weekly"
region 180000
score base 1000 min 0
grade A from 0
behaviour drop points -500 category j
agency ag reports category j
blacklist below 600
association -5 per blacklisted contact every 7 days
RULES
cat >"$R/pos.rules" <<'RULES'
city pos "Positive"
region 190000
score base 1000 min 0
grade A from 0
association +3 per blacklisted contact every 30 days max +5
RULES
cat >"$R/quiet.rules" <<'RULES'
city quiet "Quiet"
region 160000
score base 1000 min 0 max 2000
grade A from 0
behaviour drop points -500 category j
behaviour p100 points +100 category j
agency ag reports category j
blacklist below 600
whitelist from 1050
RULES
cat >"$R/open.rules" <<'RULES'
city open "Open"
region 170000
score base 1000 min 0 max 2000
grade A from 0
behaviour drop points -500 category j
behaviour p100 points +100 category j
agency ag reports category j
blacklist below 600
whitelist from 1050
publish scores
RULES

ac() { mkid 150000 19800101 "$1"; }
B1=$(ac 001); B2=$(ac 002); B3=$(ac 003)
N=$(ac 004); M=$(ac 005); K=$(mkid 150000 20100101 006); Q=$(ac 007)
C1=$(ac 010); C2=$(ac 011)     # chain B1 - C1 - C2 (upstream first in ID order)
C3=$(ac 020); C4=$(ac 021)     # chain B1 - C4 - C3 (downstream first in ID order)
B5=$(ac 030); N5=$(ac 031)     # B5 leaves the list on an association day
N2=$(ac 040)                   # contact in another city
X1=$(ac 050); Y1=$(ac 051)     # X1 enters the list by an expiry on an association day
Z1=$(ac 052)                   # Z1's exit is due the day an expiry drops it below Y
QB=$(mkid 160000 19800101 050); QC=$(mkid 160000 19800101 051)

fresh assoc "$R"
{
    echo "id,name"
    for c in $B1 $B2 $B3 $N $M $K $Q $C1 $C2 $C3 $C4 $B5 $N5 $N2 $QB $QC $X1 $Y1 $Z1; do echo "$c,Name $c"; done
} >"$T/cit.csv"
setup load citizens "$T/cit.csv"
csv "$T/contacts.csv" "a,b" \
    "$N,$B1" "$B2,$N" "$N,$B3" "$M,$B1" "$K,$B1" \
    "$B1,$C1" "$C1,$C2" "$B1,$C4" "$C4,$C3" \
    "$B5,$N5" "$N2,$QB" "$QC,$B1" "$X1,$Y1"
setup load contacts "$T/contacts.csv"
load_events \
    "e1,2024-01-02,$B1,drop,ag,," "e2,2024-01-02,$B2,drop,ag,," "e3,2024-01-02,$B3,drop,ag,," \
    "e4,2024-01-02,$C1,m399,ag,," "e5,2024-01-02,$C2,m399,ag,," \
    "e6,2024-01-02,$C3,m399,ag,," "e7,2024-01-02,$C4,m399,ag,," \
    "e8,2024-01-02,$B5,drop,ag,," "e9,2024-01-02,$QB,drop,ag,,"
setup advance 2024-01-17
expect_eq "association: nothing before an association day" "$(q "$N" .raw)" 1000
setup advance 2024-01-18
expect_eq "association: 3 blacklisted contacts, -15 bounded by max -12" "$(q "$N" .raw)" 988
expect_eq "association: 1 blacklisted contact -> -5" "$(q "$M" .raw)" 995
expect_eq "association: under-age citizen is skipped" "$(q "$K" .raw)" 1000
expect_eq "association: no blacklisted contact -> nothing" "$(q "$Q" .raw)" 1000
expect_eq "association: contact in another city counts" "$(q "$N2" .raw)" 995
expect_eq "association: city without an association line -> nothing" "$(q "$QC" .raw)" 1000
run explain "$N" --json
expect_json "association: contribution dated the association day" \
    '[.contributions[]|select(.kind=="association")|[.date,.points,.event]]' '[["2024-01-18",-12,null]]'
expect_json "association: the note says that max bounded the adjustment" \
    '[.contributions[]|select(.kind=="association")|.note]' '["3 blacklisted contacts: -15, bounded by max -12"]'
run explain "$M" --json
expect_json "association: an adjustment within max has no such remark" \
    '[.contributions[]|select(.kind=="association")|.note]' '["1 blacklisted contact"]'
run show "$C1" --json
expect_json "association: list entry follows from the new score" '[.score,.blacklist.since]' '[596,"2024-01-18"]'
expect_eq "association: counts from the start of the step (C2 after C1)" "$(q "$C2" .raw)" 601
expect_eq "association: counts from the start of the step (C3 before C4)" "$(q "$C3" .raw)" 601
expect_eq "association: downstream not listed in the same step" "$(q "$C2" .blacklist)" null
expect_eq "association: C4 listed" "$(q "$C4" .blacklist.since)" 2024-01-18
load_events "e10,2024-02-07,$B5,up300,ag,,"
setup advance 2024-02-16
expect_eq "association: nothing between association days" "$(q "$N" .raw)" 988
setup advance 2024-02-17
expect_eq "association: next period" "$(q "$N" .raw)" 976
expect_eq "association: restriction spreads one period later (C2)" "$(q "$C2" .blacklist.since)" 2024-02-17
expect_eq "association: restriction spreads one period later (C3)" "$(q "$C3" .blacklist.since)" 2024-02-17
expect_eq "association: C1 counted only B1 (C2 not listed at step start)" "$(q "$C1" .raw)" 591
expect_eq "day-start order: exit due on an association day comes after association" "$(q "$B5" .blacklist)" null
expect_eq "day-start order: the leaving contact still counted that day" "$(q "$N5" .raw)" 990
# day-start order on 2024-03-18: 1. expiries (X1 drops to 596 and enters the list),
# 2. association (Y1 sees X1 listed), 3. exits (Z1's exit was due on 03-18 = s + 10, but the
# expiry of bonus200 dropped it below Y = 700 first, so it stays).
load_events \
    "z1,2024-03-01,$Z1,drop,ag,," \
    "x2,2024-03-08,$X1,bonus,ag,," "x1,2024-03-08,$X1,m404,ag,," "z2,2024-03-08,$Z1,bonus200,ag,,"
run show "$Z1" --json
expect_json "Z1 at 700 >= Y on 03-08, still listed" '[.score,.blacklist.since]' '[700,"2024-03-01"]'
setup advance 2024-03-17
expect_eq "X1 at 606 before the expiry: not listed" "$(q "$X1" .blacklist)" null
setup advance 2024-03-18
expect_eq "day-start order: left contact no longer counted" "$(q "$N5" .raw)" 990
expect_eq "day-start order: expiry (step 1) lists X1 on the association day" "$(q "$X1" .blacklist.since)" 2024-03-18
expect_eq "day-start order: association (step 2) sees the list after the expiries" "$(q "$Y1" .raw)" 995
expect_eq "day-start order: an expiry before the exit step resets s (Z1 stays listed)" "$(q "$Z1" .blacklist.since)" 2024-03-01
setup advance 2024-04-30
expect_eq "Z1 still listed later (never back to Y)" "$(q "$Z1" .blacklist.since)" 2024-03-01
run explain "$N" --json
expect_json "association: one contribution per association day" \
    '[.contributions[]|select(.kind=="association")|.date]' '["2024-01-18","2024-02-17","2024-03-18","2024-04-17"]'

# ---- other periods; events on an association day --------------------------------------------
# every 7 days: days since epoch divisible by 7, i.e. 2024-01-04 (19726), 01-11, 01-18
# no max: -5 per contact, unbounded; a positive association is bounded by its max from above
WB=$(mkid 180000 19800101 201); WN=$(mkid 180000 19800101 203); WB2=$(mkid 180000 19800101 209)
PO=$(mkid 190000 19800101 211); PO1=$(mkid 190000 19800101 213)
B7=$(ac 205); N7=$(ac 207)
fresh periods "$R"
csv "$T/wcit.csv" "id,name" "$WB,Weekly Black" "$WN,Weekly Neighbour" "$B7,Black Seven" "$N7,Neighbour Seven" \
    "$WB2,Weekly Black Two" "$PO,Positive" "$PO1,Positive One"
setup load citizens "$T/wcit.csv"
csv "$T/wcon.csv" "a,b" "$WB,$WN" "$B7,$N7" "$WB2,$WN" "$PO,$WB" "$PO,$WB2" "$PO1,$WB"
setup load contacts "$T/wcon.csv"
load_events "w1,2024-01-02,$WB,drop,ag,," "w3,2024-01-02,$WB2,drop,ag,,"
setup advance 2024-01-03
expect_eq "every 7 days: nothing on 2024-01-03" "$(q "$WN" .raw)" 1000
setup advance 2024-01-04
expect_eq "every 7 days: first adjustment on 2024-01-04 (19726 = 7 * 2818), 2 contacts, no max" "$(q "$WN" .raw)" 990
setup advance 2024-01-17
expect_eq "every 7 days: second on 2024-01-11" "$(q "$WN" .raw)" 980
setup advance 2024-01-18
expect_eq "every 7 days: third on 2024-01-18" "$(q "$WN" .raw)" 970
expect_eq "positive association: +3 x 2 bounded by max +5" "$(q "$PO" .raw)" 1005
expect_eq "positive association: +3 x 1 stays below max +5" "$(q "$PO1" .raw)" 1003
# B7 drops on an association day (2024-02-17): day-start processing of that day runs before the
# day's events, so N7 is not adjusted until the next association day.
load_events "w2,2024-02-17,$B7,drop,ag,,"
expect_eq "event on an association day: applied after that day's association" "$(q "$N7" .raw)" 1000
setup advance 2024-03-18
expect_eq "event on an association day: counted on the next one" "$(q "$N7" .raw)" 995

# ---- publication -----------------------------------------------------------------------------
P0=$(ac 101); P1=$(ac 100); P2=$(ac 102); WA=$(ac 103)
QP=$(mkid 160000 19800101 104); QW=$(mkid 160000 19800101 105)
OW=$(mkid 170000 19800101 106); OB=$(mkid 170000 19800101 107)
fresh pub "$R"
{
    echo "id,name"
    echo "$P0,Pub Zero"; echo "$P1,Pub One"; echo "$P2,Pub Two"; echo "$WA,White Assoc"
    echo "$QP,Quiet Black"; echo "$QW,Quiet White"; echo "$OW,Open White"; echo "$OB,Open Black"
} >"$T/pcit.csv"
setup load citizens "$T/pcit.csv"
load_events \
    "p0,2024-01-02,$P0,drop,ag,," "p2,2024-01-02,$P2,drop,ag,," "p1,2024-01-05,$P1,drop,ag,," \
    "p3,2024-01-05,$QP,drop,ag,," "p4,2024-01-05,$WA,p100,ag,," "p5,2024-01-05,$QW,p100,ag,," \
    "p6,2024-01-05,$OW,p100,ag,," "p7,2024-01-05,$OB,drop,ag,,"
mask() { printf '%s' "$1" | awk '{ printf "%s********%s", substr($0, 1, 6), substr($0, 15, 4) }'; }
run list blacklist --json
expect_json "list: every blacklisted citizen, since then ID order" '[.citizens[].id]' \
    "[\"$P0\",\"$P2\",\"$P1\",\"$QP\",\"$OB\"]"
expect_json "list: fixed fields" '.list,(.citizens[0]|keys_unsorted|map(select(.=="id" or .=="name" or .=="city" or .=="since" or .=="reason"))|length)' \
    "$(printf 'blacklist\n5')"
run list blacklist --public --json
expect_rc "list --public: exit 0" 0
expect_json "list --public: only cities with 'publish blacklist', IDs masked" '[.citizens[].id]' \
    "[\"$(mask "$P0")\",\"$(mask "$P2")\",\"$(mask "$P1")\"]"
expect_eq "mask: first 6 + 8 '*' + last 4" "$(mask "$P1" | wc -c | tr -d ' ')" 18
expect_json "list --public: name, city, since, reason" \
    "[.citizens[]|select(.id==\"$(mask "$P1")\")|[.name,.city,.since,(.reason|type)]]" \
    '[["Pub One","ac","2024-01-05","string"]]'
expect_not_out "list --public: full ID never shown" "$P1"
expect_not_out "list --public: unpublished city's citizen not shown" "Quiet Black"
expect_not_out "list --public: city without publish blacklist (open) not shown" "Open Black"
run list blacklist --public
expect_out "list --public text: masked ID" "$(mask "$P0")"
expect_not_out "list --public text: full ID never shown" "$P0"
run list blacklist --city ac --json
expect_json "list --city: one city only" '[.citizens[].city]|unique' '["ac"]'
run list whitelist --json
expect_json "list whitelist: all cities" '[.citizens[].name]|sort' '["Open White","Quiet White","White Assoc"]'
run list whitelist --public --json
expect_json "list whitelist --public: only cities with 'publish scores'" '[.citizens[].id]' "[\"$(mask "$OW")\"]"
# The list is written an entry at a time: the JSON is still one object, an
# empty list included, and the text ends with the count.
run list whitelist --city weekly --json
expect_eq "list: an empty list is one JSON object" "$OUT" '{"list":"whitelist","citizens":[]}'
run list whitelist --city weekly
expect_eq "list text: an empty list says so" "$OUT" "0 citizens on the whitelist"
run list blacklist --json
expect_json "list: entries joined into one array" '.citizens|length' 5
run list blacklist
expect_eq "list text: one line per citizen, then the count" "$(printf '%s\n' "$OUT" | sed -n '6p')" "5 citizens on the blacklist"
run list whitelist --public
expect_eq "list text: a count of one is singular" "$(printf '%s\n' "$OUT" | sed -n '2p')" "1 citizen on the whitelist"

# ---- clock -----------------------------------------------------------------------------------
fresh clock "$R"
setup load citizens "$T/pcit.csv"
run stats --json
expect_json "clock: unset before the first dated input" '.today' null
load_events "k1,2024-05-01,$P1,p100,ag,,"
run stats --json
expect_json "clock: an event dated later advances the clock" '.today' 2024-05-01
run advance 2024-04-30
expect_rc "clock: advance to an earlier date -> exit 1" 1
expect_err "clock: the error names the date" "2024-04-30"
run stats --json
expect_json "clock: unchanged after the refused advance" '.today' 2024-05-01
run advance 2024-05-01
expect_rc "clock: advance to today is fine" 0
load_events "k2,2024-04-01,$P2,p100,ag,,"
run stats --json
expect_json "clock: a late report does not move the clock" '.today' 2024-05-01
run explain "$P2" --json
expect_json "late report: applied at today" '[.contributions[]|select(.event=="k2")|[.date,.event_date,.points]]' \
    '[["2024-05-01","2024-04-01",100]]'
load_events "k3,2024-06-01,$WA,p100,ag,," "k4,2024-05-15,$P0,drop,ag,,"
run explain "$P0" --json
expect_json "batch: input order; an earlier-dated row after a later one is late" \
    '[.contributions[]|[.event,.date,.event_date]]' '[["k4","2024-06-01","2024-05-15"]]'
run show "$P0" --json
expect_json "batch: list entry on the day it was applied" '.blacklist.since' 2024-06-01
run advance 2024-13-01
expect_rc "clock: advance to an invalid date -> exit 1" 1

# ---- the clock's first day; association days before 1970 ------------------------------------
# Day numbers before 1970-01-01 are negative: 1969-11-02 is day -60, an association day of
# `every 10 days`, as are -50 (1969-11-12) ... 0 (1970-01-01). Rounding a negative day number
# towards zero instead of down would put them elsewhere. The clock's first day runs no
# day-start processing, so the first association is the next one, although the contact is
# listed from registration (base below the threshold).
RE="$T/rules_early"
mkdir -p "$RE"
cat >"$RE/early.rules" <<'RULES'
city early "Early"
region 230000
score base 500 min 0
grade A from 0
blacklist below 600
association -5 per blacklisted contact every 10 days
RULES
EA=$(mkid 230000 19400101 001); EB=$(mkid 230000 19400101 003)
fresh early "$RE"
csv "$T/early.csv" "id,name" "$EA,Early A" "$EB,Early B"
setup load citizens "$T/early.csv"
csv "$T/earlyc.csv" "a,b" "$EA,$EB"
setup load contacts "$T/earlyc.csv"
setup advance 1969-11-02
expect_eq "clock's first day: no association, though it is an association day" "$(q "$EA" .raw)" 500
setup advance 1969-11-11
expect_eq "before 1970: nothing between association days" "$(q "$EA" .raw)" 500
setup advance 1970-01-01
run explain "$EA" --json
expect_json "before 1970: association on days -50 ... 0, divisible by 10" \
    '[.contributions[]|select(.kind=="association")|.date]' \
    '["1969-11-12","1969-11-22","1969-12-02","1969-12-12","1969-12-22","1970-01-01"]'
# A citizen registered after association has run, without contacts: the next
# association day (the contact index of the replay extended, not rebuilt)
# counts the old contacts as before and gives the newcomer none.
EC=$(mkid 230000 19400101 005)
csv "$T/early2.csv" "id,name" "$EC,Early C"
setup load citizens "$T/early2.csv"
setup advance 1970-01-11
expect_eq "a citizen registered after association ran: the old contacts count on" \
    "$(q "$EA" .raw) $(q "$EB" .raw)" "465 465"
expect_eq "... and the newcomer, listed but without contacts, gets no association" "$(q "$EC" .raw)" 500

finish
