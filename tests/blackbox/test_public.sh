# Public views (spec 2.8) and what happens at registration: `show --public`,
# list entries a citizen makes when registered, and rulesets that `init`
# must refuse.
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"

mkdir -p "$T/r"
cat >"$T/r/open.rules" <<'R'
city open "Open"
region 110101
score base 100 min 0 max 200
grade hi from 150
grade lo from 0
behaviour bad points -60 category c
behaviour good points +60 category c
agency a reports category c
blacklist below 50
whitelist from 100
privilege welcome on whitelist priority desk
publish blacklist scores
R
cat >"$T/r/closed.rules" <<'R'
city closed "Closed"
region 120101
score base 100 min 0 max 200
grade hi from 150
grade lo from 0
behaviour bad points -60 category c
agency a reports category c
blacklist below 50
whitelist from 150
R
# one of the two publish lines each: what one publishes the other does not
cat >"$T/r/half.rules" <<'R'
city half "Half"
region 140101
score base 100 min 0 max 200
grade hi from 150
grade lo from 0
behaviour bad points -60 category c
agency a reports category c
blacklist below 50
whitelist from 100
publish blacklist
R
sed -e 's/^city half "Half"/city scores "Scores"/' -e 's/^region 140101/region 150101/' \
    -e 's/^publish blacklist/publish scores/' "$T/r/half.rules" >"$T/r/scores.rules"
fresh pub "$T/r"
A=$(mkid 110101 19800101 001)
B=$(mkid 120101 19800101 003)
csv "$T/c.csv" "id,name" "$A,Ann Open" "$B,Bo Closed"
setup load citizens "$T/c.csv"

# Ann's base 100 is at the whitelist threshold: she is listed at registration.
run explain "$A" --json
expect_json "explain lists the whitelist entry made at registration" '.lists[0].list' whitelist
expect_eq "... with the clock unset it has no date yet" "$(qe "$A" '.lists[0].entered')" null
run check "$A" desk --json
expect_eq "a consequence holding from registration is active before the clock" "$(jget .decision)" priority
load_events "e1,2024-03-01,$A,bad,a,," "e2,2024-03-01,$B,bad,a,,"
expect_eq "entry at registration dates from the clock's first day" "$(qe "$A" '.lists[0].entered')" 2024-03-01
expect_eq "... and the whitelist exit is listed" "$(qe "$A" '.lists[0].left')" 2024-03-01
expect_eq "... followed by the blacklist entry" "$(qe "$A" '.lists[1].list + " " + .lists[1].by')" "blacklist score"

run show "$A" --public --json
expect_eq "show --public masks the ID" "$(jget .id)" "110101********$(echo "$A" | cut -c15-18)"
expect_eq "show --public: published score" "$(jget .score)" 40
expect_eq "show --public: published blacklist entry" "$(jget .blacklist.since)" 2024-03-01
expect_eq "show --public: no raw score" "$(jget .raw)" null
expect_eq "show --public: no consequences" "$(jget .consequences)" null
expect_eq "show --public: every fixed field of show, null where not published, then what is" \
    "$(jget 'keys_unsorted|join(",")')" "id,name,city,today,score,raw,grade,blacklist,whitelist,consequences,published"
expect_eq "show --public: the city publishes scores and its blacklist" "$(jget '.published|tojson')" \
    '{"scores":true,"blacklist":true}'
run show "$B" --public --json
expect_eq "show --public: unpublished score is null" "$(jget .score)" null
expect_eq "show --public: unpublished blacklist is null" "$(jget .blacklist)" null
expect_eq "... and said to be unpublished, not empty" "$(jget '.published|tojson')" '{"scores":false,"blacklist":false}'
expect_eq "show --public: unpublished grade is null" "$(jget .grade)" null
expect_eq "show --public: unpublished whitelist is null" "$(jget .whitelist)" null
# Hal (publish blacklist only) and Sue (publish scores only) are both on the whitelist at
# their base of 100: only Sue's entry, score and grade are public.
H=$(mkid 140101 19800101 007)
S=$(mkid 150101 19800101 009)
csv "$T/hs.csv" "id,name" "$H,Hal Half" "$S,Sue Scores"
setup load citizens "$T/hs.csv"
run show "$H" --public --json
expect_eq "show --public, blacklist published only: score, grade and whitelist are not" \
    "$(jget '[.score,.grade,.whitelist,.published.scores,.published.blacklist]|tojson')" '[null,null,null,false,true]'
