/* snapshot_file.h -- for the tests and the fuzz harness: finding and
 * resealing the sections of a snapshot file held in memory (the framing
 * is described in src/snapshot.c), so that a test can change what a
 * section holds and still get past its checksum. */
#ifndef XY_TEST_SNAPSHOT_FILE_H
#define XY_TEST_SNAPSHOT_FILE_H

#include <stdint.h>
#include <string.h>

#include "util.h"

/* Calls fn for each section whose header and data lie within s[0..len):
 * its tag, the offsets of its header and of its data, and its length. */
static inline void snap_sections(unsigned char *s, size_t len,
                                 void (*fn)(unsigned char *s, uint32_t tag, size_t hdr, size_t at, uint64_t n, void *ctx),
                                 void *ctx)
{
    uint64_t head[2];
    if (len < 32) return;
    memcpy(head, s + 16, 16);
    size_t off = 32;
    for (uint64_t k = 0; k < head[1] && off + 16 <= len; k++) {
        uint32_t word;
        uint64_t n;
        memcpy(&word, s + off, 4);
        memcpy(&n, s + off + 8, 8);
        size_t pad = word >> 16;
        if (pad > len - off - 16 || n > len - off - 16 - pad) break;
        fn(s, word & 0xffff, off, off + 16 + pad, n, ctx);
        off += 16 + pad + (size_t)n;
    }
}

static inline void snap_seal_one(unsigned char *s, uint32_t tag, size_t hdr, size_t at, uint64_t n, void *ctx)
{
    (void)tag;
    (void)ctx;
    uint32_t crc = xy__crc32(0, s + at, (size_t)n);
    memcpy(s + hdr + 4, &crc, 4);
}

/* Gives every section the checksum of its data. */
static inline void snap_seal(unsigned char *s, size_t len) { snap_sections(s, len, snap_seal_one, NULL); }

typedef struct snap_find {
    uint32_t tag; /* wanted */
    size_t at;    /* where its data starts, 0 if not found */
} snap_find;

static inline void snap_find_one(unsigned char *s, uint32_t tag, size_t hdr, size_t at, uint64_t n, void *ctx)
{
    (void)s;
    (void)hdr;
    (void)n;
    snap_find *f = ctx;
    if (tag == f->tag && !f->at) f->at = at;
}

/* Where the data of section tag starts, or 0. */
static inline size_t snap_section_at(unsigned char *s, size_t len, uint32_t tag)
{
    snap_find f = {tag, 0};
    snap_sections(s, len, snap_find_one, &f);
    return f.at;
}

#endif
