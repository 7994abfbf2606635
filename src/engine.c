/* engine.c -- the scoring engine: registration, applying events, the clock
 * with day-start processing (expiries, association, list exits), and list
 * membership. It implements section 2 of the specification; docs/semantics.md
 * says the same in prose.
 *
 * The hot path (applying one event) touches one 32-byte state record and
 * one packed ID, allocates nothing, and consults the sparse maps only for
 * behaviours that need them (limits, terms). */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#include "date.h"

/* ------------------------------------------------------------- lifecycle */

_Static_assert(sizeof(xy_cstate) == 32, "the scoring state of a citizen is 32 bytes");
/* A calendar bucket holds one day only if nothing is scheduled further
 * ahead than the ring is long. */
_Static_assert(XY_MAX_DAYS < XY_HORIZON && XY_HORIZON < XY_RING, "rules may not schedule past the calendar ring");


int xy_engine_new(const xy_rules *rules, xy_engine **out)
{
    if (!rules || !out) return XY_EINVAL;
    xy_engine *e = xy__calloc(1, sizeof *e);
    e->rules = rules;
    e->today = XY_DAY_NONE;
    e->exits_pending = XY_DAY_NONE;
    e->first_day = XY_DAY_NONE;
    e->year_lo = 1;
    e->year_hi = 0;
    e->hist_only = XY_NONE;
    e->expiries.elem = sizeof(xy_expiry);
    e->expiries.per = XY_CAL_BLOCK / sizeof(xy_expiry);
    e->exits.elem = sizeof(uint32_t);
    e->exits.per = XY_CAL_BLOCK / sizeof(uint32_t);
    xy__map_init(&e->by_id, 1024);
    xy__buf_big(&e->names); /* about 10 bytes a citizen: a gigabyte at 100 million */
    e->assoc_on = xy__calloc((size_t)rules->ncities + 1, 1);
    *out = e;
    return XY_OK;
}

void xy_engine_free(xy_engine *e)
{
    if (!e) return;
    xy__big_free(e->ids, e->cap * sizeof *e->ids);
    xy__big_free(e->father, e->cap * sizeof *e->father);
    xy__big_free(e->mother, e->cap * sizeof *e->mother);
    xy__big_free(e->name_off, e->cap * sizeof *e->name_off);
    xy__buf_free(&e->names);
    xy__map_free(&e->by_id);
    xy__big_free(e->st, e->cap * sizeof *e->st);
    xy__fork_copy_free(&e->st_copy);
    xy__free(e->bl_list);
    xy__limits_free(&e->limits);
    xy__map_free(&e->term_reason);
    xy__map_free(&e->grade_entry);
    xy__map_free(&e->score_since);
    xy__map_free(&e->rise_day);
    xy__cal_free(&e->expiries);
    xy__cal_free(&e->exits);
    xy__free(e->hits_tmp);
    xy__free(e->delta);
    xy__free(e->delta_tmp);
    xy__free(e->radix_count);
    xy__free(e->bl_sorted);
    xy__free(e->edges);
    xy__map_free(&e->edge_set);
    xy__free(e->csr_off);
    xy__free(e->csr_adj);
    xy__free(e->hits);
    xy__free(e->assoc_on);
    xy__free(e);
}

void xy__engine_before_fork(xy_engine *e)
{
    e->st_child = xy__fork_copy_make(&e->st_copy, e->st, e->cap * sizeof *e->st, e->n * sizeof *e->st);
    xy__limits_before_fork(&e->limits);
}

void xy__engine_in_child(xy_engine *e)
{
    if (e->st_child) e->st = e->st_child;
    xy__limits_in_child(&e->limits);
}

void xy__engine_set_history(xy_engine *e, xy_hist_fn *fn, void *ctx, uint32_t only)
{
    e->hist = fn;
    e->hist_ctx = ctx;
    e->hist_only = only;
}

void xy__engine_set_assoc_sink(xy_engine *e, xy_assoc_fn *fn, void *ctx)
{
    e->on_assoc = fn;
    e->on_assoc_ctx = ctx;
}

void xy__engine_inject_assoc(xy_engine *e, const xy_inj *inj, size_t n)
{
    e->inj = inj;
    e->ninj = n;
    e->kinj = 0;
}

static inline int wants_history(const xy_engine *e, uint32_t c)
{
    return e->hist && (e->hist_only == XY_NONE || e->hist_only == c);
}

/* ------------------------------------------------------------- schedules */

xy_cblock *xy__cal_block(xy_calendar *cal, xy_bucket *b)
{
    xy_cblock *k = cal->free;
    if (k) {
        cal->free = k->next;
    } else {
        if (!cal->slabs || cal->carved == cal->per_slab) {
            uint32_t per = cal->slabs ? cal->per_slab * 2 : 1;
            if (per > XY_CAL_SLAB_MAX) per = XY_CAL_SLAB_MAX;
            size_t bytes = sizeof(xy_cslab) + (size_t)per * sizeof(xy_cblock);
            xy_cslab *sl = xy__big_realloc(NULL, 0, bytes);
            sl->next = cal->slabs;
            sl->bytes = bytes;
            cal->slabs = sl;
            cal->per_slab = per;
            cal->carved = 0;
        }
        k = &cal->slabs->blocks[cal->carved++];
    }
    k->next = NULL;
    k->n = 0;
    if (b->tail) b->tail->next = k;
    else b->head = k;
    b->tail = k;
    return k;
}

void xy__cal_init(xy_calendar *cal)
{
    cal->b = xy__sparse_alloc(XY_RING * sizeof *cal->b);
}

void xy__cal_keep(xy_calendar *cal, void *sec, size_t len)
{
    cal->kept = sec;
    cal->kept_len = len;
}

int xy__cal_adopt(xy_calendar *cal, uint32_t i, const void *items, uint32_t n)
{
    if (!cal->b) xy__cal_init(cal);
    xy_bucket *b = &cal->b[i];
    if (b->n) return -1;
    b->kept = items;
    b->nkept = b->n = n;
    cal->pending += n;
    return 0;
}

void xy__cal_emit(const xy_calendar *cal, uint32_t i, xy_emit_fn *emit, void *ctx)
{
    if (!cal->b) return;
    if (cal->b[i].nkept) emit(ctx, cal->b[i].kept, (size_t)cal->b[i].nkept * cal->elem);
    for (const xy_cblock *k = cal->b[i].head; k; k = k->next) emit(ctx, k->items, (size_t)k->n * cal->elem);
}

