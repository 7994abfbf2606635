/* Unit tests of evindex.c: ids put, taken back out, spilled into runs that
 * merge, and found again (in the memtable, in runs, and in a second index
 * that opens the runs from the list), checked against the plain truth. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evindex.h"
#include "unit.h"

enum { IDS = 20000 };

static void id_text(int i, char *s, size_t n) { snprintf(s, n, "ev-%d", i); }

/* An empty index in a fresh scratch directory /tmp/xy-unit-TAG-PID
 * (returned in dir); 0, or -1 if the directory cannot be made. */
static int fresh_index(xy_evindex *x, const char *tag, char *dir, size_t n)
{
    char cmd[200];
    snprintf(dir, n, "/tmp/xy-unit-%s-%d", tag, (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd)) return -1;
    xy__evindex_init(x, dir);
    return 0;
}

TEST(evindex_finds_what_was_put_across_spills_and_merges)
{
    char dir[64], cmd[160];
    xy_evindex x;
    ASSERT_EQ(fresh_index(&x, "evix", dir, sizeof dir), 0);
    uint64_t seq = 0;
    xy_buf list = {0};
    for (int round = 0; round < 9; round++) {
        /* A batch of ids, one in ten refused and taken back out. */
        int from = round * IDS / 10, to = (round + 1) * IDS / 10;
        for (int i = from; i < to; i++) {
            char s[32];
            uint64_t key[2], c, q;
            id_text(i, s, sizeof s);
            xy__evindex_key(s, strlen(s), key);
            ASSERT_EQ(xy__evindex_find(&x, key, &c, &q), 0);
            xy__evindex_put(&x, key, (uint64_t)i * 7, i % 10 == 3 ? UINT64_MAX - 1 : seq);
            if (i % 10 == 3) xy__evindex_del(&x, key);
            else seq++;
        }
        /* Spill (as a snapshot does) in most rounds, then adopt. */
        if (round % 3 != 1) {
            list.len = 0;
            ASSERT_EQ(xy__evindex_spill(&x, seq, &list), XY_OK);
            xy_buf plan = {0};
            xy__evindex_plan_list(&x, seq, &plan);
            ASSERT(plan.len == list.len && memcmp(plan.data, list.data, list.len) == 0);
            xy__buf_free(&plan);
            ASSERT_EQ(xy__evindex_adopt(&x, list.data, list.len), XY_OK);
            ASSERT_EQ(x.spilled, seq);
            ASSERT_EQ(x.mem.count, 0);
        }
        /* Every id so far is found with its content; the refused are not. */
        for (int i = 0; i < to; i++) {
            char s[32];
            uint64_t key[2], c = 0, q;
            id_text(i, s, sizeof s);
            xy__evindex_key(s, strlen(s), key);
            int found = xy__evindex_find(&x, key, &c, &q);
            ASSERT_EQ(found, i % 10 != 3);
            if (found) ASSERT_EQ(c, (uint64_t)i * 7);
        }
    }
    /* Runs merge: far fewer than the spills. */
    ASSERT(x.nrun >= 1 && x.nrun <= 4);
    /* Each run's filter has every key of the run and lets through about
     * one absent key in 250; fewer than one in a hundred passes here (a
     * filter that said yes to all would still find everything above). */
    for (int k = 0; k < x.nrun; k++) {
        const xy_evrun *r = &x.run[k];
        size_t passed = 0, absent = 100000;
        for (size_t i = 0; i < absent; i++) {
            char s[32];
            uint64_t key[2];
            snprintf(s, sizeof s, "absent-%zu", i);
            xy__evindex_key(s, strlen(s), key);
            passed += (size_t)xy__evrun_may_have(r, key);
        }
        ASSERT(passed * 100 < absent);
    }
    for (int i = 0; i < IDS * 8 / 10; i++) {
        char s[32];
        uint64_t key[2];
        id_text(i, s, sizeof s);
        xy__evindex_key(s, strlen(s), key);
        int in_some = 0;
        for (int k = 0; k < x.nrun; k++) in_some |= xy__evrun_may_have(&x.run[k], key);
        ASSERT(in_some || i % 10 == 3);
    }
    uint64_t runs, entries;
    ASSERT_EQ(xy__evindex_verify(dir, &runs, &entries, NULL, NULL), XY_OK);
    ASSERT_EQ(runs, (uint64_t)x.nrun);
    /* A second index opens the same runs from the list. */
    xy_evindex y;
    xy__evindex_init(&y, dir);
    ASSERT_EQ(xy__evindex_open_runs(&y, list.data, list.len), XY_OK);
    for (int i = 0; i < IDS * 8 / 10; i++) {
        char s[32];
        uint64_t key[2], c = 0, q;
        id_text(i, s, sizeof s);
        xy__evindex_key(s, strlen(s), key);
        ASSERT_EQ(xy__evindex_find(&y, key, &c, &q), i % 10 != 3);
    }
    xy__evindex_free(&y);
    /* A damaged run is found by verify. */
    char path[160];
    snprintf(path, sizeof path, "%s/ev-%llu-%llu.run", dir, (unsigned long long)x.run[0].first,
             (unsigned long long)x.run[0].end);
    FILE *f = fopen(path, "r+b");
    ASSERT(f != NULL);
    fseek(f, 100, SEEK_SET);
    fputc('Z', f);
    fclose(f);
    ASSERT_EQ(xy__evindex_verify(dir, &runs, &entries, NULL, NULL), XY_ECORRUPT);
    xy__evindex_free(&x);
    xy__buf_free(&list);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}

