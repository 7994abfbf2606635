/* commit.h -- how a batch of records gets into the log and into the
 * state: the records' encoding, the writer that makes a batch durable
 * (group commit, a new segment when one is full, space reserved before a
 * byte is applied), loads written in parts as they are encoded, and the
 * threads that apply a batch while its write and fdatasync run. Part of
 * the store (store.h): every function takes the data directory's handle. */
#ifndef XY_COMMIT_H
#define XY_COMMIT_H

#include <pthread.h>

#include "engine.h"
#include "util.h"

/* Default size past which a writer starts a new log segment. */
#define XY_SEGMENT_BYTES ((uint64_t)1 << 30)
/* Bytes of encoded records a load holds in memory before it writes them
 * to the log (xy__db_spill); XINYONG_SPILL_BYTES overrides it. */
#define XY_SPILL_BYTES ((uint64_t)64 << 20)

/* Record types of the log. */
enum { R_CITIZEN = 1, R_CONTACT = 2, R_EVENT = 3, R_ADVANCE = 4, R_COMMIT = 5 };

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
    uint64_t in_seg;        /* its offset in the log's last segment (a part: the part's) */
    int rc;                 /* the write's and fdatasync's status */
    int fd;                 /* the segment it goes to */
    int threaded;           /* they run on th */
    pthread_t th;
    const char *unwritten;  /* the bytes th writes, NULL if written already */
    size_t len;             /* how many */
    int sync;               /* th syncs them too */
    int drop;               /* th then drops them from the page cache (see sync_log) */
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
    struct xy_applier *app; /* through this applier (see xy__applier_run),
                               made at the first part, ended at the commit */
    uint64_t applied;       /* bytes of the batch applied or being applied */
    uint64_t seq;           /* the seq of the next event applied ahead */
    int athreaded;          /* ath applies the last part */
    int arc;                /* its status, once joined */
    pthread_t ath;
    const unsigned char *adata; /* the part it applies (the second buffer) */
    size_t alen;            /* its bytes */
    uint64_t abase;         /* its log offset */
} xy_spill;

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

/* Takes out the ids the load in progress staged and cuts from the log the
 * parts of its batch that xy__db_spill wrote. */
void xy__db_unstage(xy_db *db);

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

#endif
