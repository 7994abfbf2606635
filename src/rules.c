/* rules.c -- the rules compiler and loader: each city's unit (read by
 * ruleparse.c) turned into the dense tables of rules.h, the cities of a
 * directory or a list of files loaded together, and the queries on the
 * compiled rules. */
#include "ruleparse.h"
#include "limitcount.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
        c->grades[i].at = xy__rules_src_of(u, u->grades[i].at);
        for (size_t j = 0; j < i; j++)
            if (u->grades[j].from == u->grades[i].from)
                xy__rules_report(d, u->grades[i].at, "grades '%s' and '%s' have the same lower bound %lld",
                       u->grades[j].name, u->grades[i].name, (long long)u->grades[i].from);
    }
    if (c->ngrades) qsort(c->grades, (size_t)c->ngrades, sizeof *c->grades, cmp_grade);
    if (full && u->ngrades > 0) {
        const grade_def *low = &u->grades[0];
        for (size_t i = 1; i < u->ngrades; i++)
            if (u->grades[i].from < low->from) low = &u->grades[i];
        if (!u->has_min)
            xy__rules_report(d, low->at, "grade bands must cover the minimum score, but the city sets no 'min'");
        else if (low->from > u->min)
            xy__rules_report(d, low->at, "grade bands do not cover min %lld: the lowest band '%s' starts at %lld",
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
                    xy__rules_report(d, it->at, "agency '%s': no behaviour of city '%s' has category '%s'",
                           a->name, u->city_id, it->name);
            } else {
                int32_t bid = xy__names_find(&r->behaviour_names, it->name, strlen(it->name));
                if (bid >= 0 && xy__map_get(&u->behaviour_index, (uint64_t)bid)) {
                    int is_new;
                    *xy__map_put(&c->perms, (uint64_t)aid << 32 | (uint32_t)bid, &is_new) = 1;
                    found = 1;
                }
                if (!found && full)
                    xy__rules_report(d, it->at, "agency '%s' reports unknown behaviour '%s'%s%s", a->name, it->name,
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
        xy__rules_report(u->d, u->exit_at, "'blacklist exit' needs a 'blacklist below' threshold");
    if (u->has_exit && u->has_blacklist && u->bl_exit < u->bl_below)
        xy__rules_report(u->d, u->exit_at, "the blacklist exit threshold %lld is below the entry threshold %lld",
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
        o->at = xy__rules_src_of(u, s->at);
        for (int g = 0; g < s->ngrades; g++) {
            int gi = find_grade(c, s->grades[g].name);
            if (gi < 0) {
                if (full || u->ngrades > 0)
                    xy__rules_report(u->d, s->grades[g].at, "%s '%s' is on unknown grade '%s'",
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
    if (full && !u->has_score) xy__rules_report(d, u->city_at, "city '%s' has no 'score base N' line", u->city_id);
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
    if (u->has_score) c->base_at = xy__rules_src_of(u, u->score_at);
    if (u->has_blacklist) c->bl_at = xy__rules_src_of(u, u->bl_at);
    if (u->has_exit) c->exit_at = xy__rules_src_of(u, u->exit_at);
    if (u->has_whitelist) c->wl_at = xy__rules_src_of(u, u->wl_at);
    if (u->has_assoc) c->assoc_at = xy__rules_src_of(u, u->assoc_at);
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
            xy__rules_report(&ld->d, u->city_id_at, "duplicate city '%s' (also in %s)", c->id, r->cities[k].file);
    for (size_t k = 0; k < u->nregions; k++) {
        for (size_t m = 0; m < ld->nregion_at; m++)
            if (ld->region_at[m].prefix == u->regions[k].prefix &&
                ld->region_at[m].digits == u->regions[k].digits)
                xy__rules_report(&ld->d, u->regions[k].at, "region prefix %0*u is already claimed at %s:%d",
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
    int is_city = xy__rules_declares_city(path);
    if (xy__rules_parse_file(&u, path, none) == 0) {
        xy_city c;
        if (compile_unit(&u, is_city && u.has_city, &c) == 0 && is_city && u.has_city)
            add_city(ld, &u, &c);
        else
            city_free(&c);
    }
    xy__rules_unit_free(&u);
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
    ld.r->nnamed = (int)ld.given.count;
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

int xy__rules_dir_names(const char *dir, char ***names, size_t *n)
{
    DIR *dh = opendir(dir);
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    if (!dh) return errno == ENOENT ? XY_ENOENT : XY_EIO;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        size_t len = strlen(e->d_name);
        /* A hidden name is no one's rules: an editor's lock or backup
         * (Emacs's .#city.rules, a link to nowhere) would otherwise make
         * the directory unreadable while a file is being edited. */
        if (len > 6 && e->d_name[0] != '.' && strcmp(e->d_name + len - 6, ".rules") == 0)
            XY_PUSH(*names, *n, cap, xy__strndup(e->d_name, len));
    }
    closedir(dh);
    if (*n) qsort(*names, *n, sizeof **names, cmp_str); /* qsort wants a valid pointer, even for none */
    return XY_OK;
}

int xy_rules_load_dir(const char *dir, xy_diag_fn *fn, void *ctx, xy_rules **out)
{
    char **paths;
    size_t n;
    *out = NULL;
    int rc = xy__rules_dir_names(dir, &paths, &n);
    if (rc) {
        xy__diagf(fn, ctx, "%s: cannot open rules directory: %s", dir, strerror(errno));
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        xy_buf b = {0};
        xy__buf_printf(&b, "%s/%s", dir, paths[i]);
        xy__free(paths[i]);
        paths[i] = b.data;
    }
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

int xy_rules_file_count(const xy_rules *r) { return r->nnamed; }

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
