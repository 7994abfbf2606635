#!/bin/sh
# Scoring semantics (spec 2.2, 2.3): per/cap, limit N per year, expires, scoring age,
# clamping to [min, max], grade bands. Each rule is isolated in a purpose-built ruleset.
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"

R="$T/rules"
mkdir -p "$R"
cat >"$R/tc.rules" <<'RULES'
city tc "Test City"
region 110000
score base 1000 min 0 max 1100
grade A from 1050
grade B from 900
grade C from 0
behaviour plain points +10 category s
behaviour debt points -10 per 1000 cap 25 category f
behaviour gift points +7 per 100 category s
behaviour vol points +5 limit 2 per year category s
behaviour vx points +5 expires 10 days limit 1 per year category s
behaviour tv points -5 expires 10 days category t
behaviour listing points -1 lists blacklist for 30 days category t
behaviour boost points +500 category s
behaviour crash points -5000 category s
behaviour p49 points +49 category s
behaviour p50 points +50 category s
behaviour m100 points -100 category s
behaviour m101 points -101 category s
behaviour m10 points -10 category s
behaviour debtx points -10 per 1000 cap 25 expires 10 days category f
behaviour year points -7 expires 365 days category t
behaviour kidx points -3 expires 5 days category t
behaviour unit points -1 per 1 cap 5 category f
behaviour up points +450 expires 10 days category s
behaviour down points -450 expires 10 days category t
behaviour a_behaviour_whose_name_runs_past_the_column points +1 category s
agency ag reports category s f t
blacklist below 600
whitelist from 2000
RULES
# scored from age 16 in a second city, to check the directive is honoured
cat >"$R/sixteen.rules" <<'RULES'
city sixteen "Sixteen"
region 120000
score base 100 min 0
scored from age 16
grade X from 0
behaviour plain points +10 category s
agency ag reports category s
RULES

cat >"$R/unbounded.rules" <<'RULES'
city unbounded "Unbounded"
region 130000
score base 0
behaviour crash points -5000 category s
behaviour boost points +9000 category s
agency ag reports category s
RULES

id() { mkid 110000 19800101 "$1"; }
C01=$(id 001); C02=$(id 002); C03=$(id 003); C04=$(id 004); C05=$(id 005); C06=$(id 006)
C07=$(id 007); C08=$(id 008); C09=$(id 009); C10=$(id 010); C11=$(id 011); C12=$(id 012)
C13=$(id 013); C14=$(id 014); C15=$(id 015); C16=$(id 016); C17=$(id 017); C18=$(id 018)
C19=$(id 019); C20=$(id 020); C21=$(id 021); C22=$(id 022); C23=$(id 023); C24=$(id 024)
TEEN=$(mkid 110000 20060315 031)      # 18 on 2024-03-15
KID=$(mkid 110000 20100101 033)       # 14 in 2024
LEAP=$(mkid 110000 20040229 035)      # 18 on 2022-03-01 (no 29 Feb in 2022)
LIMTEEN=$(mkid 110000 20060615 037)   # 18 on 2024-06-15
S16=$(mkid 120000 20080110 041)       # 16 on 2024-01-10
UB1=$(mkid 130000 19800101 043); UB2=$(mkid 130000 19800101 045)

fresh d1 "$R"
{
    echo "id,name,city,father,mother"
    for c in $C01 $C02 $C03 $C04 $C05 $C06 $C07 $C08 $C09 $C10 $C11 $C12 $C13 $C14 $C15 \
        $C16 $C17 $C18 $C19 $C20 $C21 $C22 $C23 $C24 $TEEN $KID $LEAP $LIMTEEN; do
        echo "$c,Citizen $c,tc,,"
    done
    echo "$S16,Sixteen Teen,sixteen,,"
    echo "$UB1,Unbounded One,,,"
    echo "$UB2,Unbounded Two,,,"
} >"$T/citizens.csv"
setup load citizens "$T/citizens.csv"

# ---- per / cap -------------------------------------------------------------------------------
load_events \
    "pc1,2022-01-10,$C01,debt,ag,2500," \
    "pc2,2022-01-10,$C02,debt,ag,," \
    "pc3,2022-01-10,$C03,debt,ag,500," \
    "pc4,2022-01-10,$C04,debt,ag,3000," \
    "pc5,2022-01-10,$C05,debt,ag,2999.99," \
    "pc6,2022-01-10,$C06,gift,ag,1050,"
