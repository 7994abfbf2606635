/* Unit tests of the per-citizen history index (trail.c and its use in
 * store.c): for every citizen of a random workload, the history rerun from
 * the trail must be line for line the history a replay of the whole log
 * gives, in a writer before and after a snapshot, in a reader, and after
 * the trail file was lost and rebuilt. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
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
    xy__buf_printf(b, "%d %d %llu %d %lld %d %lld %d %d %d %lld\n", h->kind, h->day, (unsigned long long)h->event_seq,
                  h->behaviour, (long long)h->points, h->note, (long long)h->multiplier, h->contacts, h->member,
                  h->until, (long long)h->score);
}

/* Every stride-th citizen's history from the trail equals the one from
 * the log. */
static int same_histories_of(xy_db *db, uint32_t stride)
{
    for (uint32_t c = 0; c < db->engine->n; c += stride) {
        xy_buf a = {0}, b = {0};
        xy_engine *ea, *eb;
        if (xy__db_trail_history(db, c, to_text, &a, &ea) != XY_OK) {
            printf("  citizen %u: the trail did not serve\n", c);
            return 0;
        }
        if (xy__db_replay_history(db, db->engine->ids[c], to_text, &b, &eb) != XY_OK) return 0;
        int same = a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0); /* no bytes: no buffer */
        if (!same) printf("  citizen %u differs:\n--- trail\n%s--- log\n%s", c, a.data ? a.data : "", b.data ? b.data : "");
        xy_engine_free(ea);
        xy_engine_free(eb);
        xy__buf_free(&a);
        xy__buf_free(&b);
        if (!same) return 0;
    }
    return 1;
}

/* Flips the bits of mask in the byte at off of the open file fd. */
static int flip_bits(int fd, uint64_t off, unsigned char mask)
{
    unsigned char b;
    if (pread(fd, &b, 1, (off_t)off) != 1) return 0;
    b ^= mask;
    return pwrite(fd, &b, 1, (off_t)off) == 1;
}

/* Whether a reader of dir takes the trail file as its own up to byte at,
 * holds the rest of the made_len bytes a writer made itself, and explains
 * every third citizen as the log does, never falling back. */
static int reader_takes_up_to(const char *dir, uint64_t at, size_t made_len)
{
    xy_db *rd;
    if (xy_db_open(dir, XY_READ, quiet_diag, NULL, &rd) != XY_OK) return 0;
    int ok = rd->trail.disk_len == at && rd->trail.mem.len == made_len - at && same_histories_of(rd, 3) &&
             xy_db_history_fallbacks(rd) == 0;
    if (!ok) printf("  the reader took %llu bytes of the file, held %zu\n", (unsigned long long)rd->trail.disk_len,
                    rd->trail.mem.len);
    xy_db_close(rd);
    return ok;
}

/* Every citizen's history from the trail equals the one from the log. */
static int same_histories(xy_db *db) { return same_histories_of(db, 1); }

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

/* Writes text to the file dir/name; 0 on success. */
static int put_file(const char *dir, const char *name, const char *text)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* A data directory at dir (its rules in DIR-rules) of NCIT citizens of
 * both cities, some too young to be scored at first, with random
 * contacts: an open writer, or NULL. */
static xy_db *trail_town(const char *dir)
{
    char rdir[100], path[400];
    snprintf(rdir, sizeof rdir, "%.80s-rules", dir);
    snprintf(path, sizeof path, "rm -rf %s %s && mkdir -p %s", dir, rdir, rdir);
    if (system(path) || put_file(rdir, "tv.rules", TRAIL_RULES) || put_file(rdir, "ws.rules", TRAIL_RULES_WS))
        return NULL;
    xy_db *db;
    if (xy_db_create(dir, rdir, quiet_diag, NULL) || xy_db_open(dir, XY_WRITE, quiet_diag, NULL, &db)) return NULL;
    snprintf(path, sizeof path, "%s-citizens.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
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
    int rc = xy_db_load_csv(db, XY_LOAD_CITIZENS, path, NULL, quiet_diag, NULL, &res);
    snprintf(path, sizeof path, "%s-contacts.csv", dir);
    f = fopen(path, "w");
    if (!f || rc) return NULL;
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
    if (xy_db_load_csv(db, XY_LOAD_CONTACTS, path, NULL, quiet_diag, NULL, &res)) return NULL;
    return db;
}

/* trail_town with n random events (add_events) from 2023-12-01 on: the
 * day and id they got to in *day and *next_id; NULL on a failure. */
static xy_db *town_with_events(const char *dir, int n, xy_day *day, int *next_id)
{
    xy_db *db = trail_town(dir);
    xy_day_parse("2023-12-01", 10, day);
    *next_id = 0;
    if (db && add_events(db, n, day, next_id) != XY_OK) {
        xy_db_close(db);
        return NULL;
    }
    return db;
}

/* Removes what trail_town made. */
static int remove_trail_town(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s-rules %s-citizens.csv %s-contacts.csv %s-events.csv", dir, dir, dir, dir,
             dir);
    return system(cmd);
}

