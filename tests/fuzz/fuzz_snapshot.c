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
#include "../snapshot_file.h"
#include "fuzz_dir.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *base_snap, *base_log, *base_trail;
static size_t snap_len, log_len, trail_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_dir_build("snap");
    base_snap = fuzz_dir_slurp("snapshot", &snap_len);
    base_log = fuzz_dir_slurp("log", &log_len);
    base_trail = fuzz_dir_slurp("trail", &trail_len);
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
    fuzz_dir_put("snapshot", s, snap_len);
    free(s);
    FILE *devnull = fopen("/dev/null", "w");
    (void)xy__db_verify_rules(fuzz_dir, fuzz_dir_rules_once, fuzz_quiet, NULL, devnull);
    xy_db *db;
    if (xy__db_open_rules(fuzz_dir, XY_READ, fuzz_dir_rules_once, fuzz_quiet, NULL, &db) == XY_OK) {
        (void)xy_report_stats(db, XY_OUT_JSON, devnull);
        (void)xy_report_list(db, XY_BLACKLIST, NULL, 1, XY_OUT_TEXT, devnull);
        (void)xy_report_list(db, XY_WHITELIST, NULL, 0, XY_OUT_JSON, devnull);
        for (int k = 0; k < FUZZ_NWHO; k++) {
            (void)xy_report_show(db, fuzz_who[k], 0, XY_OUT_JSON, devnull);
            (void)xy_report_explain(db, fuzz_who[k], XY_OUT_TEXT, 0, devnull);
            (void)xy_report_check(db, fuzz_who[k], "flight_ticket", XY_OUT_TEXT, devnull);
        }
        xy_db_close(db);
    }
    if (xy__db_open_rules(fuzz_dir, XY_WRITE, fuzz_dir_rules_once, fuzz_quiet, NULL, &db) == XY_OK) {
        /* Four hundred days on: expiries, exits, association, a new year. */
        xy_day today = xy_db_engine(db)->today;
        if (xy_day_valid(today) && xy_day_valid(today + 400)) (void)xy_db_advance(db, today + 400);
        xy_db_close(db);
    }
    fclose(devnull);
    /* What the writer changed goes back for the next input. */
    fuzz_dir_put("log", base_log, log_len);
    fuzz_dir_put("trail", base_trail, trail_len);
    return 0;
}
