/* libFuzzer harness for the log reader. The input describes a log record
 * by record (a type byte, a length byte, that many payload bytes; 0xFF
 * ends the records and the rest goes in raw, a torn or damaged tail), and
 * the harness frames each record with its length and a valid checksum,
 * so that what gets exercised is the decoding of records and the state
 * they build, not only the checksum. Opening the data directory as a
 * reader, and verifying it, must succeed or fail with a status: never
 * crash, hang or leak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_env.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], log_path[96], snap_path[96];
static unsigned char magic[16];
static xy_rules *rules; /* the directory's, compiled once (xy__db_open_rules) */

static void cleanup(void)
{
    xy_rules_free(rules);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_scratch(dir, sizeof dir, "log");
    snprintf(log_path, sizeof log_path, "%s/log", dir);
    snprintf(snap_path, sizeof snap_path, "%s/snapshot", dir);
    if (xy_db_create(dir, fuzz_rules(), NULL, NULL) != XY_OK || !(rules = fuzz_dir_rules(dir))) {
        fprintf(stderr, "fuzz_log: cannot create a data directory in %s from %s\n", dir, fuzz_rules());
        abort();
    }
    atexit(cleanup);
    FILE *f = fopen(log_path, "rb");
    if (!f || fread(magic, 1, sizeof magic, f) != sizeof magic) abort();
    fclose(f);
    return 0;
}

static void put_record(xy_buf *b, const uint8_t *payload, size_t n)
{
    uint32_t len = (uint32_t)n, crc = xy__crc32(0, payload, n);
    xy__buf_append(b, &len, 4);
    xy__buf_append(b, &crc, 4);
    xy__buf_append(b, payload, n);
}

static void quiet(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xy_buf log = {0};
    xy__buf_append(&log, magic, sizeof magic);
    size_t i = 0;
    int raw = 0;
    uint8_t rec[256];
    while (i < size) {
        uint8_t type = data[i++];
        if (type == 0xFF) {
            xy__buf_append(&log, data + i, size - i);
            raw = 1;
            break;
        }
        size_t n = i < size ? data[i++] : 0;
        if (n > size - i) n = size - i;
        rec[0] = type;
        memcpy(rec + 1, data + i, n);
        i += n;
        put_record(&log, rec, n + 1);
    }
    if (!raw) {
        /* Close the last batch, so that what came before is committed. */
        uint8_t commit[9] = {R_COMMIT, 1, 0, 0, 0, 0, 0, 0, 0};
        put_record(&log, commit, sizeof commit);
    }
    FILE *f = fopen(log_path, "wb");
    if (!f || fwrite(log.data, 1, log.len, f) != log.len || fclose(f)) abort();
    xy__buf_free(&log);
    unlink(snap_path);
    xy_db *db;
    if (xy__db_open_rules(dir, XY_READ, rules, quiet, NULL, &db) == XY_OK) xy_db_close(db);
    FILE *devnull = fopen("/dev/null", "w");
    (void)xy_db_verify(dir, quiet, NULL, devnull);
    fclose(devnull);
    return 0;
}
