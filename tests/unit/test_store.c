/* Unit tests of the data directory through the public API: the in-process
 * append path, its atomicity and duplicates, and that a reopened directory
 * (replay, then snapshot) has the same state. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "store.h"
#include "unit.h"
#include "xinyong.h"

/* fdatasync, write and fallocate as the library sees them in this
 * program: each fails on its descriptor fail_sync_fd, fail_write_fd or
 * fail_falloc_fd (with EIO, ENOSPC, and fail_falloc_errno), and is the
 * system call on every other. */
static int fail_sync_fd = -1, fail_write_fd = -1, fail_falloc_fd = -1, fail_falloc_errno;
/* How many calls of fallocate on fail_falloc_fd pass before it fails (a
 * fault on the second reservation of a commit, not the first). */
static int fail_falloc_skip;
int fdatasync(int fd)
{
    if (fd >= 0 && fd == fail_sync_fd) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

ssize_t write(int fd, const void *p, size_t n)
{
    if (fd >= 0 && fd == fail_write_fd) {
        errno = ENOSPC;
        return -1;
    }
    return (ssize_t)syscall(SYS_write, fd, p, n);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    if (fd >= 0 && fd == fail_falloc_fd && fail_falloc_skip-- <= 0) {
        errno = fail_falloc_errno;
        return -1;
    }
    return (int)syscall(SYS_fallocate, fd, mode, off, len);
}

static void quiet(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

/* Keeps the last message in the buffer ctx (256 bytes). */
static void keep_last(void *ctx, const char *msg)
{
    snprintf(ctx, 256, "%s", msg);
}

static const char *CITY_RULES =
    "city town\n"
    "region 11\n"
    "score base 100 min 0 max 200\n"
    "grade A from 0\n"
    "behaviour good points +3 category c\n"
    "behaviour bad points -40 expires 10 days category c\n"
    "agency office reports category c\n"
    "blacklist below 50\n"
    "sanction ban on blacklist deny flight\n";

/* A fresh data directory bound to town.rules with the text town and,
 * unless other is NULL, other.rules with the text other; opened to write,
 * or NULL. */
static xy_db *fresh_db_with(char *dir, size_t size, const char *town, const char *other)
{
    snprintf(dir, size, "/tmp/xy-unit-store-%d", (int)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s-rules && mkdir -p %s-rules", dir, dir, dir);
    if (system(cmd)) return NULL;
    char path[1024];
    const char *names[2] = {"town", "other"}, *texts[2] = {town, other};
    for (int i = 0; i < 2 && texts[i]; i++) {
        snprintf(path, sizeof path, "%s-rules/%s.rules", dir, names[i]);
        FILE *f = fopen(path, "w");
        if (!f) return NULL;
        fputs(texts[i], f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s-rules", dir);
    xy_db *db = NULL;
    if (xy_db_create(dir, path, quiet, NULL) || xy_db_open(dir, XY_WRITE, quiet, NULL, &db)) return NULL;
    return db;
}

static xy_db *fresh_db(char *dir, size_t size)
{
    return fresh_db_with(dir, size, CITY_RULES, NULL);
}

/* Registers citizens as a client does, through a CSV load of rows
 * (lines "id,name") written next to the data directory dir. */
static int load_citizens(xy_db *db, const char *dir, const char *rows)
{
    char path[300];
    snprintf(path, sizeof path, "%s-citizens.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return XY_EIO;
    fprintf(f, "id,name\n%s", rows);
    fclose(f);
    xy_load_result res;
    return xy_db_load_csv(db, XY_LOAD_CITIZENS, path, NULL, quiet, NULL, &res);
}

/* The citizens most tests register: Ann (index 0) and Bo (1). */
static const char ANN_AND_BO[] = "11010519491231002X,Ann\n110101200001010010,Bo\n";

/* A fresh data directory (see fresh_db) with the citizens of rows, or
 * NULL. */
static xy_db *town_with(char *dir, size_t size, const char *rows)
{
    xy_db *db = fresh_db(dir, size);
    if (db && load_citizens(db, dir, rows) != XY_OK) {
        xy_db_close(db);
        db = NULL;
    }
    return db;
}

/* What the tests of the town's rules use: its engine, behaviours and
 * agency, and a day. */
typedef struct town {
    xy_engine *e;
    int32_t good, bad, office;
    xy_day day;
} town;

static town town_of(xy_db *db)
{
    const xy_rules *r = xy_db_rules(db);
    town t = {xy_db_engine(db), xy_rules_behaviour_id(r, "good", 4), xy_rules_behaviour_id(r, "bad", 3),
              xy_rules_agency_id(r, "office", 6), 0};
    xy_day_parse("2024-01-01", 10, &t.day);
    return t;
}

/* Removes what fresh_db and load_citizens made, and the events file a
 * test writes beside them (DIR-events.csv). */
static int remove_town(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s-rules %s-citizens.csv %s-events.csv", dir, dir, dir, dir);
    return system(cmd);
}

/* The status of verifying the data directory dir, its summary dropped. */
static int verify_status(const char *dir)
{
    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull) return XY_EIO;
    int rc = xy_db_verify(dir, quiet, NULL, devnull);
    fclose(devnull);
    return rc;
}

/* Sets one of the store's sizes from the environment (name) for one
 * test and returns what was set before (a copy, or NULL), for env_restore:
 * the suite may run with its own (XINYONG_SNAPSHOT_EVERY=3000 make test). */
static char *env_set(const char *name, const char *bytes)
{
    const char *had = getenv(name);
    char *saved = had ? strdup(had) : NULL;
    setenv(name, bytes, 1);
    return saved;
}

static void env_restore(const char *name, char *saved)
{
    if (saved) setenv(name, saved, 1);
    else unsetenv(name);
    free(saved);
}

/* Ann and Bo's town (town_with) whose loads are written to the log in
 * parts of 1,000 bytes (XINYONG_SPILL_BYTES; *had keeps what was set
 * before, for env_restore), or NULL. */
static xy_db *town_in_parts(char *dir, size_t size, char **had)
{
    *had = env_set("XINYONG_SPILL_BYTES", "1000");
    return town_with(dir, size, ANN_AND_BO);
}

TEST(store_append_is_atomic_durable_and_exactly_once)
{
    char dir[256];
    xy_db *db = fresh_db(dir, sizeof dir);
    ASSERT(db != NULL);
    /* Citizens come in through a CSV load, as a client registers them. */
    xy_db_close(db);
    db = NULL;
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet, NULL, &db), XY_OK);
    ASSERT_EQ(load_citizens(db, dir, ANN_AND_BO), XY_OK);
    xy_engine *e = xy_db_engine(db);
    const xy_rules *r = xy_db_rules(db);
    xy_resid ida, idb;
    ASSERT_EQ(xy_resid_parse("11010519491231002X", 18, &ida, NULL), XY_OK);
    ASSERT_EQ(xy_resid_parse("110101200001010010", 18, &idb, NULL), XY_OK);
    uint32_t a = xy_engine_find(e, ida), b = xy_engine_find(e, idb);
    ASSERT(a != XY_NONE && b != XY_NONE);
    int32_t good = xy_rules_behaviour_id(r, "good", 4), bad = xy_rules_behaviour_id(r, "bad", 3);
    int32_t office = xy_rules_agency_id(r, "office", 6);
    xy_day d;
    xy_day_parse("2024-01-01", 10, &d);
    xy_event ev[3] = {{0, a, good, office, XY_NONE, d, -1},
                      {0, a, bad, office, XY_NONE, d, -1},
                      {0, b, good, office, XY_NONE, d + 1, -1}};
    const char *ids[3] = {"e1", "e2", "e3"};
    uint64_t dups = 99;
    ASSERT_EQ(xy_db_append_events(db, ev, ids, 3, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(dups, 0);
    ASSERT_EQ(xy_engine_raw(e, a), 63);
    ASSERT_EQ(xy_engine_on_blacklist(e, a), 0);
    /* The same batch again: all duplicates, nothing changes and nothing
     * is written; nor is anything for an empty batch. */
    uint64_t logged = db->log_size;
    ASSERT_EQ(xy_db_append_events(db, ev, ids, 3, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(dups, 3);
    ASSERT_EQ(xy_engine_raw(e, a), 63);
    ASSERT_EQ(xy_db_append_events(db, ev, ids, 0, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(dups, 0);
    ASSERT_EQ(db->log_size, logged);
    /* A batch of UINT32_MAX events or more (their numbers within one call
     * must fit 32 bits) is refused with a message before any of it is
     * read. */
    char msg[256] = "";
    ASSERT_EQ(xy_db_append_events(db, ev, ids, UINT32_MAX, keep_last, msg, &dups), XY_EINVAL);
    ASSERT_STR(msg, "a batch of 4294967295 events is more than one call takes (4294967294)");
    ASSERT_EQ(db->log_size, logged);
    /* A batch with one bad event applies nothing, not even its good ones. */
    xy_event mixed[2] = {{0, b, good, office, XY_NONE, d + 2, -1}, {0, 999, good, office, XY_NONE, d + 2, -1}};
    const char *mixed_ids[2] = {"e4", "e5"};
    ASSERT_EQ(xy_db_append_events(db, mixed, mixed_ids, 2, quiet, NULL, &dups), XY_EINPUT);
    ASSERT_EQ(xy_engine_raw(e, b), 103);
    /* So is an event dated where no rule's day count could be added to
     * it, and an advance there. */
    xy_event far = {0, b, good, office, XY_NONE, INT32_MAX - 10, -1};
    const char *far_id[1] = {"e6"};
    ASSERT_EQ(xy_db_append_events(db, &far, far_id, 1, quiet, NULL, &dups), XY_EINPUT);
    ASSERT_EQ(xy_db_advance(db, INT32_MAX - 10), XY_EINVAL);
    ASSERT_EQ(xy_engine_raw(e, b), 103);
    /* And an amount past 10^12 (in micro-units), as a CSV load refuses it. */
    xy_event rich = {0, b, good, office, XY_NONE, d + 2, 1000000000000LL * 1000000 + 1};
    const char *rich_id[1] = {"e7"};
    ASSERT_EQ(xy_db_append_events(db, &rich, rich_id, 1, quiet, NULL, &dups), XY_EINPUT);
    ASSERT_EQ(xy_engine_raw(e, b), 103);
    /* An id reused with other content is refused. */
    xy_event other = {0, b, bad, office, XY_NONE, d + 2, -1};
    const char *reuse[1] = {"e3"};
    ASSERT_EQ(xy_db_append_events(db, &other, reuse, 1, quiet, NULL, &dups), XY_EINPUT);
    /* e4 was never stored: it can be appended now. */
    ASSERT_EQ(xy_db_append_events(db, mixed, mixed_ids, 1, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(xy_engine_raw(e, b), 106);
    ASSERT_EQ(xy_db_advance(db, d + 20), XY_OK); /* the -40 expires */
    ASSERT_EQ(xy_engine_raw(e, a), 103);
    xy_db_close(db);
    /* Reopened: replayed from the log, then from a snapshot. */
    for (int round = 0; round < 2; round++) {
        ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet, NULL, &db), XY_OK);
        e = xy_db_engine(db);
        ASSERT_EQ(xy_engine_raw(e, xy_engine_find(e, ida)), 103);
        ASSERT_EQ(xy_engine_raw(e, xy_engine_find(e, idb)), 106);
        ASSERT_EQ(xy_engine_today(e), d + 20);
        ASSERT_EQ(xy_db_append_events(db, ev, ids, 3, quiet, NULL, &dups), XY_OK);
        ASSERT_EQ(dups, 3);
        if (round == 0) ASSERT_EQ(xy_db_snapshot(db, quiet, NULL), XY_OK);
        xy_db_close(db);
    }
    /* Batches longer than the groups the append path fetches ahead of its
     * checks: each event is still checked, and found, as itself. */
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet, NULL, &db), XY_OK);
    e = xy_db_engine(db);
    a = xy_engine_find(e, ida);
    enum { LONG = 200 };
    xy_event lev[LONG];
    char lid[LONG][8];
    const char *lids[LONG];
    for (int i = 0; i < LONG; i++) {
        lev[i] = (xy_event){0, a, good, office, XY_NONE, d + 20, -1};
        snprintf(lid[i], sizeof lid[i], "L%d", i);
        lids[i] = lid[i];
    }
    int64_t raw = xy_engine_raw(e, a);
    lev[150].citizen = 999;
    ASSERT_EQ(xy_db_append_events(db, lev, lids, LONG, keep_last, msg, &dups), XY_EINPUT);
    ASSERT(strstr(msg, "event 150 (id L150): unknown citizen") != NULL);
    ASSERT_EQ(xy_engine_raw(e, a), raw);
    lev[150].citizen = a;
    ASSERT_EQ(xy_db_append_events(db, lev, lids, 100, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(dups, 0);
    ASSERT_EQ(xy_db_append_events(db, lev, lids, LONG, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(dups, 100);
    ASSERT_EQ(xy_engine_raw(e, a), raw + 3 * LONG);
    xy_db_close(db);
    ASSERT_EQ(remove_town(dir), 0);
}

/* The append path refuses what a CSV load refuses (spec 2.10), each in a
 * batch of its own after a good event, so that nothing of it is applied: a
 * bad event id, a negative amount, a counterpart that is no citizen, an
 * agency the city does not let report the behaviour, and a behaviour the
 * citizen's city does not define. */
TEST(store_append_refuses_what_a_load_refuses)
{
    static const char *const TOWN =
        "city town\n"
        "region 11\n"
        "score base 100 min 0 max 200\n"
        "grade A from 0\n"
        "behaviour good points +3 category c\n"
        "behaviour fine points -1 category d\n"
        "agency office reports category c\n"
        "agency court reports category d\n";
    static const char *const OTHER =
        "city other\n"
        "region 12\n"
        "score base 100 min 0 max 200\n"
        "grade A from 0\n"
        "behaviour far points +1 category c\n"
        "agency office reports category c\n";
    char dir[256];
    xy_db *db = fresh_db_with(dir, sizeof dir, TOWN, OTHER);
    ASSERT(db != NULL);
    ASSERT_EQ(load_citizens(db, dir, ANN_AND_BO), XY_OK);
    xy_engine *e = xy_db_engine(db);
    const xy_rules *r = xy_db_rules(db);
    xy_resid ida;
    ASSERT_EQ(xy_resid_parse("11010519491231002X", 18, &ida, NULL), XY_OK);
    uint32_t a = xy_engine_find(e, ida);
    ASSERT(a != XY_NONE);
    int32_t good = xy_rules_behaviour_id(r, "good", 4), far = xy_rules_behaviour_id(r, "far", 3);
    int32_t office = xy_rules_agency_id(r, "office", 6), court = xy_rules_agency_id(r, "court", 5);
    ASSERT(good >= 0 && far >= 0 && office >= 0 && court >= 0);
    xy_day d;
    xy_day_parse("2024-01-01", 10, &d);
    const xy_event ok = {0, a, good, office, XY_NONE, d, -1};
    static const struct {
        const char *id, *why;
    } cases[] = {
        {"bad id", "bad event id"},
        {"neg", "negative amount"},
        {"cp", "unknown counterpart"},
        {"court", "agency may not report the behaviour"},
        {"far", "behaviour not defined in the citizen's city"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        xy_event ev[2] = {ok, ok};
        ev[1].date = d + 1;
        if (c == 1) ev[1].amount = -2;
        if (c == 2) ev[1].counterpart = 999;
        if (c == 3) ev[1].agency = court;
        if (c == 4) ev[1].behaviour = far;
        char first[16];
        snprintf(first, sizeof first, "ok%zu", c);
        const char *ids[2] = {first, cases[c].id};
        char msg[256] = "", want[128];
        uint64_t dups = 99;
        ASSERT_EQ(xy_db_append_events(db, ev, ids, 2, keep_last, msg, &dups), XY_EINPUT);
        snprintf(want, sizeof want, "event 1 (id %s): %s", cases[c].id, cases[c].why);
        ASSERT_STR(msg, want);
        ASSERT_EQ(xy_engine_raw(e, a), 100);
    }
    /* The good event alone is appended: none of the refused ones were. */
    const char *ids[1] = {"ok0"};
    uint64_t dups = 99;
    ASSERT_EQ(xy_db_append_events(db, &ok, ids, 1, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(dups, 0);
    ASSERT_EQ(xy_engine_raw(e, a), 103);
    xy_db_close(db);
    ASSERT_EQ(remove_town(dir), 0);
}

/* The append path looks ids up in the order of their keys, not the
 * batch's: whatever the batch's size (small batches and large ones sort
 * differently), a repeated id is judged against its first occurrence, the
 * message names the first event of the batch that fails, and new events
 * get their numbers in the batch's order. */
TEST(store_append_judges_ids_in_batch_order)
{
    char dir[256];
    xy_db *db = town_with(dir, sizeof dir, ANN_AND_BO);
    ASSERT(db != NULL);
    town t = town_of(db);
    xy_engine *e = t.e;
    uint32_t a = 0, b = 1;
    int32_t good = t.good, bad = t.bad, office = t.office;
    xy_day d = t.day;
    enum { BIG = 40000 };
    xy_event *ev = malloc(BIG * sizeof *ev);
    char (*idt)[16] = malloc(BIG * sizeof *idt);
    const char **ids = malloc(BIG * sizeof *ids);
    char msg[256] = "";
    uint64_t dups, stored = 0;
    for (int round = 0; round < 2; round++) {
        size_t n = round ? BIG : 300;
        int64_t raw = xy_engine_raw(e, a);
        for (size_t i = 0; i < n; i++) {
            ev[i] = (xy_event){0, i % 2 ? b : a, good, office, XY_NONE, d, -1};
            snprintf(idt[i], sizeof idt[i], "r%d-%zu", round, i);
            ids[i] = idt[i];
        }
        /* Event 7 repeats event 3's id with other content, and event 200
         * names no citizen: the first of the two is the message. */
        ids[7] = ids[3];
        ev[7].behaviour = bad;
        ev[200].citizen = 999;
        ASSERT_EQ(xy_db_append_events(db, ev, ids, n, keep_last, msg, &dups), XY_EINPUT);
        char want[64];
        snprintf(want, sizeof want, "event 7 (id r%d-3): event id reused", round);
        ASSERT(strstr(msg, want) != NULL);
        /* Without the repeat, the citizen is the first failure. */
        ev[7] = ev[3];
        ASSERT_EQ(xy_db_append_events(db, ev, ids, n, keep_last, msg, &dups), XY_EINPUT);
        snprintf(want, sizeof want, "event 200 (id r%d-200): unknown citizen", round);
        ASSERT(strstr(msg, want) != NULL);
        ASSERT_EQ(xy_engine_raw(e, a), raw);
        /* Repeats with the same content are duplicates of the first. */
        ev[200].citizen = a;
        ids[9] = ids[5];
        ev[9] = ev[5];
        ASSERT_EQ(xy_db_append_events(db, ev, ids, n, quiet, NULL, &dups), XY_OK);
        ASSERT_EQ(dups, 2);
        /* Every new event has the number of its place in the batch. */
        uint64_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (i == 7 || i == 9) continue;
            uint64_t key[2], content, seq;
            xy__evindex_key(ids[i], strlen(ids[i]), key);
            ASSERT(xy__evindex_find(&db->evix, key, &content, &seq));
            ASSERT_EQ(seq, stored + k);
            ASSERT_EQ(content, xy__event_content_hash(&ev[i]));
            k++;
        }
        stored += k;
        ASSERT_EQ(xy_db_append_events(db, ev, ids, n, quiet, NULL, &dups), XY_OK);
        ASSERT_EQ(dups, n);
    }
    ASSERT_EQ(xy_engine_score(e, a), 200); /* the score's max */
    xy_db_close(db);
    /* Reopened (the log replayed): the same ids are all known. */
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet, NULL, &db), XY_OK);
    ASSERT_EQ(xy_db_append_events(db, ev, ids, BIG, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(dups, BIG);
    xy_db_close(db);
    free(ev);
    free(idt);
    free(ids);
    ASSERT_EQ(remove_town(dir), 0);
}

/* Random batches over a small pool of ids, so that ids repeat within a
 * batch and across batches with the same or other content, now and then
 * with an unknown citizen: the append path (ids judged in the order of
 * their keys) gives what judging them one by one in the batch's order
 * gives: the status, the event a refusal names, the duplicates and the
 * score. Sizes on both sides of the plain sort's limit. */
TEST(store_append_matches_judging_in_order)
{
    enum { POOL = 3000, MAXN = 30000 };
    char dir[256];
    xy_db *db = town_with(dir, sizeof dir, "11010519491231002X,Ann\n");
    ASSERT(db != NULL);
    town t = town_of(db);
    signed char *stored = malloc(2 * POOL), *seen = malloc(2 * POOL);
    memset(stored, -1, 2 * POOL);
    int big_ok = 0, big_refused = 0;
    xy_event *ev = malloc(MAXN * sizeof *ev);
    char (*idt)[16] = malloc(MAXN * sizeof *idt);
    const char **ids = malloc(MAXN * sizeof *ids);
    int64_t raw = xy_engine_raw(t.e, 0);
    uint64_t rng = 12345;
    /* The number each stored id has in the event index, as judging in
     * order gives it (the pool's ids, then the round's own). */
    uint64_t nstored = db->nevents, *number = malloc(2 * POOL * sizeof *number);
    for (int round = 0; round < 40; round++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t n = round % 2 ? 1 + (rng >> 33) % 200 : 9000 + (rng >> 33) % (MAXN - 9000);
        size_t bad_citizen = (rng >> 20) % 5 == 0 ? (rng >> 40) % n : SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            /* An id's content is mostly its own (a re-sent event); now
             * and then it is another (an id reused). Half the ids are
             * new to the round. */
            int p = (int)((rng >> 33) % POOL), v = p % 7 == 0;
            if ((rng >> 8) % 50000 == 0) v = !v;
            ev[i] = (xy_event){0, i == bad_citizen ? 999 : 0, v ? t.bad : t.good, t.office, XY_NONE, t.day, -1};
            snprintf(idt[i], sizeof idt[i], (rng >> 30) % 2 ? "p%d" : "r%d-%d", (rng >> 30) % 2 ? p : round, p);
            ids[i] = idt[i];
        }
        /* The same batch judged one event after the other. */
        memset(stored + POOL, -1, POOL); /* a round's own ids are new to it */
        memcpy(seen, stored, 2 * POOL);
        size_t fail = SIZE_MAX;
        uint64_t want_dups = 0, next = nstored, *want_number = malloc(2 * POOL * sizeof *want_number);
        memcpy(want_number, number, 2 * POOL * sizeof *number);
        int64_t want_raw = raw;
        for (size_t i = 0; i < n && fail == SIZE_MAX; i++) {
            int v = ev[i].behaviour == t.bad, p;
            if (ids[i][0] == 'p') p = atoi(ids[i] + 1);
            else p = POOL + atoi(strchr(ids[i], '-') + 1); /* this round's own */
            if (ev[i].citizen == 999) fail = i;
            else if (seen[p] < 0) {
                seen[p] = (signed char)v;
                want_number[p] = next++;
                want_raw += v ? -40 : 3;
            } else if (seen[p] == v) {
                want_dups++;
            } else {
                fail = i;
            }
        }
        char msg[256] = "";
        uint64_t dups = 0;
        int rc = xy_db_append_events(db, ev, ids, n, keep_last, msg, &dups);
        if (fail == SIZE_MAX) {
            ASSERT_EQ(rc, XY_OK);
            ASSERT_EQ(dups, want_dups);
            memcpy(stored, seen, 2 * POOL);
            memcpy(number, want_number, 2 * POOL * sizeof *number);
            nstored = next;
            raw = want_raw;
            big_ok += n > 9000;
        } else {
            ASSERT_EQ(rc, XY_EINPUT);
            char want[64];
            snprintf(want, sizeof want, "event %zu (id %s): ", fail, ids[fail]);
            ASSERT(strstr(msg, want) != NULL);
            big_refused += n > 9000;
        }
        ASSERT_EQ(xy_engine_raw(t.e, 0), raw);
        /* Every stored id has its number in the index (unless a snapshot
         * spilled it to a run, which keeps none), and an id of a refused
         * batch is not there at all. */
        for (int p = 0; p < 2 * POOL; p++) {
            char id[32];
            if (p < POOL) snprintf(id, sizeof id, "p%d", p);
            else snprintf(id, sizeof id, "r%d-%d", round, p - POOL);
            uint64_t key[2], content, seq;
            xy__evindex_key(id, strlen(id), key);
            int found = xy__evindex_find(&db->evix, key, &content, &seq);
            ASSERT_EQ(found, stored[p] >= 0);
            if (found && seq != UINT64_MAX) ASSERT_EQ(seq, number[p]);
        }
        free(want_number);
    }
    ASSERT(big_ok >= 5 && big_refused >= 5);
    free(number);
    xy_db_close(db);
    free(stored);
    free(seen);
    free(ev);
    free(idt);
    free(ids);
    ASSERT_EQ(remove_town(dir), 0);
}

/* Background snapshots of a population large enough for the citizens'
 * states and history heads to be copied aside at each fork (see
 * xy_fork_copy): a child writes the state as of its fork while the writer
 * goes on changing it, and the directory reopened from the last snapshot
 * and the log after it holds exactly the writer's state. */
/* Appends the rows ("ID,name") of n citizens of the town, the first
 * numbered from, to rows (NUL-terminated). */
static void town_rows(xy_buf *rows, int from, int n)
{
    xy_day birth;
    xy_day_parse("1970-01-01", 10, &birth);
    for (int i = from; i < from + n; i++) {
        xy_resid id = (uint64_t)110101 << 28 | (uint64_t)(birth + i / 1000 + 65536) << 10 | (uint64_t)(i % 1000);
        char sid[19];
        xy_resid_format(id, sid);
        xy__buf_printf(rows, "%s,P%d\n", sid, i);
    }
    xy__buf_append(rows, "", 1);
}

/* Room for count events with their ids, as the append path takes them. */
typedef struct batch {
    xy_event *ev;
    char (*idt)[16]; /* the ids' text */
    const char **ids;
    int count;
} batch;

static batch batch_new(int count)
{
    batch b = {malloc((size_t)count * sizeof *b.ev), malloc((size_t)count * sizeof *b.idt),
               malloc((size_t)count * sizeof *b.ids), count};
    return b;
}

static void batch_free(batch *b)
{
    free(b->ev);
    free(b->idt);
    free(b->ids);
}

/* Fills b with events of the town on day, each of the good or the bad
 * behaviour (three to one) for a citizen below n drawn from *rng, with
 * ids "PK-I" (prefix, k, the event's place). */
static void random_batch(const town *t, uint32_t n, xy_day day, char prefix, int k, uint64_t *rng, batch *b)
{
    for (int i = 0; i < b->count; i++) {
        *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t c = (uint32_t)(*rng >> 33) % n;
        b->ev[i] = (xy_event){0, c, *rng >> 62 ? t->good : t->bad, t->office, XY_NONE, day, -1};
        snprintf(b->idt[i], sizeof b->idt[i], "%c%d-%d", prefix, k, i);
        b->ids[i] = b->idt[i];
    }
}

/* A town of ncit citizens (town_rows) in a new directory, or NULL. */
static xy_db *town_of_size(char *dir, size_t size, uint32_t ncit)
{
    xy_buf rows = {0};
    town_rows(&rows, 0, ncit);
    xy_db *db = town_with(dir, size, rows.data);
    xy__buf_free(&rows);
    return db;
}

TEST(store_background_snapshots_of_copied_state)
{
    enum { NCIT = 140000, BATCH = 20000 };
    char *every = env_set("XINYONG_SNAPSHOT_EVERY", "1"); /* a snapshot after every commit, when none runs */
    char dir[256];
    xy_db *db = town_of_size(dir, sizeof dir, NCIT);
    ASSERT(db != NULL);
    town t = town_of(db);
    /* The citizens' load started the first snapshot: both were copied. */
    ASSERT(t.e->st_child != NULL && db->trail.head_child != NULL);
    batch b = batch_new(BATCH);
    uint64_t rng = 7, dups;
    for (int k = 0; k < 12; k++) {
        random_batch(&t, NCIT, t.day + k, 'b', k, &rng, &b);
        ASSERT_EQ(xy_db_append_events(db, b.ev, b.ids, BATCH, quiet, NULL, &dups), XY_OK);
    }
    int64_t *raw = malloc(NCIT * sizeof *raw);
    for (uint32_t c = 0; c < NCIT; c++) raw[c] = xy_engine_raw(t.e, c);
    xy_day today = xy_engine_today(t.e);
    xy_db_close(db); /* waits for the snapshot being written */
    env_restore("XINYONG_SNAPSHOT_EVERY", every);
    ASSERT_EQ(xy_db_open(dir, XY_READ, quiet, NULL, &db), XY_OK);
    ASSERT(db->snapshot_offset > 0);
    xy_engine *e = xy_db_engine(db);
    ASSERT_EQ(xy_engine_today(e), today);
    uint32_t differ = 0;
    for (uint32_t c = 0; c < NCIT; c++) differ += xy_engine_raw(e, c) != raw[c];
    ASSERT_EQ(differ, 0);
    xy_db_close(db);
    FILE *out = fopen("/dev/null", "w");
    ASSERT_EQ(xy_db_verify(dir, quiet, NULL, out), XY_OK);
    fclose(out);
    free(raw);
    batch_free(&b);
    ASSERT_EQ(remove_town(dir), 0);
}

/* A background snapshot started on demand (xy__db_snapshot_start, which
 * the bench uses) covers the log as it stands, is collected once its
 * child is done, and is the one start-up uses; handles that take no
 * background snapshots refuse it. */
TEST(store_snapshot_started_on_demand)
{
    enum { NCIT = 20000, BATCH = 5000 };
    char *every = env_set("XINYONG_SNAPSHOT_EVERY", "1000000000000");
    char dir[256];
    xy_db *db = town_of_size(dir, sizeof dir, NCIT);
    ASSERT(db != NULL);
    town t = town_of(db);
    batch b = batch_new(BATCH);
    uint64_t rng = 11, dups;
    random_batch(&t, NCIT, t.day, 's', 0, &rng, &b);
    ASSERT_EQ(xy_db_append_events(db, b.ev, b.ids, BATCH, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(db->snap_pid, 0);
    uint64_t covers = db->log_size;
    ASSERT(db->snapshot_offset < covers);
    ASSERT_EQ(xy__db_snapshot_start(db), XY_OK);
    ASSERT(db->snap_pid != 0);
    while (xy__db_snapshot_running(db)) usleep(1000);
    ASSERT_EQ(db->snap_pid, 0);
    ASSERT_EQ(db->snapshot_offset, covers);
    int64_t *raw = malloc(NCIT * sizeof *raw);
    for (uint32_t c = 0; c < NCIT; c++) raw[c] = xy_engine_raw(t.e, c);
    xy_db_close(db);
    ASSERT_EQ(xy_db_open(dir, XY_READ, quiet, NULL, &db), XY_OK);
    ASSERT_EQ(db->snapshot_offset, covers); /* started up from it */
    ASSERT_EQ(xy__db_snapshot_start(db), XY_EINVAL);
    uint32_t differ = 0;
    for (uint32_t c = 0; c < NCIT; c++) differ += xy_engine_raw(xy_db_engine(db), c) != raw[c];
    ASSERT_EQ(differ, 0);
    free(raw);
    xy_db_close(db);
    ASSERT_EQ(xy_db_open(dir, XY_WRITE | XY_ONCE, quiet, NULL, &db), XY_OK);
    ASSERT_EQ(xy__db_snapshot_start(db), XY_EINVAL);
    ASSERT_EQ(db->snap_pid, 0);
    xy_db_close(db);
    env_restore("XINYONG_SNAPSHOT_EVERY", every);
    batch_free(&b);
    ASSERT_EQ(remove_town(dir), 0);
}

/* A background snapshot that fails (a directory stands where its
 * temporary file goes) loses nothing and is told by
 * xy_db_finish_snapshots, with the file and the reason, once; the next
 * write tries again, and once that one is in place there is nothing to
 * tell. */
TEST(store_failed_background_snapshot_is_told)
{
    enum { NCIT = 20000, BATCH = 5000 };
    char *every = env_set("XINYONG_SNAPSHOT_EVERY", "1"); /* a snapshot after every commit, when none runs */
    char dir[256], tmp[300], said[256] = "";
    xy_db *db = town_of_size(dir, sizeof dir, NCIT);
    ASSERT(db != NULL);
    ASSERT_EQ(xy_db_finish_snapshots(db, keep_last, said), XY_OK);
    ASSERT_EQ(said[0], '\0');
    uint64_t before = db->snapshot_offset;
    snprintf(tmp, sizeof tmp, "%s/snapshot.tmp", dir);
    ASSERT_EQ(mkdir(tmp, 0700), 0);
    town t = town_of(db);
    batch b = batch_new(BATCH);
    uint64_t rng = 13, dups;
    random_batch(&t, NCIT, t.day, 'f', 0, &rng, &b);
    ASSERT_EQ(xy_db_append_events(db, b.ev, b.ids, BATCH, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(xy_db_finish_snapshots(db, keep_last, said), XY_EIO);
    ASSERT(strstr(said, "/snapshot: warning: not written (") != NULL);
    ASSERT(strstr(said, tmp) != NULL);
    ASSERT(strstr(said, "nothing acknowledged is lost") != NULL);
    ASSERT_EQ(db->snapshot_offset, before);
    said[0] = '\0';
    ASSERT_EQ(xy_db_finish_snapshots(db, keep_last, said), XY_OK); /* told once */
    ASSERT_EQ(said[0], '\0');
    /* A failure that a later snapshot made good before anyone asked is
     * not told: the latest went well. */
    random_batch(&t, NCIT, t.day, 'h', 2, &rng, &b);
    ASSERT_EQ(xy_db_append_events(db, b.ev, b.ids, BATCH, quiet, NULL, &dups), XY_OK);
    while (xy__db_snapshot_running(db)) usleep(1000); /* collected, failed, not told */
    ASSERT_EQ(db->snapshot_offset, before);
    ASSERT_EQ(rmdir(tmp), 0);
    random_batch(&t, NCIT, t.day, 'g', 1, &rng, &b);
    ASSERT_EQ(xy_db_append_events(db, b.ev, b.ids, BATCH, quiet, NULL, &dups), XY_OK);
    uint64_t covers = db->log_size;
    ASSERT_EQ(xy_db_finish_snapshots(db, keep_last, said), XY_OK);
    ASSERT_EQ(said[0], '\0');
    ASSERT_EQ(db->snapshot_offset, covers);
    int64_t *raw = malloc(NCIT * sizeof *raw);
    for (uint32_t c = 0; c < NCIT; c++) raw[c] = xy_engine_raw(t.e, c);
    xy_db_close(db);
    env_restore("XINYONG_SNAPSHOT_EVERY", every);
    ASSERT_EQ(xy_db_open(dir, XY_READ, quiet, NULL, &db), XY_OK);
    ASSERT_EQ(db->snapshot_offset, covers);
    uint32_t differ = 0;
    for (uint32_t c = 0; c < NCIT; c++) differ += xy_engine_raw(xy_db_engine(db), c) != raw[c];
    ASSERT_EQ(differ, 0);
    ASSERT_EQ(xy_db_finish_snapshots(db, keep_last, said), XY_OK); /* a reader's: nothing to do */
    xy_db_close(db);
    free(raw);
    batch_free(&b);
    ASSERT_EQ(remove_town(dir), 0);
}

/* A background snapshot whose process is killed (by the kernel's
 * out-of-memory killer, say) loses nothing and is told with the signal by
 * xy_db_finish_snapshots. A FIFO where its temporary file goes holds the
 * child in its open until the kill, so that it cannot finish first. */
TEST(store_killed_background_snapshot_is_told)
{
    char *every = env_set("XINYONG_SNAPSHOT_EVERY", "1000000000000");
    char dir[256], tmp[300], said[256] = "", want[700];
    xy_db *db = town_of_size(dir, sizeof dir, 100);
    ASSERT(db != NULL);
    uint64_t before = db->snapshot_offset;
    snprintf(tmp, sizeof tmp, "%s/snapshot.tmp", dir);
    ASSERT_EQ(mkfifo(tmp, 0600), 0);
    ASSERT_EQ(xy__db_snapshot_start(db), XY_OK);
    ASSERT_EQ(kill((pid_t)db->snap_pid, SIGKILL), 0);
    ASSERT_EQ(xy_db_finish_snapshots(db, keep_last, said), XY_EIO);
    snprintf(want, sizeof want, "%s/snapshot: warning: not written (%s/snapshot: the process writing it in the "
             "background ended by signal %d); nothing acknowledged is lost", dir, dir, SIGKILL);
    ASSERT_EQ(strncmp(said, want, strlen(want)), 0);
    ASSERT_EQ(db->snapshot_offset, before);
    ASSERT_EQ(unlink(tmp), 0);
    xy_db_close(db);
    env_restore("XINYONG_SNAPSHOT_EVERY", every);
    ASSERT_EQ(remove_town(dir), 0);
}

/* Whether every report on db about citizen id returns rc, writing
 * nothing when it is an error. */
static int reports_refuse(xy_db *db, const char *id, int rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) return 0;
    int ok = xy_report_show(db, id, 0, XY_OUT_JSON, out) == rc &&
             xy_report_explain(db, id, XY_OUT_JSON, 0, out) == rc &&
             xy_report_check(db, id, "flight", XY_OUT_JSON, out) == rc &&
             xy_report_list(db, XY_BLACKLIST, NULL, 0, XY_OUT_JSON, out) == rc &&
             xy_report_stats(db, XY_OUT_JSON, out) == rc;
    fclose(out);
    ok = ok && (rc == XY_OK) == (len > 0);
    free(text);
    return ok;
}

/* A report that its stream does not take whole (a full disk) says so,
 * rather than leave the caller with part of it and XY_OK. */
TEST(store_reports_say_when_their_output_is_lost)
{
    char dir[256];
    xy_db *db = fresh_db(dir, sizeof dir);
    ASSERT(db != NULL);
    ASSERT_EQ(load_citizens(db, dir, "11010519491231002X,Wang Fang\n"), 0);
    FILE *full = fopen("/dev/full", "w");
    ASSERT(full != NULL);
    ASSERT_EQ(xy_report_show(db, "11010519491231002X", 0, XY_OUT_JSON, full), XY_EIO);
    clearerr(full);
    ASSERT_EQ(xy_report_explain(db, "11010519491231002X", XY_OUT_TEXT, 0, full), XY_EIO);
    clearerr(full);
    ASSERT_EQ(xy_report_stats(db, XY_OUT_JSON, full), XY_EIO);
    fclose(full);
    ASSERT(reports_refuse(db, "11010519491231002X", XY_OK));
    xy_db_close(db);
    ASSERT_EQ(remove_town(dir), 0);
}

/* What a caller gets wrong is refused with XY_EINVAL, not taken for
 * something else: an unknown mode, load kind, list or format. A caller
 * that wants no load counts passes NULL; a verify summary that its
 * stream does not take is XY_EIO. */
TEST(store_calls_refuse_what_they_do_not_know)
{
    char dir[256];
    xy_db *db = fresh_db(dir, sizeof dir);
    ASSERT(db != NULL);
    xy_db *other = (xy_db *)dir;
    ASSERT_EQ(xy_db_open(dir, 17, quiet, NULL, &other), XY_EINVAL);
    ASSERT(other == NULL);
    ASSERT_EQ(xy_db_open(dir, XY_READ | XY_ONCE, quiet, NULL, &other), XY_EINVAL);
    char path[300];
    snprintf(path, sizeof path, "%s-citizens.csv", dir);
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs("id,name\n11010519491231002X,Ann\n", f);
    fclose(f);
    xy_load_result res = {1, 1, 1, 1};
    ASSERT_EQ(xy_db_load_csv(db, 99, path, NULL, quiet, NULL, &res), XY_EINVAL);
    ASSERT_EQ(res.rows, 0);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_CITIZENS, path, NULL, quiet, NULL, NULL), XY_OK);
    ASSERT_EQ(xy_engine_citizen_count(xy_db_engine(db)), 1);
    FILE *null = fopen("/dev/null", "w");
    ASSERT(null != NULL);
    ASSERT_EQ(xy_report_list(db, 7, NULL, 0, XY_OUT_JSON, null), XY_EINVAL);
    ASSERT_EQ(xy_report_list(db, XY_BLACKLIST, NULL, 0, 5, null), XY_EINVAL);
    ASSERT_EQ(xy_report_stats(db, 5, null), XY_EINVAL);
    ASSERT_EQ(xy_report_show(db, "11010519491231002X", 0, -1, null), XY_EINVAL);
    fclose(null);
    xy_db_close(db);
    FILE *full = fopen("/dev/full", "w");
    ASSERT(full != NULL);
    ASSERT_EQ(xy_db_verify(dir, quiet, NULL, full), XY_EIO);
    fclose(full);
    ASSERT_EQ(remove_town(dir), 0);
}

/* A commit whose write or fdatasync fails reports the error. An append
 * is applied only once it is durable (on a second thread, after the
 * call), so a failed one leaves nothing applied and the handle working.
 * Other commits (loads, advances) are applied while the second thread
 * writes them: when that write or sync fails, the handle refuses every
 * later write and snapshot, and the directory reopened holds exactly the
 * acknowledged batches. A commit refused before anything was applied (no
 * space to reserve, or a write that fails where space cannot be reserved
 * and the batch is written first) leaves the handle working either way,
 * and so does any failed commit when no second thread can be made: the
 * batch is then written and synced before it is applied. */
TEST(store_failed_commits)
{
    static const struct {
        int sync, write, falloc_errno; /* the faults */
        int rc, broken;                /* the commit's status; handle refuses after a failed advance */
    } cases[] = {
        {1, 0, 0, XY_EIO, 1},
        {0, 1, 0, XY_ENOSPC, 1},
        {0, 0, ENOSPC, XY_ENOSPC, 0},
        {0, 1, EOPNOTSUPP, XY_ENOSPC, 0},
        {1, 0, EOPNOTSUPP, XY_EIO, 1},
    };
    for (size_t k = 0; k < 2 * sizeof cases / sizeof cases[0]; k++) {
        int advance = k % 2, c = (int)(k / 2);
        int broken = advance && cases[c].broken && unit_threads();
        char dir[256];
        xy_db *db = town_with(dir, sizeof dir, "11010519491231002X,Ann\n");
        ASSERT(db != NULL);
        town t = town_of(db);
        xy_engine *e = t.e;
        xy_event ev = {0, 0, t.good, t.office, XY_NONE, t.day, -1};
        const char *id1[1] = {"s1"}, *id2[1] = {"s2"}, *id3[1] = {"s3"};
        uint64_t dups;
        ASSERT_EQ(xy_db_append_events(db, &ev, id1, 1, quiet, NULL, &dups), XY_OK);
        ASSERT_EQ(xy_engine_raw(e, 0), 103);
        if (cases[c].sync) fail_sync_fd = db->log_fd;
        if (cases[c].write) fail_write_fd = db->log_fd;
        if (cases[c].falloc_errno) {
            fail_falloc_fd = db->log_fd;
            fail_falloc_errno = cases[c].falloc_errno;
        }
        if (advance) ASSERT_EQ(xy_db_advance(db, t.day + 1), cases[c].rc);
        else ASSERT_EQ(xy_db_append_events(db, &ev, id2, 1, quiet, NULL, &dups), cases[c].rc);
        fail_sync_fd = fail_write_fd = fail_falloc_fd = -1;
        if (broken) {
            ASSERT_EQ(xy_db_append_events(db, &ev, id3, 1, quiet, NULL, &dups), cases[c].rc);
            ASSERT_EQ(xy_db_advance(db, t.day + 5), cases[c].rc);
            ASSERT_EQ(xy_db_snapshot(db, quiet, NULL), cases[c].rc);
            ASSERT(reports_refuse(db, "11010519491231002X", cases[c].rc));
        } else {
            ASSERT(reports_refuse(db, "11010519491231002X", XY_OK));
            ASSERT_EQ(xy_engine_raw(e, 0), 103); /* nothing of it applied */
            ASSERT_EQ(xy_db_append_events(db, &ev, id3, 1, quiet, NULL, &dups), XY_OK);
            ASSERT_EQ(xy_engine_raw(e, 0), 106);
        }
        xy_db_close(db);
        ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet, NULL, &db), XY_OK);
        e = xy_db_engine(db);
        ASSERT_EQ(xy_engine_raw(e, 0), broken ? 103 : 106);
        ASSERT_EQ(xy_db_append_events(db, &ev, id2, 1, quiet, NULL, &dups), XY_OK);
        ASSERT_EQ(dups, 0);
        ASSERT_EQ(xy_engine_raw(e, 0), broken ? 106 : 109);
        ASSERT_EQ(verify_status(dir), XY_OK);
        xy_db_close(db);
        ASSERT_EQ(remove_town(dir), 0);
    }
}

/* A fresh town (see town_with) with Ann alone, after one good event of
 * hers, id s1, was appended (her raw score 103), or NULL. */
static xy_db *ann_after_s1(char *dir, size_t size, town *t)
{
    xy_db *db = town_with(dir, size, "11010519491231002X,Ann\n");
    if (!db) return NULL;
    *t = town_of(db);
    xy_event ev = {0, 0, t->good, t->office, XY_NONE, t->day, -1};
    const char *id1[1] = {"s1"};
    uint64_t dups;
    if (xy_db_append_events(db, &ev, id1, 1, quiet, NULL, &dups) != XY_OK) {
        xy_db_close(db);
        return NULL;
    }
    return db;
}

/* A batch of the append path whose sync failed is cut from the log at
 * once, not merely overwritten by the handle's next batch: a caller that
 * closes the handle right after the failure (or crashes) must not find
 * the refused batch in the directory, where a reopen would apply it. */
TEST(store_failed_append_is_cut_at_once)
{
    char dir[256];
    town t;
    xy_db *db = ann_after_s1(dir, sizeof dir, &t);
    ASSERT(db != NULL);
    xy_event ev = {0, 0, t.good, t.office, XY_NONE, t.day, -1};
    const char *id2[1] = {"s2"};
    uint64_t dups;
    fail_sync_fd = db->log_fd;
    ASSERT_EQ(xy_db_append_events(db, &ev, id2, 1, quiet, NULL, &dups), XY_EIO);
    fail_sync_fd = -1;
    xy_db_close(db);
    ASSERT_EQ(verify_status(dir), XY_OK);
    ASSERT_EQ(xy_db_open(dir, XY_READ, quiet, NULL, &db), XY_OK);
    ASSERT_EQ(xy_engine_raw(xy_db_engine(db), 0), 103); /* s1 only */
    xy_db_close(db);
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet, NULL, &db), XY_OK);
    ASSERT_EQ(xy_db_append_events(db, &ev, id2, 1, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(dups, 0); /* s2 was never stored */
    ASSERT_EQ(xy_engine_raw(xy_db_engine(db), 0), 106);
    xy_db_close(db);
    ASSERT_EQ(verify_status(dir), XY_OK);
    ASSERT_EQ(remove_town(dir), 0);
}

/* An append with duplicates in it is written twice: once whole, while its
 * ids are judged, then again without its duplicates. When the second
 * write finds no space, the append is refused like any other: nothing of
 * it applied, no duplicates counted, the handle still working. */
TEST(store_append_with_duplicates_refused_when_its_rewrite_finds_no_space)
{
    char dir[256];
    town t;
    xy_db *db = ann_after_s1(dir, sizeof dir, &t);
    ASSERT(db != NULL);
    xy_event ev[2] = {{0, 0, t.good, t.office, XY_NONE, t.day, -1}, {0, 0, t.good, t.office, XY_NONE, t.day, -1}};
    const char *ids[2] = {"s1", "s2"};
    uint64_t dups;
    fail_falloc_fd = db->log_fd;
    fail_falloc_errno = ENOSPC;
    fail_falloc_skip = 1;
    dups = 99;
    int rc = xy_db_append_events(db, ev, ids, 2, quiet, NULL, &dups);
    fail_falloc_fd = -1;
    fail_falloc_skip = 0;
    ASSERT_EQ(rc, XY_ENOSPC);
    ASSERT_EQ(dups, 0);
    ASSERT_EQ(xy_engine_raw(t.e, 0), 103);
    ASSERT_EQ(xy_db_append_events(db, ev, ids, 2, quiet, NULL, &dups), XY_OK);
    ASSERT_EQ(dups, 1);
    ASSERT_EQ(xy_engine_raw(t.e, 0), 106);
    xy_db_close(db);
    ASSERT_EQ(verify_status(dir), XY_OK);
    ASSERT_EQ(remove_town(dir), 0);
}

/* The input a load reads, cut short by the first message about it (as
 * another process might rewrite it meanwhile); ctx names it, and
 * whether a message said it was cut short. */
typedef struct cut_input {
    const char *path;
    int cut, said;
} cut_input;

static void cut_on_first_message(void *ctx, const char *msg)
{
    cut_input *ci = ctx;
    if (!ci->cut && truncate(ci->path, 40) == 0) ci->cut = 1;
    if (strstr(msg, "the file was cut short while it was loaded: nothing of it was applied")) ci->said = 1;
}

/* An input cut short while it is loaded (its pages past the new end read
 * as zeros) is refused whole, even with a rejects file to take its bad
 * rows: the good row read before the cut is not applied either. */
TEST(store_load_of_an_input_cut_short_applies_nothing)
{
    char dir[256];
    xy_db *db = town_with(dir, sizeof dir, ANN_AND_BO);
    ASSERT(db != NULL);
    char path[300], rejects[300];
    snprintf(path, sizeof path, "%s-events.csv", dir);
    snprintf(rejects, sizeof rejects, "%s-events.csv.rejects", dir);
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    /* Ann and Bo, then a bad row (Ann with herself), then pages more. */
    fprintf(f, "a,b\n11010519491231002X,110101200001010010\n11010519491231002X,11010519491231002X\n");
    for (int i = 0; i < 3000; i++) fprintf(f, "11010519491231002X,110101200001010010\n");
    fclose(f);
    cut_input ci = {path, 0, 0};
    xy_load_result res;
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_CONTACTS, path, rejects, cut_on_first_message, &ci, &res), XY_EINPUT);
    ASSERT(ci.cut);
    ASSERT(ci.said);
    ASSERT_EQ(res.applied, 0);
    xy_db_close(db);
    /* Ann and Bo are not in contact, in the directory reopened. */
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet, NULL, &db), XY_OK);
    ASSERT_EQ(xy_engine_add_contact(xy_db_engine(db), 0, 1), XY_OK);
    xy_db_close(db);
    remove(rejects);
    ASSERT_EQ(remove_town(dir), 0);
}

/* The events of batch k of the kill test below: B new ids, event j for
 * citizen (k + j) % 2, and the first R ids of batch k - 1 sent again. */
enum { KILL_B = 20000, KILL_R = 500 };

static size_t kill_batch(int k, const town *t, xy_event *ev, char (*idt)[24], const char **ids)
{
    size_t n = 0;
    for (int j = 0; j < KILL_B + KILL_R; j++) {
        int kk = j < KILL_B ? k : k - 1, jj = j < KILL_B ? j : j - KILL_B;
        if (kk < 0) break;
        ev[n] = (xy_event){0, (uint32_t)((kk + jj) % 2), t->good, t->office, XY_NONE, t->day, -1};
        snprintf(idt[n], sizeof idt[n], "k%d-%d", kk, jj);
        ids[n] = idt[n];
        n++;
    }
    return n;
}

/* Appends killed with SIGKILL at random moments (while a batch is encoded,
 * written, synced, applied on the second thread, or a background snapshot
 * written; CRASH_ROUNDS kills, 12 unless set): after each, the directory
 * verifies and holds every batch the child was told was durable, and at
 * most the one it was appending, whole; re-sent ids count once. */
TEST(store_append_survives_kills)
{
    char dir[256];
    xy_db *db = town_with(dir, sizeof dir, ANN_AND_BO);
    ASSERT(db != NULL);
    town t = town_of(db);
    xy_db_close(db);
    int rounds = getenv("CRASH_ROUNDS") ? atoi(getenv("CRASH_ROUNDS")) : 12;
    xy_event *ev = malloc((KILL_B + KILL_R) * sizeof *ev);
    char (*idt)[24] = malloc((KILL_B + KILL_R) * sizeof *idt);
    const char **ids = malloc((KILL_B + KILL_R) * sizeof *ids);
    int next = 0; /* batches 0 .. next - 1 are in the directory */
    unsigned seed = 7;
    /* Snapshots every few batches, so that kills land in them too. */
    char *every = env_set("XINYONG_SNAPSHOT_EVERY", "2000000");
    for (int round = 0; round < rounds; round++) {
        int fd[2];
        ASSERT_EQ(pipe(fd), 0);
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            close(fd[0]);
            xy_db *w;
            if (xy_db_open(dir, XY_WRITE, quiet, NULL, &w)) _exit(1);
            for (int k = next;; k++) {
                size_t n = kill_batch(k, &t, ev, idt, ids);
                if (xy_db_append_events(w, ev, ids, n, quiet, NULL, NULL)) _exit(1);
                if (write(fd[1], &k, sizeof k) != sizeof k) _exit(1);
            }
        }
        close(fd[1]);
        seed = seed * 1103515245u + 12345u;
        struct timespec nap = {0, (long)(1 + (seed >> 16) % 150) * 1000000L};
        nanosleep(&nap, NULL);
        kill(pid, SIGKILL);
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT(WIFSIGNALED(status));
        int acked = next - 1, k;
        while (read(fd[0], &k, sizeof k) == (ssize_t)sizeof k) acked = k;
        close(fd[0]);
        /* The background snapshot's child dies with its parent, a moment
         * later: until then it holds the lock. */
        int rc = XY_ELOCKED;
        for (int tries = 0; tries < 400 && rc; tries++) {
            rc = xy_db_open(dir, XY_WRITE, quiet, NULL, &db);
            if (rc) nanosleep(&(struct timespec){0, 5000000L}, NULL);
        }
        ASSERT_EQ(rc, XY_OK);
        ASSERT_EQ(verify_status(dir), XY_OK);
        /* Batches 0 .. m - 1 hold KILL_B new events each, half for each
         * citizen (B is even): m is acked + 1, or acked + 2 if the batch
         * being appended was durable before the kill. */
        int64_t a = xy_engine_raw(xy_db_engine(db), 0), b = xy_engine_raw(xy_db_engine(db), 1);
        ASSERT_EQ(a, b);
        ASSERT_EQ((a - 100) % (3 * KILL_B / 2), 0);
        int m = (int)((a - 100) / (3 * KILL_B / 2));
        ASSERT(m == acked + 1 || m == acked + 2);
        ASSERT_EQ(db->nevents, (uint64_t)m * KILL_B);
        next = m;
        xy_db_close(db);
    }
    env_restore("XINYONG_SNAPSHOT_EVERY", every);
    ASSERT(next > 0); /* the kills let batches through */
    free(ev);
    free(idt);
    free(ids);
    ASSERT_EQ(remove_town(dir), 0);
}

/* The offset in dir's first log segment of its first record of the
 * given type, or -1. */
static long first_record_of(const char *dir, int type)
{
    char path[512];
    snprintf(path, sizeof path, "%s/log", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    long at = (long)sizeof xy__log_magic, found = -1;
    unsigned char head[9];
    while (fseek(f, at, SEEK_SET) == 0 && fread(head, 1, sizeof head, f) == sizeof head) {
        if (head[8] == type) {
            found = at;
            break;
        }
        at += 8 + (long)xy__get_u32(head);
    }
    fclose(f);
    return found;
}

/* A replay that meets events the directory's rules no longer allow (its
 * copy of the ruleset edited by hand, which `init` forbids) refuses the
 * log, whether the check falls to the calling thread (a short run of
 * events) or to the engine thread of a piped applier (runs of 4,096). */
TEST(store_replay_refuses_events_the_rules_no_longer_allow)
{
    for (int big = 0; big < 2; big++) {
        char dir[256];
        xy_db *db = town_with(dir, sizeof dir, ANN_AND_BO);
        ASSERT(db != NULL);
        town t = town_of(db);
        size_t n = big ? 20000 : 10;
        xy_event *ev = calloc(n, sizeof *ev);
        char (*idt)[24] = malloc(n * sizeof *idt);
        const char **ids = malloc(n * sizeof *ids);
        for (size_t i = 0; i < n; i++) {
            ev[i] = (xy_event){0, (uint32_t)(i % 2), t.good, t.office, XY_NONE, t.day, -1};
            snprintf(idt[i], sizeof idt[i], "r%zu", i);
            ids[i] = idt[i];
        }
        ASSERT_EQ(xy_db_append_events(db, ev, ids, n, quiet, NULL, NULL), XY_OK);
        xy_db_close(db);
        /* The office may now report only a behaviour of another category;
         * no snapshot, so that opening replays the whole log. */
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "rm -f %s/snapshot* && sed -i 's/^agency office reports category c$/"
                 "behaviour other points +1 category d\\nagency office reports category d/' %s/rules/town.rules",
                 dir, dir);
        ASSERT_EQ(system(cmd), 0);
        char msg[512] = "";
        /* The copy no longer has the fingerprint init took of it. */
        ASSERT_EQ(xy_db_open(dir, XY_WRITE, keep_last, msg, &db), XY_ECORRUPT);
        ASSERT(strstr(msg, "not the rules the directory was made with") != NULL);
        /* Without one (a directory made before there were any), the
         * replay itself refuses what the rules no longer allow. */
        snprintf(cmd, sizeof cmd, "rm %s/rules.sum", dir);
        ASSERT_EQ(system(cmd), 0);
        ASSERT_EQ(xy_db_open(dir, XY_WRITE, keep_last, msg, &db), XY_ECORRUPT);
        /* Every event is refused now: the message names the first. */
        char want[512];
        snprintf(want, sizeof want, "%s/log:%ld: record does not decode or does not fit the log before it", dir,
                 first_record_of(dir, R_EVENT));
        ASSERT(strstr(msg, want) != NULL);
        free(ev);
        free(idt);
        free(ids);
        ASSERT_EQ(remove_town(dir), 0);
    }
}

/* The content hash of an event is stored in the event index (runs on
 * disk, snapshots): written out for its fixed size, it must stay the hash
 * of the six words it always was. */
TEST(store_event_content_hash_is_stable)
{
    uint32_t r = 99;
    for (int i = 0; i < 2000; i++) {
        xy_event ev = {0};
        r = r * 1664525u + 1013904223u;
        ev.date = (xy_day)(r >> 8) - 100000;
        ev.citizen = r * 7u;
        ev.behaviour = (int32_t)(r % 5000);
        ev.agency = (int32_t)(r % 77);
        ev.amount = i % 3 ? (int64_t)r * 1000 : -1;
        ev.counterpart = i % 2 ? XY_NONE : r / 3;
        uint64_t w[6] = {(uint64_t)(uint32_t)ev.date, ev.citizen, (uint64_t)(uint32_t)ev.behaviour,
                         (uint64_t)(uint32_t)ev.agency, (uint64_t)ev.amount, ev.counterpart};
        ASSERT_EQ(xy__event_content_hash(&ev), xy__hash_bytes(w, sizeof w));
    }
    /* And one value pinned, so that xy__hash_bytes cannot drift either. */
    xy_event ev = {0};
    ev.date = 19000;
    ev.citizen = 12;
    ev.behaviour = 3;
    ev.agency = 1;
    ev.amount = -1;
    ev.counterpart = XY_NONE;
    ASSERT_EQ(xy__event_content_hash(&ev), 6093579292011764156ULL);
}

/* A load written to the log in parts (xy__db_spill): its records never
 * take more than two parts' worth of buffers, the batch starts a segment
 * of its own, and the state is the one a load written whole gives. */
TEST(store_load_in_parts_bounds_its_memory)
{
    char dir[256], path[300];
    uint64_t raw[2];
    for (int parts = 0; parts < 2; parts++) {
        char *had = env_set("XINYONG_SPILL_BYTES", parts ? "1000" : "1000000000");
        xy_db *db = town_with(dir, sizeof dir, ANN_AND_BO);
        ASSERT(db != NULL);
        snprintf(path, sizeof path, "%s-events.csv", dir);
        FILE *f = fopen(path, "w");
        ASSERT(f != NULL);
        fprintf(f, "id,date,citizen,behaviour,agency\n");
        for (int i = 0; i < 500; i++)
            fprintf(f, "p%d,2024-01-%02d,%s,%s,office\n", i, 1 + i % 28, i % 2 ? "11010519491231002X" : "110101200001010010",
                    i % 7 ? "good" : "bad");
        fclose(f);
        xy_load_result res;
        ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_OK);
        ASSERT_EQ(res.applied, 500);
        if (parts) {
            /* 500 records of about 45 bytes went out in parts of 1,000. */
            ASSERT(db->batch.cap <= 4096 && db->spill.other.cap <= 4096);
            ASSERT(db->seg_base > 0);
        }
        raw[parts] = (uint64_t)xy_engine_raw(xy_db_engine(db), 0) << 32 | (uint64_t)xy_engine_raw(xy_db_engine(db), 1);
        xy_db_close(db);
        ASSERT_EQ(xy_db_open(dir, XY_READ, quiet, NULL, &db), XY_OK);
        ASSERT_EQ((uint64_t)xy_engine_raw(xy_db_engine(db), 0) << 32 | (uint64_t)xy_engine_raw(xy_db_engine(db), 1),
                  raw[parts]);
        xy_db_close(db);
        ASSERT_EQ(remove_town(dir), 0);
        env_restore("XINYONG_SPILL_BYTES", had);
    }
    ASSERT_EQ(raw[0], raw[1]);
}

/* Writes an events file of n rows for the two citizens of the town at
 * path, ids "PREFIX<i>", the row bad_row (if below n) naming a behaviour
 * the town does not define. */
static void events_file(const char *path, const char *prefix, int n, int bad_row)
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "id,date,citizen,behaviour,agency\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%d,2024-%02d-%02d,%s,%s,office\n", prefix, i, 1 + i / 28 % 12, 1 + i % 28,
                i % 2 ? "11010519491231002X" : "110101200001010010",
                i == bad_row ? "jaywalking" : i % 5 ? "good" : "bad");
    fclose(f);
}

/* The state of the town's two citizens, as one number per citizen. */
static void town_state(xy_engine *e, int64_t out[2])
{
    for (uint32_t c = 0; c < 2; c++)
        out[c] = xy_engine_raw(e, c) * 4 + xy_engine_on_blacklist(e, c) * 2 + xy_engine_on_whitelist(e, c);
}

/* Whether dir, opened afresh for reading, has the town state want. */
static int reopened_state_is(const char *dir, const int64_t want[2])
{
    xy_db *db;
    int64_t got[2];
    if (xy_db_open(dir, XY_READ, quiet, NULL, &db) != XY_OK) return 0;
    town_state(xy_db_engine(db), got);
    xy_db_close(db);
    return got[0] == want[0] && got[1] == want[1];
}

/* An events load in parts applies each part as it is written, ahead of
 * its commit (xy__db_spill). One that fails after that (a bad row late in
 * an atomic file) must leave nothing of itself: the handle, stale, shows
 * the state from before it at its next use, through an engine pointer
 * taken before the load too; the same rows without the bad one then load
 * whole; and a handle closed while stale leaves the directory as it was. */
TEST(store_failed_load_applied_ahead_leaves_nothing)
{
    char dir[256], path[300];
    char *had;
    xy_db *db = town_in_parts(dir, sizeof dir, &had);
    ASSERT(db != NULL);
    xy_engine *e = xy_db_engine(db);
    snprintf(path, sizeof path, "%s-events.csv", dir);
    xy_load_result res;
    events_file(path, "a", 60, 60);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_OK);
    int64_t before[2], now[2], whole[2];
    town_state(e, before);
    uint64_t nevents = db->nevents;
    events_file(path, "b", 500, 480);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_EINPUT);
    ASSERT_EQ(res.applied, 0);
    ASSERT_EQ(db->stale, 1); /* parts had been applied ahead */
    town_state(e, now);      /* the query rebuilds the state */
    ASSERT_EQ(db->stale, 0);
    ASSERT_EQ(now[0], before[0]);
    ASSERT_EQ(now[1], before[1]);
    ASSERT_EQ(db->nevents, nevents);
    ASSERT(xy_db_engine(db) == e);
    /* The good rows, under the same ids, are new and load. */
    events_file(path, "b", 480, 480);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_OK);
    ASSERT_EQ(res.applied, 480);
    ASSERT_EQ(res.duplicates, 0);
    town_state(e, now);
    ASSERT(now[0] != before[0] || now[1] != before[1]);
    /* A failed load again, and the handle closed while stale. */
    events_file(path, "c", 500, 499);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_EINPUT);
    ASSERT_EQ(db->stale, 1);
    xy_db_close(db);
    ASSERT(reopened_state_is(dir, now));
    ASSERT_EQ(verify_status(dir), XY_OK);
    /* The same two good loads written whole, in a directory of their own,
     * give the same state. */
    ASSERT_EQ(remove_town(dir), 0);
    setenv("XINYONG_SPILL_BYTES", "1000000000", 1);
    db = town_with(dir, sizeof dir, ANN_AND_BO);
    ASSERT(db != NULL);
    events_file(path, "a", 60, 60);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_OK);
    events_file(path, "b", 480, 480);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_OK);
    town_state(xy_db_engine(db), whole);
    ASSERT_EQ(whole[0], now[0]);
    ASSERT_EQ(whole[1], now[1]);
    xy_db_close(db);
    ASSERT_EQ(remove_town(dir), 0);
    env_restore("XINYONG_SPILL_BYTES", had);
}

