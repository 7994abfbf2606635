/* Unit tests of the snapshot reader's checks: a snapshot whose sections
 * were changed and given valid checksums again (as only a forger or a bug
 * could) is refused at start-up with the section named, a score changed
 * within bounds is caught by `explain`, and the same snapshot resealed
 * unchanged opens. Damage to the framing (a section twice, padding that is
 * not zeros or in a format without it, an unknown tag, a hash table whose
 * capacity is no power of two or with no free slot, a schedule's bucket
 * past the ring, lengths that do not fit the scalars, no scalars) is named
 * with its offset, and a snapshot that cannot be renamed into place is
 * told. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../snapshot_file.h"
#include "engine.h"
#include "snapshot.h"
#include "unit.h"

static const char *RULES =
    "city town\n"
    "region 11\n"
    "score base 100 min 0 max 200\n"
    "grade A from 100\n"
    "grade B from 0\n"
    "behaviour good points +3 limit 5 per year category c\n"
    "behaviour bad points -60 expires 30 days category c\n"
    "behaviour great points +30 category c\n"
    "behaviour judged points -1 lists blacklist for 100 days category c\n"
    "agency office reports category c\n"
    "blacklist below 50\n"
    "blacklist exit 60 after 10 days\n"
    "sanction watched on grade B for 30 days deny loan\n";

static char last_msg[512];

static void keep(void *ctx, const char *msg)
{
    (void)ctx;
    snprintf(last_msg, sizeof last_msg, "%s", msg);
}

static void put_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

typedef struct town {
    char dir[128]; /* the data directory, /tmp/xy-unit-NAME-PID */
    char *orig;    /* the bytes of its snapshot */
    size_t len;    /* their count */
} town;

/* Makes t->dir (its rules in DIR-rules, its citizens file
 * DIR-citizens.csv) with three citizens, a contact, Bo blacklisted with an
 * expiry and a list exit pending, Cy on the blacklist for a term, grade B's
 * sanction of 30 days running, and a snapshot of it, whose bytes it keeps
 * in t->orig (unmake_town frees them). On a failed step it returns with
 * unit_failed_now set. */
static void make_town(town *t, const char *name)
{
    char cmd[512], path[256];
    const char *dir = t->dir;
    snprintf(t->dir, sizeof t->dir, "/tmp/xy-unit-%s-%d", name, (int)getpid());
    t->orig = NULL;
    snprintf(cmd, sizeof cmd, "rm -rf %s %s-rules && mkdir -p %s-rules", dir, dir, dir);
    ASSERT_EQ(system(cmd), 0);
    snprintf(path, sizeof path, "%s-rules/town.rules", dir);
    put_file(path, RULES, strlen(RULES));
    snprintf(path, sizeof path, "%s-rules", dir);
    ASSERT_EQ(xy_db_create(dir, path, keep, NULL), XY_OK);
    xy_db *db;
    ASSERT_EQ(xy_db_open(dir, XY_WRITE, keep, NULL, &db), XY_OK);
    snprintf(path, sizeof path, "%s-citizens.csv", dir);
    const char *cit = "id,name,city,father,mother\n"
                      "110101195001010017,Ann,town,,\n"
                      "110101198001010010,Bo,town,110101195001010017,\n"
                      "11010519491231002X,Cy,town,,\n";
    put_file(path, cit, strlen(cit));
    xy_load_result res;
    int lrc = xy_db_load_csv(db, XY_LOAD_CITIZENS, path, NULL, keep, NULL, &res);
    if (lrc) printf("  %s\n", last_msg);
    ASSERT_EQ(lrc, XY_OK);
    /* Bo is blacklisted with an expiry pending; Ann's score rises; Cy is
     * put on the blacklist for a term. */
    xy_event ev[4] = {{0, 1, 0, 0, XY_NONE, 0, -1}, {0, 0, 0, 0, XY_NONE, 0, -1}, {0, 1, 0, 0, XY_NONE, 0, -1},
                      {0, 2, 0, 0, XY_NONE, 0, -1}};
    const xy_rules *r = xy_db_rules(db);
    ev[0].behaviour = xy_rules_behaviour_id(r, "bad", 3);
    ev[1].behaviour = xy_rules_behaviour_id(r, "good", 4);
    ev[2].behaviour = xy_rules_behaviour_id(r, "great", 5);
    ev[3].behaviour = xy_rules_behaviour_id(r, "judged", 6);
    ASSERT_EQ(xy_day_parse("2024-03-01", 10, &ev[0].date), XY_OK);
    for (int k = 0; k < 4; k++) {
        ev[k].agency = xy_rules_agency_id(r, "office", 6);
        ev[k].date = ev[0].date;
    }
    /* Bo rises back above the exit threshold: his exit is 10 days away. */
    const char *ids[4] = {"e1", "e2", "e3", "e4"};
    ASSERT_EQ(xy_db_append_events(db, ev, ids, 4, keep, NULL, NULL), XY_OK);
    snprintf(path, sizeof path, "%s-contacts.csv", dir);
    const char *contacts = "a,b\n110101195001010017,110101198001010010\n";
    put_file(path, contacts, strlen(contacts));
    ASSERT_EQ(xy_db_load_csv(db, XY_LOAD_CONTACTS, path, NULL, keep, NULL, &res), XY_OK);
    ASSERT_EQ(xy_db_snapshot(db, keep, NULL), XY_OK);
    xy_db_close(db);
    snprintf(path, sizeof path, "%s/snapshot", dir);
    ASSERT_EQ(xy__read_file(path, &t->orig, &t->len), XY_OK);
}

