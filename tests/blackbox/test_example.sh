#!/bin/sh
# The shipped example (examples/*.csv with rules/): the explanation invariant
# base + sum(contributions.points) == raw for every citizen (spec 2.9), and determinism
# (spec 2.1): the same inputs in two data directories give byte-identical output.
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"

EX="$XY_ROOT/examples"
load_example() {
    fresh "$1" "$XY_ROOT/rules"
    setup load citizens "$EX/citizens.csv"
    setup load contacts "$EX/contacts.csv"
    setup load events "$EX/events.csv"
    setup advance 2025-06-30
}
load_example ex1
load_example ex2

ids=$(tail -n +2 "$EX/citizens.csv" | cut -d, -f1)
n=0
use ex1
for id in $ids; do
    n=$((n + 1))
    run explain "$id" --json
    if [ "$RC" -ne 0 ]; then bad "explain $id" "exit $RC: $ERR"; continue; fi
    # one jq call: the invariant, then raw and score to compare with show
    r=$(jget '[((.base + ([.contributions[].points]|add // 0)) == .raw), .raw, .score]|@csv')
    expect_eq "invariant base + sum(points) == raw: $id" "${r%%,*}" true
    run show "$id" --json
    expect_eq "show and explain agree on raw and score: $id" "$(jget '[.raw,.score]|@csv')" "${r#*,}"
done
expect_eq "example: every citizen explained" "$n" 42

# A consequence on grades names them as the rules do, highest first (rongcheng.rules:
# "on grade C,D"), not in the order of the grade table.
run check 371082197503141552 government_job --json
expect_eq "check: a grade condition as the rules write it" "$(jget '[.consequences[].condition|select(startswith("grade"))]|unique|join(";")')" \
    "grade C,D"

# An event's counterpart (the defaulter a guarantee was for) is part of its explanation,
# from the history index and from the whole log alike; events without one say null.
for how in "" --from-log; do
    run explain 310115198001221999 --json $how
    expect_eq "explain $how: a guarantee names the defaulter" \
        "$(jget '.contributions[]|select(.event=="ev-0040")|.counterpart')" 310104197210051072
    expect_eq "explain $how: an event without a counterpart has null" \
        "$(jget '[.contributions[]|select(.kind=="event" and .behaviour!="guarantor_for_defaulter")|.counterpart]|unique|tostring')" '[null]'
    run explain 310115198001221999 $how
    expect_out "explain $how (text): the counterpart in the note" "counterpart 310104197210051072"
done

# The history index gives what the whole log gives, for every citizen: before a
# snapshot (index in memory), after one (index in the trail file), and with the
# trail file damaged (explain falls back to the log).
explain_all() { # explain_all OUT [OPTS]: every citizen's explanation, concatenated (stderr in OUT.err)
    out=$1; shift
    : >"$out"
    : >"$out.err"
    for id in $ids; do "$XY" explain "$id" --json "$@" >>"$out" 2>>"$out.err"; done
}
explain_all "$T/by-log" --from-log
explain_all "$T/by-trail"
if cmp -s "$T/by-log" "$T/by-trail"; then ok "explain from the trail = from the log (no snapshot)"; else bad "explain from the trail = from the log (no snapshot)" "differs"; fi
# The history index must account for every citizen by itself: the fallback to the
# whole log gives the same answer, so only its warning tells that the index failed.
expect_eq "explain from the trail: no fallback to the log (no snapshot)" "$(cat "$T/by-trail.err")" ""
run snapshot
explain_all "$T/by-trail2"
if cmp -s "$T/by-log" "$T/by-trail2"; then ok "explain from the trail = from the log (snapshot)"; else bad "explain from the trail = from the log (snapshot)" "differs"; fi
expect_eq "explain from the trail: no fallback to the log (snapshot)" "$(cat "$T/by-trail2.err")" ""
printf 'garbage' | dd of="$XINYONG_DATA/trail" bs=1 seek=100 conv=notrunc 2>/dev/null
explain_all "$T/by-trail3"
if cmp -s "$T/by-log" "$T/by-trail3"; then ok "explain with a damaged trail falls back to the log"; else bad "explain with a damaged trail falls back to the log" "differs"; fi
expect_eq "explain with a damaged trail: a warning names the trail" \
    "$(grep -c "warning: the history index ($XINYONG_DATA/trail) did not serve" "$T/by-trail3.err")" "$(grep -c . "$T/by-trail3.err")"
if [ -s "$T/by-trail3.err" ]; then ok "explain with a damaged trail: warned"; else bad "explain with a damaged trail: warned" "no warning"; fi
expect_eq "... each explain told of its one lookup, in the singular" "$(sed -n 1p "$T/by-trail3.err")" \
    "xinyong: warning: the history index ($XINYONG_DATA/trail) did not serve 1 lookup; the whole log answered instead ('xinyong verify' checks the trail)"

run stats --json
expect_json "example: stats today" '.today' 2025-06-30
expect_json "example: citizens per city add up" '[.cities[].citizens]|add' 42
expect_json "example: grade counts add up to citizens in every city" \
    '[.cities[]|(([.grades[]]|add) == .citizens)]|all' true
expect_json "example: stats fixed fields" \
    '[.cities[]|has("city") and has("citizens") and has("mean_score") and has("grades") and has("blacklist") and has("whitelist")]|all' true
expect_json "example: six cities" '[.cities[].city]|sort' \
    '["beijing","guangzhou","qingzhen","rongcheng","shanghai","shenzhen"]'
run list blacklist --json
nbl=$(jget '.citizens|length')
run stats --json
expect_eq "example: blacklist sizes in stats match list blacklist" "$(jget '[.cities[].blacklist]|add')" "$nbl"

