/* apply.c -- applying the records of the log to an engine: as a load or
 * an advance commits them, and when start-up replays the log. The same
 * code does both, which is what makes the state a function of the log.
 * Events go through in batches, their bookkeeping (checks, sequence
 * numbers, the history and event indexes) on the calling thread and, for
 * the writer's loads and replays, the engine on a thread of its own one
 * batch behind. */
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Events are decoded into a batch and the batch is then gone over twice:
 * once for the bookkeeping of each event (its number, the history index,
 * the event index) and once by the engine, after a check against the
 * rules (apply_checked). Each of those
 * touches a different place in memory per citizen; in one pass per record
 * they would be a chain of cache misses. The bookkeeping pass starts the
 * fetches a group ahead (see XY_FETCH_GROUP).
 *
 * A piped applier (loads and replays on the writer's own engine) runs the
 * engine on a thread of its own, one batch behind the bookkeeping: while
 * the engine applies batch k, the calling thread decodes and books batch
 * k + 1. The two share nothing they write: the bookkeeping reads of the
 * engine only the rules (the check of each event against its city's
 * rules is the engine thread's: apply_checked), and the association
 * records the engine makes for the history index are held (assoc) and
 * added to it by the calling thread once the batch is applied (settle). Anything else that changes the engine (registrations,
 * contacts, advances, the end of the range) first waits for the batch in
 * hand.
 *
 * The history index's records come out in an order that is a function of
 * the log alone, whichever path applies it (a load's commit, its parts
 * applied ahead, the append path, a replay, piped or not) and however a
 * replay's ranges fall (they end where the segment's check has got to):
 * so the trail a writer leaves is the one a reader's replay of the same
 * log makes, byte for byte, which lets the reader use the file instead of
 * building its own (trail.c), and the snapshot's copy of the heads is the
 * same from run to run. The history index orders a citizen's records when
 * it reads them (history.c), so any fixed order would do; this one is
 * what the piped applier makes at no cost: a batch's event records, then
 * the association records held until then (those of the batch before it,
 * and of an advance), then the engine applies the batch. Every applier
 * holds association records, piped or not, and adds them at the same
 * points: after a batch's bookkeeping (settle, before hand_over or
 * apply_here), before anything that is not an event, and at a commit
 * record, where the range of a load's commit or of the append path ends
 * (a replay waits there for the engine thread only when the batch can
 * have made association records: may_associate). A batch ends at
 * XY_APPLY_GROUP events, at every record that is not an event, at every
 * commit record and where a range ends; ranges end only at commits, but
 * for the parts of a load applied ahead of its commit, which go through
 * one applier (xy__applier_run) whose last batch stays open from one
 * part to the next. */
enum { BATCH = XY_APPLY_GROUP };

/* A group this small is applied on the calling thread rather than handed
 * to the engine thread: a log of many small batches (each commit ends a
 * group) would otherwise pay a hand-over for each. */
enum { SMALL_GROUP = 256 };

/* The association sink of an engine whose trail is being written. */
static void trail_assoc_sink(void *ctx, uint32_t c, xy_day t, int n)
{
    xy__trail_add(ctx, c, TRAIL_ASSOC, 0, (uint64_t)n, t);
}

typedef struct assoc_rec {
    uint32_t c;
    xy_day t;
    int n;
} assoc_rec;

struct xy_applier {
    xy_db *db;           /* owner of the index */
    uint64_t *seq;       /* the next event's seq, counted on */
    xy_trail *trail;     /* history index to extend, or NULL */
    uint64_t base;       /* log offset of the data being applied */
    xy_day clock;        /* the engine's clock once the queued events apply */
    int index;           /* events go into the event index (see apply_range) */
    int staged;          /* a load's or the append path's: checked against
                            the rules when staged (see apply_checked) */
    xy_engine *e;        /* engine being fed */
    size_t nevs;         /* events waiting to be applied together */
    xy_event *evs;       /* the events: one of evbuf */
    uint64_t *off;       /* the log offset of each one's record: the
                            matching one of offbuf */
    xy_day clk[BATCH];   /* the clock once each one applies */
    const unsigned char *rec[BATCH]; /* each one's record payload */
    xy_event evbuf[2][BATCH]; /* the batch being filled and (piped) the one
                                 the engine thread applies */
    uint64_t offbuf[2][BATCH];
    uint64_t bad_at;     /* with bad: the log offset of the event refused */
    /* Piped only (see above). */
    int piped;           /* the engine runs on the thread below */
    int started;         /* the thread runs */
    int no_thread;       /* none could be made: every group applies here */
    xy_day clock0;       /* the clock before the queued events apply */
    int assoc_due;       /* what was applied since the last settle may
                            have made association records */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* a batch was handed over or applied */
    const xy_event *job; /* the batch handed over, NULL when none */
    const uint64_t *job_off; /* its events' log offsets */
    size_t njob;         /* its events */
    int quit;            /* the thread is to end */
    atomic_int bad;      /* a batch held an event its rules do not allow */
    assoc_rec *assoc;    /* association records of the batch in hand */
    size_t nassoc, cap_assoc;
};
typedef struct xy_applier applier;

