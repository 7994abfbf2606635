/* report.c -- show, explain, check, list and stats. Each report is built
 * once as a JSON value (spec section 4) and then either printed as JSON or
 * rendered as text from that same value, so the two forms cannot disagree. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "history.h"
#include "store.h"

#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* jansson allocates through the library's own functions, which end the
 * program when memory runs out (util.h), as everything else does: its
 * results then need no test for NULL. Set once, before any value is made. */
static pthread_once_t json_once = PTHREAD_ONCE_INIT;
static void json_alloc_init(void) { json_set_alloc_funcs(xy__malloc, xy__free); }

/* The start of every report: a format it knows (XY_EINVAL otherwise),
 * then xy__db_report_begin. */
static int begin(xy_db *db, int format)
{
    if (format != XY_OUT_TEXT && format != XY_OUT_JSON) return XY_EINVAL;
    pthread_once(&json_once, json_alloc_init);
    return xy__db_report_begin(db);
}

/* The status of a report once written: XY_EIO if out took it only in
 * part (a full disk, a closed pipe), which the caller must hear of. */
static int written(FILE *out) { return fflush(out) == 0 && !ferror(out) ? XY_OK : XY_EIO; }

/* ---------------------------------------------------------------- helpers */

static json_t *jday(xy_day d)
{
    if (d == XY_DAY_NONE || d == XY_DAY_PENDING) return json_null();
    char s[XY_DAY_CHARS];
    xy_day_format(d, s);
    return json_string(s);
}

static json_t *jid(xy_resid id)
{
    char s[19];
    xy_resid_format(id, s);
    return json_string(s);
}

/* Where a rule was written, "FILE:LINE", or null. */
static json_t *jrule(const xy_rules *r, xy_src at)
{
    char b[1024];
    const char *s = xy__rules_src(r, at, b, sizeof b);
    return s ? json_string(s) : json_null();
}

