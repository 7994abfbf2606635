/* main.c -- the xinyong command line: options, help, and one thin function
 * per subcommand over the library's public header. Exit statuses (spec 5):
 * 0 success, 1 bad usage or input, 2 storage error, 3 unknown name. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xinyong.h"

enum { EXIT_USAGE = 1, EXIT_STORAGE = 2, EXIT_UNKNOWN = 3 };

/* The options a command may take (command.takes); --data and --help go
 * with every command. */
enum {
    OPT_RULES = 1 << 0,    /* --rules DIR */
    OPT_REJECTS = 1 << 1,  /* --rejects OUT */
    OPT_CITY = 1 << 2,     /* --city C */
    OPT_JSON = 1 << 3,     /* --json */
    OPT_PUBLIC = 1 << 4,   /* --public */
    OPT_FROM_LOG = 1 << 5, /* --from-log */
};

typedef struct opts {
    unsigned given;      /* OPT_* on the command line */
    const char *data;    /* --data DIR */
    const char *rules;   /* --rules DIR */
    const char *rejects; /* --rejects OUT */
    const char *city;    /* --city C */
    int help;            /* --help */
    const char *pos[64]; /* positional arguments */
    int npos;            /* their number */
} opts;

typedef struct command {
    const char *name;                 /* subcommand */
    int (*run)(opts *o);              /* implementation */
    unsigned takes;                   /* OPT_* it takes: any other is refused */
    const char *usage;                /* one line */
    const char *help;                 /* the rest */
} command;

/* Prints a library message as one line: a control character in it (a
 * file name may hold a newline or a terminal's escape) is written as a C
 * escape, so that a message cannot pass for two or rewrite the screen.
 * ctx, when not NULL, counts the messages that are not warnings: a
 * failure the library explained needs no second line from the command. */
static void to_stderr(void *ctx, const char *msg)
{
    if (ctx && !strstr(msg, ": warning: ")) ++*(int *)ctx;
    /* stderr is unbuffered: the line is built here and written at once. */
    char line[1024];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (n > sizeof line - 6) {
            fwrite(line, 1, n, stderr);
            n = 0;
        }
        const char *esc = *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : *p == '\t' ? "\\t" : NULL;
        if (*p >= 0x20 && *p != 0x7f) {
            line[n++] = (char)*p;
        } else if (esc) {
            memcpy(line + n, esc, 2);
            n += 2;
        } else {
            n += (size_t)snprintf(line + n, 6, "\\x%02x", *p);
        }
    }
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}

/* Prints a message of the command's own, printf-style, the way to_stderr
 * prints the library's: one line, whatever an argument holds. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    /* Built whole, however long the arguments: the library's messages
     * are, and a cut one could lose the end of a path. Out of memory, the
     * message is cut rather than lost. */
    char small[512];
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    char *msg = len >= (int)sizeof small ? malloc((size_t)len + 1) : NULL;
    if (msg) vsnprintf(msg, (size_t)len + 1, fmt, again);
    va_end(again);
    to_stderr(NULL, msg ? msg : small);
    free(msg);
}

static int exit_for(int status)
{
    switch (status) {
    case XY_OK: return 0;
    case XY_EUNKNOWN: return EXIT_UNKNOWN;
    case XY_EIO:
    case XY_ECORRUPT:
    case XY_ENOENT:
    case XY_ELOCKED:
    case XY_ENOSPC:
    case XY_ENOMEM: return EXIT_STORAGE;
    default: return EXIT_USAGE;
    }
}

/* Whether a flag was given; the JSON output's format when --json was. */
static int has(const opts *o, unsigned bit) { return (o->given & bit) != 0; }
static int format_of(const opts *o) { return has(o, OPT_JSON) ? XY_OUT_JSON : XY_OUT_TEXT; }

static const char *data_dir(const opts *o)
{
    if (o->data) return o->data;
    const char *env = getenv("XINYONG_DATA");
    return env && *env ? env : "./xinyong-data";
}

static int open_db(const opts *o, int mode, xy_db **db)
{
    int said = 0;
    int rc = xy_db_open(data_dir(o), mode, to_stderr, &said, db);
    if (rc && !said) say("xinyong: %s: %s", data_dir(o), xy_strerror(rc));
    return rc;
}

