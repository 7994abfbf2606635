/* snapshot.c -- writing and reading snapshots of a data directory.
 *
 * A snapshot is a 32-byte header (magic and format version, the log offset
 * it covers, the number of sections) followed by sections: u32 tag (its
 * low 16 bits; the high 16 bits count zero bytes of padding after the
 * header), u32 CRC-32 of the data, u64 length, the padding, data. Arrays
 * are written as they are in memory (little-endian hosts only, which the
 * header records), hash tables slot for slot, so that a restored state is
 * the replayed state bit for bit. The padding puts the array of every
 * large section (the data itself, or a hash table's slots after its
 * 16-byte head) at a page boundary of the file, so that a reader can map
 * it instead of copying it (xy__big_load). */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* v11: v10 with the yearly limit tables padded to page boundaries
 * within their section (see xy__limits_emit). v10: v09 with padding before
 * a section's data. Both are read as they are. The engine that wrote a
 * v08 snapshot could end a blacklist term before its end day's
 * association (see relist in engine.c), so a v08 state need not be the
 * one a replay of its log now gives: such a snapshot is ignored and the
 * log replayed. */
static const char SNAP_MAGIC[16] = "XINYONG-SNAP\0v11";
static const char SNAP_MAGIC_V10[16] = "XINYONG-SNAP\0v10";
static const char SNAP_MAGIC_V09[16] = "XINYONG-SNAP\0v09";

/* Sections of at least this many bytes are padded to a page boundary;
 * smaller ones are copied anyway (xy__big_load). */
enum { SNAP_PAGE = 4096, SNAP_ALIGN_MIN = 1 << 20 };

typedef struct scalars {
    int64_t today, first_day;   /* the clock */
    uint64_t applied;           /* events applied by the engine */
    uint64_t n;                 /* citizens */
    uint64_t names_len;         /* bytes of names */
    uint64_t bl_count;          /* entries of the blacklist's member list */
    uint64_t bl_members;        /* blacklisted citizens */
    uint64_t nedges;            /* contacts */
    uint64_t nevents;           /* stored events */
    uint64_t ncities;           /* cities of the ruleset, as a sanity check */
    uint64_t nbehaviours;       /* behaviour names of the ruleset, likewise */
} scalars;

/* ---------------------------------------------------------------- writing */

/* The snapshot goes to the disk with O_DIRECT where the file system takes
 * it: a gigabyte copied into the page cache cost the background child
 * about a second of a processor that the writer shares with it (a fifth
 * of the samples in a profile of the append path), and left that much to
 * write back later. Bytes are gathered into an aligned chunk and written a
 * whole chunk at a time; the last one is padded to the block size and the
 * file then cut to its length. A start-up right after reads the snapshot
 * from the disk, as any start-up after a reboot does. */
enum { DIRECT_BLOCK = 4096, DIRECT_CHUNK = 4 << 20 };

typedef struct writer {
    int fd;          /* the temporary file */
    int err;         /* errno of the first failed write, or 0 */
    char *chunk;     /* DIRECT_CHUNK bytes at a page boundary */
    size_t fill;     /* bytes of it in use */
    uint64_t off;    /* bytes of the file written before them */
    uint32_t nsections;
} writer;

/* Writes the chunk's first n bytes (a multiple of DIRECT_BLOCK) at w->off.
 * Plain write(2) rather than stdio, so that every byte goes through one
 * path whose failures we see (and that the fault injection tests reach).
 * A file system that refuses O_DIRECT for the write gets it buffered. */
static void write_chunk(writer *w, size_t n)
{
    if (w->err) return;
    int err = xy__write_all(w->fd, w->chunk, n);
    if (err == EINVAL) {
        int fl = fcntl(w->fd, F_GETFL);
        if (fl >= 0 && (fl & O_DIRECT) && fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) == 0 &&
            lseek(w->fd, (off_t)w->off, SEEK_SET) == (off_t)w->off)
            err = xy__write_all(w->fd, w->chunk, n);
    }
    w->err = err;
    w->off += n;
}

static void put(writer *w, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        size_t k = DIRECT_CHUNK - w->fill < n ? DIRECT_CHUNK - w->fill : n;
        memcpy(w->chunk + w->fill, c, k);
        w->fill += k;
        c += k;
        n -= k;
        if (w->fill == DIRECT_CHUNK) {
            write_chunk(w, DIRECT_CHUNK);
            w->fill = 0;
        }
    }
}

/* Writes what is left, padded to the block size, and cuts the file to the
 * bytes put. */
static void finish(writer *w)
{
    size_t n = (w->fill + DIRECT_BLOCK - 1) & ~(size_t)(DIRECT_BLOCK - 1);
    memset(w->chunk + w->fill, 0, n - w->fill);
    uint64_t len = w->off + w->fill;
    write_chunk(w, n);
    if (!w->err && ftruncate(w->fd, (off_t)len)) w->err = errno;
}

/* A section's header and padding: a large section's byte inner (0, or
 * 16 past a hash table's head) lands at a page boundary. */
static void header(writer *w, uint32_t tag, uint32_t crc, uint64_t len, size_t inner)
{
    static const char zeros[SNAP_PAGE];
    uint64_t at = w->off + w->fill + 16 + inner;
    uint32_t pad = len >= SNAP_ALIGN_MIN ? (uint32_t)((SNAP_PAGE - at % SNAP_PAGE) % SNAP_PAGE) : 0;
    uint32_t word = tag | pad << 16;
    put(w, &word, 4);
    put(w, &crc, 4);
    put(w, &len, 8);
    put(w, zeros, pad);
    w->nsections++;
}

static void section(writer *w, uint32_t tag, size_t inner, const void *a, size_t alen, const void *b, size_t blen)
{
    uint32_t crc = xy__crc32(0, a, alen);
    crc = xy__crc32(crc, b, blen);
    header(w, tag, crc, alen + blen, inner);
    if (alen) put(w, a, alen);
    if (blen) put(w, b, blen);
}

static void map_section(writer *w, uint32_t tag, const xy_map *m)
{
    uint64_t head[2] = {m->slots ? m->mask : 0, m->count};
    section(w, tag, sizeof head, head, sizeof head, m->slots, m->slots ? (m->mask + 1) * sizeof *m->slots : 0);
}

