/* Unit tests of a data directory's recovery through the public API: kills
 * in the middle of appends, replays that refuse a log, loads applied ahead
 * of their commit, stale handles, and what start-up and replay leave in
 * memory and the page cache. */
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
    char *every = unit_env_set("XINYONG_SNAPSHOT_EVERY", "2000000");
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
    unit_env_restore("XINYONG_SNAPSHOT_EVERY", every);
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
 * events) or to the engine thread of a piped applier (runs of 4,096, or
 * just one). */
TEST(store_replay_refuses_events_the_rules_no_longer_allow)
{
    for (int big = 0; big < 3; big++) {
        char dir[256];
        xy_db *db = town_with(dir, sizeof dir, ANN_AND_BO);
        ASSERT(db != NULL);
        town t = town_of(db);
        /* Also exactly one group: the engine thread's verdict on it comes
         * only at the end of the range. */
        size_t n = big == 2 ? XY_APPLY_GROUP : big ? 20000 : 10;
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
        char *had = unit_env_set("XINYONG_SPILL_BYTES", parts ? "1000" : "1000000000");
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
        unit_env_restore("XINYONG_SPILL_BYTES", had);
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
    unit_env_restore("XINYONG_SPILL_BYTES", had);
}

/* A handle of XY_ONCE forks no background snapshot: one that falls due is
 * written by the close, from the state, and start-up uses it. A stale
 * handle (a load that failed after parts of it were applied ahead) or a
 * broken one writes none. */
TEST(store_once_writes_the_due_snapshot_at_close)
{
    char dir[256], path[300], snap[300];
    char *every = unit_env_set("XINYONG_SNAPSHOT_EVERY", "1");
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
    unit_env_restore("XINYONG_SNAPSHOT_EVERY", every);
    unit_env_restore("XINYONG_SPILL_BYTES", spill);
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
    unit_env_restore("XINYONG_SPILL_BYTES", had);
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
    char *had_every = unit_env_set("XINYONG_SNAPSHOT_EVERY", "1000000000000");
    char *had_seg = unit_env_set("XINYONG_SEGMENT_BYTES", "4000000000");
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
    unit_env_restore("XINYONG_SNAPSHOT_EVERY", had_every);
    unit_env_restore("XINYONG_SEGMENT_BYTES", had_seg);
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
    unit_env_restore("XINYONG_SPILL_BYTES", had);
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

/* An event record decodes only at the length its id says: one whose
 * length and id length disagree (a log written by hand, whose checksums
 * cannot tell) does not decode, either way. */
TEST(store_event_record_decodes_only_at_its_own_length)
{
    xy_buf b = {0};
    const xy_event in = {0, 1, 2, 3, XY_NONE, 20000, -5};
    xy__rec_event(&b, &in, "id-7", 4);
    unsigned char *p = (unsigned char *)b.data + 8;
    uint32_t len = xy__get_u32((const unsigned char *)b.data);
    xy_event out;
    ASSERT_EQ(len, 34);
    ASSERT_EQ(xy__rec_read_event(p, len, &out), XY_OK);
    ASSERT(out.citizen == in.citizen && out.behaviour == in.behaviour && out.agency == in.agency);
    ASSERT(out.counterpart == in.counterpart && out.date == in.date && out.amount == in.amount);
    ASSERT_EQ(xy__rec_read_event(p, len - 1, &out), XY_ECORRUPT);
    ASSERT_EQ(xy__rec_read_event(p, len + 1, &out), XY_ECORRUPT);
    ASSERT_EQ(xy__rec_read_event(p, 29, &out), XY_ECORRUPT);
    p[29] = 5;
    ASSERT_EQ(xy__rec_read_event(p, len, &out), XY_ECORRUPT);
    xy__buf_free(&b);
}

/* Applies one record, payload p of n bytes (its type first), framed as in
 * the log, to db's engine as a commit would; the status. */
static int apply_one(xy_db *db, const unsigned char *p, uint32_t n)
{
    unsigned char buf[128] = {0};
    memcpy(buf, &n, 4);
    memcpy(buf + 8, p, n);
    uint64_t seq = db->nevents;
    return xy__apply_range(db, xy_db_engine(db), buf, 0, 0, 8 + (size_t)n, 1, 0, NULL, &seq);
}

/* A record that decodes but does not fit the log before it is refused
 * whole, nothing of it applied: one of each kind a byte too long, an event
 * of a citizen or counterpart not registered or on a day no date has, a
 * registration whose name is shorter than its record, an advance to such
 * a day, a type no record has. (The log's checksums pass such a record: it
 * is a log written by something else.) */
TEST(store_replay_refuses_records_that_do_not_fit)
{
    char dir[256];
    xy_db *db = town_with(dir, sizeof dir, ANN_AND_BO);
    ASSERT(db != NULL);
    town t = town_of(db);
    const xy_event ok = {0, 1, t.good, t.office, 0, t.day, -1};
    xy_event bad[3] = {ok, ok, ok};
    bad[0].citizen = 2; /* Ann and Bo are 0 and 1 */
    bad[1].counterpart = 2;
    bad[2].date = INT32_MAX;
    xy_buf b = {0};
    for (int k = 0; k < 3; k++) {
        b.len = 0;
        xy__rec_event(&b, &bad[k], "x", 1);
        ASSERT_EQ(apply_one(db, (const unsigned char *)b.data + 8, xy__get_u32((const unsigned char *)b.data)),
                  XY_ECORRUPT);
    }
    b.len = 0;
    xy__rec_citizen(&b, 110101200001010010ull, 0, XY_NONE, XY_NONE, "Cy", 2);
    unsigned char *p = (unsigned char *)b.data + 8;
    uint32_t len = xy__get_u32((const unsigned char *)b.data);
    p[19] = 1; /* its name a byte shorter than the record says */
    ASSERT_EQ(apply_one(db, p, len), XY_ECORRUPT);
    unsigned char contact[10] = {R_CONTACT, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    ASSERT_EQ(apply_one(db, contact, 10), XY_ECORRUPT);
    unsigned char advance[6] = {R_ADVANCE, 0xff, 0xff, 0xff, 0x7f, 0};
    ASSERT_EQ(apply_one(db, advance, 5), XY_ECORRUPT);
    memcpy(advance + 1, &t.day, 4);
    ASSERT_EQ(apply_one(db, advance, 6), XY_ECORRUPT);
    unsigned char commit[10] = {R_COMMIT};
    ASSERT_EQ(apply_one(db, commit, 10), XY_ECORRUPT);
    unsigned char unknown[2] = {R_COMMIT + 1};
    ASSERT_EQ(apply_one(db, unknown, 2), XY_ECORRUPT);
    /* Nothing of them was applied. */
    ASSERT_EQ(xy_engine_raw(xy_db_engine(db), 0), 100);
    ASSERT_EQ(xy_db_engine(db)->n, 2);
    /* The same records that fit apply. */
    ASSERT_EQ(apply_one(db, contact, 9), XY_OK);
    ASSERT_EQ(apply_one(db, commit, 9), XY_OK);
    /* An advance to the day the clock is on is no step back. */
    ASSERT_EQ(apply_one(db, advance, 5), XY_OK);
    ASSERT_EQ(apply_one(db, advance, 5), XY_OK);
    xy_day before = t.day - 1;
    memcpy(advance + 1, &before, 4);
    ASSERT_EQ(apply_one(db, advance, 5), XY_ECORRUPT);
    xy__buf_free(&b);
    xy_db_close(db);
    ASSERT_EQ(remove_town(dir), 0);
}