static const char *sget(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static int find_citizen(xy_db *db, const char *id, uint32_t *out)
{
    xy_resid key;
    if (xy_resid_parse(id, strlen(id), &key, NULL)) return XY_EUNKNOWN;
    *out = xy_engine_find(db->engine, key);
    return *out == XY_NONE ? XY_EUNKNOWN : XY_OK;
}

static void emit(json_t *o, int format, FILE *out, void (*text)(const json_t *, FILE *))
{
    if (format == XY_OUT_JSON) {
        json_dumpf(o, out, JSON_FLAGS);
        fputc('\n', out);
    } else {
        text(o, out);
    }
}

/* Whether a blacklist term of the citizen with state s is running today. */
static int term_running(const xy_engine *e, const xy_cstate *s)
{
    return s->term_end != XY_DAY_NONE && e->today != XY_DAY_NONE && s->term_end > e->today;
}

/* Why a citizen is on the blacklist, from the state. */
static void blacklist_reason(xy_db *db, const xy_engine *e, uint32_t c, xy_buf *b)
{
    const xy_cstate *s = &e->st[c];
    const xy_city *city = &e->rules->cities[s->city];
    if (s->flags & CS_SCORE_MEMBER) {
        xy_day stored = xy__score_since(e, c), since = xy__seen_day(e, stored);
        char d[XY_DAY_CHARS];
        xy__buf_printf(b, "score fell below %lld", (long long)city->bl_below);
        /* An entry at registration before the clock had a day shows the
         * first day as its since once there is one (docs/semantics.md,
         * section 11), but the score did not fall that day: the reason
         * says when it did. */
        if (stored == XY_DAY_PENDING || since == XY_DAY_NONE) {
            xy__buf_printf(b, " at registration, before the clock's first day");
            if (since != XY_DAY_NONE) {
                xy_day_format(since, d);
                xy__buf_printf(b, " (%s)", d);
            }
        } else {
            xy_day_format(since, d);
            xy__buf_printf(b, " on %s", d);
        }
        if (city->has_exit)
            xy__buf_printf(b, " (exit after %d days at or above %lld)", city->exit_days,
                          (long long)city->bl_exit);
        else
            xy__buf_printf(b, " (no exit: once untrustworthy, always restricted)");
    }
    if (term_running(e, s)) {
        const uint64_t *v = xy__map_get(&e->term_reason, c);
        char d[XY_DAY_CHARS];
        xy_day_format(s->term_end - 1, d);
        if (b->len) xy__buf_append(b, "; ", 2);
        if (v)
            xy__buf_printf(b, "listed for '%s' (event %s) until %s",
                          e->rules->behaviour_names.str[*v >> 40],
                          xy__db_event_id(db, c, *v & ((1ULL << 40) - 1)), d);
        else
            xy__buf_printf(b, "listed until %s", d);
    }
}

/* The rules behind c's membership of list, as "FILE:LINE" strings: for a
 * membership by score, the city's threshold line (and its exit line, for
 * the blacklist), and for a running term, the definition of the behaviour
 * that started it; a blacklist membership can stand on both. */
static json_t *list_rules(const xy_engine *e, uint32_t c, int list)
{
    const xy_cstate *s = &e->st[c];
    const xy_rules *r = e->rules;
    const xy_city *city = &r->cities[s->city];
    json_t *a = json_array();
    if (list == XY_WHITELIST) {
        json_array_append_new(a, jrule(r, city->wl_at));
        return a;
    }
    if (s->flags & CS_SCORE_MEMBER) {
        json_array_append_new(a, jrule(r, city->bl_at));
        if (city->has_exit) json_array_append_new(a, jrule(r, city->exit_at));
    }
    if (term_running(e, s)) {
        const uint64_t *v = xy__map_get(&e->term_reason, c);
        const xy_behaviour *b = v ? xy__city_behaviour(r, city, (int32_t)(*v >> 40)) : NULL;
        if (b) json_array_append_new(a, jrule(r, b->at));
    }
    return a;
}

/* Appends "  [RULE, RULE]" for the rules array of o to a text line. */
static void text_rules(const json_t *o, FILE *out)
{
    const json_t *a = json_object_get(o, "rules");
    size_t i;
    json_t *v;
    if (!json_array_size(a)) return;
    fputs("  [", out);
    json_array_foreach(a, i, v) fprintf(out, "%s%s", i ? ", " : "", json_is_string(v) ? json_string_value(v) : "-");
    fputc(']', out);
}

static json_t *list_entry(xy_db *db, const xy_engine *e, uint32_t c, int list)
{
    const xy_cstate *s = &e->st[c];
    const xy_city *city = &e->rules->cities[s->city];
    xy_buf b = {0};
    xy_day since;
    if (list == XY_BLACKLIST) {
        if (!(s->flags & CS_ON_BL)) return json_null();
        blacklist_reason(db, e, c, &b);
        since = s->bl_since;
    } else {
        if (!(s->flags & CS_ON_WL)) return json_null();
        xy__buf_printf(&b, "score %lld at or above %lld", (long long)xy__clamp(city, s->raw),
                      (long long)city->wl_from);
        since = s->wl_since;
    }
    json_t *o = json_pack("{s:o,s:s,s:o}", "since", jday(xy__seen_day(e, since)), "reason", b.data ? b.data : "",
                          "rules", list_rules(e, c, list));
    xy__buf_free(&b);
    return o;
}

static const char *effect_name(int effect)
{
    return effect == XY_DENY ? "deny" : effect == XY_PRIORITY ? "priority" : "discount";
}

static json_t *consequence_json(xy_db *db, const xy_engine *e, uint32_t c, const xy_active *a)
{
    const xy_consequence *q = a->q;
    const xy_rules *r = e->rules;
    json_t *actions = json_array();
    for (int i = 0; i < q->nactions; i++) json_array_append_new(actions, json_string(r->action_names.str[q->actions[i]]));
    xy_buf cond = {0}, why = {0};
    const xy_cstate *s = &e->st[a->subject];
    if (q->on == XY_ON_BLACKLIST) {
        xy__buf_printf(&cond, "blacklist");
        if (s->flags & CS_ON_BL) blacklist_reason(db, e, a->subject, &why);
        else xy__buf_printf(&why, "entered the blacklist; no longer on it, the %d days still run", q->days);
    } else if (q->on == XY_ON_WHITELIST) {
        xy__buf_printf(&cond, "whitelist");
        xy__buf_printf(&why, "score %lld at or above %lld", (long long)xy__clamp(a->city, s->raw),
                      (long long)a->city->wl_from);
    } else {
        xy__buf_printf(&cond, "grade ");
        int first = 1;
        /* Highest grade first, as cities declare their grades and rules
         * name them ("grade C,D"); the table is ascending. */
        for (int g = a->city->ngrades - 1; g >= 0; g--)
            if (q->grades >> g & 1) {
                xy__buf_printf(&cond, "%s%s", first ? "" : ",", a->city->grades[g].name);
                first = 0;
            }
        int64_t score = xy__clamp(a->city, s->raw);
        int g = xy__city_grade(a->city, score);
        xy__buf_printf(&why, "score %lld, grade %s", (long long)score, g >= 0 ? a->city->grades[g].name : "none");
    }
    json_t *subject = a->subject == c ? json_string("self") : jid(e->ids[a->subject]);
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:s,s:s?,s:o}",
                          "name", q->name, "kind", q->kind == XY_SANCTION ? "sanction" : "privilege",
                          "effect", effect_name(q->effect),
                          "percent", q->effect == XY_DISCOUNT ? json_integer(q->percent) : json_null(),
                          "actions", actions, "since", jday(a->since), "until", jday(a->until),
                          "subject", subject, "condition", cond.data, "why", why.data ? why.data : "",
                          "text", q->text, "rule", jrule(r, q->at));
    xy__buf_free(&cond);
    xy__buf_free(&why);
    return o;
}

/* Every consequence active for citizen c, in an array the caller frees.
 * The rules set no bound on how many a city has, and one left out could
 * be the deny that decides a check. */
static xy_active *all_active(const xy_engine *e, uint32_t c, size_t *n)
{
    *n = xy__active(e, c, NULL, 0);
    xy_active *a = xy__malloc((*n ? *n : 1) * sizeof *a);
    xy__active(e, c, a, *n);
    return a;
}