void xy__cal_clear(xy_calendar *cal, uint32_t i)
{
    xy_bucket *b = cal->b ? &cal->b[i] : NULL;
    if (!b || !b->n) return;
    if (b->head) {
        b->tail->next = cal->free;
        cal->free = b->head;
    }
    cal->pending -= b->n;
    *b = (xy_bucket){0};
}

static xy_bucket *cal_day(xy_calendar *cal, xy_day day)
{
    return cal->b ? &cal->b[(uint32_t)day & (XY_RING - 1)] : NULL;
}

void xy__cal_free(xy_calendar *cal)
{
    /* Through the list of slabs, not the ring: an engine that reruns one
     * citizen for an explanation schedules on a few days, and reading
     * all XY_RING buckets (1.5 MB, most of it never touched) to find them
     * faulted in every page of the ring, most of an explanation's time. */
    while (cal->slabs) {
        xy_cslab *sl = cal->slabs;
        cal->slabs = sl->next;
        xy__big_free(sl, sl->bytes);
    }
    xy__big_free(cal->kept, cal->kept_len);
    xy__sparse_free(cal->b, XY_RING * sizeof *cal->b);
}

static void exit_push(xy_engine *e, xy_day day, uint32_t citizen)
{
    *(uint32_t *)xy__cal_push(&e->exits, day) = citizen;
}

/* ---------------------------------------------------------------- lists */

static void emit_member(xy_engine *e, uint32_t c, int kind, int member, xy_day t,
                        const xy_event *ev)
{
    if (!wants_history(e, c)) return;
    xy_hist h = {0};
    h.kind = kind;
    h.citizen = c;
    h.day = t;
    h.member = member;
    h.behaviour = -1;
    if (ev) {
        h.ev = ev;
        h.event_seq = ev->seq;
        h.behaviour = ev->behaviour;
        h.until = e->st[c].term_end - 1;
    }
    h.score = xy__clamp(xy__citizen_city(e, c), e->st[c].raw);
    e->hist(e->hist_ctx, &h);
}

/* Follows the grade of a citizen: its entry day, and for consequences
 * with `for D days` on a set of grades, the day the set was entered. */
static void track_grades(xy_engine *e, uint32_t c, const xy_city *city, int64_t score, xy_day t)
{
    xy_cstate *s = &e->st[c];
    int og = s->grade == 255 ? -1 : s->grade, ng = xy__city_grade(city, score);
    if (og == ng) return;
    s->grade = (uint8_t)(ng < 0 ? 255 : ng);
    s->grade_since = t;
    for (int k = 0; k < city->ngrade_cons; k++) {
        const xy_consequence *q = &city->cons[city->grade_cons[k]];
        if (ng < 0 || !(q->grades >> ng & 1) || (og >= 0 && (q->grades >> og & 1))) continue;
        int is_new;
        *xy__map_put(&e->grade_entry, (uint64_t)c << 32 | (uint32_t)q->for_slot, &is_new) =
            (uint64_t)(uint32_t)t;
    }
}

xy_day xy__score_since(const xy_engine *e, uint32_t c)
{
    const uint64_t *v = xy__map_get(&e->score_since, c);
    return v ? (xy_day)(uint32_t)*v : XY_DAY_NONE;
}

xy_day xy__grade_entry(const xy_engine *e, uint32_t c, int slot)
{
    const uint64_t *v = xy__map_get(&e->grade_entry, (uint64_t)c << 32 | (uint32_t)slot);
    return v ? (xy_day)(uint32_t)*v : XY_DAY_NONE;
}

/* The rise day of a score member (see xy_engine.rise_day). */
static xy_day get_rise(const xy_engine *e, uint32_t c)
{
    const uint64_t *v = xy__map_get(&e->rise_day, c);
    return v ? (xy_day)(uint32_t)*v : XY_DAY_NONE;
}

static void set_rise(xy_engine *e, uint32_t c, xy_day d)
{
    int is_new;
    uint64_t *v = d == XY_DAY_NONE ? xy__map_get(&e->rise_day, c) : xy__map_put(&e->rise_day, c, &is_new);
    if (v) *v = (uint64_t)(uint32_t)d;
}

/* Whether a score change from a to b crosses a list threshold of the
 * city. When it does not, and no term changed, re-evaluating the lists
 * would change nothing. */
static inline int crosses(const xy_city *c, int64_t a, int64_t b)
{
    /* At most three thresholds: count, without branches, how many each
     * score reaches (absent ones are INT64_MAX, which none reaches). */
    const int64_t *m = c->mark3;
    int ba = (a >= m[0]) + (a >= m[1]) + (a >= m[2]);
    int bb = (b >= m[0]) + (b >= m[1]) + (b >= m[2]);
    return ba != bb;
}

/* Re-evaluates both lists and the grade of citizen c on day t, after its
 * score crossed a threshold, a term changed or a membership ended. */
