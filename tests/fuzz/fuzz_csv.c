/* libFuzzer harness for the CSV reader: every record it returns must lie
 * inside the input, it must always reach the end, and the fast path for
 * records without quotes must read exactly what the general path reads. */
#include <stdlib.h>
#include <string.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xy_csv c, g;
    const char *why, *gwhy;
    const char *buf = (const char *)data;
    xy_csv_init(&c, buf, size);
    xy_csv_init(&g, buf, size);
    g.general_only = 1;
    size_t records = 0;
    for (;;) {
        int rc = xy_csv_next(&c, &why), grc = xy_csv_next(&g, &gwhy);
        if (rc != grc || c.rec != g.rec || c.rec_len != g.rec_len || c.line != g.line || c.p != g.p) abort();
        if (rc < 0 && why != gwhy) abort();
        if (rc == 0) break;
        if (++records > size + 1) abort(); /* no progress */
        if (c.rec < buf || c.rec + c.rec_len > buf + size) abort();
        if (rc > 0) {
            if (c.nfields != g.nfields) abort();
            for (size_t i = 0; i < c.nfields; i++) {
                if (c.fields[i].n != g.fields[i].n || memcmp(c.fields[i].s, g.fields[i].s, c.fields[i].n)) abort();
                volatile char sum = 0;
                for (size_t k = 0; k < c.fields[i].n; k++) sum ^= c.fields[i].s[k];
                (void)sum;
            }
        }
    }
    xy_csv_free(&c);
    xy_csv_free(&g);
    return 0;
}
