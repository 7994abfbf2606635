/* ingest.c -- loading CSV files into a data directory (spec 2.10): the
 * header, per-row validation with FILE:LINE messages, duplicates, the
 * all-or-nothing rule and the rejects file. Validated rows become log
 * records in one batch, committed at the end. */
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "csv.h"
#include "store.h"

#define MAX_SHOWN_ERRORS 100 /* messages printed; the rest are counted */

enum { COL_MAX = 8 };

typedef struct loader {
    xy_db *db;               /* target */
    const char *path;        /* input file, for messages */
    xy_csv csv;              /* reader */
    int col[COL_MAX];        /* column index per field kind, or -1 */
    xy_buf *batch;           /* encoded records (xy__db_batch) */
    uint64_t nrecords;       /* records in batch */
    xy_buf rejects;          /* rejected rows with reasons */
    int want_rejects;        /* --rejects given */
    uint64_t errors;         /* bad rows */
    xy_diag_fn *diag;        /* sink */
    void *ctx;               /* its context */
    xy_load_result *res;     /* counts */
    xy_map staged;           /* per kind: keys staged by this file */
    xy_buf why;              /* the current row's reason */
    int kind;                /* XY_LOAD_* */
} loader;

static const char *const citizen_cols[] = {"id", "name", "city", "father", "mother", NULL};
static const int citizen_required[] = {1, 1, 0, 0, 0};
static const char *const contact_cols[] = {"a", "b", NULL};
static const int contact_required[] = {1, 1};
static const char *const event_cols[] = {"id", "date", "citizen", "behaviour", "agency",
                                         "amount", "counterpart", NULL};
static const int event_required[] = {1, 1, 1, 1, 1, 0, 0};