/* The association sink of a piped applier: the engine thread's records
 * wait for the calling thread (settle). */
static void held_assoc(void *ctx, uint32_t c, xy_day t, int n)
{
    applier *a = ctx;
    XY_PUSH(a->assoc, a->nassoc, a->cap_assoc, ((assoc_rec){c, t, n}));
}

/* Applies the n events at evs to a's engine, unless one of them is not
 * one its city's rules let its agency report (a log whose rules were
 * changed since it was written): checked here, just before the engine
 * reads each citizen's state, whose lines the check leaves in the cache,
 * rather than in the bookkeeping, which then reads nothing of the state
 * (a random read per event there was most of its time in a replay). Such
 * a batch is not applied, and a->bad is set. Events a load or the append
 * path staged were checked against the same rules before they were
 * written, and are not again. */
static void apply_checked(applier *a, const xy_event *evs, const uint64_t *off, size_t n)
{
    enum { AHEAD = 16 };
    const xy_engine *e = a->e;
    for (size_t j = 0; j < n && !a->staged; j++) {
        if (j + AHEAD < n) XY_PREFETCH_W(&e->st[evs[j + AHEAD].citizen]);
        if (xy_rules_may_report(e->rules, e->st[evs[j].citizen].city, evs[j].agency, evs[j].behaviour)) {
            /* The first refused: a batch handed over before the calling
             * thread learnt of this one may be refused too. */
            if (!atomic_load(&a->bad)) a->bad_at = off[j];
            atomic_store(&a->bad, 1);
            return;
        }
    }
    xy_engine_apply(a->e, evs, n);
}

/* The engine thread of a piped applier. */
static void *engine_thread(void *arg)
{
    applier *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->job && !a->quit) pthread_cond_wait(&a->cv, &a->mu);
        if (!a->job) break;
        const xy_event *job = a->job;
        const uint64_t *job_off = a->job_off;
        size_t n = a->njob;
        pthread_mutex_unlock(&a->mu);
        apply_checked(a, job, job_off, n);
        pthread_mutex_lock(&a->mu);
        a->job = NULL;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Waits until the batch in hand is applied, then adds its association
 * records to the history index. */
static void settle(applier *a)
{
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        while (a->job) pthread_cond_wait(&a->cv, &a->mu);
        pthread_mutex_unlock(&a->mu);
    }
    /* Also the records of what the calling thread applied (an advance, a
     * last batch). */
    for (size_t i = 0; i < a->nassoc; i++) trail_assoc_sink(a->trail, a->assoc[i].c, a->assoc[i].t, a->assoc[i].n);
    a->nassoc = 0;
    a->assoc_due = 0;
}

/* floor(d / m) for m > 0. */
static int64_t floor_div(int64_t d, int64_t m) { return d >= 0 ? d / m : -((-d + m - 1) / m); }

/* Whether moving the clock from day from to day to (from < to) passes an
 * association day of some city: a function of the rules alone, so the
 * calling thread can tell while the engine thread applies the events. */
static int may_associate(const xy_rules *r, xy_day from, xy_day to)
{
    for (int k = 0; k < r->ncities; k++) {
        const xy_city *c = &r->cities[k];
        if (c->has_assoc && floor_div(to, c->assoc_every) != floor_div(from, c->assoc_every)) return 1;
    }
    return 0;
}

/* Applies the n events of a->evs on the calling thread, after the group
 * in hand and the association records held before them. */
