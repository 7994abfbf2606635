#!/bin/sh
# Input integrity (spec 2.10, section 4): every kind of bad record is reported as FILE:LINE:,
# exits 1 and leaves the state untouched; --rejects; duplicates; citizens files.
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"

R1=$(mkid 371082 19800101 001)   # rongcheng
R2=$(mkid 371082 19800101 003)   # rongcheng
S1=$(mkid 310101 19800101 005)   # shanghai
G1=$(mkid 440104 19800101 007)   # guangzhou
UNREG=$(mkid 371082 19800101 009)
ALL="$R1 $R2 $S1 $G1"

fresh main "$XY_ROOT/rules"
csv "$T/cit.csv" "id,name,city,father,mother" \
    "$R1,Rong One,rongcheng,," "$R2,Rong Two,rongcheng,," "$S1,Shang One,shanghai,," "$G1,Guang One,guangzhou,,"
setup load citizens "$T/cit.csv"
csv "$T/con.csv" "a,b" "$R1,$S1"
setup load contacts "$T/con.csv"
events "$T/good.csv" \
    "g1,2024-01-10,$R1,volunteering,neighbourhood_office,," \
    "g2,2024-01-10,$G1,unrepaid_debt,bank,2500," \
    "g3,2024-01-11,$S1,guarantor_for_defaulter,bank,,$G1"
setup load events "$T/good.csv"

snapshot() { # the whole observable state of the main data directory
    for c in $ALL; do "$XY" explain "$c" --json; done
    "$XY" stats --json
    "$XY" list blacklist --json
}
snapshot >"$T/snap0"
unchanged() { # unchanged NAME: the state is the one of snapshot 0
    snapshot >"$T/snap1"
    if cmp -s "$T/snap0" "$T/snap1"; then ok "$1"; else bad "$1" "state changed: $(diff "$T/snap0" "$T/snap1" | head -5)"; fi
}

# GOODROW is a valid row that would change the state (and advance the clock) if applied.
GOODROW="ok1,2024-02-01,$R2,heroic_act,neighbourhood_office,,"
# colof ROW K: the column (1-based, in characters) where field K of ROW, a row without
# quotes, begins; K past the last field gives the column just after the row.
colof() {
    printf '%s\n' "$1" | awk -F, -v k="$2" '{ c = 1; for (i = 1; i < k; i++) c += length($i) + 1; print (k > NF ? length($0) + 1 : c) }'
}
# expect_at NAME FILE LINE COL: the message for FILE:LINE ends with "(column COL)".
expect_at() {
    if printf '%s\n' "$ERR" | grep -q "^$2:$3: .* (column $4)\$"; then ok "$1"
    else bad "$1" "no '$2:$3: ... (column $4)' in: $ERR"; fi
}
# bad_event NAME WANT BADROW [AT]: file = header, GOODROW (line 2), BADROW (line 3); AT is
# the number of the field at fault (its column is computed from BADROW) or =COLUMN.
N=0
bad_event() {
    N=$((N + 1))
    f="$T/bad$N.csv"
    events "$f" "$GOODROW" "$3"
    run load events "$f"
    expect_rc "$1: exit 1" 1
    expect_err "$1: message names FILE:LINE" "$f:3: "
    [ -n "$2" ] && expect_err "$1: message names the culprit" "$2"
    case "${4:-}" in
    "") ;;
    =*) expect_at "$1: message names the column" "$f" 3 "${4#=}" ;;
    *) expect_at "$1: message names the column" "$f" 3 "$(colof "$3" "$4")" ;;
    esac
    unchanged "$1: nothing of the file applied"
}
# bad_file NAME WANT LINE CONTENT...: a whole file (with its own header).
bad_file() {
    N=$((N + 1))
    f="$T/bad$N.csv"
    name=$1 want=$2 line=$3
    shift 3
    csv "$f" "$@"
    run load events "$f"
    expect_rc "$name: exit 1" 1
    expect_err "$name: message names FILE:LINE" "$f:$line:"
    [ -n "$want" ] && expect_err "$name: message names the culprit" "$want"
    unchanged "$name: nothing of the file applied"
}

bad_event "unknown citizen" "$UNREG" "b1,2024-02-02,$UNREG,volunteering,neighbourhood_office,," 3
bad_event "behaviour not defined in the citizen's city (visiting_parents in shanghai)" visiting_parents \
    "b2,2024-02-02,$S1,visiting_parents,neighbourhood_office,," 4
bad_event "behaviour unknown everywhere" helping_neighbours \
    "b3,2024-02-02,$R1,helping_neighbours,neighbourhood_office,," 4
bad_event "agency not allowed to report the behaviour" airline \
    "b4,2024-02-02,$R1,blood_donation,airline,," 5
bad_event "unknown agency" ministry_of_truth \
    "b5,2024-02-02,$R1,blood_donation,ministry_of_truth,," 5
bad_event "invalid ID: wrong check character" "$(badcheck "$R1")" \
    "b6,2024-02-02,$(badcheck "$R1"),volunteering,neighbourhood_office,," 3
NODATE=$(mkid 371082 19990230 001)
bad_event "invalid ID: non-existent birth date" "$NODATE" \
    "b7,2024-02-02,$NODATE,volunteering,neighbourhood_office,," 3
NODIGIT=37108219800a01001X
bad_event "invalid ID: non-digit" "$NODIGIT" \
    "b8,2024-02-02,$NODIGIT,volunteering,neighbourhood_office,," 3
bad_event "invalid ID: 17 characters" "37108219800101001" \
    "b9,2024-02-02,37108219800101001,volunteering,neighbourhood_office,," 3
bad_event "invalid date 2023-02-30" 2023-02-30 "b10,2023-02-30,$R1,volunteering,neighbourhood_office,," 2
bad_event "invalid date 2023-13-01" 2023-13-01 "b11,2023-13-01,$R1,volunteering,neighbourhood_office,," 2
bad_event "invalid date 23-01-01" 23-01-01 "b12,23-01-01,$R1,volunteering,neighbourhood_office,," 2
bad_event "invalid date 2023-02-29 (not a leap year)" 2023-02-29 "b13,2023-02-29,$R1,volunteering,neighbourhood_office,," 2
bad_event "invalid date 2100-02-29 (century, not a leap year)" 2100-02-29 "b27,2100-02-29,$R1,volunteering,neighbourhood_office,," 2
NOLEAP=$(mkid 371082 19000229 001)
bad_event "invalid ID: born 1900-02-29 (1900 is not a leap year)" "$NOLEAP" \
    "b28,2024-02-02,$NOLEAP,volunteering,neighbourhood_office,," 3
