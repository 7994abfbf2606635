/* util.c -- memory policy, growable arrays, hashing, the 64-bit hash map,
 * the name table and byte buffers. */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <isa-l/crc.h>

/* ------------------------------------------------------------------ text */

int xy__path_within(const char *dir, const char *path)
{
    char *d = realpath(dir, NULL), *p = realpath(path, NULL);
    if (!p) {
        /* Not there yet: where it would be made. */
        const char *slash = strrchr(path, '/');
        char *parent = slash ? xy__strndup(path, slash == path ? 1 : (size_t)(slash - path)) : xy__strndup(".", 1);
        p = realpath(parent, NULL);
        xy__free(parent);
    }
    size_t n = d ? strlen(d) : 0;
    int in = d && p && strncmp(p, d, n) == 0 && (p[n] == 0 || p[n] == '/' || n == 1);
    free(d);
    free(p);
    return in;
}

size_t xy__utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* The sequence's length and the range of its second byte, which
         * is where overlong forms, surrogates and values past U+10FFFF
         * show (RFC 3629, section 4). */
        size_t len;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        else return i;
        if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return i;
        for (size_t k = 2; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80) return i;
        i += len;
    }
    return n;
}

/* ---------------------------------------------------------------- memory */

static void oom(size_t n)
{
    fprintf(stderr, "xinyong: out of memory allocating %zu bytes\n", n);
    fflush(stderr); /* see xy__panic */
    abort();
}

void *xy__malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xy__calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *xy__realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xy__strndup(const char *s, size_t n)
{
    char *d = xy__malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void xy__free(void *p) { free(p); }

#define BIG_ROUND ((size_t)2 << 20)

static size_t big_round(size_t n) { return (n + BIG_ROUND - 1) & ~(BIG_ROUND - 1); }

#define BIG_MIN ((size_t)1 << 20)

void *xy__big_realloc(void *p, size_t old_size, size_t new_size)
{
    if (new_size < BIG_MIN) {
        /* Small: the heap (sizes only grow, so p is a heap block too). */
        char *q = xy__realloc(p, new_size ? new_size : 1);
        if (new_size > old_size) memset(q + old_size, 0, new_size - old_size);
        return q;
    }
    size_t o = p && old_size >= BIG_MIN ? big_round(old_size) : 0, n = big_round(new_size);
    if (o == n) return p;
    void *q = o ? mremap(p, o, n, MREMAP_MAYMOVE) : MAP_FAILED;
    if (q == MAP_FAILED) {
        /* Fresh, or a block that begins with a file's pages (xy__big_load),
         * which one remap cannot take with the anonymous ones after them. */
        q = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (q == MAP_FAILED) oom(n);
        if (o) {
            memcpy(q, p, old_size);
            munmap(p, o);
        }
    }
    (void)madvise(q, n, MADV_HUGEPAGE); /* a hint: fine if refused */
    if (p && !o) {
        /* From the heap to a mapping. */
        memcpy(q, p, old_size);
        free(p);
    }
    return q;
}

void xy__big_free(void *p, size_t size)
{
    if (!p) return;
    if (size < BIG_MIN) free(p);
    else munmap(p, big_round(size));
}

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

int xy__big_growable(size_t len, size_t size)
{
    return size < BIG_MIN || big_round(size) > page_round(len);
}

void *xy__big_load(const xy_big_src *src, const void *data, size_t len, size_t size)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (src && src->map && src->fd >= 0 && size >= BIG_MIN && len <= size && len &&
        (size_t)((const unsigned char *)data - src->base) % pg == 0) {
        size_t n = big_round(size), file = page_round(len);
        char *q = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (q == MAP_FAILED) oom(n);
        if (mmap(q, file, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, src->fd,
                 (off_t)((const unsigned char *)data - src->base)) != MAP_FAILED) {
            /* The last page's bytes past len are the file's next ones. */
            memset(q + len, 0, file - len);
            if (n > file) (void)madvise(q + file, n - file, MADV_HUGEPAGE);
            return q;
        }
        munmap(q, n);
    }
    void *q = xy__big_realloc(NULL, 0, size);
    /* Faulted in on two threads first (see xy__populate): a writer copies
     * a gigabyte at ten million citizens, and clearing it is most of that. */
    if (size >= BIG_MIN && len) xy__populate(q, len);
    if (len && (!src || src->fd < 0 ||
                xy__pread_all(src->fd, q, len, (uint64_t)((const unsigned char *)data - src->base))))
        memcpy(q, data, len);
    return q;
}

