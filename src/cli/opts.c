/*
 * opts.c - the table-driven option parser and the help printer of the `trackday` command
 * (see opts.h for the conventions).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/opts.h"

const char *td__cli_program = "trackday";

/* ------------------------------------------------------------------------------------ */
/* Commands: registered by TD_CLI_COMMAND's constructors, found by both programs' main   */
/* ------------------------------------------------------------------------------------ */

#define MAX_COMMANDS 64
static td__cli_command commands[MAX_COMMANDS];
static int ncommands;

void td__cli_register(const char *name, const char *summary, td_cli_fn fn)
{
    if (ncommands >= MAX_COMMANDS) {
        /* A constructor cannot return an error; a lost command must not go unnoticed. */
        fprintf(stderr, "%s: more than %d commands registered (raise MAX_COMMANDS)\n",
                td__cli_program, MAX_COMMANDS);
        abort();
    }
    commands[ncommands].name = name;
    commands[ncommands].summary = summary;
    commands[ncommands].fn = fn;
    ncommands++;
}

int td__cli_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", td__cli_program);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

const td__cli_command *td__cli_find(const char *name)
{
    for (int i = 0; i < ncommands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void td__cli_list_commands(FILE *f)
{
    for (int i = 0; i < ncommands; i++) {
        fprintf(f, "  %-10s ", commands[i].name);
        td__cli_wrap(f, commands[i].summary, 13, 13, 80);
        fputc('\n', f);
    }
}

int td__cli_unknown_command(const char *name, void (*usage)(FILE *))
{
    const char *best = NULL;
    int best_d = 3; /* at most two edits */
    for (int i = 0; i < ncommands; i++) {
        int d = td__cli_distance(name, commands[i].name);
        if (d < best_d && d < (int)strlen(name)) {
            best_d = d;
            best = commands[i].name;
        }
    }
    if (best)
        fprintf(stderr, "%s: unknown command '%s' (did you mean '%s'?)\n\n", td__cli_program, name,
                best);
    else
        fprintf(stderr, "%s: unknown command '%s'\n\n", td__cli_program, name);
    usage(stderr);
    return 2;
}

#define HELP_WIDTH  80
#define HELP_COLUMN 26 /* where option descriptions start */

/* The spec being parsed, so errors can name the command and show its usage line. */
static const td__cli_spec *current;

/* ------------------------------------------------------------------------------------ */
/* Help                                                                                 */
/* ------------------------------------------------------------------------------------ */

void td__cli_wrap(FILE *f, const char *text, int first, int indent, int width)
{
    const char *p = text;
    int col = first;
    for (int line = 0;; line++) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int fresh = 1; /* no word on this output line yet */
        if (line > 0) {
            fputc('\n', f);
            col = 0;
        }
        if (len >= 2 && p[0] == ' ' && p[1] == ' ') {
            /* A verbatim line (an example): printed as it is. */
            fprintf(f, "%*s%.*s", line > 0 ? indent : 0, "", (int)len, p);
        } else {
            const char *q = p, *end = p + len;
            while (q < end) {
                while (q < end && *q == ' ')
                    q++;
                if (q >= end)
                    break;
                int n = 0;
                while (q + n < end && q[n] != ' ')
                    n++;
                if (fresh) {
                    if (col < indent) {
                        fprintf(f, "%*s", indent - col, "");
                        col = indent;
                    }
                } else if (col + 1 + n > width) {
                    fprintf(f, "\n%*s", indent, "");
                    col = indent;
                } else {
                    fputc(' ', f);
                    col++;
                }
                fprintf(f, "%.*s", n, q);
                col += n;
                q += n;
                fresh = 0;
            }
        }
        if (!e)
            break;
        p = e + 1;
    }
}

/* "DIR [MODEL] [options]" from the positional rows. */
static void print_usage_line(const td__cli_spec *s, FILE *f)
{
    fprintf(f, "usage: %s %s", td__cli_program, s->name);
    if (s->usage) {
        fprintf(f, " %s\n", s->usage);
        return;
    }
    int has_opts = 0;
    for (const td__cli_opt *o = s->opts; o && o->kind != TD__CLI_END; o++)
        if (o->required)
            fprintf(f, " %s%s%s", o->alias ? o->alias : o->name, o->arg ? " " : "",
                    o->arg ? o->arg : "");
    for (const td__cli_opt *o = s->opts; o && o->kind != TD__CLI_END; o++) {
        if (o->kind == TD__CLI_POS)
            fprintf(f, o->lo > 0 ? " %s" : " [%s]", o->name);
        else if (o->kind == TD__CLI_POS_LIST)
            fprintf(f, o->lo > 0 ? " %s..." : " [%s...]", o->name);
        else if (o->kind != TD__CLI_SECTION && !o->required)
            has_opts = 1;
    }
    fprintf(f, "%s\n", has_opts ? " [options]" : "");
}

/* "-o, --out DIR" for the left column. */
static int option_label(const td__cli_opt *o, char *buf, size_t cap)
{
    int n;
    if (o->kind == TD__CLI_POS || o->kind == TD__CLI_POS_LIST)
        n = snprintf(buf, cap, "%s", o->name);
    else
        n = snprintf(buf, cap, "%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "",
                     o->name, o->arg && o->kind != TD__CLI_FLAG ? " " : "",
                     o->arg && o->kind != TD__CLI_FLAG ? o->arg : "");
    return n < 0 ? 0 : n;
}

static void print_row(FILE *f, const char *label, const char *help)
{
    fprintf(f, "  %s", label);
    int col = 2 + (int)strlen(label);
    if (col + 2 > HELP_COLUMN) {
        fprintf(f, "\n%*s", HELP_COLUMN, "");
    } else {
        fprintf(f, "%*s", HELP_COLUMN - col, "");
    }
    td__cli_wrap(f, help ? help : "", HELP_COLUMN, HELP_COLUMN, HELP_WIDTH);
    fputc('\n', f);
}

void td__cli_help(const td__cli_spec *s, FILE *f)
{
    char label[256];
    print_usage_line(s, f);
    if (s->about && *s->about) {
        fputc('\n', f);
        td__cli_wrap(f, s->about, 0, 0, HELP_WIDTH);
        fputc('\n', f);
    }
    int npos = 0;
    for (const td__cli_opt *o = s->opts; o && o->kind != TD__CLI_END; o++)
        npos += (o->kind == TD__CLI_POS || o->kind == TD__CLI_POS_LIST) && o->help;
    if (npos) {
        fprintf(f, "\narguments:\n");
        for (const td__cli_opt *o = s->opts; o && o->kind != TD__CLI_END; o++)
            if ((o->kind == TD__CLI_POS || o->kind == TD__CLI_POS_LIST) && o->help) {
                option_label(o, label, sizeof(label));
                print_row(f, label, o->help);
            }
    }
    fprintf(f, "\noptions:\n");
    print_row(f, "-h, --help", "print this help");
    for (const td__cli_opt *o = s->opts; o && o->kind != TD__CLI_END; o++) {
        if (o->kind == TD__CLI_POS || o->kind == TD__CLI_POS_LIST)
            continue;
        if (o->kind == TD__CLI_SECTION) {
            fprintf(f, "\n%s:\n", o->name);
            continue;
        }
        option_label(o, label, sizeof(label));
        print_row(f, label, o->help);
    }
    if (s->epilog && *s->epilog) {
        fputc('\n', f);
        td__cli_wrap(f, s->epilog, 0, 0, HELP_WIDTH);
        fputc('\n', f);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Errors                                                                               */
/* ------------------------------------------------------------------------------------ */

int td__cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s%s%s: ", td__cli_program, current ? " " : "", current ? current->name : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (current) {
        print_usage_line(current, stderr);
        fprintf(stderr, "Run '%s %s --help' for the options.\n", td__cli_program, current->name);
    }
    return TD_CLI_USAGE;
}

int td__cli_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int row[64];
    for (int j = 0; j <= lb; j++)
        row[j] = j;
    for (int i = 1; i <= la; i++) {
        int prev = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int cur = row[j];
            int sub = prev + (a[i - 1] != b[j - 1]);
            int del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

static int unknown_option(const td__cli_spec *s, const char *arg, size_t len)
{
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)(len < 127 ? len : 127), arg);
    const char *best = NULL;
    int best_d = 99;
    for (const td__cli_opt *o = s->opts; o && o->kind != TD__CLI_END; o++) {
        if (o->kind == TD__CLI_POS || o->kind == TD__CLI_POS_LIST || o->kind == TD__CLI_SECTION)
            continue;
        int d = td__cli_distance(name, o->name);
        if (d < best_d) {
            best_d = d;
            best = o->name;
        }
    }
    int limit = (int)strlen(name) / 3 > 2 ? (int)strlen(name) / 3 : 2;
    if (best && best_d <= limit)
        return td__cli_usage_error("unknown option '%s' (did you mean %s?)", name, best);
    return td__cli_usage_error("unknown option '%s'", name);
}

