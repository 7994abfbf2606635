/* fuzz_dir.h -- the data directory that the snapshot and trail harnesses
 * edit a file of: the sample population of examples/ (citizens, contacts,
 * two years of events, the clock stopped with expiries, terms and exits
 * still pending) loaded into a scratch directory and snapshotted, with
 * its ruleset compiled once for every input's opens. */
#ifndef XY_FUZZ_DIR_H
#define XY_FUZZ_DIR_H

#include <string.h>

#include "fuzz_env.h"
#include "store.h"

static char fuzz_dir[64];
static xy_rules *fuzz_dir_rules_once; /* for xy__db_open_rules and xy__db_verify_rules */

/* Citizens the reports are asked about: one blacklisted by a court order,
 * one on the whitelist's side, one child of the first. */
static const char *const fuzz_who[] = {"371082197503141552", "440105198710010525", "371082197807026529"};
enum { FUZZ_NWHO = sizeof fuzz_who / sizeof fuzz_who[0] };

static inline void fuzz_quiet(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

static inline void fuzz_dir_cleanup(void)
{
    xy_rules_free(fuzz_dir_rules_once);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
    if (system(cmd)) {
    }
}

/* The bytes of the file name of the directory (the caller frees them). */
static inline char *fuzz_dir_slurp(const char *name, size_t *len)
{
    char path[128], *data;
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
    if (xy__read_file(path, &data, len) != XY_OK) {
        fprintf(stderr, "fuzz: cannot read %s\n", path);
        abort();
    }
    return data;
}

/* Writes len bytes at data as the file name of the directory. */
static inline void fuzz_dir_put(const char *name, const void *data, size_t len)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f)) abort();
}

/* Builds the directory (fuzz_dir, named after what) and compiles its
 * rules; aborts when it cannot. */
static inline void fuzz_dir_build(const char *what)
{
    const char *rules_dir = fuzz_rules(), *ex = fuzz_examples();
    fuzz_scratch(fuzz_dir, sizeof fuzz_dir, what);
    xy_db *db;
    if (xy_db_create(fuzz_dir, rules_dir, NULL, NULL) != XY_OK ||
        xy_db_open(fuzz_dir, XY_WRITE, NULL, NULL, &db) != XY_OK) {
        fprintf(stderr, "fuzz: cannot create a data directory in %s from %s\n", fuzz_dir, rules_dir);
        abort();
    }
    atexit(fuzz_dir_cleanup);
    static const char *const files[] = {"citizens.csv", "contacts.csv", "events.csv"};
    for (int k = 0; k < 3; k++) {
        char path[256];
        xy_load_result res;
        snprintf(path, sizeof path, "%s/%s", ex, files[k]);
        if (xy_db_load_csv(db, k, path, NULL, NULL, NULL, &res) != XY_OK) {
            fprintf(stderr, "fuzz: cannot load %s\n", path);
            abort();
        }
    }
    if (xy_db_snapshot(db, NULL, NULL) != XY_OK) abort();
    xy_db_close(db);
    if (!(fuzz_dir_rules_once = fuzz_dir_rules(fuzz_dir))) abort();
}

#endif
