/* Unit tests of the snapshot reader's content checks: a snapshot whose
 * sections were changed and given valid checksums again (as only a forger
 * or a bug could) is refused at start-up with the section named, a score
 * changed within bounds is caught by `explain`, and the same snapshot
 * resealed unchanged opens. */
#include <stdlib.h>
#include <unistd.h>

#include "../snapshot_file.h"
#include "engine.h"
#include "snapshot.h"
#include "unit.h"

static const char *RULES =
    "city town\n"
    "region 11\n"
    "score base 100 min 0 max 200\n"
    "grade A from 100\n"
    "grade B from 0\n"
    "behaviour good points +3 limit 5 per year category c\n"
    "behaviour bad points -60 expires 30 days category c\n"
    "agency office reports category c\n"
    "blacklist below 50\n";

static char last_msg[512];

static void keep(void *ctx, const char *msg)
{
    (void)ctx;
    snprintf(last_msg, sizeof last_msg, "%s", msg);
}

static void put_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

TEST(snapshot_forged_contents_are_refused)
{
    char dir[128], cmd[512], path[256];
    snprintf(dir, sizeof dir, "/tmp/xy-unit-snap-%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s %s-rules && mkdir -p %s-rules", dir, dir, dir);
    ASSERT_EQ(system(cmd), 0);
    snprintf(path, sizeof path, "%s-rules/town.rules", dir);
    put_file(path, RULES, strlen(RULES));
    snprintf(path, sizeof path, "%s-rules", dir);
    ASSERT_EQ(xy_db_create(dir, path, keep, NULL), XY_OK);
    xy_db *db;
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, keep, NULL, &db), XY_OK);
    snprintf(path, sizeof path, "%s-citizens.csv", dir);
    const char *cit = "id,name,city,father,mother\n"
                      "110101195001010017,Ann,town,,\n"
                      "110101198001010010,Bo,town,110101195001010017,\n"
                      "11010519491231002X,Cy,town,,\n";
    put_file(path, cit, strlen(cit));
    xy_load_result res;
    int lrc = xy_db_load_csv(db, XY_LOAD_CITIZENS, path, NULL, keep, NULL, &res);
    if (lrc) printf("  %s\n", last_msg);
    ASSERT_EQ(lrc, XY_OK);
    /* Bo is blacklisted with an expiry pending; Ann's score rises. */
    xy_event ev[2] = {{0, 1, 0, 0, XY_NONE, 0, -1}, {0, 0, 0, 0, XY_NONE, 0, -1}};
    const xy_rules *r = xy_db_rules(db);
    ev[0].behaviour = xy_rules_behaviour_id(r, "bad", 3);
    ev[1].behaviour = xy_rules_behaviour_id(r, "good", 4);
    ev[0].agency = ev[1].agency = xy_rules_agency_id(r, "office", 6);
    ASSERT_EQ(xy_day_parse("2024-03-01", 10, &ev[0].date), XY_OK);
    ev[1].date = ev[0].date;
    const char *ids[2] = {"e1", "e2"};
    ASSERT_EQ(xy_db_append_events(db, ev, ids, 2, keep, NULL, NULL), XY_OK);
    ASSERT_EQ(xy_db_snapshot(db, keep, NULL), XY_OK);
    xy_db_close(db);
    snprintf(path, sizeof path, "%s/snapshot", dir);
    char *orig;
    size_t len;
    ASSERT_EQ(xy__read_file(path, &orig, &len), XY_OK);

    /* Byte patches: section, offset in its data, value; the section the
     * message should name ("" when the restore itself refuses). */
    static const struct {
        uint32_t tag;
        size_t at;
        unsigned char value;
        const char *named;
    } forged[] = {
        {S_STATE, 28, 0x7f, "citizen state"},            /* citizen 0's city */
        {S_STATE, 32 + 31, 200, "citizen state"},        /* citizen 1's grade */
        {S_STATE, 32 + 30, 0, "citizen state"},          /* Bo's blacklist flags */
        {S_FATHER, 4 + 3, 0x7f, "parents"},              /* Bo's father */
        {S_NAME_OFF, 8 + 2, 0x7f, "name offsets"},
        {S_SCALARS, 3, 0x40, "scalars"},                 /* today */
        {S_BY_ID, 8, 0x7f, "ID index"},                  /* the count it claims */
        {S_EXPIRIES, 8 + 2, 0x7f, "expiries"},           /* the expiry's citizen */
        {S_EXPIRIES, 3, 0x7f, "expiries"},               /* the bucket's ring slot */
        {S_EXPIRIES, 4 + 2, 0x01, "expiries"},           /* the bucket's item count */
        {S_LIMITS, 8 + 16, 0x7f, ""},                    /* a table's count */
    };
    for (size_t k = 0; k < sizeof forged / sizeof forged[0]; k++) {
        unsigned char *s = malloc(len);
        memcpy(s, orig, len);
        size_t at = snap_section_at(s, len, forged[k].tag);
        ASSERT(at != 0);
        s[at + forged[k].at] = forged[k].value;
        snap_seal(s, len);
        put_file(path, s, len);
        free(s);
        last_msg[0] = 0;
        db = NULL;
        int rc = xy_db_open(dir, XY_READ, keep, NULL, &db);
        if (rc == XY_OK) {
            xy_db_close(db);
            printf("  forgery %zu was not refused\n", k);
        }
        ASSERT_EQ(rc, XY_ECORRUPT);
        ASSERT(strstr(last_msg, "snapshot") != NULL);
        if (forged[k].named[0]) ASSERT(strstr(last_msg, forged[k].named) != NULL);
        else ASSERT(strstr(last_msg, "do not fit together") != NULL);
        /* verify finds it too, without loading the state. */
        FILE *devnull = fopen("/dev/null", "w");
        last_msg[0] = 0;
        rc = xy_db_verify(dir, keep, NULL, devnull);
        fclose(devnull);
        ASSERT_EQ(rc, XY_ECORRUPT);
        ASSERT(strstr(last_msg, forged[k].named[0] ? forged[k].named : "yearly limit counts") != NULL);
    }
    /* A raw score changed within bounds opens, but explaining it finds
     * that the log does not give it: an error, not an explanation. */
    unsigned char *f = malloc(len);
    memcpy(f, orig, len);
    f[snap_section_at(f, len, S_STATE)] ^= 1; /* Ann's raw score */
    snap_seal(f, len);
    put_file(path, f, len);
    free(f);
    ASSERT_EQ(xy_db_open(dir, XY_READ, keep, NULL, &db), XY_OK);
    FILE *devnull = fopen("/dev/null", "w");
    int erc = xy_report_explain(db, "110101195001010017", XY_OUT_TEXT, 0, devnull);
    int brc = xy_report_explain(db, "110101198001010010", XY_OUT_TEXT, 0, devnull);
    fclose(devnull);
    xy_db_close(db);
    ASSERT_EQ(erc, XY_ECORRUPT);
    ASSERT_EQ(brc, XY_OK);
    /* Resealed unchanged, it opens, with Bo on the blacklist. */
    unsigned char *s = malloc(len);
    memcpy(s, orig, len);
    snap_seal(s, len);
    ASSERT(memcmp(s, orig, len) == 0);
    free(s);
    put_file(path, orig, len);
    ASSERT_EQ(xy_db_open(dir, XY_READ, keep, NULL, &db), XY_OK);
    ASSERT_EQ(xy_engine_on_blacklist(xy_db_engine(db), 1), 1);
    xy_db_close(db);
    xy__free(orig);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s-rules %s-citizens.csv", dir, dir, dir);
    ASSERT_EQ(system(cmd), 0);
}
