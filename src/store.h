/* store.h -- the data directory: the ruleset copy, the log of accepted
 * inputs and the index of event ids. The state is a pure function of the
 * log: opening a data directory replays it, and a write appends a batch of
 * records, makes it durable, then applies the very same bytes. */
#ifndef XY_STORE_H
#define XY_STORE_H

#include <pthread.h>

#include "engine.h"
#include "evindex.h"
#include "trail.h"

/* Log growth after which a write also refreshes the snapshot. */
#define XY_SNAPSHOT_EVERY ((uint64_t)256 << 20)
/* Default size past which a writer starts a new log segment. */
#define XY_SEGMENT_BYTES ((uint64_t)1 << 30)
/* Bytes of encoded records a load holds in memory before it writes them
 * to the log (xy__db_spill); XINYONG_SPILL_BYTES overrides it. */
#define XY_SPILL_BYTES ((uint64_t)64 << 20)

/* Record types of the log. */
enum { R_CITIZEN = 1, R_CONTACT = 2, R_EVENT = 3, R_ADVANCE = 4, R_COMMIT = 5 };

/* An event id of a batch the append path judges: its key, the event's
 * content hash, its place in the batch and, once judged, its verdict. */
typedef struct xy_sid {
    uint64_t key[2];        /* the key: hi, lo */
    uint64_t content;       /* xy__event_content_hash */
    uint32_t idx;           /* place in the batch */
    uint32_t verdict;       /* V_NEW, V_DUP or V_CONFLICT once judged */
} xy_sid;

/* The append path's scratch, kept from call to call (fresh memory costs
 * more than the work on it). */
typedef struct xy_stage {
    xy_sid *sid, *tmp;      /* the batch's ids; the sort's other buffer */
    uint32_t *rank;         /* per event: its rank among the new ones */
    unsigned char *verdict; /* per event: new, duplicate or conflicting */
    size_t *count;          /* the sort's counts */
    size_t cap;             /* events the arrays hold */
} xy_stage;

/* A batch of the append path being applied on a second thread while the
 * caller goes on (xy__db_commit_end): the next batch's checks and staging
 * touch none of what applying touches. Every other use of the handle
 * waits for it first (xy__db_settle). */
typedef struct xy_pending {
    pthread_t th;           /* the thread applying it */
    int running;            /* th has not been joined yet */
    xy_buf batch;           /* the batch: the handle's second encoding buffer */
    size_t body;            /* its bytes before the commit record */
    uint64_t base;          /* its log offset */
    uint64_t seq;           /* the seq of its next event to apply */
    uint64_t end_seq;       /* where seq must end once it has applied */
    int rc;                 /* how applying went */
    double secs;            /* how long it took */
} xy_pending;

/* A batch between xy__db_commit_begin and xy__db_commit_end. */
typedef struct xy_commit {
    xy_buf *batch;          /* its records, commit record included */
    size_t body;            /* its bytes before the commit record */
    uint64_t in_seg;        /* its offset in the log's last segment */
    int rc;                 /* the write's and fdatasync's status */
    int fd;                 /* the segment it goes to */
    int threaded;           /* they run on th */
    pthread_t th;
    const char *unwritten;  /* the bytes th writes, NULL if written already */
    size_t len;             /* how many */
    int sync;               /* th syncs them too */
} xy_commit;

/* A load's batch written to the log in parts as it is encoded, so that
 * the memory a load takes for its records stays bounded whatever the size
 * of its input (xy__db_spill). */
typedef struct xy_spill {
    int active;             /* parts of the batch are in the log */
    uint64_t in_seg;        /* where the batch begins in the last segment */
    uint64_t len;           /* bytes of it written or being written */
    int reserved;           /* the first part's space was reserved with its
                               segment (new_segment), 1 when not */
    xy_commit w;            /* the write of the last part, perhaps running */
    xy_buf other;           /* the second encoding buffer: the part being
                               written while the load fills the first */
    /* An events load's parts are applied to the engine as they are
     * written, ahead of the commit, on a thread of their own (see
     * xy__db_spill): */
    int ahead;              /* this batch's parts are */
    uint64_t applied;       /* bytes of the batch applied or being applied */
    uint64_t seq;           /* the seq of the next event applied ahead */
    int athreaded;          /* ath applies the last part */
    int arc;                /* its status, once joined */
    pthread_t ath;
    const unsigned char *adata; /* the part it applies (the second buffer) */
    size_t alen;            /* its bytes */
    uint64_t abase;         /* its log offset */
} xy_spill;

