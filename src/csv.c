/* csv.c -- the RFC 4180 reader. Unquoted fields point into the caller's
 * buffer; quoted fields are unescaped into one scratch buffer that is
 * reused for every record, so a record costs no allocation. */
#include "csv.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "util.h"

void xy__csv_init(xy_csv *c, const char *buf, size_t len)
{
    memset(c, 0, sizeof *c);
    c->p = buf;
    c->end = buf + len;
    c->next_line = 1;
    /* A UTF-8 byte order mark is not part of the first header name. */
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) c->p += 3;
}

void xy__csv_free(xy_csv *c)
{
    xy__free(c->fields);
    xy__free(c->offs);
    xy__free(c->scratch);
    memset(c, 0, sizeof *c);
}

/* Out of line: it runs a few times per reader, add_field per field. */
static __attribute__((noinline)) void grow_fields(xy_csv *c)
{
    size_t cap = c->cap;
    xy__grow((void **)&c->fields, &c->cap, c->nfields + 1, sizeof *c->fields);
    xy__grow((void **)&c->offs, &cap, c->nfields + 1, sizeof *c->offs);
}

static inline void add_field(xy_csv *c, const char *s, size_t n, size_t off)
{
    if (c->nfields >= c->cap) grow_fields(c);
    c->fields[c->nfields].s = s;
    c->fields[c->nfields].n = n;
    c->offs[c->nfields] = off;
    c->nfields++;
}

static void scratch_put(xy_csv *c, const char *s, size_t n)
{
    if (n == 0) return;
    if (c->scratch_len + n > c->scratch_cap)
        xy__grow((void **)&c->scratch, &c->scratch_cap, c->scratch_len + n, 1);
    memcpy(c->scratch + c->scratch_len, s, n);
    c->scratch_len += n;
}

/* The first byte in [p, end) that is a comma, a line feed or a quote (or
 * end). Sixteen bytes at a time where SSE2 is there (every x86-64). */
static const char *scan_special(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i comma = _mm_set1_epi8(','), lf = _mm_set1_epi8('\n'), quote = _mm_set1_epi8('"');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, lf)),
                                   _mm_cmpeq_epi8(v, quote));
        int mask = _mm_movemask_epi8(hit);
        if (mask) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end && *p != ',' && *p != '\n' && *p != '"') p++;
    return p;
}

/* Skips the rest of a broken record: to the end of its physical line. */
static void skip_line(xy_csv *c)
{
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    c->p = nl ? nl + 1 : c->end;
    if (nl) c->next_line++;
}

/* Ends the record whose last field is [p, q), q being a line feed or the
 * end of the buffer: a carriage return before the line feed (or at the
 * very end) belongs to neither. */
static void end_plain(xy_csv *c, const char *p, const char *q)
{
    size_t n = (size_t)(q - p);
    if (n && p[n - 1] == '\r') n--;
    add_field(c, p, n, SIZE_MAX);
    c->rec_len = (size_t)(p + n - c->rec);
    if (q < c->end) {
        c->next_line++;
        q++;
    }
    c->p = q;
}

/* The common record: no quote before its line feed. Finds every comma
 * and the line feed from bit masks of 16 bytes at a time instead of one
 * scan per field. Returns 0, having changed nothing but the field count,
 * at the first quote: the general path reads such records. */
static int next_plain(xy_csv *c)
{
    const char *p = c->p, *start = p, *end = c->end;
#ifdef __SSE2__
    const __m128i comma = _mm_set1_epi8(','), lf = _mm_set1_epi8('\n'), quote = _mm_set1_epi8('"');
    for (; end - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned cm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma));
        unsigned lm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf));
        unsigned qm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote));
        /* Only what lies before the first line feed is this record's. */
        unsigned upto = lm ? (lm & -lm) - 1 : 0xffffu;
        if (qm & upto) return 0;
        for (unsigned m = cm & upto; m; m &= m - 1) {
            const char *q = p + __builtin_ctz(m);
            add_field(c, start, (size_t)(q - start), SIZE_MAX);
            start = q + 1;
        }
        if (lm) {
            end_plain(c, start, p + __builtin_ctz(lm));
            return 1;
        }
    }
#endif
    for (; p < end; p++) {
        if (*p == '"') return 0;
        if (*p == ',') {
            add_field(c, start, (size_t)(p - start), SIZE_MAX);
            start = p + 1;
        } else if (*p == '\n') {
            break;
        }
    }
    end_plain(c, start, p);
    return 1;
}

