#!/bin/sh
# Lists and consequences (spec 2.4-2.6): score membership of the blacklist with and without
# `exit`, term membership, the whitelist, `for D days` consequences, `children`, and checkpoint
# decision precedence.
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"

R="$T/rules"
mkdir -p "$R"
cat >"$R/lc.rules" <<'RULES'
city lc "List City"
region 130000
score base 1000 min 0 max 2000
grade A from 1050
grade B from 600
grade C from 0
behaviour drop points -500 category j
behaviour m400 points -400 category j
behaviour m401 points -401 category j
behaviour up300 points +300 category j
behaviour m1 points -1 category j
behaviour p1 points +1 category j
behaviour p100 points +100 category j
behaviour listing points -1 lists blacklist for 10 days category j
behaviour listing_long points -1 lists blacklist for 20 days category j
behaviour listing_exp points -1 expires 5 days lists blacklist for 10 days category j
behaviour p50 points +50 category j
behaviour p49 points +49 category j
behaviour tick points -60 expires 10 days category j
behaviour bonus points +100 expires 10 days category j
behaviour m450 points -450 category j
behaviour up600 points +600 category j
behaviour listing_once points -1 limit 1 per year lists blacklist for 10 days category j
agency ag reports category j
blacklist below 600
blacklist exit 800 after 10 days
whitelist from 1050
sanction ban15 on blacklist for 15 days deny train
sanction noloan on blacklist deny loan
sanction kids on blacklist children deny private_school
sanction kidsfor on blacklist for 5 days children deny kid_act
privilege prio on whitelist priority act_all act_pd
sanction gdeny on grade A deny act_all
privilege d5 on whitelist discount 5 act_all act_pd act_dd
privilege d15 on grade A discount 15 act_dd act_pd
privilege d10 on whitelist discount 10 act_dd
sanction unused on blacklist deny act_none
RULES
cat >"$R/gc.rules" <<'RULES'
city gc "Grade City"
region 190000
score base 1000 min 0
grade A from 1000
grade B from 900
grade C from 800
grade D from 0
behaviour m150 points -150 category j
behaviour m100 points -100 category j
behaviour p300 points +300 category j
behaviour crash points -1000 category j
agency ag reports category j
blacklist below 100
sanction gcd on grade C,D for 10 days deny g_act
sanction gc_only on grade C deny c_act
privilege d1 on grade A discount 1 d1_act
RULES
cat >"$R/low.rules" <<'RULES'
city low "Low Base"
region 200000
score base 500 min 0
grade L from 0
grade H from 900
blacklist below 600
sanction low_grade on grade L deny l_act
sanction high_grade on grade H deny h_act
RULES
cat >"$R/nc.rules" <<'RULES'
city nc "No Exit"
region 140000
score base 1000 min 0 max 5000
grade A from 0
behaviour drop points -500 category j
behaviour up points +2000 category j
agency ag reports category j
blacklist below 600
whitelist from 1050
RULES

lc() { mkid 130000 19800101 "$1"; }
citizens() { # citizens FILE ID...: registers the IDs (city from region)
    f=$1
    shift
    { echo "id,name"; for c in "$@"; do echo "$c,Name $c"; done; } >"$f"
    setup load citizens "$f"
}

# ---- score membership ------------------------------------------------------------------------
S1=$(lc 001); S2=$(lc 002); S3=$(lc 003); S4=$(lc 004); N1=$(mkid 140000 19800101 005)
fresh score "$R"
citizens "$T/c1.csv" "$S1" "$S2" "$S3" "$S4" "$N1"
load_events \
    "s1,2024-01-01,$S1,drop,ag,," \
    "s2,2024-01-01,$S2,drop,ag,," \
    "s3,2024-01-01,$S3,m400,ag,," \
    "s4,2024-01-01,$S4,m401,ag,," \
    "n1,2024-01-01,$N1,drop,ag,,"
expect_eq "blacklist: score == threshold 600 is not listed" "$(q "$S3" .blacklist)" null
run show "$S3"
expect_eq "show text: a citizen on no list with no consequence says so" "$(printf '%s\n' "$OUT" | tail -4)" \
    "blacklist   no