/* A handle of XY_ONCE forks no background snapshot: one that falls due is
 * written by the close, from the state, and start-up uses it. A stale
 * handle (a load that failed after parts of it were applied ahead) or a
 * broken one writes none. */
TEST(store_once_writes_the_due_snapshot_at_close)
{
    char dir[256], path[300], snap[300];
    char *every = env_set("XINYONG_SNAPSHOT_EVERY", "1");
    char *spill;
    xy_db *db = town_in_parts(dir, sizeof dir, &spill);
    ASSERT(db != NULL);
    xy_db_close(db); /* a background snapshot, waited for */
    snprintf(snap, sizeof snap, "%s/snapshot", dir);
    ASSERT_EQ(unlink(snap), 0);
    snprintf(path, sizeof path, "%s-events.csv", dir);
    xy_load_result res;
    int64_t after[2], opened[2];
    /* A failed load applied ahead, with a snapshot due from a good one. */
    ASSERT_EQ(xy_db_open(dir, XY_WRITE | XY_ONCE, quiet, NULL, &db), XY_OK);
    ASSERT_EQ(db->mode, XY_WRITE);
    events_file(path, "a", 60, 60);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_OK);
    ASSERT_EQ(db->snap_pid, 0);
    ASSERT_EQ(db->snapshot_due, 1);
    events_file(path, "b", 500, 480);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_EINPUT);
    ASSERT_EQ(db->stale, 1);
    xy_db_close(db);
    ASSERT(access(snap, F_OK) != 0);
    /* The same, but the handle used (and so rebuilt) before its close:
     * the snapshot still due is written, of the rebuilt state. */
    ASSERT_EQ(xy_db_open(dir, XY_WRITE | XY_ONCE, quiet, NULL, &db), XY_OK);
    events_file(path, "d", 40, 40);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_OK);
    ASSERT_EQ(db->snapshot_due, 1);
    events_file(path, "e", 500, 480);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_EINPUT);
    ASSERT_EQ(db->stale, 1);
    town_state(xy_db_engine(db), after);
    ASSERT_EQ(db->stale, 0);
    ASSERT_EQ(db->snapshot_due, 1);
    /* The rebuild let go of the stale state without writing it down. */
    ASSERT(access(snap, F_OK) != 0);
    xy_db_close(db);
    ASSERT_EQ(access(snap, F_OK), 0);
    ASSERT(reopened_state_is(dir, after));
    ASSERT_EQ(unlink(snap), 0);
    /* The good load again (all duplicates, no write) and a new one. */
    ASSERT_EQ(xy_db_open(dir, XY_WRITE | XY_ONCE, quiet, NULL, &db), XY_OK);
    events_file(path, "c", 30, 30);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_OK);
    ASSERT_EQ(res.applied, 30);
    ASSERT_EQ(db->snap_pid, 0);
    town_state(xy_db_engine(db), after);
    uint64_t log_size = db->log_size;
    xy_db_close(db);
    ASSERT_EQ(access(snap, F_OK), 0);
    env_restore("XINYONG_SNAPSHOT_EVERY", every);
    env_restore("XINYONG_SPILL_BYTES", spill);
    ASSERT_EQ(xy_db_open(dir, XY_READ, quiet, NULL, &db), XY_OK);
    ASSERT_EQ(db->snapshot_offset, log_size); /* the whole log, from the snapshot */
    town_state(xy_db_engine(db), opened);
    ASSERT_EQ(opened[0], after[0]);
    ASSERT_EQ(opened[1], after[1]);
    xy_db_close(db);
    ASSERT_EQ(remove_town(dir), 0);
}

