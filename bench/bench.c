/* bench.c -- `make bench`: throughput and memory of the core on the shipped
 * rulesets at population scale. Prints each figure with its target and the
 * ratio to it. Sizes can be lowered for a quick run:
 *   build/bench [citizens] [events] [engine|csv|lookup|history|walks|fresh|writeback|pagecache]
 * (defaults: 10,000,000 citizens, 20,000,000 events, every part)
 * To see what each kind of rule costs, XY_BENCH_PLAIN narrows the engine's
 * event mix to behaviours without limit, expiry or term, letting in those
 * named by its letters (l, e, t; p: positive points only), and
 * XY_BENCH_CONTACTS sets the contacts per citizen (default 1), and
 * XY_BENCH_KEEP leaves the scratch directories behind for profiling
 * (XY_BENCH_PERF: see perf_ctl()); XY_BENCH_PEERS=0 leaves out Redis and
 * SQLite, for quicker runs of the store's own figures.
 *
 * What it measures:
 *  1. events applied per second in memory, one core (pre-resolved events
 *     through xy_engine_apply, with contacts and association running);
 *     every timed part of 1 and 3 starts on memory the host backs, and the
 *     engine and the CSV load are also timed with memory fresh from the
 *     host, printed beside (see host_backed);
 *  2. bytes of engine state per citizen, and of everything per citizen;
 *  3. CSV events loaded per second through a data directory (parse,
 *     validate, log append with fdatasync, apply);
 *  4. rule lookups per second (behaviour name -> definition, and the agency
 *     permission check) in a generated 10-behaviour city and a
 *     10,000-behaviour city. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <math.h>
#include <unistd.h>

#include "bench.h"
#include "engine.h"
#include "store.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
uint32_t bench_rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)((rng >> 11) % n);
}

const char *bench_tmpdir(const char *what, char *why, size_t whylen)
{
    static char dir[128];
    snprintf(dir, sizeof dir, "/tmp/xy-%s-XXXXXX", what);
    if (mkdtemp(dir)) return dir;
    snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
    return NULL;
}

void bench_rmdir(const char *dir)
{
    /* XY_BENCH_KEEP leaves the scratch directories for profiling. */
    if (getenv("XY_BENCH_KEEP")) {
        printf("kept %s\n", dir);
        return;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {
    }
}


static void quiet(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "  %s\n", msg);
}

static void report(const char *what, double value, const char *unit, double target, int lower_is_better)
{
    double ratio = lower_is_better ? target / value : value / target;
    printf("%-52s %14.1f %-10s target %s %-10.0f  %5.2fx %s\n", what, value, unit, lower_is_better ? "<=" : ">=",
           target, ratio, ratio >= 1.0 ? "ok" : "BELOW TARGET");
}

/* Behaviour/agency pairs a city allows, to generate valid events. */
typedef struct pair {
    int32_t behaviour; /* name id */
    int32_t agency;    /* name id */
    double upto;       /* cumulative weight up to and including this pair */
} pair;

typedef struct city_pairs {
    pair *p;  /* allowed pairs */
    size_t n; /* how many */
} city_pairs;

static city_pairs *allowed_pairs(const xy_rules *r, int typical)
{
    city_pairs *cp = calloc((size_t)r->ncities, sizeof *cp);
    for (int c = 0; c < r->ncities; c++) {
        const xy_city *city = &r->cities[c];
        cp[c].p = malloc(sizeof(pair) * (size_t)city->nbehaviours * r->agency_names.count + 1);
        const char *plain = getenv("XY_BENCH_PLAIN");
        for (int b = 0; b < city->nbehaviours; b++)
            for (size_t a = 0; a < r->agency_names.count; a++)
                if (plain && ((city->behaviours[b].limit && !strchr(plain, 'l')) ||
                              (city->behaviours[b].expires && !strchr(plain, 'e')) ||
                              (city->behaviours[b].term && !strchr(plain, 't')) ||
                              (strchr(plain, 'p') && city->behaviours[b].points < 0))) break;
                else
                if (xy_rules_may_report(r, c, (int32_t)a, city->behaviours[b].name) == XY_OK) {
                    /* The typical mix weighs a behaviour by the inverse of
                     * its points: a traffic ticket is far more common than
                     * drunk driving, a visit to one's parents than a heroic
                     * act. The uniform mix weighs every behaviour alike. */
                    double pts = fabs((double)city->behaviours[b].points);
                    double w = typical ? 1.0 / (pts < 1 ? 1 : pts) : 1.0;
                    double before = cp[c].n ? cp[c].p[cp[c].n - 1].upto : 0;
                    cp[c].p[cp[c].n++] = (pair){city->behaviours[b].name, (int32_t)a, before + w};
                    break;
                }
    }
    return cp;
}

/* A 6-digit division code inside a city's first region prefix. */
static uint32_t region_code(const xy_rules *r, int city)
{
    for (int i = 0; i < r->nregions; i++)
        if (r->regions[i].city == city) {
            uint32_t v = r->regions[i].prefix;
            for (int d = r->regions[i].digits; d < 6; d++) v = v * 10 + (d == 5 ? 1 : 0);
            return v;
        }
    return 100000;
}

static xy_resid make_id(uint32_t region, xy_day birth, uint32_t seq)
{
    return (uint64_t)region << 28 | (uint64_t)(birth + 65536) << 10 | seq;
}

static xy_day day_of(const char *s)
{
    xy_day d;
    xy_day_parse(s, strlen(s), &d);
    return d;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * (size_t)sysconf(_SC_PAGESIZE);
}

static double memory_floor(uint32_t ncit, size_t nev);
static void host_backed(size_t bytes);
static double memory_floor_mix(const xy_engine *e, const xy_event *ev, size_t nev, xy_day end);

/* Bytes of fresh memory the engine takes while it applies n events (its
 * yearly counts and calendar grow by about 12 bytes an event at 10 million
 * citizens), with room to spare: what host_backed touches before a run. */
#define ENGINE_FRESH(n) ((size_t)(n) * 48 + ((size_t)64 << 20))

/* With XY_BENCH_PERF naming the control FIFO of `perf record --control
 * fifo:FIFO -D -1`, perf samples only one timed part of the bench: the
 * part named by XY_BENCH_PERF_PART (engine, the typical mix, by default;
 * uniform; csv; append; snapshot; replay). */
static void perf_ctl(const char *part, const char *cmd)
{
    const char *fifo = getenv("XY_BENCH_PERF"), *want = getenv("XY_BENCH_PERF_PART");
    if (!fifo || strcmp(part, want ? want : "engine") != 0) return;
    FILE *f = fopen(fifo, "w");
    if (!f) return;
    fprintf(f, "%s\n", cmd);
    fclose(f);
}

/* Prints where the time of a load went: its commits (reserving the log's
 * space, apply, then the wait for the log's write and fdatasync, which ran
 * during the apply and outlasted it), against the seconds the commit
 * counters of db showed before, and the rest (parse, check, stage). */
