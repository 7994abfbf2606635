/* store.c -- the data directory and its log.
 *
 * Layout of a data directory:
 *   rules/     a copy of the ruleset it was created with
 *   log        a 16-byte header, then records
 * The one writer holds flock(2) on the directory itself.
 *
 * A record is: u32 length of the payload, u32 CRC-32 of the payload, then
 * the payload, whose first byte is the record type. A batch (one load, one
 * advance) ends with a commit record; replay applies only whole batches, so
 * a load is atomic even when the process dies half-way through writing it.
 * All integers are little-endian.
 *
 * This file opens a data directory (the snapshot, then the log after it,
 * replayed), creates and closes one, and starts its snapshots; commit.c
 * encodes the records and appends batches of them, verify.c checks a
 * directory without opening it. */
#include "store.h"
#include "history.h"
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char xy__log_magic[16] = "XINYONG-LOG\0v001";

/* ---------------------------------------------------------- event index */

uint64_t xy__event_content_hash(const xy_event *ev)
{
    /* xy__hash_bytes of these six words, written out for their fixed size
     * (the values are stored in the event index and must not change; a
     * unit test compares the two). */
    const uint64_t w[6] = {(uint64_t)(uint32_t)ev->date, ev->citizen, (uint64_t)(uint32_t)ev->behaviour,
                           (uint64_t)(uint32_t)ev->agency, (uint64_t)ev->amount, ev->counterpart};
    uint64_t h = 0xcbf29ce484222325ULL ^ sizeof w;
    for (int i = 0; i < 6; i++) {
        h = (h ^ w[i]) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return xy__hash64(h * 0x100000001b3ULL);
}

/* Remembers a key staged by the load in progress, to take it out again if
 * the load is refused. */
static void note_staged(xy_db *db, const uint64_t key[2])
{
    /* Rewritten by every load, also while a snapshot's child runs. */
    if (2 * db->nstaged + 2 > db->cap_staged)
        xy__private_grow((void **)&db->staged_key, &db->cap_staged, 2 * db->nstaged + 2, sizeof *db->staged_key);
    db->staged_key[2 * db->nstaged] = key[0];
    db->staged_key[2 * db->nstaged + 1] = key[1];
    db->nstaged++;
}

int xy__db_find_or_stage(xy_db *db, const uint64_t key[2], uint64_t content, uint64_t seq, uint64_t *had,
                         uint64_t *had_seq)
{
    if (xy__evindex_find_or_put(&db->evix, key, content, seq, had, had_seq)) return 1;
    note_staged(db, key);
    return 0;
}

void xy__db_note_event_id(xy_db *db, uint64_t seq, const char *id, size_t n)
{
    int is_new;
    uint64_t *v = xy__map_put(&db->hist_ids, seq, &is_new);
    if (!is_new) return;
    *v = db->hist_idbuf.len;
    xy__buf_append(&db->hist_idbuf, id, n);
    xy__buf_append(&db->hist_idbuf, "", 1);
}

/* Forgets the ids (and counterparts) remembered for explanations: a
 * handle that lives long (the in-process API) would otherwise keep those
 * of every event it ever explained or listed. */
static void forget_event_ids(xy_db *db)
{
    xy__map_free(&db->hist_ids);
    xy__map_free(&db->hist_cp);
    xy__buf_free(&db->hist_idbuf);
}

int xy__db_report_begin(xy_db *db)
{
    xy__db_settle(db);
    forget_event_ids(db);
    return db->broken;
}

/* ------------------------------------------------------ scanning the log */

/* Log growth between automatic snapshots. */
static uint64_t snapshot_every(void) { return xy__env_bytes("XINYONG_SNAPSHOT_EVERY", XY_SNAPSHOT_EVERY); }

/* Whether a whole, valid commit record starts anywhere in data[from..len):
 * the sign that committed batches follow a damaged spot. */
static int commit_after(const unsigned char *data, size_t len, size_t from)
{
    for (size_t p = from; p + 17 <= len; p++) {
        if (xy__get_u32(data + p) != 9 || data[p + 8] != R_COMMIT) continue;
        if (xy__crc32(0, data + p + 8, 9) == xy__get_u32(data + p + 4)) return 1;
    }
    return 0;
}

/* How far ahead of the log's check the disk reads, and in what steps the
 * replay gives the page cache back what it has applied (see
 * apply_as_checked). */
#define REPLAY_WINDOW ((size_t)32 << 20)

/* Walks records in data[from..len): checks framing and checksums and finds
 * the end of the last whole batch (*good), publishing it through progress
 * as it moves (another thread applies up to there). A record that does not
 * check out is a torn tail when no committed batch follows it (a crash in the
 * middle of appending a batch that was never acknowledged): then *bad_at
 * says where it starts and the result is XY_OK. When a valid commit record
 * follows, acknowledged data lies beyond the damage: XY_ECORRUPT. */
static int scan_log(const unsigned char *data, size_t len, size_t from, size_t *good, size_t *bad_at,
                    _Atomic size_t *progress)
{
    size_t off = from, asked = from & ~(size_t)4095;
    *good = from;
    *bad_at = SIZE_MAX;
    while (off + 8 <= len) {
        /* The check is the first to read a segment: it asks for the
         * window after the one it reads, so that the disk reads ahead of
         * it (a log a writer wrote is not in the page cache, see
         * sync_log). */
        if (off + REPLAY_WINDOW >= asked && asked < len) {
            size_t n = len - asked < REPLAY_WINDOW ? len - asked : REPLAY_WINDOW;
            (void)madvise((void *)(uintptr_t)(data + asked), n, MADV_WILLNEED);
            asked += n;
        }
        uint32_t rlen = xy__get_u32(data + off), crc = xy__get_u32(data + off + 4);
        if (rlen == 0 || rlen > len - off - 8 || xy__crc32(0, data + off + 8, rlen) != crc) break;
        off += 8 + rlen;
        if (data[off - rlen] == R_COMMIT) {
            *good = off;
            atomic_store_explicit(progress, off, memory_order_release);
        }
    }
    if (off == len) return XY_OK;
    *bad_at = off;
    return commit_after(data, len, off + 1) ? XY_ECORRUPT : XY_OK;
}

/* --------------------------------------------------------------- files */

/* Copies the file from to the path to, by way of to.tmp, so that a crash
 * leaves the copy whole or absent (an init run again after it then finds
 * only whole copies: same_files). Says to diag what failed, naming the
 * file the failing call was on (to.tmp until the rename: a directory in
 * its way is that name's, not to's). XY_OK or a status. */
static int copy_file(const char *from, const char *to, xy_diag_fn *diag, void *ctx)
{
    char *data;
    size_t len;
    int rc = xy__read_file(from, &data, &len);
    if (rc) {
        xy__diagf(diag, ctx, "%s: cannot copy to %s: %s", from, to, strerror(errno));
        return rc;
    }
    xy_buf tmp = {0};
    xy__buf_printf(&tmp, "%s.tmp", to);
    const char *at = tmp.data;
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rc = xy__errno_status(errno);
    } else {
        rc = xy__write_status(fd, data, len);
        int err = errno;
        if (!rc && fsync(fd)) rc = xy__errno_status(err = errno);
        if (!rc && rename(tmp.data, to)) {
            rc = xy__errno_status(err = errno);
            at = to;
        }
        close(fd);
        if (rc) (void)unlink(tmp.data);
        errno = err;
    }
    if (rc) xy__diagf(diag, ctx, "%s: cannot copy to %s: %s", from, at, strerror(errno));
    xy__buf_free(&tmp);
    xy__free(data);
    return rc;
}