expect_eq "per: floor(2500/1000)=2 -> -20" "$(q "$C01" .raw)" 980
expect_eq "per: absent amount -> multiplier 1 -> -10" "$(q "$C02" .raw)" 990
expect_eq "per: amount below P -> max(1,0)=1 -> -10" "$(q "$C03" .raw)" 990
expect_eq "cap: applied after multiplication (-30 capped to -25)" "$(q "$C04" .raw)" 975
expect_eq "per: floor(2999.99/1000)=2 -> -20" "$(q "$C05" .raw)" 980
expect_eq "per without cap: floor(1050/100)=10 -> +70" "$(q "$C06" .raw)" 1070
run explain "$C04" --json
expect_json "cap: explain shows the capped contribution" '[.contributions[]|select(.event=="pc4")|.points]' '[-25]'
expect_json "cap: explain says why points were limited" '.contributions[]|select(.event=="pc4")|(.note|type)' string

# ---- limit N per year ------------------------------------------------------------------------
load_events \
    "l1,2022-02-01,$C07,vol,ag,," \
    "l2,2022-03-01,$C07,vol,ag,," \
    "l3,2022-12-31,$C07,vol,ag,,"
expect_eq "limit 2: third occurrence in the year scores 0" "$(q "$C07" .raw)" 1010
run explain "$C07" --json
expect_json "limit: the zeroed occurrence is recorded" '[.contributions[]|select(.event=="l3")|.points]' '[0]'
expect_json "limit: explain says why it scored 0" '.contributions[]|select(.event=="l3")|(.note|type)' string
load_events "l4,2023-01-01,$C07,vol,ag,,"
expect_eq "limit: a new calendar year resets the count" "$(q "$C07" .raw)" 1015
# the year is the event date's, not the day it is applied: a late report dated in 2022 is still
# over the 2022 limit, although it is applied in 2023.
load_events "l5,2022-06-01,$C07,vol,ag,,"
expect_eq "limit: late report counts in the year of its event date" "$(q "$C07" .raw)" 1015
load_events "l6,2023-01-02,$C08,vol,ag,," "l7,2023-01-02,$C08,vol,ag,," "l8,2022-12-30,$C08,vol,ag,,"
expect_eq "limit: late report dated in the previous year is under that year's limit" "$(q "$C08" .raw)" 1015

# ---- expires ---------------------------------------------------------------------------------
# clock is 2023-01-02 now
load_events "x1,2023-02-01,$C09,tv,ag,,$C10"
setup advance 2023-02-10
expect_eq "expires: points count until event date + D - 1" "$(q "$C09" .raw)" 995
setup advance 2023-02-11
expect_eq "expires: negated on event date + D" "$(q "$C09" .raw)" 1000
run explain "$C09" --json
expect_json "expires: expiry contribution (date, kind, event, points)" \
    '[.contributions[]|select(.kind=="expiry")|[.date,.event,.behaviour,.points]]' \
    '[["2023-02-11","x1","tv",5]]'
expect_json "expires: the expiry has no date of an act of its own (event_date null)" \
    '[.contributions[]|select(.event=="x1")|[.kind,.event_date]]' '[["event","2023-02-01"],["expiry",null]]'
# the event's counterpart (which scores nothing) is named by the event and by its expiry
for how in "" --from-log; do
    run explain "$C09" --json $how
    expect_json "explain $how: the event and its expiry name the counterpart" \
        "[.contributions[]|select(.event==\"x1\")|.counterpart]" "[\"$C10\",\"$C10\"]"
done
# late reports, today = 2023-02-11
load_events \
    "x2,2023-01-20,$C10,tv,ag,," \
    "x3,2023-02-01,$C11,tv,ag,," \
    "x4,2023-02-02,$C12,tv,ag,,"
expect_eq "expires: late report long expired scores 0" "$(q "$C10" .raw)" 1000
expect_eq "expires: late report whose expiry day == today scores 0" "$(q "$C11" .raw)" 1000
expect_eq "expires: late report whose expiry day is tomorrow scores" "$(q "$C12" .raw)" 995
run explain "$C11" --json
expect_json "expires: zeroed late report is recorded and explained" \
    '[.contributions[]|select(.event=="x3")|[.points,(.note|type)]]' '[[0,"string"]]'
expect_json "expires: zeroed late report gets no expiry contribution" \
    '[.contributions[]|select(.kind=="expiry")]|length' 0
run explain "$C12" --json
expect_json "late report: applied at today, event date kept" \
    '[.contributions[]|select(.event=="x4")|[.date,.event_date]]' '[["2023-02-11","2023-02-02"]]'