/* Puts ids [from, to) with event numbers from *seq on. */
static void put_range(xy_evindex *x, int from, int to, uint64_t *seq)
{
    for (int i = from; i < to; i++) {
        char s[32];
        uint64_t key[2];
        id_text(i, s, sizeof s);
        xy__evindex_key(s, strlen(s), key);
        xy__evindex_put(x, key, (uint64_t)i * 7, (*seq)++);
    }
}

/* How many of ids [from, to) x finds with their content. */
static int found_range(const xy_evindex *x, int from, int to)
{
    int n = 0;
    for (int i = from; i < to; i++) {
        char s[32];
        uint64_t key[2], c = 0, q;
        id_text(i, s, sizeof s);
        xy__evindex_key(s, strlen(s), key);
        n += xy__evindex_find(x, key, &c, &q) && c == (uint64_t)i * 7;
    }
    return n;
}

/* A background snapshot: the memtable is frozen, the process forks, the
 * child spills the frozen entries while the parent goes on putting; the
 * parent then adopts the child's runs. The tables are big enough (over a
 * megabyte) to be marked for the fork, so the child sees the frozen table
 * and zeros in place of the parent's new memtable. A freeze after a spill
 * that failed keeps the frozen entries. */
TEST(evindex_freeze_fork_spill_adopt)
{
    enum { N = 60000 };
    char dir[64], cmd[160];
    xy_evindex x;
    ASSERT_EQ(fresh_index(&x, "evfz", dir, sizeof dir), 0);
    uint64_t seq = 0;
    put_range(&x, 0, N, &seq);
    /* First round: nothing frozen yet, so the new memtable is empty. */
    xy__evindex_freeze(&x);
    ASSERT_EQ(x.frozen.count, N);
    ASSERT_EQ(x.mem.count, 0);
    put_range(&x, N, 2 * N, &seq);
    ASSERT_EQ(found_range(&x, 0, 2 * N), 2 * N);
    /* A spill that fails: the frozen entries join the next freeze. */
    xy__evindex_freeze(&x);
    ASSERT_EQ(x.frozen.count, 2 * N);
    ASSERT_EQ(x.mem.count, 0);
    put_range(&x, 2 * N, 3 * N, &seq);
    xy__evindex_freeze(&x);
    ASSERT_EQ(x.frozen.count, 3 * N);
    uint64_t upto = seq;
    /* Entries put after the freeze are the parent's alone. */
    put_range(&x, 3 * N, 4 * N, &seq);
    int fd[2];
    ASSERT_EQ(pipe(fd), 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        /* The child: its memtable reads as zeros; it spills what is
         * below upto and hands the list over. */
        xy_buf list = {0};
        int ok = found_range(&x, 3 * N, 4 * N) == 0 && found_range(&x, 0, 3 * N) == 3 * N &&
                 xy__evindex_spill(&x, upto, &list) == XY_OK;
        if (ok && write(fd[1], list.data, list.len) != (ssize_t)list.len) ok = 0;
        _exit(ok ? 0 : 1);
    }
    close(fd[1]);
    /* Meanwhile the parent writes to its memtable. */
    put_range(&x, 4 * N, 5 * N, &seq);
    char buf[4096];
    ssize_t got = read(fd[0], buf, sizeof buf);
    close(fd[0]);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0 && got > 0);
    xy_buf plan = {0};
    xy__evindex_plan_list(&x, upto, &plan);
    ASSERT(plan.len == (size_t)got && memcmp(plan.data, buf, plan.len) == 0);
    xy__buf_free(&plan);
    ASSERT_EQ(xy__evindex_adopt(&x, buf, (size_t)got), XY_OK);
    ASSERT_EQ(x.spilled, upto);
    ASSERT_EQ(x.frozen.count, 0);
    ASSERT_EQ(x.mem.count, 2 * N);
    ASSERT_EQ(found_range(&x, 0, 5 * N), 5 * N);
    /* The run holds exactly the frozen entries. */
    ASSERT_EQ(x.nrun, 1);
    ASSERT_EQ(x.run[0].count, 3 * N);
    xy__evindex_free(&x);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}

