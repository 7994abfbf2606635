/* bench.h -- what bench.c and peers.c share: the random stream and the
 * peers (the clock is the library's xy__seconds). */
#ifndef XY_BENCH_H
#define XY_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* A uniform number below n from one fixed xorshift stream, so that every
 * run of the bench sees the same workload. */
uint32_t bench_rnd(uint32_t n);
/* A fresh directory under /tmp named after what (a static path), and its
 * removal. NULL with why set when it cannot be made. */
const char *bench_tmpdir(const char *what, char *why, size_t whylen);
void bench_rmdir(const char *dir);

/* The peers on the durable score-change workload: operations per second,
 * or 0 with a reason in why. */
double peer_redis(uint32_t ncit, size_t nops, char *why, size_t whylen);
double peer_sqlite(uint32_t ncit, size_t nops, char *why, size_t whylen);

#endif