/* A stale handle whose directory no longer opens when it is next used is
 * left with an empty state, and every later write and snapshot gets the
 * error; the directory, once back, opens with what was acknowledged. */
TEST(store_stale_handle_whose_directory_is_gone)
{
    char dir[256], moved[300], path[300];
    char *had;
    xy_db *db = town_in_parts(dir, sizeof dir, &had);
    ASSERT(db != NULL);
    snprintf(path, sizeof path, "%s-events.csv", dir);
    snprintf(moved, sizeof moved, "%s-moved", dir);
    xy_load_result res;
    int64_t before[2];
    events_file(path, "a", 60, 60);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_OK);
    town_state(xy_db_engine(db), before);
    events_file(path, "b", 500, 480);
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res), XY_EINPUT);
    ASSERT_EQ(db->stale, 1);
    ASSERT_EQ(rename(dir, moved), 0);
    xy_engine *e = xy_db_engine(db); /* the rebuild, which cannot open it */
    ASSERT_EQ(db->stale, 0);
    ASSERT_EQ(e->n, 0);
    ASSERT(db->broken != XY_OK);
    ASSERT(reports_refuse(db, "11010519491231002X", db->broken));
    events_file(path, "c", 30, 30);
    ASSERT(xy_db_load_csv(db, XY_LOAD_EVENTS, path, NULL, quiet, NULL, &res) != XY_OK);
    ASSERT(xy_db_snapshot(db, quiet, NULL) != XY_OK);
    ASSERT_EQ(rename(moved, dir), 0);
    xy_db_close(db);
    ASSERT(reopened_state_is(dir, before));
    env_restore("XINYONG_SPILL_BYTES", had);
    ASSERT_EQ(remove_town(dir), 0);
}

