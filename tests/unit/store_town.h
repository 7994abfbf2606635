/* store_town.h -- the fixture the unit tests of the data directory share
 * (test_store.c, test_recovery.c): a town of one city in a fresh
 * directory, its citizens and batches of its events, and write, fdatasync
 * and fallocate replaced for the whole unit-test program so that a test
 * can make them fail on one descriptor. Directories are made under /tmp,
 * named after the process. */
#ifndef XY_STORE_TOWN_H
#define XY_STORE_TOWN_H

#include "engine.h"
#include "store.h"
#include "xinyong.h"

/* The descriptor on which fdatasync fails with EIO, write with ENOSPC and
 * fallocate with fail_falloc_errno (-1: none); fallocate lets
 * fail_falloc_skip calls pass first (a fault on the second reservation
 * of a commit, not the first). With fail_write_torn set, the failing
 * write first puts half its bytes in and says so (a disk that fills up in
 * the middle of a write), which clears it; the retry then fails. With
 * fail_write_once set, only one write fails (both cleared then). */
extern int fail_sync_fd, fail_write_fd, fail_falloc_fd, fail_falloc_errno, fail_falloc_skip, fail_write_torn,
    fail_write_once;

/* The town's rules: one city, a good and an expiring bad behaviour, one
 * agency, a blacklist with a sanction. */
extern const char *const CITY_RULES;

/* The citizens most tests register: Ann (index 0) and Bo (1). */
extern const char ANN_AND_BO[];

/* What the tests of the town's rules use: its engine, behaviours and
 * agency, and a day. */
typedef struct town {
    xy_engine *e;
    int32_t good, bad, office;
    xy_day day;
} town;

/* Room for count events with their ids, as the append path takes them. */
typedef struct batch {
    xy_event *ev;
    char (*idt)[16]; /* the ids' text */
    const char **ids;
    int count;
} batch;

/* A diagnostic callback that drops every message. */
void quiet(void *ctx, const char *msg);

/* Keeps the last message in the buffer ctx (256 bytes). */
void keep_last(void *ctx, const char *msg);

/* A fresh data directory bound to town.rules with the text town_text and,
 * unless other is NULL, other.rules with the text other; opened to write,
 * or NULL. */
xy_db *fresh_db_with(char *dir, size_t size, const char *town_text, const char *other);

/* fresh_db_with the town's rules (CITY_RULES) alone. */
xy_db *fresh_db(char *dir, size_t size);

/* Registers citizens as a client does, through a CSV load of rows
 * (lines "id,name") written next to the data directory dir. */
int load_citizens(xy_db *db, const char *dir, const char *rows);

/* A fresh data directory (see fresh_db) with the citizens of rows, or
 * NULL. */
xy_db *town_with(char *dir, size_t size, const char *rows);

/* The town of a directory fresh_db made, on 2024-01-01. */
town town_of(xy_db *db);

/* Removes what fresh_db and load_citizens made, and the events file a
 * test writes beside them (DIR-events.csv). */
int remove_town(const char *dir);

/* The status of verifying the data directory dir, its summary dropped. */
int verify_status(const char *dir);

/* Ann and Bo's town (town_with) whose loads are written to the log in
 * parts of 1,000 bytes (XINYONG_SPILL_BYTES; *had keeps what was set
 * before, for unit_env_restore), or NULL. */
xy_db *town_in_parts(char *dir, size_t size, char **had);

/* Appends the rows ("ID,name") of n citizens of the town, the first
 * numbered from, to rows (NUL-terminated). */
void town_rows(xy_buf *rows, int from, int n);

/* Room for count events, and its release. */
batch batch_new(int count);
void batch_free(batch *b);

/* Fills b with events of the town on day, each of the good or the bad
 * behaviour (three to one) for a citizen below n drawn from *rng, with
 * ids "PK-I" (prefix, k, the event's place). */
void random_batch(const town *t, uint32_t n, xy_day day, char prefix, int k, uint64_t *rng, batch *b);

/* A town of ncit citizens (town_rows) in a new directory, or NULL. */
xy_db *town_of_size(char *dir, size_t size, uint32_t ncit);

/* Whether every report on db about citizen id returns rc, writing
 * nothing when it is an error. */
int reports_refuse(xy_db *db, const char *id, int rc);

#endif