bad_event "negative amount" -5000 "b14,2024-02-02,$G1,unrepaid_debt,bank,-5000," 6
bad_event "non-numeric amount" 12abc "b15,2024-02-02,$G1,unrepaid_debt,bank,12abc," 6
bad_event "malformed CSV: unterminated quote" "" "\"b16,2024-02-02,$R1,volunteering,neighbourhood_office,," =1
bad_event "malformed CSV: stray quote in an unquoted field" "" "b17,2024-02-02,$R1,volun\"teering,neighbourhood_office,," =40
bad_event "malformed CSV: text after a closing quote" "" "b18,2024-02-02,$R1,\"volunteering\"x,neighbourhood_office,," =49
bad_event "too few fields" "" "b19,2024-02-02,$R1,volunteering,neighbourhood_office" 6
bad_event "too many fields" "" "b20,2024-02-02,$R1,volunteering,neighbourhood_office,,,extra" 8
bad_event "event id with a forbidden character" "" "b 21,2024-02-02,$R1,volunteering,neighbourhood_office,," 1
LONGID=$(printf 'x%.0s' $(seq 65))
bad_event "event id of 65 characters" "" "$LONGID,2024-02-02,$R1,volunteering,neighbourhood_office,," 1
bad_event "empty event id" "" ",2024-02-02,$R1,volunteering,neighbourhood_office,," 1
bad_event "unknown counterpart" "$UNREG" "b22,2024-02-02,$S1,guarantor_for_defaulter,bank,,$UNREG" 7
bad_event "same event id, different content (earlier file)" g1 \
    "g1,2024-01-10,$R1,volunteering,civil_affairs_bureau,," 1
bad_file "same event id twice in a file with different content" ok1 3 \
    "id,date,citizen,behaviour,agency,amount,counterpart" "$GOODROW" \
    "ok1,2024-02-01,$R2,heroic_act,neighbourhood_office,1,"
bad_file "missing required column (agency)" agency 1 \
    "id,date,citizen,behaviour" "m1,2024-02-02,$R1,volunteering"
bad_file "unknown column" colour 1 \
    "id,date,citizen,behaviour,agency,colour" "u1,2024-02-02,$R1,volunteering,neighbourhood_office,red"
bad_file "bad row on line 4 is reported as line 4" "$UNREG" 4 \
    "id,date,citizen,behaviour,agency,amount,counterpart" "$GOODROW" \
    "ok2,2024-02-01,$R1,heroic_act,neighbourhood_office,," \
    "b23,2024-02-02,$UNREG,volunteering,neighbourhood_office,,"
run load events "$T/bad1.csv"
expect_err "bad file: says nothing was applied" "nothing of this file was applied"

bad_event "amount with more than 6 decimals" 1.1234567 "b24,2024-02-02,$G1,unrepaid_debt,bank,1.1234567," 6
bad_event "amount in exponent notation" 1e3 "b25,2024-02-02,$G1,unrepaid_debt,bank,1e3," 6
bad_event "amount one over 10^12" "amount '1000000000001' is too large (at most 1000000000000)" \
    "b31,2024-02-02,$G1,unrepaid_debt,bank,1000000000001," 6
bad_event "amount a millionth over 10^12" "1000000000000.000001' is too large" \
    "b29,2024-02-02,$G1,unrepaid_debt,bank,1000000000000.000001," 6
OLD=$(mkid 371082 17991231 001)
bad_event "invalid ID: born in 1799, a real date outside the years an ID can hold" \
    "birth year outside 1800-2199" "b30,2024-02-02,$OLD,volunteering,neighbourhood_office,," 3
# blank lines are skipped but counted: the bad row is on physical line 4
bad_file "blank line: line numbers are physical lines" "$UNREG" 4 \
    "id,date,citizen,behaviour,agency,amount,counterpart" "$GOODROW" "" \
    "b26,2024-02-02,$UNREG,volunteering,neighbourhood_office,,"
# Positions: the column where the field at fault begins, in characters; a header's
# column; a fault inside a record that spans lines gets its own line too.
csv "$T/pos1.csv" "id,date,citizen,behaviour,agency,amount,counterpart" "$GOODROW" \
    "ok1,2024-02-01,$R2,heroic_act,neighbourhood_office,1,"
run load events "$T/pos1.csv"
expect_at "same id twice in a file: the id's column" "$T/pos1.csv" 3 1
csv "$T/pos2.csv" "id,date,citizen,behaviour,agency,colour" "u1,2024-02-02,$R1,volunteering,neighbourhood_office,red"
run load events "$T/pos2.csv"
expect_at "unknown column: its column in the header" "$T/pos2.csv" 1 34
csv "$T/pos3.csv" "id,date,citizen,behaviour,agency,date" "t1,2024-02-02,$R1,volunteering,neighbourhood_office,x"
run load events "$T/pos3.csv"
expect_at "a column named twice: the second one" "$T/pos3.csv" 1 34
printf 'id,date,citizen,behaviour,agency\nml1,2024-02-02,%s,"volun\nteer"ing,neighbourhood_office\n' "$R1" >"$T/ml.csv"
run load events "$T/ml.csv"
expect_err "a fault on the second line of a record: its line and column" \
    "$T/ml.csv:2: malformed CSV: unexpected character after a closing quote (line 3, column 6)"
printf 'id,date,citizen,behaviour,agency\n"ml\n2",2024-02-02,%s,volunteering,neighbourhood_office\n' "$R1" >"$T/ml2.csv"
run load events "$T/ml2.csv"
expect_err "a line break quoted from the input is escaped: one line per message" \
    "$T/ml2.csv:2: event id 'ml\\n2' must be"
printf 'id,date,citizen,behaviour,agency\nnu1,2024-02-02,%s,volun\000teering,neighbourhood_office\n' "$R1" >"$T/nul.csv"
run load events "$T/nul.csv"
expect_err "a NUL byte quoted from the input is written as \\x00, the value not cut there" \
    "$T/nul.csv:2: behaviour 'volun\\x00teering' is not defined"
