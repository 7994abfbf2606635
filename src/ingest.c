/* ingest.c -- loading CSV files into a data directory (spec 2.10): the
 * header, per-row validation with FILE:LINE messages, duplicates, the
 * all-or-nothing rule and the rejects file. Validated rows become log
 * records in one batch, written to the log in parts as it grows
 * (xy__db_spill) and committed at the end. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "csv.h"
#include "snapshot.h"
#include "store.h"

#define MAX_SHOWN_ERRORS 100 /* messages printed; the rest are counted */

enum { COL_MAX = 8 };
/* The most columns a header may name: the known ones and the 'reason'
 * columns of rejects files (ignored), so that an events row's fields fit
 * in its prow. */
enum { ROW_MAX = 16 };

typedef struct loader {
    xy_db *db;               /* target */
    const char *path;        /* input file, for messages */
    xy_csv csv;              /* reader */
    int col[COL_MAX];        /* column index per field kind, or -1 */
    xy_buf *batch;           /* encoded records (xy__db_batch) */
    uint64_t nrecords;       /* records of the load, in batch or spilled */
    uint64_t spill_at;       /* batch bytes that make it spill (xy__db_spill) */
    int spill_rc;            /* a spill's storage error, which fails the load */
    xy_buf rejects;          /* rejected rows with reasons */
    int want_rejects;        /* --rejects given */
    uint64_t errors;         /* bad rows */
    xy_diag_fn *diag;        /* sink */
    void *ctx;               /* its context */
    xy_load_result *res;     /* counts */
    xy_map staged;           /* per kind: keys staged by this file (citizens:
                                index, and a content hash in the high half) */
    xy_buf why;              /* the current row's reason */
    uint64_t line;           /* the current row's first line, for messages */
    const char *rec;         /* its raw text, for the column of a message */
    size_t rec_len;
    const char *const *names; /* the column names per field kind */
    const xy_field *fields;  /* the current row's fields */
    size_t nfields;          /* their number */
    const char *known_s;     /* a field already parsed as a resident ID, or NULL */
    xy_resid known_id;       /* that ID */
    const char *next_s;      /* the same for the next row (fetch_next_row) */
    xy_resid next_id;
    size_t width;            /* fields per row (the header's) */
    int kind;                /* XY_LOAD_* */
    xy_names_memo behaviours, agencies; /* names looked up lately */
    char last_date[10];      /* the date field parsed last ... */
    xy_day last_day;         /* ... and its day (rows of a file share dates) */
    int has_last_date;
    int last_city;           /* the city named last, or -1 (rows of a file
                                share cities; a lookup cost 7 % of a load) */
} loader;

/* After a record is added: writes the batch to the log once it holds
 * spill_at bytes, so that a load's memory for its records stays bounded.
 * A load that can no longer succeed (an atomic one with a bad row, or
 * one whose spill failed) drops its records instead: nothing of it will
 * be kept, and its rows are still read for their messages and counts. */
static void spill_if_full(loader *l)
{
    if (l->batch->len < l->spill_at) return;
    if (l->spill_rc || (l->errors && !l->want_rejects)) l->batch->len = 0;
    else l->spill_rc = xy__db_spill(l->db, l->batch, l->kind == XY_LOAD_EVENTS);
}

static const char *const citizen_cols[] = {"id", "name", "city", "father", "mother", NULL};
static const int citizen_required[] = {1, 1, 0, 0, 0};
static const char *const contact_cols[] = {"a", "b", NULL};
static const int contact_required[] = {1, 1};
static const char *const event_cols[] = {"id", "date", "citizen", "behaviour", "agency",
                                         "amount", "counterpart", NULL};
static const int event_required[] = {1, 1, 1, 1, 1, 0, 0};

/* Writes the message FILE:LINE: reason (position) to b: reason with its
 * control characters escaped (a line break quoted from a field would
 * otherwise split one message over two lines), then where byte off of the
 * raw record rec lies, unless off is SIZE_MAX: " (column C)", or " (line
 * L, column C)" past a line break inside a quoted field. */
static void put_message(xy_buf *b, const char *path, uint64_t line, const char *reason, const char *rec, size_t off)
{
    xy__buf_printf(b, "%s:%llu: ", path, (unsigned long long)line);
    for (const unsigned char *p = (const unsigned char *)reason; *p; p++) {
        if (*p >= 0x20 && *p != 0x7f) xy__buf_append(b, p, 1);
        else if (*p == '\n') xy__buf_append(b, "\\n", 2);
        else if (*p == '\r') xy__buf_append(b, "\\r", 2);
        else if (*p == '\t') xy__buf_append(b, "\\t", 2);
        else xy__buf_printf(b, "\\x%02x", *p);
    }
    if (off == SIZE_MAX || !rec) return;
    uint64_t down, col;
    xy__csv_position(rec, off, &down, &col);
    if (down) xy__buf_printf(b, " (line %llu, column %llu)", (unsigned long long)(line + down), (unsigned long long)col);
    else xy__buf_printf(b, " (column %llu)", (unsigned long long)col);
}

/* A field as a message quotes it, NUL-terminated: a NUL byte in it written
 * as \x00 (the message's printf would stop there; put_message escapes the
 * other control characters), and a long one cut at a character's start
 * with "...". QUOTE's buffer lives to the end of the caller's block. */
typedef struct quoted {
    char s[240];
} quoted;

static const char *quote(quoted *q, xy_field f)
{
    size_t o = 0;
    for (size_t i = 0; i < f.n; i++) {
        if (o + 8 >= sizeof q->s) {
            /* The last character, if the cut fell inside it, goes whole. */
            size_t k = o;
            while (k > 0 && ((unsigned char)q->s[k - 1] & 0xC0) == 0x80) k--;
            if (k > 0 && (unsigned char)q->s[k - 1] >= 0xC0) {
                unsigned char lead = (unsigned char)q->s[k - 1];
                size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
                if (o - (k - 1) < want) o = k - 1;
            }
            memcpy(q->s + o, "...", 4);
            return q->s;
        }
        if (f.s[i]) {
            q->s[o++] = f.s[i];
        } else {
            memcpy(q->s + o, "\\x00", 4);
            o += 4;
        }
    }
    q->s[o] = 0;
    return q->s;
}
#define QUOTE(f) quote(&(quoted){{0}}, (f))

/* Records why the current row is bad (put_message at byte off of the
 * row); returns -1. */
