/* evindex.c -- the event id index: a memtable and sorted run files (see
 * evindex.h). */
#include "evindex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char RUN_MAGIC[16] = "XINYONG-EVR\0v003";

/* A run file: header, entries sorted by (hi, lo), the fences, then the
 * Bloom filter of the entries' keys. */
typedef struct run_head {
    char magic[16];    /* RUN_MAGIC: the format and its version */
    uint64_t count;    /* entries */
    uint64_t nfence;   /* fences */
    uint64_t first;    /* event numbers covered: [first, end) */
    uint64_t end;      /* (see first) */
    uint64_t nbloom;   /* blocks of the Bloom filter */
    uint32_t crc;      /* CRC-32 of the entries, fences and filter */
    uint32_t pad;      /* zero: the entries start 8-byte aligned */
} run_head;

typedef struct run_ent {
    uint64_t hi, lo;   /* the id's 128-bit key (xy__evindex_key) */
    uint64_t content;  /* the event's content hash, for the verdict on a
                          repeated id: the same event or another */
} run_ent;

enum { PER_FENCE = 4096 / sizeof(run_ent) };

/* The Bloom filter of a run is blocked: a key sets BLOOM_K bits of one
 * 64-byte block, so asking costs one cache miss. Almost every id a load
 * asks about is new, and without the filter each run would answer only
 * after a binary search ending in a page of the mapped file; with
 * BLOOM_BITS bits per key, about one absent key in 250 gets past it
 * (0.4 %, for blocks of 512 bits holding 43 keys on average). Keys are hashes already, so the block and the bit positions
 * are taken straight from their bits (the top bits of hi choose the block,
 * nine-bit slices of lo and hi the bits). */
enum { BLOOM_BITS = 12, BLOOM_K = 8 };

static uint64_t bloom_blocks(uint64_t count)
{
    uint64_t n = (count * BLOOM_BITS + 511) / 512;
    return n ? n : 1;
}

/* The block is chosen by the top bits of hi, like the home slot of a
 * memtable and the order of a run: keys looked up in ascending order read
 * the filter in ascending addresses too. */
static size_t bloom_block(uint64_t nbloom, const uint64_t key[2])
{
    return (size_t)(((key[0] >> 32) * nbloom) >> 32);
}

/* The bit positions of key within its block, from bits the block does not
 * depend on (seven slices of lo, the low bits of hi). */
static void bloom_bits(const uint64_t key[2], unsigned pos[BLOOM_K])
{
    uint64_t h = key[1];
    for (int i = 0; i < BLOOM_K - 1; i++) {
        pos[i] = (unsigned)(h & 511);
        h >>= 9;
    }
    pos[BLOOM_K - 1] = (unsigned)(key[0] & 511);
}

static void bloom_add(unsigned char *bloom, uint64_t nbloom, const uint64_t key[2])
{
    unsigned pos[BLOOM_K];
    unsigned char *b = bloom + bloom_block(nbloom, key) * 64;
    bloom_bits(key, pos);
    for (int i = 0; i < BLOOM_K; i++) b[pos[i] >> 3] |= (unsigned char)(1u << (pos[i] & 7));
}

static int bloom_has(const unsigned char *bloom, uint64_t nbloom, const uint64_t key[2])
{
    unsigned pos[BLOOM_K];
    const unsigned char *b = bloom + bloom_block(nbloom, key) * 64;
    bloom_bits(key, pos);
    for (int i = 0; i < BLOOM_K; i++)
        if (!(b[pos[i] >> 3] & (1u << (pos[i] & 7)))) return 0;
    return 1;
}

static size_t run_file_size(const run_head *h)
{
    return sizeof *h + h->count * sizeof(run_ent) + h->nfence * 8 + h->nbloom * 64;
}

void xy__evindex_key(const char *id, size_t n, uint64_t key[2])
{
    xy__hash128(id, n, key);
    if (key[0] == 0 && key[1] == 0) key[1] = 1; /* both 0 means empty */
}

void xy__evindex_init(xy_evindex *x, const char *dir)
{
    memset(x, 0, sizeof *x);
    x->dir = xy__strndup(dir, strlen(dir));
}

static void run_close(xy_evrun *r)
{
    if (r->map) munmap((void *)r->map, r->map_len);
    r->map = NULL;
    r->fence = NULL;
    r->bloom = NULL;
}

