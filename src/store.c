/* store.c -- the data directory and its log.
 *
 * Layout of a data directory:
 *   rules/     a copy of the ruleset it was created with
 *   log        a 16-byte header, then records
 *   lock       held (flock) by the one writer
 *
 * A record is: u32 length of the payload, u32 CRC-32 of the payload, then
 * the payload, whose first byte is the record type. A batch (one load, one
 * advance) ends with a commit record; replay applies only whole batches, so
 * a load is atomic even when the process dies half-way through writing it.
 * All integers are little-endian. */
#include "store.h"
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

static const char LOG_MAGIC[16] = "XINYONG-LOG\0v001";

void xy__diagf(xy_diag_fn *fn, void *ctx, const char *fmt, ...)
{
    if (!fn) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(ctx, msg);
}

/* ------------------------------------------------------------ encoding */

/* Reserves a record of payload size n (type byte included) at the end of
 * b and returns a pointer to its payload; rec_frame() writes its length and
 * seal_batch() its checksum. */
static unsigned char *rec_reserve(xy_buf *b, size_t n, int type)
{
    if (b->len + 8 + n + 1 > b->cap) xy_buf_grow(b, b->len + 8 + n);
    unsigned char *p = (unsigned char *)b->data + b->len + 8;
    p[0] = (unsigned char)type;
    b->len += 8 + n;
    b->data[b->len] = 0;
    return p;
}


static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

/* Writes the length of a record whose payload of n bytes is at payload. */
static void rec_frame(unsigned char *payload, size_t n) { put32(payload - 8, (uint32_t)n); }

/* Writes the checksum of every record of a batch, just before the batch
 * goes to the log. Computed as each record was encoded, reading it back
 * right after it was written amid the staging's cache misses, it stalled
 * about 90 ns a record in a profile; a pass over the finished batch takes
 * about 10. */
static void seal_batch(xy_buf *b, size_t from)
{
    unsigned char *d = (unsigned char *)b->data;
    for (size_t off = from; off + 8 <= b->len;) {
        uint32_t len = xy_get_u32(d + off);
        put32(d + off + 4, xy_crc32(0, d + off + 8, len));
        off += 8 + (size_t)len;
    }
}

void xy__rec_citizen(xy_buf *b, xy_resid id, int city, uint32_t father, uint32_t mother,
                     const char *name, size_t name_len)
{
    size_t n = 23 + name_len;
    unsigned char *p = rec_reserve(b, n, R_CITIZEN);
    uint16_t c = (uint16_t)city;
    put64(p + 1, id);
    memcpy(p + 9, &c, 2);
    put32(p + 11, father);
    put32(p + 15, mother);
    put32(p + 19, (uint32_t)name_len);
    memcpy(p + 23, name, name_len);
    rec_frame(p, n);
}

void xy__rec_contact(xy_buf *b, uint32_t a, uint32_t bb)
{
    unsigned char *p = rec_reserve(b, 9, R_CONTACT);
    put32(p + 1, a);
    put32(p + 5, bb);
    rec_frame(p, 9);
}

void xy__rec_event(xy_buf *b, const xy_event *ev, const char *id, size_t id_len)
{
    size_t n = 30 + id_len;
    unsigned char *p = rec_reserve(b, n, R_EVENT);
    put32(p + 1, (uint32_t)ev->date);
    put32(p + 5, ev->citizen);
    put32(p + 9, (uint32_t)ev->behaviour);
    put32(p + 13, (uint32_t)ev->agency);
    put64(p + 17, (uint64_t)ev->amount);
    put32(p + 25, ev->counterpart);
    p[29] = (unsigned char)id_len;
    memcpy(p + 30, id, id_len);
    rec_frame(p, n);
}

int xy__rec_read_event(const unsigned char *p, uint32_t len, xy_event *ev)
{
    if (len < 30 || 30 + (uint32_t)p[29] != len) return XY_ECORRUPT;
    ev->date = (xy_day)xy_get_u32(p + 1);
    ev->citizen = xy_get_u32(p + 5);
    ev->behaviour = (int32_t)xy_get_u32(p + 9);
    ev->agency = (int32_t)xy_get_u32(p + 13);
    ev->amount = (int64_t)xy_get_u64(p + 17);
    ev->counterpart = xy_get_u32(p + 25);
    return XY_OK;
}

void xy__rec_advance(xy_buf *b, xy_day day)
{
    unsigned char *p = rec_reserve(b, 5, R_ADVANCE);
    put32(p + 1, (uint32_t)day);
    rec_frame(p, 5);
}

/* Bytes of a commit record, framing included. */
#define COMMIT_BYTES 17

static void rec_commit(xy_buf *b, uint64_t n)
{
    unsigned char *p = rec_reserve(b, 9, R_COMMIT);
    put64(p + 1, n);
    rec_frame(p, 9);
}

/* ---------------------------------------------------------- event index */

