/* util.h -- memory, growable arrays, hashing and the 64-bit hash map that
 * the other modules share. */
#ifndef XY_UTIL_H
#define XY_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xinyong.h"

/* Out-of-memory policy: like Redis's zmalloc, these abort the process with
 * a message. A simulation that cannot get memory cannot continue with a
 * correct state, and every caller would otherwise need a branch it could
 * not test. Ownership: the caller frees with xy__free(). */
void *xy__malloc(size_t n);
void *xy__calloc(size_t n, size_t size);
void *xy__realloc(void *p, size_t n);
char *xy__strndup(const char *s, size_t n);
void xy__free(void *p);

/* The characters of UTF-8 text [s, e): bytes that do not continue a
 * sequence. Columns in messages count these, as an editor does. */
static inline int xy__utf8_cols(const char *s, const char *e)
{
    int c = 0;
    for (; s < e; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) c++;
    return c;
}
/* Whether path, once its symbolic links and dot-dots are resolved, names
 * dir or something inside it (a path that does not exist yet by its
 * parent directory). 0 when either cannot be resolved. */
int xy__path_within(const char *dir, const char *path);

/* The length of the longest prefix of [s, s + n) that is well-formed
 * UTF-8 (RFC 3629: no overlong forms, surrogates or code points past
 * U+10FFFF): n when all of it is. */
size_t xy__utf8_valid(const char *s, size_t n);

/* Large arrays (per-citizen state, big hash tables) live in their own
 * anonymous mappings with transparent huge pages requested: at population
 * scale the state is touched at random and 4 KiB pages would make nearly
 * every access a TLB miss. Growing remaps without copying. Below a
 * megabyte they come from the heap instead: a small engine (the one an
 * explanation reruns a citizen in) would otherwise clear a 2 MiB huge page
 * per array. Sizes only grow. Same out-of-memory policy as xy__malloc.
 * Memory comes back zeroed. */
void *xy__big_realloc(void *p, size_t old_size, size_t new_size);
void xy__big_free(void *p, size_t size);

/* Where the large arrays of a state being restored come from: a file
 * mapped whole at base and still open as fd, whose contents do not change
 * while the arrays live (a snapshot, which is replaced by rename, never
 * rewritten). */
typedef struct xy_big_src {
    const unsigned char *base; /* the file's mapping */
    int fd;                    /* the file, or -1 */
    int map;                   /* whether arrays may be mapped, not copied */
} xy_big_src;

/* Reads n bytes at offset off of fd into p. Returns 0, or -1 (errno set;
 * a file shorter than that is EIO). */
int xy__pread_all(int fd, void *p, size_t n, uint64_t off);

/* A block as xy__big_realloc(NULL, 0, size) gives (owned by the caller),
 * holding the len bytes at data (len <= size), which lie in src's mapping,
 * and zeros after them. Where they start at a page boundary of the file
 * and size reaches the big threshold, the block maps them copy-on-write
 * from the file: a reader then gets gigabytes of state without copying or
 * clearing a page, and pays only for pages it writes. Otherwise (src NULL,
 * not to be mapped, unaligned, small, or a failed mapping) it copies them,
 * with pread where src has the file open: reading through a mapping of
 * the page cache went at about a third of the speed on the project's
 * virtual machines, a process's first time (build/bench 0 0 pagecache). A mapped
 * block grows with xy__big_realloc by copying when xy__big_growable(len,
 * size) holds; when it does not, the file fills the whole block, which
 * must then never be grown (a hash table's slots, which grow by rehashing
 * into a new table). */
void *xy__big_load(const xy_big_src *src, const void *data, size_t len, size_t size);
/* Whether a block of size bytes whose first len bytes may be mapped from a
 * file keeps fresh memory after them, so that xy__big_realloc can grow it
 * (a remap cannot span a file's pages and anonymous ones; it then copies).
 * Doubling size makes it so. */
int xy__big_growable(size_t len, size_t size);

/* A zeroed table of size bytes in a mapping of its own, with no huge
 * pages: for a table touched in a few places (a calendar's ring of days
 * in the engine an explanation reruns one citizen in), whose pages then
 * cost only where it is touched. From the heap, a calloc of it would be
 * cleared whole each time. Free with xy__sparse_free and the same size. */
void *xy__sparse_alloc(size_t size);
void xy__sparse_free(void *p, size_t size);

