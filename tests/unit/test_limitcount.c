/* Unit tests of limitcount.c: random occurrences across citizens, behaviours
 * and years checked against a plain array of counts, with limits large
 * enough to reach the side map for counts of 255 and above, tables that
 * grow, and a save/load round trip in the middle; and what a background
 * snapshot's forked child sees of them. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "limitcount.h"
#include "unit.h"

enum { CITIZENS = 300, NAMES = 5, YEARS = 3 };

static uint32_t rnd_state = 12345;
static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) % n;
}

TEST(limits_count_like_a_plain_table)
{
    static int64_t ref[YEARS][CITIZENS][NAMES];
    const int64_t limit[NAMES] = {1, 3, 254, 300, 1000000};
    /* Citizens far apart and a name id near the top of its 24 bits. */
    const uint32_t cit_of[3] = {0, 7, 4000000000u};
    const int32_t name_of[NAMES] = {0, 1, 77, 1000, XY_LIMITS_MAX_NAME};
    xy_limits l = {0};
    for (int step = 0; step < 400000; step++) {
        int y = (int)rnd(YEARS), c = (int)rnd(CITIZENS), b = (int)rnd(NAMES);
        /* A few citizens get most occurrences, so counts pass 255. */
        if (rnd(2)) c = (int)rnd(3);
        uint32_t citizen = c < 3 ? cit_of[c] : (uint32_t)c * 1000003u;
        int want = ref[y][c][b] < limit[b];
        XY_PREFETCH(xy__limits_first(&l, 2020 + y, xy__limits_hash(citizen, name_of[b])));
        ASSERT_EQ(xy__limits_take(&l, 2020 + y, citizen, name_of[b], limit[b]), want);
        ref[y][c][b] += want;
        if (step == 200000) {
            xy_buf saved = {0};
            xy__limits_save(&l, &saved);
            xy__limits_free(&l);
            ASSERT_EQ(xy__limits_load(&l, NULL, saved.data, saved.len, 1), XY_OK);
            /* A cut or a longer buffer is refused. */
            xy_limits bad = {0};
            ASSERT_EQ(xy__limits_load(&bad, NULL, saved.data, saved.len - 8, 1), XY_ECORRUPT);
            xy__limits_free(&bad);
            xy__buf_free(&saved);
        }
    }
    size_t entries = 0;
    for (int y = 0; y < YEARS; y++)
        for (int c = 0; c < CITIZENS; c++)
            for (int b = 0; b < NAMES; b++) entries += ref[y][c][b] > 0;
    ASSERT_EQ(xy__limits_count(&l), entries);
    /* The heavy citizens reached the limits of 254 and 300 exactly. */
    ASSERT_EQ(ref[0][0][2], 254);
    ASSERT_EQ(ref[0][0][3], 300);
    ASSERT(ref[0][0][4] > 300);
    xy__limits_free(&l);
}

/* The first year's table is made for the guess (no doubling up to it),
 * later years for the largest year so far; fetching ahead makes no table,
 * so a table's size does not depend on how far ahead a caller fetched. */
TEST(limits_first_year_sized_by_the_guess)
{
    xy_limits l = {0};
    l.guess = 3000;
    XY_PREFETCH(xy__limits_first(&l, 2021, xy__limits_hash(5, 1)));
    ASSERT_EQ(l.n, 0);
    ASSERT(xy__limits_first(&l, 2021, xy__limits_hash(5, 1)) == (const void *)&l); /* no table: a harmless address */
    for (uint32_t c = 0; c < 3000; c++) ASSERT_EQ(xy__limits_take(&l, 2021, c, 1, 2), 1);
    ASSERT_EQ(l.n, 1);
    ASSERT_EQ(l.y[0].mask + 1, (size_t)4096); /* room for 3000 at most three quarters full */
    ASSERT_EQ(l.y[0].count, (size_t)3000);
    for (uint32_t c = 0; c < 3000; c++) ASSERT_EQ(xy__limits_take(&l, 2021, c, 1, 2), 1);
    for (uint32_t c = 0; c < 3000; c++) ASSERT_EQ(xy__limits_take(&l, 2021, c, 1, 2), 0);
    /* The next year goes by the first one's count, not the guess. */
    l.guess = 1000000;
    ASSERT_EQ(xy__limits_take(&l, 2022, 1, 1, 2), 1);
    ASSERT_EQ(l.y[1].mask + 1, (size_t)4096);
    xy__limits_free(&l);
}

/* What a forked child saves of l after xy__limits_in_child, compared with
 * want: 1 if equal, 0 if not, -1 if the child could not run. */