static void apply_here(applier *a, size_t n)
{
    settle(a);
    apply_checked(a, a->evs, a->off, n);
    a->assoc_due = 1;
}

/* Hands the n events of a->evs to the engine thread (started on the first
 * batch) and switches to the other buffer. */
static void hand_over(applier *a, size_t n)
{
    settle(a);
    if (!a->started) {
        pthread_mutex_init(&a->mu, NULL);
        pthread_cond_init(&a->cv, NULL);
        a->job = NULL;
        a->quit = 0;
        if (pthread_create(&a->th, NULL, engine_thread, a)) {
            /* No thread: apply here, now and from now on. */
            pthread_cond_destroy(&a->cv);
            pthread_mutex_destroy(&a->mu);
            a->no_thread = 1;
            apply_checked(a, a->evs, a->off, n);
            a->assoc_due = 1;
            return;
        }
        a->started = 1;
    }
    a->assoc_due = a->clock > a->clock0 && may_associate(a->e->rules, a->clock0, a->clock);
    pthread_mutex_lock(&a->mu);
    a->job = a->evs;
    a->job_off = a->off;
    a->njob = n;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    int other = a->evs == a->evbuf[0];
    a->evs = a->evbuf[other];
    a->off = a->offbuf[other];
}

/* Ends the engine thread of a piped applier (its batch applied). */
static void stop_engine_thread(applier *a)
{
    settle(a);
    if (!a->started) return;
    pthread_mutex_lock(&a->mu);
    a->quit = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->th, NULL);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    a->started = 0;
}

/* Starts fetching what the bookkeeping of queued events [from, to) will
 * touch, computing their event-index keys into a ring of two groups. The
 * bookkeeping only reads a citizen's state (its city), and a piped
 * applier's engine writes it on the other thread: a plain fetch, not one
 * with write intent. */
static void fetch_group(const applier *a, size_t from, size_t to, uint64_t *keys)
{
    for (size_t i = from; i < to; i++) {
        uint32_t c = a->evs[i].citizen;
        if (a->trail) xy__trail_prefetch(a->trail, c);
        if (a->index) {
            const unsigned char *p = a->rec[i];
            uint64_t *key = &keys[2 * (i % (2 * XY_FETCH_GROUP))];
            xy__evindex_key((const char *)p + 30, p[29], key);
            xy__evindex_prefetch(&a->db->evix, key);
        }
    }
}

/* The bookkeeping of the queued events, then the engine. last: no batch
 * follows before the engine is waited for (settle), so a piped applier
 * whose thread has not started applies it here rather than start one. */
static int flush_events(applier *a, int last)
{
    xy_db *db = a->db;
    size_t n = a->nevs;
    uint64_t keys[4 * XY_FETCH_GROUP];
    a->nevs = 0;
    for (size_t j = 0; j < n; j++) {
        size_t from, to;
        xy__fetch_window(j, n, &from, &to);
        fetch_group(a, from, to, keys);
        xy_event *ev = &a->evs[j];
        ev->seq = (*a->seq)++;
        if (a->trail) xy__trail_add(a->trail, ev->citizen, TRAIL_EVENT, a->off[j], ev->seq, a->clk[j]);
        const unsigned char *p = a->rec[j];
        if (db->hist_fn && ev->citizen == db->hist_index) xy__db_note_event_id(db, ev->seq, (const char *)p + 30, p[29]);
        if (a->index)
            xy__evindex_put(&db->evix, &keys[2 * (j % (2 * XY_FETCH_GROUP))], xy__event_content_hash(ev), ev->seq);
    }
    if (!n) return XY_OK;
    if (a->piped && (!last || a->started) && n >= SMALL_GROUP && !a->no_thread) hand_over(a, n);
    else apply_here(a, n);
    /* A piped applier learns of a bad batch a batch late; the caller's
     * whole range fails either way. */
    return atomic_load(&a->bad) ? XY_ECORRUPT : XY_OK;
}

/* flush_events, then (piped) waits for the engine: before anything else
 * changes it, and at the end. */
static int flush_settled(applier *a)
{
    int rc = flush_events(a, 1);
    settle(a);
    return rc || atomic_load(&a->bad) ? XY_ECORRUPT : XY_OK;
}

/* Says where a range stopped applying, for the caller's message: the
 * event the rules refused if that was why, else the record at log offset
 * at. Returns XY_ECORRUPT. */
