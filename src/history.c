/* history.c -- one citizen's history for explanations: rerun from the
 * per-citizen trail and the log records it points to, or rebuilt by
 * replaying the whole log (see history.h). */
#include "history.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int xy__db_replay_history(xy_db *db, xy_resid citizen, xy_hist_fn *fn, void *ctx, xy_engine **out)
{
    xy__db_settle(db);
    xy_engine *e;
    xy_engine_new(db->rules, &e);
    uint64_t nevents = db->nevents;
    db->hist_resid = citizen;
    db->hist_index = XY_NONE;
    db->hist_fn = fn;
    db->hist_ctx = ctx;
    db->nevents = 0;
    int rc = xy__db_walk(db, e, NULL, NULL, 0, SIZE_MAX, NULL, NULL, NULL, NULL, NULL);
    db->nevents = nevents;
    db->hist_fn = NULL;
    if (rc) {
        xy_engine_free(e);
        return rc;
    }
    *out = e;
    return XY_OK;
}

/* Order of a citizen's trail records: by day; on one day the registration,
 * then association (day-start processing), then events in log order. */
typedef struct trail_item {
    xy_trec r;
    int kind;
} trail_item;

static int rank_of(int kind) { return kind == TRAIL_REG ? 0 : kind == TRAIL_ASSOC ? 1 : 2; }

static int cmp_trail(const void *pa, const void *pb)
{
    const trail_item *a = pa, *b = pb;
    if (a->r.day != b->r.day) return a->r.day < b->r.day ? -1 : 1;
    if (a->kind != b->kind) return rank_of(a->kind) - rank_of(b->kind);
    return a->r.aux < b->r.aux ? -1 : a->r.aux > b->r.aux;
}

/* Reads records at log offsets, whichever segment they are in. */
typedef struct xy_logrd {
    xy_segs s;
    int *fd;   /* per segment, opened on first use; -1 until then */
} logrd;

static int logrd_open(const xy_db *db, logrd *r)
{
    int rc = xy__segs_list(db->path, &r->s, NULL, NULL);
    if (rc) return rc;
    r->fd = xy__malloc((size_t)r->s.n * sizeof *r->fd);
    for (int k = 0; k < r->s.n; k++) r->fd[k] = -1;
    return XY_OK;
}

static void logrd_close(logrd *r)
{
    for (int k = 0; k < r->s.n; k++)
        if (r->fd[k] >= 0) close(r->fd[k]);
    xy__free(r->fd);
    xy__segs_free(&r->s);
}

/* The handle's log reader, kept from one lookup to the next (`list` looks
 * up an event of every citizen listed for one: listing the segments and
 * opening them each time was most of its time) while the log has the size
 * it had when the reader was opened; NULL if the log cannot be listed. A
 * log that grew may have new segments, so it is then opened again. */
static logrd *log_reader(xy_db *db)
{
    if (db->logrd && db->logrd_size != db->log_size) xy__db_drop_log_reader(db);
    if (!db->logrd) {
        logrd *r = xy__malloc(sizeof *r);
        if (logrd_open(db, r)) {
            xy__free(r);
            return NULL;
        }
        db->logrd = r;
        db->logrd_size = db->log_size;
    }
    return db->logrd;
}

void xy__db_drop_log_reader(xy_db *db)
{
    if (!db->logrd) return;
    logrd_close(db->logrd);
    xy__free(db->logrd);
    db->logrd = NULL;
}

/* The segment that holds log offset off, opened; -1 if it does not open. */
static int logrd_seg(logrd *r, uint64_t off)
{
    int k = r->s.n - 1;
    while (k > 0 && r->s.g[k].base > off) k--;
    if (r->fd[k] < 0) r->fd[k] = open(r->s.g[k].path, O_RDONLY);
    return r->fd[k] < 0 ? -1 : k;
}

/* Reads up to n bytes at log offset off; returns how many, or -1. */
static ssize_t logrd_read(logrd *r, void *buf, size_t n, uint64_t off)
{
    int k = logrd_seg(r, off);
    if (k < 0) return -1;
    return pread(r->fd[k], buf, n, (off_t)(off - r->s.g[k].base));
}

/* The longest event record there can be, header included. */
enum { EVENT_REC_MAX = 8 + 30 + 255 };