/* Patches at IN_SLOT + x change byte x of the first occupied slot of a
 * hash table's section (16 bytes: the key plus one, the value). */
enum { IN_SLOT = 1 << 20 };

/* Where in s the first occupied slot of the map section whose data starts
 * at at lies, or 0 if none is. */
static size_t first_slot(const unsigned char *s, size_t at)
{
    uint64_t head[2], key;
    memcpy(head, s + at, 16);
    for (uint64_t i = 0; head[1] && i <= head[0]; i++) {
        memcpy(&key, s + at + 16 + i * 16, 8);
        if (key) return at + 16 + (size_t)i * 16;
    }
    return 0;
}

/* Removes what make_town made. */
static void unmake_town(town *t)
{
    char cmd[640];
    const char *dir = t->dir;
    xy__free(t->orig);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s-rules %s-citizens.csv %s-contacts.csv", dir, dir, dir, dir);
    ASSERT_EQ(system(cmd), 0);
}

TEST(snapshot_forged_contents_are_refused)
{
    char path[256];
    town t;
    make_town(&t, "snap");
    if (unit_failed_now) return;
    xy_db *db;
    snprintf(path, sizeof path, "%s/snapshot", t.dir);

    /* Byte patches: section, offset in its data, value; the section the
     * message should name ("" when the restore itself refuses). */
    static const struct {
        uint32_t tag;
        size_t at;
        unsigned char value;
        const char *named;
    } forged[] = {
        {S_STATE, 28, 0x7f, "citizen state"},            /* citizen 0's city */
        {S_STATE, 32 + 31, 200, "citizen state"},        /* citizen 1's grade */
        {S_STATE, 32 + 30, 0, "citizen state"},          /* Bo's blacklist flags */
        {S_FATHER, 4 + 3, 0x7f, "parents"},              /* Bo's father */
        {S_MOTHER, 3, 0x7f, "parents"},                  /* Ann's mother, none */
        {S_NAME_OFF, 8 + 2, 0x7f, "name offsets"},
        {S_SCALARS, 3, 0x40, "scalars"},                 /* today */
        {S_BY_ID, 8, 0x7f, "ID index"},                  /* the count it claims */
        {S_EXPIRIES, 8 + 2, 0x7f, "expiries"},           /* the expiry's citizen */
        {S_EXPIRIES, 3, 0x7f, "expiries"},               /* the bucket's ring slot */
        {S_EXPIRIES, 4 + 2, 0x01, "expiries"},           /* the bucket's item count */
        {S_LIMITS, 8 + 16, 0x7f, ""},                    /* a table's count */
        {S_NAMES, 9, 'x', "names"},                      /* Cy's end: "Ann\0Bo\0Cy\0" */
        {S_EDGES, 3, 0x7f, "contacts"},                  /* the contact's first citizen */
        {S_EXITS, 8 + 2, 0x7f, "list exits"},            /* the exit's citizen */
        /* Each bound at its first bad value: a citizen one past the last
         * (3), the names' length (10), the number of grades (2), of
         * behaviours (4) or of cities (1), a day just past 2^24, a flag
         * above the known ones, a contact whose first citizen is not below
         * its second, a birth day not the ID's, one citizen too many
         * flagged as listed. A checksum that still matches lets only these checks
         * tell. */
        {S_FATHER, 4, 3, "parents"},                     /* Bo's father */
        {S_NAME_OFF, 0, 10, "name offsets"},             /* Ann's, the names' length */
        {S_EXPIRIES, 8, 3, "expiries"},                  /* the expiry's citizen */
        {S_EXPIRIES, 8 + 4, 4, "expiries"},              /* its behaviour */
        {S_EXPIRIES, 8 + 7, 0x80, "expiries"},           /* its behaviour, negative */
        {S_EXITS, 8, 3, "list exits"},                   /* the exit's citizen */
        {S_EDGES, 0, 3, "contacts"},                     /* the contact's second citizen */
        {S_EDGES, 4, 1, "contacts"},                     /* its first, now not below the second */
        {S_STATE, 30, 32, "citizen state"},              /* Ann's flags, an unknown one */
        {S_STATE, 31, 2, "citizen state"},               /* Ann's grade */
        {S_STATE, 20, 0x78, "citizen state"},            /* Ann's birth day, a day late */
        {S_STATE, 30, 16, "citizen state"},              /* Ann listed, and not in the list */
        {S_BL_LIST, 0, 0, "blacklist members"},          /* Ann in the list, and not listed */
        {S_BL_LIST, 0, 3, "blacklist members"},          /* one past the last citizen */
        {S_SCALARS, 3, 0x01, "scalars"},                 /* today */
        {S_BY_ID, IN_SLOT + 8, 3, "ID index"},           /* a citizen's index */
        {S_BY_ID, IN_SLOT + 12, 1, "ID index"},          /* its city */
        {S_RISE_DAY, IN_SLOT, 4, "exit days"},           /* whose exit */
        {S_TERM_REASON, IN_SLOT, 4, "term reasons"},     /* whose term */
        {S_TERM_REASON, IN_SLOT + 13, 4, "term reasons"}, /* its behaviour */
        {S_GRADE_ENTRY, IN_SLOT + 4, 3, "grade entries"}, /* whose entry into B */
        {S_GRADE_ENTRY, IN_SLOT, 2, "grade entries"},    /* its consequence, one past the one */
        {S_EDGE_SET, IN_SLOT, 4, "contact set"},         /* a contact's second citizen */
        {S_EDGE_SET, IN_SLOT + 4, 1, "contact set"},     /* its first, now not below it */
    };
    for (size_t k = 0; k < sizeof forged / sizeof forged[0]; k++) {
        unsigned char *s = malloc(t.len);
        memcpy(s, t.orig, t.len);
        size_t at = snap_section_at(s, t.len, forged[k].tag), by = forged[k].at;
        ASSERT(at != 0);
        /* The message names the section's header (16 bytes before its
         * data: no section here is large enough to be padded). */
        char named[200] = "";
        if (forged[k].named[0])
            snprintf(named, sizeof named, "snapshot:%zu: snapshot section of the %s ", at - 16, forged[k].named);
        if (by >= IN_SLOT) {
            at = first_slot(s, at);
            if (!at) printf("  forgery %zu: its map is empty\n", k);
            by -= IN_SLOT;
            ASSERT(at != 0);
        }
        s[at + by] = forged[k].value;
        snap_seal(s, t.len);
        put_file(path, s, t.len);
        free(s);
        last_msg[0] = 0;
        db = NULL;
        int rc = xy_db_open(t.dir, XY_READ, keep, NULL, &db);
        if (rc == XY_OK) {
            xy_db_close(db);
            printf("  forgery %zu was not refused\n", k);
        }
        ASSERT_EQ(rc, XY_ECORRUPT);
        ASSERT(strstr(last_msg, "snapshot") != NULL);
        if (named[0] && !strstr(last_msg, named)) printf("  forgery %zu: %s\n", k, last_msg);
        if (named[0]) ASSERT(strstr(last_msg, named) != NULL);
        else ASSERT(strstr(last_msg, "do not fit together") != NULL);
        /* verify finds it too, without loading the state. */
        FILE *devnull = fopen("/dev/null", "w");
        last_msg[0] = 0;
        rc = xy_db_verify(t.dir, keep, NULL, devnull);
        fclose(devnull);
        ASSERT_EQ(rc, XY_ECORRUPT);
        ASSERT(strstr(last_msg, named[0] ? named : "yearly limit counts") != NULL);
    }
    /* A raw score changed within bounds opens, but explaining it finds
     * that the log does not give it: an error, not an explanation. */
    unsigned char *f = malloc(t.len);
    memcpy(f, t.orig, t.len);
    f[snap_section_at(f, t.len, S_STATE)] ^= 1; /* Ann's raw score */
    snap_seal(f, t.len);
    put_file(path, f, t.len);
    free(f);
    ASSERT_EQ(xy_db_open(t.dir, XY_READ, keep, NULL, &db), XY_OK);
    FILE *devnull = fopen("/dev/null", "w");
    int erc = xy_report_explain(db, "110101195001010017", XY_OUT_TEXT, 0, devnull);
    int brc = xy_report_explain(db, "110101198001010010", XY_OUT_TEXT, 0, devnull);
    fclose(devnull);
    xy_db_close(db);
    ASSERT_EQ(erc, XY_ECORRUPT);
    ASSERT_EQ(brc, XY_OK);
    /* Resealed unchanged, it opens, with Bo on the blacklist. */
    unsigned char *s = malloc(t.len);
    memcpy(s, t.orig, t.len);
    snap_seal(s, t.len);
    ASSERT(memcmp(s, t.orig, t.len) == 0);
    free(s);
    put_file(path, t.orig, t.len);
    ASSERT_EQ(xy_db_open(t.dir, XY_READ, keep, NULL, &db), XY_OK);
    ASSERT_EQ(xy_engine_on_blacklist(xy_db_engine(db), 1), 1);
    xy_db_close(db);
    unmake_town(&t);
}