printf 'id,date,citizen,behaviour,agency\nct1,2024-02-02,%s,"a\tb\rc\001d",neighbourhood_office\n' "$R1" >"$T/ctl.csv"
run load events "$T/ctl.csv"
expect_err "a tab, a carriage return and other control characters quoted from the input are escaped" \
    "$T/ctl.csv:2: behaviour 'a\\tb\\rc\\x01d' is not defined in city rongcheng (column 35)"
# A long value is cut in the message at the start of a character: here a
# three-byte one of which only two bytes would fit.
JING=$(printf '\351\235\231%.0s' $(seq 100))
printf 'id,date,citizen,behaviour,agency\nlg1,2024-02-02,%s,xx%s,neighbourhood_office\n' "$R1" "$JING" >"$T/long.csv"
run load events "$T/long.csv"
expect_err "a long value quoted from the input is cut where a character starts" \
    "$T/long.csv:2: behaviour 'xx$(printf '\351\235\231%.0s' $(seq 76))...' is not defined"
# One byte shorter, the last character that fits is whole and stays.
printf 'id,date,citizen,behaviour,agency\nlg1,2024-02-02,%s,x%s,neighbourhood_office\n' "$R1" "$JING" >"$T/long.csv"
run load events "$T/long.csv"
expect_err "... and keeps a last character that fits whole" \
    "$T/long.csv:2: behaviour 'x$(printf '\351\235\231%.0s' $(seq 77))...' is not defined"
: >"$T/empty.csv"
run load events "$T/empty.csv"
expect_rc "an empty file: exit 1" 1
expect_eq "... says it lacks its header, at line 1" "$ERR" "$T/empty.csv:1: empty file: expected a header row"
unchanged "an empty file: nothing applied"
for h in '"id,date:unterminated quoted field (column 1)' 'id,da"te:quote inside an unquoted field (column 6)'; do
    printf '%s\n' "${h%%:*}" >"$T/hdr.csv"
    run load events "$T/hdr.csv"
    expect_rc "a malformed header ${h%%:*}: exit 1" 1
    expect_eq "... says why and where" "$ERR" "$T/hdr.csv:1: malformed header: ${h#*:}"
done
unchanged "malformed headers: nothing applied"
printf '\357\273\277id,name,city\n%s,"陈 ""静""",atlantis\n' "$R1" >"$T/utf8.csv"
run load citizens "$T/utf8.csv"
expect_at "columns count characters, not bytes (UTF-8 name and quotes before the field)" \
    "$T/utf8.csv" 2 "$((18 + 1 + 9 + 1 + 1))"
# A name that is not UTF-8 (Latin-1 bytes, say) would make output that is not
# UTF-8, JSON included: a bad row, at the name's column, nothing applied.
printf 'id,name\n%s,"Bad\377\376Name"\n' "$R1" >"$T/latin1.csv"
run load citizens "$T/latin1.csv"
expect_rc "a name that is not UTF-8: exit 1" 1
expect_err "a name that is not UTF-8: says so" "name is not valid UTF-8"
expect_at "a name that is not UTF-8: its line and column" "$T/latin1.csv" 2 20
unchanged "a name that is not UTF-8: nothing applied"
# Control characters of C0 (a tab), DEL and the C1 range (U+0080-U+009F, UTF-8 C2 80-9F) would
# reach a terminal as they are; U+00A0 (C2 A0, a no-break space) is text.
for ctl in 'K\011id:a tab (C0)' 'K\177id:DEL' 'K\302\205id:NEL (U+0085)' 'K\302\237id:U+009F'; do
    printf "id,name\n%s,${ctl%%:*}\n" "$R1" >"$T/ctl.csv"
    run load citizens "$T/ctl.csv"
    expect_rc "a name with ${ctl#*:}: exit 1" 1
    expect_at "... a control character, at the name's column" "$T/ctl.csv" 2 20
    expect_err "... says so" "name contains a control character"
done
run load events /dev/zero
expect_rc "a device as input (endless): exit 1, not read into memory" 1
expect_err "... says what it is" "/dev/zero: cannot read: a device, not a file, a pipe or a terminal"
# many bad rows: the first 100 are listed, then a count (decisions)
N=$((N + 1))
{
    echo "id,date,citizen,behaviour,agency,amount,counterpart"
    i=0
    while [ $i -lt 150 ]; do i=$((i + 1)); echo "many$i,2024-02-02,$UNREG,volunteering,neighbourhood_office,,"; done
} >"$T/many.csv"
run load events "$T/many.csv"
expect_rc "150 bad rows: exit 1" 1
expect_eq "150 bad rows: the first 100 reported as FILE:LINE" "$(printf '%s\n' "$ERR" | grep -c "^$T/many.csv:[0-9]*: ")" 100
expect_err "150 bad rows: the 100th is line 101" "$T/many.csv:101: "
expect_err "150 bad rows: the total is given" "150"
unchanged "150 bad rows: nothing applied"

# columns in any order, optional columns absent, quoted fields: accepted
N=$((N + 1))
csv "$T/ord.csv" "agency,behaviour,citizen,date,id" "neighbourhood_office,\"heroic_act\",$R2,2024-02-01,\"o1\""
run load events "$T/ord.csv"
expect_rc "columns in any order, amount/counterpart absent, quoted fields: exit 0" 0
expect_eq "columns in any order: applied" "$(q "$R2" .raw)" 1030
Y2K=$(mkid 371082 20000229 031)
csv "$T/y2k.csv" "id,name" "$Y2K,Born 2000-02-29"
run load citizens "$T/y2k.csv"
expect_rc "ID born 2000-02-29 is valid (400-year rule)" 0
ID64=$(printf 'a.b_c:d-E%.0s' $(seq 7) | cut -c1-64)
csv "$T/leap.csv" "id,date,citizen,behaviour,agency" "lp1,2024-02-29,$R2,heroic_act,neighbourhood_office" \
    "$ID64,2024-03-01,$R2,volunteering,neighbourhood_office"
run load events "$T/leap.csv"
expect_rc "2024-02-29 is a valid date; a 64-character id of [A-Za-z0-9._:-] is valid" 0
expect_out "2024-02-29 and the 64-character id: both applied" "2 rows, 2 applied"

