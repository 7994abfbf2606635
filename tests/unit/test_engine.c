/* Unit tests of engine.c. The main one is a property test: random
 * workloads (many seeds) run through the engine and through a naive
 * reference model written here straight from the specification, which
 * steps through every single day. Scores, raw scores, grades, list
 * membership and the active sanctions and privileges (a citizen's own and
 * its parents' `children` ones, with since and until) must agree after
 * every input, and the history hook must account for every raw score
 * (base + contributions = raw). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "decide.h"
#include "engine.h"
#include "unit.h"

static const char *RULES =
    "city alpha\n"
    "region 11\n"
    "score base 100 min 0 max 200\n"
    "scored from age 18\n"
    "grade hi from 120\n"
    "grade mid from 60\n"
    "grade lo from 0\n"
    "behaviour plus points +9 limit 3 per year category c\n"
    "behaviour minus points -13 expires 40 days category c\n"
    "behaviour debt points -4 per 100 cap 30 category c\n"
    "behaviour court points -2 lists blacklist for 25 days category c\n"
    "agency a reports category c\n"
    "blacklist below 60\n"
    "blacklist exit 90 after 20 days\n"
    "whitelist from 130\n"
    "sanction s1 on blacklist for 30 days deny x\n"
    "sanction s2 on grade lo,mid for 10 days children deny y\n"
    "sanction s3 on grade hi deny w\n"
    "privilege p1 on whitelist for 5 days discount 10 z\n"
    "association -3 per blacklisted contact every 7 days max -7\n"
    "\n";

static const char *RULES_B =
    "city beta\n"
    "region 22\n"
    "score base 50 min 0 max 100\n"
    "scored from age 16\n"
    "grade one from 0\n"
    "behaviour plus points +11 category c\n"
    "behaviour minus points -17 expires 15 days category c\n"
    "agency a reports category c\n"
    "blacklist below 30\n"
    "whitelist from 70\n"
    "association -2 per blacklisted contact every 5 days\n"
    "sanction b1 on grade one deny t\n"; /* everyone, since registration */

/* List thresholds inside grade bands, one to a band, near the base so
 * that random walks cross them: the engine's shortcut for score changes
 * within a band (xy_band) must still see every crossing. */
static const char *RULES_G =
    "city gamma\n"
    "region 33\n"
    "score base 100 min 0 max 300\n"
    "scored from age 16\n"
    "grade A from 130\n"
    "grade B from 100\n"
    "grade C from 70\n"
    "grade D from 0\n"
    "behaviour plus points +9 category c\n"
    "behaviour minus points -13 expires 15 days category c\n"
    "agency a reports category c\n"
    "blacklist below 80\n"
    "blacklist exit 110 after 10 days\n"
    "whitelist from 140\n"
    "sanction g1 on blacklist children deny q\n";

/* Thresholds on grade bounds: the blacklist below the lower bound of B,
 * its exit and the whitelist at the lower bound of A, so that a score
 * change that moves the grade also crosses a list threshold (the band
 * shortcut must still see both). */
static const char *RULES_D =
    "city delta\n"
    "region 44\n"
    "score base 100 min 0 max 200\n"
    "scored from age 16\n"
    "grade A from 150\n"
    "grade B from 100\n"
    "grade C from 50\n"
    "grade D from 0\n"
    "behaviour plus points +25 category c\n"
    "behaviour minus points -25 expires 20 days category c\n"
    "agency a reports category c\n"
    "blacklist below 100\n"
    "blacklist exit 150 after 5 days\n"
    "whitelist from 150\n"
    "privilege d1 on whitelist priority v\n"
    "sanction d2 on grade C,D for 3 days children deny u\n"
    "association -25 per blacklisted contact every 3 days max -50\n";

static void print_diag(void *ctx, const char *msg)
{
    (void)ctx;
    printf("  %s\n", msg);
}

/* The four test cities, and with omega (the text of a city named omega)
 * a fifth. */
static xy_rules *load_rules_with(const char *omega)
{
    static char path[5][512];
    const char *text[5] = {RULES, RULES_B, RULES_G, RULES_D, omega};
    const char *name[5] = {"alpha.rules", "beta.rules", "gamma.rules", "delta.rules", "omega.rules"};
    const char *paths[5];
    int n = omega ? 5 : 4;
    for (int i = 0; i < n; i++) {
        snprintf(path[i], sizeof path[i], "%s", unit_file(name[i], text[i]));
        paths[i] = path[i];
    }
    xy_rules *r = NULL;
    if (xy_rules_load_files(paths, n, print_diag, NULL, &r)) return NULL;
    return r;
}

static xy_rules *load_rules(void) { return load_rules_with(NULL); }

/* A city with random bounds: min, max and base; one to five grades whose
 * lowest covers min; a blacklist threshold, its exit and a whitelist
 * threshold, each present or not; association or not. Its thresholds
 * fall anywhere, on grade bounds or between them, which is what the
 * engine's shortcut for changes within a grade band (xy_band) must get
 * right. Writes the rules text into buf. */
static int city_rnd(uint64_t *st, int k)
{
    *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int)(*st >> 33) % k;
}