whitelist   no
consequences
  (none)"
run explain "$S3"
expect_out "explain text: a citizen never listed says so" "lists
  (never listed)
consequences"
expect_eq "blacklist: score 599 < 600 is listed" "$(q "$S4" .blacklist.since)" 2024-01-01
expect_eq "blacklist: since = day the score dropped" "$(q "$S1" .blacklist.since)" 2024-01-01
run list blacklist --json
expect_json "list blacklist: the four listed citizens" '[.citizens[].id]|sort' \
    "$(printf '%s\n' "$S1" "$S2" "$S4" "$N1" | sort | jq -R . | jq -sc .)"
expect_eq "blacklist reason: the threshold, the day and the exit line" "$(q "$S4" .blacklist.reason)" \
    "score fell below 600 on 2024-01-01 (exit after 10 days at or above 800)"
expect_eq "blacklist reason: without an exit line, says there is none" "$(q "$N1" .blacklist.reason)" \
    "score fell below 600 on 2024-01-01 (no exit: once untrustworthy, always restricted)"
load_events \
    "s5,2024-01-05,$S1,up300,ag,," \
    "s6,2024-01-05,$S2,up300,ag,," \
    "s7,2024-01-08,$S2,m1,ag,," \
    "s8,2024-01-09,$S2,p1,ag,," \
    "n2,2024-01-05,$N1,up,ag,,"
expect_eq "exit: still listed the day the score reaches Y" "$(q "$S1" .blacklist.since)" 2024-01-01
setup advance 2024-01-14
expect_eq "exit: still listed on s+D-1" "$(q "$S1" .blacklist.since)" 2024-01-01
setup advance 2024-01-15
expect_eq "exit: leaves at the start of s+D" "$(q "$S1" .blacklist)" null
run explain "$S1" --json
expect_json "exit: explain records entry and exit" '[.lists[]|[.list,.entered,.left]]' \
    '[["blacklist","2024-01-01","2024-01-15"]]'
expect_json "exit: explain gives reasons" '[.lists[]|(.reason|type)]' '["string"]'
expect_eq "exit: dropping below Y resets the wait (listed on old s+D)" "$(q "$S2" .blacklist.since)" 2024-01-01
setup advance 2024-01-18
expect_eq "exit: listed on new s+D-1" "$(q "$S2" .blacklist.since)" 2024-01-01
setup advance 2024-01-19
expect_eq "exit: leaves on new s+D (s = last rise to >= Y)" "$(q "$S2" .blacklist)" null
load_events "s9,2024-02-01,$S1,drop,ag,,"
expect_eq "blacklist: re-entry sets since to the latest entry" "$(q "$S1" .blacklist.since)" 2024-02-01
run list blacklist --json
expect_json "list: since of a re-entered citizen" ".citizens[]|select(.id==\"$S1\")|.since" 2024-02-01
setup advance 2030-01-01
run show "$N1" --json
expect_json "no exit line: never leaves, even at score 2500 years later" '[.score,.blacklist.since]' \
    '[2500,"2024-01-01"]'
expect_eq "no exit line: blacklisted citizen is not whitelisted" "$(jget .whitelist)" null

# ---- term membership -------------------------------------------------------------------------
T1=$(lc 011); T2=$(lc 012); T3=$(lc 013); T4=$(lc 014); T5=$(lc 015); T6=$(lc 016)
T7=$(lc 017); T8=$(lc 018)
fresh term "$R"
citizens "$T/c2.csv" "$T1" "$T2" "$T3" "$T4" "$T5" "$T6" "$T7" "$T8"
setup advance 2024-02-01
load_events \
    "t1,2024-02-01,$T1,listing,ag,," \
    "t7,2024-01-15,$T7,listing,ag,," \
    "t8,2024-01-15,$T8,listing_exp,ag,," \
    "t2a,2024-02-01,$T2,listing,ag,," \
    "t3a,2024-02-01,$T3,listing_long,ag,," \
    "t4a,2024-02-01,$T4,drop,ag,," \
    "t5a,2024-02-01,$T5,listing,ag,," \
    "t6a,2024-02-01,$T6,p100,ag,,"