run show "$S" --public --json
expect_eq "show --public, scores published only: score, grade and whitelist entry are" \
    "$(jget '[.score,.grade,.whitelist.since,.blacklist,.published.scores,.published.blacklist]|tojson')" \
    '[100,"lo","2024-03-01",null,true,false]'
run list whitelist --public --json
expect_eq "list whitelist --public: the cities that publish scores only" "$(jget '[.citizens[].name]|tojson')" \
    '["Sue Scores"]'
run show "$H" --public
expect_eq "show --public text: a published blacklist the citizen is not on says no" \
    "$(printf '%s\n' "$OUT" | grep '^blacklist')" "blacklist   no"
expect_eq "... and the whitelist of a city that does not publish scores is not published" \
    "$(printf '%s\n' "$OUT" | grep '^whitelist')" "whitelist   not published"
expect_eq "... nor is the grade" "$(printf '%s\n' "$OUT" | grep '^grade')" "grade       not published"
# Sue's city publishes scores, not its blacklist: her entry on it stays private.
load_events "e3,2024-03-01,$S,bad,a,,"
run show "$S" --public --json
expect_eq "show --public: a blacklist entry of a city that publishes scores only is not shown" \
    "$(jget '[.score,.blacklist]|tojson')" '[40,null]'
run show "$S" --json
expect_eq "... though she is on it" "$(jget .blacklist.since)" 2024-03-01
run show "$S" --public
expect_eq "show --public text: a published score, without the raw one the city keeps to itself" \
    "$(printf '%s\n' "$OUT" | grep '^score')" "score       40"
run show "$B" --public
expect_out "show --public text says so" "not published"
expect_out "show --public text: a blacklist the city does not publish is not said to be empty" \
    "blacklist   not published"
run show "$B" --json
expect_eq "show without --public is the operator's view" "$(jget .blacklist.since)" 2024-03-01

# A citizen listed at registration, before the clock has a day, has a reason without a
# blank date.
mkdir -p "$T/lowr"
printf 'city low\nregion 130101\nscore base 40\nbehaviour b points +1 category c\nagency a reports b\nblacklist below 50\n' \
    >"$T/lowr/low.rules"
fresh low "$T/lowr"
L=$(mkid 130101 19800101 005)
csv "$T/l.csv" "id,name" "$L,Lo Low"
setup load citizens "$T/l.csv"
run show "$L"
expect_out "a blacklist entry before the clock's first day says so" \
    "score fell below 50 at registration, before the clock's first day"
# Once the clock has a day, that day is the entry's since, but the reason
# still says the score fell at registration, not on that day.
setup advance 2026-01-03
run show "$L"
expect_out "... and once the clock has a day, still says when the score fell" \
    "score fell below 50 at registration, before the clock's first day (2026-01-03)"
use pub

# A ruleset whose include lies outside its directory cannot be copied whole.
mkdir -p "$T/outside" "$T/inc"
echo 'behaviour shared points +1 category c' >"$T/outside/shared.rules"
printf 'include "../outside/shared.rules"\ncity x\nscore base 1\nagency a reports shared\n' >"$T/inc/x.rules"
rm -rf "$T/incdata"
run --data "$T/incdata" init --rules "$T/inc"
expect_rc "init refuses rules that include files outside their directory" 1
expect_eq "... and says why, naming the file as the source names it" "$ERR" \
    "$T/inc/../outside/shared.rules: included from outside the rules directory $T/inc: the rules must be self-contained"