static void slots_free(xy_evslot *s, size_t n)
{
    size_t bytes = n * sizeof *s;
    if (!s) return;
    if (bytes >= ((size_t)1 << 20)) xy__big_free(s, bytes);
    else xy__free(s);
}

static xy_evslot *slots_new(size_t n)
{
    size_t bytes = n * sizeof(xy_evslot);
    if (bytes < ((size_t)1 << 20)) return xy__calloc(n, sizeof(xy_evslot));
    xy_evslot *s = xy__big_realloc(NULL, 0, bytes);
    xy__populate(s, bytes); /* see xy__map_init_slots */
    return s;
}

static void mem_free(xy_evmem *m)
{
    slots_free(m->slot, m->slot ? m->mask + 1 : 0);
    memset(m, 0, sizeof *m);
}

void xy__evindex_free(xy_evindex *x)
{
    for (int i = 0; i < x->nrun; i++) run_close(&x->run[i]);
    xy__free(x->run);
    mem_free(&x->mem);
    mem_free(&x->frozen);
    xy__free(x->dir);
    memset(x, 0, sizeof *x);
}

/* ------------------------------------------------------------- memtable */

static inline int empty(const xy_evslot *s) { return s->hi == 0 && s->lo == 0; }

void xy__evindex_prefetch(const xy_evindex *x, const uint64_t key[2])
{
    if (x->mem.slot) XY_PREFETCH_W(&x->mem.slot[key[0] >> x->mem.shift]); /* where a new id goes */
    if (x->frozen.count) XY_PREFETCH(&x->frozen.slot[key[0] >> x->frozen.shift]);
    for (int k = 0; k < x->nrun; k++) XY_PREFETCH(x->run[k].bloom + bloom_block(x->run[k].nbloom, key) * 64);
}

static void place(xy_evmem *m, const xy_evslot *e)
{
    size_t i = e->hi >> m->shift;
    while (!empty(&m->slot[i])) i = (i + 1) & m->mask;
    m->slot[i] = *e;
}

/* Rebuilds table m with room for need entries, at most three quarters
 * full: keys are hashes, so probes stay short, and a table of fresh memory
 * costs more to clear than its probes cost (a first load of 10 million
 * ids takes 512 MB instead of 1 GB at half full). */
static void rebuild(xy_evmem *m, size_t need)
{
    xy_evslot *old = m->slot;
    size_t n = old ? m->mask + 1 : 0, cap = 64;
    unsigned shift = 64 - 6;
    while (cap * 3 < need * 4 + 4) {
        cap *= 2;
        shift--;
    }
    m->slot = slots_new(cap);
    m->mask = cap - 1;
    m->shift = shift;
    for (size_t i = 0; i < n; i++)
        if (!empty(&old[i])) place(m, &old[i]);
    slots_free(old, n);
}

void xy__evindex_expect(xy_evindex *x, size_t extra)
{
    x->mem.expect = x->mem.count + extra;
}

static void mem_put(xy_evmem *m, const xy_evslot *e)
{
    if (!m->slot || (m->count + 1) * 4 > (m->mask + 1) * 3) rebuild(m, m->expect > m->count ? m->expect : m->count + 1);
    place(m, e);
    if (m->count == 0 || e->seq < m->lo) m->lo = e->seq;
    if (m->count == 0 || e->seq > m->hi) m->hi = e->seq;
    m->count++;
}

/* The slot of key in m, or SIZE_MAX. */
static size_t mem_slot(const xy_evmem *m, const uint64_t key[2])
{
    if (!m->count) return SIZE_MAX;
    for (size_t i = key[0] >> m->shift; !empty(&m->slot[i]); i = (i + 1) & m->mask)
        if (m->slot[i].hi == key[0] && m->slot[i].lo == key[1]) return i;
    return SIZE_MAX;
}

static int mem_find(const xy_evmem *m, const uint64_t key[2], uint64_t *content, uint64_t *seq)
{
    size_t i = mem_slot(m, key);
    if (i == SIZE_MAX) return 0;
    *content = m->slot[i].content;
    *seq = m->slot[i].seq;
    return 1;
}

/* Drops the entries of m numbered below keep_from, keeping its size: the
 * table regrows to the same size between snapshots anyway, and reusing
 * its memory spares the page faults of a fresh table (which on a virtual
 * machine cost more than the inserts). */
