/* snapshot.h -- the state of a data directory written whole to one file,
 * so that start-up is the latest snapshot plus the log after it rather than
 * a replay of the whole log. */
#ifndef XY_SNAPSHOT_H
#define XY_SNAPSHOT_H

#include "store.h"

/* The sections of a snapshot, by tag (see snapshot.c for the framing). */
enum {
    S_SCALARS = 1, S_IDS, S_FATHER, S_MOTHER, S_NAME_OFF, S_NAMES, S_STATE, S_BL_LIST,
    S_BY_ID, S_LIMITS, S_TERM_REASON, S_GRADE_ENTRY, S_SCORE_SINCE, S_RISE_DAY,
    S_EDGES, S_EDGE_SET, S_EXPIRIES, S_EXITS, S_EV_RUNS, S_TRAIL,
    S_COUNT
};

/* Writes db's state as DIR/snapshot: to a temporary file, fsync, rename,
 * fsync of the directory. The state must be that of the whole log up to
 * db->log_size (no load in progress). */
int xy__snapshot_write(xy_db *db, xy_diag_fn *diag, void *ctx);

/* Restores db's engine and event index from DIR/snapshot and sets
 * *log_offset to the end of the log it covers. Returns XY_ENOENT when there
 * is no snapshot, XY_ECORRUPT (with a message naming the file and offset)
 * when it does not check out, or XY_EINPUT for a snapshot of another format
 * version (then the log is replayed whole). */
int xy__snapshot_read(xy_db *db, uint64_t *log_offset, xy_diag_fn *diag, void *ctx);

/* Takes the snapshot file's pages out of the page cache. A writer has its
 * own copy of every section once it is open; before a large load, which
 * makes tables, batches and files of its own, the pages given back are
 * what those take instead of fresh memory (see xy__write_back), and the
 * load will likely make a new snapshot due. Otherwise they stay cached
 * for the next reader. */
void xy__snapshot_uncache(const xy_db *db);

/* Checks DIR/snapshot without loading it: its framing, every section's
 * checksum and, against the directory's ruleset (rules, borrowed, when the
 * caller has it compiled; compiled from DIR/rules when NULL), that the
 * sections make a valid state (as start-up does); reports what it finds.
 * *trail_len is the length of DATA/trail that the snapshot's history
 * index heads point into (0 when it has none). Returns XY_OK, XY_ENOENT,
 * XY_EINPUT (another format version) or XY_ECORRUPT. */
int xy__snapshot_verify(const char *dir, const xy_rules *rules, uint64_t *log_offset, uint64_t *bytes,
                        uint64_t *trail_len, xy_diag_fn *diag, void *ctx);

#endif
