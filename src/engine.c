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

int xy_engine_new(const xy_rules *rules, xy_engine **out)
{
    if (!rules || !out) return XY_EINVAL;
    xy_engine *e = xy_calloc(1, sizeof *e);
    e->rules = rules;
    e->today = XY_DAY_NONE;
    e->first_day = XY_DAY_NONE;
    e->hist_only = XY_NONE;
    xy_map_init(&e->by_id, 1024);
    *out = e;
    return XY_OK;
}

void xy_engine_free(xy_engine *e)
{
    if (!e) return;
    xy_free(e->ids);
    xy_free(e->father);
    xy_free(e->mother);
    xy_free(e->name_off);
    xy_buf_free(&e->names);
    xy_map_free(&e->by_id);
    xy_free(e->st);
    xy_free(e->bl_bits);
    xy_map_free(&e->limits);
    xy_map_free(&e->term_reason);
    xy_map_free(&e->grade_entry);
    xy_free(e->exp);
    xy_free(e->exits);
    xy_free(e->edges);
    xy_map_free(&e->edge_set);
    xy_free(e->csr_off);
    xy_free(e->csr_adj);
    xy_free(e->hits);
    xy_free(e);
}

void xy__engine_set_history(xy_engine *e, xy_hist_fn *fn, void *ctx, uint32_t only)
{
    e->hist = fn;
    e->hist_ctx = ctx;
    e->hist_only = only;
}

static inline int wants_history(const xy_engine *e, uint32_t c)
{
    return e->hist && (e->hist_only == XY_NONE || e->hist_only == c);
}

/* ------------------------------------------------------------- schedules */

static int exp_less(const xy_expiry *a, const xy_expiry *b)
{
    return a->day != b->day ? a->day < b->day : a->order < b->order;
}

static void exp_push(xy_engine *e, xy_expiry x)
{
    if (e->nexp == e->cap_exp) xy_grow((void **)&e->exp, &e->cap_exp, e->nexp + 1, sizeof *e->exp);
    size_t i = e->nexp++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!exp_less(&x, &e->exp[p])) break;
        e->exp[i] = e->exp[p];
        i = p;
    }
    e->exp[i] = x;
}

static xy_expiry exp_pop(xy_engine *e)
{
    xy_expiry top = e->exp[0], last = e->exp[--e->nexp];
    size_t i = 0, n = e->nexp;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && exp_less(&e->exp[c + 1], &e->exp[c])) c++;
        if (!exp_less(&e->exp[c], &last)) break;
        e->exp[i] = e->exp[c];
        i = c;
    }
    if (n) e->exp[i] = last;
    return top;
}

static int exit_less(const xy_exit *a, const xy_exit *b)
{
    return a->day != b->day ? a->day < b->day : a->citizen < b->citizen;
}

static void exit_push(xy_engine *e, xy_day day, uint32_t citizen)
{
    xy_exit x = {day, citizen};
    if (e->nexits == e->cap_exits)
        xy_grow((void **)&e->exits, &e->cap_exits, e->nexits + 1, sizeof *e->exits);
    size_t i = e->nexits++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!exit_less(&x, &e->exits[p])) break;
        e->exits[i] = e->exits[p];
        i = p;
    }
    e->exits[i] = x;
}

static xy_exit exit_pop(xy_engine *e)
{
    xy_exit top = e->exits[0], last = e->exits[--e->nexits];
    size_t i = 0, n = e->nexits;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && exit_less(&e->exits[c + 1], &e->exits[c])) c++;
        if (!exit_less(&e->exits[c], &last)) break;
        e->exits[i] = e->exits[c];
        i = c;
    }
    if (n) e->exits[i] = last;
    return top;
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

static void track_grades(xy_engine *e, uint32_t c, const xy_city *city, int64_t old_score,
                         int64_t score, xy_day t)
{
    int og = xy__city_grade(city, old_score), ng = xy__city_grade(city, score);
    if (og == ng && old_score != INT64_MIN) return;
    for (int k = 0; k < city->ncons; k++) {
        const xy_consequence *q = &city->cons[k];
        if (q->for_slot < 0 || ng < 0 || !(q->grades >> ng & 1)) continue;
        if (old_score != INT64_MIN && og >= 0 && (q->grades >> og & 1)) continue;
        int is_new;
        *xy_map_put(&e->grade_entry, (uint64_t)c << 32 | (uint32_t)q->for_slot, &is_new) =
            (uint64_t)(uint32_t)t;
    }
}