/* The checksum and length of a section's bytes, taken as they come. */
typedef struct summer {
    uint32_t crc;
    uint64_t len;
} summer;

static void sum_emit(void *ctx, const void *p, size_t n)
{
    summer *s = ctx;
    s->crc = xy__crc32(s->crc, p, n);
    s->len += n;
}

static void put_emit(void *ctx, const void *p, size_t n) { put(ctx, p, n); }

/* A section whose bytes src hands over in pieces (produce), asked twice:
 * once for the header's checksum and length, once to write them. Reading
 * the state twice is cheaper than what it replaces, a copy of it in memory
 * of its own: in the child that is fresh memory, hundreds of megabytes at
 * ten million citizens (the pending expiries, the yearly counts), which
 * the kernel must clear at a fault a page while the writer shares the
 * processors with it. */
static void section_from(writer *w, uint32_t tag, size_t inner,
                         void (*produce)(const void *src, xy_emit_fn *emit, void *ctx), const void *src)
{
    summer s = {0, 0};
    produce(src, sum_emit, &s);
    header(w, tag, s.crc, s.len, inner);
    produce(src, put_emit, w);
}

/* A calendar's section: for each day of the ring with items, its slot and
 * count, then the items. */
static void calendar_bytes(const void *src, xy_emit_fn *emit, void *ctx)
{
    const xy_calendar *cal = src;
    for (uint32_t i = 0; cal->b && i < XY_RING; i++) {
        if (!cal->b[i].n) continue;
        uint32_t head[2] = {i, cal->b[i].n};
        emit(ctx, head, sizeof head);
        xy__cal_emit(cal, i, emit, ctx);
    }
}

static void limits_bytes(const void *src, xy_emit_fn *emit, void *ctx) { xy__limits_emit(src, emit, ctx); }
static void trail_bytes(const void *src, xy_emit_fn *emit, void *ctx) { xy__trail_emit(src, emit, ctx); }

/* Writes the snapshot's header and every section of db's state to w.
 * Returns the status of spilling the event index (whose run the snapshot
 * then leaves out); w->err holds a write's error. */
static int write_sections(writer *w, xy_db *db, xy_diag_fn *diag, void *ctx)
{
    const xy_engine *e = db->engine;
    uint64_t header[2] = {db->log_size, S_COUNT - 1};
    put(w, SNAP_MAGIC, 16);
    put(w, header, 16);
    scalars sc = {e->today, e->first_day, e->applied, e->n, e->names.len, e->bl_count, e->bl_members, e->nedges,
                  db->nevents, (uint64_t)db->rules->ncities, db->rules->behaviour_names.count};
    section(w, S_SCALARS, 0, &sc, sizeof sc, NULL, 0);
    section(w, S_IDS, 0, e->ids, e->n * sizeof *e->ids, NULL, 0);
    section(w, S_FATHER, 0, e->father, e->n * sizeof *e->father, NULL, 0);
    section(w, S_MOTHER, 0, e->mother, e->n * sizeof *e->mother, NULL, 0);
    section(w, S_NAME_OFF, 0, e->name_off, e->n * sizeof *e->name_off, NULL, 0);
    section(w, S_NAMES, 0, e->names.data, e->names.len, NULL, 0);
    section(w, S_STATE, 0, e->st, e->n * sizeof *e->st, NULL, 0);
    section(w, S_BL_LIST, 0, e->bl_list, e->bl_count * sizeof *e->bl_list, NULL, 0);
    map_section(w, S_BY_ID, &e->by_id);
    section_from(w, S_LIMITS, 0, limits_bytes, &e->limits);
    map_section(w, S_TERM_REASON, &e->term_reason);
    map_section(w, S_GRADE_ENTRY, &e->grade_entry);
    map_section(w, S_SCORE_SINCE, &e->score_since);
    map_section(w, S_RISE_DAY, &e->rise_day);
    section(w, S_EDGES, 0, e->edges, e->nedges * sizeof *e->edges, NULL, 0);
    map_section(w, S_EDGE_SET, &e->edge_set);
    section_from(w, S_EXPIRIES, 0, calendar_bytes, &e->expiries);
    section_from(w, S_EXITS, 0, calendar_bytes, &e->exits);
    /* The event index: the memtable spilled into a run (and runs merged),
     * on disk before the snapshot names them. */
    xy_buf runs = {0};
    int rc = xy__evindex_spill(&db->evix, db->nevents, &runs);
    if (rc) {
        /* The run names itself (xy__evindex_spill); the snapshot stops. */
        int err = errno;
        xy__diagf(diag, ctx, "%s: cannot write: %s", runs.data, strerror(err));
        if (!w->err) w->err = err;
        runs.len = 0;
    }
    section(w, S_EV_RUNS, 0, runs.data, runs.len, NULL, 0);
    xy__buf_free(&runs);
    /* The trail this snapshot points into must be on disk first. One that
     * cannot be synced is marked broken, and the snapshot then claims none
     * of it (trail_bytes): a writer that opens the directory next builds
     * it again from the log, and explanations replay the log until then. */
    if (!db->trail.broken && xy__trail_sync(&db->trail) != XY_OK)
        xy__diagf(diag, ctx, "%s/trail: warning: cannot be written or synced: %s; the snapshot leaves the history index out",
                  db->path, strerror(errno));
    section_from(w, S_TRAIL, 16, trail_bytes, &db->trail);
    return rc;
}

int xy__snapshot_write(xy_db *db, xy_diag_fn *diag, void *ctx)
{
    xy_buf tmp = {0}, dst = {0};
    xy__buf_printf(&tmp, "%s/snapshot.tmp", db->path);
    xy__buf_printf(&dst, "%s/snapshot", db->path);
    int rc = XY_OK;
    writer w = {open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0644), 0, NULL, 0, 0, 0};
    if (w.fd < 0 && errno == EINVAL) w.fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (w.fd < 0) {
        rc = xy__errno_status(errno); /* no inode left is a full disk too */
        xy__diagf(diag, ctx, "%s: cannot create: %s", tmp.data, strerror(errno));
        goto done;
    }
    w.chunk = xy__big_realloc(NULL, 0, DIRECT_CHUNK);
    rc = write_sections(&w, db, diag, ctx);
    finish(&w);
    xy__big_free(w.chunk, DIRECT_CHUNK);
    if (!w.err && fsync(w.fd)) w.err = errno;
    if (w.err && !rc) {
        xy__diagf(diag, ctx, "%s: cannot write: %s", tmp.data, strerror(w.err));
        rc = xy__errno_status(w.err);
    }
    if (close(w.fd) && !rc) {
        rc = xy__errno_status(errno);
        xy__diagf(diag, ctx, "%s: cannot write: %s", tmp.data, strerror(errno));
    }
    if (!rc && rename(tmp.data, dst.data)) {
        rc = xy__errno_status(errno);
        xy__diagf(diag, ctx, "%s: cannot rename to %s: %s", tmp.data, dst.data, strerror(errno));
    }
    if (!rc && (rc = xy__fsync_dir(db->path)) != XY_OK)
        /* The new snapshot may be in place or not after a crash; either
         * is whole, and the log holds what it covers. */
        xy__diagf(diag, ctx, "%s: cannot sync the directory: %s", db->path, strerror(errno));
    if (rc) unlink(tmp.data);