static json_t *consequences_json(xy_db *db, const xy_engine *e, uint32_t c, int32_t only_action)
{
    size_t n;
    xy_active *act = all_active(e, c, &n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (only_action < 0 || xy__names_action(act[i].q, only_action))
            json_array_append_new(arr, consequence_json(db, e, c, &act[i]));
    xy__free(act);
    return arr;
}

static void text_consequences(const json_t *arr, FILE *out)
{
    size_t i;
    json_t *q;
    if (json_array_size(arr) == 0) {
        fprintf(out, "  (none)\n");
        return;
    }
    json_array_foreach(arr, i, q) {
        fprintf(out, "  %s %s: %s", sget(q, "kind"), sget(q, "name"), sget(q, "effect"));
        if (json_is_integer(json_object_get(q, "percent")))
            fprintf(out, " %lld%%", (long long)json_integer_value(json_object_get(q, "percent")));
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(q, "actions"), k, a) fprintf(out, " %s", json_string_value(a));
        if (json_is_string(json_object_get(q, "rule"))) fprintf(out, "  [%s]", sget(q, "rule"));
        fprintf(out, "\n    on %s since %s", sget(q, "condition"), sget(q, "since"));
        if (json_is_string(json_object_get(q, "until"))) fprintf(out, ", until %s", sget(q, "until"));
        if (strcmp(sget(q, "subject"), "self") != 0) fprintf(out, ", as child of %s", sget(q, "subject"));
        fprintf(out, "\n    why: %s\n", sget(q, "why"));
    }
}

static json_t *grade_json(const xy_city *city, int64_t score)
{
    int g = xy__city_grade(city, score);
    return g >= 0 ? json_string(city->grades[g].name) : json_null();
}

/* ------------------------------------------------------------------ show */

/* Whether a city's public view shows its list (XY_BLACKLIST or
 * XY_WHITELIST): the blacklist with `publish blacklist`, the whitelist
 * (with the score and grade) with `publish scores`. */
static int publishes(const xy_city *city, int list)
{
    return list == XY_BLACKLIST ? city->publish_blacklist : city->publish_scores;
}

/* show as text; published[i] says whether list i (blacklist, whitelist)
 * may be shown at all: the public view prints "not published" where a
 * city keeps it to itself, "no" where the citizen is not on it. */
static void show_text_as(const json_t *o, const int published[2], FILE *out)
{
    fprintf(out, "%s  %s  (%s)\n", sget(o, "id"), sget(o, "name"), sget(o, "city"));
    fprintf(out, "today       %s\n", sget(o, "today"));
    if (!json_is_integer(json_object_get(o, "score")))
        fprintf(out, "score       not published\n");
    else if (json_is_integer(json_object_get(o, "raw")))
        fprintf(out, "score       %lld (raw %lld)\n", (long long)json_integer_value(json_object_get(o, "score")),
                (long long)json_integer_value(json_object_get(o, "raw")));
    else
        fprintf(out, "score       %lld\n", (long long)json_integer_value(json_object_get(o, "score")));
    /* The grade is published with the score (publish scores), or not; a
     * city without grade bands has none to show ("-"). */
    if (!json_is_integer(json_object_get(o, "score"))) fprintf(out, "grade       not published\n");
    else fprintf(out, "grade       %s\n", sget(o, "grade"));
    const char *lists[2] = {"blacklist", "whitelist"};
    for (int i = 0; i < 2; i++) {
        json_t *l = json_object_get(o, lists[i]);
        if (!published[i]) fprintf(out, "%-11s not published\n", lists[i]);
        else if (json_is_null(l)) fprintf(out, "%-11s no\n", lists[i]);
        else {
            fprintf(out, "%-11s since %s: %s", lists[i], sget(l, "since"), sget(l, "reason"));
            text_rules(l, out);
            fputc('\n', out);
        }
    }
    if (json_is_array(json_object_get(o, "consequences"))) {
        fprintf(out, "consequences\n");
        text_consequences(json_object_get(o, "consequences"), out);
    }
}

static void show_text(const json_t *o, FILE *out)
{
    static const int all[2] = {1, 1};
    show_text_as(o, all, out);
}

/* The public view of a citizen: what its city publishes, nothing more;
 * the fields of show that are never published (raw, consequences) are
 * there as null, as the output's fixed fields are. A field beyond them,
 * published, says what the city publishes, so that a null blacklist can
 * be told apart: not listed, or not published. */
static json_t *show_public(xy_db *db, const xy_engine *e, uint32_t c)
{
    const xy_city *city = xy__citizen_city(e, c);
    int64_t score = xy_engine_score(e, c);
    char masked[19];
    xy_resid_mask(e->ids[c], masked);
    int bl = publishes(city, XY_BLACKLIST), sc = publishes(city, XY_WHITELIST);
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:n,s:o,s:o,s:o,s:n,s:{s:b,s:b}}", "id", masked, "name",
                     xy__name(e, c), "city", city->id, "today", jday(e->today), "score",
                     sc ? json_integer(score) : json_null(), "raw", "grade",
                     sc ? grade_json(city, score) : json_null(),
                     "blacklist", bl ? list_entry(db, e, c, XY_BLACKLIST) : json_null(),
                     "whitelist", sc ? list_entry(db, e, c, XY_WHITELIST) : json_null(), "consequences",
                     "published", "scores", sc, "blacklist", bl);
}