TEST(trail_reruns_every_history_like_the_log)
{
    char dir[64], path[400];
    snprintf(dir, sizeof dir, "/tmp/xy-unit-trail-%d", (int)getpid());
    xy_db *db = trail_town(dir);
    ASSERT(db != NULL);
    FILE *f;
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
    /* A writer takes what followed the snapshot from the file. */
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
    ASSERT_EQ(remove_trail_town(dir), 0);
}

/* Names dir (size bytes) /tmp/xy-unit-NAME-PID, makes it a town with 300
 * events (town_with_events) and a snapshot of them, and opens a reader of
 * it: the reader, or NULL on a failure. */
static xy_db *snapshot_reader(char *dir, size_t size, const char *name)
{
    snprintf(dir, size, "/tmp/xy-unit-%s-%d", name, (int)getpid());
    xy_day day;
    int next_id;
    xy_db *db = town_with_events(dir, 300, &day, &next_id), *rd;
    if (!db) return NULL;
    int rc = xy_db_snapshot(db, quiet_diag, NULL);
    xy_db_close(db);
    return rc == XY_OK && xy_db_open(dir, XY_READ, quiet_diag, NULL, &rd) == XY_OK ? rd : NULL;
}

/* Every citizen's explanation by db, as text, into *text (the caller
 * frees it); 0 on a failure. */
static int every_explanation(xy_db *db, char **text)
{
    size_t len;
    FILE *out = open_memstream(text, &len);
    if (!out) return 0;
    int ok = 1;
    for (uint32_t c = 0; c < db->engine->n && ok; c++) {
        char id[19];
        xy_resid_format(db->engine->ids[c], id);
        ok = xy_report_explain(db, id, XY_OUT_TEXT, 0, out) == XY_OK;
    }
    fclose(out);
    return ok;
}

/* A trail cut short under a reader that took it whole (a user's doing, or
 * a disk's): its records past the cut cannot be read, and the reader
 * explains from the log instead, the same explanations, counting the
 * lookups the trail did not serve. */
TEST(trail_cut_under_a_reader_falls_back_to_the_log)
{
    char dir[64], path[400];
    xy_db *rd = snapshot_reader(dir, sizeof dir, "trailcut");
    ASSERT(rd != NULL);
    char *whole = NULL, *cut = NULL;
    ASSERT(every_explanation(rd, &whole));
    ASSERT_EQ(xy_db_history_fallbacks(rd), 0);
    snprintf(path, sizeof path, "%s/trail", dir);
    ASSERT_EQ(truncate(path, 16), 0);
    ASSERT(every_explanation(rd, &cut));
    ASSERT(xy_db_history_fallbacks(rd) > 0);
    ASSERT_STR(cut, whole);
    free(whole);
    free(cut);
    xy_db_close(rd);
    ASSERT_EQ(remove_trail_town(dir), 0);
}

/* A handle that lives long (the in-process API) keeps the event ids it
 * looked up for one report only, not those of every report before. */
TEST(trail_reports_forget_the_ids_they_looked_up)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/xy-unit-trail-ids-%d", (int)getpid());
    xy_day day;
    int next_id;
    xy_db *db = town_with_events(dir, 600, &day, &next_id);
    ASSERT(db != NULL);
    FILE *null = fopen("/dev/null", "w");
    ASSERT(null != NULL);
    char a[19], b[19];
    xy_resid_format(db->engine->ids[0], a);
    xy_resid_format(db->engine->ids[1], b);
    ASSERT_EQ(xy_report_explain(db, a, XY_OUT_JSON, 0, null), XY_OK);
    size_t ca = db->hist_ids.count;
    ASSERT_EQ(xy_report_explain(db, b, XY_OUT_JSON, 0, null), XY_OK);
    ASSERT(ca > 0 && db->hist_ids.count > 0);
    ASSERT_EQ(xy_report_explain(db, a, XY_OUT_JSON, 0, null), XY_OK);
    ASSERT_EQ(db->hist_ids.count, ca);
    ASSERT_EQ(xy_report_list(db, XY_BLACKLIST, NULL, 0, XY_OUT_JSON, null), XY_OK);
    ASSERT_EQ(xy_report_show(db, a, 0, XY_OUT_JSON, null), XY_OK);
    ASSERT(db->hist_ids.count <= 1); /* a term's event, if a is listed for one */
    fclose(null);
    xy_db_close(db);
    ASSERT_EQ(remove_trail_town(dir), 0);
}