done:
    xy__buf_free(&tmp);
    xy__buf_free(&dst);
    return rc;
}

/* ---------------------------------------------------------------- reading */

typedef struct view {
    const unsigned char *data; /* section data in the mapping */
    uint64_t len;              /* its length */
    uint32_t crc;              /* its CRC-32, as written */
    size_t off;                /* offset of its header in the file */
} view;

/* A section read from the front to the back, through a window of the
 * file read with pread: several times faster than reading the file's
 * mapping on the project's machines (see xy__big_load), and the checksums
 * and the contents' checks read nearly every byte of the snapshot once,
 * which through the mapping was the longest part of a reader's start-up.
 * Without the file (or when a read fails) the window is the mapping
 * itself. */
enum { CURSOR_CHUNK = 1 << 20 };

typedef struct cursor {
    const xy_big_src *src; /* the file, or NULL */
    const view *v;         /* the section */
    unsigned char *buf;    /* CURSOR_CHUNK bytes, or NULL */
    uint64_t lo, hi;       /* the section's bytes [lo, hi) are in buf */
} cursor;

static void cursor_open(cursor *k, const xy_big_src *src, const view *v)
{
    *k = (cursor){src && src->fd >= 0 ? src : NULL, v, NULL, 0, 0};
    if (k->src) k->buf = xy__malloc(v->len < CURSOR_CHUNK ? v->len + 1 : CURSOR_CHUNK);
}

static void cursor_close(cursor *k) { xy__free(k->buf); }

static const unsigned char *cursor_fill(cursor *k, uint64_t at)
{
    uint64_t len = k->v->len - at < CURSOR_CHUNK ? k->v->len - at : CURSOR_CHUNK;
    if (xy__pread_all(k->src->fd, k->buf, (size_t)len, (uint64_t)(k->v->data - k->src->base) + at)) {
        xy__free(k->buf);
        k->buf = NULL;
        return k->v->data + at;
    }
    k->lo = at;
    k->hi = at + len;
    return k->buf;
}

/* The n bytes (at most CURSOR_CHUNK) at offset at of the section, which
 * must lie in it. */
static inline const unsigned char *cursor_at(cursor *k, uint64_t at, size_t n)
{
    if (!k->buf) return k->v->data + at;
    if (at < k->lo || at + n > k->hi) return cursor_fill(k, at);
    return k->buf + (at - k->lo);
}

/* The CRC-32 of section v, read through a cursor. */
static uint32_t section_crc(const xy_big_src *src, const view *v)
{
    cursor k;
    cursor_open(&k, src, v);
    uint32_t crc = 0;
    for (uint64_t at = 0; at < v->len; at += CURSOR_CHUNK) {
        size_t n = v->len - at < CURSOR_CHUNK ? (size_t)(v->len - at) : CURSOR_CHUNK;
        crc = xy__crc32(crc, cursor_at(&k, at, n), n);
    }
    cursor_close(&k);
    return crc;
}

/* Checks the snapshot's magic: sets *padded when its sections may be
 * padded (v10 on) and *limits_padded when its limit tables are (v11).
 * Another format version is not an error: the log is replayed instead,
 * which the warning says (XY_EINPUT). */
static int read_version(const unsigned char *map, const char *path, int *padded, int *limits_padded,
                        xy_diag_fn *diag, void *ctx)
{
    if (memcmp(map, SNAP_MAGIC, 12) != 0) {
        xy__diagf(diag, ctx, "%s:0: not a xinyong snapshot (bad header)", path);
        return XY_ECORRUPT;
    }
    *limits_padded = memcmp(map, SNAP_MAGIC, 16) == 0;
    *padded = *limits_padded || memcmp(map, SNAP_MAGIC_V10, 16) == 0;
    if (!*padded && memcmp(map, SNAP_MAGIC_V09, 16) != 0) {
        xy__diagf(diag, ctx,
                  "%s: warning: snapshot of another format version; replaying the log (the next write, or "
                  "'xinyong snapshot', writes a current one)",
                  path);
        return XY_EINPUT;
    }
    return XY_OK;
}

/* Reads the nsec section headers that follow the snapshot's header into
 * sec, checking that they tile the file exactly, that no tag comes twice,
 * that padding is zeros and, if check_crc, each section's CRC. */
static int read_sections(const unsigned char *map, size_t size, int fd, uint64_t nsec, int padded, int check_crc,
                         view *sec, const char *path, xy_diag_fn *diag, void *ctx)
{
    memset(sec, 0, S_COUNT * sizeof *sec);
    xy_big_src src = {map, fd, 0};
    size_t off = 32;
    for (uint64_t k = 0; k < nsec; k++) {
        uint32_t word, crc;
        uint64_t len;
        if (off + 16 > size) {
            xy__diagf(diag, ctx, "%s:%zu: snapshot is cut short", path, off);
            return XY_ECORRUPT;
        }
        memcpy(&word, map + off, 4);
        memcpy(&crc, map + off + 4, 4);
        memcpy(&len, map + off + 8, 8);
        uint32_t tag = word & 0xffff, pad = word >> 16;
        if (tag == 0 || tag >= S_COUNT || (pad && !padded) || pad >= SNAP_PAGE || pad > size - off - 16 ||
            len > size - off - 16 - pad) {
            xy__diagf(diag, ctx, "%s:%zu: bad snapshot section header", path, off);
            return XY_ECORRUPT;
        }
        if (sec[tag].data) {
            xy__diagf(diag, ctx, "%s:%zu: snapshot section appears twice", path, off);
            return XY_ECORRUPT;
        }
        /* The padding is not under the checksum: it must be zeros. */
        for (uint32_t j = 0; j < pad; j++)
            if (map[off + 16 + j]) {
                xy__diagf(diag, ctx, "%s:%zu: snapshot padding is not zero (the snapshot is corrupt)", path,
                          off + 16 + j);
                return XY_ECORRUPT;
            }
        sec[tag] = (view){map + off + 16 + pad, len, crc, off};
        if (check_crc && section_crc(&src, &sec[tag]) != crc) {
            xy__diagf(diag, ctx, "%s:%zu: snapshot section checksum mismatch (the snapshot is corrupt)", path, off);
            return XY_ECORRUPT;
        }
        off += 16 + pad + len;
    }
    if (off != size) {
        xy__diagf(diag, ctx, "%s:%zu: %zu bytes after the last snapshot section", path, off, size - off);
        return XY_ECORRUPT;
    }
    return XY_OK;
}