int xy_report_show(xy_db *db, const char *id, int public_only, int format, FILE *out)
{
    int rc = begin(db, format);
    if (rc) return rc;
    uint32_t c;
    if (find_citizen(db, id, &c)) return XY_EUNKNOWN;
    const xy_engine *e = db->engine;
    if (public_only) {
        const xy_city *city = xy__citizen_city(e, c);
        const int published[2] = {publishes(city, XY_BLACKLIST), publishes(city, XY_WHITELIST)};
        json_t *o = show_public(db, e, c);
        if (format == XY_OUT_JSON) emit(o, format, out, show_text);
        else show_text_as(o, published, out);
        json_decref(o);
        return written(out);
    }
    const xy_city *city = xy__citizen_city(e, c);
    int64_t score = xy_engine_score(e, c);
    json_t *o = json_pack("{s:o,s:s,s:s,s:o,s:I,s:I,s:o,s:o,s:o,s:o}", "id", jid(e->ids[c]),
                          "name", xy__name(e, c), "city", city->id, "today", jday(e->today),
                          "score", (json_int_t)score, "raw", (json_int_t)e->st[c].raw,
                          "grade", grade_json(city, score), "blacklist", list_entry(db, e, c, XY_BLACKLIST),
                          "whitelist", list_entry(db, e, c, XY_WHITELIST),
                          "consequences", consequences_json(db, e, c, -1));
    emit(o, format, out, show_text);
    json_decref(o);
    return written(out);
}

/* ----------------------------------------------------------------- check */

static void check_text(const json_t *o, FILE *out)
{
    fprintf(out, "%s %s: %s", sget(o, "id"), sget(o, "action"), sget(o, "decision"));
    if (json_is_integer(json_object_get(o, "percent")))
        fprintf(out, " %lld", (long long)json_integer_value(json_object_get(o, "percent")));
    fputc('\n', out);
    if (json_array_size(json_object_get(o, "consequences")))
        text_consequences(json_object_get(o, "consequences"), out);
}

int xy_report_check(xy_db *db, const char *id, const char *action, int format, FILE *out)
{
    int rc = begin(db, format);
    if (rc) return rc;
    uint32_t c;
    if (find_citizen(db, id, &c)) return XY_EUNKNOWN;
    const xy_engine *e = db->engine;
    int32_t act = xy__names_find(&e->rules->action_names, action, strlen(action));
    if (act < 0) return XY_EUNKNOWN;
    size_t n;
    xy_active *all = all_active(e, c, &n);
    int pct;
    int d = xy__decide(all, n, act, &pct);
    xy__free(all);
    static const char *names[] = {"allow", "deny", "priority", "discount"};
    json_t *o = json_pack("{s:o,s:s,s:s,s:o,s:o}", "id", jid(e->ids[c]), "action", action,
                          "decision", names[d], "percent", d == XY_DECIDE_DISCOUNT ? json_integer(pct) : json_null(),
                          "consequences", consequences_json(db, e, c, act));
    emit(o, format, out, check_text);
    json_decref(o);
    return written(out);
}

/* ------------------------------------------------------------------ list */

typedef struct listed {
    xy_day since;  /* entry day */
    xy_resid id;   /* for ordering */
    uint32_t c;    /* index */
} listed;

static int cmp_listed(const void *a, const void *b)
{
    const listed *x = a, *y = b;
    if (x->since != y->since) return x->since < y->since ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Terminal columns of UTF-8 text: two for the wide characters of East
 * Asian scripts (Chinese names, above all), one for any other character. */
static int display_cols(const char *s)
{
    int cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t u = *p;
        int n = u < 0x80 ? 1 : u >= 0xF0 ? 4 : u >= 0xE0 ? 3 : u >= 0xC0 ? 2 : 1;
        if (n > 1) u &= 0x3Fu >> (n - 1);
        for (int k = 1; k < n && (p[k] & 0xC0) == 0x80; k++) u = u << 6 | (p[k] & 0x3F);
        int wide = (u >= 0x1100 && u <= 0x115F) || (u >= 0x2E80 && u <= 0xA4CF && u != 0x303F) ||
                   (u >= 0xAC00 && u <= 0xD7A3) || (u >= 0xF900 && u <= 0xFAFF) || (u >= 0xFE30 && u <= 0xFE4F) ||
                   (u >= 0xFF00 && u <= 0xFF60) || (u >= 0xFFE0 && u <= 0xFFE6) || (u >= 0x20000 && u <= 0x3FFFD);
        cols += wide ? 2 : 1;
        for (int k = 0; k < n && *p; k++) p++;
    }
    return cols;
}

/* One citizen of a list as text: names padded to 20 columns as a
 * terminal shows them. */
static void list_line(const json_t *c, FILE *out)
{
    const char *name = sget(c, "name");
    int pad = 20 - display_cols(name);
    fprintf(out, "%s  %s%*s %-10s since %s  %s", sget(c, "id"), name, pad > 0 ? pad : 0, "", sget(c, "city"),
            sget(c, "since"), sget(c, "reason"));
    text_rules(c, out);
    fputc('\n', out);
}

