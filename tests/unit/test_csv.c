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
    xy__csv_init(&c, text, strlen(text));
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT_EQ(c.nfields, 3);
    ASSERT(field_is(&c, 2, "c"));
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT_EQ(c.line, 2);
    ASSERT(field_is(&c, 1, "x, y"));
    ASSERT(field_is(&c, 2, "say \"hi\""));
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT_EQ(c.line, 4);
    ASSERT(field_is(&c, 1, "two\nlines"));
    ASSERT(field_is(&c, 2, ""));
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT_EQ(c.line, 6);
    ASSERT_EQ(c.nfields, 3);
    ASSERT(field_is(&c, 1, ""));
    ASSERT(field_is(&c, 2, ""));
    ASSERT_EQ(xy__csv_next(&c, &why), 0);
    xy__csv_free(&c);
}

TEST(csv_raw_record_is_kept_for_rejects)
{
    const char *text = "h\n\"a\"\"b\",c\r\nnext\n";
    xy_csv c;
    const char *why;
    xy__csv_init(&c, text, strlen(text));
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT_EQ(c.rec_len, 8);
    ASSERT(memcmp(c.rec, "\"a\"\"b\",c", 8) == 0);
    xy__csv_free(&c);
}

TEST(csv_errors_resume_at_next_line)
{
    const char *text = "a,b\n1,x\"y\n2,\"ok\"z\n3,fine\n4,\"never closed\n";
    xy_csv c;
    const char *why = NULL;
    xy__csv_init(&c, text, strlen(text));
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT_EQ(xy__csv_next(&c, &why), -1);
    ASSERT_EQ(c.line, 2);
    ASSERT_STR(why, "quote inside an unquoted field");
    ASSERT_EQ(c.bad - c.rec, 3); /* the stray quote */
    ASSERT_EQ(xy__csv_next(&c, &why), -1);
    ASSERT_EQ(c.line, 3);
    ASSERT_STR(why, "unexpected character after a closing quote");
    ASSERT_EQ(c.bad - c.rec, 6); /* the z */
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT_EQ(c.line, 4);
    ASSERT(field_is(&c, 1, "fine"));
    ASSERT_EQ(xy__csv_next(&c, &why), -1);
    ASSERT_EQ(c.line, 5);
    ASSERT_STR(why, "unterminated quoted field");
    ASSERT_EQ(c.bad - c.rec, 2); /* the quote that opens the field */
    ASSERT_EQ(xy__csv_next(&c, &why), 0);
    xy__csv_free(&c);
}

static int position_is(const char *rec, size_t off, uint64_t line, uint64_t col)
{
    uint64_t l, c;
    xy__csv_position(rec, off, &l, &c);
    return l == line && c == col;
}

TEST(csv_field_offsets_and_positions_for_messages)
{
    /* Field 1 is quoted with a comma, a doubled quote and a line break in
     * it; field 2 follows on the record's second line. */
    const char *rec = "id1,\"a,\"\"b\nc\",\xE9\x99\x88x,,end";
    size_t len = strlen(rec);
    ASSERT_EQ(xy__csv_field_offset(rec, len, 0), 0);
    ASSERT_EQ(xy__csv_field_offset(rec, len, 1), 4);
    ASSERT_EQ(xy__csv_field_offset(rec, len, 2), 14);
    ASSERT_EQ(xy__csv_field_offset(rec, len, 3), 19);
    ASSERT_EQ(xy__csv_field_offset(rec, len, 4), 20);
    ASSERT_EQ(xy__csv_field_offset(rec, len, 5), len); /* past the last field */
    ASSERT_EQ(xy__csv_field_offset(rec, len, 9), len);
    ASSERT_EQ(xy__csv_field_offset("", 0, 0), 0);
    ASSERT_EQ(xy__csv_field_offset("", 0, 1), 0);
    ASSERT(position_is(rec, 0, 0, 1));
    ASSERT(position_is(rec, 4, 0, 5));
    ASSERT(position_is(rec, 14, 1, 4));
    ASSERT(position_is(rec, 19, 1, 7)); /* a three-byte character counts once */
}

TEST(csv_byte_order_mark_and_no_final_newline)
{
    const char *text = "\xEF\xBB\xBFid,x\n1,2";
    xy_csv c;
    const char *why;
    xy__csv_init(&c, text, strlen(text));
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT(field_is(&c, 0, "id"));
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT(field_is(&c, 1, "2"));
    ASSERT_EQ(xy__csv_next(&c, &why), 0);
    xy__csv_free(&c);
}

