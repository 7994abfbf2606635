/* store_town.c -- the fixture of the data directory's unit tests (see
 * store_town.h). */
#include "store_town.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int fail_sync_fd = -1, fail_write_fd = -1, fail_falloc_fd = -1, fail_falloc_errno, fail_falloc_skip, fail_write_torn,
    fail_write_once;

/* The library's calls of fdatasync, write and fallocate in this program
 * come here: each fails on its descriptor (see store_town.h) and is the
 * system call on every other. */
int fdatasync(int fd)
{
    if (fd >= 0 && fd == fail_sync_fd) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

ssize_t write(int fd, const void *p, size_t n)
{
    if (fd >= 0 && fd == fail_write_fd && fail_write_torn && n > 1) {
        fail_write_torn = 0;
        return (ssize_t)syscall(SYS_write, fd, p, n / 2);
    }
    if (fd >= 0 && fd == fail_write_fd) {
        if (fail_write_once) fail_write_fd = -1, fail_write_once = 0;
        errno = ENOSPC;
        return -1;
    }
    return (ssize_t)syscall(SYS_write, fd, p, n);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    if (fd >= 0 && fd == fail_falloc_fd && fail_falloc_skip-- <= 0) {
        errno = fail_falloc_errno;
        return -1;
    }
    return (int)syscall(SYS_fallocate, fd, mode, off, len);
}

void quiet(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

void keep_last(void *ctx, const char *msg)
{
    snprintf(ctx, 256, "%s", msg);
}

const char *const CITY_RULES =
    "city town\n"
    "region 11\n"
    "score base 100 min 0 max 200\n"
    "grade A from 0\n"
    "behaviour good points +3 category c\n"
    "behaviour bad points -40 expires 10 days category c\n"
    "agency office reports category c\n"
    "blacklist below 50\n"
    "sanction ban on blacklist deny flight\n";

xy_db *fresh_db_with(char *dir, size_t size, const char *town_text, const char *other)
{
    snprintf(dir, size, "/tmp/xy-unit-store-%d", (int)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s-rules && mkdir -p %s-rules", dir, dir, dir);
    if (system(cmd)) return NULL;
    char path[1024];
    const char *names[2] = {"town", "other"}, *texts[2] = {town_text, other};
    for (int i = 0; i < 2 && texts[i]; i++) {
        snprintf(path, sizeof path, "%s-rules/%s.rules", dir, names[i]);
        FILE *f = fopen(path, "w");
        if (!f) return NULL;
        fputs(texts[i], f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s-rules", dir);
    xy_db *db = NULL;
    if (xy_db_create(dir, path, quiet, NULL) || xy_db_open(dir, XY_WRITE, quiet, NULL, &db)) return NULL;
    return db;
}

xy_db *fresh_db(char *dir, size_t size)
{
    return fresh_db_with(dir, size, CITY_RULES, NULL);
}

int load_citizens(xy_db *db, const char *dir, const char *rows)
{
    char path[300];
    snprintf(path, sizeof path, "%s-citizens.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return XY_EIO;
    fprintf(f, "id,name\n%s", rows);
    fclose(f);
    xy_load_result res;
    return xy_db_load_csv(db, XY_LOAD_CITIZENS, path, NULL, quiet, NULL, &res);
}

const char ANN_AND_BO[] = "11010519491231002X,Ann\n110101200001010010,Bo\n";

xy_db *town_with(char *dir, size_t size, const char *rows)
{
    xy_db *db = fresh_db(dir, size);
    if (db && load_citizens(db, dir, rows) != XY_OK) {
        xy_db_close(db);
        db = NULL;
    }
    return db;
}

town town_of(xy_db *db)
{
    const xy_rules *r = xy_db_rules(db);
    town t = {xy_db_engine(db), xy_rules_behaviour_id(r, "good", 4), xy_rules_behaviour_id(r, "bad", 3),
              xy_rules_agency_id(r, "office", 6), 0};
    xy_day_parse("2024-01-01", 10, &t.day);
    return t;
}

int remove_town(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s-rules %s-citizens.csv %s-events.csv", dir, dir, dir, dir);
    return system(cmd);
}

int verify_status(const char *dir)
{
    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull) return XY_EIO;
    int rc = xy_db_verify(dir, quiet, NULL, devnull);
    fclose(devnull);
    return rc;
}

xy_db *town_in_parts(char *dir, size_t size, char **had)
{
    *had = unit_env_set("XINYONG_SPILL_BYTES", "1000");
    return town_with(dir, size, ANN_AND_BO);
}


void town_rows(xy_buf *rows, int from, int n)
{
    xy_day birth;
    xy_day_parse("1970-01-01", 10, &birth);
    for (int i = from; i < from + n; i++) {
        xy_resid id = (uint64_t)110101 << 28 | (uint64_t)(birth + i / 1000 + 65536) << 10 | (uint64_t)(i % 1000);
        char sid[19];
        xy_resid_format(id, sid);
        xy__buf_printf(rows, "%s,P%d\n", sid, i);
    }
    xy__buf_append(rows, "", 1);
}

batch batch_new(int count)
{
    batch b = {malloc((size_t)count * sizeof *b.ev), malloc((size_t)count * sizeof *b.idt),
               malloc((size_t)count * sizeof *b.ids), count};
    return b;
}

void batch_free(batch *b)
{
    free(b->ev);
    free(b->idt);
    free(b->ids);
}

void random_batch(const town *t, uint32_t n, xy_day day, char prefix, int k, uint64_t *rng, batch *b)
{
    for (int i = 0; i < b->count; i++) {
        *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t c = (uint32_t)(*rng >> 33) % n;
        b->ev[i] = (xy_event){0, c, *rng >> 62 ? t->good : t->bad, t->office, XY_NONE, day, -1};
        snprintf(b->idt[i], sizeof b->idt[i], "%c%d-%d", prefix, k, i);
        b->ids[i] = b->idt[i];
    }
}

xy_db *town_of_size(char *dir, size_t size, uint32_t ncit)
{
    xy_buf rows = {0};
    town_rows(&rows, 0, ncit);
    xy_db *db = town_with(dir, size, rows.data);
    xy__buf_free(&rows);
    return db;
}

int reports_refuse(xy_db *db, const char *id, int rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) return 0;
    int ok = xy_report_show(db, id, 0, XY_OUT_JSON, out) == rc &&
             xy_report_explain(db, id, XY_OUT_JSON, 0, out) == rc &&
             xy_report_check(db, id, "flight", XY_OUT_JSON, out) == rc &&
             xy_report_list(db, XY_BLACKLIST, NULL, 0, XY_OUT_JSON, out) == rc &&
             xy_report_stats(db, XY_OUT_JSON, out) == rc;
    fclose(out);
    ok = ok && (rc == XY_OK) == (len > 0);
    free(text);
    return ok;
}