static void relist(xy_engine *e, uint32_t c, xy_day t)
{
    xy_cstate *s = &e->st[c];
    const xy_city *city = &e->rules->cities[s->city];
    int64_t score = xy__clamp(city, s->raw);
    if (city->has_blacklist) {
        if (!(s->flags & CS_SCORE_MEMBER) && score < city->bl_below) {
            s->flags |= CS_SCORE_MEMBER;
            int is_new;
            *xy__map_put(&e->score_since, c, &is_new) = (uint64_t)(uint32_t)t;
            if (city->has_exit) set_rise(e, c, XY_DAY_NONE);
            emit_member(e, c, HIST_ENTER, MEMBER_BL_SCORE, t, NULL);
        }
        if ((s->flags & CS_SCORE_MEMBER) && city->has_exit) {
            if (score < city->bl_exit) {
                set_rise(e, c, XY_DAY_NONE);
            } else if (get_rise(e, c) == XY_DAY_NONE && t != XY_DAY_PENDING) {
                set_rise(e, c, t);
                exit_push(e, t + city->exit_days, c);
            }
        }
    }
    /* A term ends at the start of its end day, but like every list exit
     * it is carried out in step 3 of that day's day-start processing:
     * until then (expiries, association) it still holds, whether or not
     * something re-evaluates the lists before (docs/semantics.md, section
     * 1). */
    int term = s->term_end != XY_DAY_NONE && t != XY_DAY_PENDING &&
               (s->term_end > t || s->term_end == e->exits_pending);
    if (!term && (s->flags & CS_TERM)) {
        s->flags &= (uint8_t)~CS_TERM;
        emit_member(e, c, HIST_LEAVE, MEMBER_BL_TERM, t, NULL);
    }
    int on_bl = (s->flags & CS_SCORE_MEMBER) || term;
    if (on_bl != !!(s->flags & CS_ON_BL)) {
        if (on_bl) {
            s->flags |= CS_ON_BL;
            s->bl_since = t;
            e->bl_members++;
            if (!(s->flags & CS_LISTED)) {
                s->flags |= CS_LISTED;
                XY_PUSH(e->bl_list, e->bl_count, e->cap_bl, c);
            }
        } else {
            s->flags &= (uint8_t)~CS_ON_BL;
            e->bl_members--;
        }
    }
    int on_wl = city->has_whitelist && score >= city->wl_from && !on_bl;
    if (on_wl != !!(s->flags & CS_ON_WL)) {
        if (on_wl) {
            s->flags |= CS_ON_WL;
            s->wl_since = t;
            emit_member(e, c, HIST_ENTER, MEMBER_WL, t, NULL);
        } else {
            s->flags &= (uint8_t)~CS_ON_WL;
            emit_member(e, c, HIST_LEAVE, MEMBER_WL, t, NULL);
        }
    }
    if (city->ngrades) track_grades(e, c, city, score, t);
}

/* Adds points to a citizen's raw score, saturating far from any real
 * score (at +-(2^61 - 1)) so that a runaway input cannot wrap around; the
 * callers take what the sum kept as the contribution. */
static inline void add_points(xy_cstate *s, int64_t pts)
{
    const int64_t lim = INT64_MAX / 4;
    int64_t r = s->raw + pts;
    /* Both operands lie within lim + 1 of zero (a raw score within lim,
     * points saturated at INT64_MIN / 4 or INT64_MAX / 4, or the negation
     * of those), so the sum cannot wrap; one unsigned comparison tells
     * whether it left [-lim, lim], which almost no sum does. */
    if (XY_UNLIKELY((uint64_t)r + (uint64_t)lim > 2 * (uint64_t)lim)) r = r > 0 ? lim : -lim;
    s->raw = r;
}

/* Whether a score has left the band of the citizen's current grade. */
static inline int grade_moved(const xy_city *c, const xy_cstate *s, int64_t score)
{
    if (!c->ngrades) return 0;
    int g = s->grade == 255 ? -1 : s->grade;
    int64_t lo = g >= 0 ? c->grades[g].from : INT64_MIN;
    int64_t hi = g + 1 < c->ngrades ? c->grades[g + 1].from : INT64_MAX;
    return score < lo || score >= hi;
}

/* Whether a score change from old to score stays in the band of old's
 * grade and on old's side of the list threshold inside it: most changes
 * do, and then neither a grade nor a list can change. One band and at
 * most one threshold to look at, instead of every threshold and the grade
 * bounds. */
static inline int same_band(const xy_city *c, const xy_cstate *s, int64_t old, int64_t score)
{
    /* Grade 255 (none) wraps to band 0, the one below the lowest grade. */
    const xy_band *b = &c->bands[(uint8_t)(s->grade + 1)];
    int side = old >= b->mark;
    return score >= b->lo[side] && score < b->hi[side];
}

/* After c's raw score went from old to raw on day t: the lists if a list
 * threshold was crossed, else just the grade if it changed. The shortcut
 * looks at the raw scores, which spares clamping both in the common case:
 * when both lie on one side of a band (bounds and thresholds that the
 * scores are measured against), their clamped scores either lie there too
 * or are equal, since clamping is monotonic and moves a score only into
 * [min, max]; either way nothing changes. A raw score beyond the clamp
 * bounds can miss the shortcut where its clamped score would not, which
 * only costs the full test below. */
static inline void rescore(xy_engine *e, uint32_t c, const xy_city *city, int64_t old, int64_t raw, xy_day t)
{
    if (same_band(city, &e->st[c], old, raw)) return;
    int64_t from = xy__clamp(city, old), score = xy__clamp(city, raw);
    if (crosses(city, from, score)) relist(e, c, t);
    else if (grade_moved(city, &e->st[c], score)) track_grades(e, c, city, score, t);
}

/* Adds a day-start contribution (an expiry or an association adjustment)
 * to c's score on day t: tells the history hook, whose record h carries
 * the kind and its own fields (h is NULL when the hook does not want c:
 * the callers build it only when it does, since they run tens of millions
 * of times), and re-evaluates the lists when the score crossed a
 * threshold. */
static inline void contribute(xy_engine *e, uint32_t c, xy_day t, int64_t pts, xy_hist *h)
{
    xy_cstate *s = &e->st[c];
    const xy_city *city = &e->rules->cities[s->city];
    int64_t old = s->raw;
    add_points(s, pts);
    if (h) {
        h->citizen = c;
        h->day = t;
        h->points = s->raw - old; /* what a saturated sum kept */
        h->score = xy__clamp(city, s->raw);
        e->hist(e->hist_ctx, h);
    }
    rescore(e, c, city, old, s->raw, t);
}

/* ---------------------------------------------------------- registration */

/* Grows the per-citizen arrays, by doubling, to hold at least need. */
static void grow_citizens(xy_engine *e, size_t need)
{
    size_t cap = e->cap ? e->cap : 1024;
    while (cap < need) cap *= 2;
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    if (cap == e->cap) return;
    e->ids = xy__big_realloc(e->ids, e->cap * sizeof *e->ids, cap * sizeof *e->ids);
    e->father = xy__big_realloc(e->father, e->cap * sizeof *e->father, cap * sizeof *e->father);
    e->mother = xy__big_realloc(e->mother, e->cap * sizeof *e->mother, cap * sizeof *e->mother);
    e->name_off = xy__big_realloc(e->name_off, e->cap * sizeof *e->name_off, cap * sizeof *e->name_off);
    e->st = xy__big_realloc(e->st, e->cap * sizeof *e->st, cap * sizeof *e->st);
    e->cap = (uint32_t)cap;
}

typedef struct reserve_job {
    xy_engine *e;
    size_t need;
} reserve_job;

static void reserve_ids(void *arg)
{
    reserve_job *j = arg;
    xy__map_reserve(&j->e->by_id, j->need);
}