/* Reads text with the fast path on and off, in step: every record must
 * come out the same (status, reason, raw text, line, fields). Returns
 * the number of records, or -1 at the first difference. */
static long both_paths_agree(const char *text, size_t len)
{
    xy_csv a, b;
    xy__csv_init(&a, text, len);
    xy__csv_init(&b, text, len);
    b.general_only = 1;
    long n = 0;
    for (;; n++) {
        const char *wa = NULL, *wb = NULL;
        int ra = xy__csv_next(&a, &wa), rb = xy__csv_next(&b, &wb);
        int same = ra == rb && wa == wb && a.rec == b.rec && a.rec_len == b.rec_len && a.line == b.line &&
                   a.next_line == b.next_line && a.p == b.p;
        if (same && ra > 0) {
            same = a.nfields == b.nfields;
            for (size_t i = 0; same && i < a.nfields; i++)
                same = a.fields[i].n == b.fields[i].n && memcmp(a.fields[i].s, b.fields[i].s, a.fields[i].n) == 0;
        }
        if (!same) n = -1;
        if (!same || ra == 0) break;
    }
    xy__csv_free(&a);
    xy__csv_free(&b);
    return n;
}

/* The fast path for records without quotes reads exactly what the general
 * path reads: on fixed cases around its 16-byte blocks (a line feed, a
 * carriage return or a quote at a block's edge, no final newline, blank
 * lines) and on 20,000 random texts over the characters that matter. */
TEST(csv_fast_path_reads_what_the_general_path_reads)
{
    const char *cases[] = {
        "id,date,citizen,behaviour,agency,amount\ne0,2023-01-01,440301198209024910,x,y,670\n",
        "aaaaaaaaaaaaaaa,\nbbbbbbbbbbbbbbb\r\ncccccccccccccccc\"d\"\n",
        "a,b\r", "a,\r\n\r\n,\n", "0123456789abcde\n", "0123456789abcdef\n", "0123456789abcdef0\"\n",
        "0123456789abcd,\"x\"\n", ",,,,,,,,,,,,,,,,,,,,\n", "x\n\"q\",1\n\"unterminated", "a\"b,c\nd,e\n",
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) ASSERT(both_paths_agree(cases[k], strlen(cases[k])) > 0);
    static const char alphabet[] = "ab,,,\n\n\r\"0123456789";
    uint32_t s = 12345;
    char text[200];
    for (int t = 0; t < 20000; t++) {
        s = s * 1664525u + 1013904223u;
        size_t len = (s >> 8) % sizeof text;
        /* Most texts without quotes, so that whole records take the fast path. */
        size_t nalpha = (s >> 4 & 3) ? sizeof alphabet - 12 : sizeof alphabet - 1;
        for (size_t i = 0; i < len; i++) {
            s = s * 1664525u + 1013904223u;
            text[i] = alphabet[(s >> 8) % nalpha];
        }
        ASSERT(both_paths_agree(text, len) >= 0);
    }
}

/* Edges of the general path: a file that is only a byte order mark has no
 * record; a line of a lone carriage return is blank; a carriage return
 * after a closing quote that no line feed follows is the stray character;
 * an unclosed quote's record runs from its start to the end. */
TEST(csv_bom_only_blank_cr_and_unclosed_record)
{
    xy_csv c;
    const char *why = NULL;
    xy__csv_init(&c, "\xEF\xBB\xBF", 3);
    ASSERT_EQ(xy__csv_next(&c, &why), 0);
    xy__csv_free(&c);
    const char *text = "h\n\r\nx\n\"a\"\rb\nk,\"open";
    xy__csv_init(&c, text, strlen(text));
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT_EQ(xy__csv_next(&c, &why), 1);
    ASSERT_EQ(c.line, 3);
    ASSERT_EQ(c.nfields, 1);
    ASSERT(field_is(&c, 0, "x"));
    ASSERT_EQ(xy__csv_next(&c, &why), -1);
    ASSERT_STR(why, "unexpected character after a closing quote");
    ASSERT_EQ(c.bad - c.rec, 3);
    ASSERT_EQ(xy__csv_next(&c, &why), -1);
    ASSERT_STR(why, "unterminated quoted field");
    ASSERT_EQ(c.rec_len, 7);
    ASSERT_EQ(xy__csv_next(&c, &why), 0);
    xy__csv_free(&c);
}