static const char *random_city(uint64_t seed, char *buf, size_t n)
{
    uint64_t st = seed * 0x9e3779b97f4a7c15ULL + 12345;
#define RND(k) city_rnd(&st, (k))
    int min = RND(50), max = min + 60 + RND(200), base = min + RND(max - min + 1);
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "city omega\nregion 55\nscore base %d min %d max %d\nscored from age 16\n",
                          base, min, max);
    int ng = 1 + RND(5), from[5];
    from[0] = min - RND(5);
    for (int g = 1; g < ng; g++) from[g] = from[g - 1] + 1 + RND((max - min) / ng + 1);
    for (int g = ng - 1; g >= 0; g--) o += (size_t)snprintf(buf + o, n - o, "grade G%d from %d\n", g, from[g]);
    int plus = 1 + RND(40), minus = 1 + RND(40), expires = 1 + RND(30);
    o += (size_t)snprintf(buf + o, n - o,
                          "behaviour plus points +%d category c\nbehaviour minus points -%d expires %d days category c\n"
                          "agency a reports category c\n",
                          plus, minus, expires);
    if (RND(4)) {
        int x = min + 1 + RND(max - min);
        o += (size_t)snprintf(buf + o, n - o, "blacklist below %d\n", x);
        if (RND(2)) {
            int y = x + RND(max - x + 1), days = 1 + RND(20);
            o += (size_t)snprintf(buf + o, n - o, "blacklist exit %d after %d days\n", y, days);
        }
    }
    if (RND(4)) o += (size_t)snprintf(buf + o, n - o, "whitelist from %d\n", min + RND(max - min + 1));
    if (RND(2)) {
        int pts = 1 + RND(10), every = 2 + RND(10);
        o += (size_t)snprintf(buf + o, n - o, "association -%d per blacklisted contact every %d days\n", pts, every);
    }
#undef RND
    return buf;
}

/* ------------------------------------------------------ reference model */

#define NC 60
#define NONE XY_DAY_NONE

typedef struct ref_exp {
    xy_day day;      /* when */
    int c;           /* who */
    int64_t pts;     /* negated points */
    int order;       /* application order */
} ref_exp;

typedef struct ref {
    const xy_rules *r;
    xy_day today;
    int city[NC];
    xy_day birth[NC];
    int64_t raw[NC];
    int member[NC], on_bl[NC], on_wl[NC];
    xy_day rise[NC], term_end[NC];
    int adj[NC][NC];
    int limit_count[NC][4][3000 - 1900]; /* behaviour index, year - 1900 */
    /* Consequences: parents, the latest entries into each list, into the
     * current grade, and into the grades of each consequence on grades
     * (XY_DAY_PENDING before the clock, as the engine stores it). */
    int father[NC], mother[NC];
    xy_day grade_since[NC];
    int grade_now[NC];
    xy_day first_day;
    xy_day bl_since[NC], wl_since[NC];
    int in_set[NC][8];
    xy_day set_since[NC][8];
    ref_exp exp[20000];
    int nexp, order;
    int n; /* citizens registered (0 .. n-1) */
} ref;

static int64_t rclamp(const xy_city *c, int64_t v) { return v < c->min ? c->min : v > c->max ? c->max : v; }

/* The grade band of score s in city cy: the index of the highest lower
 * bound at or below it, -1 if none. */
static int rband(const xy_city *cy, int64_t s)
{
    int g = -1;
    for (int i = 0; i < cy->ngrades; i++)
        if (cy->grades[i].from <= s) g = i;
    return g;
}

/* Lists of c on day t; in_steps12 while day t's expiries and association
 * run, before its list exits: a term ending on t still holds then. */
static void rrelist_at(ref *m, int c, xy_day t, int in_steps12)
{
    const xy_city *cy = &m->r->cities[m->city[c]];
    int64_t s = rclamp(cy, m->raw[c]);
    if (cy->has_blacklist && !m->member[c] && s < cy->bl_below) {
        m->member[c] = 1;
        m->rise[c] = NONE;
    }
    if (m->member[c] && cy->has_exit) {
        if (s < cy->bl_exit) m->rise[c] = NONE;
        else if (m->rise[c] == NONE) m->rise[c] = t;
    }
    int was_bl = m->on_bl[c], was_wl = m->on_wl[c];
    xy_day when = t == NONE ? XY_DAY_PENDING : t;
    m->on_bl[c] = m->member[c] || (m->term_end[c] != NONE && (m->term_end[c] > t || (in_steps12 && m->term_end[c] == t)));
    m->on_wl[c] = cy->has_whitelist && s >= cy->wl_from && !m->on_bl[c];
    if (m->on_bl[c] && !was_bl) m->bl_since[c] = when;
    if (m->on_wl[c] && !was_wl) m->wl_since[c] = when;
    int g = rband(cy, s);
    if (g != m->grade_now[c]) {
        m->grade_now[c] = g;
        m->grade_since[c] = when;
    }
    for (int k = 0; k < cy->ncons && k < 8; k++) {
        const xy_consequence *q = &cy->cons[k];
        if (q->on != XY_ON_GRADE) continue;
        int in = g >= 0 && (q->grades >> g & 1);
        if (in && !m->in_set[c][k]) m->set_since[c][k] = when;
        m->in_set[c][k] = in;
    }
}

static void rrelist(ref *m, int c, xy_day t) { rrelist_at(m, c, t, 0); }

/* The grade index of the model's score, 255 if none (as xy_cstate.grade). */
static int rgrade(const ref *m, int c)
{
    const xy_city *cy = &m->r->cities[m->city[c]];
    int g = rband(cy, rclamp(cy, m->raw[c]));
    return g < 0 ? 255 : g;
}


static int rscored(ref *m, int c, xy_day d)
{
    return xy_age_on(m->birth[c], d) >= m->r->cities[m->city[c]].scoring_age;
}

