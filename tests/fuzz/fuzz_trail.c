/* libFuzzer harness for the history index (DATA/trail) as readers and a
 * writer take it. At start it builds a data directory from the sample
 * population of examples/ and writes its snapshot, which covers the whole
 * trail. Each input is a list of edits of the trail file, four bytes each
 * (a 24-bit offset, taken modulo the file's length, and the byte to put
 * there); when the first byte of the input is odd, every record whose kind
 * is still one then gets the check word its fields call for, so that what
 * is exercised is forged records (links, log offsets, days, counts), not
 * only damaged ones. Verifying the directory, the reports of a reader (every
 * citizen's explanation rerun from the trail, falling back to the log) and a
 * writer's open, which compares the trail with the log and rewrites what
 * differs, must succeed or fail with a status: never crash, hang or leak. */
#include "fuzz_dir.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *base_trail, *base_log, *base_snap;
static size_t trail_len, log_len, snap_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_dir_build("trail");
    base_trail = fuzz_dir_slurp("trail", &trail_len);
    base_log = fuzz_dir_slurp("log", &log_len);
    base_snap = fuzz_dir_slurp("snapshot", &snap_len);
    if (trail_len <= 16) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *t = malloc(trail_len);
    memcpy(t, base_trail, trail_len);
    for (size_t i = 0; i + 4 <= size; i += 4) {
        size_t off = ((size_t)data[i] | (size_t)data[i + 1] << 8 | (size_t)data[i + 2] << 16) % trail_len;
        t[off] = data[i + 3];
    }
    if (size && (data[0] & 1)) {
        for (size_t off = 16; off + sizeof(xy_trec) <= trail_len; off += sizeof(xy_trec)) {
            xy_trec r;
            memcpy(&r, t + off, sizeof r);
            int kind = (int)(r.check >> 28);
            if (kind < TRAIL_REG || kind > TRAIL_ASSOC) continue;
            r.check = xy__trail_check(&r, kind);
            memcpy(t + off, &r, sizeof r);
        }
    }
    fuzz_dir_put("trail", t, trail_len);
    free(t);
    FILE *devnull = fopen("/dev/null", "w");
    (void)xy__db_verify_rules(fuzz_dir, fuzz_dir_rules_once, fuzz_quiet, NULL, devnull);
    xy_db *db;
    if (xy__db_open_rules(fuzz_dir, XY_READ, fuzz_dir_rules_once, fuzz_quiet, NULL, &db) == XY_OK) {
        (void)xy_report_list(db, XY_BLACKLIST, NULL, 0, XY_OUT_JSON, devnull);
        for (int k = 0; k < FUZZ_NWHO; k++) (void)xy_report_show(db, fuzz_who[k], 0, XY_OUT_TEXT, devnull);
        /* Every citizen: an edit can land in anyone's records. */
        const xy_engine *e = xy_db_engine(db);
        for (uint32_t c = 0; c < e->n; c++) {
            char id[19];
            xy_resid_format(e->ids[c], id);
            (void)xy_report_explain(db, id, XY_OUT_JSON, 0, devnull);
        }
        xy_db_close(db);
    }
    if (xy__db_open_rules(fuzz_dir, XY_WRITE, fuzz_dir_rules_once, fuzz_quiet, NULL, &db) == XY_OK) {
        (void)xy_report_explain(db, fuzz_who[0], XY_OUT_TEXT, 0, devnull);
        xy_db_close(db);
    }
    fclose(devnull);
    /* What the writer changed goes back for the next input. */
    fuzz_dir_put("trail", base_trail, trail_len);
    fuzz_dir_put("log", base_log, log_len);
    fuzz_dir_put("snapshot", base_snap, snap_len);
    return 0;
}