void xy__engine_reserve(xy_engine *e, size_t extra)
{
    size_t need = (size_t)e->n + extra;
    if (need > e->cap) grow_citizens(e, need);
    if (need > e->cap) need = e->cap; /* at the index limit */
    /* The ID index is made room for (its table populated at once, see
     * xy__map_init_slots) while a second thread faults in the per-citizen
     * arrays the new citizens will fill. */
    size_t k = need - e->n;
    reserve_job j = {e, (size_t)e->n + extra};
    if (k == 0) {
        reserve_ids(&j);
        return;
    }
    void *const p[5] = {&e->ids[e->n], &e->father[e->n], &e->mother[e->n], &e->name_off[e->n], &e->st[e->n]};
    const size_t n[5] = {k * sizeof *e->ids, k * sizeof *e->father, k * sizeof *e->mother, k * sizeof *e->name_off,
                         k * sizeof *e->st};
    xy__populate_beside(p, n, 5, reserve_ids, &j);
}

int xy_engine_add_citizen(xy_engine *e, xy_resid id, int city, uint32_t father,
                          uint32_t mother, const char *name, size_t name_len,
                          uint32_t *index)
{
    if (city < 0 || city >= e->rules->ncities) return XY_EINVAL;
    if ((father != XY_NONE && father >= e->n) || (mother != XY_NONE && mother >= e->n))
        return XY_EINVAL;
    if (e->n == UINT32_MAX - 1) return XY_ENOMEM;
    int is_new;
    uint64_t *slot = xy__map_put(&e->by_id, id, &is_new);
    if (!is_new) return XY_EEXIST;
    uint32_t c = e->n;
    /* The city rides along with the index: a load validating an event
     * then needs one lookup, not a second trip to the state. */
    *slot = (uint64_t)(uint16_t)city << 32 | c;
    if (c == e->cap) grow_citizens(e, (size_t)c + 1);
    e->n++;
    e->ids[c] = id;
    e->father[c] = father;
    e->mother[c] = mother;
    e->name_off[c] = e->names.len;
    if (name_len) xy__buf_append(&e->names, name, name_len); /* name may be NULL then */
    xy__buf_append(&e->names, "", 1);
    const xy_city *cy = &e->rules->cities[city];
    xy_cstate *s = &e->st[c];
    memset(s, 0, sizeof *s);
    s->raw = cy->base;
    s->bl_since = s->wl_since = s->term_end = s->grade_since = XY_DAY_NONE;
    s->birth = xy__birth(id);
    s->city = (uint16_t)city;
    s->grade = 255;
    relist(e, c, e->today == XY_DAY_NONE ? XY_DAY_PENDING : e->today);
    if (index) *index = c;
    return XY_OK;
}

int xy_engine_add_contact(xy_engine *e, uint32_t a, uint32_t b)
{
    if (a >= e->n || b >= e->n || a == b) return XY_EINVAL;
    if (a > b) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    uint64_t key = (uint64_t)a << 32 | b;
    int is_new;
    xy__map_put(&e->edge_set, key, &is_new);
    if (!is_new) return XY_EEXIST;
    XY_PUSH(e->edges, e->nedges, e->cap_edges, key);
    return XY_OK;
}

/* ----------------------------------------------------------- association */

void xy__engine_index_contacts(xy_engine *e)
{
    if (e->csr_edges == e->nedges && e->csr_n == e->n && e->csr_off) return;
    if (e->csr_edges == e->nedges && e->csr_off) {
        /* Only citizens were added: they have no contacts yet. */
        e->csr_off = xy__realloc(e->csr_off, ((size_t)e->n + 1) * sizeof *e->csr_off);
        for (uint32_t i = e->csr_n; i < e->n; i++) e->csr_off[i + 1] = e->csr_off[i];
        e->csr_n = e->n;
        return;
    }
    xy__free(e->csr_off);
    xy__free(e->csr_adj);
    e->csr_off = xy__calloc((size_t)e->n + 1, sizeof *e->csr_off);
    e->csr_adj = xy__malloc(2 * e->nedges * sizeof *e->csr_adj + 1);
    for (size_t i = 0; i < e->nedges; i++) {
        e->csr_off[(e->edges[i] >> 32) + 1]++;
        e->csr_off[(uint32_t)e->edges[i] + 1]++;
    }
    for (uint32_t i = 0; i < e->n; i++) e->csr_off[i + 1] += e->csr_off[i];
    uint64_t *fill = xy__malloc(((size_t)e->n + 1) * sizeof *fill);
    memcpy(fill, e->csr_off, ((size_t)e->n + 1) * sizeof *fill);
    for (size_t i = 0; i < e->nedges; i++) {
        uint32_t a = (uint32_t)(e->edges[i] >> 32), b = (uint32_t)e->edges[i];
        e->csr_adj[fill[a]++] = b;
        e->csr_adj[fill[b]++] = a;
    }
    xy__free(fill);
    e->csr_edges = e->nedges;
    e->csr_n = e->n;
}

/* Bits of a radix sort's digit: 4,096 buckets, whose counts stay in the
 * first-level cache. */
#define RADIX_MAX_BITS 12

/* Sorts n citizen indexes (all below limit) with an LSD radix sort of as
 * few passes as the indexes need (two for up to 16 million citizens),
 * alternating between a and tmp. Returns whichever holds the result. */