static void purge(xy_evmem *m, uint64_t keep_from)
{
    if (!m->count || m->lo >= keep_from) return;
    size_t n = m->mask + 1, kept = 0;
    xy_evslot *keep = NULL;
    size_t cap = 0;
    if (m->hi >= keep_from)
        for (size_t i = 0; i < n; i++)
            if (!empty(&m->slot[i]) && m->slot[i].seq >= keep_from) XY_PUSH(keep, kept, cap, m->slot[i]);
    memset(m->slot, 0, n * sizeof *m->slot);
    m->count = 0;
    for (size_t i = 0; i < kept; i++) mem_put(m, &keep[i]);
    xy__free(keep);
}

/* Whether a fork copies table m to the child (how = MADV_KEEPONFORK) or
 * gives the child zeros in its place (MADV_WIPEONFORK). Only tables of
 * their own mapping can be marked; small ones stay on the heap, where a
 * copy costs little. */
static void mem_on_fork(const xy_evmem *m, int how)
{
    size_t bytes = m->slot ? (m->mask + 1) * sizeof *m->slot : 0;
    if (bytes >= ((size_t)1 << 20)) (void)madvise(m->slot, bytes, how);
}

void xy__evindex_freeze(xy_evindex *x)
{
    if (x->frozen.count) {
        /* A snapshot that failed left its entries frozen: the new ones
         * join them. */
        for (size_t i = 0; x->mem.slot && i <= x->mem.mask; i++)
            if (!empty(&x->mem.slot[i])) mem_put(&x->frozen, &x->mem.slot[i]);
        purge(&x->mem, UINT64_MAX);
    } else {
        xy_evmem t = x->frozen;
        x->frozen = x->mem;
        x->mem = t;
    }
    x->mem.expect = x->frozen.expect = 0; /* hints of loads that are over */
#if defined(MADV_WIPEONFORK) && defined(MADV_KEEPONFORK)
    mem_on_fork(&x->frozen, MADV_KEEPONFORK);
    mem_on_fork(&x->mem, MADV_WIPEONFORK);
#endif
}

void xy__evindex_put(xy_evindex *x, const uint64_t key[2], uint64_t content, uint64_t seq)
{
    xy_evslot e = {key[0], key[1], content, seq};
    mem_put(&x->mem, &e);
}

void xy__evindex_del(xy_evindex *x, const uint64_t key[2])
{
    xy_evmem *m = &x->mem;
    size_t i = mem_slot(m, key);
    if (i == SIZE_MAX) return;
    /* Backward-shift deletion (no tombstones): every entry after the hole
     * whose home slot does not lie between the hole and itself moves back
     * into it. The bounds lo and hi stay: they need only hold every number
     * left. */
    size_t hole = i;
    for (size_t j = (i + 1) & m->mask; !empty(&m->slot[j]); j = (j + 1) & m->mask) {
        size_t home = m->slot[j].hi >> m->shift;
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (between) continue;
        m->slot[hole] = m->slot[j];
        hole = j;
    }
    memset(&m->slot[hole], 0, sizeof m->slot[hole]);
    m->count--;
}

/* ------------------------------------------------------------------ runs */

static inline int key_cmp(uint64_t ahi, uint64_t alo, uint64_t bhi, uint64_t blo)
{
    return ahi != bhi ? (ahi < bhi ? -1 : 1) : alo != blo ? (alo < blo ? -1 : 1) : 0;
}

static const run_ent *run_entries(const xy_evrun *r)
{
    return (const run_ent *)(const void *)(r->map + sizeof(run_head));
}

int xy__evrun_may_have(const xy_evrun *r, const uint64_t key[2])
{
    return bloom_has(r->bloom, r->nbloom, key);
}

static int run_find(const xy_evrun *r, const uint64_t key[2], uint64_t *content)
{
    if (!bloom_has(r->bloom, r->nbloom, key)) return 0;
    /* Entries of blocks before the last one starting below key[0] are
     * smaller, and so are none from the first block starting above it:
     * the fences bound the search to one or a few blocks. */
    size_t lo = 0, hi = r->nfence;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->fence[mid] < key[0]) lo = mid + 1;
        else hi = mid;
    }
    size_t below = lo;
    hi = r->nfence;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->fence[mid] <= key[0]) lo = mid + 1;
        else hi = mid;
    }
    size_t from = below ? (below - 1) * PER_FENCE : 0, to = lo * PER_FENCE;
    if (to > r->count) to = r->count;
    const run_ent *e = run_entries(r);
    while (from < to) {
        size_t mid = from + (to - from) / 2;
        int c = key_cmp(e[mid].hi, e[mid].lo, key[0], key[1]);
        if (c == 0) {
            *content = e[mid].content;
            return 1;
        }
        if (c < 0) from = mid + 1;
        else to = mid;
    }
    return 0;
}

