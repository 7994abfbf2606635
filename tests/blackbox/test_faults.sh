# Fault injection through an LD_PRELOAD shim (tests/fault/fault.c): ENOSPC
# and EIO on the log's write and fsync, and ENOSPC reserving its space, give
# a clear error (exit 2), apply nothing, and leave a store that opens with
# everything acknowledged before. The write goes to a second thread once the
# space is reserved; a file system that cannot reserve (EOPNOTSUPP) gets it
# written first, with the same guarantees.
. "$XY_ROOT/tests/blackbox/lib.sh"
. "$XY_ROOT/tests/blackbox/scenario.sh"
shim_setup
EX="$XY_ROOT/examples"
fresh f "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
setup load contacts "$EX/contacts.csv"
before=$("$XY" stats --json)
for fault in write:ENOSPC write:EIO fsync:ENOSPC fsync:EIO fallocate:ENOSPC \
    fallocate:EOPNOTSUPP,write:ENOSPC fallocate:EOPNOTSUPP,fsync:EIO; do
    LD_PRELOAD="$SHIM" XY_FAULT=$fault "$XY" load events "$EX/events.csv" >"$T/out" 2>"$T/err"
    RC=$?
    ERR=$(cat "$T/err")
    expect_rc "$fault on the log: storage error" 2
    case $fault in
    *ENOSPC) expect_err "$fault: says so" "no space left on device" ;;
    *) expect_err "$fault: says so" "input/output error" ;;
    esac
    run stats --json
    expect_eq "$fault: nothing of the load applied, all before kept" "$OUT" "$before"
    run verify
    expect_rc "$fault: the store verifies" 0
done
# The same when the load would start a new log segment: the segment is
# not left behind.
for fault in write:ENOSPC fsync:EIO fallocate:ENOSPC; do
    LD_PRELOAD="$SHIM" XY_FAULT=$fault XINYONG_SEGMENT_BYTES=1000 "$XY" load events "$EX/events.csv" >"$T/out" 2>"$T/err"
    RC=$?
    ERR=$(cat "$T/err")
    expect_rc "$fault starting a new log segment: storage error" 2
    expect_eq "... no segment left behind" "$(ls "$D" | grep -cE '^log\.[0-9]+$')" 0
    run stats --json
    expect_eq "... nothing applied, all before kept" "$OUT" "$before"
done
LD_PRELOAD="$SHIM" XY_FAULT=write:ENOSPC XY_FAULT_FILE=/snapshot.tmp "$XY" snapshot >/dev/null 2>"$T/err"
RC=$?
ERR=$(cat "$T/err")
expect_rc "ENOSPC writing a snapshot: storage error" 2
run stats --json
expect_eq "... and the store is unharmed" "$OUT" "$before"
# A file system that refuses direct I/O, for the writes or already at the
# open, gets the snapshot written through the page cache: the same
# snapshot, used by the next start-up.
for fault in write:DIRECT open:DIRECT; do
    LD_PRELOAD="$SHIM" XY_FAULT=$fault XY_FAULT_FILE=/snapshot.tmp "$XY" snapshot >/dev/null 2>"$T/err"
    RC=$?
    ERR=$(cat "$T/err")
    expect_rc "snapshot where $fault fails: written all the same" 0
    run verify
    expect_out "... and whole" "snapshot: $(stat -c %s "$D/snapshot") bytes ok, covers the log up to byte $(stat -c %s "$D/log")"
    run stats --json
    expect_eq "... the same state from it" "$OUT" "$before"
done
# A crash after the batch's space was reserved and before any of it was
# written: nothing of it applied, and the next writer gives the space back.
LD_PRELOAD="$SHIM" XY_FAULT=write:SIGKILL XINYONG_SEGMENT_BYTES=1000000000 XINYONG_SPILL_BYTES=1000000000 \
    "$XY" load events "$EX/events.csv" \
    >"$T/out" 2>"$T/err"