/* A log that cannot be opened (a socket bound where the log was, which
 * stat finds but open refuses) stops start-up, naming it and why. */
TEST(store_log_that_does_not_open_is_named)
{
    char dir[256], log[300], said[256] = "", want[400];
    xy_db *db = town_with(dir, sizeof dir, ANN_AND_BO);
    ASSERT(db != NULL);
    xy_db_close(db);
    snprintf(log, sizeof log, "%s/log", dir);
    ASSERT_EQ(unlink(log), 0);
    struct sockaddr_un at = {.sun_family = AF_UNIX};
    ASSERT(strlen(log) < sizeof at.sun_path);
    memcpy(at.sun_path, log, strlen(log) + 1);
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT(sock >= 0);
    ASSERT_EQ(bind(sock, (const struct sockaddr *)&at, sizeof at), 0);
    ASSERT_EQ(xy_db_open(dir, XY_READ, keep_last, said, &db), XY_EIO);
    ASSERT(db == NULL);
    snprintf(want, sizeof want, "%s: cannot read: %s", log, strerror(ENXIO));
    ASSERT_STR(said, want);
    close(sock);
    ASSERT_EQ(remove_town(dir), 0);
}

/* A replay gives the page cache back what it has applied, 32 MiB at a
 * time and the rest at the segment's end, but for the log's last snapshot
 * interval (XINYONG_SNAPSHOT_EVERY, here 4 kB, so nearly nothing is kept):
 * a log of about 70 MB, read into the cache first, is mostly out of it
 * after a reader has replayed it, and the reader has the writer's state. */
