/* decide.c -- active consequences and checkpoint decisions. */
#include "decide.h"

/* Adds the consequences of subject p that apply to the asking citizen:
 * its own (children == 0) or, for a parent, those with `children`. */
static size_t collect(const xy_engine *e, uint32_t p, int as_parent, xy_active *out, size_t max,
                      size_t n)
{
    const xy_cstate *s = &e->st[p];
    const xy_city *city = &e->rules->cities[s->city];
    int64_t score = xy__clamp(city, s->raw);
    int grade = xy__city_grade(city, score);
    xy_day t = e->today;
    for (int k = 0; k < city->ncons; k++) {
        const xy_consequence *q = &city->cons[k];
        if (q->children != as_parent) continue;
        int holds;
        xy_day since;
        if (q->on == XY_ON_BLACKLIST) {
            holds = !!(s->flags & CS_ON_BL);
            since = s->bl_since;
        } else if (q->on == XY_ON_WHITELIST) {
            holds = !!(s->flags & CS_ON_WL);
            since = s->wl_since;
        } else {
            holds = grade >= 0 && (q->grades >> grade & 1);
            /* With `for D days` the entry into the set of grades counts;
             * otherwise since says when the current grade was entered. */
            since = q->for_slot >= 0 ? xy__grade_entry(e, p, q->for_slot) : s->grade_since;
        }
        xy_day until = XY_DAY_NONE;
        int active;
        if (t == XY_DAY_NONE) {
            /* Before the clock is set nothing is dated yet: what holds from
             * registration is active, and its days will count from the
             * clock's first day. */
            active = holds;
            since = XY_DAY_NONE;
        } else if (q->days) {
            since = xy__seen_day(e, since);
            if (since == XY_DAY_NONE) continue;
            until = since + q->days - 1;
            active = t >= since && t <= until;
        } else {
            since = xy__seen_day(e, since);
            active = holds;
        }
        if (!active) continue;
        if (n < max) out[n] = (xy_active){city, q, p, since, until};
        n++;
    }
    return n;
}

size_t xy__active(const xy_engine *e, uint32_t c, xy_active *out, size_t max)
{
    size_t n = collect(e, c, 0, out, max, 0);
    if (e->father[c] != XY_NONE) n = collect(e, e->father[c], 1, out, max, n);
    if (e->mother[c] != XY_NONE) n = collect(e, e->mother[c], 1, out, max, n);
    return n;
}

int xy__names_action(const xy_consequence *q, int32_t action)
{
    for (int i = 0; i < q->nactions; i++)
        if (q->actions[i] == action) return 1;
    return 0;
}

int xy__decide(const xy_active *a, size_t n, int32_t action, int *percent)
{
    int deny = 0, priority = 0, best = 0;
    for (size_t i = 0; i < n; i++) {
        const xy_consequence *q = a[i].q;
        if (!xy__names_action(q, action)) continue;
        if (q->effect == XY_DENY) deny = 1;
        else if (q->effect == XY_PRIORITY) priority = 1;
        else if (q->percent > best) best = q->percent;
    }
    *percent = 0;
    if (deny) return XY_DECIDE_DENY;
    if (priority) return XY_DECIDE_PRIORITY;
    if (best) {
        *percent = best;
        return XY_DECIDE_DISCOUNT;
    }
    return XY_ALLOW;
}
