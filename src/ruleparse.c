/* ruleparse.c -- the rules language's lexer and parser: lines split into
 * tokens with their columns, one function per directive, includes followed
 * (read once, cycles refused) and overrides applied as lines are read,
 * into the unit that rules.c compiles.
 *
 * Every mistake is reported as FILE:LINE:COLUMN: message and parsing goes
 * on with the next line, so one run shows every error of a file. */
#include "ruleparse.h"
#include "limitcount.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_TOKENS 256
#define MAX_GRADES 64
#define MAX_POINTS 1000000000LL     /* |points| of one behaviour */
#define MAX_SCORE 1000000000000LL   /* |base|, |min|, |max|, thresholds */

/* ----------------------------------------------------------------- lexing */

enum { TOK_WORD, TOK_STRING };

typedef struct token {
    int type;       /* TOK_WORD or TOK_STRING */
    const char *s;  /* text (for strings: unescaped, in the line buffer) */
    size_t n;       /* length */
    int col;        /* 1-based column in characters */
} token;



void xy__rules_report(diag *d, pos at, const char *fmt, ...)
{
    /* Built whole: a fixed buffer would cut a long path's line and column
     * off the message. */
    xy_buf msg = {0};
    xy__buf_printf(&msg, "%s:%d:%d: ", at.file, at.line, at.col);
    va_list ap;
    va_start(ap, fmt);
    xy__buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    d->errors++;
    if (xy__names_find(&d->seen, msg.data, msg.len) < 0) {
        xy__names_intern(&d->seen, msg.data, msg.len);
        if (d->fn) d->fn(d->ctx, msg.data);
    }
    xy__buf_free(&msg);
}

/* Splits one line (modified in place: strings are unescaped) into tokens.
 * Returns the token count, or -1 after reporting a lexical error. */
static int lex_line(diag *d, pos at, char *line, token *toks)
{
    int n = 0;
    char *p = line;
    for (;;) {
        /* A CR ends a line that ends in CRLF; anywhere else it is an error
         * rather than a separator no editor shows. */
        while (*p == ' ' || *p == '\t' || (*p == '\r' && p[1] == 0)) p++;
        if (*p == 0 || *p == '#') break;
        if (*p == '\r') {
            at.col = xy__utf8_cols(line, p) + 1;
            xy__rules_report(d, at, "carriage return inside the line");
            return -1;
        }
        if (n == MAX_TOKENS) {
            at.col = xy__utf8_cols(line, p) + 1;
            xy__rules_report(d, at, "too many tokens on one line");
            return -1;
        }
        token *t = &toks[n++];
        t->col = xy__utf8_cols(line, p) + 1;
        if (*p == '"') {
            char *w = p + 1, *r = p + 1;
            t->type = TOK_STRING;
            t->s = w;
            for (;;) {
                if (*r == 0) {
                    at.col = t->col;
                    xy__rules_report(d, at, "unterminated string");
                    return -1;
                }
                if (*r == '"') break;
                if (*r == '\\' && (r[1] == '"' || r[1] == '\\')) r++;
                *w++ = *r++;
            }
            t->n = (size_t)(w - t->s);
            /* Each escape left one byte behind: a space keeps the columns
             * of what follows (counted in characters over the line). */
            memset(w, ' ', (size_t)(r - w));
            p = r + 1;
            if (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#') {
                at.col = xy__utf8_cols(line, p) + 1;
                xy__rules_report(d, at, "expected a space after the closing quote");
                return -1;
            }
        } else {
            t->type = TOK_WORD;
            t->s = p;
            while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#' && *p != '"')
                p++;
            t->n = (size_t)(p - t->s);
            if (*p == '"') {
                at.col = xy__utf8_cols(line, p) + 1;
                xy__rules_report(d, at, "expected a space before the opening quote");
                return -1;
            }
        }
    }
    return n;
}

static int tok_is(const token *t, const char *word)
{
    return t->type == TOK_WORD && strlen(word) == t->n && memcmp(t->s, word, t->n) == 0;
}

static int is_ident(const token *t, int allow_plus)
{
    if (t->type != TOK_WORD || t->n == 0) return 0;
    char c = t->s[0];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_')) return 0;
    for (size_t i = 1; i < t->n; i++) {
        c = t->s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || (allow_plus && c == '+')))
            return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- parsing */


