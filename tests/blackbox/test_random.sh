#!/bin/sh
# Property test: a deterministic pseudo-random population (Park-Miller generator in awk, so
# every awk gives the same data) with per/cap, limits, expiries, terms, association, clamping,
# minors and late reports. After loading, every citizen must satisfy the spec's invariants:
#   base + sum(contributions) == raw; score == clamp(raw); grade == band(score);
#   score < blacklist threshold => blacklisted; whitelisted <=> score >= Z and not blacklisted;
#   under-age events score 0; a limit is never exceeded; an expiry negates its event on
#   event date + D; association only on association days, within its bound.
# XY_RANDOM_SEED changes the population (default 20240101).
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"

R="$T/rules"
mkdir -p "$R"
cat >"$R/ra.rules" <<'RULES'
city ra "Random A"
region 210000
score base 1000 min 600 max 1150
grade A from 1050
grade B from 900
grade C from 600
behaviour good points +40 category s
behaviour vol points +5 limit 3 per year category s
behaviour debt points -10 per 1000 cap 45 category s
behaviour tv points -20 expires 40 days category s
behaviour bonus points +25 expires 60 days limit 2 per year category s
behaviour court points -60 lists blacklist for 50 days category s
behaviour bad points -90 category s
agency ag reports category s
blacklist below 800
blacklist exit 900 after 60 days
whitelist from 1080
association -5 per blacklisted contact every 30 days max -15
sanction travel on blacklist for 90 days deny train
sanction kids on blacklist children deny school
privilege hosp on whitelist priority hospital
RULES
sed -e 's/city ra "Random A"/city rb "Random B"/' -e 's/region 210000/region 220000/' \
    -e 's/^blacklist exit.*//' -e 's/every 30 days max -15/every 7 days/' "$R/ra.rules" >"$R/rb.rules"

awk -v seed="${XY_RANDOM_SEED:-20240101}" -v CIT="$T/cit.csv" -v CON="$T/con.csv" -v EV="$T/ev.csv" -v LAST="$T/last" '
function rnd(n) { seed = (seed * 16807) % 2147483647; return seed % n }
function pad(v, w) { s = v ""; while (length(s) < w) s = "0" s; return s }
function mkid(region, ymd, sq,   s, i, w, base) {
    base = region ymd pad(sq, 3)
    split("7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2", w, " ")
    s = 0
    for (i = 1; i <= 17; i++) s += substr(base, i, 1) * w[i]
    return base substr("10X98765432", s % 11 + 1, 1)
}
function date(d,   y, m, dim) {  # day offset from 2023-01-01 -> YYYY-MM-DD (d < 3 years)
    y = 2023
    while (1) { n = (y % 4 == 0) ? 366 : 365; if (d < n) break; d -= n; y++ }
    split("31 28 31 30 31 30 31 31 30 31 30 31", dim, " ")
    if (y % 4 == 0) dim[2] = 29
    for (m = 1; d >= dim[m]; m++) d -= dim[m]
    return y "-" pad(m, 2) "-" pad(d + 1, 2)
}
BEGIN {
    NC = 80
    print "id,name,city,father,mother" > CIT
    for (i = 0; i < NC; i++) {
        region = (i % 2) ? "210000" : "220000"
        by = 1950 + rnd(65)            # born 1950..2014: some minors
        bm = 1 + rnd(12); bd = 1 + rnd(28)
        if (i % 37 == 5) { by = 2004; bm = 2; bd = 29 }
        id[i] = mkid(region, by pad(bm, 2) pad(bd, 2), 100 + i)
        f = ""
        if (i >= 20 && rnd(4) == 0) { p = rnd(20); f = id[p] }
        print id[i] ",Person " i ",," f "," > CIT
    }
    print "a,b" > CON
    for (k = 0; k < 90; k++) {
        a = rnd(NC); b = rnd(NC)
        if (a != b) { key = (a < b) ? a "," b : b "," a; if (!(key in seen)) { seen[key] = 1; print id[a] "," id[b] > CON } }
    }
    split("good good good good vol vol vol bonus bonus debt tv court bad", beh, " ")
    print "id,date,citizen,behaviour,agency,amount,counterpart" > EV
    day = 0
    for (e = 0; e < 1000; e++) {
        day += rnd(3) == 0 ? 1 : 0
        d = day
        if (rnd(10) == 0) d = (day > 40) ? day - 1 - rnd(40) : day   # late report
        b = beh[1 + rnd(13)]
        amt = (b == "debt") ? rnd(9000) : ""
        print "ev" e "," date(d) "," id[rnd(NC)] "," b ",ag," amt "," > EV
    }
    print date(day + 100) > LAST
}'

