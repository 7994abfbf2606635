/* Unit tests of util.c: the paced writer of background files, the map's
 * reserve, the names memo, private buffers, populating beside other work,
 * the environment's sizes, write and directory-sync statuses, UTF-8
 * validity, mapped files cut short. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "util.h"

/* Pieces of every size class (small, around a chunk, several chunks) land
 * in order and whole, the pacer follows the file offset, and writeback
 * has been started on all but the last chunk's worth. */
TEST(paced_writes_keep_order_and_follow_the_offset)
{
    const char *path = unit_file("paced", "");
    int fd = open(path, O_WRONLY | O_TRUNC);
    ASSERT(fd >= 0);
    const size_t sizes[] = {1, 4095, (size_t)XY_PACE_BYTES - 7, 100, (size_t)XY_PACE_BYTES * 2 + 13, 5};
    size_t total = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) total += sizes[k];
    unsigned char *want = malloc(total);
    ASSERT(want);
    for (size_t i = 0; i < total; i++) want[i] = (unsigned char)(i * 2654435761u >> 13);
    /* The file starts after a header the caller writes last, as a run. */
    ASSERT_EQ(lseek(fd, 64, SEEK_SET), 64);
    xy_pacer pc = {64, 0};
    size_t at = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        ASSERT_EQ(xy__write_paced(fd, want + at, sizes[k], &pc), 0);
        at += sizes[k];
        ASSERT_EQ(pc.off, 64 + at);
        ASSERT(pc.started <= pc.off && pc.off - pc.started < XY_PACE_BYTES);
    }
    ASSERT(pc.started > 2 * XY_PACE_BYTES);
    close(fd);
    char *got;
    size_t len;
    ASSERT_EQ(xy__read_file(path, &got, &len), XY_OK);
    ASSERT_EQ(len, 64 + total);
    ASSERT(memcmp(got + 64, want, total) == 0);
    xy__free(got);
    free(want);
    /* A failed write is reported, not retried into a loop. */
    xy_pacer bad = {0, 0};
    ASSERT_EQ(xy__write_paced(-1, "x", 1, &bad), EBADF);
}

/* A map reserved for N keys takes them without growing, and keeps every
 * key it had. */
TEST(map_reserve_holds_what_it_promised)
{
    xy_map m;
    xy__map_init(&m, 4);
    int is_new;
    for (uint64_t k = 1; k <= 10; k++) *xy__map_put(&m, k * 7919, &is_new) = k;
    xy__map_reserve(&m, 5000);
    size_t mask = m.mask;
    ASSERT((mask + 1) * 3 >= 4 * 5000); /* at most three quarters full */
    for (uint64_t k = 11; k <= 5000; k++) {
        *xy__map_put(&m, k * 7919, &is_new) = k;
        ASSERT(is_new);
    }
    ASSERT_EQ(m.mask, mask);
    ASSERT_EQ(m.count, 5000);
    for (uint64_t k = 1; k <= 5000; k++) {
        const uint64_t *v = xy__map_get(&m, k * 7919);
        ASSERT(v && *v == k);
    }
    /* Reserving less than it holds changes nothing. */
    xy__map_reserve(&m, 100);
    ASSERT_EQ(m.mask, mask);
    xy__map_free(&m);
    /* A zeroed map, never initialised, can be reserved too. */
    xy_map z = {0};
    xy__map_reserve(&z, 300);
    ASSERT(z.slots != NULL && (z.mask + 1) * 3 >= 4 * 300);
    *xy__map_put(&z, 42, &is_new) = 7;
    ASSERT(is_new && *xy__map_get(&z, 42) == 7);
    xy__map_free(&z);
}

/* The memo answers as the table does: for names asked again, for names
 * that share a memo slot (same length, first and last letter), for names
 * too long to memo and for names the table does not have. */
TEST(names_memo_answers_as_the_table)
{
    xy_names t;
    xy__names_init(&t);
    char name[64];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "b%03dx", i); /* many share a slot */
        xy__names_intern(&t, name, strlen(name));
    }
    const char *lng = "a_behaviour_name_that_is_longer_than_forty_letters";
    int32_t long_id = xy__names_intern(&t, lng, strlen(lng));
    xy_names_memo m;
    memset(&m, 0, sizeof m);
    uint32_t rnd = 12345;
    for (int k = 0; k < 20000; k++) {
        rnd = rnd * 1664525u + 1013904223u;
        int i = (int)((rnd >> 8) % 340); /* 300 and up are unknown */
        snprintf(name, sizeof name, "b%03dx", i);
        ASSERT_EQ(xy__names_find_memo(&t, &m, name, strlen(name)), xy__names_find(&t, name, strlen(name)));
        ASSERT_EQ(xy__names_find_memo(&t, &m, name, strlen(name)), i < 300 ? i : -1);
    }
    ASSERT_EQ(xy__names_find_memo(&t, &m, lng, strlen(lng)), long_id);
    ASSERT_EQ(xy__names_find_memo(&t, &m, "b001", 4), -1); /* a prefix of a name */
    ASSERT_EQ(xy__names_find_memo(&t, &m, "", 0), -1);
    xy__names_free(&t);
}