static uint32_t *radix_sort(uint32_t *a, uint32_t *tmp, size_t *count, size_t n, uint32_t limit)
{
    int bits = 1;
    while (bits < 32 && (limit - 1) >> bits) bits++;
    int passes = (bits + RADIX_MAX_BITS - 1) / RADIX_MAX_BITS;
    int digit = (bits + passes - 1) / passes;
    uint32_t mask = (1u << digit) - 1;
    for (int shift = 0; shift < bits; shift += digit) {
        memset(count, 0, ((size_t)mask + 2) * sizeof *count);
        for (size_t i = 0; i < n; i++) count[((a[i] >> shift) & mask) + 1]++;
        for (uint32_t k = 0; k <= mask; k++) count[k + 1] += count[k];
        for (size_t i = 0; i < n; i++) tmp[count[(a[i] >> shift) & mask]++] = a[i];
        uint32_t *t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

static inline xy_day floor_mod(xy_day t, xy_day m)
{
    xy_day r = t % m;
    return r < 0 ? r + m : r;
}

/* Scored on day t: at least the city's scoring age. */
static int scored_on(const xy_engine *e, uint32_t c, const xy_city *city, xy_day t)
{
    xy_day birth = e->st[c].birth;
    int64_t days = (int64_t)t - birth;
    if (days >= city->sure_days) return 1;
    if (days < city->short_days) return 0;
    return xy_age_on(birth, t) >= city->scoring_age;
}

/* Which cities have association on day t: on[k] for city k. */
static int assoc_cities(const xy_engine *e, xy_day t, uint8_t *on)
{
    int any = 0;
    for (int k = 0; k < e->rules->ncities; k++) {
        const xy_city *c = &e->rules->cities[k];
        on[k] = c->has_assoc && floor_mod(t, c->assoc_every) == 0;
        any |= on[k];
    }
    return any;
}

/* The association adjustment of citizen c on day t for n blacklisted
 * contacts, if its city has association that day (on, from assoc_cities)
 * and c is scored. */
static inline void assoc_one(xy_engine *e, uint32_t c, xy_day t, int n, const uint8_t *on)
{
    const xy_city *cc = xy__citizen_city(e, c);
    if (!on[e->st[c].city] || !scored_on(e, c, cc, t)) return;
    int64_t pts = cc->assoc_points * n;
    if (cc->assoc_max && pts < 0 && pts < cc->assoc_max) pts = cc->assoc_max;
    if (cc->assoc_max && pts > 0 && pts > cc->assoc_max) pts = cc->assoc_max;
    if (e->on_assoc) e->on_assoc(e->on_assoc_ctx, c, t, n);
    if (!wants_history(e, c)) {
        contribute(e, c, t, pts, NULL);
        return;
    }
    xy_hist h = {0};
    h.kind = HIST_ASSOC;
    h.contacts = n;
    h.behaviour = -1;
    contribute(e, c, t, pts, &h);
}

/* Association adjustments of day t (spec 2.7). Counts come from the list
 * state at the start of the step; then every adjustment is applied in
 * citizen order and lists follow the new scores. Cost is proportional to
 * the contacts of blacklisted citizens. */
/* Sorts a[0..n) in place (tmp: scratch of n). */
static void sort_in_place(uint32_t *a, uint32_t *tmp, size_t *count, size_t n, uint32_t limit)
{
    const uint32_t *r = radix_sort(a, tmp, count, n, limit);
    if (r != a) memcpy(a, r, n * sizeof *a);
}

/* Grows the pair of arrays *a and *b (capacity *cap, shared) to hold need. */
static void grow_pair(uint32_t **a, uint32_t **b, size_t *cap, size_t need)
{
    if (need <= *cap) return;
    size_t c = *cap;
    xy__grow((void **)a, cap, need, sizeof **a);
    xy__grow((void **)b, &c, need, sizeof **b);
}

/* Puts the contacts of citizen c among those that leave e->hits (gone,
 * kept in front of e->delta) or join it (added, behind). */
static void note_delta(xy_engine *e, uint32_t c, int gone, size_t *ngone, size_t *nadded)
{
    uint64_t from = e->csr_off[c], to = e->csr_off[c + 1];
    grow_pair(&e->delta, &e->delta_tmp, &e->cap_delta, *ngone + *nadded + (to - from));
    for (uint64_t x = from; x < to; x++) {
        if (!gone) {
            e->delta[*ngone + (*nadded)++] = e->csr_adj[x];
        } else {
            /* Each gone entry takes the place of the first added one,
             * which moves to the end. */
            if (*nadded) e->delta[*ngone + *nadded] = e->delta[*ngone];
            e->delta[(*ngone)++] = e->csr_adj[x];
        }
    }
}

/* Puts e->bl_list in index order, its first `ordered` entries being in
 * order already: the others (those listed since the last step, mostly a
 * few percent) are sorted on their own and merged in. */
static void order_blacklist(xy_engine *e, size_t ordered)
{
    if (e->bl_count > e->cap_bl_sorted) {
        e->cap_bl_sorted = e->bl_count;
        e->bl_sorted = xy__realloc(e->bl_sorted, e->cap_bl_sorted * sizeof *e->bl_sorted);
    }
    e->bl_sorted_n = e->bl_count;
    if (ordered == e->bl_count) return;
    uint32_t *tl = e->bl_list + ordered;
    size_t tail = e->bl_count - ordered;
    sort_in_place(tl, e->bl_sorted, e->radix_count, tail, e->n);
    if (!ordered) return;
    const uint32_t *a = e->bl_list, *b = tl, *ae = tl, *be = tl + tail;
    uint32_t *o = e->bl_sorted;
    while (a < ae && b < be) *o++ = *a <= *b ? *a++ : *b++;
    while (a < ae) *o++ = *a++;
    while (b < be) *o++ = *b++;
    uint32_t *old = e->bl_list;
    size_t cap = e->cap_bl;
    e->bl_list = e->bl_sorted;
    e->cap_bl = e->cap_bl_sorted;
    e->bl_sorted = old;
    e->cap_bl_sorted = cap;
}

/* Brings e->hits (sorted) up to date in one pass: out go the gone
 * contacts, in come the added ones (see note_delta). */
static void update_hits(xy_engine *e, size_t ngone, size_t nadded)
{
    uint32_t *g = e->delta, *ad = e->delta + ngone;
    sort_in_place(g, e->delta_tmp, e->radix_count, ngone, e->n);
    sort_in_place(ad, e->delta_tmp, e->radix_count, nadded, e->n);
    /* Room even if the gone ones were not all found (which panics). */
    grow_pair(&e->hits, &e->hits_tmp, &e->cap_hits, e->nhits + nadded);
    const uint32_t *old = e->hits;
    uint32_t *out = e->hits_tmp;
    size_t i = 0, gi = 0, ai = 0, nh = 0;
    while (i < e->nhits || ai < nadded) {
        if (ai == nadded || (i < e->nhits && old[i] <= ad[ai])) {
            uint32_t v = old[i++];
            if (gi < ngone && g[gi] == v) gi++;
            else out[nh++] = v;
        } else {
            out[nh++] = ad[ai++];
        }
    }
    if (gi != ngone) xy_panic("association: the contacts of a citizen who left were not among the kept ones");
    e->hits_tmp = e->hits;
    e->hits = out;
    e->nhits = nh;
}

/* Gathers the contacts of every blacklisted citizen into e->hits, sorted. */
static void gather_hits(xy_engine *e)
{
    size_t nh = 0;
    for (size_t k = 0; k < e->bl_count; k++) {
        uint32_t b = e->bl_list[k];
        if (k + 16 < e->bl_count) XY_PREFETCH(&e->csr_off[e->bl_list[k + 16]]);
        uint64_t from = e->csr_off[b], to = e->csr_off[b + 1];
        grow_pair(&e->hits, &e->hits_tmp, &e->cap_hits, nh + (to - from));
        /* Most lists are a few entries: a loop, not a call to memcpy. */
        for (uint64_t a = from; a < to; a++) e->hits[nh++] = e->csr_adj[a];
    }
    sort_in_place(e->hits, e->hits_tmp, e->radix_count, nh, e->n);
    e->nhits = nh;
}

static void associate(xy_engine *e, xy_day t)
{
    uint8_t *on = e->assoc_on;
    int any = assoc_cities(e, t, on);
    if (e->inj) {
        while (e->kinj < e->ninj && e->inj[e->kinj].day <= t) {
            const xy_inj *x = &e->inj[e->kinj++];
            if (x->day == t && x->citizen < e->n) assoc_one(e, x->citizen, t, x->n, on);
        }
        return;
    }
    if (!any || e->bl_members == 0 || e->nedges == 0) return;
    xy__engine_index_contacts(e);
    if (!e->radix_count) e->radix_count = xy__malloc(((1u << RADIX_MAX_BITS) + 1) * sizeof *e->radix_count);
    /* The contacts of the blacklisted, sorted (e->hits), are kept from one
     * step to the next: most of the list stays, so they are brought up to
     * date with the contacts of those who left (k below bl_sorted_n and off
     * the list now) and of those listed since (k from bl_sorted_n on, still
     * on it) instead of being gathered and sorted whole again. New contacts
     * since (a rebuilt contact index) start them afresh. */
    int update = e->hits_valid && e->hits_edges == e->csr_edges;
    size_t ngone = 0, nadded = 0;
    /* Drop those who left the blacklist since the last step, counting how
     * many of the ordered ones stay (dropping keeps the order). */
    size_t kept = 0, ordered = 0;
    for (size_t k = 0; k < e->bl_count; k++) {
        uint32_t c = e->bl_list[k];
        if (k + 16 < e->bl_count) XY_PREFETCH(&e->st[e->bl_list[k + 16]]);
        int stays = !!(e->st[c].flags & CS_ON_BL), was = k < e->bl_sorted_n;
        if (stays) {
            e->bl_list[kept++] = c;
            ordered += was;
        } else {
            e->st[c].flags &= (uint8_t)~CS_LISTED;
        }
        if (update && stays != was) note_delta(e, c, was, &ngone, &nadded);
    }
    e->bl_count = kept;
    /* The blacklisted in index order, so that their contact lists are read
     * front to back; then their contacts in index order, so that the state
     * of each is read once, in order. Either way, the same sorted lists. */
    order_blacklist(e, ordered);
    if (!update) gather_hits(e);
    else if (ngone + nadded) update_hits(e, ngone, nadded);
    e->hits_valid = 1;
    e->hits_edges = e->csr_edges;
    const uint32_t *hits = e->hits;
    size_t nh = e->nhits;
    for (size_t i = 0; i < nh;) {
        if (i + 32 < nh) XY_PREFETCH_W(&e->st[hits[i + 32]]);
        uint32_t c = hits[i];
        size_t j = i;
        while (j < nh && hits[j] == c) j++;
        assoc_one(e, c, t, (int)(j - i), on);
        i = j;
    }
}

/* ----------------------------------------------------------------- clock */

static xy_day next_assoc_day(const xy_engine *e, xy_day after)
{
    xy_day best = INT32_MAX;
    if (e->inj) {
        for (size_t k = e->kinj; k < e->ninj; k++)
            if (e->inj[k].day > after) return e->inj[k].day;
        return best;
    }
    if (e->bl_members == 0) return best;
    for (int k = 0; k < e->rules->ncities; k++) {
        const xy_city *c = &e->rules->cities[k];
        if (!c->has_assoc) continue;
        xy_day m = floor_mod(after + 1, c->assoc_every);
        xy_day d = after + 1 + (m ? c->assoc_every - m : 0);
        if (d < best) best = d;
    }
    return best;
}

/* Day t's expiries x[0, n). */
static void expire(xy_engine *e, xy_day t, const xy_expiry *x, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (i + 16 < n) XY_PREFETCH_W(&e->st[x[i + 16].citizen]);
        if (!wants_history(e, x[i].citizen)) {
            contribute(e, x[i].citizen, t, x[i].points, NULL);
            continue;
        }
        xy_hist h = {0};
        h.kind = HIST_EXPIRY;
        h.event_seq = x[i].event_seq;
        h.behaviour = x[i].behaviour;
        contribute(e, x[i].citizen, t, x[i].points, &h);
    }
}

/* Day t's list exits: the citizens x[0, n) checked again. */
static void recheck(xy_engine *e, xy_day t, const uint32_t *x, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = x[i];
        xy_cstate *s = &e->st[c];
        const xy_city *city = &e->rules->cities[s->city];
        xy_day rise = (s->flags & CS_SCORE_MEMBER) && city->has_exit ? get_rise(e, c) : XY_DAY_NONE;
        if (rise != XY_DAY_NONE && rise + city->exit_days == t) {
            s->flags &= (uint8_t)~CS_SCORE_MEMBER;
            emit_member(e, c, HIST_LEAVE, MEMBER_BL_SCORE, t, NULL);
        }
        relist(e, c, t);
    }
}