/* Asks the kernel to start reading the event record at log offset off. A
 * writer leaves the log out of the page cache (see commit.c), so a
 * citizen's events are read from the disk: asked for all at once, they
 * are read together instead of one after the other. */
static void logrd_ask(logrd *r, uint64_t off)
{
    int k = logrd_seg(r, off);
    if (k >= 0) (void)posix_fadvise(r->fd[k], (off_t)(off - r->s.g[k].base), EVENT_REC_MAX, POSIX_FADV_WILLNEED);
}

/* Reads the event record at log offset off of citizen into *ev, its id
 * into id[] (NUL-terminated; room for 256) and, unless counterpart is
 * NULL, its counterpart's index there. */
static int read_event(logrd *r, uint64_t off, uint32_t citizen, xy_event *ev, char *id, uint32_t *counterpart)
{
    /* One read of the longest record there can be; the header says how
     * much of it is this record. */
    unsigned char buf[EVENT_REC_MAX];
    ssize_t got = logrd_read(r, buf, sizeof buf, off);
    if (got < 8) return XY_EIO;
    uint32_t len = xy__get_u32(buf), crc = xy__get_u32(buf + 4);
    const unsigned char *p = buf + 8;
    if (len < 30 || len > (size_t)got - 8 || xy__crc32(0, p, len) != crc || p[0] != R_EVENT ||
        xy__rec_read_event(p, len, ev) || ev->citizen != citizen)
        return XY_ECORRUPT;
    /* The citizen is alone in its engine, as index 0, without contacts;
     * the counterpart (which scores nothing) is told apart. */
    ev->citizen = 0;
    if (counterpart) *counterpart = ev->counterpart;
    ev->counterpart = XY_NONE;
    memcpy(id, p + 30, p[29]);
    id[p[29]] = 0;
    return XY_OK;
}

/* Finding the id of event number seq by counting events through the log
 * (see xy__db_event_id). */
typedef struct id_search {
    xy_db *db;
    uint64_t seq, k; /* wanted, events counted */
} id_search;

static int find_id(void *ctx, const unsigned char *data, uint64_t base, size_t off, size_t end)
{
    id_search *q = ctx;
    (void)base;
    while (off < end) {
        uint32_t rlen = xy__get_u32(data + off);
        const unsigned char *p = data + off + 8;
        if (p[0] == R_EVENT && rlen >= 30 && q->k++ == q->seq) {
            xy__db_note_event_id(q->db, q->seq, (const char *)p + 30, p[29]);
            return XY_OK;
        }
        off += 8 + rlen;
    }
    return XY_OK;
}

const char *xy__db_event_id(xy_db *db, uint32_t c, uint64_t seq)
{
    xy__db_settle(db);
    const uint64_t *v = xy__map_get(&db->hist_ids, seq);
    if (v) return db->hist_idbuf.data + *v;
    /* The citizen's trail knows where its events are in the log. */
    logrd *lr = log_reader(db);
    const xy_trail *t = &db->trail;
    xy_trec r;
    for (uint64_t off = lr && c < t->nhead ? t->head[c] : 0; off; off = r.prev) {
        int kind = xy__trail_read(t, off, &r);
        if (!kind) break;
        xy_event ev;
        char id[256];
        if (kind == TRAIL_EVENT && r.aux == seq && read_event(lr, r.log_off, c, &ev, id, NULL) == XY_OK) {
            xy__db_note_event_id(db, seq, id, strlen(id));
            break;
        }
    }
    v = xy__map_get(&db->hist_ids, seq);
    if (v) return db->hist_idbuf.data + *v;
    /* Without a usable trail: count events through the log. */
    db->history_fallbacks++;
    id_search q = {db, seq, 0};
    (void)xy__db_walk(db, NULL, find_id, &q, 0, SIZE_MAX, NULL, NULL, NULL, NULL, NULL);
    v = xy__map_get(&db->hist_ids, seq);
    return v ? db->hist_idbuf.data + *v : "?";
}

/* Reads citizen c's chain of history-index records into *items (the
 * caller frees it), in the order the engine is to take them (cmp_trail).
 * XY_ENOENT when the chain is damaged or does not start at the
 * registration. */