/* A load's hint makes the memtable grow once, to hold all it announced,
 * and only when an insert needs room: a load of duplicates leaves it as
 * it is, and a hint outlived by a freeze no longer counts. */
TEST(evindex_expect_grows_once_and_only_when_needed)
{
    char dir[64];
    xy_evindex x;
    ASSERT_EQ(fresh_index(&x, "expect", dir, sizeof dir), 0);
    uint64_t key[2];
    char id[32];
    xy__evindex_expect(&x, 5000);
    ASSERT(x.mem.slot == NULL); /* nothing inserted: no table yet */
    size_t first_mask = 0;
    for (int i = 0; i < 5000; i++) {
        id_text(i, id, sizeof id);
        xy__evindex_key(id, strlen(id), key);
        xy__evindex_put(&x, key, (uint64_t)i, (uint64_t)i);
        if (i == 0) first_mask = x.mem.mask;
        ASSERT_EQ(x.mem.mask, first_mask); /* never grew again */
    }
    ASSERT((x.mem.mask + 1) * 3 >= 4 * 5000); /* room for all, at most three quarters full */
    /* Duplicates announced and never inserted: the table stays. */
    xy__evindex_expect(&x, 1000000);
    uint64_t content, seq;
    for (int i = 0; i < 5000; i++) {
        id_text(i, id, sizeof id);
        xy__evindex_key(id, strlen(id), key);
        ASSERT_EQ(xy__evindex_find(&x, key, &content, &seq), 1);
        ASSERT_EQ(content, (uint64_t)i);
    }
    ASSERT_EQ(x.mem.mask, first_mask);
    /* After a freeze the hint is gone: growth is by doubling again. */
    xy__evindex_freeze(&x);
    for (int i = 5000; i < 5001; i++) {
        id_text(i, id, sizeof id);
        xy__evindex_key(id, strlen(id), key);
        xy__evindex_put(&x, key, (uint64_t)i, (uint64_t)i);
    }
    ASSERT(x.mem.mask + 1 < 2 * 1000000);
    xy__evindex_free(&x);
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}

/* find_or_put answers like find wherever the key is (memtable, frozen
 * table, a run) and puts only an absent key, which find then gives with
 * its content and number; renumber changes the number, and a spill then
 * goes by the new one. */