static void rday(ref *m, xy_day t)
{
    m->today = t;
    /* 1. expiries in application order */
    for (;;) {
        int best = -1;
        for (int i = 0; i < m->nexp; i++)
            if (m->exp[i].day == t && (best < 0 || m->exp[i].order < m->exp[best].order)) best = i;
        if (best < 0) break;
        ref_exp x = m->exp[best];
        m->exp[best] = m->exp[--m->nexp];
        m->raw[x.c] += x.pts;
        rrelist_at(m, x.c, t, 1);
    }
    /* 2. association from the list state at the start of the step */
    int snap[NC] = {0};
    for (int c = 0; c < m->n; c++) snap[c] = m->on_bl[c];
    int64_t add[NC] = {0};
    for (int c = 0; c < m->n; c++) {
        const xy_city *cy = &m->r->cities[m->city[c]];
        if (!cy->has_assoc || ((t % cy->assoc_every) + cy->assoc_every) % cy->assoc_every) continue;
        if (!rscored(m, c, t)) continue;
        int n = 0;
        for (int k = 0; k < NC; k++) n += m->adj[c][k] && snap[k];
        if (!n) continue;
        int64_t p = cy->assoc_points * n;
        if (cy->assoc_max && p < cy->assoc_max) p = cy->assoc_max;
        add[c] = p;
    }
    for (int c = 0; c < m->n; c++)
        if (add[c]) {
            m->raw[c] += add[c];
            rrelist_at(m, c, t, 1);
        }
    /* 3. list exits */
    for (int c = 0; c < m->n; c++) {
        const xy_city *cy = &m->r->cities[m->city[c]];
        if (m->member[c] && cy->has_exit && m->rise[c] != NONE && m->rise[c] + cy->exit_days == t)
            m->member[c] = 0;
        rrelist(m, c, t);
    }
}

static void radvance(ref *m, xy_day d)
{
    if (m->today == NONE) {
        m->today = m->first_day = d;
        return;
    }
    for (xy_day t = m->today + 1; t <= d; t++) rday(m, t);
    if (d > m->today) m->today = d;
}

static void rapply(ref *m, const xy_event *ev, int bidx)
{
    radvance(m, ev->date);
    xy_day t = m->today;
    int c = (int)ev->citizen;
    const xy_city *cy = &m->r->cities[m->city[c]];
    const xy_behaviour *b = xy__city_behaviour(m->r, cy, ev->behaviour);
    m->order++;
    if (!rscored(m, c, ev->date)) return;
    int64_t pts = b->points;
    int zero = 0;
    if (b->expires && ev->date + b->expires <= t) zero = 1;
    else if (b->limit) {
        int *cnt = &m->limit_count[c][bidx][xy_day_year(ev->date) - 1900];
        if (*cnt >= b->limit) zero = 1;
        else ++*cnt;
    }
    if (zero) pts = 0;
    else if (b->per) {
        int64_t mult = ev->amount > 0 ? ev->amount / b->per : 0;
        if (mult < 1) mult = 1;
        pts *= mult;
    }
    if (b->cap && pts < -b->cap) pts = -b->cap;
    if (b->cap && pts > b->cap) pts = b->cap;
    m->raw[c] += pts;
    if (pts && b->expires) m->exp[m->nexp++] = (ref_exp){ev->date + b->expires, c, -pts, m->order};
    if (b->term && (m->term_end[c] == NONE || t + b->term > m->term_end[c])) m->term_end[c] = t + b->term;
    rrelist(m, c, t);
}

/* The consequences of subject p active today that apply to the asking
 * citizen (as_parent: those with `children`), appended to out. */
static size_t ractive_of(const ref *m, int p, int as_parent, xy_active *out, size_t n)
{
    const xy_city *cy = &m->r->cities[m->city[p]];
    xy_day t = m->today;
    for (int k = 0; k < cy->ncons && k < 8; k++) {
        const xy_consequence *q = &cy->cons[k];
        if (q->children != as_parent) continue;
        int holds = q->on == XY_ON_BLACKLIST ? m->on_bl[p] : q->on == XY_ON_WHITELIST ? m->on_wl[p] : m->in_set[p][k];
        xy_day since = q->on == XY_ON_BLACKLIST    ? m->bl_since[p]
                       : q->on == XY_ON_WHITELIST  ? m->wl_since[p]
                       : q->days                   ? m->set_since[p][k]
                                                   : m->grade_since[p];
        if (since == XY_DAY_PENDING) since = m->first_day;
        xy_day until = NONE;
        if (q->days) {
            if (since == NONE) continue; /* never entered */
            until = since + q->days - 1;
            if (t < since || t > until) continue;
        } else if (!holds) {
            continue;
        }
        out[n++] = (xy_active){cy, q, (uint32_t)p, since, until};
    }
    return n;
}

/* Compares the consequences active for every citizen with the engine's
 * (their order, subjects, since and until). */
