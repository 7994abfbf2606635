# The data directory: snapshots give the same state as a replay, verify
# finds damage with file and offset, a torn tail is cut, one writer only.
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"
EX="$XY_ROOT/examples"

# overwrite FILE OFFSET BYTES: puts BYTES into FILE at OFFSET (damage).
overwrite() {
    printf '%s' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# first_run DIR: the file of the first event-index run of DIR.
first_run() {
    ls "$1"/ev-*.run | head -n 1
}

# segments DIR: the files of the log's segments, in log order.
segments() {
    ls "$1" | grep -E '^log(\.[0-9]+)?$' | sort -t. -k2,2n
}

# last_segment DIR: the file of the log's last segment.
last_segment() {
    segments "$1" | tail -n 1
}

# every_explain: the explain --json of every example citizen, one per line.
every_explain() {
    tail -n +2 "$EX/citizens.csv" | cut -d, -f1 | while read -r id; do "$XY" explain "$id" --json; done
}

fresh plain "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
setup load contacts "$EX/contacts.csv"
setup load events "$EX/events.csv"
setup advance 2025-06-30
"$XY" stats --json >"$T/plain.stats"
"$XY" list blacklist --json >"$T/plain.list"
every_explain >"$T/plain.explain"

# The same inputs with snapshots taken between them.
fresh snap "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
setup snapshot
setup load contacts "$EX/contacts.csv"
setup snapshot
setup load events "$EX/events.csv"
setup snapshot
setup advance 2025-06-30
run verify
expect_rc "verify on a healthy directory" 0
expect_out "verify counts the batches" "4 batches; 42 citizens, 30 contacts, 188 events, 1 advances"
expect_out "verify checks the snapshot" "snapshot: "
expect_out "verify checks the history index" "trail: "
expect_out "verify checks the event index" "event index: 1 runs ok, 188 ids"
"$XY" stats --json >"$T/snap.stats"
"$XY" list blacklist --json >"$T/snap.list"
every_explain >"$T/snap.explain"
expect_eq "snapshot + log tail gives the same stats as a replay" "$(cmp -s "$T/plain.stats" "$T/snap.stats" && echo same)" same
expect_eq "... the same blacklist" "$(cmp -s "$T/plain.list" "$T/snap.list" && echo same)" same
expect_eq "... the same explanations, byte for byte" "$(cmp -s "$T/plain.explain" "$T/snap.explain" && echo same)" same
run load events "$EX/events.csv"
expect_out "re-sent file after a snapshot: all duplicates" "188 rows, 0 applied, 188 duplicates"

# A flipped byte in the snapshot is found at start-up and by verify.
cp -r "$D" "$T/flip"
size=$(stat -c %s "$T/flip/snapshot")
overwrite "$T/flip/snapshot" $((size / 2)) Z
run --data "$T/flip" stats
expect_rc "a damaged snapshot stops start-up" 2
expect_err "... naming the file and offset" "flip/snapshot:"
run --data "$T/flip" verify
expect_rc "verify finds the damaged snapshot" 2
expect_err "... with its offset" "snapshot section checksum mismatch"

# A flipped byte that still makes a valid state (a letter of a citizen's
# name) is found by the section's checksum, at start-up as by verify.
cp -r "$D" "$T/nameflip"
at=$(grep -boa "Chen Jing" "$T/nameflip/snapshot" | head -n 1 | cut -d: -f1)
overwrite "$T/nameflip/snapshot" "$at" K
run --data "$T/nameflip" stats
expect_rc "a snapshot whose names were changed: start-up stops" 2
expect_err "... on the section's checksum" "nameflip/snapshot:"
expect_err "... saying so" "snapshot section checksum mismatch"
run --data "$T/nameflip" verify
expect_rc "... and verify finds it" 2

# A history index cut short after the snapshot that points into it is
# found by verify too (whole records, but fewer than the snapshot's heads
# reach); explanations stay the same, and a writer rebuilds it.
cp -r "$D" "$T/trailcut"
truncate -s 112 "$T/trailcut/trail"
run --data "$T/trailcut" verify
expect_rc "verify finds a trail cut short" 2
expect_err "... where it ends and what the snapshot reaches" "trailcut/trail:112: ends before byte"
XINYONG_DATA="$T/trailcut" every_explain >"$T/trailcut.explain" 2>/dev/null
expect_eq "explanations with a trail cut short are unchanged" "$(cmp -s "$T/plain.explain" "$T/trailcut.explain" && echo same)" same
# A list entry names the event behind it (a term of the blacklist): looked up
# in the log without the trail, which the warning tells, as explain's does.
run --data "$T/trailcut" list blacklist
expect_out "list with a trail cut short names the event behind an entry" "(event ev-0168)"
expect_err "... and warns that the history index did not serve" "trail) did not serve 1 lookup"
run --data "$T/trailcut" advance 2025-07-01
expect_err "... a writer rebuilds it" "rebuilding the history index"
run --data "$T/trailcut" verify
expect_rc "... after which it verifies" 0

# A damaged history index is found by verify; explanations stay the same
# (they come from the log then), and a writer rebuilds a deleted one.
cp -r "$D" "$T/trailflip"
overwrite "$T/trailflip/trail" 70 Z
run --data "$T/trailflip" verify
expect_rc "verify finds a damaged trail record" 2
expect_err "... with its offset" "trailflip/trail:48: damaged record"
XINYONG_DATA="$T/trailflip" every_explain >"$T/trailflip.explain" 2>/dev/null
expect_eq "explanations with a damaged trail are unchanged" "$(cmp -s "$T/plain.explain" "$T/trailflip.explain" && echo same)" same
rm "$T/trailflip/trail"
run --data "$T/trailflip" advance 2025-06-30
expect_err "a writer rebuilds a deleted trail" "rebuilding the history index"
run --data "$T/trailflip" verify
expect_rc "... which verify then accepts" 0
XINYONG_DATA="$T/trailflip" every_explain >"$T/trailflip2.explain"
expect_eq "... and which explains the same" "$(cmp -s "$T/plain.explain" "$T/trailflip2.explain" && echo same)" same

# A trail of another format version (an earlier xinyong's) is not damage:
# verify says so and exits 0, explanations come from the log, with the
# warning, and the next writer rebuilds it in the current format.
cp -r "$D" "$T/trailold"
overwrite "$T/trailold/trail" 12 v002
run --data "$T/trailold" verify
expect_rc "verify of a trail of another format version: exit 0" 0
expect_out "... says it is not used and why" \
    "trail: of another format version, not used (explain replays the log; the next writer rebuilds it)"
XINYONG_DATA="$T/trailold" every_explain >"$T/trailold.explain" 2>"$T/trailold.err"
expect_eq "... explanations are unchanged" "$(cmp -s "$T/plain.explain" "$T/trailold.explain" && echo same)" same
expect_eq "... and say they came from the log" "$(grep -q 'did not serve' "$T/trailold.err" && echo warned)" warned
run --data "$T/trailold" advance 2025-06-29
expect_err "... the next writer rebuilds it" "rebuilding the history index"
run --data "$T/trailold" verify
expect_out "... in the current format" "records ok"
# A trail whose header is no history index's at all is damage, which
# verify names at offset 0; the next writer replaces it.
cp -r "$D" "$T/trailbad"
overwrite "$T/trailbad/trail" 0 NOTATRAIL
run --data "$T/trailbad" verify
expect_rc "verify of a trail with a foreign header: exit 2" 2
expect_err "... naming it at offset 0" "trailbad/trail:0: not a history index (bad header; delete it to rebuild it)"
run --data "$T/trailbad" advance 2025-06-29
expect_err "... the next writer rebuilds it" "rebuilding the history index"
run --data "$T/trailbad" verify
expect_rc "... after which it verifies" 0

# A damaged run of the event index is found by verify; a missing one makes
# start-up replay the log, with the same state.
cp -r "$D" "$T/runflip"
run_file=$(first_run "$T/runflip")
overwrite "$run_file" 80 Z
run --data "$T/runflip" verify
expect_rc "verify finds a damaged run of the event index" 2
expect_err "... naming it" "checksum mismatch"
# A run whose Bloom filter leaves its entries out (its checksum made to
# match, as a bug writing it would) would let re-sent ids through as new:
# verify checks every entry against the filter. The header's nbloom (u64
# at byte 48) counts the filter's 64-byte blocks at the end of the file;
# the CRC-32 (u32 at byte 56) covers everything after the 64-byte header.
cp -r "$D" "$T/runbloom"
bloom_run=$(first_run "$T/runbloom")
nbloom=$(od -A n -t u8 -j 48 -N 8 "$bloom_run" | tr -d ' ')
dd if=/dev/zero of="$bloom_run" bs=1 seek=$(($(stat -c %s "$bloom_run") - 64 * nbloom)) count=$((64 * nbloom)) \
    conv=notrunc 2>/dev/null
reseal_run() { # RUN: gives RUN's header the CRC-32 of what follows it
    tail -c +65 "$1" | gzip -c | tail -c 8 | head -c 4 | dd of="$1" bs=1 seek=56 conv=notrunc 2>/dev/null
}
reseal_run "$bloom_run"
run --data "$T/runbloom" verify
expect_rc "verify finds a run whose filter lacks its entries" 2
expect_err "... naming the run and why" "$(basename "$bloom_run"):0: an entry is missing from the filter"
# A run whose first two 16-byte entries (from byte 64) are swapped, its
# checksum made to match: a lookup's binary search would miss ids in it.
cp -r "$D" "$T/runorder"
order_run=$(first_run "$T/runorder")
{ dd if="$order_run" bs=1 skip=80 count=16 2>/dev/null; dd if="$order_run" bs=1 skip=64 count=16 2>/dev/null; } \
    >"$T/swapped"
dd if="$T/swapped" of="$order_run" bs=1 seek=64 conv=notrunc 2>/dev/null
reseal_run "$order_run"
run --data "$T/runorder" verify
expect_rc "verify finds a run whose entries are out of order" 2
expect_err "... naming the run and why" "$(basename "$order_run"):0: entries out of order"
rm "$run_file"
run --data "$T/runflip" stats --json
expect_err "a missing run: start-up says it replays the log" "replaying the log"
expect_eq "... and the state is the same" "$OUT" "$(cat "$T/snap.stats")"
run --data "$T/runflip" load events "$EX/events.csv"
expect_out "... and re-sent events are still duplicates" "188 rows, 0 applied, 188 duplicates"

# A run written by another format version (an earlier xinyong): verify
# warns without calling it damage, start-up replays the log, and the next
# snapshot writes the run again in the current format.
cp -r "$D" "$T/runold"
run_file=$(first_run "$T/runold")
overwrite "$run_file" 13 000
run --data "$T/runold" verify
expect_rc "verify accepts a run of another format version" 0
expect_err "... with a warning naming it" "run of another format version"
run --data "$T/runold" stats --json
expect_err "... which start-up does not use: it replays the log" "replaying the log"
expect_eq "... to the same state" "$OUT" "$(cat "$T/snap.stats")"
run --data "$T/runold" snapshot
run --data "$T/runold" verify
expect_rc "... and after the next snapshot verify is clean" 0
expect_eq "... without the warning" "$(case "$ERR" in *"another format"*) echo warned ;; *) echo quiet ;; esac)" quiet

# Files named as runs that are not whole runs: verify names each and says
# what is wrong (a run under another run's name, one shorter than its
# 64-byte header, a directory), and the next snapshot removes the files it
# does not list, as it does the temporary file of a spill that was stopped.
cp -r "$D" "$T/runbad"
run_file=$(first_run "$T/runbad")
run_name=$(basename "$run_file" .run)
cp "$run_file" "$T/runbad/$run_name""0.run"
head -c 63 "$run_file" >"$T/runbad/ev-1-2.run"
mkdir "$T/runbad/ev-3-4.run"
: >"$T/runbad/ev-5-6.run.tmp"
run --data "$T/runbad" verify
expect_rc "verify finds files named as runs that are not" 2
expect_err "... a run under another name" "runbad/$run_name""0.run:0: bad header"
expect_err "... a run shorter than its header" "runbad/ev-1-2.run:0: shorter than its header"
expect_err "... a directory, with the reason" "runbad/ev-3-4.run: cannot read: Is a directory"
expect_eq "... and says nothing of the spill's temporary file" "$(case "$ERR" in *run.tmp*) echo named ;; *) echo quiet ;; esac)" quiet
rmdir "$T/runbad/ev-3-4.run"
run --data "$T/runbad" snapshot
expect_eq "the next snapshot removes the files it does not list" "$(ls "$T/runbad" | grep -c '^ev-.*run')" 1
run --data "$T/runbad" verify
expect_rc "... after which verify is clean" 0

# A snapshot written by another format version (an earlier xinyong, whose engine may have
# given another state for the same log): not damage; start-up replays the log, verify says
# the snapshot is not used, and `xinyong snapshot` writes a current one.
cp -r "$D" "$T/snapold"
overwrite "$T/snapold/snapshot" 13 v08
run --data "$T/snapold" stats --json
expect_rc "a snapshot of another format version: start-up goes on" 0
expect_err "... replaying the log, and says how to write a current one" "'xinyong snapshot', writes a current one"
expect_eq "... to the same state" "$OUT" "$(cat "$T/snap.stats")"
run --data "$T/snapold" verify
expect_rc "... verify accepts it" 0
expect_out "... and says it is not used" "snapshot: of another format version, not used"
cp -r "$T/snapold" "$T/snapold2"
run --data "$T/snapold" snapshot
run --data "$T/snapold" stats --json
expect_eq "... after 'xinyong snapshot' no warning" "$ERR" ""
# A writer replaces such a snapshot after its first write, whatever the log's size.
run --data "$T/snapold2" advance 2030-01-01
expect_rc "... a writer's first write goes on" 0
run --data "$T/snapold2" verify
expect_out "... and a current snapshot replaced the old one" "snapshot: "
expect_eq "... one that is used" "$(case "$OUT" in *"not used"*) echo unused ;; *) echo used ;; esac)" used
run --data "$T/snapold2" stats --json
expect_eq "... so start-up no longer warns" "$ERR" ""

# A directory where the snapshot should be is not read as one: start-up
# and verify stop, naming it and why, and change nothing.
cp -r "$D" "$T/snapdir"
rm "$T/snapdir/snapshot"
mkdir -p "$T/snapdir/snapshot/x"
run --data "$T/snapdir" stats
expect_rc "a directory in place of the snapshot stops start-up" 2
expect_err "... naming it and why" "snapdir/snapshot: cannot read: not a regular file"
run --data "$T/snapdir" verify
expect_rc "... and verify fails" 2
expect_err "... saying why" "snapdir/snapshot: cannot read: not a regular file"
expect_eq "... leaving it there" "$(ls "$T/snapdir/snapshot")" x
# So is a snapshot that cannot be opened (a link to itself).
rm -r "$T/snapdir/snapshot"
ln -s snapshot "$T/snapdir/snapshot"
run --data "$T/snapdir" verify
expect_rc "a snapshot that cannot be opened: verify fails" 2
expect_err "... saying why" "snapdir/snapshot: cannot read: Too many levels of symbolic links"
# And a FIFO, whose open would wait for a writer that never comes: start-up
# and verify refuse it at once (a hang would end in timeout's status 124).
rm "$T/snapdir/snapshot"
mkfifo "$T/snapdir/snapshot"
for cmd in stats verify; do
    timeout 10 "$XY" --data "$T/snapdir" $cmd >"$T/out" 2>"$T/err"
    RC=$?
    ERR=$(cat "$T/err")
    expect_rc "a FIFO in place of the snapshot: $cmd stops at once" 2
    expect_err "... saying why" "snapdir/snapshot: cannot read: not a regular file"
done

# A rules copy that no longer compiles: verify cannot check the snapshot's
# contents against it, and says so after the rules' own error.
cp -r "$D" "$T/rulesbad"
echo "bogus" >>"$T/rulesbad/rules/national.rules"
run --data "$T/rulesbad" verify
expect_rc "verify with a rules copy that does not compile: exit 2" 2
expect_err "... the rules' error, with its place" \
    "rulesbad/rules/national.rules:$(wc -l <"$T/rulesbad/rules/national.rules"):1: unknown directive 'bogus'"
expect_err "... and the snapshot left unchecked" \
    "rulesbad/rules: the ruleset does not compile; the snapshot's contents were not checked"
expect_not_out "... which is not called ok" "snapshot: "

# The snapshot's framing: each kind of damage is named with its offset.
# A file shorter than the 32-byte header, one whose magic is not ours, one
# cut inside the first section's 16-byte header (at byte 32), and a section
# header whose tag (the low half of the u32 at byte 32) is 0.
snapshot_damage() { # NAME WHAT: verify and start-up name WHAT in $T/NAME
    run --data "$T/$1" verify
    expect_rc "$1: verify finds the damaged snapshot" 2
    expect_err "$1: ... naming the file, the offset and what" "$1/snapshot:$2"
    run --data "$T/$1" stats
    expect_rc "$1: start-up stops" 2
    expect_err "$1: ... saying the same" "$1/snapshot:$2"
}
cp -r "$D" "$T/snapshort"
truncate -s 31 "$T/snapshort/snapshot"
snapshot_damage snapshort "0: snapshot header is missing"
cp -r "$D" "$T/snapmagic"
overwrite "$T/snapmagic/snapshot" 0 Y
snapshot_damage snapmagic "0: not a xinyong snapshot (bad header)"
cp -r "$D" "$T/snapcut"
truncate -s 40 "$T/snapcut/snapshot"
snapshot_damage snapcut "32: snapshot is cut short"
cp -r "$D" "$T/snaptag"
printf '\000\000' | dd of="$T/snaptag/snapshot" bs=1 seek=32 conv=notrunc 2>/dev/null
snapshot_damage snaptag "32: bad snapshot section header"

# A flipped byte in the middle of the log, with committed batches after it.
cp -r "$D" "$T/logflip"
rm -f "$T/logflip/snapshot"
overwrite "$T/logflip/log" 200 Z
run --data "$T/logflip" stats
expect_rc "a damaged log record stops start-up" 2
expect_err "... naming the log and the record's offset" "logflip/log:"
run --data "$T/logflip" verify
expect_rc "verify finds the damaged record" 2
# The offset named is the damaged record's own, exactly: here the first
# record, right after the log's 16-byte header, whose checksum is flipped.
cp -r "$D" "$T/logcrc"
rm -f "$T/logcrc/snapshot"
overwrite "$T/logcrc/log" 20 Z
run --data "$T/logcrc" stats
expect_rc "a record failing its checksum, batches after it: start-up stops" 2
expect_err "... naming the record's own offset" "logcrc/log:16: damaged record with committed batches after it"
run --data "$T/logcrc" verify
expect_rc "... and verify" 2
expect_err "... naming the same offset" "logcrc/log:16: damaged record with committed batches after it"

# A committed batch holding a record of a type xinyong never writes (its
# checksum valid: a bug, or a forged file): start-up refuses to decode it,
# and verify names the type and the record's log offset.
# frame FILE: FILE's bytes framed as a log record (length, CRC-32, payload);
# gzip's trailer holds the CRC-32 (zlib's polynomial) of what it read.
frame() {
    n=$(wc -c <"$1")
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24)))"
    gzip -c <"$1" | tail -c 8 | head -c 4
    cat "$1"
}
cp -r "$D" "$T/logtype"
at=$(wc -c <"$T/logtype/log")
printf '\011' >"$T/rec.bin"
printf '\005\001\000\000\000\000\000\000\000' >"$T/commit.bin"
{ frame "$T/rec.bin"; frame "$T/commit.bin"; } >>"$T/logtype/log"
run --data "$T/logtype" verify
expect_rc "verify finds a committed record of an unknown type" 2
expect_err "... naming the type and its log offset" "unknown record type 9 at log offset $at"
rm -f "$T/logtype/snapshot"
run --data "$T/logtype" stats
expect_rc "... which start-up does not apply" 2
expect_err "... saying where a record does not decode" \
    "logtype/log:$at: record does not decode or does not fit the log before it (the log is corrupt)"
