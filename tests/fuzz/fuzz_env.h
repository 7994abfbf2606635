/* fuzz_env.h -- what the harnesses that build a data directory share:
 * where the rules and the sample population are, and a scratch directory
 * for the data directory. */
#ifndef XY_FUZZ_ENV_H
#define XY_FUZZ_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "xinyong.h"

/* scripts/fuzz.sh runs the harnesses from build/fuzz; XY_FUZZ_RULES and
 * XY_FUZZ_EXAMPLES point elsewhere. */
static inline const char *fuzz_rules(void)
{
    return getenv("XY_FUZZ_RULES") ? getenv("XY_FUZZ_RULES") : "../../rules";
}

static inline const char *fuzz_examples(void)
{
    return getenv("XY_FUZZ_EXAMPLES") ? getenv("XY_FUZZ_EXAMPLES") : "../../examples";
}

/* Names the scratch directory DIR/xy-fuzz-WHAT-PID, in memory where there
 * is a tmpfs: loads, snapshots and a writer's open sync files, which on a
 * disk would be most of the time of a run. */
static inline void fuzz_scratch(char *dir, size_t n, const char *what)
{
    snprintf(dir, n, "%s/xy-fuzz-%s-%d", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", what, (int)getpid());
}

/* The ruleset of the data directory dir, compiled once for every input's
 * opens (xy__db_open_rules), or NULL when it does not compile. */
static inline xy_rules *fuzz_dir_rules(const char *dir)
{
    char rdir[256];
    xy_rules *r = NULL;
    snprintf(rdir, sizeof rdir, "%s/rules", dir);
    return xy_rules_load_dir(rdir, NULL, NULL, &r) == XY_OK ? r : NULL;
}

#endif