xy_day xy__grade_entry(const xy_engine *e, uint32_t c, int slot)
{
    const uint64_t *v = xy_map_get(&e->grade_entry, (uint64_t)c << 32 | (uint32_t)slot);
    return v ? (xy_day)(uint32_t)*v : XY_DAY_NONE;
}

/* Re-evaluates both lists for citizen c on day t after its score went from
 * old_score (INT64_MIN at registration) to its current value, or after a
 * term or a membership changed. */
static void relist(xy_engine *e, uint32_t c, int64_t old_score, xy_day t)
{
    xy_cstate *s = &e->st[c];
    const xy_city *city = &e->rules->cities[s->city];
    int64_t score = xy__clamp(city, s->raw);
    if (city->has_blacklist) {
        if (!(s->flags & CS_SCORE_MEMBER) && score < city->bl_below) {
            s->flags |= CS_SCORE_MEMBER;
            s->score_since = t;
            s->rise_day = XY_DAY_NONE;
            emit_member(e, c, HIST_ENTER, MEMBER_BL_SCORE, t, NULL);
        }
        if ((s->flags & CS_SCORE_MEMBER) && city->has_exit) {
            if (score < city->bl_exit) {
                s->rise_day = XY_DAY_NONE;
            } else if (s->rise_day == XY_DAY_NONE && t != XY_DAY_PENDING) {
                s->rise_day = t;
                exit_push(e, t + city->exit_days, c);
            }
        }
    }
    int term = s->term_end != XY_DAY_NONE && t != XY_DAY_PENDING && s->term_end > t;
    if (!term && (s->flags & CS_TERM)) {
        s->flags &= (uint8_t)~CS_TERM;
        emit_member(e, c, HIST_LEAVE, MEMBER_BL_TERM, t, NULL);
    }
    int on_bl = (s->flags & CS_SCORE_MEMBER) || term;
    if (on_bl != !!(s->flags & CS_ON_BL)) {
        if (on_bl) {
            s->flags |= CS_ON_BL;
            s->bl_since = t;
            e->bl_bits[c >> 6] |= 1ULL << (c & 63);
            e->bl_count++;
        } else {
            s->flags &= (uint8_t)~CS_ON_BL;
            e->bl_bits[c >> 6] &= ~(1ULL << (c & 63));
            e->bl_count--;
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
    if (city->nfor_slots) track_grades(e, c, city, old_score, score, t);
}

/* Adds points to a citizen's raw score, saturating far from any real
 * score so that a runaway input cannot wrap around. */
static inline void add_points(xy_cstate *s, int64_t pts)
{
    const int64_t lim = INT64_MAX / 4;
    int64_t r = s->raw + pts;
    s->raw = r > lim ? lim : r < -lim ? -lim : r;
}

/* ---------------------------------------------------------- registration */

int xy_engine_add_citizen(xy_engine *e, xy_resid id, int city, uint32_t father,
                          uint32_t mother, const char *name, size_t name_len,
                          uint32_t *index)
{
    if (city < 0 || city >= e->rules->ncities) return XY_EINVAL;
    if ((father != XY_NONE && father >= e->n) || (mother != XY_NONE && mother >= e->n))
        return XY_EINVAL;
    if (e->n == UINT32_MAX - 1) return XY_ENOMEM;
    int is_new;
    uint64_t *slot = xy_map_put(&e->by_id, id, &is_new);
    if (!is_new) return XY_EEXIST;
    uint32_t c = e->n;
    *slot = c;
    if (c == e->cap) {
        uint32_t cap = e->cap ? e->cap * 2 : 1024;
        e->ids = xy_realloc(e->ids, cap * sizeof *e->ids);
        e->father = xy_realloc(e->father, cap * sizeof *e->father);
        e->mother = xy_realloc(e->mother, cap * sizeof *e->mother);
        e->name_off = xy_realloc(e->name_off, cap * sizeof *e->name_off);
        e->st = xy_realloc(e->st, cap * sizeof *e->st);
        e->bl_bits = xy_realloc(e->bl_bits, (cap / 64 + 1) * sizeof *e->bl_bits);
        memset(e->bl_bits + e->cap / 64, 0, (cap / 64 + 1 - e->cap / 64) * sizeof *e->bl_bits);
        e->cap = cap;
    }
    e->n++;
    e->ids[c] = id;
    e->father[c] = father;
    e->mother[c] = mother;
    e->name_off[c] = e->names.len;
    xy_buf_append(&e->names, name, name_len);
    xy_buf_append(&e->names, "", 1);
    const xy_city *cy = &e->rules->cities[city];
    xy_cstate *s = &e->st[c];
    memset(s, 0, sizeof *s);
    s->raw = cy->base;
    s->bl_since = s->wl_since = s->term_end = s->rise_day = s->score_since = XY_DAY_NONE;
    s->city = (uint16_t)city;
    relist(e, c, INT64_MIN, e->today == XY_DAY_NONE ? XY_DAY_PENDING : e->today);
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
    xy_map_put(&e->edge_set, key, &is_new);
    if (!is_new) return XY_EEXIST;
    XY_PUSH(e->edges, e->nedges, e->cap_edges, key);
    return XY_OK;
}

/* ----------------------------------------------------------- association */

static void build_csr(xy_engine *e)
{
    if (e->csr_edges == e->nedges && e->csr_n == e->n && e->csr_off) return;
    xy_free(e->csr_off);
    xy_free(e->csr_adj);
    e->csr_off = xy_calloc((size_t)e->n + 1, sizeof *e->csr_off);
    e->csr_adj = xy_malloc(2 * e->nedges * sizeof *e->csr_adj + 1);
    for (size_t i = 0; i < e->nedges; i++) {
        e->csr_off[(e->edges[i] >> 32) + 1]++;
        e->csr_off[(uint32_t)e->edges[i] + 1]++;
    }
    for (uint32_t i = 0; i < e->n; i++) e->csr_off[i + 1] += e->csr_off[i];
    uint64_t *fill = xy_malloc(((size_t)e->n + 1) * sizeof *fill);
    memcpy(fill, e->csr_off, ((size_t)e->n + 1) * sizeof *fill);
    for (size_t i = 0; i < e->nedges; i++) {
        uint32_t a = (uint32_t)(e->edges[i] >> 32), b = (uint32_t)e->edges[i];
        e->csr_adj[fill[a]++] = b;
        e->csr_adj[fill[b]++] = a;
    }
    xy_free(fill);
    e->csr_edges = e->nedges;
    e->csr_n = e->n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static inline xy_day floor_mod(xy_day t, xy_day m)
{
    xy_day r = t % m;
    return r < 0 ? r + m : r;
}

/* Scored on day t: at least the city's scoring age. */
static int scored_on(const xy_engine *e, uint32_t c, const xy_city *city, xy_day t)
{
    xy_day birth = xy_resid_birth(e->ids[c]);
    int64_t days = (int64_t)t - birth;
    if (days >= (int64_t)city->scoring_age * 366) return 1;
    if (days < (int64_t)city->scoring_age * 365) return 0;
    return xy_age_on(birth, t) >= city->scoring_age;
}

/* Association adjustments of day t (spec 2.7). Counts come from the list
 * state at the start of the step; then every adjustment is applied in
 * citizen order and lists follow the new scores. Cost is proportional to
 * the contacts of blacklisted citizens. */
static void associate(xy_engine *e, xy_day t)
{
    const xy_rules *r = e->rules;
    int any = 0;
    for (int k = 0; k < r->ncities; k++)
        if (r->cities[k].has_assoc && floor_mod(t, r->cities[k].assoc_every) == 0) any = 1;
    if (!any || e->bl_count == 0) return;
    build_csr(e);
    size_t nh = 0;
    for (size_t w = 0; w <= (size_t)(e->n - 1) / 64; w++) {
        uint64_t bits = e->bl_bits[w];
        while (bits) {
            uint32_t b = (uint32_t)(w * 64 + (unsigned)__builtin_ctzll(bits));
            bits &= bits - 1;
            for (uint64_t k = e->csr_off[b]; k < e->csr_off[b + 1]; k++) {
                uint32_t c = e->csr_adj[k];
                const xy_city *cc = xy__citizen_city(e, c);
                if (!cc->has_assoc || floor_mod(t, cc->assoc_every) != 0) continue;
                if (nh == e->cap_hits) xy_grow((void **)&e->hits, &e->cap_hits, nh + 1, sizeof *e->hits);
                e->hits[nh++] = c;
            }
        }
    }
    qsort(e->hits, nh, sizeof *e->hits, cmp_u32);
    for (size_t i = 0; i < nh;) {
        uint32_t c = e->hits[i];
        size_t j = i;
        while (j < nh && e->hits[j] == c) j++;
        int n = (int)(j - i);
        i = j;
        const xy_city *cc = xy__citizen_city(e, c);
        if (!scored_on(e, c, cc, t)) continue;
        int64_t pts = cc->assoc_points * n;
        if (cc->assoc_max && pts < 0 && pts < cc->assoc_max) pts = cc->assoc_max;
        if (cc->assoc_max && pts > 0 && pts > cc->assoc_max) pts = cc->assoc_max;
        xy_cstate *s = &e->st[c];
        int64_t old = xy__clamp(cc, s->raw);
        add_points(s, pts);
        if (wants_history(e, c)) {
            xy_hist h = {0};
            h.kind = HIST_ASSOC;
            h.citizen = c;
            h.day = t;
            h.points = pts;
            h.contacts = n;
            h.behaviour = -1;
            h.score = xy__clamp(cc, s->raw);
            e->hist(e->hist_ctx, &h);
        }
        relist(e, c, old, t);
    }
}

/* ----------------------------------------------------------------- clock */

static xy_day next_assoc_day(const xy_engine *e, xy_day after)
{
    xy_day best = INT32_MAX;
    if (e->bl_count == 0) return best;
    for (int k = 0; k < e->rules->ncities; k++) {
        const xy_city *c = &e->rules->cities[k];
        if (!c->has_assoc) continue;
        xy_day m = floor_mod(after + 1, c->assoc_every);
        xy_day d = after + 1 + (m ? c->assoc_every - m : 0);
        if (d < best) best = d;
    }
    return best;
}

static void day_start(xy_engine *e, xy_day t)
{
    e->today = t;
    while (e->nexp && e->exp[0].day == t) {
        xy_expiry x = exp_pop(e);
        xy_cstate *s = &e->st[x.citizen];
        const xy_city *city = &e->rules->cities[s->city];
        int64_t old = xy__clamp(city, s->raw);
        add_points(s, x.points);
        if (wants_history(e, x.citizen)) {
            xy_hist h = {0};
            h.kind = HIST_EXPIRY;
            h.citizen = x.citizen;
            h.day = t;
            h.event_seq = x.event_seq;
            h.behaviour = x.behaviour;
            h.points = x.points;
            h.score = xy__clamp(city, s->raw);
            e->hist(e->hist_ctx, &h);
        }
        relist(e, x.citizen, old, t);
    }
    associate(e, t);
    while (e->nexits && e->exits[0].day == t) {
        xy_exit x = exit_pop(e);
        xy_cstate *s = &e->st[x.citizen];
        const xy_city *city = &e->rules->cities[s->city];
        if ((s->flags & CS_SCORE_MEMBER) && city->has_exit && s->rise_day != XY_DAY_NONE &&
            s->rise_day + city->exit_days == t) {
            s->flags &= (uint8_t)~CS_SCORE_MEMBER;
            emit_member(e, x.citizen, HIST_LEAVE, MEMBER_BL_SCORE, t, NULL);
        }
        int64_t score = xy__clamp(city, s->raw);
        relist(e, x.citizen, score, t);
    }
}

int xy_engine_advance(xy_engine *e, xy_day d)
{
    if (d == XY_DAY_NONE || d == XY_DAY_PENDING) return XY_EINVAL;
    if (e->today == XY_DAY_NONE) {
        e->today = e->first_day = d;
        return XY_OK;
    }
    if (d < e->today) return XY_ECLOCK;
    /* Jump from one day with work to the next: cost follows the work, not
     * the number of days. */
    while (e->today < d) {
        xy_day next = next_assoc_day(e, e->today);
        if (e->nexp && e->exp[0].day < next) next = e->exp[0].day;
        if (e->nexits && e->exits[0].day < next) next = e->exits[0].day;
        if (next > d) break;
        day_start(e, next);
    }
    e->today = d;
    return XY_OK;
}

/* ---------------------------------------------------------------- events */

static void apply_one(xy_engine *e, const xy_event *ev)
{
    if (ev->date > e->today || e->today == XY_DAY_NONE) xy_engine_advance(e, ev->date);
    xy_day t = e->today;
    uint32_t c = ev->citizen;
    xy_cstate *s = &e->st[c];
    const xy_city *city = &e->rules->cities[s->city];
    const xy_behaviour *b = xy__city_behaviour(e->rules, city, ev->behaviour);
    if (!b) xy_panic("event for a behaviour city %s does not define", city->id);
    int note = NOTE_NONE;
    int64_t pts = 0, mult = 1;
    e->applied++;
    if (!scored_on(e, c, city, ev->date)) {
        note = NOTE_UNDER_AGE;
        goto record; /* no points, no term, no limit count */
    }
    xy_day expiry = b->expires ? ev->date + b->expires : XY_DAY_NONE;
    if (b->expires && expiry <= t) {
        note = NOTE_EXPIRED;
    } else if (b->limit) {
        int year = xy_day_year(ev->date);
        uint64_t key = (uint64_t)c << 32 | (uint64_t)(uint32_t)ev->behaviour << 14 |
                       (uint64_t)(year - 1000);
        int is_new;
        uint64_t *count = xy_map_put(&e->limits, key, &is_new);
        if (*count >= (uint64_t)b->limit) note = NOTE_LIMIT;
        else ++*count;
    }
    if (note == NOTE_NONE) {
        pts = b->points;
        if (b->per) {
            mult = ev->amount > 0 ? ev->amount / b->per : 0;
            if (mult < 1) mult = 1;
            if (mult > 1) {
                note = NOTE_SCALED;
                if (__builtin_mul_overflow(pts, mult, &pts)) pts = b->points < 0 ? INT64_MIN / 4 : INT64_MAX / 4;
            }
        }
        if (b->cap && (pts > b->cap || pts < -b->cap)) {
            pts = pts < 0 ? -b->cap : b->cap;
            note = NOTE_CAPPED;
        }
    }
    int64_t old = xy__clamp(city, s->raw);
    if (pts) {
        add_points(s, pts);
        if (b->expires) {
            xy_expiry x = {expiry, c, e->applied, ev->seq, -pts, ev->behaviour};
            exp_push(e, x);
        }
    }
    if (b->term) {
        xy_day end = t + b->term;
        if (s->term_end == XY_DAY_NONE || end > s->term_end) {
            s->term_end = end;
            s->flags |= CS_TERM;
            int is_new;
            *xy_map_put(&e->term_reason, c, &is_new) =
                (uint64_t)(uint32_t)ev->behaviour << 40 | (ev->seq & ((1ULL << 40) - 1));
            exit_push(e, end, c);
            emit_member(e, c, HIST_ENTER, MEMBER_BL_TERM, t, ev);
        }
    }
record:
    if (wants_history(e, c)) {
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
    if (note != NOTE_UNDER_AGE && (pts || b->term)) relist(e, c, old, t);
}

int xy_engine_apply(xy_engine *e, const xy_event *events, size_t n)
{
    /* The state of a citizen is a cache miss at population scale; fetching
     * a few events ahead overlaps those misses without changing the order
     * in which events are applied. */
    enum { AHEAD = 12 };
    for (size_t i = 0; i < n; i++) {
        if (i + AHEAD < n) {
            uint32_t f = events[i + AHEAD].citizen;
            __builtin_prefetch(&e->st[f], 1, 1);
            __builtin_prefetch(&e->ids[f], 0, 1);
        }
        apply_one(e, &events[i]);
    }
    return XY_OK;
}

/* --------------------------------------------------------------- queries */

xy_day xy_engine_today(const xy_engine *e) { return e->today; }
uint32_t xy_engine_citizen_count(const xy_engine *e) { return e->n; }

uint32_t xy_engine_find(const xy_engine *e, xy_resid id)
{
    const uint64_t *v = xy_map_get(&e->by_id, id);
    return v ? (uint32_t)*v : XY_NONE;
}

int64_t xy_engine_raw(const xy_engine *e, uint32_t c) { return e->st[c].raw; }

int64_t xy_engine_score(const xy_engine *e, uint32_t c)
{
    return xy__clamp(xy__citizen_city(e, c), e->st[c].raw);
}

int xy_engine_on_blacklist(const xy_engine *e, uint32_t c) { return !!(e->st[c].flags & CS_ON_BL); }
int xy_engine_on_whitelist(const xy_engine *e, uint32_t c) { return !!(e->st[c].flags & CS_ON_WL); }

size_t xy_engine_state_bytes(void) { return sizeof(xy_cstate); }