# Committed records that decode but that the state cannot take (their
# checksums valid: a forged file): the first citizen registered again, and
# an event (id zz, on a valid day) of a citizen the directory does not
# have. Start-up refuses the log, whichever.
cp -r "$D" "$T/logstate"
rm -f "$T/logstate/snapshot"
first=$(od -An -tu4 -j16 -N4 "$T/logstate/log" | tr -d ' ')
dd if="$T/logstate/log" of="$T/rec.bin" bs=1 skip=24 count="$first" 2>/dev/null
# type 3, day 20000, citizen 0x7fffff00, behaviour and agency 0, no amount, no counterpart
printf '\003\040\116\000\000''\000\377\377\177''\000\000\000\000\000\000\000\000'\
'\377\377\377\377\377\377\377\377''\377\377\377\377''\002zz' >"$T/stranger.bin"
for rec in rec stranger; do
    cp "$T/logstate/log" "$T/logstate.log"
    at=$(wc -c <"$T/logstate.log")
    { frame "$T/$rec.bin"; frame "$T/commit.bin"; } >>"$T/logstate/log"
    run --data "$T/logstate" stats
    expect_rc "a committed $rec record the state cannot take: start-up stops" 2
    expect_err "... saying where the log is corrupt" \
        "logstate/log:$at: record does not decode or does not fit the log before it (the log is corrupt)"
    cp "$T/logstate.log" "$T/logstate/log"