int xy__pread_all(int fd, void *p, size_t n, uint64_t off)
{
    char *c = p;
    while (n) {
        ssize_t r = pread(fd, c, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO;
            return -1;
        }
        c += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

void *xy__sparse_alloc(size_t size)
{
    void *p = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) oom(size);
    return p;
}

void xy__sparse_free(void *p, size_t size)
{
    if (p) munmap(p, size ? size : 1);
}

void *xy__fork_copy_make(xy_fork_copy *c, void *p, size_t size, size_t len)
{
#ifdef MADV_WIPEONFORK
    if (!p || size < BIG_MIN || len > size) return NULL;
    if (madvise(p, big_round(size), MADV_WIPEONFORK)) {
        /* A mark left from an earlier fork would give the child zeros. */
        (void)madvise(p, big_round(size), MADV_KEEPONFORK);
        return NULL;
    }
    if (c->size < len) {
        c->p = xy__big_realloc(c->p, c->size, len);
        c->size = len;
    }
    memcpy(c->p, p, len);
    return c->p;
#else
    (void)c, (void)p, (void)size, (void)len;
    return NULL;
#endif
}

typedef struct populate_job {
    void *const *p;
    const size_t *n;
    int k;
} populate_job;

static void *populate_ranges(void *arg)
{
    const populate_job *j = arg;
    for (int i = 0; i < j->k; i++) {
        uintptr_t a = (uintptr_t)j->p[i] & ~(uintptr_t)4095, z = ((uintptr_t)j->p[i] + j->n[i] + 4095) & ~(uintptr_t)4095;
#ifdef MADV_POPULATE_WRITE
        if (j->n[i]) (void)madvise((void *)a, z - a, MADV_POPULATE_WRITE);
#else
        (void)a, (void)z;
#endif
    }
    return NULL;
}

void xy__populate_beside(void *const *p, const size_t *n, int k, void (*fn)(void *), void *arg)
{
    size_t total = 0;
    for (int i = 0; i < k; i++) total += n[i];
    populate_job j = {p, n, k};
    pthread_t th;
    int threaded = total >= XY_POPULATE_SPLIT && pthread_create(&th, NULL, populate_ranges, &j) == 0;
    fn(arg);
    if (threaded) pthread_join(th, NULL);
}

void xy__populate(void *p, size_t n)
{
    /* The second thread takes the upper half, cut at a huge page; without
     * one, this thread does both. */
    size_t lower = n / 2 & ~(((size_t)2 << 20) - 1), upper_n = n - lower;
    void *upper = (char *)p + lower;
    populate_job low = {&p, &lower, 1}, up = {&upper, &upper_n, 1};
    pthread_t th;
    int threaded = n >= XY_POPULATE_SPLIT && lower && pthread_create(&th, NULL, populate_ranges, &up) == 0;
    (void)populate_ranges(&low);
    if (threaded) pthread_join(th, NULL);
    else (void)populate_ranges(&up);
}

void *xy__private_realloc(void *p, size_t old_size, size_t new_size)
{
    /* Always a mapping (at least BIG_MIN), so that the mark covers the
     * whole block and nothing else; a remap keeps the mark. */
    size_t o = p ? (old_size < BIG_MIN ? BIG_MIN : old_size) : 0, n = new_size < BIG_MIN ? BIG_MIN : new_size;
    void *q = xy__big_realloc(p, o, n);
#ifdef MADV_WIPEONFORK
    if (!p) (void)madvise(q, big_round(n), MADV_WIPEONFORK); /* a hint: without it, pages are copied */
#endif
    return q;
}

void xy__private_free(void *p, size_t size)
{
    if (p) xy__big_free(p, size < BIG_MIN ? BIG_MIN : size);
}

/* The capacity xy__grow and its kin grow cap to for need: doubled from 8. */
static size_t grown_cap(size_t cap, size_t need)
{
    size_t c = cap ? cap : 8;
    while (c < need) c *= 2;
    return c;
}

void xy__private_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t c = grown_cap(*cap, need);
    if (c == *cap) return;
    *p = xy__private_realloc(*p, *cap * elem, c * elem);
    *cap = c;
}

