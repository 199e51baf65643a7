/*
 * opts.h - the table-driven option parser of the `trackday` command. A subcommand describes
 * its arguments once, as a table of rows (name, kind, where the value goes, range, help), and
 * td__cli_parse both parses argv against it and prints `--help` from it, so an option cannot
 * be parsed without being documented, and the bounds in the help are the bounds enforced.
 *
 *     int laps = 3, json = 0;
 *     const char *dir = NULL, *out = NULL;
 *     const td__cli_opt opts[] = {
 *         TD_CLI_POS("DIR", &dir, "the model directory"),
 *         TD_CLI_INT("--laps", &laps, 1, 16, "N", "laps (default 3)"),
 *         TD_CLI_STRING("-o", "--out", &out, "DIR2", "output directory"),
 *         TD_CLI_FLAG("--json", &json, "print JSON"),
 *         TD_CLI_END,
 *     };
 *     const td__cli_spec spec = {"eval", "Drives the trained policy ...", opts};
 *     int rc = td__cli_parse(&spec, argc, argv);
 *     if (rc != TD_CLI_RUN)
 *         return rc;   // 0 after --help, 2 after a command-line error (already reported)
 *
 * Conventions: `--name value` and `--name=value`; `--` ends the options; -h and --help print
 * the help to stdout; a command-line error (unknown option, with the nearest known one
 * suggested; a missing or malformed value; a value out of range; a wrong number of
 * arguments) prints "trackday CMD: ..." and the usage line to stderr and exits 2. Errors found
 * later, while running, exit 1 (td__cli_fail).
 */
#ifndef TD_CLI_OPTS_H
#define TD_CLI_OPTS_H

#include <stddef.h>
#include <stdio.h>

/* td__cli_parse's return when the command should go on and run. */
#define TD_CLI_RUN (-1)
/* The exit status of a command-line (usage) error. */
#define TD_CLI_USAGE 2

typedef enum td__cli_kind {
    TD__CLI_END = 0,
    TD__CLI_FLAG,     /* int *: set to 1 */
    TD__CLI_INT,      /* int *, within [lo, hi] */
    TD__CLI_LONG,     /* long *, within [lo, hi] */
    TD__CLI_DOUBLE,   /* double *, finite, within [lo, hi] */
    TD__CLI_STRING,   /* const char **: the argv string */
    TD__CLI_CHOICE,   /* const char **: one of the '|'-separated words in arg */
    TD__CLI_CUSTOM,   /* parse(opt, value, dst) checks and stores */
    TD__CLI_POS,      /* const char **: a positional argument (required unless lo == 0) */
    TD__CLI_POS_LIST, /* const char **array of hi slots, *count: the remaining positionals */
    TD__CLI_SECTION,  /* not an option: a heading in the help ("race options") */
} td__cli_kind;

/*
 * Checks and stores one value of a TD__CLI_CUSTOM option; returns 0, or reports the problem
 * with td__cli_usage_error(...) and returns its result.
 */
typedef int (*td__cli_parse_fn)(const char *opt, const char *value, void *dst);

typedef struct td__cli_opt {
    const char *name;  /* "--laps", or a positional's placeholder ("DIR") */
    const char *alias; /* a short form ("-o"), or NULL */
    td__cli_kind kind;
    void *dst;
    double lo, hi;          /* number range; POS: lo = 1 if required; POS_LIST: lo..hi values */
    const char *arg;        /* the value's placeholder in the help ("N"), or CHOICE's words */
    const char *help;       /* one or more sentences, wrapped by the help printer */
    td__cli_parse_fn parse; /* CUSTOM only */
    int *given;             /* if not NULL, set to 1 when the option appears */
    int *count;             /* POS_LIST: how many values were stored */
    int required;           /* an option that must be given ("missing --track") */
} td__cli_opt;

typedef struct td__cli_spec {
    const char *name;        /* "eval", "tracks show" */
    const char *about;       /* what the command does; paragraphs separated by "\n\n";
                              * lines that start with two spaces are printed as they are */
    const td__cli_opt *opts; /* ends with TD_CLI_END */
    const char *usage;       /* the usage line after "trackday NAME" (NULL: generated) */
    const char *epilog;      /* printed after the options (examples), or NULL */
} td__cli_spec;

/* Rows. The pointer casts make the compiler check each destination's type. */
#define TD__CLI_PTR(type, p) ((void *)(1 ? (p) : (type *)0))
#define TD_CLI_FLAG(nm, p, h)                                                                      \
    {                                                                                              \
        .name = (nm), .kind = TD__CLI_FLAG, .dst = TD__CLI_PTR(int, p), .help = (h)                \
    }
#define TD_CLI_INT(nm, p, l, u, a, h)                                                              \
    {                                                                                              \
        .name = (nm), .kind = TD__CLI_INT, .dst = TD__CLI_PTR(int, p), .lo = (l), .hi = (u),       \
        .arg = (a), .help = (h)                                                                    \
    }
#define TD_CLI_LONG(nm, p, l, u, a, h)                                                             \
    {                                                                                              \
        .name = (nm), .kind = TD__CLI_LONG, .dst = TD__CLI_PTR(long, p), .lo = (l), .hi = (u),     \
        .arg = (a), .help = (h)                                                                    \
    }
#define TD_CLI_DOUBLE(nm, p, l, u, a, h)                                                           \
    {                                                                                              \
        .name = (nm), .kind = TD__CLI_DOUBLE, .dst = TD__CLI_PTR(double, p), .lo = (l), .hi = (u), \
        .arg = (a), .help = (h)                                                                    \
    }