int xy__evindex_find(const xy_evindex *x, const uint64_t key[2], uint64_t *content, uint64_t *seq)
{
    if (mem_find(&x->mem, key, content, seq) || mem_find(&x->frozen, key, content, seq)) return 1;
    for (int k = x->nrun - 1; k >= 0; k--)
        if (run_find(&x->run[k], key, content)) {
            *seq = UINT64_MAX;
            return 1;
        }
    return 0;
}

int xy__evindex_find_or_put(xy_evindex *x, const uint64_t key[2], uint64_t content, uint64_t seq,
                           uint64_t *had_content, uint64_t *had_seq)
{
    xy_evmem *m = &x->mem;
    size_t i = 0;
    if (m->slot)
        for (i = key[0] >> m->shift; !empty(&m->slot[i]); i = (i + 1) & m->mask)
            if (m->slot[i].hi == key[0] && m->slot[i].lo == key[1]) {
                *had_content = m->slot[i].content;
                *had_seq = m->slot[i].seq;
                return 1;
            }
    if (mem_find(&x->frozen, key, had_content, had_seq)) return 1;
    for (int k = x->nrun - 1; k >= 0; k--)
        if (run_find(&x->run[k], key, had_content)) {
            *had_seq = UINT64_MAX;
            return 1;
        }
    /* The key goes where the probe ended, unless the table must grow
     * first (only for a key that goes in: a load of duplicates grows
     * nothing). */
    if (!m->slot || (m->count + 1) * 4 > (m->mask + 1) * 3) {
        rebuild(m, m->expect > m->count ? m->expect : m->count + 1);
        for (i = key[0] >> m->shift; !empty(&m->slot[i]); i = (i + 1) & m->mask) continue;
    }
    m->slot[i] = (xy_evslot){key[0], key[1], content, seq};
    if (m->count == 0 || seq < m->lo) m->lo = seq;
    if (m->count == 0 || seq > m->hi) m->hi = seq;
    m->count++;
    return 0;
}

void xy__evindex_renumber(xy_evindex *x, const uint64_t key[2], uint64_t seq)
{
    size_t i = mem_slot(&x->mem, key);
    if (i == SIZE_MAX) return;
    x->mem.slot[i].seq = seq;
    if (seq < x->mem.lo) x->mem.lo = seq; /* hi need only stay above every number */
}

static void run_path(const char *dir, uint64_t first, uint64_t end, xy_buf *out)
{
    out->len = 0;
    xy__buf_printf(out, "%s/ev-%llu-%llu.run", dir, (unsigned long long)first, (unsigned long long)end);
}

/* Maps a run file and checks its header against what is expected. */
static int run_open(const char *dir, uint64_t first, uint64_t end, uint64_t count, xy_evrun *r)
{
    xy_buf path = {0};
    run_path(dir, first, end, &path);
    int fd = open(path.data, O_RDONLY | O_NONBLOCK); /* a FIFO does not stop it (see open_snapshot) */
    xy__buf_free(&path);
    struct stat st;
    memset(r, 0, sizeof *r);
    if (fd < 0) return XY_ECORRUPT;
    int rc = XY_ECORRUPT;
    if (fstat(fd, &st) || (size_t)st.st_size < sizeof(run_head)) goto done;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) goto done;
    run_head h;
    memcpy(&h, m, sizeof h);
    if (memcmp(h.magic, RUN_MAGIC, 16) != 0 || h.count != count || h.first != first || h.end != end ||
        h.nfence != (count + PER_FENCE - 1) / PER_FENCE || h.nbloom != bloom_blocks(count) ||
        (uint64_t)st.st_size != run_file_size(&h)) {
        munmap(m, (size_t)st.st_size);
        goto done;
    }
    r->first = first;
    r->end = end;
    r->count = count;
    r->map = m;
    r->map_len = (size_t)st.st_size;
    r->nfence = h.nfence;
    r->fence = (uint64_t *)(void *)((unsigned char *)m + sizeof h + count * sizeof(run_ent));
    r->nbloom = h.nbloom;
    r->bloom = (const unsigned char *)(r->fence + h.nfence);
    /* The filter is read at random by every lookup: start reading it in. */
    (void)madvise((void *)((uintptr_t)r->bloom & ~(uintptr_t)4095),
                  h.nbloom * 64 + ((uintptr_t)r->bloom & 4095), MADV_WILLNEED);
    rc = XY_OK;