fresh rnd "$R"
setup load citizens "$T/cit.csv"
setup load contacts "$T/con.csv"
setup load events "$T/ev.csv"
setup advance "$(cat "$T/last")"

# dump_all OUT: every citizen's show and explain of the current data directory, one JSON
# line each; their stderr (a warning, if any) goes to OUT.err.
dump_all() {
    : >"$1"
    : >"$1.err"
    for c in $(tail -n +2 "$T/cit.csv" | cut -d, -f1); do
        s=$("$XY" show "$c" --json 2>>"$1.err")
        x=$("$XY" explain "$c" --json 2>>"$1.err")
        printf '{"show":%s,"explain":%s}\n' "$s" "$x" >>"$1"
    done
}
dump_all "$T/all.json"

# prop NAME JQ-FILTER: the filter maps one record to true when the property holds; the test
# lists the citizens for which it does not.
prop() {
    fails=$(jq -r "select(($2) | not) | .show.id" "$T/all.json" 2>&1 | head -5 | tr '\n' ' ')
    if [ -z "$fails" ]; then ok "$1"; else bad "$1" "fails for: $fails"; fi
}
n=$(jq -s length "$T/all.json")
expect_eq "random: every citizen shown and explained" "$n" 80
# The history index served every explanation and every event id that show names (a
# fallback to the log warns).
expect_eq "random: show and explain never fell back to the whole log" "$(cat "$T/all.json.err")" ""
prop "random: base + sum(points) == raw" '(.explain.base + ([.explain.contributions[].points]|add // 0)) == .explain.raw'
prop "random: show and explain agree" '.show.raw == .explain.raw and .show.score == .explain.score'
prop "random: score == clamp(raw, 600, 1150)" \
    '.show.score == (if .show.raw < 600 then 600 elif .show.raw > 1150 then 1150 else .show.raw end)'
prop "random: grade == band(score)" \
    '.show.grade == (if .show.score >= 1050 then "A" elif .show.score >= 900 then "B" else "C" end)'
prop "random: score < 800 => blacklisted" '.show.score >= 800 or .show.blacklist != null'
prop "random: whitelisted <=> score >= 1080 and not blacklisted" \
    '(.show.whitelist != null) == (.show.score >= 1080 and .show.blacklist == null)'
prop "random: rb has no exit: once listed by score, always listed" \
    '.show.city != "rb" or ([.explain.lists[]|select(.list=="blacklist" and .left != null and (.reason|test("score|fell|below")))]|length) == 0'
prop "random: under-age events score 0 (age on the event date)" \
    '(.show.id[6:14]|tonumber) as $b | all(.explain.contributions[]|select(.kind=="event"); ((.event_date|gsub("-";"")|tonumber) - $b >= 180000) or .points == 0)'
prop "random: vol never scores more than 3 times a calendar year" \
    '[.explain.contributions[]|select(.kind=="event" and .behaviour=="vol" and .points != 0)|.event_date[0:4]]|group_by(.)|all(length <= 3)'
prop "random: bonus never scores more than 2 times a calendar year" \
    '[.explain.contributions[]|select(.kind=="event" and .behaviour=="bonus" and .points != 0)|.event_date[0:4]]|group_by(.)|all(length <= 2)'
prop "random: debt points are -10 * max(1, floor(amount/1000)) capped at 45" \
    'all(.explain.contributions[]|select(.kind=="event" and .behaviour=="debt" and .points != 0); .points % 10 == 0 or .points == -45)'
prop "random: every expiry negates its event on event date + D" \
    '. as $r | all($r.explain.contributions[]|select(.kind=="expiry"); . as $x |
        ([$r.explain.contributions[]|select(.kind=="event" and .event==$x.event)][0]) as $e |
        $e != null and $x.points == -$e.points and $x.points != 0 and
        $x.date == ((($e.event_date + "T00:00:00Z")|fromdate) + 86400 * (if $e.behaviour == "tv" then 40 else 60 end) | todate[0:10]))'