/* A background snapshot is written by a forked child from its
 * copy-on-write image of the state. Every page of a large array the
 * writer then changes is copied by the kernel (and the huge page it lay on
 * split) while the child runs: at population scale most pages of the
 * citizens' state, at a fault each. For such an array the writer instead
 * copies it aside just before the fork, in one pass over memory it keeps
 * for the next time, and marks the array itself to be left out of the
 * child (MADV_WIPEONFORK): the child reads the copy, and the writer's
 * pages stay its own. */
typedef struct xy_fork_copy {
    void *p;      /* the copy, an xy__big_realloc block, or NULL */
    size_t size;  /* its size */
} xy_fork_copy;

/* Before a fork: copies the first len bytes of p, a block of
 * xy__big_realloc of size bytes, into c and marks p to be wiped in the
 * child. Returns the copy, for the child to use instead of p, or NULL when
 * p is a heap block (small: the child shares it copy-on-write) or cannot
 * be marked. */
void *xy__fork_copy_make(xy_fork_copy *c, void *p, size_t size, size_t len);
void xy__fork_copy_free(xy_fork_copy *c);
/* Gives up a copy that xy__fork_copy_make made of p (size bytes, as there)
 * at an earlier fork: the next child shares p copy-on-write again. */
void xy__fork_copy_drop(xy_fork_copy *c, void *p, size_t size);

/* Runs fn(arg) on the calling thread while a second thread faults in the
 * pages of the k ranges p[i], n[i] bytes (writable, as first writes
 * would), and returns when both are done. Fresh memory is cleared by the
 * kernel a page at a time at its first touch; at population scale (the
 * per-citizen arrays made room for at once) that is seconds of one core
 * that the other can take. Without a second thread, or for a few
 * megabytes, just fn(arg): the pages then fault in as they are used. */
void xy__populate_beside(void *const *p, const size_t *n, int k, void (*fn)(void *), void *arg);

/* Faults in the pages of p[0, n) writable, as first writes would, at
 * one fault per huge page instead of a read fault and then a write fault
 * per page: for a large table that is written all over soon after. From
 * XY_POPULATE_SPLIT bytes on, a second thread takes half of the range:
 * clearing fresh memory is the kernel's work on the faulting thread, and
 * on a host that backs the guest's memory lazily two threads fault a
 * gigabyte in in about half the time of one (docs/performance-log.md). */
void xy__populate(void *p, size_t n);
#define XY_POPULATE_SPLIT ((size_t)8 << 20)

/* Scratch memory only the writer itself uses, never a snapshot's child
 * (the buffer a load encodes its batch into, the append path's sort
 * arrays): a mapping of its own whatever the size, marked
 * MADV_WIPEONFORK, so that the child sees zeros there and the writer's
 * writes after a fork copy no pages. Grows like xy__big_realloc (sizes
 * only grow, memory comes back zeroed); free with xy__private_free. */
void *xy__private_realloc(void *p, size_t old_size, size_t new_size);
void xy__private_free(void *p, size_t size);
/* xy__grow for xy__private_realloc memory. */
void xy__private_grow(void **p, size_t *cap, size_t need, size_t elem);