run show "$T1" --json
expect_json "term: listed whatever the score (999)" '[.score,.blacklist.since]' '[999,"2024-02-01"]'
expect_json "term: reason names the behaviour or event" \
    '.blacklist.reason|(contains("listing") or contains("t1"))' true
expect_eq "term: late report starts the term on today, not the event date" "$(q "$T7" .blacklist.since)" 2024-02-01
run show "$T8" --json
expect_json "term: expired late report scores 0 but still puts the term" '[.raw,.blacklist.since]' \
    '[1000,"2024-02-01"]'
expect_eq "whitelist: score 1100 >= 1050" "$(q "$T6" .whitelist.since)" 2024-02-01
load_events \
    "t4b,2024-02-02,$T4,up300,ag,," \
    "t4c,2024-02-02,$T4,p1,ag,," \
    "t6b,2024-02-03,$T6,listing,ag,," \
    "t5b,2024-02-03,$T5,drop,ag,," \
    "t2b,2024-02-05,$T2,listing,ag,," \
    "t3b,2024-02-05,$T3,listing,ag,,"
run show "$T6" --json
expect_json "whitelist: not while blacklisted (term), score 1099" '[.score,.whitelist,.blacklist.since]' \
    '[1099,null,"2024-02-03"]'
# the reason is the event that started the running term (t2a), with the last day of the
# extended term; explain gives each event's own last day, t + D - 1
expect_eq "term: an extended term's reason names the event that started it" "$(q "$T2" .blacklist.reason)" \
    "listed for 'listing' (event t2a) until 2024-02-14"
run explain "$T2" --json
expect_json "term: explain gives the starting event and each extension with its last day" \
    '[.lists[]|[.by,.entered,.reason]]' \
    "[[\"term\",\"2024-02-01\",\"'listing' reported by ag (event t2a): listed until 2024-02-10; extended: 'listing' reported by ag (event t2b): listed until 2024-02-14\"]]"
load_events "t4d,2024-02-10,$T4,listing,ag,,"
setup advance 2024-02-10
expect_eq "term + score: the reason gives both, the score's first" "$(q "$T5" .blacklist.reason)" \
    "score fell below 600 on 2024-02-03 (exit after 10 days at or above 800); listed for 'listing' (event t5a) until 2024-02-10"
expect_eq "term: listed on t+D-1" "$(q "$T1" .blacklist.since)" 2024-02-01
expect_eq "term: late-report term listed on today+D-1" "$(q "$T7" .blacklist.since)" 2024-02-01
setup advance 2024-02-11
expect_eq "term: ends at the start of t+D" "$(q "$T1" .blacklist)" null
expect_eq "term: late-report term ends at today+D" "$(q "$T7" .blacklist)" null
expect_eq "term + score: still listed by score after the term ends" "$(q "$T5" .blacklist.since)" 2024-02-01
expect_eq "... and from the term's end day on, the reason is the score's alone" "$(q "$T5" .blacklist.reason)" \
    "score fell below 600 on 2024-02-03 (exit after 10 days at or above 800)"
setup advance 2024-02-12
expect_eq "score exit due but a term holds: still listed" "$(q "$T4" .blacklist.since)" 2024-02-01
setup advance 2024-02-13
expect_eq "whitelist: entered when the term ends" "$(q "$T6" .whitelist.since)" 2024-02-13
setup advance 2024-02-14
expect_eq "terms extend: second term listed on its t+D-1" "$(q "$T2" .blacklist.since)" 2024-02-01
setup advance 2024-02-15
expect_eq "terms extend: off at the later end" "$(q "$T2" .blacklist)" null
expect_eq "terms: a shorter later term does not cut a longer one" "$(q "$T3" .blacklist.since)" 2024-02-01
setup advance 2024-02-19
expect_eq "score exit passed, term ends t+D: listed on t+D-1" "$(q "$T4" .blacklist.since)" 2024-02-01
setup advance 2024-02-20
expect_eq "score exit passed and term over: off the list" "$(q "$T4" .blacklist)" null
expect_eq "terms: longest term listed on its last day" "$(q "$T3" .blacklist.since)" 2024-02-01
setup advance 2024-02-21
expect_eq "terms: longest term over" "$(q "$T3" .blacklist)" null
setup advance 2024-06-01
expect_eq "term + score: score membership outlives the term" "$(q "$T5" .blacklist.since)" 2024-02-01