setup advance 2023-02-12
expect_eq "expires: late report expires on event date + D, not today + D" "$(q "$C12" .raw)" 1000
# expired occurrences do not count towards a limit (vx: limit 1, expires 10 days); today 2023-02-12
load_events \
    "vx1,2023-01-05,$C13,vx,ag,," \
    "vx2,2023-02-12,$C13,vx,ag,," \
    "vx3,2023-02-12,$C13,vx,ag,,"
expect_eq "limit: occurrence zeroed by expiry does not count (vx2 scores, vx3 over limit)" "$(q "$C13" .raw)" 1005
run explain "$C13" --json
expect_json "limit+expiry: points per event" \
    '[.contributions[]|select(.kind=="event")|.points]' '[0,5,0]'

# an expiry negates the points the event actually scored (after per/cap; none if it scored 0)
load_events \
    "xc1,2023-03-01,$C21,debtx,ag,3000," \
    "xc2,2023-03-01,$C22,vx,ag,," \
    "xc3,2023-03-02,$C22,vx,ag,,"
setup advance 2023-03-11
run explain "$C21" --json
expect_json "expires + cap: the expiry negates the capped points (+25)" \
    '[.contributions[]|[.kind,.points]]' '[["event",-25],["expiry",25]]'
run explain "$C22" --json
expect_json "expires + limit: an occurrence over the limit has no expiry" \
    '[.contributions[]|[.kind,.event,.points]]' '[["event","xc2",5],["event","xc3",0],["expiry","xc2",-5]]'
expect_json "expires + limit: raw back to base" '.raw' 1000
# ---- scoring age -----------------------------------------------------------------------------
# today 2023-02-12; these are dated in 2024 and advance the clock
load_events \
    "a1,2024-03-14,$TEEN,plain,ag,," \
    "a2,2024-03-15,$TEEN,plain,ag,,"
run explain "$TEEN" --json
expect_json "age: day before 18th birthday scores 0, on the birthday it scores" \
    '[.contributions[]|select(.kind=="event")|.points]' '[0,10]'
expect_json "age: under-age event is recorded with a note" \
    '.contributions[]|select(.event=="a1")|(.note|type)' string
expect_eq "age: raw counts only the adult event" "$(q "$TEEN" .raw)" 1010
load_events "a3,2024-03-20,$KID,listing,ag,," "a5,2024-03-20,$KID,kidx,ag,,"
setup advance 2024-03-26
run explain "$KID" --json
expect_json "age: under-age event with expires has no expiry either" '[.contributions[]|[.kind,.points]]' \
    '[["event",0],["event",0]]' 
expect_eq "age: under-age listing event has no points" "$(q "$KID" .raw)" 1000
expect_eq "age: under-age listing event puts no term" "$(q "$KID" .blacklist)" null
run list blacklist --json
expect_json "age: under-age citizen not on the blacklist list" "[.citizens[].id|select(.==\"$KID\")]|length" 0
# a late report about an act done under age: age is taken on the event date, so no points
# and no term even though the citizen is an adult today
load_events "a6,2024-03-10,$TEEN,listing,ag,,"
run show "$TEEN" --json
expect_json "age: late report of an under-age act: no points, no term" '[.raw,.blacklist]' '[1010,null]'
load_events "a4,2024-03-21,$S16,plain,ag,,"
expect_eq "age: 'scored from age 16' scores a 16-year-old" "$(q "$S16" .raw)" 110
# under-age occurrences do not count towards a limit: LIMTEEN turns 18 on 2024-06-15
load_events \
    "la1,2024-06-14,$LIMTEEN,vol,ag,," \
    "la2,2024-06-15,$LIMTEEN,vol,ag,," \
    "la3,2024-06-16,$LIMTEEN,vol,ag,," \
    "la4,2024-06-17,$LIMTEEN,vol,ag,,"
run explain "$LIMTEEN" --json
expect_json "limit: under-age occurrence does not count" \
    '[.contributions[]|select(.kind=="event")|.points]' '[0,5,5,0]'
# born 29 February: 18 on 1 March in a common year (decisions)
load_events "lp1,2022-02-28,$LEAP,plain,ag,," "lp2,2022-03-01,$LEAP,plain,ag,,"
run explain "$LEAP" --json
expect_json "age: born 29 Feb is 18 on 1 March of a common year" \
    '[.contributions[]|select(.kind=="event")|.points]' '[0,10]'