TEST(evindex_find_or_put_and_renumber)
{
    enum { N = 3000 };
    char dir[64], cmd[160];
    xy_evindex x;
    ASSERT_EQ(fresh_index(&x, "evfp", dir, sizeof dir), 0);
    uint64_t seq = 0;
    put_range(&x, 0, N, &seq); /* into a run below */
    xy_buf list = {0};
    ASSERT_EQ(xy__evindex_spill(&x, seq, &list), XY_OK);
    ASSERT_EQ(xy__evindex_adopt(&x, list.data, list.len), XY_OK);
    put_range(&x, N, 2 * N, &seq); /* frozen below */
    xy__evindex_freeze(&x);
    put_range(&x, 2 * N, 3 * N, &seq); /* in the memtable */
    for (int i = 0; i < 4 * N; i++) {
        char s[32];
        uint64_t key[2], c = 0, q = 0;
        id_text(i, s, sizeof s);
        xy__evindex_key(s, strlen(s), key);
        int found = xy__evindex_find_or_put(&x, key, 5, 100000 + (uint64_t)i, &c, &q);
        ASSERT_EQ(found, i < 3 * N);
        if (found) ASSERT_EQ(c, (uint64_t)i * 7);
        if (found) ASSERT_EQ(q, i < N ? UINT64_MAX : (uint64_t)i);
        ASSERT_EQ(xy__evindex_find(&x, key, &c, &q), 1);
        ASSERT_EQ(c, i < 3 * N ? (uint64_t)i * 7 : 5);
        if (i >= 3 * N) ASSERT_EQ(q, 100000 + (uint64_t)i);
    }
    /* Everything numbered below 3N goes to runs; the put ones, numbered
     * above, stay in the memtable, which then holds nothing else. */
    list.len = 0;
    ASSERT_EQ(xy__evindex_spill(&x, 3 * N, &list), XY_OK);
    ASSERT_EQ(xy__evindex_adopt(&x, list.data, list.len), XY_OK);
    ASSERT_EQ(x.mem.count, N);
    ASSERT_EQ(x.mem.lo, 100000 + 3 * N);
    /* Numbered afresh below what the memtable held: a spill goes by the
     * new numbers, up to 3N + N/2 exactly half of them. */
    for (int i = 3 * N; i < 4 * N; i++) {
        char s[32];
        uint64_t key[2], c, q;
        id_text(i, s, sizeof s);
        xy__evindex_key(s, strlen(s), key);
        xy__evindex_renumber(&x, key, (uint64_t)i);
        ASSERT_EQ(xy__evindex_find(&x, key, &c, &q), 1);
        ASSERT_EQ(q, (uint64_t)i);
    }
    ASSERT_EQ(x.mem.lo, 3 * N);
    xy_buf plan = {0};
    xy__evindex_plan_list(&x, 3 * N + N / 2, &plan);
    list.len = 0;
    ASSERT_EQ(xy__evindex_spill(&x, 3 * N + N / 2, &list), XY_OK);
    ASSERT(plan.len == list.len && memcmp(plan.data, list.data, list.len) == 0);
    ASSERT_EQ(xy__evindex_adopt(&x, list.data, list.len), XY_OK);
    ASSERT_EQ(x.mem.count, N / 2);
    ASSERT_EQ(found_range(&x, 0, 3 * N), 3 * N);
    xy__buf_free(&plan);
    xy__buf_free(&list);
    /* A memtable as full as it gets, then a load of its own ids announced
     * as a million new ones: all duplicates, so it does not grow; the
     * next new id makes it grow once, for all that was announced. */
    int k = 4 * N;
    while ((x.mem.count + 1) * 4 <= (x.mem.mask + 1) * 3) put_range(&x, k, k + 1, &seq), k++;
    size_t full = x.mem.mask;
    xy__evindex_expect(&x, 1000000);
    for (int i = 4 * N; i < k; i++) {
        char s[32];
        uint64_t key[2], c, q;
        id_text(i, s, sizeof s);
        xy__evindex_key(s, strlen(s), key);
        ASSERT_EQ(xy__evindex_find_or_put(&x, key, (uint64_t)i * 7, seq, &c, &q), 1);
    }
    ASSERT_EQ(x.mem.mask, full);
    uint64_t key[2], c, q;
    xy__evindex_key("new", 3, key);
    ASSERT_EQ(xy__evindex_find_or_put(&x, key, 1, seq, &c, &q), 0);
    ASSERT((x.mem.mask + 1) * 3 >= 4 * (x.mem.count + 1000000 - 1));
    ASSERT_EQ(xy__evindex_find(&x, key, &c, &q), 1);
    xy__evindex_free(&x);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}

