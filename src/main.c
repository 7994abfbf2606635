/* main.c -- the xinyong command line: options, help, and one thin function
 * per subcommand over the library's public header. Exit statuses (spec 5):
 * 0 success, 1 bad usage or input, 2 storage error, 3 unknown name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xinyong.h"

enum { EXIT_USAGE = 1, EXIT_STORAGE = 2, EXIT_UNKNOWN = 3 };

typedef struct opts {
    const char *data;    /* --data DIR */
    const char *rules;   /* --rules DIR */
    const char *rejects; /* --rejects OUT */
    const char *city;    /* --city C */
    int json;            /* --json */
    int public_only;     /* --public */
    int from_log;        /* --from-log */
    int help;            /* --help */
    const char *pos[64]; /* positional arguments */
    int npos;            /* their number */
} opts;

typedef struct command {
    const char *name;                 /* subcommand */
    int (*run)(opts *o);              /* implementation */
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
    if (rc && !said) fprintf(stderr, "xinyong: %s: %s\n", data_dir(o), xy_strerror(rc));
    return rc;
}

static int need_args(const opts *o, int n, const char *usage)
{
    if (o->npos == n) return 0;
    fprintf(stderr, "xinyong: usage: %s\n", usage);
    return XY_EINPUT;
}

/* ------------------------------------------------------------- commands */

static int cmd_init(opts *o)
{
    if (need_args(o, 0, "xinyong init [--rules DIR] [--data DIR]")) return XY_EINPUT;
    const char *rules = o->rules ? o->rules : "rules";
    int rc = xy_db_create(data_dir(o), rules, to_stderr, NULL);
    if (rc == XY_OK) printf("initialised %s with the rules of %s\n", data_dir(o), rules);
    return rc == XY_EEXIST ? XY_EINPUT : rc;
}

static int cmd_rules(opts *o)
{
    if (o->npos < 2 || strcmp(o->pos[0], "check") != 0) {
        fprintf(stderr, "xinyong: usage: xinyong rules check FILE...\n");
        return XY_EINPUT;
    }
    xy_rules *r;
    int rc = xy_rules_load_files(o->pos + 1, o->npos - 1, to_stderr, NULL, &r);
    if (rc) return XY_EINPUT;
    int n = xy_rules_city_count(r);
    for (int i = 0; i < n; i++)
        printf("%s: %d behaviours\n", xy_rules_city_id(r, i), xy_rules_behaviour_count(r, i));
    printf("ok: %d file%s, %d cit%s\n", o->npos - 1, o->npos == 2 ? "" : "s", n, n == 1 ? "y" : "ies");
    xy_rules_free(r);
    return XY_OK;
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
        fprintf(stderr, "xinyong: unknown kind '%s'; usage: %s\n", o->pos[0], usage);
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
    xy_db_close(db);
    return rc;
}

static int cmd_advance(opts *o)
{
    if (need_args(o, 1, "xinyong advance DATE")) return XY_EINPUT;
    xy_day d;
    if (xy_day_parse(o->pos[0], strlen(o->pos[0]), &d)) {
        fprintf(stderr, "xinyong: advance: '%s' is not a valid YYYY-MM-DD date\n", o->pos[0]);
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
        fprintf(stderr, "xinyong: advance: %s is before today (%s); the clock never goes back\n", o->pos[0], t);
    } else if (rc == XY_ENOSPC || rc == XY_EIO) {
        /* The advance is a batch of the log like a load's. */
        fprintf(stderr, "xinyong: advance: %s/log: cannot append: %s\n", data_dir(o), xy_strerror(rc));
    } else if (rc) {
        fprintf(stderr, "xinyong: advance: %s\n", xy_strerror(rc));
    } else {
        printf("today is %s\n", o->pos[0]);
    }
    xy_db_close(db);
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
    fprintf(stderr, "xinyong: unknown %s '%s'\n", what, name);
    return XY_EUNKNOWN;
}

/* An ID that names no citizen; one that is not even a valid resident ID
 * says why (the exit status stays that of an unknown citizen). */
static int unknown_citizen(const char *id)
{
    xy_resid r;
    const char *why;
    if (xy_resid_parse(id, strlen(id), &r, &why) == XY_OK) return unknown("citizen", id);
    fprintf(stderr, "xinyong: unknown citizen '%s': not a valid resident ID: it %s\n", id, why);
    return XY_EUNKNOWN;
}

/* After a report: says so when the history index did not serve and the
 * whole log answered instead (same answer, but a sign of a damaged trail). */
static void warn_history(const opts *o, const xy_db *db)
{
    uint64_t n = xy_db_history_fallbacks(db);
    if (n)
        fprintf(stderr,
                "xinyong: warning: the history index (%s/trail) did not serve %llu lookup%s; the whole log "
                "answered instead ('xinyong verify' checks the trail)\n",
                data_dir(o), (unsigned long long)n, n == 1 ? "" : "s");
}