/* Writes an events file of n random rows dated from *day on (as
 * add_events) to DIR-events.csv, ids "cN" from *next_id; its path in
 * path (400 bytes). */
static int events_csv(xy_db *db, const char *dir, int n, xy_day *day, int *next_id, char *path)
{
    snprintf(path, 400, "%s-events.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "id,date,citizen,behaviour,agency\n");
    for (int i = 0; i < n; i++) {
        if (trnd(3) == 0) *day += (xy_day)trnd(4);
        uint32_t c = trnd(NCIT);
        char id[19], date[XY_DAY_CHARS];
        xy_resid_format(db->engine->ids[c], id);
        xy_day_format(*day - (trnd(6) == 0 ? (xy_day)trnd(40) : 0), date);
        fprintf(f, "c%d,%s,%s,%s,a\n", (*next_id)++, date, id, trnd(3) ? "up" : "down");
    }
    return fclose(f);
}

/* The history index's file is a function of the log: a writer that
 * rebuilds it by replaying the log (on one thread for the engine, one for
 * the rest, in ranges that end where the check of the segment has got
 * to) writes the same bytes as the loads, the append path and an advance
 * that made the log, which apply the same records in other ways (a load
 * in parts applied ahead, batches of other sizes, association days in the
 * middle of them). A reader without a snapshot then finds every record it
 * makes in the file and keeps none in memory; where the file is short or
 * damaged, it holds the rest itself, and every history stays right. */
TEST(trail_is_a_function_of_the_log)
{
    char dir[64], path[400], trail[100];
    snprintf(dir, sizeof dir, "/tmp/xy-unit-trail-fn-%d", (int)getpid());
    snprintf(trail, sizeof trail, "%s/trail", dir);
    char *had = unit_env_set("XINYONG_SPILL_BYTES", "1000");
    xy_day day;
    int next_id;
    xy_db *db = town_with_events(dir, 5000, &day, &next_id);
    ASSERT(db != NULL);
    ASSERT_EQ(add_events(db, 100, &day, &next_id), XY_OK);
    ASSERT_EQ(add_events(db, 300, &day, &next_id), XY_OK);
    ASSERT_EQ(xy_db_advance(db, day + 7), XY_OK);
    day += 7;
    xy_load_result res;
    ASSERT_EQ(events_csv(db, dir, 2 * XY_APPLY_GROUP + 300, &day, &next_id, path), 0);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet_diag, NULL, &res), XY_OK);
    ASSERT(db->seg_base > 0); /* it went out in parts */
    ASSERT_EQ(add_events(db, 300, &day, &next_id), XY_OK);
    xy_db_close(db);
    unit_env_restore("XINYONG_SPILL_BYTES", had);
    char *made, *again;
    size_t made_len, again_len;
    ASSERT_EQ(xy__read_file(trail, &made, &made_len), XY_OK);
    ASSERT(made_len > 16 + 14000 * sizeof(xy_trec));
    /* Rebuilt by a writer's replay. */
    snprintf(path, sizeof path, "%s/snapshot", dir);
    (void)unlink(path);
    ASSERT_EQ(unlink(trail), 0);
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet_diag, NULL, &db), XY_OK);
    ASSERT(db->trail.mem.len == 0 && db->trail.disk_len == made_len);
    xy_db_close(db);
    (void)unlink(path);
    ASSERT_EQ(xy__read_file(trail, &again, &again_len), XY_OK);
    ASSERT_EQ(again_len, made_len);
    ASSERT(memcmp(made, again, made_len) == 0);
    xy__free(again);
    /* A reader takes it all from the file. */
    xy_db *rd;
    ASSERT_EQ(xy_db_open(dir, XY_READ, quiet_diag, NULL, &rd), XY_OK);
    ASSERT_EQ(rd->trail.mem.len, 0);
    ASSERT_EQ(rd->trail.disk_len, made_len);
    ASSERT(same_histories(rd));
    ASSERT_EQ(xy_db_history_fallbacks(rd), 0);
    xy_db_close(rd);
    /* A byte changed in a record a third of the way: the reader holds
     * that record and the rest itself. */
    uint64_t third = 16 + (made_len - 16) / sizeof(xy_trec) / 3 * sizeof(xy_trec);
    int fd = open(trail, O_RDWR);
    ASSERT(fd >= 0);
    ASSERT(flip_bits(fd, third + 9, 1));
    ASSERT(reader_takes_up_to(dir, third, made_len));
    /* Cut short (a writer starting over from its snapshot, say): the
     * reader holds what is missing. */
    ASSERT_EQ(ftruncate(fd, (off_t)third - 7), 0);
    ASSERT_EQ(xy_db_open(dir, XY_READ, quiet_diag, NULL, &rd), XY_OK);
    ASSERT_EQ(rd->trail.disk_len, third - sizeof(xy_trec));
    ASSERT(same_histories_of(rd, 3));
    xy_db_close(rd);
    /* A writer keeps what the file has right and writes the rest. */
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet_diag, NULL, &db), XY_OK);
    xy_db_close(db);
    (void)unlink(path);
    ASSERT_EQ(xy__read_file(trail, &again, &again_len), XY_OK);
    ASSERT(again_len == made_len && memcmp(made, again, made_len) == 0);
    xy__free(again);
    /* A record whose kind alone changed (the top four bits of its check):
     * a reader no more takes it as its own than one with another field
     * changed, and a writer, which compares the check too, writes it
     * again. */
    uint64_t half = 16 + (made_len - 16) / sizeof(xy_trec) / 2 * sizeof(xy_trec);
    ASSERT(flip_bits(fd, half + 31, 0x10));
    ASSERT(reader_takes_up_to(dir, half, made_len));
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet_diag, NULL, &db), XY_OK);
    xy_db_close(db);
    (void)unlink(path);
    ASSERT_EQ(xy__read_file(trail, &again, &again_len), XY_OK);
    ASSERT(again_len == made_len && memcmp(made, again, made_len) == 0);
    xy__free(again);
    /* Records past what the log gives (of a batch that never committed)
     * go when a writer opens the directory. */
    ASSERT_EQ(pwrite(fd, made + 16, 2 * sizeof(xy_trec), (off_t)made_len), (ssize_t)(2 * sizeof(xy_trec)));
    struct stat after;
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet_diag, NULL, &db), XY_OK);
    ASSERT_EQ(db->trail.disk_len, made_len);
    xy_db_close(db);
    (void)unlink(path);
    ASSERT_EQ(fstat(fd, &after), 0);
    ASSERT_EQ((size_t)after.st_size, made_len);
    ASSERT_EQ(xy__read_file(trail, &again, &again_len), XY_OK);
    ASSERT(again_len == made_len && memcmp(made, again, made_len) == 0);
    xy__free(again);
    close(fd);
    xy__free(made);
    ASSERT_EQ(remove_trail_town(dir), 0);
}