struct xy_db {
    char *path;             /* data directory */
    int mode;               /* XY_READ or XY_WRITE */
    int lock_fd;            /* writer lock, -1 for readers */
    int log_fd;             /* the log's last segment, open for appending (writers) */
    uint64_t seg_base;      /* log offset at which that segment begins */
    uint64_t log_size;      /* bytes of the log up to the last commit */
    uint64_t snapshot_offset; /* log bytes the latest snapshot covers */
    int snapshot_unused;    /* a writer found a snapshot it could not use (another
                               format version, a run missing): replace it soon */
    int snap_pid;           /* background snapshot being written, or 0 */
    uint64_t snap_covers;   /* log bytes it covers */
    uint64_t snap_upto;     /* events it covers */
    xy_rules *rules;        /* the data directory's ruleset */
    int rules_borrowed;     /* rules belong to the caller (xy__db_open_rules) */
    xy_engine *engine;      /* the state */
    uint64_t nevents;       /* events of the committed batches; the next
                               event's seq (pending.seq runs behind it
                               while a batch is applied in the background) */
    xy_evindex evix;        /* event ids -> content, for exactly-once */
    size_t nstaged;         /* events of a load in progress, after nevents */
    uint64_t *staged_key;   /* their keys (two words each), to take them out */
    size_t cap_staged;      /* capacity of staged_key, in words */
    xy_map hist_ids;        /* explanations: event seq -> offset in hist_idbuf */
    xy_map hist_cp;         /* explanations: event seq -> its counterpart's index,
                               for events rerun without it (see history.c) */
    uint64_t history_fallbacks; /* lookups the history index did not serve */
    xy_buf hist_idbuf;      /* NUL-terminated ids of the events explained */
    xy_trail trail;         /* per-citizen history index */
    xy_buf batch;           /* the encoding buffer loads borrow (xy__db_batch) */
    xy_spill spill;         /* the parts of a load's batch already written */
    xy_stage stage;         /* the append path's scratch */
    xy_pending pending;     /* the append path's batch being applied */
    uint64_t trail_use;     /* bytes of the trail the snapshot covers */
    xy_resid hist_resid;    /* replay: citizen whose history is wanted */
    uint32_t hist_index;    /* replay: its index, once registered */
    xy_hist_fn *hist_fn;    /* replay: history sink */
    void *hist_ctx;         /* its context */
    double commit_secs[3];  /* time spent by commits so far: reserving
                               the log's space (or writing it), waiting
                               for the write and fdatasync once the batch
                               was applied, applying (xy__db_commit_secs) */
    int broken;             /* a commit's write or fdatasync failed
                               after its batch was applied: the status
                               every write now gets */
    int stale;              /* a load failed after it had applied parts of
                               its batch ahead (xy__db_spill): the state is
                               rebuilt from the directory before the handle
                               is used again (xy__db_settle) */
};

/* Rows and events look things up at random (the ID index, the event
 * index, a citizen's state, its history): cache misses at population
 * scale. The loaders and the applier start those fetches XY_FETCH_GROUP
 * at a time, one group ahead of the work that needs them. Issued one by
 * one between items, each fetch waits for its address translation (a page
 * walk, costly on a virtual machine) before anything after it can finish;
 * issued together, their walks overlap (docs/performance.md). */
#define XY_FETCH_GROUP 32

/* The items of [0, n) to start fetching when item i is reached: the group
 * after i's at the start of a group (the first two groups at 0), none
 * elsewhere (nothing when *from >= *to). */
static inline void xy__fetch_window(size_t i, size_t n, size_t *from, size_t *to)
{
    *from = *to = 0;
    if (i % XY_FETCH_GROUP) return;
    *from = i ? i + XY_FETCH_GROUP : 0;
    *to = i + 2 * XY_FETCH_GROUP < n ? i + 2 * XY_FETCH_GROUP : n;
}

