/* csv.h -- an RFC 4180 reader over a buffer in memory: quoted fields,
 * embedded commas, quotes and line breaks, CRLF or LF, line numbers for
 * messages, and no allocation per field or per record once warmed up. */
#ifndef XY_CSV_H
#define XY_CSV_H

#include <stddef.h>
#include <stdint.h>

typedef struct xy_field {
    const char *s; /* field bytes (not NUL-terminated) */
    size_t n;      /* length */
} xy_field;

typedef struct xy_csv {
    const char *p;          /* next unread byte */
    const char *end;        /* end of the buffer */
    uint64_t next_line;     /* line number of p */
    uint64_t line;          /* line where the current record starts */
    const char *rec;        /* raw text of the current record */
    size_t rec_len;         /* its length, without the line break */
    xy_field *fields;       /* fields of the current record */
    size_t nfields;         /* number of fields */
    size_t cap;             /* capacity of fields */
    size_t *offs;           /* per field: offset into scratch, or SIZE_MAX */
    size_t offs_cap;        /* capacity of offs */
    char *scratch;          /* unescaped text of quoted fields */
    size_t scratch_len;     /* bytes used in scratch */
    size_t scratch_cap;     /* bytes allocated */
    int general_only;       /* skip the fast path for records without
                               quotes (tests compare the two paths) */
    const char *bad;        /* after a malformed record: the character
                               at fault (an unclosed field's quote) */
} xy_csv;

/* Starts reading buf[0..len); buf must outlive the reader. */
void xy__csv_init(xy_csv *c, const char *buf, size_t len);
void xy__csv_free(xy_csv *c);
/* Reads the next record. Returns 1 with c->fields set, 0 at the end, or -1
 * for a malformed record, with *why set to a static reason; the reader
 * then resumes after the bad record. Blank lines are skipped. Fields stay
 * valid until the next call. */
int xy__csv_next(xy_csv *c, const char **why);

/* Where field `field` (0-based) of the raw record rec[0..len) begins, as a
 * byte offset into rec (quoted fields at their opening quote); len when
 * the record has fewer fields. Meant for messages: it scans the record. */
size_t xy__csv_field_offset(const char *rec, size_t len, size_t field);

/* The position of byte offset off of a raw record: the line breaks before
 * it in the record (*line, 0 when on the record's first line) and its
 * 1-based column in characters (UTF-8) on its own line. */
void xy__csv_position(const char *rec, size_t off, uint64_t *line, uint64_t *col);

#endif
