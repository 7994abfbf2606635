/* peers.c -- the durable score-change workload run by xinyong's peers, in
 * the same benchmark run: Redis (INCRBY, pipelined, appendfsync everysec)
 * and SQLite (WAL, synchronous=FULL, batched transactions), both from
 * Debian's packages and started here. Each returns operations per second,
 * or 0 with a reason in why. */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "util.h"


/* ----------------------------------------------------------------- Redis */

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads replies until `want` more have come. A read may bring replies to
 * the next chunk already: they are banked for the next call. */
static int read_replies(int fd, size_t want, char *why, size_t whylen)
{
    static char buf[1 << 16];
    static int line_start = 1; /* the next byte begins a reply */
    static size_t banked;      /* replies read beyond the last call's */
    size_t got = banked;
    while (got < want) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k <= 0) {
            snprintf(why, whylen, "redis connection closed");
            return -1;
        }
        for (ssize_t i = 0; i < k; i++) {
            if (line_start && buf[i] == '-') {
                snprintf(why, whylen, "redis replied with an error");
                return -1;
            }
            line_start = buf[i] == '\n';
            if (line_start) got++;
        }
    }
    banked = got - want;
    return 0;
}

double peer_redis(uint32_t ncit, size_t nops, char *why, size_t whylen)
{
    const char *dir = bench_tmpdir("redis", why, whylen);
    if (!dir) return 0;
    char sock[128];
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--appendonly", "yes",
               "--appendfsync", "everysec", "--save", "", "--dir", dir, "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    double rate = 0;
    int fd = -1;
    struct sockaddr_un addr = {0};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%.100s", sock);
    for (int tries = 0; tries < 100; tries++) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) break;
        close(fd);
        fd = -1;
        usleep(50000);
    }
    if (fd < 0) {
        snprintf(why, whylen, "redis-server did not start (is it installed? scripts/deps.sh --bench)");
        goto done;
    }
    /* The whole command stream is made before the clock starts, so that
     * only Redis is measured, not our formatting. */
    enum { PIPE = 10000 };
    char *cmd = malloc(nops * 48 + 1);
    size_t *end = malloc((nops / PIPE + 2) * sizeof *end), len = 0, nchunks = 0;
    for (size_t i = 0; i < nops; i++) {
        char key[24], val[8];
        int kl = snprintf(key, sizeof key, "s:%u", bench_rnd(ncit));
        int vl = snprintf(val, sizeof val, "%d", (int)bench_rnd(21) - 10);
        len += (size_t)sprintf(cmd + len, "*3\r\n$6\r\nINCRBY\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", kl, key, vl, val);
        if ((i + 1) % PIPE == 0 || i + 1 == nops) end[nchunks++] = len;
    }
    /* Keep the pipe full: chunk k + 1 goes out before the replies of
     * chunk k are read (Redis buffers replies, so this cannot deadlock). */
    double t0 = xy__seconds();
    for (size_t k = 0; k <= nchunks; k++) {
        if (k < nchunks) {
            size_t from = k ? end[k - 1] : 0;
            if (send_all(fd, cmd + from, end[k] - from)) {
                snprintf(why, whylen, "cannot write to redis");
                free(cmd);
                free(end);
                goto done;
            }
        }
        if (k > 0) {
            size_t m = k < nchunks || nops % PIPE == 0 ? PIPE : nops % PIPE;
            if (read_replies(fd, m, why, whylen)) {
                free(cmd);
                free(end);
                goto done;
            }
        }
    }
    double t1 = xy__seconds();
    rate = (double)nops / (t1 - t0);
    free(cmd);
    free(end);
done:
    if (fd >= 0) close(fd);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    bench_rmdir(dir);
    return rate;
}

/* ---------------------------------------------------------------- SQLite */

double peer_sqlite(uint32_t ncit, size_t nops, char *why, size_t whylen)
{
    const char *dir = bench_tmpdir("sqlite", why, whylen);
    if (!dir) return 0;
    char path[128];
    snprintf(path, sizeof path, "%s/scores.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *upd = NULL;
    double rate = 0;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                         "CREATE TABLE scores(id INTEGER PRIMARY KEY, score INTEGER NOT NULL);", 0, 0, 0) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO scores VALUES (?, 1000)", -1, &ins, 0) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "UPDATE scores SET score = score + ? WHERE id = ?", -1, &upd, 0) != SQLITE_OK) {
        snprintf(why, whylen, "sqlite: %s", db ? sqlite3_errmsg(db) : "cannot open");
        goto done;
    }
    /* Every citizen has a row before the clock starts. */
    sqlite3_exec(db, "BEGIN", 0, 0, 0);
    for (uint32_t i = 0; i < ncit; i++) {
        sqlite3_bind_int64(ins, 1, i);
        sqlite3_step(ins);
        sqlite3_reset(ins);
    }
    sqlite3_exec(db, "COMMIT", 0, 0, 0);
    enum { TXN = 10000 };
    double t0 = xy__seconds();
    for (size_t done = 0; done < nops; done += TXN) {
        size_t m = nops - done < TXN ? nops - done : TXN;
        sqlite3_exec(db, "BEGIN", 0, 0, 0);
        for (size_t i = 0; i < m; i++) {
            sqlite3_bind_int(upd, 1, (int)bench_rnd(21) - 10);
            sqlite3_bind_int64(upd, 2, bench_rnd(ncit));
            if (sqlite3_step(upd) != SQLITE_DONE) {
                snprintf(why, whylen, "sqlite: %s", sqlite3_errmsg(db));
                goto done;
            }
            sqlite3_reset(upd);
        }
        if (sqlite3_exec(db, "COMMIT", 0, 0, 0) != SQLITE_OK) {
            snprintf(why, whylen, "sqlite: %s", sqlite3_errmsg(db));
            goto done;
        }
    }
    rate = (double)nops / (xy__seconds() - t0);
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_close(db);
    bench_rmdir(dir);
    return rate;
}
