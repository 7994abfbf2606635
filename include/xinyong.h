/* xinyong.h -- the public interface of the xinyong library.
 *
 * xinyong is a reference implementation of a points-based social credit
 * system, built to study, teach and audit such systems on synthetic
 * populations. It must not be used to score real people.
 *
 * Everything the command line, the simulator and the service do goes through
 * this header. Conventions, as in the rest of the library:
 *  - every fallible function returns an int status: XY_OK (0) or a negative
 *    XY_E* code from XY_STATUS_MAP; results come back through out-parameters;
 *  - each function says who owns what it hands out and for how long;
 *  - user-facing problems (a bad rules line, a bad CSV row) are reported
 *    through an xy_diag callback as "FILE:LINE[:COLUMN]: message". */
#ifndef XINYONG_H
#define XINYONG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */

/* One list of status codes: it generates the enum, xy_strerror() and
 * xy_errname(). The codes are negative and kept apart from errno values. */
#define XY_STATUS_MAP(X)                                                    \
    X(EINVAL, -1, "invalid argument")                                       \
    X(ENOMEM, -2, "out of memory")                                          \
    X(EIO, -3, "input/output error")                                        \
    X(ECORRUPT, -4, "stored data is corrupt")                               \
    X(EINPUT, -5, "invalid input")                                          \
    X(EUNKNOWN, -6, "unknown citizen or name")                              \
    X(ECLOCK, -7, "date is before today")                                   \
    X(ENOENT, -8, "no such file or directory")                              \
    X(ELOCKED, -9, "the data directory is locked by another writer")        \
    X(EEXIST, -10, "already exists")                                        \
    X(ENOSPC, -11, "no space left on device")

enum {
    XY_OK = 0,
#define XY__ENUM(name, value, text) XY_##name = value,
    XY_STATUS_MAP(XY__ENUM)
#undef XY__ENUM
};

/* Returns a static English message / the symbolic name ("XY_EINPUT") of a
 * status. Unknown codes get "unknown error" / "XY_UNKNOWN". */
const char *xy_strerror(int status);
const char *xy_errname(int status);

/* A sink for user-facing messages. msg is valid only during the call. */
typedef void xy_diag_fn(void *ctx, const char *msg);

/* ----------------------------------------------------------------- dates */

/* A date is a day number: days since 1970-01-01, proleptic Gregorian. */
typedef int32_t xy_day;
#define XY_DAY_NONE INT32_MIN

/* Parses exactly "YYYY-MM-DD" (years 1000-9999) from s[0..n). Returns
 * XY_EINPUT for anything else, including dates that do not exist. */
int xy_day_parse(const char *s, size_t n, xy_day *out);
/* Whether day is one xy_day_parse can give (years 1000-9999): the dates
 * the engine and the store accept, far enough from the ends of the type
 * that adding any rule's day count cannot overflow. */
int xy_day_valid(xy_day day);
/* Writes "YYYY-MM-DD" and a NUL into out. A day past 9999-12-31 (one a
 * rule's day count reaches from a date xy_day_valid accepts: a term that
 * starts in 9999, say) is written with the year's every digit and a '+',
 * as ISO 8601's expanded form has it ("+10000-12-29"), never wrapped. */
enum { XY_DAY_CHARS = 16 };
void xy_day_format(xy_day day, char out[XY_DAY_CHARS]);
/* The calendar year of a day. */
int xy_day_year(xy_day day);
/* Whole years of age on day `on` of someone born on `birth`. */
int xy_age_on(xy_day birth, xy_day on);

/* ----------------------------------------------------- resident identity */

/* A resident identity number (GB 11643-1999) packed into 64 bits:
 * region (20 bits) | birth day + 65536 (18 bits) | sequence (10 bits).
 * The check character is implied. Packed keys order like their IDs do
 * within a region. */
typedef uint64_t xy_resid;

/* Validates an 18-character ID in s[0..n): digits, a real birth date between
 * 1800 and 2199, and the ISO 7064 MOD 11-2 check character ('X' or 'x' for
 * ten). On success stores the packed key. Returns XY_EINPUT otherwise and,
 * when why is not NULL, a static reason. */
int xy_resid_parse(const char *s, size_t n, xy_resid *out, const char **why);
/* Writes the 18-character ID and a NUL into out (19 bytes). */
void xy_resid_format(xy_resid id, char out[19]);
/* Writes the public masked form: first 6 and last 4 characters with 8 '*'
 * between, and a NUL (19 bytes). */