void xy__fork_copy_free(xy_fork_copy *c)
{
    xy__big_free(c->p, c->size);
    c->p = NULL;
    c->size = 0;
}

void xy__buf_emit(void *ctx, const void *p, size_t n) { xy__buf_append(ctx, p, n); }

void xy__fork_copy_drop(xy_fork_copy *c, void *p, size_t size)
{
    if (!c->p) return;
#ifdef MADV_KEEPONFORK
    /* The mark of the earlier fork would give the child zeros. */
    if (p && size >= BIG_MIN) (void)madvise(p, big_round(size), MADV_KEEPONFORK);
#else
    (void)p, (void)size;
#endif
    xy__fork_copy_free(c);
}

void xy__panic(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "xinyong: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    /* abort() flushes nothing: a program that buffers its stderr would
     * lose the one message that says why it stopped. */
    fflush(stderr);
    abort();
}

void xy__grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t c = grown_cap(*cap, need);
    if (c == *cap) return;
    *p = xy__realloc(*p, c * elem);
    *cap = c;
}

/* --------------------------------------------------------------- hashing */

uint64_t xy__hash_bytes(const void *p, size_t n)
{
    /* FNV-1a over 8-byte words with a final mix: fast for the short names
     * and ids it sees, and stable across runs and machines. */
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x100000001b3ULL;
    return xy__hash64(h);
}

static inline uint64_t fold_mul(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint32_t xy__crc32(uint32_t crc, const void *p, size_t n)
{
    return n ? crc32_gzip_refl(crc, (const unsigned char *)p, (uint64_t)n) : crc;
}

void xy__hash128(const void *p, size_t n, uint64_t out[2])
{
    const unsigned char *s = p;
    uint64_t a = 0x9e3779b97f4a7c15ULL ^ n, b = 0xc2b2ae3d27d4eb4fULL + n;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        memcpy(&w, s + i, n - i < 8 ? n - i : 8);
        a = fold_mul(a ^ w, 0xa0761d6478bd642fULL);
        b = fold_mul(b + w, 0xe7037ed1a0b428dbULL) ^ (b >> 29);
    }
    out[0] = xy__hash64(fold_mul(a ^ 0x8ebc6af09c88c6e3ULL, b | 1));
    out[1] = xy__hash64(fold_mul(b ^ 0x589965cc75374cc3ULL, a | 1) ^ a);
}

/* ------------------------------------------------------------ 64-bit map */

/* Tables of a megabyte or more use xy__big_realloc (huge pages). Slots
 * hold key + 1, so that zeroed memory is an empty table: fresh pages from
 * the kernel need no second pass. */
#define MAP_BIG (1u << 20)

void xy__map_init(xy_map *m, size_t expected)
{
    size_t cap = 16;
    while (cap * 3 < expected * 4 + 4) cap *= 2;
    xy__map_init_slots(m, cap);
}