#define TD_CLI_STRING(short_nm, nm, p, a, h)                                                       \
    {                                                                                              \
        .name = (nm), .alias = (short_nm), .kind = TD__CLI_STRING,                                 \
        .dst = TD__CLI_PTR(const char *, p), .arg = (a), .help = (h)                               \
    }
/* A string option that must be given (shown in the usage line). */
#define TD_CLI_REQUIRED_STRING(short_nm, nm, p, a, h)                                              \
    {                                                                                              \
        .name = (nm), .alias = (short_nm), .kind = TD__CLI_STRING,                                 \
        .dst = TD__CLI_PTR(const char *, p), .arg = (a), .help = (h), .required = 1                \
    }
#define TD_CLI_CHOICE(nm, p, words, h)                                                             \
    {                                                                                              \
        .name = (nm), .kind = TD__CLI_CHOICE, .dst = TD__CLI_PTR(const char *, p), .arg = (words), \
        .help = (h)                                                                                \
    }
#define TD_CLI_CUSTOM(nm, p, fn, a, h)                                                             \
    {                                                                                              \
        .name = (nm), .kind = TD__CLI_CUSTOM, .dst = (p), .parse = (fn), .arg = (a), .help = (h)   \
    }
/* A SHA-256 in hex (64 lowercase hex digits), as a deployment or a registry names a file. */
#define TD_CLI_SHA256(nm, p, h)                                                                    \
    TD_CLI_CUSTOM(nm, TD__CLI_PTR(const char *, p), td__cli_parse_sha256, "HEX", h)
#define TD_CLI_POS(nm, p, h)                                                                       \
    {                                                                                              \
        .name = (nm), .kind = TD__CLI_POS, .dst = TD__CLI_PTR(const char *, p), .lo = 1,           \
        .help = (h)                                                                                \
    }
#define TD_CLI_POS_OPTIONAL(nm, p, h)                                                              \
    {                                                                                              \
        .name = (nm), .kind = TD__CLI_POS, .dst = TD__CLI_PTR(const char *, p), .lo = 0,           \
        .help = (h)                                                                                \
    }
#define TD_CLI_POS_LIST(nm, arr, cnt, l, u, h)                                                     \
    {                                                                                              \
        .name = (nm), .kind = TD__CLI_POS_LIST, .dst = TD__CLI_PTR(const char *, arr), .lo = (l),  \
        .hi = (u), .count = (cnt), .help = (h)                                                     \
    }
#define TD_CLI_SECTION(title)                                                                      \
    {                                                                                              \
        .name = (title), .kind = TD__CLI_SECTION                                                   \
    }
#define TD_CLI_END                                                                                 \
    {                                                                                              \
        .kind = TD__CLI_END                                                                        \
    }

/*
 * Parses argv (argv[0] is the command's name) against spec. Returns TD_CLI_RUN when the
 * command should run; 0 when it printed the help (-h, --help); TD_CLI_USAGE after printing a
 * command-line error. Values are stored as they are parsed, so defaults are whatever the
 * destinations held before the call.
 */
int td__cli_parse(const td__cli_spec *spec, int argc, char **argv);

/* A command made of subcommands (`trackday tracks show`): each runs with argv[0] = its name
 * and parses its own options with a spec named "tracks show". */
typedef struct td__cli_sub {
    const char *name;
    const char *summary;
    int (*fn)(int argc, char **argv);
} td__cli_sub;

/*
 * Runs the subcommand named by argv[1] (subs ends with a {NULL} row). `CMD`, `CMD -h`,
 * `CMD --help` and `CMD help` list the subcommands (exit 2 for the first, else 0); an unknown
 * one is a usage error naming the nearest.
 */
int td__cli_dispatch(const char *cmd, const char *about, const td__cli_sub *subs, int argc,
                     char **argv);

/* TD_CLI_SHA256's parser: value must be 64 lowercase hex digits; stores it in *(const char **)dst.
 */
int td__cli_parse_sha256(const char *opt, const char *value, void *dst);

/* Prints the help generated from spec (to stdout for --help). */
void td__cli_help(const td__cli_spec *spec, FILE *f);

/* Reports a command-line error: "trackday: <msg>" and a hint to stderr; returns TD_CLI_USAGE.
 * For TD__CLI_CUSTOM parsers and checks between options after td__cli_parse. */
/* The program the messages and help name: "trackday" ("trackday-car" in the car-only build,
 * whose main sets it). */
extern const char *td__cli_program;
/* The registered commands (TD_CLI_COMMAND in cli.h), shared by trackday and trackday-car. */
typedef int (*td_cli_fn)(int argc, char **argv);
void td__cli_register(const char *name, const char *summary, td_cli_fn fn);
/* Prints "PROGRAM: <msg>" to stderr; returns 1 (the exit code for errors). */
int td__cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
typedef struct {
    const char *name;
    const char *summary;
    td_cli_fn fn;
} td__cli_command;
const td__cli_command *td__cli_find(const char *name);
/* "  NAME       summary" lines, one per command, summaries wrapped at 80 columns. */
void td__cli_list_commands(FILE *f);
/* Says the name is no command (with the nearest one if close), prints usage on stderr; 2. */
int td__cli_unknown_command(const char *name, void (*usage)(FILE *));

int td__cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Edit distance between two short strings (for "did you mean"); 99 for long ones. */
int td__cli_distance(const char *a, const char *b);

/* Prints text word-wrapped to width columns, every line indented by indent spaces except the
 * first, which starts at column first (the caller already printed that much). */
void td__cli_wrap(FILE *f, const char *text, int first, int indent, int width);

#endif
