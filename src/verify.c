/* verify.c -- `xinyong verify`: every record of the log, every section
 * of the snapshot, the rules copy, the history index and the event
 * index's runs checked without opening the directory (no lock, no state
 * rebuilt), so that it can run beside a writer and on a directory that
 * would not open. */
#include "store.h"
#include "snapshot.h"
#include "trail.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Counting the records of the log by type, for verify. */
typedef struct log_count {
    uint64_t counts[R_COMMIT + 1];
    const char *path;  /* the data directory */
    xy_diag_fn *diag;  /* where to say what is wrong */
    void *ctx;
} log_count;

static int count_records(void *ctx, const unsigned char *data, uint64_t base, size_t off, size_t end)
{
    log_count *lc = ctx;
    while (off < end) {
        uint32_t rlen = xy__get_u32(data + off);
        unsigned type = data[off + 8];
        if (type < R_CITIZEN || type > R_COMMIT) {
            xy__diagf(lc->diag, lc->ctx, "%s: unknown record type %u at log offset %llu", lc->path, type,
                      (unsigned long long)(base + off));
            return XY_ECORRUPT;
        }
        lc->counts[type]++;
        off += 8 + rlen;
    }
    return XY_OK;
}

int xy_db_verify(const char *path, xy_diag_fn *diag, void *ctx, FILE *out)
{
    return xy__db_verify_rules(path, NULL, diag, ctx, out);
}

/* One pass of xy__db_verify_rules. */
static int verify_once(const char *path, const xy_rules *rules, xy_diag_fn *diag, void *ctx, FILE *out)
{
    xy_db probe = {0};
    probe.path = (char *)path;
    xy_segs sg;
    int rc = xy__segs_list(path, &sg, diag, ctx);
    if (rc) return rc;
    int nseg = sg.n;
    xy__segs_free(&sg);
    /* Every record: framing, checksum, type; batches end with a commit. */
    log_count lc = {{0}, path, diag, ctx};
    size_t last_commit = 0, len = 0;
    rc = xy__db_walk(&probe, NULL, count_records, &lc, 0, SIZE_MAX, NULL, diag, ctx, &last_commit, &len);
    if (rc == XY_ENOENT || rc == XY_EIO) return rc;
    int bad = rc != XY_OK;
    const uint64_t *counts = lc.counts;
    if (!bad && last_commit < len)
        fprintf(out, "log: %zu bytes after the last commit at %zu (an unfinished batch; the next writer drops it)\n",
                len - last_commit, last_commit);
    if (!bad && nseg > 1) fprintf(out, "log: %d segments\n", nseg);
    if (!bad)
        fprintf(out, "log: %zu bytes ok: %llu batches; %llu citizens, %llu contacts, %llu events, %llu advances\n",
                last_commit, (unsigned long long)counts[R_COMMIT], (unsigned long long)counts[R_CITIZEN],
                (unsigned long long)counts[R_CONTACT], (unsigned long long)counts[R_EVENT],
                (unsigned long long)counts[R_ADVANCE]);
    uint64_t covers = 0, bytes = 0, trail_len = 0;
    int src = xy__snapshot_verify(path, rules, &covers, &bytes, &trail_len, diag, ctx);
    if (src == XY_ENOENT) fprintf(out, "snapshot: none\n");
    else if (src == XY_EINPUT)
        fprintf(out, "snapshot: of another format version, not used (start-up replays the log; "
                     "'xinyong snapshot' writes a current one)\n");
    else if (src == XY_OK && covers > last_commit) {
        xy__diagf(diag, ctx, "%s/snapshot: covers %llu bytes of the log, which has %zu", path,
                  (unsigned long long)covers, last_commit);
        src = XY_ECORRUPT;
    } else if (src == XY_OK)
        fprintf(out, "snapshot: %llu bytes ok, covers the log up to byte %llu\n", (unsigned long long)bytes,
                (unsigned long long)covers);
    int rrc = xy__db_check_rules_copy(path, diag, ctx);
    if (rrc == XY_OK) fprintf(out, "rules: the copy init made\n");
    else if (rrc == XY_ENOENT) fprintf(out, "rules: no fingerprint to check them by (a directory made before rules.sum)\n");
    uint64_t trecs, tbad;
    int trc = xy__trail_verify(path, &trecs, &tbad);
    /* Whole records, yet fewer than the snapshot's heads point into: cut
     * short after the snapshot was written (explain then replays the log
     * for the citizens it no longer serves). */
    uint64_t tlen = 16 + trecs * sizeof(xy_trec);
    if (trc == XY_OK && src == XY_OK && tlen < trail_len) {
        xy__diagf(diag, ctx, "%s/trail:%llu: ends before byte %llu, which the snapshot's history index reaches (explain "
                  "replays the log; delete the trail to rebuild it)", path, (unsigned long long)tlen,
                  (unsigned long long)trail_len);
        trc = XY_ECORRUPT;
    } else if (trc == XY_ENOENT) fprintf(out, "trail: none (the next writer builds it)\n");
    else if (trc == XY_OK) fprintf(out, "trail: %llu records ok\n", (unsigned long long)trecs);
    else if (trc == XY_EINPUT)
        fprintf(out, "trail: of another format version, not used (explain replays the log; the next writer "
                     "rebuilds it)\n");
    else if (trc == XY_EIO) xy__diagf(diag, ctx, "%s/trail: cannot be read: %s", path, strerror(errno));
    else if (tbad)
        xy__diagf(diag, ctx, "%s/trail:%llu: damaged record (explain replays the log; delete the trail to rebuild it)",
                  path, (unsigned long long)tbad);
    else
        xy__diagf(diag, ctx, "%s/trail:0: not a history index (bad header; delete it to rebuild it)", path);
    uint64_t nruns, nentries;
    int erc = xy__evindex_verify(path, &nruns, &nentries, diag, ctx);
    if (erc == XY_OK)
        fprintf(out, "event index: %llu runs ok, %llu ids\n", (unsigned long long)nruns, (unsigned long long)nentries);
    if (bad || src == XY_ECORRUPT || trc == XY_ECORRUPT || erc == XY_ECORRUPT || rrc == XY_ECORRUPT) return XY_ECORRUPT;
    if (trc == XY_EIO) return XY_EIO;
    return src == XY_OK || src == XY_ENOENT || src == XY_EINPUT ? XY_OK : src;
}