/* A spill takes the memory tables' entries cluster by cluster: keys whose
 * homes crowd the table's last slots push their probes past its end, to
 * its first slots, and must still come last in the run. Keys made so that
 * many homes fall at the end and at the start, some in the frozen table
 * and some in the memory table, merged with a run spilled before: verify
 * checks the run's order, and every key is found again. */
TEST(evindex_spill_orders_probes_that_wrap)
{
    char dir[64], cmd[160];
    xy_evindex x;
    ASSERT_EQ(fresh_index(&x, "evwrap", dir, sizeof dir), 0);
    enum { N = 3000 };
    static uint64_t keys[N][2];
    uint64_t seq = 0, rnd = 88172645463325252ull;
    xy_buf list = {0};
    for (int i = 0; i < N; i++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        /* A third at the very top of the key space, a third at its very
         * bottom, a third anywhere. */
        uint64_t hi = i % 3 == 0 ? UINT64_MAX - (rnd >> 40) : i % 3 == 1 ? 1 + (rnd >> 40) : rnd;
        keys[i][0] = hi;
        keys[i][1] = (uint64_t)i + 1;
        xy__evindex_put(&x, keys[i], (uint64_t)i * 3, seq++);
        if (i == N / 3) {
            /* A first run, for the second spill to merge with. */
            list.len = 0;
            ASSERT_EQ(xy__evindex_spill(&x, seq, &list), XY_OK);
            ASSERT_EQ(xy__evindex_adopt(&x, list.data, list.len), XY_OK);
        }
        if (i == 2 * N / 3) xy__evindex_freeze(&x);
    }
    /* Some probe in each table wrapped past the last slot. */
    for (int t = 0; t < 2; t++) {
        const xy_evmem *m = t ? &x.frozen : &x.mem;
        int wrapped = 0;
        for (size_t s = 0; s <= m->mask; s++)
            if ((m->slot[s].hi || m->slot[s].lo) && (m->slot[s].hi >> m->shift) > s) wrapped = 1;
        ASSERT(wrapped);
    }
    list.len = 0;
    ASSERT_EQ(xy__evindex_spill(&x, seq, &list), XY_OK);
    ASSERT_EQ(xy__evindex_adopt(&x, list.data, list.len), XY_OK);
    ASSERT_EQ(x.mem.count + x.frozen.count, 0);
    /* One run holds them all, in order (the first merged into it). */
    uint64_t runs = 0, entries = 0;
    ASSERT_EQ(xy__evindex_verify(dir, &runs, &entries, NULL, NULL), XY_OK);
    ASSERT_EQ(runs, 1);
    ASSERT_EQ(entries, (uint64_t)N);
    for (int i = 0; i < N; i++) {
        uint64_t c = 0, q;
        ASSERT_EQ(xy__evindex_find(&x, keys[i], &c, &q), 1);
        ASSERT_EQ(c, (uint64_t)i * 3);
    }
    xy__buf_free(&list);
    xy__evindex_free(&x);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}