# RFC 4180: CRLF line ends, quoted header, embedded quotes and commas, UTF-8
U1=$(mkid 371082 19800101 027); U2=$(mkid 371082 19800101 029)
printf '"id","name","city"\r\n%s,"Wang ""Big"" Wei, Jr.",rongcheng\r\n%s,陈静,\r\n' "$U1" "$U2" >"$T/crlf.csv"
run load citizens "$T/crlf.csv"
expect_rc "RFC 4180 citizens (CRLF, quoted header): exit 0" 0
expect_eq "RFC 4180: embedded quotes and comma in a name" "$(q "$U1" .name)" 'Wang "Big" Wei, Jr.'
expect_eq "UTF-8 name kept, empty last field before CRLF -> city from region" "$(q "$U2" '[.name,.city]|@csv')" '"陈静","rongcheng"'
# A file that is not a regular file (a pipe) is read rather than mapped.
U3=$(mkid 371082 19800101 035)
mkfifo "$T/pipe.csv"
printf 'id,name\n%s,Piped In\n' "$U3" >"$T/pipe.csv" &
run load citizens "$T/pipe.csv"
wait
expect_out "a pipe as the input file: loaded" "1 rows, 1 applied"
expect_eq "a pipe as the input file: the citizen is there" "$(q "$U3" .name)" "Piped In"
run load citizens "$T"
expect_rc "a directory as the input file: exit 1" 1
expect_err "... saying it is a directory" "Is a directory"
printf 'id,date,citizen,behaviour,agency,amount,counterpart\r\ncr1,2024-02-01,%s,heroic_act,neighbourhood_office,,\r\ncr2,2024-02-01,%s,guarantor_for_defaulter,bank,,%s\r\n' \
    "$U2" "$S1" "$U1" >"$T/crlf2.csv"
run load events "$T/crlf2.csv"
expect_rc "RFC 4180 events with CRLF (last column a citizen ID): exit 0" 0
expect_eq "CRLF events applied" "$(q "$U2" .raw)" 1030
N=$((N + 1))
csv "$T/dupin.csv" "id,date,citizen,behaviour,agency,amount,counterpart" \
    "di1,2024-02-01,$U1,heroic_act,neighbourhood_office,," "di1,2024-02-01,$U1,heroic_act,neighbourhood_office,,"
run load events "$T/dupin.csv"
expect_rc "identical row twice in one file: exit 0" 0
expect_out "identical row twice in one file: one applied, one duplicate" "2 rows, 1 applied, 1 duplicates, 0 rejected"
expect_eq "identical row twice in one file: scored once" "$(q "$U1" .raw)" 1030
D1=$(mkid 371082 19800101 051); D2=$(mkid 371082 19800101 053)
csv "$T/dupcit.csv" "id,name" "$D1,Twice Same" "$D1,Twice Same" "$D2,Once"
run load citizens "$T/dupcit.csv"
expect_rc "identical citizen row twice in one file: exit 0" 0
expect_out "identical citizen row twice in one file: a duplicate, as an event's" "3 rows, 2 applied, 1 duplicates, 0 rejected"
D3=$(mkid 371082 19800101 055)
csv "$T/dupcit2.csv" "id,name" "$D3,First Name" "$D3,Other Name"
run load citizens "$T/dupcit2.csv"
expect_rc "one citizen twice in one file with different data: exit 1" 1
expect_err "... says so" "$T/dupcit2.csv:3: citizen '$D3' appears twice in this file with different data"

# ---- --rejects -------------------------------------------------------------------------------
fresh rej "$XY_ROOT/rules"
setup load citizens "$T/cit.csv"
RB1="r1,2024-03-01,$UNREG,volunteering,neighbourhood_office,,"
RB2="\"r,2\",2024-03-01,$R1,volunteering,neighbourhood_office,,"
RB3="r3,2024-03-01,$R1,\"volunteering\"x,neighbourhood_office,,"
RB4="r4,2024-03-01,$S1,visiting_parents,neighbourhood_office,,"
events "$T/mixed.csv" \
    "rg1,2024-03-01,$R1,heroic_act,neighbourhood_office,," \
    "$RB1" "$RB2" \
    "rg2,2024-03-02,$R2,heroic_act,neighbourhood_office,," \
    "$RB3" "$RB4" \
    "rg3,2024-03-03,$G1,unrepaid_debt,bank,3000,"
run load events "$T/mixed.csv" --rejects "$T/out.csv"
expect_rc "--rejects: exit 0" 0
expect_out "--rejects: counts" "7 rows, 3 applied, 0 duplicates, 4 rejected"
expect_eq "--rejects: good rows applied (R1)" "$(q "$R1" .raw)" 1030
expect_eq "--rejects: good rows applied (R2)" "$(q "$R2" .raw)" 1030
expect_eq "--rejects: good rows applied (G1)" "$(q "$G1" .raw)" 970
expect_eq "--rejects: OUT has a header and one line per bad row" "$(wc -l <"$T/out.csv" | tr -d ' ')" 5
expect_eq "--rejects: OUT header" "$(head -n 1 "$T/out.csv" | cut -c1-47)" "id,date,citizen,behaviour,agency,amount,counter"
i=0
for row in "$RB1" "$RB2" "$RB3" "$RB4"; do
    i=$((i + 1))
    line=$(sed -n "$((i + 1))p" "$T/out.csv")
    case "$line" in
    "$row,"*) ok "--rejects: bad row $i unchanged, then its reason" ;;
    *) bad "--rejects: bad row $i unchanged, then its reason" "got: $line" ;;
    esac
done
expect_eq "--rejects: reasons carry FILE:LINE" \
    "$(grep -c "$T/mixed.csv:[0-9]*: " "$T/out.csv")" 4
expect_eq "--rejects: reason of the unknown citizen names line 3" \
    "$(grep -c "$T/mixed.csv:3: " "$T/out.csv")" 1
expect_eq "--rejects: ... and its column" \
    "$(grep -c "$T/mixed.csv:3: .* (column 15)\"\$" "$T/out.csv")" 1
use rej
"$XY" stats --json >"$T/rs0"
csv "$T/badhdr.csv" "id,date,citizen,behaviour,agency,colour" "h1,2024-03-05,$R1,heroic_act,neighbourhood_office,red"
run load events "$T/badhdr.csv" --rejects "$T/out2.csv"
expect_rc "--rejects does not save a bad header: exit 1" 1
"$XY" stats --json >"$T/rs1"
if cmp -s "$T/rs0" "$T/rs1"; then ok "--rejects + bad header: nothing applied"; else bad "--rejects + bad header: nothing applied" "stats changed"; fi
# A rejects file, its rows mended, loads as it is: its 'reason' columns
# are ignored, as many as there are (each round of rejects adds one).
S1RAW=$(q "$S1" .raw)
sed 's/,visiting_parents,/,volunteering,/' "$T/out.csv" >"$T/mended.csv"
run load events "$T/mended.csv" --rejects "$T/out3.csv"
expect_rc "a mended rejects file loads: exit 0" 0
expect_out "... applying the mended row, rejecting the others again" "4 rows, 1 applied, 0 duplicates, 3 rejected"
expect_eq "... the mended row counts" "$(( $(q "$S1" .raw) > S1RAW ))" 1
expect_eq "... and the new rejects keep the old reason column" "$(head -n 1 "$T/out3.csv")" \
    "id,date,citizen,behaviour,agency,amount,counterpart,reason,reason"