# The event a term's reason names is found without the history index too (the trail file
# damaged after a snapshot), by counting events through a log of several segments, the
# event in the last of them.
fresh termseg "$R"
citizens "$T/c2s.csv" "$T1" "$T2"
export XINYONG_SEGMENT_BYTES=100
for k in 1 2 3; do load_events "s$k,2024-02-0$k,$T1,p1,ag,,"; done
load_events "s4,2024-02-04,$T2,listing,ag,,"
unset XINYONG_SEGMENT_BYTES
setup snapshot
expect_eq "a log of several segments" "$(ls "$D" | grep -c '^log')" 5
size=$(wc -c <"$D/trail")
dd if=/dev/zero of="$D/trail" bs=1 seek=16 count=$((size - 16)) conv=notrunc 2>/dev/null
run show "$T2" --json
expect_eq "a term's reason without the history index: the event named still" "$(jget .blacklist.reason)" \
    "listed for 'listing' (event s4) until 2024-02-13"

# ---- consequences: for D days, children ------------------------------------------------------
P1=$(lc 021); P2=$(lc 022); OT=$(lc 023); CH=$(mkid 130000 20150601 024)
fresh cons "$R"
{
    echo "id,name,city,father,mother"
    echo "$P1,Parent One,lc,,"
    echo "$P2,Parent Two,lc,,"
    echo "$OT,Other,lc,,"
    echo "$CH,Child,lc,$P1,"
} >"$T/c3.csv"
setup load citizens "$T/c3.csv"
load_events "c1,2024-03-01,$P1,listing,ag,," "c2,2024-03-01,$P2,listing,ag,,"
setup advance 2024-03-05
run check "$P1" train --json
expect_json "for D days: active while listed" '[.decision,.consequences[0].name,.consequences[0].until]' \
    '["deny","ban15","2024-03-15"]'
run check "$P1" loan --json
expect_json "without for: active while listed" '[.decision,.consequences[0].until]' '["deny",null]'
run check "$CH" private_school --json
expect_json "children: the child is denied" '.decision' deny
expect_json "children: subject is the parent's id" '.consequences[0].subject' "$P1"
expect_json "children: consequence named" '.consequences[0].name' kids
run check "$P1" private_school --json
expect_json "children: the subject itself is not denied" '[.decision,(.consequences|length)]' '["allow",0]'
run check "$OT" private_school --json
expect_json "children: a non-child is not denied" '.decision' allow
run check "$CH" private_school
expect_out "children, check text: the parent named" "on blacklist since 2024-03-01, as child of $P1"
run check "$P1" train
expect_out "for D days, check text: the last day" "on blacklist since 2024-03-01, until 2024-03-15
"
run show "$CH" --json
expect_json "children: show of the child lists the parent's consequences" \
    '[.consequences[]|[.name,.subject]]|sort' "[[\"kids\",\"$P1\"],[\"kidsfor\",\"$P1\"]]"
setup advance 2024-03-12
run show "$P1" --json
expect_eq "for D days: citizen has left the list (term over on 03-11)" "$(jget .blacklist)" null
run check "$P1" train --json
expect_json "for D days: still active after leaving" '[.decision,.consequences[0].since,.consequences[0].until]' \
    '["deny","2024-03-01","2024-03-15"]'
expect_json "for D days after leaving: why it is still active" '.consequences[0].why' \
    "entered the blacklist; no longer on it, the 15 days still run"
