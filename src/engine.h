/* engine.h -- the in-memory state and the hooks the reports and the store
 * use: dense per-citizen arrays (structure of arrays for the registry, one
 * 32-byte record of scoring state per citizen), sparse maps for the rare
 * things (limit counts, term reasons), and two schedules (expiries, list
 * exits) so that advancing the clock costs work per event, not per day. */
#ifndef XY_ENGINE_H
#define XY_ENGINE_H

#include "limitcount.h"
#include "rules.h"
#include "util.h"

/* Clock sentinel for what happens before the first dated input (citizens
 * registered before any event): read as the clock's first day. */
#define XY_DAY_PENDING (INT32_MIN + 1)

enum {
    CS_SCORE_MEMBER = 1, /* score membership of the blacklist */
    CS_ON_BL = 2,        /* on the blacklist (score or term) */
    CS_ON_WL = 4,        /* on the whitelist */
    CS_TERM = 8,         /* a blacklist term is running */
    CS_LISTED = 16,      /* in xy_engine.bl_list (see there) */
};

/* Scoring state of one citizen: 32 bytes, the hot part of the state. */
typedef struct xy_cstate {
    int64_t raw;         /* base + sum of contributions */
    xy_day bl_since;     /* latest blacklist entry, or XY_DAY_NONE */
    xy_day wl_since;     /* latest whitelist entry, or XY_DAY_NONE */
    xy_day term_end;     /* first day off the term list, or XY_DAY_NONE */
    xy_day birth;        /* birth day (a copy of the ID's, kept hot) */
    xy_day grade_since;  /* day the current grade was entered */
    uint16_t city;       /* city index */
    uint8_t flags;       /* CS_* */
    uint8_t grade;       /* current grade index, 255 if none */
} xy_cstate;

/* Why an event's points are what they are. */
enum {
    NOTE_NONE,      /* points as defined */
    NOTE_UNDER_AGE, /* zero: younger than the scoring age on the event date */
    NOTE_EXPIRED,   /* zero: its expiry day had passed when it was applied */
    NOTE_LIMIT,     /* zero: the yearly limit was already reached */
    NOTE_CAPPED,    /* limited in magnitude by `cap` */
    NOTE_SCALED,    /* multiplied by `per` */
};

enum { HIST_EVENT, HIST_EXPIRY, HIST_ASSOC, HIST_ENTER, HIST_LEAVE };

/* The memberships that HIST_ENTER/HIST_LEAVE report: the blacklist by
 * score, the blacklist by a term (entered again when a later event
 * extends it), and the whitelist. */
enum { MEMBER_BL_SCORE, MEMBER_BL_TERM, MEMBER_WL };

/* One line of a citizen's history, sent to the history hook as it happens. */
typedef struct xy_hist {
    int kind;             /* HIST_* */
    uint32_t citizen;     /* whose history */
    xy_day day;           /* the day it took effect */
    const xy_event *ev;   /* HIST_EVENT: the event */
    uint64_t event_seq;   /* HIST_EVENT/EXPIRY: the event's seq */
    int32_t behaviour;    /* HIST_EVENT/EXPIRY: behaviour name id */
    int64_t points;       /* contribution (0 when zeroed) */
    int note;             /* HIST_EVENT: NOTE_* */
    int64_t multiplier;   /* HIST_EVENT with NOTE_SCALED: the factor */
    int contacts;         /* HIST_ASSOC: blacklisted contacts counted */
    int member;           /* HIST_ENTER/LEAVE: MEMBER_* */
    xy_day until;         /* HIST_ENTER of a term: its last day */
    int64_t score;        /* score after the change */
} xy_hist;

typedef void xy_hist_fn(void *ctx, const xy_hist *h);

/* Told of every association adjustment as it is applied: citizen c got
 * one on day t for n blacklisted contacts. The store keeps these in the
 * per-citizen history index (trail.h). */
typedef void xy_assoc_fn(void *ctx, uint32_t c, xy_day t, int n);

/* An association adjustment given to an engine instead of computed from
 * contacts (xy__engine_inject_assoc). */