void xy__map_init_slots(xy_map *m, size_t cap)
{
    size_t bytes = cap * sizeof *m->slots;
    if (bytes >= MAP_BIG) {
        m->slots = xy__big_realloc(NULL, 0, bytes);
        /* Every slot of a table is soon touched, and the first touch is
         * usually a read (a probe or a prefetch) that maps the shared zero
         * page and then faults again on the write. Populating the table
         * writable at once costs one fault per huge page instead. */
        xy__populate(m->slots, bytes);
    } else {
        m->slots = xy__calloc(cap, sizeof *m->slots);
    }
    m->mask = cap - 1;
    m->count = 0;
}

void xy__map_load(xy_map *m, const xy_big_src *src, const void *slots, size_t cap, size_t count)
{
    size_t bytes = cap * sizeof *m->slots;
    if (bytes >= MAP_BIG) {
        m->slots = xy__big_load(src, slots, bytes, bytes);
    } else {
        m->slots = xy__malloc(bytes);
        memcpy(m->slots, slots, bytes);
    }
    m->mask = cap - 1;
    m->count = count;
}

void xy__map_free(xy_map *m)
{
    if (m->slots) {
        size_t bytes = (m->mask + 1) * sizeof *m->slots;
        if (bytes >= MAP_BIG) xy__big_free(m->slots, bytes);
        else xy__free(m->slots);
    }
    memset(m, 0, sizeof *m);
}

uint64_t *xy__map_get(const xy_map *m, uint64_t key)
{
    if (!m->slots) return NULL;
    size_t i = xy__hash64(key) & m->mask;
    for (;;) {
        xy_slot *s = &m->slots[i];
        if (s->key == key + 1) return &s->val;
        if (s->key == 0) return NULL;
        i = (i + 1) & m->mask;
    }
}

/* Places a key known to be absent (rehashing). */
static void map_place(xy_map *m, uint64_t stored, uint64_t val, size_t i)
{
    while (m->slots[i].key) i = (i + 1) & m->mask;
    m->slots[i].key = stored;
    m->slots[i].val = val;
}

/* Moves m's keys into a new table sized for expected keys. */
static void map_rehash(xy_map *m, size_t expected)
{
    xy_map old = *m;
    xy__map_init(m, expected);
    m->count = old.count;
    /* Batches of 16: fetch the target slots, then place the keys, so the
     * random writes into the new table overlap. */
    enum { BATCH = 16 };
    size_t idx[BATCH], from[BATCH], n = 0;
    for (size_t i = 0; i <= old.mask + 1; i++) {
        if (i <= old.mask && old.slots[i].key) {
            from[n] = i;
            idx[n] = xy__hash64(old.slots[i].key - 1) & m->mask;
            XY_PREFETCH(&m->slots[idx[n]]);
            n++;
        }
        if (n == BATCH || (i == old.mask + 1 && n)) {
            for (size_t k = 0; k < n; k++) map_place(m, old.slots[from[k]].key, old.slots[from[k]].val, idx[k]);
            n = 0;
        }
    }
    xy__map_free(&old);
}

void xy__map_reserve(xy_map *m, size_t total)
{
    if (!m->slots) xy__map_init(m, total); /* a zeroed map, as xy__map_put takes */
    else if ((total + 1) * 4 > (m->mask + 1) * 3) map_rehash(m, total);
}

uint64_t *xy__map_put(xy_map *m, uint64_t key, int *is_new)
{
    if (key == XY_MAP_EMPTY) xy_panic("reserved key in map");
    if (!m->slots) xy__map_init(m, 8);
    if ((m->count + 1) * 4 > (m->mask + 1) * 3) map_rehash(m, m->count * 2);
    size_t i = xy__hash64(key) & m->mask;
    for (;;) {
        xy_slot *s = &m->slots[i];
        if (s->key == key + 1) {
            *is_new = 0;
            return &s->val;
        }
        if (s->key == 0) break;
        i = (i + 1) & m->mask;
    }
    m->slots[i].key = key + 1;
    m->slots[i].val = 0;
    m->count++;
    *is_new = 1;
    return &m->slots[i].val;
}

