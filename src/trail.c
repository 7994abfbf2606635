/* trail.c -- the per-citizen history index (see trail.h). */
#include "trail.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static const char TRAIL_MAGIC[16] = "XINYONG-TRL\0v003";

_Static_assert(sizeof(xy_trec) == 32, "a trail record is 32 bytes");

/* A record's check: its kind and 28 bits of a hash of the other fields.
 * A hash rather than a CRC-32 call: every event and registration adds a
 * record, and the check only has to tell a written record from garbage
 * or a damaged one (an explanation then replays the log instead). */
static uint32_t rec_check(const xy_trec *r, int kind)
{
    /* The kind goes into the hash too: kept only beside it, one flipped
     * bit of the kind would make a record of another kind that checks
     * out (an association's count read as an event's number, say). File
     * offsets stay far below the top four bits of prev it goes in. */
    uint64_t h = xy__hash64(r->prev ^ 0x9e3779b97f4a7c15ULL ^ (uint64_t)kind << 60);
    h = xy__hash64(h ^ r->log_off);
    h = xy__hash64(h ^ r->aux ^ (uint64_t)(uint32_t)r->day << 32);
    return (uint32_t)kind << 28 | (uint32_t)(h & 0x0fffffff);
}

uint32_t xy__trail_check(const xy_trec *r, int kind) { return rec_check(r, kind); }

/* The window on the file of a replay that compares its records with it
 * (see xy__trail_add): 1 MB, 32,768 records, read with pread (see
 * xy__big_load on reading files through a mapping). */
enum { TRAIL_WINDOW = 1 << 20, TRAIL_AHEAD = 8 << 20 };
_Static_assert(TRAIL_WINDOW % sizeof(xy_trec) == 0, "a window holds whole records");

/* Reads up to n bytes at off into buf: how many (fewer at the end of the
 * file), or -1 on an error. */
