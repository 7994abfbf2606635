/* unit.h -- a small unit-test harness: TEST(name) defines and registers a
 * test; ASSERT/ASSERT_EQ fail it with file:line and the values. */
#ifndef XY_UNIT_H
#define XY_UNIT_H

#include <stdio.h>
#include <string.h>

typedef void unit_fn(void);
void unit_register(const char *name, unit_fn *fn);
extern int unit_failed_now;

#define TEST(name)                                                          \
    static void name(void);                                                 \
    __attribute__((constructor)) static void reg_##name(void)               \
    {                                                                       \
        unit_register(#name, name);                                         \
    }                                                                       \
    static void name(void)

#define ASSERT(cond)                                                        \
    do {                                                                    \
        if (!(cond)) {                                                      \
            printf("  %s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
            unit_failed_now = 1;                                            \
            return;                                                         \
        }                                                                   \
    } while (0)

#define ASSERT_EQ(a, b)                                                     \
    do {                                                                    \
        long long a_ = (long long)(a), b_ = (long long)(b);                 \
        if (a_ != b_) {                                                     \
            printf("  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, a_, #b, b_); \
            unit_failed_now = 1;                                            \
            return;                                                         \
        }                                                                   \
    } while (0)

#define ASSERT_STR(a, b)                                                    \
    do {                                                                    \
        const char *a_ = (a), *b_ = (b);                                    \
        if (strcmp(a_, b_) != 0) {                                          \
            printf("  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, a_, b_); \
            unit_failed_now = 1;                                            \
            return;                                                         \
        }                                                                   \
    } while (0)

/* Writes text to a fresh file under the test's scratch directory and
 * returns its path (static storage, valid until the next call). */
const char *unit_file(const char *name, const char *text);

/* Whether this process can start a thread: not under the fault shim's
 * thread:EAGAIN (tests/fault/fault.c), which the black-box tests use to
 * run the unit tests with every fallback for a missing thread taken. */
int unit_threads(void);

/* How many of the pages of bytes [off, off + len) of the file at path are
 * in the page cache, or -1 if that cannot be told (a file system whose
 * pages never leave the cache, tmpfs, tells nothing). */
long unit_cached_pages(const char *path, size_t off, size_t len);

/* Reads the whole file at path (into the page cache), sets *len to its
 * size, and returns unit_cached_pages of all of it (-1 also when the file
 * does not open). */
long unit_read_through(const char *path, size_t *len);

/* Sets the environment variable name (one of the store's sizes) to value
 * for one test and returns what was set before (a copy, or NULL), for
 * unit_env_restore: the suite may run with its own
 * (XINYONG_SNAPSHOT_EVERY=3000 make test). */
char *unit_env_set(const char *name, const char *value);
/* Puts back what unit_env_set found (and frees it). */
void unit_env_restore(const char *name, char *saved);

#endif