static int vfail(loader *l, size_t off, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static int vfail(loader *l, size_t off, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    l->why.len = 0;
    put_message(&l->why, l->path, l->line, msg, l->rec, off);
    return -1;
}

static int fail(loader *l, int k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(loader *l, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records why the current row is bad, at the column of its field of kind
 * k (none when the file lacks that column); returns -1. */
static int fail(loader *l, int k, const char *fmt, ...)
{
    size_t off = SIZE_MAX;
    if (l->col[k] >= 0 && l->rec) off = xy__csv_field_offset(l->rec, l->rec_len, (size_t)l->col[k]);
    va_list ap;
    va_start(ap, fmt);
    vfail(l, off, fmt, ap);
    va_end(ap);
    return -1;
}

/* The same at byte off of the row. */
static int fail_at(loader *l, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(l, off, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reports a bad header at byte off of it. */
static void header_error(loader *l, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void header_error(loader *l, size_t off, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    xy_buf m = {0};
    put_message(&m, l->path, l->csv.line, msg, l->csv.rec, off);
    xy__diagf(l->diag, l->ctx, "%s", m.data);
    xy__buf_free(&m);
}

static xy_field field(const loader *l, int kind)
{
    xy_field f = {"", 0};
    if (l->col[kind] >= 0 && (size_t)l->col[kind] < l->nfields) f = l->fields[l->col[kind]];
    return f;
}

static int read_header(loader *l, const char *const *names, const int *required)
{
    const char *why;
    int rc = xy__csv_next(&l->csv, &why);
    if (rc == 0) {
        xy__diagf(l->diag, l->ctx, "%s:1: empty file: expected a header row", l->path);
        return -1;
    }
    if (rc < 0) {
        header_error(l, (size_t)(l->csv.bad - l->csv.rec), "malformed header: %s", why);
        return -1;
    }
    for (int k = 0; k < COL_MAX; k++) l->col[k] = -1;
    if (l->csv.nfields > ROW_MAX) {
        header_error(l, xy__csv_field_offset(l->csv.rec, l->csv.rec_len, ROW_MAX),
                     "more than %d columns", ROW_MAX);
        return -1;
    }
    int bad = 0;
    for (size_t i = 0; i < l->csv.nfields; i++) {
        xy_field f = l->csv.fields[i];
        /* The column --rejects adds is ignored, however often it comes:
         * a rejects file, its rows mended, loads as it is. */
        if (f.n == 6 && memcmp(f.s, "reason", 6) == 0) continue;
        int k = 0;
        while (names[k] && !(strlen(names[k]) == f.n && memcmp(names[k], f.s, f.n) == 0)) k++;
        if (!names[k] || l->col[k] >= 0) {
            size_t off = xy__csv_field_offset(l->csv.rec, l->csv.rec_len, i);
            if (!names[k]) header_error(l, off, "unknown column '%s'", QUOTE(f));
            else header_error(l, off, "column '%s' appears twice", names[k]);
            bad = 1;
        } else {
            l->col[k] = (int)i;
        }
    }
    for (int k = 0; names[k]; k++)
        if (required[k] && l->col[k] < 0) {
            header_error(l, SIZE_MAX, "missing column '%s'", names[k]);
            bad = 1;
        }
    if (!bad && l->want_rejects) {
        xy__buf_append(&l->rejects, l->csv.rec, l->csv.rec_len);
        xy__buf_append(&l->rejects, ",reason\n", 8);
    }
    return bad ? -1 : 0;
}

/* Parses the resident ID in the field of kind k; messages name it by its
 * column. */
static int parse_id(loader *l, int k, xy_resid *out)
{
    const char *why, *what = l->names[k];
    xy_field f = field(l, k);
    if (f.n && f.s == l->known_s) {
        *out = l->known_id;
        return 0;
    }
    if (f.n == 0) return fail(l, k, "%s is empty", what);
    if (xy_resid_parse(f.s, f.n, out, &why))
        return fail(l, k, "%s '%s' is not a valid resident ID: it %s", what, QUOTE(f), why);
    return 0;
}

/* The registered citizen in the field of kind k: in the state, or staged
 * earlier in this file. */
static int registered_city(loader *l, int k, uint32_t *index, int *city)
{
    xy_resid id;
    int cy = -1;
    if (parse_id(l, k, &id)) return -1;
    uint32_t i = xy__engine_find_city(l->db->engine, id, &cy);
    if (i == XY_NONE) {
        const uint64_t *v = l->kind == XY_LOAD_CITIZENS ? xy__map_get(&l->staged, id) : NULL;
        xy_field f = field(l, k);
        if (!v) return fail(l, k, "%s '%s' is not registered", l->names[k], QUOTE(f));
        i = (uint32_t)*v;
    }
    *index = i;
    if (city) *city = cy;
    return 0;
}

static int registered(loader *l, int k, uint32_t *index)
{
    return registered_city(l, k, index, NULL);
}

static int optional_parent(loader *l, int k, xy_resid self, uint32_t *index)
{
    *index = XY_NONE;
    if (field(l, k).n == 0) return 0;
    xy_resid id;
    if (parse_id(l, k, &id)) return -1;
    if (id == self) return fail(l, k, "%s is the citizen itself", l->names[k]);
    return registered(l, k, index);
}

/* ------------------------------------------------------------- citizens */

static int citizen_row(loader *l)
{
    xy_engine *e = l->db->engine;
    const xy_rules *r = l->db->rules;
    xy_resid id;
    uint32_t father, mother;
    if (parse_id(l, 0, &id)) return -1;
    xy_field name = field(l, 1), cityf = field(l, 2);
    if (name.n == 0) return fail(l, 1, "name is empty");
    if (name.n > 1000) return fail(l, 1, "name is longer than 1000 bytes");
    /* Names are shown as they came, in JSON too, which must be UTF-8; a
     * control character (C0, DEL, or C1: U+0080-U+009F, bytes C2 80-9F)
     * would reach a terminal as it is. */
    if (xy__utf8_valid(name.s, name.n) < name.n) return fail(l, 1, "name is not valid UTF-8");
    for (size_t i = 0; i < name.n; i++) {
        unsigned char c = (unsigned char)name.s[i];
        if (c < 0x20 || c == 0x7f || (c == 0xc2 && (unsigned char)name.s[i + 1] < 0xa0))
            return fail(l, 1, "name contains a control character");
    }
    int city;
    if (cityf.n == 0) {
        city = xy__rules_city_of_region(r, xy_resid_region(id));
        if (city < 0)
            return fail(l, 2, "city is empty and no city's region matches division code %06u",
                        xy_resid_region(id));
    } else if (l->last_city >= 0 && strlen(r->cities[l->last_city].id) == cityf.n &&
               memcmp(r->cities[l->last_city].id, cityf.s, cityf.n) == 0) {
        city = l->last_city;
    } else {
        char buf[128];
        if (cityf.n >= sizeof buf) return fail(l, 2, "unknown city '%s'", QUOTE(cityf));
        memcpy(buf, cityf.s, cityf.n);
        buf[cityf.n] = 0;
        city = xy_rules_city_find(r, buf);
        if (city < 0) return fail(l, 2, "unknown city '%s'", QUOTE(cityf));
        l->last_city = city;
    }
    if (optional_parent(l, 3, id, &father)) return -1;
    if (optional_parent(l, 4, id, &mother)) return -1;
    uint32_t have = xy_engine_find(e, id);
    if (have != XY_NONE) {
        if (e->st[have].city == city && e->father[have] == father && e->mother[have] == mother &&
            strlen(xy__name(e, have)) == name.n && memcmp(xy__name(e, have), name.s, name.n) == 0) {
            l->res->duplicates++;
            return 0;
        }
        return fail(l, 0, "citizen '%.*s' is already registered with different data",
                    (int)field(l, 0).n, field(l, 0).s);
    }
    /* The same row again in this file is a duplicate, as an event's is;
     * other data under the same ID is an error. The slot keeps the row's
     * index (parents look it up) and 32 bits of a hash of its data. */
    uint64_t content = xy__hash64(xy__hash_bytes(name.s, name.n) ^ (uint64_t)city << 40 ^
                                 xy__hash64((uint64_t)father << 32 | mother)) & ~(uint64_t)UINT32_MAX;
    int is_new;
    uint64_t *slot = xy__map_put(&l->staged, id, &is_new);
    if (!is_new && (*slot & ~(uint64_t)UINT32_MAX) == content) {
        l->res->duplicates++;
        return 0;
    }
    if (!is_new)
        return fail(l, 0, "citizen '%.*s' appears twice in this file with different data", (int)field(l, 0).n,
                    field(l, 0).s);
    *slot = content | (e->n + l->nrecords);
    xy__rec_citizen(l->batch, id, city, father, mother, name.s, name.n);
    l->nrecords++;
    spill_if_full(l);
    l->res->applied++;
    return 0;
}

/* ------------------------------------------------------------- contacts */

static int contact_row(loader *l)
{
    uint32_t a, b;
    if (registered(l, 0, &a) || registered(l, 1, &b)) return -1;
    if (a == b) return fail(l, 1, "a citizen cannot be its own contact");
    uint64_t key = a < b ? (uint64_t)a << 32 | b : (uint64_t)b << 32 | a;
    int is_new;
    if (xy__map_get(&l->db->engine->edge_set, key)) {
        l->res->duplicates++;
        return 0;
    }
    xy__map_put(&l->staged, key, &is_new);
    if (!is_new) {
        l->res->duplicates++;
        return 0;
    }
    xy__rec_contact(l->batch, a, b);
    l->nrecords++;
    spill_if_full(l);
    l->res->applied++;
    return 0;
}

/* --------------------------------------------------------------- events */

/* The characters of an event id: A-Z a-z 0-9 . _ : - */
static const unsigned char id_char[256] = {
    ['-'] = 1, ['.'] = 1, [':'] = 1, ['_'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
    ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static int valid_event_id(xy_field f)
{
    if (f.n < 1 || f.n > 64) return 0;
    unsigned ok = 1;
    for (size_t i = 0; i < f.n; i++) ok &= id_char[(unsigned char)f.s[i]];
    return (int)ok;
}

/* The largest amount an event may carry, in micro-units: 10^12 whole
 * units, for a CSV load and the append path alike. */
#define MAX_AMOUNT (1000000000000LL * XY_MICRO)

/* Parses the non-negative decimal amount in the field of kind k into
 * micro-units. */
static int parse_amount(loader *l, int k, int64_t *out)
{
    xy_field f = field(l, k);
    *out = -1;
    if (f.n == 0) return 0;
    if (f.s[0] == '-') return fail(l, k, "amount '%s' is negative", QUOTE(f));
    int64_t whole = 0, frac = 0;
    int fd = 0;
    size_t i = 0;
    if (f.s[0] == '+') i++;
    int digits = 0;
    /* At most 10^12 whole units, so that the amount in micro-units fits
     * an int64 with room to spare. */
    for (; i < f.n && f.s[i] >= '0' && f.s[i] <= '9'; i++, digits++) {
        whole = whole * 10 + (f.s[i] - '0');
        if (whole > 1000000000000LL)
            return fail(l, k, "amount '%s' is too large (at most 1000000000000)", QUOTE(f));
    }
    if (i < f.n && f.s[i] == '.') {
        for (i++; i < f.n && f.s[i] >= '0' && f.s[i] <= '9'; i++, fd++) {
            if (fd >= 6) return fail(l, k, "amount '%s' has more than 6 decimals", QUOTE(f));
            frac = frac * 10 + (f.s[i] - '0');
            digits++;
        }
    }
    if (i != f.n || digits == 0) return fail(l, k, "amount '%s' is not a number", QUOTE(f));
    static const int64_t scale[7] = {1000000, 100000, 10000, 1000, 100, 10, 1};
    int64_t v = whole * XY_MICRO + frac * scale[fd];
    if (v > MAX_AMOUNT) /* 10^12 and a fraction */
        return fail(l, k, "amount '%s' is too large (at most 1000000000000)", QUOTE(f));
    *out = v;
    return 0;
}

/* An events row checked as far as the rules and the registered citizens
 * go, waiting to be checked against the stored and staged event ids. */
typedef struct prow {
    const char *rec;   /* the raw record in the input, for the rejects file */
    size_t rec_len;
    uint64_t line;     /* its first line */
    int bad;           /* the text is the reason, not the id */
    uint32_t text;     /* offset of the id or the reason in the chunk's text */
    uint32_t text_len;
    uint64_t key[2];   /* xy__evindex_key of the id */
    xy_event ev;
    xy_field f[ROW_MAX]; /* the fields, between the parser's two passes */
    unsigned quoted;   /* bit i: f[i].s is an offset into the chunk's quoted text */
    int has_cid;       /* the citizen field is a valid resident ID ... */
    xy_resid cid;      /* ... this one */
} prow;

/* Checks the current row (an event) against everything but the
 * event ids already stored or staged, reading only what does not change
 * during a load (the rules, the ID index), so that it may run beside the
 * thread that stages. Fills r->ev and r->key (the key is read a group
 * ahead by the stager, to fetch its slots; the content hash is left to
 * the stager, which balanced the two threads: docs/performance-log.md). */
static int event_check(loader *l, prow *r)
{
    const xy_rules *rules = l->db->rules;
    xy_field idf = field(l, 0), datef = field(l, 1), bf = field(l, 3), af = field(l, 4);
    xy_field cpf = field(l, 6);
    xy_event *ev = &r->ev;
    memset(ev, 0, sizeof *ev);
    if (!valid_event_id(idf))
        return fail(l, 0, "event id '%s' must be 1-64 characters of A-Z a-z 0-9 . _ : -", QUOTE(idf));
    if (l->has_last_date && datef.n == 10 && memcmp(datef.s, l->last_date, 10) == 0) {
        ev->date = l->last_day;
    } else if (xy_day_parse(datef.s, datef.n, &ev->date)) {
        return fail(l, 1, "date '%s' is not a valid YYYY-MM-DD date", QUOTE(datef));
    } else {
        memcpy(l->last_date, datef.s, 10); /* a valid date has 10 characters */
        l->last_day = ev->date;
        l->has_last_date = 1;
    }
    int cy;
    if (registered_city(l, 2, &ev->citizen, &cy)) return -1;
    const xy_city *city = &rules->cities[cy];
    ev->behaviour = xy__names_find_memo(&rules->behaviour_names, &l->behaviours, bf.s, bf.n);
    if (ev->behaviour < 0 || !xy__city_behaviour(rules, city, ev->behaviour))
        return fail(l, 3, "behaviour '%s' is not defined in city %s", QUOTE(bf), city->id);
    ev->agency = xy__names_find_memo(&rules->agency_names, &l->agencies, af.s, af.n);
    if (ev->agency < 0) return fail(l, 4, "unknown agency '%s'", QUOTE(af));
    if (xy_rules_may_report(rules, cy, ev->agency, ev->behaviour))
        return fail(l, 4, "agency '%s' may not report '%s' in city %s", QUOTE(af), QUOTE(bf), city->id);
    if (parse_amount(l, 5, &ev->amount)) return -1;
    ev->counterpart = XY_NONE;
    if (cpf.n && registered(l, 6, &ev->counterpart)) return -1;
    xy__evindex_key(idf.s, idf.n, r->key);
    return 0;
}

enum { V_NEW, V_DUP, V_CONFLICT };

/* Stages a checked event row unless its id is known: a duplicate if with
 * the same content, a bad row if not. */
static int event_stage(loader *l, const prow *r, const char *id, size_t id_len)
{
    xy_db *db = l->db;
    uint64_t had, seq, content = xy__event_content_hash(&r->ev);
    if (xy__db_find_or_stage(db, r->key, content, db->nevents + db->nstaged, &had, &seq)) {
        if (had == content) {
            l->res->duplicates++;
            return 0;
        }
        if (seq != UINT64_MAX && seq >= db->nevents)
            return fail(l, 0, "event id '%.*s' appears twice in this file with different content", (int)id_len, id);
        return fail(l, 0, "event id '%.*s' was already loaded with different content", (int)id_len, id);
    }
    xy__rec_event(l->batch, &r->ev, id, id_len);
    l->nrecords++;
    spill_if_full(l);
    l->res->applied++;
    return 0;
}

/* ------------------------------------------------------------------ load */

static void csv_quote(xy_buf *b, const char *s, size_t n)
{
    xy__buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') xy__buf_append(b, "\"", 1);
        xy__buf_append(b, &s[i], 1);
    }
    xy__buf_append(b, "\"", 1);
}

/* Counts a bad row, keeps it for the rejects file and shows its reason
 * (the first MAX_SHOWN_ERRORS of them). */
static void reject(loader *l, const char *rec, size_t rec_len, const char *why, size_t why_len)
{
    l->errors++;
    l->res->rejected++;
    if (l->want_rejects) {
        xy__buf_append(&l->rejects, rec, rec_len);
        xy__buf_append(&l->rejects, ",", 1);
        csv_quote(&l->rejects, why, why_len);
        xy__buf_append(&l->rejects, "\n", 1);
    }
    if (l->errors <= MAX_SHOWN_ERRORS) xy__diagf(l->diag, l->ctx, "%.*s", (int)why_len, why);
}

/* Reads the next row into l->csv and checks its shape. Returns 0 at the
 * end of the input, 1 for a row of the header's width, -1 (the reason in
 * l->why) for a malformed one. */
static int next_row(loader *l)
{
    const char *why;
    int got = xy__csv_next(&l->csv, &why);
    if (got == 0) return 0;
    l->line = l->csv.line;
    l->rec = l->csv.rec;
    l->rec_len = l->csv.rec_len;
    l->fields = l->csv.fields;
    l->nfields = l->csv.nfields;
    if (got < 0) return fail_at(l, (size_t)(l->csv.bad - l->rec), "malformed CSV: %s", why);
    /* Too many fields: at the first extra one; too few: at the end. */
    if (l->csv.nfields != l->width)
        return fail_at(l, xy__csv_field_offset(l->rec, l->rec_len, l->width), "expected %zu fields, found %zu",
                       l->width, l->csv.nfields);
    return 1;
}

/* Parses the resident ID of 18 characters at p if a comma or a line end
 * follows it, and starts fetching its ID-index slot (and, with staged,
 * its slot among the keys this file staged). Returns 1 with *id set. */
static int fetch_id_at(loader *l, const char *p, int staged, xy_resid *id)
{
    if (l->csv.end - p < 19 || (p[18] != ',' && p[18] != '\n' && p[18] != '\r')) return 0;
    if (xy_resid_parse(p, 18, id, NULL)) return 0;
    xy__engine_prefetch_citizen(l->db->engine, *id);
    if (staged) xy__map_prefetch(&l->staged, *id);
    return 1;
}

/* Starts fetching what the next row's IDs will touch, from its raw text:
 * the ID index (and the staged keys) are a cache miss per row at
 * population scale, and a row costs more than a miss, so one row ahead
 * hides it. Only unquoted IDs in the usual places are looked at (a
 * citizen's in the first column, a contact's two in the first two);
 * other layouts load the same without. The citizen's parsed ID is kept
 * for parse_id (next_s, known_s once the row is read). */
static void fetch_next_row(loader *l)
{
    const char *p = l->csv.p;
    xy_resid id;
    if (l->col[0] != 0) return;
    if (l->kind == XY_LOAD_CITIZENS) {
        if (fetch_id_at(l, p, 1, &id)) {
            l->next_s = p;
            l->next_id = id;
        }
    } else if (l->col[1] == 1 && fetch_id_at(l, p, 0, &id) && p[18] == ',') {
        (void)fetch_id_at(l, p + 19, 0, &id);
    }
}

/* Citizens and contacts: one row after the other, each seeing the rows
 * staged before it (a parent registered earlier in the same file). */
static void load_rows(loader *l)
{
    enum { SAMPLE = 1024 };
    const char *first = l->csv.p;
    for (;;) {
        int got = next_row(l);
        if (got == 0) break;
        l->res->rows++;
        /* Room for the whole file's keys at once, from the length of its
         * first rows: growing by doublings would rehash every key. */
        if (l->res->rows == SAMPLE && l->csv.p > first)
            xy__map_reserve(&l->staged, (size_t)((double)(l->csv.end - first) / (double)(l->csv.p - first) * SAMPLE));
        l->known_s = l->next_s;
        l->known_id = l->next_id;
        l->next_s = NULL;
        fetch_next_row(l);
        int bad = got < 0 ? -1 : l->kind == XY_LOAD_CITIZENS ? citizen_row(l) : contact_row(l);
        if (bad) reject(l, l->csv.rec, l->csv.rec_len, l->why.data, l->why.len);
    }
}

/* Events on two threads: a parser reads and checks rows (event_check) in
 * chunks, the calling thread stages the checked rows in file order
 * (event_stage), so messages, rejects and the batch come out as from one
 * thread. What the parser reads (the input, the rules, the ID index) does
 * not change until the batch is committed, after it has finished. */
enum { CHUNK_ROWS = 4096, NCHUNKS = 4 };

typedef struct chunk {
    prow *rows;
    size_t n;
    xy_buf quoted; /* unescaped quoted fields (the reader reuses its own) */
    xy_buf text;   /* ids of good rows, reasons of bad ones */
    int full;      /* filled by the parser, not yet taken */
    int last;      /* the input ends with this chunk */
} chunk;

typedef struct events_pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* a chunk was filled or taken */
    chunk ch[NCHUNKS];
    loader *parser;      /* the parser's own reader and reasons */
} events_pipe;

static void keep_text(chunk *c, prow *r, const char *s, size_t n)
{
    r->text = (uint32_t)c->text.len;
    r->text_len = (uint32_t)n;
    xy__buf_append(&c->text, s, n);
}

/* The parser's first pass: reads a row, keeps its fields and parses its
 * citizen's ID. Returns 0 at the end of the input. */
static int read_chunk_row(loader *l, chunk *c, prow *r)
{
    int got = next_row(l);
    if (got == 0) return 0;
    r->rec = l->csv.rec;
    r->rec_len = l->csv.rec_len;
    r->line = l->line;
    r->bad = got < 0;
    r->has_cid = 0;
    r->quoted = 0;
    if (r->bad) {
        keep_text(c, r, l->why.data, l->why.len);
        return 1;
    }
    for (size_t i = 0; i < l->width; i++) {
        r->f[i] = l->csv.fields[i];
        if (l->csv.offs[i] != SIZE_MAX) {
            r->quoted |= 1u << i;
            r->f[i].s = (const char *)(uintptr_t)c->quoted.len;
            xy__buf_append(&c->quoted, l->csv.fields[i].s, l->csv.fields[i].n);
        }
    }
    xy_field cf = r->f[l->col[2]];
    r->has_cid = !(r->quoted >> l->col[2] & 1) && xy_resid_parse(cf.s, cf.n, &r->cid, NULL) == XY_OK;
    return 1;
}

/* The parser's second pass: checks a row read by the first. */
static void check_chunk_row(loader *l, chunk *c, prow *r)
{
    if (r->bad) return;
    for (unsigned q = r->quoted; q; q &= q - 1) {
        int i = __builtin_ctz(q);
        r->f[i].s = c->quoted.data + (uintptr_t)r->f[i].s;
    }
    l->fields = r->f;
    l->nfields = l->width;
    l->line = r->line;
    l->rec = r->rec;
    l->rec_len = r->rec_len;
    l->known_s = r->has_cid ? r->f[l->col[2]].s : NULL;
    l->known_id = r->cid;
    r->bad = event_check(l, r) != 0;
    if (r->bad) keep_text(c, r, l->why.data, l->why.len);
    else keep_text(c, r, r->f[l->col[0]].s, r->f[l->col[0]].n); /* the id, wherever its column is */
}

/* Fills chunk c with the next rows, read and checked. */
static void parse_chunk(loader *l, chunk *c)
{
    c->n = 0;
    c->quoted.len = 0;
    c->text.len = 0;
    c->last = 0;
    /* The ID-index slots of a group of rows are fetched once the group is
     * read, and the group is checked after the next one is read (see
     * XY_FETCH_GROUP). */
    size_t checked = 0, fetched = 0;
    while (c->n < CHUNK_ROWS && !c->last) {
        if (read_chunk_row(l, c, &c->rows[c->n])) c->n++;
        else c->last = 1;
        if (c->n - fetched < XY_FETCH_GROUP && !c->last) continue;
        for (size_t i = fetched; i < c->n; i++)
            if (c->rows[i].has_cid) xy__map_prefetch(&l->db->engine->by_id, c->rows[i].cid);
        fetched = c->n;
        while (fetched - checked > XY_FETCH_GROUP) check_chunk_row(l, c, &c->rows[checked++]);
    }
    while (checked < c->n) check_chunk_row(l, c, &c->rows[checked++]);
}

static void *parse_events(void *arg)
{
    events_pipe *p = arg;
    for (size_t k = 0;; k++) {
        chunk *c = &p->ch[k % NCHUNKS];
        pthread_mutex_lock(&p->mu);
        while (c->full) pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        parse_chunk(p->parser, c);
        pthread_mutex_lock(&p->mu);
        c->full = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (c->last) break;
    }
    return NULL;
}

/* Tells the event index how many new ids the input may bring: as many as
 * its size holds rows of the first chunk's average length. */
static void expect_rows(loader *l, const chunk *c)
{
    const prow *a = &c->rows[0], *z = &c->rows[c->n - 1];
    size_t span = (size_t)(z->rec + z->rec_len - a->rec), left = (size_t)(l->csv.end - a->rec);
    if (span) xy__evindex_expect(&l->db->evix, (size_t)((double)left / (double)span * (double)c->n));
}

static void load_events(loader *l)
{
    events_pipe p;
    loader parser = *l;
    parser.csv = (xy_csv){.p = l->csv.p, .end = l->csv.end, .next_line = l->csv.next_line};
    memset(&parser.why, 0, sizeof parser.why);
    memset(&p, 0, sizeof p);
    p.parser = &parser;
    for (int k = 0; k < NCHUNKS; k++) p.ch[k].rows = xy__malloc(CHUNK_ROWS * sizeof *p.ch[k].rows);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    /* Without a second thread (a process at its limit of threads) each
     * chunk is read and checked here, before it is staged: the same
     * result, on one core. */
    pthread_t th;
    int threaded = pthread_create(&th, NULL, parse_events, &p) == 0;
    /* Each row's event id is looked up in the event index (see
     * XY_FETCH_GROUP). */
    for (size_t k = 0;; k++) {
        chunk *c = &p.ch[k % NCHUNKS];
        if (!threaded) {
            parse_chunk(&parser, c);
            c->full = 1;
        }
        pthread_mutex_lock(&p.mu);
        while (!c->full) pthread_cond_wait(&p.cv, &p.mu);
        pthread_mutex_unlock(&p.mu);
        if (k == 0 && !c->last && c->n) expect_rows(l, c);
        for (size_t i = 0; i < c->n; i++) {
            size_t from, to;
            xy__fetch_window(i, c->n, &from, &to);
            for (size_t j = from; j < to; j++)
                if (!c->rows[j].bad) xy__evindex_prefetch(&l->db->evix, c->rows[j].key);
            const prow *r = &c->rows[i];
            const char *text = c->text.data + r->text;
            l->res->rows++;
            l->line = r->line;
            l->rec = r->rec;
            l->rec_len = r->rec_len;
            if (r->bad) reject(l, r->rec, r->rec_len, text, r->text_len);
            else if (event_stage(l, r, text, r->text_len)) reject(l, r->rec, r->rec_len, l->why.data, l->why.len);
        }
        int last = c->last;
        pthread_mutex_lock(&p.mu);
        c->full = 0;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        if (last) break;
    }
    if (threaded) pthread_join(th, NULL);
    xy__csv_free(&parser.csv);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    for (int k = 0; k < NCHUNKS; k++) {
        xy__free(p.ch[k].rows);
        xy__buf_free(&p.ch[k].quoted);
        xy__buf_free(&p.ch[k].text);
    }
    xy__buf_free(&parser.why);
}

static int write_rejects(const char *path, const xy_buf *b)
{
    FILE *f = fopen(path, "wb");
    if (!f) return XY_EIO;
    size_t n = b->len ? fwrite(b->data, 1, b->len, f) : 0;
    /* A pipe or a terminal (--rejects /dev/stdout) has nothing to sync. */
    int bad = n != b->len || fflush(f) || (fsync(fileno(f)) && errno != EINVAL && errno != ENOTSUP);
    bad |= fclose(f) != 0;
    return bad ? XY_EIO : XY_OK;
}

/* Refuses a rejects file that would overwrite what the data directory or
 * the input holds, saying so through diag: returns XY_EINVAL then, else
 * XY_OK. */
static int check_rejects_path(const xy_db *db, const char *path, const char *rejects_path, xy_diag_fn *diag,
                              void *ctx)
{
    /* Rejects written over the log, a snapshot or the rules would destroy
     * what they hold. */
    if (rejects_path && xy__path_within(db->path, rejects_path)) {
        xy__diagf(diag, ctx, "%s: the rejects file may not be in the data directory %s", rejects_path, db->path);
        return XY_EINVAL;
    }
    /* Nor over the input, under its name or another (a link). */
    struct stat rs, is;
    if (rejects_path && stat(rejects_path, &rs) == 0 && stat(path, &is) == 0 && S_ISREG(rs.st_mode) &&
        rs.st_dev == is.st_dev && rs.st_ino == is.st_ino) {
        xy__diagf(diag, ctx, "%s: the rejects file may not be the input file %s", rejects_path, path);
        return XY_EINVAL;
    }
    return XY_OK;
}

/* Once every row of the input is read, either refuses the whole file (it
 * changed while read, a spill failed, or it had bad rows and no rejects
 * file can take them) or writes the rejects and commits the good rows;
 * returns the load's status. */
static int finish_load(loader *l, const xy_file *in, const char *rejects_path)
{
    xy_db *db = l->db;
    int rc = XY_OK;
    if (xy__guard_hit(in->data)) {
        /* Rewritten while it was read: what it holds now is not what was
         * read, and rows were lost (zeros stood in for them). */
        xy__db_unstage(db);
        xy__diagf(l->diag, l->ctx, "%s: the file was cut short while it was loaded: nothing of it was applied",
                  l->path);
        l->res->applied = 0;
        rc = XY_EINPUT;
        goto done;
    }
    if (l->spill_rc) {
        xy__db_unstage(db);
        xy__diagf(l->diag, l->ctx, "%s/log: cannot append: %s", db->path, xy_strerror(l->spill_rc));
        l->res->applied = 0;
        rc = l->spill_rc;
        goto done;
    }
    if (l->errors > MAX_SHOWN_ERRORS)
        xy__diagf(l->diag, l->ctx, "%s: %llu more bad rows not shown", l->path,
                  (unsigned long long)(l->errors - MAX_SHOWN_ERRORS));
    if (l->errors && !l->want_rejects) {
        xy__db_unstage(db);
        xy__diagf(l->diag, l->ctx, "%s: %llu bad rows: nothing of this file was applied", l->path,
                  (unsigned long long)l->errors);
        l->res->applied = 0;
        rc = XY_EINPUT;
        goto done;
    }
    /* The rejects are safe on disk before the good rows count as loaded,
     * so that no row is ever lost between the two. */
    if (l->want_rejects && write_rejects(rejects_path, &l->rejects)) {
        xy__db_unstage(db);
        xy__diagf(l->diag, l->ctx, "%s: cannot write rejects: %s", rejects_path, strerror(errno));
        l->res->applied = 0;
        rc = XY_EINVAL; /* the caller's output, not the data directory */
        goto done;
    }
    rc = xy__db_commit(db, l->batch, l->nrecords);
    if (rc) {
        xy__diagf(l->diag, l->ctx, "%s/log: cannot append: %s", db->path, xy_strerror(rc));
        l->res->applied = 0;
    }
done:
    return rc;
}

int xy_db_load_csv(xy_db *db, int kind, const char *path, const char *rejects_path,
                   xy_diag_fn *diag, void *ctx, xy_load_result *res)
{
    xy_load_result unwanted; /* a caller that wants no counts passes NULL */
    if (!res) res = &unwanted;
    memset(res, 0, sizeof *res);
    if (kind != XY_LOAD_CITIZENS && kind != XY_LOAD_CONTACTS && kind != XY_LOAD_EVENTS) return XY_EINVAL;
    if (db->mode != XY_WRITE) return XY_EINVAL;
    xy__db_settle(db);
    xy_file in;
    if (check_rejects_path(db, path, rejects_path, diag, ctx)) return XY_EINVAL;
    int rc = xy__file_open(path, &in);
    if (rc) {
        xy__diagf(diag, ctx, "%s: cannot read: %s", path,
                  errno == ENODEV ? "a device, not a file, a pipe or a terminal" : strerror(errno));
        return XY_EINPUT;
    }
    loader l = {0};
    l.db = db;
    l.batch = xy__db_batch(db);
    l.spill_at = xy__db_spill_bytes();
    l.path = path;
    l.diag = diag;
    l.ctx = ctx;
    l.res = res;
    l.want_rejects = rejects_path != NULL;
    l.kind = kind;
    l.last_city = -1;
    if (in.len >= l.spill_at) xy__snapshot_uncache(db);
    xy__csv_init(&l.csv, in.data, in.len);
    xy__map_init(&l.staged, 1024);
    const char *const *names = kind == XY_LOAD_CITIZENS ? citizen_cols
                             : kind == XY_LOAD_CONTACTS ? contact_cols : event_cols;
    const int *required = kind == XY_LOAD_CITIZENS ? citizen_required
                        : kind == XY_LOAD_CONTACTS ? contact_required : event_required;
    l.names = names;
    if (read_header(&l, names, required)) {
        rc = XY_EINPUT;
        goto done;
    }
    l.width = l.csv.nfields;
    if (kind == XY_LOAD_EVENTS) load_events(&l);
    else load_rows(&l);
    rc = finish_load(&l, &in, rejects_path);
done:
    xy__csv_free(&l.csv);
    xy__map_free(&l.staged);
    xy__buf_free(&l.rejects);
    xy__buf_free(&l.why);
    xy__file_close(&in);
    return rc;
}

/* ------------------------------------------------------ in-process append */

/* The append path sorts a batch's ids on the top SORT_BITS bits of their
 * hi, in passes of DIGIT_BITS, keeping the batch's order among equal ones:
 * enough for the event index to be visited in ascending addresses (a
 * memtable of 2^26 slots has 16 per group). */
enum { DIGIT_BITS = 11, SORT_BITS = 2 * DIGIT_BITS, DIGITS = 1 << DIGIT_BITS };

static uint64_t sid_group(const xy_sid *s) { return s->key[0] >> (64 - SORT_BITS); }

static int cmp_sid(const void *a, const void *b)
{
    const xy_sid *x = a, *y = b;
    uint64_t gx = sid_group(x), gy = sid_group(y);
    if (gx != gy) return gx < gy ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sorts the n ids of a by group, keeping their order within a group:
 * counting passes through tmp and count (DIGITS + 1 entries), or for a
 * small batch, for which the passes would cost more, a plain sort that
 * compares places too. Returns the buffer holding the result. */
static xy_sid *sort_ids(xy_sid *a, xy_sid *tmp, size_t *count, size_t n)
{
    if (n < 4 * DIGITS) {
        qsort(a, n, sizeof *a, cmp_sid);
        return a;
    }
    for (int shift = 64 - SORT_BITS; shift < 64; shift += DIGIT_BITS) {
        memset(count, 0, (DIGITS + 1) * sizeof *count);
        for (size_t i = 0; i < n; i++) count[((a[i].key[0] >> shift) & (DIGITS - 1)) + 1]++;
        for (size_t d = 1; d <= DIGITS; d++) count[d] += count[d - 1];
        for (size_t i = 0; i < n; i++) tmp[count[(a[i].key[0] >> shift) & (DIGITS - 1)]++] = a[i];
        xy_sid *t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

/* Makes room in db->stage for n events. */
static void stage_reserve(xy_stage *g, size_t n)
{
    if (!g->count) g->count = xy__malloc((DIGITS + 1) * sizeof *g->count);
    if (n <= g->cap) return;
    size_t cap = g->cap ? g->cap : 1024;
    while (cap < n) cap *= 2;
    /* Rewritten by every batch, also while a snapshot's child runs. */
    g->sid = xy__private_realloc(g->sid, g->cap * sizeof *g->sid, cap * sizeof *g->sid);
    g->tmp = xy__private_realloc(g->tmp, g->cap * sizeof *g->tmp, cap * sizeof *g->tmp);
    g->rank = xy__private_realloc(g->rank, g->cap * sizeof *g->rank, cap * sizeof *g->rank);
    g->verdict = xy__private_realloc(g->verdict, g->cap, cap);
    g->cap = cap;
}

/* Says why event ev, with id id, may not be appended to engine e under
 * rules r, or returns NULL when it may be. */
static const char *event_refusal(const xy_engine *e, const xy_rules *r, const xy_event *ev, xy_field id)
{
    if (!valid_event_id(id)) return "bad event id";
    if (ev->citizen >= e->n) return "unknown citizen";
    if (ev->counterpart != XY_NONE && ev->counterpart >= e->n) return "unknown counterpart";
    if (!xy_day_valid(ev->date)) return "date outside the years 1000-9999";
    if (ev->amount < -1) return "negative amount";
    if (ev->amount > MAX_AMOUNT) return "amount above 10^12";
    int may = xy_rules_may_report(r, e->st[ev->citizen].city, ev->agency, ev->behaviour);
    if (may == XY_EUNKNOWN) return "behaviour not defined in the citizen's city";
    if (may) return "agency may not report the behaviour";
    return NULL;
}

/* Checks the n events in order and fills db->stage's sid entry of each
 * that passes, stopping at the first that fails: returns its index, with
 * *why saying what is wrong, or n with *why NULL when none fails. */
static size_t check_events(xy_db *db, const xy_event *events, const char *const *ids, size_t n,
                           const char **why)
{
    const xy_engine *e = db->engine;
    const xy_rules *r = db->rules;
    xy_stage *g = &db->stage;
    *why = NULL;
    /* Each event's citizen has its state fetched a group ahead (see
     * XY_FETCH_GROUP). */
    for (size_t i = 0; i < n; i++) {
        size_t from, to;
        xy__fetch_window(i, n, &from, &to);
        for (size_t j = from; j < to; j++)
            if (events[j].citizen < e->n) XY_PREFETCH(&e->st[events[j].citizen]);
        const xy_event *ev = &events[i];
        xy_field id = {ids[i], ids[i] ? strlen(ids[i]) : 0};
        const char *refusal = event_refusal(e, r, ev, id);
        if (refusal) {
            *why = refusal;
            return i;
        }
        xy_sid *s = &g->sid[i];
        xy__evindex_key(id.s, id.n, s->key);
        s->content = xy__event_content_hash(ev);
        s->idx = (uint32_t)i;
        s->verdict = 0;
    }
    return n;
}

/* Encodes all n events into db's batch, as if none were a duplicate, and
 * starts the log writing it under commit c. */
static int open_whole_batch(xy_db *db, const xy_event *events, const char *const *ids, size_t n, xy_commit *c)
{
    xy_buf *batch = xy__db_batch(db);
    for (size_t i = 0; i < n; i++) xy__rec_event(batch, &events[i], ids[i], strlen(ids[i]));
    return xy__db_commit_open(db, batch, c);
}

/* Judges the n ids of sorted against the event index, staging each new one
 * with the number it would have if every event before it in the batch were
 * new, keeps each verdict in its sorted entry and in db->stage's
 * batch-order array and counts the duplicates in *dups; returns the
 * batch-order index of the first conflicting id, or n if none conflicts. */
static size_t judge_ids(xy_db *db, xy_sid *sorted, size_t n, uint64_t *dups)
{
    xy_stage *g = &db->stage;
    int conflicts = 0;
    uint64_t ndups = 0;
    for (size_t p = 0; p < n; p++) {
        if (p + 16 < n) xy__evindex_prefetch(&db->evix, sorted[p + 16].key);
        xy_sid *s = &sorted[p];
        uint64_t had, had_seq;
        uint32_t v = V_NEW;
        if (xy__db_find_or_stage(db, s->key, s->content, db->nevents + s->idx, &had, &had_seq))
            v = had == s->content ? V_DUP : V_CONFLICT;
        conflicts += v == V_CONFLICT;
        ndups += v == V_DUP;
        /* Kept in the sorted entry too, for the renumbering (rebatch_new)
         * to read without a trip to the batch-order array. */
        s->verdict = v;
        g->verdict[s->idx] = (unsigned char)v;
    }
    *dups = ndups;
    /* In the batch's order again: the first event that fails says why the
     * batch is refused. */
    for (size_t i = 0; i < n && conflicts; i++)
        if (g->verdict[i] == V_CONFLICT) return i;
    return n;
}

/* Encodes the n events that are not duplicates into batch and numbers
 * their staged ids by their ranks among them; returns how many there are. */
static uint64_t rebatch_new(xy_db *db, xy_buf *batch, const xy_event *events, const char *const *ids, size_t n,
                            const xy_sid *sorted)
{
    xy_stage *g = &db->stage;
    /* The new events get their ranks among the new ones, their records
     * and, after the first duplicate, those ranks as their numbers (in
     * the lookups' order again). */
    uint64_t nrec = 0;
    for (size_t i = 0; i < n; i++) {
        if (g->verdict[i] == V_DUP) continue;
        g->rank[i] = (uint32_t)nrec++;
        xy__rec_event(batch, &events[i], ids[i], strlen(ids[i]));
    }
    for (size_t p = 0; p < n && nrec; p++) {
        if (p + 16 < n) {
            /* The rank is read in the keys' order, at random in the
             * batch: fetched ahead like the table's slot. */
            xy__evindex_prefetch(&db->evix, sorted[p + 16].key);
            XY_PREFETCH(&g->rank[sorted[p + 16].idx]);
        }
        const xy_sid *s = &sorted[p];
        if (s->verdict == V_NEW && g->rank[s->idx] != s->idx)
            xy__evindex_renumber(&db->evix, s->key, db->nevents + g->rank[s->idx]);
    }
    return nrec;
}

int xy_db_append_events(xy_db *db, const xy_event *events, const char *const *ids, size_t n,
                        xy_diag_fn *diag, void *ctx, uint64_t *duplicates)
{
    if (db->mode != XY_WRITE) return XY_EINVAL;
    if (n >= UINT32_MAX) {
        xy__diagf(diag, ctx, "a batch of %zu events is more than one call takes (%u)", n, UINT32_MAX - 1);
        return XY_EINVAL;
    }
    xy_stage *g = &db->stage;
    stage_reserve(g, n);
    /* First every event is checked in order, up to the first that fails. */
    const char *why;
    size_t bad = check_events(db, events, ids, n, &why);
    if (n == 0) {
        if (duplicates) *duplicates = 0;
        return db->broken;
    }
    /* A batch that passed the checks is encoded as if none of its events
     * were a duplicate, and the log starts writing it while its ids are
     * judged: the usual case, which a re-sent batch pays for by being
     * encoded and written again without its duplicates. */
    xy_commit c;
    int open = 0, rc;
    if (!why) {
        rc = open_whole_batch(db, events, ids, n, &c);
        if (rc) {
            if (duplicates) *duplicates = 0;
            return rc;
        }
        open = 1;
    }
    /* Then the ids, in the order of their keys: the event index's tables
     * and filters place a key by the top bits of its hi, so the lookups go
     * through them in ascending addresses instead of at random (at
     * population scale each random one is a cache miss and a page walk).
     * Each id is judged and, if new, staged in the same probe, numbered as
     * if every event before it in the batch were new too; a repeat of an
     * id earlier in the batch (equal keys sort in the batch's order) finds
     * its first occurrence staged. A refused batch takes them out. */
    xy_sid *sorted = sort_ids(g->sid, g->tmp, g->count, bad);
    xy__evindex_expect(&db->evix, bad);
    uint64_t dups;
    size_t conflict = judge_ids(db, sorted, bad, &dups);
    if (conflict < bad) {
        bad = conflict;
        why = "event id reused with different content";
    }
    if (why) {
        if (open) xy__db_commit_abandon(db, &c);
        xy__db_unstage(db);
        xy__diagf(diag, ctx, "event %zu (id %s): %s", bad, ids[bad] ? ids[bad] : "(none)", why);
        return XY_EINPUT;
    }
    if (duplicates) *duplicates = dups;
    if (!dups) {
        xy__db_commit_close(db, &c, n);
    } else {
        xy__db_commit_abandon(db, &c);
        xy_buf *batch = xy__db_batch(db);
        uint64_t nrec = rebatch_new(db, batch, events, ids, n, sorted);
        if (nrec == 0) return XY_OK;
        rc = xy__db_commit_begin(db, batch, nrec, &c);
        if (rc) {
            if (duplicates) *duplicates = 0;
            return rc;
        }
    }
    /* Durable once the second thread's sync is done; then applied on a
     * thread of its own while the caller prepares the next batch (see
     * xy__db_commit_end): nothing here reads what applying changes (the
     * checks above read a citizen's city, which events never change). A
     * failed commit takes the staged ids out. */
    rc = xy__db_commit_end(db, &c);
    if (rc && duplicates) *duplicates = 0;
    return rc;
}