run load events "$T/out3.csv"
expect_rc "a rejects file of a rejects file loads too (its rows still bad: exit 1)" 1
expect_err "... naming its rows" "out3.csv:4: "
run load events "$T/mended.csv" --rejects "$T/out4.csv"
expect_out "... and the mended row sent again is a duplicate" "4 rows, 0 applied, 1 duplicates, 3 rejected"
# Other unknown columns are still refused (above), and so is a header too
# wide for any file: the known columns and reason columns, 16 at most.
csv "$T/wide.csv" "id,date,citizen,behaviour,agency,amount,counterpart$(printf ',reason%.0s' 1 2 3 4 5 6 7 8 9 10)"
run load events "$T/wide.csv"
expect_rc "a header of 17 columns: exit 1" 1
expect_err "... saying so, at the 17th" "wide.csv:1: more than 16 columns (column 116)"

# --rejects OUT that cannot be written: nothing of the file is applied (nothing is lost)
use rej
"$XY" stats --json >"$T/rs2"
run load events "$T/mixed.csv" --rejects "$T/no-such-dir/out.csv"
expect_rc "--rejects to an unwritable OUT: exit 1 (usage, not the data directory)" 1
expect_err "--rejects to an unwritable OUT: names it" "$T/no-such-dir/out.csv"
"$XY" stats --json >"$T/rs3"
if cmp -s "$T/rs2" "$T/rs3"; then ok "--rejects to an unwritable OUT: nothing applied"; else bad "--rejects to an unwritable OUT: nothing applied" "stats changed"; fi
# --rejects OUT inside the data directory (over the log, the snapshot, the rules, or a link
# to one of them) would destroy what it holds: refused, nothing applied, everything still there.
"$XY" snapshot >/dev/null
ln -s "$XINYONG_DATA/log" "$T/to-log"
for out in "$XINYONG_DATA/log" "$XINYONG_DATA/snapshot" "$XINYONG_DATA/rules/national.rules" \
    "$XINYONG_DATA/new.csv" "$XINYONG_DATA/../$(basename "$XINYONG_DATA")/log" "$T/to-log"; do
    run load events "$T/mixed.csv" --rejects "$out"
    expect_rc "--rejects $(basename "$out") in the data directory: exit 1" 1
    expect_err "--rejects $(basename "$out") in the data directory: says so" "may not be in the data directory"
done
run verify
expect_rc "--rejects in the data directory: the directory still verifies" 0
"$XY" stats --json >"$T/rs4"
if cmp -s "$T/rs2" "$T/rs4"; then ok "--rejects in the data directory: nothing applied"; else bad "--rejects in the data directory: nothing applied" "stats changed"; fi
# --rejects OUT naming the input itself (or a hard link to it) would overwrite the input
# with its bad rows: refused, nothing applied, the input intact.
cp "$T/mixed.csv" "$T/self.csv"
cp "$T/mixed.csv" "$T/self.orig"
ln "$T/self.csv" "$T/self-link.csv"
for out in "$T/self.csv" "$T/self-link.csv" "$T/../$(basename "$T")/self.csv"; do
    run load events "$T/self.csv" --rejects "$out"
    expect_rc "--rejects $(basename "$out") is the input: exit 1" 1
    expect_err "... says so" "may not be the input file $T/self.csv"
    if cmp -s "$T/self.csv" "$T/self.orig"; then ok "... the input intact"; else bad "... the input intact" "it changed"; fi
done
"$XY" stats --json >"$T/rs5"
if cmp -s "$T/rs2" "$T/rs5"; then ok "--rejects over the input: nothing applied"; else bad "--rejects over the input: nothing applied" "stats changed"; fi
# An OUT that already exists as another file, even one with the input's content, is no input:
# it is replaced by the rejects and the good rows are taken (duplicates here, as mixed.csv was
# loaded before).
cp "$T/mixed.csv" "$T/copy.csv"
run load events "$T/self.csv" --rejects "$T/copy.csv"
expect_rc "--rejects over a copy of the input: exit 0" 0
expect_out "... the rows judged as without it" "7 rows, 0 applied, 3 duplicates, 4 rejected"
expect_eq "... the copy replaced by the header and the bad rows" "$(wc -l <"$T/copy.csv" | tr -d ' ')" 5
if cmp -s "$T/self.csv" "$T/self.orig"; then ok "... the input intact"; else bad "... the input intact" "it changed"; fi

# ---- duplicates ------------------------------------------------------------------------------
use main
snapshot >"$T/snap0"
run load events "$T/good.csv"
expect_rc "re-send: exit 0" 0
expect_out "re-send: reports duplicates" "3 rows, 0 applied, 3 duplicates, 0 rejected"
unchanged "re-send: nothing changes"
run load citizens "$T/cit.csv"
expect_rc "re-send citizens: exit 0" 0
expect_out "re-send citizens: reports duplicates" "4 duplicates"
unchanged "re-send citizens: nothing changes"
run load contacts "$T/con.csv"
expect_out "re-send contacts: reports duplicates" "1 duplicates"
csv "$T/con2.csv" "a,b" "$S1,$R1"
run load contacts "$T/con2.csv"
expect_out "contacts are undirected: b,a is a duplicate of a,b" "1 duplicates"

# Columns in another order (the id not first): the id is still the event's id, in explanations
# and for duplicates.
csv "$T/order.csv" "date,behaviour,citizen,id,agency" "2024-01-12,volunteering,$R2,ord-1,neighbourhood_office"
run load events "$T/order.csv"
expect_out "columns reordered: applied" "1 rows, 1 applied, 0 duplicates, 0 rejected"
run explain "$R2" --json
expect_eq "columns reordered: the id column is the event's id" \
    "$(jget '[.contributions[] | select(.event == "ord-1")] | length')" 1