/* Frees x and removes its scratch directory dir; 0, or the shell's status. */
static int drop_index(xy_evindex *x, const char *dir)
{
    char cmd[160];
    xy__evindex_free(x);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* Keys of the same high half are different ids: each is found with its
 * own content and number wherever it is (memtable, frozen table, run),
 * find_or_put puts the one not there yet, and taking one out leaves the
 * others. Real keys are hashes, so no load ever makes such a pair: they are
 * made here. */
TEST(evindex_keys_sharing_their_high_half_are_told_apart)
{
    char dir[64];
    xy_evindex x;
    ASSERT_EQ(fresh_index(&x, "evhi", dir, sizeof dir), 0);
    enum { N = 6 };
    uint64_t keys[N][2], seq = 0, c, q;
    for (int i = 0; i < N; i++) {
        keys[i][0] = 0x8000000000000000ull + (uint64_t)(i / 3); /* three of each high half */
        keys[i][1] = 100 + (uint64_t)i;
    }
    xy_buf list = {0};
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(xy__evindex_find_or_put(&x, keys[i], 10 + (uint64_t)i, seq, &c, &q), 0);
        seq++;
        if (i == 1) {
            /* Into a run, then into the frozen table. */
            ASSERT_EQ(xy__evindex_spill(&x, seq, &list), XY_OK);
            ASSERT_EQ(xy__evindex_adopt(&x, list.data, list.len), XY_OK);
        }
        if (i == 3) xy__evindex_freeze(&x);
    }
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(xy__evindex_find(&x, keys[i], &c, &q), 1);
        ASSERT_EQ(c, 10 + (uint64_t)i);
        ASSERT_EQ(q, i < 2 ? UINT64_MAX : (uint64_t)i);
        ASSERT_EQ(xy__evindex_find_or_put(&x, keys[i], 99, seq, &c, &q), 1);
        ASSERT_EQ(c, 10 + (uint64_t)i);
    }
    uint64_t absent[2] = {keys[0][0], 1};
    ASSERT_EQ(xy__evindex_find(&x, absent, &c, &q), 0);
    /* The first of the memtable's pair out: the second stays. */
    xy__evindex_del(&x, keys[4]);
    ASSERT_EQ(xy__evindex_find(&x, keys[4], &c, &q), 0);
    ASSERT_EQ(xy__evindex_find(&x, keys[5], &c, &q), 1);
    ASSERT_EQ(c, 15);
    xy__buf_free(&list);
    ASSERT_EQ(drop_index(&x, dir), 0);
}

/* A spill up to an event number inside the memtable's range writes the
 * entries below it and keeps the rest, the one numbered upto itself
 * included; the spill the next snapshot makes then takes those. */
TEST(evindex_spill_of_part_of_the_memtable_keeps_the_rest)
{
    enum { N = 500 };
    char dir[64];
    xy_evindex x;
    ASSERT_EQ(fresh_index(&x, "evpart", dir, sizeof dir), 0);
    uint64_t seq = 0;
    put_range(&x, 0, N, &seq);
    xy_buf list = {0};
    ASSERT_EQ(xy__evindex_spill(&x, N - 1, &list), XY_OK);
    ASSERT_EQ(xy__evindex_adopt(&x, list.data, list.len), XY_OK);
    ASSERT_EQ(x.nrun, 1);
    ASSERT_EQ(x.run[0].count, N - 1);
    ASSERT_EQ(x.mem.count, 1);
    ASSERT_EQ(found_range(&x, 0, N), N);
    put_range(&x, N, 2 * N, &seq);
    list.len = 0;
    ASSERT_EQ(xy__evindex_spill(&x, N + N / 2, &list), XY_OK);
    ASSERT_EQ(xy__evindex_adopt(&x, list.data, list.len), XY_OK);
    ASSERT_EQ(x.mem.count, N / 2);
    ASSERT_EQ(found_range(&x, 0, 2 * N), 2 * N);
    uint64_t runs, entries;
    ASSERT_EQ(xy__evindex_verify(dir, &runs, &entries, NULL, NULL), XY_OK);
    ASSERT_EQ(entries, N + N / 2);
    xy__buf_free(&list);
    ASSERT_EQ(drop_index(&x, dir), 0);
}

/* Taking an id out of a cluster of the memtable that wraps past its last
 * slot: the entries after the hole that probed past the end, or sit at
 * their home at its start, stay where their probe finds them, and every
 * other id is still found. Keys made
 * with their home slots at the end of a fresh table of 64 slots (homes
 * are the top six bits of hi). */