void xy_resid_mask(xy_resid id, char out[19]);
xy_day xy_resid_birth(xy_resid id);
uint32_t xy_resid_region(xy_resid id); /* the 6-digit division code */
int xy_resid_is_male(xy_resid id);     /* odd sequence number */

/* ----------------------------------------------------------------- rules */

/* A compiled ruleset: every city of a rules directory with its behaviours,
 * agencies, grades, lists and consequences in dense tables. Immutable after
 * loading, so it can be shared by readers on several threads. */
typedef struct xy_rules xy_rules;

/* Loads and compiles every "*.rules" file of dir, hidden names (a leading
 * dot) left out as a shell's glob leaves them (files with a `city` line
 * are cities; others are shared files that cities include). Every mistake is
 * sent to diag as "FILE:LINE:COLUMN: message"; if there is any, returns
 * XY_EINPUT and *out is NULL; a dir that does not exist XY_ENOENT, one that
 * cannot be read XY_EIO (diag says why). On success the caller owns *out
 * and frees it with xy_rules_free(). */
int xy_rules_load_dir(const char *dir, xy_diag_fn *diag, void *ctx,
                      xy_rules **out);
/* The same for an explicit list of files (the `rules check` command): city
 * files are compiled with their includes, shared files are checked alone. */
int xy_rules_load_files(const char *const *paths, int npaths,
                        xy_diag_fn *diag, void *ctx, xy_rules **out);
void xy_rules_free(xy_rules *rules); /* NULL is fine */

/* Number of cities, and a city's id by index ("rongcheng"; NULL for an
 * index out of range). The returned strings live as long as the ruleset. */
int xy_rules_city_count(const xy_rules *rules);
const char *xy_rules_city_id(const xy_rules *rules, int city);
/* Index of a city by id, or -1. */
int xy_rules_city_find(const xy_rules *rules, const char *id);
/* Number of different files the ruleset was loaded from by name: the
 * files of the directory, or those given to xy_rules_load_files, a file
 * named twice (under two paths) counted once, the files they include not
 * counted. */
int xy_rules_file_count(const xy_rules *rules);
/* Number of behaviours the city defines (after includes and overrides). */
int xy_rules_behaviour_count(const xy_rules *rules, int city);

/* Resolved name ids, for the in-process API (simulator, benchmarks). A name
 * id is the same in every city; -1 means the name is unknown everywhere. */
int32_t xy_rules_behaviour_id(const xy_rules *rules, const char *name,
                              size_t n);
int32_t xy_rules_agency_id(const xy_rules *rules, const char *name, size_t n);
/* Whether `city` defines behaviour `behaviour` and lets `agency` report it:
 * 0 yes, XY_EUNKNOWN if the city has no such behaviour, XY_EINPUT if the
 * agency may not report it. Constant time whatever the number of rules;
 * city must be an index below xy_rules_city_count (it is not checked: the
 * call runs for every event a load stages). */
int xy_rules_may_report(const xy_rules *rules, int city, int32_t agency,
                        int32_t behaviour);

/* ---------------------------------------------------------------- engine */

/* The in-memory state: citizens, contacts, the clock, scores and lists. */
typedef struct xy_engine xy_engine;

#define XY_NONE UINT32_MAX /* no citizen (no parent, no counterpart) */

/* One resolved report, as the engine applies it. */
typedef struct xy_event {
    uint64_t seq;         /* ordinal of the event in the store, for explanations */
    uint32_t citizen;     /* dense citizen index */
    int32_t behaviour;    /* behaviour name id */
    int32_t agency;       /* agency name id */
    uint32_t counterpart; /* citizen index or XY_NONE */
    xy_day date;          /* the day the act occurred */
    int64_t amount;       /* micro-units (amount x 10^6) of the report's own
                             unit (yuan, days, ...: see the behaviour's
                             `per`), 0 to 10^18; -1 when absent */
} xy_event;

/* Creates an empty engine over rules, which must outlive it (XY_EINVAL for
 * NULL rules, *out then untouched). The caller frees it with
 * xy_engine_free(), which takes NULL too. */
int xy_engine_new(const xy_rules *rules, xy_engine **out);
void xy_engine_free(xy_engine *engine);

