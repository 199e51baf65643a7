/*
 * test_deepracer_doc.c - keeps docs/deepracer.md true: its key tables against the keys the
 * configuration readers know (every key both ways, and each status), the simtrace columns
 * against the writer's header, the number of DeepRacer route names against trackday's list,
 * every status word against the legend, and every test the page names (in "checked by"
 * columns and in the text) against the test files.
 */
#include <ctype.h>
#include <string.h>

#include "td_test.h"
#include "trackday/modeldir.h"
#include "trackday/simtrace.h"
#include "trackday/track.h"

#define DOC TD_TEST_SOURCE_DIR "/docs/deepracer.md"

/* The cells of a table row ("| a | b |"), trimmed, into cells[]; returns the count. */
static int cells_of(const char *line, char cells[][2048], int max)
{
    int n = 0;
    const char *p = strchr(line, '|');
    if (!p)
        return 0;
    p++;
    while (*p && n < max) {
        const char *bar = strchr(p, '|');
        if (!bar)
            break;
        const char *b = p, *e = bar;
        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        size_t len = (size_t)(e - b) < 2047 ? (size_t)(e - b) : 2047;
        memcpy(cells[n], b, len);
        cells[n][len] = '\0';
        n++;
        p = bar + 1;
    }
    return n;
}

/* Each line of the document, in turn (the text is modified). */
static char *next_line(char **cursor)
{
    char *s = *cursor;
    if (!s || !*s)
        return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = s + strlen(s);
    }
    return s;
}

TD_TEST(key_tables_match_the_readers)
{
    char *doc = td_test_slurp(DOC);
    char *cursor = doc, *line;
    int file = -1, seen[TD_CONFIG_FILE_COUNT][256];
    memset(seen, 0, sizeof(seen));
    static char cells[8][2048];
    while ((line = next_line(&cursor)) != NULL) {
        if (!strncmp(line, "### Keys of `", 13)) {
            file = -1;
            for (int f = 0; f < TD_CONFIG_FILE_COUNT; f++) {
                char want[128];
                TD_FMT(want, "### Keys of `%s`", td_config_file_name(f));
                if (!strcmp(line, want))
                    file = f;
            }
            TD_ASSERT_MSG(file >= 0, "unknown key table: %s", line);
            continue;
        }
        if (line[0] == '#')
            file = -1;
        if (file < 0 || strncmp(line, "| `", 3) != 0)
            continue;
        int n = cells_of(line, cells, 8);
        TD_ASSERT_MSG(n >= 2, "row: %s", line);
        char key[128];
        size_t kl = strlen(cells[0]);
        TD_ASSERT(kl > 2 && cells[0][0] == '`' && cells[0][kl - 1] == '`');
        TD_FMT(key, "%.*s", (int)(kl - 2), cells[0] + 1);
        const td_config_key *k = td_config_key_find(file, key);
        TD_ASSERT_MSG(k != NULL, "%s lists %s, which trackday's reader does not know",
                      td_config_file_name(file), key);
        TD_ASSERT_MSG(!strcmp(cells[1], td_key_status_name(k->status)),
                      "%s %s: the page says '%s', the reader '%s'", td_config_file_name(file), key,
                      cells[1], td_key_status_name(k->status));
        int nk;
        const td_config_key *all = td_config_keys(file, &nk);
        seen[file][k - all]++;
    }
    for (int f = 0; f < TD_CONFIG_FILE_COUNT; f++) {
        int nk;
        const td_config_key *all = td_config_keys(f, &nk);
        for (int i = 0; i < nk; i++)
            TD_ASSERT_MSG(seen[f][i] == 1, "%s key %s is in the page %d times (once expected)",
                          td_config_file_name(f), all[i].name, seen[f][i]);
    }
    td_free(doc);
}

TD_TEST(simtrace_columns_and_route_names_match)
{
    char *doc = td_test_slurp(DOC);
    const char *mark = strstr(doc, "<!-- simtrace-columns -->");
    TD_ASSERT(mark != NULL);
    const char *open = strchr(mark, '`');
    TD_ASSERT(open != NULL);
    const char *close = strchr(open + 1, '`');
    TD_ASSERT(close != NULL);
    char header[512];
    TD_FMT(header, "%.*s\n", (int)(close - open - 1), open + 1);
    TD_ASSERT_STREQ(header, td_simtrace_header());
    int n;
    td_deepracer_route_names(&n);
    char want[64];
    TD_FMT(want, "%d route names", n);
    TD_ASSERT_CONTAINS(doc, want);
    TD_FMT(want, "all %d known", n);
    TD_ASSERT_CONTAINS(doc, want);
    td_free(doc);
}