int xy_report_list(xy_db *db, int list, const char *city_id, int public_only, int format, FILE *out)
{
    if (list != XY_BLACKLIST && list != XY_WHITELIST) return XY_EINVAL;
    int rc = begin(db, format);
    if (rc) return rc;
    const xy_engine *e = db->engine;
    const xy_rules *r = e->rules;
    int only = -1;
    if (city_id && (only = xy_rules_city_find(r, city_id)) < 0) return XY_EUNKNOWN;
    listed *v = NULL;
    size_t n = 0, cap = 0;
    uint8_t flag = list == XY_BLACKLIST ? CS_ON_BL : CS_ON_WL;
    for (uint32_t c = 0; c < e->n; c++) {
        const xy_cstate *s = &e->st[c];
        if (!(s->flags & flag) || (only >= 0 && s->city != only)) continue;
        const xy_city *cy = &r->cities[s->city];
        if (public_only && !publishes(cy, list)) continue;
        listed x = {xy__seen_day(e, list == XY_BLACKLIST ? s->bl_since : s->wl_since), e->ids[c], c};
        XY_PUSH(v, n, cap, x);
    }
    if (n) qsort(v, n, sizeof *v, cmp_listed);
    /* Written out an entry at a time, not built whole first: a list can
     * hold a good part of a country (the JSON is the one the whole object
     * {"list": ..., "citizens": [...]} would dump to, byte for byte). */
    const char *name = list == XY_BLACKLIST ? "blacklist" : "whitelist";
    if (format == XY_OUT_JSON) fprintf(out, "{\"list\":\"%s\",\"citizens\":[", name);
    for (size_t i = 0; i < n; i++) {
        uint32_t c = v[i].c;
        json_t *entry = list_entry(db, e, c, list);
        char masked[19];
        xy_resid_mask(e->ids[c], masked);
        json_t *o = json_pack("{s:o,s:s,s:s,s:O,s:O,s:O}", "id", public_only ? json_string(masked) : jid(e->ids[c]),
                              "name", xy__name(e, c), "city", xy__citizen_city(e, c)->id, "since",
                              json_object_get(entry, "since"), "reason", json_object_get(entry, "reason"), "rules",
                              json_object_get(entry, "rules"));
        json_decref(entry);
        if (format == XY_OUT_JSON) {
            if (i) fputc(',', out);
            json_dumpf(o, out, JSON_FLAGS);
        } else {
            list_line(o, out);
        }
        json_decref(o);
    }
    xy__free(v);
    if (format == XY_OUT_JSON) fputs("]}\n", out);
    else fprintf(out, "%zu citizen%s on the %s\n", n, n == 1 ? "" : "s", name);
    return written(out);
}

/* ----------------------------------------------------------------- stats */

static void stats_text(const json_t *o, FILE *out)
{
    fprintf(out, "today %s\n", sget(o, "today"));
    fprintf(out, "%-12s %10s %12s %10s %10s  grades\n", "city", "citizens", "mean score", "blacklist", "whitelist");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(o, "cities"), i, c) {
        json_t *mean = json_object_get(c, "mean_score");
        fprintf(out, "%-12s %10lld ", sget(c, "city"), (long long)json_integer_value(json_object_get(c, "citizens")));
        if (json_is_number(mean)) fprintf(out, "%12.2f ", json_number_value(mean));
        else fprintf(out, "%12s ", "-");
        fprintf(out, "%10lld %10lld", (long long)json_integer_value(json_object_get(c, "blacklist")),
                (long long)json_integer_value(json_object_get(c, "whitelist")));
        /* Two spaces before the first grade, as in the heading; none at
         * the end of a line of a city without grades. */
        const char *k, *sep = "  ";
        json_t *v;
        json_object_foreach(json_object_get(c, "grades"), k, v) {
            fprintf(out, "%s%s=%lld", sep, k, (long long)json_integer_value(v));
            sep = " ";
        }
        fputc('\n', out);
    }
}

int xy_report_stats(xy_db *db, int format, FILE *out)
{
    int rc = begin(db, format);
    if (rc) return rc;
    const xy_engine *e = db->engine;
    const xy_rules *r = e->rules;
    int nc = r->ncities;
    uint64_t *count = xy__calloc((size_t)nc, sizeof *count), *bl = xy__calloc((size_t)nc, sizeof *bl);
    uint64_t *wl = xy__calloc((size_t)nc, sizeof *wl);
    __int128 *sum = xy__calloc((size_t)nc, sizeof *sum);
    uint64_t *grades = xy__calloc((size_t)nc * 65, sizeof *grades);
    for (uint32_t c = 0; c < e->n; c++) {
        const xy_cstate *s = &e->st[c];
        const xy_city *city = &r->cities[s->city];
        int64_t score = xy__clamp(city, s->raw);
        count[s->city]++;
        sum[s->city] += score;
        bl[s->city] += !!(s->flags & CS_ON_BL);
        wl[s->city] += !!(s->flags & CS_ON_WL);
        grades[(size_t)s->city * 65 + (size_t)(xy__city_grade(city, score) + 1)]++;
    }
    json_t *arr = json_array();
    for (int k = 0; k < nc; k++) {
        const xy_city *city = &r->cities[k];
        json_t *g = json_object();
        for (int i = city->ngrades - 1; i >= 0; i--)
            json_object_set_new(g, city->grades[i].name, json_integer((json_int_t)grades[(size_t)k * 65 + (size_t)i + 1]));
        /* Mean to two decimals, rounded half away from zero in integers so
         * that it prints the same on every machine. */
        json_t *mean = json_null();
        if (count[k]) {
            __int128 hundred = sum[k] * 200 / (__int128)count[k];
            hundred = hundred >= 0 ? (hundred + 1) / 2 : (hundred - 1) / 2;
            mean = json_real((double)hundred / 100.0);
        }
        json_array_append_new(arr, json_pack("{s:s,s:I,s:o,s:o,s:I,s:I}", "city", city->id, "citizens",
                                             (json_int_t)count[k], "mean_score", mean, "grades", g,
                                             "blacklist", (json_int_t)bl[k], "whitelist", (json_int_t)wl[k]));
    }
    json_t *o = json_pack("{s:o,s:o}", "today", jday(e->today), "cities", arr);
    emit(o, format, out, stats_text);
    json_decref(o);
    xy__free(count);
    xy__free(bl);
    xy__free(wl);
    xy__free(sum);
    xy__free(grades);
    return written(out);
}