/* Registers a citizen of city `city` and returns its dense index in *index
 * (index may be NULL). father/mother are dense indexes or XY_NONE. name is
 * copied. Returns XY_EEXIST if the ID is already registered, XY_EINVAL for
 * a city or parent index out of range, XY_ENOMEM when the engine holds the
 * most citizens an index can count (2^32 - 2); nothing changes then. */
int xy_engine_add_citizen(xy_engine *engine, xy_resid id, int city,
                          uint32_t father, uint32_t mother, const char *name,
                          size_t name_len, uint32_t *index);
/* Adds the undirected contact a-b. XY_EEXIST if it is there already (left as
 * it is), XY_EINVAL for a == b or an index out of range. */
int xy_engine_add_contact(xy_engine *engine, uint32_t a, uint32_t b);
/* Applies n events in order; each may advance the clock (spec 2.1). The
 * events must be valid: a registered citizen, a date xy_day_valid accepts
 * and an agency the city lets report the behaviour (see
 * xy_rules_may_report). An event for a citizen the engine does not have,
 * one that would move the clock to a day xy_day_valid refuses, or one for
 * a behaviour its citizen's city does not define ends the program with a
 * message; the rest is the caller's to check. Returns XY_OK. */
int xy_engine_apply(xy_engine *engine, const xy_event *events, size_t n);
/* Advances the clock to day, running day-start processing for every day in
 * between. The first call on an engine sets the clock with no day-start
 * processing. XY_ECLOCK if day is before today, XY_EINVAL for a day
 * xy_day_valid refuses; the clock stays then. */
int xy_engine_advance(xy_engine *engine, xy_day day);

/* The clock: XY_DAY_NONE until the first dated input sets it. */
xy_day xy_engine_today(const xy_engine *engine);
uint32_t xy_engine_citizen_count(const xy_engine *engine);
/* Dense index of a citizen, or XY_NONE. */
uint32_t xy_engine_find(const xy_engine *engine, xy_resid id);
/* A citizen's raw score, score (clamped) and list memberships today; the
 * index must be below xy_engine_citizen_count (not checked). */
int64_t xy_engine_raw(const xy_engine *engine, uint32_t citizen);
int64_t xy_engine_score(const xy_engine *engine, uint32_t citizen);
int xy_engine_on_blacklist(const xy_engine *engine, uint32_t citizen);
int xy_engine_on_whitelist(const xy_engine *engine, uint32_t citizen);
/* Bytes of engine state per citizen (the hot arrays), for benchmarks. */
size_t xy_engine_state_bytes(void);

/* --------------------------------------------------------- data directory */

/* A data directory: the ruleset it is bound to and the log of every
 * accepted input, from which the state is rebuilt. */
typedef struct xy_db xy_db;

enum { XY_READ = 0, XY_WRITE = 1 };
/* Added to XY_WRITE for a handle that serves one write and is then
 * closed (a command line's): a snapshot that falls due is written by
 * xy_db_close, on the calling thread, rather than by a background child
 * that the close would wait for anyway. That child needs the state's hot
 * arrays copied aside before the fork so that the writer can go on
 * changing them, work wasted on a handle that changes nothing more. */
enum { XY_ONCE = 2 };

/* Creates a data directory at path bound to the rules in rules_dir (the
 * files are copied in, so later edits of rules_dir change nothing). Returns
 * XY_EEXIST if path is a data directory already, XY_EINPUT for rules that
 * do not compile or are not self-contained, XY_EIO for a directory or file
 * that cannot be made; diag says why. A refused create leaves nothing of
 * its own behind. */
int xy_db_create(const char *path, const char *rules_dir, xy_diag_fn *diag,
                 void *ctx);