run load events "$T/order.csv"
expect_out "columns reordered: re-sent: a duplicate" "1 rows, 0 applied, 1 duplicates, 0 rejected"

# ---- contacts --------------------------------------------------------------------------------
csv "$T/con3.csv" "a,b" "$R1,$R2" "$R1,$UNREG"
run load contacts "$T/con3.csv"
expect_rc "contacts: unknown citizen -> exit 1" 1
expect_err "contacts: FILE:LINE" "$T/con3.csv:3:"
expect_at "contacts: the unknown citizen's column" "$T/con3.csv" 3 20
csv "$T/con5.csv" "a,b" "$UNREG,$R1"
run load contacts "$T/con5.csv"
expect_rc "contacts: unknown first citizen -> exit 1" 1
expect_err "contacts: the first citizen named, at its column" "$T/con5.csv:2: a '$UNREG' is not registered (column 1)"
csv "$T/con6.csv" "a,b" "$R1,"
run load contacts "$T/con6.csv"
expect_rc "contacts: an empty citizen -> exit 1" 1
expect_err "contacts: an empty citizen, said so at its column" "$T/con6.csv:2: b is empty (column 20)"
csv "$T/con4.csv" "a,b" "$R2,$R2"
run load contacts "$T/con4.csv"
expect_rc "contacts: self-contact -> exit 1" 1
expect_at "contacts: self-contact at the second citizen's column" "$T/con4.csv" 2 20

# ---- citizens files --------------------------------------------------------------------------
C1=$(mkid 371082 19700101 011); C2=$(mkid 371082 20000101 013); C3=$(mkid 371082 20050101 015)
csv "$T/later.csv" "id,name,city,father,mother" "$C2,Child,rongcheng,$C1," "$C1,Father,rongcheng,,"
run load citizens "$T/later.csv"
expect_rc "citizens: parent defined later in the file -> exit 1" 1
expect_err "citizens: FILE:LINE of the child" "$T/later.csv:2:"
run show "$C1" --json
expect_rc "citizens: nothing of the file applied (father not registered)" 3
csv "$T/earlier.csv" "id,name,city,father,mother" "$C1,Father,rongcheng,," "$C2,Child,rongcheng,$C1,"
run load citizens "$T/earlier.csv"
expect_rc "citizens: parent defined earlier in the file -> exit 0" 0
csv "$T/prev.csv" "id,name,city,father,mother" "$C3,Grandchild,,,$C2"
run load citizens "$T/prev.csv"
expect_rc "citizens: parent registered by an earlier file, empty city -> exit 0" 0
expect_eq "citizens: empty city derived from region (371082 -> rongcheng)" "$(q "$C3" .city)" rongcheng
csv "$T/dupc.csv" "id,name,city,father,mother" "$C1,Another Name,rongcheng,,"
run load citizens "$T/dupc.csv"
expect_rc "citizens: same id, different content -> exit 1" 1
P1=$(mkid 310101 19700101 017); P2=$(mkid 999999 19700101 019)
csv "$T/noreg.csv" "id,name" "$P1,Shanghai Person" "$P2,Nowhere Person"
run load citizens "$T/noreg.csv"
expect_rc "citizens: no region matches -> exit 1" 1
expect_err "citizens: no region: FILE:LINE" "$T/noreg.csv:3:"
csv "$T/nocity.csv" "id,name" "$P1,Shanghai Person"
run load citizens "$T/nocity.csv"
expect_rc "citizens: city column absent -> exit 0" 0
expect_eq "citizens: city from region (310101 -> shanghai, prefix 31)" "$(q "$P1" .city)" shanghai
csv "$T/badcity.csv" "id,name,city" "$(mkid 310101 19700101 021),X,atlantis"
run load citizens "$T/badcity.csv"
expect_rc "citizens: unknown city -> exit 1" 1
expect_err "citizens: unknown city named" atlantis
# Rows name the city of the row before, a prefix of it, a longer name and another city.
M1=$(mkid 310101 19700101 061); M2=$(mkid 310101 19700101 062); M3=$(mkid 310101 19700101 063)
M4=$(mkid 310101 19700101 064); M5=$(mkid 310101 19700101 065)
csv "$T/memo.csv" "id,name,city" "$M1,A,shanghai" "$M2,B,shangha" "$M3,C,shanghaii" "$M4,D,beijing" \
    "$M5,E,shanghai"
run load citizens "$T/memo.csv" --rejects "$T/memo.rej"
expect_rc "citizens: cities row after row, with rejects -> exit 0" 0
expect_eq "citizens: a prefix of the city before is unknown" "$(grep -c "unknown city 'shangha'" "$T/memo.rej")" 1
expect_eq "citizens: a longer name than the city before is unknown" \
    "$(grep -c "unknown city 'shanghaii'" "$T/memo.rej")" 1
expect_eq "citizens: the city before it, then another" "$(q "$M4" .city) $(q "$M5" .city)" "beijing shanghai"
csv "$T/badid.csv" "id,name,city" "$(badcheck "$(mkid 310101 19700101 023)"),X,shanghai"
run load citizens "$T/badid.csv"
expect_rc "citizens: invalid ID -> exit 1" 1
expect_err "citizens: invalid ID: FILE:LINE" "$T/badid.csv:2:"
C4=$(mkid 371082 19700101 025)
csv "$T/selfp.csv" "id,name,city,father,mother" "$C4,Self,rongcheng,$C4,"
run load citizens "$T/selfp.csv"
expect_rc "citizens: own parent -> exit 1" 1
# A check character X may be written in lower case: the same citizen, shown with X.
for s in 101 103 105 107 109 111 113 115 117 119 121 123 125 127 129 131; do
    CX=$(mkid 371082 19700101 "$s"); case "$CX" in *X) break ;; esac
done
CXL=$(printf '%s' "$CX" | tr X x)
csv "$T/lowx.csv" "id,name,city" "$CXL,Lower X,rongcheng"
run load citizens "$T/lowx.csv"
expect_rc "citizens: check character x in lower case -> exit 0" 0
expect_eq "citizens: ... the same citizen as with X, shown with X" "$(q "$CX" .id)" "$CX"
csv "$T/upx.csv" "id,name,city" "$CX,Lower X,rongcheng"
run load citizens "$T/upx.csv"
expect_out "citizens: ... the upper-case form is a duplicate" "1 rows, 0 applied, 1 duplicates"

