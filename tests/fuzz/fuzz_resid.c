/* libFuzzer harness for resident-ID validation: an accepted ID must format
 * back to itself (with 'x' read as 'X') and mask without error. */
#include <stdlib.h>
#include <string.h>

#include "xinyong.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xy_resid id;
    const char *why = NULL;
    if (xy_resid_parse((const char *)data, size, &id, &why) != XY_OK) {
        if (!why) abort();
        return 0;
    }
    char back[19], masked[19];
    xy_resid_format(id, back);
    if (size != 18 || memcmp(back, data, 17) != 0) abort();
    if (back[17] != (data[17] == 'x' ? 'X' : data[17])) abort();
    xy_resid_mask(id, masked);
    if (memcmp(masked, back, 6) != 0 || memcmp(masked + 14, back + 14, 4) != 0) abort();
    xy_day d = xy_resid_birth(id);
    char s[XY_DAY_CHARS];
    xy_day_format(d, s);
    if (memcmp(s, data + 6, 4) != 0) abort();
    return 0;
}