TEST(store_replay_gives_the_page_cache_back)
{
    char dir[256], log[300];
    char *had_every = env_set("XINYONG_SNAPSHOT_EVERY", "1000000000000");
    char *had_seg = env_set("XINYONG_SEGMENT_BYTES", "4000000000");
    xy_db *db = town_with(dir, sizeof dir, ANN_AND_BO);
    ASSERT(db != NULL);
    town t = town_of(db);
    enum { BATCH = 100000, BATCHES = 15 };
    xy_event *ev = malloc(BATCH * sizeof *ev);
    char(*text)[16] = malloc(BATCH * sizeof *text);
    const char **ids = malloc(BATCH * sizeof *ids);
    ASSERT(ev && text && ids);
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < BATCH; i++) {
            ev[i] = (xy_event){0, (uint32_t)(i % 2), i % 9 ? t.good : t.bad, t.office, XY_NONE, t.day + b, -1};
            snprintf(text[i], sizeof text[i], "r%d-%d", b, i);
            ids[i] = text[i];
        }
        uint64_t dups;
        ASSERT_EQ(xy_db_append_events(db, ev, ids, BATCH, quiet, NULL, &dups), XY_OK);
    }
    free(ev);
    free(text);
    free(ids);
    int64_t want[2];
    town_state(xy_db_engine(db), want);
    xy_db_close(db);
    snprintf(log, sizeof log, "%s/snapshot", dir);
    unlink(log);
    snprintf(log, sizeof log, "%s/log", dir);
    /* Into the page cache (the writer left it out). */
    size_t len;
    long before = unit_read_through(log, &len);
    ASSERT(len > ((size_t)64 << 20));
    setenv("XINYONG_SNAPSHOT_EVERY", "4096", 1);
    ASSERT(reopened_state_is(dir, want));
    long after = unit_cached_pages(log, 0, len);
    if (before >= 0) {
        ASSERT(before * 4096 > (long)(len / 2));
        ASSERT(after * 4096 < (long)(len / 4));
    }
    env_restore("XINYONG_SNAPSHOT_EVERY", had_every);
    env_restore("XINYONG_SEGMENT_BYTES", had_seg);
    ASSERT_EQ(remove_town(dir), 0);
}

