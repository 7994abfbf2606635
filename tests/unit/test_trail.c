/* Unit tests of the per-citizen history index (trail.c and its use in
 * store.c): for every citizen of a random workload, the history rerun from
 * the trail must be line for line the history a replay of the whole log
 * gives, in a writer before and after a snapshot, in a reader, and after
 * the trail file was lost and rebuilt. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "history.h"
#include "store.h"
#include "unit.h"

static const char *TRAIL_RULES =
    "city tv\n"
    "region 11\n"
    "score base 100 min 0 max 200\n"
    "scored from age 18\n"
    "grade hi from 120\n"
    "grade mid from 60\n"
    "grade lo from 0\n"
    "behaviour up points +9 limit 2 per year category c\n"
    "behaviour down points -15 expires 30 days category c\n"
    "behaviour fine points -3 per 100 cap 20 category c\n"
    "behaviour court points -1 lists blacklist for 20 days category c\n"
    "agency a reports category c\n"
    "blacklist below 70\n"
    "blacklist exit 85 after 15 days\n"
    "whitelist from 125\n"
    "sanction s on grade lo for 10 days deny x\n"
    "association -4 per blacklisted contact every 6 days max -8\n";

static const char *TRAIL_RULES_WS =
    "city ws\n"
    "region 22\n"
    "score base 50 min 0 max 100\n"
    "grade one from 0\n"
    "behaviour up points +12 category c\n"
    "behaviour down points -20 expires 12 days category c\n"
    "agency a reports category c\n"
    "blacklist below 35\n"
    "association -2 per blacklisted contact every 5 days\n";

enum { NCIT = 90 };

static uint32_t trail_rnd_state = 777;
static uint32_t trnd(uint32_t n)
{
    trail_rnd_state = trail_rnd_state * 1664525u + 1013904223u;
    return (trail_rnd_state >> 8) % n;
}

static void quiet_diag(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

/* The history hook's lines, as text. */
static void to_text(void *ctx, const xy_hist *h)
{
    xy_buf *b = ctx;
    xy_buf_printf(b, "%d %d %llu %d %lld %d %lld %d %d %d %lld\n", h->kind, h->day, (unsigned long long)h->event_seq,
                  h->behaviour, (long long)h->points, h->note, (long long)h->multiplier, h->contacts, h->member,
                  h->until, (long long)h->score);
}

/* Every citizen's history from the trail equals the one from the log. */
static int same_histories(xy_db *db)
{
    for (uint32_t c = 0; c < db->engine->n; c++) {
        xy_buf a = {0}, b = {0};
        xy_engine *ea, *eb;
        if (xy__db_trail_history(db, c, to_text, &a, &ea) != XY_OK) {
            printf("  citizen %u: the trail did not serve\n", c);
            return 0;
        }
        if (xy__db_replay_history(db, db->engine->ids[c], to_text, &b, &eb) != XY_OK) return 0;
        int same = a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
        if (!same) printf("  citizen %u differs:\n--- trail\n%s--- log\n%s", c, a.data ? a.data : "", b.data ? b.data : "");
        xy_engine_free(ea);
        xy_engine_free(eb);
        xy_buf_free(&a);
        xy_buf_free(&b);
        if (!same) return 0;
    }
    return 1;
}