TEST(evindex_take_out_of_a_cluster_that_wraps)
{
    char dir[64];
    xy_evindex x;
    ASSERT_EQ(fresh_index(&x, "evdel", dir, sizeof dir), 0);
    enum { N = 6 };
    static const uint64_t home[N] = {61, 62, 63, 63, 63, 0};
    uint64_t keys[N][2], c, q;
    for (int i = 0; i < N; i++) {
        keys[i][0] = home[i] << 58 | (uint64_t)i;
        keys[i][1] = 1;
    }
    /* The last first, at its home, the first slot: the probes that wrap
     * go past it. */
    for (int k = 0; k < N; k++) xy__evindex_put(&x, keys[(k + N - 1) % N], (uint64_t)k, (uint64_t)k);
    ASSERT_EQ(x.mem.mask, 63);
    for (int gone = 0; gone < N; gone++) {
        xy__evindex_del(&x, keys[gone]);
        for (int i = 0; i < N; i++) ASSERT_EQ(xy__evindex_find(&x, keys[i], &c, &q), i > gone);
    }
    ASSERT_EQ(x.mem.count, 0);
    ASSERT_EQ(drop_index(&x, dir), 0);
}

/* A run whose pages begin with the same high half (more keys share it than
 * a page holds): the fences do not tell those pages apart, and a key is
 * found on any of them, the first and the last included. */
TEST(evindex_run_finds_keys_of_one_high_half_over_many_pages)
{
    char dir[64];
    xy_evindex x;
    ASSERT_EQ(fresh_index(&x, "evpages", dir, sizeof dir), 0);
    enum { N = 600 }; /* three pages and a half */
    uint64_t seq = 0, c, q;
    for (uint64_t i = 0; i < N; i++) {
        uint64_t key[2] = {0x4000000000000000ull, 1 + i};
        xy__evindex_put(&x, key, i, seq++);
    }
    /* Neighbours on both sides, in their own pages. */
    uint64_t below[2] = {0x3fffffffffffffffull, 7}, above[2] = {0x4000000000000001ull, 7};
    xy__evindex_put(&x, below, 1000, seq++);
    xy__evindex_put(&x, above, 1001, seq++);
    xy_buf list = {0};
    ASSERT_EQ(xy__evindex_spill(&x, seq, &list), XY_OK);
    ASSERT_EQ(xy__evindex_adopt(&x, list.data, list.len), XY_OK);
    ASSERT_EQ(x.mem.count, 0);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t key[2] = {0x4000000000000000ull, 1 + i};
        ASSERT_EQ(xy__evindex_find(&x, key, &c, &q), 1);
        ASSERT_EQ(c, i);
    }
    ASSERT_EQ(xy__evindex_find(&x, below, &c, &q), 1);
    ASSERT_EQ(c, 1000);
    ASSERT_EQ(xy__evindex_find(&x, above, &c, &q), 1);
    ASSERT_EQ(c, 1001);
    xy__buf_free(&list);
    ASSERT_EQ(drop_index(&x, dir), 0);
}

/* A run list opens only the runs it describes: a file of the right name
 * and layout holding one entry fewer than the list says (a directory's
 * files mixed up with another's) is refused. */
TEST(evindex_run_of_another_count_does_not_open)
{
    char dir[64], other[64], cmd[300];
    xy_evindex x, y;
    ASSERT_EQ(fresh_index(&x, "evcnt", dir, sizeof dir), 0);
    ASSERT_EQ(fresh_index(&y, "evcnt2", other, sizeof other), 0);
    uint64_t seq = 0;
    put_range(&x, 0, 1000, &seq);
    /* The same numbers but one id fewer, the 1000th number not used. */
    seq = 0;
    put_range(&y, 0, 999, &seq);
    xy_buf list = {0}, list2 = {0};
    ASSERT_EQ(xy__evindex_spill(&x, 1000, &list), XY_OK);
    ASSERT_EQ(xy__evindex_spill(&y, 1000, &list2), XY_OK);
    snprintf(cmd, sizeof cmd, "cp %s/ev-0-1000.run %s/", other, dir);
    ASSERT_EQ(system(cmd), 0);
    xy_evindex z;
    xy__evindex_init(&z, dir);
    ASSERT_EQ(xy__evindex_open_runs(&z, list.data, list.len), XY_ECORRUPT);
    ASSERT_EQ(xy__evindex_open_runs(&z, list2.data, list2.len), XY_OK);
    xy__evindex_free(&z);
    xy__buf_free(&list);
    xy__buf_free(&list2);
    ASSERT_EQ(drop_index(&y, other), 0);
    ASSERT_EQ(drop_index(&x, dir), 0);
}