/* Opens a writer's trail t in a scratch directory of its own, made afresh
 * and named after what (its path in dir, n bytes). */
static int writer_trail_in(char *dir, size_t n, const char *what, xy_trail *t)
{
    char cmd[200];
    snprintf(dir, n, "/tmp/xy-unit-trail-%s-%d", what, (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    memset(t, 0, sizeof *t);
    return system(cmd) == 0 && xy__trail_open(t, dir, 1, 0) == XY_OK;
}

/* A writer's records go to the file as they pile up, not all at the end:
 * a replay of a long log would otherwise hold them all in memory. Every
 * record stays readable through the chains, from the file or memory. */
TEST(trail_writer_writes_records_as_they_pile_up)
{
    char dir[64], cmd[160];
    xy_trail t;
    ASSERT(writer_trail_in(dir, sizeof dir, "flush", &t));
    enum { NC = 3 };
    size_t per = XY_TRAIL_FLUSH / sizeof(xy_trec) / 2 + 1000; /* 1.5 flushes' worth in all */
    for (size_t i = 0; i < per * NC; i++)
        xy__trail_add(&t, (uint32_t)(i % NC), TRAIL_EVENT, 100 + i, i, (int32_t)(i / NC));
    ASSERT(t.disk_len > 16);
    ASSERT(t.mem.len < XY_TRAIL_FLUSH);
    ASSERT_EQ(t.disk_len + t.mem.len, 16 + per * NC * sizeof(xy_trec));
    for (uint32_t c = 0; c < NC; c++) {
        size_t n = 0, i = per * NC - NC + c;
        xy_trec r;
        for (uint64_t off = t.head[c]; off; off = r.prev, n++, i -= NC) {
            ASSERT_EQ(xy__trail_read(&t, off, &r), TRAIL_EVENT);
            ASSERT_EQ(r.aux, (uint64_t)i);
            ASSERT_EQ(r.log_off, (uint64_t)(100 + i));
            ASSERT_EQ(r.day, (int32_t)(i / NC));
        }
        ASSERT_EQ(n, per);
    }
    /* A damaged record no longer checks out. */
    xy_trec r;
    uint64_t off = t.head[0];
    ASSERT_EQ(xy__trail_read(&t, off, &r), TRAIL_EVENT);
    ASSERT_EQ(xy__trail_flush(&t), XY_OK);
    unsigned char b;
    ASSERT_EQ(pread(t.fd, &b, 1, (off_t)off + 9), 1);
    b ^= 4;
    ASSERT_EQ(pwrite(t.fd, &b, 1, (off_t)off + 9), 1);
    ASSERT_EQ(xy__trail_read(&t, off, &r), 0);
    /* verify reads the file a window at a time: the damaged record lies
     * windows in, the whole file checks out without it, and a last record
     * cut short is not counted. */
    uint64_t n, bad_at;
    ASSERT(off > 4 << 20);
    ASSERT_EQ(xy__trail_verify(dir, &n, &bad_at), XY_ECORRUPT);
    ASSERT_EQ(bad_at, off);
    ASSERT_EQ(n, (off - 16) / sizeof(xy_trec));
    b ^= 4;
    ASSERT_EQ(pwrite(t.fd, &b, 1, (off_t)off + 9), 1);
    ASSERT_EQ(xy__trail_verify(dir, &n, &bad_at), XY_OK);
    ASSERT_EQ(n, per * NC);
    ASSERT_EQ(ftruncate(t.fd, (off_t)(t.disk_len - 5)), 0);
    ASSERT_EQ(xy__trail_verify(dir, &n, &bad_at), XY_OK);
    ASSERT_EQ(n, per * NC - 1);
    ASSERT_EQ(ftruncate(t.fd, 16), 0);
    ASSERT_EQ(xy__trail_verify(dir, &n, &bad_at), XY_OK);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(ftruncate(t.fd, 15), 0);
    ASSERT_EQ(xy__trail_verify(dir, &n, &bad_at), XY_ENOENT);
    xy__trail_free(&t);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}

/* Puts the 32 bytes of r at off of the file fd; 0 on success. */
static int put_rec(int fd, const xy_trec *r, uint64_t off)
{
    return pwrite(fd, r, sizeof *r, (off_t)off) == (ssize_t)sizeof *r ? 0 : -1;
}

/* Every field of a record is under its check, and a record only counts
 * when it is of a kind there is and links back: a record whose check was
 * forged to match its fields (the fuzz harness makes them) must still be
 * refused when it is of no kind or links to itself, since a chain that
 * links to itself would never end. */
TEST(trail_records_check_every_field_their_kind_and_link)
{
    char dir[64], cmd[160];
    xy_trail t;
    ASSERT(writer_trail_in(dir, sizeof dir, "rec", &t));
    xy__trail_add(&t, 0, TRAIL_REG, 40, 0, 500);
    xy__trail_add(&t, 1, TRAIL_REG, 90, 0, 500);
    xy__trail_add(&t, 0, TRAIL_EVENT, 150, 7, 501);
    xy__trail_add(&t, 0, TRAIL_ASSOC, 0, 2, 504);
    ASSERT_EQ(xy__trail_flush(&t), XY_OK);
    uint64_t off = t.head[0], n, bad_at;
    xy_trec good;
    ASSERT_EQ(xy__trail_read(&t, off, &good), TRAIL_ASSOC);
    ASSERT_EQ(xy__trail_verify(dir, &n, &bad_at), XY_OK);
    ASSERT_EQ(n, 4);
    /* Any bit changed, of any field, the check and its kind included. */
    for (size_t bit = 0; bit < 8 * sizeof good; bit++) {
        size_t at = bit / 8;
        unsigned char b = ((const unsigned char *)&good)[at] ^ (unsigned char)(1u << bit % 8);
        xy_trec r;
        ASSERT_EQ(pwrite(t.fd, &b, 1, (off_t)(off + at)), 1);
        if (xy__trail_read(&t, off, &r) != 0) printf("  bit %zu of a record changed unseen\n", bit);
        ASSERT_EQ(xy__trail_read(&t, off, &r), 0);
        ASSERT_EQ(xy__trail_verify(dir, &n, &bad_at), XY_ECORRUPT);
        ASSERT_EQ(bad_at, off);
        ASSERT_EQ(put_rec(t.fd, &good, off), 0);
    }
    /* Forged: a check that fits the fields, of kinds there are not. */
    for (int kind = 0; kind < 16; kind++) {
        if (kind >= TRAIL_REG && kind <= TRAIL_ASSOC) continue;
        xy_trec r = good;
        r.check = xy__trail_check(&r, kind);
        ASSERT_EQ(put_rec(t.fd, &r, off), 0);
        ASSERT_EQ(xy__trail_read(&t, off, &r), 0);
        ASSERT_EQ(xy__trail_verify(dir, &n, &bad_at), XY_ECORRUPT);
        ASSERT_EQ(bad_at, off);
    }
    /* Forged: a record that links to itself, or forward. */
    for (uint64_t to = off; to <= off + sizeof good; to += sizeof good) {
        xy_trec r = good;
        r.prev = to;
        r.check = xy__trail_check(&r, TRAIL_ASSOC);
        ASSERT_EQ(put_rec(t.fd, &r, off), 0);
        ASSERT_EQ(xy__trail_read(&t, off, &r), 0);
        ASSERT_EQ(xy__trail_verify(dir, &n, &bad_at), XY_ECORRUPT);
        ASSERT_EQ(bad_at, off);
    }
    ASSERT_EQ(put_rec(t.fd, &good, off), 0);
    ASSERT_EQ(xy__trail_verify(dir, &n, &bad_at), XY_OK);
    xy__trail_free(&t);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}

/* Whether the history text (to_text) gives event seq points. */
static int event_scored(const char *text, uint64_t seq)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        int kind, day, behaviour;
        unsigned long long s;
        long long points;
        if (sscanf(p, "%d %d %llu %d %lld", &kind, &day, &s, &behaviour, &points) == 5 && s == seq && points != 0)
            return 1;
    }
    return 0;
}