run check "$P1" loan --json
expect_json "without for: inactive after leaving" '.decision' allow
run check "$CH" private_school --json
expect_json "children: inactive once the parent has left" '.decision' allow
load_events "c3,2024-03-13,$P2,listing,ag,,"
setup advance 2024-03-15
run check "$P1" train --json
expect_json "for D days: active on e+D-1" '.decision' deny
setup advance 2024-03-16
run check "$P1" train --json
expect_json "for D days: inactive on e+D" '[.decision,(.consequences|length)]' '["allow",0]'
run check "$P2" train --json
expect_json "for D days: re-entry restarts the period (e = latest entry)" \
    '[.decision,.consequences[0].since,.consequences[0].until]' '["deny","2024-03-13","2024-03-27"]'
setup advance 2024-03-27
run check "$P2" train --json
expect_json "for D days after re-entry: active on e+D-1" '.decision' deny
setup advance 2024-03-28
run check "$P2" train --json
expect_json "for D days after re-entry: inactive on e+D" '.decision' allow

# ---- many consequences: the rules set no bound on their number, and all of them count ------
RM="$T/rules_many"
mkdir -p "$RM"
{
    printf 'city many "Many"\nregion 240000\nscore base 100 min 0\ngrade A from 0\n'
    for i in $(seq 1 300); do echo "sanction s$i on grade A deny act$i"; done
} >"$RM/many.rules"
MA=$(mkid 240000 19800101 001)
fresh many "$RM"
csv "$T/many.csv" "id,name" "$MA,Many Sanctions"
setup load citizens "$T/many.csv"
run check "$MA" act300 --json
expect_json "300 consequences: the last one still denies" '[.decision,[.consequences[].name]]' '["deny",["s300"]]'
run show "$MA" --json
expect_json "300 consequences: show lists all of them" '[(.consequences|length),.consequences[299].name]' \
    '[300,"s300"]'

# ---- more list re-evaluation cases -----------------------------------------------------------
E1=$(lc 071); E2=$(lc 072); E3=$(lc 073); M1=$(lc 074); M2=$(lc 075); MK=$(mkid 130000 20150101 076)
fresh more "$R"
{
    echo "id,name,city,father,mother"
    for c in $E1 $E2 $E3 $M1 $M2; do echo "$c,Name $c,lc,,"; done
    echo "$MK,Kid Two Parents,lc,$M1,$M2"
} >"$T/c9.csv"
setup load citizens "$T/c9.csv"
load_events \
    "m1,2024-06-01,$E1,bonus,ag,," "m2,2024-06-01,$E1,m450,ag,," "m3,2024-06-01,$E2,drop,ag,," \
    "m5,2024-06-01,$E3,listing_once,ag,," "m7,2024-06-01,$M1,listing,ag,," "m8,2024-06-01,$M2,drop,ag,," \
    "m4,2024-06-02,$E2,up600,ag,,"
expect_eq "expiry: not listed at 650" "$(q "$E1" .blacklist)" null
run check "$MK" private_school --json
expect_json "children: two listed parents, one consequence each" '[.decision,([.consequences[].subject]|sort)]' \
    "[\"deny\",$(printf '%s\n' "$M1" "$M2" | sort | jq -R . | jq -sc .)]"
setup advance 2024-06-05
run check "$MK" kid_act --json
expect_json "children + for D days: active on e+D-1" '[.decision,.consequences[0].until]' '["deny","2024-06-05"]'
setup advance 2024-06-06
run check "$MK" kid_act --json
expect_json "children + for D days: inactive on e+D while the parents are still listed" '.decision' allow
load_events "m6,2024-06-08,$E3,listing_once,ag,,"
run explain "$E3" --json
expect_json "limit: the second listing event scores 0" '[.contributions[]|.points]' '[-1,0]'
setup advance 2024-06-11
run show "$E1" --json
expect_json "expiry: entering the blacklist on the expiry day" '[.score,.blacklist.since]' '[550,"2024-06-11"]'
setup advance 2024-06-12
run show "$E2" --json
expect_json "exit and whitelist on the same day: whitelisted from s+D" '[.score,.blacklist,.whitelist.since]' \
    '[1100,null,"2024-06-12"]'
