/* Unit tests of ruleparse.c and rules.c: directives, overrides, includes, errors with
 * positions, and dense lookups. */
#include <stdlib.h>

#include "rules.h"
#include "unit.h"

typedef struct msgs {
    char text[4096]; /* messages, one per line */
    int n;           /* how many */
} msgs;

static void collect(void *ctx, const char *msg)
{
    msgs *m = ctx;
    size_t len = strlen(m->text);
    snprintf(m->text + len, sizeof m->text - len, "%s\n", msg);
    m->n++;
}

static const char *CITY =
    "include \"base.rules\"\n"
    "city testville \"Test Ville\"\n"
    "region 1234\n"
    "score base 1000 min 0 max 2000\n"
    "scored from age 16\n"
    "grade A from 900\n"
    "grade B from 0\n"
    "behaviour good points +7 category social\n"
    "behaviour bad points -5 per 100 cap 50 limit 3 per year expires 30 days category financial \"Bad\"\n"
    "agency office reports good bad\n"
    "blacklist below 600\n"
    "blacklist exit 800 after 10 days\n"
    "whitelist from 1500\n"
    "sanction nofly on blacklist for 365 days deny flight train \"No travel\"\n"
    "sanction school on blacklist children deny private_school\n"
    "privilege cheap on grade A , B discount 10 heating\n"
    "association -5 per blacklisted contact every 30 days max -20\n"
    "publish blacklist scores\n";

static const char *BASE =
    "behaviour good points +1 category social\n"
    "behaviour shared points -2 lists blacklist for 730 days category financial\n"
    "agency court reports category financial\n";

TEST(rules_compile_a_city_with_include_and_override)
{
    unit_file("base.rules", BASE);
    const char *p = unit_file("city.rules", CITY);
    msgs m = {{0}, 0};
    xy_rules *r;
    ASSERT_EQ(xy_rules_load_files(&p, 1, collect, &m, &r), XY_OK);
    ASSERT_EQ(r->ncities, 1);
    const xy_city *c = &r->cities[0];
    ASSERT_STR(c->id, "testville");
    ASSERT_EQ(c->base, 1000);
    ASSERT_EQ(c->scoring_age, 16);
    ASSERT_EQ(c->nbehaviours, 3);
    const xy_behaviour *good = xy__city_behaviour(r, c, xy_rules_behaviour_id(r, "good", 4));
    ASSERT(good != NULL);
    ASSERT_EQ(good->points, 7); /* the city's definition replaced the shared one */
    const xy_behaviour *bad = xy__city_behaviour(r, c, xy_rules_behaviour_id(r, "bad", 3));
    ASSERT_EQ(bad->per, 100 * XY_MICRO);
    ASSERT_EQ(bad->cap, 50);
    ASSERT_EQ(bad->limit, 3);
    ASSERT_EQ(bad->expires, 30);
    const xy_behaviour *shared = xy__city_behaviour(r, c, xy_rules_behaviour_id(r, "shared", 6));
    ASSERT_EQ(shared->term, 730);
    int32_t court = xy_rules_agency_id(r, "court", 5), office = xy_rules_agency_id(r, "office", 6);
    /* `reports category financial` covers the city's own financial behaviours too. */
    ASSERT_EQ(xy_rules_may_report(r, 0, court, bad->name), XY_OK);
    ASSERT_EQ(xy_rules_may_report(r, 0, court, shared->name), XY_OK);
    ASSERT_EQ(xy_rules_may_report(r, 0, court, good->name), XY_EINPUT);
    ASSERT_EQ(xy_rules_may_report(r, 0, office, good->name), XY_OK);
    ASSERT_EQ(c->ncons, 3);
    ASSERT_EQ(c->cons[2].grades, 3);
    ASSERT_EQ(c->cons[2].percent, 10);
    ASSERT_EQ(c->cons[1].children, 1);
    ASSERT_EQ(c->assoc_max, -20);
    ASSERT(c->publish_blacklist && c->publish_scores);
    ASSERT_EQ(xy__rules_city_of_region(r, 123456), 0);
    ASSERT_EQ(xy__rules_city_of_region(r, 123556), -1);
    ASSERT_EQ(xy__city_grade(c, 899), 0);
    ASSERT_STR(c->grades[xy__city_grade(c, 900)].name, "A");
    xy_rules_free(r);
}

