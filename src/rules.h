/* rules.h -- the compiled form of a ruleset, shared by the engine, the
 * decision code and the reports. Everything is indexed by small integers:
 * name ids are global (the same behaviour name has one id in every city),
 * and each city maps them to its own definitions through dense arrays, so
 * a lookup costs the same with 10 or 10,000 behaviours. */
#ifndef XY_RULES_H
#define XY_RULES_H

#include "util.h"
#include "xinyong.h"

#define XY_MICRO 1000000LL /* amounts are stored in millionths */
#define XY_MAX_DAYS 36525  /* longest `expires`, term, `for`, exit delay: about a century */

/* What events of a behaviour touch beyond the citizen's state, in some
 * city (xy_rules.ahead): the engine starts fetching it a few events ahead. */
enum {
    XY_AHEAD_LIMIT = 1, /* a yearly count (`limit`) */
    XY_AHEAD_TERM = 2,  /* the reason of a blacklist term (`lists blacklist`) */
};

/* Where a compiled rule was written: the line of its directive, for
 * explanations that name the rule behind each number. */
typedef struct xy_src {
    int32_t file; /* 1 + index into xy_rules.files; 0 when there is none */
    int32_t line; /* 1-based */
} xy_src;

typedef struct xy_behaviour {
    int32_t name;     /* behaviour name id */
    int32_t points;   /* points per occurrence, signed */
    int64_t per;      /* `per P`: amount unit in micro-units, 0 if none */
    int64_t cap;      /* `cap C`: magnitude limit, 0 if none */
    int32_t limit;    /* `limit N per year`, 0 if none */
    int32_t expires;  /* `expires D days`, 0 if none */
    int32_t term;     /* `lists blacklist for D days`, 0 if none */
    int32_t category; /* category name id, -1 if none */
    uint32_t stale_after; /* days after its date from which an event is
                         expired on arrival: expires, or UINT32_MAX if it
                         never expires */
    char *text;       /* description or NULL */
    xy_src at;        /* the definition in force (the last one read) */
} xy_behaviour;

enum { XY_ON_BLACKLIST, XY_ON_WHITELIST, XY_ON_GRADE };
enum { XY_SANCTION, XY_PRIVILEGE };
enum { XY_DENY, XY_PRIORITY, XY_DISCOUNT };

typedef struct xy_consequence {
    char *name;       /* sanction or privilege name */
    uint8_t kind;     /* XY_SANCTION or XY_PRIVILEGE */
    uint8_t on;       /* XY_ON_BLACKLIST, XY_ON_WHITELIST or XY_ON_GRADE */
    uint8_t effect;   /* XY_DENY, XY_PRIORITY or XY_DISCOUNT */
    uint8_t children; /* applies to the subject's children */
    uint64_t grades;  /* with XY_ON_GRADE: bit i set for grade index i */
    int32_t days;     /* `for D days`, 0 if none */
    int32_t percent;  /* with XY_DISCOUNT */
    int32_t *actions; /* action name ids */
    int nactions;     /* number of actions */
    int for_slot;     /* grade with `for D days`: its entry-day slot, else -1 */
    char *text;       /* description or NULL */
    xy_src at;        /* its directive */
} xy_consequence;

typedef struct xy_grade {
    char *name;   /* "AAA" */
    int64_t from; /* lower bound */
    xy_src at;    /* its directive */
} xy_grade;

/* A band of scores between two grade bounds, [lo, hi), and the list
 * threshold strictly inside it, if one: a score change that stays on one
 * side of it within the band changes neither the grade nor a list. Kept
 * as the two sides, so that the engine's test is a choice and a range
 * check, without a branch: side 0 is the scores below mark, side 1 those
 * from it. A band with more than one threshold inside gets two empty
 * sides (no shortcut); one with none has mark INT64_MIN and only side 1. */
typedef struct xy_band {
    int64_t mark;            /* the threshold inside, INT64_MIN if none */
    int64_t lo[2], hi[2];    /* each side [lo, hi) */
} xy_band;