done

# A snapshot that covers more of the log than the log holds (the log was
# cut back or replaced after it was written): start-up and verify refuse
# it, as acknowledged batches would be missing from the log.
cp -r "$D" "$T/snapover"
covers=$("$XY" --data "$T/snapover" verify | sed -n 's/.*covers the log up to byte \([0-9]*\)$/\1/p')
truncate -s 16 "$T/snapover/log"
run --data "$T/snapover" stats
expect_rc "a snapshot covering more than the log: start-up stops" 2
expect_err "... saying how much it covers" "snapover/snapshot: covers $covers bytes of a log of 16"
run --data "$T/snapover" verify
expect_rc "... and verify" 2
expect_err "... saying so" "snapover/snapshot: covers $covers bytes of the log, which has 16"

# Bytes after the snapshot's last section are damage too.
cp -r "$D" "$T/snaptail"
printf 'trailing' >>"$T/snaptail/snapshot"
run --data "$T/snaptail" stats
expect_rc "bytes after a snapshot's last section: start-up stops" 2
expect_err "... saying where and how many" "bytes after the last snapshot section"
run --data "$T/snaptail" verify
expect_rc "... and verify" 2
expect_err "... saying so" "8 bytes after the last snapshot section"

# explain_corrupt DIR ID: what explain says when the log does not give ID's state.
explain_corrupt() {
    printf '%s' "xinyong: $1: the state of $2 does not add up to the events stored for it: the log is damaged" \
        " or the snapshot does not match it (\`xinyong verify\` checks the files; without DATA/snapshot the" \
        " state is rebuilt from the log)"
}