typedef struct section_head {
    uint32_t tag;  /* wanted */
    size_t hdr;    /* where its header starts, 0 if not found */
    uint64_t len;  /* its data's length */
} section_head;

static void find_head(unsigned char *s, uint32_t tag, size_t hdr, size_t at, uint64_t n, void *ctx)
{
    (void)s;
    (void)at;
    section_head *h = ctx;
    if (tag == h->tag && !h->hdr) {
        h->hdr = hdr;
        h->len = n;
    }
}

/* Writes the snapshot s (len bytes) of dir, opens dir and verifies it:
 * both must fail with rc and name want in their last message. */
static void expect_refused(const char *dir, const unsigned char *s, size_t len, int rc, const char *want)
{
    char path[256];
    snprintf(path, sizeof path, "%s/snapshot", dir);
    put_file(path, s, len);
    xy_db *db = NULL;
    last_msg[0] = 0;
    int orc = xy_db_open(dir, XY_READ, keep, NULL, &db);
    if (orc == XY_OK) xy_db_close(db);
    if (!strstr(last_msg, want)) printf("  start-up said: %s\n", last_msg);
    ASSERT_EQ(orc, rc);
    ASSERT(strstr(last_msg, want) != NULL);
    FILE *devnull = fopen("/dev/null", "w");
    last_msg[0] = 0;
    int vrc = xy_db_verify(dir, keep, NULL, devnull);
    fclose(devnull);
    if (!strstr(last_msg, want)) printf("  verify said: %s\n", last_msg);
    ASSERT_EQ(vrc, XY_ECORRUPT);
    ASSERT(strstr(last_msg, want) != NULL);
}

