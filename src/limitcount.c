/* limitcount.c -- yearly limit counts: one open-addressing table of 8-byte
 * entries per calendar year (see limitcount.h). */
#include "limitcount.h"

#include <string.h>
#include <sys/mman.h>

/* Tables of this many bytes or more come from xy__big_realloc. */
#define LIM_BIG ((size_t)1 << 20)

static inline size_t lim_home(const xy_lyear *y, uint64_t key)
{
    return (size_t)(xy__limits_home(y, xy__hash64(key >> 8)) - y->slot);
}

static uint64_t *lim_alloc(size_t slots)
{
    size_t bytes = slots * sizeof(uint64_t);
    if (bytes < LIM_BIG) return xy__calloc(slots, sizeof(uint64_t));
    uint64_t *p = xy__big_realloc(NULL, 0, bytes);
    /* Every page is written soon; see xy__map_init_slots. */
    xy__populate(p, bytes);
    return p;
}

static void lim_release(uint64_t *p, size_t slots)
{
    size_t bytes = slots * sizeof(uint64_t);
    if (!p) return;
    if (bytes < LIM_BIG) xy__free(p);
    else xy__big_free(p, bytes);
}

void xy__limits_free(xy_limits *l)
{
    for (int i = 0; i < l->n; i++) {
        lim_release(l->y[i].slot, l->y[i].mask + 1);
        xy__map_free(&l->y[i].over);
        xy__fork_copy_free(&l->y[i].copy);
    }
    xy__free(l->y);
    memset(l, 0, sizeof *l);
}

/* Places an entry known to be absent. */
static void lim_place(xy_lyear *y, uint64_t entry)
{
    size_t i = lim_home(y, entry);
    while (y->slot[i]) i = (i + 1) & y->mask;
    y->slot[i] = entry;
}

/* Doubles a year's table. Up to three quarters full is fine: eight
 * entries share a cache line, so a probe rarely leaves the first one. */
static void lim_grow(xy_lyear *y)
{
    uint64_t *old = y->slot;
    size_t n = y->mask + 1;
    y->slot = lim_alloc(2 * n);
    y->mask = 2 * n - 1;
    for (size_t i = 0; i < n; i++)
        if (old[i]) lim_place(y, old[i]);
    lim_release(old, n);
}

xy_lyear *xy__limits_year_slow(xy_limits *l, int year)
{
    int i = 0;
    while (i < l->n && l->y[i].year < year) i++;
    if (i == l->n || l->y[i].year != year) {
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 4;
            l->y = xy__realloc(l->y, (size_t)l->cap * sizeof *l->y);
        }
        memmove(&l->y[i + 1], &l->y[i], (size_t)(l->n - i) * sizeof *l->y);
        l->n++;
        /* As large as the largest other year has become: years are alike.
         * The first year goes by the guess instead of doubling its way up
         * from nothing (each step placing every entry again, in fresh
         * memory). */
        size_t slots = 64, expect = l->n == 1 ? l->guess : 0;
        for (int k = 0; k < l->n; k++)
            if (k != i && l->y[k].count > expect) expect = l->y[k].count;
        while (slots * 3 < expect * 4 + 4) slots *= 2;
        xy_lyear *y = &l->y[i];
        memset(y, 0, sizeof *y);
        y->year = year;
        y->slot = lim_alloc(slots);
        y->mask = slots - 1;
    }
    l->hot = &l->y[i];
    return l->hot;
}

const void *xy__limits_first_slow(const xy_limits *l, int year, uint64_t hash)
{
    for (int i = 0; i < l->n; i++)
        if (l->y[i].year == year) return xy__limits_home(&l->y[i], hash);
    return l;
}

int xy__limits_take_slow(xy_lyear *y, size_t i, uint64_t key, int64_t limit)
{
    uint64_t v = y->slot[i];
    if (v) {
        /* The key's entry, with a count of 254 or more. */
        uint64_t c = v & 0xff, *big = NULL;
        if (c == 0xff) {
            big = xy__map_get(&y->over, key >> 8);
            c = *big;
        }
        if ((int64_t)c >= limit) return 0;
        if (big) {
            ++*big;
        } else {
            int is_new;
            *xy__map_put(&y->over, key >> 8, &is_new) = c + 1;
            y->slot[i] = key | 0xff;
        }
        return 1;
    }
    if (limit < 1) return 0;
    if ((y->count + 1) * 4 > (y->mask + 1) * 3) {
        lim_grow(y);
        lim_place(y, key | 1);
    } else {
        y->slot[i] = key | 1;
    }
    y->count++;
    return 1;
}