static void commit_split(const xy_db *db, const double before[3], double total)
{
    double now[3];
    xy__db_commit_secs(db, now);
    double w = now[0] - before[0], s = now[1] - before[1], a = now[2] - before[2];
    printf("  of which: check and stage %.2f s, log space %.2f s, apply %.2f s, then log write and fdatasync %.2f s\n",
           total - w - s - a, w, a, s);
}

/* ------------------------------------------------------ 1 and 2: engine */

/* A pair drawn by weight. */
static pair draw(const city_pairs *p)
{
    double x = (double)bench_rnd(1u << 30) / (double)(1u << 30) * p->p[p->n - 1].upto;
    size_t lo = 0, hi = p->n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->p[mid].upto > x) hi = mid;
        else lo = mid + 1;
    }
    return p->p[lo];
}

static double median3(const double v[3])
{
    double a = v[0], b = v[1], c = v[2];
    return a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
}

/* Run run (0-5) of bench_engine: sets up, applies and records its rate,
 * in rates[run / 2] for an even run, which starts on memory the host backs
 * (host_backed), and in cold[run / 2] for an odd one, which takes what
 * comes; the last one reports. Alternating the two spreads the host's
 * drift over both. */
static void engine_run(const xy_rules *r, const city_pairs *cp, uint32_t ncit, size_t nev, int typical, int first,
                      int run, double *rates, double *cold)
{
    xy_engine *e;
    xy_engine_new(r, &e);
    double t0 = xy__seconds();
    size_t rss0 = rss_bytes();
    xy_day lo = day_of("1940-01-01"), span = day_of("2008-01-01") - lo;
    for (uint32_t i = 0; i < ncit; i++) {
        int city = (int)(i % (uint32_t)r->ncities);
        uint32_t idx;
        while (xy_engine_add_citizen(e, make_id(region_code(r, city), lo + (xy_day)bench_rnd((uint32_t)span), bench_rnd(1000)),
                                     city, XY_NONE, XY_NONE, "", 0, &idx) == XY_EEXIST) {
        }
    }
    /* One contact per citizen on average; XY_BENCH_CONTACTS changes that. */
    double per = getenv("XY_BENCH_CONTACTS") ? atof(getenv("XY_BENCH_CONTACTS")) : 1.0;
    for (uint32_t i = 0; i < (uint32_t)(ncit * per); i++) xy_engine_add_contact(e, bench_rnd(ncit), bench_rnd(ncit));
    double t1 = xy__seconds();
    /* The contact index is built once when contacts change (or on the
     * first association day); a store that has run before has it, so the
     * steady state measured below does not include it. */
    xy__engine_index_contacts(e);
    double t1b = xy__seconds();
    printf("setup: %u citizens and %zu contacts registered in %.2f s, contact index built in %.2f s\n", ncit,
           e->nedges, t1 - t0, t1b - t1);

    xy_event *ev = malloc(nev * sizeof *ev);
    xy_day start = day_of("2023-01-01");
    for (size_t i = 0; i < nev; i++) {
        uint32_t c = bench_rnd(ncit);
        const city_pairs *p = &cp[e->st[c].city];
        pair pr = draw(p);
        ev[i] = (xy_event){i, c, pr.behaviour, pr.agency, XY_NONE,
                           start + (xy_day)(i * 730 / nev), bench_rnd(4) ? (int64_t)bench_rnd(20000) * XY_MICRO : -1};
        if (bench_rnd(20) == 0) ev[i].date -= (xy_day)bench_rnd(30); /* late reports */
    }
    int backed = run % 2 == 0;
    if (backed) host_backed(ENGINE_FRESH(nev));
    perf_ctl(typical ? "engine" : "uniform", "enable");
    double t2 = xy__seconds();
    xy_engine_apply(e, ev, nev);
    double t3 = xy__seconds();
    perf_ctl(typical ? "engine" : "uniform", "disable");
    printf("%s mix, run %d of 6 (%s): applied %zu events over 2 years in %.2f s; %llu on the blacklist, %zu pending "
           "expiries, %zu yearly counts\n", typical ? "typical" : "uniform", run + 1,
           backed ? "memory the host backs" : "fresh from the host", nev, t3 - t2,
           (unsigned long long)e->bl_members, (size_t)e->expiries.pending, xy__limits_count(&e->limits));
    (backed ? rates : cold)[run / 2] = (double)nev / (t3 - t2);
    if (run < 5) {
        free(ev);
        xy_engine_free(e);
        return;
    }
    double rate = median3(rates);
    printf("%s mix: median of %.1f, %.1f, %.1f million events a second; with memory fresh from the host %.1f, "
           "%.1f, %.1f\n", typical ? "typical" : "uniform", rates[0] / 1e6, rates[1] / 1e6, rates[2] / 1e6,
           cold[0] / 1e6, cold[1] / 1e6, cold[2] / 1e6);
    report(typical ? "events applied per second, typical mix (one core)" : "events applied per second, uniform mix (one core)",
           rate, "events/s", 20e6, 0);
    printf("%-52s %14.1f events/s   (median; the first touch of fresh memory by the host included)\n",
           "  the same, memory fresh from the host", median3(cold));
    double mix_rate = memory_floor_mix(e, ev, nev, start + 730);
    printf("%-52s %14.1f events/s   (engine at %.2f of it)\n", "memory floor: the same events' touches, no rules",
           mix_rate, rate / mix_rate);
    if (first) {
        double floor_rate = memory_floor(ncit, nev);
        printf("%-52s %14.1f events/s   (engine at %.2f of it)\n", "memory floor: random record + slot updates",
               floor_rate, rate / floor_rate);
        report("bytes of engine state per citizen", (double)xy_engine_state_bytes(), "bytes", 32, 1);
        double all = (double)(rss_bytes() - rss0) / ncit - (double)nev * sizeof *ev / ncit;
        printf("%-52s %14.1f %-10s (registry, ID index, contacts, schedules; not a target)\n",
               "resident bytes per citizen, everything", all, "bytes");
    }
    free(ev);
    xy_engine_free(e);
}

/* Applies nev events of the given mix to ncit citizens, six times, each
 * on an engine set up afresh, and reports the median rate of the three
 * runs on memory the host backs (the target's figure) and of the three on
 * memory fresh from the host: a single run moves by up to a third with
 * what fresh memory costs at the moment (docs/performance-log.md). The first
 * call also prints the state size, the memory floor and resident memory,
 * measured on the last run. */
static void bench_engine(const xy_rules *r, uint32_t ncit, size_t nev, int typical, int first)
{
    city_pairs *cp = allowed_pairs(r, typical);
    double rates[3], cold[3];
    for (int run = 0; run < 6; run++) engine_run(r, cp, ncit, nev, typical, first, run, rates, cold);
    for (int c = 0; c < r->ncities; c++) free(cp[c].p);
    free(cp);
}