/* Maps the snapshot and checks its framing and, if check_crc, every
 * section's CRC (else the caller checks them: see sections_check). With
 * fdp, the file stays open as *fdp (for xy__big_load) when this succeeds.
 * *limits_padded says whether the limit tables are padded (v11). */
static int open_snapshot(const char *dir, unsigned char **map, size_t *size, view *sec, uint64_t *log_offset,
                         int check_crc, int *fdp, int *limits_paddedp, xy_diag_fn *diag, void *ctx)
{
    xy_buf path = {0};
    xy__buf_printf(&path, "%s/snapshot", dir);
    int rc = XY_OK;
    *map = NULL;
    /* Non-blocking, so that a FIFO in the snapshot's place is refused
     * below instead of stopping the open until a writer comes. */
    int fd = open(path.data, O_RDONLY | O_NONBLOCK);
    struct stat st;
    /* A snapshot that cannot be read is named with the reason: the caller
     * only says that the directory failed, and verify says nothing more. */
    if (fd < 0) {
        rc = errno == ENOENT ? XY_ENOENT : XY_EIO;
        if (rc == XY_EIO) xy__diagf(diag, ctx, "%s: cannot read: %s", path.data, strerror(errno));
        goto done;
    }
    if (fstat(fd, &st)) {
        xy__diagf(diag, ctx, "%s: cannot read: %s", path.data, strerror(errno));
        rc = XY_EIO;
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        /* As the log says of itself. */
        xy__diagf(diag, ctx, "%s: cannot read: not a regular file", path.data);
        rc = XY_EIO;
        goto done;
    }
    if (st.st_size < 32) {
        xy__diagf(diag, ctx, "%s:0: snapshot header is missing", path.data);
        rc = XY_ECORRUPT;
        goto done;
    }
    *size = (size_t)st.st_size;
    *map = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (*map == MAP_FAILED) {
        *map = NULL;
        xy__diagf(diag, ctx, "%s: cannot read: %s", path.data, strerror(errno));
        rc = XY_EIO;
        goto done;
    }
    int padded;
    rc = read_version(*map, path.data, &padded, limits_paddedp, diag, ctx);
    if (rc) goto done;
    uint64_t head[2];
    memcpy(head, *map + 16, 16);
    *log_offset = head[0];
    rc = read_sections(*map, *size, fd, head[1], padded, check_crc, sec, path.data, diag, ctx);
done:
    if (fdp && !rc) *fdp = fd;
    else if (fd >= 0) close(fd);
    if (rc && *map) {
        munmap(*map, *size);
        *map = NULL;
    }
    xy__buf_free(&path);
    return rc;
}

static int need(const view *v, uint64_t len)
{
    return v->len == len ? 0 : -1;
}


/* The framing of a map section (mask and count, then the slots): sets
 * *slots (0 for an empty map) and *count. Returns 0, or -1 when it does
 * not hold. */
static int map_frame(const view *v, uint64_t *slots, uint64_t *count)
{
    uint64_t head[2];
    if (v->len < 16) return -1;
    memcpy(head, v->data, 16);
    *count = head[1];
    *slots = 0;
    if (head[0] == 0 && head[1] == 0 && v->len == 16) return 0;
    *slots = head[0] + 1;
    return (*slots & head[0]) != 0 || v->len != 16 + *slots * sizeof(xy_slot) ? -1 : 0;
}

static int restore_map(xy_map *m, const xy_big_src *src, const view *v)
{
    uint64_t slots, count;
    xy__map_free(m);
    if (map_frame(v, &slots, &count)) return -1;
    if (slots) xy__map_load(m, src, v->data + 16, slots, count);
    return 0;
}

/* The next bucket of a schedule section read through k (ring slot and
 * item count, then the items of elem bytes) at *off: sets *ring and *n
 * and moves *off to its first item. Returns 1, 0 at the end, or -1 when
 * the framing does not hold. */
static int cal_bucket(cursor *k, uint64_t *off, size_t elem, uint32_t *ring, uint32_t *n)
{
    const view *v = k->v;
    uint32_t head[2];
    if (*off == v->len) return 0;
    if (v->len - *off < 8) return -1;
    memcpy(head, cursor_at(k, *off, 8), 8);
    if (head[0] >= XY_RING || (uint64_t)head[1] * elem > v->len - *off - 8) return -1;
    *ring = head[0];
    *n = head[1];
    *off += 8;
    return 1;
}

/* A reader keeps the section (mapped: see xy__big_load) and reads each
 * bucket's items where they lie; a writer, which schedules into the same
 * buckets and frees them as days pass, copies the items into blocks. */
static int restore_calendar(xy_calendar *cal, const xy_big_src *src, const view *v)
{
    uint64_t off = 0;
    uint32_t ring, n;
    const unsigned char *kept = NULL;
    if (src->map && v->len) {
        kept = xy__big_load(src, v->data, v->len, v->len);
        xy__cal_keep(cal, (void *)kept, v->len);
    }
    /* The items are read where they lie in the mapping (or in kept). */
    cursor k;
    cursor_open(&k, NULL, v);
    int got;
    /* Ring slot ring holds one day; any day of that slot puts the items
     * back in the same bucket. */
    while ((got = cal_bucket(&k, &off, cal->elem, &ring, &n)) == 1) {
        const unsigned char *items = v->data + off;
        off += (uint64_t)n * cal->elem;
        if (kept && xy__cal_adopt(cal, ring, kept + (items - v->data), n) == 0) continue;
        for (uint32_t i = 0; i < n; i++) memcpy(xy__cal_push(cal, (xy_day)ring), items + (size_t)i * cal->elem, cal->elem);
    }
    cursor_close(&k);
    return got;
}

