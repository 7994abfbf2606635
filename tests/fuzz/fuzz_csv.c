/* libFuzzer harness for the CSV reader: every record it returns must lie
 * inside the input, and it must always reach the end. */
#include <stdlib.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xy_csv c;
    const char *why;
    const char *buf = (const char *)data;
    xy_csv_init(&c, buf, size);
    size_t records = 0;
    for (;;) {
        int rc = xy_csv_next(&c, &why);
        if (rc == 0) break;
        if (++records > size + 1) abort(); /* no progress */
        if (c.rec < buf || c.rec + c.rec_len > buf + size) abort();
        if (rc > 0)
            for (size_t i = 0; i < c.nfields; i++) {
                volatile char sum = 0;
                for (size_t k = 0; k < c.fields[i].n; k++) sum ^= c.fields[i].s[k];
                (void)sum;
            }
    }
    xy_csv_free(&c);
    return 0;
}