static int check_active(const ref *m, const xy_engine *e, uint64_t seed, int step)
{
    for (int c = 0; c < m->n; c++) {
        xy_active want[32], got[32];
        size_t nw = ractive_of(m, c, 0, want, 0);
        if (m->father[c] >= 0) nw = ractive_of(m, m->father[c], 1, want, nw);
        if (m->mother[c] >= 0) nw = ractive_of(m, m->mother[c], 1, want, nw);
        size_t ng = xy__active(e, (uint32_t)c, got, 32);
        int same = nw == ng;
        for (size_t i = 0; same && i < nw; i++) {
            same = want[i].q == got[i].q && want[i].subject == got[i].subject && want[i].until == got[i].until &&
                   want[i].since == got[i].since;
        }
        if (!same) {
            printf("  seed %llu step %d citizen %d (father %d): model %zu active, engine %zu\n", (unsigned long long)seed,
                   step, c, m->father[c], nw, ng);
            for (size_t i = 0; i < nw; i++)
                printf("    model  %s of %u since %d until %d\n", want[i].q->name, want[i].subject, want[i].since,
                       want[i].until);
            for (size_t i = 0; i < ng && i < 32; i++)
                printf("    engine %s of %u since %d until %d\n", got[i].q->name, got[i].subject, got[i].since,
                       got[i].until);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- driver */

typedef struct sums {
    int64_t total[NC]; /* contributions seen by the history hook */
    int in[NC][3];     /* memberships by the hook's entries and exits (MEMBER_*) */
    int bad;           /* an exit from a membership not entered, or the like */
} sums;

static void on_hist(void *ctx, const xy_hist *h)
{
    sums *s = ctx;
    if (h->kind == HIST_EVENT || h->kind == HIST_EXPIRY || h->kind == HIST_ASSOC) s->total[h->citizen] += h->points;
    if (h->kind == HIST_ENTER || h->kind == HIST_LEAVE) {
        int *in = &s->in[h->citizen][h->member];
        /* A term's entry is told again when a later event extends it. */
        if (h->kind == HIST_ENTER && *in && h->member != MEMBER_BL_TERM) s->bad = 1;
        if (h->kind == HIST_LEAVE && !*in) s->bad = 1;
        *in = h->kind == HIST_ENTER;
    }
}

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33) % n;
}

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            return -1;                                                      \
        }                                                                   \
    } while (0)

/* Registers citizen c (the next index) in the model and the engine, in
 * one of the cities, with an age from 10 to 40 at start (so that some
 * come of age during the run) and perhaps parents registered before. The
 * lists are evaluated on the clock's day (or before the clock). */
static int register_one(ref *m, xy_engine *e, int c, xy_day start, const int cities[5])
{
    const xy_rules *r = m->r;
    xy_day birth = start - 3650 - (xy_day)rnd(365 * 30);
    uint32_t k = rnd(5);
    m->city[c] = k == 0 ? cities[1] : k == 1 ? cities[2] : k == 2 ? cities[3] : k == 3 && cities[4] >= 0 ? cities[4] : cities[0];
    m->birth[c] = birth;
    m->father[c] = c >= 10 && rnd(3) == 0 ? (int)rnd((uint32_t)c) : -1;
    m->mother[c] = c >= 10 && rnd(3) == 0 ? (int)rnd((uint32_t)c) : -1;
    if (m->mother[c] == m->father[c]) m->mother[c] = -1;
    m->bl_since[c] = m->wl_since[c] = m->grade_since[c] = NONE;
    m->grade_now[c] = -1;
    for (int q = 0; q < 8; q++) m->set_since[c][q] = NONE;
    m->raw[c] = r->cities[m->city[c]].base;
    m->rise[c] = m->term_end[c] = NONE;
    m->n = c + 1;
    rrelist(m, c, m->today);
    xy_resid id = (uint64_t)(110000 + c) << 28 | (uint64_t)(birth + 65536) << 10 | (uint64_t)c;
    uint32_t idx;
    uint32_t father = m->father[c] >= 0 ? (uint32_t)m->father[c] : XY_NONE;
    uint32_t mother = m->mother[c] >= 0 ? (uint32_t)m->mother[c] : XY_NONE;
    CHECK((xy_engine_add_citizen(e, id, m->city[c], father, mother, "x", 1, &idx)) == (XY_OK));
    CHECK(idx == (uint32_t)c);
    return 0;
}

/* A contact between a and b in the model and the engine, unless they are
 * one or already in contact. */
static int add_contact(ref *m, xy_engine *e, int a, int b)
{
    if (a == b || m->adj[a][b]) return 0;
    m->adj[a][b] = m->adj[b][a] = 1;
    CHECK((xy_engine_add_contact(e, (uint32_t)a, (uint32_t)b)) == (XY_OK));
    return 0;
}