/* What the child of a fork sees of b's first and last byte: 1 if both are
 * zero (wiped), 0 if both are as the parent wrote them, 2 otherwise. */
static int child_sees_zeros(const xy_buf *b)
{
    pid_t pid = fork();
    if (pid == 0) _exit(b->data[0] == 0 && b->data[b->len - 1] == 0 ? 1 : b->data[0] == 'x' && b->data[b->len - 1] == 'y' ? 0 : 2);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

/* A private buffer (the batch a load encodes) is wiped in a forked child,
 * also after it grew (the mark follows the remapped block); a plain
 * buffer is shared as usual. */
TEST(private_buffers_are_wiped_in_a_child)
{
    xy_buf p = {0}, q = {0};
    xy__buf_private(&p);
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 10; i++) {
        xy__buf_append(&p, chunk, sizeof chunk);
        xy__buf_append(&q, chunk, sizeof chunk);
    }
    xy__buf_append(&p, "y", 1);
    xy__buf_append(&q, "y", 1);
    ASSERT_EQ(child_sees_zeros(&p), 1);
    ASSERT_EQ(child_sees_zeros(&q), 0);
    /* Grown to several times its first mapping. */
    p.len--;
    for (int i = 0; i < 1200; i++) xy__buf_append(&p, chunk, sizeof chunk);
    xy__buf_append(&p, "y", 1);
    ASSERT(p.cap > ((size_t)4 << 20));
    ASSERT_EQ(child_sees_zeros(&p), 1);
    ASSERT_EQ(p.data[0], 'x');
    xy__buf_free(&p);
    ASSERT_EQ(p.kind, XY_BUF_PRIVATE);
    xy__buf_free(&q);
}

/* A big buffer (the engine's names) keeps every byte as it grows from the
 * heap into a mapping and past several of them, and a forked child (a
 * snapshot's) sees it as the parent wrote it. */
TEST(big_buffers_keep_their_bytes_and_are_shared_with_a_child)
{
    xy_buf b = {0};
    xy__buf_big(&b);
    for (size_t i = 0; i < ((size_t)5 << 20); i++) {
        char c = (char)('a' + i % 26);
        xy__buf_append(&b, &c, 1);
    }
    ASSERT(b.cap >= ((size_t)5 << 20));
    int same = 1;
    for (size_t i = 0; i < b.len; i++) same &= b.data[i] == (char)('a' + i % 26);
    ASSERT(same);
    b.data[0] = 'x';
    b.data[b.len - 1] = 'y';
    ASSERT_EQ(child_sees_zeros(&b), 0);
    xy__buf_free(&b);
    ASSERT_EQ(b.kind, XY_BUF_BIG);
    ASSERT(b.data == NULL && b.cap == 0);
}

static void note_ran(void *arg) { *(int *)arg += 1; }

/* The ranges are resident when xy__populate_beside returns, and fn ran
 * once, on the calling thread's side of the work. */
TEST(populate_beside_faults_in_the_ranges)
{
    size_t len = (size_t)16 << 20;
    char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(a != MAP_FAILED && b != MAP_FAILED);
    void *const p[2] = {a + 100, b};
    const size_t n[2] = {len - 100, len / 2};
    int ran = 0;
    xy__populate_beside(p, n, 2, note_ran, &ran);
    ASSERT_EQ(ran, 1);
    /* Without a thread the pages fault in as they are used, as documented. */
    if (!unit_threads()) {
        ASSERT_EQ(a[len - 1], 0);
        munmap(a, len);
        munmap(b, len);
        return;
    }
    size_t pages = len / 4096;
    unsigned char *vec = malloc(pages);
    ASSERT(vec != NULL);
    ASSERT_EQ(mincore(a, len, vec), 0);
    for (size_t i = 0; i < pages; i++) ASSERT(vec[i] & 1);
    ASSERT_EQ(mincore(b, len, vec), 0);
    for (size_t i = 0; i < pages / 2; i++) ASSERT(vec[i] & 1);
    free(vec);
    /* Contents untouched: fresh memory reads as zeros. */
    ASSERT_EQ(a[len - 1], 0);
    munmap(a, len);
    munmap(b, len);
}

