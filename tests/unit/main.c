/* main.c -- runs every registered unit test; prints "ok NAME" or "FAIL
 * NAME" per test and "N passed, N failed" last. */
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "unit.h"

#define MAX_TESTS 512

static struct {
    const char *name;
    unit_fn *fn;
} tests[MAX_TESTS];
static int ntests;
int unit_failed_now;
static char scratch[256];

void unit_register(const char *name, unit_fn *fn)
{
    if (ntests == MAX_TESTS) abort();
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

const char *unit_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
    return path;
}

static void *nothing(void *arg) { return arg; }

int unit_threads(void)
{
    pthread_t th;
    if (pthread_create(&th, NULL, nothing, NULL)) return 0;
    pthread_join(th, NULL);
    return 1;
}

long unit_cached_pages(const char *path, size_t off, size_t len)
{
    int fd = open(path, O_RDONLY);
    struct statfs fs;
    if (fd < 0 || fstatfs(fd, &fs) || fs.f_type == TMPFS_MAGIC) {
        if (fd >= 0) close(fd);
        return -1;
    }
    unsigned char *m = mmap(NULL, off + len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return -1;
    size_t first = off / 4096, pages = (off + len + 4095) / 4096 - first;
    unsigned char *vec = malloc(pages);
    long n = -1;
    if (vec && mincore(m + first * 4096, pages * 4096, vec) == 0) {
        n = 0;
        for (size_t i = 0; i < pages; i++) n += vec[i] & 1;
    }
    free(vec);
    munmap(m, off + len);
    return n;
}

long unit_read_through(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    *len = 0;
    if (fd < 0) return -1;
    if (fstat(fd, &st) == 0) *len = (size_t)st.st_size;
    char buf[1 << 16];
    while (read(fd, buf, sizeof buf) > 0) continue;
    close(fd);
    return unit_cached_pages(path, 0, *len);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
    snprintf(scratch, sizeof scratch, "/tmp/xy-unit-%d", (int)getpid());
    mkdir(scratch, 0755);
    qsort(tests, (size_t)ntests, sizeof tests[0], by_name);
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1])) continue;
        unit_failed_now = 0;
        tests[i].fn();
        if (unit_failed_now) {
            printf("FAIL %s\n", tests[i].name);
            failed++;
        } else {
            printf("ok %s\n", tests[i].name);
            passed++;
        }
        /* A test that forks must not leave its child a copy of lines
         * still buffered, which the child would print again. */
        fflush(stdout);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch);
    if (system(cmd)) {}
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

char *unit_env_set(const char *name, const char *value)
{
    const char *had = getenv(name);
    char *saved = had ? strdup(had) : NULL;
    setenv(name, value, 1);
    return saved;
}

void unit_env_restore(const char *name, char *saved)
{
    if (saved) setenv(name, saved, 1);
    else unsetenv(name);
    free(saved);
}