static int refused(applier *a, uint64_t at)
{
    a->db->corrupt_at = atomic_load(&a->bad) ? a->bad_at : at;
    return XY_ECORRUPT;
}

/* Applies one record's payload (type byte first). Returns XY_ECORRUPT when
 * the payload does not decode. */
static int apply_record(applier *a, const unsigned char *p, uint32_t len, uint64_t off)
{
    xy_db *db = a->db;
    xy_engine *e = a->e;
    switch (p[0]) {
    case R_CITIZEN: {
        if (len < 23) return XY_ECORRUPT;
        uint32_t nlen = xy__get_u32(p + 19);
        if (23 + (uint64_t)nlen != len) return XY_ECORRUPT;
        if (flush_settled(a)) return XY_ECORRUPT;
        uint16_t city;
        memcpy(&city, p + 9, 2);
        uint32_t idx;
        xy_resid id = xy__get_u64(p + 1);
        /* The hook goes on first: registration itself may enter a list. */
        if (db->hist_fn && id == db->hist_resid) {
            db->hist_index = e->n;
            xy__engine_set_history(e, db->hist_fn, db->hist_ctx, e->n);
        }
        if (xy_engine_add_citizen(e, id, city, xy__get_u32(p + 11), xy__get_u32(p + 15),
                                  (const char *)p + 23, nlen, &idx))
            return XY_ECORRUPT;
        if (a->trail) xy__trail_add(a->trail, idx, TRAIL_REG, a->base + off, 0, e->today);
        return XY_OK;
    }
    case R_CONTACT:
        if (len != 9) return XY_ECORRUPT;
        if (flush_settled(a)) return XY_ECORRUPT;
        return xy_engine_add_contact(e, xy__get_u32(p + 1), xy__get_u32(p + 5)) == XY_EINVAL ? XY_ECORRUPT : XY_OK;
    case R_EVENT: {
        size_t k = a->nevs;
        xy_event *ev = &a->evs[k];
        if (xy__rec_read_event(p, len, ev)) return XY_ECORRUPT;
        if (ev->citizen >= e->n || (ev->counterpart != XY_NONE && ev->counterpart >= e->n) ||
            !xy_day_valid(ev->date))
            return XY_ECORRUPT;
        /* A clock not yet set starts at the first event, with no day
         * start (xy_engine_advance). */
        if (k == 0) a->clock0 = a->clock == XY_DAY_NONE ? ev->date : a->clock;
        if (ev->date > a->clock) a->clock = ev->date;
        a->off[k] = a->base + off;
        a->clk[k] = a->clock;
        a->rec[k] = p;
        return ++a->nevs == BATCH ? flush_events(a, 0) : XY_OK;
    }
    case R_ADVANCE:
        if (len != 5) return XY_ECORRUPT;
        if (flush_settled(a)) return XY_ECORRUPT;
        {
            xy_day d = (xy_day)xy__get_u32(p + 1);
            if (!xy_day_valid(d) || (e->today != XY_DAY_NONE && d < e->today)) return XY_ECORRUPT;
            (void)xy_engine_advance(e, d); /* d was checked above: it cannot fail */
            a->clock = e->today;
            a->assoc_due = 1;
        }
        return XY_OK;
    case R_COMMIT:
        /* A batch's association records go in before anything of the
         * next batch (see the top): the engine thread is waited for when
         * it may be making some. */
        if (len != 9 || flush_events(a, 0)) return XY_ECORRUPT;
        if (a->assoc_due) settle(a);
        return XY_OK;
    }
    return XY_ECORRUPT;
}

/* Bytes of the log fetched ahead of the records being read. A replay
 * reads a mapped segment from memory, in pages of 4 KB, across which the
 * hardware's own fetching does not carry on; a fetch a page ahead made
 * replays about 5 % faster (docs/performance-log.md). */
enum { LOG_AHEAD = 4096 };

/* Starts fetching the ID index slot of the record at data + off if it
 * registers a citizen, and the log LOG_AHEAD bytes on; returns the offset
 * of the next record. */