static int run_seed(const xy_rules *r, uint64_t seed, xy_engine **out_engine)
{
    static ref m;
    memset(&m, 0, sizeof m);
    m.r = r;
    m.today = m.first_day = NONE;
    rng_state = seed;
    xy_engine *e;
    xy_engine_new(r, &e);
    sums s;
    memset(&s, 0, sizeof s);
    xy__engine_set_history(e, on_hist, &s, XY_NONE);
    xy_day start;
    xy_day_parse("2020-01-01", 10, &start);
    const char *names[4] = {"plus", "minus", "debt", "court"};
    int32_t bids[4];
    for (int k = 0; k < 4; k++) bids[k] = xy_rules_behaviour_id(r, names[k], strlen(names[k]));
    int32_t agency = xy_rules_agency_id(r, "a", 1);
    int alpha = xy_rules_city_find(r, "alpha"), beta = xy_rules_city_find(r, "beta"),
        gamma = xy_rules_city_find(r, "gamma"), delta = xy_rules_city_find(r, "delta"),
        omega = xy_rules_city_find(r, "omega");
    /* Three quarters of the citizens before the clock starts, the others
     * one by one while it runs, each with contacts of its own. */
    enum { EARLY = NC * 3 / 4 };
    const int cities[5] = {alpha, beta, gamma, delta, omega};
    for (int c = 0; c < EARLY; c++)
        if (register_one(&m, e, c, start, cities)) return -1;
    for (int k = 0; k < NC * 2; k++)
        if (add_contact(&m, e, (int)rnd(EARLY), (int)rnd(EARLY))) return -1;
    xy_day day = start;
    /* Events reach the model one by one, the engine one by one in even
     * workloads and in batches of 1 to 64 in odd ones (its fetches ahead
     * run within a batch); the two are compared whenever the engine has
     * caught up. */
    xy_event pend[64];
    size_t npend = 0, want = 1;
    int batched = seed & 1;
    for (int step = 0; step < 1500; step++) {
        int other = (step % 100 == 50 && m.n < NC) ? 1 : rnd(50) == 0 ? 2 : 0;
        if (other && npend) {
            CHECK((xy_engine_apply(e, pend, npend)) == (XY_OK));
            npend = 0;
        }
        if (other == 1) {
            int c = m.n;
            if (register_one(&m, e, c, start, cities) || add_contact(&m, e, c, (int)rnd((uint32_t)c)) ||
                add_contact(&m, e, c, (int)rnd((uint32_t)c)))
                return -1;
        } else if (other == 2) {
            day += (xy_day)rnd(60);
            radvance(&m, day);
            CHECK((xy_engine_advance(e, day)) == (XY_OK));
        } else {
            day += rnd(3) == 0 ? 1 : 0;
            xy_event ev = {0};
            ev.seq = (uint64_t)step;
            ev.citizen = rnd((uint32_t)m.n);
            /* Some late reports, up to 60 days back. */
            ev.date = rnd(10) == 0 ? day - (xy_day)rnd(60) : day;
            int bi = (int)rnd(4);
            if (m.city[ev.citizen] != alpha) bi = (int)rnd(2);
            ev.behaviour = bids[bi];
            ev.agency = agency;
            ev.amount = rnd(3) ? (int64_t)rnd(1000) * XY_MICRO : -1;
            ev.counterpart = XY_NONE;
            rapply(&m, &ev, bi);
            pend[npend++] = ev;
            if (npend < want) continue;
            CHECK((xy_engine_apply(e, pend, npend)) == (XY_OK));
            npend = 0;
            want = batched ? 1 + rnd(64) : 1;
        }
        for (int c = 0; c < m.n; c++) {
            if (e->st[c].raw != m.raw[c] || xy_engine_on_blacklist(e, (uint32_t)c) != m.on_bl[c] ||
                xy_engine_on_whitelist(e, (uint32_t)c) != m.on_wl[c] || e->st[c].grade != rgrade(&m, c)) {
                printf("  seed %llu step %d citizen %d: engine raw %lld bl %d wl %d grade %d, model raw %lld bl %d "
                       "wl %d grade %d\n",
                       (unsigned long long)seed, step, c, (long long)e->st[c].raw,
                       xy_engine_on_blacklist(e, (uint32_t)c), xy_engine_on_whitelist(e, (uint32_t)c),
                       e->st[c].grade, (long long)m.raw[c], m.on_bl[c], m.on_wl[c], rgrade(&m, c));
                xy_engine_free(e);
                return -1;
            }
        }
        /* What the history says about memberships (and so what explain
         * lists) is what the model holds. */
        for (int c = 0; c < m.n && !s.bad; c++) {
            int term = m.term_end[c] != NONE && m.term_end[c] > m.today;
            if (s.in[c][MEMBER_BL_SCORE] != m.member[c] || s.in[c][MEMBER_BL_TERM] != term ||
                s.in[c][MEMBER_WL] != m.on_wl[c]) {
                printf("  seed %llu step %d citizen %d: history says score %d term %d whitelist %d, model %d %d %d\n",
                       (unsigned long long)seed, step, c, s.in[c][MEMBER_BL_SCORE], s.in[c][MEMBER_BL_TERM],
                       s.in[c][MEMBER_WL], m.member[c], term, m.on_wl[c]);
                s.bad = 1;
            }
        }
        if (s.bad || check_active(&m, e, seed, step)) {
            xy_engine_free(e);
            return -1;
        }
    }
    if (npend) CHECK((xy_engine_apply(e, pend, npend)) == (XY_OK));
    for (int c = 0; c < m.n; c++)
        if (r->cities[m.city[c]].base + s.total[c] != e->st[c].raw) {
            printf("  seed %llu citizen %d: base + contributions != raw\n", (unsigned long long)seed, c);
            xy_engine_free(e);
            return -1;
        }
    *out_engine = e;
    return 0;
}

/* Workloads to run: XY_MODEL_SEEDS, else dflt. */
static uint64_t model_seeds(uint64_t dflt)
{
    const char *want = getenv("XY_MODEL_SEEDS");
    uint64_t n = want ? strtoull(want, NULL, 10) : 0;
    return n ? n : dflt;
}

TEST(engine_matches_day_by_day_reference_model)
{
    xy_rules *r = load_rules();
    ASSERT(r != NULL);
    int listed = 0;
    /* A thousand workloads in `make test` (about 5 s), ten thousand in
     * `make test-slow`; XY_MODEL_SEEDS sets the number. Rare coincidences
     * need many: an expiry that crosses a threshold on the day a term ends,
     * an association day, showed first in the 639th. */
    uint64_t nseeds = model_seeds(1000);
    for (uint64_t seed = 1; seed <= nseeds; seed++) {
        xy_engine *e = NULL;
        int rc = run_seed(r, seed, &e);
        if (rc || !e) {
            unit_failed_now = 1;
            break;
        }
        listed += (int)e->bl_count;
        xy_engine_free(e);
    }
    /* The workload must really exercise the lists. */
    ASSERT(listed > 0);
    xy_rules_free(r);
}

/* The same against cities of random bounds, a new one for every workload
 * (a tenth as many workloads as above). */