# ---- determinism -----------------------------------------------------------------------------
same() { # same NAME CMD...: the command's stdout is identical in ex1 and ex2
    use ex1
    "$XY" "$@" >"$T/det1" 2>&1
    use ex2
    "$XY" "$@" >"$T/det2" 2>&1
    if cmp -s "$T/det1" "$T/det2" && [ -s "$T/det1" ]; then ok "$1"; else bad "$1" "output differs or empty"; fi
}
same_named() { name=$1; shift; same "$name" "$@"; }
same_named "determinism: stats --json" stats --json
same_named "determinism: list blacklist --json" list blacklist --json
same_named "determinism: list whitelist --json" list whitelist --json
diffs=0
for id in $ids; do
    # stdout only: ex1's trail was damaged above, so some of its explanations warn.
    use ex1; "$XY" explain "$id" --json >"$T/det1" 2>/dev/null
    use ex2; "$XY" explain "$id" --json >"$T/det2" 2>/dev/null
    cmp -s "$T/det1" "$T/det2" || diffs=$((diffs + 1))
done
expect_eq "determinism: explain --json of every citizen" "$diffs" 0

# re-sending the example files changes nothing
use ex1
"$XY" stats --json >"$T/before"
run load events "$EX/events.csv"
expect_rc "re-send example events: exit 0" 0
expect_out "re-send example events: all duplicates" "188 rows, 0 applied, 188 duplicates, 0 rejected"
"$XY" stats --json >"$T/after"
if cmp -s "$T/before" "$T/after"; then ok "re-send example events: stats unchanged"; else bad "re-send example events: stats unchanged" "differs"; fi

# The example's files in three encodings (columns in other orders, CRLF line ends, every field
# quoted behind a byte order mark): byte-identical explanations, stats and lists, and each
# encoding re-sent to a store loaded from another is all duplicates. (The loader reads ahead
# the IDs of a citizens or contacts file whose IDs come first and unquoted: the plain files and
# the CRLF contacts take that path, the others not.)
awk -F, -v OFS=, '{ print $7, $4, $2, $1, $6, $3, $5 }' "$EX/events.csv" | sed 's/$/\r/' >"$T/ev-crlf.csv"
awk -F, -v OFS=, '{ print $2, $1, $3, $5, $4 }' "$EX/citizens.csv" | sed 's/$/\r/' >"$T/cit-crlf.csv"
sed 's/$/\r/' "$EX/contacts.csv" >"$T/con-crlf.csv"
quote_all() { # quote_all FILE ORDER...: every field quoted, in the given column order, behind a BOM
    f=$1
    shift
    printf '\357\273\277'
    awk -F, -v OFS=, -v order="$*" 'BEGIN { n = split(order, o, " ") }
        { line = ""; for (i = 1; i <= n; i++) line = line (i > 1 ? "," : "") "\"" $o[i] "\""; print line }' "$f"
}
quote_all "$EX/events.csv" 3 2 5 7 1 6 4 >"$T/ev-quoted.csv"
quote_all "$EX/citizens.csv" 1 2 3 4 5 >"$T/cit-quoted.csv"
quote_all "$EX/contacts.csv" 2 1 >"$T/con-quoted.csv"
observe() { # observe OUT: every explanation, the stats and the blacklist of the current store
    explain_all "$1"
    "$XY" stats --json >>"$1"
    "$XY" list blacklist --json >>"$1"
}
for enc in plain crlf quoted; do
    fresh "enc-$enc" "$XY_ROOT/rules"
    case $enc in plain) c="$EX/citizens.csv" k="$EX/contacts.csv" f="$EX/events.csv" ;;
    *) c="$T/cit-$enc.csv" k="$T/con-$enc.csv" f="$T/ev-$enc.csv" ;; esac
    run load citizens "$c"
    expect_out "encodings: $enc: citizens all applied" "42 rows, 42 applied, 0 duplicates, 0 rejected"
    run load contacts "$k"
    expect_out "encodings: $enc: contacts all applied" "30 rows, 30 applied, 0 duplicates, 0 rejected"
    run load events "$f"
    expect_out "encodings: $enc: all applied" "188 rows, 188 applied, 0 duplicates, 0 rejected"
    observe "$T/obs-$enc"
done
for enc in crlf quoted; do
    if cmp -s "$T/obs-plain" "$T/obs-$enc"; then ok "encodings: $enc = plain"; else bad "encodings: $enc = plain" "differs"; fi
done
use enc-plain
run load events "$T/ev-quoted.csv"
expect_out "encodings: quoted re-sent to plain: all duplicates" "188 rows, 0 applied, 188 duplicates, 0 rejected"
use enc-quoted
run load events "$T/ev-crlf.csv"
expect_out "encodings: crlf re-sent to quoted: all duplicates" "188 rows, 0 applied, 188 duplicates, 0 rejected"
run load citizens "$EX/citizens.csv"
expect_out "encodings: plain citizens re-sent to quoted: all duplicates" "42 rows, 0 applied, 42 duplicates"
run load contacts "$T/con-crlf.csv"
expect_out "encodings: crlf contacts re-sent to quoted: all duplicates" "30 rows, 0 applied, 30 duplicates"

# With the clock set before the citizens register, the first event of the log
# (number 0, ev-0001) falls on the day its citizen registered: the registration
# record and the event's both carry 0 then, and the history must still start at
# the registration, from the history index alone (no warning).
fresh early "$XY_ROOT/rules"
setup advance 2023-01-04
setup load citizens "$EX/citizens.csv"
setup load events "$EX/events.csv"
run explain 520181199206185044 --json
expect_eq "registered on the day of event number 0: explained" "$RC,$(jget '.contributions[0].event')" "0,ev-0001"
expect_eq "... from the history index, without a fallback" "$ERR" ""

finish