setup advance 2024-06-17
expect_eq "limit: the zeroed listing event still extends the term (listed on 06-17)" "$(q "$E3" .blacklist.since)" 2024-06-01
setup advance 2024-06-18
expect_eq "limit: term of the zeroed event ends on 06-18" "$(q "$E3" .blacklist)" null

# ---- whitelist boundary and re-evaluation on expiry ------------------------------------------
WB1=$(lc 041); WB2=$(lc 042); WB3=$(lc 043)
fresh white "$R"
citizens "$T/c5.csv" "$WB1" "$WB2" "$WB3"
load_events "wb1,2024-04-01,$WB1,p50,ag,," "wb2,2024-04-01,$WB2,p49,ag,," \
    "wb3,2024-04-01,$WB3,p100,ag,," "wb4,2024-04-02,$WB3,tick,ag,,"
expect_eq "whitelist: score == 1050 is on it" "$(q "$WB1" .whitelist.since)" 2024-04-01
expect_eq "whitelist: score 1049 is not" "$(q "$WB2" .whitelist)" null
expect_eq "whitelist: leaves when the score drops below" "$(q "$WB3" .whitelist)" null
setup advance 2024-04-11
expect_eq "whitelist: no re-entry before the expiry" "$(q "$WB3" .whitelist)" null
setup advance 2024-04-12
run show "$WB3" --json
expect_json "whitelist: re-entered on the expiry day (re-evaluated when the score changes)" \
    '[.score,.whitelist.since]' '[1100,"2024-04-12"]'
run explain "$WB3" --json
expect_json "explain: whitelist entries and exits" '[.lists[]|[.list,.entered,.left]]' \
    '[["whitelist","2024-04-01","2024-04-02"],["whitelist","2024-04-12",null]]'
run list whitelist --json
expect_json "list whitelist: both, since order" '[.citizens[]|[.id,.since]]' \
    "[[\"$WB1\",\"2024-04-01\"],[\"$WB3\",\"2024-04-12\"]]"
load_events "wb5,2024-04-12,$WB1,up600,ag,," "wb6,2024-04-12,$WB1,up600,ag,,"
run show "$WB1" --json
expect_json "whitelist reason: the score as clamped to max, not the raw" '[.raw,.whitelist.reason]' \
    '[2250,"score 2000 at or above 1050"]'
run show "$WB1"
expect_out "show text: the score with the raw score beside it" "score       2000 (raw 2250)
"

# ---- grade consequences: for D days from the latest entry into the grade set -----------------
GA=$(mkid 190000 19800101 051); GP=$(mkid 190000 19800101 053); GK=$(mkid 130000 20150101 055)
LK=$(mkid 190000 20150101 057)
fresh grades "$R"
{
    echo "id,name,city,father,mother"
    echo "$GA,Grade A,gc,,"
    echo "$P1,Parent In Lc,lc,,"
    echo "$GP,Parent In Gc,gc,,"
    echo "$GK,Kid In Lc,lc,$GP,"
    echo "$LK,Kid In Gc,gc,$P1,"
} >"$T/c6.csv"
setup load citizens "$T/c6.csv"
load_events "gr1,2024-05-01,$GA,m150,ag,,"
run check "$GA" c_act --json
expect_json "grade consequence without for: active in the grade" '.decision' deny
load_events "gr2,2024-05-03,$GA,m100,ag,," "gr3,2024-05-04,$GA,p300,ag,,"
run show "$GA" --json
expect_json "grade: back to A" '.grade' A
run check "$GA" g_act --json
expect_json "grade for D days: e = entry into the set (C -> D does not restart it)" \
    '[.decision,.consequences[0].since,.consequences[0].until]' '["deny","2024-05-01","2024-05-10"]'