done:
    close(fd);
    return rc;
}

/* Writes a run file as entries come, in order: a buffer, the fences on
 * the side, the checksum as it goes; the header last, then fsync. */
typedef struct run_writer {
    int fd;
    int err;            /* errno of the first failure */
    run_head h;
    xy_buf buf;         /* entries not yet written */
    xy_buf fences;      /* first hi of every block */
    unsigned char *bloom; /* the filter, h.nbloom blocks */
    xy_buf path;        /* the run's name */
    xy_buf tmp;         /* where it is written first */
    xy_pacer pace;      /* written in the background: paced */
} run_writer;

static void rw_flush(run_writer *w)
{
    if (!w->err && w->buf.len) {
        w->h.crc = xy__crc32(w->h.crc, w->buf.data, w->buf.len);
        w->err = xy__write_paced(w->fd, w->buf.data, w->buf.len, &w->pace);
    }
    w->buf.len = 0;
}

/* Starts a run of count entries (exactly: the filter is sized for them). */
static void rw_start(run_writer *w, const char *dir, uint64_t first, uint64_t end, uint64_t count)
{
    memset(w, 0, sizeof *w);
    w->h.nbloom = bloom_blocks(count);
    w->bloom = xy__calloc((size_t)w->h.nbloom, 64);
    run_path(dir, first, end, &w->path);
    xy__buf_printf(&w->tmp, "%s.tmp", w->path.data);
    memcpy(w->h.magic, RUN_MAGIC, 16);
    w->h.first = first;
    w->h.end = end;
    w->fd = open(w->tmp.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (w->fd < 0) w->err = errno ? errno : EIO;
    else if (lseek(w->fd, (off_t)sizeof w->h, SEEK_SET) < 0) w->err = errno;
    w->pace.off = sizeof w->h;
}

static void rw_put(run_writer *w, const run_ent *e)
{
    if (w->h.count % PER_FENCE == 0) xy__buf_append(&w->fences, &e->hi, 8);
    w->h.count++;
    uint64_t key[2] = {e->hi, e->lo};
    bloom_add(w->bloom, w->h.nbloom, key);
    xy__buf_append(&w->buf, e, sizeof *e);
    if (w->buf.len >= ((size_t)1 << 20)) rw_flush(w);
}

/* Finishes the run: XY_OK, or a status with the file that could not be
 * written put in failed and errno set to the reason. */
static int rw_finish(run_writer *w, xy_buf *failed)
{
    rw_flush(w);
    w->h.nfence = w->fences.len / 8;
    if (!w->err && w->fences.len) {
        w->h.crc = xy__crc32(w->h.crc, w->fences.data, w->fences.len);
        w->err = xy__write_paced(w->fd, w->fences.data, w->fences.len, &w->pace);
    }
    if (!w->err && w->h.nbloom != bloom_blocks(w->h.count)) w->err = EINVAL; /* a miscounted run */
    if (!w->err) {
        size_t nb = (size_t)w->h.nbloom * 64;
        w->h.crc = xy__crc32(w->h.crc, w->bloom, nb);
        w->err = xy__write_paced(w->fd, w->bloom, nb, &w->pace);
    }
    if (!w->err && pwrite(w->fd, &w->h, sizeof w->h, 0) != (ssize_t)sizeof w->h) w->err = errno ? errno : EIO;
    if (!w->err && fsync(w->fd)) w->err = errno;
    if (w->fd >= 0) close(w->fd);
    /* Whole or absent under its name (the snapshot's fsync of the
     * directory makes the rename durable). */
    if (!w->err && rename(w->tmp.data, w->path.data)) w->err = errno;
    if (w->err) {
        unlink(w->tmp.data);
        xy__buf_printf(failed, "%s", w->tmp.data);
    }
    int rc = xy__errno_status(w->err);
    xy__buf_free(&w->buf);
    xy__buf_free(&w->fences);
    xy__free(w->bloom);
    xy__buf_free(&w->path);
    xy__buf_free(&w->tmp);
    if (w->err) errno = w->err;
    return rc;
}

static int cmp_ent(const void *a, const void *b)
{
    const run_ent *x = a, *y = b;
    return key_cmp(x->hi, x->lo, y->hi, y->lo);
}

/* A run as the policy sees it. */
typedef struct run_desc {
    uint64_t first, end, count;
} run_desc;

/* The run list after spilling `fresh` entries numbered [from, upto): the
 * new run goes last, then the last two merge while the older is at most
 * twice the newer. Returns how many descriptors were written to out
 * (room for x->nrun + 1). */
static int plan(const xy_evindex *x, uint64_t upto, uint64_t fresh, run_desc *out)
{
    int n = 0;
    for (int k = 0; k < x->nrun; k++) out[n++] = (run_desc){x->run[k].first, x->run[k].end, x->run[k].count};
    if (upto > x->spilled) out[n++] = (run_desc){x->spilled, upto, fresh};
    while (n >= 2 && out[n - 2].count <= 2 * out[n - 1].count) {
        out[n - 2] = (run_desc){out[n - 2].first, out[n - 1].end, out[n - 2].count + out[n - 1].count};
        n--;
    }
    return n;
}

static uint64_t mem_count_below(const xy_evmem *m, uint64_t upto)
{
    if (!m->count || m->lo >= upto) return 0;
    if (m->hi < upto) return m->count;
    uint64_t n = 0;
    for (size_t i = 0; i <= m->mask; i++)
        if (!empty(&m->slot[i]) && m->slot[i].seq < upto) n++;
    return n;
}

static uint64_t fresh_count(const xy_evindex *x, uint64_t upto)
{
    return mem_count_below(&x->mem, upto) + mem_count_below(&x->frozen, upto);
}

/* The entries of a memory table numbered below upto, in key order, a
 * cluster (a stretch of taken slots) at a time, instead of all of them
 * copied out and sorted: in a background snapshot's child such a copy was
 * fresh memory, twice 24 bytes an entry with the sort's, a fault and a
 * cleared page at a time. place() leaves every entry in the cluster that
 * holds its home slot, and homes grow with the key, so each cluster sorted
 * on its own, the clusters taken in slot order, gives key order. The one
 * exception: entries at the table's start whose home lies at its end
 * (their probe wrapped past the last slot) belong to the last cluster,
 * and are taken with it. */
typedef struct mem_cursor {
    const xy_evmem *m;
    uint64_t upto;
    size_t next;  /* first slot not scanned yet */
    run_ent *buf; /* the current cluster's entries, sorted */
    size_t n, cap;
} mem_cursor;

static void cursor_take(mem_cursor *c, const xy_evslot *e)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->buf = xy__realloc(c->buf, c->cap * sizeof *c->buf);
    }
    c->buf[c->n++] = (run_ent){e->hi, e->lo, e->content};
}