static void day_start(xy_engine *e, xy_day t)
{
    e->today = t;
    e->exits_pending = t;
    uint32_t slot = (uint32_t)t & (XY_RING - 1);
    xy_bucket *b = cal_day(&e->expiries, t);
    if (b && b->nkept) expire(e, t, (const xy_expiry *)(const void *)b->kept, b->nkept);
    for (const xy_cblock *k = b ? b->head : NULL; k; k = k->next)
        expire(e, t, (const xy_expiry *)(const void *)k->items, k->n);
    xy__cal_clear(&e->expiries, slot);
    associate(e, t);
    e->exits_pending = XY_DAY_NONE;
    /* Relisting here never schedules for day t itself (exits lie at least
     * a day ahead), so the bucket is stable while it is read. */
    b = cal_day(&e->exits, t);
    if (b && b->nkept) recheck(e, t, (const uint32_t *)(const void *)b->kept, b->nkept);
    for (const xy_cblock *k = b ? b->head : NULL; k; k = k->next)
        recheck(e, t, (const uint32_t *)(const void *)k->items, k->n);
    xy__cal_clear(&e->exits, slot);
}

static int has_work(const xy_engine *e, xy_day t)
{
    const xy_bucket *x = e->expiries.b ? &e->expiries.b[(uint32_t)t & (XY_RING - 1)] : NULL;
    const xy_bucket *y = e->exits.b ? &e->exits.b[(uint32_t)t & (XY_RING - 1)] : NULL;
    return (x && x->n) || (y && y->n);
}

