/* libFuzzer harness for the CSV reader: every record it returns must lie
 * inside the input, it must always reach the end, and the fast path for
 * records without quotes must read exactly what the general path reads.
 * The positions given in messages must lie in the record: each field's
 * offset (an unquoted field's exactly where the reader found it) and the
 * character at fault in a malformed one. */
#include <stdlib.h>
#include <string.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xy_csv c, g;
    const char *why, *gwhy;
    const char *buf = (const char *)data;
    xy__csv_init(&c, buf, size);
    xy__csv_init(&g, buf, size);
    g.general_only = 1;
    size_t records = 0;
    for (;;) {
        int rc = xy__csv_next(&c, &why), grc = xy__csv_next(&g, &gwhy);
        if (rc != grc || c.rec != g.rec || c.rec_len != g.rec_len || c.line != g.line || c.p != g.p) abort();
        if (rc < 0 && (why != gwhy || c.bad != g.bad || c.bad < c.rec || c.bad > c.rec + c.rec_len)) abort();
        if (rc == 0) break;
        if (++records > size + 1) abort(); /* no progress */
        if (c.rec < buf || c.rec + c.rec_len > buf + size) abort();
        if (rc > 0) {
            if (c.nfields != g.nfields) abort();
            size_t prev = 0;
            for (size_t i = 0; i < c.nfields; i++) {
                if (c.fields[i].n != g.fields[i].n || memcmp(c.fields[i].s, g.fields[i].s, c.fields[i].n)) abort();
                size_t off = xy__csv_field_offset(c.rec, c.rec_len, i);
                if (off < prev || off > c.rec_len) abort();
                if (c.offs[i] == SIZE_MAX && c.fields[i].n && c.rec + off != c.fields[i].s) abort();
                uint64_t line, col;
                xy__csv_position(c.rec, off, &line, &col);
                if (col < 1 || col > off + 1) abort();
                prev = off;
                volatile char sum = 0;
                for (size_t k = 0; k < c.fields[i].n; k++) sum ^= c.fields[i].s[k];
                (void)sum;
            }
        }
    }
    xy__csv_free(&c);
    xy__csv_free(&g);
    return 0;
}
