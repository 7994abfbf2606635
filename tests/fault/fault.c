/* fault.c -- an LD_PRELOAD shim for fault-injection tests. It makes
 * write(), fdatasync()/fsync() or fallocate() fail on files whose path
 * ends with XY_FAULT_FILE (default: the log's segments, DATA/log and
 * DATA/log.N). XY_FAULT is a comma-separated list of faults, each one of
 *   write:ENOSPC | write:EIO | fsync:ENOSPC | fsync:EIO |
 *   fallocate:ENOSPC | fallocate:EOPNOTSUPP | writeback:EIO
 * (writeback: sync_file_range, a failed writeback that its wait saw)
 * or write:SIGKILL, which kills the process at its first write to such a
 * file (a crash at that moment), or write:DIRECT, which fails writes with
 * EINVAL while the file is open with O_DIRECT (a file system that does not
 * take direct I/O). With XY_FAULT_SKIP=N the first N calls that would
 * fail pass through (a fault in the middle of a run of writes); with
 * XY_FAULT_TIMES=N only N calls fail, those after them pass through (a
 * fault that goes away, as a full disk that someone makes room on).
 * thread:EAGAIN makes every pthread_create() fail, as in a process at its
 * limit of threads. open:PAUSE makes the first open() of a path ending
 * with XY_FAULT_FILE wait XY_FAULT_MS milliseconds (default 1000) first:
 * a reader slow at that moment, for races with a writer; open:DIRECT makes
 * every open() with O_DIRECT of such a path fail with EINVAL (a file
 * system that does not take direct I/O at all, as tmpfs). Other calls pass
 * through untouched. pwrite() counts as a write (the history index and an
 * event-index run's header are written with it). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What XY_FAULT asks of op (the text after "op:"), or NULL. */
static const char *fault_of(const char *op)
{
    const char *f = getenv("XY_FAULT");
    size_t lo = strlen(op);
    while (f && (strncmp(f, op, lo) != 0 || f[lo] != ':')) {
        f = strchr(f, ',');
        if (f) f++;
    }
    return f ? f + lo + 1 : NULL;
}

static int matches(int fd, const char *op)
{
    const char *f = fault_of(op);
    if (!f) return 0;
    const char *suffix = getenv("XY_FAULT_FILE");
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    if (suffix) {
        size_t ls = strlen(suffix);
        if ((size_t)n < ls || strcmp(path + n - ls, suffix) != 0) return 0;
    } else {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (strcmp(base, "log") != 0 && (strncmp(base, "log.", 4) != 0 || !base[4] ||
                                         strspn(base + 4, "0123456789") != strlen(base + 4)))
            return 0;
    }
    if (strncmp(f, "DIRECT", 6) == 0) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || !(fl & O_DIRECT)) return 0;
    }
    static long skipped;
    const char *skip = getenv("XY_FAULT_SKIP");
    if (skip && __atomic_fetch_add(&skipped, 1, __ATOMIC_RELAXED) < atol(skip)) return 0;
    static long failed;
    const char *times = getenv("XY_FAULT_TIMES");
    if (times && __atomic_fetch_add(&failed, 1, __ATOMIC_RELAXED) >= atol(times)) return 0;
    if (strncmp(f, "SIGKILL", 7) == 0) raise(SIGKILL);
    errno = strncmp(f, "DIRECT", 6) == 0 ? EINVAL : strncmp(f, "ENOSPC", 6) == 0 ? ENOSPC
          : strncmp(f, "EOPNOTSUPP", 10) == 0 ? EOPNOTSUPP : EIO;
    return 1;
}

ssize_t write(int fd, const void *buf, size_t count)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (matches(fd, "write")) return -1;
    return real(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    if (matches(fd, "write")) return -1;
    return real(fd, buf, count, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    if (matches(fd, "write")) return -1;
    return real(fd, buf, count, off);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (matches(fd, "fsync")) return -1;
    return real(fd);
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (matches(fd, "fsync")) return -1;
    return real(fd);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    static int (*real)(int, int, off_t, off_t);
    if (!real) real = (int (*)(int, int, off_t, off_t))dlsym(RTLD_NEXT, "fallocate");
    if (matches(fd, "fallocate")) return -1;
    return real(fd, mode, off, len);
}

int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
    static int (*real)(int, off64_t, off64_t, unsigned int);
    if (!real) real = (int (*)(int, off64_t, off64_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");
    if (matches(fd, "writeback")) return -1;
    return real(fd, off, n, flags);
}

int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real) real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(RTLD_NEXT, "pthread_create");
    const char *f = fault_of("thread");
    if (f && strncmp(f, "EAGAIN", 6) == 0) return EAGAIN;
    return real(th, attr, fn, arg);
}

/* open:PAUSE (see the top): the pause, once, before an open of path. */
static void pause_before(const char *path)
{
    static int paused;
    const char *f = fault_of("open"), *suffix = getenv("XY_FAULT_FILE");
    if (!f || strncmp(f, "PAUSE", 5) != 0 || !suffix || paused) return;
    size_t n = strlen(path), ls = strlen(suffix);
    if (n < ls || strcmp(path + n - ls, suffix) != 0) return;
    paused = 1;
    long ms = getenv("XY_FAULT_MS") ? atol(getenv("XY_FAULT_MS")) : 1000;
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
    nanosleep(&ts, NULL);
}

/* open:DIRECT (see the top): whether this open is to be refused. */
static int direct_refused(const char *path, int flags)
{
    const char *f = fault_of("open"), *suffix = getenv("XY_FAULT_FILE");
    if (!f || strncmp(f, "DIRECT", 6) != 0 || !suffix || !(flags & O_DIRECT)) return 0;
    size_t n = strlen(path), ls = strlen(suffix);
    return n >= ls && strcmp(path + n - ls, suffix) == 0;
}

int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    if (!real) real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    pause_before(path);
    if (direct_refused(path, flags)) {
        errno = EINVAL;
        return -1;
    }
    return real(path, flags, mode);
}
