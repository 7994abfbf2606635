/* resid.c -- resident identity numbers (GB 11643-1999): validation with the
 * ISO 7064 MOD 11-2 check character, and a packed 64-bit form that keeps the
 * region, birth date and sequence so nothing else needs storing. */
#include "date.h"
#include "xinyong.h"

#define BIRTH_OFFSET 65536 /* packed birth = day + offset, so it is >= 0 */

static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
static const char check_chars[] = "10X98765432";

static char check_char(const char *s)
{
    int sum = 0;
    for (int i = 0; i < 17; i++) sum += (s[i] - '0') * weights[i];
    return check_chars[sum % 11];
}

int xy_resid_parse(const char *s, size_t n, xy_resid *out, const char **why)
{
    const char *reason = NULL;
    if (n != 18) {
        reason = "must have 18 characters";
        goto bad;
    }
    /* One pass over the first 17 characters: their digit values, whether
     * all are digits, and the check sum (every events row parses an ID, so
     * this is a hot path of a load). */
    unsigned d[17], nondigit = 0, sum = 0;
#pragma GCC unroll 17
    for (int i = 0; i < 17; i++) {
        d[i] = (unsigned)(unsigned char)s[i] - '0'; /* wraps above 9 for what is not a digit */
        nondigit |= d[i] > 9;
        sum += d[i] * (unsigned)weights[i];
    }
    if (nondigit) {
        reason = "has a non-digit among its first 17 characters";
        goto bad;
    }
    char last = s[17] == 'x' ? 'X' : s[17];
    if (!((last >= '0' && last <= '9') || last == 'X')) {
        reason = "has an invalid check character";
        goto bad;
    }
    int y = (int)(d[6] * 1000 + d[7] * 100 + d[8] * 10 + d[9]);
    int m = (int)(d[10] * 10 + d[11]);
    int dd = (int)(d[12] * 10 + d[13]);
    if (y < 1800 || y > 2199 || m < 1 || m > 12 || dd < 1 || dd > xy__days_in_month(y, m)) {
        reason = "has a birth date that does not exist";
        goto bad;
    }
    if (check_chars[sum % 11] != last) {
        reason = "has a wrong check character";
        goto bad;
    }
    uint64_t region = (uint64_t)(d[0] * 100000 + d[1] * 10000 + d[2] * 1000 + d[3] * 100 + d[4] * 10 + d[5]);
    uint64_t seq = (uint64_t)(d[14] * 100 + d[15] * 10 + d[16]);
    uint64_t birth = (uint64_t)(xy__day_from_civil(y, m, dd) + BIRTH_OFFSET);
    *out = region << 28 | birth << 10 | seq;
    return XY_OK;
bad:
    if (why) *why = reason;
    return XY_EINPUT;
}

xy_day xy_resid_birth(xy_resid id)
{
    return (xy_day)((id >> 10) & 0x3ffff) - BIRTH_OFFSET;
}

uint32_t xy_resid_region(xy_resid id) { return (uint32_t)(id >> 28); }

int xy_resid_is_male(xy_resid id) { return (int)(id & 1); }

void xy_resid_format(xy_resid id, char out[19])
{
    uint32_t region = xy_resid_region(id);
    unsigned seq = (unsigned)(id & 0x3ff);
    int y, m, d;
    xy__civil_from_day(xy_resid_birth(id), &y, &m, &d);
    for (int i = 5; i >= 0; i--, region /= 10) out[i] = (char)('0' + region % 10);
    for (int i = 9; i >= 6; i--, y /= 10) out[i] = (char)('0' + y % 10);
    out[10] = (char)('0' + m / 10);
    out[11] = (char)('0' + m % 10);
    out[12] = (char)('0' + d / 10);
    out[13] = (char)('0' + d % 10);
    for (int i = 16; i >= 14; i--, seq /= 10) out[i] = (char)('0' + seq % 10);
    out[17] = check_char(out);
    out[18] = 0;
}

void xy_resid_mask(xy_resid id, char out[19])
{
    xy_resid_format(id, out);
    for (int i = 6; i < 14; i++) out[i] = '*';
}
