/* libFuzzer harness for the snapshot reader. At start it builds a data
 * directory from the sample population of examples/ (citizens, contacts,
 * two years of events, the clock stopped with expiries, terms and exits
 * still pending) and keeps its snapshot. Each input is a list of edits of
 * that snapshot, four bytes each (a 24-bit offset, taken modulo the
 * snapshot's length, and the byte to put there), so the empty input is
 * the valid snapshot and every other lands inside a real one. After the
 * edits every section whose framing still holds gets a valid checksum:
 * what is exercised is the reading of forged contents, not the checksum.
 * Verifying the directory and opening it must fail with a status or give a
 * state that the reports and a writer's advance of the clock run on
 * without crashing, hanging or leaking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../snapshot_file.h"
#include "fuzz_env.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char *base_snap, *base_log, *base_trail;
static xy_rules *rules; /* the directory's, compiled once (xy__db_open_rules, xy__db_verify_rules) */
static size_t snap_len, log_len, trail_len;

/* Citizens the reports are asked about: one blacklisted by a court order,
 * one on the whitelist's side, one child of the first. */
static const char *const who[] = {"371082197503141552", "440105198710010525", "371082197807026529"};

static void cleanup(void)
{
    xy_rules_free(rules);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {
    }
}

static void quiet(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

static char *slurp(const char *name, size_t *len)
{
    char path[128], *data;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (xy_read_file(path, &data, len) != XY_OK) {
        fprintf(stderr, "fuzz_snapshot: cannot read %s\n", path);
        abort();
    }
    return data;
}

static void spill(const char *name, const void *data, size_t len)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f)) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *rules_dir = fuzz_rules(), *ex = fuzz_examples();
    fuzz_scratch(dir, sizeof dir, "snap");
    xy_db *db;
    if (xy_db_create(dir, rules_dir, NULL, NULL) != XY_OK || xy_db_open(dir, XY_WRITE, NULL, NULL, &db) != XY_OK) {
        fprintf(stderr, "fuzz_snapshot: cannot create a data directory in %s from %s\n", dir, rules_dir);
        abort();
    }
    atexit(cleanup);
    static const char *const files[] = {"citizens.csv", "contacts.csv", "events.csv"};
    for (int k = 0; k < 3; k++) {
        char path[256];
        xy_load_result res;
        snprintf(path, sizeof path, "%s/%s", ex, files[k]);
        if (xy_db_load_csv(db, k, path, NULL, NULL, NULL, &res) != XY_OK) {
            fprintf(stderr, "fuzz_snapshot: cannot load %s\n", path);
            abort();
        }
    }
    if (xy_db_snapshot(db, NULL, NULL) != XY_OK) abort();
    xy_db_close(db);
    base_snap = slurp("snapshot", &snap_len);
    base_log = slurp("log", &log_len);
    base_trail = slurp("trail", &trail_len);
    if (!(rules = fuzz_dir_rules(dir))) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *s = malloc(snap_len);
    memcpy(s, base_snap, snap_len);
    for (size_t i = 0; i + 4 <= size; i += 4) {
        size_t off = ((size_t)data[i] | (size_t)data[i + 1] << 8 | (size_t)data[i + 2] << 16) % snap_len;
        s[off] = data[i + 3];
    }
    snap_seal(s, snap_len);
    spill("snapshot", s, snap_len);
    free(s);
    FILE *devnull = fopen("/dev/null", "w");
    (void)xy__db_verify_rules(dir, rules, quiet, NULL, devnull);
    xy_db *db;
    if (xy__db_open_rules(dir, XY_READ, rules, quiet, NULL, &db) == XY_OK) {
        (void)xy_report_stats(db, XY_OUT_JSON, devnull);
        (void)xy_report_list(db, XY_BLACKLIST, NULL, 1, XY_OUT_TEXT, devnull);
        (void)xy_report_list(db, XY_WHITELIST, NULL, 0, XY_OUT_JSON, devnull);
        for (size_t k = 0; k < sizeof who / sizeof who[0]; k++) {
            (void)xy_report_show(db, who[k], 0, XY_OUT_JSON, devnull);
            (void)xy_report_explain(db, who[k], XY_OUT_TEXT, 0, devnull);
            (void)xy_report_check(db, who[k], "flight_ticket", XY_OUT_TEXT, devnull);
        }
        xy_db_close(db);
    }
    if (xy__db_open_rules(dir, XY_WRITE, rules, quiet, NULL, &db) == XY_OK) {
        /* Four hundred days on: expiries, exits, association, a new year. */
        xy_day today = xy_db_engine(db)->today;
        if (xy_day_valid(today) && xy_day_valid(today + 400)) (void)xy_db_advance(db, today + 400);
        xy_db_close(db);
    }
    fclose(devnull);
    /* What the writer changed goes back for the next input. */
    spill("log", base_log, log_len);
    spill("trail", base_trail, trail_len);
    return 0;
}