TEST(snapshot_framing_damage_is_named_with_its_offset)
{
    char want[256];
    town t;
    make_town(&t, "snapf");
    if (unit_failed_now) return;
    unsigned char *s = malloc(t.len);
    /* The second section's header given the first one's tag. */
    memcpy(s, t.orig, t.len);
    uint64_t first_len;
    memcpy(&first_len, s + 32 + 8, 8);
    size_t second = 32 + 16 + (size_t)first_len;
    memcpy(s + second, s + 32, 2);
    snprintf(want, sizeof want, "%s/snapshot:%zu: snapshot section appears twice", t.dir, second);
    expect_refused(t.dir, s, t.len, XY_ECORRUPT, want);
    /* The names' first byte (the 'A' of Ann) taken for a byte of padding:
     * the padding is not under the checksum, so it must be zeros. */
    memcpy(s, t.orig, t.len);
    section_head names = {S_NAMES, 0, 0};
    snap_sections(s, t.len, find_head, &names);
    ASSERT(names.hdr != 0 && names.len > 0);
    uint32_t word;
    memcpy(&word, s + names.hdr, 4);
    word += 1u << 16;
    memcpy(s + names.hdr, &word, 4);
    uint64_t shorter = names.len - 1;
    memcpy(s + names.hdr + 8, &shorter, 8);
    snprintf(want, sizeof want, "%s/snapshot:%zu: snapshot padding is not zero", t.dir, names.hdr + 16);
    expect_refused(t.dir, s, t.len, XY_ECORRUPT, want);
    /* The same in a v09 snapshot, whose sections have no padding: the
     * header itself is bad. */
    s[15] = '9';
    s[14] = '0';
    snprintf(want, sizeof want, "%s/snapshot:%zu: bad snapshot section header", t.dir, names.hdr);
    expect_refused(t.dir, s, t.len, XY_ECORRUPT, want);
    /* The first section's tag one past the last known one. */
    memcpy(s, t.orig, t.len);
    uint16_t past = S_COUNT;
    memcpy(s + 32, &past, 2);
    snprintf(want, sizeof want, "%s/snapshot:32: bad snapshot section header", t.dir);
    expect_refused(t.dir, s, t.len, XY_ECORRUPT, want);
    /* The scalars counting another number of cities than the ruleset has
     * (u64 at byte 72 of their section). */
    memcpy(s, t.orig, t.len);
    s[snap_section_at(s, t.len, S_SCALARS) + 72]++;
    snap_seal(s, t.len);
    snprintf(want, sizeof want, "%s/snapshot: sections do not fit together", t.dir);
    expect_refused(t.dir, s, t.len, XY_ECORRUPT, want);
    /* No scalars at all: the section cut out, the header counting one
     * section fewer (u64 at byte 24). */
    memcpy(s, t.orig, t.len);
    section_head scalars = {S_SCALARS, 0, 0};
    snap_sections(s, t.len, find_head, &scalars);
    ASSERT(scalars.hdr != 0);
    size_t cut = 16 + (size_t)scalars.len;
    memmove(s + scalars.hdr, s + scalars.hdr + cut, t.len - scalars.hdr - cut);
    uint64_t nsec;
    memcpy(&nsec, s + 24, 8);
    nsec--;
    memcpy(s + 24, &nsec, 8);
    expect_refused(t.dir, s, t.len - cut, XY_ECORRUPT, want);
    /* A byte of the history index's section (the last one) flipped: its
     * checksum fails, at start-up too, which checks them beside the
     * restore. */
    memcpy(s, t.orig, t.len);
    section_head trail = {S_TRAIL, 0, 0};
    snap_sections(s, t.len, find_head, &trail);
    ASSERT(trail.hdr != 0 && trail.len > 0);
    s[trail.hdr + 16] ^= 1;
    snprintf(want, sizeof want, "%s/snapshot:%zu: snapshot section checksum mismatch", t.dir, trail.hdr);
    expect_refused(t.dir, s, t.len, XY_ECORRUPT, want);
    /* The scalars counting one event more than the event index's runs
     * hold: start-up refuses it, and so does verify. */
    memcpy(s, t.orig, t.len);
    s[snap_section_at(s, t.len, S_SCALARS) + 64]++;
    snap_seal(s, t.len);
    char snap[256];
    snprintf(snap, sizeof snap, "%s/snapshot", t.dir);
    put_file(snap, s, t.len);
    xy_db *db = NULL;
    last_msg[0] = 0;
    int orc = xy_db_open(t.dir, XY_READ, keep, NULL, &db);
    if (orc == XY_OK) xy_db_close(db);
    ASSERT_EQ(orc, XY_ECORRUPT);
    ASSERT(strstr(last_msg, "sections do not fit together") != NULL);
    last_msg[0] = 0;
    FILE *devnull = fopen("/dev/null", "w");
    ASSERT(devnull != NULL);
    orc = xy_db_verify(t.dir, keep, NULL, devnull);
    fclose(devnull);
    ASSERT_EQ(orc, XY_ECORRUPT);
    ASSERT(strstr(last_msg, "sections do not fit together") != NULL);
    /* The expiries' bucket at ring slot XY_RING, one past the last (a u32
     * wider than the byte patches of the forgeries above). */
    memcpy(s, t.orig, t.len);
    size_t exp = snap_section_at(s, t.len, S_EXPIRIES);
    uint32_t ring = XY_RING;
    memcpy(s + exp, &ring, 4);
    snap_seal(s, t.len);
    section_head expiries = {S_EXPIRIES, 0, 0};
    snap_sections(s, t.len, find_head, &expiries);
    snprintf(want, sizeof want, "%s/snapshot:%zu: snapshot section of the expiries does not make a valid state",
             t.dir, expiries.hdr);
    expect_refused(t.dir, s, t.len, XY_ECORRUPT, want);
    /* The ID index with every slot taken (copies of an entry), its count
     * to match: a lookup of an absent ID would never end. */
    memcpy(s, t.orig, t.len);
    section_head full = {S_BY_ID, 0, 0};
    snap_sections(s, t.len, find_head, &full);
    size_t taken = first_slot(s, full.hdr + 16);
    ASSERT(taken != 0);
    uint64_t nslots = (full.len - 16) / 16;
    for (uint64_t i = 0; i < nslots; i++) memmove(s + full.hdr + 32 + i * 16, s + taken, 16);
    memcpy(s + full.hdr + 24, &nslots, 8);
    snap_seal(s, t.len);
    snprintf(want, sizeof want, "%s/snapshot:%zu: snapshot section of the ID index does not make a valid state",
             t.dir, full.hdr);
    expect_refused(t.dir, s, t.len, XY_ECORRUPT, want);
    /* The ID index one slot shorter, its mask one less to match: a
     * capacity that is no power of two, whose lookups would miss keys. */
    memcpy(s, t.orig, t.len);
    section_head by_id = {S_BY_ID, 0, 0};
    snap_sections(s, t.len, find_head, &by_id);
    size_t data = by_id.hdr + 16, end = data + (size_t)by_id.len;
    uint64_t mask;
    memcpy(&mask, s + data, 8);
    uint64_t last_key;
    memcpy(&last_key, s + end - 16, 8);
    if (last_key || mask < 2) printf("  the ID index has mask %llu, key %llu in its last slot\n",
                                     (unsigned long long)mask, (unsigned long long)last_key);
    ASSERT(last_key == 0 && mask >= 2);
    mask--;
    memcpy(s + data, &mask, 8);
    by_id.len -= 16;
    memcpy(s + by_id.hdr + 8, &by_id.len, 8);
    memmove(s + end - 16, s + end, t.len - end);
    snap_seal(s, t.len - 16);
    snprintf(want, sizeof want, "%s/snapshot:%zu: snapshot section of the ID index does not make a valid state",
             t.dir, by_id.hdr);
    expect_refused(t.dir, s, t.len - 16, XY_ECORRUPT, want);
    free(s);
    unmake_town(&t);
}

/* A snapshot that cannot be renamed into place (a directory is there) is
 * not written: the status and message say why, and no temporary file
 * stays behind. */
TEST(snapshot_not_renamed_into_place_is_told)
{
    char path[256], want[512];
    town t;
    make_town(&t, "snapr");
    if (unit_failed_now) return;
    xy_db *db;
    ASSERT_EQ(xy_db_open(t.dir, XY_WRITE, keep, NULL, &db), XY_OK);
    snprintf(path, sizeof path, "%s/snapshot", t.dir);
    ASSERT_EQ(unlink(path), 0);
    ASSERT_EQ(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/snapshot/in-the-way", t.dir);
    ASSERT_EQ(mkdir(path, 0755), 0);
    last_msg[0] = 0;
    int rc = xy_db_snapshot(db, keep, NULL);
    xy_db_close(db);
    ASSERT_EQ(rc, XY_EIO);
    snprintf(want, sizeof want, "%s/snapshot.tmp: cannot rename to %s/snapshot: Is a directory", t.dir, t.dir);
    ASSERT_STR(last_msg, want);
    snprintf(path, sizeof path, "%s/snapshot.tmp", t.dir);
    ASSERT(access(path, F_OK) != 0);
    unmake_town(&t);
}
