/* store.h -- the data directory: the ruleset copy, the log of accepted
 * inputs and the index of event ids. The state is a pure function of the
 * log: opening a data directory replays it, and a write appends a batch of
 * records, makes it durable, then applies the very same bytes (commit.h). */
#ifndef XY_STORE_H
#define XY_STORE_H

#include <pthread.h>
#include <stdio.h>

#include "commit.h"
#include "engine.h"
#include "evindex.h"
#include "trail.h"

/* Log growth after which a write also refreshes the snapshot. */
#define XY_SNAPSHOT_EVERY ((uint64_t)256 << 20)

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

/* A page shared with the child that writes a background snapshot: the
 * child leaves there its status and what it would have said, for the
 * writer to pass on (xy_db_finish_snapshots). */
typedef struct xy_snap_word {
    int rc;         /* xy__snapshot_write's status */
    size_t len;     /* bytes of said in use */
    char said[4000]; /* its messages, each ended by a newline, cut short
                        if they do not fit */
} xy_snap_word;

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
    int once;               /* opened with XY_ONCE: no background snapshots */
    int snapshot_due;       /* with once: a write made a snapshot due, which
                               xy_db_close writes */
    int snap_pid;           /* background snapshot being written, or 0 */
    xy_snap_word *snap_word; /* what the latest one said (see reap_snapshot) */
    int snap_rc;            /* the status of the latest snapshot the handle
                               wrote by itself, if it failed; else XY_OK */
    char *snap_said;        /* and what it said then (owned), or NULL */
    uint64_t snap_covers;   /* log bytes it covers */
    uint64_t snap_upto;     /* events it covers */
    xy_rules *rules;        /* the data directory's ruleset */
    int rules_borrowed;     /* rules belong to the caller (xy__db_open_rules) */
    xy_engine *engine;      /* the state */
    uint64_t nevents;       /* events of the committed batches; the next
                               event's seq (pending.seq runs behind it
                               while a batch is applied in the background) */
    uint64_t corrupt_at;    /* the log offset at which the latest
                               xy__apply_range that failed stopped */
    xy_evindex evix;        /* event ids -> content, for exactly-once */
    size_t nstaged;         /* events of a load in progress, after nevents */
    uint64_t *staged_key;   /* their keys (two words each), to take them out */
    size_t cap_staged;      /* capacity of staged_key, in words */
    xy_map hist_ids;        /* explanations: event seq -> offset in hist_idbuf */
    xy_map hist_cp;         /* explanations: event seq -> its counterpart's index,
                               for events rerun without it (see history.c) */
    uint64_t history_fallbacks; /* lookups the history index did not serve */
    xy_buf hist_idbuf;      /* NUL-terminated ids of the events explained */
    struct xy_logrd *logrd; /* explanations' reader of log records, or NULL
                               (history.c) */
    uint64_t logrd_size;    /* log_size when it was opened */
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
 * issued together, their walks overlap (docs/performance-log.md). */
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
/* Whether path/rules is the copy init made (see store.c). XY_OK; XY_ENOENT
 * for a directory made before rules.sum existed (nothing to compare with);
 * XY_ECORRUPT, said to diag, for a changed copy or an unreadable sum. */
int xy__db_check_rules_copy(const char *path, xy_diag_fn *diag, void *ctx);
/* xy_db_verify with the directory's rules compiled by the caller (for the
 * same callers), borrowed; NULL compiles them. */
int xy__db_verify_rules(const char *path, const xy_rules *rules, xy_diag_fn *diag, void *ctx, FILE *out);

/* An empty buffer for a load to encode its batch into, owned by db and
 * valid until the next call: its memory is reused from batch to batch
 * (fresh pages cost more than the encoding). */
xy_buf *xy__db_batch(xy_db *db);

/* Event ids are looked up by their key (xy__evindex_key), computed once
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
/* Hash of an event's content, as used to tell a re-sent event from a
 * different one with the same id. Citizens are taken by their index,
 * which names the same person for the life of the data directory (and
 * spares reading the ID of a citizen the check does not otherwise need). */
uint64_t xy__event_content_hash(const xy_event *ev);

/* Events the applier takes together at most (apply.c). */
#define XY_APPLY_GROUP 4096

/* (apply.c) Applies the whole batches of data[from..end), whose framing
 * and checksums have been checked, data starting at log offset base, to
 * e, numbering their events from *seq on; extends trail (if not NULL)
 * with what happens. staged: the events' ids are in the event index
 * already (a load's commit); piped: e may run on a thread of its own, one
 * batch behind (only the writer's engine without a history hook does).
 * Returns XY_OK, or XY_ECORRUPT when a record does not decode or an event
 * is not one its city's rules allow, with the log offset of that record in
 * db->corrupt_at. data and trail are borrowed. */
int xy__apply_range(xy_db *db, xy_engine *e, const unsigned char *data, uint64_t base, size_t from, size_t end,
                    int staged, int piped, xy_trail *trail, uint64_t *seq);

/* xy__apply_range in steps, for a batch applied in ranges that do not end
 * at its records' natural breaks (a load's parts applied ahead of its
 * commit, each from a buffer of its own): the last events of a range
 * stay with the applier (decoded, with their log offsets) and go on with
 * the next, so that the history index comes out as a replay of the whole
 * batch makes it (apply.c). xy__applier_new takes the arguments of
 * xy__apply_range that hold for every range and borrows db, e and trail;
 * xy__applier_run applies data[from..end) (at log offset base), numbering
 * from *seq, and returns XY_OK or XY_ECORRUPT (then drop the applier);
 * data need not outlive the call. xy__applier_end applies what is left,
 * waits for the engine and frees the applier (XY_OK or XY_ECORRUPT);
 * xy__applier_drop frees it without applying what is left (the state is
 * to be rebuilt). */
typedef struct xy_applier xy_applier;
xy_applier *xy__applier_new(xy_db *db, xy_engine *e, int staged, int piped, xy_trail *trail);
int xy__applier_run(xy_applier *a, const unsigned char *data, uint64_t base, size_t from, size_t end, uint64_t *seq);
int xy__applier_end(xy_applier *a);
void xy__applier_drop(xy_applier *a);

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
/* What every report does first: waits for a batch still being applied,
 * rebuilds a stale handle's state, and forgets the event ids the report
 * before it looked up. Returns XY_OK, or the status of a handle whose
 * state is not the acknowledged one (xy_db.broken: it holds a batch that
 * failed to become durable, or is empty because the directory no longer
 * opened for a rebuild), which the report returns without showing it. */
int xy__db_report_begin(xy_db *db);

/* What follows a batch's commit (commit.c calls it): a new snapshot in
 * the background once the log has grown by XINYONG_SNAPSHOT_EVERY bytes
 * since the last one. */
void xy__db_after_commit(xy_db *db);
/* Starts a background snapshot now, as a commit does when one is due,
 * after waiting for one that runs (for the bench, which measures what
 * readers see while one is written): XY_OK when a child writes it,
 * XY_EINVAL on a handle that takes none in the background (a reader or
 * XY_ONCE), XY_EIO when it could not be started. The child's outcome is
 * collected as usual, by a later commit, a snapshot or the close. */
int xy__db_snapshot_start(xy_db *db);
/* Whether the background snapshot started last is still being written
 * (collecting it when it is done). */
int xy__db_snapshot_running(xy_db *db);
/* Rebuilds a stale handle's state (xy_db.stale) from the data directory,
 * as opening it would; xy__db_settle calls it. */
void xy__db_reload(xy_db *db);

/* The 16 bytes every log segment begins with. */
extern const char xy__log_magic[16];

#endif