/* Whether the files a and b hold the same bytes (0 when either cannot be
 * read). */
static int same_files(const char *a, const char *b)
{
    char *da, *db;
    size_t la, lb;
    if (xy__read_file(a, &da, &la)) return 0;
    int same = 0;
    if (!xy__read_file(b, &db, &lb)) {
        same = la == lb && memcmp(da, db, la) == 0;
        xy__free(db);
    }
    xy__free(da);
    return same;
}

static char *join(const char *a, const char *b)
{
    xy_buf x = {0};
    xy__buf_printf(&x, "%s/%s", a, b);
    return x.data;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) xy__free(names[i]);
    xy__free(names);
}

/* The fingerprint of a data directory's rules copy: the names and bytes
 * of every rules file in path/rules (xy__rules_dir_names), in name order.
 * XY_OK, or an error when the copy cannot be listed or a file read. */
static int rules_fingerprint(const char *path, uint64_t out[2])
{
    char *rdir = join(path, "rules");
    char **names;
    size_t n;
    int rc = xy__rules_dir_names(rdir, &names, &n);
    xy_buf all = {0};
    for (size_t i = 0; i < n && rc == XY_OK; i++) {
        char *f = join(rdir, names[i]), *data;
        size_t len;
        rc = xy__read_file(f, &data, &len) == XY_OK ? XY_OK : XY_EIO;
        if (rc == XY_OK) {
            xy__buf_printf(&all, "%s%c%zu%c", names[i], 0, len, 0);
            xy__buf_append(&all, data, len);
            xy__free(data);
        }
        xy__free(f);
    }
    xy__hash128(all.data ? all.data : "", all.len, out);
    xy__buf_free(&all);
    free_names(names, n);
    xy__free(rdir);
    return rc;
}

/* What DATA/rules.sum holds: the fingerprint init took of the copy. */
static void rules_sum_text(const uint64_t h[2], char out[64])
{
    snprintf(out, 64, "xinyong rules v1 %016llx%016llx\n", (unsigned long long)h[0], (unsigned long long)h[1]);
}

/* A file of the copy edited, added or removed since init would make the
 * log replay under rules it was not accepted under (scores that silently
 * differ from the acknowledged ones, or events the rules no longer
 * allow). */
int xy__db_check_rules_copy(const char *path, xy_diag_fn *diag, void *ctx)
{
    char *sum = join(path, "rules.sum"), *data = NULL;
    size_t len = 0;
    int rc = xy__read_file(sum, &data, &len);
    xy__free(sum);
    if (rc == XY_ENOENT) return XY_ENOENT;
    uint64_t h[2];
    char want[64];
    if (rc == XY_OK && rules_fingerprint(path, h) == XY_OK) {
        rules_sum_text(h, want);
        rc = len == strlen(want) && memcmp(data, want, len) == 0 ? XY_OK : XY_ECORRUPT;
    } else {
        rc = XY_ECORRUPT;
    }
    if (rc)
        xy__diagf(diag, ctx, "%s/rules: not the rules the directory was made with (a file was edited, added or "
                  "removed since init; %s/rules.sum holds their fingerprint): put them back as they were",
                  path, path);
    xy__free(data);
    return rc;
}

/* Whether every file the rules were read from lies in dir: XY_OK, or
 * XY_EINPUT after telling diag why about each one that does not. */
static int sources_within(const xy_rules *rules, const char *dir, const char *why, xy_diag_fn *diag, void *ctx)
{
    int rc = XY_OK;
    for (size_t i = 0; i < rules->sources.count; i++)
        if (!xy__path_within(dir, rules->sources.str[i])) {
            xy__diagf(diag, ctx, "%s: %s", rules->sources.str[i], why);
            rc = XY_EINPUT;
        }
    return rc;
}

/* Whether the rules in rules_dir load and lie within it (XY_EINPUT, said
 * to diag, when not; XY_ENOMEM). */
static int check_rules_dir(const char *rules_dir, xy_diag_fn *diag, void *ctx)
{
    xy_rules *rules;
    int rc = xy_rules_load_dir(rules_dir, diag, ctx, &rules);
    if (rc) return rc == XY_ENOMEM ? rc : XY_EINPUT; /* missing, not a directory, unreadable: the caller's input */
    /* Only the directory's *.rules files are copied: a file included from
     * elsewhere (a relative path out of it, an absolute path) would be read
     * where it lies at every open, so that an edit of it would change the
     * history under the fingerprint. */
    xy_buf why = {0};
    xy__buf_printf(&why, "included from outside the rules directory %s: the rules must be self-contained", rules_dir);
    rc = sources_within(rules, rules_dir, why.data, diag, ctx);
    xy__buf_free(&why);
    xy_rules_free(rules);
    return rc;
}

/* Copies the *.rules files of rules_dir into rdir, path's rules directory,
 * naming them in *copied (n of them; free with free_names) for a failed
 * init to remove. */
static int copy_rules(const char *path, const char *rdir, const char *rules_dir, char ***copied, size_t *ncopied,
                      xy_diag_fn *diag, void *ctx)
{
    int rc = XY_OK;
    /* Without a log this is no data directory yet, and rules files found
     * in DATA/rules are not init's to replace or remove: someone's own
     * (init leaves nothing behind when it fails). Unless they are the
     * rules asked for (init --rules DATA/rules), used in place, or copies
     * of files of rules_dir byte for byte, as an init stopped by a crash
     * leaves them (each copy is whole: copy_file). */
    int in_place = xy__path_within(rdir, rules_dir) && xy__path_within(rules_dir, rdir);
    if (!in_place) {
        char **found;
        size_t nfound;
        (void)xy__rules_dir_names(rdir, &found, &nfound);
        for (size_t i = 0; i < nfound && !rc; i++) {
            char *mine = join(rdir, found[i]), *theirs = join(rules_dir, found[i]);
            if (!same_files(mine, theirs)) {
                xy__diagf(diag, ctx, "%s: holds .rules files, and %s is no data directory (no log): move them away, "
                          "or name that directory with --rules to use them", rdir, path);
                rc = XY_EINPUT;
            }
            xy__free(mine);
            xy__free(theirs);
        }
        free_names(found, nfound);
        if (!rc) (void)xy__rules_dir_names(rules_dir, copied, ncopied);
    }
    for (size_t i = 0; i < *ncopied && !rc; i++) {
        char *from = join(rules_dir, (*copied)[i]), *to = join(rdir, (*copied)[i]);
        rc = copy_file(from, to, diag, ctx);
        xy__free(from);
        xy__free(to);
    }
    return rc;
}

/* Whether the copy of the rules in rdir loads and lies within it on its
 * own (XY_EINPUT, said to diag, when not). */
static int check_copy_alone(const char *rdir, const char *rules_dir, xy_diag_fn *diag, void *ctx)
{
    /* The copy must stand alone: it holds only the *.rules files, so an
     * include of another file of the directory finds nothing in it (its
     * messages would name the copy, which goes: the one below names the
     * directory), and an absolute include back into the directory would
     * read the original at every open. */
    xy_rules *rules;
    int rc = xy_rules_load_dir(rdir, NULL, NULL, &rules);
    if (rc) {
        xy__diagf(diag, ctx, "%s: the rules must be self-contained: every file they include must be a .rules file in %s",
                  rules_dir, rules_dir);
        rc = XY_EINPUT;
    } else {
        rc = sources_within(rules, rdir, "included by an absolute path: the rules must be self-contained, their "
                            "includes relative", diag, ctx);
        xy_rules_free(rules);
    }
    return rc;
}