# ---- clamping --------------------------------------------------------------------------------
load_events "k1,2024-07-01,$C14,boost,ag,,"
run show "$C14" --json
expect_json "clamp: score clamped to max, raw kept" '[.score,.raw]' '[1100,1500]'
load_events "k2,2024-07-02,$C14,m10,ag,,"
run show "$C14" --json
expect_json "clamp: raw keeps counting above max (no saturation)" '[.score,.raw]' '[1100,1490]'
load_events "k3,2024-07-01,$C15,crash,ag,,"
run show "$C15" --json
expect_json "clamp: score clamped to min, raw kept; grade from score" '[.score,.raw,.grade]' '[0,-4000,"C"]'
load_events "k4,2024-07-03,$C15,boost,ag,,"
run show "$C15" --json
expect_json "clamp: raw below min must be earned back" '[.score,.raw]' '[0,-3500]'

load_events "k5,2024-07-01,$UB1,crash,ag,," "k6,2024-07-01,$UB2,boost,ag,,"
run show "$UB1" --json
expect_json "no min: the score is unbounded below; no grades -> grade null" '[.score,.raw,.grade]' '[-5000,-5000,null]'
expect_eq "no max: the score is unbounded above" "$(q "$UB2" .score)" 9000

# ---- grades at band boundaries ---------------------------------------------------------------
load_events \
    "g1,2024-07-04,$C16,p50,ag,," \
    "g2,2024-07-04,$C17,p49,ag,," \
    "g3,2024-07-04,$C18,m100,ag,," \
    "g4,2024-07-04,$C19,m101,ag,,"
expect_eq "grade: score 1050 == lower bound of A -> A" "$(q "$C16" .grade)" A
expect_eq "grade: score 1049 -> B" "$(q "$C17" .grade)" B
expect_eq "grade: score 900 == lower bound of B -> B" "$(q "$C18" .grade)" B
expect_eq "grade: score 899 -> C" "$(q "$C19" .grade)" C
expect_eq "grade: base 1000 -> B" "$(q "$C20" .grade)" B
# date arithmetic: 2024 is a leap year, so 2024-01-01 + 365 days = 2024-12-31
load_events "xy1,2024-01-01,$C23,year,ag,,"
setup advance 2024-12-30
expect_eq "expires 365 days across 29 Feb: still counting on 2024-12-30" "$(q "$C23" .raw)" 993
setup advance 2024-12-31
expect_eq "expires 365 days across 29 Feb: negated on 2024-12-31" "$(q "$C23" .raw)" 1000

run stats --json
expect_json "stats: grade counts of tc" '.cities[]|select(.city=="tc")|.grades' \
    '{"A":3,"B":23,"C":2}'
expect_json "stats: citizens of tc" '.cities[]|select(.city=="tc")|.citizens' 28
# mean of the (clamped) scores, not of the raw scores: 27043 / 28 = 965.82
expect_json "stats: mean_score is the mean of the clamped scores" '.cities[]|select(.city=="tc")|.mean_score' 965.82

# ---- boundaries and explanations, in a second data directory ---------------------------------
fresh d2 "$R"
K2=$(mkid 110000 20100101 051) # 15 in 2025
csv "$T/c2.csv" "id,name" "$C01,One" "$C02,Two" "$C03,Three" "$C04,Four" "$C05,Five" "$C06,Six" "$K2,Kid"
setup load citizens "$T/c2.csv"
# cap at exactly one over the cap: -1 x 6 is limited to -5, -1 x 5 is not limited at all
load_events "u1,2025-01-10,$C01,unit,ag,6," "u2,2025-01-10,$C02,unit,ag,5,"
run explain "$C01" --json
expect_json "cap: one point over the cap is limited to the cap" \
    '[.contributions[]|[.points,.note]]' '[[-5,"capped at 5"]]'
run explain "$C02" --json
expect_json "cap: points equal to the cap are scaled, not limited" \
    '[.contributions[]|[.points,.note]]' '[[-5,"-1 x 5 (one per 1 of amount)"]]'
# expiries of one day run in the order their events were applied: o1's expiry (-450) comes
# before o2's (+450), so the score touches 550 < 600 on 2025-02-11 and, with no exit line,
# the citizen stays on the blacklist although the raw score is back at the base
load_events "o1,2025-02-01,$C04,up,ag,," "o2,2025-02-01,$C04,down,ag,,"
setup advance 2025-02-11
run explain "$C04" --json
expect_json "expires: one day's expiries in the order the events were applied" \
    '[.contributions[]|select(.kind=="expiry")|[.event,.points,.score]]' '[["o1",-450,550],["o2",450,1000]]'