/* A chain whose records all check out can still be wrong: a record forged
 * with the check its fields call for (as the fuzz harness makes them), or
 * one a writer rewrote under a reader. The rerun must then end in the
 * citizen's state or not serve: a chain made to skip an event that scored
 * serves only where the rerun ends in that state all the same, most are
 * refused, and each serves again once its record is put back. */
TEST(trail_rerun_must_end_in_the_citizens_state)
{
    char dir[64], path[400];
    snprintf(dir, sizeof dir, "/tmp/xy-unit-trail-state-%d", (int)getpid());
    xy_day day;
    int next_id;
    xy_db *db = town_with_events(dir, 900, &day, &next_id);
    ASSERT(db != NULL);
    ASSERT_EQ(xy_db_snapshot(db, quiet_diag, NULL), XY_OK);
    snprintf(path, sizeof path, "%s/trail", dir);
    int fd = open(path, O_RDWR);
    ASSERT(fd >= 0);
    int refused = 0;
    for (uint32_t c = 0; c < db->engine->n; c++) {
        xy_buf text = {0};
        xy_engine *e = NULL;
        ASSERT_EQ(xy__db_trail_history(db, c, to_text, &text, &e), XY_OK);
        xy_engine_free(e);
        /* The newest record that follows an event that scored (a citizen
         * too young to be scored has events of no effect) is made to link
         * past that event. */
        xy_trec rec, older;
        uint64_t off = db->trail.head[c];
        int kind = 0;
        for (; off; off = rec.prev) {
            kind = xy__trail_read(&db->trail, off, &rec);
            ASSERT(kind != 0);
            if (rec.prev && xy__trail_read(&db->trail, rec.prev, &older) == TRAIL_EVENT &&
                event_scored(text.data, older.aux))
                break;
        }
        xy__buf_free(&text);
        if (!off) continue;
        xy_trec forged = rec;
        forged.prev = older.prev;
        forged.check = xy__trail_check(&forged, kind);
        ASSERT_EQ(pwrite(fd, &forged, sizeof forged, (off_t)off), (ssize_t)sizeof forged);
        int rc = xy__db_trail_history(db, c, to_text, &text, &e);
        xy__buf_free(&text);
        if (rc == XY_OK) {
            /* It may serve only if the rerun without the event still ends
             * in the citizen's state (an event that expired, say). */
            xy_cstate a = e->st[0], b = db->engine->st[c];
            xy_engine_free(e);
            a.flags &= (uint8_t)~CS_LISTED;
            b.flags &= (uint8_t)~CS_LISTED;
            if (memcmp(&a, &b, sizeof a) != 0) printf("  citizen %u: a chain without event %llu served\n", c, (unsigned long long)older.aux);
            ASSERT(memcmp(&a, &b, sizeof a) == 0);
        } else {
            refused++;
        }
        ASSERT_EQ(pwrite(fd, &rec, sizeof rec, (off_t)off), (ssize_t)sizeof rec);
        ASSERT_EQ(xy__db_trail_history(db, c, to_text, &text, &e), XY_OK);
        xy_engine_free(e);
        xy__buf_free(&text);
    }
    ASSERT(refused > 10);
    close(fd);
    xy_db_close(db);
    ASSERT_EQ(remove_trail_town(dir), 0);
}

