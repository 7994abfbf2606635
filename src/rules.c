/* rules.c -- the rules language: a line lexer with columns, a parser that
 * follows includes (read once, cycles refused) and applies overrides, and
 * the compiler that turns each city into the dense tables of rules.h.
 *
 * Every mistake is reported as FILE:LINE:COLUMN: message and parsing goes
 * on with the next line, so one run shows every error of a file. */
#include "rules.h"
#include "limits.h"

#include <dirent.h>
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

typedef struct pos {
    const char *file; /* path as the user named it (owned by the loader) */
    int line;         /* 1-based */
    int col;          /* 1-based */
} pos;

typedef struct diag {
    xy_diag_fn *fn;   /* user sink */
    void *ctx;        /* its context */
    int errors;       /* errors reported */
    xy_names seen;    /* messages already reported (shared files are read
                         by several cities but each mistake is told once) */
    xy_names reals;   /* real paths of the files read so far, and */
    char **names;     /* the name each was first read under, which it keeps
                         (so "a/../x.rules" and "x.rules" are one file) */
    size_t nnames, cap_names;
} diag;

static void report(diag *d, pos at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(diag *d, pos at, const char *fmt, ...)
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
            report(d, at, "carriage return inside the line");
            return -1;
        }
        if (n == MAX_TOKENS) {
            at.col = xy__utf8_cols(line, p) + 1;
            report(d, at, "too many tokens on one line");
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
                    report(d, at, "unterminated string");
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
                report(d, at, "expected a space after the closing quote");
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
                report(d, at, "expected a space before the opening quote");
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

typedef struct ref {
    char *name; /* referenced name */
    pos at;     /* where */
} ref;

typedef struct agency_def {
    char *name;      /* agency name */
    int by_category; /* items are categories, not behaviours */
    ref *items;      /* behaviour or category names */
    int nitems;      /* their number */
    pos at;          /* the directive */
} agency_def;

typedef struct cons_def {
    xy_consequence c; /* compiled form, grades resolved at the end */
    ref *grades;      /* grade names of `on grade` */
    int ngrades;      /* their number */
    pos at;           /* the directive */
} cons_def;

typedef struct grade_def {
    char *name;   /* grade name */
    int64_t from; /* lower bound */
    pos at;       /* the directive */
} grade_def;

typedef struct region_def {
    uint32_t prefix; /* value */
    int digits;      /* length */
    pos at;          /* where */
} region_def;

/* Everything one city (or one shared file checked alone) declares, with
 * overrides applied as lines are read. */
typedef struct unit {
    xy_rules *rules;       /* owner of the name tables */
    diag *d;               /* error sink */
    int has_city;          /* a `city` line was seen */
    char *city_id;         /* its id */
    char *display;         /* its display name */
    pos city_at;           /* where */
    pos city_id_at;        /* where its id stands on that line */
    region_def *regions;   /* `region` prefixes */
    size_t nregions, cap_regions;
    int has_score;         /* a `score` line was seen */
    int64_t base, min, max;
    int has_min, has_max;
    int scoring_age;       /* `scored from age` */
    grade_def *grades;     /* grade bands */
    size_t ngrades, cap_grades;
    xy_behaviour *behaviours; /* behaviour definitions */
    size_t nbehaviours, cap_behaviours;
    xy_map behaviour_index;   /* behaviour name id -> index in behaviours */
    agency_def *agencies;  /* agency definitions */
    size_t nagencies, cap_agencies;
    cons_def *cons;        /* sanctions and privileges */
    size_t ncons, cap_cons;
    int has_blacklist;     /* `blacklist below` */
    int64_t bl_below;
    int has_exit;          /* `blacklist exit` */
    int64_t bl_exit;
    int32_t exit_days;
    pos exit_at;
    int has_whitelist;     /* `whitelist from` */
    int64_t wl_from;
    pos score_at, bl_at, wl_at, assoc_at; /* the directives in force */
    int has_assoc;         /* `association` */
    int64_t assoc_points, assoc_max;
    int32_t assoc_every;
    int publish_blacklist, publish_scores;
    char **stack;          /* real paths of the files being read */
    size_t nstack, cap_stack;
    xy_names read;         /* real paths already read (read once) */
    char **paths;          /* display paths, kept alive for pos.file */
    size_t npaths, cap_paths;
} unit;

static void unit_free(unit *u)
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
        report((l)->u->d, tok_pos((l), (i)), __VA_ARGS__);                  \
        return -1;                                                          \
    } while (0)