/* Moves to the next cluster with an entry below upto; 0 when there is
 * none left. */
static int cursor_fill(mem_cursor *c)
{
    const xy_evmem *m = c->m;
    size_t slots = m->slot && m->count ? m->mask + 1 : 0;
    c->n = 0;
    while (c->n == 0 && c->next < slots) {
        size_t i = c->next;
        while (i < slots && empty(&m->slot[i])) i++;
        for (; i < slots && !empty(&m->slot[i]); i++)
            if (m->slot[i].seq < c->upto && (m->slot[i].hi >> m->shift) <= i) cursor_take(c, &m->slot[i]);
        c->next = i;
        if (i == slots)
            for (size_t j = 0; j < slots && !empty(&m->slot[j]); j++)
                if (m->slot[j].seq < c->upto && (m->slot[j].hi >> m->shift) > j) cursor_take(c, &m->slot[j]);
    }
    if (c->n > 1) qsort(c->buf, c->n, sizeof *c->buf, cmp_ent);
    return c->n > 0;
}

static void list_append(xy_buf *out, const run_desc *d, int n)
{
    uint64_t count = (uint64_t)n;
    xy__buf_append(out, &count, 8);
    xy__buf_append(out, d, (size_t)n * sizeof *d);
}

void xy__evindex_plan_list(const xy_evindex *x, uint64_t upto, xy_buf *out)
{
    run_desc *want = xy__malloc(((size_t)x->nrun + 2) * sizeof *want);
    int nwant = plan(x, upto, fresh_count(x, upto), want);
    list_append(out, want, nwant);
    xy__free(want);
}