/* ------------------------------------------------------- content checks */

/* A checksum says a section holds what was written; these checks say that
 * what was written is a state the engine can run on: every citizen index
 * in range, every city, grade and behaviour known to the ruleset, every
 * hash table holding the count it claims and at least one free slot (a
 * lookup of an absent key must end), every day where date arithmetic
 * cannot overflow. A snapshot whose checksums were made to match other
 * contents, or a writer's bug, then stops start-up with a message instead
 * of leading the engine out of its arrays. The limit tables are checked
 * as they are loaded (xy__limits_load). */

/* Days a stored state may hold: the sentinels, or days within about
 * 45,000 years of 1970, far from where adding a rule's delay overflows. */
static int ok_day(int64_t d)
{
    return d == XY_DAY_NONE || d == XY_DAY_PENDING || (d >= -(1 << 24) && d <= (1 << 24));
}

typedef struct content {
    const scalars *sc;         /* the scalars section, checked for length */
    const xy_rules *r;         /* the ruleset the state was made with */
    const unsigned char *st;   /* the state section (not aligned) */
    const xy_big_src *src;     /* the file, for cursors, or NULL */
} content;

static xy_cstate state_of(const content *c, uint64_t i)
{
    xy_cstate s;
    memcpy(&s, c->st + i * sizeof s, sizeof s);
    return s;
}

/* Checks one occupied slot of a map (key as the map holds it, minus one). */
typedef int slot_ok(const content *c, uint64_t key, uint64_t val);

static int map_ok(const view *v, const content *c, slot_ok *ok)
{
    uint64_t slots, count, used = 0;
    if (map_frame(v, &slots, &count)) return 0;
    cursor k;
    cursor_open(&k, c->src, v);
    int good = 1;
    for (uint64_t i = 0; i < slots && good; i++) {
        xy_slot sl;
        memcpy(&sl, cursor_at(&k, 16 + i * sizeof sl, sizeof sl), sizeof sl);
        if (sl.key == 0) continue;
        good = ok(c, sl.key - 1, sl.val);
        used++;
    }
    cursor_close(&k);
    return good && used == count && (slots == 0 || used < slots);
}

/* The city is checked against the ruleset, not against the citizen's
 * state: that would be a random read per citizen. */
static int by_id_ok(const content *c, uint64_t key, uint64_t val)
{
    (void)key;
    return (uint32_t)val < c->sc->n && val >> 32 < c->sc->ncities;
}

static int citizen_day_ok(const content *c, uint64_t key, uint64_t val)
{
    return key < c->sc->n && ok_day((int32_t)(uint32_t)val);
}

static int term_reason_ok(const content *c, uint64_t key, uint64_t val)
{
    return key < c->sc->n && (val >> 40) < c->sc->nbehaviours;
}

static int grade_entry_ok(const content *c, uint64_t key, uint64_t val)
{
    uint32_t i = (uint32_t)(key >> 32);
    if (i >= c->sc->n) return 0;
    int city = state_of(c, i).city;
    return city < c->r->ncities && (uint32_t)key < (uint32_t)c->r->cities[city].nfor_slots &&
           ok_day((int32_t)(uint32_t)val);
}

static int edge_ok(const content *c, uint64_t key, uint64_t val)
{
    (void)val;
    return (uint32_t)(key >> 32) < (uint32_t)key && (uint32_t)key < c->sc->n;
}

/* Whether the items of a schedule section, expiries (elem is the size of
 * xy_expiry) or exits (a citizen each), name known citizens and
 * behaviours, in buckets of the ring. */
static int calendar_ok(const view *v, size_t elem, const content *c)
{
    const scalars *sc = c->sc;
    cursor k;
    cursor_open(&k, c->src, v);
    uint64_t off = 0;
    uint32_t ring, n;
    int got, good = 1;
    while (good && (got = cal_bucket(&k, &off, elem, &ring, &n)) != 0) {
        if (got < 0) {
            good = 0;
            break;
        }
        for (uint32_t i = 0; i < n && good; i++, off += elem) {
            xy_expiry x;
            const unsigned char *p = cursor_at(&k, off, elem);
            memcpy(&x.citizen, p, 4);
            if (x.citizen >= sc->n) good = 0;
            if (elem != sizeof x) continue;
            memcpy(&x, p, sizeof x);
            if (x.behaviour < 0 || (uint64_t)x.behaviour >= sc->nbehaviours) good = 0;
        }
    }
    cursor_close(&k);
    return good;
}

/* Returns NULL, or the name of the first section whose contents do not
 * make a state and sets *off to its offset. The lengths have been checked
 * (see sections_fit). */
/* The first part of the contents' checks: the scalars and every
 * citizen's state. */
static const char *citizens_check(const view *sec, const xy_rules *r, const xy_big_src *src, size_t *off)
{
    scalars sc;
    memcpy(&sc, sec[S_SCALARS].data, sizeof sc);
    const char *bad = NULL;
    uint64_t listed = 0, on_bl = 0;
    if (!ok_day(sc.today) || !ok_day(sc.first_day) || sc.bl_count > sc.n || sc.bl_members > sc.n) {
        *off = sec[S_SCALARS].off;
        return "scalars";
    }
    cursor ks, ki;
    cursor_open(&ks, src, &sec[S_STATE]);
    cursor_open(&ki, src, &sec[S_IDS]);
    for (uint64_t i = 0; i < sc.n && !bad; i++) {
        xy_cstate st, *s = &st;
        xy_resid id;
        memcpy(&st, cursor_at(&ks, i * sizeof st, sizeof st), sizeof st);
        memcpy(&id, cursor_at(&ki, i * sizeof id, sizeof id), sizeof id);
        if (s->city >= r->ncities || (s->flags & ~31) ||
            (s->grade != 255 && s->grade >= r->cities[s->city].ngrades) || !ok_day(s->bl_since) ||
            !ok_day(s->wl_since) || !ok_day(s->term_end) || !ok_day(s->grade_since) || s->birth != xy__birth(id) ||
            s->raw > ((int64_t)1 << 62) || s->raw < -((int64_t)1 << 62))
            bad = "citizen state";
        listed += (s->flags & CS_LISTED) != 0;
        on_bl += (s->flags & CS_ON_BL) != 0;
    }
    cursor_close(&ks);
    cursor_close(&ki);
    if (!bad && (listed != sc.bl_count || on_bl != sc.bl_members)) bad = "citizen state";
    if (bad) *off = sec[S_STATE].off;
    return bad;
}