/* ------------------------------------------------------------------------------------ */
/* Parsing                                                                              */
/* ------------------------------------------------------------------------------------ */

static int store_number(const td__cli_opt *o, const char *v)
{
    char *end;
    if (o->kind == TD__CLI_DOUBLE) {
        double d = strtod(v, &end);
        if (end == v || *end || !isfinite(d))
            return td__cli_usage_error("%s: '%s' is not a number", o->name, v);
        if (d < o->lo || d > o->hi)
            return td__cli_usage_error("%s: %g is outside [%g, %g]", o->name, d, o->lo, o->hi);
        *(double *)o->dst = d;
        return 0;
    }
    errno = 0;
    long long l = strtoll(v, &end, 10);
    if (end == v || *end || errno)
        return td__cli_usage_error("%s: '%s' is not a whole number", o->name, v);
    if ((double)l < o->lo || (double)l > o->hi)
        return td__cli_usage_error("%s: %lld is outside [%.0f, %.0f]", o->name, l, o->lo, o->hi);
    if (o->kind == TD__CLI_INT)
        *(int *)o->dst = (int)l;
    else
        *(long *)o->dst = (long)l;
    return 0;
}

static int store_choice(const td__cli_opt *o, const char *v)
{
    const char *w = o->arg;
    size_t n = strlen(v);
    while (w && *w) {
        size_t wl = strcspn(w, "|");
        if (wl == n && strncmp(w, v, n) == 0) {
            *(const char **)o->dst = v;
            return 0;
        }
        w += wl;
        if (*w == '|')
            w++;
    }
    return td__cli_usage_error("%s: '%s' must be one of %s", o->name, v, o->arg);
}