TEST(env_bytes_takes_only_a_positive_number)
{
    const char *name = "XY_UNIT_ENV_BYTES";
    unsetenv(name);
    ASSERT_EQ(xy__env_bytes(name, 77), 77);
    const char *bad[] = {"", "0", "12x", "-5", " 5", "x", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv(name, bad[i], 1);
        ASSERT_EQ(xy__env_bytes(name, 77), 77);
    }
    setenv(name, "4096", 1);
    ASSERT_EQ(xy__env_bytes(name, 77), 4096);
    unsetenv(name);
}

/* A sink that keeps the last message. */
static void keep_message(void *ctx, const char *msg)
{
    xy_buf *b = ctx;
    b->len = 0;
    xy__buf_append(b, msg, strlen(msg));
}

TEST(formatted_text_is_whole_however_long)
{
    /* Longer than any fixed buffer the formatting goes through, appended
     * to text already there. */
    char part[5001];
    memset(part, 'p', sizeof part - 1);
    part[sizeof part - 1] = 0;
    xy_buf b = {0};
    xy__buf_printf(&b, "%s", "head:");
    xy__buf_printf(&b, "%s:%d", part, 42);
    ASSERT_EQ(b.len, 5 + 5000 + 3);
    ASSERT(memcmp(b.data, "head:ppp", 8) == 0);
    ASSERT_STR(b.data + b.len - 4, "p:42");
    xy_buf got = {0};
    xy__diagf(keep_message, &got, "%s:%d:%d: %s", part, 7, 3, "the end");
    ASSERT_EQ(got.len, 5000 + 13);
    ASSERT_STR(got.data + 5000, ":7:3: the end");
    xy__diagf(NULL, &got, "%s", "nobody listens"); /* no sink: nothing */
    ASSERT_STR(got.data + 5000, ":7:3: the end");
    xy__buf_free(&b);
    xy__buf_free(&got);
}

TEST(write_status_says_full_disk_apart)
{
    int fd = open("/dev/full", O_WRONLY);
    if (fd < 0) return; /* no /dev/full here: nothing to learn */
    ASSERT_EQ(xy__write_status(fd, "abc", 3), XY_ENOSPC);
    close(fd);
    fd = open("/dev/null", O_WRONLY);
    ASSERT(fd >= 0);
    ASSERT_EQ(xy__write_status(fd, "abc", 3), XY_OK);
    close(fd);
    ASSERT_EQ(xy__write_status(-1, "abc", 3), XY_EIO);
    ASSERT_EQ(xy__errno_status(0), XY_OK);
    ASSERT_EQ(xy__errno_status(EDQUOT), XY_ENOSPC);
    ASSERT_EQ(xy__errno_status(EIO), XY_EIO);
    ASSERT_EQ(xy__fsync_dir("/nonexistent-xy-dir"), XY_EIO);
    ASSERT_EQ(xy__fsync_dir("."), XY_OK);
}

/* A read that meets the end of the file before it has all it asked for
 * fails with EIO (a file cut short under its reader), and one that gets
 * it all succeeds. */
TEST(pread_all_fails_at_the_end_of_the_file)
{
    char path[64], got[8];
    snprintf(path, sizeof path, "/tmp/xy-unit-pread-%d", (int)getpid());
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, "abcdef", 6), 6);
    ASSERT_EQ(xy__pread_all(fd, got, 4, 2), 0);
    ASSERT(memcmp(got, "cdef", 4) == 0);
    errno = 0;
    ASSERT_EQ(xy__pread_all(fd, got, 5, 2), -1);
    ASSERT_EQ(errno, EIO);
    close(fd);
    unlink(path);
}

/* Written back and dropped: the range leaves the page cache, the rest of
 * the file stays, and the bytes read back the same. The halves are 2 MB
 * each: the page cache may hold a file in folios of up to that size,
 * aligned to it, and a folio only partly in the range stays. A pipe,
 * which takes no writeback control, is left alone without an error. */