int xy_engine_advance(xy_engine *e, xy_day d)
{
    if (!xy_day_valid(d)) return XY_EINVAL;
    if (e->today == XY_DAY_NONE) {
        e->today = e->first_day = d;
        return XY_OK;
    }
    if (d < e->today) return XY_ECLOCK;
    /* Visit only days with work: scheduled items (found by stepping through
     * the calendar while anything is pending, which touches each day at
     * most once) and association days. */
    xy_day t = e->today;
    while (t < d) {
        xy_day next = next_assoc_day(e, t);
        if (e->expiries.pending || e->exits.pending) {
            xy_day stop = next < d ? next : d;
            xy_day u = t + 1;
            while (u < stop && !has_work(e, u)) u++;
            if (u < next) next = u;
        }
        if (next > d) break;
        day_start(e, next);
        t = next;
    }
    e->today = d;
    return XY_OK;
}

/* ---------------------------------------------------------------- events */

/* The calendar year of a day, remembering the last year asked for:
 * events come in date order, so this is almost never a computation. */
static void year_set(xy_engine *e, xy_day d)
{
    int y = xy_day_year(d);
    e->year = y;
    e->year_lo = xy__day_from_civil(y, 1, 1);
    e->year_hi = xy__day_from_civil(y, 12, 31);
}

static inline int year_of(xy_engine *e, xy_day d)
{
    if (d < e->year_lo || d > e->year_hi) year_set(e, d);
    return e->year;
}

static void bad_event(const xy_engine *e, const xy_event *ev) __attribute__((noreturn, cold, noinline));
static void bad_event(const xy_engine *e, const xy_event *ev)
{
    xy_panic("xy_engine_apply: event %llu names citizen %u of %u on day %d: not a citizen or date the engine "
             "can have", (unsigned long long)ev->seq, ev->citizen, e->n, ev->date);
}

/* The points event ev earns under behaviour b on day t, and why they differ from
 * the behaviour's own (*note; *mult, the amount's multiple): none for a
 * report older than its behaviour's expiry or past its yearly limit
 * (which this counts), scaled by amount, capped. */
static inline __attribute__((always_inline)) int64_t event_points(xy_engine *e, const xy_behaviour *b,
                                                                 const xy_event *ev, xy_day t, uint64_t hash,
                                                                 int *note, int64_t *mult)
{
    /* One comparison, not a branch on whether the behaviour expires at
     * all, which a mix of behaviours mispredicts often (xy_behaviour.
     * stale_after). The event is no later than the clock. */
    if ((uint32_t)(t - ev->date) >= b->stale_after) {
        *note = NOTE_EXPIRED;
        return 0;
    }
    if (b->limit && !xy__limits_take_hashed(&e->limits, year_of(e, ev->date), ev->citizen, ev->behaviour, hash, b->limit)) {
        *note = NOTE_LIMIT;
        return 0;
    }
    int64_t pts = b->points;
    if (b->per) {
        *mult = ev->amount > 0 ? ev->amount / b->per : 0;
        if (*mult < 1) *mult = 1;
        if (*mult > 1) {
            *note = NOTE_SCALED;
            if (__builtin_mul_overflow(pts, *mult, &pts)) pts = b->points < 0 ? INT64_MIN / 4 : INT64_MAX / 4;
        }
    }
    if (b->cap && (pts > b->cap || pts < -b->cap)) {
        pts = pts < 0 ? -b->cap : b->cap;
        *note = NOTE_CAPPED;
    }
    return pts;
}

/* Puts the citizen of ev (state s) on the blacklist for b's term from day
 * t, or extends a running term that would end sooner. */
static inline __attribute__((always_inline)) void start_term(xy_engine *e, xy_cstate *s, const xy_behaviour *b,
                                                             const xy_event *ev, xy_day t)
{
    uint32_t c = ev->citizen;
    xy_day end = t + b->term;
    if (s->term_end == XY_DAY_NONE || end > s->term_end) {
        /* The reason is the event that started the running term; later
         * events only extend it (the history records them). */
        if (!(s->flags & CS_TERM)) {
            int is_new;
            *xy__map_put(&e->term_reason, c, &is_new) =
                (uint64_t)(uint32_t)ev->behaviour << 40 | (ev->seq & ((1ULL << 40) - 1));
        }
        s->term_end = end;
        s->flags |= CS_TERM;
        exit_push(e, end, c);
        emit_member(e, c, HIST_ENTER, MEMBER_BL_TERM, t, ev);
    }
}

/* Applies one event. Inlined into two loops, one for an engine with a
 * history hook (hist 1) and one without, so that the common case does not
 * ask each event whether someone wants its history. */