expect_json "expires: the score below the threshold between two expiries lists the citizen" \
    '[.lists[]|[.list,.by,.entered,.left]]' '[["blacklist","score","2025-02-11",null]]'
expect_eq "... and the citizen stays listed at the base score" "$(q "$C04" '[.raw,.blacklist.since]|@csv')" \
    '1000,"2025-02-11"'
# the notes of explain (spec 2.9: why points were zero or limited), today 2025-02-11
load_events \
    "n1,2025-02-11,$C05,plain,ag,," \
    "n2,2025-02-05,$C05,tv,ag,," \
    "n3,2025-01-20,$C05,tv,ag,," \
    "n4,2025-02-11,$C05,vol,ag,," \
    "n5,2025-02-11,$C05,vol,ag,," \
    "n6,2025-02-11,$C05,vol,ag,," \
    "n7,2025-02-11,$K2,plain,ag,," \
    "n8,2025-02-01,$C05,tv,ag,,"
run explain "$C05" --json
expect_json "explain: an event on time scoring its points has no note" \
    '[.contributions[]|select(.event=="n1")|.note]' '[null]'
expect_json "explain: a late report says so and gives the date of the act" \
    '[.contributions[]|select(.event=="n2")|[.points,.note]]' '[[-5,"late report of an act on 2025-02-05"]]'
expect_json "explain: a late report zeroed by its expiry gives the expiry day" \
    '[.contributions[]|select(.event=="n3")|[.points,.note]]' \
    '[[0,"zero: it expired on 2025-01-30, before it was reported; late report of an act on 2025-01-20"]]'
expect_json "explain: a report zeroed by an expiry on its own day says so, not 'before'" \
    '[.contributions[]|select(.event=="n8")|[.points,.note]]' \
    '[[0,"zero: it expired on 2025-02-11, the day it was reported; late report of an act on 2025-02-01"]]'
expect_json "explain: an occurrence over the limit names the limit and the year" \
    '[.contributions[]|select(.event=="n6")|[.points,.note]]' '[[0,"zero: limit of 2 per year already reached in 2025"]]'
run explain "$K2" --json
expect_json "explain: an under-age event names the scoring age" \
    '[.contributions[]|[.points,.note]]' '[[0,"zero: younger than the scoring age 18 on the event date"]]'

# explain's text widens its event and behaviour columns to the longest entry, so that a long
# event id or behaviour name does not push the agencies of its line out of line with the others.
load_events "an_event_id_longer_than_its_column,2025-02-11,$C06,plain,ag,," "s1,2025-02-11,$C06,a_behaviour_whose_name_runs_past_the_column,ag,,"
run explain "$C06"
expect_eq "explain text: the agency column lines up past a long event id and behaviour" \
    "$(printf '%s\n' "$OUT" | awk '/^  2025-/ { print index($0, " ag ") }' | sort -u | tr '\n' ' ')" "113 "

# stats of a city without citizens and of one whose mean is negative: the mean is rounded
# half away from zero, to two decimals in the text as in the JSON.
UB3=$(mkid 130000 19800101 061); UB4=$(mkid 130000 19800101 063); UB5=$(mkid 130000 19800101 065)
csv "$T/ub.csv" "id,name" "$UB3,Ub Three" "$UB4,Ub Four" "$UB5,Ub Five"
setup load citizens "$T/ub.csv"
load_events "ub1,2025-02-11,$UB3,crash,ag,,"
run stats --json
expect_json "stats: a city without citizens has no mean" '.cities[]|select(.city=="sixteen")|[.citizens,.mean_score]' \
    '[0,null]'
expect_json "stats: a negative mean, -5000/3, rounded away from zero" \
    '.cities[]|select(.city=="unbounded")|.mean_score' -1666.67
run stats
expect_eq "stats text: no mean is '-'" "$(printf '%s\n' "$OUT" | awk '$1 == "sixteen" { print $3 }')" "-"
expect_eq "stats text: the mean to two decimals" "$(printf '%s\n' "$OUT" | awk '$1 == "unbounded" { print $3 }')" \
    -1666.67
expect_eq "stats text: no line ends in a space (cities without grades among them)" \
    "$(printf '%s\n' "$OUT" | grep -c ' $')" 0