TEST(write_back_drops_the_written_range)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/xy-unit-wb-%d", (int)getpid());
    size_t len = (size_t)4 << 20;
    char *buf = malloc(len);
    ASSERT(buf != NULL);
    for (size_t i = 0; i < len; i++) buf[i] = (char)(i * 7 + 3);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT(fd >= 0);
    ASSERT_EQ(xy__write_all(fd, buf, len), 0);
    ASSERT_EQ(xy__write_back(fd, 0, len / 2, 1), 0);
    long before = unit_cached_pages(path, 0, len / 2), after = unit_cached_pages(path, len / 2, len / 2);
    if (before >= 0) {
        ASSERT_EQ(before, 0);
        ASSERT_EQ(after, (long)(len / 2 / 4096));
    }
    char *back = malloc(len);
    ASSERT(back != NULL);
    ASSERT_EQ(pread(fd, back, len, 0), (ssize_t)len);
    ASSERT(memcmp(back, buf, len) == 0);
    close(fd);
    unlink(path);
    free(back);
    free(buf);
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    ASSERT_EQ(xy__write_back(p[1], 0, 4096, 1), 0);
    close(p[0]);
    close(p[1]);
}

/* Every page of the range is resident afterwards, on two threads or (at
 * the limit of threads, and below XY_POPULATE_SPLIT) on one, and reads as
 * zeros. */
TEST(populate_faults_in_the_whole_range)
{
    size_t sizes[] = {(size_t)1 << 20, ((size_t)16 << 20) + 3 * 4096};
    for (size_t k = 0; k < 2; k++) {
        size_t len = sizes[k], pages = len / 4096;
        char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ASSERT(a != MAP_FAILED);
        xy__populate(a, len);
        unsigned char *vec = malloc(pages);
        ASSERT(vec != NULL);
        ASSERT_EQ(mincore(a, len, vec), 0);
        size_t resident = 0;
        for (size_t i = 0; i < pages; i++) resident += vec[i] & 1;
        free(vec);
        ASSERT_EQ(resident, pages);
        ASSERT_EQ(a[0], 0);
        ASSERT_EQ(a[len - 1], 0);
        munmap(a, len);
    }
}

/* Well-formed UTF-8 is accepted whole, up to four-byte sequences; each
 * kind of ill-formed sequence stops the valid prefix where it starts. */
TEST(utf8_valid_stops_at_the_first_ill_formed_sequence)
{
    static const struct {
        const char *s;
        size_t valid;
    } cases[] = {
        {"", 0},
        {"plain ascii", 11},
        {"\xe9\x99\x88\xe9\x9d\x99 caf\xc3\xa9", 12},   /* 陈静 café */
        {"\xf0\x9f\x98\x80!", 5},                         /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4},                            /* U+10FFFF */
        {"ab\xff", 2},                                       /* never in UTF-8 */
        {"ab\x80", 2},                                       /* a lone continuation */
        {"ab\xc0\xaf", 2},                                   /* overlong '/' */
        {"ab\xe0\x80\xaf", 2},                               /* overlong, three bytes */
        {"ab\xed\xa0\x80", 2},                               /* a surrogate, U+D800 */
        {"ab\xf4\x90\x80\x80", 2},                           /* past U+10FFFF */
        {"ab\xe9\x99", 2},                                   /* cut short */
        {"ab\xe9x\x88", 2},                                  /* not continued */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ASSERT_EQ(xy__utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].valid);
}

/* A mapped file that another process cuts short reads zeros past its new
 * end instead of raising SIGBUS, and the mapping says so; one left alone
 * says nothing. */
TEST(mapped_file_cut_short_reads_zeros)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/xy-unit-guard-%d", (int)getpid());
    enum { LEN = 5 * 4096 + 100 };
    char *bytes = malloc(LEN);
    ASSERT(bytes != NULL);
    memset(bytes, 'x', LEN);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, bytes, LEN), LEN);
    close(fd);
    xy_file f, g;
    ASSERT_EQ(xy__file_open(path, &f), XY_OK);
    ASSERT_EQ(xy__file_open(path, &g), XY_OK);
    ASSERT(f.heap == NULL && f.len == LEN);
    ASSERT_EQ(f.data[4096], 'x'); /* read before the cut: the cut takes it away all the same */
    ASSERT_EQ(truncate(path, 100), 0);
    size_t xs = 0, zeros = 0;
    for (size_t i = 0; i < f.len; i += 512) {
        xs += f.data[i] == 'x';
        zeros += f.data[i] == 0;
    }
    ASSERT(xs >= 1 && zeros > 0 && xs + zeros == (f.len + 511) / 512);
    ASSERT(xy__guard_hit(f.data));
    ASSERT(!xy__guard_hit(g.data)); /* g read nothing past the end */
    xy__file_close(&f);
    xy__file_close(&g);
    unlink(path);
    free(bytes);
}