static int child_saves(xy_limits *l, const xy_buf *want)
{
    pid_t pid = fork();
    if (pid == 0) {
        xy__limits_in_child(l);
        xy_buf got = {0};
        xy__limits_save(l, &got);
        _exit(got.len == want->len && memcmp(got.data, want->data, got.len) == 0);
    }
    /* The writer goes on counting while the child runs: the copies, not
     * these tables, are what the child must read. */
    for (uint32_t c = 0; c < 50000; c++) xy__limits_take(l, l->y[l->n - 1].year, c * 7919u, 3, 100);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

/* Around a fork, a background snapshot's child sees every year's counts as
 * they were at the fork: the two newest years through their copies (the
 * tables themselves are wiped in the child), older ones shared, also a
 * year whose copy an earlier fork made and this one gave up. Tables of a
 * megabyte and more, the ones that are copied. */
TEST(limits_seen_by_a_snapshot_child)
{
    xy_limits l = {0};
    l.guess = 300000;
    for (int y = 2020; y <= 2021; y++)
        for (uint32_t c = 0; c < 200000; c++) ASSERT_EQ(xy__limits_take(&l, y, c, 1, 5), 1);
    ASSERT(l.y[0].mask + 1 >= ((size_t)1 << 17)); /* a megabyte */
    for (int round = 0; round < 3; round++) {
        /* The third round adds a year: 2020 is no longer copied. */
        if (round == 2)
            for (uint32_t c = 0; c < 200000; c++) ASSERT_EQ(xy__limits_take(&l, 2022, c, 2, 5), 1);
        xy_buf want = {0};
        xy__limits_save(&l, &want);
        xy__limits_before_fork(&l);
        ASSERT(l.y[l.n - 1].child && l.y[l.n - 2].child);
        ASSERT(l.n < 3 || (!l.y[0].child && !l.y[0].copy.p));
        ASSERT_EQ(child_saves(&l, &want), 1);
        xy__buf_free(&want);
    }
    xy__limits_free(&l);
}

/* Tables saved and loaded from a file in place: a table of a megabyte or
 * more starts at a page boundary of what xy__limits_save wrote, and
 * xy__limits_load maps it from the file (it shows in the process's
 * mappings). The counts read back the same; counting on writes private
 * copies of the pages and leaves the file as it was. */
TEST(limits_large_tables_load_mapped)
{
    xy_limits l = {0};
    l.guess = 300000;
    for (int y = 2020; y <= 2021; y++)
        for (uint32_t c = 0; c < 200000 + (uint32_t)y; c++) ASSERT_EQ(xy__limits_take(&l, y, c, 1, 2), 1);
    xy_buf saved = {0};
    xy__limits_save(&l, &saved);
    char path[64];
    snprintf(path, sizeof path, "/tmp/xy-unit-limits-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    ASSERT(f != NULL);
    ASSERT_EQ(fwrite(saved.data, 1, saved.len, f), saved.len);
    fclose(f);
    int fd = open(path, O_RDONLY);
    ASSERT(fd >= 0);
    unsigned char *map = mmap(NULL, saved.len, PROT_READ, MAP_PRIVATE, fd, 0);
    ASSERT(map != MAP_FAILED);
    xy_big_src src = {map, fd, 1};
    xy_limits got = {0};
    ASSERT_EQ(xy__limits_load(&got, &src, map, saved.len, 1), XY_OK);
    munmap(map, saved.len);
    close(fd);
    /* Both years' tables, mapped apart from the file's mapping above. */
    char line[512];
    int maps = 0;
    FILE *m = fopen("/proc/self/maps", "r");
    while (m && fgets(line, sizeof line, m)) maps += strstr(line, path) != NULL;
    if (m) fclose(m);
    ASSERT_EQ(maps, 2);
    for (int y = 2020; y <= 2021; y++)
        for (uint32_t c = 0; c < 200000 + (uint32_t)y; c += 997) ASSERT_EQ(xy__limits_take(&got, y, c, 1, 2), 1);
    for (uint32_t c = 0; c < 202021; c += 997) ASSERT_EQ(xy__limits_take(&got, 2021, c, 1, 2), 0);
    ASSERT_EQ(xy__limits_take(&got, 2021, 202021, 1, 2), 1); /* a new entry */
    char *again;
    size_t len;
    ASSERT_EQ(xy__read_file(path, &again, &len), XY_OK);
    ASSERT(len == saved.len && memcmp(again, saved.data, len) == 0);
    xy__free(again);
    unlink(path);
    xy__limits_free(&got);
    xy__limits_free(&l);
    xy__buf_free(&saved);
}

/* Builds a saved form of one or two years word by word: n, then per year
 * its header (year, mask, count, side-map count, padding), the padding,
 * the slots (one entry in the first, with a count of 255 when the year has
 * side-map entries) and the side map's key-value pairs. */
static size_t limits_form(uint64_t *w, int nyears, const int64_t *years, uint64_t mask, uint64_t count,
                          uint64_t pad, uint64_t over_key)
{
    size_t at = 0;
    w[at++] = (uint64_t)nyears;
    for (int i = 0; i < nyears; i++) {
        uint64_t head[5] = {(uint64_t)years[i], mask, count, over_key ? 1 : 0, pad};
        memcpy(w + at, head, sizeof head);
        at += 5;
        memset(w + at, 0, (size_t)pad + (mask + 1) * 8);
        at += (size_t)pad / 8;
        w[at] = xy__limits_key(7, 1) | (over_key ? 0xff : 1);
        at += mask + 1;
        if (over_key) {
            w[at++] = over_key;
            w[at++] = 300;
        }
    }
    return at * 8;
}

/* What xy__limits_load says of a saved form. */
static int limits_load_form(const uint64_t *w, size_t len)
{
    xy_limits l = {0};
    int rc = xy__limits_load(&l, NULL, w, len, 1);
    xy__limits_free(&l);
    return rc;
}

/* A saved form that no save writes is refused, as is one word too many:
 * a table whose size is no power of two, or of fewer than two slots, or
 * with no free slot (a lookup for an absent key would never end), a count
 * its slots do not show, years out of order or twice, a year out of
 * range, padding of a page or more, a side-map key that is the map's
 * empty marker. The forms beside them that differ by one are read. */
TEST(limits_load_refuses_what_no_save_writes)
{
    static uint64_t w[1024];
    const int64_t y1[1] = {2020}, ok2[2] = {2020, 2021}, same[2] = {2021, 2021}, down[2] = {2021, 2020};
    const int64_t top[1] = {100000}, past_top[1] = {100001}, bottom[1] = {-100000}, past_bottom[1] = {-100001};
    size_t len = limits_form(w, 1, y1, 7, 1, 0, 0);
    ASSERT_EQ(limits_load_form(w, len), XY_OK);
    ASSERT_EQ(limits_load_form(w, len + 8), XY_ECORRUPT); /* a word more: zero, as the array's rest */
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, y1, 1, 1, 0, 0)), XY_OK);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, y1, 0, 0, 0, 0)), XY_ECORRUPT);
    w[6] = 0; /* without its entry, so that only the size is wrong */
    ASSERT_EQ(limits_load_form(w, 7 * 8), XY_ECORRUPT);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, y1, 6, 1, 0, 0)), XY_ECORRUPT);
    len = limits_form(w, 1, y1, 1, 2, 0, 0);
    w[7] = xy__limits_key(8, 1) | 1; /* both slots taken */
    ASSERT_EQ(limits_load_form(w, len), XY_ECORRUPT);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, y1, 7, 2, 0, 0)), XY_ECORRUPT);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, y1, 7, 0, 0, 0)), XY_ECORRUPT);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 2, ok2, 7, 1, 0, 0)), XY_OK);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 2, same, 7, 1, 0, 0)), XY_ECORRUPT);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 2, down, 7, 1, 0, 0)), XY_ECORRUPT);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, top, 7, 1, 0, 0)), XY_OK);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, past_top, 7, 1, 0, 0)), XY_ECORRUPT);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, bottom, 7, 1, 0, 0)), XY_OK);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, past_bottom, 7, 1, 0, 0)), XY_ECORRUPT);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, y1, 7, 1, 4088, 0)), XY_OK);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, y1, 7, 1, 4096, 0)), XY_ECORRUPT);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, y1, 7, 1, 0, xy__limits_key(7, 1) >> 8)), XY_OK);
    ASSERT_EQ(limits_load_form(w, limits_form(w, 1, y1, 7, 1, 0, XY_MAP_EMPTY)), XY_ECORRUPT);
}