/* Writes the fingerprint of path's rules copy to sum, by way of stmp. */
static int write_rules_sum(const char *path, const char *sum, const char *stmp, xy_diag_fn *diag, void *ctx)
{
    uint64_t h[2];
    char text[64];
    int rc = XY_OK;
    int sfd = rules_fingerprint(path, h) == XY_OK ? open(stmp, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    if (sfd >= 0) rules_sum_text(h, text);
    if (sfd < 0 || xy__write_status(sfd, text, strlen(text)) || fsync(sfd) || rename(stmp, sum)) {
        xy__diagf(diag, ctx, "%s: cannot write: %s", sum, strerror(errno));
        rc = XY_EIO;
    }
    if (sfd >= 0) close(sfd);
    return rc;
}

/* Writes path's log, a header alone, to log by way of path/log.tmp. */
static int write_empty_log(const char *path, const char *log, xy_diag_fn *diag, void *ctx)
{
    char *tmp = join(path, "log.tmp");
    int rc = XY_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || xy__write_status(fd, xy__log_magic, sizeof xy__log_magic) || fsync(fd) || rename(tmp, log)) {
        xy__diagf(diag, ctx, "%s: cannot write: %s", log, strerror(errno));
        rc = XY_EIO;
        (void)unlink(tmp);
    }
    if (fd >= 0) close(fd);
    xy__free(tmp);
    return rc;
}

int xy_db_create(const char *path, const char *rules_dir, xy_diag_fn *diag, void *ctx)
{
    int rc = check_rules_dir(rules_dir, diag, ctx);
    if (rc) return rc;
    char *log = join(path, "log"), *rdir = join(path, "rules");
    char *sum = join(path, "rules.sum"), *stmp = join(path, "rules.sum.tmp");
    int made_path = 0, made_rdir = 0, made_log = 0;
    char **copied = NULL; /* the files this create copies into DATA/rules */
    size_t ncopied = 0;
    struct stat st;
    if (stat(log, &st) == 0) {
        xy__diagf(diag, ctx, "%s: already a data directory", path);
        rc = XY_EEXIST;
        goto done;
    }
    made_path = mkdir(path, 0755) == 0;
    if ((!made_path && errno != EEXIST) || (!(made_rdir = mkdir(rdir, 0755) == 0) && errno != EEXIST)) {
        xy__diagf(diag, ctx, "%s: cannot create: %s", path, strerror(errno));
        rc = XY_EIO;
        goto done;
    }
    rc = copy_rules(path, rdir, rules_dir, &copied, &ncopied, diag, ctx);
    if (!rc) rc = check_copy_alone(rdir, rules_dir, diag, ctx);
    /* The copy's fingerprint, which every open checks. */
    if (!rc) rc = write_rules_sum(path, sum, stmp, diag, ctx);
    /* The log appears last, whole: it is what marks a data directory. */
    if (!rc) made_log = (rc = write_empty_log(path, log, diag, ctx)) == XY_OK;
    const char *unsynced = NULL;
    if (!rc && (rc = xy__fsync_dir(rdir)) != XY_OK) unsynced = rdir;
    if (!rc && (rc = xy__fsync_dir(path)) != XY_OK) unsynced = path;
    if (unsynced) xy__diagf(diag, ctx, "%s: cannot sync the directory: %s", unsynced, strerror(errno));
done:
    if (rc && rc != XY_EEXIST) {
        /* A failed init leaves what it found, nothing of its own: the log
         * first, since it is what marks a data directory. */
        if (made_log) (void)unlink(log);
        for (size_t i = 0; i < ncopied; i++) {
            char *f = join(rdir, copied[i]);
            (void)unlink(f);
            xy__free(f);
        }
        (void)unlink(sum);
        (void)unlink(stmp);
        if (made_rdir) (void)rmdir(rdir);
        if (made_path) (void)rmdir(path);
    }
    free_names(copied, ncopied);
    xy__free(log);
    xy__free(rdir);
    xy__free(sum);
    xy__free(stmp);
    return rc;
}

/* ------------------------------------------------------------ segments */

void xy__segs_free(xy_segs *s)
{
    for (int k = 0; k < s->n; k++) xy__free(s->g[k].path);
    xy__free(s->g);
    memset(s, 0, sizeof *s);
}