/* Opens a data directory and rebuilds its state. With XY_WRITE the caller
 * holds the directory's writer lock until xy_db_close(). A write whose
 * write(2) or fdatasync fails returns XY_EIO or XY_ENOSPC and leaves the
 * batch out of the directory. A load or an advance is applied while the
 * sync runs, so the handle's state in memory may hold it by then: every
 * later write, snapshot and report on that handle returns the same status
 * (close it and open the directory again to go on from the acknowledged
 * state); the engine's queries on it still answer, from that state.
 * xy_db_append_events applies a batch only once it is durable, so a
 * failed one leaves the handle working. A large events load applies its
 * batch in parts as it goes; if it then fails for any other reason (a bad
 * row, a full disk while writing a part), the handle's next use rebuilds
 * its state from the directory first, as opening it would, so that
 * nothing of the load is ever seen (the engine keeps its address). Should
 * the directory no longer open then (it was removed, a disk failed), the
 * state is left empty and every later write, snapshot and report returns
 * the error: close the handle and open the directory again to learn why.
 *
 * A handle is used by one thread at a time.
 *
 * Returns XY_ENOENT for a path that is not a data directory, XY_ELOCKED
 * when another process writes to it (XY_WRITE), XY_ECORRUPT for a log or
 * snapshot that is damaged, XY_EIO for one that cannot be read, XY_EINVAL
 * for a mode other than XY_READ, XY_WRITE and XY_WRITE | XY_ONCE; diag
 * names the file (and offset). *out is then NULL. On success the caller
 * owns *out and closes it with xy_db_close(), a reader's handle too. A
 * reader's handle holds the state as it was when opened: open the
 * directory again to see later writes.
 *
 * What the library does in the process beside the calls: a writer's
 * handle runs threads (the log's sync, the engine one batch behind) and
 * writes background snapshots from a forked child that it reaps itself
 * (stdio is flushed before each fork; xy_db_finish_snapshots tells how
 * the latest went); reading mapped files, the library
 * catches SIGBUS (a file cut short under a mapping) for the whole process;
 * XINYONG_SNAPSHOT_EVERY, XINYONG_SPILL_BYTES and XINYONG_SEGMENT_BYTES in
 * the environment tune snapshots, load parts and segments
 * (docs/storage.md). */
int xy_db_open(const char *path, int mode, xy_diag_fn *diag, void *ctx,
               xy_db **out);
void xy_db_close(xy_db *db); /* NULL is fine */
/* The handle's state, owned by the handle. The xy_engine_* queries on it
 * wait for a batch xy_db_append_events may still be applying, and so does
 * this call; the engine must not be changed through it (its changes
 * would not be in the log). */
xy_engine *xy_db_engine(xy_db *db);
/* The handle's rules, owned by it: valid until xy_db_close(). */
const xy_rules *xy_db_rules(const xy_db *db);

enum { XY_LOAD_CITIZENS, XY_LOAD_CONTACTS, XY_LOAD_EVENTS };

typedef struct xy_load_result {
    uint64_t rows;       /* data rows read */
    uint64_t applied;    /* rows applied */
    uint64_t duplicates; /* rows skipped as already applied */
    uint64_t rejected;   /* bad rows (written to the rejects file) */
} xy_load_result;

/* Loads a CSV file of the given kind (spec 2.10; the columns of each kind
 * are in docs/semantics.md section 10). Without rejects_path the
 * file is applied atomically: any bad row is reported and nothing is applied
 * (XY_EINPUT, also for a file that cannot be read). With rejects_path, good
 * rows are applied and every bad row is written unchanged to that file with
 * its reason; if that file lies in the data directory, is the input itself,
 * or cannot be written (and made durable), nothing is applied and the
 * result is XY_EINVAL. XY_EINVAL too on a reader's handle and for an
 * unknown kind. Rows seen before with the same content count as duplicates
 * (XY_OK). result (counts, zeroed first) may be NULL. Accepted rows are
 * durable before this returns XY_OK. */
int xy_db_load_csv(xy_db *db, int kind, const char *path,
                   const char *rejects_path, xy_diag_fn *diag, void *ctx,
                   xy_load_result *result);
/* Advances the clock durably. XY_EINVAL for a day xy_day_valid refuses or
 * on a reader's handle, XY_ECLOCK for one before today; today itself
 * changes nothing and writes nothing. */
int xy_db_advance(xy_db *db, xy_day day);

/* The in-process path for the simulator and the service: appends n events
 * with the same guarantees as a CSV load and no CSV in between. ids[i] is
 * the id of events[i] (1-64 characters of [A-Za-z0-9._:-]); an id stored
 * before with the same content is skipped and counted in *duplicates (may
 * be NULL). The batch is atomic: an invalid event (unknown citizen,
 * behaviour the citizen's city does not define, agency not allowed, bad
 * id or amount, an id reused with other content) makes it XY_EINPUT with
 * nothing applied, and diag says which event and why. The events' seq
 * fields are ignored (the store numbers them). Durable before XY_OK: the
 * call returns once the batch is in the log and synced, and leaves
 * applying it to a second thread, which the caller's next batch overlaps.
 * Every other use of the handle (xy_db_engine and the engine's queries,
 * loads, reports, snapshots, close) waits for it first, so nothing sees
 * a durable batch unapplied. events and ids are not used after the call.
 * XY_EINVAL on a reader's handle. */