TEST(engine_matches_reference_model_in_random_cities)
{
    uint64_t nseeds = model_seeds(990) / 10 + 1;
    for (uint64_t seed = 1; seed <= nseeds; seed++) {
        char text[2048];
        xy_rules *r = load_rules_with(random_city(seed, text, sizeof text));
        if (!r) {
            printf("  seed %llu: the random city does not compile:\n%s", (unsigned long long)seed, text);
            unit_failed_now = 1;
            return;
        }
        xy_engine *e = NULL;
        int rc = run_seed(r, 1000000 + seed, &e);
        xy_engine_free(e);
        xy_rules_free(r);
        if (rc) {
            printf("  the random city of seed %llu:\n%s", (unsigned long long)seed, text);
            unit_failed_now = 1;
            return;
        }
    }
}

TEST(engine_replay_is_bit_for_bit)
{
    xy_rules *r = load_rules();
    ASSERT(r != NULL);
    xy_engine *a = NULL, *b = NULL;
    ASSERT_EQ(run_seed(r, 42, &a), 0);
    ASSERT_EQ(run_seed(r, 42, &b), 0);
    ASSERT_EQ(a->n, b->n);
    ASSERT(memcmp(a->st, b->st, a->n * sizeof *a->st) == 0);
    ASSERT_EQ(a->today, b->today);
    xy_engine_free(a);
    xy_engine_free(b);
    xy_rules_free(r);
}

TEST(engine_zero_input_gives_base_scores)
{
    xy_rules *r = load_rules();
    ASSERT(r != NULL);
    xy_engine *e;
    xy_engine_new(r, &e);
    xy_resid id;
    ASSERT_EQ(xy_resid_parse("11010519491231002X", 18, &id, NULL), XY_OK);
    uint32_t c;
    ASSERT_EQ(xy_engine_add_citizen(e, id, 0, XY_NONE, XY_NONE, "n", 1, &c), XY_OK);
    ASSERT_EQ(xy_engine_add_citizen(e, id, 0, XY_NONE, XY_NONE, "n", 1, &c), XY_EEXIST);
    xy_day d;
    xy_day_parse("2030-01-01", 10, &d);
    ASSERT_EQ(xy_engine_advance(e, d), XY_OK);
    ASSERT_EQ(xy_engine_score(e, c), r->cities[0].base);
    ASSERT_EQ(xy_engine_advance(e, d - 1), XY_ECLOCK);
    ASSERT_EQ(xy_engine_state_bytes(), 32);
    xy_engine_free(e);
    xy_rules_free(r);
}

/* The library's own checks of a registration and a contact: a city or a
 * parent it does not have, a citizen as its own contact and a contact
 * already present (in either direction, as association would otherwise
 * count it twice) are refused, and nothing of them is kept. */
TEST(engine_refuses_bad_registrations_and_contacts)
{
    xy_rules *r = load_rules();
    ASSERT(r != NULL);
    xy_engine *e;
    xy_engine_new(r, &e);
    xy_resid ida, idb;
    ASSERT_EQ(xy_resid_parse("11010519491231002X", 18, &ida, NULL), XY_OK);
    ASSERT_EQ(xy_resid_parse("110101200001010010", 18, &idb, NULL), XY_OK);
    ASSERT_EQ(xy_engine_add_citizen(e, ida, -1, XY_NONE, XY_NONE, "n", 1, NULL), XY_EINVAL);
    ASSERT_EQ(xy_engine_add_citizen(e, ida, r->ncities, XY_NONE, XY_NONE, "n", 1, NULL), XY_EINVAL);
    ASSERT_EQ(xy_engine_add_citizen(e, ida, 0, 0, XY_NONE, "n", 1, NULL), XY_EINVAL);
    ASSERT_EQ(xy_engine_add_citizen(e, ida, 0, XY_NONE, 0, "n", 1, NULL), XY_EINVAL);
    ASSERT_EQ(e->n, 0);
    /* Without index the citizen is registered all the same. */
    ASSERT_EQ(xy_engine_add_citizen(e, ida, 0, XY_NONE, XY_NONE, "a", 1, NULL), XY_OK);
    uint32_t b;
    ASSERT_EQ(xy_engine_add_citizen(e, idb, 0, XY_NONE, 0, "b", 1, &b), XY_OK);
    ASSERT_EQ(xy_engine_find(e, ida), 0);
    ASSERT_EQ(b, 1);
    ASSERT_EQ(xy_engine_add_contact(e, 0, 2), XY_EINVAL);
    ASSERT_EQ(xy_engine_add_contact(e, 2, 0), XY_EINVAL);
    ASSERT_EQ(xy_engine_add_contact(e, 1, 1), XY_EINVAL);
    ASSERT_EQ(xy_engine_add_contact(e, 1, 0), XY_OK);
    ASSERT_EQ(xy_engine_add_contact(e, 0, 1), XY_EEXIST);
    ASSERT_EQ(xy_engine_add_contact(e, 1, 0), XY_EEXIST);
    ASSERT_EQ(e->nedges, 1);
    xy_engine_free(e);
    xy_rules_free(r);
}

/* Whether applying ev to a fresh engine with one citizen stops the
 * program (in a child); what the child wrote to stderr goes to said (size
 * bytes, NUL-terminated). */