/* A writer gives the snapshot's pages back to the page cache's free
 * memory when it starts a load large enough to be written in parts (the
 * input at least XINYONG_SPILL_BYTES, here 1,000 bytes); a smaller load,
 * and opening the directory, whether to write or to read, leave them
 * cached for the next reader. */
TEST(store_large_load_gives_the_snapshot_pages_back)
{
    char dir[256], snap[300], csv[300];
    char *had;
    xy_db *db = town_in_parts(dir, sizeof dir, &had);
    ASSERT(db != NULL);
    ASSERT_EQ(xy_db_snapshot(db, quiet, NULL), XY_OK);
    xy_db_close(db);
    snprintf(snap, sizeof snap, "%s/snapshot", dir);
    snprintf(csv, sizeof csv, "%s-events.csv", dir);
    for (int rows = 5; rows <= 50; rows += 45) {
        events_file(csv, rows == 5 ? "small" : "large", rows, rows);
        size_t len;
        long before = unit_read_through(snap, &len);
        ASSERT(len > 0);
        ASSERT_EQ(xy_db_open(dir, XY_WRITE, quiet, NULL, &db), XY_OK);
        long opened = unit_cached_pages(snap, 0, len);
        xy_load_result res;
        ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_EVENTS, csv, NULL, quiet, NULL, &res), XY_OK);
        ASSERT_EQ(res.applied, (uint64_t)rows);
        long loaded = unit_cached_pages(snap, 0, len);
        xy_db_close(db);
        if (before < 0) continue;
        ASSERT(before > 0);
        ASSERT_EQ(opened, before);
        ASSERT_EQ(loaded, rows == 5 ? before : 0);
    }
    size_t len;
    long before = unit_read_through(snap, &len);
    ASSERT_EQ(xy_db_open(dir, XY_READ, quiet, NULL, &db), XY_OK);
    ASSERT_EQ(unit_cached_pages(snap, 0, len), before);
    xy_db_close(db);
    env_restore("XINYONG_SPILL_BYTES", had);
    ASSERT_EQ(remove_town(dir), 0);
}

