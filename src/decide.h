/* decide.h -- which sanctions and privileges are active for a citizen, and
 * the checkpoint decision they produce (spec 2.5 and 2.6). */
#ifndef XY_DECIDE_H
#define XY_DECIDE_H

#include "engine.h"

typedef struct xy_active {
    const xy_city *city;        /* the city that defines it */
    const xy_consequence *q;    /* the consequence */
    uint32_t subject;           /* whose condition (the citizen or a parent) */
    xy_day since;               /* latest entry into the condition */
    xy_day until;               /* last active day, or XY_DAY_NONE */
} xy_active;

/* Fills out[0..max) with the consequences active for citizen c today: its
 * own, and its parents' that carry `children`. Returns how many there are
 * (which may exceed max; only max are written). */
size_t xy__active(const xy_engine *e, uint32_t c, xy_active *out, size_t max);

/* Whether a consequence names an action. */
int xy__names_action(const xy_consequence *q, int32_t action);

enum { XY_ALLOW = 0, XY_DECIDE_DENY, XY_DECIDE_PRIORITY, XY_DECIDE_DISCOUNT };

/* The decision over the active consequences that name action: deny beats
 * priority beats the largest discount beats allow. */
int xy__decide(const xy_active *a, size_t n, int32_t action, int *percent);

#endif