static int cmp_seg(const void *a, const void *b)
{
    const xy_seg *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

int xy__segs_list(const char *dir, xy_segs *s, xy_diag_fn *diag, void *ctx)
{
    memset(s, 0, sizeof *s);
    DIR *dh = opendir(dir);
    if (!dh) {
        int err = errno;
        if (err == ENOENT) xy__diagf(diag, ctx, "%s: not a data directory (run 'xinyong init' first)", dir);
        else xy__diagf(diag, ctx, "%s: cannot open: %s", dir, strerror(err));
        return err == ENOENT ? XY_ENOENT : XY_EIO;
    }
    struct dirent *de;
    size_t cap = 0, n = 0;
    while ((de = readdir(dh)) != NULL) {
        uint64_t base = 0;
        if (strcmp(de->d_name, "log") != 0) {
            const char *d = de->d_name + 4;
            if (strncmp(de->d_name, "log.", 4) != 0 || !*d || strlen(d) > 19) continue;
            while (*d >= '0' && *d <= '9') base = base * 10 + (uint64_t)(*d++ - '0');
            if (*d || base == 0) continue;
        }
        XY_PUSH(s->g, n, cap, ((xy_seg){base, 0, join(dir, de->d_name)}));
    }
    closedir(dh);
    s->n = (int)n;
    if (n) qsort(s->g, n, sizeof *s->g, cmp_seg);
    if (s->n == 0 || s->g[0].base != 0) {
        xy__diagf(diag, ctx, "%s: not a data directory (no log; run 'xinyong init' first)", dir);
        xy__segs_free(s);
        return XY_ENOENT;
    }
    for (int k = 0; k < s->n; k++) {
        struct stat st;
        if (stat(s->g[k].path, &st)) {
            /* A segment listed but gone or dangling (a symbolic link to
             * nothing) is named with the reason: no caller says more. */
            xy__diagf(diag, ctx, "%s: cannot read: %s", s->g[k].path, strerror(errno));
            xy__segs_free(s);
            return XY_EIO;
        }
        s->g[k].size = (uint64_t)st.st_size;
        if (k && s->g[k].base != s->g[k - 1].base + s->g[k - 1].size) {
            xy__diagf(diag, ctx, "%s: does not begin where %s ends (at log offset %llu; the log is corrupt)",
                      s->g[k].path, s->g[k - 1].path, (unsigned long long)(s->g[k - 1].base + s->g[k - 1].size));
            xy__segs_free(s);
            return XY_ECORRUPT;
        }
    }
    return XY_OK;
}

/* Unmaps what map_segment mapped. */
static void unmap_segment(const unsigned char *data, size_t len)
{
    (void)xy__guard_remove(data);
    munmap((void *)(uintptr_t)data, len);
}

/* Maps a segment and checks its header. The file stays open through *fd,
 * which the caller closes (-1 on failure); unmap_segment unmaps it. */
static int map_segment(const char *path, xy_diag_fn *diag, void *ctx, unsigned char **data, size_t *len, int *fdp)
{
    int fd = open(path, O_RDONLY);
    int rc = XY_OK;
    struct stat st;
    *data = NULL;
    *len = 0;
    if (fd < 0 || fstat(fd, &st)) {
        xy__diagf(diag, ctx, "%s: cannot read: %s", path, strerror(errno));
        rc = XY_EIO;
        goto done;
    }
    if ((size_t)st.st_size < sizeof xy__log_magic) {
        xy__diagf(diag, ctx, "%s: log header is missing", path);
        rc = XY_ECORRUPT;
        goto done;
    }
    *len = (size_t)st.st_size;
    *data = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (*data == MAP_FAILED) {
        xy__diagf(diag, ctx, "%s: cannot read: %s", path, S_ISREG(st.st_mode) ? strerror(errno) : "not a regular file");
        *data = NULL;
        rc = XY_EIO;
        goto done;
    }
    /* A writer may cut the segment back (a torn tail, a failed batch)
     * while this process reads it: past the cut it reads zeros, a torn
     * tail, instead of faulting. */
    xy__guard_add(*data, *len);
    if (memcmp(*data, xy__log_magic, sizeof xy__log_magic) != 0) {
        xy__diagf(diag, ctx, "%s:0: not a xinyong log (bad header)", path);
        rc = XY_ECORRUPT;
        unmap_segment(*data, *len);
        *data = NULL;
    }
done:
    if (rc && fd >= 0) close(fd);
    *fdp = rc ? -1 : fd;
    return rc;
}

/* Whether segment k of s is a last one cut short in its header: a crash
 * while a writer started it. It holds nothing: readers skip it and the
 * next writer removes it. */
static int torn_header(const xy_segs *s, int k)
{
    return k == s->n - 1 && k > 0 && s->g[k].size < sizeof xy__log_magic;
}

/* Where, in a segment at log offset base, the log from whole-log offset
 * from begins: past its header at the least. */
static size_t seg_start(uint64_t from, uint64_t base)
{
    return from > base + sizeof xy__log_magic ? (size_t)(from - base) : sizeof xy__log_magic;
}

/* A mapped segment checked (scan_log) on a second thread: checksums were
 * about an eighth of replay (a profile at 10 million citizens). The walk
 * starts the check of the next segment while it applies one, and of a
 * segment nobody checked ahead as it maps it; it applies a segment only up
 * to the end of the last whole batch checked (progress), so no byte is
 * applied before its checksum has been checked. Damage is reported with
 * the same message once the check is over (the state applied so far is
 * then dropped with the rest). */
typedef struct seg_scan {
    const unsigned char *data; /* the mapped segment */
    int fd;                    /* the segment, open */
    size_t len, from;          /* its length; where the log starts in it */
    int rc;                    /* scan_log's status, once done */
    size_t good, bad_at;       /* scan_log's findings, once done */
    _Atomic size_t progress;   /* end of the whole batches checked so far */
    _Atomic int done;          /* the check is over */
    int threaded;              /* th runs it (else it was done in place) */
    pthread_t th;
} seg_scan;

static void *scan_segment(void *arg)
{
    seg_scan *c = arg;
    c->rc = scan_log(c->data, c->len, c->from, &c->good, &c->bad_at, &c->progress);
    atomic_store_explicit(&c->done, 1, memory_order_release);
    return NULL;
}

/* Starts checking data[from..len) on a second thread, or checks it here
 * if no thread can be made. */
static void scan_start(seg_scan *c, const unsigned char *data, int fd, size_t len, size_t from)
{
    c->data = data;
    c->fd = fd;
    c->len = len;
    c->from = from;
    atomic_init(&c->progress, from);
    atomic_init(&c->done, 0);
    c->threaded = pthread_create(&c->th, NULL, scan_segment, c) == 0;
    if (!c->threaded) scan_segment(c);
}

static void scan_wait(seg_scan *c)
{
    if (c->threaded) pthread_join(c->th, NULL);
    c->threaded = 0;
}

/* Takes c's segment from *dropped up to upto (rounded down to a page) out
 * of the page cache once that is at least least bytes (see
 * apply_as_checked). */
static void drop_applied(const seg_scan *c, size_t *dropped, size_t upto, size_t least)
{
    upto &= ~(size_t)4095;
    if (upto <= *dropped || upto - *dropped < least) return;
    (void)madvise((void *)(uintptr_t)(c->data + *dropped), upto - *dropped, MADV_DONTNEED);
    (void)posix_fadvise(c->fd, (off_t)*dropped, (off_t)(upto - *dropped), POSIX_FADV_DONTNEED);
    *dropped = upto;
}

/* Applies the batches of c's segment, at log offset base, up to lim as
 * they are checked, then waits for the check to end. Returns the offset
 * applied up to through *applied, and apply_range's status. What it has
 * applied before offset keep leaves the page cache a window at a time (the
 * last one at the end, however short):
 * nothing reads it again soon (explanations read a few records each), and
 * the pages freed take the next window's reads instead of fresh memory,
 * which on some virtual machines costs seconds a gigabyte. The caller
 * keeps the log's last snapshot interval cached: about what every
 * start-up from the latest snapshot replays. */
static int apply_as_checked(xy_db *db, xy_engine *e, seg_scan *c, uint64_t base, size_t lim, size_t keep,
                            xy_trail *trail, size_t *applied)
{
    int rc = XY_OK;
    size_t at = c->from, dropped = 0;
    for (;;) {
        int done = atomic_load_explicit(&c->done, memory_order_acquire);
        size_t g = atomic_load_explicit(&c->progress, memory_order_acquire);
        if (g > lim) g = lim;
        if (g > at) {
            rc = xy__apply_range(db, e, c->data, base, at, g, 0, 1, trail, &db->nevents);
            if (rc) break;
            at = g;
            drop_applied(c, &dropped, at < keep ? at : keep, REPLAY_WINDOW);
        } else if (done) {
            break;
        } else {
            sched_yield();
        }
    }
    /* The last window, however short. */
    drop_applied(c, &dropped, at < keep ? at : keep, 1);
    scan_wait(c);
    *applied = at;
    return rc;
}

/* One walk of the log: xy__db_walk's arguments, the segments, and how far
 * it has come. */
typedef struct log_walk {
    xy_db *db;            /* the data directory walked */
    xy_engine *e;         /* what the batches are applied to, or NULL */
    xy_seg_fn *each;      /* called instead with each segment's part when e is NULL */
    void *ctx2;           /* each's context */
    size_t from;          /* the log offset the walk starts at */
    size_t until;         /* the log offset it ends at (a batch's end), or SIZE_MAX */
    xy_trail *trail;      /* extended by what is applied to e, if not NULL */
    xy_diag_fn *diag;     /* where to say what is wrong */
    void *ctx;            /* diag's context */
    xy_segs s;            /* the log's segments */
    uint64_t keep_from;   /* applied bytes before this log offset leave the page cache */
    uint64_t good_all;    /* the end of the last whole batch so far */
    uint64_t len_all;     /* the end of the log so far */
    seg_scan scans[2];    /* the checks of segment k (k % 2) and k + 1 */
    seg_scan *next;       /* the check of segment k + 1, started while k is applied */
    int reached;          /* until is reached: the walk is over */
} log_walk;

/* Starts the check of the segment after segment k, if the walk goes on
 * to it, and returns it (NULL when none was started): a segment that does
 * not map is left to its turn, which maps it again to say why. */
static seg_scan *scan_ahead(log_walk *w, int k)
{
    seg_scan *next = NULL;
    if (k + 1 < w->s.n && !torn_header(&w->s, k + 1) && (w->until == SIZE_MAX || w->until > w->s.g[k + 1].base)) {
        unsigned char *m;
        size_t mlen, nfrom = seg_start(w->from, w->s.g[k + 1].base);
        int nfd;
        if (map_segment(w->s.g[k + 1].path, NULL, NULL, &m, &mlen, &nfd) == XY_OK) {
            if (nfrom <= mlen) {
                scan_start(next = &w->scans[(k + 1) % 2], m, nfd, mlen, nfrom);
            } else {
                unmap_segment(m, mlen);
                close(nfd);
            }
        }
    }
    return next;
}

/* Says that a record of segment k, whose checksum holds, does not decode
 * or does not fit the log before it (a citizen registered twice, an event
 * of a citizen not registered or its rules do not allow): a log written by
 * another program or forged. Returns XY_ECORRUPT. */
static int undecodable(const log_walk *w, int k)
{
    xy__diagf(w->diag, w->ctx, "%s:%llu: record does not decode or does not fit the log before it (the log is corrupt)",
              w->s.g[k].path, (unsigned long long)(w->db->corrupt_at - w->s.g[k].base));
    return XY_ECORRUPT;
}

/* Once the check of segment k (cur, NULL when none ran) and what was
 * applied alongside it (apply_rc) are over, says what is wrong with the
 * segment or else walks the rest of its whole batches from applied, to
 * until at the most. */
static int finish_segment(log_walk *w, int k, const seg_scan *cur, int apply_rc, const unsigned char *data,
                          size_t len, size_t applied)
{
    uint64_t base = w->s.g[k].base;
    size_t lfrom = seg_start(w->from, base), until = w->until;
    int rc = XY_OK, scan_rc = cur ? cur->rc : XY_OK;
    size_t good = cur ? cur->good : 0, bad_at = cur ? cur->bad_at : SIZE_MAX;
    if (lfrom > len) {
        xy__diagf(w->diag, w->ctx, "%s/snapshot: covers %zu bytes of a log of %llu", w->db->path, w->from,
                  (unsigned long long)(base + len));
        rc = XY_ECORRUPT;
    } else if (apply_rc) {
        rc = undecodable(w, k);
    } else if (scan_rc != XY_OK) {
        xy__diagf(w->diag, w->ctx, "%s:%zu: damaged record with committed batches after it (the log is corrupt)",
                  w->s.g[k].path, bad_at);
        rc = XY_ECORRUPT;
    } else if (good != len && k < w->s.n - 1) {
        xy__diagf(w->diag, w->ctx, "%s:%zu: damaged or unfinished batch in a segment that later segments follow "
                  "(the log is corrupt)", w->s.g[k].path, good);
        rc = XY_ECORRUPT;
    } else {
        size_t end = until != SIZE_MAX && until < base + good ? (until > base ? (size_t)(until - base) : lfrom)
                                                               : good;
        if (end > applied) {
            rc = w->e ? xy__apply_range(w->db, w->e, data, base, applied, end, 0, 1, w->trail, &w->db->nevents)
                      : w->each(w->ctx2, data, base, applied, end);
            /* A walk that only reads the records (verify) said what it
             * found itself. */
            if (rc) rc = w->e ? undecodable(w, k) : XY_ECORRUPT;
        }
        w->good_all = base + good;
        if (until != SIZE_MAX && until <= base + good) w->reached = 1;
    }
    return rc;
}

/* Walks segment k: takes it from the check started ahead or maps it,
 * starts the check of the next one, applies this one as it is checked and
 * finishes it. */
static int walk_segment(log_walk *w, int k)
{
    uint64_t base = w->s.g[k].base;
    size_t lfrom = seg_start(w->from, base), applied = lfrom;
    seg_scan *cur = w->next;
    w->next = NULL;
    const unsigned char *data;
    size_t len;
    int fd, rc;
    if (cur) {
        data = cur->data;
        len = cur->len;
        fd = cur->fd;
    } else {
        unsigned char *m;
        rc = map_segment(w->s.g[k].path, w->diag, w->ctx, &m, &len, &fd);
        if (rc) return rc;
        data = m;
        if (lfrom <= len) scan_start(cur = &w->scans[k % 2], data, fd, len, lfrom);
    }
    w->len_all = base + len;
    /* While this segment is applied, the next one is checked. */
    w->next = scan_ahead(w, k);
    int apply_rc = XY_OK;
    if (cur) {
        size_t lim = w->until == SIZE_MAX ? SIZE_MAX : w->until > base ? (size_t)(w->until - base) : lfrom;
        size_t keep = w->keep_from > base ? (size_t)(w->keep_from - base) : 0;
        if (w->e) apply_rc = apply_as_checked(w->db, w->e, cur, base, lim, keep, w->trail, &applied);
        else scan_wait(cur);
    }
    rc = finish_segment(w, k, cur, apply_rc, data, len, applied);
    unmap_segment(data, len);
    close(fd);
    return rc;
}

int xy__db_walk(xy_db *db, xy_engine *e, xy_seg_fn *each, void *ctx2, size_t from, size_t until, xy_trail *trail,
                xy_diag_fn *diag, void *ctx, size_t *good_out, size_t *len_out)
{
    xy__db_settle(db);
    log_walk w = {.db = db, .e = e, .each = each, .ctx2 = ctx2, .from = from, .until = until, .trail = trail,
                  .diag = diag, .ctx = ctx, .good_all = sizeof xy__log_magic};
    int rc = xy__segs_list(db->path, &w.s, diag, ctx);
    if (rc) return rc;
    const xy_segs *s = &w.s;
    if (s->n > 0 && s->g[s->n - 1].base + s->g[s->n - 1].size > snapshot_every())
        w.keep_from = s->g[s->n - 1].base + s->g[s->n - 1].size - snapshot_every();
    for (int k = 0; k < s->n && rc == XY_OK && !w.reached; k++) {
        uint64_t base = s->g[k].base, size = s->g[k].size;
        w.len_all = base + size;
        if (torn_header(s, k)) break;
        if (base + size <= from && k < s->n - 1 && !w.next) {
            w.good_all = base + size;
            continue;
        }
        rc = walk_segment(&w, k);
    }
    if (w.next) {
        scan_wait(w.next);
        unmap_segment(w.next->data, w.next->len);
        close(w.next->fd);
    }
    xy__segs_free(&w.s);
    if (rc == XY_OK && from > w.len_all) {
        xy__diagf(diag, ctx, "%s/snapshot: covers %zu bytes of a log of %llu", db->path, from,
                  (unsigned long long)w.len_all);
        rc = XY_ECORRUPT;
    }
    if (good_out) *good_out = (size_t)w.good_all;
    if (len_out) *len_out = (size_t)w.len_all;
    return rc;
}

/* Applies the log's whole batches from offset from (up to offset until,
 * which must end a batch, if not SIZE_MAX) to e, extending trail if not
 * NULL. */
static int replay(xy_db *db, xy_engine *e, size_t from, size_t until, xy_trail *trail, xy_diag_fn *diag, void *ctx,
                  size_t *good_out, size_t *len_out)
{
    return xy__db_walk(db, e, NULL, NULL, from, until, trail, diag, ctx, good_out, len_out);
}

/* A handle on path in mode with nothing open yet, which xy_db_close can
 * close at any point of open_db. */
static xy_db *new_db(const char *path, int mode)
{
    xy_db *db = xy__calloc(1, sizeof *db);
    db->path = xy__strndup(path, strlen(path));
    db->once = (mode & XY_ONCE) != 0;
    db->mode = mode & ~XY_ONCE;
    db->lock_fd = db->log_fd = db->trail.fd = -1;
    /* The batch buffer is rewritten while a snapshot's child runs, which
     * never reads it. */
    xy__buf_private(&db->batch);
    xy__buf_private(&db->pending.batch);
    db->hist_resid = 0;
    db->hist_index = XY_NONE;
    xy__evindex_init(&db->evix, path);
    return db;
}

/* Takes the writer's lock on the data directory path for db, or says to
 * diag why it cannot (XY_EIO, XY_ELOCKED). */
static int lock_dir(xy_db *db, const char *path, xy_diag_fn *diag, void *ctx)
{
    int rc = XY_OK;
    /* The lock is on the directory itself, not on a file in it: a lock
     * file can be deleted (as stale, by hand) while its writer runs,
     * and a second writer would then lock a new one. */
    db->lock_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (db->lock_fd < 0) {
        xy__diagf(diag, ctx, "%s: cannot open: %s", path, strerror(errno));
        rc = XY_EIO;
    } else if (flock(db->lock_fd, LOCK_EX | LOCK_NB)) {
        xy__diagf(diag, ctx, "%s: another xinyong process is writing to this data directory", path);
        rc = XY_ELOCKED;
    }
    return rc;
}

/* Gives db the rules given (borrowed), or else the copy in path/rules
 * once it is checked to be init's (XY_ECORRUPT when it is not, or does
 * not load). */
static int open_rules(xy_db *db, const char *path, xy_rules *rules, xy_diag_fn *diag, void *ctx)
{
    int rc = XY_OK;
    if (rules) {
        db->rules = rules;
        db->rules_borrowed = 1;
    } else {
        char *rdir = join(path, "rules");
        rc = xy__db_check_rules_copy(path, diag, ctx);
        if (rc == XY_OK || rc == XY_ENOENT) rc = xy_rules_load_dir(rdir, diag, ctx, &db->rules);
        xy__free(rdir);
        if (rc) rc = XY_ECORRUPT;
    }
    return rc;
}

/* Writes db's trail again from the log up to log offset from (the
 * snapshot's), in a scratch engine. */
static int rebuild_trail(xy_db *db, const char *path, uint64_t from, xy_diag_fn *diag, void *ctx)
{
    xy__diagf(diag, ctx, "%s/trail: warning: rebuilding the history index from the log", path);
    xy_engine *scratch;
    xy_engine_new(db->rules, &scratch);
    uint64_t nevents = db->nevents;
    db->nevents = 0;
    db->hist_fn = NULL;
    int rc = replay(db, scratch, 0, (size_t)from, &db->trail, NULL, NULL, NULL, NULL);
    db->nevents = nevents;
    xy_engine_free(scratch);
    return rc;
}

/* Brings db's engine up to the log's end from the snapshot, if any, and
 * its trail, setting *good to the end of the last whole batch and *len to
 * the end of the log. */
static int restore_state(xy_db *db, const char *path, int mode, xy_diag_fn *diag, void *ctx, size_t *good,
                         size_t *len)
{
    uint64_t from = 0;
    int rc = xy__snapshot_read(db, &from, diag, ctx);
    if (rc == XY_ECORRUPT || rc == XY_EIO) goto done;
    if (rc) from = 0;
    db->snapshot_unused = rc != XY_OK && rc != XY_ENOENT;
    db->snapshot_offset = from;
    rc = XY_OK;
    /* A snapshot that left the trail out (its sync failed) claims none of
     * the file, and its heads point into a file that may hold anything. */
    int unclaimed = from && db->trail_use == 0;
    uint64_t use = unclaimed ? XY_TRAIL_UNCLAIMED : from ? db->trail_use : 0;
    if (xy__trail_open(&db->trail, path, mode == XY_WRITE, use) != XY_OK && mode == XY_WRITE && !db->trail.broken) {
        /* The trail the snapshot points into is gone, damaged or left
         * out: write it again from the log up to the snapshot, in a
         * scratch engine. A snapshot that left it out goes on saying so
         * to every reader (who explain by replaying the log) and to every
         * writer (who rebuild it again) until a new one claims it: the
         * first write makes one. */
        rc = rebuild_trail(db, path, from, diag, ctx);
        if (unclaimed) db->snapshot_unused = 1;
    }
    if (rc) goto done;
    rc = replay(db, db->engine, (size_t)from, SIZE_MAX, &db->trail, diag, ctx, good, len);
    /* A writer that cannot write the trail (not a regular file, a disk
     * that refuses) goes on without it: nothing acknowledged depends on
     * it, but every explanation will be a replay of the log, which at
     * scale is slow enough to want a reason. */
    if (!rc && mode == XY_WRITE && db->trail.broken)
        xy__diagf(diag, ctx, "%s/trail: warning: the history index cannot be written; explanations replay the log "
                  "until a writer can write it again", path);
done:
    return rc;
}

/* Opens the log's last segment for db's appends, tidying up after a crash
 * (a segment cut short in its header, an unfinished batch between good and
 * len, space reserved past the end). */
static int open_for_append(xy_db *db, const char *path, size_t good, size_t len, xy_diag_fn *diag, void *ctx)
{
    xy_segs sg;
    int rc = xy__segs_list(path, &sg, diag, ctx);
    if (rc) return rc;
    int k = sg.n - 1;
    if (torn_header(&sg, k)) {
        /* A segment a crash cut short in its header holds nothing. */
        xy__diagf(diag, ctx, "%s: warning: removing a log segment cut short at its start", sg.g[k].path);
        /* Once unlinked it is gone, but a crash may bring it back until
         * the directory is synced: which of the two failed is told. */
        if (unlink(sg.g[k].path)) {
            xy__diagf(diag, ctx, "%s: cannot remove: %s", sg.g[k].path, strerror(errno));
            rc = XY_EIO;
        } else if (xy__fsync_dir(path)) {
            xy__diagf(diag, ctx, "%s: cannot sync the directory: %s", path, strerror(errno));
            rc = XY_EIO;
        }
        k--;
    }
    db->seg_base = sg.g[k].base;
    db->log_fd = rc ? -1 : open(sg.g[k].path, O_RDWR); /* read: see commit_spilled */
    if (!rc && db->log_fd < 0) {
        rc = xy__errno_status(errno);
        xy__diagf(diag, ctx, "%s: cannot open for writing: %s", sg.g[k].path, strerror(errno));
    }
    if (!rc && good != len && good >= sg.g[k].base) {
        /* A batch cut short by a crash was never acknowledged: drop it. */
        xy__diagf(diag, ctx, "%s: warning: dropping %zu bytes of an unfinished batch at offset %llu",
                  sg.g[k].path, len - good, (unsigned long long)(good - sg.g[k].base));
        if (ftruncate(db->log_fd, (off_t)(good - sg.g[k].base)) || fsync(db->log_fd)) {
            rc = xy__errno_status(errno);
            xy__diagf(diag, ctx, "%s: cannot drop the unfinished batch: %s", sg.g[k].path, strerror(errno));
        }
    } else if (!rc) {
        /* A crash between reserving a batch's space and writing any of
         * it leaves the blocks reserved past the segment's end: cutting
         * the file to its own length gives them back (only space is at
         * stake, so no sync). */
        struct stat fst;
        if (fstat(db->log_fd, &fst) == 0 &&
            (uint64_t)fst.st_blocks * 512 > (uint64_t)fst.st_size + (uint64_t)fst.st_blksize)
            (void)ftruncate(db->log_fd, fst.st_size);
    }
    xy__segs_free(&sg);
    return rc == XY_ENOENT ? XY_EIO : rc;
}

/* xy__db_open_rules, taking the writer's lock only with lock (a stale
 * handle's rebuild runs under the lock its handle holds). */
static int open_db(const char *path, int mode, xy_rules *rules, int lock, xy_diag_fn *diag, void *ctx, xy_db **out)
{
    xy_db *db = new_db(path, mode);
    mode &= ~XY_ONCE;
    *out = NULL;
    int rc = XY_OK;
    struct stat st;
    char *log = join(path, "log");
    if (stat(path, &st) || !S_ISDIR(st.st_mode) || stat(log, &st)) {
        xy__diagf(diag, ctx, "%s: not a data directory (run 'xinyong init' first)", path);
        rc = XY_ENOENT;
        goto fail;
    }
    if (mode == XY_WRITE && lock) rc = lock_dir(db, path, diag, ctx);
    if (rc) goto fail;
    rc = open_rules(db, path, rules, diag, ctx);
    if (rc) goto fail;
    xy_engine_new(db->rules, &db->engine);
    /* Start from the snapshot when there is one, then the log after it. */
    size_t good, len;
    rc = restore_state(db, path, mode, diag, ctx, &good, &len);
    if (rc) goto fail;
    if (mode == XY_WRITE) (void)xy__trail_flush(&db->trail);
    db->log_size = good;
    if (mode == XY_WRITE) rc = open_for_append(db, path, good, len, diag, ctx);
    if (rc) goto fail;
    xy__free(log);
    *out = db;
    return XY_OK;
fail:
    xy__free(log);
    xy_db_close(db);
    return rc;
}

int xy_db_open(const char *path, int mode, xy_diag_fn *diag, void *ctx, xy_db **out)
{
    *out = NULL;
    /* XY_READ, or XY_WRITE with XY_ONCE or not: anything else is a
     * caller's mistake, not a reader to open by default. */
    if ((mode & ~XY_ONCE) != XY_READ && (mode & ~XY_ONCE) != XY_WRITE) return XY_EINVAL;
    if ((mode & XY_ONCE) && (mode & ~XY_ONCE) != XY_WRITE) return XY_EINVAL;
    return open_db(path, mode, NULL, 1, diag, ctx, out);
}

int xy__db_open_rules(const char *path, int mode, xy_rules *rules, xy_diag_fn *diag, void *ctx, xy_db **out)
{
    return open_db(path, mode, rules, 1, diag, ctx, out);
}

/* The child's diag: what it says goes to the shared page, whole lines
 * only. */
static void snap_word_diag(void *ctx, const char *msg)
{
    xy_snap_word *w = ctx;
    size_t n = strlen(msg);
    if (n + 1 > sizeof w->said - w->len) return;
    memcpy(w->said + w->len, msg, n);
    w->said[w->len + n] = '\n';
    w->len += n + 1;
}

/* Remembers the status rc of a snapshot the handle wrote by itself and
 * what it said, the len bytes at said (see xy_db_finish_snapshots). */
static void snap_note(xy_db *db, int rc, const char *said, size_t len)
{
    xy__free(db->snap_said);
    db->snap_said = xy__malloc(len + 1);
    memcpy(db->snap_said, said, len);
    db->snap_said[len] = '\0';
    db->snap_rc = rc;
}

/* A snapshot is an optimisation (the batches are durable in the log
 * already), so writing one must not stall the writer: a child process
 * writes it from its copy-on-write image of the state while the parent
 * goes on appending. A failure only means a longer start-up next time. */
static void start_snapshot(xy_db *db)
{
    if (xy__trail_flush(&db->trail)) return;
    if (!db->snap_word) {
        void *m = mmap(NULL, sizeof *db->snap_word, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return;
        db->snap_word = m;
    }
    db->snap_word->rc = XY_EIO;
    db->snap_word->len = 0;
    fflush(NULL);
    xy__evindex_freeze(&db->evix);
    xy__engine_before_fork(db->engine);
    xy__trail_before_fork(&db->trail);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) return;
    if (pid == 0) {
        xy__engine_in_child(db->engine);
        xy__trail_in_child(&db->trail);
        /* The child shares the writer's lock; it must not outlive the
         * writer, or a crashed writer would keep the directory locked and
         * the child write a snapshot of a trail a new writer has cut. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent) _exit(1);
        db->snap_word->rc = xy__snapshot_write(db, snap_word_diag, db->snap_word);
        _exit(db->snap_word->rc == XY_OK ? 0 : 1);
    }
    db->snap_pid = (int)pid;
    db->snap_covers = db->log_size;
    db->snap_upto = db->nevents;
}

/* Once a snapshot that spilled the event index up to event upto is in
 * place: its runs replace the memtable's entries below upto. */
static void adopt_runs(xy_db *db, uint64_t upto)
{
    xy_buf list = {0};
    xy__evindex_plan_list(&db->evix, upto, &list);
    if (xy__evindex_adopt(&db->evix, list.data, list.len) != XY_OK)
        xy_panic("the runs of a snapshot just written do not open");
    xy__buf_free(&list);
}

/* Collects a finished background snapshot (waiting for it with wait). */
static void reap_snapshot(xy_db *db, int wait)
{
    if (!db->snap_pid) return;
    int status;
    pid_t got;
    do got = waitpid((pid_t)db->snap_pid, &status, wait ? 0 : WNOHANG);
    while (got < 0 && errno == EINTR);
    if (got == 0) return;
    const xy_snap_word *w = db->snap_word;
    if (got == (pid_t)db->snap_pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        db->snapshot_offset = db->snap_covers;
        adopt_runs(db, db->snap_upto);
        /* What a snapshot that succeeded said (a warning) is passed on
         * as well; a failure before it is over and done. */
        snap_note(db, XY_OK, w->said, w->len);
    } else if (got == (pid_t)db->snap_pid && WIFSIGNALED(status)) {
        char m[200];
        int n = snprintf(m, sizeof m, "%s/snapshot: the process writing it in the background ended by signal %d\n",
                         db->path, WTERMSIG(status));
        snap_note(db, XY_EIO, m, (size_t)n);
    } else {
        snap_note(db, w->rc == XY_OK ? XY_EIO : w->rc, w->said, w->len);
    }
    db->snap_pid = 0;
}

/* After a batch is in the log: keep start-up short with a new snapshot
 * once the log has grown by XY_SNAPSHOT_EVERY bytes since the last, or
 * after the first write when the snapshot there could not be used (every
 * start-up replays the whole log until one replaces it), written in the
 * background from the state with every batch applied. */
void xy__db_after_commit(xy_db *db)
{
    reap_snapshot(db, 0);
    if (!db->snap_pid && (db->snapshot_unused || db->log_size - db->snapshot_offset >= snapshot_every())) {
        if (db->once) {
            db->snapshot_due = 1; /* written by xy_db_close */
            return;
        }
        xy__db_settle(db);
        start_snapshot(db);
        if (db->snap_pid) db->snapshot_unused = 0;
    }
}

int xy__db_snapshot_start(xy_db *db)
{
    if (db->mode != XY_WRITE || db->once) return XY_EINVAL;
    if (db->broken) return db->broken;
    xy__db_settle(db);
    reap_snapshot(db, 1);
    start_snapshot(db);
    if (!db->snap_pid) return XY_EIO;
    db->snapshot_unused = 0;
    return XY_OK;
}

int xy__db_snapshot_running(xy_db *db)
{
    reap_snapshot(db, 0);
    return db->snap_pid != 0;
}

/* Passes on what the snapshot a handle wrote by itself said, a line at a
 * time: its warnings as they are, and the reason it failed as a warning
 * (the write it followed is durable all the same). */
static void tell_snapshot(const xy_db *db, xy_diag_fn *diag, void *ctx)
{
    const char *p = db->snap_said ? db->snap_said : "";
    int told = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        int n = (int)(nl ? nl - p : (ptrdiff_t)strlen(p));
        if (memmem(p, (size_t)n, ": warning: ", 11)) {
            xy__diagf(diag, ctx, "%.*s", n, p);
        } else {
            xy__diagf(diag, ctx, "%s/snapshot: warning: not written (%.*s); nothing acknowledged is lost: "
                      "start-up replays the log since the last snapshot in place", db->path, n, p);
            told = 1;
        }
        p += n + (nl != NULL);
    }
    if (db->snap_rc != XY_OK && !told)
        xy__diagf(diag, ctx, "%s/snapshot: warning: not written (%s); nothing acknowledged is lost: start-up replays "
                  "the log since the last snapshot in place", db->path, xy_strerror(db->snap_rc));
}

int xy_db_finish_snapshots(xy_db *db, xy_diag_fn *diag, void *ctx)
{
    if (db->mode != XY_WRITE) return XY_OK;
    xy__db_settle(db); /* the batch in hand, as every use of the handle */
    /* A handle of XY_ONCE writes the snapshot that fell due here, from its
     * own state, unless that state holds what the log does not (a failed
     * write; the state of a failed load applied ahead has just been
     * rebuilt from the directory, unless xy_db_close dropped the
     * snapshot rather than rebuild it). */
    if (db->snapshot_due && !db->broken) {
        db->snapshot_due = 0;
        xy_snap_word *w = xy__malloc(sizeof *w);
        w->len = 0;
        w->rc = xy_db_snapshot(db, snap_word_diag, w);
        snap_note(db, w->rc, w->said, w->len);
        xy__free(w);
    }
    reap_snapshot(db, 1);
    tell_snapshot(db, diag, ctx);
    int rc = db->snap_rc;
    db->snap_rc = XY_OK;
    xy__free(db->snap_said);
    db->snap_said = NULL;
    return rc;
}

void xy_db_close(xy_db *db)
{
    if (!db) return;
    /* A stale state is not worth rebuilding for a snapshot now. */
    if (db->stale) db->snapshot_due = 0;
    db->stale = 0; /* nothing left to see */
    (void)xy_db_finish_snapshots(db, NULL, NULL);
    xy__db_settle(db);
    if (db->snap_word) munmap(db->snap_word, sizeof *db->snap_word);
    if (db->log_fd >= 0) close(db->log_fd);
    if (db->lock_fd >= 0) close(db->lock_fd);
    xy__trail_free(&db->trail);
    xy_engine_free(db->engine);
    if (!db->rules_borrowed) xy_rules_free(db->rules);
    xy__evindex_free(&db->evix);
    xy__buf_free(&db->batch);
    xy__buf_free(&db->spill.other);
    xy__buf_free(&db->pending.batch);
    xy__private_free(db->staged_key, db->cap_staged * sizeof *db->staged_key);
    xy__private_free(db->stage.sid, db->stage.cap * sizeof *db->stage.sid);
    xy__private_free(db->stage.tmp, db->stage.cap * sizeof *db->stage.tmp);
    xy__private_free(db->stage.rank, db->stage.cap * sizeof *db->stage.rank);
    xy__private_free(db->stage.verdict, db->stage.cap);
    xy__free(db->stage.count);
    xy__db_drop_log_reader(db);
    forget_event_ids(db);
    xy__free(db->snap_said);
    xy__free(db->path);
    xy__free(db);
}

/* Rebuilds a stale handle's state from the data directory, as opening it
 * would (the log holds nothing of the failed load): a new handle's state
 * takes the place of this one's. The engine keeps its address, which
 * callers hold (xy_db_engine), and the handle its lock, rules and
 * counters. If the directory no longer opens, the state is left empty
 * and every write gets the error. */
void xy__db_reload(xy_db *db)
{
    db->stale = 0;
    reap_snapshot(db, 1);
    xy_db *fresh;
    int rc = open_db(db->path, XY_WRITE, db->rules, 0, NULL, NULL, &fresh);
    if (rc) {
        xy_engine *empty;
        xy_engine_new(db->rules, &empty);
        xy_engine t = *db->engine;
        *db->engine = *empty;
        *empty = t;
        xy_engine_free(empty);
        db->broken = rc;
        return;
    }
    xy_db old = *db;
    *db = *fresh;
    db->path = old.path;
    db->lock_fd = old.lock_fd;
    db->rules = old.rules;
    db->rules_borrowed = old.rules_borrowed;
    db->once = old.once;
    db->snapshot_due = old.snapshot_due; /* the rebuilt state is the log's: still worth one */
    db->history_fallbacks = old.history_fallbacks;
    memcpy(db->commit_secs, old.commit_secs, sizeof db->commit_secs);
    db->engine = old.engine;
    xy_engine t = *old.engine;
    *old.engine = *fresh->engine;
    *fresh->engine = t;
    /* What is left of the old handle goes, but for what it lent, and
     * without the snapshot that fell due: its state is the stale one. */
    old.snapshot_due = 0;
    old.path = fresh->path;
    old.lock_fd = -1;
    old.rules_borrowed = 1;
    old.engine = fresh->engine;
    *fresh = old;
    xy_db_close(fresh);
}

xy_engine *xy_db_engine(xy_db *db)
{
    xy__db_settle(db);
    return db->engine;
}
const xy_rules *xy_db_rules(const xy_db *db) { return db->rules; }
uint64_t xy_db_history_fallbacks(const xy_db *db) { return db->history_fallbacks; }

xy_buf *xy__db_batch(xy_db *db)
{
    db->batch.len = 0;
    return &db->batch;
}

int xy_db_snapshot(xy_db *db, xy_diag_fn *diag, void *ctx)
{
    if (db->mode != XY_WRITE) return XY_EINVAL;
    if (db->broken) return db->broken; /* its state holds a refused batch */
    xy__db_settle(db);
    reap_snapshot(db, 1);
    int rc = xy__snapshot_write(db, diag, ctx);
    if (rc == XY_OK) {
        db->snapshot_offset = db->log_size;
        adopt_runs(db, db->nevents);
    }
    return rc;
}

int xy_db_advance(xy_db *db, xy_day day)
{
    if (db->mode != XY_WRITE || !xy_day_valid(day)) return XY_EINVAL;
    xy__db_settle(db);
    xy_day today = db->engine->today;
    if (today != XY_DAY_NONE && day < today) return XY_ECLOCK;
    if (day == today) return db->broken; /* a no-op is not worth a batch and an fdatasync */
    xy_buf b = {0};
    xy__rec_advance(&b, day);
    int rc = xy__db_commit(db, &b, 1);
    xy__buf_free(&b);
    return rc;
}