int td__cli_parse_sha256(const char *opt, const char *value, void *dst)
{
    if (strlen(value) != 64 || strspn(value, "0123456789abcdef") != 64)
        return td__cli_usage_error("%s needs 64 lowercase hex digits (got '%s')", opt, value);
    *(const char **)dst = value;
    return 0;
}

static int store(const td__cli_opt *o, const char *v)
{
    int rc = 0;
    switch (o->kind) {
    case TD__CLI_INT:
    case TD__CLI_LONG:
    case TD__CLI_DOUBLE:
        rc = store_number(o, v);
        break;
    case TD__CLI_STRING:
        if (!*v)
            return td__cli_usage_error("%s: the value is empty", o->name);
        *(const char **)o->dst = v;
        break;
    case TD__CLI_CHOICE:
        rc = store_choice(o, v);
        break;
    case TD__CLI_CUSTOM:
        rc = o->parse(o->name, v, o->dst);
        break;
    default:
        break;
    }
    if (!rc && o->given)
        *o->given = 1;
    return rc;
}

static const td__cli_opt *find_option(const td__cli_spec *s, const char *a, size_t len)
{
    for (const td__cli_opt *o = s->opts; o && o->kind != TD__CLI_END; o++) {
        if (o->kind == TD__CLI_POS || o->kind == TD__CLI_POS_LIST || o->kind == TD__CLI_SECTION)
            continue;
        if ((strlen(o->name) == len && !strncmp(o->name, a, len)) ||
            (o->alias && strlen(o->alias) == len && !strncmp(o->alias, a, len)))
            return o;
    }
    return NULL;
}

static void list_subs(const char *cmd, const char *about, const td__cli_sub *subs, FILE *f)
{
    fprintf(f, "usage: %s %s COMMAND [ARGS]\n", td__cli_program, cmd);
    if (about && *about) {
        fputc('\n', f);
        td__cli_wrap(f, about, 0, 0, HELP_WIDTH);
        fputc('\n', f);
    }
    fprintf(f, "\ncommands:\n");
    for (const td__cli_sub *c = subs; c->name; c++)
        print_row(f, c->name, c->summary);
    fprintf(f, "\nRun '%s %s COMMAND --help' for a command's options.\n", td__cli_program, cmd);
}

