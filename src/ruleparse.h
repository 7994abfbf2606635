/* ruleparse.h -- the rules language's parser as the compiler sees it
 * (rules.c): what one city's files declare, read into a unit with
 * overrides applied, every mistake told to a diag with its
 * FILE:LINE:COLUMN. Private to the two halves of the rules module. */
#ifndef XY_RULEPARSE_H
#define XY_RULEPARSE_H

#include "rules.h"

typedef struct pos {
    const char *file; /* path as the user named it (owned by the loader) */
    int line;         /* 1-based */
    int col;          /* 1-based */
} pos;

typedef struct diag {
    xy_diag_fn *fn;   /* user sink */
    void *ctx;        /* its context */
    int errors;       /* errors reported */
    xy_names seen;    /* messages already reported (shared files are read
                         by several cities but each mistake is told once) */
    xy_names reals;   /* real paths of the files read so far, and */
    char **names;     /* the name each was first read under, which it keeps
                         (so "a/../x.rules" and "x.rules" are one file) */
    size_t nnames, cap_names;
} diag;

typedef struct ref {
    char *name; /* referenced name */
    pos at;     /* where */
} ref;

typedef struct agency_def {
    char *name;      /* agency name */
    int by_category; /* items are categories, not behaviours */
    ref *items;      /* behaviour or category names */
    int nitems;      /* their number */
    pos at;          /* the directive */
} agency_def;

typedef struct cons_def {
    xy_consequence c; /* compiled form, grades resolved at the end */
    ref *grades;      /* grade names of `on grade` */
    int ngrades;      /* their number */
    pos at;           /* the directive */
} cons_def;

typedef struct grade_def {
    char *name;   /* grade name */
    int64_t from; /* lower bound */
    pos at;       /* the directive */
} grade_def;

typedef struct region_def {
    uint32_t prefix; /* value */
    int digits;      /* length */
    pos at;          /* where */
} region_def;

/* Everything one city (or one shared file checked alone) declares, with
 * overrides applied as lines are read. */
typedef struct unit {
    xy_rules *rules;       /* owner of the name tables */
    diag *d;               /* error sink */
    int has_city;          /* a `city` line was seen */
    char *city_id;         /* its id */
    char *display;         /* its display name */
    pos city_at;           /* where */
    pos city_id_at;        /* where its id stands on that line */
    region_def *regions;   /* `region` prefixes */
    size_t nregions, cap_regions;
    int has_score;         /* a `score` line was seen */
    int64_t base, min, max;
    int has_min, has_max;
    int scoring_age;       /* `scored from age` */
    grade_def *grades;     /* grade bands */
    size_t ngrades, cap_grades;
    xy_behaviour *behaviours; /* behaviour definitions */
    size_t nbehaviours, cap_behaviours;
    xy_map behaviour_index;   /* behaviour name id -> index in behaviours */
    agency_def *agencies;  /* agency definitions */
    size_t nagencies, cap_agencies;
    cons_def *cons;        /* sanctions and privileges */
    size_t ncons, cap_cons;
    int has_blacklist;     /* `blacklist below` */
    int64_t bl_below;
    int has_exit;          /* `blacklist exit` */
    int64_t bl_exit;
    int32_t exit_days;
    pos exit_at;
    int has_whitelist;     /* `whitelist from` */
    int64_t wl_from;
    pos score_at, bl_at, wl_at, assoc_at; /* the directives in force */
    int has_assoc;         /* `association` */
    int64_t assoc_points, assoc_max;
    int32_t assoc_every;
    int publish_blacklist, publish_scores;
    char **stack;          /* real paths of the files being read */
    size_t nstack, cap_stack;
    const char *reached;   /* the path by which the file being read was reached:
                              its relative includes resolve against it, not against
                              the name its messages show (which another path may have
                              given first) */
    xy_names read;         /* real paths already read (read once) */
    char **paths;          /* display paths, kept alive for pos.file */
    size_t npaths, cap_paths;
} unit;

/* Tells d's sink the mistake at `at` (once, however often a shared file
 * makes it) and counts it. */
void xy__rules_report(diag *d, pos at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reads the rules file at path (and what it includes) into u, from the
 * include at `from` (a pos with no file for a file named by the user).
 * Returns 0, or -1 when the file could not be read at all (said to u->d);
 * mistakes in its lines are told to u->d and counted there. */
int xy__rules_parse_file(unit *u, const char *path, pos from);

/* Frees what u holds (not u itself, nor its rules or diag). */
void xy__rules_unit_free(unit *u);

/* The place of p in the compiled rules: its file entered in the rules'
 * file table. */
xy_src xy__rules_src_of(unit *u, pos p);

/* Whether the file at path declares a city: a cheap look at its lines,
 * without parsing them. */
int xy__rules_declares_city(const char *path);

#endif