uint64_t xy__event_content_hash(const xy_event *ev)
{
    /* xy_hash_bytes of these six words, written out for their fixed size
     * (the values are stored in the event index and must not change; a
     * unit test compares the two). */
    const uint64_t w[6] = {(uint64_t)(uint32_t)ev->date, ev->citizen, (uint64_t)(uint32_t)ev->behaviour,
                           (uint64_t)(uint32_t)ev->agency, (uint64_t)ev->amount, ev->counterpart};
    uint64_t h = 0xcbf29ce484222325ULL ^ sizeof w;
    for (int i = 0; i < 6; i++) {
        h = (h ^ w[i]) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return xy_hash64(h * 0x100000001b3ULL);
}

/* Remembers a key staged by the load in progress, to take it out again if
 * the load is refused. */
static void note_staged(xy_db *db, const uint64_t key[2])
{
    /* Rewritten by every load, also while a snapshot's child runs. */
    if (2 * db->nstaged + 2 > db->cap_staged)
        xy_private_grow((void **)&db->staged_key, &db->cap_staged, 2 * db->nstaged + 2, sizeof *db->staged_key);
    db->staged_key[2 * db->nstaged] = key[0];
    db->staged_key[2 * db->nstaged + 1] = key[1];
    db->nstaged++;
}

int xy__db_find_or_stage(xy_db *db, const uint64_t key[2], uint64_t content, uint64_t seq, uint64_t *had,
                         uint64_t *had_seq)
{
    if (xy_evindex_find_or_put(&db->evix, key, content, seq, had, had_seq)) return 1;
    note_staged(db, key);
    return 0;
}

static void drop_spill(xy_db *db);
static void mark_stale(xy_db *db);

void xy__db_unstage(xy_db *db)
{
    for (size_t i = 0; i < db->nstaged; i++) xy_evindex_del(&db->evix, &db->staged_key[2 * i]);
    db->nstaged = 0;
    drop_spill(db);
}

void xy__db_note_event_id(xy_db *db, uint64_t seq, const char *id, size_t n)
{
    int is_new;
    uint64_t *v = xy_map_put(&db->hist_ids, seq, &is_new);
    if (!is_new) return;
    *v = db->hist_idbuf.len;
    xy_buf_append(&db->hist_idbuf, id, n);
    xy_buf_append(&db->hist_idbuf, "", 1);
}

/* ------------------------------------------------------ scanning the log */

/* Whether a whole, valid commit record starts anywhere in data[from..len):
 * the sign that committed batches follow a damaged spot. */
static int commit_after(const unsigned char *data, size_t len, size_t from)
{
    for (size_t p = from; p + 17 <= len; p++) {
        if (xy_get_u32(data + p) != 9 || data[p + 8] != R_COMMIT) continue;
        if (xy_crc32(0, data + p + 8, 9) == xy_get_u32(data + p + 4)) return 1;
    }
    return 0;
}

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
    size_t off = from;
    *good = from;
    *bad_at = SIZE_MAX;
    while (off + 8 <= len) {
        uint32_t rlen = xy_get_u32(data + off), crc = xy_get_u32(data + off + 4);
        if (rlen == 0 || rlen > len - off - 8 || xy_crc32(0, data + off + 8, rlen) != crc) break;
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

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return XY_EIO;
    int rc = fsync(fd) ? XY_EIO : XY_OK;
    close(fd);
    return rc;
}

static int write_all(int fd, const void *p, size_t n)
{
    int err = xy_write_all(fd, p, n);
    return err == 0 ? XY_OK : err == ENOSPC ? XY_ENOSPC : XY_EIO;
}

static int copy_file(const char *from, const char *to)
{
    char *data;
    size_t len;
    int rc = xy_read_file(from, &data, &len);
    if (rc) return rc;
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        xy_free(data);
        return XY_EIO;
    }
    rc = write_all(fd, data, len);
    if (!rc && fsync(fd)) rc = XY_EIO;
    close(fd);
    xy_free(data);
    return rc;
}

static char *join(const char *a, const char *b)
{
    xy_buf x = {0};
    xy_buf_printf(&x, "%s/%s", a, b);
    return x.data;
}

int xy_db_create(const char *path, const char *rules_dir, xy_diag_fn *diag, void *ctx)
{
    xy_rules *rules;
    int rc = xy_rules_load_dir(rules_dir, diag, ctx, &rules);
    if (rc) return rc == XY_ENOENT ? XY_EINPUT : rc;
    xy_rules_free(rules);
    char *log = join(path, "log"), *rdir = join(path, "rules");
    struct stat st;
    if (stat(log, &st) == 0) {
        xy__diagf(diag, ctx, "%s: already a data directory", path);
        rc = XY_EEXIST;
        goto done;
    }
    if ((mkdir(path, 0755) && errno != EEXIST) || (mkdir(rdir, 0755) && errno != EEXIST)) {
        xy__diagf(diag, ctx, "%s: cannot create: %s", path, strerror(errno));
        rc = XY_EIO;
        goto done;
    }
    DIR *dh = opendir(rules_dir);
    struct dirent *de;
    while (dh && (de = readdir(dh)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n <= 6 || strcmp(de->d_name + n - 6, ".rules") != 0) continue;
        char *from = join(rules_dir, de->d_name), *to = join(rdir, de->d_name);
        rc = copy_file(from, to);
        if (rc) xy__diagf(diag, ctx, "%s: cannot copy to %s", from, to);
        xy_free(from);
        xy_free(to);
        if (rc) break;
    }
    if (dh) closedir(dh);
    if (rc) goto done;
    /* The copy must stand alone: a file included from outside the rules
     * directory would be missing from it. */
    rc = xy_rules_load_dir(rdir, diag, ctx, &rules);
    if (rc) {
        xy__diagf(diag, ctx, "%s: the rules must be self-contained: every included file must be in %s",
                  rules_dir, rules_dir);
        rc = XY_EINPUT;
        goto done;
    }
    xy_rules_free(rules);
    /* The log appears last, whole: it is what marks a data directory. */
    char *tmp = join(path, "log.tmp");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write_all(fd, LOG_MAGIC, sizeof LOG_MAGIC) || fsync(fd) || rename(tmp, log)) {
        xy__diagf(diag, ctx, "%s: cannot write: %s", log, strerror(errno));
        rc = XY_EIO;
    }
    if (fd >= 0) close(fd);
    xy_free(tmp);
    if (!rc) rc = fsync_dir(rdir);
    if (!rc) rc = fsync_dir(path);
done:
    xy_free(log);
    xy_free(rdir);
    return rc;
}

/* ------------------------------------------------------------ segments */