void xy__rules_unit_free(unit *u)
{
    xy__free(u->city_id);
    xy__free(u->display);
    xy__free(u->regions);
    for (size_t i = 0; i < u->ngrades; i++) xy__free(u->grades[i].name);
    xy__free(u->grades);
    for (size_t i = 0; i < u->nbehaviours; i++) xy__free(u->behaviours[i].text);
    xy__free(u->behaviours);
    xy__map_free(&u->behaviour_index);
    for (size_t i = 0; i < u->nagencies; i++) {
        for (int j = 0; j < u->agencies[i].nitems; j++) xy__free(u->agencies[i].items[j].name);
        xy__free(u->agencies[i].items);
        xy__free(u->agencies[i].name);
    }
    xy__free(u->agencies);
    for (size_t i = 0; i < u->ncons; i++) {
        xy__free(u->cons[i].c.name);
        xy__free(u->cons[i].c.actions);
        xy__free(u->cons[i].c.text);
        for (int j = 0; j < u->cons[i].ngrades; j++) xy__free(u->cons[i].grades[j].name);
        xy__free(u->cons[i].grades);
    }
    xy__free(u->cons);
    for (size_t i = 0; i < u->nstack; i++) xy__free(u->stack[i]);
    xy__free(u->stack);
    xy__names_free(&u->read);
    for (size_t i = 0; i < u->npaths; i++) xy__free(u->paths[i]);
    xy__free(u->paths);
}

typedef struct line_ctx {
    unit *u;      /* the unit being built */
    pos at;       /* file and line; col set per message */
    token *t;     /* tokens */
    int n;        /* token count */
    int i;        /* next token */
} line_ctx;

static pos tok_pos(line_ctx *l, int i)
{
    pos p = l->at;
    if (i < l->n) p.col = l->t[i].col;
    else if (l->n > 0) p.col = l->t[l->n - 1].col + xy__utf8_cols(l->t[l->n - 1].s, l->t[l->n - 1].s + l->t[l->n - 1].n) + (l->t[l->n - 1].type == TOK_STRING ? 2 : 0);
    else p.col = 1;
    return p;
}

#define FAIL(l, i, ...)                                                     \
    do {                                                                    \
        xy__rules_report((l)->u->d, tok_pos((l), (i)), __VA_ARGS__);                  \
        return -1;                                                          \
    } while (0)

/* Reports at the next token what was expected (fmt) and what was found
 * instead: a word as it is, a string as a string, since a string's text
 * shown bare reads as the word it spells (`scored "from"` is no 'from'). */
