/*
 * fuzz_logs_layouts.c - log folders as `trackday logs DIR` reads them: the input is a small
 * file tree, written to a scratch directory, then read the ways `logs` reads a directory
 * (a folder of CSVs; the DeepRacer layouts td_simtrace_find recognises, training, evaluation
 * and leaderboard runs apart) and analysed (fuzz_simtrace.h); a model directory also gets the
 * pictures of `trackday plot
 * DIR` (td_plot_model_dir: its metrics file, training and evaluation logs). Mutations change
 * the file names (iteration numbers, "eval" in the path, depth) as well as the contents.
 *
 * Input: entries "@@ RELATIVE/PATH\n" followed by that file's bytes, up to the next line
 * starting "@@ ". Paths keep [A-Za-z0-9._-] and '/', no "..", at most 4 levels; at most
 * 32 files. tests/fuzz/make-seeds writes DeepRacer's layouts in this form.
 */
#include <sys/stat.h>

#include "fuzz_simtrace.h"

#define MAX_FILES 32

/* Makes a safe relative path from [b, e); returns 0 if nothing usable is left. */
static int clean_path(const char *b, const char *e, char *out, size_t cap)
{
    size_t k = 0;
    int depth = 0;
    for (const char *p = b; p < e && k + 1 < cap; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-' || c == '/';
        if (!ok)
            continue;
        if (c == '/') {
            if (k == 0 || out[k - 1] == '/' || ++depth > 3)
                continue;
        }
        if (c == '.' && (k == 0 || out[k - 1] == '/' || out[k - 1] == '.'))
            continue; /* no "..", no hidden names */
        out[k++] = c;
    }
    while (k > 0 && out[k - 1] == '/')
        k--;
    out[k] = '\0';
    return k > 0;
}

static void make_parents(char *path, size_t root_len)
{
    for (char *p = path + root_len + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
}

static void write_entry(const char *path, const uint8_t *b, const uint8_t *e)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return; /* a name that is also a directory */
    if (e > b)
        TD_FUZZ_CHECK(fwrite(b, 1, (size_t)(e - b), f) == (size_t)(e - b));
    fclose(f);
}

/* Writes the tree; returns the number of files. */
static int write_tree(const char *root, const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    int n = 0;
    while (p < end && n < MAX_FILES) {
        /* The entry starts at a marker line; skip anything before the first. */
        if (!(end - p >= 3 && p[0] == '@' && p[1] == '@' && p[2] == ' ')) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl)
                break;
            p = nl + 1;
            continue;
        }
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *name_end = nl ? nl : end;
        char rel[160], path[400 + 160 + 2];
        const uint8_t *body = nl ? nl + 1 : end, *q = body;
        while (q < end) {
            if (end - q >= 4 && q[0] == '\n' && q[1] == '@' && q[2] == '@' && q[3] == ' ')
                break;
            q++;
        }
        const uint8_t *body_end = q < end ? q + 1 : end; /* keep the file's last newline */
        if (clean_path((const char *)p + 3, (const char *)name_end, rel, sizeof(rel))) {
            snprintf(path, sizeof(path), "%s/%s", root, rel);
            make_parents(path, strlen(root));
            write_entry(path, body, body_end);
            n++;
        }
        p = body_end;
    }
    return n;
}

static void read_and_analyze(const char *what, int (*read)(td_simtrace *, const char *, td_err *))
{
    td_simtrace t;
    td_err err;
    td_simtrace_init(&t);
    if (read(&t, what, &err) == 0)
        fuzz_simtrace_analyze(&t, NULL);
    else
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    td_simtrace_free(&t);
}

/* As `trackday logs ROOT [--eval|--leaderboard]` (src/cli/logs.c): the runs of a kind in any
 * of DeepRacer's layouts (td_simtrace_find). */
static void read_kind(const char *root, td_simtrace_kind kind)
{
    td_simtrace_files f;
    td_simtrace t;
    td_err err;
    td_simtrace_init(&t);
    if (td_simtrace_find(root, kind, &f, &err) == 0) {
        if (td_simtrace_read_files(&t, &f, &err) == 0)
            fuzz_simtrace_analyze(&t, NULL);
        else
            TD_FUZZ_CHECK(err.msg[0] != '\0');
        td_simtrace_files_free(&f);
    } else {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_simtrace_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    static unsigned long run;
    char root[400], logs[420];
    snprintf(root, sizeof(root), "%s/tree-%lu", td_fuzz_scratch_dir(), run++);
    TD_FUZZ_CHECK(mkdir(root, 0755) == 0);
    if (write_tree(root, data, size) > 0) {
        read_kind(root, TD_SIMTRACE_TRAINING);
        read_kind(root, TD_SIMTRACE_EVALUATION);
        read_kind(root, TD_SIMTRACE_LEADERBOARD);
        snprintf(logs, sizeof(logs), "%s/logs", root);
        struct stat st;
        if (stat(logs, &st) == 0 && S_ISDIR(st.st_mode)) {
            char pictures[460];
            snprintf(pictures, sizeof(pictures), "%s/pictures", root);
            TD_FUZZ_CHECK(mkdir(pictures, 0755) == 0 || errno == EEXIST);
            td_plot_output out;
            td_err err;
            (void)td_plot_model_dir(root, NULL, pictures, 20, &out, &err);
        }
        read_and_analyze(root, td_simtrace_read_dir);
    }
    TD_FUZZ_CHECK(td_fuzz_rm_tree(root) == 0);
    TD_FUZZ_END();
    return 0;
}
