/* limitcount.h -- the counts behind `limit N per year`: how many occurrences of
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
#ifndef XY_LIMITCOUNT_H
#define XY_LIMITCOUNT_H

#include "util.h"

typedef struct xy_lyear {
    int year;         /* calendar year */
    uint64_t *slot;   /* entries, 0 = empty */
    size_t mask;      /* slots - 1 */
    size_t count;     /* entries stored */
    xy_map over;      /* citizen << 32 | name -> counts of 255 and above */
    xy_fork_copy copy; /* slot as of the last background snapshot's fork */
    uint64_t *child;  /* the copy a snapshot's child reads, or NULL */
} xy_lyear;

typedef struct xy_limits {
    xy_lyear *y;      /* years in ascending order */
    int n, cap;       /* years, capacity */
    xy_lyear *hot;    /* the year asked for last (in y), or NULL */
    size_t guess;     /* entries the first year's table is made for, when
                         no other year tells (the engine: half its citizens) */
} xy_limits;

/* Largest behaviour name id an entry can hold. */
#define XY_LIMITS_MAX_NAME ((1 << 24) - 1)

/* Frees the tables; l may be zeroed. */
void xy__limits_free(xy_limits *l);

/* The table of a year, made when first asked for. The engine asks for the
 * same year event after event, so that answer is inline; the rest is not. */
xy_lyear *xy__limits_year_slow(xy_limits *l, int year);

static inline xy_lyear *xy__limits_year(xy_limits *l, int year)
{
    if (l->hot && l->hot->year == year) return l->hot;
    return xy__limits_year_slow(l, year);
}

static inline uint64_t xy__limits_key(uint32_t citizen, int32_t name)
{
    return (uint64_t)citizen << 32 | (uint64_t)(uint32_t)name << 8;
}

/* The hash a key's probe starts from. The engine works it out once, when
 * it fetches the slot ahead, and hands it to xy__limits_take_hashed. */
static inline uint64_t xy__limits_hash(uint32_t citizen, int32_t name)
{
    /* xy__limits_key(citizen, name) >> 8, written out: gcc did not fold
     * the two shifts (two instructions more an event, callgrind). */
    return xy__hash64((uint64_t)citizen << 24 | (uint32_t)name);
}

/* The slot where a key's probe starts: the first of its hash's line of
 * eight, so that a probe reads that line from its start and leaves it only
 * when all eight are taken. (Starting anywhere in the line, many probes for
 * a new entry ran past its end: one more cache miss.) */
static inline uint64_t *xy__limits_home(const xy_lyear *y, uint64_t hash)
{
    return &y->slot[hash & y->mask & ~(size_t)7];
}

/* xy__limits_take for what is not a plain count below 254 already stored:
 * a new entry, a count of 254 or more. i is where the probe stopped. */
int xy__limits_take_slow(xy_lyear *y, size_t i, uint64_t key, int64_t limit);

/* xy__limits_take with the key's hash (xy__limits_hash) already known. */
static inline int xy__limits_take_hashed(xy_limits *l, int year, uint32_t citizen, int32_t name, uint64_t hash,
                                         int64_t limit)
{
    xy_lyear *y = xy__limits_year(l, year);
    uint64_t key = xy__limits_key(citizen, name);
    size_t i = (size_t)(xy__limits_home(y, hash) - y->slot);
    for (;;) {
        uint64_t v = y->slot[i];
        if (!v) {
            if (limit < 1 || (y->count + 1) * 4 > (y->mask + 1) * 3) break;
            y->slot[i] = key | 1;
            y->count++;
            return 1;
        }
        if ((v & ~(uint64_t)0xff) == key) {
            uint64_t c = v & 0xff;
            if (c + 1 >= 0xff) break;
            if ((int64_t)c >= limit) return 0;
            y->slot[i] = v + 1;
            return 1;
        }
        i = (i + 1) & y->mask;
    }
    return xy__limits_take_slow(y, i, key, limit);
}

/* Counts one occurrence of behaviour name for citizen in year if fewer
 * than limit were counted: returns 1 if it was counted, 0 if the limit
 * was already reached. Inline, because it runs for every event with a
 * limit: the common cases (an entry with a small count, a new entry in a
 * table with room) are a probe and a store. */
static inline int xy__limits_take(xy_limits *l, int year, uint32_t citizen, int32_t name, int64_t limit)
{
    return xy__limits_take_hashed(l, year, citizen, name, xy__limits_hash(citizen, name), limit);
}

/* xy__limits_first for a year other than the last one asked for. */
const void *xy__limits_first_slow(const xy_limits *l, int year, uint64_t hash);

/* Where xy__limits_take would look first for a key of the given hash, if
 * the year's table exists; else l itself (an address that is in the cache
 * anyway): a fetch ahead must not make a table, whose size would then
 * depend on how far ahead it looked. */
static inline const void *xy__limits_first(const xy_limits *l, int year, uint64_t hash)
{
    const xy_lyear *y = l->hot;
    if (XY_UNLIKELY(!y || y->year != year)) return xy__limits_first_slow(l, year, hash);
    return xy__limits_home(y, hash);
}

/* Around the fork of a background snapshot (see xy_fork_copy): the writer
 * copies aside the tables of the two newest years, which take nearly every
 * count (a late report reaches back a little), and the child reads those
 * copies. Without them, each page of a table that the writer touched while
 * the child ran was a copy-on-write fault: a third of the applying
 * thread's time in a profile of the append path. Older years' tables are
 * shared with the child as they are; a copy an earlier fork made of one is
 * given up. */
void xy__limits_before_fork(xy_limits *l);
void xy__limits_in_child(xy_limits *l);

/* Entries in all years. */
size_t xy__limits_count(const xy_limits *l);

/* Hands the tables to emit, in pieces, in a form xy__limits_load reads
 * back; xy__limits_save appends the same bytes to out. A table of a
 * megabyte or more starts a multiple of 4096 bytes after the first byte,
 * behind zeros its head counts, so that a reader can map it from a file
 * where the bytes start at a page boundary (a snapshot's section). */
void xy__limits_emit(const xy_limits *l, xy_emit_fn *emit, void *ctx);
void xy__limits_save(const xy_limits *l, xy_buf *out);

/* Loads tables that xy__limits_save wrote (padded), or the form before the
 * padding (not padded: snapshot format v09), from the len bytes at data
 * into an empty l. The bytes lie in src's mapping, when src is not NULL,
 * and large tables are then mapped from its file (see xy__big_load).
 * Returns XY_OK or XY_ECORRUPT. */
int xy__limits_load(xy_limits *l, const xy_big_src *src, const void *data, size_t len, int padded);

#endif