/* The second part: everything else. Independent of the first, which may
 * run at the same time or not at all yet: nothing here trusts a
 * citizen's state but its flags, and its city is checked where it
 * indexes the ruleset. */
static const char *rest_check(const view *sec, const xy_rules *r, const xy_big_src *src, size_t *off)
{
    scalars sc;
    memcpy(&sc, sec[S_SCALARS].data, sizeof sc);
    content c = {&sc, r, sec[S_STATE].data, src};
    const char *bad = NULL;
    cursor kf, km, kn;
    cursor_open(&kf, src, &sec[S_FATHER]);
    cursor_open(&km, src, &sec[S_MOTHER]);
    cursor_open(&kn, src, &sec[S_NAME_OFF]);
    for (uint64_t i = 0; i < sc.n && !bad; i++) {
        uint32_t f, m;
        uint64_t name;
        memcpy(&f, cursor_at(&kf, i * 4, 4), 4);
        memcpy(&m, cursor_at(&km, i * 4, 4), 4);
        memcpy(&name, cursor_at(&kn, i * 8, 8), 8);
        if ((f != XY_NONE && f >= sc.n) || (m != XY_NONE && m >= sc.n)) {
            *off = sec[f != XY_NONE && f >= sc.n ? S_FATHER : S_MOTHER].off;
            bad = "parents";
        } else if (name >= sc.names_len) {
            *off = sec[S_NAME_OFF].off;
            bad = "name offsets";
        }
    }
    cursor_close(&kf);
    cursor_close(&km);
    cursor_close(&kn);
    if (bad) return bad;
    if (sc.names_len && sec[S_NAMES].data[sc.names_len - 1] != 0) {
        *off = sec[S_NAMES].off;
        return "names";
    }
    for (uint64_t i = 0; i < sc.bl_count; i++) {
        uint32_t b;
        memcpy(&b, sec[S_BL_LIST].data + i * 4, 4);
        if (b >= sc.n || !(state_of(&c, b).flags & CS_LISTED)) {
            *off = sec[S_BL_LIST].off;
            return "blacklist members";
        }
    }
    cursor ke;
    cursor_open(&ke, src, &sec[S_EDGES]);
    for (uint64_t i = 0; i < sc.nedges && !bad; i++) {
        uint64_t ab;
        memcpy(&ab, cursor_at(&ke, i * 8, 8), 8);
        if (!edge_ok(&c, ab, 0)) {
            *off = sec[S_EDGES].off;
            bad = "contacts";
        }
    }
    cursor_close(&ke);
    if (bad) return bad;
    static const struct {
        int tag;
        slot_ok *ok;
        const char *name;
    } maps[] = {
        {S_BY_ID, by_id_ok, "ID index"},           {S_TERM_REASON, term_reason_ok, "term reasons"},
        {S_GRADE_ENTRY, grade_entry_ok, "grade entries"}, {S_SCORE_SINCE, citizen_day_ok, "score memberships"},
        {S_RISE_DAY, citizen_day_ok, "exit days"},  {S_EDGE_SET, edge_ok, "contact set"},
    };
    for (size_t k = 0; k < sizeof maps / sizeof maps[0]; k++)
        if (!map_ok(&sec[maps[k].tag], &c, maps[k].ok)) {
            *off = sec[maps[k].tag].off;
            return maps[k].name;
        }
    if (!calendar_ok(&sec[S_EXPIRIES], sizeof(xy_expiry), &c)) {
        *off = sec[S_EXPIRIES].off;
        return "expiries";
    }
    if (!calendar_ok(&sec[S_EXITS], sizeof(uint32_t), &c)) {
        *off = sec[S_EXITS].off;
        return "list exits";
    }
    return NULL;
}

/* Part 0 or 1 of the contents' checks. */
static const char *contents_part(const view *sec, const xy_rules *r, const xy_big_src *src, int part, size_t *off)
{
    return part == 0 ? citizens_check(sec, r, src, off) : rest_check(sec, r, src, off);
}

/* Both parts of the contents' checks, in order. */
static const char *contents_check(const view *sec, const xy_rules *r, const xy_big_src *src, size_t *off)
{
    const char *bad = citizens_check(sec, r, src, off);
    return bad ? bad : rest_check(sec, r, src, off);
}

/* Whether the sections have the lengths the scalars and the ruleset say,
 * and the event index's runs cover exactly the events the scalars count
 * (verify asks this too, without opening the runs). */
static int sections_fit(const view *sec, const xy_rules *r)
{
    scalars sc;
    uint64_t runs_end;
    if (need(&sec[S_SCALARS], sizeof sc)) return 0;
    memcpy(&sc, sec[S_SCALARS].data, sizeof sc);
    if (sc.ncities != (uint64_t)r->ncities || sc.nbehaviours != r->behaviour_names.count || sc.n >= UINT32_MAX)
        return 0;
    if (xy__evindex_list_end(sec[S_EV_RUNS].data, sec[S_EV_RUNS].len, &runs_end) || runs_end != sc.nevents)
        return 0;
    uint64_t n = sc.n;
    return !need(&sec[S_IDS], n * sizeof(xy_resid)) && !need(&sec[S_FATHER], n * 4) && !need(&sec[S_MOTHER], n * 4) &&
           !need(&sec[S_NAME_OFF], n * 8) && !need(&sec[S_STATE], n * sizeof(xy_cstate)) &&
           !need(&sec[S_NAMES], sc.names_len) && sc.bl_count <= n && !need(&sec[S_BL_LIST], sc.bl_count * 4) &&
           sc.nedges <= sec[S_EDGES].len / 8 && !need(&sec[S_EDGES], sc.nedges * 8);
}