# A snapshot of another directory whose log has the same size: every section
# checks out, but the state is not the one this log gives. An explanation,
# which must add up to the score, is refused rather than made up.
mkdir -p "$T/forge-r"
printf 'city f\nregion 110101\nscore base 100 min 0 max 200\ngrade g from 0\nbehaviour up points +10 category c\nbehaviour dn points -10 category c\nagency a reports category c\n' \
    >"$T/forge-r/f.rules"
ANN=$(mkid 110101 19800101 001)
csv "$T/forge-c.csv" "id,name" "$ANN,Ann"
for way in up dn; do
    fresh "forge-$way" "$T/forge-r"
    setup load citizens "$T/forge-c.csv"
    csv "$T/forge-$way.csv" "id,date,citizen,behaviour,agency" "f1,2024-01-01,$ANN,$way,a"
    setup load events "$T/forge-$way.csv"
    setup snapshot
done
cp "$T/forge-up/snapshot" "$T/forge-up/"ev-*.run "$T/forge-dn/"
run explain "$ANN"
expect_rc "a snapshot that does not match the log: explain exits 2" 2
expect_eq "... and says so, naming the citizen" "$(printf '%s\n' "$ERR" | tail -n 1)" \
    "$(explain_corrupt "$T/forge-dn" "$ANN")"