/* Messages of a verify pass, held until it is known whether they stand. */
static void hold_diag(void *ctx, const char *msg)
{
    xy__buf_append(ctx, msg, strlen(msg) + 1);
}

/* When the directory at path last had a file created, renamed or removed
 * (its mtime), or zero if it cannot be read. */
static struct timespec dir_stamp(const char *path)
{
    struct stat st;
    struct timespec zero = {0, 0};
    return stat(path, &st) ? zero : st.st_mtim;
}

int xy__db_verify_rules(const char *path, const xy_rules *rules, xy_diag_fn *diag, void *ctx, FILE *out)
{
    /* verify takes no lock, so a writer may commit and write a snapshot
     * while it reads: it can then find a snapshot newer than the log it
     * read, or an event-index run the new snapshot made redundant already
     * removed, on a directory that is whole. A pass that finds a problem
     * while the directory changed (a snapshot renamed into place, a run or
     * segment made or removed) is run again, up to a few times; its
     * messages and summary are held until then. */
    for (int tries = 0;; tries++) {
        xy_buf held = {0};
        char *summary = NULL;
        size_t summary_len = 0;
        FILE *mem = open_memstream(&summary, &summary_len);
        if (!mem) return verify_once(path, rules, diag, ctx, out);
        struct timespec before = dir_stamp(path);
        int rc = verify_once(path, rules, hold_diag, &held, mem);
        fclose(mem);
        struct timespec after = dir_stamp(path);
        int moved = before.tv_sec != after.tv_sec || before.tv_nsec != after.tv_nsec;
        int last = rc == XY_OK || !moved || tries == 8;
        if (last) {
            fwrite(summary, 1, summary_len, out);
            for (size_t at = 0; diag && at < held.len; at += strlen(held.data + at) + 1) diag(ctx, held.data + at);
            /* A summary out did not take whole is a failed verify too. */
            if (rc == XY_OK && (fflush(out) != 0 || ferror(out))) rc = XY_EIO;
        }
        free(summary);
        xy__buf_free(&held);
        if (last) return rc;
    }
}
