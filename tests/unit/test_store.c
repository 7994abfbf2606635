/* Unit tests of the data directory through the public API: the in-process
 * append path, its atomicity and duplicates, loads, background snapshots
 * and failed commits. test_recovery.c holds those of crashes and
 * start-up. */
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

#include "store_town.h"
#include "unit.h"

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
    /* So is a counterpart that is not a citizen (an explanation would
     * look its ID up), and an event without an id; the message names the
     * event by its place and id. */
    xy_event stranger = {0, b, good, office, 999, d + 2, -1};
    const char *stranger_id[1] = {"e8"};
    ASSERT_EQ(xy_db_append_events(db, &stranger, stranger_id, 1, keep_last, msg, &dups), XY_EINPUT);
    ASSERT_STR(msg, "event 0 (id e8): unknown counterpart");
    const char *no_id[1] = {NULL};
    ASSERT_EQ(xy_db_append_events(db, &stranger, no_id, 1, keep_last, msg, &dups), XY_EINPUT);
    ASSERT_STR(msg, "event 0 (id (none)): bad event id");
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
TEST(store_background_snapshots_of_copied_state)
{
    enum { NCIT = 140000, BATCH = 20000 };
    char *every = unit_env_set("XINYONG_SNAPSHOT_EVERY", "1"); /* a snapshot after every commit, when none runs */
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
    unit_env_restore("XINYONG_SNAPSHOT_EVERY", every);
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
    char *every = unit_env_set("XINYONG_SNAPSHOT_EVERY", "1000000000000");
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
    unit_env_restore("XINYONG_SNAPSHOT_EVERY", every);
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
    char *every = unit_env_set("XINYONG_SNAPSHOT_EVERY", "1"); /* a snapshot after every commit, when none runs */
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
    unit_env_restore("XINYONG_SNAPSHOT_EVERY", every);
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
    char *every = unit_env_set("XINYONG_SNAPSHOT_EVERY", "1000000000000");
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
    unit_env_restore("XINYONG_SNAPSHOT_EVERY", every);
    ASSERT_EQ(remove_town(dir), 0);
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
 * batch is then written and synced before it is applied. Either way the
 * log is cut back to where it was, a write torn by a full disk
 * included. */
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
        fail_write_torn = 1;
        if (cases[c].falloc_errno) {
            fail_falloc_fd = db->log_fd;
            fail_falloc_errno = cases[c].falloc_errno;
        }
        struct stat before, after;
        ASSERT_EQ(fstat(db->log_fd, &before), 0);
        if (advance) ASSERT_EQ(xy_db_advance(db, t.day + 1), cases[c].rc);
        else ASSERT_EQ(xy_db_append_events(db, &ev, id2, 1, quiet, NULL, &dups), cases[c].rc);
        fail_sync_fd = fail_write_fd = fail_falloc_fd = -1;
        fail_write_torn = 0;
        /* Nothing of the batch is left in the log, not even the half of
         * it a torn write put in. */
        ASSERT_EQ(fstat(db->log_fd, &after), 0);
        ASSERT_EQ(after.st_size, before.st_size);
        if (broken) {
            ASSERT_EQ(xy_db_append_events(db, &ev, id3, 1, quiet, NULL, &dups), cases[c].rc);
            /* Also a load that would write nothing (Ann is registered). */
            ASSERT_EQ(load_citizens(db, dir, "11010519491231002X,Ann\n"), cases[c].rc);
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

/* A load written in parts whose commit fails to sync is refused; when no
 * second thread could be made, the sync came before anything of it was
 * applied, and the handle goes on taking writes (with a thread the batch
 * was applied while it synced, and the handle refuses them). */
TEST(store_failed_sync_of_a_load_in_parts)
{
    char dir[256], rows[256];
    xy_db *db = fresh_db(dir, sizeof dir); /* its log empty: the load stays in its segment */
    ASSERT(db != NULL);
    char *spill = unit_env_set("XINYONG_SPILL_BYTES", "100");
    snprintf(rows, sizeof rows, "11010519491231002X,Ann%0150d\n", 0); /* a name past the part's size */
    fail_sync_fd = db->log_fd;
    int rc = load_citizens(db, dir, rows);
    fail_sync_fd = -1;
    unit_env_restore("XINYONG_SPILL_BYTES", spill);
    ASSERT_EQ(rc, XY_EIO);
    ASSERT_EQ(xy_db_engine(db)->n, unit_threads() ? 1 : 0);
    ASSERT_EQ(load_citizens(db, dir, "110101200001010010,Bo\n"), unit_threads() ? XY_EIO : XY_OK);
    xy_db_close(db);
    ASSERT_EQ(remove_town(dir), 0);
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
 * the refused batch in the directory, where a reopen would apply it. So is
 * one whose write failed once while the commit record after it would go
 * in (a disk that had no room for the one and then had for the other):
 * that record is not written after a failed write, where it would seal
 * the batch's place in the log without the batch. */
TEST(store_failed_append_is_cut_at_once)
{
    for (int write_once = 0; write_once < 2; write_once++) {
        char dir[256];
        town t;
        xy_db *db = ann_after_s1(dir, sizeof dir, &t);
        ASSERT(db != NULL);
        xy_event ev = {0, 0, t.good, t.office, XY_NONE, t.day, -1};
        const char *id2[1] = {"s2"};
        uint64_t dups;
        if (write_once) fail_write_fd = db->log_fd, fail_write_once = 1;
        else fail_sync_fd = db->log_fd;
        ASSERT_EQ(xy_db_append_events(db, &ev, id2, 1, quiet, NULL, &dups), write_once ? XY_ENOSPC : XY_EIO);
        fail_sync_fd = fail_write_fd = -1;
        fail_write_once = 0;
        ASSERT_EQ(xy_engine_raw(xy_db_engine(db), 0), 103); /* nothing of it applied */
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