RC=$?
ERR=$(cat "$T/err")
seg="$D/$(ls "$D" | grep -E '^log(\.[0-9]+)?$' | sort -t. -k2,2n | tail -1)"
slack() { echo $(($(stat -c %b "$seg") * 512 - $(stat -c %s "$seg"))); }
expect_rc "killed at the log's write: a crash" 137
expect_eq "... the batch's space reserved past the segment's end" "$(($(slack) > 4096))" 1
run stats --json
expect_eq "... nothing of it applied" "$OUT" "$before"
run snapshot
expect_rc "the next writer opens" 0
expect_eq "... and gives the reserved space back" "$(($(slack) < 4096))" 1
LD_PRELOAD="$SHIM" XY_FAULT=fallocate:EOPNOTSUPP "$XY" load events "$EX/events.csv" >"$T/out" 2>"$T/err"
RC=$?
OUT=$(cat "$T/out")
expect_rc "after the faults the same load goes through, where space cannot be reserved" 0
expect_out "... whole" "188 applied"
run verify
expect_rc "... and the store verifies" 0
run load events "$EX/events.csv"
expect_rc "sent again" 0
expect_out "... nothing new" "188 rows, 0 applied, 188 duplicates"
# A load written to the log in parts as it is encoded (XINYONG_SPILL_BYTES,
# here parts of 2 kB; by default 64 MB): a fault at its first part (its new
# segment's header), at the third part's write (XY_FAULT_SKIP: two writes
# pass), at the writeback of a part (which an events load waits for before
# it drops the part from the page cache), or at the sync of the whole batch
# leaves nothing of it applied and no part of it in the log. So does a
# fault at the write of its last part with the commit record, or at the
# reservation of its space (the fifth: four parts pass, into the segment
# an earlier fault left with its header only), or at the sync of the whole
# batch when no second thread can be made to wait for it. The example's
# events again, under ids of their own:
awk -F, 'NR == 1 { print; next } { sub(/^[^,]*/, "more-" NR); print }' "$EX/events.csv" >"$T/more.csv"
run stats --json
before=$OUT
log_bytes() { cat "$D"/log* | wc -c; }
segs() { ls "$D" | grep -cE '^log\.[0-9]+$'; }
size0=$(log_bytes)
segs0=$(segs)
for fault in write:ENOSPC write:EIO fsync:EIO fallocate:ENOSPC fallocate:EOPNOTSUPP,write:ENOSPC \
    write:ENOSPC/2 write:EIO/3 fallocate:ENOSPC/2 writeback:EIO writeback:EIO/2 write:ENOSPC/4 \
    fallocate:ENOSPC/4 thread:EAGAIN,fsync:EIO; do
    skip=${fault#*/}
    [ "$skip" = "$fault" ] && skip=0
    LD_PRELOAD="$SHIM" XY_FAULT=${fault%/*} XY_FAULT_SKIP=$skip XINYONG_SPILL_BYTES=2000 \
        "$XY" load events "$T/more.csv" >"$T/out" 2>"$T/err"
    RC=$?
    ERR=$(cat "$T/err")
    expect_rc "$fault, a load written in parts: storage error" 2
    expect_err "... says which file" "$D/log: cannot append"
    run stats --json
    expect_eq "... nothing of it applied" "$OUT" "$before"
    # (A segment made for it may stay, with its header only.)
    expect_eq "... no part of it left in the log" "$(log_bytes)" "$((size0 + 16 * ($(segs) - segs0)))"
    run verify
    expect_rc "... the store verifies" 0
done
LD_PRELOAD="$SHIM" XY_FAULT=fallocate:EOPNOTSUPP XINYONG_SPILL_BYTES=2000 "$XY" load events "$T/more.csv" >"$T/out" 2>"$T/err"
RC=$?
OUT=$(cat "$T/out")
expect_rc "then the load written in parts goes through" 0
expect_out "... whole" "188 applied"
run verify
expect_rc "... and the store verifies" 0

# Every failure names its file and its reason (ENOSPC is not "input/output
# error"), and leaves a directory that verifies.
fresh m "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
setup load contacts "$EX/contacts.csv"
setup load events "$EX/events.csv"
before=$("$XY" stats --json)
# fault_run FAULT FILE CMD...: CMD with FAULT on files ending with FILE.
fault_run() {
    f=$1 file=$2
    shift 2
    LD_PRELOAD="$SHIM" XY_FAULT=$f XY_FAULT_FILE=$file "$XY" "$@" >"$T/out" 2>"$T/err"
    RC=$?
    ERR=$(cat "$T/err")
}
fault_run write:ENOSPC .run.tmp snapshot
expect_rc "ENOSPC writing an event-index run: storage error" 2
expect_err "... names the run and the reason" "$D/ev-0-188.run.tmp: cannot write: No space left on device"
# A snapshot larger than the chunk it is written in (4 MiB: some 56,000
# citizens) whose first chunk meets a full disk that then has room again:
# the later chunks are written, yet the snapshot is not, and the
# directory opens.
fresh bigsnap "$XY_ROOT/rules"
awk 'BEGIN {
    split("7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2", w, " ")
    print "id,name,city,father,mother"
    for (m = 1; m <= 2; m++) for (d = 1; d <= 28; d++) for (q = 1; q <= 999; q++) {
        p = sprintf("1101011980%02d%02d%03d", m, d, q)
        s = 0
        for (i = 1; i <= 17; i++) s += substr(p, i, 1) * w[i]
        printf "%s%s,c%d,beijing,,\n", p, substr("10X98765432", s % 11 + 1, 1), q
    }
}' >"$T/many.csv"
setup load citizens "$T/many.csv"
export XY_FAULT_TIMES=1
fault_run write:ENOSPC /snapshot.tmp snapshot
unset XY_FAULT_TIMES
expect_rc "ENOSPC on the first chunk of a large snapshot only: storage error" 2
expect_err "... naming the file and the reason" "$D/snapshot.tmp: cannot write: No space left on device"
run stats
expect_rc "... and the directory opens" 0
use m
# A directory in the way of the snapshot's temporary file: the snapshot
# cannot be created, which is said with the reason.
mkdir "$D/snapshot.tmp"
run snapshot
expect_rc "a snapshot whose temporary file cannot be created: storage error" 2
expect_err "... names the file and the reason" "$D/snapshot.tmp: cannot create: Is a directory"
expect_eq "... and puts no snapshot in place" "$(ls "$D" | grep -c '^snapshot$')" 0
rmdir "$D/snapshot.tmp"
fault_run fsync:EIO /snapshot.tmp snapshot
expect_rc "EIO syncing a new snapshot before it is renamed into place: storage error" 2
expect_err "... names the file and the reason" "$D/snapshot.tmp: cannot write: Input/output error"
expect_eq "... and puts no snapshot in place, leaving no temporary file" "$(ls "$D" | grep -c '^snapshot')" 0
run stats --json
expect_eq "... the same state" "$OUT" "$before"
fault_run fsync:EIO /m snapshot
expect_rc "EIO syncing the directory after a snapshot: storage error" 2
expect_err "... says so" "$D: cannot sync the directory: Input/output error"
run verify
expect_rc "... and the directory verifies" 0
fault_run fsync:EIO /trail snapshot
expect_rc "EIO syncing the history index before a snapshot: the snapshot is written" 0
expect_err "... with a warning naming it" "$D/trail: warning: cannot be written or synced: Input/output error"
run verify
expect_rc "... and the directory verifies" 0
run stats --json
expect_eq "... the same state" "$OUT" "$before"
fault_run write:ENOSPC /log advance 2026-01-01
expect_rc "ENOSPC writing an advance: storage error" 2
expect_err "... names the log" "advance: $D/log: cannot append: no space left on device"
XINYONG_SEGMENT_BYTES=1000
export XINYONG_SEGMENT_BYTES
fault_run fsync:ENOSPC /m advance 2026-01-01
unset XINYONG_SEGMENT_BYTES
expect_rc "ENOSPC syncing the directory for a new log segment: storage error" 2
expect_err "... says no space" "advance: $D/log: cannot append: no space left on device"
run stats --json
expect_eq "... nothing applied" "$OUT" "$before"
run verify
expect_rc "... and the directory verifies" 0

# A snapshot whose sync of the history index fails is written without it
# (a warning, exit 0): "a writer that opens the directory next builds it
# again from the log". The next writer's batch must then leave a directory
# that verifies, and a trail the readers use without falling back.
fresh ts "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
setup load contacts "$EX/contacts.csv"
setup load events "$EX/events.csv"
fault_run fsync:EIO /trail snapshot
expect_rc "EIO syncing the history index: the snapshot is written without it" 0
# The records were written, only not synced: a snapshot that claimed them
# would serve readers now and leave them a trail that a crash may cut.
run explain 371082197503141552
expect_rc "... explain works before the next writer" 0
expect_err "... by replaying the log, with a warning" "did not serve"
run advance 2026-01-01
expect_rc "... the next writer goes on" 0
expect_err "... rebuilding the history index the snapshot left out" "rebuilding the history index"
run verify
expect_rc "... and afterwards the directory verifies" 0
expect_not_out "... with no damaged trail record" "damaged record"
run explain 371082197503141552
expect_rc "... explain works" 0
case "$ERR" in *"did not serve"* | *"replays the log"*) bad "... from the rebuilt history index" "$ERR" ;; *) ok "... from the rebuilt history index" ;; esac
# The same when the snapshot falls due after a load (XINYONG_SNAPSHOT_EVERY)
# and the history index cannot be written: the load succeeds, and the next
# writer must not leave a damaged trail behind.
fresh tb "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
setup load contacts "$EX/contacts.csv"
XINYONG_SNAPSHOT_EVERY=1000
export XINYONG_SNAPSHOT_EVERY
fault_run fsync:EIO /trail load events "$EX/events.csv"
unset XINYONG_SNAPSHOT_EVERY
expect_rc "EIO syncing the history index for a snapshot after a load: the load succeeds" 0
expect_err "... and tells of the history index left out" "$D/trail: warning: cannot be written or synced: Input/output error"
case "$ERR" in
*"snapshot: warning: not written"*) bad "... as a warning of its own, the snapshot being written" "$ERR" ;;
*) ok "... as a warning of its own, the snapshot being written" ;;
esac
run advance 2026-01-01
expect_rc "... the next writer goes on" 0
run verify
expect_rc "... and afterwards the directory verifies" 0

# A snapshot that falls due after a load or an advance and cannot be written
# (a full disk) loses nothing: the command succeeds, says on stderr which
# file failed and why, and the next command to write puts one in place.
fresh sf "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
setup load contacts "$EX/contacts.csv"
XINYONG_SNAPSHOT_EVERY=1000
export XINYONG_SNAPSHOT_EVERY
fault_run write:ENOSPC /snapshot.tmp load events "$EX/events.csv"
expect_rc "ENOSPC writing the snapshot due after a load: the load succeeds" 0
expect_err "... and says the snapshot was not written, naming the file and the reason" \
    "$D/snapshot: warning: not written ($D/snapshot.tmp: cannot write: No space left on device); nothing acknowledged is lost"
expect_eq "... no snapshot in place" "$(ls "$D" | grep -c '^snapshot')" 0
fault_run write:ENOSPC .run.tmp advance 2026-01-01
expect_rc "ENOSPC writing the event index's run for the snapshot due after an advance: the advance succeeds" 0
expect_err "... and says so, naming the run" "$D/snapshot: warning: not written ($D/ev-0-188.run.tmp: cannot write: No space left on device)"
run advance 2026-01-02
expect_rc "the next write" 0
expect_eq "... writes the snapshot, and tells nothing" "$ERR" ""
run verify
expect_rc "... and the directory verifies" 0
expect_out "... with the snapshot covering the whole log" "covers the log up to byte $(stat -c %s "$D/log")"
run load events "$EX/events.csv"
expect_out "... and the load that had no snapshot is all there" "188 rows, 0 applied, 188 duplicates"
# A data directory's path so long that the reason, naming the file, does
# not fit the 4000 bytes a snapshot keeps of what it said: the warning
# still gives the reason.
long=$T
while [ ${#long} -lt 3950 ]; do long=$long/$(printf '%096d' 0); done
mkdir -p "$long"
D=$long/d
XINYONG_DATA=$D
init_rules "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
fault_run write:ENOSPC /snapshot.tmp load events "$EX/events.csv"
expect_rc "ENOSPC writing the snapshot due after a load into a long path: the load succeeds" 0
expect_err "... and says why the snapshot was not written" \
    "$D/snapshot: warning: not written (no space left on device); nothing acknowledged is lost"
unset XINYONG_SNAPSHOT_EVERY

# An init whose last step, the sync of the directory, fails must say so on
# stderr and leave no half-made data directory behind: the same init then
# succeeds (a log without DATA/rules or DATA/rules.sum is no directory that
# any command can open).
for dir in /ifs /ifs/rules; do
    use ifs
    rm -rf "$D"
    fault_run fsync:EIO "$dir" init --rules "$XY_ROOT/rules"
    expect_rc "EIO syncing $dir at init: storage error" 2
    expect_err "... says which directory and why" "$D"
    run init --rules "$XY_ROOT/rules"
    expect_rc "... and the init can be run again" 0
    run load citizens "$EX/citizens.csv"
    expect_rc "... giving a directory that loads" 0
done

# Init copies each rules file aside and renames it into place: a crash in
# the middle leaves whole copies only, which the same init run again takes
# for its own (files that differ from the rules asked for are still
# someone's own: test_public.sh).
use ifk
rm -rf "$D"
XY_FAULT_SKIP=3
export XY_FAULT_SKIP
fault_run write:SIGKILL .rules.tmp init --rules "$XY_ROOT/rules"
unset XY_FAULT_SKIP
expect_rc "a crash in the middle of init's copy of the rules" 137
run init --rules "$XY_ROOT/rules"
expect_rc "... the same init then goes on over the copies it left" 0
run load citizens "$EX/citizens.csv"
expect_rc "... giving a directory that loads" 0
# A copy or the log that cannot be written: the reason, and nothing left.
use ifc
rm -rf "$D"
fault_run write:ENOSPC .rules.tmp init --rules "$XY_ROOT/rules"
expect_rc "ENOSPC copying the rules at init: storage error" 2
expect_err "... with the reason, naming the file that could not be written" "cannot copy to $D/rules/beijing.rules.tmp: No space left on device"
if [ -e "$D" ]; then bad "... and nothing left behind" "$(find "$D")"; else ok "... and nothing left behind"; fi
fault_run write:EIO /log.tmp init --rules "$XY_ROOT/rules"
expect_rc "EIO writing the log at init: storage error" 2
expect_err "... naming it" "$D/log: cannot write: Input/output error"
if [ -e "$D" ]; then bad "... and nothing left behind" "$(find "$D")"; else ok "... and nothing left behind"; fi
fault_run write:ENOSPC /rules.sum.tmp init --rules "$XY_ROOT/rules"
expect_rc "ENOSPC writing the rules' fingerprint at init: storage error" 2
expect_err "... naming it" "$D/rules.sum: cannot write: No space left on device"
if [ -e "$D" ]; then bad "... and nothing left behind" "$(find "$D")"; else ok "... and nothing left behind"; fi
# A directory where a copy's temporary file goes: init stops with the
# reason and leaves what it found.
mkdir -p "$D/rules/beijing.rules.tmp"
run init --rules "$XY_ROOT/rules"
expect_rc "a directory in the way of a copy of the rules at init: storage error" 2
expect_err "... with the reason, naming the directory in the way" "cannot copy to $D/rules/beijing.rules.tmp: Is a directory"
expect_eq "... and only what was there left" "$(cd "$D" && find . | sort | tr '\n' ' ')" \
    ". ./rules ./rules/beijing.rules.tmp "

# A writer tidying up after a crash, whose sync fails, stops with the
# reason and leaves a directory that verifies: a last segment cut short in
# its header is removed but the directory not synced (the removal itself
# went through), or an unfinished batch is cut from the log but the log
# not synced.
fresh tidy "$XY_ROOT/rules"
setup load citizens "$EX/citizens.csv"
size=$(wc -c <"$D/log")
printf 'XINYO' >"$D/log.$size"
fault_run fsync:EIO /tidy advance 2026-01-01
expect_rc "EIO syncing the directory after removing a segment cut short in its header: storage error" 2
expect_err "... saying that the sync failed" "$D: cannot sync the directory: Input/output error"
case "$ERR" in *"cannot remove"*) bad "... not the removal" "$ERR" ;; *) ok "... not the removal" ;; esac
expect_eq "... which went through" "$(ls "$D" | grep -c '^log\.')" 0
printf '\060\000\000\000\001\002\003\004partial-batch' >>"$D/log"
fault_run fsync:EIO /log advance 2026-01-01
expect_rc "EIO syncing the log cut back to its last whole batch: storage error" 2
expect_err "... with the reason" "$D/log: cannot drop the unfinished batch: Input/output error"
expect_eq "... the log cut back" "$(wc -c <"$D/log")" "$size"
run verify
expect_rc "... and the directory verifies" 0

# The history index is derived data: a first writer that cannot write its
# header (the shim fails pwrite too) still loads, and replays the log for
# explanations. (Under `make asan` this reached memset(NULL, 0, 0) in
# xy__trail_open, undefined behaviour that the sanitizer stops at.)
fresh th "$XY_ROOT/rules"
fault_run write:EIO /trail load citizens "$EX/citizens.csv"
expect_rc "EIO writing the history index's header on a first load: the load succeeds" 0
case "$ERR" in *"runtime error"* | *Sanitizer*) bad "... without undefined behaviour" "$ERR" ;; *) ok "... without undefined behaviour" ;; esac
run verify
expect_rc "... and the directory verifies" 0
# Records that cannot be appended to it later (a full disk) do not fail
# the load either, and the snapshot that falls due after it leaves out
# the history index that lacks them; explanations are those of a
# directory that never failed, and the next writer rebuilds the index.
setup load contacts "$EX/contacts.csv"
cp -r "$D" "$T/th-good"
setup --data "$T/th-good" load events "$EX/events.csv"
XINYONG_SNAPSHOT_EVERY=1000
export XINYONG_SNAPSHOT_EVERY
fault_run write:ENOSPC /trail load events "$EX/events.csv"
unset XINYONG_SNAPSHOT_EVERY
expect_rc "ENOSPC appending to the history index: the load succeeds" 0
expect_out "... applying every event" "188 rows, 188 applied"
run explain 371082197503141552
expect_eq "... explanations are unchanged" "$OUT" "$("$XY" --data "$T/th-good" explain 371082197503141552)"
run verify
expect_rc "... the directory verifies" 0
expect_out "... with a snapshot" "snapshot: "
expect_out "... that claims none of the records that were lost" "trail: 42 records ok"
run advance 2026-01-01
expect_err "... which the next writer writes again" "rebuilding the history index"
run verify
expect_eq "... all of them" "$(printf '%s\n' "$OUT" | grep '^trail:')" \
    "$("$XY" --data "$T/th-good" advance 2026-01-01 >/dev/null && "$XY" --data "$T/th-good" verify | grep '^trail:')"
# A directory in place of the history index: writers go on without it
# (it is derived data) and try no rebuild, but warn, since every
# explanation then replays the log; verify says why it is not there.
rm "$D/trail"
mkdir "$D/trail"
run advance 2026-01-02
expect_rc "a history index that cannot be opened: a writer goes on" 0
expect_eq "... warning once, without trying to rebuild it" "$ERR" \
    "$D/trail: warning: the history index cannot be written; explanations replay the log until a writer can write it again"
run explain 371082197503141552
expect_rc "... explain works" 0
run verify
expect_rc "... and verify fails" 2
expect_err "... saying why" "$D/trail: cannot be read: Is a directory"

finish