void xy__limits_before_fork(xy_limits *l)
{
    for (int i = 0; i < l->n; i++) {
        xy_lyear *y = &l->y[i];
        size_t bytes = (y->mask + 1) * sizeof *y->slot;
        y->child = NULL;
        if (i >= l->n - 2) y->child = xy__fork_copy_make(&y->copy, y->slot, bytes, bytes);
        else xy__fork_copy_drop(&y->copy, y->slot, bytes);
    }
}

void xy__limits_in_child(xy_limits *l)
{
    for (int i = 0; i < l->n; i++)
        if (l->y[i].child) l->y[i].slot = l->y[i].child;
}

size_t xy__limits_count(const xy_limits *l)
{
    size_t n = 0;
    for (int i = 0; i < l->n; i++) n += l->y[i].count;
    return n;
}

enum { LIM_PAGE = 4096 };

void xy__limits_emit(const xy_limits *l, xy_emit_fn *emit, void *ctx)
{
    static const char zeros[LIM_PAGE];
    uint64_t n = (uint64_t)l->n, at = sizeof n;
    emit(ctx, &n, sizeof n);
    for (int i = 0; i < l->n; i++) {
        const xy_lyear *y = &l->y[i];
        size_t bytes = (y->mask + 1) * sizeof *y->slot;
        uint64_t head[5] = {(uint64_t)(int64_t)y->year, y->mask, y->count, y->over.count, 0};
        if (bytes >= LIM_BIG) head[4] = (LIM_PAGE - (at + sizeof head) % LIM_PAGE) % LIM_PAGE;
        emit(ctx, head, sizeof head);
        if (head[4]) emit(ctx, zeros, (size_t)head[4]);
        emit(ctx, y->slot, bytes);
        at += sizeof head + head[4] + bytes + 16 * y->over.count;
        for (size_t k = 0; y->over.slots && k <= y->over.mask; k++)
            if (y->over.slots[k].key) {
                uint64_t kv[2] = {y->over.slots[k].key - 1, y->over.slots[k].val};
                emit(ctx, kv, sizeof kv);
            }
    }
}

void xy__limits_save(const xy_limits *l, xy_buf *out) { xy__limits_emit(l, xy__buf_emit, out); }

int xy__limits_load(xy_limits *l, const xy_big_src *src, const void *data, size_t len, int padded)
{
    const unsigned char *p = data, *end = p + len;
    uint64_t n;
    size_t hlen = padded ? 40 : 32;
    if (len < 8) return XY_ECORRUPT;
    memcpy(&n, p, 8);
    p += 8;
    if (n > (uint64_t)(end - p) / hlen) return XY_ECORRUPT;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t head[5] = {0};
        if ((size_t)(end - p) < hlen) return XY_ECORRUPT;
        memcpy(head, p, hlen);
        p += hlen;
        if (head[4] >= LIM_PAGE || head[4] > (uint64_t)(end - p)) return XY_ECORRUPT;
        p += head[4];
        uint64_t slots = head[1] + 1;
        int64_t year = (int64_t)head[0];
        if (slots < 2 || (slots & head[1]) || head[2] >= slots || year < -100000 || year > 100000 ||
            (l->n && year <= l->y[l->n - 1].year) || slots > (uint64_t)(end - p) / 8 ||
            head[3] > ((uint64_t)(end - p) - slots * 8) / 16)
            return XY_ECORRUPT;
        xy_lyear *y = xy__limits_year(l, (int)year);
        lim_release(y->slot, y->mask + 1);
        if (slots * 8 >= LIM_BIG) {
            /* Mapped for a reader, copied for a writer: a table never
             * grows in place (lim_grow makes a new one). */
            y->slot = xy__big_load(src, p, slots * 8, slots * 8);
        } else {
            y->slot = lim_alloc(slots);
            memcpy(y->slot, p, slots * 8);
        }
        y->mask = slots - 1;
        y->count = head[2];
        p += slots * 8;
        /* The count the table claims, and a free slot for lookups to end on. */
        uint64_t used = 0;
        for (uint64_t k = 0; k < slots; k++) used += y->slot[k] != 0;
        if (used != head[2]) return XY_ECORRUPT;
        for (uint64_t k = 0; k < head[3]; k++) {
            uint64_t kv[2];
            int is_new;
            memcpy(kv, p, 16);
            p += 16;
            if (kv[0] == XY_MAP_EMPTY) return XY_ECORRUPT;
            *xy__map_put(&y->over, kv[0], &is_new) = kv[1];
        }
    }
    return p == end ? XY_OK : XY_ECORRUPT;
}