static int need_args(const opts *o, int n, const char *usage)
{
    if (o->npos == n) return 0;
    say("xinyong: usage: %s", usage);
    return XY_EINPUT;
}

/* ------------------------------------------------------------- commands */

static int cmd_init(opts *o)
{
    if (need_args(o, 0, "xinyong init [--rules DIR]")) return XY_EINPUT;
    const char *rules = o->rules ? o->rules : "rules";
    int rc = xy_db_create(data_dir(o), rules, to_stderr, NULL);
    if (rc == XY_OK) printf("initialised %s with the rules of %s\n", data_dir(o), rules);
    return rc == XY_EEXIST ? XY_EINPUT : rc;
}

static int cmd_rules(opts *o)
{
    if (o->npos < 2 || strcmp(o->pos[0], "check") != 0) {
        say("xinyong: usage: xinyong rules check FILE...");
        return XY_EINPUT;
    }
    xy_rules *r;
    int rc = xy_rules_load_files(o->pos + 1, o->npos - 1, to_stderr, NULL, &r);
    if (rc) return XY_EINPUT;
    int n = xy_rules_city_count(r);
    for (int i = 0; i < n; i++)
        printf("%s: %d behaviours\n", xy_rules_city_id(r, i), xy_rules_behaviour_count(r, i));
    int files = xy_rules_file_count(r);
    printf("ok: %d file%s, %d cit%s\n", files, files == 1 ? "" : "s", n, n == 1 ? "y" : "ies");
    xy_rules_free(r);
    return XY_OK;
}

/* Closes a writer's handle, saying why a snapshot that fell due could
 * not be written: the command's write is durable all the same (exit 0),
 * but every start-up replays the log until a snapshot is in place. */
static void close_writer(xy_db *db)
{
    (void)xy_db_finish_snapshots(db, to_stderr, NULL);
    xy_db_close(db);
}

static int cmd_load(opts *o)
{
    static const char *usage = "xinyong load citizens|contacts|events FILE [--rejects OUT]";
    if (need_args(o, 2, usage)) return XY_EINPUT;
    int kind;
    if (strcmp(o->pos[0], "citizens") == 0) kind = XY_LOAD_CITIZENS;
    else if (strcmp(o->pos[0], "contacts") == 0) kind = XY_LOAD_CONTACTS;
    else if (strcmp(o->pos[0], "events") == 0) kind = XY_LOAD_EVENTS;
    else {
        say("xinyong: unknown kind '%s'; usage: %s", o->pos[0], usage);
        return XY_EINPUT;
    }
    xy_db *db;
    int rc = open_db(o, XY_WRITE | XY_ONCE, &db);
    if (rc) return rc;
    xy_load_result res;
    rc = xy_db_load_csv(db, kind, o->pos[1], o->rejects, to_stderr, NULL, &res);
    if (rc == XY_OK) {
        printf("%s: %llu rows, %llu applied, %llu duplicates, %llu rejected\n", o->pos[1],
               (unsigned long long)res.rows, (unsigned long long)res.applied,
               (unsigned long long)res.duplicates, (unsigned long long)res.rejected);
        if (o->rejects && res.rejected) printf("rejected rows written to %s\n", o->rejects);
    }
    close_writer(db);
    return rc;
}

static int cmd_advance(opts *o)
{
    if (need_args(o, 1, "xinyong advance DATE")) return XY_EINPUT;
    xy_day d;
    if (xy_day_parse(o->pos[0], strlen(o->pos[0]), &d)) {
        say("xinyong: advance: '%s' is not a valid YYYY-MM-DD date", o->pos[0]);
        return XY_EINPUT;
    }
    xy_db *db;
    int rc = open_db(o, XY_WRITE | XY_ONCE, &db);
    if (rc) return rc;
    xy_day today = xy_engine_today(xy_db_engine(db));
    rc = xy_db_advance(db, d);
    if (rc == XY_ECLOCK) {
        char t[XY_DAY_CHARS];
        xy_day_format(today, t);
        say("xinyong: advance: %s is before today (%s); the clock never goes back", o->pos[0], t);
    } else if (rc == XY_ENOSPC || rc == XY_EIO) {
        /* The advance is a batch of the log like a load's. */
        say("xinyong: advance: %s/log: cannot append: %s", data_dir(o), xy_strerror(rc));
    } else if (rc) {
        say("xinyong: advance: %s", xy_strerror(rc));
    } else {
        printf("today is %s\n", o->pos[0]);
    }
    close_writer(db);
    return rc;
}