/* A limit of 0 (which the rules never give, but the table takes) counts
 * nothing and makes no entry. */
TEST(limits_zero_takes_nothing)
{
    xy_limits l = {0};
    ASSERT_EQ(xy__limits_take(&l, 2020, 5, 1, 0), 0);
    ASSERT_EQ(xy__limits_count(&l), 0);
    ASSERT_EQ(xy__limits_take(&l, 2020, 5, 1, 1), 1);
    ASSERT_EQ(xy__limits_take(&l, 2020, 5, 1, 1), 0);
    ASSERT_EQ(xy__limits_count(&l), 1);
    xy__limits_free(&l);
}

/* Counts past 254 live in the side map; a save carries every one of its
 * slots, the last one too (keys are added until it is taken), and a load
 * gives each count back exactly. */
TEST(limits_side_map_survives_save_and_load)
{
    enum { TAKES = 256 };
    xy_limits l = {0};
    uint32_t keys = 0;
    const xy_map *over = NULL;
    while (keys < 100000 && !(over && over->slots[over->mask].key)) {
        for (int t = 0; t < TAKES; t++) ASSERT_EQ(xy__limits_take(&l, 2020, keys, 1, TAKES), 1);
        keys++;
        over = &l.y[0].over;
    }
    ASSERT(over->slots[over->mask].key != 0);
    xy_buf saved = {0};
    xy__limits_save(&l, &saved);
    xy__limits_free(&l);
    ASSERT_EQ(xy__limits_load(&l, NULL, saved.data, saved.len, 1), XY_OK);
    for (uint32_t c = 0; c < keys; c++) {
        ASSERT_EQ(xy__limits_take(&l, 2020, c, 1, TAKES), 0);
        ASSERT_EQ(xy__limits_take(&l, 2020, c, 1, TAKES + 1), 1);
    }
    xy__limits_free(&l);
    xy__buf_free(&saved);
}