/* --------------------------------------------------------------- explain */

typedef struct explainer {
    xy_db *db;              /* for event ids */
    const xy_rules *r;      /* names */
    json_t *contributions;  /* array being built */
    json_t *lists;          /* array being built */
    json_t *open[3];        /* the open entry per MEMBER_*, or NULL */
    xy_map agency_of;       /* event seq -> agency id | (counterpart index + 1) << 32,
                               0 above when none (for expiries) */
    __int128 sum;           /* sum of contributions */
    const xy_city *city;    /* the citizen's city */
    uint32_t citizen;       /* whose history */
} explainer;

static void note_text(const explainer *x, const xy_hist *h, xy_buf *b)
{
    const xy_behaviour *bh = xy__city_behaviour(x->r, x->city, h->behaviour);
    char d[XY_DAY_CHARS];
    switch (h->note) {
    case NOTE_UNDER_AGE:
        xy__buf_printf(b, "zero: younger than the scoring age %d on the event date", x->city->scoring_age);
        break;
    case NOTE_EXPIRED:
        /* Expired on or before the day it was applied (spec 2.2): the
         * note says which, since "before" is not true of the same day. */
        xy_day_format(h->ev->date + bh->expires, d);
        xy__buf_printf(b, "zero: it expired on %s, %s it was reported", d,
                       h->ev->date + bh->expires == h->day ? "the day" : "before");
        break;
    case NOTE_LIMIT:
        xy__buf_printf(b, "zero: limit of %d per year already reached in %d", bh->limit, xy_day_year(h->ev->date));
        break;
    case NOTE_CAPPED:
        xy__buf_printf(b, "capped at %lld", (long long)bh->cap);
        break;
    case NOTE_SCALED:
        xy__buf_printf(b, "%d x %lld (one per %lld of amount)", bh->points, (long long)h->multiplier,
                      (long long)(bh->per / XY_MICRO));
        break;
    }
    if (h->ev && h->ev->date < h->day) {
        xy_day_format(h->ev->date, d);
        xy__buf_printf(b, "%slate report of an act on %s", b->len ? "; " : "", d);
    }
    if (h->note != NOTE_UNDER_AGE && bh && bh->term) {
        xy__buf_printf(b, "%sputs on the blacklist for %d days", b->len ? "; " : "", bh->term);
    }
}

/* The ID of counterpart who (XY_NONE: null), also added to the note. */
static json_t *counterpart_json(const explainer *x, uint32_t who, xy_buf *note)
{
    if (who == XY_NONE) return json_null();
    char idtext[19];
    xy_resid_format(xy_db_engine(x->db)->ids[who], idtext);
    xy__buf_printf(note, "%scounterpart %s", note->len ? "; " : "", idtext);
    return json_string(idtext);
}

/* A list entry of the history: a membership opens (or, for a term that
 * a later event extends, gains a reason). */
static void on_list_entry(explainer *x, const xy_hist *h, xy_buf *note)
{
    const xy_rules *r = x->r;
    const char *list = h->member == MEMBER_WL ? "whitelist" : "blacklist";
    const char *by = h->member == MEMBER_BL_TERM ? "term" : "score";
    char until[XY_DAY_CHARS];
    if (h->member == MEMBER_BL_SCORE)
        xy__buf_printf(note, "score %lld fell below %lld", (long long)h->score, (long long)x->city->bl_below);
    else if (h->member == MEMBER_WL)
        xy__buf_printf(note, "score %lld reached %lld", (long long)h->score, (long long)x->city->wl_from);
    else {
        xy_day_format(h->until, until);
        xy__buf_printf(note, "'%s' reported by %s (event %s): listed until %s", r->behaviour_names.str[h->behaviour],
                      r->agency_names.str[h->ev->agency], xy__db_event_id(x->db, x->citizen, h->event_seq), until);
    }
    json_t *o = x->open[h->member];
    if (o) {
        /* A later event extends a running term: one membership, with
         * the reasons in order. */
        xy_buf all = {0};
        xy__buf_printf(&all, "%s; extended: %s", json_string_value(json_object_get(o, "reason")), note->data);
        json_object_set_new(o, "reason", json_string(all.data));
        xy__buf_free(&all);
    } else {
        xy_src at = h->member == MEMBER_BL_SCORE ? x->city->bl_at
                  : h->member == MEMBER_WL       ? x->city->wl_at
                                                 : xy__city_behaviour(r, x->city, h->behaviour)->at;
        o = json_pack("{s:s,s:s,s:o,s:n,s:s,s:o}", "list", list, "by", by, "entered", jday(h->day), "left",
                      "reason", note->data, "rule", jrule(r, at));
        /* When a membership by score ends is the exit line's doing. */
        if (h->member == MEMBER_BL_SCORE && x->city->has_exit)
            json_object_set_new(o, "exit_rule", jrule(r, x->city->exit_at));
        json_array_append_new(x->lists, o);
        x->open[h->member] = o;
    }
}

