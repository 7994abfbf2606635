#!/bin/sh
# Command line (spec section 5): exit statuses, help, data directory selection, `rules check`
# on the shipped and on broken rulesets (FILE:LINE:COLUMN), include semantics, overrides,
# and the fixed fields of every --json output (section 4).
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"

# ---- help ------------------------------------------------------------------------------------
XINYONG_DATA="$T/no-such-dir"
export XINYONG_DATA
run help
expect_rc "help: exit 0" 0
for c in init "rules check" load advance show explain check list stats; do
    expect_out "help: lists '$c'" "xinyong $c"
done
run --help
expect_rc "--help: exit 0" 0
expect_out "--help: usage" "usage: xinyong"
for c in init rules load advance show explain check list stats; do
    run "$c" --help
    expect_rc "$c --help: exit 0 (no data directory needed)" 0
    expect_out "$c --help: usage line" "usage: xinyong $c"
    run help "$c"
    expect_rc "help $c: exit 0" 0
    expect_out "help $c: usage line" "usage: xinyong $c"
done

# ---- exit statuses ---------------------------------------------------------------------------
run frobnicate
expect_rc "unknown command: exit 1" 1
expect_err "unknown command: named" frobnicate
long=$(printf '%06000d' 0)
run "${long}end"
expect_err "... a name of 6,000 characters whole, with the message's end" "${long}end' (try 'xinyong help')"
run help frobnicate
expect_rc "help on an unknown command: exit 1 (unknown command)" 1
run
expect_rc "no command: exit 1" 1
expect_eq "... the usage on stderr, nothing on stdout" "$OUT" ""
expect_err "... says how to get help" "usage: xinyong [--data DIR] COMMAND [ARGS] (try 'xinyong help')"
run help show extra
expect_rc "help with two commands: exit 1" 1
expect_err "... its usage" "usage: xinyong help [COMMAND]"
# An option a command does not take is refused, not ignored: an explain that ignored
# --public would show what a city does not publish as if it were public.
for c in "explain 1 --public" "check 1 loan --public" "stats --public" "stats --city rongcheng" \
    "show 1 --city rongcheng" "show 1 --from-log" "list blacklist --rejects x" "advance 2024-01-01 --json" \
    "load events x --json" "init --json" "snapshot --json" "verify --json" "rules check x --json" "init --city c"; do
    # shellcheck disable=SC2086
    run $c
    expect_rc "'$c': exit 1" 1
    opt=$(printf '%s\n' "$c" | sed 's/.* \(--[a-z-]*\).*/\1/')
    expect_err "... names the option and the command" "xinyong: ${c%% *}: option '$opt' does not apply to this command"
done
run list blacklist --city rongcheng --city shanghai
expect_rc "an option given twice: exit 1" 1
expect_err "... says so" "option '--city' is given twice"
run --data "$T/one" stats --data "$T/two"
expect_rc "--data given twice with two directories: exit 1, neither silently taken" 1
expect_err "... says so" "option '--data' is given twice"
# More arguments than any command takes (the table keeps 64) are refused, not cut.
run show $(seq 1 65)
expect_rc "65 arguments: exit 1" 1
expect_eq "... says so, and only that" "$ERR" "xinyong: too many arguments"
run --data "$T/one" stats --data "$T/one"
expect_rc "--data given twice with the same directory: exit 1 too" 1
expect_err "... says so" "option '--data' is given twice"
run list blacklist --json --json
expect_rc "a flag given twice: exit 1" 1
expect_err "... says so" "option '--json' is given twice"
run load events x.csv --rejects --json
expect_rc "--rejects followed by another option: exit 1" 1
expect_err "... a forgotten value" "option '--rejects' needs a value"
run --data "$T/nope" verify
expect_rc "verify on a missing data directory: exit 2" 2
expect_eq "... and says why" "$ERR" "$T/nope: not a data directory (run 'xinyong init' first)"
mkdir "$T/empty"
run --data "$T/empty" verify
expect_rc "verify on an empty directory: exit 2" 2
expect_eq "... and says why" "$ERR" "$T/empty: not a data directory (no log; run 'xinyong init' first)"
: >"$T/afile"
run --data "$T/afile" verify
expect_rc "verify on a file, not a directory: exit 2" 2
expect_eq "... and says why" "$ERR" "$T/afile: cannot open: Not a directory"
run --data "$T/nope/deeper" init --rules "$XY_ROOT/rules"
expect_rc "init in a directory whose parent is missing: exit 2" 2
expect_eq "... says why" "$ERR" "$T/nope/deeper: cannot create: No such file or directory"
expect_eq "... and makes nothing" "$(ls -d "$T/nope" 2>/dev/null)" ""

for cmd in "stats" "show $(mkid 110000 19800101 001)" "advance 2024-01-01" "list blacklist" \
    "explain $(mkid 110000 19800101 001)" "check $(mkid 110000 19800101 001) loan"; do
    # shellcheck disable=SC2086
    run $cmd
    expect_rc "missing data directory (\$XINYONG_DATA): $cmd -> exit 2" 2