/* Lines of /proc/self/maps that map the file path. */
static int mappings_of(const char *path)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        size_t k = strlen(line), m = strlen(path);
        n += k >= m && strcmp(line + k - m, path) == 0;
    }
    if (f) fclose(f);
    return n;
}

/* Whether two handles hold the same state: the per-citizen arrays, names,
 * the ID index and the history index's heads, byte for byte. */
static int same_state(xy_db *a, xy_db *b)
{
    const xy_engine *x = xy_db_engine(a), *y = xy_db_engine(b);
    uint32_t n = x->n;
    if (n != y->n || x->today != y->today || x->names.len != y->names.len || x->by_id.count != y->by_id.count ||
        a->trail.nhead != b->trail.nhead)
        return 0;
    for (uint32_t c = 0; c < n; c++)
        if (xy_engine_find(y, x->ids[c]) != c) return 0;
    return !memcmp(x->ids, y->ids, n * sizeof *x->ids) && !memcmp(x->father, y->father, n * sizeof *x->father) &&
           !memcmp(x->mother, y->mother, n * sizeof *x->mother) &&
           !memcmp(x->name_off, y->name_off, n * sizeof *x->name_off) &&
           !memcmp(x->st, y->st, n * sizeof *x->st) && !memcmp(x->names.data, y->names.data, x->names.len + 1) &&
           !memcmp(a->trail.head, b->trail.head, a->trail.nhead * sizeof *a->trail.head);
}

