/* limits.h -- the counts behind `limit N per year`: how many occurrences of
 * a behaviour were counted for a citizen in a calendar year.
 *
 * One table per calendar year, because the counts start again each year
 * and a year's size is the best guess for the next one's: a new year's
 * table is made as large as the last year's ended, so a steady population
 * never pays for growing it. A table is open addressing over 8-byte
 * entries (citizen << 32 | behaviour name << 8 | count), half the memory of
 * a general map, which matters because almost every entry is a cache miss
 * and a page that the kernel must first clear. A count of 255 or more
 * lives in a small side map (only a limit above 254 needs it). */
#ifndef XY_LIMITS_H
#define XY_LIMITS_H

#include "util.h"

typedef struct xy_lyear {
    int year;         /* calendar year */
    uint64_t *slot;   /* entries, 0 = empty */
    size_t mask;      /* slots - 1 */
    size_t count;     /* entries stored */
    xy_map over;      /* citizen << 32 | name -> counts of 255 and above */
} xy_lyear;

typedef struct xy_limits {
    xy_lyear *y;      /* years in ascending order */
    int n, cap;       /* years, capacity */
    int last;         /* index of the year asked for last */
} xy_limits;

/* Largest behaviour name id an entry can hold. */
#define XY_LIMITS_MAX_NAME ((1 << 24) - 1)

/* Frees the tables; l may be zeroed. */
void xy_limits_free(xy_limits *l);

/* Counts one occurrence of behaviour name for citizen in year if fewer
 * than limit were counted: returns 1 if it was counted, 0 if the limit
 * was already reached. */
int xy_limits_take(xy_limits *l, int year, uint32_t citizen, int32_t name, int64_t limit);

/* Starts fetching the entry that xy_limits_take would look at first. */
void xy_limits_prefetch(xy_limits *l, int year, uint32_t citizen, int32_t name);

/* Entries in all years. */
size_t xy_limits_count(const xy_limits *l);

/* Appends the tables to out, in a form xy_limits_load reads back. */
void xy_limits_save(const xy_limits *l, xy_buf *out);

/* Loads tables saved by xy_limits_save into an empty l. Returns XY_OK or
 * XY_ECORRUPT. */
int xy_limits_load(xy_limits *l, const void *data, size_t len);

#endif