int td__cli_dispatch(const char *cmd, const char *about, const td__cli_sub *subs, int argc,
                     char **argv)
{
    current = NULL;
    if (argc < 2) {
        list_subs(cmd, about, subs, stderr);
        return TD_CLI_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        list_subs(cmd, about, subs, stdout);
        return 0;
    }
    for (const td__cli_sub *c = subs; c->name; c++)
        if (!strcmp(c->name, name))
            return c->fn(argc - 1, argv + 1);
    const char *best = NULL;
    int best_d = 3;
    for (const td__cli_sub *c = subs; c->name; c++) {
        int d = td__cli_distance(name, c->name);
        if (d < best_d && d < (int)strlen(name)) {
            best_d = d;
            best = c->name;
        }
    }
    if (best)
        fprintf(stderr, "%s %s: unknown command '%s' (did you mean '%s'?)\n\n", td__cli_program,
                cmd, name, best);
    else
        fprintf(stderr, "%s %s: unknown command '%s'\n\n", td__cli_program, cmd, name);
    list_subs(cmd, about, subs, stderr);
    return TD_CLI_USAGE;
}

int td__cli_parse(const td__cli_spec *s, int argc, char **argv)
{
    const td__cli_opt *positional[16];
    const td__cli_opt *seen[64];
    int nseen = 0;
    int npos_rows = 0, used = 0, list_n = 0, dashdash = 0;
    current = s;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--"))
            break;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            td__cli_help(s, stdout);
            return 0;
        }
    for (const td__cli_opt *o = s->opts; o && o->kind != TD__CLI_END; o++)
        if ((o->kind == TD__CLI_POS || o->kind == TD__CLI_POS_LIST) && npos_rows < 16)
            positional[npos_rows++] = o;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && !strcmp(a, "--")) {
            dashdash = 1;
            continue;
        }
        if (!dashdash && a[0] == '-' && a[1] && !(a[1] >= '0' && a[1] <= '9') && a[1] != '.') {
            const char *eq = strchr(a, '=');
            size_t len = eq && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
            const td__cli_opt *o = find_option(s, a, len);
            if (!o)
                return unknown_option(s, a, len);
            if (nseen < 64)
                seen[nseen++] = o;
            if (o->kind == TD__CLI_FLAG) {
                if (eq && a[1] == '-')
                    return td__cli_usage_error("%s takes no value", o->name);
                *(int *)o->dst = 1;
                if (o->given)
                    *o->given = 1;
                continue;
            }
            const char *v;
            if (eq && a[1] == '-')
                v = eq + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else
                return td__cli_usage_error("%s needs a value (%s)", o->name,
                                           o->arg ? o->arg : "a value");
            int rc = store(o, v);
            if (rc)
                return rc;
            continue;
        }
        /* A positional argument: the next positional row, or the list. */
        if (used < npos_rows && positional[used]->kind == TD__CLI_POS) {
            *(const char **)positional[used]->dst = a;
            used++;
            continue;
        }
        if (used < npos_rows && positional[used]->kind == TD__CLI_POS_LIST) {
            const td__cli_opt *o = positional[used];
            if (list_n >= (int)o->hi)
                return td__cli_usage_error("at most %.0f %s (got more: '%s')", o->hi, o->name, a);
            ((const char **)o->dst)[list_n++] = a;
            *o->count = list_n;
            continue;
        }
        if (npos_rows == 0)
            return td__cli_usage_error("takes no arguments (got '%s')", a);
        return td__cli_usage_error("unexpected argument '%s' (after %s)", a,
                                   positional[npos_rows - 1]->name);
    }
    for (const td__cli_opt *o = s->opts; o && o->kind != TD__CLI_END; o++) {
        int given = 0;
        for (int k = 0; k < nseen && !given; k++)
            given = seen[k] == o;
        if (o->required && !given)
            return td__cli_usage_error("missing %s %s", o->name, o->arg ? o->arg : "");
    }
    for (int k = used; k < npos_rows; k++) {
        const td__cli_opt *o = positional[k];
        if (o->kind == TD__CLI_POS && o->lo > 0)
            return td__cli_usage_error("missing %s", o->name);
        if (o->kind == TD__CLI_POS_LIST) {
            if (o->count && list_n == 0)
                *o->count = 0;
            if (list_n < (int)o->lo && o->hi > o->lo)
                return td__cli_usage_error("needs %.0f to %.0f %s arguments (got %d)", o->lo, o->hi,
                                           o->name, list_n);
            if (list_n < (int)o->lo)
                return td__cli_usage_error("needs at least %.0f %s arguments (got %d)", o->lo,
                                           o->name, list_n);
        }
    }
    return TD_CLI_RUN;
}