/* ------------------------------------------------------------ name table */

void xy__names_init(xy_names *t) { memset(t, 0, sizeof *t); }

void xy__names_free(xy_names *t)
{
    for (size_t i = 0; i < t->count; i++) xy__free(t->str[i]);
    xy__free(t->str);
    xy__free(t->slots);
    memset(t, 0, sizeof *t);
}

/* A slot keeps the upper half of the hash beside the id, so probing past
 * other names rarely needs to look at their text. */
int32_t xy__names_find(const xy_names *t, const char *s, size_t n)
{
    if (!t->slots) return -1;
    uint64_t h = xy__hash_bytes(s, n);
    uint64_t tag = h >> 32 << 32;
    size_t i = h & t->mask;
    for (;;) {
        uint64_t v = t->slots[i];
        if (v == 0) return -1;
        if ((v & ~0xffffffffULL) == tag) {
            const char *c = t->str[(uint32_t)v - 1];
            if (strncmp(c, s, n) == 0 && c[n] == 0) return (int32_t)((uint32_t)v - 1);
        }
        i = (i + 1) & t->mask;
    }
}

static void names_place(xy_names *t, int32_t id)
{
    const char *s = t->str[id];
    uint64_t h = xy__hash_bytes(s, strlen(s));
    size_t i = h & t->mask;
    while (t->slots[i]) i = (i + 1) & t->mask;
    t->slots[i] = (h >> 32 << 32) | (uint32_t)(id + 1);
}

int32_t xy__names_intern(xy_names *t, const char *s, size_t n)
{
    int32_t id = xy__names_find(t, s, n);
    if (id >= 0) return id;
    if ((t->count + 1) * 2 > t->mask + 1 || !t->slots) {
        size_t cap = t->slots ? (t->mask + 1) * 2 : 64;
        xy__free(t->slots);
        t->slots = xy__calloc(cap, sizeof *t->slots);
        t->mask = cap - 1;
        for (size_t i = 0; i < t->count; i++) names_place(t, (int32_t)i);
    }
    XY_PUSH(t->str, t->count, t->cap, xy__strndup(s, n));
    id = (int32_t)t->count - 1;
    names_place(t, id);
    return id;
}

/* ---------------------------------------------------------------- buffers */

void xy__buf_private(xy_buf *b)
{
    if (b->data && b->kind != XY_BUF_PRIVATE) xy_panic("xy__buf_private on a buffer with other memory");
    b->kind = XY_BUF_PRIVATE;
}

void xy__buf_big(xy_buf *b)
{
    if (b->data && b->kind != XY_BUF_BIG) xy_panic("xy__buf_big on a buffer with other memory");
    b->kind = XY_BUF_BIG;
}

void xy__buf_grow(xy_buf *b, size_t need)
{
    if (need + 1 <= b->cap) return;
    if (b->kind == XY_BUF_PRIVATE) {
        xy__private_grow((void **)&b->data, &b->cap, need + 1, 1);
    } else if (b->kind == XY_BUF_BIG) {
        size_t c = grown_cap(b->cap, need + 1);
        b->data = xy__big_realloc(b->data, b->cap, c);
        b->cap = c;
    } else {
        xy__grow((void **)&b->data, &b->cap, need + 1, 1);
    }
}