run check "$GA" c_act --json
expect_json "grade consequence without for: inactive after leaving the grade" '.decision' allow
run check "$GA" d1_act --json
expect_json "a discount of 1 percent is a discount" '[.decision,.percent]' '["discount",1]'
setup advance 2024-05-10
run check "$GA" g_act --json
expect_json "grade for D days: active on e+D-1" '.decision' deny
setup advance 2024-05-11
run check "$GA" g_act --json
expect_json "grade for D days: inactive on e+D" '.decision' allow
# children across cities: the parent's city's consequence applies (decisions)
load_events "gr4,2024-05-12,$P1,drop,ag,," "gr5,2024-05-12,$GP,crash,ag,,"
run show "$GP" --json
expect_json "children across cities: parent in gc is blacklisted" '.blacklist.since' 2024-05-12
run check "$LK" private_school --json
expect_json "children across cities: child in gc of a parent in lc is denied (lc's consequence)" \
    '[.decision,.consequences[0].name,.consequences[0].subject]' "[\"deny\",\"kids\",\"$P1\"]"
run check "$GK" private_school --json
expect_json "children across cities: child in lc of a parent in gc (no such consequence) is allowed" \
    '.decision' allow

# ---- registration and the clock (decisions) --------------------------------------------------
L1=$(mkid 200000 19800101 061); L2=$(mkid 200000 19800101 063)
fresh low "$R"
citizens "$T/c7.csv" "$L1"
run show "$L1" --json
expect_json "before the clock: base below the threshold lists, since null" '[.blacklist!=null,.blacklist.since,.today]' \
    '[true,null,null]'
# Before the clock only what holds is active, and it has no day yet.
run check "$L1" l_act --json
expect_json "before the clock: a holding grade consequence is active, since null" \
    '[.decision,.consequences[0].since]' '["deny",null]'
run check "$L1" h_act --json
expect_json "before the clock: a consequence of another grade is not active" '.decision' allow
setup advance 2024-05-01
expect_eq "before the clock: since becomes the clock's first day" "$(q "$L1" .blacklist.since)" 2024-05-01
run check "$L1" l_act --json
expect_json "before the clock: grade consequence since the clock's first day" \
    '[.decision,.consequences[0].since]' '["deny","2024-05-01"]'
setup advance 2024-05-03
citizens "$T/c8.csv" "$L2"
expect_eq "registered with the clock set: listed on the day of registration" "$(q "$L2" .blacklist.since)" 2024-05-03

# ---- decision precedence ---------------------------------------------------------------------
W1=$(lc 031)
fresh prec "$R"
citizens "$T/c4.csv" "$W1"
load_events "w1,2024-03-01,$W1,p100,ag,,"
run check "$W1" act_all --json
expect_rc "check exits 0" 0
expect_json "deny beats priority and discount" '[.decision,.percent]' '["deny",null]'
expect_json "deny: lists the denying consequence" '[.consequences[].name]|index("gdeny")!=null' true
# The list holds every active consequence that names the action (those collected in spec 2.6),
# and no other: d10 and d15 do not name act_all.
expect_json "deny: lists exactly the active consequences naming the action" '[.consequences[].name]|sort' \
    '["d5","gdeny","prio"]'
run check "$W1" act_pd --json
expect_json "priority beats discount" '[.decision,.percent]' '["priority",null]'
expect_json "priority: lists exactly the active consequences naming the action" '[.consequences[].name]|sort' \
    '["d15","d5","prio"]'
run check "$W1" act_dd --json
expect_json "largest discount wins (5, 15, 10 -> 15)" '[.decision,.percent]' '["discount",15]'
expect_json "discount: consequence behind it" '[.consequences[]|select(.percent==15)|.name]' '["d15"]'
expect_json "discount: lists exactly the active consequences naming the action" '[.consequences[].name]|sort' \
    '["d10","d15","d5"]'
run check "$W1" act_none --json
expect_json "no active consequence: allow, empty list" '[.decision,.percent,.consequences]' '["allow",null,[]]'
run check "$W1" act_dd
expect_rc "check text: exit 0" 0
expect_out "check text: says discount 15" "discount 15"
expect_out "check text: a consequence's percent with its sign" "privilege d15: discount 15% act_dd act_pd"
run check "$W1" act_none
expect_eq "check text: no consequence, the decision line alone" "$OUT" "$W1 act_none: allow"
run show "$W1" --json
expect_json "show: active consequences of a whitelisted grade-A citizen" '[.consequences[].name]|sort' \
    '["d10","d15","d5","gdeny","prio"]'