static int need_word(line_ctx *l, const char *word)
{
    if (l->i < l->n && tok_is(&l->t[l->i], word)) {
        l->i++;
        return 0;
    }
    if (l->i < l->n)
        FAIL(l, l->i, "expected '%s', found '%.*s'", word, (int)l->t[l->i].n, l->t[l->i].s);
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
    if (t->type != TOK_WORD || n == 0)
        FAIL(l, l->i, "expected %s, found '%.*s'", what, (int)t->n, t->s);
    int64_t v = 0;
    int big = 0; /* past any bound (10^18 and more): out of range below */
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            FAIL(l, l->i, "expected %s, found '%.*s'", what, (int)t->n, t->s);
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
    if (!is_ident(t, allow_plus))
        FAIL(l, l->i, "expected %s, found '%.*s'", what, (int)t->n, t->s);
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

static int parse_file(unit *u, const char *path, pos from);

static int d_include(line_ctx *l)
{
    if (l->i >= l->n || l->t[l->i].type != TOK_STRING)
        FAIL(l, l->i, "include needs a quoted file name");
    const token *t = &l->t[l->i];
    pos from = tok_pos(l, l->i);
    l->i++;
    if (end_of_line(l)) return -1;
    /* Relative to the including file. */
    xy_buf b = {0};
    const char *slash = strrchr(l->at.file, '/');
    if (t->n && t->s[0] != '/' && slash)
        xy__buf_append(&b, l->at.file, (size_t)(slash - l->at.file) + 1);
    xy__buf_append(&b, t->s, t->n);
    int rc = parse_file(l->u, b.data, from);
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
        if (t->type != TOK_WORD || t->n < 1 || t->n > 6)
            FAIL(l, l->i, "a region prefix has 1 to 6 digits, found '%.*s'", (int)t->n, t->s);
        uint32_t v = 0;
        for (size_t k = 0; k < t->n; k++) {
            if (t->s[k] < '0' || t->s[k] > '9')
                FAIL(l, l->i, "a region prefix has 1 to 6 digits, found '%.*s'", (int)t->n, t->s);
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
    pos at = tok_pos(l, l->i);
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
        FAIL(l, 0, "a city has at most %d grades", MAX_GRADES);
    }
    grade_def g = {name, from, at};
    XY_PUSH(u->grades, u->ngrades, u->cap_grades, g);
    return 0;
}

/* The place of pos p, its file entered in the rules' file table. */
static xy_src src_of(unit *u, pos p)
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
    /* Yearly limit counts pack the name id into 24 bits (limits.h). */
    if (u->rules->behaviour_names.count >= XY_LIMITS_MAX_NAME &&
        xy__names_find(&u->rules->behaviour_names, name, strlen(name)) < 0) {
        report(u->d, at, "too many behaviours: at most %d names", XY_LIMITS_MAX_NAME);
        return -1;
    }
    b->name = xy__names_intern(&u->rules->behaviour_names, name, strlen(name));
    b->at = src_of(u, at);
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
        report(l->u->d, at, "behaviour '%s' has no points", name);
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
    if (l->i < l->n && tok_is(&l->t[l->i], "category")) {
        a.by_category = 1;
        l->i++;
    }
    if (l->i >= l->n) {
        report(u->d, tok_pos(l, l->i), "agency '%s' reports nothing", a.name);
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
    if (l->i < l->n && tok_is(&l->t[l->i], "below")) {
        l->i++;
        if (need_int(l, -MAX_SCORE, MAX_SCORE, 1, "a threshold", &v) || end_of_line(l)) return -1;
        u->has_blacklist = 1;
        u->bl_below = v;
        u->bl_at = l->at;
        return 0;
    }
    if (l->i < l->n && tok_is(&l->t[l->i], "exit")) {
        l->i++;
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
    while (s < e) {
        const char *comma = memchr(s, ',', (size_t)(e - s));
        const char *stop = comma ? comma : e;
        token g = {TOK_WORD, s, (size_t)(stop - s), t->col + xy__utf8_cols(t->s, s)};
        pos gat = l->at;
        gat.col = g.col;
        if (g.n == 0) { /* ",A", "A,,B" */
            report(l->u->d, gat, "expected a grade name before ','");
            return -1;
        }
        if (!is_ident(&g, 1)) {
            report(l->u->d, gat, "expected a grade name, found '%.*s'", (int)g.n, g.s);
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
    if (l->i < l->n && tok_is(&l->t[l->i], "blacklist")) {
        c->c.on = XY_ON_BLACKLIST;
        l->i++;
        return 0;
    }
    if (l->i < l->n && tok_is(&l->t[l->i], "whitelist")) {
        c->c.on = XY_ON_WHITELIST;
        l->i++;
        return 0;
    }
    if (l->i < l->n && tok_is(&l->t[l->i], "grade")) {
        c->c.on = XY_ON_GRADE;
        l->i++;
        return on_grades(l, c);
    }
    FAIL(l, l->i, "expected 'blacklist', 'whitelist' or 'grade G[,G...]' after 'on'");
}

/* Reads the effect, `deny`, `priority` or `discount P`, into c. */
static int consequence_effect(line_ctx *l, cons_def *c)
{
    if (l->i < l->n && tok_is(&l->t[l->i], "deny")) {
        c->c.effect = XY_DENY;
        l->i++;
        return 0;
    }
    if (l->i < l->n && tok_is(&l->t[l->i], "priority")) {
        c->c.effect = XY_PRIORITY;
        l->i++;
        return 0;
    }
    if (l->i < l->n && tok_is(&l->t[l->i], "discount")) {
        int64_t pct;
        c->c.effect = XY_DISCOUNT;
        l->i++;
        if (need_int(l, 1, 100, 0, "a percentage", &pct)) return -1;
        c->c.percent = (int32_t)pct;
        return 0;
    }
    if (l->i < l->n)
        FAIL(l, l->i, "expected 'deny', 'priority' or 'discount', found '%.*s'",
             (int)l->t[l->i].n, l->t[l->i].s);
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
    if (l->i < l->n && tok_is(&l->t[l->i], "for")) {
        l->i++;
        if (need_days(l, "a number of days", &c.c.days)) goto fail;
    }
    if (l->i < l->n && tok_is(&l->t[l->i], "children")) {
        c.c.children = 1;
        l->i++;
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
    if (l->i < l->n && (tok_is(&l->t[l->i], "days") || tok_is(&l->t[l->i], "day"))) l->i++;
    else return need_word(l, "days");
    if (l->i < l->n && tok_is(&l->t[l->i], "max")) {
        l->i++;
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
        else FAIL(l, l->i, "expected 'blacklist' or 'scores', found '%.*s'", (int)l->t[l->i].n, l->t[l->i].s);
    }
    return 0;
}

static void parse_line(unit *u, pos at, token *t, int n)
{
    line_ctx l = {u, at, t, n, 1};
    const token *d = &t[0];
    if (d->type != TOK_WORD) {
        report(u->d, tok_pos(&l, 0), "expected a directive, found a string");
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
    else report(u->d, tok_pos(&l, 0), "unknown directive '%.*s'", (int)d->n, d->s);
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

static int parse_file(unit *u, const char *path, pos from)
{
    char *data = NULL;
    size_t len;
    const char *why = NULL;
    if (u->nstack >= MAX_INCLUDE_DEPTH) {
        report(u->d, from, "includes nested more than %d files deep", MAX_INCLUDE_DEPTH);
        return -1;
    }
    char *real = realpath(path, NULL);
    int rc = real ? XY_OK : XY_ENOENT;
    if (real && (why = not_a_rules_file(real)) == NULL) rc = xy__read_file(real, &data, &len);
    if (rc || why) {
        if (!why) why = strerror(errno ? errno : ENOENT);
        if (from.file) {
            report(u->d, from, "cannot include \"%s\": %s", path, why);
        } else {
            u->d->errors++;
            xy__diagf(u->d->fn, u->d->ctx, "%s: cannot read: %s", path, why);
        }
        free(real);
        return -1;
    }
    for (size_t i = 0; i < u->nstack; i++)
        if (strcmp(u->stack[i], real) == 0) {
            report(u->d, from, "include cycle: \"%s\" is already being read", path);
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
            report(u->d, at, "NUL byte in the line");
        } else if (xy__utf8_valid(p, strlen(p)) < strlen(p)) {
            /* A ruleset is UTF-8 text: its names and descriptions are
             * shown as they are, in JSON too. */
            at.col = xy__utf8_cols(p, p + xy__utf8_valid(p, strlen(p))) + 1;
            report(u->d, at, "not valid UTF-8");
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
    xy__free(u->stack[--u->nstack]);
    return 0;
}

/* -------------------------------------------------------------- compiling */

static int cmp_grade(const void *a, const void *b)
{
    const xy_grade *x = a, *y = b;
    return x->from < y->from ? -1 : x->from > y->from;
}

static int find_grade(const xy_city *c, const char *name)
{
    for (int i = 0; i < c->ngrades; i++)
        if (strcmp(c->grades[i].name, name) == 0) return i;
    return -1;
}

/* Compiles the grades: sorted by lower bound, distinct bounds, and (for a
 * city) covering the minimum score. */
static void compile_grades(unit *u, int full, xy_city *c)
{
    diag *d = u->d;
    c->ngrades = (int)u->ngrades;
    c->grades = xy__calloc(u->ngrades, sizeof *c->grades);
    for (size_t i = 0; i < u->ngrades; i++) {
        c->grades[i].name = xy__strndup(u->grades[i].name, strlen(u->grades[i].name));
        c->grades[i].from = u->grades[i].from;
        c->grades[i].at = src_of(u, u->grades[i].at);
        for (size_t j = 0; j < i; j++)
            if (u->grades[j].from == u->grades[i].from)
                report(d, u->grades[i].at, "grades '%s' and '%s' have the same lower bound %lld",
                       u->grades[j].name, u->grades[i].name, (long long)u->grades[i].from);
    }
    if (c->ngrades) qsort(c->grades, (size_t)c->ngrades, sizeof *c->grades, cmp_grade);
    if (full && u->ngrades > 0) {
        const grade_def *low = &u->grades[0];
        for (size_t i = 1; i < u->ngrades; i++)
            if (u->grades[i].from < low->from) low = &u->grades[i];
        if (!u->has_min)
            report(d, low->at, "grade bands must cover the minimum score, but the city sets no 'min'");
        else if (low->from > u->min)
            report(d, low->at, "grade bands do not cover min %lld: the lowest band '%s' starts at %lld",
                   (long long)u->min, low->name, (long long)low->from);
    }
}

/* Copies the behaviours as the overrides left them; the dense name ->
 * definition table waits until every file has given its names. */
static void compile_behaviours(unit *u, xy_city *c)
{
    c->nbehaviours = (int)u->nbehaviours;
    c->behaviours = xy__calloc(u->nbehaviours, sizeof *c->behaviours);
    for (size_t i = 0; i < u->nbehaviours; i++) {
        c->behaviours[i] = u->behaviours[i];
        c->behaviours[i].stale_after = u->behaviours[i].expires ? (uint32_t)u->behaviours[i].expires : UINT32_MAX;
        if (u->behaviours[i].text)
            c->behaviours[i].text = xy__strndup(u->behaviours[i].text, strlen(u->behaviours[i].text));
    }
}

/* Fills the city's (agency, behaviour) permissions, resolving each
 * agency's items against the city's final behaviours. */
static void compile_agencies(unit *u, int full, xy_city *c)
{
    xy_rules *r = u->rules;
    diag *d = u->d;
    xy__map_init(&c->perms, 64);
    for (size_t i = 0; i < u->nagencies; i++) {
        const agency_def *a = &u->agencies[i];
        int32_t aid = xy__names_intern(&r->agency_names, a->name, strlen(a->name));
        for (int k = 0; k < a->nitems; k++) {
            const ref *it = &a->items[k];
            int found = 0;
            if (a->by_category) {
                int32_t cat = xy__names_find(&r->category_names, it->name, strlen(it->name));
                for (size_t b = 0; b < u->nbehaviours; b++)
                    if (cat >= 0 && u->behaviours[b].category == cat) {
                        int is_new;
                        *xy__map_put(&c->perms, (uint64_t)aid << 32 | (uint32_t)u->behaviours[b].name, &is_new) = 1;
                        found = 1;
                    }
                if (!found && full)
                    report(d, it->at, "agency '%s': no behaviour of city '%s' has category '%s'",
                           a->name, u->city_id, it->name);
            } else {
                int32_t bid = xy__names_find(&r->behaviour_names, it->name, strlen(it->name));
                if (bid >= 0 && xy__map_get(&u->behaviour_index, (uint64_t)bid)) {
                    int is_new;
                    *xy__map_put(&c->perms, (uint64_t)aid << 32 | (uint32_t)bid, &is_new) = 1;
                    found = 1;
                }
                if (!found && full)
                    report(d, it->at, "agency '%s' reports unknown behaviour '%s'%s%s", a->name, it->name,
                           u->city_id ? " in city " : "", u->city_id ? u->city_id : "");
            }
        }
    }
}

/* Copies the blacklist and whitelist thresholds, checking that an exit
 * threshold has an entry threshold to leave from. */
static void compile_lists(unit *u, int full, xy_city *c)
{
    c->has_blacklist = u->has_blacklist;
    c->bl_below = u->bl_below;
    c->has_exit = u->has_exit;
    c->bl_exit = u->bl_exit;
    c->exit_days = u->exit_days;
    if (u->has_exit && !u->has_blacklist && full)
        report(u->d, u->exit_at, "'blacklist exit' needs a 'blacklist below' threshold");
    if (u->has_exit && u->has_blacklist && u->bl_exit < u->bl_below)
        report(u->d, u->exit_at, "the blacklist exit threshold %lld is below the entry threshold %lld",
               (long long)u->bl_exit, (long long)u->bl_below);
    c->has_whitelist = u->has_whitelist;
    c->wl_from = u->wl_from;
}

/* Compiles the sanctions and privileges, with grade names resolved to a
 * mask (so after compile_grades), and gives each grade consequence with
 * `for D days` its entry-day slot. */
static void compile_consequences(unit *u, int full, xy_city *c)
{
    c->ncons = (int)u->ncons;
    c->cons = xy__calloc(u->ncons, sizeof *c->cons);
    for (size_t i = 0; i < u->ncons; i++) {
        const cons_def *s = &u->cons[i];
        xy_consequence *o = &c->cons[i];
        *o = s->c;
        o->name = xy__strndup(s->c.name, strlen(s->c.name));
        o->actions = xy__malloc((size_t)s->c.nactions * sizeof *o->actions + 1);
        memcpy(o->actions, s->c.actions, (size_t)s->c.nactions * sizeof *o->actions);
        o->text = s->c.text ? xy__strndup(s->c.text, strlen(s->c.text)) : NULL;
        o->for_slot = -1;
        o->at = src_of(u, s->at);
        for (int g = 0; g < s->ngrades; g++) {
            int gi = find_grade(c, s->grades[g].name);
            if (gi < 0) {
                if (full || u->ngrades > 0)
                    report(u->d, s->grades[g].at, "%s '%s' is on unknown grade '%s'",
                           o->kind == XY_SANCTION ? "sanction" : "privilege", o->name, s->grades[g].name);
            } else {
                o->grades |= 1ULL << gi;
            }
        }
        if (o->on == XY_ON_GRADE && o->days) o->for_slot = c->nfor_slots++;
    }
    c->grade_cons = xy__malloc((size_t)c->nfor_slots * sizeof *c->grade_cons + 1);
    for (int i = 0; i < c->ncons; i++)
        if (c->cons[i].for_slot >= 0) c->grade_cons[c->ngrade_cons++] = i;
}

/* Builds the score bands between grade bounds, each with the list
 * thresholds strictly inside it (see xy_band), from the compiled grades
 * and lists. */
static void compile_bands(xy_city *c)
{
    c->mark3[0] = c->has_blacklist ? c->bl_below : INT64_MAX;
    c->mark3[1] = c->has_exit ? c->bl_exit : INT64_MAX;
    c->mark3[2] = c->has_whitelist ? c->wl_from : INT64_MAX;
    c->bands = xy__malloc(((size_t)c->ngrades + 1) * sizeof *c->bands);
    for (int g = -1; g < c->ngrades; g++) {
        xy_band *b = &c->bands[g + 1];
        int64_t lo = g >= 0 ? c->grades[g].from : INT64_MIN;
        int64_t hi = g + 1 < c->ngrades ? c->grades[g + 1].from : INT64_MAX;
        int64_t mark = INT64_MIN;
        int many = 0;
        for (int k = 0; k < 3; k++) {
            int64_t m = c->mark3[k];
            if (m == INT64_MAX || m <= lo || m >= hi || m == mark) continue;
            if (mark != INT64_MIN) many = 1;
            mark = m;
        }
        b->mark = mark;
        b->lo[0] = lo, b->hi[0] = mark;
        b->lo[1] = mark > lo ? mark : lo, b->hi[1] = hi;
        if (many) b->lo[0] = b->lo[1] = INT64_MAX, b->hi[0] = b->hi[1] = INT64_MIN;
    }
}

/* Turns a unit into a city, checking what only the whole city can show.
 * `full` is 0 for a shared file checked alone: references that the
 * including city would resolve are not checked then. The phases keep
 * their order: consequences and bands read the compiled grades and lists,
 * and the rules' file and agency tables number entries as first met. */
static int compile_unit(unit *u, int full, xy_city *c)
{
    diag *d = u->d;
    int before = d->errors;
    memset(c, 0, sizeof *c);
    if (full && !u->has_score) report(d, u->city_at, "city '%s' has no 'score base N' line", u->city_id);
    c->id = u->city_id ? xy__strndup(u->city_id, strlen(u->city_id)) : NULL;
    c->display = u->display ? xy__strndup(u->display, strlen(u->display)) : NULL;
    c->file = u->npaths ? xy__strndup(u->paths[0], strlen(u->paths[0])) : NULL;
    c->base = u->base;
    c->min = u->has_min ? u->min : INT64_MIN;
    c->max = u->has_max ? u->max : INT64_MAX;
    c->scoring_age = u->scoring_age;
    c->sure_days = u->scoring_age * 366;
    c->short_days = u->scoring_age * 365;

    compile_grades(u, full, c);
    compile_behaviours(u, c);
    compile_agencies(u, full, c);
    compile_lists(u, full, c);
    compile_consequences(u, full, c);
    compile_bands(c);

    c->has_assoc = u->has_assoc;
    c->assoc_points = u->assoc_points;
    c->assoc_every = u->assoc_every;
    c->assoc_max = u->assoc_max;
    c->publish_blacklist = u->publish_blacklist;
    c->publish_scores = u->publish_scores;
    if (u->has_score) c->base_at = src_of(u, u->score_at);
    if (u->has_blacklist) c->bl_at = src_of(u, u->bl_at);
    if (u->has_exit) c->exit_at = src_of(u, u->exit_at);
    if (u->has_whitelist) c->wl_at = src_of(u, u->wl_at);
    if (u->has_assoc) c->assoc_at = src_of(u, u->assoc_at);
    return d->errors == before ? 0 : -1;
}

static void city_free(xy_city *c)
{
    xy__free(c->id);
    xy__free(c->display);
    xy__free(c->file);
    for (int i = 0; i < c->ngrades; i++) xy__free(c->grades[i].name);
    xy__free(c->grades);
    for (int i = 0; i < c->nbehaviours; i++) xy__free(c->behaviours[i].text);
    xy__free(c->behaviours);
    xy__free(c->by_name);
    xy__free(c->agency_mask);
    xy__free(c->grade_cons);
    xy__free(c->bands);
    xy__map_free(&c->perms);
    for (int i = 0; i < c->ncons; i++) {
        xy__free(c->cons[i].name);
        xy__free(c->cons[i].actions);
        xy__free(c->cons[i].text);
    }
    xy__free(c->cons);
}

void xy_rules_free(xy_rules *r)
{
    if (!r) return;
    for (int i = 0; i < r->ncities; i++) city_free(&r->cities[i]);
    xy__free(r->cities);
    xy__free(r->regions);
    xy__free(r->dir);
    xy__free(r->ahead);
    xy__names_free(&r->behaviour_names);
    xy__names_free(&r->agency_names);
    xy__names_free(&r->action_names);
    xy__names_free(&r->category_names);
    xy__names_free(&r->files);
    xy__names_free(&r->sources);
    xy__free(r);
}

/* Whether a file declares a city: a cheap look at its lines. */
static int declares_city(const char *path)
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

static int cmp_city(const void *a, const void *b)
{
    return strcmp(((const xy_city *)a)->id, ((const xy_city *)b)->id);
}

static int cmp_region(const void *a, const void *b)
{
    const xy_region *x = a, *y = b;
    if (x->digits != y->digits) return y->digits - x->digits;
    return x->prefix < y->prefix ? -1 : x->prefix > y->prefix;
}

/* What xy_rules_load_files gathers across the files it is given. */
typedef struct loader {
    diag d;                   /* the messages of every file */
    xy_rules *r;              /* the rules being built */
    size_t ncities, cap_cities;   /* r->cities so far, and its capacity */
    size_t nregions, cap_regions; /* r->regions so far, and its capacity */
    region_def *region_at;    /* every prefix claimed so far, with where */
    size_t nregion_at, cap_region_at; /* their number, and capacity */
    char **keep;              /* display paths of the cities' files, kept
                                 alive for later region messages */
    size_t nkeep, cap_keep;   /* their number, and capacity */
    xy_names given;           /* real paths of the files named so far */
} loader;

/* Adds the compiled city c of unit u to the rules, checking that its id
 * and its region prefixes are not another city's. */
static void add_city(loader *ld, unit *u, xy_city *c)
{
    xy_rules *r = ld->r;
    for (size_t k = 0; k < ld->ncities; k++)
        if (strcmp(r->cities[k].id, c->id) == 0)
            report(&ld->d, u->city_id_at, "duplicate city '%s' (also in %s)", c->id, r->cities[k].file);
    for (size_t k = 0; k < u->nregions; k++) {
        for (size_t m = 0; m < ld->nregion_at; m++)
            if (ld->region_at[m].prefix == u->regions[k].prefix &&
                ld->region_at[m].digits == u->regions[k].digits)
                report(&ld->d, u->regions[k].at, "region prefix %0*u is already claimed at %s:%d",
                       u->regions[k].digits, u->regions[k].prefix, ld->region_at[m].at.file,
                       ld->region_at[m].at.line);
        XY_PUSH(ld->region_at, ld->nregion_at, ld->cap_region_at, u->regions[k]);
        xy_region reg = {u->regions[k].prefix, u->regions[k].digits, (int)ld->ncities};
        XY_PUSH(r->regions, ld->nregions, ld->cap_regions, reg);
    }
    XY_PUSH(r->cities, ld->ncities, ld->cap_cities, *c);
    r->ncities = (int)ld->ncities;
    /* Keep the display paths alive for later region messages. */
    for (size_t k = 0; k < u->npaths; k++) XY_PUSH(ld->keep, ld->nkeep, ld->cap_keep, u->paths[k]);
    u->npaths = 0;
}

/* Parses and compiles one file the caller named, and adds it to the
 * rules when it is a city's. */
static void load_file(loader *ld, const char *path)
{
    /* A file named twice (rules check x.rules ./x.rules) is one file,
     * not a city that clashes with itself. */
    char *real = realpath(path, NULL);
    int again = real && xy__names_find(&ld->given, real, strlen(real)) >= 0;
    if (real) xy__names_intern(&ld->given, real, strlen(real));
    free(real);
    if (again) return;
    unit u = {0};
    u.rules = ld->r;
    u.d = &ld->d;
    u.scoring_age = 18;
    pos none = {NULL, 0, 0};
    int is_city = declares_city(path);
    if (parse_file(&u, path, none) == 0) {
        xy_city c;
        if (compile_unit(&u, is_city && u.has_city, &c) == 0 && is_city && u.has_city)
            add_city(ld, &u, &c);
        else
            city_free(&c);
    }
    unit_free(&u);
}

/* Builds each city's dense tables, sized now that every name has its id:
 * behaviour name id -> definition, and -> the agencies below 64 that may
 * report it; and the rules' table of what a behaviour's events touch. */
static void build_dense_tables(xy_rules *r)
{
    for (int i = 0; i < r->ncities; i++) {
        xy_city *c = &r->cities[i];
        c->by_name = xy__calloc(r->behaviour_names.count + 1, sizeof *c->by_name);
        for (int b = 0; b < c->nbehaviours; b++) c->by_name[c->behaviours[b].name] = &c->behaviours[b];
        c->agency_mask = xy__calloc(r->behaviour_names.count + 1, sizeof *c->agency_mask);
        for (size_t k = 0; k <= c->perms.mask; k++) {
            uint64_t key = c->perms.slots[k].key;
            if (!key) continue;
            key--; /* slots hold key + 1 */
            uint32_t agency = (uint32_t)(key >> 32), bid = (uint32_t)key;
            if (agency < 64) c->agency_mask[bid] |= 1ULL << agency;
        }
    }
    r->ahead = xy__calloc(r->behaviour_names.count + 1, 1);
    for (int i = 0; i < r->ncities; i++)
        for (int b = 0; b < r->cities[i].nbehaviours; b++) {
            const xy_behaviour *x = &r->cities[i].behaviours[b];
            r->ahead[x->name] |= (uint8_t)((x->limit ? XY_AHEAD_LIMIT : 0) | (x->term ? XY_AHEAD_TERM : 0));
        }
}

/* Sorts the cities by id and the region prefixes longest first. Region
 * indexes refer to cities in load order, so they are mapped to the sorted
 * order first. */
static void sort_cities(xy_rules *r)
{
    size_t ncities = (size_t)r->ncities, nregions = (size_t)r->nregions;
    int *order = xy__malloc(ncities * sizeof *order);
    char **ids = xy__malloc(ncities * sizeof *ids);
    for (size_t i = 0; i < ncities; i++) ids[i] = r->cities[i].id;
    qsort(r->cities, ncities, sizeof *r->cities, cmp_city);
    for (size_t i = 0; i < ncities; i++)
        for (size_t k = 0; k < ncities; k++)
            if (r->cities[k].id == ids[i]) order[i] = (int)k;
    for (size_t i = 0; i < nregions; i++) r->regions[i].city = order[r->regions[i].city];
    if (nregions) qsort(r->regions, nregions, sizeof *r->regions, cmp_region);
    xy__free(ids);
    xy__free(order);
}

int xy_rules_load_files(const char *const *paths, int npaths, xy_diag_fn *fn,
                        void *ctx, xy_rules **out)
{
    loader ld = {0};
    ld.d = (diag){fn, ctx, 0, {0}, {0}, NULL, 0, 0};
    ld.r = xy__calloc(1, sizeof *ld.r);
    *out = NULL;
    for (int i = 0; i < npaths; i++) load_file(&ld, paths[i]);
    xy__free(ld.region_at);
    for (size_t k = 0; k < ld.nkeep; k++) xy__free(ld.keep[k]);
    xy__free(ld.keep);
    ld.r->nregions = (int)ld.nregions;
    if (ld.d.errors == 0 && ld.ncities > 0) {
        build_dense_tables(ld.r);
        sort_cities(ld.r);
    }
    int errors = ld.d.errors;
    xy__names_free(&ld.d.seen);
    xy__names_free(&ld.d.reals);
    xy__names_free(&ld.given);
    for (size_t k = 0; k < ld.d.nnames; k++) xy__free(ld.d.names[k]);
    xy__free(ld.d.names);
    if (errors) {
        xy_rules_free(ld.r);
        return XY_EINPUT;
    }
    *out = ld.r;
    return XY_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int xy_rules_load_dir(const char *dir, xy_diag_fn *fn, void *ctx, xy_rules **out)
{
    DIR *dh = opendir(dir);
    *out = NULL;
    if (!dh) {
        int err = errno;
        xy__diagf(fn, ctx, "%s: cannot open rules directory: %s", dir, strerror(err));
        return err == ENOENT ? XY_ENOENT : XY_EIO;
    }
    char **paths = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 6 && strcmp(e->d_name + len - 6, ".rules") == 0) {
            xy_buf b = {0};
            xy__buf_printf(&b, "%s/%s", dir, e->d_name);
            XY_PUSH(paths, n, cap, b.data);
        }
    }
    closedir(dh);
    if (n) qsort(paths, n, sizeof *paths, cmp_str); /* qsort wants a valid pointer, even for none */
    int rc = XY_OK;
    if (n == 0) {
        xy__diagf(fn, ctx, "%s: no .rules files in the rules directory", dir);
        rc = XY_EINPUT;
    } else {
        rc = xy_rules_load_files((const char *const *)paths, (int)n, fn, ctx, out);
        if (rc == XY_OK && (*out)->ncities == 0) {
            xy__diagf(fn, ctx, "%s: no city file (a file with a 'city' line) in the rules directory", dir);
            xy_rules_free(*out);
            *out = NULL;
            rc = XY_EINPUT;
        }
        if (rc == XY_OK) (*out)->dir = xy__strndup(dir, strlen(dir));
    }
    for (size_t i = 0; i < n; i++) xy__free(paths[i]);
    xy__free(paths);
    return rc;
}

/* --------------------------------------------------------------- queries */

int xy_rules_city_count(const xy_rules *r) { return r->ncities; }

const char *xy_rules_city_id(const xy_rules *r, int city)
{
    return city >= 0 && city < r->ncities ? r->cities[city].id : NULL;
}

int xy_rules_city_find(const xy_rules *r, const char *id)
{
    int lo = 0, hi = r->ncities - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(r->cities[mid].id, id);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int xy_rules_behaviour_count(const xy_rules *r, int city)
{
    return city >= 0 && city < r->ncities ? r->cities[city].nbehaviours : 0;
}

int32_t xy_rules_behaviour_id(const xy_rules *r, const char *name, size_t n)
{
    return xy__names_find(&r->behaviour_names, name, n);
}

int32_t xy_rules_agency_id(const xy_rules *r, const char *name, size_t n)
{
    return xy__names_find(&r->agency_names, name, n);
}

int xy_rules_may_report(const xy_rules *r, int city, int32_t agency, int32_t behaviour)
{
    const xy_city *c = &r->cities[city];
    if (!xy__city_behaviour(r, c, behaviour)) return XY_EUNKNOWN;
    if (agency < 0) return XY_EINPUT;
    if (agency < 64) return c->agency_mask[behaviour] >> agency & 1 ? XY_OK : XY_EINPUT;
    return xy__map_get(&c->perms, (uint64_t)agency << 32 | (uint32_t)behaviour) ? XY_OK : XY_EINPUT;
}

const char *xy__rules_src(const xy_rules *r, xy_src at, char *buf, size_t n)
{
    if (at.file < 1 || (size_t)at.file > r->files.count) return NULL;
    const char *f = r->files.str[at.file - 1];
    size_t dl = r->dir ? strlen(r->dir) : 0;
    if (dl && strncmp(f, r->dir, dl) == 0 && f[dl] == '/') f += dl + 1;
    snprintf(buf, n, "%s:%d", f, at.line);
    return buf;
}

int xy__city_grade(const xy_city *c, int64_t score)
{
    int g = -1;
    for (int i = 0; i < c->ngrades && c->grades[i].from <= score; i++) g = i;
    return g;
}

int xy__rules_city_of_region(const xy_rules *r, uint32_t region)
{
    for (int i = 0; i < r->nregions; i++) {
        uint32_t v = region;
        for (int k = r->regions[i].digits; k < 6; k++) v /= 10;
        if (v == r->regions[i].prefix) return r->regions[i].city;
    }
    return -1;
}