/* Ends the record at a mistake at `at`: the record runs to its line's
 * end, the reader goes on at the next line, and *why says what is wrong. */
static int reject(xy_csv *c, const char *at, const char *what, const char **why)
{
    c->p = c->bad = at;
    const char *nl = memchr(at, '\n', (size_t)(c->end - at));
    c->rec_len = (size_t)((nl ? nl : c->end) - c->rec);
    if (c->rec_len && c->rec[c->rec_len - 1] == '\r') c->rec_len--;
    skip_line(c);
    *why = what;
    return -1;
}

/* Reads the quoted field at c->p into the scratch buffer (a doubled quote
 * is one quote; line breaks inside count as lines) and adds it. Returns
 * the first byte after its closing quote, or NULL (the record rejected)
 * when the quote is never closed. */
static const char *read_quoted(xy_csv *c, const char **why)
{
    size_t off = c->scratch_len;
    const char *p = c->p + 1;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(c->end - p));
        if (!q) {
            c->rec_len = (size_t)(c->end - c->rec);
            c->bad = c->p;
            *why = "unterminated quoted field";
            c->p = c->end;
            return NULL;
        }
        for (const char *t = p; t < q; t++)
            if (*t == '\n') c->next_line++;
        scratch_put(c, p, (size_t)(q - p));
        if (q + 1 < c->end && q[1] == '"') {
            scratch_put(c, "\"", 1);
            p = q + 2;
            continue;
        }
        add_field(c, NULL, c->scratch_len - off, off);
        return q + 1;
    }
}

int xy__csv_next(xy_csv *c, const char **why)
{
    /* Skip blank lines. */
    while (c->p < c->end && (*c->p == '\n' || *c->p == '\r')) {
        if (*c->p == '\n') c->next_line++;
        c->p++;
    }
    if (c->p >= c->end) return 0;
    c->nfields = 0;
    c->scratch_len = 0;
    c->line = c->next_line;
    c->rec = c->p;
    if (!c->general_only && next_plain(c)) return 1;
    c->nfields = 0;
    for (;;) {
        const char *p = c->p;
        if (p < c->end && *p == '"') {
            p = read_quoted(c, why);
            if (!p) return -1;
            if (p < c->end && *p == '\r' && (p + 1 == c->end || p[1] == '\n')) p++;
            if (p < c->end && *p != ',' && *p != '\n') return reject(c, p, "unexpected character after a closing quote", why);
        } else {
            const char *q = scan_special(p, c->end);
            for (; q < c->end && *q != ',' && *q != '\n'; q++)
                if (*q == '"') return reject(c, q, "quote inside an unquoted field", why);
            size_t n = (size_t)(q - p);
            if (q < c->end && *q == '\n' && n && p[n - 1] == '\r') n--;
            else if (q == c->end && n && p[n - 1] == '\r') n--;
            add_field(c, p, n, SIZE_MAX);
            p = q;
        }
        if (p < c->end && *p == ',') {
            c->p = p + 1;
            continue;
        }
        /* End of record: at a line break or the end of the buffer. */
        c->rec_len = (size_t)(p - c->rec);
        if (c->rec_len && c->rec[c->rec_len - 1] == '\r') c->rec_len--;
        if (p < c->end) {
            c->next_line++;
            p++;
        }
        c->p = p;
        break;
    }
    for (size_t i = 0; i < c->nfields; i++)
        if (c->offs[i] != SIZE_MAX)
            c->fields[i].s = c->scratch ? c->scratch + c->offs[i] : "";
    return 1;
}

size_t xy__csv_field_offset(const char *rec, size_t len, size_t field)
{
    size_t i = 0;
    for (size_t f = 0; f < field; f++) {
        /* Past field f: a quoted part ends at a quote that is not doubled,
         * and the field at the next comma outside quotes. */
        int quoted = 0;
        for (; i < len; i++) {
            if (rec[i] == '"') quoted = !quoted;
            else if (rec[i] == ',' && !quoted) break;
        }
        if (i >= len) return len;
        i++;
    }
    return i;
}

void xy__csv_position(const char *rec, size_t off, uint64_t *line, uint64_t *col)
{
    size_t start = 0;
    *line = 0;
    for (size_t i = 0; i < off; i++)
        if (rec[i] == '\n') {
            (*line)++;
            start = i + 1;
        }
    *col = (uint64_t)xy__utf8_cols(rec + start, rec + off) + 1;
}