/* The floor under the engine: the same number of events, each updating a
 * random 32-byte record of ncit and, for a third of them, a random slot
 * of a 16-byte-slot table, prefetched as the engine does. What the engine
 * does beyond that is its own cost. */
static double memory_floor(uint32_t ncit, size_t nev)
{
    typedef struct { int64_t raw; int32_t pad[6]; } rec;
    typedef struct { uint64_t k, v; } slot;
    size_t nslots = 16u << 20;
    rec *st = xy__big_realloc(NULL, 0, (size_t)ncit * sizeof *st);
    slot *sl = xy__big_realloc(NULL, 0, nslots * sizeof *sl);
    uint32_t *who = malloc(nev * sizeof *who);
    for (size_t i = 0; i < nev; i++) who[i] = bench_rnd(ncit);
    for (uint32_t i = 0; i < ncit; i++) st[i].raw = i;
    memset(sl, 0, nslots * sizeof *sl); /* fault the pages in before timing */
    double t0 = xy__seconds();
    for (size_t i = 0; i < nev; i++) {
        if (i + 16 < nev) {
            __builtin_prefetch(&st[who[i + 16]], 1, 1);
            if (who[i + 16] % 3 == 0) __builtin_prefetch(&sl[xy__hash64(who[i + 16]) & (nslots - 1)], 1, 1);
        }
        st[who[i]].raw += (int64_t)(i & 7) - 3;
        if (who[i] % 3 == 0) {
            size_t j = xy__hash64(who[i]) & (nslots - 1);
            while (sl[j].k && sl[j].k != who[i] + 1ULL) j = (j + 1) & (nslots - 1);
            sl[j].k = who[i] + 1ULL;
            sl[j].v++;
        }
    }
    double t1 = xy__seconds();
    xy__big_free(st, (size_t)ncit * sizeof *st);
    xy__big_free(sl, nslots * sizeof *sl);
    free(who);
    return (double)nev / (t1 - t0);
}

/* The floor under the engine for the events it was just given: the same
 * array read in order and, per event, the memory the engine touches for
 * it with next to no work between: the citizen's 32-byte record updated;
 * for a behaviour with a yearly limit in the citizen's city, an 8-byte
 * entry found or placed in a table of the engine's yearly-count size
 * (probing from the start of a line, as the engine does); for one that
 * expires, a 24-byte item appended to a calendar-like buffer; and for an
 * expiry that falls due before the run ends, a second record updated
 * (another citizen, as the day-start work is). Random touches are fetched
 * 16 events ahead; every page is faulted in before the clock starts. The
 * engine's own cost is what it takes beyond this. */
static double memory_floor_mix(const xy_engine *e, const xy_event *ev, size_t nev, xy_day end)
{
    enum { LIMIT = 1, EXPIRES = 2, DUE = 4 };
    typedef struct { int64_t raw; int32_t pad[6]; } rec;
    typedef struct { uint32_t c; int32_t b; int64_t pts; uint64_t seq; } item;
    uint32_t ncit = e->n;
    size_t nring = (size_t)1 << 20; /* items: 24 MiB, reused like calendar blocks */
    rec *st = xy__big_realloc(NULL, 0, (size_t)ncit * sizeof *st);
    item *ring = xy__big_realloc(NULL, 0, nring * sizeof *ring);
    uint8_t *kind = malloc(nev);
    for (size_t i = 0; i < nev; i++) {
        const xy_city *city = &e->rules->cities[e->st[ev[i].citizen].city];
        const xy_behaviour *b = xy__city_behaviour(e->rules, city, ev[i].behaviour);
        kind[i] = (uint8_t)((b->limit ? LIMIT : 0) | (b->expires ? EXPIRES : 0) |
                            (b->expires && ev[i].date + b->expires <= end ? DUE : 0));
    }
    /* One table for both years, at most three quarters full even if
     * every limited event were a new entry: about as many slots as the
     * engine's two yearly tables have together. (Until the twenty-second run it
     * was made at most half full: twice the memory the engine's touches
     * spread over; docs/performance-log.md, "The fifteenth round".) */
    size_t nslots = 64, nlimited = 0;
    for (size_t i = 0; i < nev; i++) nlimited += kind[i] & LIMIT;
    while (nslots * 3 < nlimited * 4) nslots *= 2;
    uint64_t *sl = xy__big_realloc(NULL, 0, nslots * sizeof *sl);
    memset(st, 0, (size_t)ncit * sizeof *st);
    memset(sl, 0, nslots * sizeof *sl);
    memset(ring, 0, nring * sizeof *ring);
    const xy_lyear year = {.slot = sl, .mask = nslots - 1}; /* placed as the engine places */
    size_t nr = 0, half = nev / 2;
    double t0 = xy__seconds();
    for (size_t i = 0; i < nev; i++) {
        if (i + 16 < nev) {
            const xy_event *f = &ev[i + 16];
            __builtin_prefetch(&st[f->citizen], 1, 1);
            if (kind[i + 16] & LIMIT)
                __builtin_prefetch(xy__limits_home(&year, xy__limits_hash(f->citizen, f->behaviour)), 1, 1);
            if (kind[i + 16] & DUE) __builtin_prefetch(&st[ev[(i + 16 + half) % nev].citizen], 1, 1);
        }
        uint32_t c = ev[i].citizen;
        st[c].raw += ev[i].date & 7;
        if (kind[i] & LIMIT) {
            uint64_t key = xy__limits_key(c, ev[i].behaviour);
            size_t j = (size_t)(xy__limits_home(&year, xy__hash64(key >> 8)) - sl);
            while (sl[j] && (sl[j] & ~(uint64_t)0xff) != key) j = (j + 1) & (nslots - 1);
            sl[j] = sl[j] ? sl[j] + 1 : key | 1;
        }
        if (kind[i] & EXPIRES) ring[nr++ & (nring - 1)] = (item){c, ev[i].behaviour, -1, ev[i].seq};
        if (kind[i] & DUE) st[ev[(i + half) % nev].citizen].raw -= 1;
    }
    double t1 = xy__seconds();
    xy__big_free(st, (size_t)ncit * sizeof *st);
    xy__big_free(sl, nslots * sizeof *sl);
    xy__big_free(ring, nring * sizeof *ring);
    free(kind);
    return (double)nev / (t1 - t0);
}

/* -------------------------------------------------------------- 3: CSV */