int xy__evindex_spill(const xy_evindex *x, uint64_t upto, xy_buf *out)
{
    uint64_t fresh = fresh_count(x, upto);
    run_desc *want = xy__malloc(((size_t)x->nrun + 2) * sizeof *want);
    int nwant = plan(x, upto, fresh, want);
    int rc = XY_OK;
    if (upto > x->spilled) {
        /* The new entries, in key order from both memory tables, and the
         * runs the plan folds into the last one (x->run[nwant - 1]
         * onwards): one merge of them all, streamed into the new file. */
        int from = nwant - 1 < x->nrun ? nwant - 1 : x->nrun, nruns = x->nrun - from, nsrc = nruns + 2;
        const run_ent **at = xy__malloc((size_t)nsrc * sizeof *at), **end = xy__malloc((size_t)nsrc * sizeof *end);
        mem_cursor mc[2] = {{&x->mem, upto, 0, NULL, 0, 0}, {&x->frozen, upto, 0, NULL, 0, 0}};
        uint64_t total = fresh;
        for (int k = 0; k < nruns; k++) {
            at[k] = run_entries(&x->run[from + k]);
            end[k] = at[k] + x->run[from + k].count;
            total += x->run[from + k].count;
            if (at[k] == end[k]) at[k] = NULL;
        }
        for (int j = 0; j < 2; j++) {
            at[nruns + j] = end[nruns + j] = NULL;
            if (cursor_fill(&mc[j])) {
                at[nruns + j] = mc[j].buf;
                end[nruns + j] = mc[j].buf + mc[j].n;
            }
        }
        run_writer w;
        rw_start(&w, x->dir, from < x->nrun ? x->run[from].first : x->spilled, upto, total);
        for (;;) {
            int best = -1;
            for (int k = 0; k < nsrc; k++)
                if (at[k] && (best < 0 || cmp_ent(at[k], at[best]) < 0)) best = k;
            if (best < 0) break;
            rw_put(&w, at[best]);
            if (++at[best] < end[best]) continue;
            at[best] = NULL;
            if (best >= nruns && cursor_fill(&mc[best - nruns])) {
                at[best] = mc[best - nruns].buf;
                end[best] = at[best] + mc[best - nruns].n;
            }
        }
        rc = rw_finish(&w, out);
        xy__free(mc[0].buf);
        xy__free(mc[1].buf);
        xy__free(at);
        xy__free(end);
    }
    if (!rc) list_append(out, want, nwant);
    xy__free(want);
    return rc;
}

/* Parses a run list. */
static int parse_list(const void *list, size_t len, const run_desc **d, int *n)
{
    uint64_t count;
    if (len < 8) return XY_ECORRUPT;
    memcpy(&count, list, 8);
    if (count > 4096 || len != 8 + count * sizeof(run_desc)) return XY_ECORRUPT;
    *d = (const run_desc *)(const void *)((const char *)list + 8);
    *n = (int)count;
    return XY_OK;
}

int xy__evindex_list_end(const void *list, size_t len, uint64_t *end)
{
    const run_desc *d;
    int n;
    if (parse_list(list, len, &d, &n)) return XY_ECORRUPT;
    run_desc last = {0, 0, 0};
    if (n) memcpy(&last, &d[n - 1], sizeof last);
    *end = last.end;
    return XY_OK;
}

/* Opens the runs of a list into x->run (replacing what is there). */
static int open_list(xy_evindex *x, const void *list, size_t len)
{
    const run_desc *d;
    int n;
    if (parse_list(list, len, &d, &n)) return XY_ECORRUPT;
    xy_evrun *runs = xy__calloc((size_t)n + 1, sizeof *runs);
    for (int k = 0; k < n; k++) {
        run_desc dk;
        memcpy(&dk, &d[k], sizeof dk);
        if (run_open(x->dir, dk.first, dk.end, dk.count, &runs[k])) {
            for (int j = 0; j < k; j++) run_close(&runs[j]);
            xy__free(runs);
            return XY_ECORRUPT;
        }
    }
    for (int k = 0; k < x->nrun; k++) run_close(&x->run[k]);
    xy__free(x->run);
    x->run = runs;
    x->nrun = x->cap_run = n;
    x->spilled = n ? runs[n - 1].end : 0;
    return XY_OK;
}

int xy__evindex_open_runs(xy_evindex *x, const void *list, size_t len) { return open_list(x, list, len); }

