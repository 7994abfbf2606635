/* resid.c -- resident identity numbers (GB 11643-1999): validation with the
 * ISO 7064 MOD 11-2 check character, and a packed 64-bit form that keeps the
 * region, birth date and sequence so nothing else needs storing. */
#include "date.h"
#include "util.h"
#include "xinyong.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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
        /* Fullwidth digits (as an input method may type them) are 18
         * characters of 54 bytes: say what is wrong with them. */
        reason = xy__utf8_cols(s, s + n) == 18 ? "must be 18 ASCII characters: digits, the last may be X"
                                             : "must have 18 characters";
        goto bad;
    }
    /* The first 17 characters: their digit values, whether all are
     * digits, and the check sum (every events row parses an ID, so this is
     * a hot path of a load). */
#define D(i) ((unsigned)(unsigned char)s[i] - '0') /* wraps above 9 for what is not a digit */
    unsigned nondigit = D(16) > 9, sum;
#ifdef __SSE2__
    /* The first 16 at once: digits where max(value, 9) is 9, and the sum
     * of the weighted values in two multiply-adds of eight 16-bit lanes
     * (a sum that only counts once all are digits, checked first). */
    {
        const __m128i z = _mm_setzero_si128(), nine = _mm_set1_epi8(9);
        const __m128i w_lo = _mm_setr_epi16(7, 9, 10, 5, 8, 4, 2, 1), w_hi = _mm_setr_epi16(6, 3, 7, 9, 10, 5, 8, 4);
        __m128i v = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)s), _mm_set1_epi8('0'));
        nondigit |= _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, nine), nine)) != 0xffff;
        __m128i t = _mm_add_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(v, z), w_lo),
                                  _mm_madd_epi16(_mm_unpackhi_epi8(v, z), w_hi));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
        sum = (unsigned)_mm_cvtsi128_si32(t) + D(16) * (unsigned)weights[16];
    }
#else
    sum = 0;
    for (int i = 0; i < 17; i++) {
        nondigit |= D(i) > 9;
        sum += D(i) * (unsigned)weights[i];
    }
#endif
    if (nondigit) {
        reason = "has a non-digit among its first 17 characters";
        goto bad;
    }
    char last = s[17] == 'x' ? 'X' : s[17];
    if (!((last >= '0' && last <= '9') || last == 'X')) {
        reason = "has an invalid check character";
        goto bad;
    }
    int y = (int)(D(6) * 1000 + D(7) * 100 + D(8) * 10 + D(9));
    int m = (int)(D(10) * 10 + D(11));
    int dd = (int)(D(12) * 10 + D(13));
    if (y < 1800 || y > 2199) {
        reason = "has a birth year outside 1800-2199, the years an ID can hold here";
        goto bad;
    }
    if (m < 1 || m > 12 || dd < 1 || dd > xy__days_in_month(y, m)) {
        reason = "has a birth date that does not exist";
        goto bad;
    }
    if (check_chars[sum % 11] != last) {
        reason = "has a wrong check character";
        goto bad;
    }
    uint64_t region = (uint64_t)(D(0) * 100000 + D(1) * 10000 + D(2) * 1000 + D(3) * 100 + D(4) * 10 + D(5));
    uint64_t seq = (uint64_t)(D(14) * 100 + D(15) * 10 + D(16));
#undef D
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