static int cmd_snapshot(opts *o)
{
    if (need_args(o, 0, "xinyong snapshot")) return XY_EINPUT;
    xy_db *db;
    int rc = open_db(o, XY_WRITE | XY_ONCE, &db);
    if (rc) return rc;
    rc = xy_db_snapshot(db, to_stderr, NULL);
    if (rc == XY_OK) printf("snapshot of %s written\n", data_dir(o));
    xy_db_close(db);
    return rc;
}

static int cmd_verify(opts *o)
{
    if (need_args(o, 0, "xinyong verify")) return XY_EINPUT;
    int rc = xy_db_verify(data_dir(o), to_stderr, NULL, stdout);
    if (rc == XY_OK) printf("ok\n");
    return rc;
}

static int unknown(const char *what, const char *name)
{
    say("xinyong: unknown %s '%s'", what, name);
    return XY_EUNKNOWN;
}

/* An ID that names no citizen; one that is not even a valid resident ID
 * says why (the exit status stays that of an unknown citizen). */
static int unknown_citizen(const char *id)
{
    xy_resid r;
    const char *why;
    if (xy_resid_parse(id, strlen(id), &r, &why) == XY_OK) return unknown("citizen", id);
    say("xinyong: unknown citizen '%s': not a valid resident ID: it %s", id, why);
    return XY_EUNKNOWN;
}

/* After a report: says so when the history index did not serve and the
 * whole log answered instead (same answer, but a sign of a damaged trail). */
static void warn_history(const opts *o, const xy_db *db)
{
    uint64_t n = xy_db_history_fallbacks(db);
    if (n)
        say("xinyong: warning: the history index (%s/trail) did not serve %llu lookup%s; the whole log "
            "answered instead ('xinyong verify' checks the trail)",
            data_dir(o), (unsigned long long)n, n == 1 ? "" : "s");
}

static int cmd_show(opts *o)
{
    if (need_args(o, 1, "xinyong show ID [--public] [--json]")) return XY_EINPUT;
    xy_db *db;
    int rc = open_db(o, XY_READ, &db);
    if (rc) return rc;
    rc = xy_report_show(db, o->pos[0], has(o, OPT_PUBLIC), format_of(o), stdout);
    if (rc == XY_EUNKNOWN) unknown_citizen(o->pos[0]);
    warn_history(o, db);
    xy_db_close(db);
    return rc;
}

static int cmd_explain(opts *o)
{
    if (need_args(o, 1, "xinyong explain ID [--from-log] [--json]")) return XY_EINPUT;
    xy_db *db;
    int rc = open_db(o, XY_READ, &db);
    if (rc) return rc;
    rc = xy_report_explain(db, o->pos[0], format_of(o), has(o, OPT_FROM_LOG), stdout);
    if (rc == XY_EUNKNOWN) unknown_citizen(o->pos[0]);
    warn_history(o, db);
    /* Either the whole log did not read (a record damaged in the part a
     * snapshot covers, which start-up did not read) or what it gives is
     * not the state restored from the snapshot: the status cannot tell
     * the two apart, so the message names both. */
    if (rc == XY_ECORRUPT)
        say("xinyong: %s: the state of %s does not add up to the events stored for it: the log is damaged or the "
            "snapshot does not match it (`xinyong verify` checks the files; without DATA/snapshot the state is "
            "rebuilt from the log)",
            data_dir(o), o->pos[0]);
    xy_db_close(db);
    return rc;
}

static int cmd_check(opts *o)
{
    if (need_args(o, 2, "xinyong check ID ACTION [--json]")) return XY_EINPUT;
    xy_db *db;
    int rc = open_db(o, XY_READ, &db);
    if (rc) return rc;
    rc = xy_report_check(db, o->pos[0], o->pos[1], format_of(o), stdout);
    warn_history(o, db);
    if (rc == XY_EUNKNOWN) {
        xy_resid id;
        if (xy_resid_parse(o->pos[0], strlen(o->pos[0]), &id, NULL) ||
            xy_engine_find(xy_db_engine(db), id) == XY_NONE)
            unknown_citizen(o->pos[0]);
        else
            say("xinyong: unknown action '%s' (no sanction or privilege names it)", o->pos[1]);
    }
    xy_db_close(db);
    return rc;
}