# ---- a file longer than the loader's chunks ------------------------------------------------
# Events are parsed on a second thread in chunks of a few thousand rows; messages, rejects and
# duplicates must come out as from one pass in file order, whatever chunk a row falls in.
fresh chunks "$XY_ROOT/rules"
setup load citizens "$T/cit.csv"
awk -v a="$R1" -v b="$R2" 'BEGIN {
    print "id,date,citizen,behaviour,agency,amount,counterpart"
    for (i = 2; i <= 10001; i++) {
        id = "big-" i; who = i % 2 ? a : b; agency = "neighbourhood_office"; date = "2024-06-01"
        if (i == 5000) agency = "no_such_agency"
        if (i == 9000) id = "\"big-9000\""
        if (i == 9500) { id = "big-12"; date = "2024-06-02" }
        print id "," date "," who ",volunteering," agency ",,"
    }
}' >"$T/chunks.csv"
run load events "$T/chunks.csv"
expect_rc "chunks: a bad row far into the file -> exit 1" 1
expect_err "chunks: unknown agency at its line" "$T/chunks.csv:5000: unknown agency 'no_such_agency'"
expect_err "chunks: id reused in a later chunk" "$T/chunks.csv:9500: event id 'big-12' appears twice in this file"
expect_eq "chunks: nothing applied" "$(q "$R1" .raw)" 1000
run load events "$T/chunks.csv" --rejects "$T/chunks-out.csv"
expect_out "chunks: --rejects counts" "10000 rows, 9998 applied, 0 duplicates, 2 rejected"
expect_eq "chunks: rejects in file order" "$(cut -c1-8 "$T/chunks-out.csv" | tr '\n' ' ')" "id,date, big-5000 big-12,2 "
run explain "$R2" --json
expect_eq "chunks: the quoted id is the event's id" "$(jget '[.contributions[] | select(.event == "big-9000")] | length')" 1
run load events "$T/chunks.csv" --rejects "$T/chunks-out.csv"
expect_out "chunks: re-sent: all duplicates" "10000 rows, 0 applied, 9998 duplicates, 2 rejected"

# longest region prefix wins
RR="$T/regionrules"
mkdir -p "$RR"
cat >"$RR/wide.rules" <<'RULES'
city wide "Wide"
region 12
score base 100
RULES
cat >"$RR/narrow.rules" <<'RULES'
city narrow "Narrow"
region 1201 5
score base 200
RULES
fresh regions "$RR"
W1=$(mkid 120201 19800101 001); W2=$(mkid 120101 19800101 003); W3=$(mkid 500101 19800101 005)
csv "$T/rc.csv" "id,name,city" "$W1,W," "$W2,N," "$W3,F,"
run load citizens "$T/rc.csv"
expect_rc "regions: load exit 0" 0
expect_eq "regions: 120201 -> wide (12)" "$(q "$W1" .city)" wide
expect_eq "regions: 120101 -> narrow (1201 is longer than 12)" "$(q "$W2" .city)" narrow
expect_eq "regions: second prefix of a region line (5)" "$(q "$W3" .city)" narrow

# ---- citizens: what makes a row bad, and what makes a re-sent one a duplicate -----------------
fresh cits "$XY_ROOT/rules"
F1=$(mkid 371082 19700101 201); K1=$(mkid 371082 20000101 203)
csv "$T/fam.csv" "id,name,city,father,mother" "$F1,Father,rongcheng,," "$K1,Kid,rongcheng,$F1,"
setup load citizens "$T/fam.csv"
csv "$T/fam-nofather.csv" "id,name,city,father,mother" "$K1,Kid,rongcheng,,"
run load citizens "$T/fam-nofather.csv"
expect_rc "citizens: re-sent with its father left out: exit 1, not a duplicate" 1
expect_err "... says so" "$T/fam-nofather.csv:2: citizen '$K1' is already registered with different data"
csv "$T/fam-city.csv" "id,name,city,father,mother" "$K1,Kid,shanghai,$F1,"
run load citizens "$T/fam-city.csv"
expect_rc "citizens: re-sent with another city: exit 1, not a duplicate" 1
expect_err "... says so" "$T/fam-city.csv:2: citizen '$K1' is already registered with different data"
M1=$(mkid 371082 19700101 202)
csv "$T/fam-mother.csv" "id,name,city,father,mother" "$M1,Mother,rongcheng,," "$K1,Kid,rongcheng,$F1,$M1"
run load citizens "$T/fam-mother.csv"
expect_rc "citizens: re-sent with a mother added: exit 1, not a duplicate" 1
expect_err "... says so" "$T/fam-mother.csv:3: citizen '$K1' is already registered with different data"
run show "$M1" --json
expect_rc "... and nothing of the file is applied" 3
csv "$T/fam-name.csv" "id,name,city,father,mother" "$K1,Kim,rongcheng,$F1,"
run load citizens "$T/fam-name.csv"
expect_rc "citizens: re-sent with another name of the same length: exit 1, not a duplicate" 1
expect_err "... says so" "$T/fam-name.csv:2: citizen '$K1' is already registered with different data"
run load citizens "$T/fam.csv"
expect_out "citizens: re-sent with the same city and parents: duplicates" "2 rows, 0 applied, 2 duplicates"
# A city name too long for any city is unknown as a short one is, and quoted whole.
LONGCITY=$(printf 'c%.0s' $(seq 200))
csv "$T/longcity.csv" "id,name,city" "$K1,Kid,$LONGCITY"
run load citizens "$T/longcity.csv"
expect_rc "citizens: a city of 200 characters: exit 1" 1
expect_err "... says it is unknown, at its column" "$T/longcity.csv:2: unknown city '$LONGCITY' (column 24)"
K2=$(mkid 371082 20000101 205)
csv "$T/twocity.csv" "id,name,city" "$K2,Kid Two,rongcheng" "$K2,Kid Two,shanghai"
run load citizens "$T/twocity.csv"
expect_rc "citizens: twice in one file, only the city differs: exit 1" 1
expect_err "... says so" "$T/twocity.csv:3: citizen '$K2' appears twice in this file with different data"
csv "$T/ownfather.csv" "id,name,city,father,mother" "$K2,Kid Two,rongcheng,$K2,"
run load citizens "$T/ownfather.csv"
expect_rc "citizens: its own father: exit 1" 1
expect_err "... says why, at the father's column" "$T/ownfather.csv:2: father is the citizen itself (column 38)"
csv "$T/noname.csv" "id,name,city" "$K2,,rongcheng"
run load citizens "$T/noname.csv"
expect_rc "citizens: an empty name: exit 1" 1
expect_err "... says so, at the name's column" "$T/noname.csv:2: name is empty (column 20)"
NAME1000=$(printf 'n%.0s' $(seq 1000))
csv "$T/name1001.csv" "id,name,city" "$K2,${NAME1000}x,rongcheng"
run load citizens "$T/name1001.csv"
expect_rc "citizens: a name of 1001 bytes: exit 1" 1
expect_err "... says so" "$T/name1001.csv:2: name is longer than 1000 bytes (column 20)"
K3=$(mkid 371082 20000101 207)
csv "$T/name1000.csv" "id,name,city" "$K3,$NAME1000,rongcheng"
run load citizens "$T/name1000.csv"
expect_out "citizens: a name of 1000 bytes: loaded" "1 rows, 1 applied"
csv "$T/con-twice.csv" "a,b" "$F1,$K1" "$K1,$F1"
run load contacts "$T/con-twice.csv"
expect_out "contacts: the same contact twice in one file (either direction): one applied, one duplicate" \
    "2 rows, 1 applied, 1 duplicates, 0 rejected"