/* A contribution to the score: an event, the expiry of its points, or an
 * association adjustment, with the rule behind it. */
static void on_contribution(explainer *x, const xy_hist *h, xy_buf *note)
{
    const xy_rules *r = x->r;
    json_t *ev = json_null(), *beh = json_null(), *ag = json_null(), *edate = json_null(), *cp = json_null();
    /* An event or its expiry: the behaviour's definition in the
     * citizen's city; an adjustment: the city's association. */
    xy_src at = h->kind == HIST_ASSOC ? x->city->assoc_at : xy__city_behaviour(r, x->city, h->behaviour)->at;
    if (h->kind == HIST_EVENT) {
        ev = json_string(xy__db_event_id(x->db, x->citizen, h->event_seq));
        beh = json_string(r->behaviour_names.str[h->behaviour]);
        ag = json_string(r->agency_names.str[h->ev->agency]);
        edate = jday(h->ev->date);
        note_text(x, h, note);
        /* The counterpart the event names (a guaranteed defaulter, a
         * visited parent): it scores nothing but is part of the act. A
         * rerun from the trail has the citizen alone in its engine
         * and keeps it aside (history.c). */
        uint32_t who = h->ev->counterpart;
        const uint64_t *v = who == XY_NONE ? xy__map_get(&x->db->hist_cp, h->event_seq) : NULL;
        if (v) who = (uint32_t)*v;
        if (who >= xy_db_engine(x->db)->n) who = XY_NONE;
        int is_new;
        *xy__map_put(&x->agency_of, h->event_seq, &is_new) =
            (uint64_t)(uint32_t)h->ev->agency | (uint64_t)(who == XY_NONE ? 0 : who + 1) << 32;
        cp = counterpart_json(x, who, note);
    } else if (h->kind == HIST_EXPIRY) {
        ev = json_string(xy__db_event_id(x->db, x->citizen, h->event_seq));
        beh = json_string(r->behaviour_names.str[h->behaviour]);
        const uint64_t *a = xy__map_get(&x->agency_of, h->event_seq);
        if (a) ag = json_string(r->agency_names.str[(int32_t)(uint32_t)*a]);
        xy__buf_printf(note, "the points of event %s expire", xy__db_event_id(x->db, x->citizen, h->event_seq));
        if (a && *a >> 32) cp = counterpart_json(x, (uint32_t)(*a >> 32) - 1, note);
    } else {
        xy__buf_printf(note, "%d blacklisted contact%s", h->contacts, h->contacts == 1 ? "" : "s");
        /* An adjustment that the city's max bounded is limited, and an
         * explanation says why points are not as defined, as `capped at`
         * does for an event. */
        const xy_city *cc = x->city;
        int64_t full = cc->assoc_points * h->contacts;
        if (cc->assoc_max && (full < 0 ? full < cc->assoc_max : full > cc->assoc_max))
            xy__buf_printf(note, ": %+lld, bounded by max %+lld", (long long)full, (long long)cc->assoc_max);
    }
    static const char *kinds[] = {"event", "expiry", "association"};
    x->sum += h->points;
    json_array_append_new(x->contributions,
                          json_pack("{s:o,s:s,s:o,s:o,s:o,s:I,s:s?,s:o,s:o,s:I,s:o}", "date", jday(h->day), "kind",
                                    kinds[h->kind], "event", ev, "behaviour", beh, "agency", ag, "points",
                                    (json_int_t)h->points, "note", note->len ? note->data : NULL,
                                    "event_date", edate, "counterpart", cp, "score", (json_int_t)h->score,
                                    "rule", jrule(r, at)));
}

/* The history hook of an explanation: each step of the citizen's rerun, in
 * the order the engine took them. */
static void on_history(void *ctx, const xy_hist *h)
{
    explainer *x = ctx;
    xy_buf note = {0};
    if (h->kind == HIST_ENTER) {
        on_list_entry(x, h, &note);
    } else if (h->kind == HIST_LEAVE) {
        if (x->open[h->member]) json_object_set_new(x->open[h->member], "left", jday(h->day));
        x->open[h->member] = NULL;
    } else {
        on_contribution(x, h, &note);
    }
    xy__buf_free(&note);
}