static int apply_dies(const xy_rules *r, xy_event ev, char *said, size_t size)
{
    char path[600];
    snprintf(path, sizeof path, "%s", unit_file("apply-dies", ""));
    pid_t pid = fork();
    if (pid == 0) {
        /* The descriptor, not the stream: stderr stays unbuffered, as a
         * program's is, so that abort() loses none of the message. */
        int fd = open(path, O_WRONLY | O_TRUNC);
        if (fd < 0 || dup2(fd, 2) < 0) _exit(3);
        xy_engine *e;
        xy_engine_new(r, &e);
        xy_resid id;
        xy_resid_parse("11010519491231002X", 18, &id, NULL);
        xy_engine_add_citizen(e, id, 0, XY_NONE, XY_NONE, "n", 1, NULL);
        xy_engine_apply(e, &ev, 1);
        _exit(0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
    said[0] = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        said[fread(said, 1, size - 1, f)] = 0;
        fclose(f);
    }
    return !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* xy_engine_apply's callers promise a registered citizen and a valid
 * date; a broken promise stops the program instead of writing outside
 * the state, with a message that names the event, the citizen and the
 * day. */
TEST(engine_refuses_an_event_it_cannot_have)
{
    xy_rules *r = load_rules();
    ASSERT(r != NULL);
    int32_t b = xy_rules_behaviour_id(r, r->behaviour_names.str[0], strlen(r->behaviour_names.str[0]));
    xy_day d;
    xy_day_parse("2024-01-01", 10, &d);
    xy_event ok = {1, 0, b, 0, XY_NONE, d, -1};
    xy_event bad_citizen = ok, bad_date = ok, too_late = ok;
    bad_citizen.citizen = 1;
    bad_date.date = -354286;  /* 0999-12-31 */
    too_late.date = 2932897;  /* 10000-01-01 */
    char said[512];
    ASSERT_EQ(apply_dies(r, ok, said, sizeof said), 0);
    ASSERT_STR(said, "");
    ASSERT_EQ(apply_dies(r, bad_citizen, said, sizeof said), 1);
    ASSERT(strstr(said, "xy_engine_apply: event 1 names citizen 1 of 1 on day 19723: not a citizen or date the "
                        "engine can have") != NULL);
    ASSERT_EQ(apply_dies(r, bad_date, said, sizeof said), 1);
    ASSERT(strstr(said, "names citizen 0 of 1 on day -354286") != NULL);
    ASSERT_EQ(apply_dies(r, too_late, said, sizeof said), 1);
    ASSERT(strstr(said, "names citizen 0 of 1 on day 2932897") != NULL);
    xy_rules_free(r);
}

/* Raw scores saturate far from any real score instead of wrapping: an
 * event whose points would pass the bound counts for what the sum kept,
 * the history hook is told just that (base + contributions = raw still),
 * and its expiry takes back no more than was added. */
TEST(engine_saturated_raw_scores_still_add_up)
{
    xy_rules *r = load_rules_with("city omega\n"
                                  "region 55\n"
                                  "score base 100\n"
                                  "behaviour huge points -1000000000 per 1 expires 10 days category c\n"
                                  "behaviour gain points +5 category c\n"
                                  "agency a reports category c\n");
    ASSERT(r != NULL);
    xy_engine *e;
    xy_engine_new(r, &e);
    sums *s = calloc(1, sizeof *s);
    ASSERT(s != NULL);
    xy__engine_set_history(e, on_hist, s, XY_NONE);
    xy_resid id;
    ASSERT_EQ(xy_resid_parse("11010519491231002X", 18, &id, NULL), XY_OK);
    uint32_t c;
    ASSERT_EQ(xy_engine_add_citizen(e, id, xy_rules_city_find(r, "omega"), XY_NONE, XY_NONE, "n", 1, &c), XY_OK);
    int32_t huge = xy_rules_behaviour_id(r, "huge", 4), gain = xy_rules_behaviour_id(r, "gain", 4);
    int32_t a = xy_rules_agency_id(r, "a", 1);
    xy_day d;
    xy_day_parse("2030-01-01", 10, &d);
    /* 2,305,843,010 times -10^9 points: past 2^61 in one event. */
    const int64_t amount = 2305843010LL * XY_MICRO;
    xy_event ev[3] = {{0, c, huge, a, XY_NONE, d, amount},
                      {1, c, huge, a, XY_NONE, d + 1, amount},
                      {2, c, gain, a, XY_NONE, d + 2, -1}};
    ASSERT_EQ(xy_engine_apply(e, ev, 3), XY_OK);
    int64_t raw = xy_engine_raw(e, c);
    ASSERT(raw < -(1LL << 60));
    ASSERT_EQ(100 + s->total[c], raw);
    ASSERT_EQ(xy_engine_advance(e, d + 30), XY_OK);
    ASSERT_EQ(xy_engine_raw(e, c), 105);
    ASSERT_EQ(100 + s->total[c], 105);
    free(s);
    xy_engine_free(e);
    xy_rules_free(r);
}

/* Room reserved for a run of citizens is used without growing again, and
 * a citizen registered after it is found like any other. */
TEST(engine_reserve_registers_without_growing)
{
    xy_rules *r = load_rules();
    ASSERT(r != NULL);
    xy_engine *e;
    xy_engine_new(r, &e);
    enum { N = 5000 };
    xy__engine_reserve(e, N);
    uint32_t cap = e->cap;
    size_t mask = e->by_id.mask;
    const xy_cstate *st = e->st;
    ASSERT(cap >= N);
    for (int c = 0; c < N; c++) {
        xy_resid id = (uint64_t)(110000 + c) << 28 | (uint64_t)(65536 + 5000) << 10 | (uint64_t)c;
        uint32_t idx;
        ASSERT_EQ(xy_engine_add_citizen(e, id, 0, XY_NONE, XY_NONE, "x", 1, &idx), XY_OK);
        ASSERT_EQ(idx, c);
    }
    ASSERT_EQ(e->cap, cap);
    ASSERT_EQ(e->by_id.mask, mask);
    ASSERT(e->st == st);
    for (int c = 0; c < N; c += 97)
        ASSERT_EQ(xy_engine_find(e, (uint64_t)(110000 + c) << 28 | (uint64_t)(65536 + 5000) << 10 | (uint64_t)c), c);
    xy_engine_free(e);
    xy_rules_free(r);
}

/* A blacklist term ends in step 3 of its end day: an expiry that morning
 * which crosses a list threshold (and so re-evaluates the lists) must not
 * end it before that day's association, which still counts the citizen.
 * Ann: `minus` (-13, expires 40 days) on d1, `court` (term of 25 days) on
 * d1 + 15; both end on d1 + 40, an association day of alpha (every 7
 * days), where the expiry takes her from 85 to 98, across the exit
 * threshold of 90. Bo, her only contact, loses 3 on every association
 * day from d1 + 16 through d1 + 40. */
TEST(engine_term_holds_until_exits_step)
{
    xy_rules *r = load_rules();
    ASSERT(r != NULL);
    xy_engine *e;
    xy_engine_new(r, &e);
    int alpha = xy_rules_city_find(r, "alpha");
    xy_day d1;
    xy_day_parse("2030-01-01", 10, &d1);
    while ((d1 + 40) % 7) d1++;
    uint32_t ann, bo;
    xy_day born = d1 - 40 * 365;
    ASSERT_EQ(xy_engine_add_citizen(e, (uint64_t)110001 << 28 | (uint64_t)(born + 65536) << 10 | 1, alpha, XY_NONE,
                                    XY_NONE, "Ann", 3, &ann), XY_OK);
    ASSERT_EQ(xy_engine_add_citizen(e, (uint64_t)110002 << 28 | (uint64_t)(born + 65536) << 10 | 2, alpha, XY_NONE,
                                    XY_NONE, "Bo", 2, &bo), XY_OK);
    ASSERT_EQ(xy_engine_add_contact(e, ann, bo), XY_OK);
    int32_t minus = xy_rules_behaviour_id(r, "minus", 5), court = xy_rules_behaviour_id(r, "court", 5);
    int32_t agency = xy_rules_agency_id(r, "a", 1);
    xy_event ev[2] = {{0, ann, minus, agency, XY_NONE, d1, -1}, {1, ann, court, agency, XY_NONE, d1 + 15, -1}};
    ASSERT_EQ(xy_engine_apply(e, ev, 2), XY_OK);
    ASSERT_EQ(xy_engine_score(e, ann), 85);
    ASSERT(xy_engine_on_blacklist(e, ann));
    ASSERT_EQ(xy_engine_advance(e, d1 + 40), XY_OK);
    ASSERT_EQ(xy_engine_score(e, ann), 98);
    ASSERT(!xy_engine_on_blacklist(e, ann));
    int64_t days = 0;
    for (xy_day t = d1 + 16; t <= d1 + 40; t++) days += t % 7 == 0;
    ASSERT_EQ(days, 4);
    ASSERT_EQ(xy_engine_score(e, bo), 100 - 3 * days);
    xy_engine_free(e);
    xy_rules_free(r);
}

/* Collects the items a calendar emits (uint32_t each), checking they run
 * on from *next. */
typedef struct cal_check {
    uint32_t next;
    int ok;
} cal_check;

static void cal_collect(void *ctx, const void *p, size_t n)
{
    cal_check *c = ctx;
    for (size_t i = 0; i < n / 4; i++) {
        uint32_t v;
        memcpy(&v, (const char *)p + 4 * i, 4);
        c->ok &= v == c->next++;
    }
}

/* A calendar's blocks come from slabs that grow up to a huge page each:
 * a day with more items than several full slabs hold gives them back in
 * order, its cleared blocks are reused before a new slab is made, and
 * freeing the calendar frees every slab (the sanitizers' leak check). */
TEST(calendar_blocks_from_slabs_keep_order_and_are_reused)
{
    xy_calendar cal = {0};
    cal.elem = 4;
    cal.per = XY_CAL_BLOCK / 4;
    uint32_t n = 600u * (XY_CAL_BLOCK / 4) + 17; /* 601 blocks, 602 with the next day: slabs of 1 to 64, then four of 127 */
    for (uint32_t i = 0; i < n; i++) *(uint32_t *)xy__cal_push(&cal, 100) = i;
    for (uint32_t i = 0; i < 5; i++) *(uint32_t *)xy__cal_push(&cal, 101) = i;
    ASSERT_EQ(cal.pending, (uint64_t)n + 5);
    cal_check c = {0, 1};
    xy__cal_emit(&cal, 100, cal_collect, &c);
    ASSERT(c.ok);
    ASSERT_EQ(c.next, n);
    c = (cal_check){0, 1};
    xy__cal_emit(&cal, 101, cal_collect, &c);
    ASSERT(c.ok && c.next == 5);
    int slabs = 0;
    for (const xy_cslab *sl = cal.slabs; sl; sl = sl->next) slabs++;
    ASSERT_EQ(slabs, 11);
    xy__cal_clear(&cal, 100);
    for (uint32_t i = 0; i < n; i++) *(uint32_t *)xy__cal_push(&cal, 102) = i;
    slabs = 0;
    for (const xy_cslab *sl = cal.slabs; sl; sl = sl->next) slabs++;
    ASSERT_EQ(slabs, 11); /* the cleared day's blocks were enough */
    c = (cal_check){0, 1};
    xy__cal_emit(&cal, 102, cal_collect, &c);
    ASSERT(c.ok && c.next == n);
    ASSERT_EQ(cal.pending, (uint64_t)n + 5);
    xy__cal_free(&cal);
}