/* Whether tests/FILE defines the test NAME (TD_TEST(NAME) in C, `check NAME` in a script). */
static int test_exists(const char *file, const char *name)
{
    char path[512], want[256];
    TD_FMT(path, "%s/tests/%s", TD_TEST_SOURCE_DIR, file);
    if (!td_path_exists(path))
        return 0;
    char *text = td_test_slurp(path);
    if (strstr(file, ".c"))
        TD_FMT(want, "TD_TEST(%s)", name);
    else
        TD_FMT(want, "check %s ", name);
    int ok = strstr(text, want) != NULL;
    td_free(text);
    return ok;
}

TD_TEST(statuses_and_checked_by_are_real)
{
    static const char *const statuses[] = {"same", "extension", "no effect", "not supported",
                                           "open"};
    char *doc = td_test_slurp(DOC);
    char *cursor = doc, *line;
    static char cells[8][2048];
    int status_col = -1, rows = 0, refs = 0;
    while ((line = next_line(&cursor)) != NULL) {
        if (line[0] != '|') {
            status_col = -1;
            continue;
        }
        int n = cells_of(line, cells, 8);
        if (status_col == -1 && strncmp(line, "|---", 4) != 0) {
            /* A table's header row says which column holds the status. */
            status_col = -2; /* a table without one */
            for (int c = 0; c < n; c++)
                if (!strcmp(cells[c], "status"))
                    status_col = c;
            continue;
        }
        if (!strncmp(line, "|---", 4))
            continue;
        if (status_col >= 0 && status_col < n && strcmp(cells[0], "status") != 0) {
            int ok = 0;
            for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]); s++)
                ok |= !strcmp(cells[status_col], statuses[s]);
            /* The legend's own rows are the status words themselves. */
            ok |= !strcmp(cells[0], cells[status_col]);
            TD_ASSERT_MSG(ok, "status '%s' is not in the legend: %s", cells[status_col], line);
            rows++;
        }
    }
    td_free(doc);
    /* Every test the page names, anywhere ("test_x.c:name", "test_y.sh:name"), exists. */
    doc = td_test_slurp(DOC);
    for (const char *p = strstr(doc, "test_"); p; p = strstr(p + 1, "test_")) {
        if (p > doc && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '/'))
            continue;
        size_t f = 0;
        while (isalnum((unsigned char)p[f]) || p[f] == '_' || p[f] == '.')
            f++;
        if (p[f] != ':' || f < 7)
            continue;
        char file[128], name[128];
        size_t k = 0;
        while (isalnum((unsigned char)p[f + 1 + k]) || p[f + 1 + k] == '_')
            k++;
        if (k == 0 || f >= sizeof(file) || k >= sizeof(name))
            continue;
        TD_FMT(file, "%.*s", (int)f, p);
        TD_FMT(name, "%.*s", (int)k, p + f + 1);
        TD_ASSERT_MSG(test_exists(file, name), "the page names test %s:%s, which does not exist",
                      file, name);
        refs++;
    }
    TD_ASSERT_GT(rows, 50);
    TD_ASSERT_GT(refs, 40);
    td_free(doc);
}

/* The differences that stay (issue 9: listed with the reason): each has its row in "What
 * trackday does not do as DeepRacer does, and why", with its status, a reason and a test. */