/* The checksums of a snapshot's sections and their contents, checked while
 * the state is being restored from them: reading the mapped file twice on
 * one core is the larger part of start-up, and a damaged snapshot is rare
 * enough that restoring it first costs nothing (the open then fails and
 * the partly restored state is dropped). A thread of its own takes the
 * checksums; the contents go to whichever of it and the restoring thread
 * is free first (a writer's restore copies a gigabyte, a reader's maps it
 * in moments). */
typedef struct sections_check {
    const view *sec;        /* the sections, of the lengths they should have */
    const xy_big_src *src;  /* the file they lie in */
    const xy_rules *r;      /* the ruleset */
    size_t crc_off;         /* offset of the first whose checksum fails, or SIZE_MAX */
    size_t bad_off[2];      /* for each part of the contents' checks: where they fail */
    const char *bad_what[2]; /* and what, or NULL if they check out */
    atomic_int taken;       /* parts of the contents' checks taken up */
} sections_check;

/* Takes up the parts of the contents' checks no thread has yet. */
static void check_contents(sections_check *c)
{
    int part;
    while ((part = atomic_fetch_add(&c->taken, 1)) < 2)
        c->bad_what[part] = contents_part(c->sec, c->r, c->src, part, &c->bad_off[part]);
}

static void *check_sections(void *arg)
{
    sections_check *c = arg;
    for (int k = 1; k < S_COUNT && c->crc_off == SIZE_MAX; k++)
        if (c->sec[k].data && section_crc(c->src, &c->sec[k]) != c->sec[k].crc) c->crc_off = c->sec[k].off;
    check_contents(c);
    return NULL;
}

static int restore(xy_db *db, const view *sec, const xy_big_src *src, int limits_padded);

static void say_unfit(const char *dir, xy_diag_fn *diag, void *ctx)
{
    xy__diagf(diag, ctx, "%s/snapshot: sections do not fit together (the snapshot is corrupt)", dir);
}

static void say_invalid(const char *dir, size_t off, const char *what, xy_diag_fn *diag, void *ctx)
{
    xy__diagf(diag, ctx, "%s/snapshot:%zu: snapshot section of the %s does not make a valid state (the snapshot is corrupt)",
              dir, off, what);
}

int xy__snapshot_verify(const char *dir, const xy_rules *given, uint64_t *log_offset, uint64_t *bytes,
                        uint64_t *trail_len, xy_diag_fn *diag, void *ctx)
{
    unsigned char *map;
    size_t size = 0;
    view sec[S_COUNT];
    int fd = -1;
    int limits_padded;
    int rc = open_snapshot(dir, &map, &size, sec, log_offset, 1, &fd, &limits_padded, diag, ctx);
    *bytes = size;
    *trail_len = 0;
    if (rc) return rc;
    /* The bytes of DATA/trail the snapshot's heads point into (0 when it
     * left the history index out), the first of its section's words. */
    if (sec[S_TRAIL].len >= 8) memcpy(trail_len, sec[S_TRAIL].data, 8);
    xy_big_src src = {map, fd, 0};
    /* The contents, against the ruleset the directory holds. */
    xy_buf rdir = {0};
    xy__buf_printf(&rdir, "%s/rules", dir);
    xy_rules *own = NULL;
    const xy_rules *rules = given;
    if (!given && xy_rules_load_dir(rdir.data, diag, ctx, &own) == XY_OK) rules = own;
    if (!rules) {
        xy__diagf(diag, ctx, "%s: the ruleset does not compile; the snapshot's contents were not checked", rdir.data);
        rc = XY_ECORRUPT;
    } else if (!sections_fit(sec, rules)) {
        say_unfit(dir, diag, ctx);
        rc = XY_ECORRUPT;
    } else {
        size_t off;
        const char *what = contents_check(sec, rules, &src, &off);
        xy_limits lim = {0};
        if (!what && xy__limits_load(&lim, NULL, sec[S_LIMITS].data, sec[S_LIMITS].len, limits_padded) != XY_OK) {
            what = "yearly limit counts";
            off = sec[S_LIMITS].off;
        }
        xy__limits_free(&lim);
        if (what) {
            say_invalid(dir, off, what, diag, ctx);
            rc = XY_ECORRUPT;
        }
    }
    xy_rules_free(own);
    xy__buf_free(&rdir);
    munmap(map, size);
    close(fd);
    return rc;
}

/* Whether DATA/snapshot is no longer the file open as fd: a writer has
 * renamed a newer one over it since. */
static int replaced(const char *dir, int fd)
{
    xy_buf path = {0};
    xy__buf_printf(&path, "%s/snapshot", dir);
    struct stat now, was;
    int r = stat(path.data, &now) == 0 && fstat(fd, &was) == 0 && (now.st_ino != was.st_ino || now.st_dev != was.st_dev);
    xy__buf_free(&path);
    return r;
}

/* One attempt of xy__snapshot_read. When the snapshot names an
 * event-index run that is missing, *stale is set to whether a writer
 * replaced the snapshot meanwhile (and removed the runs it no longer
 * needs); otherwise it is left alone. */
static int read_once(xy_db *db, uint64_t *log_offset, int *stale, xy_diag_fn *diag, void *ctx)
{
    unsigned char *map;
    size_t size;
    view sec[S_COUNT];
    int fd;
    int limits_padded;
    int rc = open_snapshot(db->path, &map, &size, sec, log_offset, 0, &fd, &limits_padded, diag, ctx);
    if (rc) return rc;
    if (!sections_fit(sec, db->rules)) {
        say_unfit(db->path, diag, ctx);
        munmap(map, size);
        close(fd);
        return XY_ECORRUPT;
    }
    /* A reader maps the large arrays from the file: it writes few of their
     * pages, if any (the log after the snapshot), and copying them cost it
     * a gigabyte of fresh memory at ten million citizens for every
     * command. A writer copies them: it writes all over them, where
     * copy-on-write would fault a page at a time and give up huge pages. */
    xy_big_src src = {map, fd, db->mode == XY_READ};
    sections_check check = {sec, &src, db->rules, SIZE_MAX, {SIZE_MAX, SIZE_MAX}, {NULL, NULL}, 0};
    pthread_t th;
    int threaded = pthread_create(&th, NULL, check_sections, &check) == 0;
    if (!threaded) check_sections(&check);
    rc = restore(db, sec, &src, limits_padded);
    if (rc == XY_EINPUT) *stale = replaced(db->path, fd);
    check_contents(&check);
    if (threaded) pthread_join(th, NULL);
    if (check.crc_off != SIZE_MAX) {
        xy__diagf(diag, ctx, "%s/snapshot:%zu: snapshot section checksum mismatch (the snapshot is corrupt)",
                  db->path, check.crc_off);
        rc = XY_ECORRUPT;
    } else if (check.bad_what[0] || check.bad_what[1]) {
        int p = check.bad_what[0] ? 0 : 1;
        say_invalid(db->path, check.bad_off[p], check.bad_what[p], diag, ctx);
        rc = XY_ECORRUPT;
    } else if (rc == XY_ECORRUPT) {
        say_unfit(db->path, diag, ctx);
    }
    munmap(map, size);
    close(fd);
    return rc;
}