static int cmd_list(opts *o)
{
    static const char *usage = "xinyong list blacklist|whitelist [--city C] [--public] [--json]";
    if (need_args(o, 1, usage)) return XY_EINPUT;
    int list;
    if (strcmp(o->pos[0], "blacklist") == 0) list = XY_BLACKLIST;
    else if (strcmp(o->pos[0], "whitelist") == 0) list = XY_WHITELIST;
    else {
        say("xinyong: unknown list '%s'; usage: %s", o->pos[0], usage);
        return XY_EINPUT;
    }
    xy_db *db;
    int rc = open_db(o, XY_READ, &db);
    if (rc) return rc;
    rc = xy_report_list(db, list, o->city, has(o, OPT_PUBLIC), format_of(o), stdout);
    if (rc == XY_EUNKNOWN) unknown("city", o->city);
    warn_history(o, db);
    xy_db_close(db);
    return rc;
}

static int cmd_stats(opts *o)
{
    if (need_args(o, 0, "xinyong stats [--json]")) return XY_EINPUT;
    xy_db *db;
    int rc = open_db(o, XY_READ, &db);
    if (rc) return rc;
    rc = xy_report_stats(db, format_of(o), stdout);
    xy_db_close(db);
    return rc;
}

static int cmd_help(opts *o);