# A mean exactly halfway between two hundredths: 801/8 = 100.125 and -801/8 = -100.125.
# Rounding a binary double with printf would give 100.12 (half to even); the mean is rounded
# half away from zero instead, so it reads the same on every machine.
RH="$T/rules_half"
mkdir -p "$RH"
cat >"$RH/hp.rules" <<'RULES'
city hp "Half Plus"
region 210000
score base 100
behaviour one points +1 category x
agency ag reports category x
RULES
cat >"$RH/hn.rules" <<'RULES'
city hn "Half Minus"
region 220000
score base -100
behaviour minus points -1 category x
agency ag reports category x
RULES
fresh half "$RH"
{
    echo "id,name"
    for i in 001 003 005 007 009 011 013 015; do
        echo "$(mkid 210000 19800101 $i),Plus $i"
        echo "$(mkid 220000 19800101 $i),Minus $i"
    done
} >"$T/half.csv"
setup load citizens "$T/half.csv"
load_events "hf1,2025-01-01,$(mkid 210000 19800101 001),one,ag,," "hf2,2025-01-01,$(mkid 220000 19800101 001),minus,ag,,"
run stats --json
expect_json "stats: a mean of 100.125 rounds half away from zero" '[.cities[]|[.city,.mean_score]]' \
    '[["hn",-100.13],["hp",100.13]]'
run stats
expect_eq "stats text: the halves rounded the same way" \
    "$(printf '%s\n' "$OUT" | awk '$1 == "hn" || $1 == "hp" { print $1 "=" $3 }' | tr '\n' ' ')" \
    "hn=-100.13 hp=100.13 "

# Points times a huge amount pass what 64 bits hold (10^9 x 7 x 10^11, whose low 64 bits read as
# a negative number): the product saturates with the sign of the points, the raw score stops at
# +-(2^61 - 1), a cap still limits it, and an expiry takes back what the sum kept (nothing for an
# event that added nothing).
RB="$T/rules_big"
mkdir -p "$RB"
cat >"$RB/big.rules" <<'RULES'
city big "Big"
region 230000
score base 0
behaviour giant points +1000000000 per 1 expires 10 days category x
behaviour abyss points -1000000000 per 1 category x
behaviour giantcap points +1000000000 per 1 cap 7 category x
agency ag reports category x
RULES
fresh big "$RB"
H1=$(mkid 230000 19800101 001); H2=$(mkid 230000 19800101 003); H3=$(mkid 230000 19800101 005)
csv "$T/big.csv" "id,name" "$H1,Big One" "$H2,Big Two" "$H3,Big Three"
setup load citizens "$T/big.csv"
load_events "bg1,2025-01-01,$H1,giant,ag,700000000000," "bg2,2025-01-01,$H1,giant,ag,700000000000," \
    "bg3,2025-01-01,$H2,abyss,ag,700000000000," "bg4,2025-01-01,$H3,giantcap,ag,700000000000,"
# jq reads numbers as doubles, which cannot tell 2^61 - 1 from 2^61: the JSON text is compared.
# points_of ID: the kind, event and points of each contribution of ID's explanation, one a line.
points_of() {
    run explain "$1" --json
    printf '%s' "$OUT" | tr -d ' \n' | grep -o '"kind":"[a-z]*","event":"[a-z0-9]*"' | cut -d'"' -f4,8 | tr '"' ' ' >"$T/kinds"
    printf '%s' "$OUT" | tr -d ' \n' | grep -o '"points":-*[0-9]*' | cut -d: -f2 | paste -d' ' "$T/kinds" - | tr '\n' ';'
}
expect_eq "overflow: a positive product stops at 2^61 - 1, the next event keeps nothing" \
    "$(points_of "$H1")" "event bg1 2305843009213693951;event bg2 0;"
expect_eq "overflow: a negative product stops at -(2^61 - 1)" "$(points_of "$H2")" "event bg3 -2305843009213693951;"
expect_eq "overflow: the cap still limits a product past 64 bits" "$(points_of "$H3")" "event bg4 7;"
run show "$H2" --json
expect_eq "overflow: the raw score is the saturated sum" \
    "$(printf '%s' "$OUT" | tr -d ' \n' | grep -o '"raw":-*[0-9]*')" '"raw":-2305843009213693951'
setup advance 2025-01-11
expect_eq "overflow: the expiry takes back what was kept, and only for the event that kept it" \
    "$(points_of "$H1")" "event bg1 2305843009213693951;event bg2 0;expiry bg1 -2305843009213693951;"
expect_eq "overflow: the raw score is back at the base" "$(q "$H1" .raw)" 0

finish