void xy__buf_vprintf(xy_buf *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= 0 && (size_t)n < sizeof small) {
        xy__buf_append(b, small, (size_t)n);
    } else if (n >= 0) {
        xy__buf_grow(b, b->len + (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void xy__buf_printf(xy_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xy__buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void xy__diagf(xy_diag_fn *fn, void *ctx, const char *fmt, ...)
{
    if (!fn) return;
    xy_buf msg = {0};
    va_list ap;
    va_start(ap, fmt);
    xy__buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    fn(ctx, msg.data ? msg.data : "");
    xy__buf_free(&msg);
}

void xy__buf_free(xy_buf *b)
{
    int kind = b->kind;
    if (kind == XY_BUF_PRIVATE) xy__private_free(b->data, b->cap);
    else if (kind == XY_BUF_BIG) xy__big_free(b->data, b->cap);
    else xy__free(b->data);
    memset(b, 0, sizeof *b);
    b->kind = kind;
}

double xy__seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int xy__write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int xy__errno_status(int err)
{
    return err == 0 ? XY_OK : err == ENOSPC || err == EDQUOT ? XY_ENOSPC : XY_EIO;
}

int xy__write_status(int fd, const void *p, size_t n) { return xy__errno_status(xy__write_all(fd, p, n)); }

int xy__fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return xy__errno_status(errno);
    int rc = fsync(fd) ? xy__errno_status(errno) : XY_OK;
    int err = errno;
    close(fd);
    errno = err; /* the reason, for a message */
    return rc;
}

uint64_t xy__env_bytes(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    /* strtoull takes a sign and negates: "-5" would be a huge size. */
    if (!v || *v < '0' || *v > '9') return dflt;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    return !*end && n > 0 && errno == 0 ? (uint64_t)n : dflt;
}

int xy__write_paced(int fd, const void *p, size_t n, xy_pacer *pc)
{
    const char *c = p;
    while (n) {
        size_t k = n < XY_PACE_BYTES ? n : (size_t)XY_PACE_BYTES;
        int err = xy__write_all(fd, c, k);
        if (err) return err;
        c += k;
        n -= k;
        pc->off += k;
        if (pc->off - pc->started < XY_PACE_BYTES) continue;
        /* The chunk before the one now started is usually written back by
         * the time the next one is full, so the waits are short. */
        if (pc->started) {
            err = xy__write_back(fd, 0, pc->started, 0);
            if (err) return err;
        }
        (void)sync_file_range(fd, (off_t)pc->started, (off_t)(pc->off - pc->started), SYNC_FILE_RANGE_WRITE);
        pc->started = pc->off;
    }
    return 0;
}

int xy__write_back(int fd, uint64_t off, uint64_t len, int drop)
{
    if (sync_file_range(fd, (off_t)off, (off_t)len,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER)) {
        /* A file that takes no writeback control (a pipe, some file
         * systems) is simply left to the caller's sync. */
        if (errno == EIO || errno == ENOSPC || errno == EDQUOT) return errno;
        return 0;
    }
    if (drop) (void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
    return 0;
}

/* ------------------------------------------------------- shrinking files */

/* A registered mapping: [lo, hi), hi a page boundary; lo 0 when free. */
static struct guard {
    _Atomic uintptr_t lo, hi;
    atomic_int hit;
} guards[XY_GUARDS];
static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static struct sigaction guard_before;
static uintptr_t guard_page;

static void guard_fault(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int i = 0; i < XY_GUARDS; i++) {
        uintptr_t lo = atomic_load(&guards[i].lo), hi = atomic_load(&guards[i].hi);
        if (lo == 0 || a < lo || a >= hi) continue;
        /* Zeros from the page that faulted to the mapping's end, where the
         * file has none; the read that faulted runs again and sees them.
         * (mmap is a plain system call here, safe in a handler.) */
        uintptr_t page = a & ~(guard_page - 1);
        if (mmap((void *)page, hi - page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
            break;
        atomic_store(&guards[i].hit, 1);
        return;
    }
    /* Not ours: what would have happened without this handler. */
    if (guard_before.sa_flags & SA_SIGINFO) {
        guard_before.sa_sigaction(sig, si, uc);
    } else if (guard_before.sa_handler != SIG_DFL && guard_before.sa_handler != SIG_IGN) {
        guard_before.sa_handler(sig);
    } else {
        /* The faulting read runs again, faults again and the default
         * action ends the process. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
    }
}

static void guard_install(void)
{
    guard_page = (uintptr_t)sysconf(_SC_PAGESIZE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = guard_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &guard_before);
}

void xy__guard_add(const void *p, size_t len)
{
    if (!p || !len) return;
    pthread_once(&guard_once, guard_install);
    pthread_mutex_lock(&guard_mu);
    for (int i = 0; i < XY_GUARDS; i++)
        if (atomic_load(&guards[i].lo) == 0) {
            /* hi before lo: the handler takes a slot whose lo is set. */
            atomic_store(&guards[i].hit, 0);
            atomic_store(&guards[i].hi, ((uintptr_t)p + len + guard_page - 1) & ~(guard_page - 1));
            atomic_store(&guards[i].lo, (uintptr_t)p);
            break;
        }
    pthread_mutex_unlock(&guard_mu);
}

static struct guard *guard_find(const void *p)
{
    for (int i = 0; p && i < XY_GUARDS; i++)
        if (atomic_load(&guards[i].lo) == (uintptr_t)p) return &guards[i];
    return NULL;
}

int xy__guard_hit(const void *p)
{
    struct guard *g = guard_find(p);
    return g && atomic_load(&g->hit);
}

int xy__guard_remove(const void *p)
{
    pthread_mutex_lock(&guard_mu);
    struct guard *g = guard_find(p);
    int hit = g && atomic_load(&g->hit);
    if (g) atomic_store(&g->lo, 0);
    pthread_mutex_unlock(&guard_mu);
    return hit;
}

static int isatty_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    int tty = fd >= 0 && isatty(fd);
    if (fd >= 0) close(fd);
    return tty;
}

int xy__file_open(const char *path, xy_file *f)
{
    memset(f, 0, sizeof *f);
    f->data = "";
    struct stat st;
    if (stat(path, &st)) return errno == ENOENT ? XY_ENOENT : XY_EIO;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        return XY_EIO;
    }
    if (S_ISCHR(st.st_mode) && !isatty_path(path)) {
        /* A device such as /dev/zero never ends: read whole, it would
         * fill the memory. Terminals end with the user's end of input. */
        errno = ENODEV;
        return XY_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        int rc = xy__read_file(path, &f->heap, &f->len);
        if (rc == XY_OK) f->data = f->heap;
        return rc;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) return errno == ENOENT ? XY_ENOENT : XY_EIO;
    int rc = XY_OK;
    if (fstat(fd, &st) || st.st_size < 0) {
        rc = XY_EIO;
    } else if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            rc = XY_EIO;
        } else {
            (void)madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
            xy__guard_add(m, (size_t)st.st_size);
            f->data = m;
            f->len = (size_t)st.st_size;
        }
    }
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

void xy__file_close(xy_file *f)
{
    if (f->heap) {
        xy__free(f->heap);
    } else if (f->len) {
        (void)xy__guard_remove(f->data);
        munmap((void *)(uintptr_t)f->data, f->len);
    }
    memset(f, 0, sizeof *f);
}

int xy__read_file(const char *path, char **data, size_t *len)
{
    /* One buffer of the file's size and one read loop: input files run to
     * gigabytes, and growing a buffer chunk by chunk would copy them
     * several times over. */
    int fd = open(path, O_RDONLY);
    if (fd < 0) return errno == ENOENT ? XY_ENOENT : XY_EIO;
    struct stat st;
    if (fstat(fd, &st) || st.st_size < 0) {
        close(fd);
        return XY_EIO;
    }
    size_t cap = (size_t)st.st_size, n = 0;
    char *buf = xy__malloc(cap + 1);
    for (;;) {
        if (n == cap) { /* the file grew while we read it */
            cap = cap * 2 + 4096;
            buf = xy__realloc(buf, cap + 1);
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            close(fd);
            xy__free(buf);
            return XY_EIO;
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    close(fd);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return XY_OK;
}