static void format_id(xy_resid id, char *out) { xy_resid_format(id, out); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Explanations of random citizens of an open data directory, as `explain
 * --json` builds them (history rerun from the trail, JSON, written out):
 * p99, median, and the slowest with its place in the sequence, which says
 * whether it waited on something at the start, during or after a
 * background snapshot. */
static void bench_explain(xy_db *db, const xy_resid *ids, uint32_t ncit, uint64_t stored, const char *when,
                          int snapping)
{
    enum { N = 1000 };
    static double ms[N];
    FILE *null = fopen("/dev/null", "w");
    if (!null) return;
    /* With a background snapshot started just before (snapping): how many
     * of the explanations ended while its child was still writing. */
    int during = 0, slowest = 0;
    for (int i = 0; i < N; i++) {
        char s[19];
        format_id(ids[bench_rnd(ncit)], s);
        double t0 = xy__seconds();
        int rc = xy_report_explain(db, s, XY_OUT_JSON, 0, null);
        ms[i] = (xy__seconds() - t0) * 1e3;
        if (rc) printf("explain %s failed: %s\n", s, xy_strerror(rc));
        if (snapping && during == i && xy__db_snapshot_running(db)) during++;
        if (ms[i] > ms[slowest]) slowest = i;
    }
    fclose(null);
    qsort(ms, N, sizeof *ms, cmp_double);
    char what[96], how[96];
    snprintf(what, sizeof what, "explain latency, p99 of %d, %.0f million stored", N, (double)stored / 1e6);
    report(what, ms[N * 99 / 100], "ms", 20, 1);
    if (snapping) snprintf(how, sizeof how, "%s through %d of them", when, during);
    else snprintf(how, sizeof how, "%s", when);
    printf("%-52s %14.2f ms   (max %.2f, explanation %d; %s)\n", "explain latency, median", ms[N / 2], ms[N - 1],
           slowest + 1, how);
}

/* A scratch directory for a part of the bench (dir, 128 bytes), with the
 * paths of its data directory and citizens file (300 bytes each). */
static int scratch(const char *what, char *dir, char *data, char *cfile)
{
    char why[256] = "";
    const char *tmp = bench_tmpdir(what, why, sizeof why);
    if (!tmp) {
        printf("no scratch directory: %s\n", why);
        return -1;
    }
    snprintf(dir, 128, "%s", tmp);
    snprintf(data, 300, "%s/data", dir);
    snprintf(cfile, 300, "%s/citizens.csv", dir);
    return 0;
}

/* Writes a citizens file of ncit people spread over the cities, with
 * their IDs and cities in *ids and *cities (the caller frees them). */
static void write_citizens(const xy_rules *r, const char *path, uint32_t ncit, xy_resid **ids_out, int **cities_out)
{
    xy_resid *ids = malloc(ncit * sizeof *ids);
    int *cities = malloc(ncit * sizeof *cities);
    xy_map seen = {0};
    xy__map_init(&seen, ncit);
    FILE *f = fopen(path, "w");
    fprintf(f, "id,name,city\n");
    xy_day lo = day_of("1940-01-01"), span = day_of("2000-01-01") - lo;
    for (uint32_t i = 0; i < ncit; i++) {
        int city = (int)(i % (uint32_t)r->ncities);
        int is_new = 0;
        xy_resid id;
        do {
            id = make_id(region_code(r, city), lo + (xy_day)bench_rnd((uint32_t)span), bench_rnd(1000));
            xy__map_put(&seen, id, &is_new);
        } while (!is_new);
        ids[i] = id;
        cities[i] = city;
        char s[19];
        format_id(id, s);
        fprintf(f, "%s,Citizen %u,%s\n", s, i, r->cities[city].id);
    }
    fclose(f);
    xy__map_free(&seen);
    *ids_out = ids;
    *cities_out = cities;
}

/* ------------------------------------------- 4: explanations on a long history */

/* A data directory of ncit citizens and nev events appended over two
 * years (background snapshots as the log grows, as in use), then
 * explanations of random citizens. */
static void bench_history(const xy_rules *r, const char *rules_dir, uint32_t ncit, size_t nev)
{
    char dir[128], data[300], cfile[300];
    if (scratch("history", dir, data, cfile)) return;
    xy_resid *ids;
    int *cities;
    write_citizens(r, cfile, ncit, &ids, &cities);
    city_pairs *cp = allowed_pairs(r, 1);
    xy_db *db;
    xy_load_result res;
    if (xy_db_create(data, rules_dir, quiet, NULL) || xy_db_open(data, XY_WRITE, quiet, NULL, &db) ||
        xy_db_load_csv(db, XY_LOAD_CITIZENS, cfile, NULL, quiet, NULL, &res)) {
        printf("cannot build a data directory in %s\n", dir);
        return;
    }
    size_t batch = 1000000;
    xy_event *ev = malloc(batch * sizeof *ev);
    char *idtext = malloc(batch * 16);
    const char **idp = malloc(batch * sizeof *idp);
    xy_day start = day_of("2023-01-01");
    double t0 = xy__seconds();
    for (size_t done = 0; done < nev; done += batch) {
        size_t m = nev - done < batch ? nev - done : batch;
        for (size_t i = 0; i < m; i++) {
            uint32_t c = bench_rnd(ncit);
            pair pr = draw(&cp[cities[c]]);
            ev[i] = (xy_event){0, c, pr.behaviour, pr.agency, XY_NONE, start + (xy_day)((done + i) * 730 / nev),
                               bench_rnd(4) ? (int64_t)bench_rnd(20000) * XY_MICRO : -1};
            snprintf(idtext + i * 16, 16, "h%zu", done + i);
            idp[i] = idtext + i * 16;
        }
        int rc = xy_db_append_events(db, ev, idp, m, quiet, NULL, NULL);
        if (rc) {
            printf("append failed: %s\n", xy_strerror(rc));
            break;
        }
    }
    double t1 = xy__seconds();
    printf("history: %zu events for %u citizens appended in %.1f s (%.2f million/s, background snapshots included)\n",
           nev, ncit, t1 - t0, (double)nev / (t1 - t0) / 1e6);
    /* Right after the appends, with a background snapshot started for the
     * purpose (after the one the appends may have left running) writing
     * gigabytes; then once it is done and the store is idle. */
    int brc = xy__db_snapshot_start(db);
    if (brc) printf("history: no background snapshot: %s\n", xy_strerror(brc));
    bench_explain(db, ids, ncit, (uint64_t)nev, "a background snapshot ran", 1);
    double t2 = xy__seconds();
    int src = xy_db_snapshot(db, quiet, NULL);
    printf("history: snapshot written in %.1f s, rc %d\n", xy__seconds() - t2, src);
    bench_explain(db, ids, ncit, (uint64_t)nev, "idle store", 0);
    xy_db_close(db);
    free(ev);
    free(idtext);
    free(idp);
    free(ids);
    free(cities);
    for (int c = 0; c < r->ncities; c++) free(cp[c].p);
    free(cp);
    bench_rmdir(dir);
}

/* The events load of bench_csv once more, in a data directory of its own
 * beside it, with memory fresh from the host: builds the directory, loads
 * the citizens, then times the events load and returns its rate (0 if the
 * directory cannot be built). */
static double csv_cold(const char *rules_dir, const char *dir, const char *cfile, const char *efile)
{
    char data[300];
    snprintf(data, sizeof data, "%s/data-cold", dir);
    xy_db *db;
    xy_load_result res;
    if (xy_db_create(data, rules_dir, quiet, NULL) || xy_db_open(data, XY_WRITE, quiet, NULL, &db)) return 0;
    double rate = 0;
    if (xy_db_load_csv(db, XY_LOAD_CITIZENS, cfile, NULL, quiet, NULL, &res) == XY_OK) {
        double t0 = xy__seconds();
        int rc = xy_db_load_csv(db, XY_LOAD_EVENTS, efile, NULL, quiet, NULL, &res);
        double t1 = xy__seconds();
        if (rc == XY_OK) rate = (double)res.applied / (t1 - t0);
    }
    xy_db_close(db);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", data);
    if (system(cmd)) printf("could not remove %s\n", data);
    return rate;
}

static void bench_csv(const xy_rules *r, const char *rules_dir, uint32_t ncit, size_t nev)
{
    char why[256] = "", dir[128], data[300], cfile[300], efile[300];
    if (scratch("bench", dir, data, cfile)) return;
    snprintf(efile, sizeof efile, "%s/events.csv", dir);
    city_pairs *cp = allowed_pairs(r, 1);
    xy_resid *ids;
    int *cities;
    write_citizens(r, cfile, ncit, &ids, &cities);
    FILE *f;
    f = fopen(efile, "w");
    fprintf(f, "id,date,citizen,behaviour,agency,amount\n");
    xy_day start = day_of("2023-01-01");
    for (size_t i = 0; i < nev; i++) {
        uint32_t c = bench_rnd(ncit);
        const city_pairs *p = &cp[cities[c]];
        pair pr = draw(p);
        char s[19], d[XY_DAY_CHARS];
        format_id(ids[c], s);
        xy_day_format(start + (xy_day)(i * 730 / nev), d);
        fprintf(f, "e%zu,%s,%s,%s,%s,", i, d, s, r->behaviour_names.str[pr.behaviour], r->agency_names.str[pr.agency]);
        if (bench_rnd(4)) fprintf(f, "%u", bench_rnd(20000));
        fputc('\n', f);
    }
    fclose(f);
    /* First the same load with memory fresh from the host, to print beside
     * the target's figure (see host_backed). */
    double cold = csv_cold(rules_dir, dir, cfile, efile);
    xy_db *db;
    if (xy_db_create(data, rules_dir, quiet, NULL) || xy_db_open(data, XY_WRITE, quiet, NULL, &db)) {
        printf("cannot create a data directory in %s\n", dir);
        return;
    }
    xy_load_result res;
    double t0 = xy__seconds();
    int rc = xy_db_load_csv(db, XY_LOAD_CITIZENS, cfile, NULL, quiet, NULL, &res);
    double t1 = xy__seconds();
    printf("loaded %llu citizens from CSV in %.2f s (%.1f million/s), rc %d\n", (unsigned long long)res.applied,
           t1 - t0, (double)res.applied / (t1 - t0) / 1e6, rc);
    double cs[3];
    xy__db_commit_secs(db, cs);
    host_backed((size_t)1 << 30);
    perf_ctl("csv", "enable");
    t0 = xy__seconds();
    rc = xy_db_load_csv(db, XY_LOAD_EVENTS, efile, NULL, quiet, NULL, &res);
    t1 = xy__seconds();
    perf_ctl("csv", "disable");
    printf("loaded %llu events from CSV in %.2f s, rc %d\n", (unsigned long long)res.applied, t1 - t0, rc);
    commit_split(db, cs, t1 - t0);
    report("CSV events loaded per second (durable, end to end)", (double)res.applied / (t1 - t0), "events/s", 2e6, 0);
    printf("%-52s %14.1f events/s   (a directory of its own, loaded first; the host's first touch included)\n",
           "  the same, memory fresh from the host", cold);
    t0 = xy__seconds();
    rc = xy_db_load_csv(db, XY_LOAD_EVENTS, efile, NULL, quiet, NULL, &res);
    t1 = xy__seconds();
    printf("re-loaded the same file in %.2f s: %llu duplicates, %llu applied, rc %d\n", t1 - t0,
           (unsigned long long)res.duplicates, (unsigned long long)res.applied, rc);

    /* The in-process append path: the same events as a CSV load would give,
     * handed over as structs with their ids, in batches of a million, all
     * made before the clock starts. A call returns once its batch is
     * durable and leaves applying it to a second thread, which the next
     * call overlaps; the clock stops once the last batch is applied too. */
    size_t nappend = nev, batch = 1000000;
    xy_event *ev = malloc(nappend * sizeof *ev);
    char *idtext = malloc(nappend * 16);
    const char **idp = malloc(nappend * sizeof *idp);
    xy_day today = xy_engine_today(xy_db_engine(db));
    for (size_t i = 0; i < nappend; i++) {
        uint32_t c = bench_rnd(ncit);
        const city_pairs *p = &cp[cities[c]];
        pair pr = draw(p);
        ev[i] = (xy_event){0, c, pr.behaviour, pr.agency, XY_NONE, today, bench_rnd(4) ? (int64_t)bench_rnd(20000) * XY_MICRO : -1};
        snprintf(idtext + i * 16, 16, "a%u", (unsigned)i);
        idp[i] = idtext + i * 16;
    }
    xy__db_commit_secs(db, cs);
    host_backed((size_t)2 << 30);
    perf_ctl("append", "enable");
    t0 = xy__seconds();
    for (size_t done = 0; done < nappend; done += batch) {
        size_t m = nappend - done < batch ? nappend - done : batch;
        rc = xy_db_append_events(db, ev + done, idp + done, m, quiet, NULL, NULL);
        if (rc) printf("append failed: %s\n", xy_strerror(rc));
    }
    (void)xy_db_engine(db); /* waits for the last batch to be applied */
    t1 = xy__seconds();
    perf_ctl("append", "disable");
    double tappend = t1 - t0;
    double now[3];
    xy__db_commit_secs(db, now);
    printf("  of which: log space %.2f s, waiting for log writes and fdatasync %.2f s; applying took %.2f s "
           "on the second thread\n", now[0] - cs[0], now[1] - cs[1], now[2] - cs[2]);
    double append_rate = (double)nappend / tappend;
    report("in-process append per second (durable)", append_rate, "events/s", 15e6, 0);

    /* The peers on the same workload: durable score changes for the same
     * population. SQLite gets a fifth of the operations (it is slow enough
     * that the rate settles well within that). */
    int peers = !getenv("XY_BENCH_PEERS") || atoi(getenv("XY_BENCH_PEERS")) != 0;
    if (!peers) snprintf(why, sizeof why, "XY_BENCH_PEERS=0");
    if (peers) host_backed((size_t)1 << 30);
    double redis = peers ? peer_redis(ncit, nappend, why, sizeof why) : 0;
    if (redis > 0) {
        printf("%-52s %14.1f ops/s\n", "peer: Redis INCRBY, pipelined, appendfsync everysec", redis);
        report("ratio xinyong append / Redis", append_rate / redis, "x", 20, 0);
    } else {
        printf("peer Redis not measured: %s\n", why);
    }
    if (peers) host_backed((size_t)1 << 30);
    double sqlite = peers ? peer_sqlite(ncit, nappend / 5, why, sizeof why) : 0;
    if (sqlite > 0) {
        printf("%-52s %14.1f ops/s\n", "peer: SQLite UPDATE, WAL, synchronous=FULL, 10^4/txn", sqlite);
        report("ratio xinyong append / SQLite", append_rate / sqlite, "x", 100, 0);
    } else {
        printf("peer SQLite not measured: %s\n", why);
    }
    free(ev);
    free(idtext);
    free(idp);

    /* Start-up: from a snapshot, and by replaying the whole log. */
    t0 = xy__seconds();
    rc = xy_db_snapshot(db, quiet, NULL);
    t1 = xy__seconds();
    printf("snapshot of %u citizens and %zu events written in %.2f s, rc %d\n", ncit, nev + nappend, t1 - t0, rc);
    bench_explain(db, ids, ncit, (uint64_t)(nev + nappend), "after a snapshot", 0);
    xy_db_close(db);
    host_backed((size_t)3 << 30);
    perf_ctl("snapshot", "enable");
    t0 = xy__seconds();
    rc = xy_db_open(data, XY_READ, quiet, NULL, &db);
    t1 = xy__seconds();
    perf_ctl("snapshot", "disable");
    report("start-up from a snapshot, seconds", t1 - t0, "s", 2.0, 1);
    xy_db_close(db);
    char snap[320];
    snprintf(snap, sizeof snap, "%s/snapshot", data);
    unlink(snap);
    host_backed((size_t)4 << 30);
    perf_ctl("replay", "enable");
    t0 = xy__seconds();
    rc = xy_db_open(data, XY_READ, quiet, NULL, &db);
    t1 = xy__seconds();
    perf_ctl("replay", "disable");
    report("replay of the whole log at start-up", (double)(nev + nappend) / (t1 - t0), "events/s", 20e6, 0);
    xy_db_close(db);
    free(ids);
    free(cities);
    for (int c = 0; c < r->ncities; c++) free(cp[c].p);
    free(cp);
    bench_rmdir(dir);
}

/* ----------------------------------------------------------- 4: lookups */

static xy_rules *generated_city(int nbehaviours, char ***names_out)
{
    char dir[] = "/tmp/xy-bench-rules-XXXXXX";
    if (!mkdtemp(dir)) return NULL;
    char path[300];
    snprintf(path, sizeof path, "%s/gen.rules", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "city gen\nscore base 1000 min 0\ngrade A from 0\n");
    char **names = malloc((size_t)nbehaviours * sizeof *names);
    for (int i = 0; i < nbehaviours; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "behaviour_number_%05d", i);
        names[i] = strdup(buf);
        fprintf(f, "behaviour %s points %d category cat%d\n", buf, (i % 21) - 10, i % 7);
    }
    fprintf(f, "agency office reports category cat0 cat1 cat2 cat3 cat4 cat5 cat6\n");
    fclose(f);
    xy_rules *r = NULL;
    const char *p = path;
    xy_rules_load_files(&p, 1, quiet, NULL, &r);
    unlink(path);
    rmdir(dir);
    *names_out = names;
    return r;
}