int xy__evindex_adopt(xy_evindex *x, const void *list, size_t len)
{
    int rc = open_list(x, list, len);
    if (rc) return rc;
    purge(&x->mem, x->spilled);
    purge(&x->frozen, x->spilled);
    /* Files of runs merged away, or of spills never adopted. */
    DIR *dh = opendir(x->dir);
    struct dirent *de;
    xy_buf path = {0};
    while (dh && (de = readdir(dh)) != NULL) {
        unsigned long long a, b;
        char tail[8];
        if (sscanf(de->d_name, "ev-%llu-%llu.%7s", &a, &b, tail) != 3) continue;
        if (strcmp(tail, "run.tmp") == 0) {
            /* Left by a spill that was stopped. */
            path.len = 0;
            xy__buf_printf(&path, "%s/%s", x->dir, de->d_name);
            unlink(path.data);
            continue;
        }
        if (strcmp(tail, "run") != 0) continue;
        int listed = 0;
        for (int k = 0; k < x->nrun; k++) listed |= x->run[k].first == a && x->run[k].end == b;
        if (listed) continue;
        run_path(x->dir, a, b, &path);
        unlink(path.data);
    }
    if (dh) closedir(dh);
    xy__buf_free(&path);
    return XY_OK;
}

int xy__evindex_verify(const char *dir, uint64_t *runs, uint64_t *entries, xy_diag_fn *diag, void *ctx)
{
    DIR *dh = opendir(dir);
    struct dirent *de;
    int rc = XY_OK;
    *runs = *entries = 0;
    xy_buf path = {0}, msg = {0};
    while (dh && (de = readdir(dh)) != NULL) {
        unsigned long long a, b;
        char tail[8];
        if (sscanf(de->d_name, "ev-%llu-%llu.%7s", &a, &b, tail) != 3 || strcmp(tail, "run") != 0) continue;
        run_path(dir, a, b, &path);
        /* Mapped, not read into memory of our own: runs grow with the
         * history, to gigabytes, and a run never changes once in place. */
        xy_file f;
        const char *why = NULL;
        run_head h;
        int orc = xy__file_open(path.data, &f);
        int err = errno;
        const char *data = f.data;
        size_t len = f.len;
        if (orc) {
            why = "cannot read";
        } else if (len >= 16 && memcmp(data, RUN_MAGIC, 13) == 0 && memcmp(data, RUN_MAGIC, 16) != 0) {
            /* Left by an earlier version: start-up ignores the snapshot
             * that names it and replays the log; the next snapshot writes
             * the run again in this format and removes this one. */
            msg.len = 0;
            xy__buf_printf(&msg, "%s: warning: run of another format version, replaced by the next snapshot",
                          path.data);
            if (diag) diag(ctx, msg.data);
            xy__file_close(&f);
            continue;
        } else if (len < sizeof h) {
            why = "shorter than its header";
        } else {
            memcpy(&h, data, sizeof h);
            if (memcmp(h.magic, RUN_MAGIC, 16) != 0 || h.first != a || h.end != b ||
                h.nfence != (h.count + PER_FENCE - 1) / PER_FENCE || h.nbloom != bloom_blocks(h.count) ||
                len != run_file_size(&h))
                why = "bad header";
        }
        if (!why) {
            uint32_t crc = xy__crc32(0, data + sizeof h, len - sizeof h);
            if (crc != h.crc) why = "checksum mismatch";
            /* The filter is read at random below, the pages read for
             * the checksum kept for it. */
            if (f.heap == NULL) (void)madvise((void *)(uintptr_t)data, len, MADV_NORMAL);
            const run_ent *e = (const run_ent *)(const void *)(data + sizeof h);
            for (uint64_t i = 1; !why && i < h.count; i++)
                if (cmp_ent(&e[i - 1], &e[i]) >= 0) why = "entries out of order";
            const unsigned char *bloom = (const unsigned char *)(data + sizeof h + h.count * sizeof(run_ent) +
                                                                 h.nfence * 8);
            for (uint64_t i = 0; !why && i < h.count; i++) {
                uint64_t key[2] = {e[i].hi, e[i].lo};
                if (!bloom_has(bloom, h.nbloom, key)) why = "an entry is missing from the filter";
            }
        }
        if (why) {
            msg.len = 0;
            /* A file that cannot be read has no offset to name, but a reason. */
            if (orc) xy__buf_printf(&msg, "%s: %s: %s", path.data, why, strerror(err));
            else xy__buf_printf(&msg, "%s:0: %s", path.data, why);
            if (diag) diag(ctx, msg.data);
            rc = XY_ECORRUPT;
        } else {
            ++*runs;
            *entries += h.count;
        }
        xy__file_close(&f);
    }
    if (dh) closedir(dh);
    xy__buf_free(&path);
    xy__buf_free(&msg);
    return rc;
}