/* xy_db_open with rules, compiled by the caller from the directory's own
 * rules directory, instead of compiling it again: rules is borrowed
 * (read only, never freed by the handle) and must outlive it. For callers
 * that open one directory thousands of times, the fuzz harnesses above
 * all, where compiling the shipped ruleset under the sanitizers took most
 * of each input's time. */
int xy__db_open_rules(const char *path, int mode, xy_rules *rules, xy_diag_fn *diag, void *ctx, xy_db **out);

/* An empty buffer for a load to encode its batch into, owned by db and
 * valid until the next call: its memory is reused from batch to batch
 * (fresh pages cost more than the encoding). */
xy_buf *xy__db_batch(xy_db *db);

/* Bytes a load's batch may hold before the load hands it to xy__db_spill. */
uint64_t xy__db_spill_bytes(void);

/* Writes the records of a load's batch to the end of the log, without a
 * commit record and without waiting for the write (a second thread does
 * it), and gives the load an empty buffer in *batch (whose contents trade
 * places with the handle's second buffer: the pointer stays). The batch
 * goes on in memory; xy__db_commit() then writes the rest and the commit
 * record and applies what is not applied yet, or xy__db_unstage() cuts
 * every part written from the log. Until the commit record is there, the
 * parts are an unfinished batch: invisible to readers, cut off by
 * recovery. With ahead (an events load: nothing but event records, which
 * apply the same in any split), each part is also applied to the engine
 * on a thread of its own while the load goes on; a load that then fails
 * leaves the handle stale (xy_db.stale), so that none of it is ever seen.
 * Every part of a batch is given the same ahead. Returns XY_OK or the
 * storage error that refuses the load (the caller then unstages). */
int xy__db_spill(xy_db *db, xy_buf *batch, int ahead);

/* Event ids are looked up by their key (xy_evindex_key), computed once
 * per event. Finds an event key among the stored events and those staged
 * by the load in progress: returns 1 with its content hash in *had and its
 * seq in *had_seq (UINT64_MAX for an event spilled to a run, which is
 * always a stored one). Otherwise, in the same probe, stages the key with
 * its content hash and seq (nevents + nstaged for a load that stages in
 * its events' order; the append path numbers out of order) and returns 0.
 * Staged events become stored with xy__db_commit() or are dropped by
 * xy__db_unstage(). */
int xy__db_find_or_stage(xy_db *db, const uint64_t key[2], uint64_t content, uint64_t seq, uint64_t *had,
                         uint64_t *had_seq);
/* Takes out the ids the load in progress staged and cuts from the log the
 * parts of its batch that xy__db_spill wrote. */
void xy__db_unstage(xy_db *db);
/* Hash of an event's content, as used to tell a re-sent event from a
 * different one with the same id. Citizens are taken by their index,
 * which names the same person for the life of the data directory (and
 * spares reading the ID of a citizen the check does not otherwise need). */
uint64_t xy__event_content_hash(const xy_event *ev);

/* Copies into secs the seconds this handle's commits have spent so far
 * before applying their batches (reserving the log's space, or writing the
 * batch where it cannot be reserved), waiting for the log's write and
 * fdatasync after applying them (both run on a second thread while the
 * batch is applied), and applying: where the time of a load goes once its
 * input is checked (the bench prints them). */
void xy__db_commit_secs(const xy_db *db, double secs[3]);

/* Appends the encoded records in batch (see the record writers below),
 * after any parts of it xy__db_spill wrote, and a commit record, makes
 * them durable, then applies them. */
int xy__db_commit(xy_db *db, xy_buf *batch, uint64_t nrecords);

/* The same in two halves, for the append path: begin adds the commit
 * record, reserves the log's space and starts writing and syncing the
 * batch on a second thread (XY_OK, or the status that refuses the batch
 * with nothing written); the caller stages the batch's ids meanwhile;
 * end waits for the write and the sync, and once they succeed hands the
 * batch to a thread that applies it and returns: the batch is durable
 * then, and applied before anything else uses the handle. When the write
 * or the sync fails, end unstages and cuts the batch from the log, and
 * nothing of it is applied. */
int xy__db_commit_begin(xy_db *db, xy_buf *batch, uint64_t nrecords, xy_commit *c);
int xy__db_commit_end(xy_db *db, xy_commit *c);