void xy__segs_free(xy_segs *s)
{
    for (int k = 0; k < s->n; k++) xy_free(s->g[k].path);
    xy_free(s->g);
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
    if (!dh) return errno == ENOENT ? XY_ENOENT : XY_EIO;
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
        xy__diagf(diag, ctx, "%s: not a data directory (no log; run 'xinyong init')", dir);
        xy__segs_free(s);
        return XY_ENOENT;
    }
    for (int k = 0; k < s->n; k++) {
        struct stat st;
        if (stat(s->g[k].path, &st)) {
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

/* Maps a segment and checks its header. */
static int map_segment(const char *path, xy_diag_fn *diag, void *ctx, unsigned char **data, size_t *len)
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
    if ((size_t)st.st_size < sizeof LOG_MAGIC) {
        xy__diagf(diag, ctx, "%s: log header is missing", path);
        rc = XY_ECORRUPT;
        goto done;
    }
    *len = (size_t)st.st_size;
    *data = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (*data == MAP_FAILED) {
        *data = NULL;
        rc = XY_EIO;
        goto done;
    }
    if (memcmp(*data, LOG_MAGIC, sizeof LOG_MAGIC) != 0) {
        xy__diagf(diag, ctx, "%s:0: not a xinyong log (bad header)", path);
        rc = XY_ECORRUPT;
    }
done:
    if (fd >= 0) close(fd);
    return rc;
}

/* Whether segment k of s is a last one cut short in its header: a crash
 * while a writer started it. It holds nothing: readers skip it and the
 * next writer removes it. */
static int torn_header(const xy_segs *s, int k)
{
    return k == s->n - 1 && k > 0 && s->g[k].size < sizeof LOG_MAGIC;
}

/* Where, in a segment at log offset base, the log from whole-log offset
 * from begins: past its header at the least. */
static size_t seg_start(uint64_t from, uint64_t base)
{
    return from > base + sizeof LOG_MAGIC ? (size_t)(from - base) : sizeof LOG_MAGIC;
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
static void scan_start(seg_scan *c, const unsigned char *data, size_t len, size_t from)
{
    c->data = data;
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

/* Applies the batches of c's segment, at log offset base, up to lim as
 * they are checked, then waits for the check to end. Returns the offset
 * applied up to through *applied, and apply_range's status. */
static int apply_as_checked(xy_db *db, xy_engine *e, seg_scan *c, uint64_t base, size_t lim, xy_trail *trail,
                            size_t *applied)
{
    int rc = XY_OK;
    size_t at = c->from;
    for (;;) {
        int done = atomic_load_explicit(&c->done, memory_order_acquire);
        size_t g = atomic_load_explicit(&c->progress, memory_order_acquire);
        if (g > lim) g = lim;
        if (g > at) {
            rc = xy__apply_range(db, e, c->data, base, at, g, 0, 1, trail, &db->nevents);
            if (rc) break;
            at = g;
        } else if (done) {
            break;
        } else {
            sched_yield();
        }
    }
    scan_wait(c);
    *applied = at;
    return rc;
}

int xy__db_walk(xy_db *db, xy_engine *e, xy_seg_fn *each, void *ctx2, size_t from, size_t until, xy_trail *trail,
                xy_diag_fn *diag, void *ctx, size_t *good_out, size_t *len_out)
{
    xy__db_settle(db);
    xy_segs s;
    int rc = xy__segs_list(db->path, &s, diag, ctx);
    if (rc) return rc;
    uint64_t good_all = sizeof LOG_MAGIC, len_all = 0;
    seg_scan scans[2];
    seg_scan *next = NULL; /* the check of segment k + 1, started while k is applied */
    for (int k = 0; k < s.n && rc == XY_OK; k++) {
        uint64_t base = s.g[k].base, size = s.g[k].size;
        len_all = base + size;
        if (torn_header(&s, k)) break;
        if (base + size <= from && k < s.n - 1 && !next) {
            good_all = base + size;
            continue;
        }
        size_t lfrom = seg_start(from, base), applied = lfrom;
        seg_scan *cur = next;
        next = NULL;
        const unsigned char *data;
        size_t len;
        if (cur) {
            data = cur->data;
            len = cur->len;
        } else {
            unsigned char *m;
            rc = map_segment(s.g[k].path, diag, ctx, &m, &len);
            if (rc) break;
            data = m;
            if (lfrom <= len) scan_start(cur = &scans[k % 2], data, len, lfrom);
        }
        len_all = base + len;
        /* While this segment is applied, the next one is checked. A
         * segment that does not map is left to its turn, which maps it
         * again to say why. */
        if (k + 1 < s.n && !torn_header(&s, k + 1) && (until == SIZE_MAX || until > s.g[k + 1].base)) {
            unsigned char *m;
            size_t mlen, nfrom = seg_start(from, s.g[k + 1].base);
            if (map_segment(s.g[k + 1].path, NULL, NULL, &m, &mlen) == XY_OK) {
                if (nfrom <= mlen) scan_start(next = &scans[(k + 1) % 2], m, mlen, nfrom);
                else munmap(m, mlen);
            }
        }
        int apply_rc = XY_OK, scan_rc = XY_OK;
        size_t good = 0, bad_at = SIZE_MAX;
        if (cur) {
            size_t lim = until == SIZE_MAX ? SIZE_MAX : until > base ? (size_t)(until - base) : lfrom;
            if (e) apply_rc = apply_as_checked(db, e, cur, base, lim, trail, &applied);
            else scan_wait(cur);
            scan_rc = cur->rc;
            good = cur->good;
            bad_at = cur->bad_at;
        }
        if (lfrom > len) {
            xy__diagf(diag, ctx, "%s/snapshot: covers %zu bytes of a log of %llu", db->path, from,
                      (unsigned long long)(base + len));
            rc = XY_ECORRUPT;
        } else if (apply_rc) {
            xy__diagf(diag, ctx, "%s: a record does not decode (the log is corrupt)", s.g[k].path);
            rc = XY_ECORRUPT;
        } else if (scan_rc != XY_OK) {
            xy__diagf(diag, ctx, "%s:%zu: damaged record with committed batches after it (the log is corrupt)",
                      s.g[k].path, bad_at);
            rc = XY_ECORRUPT;
        } else if (good != len && k < s.n - 1) {
            xy__diagf(diag, ctx, "%s:%zu: damaged or unfinished batch in a segment that later segments follow "
                      "(the log is corrupt)", s.g[k].path, good);
            rc = XY_ECORRUPT;
        } else {
            size_t end = until != SIZE_MAX && until < base + good ? (until > base ? (size_t)(until - base) : lfrom)
                                                                   : good;
            if (end > applied) {
                rc = e ? xy__apply_range(db, e, data, base, applied, end, 0, 1, trail, &db->nevents)
                       : each(ctx2, data, base, applied, end);
                if (rc) {
                    xy__diagf(diag, ctx, "%s: a record does not decode (the log is corrupt)", s.g[k].path);
                    rc = XY_ECORRUPT;
                }
            }
            good_all = base + good;
            if (until != SIZE_MAX && until <= base + good) k = s.n;
        }
        munmap((void *)data, len);
    }
    if (next) {
        scan_wait(next);
        munmap((void *)next->data, next->len);
    }
    xy__segs_free(&s);
    if (rc == XY_OK && from > len_all) {
        xy__diagf(diag, ctx, "%s/snapshot: covers %zu bytes of a log of %llu", db->path, from,
                  (unsigned long long)len_all);
        rc = XY_ECORRUPT;
    }
    if (good_out) *good_out = (size_t)good_all;
    if (len_out) *len_out = (size_t)len_all;
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

/* xy__db_open_rules, taking the writer's lock only with lock (a stale
 * handle's rebuild runs under the lock its handle holds). */
static int open_db(const char *path, int mode, xy_rules *rules, int lock, xy_diag_fn *diag, void *ctx, xy_db **out)
{
    xy_db *db = xy_calloc(1, sizeof *db);
    db->path = xy_strndup(path, strlen(path));
    db->mode = mode;
    db->lock_fd = db->log_fd = db->trail.fd = -1;
    /* The batch buffer is rewritten while a snapshot's child runs, which
     * never reads it. */
    xy_buf_private(&db->batch);
    xy_buf_private(&db->pending.batch);
    db->hist_resid = 0;
    db->hist_index = XY_NONE;
    xy_evindex_init(&db->evix, path);
    *out = NULL;
    int rc;
    struct stat st;
    char *log = join(path, "log");
    if (stat(path, &st) || !S_ISDIR(st.st_mode) || stat(log, &st)) {
        xy__diagf(diag, ctx, "%s: not a data directory (run 'xinyong init' first)", path);
        rc = XY_ENOENT;
        goto fail;
    }
    if (mode == XY_WRITE && lock) {
        char *lockpath = join(path, "lock");
        db->lock_fd = open(lockpath, O_RDWR | O_CREAT, 0644);
        xy_free(lockpath);
        if (db->lock_fd < 0) {
            xy__diagf(diag, ctx, "%s/lock: cannot open: %s", path, strerror(errno));
            rc = XY_EIO;
            goto fail;
        }
        if (flock(db->lock_fd, LOCK_EX | LOCK_NB)) {
            xy__diagf(diag, ctx, "%s: another xinyong process is writing to this data directory", path);
            rc = XY_ELOCKED;
            goto fail;
        }
    }
    if (rules) {
        db->rules = rules;
        db->rules_borrowed = 1;
    } else {
        char *rdir = join(path, "rules");
        rc = xy_rules_load_dir(rdir, diag, ctx, &db->rules);
        xy_free(rdir);
        if (rc) {
            rc = XY_ECORRUPT;
            goto fail;
        }
    }
    xy_engine_new(db->rules, &db->engine);
    /* Start from the snapshot when there is one, then the log after it. */
    uint64_t from = 0;
    rc = xy__snapshot_read(db, &from, diag, ctx);
    if (rc == XY_ECORRUPT || rc == XY_EIO) goto fail;
    if (rc) from = 0;
    db->snapshot_unused = rc != XY_OK && rc != XY_ENOENT;
    db->snapshot_offset = from;
    if (xy_trail_open(&db->trail, path, mode == XY_WRITE, from ? db->trail_use : 0) != XY_OK && mode == XY_WRITE &&
        !db->trail.broken) {
        /* The trail the snapshot points into is gone or damaged: write it
         * again from the log up to the snapshot, in a scratch engine. */
        xy__diagf(diag, ctx, "%s/trail: warning: rebuilding the history index from the log", path);
        xy_engine *scratch;
        xy_engine_new(db->rules, &scratch);
        uint64_t nevents = db->nevents;
        db->nevents = 0;
        db->hist_fn = NULL;
        rc = replay(db, scratch, 0, (size_t)from, &db->trail, NULL, NULL, NULL, NULL);
        db->nevents = nevents;
        xy_engine_free(scratch);
        if (rc) goto fail;
    }
    size_t good, len;
    rc = replay(db, db->engine, (size_t)from, SIZE_MAX, &db->trail, diag, ctx, &good, &len);
    if (rc) goto fail;
    if (mode == XY_WRITE) (void)xy_trail_flush(&db->trail);
    db->log_size = good;
    if (mode == XY_WRITE) {
        /* Appends go to the last segment. */
        xy_segs sg;
        rc = xy__segs_list(path, &sg, diag, ctx);
        if (rc) goto fail;
        int k = sg.n - 1;
        if (torn_header(&sg, k)) {
            /* A segment a crash cut short in its header holds nothing. */
            xy__diagf(diag, ctx, "%s: warning: removing a log segment cut short at its start", sg.g[k].path);
            if (unlink(sg.g[k].path) || fsync_dir(path)) rc = XY_EIO;
            k--;
        }
        db->seg_base = sg.g[k].base;
        db->log_fd = rc ? -1 : open(sg.g[k].path, O_RDWR); /* read: see commit_spilled */
        if (db->log_fd < 0) rc = XY_EIO;
        if (!rc && good != len && good >= sg.g[k].base) {
            /* A batch cut short by a crash was never acknowledged: drop it. */
            xy__diagf(diag, ctx, "%s: warning: dropping %zu bytes of an unfinished batch at offset %llu",
                      sg.g[k].path, len - good, (unsigned long long)(good - sg.g[k].base));
            if (ftruncate(db->log_fd, (off_t)(good - sg.g[k].base)) || fsync(db->log_fd)) rc = XY_EIO;
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
        if (rc) {
            rc = rc == XY_ENOENT ? XY_EIO : rc;
            goto fail;
        }
    }
    xy_free(log);
    *out = db;
    return XY_OK;
fail:
    xy_free(log);
    xy_db_close(db);
    return rc;
}

int xy_db_open(const char *path, int mode, xy_diag_fn *diag, void *ctx, xy_db **out)
{
    return open_db(path, mode, NULL, 1, diag, ctx, out);
}

int xy__db_open_rules(const char *path, int mode, xy_rules *rules, xy_diag_fn *diag, void *ctx, xy_db **out)
{
    return open_db(path, mode, rules, 1, diag, ctx, out);
}

/* A size in bytes from the environment variable name (tests make the
 * store's intervals small), or dflt when it is unset or not a positive
 * number. */
static uint64_t env_bytes(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    char *end;
    unsigned long long n = v ? strtoull(v, &end, 10) : 0;
    return v && *v && !*end && n > 0 ? (uint64_t)n : dflt;
}

/* Log growth between automatic snapshots. */
static uint64_t snapshot_every(void) { return env_bytes("XINYONG_SNAPSHOT_EVERY", XY_SNAPSHOT_EVERY); }

/* A snapshot is an optimisation (the batches are durable in the log
 * already), so writing one must not stall the writer: a child process
 * writes it from its copy-on-write image of the state while the parent
 * goes on appending. A failure only means a longer start-up next time. */
static void start_snapshot(xy_db *db)
{
    if (xy_trail_flush(&db->trail)) return;
    fflush(NULL);
    xy_evindex_freeze(&db->evix);
    xy__engine_before_fork(db->engine);
    xy_trail_before_fork(&db->trail);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) return;
    if (pid == 0) {
        xy__engine_in_child(db->engine);
        xy_trail_in_child(&db->trail);
        /* The child shares the writer's lock; it must not outlive the
         * writer, or a crashed writer would keep the directory locked and
         * the child write a snapshot of a trail a new writer has cut. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent) _exit(1);
        _exit(xy__snapshot_write(db, NULL, NULL) == XY_OK ? 0 : 1);
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
    xy_evindex_plan_list(&db->evix, upto, &list);
    if (xy_evindex_adopt(&db->evix, list.data, list.len) != XY_OK)
        xy_panic("the runs of a snapshot just written do not open");
    xy_buf_free(&list);
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
    if (got == (pid_t)db->snap_pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        db->snapshot_offset = db->snap_covers;
        adopt_runs(db, db->snap_upto);
    }
    db->snap_pid = 0;
}

void xy_db_close(xy_db *db)
{
    if (!db) return;
    db->stale = 0; /* nothing left to see */
    xy__db_settle(db);
    reap_snapshot(db, 1);
    if (db->log_fd >= 0) close(db->log_fd);
    if (db->lock_fd >= 0) close(db->lock_fd);
    xy_trail_free(&db->trail);
    xy_engine_free(db->engine);
    if (!db->rules_borrowed) xy_rules_free(db->rules);
    xy_evindex_free(&db->evix);
    xy_buf_free(&db->batch);
    xy_buf_free(&db->spill.other);
    xy_buf_free(&db->pending.batch);
    xy_private_free(db->staged_key, db->cap_staged * sizeof *db->staged_key);
    xy_private_free(db->stage.sid, db->stage.cap * sizeof *db->stage.sid);
    xy_private_free(db->stage.tmp, db->stage.cap * sizeof *db->stage.tmp);
    xy_private_free(db->stage.rank, db->stage.cap * sizeof *db->stage.rank);
    xy_private_free(db->stage.verdict, db->stage.cap);
    xy_free(db->stage.count);
    xy_map_free(&db->hist_ids);
    xy_map_free(&db->hist_cp);
    xy_buf_free(&db->hist_idbuf);
    xy_free(db->path);
    xy_free(db);
}

/* Rebuilds a stale handle's state from the data directory, as opening it
 * would (the log holds nothing of the failed load): a new handle's state
 * takes the place of this one's. The engine keeps its address, which
 * callers hold (xy_db_engine), and the handle its lock, rules and
 * counters. If the directory no longer opens, the state is left empty
 * and every write gets the error. */
static void reload(xy_db *db)
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
    db->history_fallbacks = old.history_fallbacks;
    memcpy(db->commit_secs, old.commit_secs, sizeof db->commit_secs);
    db->engine = old.engine;
    xy_engine t = *old.engine;
    *old.engine = *fresh->engine;
    *fresh->engine = t;
    /* What is left of the old handle goes, but for what it lent. */
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

/* Size past which a writer starts a new log segment. */
static uint64_t segment_bytes(void) { return env_bytes("XINYONG_SEGMENT_BYTES", XY_SEGMENT_BYTES); }

/* Reserves the disk blocks of n bytes at offset off of the log's segment,
 * past its end (the file's size does not change): once they are, writing
 * the batch there can no longer run out of space, and the write can go to
 * the thread that syncs. Returns XY_OK, XY_ENOSPC, or XY_EINVAL when the
 * file system cannot reserve (the batch is then written before it is
 * applied, as without a thread). */
static int reserve_log(int fd, uint64_t off, size_t n)
{
    if (!fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)n)) return XY_OK;
    return errno == ENOSPC || errno == EDQUOT ? XY_ENOSPC : XY_EINVAL;
}

/* Starts a new segment at the end of the log: its header made durable,
 * and its name, before any batch goes in, so that the log offsets of the
 * segments always fit together. The space of the first batch, n bytes, is
 * reserved with the header (see reserve_log; *reserved says how that
 * went), so that a full disk leaves no segment behind. */
static int new_segment(xy_db *db, size_t n, int *reserved)
{
    xy_buf path = {0};
    xy_buf_printf(&path, "%s/log.%llu", db->path, (unsigned long long)db->log_size);
    int fd = open(path.data, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int rc = fd < 0 ? XY_EIO : write_all(fd, LOG_MAGIC, sizeof LOG_MAGIC);
    if (!rc) {
        *reserved = reserve_log(fd, sizeof LOG_MAGIC, n);
        if (*reserved == XY_ENOSPC) rc = XY_ENOSPC;
    }
    if (!rc && fsync(fd)) rc = errno == ENOSPC ? XY_ENOSPC : XY_EIO;
    if (!rc) rc = fsync_dir(db->path);
    if (rc) {
        if (fd >= 0) close(fd);
        unlink(path.data);
    } else {
        close(db->log_fd);
        db->log_fd = fd;
        db->seg_base = db->log_size;
        db->log_size += sizeof LOG_MAGIC;
    }
    xy_buf_free(&path);
    return rc;
}

/* Writes a batch (unless begin wrote it already) and makes it durable. */
static void *sync_log(void *arg)
{
    xy_commit *c = arg;
    if (c->unwritten) c->rc = write_all(c->fd, c->unwritten, c->len);
    if (!c->rc && c->sync && fdatasync(c->fd)) c->rc = errno == ENOSPC ? XY_ENOSPC : XY_EIO;
    return NULL;
}

/* Runs sync_log on a second thread, or here if none can be made. */
static void sync_start(xy_commit *c)
{
    c->threaded = pthread_create(&c->th, NULL, sync_log, c) == 0;
    if (!c->threaded) sync_log(c);
}

/* Cuts the log's last segment back to its first in_seg bytes: a batch that
 * failed to become durable. */
static void cut_log(xy_db *db, uint64_t in_seg)
{
    if (ftruncate(db->log_fd, (off_t)in_seg) == 0) (void)fdatasync(db->log_fd);
}

/* Has c write len bytes of data at offset off of the last segment (the
 * file's position): their space reserved first (unless reserved says it
 * was, XY_OK, with the segment), so that a full disk refuses them before
 * anything is applied; then c's thread writes them (sync_start, by the
 * caller). A file system that cannot reserve gets them written here, and
 * c->unwritten is NULL. Returns XY_OK or the error that refuses them. */
static int reserve_and_write(xy_db *db, uint64_t off, int reserved, const char *data, size_t len, size_t extra,
                             xy_commit *c)
{
    int rc = XY_OK;
    double t0 = xy_seconds();
    if (reserved == 1) reserved = reserve_log(db->log_fd, off, len + extra);
    if (reserved == XY_ENOSPC) rc = XY_ENOSPC;
    c->fd = db->log_fd;
    c->unwritten = data;
    c->len = len;
    if (!rc && reserved != XY_OK) {
        rc = write_all(db->log_fd, data, len);
        c->unwritten = NULL;
    }
    db->commit_secs[0] += xy_seconds() - t0;
    return rc;
}

/* What xy__db_commit_begin and xy__db_commit_open share: the batch (extra
 * bytes still to come after it) placed at the end of the log, in a new
 * segment if it would take the last one past its size; its space
 * reserved; a second thread started on writing it (and with sync,
 * fdatasync). On failure the log is cut back and the staged ids taken
 * out. */
static int commit_start(xy_db *db, xy_buf *batch, size_t extra, int sync, xy_commit *c)
{
    c->batch = batch;
    c->sync = sync;
    size_t total = batch->len + extra;
    uint64_t in_seg = db->log_size - db->seg_base;
    int rc = XY_OK, reserved = 1; /* 1: not tried yet (statuses are 0 or below) */
    if (in_seg > sizeof LOG_MAGIC && in_seg + total > segment_bytes()) rc = new_segment(db, total, &reserved);
    c->in_seg = db->log_size - db->seg_base;
    if (!rc && lseek(db->log_fd, (off_t)c->in_seg, SEEK_SET) < 0) rc = XY_EIO;
    /* A second thread writes the batch and waits for fdatasync while this
     * one applies it (a load) or judges and stages its ids (an append). */
    if (!rc) rc = reserve_and_write(db, c->in_seg, reserved, batch->data, batch->len, extra, c);
    if (rc) {
        /* Nothing of the batch may survive: cut the log back (which also
         * frees what was reserved). If even that fails, the missing commit
         * record keeps the batch out of replay. */
        xy__db_unstage(db);
        cut_log(db, c->in_seg);
        return rc;
    }
    sync_start(c);
    return XY_OK;
}

/* Whether the handle takes writes: XY_OK, or the status that refuses
 * them (the staged ids taken out). */
static int writable(xy_db *db)
{
    if (db->mode != XY_WRITE) return XY_EINVAL;
    if (db->broken) xy__db_unstage(db);
    return db->broken;
}

int xy__db_commit_begin(xy_db *db, xy_buf *batch, uint64_t nrecords, xy_commit *c)
{
    memset(c, 0, sizeof *c);
    int rc = writable(db);
    if (rc) return rc;
    c->body = batch->len;
    rec_commit(batch, nrecords);
    seal_batch(batch, 0);
    return commit_start(db, batch, 0, 1, c);
}

int xy__db_commit_open(xy_db *db, xy_buf *batch, xy_commit *c)
{
    memset(c, 0, sizeof *c);
    int rc = writable(db);
    if (rc) return rc;
    c->body = batch->len;
    seal_batch(batch, 0);
    return commit_start(db, batch, COMMIT_BYTES, 0, c);
}

/* Waits for the write and the sync begin started; their status. */
static int commit_wait(xy_db *db, xy_commit *c)
{
    double t0 = xy_seconds();
    if (c->threaded) pthread_join(c->th, NULL);
    c->threaded = 0;
    db->commit_secs[1] += xy_seconds() - t0;
    return c->rc;
}

void xy__db_commit_close(xy_db *db, xy_commit *c, uint64_t nrecords)
{
    if (commit_wait(db, c)) return; /* xy__db_commit_end reports it */
    size_t at = c->batch->len;
    rec_commit(c->batch, nrecords);
    seal_batch(c->batch, at);
    c->unwritten = c->batch->data + at;
    c->len = c->batch->len - at;
    c->sync = 1;
    sync_start(c);
}

void xy__db_commit_abandon(xy_db *db, xy_commit *c)
{
    commit_wait(db, c);
    cut_log(db, c->in_seg);
}

/* Applies a load's or an advance's batch, data[0, body) at the log's end,
 * while c's thread writes and syncs it (on a large batch the two take
 * about as long, and nothing the engine does touches the log), then waits
 * for c. Returns XY_OK, or the write's or sync's error: the batch was never
 * acknowledged, but the state in memory holds it now, so it is cut from
 * the log and every later write refused, so that nothing is built on it;
 * reopening gives the state of the acknowledged batches. */
static int apply_while_synced(xy_db *db, const unsigned char *data, size_t from, size_t body, xy_commit *c)
{
    uint64_t staged = db->nstaged, first = db->nevents;
    /* data[0, from) was applied ahead, its events numbered on from nevents,
     * which a load leaves as it is until its commit (xy__db_spill). */
    if (from) db->nevents = db->spill.seq;
    double t1 = xy_seconds();
    int rc = xy__apply_range(db, db->engine, data, db->log_size, from, body, 1, 1, &db->trail, &db->nevents);
    if (rc || db->nevents != first + staged) xy_panic("a batch that was validated does not apply");
    (void)xy_trail_flush(&db->trail); /* derived data: a failure only slows explanations */
    db->commit_secs[2] += xy_seconds() - t1;
    db->nstaged = 0;
    if (commit_wait(db, c)) {
        cut_log(db, c->in_seg);
        db->broken = c->rc;
        return c->rc;
    }
    return XY_OK;
}

/* ------------------------------------------------------- spilled loads */

uint64_t xy__db_spill_bytes(void) { return env_bytes("XINYONG_SPILL_BYTES", XY_SPILL_BYTES); }

/* Applies the part of a load's batch that xy__db_spill handed over, ahead
 * of the commit. Its events are numbered from spill.seq, not nevents, which
 * the load goes on numbering the events it stages from. */
static void *apply_part(void *arg)
{
    xy_db *db = arg;
    xy_spill *s = &db->spill;
    s->arc = xy__apply_range(db, db->engine, s->adata, s->abase, 0, s->alen, 1, 1, &db->trail, &s->seq);
    return NULL;
}

/* Waits for the write of the last part xy__db_spill started, and for its
 * application ahead; the write's status. */
static int spill_wait(xy_db *db)
{
    xy_spill *s = &db->spill;
    if (s->athreaded) {
        pthread_join(s->ath, NULL);
        s->athreaded = 0;
    }
    if (s->arc) xy_panic("a part of a batch that was validated does not apply");
    return s->active ? commit_wait(db, &s->w) : XY_OK;
}

int xy__db_spill(xy_db *db, xy_buf *batch, int ahead)
{
    xy_spill *s = &db->spill;
    int rc = spill_wait(db);
    if (rc) return rc;
    if (!s->active) {
        /* The first part: the batch begins at the end of the log, in a
         * segment of its own unless the last one is empty. Its size is not
         * known yet, and a batch never spans segments: a load large enough
         * to spill makes a segment of its size, past XINYONG_SEGMENT_BYTES
         * if need be, instead of taking the last one there. From here on
         * the log's tail belongs to the batch: xy__db_unstage cuts it back
         * to in_seg. */
        rc = writable(db);
        if (rc) return rc;
        s->reserved = 1;
        s->len = 0;
        if (db->log_size - db->seg_base > sizeof LOG_MAGIC) rc = new_segment(db, batch->len, &s->reserved);
        if (rc) return rc;
        s->in_seg = db->log_size - db->seg_base;
        s->active = 1;
        /* Not while a history hook watches the engine: explanations read
         * it on the calling thread. */
        s->ahead = ahead && !db->hist_fn && !db->engine->hist;
        s->applied = 0;
        s->seq = db->nevents;
        if (lseek(db->log_fd, (off_t)s->in_seg, SEEK_SET) < 0) return XY_EIO;
    }
    seal_batch(batch, 0);
    int reserved = s->reserved;
    s->reserved = 1;
    memset(&s->w, 0, sizeof s->w);
    rc = reserve_and_write(db, s->in_seg + s->len, reserved, batch->data, batch->len, 0, &s->w);
    if (rc) return rc;
    if (s->w.unwritten) sync_start(&s->w);
    if (s->ahead) {
        /* The engine takes the part while the load encodes the next one
         * (it applied the one before: spill_wait). Nothing the load reads
         * changes with events (a citizen's city, the event index), and
         * the applier writes only what the load does not read (the
         * engine, the history index, spill.seq). */
        s->adata = (const unsigned char *)batch->data;
        s->alen = batch->len;
        s->abase = db->log_size + s->len;
        s->applied += batch->len;
        s->athreaded = pthread_create(&s->ath, NULL, apply_part, db) == 0;
        if (!s->athreaded) apply_part(db);
    }
    s->len += batch->len;
    /* The part being written stays in the second buffer until the next
     * part (or the commit) has waited for its write. */
    xy_buf t = *batch;
    *batch = s->other;
    s->other = t;
    batch->len = 0;
    return XY_OK;
}

/* Cuts the parts of a load's batch from the log: the load failed. Parts
 * it applied ahead leave the handle stale. */
static void drop_spill(xy_db *db)
{
    xy_spill *s = &db->spill;
    if (!s->active) return;
    (void)spill_wait(db);
    cut_log(db, s->in_seg);
    s->active = 0;
    s->len = 0;
    if (s->applied) mark_stale(db);
    s->applied = 0;
}

/* xy__db_commit for a batch whose first parts xy__db_spill wrote: the rest
 * and the commit record are written here (a part's worth at most), so
 * that the whole batch is in the file, mapped back and applied in one
 * range as a replay would apply it (but for the parts applied ahead),
 * while a second thread syncs it. */
static int commit_spilled(xy_db *db, xy_buf *batch, uint64_t nrecords)
{
    xy_spill *s = &db->spill;
    int rc = spill_wait(db);
    if (!rc) rc = writable(db);
    if (rc) {
        xy__db_unstage(db);
        return rc;
    }
    size_t body = batch->len;
    rec_commit(batch, nrecords);
    seal_batch(batch, 0);
    double t0 = xy_seconds();
    int reserved = reserve_log(db->log_fd, s->in_seg + s->len, batch->len);
    rc = reserved == XY_ENOSPC ? XY_ENOSPC : write_all(db->log_fd, batch->data, batch->len);
    db->commit_secs[0] += xy_seconds() - t0;
    /* The batch in the file: [in_seg, in_seg + total), mapped from the page
     * it starts in. */
    uint64_t total = s->len + batch->len, from = s->in_seg & ~(uint64_t)4095;
    size_t maplen = (size_t)(s->in_seg + total - from);
    void *map = MAP_FAILED;
    if (!rc) {
        map = mmap(NULL, maplen, PROT_READ, MAP_SHARED, db->log_fd, (off_t)from);
        if (map == MAP_FAILED) rc = XY_EIO;
    }
    if (rc) {
        xy__db_unstage(db);
        return rc;
    }
    xy_commit c;
    memset(&c, 0, sizeof c);
    c.fd = db->log_fd;
    c.sync = 1;
    c.in_seg = s->in_seg;
    sync_start(&c);
    if (!c.threaded && c.rc) {
        munmap(map, maplen);
        xy__db_unstage(db);
        return c.rc;
    }
    size_t records = (size_t)(s->len + body); /* the batch but its commit record */
    size_t ahead = (size_t)s->applied;
    s->active = 0;
    s->len = 0;
    s->applied = 0;
    rc = apply_while_synced(db, (const unsigned char *)map + (s->in_seg - from), ahead, records, &c);
    munmap(map, maplen);
    if (rc) return rc;
    db->log_size += total;
    batch->len = 0;
    return XY_OK;
}

/* After a batch is in the log: keep start-up short with a new snapshot
 * once the log has grown by XY_SNAPSHOT_EVERY bytes since the last, or
 * after the first write when the snapshot there could not be used (every
 * start-up replays the whole log until one replaces it), written in the
 * background from the state with every batch applied. */
static void after_commit(xy_db *db)
{
    reap_snapshot(db, 0);
    if (!db->snap_pid && (db->snapshot_unused || db->log_size - db->snapshot_offset >= snapshot_every())) {
        xy__db_settle(db);
        start_snapshot(db);
        if (db->snap_pid) db->snapshot_unused = 0;
    }
}

int xy__db_commit(xy_db *db, xy_buf *batch, uint64_t nrecords)
{
    xy__db_settle(db);
    if (db->mode == XY_WRITE && !db->broken && nrecords == 0) {
        xy__db_unstage(db);
        return XY_OK;
    }
    if (db->spill.active) {
        int rc = commit_spilled(db, batch, nrecords);
        if (rc == XY_OK) after_commit(db);
        return rc;
    }
    xy_commit c;
    int rc = xy__db_commit_begin(db, batch, nrecords, &c);
    if (rc) return rc;
    /* Without a second thread the sync came first, and a batch that did
     * not become durable is refused with nothing applied. */
    if (!c.threaded && c.rc) {
        xy__db_unstage(db);
        cut_log(db, c.in_seg);
        return c.rc;
    }
    rc = apply_while_synced(db, (const unsigned char *)batch->data, 0, c.body, &c);
    if (rc) return rc;
    db->log_size += batch->len;
    after_commit(db);
    return XY_OK;
}

/* The thread that applies a batch of the append path (see xy_pending). */
static void *apply_pending(void *arg)
{
    xy_db *db = arg;
    xy_pending *p = &db->pending;
    double t0 = xy_seconds();
    /* Not piped: this is the second thread already. */
    p->rc = xy__apply_range(db, db->engine, (const unsigned char *)p->batch.data, p->base, 0, p->body, 1, 0,
                            &db->trail, &p->seq);
    if (!p->rc) (void)xy_trail_flush(&db->trail);
    p->secs = xy_seconds() - t0;
    return NULL;
}

static void pending_done(xy_db *db)
{
    xy_pending *p = &db->pending;
    if (p->rc || p->seq != p->end_seq) xy_panic("a batch that was validated does not apply");
    db->commit_secs[2] += p->secs;
}

void xy__db_settle(xy_db *db)
{
    if (db->pending.running) {
        pthread_join(db->pending.th, NULL);
        db->pending.running = 0;
        db->engine->behind = 0;
        pending_done(db);
    }
    if (db->stale) reload(db);
}

/* The engine's wait (xy_engine.behind). */
static void settle_engine(void *ctx) { xy__db_settle(ctx); }

/* A load failed after applying parts of its batch ahead: the state is
 * rebuilt (reload) on the handle's next use, the engine's queries
 * included, and not at all if the handle is closed first (the command
 * line's case). */
static void mark_stale(xy_db *db)
{
    db->stale = 1;
    db->engine->wait = settle_engine;
    db->engine->wait_ctx = db;
    db->engine->behind = 1;
}

int xy__db_commit_end(xy_db *db, xy_commit *c)
{
    if (commit_wait(db, c)) {
        xy__db_unstage(db);
        cut_log(db, c->in_seg);
        return c->rc;
    }
    /* Durable: the batch before this one is applied by now or soon, and
     * this one goes next, from the buffer it was encoded in, which trades
     * places with the one the batch before was applied from. */
    xy__db_settle(db);
    xy_pending *p = &db->pending;
    xy_buf spare = p->batch;
    p->batch = *c->batch;
    *c->batch = spare;
    p->body = c->body;
    p->base = db->log_size;
    p->seq = db->nevents;
    p->end_seq = db->nevents + db->nstaged;
    db->nevents = p->end_seq;
    db->nstaged = 0;
    db->log_size += p->batch.len;
    p->running = pthread_create(&p->th, NULL, apply_pending, db) == 0;
    if (p->running) {
        db->engine->wait = settle_engine;
        db->engine->wait_ctx = db;
        db->engine->behind = 1;
    } else {
        apply_pending(db);
        pending_done(db);
    }
    after_commit(db);
    return XY_OK;
}

void xy__db_commit_secs(const xy_db *db, double secs[3])
{
    memcpy(secs, db->commit_secs, sizeof db->commit_secs);
}

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
        uint32_t rlen = xy_get_u32(data + off);
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
    uint64_t covers = 0, bytes = 0;
    int src = xy__snapshot_verify(path, &covers, &bytes, diag, ctx);
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
    uint64_t trecs, tbad;
    int trc = xy_trail_verify(path, &trecs, &tbad);
    if (trc == XY_ENOENT) fprintf(out, "trail: none (the next writer builds it)\n");
    else if (trc == XY_OK) fprintf(out, "trail: %llu records ok\n", (unsigned long long)trecs);
    else if (tbad)
        xy__diagf(diag, ctx, "%s/trail:%llu: damaged record (explain replays the log; delete the trail to rebuild it)",
                  path, (unsigned long long)tbad);
    else
        xy__diagf(diag, ctx, "%s/trail:0: not a history index (bad header; delete it to rebuild it)", path);
    uint64_t nruns, nentries;
    int erc = xy_evindex_verify(path, &nruns, &nentries, diag, ctx);
    if (erc == XY_OK)
        fprintf(out, "event index: %llu runs ok, %llu ids\n", (unsigned long long)nruns, (unsigned long long)nentries);
    if (bad || src == XY_ECORRUPT || trc == XY_ECORRUPT || erc == XY_ECORRUPT) return XY_ECORRUPT;
    return src == XY_OK || src == XY_ENOENT || src == XY_EINPUT ? XY_OK : src;
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
    xy_buf_free(&b);
    return rc;
}