static size_t fetch_citizen(const xy_engine *e, const unsigned char *data, size_t off)
{
    XY_PREFETCH((const void *)((uintptr_t)(data + off) + LOG_AHEAD)); /* may lie past the end: only a hint */
    uint32_t len = xy__get_u32(data + off);
    if (data[off + 8] == R_CITIZEN && len >= 9) xy__engine_prefetch_citizen(e, xy__get_u64(data + off + 9));
    return off + 8 + len;
}

xy_applier *xy__applier_new(xy_db *db, xy_engine *e, int staged, int piped, xy_trail *trail)
{
    applier *a = xy__calloc(1, sizeof *a);
    a->db = db;
    a->trail = trail;
    a->clock = e->today;
    a->e = e;
    a->evs = a->evbuf[0];
    a->off = a->offbuf[0];
    /* Only the writer's engine, and not while it tells a history hook of
     * each step, which the calling thread's explanations read. */
    a->piped = piped && e == db->engine && !e->hist && !db->hist_fn;
    /* Events a load staged are in the event index already; an engine
     * rerun for an explanation has nothing to do with it; and readers
     * never load, so only the writer's replay fills it. */
    a->index = e == db->engine && !staged && db->mode == XY_WRITE;
    a->staged = staged;
    /* Held, piped or not (see the top). */
    xy__engine_set_assoc_sink(e, trail ? held_assoc : NULL, a);
    return a;
}

int xy__applier_run(xy_applier *a, const unsigned char *data, uint64_t base, size_t from, size_t end, uint64_t *seq)
{
    xy_engine *e = a->e;
    a->base = base;
    a->seq = seq;
    int rc = XY_OK;
    /* A second cursor runs a group of XY_FETCH_GROUP records in front: at
     * the start of each group it starts fetching the ID index slots of
     * the citizen records of the next group, together (flush_events
     * fetches for events). The framing of [from, end) has been checked. */
    size_t ahead = from, nrec = 0;
    for (int k = 0; k < XY_FETCH_GROUP && ahead < end; k++) ahead = fetch_citizen(e, data, ahead);
    int in_citizens = 0;
    for (size_t off = from; off < end; nrec++) {
        /* At the first of a run of citizen records (a citizens load, up
         * to its commit record), room for the whole run: the same log
         * makes the same reservations whether it is applied as it is
         * committed or replayed, so the tables come out the same. */
        int is_citizen = data[off + 8] == R_CITIZEN;
        if (is_citizen && !in_citizens) {
            size_t run = 0;
            for (size_t p = off; p < end && data[p + 8] == R_CITIZEN; p += 8 + xy__get_u32(data + p)) {
                XY_PREFETCH((const void *)((uintptr_t)(data + p) + LOG_AHEAD));
                run++;
            }
            if (flush_settled(a)) return refused(a, a->base + off);
            xy__engine_reserve(e, run);
        }
        in_citizens = is_citizen;
        if (nrec % XY_FETCH_GROUP == 0)
            for (int k = 0; k < XY_FETCH_GROUP && ahead < end; k++) ahead = fetch_citizen(e, data, ahead);
        uint32_t rlen = xy__get_u32(data + off);
        if (apply_record(a, data + off + 8, rlen, off)) return refused(a, a->base + off);
        off += 8 + rlen;
    }
    /* The group stays open for the next range unless its bookkeeping
     * reads the records (ids for the event index or a history hook),
     * which need not outlive this call. */
    if ((a->index || a->db->hist_fn) && flush_events(a, 0)) rc = refused(a, a->base + end);
    return rc;
}

/* Waits for the engine thread and lets go of the engine. */
static void applier_free(applier *a)
{
    stop_engine_thread(a);
    xy__engine_set_assoc_sink(a->e, NULL, NULL);
    xy__free(a->assoc);
    xy__free(a);
}

int xy__applier_end(xy_applier *a)
{
    int rc = flush_settled(a) ? refused(a, a->base) : XY_OK;
    applier_free(a);
    return rc;
}

void xy__applier_drop(xy_applier *a) { applier_free(a); }

int xy__apply_range(xy_db *db, xy_engine *e, const unsigned char *data, uint64_t base, size_t from, size_t end,
                    int staged, int piped, xy_trail *trail, uint64_t *seq)
{
    applier *a = xy__applier_new(db, e, staged, piped, trail);
    int rc = xy__applier_run(a, data, base, from, end, seq);
    if (rc) {
        xy__applier_drop(a);
        return rc;
    }
    return xy__applier_end(a);
}