/* A generated city and a query stream over `distinct` of its names. */
typedef struct lookup_case {
    xy_rules *r;         /* the ruleset */
    char **names;        /* its behaviour names */
    int nbehaviours;     /* how many */
    const char **q;      /* queries */
    size_t *qn;          /* their lengths */
    int32_t office;      /* the agency asked about */
    double best;         /* best time of one pass */
} lookup_case;

enum { NQ = 1 << 20 };

static void lookup_setup(lookup_case *lc, int nbehaviours, int distinct)
{
    lc->r = generated_city(nbehaviours, &lc->names);
    lc->nbehaviours = nbehaviours;
    lc->q = malloc(NQ * sizeof *lc->q);
    lc->qn = malloc(NQ * sizeof *lc->qn);
    /* The names asked are drawn at random among the city's: names at a
     * fixed stride (every thousandth) put their per-name entries at
     * addresses a power of two apart, which share a set of the first-level
     * cache and evict each other, a cost of the query stream rather than
     * of the lookup. */
    int pick[16];
    for (int k = 0; k < distinct && distinct < nbehaviours && k < 16; k++) pick[k] = (int)bench_rnd((uint32_t)nbehaviours);
    for (int i = 0; i < NQ; i++) {
        uint32_t k = bench_rnd((uint32_t)distinct);
        lc->q[i] = lc->names[distinct < nbehaviours && distinct <= 16 ? pick[k] : (int)k];
        lc->qn[i] = strlen(lc->q[i]);
    }
    lc->office = xy_rules_agency_id(lc->r, "office", 6);
    lc->best = 1e9;
}