int xy_db_append_events(xy_db *db, const xy_event *events, const char *const *ids, size_t n,
                        xy_diag_fn *diag, void *ctx, uint64_t *duplicates);
/* Writes a snapshot of the state now (also done by itself as the log
 * grows), so that opening starts from it instead of replaying the log.
 * XY_EINVAL on a reader's handle; XY_EIO or XY_ENOSPC when it cannot be
 * written (diag names the file; the directory keeps the snapshot before). */
int xy_db_snapshot(xy_db *db, xy_diag_fn *diag, void *ctx);
/* Finishes the snapshots a writer's handle writes by itself: writes the
 * one that fell due on a handle of XY_ONCE, waits for one being written
 * in the background, and passes on through diag, as warnings, what the
 * latest of them said: why it failed (the file and the reason), or a
 * warning it gave. A snapshot's failure loses nothing: every write it
 * followed is durable in the log, start-up replays more of the log until
 * a snapshot is in place, and the handle goes on working (a background
 * snapshot is tried again after the next write). Returns XY_OK, or the
 * failed snapshot's status (XY_EIO, XY_ENOSPC); XY_OK on a reader's
 * handle. xy_db_close does the same and tells nobody. */
int xy_db_finish_snapshots(xy_db *db, xy_diag_fn *diag, void *ctx);
/* Checks every record of the log and every section of the snapshot of the
 * data directory at path without opening it; prints a summary to out (not
 * NULL) and each problem (file and offset) to diag. XY_ECORRUPT if any,
 * XY_ENOENT for a path that is not a data directory, XY_EIO for a file
 * that cannot be read or a summary out did not take. */
int xy_db_verify(const char *path, xy_diag_fn *diag, void *ctx, FILE *out);

/* ---------------------------------------------------------------- reports */

enum { XY_BLACKLIST = 0, XY_WHITELIST = 1 };
enum { XY_OUT_TEXT = 0, XY_OUT_JSON = 1 };

/* Each report writes to out, in text or JSON (spec section 4; format
 * XY_OUT_TEXT or XY_OUT_JSON, else XY_EINVAL). An id that is not a valid
 * resident ID names no citizen (the check character may be written 'x').
 * They return XY_EUNKNOWN for an unknown citizen, city or action, XY_EIO when out did
 * not take the whole report (it is flushed before the return), and on a
 * writer's handle that refuses writes (see xy_db_open) that status, writing
 * nothing: its state is not the acknowledged one. With public_only,
 * show prints only what the citizen's city publishes (spec 2.8): the
 * masked ID and name, the score and grade with `publish scores`, the
 * blacklist entry with `publish blacklist`. */
int xy_report_show(xy_db *db, const char *id, int public_only, int format, FILE *out);
/* explain rebuilds the citizen's history from the per-citizen history
 * index, or with from_log from the whole log (slower; the same result, a
 * cross-check for auditors and tests). XY_ECORRUPT when even the whole log
 * does not account for the citizen's score: the state was restored from a
 * snapshot that does not match it, or the log has a damaged record in the
 * part the snapshot covers (which opening the directory did not read). */
int xy_report_explain(xy_db *db, const char *id, int format, int from_log, FILE *out);
/* How many lookups on this handle the per-citizen history index did not
 * serve, so that the whole log answered instead: an explanation (without
 * from_log) the index did not account for, or the id of an event a list
 * entry names that its citizen's chain did not hold. A damaged or missing
 * trail, or an error of the program: the answer is the same either way,
 * only slower. */
uint64_t xy_db_history_fallbacks(const xy_db *db);
int xy_report_check(xy_db *db, const char *id, const char *action, int format,
                    FILE *out);
/* list is XY_BLACKLIST or XY_WHITELIST (else XY_EINVAL); city NULL for
 * every city. */
int xy_report_list(xy_db *db, int list, const char *city, int public_only,
                   int format, FILE *out);
int xy_report_stats(xy_db *db, int format, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* XINYONG_H */