typedef struct xy_inj {
    xy_day day;      /* association day */
    uint32_t citizen; /* who */
    int n;           /* blacklisted contacts counted that day */
} xy_inj;

/* A pending expiry. */
typedef struct xy_expiry {
    uint32_t citizen;    /* whose score */
    int32_t behaviour;   /* behaviour name id */
    int64_t points;      /* the negation of the event's points */
    uint64_t event_seq;  /* the event, for explanations */
} xy_expiry;

/* A calendar of pending work: one bucket per day in a ring that covers
 * more days than any rule can look ahead (XY_HORIZON), so a bucket only
 * ever holds one day's items, in the order they were scheduled. A bucket
 * is a chain of fixed-size blocks, and the blocks of a day that has been
 * processed go back to a free list: scheduling is an append into memory
 * that is already mapped and warm, never a copy, and the calendar's memory
 * is bounded by the work pending, not by the days that have passed. */
#define XY_RING 65536
#define XY_HORIZON 40000 /* > the longest `expires`, term or exit delay */
#define XY_CAL_BLOCK 16384 /* bytes of items in one block */

typedef struct xy_cblock {
    struct xy_cblock *next; /* next block of the bucket, or of the free list */
    uint32_t n;             /* items in this block */
    _Alignas(8) char items[XY_CAL_BLOCK];
} xy_cblock;

/* Blocks are carved from slabs, each twice the size of the one before up
 * to XY_CAL_SLAB_MAX blocks (just under 2 MB with the slab's header: one
 * huge page): an engine that reruns one citizen for an explanation takes a
 * block or two, one that replays a country thousands, which from the heap
 * cost a page fault every 4 KB. */
#define XY_CAL_SLAB_MAX 127

typedef struct xy_cslab {
    struct xy_cslab *next;  /* the slab allocated before, or NULL */
    size_t bytes;           /* its size, for xy__big_free */
    xy_cblock blocks[];     /* its blocks */
} xy_cslab;

_Static_assert(sizeof(xy_cslab) + XY_CAL_SLAB_MAX * sizeof(xy_cblock) <= ((size_t)2 << 20),
               "a full slab fits a huge page");

/* A bucket's items: those a reader restored from a snapshot in place
 * (xy__cal_adopt), then its blocks. */
typedef struct xy_bucket {
    xy_cblock *head, *tail; /* blocks in scheduling order, NULL if empty */
    const char *kept;       /* nkept items in the calendar's kept section */
    uint32_t n;             /* items scheduled, kept ones included */
    uint32_t nkept;
} xy_bucket;

typedef struct xy_calendar {
    xy_bucket *b;     /* XY_RING buckets, allocated on first use */
    size_t elem;      /* item size */
    uint32_t per;     /* items per block */
    uint64_t pending; /* items in all buckets */
    xy_cblock *free;  /* blocks ready for reuse */
    xy_cslab *slabs;  /* every slab allocated, the latest first */
    uint32_t carved;  /* blocks of the latest slab handed out */
    uint32_t per_slab; /* blocks it holds */
    void *kept;       /* a snapshot's section the buckets' kept items lie in
                         (an xy__big_load block of kept_len bytes), or NULL */
    size_t kept_len;
} xy_calendar;