done
expect_err "missing data directory: message names it" "$T/no-such-dir"
expect_eq "... in one line, what to do included" "$ERR" "$T/no-such-dir: not a data directory (run 'xinyong init' first)"
run --data "$T/other-missing" stats
expect_rc "missing data directory (--data): exit 2" 2
expect_err "missing data directory (--data): named" "$T/other-missing"
mkdir -p "$T/cwd"
( cd "$T/cwd" && unset XINYONG_DATA && "$XY" stats >/dev/null 2>&1 ); rc=$?
expect_eq "missing ./xinyong-data (default): exit 2" "$rc" 2
( cd "$T/cwd" && unset XINYONG_DATA && "$XY" init --rules "$XY_ROOT/rules" >/dev/null 2>&1 ); rc=$?
expect_eq "init without --data/XINYONG_DATA: exit 0" "$rc" 0
if [ -d "$T/cwd/xinyong-data" ]; then ok "init: default data directory ./xinyong-data"; else bad "init: default data directory ./xinyong-data" "not created"; fi
run --data "$T/cwd/xinyong-data" stats --json
expect_rc "--data beats \$XINYONG_DATA (which is missing)" 0
# An empty $XINYONG_DATA is as good as none: it names no directory.
( cd "$T/cwd" && XINYONG_DATA= "$XY" stats --json >/dev/null 2>&1 ); rc=$?
expect_eq "empty \$XINYONG_DATA: ./xinyong-data is used, exit 0" "$rc" 0
run --data "$T/cwd/xinyong-data" init --rules "$XY_ROOT/rules"
expect_rc "init on an initialised directory: exit 1" 1
run --data "$T/made" init --rules "$XY_ROOT/rules"
expect_eq "init: says which directory and which rules" "$OUT" "initialised $T/made with the rules of $XY_ROOT/rules"
# Hidden files in a rules directory are no one's rules: an editor's lock
# (Emacs's .#city.rules, a link to nowhere) or backup leaves init working,
# and nothing of them is copied.
mkdir "$T/editing"
cp "$XY_ROOT"/rules/*.rules "$T/editing/"
ln -s "someone@host.1234:1700000000" "$T/editing/.#rongcheng.rules"
printf 'not a rule\n' >"$T/editing/.rongcheng.rules"
run --data "$T/editing-data" init --rules "$T/editing"
expect_rc "init with an editor's lock and a hidden copy in the rules directory: exit 0" 0
expect_eq "... neither is copied" "$(ls -A "$T/editing-data/rules" | grep -c '^\.')" 0
run --data "$T/editing-data" load citizens "$XY_ROOT/examples/citizens.csv"
expect_rc "... and the directory opens" 0

fresh main "$XY_ROOT/rules"
# Output that cannot be written all (a full disk) fails the command, with a message.
for c in "stats" "stats --json" "list blacklist" "list whitelist --json"; do
    # shellcheck disable=SC2086
    "$XY" $c >/dev/full 2>"$T/err"
    expect_eq "'$c' to a full disk: exit 2" "$?" 2
    expect_eq "... says so" "$(cat "$T/err")" "xinyong: cannot write output: No space left on device"
done
run show "$(printf '1\n2')"
expect_eq "an ID argument with a line break: one line, escaped" "$ERR" \
    "xinyong: unknown citizen '1\\n2': not a valid resident ID: it must have 18 characters"
cp -r "$D" "$T/corrupt1"
printf 'GARBAGE' | dd of="$T/corrupt1/log" bs=1 seek=0 conv=notrunc 2>/dev/null
run --data "$T/corrupt1" stats
expect_rc "corrupt data directory (bad log header): exit 2" 2
cp -r "$D" "$T/corrupt2"
truncate -s 5 "$T/corrupt2/log"
run --data "$T/corrupt2" stats
expect_rc "a log shorter than its header: exit 2" 2
expect_eq "... saying so" "$ERR" "$T/corrupt2/log: log header is missing"
cp -r "$D" "$T/edited"
echo "# an edit" >>"$T/edited/rules/shanghai.rules"
run --data "$T/edited" stats
expect_rc "rules copy edited after init: exit 2" 2
expect_err "... named as such, not as a corrupt log" "$T/edited/rules: not the rules the directory was made with"
run --data "$T/edited" verify
expect_rc "rules copy edited after init: verify exit 2" 2
expect_err "... verify names it" "$T/edited/rules: not the rules"
# A fingerprint or a rules file that cannot be read (a directory in its
# place) is no proof of the rules either.
for f in rules.sum rules/shanghai.rules; do
    rm -rf "$T/unread"
    cp -r "$D" "$T/unread"
    rm "$T/unread/$f"
    mkdir "$T/unread/$f"
    run --data "$T/unread" stats
    expect_rc "$f unreadable: exit 2" 2
    expect_err "... named as rules not init's" "$T/unread/rules: not the rules the directory was made with"
done
run --data "$D" verify
expect_out "verify: the rules copy is checked" "rules: the copy init made"
cp -r "$D" "$T/logdir"
rm "$T/logdir/log"
mkdir "$T/logdir/log"
run --data "$T/logdir" stats
expect_rc "a directory in place of the log: exit 2" 2
expect_err "... the log named, and why" "$T/logdir/log: cannot read: not a regular file"
XINYONG_DATA="$T/no-such-dir"
run stats --data "$D" --json
expect_rc "--data after the command is accepted and beats \$XINYONG_DATA" 0
run --data="$D" stats --json
expect_rc "--data=DIR before the command" 0
run stats --data="$D" --json
expect_rc "--data=DIR after the command" 0
run stats --data
expect_rc "--data without a value: exit 1" 1
expect_err "--data without a value: says so" "option '--data' needs a value"
run --data
expect_rc "--data without a value before any command: exit 1" 1
expect_err "--data without a value before any command: says so" "option '--data' needs a value"
run stats --json=yes --data "$D"
expect_rc "a value given to an option that takes none: exit 1" 1
expect_err "a value given to an option that takes none: says so" "option '--json' takes no value"
XINYONG_DATA="$D"
R1=$(mkid 371082 19800101 001); R2=$(mkid 371082 20100101 003); S1=$(mkid 310101 19800101 005)
G1=$(mkid 440104 19800101 007)
csv "$T/cit.csv" "id,name,city,father,mother" "$R1,Rong Parent,rongcheng,," "$R2,Rong Kid,rongcheng,$R1," \
    "$S1,Shang One,shanghai,," "$G1,Guang One,guangzhou,,"
setup load citizens "$T/cit.csv"
UNREG=$(mkid 371082 19800101 009)
run load citizens "$T/cit.csv" --rejects "$T/cit.rej"
expect_eq "a load with --rejects and no bad row: the summary alone, no rejects file told of" "$OUT" \
    "$T/cit.csv: 4 rows, 0 applied, 4 duplicates, 0 rejected"
run show "$UNREG"
expect_rc "show unknown citizen: exit 3" 3
expect_err "show unknown citizen: named" "$UNREG"
run explain "$UNREG"
expect_rc "explain unknown citizen: exit 3" 3
run check "$UNREG" loan
expect_rc "check unknown citizen: exit 3" 3
# An argument that is not even a valid ID says why, with the same exit status.
run show 12345
expect_rc "show of a malformed ID: exit 3" 3
expect_err "show of a malformed ID: says why" "unknown citizen '12345': not a valid resident ID: it must have 18 characters"
run explain "$(badcheck "$R1")"
expect_err "explain of an ID with a wrong check character: says why" "it has a wrong check character"
run check "$(badcheck "$R1")" loan
expect_rc "check of an invalid ID: exit 3" 3
expect_err "check of an invalid ID: says why, not 'unknown action'" "not a valid resident ID"
run show "$UNREG"
expect_eq "a valid ID that is not registered: no reason added" "$ERR" "xinyong: unknown citizen '$UNREG'"
run check "$R1" teleportation
expect_rc "check unknown action: exit 3" 3
expect_eq "check unknown action: named, then why" "$ERR" \
    "xinyong: unknown action 'teleportation' (no sanction or privilege names it)"
run list blacklist --city atlantis
expect_rc "list --city unknown: exit 3" 3
expect_err "list --city unknown: named" atlantis
run stats --bogus
expect_rc "unknown option: exit 1" 1
expect_err "unknown option: named" "--bogus"
run show "$R1" --bogus
expect_rc "unknown option after args: exit 1" 1
run show
expect_rc "missing argument: exit 1" 1
run list greylist
expect_rc "unknown list: exit 1" 1
run load frogs "$T/cit.csv"
expect_rc "load unknown kind: exit 1" 1
run load events "$T/nope.csv"
expect_rc "load missing file: exit 1" 1
expect_err "load missing file: named" "$T/nope.csv"
run advance 2024-02-30
expect_rc "advance invalid date: exit 1" 1
run advance 2024-01-05
logsize() { cat "$XINYONG_DATA"/log* | wc -c; }
before=$(logsize)
run advance 2024-01-05
expect_rc "advance to today: exit 0" 0
expect_out "advance to today: says today" "today is 2024-01-05"
expect_eq "advance to today: nothing written to the log" "$(logsize)" "$before"
run rules frob
expect_rc "rules without 'check': exit 1" 1
run rules check
expect_rc "rules check without a file: exit 1" 1
expect_eq "... its usage, not an empty success" "$ERR" "xinyong: usage: xinyong rules check FILE..."
run stats extra
expect_rc "stats with an argument: exit 1" 1
expect_err "... its usage" "xinyong: usage: xinyong stats [--json]"
run advance 2024-01-04
expect_rc "advance to an earlier date: exit 1" 1
expect_eq "... names the date and today" "$ERR" \
    "xinyong: advance: 2024-01-04 is before today (2024-01-05); the clock never goes back"
run check "$UNREG" loan
expect_eq "check of a valid ID that is not registered: the citizen is unknown, not the action" "$ERR" \
    "xinyong: unknown citizen '$UNREG'"
run list blacklist --city atlantis
expect_eq "list --city unknown: called a city" "$ERR" "xinyong: unknown city 'atlantis'"
run list black
expect_rc "a list named by a prefix of its name: exit 1" 1
expect_err "... named" "unknown list 'black'"
# Only "--" starts an option: an argument with one dash is an argument, here an ID.
run show -12345
expect_rc "an argument beginning with one dash: taken as the ID (exit 3)" 3
expect_err "... named as the citizen" "unknown citizen '-12345'"
run show "$(printf 'a\tb\177c')"
expect_eq "a tab and a DEL in an argument: shown escaped" "$ERR" \
    "xinyong: unknown citizen 'a\\tb\\x7fc': not a valid resident ID: it must have 18 characters"
run -h
expect_rc "-h before any command: exit 0" 0
expect_out "... the usage" "usage: xinyong [--data DIR] COMMAND [ARGS]"
expect_out "... which names -h beside --help" "--help, -h   describe the command"
expect_out "... and says which exit status an unknown name gets" "3 unknown citizen, city or action"
run show -h
expect_rc "-h after a command: exit 0" 0
expect_out "... describes the command" "usage: xinyong show ID"
run list --public --help
expect_rc "--help with an option of the command: exit 0" 0
expect_out "... describes the command" "usage: xinyong list"
run show --city x --help
expect_rc "--help with an option the command does not take: exit 0, nothing is run" 0
expect_out "... describes the command" "usage: xinyong show"
"$XY" help >/dev/full 2>"$T/err"
expect_eq "help to a full disk: exit 2" "$?" 2
expect_eq "... says so" "$(cat "$T/err")" "xinyong: cannot write output: No space left on device"
for h in "show --help" "--help" "-h"; do
    "$XY" $h >/dev/full 2>"$T/err"
    expect_eq "$h to a full disk: exit 2" "$?" 2
    expect_eq "... says so" "$(cat "$T/err")" "xinyong: cannot write output: No space left on device"
done
run show "$R1" --json
expect_rc "show known citizen: exit 0" 0

# ---- override of a national behaviour by a city ----------------------------------------------
load_events "o1,2024-01-10,$S1,unpaid_bill,bank,," "o2,2024-01-10,$G1,unpaid_bill,bank,,"
expect_eq "override: shanghai's unpaid_bill is -20" "$(q "$S1" .raw)" 780
expect_eq "override: guangzhou keeps the national -10" "$(q "$G1" .raw)" 990

# ---- --json fixed fields ---------------------------------------------------------------------
load_events "j1,2024-01-11,$R1,dishonest_judgment_debtor,court,," "j2,2024-01-11,$R1,unrepaid_debt,bank,2000,"
isdate='test("^[0-9]{4}-[0-9]{2}-[0-9]{2}$")'
CKEYS='["name","kind","effect","percent","actions","since","until","subject"]'
cfields="(($CKEYS - keys) == []) and (.kind==\"sanction\" or .kind==\"privilege\") and (.effect==\"deny\" or .effect==\"priority\" or .effect==\"discount\") and (.actions|type==\"array\") and (.since|$isdate) and (.subject|type==\"string\")"
run show "$R1" --json
expect_json "show --json: fixed fields" \
    '(["id","name","city","today","score","raw","grade","blacklist","whitelist","consequences"] - keys) == []' true
expect_json "show --json: values" '[.id,.name,.city,.today,.score,.raw,.grade,.whitelist]' \
    "[\"$R1\",\"Rong Parent\",\"rongcheng\",\"2024-01-11\",880,880,\"B\",null]"
expect_json "show --json: blacklist {since, reason}" "[.blacklist.since, (.blacklist.reason|type)]" '["2024-01-11","string"]'
expect_json "show --json: consequence objects" "[.consequences[]|$cfields]|(length > 0 and all)" true
expect_json "show --json: the court's joint punishment, open-ended" \
    '[.consequences[]|select(.name=="court_joint_punishment")|[.kind,.effect,.percent,.until,.subject]]' \
    '[["sanction","deny",null,null,"self"]]'
expect_json "show --json: the one-year travel ban ends e+364" \
    '[.consequences[]|select(.name=="travel_ban_one_year")|.until]' '["2025-01-09"]'
run check "$R2" private_school --json
expect_json "check --json: fixed fields" '(["id","action","decision","percent","consequences"] - keys) == []' true
expect_json "check --json: values" '[.id,.action,.decision,.percent]' "[\"$R2\",\"private_school\",\"deny\",null]"
expect_json "check --json: consequence objects, subject = parent" "[.consequences[]|($cfields) and .subject==\"$R1\"]|(length > 0 and all)" true
run explain "$R1" --json
expect_json "explain --json: fixed fields" '(["id","base","raw","score","contributions","lists","consequences"] - keys) == []' true
expect_json "explain --json: contribution fields" \
    '[.contributions[]|((["date","kind","event","behaviour","agency","points","note"] - keys) == []) and (.date|'"$isdate"') and (.kind=="event" or .kind=="expiry" or .kind=="association")]|(length == 2 and all)' true
expect_json "explain --json: contribution values" '[.contributions[]|[.event,.behaviour,.agency,.points]]' \
    '[["j1","dishonest_judgment_debtor","court",-100],["j2","unrepaid_debt","bank",-20]]'
expect_json "explain --json: list entries" '[.lists[]|[.list,.entered,.left,(.reason|type)]]' '[["blacklist","2024-01-11",null,"string"]]'
expect_json "explain --json: consequences" "[.consequences[]|$cfields]|(length > 0 and all)" true
run list blacklist --json
expect_json "list --json: fixed fields" \
    "[.list, (.citizens|map(((\"id\",\"name\",\"city\",\"since\",\"reason\") as \$k | has(\$k))|tostring)|unique)]" \
    '["blacklist",["true"]]'
expect_json "list --json: values" '[.citizens[]|[.id,.name,.city,.since]]' "[[\"$R1\",\"Rong Parent\",\"rongcheng\",\"2024-01-11\"]]"
run list whitelist --json
expect_json "list whitelist --json: empty" '[.list,.citizens]' '["whitelist",[]]'
run stats --json
expect_json "stats --json: fixed fields" \
    '((["today","cities"] - keys) == []) and ([.cities[]|(["city","citizens","mean_score","grades","blacklist","whitelist"] - keys) == []]|all)' true
expect_json "stats --json: rongcheng" '.cities[]|select(.city=="rongcheng")|[.citizens,.mean_score,.blacklist,.whitelist,.grades.B,.grades.A]' \
    '[2,940,1,0,1,1]'
expect_json "stats --json: shanghai" '.cities[]|select(.city=="shanghai")|[.citizens,.mean_score,.grades.good]' '[1,780,1]'
load_events "j3,2024-01-12,$S1,unpaid_bill,bank,,"
run stats --json
expect_json "stats --json: mean score" '.cities[]|select(.city=="shanghai")|.mean_score' 760
S2=$(mkid 310101 19800101 011); S3=$(mkid 310101 19800101 013)
csv "$T/cit2.csv" "id,name" "$S2,Shang Two" "$S3,Shang Three"
setup load citizens "$T/cit2.csv"
run stats --json
expect_json "stats --json: mean score (760+800+800)/3 rounded to 2 decimals" '.cities[]|select(.city=="shanghai")|.mean_score' 786.67

# ---- rules check -----------------------------------------------------------------------------
run rules check "$XY_ROOT"/rules/*.rules
expect_rc "rules check: shipped rules exit 0" 0
expect_eq "rules check: shipped rules, no errors" "$ERR" ""
RC_DIR="$T/rc"
mkdir -p "$RC_DIR"
BASE='city tc "T"
region 110000
score base 1000 min 0 max 2000
grade A from 0
behaviour b points +1 category s
agency ag reports b'
# broken NAME WANT_LOCATION WANT_TEXT LINE...: file = BASE (6 lines) + LINEs
broken() {
    f="$RC_DIR/$1.rules"
    name=$1 loc=$2 want=$3
    shift 3
    { printf '%s\n' "$BASE"; printf '%s\n' "$@"; } >"$f"
    run rules check "$f"
    expect_rc "rules check $name: exit 1" 1
    expect_err "rules check $name: FILE:LINE:COLUMN" "$f:$loc: "
    [ -n "$want" ] && expect_err "rules check $name: message" "$want"
}
broken unknown_directive 7:1 frobnicate "frobnicate x"
{ printf '\357\273\277'; printf '%s\n' "$BASE"; } >"$RC_DIR/bom.rules"
run rules check "$RC_DIR/bom.rules"
expect_rc "rules check: a byte order mark at the start is skipped" 0
{ printf '\357\273\277frobnicate x\n'; printf '%s\n' "$BASE"; } >"$RC_DIR/bom3.rules"
run rules check "$RC_DIR/bom3.rules"
expect_err "... columns on its line count from after it" "$RC_DIR/bom3.rules:1:1: unknown directive 'frobnicate'"
broken points_missing 7:30 "expected a number of points at the end of the line" "behaviour c category s points"
{ printf '\357\273\277city tb\n'; } >"$RC_DIR/bomcity.rules"
run rules check "$RC_DIR/bomcity.rules"
expect_eq "rules check: a city line behind a byte order mark is a city's (its checks run)" "$ERR" \
    "$RC_DIR/bomcity.rules:1:1: city 'tb' has no 'score base N' line"
broken quote_glued 7:12 "expected a space before the opening quote" 'behaviour c"desc" points +1 category s'
broken lone_cr 7:12 "carriage return inside the line" "$(printf 'behaviour c\rpoints +1 category s')"
broken grade_list_leading_comma 7:21 "expected a grade name before ','" "sanction s on grade ,A deny x"
broken grade_list_empty_item 7:23 "expected a grade name before ','" "sanction s on grade A,,A deny x"
broken grade_quoted 7:21 "expected a grade name, found a string" 'sanction s on grade "A" deny x'
broken column_after_escapes 7:38 "unexpected 'b'" 'sanction s on blacklist deny a "\"é" b'
broken assoc_zero_with_bound 7:13 "association points must not be zero" \
    "association 0 per blacklisted contact every 30 days max -5"
broken points_nineteen_digits 7:20 "a number of points must be between -1000000000 and 1000000000" \
    "behaviour c points 1000000000000000000 category s"
# A mistake in a shared file is told once, however the cities that include it name it; a
# file named twice is one file.
mkdir -p "$RC_DIR/sa" "$RC_DIR/sb"
printf 'behaviour bad points x category s\n' >"$RC_DIR/shared.rules"
printf 'include "../shared.rules"\ncity sa\nscore base 1\n' >"$RC_DIR/sa/ca.rules"
printf 'include "../shared.rules"\ncity sb\nscore base 1\n' >"$RC_DIR/sb/cb.rules"
run rules check "$RC_DIR/shared.rules" "$RC_DIR/sa/ca.rules" "$RC_DIR/sb/cb.rules"
expect_eq "rules check: a shared file's mistake told once, under the name it was first read by" "$ERR" \
    "$RC_DIR/shared.rules:1:22: expected a number of points, found 'x'"
printf 'city tc "T2"\nregion 120000\nscore base 1\n' >"$RC_DIR/tc2.rules"
printf 'city tc "T"\nregion 130000\nscore base 1\n' >"$RC_DIR/tc1.rules"
run rules check "$RC_DIR/tc1.rules" "$RC_DIR/tc2.rules"
expect_err "rules check: a city declared in two files, at the id of the second" \
    "$RC_DIR/tc2.rules:1:6: duplicate city 'tc' (also in $RC_DIR/tc1.rules)"
run rules check "$XY_ROOT/rules/rongcheng.rules" "$XY_ROOT/rules/../rules/rongcheng.rules"
expect_rc "rules check: a file named twice is checked once, not a city that clashes with itself" 0
expect_eq "... and counted once" "$(printf '%s\n' "$OUT" | tail -1)" "ok: 1 file, 1 city"
printf 'behaviour sb points +1 category s\n' >"$RC_DIR/only_shared.rules"
run rules check "$RC_DIR/only_shared.rules"
expect_eq "rules check of a shared file alone: no city, counted in the plural" "$OUT" "ok: 1 file, 0 cities"
broken unknown_attribute 8:23 colour "# comment" "behaviour c points +1 colour red"
set --
i=1
while [ $i -le 64 ]; do
    set -- "$@" "grade G$i from $i"
    i=$((i + 1))
done
broken too_many_grades 70:7 "a city has at most 64 grades" "$@"
broken missing_points 7:11 points "behaviour c category s"
broken duplicate_city 8:1 city "" 'city other "Other"'
broken exit_below_entry 8:1 500 "blacklist below 600" "blacklist exit 500 after 10 days"
broken sanction_unknown_grade 7:21 Z "sanction s on grade Z deny x"
broken sanction_unknown_grade_in_list 7:23 Z "sanction s on grade A,Z deny x"
broken bad_identifier 7:11 "" "behaviour 9lives points +1"
broken unterminated_string 7:34 "" 'behaviour c points +1 category s "text'
broken per_zero 7:27 "" "behaviour c points -1 per 0 category s"
broken association_every_zero 7:46 "" "association -5 per blacklisted contact every 0 days"
broken discount_over_100 7:34 "" "sanction s on blacklist discount 150 x"
broken agency_unknown_behaviour 7:20 nosuch "agency ag2 reports nosuch"
broken not_utf8 7:40 UTF-8 "$(printf 'behaviour c points +1 category s "caf\303\251 \351t\351"')"
# The ranges of section 2 are inclusive and each is checked: a value at a bound passes, one
# past it is refused at the value, and a sign where none is taken is refused as such.
# fine NAME LINE...: file = BASE (6 lines) + LINEs, accepted without a message.
fine() {
    f="$RC_DIR/$1.rules"
    name=$1
    shift
    { printf '%s\n' "$BASE"; printf '%s\n' "$@"; } >"$f"
    run rules check "$f"
    expect_rc "rules check $name: exit 0" 0
    expect_eq "rules check $name: no message" "$ERR" ""
}
fine values_at_their_bounds "score base 5 min 5 max 5" "scored from age 150" \
    "behaviour c points 1000000000 per 1000000000000 cap 1000000000 limit 1000000 per year expires 36525 days lists blacklist for 1 day category s" \
    "sanction s on blacklist discount 100 x" "blacklist below 600" "blacklist exit 600 after 36525 days"
broken age_over 7:17 "an age must be between 0 and 150" "scored from age 151"
broken per_over 7:27 "an amount unit must be between 1 and 1000000000000" \
    "behaviour c points -1 per 1000000000001 category s"
broken cap_zero 7:27 "a cap must be between 1 and 1000000000" "behaviour c points -1 cap 0 category s"
broken limit_over 7:28 "a limit must be between 1 and 1000000" \
    "behaviour c points 1 limit 1000001 per year category s"
broken expires_zero 7:30 "a number of days must be between 1 and 36525" \
    "behaviour c points 1 expires 0 days category s"
broken discount_101 7:34 "a percentage must be between 1 and 100" "sanction s on blacklist discount 101 x"
broken sign_not_taken 7:27 "an amount unit takes no sign" "behaviour c points -1 per +1000 category s"
# A lone sign is no number at all, signed or not.
broken lone_sign 7:27 "expected an amount unit, found '-'" "behaviour c points -1 per - category s"
broken region_seven_digits 7:8 "a region prefix has 1 to 6 digits, found '1100001'" "region 1100001"
broken bound_against_points 7:58 "the bound must have the sign of the points" \
    "association -5 per blacklisted contact every 30 days max 5"
# A bound of 0 has neither sign, so it fails points of either.
broken bound_zero 7:57 "the bound must have the sign of the points" \
    "association 5 per blacklisted contact every 30 days max 0"

# Lexical rules: '#' ends a word or a string and starts a comment, '\\' in a string is one
# backslash, 'behavior' is a spelling of 'behaviour'; the lexical errors point at the
# character concerned.
fine comments_escapes_spelling "behavior d points 1 category s#a comment right after a word" \
    'behaviour e points 1 category s "a # in a string, \"quotes\" and a backslash \\"#a comment'
broken quote_then_word 7:25 "expected a space after the closing quote" 'behaviour c points 1 "d"x'
line=publish
i=0
while [ $i -lt 256 ]; do line="$line scores"; i=$((i + 1)); done
broken too_many_tokens 7:1794 "too many tokens on one line" "$line"

# Shapes: each attribute once, nothing after the description, something to report, act on
# or publish; a grade named in a token that starts with a comma is located at its name.
broken attribute_twice 7:22 "attribute 'points' given twice" "behaviour c points 1 points 2 category s"
broken score_attribute_twice 7:14 "'base' given twice" "score base 1 base 2"
broken after_description 7:26 "unexpected 'x'" 'behaviour c points 1 "d" x'
broken agency_reports_nothing 7:17 "agency 'a' reports nothing" "agency a reports"
broken no_action 7:29 "expected at least one action name" "sanction s on blacklist deny"
broken publish_nothing 7:8 "expected 'blacklist' or 'scores'" "publish"
broken grade_after_comma_token 7:24 "sanction 's' is on unknown grade 'Z'" "sanction s on grade A ,Z deny x"

# Whole-city checks: a grade redefined replaces its band (the old bound no longer covers min),
# two bands may not share a bound, and a category no behaviour has is not met by the
# behaviours that have no category.
broken grade_override_whole 7:7 "the lowest band 'A' starts at 5" "grade A from 5"
broken same_bound 7:7 "grades 'A' and 'B' have the same lower bound 0" "grade B from 0"
broken category_of_none 8:29 "agency 'ag2': no behaviour of city 'tc' has category 'none'" \
    "behaviour u points 1" "agency ag2 reports category none"

# Each way a line can stop short of its directive's shape is located at the token concerned,
# or just past the last one when the line ends early.
broken ident_bad_char 7:11 "expected a behaviour name, found 'c-d'" "behaviour c-d points +1"
broken word_other 7:8 "expected 'from', found 'by'" "scored by age 3"
broken word_missing 7:7 "expected 'from' at the end of the line" "scored"
broken days_unit 7:33 "expected 'days', found 'weeks'" "behaviour c points 1 expires 30 weeks category s"
broken include_unquoted 7:9 "include needs a quoted file name" "include base.rules"
broken include_nothing 7:8 "include needs a quoted file name" "include"
broken region_letter 7:8 "a region prefix has 1 to 6 digits, found '11a'" "region 11a"
broken score_attribute 7:14 "unknown score attribute 'mid' (expected base, min or max)" "score base 1 mid 3"
broken grade_from_misspelt 7:9 "expected 'from', found 'form'" "grade B form 3"
broken lists_whitelist 7:28 "expected 'blacklist', found 'whitelist'" \
    "behaviour c points 1 lists whitelist for 3 days category s"
broken agency_item 7:20 "expected a behaviour name, found '9x'" "agency a reports b 9x"
broken agency_category_item 7:27 "expected a category, found '9x'" "agency a reports category 9x"
broken blacklist_exit_before 7:18 "expected 'after', found 'before'" "blacklist exit 5 before 3 days"
broken blacklist_above 7:11 "expected 'blacklist below N' or 'blacklist exit N after D days'" "blacklist above 5"
broken action_name 7:32 "expected an action name, found '9x'" "sanction s on blacklist deny a 9x"
broken grade_in_list 7:23 "expected a grade name, found '9'" "sanction s on grade A,9 deny x"
broken grade_list_then_priority 7:25 "expected a grade name after ',', found 'priority'" \
    "privilege p on grade A, priority x"
broken grade_list_then_discount 7:25 "expected a grade name after ',', found 'discount'" \
    "privilege p on grade A, discount 5 x"
broken on_greylist 7:15 "expected 'blacklist', 'whitelist' or 'grade G[,G...]' after 'on'" \
    "sanction s on greylist deny x"
broken effect_other 7:25 "expected 'deny', 'priority' or 'discount', found 'ban'" "sanction s on blacklist ban x"
broken effect_missing 7:24 "expected 'deny', 'priority' or 'discount' at the end of the line" \
    "sanction s on blacklist"
broken publish_other 7:16 "expected 'blacklist' or 'scores', found 'everything'" "publish scores everything"
broken directive_string 7:1 "expected a directive, found a string" '"city" x'
# A string where a word or a number belongs is told as a string: its text alone would read as
# the very word expected.
broken string_for_word 7:8 "expected 'from', found a string" 'scored "from" age 3'
broken string_for_number 7:20 "expected a number of points, found a string" 'behaviour c points "5"'
broken string_for_name 7:11 "expected a behaviour name, found a string" 'behaviour "c" points 1'
broken string_for_region 7:8 "a region prefix has 1 to 6 digits, found a string" 'region "11"'
broken string_for_score_attribute 7:14 "expected base, min or max, found a string" 'score base 1 "min" 3'
broken string_for_effect 7:25 "expected 'deny', 'priority' or 'discount', found a string" \
    'sanction s on blacklist "deny" x'
broken string_for_publish 7:9 "expected 'blacklist' or 'scores', found a string" 'publish "scores"'
broken exit_without_below 7:1 "'blacklist exit' needs a 'blacklist below' threshold" "blacklist exit 5 after 3 days"
printf 'city x "X" y\nscore base 1\n' >"$RC_DIR/city_trailing.rules"
run rules check "$RC_DIR/city_trailing.rules"
expect_eq "rules check: a word after a city's display name" "$ERR" "$RC_DIR/city_trailing.rules:1:12: unexpected 'y'"
# A NUL byte is located where it lies, and the line is not read past it.
{ printf '%s\n' "$BASE"; printf 'behaviour c\000 points 1\n'; } >"$RC_DIR/nul.rules"
run rules check "$RC_DIR/nul.rules"
expect_rc "rules check: a NUL byte in a line: exit 1" 1
expect_eq "rules check: a NUL byte in a line: located at it, told once" "$ERR" \
    "$RC_DIR/nul.rules:7:12: NUL byte in the line"
# A description may end a CRLF line or stand before a tab and a comment; a privilege on a grade
# the city lacks is told as a privilege's.
fine description_then_crlf_or_tab "$(printf 'behaviour d points 1 "desc"\r')" \
    "$(printf 'behaviour e points 1 "desc"\t# comment')"
broken privilege_unknown_grade 7:22 "privilege 'p' is on unknown grade 'Z'" "privilege p on grade Z discount 5 x"
broken include_empty 7:9 'cannot include "": No such file or directory' 'include ""'
run rules check "$RC_DIR/nosuch.rules"
expect_rc "rules check of a file that is not there: exit 1" 1
expect_eq "rules check of a file that is not there: named, with why" "$ERR" \
    "$RC_DIR/nosuch.rules: cannot read: No such file or directory"
# A file named without a directory includes from the current one.
mkdir -p "$RC_DIR/here"
printf 'behaviour s points 1\n' >"$RC_DIR/here/shared.rules"
printf 'include "shared.rules"\ncity here\nscore base 1\nagency a reports s\n' >"$RC_DIR/here/here.rules"
OUT=$(cd "$RC_DIR/here" && "$XY" rules check here.rules 2>&1)
expect_eq "rules check: a bare file name includes from the current directory" "$OUT" "here: 1 behaviours
ok: 1 file, 1 city"

# A city line belongs in the city's file, even before that file's own city line.
printf 'city inner\n' >"$RC_DIR/inner.rules"
printf 'include "inner.rules"\n%s\n' "$BASE" >"$RC_DIR/outer.rules"
run rules check "$RC_DIR/outer.rules"
expect_rc "rules check: a city line in an included file: exit 1" 1
expect_err "rules check: a city line in an included file: located there" \
    "$RC_DIR/inner.rules:1:1: a city line belongs in the city's own file, not in an included file"
# A tab after 'city' makes a city file as a space does.
printf 'city\ttab "Tab"\nregion 150001\nscore base 1\n' >"$RC_DIR/tab.rules"
run rules check "$RC_DIR/tab.rules"
expect_eq "rules check: 'city' followed by a tab declares a city" "$OUT" "tab: 0 behaviours
ok: 1 file, 1 city"
# An agency's behaviours are the city's own: one that only another city defines is unknown.
# Region prefixes clash only with the same digits: 14 and 014 are different prefixes.
printf 'city ua\nregion 14\nscore base 1\nbehaviour only_a points 1\n' >"$RC_DIR/ua.rules"
printf 'city ub\nregion 014\nscore base 1\nagency ag reports only_a\n' >"$RC_DIR/ub.rules"
run rules check "$RC_DIR/ua.rules" "$RC_DIR/ub.rules"
expect_eq "rules check: a behaviour of another city is unknown to this city's agency" "$ERR" \
    "$RC_DIR/ub.rules:4:19: agency 'ag' reports unknown behaviour 'only_a' in city ub"
printf 'city ub\nregion 014\nscore base 1\n' >"$RC_DIR/ub.rules"
run rules check "$RC_DIR/ua.rules" "$RC_DIR/ub.rules"
expect_rc "rules check: region prefixes 14 and 014 may coexist" 0
# A shared file checked alone skips the checks that need the including city (docs/rules.md,
# section 5), except the grades of a file that defines grades.
printf 'agency a reports nosuch\nagency b reports category nocat\nblacklist exit 900 after 10 days\nsanction s on grade Z deny x\n' \
    >"$RC_DIR/alone.rules"
run rules check "$RC_DIR/alone.rules"
expect_rc "rules check: a shared file alone, references left to the city: exit 0" 0
expect_eq "rules check: a shared file alone, references left to the city: no message" "$ERR" ""
printf 'grade A from 0\nsanction s on grade Z deny x\n' >"$RC_DIR/alonegrades.rules"
run rules check "$RC_DIR/alonegrades.rules"
expect_eq "rules check: a shared file with grades checks the grades it names" "$ERR" \
    "$RC_DIR/alonegrades.rules:2:21: sanction 's' is on unknown grade 'Z'"
printf 'city tc "T"\nregion 110000\nscore base 1000 min 0\n\ngrade A from 100\n' >"$RC_DIR/cover.rules"
run rules check "$RC_DIR/cover.rules"
expect_rc "rules check grade bands not covering min: exit 1" 1
expect_err "rules check grade bands not covering min: FILE:LINE:COLUMN" "$RC_DIR/cover.rules:5:7: "
printf 'city tc "T"\nregion 110000\nscore base 1000\ngrade A from 0\n' >"$RC_DIR/nomin.rules"
run rules check "$RC_DIR/nomin.rules"
expect_rc "rules check: a city with grades must set min (decisions): exit 1" 1
expect_err "rules check: grades without min: FILE:LINE:COLUMN" "$RC_DIR/nomin.rules:"
printf 'include "b.rules"\n%s\n' "$BASE" >"$RC_DIR/cyc.rules"
printf '# b\ninclude "c.rules"\n' >"$RC_DIR/b.rules"
printf '# c\n\ninclude "b.rules"\n' >"$RC_DIR/c.rules"
run rules check "$RC_DIR/cyc.rules"
expect_rc "rules check include cycle: exit 1" 1
expect_err "rules check include cycle: FILE:LINE:COLUMN of the include closing the cycle" "$RC_DIR/c.rules:3:9: "
expect_err "rules check include cycle: message" "cycle"
printf '\n\ninclude "nope.rules"\n%s\n' "$BASE" >"$RC_DIR/missinc.rules"
run rules check "$RC_DIR/missinc.rules"
expect_rc "rules check missing include: exit 1" 1
expect_err "rules check missing include: FILE:LINE:COLUMN" "$RC_DIR/missinc.rules:3:9: "
expect_err "rules check missing include: names the file" "nope.rules"
printf 'include "/dev/zero"\n%s\n' "$BASE" >"$RC_DIR/devzero.rules"
run rules check "$RC_DIR/devzero.rules"
expect_rc "rules check include of a device (endless): exit 1" 1
expect_err "rules check include of a device: FILE:LINE:COLUMN, not a regular file" \
    "$RC_DIR/devzero.rules:1:9: cannot include \"/dev/zero\": not a regular file"
run rules check /dev/zero
expect_rc "rules check of a device: exit 1" 1
mkdir -p "$RC_DIR/deep"
i=1
while [ $i -le 100 ]; do printf '# %d\ninclude "d%d.rules"\n' $i $((i + 1)) >"$RC_DIR/deep/d$i.rules"; i=$((i + 1)); done
echo '# the end' >"$RC_DIR/deep/d101.rules"
printf 'include "d1.rules"\n%s\n' "$BASE" >"$RC_DIR/deep/top.rules"
run rules check "$RC_DIR/deep/top.rules"
expect_rc "rules check includes nested 101 deep: exit 1, no crash" 1
expect_err "rules check includes nested too deep: FILE:LINE:COLUMN of the include past the limit" \
    "$RC_DIR/deep/d63.rules:2:9: includes nested more than 64 files deep"
printf '# shared\nbogus line\n' >"$RC_DIR/shared_bad.rules"
printf 'include "shared_bad.rules"\n%s\n' "$BASE" >"$RC_DIR/incbad.rules"
run rules check "$RC_DIR/incbad.rules"
expect_rc "rules check error in an included file: exit 1" 1
expect_err "rules check error in an included file: located in that file" "$RC_DIR/shared_bad.rules:2:1: "
printf '%s\nfrobnicate\nbehaviour c points +1 colour red\n' "$BASE" >"$RC_DIR/two.rules"
run rules check "$RC_DIR/two.rules"
expect_err "rules check: every error printed (first)" "$RC_DIR/two.rules:7:1: "
expect_err "rules check: every error printed (second)" "$RC_DIR/two.rules:8:23: "
printf 'city ra "A"\nregion 11\nscore base 1\n' >"$RC_DIR/ra.rules"
printf 'city rb "B"\n# same prefix\nregion 11\nscore base 1\n' >"$RC_DIR/rb.rules"
run rules check "$RC_DIR/ra.rules" "$RC_DIR/rb.rules"
expect_rc "rules check: two cities claiming one region prefix -> exit 1" 1
expect_err "rules check: region clash located at the second claim" "$RC_DIR/rb.rules:3:8: "
run rules check "$RC_DIR/two.rules" "$XY_ROOT/rules/rongcheng.rules"
expect_rc "rules check: one bad file among good ones -> exit 1" 1
run init --rules "$RC_DIR" --data "$T/never"
expect_rc "init refuses a broken ruleset" 1
run --data "$T/never" stats
expect_rc "init refused: no data directory created" 2
# A rules directory that is not there, holds no .rules file or holds no city file is refused
# with its name, and no data directory is made.
# refused_dir NAME DIR WANT: init --rules DIR fails with the one message WANT.
refused_dir() {
    run init --rules "$2" --data "$T/never"
    expect_rc "init refuses $1: exit 1" 1
    expect_eq "init refuses $1: message" "$ERR" "$3"
    if [ -e "$T/never" ]; then bad "init refuses $1: nothing made" "$T/never exists"; else ok "init refuses $1: nothing made"; fi
}
refused_dir "a missing rules directory" "$T/norules" \
    "$T/norules: cannot open rules directory: No such file or directory"
refused_dir "a file as rules directory" "$RC_DIR/nul.rules" \
    "$RC_DIR/nul.rules: cannot open rules directory: Not a directory"
mkdir -p "$T/emptyrules" "$T/sharedrules"
printf 'not rules\n' >"$T/emptyrules/README"
refused_dir "a rules directory without .rules files" "$T/emptyrules" \
    "$T/emptyrules: no .rules files in the rules directory"
printf 'behaviour b points 1\n' >"$T/sharedrules/common.rules"
refused_dir "a rules directory without a city file" "$T/sharedrules" \
    "$T/sharedrules: no city file (a file with a 'city' line) in the rules directory"

# include read once; a city overrides a shared behaviour
INC="$T/inc"
mkdir -p "$INC"
cat >"$INC/shared.rules" <<'RULES'
behaviour x points -10 category s
agency ag reports category s
RULES
cat >"$INC/other.rules" <<'RULES'
include "shared.rules"
behaviour y points -1 category s
RULES
cat >"$INC/city.rules" <<'RULES'
include "shared.rules"
city ic "Inc City"
region 180000
score base 1000 min 0
grade A from 0
behaviour x points -50 category s
include "other.rules"
include "shared.rules"
RULES
run rules check "$INC/city.rules" "$INC/shared.rules" "$INC/other.rules"
expect_rc "include: a file included twice (directly and via another) is fine" 0
fresh incdata "$INC"
I1=$(mkid 180000 19800101 001)
csv "$T/icit.csv" "id,name" "$I1,Inc One"
setup load citizens "$T/icit.csv"
load_events "i1,2024-01-01,$I1,x,ag,," "i2,2024-01-01,$I1,y,ag,,"
expect_eq "include read once: the city's override of x (-50) survives later includes" "$(q "$I1" .raw)" 949
# A relative include resolves against the directory of the path its file was reached by, not
# against the name messages give the file: here sl/s.rules, a symbolic link to sr/s.rules named
# first, must not make the city's include of sr/s.rules read sl/x.rules instead of sr/x.rules.
mkdir -p "$INC/sl" "$INC/sr"
printf 'include "x.rules"\n' >"$INC/sr/s.rules"
printf 'behaviour q points 1\n' >"$INC/sr/x.rules"
printf 'behaviour q points 1\nbehaviour extra points 1\n' >"$INC/sl/x.rules"
ln -s ../sr/s.rules "$INC/sl/s.rules"
printf 'include "sr/s.rules"\ncity lc\nregion 182000\nscore base 1\n' >"$INC/lc.rules"
run rules check "$INC/sl/s.rules" "$INC/lc.rules"
expect_eq "include: resolved from the path a file was reached by, whatever was named first" "$OUT" \
    "lc: 1 behaviours
ok: 2 files, 1 city"

# overrides: a later behaviour, agency, grade, sanction or privilege replaces the earlier one
OV="$T/ov"
mkdir -p "$OV"
cat >"$OV/shared.rules" <<'RULES'
behaviour x points -10 category s
behaviour z points -3 category s
agency ag reports x z
agency ag2 reports category s
sanction sx on blacklist deny act_x
privilege px on whitelist discount 5 act_p
RULES
cat >"$OV/city.rules" <<'RULES'
include "shared.rules"
city oc "Override City"
region 181000
score base 1000 min 0
grade A from 1050
grade B from 0
grade A from 990
agency ag reports x
sanction sx on blacklist deny act_y
privilege px on grade A discount 20 act_p
behaviour drop points -500 category s
blacklist below 600
RULES
fresh ovdata "$OV"
O1=$(mkid 181000 19800101 001)
csv "$T/ocit.csv" "id,name" "$O1,Over One"
setup load citizens "$T/ocit.csv"
run show "$O1" --json
expect_json "override: grade A redefined from 990 (base 1000 -> A)" '.grade' A
run check "$O1" act_p --json
expect_json "override: privilege px redefined (grade A, 20 percent)" '[.decision,.percent]' '["discount",20]'
events "$T/oev.csv" "o1,2024-01-01,$O1,z,ag,,"
run load events "$T/oev.csv"
expect_rc "override: agency ag restated without z -> reporting z is rejected" 1
load_events "o2,2024-01-01,$O1,drop,ag2,,"
run check "$O1" act_y --json
expect_json "override: sanction sx redefined (denies act_y)" '.decision' deny
run check "$O1" act_x
if [ "$RC" -eq 3 ] || { [ "$RC" -eq 0 ] && [ "${OUT#*deny}" = "$OUT" ]; }; then
    ok "override: the replaced sanction no longer denies act_x"
else
    bad "override: the replaced sanction no longer denies act_x" "exit $RC: $OUT"
fi

# a city with many behaviours: lookups must not slow down with their number (spec 3)
MANY="$T/many"
mkdir -p "$MANY"
{
    printf 'city mc "Many"\nregion 182000\nscore base 1000\nagency ag reports category s\n'
    awk 'BEGIN { for (i = 1; i <= 20000; i++) printf "behaviour b%d points -1 category s\n", i }'
} >"$MANY/mc.rules"
M1=$(mkid 182000 19800101 001)
start=$(date +%s)
fresh manydata "$MANY"
csv "$T/mcit.csv" "id,name" "$M1,Many One"
setup load citizens "$T/mcit.csv"
awk -v c="$M1" 'BEGIN { print "id,date,citizen,behaviour,agency"
    for (i = 1; i <= 20000; i++) printf "e%d,2024-01-01,%s,b%d,ag\n", i, c, 20001 - i }' >"$T/mev.csv"
setup load events "$T/mev.csv"
expect_eq "20000 behaviours, 20000 events: all scored" "$(q "$M1" .raw)" -19000
took=$(($(date +%s) - start))
if [ "$took" -le 10 ]; then ok "20000 behaviours, 20000 events: done in ${took}s (<= 10s)"; else bad "20000 behaviours: too slow" "${took}s"; fi
# Every command compiles the ruleset, so compiling must not be quadratic in the number of
# behaviours either: ten times the behaviours must take well under a hundred times as long.
# A ratio, not a deadline, so that a slow or sanitized build on a busy machine passes alike.
check_ms() { # N: milliseconds to check a city of N behaviours, and the exit status
    {
        printf 'city mc "Many"\nregion 182000\nscore base 1000\nagency ag reports category s\n'
        awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "behaviour b%d points -1 category s\n", i }'
    } >"$MANY/mc.rules"
    t0=$(date +%s%N)
    run rules check "$MANY/mc.rules"
    echo "$((($(date +%s%N) - t0) / 1000000)) $RC"
}
small=$(check_ms 10000)
small=${small% *}
large=$(check_ms 100000)
RC=${large#* }
large=${large% *}
expect_rc "100000 behaviours: rules check exit 0" 0
if [ "$large" -le $((30 * small + 500)) ]; then ok "100000 behaviours: rules check in ${large} ms, 10000 in ${small} ms"
else bad "100000 behaviours: rules check too slow (quadratic?)" "${large} ms against ${small} ms for 10000"; fi

# Messages are whole and one line each, whatever the path: a path of more
# than two thousand bytes keeps the line and column its message ends with,
# and a newline or an escape in a file name is shown escaped.
LONG="$T/long"
for part in a b c d e f g h i; do LONG="$LONG/$(printf "%0250d" 0 | tr 0 "$part")"; done
mkdir -p "$LONG"
printf 'bogus\n' >"$LONG/x.rules"
run rules check "$LONG/x.rules"
expect_rc "a 2,300-byte path: rules check exit 1" 1
expect_eq "... the message whole" "$ERR" "$LONG/x.rules:1:1: unknown directive 'bogus'"
printf 'id,name\n1,x\n' >"$LONG/c.csv"
"$XY" --data "$LONG/d" init --rules "$XY_ROOT/rules" >/dev/null
run --data "$LONG/d" load citizens "$LONG/c.csv"
expect_rc "... a CSV load from it: exit 1" 1
case "$ERR" in "$LONG/c.csv:2: "*"(column 1)
$LONG/c.csv: 1 bad rows: nothing of this file was applied") ok "... its message whole" ;; *) bad "... its message whole" "$ERR" ;; esac
ODD="$T/odd
name$(printf '\033')[2J.rules"
printf 'bogus\n' >"$ODD"
run rules check "$ODD"
expect_eq "a newline and an escape in a file name: shown escaped, one line" "$ERR" \
    "$T/odd\\nname\\x1b[2J.rules:1:1: unknown directive 'bogus'"

finish