static void explain_text(const json_t *o, FILE *out)
{
    fprintf(out, "%s  %s  (%s), today %s\n", sget(o, "id"), sget(o, "name"), sget(o, "city"), sget(o, "today"));
    fprintf(out, "base %lld", (long long)json_integer_value(json_object_get(o, "base")));
    if (json_is_string(json_object_get(o, "base_rule"))) fprintf(out, "  [%s]", sget(o, "base_rule"));
    fputc('\n', out);
    fprintf(out, "contributions\n");
    size_t i;
    json_t *c;
    /* Columns as wide as their longest entry (at least the usual widths),
     * so that a long agency or event id does not push the notes out of
     * line. */
    int we = 12, wb = 28, wa = 18;
    json_array_foreach(json_object_get(o, "contributions"), i, c) {
        int n;
        if ((n = (int)strlen(sget(c, "event"))) > we) we = n;
        if ((n = (int)strlen(sget(c, "behaviour"))) > wb) wb = n;
        if ((n = (int)strlen(sget(c, "agency"))) > wa) wa = n;
    }
    json_array_foreach(json_object_get(o, "contributions"), i, c) {
        fprintf(out, "  %s  %-11s %+6lld  %-*s %-*s %-*s", sget(c, "date"), sget(c, "kind"),
                (long long)json_integer_value(json_object_get(c, "points")), we, sget(c, "event"), wb,
                sget(c, "behaviour"), wa, sget(c, "agency"));
        if (json_is_string(json_object_get(c, "note"))) fprintf(out, "  %s", sget(c, "note"));
        if (json_is_string(json_object_get(c, "rule"))) fprintf(out, "  [%s]", sget(c, "rule"));
        fputc('\n', out);
    }
    fprintf(out, "raw %lld = base %lld + %zu contributions; score %lld, grade %s",
            (long long)json_integer_value(json_object_get(o, "raw")),
            (long long)json_integer_value(json_object_get(o, "base")),
            json_array_size(json_object_get(o, "contributions")),
            (long long)json_integer_value(json_object_get(o, "score")), sget(o, "grade"));
    if (json_is_string(json_object_get(o, "grade_rule"))) fprintf(out, "  [%s]", sget(o, "grade_rule"));
    fputc('\n', out);
    fprintf(out, "lists\n");
    if (json_array_size(json_object_get(o, "lists")) == 0) fprintf(out, "  (never listed)\n");
    json_array_foreach(json_object_get(o, "lists"), i, c) {
        fprintf(out, "  %-9s by %-5s entered %s  left %-10s  %s", sget(c, "list"), sget(c, "by"), sget(c, "entered"),
                sget(c, "left"), sget(c, "reason"));
        if (json_is_string(json_object_get(c, "rule"))) {
            fprintf(out, "  [%s", sget(c, "rule"));
            if (json_is_string(json_object_get(c, "exit_rule"))) fprintf(out, ", exit %s", sget(c, "exit_rule"));
            fputc(']', out);
        }
        fputc('\n', out);
    }
    fprintf(out, "consequences\n");
    text_consequences(json_object_get(o, "consequences"), out);
}

int xy_report_explain(xy_db *db, const char *id, int format, int from_log, FILE *out)
{
    int rc = begin(db, format);
    if (rc) return rc;
    uint32_t c;
    if (find_citizen(db, id, &c)) return XY_EUNKNOWN;
    const xy_engine *e = db->engine;
    explainer x = {0};
    x.db = db;
    x.r = e->rules;
    x.city = xy__citizen_city(e, c);
    x.citizen = c;
    x.contributions = json_array();
    x.lists = json_array();
    xy__map_init(&x.agency_of, 64);
    xy_engine *replayed;
    /* From the history index when it serves; else, or if what it gives
     * does not account for the state, from the whole log. */
    rc = from_log ? XY_ENOENT : xy__db_trail_history(db, c, on_history, &x, &replayed);
    if (rc == XY_OK && (__int128)x.city->base + x.sum != (__int128)e->st[c].raw) {
        xy_engine_free(replayed);
        rc = XY_ENOENT;
    }
    if (rc && !from_log) {
        db->history_fallbacks++;
        json_decref(x.contributions);
        json_decref(x.lists);
        xy__map_free(&x.agency_of);
        x.contributions = json_array();
        x.lists = json_array();
        memset(x.open, 0, sizeof x.open);
        x.sum = 0;
        xy__map_init(&x.agency_of, 64);
    }
    if (rc) rc = xy__db_replay_history(db, e->ids[c], on_history, &x, &replayed);
    /* The explanation must account for the score exactly. Even the whole
     * log not doing so means the state restored from the snapshot is not
     * the one the log gives: a damaged or forged snapshot whose sections
     * check out, which is an error of the data, not of the program. */
    if (rc == XY_OK && (__int128)x.city->base + x.sum != (__int128)e->st[c].raw) {
        xy_engine_free(replayed);
        rc = XY_ECORRUPT;
    }
    if (rc) {
        json_decref(x.contributions);
        json_decref(x.lists);
        xy__map_free(&x.agency_of);
        return rc;
    }
    xy_engine_free(replayed);
    /* Entries made at registration, before the clock was set, date from
     * the clock's first day. */
    size_t i;
    json_t *l;
    json_array_foreach(x.lists, i, l)
        if (json_is_null(json_object_get(l, "entered")))
            json_object_set_new(l, "entered", jday(e->first_day));
    int64_t score = xy_engine_score(e, c);
    int g = xy__city_grade(x.city, score);
    json_t *o = json_pack("{s:o,s:s,s:s,s:o,s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "id", jid(e->ids[c]), "name",
                          xy__name(e, c), "city", x.city->id, "today", jday(e->today), "base",
                          (json_int_t)x.city->base, "raw", (json_int_t)e->st[c].raw, "score", (json_int_t)score,
                          "grade", grade_json(x.city, score), "contributions", x.contributions, "lists", x.lists,
                          "consequences", consequences_json(db, e, c, -1), "base_rule", jrule(x.r, x.city->base_at),
                          "grade_rule", g >= 0 ? jrule(x.r, x.city->grades[g].at) : json_null());
    emit(o, format, out, explain_text);
    json_decref(o);
    xy__map_free(&x.agency_of);
    return written(out);
}