static const command commands[] = {
    {"init", cmd_init, OPT_RULES, "xinyong init [--rules DIR]",
     "Creates the data directory and binds it to the ruleset in DIR (default: ./rules).\n"
     "The rules files are copied in, so later edits of DIR do not change its history.\n"
     "Fails (exit 1) if the rules have errors or the directory is already initialised."},
    {"rules", cmd_rules, 0, "xinyong rules check FILE...",
     "Validates rules files. City files (with a 'city' line) are compiled with their\n"
     "includes; shared files are checked alone. Every mistake is printed as\n"
     "FILE:LINE:COLUMN: message; the exit status is 1 if there is any."},
    {"load", cmd_load, OPT_REJECTS, "xinyong load citizens|contacts|events FILE [--rejects OUT]",
     "Loads a CSV file (RFC 4180, header row, columns in any order):\n"
     "  citizens  id,name[,city][,father][,mother]\n"
     "  contacts  a,b\n"
     "  events    id,date,citizen,behaviour,agency[,amount][,counterpart]\n"
     "The file is applied atomically: one bad row (reported as FILE:LINE: reason,\n"
     "the reason ending with the column at fault) and nothing is applied, exit 1.\n"
     "With --rejects OUT the good rows are applied and every bad row is written\n"
     "unchanged to OUT with its reason in a last column, 'reason' (OUT may not be\n"
     "in the data directory). Columns named 'reason' are ignored, so OUT, its rows\n"
     "mended, loads as it is; any other unknown column is an error.\n"
     "Rows seen before with the same content are skipped and counted as duplicates.\n"
     "Accepted rows are on disk (fsync) before the command reports success."},
    {"advance", cmd_advance, 0, "xinyong advance DATE",
     "Moves the clock forward to DATE (YYYY-MM-DD), running day-start processing\n"
     "(expiries, association, list exits) for every day in between. An earlier date\n"
     "than today is an error (exit 1): the clock never goes back."},
    {"show", cmd_show, OPT_PUBLIC | OPT_JSON, "xinyong show ID [--public] [--json]",
     "Score, raw score, grade, blacklist and whitelist membership (since, reason,\n"
     "and the rules it stands on as [FILE:LINE]) and the consequences active today,\n"
     "each with its rule. Exit 3 for an unknown citizen.\n"
     "--public shows only what the citizen's city publishes: masked ID and name,\n"
     "score, grade and whitelist with 'publish scores', the blacklist entry with\n"
     "'publish blacklist'; the rest is null ('not published')."},
    {"explain", cmd_explain, OPT_FROM_LOG | OPT_JSON, "xinyong explain ID [--from-log] [--json]",
     "Every contribution to the score (events, expiries, association) with its\n"
     "date, event, behaviour, agency, points and why points were zero or limited;\n"
     "every list entry and exit with its reason; and the active consequences.\n"
     "Each of them, the base and the grade name the rule behind them as\n"
     "[FILE:LINE] of the ruleset (JSON: rule, base_rule, grade_rule; a blacklist\n"
     "entry by score also its exit line, exit_rule).\n"
     "base + the sum of the contributions is always the raw score.\n"
     "The history comes from the per-citizen history index, in time proportional\n"
     "to the citizen's own history; --from-log rebuilds it from the whole log\n"
     "instead (slower, the same result: a cross-check)."},
    {"check", cmd_check, OPT_JSON, "xinyong check ID ACTION [--json]",
     "The checkpoint decision for an action (train_ticket, hospital_queue, ...):\n"
     "deny if any active consequence denies it, else priority, else the largest\n"
     "discount, else allow; with the consequences behind it and why each is active.\n"
     "Exit 3 for an unknown citizen or an action no consequence names."},
    {"list", cmd_list, OPT_CITY | OPT_PUBLIC | OPT_JSON, "xinyong list blacklist|whitelist [--city C] [--public] [--json]",
     "Citizens on a list with since, reason and the rules the membership stands\n"
     "on ([FILE:LINE]; JSON: rules), oldest entry first. --city limits\n"
     "to one city. --public shows what the cities publish: the blacklists of cities\n"
     "with 'publish blacklist', the whitelists of cities with 'publish scores', and\n"
     "IDs masked (first 6 and last 4 characters)."},
    {"stats", cmd_stats, OPT_JSON, "xinyong stats [--json]",
     "Per city: citizens, mean score, citizens per grade, list sizes."},
    {"snapshot", cmd_snapshot, 0, "xinyong snapshot",
     "Writes the state to DATA/snapshot (temporary file, fsync, rename), so that\n"
     "commands start from it and replay only the log written after it. A writer\n"
     "also does this by itself each time the log has grown by 256 MiB."},
    {"verify", cmd_verify, 0, "xinyong verify",
     "Checks every record of the log in every segment (length, checksum, type),\n"
     "that the segments follow on from each other, every section of the snapshot\n"
     "(its checksum, and that its contents make a valid state for the ruleset),\n"
     "the rules copy against the fingerprint init wrote (DATA/rules.sum), the\n"
     "history index and the event-index runs, and says what it found. A problem\n"
     "is reported with its file (and byte offset, where it has one), and the exit\n"
     "status is 2."},
    {"help", cmd_help, 0, "xinyong help [COMMAND]", "Describes the commands, or one command."},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_help(const command *c)
{
    printf("usage: %s\n\n%s\n", c->usage, c->help);
}

static int cmd_help(opts *o)
{
    if (need_args(o, o->npos > 1 ? 1 : o->npos, "xinyong help [COMMAND]")) return XY_EINPUT;
    if (o->npos == 1) {
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (strcmp(commands[i].name, o->pos[0]) == 0) {
                print_help(&commands[i]);
                return XY_OK;
            }
        say("xinyong: unknown command '%s' (try 'xinyong help')", o->pos[0]);
        return XY_EINPUT;
    }
    printf("xinyong -- a reference implementation of points-based social credit systems,\n"
           "for study, teaching and audit on synthetic populations. Not for scoring people.\n\n"
           "usage: xinyong [--data DIR] COMMAND [ARGS]\n\n");
    for (size_t i = 0; i < NCOMMANDS; i++) printf("  %s\n", commands[i].usage);
    printf("\nOptions for every command:\n"
           "  --data DIR   the data directory (default: $XINYONG_DATA, else ./xinyong-data)\n"
           "  --help, -h   describe the command\n"
           "An option's value may also follow '=' (--data=DIR). Any other option goes only\n"
           "with the commands whose usage shows it, once.\n"
           "\nExit status: 0 success, 1 bad usage or input (an unknown command, list or\n"
           "load kind too), 2 storage error, 3 unknown citizen, city or action.\n"
           "'xinyong help COMMAND' describes one command.\n");
    return XY_OK;
}

/* The options that take a value or are a flag, by name. */
static const struct {
    const char *name;
    unsigned bit;         /* OPT_*, 0 for --data and --help */
    int has_value;
} options[] = {
    {"--data", 0, 1},         {"--rules", OPT_RULES, 1},   {"--rejects", OPT_REJECTS, 1},
    {"--city", OPT_CITY, 1},  {"--json", OPT_JSON, 0},     {"--public", OPT_PUBLIC, 0},
    {"--from-log", OPT_FROM_LOG, 0}, {"--help", 0, 0},     {"-h", 0, 0},
};

/* Where option k's value goes, for one that has a value. */
static const char **option_value(opts *o, size_t k)
{
    switch (options[k].bit) {
    case OPT_RULES: return &o->rules;
    case OPT_REJECTS: return &o->rejects;
    case OPT_CITY: return &o->city;
    default: return &o->data;
    }
}

/* Options may stand anywhere after the command name; one that takes a
 * value has it in the next argument or after '=' (--data=DIR). A value
 * that begins with "--" must follow '=': "--rejects --json" is taken for
 * a forgotten value, not for a file named "--json". Each option may be
 * given once. */
static int parse_opts(int argc, char **argv, opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq = a[0] == '-' && a[1] == '-' ? strchr(a, '=') : NULL;
        char name[32];
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            a = name;
        }
        size_t k = 0;
        while (k < sizeof options / sizeof options[0] && strcmp(a, options[k].name) != 0) k++;
        if (k == sizeof options / sizeof options[0]) {
            if (a[0] == '-' && a[1] == '-') {
                say("xinyong: unknown option '%s'", a);
                return -1;
            }
            if (o->npos == (int)(sizeof o->pos / sizeof o->pos[0])) {
                say("xinyong: too many arguments");
                return -1;
            }
            o->pos[o->npos++] = a;
            continue;
        }
        if (!options[k].has_value) {
            if (eq) {
                say("xinyong: option '%s' takes no value", a);
                return -1;
            }
            if (o->given & options[k].bit) {
                say("xinyong: option '%s' is given twice", a);
                return -1;
            }
            if (!options[k].bit) o->help = 1;
            o->given |= options[k].bit;
            continue;
        }
        const char **value = option_value(o, k);
        const char *v = eq ? eq + 1 : i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0 ? argv[++i] : "";
        if (*v == 0) {
            say("xinyong: option '%s' needs a value", a);
            return -1;
        }
        if (*value) {
            say("xinyong: option '%s' is given twice", a);
            return -1;
        }
        *value = v;
        o->given |= options[k].bit;
    }
    return 0;
}