/* A reader maps the snapshot's large arrays from the file instead of
 * copying them (they show in its mappings), and the log after the
 * snapshot, applied over them, writes private copies of the pages it
 * changes: the state is the writer's byte for byte, the file unchanged.
 * Citizens registered after the snapshot grow the arrays past what the
 * file holds (they are then copied), and the clock advanced past the
 * expiries the snapshot holds has the reader take them from the section
 * where they lie. */
TEST(store_reader_maps_the_snapshot)
{
    enum { NCIT = 140000, MORE = 130000, BATCH = 20000 };
    xy_buf rows = {0};
    char dir[256], snap[300];
    xy_db *db = town_of_size(dir, sizeof dir, NCIT);
    ASSERT(db != NULL);
    town t = town_of(db);
    batch b = batch_new(BATCH);
    uint64_t rng = 11;
    for (int round = 0; round < 3; round++) {
        if (round == 1) ASSERT_EQ(xy_db_snapshot(db, quiet, NULL), XY_OK);
        if (round == 2) {
            town_rows(&rows, NCIT, MORE);
            ASSERT_EQ(load_citizens(db, dir, rows.data), XY_OK);
            xy__buf_free(&rows);
        }
        random_batch(&t, xy_engine_citizen_count(t.e), t.day + round, 'm', round, &rng, &b);
        ASSERT_EQ(xy_db_append_events(db, b.ev, b.ids, BATCH, quiet, NULL, NULL), XY_OK);
        if (round == 0) continue;
        /* Past the expiries the snapshot holds, which a reader reads in
         * place. */
        if (round == 2) ASSERT_EQ(xy_db_advance(db, t.day + 40), XY_OK);
        snprintf(snap, sizeof snap, "%s/snapshot", dir);
        char *before;
        size_t len;
        ASSERT_EQ(xy__read_file(snap, &before, &len), XY_OK);
        xy_db *rd;
        ASSERT_EQ(xy_db_open(dir, XY_READ, quiet, NULL, &rd), XY_OK);
        ASSERT(rd->snapshot_offset > 0);
        /* After the first round the sections of a megabyte or more are
         * mapped: the IDs, the name offsets, the state, the ID index and
         * the history index's heads. After the second the citizens
         * added have grown them all, by copying. */
        ASSERT(round == 1 ? mappings_of(snap) >= 5 : mappings_of(snap) == 0);
        ASSERT(same_state(db, rd));
        xy_db_close(rd);
        ASSERT_EQ(mappings_of(snap), 0);
        char *after;
        size_t alen;
        ASSERT_EQ(xy__read_file(snap, &after, &alen), XY_OK);
        ASSERT(alen == len && memcmp(before, after, len) == 0);
        xy__free(before);
        xy__free(after);
    }
    xy_db_close(db);
    batch_free(&b);
    ASSERT_EQ(remove_town(dir), 0);
}