/* Compiles one city file whose body is `text` and returns the messages. */
static int errors_of(const char *text, msgs *m)
{
    xy_rules *r;
    memset(m, 0, sizeof *m);
    const char *p = unit_file("bad.rules", text);
    int rc = xy_rules_load_files(&p, 1, collect, m, &r);
    if (rc == XY_OK) xy_rules_free(r);
    return rc;
}

#define HEAD "city c\nscore base 10 min 0\ngrade G from 0\n"

TEST(rules_errors_name_file_line_and_column)
{
    msgs m;
    ASSERT_EQ(errors_of(HEAD "frobnicate 3\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "bad.rules:4:1: unknown directive 'frobnicate'"));
    ASSERT_EQ(errors_of(HEAD "behaviour x points +1 pionts 3\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "bad.rules:4:23: unknown attribute 'pionts'"));
    ASSERT_EQ(errors_of(HEAD "behaviour x category social\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "bad.rules:4:11: behaviour 'x' has no points"));
    ASSERT_EQ(errors_of(HEAD "city d\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "bad.rules:4:1: duplicate city"));
    ASSERT_EQ(errors_of("city c\nscore base 10 min 30 max 20\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "bad.rules:2:26: score min 30 is above max 20"));
    ASSERT_EQ(errors_of("city c\nscore base 10 min 30 max 40\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "bad.rules:2:12: score base 10 lies outside [min, max]"));
    ASSERT_EQ(errors_of("city c\nscore base 10 min 0\ngrade G from 5\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "bad.rules:3:7: grade bands do not cover min 0"));
    ASSERT_EQ(errors_of(HEAD "blacklist below 5\nblacklist exit 4 after 3 days\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "bad.rules:5:1: the blacklist exit threshold 4 is below the entry threshold 5"));
    ASSERT_EQ(errors_of(HEAD "sanction s on grade G,H deny x\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "bad.rules:4:23: sanction 's' is on unknown grade 'H'"));
    ASSERT_EQ(errors_of(HEAD "behaviour x points +1\nagency a reports y\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "bad.rules:5:18: agency 'a' reports unknown behaviour 'y'"));
    ASSERT_EQ(errors_of(HEAD "behaviour x points 1 \"unterminated\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "bad.rules:4:22: unterminated string"));
    ASSERT_EQ(errors_of("city c\n", &m), XY_EINPUT);
    ASSERT(strstr(m.text, "has no 'score base N' line"));
    /* Every mistake of a file is reported, not just the first. */
    ASSERT_EQ(errors_of(HEAD "bogus\nbehaviour y\nwhitelist from\n", &m), XY_EINPUT);
    ASSERT_EQ(m.n, 3);
}

TEST(rules_include_cycles_and_read_once)
{
    msgs m = {{0}, 0};
    xy_rules *r;
    unit_file("a.rules", "include \"b.rules\"\nbehaviour x points 1\n");
    unit_file("b.rules", "include \"a.rules\"\n");
    const char *p = unit_file("cyc.rules", "include \"a.rules\"\ncity c\nscore base 1\n");
    ASSERT_EQ(xy_rules_load_files(&p, 1, collect, &m, &r), XY_EINPUT);
    ASSERT(strstr(m.text, "b.rules:1:9: include cycle"));
    memset(&m, 0, sizeof m);
    unit_file("once.rules", "behaviour y points 2\n");
    p = unit_file("twice.rules", "include \"once.rules\"\nbehaviour y points 5\ninclude \"once.rules\"\n"
                                 "city c\nscore base 1\n");
    ASSERT_EQ(xy_rules_load_files(&p, 1, collect, &m, &r), XY_OK);
    /* Read once: the second include does not bring back points 2. */
    ASSERT_EQ(xy__city_behaviour(r, &r->cities[0], xy_rules_behaviour_id(r, "y", 1))->points, 5);
    xy_rules_free(r);
    memset(&m, 0, sizeof m);
    p = unit_file("missing.rules", "include \"nowhere.rules\"\ncity c\nscore base 1\n");
    ASSERT_EQ(xy_rules_load_files(&p, 1, collect, &m, &r), XY_EINPUT);
    ASSERT(strstr(m.text, "missing.rules:1:9: cannot include"));
}

TEST(rules_count_the_files_named_not_their_paths)
{
    msgs m = {{0}, 0};
    xy_rules *r;
    const char *root = getenv("XY_ROOT");
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/rules/rongcheng.rules", root ? root : ".");
    snprintf(b, sizeof b, "%s/rules/../rules/rongcheng.rules", root ? root : ".");
    const char *paths[] = {a, b};
    ASSERT_EQ(xy_rules_load_files(paths, 2, collect, &m, &r), XY_OK);
    ASSERT_EQ(xy_rules_file_count(r), 1);
    ASSERT_EQ(xy_rules_city_count(r), 1);
    xy_rules_free(r);
}

TEST(rules_shipped_rulesets_compile)
{
    msgs m = {{0}, 0};
    xy_rules *r;
    const char *root = getenv("XY_ROOT");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/rules", root ? root : ".");
    ASSERT_EQ(xy_rules_load_dir(dir, collect, &m, &r), XY_OK);
    ASSERT_EQ(r->ncities, 6);
    ASSERT_EQ(xy_rules_file_count(r), 7); /* six cities and national.rules */
    ASSERT(xy_rules_city_find(r, "rongcheng") >= 0);
    ASSERT(xy_rules_city_find(r, "shenzhen") >= 0);
    int rc = xy_rules_city_find(r, "rongcheng");
    int32_t vp = xy_rules_behaviour_id(r, "visiting_parents", 16);
    int32_t gd = xy_rules_behaviour_id(r, "guarantor_for_defaulter", 23);
    int with_vp = 0, with_gd = 0;
    for (int i = 0; i < r->ncities; i++) {
        with_vp += xy__city_behaviour(r, &r->cities[i], vp) != NULL;
        with_gd += xy__city_behaviour(r, &r->cities[i], gd) != NULL;
    }
    /* The seed's two city differences hold in exactly one city each. */
    ASSERT_EQ(with_vp, 1);
    ASSERT_EQ(with_gd, 1);
    ASSERT(xy__city_behaviour(r, &r->cities[rc], vp) != NULL);
    ASSERT_EQ(r->cities[rc].base, 1000);
    xy_rules_free(r);
}

/* An agency past the first 64 has no bit in the dense masks: its
 * permissions are looked up one by one, and must say the same. */
TEST(rules_agencies_past_64_report_what_they_name)
{
    char text[8192];
    size_t len = (size_t)snprintf(text, sizeof text, "city c\nscore base 1\nbehaviour x points 1\nbehaviour y points 1\n");
    for (int i = 0; i < 64; i++) len += (size_t)snprintf(text + len, sizeof text - len, "agency a%d reports y\n", i);
    snprintf(text + len, sizeof text - len, "agency late reports x\n");
    msgs m = {{0}, 0};
    xy_rules *r;
    const char *p = unit_file("agencies.rules", text);
    ASSERT_EQ(xy_rules_load_files(&p, 1, collect, &m, &r), XY_OK);
    int32_t late = xy_rules_agency_id(r, "late", 4), early = xy_rules_agency_id(r, "a63", 3);
    int32_t x = xy_rules_behaviour_id(r, "x", 1), y = xy_rules_behaviour_id(r, "y", 1);
    ASSERT_EQ(late, 64);
    ASSERT_EQ(xy_rules_may_report(r, 0, late, x), XY_OK);
    ASSERT_EQ(xy_rules_may_report(r, 0, late, y), XY_EINPUT);
    ASSERT_EQ(xy_rules_may_report(r, 0, early, y), XY_OK);
    ASSERT_EQ(xy_rules_may_report(r, 0, early, x), XY_EINPUT);
    xy_rules_free(r);
}

/* `on grade A, B`: a token that ends in a comma carries the list on to
 * the next token, which names a grade like any other. */
TEST(rules_grade_list_goes_on_after_a_trailing_comma)
{
    msgs m = {{0}, 0};
    xy_rules *r;
    const char *p = unit_file("list.rules", "city c\nscore base 10 min 0\ngrade A from 0\ngrade B from 5\n"
                                             "grade C from 9\nprivilege p on grade A, C discount 10 x\n");
    ASSERT_EQ(xy_rules_load_files(&p, 1, collect, &m, &r), XY_OK);
    ASSERT_EQ(r->cities[0].cons[0].grades, 5);
    xy_rules_free(r);
}
