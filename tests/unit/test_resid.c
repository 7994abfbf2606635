/* Unit tests of resid.c: GB 11643-1999 validation and packing. */
#include "unit.h"
#include "xinyong.h"

TEST(resid_accepts_valid_ids_and_roundtrips)
{
    /* The standard's own example and IDs with an X check character. */
    const char *good[] = {"11010519491231002X", "110105194912310029", "371082197503141552",
                          "11010519681212195X"};
    xy_resid id;
    char s[19];
    ASSERT_EQ(xy_resid_parse(good[0], 18, &id, NULL), XY_OK);
    xy_resid_format(id, s);
    ASSERT_STR(s, "11010519491231002X");
    ASSERT_EQ(xy_resid_region(id), 110105);
    ASSERT_EQ(xy_resid_is_male(id), 0);
    xy_day b;
    xy_day_parse("1949-12-31", 10, &b);
    ASSERT_EQ(xy_resid_birth(id), b);
    ASSERT_EQ(xy_resid_parse(good[2], 18, &id, NULL), XY_OK);
    xy_resid_format(id, s);
    ASSERT_STR(s, good[2]);
    ASSERT_EQ(xy_resid_is_male(id), 1);
    ASSERT_EQ(xy_resid_parse("11010519681212195x", 18, &id, NULL), XY_OK);
    xy_resid_mask(id, s);
    ASSERT_STR(s, "110105********195X");
}

TEST(resid_rejects_bad_ids_with_reasons)
{
    xy_resid id;
    const char *why = NULL;
    ASSERT_EQ(xy_resid_parse("110105194912310029", 18, &id, &why), XY_EINPUT);
    ASSERT_STR(why, "has a wrong check character");
    ASSERT_EQ(xy_resid_parse("11010519490230002X", 18, &id, &why), XY_EINPUT);
    ASSERT_STR(why, "has a birth date that does not exist");
    ASSERT_EQ(xy_resid_parse("110105179912310029", 18, &id, &why), XY_EINPUT); /* a date, but 1799 */
    ASSERT_STR(why, "has a birth year outside 1800-2199, the years an ID can hold here");
    ASSERT_EQ(xy_resid_parse("110105220001010029", 18, &id, &why), XY_EINPUT);
    ASSERT_STR(why, "has a birth year outside 1800-2199, the years an ID can hold here");
    ASSERT_EQ(xy_resid_parse("1101051949123100AX", 18, &id, &why), XY_EINPUT);
    ASSERT_STR(why, "has a non-digit among its first 17 characters");
    ASSERT_EQ(xy_resid_parse("11010519491231002", 17, &id, &why), XY_EINPUT);
    ASSERT_STR(why, "must have 18 characters");
    const char *wide = "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x90\xef\xbc\x91\xef\xbc\x90\xef\xbc\x95"
                       "\xef\xbc\x91\xef\xbc\x99\xef\xbc\x94\xef\xbc\x99\xef\xbc\x91\xef\xbc\x92"
                       "\xef\xbc\x93\xef\xbc\x91\xef\xbc\x90\xef\xbc\x90\xef\xbc\x92\xef\xbc\x99";
    ASSERT_EQ(xy_resid_parse(wide, strlen(wide), &id, &why), XY_EINPUT); /* fullwidth digits */
    ASSERT_STR(why, "must be 18 ASCII characters: digits, the last may be X");
    ASSERT_EQ(xy_resid_parse("11010519491231002Y", 18, &id, &why), XY_EINPUT);
}

/* A birth month 13 or 00 and a day 00 do not exist, even when the check
 * character is right for the digits: the date is refused as such. */
TEST(resid_rejects_month_13_month_00_and_day_00)
{
    const char *bad[] = {"110105194913310021", "110105194900310022", "110105194912000021"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xy_resid id;
        const char *why = NULL;
        ASSERT_EQ(xy_resid_parse(bad[i], 18, &id, &why), XY_EINPUT);
        ASSERT_STR(why, "has a birth date that does not exist");
    }
}

TEST(resid_check_character_every_remainder)
{
    /* For one 17-digit body and every last sequence digit, exactly one of
     * the 11 check characters is accepted. */
    char s[19] = "37108219750314155?";
    const char *checks = "0123456789X";
    for (char last = '0'; last <= '9'; last++) {
        s[16] = last;
        int accepted = 0;
        for (int k = 0; k < 11; k++) {
            s[17] = checks[k];
            xy_resid id;
            if (xy_resid_parse(s, 18, &id, NULL) == XY_OK) accepted++;
        }
        ASSERT_EQ(accepted, 1);
    }
}

/* A character that is not a digit, in any of the first 17 places and
 * whatever its byte (just below and above the digits, a letter, a byte
 * above 127, NUL), is reported as such, not as a date or check-character
 * problem. */
TEST(resid_non_digit_in_every_place)
{
    const char bad[] = {'/', ':', ' ', 'A', 'x', (char)0xb0, (char)0xff, 0};
    for (int i = 0; i < 17; i++)
        for (size_t k = 0; k < sizeof bad; k++) {
            char s[19] = "371082197503141552";
            s[i] = bad[k];
            xy_resid id;
            const char *why = NULL;
            ASSERT_EQ(xy_resid_parse(s, 18, &id, &why), XY_EINPUT);
            ASSERT_STR(why, "has a non-digit among its first 17 characters");
        }
}

/* Completes the 17 characters of s with the one check character that
 * parses, into id; returns whether there was one. */
static int complete_id(char s[19], xy_resid *id)
{
    const char *checks = "0123456789X";
    for (int k = 0; k < 11; k++) {
        s[17] = checks[k];
        s[18] = 0;
        if (xy_resid_parse(s, 18, id, NULL) == XY_OK) return 1;
    }
    return 0;
}

/* The packed form keeps every field whole at its extremes: the highest
 * region, births from 1800-01-01 to 2199-12-31 (the last ones need every
 * bit the birth has) and sequences up to 999. */
TEST(resid_extremes_of_every_field_roundtrip)
{
    const struct {
        const char *body, *birth;
        unsigned region;
    } cases[] = {{"99999921991231999", "2199-12-31", 999999},
                 {"00000118000101000", "1800-01-01", 1},
                 {"44030321500606512", "2150-06-06", 440303}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char s[19], back[19];
        memcpy(s, cases[i].body, 17);
        xy_resid id;
        ASSERT(complete_id(s, &id));
        xy_resid_format(id, back);
        ASSERT_STR(back, s);
        xy_day b;
        ASSERT_EQ(xy_day_parse(cases[i].birth, 10, &b), XY_OK);
        ASSERT_EQ(xy_resid_birth(id), b);
        ASSERT_EQ(xy_resid_region(id), cases[i].region);
        ASSERT_EQ(xy_resid_is_male(id), (s[16] - '0') & 1);
    }
}