static inline __attribute__((always_inline)) void apply_one(xy_engine *e, const xy_event *ev, uint64_t hash,
                                                            int hist)
{
    /* A clock not yet set (XY_DAY_NONE) is below every valid date. A date
     * the advance refuses (past 9999-12-31) breaks the caller's promise
     * (xy_engine_apply), as a citizen out of range does (apply_run). */
    if (XY_UNLIKELY(ev->date > e->today) && xy_engine_advance(e, ev->date) != XY_OK) bad_event(e, ev);
    xy_day t = e->today;
    uint32_t c = ev->citizen;
    xy_cstate *s = &e->st[c];
    const xy_city *city = &e->rules->cities[s->city];
    const xy_behaviour *b = xy__city_behaviour(e->rules, city, ev->behaviour);
    if (!b) xy_panic("event for a behaviour city %s does not define", city->id);
    int note = NOTE_NONE;
    int64_t pts = 0, mult = 1;
    if (!scored_on(e, c, city, ev->date)) {
        note = NOTE_UNDER_AGE;
        goto record; /* no points, no term, no limit count */
    }
    pts = event_points(e, b, ev, t, hash, &note, &mult);
    xy_day expiry = ev->date + b->expires;
    int64_t old = s->raw;
    if (pts) {
        add_points(s, pts);
        /* A sum that saturated kept less: the expiry takes back, and the
         * explanation shows, what was added. */
        pts = s->raw - old;
        if (b->expires && pts) {
            xy_expiry *x = xy__cal_push(&e->expiries, expiry);
            *x = (xy_expiry){c, ev->behaviour, -pts, ev->seq};
        }
    }
    if (b->term) start_term(e, s, b, ev, t);
record:
    if (hist && wants_history(e, c)) {
        xy_hist h = {0};
        h.kind = HIST_EVENT;
        h.citizen = c;
        h.day = t;
        h.ev = ev;
        h.event_seq = ev->seq;
        h.behaviour = ev->behaviour;
        h.points = pts;
        h.note = note;
        h.multiplier = mult;
        h.score = xy__clamp(city, s->raw);
        e->hist(e->hist_ctx, &h);
    }
    if (note == NOTE_UNDER_AGE) return;
    if (b->term) relist(e, c, t);
    else rescore(e, c, city, old, s->raw, t);
}

/* The event loop: fetches each event's state AHEAD events before it is
 * applied. */
static inline __attribute__((always_inline)) void apply_run(xy_engine *e, const xy_event *events, size_t n,
                                                            int hist)
{
    /* The state of a citizen is a cache miss at population scale; fetching
     * a few events ahead overlaps those misses without changing the order
     * in which events are applied. */
#ifndef XY_APPLY_AHEAD
#define XY_APPLY_AHEAD 32 /* tunable at build time for experiments (docs/performance-log.md) */
#endif
    enum { AHEAD = XY_APPLY_AHEAD };
    const uint8_t *ahead = e->rules->ahead;
    /* ring[i % AHEAD] holds the hash of event i's yearly count key
     * (xy__limits_hash), worked out when its slot was fetched, until the
     * event is applied. */
    uint64_t ring[AHEAD];
    for (size_t i = 0; i < n && i < AHEAD; i++) ring[i] = xy__limits_hash(events[i].citizen, events[i].behaviour);
    /* No event registers a citizen: the count holds for the run, and in a
     * local the compiler need not read it again after every store. */
    const uint32_t ncitizens = e->n;
    for (size_t i = 0; i < n; i++) {
        /* What the caller promised (xy_engine_apply): a citizen the engine
         * has. A broken promise would write outside the state, so it stops
         * the program; a branch that is never taken. */
        if (XY_UNLIKELY(events[i].citizen >= ncitizens)) bad_event(e, &events[i]);
        uint64_t now = ring[i % AHEAD];
        if (i + AHEAD < n) {
            const xy_event *f = &events[i + AHEAD];
            /* The events themselves, further ahead: read in order, they
             * should be the hardware's to fetch, but with the fetches
             * above in flight it fell behind (the typical mix at 10
             * million citizens ran a fifth faster with this;
             * docs/performance-log.md). */
            if (i + 4 * AHEAD < n) XY_PREFETCH_L1(&events[i + 4 * AHEAD]);
            XY_PREFETCH_W(&e->st[f->citizen]);
            /* The slot of the yearly count, for a behaviour with a limit
             * in some city, and of the term's reason, for one that lists:
             * their keys do not depend on the citizen's state, so the
             * misses overlap. The count's slot is worked out for every
             * event and swapped for an address in the cache when the
             * behaviour has no limit: in a mix of behaviours a branch on
             * it was mispredicted every other event. */
            uint64_t next = xy__limits_hash(f->citizen, f->behaviour);
            uint8_t a = ahead[f->behaviour];
            const void *slot = xy__limits_first(&e->limits, year_of(e, f->date), next);
            XY_PREFETCH_W((a & XY_AHEAD_LIMIT) ? slot : (const void *)&e->limits);
            if (a & XY_AHEAD_TERM) xy__map_prefetch(&e->term_reason, f->citizen);
            ring[i % AHEAD] = next;
        }
        apply_one(e, &events[i], now, hist);
    }
}

int xy_engine_apply(xy_engine *e, const xy_event *events, size_t n)
{
    /* A first year of yearly counts is sized for half the citizens (see
     * xy_limits.guess): a function of the log's position, like the rest
     * of the state, so a replay makes the same table. */
    e->limits.guess = e->n / 2;
    e->applied += n;
    if (e->hist) apply_run(e, events, n, 1);
    else apply_run(e, events, n, 0);
    return XY_OK;
}

/* --------------------------------------------------------------- queries */

xy_day xy_engine_today(const xy_engine *e)
{
    xy__engine_current(e);
    return e->today;
}

uint32_t xy_engine_citizen_count(const xy_engine *e)
{
    xy__engine_current(e);
    return e->n;
}

uint32_t xy_engine_find(const xy_engine *e, xy_resid id)
{
    xy__engine_current(e);
    const uint64_t *v = xy__map_get(&e->by_id, id);
    return v ? (uint32_t)*v : XY_NONE;
}

uint32_t xy__engine_find_city(const xy_engine *e, xy_resid id, int *city)
{
    const uint64_t *v = xy__map_get(&e->by_id, id);
    if (!v) return XY_NONE;
    *city = (int)(*v >> 32);
    return (uint32_t)*v;
}

int64_t xy_engine_raw(const xy_engine *e, uint32_t c)
{
    xy__engine_current(e);
    return e->st[c].raw;
}

int64_t xy_engine_score(const xy_engine *e, uint32_t c)
{
    xy__engine_current(e);
    return xy__clamp(xy__citizen_city(e, c), e->st[c].raw);
}

int xy_engine_on_blacklist(const xy_engine *e, uint32_t c)
{
    xy__engine_current(e);
    return !!(e->st[c].flags & CS_ON_BL);
}

int xy_engine_on_whitelist(const xy_engine *e, uint32_t c)
{
    xy__engine_current(e);
    return !!(e->st[c].flags & CS_ON_WL);
}

size_t xy_engine_state_bytes(void) { return sizeof(xy_cstate); }
