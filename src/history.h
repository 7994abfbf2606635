/* history.h -- one citizen's history, for explanations: the data
 * directory reruns it from the per-citizen trail (trail.h) and the log
 * records the trail points to, in time proportional to that citizen's own
 * history, or rebuilds it by replaying the whole log. */
#ifndef XY_HISTORY_H
#define XY_HISTORY_H

#include "store.h"

/* Rebuilds the whole state from the log into a new engine with a history
 * hook for one citizen (explanations). The caller frees *out. */
int xy__db_replay_history(xy_db *db, xy_resid citizen, xy_hist_fn *fn, void *ctx,
                          xy_engine **out);

/* Reruns one citizen's history from the trail (see trail.h) in a new
 * engine holding only that citizen (index 0), with a history hook, up to
 * today. Returns XY_OK, or XY_ENOENT when the trail cannot be used or does
 * not check out (the caller then replays the log). The caller frees *out. */
int xy__db_trail_history(xy_db *db, uint32_t citizen, xy_hist_fn *fn, void *ctx, xy_engine **out);

/* The id of event seq of citizen c, read from the log (through the trail)
 * or remembered from an explanation; "?" if it cannot be found. Valid
 * until the next call. */
const char *xy__db_event_id(xy_db *db, uint32_t c, uint64_t seq);

/* Closes the log reader the two calls above keep on the handle (xy_db.
 * logrd), if open; xy_db_close calls it. */
void xy__db_drop_log_reader(xy_db *db);

#endif