typedef struct xy_city {
    char *id;                   /* "rongcheng" */
    char *display;              /* "Rongcheng" */
    char *file;                 /* the city file */
    int64_t base;               /* base score */
    int64_t min, max;           /* clamp bounds (INT64_MIN/MAX if unbounded) */
    int scoring_age;            /* events before this age are zeroed */
    int32_t sure_days;          /* scoring_age * 366: anyone this many days
                                   old has reached it */
    int32_t short_days;         /* scoring_age * 365: anyone younger in days
                                   has not */
    xy_grade *grades;           /* ascending by lower bound */
    int ngrades;                /* number of grades (at most 64) */
    xy_behaviour *behaviours;   /* definitions after overrides */
    int nbehaviours;            /* number of definitions */
    const xy_behaviour **by_name; /* behaviour name id -> its definition here,
                                   or NULL */
    xy_map perms;               /* (agency << 32 | behaviour id) -> 1 */
    uint64_t *agency_mask;      /* behaviour name id -> bit a set if agency a
                                   (< 64) may report it; the perms map answers
                                   for agencies 64 and up */
    int has_blacklist;          /* `blacklist below` given */
    int64_t bl_below;           /* entry threshold */
    int has_exit;               /* `blacklist exit` given */
    int64_t bl_exit;            /* exit threshold */
    int32_t exit_days;          /* days at or above it before exit */
    int has_whitelist;          /* `whitelist from` given */
    int64_t wl_from;            /* whitelist threshold */
    xy_consequence *cons;       /* sanctions and privileges */
    int ncons;                  /* number of them */
    int nfor_slots;             /* grade consequences with `for D days` */
    int *grade_cons;            /* their indexes in cons */
    int ngrade_cons;            /* their number (= nfor_slots) */
    int64_t mark3[3];           /* the list thresholds, INT64_MAX if absent */
    xy_band *bands;             /* ngrades + 1: below the lowest grade, then
                                   grade index i at i + 1 */
    int has_assoc;              /* `association` given */
    int64_t assoc_points;       /* points per blacklisted contact */
    int32_t assoc_every;        /* period in days */
    int64_t assoc_max;          /* bound on one adjustment (0 if none) */
    int publish_blacklist;      /* `publish blacklist` */
    int publish_scores;         /* `publish scores` */
    xy_src base_at, bl_at, wl_at, assoc_at; /* the directives of `score`,
                                   `blacklist below`, `whitelist from`,
                                   `association` */
    xy_src exit_at;             /* the directive of `blacklist exit` */
} xy_city;

typedef struct xy_region {
    uint32_t prefix; /* division-code prefix value */
    int digits;      /* its length in digits (1-6) */
    int city;        /* city index */
} xy_region;

struct xy_rules {
    xy_names behaviour_names; /* behaviour name ids */
    xy_names agency_names;    /* agency name ids */
    xy_names action_names;    /* action name ids */
    xy_names category_names;  /* category name ids */
    xy_city *cities;          /* cities, sorted by id */
    int ncities;              /* number of cities */
    xy_region *regions;       /* region prefixes, longest first */
    int nregions;             /* number of prefixes */
    char *dir;                /* the rules directory, if loaded from one */
    uint8_t *ahead;           /* behaviour name id -> XY_AHEAD_* (what its
                                 events touch beyond the citizen's state) */
    xy_names files;           /* the files rules were read from (xy_src) */
    xy_names sources;         /* every file read, named as it was given or
                                 included, for init's self-containment check */
    int nnamed;               /* different files the loader was given */
};

/* The behaviour a city defines under a name id, or NULL. */
static inline const xy_behaviour *xy__city_behaviour(const xy_rules *r,
                                                     const xy_city *c,
                                                     int32_t name)
{
    if ((uint32_t)name >= r->behaviour_names.count) return NULL; /* also a negative name */
    return c->by_name[name];
}

/* Writes where rule `at` was written into buf as FILE:LINE, FILE relative
 * to the rules directory when it lies in it, and returns buf; NULL when
 * at names no place. */
const char *xy__rules_src(const xy_rules *r, xy_src at, char *buf, size_t n);

/* The names of the rules files in dir, the names ending in ".rules" that
 * do not begin with a dot, in name order: *names holds *n of them, which
 * the caller frees, each and the array. XY_ENOENT for a dir that does not
 * exist, XY_EIO for one that cannot be listed (errno says why). */
int xy__rules_dir_names(const char *dir, char ***names, size_t *n);

/* Grade index of a score in a city, or -1 when it has no grades. */
int xy__city_grade(const xy_city *c, int64_t score);
/* The city whose region prefix is the longest match for a division code,
 * or -1. */
int xy__rules_city_of_region(const xy_rules *r, uint32_t region);

#endif