static ssize_t read_upto(int fd, unsigned char *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* The kind of record r, read at file offset off, or 0 when it is not a
 * valid one: its check holds and it links back, never forward. */
static int valid_at(const xy_trec *r, uint64_t off)
{
    int kind = (int)(r->check >> 28);
    if (kind < TRAIL_REG || kind > TRAIL_ASSOC || rec_check(r, kind) != r->check || r->prev >= off) return 0;
    return kind;
}

static void start_matching(xy_trail *t)
{
    t->matching = 1;
    t->win = xy__malloc(TRAIL_WINDOW);
    t->win_lo = t->win_hi = 0;
}

static void stop_matching(xy_trail *t)
{
    t->matching = 0;
    xy__free(t->win);
    t->win = NULL;
}

/* Ends the comparison with the file: a writer's records go to the file
 * from disk_len on, so it cuts what follows (records of a batch that
 * never committed, or of a log since cut back). */
static void end_matching(xy_trail *t)
{
    stop_matching(t);
    if (t->writable && !t->broken && ftruncate(t->fd, (off_t)t->disk_len)) t->broken = 1;
}

/* Whether the file holds r at disk_len: all of it for a writer, all but
 * its check for a reader, whose own records carry none (xy__trail_read
 * checks the file's). */
static int in_file(xy_trail *t, const xy_trec *r)
{
    uint64_t off = t->disk_len;
    if (off + sizeof *r > t->win_hi) {
        ssize_t n = read_upto(t->fd, t->win, TRAIL_WINDOW, off);
        size_t got = n > 0 ? (size_t)n : 0;
        t->win_lo = off;
        t->win_hi = off + got - got % sizeof *r;
        if (got < sizeof *r) return 0;
        /* Read on while this window is compared: without a snapshot the
         * file can be as large as the log, and out of the page cache. */
        (void)posix_fadvise(t->fd, (off_t)t->win_hi, TRAIL_AHEAD, POSIX_FADV_WILLNEED);
    }
    const unsigned char *p = t->win + (off - t->win_lo);
    if (t->writable) return memcmp(p, r, sizeof *r) == 0;
    uint32_t check;
    memcpy(&check, p + 28, 4);
    return memcmp(p, r, 28) == 0 && check >> 28 == r->check >> 28;
}

int xy__trail_open(xy_trail *t, const char *dir, int writable, uint64_t use_len)
{
    xy_buf path = {0};
    xy__buf_printf(&path, "%s/trail", dir);
    t->writable = writable;
    t->broken = 0;
    t->mem.len = 0;
    stop_matching(t);
    /* A reader's replay holds here the records of the log it replays that
     * the file does not (32 bytes an event; all of them when the file is
     * missing): in huge pages, not in a page fault every 4 KB. A
     * snapshot's child never reads it (the writer flushes it first). */
    if (!t->mem.data) xy__buf_private(&t->mem);
    /* Non-blocking: a FIFO in its place must not stop a reader's open. */
    t->fd = open(path.data, writable ? O_RDWR | O_CREAT : O_RDONLY | O_NONBLOCK, 0644);
    xy__buf_free(&path);
    int ok = t->fd >= 0;
    off_t size = ok ? lseek(t->fd, 0, SEEK_END) : -1;
    char magic[16];
    int ours = ok && size >= 16 && pread(t->fd, magic, 16, 0) == 16 && memcmp(magic, TRAIL_MAGIC, 16) == 0;
    t->disk_len = use_len ? use_len : 16;
    if (ours && (use_len == 0 || (use_len >= 16 && (uint64_t)size >= use_len))) {
        /* What follows use_len is the replay's as far as it holds the
         * records the replay makes (see xy__trail_add). */
        start_matching(t);
        return XY_OK;
    }
    if (use_len == 0) {
        /* No trail (of this version) yet: the log makes all of it. */
        if (!writable) {
            if (t->fd >= 0) close(t->fd);
            t->fd = -1;
            return XY_OK;
        }
        if (ok && ftruncate(t->fd, 0) == 0 && pwrite(t->fd, TRAIL_MAGIC, 16, 0) == 16) return XY_OK;
    }
    /* Unusable: a reader explains by replaying the log; a writer is told
     * so and rebuilds the trail. */
    if (!writable) {
        t->broken = 1;
        if (t->fd >= 0) close(t->fd);
        t->fd = -1;
    } else if (t->fd >= 0) {
        if (ftruncate(t->fd, 0) || pwrite(t->fd, TRAIL_MAGIC, 16, 0) != 16) t->broken = 1;
    } else {
        t->broken = 1;
    }
    t->disk_len = 16;
    if (t->nhead) memset(t->head, 0, t->nhead * sizeof *t->head);
    return XY_ECORRUPT;
}

void xy__trail_free(xy_trail *t)
{
    if (t->fd >= 0) close(t->fd);
    xy__free(t->win);
    xy__buf_free(&t->mem);
    xy__big_free(t->head, t->cap_head * sizeof *t->head);
    xy__fork_copy_free(&t->head_copy);
    memset(t, 0, sizeof *t);
    t->fd = -1;
}

void xy__trail_add(xy_trail *t, uint32_t c, int kind, uint64_t log_off, uint64_t aux, int32_t day)
{
    if (c >= t->nhead) {
        size_t n = (size_t)c + 1;
        if (n > t->cap_head) {
            size_t cap = t->cap_head ? t->cap_head : 8;
            while (cap < n) cap *= 2;
            t->head = xy__big_realloc(t->head, t->cap_head * sizeof *t->head, cap * sizeof *t->head);
            t->cap_head = cap;
        }
        t->nhead = n;
    }
    xy_trec r = {t->head[c], log_off, aux, day, (uint32_t)kind << 28};
    /* Only records bound for the file need a check: a reader's own stay
     * in its memory (see xy__trail_read). */
    if (t->writable) r.check = rec_check(&r, kind);
    if (t->matching) {
        if (in_file(t, &r)) {
            t->head[c] = t->disk_len;
            t->disk_len += sizeof r;
            return;
        }
        end_matching(t);
    }
    t->head[c] = t->disk_len + t->mem.len;
    xy__buf_append(&t->mem, &r, sizeof r);
    /* A writer replaying a long log would otherwise hold every record in
     * memory until the end: gigabytes of fresh pages at population scale. */
    if (t->writable && t->mem.len >= XY_TRAIL_FLUSH) (void)xy__trail_flush(t);
}

int xy__trail_flush(xy_trail *t)
{
    /* A writer's replay is over: what follows the records it found is
     * not the log's. */
    if (t->matching && t->writable) end_matching(t);
    if (!t->writable || t->broken || t->fd < 0) return t->broken ? XY_EIO : XY_OK;
    size_t done = 0;
    while (done < t->mem.len) {
        ssize_t w = pwrite(t->fd, t->mem.data + done, t->mem.len - done, (off_t)(t->disk_len + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            t->broken = 1;
            return XY_EIO;
        }
        done += (size_t)w;
    }
    t->disk_len += t->mem.len;
    t->mem.len = 0;
    return XY_OK;
}

int xy__trail_sync(xy_trail *t)
{
    int rc = xy__trail_flush(t);
    if (!rc && t->fd >= 0 && fdatasync(t->fd)) {
        t->broken = 1;
        rc = XY_EIO;
    }
    return rc;
}

int xy__trail_read(const xy_trail *t, uint64_t off, xy_trec *r)
{
    if (t->broken || off < 16 || (off - 16) % sizeof *r) return 0;
    if (off >= t->disk_len) {
        if (off - t->disk_len + sizeof *r > t->mem.len) return 0;
        memcpy(r, t->mem.data + (off - t->disk_len), sizeof *r);
        if (!t->writable) {
            /* A reader's own record, never written out: no check made. */
            int kind = (int)(r->check >> 28);
            return kind >= TRAIL_REG && kind <= TRAIL_ASSOC && r->prev < off ? kind : 0;
        }
    } else if (off + sizeof *r > t->disk_len || t->fd < 0 ||
               pread(t->fd, r, sizeof *r, (off_t)off) != (ssize_t)sizeof *r) {
        return 0;
    }
    return valid_at(r, off);
}

void xy__trail_emit(const xy_trail *t, xy_emit_fn *emit, void *ctx)
{
    uint64_t head[2] = {t->broken ? 0 : t->disk_len, t->nhead};
    emit(ctx, head, sizeof head);
    emit(ctx, t->head, t->nhead * sizeof *t->head);
}

void xy__trail_before_fork(xy_trail *t)
{
    t->head_child = xy__fork_copy_make(&t->head_copy, t->head, t->cap_head * sizeof *t->head, t->nhead * sizeof *t->head);
}

void xy__trail_in_child(xy_trail *t)
{
    if (t->head_child) t->head = t->head_child;
}

int xy__trail_load_heads(xy_trail *t, const xy_big_src *src, const void *data, size_t len, uint64_t *use_len)
{
    uint64_t head[2];
    if (len < sizeof head) return XY_ECORRUPT;
    memcpy(head, data, sizeof head);
    if (head[1] > (len - sizeof head) / 8 || len != sizeof head + head[1] * 8) return XY_ECORRUPT;
    xy__big_free(t->head, t->cap_head * sizeof *t->head);
    t->cap_head = head[1] + 1;
    while (!xy__big_growable(head[1] * 8, t->cap_head * 8)) t->cap_head *= 2;
    t->head = xy__big_load(src, (const char *)data + sizeof head, head[1] * 8, t->cap_head * sizeof *t->head);
    t->nhead = head[1];
    *use_len = head[0];
    return XY_OK;
}

int xy__trail_verify(const char *dir, uint64_t *records, uint64_t *bad_at)
{
    xy_buf path = {0};
    xy__buf_printf(&path, "%s/trail", dir);
    int fd = open(path.data, O_RDONLY | O_NONBLOCK); /* see xy__trail_open */
    xy__buf_free(&path);
    *records = 0;
    *bad_at = 0;
    if (fd < 0) return errno == ENOENT ? XY_ENOENT : XY_EIO;
    /* Read a window at a time, not whole: the file grows with the
     * history, 32 bytes an event, to more than memory holds. */
    unsigned char *buf = xy__malloc(TRAIL_WINDOW);
    ssize_t n = read_upto(fd, buf, 16, 0);
    int rc = XY_OK;
    if (n < 16) {
        /* Shorter than its header: a writer was stopped while starting it. */
        rc = n < 0 ? XY_EIO : XY_ENOENT;
    } else if (memcmp(buf, TRAIL_MAGIC, 16) != 0) {
        /* The same name and another version: a format this build does
         * not read, which a writer replaces, as a reader explains without it. */
        rc = memcmp(buf, TRAIL_MAGIC, 13) == 0 ? XY_EINPUT : XY_ECORRUPT;
    } else {
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        for (uint64_t at = 16;; at += TRAIL_WINDOW) {
            n = read_upto(fd, buf, TRAIL_WINDOW, at);
            if (n < 0) {
                rc = XY_EIO;
                break;
            }
            /* A last record cut short is a write the snapshot never covered. */
            for (size_t i = 0; i + sizeof(xy_trec) <= (size_t)n; i += sizeof(xy_trec)) {
                xy_trec r;
                memcpy(&r, buf + i, sizeof r);
                if (!valid_at(&r, at + i)) {
                    *bad_at = at + i;
                    rc = XY_ECORRUPT;
                    break;
                }
                ++*records;
            }
            if (rc || (size_t)n < TRAIL_WINDOW) break;
        }
    }
    xy__free(buf);
    close(fd);
    return rc;
}