/* Always-on invariant check for state whose breach would corrupt data. */
#define xy_panic(...) xy__panic(__FILE__, __LINE__, __VA_ARGS__)
void xy__panic(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* Grows *p (of *cap elements of size elem) to hold at least need elements,
 * doubling, so that appends cost amortised constant time. */
void xy__grow(void **p, size_t *cap, size_t need, size_t elem);
#define XY_PUSH(arr, len, cap, value)                                      \
    do {                                                                   \
        if ((len) >= (cap))                                                \
            xy__grow((void **)&(arr), &(cap), (len) + 1, sizeof *(arr));    \
        (arr)[(len)++] = (value);                                          \
    } while (0)

/* A branch that is almost never taken, for the compiler's block layout. */
#define XY_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Start fetching the cache line at addr. GCC's dead-code elimination can
 * drop a __builtin_prefetch whose address it computes from values it
 * considers unused (seen here: the prefetch of a hash slot vanished from
 * the event loop), so on x86-64 these are asm statements it must keep.
 *
 * XY_PREFETCH: into the second-level cache and beyond (PREFETCHT1).
 * XY_PREFETCH_L1: into the nearest cache as well (PREFETCHT0), for a line
 * read very soon: the engine's events, 128 ahead.
 * XY_PREFETCH_W: for a line this thread will write (PREFETCHW): it arrives
 * owned, so the write needs no second request; the event loop ran 5-20 %
 * faster at 10 million citizens with it for the state and the yearly
 * counts than with XY_PREFETCH. Processors without PREFETCHW execute it
 * as a no-op. (docs/performance-log.md, "The twelfth round".) */
#if defined(__x86_64__) && defined(__GNUC__)
#define XY__PREFETCH_ASM(insn, addr) __asm__ volatile(insn " %0" : : "m"(*(const char *)(addr)))
#define XY_PREFETCH(addr) XY__PREFETCH_ASM("prefetcht1", addr)
#define XY_PREFETCH_L1(addr) XY__PREFETCH_ASM("prefetcht0", addr)
#define XY_PREFETCH_W(addr) XY__PREFETCH_ASM("prefetchw", addr)
#else
#define XY_PREFETCH(addr) __builtin_prefetch((addr), 0, 2)
#define XY_PREFETCH_L1(addr) __builtin_prefetch((addr), 0, 3)
#define XY_PREFETCH_W(addr) __builtin_prefetch((addr), 1, 2)
#endif

/* Hashes of bytes and of 64-bit keys (non-cryptographic, stable across
 * runs, so stored data never depends on them). */
uint64_t xy__hash_bytes(const void *p, size_t n);
/* A 128-bit hash of bytes, two 64-bit halves from independent mixing
 * (multiplications folded to 64 bits): what identifies an event id in the
 * event index, where two ids sharing all 128 bits is a chance of about
 * n^2 / 2^129 (below 10^-20 for a billion ids). */
void xy__hash128(const void *p, size_t n, uint64_t out[2]);

/* The CRC-32 of zlib and gzip (reflected, polynomial 0xEDB88320) of n
 * bytes at p, continuing crc (0 to start): the checksum of every record
 * and file the store writes. ISA-L computes it with carry-less multiplies
 * where the CPU has them (several times zlib's speed, the same values). */
uint32_t xy__crc32(uint32_t crc, const void *p, size_t n);

/* Integers of the stored formats at any address (native byte order, which
 * the formats fix as little-endian). */
static inline uint32_t xy__get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t xy__get_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline uint64_t xy__hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* An open-addressing map from 64-bit keys to 64-bit values. The key
 * UINT64_MAX is reserved. Lookups and inserts are O(1) on average and the
 * table never allocates except to grow. A table is at most three quarters
 * full: keys are hashed well (xy__hash64), so probes stay short, and the
 * largest maps (the ID index: 16 bytes a citizen at half full would be
 * 512 MB at 10 million) are fresh memory in every process that opens a
 * data directory. */
typedef struct xy_slot {
    uint64_t key; /* the key + 1; 0 marks an empty slot */
    uint64_t val; /* its value, in the same cache line */
} xy_slot;

typedef struct xy_map {
    xy_slot *slots; /* open addressing, linear probing */
    size_t mask;    /* capacity - 1 (capacity is a power of two) */
    size_t count;   /* keys stored */
} xy_map;

#define XY_MAP_EMPTY UINT64_MAX
void xy__map_init(xy_map *m, size_t expected);
/* The same with exactly cap slots (a power of two), for restoring. */
void xy__map_init_slots(xy_map *m, size_t cap);
/* Restores m as a table of cap slots (a power of two) holding count keys,
 * the slots being the cap * sizeof(xy_slot) bytes at slots, in src's
 * mapping (see xy__big_load). */
void xy__map_load(xy_map *m, const xy_big_src *src, const void *slots, size_t cap, size_t count);
void xy__map_free(xy_map *m);
/* Returns a pointer to the value of key, or NULL. Valid until the next
 * insert. */
uint64_t *xy__map_get(const xy_map *m, uint64_t key);
/* Returns a pointer to the value of key, inserting it with value 0 when it
 * is new (*is_new says which). Valid until the next insert. */
uint64_t *xy__map_put(xy_map *m, uint64_t key, int *is_new);
/* Grows m at once to hold total keys without growing again, when the
 * caller knows how many are coming (each doubling rehashes every key). */
void xy__map_reserve(xy_map *m, size_t total);
/* Starts fetching the slot of key into the cache, for a lookup soon. */
static inline void xy__map_prefetch(const xy_map *m, uint64_t key)
{
    if (m->slots) XY_PREFETCH(&m->slots[xy__hash64(key) & m->mask]);
}

/* A string interning table: maps names to small dense ids (0, 1, 2 ...).
 * The strings are copied and live as long as the table. */
typedef struct xy_names {
    char **str;      /* id -> NUL-terminated name */
    size_t count;    /* names stored */
    size_t cap;      /* capacity of str */
    uint64_t *slots; /* hash slots: upper 32 bits of the hash << 32 | id + 1;
                        0 when empty */
    size_t mask;     /* slot count - 1 */
} xy_names;

void xy__names_init(xy_names *t);
void xy__names_free(xy_names *t);
/* Id of name, or -1 when it is not in the table. */
int32_t xy__names_find(const xy_names *t, const char *s, size_t n);
/* Id of name, adding it when new. */
int32_t xy__names_intern(xy_names *t, const char *s, size_t n);

/* The answers of recent xy__names_find calls, for a caller that looks up
 * the same few names again and again (a CSV load: a behaviour and an
 * agency per row). Owned by the caller, zeroed before first use, and valid
 * for one table that gains no names meanwhile. */
#define XY_MEMO_SLOTS 64
#define XY_MEMO_LEN 40
typedef struct xy_names_memo {
    struct {
        uint32_t n;            /* length of the name, 0 if the slot is empty */
        int32_t id;            /* xy__names_find's answer */
        char s[XY_MEMO_LEN];   /* the name */
    } e[XY_MEMO_SLOTS];
} xy_names_memo;

/* xy__names_find(t, s, n), answered from m when it was asked before (and
 * not displaced since): a short compare instead of a hash and a probe. */
static inline int32_t xy__names_find_memo(const xy_names *t, xy_names_memo *m, const char *s, size_t n)
{
    if (n == 0 || n > XY_MEMO_LEN) return xy__names_find(t, s, n);
    size_t k = (n * 7 + (unsigned char)s[0] * 31 + (unsigned char)s[n - 1]) & (XY_MEMO_SLOTS - 1);
    if (m->e[k].n == n && memcmp(m->e[k].s, s, n) == 0) return m->e[k].id;
    int32_t id = xy__names_find(t, s, n);
    m->e[k].n = (uint32_t)n;
    m->e[k].id = id;
    memcpy(m->e[k].s, s, n);
    return id;
}

/* A growable byte buffer. */
typedef struct xy_buf {
    char *data; /* bytes, NUL-terminated when len > 0 */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    int kind;   /* where data lives: XY_BUF_* */
} xy_buf;

enum {
    XY_BUF_HEAP,    /* malloc (a zeroed xy_buf) */
    XY_BUF_PRIVATE, /* xy__private_realloc memory (xy__buf_private) */
    XY_BUF_BIG      /* xy__big_realloc memory (xy__buf_big) */
};

/* Makes an empty buffer keep its bytes in xy__private_realloc memory
 * (scratch a snapshot's child never reads); it stays so after
 * xy__buf_free. */
void xy__buf_private(xy_buf *b);
/* Makes an empty buffer keep its bytes in xy__big_realloc memory, in huge
 * pages once past a megabyte: for a buffer that grows to hundreds of
 * megabytes (a page fault every 4 KB costs more than filling it); it
 * stays so after xy__buf_free. */
void xy__buf_big(xy_buf *b);
/* Makes room for need bytes in all (and the NUL after them). */
void xy__buf_grow(xy_buf *b, size_t need);
/* Appends n bytes of p. Inline: a fixed-size record (a trail record, a
 * field) is then a few stores rather than a call to memcpy. */
static inline void xy__buf_append(xy_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) xy__buf_grow(b, b->len + n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}
void xy__buf_printf(xy_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void xy__buf_vprintf(xy_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void xy__buf_free(xy_buf *b);

/* A sink for bytes that a producer hands over in pieces, so that large
 * state can be written out (a snapshot's sections) without first being
 * copied into memory of its own. ctx is the sink's. */
typedef void xy_emit_fn(void *ctx, const void *p, size_t n);
/* The xy_emit_fn that appends to the xy_buf ctx. */
void xy__buf_emit(void *ctx, const void *p, size_t n);

/* Seconds on the monotonic clock, to measure spans of time with. */
double xy__seconds(void);

/* Writes all n bytes, retrying on EINTR and short writes. Returns 0 or
 * the errno of the failure. */
int xy__write_all(int fd, const void *p, size_t n);

/* xy__write_all as a status: XY_OK, XY_ENOSPC for a full disk or quota,
 * XY_EIO for any other failure. */
int xy__write_status(int fd, const void *p, size_t n);

/* The status of a write, sync or writeback that failed with errno err (0:
 * it did not fail), as xy__write_status tells them. */
int xy__errno_status(int err);

/* Makes a directory's entries durable (a file created, renamed or removed
 * in it): XY_OK, or a status as xy__errno_status gives it with errno set
 * to the reason. */
int xy__fsync_dir(const char *dir);

/* A size in bytes from the environment variable name (tests make the
 * store's intervals small), or dflt when it is unset or not a positive
 * number. */
uint64_t xy__env_bytes(const char *name, uint64_t dflt);

/* A file written front to back in the background (a snapshot, an event-
 * index run) whose dirty pages are kept few: see xy__write_paced. */
typedef struct xy_pacer {
    uint64_t off;     /* file offset after the bytes written so far */
    uint64_t started; /* bytes before this offset are being written back */
} xy_pacer;

/* Writes n bytes at the pacer's offset (the file's offset, which the
 * caller set to pc->off) like xy__write_all, and every XY_PACE_BYTES
 * starts the kernel writing back what came since and waits for what came
 * before. Without it a background snapshot leaves gigabytes dirty, the
 * kernel flushes them all at once, and the writer's log fdatasync waits
 * behind them. Returns 0 or the errno of a failed write or writeback (see
 * xy__write_back: the caller's fsync would not see the latter). */
int xy__write_paced(int fd, const void *p, size_t n, xy_pacer *pc);
#define XY_PACE_BYTES ((uint64_t)16 << 20)

/* Starts writing bytes [off, off + len) of fd back to the disk and waits
 * until that is done, then with drop takes them out of the page cache.
 * Dropping what nobody reads back soon keeps a large write from taking a
 * page of fresh memory for every page it writes: the next write reuses
 * the pages just freed. On a virtual machine where fresh memory is slow,
 * a gigabyte written in 8 MB writes this way took 0.8-1.0 s against
 * 3.2-3.9 s left in the page cache (`build/bench 0 0 writeback`). This is
 * not a sync: the caller's fdatasync still makes the bytes durable; but a
 * failed writeback this wait sees is no longer reported by a later fsync
 * of the same open file, so it is returned here. Returns 0 or that errno. */
int xy__write_back(int fd, uint64_t off, uint64_t len, int drop);

/* Reads a whole file into a NUL-terminated buffer the caller frees. */
int xy__read_file(const char *path, char **data, size_t *len);
/* A whole input file in memory, for a reader that only scans it. */
typedef struct xy_file {
    const char *data; /* its bytes (not NUL-terminated) */
    size_t len;       /* how many */
    char *heap;       /* the buffer when it was read rather than mapped */
} xy_file;

/* Opens path into f: a regular file is mapped read-only (and guarded, see
 * below), so the page cache is read in place with no buffer to fault in
 * and no copy; a pipe or a terminal is read whole; a device that is
 * neither is refused (ENODEV: /dev/zero would never end). Returns XY_OK,
 * XY_ENOENT or XY_EIO with errno set; release with xy__file_close. */
int xy__file_open(const char *path, xy_file *f);
void xy__file_close(xy_file *f);

/* Files cut short while mapped. Another process may shrink a file this one
 * has mapped (an input rewritten during its load, the log a writer cuts
 * back to its last whole batch while a reader scans it); a read of a page
 * past the new end then raises SIGBUS. A mapping registered here reads
 * zeros there instead, which every reader of such a file takes as bad data
 * (a torn tail of the log, a NUL in a CSV file), and remembers it. The
 * first registration installs a SIGBUS handler for the process, which
 * passes a fault outside the registered mappings on to the handler that
 * was there before (the default one ends the process, as without it).
 * Up to XY_GUARDS mappings are guarded at once; more are mapped unguarded.
 * xy__guard_add registers [p, p + len); xy__guard_remove, called before
 * munmap, forgets it and returns whether zeros were read there;
 * xy__guard_hit tells the same without forgetting. */
enum { XY_GUARDS = 1024 };
void xy__guard_add(const void *p, size_t len);
int xy__guard_remove(const void *p);
int xy__guard_hit(const void *p);

/* Writes a diagnostic through a sink, printf-style, whole however long
 * (a path may be thousands of bytes). Nothing when fn is NULL. */
void xy__diagf(xy_diag_fn *fn, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