if [ -e "$T/incdata" ]; then bad "... and leaves nothing behind" "$(find "$T/incdata")"; else ok "... and leaves nothing behind"; fi
# The same by an absolute path, which the copy would read where it lies at every open (an
# edit of it would change the scores of a directory made long before).
printf 'include "%s/outside/shared.rules"\ncity x\nscore base 1\nagency a reports shared\n' "$T" >"$T/inc/x.rules"
run --data "$T/incdata" init --rules "$T/inc"
expect_rc "init refuses an absolute include from outside the directory" 1
expect_err "... naming it" "$T/outside/shared.rules: included from outside the rules directory"
if [ -e "$T/incdata" ]; then bad "... and leaves nothing behind" "$(find "$T/incdata")"; else ok "... and leaves nothing behind"; fi
# A file of the directory that is not a *.rules file is not copied: by a relative include the
# copy misses it, by an absolute one the copy would read the original.
mv "$T/outside/shared.rules" "$T/inc/shared.inc"
printf 'include "shared.inc"\ncity x\nscore base 1\nagency a reports shared\n' >"$T/inc/x.rules"
run --data "$T/incdata" init --rules "$T/inc"
expect_rc "init refuses an include of a file the copy leaves out" 1
expect_eq "... naming the directory, not the copy that is gone" "$ERR" \
    "$T/inc: the rules must be self-contained: every file they include must be a .rules file in $T/inc"
printf 'include "%s/inc/shared.inc"\ncity x\nscore base 1\nagency a reports shared\n' "$T" >"$T/inc/x.rules"
run --data "$T/incdata" init --rules "$T/inc"
expect_rc "init refuses an absolute include back into the directory" 1
expect_err "... naming it" "$T/inc/shared.inc: included by an absolute path"
if [ -e "$T/incdata" ]; then bad "... and leaves nothing behind" "$(find "$T/incdata")"; else ok "... and leaves nothing behind"; fi
printf 'include "../outside/shared.rules"\ncity x\nscore base 1\nagency a reports shared\n' >"$T/inc/x.rules"
# .rules files already in DATA/rules of a directory that is no data directory are someone's
# own: init neither mixes its copy with them nor removes them, whether it succeeds or fails.
mkdir -p "$T/incdata/rules" "$T/good"
cp "$T/inc/x.rules" "$T/incdata/rules/"
printf 'city y\nscore base 1\nbehaviour b points +1 category c\nagency a reports b\n' >"$T/good/y.rules"
run --data "$T/incdata" init --rules "$T/good"
expect_rc "init over .rules files of someone's own in DATA/rules: exit 1" 1
expect_err "... says what to do" "$T/incdata/rules: holds .rules files, and $T/incdata is no data directory (no log)"
expect_eq "... and leaves them as they were" "$(ls "$T/incdata/rules")" "x.rules"
cp -r "$T/good" "$T/good-then-bad"
# (z.rules compiles where it is, but its copy misses z.inc: refused after the copy was made)
printf 'behaviour zb points +1 category c\n' >"$T/good-then-bad/z.inc"
printf 'include "z.inc"\ncity z\nregion 120000\nscore base 1\nagency a reports zb\n' >"$T/good-then-bad/z.rules"
rm -rf "$T/mixdata"
mkdir -p "$T/mixdata/rules"
echo "notes" >"$T/mixdata/rules/README"
run --data "$T/mixdata" init --rules "$T/good-then-bad"
expect_rc "a refused init into a DATA/rules holding other files" 1
expect_eq "... removes only what it copied" "$(ls "$T/mixdata/rules")" "README"
rm -r "$T/incdata/rules"
run --data "$T/incdata" init --rules "$T/good"
expect_rc "... and with them moved away, init goes through" 0
expect_eq "... with only the new rules" "$(ls "$T/incdata/rules")" "y.rules"
# Rules prepared in the data directory's own rules/ are used in place.
mkdir -p "$T/inplace/rules"
cp "$T/good/y.rules" "$T/inplace/rules/"
run --data "$T/inplace" init --rules "$T/inplace/rules"
expect_rc "init --rules DATA/rules: exit 0" 0
expect_eq "... the rules kept" "$(cat "$T/inplace/rules/y.rules")" "$(cat "$T/good/y.rules")"

# A grade list that ends in a comma is a clear error, not a shifted one.
printf 'city g\nscore base 1 min 0\ngrade A from 0\nsanction s on grade A, deny x\n' >"$T/g.rules"
run rules check "$T/g.rules"
expect_rc "trailing comma in a grade list" 1
expect_err "... names the column of what follows" "g.rules:4:24: expected a grade name after ','"
finish