static int fail(loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records why the current row is bad; always returns -1. */
static int fail(loader *l, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->why.len = 0;
    xy_buf_printf(&l->why, "%s:%llu: %s", l->path, (unsigned long long)l->csv.line, msg);
    return -1;
}

static xy_field field(const loader *l, int kind)
{
    xy_field f = {"", 0};
    if (l->col[kind] >= 0 && (size_t)l->col[kind] < l->csv.nfields) f = l->csv.fields[l->col[kind]];
    return f;
}

static int read_header(loader *l, const char *const *names, const int *required)
{
    const char *why;
    int rc = xy_csv_next(&l->csv, &why);
    if (rc == 0) {
        xy__diagf(l->diag, l->ctx, "%s:1: empty file: expected a header row", l->path);
        return -1;
    }
    if (rc < 0) {
        xy__diagf(l->diag, l->ctx, "%s:%llu: malformed header: %s", l->path,
                  (unsigned long long)l->csv.line, why);
        return -1;
    }
    for (int k = 0; k < COL_MAX; k++) l->col[k] = -1;
    int bad = 0;
    for (size_t i = 0; i < l->csv.nfields; i++) {
        xy_field f = l->csv.fields[i];
        int k = 0;
        while (names[k] && !(strlen(names[k]) == f.n && memcmp(names[k], f.s, f.n) == 0)) k++;
        if (!names[k]) {
            xy__diagf(l->diag, l->ctx, "%s:%llu: unknown column '%.*s'", l->path,
                      (unsigned long long)l->csv.line, (int)f.n, f.s);
            bad = 1;
        } else if (l->col[k] >= 0) {
            xy__diagf(l->diag, l->ctx, "%s:%llu: column '%s' appears twice", l->path,
                      (unsigned long long)l->csv.line, names[k]);
            bad = 1;
        } else {
            l->col[k] = (int)i;
        }
    }
    for (int k = 0; names[k]; k++)
        if (required[k] && l->col[k] < 0) {
            xy__diagf(l->diag, l->ctx, "%s:%llu: missing column '%s'", l->path,
                      (unsigned long long)l->csv.line, names[k]);
            bad = 1;
        }
    if (!bad && l->want_rejects) {
        xy_buf_append(&l->rejects, l->csv.rec, l->csv.rec_len);
        xy_buf_append(&l->rejects, ",reason\n", 8);
    }
    return bad ? -1 : 0;
}

/* Parses a resident ID field; `what` names it in messages. */
static int parse_id(loader *l, xy_field f, const char *what, xy_resid *out)
{
    const char *why;
    if (f.n == 0) return fail(l, "%s is empty", what);
    if (xy_resid_parse(f.s, f.n, out, &why))
        return fail(l, "%s '%.*s' is not a valid resident ID: it %s", what, (int)f.n, f.s, why);
    return 0;
}

/* A registered citizen: in the state, or staged earlier in this file. */
static int registered_city(loader *l, xy_field f, const char *what, uint32_t *index, int *city)
{
    xy_resid id;
    int cy = -1;
    if (parse_id(l, f, what, &id)) return -1;
    uint32_t i = xy__engine_find_city(l->db->engine, id, &cy);
    if (i == XY_NONE) {
        const uint64_t *v = l->kind == XY_LOAD_CITIZENS ? xy_map_get(&l->staged, id) : NULL;
        if (!v) return fail(l, "%s %.*s is not registered", what, (int)f.n, f.s);
        i = (uint32_t)*v;
    }
    *index = i;
    if (city) *city = cy;
    return 0;
}

static int registered(loader *l, xy_field f, const char *what, uint32_t *index)
{
    return registered_city(l, f, what, index, NULL);
}

static int optional_parent(loader *l, xy_field f, const char *what, xy_resid self, uint32_t *index)
{
    *index = XY_NONE;
    if (f.n == 0) return 0;
    xy_resid id;
    if (parse_id(l, f, what, &id)) return -1;
    if (id == self) return fail(l, "%s is the citizen itself", what);
    return registered(l, f, what, index);
}

/* ------------------------------------------------------------- citizens */

static int citizen_row(loader *l)
{
    xy_engine *e = l->db->engine;
    const xy_rules *r = l->db->rules;
    xy_resid id;
    uint32_t father, mother;
    if (parse_id(l, field(l, 0), "id", &id)) return -1;
    xy_field name = field(l, 1), cityf = field(l, 2);
    if (name.n == 0) return fail(l, "name is empty");
    if (name.n > 1000) return fail(l, "name is longer than 1000 bytes");
    for (size_t i = 0; i < name.n; i++)
        if ((unsigned char)name.s[i] < 0x20) return fail(l, "name contains a control character");
    int city;
    if (cityf.n == 0) {
        city = xy__rules_city_of_region(r, xy_resid_region(id));
        if (city < 0)
            return fail(l, "city is empty and no city's region matches division code %06u",
                        xy_resid_region(id));
    } else {
        char buf[128];
        if (cityf.n >= sizeof buf) return fail(l, "unknown city '%.*s'", (int)cityf.n, cityf.s);
        memcpy(buf, cityf.s, cityf.n);
        buf[cityf.n] = 0;
        city = xy_rules_city_find(r, buf);
        if (city < 0) return fail(l, "unknown city '%s'", buf);
    }
    if (optional_parent(l, field(l, 3), "father", id, &father)) return -1;
    if (optional_parent(l, field(l, 4), "mother", id, &mother)) return -1;
    uint32_t have = xy_engine_find(e, id);
    if (have != XY_NONE) {
        if (e->st[have].city == city && e->father[have] == father && e->mother[have] == mother &&
            strlen(xy__name(e, have)) == name.n && memcmp(xy__name(e, have), name.s, name.n) == 0) {
            l->res->duplicates++;
            return 0;
        }
        return fail(l, "citizen %.*s is already registered with different data",
                    (int)field(l, 0).n, field(l, 0).s);
    }
    int is_new;
    uint64_t *slot = xy_map_put(&l->staged, id, &is_new);
    if (!is_new) return fail(l, "citizen %.*s appears twice in this file", (int)field(l, 0).n, field(l, 0).s);
    *slot = e->n + l->nrecords;
    xy__rec_citizen(l->batch, id, city, father, mother, name.s, name.n);
    l->nrecords++;
    l->res->applied++;
    return 0;
}

/* ------------------------------------------------------------- contacts */

static int contact_row(loader *l)
{
    uint32_t a, b;
    if (registered(l, field(l, 0), "a", &a) || registered(l, field(l, 1), "b", &b)) return -1;
    if (a == b) return fail(l, "a citizen cannot be its own contact");
    uint64_t key = a < b ? (uint64_t)a << 32 | b : (uint64_t)b << 32 | a;
    int is_new;
    if (xy_map_get(&l->db->engine->edge_set, key)) {
        l->res->duplicates++;
        return 0;
    }
    xy_map_put(&l->staged, key, &is_new);
    if (!is_new) {
        l->res->duplicates++;
        return 0;
    }
    xy__rec_contact(l->batch, a, b);
    l->nrecords++;
    l->res->applied++;
    return 0;
}

/* --------------------------------------------------------------- events */

static int valid_event_id(xy_field f)
{
    if (f.n < 1 || f.n > 64) return 0;
    for (size_t i = 0; i < f.n; i++) {
        char c = f.s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

/* Parses a non-negative decimal amount into micro-units. */
static int parse_amount(loader *l, xy_field f, int64_t *out)
{
    *out = -1;
    if (f.n == 0) return 0;
    if (f.s[0] == '-') return fail(l, "amount '%.*s' is negative", (int)f.n, f.s);
    int64_t whole = 0, frac = 0;
    int fd = 0;
    size_t i = 0;
    if (f.s[0] == '+') i++;
    int digits = 0;
    for (; i < f.n && f.s[i] >= '0' && f.s[i] <= '9'; i++, digits++) {
        if (whole > 1000000000000LL) return fail(l, "amount '%.*s' is too large", (int)f.n, f.s);
        whole = whole * 10 + (f.s[i] - '0');
    }
    if (i < f.n && f.s[i] == '.') {
        for (i++; i < f.n && f.s[i] >= '0' && f.s[i] <= '9'; i++, fd++) {
            if (fd >= 6) return fail(l, "amount '%.*s' has more than 6 decimals", (int)f.n, f.s);
            frac = frac * 10 + (f.s[i] - '0');
            digits++;
        }
    }
    if (i != f.n || digits == 0) return fail(l, "amount '%.*s' is not a number", (int)f.n, f.s);
    for (; fd < 6; fd++) frac *= 10;
    *out = whole * XY_MICRO + frac;
    return 0;
}

static int event_row(loader *l)
{
    xy_db *db = l->db;
    const xy_rules *r = db->rules;
    xy_field idf = field(l, 0), datef = field(l, 1), bf = field(l, 3), af = field(l, 4);
    xy_field cpf = field(l, 6);
    xy_event ev = {0};
    if (!valid_event_id(idf))
        return fail(l, "event id '%.*s' must be 1-64 characters of A-Z a-z 0-9 . _ : -", (int)idf.n, idf.s);
    if (xy_day_parse(datef.s, datef.n, &ev.date))
        return fail(l, "date '%.*s' is not a valid YYYY-MM-DD date", (int)datef.n, datef.s);
    int cy;
    if (registered_city(l, field(l, 2), "citizen", &ev.citizen, &cy)) return -1;
    const xy_city *city = &r->cities[cy];
    ev.behaviour = xy_rules_behaviour_id(r, bf.s, bf.n);
    if (ev.behaviour < 0 || !xy__city_behaviour(r, city, ev.behaviour))
        return fail(l, "behaviour '%.*s' is not defined in city %s", (int)bf.n, bf.s, city->id);
    ev.agency = xy_rules_agency_id(r, af.s, af.n);
    if (ev.agency < 0) return fail(l, "unknown agency '%.*s'", (int)af.n, af.s);
    if (xy_rules_may_report(r, cy, ev.agency, ev.behaviour))
        return fail(l, "agency '%.*s' may not report '%.*s' in city %s", (int)af.n, af.s, (int)bf.n,
                    bf.s, city->id);
    if (parse_amount(l, field(l, 5), &ev.amount)) return -1;
    ev.counterpart = XY_NONE;
    if (cpf.n && registered(l, cpf, "counterpart", &ev.counterpart)) return -1;
    uint64_t content = xy__event_content_hash(&ev);
    uint64_t had, seq, key[2];
    xy_evindex_key(idf.s, idf.n, key);
    if (xy__db_find_event(db, key, &had, &seq)) {
        if (had == content) {
            l->res->duplicates++;
            return 0;
        }
        if (seq != UINT64_MAX && seq >= db->nevents)
            return fail(l, "event id %.*s appears twice in this file with different content", (int)idf.n, idf.s);
        return fail(l, "event id %.*s was already loaded with different content", (int)idf.n, idf.s);
    }
    xy__db_stage_event(db, key, content);
    xy__rec_event(l->batch, &ev, idf.s, idf.n);
    l->nrecords++;
    l->res->applied++;
    return 0;
}

/* ------------------------------------------------------------------ load */

static void scout_row(loader *l, xy_csv *scout)
{
    const char *why;
    if (xy_csv_next(scout, &why) <= 0) return;
    int ci = l->col[2], ii = l->col[0];
    if (ci >= 0 && (size_t)ci < scout->nfields) {
        xy_resid id;
        if (xy_resid_parse(scout->fields[ci].s, scout->fields[ci].n, &id, NULL) == XY_OK)
            xy_map_prefetch(&l->db->engine->by_id, id);
    }
    if (ii >= 0 && (size_t)ii < scout->nfields)
        xy__db_prefetch_event(l->db, scout->fields[ii].s, scout->fields[ii].n);
}

static int write_rejects(const char *path, const xy_buf *b)
{
    FILE *f = fopen(path, "wb");
    if (!f) return XY_EIO;
    size_t n = b->len ? fwrite(b->data, 1, b->len, f) : 0;
    int bad = n != b->len || fflush(f) || fsync(fileno(f));
    bad |= fclose(f) != 0;
    return bad ? XY_EIO : XY_OK;
}

static void csv_quote(xy_buf *b, const char *s, size_t n)
{
    xy_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') xy_buf_append(b, "\"", 1);
        xy_buf_append(b, &s[i], 1);
    }
    xy_buf_append(b, "\"", 1);
}

int xy_db_load_csv(xy_db *db, int kind, const char *path, const char *rejects_path,
                   xy_diag_fn *diag, void *ctx, xy_load_result *res)
{
    if (db->mode != XY_WRITE) return XY_EINVAL;
    xy_file in;
    memset(res, 0, sizeof *res);
    int rc = xy_file_open(path, &in);
    if (rc) {
        xy__diagf(diag, ctx, "%s: cannot read: %s", path, strerror(errno));
        return XY_EINPUT;
    }
    loader l = {0};
    xy_csv scout = {0};
    l.db = db;
    l.batch = xy__db_batch(db);
    l.path = path;
    l.diag = diag;
    l.ctx = ctx;
    l.res = res;
    l.want_rejects = rejects_path != NULL;
    l.kind = kind;
    xy_csv_init(&l.csv, in.data, in.len);
    xy_map_init(&l.staged, 1024);
    const char *const *names = kind == XY_LOAD_CITIZENS ? citizen_cols
                             : kind == XY_LOAD_CONTACTS ? contact_cols : event_cols;
    const int *required = kind == XY_LOAD_CITIZENS ? citizen_required
                        : kind == XY_LOAD_CONTACTS ? contact_required : event_required;
    if (read_header(&l, names, required)) {
        rc = XY_EINPUT;
        goto done;
    }
    size_t width = l.csv.nfields;
    /* A second reader runs SCOUT rows ahead and starts fetching the index
     * slots the row will need (its citizen, its event id): at population
     * scale those are cache misses, and this way they overlap. */
    enum { SCOUT = 8 };
    xy_csv_init(&scout, l.csv.p, (size_t)(in.data + in.len - l.csv.p));
    int scouting = kind == XY_LOAD_EVENTS;
    for (int k = 0; scouting && k < SCOUT; k++) scout_row(&l, &scout);
    for (;;) {
        const char *why;
        if (scouting) scout_row(&l, &scout);
        int got = xy_csv_next(&l.csv, &why);
        if (got == 0) break;
        res->rows++;
        int bad;
        if (got < 0) bad = fail(&l, "malformed CSV: %s", why);
        else if (l.csv.nfields != width)
            bad = fail(&l, "expected %zu fields, found %zu", width, l.csv.nfields);
        else if (kind == XY_LOAD_CITIZENS) bad = citizen_row(&l);
        else if (kind == XY_LOAD_CONTACTS) bad = contact_row(&l);
        else bad = event_row(&l);
        if (!bad) continue;
        l.errors++;
        res->rejected++;
        if (l.want_rejects) {
            xy_buf_append(&l.rejects, l.csv.rec, l.csv.rec_len);
            xy_buf_append(&l.rejects, ",", 1);
            csv_quote(&l.rejects, l.why.data, l.why.len);
            xy_buf_append(&l.rejects, "\n", 1);
        }
        if (l.errors <= MAX_SHOWN_ERRORS) xy__diagf(diag, ctx, "%s", l.why.data);
    }
    if (l.errors > MAX_SHOWN_ERRORS)
        xy__diagf(diag, ctx, "%s: %llu more bad rows not shown", path,
                  (unsigned long long)(l.errors - MAX_SHOWN_ERRORS));
    if (l.errors && !l.want_rejects) {
        xy__db_unstage(db);
        xy__diagf(diag, ctx, "%s: %llu bad rows: nothing of this file was applied", path,
                  (unsigned long long)l.errors);
        res->applied = 0;
        rc = XY_EINPUT;
        goto done;
    }
    /* The rejects are safe on disk before the good rows count as loaded,
     * so that no row is ever lost between the two. */
    if (l.want_rejects && write_rejects(rejects_path, &l.rejects)) {
        xy__db_unstage(db);
        xy__diagf(diag, ctx, "%s: cannot write rejects: %s", rejects_path, strerror(errno));
        res->applied = 0;
        rc = XY_EIO;
        goto done;
    }
    rc = xy__db_commit(db, l.batch, l.nrecords);
    if (rc) {
        xy__diagf(diag, ctx, "%s/log: cannot append: %s", db->path, xy_strerror(rc));
        res->applied = 0;
    }
done:
    xy_csv_free(&l.csv);
    xy_csv_free(&scout);
    xy_map_free(&l.staged);
    xy_buf_free(&l.rejects);
    xy_buf_free(&l.why);
    xy_file_close(&in);
    return rc;
}

/* ------------------------------------------------------ in-process append */

int xy_db_append_events(xy_db *db, const xy_event *events, const char *const *ids, size_t n,
                        xy_diag_fn *diag, void *ctx, uint64_t *duplicates)
{
    if (db->mode != XY_WRITE) return XY_EINVAL;
    const xy_engine *e = db->engine;
    const xy_rules *r = db->rules;
    xy_buf *batch = xy__db_batch(db);
    uint64_t nrec = 0, dups = 0;
    int rc = XY_OK;
    for (size_t i = 0; i < n; i++) {
        /* All events are at hand: fetch what event i + 16 will need (its
         * citizen's state, the index slot of its id) meanwhile. */
        if (i + 16 < n && events[i + 16].citizen < e->n && ids[i + 16]) {
            XY_PREFETCH(&e->st[events[i + 16].citizen]);
            xy__db_prefetch_event(db, ids[i + 16], strlen(ids[i + 16]));
        }
        const xy_event *ev = &events[i];
        xy_field id = {ids[i], ids[i] ? strlen(ids[i]) : 0};
        const char *why = NULL;
        if (!valid_event_id(id)) why = "bad event id";
        else if (ev->citizen >= e->n) why = "unknown citizen";
        else if (ev->counterpart != XY_NONE && ev->counterpart >= e->n) why = "unknown counterpart";
        else if (!xy_day_valid(ev->date)) why = "date outside the years 1000-9999";
        else if (ev->amount < -1) why = "negative amount";
        else {
            int may = xy_rules_may_report(r, e->st[ev->citizen].city, ev->agency, ev->behaviour);
            if (may == XY_EUNKNOWN) why = "behaviour not defined in the citizen's city";
            else if (may) why = "agency may not report the behaviour";
        }
        if (!why) {
            uint64_t content = xy__event_content_hash(ev);
            uint64_t had, seq, key[2];
            xy_evindex_key(id.s, id.n, key);
            if (xy__db_find_event(db, key, &had, &seq)) {
                if (had == content) {
                    dups++;
                    continue;
                }
                why = "event id reused with different content";
            } else {
                xy__db_stage_event(db, key, content);
            }
        }
        if (why) {
            xy__diagf(diag, ctx, "event %zu (id %s): %s", i, ids[i] ? ids[i] : "(none)", why);
            rc = XY_EINPUT;
            break;
        }
        xy__rec_event(batch, ev, id.s, id.n);
        nrec++;
    }
    if (rc) xy__db_unstage(db);
    else rc = xy__db_commit(db, batch, nrec);
    if (duplicates) *duplicates = rc ? 0 : dups;
    return rc;
}