struct xy_engine {
    const xy_rules *rules;  /* borrowed */
    xy_day today;           /* the clock, XY_DAY_NONE until set */
    xy_day exits_pending;   /* the day whose day-start processing has not
                               reached its list exits yet (steps 1 and 2),
                               XY_DAY_NONE outside day-start processing */
    xy_day first_day;       /* the clock's first value */
    uint64_t applied;       /* events applied */
    int year;               /* cache of year_of(): the year */
    xy_day year_lo, year_hi; /* its first and last day */
    /* registry */
    uint32_t n, cap;        /* citizens registered, capacity */
    xy_resid *ids;          /* index -> packed ID */
    uint32_t *father;       /* index -> father index or XY_NONE */
    uint32_t *mother;       /* index -> mother index or XY_NONE */
    uint64_t *name_off;     /* index -> offset of the name in names */
    xy_buf names;           /* NUL-terminated names */
    xy_map by_id;           /* packed ID -> city << 32 | index */
    /* state */
    xy_cstate *st;          /* index -> scoring state */
    xy_fork_copy st_copy;   /* st as of the last background snapshot's fork */
    xy_cstate *st_child;    /* the copy a snapshot's child reads, or NULL */
    /* Everyone on the blacklist, and perhaps some who have left it since
     * the last association step, each once (CS_LISTED): in index order up
     * to bl_sorted_n (as the last association step left it), then in the
     * order they were listed. Leaving costs nothing; association, the only
     * reader, drops those who left before it counts. */
    uint32_t *bl_list;
    size_t bl_count, cap_bl; /* entries in bl_list, capacity */
    size_t bl_sorted_n;     /* leading entries known to be in order */
    size_t bl_members;      /* citizens on the blacklist */
    xy_limits limits;       /* yearly limit counts */
    xy_map term_reason;     /* citizen -> behaviour << 40 | event seq */
    xy_map grade_entry;     /* citizen << 32 | slot -> day of entry (`for`) */
    xy_map score_since;     /* citizen -> start of its score membership */
    xy_map rise_day;        /* score member -> day its score last rose to the
                               exit threshold (XY_DAY_NONE: below it) */
    /* schedules */
    xy_calendar expiries;   /* xy_expiry items per day */
    xy_calendar exits;      /* citizen indexes (uint32_t) to re-check */
    /* contacts */
    uint64_t *edges;        /* a << 32 | b with a < b, in arrival order */
    size_t nedges, cap_edges;
    xy_map edge_set;        /* the same, for duplicates */
    uint64_t *csr_off;      /* CSR offsets (n + 1), built on demand */
    uint32_t *csr_adj;      /* CSR neighbours */
    size_t csr_edges;       /* edges the CSR covers */
    uint32_t csr_n;         /* citizens the CSR covers */
    uint32_t *hits;         /* the contacts of the blacklisted as of the last
                               association step, sorted (see associate) */
    size_t nhits;           /* entries of hits */
    int hits_valid;         /* hits is that (not after a restore) */
    size_t hits_edges;      /* csr_edges when hits was made */
    uint32_t *hits_tmp;     /* radix-sort and merge scratch */
    uint32_t *delta, *delta_tmp; /* contacts that leave and join hits, scratch */
    size_t cap_delta;
    size_t *radix_count;    /* radix-sort buckets */
    uint32_t *bl_sorted;    /* radix-sort scratch for bl_list (the two swap) */
    size_t cap_bl_sorted;   /* its capacity */
    size_t cap_hits;
    uint8_t *assoc_on;      /* association scratch: city -> on that day */
    /* association sink, and injected association (see the setters) */
    xy_assoc_fn *on_assoc;  /* NULL: none */
    void *on_assoc_ctx;     /* its context */
    const xy_inj *inj;      /* NULL: compute association from contacts */
    size_t ninj, kinj;      /* injected adjustments, the next one */
    /* history hook */
    xy_hist_fn *hist;       /* NULL: no history */
    void *hist_ctx;         /* its context */
    uint32_t hist_only;     /* XY_NONE: every citizen; else just this one */
    /* An owner that applies batches on another thread (the store's append
     * path) sets behind while one may still be running, and the public
     * queries call wait(wait_ctx) first, so that they see it applied. */
    int behind;
    void (*wait)(void *ctx);
    void *wait_ctx;
};

/* What every public query runs first (see xy_engine.behind). */
static inline void xy__engine_current(const xy_engine *e)
{
    if (e->behind) e->wait(e->wait_ctx);
}

static inline int64_t xy__clamp(const xy_city *c, int64_t raw)
{
    return raw < c->min ? c->min : raw > c->max ? c->max : raw;
}

static inline const xy_city *xy__citizen_city(const xy_engine *e, uint32_t i)
{
    return &e->rules->cities[e->st[i].city];
}

/* A stored day as the user sees it: XY_DAY_PENDING becomes the first day. */
static inline xy_day xy__seen_day(const xy_engine *e, xy_day d)
{
    return d == XY_DAY_PENDING ? e->first_day : d;
}