static int read_chain(const xy_trail *t, uint32_t c, trail_item **items, size_t *n)
{
    size_t cap = 0;
    *items = NULL;
    *n = 0;
    for (uint64_t off = c < t->nhead ? t->head[c] : 0; off;) {
        trail_item it;
        it.kind = xy__trail_read(t, off, &it.r);
        if (!it.kind) return XY_ENOENT;
        XY_PUSH(*items, *n, cap, it);
        off = it.r.prev;
    }
    /* The chain runs newest first and must start with the registration. */
    if (*n == 0 || (*items)[*n - 1].kind != TRAIL_REG) return XY_ENOENT;
    qsort(*items, *n, sizeof **items, cmp_trail);
    return XY_OK;
}

/* Applies to e the events of the chain, read from the log, each on its
 * day, noting each one's id and counterpart for the explanation. */
static int rerun_events(xy_db *db, xy_engine *e, logrd *lr, uint32_t c, const trail_item *items, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (items[i].kind != TRAIL_EVENT) continue;
        xy_event ev;
        char id[256];
        uint32_t cp;
        if (read_event(lr, items[i].r.log_off, c, &ev, id, &cp)) return XY_ENOENT;
        xy__db_note_event_id(db, items[i].r.aux, id, strlen(id));
        if (cp != XY_NONE) {
            int is_new;
            *xy__map_put(&db->hist_cp, items[i].r.aux, &is_new) = cp;
        }
        ev.seq = items[i].r.aux;
        (void)xy_engine_advance(e, items[i].r.day);
        xy_engine_apply(e, &ev, 1);
    }
    return XY_OK;
}

int xy__db_trail_history(xy_db *db, uint32_t c, xy_hist_fn *fn, void *ctx, xy_engine **out)
{
    xy__db_settle(db);
    const xy_engine *main_e = db->engine;
    const xy_trail *t = &db->trail;
    if (t->broken || c >= main_e->n) return XY_ENOENT;
    trail_item *items = NULL;
    size_t n = 0;
    xy_inj *inj = NULL;
    size_t ninj = 0, cap_inj = 0;
    logrd *lr = NULL;
    xy_engine *e = NULL;
    int rc = read_chain(t, c, &items, &n);
    if (rc) goto done;
    for (size_t i = 0; i < n; i++)
        if (items[i].kind == TRAIL_ASSOC) XY_PUSH(inj, ninj, cap_inj, ((xy_inj){items[i].r.day, 0, (int)items[i].r.aux}));
    lr = log_reader(db);
    if (!lr) {
        rc = XY_ENOENT;
        goto done;
    }
    xy_engine_new(db->rules, &e);
    xy__engine_set_history(e, fn, ctx, 0);
    /* The clock as it was: its first day, then the registration. The days
     * come from the history index; should one be damaged, an advance it
     * makes fail leaves a state that the comparison at the end finds
     * different from the writer's, so the statuses need no look here. */
    xy_day reg = items[0].r.day;
    if (reg != XY_DAY_NONE) {
        (void)xy_engine_advance(e, main_e->first_day);
        (void)xy_engine_advance(e, reg);
    }
    uint32_t idx;
    for (size_t i = 1; i < n; i++)
        if (items[i].kind == TRAIL_EVENT) logrd_ask(lr, items[i].r.log_off);
    if (xy_engine_add_citizen(e, main_e->ids[c], main_e->st[c].city, XY_NONE, XY_NONE, "", 0, &idx)) {
        rc = XY_ENOENT;
        goto done;
    }
    if (reg == XY_DAY_NONE && main_e->first_day != XY_DAY_NONE) (void)xy_engine_advance(e, main_e->first_day);
    xy__engine_inject_assoc(e, inj, ninj);
    rc = rerun_events(db, e, lr, c, items, n);
    if (rc) goto done;
    if (main_e->today != XY_DAY_NONE) (void)xy_engine_advance(e, main_e->today);
    /* Whatever ran must have come to the very same state. */
    xy_cstate a = e->st[0], b = main_e->st[c];
    a.flags &= (uint8_t)~CS_LISTED; /* bookkeeping of association, not state */
    b.flags &= (uint8_t)~CS_LISTED;
    if (memcmp(&a, &b, sizeof a) != 0) rc = XY_ENOENT;
done:
    if (rc) {
        xy_engine_free(e);
        e = NULL;
    } else {
        xy__engine_inject_assoc(e, NULL, 0);
    }
    xy__free(items);
    xy__free(inj);
    *out = e;
    return rc;
}