/* The merge policy at its edge: a new run of half the size of the one
 * before it merges with it; one entry less, and it does not. */
TEST(evindex_run_of_half_the_last_merges_with_it)
{
    for (int second = 100; second >= 99; second--) {
        char dir[64];
        xy_evindex x;
        ASSERT_EQ(fresh_index(&x, "evhalf", dir, sizeof dir), 0);
        uint64_t seq = 0;
        xy_buf list = {0};
        for (int k = 0; k < 2; k++) {
            put_range(&x, k ? 200 : 0, k ? 200 + second : 200, &seq);
            list.len = 0;
            ASSERT_EQ(xy__evindex_spill(&x, seq, &list), XY_OK);
            ASSERT_EQ(xy__evindex_adopt(&x, list.data, list.len), XY_OK);
        }
        ASSERT_EQ(x.nrun, second == 100 ? 1 : 2);
        ASSERT_EQ(x.run[0].count, second == 100 ? 300 : 200);
        ASSERT_EQ(found_range(&x, 0, 200 + second), 200 + second);
        xy__buf_free(&list);
        ASSERT_EQ(drop_index(&x, dir), 0);
    }
}

/* find_or_put fills the memtable to three quarters, as put does, and grows
 * it only for the key that would take it past. */
TEST(evindex_find_or_put_grows_only_past_three_quarters)
{
    char dir[64];
    xy_evindex x;
    ASSERT_EQ(fresh_index(&x, "evquart", dir, sizeof dir), 0);
    uint64_t key[2], c, q;
    char s[32];
    int i = 0;
    for (; i < 48; i++) {
        id_text(i, s, sizeof s);
        xy__evindex_key(s, strlen(s), key);
        ASSERT_EQ(xy__evindex_find_or_put(&x, key, 1, (uint64_t)i, &c, &q), 0);
        ASSERT_EQ(x.mem.mask, 63);
    }
    id_text(i, s, sizeof s);
    xy__evindex_key(s, strlen(s), key);
    ASSERT_EQ(xy__evindex_find_or_put(&x, key, 1, (uint64_t)i, &c, &q), 0);
    ASSERT_EQ(x.mem.mask, 127);
    ASSERT_EQ(drop_index(&x, dir), 0);
}

/* verify refuses a run whose name is not the numbers its header covers
 * (renamed by hand), and one holding a key twice (a spill of a memtable
 * that had it twice): a lookup would give either entry. */
TEST(evindex_verify_finds_a_misnamed_run_and_a_repeated_key)
{
    char dir[64], cmd[300];
    xy_evindex x;
    ASSERT_EQ(fresh_index(&x, "evver", dir, sizeof dir), 0);
    uint64_t seq = 0, runs, entries;
    put_range(&x, 0, 300, &seq);
    xy_buf list = {0};
    ASSERT_EQ(xy__evindex_spill(&x, seq, &list), XY_OK);
    ASSERT_EQ(xy__evindex_verify(dir, &runs, &entries, NULL, NULL), XY_OK);
    snprintf(cmd, sizeof cmd, "mv %s/ev-0-300.run %s/ev-1-300.run", dir, dir);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_EQ(xy__evindex_verify(dir, &runs, &entries, NULL, NULL), XY_ECORRUPT);
    snprintf(cmd, sizeof cmd, "rm %s/ev-1-300.run", dir);
    ASSERT_EQ(system(cmd), 0);
    put_range(&x, 299, 300, &seq);
    list.len = 0;
    ASSERT_EQ(xy__evindex_spill(&x, seq, &list), XY_OK);
    ASSERT_EQ(xy__evindex_verify(dir, &runs, &entries, NULL, NULL), XY_ECORRUPT);
    xy__buf_free(&list);
    ASSERT_EQ(drop_index(&x, dir), 0);
}