# ---- amounts, ids reused in one file, reasons and line ends in the rejects file ---------------
fresh amounts "$XY_ROOT/rules"
setup load citizens "$T/cit.csv"
events "$T/amt-plus.csv" "ap1,2024-02-02,$G1,unrepaid_debt,bank,+5000,"
run load events "$T/amt-plus.csv"
expect_out "amount with a + sign: accepted" "1 rows, 1 applied"
expect_eq "amount with a + sign: the amount counts (-10 per 1000)" "$(q "$G1" .raw)" 950
events "$T/amt-max.csv" "am1,2024-02-02,$G1,unrepaid_debt,bank,1000000000000,"
run load events "$T/amt-max.csv"
expect_out "amount of exactly 10^12: accepted" "1 rows, 1 applied"
for a in -0 -5000; do
    events "$T/amt-neg.csv" "an1,2024-02-03,$G1,unrepaid_debt,bank,$a,"
    run load events "$T/amt-neg.csv"
    expect_rc "amount $a: exit 1" 1
    expect_err "amount $a: refused as negative" "$T/amt-neg.csv:2: amount '$a' is negative (column 54)"
done
# Digits on one side of the point are enough (docs/semantics.md): .5 and 5. are
# the amounts 0.5 and 5, which a per of 1000 turns into one unit each.
raw_before=$(q "$G1" .raw)
events "$T/amt-half.csv" "ah1,2024-02-04,$G1,unrepaid_debt,bank,.5," "ah2,2024-02-04,$G1,unrepaid_debt,bank,5.,"
run load events "$T/amt-half.csv"
expect_out "amounts '.5' and '5.': accepted" "2 rows, 2 applied"
expect_eq "... each counting as at least one unit (-10 each)" "$(q "$G1" .raw)" $((raw_before - 20))
for a in 12.5x 12.5/ ; do
    events "$T/amt-tail.csv" "at1,2024-02-03,$G1,unrepaid_debt,bank,$a,"
    run load events "$T/amt-tail.csv"
    expect_rc "amount '$a' (not a digit after the point's digits): exit 1" 1
    expect_err "amount '$a': not a number" "$T/amt-tail.csv:2: amount '$a' is not a number (column 54)"
done
for a in . + +. ; do
    events "$T/amt-nan.csv" "an2,2024-02-03,$G1,unrepaid_debt,bank,$a,"
    run load events "$T/amt-nan.csv"
    expect_rc "amount '$a' (no digit): exit 1" 1
    expect_err "amount '$a' (no digit): not a number" "$T/amt-nan.csv:2: amount '$a' is not a number (column 54)"
done
events "$T/reuse-first.csv" "ru1,2024-02-03,$R1,volunteering,neighbourhood_office,," \
    "ru1,2024-02-03,$R1,volunteering,neighbourhood_office,1,"
run load events "$T/reuse-first.csv"
expect_rc "the first row's id reused later in the file with other content: exit 1" 1
expect_err "... said to appear twice in this file, not to have been loaded before" \
    "$T/reuse-first.csv:3: event id 'ru1' appears twice in this file with different content (column 1)"
# A reason that quotes a double quote from the input: doubled inside the quoted reason.
QROW="rq1,2024-03-01,$R1,\"vol\"\"x\",neighbourhood_office,,"
events "$T/rq.csv" "$QROW"
run load events "$T/rq.csv" --rejects "$T/rq-out.csv"
expect_rc "--rejects, a reason quoting a double quote: exit 0" 0
expect_eq "--rejects: the quote in the reason is doubled (OUT stays CSV)" "$(sed -n 2p "$T/rq-out.csv")" \
    "$QROW,\"$T/rq.csv:2: behaviour 'vol\"\"x' is not defined in city rongcheng (column 35)\""
# CRLF input with a malformed row: the rejects file keeps the row without its CR.
CRBAD="rc2,2024-03-01,$R1,vol\"x,neighbourhood_office,,"
printf 'id,date,citizen,behaviour,agency,amount,counterpart\r\nrc1,2024-03-01,%s,volunteering,neighbourhood_office,,\r\n%s\r\nrc3,2024-03-01,%s,volunteering,nobody,,\r\n' \
    "$R2" "$CRBAD" "$R2" >"$T/crlf-rej.csv"
run load events "$T/crlf-rej.csv" --rejects "$T/crlf-out.csv"
expect_out "--rejects on CRLF input: counts" "3 rows, 1 applied, 0 duplicates, 2 rejected"
expect_eq "--rejects on CRLF input: no carriage return in OUT" "$(tr -dc '\r' <"$T/crlf-out.csv" | wc -c | tr -d ' ')" 0
expect_eq "--rejects on CRLF input: the malformed row, then its reason" "$(sed -n 2p "$T/crlf-out.csv")" \
    "$CRBAD,\"$T/crlf-rej.csv:3: malformed CSV: quote inside an unquoted field (column 38)\""

# (in a directory of its own, the shipped rules)
fresh nbsp "$XY_ROOT/rules"
printf 'id,name,city\n%s,Rong\302\240One,rongcheng\n' "$(mkid 371082 19800101 017)" >"$T/nbsp.csv"
run load citizens "$T/nbsp.csv"
expect_rc "a name with a no-break space (U+00A0): loaded" 0
finish
