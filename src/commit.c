/* commit.c -- how a batch of records gets into the log and into the
 * state. A load or an advance encodes its records into a batch; the batch
 * goes to the end of the log's last segment (a new segment when it would
 * take that one past its size) with its space reserved first, so that a
 * full disk refuses it before anything is applied; a second thread writes
 * and fdatasyncs it while this one applies it; a failed write cuts it
 * from the log again and leaves the handle refusing writes. Large loads
 * are written in parts as they are encoded (spilled loads), and an events
 * load's parts are applied ahead of its commit; the append path applies
 * each batch on a thread of its own behind the next one's checks.
 * Record format: see store.c. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------ encoding */

/* Reserves a record of payload size n (type byte included) at the end of
 * b and returns a pointer to its payload; rec_frame() writes its length and
 * seal_batch() its checksum. */
static unsigned char *rec_reserve(xy_buf *b, size_t n, int type)
{
    if (b->len + 8 + n + 1 > b->cap) xy__buf_grow(b, b->len + 8 + n);
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
        uint32_t len = xy__get_u32(d + off);
        put32(d + off + 4, xy__crc32(0, d + off + 8, len));
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
    ev->date = (xy_day)xy__get_u32(p + 1);
    ev->citizen = xy__get_u32(p + 5);
    ev->behaviour = (int32_t)xy__get_u32(p + 9);
    ev->agency = (int32_t)xy__get_u32(p + 13);
    ev->amount = (int64_t)xy__get_u64(p + 17);
    ev->counterpart = xy__get_u32(p + 25);
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

/* ------------------------------------------------------ writing a batch */

/* Size past which a writer starts a new log segment. */
static uint64_t segment_bytes(void) { return xy__env_bytes("XINYONG_SEGMENT_BYTES", XY_SEGMENT_BYTES); }

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
    xy__buf_printf(&path, "%s/log.%llu", db->path, (unsigned long long)db->log_size);
    int fd = open(path.data, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int rc = fd < 0 ? xy__errno_status(errno) : xy__write_status(fd, xy__log_magic, sizeof xy__log_magic);
    if (!rc) {
        *reserved = reserve_log(fd, sizeof xy__log_magic, n);
        if (*reserved == XY_ENOSPC) rc = XY_ENOSPC;
    }
    if (!rc && fsync(fd)) rc = xy__errno_status(errno);
    if (!rc) rc = xy__fsync_dir(db->path);
    if (rc) {
        if (fd >= 0) close(fd);
        unlink(path.data);
    } else {
        close(db->log_fd);
        db->log_fd = fd;
        db->seg_base = db->log_size;
        db->log_size += sizeof xy__log_magic;
    }
    xy__buf_free(&path);
    return rc;
}

/* Writes a batch (unless begin wrote it already) and makes it durable.
 * With drop, the bytes written then leave the page cache (xy__write_back):
 * the log is read again only by a replay, which reads it from the disk
 * after a reboot anyway, and by explanations, a few records each; what a
 * load writes would otherwise take a page of fresh memory for every page
 * of the log. After a sync everything from in_seg to the segment's end is
 * clean and goes; a write without one (a load's part, at in_seg) is
 * written back first, only its own bytes. */
static void *sync_log(void *arg)
{
    xy_commit *c = arg;
    if (c->unwritten) c->rc = xy__write_status(c->fd, c->unwritten, c->len);
    if (!c->rc && c->sync && fdatasync(c->fd)) c->rc = xy__errno_status(errno);
    if (!c->rc && c->drop && c->sync) (void)posix_fadvise(c->fd, (off_t)c->in_seg, 0, POSIX_FADV_DONTNEED);
    else if (!c->rc && c->drop) c->rc = xy__errno_status(xy__write_back(c->fd, c->in_seg, c->len, 1));
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
    double t0 = xy__seconds();
    if (reserved == 1) reserved = reserve_log(db->log_fd, off, len + extra);
    if (reserved == XY_ENOSPC) rc = XY_ENOSPC;
    c->fd = db->log_fd;
    c->unwritten = data;
    c->len = len;
    if (!rc && reserved != XY_OK) {
        rc = xy__write_status(db->log_fd, data, len);
        c->unwritten = NULL;
    }
    db->commit_secs[0] += xy__seconds() - t0;
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
    if (in_seg > sizeof xy__log_magic && in_seg + total > segment_bytes()) rc = new_segment(db, total, &reserved);
    c->in_seg = db->log_size - db->seg_base;
    c->drop = 1;
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
    double t0 = xy__seconds();
    if (c->threaded) pthread_join(c->th, NULL);
    c->threaded = 0;
    db->commit_secs[1] += xy__seconds() - t0;
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
    double t1 = xy__seconds();
    /* The events the parts applied ahead left open go on with the rest. */
    xy_applier *app = db->spill.app ? db->spill.app : xy__applier_new(db, db->engine, 1, 1, &db->trail);
    db->spill.app = NULL;
    int rc = xy__applier_run(app, data, db->log_size, from, body, &db->nevents);
    if (rc == XY_OK) rc = xy__applier_end(app);
    if (rc || db->nevents != first + staged) xy_panic("a batch that was validated does not apply");
    (void)xy__trail_flush(&db->trail); /* derived data: a failure only slows explanations */
    db->commit_secs[2] += xy__seconds() - t1;
    db->nstaged = 0;
    if (commit_wait(db, c)) {
        cut_log(db, c->in_seg);
        db->broken = c->rc;
        return c->rc;
    }
    return XY_OK;
}

/* ------------------------------------------------------- spilled loads */

uint64_t xy__db_spill_bytes(void) { return xy__env_bytes("XINYONG_SPILL_BYTES", XY_SPILL_BYTES); }

/* Applies the part of a load's batch that xy__db_spill handed over, ahead
 * of the commit. Its events are numbered from spill.seq, not nevents, which
 * the load goes on numbering the events it stages from. */
static void *apply_part(void *arg)
{
    xy_db *db = arg;
    xy_spill *s = &db->spill;
    if (!s->app) s->app = xy__applier_new(db, db->engine, 1, 1, &db->trail);
    s->arc = xy__applier_run(s->app, s->adata, s->abase, 0, s->alen, &s->seq);
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
        if (db->log_size - db->seg_base > sizeof xy__log_magic) rc = new_segment(db, batch->len, &s->reserved);
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
    /* A part applied ahead is not read from the file again (the commit
     * applies from where the parts applied ahead end); the parts of a
     * citizens load are, at the commit, and stay cached until then. */
    s->w.drop = s->ahead;
    s->w.in_seg = s->in_seg + s->len;
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

static void mark_stale(xy_db *db);

/* Cuts the parts of a load's batch from the log: the load failed. Parts
 * it applied ahead leave the handle stale. */
static void drop_spill(xy_db *db)
{
    xy_spill *s = &db->spill;
    if (!s->active) return;
    (void)spill_wait(db);
    if (s->app) xy__applier_drop(s->app);
    s->app = NULL;
    cut_log(db, s->in_seg);
    s->active = 0;
    s->len = 0;
    if (s->applied) mark_stale(db);
    s->applied = 0;
}

void xy__db_unstage(xy_db *db)
{
    for (size_t i = 0; i < db->nstaged; i++) xy__evindex_del(&db->evix, &db->staged_key[2 * i]);
    db->nstaged = 0;
    drop_spill(db);
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
    double t0 = xy__seconds();
    int reserved = reserve_log(db->log_fd, s->in_seg + s->len, batch->len);
    rc = reserved == XY_ENOSPC ? XY_ENOSPC : xy__write_status(db->log_fd, batch->data, batch->len);
    db->commit_secs[0] += xy__seconds() - t0;
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
    /* Synced and applied: the batch's pages are clean and read no more
     * (see sync_log). */
    (void)posix_fadvise(db->log_fd, (off_t)s->in_seg, (off_t)total, POSIX_FADV_DONTNEED);
    db->log_size += total;
    batch->len = 0;
    return XY_OK;
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
        if (rc == XY_OK) xy__db_after_commit(db);
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
    xy__db_after_commit(db);
    return XY_OK;
}

/* ------------------------------------------------------ the append path */

/* The thread that applies a batch of the append path (see xy_pending). */
static void *apply_pending(void *arg)
{
    xy_db *db = arg;
    xy_pending *p = &db->pending;
    double t0 = xy__seconds();
    /* Not piped: this is the second thread already. */
    p->rc = xy__apply_range(db, db->engine, (const unsigned char *)p->batch.data, p->base, 0, p->body, 1, 0,
                            &db->trail, &p->seq);
    if (!p->rc) (void)xy__trail_flush(&db->trail);
    p->secs = xy__seconds() - t0;
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
    if (db->stale) xy__db_reload(db);
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
    xy__db_after_commit(db);
    return XY_OK;
}

void xy__db_commit_secs(const xy_db *db, double secs[3])
{
    memcpy(secs, db->commit_secs, sizeof db->commit_secs);
}
