/* Unit tests of csv.c: RFC 4180 records, line numbers and errors. */
#include "csv.h"
#include "unit.h"

static int field_is(const xy_csv *c, size_t i, const char *s)
{
    return i < c->nfields && c->fields[i].n == strlen(s) && memcmp(c->fields[i].s, s, c->fields[i].n) == 0;
}

TEST(csv_quoted_fields_commas_quotes_and_newlines)
{
    const char *text = "a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n\n2,\"two\nlines\",\n3,,\"\"";
    xy_csv c;
    const char *why;
    xy_csv_init(&c, text, strlen(text));
    ASSERT_EQ(xy_csv_next(&c, &why), 1);
    ASSERT_EQ(c.nfields, 3);
    ASSERT(field_is(&c, 2, "c"));
    ASSERT_EQ(xy_csv_next(&c, &why), 1);
    ASSERT_EQ(c.line, 2);
    ASSERT(field_is(&c, 1, "x, y"));
    ASSERT(field_is(&c, 2, "say \"hi\""));
    ASSERT_EQ(xy_csv_next(&c, &why), 1);
    ASSERT_EQ(c.line, 4);
    ASSERT(field_is(&c, 1, "two\nlines"));
    ASSERT(field_is(&c, 2, ""));
    ASSERT_EQ(xy_csv_next(&c, &why), 1);
    ASSERT_EQ(c.line, 6);
    ASSERT_EQ(c.nfields, 3);
    ASSERT(field_is(&c, 1, ""));
    ASSERT(field_is(&c, 2, ""));
    ASSERT_EQ(xy_csv_next(&c, &why), 0);
    xy_csv_free(&c);
}

TEST(csv_raw_record_is_kept_for_rejects)
{
    const char *text = "h\n\"a\"\"b\",c\r\nnext\n";
    xy_csv c;
    const char *why;
    xy_csv_init(&c, text, strlen(text));
    ASSERT_EQ(xy_csv_next(&c, &why), 1);
    ASSERT_EQ(xy_csv_next(&c, &why), 1);
    ASSERT_EQ(c.rec_len, 8);
    ASSERT(memcmp(c.rec, "\"a\"\"b\",c", 8) == 0);
    xy_csv_free(&c);
}

TEST(csv_errors_resume_at_next_line)
{
    const char *text = "a,b\n1,x\"y\n2,\"ok\"z\n3,fine\n4,\"never closed\n";
    xy_csv c;
    const char *why = NULL;
    xy_csv_init(&c, text, strlen(text));
    ASSERT_EQ(xy_csv_next(&c, &why), 1);
    ASSERT_EQ(xy_csv_next(&c, &why), -1);
    ASSERT_EQ(c.line, 2);
    ASSERT_STR(why, "quote inside an unquoted field");
    ASSERT_EQ(xy_csv_next(&c, &why), -1);
    ASSERT_EQ(c.line, 3);
    ASSERT_STR(why, "unexpected character after a closing quote");
    ASSERT_EQ(xy_csv_next(&c, &why), 1);
    ASSERT_EQ(c.line, 4);
    ASSERT(field_is(&c, 1, "fine"));
    ASSERT_EQ(xy_csv_next(&c, &why), -1);
    ASSERT_EQ(c.line, 5);
    ASSERT_STR(why, "unterminated quoted field");
    ASSERT_EQ(xy_csv_next(&c, &why), 0);
    xy_csv_free(&c);
}

TEST(csv_byte_order_mark_and_no_final_newline)
{
    const char *text = "\xEF\xBB\xBFid,x\n1,2";
    xy_csv c;
    const char *why;
    xy_csv_init(&c, text, strlen(text));
    ASSERT_EQ(xy_csv_next(&c, &why), 1);
    ASSERT(field_is(&c, 0, "id"));
    ASSERT_EQ(xy_csv_next(&c, &why), 1);
    ASSERT(field_is(&c, 1, "2"));
    ASSERT_EQ(xy_csv_next(&c, &why), 0);
    xy_csv_free(&c);
}