/* The birth day packed in an ID (see xy_resid_parse), without a call. */
static inline xy_day xy__birth(xy_resid id)
{
    return (xy_day)((id >> 10) & 0x3ffff) - 65536;
}

static inline const char *xy__name(const xy_engine *e, uint32_t i)
{
    return e->names.data + e->name_off[i];
}

/* Allocates the calendar's buckets (on its first use). */
void xy__cal_init(xy_calendar *cal);
/* Frees every bucket and block of cal. */
void xy__cal_free(xy_calendar *cal);
/* Appends an empty block to bucket b of cal and returns it. */
xy_cblock *xy__cal_block(xy_calendar *cal, xy_bucket *b);

/* Schedules one item of cal->elem bytes on day: returns where to write
 * it, valid until the next call. Inline: every event that expires
 * schedules one. */
static inline void *xy__cal_push(xy_calendar *cal, xy_day day)
{
    if (!cal->b) xy__cal_init(cal);
    xy_bucket *b = &cal->b[(uint32_t)day & (XY_RING - 1)];
    xy_cblock *k = b->tail;
    if (!k || k->n == cal->per) k = xy__cal_block(cal, b);
    b->n++;
    cal->pending++;
    return k->items + (size_t)k->n++ * cal->elem;
}
/* Gives cal (empty) the block sec of len bytes (an xy__big_load block, now
 * the calendar's) that holds a snapshot's items, and ring slot i the n
 * items at items within it, which are read in place: a reader restores a
 * calendar of a hundred megabytes without copying it. Returns 0, or -1
 * when slot i has items already (the caller then pushes these). */
void xy__cal_keep(xy_calendar *cal, void *sec, size_t len);
int xy__cal_adopt(xy_calendar *cal, uint32_t i, const void *items, uint32_t n);
/* Hands the items of ring slot i, in order, to emit (a block at a time). */
void xy__cal_emit(const xy_calendar *cal, uint32_t i, xy_emit_fn *emit, void *ctx);
/* Releases the items of ring slot i after they were processed. */
void xy__cal_clear(xy_calendar *cal, uint32_t i);

/* Makes room for extra more citizens at once (the ID index and the per-
 * citizen arrays), when the caller knows they are coming: growing by
 * doubling rehashes the ID index at every step. */
void xy__engine_reserve(xy_engine *e, size_t extra);

/* Brings the contact index (CSR adjacency) up to date with the contacts
 * and citizens registered. Association does this itself when it finds the
 * index stale; calling it earlier moves that work out of the first
 * association day. */
void xy__engine_index_contacts(xy_engine *e);

/* Sets the association sink (NULL to remove). */
void xy__engine_set_assoc_sink(xy_engine *e, xy_assoc_fn *fn, void *ctx);

/* From now on, association applies the n adjustments of inj (borrowed,
 * sorted by day, days after today) on their days instead of counting
 * blacklisted contacts: how a single citizen's history is rerun from the
 * history index without the rest of the population. */
void xy__engine_inject_assoc(xy_engine *e, const xy_inj *inj, size_t n);

/* Dense index and city of a citizen, or XY_NONE. */
uint32_t xy__engine_find_city(const xy_engine *e, xy_resid id, int *city);

/* Starts fetching the ID index slot of id, for a registration or a lookup
 * soon. */
static inline void xy__engine_prefetch_citizen(const xy_engine *e, xy_resid id)
{
    xy__map_prefetch(&e->by_id, id);
}

/* Sets the history hook (NULL to remove). */
void xy__engine_set_history(xy_engine *e, xy_hist_fn *fn, void *ctx, uint32_t only);

/* Around the fork of a background snapshot (see xy_fork_copy): the writer
 * copies the citizens' states aside, and the child reads the copy. */
void xy__engine_before_fork(xy_engine *e);
void xy__engine_in_child(xy_engine *e);
/* Day a grade consequence with `for D days` (slot) was last entered, or
 * XY_DAY_NONE. */
xy_day xy__grade_entry(const xy_engine *e, uint32_t citizen, int slot);
/* Day the current score membership of the blacklist started. */
xy_day xy__score_since(const xy_engine *e, uint32_t citizen);

#endif