prop "random: association only on association days, within the bound" \
    '. as $r | all($r.explain.contributions[]|select(.kind=="association");
        ((((.date + "T00:00:00Z")|fromdate) / 86400) % (if $r.show.city == "ra" then 30 else 7 end)) == 0 and
        .points < 0 and .points % 5 == 0 and ($r.show.city == "rb" or .points >= -15))'
run stats --json
today=$(jget .today)
prop "random: contributions in date order, none after today" \
    "[.explain.contributions[].date] as \$d | \$d == (\$d|sort) and all(\$d[]; . <= \"$today\")"
bl=$(jq -s '[.[]|select(.show.blacklist != null)]|length' "$T/all.json")
wl=$(jq -s '[.[]|select(.show.whitelist != null)]|length' "$T/all.json")
expect_eq "random: stats blacklist size == citizens shown blacklisted" "$(jget '[.cities[].blacklist]|add')" "$bl"
expect_eq "random: stats whitelist size == citizens shown whitelisted" "$(jget '[.cities[].whitelist]|add')" "$wl"
expect_eq "random: stats mean score of ra" "$(jget '.cities[]|select(.city=="ra")|.mean_score')" \
    "$(jq -s '[.[]|select(.show.city=="ra")|.show.score]|(add/length*100|round)/100' "$T/all.json")"
run list blacklist --json
expect_eq "random: list blacklist == citizens shown blacklisted" "$(jget '.citizens|length')" "$bl"
expect_eq "random: list blacklist never fell back to the whole log" "$ERR" ""
echo "random: $bl blacklisted, $wl whitelisted of $n"
# the population must exercise both lists and the clamps, or the properties above prove little
expect_eq "random: the population has blacklisted, whitelisted and clamped citizens" \
    "$(jq -s '[([.[]|select(.show.blacklist != null)]|length > 3), ([.[]|select(.show.whitelist != null)]|length > 3),
        ([.[]|select(.show.raw != .show.score)]|length > 0), ([.[].explain.contributions[]|select(.kind=="association")]|length > 10),
        ([.[].explain.contributions[]|select(.kind=="expiry")]|length > 10)]|all' "$T/all.json")" true

# The state is a function of the input sequence, not of how it was cut into files: the
# same events in five files (and a clock advance between the second and the third, to the
# day the third's first event moves the clock to anyway) give the same answers to every
# command.
fresh cut "$R"
setup load citizens "$T/cit.csv"
setup load contacts "$T/con.csv"
rows=$(($(wc -l <"$T/ev.csv") - 1))
per=$((rows / 5 + 1))
tail -n +2 "$T/ev.csv" | split -l "$per" - "$T/cut."
for f in "$T"/cut.*; do
    { head -1 "$T/ev.csv"; cat "$f"; } >"$f.csv"
    setup load events "$f.csv"
    if [ "$f" = "$T/cut.ab" ]; then
        # the clock after the first two files: their latest date; the third's first event
        # then applies on the later of that and its own date
        d=$(cat "$T/cut.aa" "$T/cut.ab" | cut -d, -f2 | sort | tail -1)
        n=$(head -1 "$T/cut.ac" | cut -d, -f2)
        if [ "$n" \> "$d" ]; then d=$n; fi
        setup advance "$d"
    fi
done
setup advance "$(cat "$T/last")"
dump_all "$T/cut.json"
expect_eq "random: five files give what one gives (show, explain)" "$(cmp -s "$T/all.json" "$T/cut.json" && echo same)" same
for cmd in "stats --json" "list blacklist --json" "list whitelist --json"; do
    use rnd; $XY $cmd >"$T/one.out"
    use cut; $XY $cmd >"$T/five.out"
    expect_eq "random: five files give what one gives ($cmd)" "$(cmp -s "$T/one.out" "$T/five.out" && echo same)" same
done