static int cmd_show(opts *o)
{
    if (need_args(o, 1, "xinyong show ID [--public] [--json]")) return XY_EINPUT;
    xy_db *db;
    int rc = open_db(o, XY_READ, &db);
    if (rc) return rc;
    rc = xy_report_show(db, o->pos[0], o->public_only, o->json, stdout);
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
    rc = xy_report_explain(db, o->pos[0], o->json, o->from_log, stdout);
    if (rc == XY_EUNKNOWN) unknown_citizen(o->pos[0]);
    warn_history(o, db);
    if (rc == XY_ECORRUPT)
        fprintf(stderr,
                "xinyong: %s: the state of %s does not add up to the events stored for it: the snapshot does not "
                "match the log (`xinyong verify` checks the files; without DATA/snapshot the state is rebuilt from the log)\n",
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
    rc = xy_report_check(db, o->pos[0], o->pos[1], o->json, stdout);
    warn_history(o, db);
    if (rc == XY_EUNKNOWN) {
        xy_resid id;
        if (xy_resid_parse(o->pos[0], strlen(o->pos[0]), &id, NULL) ||
            xy_engine_find(xy_db_engine(db), id) == XY_NONE)
            unknown_citizen(o->pos[0]);
        else
            unknown("action (no sanction or privilege names it)", o->pos[1]);
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
        fprintf(stderr, "xinyong: unknown list '%s'; usage: %s\n", o->pos[0], usage);
        return XY_EINPUT;
    }
    xy_db *db;
    int rc = open_db(o, XY_READ, &db);
    if (rc) return rc;
    rc = xy_report_list(db, list, o->city, o->public_only, o->json, stdout);
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
    rc = xy_report_stats(db, o->json, stdout);
    xy_db_close(db);
    return rc;
}

static int cmd_help(opts *o);

static const command commands[] = {
    {"init", cmd_init, "xinyong init [--rules DIR]",
     "Creates the data directory and binds it to the ruleset in DIR (default: ./rules).\n"
     "The rules files are copied in, so later edits of DIR do not change its history.\n"
     "Fails (exit 1) if the rules have errors or the directory is already initialised."},
    {"rules", cmd_rules, "xinyong rules check FILE...",
     "Validates rules files. City files (with a 'city' line) are compiled with their\n"
     "includes; shared files are checked alone. Every mistake is printed as\n"
     "FILE:LINE:COLUMN: message; the exit status is 1 if there is any."},
    {"load", cmd_load, "xinyong load citizens|contacts|events FILE [--rejects OUT]",
     "Loads a CSV file (RFC 4180, header row, columns in any order):\n"
     "  citizens  id,name[,city][,father][,mother]\n"
     "  contacts  a,b\n"
     "  events    id,date,citizen,behaviour,agency[,amount][,counterpart]\n"
     "The file is applied atomically: one bad row (reported as FILE:LINE: reason,\n"
     "the reason ending with the column at fault) and nothing is applied, exit 1.\n"
     "With --rejects OUT the good rows are applied and every bad row is written\n"
     "unchanged to OUT with its reason in a last column (OUT may not be in the\n"
     "data directory).\n"
     "Rows seen before with the same content are skipped and counted as duplicates.\n"
     "Accepted rows are on disk (fsync) before the command reports success."},
    {"advance", cmd_advance, "xinyong advance DATE",
     "Moves the clock forward to DATE (YYYY-MM-DD), running day-start processing\n"
     "(expiries, association, list exits) for every day in between. An earlier date\n"
     "than today is an error (exit 1): the clock never goes back."},
    {"show", cmd_show, "xinyong show ID [--public] [--json]",
     "Score, raw score, grade, blacklist and whitelist membership (since, reason,\n"
     "and the rules it stands on as [FILE:LINE]) and the consequences active today,\n"
     "each with its rule. Exit 3 for an unknown citizen.\n"
     "--public shows only what the citizen's city publishes: masked ID and name,\n"
     "score, grade and whitelist with 'publish scores', the blacklist entry with\n"
     "'publish blacklist'; the rest is null ('not published')."},
    {"explain", cmd_explain, "xinyong explain ID [--from-log] [--json]",
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
    {"check", cmd_check, "xinyong check ID ACTION [--json]",
     "The checkpoint decision for an action (train_ticket, hospital_queue, ...):\n"
     "deny if any active consequence denies it, else priority, else the largest\n"
     "discount, else allow; with the consequences behind it and why each is active.\n"
     "Exit 3 for an unknown citizen or an action no consequence names."},
    {"list", cmd_list, "xinyong list blacklist|whitelist [--city C] [--public] [--json]",
     "Citizens on a list with since, reason and the rules the membership stands\n"
     "on ([FILE:LINE]; JSON: rules), oldest entry first. --city limits\n"
     "to one city. --public shows what the cities publish: the blacklists of cities\n"
     "with 'publish blacklist', the whitelists of cities with 'publish scores', and\n"
     "IDs masked (first 6 and last 4 characters)."},
    {"stats", cmd_stats, "xinyong stats [--json]",
     "Per city: citizens, mean score, citizens per grade, list sizes."},
    {"snapshot", cmd_snapshot, "xinyong snapshot",
     "Writes the state to DATA/snapshot (temporary file, fsync, rename), so that\n"
     "commands start from it and replay only the log written after it. A writer\n"
     "also does this by itself each time the log has grown by 256 MiB."},
    {"verify", cmd_verify, "xinyong verify",
     "Checks every record of the log in every segment (length, checksum, type),\n"
     "that the segments follow on from each other, every section of the snapshot\n"
     "(its checksum, and that its contents make a valid state for the ruleset),\n"
     "the history index and the event-index runs, and says what it found. A problem\n"
     "is reported with its file and byte offset, and the exit status is 2."},
    {"help", cmd_help, "xinyong help [COMMAND]", "Describes the commands, or one command."},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_help(const command *c)
{
    printf("usage: %s\n\n%s\n", c->usage, c->help);
}

static int cmd_help(opts *o)
{
    if (o->npos == 1) {
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (strcmp(commands[i].name, o->pos[0]) == 0) {
                print_help(&commands[i]);
                return XY_OK;
            }
        fprintf(stderr, "xinyong: unknown command '%s' (try 'xinyong help')\n", o->pos[0]);
        return XY_EINPUT;
    }
    printf("xinyong -- a reference implementation of points-based social credit systems,\n"
           "for study, teaching and audit on synthetic populations. Not for scoring people.\n\n"
           "usage: xinyong [--data DIR] COMMAND [ARGS]\n\n");
    for (size_t i = 0; i < NCOMMANDS; i++) printf("  %s\n", commands[i].usage);
    printf("\nOptions for every command:\n"
           "  --data DIR   the data directory (default: $XINYONG_DATA, else ./xinyong-data)\n"
           "  --help       describe the command\n"
           "An option's value may also follow '=' (--data=DIR).\n"
           "\nExit status: 0 success, 1 bad usage or input, 2 storage error, 3 unknown\n"
           "citizen or name. 'xinyong help COMMAND' describes one command.\n");
    return XY_OK;
}

/* Options may stand anywhere after the command name; one that takes a
 * value has it in the next argument or after '=' (--data=DIR). */
static int parse_opts(int argc, char **argv, opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq = a[0] == '-' && a[1] == '-' ? strchr(a, '=') : NULL;
        const char **value = NULL;
        char name[32];
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            a = name;
        }
        if (strcmp(a, "--data") == 0) value = &o->data;
        else if (strcmp(a, "--rules") == 0) value = &o->rules;
        else if (strcmp(a, "--rejects") == 0) value = &o->rejects;
        else if (strcmp(a, "--city") == 0) value = &o->city;
        else if (strcmp(a, "--json") == 0) o->json = 1;
        else if (strcmp(a, "--public") == 0) o->public_only = 1;
        else if (strcmp(a, "--from-log") == 0) o->from_log = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) o->help = 1;
        else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "xinyong: unknown option '%s'\n", a);
            return -1;
        } else {
            if (o->npos == (int)(sizeof o->pos / sizeof o->pos[0])) {
                fprintf(stderr, "xinyong: too many arguments\n");
                return -1;
            }
            o->pos[o->npos++] = a;
        }
        if (value) {
            *value = eq ? eq + 1 : i + 1 < argc ? argv[++i] : "";
            if (**value == 0) {
                fprintf(stderr, "xinyong: option '%s' needs a value\n", a);
                return -1;
            }
        } else if (eq) {
            fprintf(stderr, "xinyong: option '%s' takes no value\n", a);
            return -1;
        }
    }
    return 0;
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
    if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
        cmd_help(&o);
        return i >= argc ? EXIT_USAGE : 0;
    }
    const char *name = argv[i];
    const command *c = NULL;
    for (size_t k = 0; k < NCOMMANDS; k++)
        if (strcmp(commands[k].name, name) == 0) c = &commands[k];
    if (!c) {
        fprintf(stderr, "xinyong: unknown command '%s' (try 'xinyong help')\n", name);
        return EXIT_USAGE;
    }
    if (parse_opts(argc - i - 1, argv + i + 1, &o)) return EXIT_USAGE;
    if (o.help) {
        print_help(c);
        return 0;
    }
    int rc = c->run(&o);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "xinyong: cannot write output: %s\n", strerror(errno));
        return EXIT_STORAGE;
    }
    return exit_for(rc);
}
