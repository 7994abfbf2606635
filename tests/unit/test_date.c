/* Unit tests of date.c: day numbers, parsing, years and ages. */
#include "unit.h"
#include "xinyong.h"

TEST(date_epoch_and_known_days)
{
    xy_day d;
    ASSERT_EQ(xy_day_parse("1970-01-01", 10, &d), XY_OK);
    ASSERT_EQ(d, 0);
    ASSERT_EQ(xy_day_parse("2000-03-01", 10, &d), XY_OK);
    ASSERT_EQ(d, 11017);
    ASSERT_EQ(xy_day_parse("1969-12-31", 10, &d), XY_OK);
    ASSERT_EQ(d, -1);
}

TEST(date_roundtrip_every_day_of_four_centuries)
{
    char s[XY_DAY_CHARS];
    xy_day prev = 0;
    xy_day_parse("1800-01-01", 10, &prev);
    for (xy_day d = prev; d < prev + 146097 * 1 + 1000; d++) {
        xy_day back;
        xy_day_format(d, s);
        ASSERT_EQ(xy_day_parse(s, 10, &back), XY_OK);
        ASSERT_EQ(back, d);
    }
}

TEST(date_rejects_impossible_dates)
{
    xy_day d;
    const char *bad[] = {"2023-02-29", "2023-02-30", "2023-13-01", "2023-00-10", "2023-04-31",
                         "23-01-01",   "2023-1-01",  "2023/01/01", "2023-01-0a", "0999-01-01",
                         "2023-01-01 ",
                         /* the second separator, a day 00, a colon (just above the digits) */
                         "2023-01/01", "2023-01-00", "2023-01-0:", "2023-0:-01",
                         /* a slash (just below the digits: read as one it would give
                          * 1923, September, the 9th) and a letter in the year */
                         "2/23-01-01", "2023-1/-01", "2023-01-1/", "2a23-01-01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_EQ(xy_day_parse(bad[i], strlen(bad[i]), &d), XY_EINPUT);
    ASSERT_EQ(xy_day_parse("2024-02-29", 10, &d), XY_OK);
    ASSERT_EQ(xy_day_parse("2000-02-29", 10, &d), XY_OK);
    ASSERT_EQ(xy_day_parse("1900-02-29", 10, &d), XY_EINPUT);
    /* A century divisible by 200 but not by 400 is a common year too: the
     * ID range reaches 1800 and 2199, and 2200 follows it. */
    ASSERT_EQ(xy_day_parse("1800-02-29", 10, &d), XY_EINPUT);
    ASSERT_EQ(xy_day_parse("2200-02-29", 10, &d), XY_EINPUT);
    ASSERT_EQ(xy_day_parse("1600-02-29", 10, &d), XY_OK);
}

TEST(date_valid_is_exactly_what_parse_gives)
{
    xy_day lo, hi;
    ASSERT_EQ(xy_day_parse("1000-01-01", 10, &lo), XY_OK);
    ASSERT_EQ(xy_day_parse("9999-12-31", 10, &hi), XY_OK);
    ASSERT(xy_day_valid(lo) && xy_day_valid(hi) && xy_day_valid(0));
    ASSERT(!xy_day_valid(lo - 1) && !xy_day_valid(hi + 1));
    ASSERT(!xy_day_valid(XY_DAY_NONE) && !xy_day_valid(INT32_MAX));
}

TEST(date_age_counts_whole_years)
{
    xy_day b, on;
    xy_day_parse("2000-05-10", 10, &b);
    xy_day_parse("2018-05-09", 10, &on);
    ASSERT_EQ(xy_age_on(b, on), 17);
    xy_day_parse("2018-05-10", 10, &on);
    ASSERT_EQ(xy_age_on(b, on), 18);
    /* Born on 29 February: of age on 1 March in a common year. */
    xy_day_parse("2004-02-29", 10, &b);
    xy_day_parse("2022-02-28", 10, &on);
    ASSERT_EQ(xy_age_on(b, on), 17);
    xy_day_parse("2022-03-01", 10, &on);
    ASSERT_EQ(xy_age_on(b, on), 18);
    ASSERT_EQ(xy_day_year(on), 2022);
}

/* Days past 9999-12-31, which a rule's day count reaches from a date in
 * 9999, are written in ISO 8601's expanded form, never wrapped around. */
TEST(date_past_9999_is_written_expanded)
{
    char s[XY_DAY_CHARS];
    xy_day d;
    ASSERT_EQ(xy_day_parse("9999-12-31", 10, &d), XY_OK);
    xy_day_format(d, s);
    ASSERT(strcmp(s, "9999-12-31") == 0);
    xy_day_format(d + 1, s);
    ASSERT(strcmp(s, "+10000-01-01") == 0);
    xy_day_format(d + 365, s);
    ASSERT(strcmp(s, "+10000-12-30") == 0);
    xy_day_format(d + 3 * 36525, s); /* three rule day counts of a century */
    ASSERT(strcmp(s, "+10300-01-02") == 0);
}