expect_eq "... printing no explanation" "$OUT" ""
rm "$T/forge-dn/snapshot"
expect_eq "... which the log alone gives once the snapshot is gone" "$(qe "$ANN" .raw)" 90

# A record damaged in the part of the log a snapshot covers: start-up does not
# read it, and an explanation from the history index does not need it, but one
# from the whole log does not read, and says so (verify names the record).
fresh logsnap "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
setup load events "$EX/events.csv"
setup snapshot
overwrite "$D/log" 200 Z
FIRST=$(sed -n 2p "$EX/citizens.csv" | cut -d, -f1)
run explain "$FIRST"
expect_rc "a damaged record the snapshot covers: explain from the history index answers" 0
run explain "$FIRST" --from-log
expect_rc "... explain --from-log exits 2" 2
expect_eq "... and says the log may be damaged" "$ERR" "$(explain_corrupt "$D" "$FIRST")"
expect_eq "... printing no explanation" "$OUT" ""
run verify
expect_rc "... which verify finds" 2
expect_err "... naming the record" "logsnap/log:"
use snap

# A torn tail (a batch cut short by a crash) is not an error: readers skip
# it, the next writer cuts it off with a warning, nothing committed is lost.
cp -r "$D" "$T/torn"
before=$("$XY" --data "$T/torn" stats --json)
torn_at=$(wc -c <"$T/torn/$(last_segment "$T/torn")")
printf '\060\000\000\000\001\002\003\004partial-batch' >>"$T/torn/$(last_segment "$T/torn")"
run --data "$T/torn" stats --json
expect_rc "readers open a log with a torn tail" 0
expect_eq "... and see every committed batch" "$OUT" "$before"
run --data "$T/torn" verify
expect_out "verify reports the unfinished batch" "after the last commit"
run --data "$T/torn" advance 2025-07-01
expect_rc "a writer cuts the torn tail" 0
expect_err "... with a warning" "dropping 21 bytes of an unfinished batch at offset $torn_at"
run --data "$T/torn" verify
expect_rc "... after which the log verifies" 0
expect_not_out "... with nothing after the last commit" "after the last commit"

# A torn tail that ends in what looks like a commit record whose checksum
# fails (a crash left its last bytes unwritten) is still a torn tail: only
# a valid commit record after a damaged one means acknowledged data lies
# beyond it.
cp -r "$D" "$T/torncommit"
before=$("$XY" --data "$T/torncommit" stats --json)
printf '\060\000\000\000\001\002\003\004partial-batch\011\000\000\000\001\002\003\004\005\000\000\000\000\000\000\000\000' \
    >>"$T/torncommit/$(last_segment "$T/torncommit")"