/* One timed pass of 8 Mi lookups; keeps the best time. */
static void lookup_pass(lookup_case *lc)
{
    size_t n = 8u << 20;
    long ok = 0;
    double t0 = xy__seconds();
    for (size_t i = 0; i < n; i++) {
        size_t k = i & (NQ - 1);
        int32_t b = xy_rules_behaviour_id(lc->r, lc->q[k], lc->qn[k]);
        ok += xy_rules_may_report(lc->r, 0, lc->office, b) == XY_OK;
    }
    double t1 = xy__seconds();
    if ((size_t)ok != n) printf("lookup check failed: %ld of %zu\n", ok, n);
    if (t1 - t0 < lc->best) lc->best = t1 - t0;
}

static double lookup_rate(lookup_case *lc)
{
    double rate = (double)(8u << 20) / lc->best;
    for (int i = 0; i < lc->nbehaviours; i++) free(lc->names[i]);
    free(lc->names);
    free(lc->q);
    free(lc->qn);
    xy_rules_free(lc->r);
    return rate;
}

static void bench_lookups(void)
{
    /* A lookup is a behaviour name to its definition and the agency check.
     * First ten names are asked of each city (every name has the same
     * length; the large city's ten are drawn at random among its own): the
     * cost of the algorithm, which must not grow with the number of rules.
     * Then every
     * name of the large city is asked at random: that adds the cost of a
     * table too large for the first-level caches, shown for information.
     * The cases take turns, best of seven passes each, so that drift in
     * the machine falls on both alike. Each city is built three times and
     * the median of the three counts: where a city's tables and the ten
     * names land decides which share a cache set, which moved one city's
     * rate by up to a tenth from one process to the next. */
    enum { COPIES = 3 };
    lookup_case cs[2 * COPIES + 1];
    for (int c = 0; c < COPIES; c++) {
        lookup_setup(&cs[2 * c], 10, 10);
        lookup_setup(&cs[2 * c + 1], 10000, 10);
    }
    lookup_setup(&cs[2 * COPIES], 10000, 10000);
    for (int pass = 0; pass < 7; pass++)
        for (int k = 0; k < 2 * COPIES + 1; k++) lookup_pass(&cs[k]);
    double rs[COPIES], rl[COPIES];
    for (int c = 0; c < COPIES; c++) {
        rs[c] = lookup_rate(&cs[2 * c]);
        rl[c] = lookup_rate(&cs[2 * c + 1]);
    }
    double small = median3(rs), large = median3(rl), spread = lookup_rate(&cs[2 * COPIES]);
    double ratio = large / small;
    printf("%-52s %14.1f lookups/s  (median of %.1f, %.1f, %.1f million)\n", "rule lookups per second, 10-behaviour city",
           small, rs[0] / 1e6, rs[1] / 1e6, rs[2] / 1e6);
    printf("%-52s %14.1f lookups/s  (median of %.1f, %.1f, %.1f million)\n",
           "rule lookups per second, 10,000-behaviour city", large, rl[0] / 1e6, rl[1] / 1e6, rl[2] / 1e6);
    printf("%-52s %14.2f            target 0.90-1.10 (equal within noise)  %s\n",
           "ratio 10,000 / 10 behaviours, ten names each", ratio,
           ratio >= 0.9 && ratio <= 1.1 ? "ok" : "OUTSIDE TARGET");
    printf("%-52s %14.1f lookups/s  (%.2f of the small city; cache effect)\n",
           "10,000-behaviour city, all names at random", spread, spread / small);
    printf("\n");
}

