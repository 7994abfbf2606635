/* date.c -- day numbers (days since 1970-01-01, proleptic Gregorian),
 * parsing and printing YYYY-MM-DD, calendar years and ages. */
#include "date.h"

#include <stdio.h>

/* Days from civil date, after Howard Hinnant's public-domain algorithm
 * description: shift the year to start in March so the leap day is last. */
xy_day xy__day_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void xy__civil_from_day(xy_day z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp + (mp < 10 ? 3 : -9);
    *y = yoe + era * 400 + (*m <= 2);
}

int xy__days_in_month(int y, int m)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30,
                                           31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return days[m - 1];
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int xy_day_valid(xy_day day)
{
    /* 1000-01-01 and 9999-12-31. */
    return day >= -354285 && day <= 2932896;
}

int xy_day_parse(const char *s, size_t n, xy_day *out)
{
    int y, m, d;
    if (n != 10 || s[4] != '-' || s[7] != '-') return XY_EINPUT;
    if (digits(s, 4, &y) || digits(s + 5, 2, &m) || digits(s + 8, 2, &d))
        return XY_EINPUT;
    if (y < 1000 || m < 1 || m > 12 || d < 1 || d > xy__days_in_month(y, m))
        return XY_EINPUT;
    *out = xy__day_from_civil(y, m, d);
    return XY_OK;
}

void xy_day_format(xy_day day, char out[XY_DAY_CHARS])
{
    int y, m, d;
    xy__civil_from_day(day, &y, &m, &d);
    if (y > 9999) {
        /* Five digits in practice (a few of a rule's centuries past
         * 9999); the bound only spares the buffer. */
        snprintf(out, XY_DAY_CHARS, "+%d-%02u-%02u", y % 10000000, (unsigned)m % 100u, (unsigned)d % 100u);
        return;
    }
    /* Years 1000-9999 for every date an input gives; a day before that
     * is a rule's count of days back from one, never shown. */
    out[0] = (char)('0' + (y / 1000) % 10);
    out[1] = (char)('0' + (y / 100) % 10);
    out[2] = (char)('0' + (y / 10) % 10);
    out[3] = (char)('0' + y % 10);
    out[4] = '-';
    out[5] = (char)('0' + m / 10);
    out[6] = (char)('0' + m % 10);
    out[7] = '-';
    out[8] = (char)('0' + d / 10);
    out[9] = (char)('0' + d % 10);
    out[10] = 0;
}

int xy_day_year(xy_day day)
{
    int y, m, d;
    xy__civil_from_day(day, &y, &m, &d);
    return y;
}

int xy_age_on(xy_day birth, xy_day on)
{
    int by, bm, bd, y, m, d;
    xy__civil_from_day(birth, &by, &bm, &bd);
    xy__civil_from_day(on, &y, &m, &d);
    int age = y - by;
    /* Someone born on 29 February comes of age on 1 March in common years. */
    if (m < bm || (m == bm && d < bd)) age--;
    return age;
}
