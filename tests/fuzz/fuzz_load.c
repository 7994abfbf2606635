/* libFuzzer harness for the loaders: the input is taken as the rows of a
 * CSV file after a valid header, of events (parsed and checked on the
 * loader's second thread and staged on the calling one), of citizens and
 * of contacts (read a row ahead for their IDs). At start it builds a data
 * directory with the sample citizens and contacts of examples/. Each file
 * is loaded twice: as is (all or nothing: a bad row must leave nothing
 * applied) and with a rejects file; every row must be counted once, as
 * applied, duplicate or rejected, and the loader must neither crash, hang
 * nor leak. Batches go to the log in parts of 300 bytes (XINYONG_SPILL_BYTES),
 * so that loads of more than a few rows take that path too. Last, the
 * input is loaded as a whole events file, its first line the header: any
 * header, with unknown, repeated and ignored ('reason') columns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_env.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], input[96], rejects[96];
static xy_db *db;

static const struct {
    int kind;
    const char *header;
} kinds[] = {
    {XY_LOAD_EVENTS, "id,date,citizen,behaviour,agency,amount,counterpart\n"},
    {XY_LOAD_CITIZENS, "id,name,city,father,mother\n"},
    {XY_LOAD_CONTACTS, "a,b\n"},
};

static void cleanup(void)
{
    char cmd[200];
    xy_db_close(db);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, rejects);
    if (system(cmd)) {
    }
}

static void quiet(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("XINYONG_SPILL_BYTES", "300", 1);
    const char *rules = fuzz_rules(), *ex = fuzz_examples();
    fuzz_scratch(dir, sizeof dir, "load");
    snprintf(input, sizeof input, "%s/in.csv", dir);
    snprintf(rejects, sizeof rejects, "%s-rejects.csv", dir); /* not in the data directory */
    char path[160];
    xy_load_result res;
    int rc = xy_db_create(dir, rules, NULL, NULL);
    if (!rc) rc = xy_db_open(dir, XY_WRITE, NULL, NULL, &db);
    snprintf(path, sizeof path, "%s/citizens.csv", ex);
    if (!rc) rc = xy_db_load_csv(db, XY_LOAD_CITIZENS, path, NULL, quiet, NULL, &res);
    snprintf(path, sizeof path, "%s/contacts.csv", ex);
    if (!rc) rc = xy_db_load_csv(db, XY_LOAD_CONTACTS, path, NULL, quiet, NULL, &res);
    if (rc) {
        fprintf(stderr, "fuzz_load: cannot set up a data directory in %s from %s and %s\n", dir, rules, ex);
        abort();
    }
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t hlen = strlen(kinds[k].header);
        FILE *f = fopen(input, "wb");
        if (!f || fwrite(kinds[k].header, 1, hlen, f) != hlen || (size && fwrite(data, 1, size, f) != size) ||
            fclose(f))
            abort();
        xy_load_result res;
        int rc = xy_db_load_csv(db, kinds[k].kind, input, NULL, quiet, NULL, &res);
        if (rc != XY_OK && rc != XY_EINPUT) abort();
        if (rc == XY_EINPUT && (res.applied != 0 || res.rejected == 0)) abort();
        if (rc == XY_OK && res.rejected != 0) abort();
        rc = xy_db_load_csv(db, kinds[k].kind, input, rejects, quiet, NULL, &res);
        if (rc != XY_OK) abort();
        if (res.rows != res.applied + res.duplicates + res.rejected) abort();
    }
    FILE *f = fopen(input, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();
    xy_load_result res;
    /* A bad header is refused with or without rejects, applying nothing. */
    for (int with_rejects = 0; with_rejects < 2; with_rejects++) {
        int rc = xy_db_load_csv(db, XY_LOAD_EVENTS, input, with_rejects ? rejects : NULL, quiet, NULL, &res);
        if (rc != XY_OK && rc != XY_EINPUT) abort();
        if (rc == XY_EINPUT && res.applied != 0) abort();
        if (rc == XY_OK && res.rows != res.applied + res.duplicates + res.rejected) abort();
    }
    return 0;
}