/* -------------------------------------------- prefetches and page walks */

/* The cost of one step of a loop that reads a random 64-byte line of a
 * region of mb MiB (huge pages asked for, every page faulted in before
 * the clock starts) and then does a chain of about 200 dependent
 * instructions, as the store's loops do between accesses. With grouped
 * 0 the line is fetched 16 steps ahead, one fetch per step; with grouped
 * 1 the lines of 32 steps are fetched together, one group ahead. Returns
 * nanoseconds per step. */
static double walk_step(size_t mb, int grouped)
{
    enum { STEPS = 4000000, GROUP = 32 };
    size_t bytes = mb << 20;
    unsigned char *m = xy__big_realloc(NULL, 0, bytes);
    memset(m, 1, bytes);
    uint64_t *at = malloc(STEPS * sizeof *at);
    for (size_t i = 0; i < STEPS; i++) at[i] = ((uint64_t)bench_rnd(1u << 30) << 20 | bench_rnd(1u << 20)) % (bytes / 64) * 64;
    uint64_t acc = 0;
    double t0 = xy__seconds();
    for (size_t g = 0; g < STEPS; g += GROUP) {
        if (grouped)
            for (size_t i = g + GROUP; i < g + 2 * GROUP && i < STEPS; i++) XY_PREFETCH(m + at[i]);
        for (size_t i = g; i < g + GROUP; i++) {
            if (!grouped && i + 16 < STEPS) XY_PREFETCH(m + at[i + 16]);
            acc += *(volatile unsigned char *)(m + at[i]);
            uint64_t x = i;
            for (int k = 0; k < 40; k++) {
                x = x * 6364136223846793005ULL + (uint64_t)k;
                x ^= x >> 7;
            }
            acc += x;
        }
    }
    double t1 = xy__seconds();
    xy__big_free(m, bytes);
    free(at);
    if (acc == 42) printf("\n"); /* keeps the work */
    return (t1 - t0) / STEPS * 1e9;
}

/* `build/bench 0 0 walks`: what a prefetch costs by the size of the memory
 * it reaches into (docs/performance-log.md). Not part of the default run. */
static void bench_walks(void)
{
    static const size_t sizes[] = {1, 64, 256, 512, 1024, 2048};
    printf("random reads with work between them, ns per step (1 MiB: the work alone)\n");
    printf("%10s %14s %14s\n", "MiB", "one by one", "32 together");
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        printf("%10zu %14.1f %14.1f\n", sizes[k], walk_step(sizes[k], 0), walk_step(sizes[k], 1));
}

/* Seconds to populate n bytes of fresh memory (huge pages offered, as the
 * library's big tables are) and give them back, or -1 if they cannot be
 * mapped. With two, the library's way: xy__populate, on two threads. */
static double populate_secs(size_t n, int two)
{
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    (void)madvise(p, n, MADV_HUGEPAGE);
    double t = xy__seconds();
    if (two) xy__populate(p, n);
#ifdef MADV_POPULATE_WRITE
    else if (madvise(p, n, MADV_POPULATE_WRITE))
#else
    else
#endif
        memset(p, 1, n);
    t = xy__seconds() - t;
    munmap(p, n);
    return t;
}

/* Touches bytes of fresh memory and gives them back, just before a timed
 * part, so that the memory the part takes next comes from pages the host
 * still backs. On this virtual machine the host takes back what the guest
 * frees within seconds (free page reporting), and the first touch of a
 * page then costs a fault in the host as well as the guest's zeroing: up
 * to 3.9 s a gigabyte on the hosts of this project's runs, against about
 * 0.1 s for pages the host backs, which is also what the kernel's zeroing
 * costs on a machine of its own. That first touch is the host's price, not
 * the program's, and it moves from 0.1 to 3.9 s a gigabyte between hosts
 * and hours, so the target figures are measured without it and the same
 * part with it is printed beside them (docs/performance-log.md, "Memory the
 * host backs"). The guest's zeroing stays inside the timed part. */
static void host_backed(size_t bytes)
{
    (void)populate_secs(bytes, 0);
}

/* Seconds a fresh gigabyte costs (on two threads with two). */
static double fresh_gb_on(int two)
{
    size_t n = (size_t)1 << 30;
    return populate_secs(n, two) / ((double)n / 1e9);
}
static double fresh_gb(void) { return fresh_gb_on(0); }

/* On this virtual machine (Firecracker, with free page reporting) memory
 * the guest frees goes back to the host within seconds, and the next first
 * touch of it costs a fault in the host as well: 0.5-1.1 s a gigabyte,
 * against about 0.2 s for memory the host still backs (docs/performance-log.md,
 * "Fresh memory on this machine"). Every part of the bench builds its
 * tables afresh, so their figures move with it; the cost at the start of
 * the run is printed beside them. */
static void print_fresh_memory(void)
{
    printf("fresh memory at the start: %.2f s a GB\n\n", fresh_gb());
}

/* The processor and memory the figures come from: the project's machine
 * has not always been the same one (docs/performance-log.md). */
static void print_machine(void)
{
    char model[160] = "unknown processor", line[256];
    double mhz = 0;
    unsigned long long mem_kb = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        if (strncmp(line, "model name", 10) == 0 && strcmp(model, "unknown processor") == 0) {
            snprintf(model, sizeof model, "%s", colon + 2);
            model[strcspn(model, "\n")] = 0;
        } else if (strncmp(line, "cpu MHz", 7) == 0 && mhz == 0) {
            mhz = atof(colon + 1);
        }
    }
    if (f) fclose(f);
    f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %llu kB", &mem_kb) == 1) break;
    if (f) fclose(f);
    printf("machine: %ld x %s at %.0f MHz, %.1f GiB\n", sysconf(_SC_NPROCESSORS_ONLN), model, mhz,
           (double)mem_kb / (1024.0 * 1024.0));
}

