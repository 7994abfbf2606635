/* explain-loop.c -- explains one citizen of a data directory N times
 * through xy_report_explain on one reader, and prints the time of one
 * explanation: what "The seventeenth round" of docs/performance-log.md
 * measured and profiled (`perf record` on it). Build and run, after
 * `make demo`:
 *
 *     cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -iquote src -o /tmp/explain-loop \
 *        bench/experiments/explain-loop.c build/libxinyong.a -ljansson -lisal -lm -pthread
 *     /tmp/explain-loop build/demo-data 371082197503141552 3000
 */
#include <stdio.h>
#include <stdlib.h>

#include "util.h"
#include "xinyong.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: explain-loop DATA ID N\n");
        return 1;
    }
    xy_db *db;
    if (xy_db_open(argv[1], XY_READ, NULL, NULL, &db) != XY_OK) {
        fprintf(stderr, "explain-loop: cannot open %s\n", argv[1]);
        return 2;
    }
    FILE *out = fopen("/dev/null", "w");
    int n = atoi(argv[3]);
    double t0 = xy__seconds();
    for (int k = 0; k < n; k++) (void)xy_report_explain(db, argv[2], XY_OUT_TEXT, 0, out);
    double t = xy__seconds() - t0;
    printf("%.1f us an explanation (%d of %s)\n", n > 0 ? t / n * 1e6 : 0.0, n, argv[2]);
    fclose(out);
    xy_db_close(db);
    return 0;
}