/* begin without the commit record, for a batch encoded before it is known
 * to be the one to commit: open starts writing the records (space
 * reserved for the commit record too), with no sync; then either close
 * adds the commit record and starts the sync (xy__db_commit_end follows),
 * or abandon waits for the write and cuts the log back (the staged ids
 * stay: a batch encoded again goes to begin). */
int xy__db_commit_open(xy_db *db, xy_buf *batch, xy_commit *c);
void xy__db_commit_close(xy_db *db, xy_commit *c, uint64_t nrecords);
void xy__db_commit_abandon(xy_db *db, xy_commit *c);

/* Waits until the batch handed to the background (xy__db_commit_end), if
 * any, is applied. Every entry point that reads or changes the state, the
 * history index or the log calls it first. */
void xy__db_settle(xy_db *db);

/* Record writers, for building a batch. */
void xy__rec_citizen(xy_buf *b, xy_resid id, int city, uint32_t father, uint32_t mother,
                     const char *name, size_t name_len);
void xy__rec_contact(xy_buf *b, uint32_t a, uint32_t bb);
void xy__rec_event(xy_buf *b, const xy_event *ev, const char *id, size_t id_len);
void xy__rec_advance(xy_buf *b, xy_day day);
/* Decodes the event record of payload p (len bytes, type byte first; its
 * id is the p[29] bytes at p + 30) into *ev, seq left as it was. Returns
 * XY_ECORRUPT when the lengths do not fit. */
int xy__rec_read_event(const unsigned char *p, uint32_t len, xy_event *ev);

/* (apply.c) Applies the whole batches of data[from..end), whose framing
 * and checksums have been checked, data starting at log offset base, to
 * e, numbering their events from *seq on; extends trail (if not NULL)
 * with what happens. staged: the events' ids are in the event index
 * already (a load's commit); piped: e may run on a thread of its own, one
 * batch behind (only the writer's engine without a history hook does).
 * Returns XY_OK, or XY_ECORRUPT when a record does not decode or an event
 * is not one its city's rules allow. data and trail are borrowed. */
int xy__apply_range(xy_db *db, xy_engine *e, const unsigned char *data, uint64_t base, size_t from, size_t end,
                    int staged, int piped, xy_trail *trail, uint64_t *seq);

/* The log is a sequence of segment files: DATA/log, then DATA/log.N for
 * each later one, N being the log offset of its first byte (its header).
 * Offsets are those of one continuous log: byte b of log.N is at log
 * offset N + b, so a segment begins where the one before it ends. A
 * writer starts a new segment when the next batch would take the current
 * one past XINYONG_SEGMENT_BYTES (default XY_SEGMENT_BYTES), so a batch
 * never spans two and every segment but the last ends with a commit. */
typedef struct xy_seg {
    uint64_t base;  /* log offset of its first byte */
    uint64_t size;  /* its length when listed */
    char *path;     /* its file */
} xy_seg;

typedef struct xy_segs {
    xy_seg *g;      /* in log order */
    int n;          /* how many */
} xy_segs;

/* Lists the segments of dir in order into *s (freed by xy__segs_free)
 * and checks that each begins where the one before ends. */
int xy__segs_list(const char *dir, xy_segs *s, xy_diag_fn *diag, void *ctx);
void xy__segs_free(xy_segs *s);

/* Walks the whole batches of the log from log offset from (up to offset
 * until, which must end a batch, if not SIZE_MAX): applies them to e
 * (extending trail if not NULL) or, with e NULL, calls each(ctx2, data,
 * base, off, end) for each segment's part instead. Sets *good_out to the
 * end of the last whole batch and *len_out to the end of the log. */
typedef int xy_seg_fn(void *ctx, const unsigned char *data, uint64_t base, size_t off, size_t end);
int xy__db_walk(xy_db *db, xy_engine *e, xy_seg_fn *each, void *ctx2, size_t from, size_t until, xy_trail *trail,
                xy_diag_fn *diag, void *ctx, size_t *good_out, size_t *len_out);

/* Remembers the id of event seq (n bytes at id) for explanations
 * (xy__db_event_id). */
void xy__db_note_event_id(xy_db *db, uint64_t seq, const char *id, size_t n);

/* Writes a diagnostic through a sink, printf-style. */
void xy__diagf(xy_diag_fn *fn, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