/* `build/bench 0 0 fresh`: what a fresh gigabyte costs now, right after the
 * memory available (less 2 GB) has been touched once and freed, and again
 * 20 seconds later, when the host has taken the freed memory back; then,
 * 20 seconds after that each time, populated on one thread and on two
 * (xy__populate, as the library's big tables are). */
static void bench_fresh(void)
{
    double before = fresh_gb();
    size_t avail = 0, gb = (size_t)1 << 30, n = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %zu kB", &avail) == 1) avail *= 1024;
    if (f) fclose(f);
    if (avail > 3 * gb) n = (avail - 2 * gb) & ~(gb - 1);
    double t = n ? populate_secs(n, 0) : 0;
    double after = fresh_gb();
    sleep(20);
    printf("fresh memory: %.2f s a GB; %.1f GB touched once and freed in %.1f s; then %.2f s a GB; "
           "20 s later %.2f s a GB\n",
           before, t >= 0 ? (double)n / 1e9 : 0.0, t, after, fresh_gb());
    for (int k = 0; k < 4; k++) {
        sleep(20);
        printf("20 s later, on %s thread%s: %.2f s a GB\n", k % 2 ? "two" : "one", k % 2 ? "s" : "",
               fresh_gb_on(k % 2));
    }
}

/* Seconds of system time this process has used. */
static double sys_secs(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* `build/bench 0 0 writeback`: a gigabyte written to a file in writes of
 * 8 MB, as the log's parts are, left in the page cache (then fdatasync)
 * or written back and dropped after each write (xy__write_back, as the
 * log's writer does), three times each in alternation, 20 s apart (the
 * memory the round before freed has gone back to the host by then, see
 * bench_fresh): the wall time and the system time each took. */
static void bench_writeback(void)
{
    char dir[] = "/tmp/xy-bench-wb-XXXXXX";
    if (!mkdtemp(dir)) return;
    char path[64];
    snprintf(path, sizeof path, "%s/file", dir);
    size_t chunk = (size_t)8 << 20, total = (size_t)1 << 30;
    char *buf = malloc(chunk);
    memset(buf, 7, chunk);
    for (int k = 0; k < 6; k++) {
        int drop = k % 2;
        sleep(20);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) break;
        double t0 = xy__seconds(), s0 = sys_secs();
        int err = 0;
        for (size_t off = 0; off < total && !err; off += chunk) {
            err = xy__write_all(fd, buf, chunk);
            if (!err && drop) err = xy__write_back(fd, off, chunk, 1);
        }
        if (!err && fdatasync(fd)) err = errno;
        printf("1 GB in 8 MB writes, %-28s %.2f s, %.2f s of it in the kernel%s\n",
               drop ? "each written back and dropped:" : "left in the page cache:", xy__seconds() - t0,
               sys_secs() - s0, err ? " (failed)" : "");
        close(fd);
        unlink(path);
    }
    free(buf);
    rmdir(dir);
}

/* `build/bench 0 0 pagecache`: a gigabyte file in the page cache, its
 * CRC-32 taken three times through a fresh mapping of the file and three
 * times read with pread in chunks of 4 MB, alternately: how a snapshot's
 * sections are best read (see xy__big_load). */
static void bench_pagecache(void)
{
    char dir[] = "/tmp/xy-bench-pc-XXXXXX";
    if (!mkdtemp(dir)) return;
    char path[64];
    snprintf(path, sizeof path, "%s/file", dir);
    size_t chunk = (size_t)4 << 20, total = (size_t)1 << 30;
    unsigned char *buf = malloc(chunk);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int err = fd < 0;
    for (size_t off = 0; off < total && !err; off += chunk) {
        for (size_t i = 0; i < chunk; i++) buf[i] = (unsigned char)(off / chunk * 131 + i * 7);
        err = xy__write_all(fd, buf, chunk) != 0;
    }
    if (!err && fdatasync(fd)) err = 1;
    for (int k = 0; k < 6 && !err; k++) {
        double t0 = xy__seconds();
        uint32_t crc = 0;
        if (k % 2 == 0) {
            unsigned char *m = mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0);
            if (m == MAP_FAILED) break;
            crc = xy__crc32(0, m, total);
            munmap(m, total);
        } else {
            for (size_t off = 0; off < total && !err; off += chunk) {
                err = xy__pread_all(fd, buf, chunk, off) != 0;
                crc = xy__crc32(crc, buf, chunk);
            }
        }
        double t = xy__seconds() - t0;
        printf("CRC-32 of 1 GB in the page cache, %-22s %.3f s, %.1f GB/s (%08x)\n",
               k % 2 ? "read in 4 MB chunks:" : "through a mapping:", t, (double)total / t / 1e9, crc);
    }
    if (fd >= 0) close(fd);
    unlink(path);
    free(buf);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    uint32_t ncit = argc > 1 ? (uint32_t)atol(argv[1]) : 10000000u;
    size_t nev = argc > 2 ? (size_t)atol(argv[2]) : 20000000u;
    const char *rules_dir = getenv("XY_RULES") ? getenv("XY_RULES") : "rules";
    xy_rules *r;
    if (xy_rules_load_dir(rules_dir, quiet, NULL, &r)) return 1;
    printf("xinyong bench: shipped rulesets (%d cities), %u citizens, %zu events\n\n", r->ncities, ncit, nev);
    print_machine();
    print_fresh_memory();
    const char *only = argc > 3 ? argv[3] : "";
    if (strcmp(only, "walks") == 0) bench_walks();
    if (strcmp(only, "fresh") == 0) bench_fresh();
    if (strcmp(only, "writeback") == 0) bench_writeback();
    if (strcmp(only, "pagecache") == 0) bench_pagecache();
    if (!*only || strcmp(only, "lookup") == 0) bench_lookups();
    int engine = !*only || strcmp(only, "engine") == 0;
    if (engine || strcmp(only, "typical") == 0) bench_engine(r, ncit, nev, 1, 1);
    if (engine || strcmp(only, "uniform") == 0) bench_engine(r, ncit, nev, 0, !engine);
    printf("\n");
    if (!*only || strcmp(only, "csv") == 0) bench_csv(r, rules_dir, ncit, nev / 2);
    printf("\n");
    /* Explanations at 100 million stored events (XY_BENCH_HISTORY sets
     * another count; 0 leaves this out), over 2 million citizens: 50
     * events each, a longer history per citizen than the runs above. */
    size_t hist = getenv("XY_BENCH_HISTORY") ? (size_t)atol(getenv("XY_BENCH_HISTORY")) : 100000000u;
    if ((!*only || strcmp(only, "history") == 0) && hist) bench_history(r, rules_dir, ncit / 5 ? ncit / 5 : 1, hist);
    printf("\n");
    xy_rules_free(r);
    return 0;
}
