/* trail.h -- the per-citizen history index: for every citizen, a chain of
 * records (its registration, each event applied to it with the day it was
 * applied, each association adjustment it got) linked newest to oldest
 * through the file `trail` of the data directory, with the newest record
 * of each citizen in memory.
 *
 * A citizen's history depends only on its own events and on how many
 * blacklisted contacts it had on each association day, so these records
 * are enough to run that one citizen through a fresh engine and get every
 * contribution and list change the full state got, at a cost proportional
 * to its own history rather than to the whole log. `explain` does that.
 *
 * The trail is derived from the log and never acknowledged on its own: it
 * is written without fsync as batches are applied, and made durable just
 * before a snapshot (which records how much of it is covered and every
 * citizen's newest record). Its records are a function of the log (see
 * apply.c), so what lies past the snapshot's length is what replaying the
 * log after the snapshot makes, as far as a writer got: a process that
 * opens the data directory replays that part and takes from the file
 * every record it finds there as it would make it (see xy__trail_add). Each
 * record carries a checksum; anything that does not check out makes
 * `explain` fall back to replaying the whole log. */
#ifndef XY_TRAIL_H
#define XY_TRAIL_H

#include "util.h"

enum { TRAIL_REG = 1, TRAIL_EVENT = 2, TRAIL_ASSOC = 3 };

/* One record, as stored (32 bytes, native byte order). */
typedef struct xy_trec {
    uint64_t prev;     /* offset of the citizen's previous record, 0 if none */
    uint64_t log_off;  /* REG, EVENT: offset of the record in the log */
    uint64_t aux;      /* EVENT: the event's seq; ASSOC: contacts counted */
    int32_t day;       /* REG: the clock then (XY_DAY_NONE: not set yet);
                          EVENT: the clock when it was applied; ASSOC: its day */
    uint32_t check;    /* kind << 28 | 28 bits of a hash of the rest and the kind */
} xy_trec;

typedef struct xy_trail {
    int fd;             /* the file, -1 if none */
    int writable;       /* opened by the writer */
    int broken;         /* unusable: explanations replay the log */
    uint64_t disk_len;  /* bytes of the file in use, header included */
    xy_buf mem;         /* records after disk_len, not yet in the file */
    uint64_t *head;     /* citizen -> offset of its newest record, 0 none */
    size_t nhead;       /* citizens covered */
    size_t cap_head;    /* capacity of head (an xy__big_realloc block) */
    xy_fork_copy head_copy; /* head as of the last background snapshot's fork */
    uint64_t *head_child; /* the copy a snapshot's child reads, or NULL */
    /* A reader's replay: while the records it makes are those the file
     * holds from disk_len on, it takes them as the file's (see
     * xy__trail_add), reading the file a window at a time. */
    int matching;
    unsigned char *win;   /* the window, or NULL */
    uint64_t win_lo, win_hi; /* the file's bytes [win_lo, win_hi) are in it */
} xy_trail;

/* Opens DIR/trail using its first use_len bytes (0: none, start empty),
 * and more of it as the replay that follows finds in it the records it
 * makes (see xy__trail_add). A writer creates the file if needed (or starts
 * it again when use_len is 0 and it is not a trail of this version); a
 * reader only reads. Returns XY_OK, or XY_ECORRUPT when use_len is not 0
 * and the file is missing, shorter than use_len or not a trail (t is then
 * empty and, for a reader, broken). */
int xy__trail_open(xy_trail *t, const char *dir, int writable, uint64_t use_len);

/* The use_len of a snapshot that left the trail out (it could not be
 * synced: see xy__trail_emit): no file is that long, so the trail is
 * unusable, as a damaged one is, and a writer writes it again. */
#define XY_TRAIL_UNCLAIMED UINT64_MAX

/* Closes the file and frees memory; t may be zeroed. */
void xy__trail_free(xy_trail *t);

/* Records a writer holds in memory before it writes them to the file. */
#define XY_TRAIL_FLUSH ((size_t)8 << 20)

/* Appends a record for citizen c (see xy_trec for the fields); a writer
 * writes the records held to the file (no fsync) every XY_TRAIL_FLUSH
 * bytes, a reader holds them in memory. Neither does while the file
 * already has the record where it would go: the records are a function
 * of the log (see apply.c), so the file holds, up to where the last
 * writer got, exactly the records a replay makes, and a reader then keeps
 * none of them in memory and a writer writes none again. From the first
 * record that differs (a file cut short or damaged) a reader holds the
 * rest itself and a writer cuts the file there and writes on; a writer
 * also cuts what follows the last record its replay found, at the
 * xy__trail_flush that ends the replay (records of a batch that never
 * committed). */
void xy__trail_add(xy_trail *t, uint32_t c, int kind, uint64_t log_off, uint64_t aux, int32_t day);

/* Starts fetching what xy__trail_add(t, c, ...) will touch. */
static inline void xy__trail_prefetch(const xy_trail *t, uint32_t c)
{
    if (c < t->nhead) XY_PREFETCH_W(&t->head[c]);
}

/* Writer: writes the records held in memory to the file (no fsync). On
 * failure the trail is marked broken and XY_EIO returned; the log is not
 * affected. */
int xy__trail_flush(xy_trail *t);

/* Writer: flush and fdatasync, before a snapshot records disk_len. */
int xy__trail_sync(xy_trail *t);

/* Reads the record at off into *r and returns its kind, or 0 if it is not
 * a valid record. */
int xy__trail_read(const xy_trail *t, uint64_t off, xy_trec *r);

/* The check word a record of kind gets (the trail harness of tests/fuzz
 * forges records that pass it). */
uint32_t xy__trail_check(const xy_trec *r, int kind);

/* Checks every whole record of the trail file in dir, reading it a window
 * at a time: returns the number of records through *records and XY_OK,
 * XY_ENOENT if there is no file (or not even its header), XY_EINPUT for
 * a trail of another format version (an earlier xinyong's: not damage,
 * the next writer rebuilds it), XY_EIO if it cannot be read, or
 * XY_ECORRUPT with the offset of the first bad record in *bad_at (0 for a
 * bad header). */
int xy__trail_verify(const char *dir, uint64_t *records, uint64_t *bad_at);

/* Around the fork of a background snapshot (see xy_fork_copy): the writer
 * copies the heads aside, and the child reads the copy. */
void xy__trail_before_fork(xy_trail *t);
void xy__trail_in_child(xy_trail *t);

/* The snapshot's part, handed to emit in pieces: disk_len (0 if broken)
 * and the heads. */
void xy__trail_emit(const xy_trail *t, xy_emit_fn *emit, void *ctx);

/* Reads what xy__trail_emit produced, len bytes at data in src's mapping
 * (see xy__big_load; src may be NULL): the covered length and the heads,
 * which are installed in t. Returns XY_OK or XY_ECORRUPT. */
int xy__trail_load_heads(xy_trail *t, const xy_big_src *src, const void *data, size_t len, uint64_t *use_len);

#endif