run --data "$T/torncommit" stats --json
expect_rc "a torn tail ending in a commit record that fails its checksum: readers open the log" 0
expect_eq "... and see every committed batch" "$OUT" "$before"
run --data "$T/torncommit" verify
expect_rc "... verify takes it for an unfinished batch" 0
expect_out "... and says so" "38 bytes after the last commit"
expect_not_out "... counting no segments in a log of one" "segments"
# A rules file of the copy edited since init: verify finds it.
cp -r "$D" "$T/rulesedit"
echo "# edited" >>"$T/rulesedit/rules/beijing.rules"
run --data "$T/rulesedit" verify
expect_rc "a rules copy edited since init: verify fails" 2
expect_err "... saying so" "not the rules the directory was made with"
run --data "$T/torncommit" advance 2025-07-01
expect_rc "... a writer cuts it" 0
expect_err "... with a warning" "dropping 38 bytes of an unfinished batch"
# A damaged record whose only valid commit record after it is the log's
# last 17 bytes (a copy of the commit record that ends the log): the
# search for one reaches the very end of the log. A record of length 0
# (8 zero bytes, whose checksum of nothing matches) is damage too, and so
# are three stray bytes, the commit record starting inside what would be
# the damaged record's header.
damage_then_commit() { # NAME BYTES: $T/NAME, a copy of $D whose log ends in BYTES and a commit record
    cp -r "$D" "$T/$1"
    seg="$T/$1/$(last_segment "$T/$1")"
    tail -c 17 "$seg" >"$T/commit.rec"
    printf "$2" >>"$seg"
    cat "$T/commit.rec" >>"$seg"
    run --data "$T/$1" stats
    expect_rc "$1: a damaged record, then a commit record ending the log: start-up stops" 2
    expect_err "$1: ... naming the damage" "damaged record with committed batches after it"
}
damage_then_commit lastcommit '\004\000\000\000\001\002\003\004junk'
damage_then_commit zerorecord '\000\000\000\000\000\000\000\000'
damage_then_commit strayheader '\001\002\003'

# A log in several segments (XINYONG_SEGMENT_BYTES makes them small)
# holds the same state and explanations as one; damage in a segment that
# later ones follow is corruption naming it, as is a missing segment; a
# last segment cut short in its header (a crash while starting it) holds
# nothing and the next writer removes it. No automatic snapshot may cover
# the damaged segment, whatever the environment sets.
every=${XINYONG_SNAPSHOT_EVERY-}
unset XINYONG_SNAPSHOT_EVERY
export XINYONG_SEGMENT_BYTES=3000
fresh seg "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
setup load contacts "$EX/contacts.csv"
setup load events "$EX/events.csv"
setup advance 2025-06-30
unset XINYONG_SEGMENT_BYTES
nseg=$(ls "$D" | grep -cE '^log\.[0-9]+$')
expect_eq "small segments: the log is in several files" "$([ "$nseg" -ge 2 ] && echo several)" several
run stats --json
expect_eq "... with the same state as one segment" "$OUT" "$(cat "$T/plain.stats")"
every_explain >"$T/seg.explain"
expect_eq "... and the same explanations" "$(cmp -s "$T/plain.explain" "$T/seg.explain" && echo same)" same
run verify
expect_rc "... which verify accepts" 0
expect_out "... counting the segments" "segments"
cp -r "$D" "$T/segflip"
overwrite "$T/segflip/log" 200 Z
run --data "$T/segflip" stats
expect_rc "a damaged record in a segment before the last stops start-up" 2
expect_err "... naming the segment and the offset" "segflip/log:"
# The end of a segment that later segments follow is no torn tail: a
# damaged commit record there (no commit after it in its segment) is
# corruption, not a batch to skip.
cp -r "$D" "$T/segcommit"
first=$(wc -c <"$T/segcommit/log")
overwrite "$T/segcommit/log" $((first - 13)) Z
run --data "$T/segcommit" stats
expect_rc "a damaged commit record ending a segment that later ones follow stops start-up" 2
expect_err "... naming the segment" "segcommit/log:"
expect_err "... as damage before later segments" "damaged or unfinished batch in a segment that later segments follow"
run --data "$T/segcommit" verify
expect_rc "... and verify finds it" 2
if [ -n "$every" ]; then export XINYONG_SNAPSHOT_EVERY="$every"; fi
cp -r "$D" "$T/seggap"
rm "$T/seggap/$(segments "$T/seggap" | sed -n 2p)"
run --data "$T/seggap" stats
expect_rc "a missing segment stops start-up" 2
expect_err "... saying where the log breaks" "does not begin where"
# Without its first segment, DATA/log, a directory holds no log; a segment
# whose header is not a log's, or one in the middle cut short in its header
# (only the last one can be a crash's), is damage.
cp -r "$D" "$T/segfirst"
rm "$T/segfirst/log"
run --data "$T/segfirst" verify
expect_rc "no first segment: verify fails" 2
expect_err "... finding no log" "segfirst: not a data directory (no log"
cp -r "$D" "$T/segmagic"
overwrite "$T/segmagic/$(segments "$T/segmagic" | sed -n 2p)" 0 Y
run --data "$T/segmagic" stats
expect_rc "a segment with a bad header stops start-up" 2
expect_err "... naming it" "segmagic/$(segments "$D" | sed -n 2p):0: not a xinyong log (bad header)"
cp -r "$D" "$T/segshort"
second=$(segments "$T/segshort" | sed -n 2p)
third=$(segments "$T/segshort" | sed -n 3p)
for f in $(segments "$T/segshort" | sed -n '4,$p'); do rm "$T/segshort/$f"; done
truncate -s 10 "$T/segshort/$second"
mv "$T/segshort/$third" "$T/segshort/log.$((${second#log.} + 10))"
run --data "$T/segshort" stats
expect_rc "a segment before the last cut short in its header stops start-up" 2
expect_err "... naming it" "segshort/$second: log header is missing"
# Files named like segments but not log.N with N a log offset (a copy
# kept by hand, log.0, a name too long for an offset) are none of the log.
cp -r "$D" "$T/segstray"
for f in log.bak log.0 log. log.12x log.123456789012345678901; do
    cp "$T/segstray/log" "$T/segstray/$f"