TD_TEST(remaining_differences_are_listed_with_their_reason)
{
    static const struct {
        const char *behaviour, *reason, *status;
    } rows[] = {
        {"more than 1024 objects", "fixed size of the params' object lists", "not supported"},
        {"deepracer-utils itself", "not packaged for Debian", "not supported"},
        {"the validator's flake8", "flake8 5.0.4", "not supported"},
        {"the validator's findings", "every finding", "extension"},
        {"\"additional evaluation\" episodes", "exactly `MIN_EVAL_TRIALS`", "not supported"},
        {"a `_cw`/`_ccw` route made from its base", "resampled", "not supported"},
        {"TensorFlow checkpoints", "not loadable", "not supported"},
    };
    char *doc = td_test_slurp(DOC);
    const char *sec = strstr(doc, "### What trackday does not do as DeepRacer does, and why");
    TD_ASSERT(sec != NULL);
    const char *end = strstr(sec, "\n## ");
    TD_ASSERT(end != NULL);
    static char cells[8][2048];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int found = 0;
        for (const char *l = sec; l && l < end; l = strchr(l + 1, '\n')) {
            char line[8192];
            const char *nl = strchr(l + 1, '\n');
            size_t n = nl ? (size_t)(nl - l - 1) : strlen(l + 1);
            if (n >= sizeof(line))
                n = sizeof(line) - 1;
            memcpy(line, l + 1, n);
            line[n] = '\0';
            if (strncmp(line, "| ", 2) || cells_of(line, cells, 8) != 5 ||
                !strstr(cells[0], rows[i].behaviour))
                continue;
            found = 1;
            TD_ASSERT_MSG(strstr(cells[2], rows[i].reason) != NULL, "row '%s': no '%s' in: %s",
                          rows[i].behaviour, rows[i].reason, cells[2]);
            TD_ASSERT_STREQ(cells[3], rows[i].status);
            TD_ASSERT_MSG(strchr(cells[4], ':') != NULL, "row '%s' names no test",
                          rows[i].behaviour);
        }
        TD_ASSERT_MSG(found, "no row for '%s'", rows[i].behaviour);
    }
    td_free(doc);
}

/* The fenced block after the marker `<!-- KIND NAME -->` in a page, as a new string. */
static char *block_after(const char *page, const char *kind, const char *name)
{
    char marker[128];
    TD_FMT(marker, "<!-- %s %s -->", kind, name);
    const char *m = strstr(page, marker);
    TD_ASSERT_MSG(m != NULL, "no %s in the page", marker);
    const char *open = strstr(m, "```");
    TD_ASSERT(open != NULL);
    open = strchr(open, '\n');
    TD_ASSERT(open != NULL);
    open++;
    const char *close = strstr(open, "```");
    TD_ASSERT(close != NULL);
    size_t n = (size_t)(close - open);
    char *out = td_malloc(n + 1);
    TD_ASSERT(out != NULL);
    memcpy(out, open, n);
    out[n] = '\0';
    return out;
}

/* Each configuration page's example loads, and trackday's warnings are the page's lines. */
TD_TEST(config_pages_examples_give_their_warnings)
{
    static const char *const pages[3][2] = {{"model_metadata.md", "model_metadata.json"},
                                            {"hyperparameters.md", "hyperparameters.json"},
                                            {"training_params.md", "training_params.yaml"}};
    for (int i = 0; i < 3; i++) {
        char path[512], file[512];
        TD_FMT(path, "%s/docs/config/%s", TD_TEST_SOURCE_DIR, pages[i][0]);
        char *page = td_test_slurp(path);
        char *example = block_after(page, "example", pages[i][1]);
        char *expect = block_after(page, "warnings", pages[i][1]);
        TD_FMT(file, "%s/%s", td_test_tmpdir(), pages[i][1]);
        td_test_write(file, example);
        td_config_warnings w;
        td_config_warnings_clear(&w);
        td_err err;
        int rc;
        if (i == 0) {
            td_model_metadata m;
            rc = td_model_metadata_load(&m, file, &w, &err);
        } else if (i == 1) {
            td_hyperparams h;
            rc = td_hyperparams_load(&h, file, TD_ALGO_CLIPPED_PPO, &w, &err);
        } else {
            td_training_params p;
            rc = td_training_params_load(&p, file, &w, &err);
        }
        TD_ASSERT_MSG(rc == 0, "%s: %s", pages[i][0], err.msg);
        /* The warnings, with the file's folder taken off, line by line. */
        size_t dir_len = strlen(td_test_tmpdir()) + 1;
        char got[8192] = "";
        size_t len = 0;
        for (int k = 0; k < w.n; k++) {
            const char *msg = w.msg[k];
            if (!strncmp(msg, file, dir_len))
                msg += dir_len;
            int n = snprintf(got + len, sizeof(got) - len, "%s\n", msg);
            TD_ASSERT(n > 0 && (size_t)n < sizeof(got) - len);
            len += (size_t)n;
        }
        TD_ASSERT_STREQ(got, expect);
        td_free(example);
        td_free(expect);
        td_free(page);
    }
}