int xy__snapshot_read(xy_db *db, uint64_t *log_offset, xy_diag_fn *diag, void *ctx)
{
    /* A reader that takes no lock can open a snapshot just before a writer
     * renames a newer one over it and removes the event-index runs only
     * the older one named: the directory is whole, the reader was late.
     * It starts again from the newer snapshot; only a run missing from
     * the snapshot in place is damage. */
    for (int tries = 0;; tries++) {
        int stale = -1;
        int rc = read_once(db, log_offset, &stale, diag, ctx);
        if (stale != 1 || tries == 8) {
            if (stale >= 0)
                xy__diagf(diag, ctx,
                          "%s/snapshot: warning: a run of its event index is missing or damaged; replaying the log",
                          db->path);
            return rc;
        }
    }
}

void xy__snapshot_uncache(const xy_db *db)
{
    xy_buf path = {0};
    xy__buf_printf(&path, "%s/snapshot", db->path);
    int fd = open(path.data, O_RDONLY);
    if (fd >= 0) {
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    xy__buf_free(&path);
}

/* Whether arrays of n elements of elem bytes in blocks of cap can grow
 * (xy__big_growable) if mapped from src. */
static int growable(const xy_big_src *src, uint64_t n, uint64_t cap, size_t elem)
{
    return !src->map || xy__big_growable(n * elem, cap * elem);
}

/* Restores the state from a snapshot's sections: XY_OK, XY_EINPUT when
 * the snapshot cannot be used but the log can (it names an event-index
 * run that is missing), or XY_ECORRUPT. */
static int restore(xy_db *db, const view *sec, const xy_big_src *src, int limits_padded)
{
    xy_engine *e = db->engine;
    scalars sc;
    /* The sections' lengths fit together (sections_fit). */
    memcpy(&sc, sec[S_SCALARS].data, sizeof sc);
    if (e->n != 0) goto bad;
    uint32_t n = (uint32_t)sc.n;
    uint64_t cap = 1024;
    while (cap < UINT32_MAX && (cap < n || !growable(src, n, cap, 4) || !growable(src, n, cap, 8) ||
                                !growable(src, n, cap, sizeof *e->st)))
        cap *= 2;
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    /* The runs of the event index first: if one is missing, the snapshot
     * cannot be used, and nothing of it has been restored yet. */
    if (xy__evindex_open_runs(&db->evix, sec[S_EV_RUNS].data, sec[S_EV_RUNS].len) != XY_OK) return XY_EINPUT;
    e->today = (xy_day)sc.today;
    e->first_day = (xy_day)sc.first_day;
    e->applied = sc.applied;
    e->n = n;
    e->cap = cap;
    e->ids = xy__big_load(src, sec[S_IDS].data, sec[S_IDS].len, cap * sizeof *e->ids);
    e->father = xy__big_load(src, sec[S_FATHER].data, sec[S_FATHER].len, cap * sizeof *e->father);
    e->mother = xy__big_load(src, sec[S_MOTHER].data, sec[S_MOTHER].len, cap * sizeof *e->mother);
    e->name_off = xy__big_load(src, sec[S_NAME_OFF].data, sec[S_NAME_OFF].len, cap * sizeof *e->name_off);
    e->st = xy__big_load(src, sec[S_STATE].data, sec[S_STATE].len, cap * sizeof *e->st);
    /* The names' buffer keeps a NUL after them and grows by doubling. */
    size_t names_cap = sec[S_NAMES].len + 1;
    while (!xy__big_growable(sec[S_NAMES].len, names_cap)) names_cap *= 2;
    xy__buf_free(&e->names);
    e->names.data = xy__big_load(src, sec[S_NAMES].data, sec[S_NAMES].len, names_cap);
    e->names.len = sec[S_NAMES].len;
    e->names.cap = names_cap;
    e->bl_count = sc.bl_count;
    e->bl_members = sc.bl_members;
    e->cap_bl = sc.bl_count;
    e->bl_list = xy__malloc(sc.bl_count * sizeof *e->bl_list + 1);
    if (sc.bl_count) memcpy(e->bl_list, sec[S_BL_LIST].data, sec[S_BL_LIST].len);
    e->nedges = e->cap_edges = sc.nedges;
    e->edges = xy__malloc(sc.nedges * sizeof *e->edges + 1);
    if (sc.nedges) memcpy(e->edges, sec[S_EDGES].data, sec[S_EDGES].len);
    if (restore_map(&e->by_id, src, &sec[S_BY_ID]) ||
        xy__limits_load(&e->limits, src, sec[S_LIMITS].data, sec[S_LIMITS].len, limits_padded) != XY_OK ||
        restore_map(&e->term_reason, src, &sec[S_TERM_REASON]) ||
        restore_map(&e->grade_entry, src, &sec[S_GRADE_ENTRY]) ||
        restore_map(&e->score_since, src, &sec[S_SCORE_SINCE]) || restore_map(&e->rise_day, src, &sec[S_RISE_DAY]) ||
        restore_map(&e->edge_set, src, &sec[S_EDGE_SET]) ||
        restore_calendar(&e->expiries, src, &sec[S_EXPIRIES]) || restore_calendar(&e->exits, src, &sec[S_EXITS]) ||
        xy__trail_load_heads(&db->trail, src, sec[S_TRAIL].data, sec[S_TRAIL].len, &db->trail_use) != XY_OK)
        goto bad;
    db->nevents = sc.nevents; /* which the runs cover (sections_fit) */
    return XY_OK;
bad:
    return XY_ECORRUPT;
}