done
run --data "$T/segstray" verify
expect_rc "files named like segments but not log.N: verify accepts the log" 0
expect_eq "... and counts its segments only" "$(printf '%s\n' "$OUT" | sed -n 1p)" \
    "$("$XY" --data "$D" verify | sed -n 1p)"
run --data "$T/segstray" advance 2025-07-01
expect_rc "... a writer goes on" 0
# A segment that is a symbolic link to nothing (a log moved by hand) is
# named with the reason by every command, verify included.
cp -r "$D" "$T/segdangle"
rm "$T/segdangle/$(last_segment "$T/segdangle")"
ln -s "$T/nowhere" "$T/segdangle/$(last_segment "$D")"
for cmd in stats verify "advance 2025-07-01"; do
    run --data "$T/segdangle" $cmd
    expect_rc "a dangling log segment: $cmd fails" 2
    expect_err "... naming the segment and why" "segdangle/$(last_segment "$D"): cannot read: No such file or directory"
done
# A snapshot covering batches of a last segment later cut short in its
# header (as if lost in a crash while it was being started) covers more
# than the log: acknowledged batches are missing, which start-up says.
cp -r "$D" "$T/segsnap"
setup --data "$T/segsnap" snapshot
last=$(last_segment "$T/segsnap")
covers=$("$XY" --data "$T/segsnap" verify | sed -n 's/.*covers the log up to byte \([0-9]*\)$/\1/p')
truncate -s 5 "$T/segsnap/$last"
run --data "$T/segsnap" stats
expect_rc "a snapshot covering a last segment since cut short in its header: start-up stops" 2
expect_err "... saying how much it covers" "segsnap/snapshot: covers $covers bytes of a log of"
run --data "$T/segsnap" verify
expect_rc "... and verify" 2
cp -r "$D" "$T/seghead"
last=$(last_segment "$T/seghead")
base=${last#log}
base=${base#.}
end=$(( ${base:-0} + $(wc -c <"$T/seghead/$last") ))
printf 'XINYO' >"$T/seghead/log.$end"
run --data "$T/seghead" stats --json
expect_rc "a last segment cut short in its header: readers open the log" 0
expect_eq "... and see every batch" "$OUT" "$(cat "$T/plain.stats")"
run --data "$T/seghead" advance 2025-07-01
expect_rc "... a writer goes on" 0
expect_err "... removing it" "removing a log segment"
run --data "$T/seghead" verify
expect_rc "... after which the log verifies" 0

# A new segment starts only when the next batch would take the last one
# past XINYONG_SEGMENT_BYTES: a batch that fills it exactly (an advance
# is 30 bytes) stays in it, one byte more starts log.N.
fresh roll "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
size=$(wc -c <"$D/log")
XINYONG_SEGMENT_BYTES=$((size + 30)) "$XY" advance 2025-01-01 >/dev/null 2>&1
expect_eq "a batch that fills the segment exactly stays in it" "$(wc -c <"$D/log") $(segments "$D" | wc -l)" \
    "$((size + 30)) 1"
size=$((size + 30))
XINYONG_SEGMENT_BYTES=$((size + 29)) "$XY" advance 2025-01-02 >/dev/null 2>&1
expect_eq "... one that would take it a byte past starts a segment at that log offset" \
    "$(wc -c <"$D/log") $(segments "$D" | tr '\n' ' ')" "$size log log.$size "
# A segment that holds nothing but its header takes a batch larger than
# XINYONG_SEGMENT_BYTES, written whole or in parts: a new one would only
# leave it empty behind.
for big in XINYONG_SEGMENT_BYTES=100 XINYONG_SPILL_BYTES=1000; do
    fresh bigfirst "$XY_ROOT/rules"
    env "$big" "$XY" load citizens "$EX/citizens.csv" >/dev/null 2>&1
    expect_eq "$big: a large batch goes into an empty first segment" "$(segments "$D" | tr '\n' ' ')" "log "
    run stats --json
    expect_eq "... and is all there" "$(jget "[.cities[].citizens] | add")" "$(tail -n +2 "$EX/citizens.csv" | wc -l)"
done

# A load written to the log in parts as it is encoded (XINYONG_SPILL_BYTES,
# here 1 kB; by default 64 MB) gives the same state as one written whole,
# as loaded, from a snapshot and replayed; a reader opening while the parts
# of an unfinished batch are in the log sees the batches before it; a
# writer cuts them off (a crash in the middle of such a load).
spill_answers() { # FILE: stats, the blacklist and every explanation
    { "$XY" stats --json; "$XY" list blacklist --json; every_explain; } >"$1" 2>&1
}
fresh whole "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
setup load contacts "$EX/contacts.csv"
setup load events "$EX/events.csv"
spill_answers "$T/whole.ans"
fresh parts "$XY_ROOT/rules"
export XINYONG_SPILL_BYTES=1000
setup load citizens "$EX/citizens.csv"
setup load contacts "$EX/contacts.csv"
setup load events "$EX/events.csv"
spill_answers "$T/parts.ans"
expect_eq "a load written in parts: the same state" "$(cmp "$T/whole.ans" "$T/parts.ans" && echo same)" same
setup snapshot
rm -f "$D/snapshot"
spill_answers "$T/parts.replay"
expect_eq "... replayed" "$(cmp "$T/whole.ans" "$T/parts.replay" && echo same)" same
unset XINYONG_SPILL_BYTES
run verify
expect_rc "... and the log verifies" 0
# The parts of an unfinished batch: what the log holds while such a load
# runs, or after a crash in it. The events' records, without their commit
# record, at the end of the log.
fresh unfinished "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
setup load contacts "$EX/contacts.csv"
run stats --json
before=$OUT
size=$(wc -c <"$D/log")
cp -r "$T/parts" "$T/donor"
donor_last=$(last_segment "$T/donor")
# The donor's last segment holds its events' batch after the segment's
# header (16 bytes), then the batch's commit record (17 bytes).
head -c $(($(wc -c <"$T/donor/$donor_last") - 17)) "$T/donor/$donor_last" | tail -c +17 >"$T/parts.bin"
use unfinished
cat "$T/parts.bin" >>"$D/log"
run stats --json
expect_eq "readers see the batches before an unfinished one" "$OUT" "$before"
run verify
expect_rc "... verify tells an unfinished batch from damage" 0
run advance 2025-07-01
expect_rc "a writer opens" 0
expect_err "... dropping the unfinished batch" "dropping $(wc -c <"$T/parts.bin") bytes of an unfinished batch"
expect_eq "... back to the last commit (then the advance: 30 bytes)" "$(wc -c <"$D/log")" $((size + 30))
# An atomic file whose bad row comes after parts were written (its rows
# after that are read for their messages, their records dropped): refused,
# nothing applied, the parts cut from the log again.
use parts
awk -F, 'NR == 1 { print; next } NR == 100 { print "late-bad,2024-13-01,x,y,z," } { sub(/^[^,]*/, "late-" NR); print }' \
    "$EX/events.csv" >"$T/late.csv"
run stats --json
before=$OUT
logs=$(cat "$D"/log* | wc -c)
XINYONG_SPILL_BYTES=1000 "$XY" load events "$T/late.csv" >"$T/out" 2>"$T/err"
RC=$?
ERR=$(cat "$T/err")
expect_rc "a bad row after parts were written: refused" 1
run stats --json
expect_eq "... nothing applied" "$OUT" "$before"
expect_eq "... no part left in the log (a header at most)" "$(($(cat "$D"/log* | wc -c) - logs <= 16))" 1
run verify
expect_rc "... and the log verifies" 0

# One writer at a time; readers go on.
if command -v flock >/dev/null 2>&1; then
    flock "$D" sleep 3 &
    sleep 0.5
    run advance 2025-07-02
    expect_rc "a second writer is refused" 2
    expect_err "... with a clear message" "another xinyong process is writing"
    expect_eq "... said once" "$(printf '%s\n' "$ERR" | wc -l)" 1
    run stats
    expect_rc "readers work while a writer holds the lock" 0
    wait
fi
# The lock is the directory's: a writer that waits for its input (a pipe
# held open) keeps a second one out, whatever files are deleted meanwhile.
mkfifo "$T/feed"
"$XY" load events "$T/feed" >"$T/feed.out" 2>&1 &
writer=$!
exec 3>"$T/feed"
sleep 0.5
rm -f "$D/lock"
run advance 2025-07-03
expect_rc "a second writer is refused while one waits for its input, lock file deleted or not" 2
expect_err "... with a clear message" "another xinyong process is writing"
expect_eq "... said once" "$(printf '%s\n' "$ERR" | wc -l)" 1
printf 'id,date,citizen,behaviour,agency\n' >&3
exec 3>&-
wait $writer
expect_eq "... and the first writer's load goes through" "$?" 0
run advance 2025-07-03
expect_rc "... after which the next writer gets in" 0

# A snapshot falls due once the log has grown by XINYONG_SNAPSHOT_EVERY
# bytes, not one byte later: a load that grows it by exactly that much
# writes one, and with the setting one byte more it does not.
fresh every "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
grown=$(stat -c %s "$D/log")
for at in $grown $((grown + 1)); do
    fresh "every$at" "$XY_ROOT/rules"
    XINYONG_SNAPSHOT_EVERY=$at "$XY" load citizens "$EX/citizens.csv" >/dev/null 2>&1
    if [ -e "$D/snapshot" ]; then echo written; else echo none; fi
done >"$T/every.txt"
expect_eq "a log grown by exactly XINYONG_SNAPSHOT_EVERY: a snapshot is written" "$(tr '\n' ' ' <"$T/every.txt")" "written none "
# An advance to the day it is already: nothing to do, and no error.
run advance 2025-07-03
run advance 2025-07-03
expect_rc "an advance to today: accepted" 0
finish