# Re-sent rows are skipped wherever they fall: the events again in overlapping files (rows
# 1-400, 300-700, then all of them), with a snapshot, and so a spill of the event index,
# every few kilobytes of log, give the same answers as the one file.
fresh resend "$R"
setup load citizens "$T/cit.csv"
setup load contacts "$T/con.csv"
{ head -1 "$T/ev.csv"; sed -n '2,401p' "$T/ev.csv"; } >"$T/rs1.csv"
{ head -1 "$T/ev.csv"; sed -n '301,701p' "$T/ev.csv"; } >"$T/rs2.csv"
every_before=${XINYONG_SNAPSHOT_EVERY-unset}
XINYONG_SNAPSHOT_EVERY=4000
export XINYONG_SNAPSHOT_EVERY
for f in rs1 rs2 ev; do setup load events "$T/$f.csv"; done
if [ "$every_before" = unset ]; then unset XINYONG_SNAPSHOT_EVERY; else XINYONG_SNAPSHOT_EVERY=$every_before; fi
spilled=$(ls "$XINYONG_DATA" | grep -c '^ev-.*\.run$')
if [ "$spilled" -gt 0 ]; then ok "random: re-sends: the event index was spilled to $spilled runs"; else bad "random: re-sends: the event index was spilled to runs" "none in $XINYONG_DATA"; fi
expect_eq "random: re-sends: the last file's rows 1-700 are all duplicates" \
    "$(printf '%s' "$OUT" | sed -n 's/.* \([0-9]*\) duplicates.*/\1/p')" 700
setup advance "$(cat "$T/last")"
dump_all "$T/resend.json"
expect_eq "random: overlapping re-sends give what one file gives (show, explain)" \
    "$(cmp -s "$T/all.json" "$T/resend.json" && echo same)" same

# Contacts that arrive between events change association from then on; explanations from
# the history index must still match the whole log's, citizen by citizen, without falling
# back to it.
fresh late "$R"
setup load citizens "$T/cit.csv"
half=$(($(wc -l <"$T/con.csv") / 2))
head -n "$half" "$T/con.csv" >"$T/con1.csv"
{ head -1 "$T/con.csv"; tail -n +$((half + 1)) "$T/con.csv"; } >"$T/con2.csv"
setup load contacts "$T/con1.csv"
setup load events "$T/cut.aa.csv"
setup load events "$T/cut.ab.csv"
setup load contacts "$T/con2.csv"
for f in "$T"/cut.a[c-z].csv; do setup load events "$f"; done
setup advance "$(cat "$T/last")"
diffs=0
: >"$T/late.err"
for c in $(tail -n +2 "$T/cit.csv" | cut -d, -f1); do
    "$XY" explain "$c" --json >"$T/late.trail" 2>>"$T/late.err"
    "$XY" explain "$c" --json --from-log >"$T/late.log"
    cmp -s "$T/late.trail" "$T/late.log" || diffs=$((diffs + 1))
done
expect_eq "random: contacts between events: explain from the trail = from the log" "$diffs" 0
expect_eq "random: contacts between events: no fallback to the log" "$(cat "$T/late.err")" ""

# The snapshot and the history index are a function of the log: a directory's, made by a load
# written and applied ahead in parts of a few kilobytes (9,000 events, over two groups of 4,096
# the engine takes together, association days among them) that writes a snapshot as it ends (so
# that no later command writes the trail again from the log), and an advance, are byte for byte
# what a writer's replay of the same log writes afresh.
awk -F, 'NR > 1 { row[n++] = $0 }
    END { for (r = 0; r < 9; r++) for (i = 0; i < n; i++) print "r" r "_" row[i] }' "$T/ev.csv" |
    { head -1 "$T/ev.csv"; cat; } >"$T/big.csv"
fresh big "$R"
setup load citizens "$T/cit.csv"
setup load contacts "$T/con.csv"
XINYONG_SPILL_BYTES=4000 XINYONG_SNAPSHOT_EVERY=4000 "$XY" load events "$T/big.csv" >"$T/big.out" 2>&1 || bad "setup: load events in parts" "$(cat "$T/big.out")"
setup advance "$(cat "$T/last")"
setup snapshot
cp -r "$T/big" "$T/big2"
rm "$T/big2/snapshot" "$T/big2/trail"
use big2
setup snapshot
expect_eq "random: the history index is a function of the log" \
    "$(cmp -s "$T/big/trail" "$T/big2/trail" && echo same)" same
expect_eq "random: ... and so is the snapshot" "$(cmp -s "$T/big/snapshot" "$T/big2/snapshot" && echo same)" same

finish