/* Appends n random events dated from *day on, some of them late. */
static int add_events(xy_db *db, int n, xy_day *day, int *next_id)
{
    const xy_rules *r = db->rules;
    xy_event *ev = calloc((size_t)n, sizeof *ev);
    char **ids = calloc((size_t)n, sizeof *ids);
    const char *names[] = {"up", "down", "fine", "court"};
    for (int i = 0; i < n; i++) {
        if (trnd(3) == 0) *day += (xy_day)trnd(4);
        uint32_t c = trnd(NCIT);
        int city = db->engine->st[c].city;
        int k = (int)trnd(city == 0 ? 4 : 2);
        if (city == 0 && k == 3 && trnd(3)) k = (int)trnd(3);
        ev[i].citizen = c;
        ev[i].behaviour = xy_rules_behaviour_id(r, names[k], strlen(names[k]));
        ev[i].agency = xy_rules_agency_id(r, "a", 1);
        ev[i].counterpart = XY_NONE;
        ev[i].date = *day - (trnd(6) == 0 ? (xy_day)trnd(40) : 0);
        ev[i].amount = trnd(2) ? (int64_t)trnd(1000) * XY_MICRO : -1;
        ids[i] = malloc(16);
        snprintf(ids[i], 16, "t%d", (*next_id)++);
    }
    int rc = xy_db_append_events(db, ev, (const char *const *)ids, (size_t)n, quiet_diag, NULL, NULL);
    for (int i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(ev);
    return rc;
}

TEST(trail_reruns_every_history_like_the_log)
{
    char dir[64], rdir[80], path[400];
    snprintf(dir, sizeof dir, "/tmp/xy-unit-trail-%d", (int)getpid());
    snprintf(rdir, sizeof rdir, "%s-rules", dir);
    snprintf(path, sizeof path, "rm -rf %s %s && mkdir -p %s", dir, rdir, rdir);
    ASSERT_EQ(system(path), 0);
    snprintf(path, sizeof path, "%s/tv.rules", rdir);
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs(TRAIL_RULES, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/ws.rules", rdir);
    f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs(TRAIL_RULES_WS, f);
    fclose(f);
    ASSERT_EQ(xy_db_create(dir, rdir, quiet_diag, NULL), XY_OK);
    xy_db *db;
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet_diag, NULL, &db), XY_OK);
    /* Citizens of both cities, some too young to be scored at first. */
    snprintf(path, sizeof path, "%s-citizens.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "id,name\n");
    for (int i = 0; i < NCIT; i++) {
        xy_day birth;
        xy_day_parse("1960-01-01", 10, &birth);
        birth += (xy_day)trnd(365 * 50);
        xy_resid id = (uint64_t)(i % 2 ? 220101 : 110101) << 28 | (uint64_t)(birth + 65536) << 10 | (uint64_t)i;
        char s[19];
        xy_resid_format(id, s);
        fprintf(f, "%s,P%d\n", s, i);
    }
    fclose(f);
    xy_load_result res;
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_CITIZENS, path, NULL, quiet_diag, NULL, &res), XY_OK);
    snprintf(path, sizeof path, "%s-contacts.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "a,b\n");
    for (int i = 0; i < NCIT * 2; i++) {
        uint32_t a = trnd(NCIT), b = trnd(NCIT);
        if (a == b) continue;
        char sa[19], sb[19];
        xy_resid_format(db->engine->ids[a], sa);
        xy_resid_format(db->engine->ids[b], sb);
        fprintf(f, "%s,%s\n", sa, sb);
    }
    fclose(f);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_CONTACTS, path, NULL, quiet_diag, NULL, &res), XY_OK);
    xy_day day;
    xy_day_parse("2023-12-01", 10, &day);
    int next_id = 0;
    for (int batch = 0; batch < 6; batch++) ASSERT_EQ(add_events(db, 150, &day, &next_id), XY_OK);
    ASSERT_EQ(xy_db_advance(db, day + 9), XY_OK);
    day += 9;
    ASSERT(same_histories(db));
    /* After a snapshot the trail lives in the file. */
    ASSERT_EQ(xy_db_snapshot(db, quiet_diag, NULL), XY_OK);
    for (int batch = 0; batch < 4; batch++) ASSERT_EQ(add_events(db, 150, &day, &next_id), XY_OK);
    ASSERT(same_histories(db));
    /* A reader: the snapshot's part from the file, the rest from the log. */
    xy_db *rd;
    ASSERT_EQ(xy_db_open(dir, XY_READ, quiet_diag, NULL, &rd), XY_OK);
    ASSERT(same_histories(rd));
    xy_db_close(rd);
    xy_db_close(db);
    /* A writer cuts what followed the snapshot and adds it again. */
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet_diag, NULL, &db), XY_OK);
    ASSERT(same_histories(db));
    ASSERT_EQ(add_events(db, 150, &day, &next_id), XY_OK);
    ASSERT(same_histories(db));
    xy_db_close(db);
    /* Without its file, the trail is rebuilt from the log. */
    snprintf(path, sizeof path, "%s/trail", dir);
    ASSERT_EQ(unlink(path), 0);
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet_diag, NULL, &db), XY_OK);
    ASSERT(same_histories(db));
    xy_db_close(db);
    /* So is a trail of another format version (the records' check
     * changed with v002). */
    f = fopen(path, "r+");
    ASSERT(f != NULL);
    ASSERT_EQ(fseek(f, 12, SEEK_SET), 0);
    ASSERT_EQ(fwrite("v001", 1, 4, f), 4);
    fclose(f);
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet_diag, NULL, &db), XY_OK);
    ASSERT(same_histories(db));
    xy_db_close(db);
    snprintf(path, sizeof path, "rm -rf %s %s %s-citizens.csv %s-contacts.csv", dir, rdir, dir, dir);
    ASSERT_EQ(system(path), 0);
}

/* A writer's records go to the file as they pile up, not all at the end:
 * a replay of a long log would otherwise hold them all in memory. Every
 * record stays readable through the chains, from the file or memory. */
TEST(trail_writer_writes_records_as_they_pile_up)
{
    char dir[64], cmd[160];
    snprintf(dir, sizeof dir, "/tmp/xy-unit-trail-flush-%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    ASSERT_EQ(system(cmd), 0);
    xy_trail t;
    memset(&t, 0, sizeof t);
    ASSERT_EQ(xy_trail_open(&t, dir, 1, 0), XY_OK);
    enum { NC = 3 };
    size_t per = XY_TRAIL_FLUSH / sizeof(xy_trec) / 2 + 1000; /* 1.5 flushes' worth in all */
    for (size_t i = 0; i < per * NC; i++)
        xy_trail_add(&t, (uint32_t)(i % NC), TRAIL_EVENT, 100 + i, i, (int32_t)(i / NC));
    ASSERT(t.disk_len > 16);
    ASSERT(t.mem.len < XY_TRAIL_FLUSH);
    ASSERT_EQ(t.disk_len + t.mem.len, 16 + per * NC * sizeof(xy_trec));
    for (uint32_t c = 0; c < NC; c++) {
        size_t n = 0, i = per * NC - NC + c;
        xy_trec r;
        for (uint64_t off = t.head[c]; off; off = r.prev, n++, i -= NC) {
            ASSERT_EQ(xy_trail_read(&t, off, &r), TRAIL_EVENT);
            ASSERT_EQ(r.aux, (uint64_t)i);
            ASSERT_EQ(r.log_off, (uint64_t)(100 + i));
            ASSERT_EQ(r.day, (int32_t)(i / NC));
        }
        ASSERT_EQ(n, per);
    }
    /* A damaged record no longer checks out. */
    xy_trec r;
    uint64_t off = t.head[0];
    ASSERT_EQ(xy_trail_read(&t, off, &r), TRAIL_EVENT);
    ASSERT_EQ(xy_trail_flush(&t), XY_OK);
    unsigned char b;
    ASSERT_EQ(pread(t.fd, &b, 1, (off_t)off + 9), 1);
    b ^= 4;
    ASSERT_EQ(pwrite(t.fd, &b, 1, (off_t)off + 9), 1);
    ASSERT_EQ(xy_trail_read(&t, off, &r), 0);
    xy_trail_free(&t);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}
