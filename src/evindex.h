/* evindex.h -- the index of stored event ids, for exactly-once loads, with
 * memory bounded by the events since the last snapshot.
 *
 * An id is known by the 128-bit hash of its text (xy__hash128); with it the
 * index keeps the hash of the event's content, so that a re-sent event is
 * told from a different event reusing an id. Recent entries live in a hash
 * table in memory (the memtable, with each event's number). A snapshot
 * spills them into an immutable run file of entries sorted by key, and
 * runs are merged when a newer one has grown to half the size of the one
 * before it, so there are about log2(events / spill) of them. A lookup
 * tries the memtable, the frozen table while a background snapshot spills
 * it (see xy__evindex_freeze), then each run from the newest: a binary search over
 * the first key of every page of the run, kept in memory (fences, 8 bytes
 * per 170 events), then within that page of the memory-mapped file. Each
 * run carries a Bloom filter of its keys (1.5 bytes per event, mapped
 * from the file), which answers for nearly every absent id, the common
 * case of a load, with one cache miss per run.
 *
 * Runs are derived from the log, like the rest of the snapshot: a run is
 * written and fsynced before the snapshot that lists it, and a run the
 * snapshot names but that is missing makes start-up ignore the snapshot
 * and replay the log. Run files are named DATA/ev-FIRST-END.run after the
 * event numbers they cover. */
#ifndef XY_EVINDEX_H
#define XY_EVINDEX_H

#include "util.h"

typedef struct xy_evslot {
    uint64_t hi, lo;    /* the key; both 0: empty */
    uint64_t content;   /* hash of the event's content */
    uint64_t seq;       /* the event's number */
} xy_evslot;

typedef struct xy_evrun {
    uint64_t first, end;    /* event numbers covered: [first, end) */
    uint64_t count;         /* entries */
    const unsigned char *map; /* the mapped file */
    size_t map_len;         /* its length */
    uint64_t *fence;        /* first hi of every page of entries */
    size_t nfence;          /* pages */
    const unsigned char *bloom; /* the Bloom filter of the keys, in the map */
    uint64_t nbloom;        /* its 64-byte blocks */
} xy_evrun;

/* A memory table: open addressing, a key's home slot being the top bits
 * of hi, so that keys taken in ascending order visit the table in
 * ascending addresses (a load looks its ids up sorted: see
 * xy_db_append_events). Entries come with rising event numbers; lo and hi
 * bound the numbers held (while count > 0), which lets whole tables be
 * kept or dropped without looking at their entries. */
typedef struct xy_evmem {
    xy_evslot *slot;     /* the slots, or NULL */
    size_t mask, count;  /* slots - 1, entries */
    unsigned shift;      /* hi >> shift is a key's home slot */
    uint64_t lo, hi;     /* least and greatest event number held */
    size_t expect;       /* entries a load may bring it to (xy__evindex_expect) */
} xy_evmem;

typedef struct xy_evindex {
    char *dir;           /* data directory */
    xy_evmem mem;        /* the memtable: entries since the last freeze */
    xy_evmem frozen;     /* entries a background snapshot is spilling */
    xy_evrun *run;       /* runs, oldest first */
    int nrun, cap_run;   /* how many, capacity */
    uint64_t spilled;    /* events covered by runs: numbers below this */
} xy_evindex;

/* The key of an event id. */
void xy__evindex_key(const char *id, size_t n, uint64_t key[2]);

/* Prepares an empty index of the data directory dir (copied). */
void xy__evindex_init(xy_evindex *x, const char *dir);
void xy__evindex_free(xy_evindex *x);

/* Starts fetching the memtable slots of key and its filter blocks. */
void xy__evindex_prefetch(const xy_evindex *x, const uint64_t key[2]);

/* Finds key: returns 1 with its content hash and its event number (or
 * UINT64_MAX when it is in a run), or 0. */
int xy__evindex_find(const xy_evindex *x, const uint64_t key[2], uint64_t *content, uint64_t *seq);

/* Whether key may be in run r, by its Bloom filter (0: surely not). */
int xy__evrun_may_have(const xy_evrun *r, const uint64_t key[2]);

/* Before a background snapshot forks: the memtable becomes the frozen
 * table, which the child spills and the parent no longer writes, and the
 * frozen table's memory, empty, becomes the memtable. The memtable is
 * marked to be wiped in the child, so the parent's inserts while the
 * child runs copy no shared pages (copy-on-write faults were a sixth of
 * the writer's time) and keep the table on huge pages. */
void xy__evindex_freeze(xy_evindex *x);

/* Tells the index that a load may bring up to extra new keys: if the
 * memtable has to grow while they come, it grows at once to hold them
 * all. Growing by doubling populates about twice the memory and places
 * every entry again at each step; growing only when needed costs nothing
 * for a load of duplicates. A short estimate only means the usual
 * doubling after it. */
void xy__evindex_expect(xy_evindex *x, size_t extra);

/* Adds an absent key to the memtable; removes one (a refused batch). */
void xy__evindex_put(xy_evindex *x, const uint64_t key[2], uint64_t content, uint64_t seq);
void xy__evindex_del(xy_evindex *x, const uint64_t key[2]);

/* xy__evindex_find, and when key is absent xy__evindex_put in the same probe
 * of the memtable: returns 1 with what find gives, or 0 having added it. */
int xy__evindex_find_or_put(xy_evindex *x, const uint64_t key[2], uint64_t content, uint64_t seq,
                           uint64_t *had_content, uint64_t *had_seq);

/* Gives the memtable's entry of key the number seq instead. */
void xy__evindex_renumber(xy_evindex *x, const uint64_t key[2], uint64_t seq);

/* Writes the memtable's and frozen table's entries numbered below upto
 * into a new run, then merges runs as the policy says; the files are
 * fsynced, none is removed, and x is unchanged. Appends the resulting run list to out (for the
 * snapshot) and returns XY_OK; or, when a run cannot be written, appends
 * that file's name (NUL-terminated), sets errno to the reason and returns
 * XY_EIO/XY_ENOSPC. */
int xy__evindex_spill(const xy_evindex *x, uint64_t upto, xy_buf *out);

/* The run list xy__evindex_spill(x, upto) writes, without writing runs. */
void xy__evindex_plan_list(const xy_evindex *x, uint64_t upto, xy_buf *out);

/* After the snapshot that listed it is in place: opens the run list
 * written by xy__evindex_spill, drops memtable and frozen entries numbered
 * below the runs' end and removes run files no longer listed. */
int xy__evindex_adopt(xy_evindex *x, const void *list, size_t len);

/* Opens the runs a snapshot lists (x has none yet). XY_ECORRUPT if one is
 * missing or does not match. */
int xy__evindex_open_runs(xy_evindex *x, const void *list, size_t len);

/* The end of the event numbers a run list covers (0 for none), without
 * opening its runs: XY_OK, or XY_ECORRUPT for a list that does not parse. */
int xy__evindex_list_end(const void *list, size_t len, uint64_t *end);

/* Checks every run file of dir: header, order, checksum. Returns the runs
 * and entries seen, and XY_OK or XY_ECORRUPT with a message to diag. */
int xy__evindex_verify(const char *dir, uint64_t *runs, uint64_t *entries, xy_diag_fn *diag, void *ctx);

#endif