/* A handle keeps its reader of the log's segments from one lookup to the
 * next; the log's later batches go to segments that reader has not seen,
 * and their events must be read from those, not looked for in the last
 * segment it knew. */
TEST(trail_reads_events_from_segments_begun_since_the_last_lookup)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/xy-unit-trail-segs-%d", (int)getpid());
    char *had = unit_env_set("XINYONG_SEGMENT_BYTES", "4096");
    xy_day day;
    int next_id;
    xy_db *db = town_with_events(dir, 300, &day, &next_id);
    ASSERT(db != NULL);
    ASSERT(same_histories(db));
    uint64_t base = db->seg_base;
    for (int batch = 0; batch < 3; batch++) ASSERT_EQ(add_events(db, 100, &day, &next_id), XY_OK);
    ASSERT(db->seg_base > base);
    ASSERT(same_histories(db));
    xy_db_close(db);
    unit_env_restore("XINYONG_SEGMENT_BYTES", had);
    ASSERT_EQ(remove_trail_town(dir), 0);
}

/* The id of an event behind a list entry is read from the log where the
 * citizen's trail says the event is; a record made to point at another
 * citizen's event (forged with the check its fields call for) must not
 * lend that event's id: the event is then found by counting through the
 * log. */
TEST(trail_event_ids_come_from_the_citizens_own_events)
{
    char dir[64], path[400];
    xy_db *rd = snapshot_reader(dir, sizeof dir, "trail-evid");
    ASSERT(rd != NULL);
    /* Two citizens' newest records that are events. */
    uint32_t who[2];
    xy_trec rec[2];
    int found = 0;
    for (uint32_t c = 0; c < rd->engine->n && found < 2; c++)
        if (xy__trail_read(&rd->trail, rd->trail.head[c], &rec[found]) == TRAIL_EVENT) who[found++] = c;
    ASSERT_EQ(found, 2);
    char want[256];
    snprintf(want, sizeof want, "%s", xy__db_event_id(rd, who[0], rec[0].aux));
    ASSERT(strcmp(want, "?") != 0);
    uint64_t off = rd->trail.head[who[0]];
    xy_db_close(rd);
    xy_trec forged = rec[0];
    forged.log_off = rec[1].log_off;
    forged.check = xy__trail_check(&forged, TRAIL_EVENT);
    snprintf(path, sizeof path, "%s/trail", dir);
    int fd = open(path, O_RDWR);
    ASSERT(fd >= 0);
    ASSERT_EQ(pwrite(fd, &forged, sizeof forged, (off_t)off), (ssize_t)sizeof forged);
    close(fd);
    ASSERT_EQ(xy_db_open(dir, XY_READ, quiet_diag, NULL, &rd), XY_OK);
    ASSERT(strcmp(xy__db_event_id(rd, who[0], rec[0].aux), want) == 0);
    ASSERT_EQ(xy_db_history_fallbacks(rd), 1);
    xy_db_close(rd);
    ASSERT_EQ(remove_trail_town(dir), 0);
}