static int fail_found(line_ctx *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_found(line_ctx *l, const char *fmt, ...)
{
    char what[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const token *t = &l->t[l->i];
    if (t->type == TOK_STRING) FAIL(l, l->i, "%s, found a string", what);
    FAIL(l, l->i, "%s, found '%.*s'", what, (int)t->n, t->s);
}

/* Whether the next token is word; if it is, it is taken. */
static int take_word(line_ctx *l, const char *word)
{
    if (l->i >= l->n || !tok_is(&l->t[l->i], word)) return 0;
    l->i++;
    return 1;
}

static int need_word(line_ctx *l, const char *word)
{
    if (take_word(l, word)) return 0;
    if (l->i < l->n) return fail_found(l, "expected '%s'", word);
    FAIL(l, l->i, "expected '%s' at the end of the line", word);
}

static int need_int(line_ctx *l, int64_t lo, int64_t hi, int allow_sign,
                    const char *what, int64_t *out)
{
    if (l->i >= l->n) FAIL(l, l->i, "expected %s at the end of the line", what);
    const token *t = &l->t[l->i];
    const char *s = t->s;
    size_t n = t->n;
    int neg = 0;
    if (t->type == TOK_WORD && n > 1 && (s[0] == '+' || s[0] == '-')) {
        if (!allow_sign) FAIL(l, l->i, "%s takes no sign", what);
        neg = s[0] == '-';
        s++;
        n--;
    }
    if (t->type != TOK_WORD || n == 0) return fail_found(l, "expected %s", what);
    int64_t v = 0;
    int big = 0; /* past any bound (10^18 and more): out of range below */
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9') return fail_found(l, "expected %s", what);
        if (v >= 100000000000000000LL) big = 1;
        else v = v * 10 + (s[k] - '0');
    }
    if (neg) v = -v;
    if (big || v < lo || v > hi)
        FAIL(l, l->i, "%s must be between %lld and %lld", what, (long long)lo, (long long)hi);
    l->i++;
    *out = v;
    return 0;
}

static int need_days(line_ctx *l, const char *what, int32_t *out)
{
    int64_t v;
    if (need_int(l, 1, XY_MAX_DAYS, 0, what, &v)) return -1;
    if (l->i < l->n && (tok_is(&l->t[l->i], "days") || tok_is(&l->t[l->i], "day"))) {
        l->i++;
        *out = (int32_t)v;
        return 0;
    }
    return need_word(l, "days");
}

static int need_ident(line_ctx *l, int allow_plus, const char *what, char **out)
{
    if (l->i >= l->n) FAIL(l, l->i, "expected %s at the end of the line", what);
    const token *t = &l->t[l->i];
    if (!is_ident(t, allow_plus)) return fail_found(l, "expected %s", what);
    *out = xy__strndup(t->s, t->n);
    l->i++;
    return 0;
}

static int end_of_line(line_ctx *l)
{
    if (l->i < l->n)
        FAIL(l, l->i, "unexpected '%.*s'", (int)l->t[l->i].n, l->t[l->i].s);
    return 0;
}

/* An optional trailing description. */
static char *opt_text(line_ctx *l)
{
    if (l->i < l->n && l->t[l->i].type == TOK_STRING) {
        char *s = xy__strndup(l->t[l->i].s, l->t[l->i].n);
        l->i++;
        return s;
    }
    return NULL;
}


static int d_include(line_ctx *l)
{
    if (l->i >= l->n || l->t[l->i].type != TOK_STRING)
        FAIL(l, l->i, "include needs a quoted file name");
    const token *t = &l->t[l->i];
    pos from = tok_pos(l, l->i);
    l->i++;
    if (end_of_line(l)) return -1;
    /* Relative to the including file, as reached: l->at.file is the name
     * the file was first read under, perhaps through another directory (a
     * symbolic link), and resolving against it would make a city depend on
     * which files were named before it. */
    xy_buf b = {0};
    const char *from_path = l->u->reached;
    const char *slash = strrchr(from_path, '/');
    if (t->n && t->s[0] != '/' && slash)
        xy__buf_append(&b, from_path, (size_t)(slash - from_path) + 1);
    xy__buf_append(&b, t->s, t->n);
    int rc = xy__rules_parse_file(l->u, b.data, from);
    xy__buf_free(&b);
    return rc;
}

static int d_city(line_ctx *l)
{
    unit *u = l->u;
    if (u->has_city)
        FAIL(l, 0, "duplicate city: this ruleset already declared city '%s' at %s:%d",
             u->city_id, u->city_at.file, u->city_at.line);
    if (u->nstack > 1)
        FAIL(l, 0, "a city line belongs in the city's own file, not in an included file");
    char *id;
    if (need_ident(l, 0, "a city id", &id)) return -1;
    char *display = opt_text(l);
    if (end_of_line(l)) {
        xy__free(id);
        xy__free(display);
        return -1;
    }
    u->has_city = 1;
    u->city_id = id;
    u->display = display ? display : xy__strndup(id, strlen(id));
    u->city_at = tok_pos(l, 0);
    u->city_id_at = tok_pos(l, 1);
    return 0;
}

static int d_region(line_ctx *l)
{
    unit *u = l->u;
    if (l->i >= l->n) FAIL(l, l->i, "region needs at least one division-code prefix");
    for (; l->i < l->n; l->i++) {
        const token *t = &l->t[l->i];
        if (t->type != TOK_WORD || t->n < 1 || t->n > 6) return fail_found(l, "a region prefix has 1 to 6 digits");
        uint32_t v = 0;
        for (size_t k = 0; k < t->n; k++) {
            if (t->s[k] < '0' || t->s[k] > '9') return fail_found(l, "a region prefix has 1 to 6 digits");
            v = v * 10 + (uint32_t)(t->s[k] - '0');
        }
        region_def r = {v, (int)t->n, tok_pos(l, l->i)};
        XY_PUSH(u->regions, u->nregions, u->cap_regions, r);
    }
    return 0;
}

static int d_score(line_ctx *l)
{
    unit *u = l->u;
    int seen_base = 0, seen_min = 0, seen_max = 0;
    int64_t base = 0, min = 0, max = 0;
    int at_base = 0, at_max = 0; /* the tokens of their values, for the messages below */
    while (l->i < l->n) {
        int k = l->i;
        int64_t *dst;
        int *seen;
        if (tok_is(&l->t[k], "base")) dst = &base, seen = &seen_base, at_base = k + 1;
        else if (tok_is(&l->t[k], "min")) dst = &min, seen = &seen_min;
        else if (tok_is(&l->t[k], "max")) dst = &max, seen = &seen_max, at_max = k + 1;
        else if (l->t[k].type == TOK_STRING) return fail_found(l, "expected base, min or max");
        else FAIL(l, k, "unknown score attribute '%.*s' (expected base, min or max)",
                  (int)l->t[k].n, l->t[k].s);
        if (*seen) FAIL(l, k, "'%.*s' given twice", (int)l->t[k].n, l->t[k].s);
        *seen = 1;
        l->i++;
        if (need_int(l, -MAX_SCORE, MAX_SCORE, 1, "a score", dst)) return -1;
    }
    if (!seen_base) FAIL(l, 0, "score needs 'base N'");
    if (seen_min && seen_max && min > max)
        FAIL(l, at_max, "score min %lld is above max %lld", (long long)min, (long long)max);
    if ((seen_min && base < min) || (seen_max && base > max))
        FAIL(l, at_base, "score base %lld lies outside [min, max]", (long long)base);
    u->has_score = 1;
    u->score_at = l->at;
    u->base = base;
    u->min = min;
    u->max = max;
    u->has_min = seen_min;
    u->has_max = seen_max;
    return 0;
}

static int d_scored(line_ctx *l)
{
    int64_t age;
    if (need_word(l, "from") || need_word(l, "age") ||
        need_int(l, 0, 150, 0, "an age", &age) || end_of_line(l))
        return -1;
    l->u->scoring_age = (int)age;
    return 0;
}

static int d_grade(line_ctx *l)
{
    unit *u = l->u;
    char *name;
    int64_t from;
    int k = l->i;
    pos at = tok_pos(l, k);
    if (need_ident(l, 1, "a grade name", &name)) return -1;
    if (need_word(l, "from") || need_int(l, -MAX_SCORE, MAX_SCORE, 1, "a lower bound", &from) ||
        end_of_line(l)) {
        xy__free(name);
        return -1;
    }
    for (size_t i = 0; i < u->ngrades; i++)
        if (strcmp(u->grades[i].name, name) == 0) {
            xy__free(u->grades[i].name);
            u->grades[i] = (grade_def){name, from, at};
            return 0;
        }
    if (u->ngrades == MAX_GRADES) {
        xy__free(name);
        FAIL(l, k, "a city has at most %d grades", MAX_GRADES);
    }
    grade_def g = {name, from, at};
    XY_PUSH(u->grades, u->ngrades, u->cap_grades, g);
    return 0;
}

/* The place of pos p, its file entered in the rules' file table. */
xy_src xy__rules_src_of(unit *u, pos p)
{
    if (!p.file) return (xy_src){0, 0};
    return (xy_src){xy__names_intern(&u->rules->files, p.file, strlen(p.file)) + 1, p.line};
}

/* The attributes a behaviour line may give, each at most once, in the
 * order of behaviour_attr_names. */
enum { ATTR_POINTS, ATTR_PER, ATTR_CAP, ATTR_LIMIT, ATTR_EXPIRES, ATTR_LISTS, ATTR_CATEGORY, NATTRS };

static const char *const behaviour_attr_names[NATTRS] = {
    "points", "per", "cap", "limit", "expires", "lists", "category",
};

/* Reads the value that follows behaviour attribute `attr` into b. */
static int behaviour_value(line_ctx *l, int attr, xy_behaviour *b)
{
    int64_t v;
    switch (attr) {
    case ATTR_POINTS:
        if (need_int(l, -MAX_POINTS, MAX_POINTS, 1, "a number of points", &v)) return -1;
        b->points = (int32_t)v;
        return 0;
    case ATTR_PER:
        if (need_int(l, 1, 1000000000000LL, 0, "an amount unit", &v)) return -1;
        b->per = v * XY_MICRO;
        return 0;
    case ATTR_CAP:
        if (need_int(l, 1, MAX_POINTS, 0, "a cap", &v)) return -1;
        b->cap = v;
        return 0;
    case ATTR_LIMIT:
        if (need_int(l, 1, 1000000, 0, "a limit", &v) || need_word(l, "per") ||
            need_word(l, "year"))
            return -1;
        b->limit = (int32_t)v;
        return 0;
    case ATTR_EXPIRES:
        return need_days(l, "a number of days", &b->expires);
    case ATTR_LISTS:
        if (need_word(l, "blacklist") || need_word(l, "for") ||
            need_days(l, "a number of days", &b->term))
            return -1;
        return 0;
    default: { /* ATTR_CATEGORY */
        char *cat;
        if (need_ident(l, 0, "a category", &cat)) return -1;
        b->category = xy__names_intern(&l->u->rules->category_names, cat, strlen(cat));
        xy__free(cat);
        return 0;
    }
    }
}

/* Reads a behaviour's attributes and its closing description into b,
 * setting *has_points when the line gives its points. On an error b may
 * hold a description, which the caller frees. */
static int behaviour_attrs(line_ctx *l, xy_behaviour *b, int *has_points)
{
    int seen[NATTRS] = {0};
    while (l->i < l->n) {
        const token *t = &l->t[l->i];
        if (t->type == TOK_STRING) {
            b->text = xy__strndup(t->s, t->n);
            l->i++;
            if (end_of_line(l)) return -1;
            break;
        }
        int attr = 0;
        while (attr < NATTRS && !tok_is(t, behaviour_attr_names[attr])) attr++;
        if (attr == NATTRS) FAIL(l, l->i, "unknown attribute '%.*s'", (int)t->n, t->s);
        if (seen[attr]) FAIL(l, l->i, "attribute '%.*s' given twice", (int)t->n, t->s);
        seen[attr] = 1;
        l->i++;
        if (behaviour_value(l, attr, b)) return -1;
    }
    *has_points = seen[ATTR_POINTS];
    return 0;
}

/* Enters behaviour b under name in the unit, replacing an earlier
 * definition of the same name (the override), and takes b's description. */
static int define_behaviour(unit *u, const char *name, pos at, xy_behaviour *b)
{
    /* Yearly limit counts pack the name id into 24 bits (limitcount.h). */
    if (u->rules->behaviour_names.count >= XY_LIMITS_MAX_NAME &&
        xy__names_find(&u->rules->behaviour_names, name, strlen(name)) < 0) {
        xy__rules_report(u->d, at, "too many behaviours: at most %d names", XY_LIMITS_MAX_NAME);
        return -1;
    }
    b->name = xy__names_intern(&u->rules->behaviour_names, name, strlen(name));
    b->at = xy__rules_src_of(u, at);
    int is_new;
    uint64_t *slot = xy__map_put(&u->behaviour_index, (uint64_t)b->name, &is_new);
    if (!is_new) {
        size_t i = (size_t)*slot;
        xy__free(u->behaviours[i].text);
        u->behaviours[i] = *b;
        return 0;
    }
    *slot = u->nbehaviours;
    XY_PUSH(u->behaviours, u->nbehaviours, u->cap_behaviours, *b);
    return 0;
}

static int d_behaviour(line_ctx *l)
{
    xy_behaviour b = {0};
    b.category = -1;
    int has_points = 0;
    pos at = tok_pos(l, l->i);
    char *name;
    if (need_ident(l, 0, "a behaviour name", &name)) return -1;
    int rc = -1;
    if (behaviour_attrs(l, &b, &has_points)) goto done;
    if (!has_points) {
        xy__rules_report(l->u->d, at, "behaviour '%s' has no points", name);
        goto done;
    }
    rc = define_behaviour(l->u, name, at, &b);
done:
    xy__free(name);
    if (rc) xy__free(b.text);
    return rc;
}

static void free_refs(ref *r, int n)
{
    for (int i = 0; i < n; i++) xy__free(r[i].name);
    xy__free(r);
}

static int d_agency(line_ctx *l)
{
    unit *u = l->u;
    agency_def a = {0};
    size_t cap = 0, n = 0;
    a.at = tok_pos(l, 0);
    if (need_ident(l, 0, "an agency name", &a.name)) return -1;
    if (need_word(l, "reports")) goto fail;
    if (take_word(l, "category")) {
        a.by_category = 1;
    }
    if (l->i >= l->n) {
        xy__rules_report(u->d, tok_pos(l, l->i), "agency '%s' reports nothing", a.name);
        goto fail;
    }
    while (l->i < l->n) {
        ref r = {NULL, tok_pos(l, l->i)};
        if (need_ident(l, 0, a.by_category ? "a category" : "a behaviour name", &r.name))
            goto fail;
        XY_PUSH(a.items, n, cap, r);
        a.nitems = (int)n;
    }
    for (size_t i = 0; i < u->nagencies; i++)
        if (strcmp(u->agencies[i].name, a.name) == 0) {
            free_refs(u->agencies[i].items, u->agencies[i].nitems);
            xy__free(u->agencies[i].name);
            u->agencies[i] = a;
            return 0;
        }
    XY_PUSH(u->agencies, u->nagencies, u->cap_agencies, a);
    return 0;
fail:
    free_refs(a.items, (int)n);
    xy__free(a.name);
    return -1;
}

static int d_blacklist(line_ctx *l)
{
    unit *u = l->u;
    int64_t v;
    if (take_word(l, "below")) {
        if (need_int(l, -MAX_SCORE, MAX_SCORE, 1, "a threshold", &v) || end_of_line(l)) return -1;
        u->has_blacklist = 1;
        u->bl_below = v;
        u->bl_at = l->at;
        return 0;
    }
    if (take_word(l, "exit")) {
        int32_t days;
        if (need_int(l, -MAX_SCORE, MAX_SCORE, 1, "a threshold", &v) || need_word(l, "after") ||
            need_days(l, "a number of days", &days) || end_of_line(l))
            return -1;
        u->has_exit = 1;
        u->bl_exit = v;
        u->exit_days = days;
        u->exit_at = tok_pos(l, 0);
        return 0;
    }
    FAIL(l, l->i, "expected 'blacklist below N' or 'blacklist exit N after D days'");
}

static int d_whitelist(line_ctx *l)
{
    int64_t v;
    if (need_word(l, "from") || need_int(l, -MAX_SCORE, MAX_SCORE, 1, "a threshold", &v) ||
        end_of_line(l))
        return -1;
    l->u->has_whitelist = 1;
    l->u->wl_from = v;
    l->u->wl_at = l->at;
    return 0;
}

static int parse_actions(line_ctx *l, cons_def *c)
{
    size_t cap = 0, n = 0;
    while (l->i < l->n && l->t[l->i].type == TOK_WORD) {
        char *a;
        if (need_ident(l, 0, "an action name", &a)) {
            c->c.nactions = (int)n;
            return -1;
        }
        int32_t id = xy__names_intern(&l->u->rules->action_names, a, strlen(a));
        xy__free(a);
        XY_PUSH(c->c.actions, n, cap, id);
    }
    c->c.nactions = (int)n;
    if (n == 0) FAIL(l, l->i, "expected at least one action name");
    return 0;
}

/* Frees what a consequence definition owns. */
static void cons_def_free(cons_def *c)
{
    xy__free(c->c.name);
    xy__free(c->c.actions);
    xy__free(c->c.text);
    free_refs(c->grades, c->ngrades);
}

/* Adds the grade names of token t, split at its commas, to c's grades,
 * and says in *more whether t ends with a comma (the list goes on in the
 * next token); on_grades handles the commas that stand between tokens. */
static int grade_names_of_token(line_ctx *l, const token *t, cons_def *c, size_t *cap, int *more)
{
    size_t n = (size_t)c->ngrades;
    const char *s = t->s, *e = t->s + t->n;
    *more = 0;
    if (t->type == TOK_STRING) {
        /* A grade is named by a word; strings are descriptions. */
        pos at = l->at;
        at.col = t->col;
        xy__rules_report(l->u->d, at, "expected a grade name, found a string");
        return -1;
    }
    while (s < e) {
        const char *comma = memchr(s, ',', (size_t)(e - s));
        const char *stop = comma ? comma : e;
        token g = {TOK_WORD, s, (size_t)(stop - s), t->col + xy__utf8_cols(t->s, s)};
        pos gat = l->at;
        gat.col = g.col;
        if (g.n == 0) { /* ",A", "A,,B" */
            xy__rules_report(l->u->d, gat, "expected a grade name before ','");
            return -1;
        }
        if (!is_ident(&g, 1)) {
            xy__rules_report(l->u->d, gat, "expected a grade name, found '%.*s'", (int)g.n, g.s);
            return -1;
        }
        ref r = {xy__strndup(g.s, g.n), gat};
        XY_PUSH(c->grades, n, *cap, r);
        c->ngrades = (int)n;
        *more = comma != NULL && comma + 1 == e;
        s = comma ? comma + 1 : e;
    }
    return 0;
}

/* Reads the grade list of `on grade`: one token "A,B" or several
 * "A, B" / "A ,B". */
static int on_grades(line_ctx *l, cons_def *c)
{
    size_t cap = 0;
    int more = 1;
    while (more) {
        if (l->i >= l->n) FAIL(l, l->i, "expected a grade name at the end of the line");
        if (grade_names_of_token(l, &l->t[l->i], c, &cap, &more)) return -1;
        l->i++;
        if (more && l->i < l->n &&
            (tok_is(&l->t[l->i], "for") || tok_is(&l->t[l->i], "children") || tok_is(&l->t[l->i], "deny") ||
             tok_is(&l->t[l->i], "priority") || tok_is(&l->t[l->i], "discount")))
            FAIL(l, l->i, "expected a grade name after ',', found '%.*s'",
                 (int)l->t[l->i].n, l->t[l->i].s);
        if (!more && l->i < l->n && l->t[l->i].type == TOK_WORD && l->t[l->i].s[0] == ',') {
            more = 1;
            if (l->t[l->i].n == 1) l->i++;
            else {
                l->t[l->i].s++;
                l->t[l->i].n--;
                l->t[l->i].col++;
            }
        }
    }
    return 0;
}

/* Reads what follows `on`: the list or the grades that bring c on. */
static int consequence_on(line_ctx *l, cons_def *c)
{
    if (take_word(l, "blacklist")) {
        c->c.on = XY_ON_BLACKLIST;
        return 0;
    }
    if (take_word(l, "whitelist")) {
        c->c.on = XY_ON_WHITELIST;
        return 0;
    }
    if (take_word(l, "grade")) {
        c->c.on = XY_ON_GRADE;
        return on_grades(l, c);
    }
    FAIL(l, l->i, "expected 'blacklist', 'whitelist' or 'grade G[,G...]' after 'on'");
}

/* Reads the effect, `deny`, `priority` or `discount P`, into c. */
static int consequence_effect(line_ctx *l, cons_def *c)
{
    if (take_word(l, "deny")) {
        c->c.effect = XY_DENY;
        return 0;
    }
    if (take_word(l, "priority")) {
        c->c.effect = XY_PRIORITY;
        return 0;
    }
    if (take_word(l, "discount")) {
        int64_t pct;
        c->c.effect = XY_DISCOUNT;
        if (need_int(l, 1, 100, 0, "a percentage", &pct)) return -1;
        c->c.percent = (int32_t)pct;
        return 0;
    }
    if (l->i < l->n) return fail_found(l, "expected 'deny', 'priority' or 'discount'");
    FAIL(l, l->i, "expected 'deny', 'priority' or 'discount' at the end of the line");
}

static int d_consequence(line_ctx *l, int kind)
{
    unit *u = l->u;
    cons_def c = {0};
    c.at = tok_pos(l, 0);
    c.c.kind = (uint8_t)kind;
    c.c.for_slot = -1;
    if (need_ident(l, 0, kind == XY_SANCTION ? "a sanction name" : "a privilege name", &c.c.name) ||
        need_word(l, "on") || consequence_on(l, &c))
        goto fail;
    if (take_word(l, "for")) {
        if (need_days(l, "a number of days", &c.c.days)) goto fail;
    }
    if (take_word(l, "children")) {
        c.c.children = 1;
    }
    if (consequence_effect(l, &c) || parse_actions(l, &c)) goto fail;
    c.c.text = opt_text(l);
    if (end_of_line(l)) goto fail;
    for (size_t i = 0; i < u->ncons; i++)
        if (strcmp(u->cons[i].c.name, c.c.name) == 0) {
            cons_def_free(&u->cons[i]);
            u->cons[i] = c;
            return 0;
        }
    XY_PUSH(u->cons, u->ncons, u->cap_cons, c);
    return 0;
fail:
    cons_def_free(&c);
    return -1;
}

static int d_association(line_ctx *l)
{
    unit *u = l->u;
    int64_t pts, every, max = 0;
    if (need_int(l, -MAX_POINTS, MAX_POINTS, 1, "a number of points", &pts) || need_word(l, "per") ||
        need_word(l, "blacklisted") || need_word(l, "contact") || need_word(l, "every") ||
        need_int(l, 1, XY_MAX_DAYS, 0, "a number of days", &every))
        return -1;
    if (!take_word(l, "days") && !take_word(l, "day")) return need_word(l, "days");
    if (take_word(l, "max")) {
        int k = l->i;
        if (need_int(l, -MAX_SCORE, MAX_SCORE, 1, "a bound", &max)) return -1;
        if (pts != 0 && (max == 0 || (max < 0) != (pts < 0)))
            FAIL(l, k, "the bound must have the sign of the points");
    }
    if (end_of_line(l)) return -1;
    if (pts == 0) FAIL(l, 1, "association points must not be zero");
    u->has_assoc = 1;
    u->assoc_at = l->at;
    u->assoc_points = pts;
    u->assoc_every = (int32_t)every;
    u->assoc_max = max;
    return 0;
}

static int d_publish(line_ctx *l)
{
    if (l->i >= l->n) FAIL(l, l->i, "expected 'blacklist' or 'scores'");
    for (; l->i < l->n; l->i++) {
        if (tok_is(&l->t[l->i], "blacklist")) l->u->publish_blacklist = 1;
        else if (tok_is(&l->t[l->i], "scores")) l->u->publish_scores = 1;
        else return fail_found(l, "expected 'blacklist' or 'scores'");
    }
    return 0;
}

static void parse_line(unit *u, pos at, token *t, int n)
{
    line_ctx l = {u, at, t, n, 1};
    const token *d = &t[0];
    if (d->type != TOK_WORD) {
        xy__rules_report(u->d, tok_pos(&l, 0), "expected a directive, found a string");
        return;
    }
    if (tok_is(d, "include")) d_include(&l);
    else if (tok_is(d, "city")) d_city(&l);
    else if (tok_is(d, "region")) d_region(&l);
    else if (tok_is(d, "score")) d_score(&l);
    else if (tok_is(d, "scored")) d_scored(&l);
    else if (tok_is(d, "grade")) d_grade(&l);
    else if (tok_is(d, "behaviour") || tok_is(d, "behavior")) d_behaviour(&l);
    else if (tok_is(d, "agency")) d_agency(&l);
    else if (tok_is(d, "blacklist")) d_blacklist(&l);
    else if (tok_is(d, "whitelist")) d_whitelist(&l);
    else if (tok_is(d, "sanction")) d_consequence(&l, XY_SANCTION);
    else if (tok_is(d, "privilege")) d_consequence(&l, XY_PRIVILEGE);
    else if (tok_is(d, "association")) d_association(&l);
    else if (tok_is(d, "publish")) d_publish(&l);
    else xy__rules_report(u->d, tok_pos(&l, 0), "unknown directive '%.*s'", (int)d->n, d->s);
}

/* Limits on what a ruleset's files may be: the deepest include chain (each
 * level is a frame of parse_file's recursion) and the largest file (a
 * device such as /dev/zero never ends). */
enum { MAX_INCLUDE_DEPTH = 64, MAX_RULES_FILE = 64 << 20 };

/* Why the file at path cannot be one of a ruleset's (not a regular file,
 * too large, not there), or NULL when it can be read as one. */
static const char *not_a_rules_file(const char *path)
{
    struct stat st;
    if (stat(path, &st)) return strerror(errno);
    if (!S_ISREG(st.st_mode)) return S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file";
    if (st.st_size > MAX_RULES_FILE) return "larger than 64 MiB";
    return NULL;
}

int xy__rules_parse_file(unit *u, const char *path, pos from)
{
    char *data = NULL;
    size_t len;
    const char *why = NULL;
    if (u->nstack >= MAX_INCLUDE_DEPTH) {
        xy__rules_report(u->d, from, "includes nested more than %d files deep", MAX_INCLUDE_DEPTH);
        return -1;
    }
    char *real = realpath(path, NULL);
    int rc = real ? XY_OK : XY_ENOENT;
    if (real && (why = not_a_rules_file(real)) == NULL) rc = xy__read_file(real, &data, &len);
    if (rc || why) {
        if (!why) why = strerror(errno ? errno : ENOENT);
        if (from.file) {
            xy__rules_report(u->d, from, "cannot include \"%s\": %s", path, why);
        } else {
            u->d->errors++;
            xy__diagf(u->d->fn, u->d->ctx, "%s: cannot read: %s", path, why);
        }
        free(real);
        return -1;
    }
    for (size_t i = 0; i < u->nstack; i++)
        if (strcmp(u->stack[i], real) == 0) {
            xy__rules_report(u->d, from, "include cycle: \"%s\" is already being read", path);
            free(real);
            xy__free(data);
            return -1;
        }
    if (xy__names_find(&u->read, real, strlen(real)) >= 0) {
        free(real); /* read once */
        xy__free(data);
        return 0;
    }
    xy__names_intern(&u->read, real, strlen(real));
    XY_PUSH(u->stack, u->nstack, u->cap_stack, xy__strndup(real, strlen(real)));
    int32_t known = xy__names_find(&u->d->reals, real, strlen(real));
    if (known < 0) {
        xy__names_intern(&u->d->reals, real, strlen(real));
        XY_PUSH(u->d->names, u->d->nnames, u->d->cap_names, xy__strndup(path, strlen(path)));
    }
    const char *name = known >= 0 ? u->d->names[known] : path;
    free(real);
    char *shown = xy__strndup(name, strlen(name));
    xy__names_intern(&u->rules->sources, shown, strlen(shown));
    XY_PUSH(u->paths, u->npaths, u->cap_paths, shown);

    const char *outer = u->reached;
    u->reached = path;
    token *toks = xy__malloc(MAX_TOKENS * sizeof *toks);
    char *p = data;
    /* A byte order mark, which some editors write, is no part of the
     * first line (nor of its columns: an editor does not show it). */
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) p += 3;
    int lineno = 0;
    while (*p || p < data + len) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        if (nl) *nl = 0;
        lineno++;
        pos at = {shown, lineno, 1};
        if (memchr(p, 0, (size_t)((nl ? nl : data + len) - p)) != NULL &&
            strlen(p) != (size_t)((nl ? nl : data + len) - p)) {
            at.col = xy__utf8_cols(p, p + strlen(p)) + 1;
            xy__rules_report(u->d, at, "NUL byte in the line");
        } else if (xy__utf8_valid(p, strlen(p)) < strlen(p)) {
            /* A ruleset is UTF-8 text: its names and descriptions are
             * shown as they are, in JSON too. */
            at.col = xy__utf8_cols(p, p + xy__utf8_valid(p, strlen(p))) + 1;
            xy__rules_report(u->d, at, "not valid UTF-8");
        } else {
            int n = lex_line(u->d, at, p, toks);
            if (n > 0) parse_line(u, at, toks, n);
        }
        if (!nl) break;
        p = nl + 1;
        if (p >= data + len) break;
    }
    xy__free(toks);
    xy__free(data);
    u->reached = outer;
    xy__free(u->stack[--u->nstack]);
    return 0;
}

/* Whether a file declares a city: a cheap look at its lines. */
int xy__rules_declares_city(const char *path)
{
    char *data;
    size_t len;
    /* What parse_file refuses to read (it says why) declares nothing. */
    if (not_a_rules_file(path) || xy__read_file(path, &data, &len)) return 0;
    int found = 0;
    char *p = data;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* skipped as parse_file skips it */
    while (p && *p && !found) {
        while (*p == ' ' || *p == '\t') p++;
        if (strncmp(p, "city", 4) == 0 && (p[4] == 0 || strchr(" \t\r\n#", p[4]))) found = 1;
        p = strchr(p, '\n');
        if (p) p++;
    }
    xy__free(data);
    return found;
}