/* Refuses an option the command does not take, rather than ignore it (a
 * --public that an explain ignored would show what a city does not
 * publish as if it were public). */
static int check_opts(const command *c, const opts *o)
{
    unsigned extra = o->given & ~c->takes;
    if (!extra) return 0;
    size_t k = 0;
    while (!(options[k].bit & extra)) k++;
    say("xinyong: %s: option '%s' does not apply to this command (see 'xinyong %s --help')", c->name,
        options[k].name, c->name);
    return -1;
}

/* The exit status of a command that returned rc, once its output is out:
 * a report that could not be written all (a full disk, a closed pipe)
 * fails, whatever part of it got out, help texts included. */
static int finish(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        say("xinyong: cannot write output: %s", strerror(errno));
        return EXIT_STORAGE;
    }
    return exit_for(rc);
}

int main(int argc, char **argv)
{
    opts o = {0};
    /* --data may also come before the command. */
    int i = 1;
    while (i < argc && strncmp(argv[i], "--data", 6) == 0 && (argv[i][6] == 0 || argv[i][6] == '=')) {
        int take = argv[i][6] == '=' || i + 1 == argc ? 1 : 2;
        if (parse_opts(take, argv + i, &o)) return EXIT_USAGE;
        i += take;
    }
    if (i >= argc) {
        say("xinyong: usage: xinyong [--data DIR] COMMAND [ARGS] (try 'xinyong help')");
        return EXIT_USAGE;
    }
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
        cmd_help(&o);
        return finish(XY_OK);
    }
    const char *name = argv[i];
    const command *c = NULL;
    for (size_t k = 0; k < NCOMMANDS; k++)
        if (strcmp(commands[k].name, name) == 0) c = &commands[k];
    if (!c) {
        say("xinyong: unknown command '%s' (try 'xinyong help')", name);
        return EXIT_USAGE;
    }
    if (parse_opts(argc - i - 1, argv + i + 1, &o)) return EXIT_USAGE;
    if (o.help) {
        print_help(c);
        return finish(XY_OK);
    }
    if (check_opts(c, &o)) return EXIT_USAGE;
    return finish(c->run(&o));
}
