/* libFuzzer harness for the rules parser and compiler: any bytes as a
 * city file must give XY_OK or XY_EINPUT with messages, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xinyong.h"

static void ignore(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

static char path[64];

/* The input file goes with the fuzzer. */
static void cleanup(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/xy-fuzz-rules-%d.rules", (int)getpid());
        atexit(cleanup);
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    const char *p = path;
    xy_rules *r = NULL;
    int rc = xy_rules_load_files(&p, 1, ignore, NULL, &r);
    if (rc != XY_OK && rc != XY_EINPUT) abort();
    if (rc == XY_OK) {
        for (int c = 0; c < xy_rules_city_count(r); c++) (void)xy_rules_behaviour_count(r, c);
        xy_rules_free(r);
    }
    return 0;
}