expect_json "show: discount consequence carries its percent" \
    '[.consequences[]|select(.name=="d10")|[.kind,.effect,.percent,.subject]]' '[["privilege","discount",10,"self"]]'

# list's text pads names to 20 terminal columns, a Chinese character taking two, so that the
# city column lines up.
fresh names "$R"
N1=$(mkid 130000 19800101 007); N2=$(mkid 130000 19800101 009); N3=$(mkid 130000 19800101 011)
# Wide also: Hangul syllables and jamo, CJK beyond the first 65,536 characters (four bytes),
# compatibility ideographs, vertical forms, fullwidth forms and signs; narrow: U+303F among the
# CJK symbols, letters and signs of two, three and four bytes.
W1=$(mkid 130000 19800101 013); W2=$(mkid 130000 19800101 015); W3=$(mkid 130000 19800101 017)
W4=$(mkid 130000 19800101 019); W5=$(mkid 130000 19800101 021); W6=$(mkid 130000 19800101 023)
csv "$T/names.csv" "id,name" "$N2,Li Na" "$N1,张伟" "$N3,Bartholomew Alexander Longname" \
    "$W1,김민준" "$W2,𠀀𠀁" "$W3,豈︰" "$W4,ＡＢ￥" "$W5,ᄀ〿" "$W6,Zoë Ĉu € 𝐀"
setup load citizens "$T/names.csv"
load_events "n1,2024-01-01,$N1,drop,ag,," "n2,2024-01-01,$N2,drop,ag,," "n3,2024-01-01,$N3,drop,ag,," \
    "w1,2024-01-01,$W1,drop,ag,," "w2,2024-01-01,$W2,drop,ag,," "w3,2024-01-01,$W3,drop,ag,," \
    "w4,2024-01-01,$W4,drop,ag,," "w5,2024-01-01,$W5,drop,ag,," "w6,2024-01-01,$W6,drop,ag,,"
run list blacklist
# padded WHAT ID NAME COLUMNS: ID's line has NAME, then spaces to 20 columns and one more.
padded() {
    expect_eq "list text: $1, padded to 20" \
        "$(printf '%s\n' "$OUT" | grep -c "^$2  $3$(printf "%$((21 - $4))s" '')lc ")" 1
}
padded "Hangul syllables" "$W1" 김민준 6
padded "CJK of four bytes" "$W2" 𠀀𠀁 4
padded "a compatibility ideograph and a vertical form" "$W3" 豈︰ 4
padded "fullwidth letters and sign" "$W4" ＡＢ￥ 6
padded "a Hangul jamo (wide) and U+303F (narrow)" "$W5" ᄀ〿 3
padded "letters and a sign of two, three and four bytes" "$W6" "Zoë Ĉu € 𝐀" 10
expect_eq "list text: a Chinese name, two columns a character, padded to 20" \
    "$(printf '%s\n' "$OUT" | grep -c "^$N1  张伟$(printf '%17s' '')lc ")" 1
expect_eq "list text: an ASCII name, padded to 20" \
    "$(printf '%s\n' "$OUT" | grep -c "^$N2  Li Na$(printf '%16s' '')lc ")" 1
expect_eq "list text: a name past 20 columns, one space before the city" \
    "$(printf '%s\n' "$OUT" | grep -c "^$N3  Bartholomew Alexander Longname lc ")" 1
# Registered out of ID order and listed on the same day, they come in ID order.
run list blacklist --json
expect_json "list: the same since, then ID order, whatever the order of registration" '[.citizens[].id][:3]' \
    "[\"$N1\",\"$N2\",\"$N3\"]"
expect_out "list --json: a name in UTF-8 as it is, not escaped" '"name":"张伟"'
run show "$N1" --json
expect_out "show --json: the same" '"name":"张伟"'

finish
