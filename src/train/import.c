/*
 * import.c - a DeepRacer model folder or archive made into a trackday model directory
 * (import.h): the configuration files and the reward function are found wherever the
 * DeepRacer tool that wrote the folder keeps them, copied unchanged (they are DeepRacer's
 * formats, which trackday reads), and checked as training reads them. TensorFlow checkpoints
 * are counted and reported: trackday cannot load them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trackday/archive.h"
#include "trackday/import.h"

#define MAX_FILE       (16u << 20)
#define MAX_ARCHIVE    (8ull << 30)
#define MAX_DEPTH      8
#define MAX_ENTRIES    200000
#define MAX_CANDIDATES 64

/* A copy of a wanted file found in the source. */
typedef struct candidate {
    int which; /* TD_IMPORT_* */
    int rank;  /* lower is better: depth * 4 + preference among names */
    char path[1024];
    char name[64]; /* the name it gets in the model directory */
    char *data;    /* archive: its bytes; folder: read when chosen */
    size_t len;
} candidate;

typedef struct import_state {
    candidate c[MAX_CANDIDATES];
    int n;
    int entries;
    int tf_files;
    char tf_examples[3][256];
} import_state;

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int depth_of(const char *path)
{
    int d = 0;
    for (const char *c = path; *c; c++)
        d += *c == '/';
    return d;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Replaces each occurrence of `from` in msg (capacity cap) by `to`. */
static void replace_in(char *msg, size_t cap, const char *from, const char *to)
{
    char out[TD_ERR_MSG_LEN];
    size_t o = 0, fl = strlen(from), tl = strlen(to);
    if (!fl)
        return;
    for (const char *p = msg; *p && o + 1 < sizeof(out);) {
        if (!strncmp(p, from, fl) && o + tl + 1 < sizeof(out)) {
            memcpy(out + o, to, tl);
            o += tl;
            p += fl;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    snprintf(msg, cap, "%s", out);
}

/* Which wanted file a name is, and how much it is preferred (-1: none). */
static int classify(const char *name, int *pref, const char **as)
{
    *pref = 0;
    if (!strcmp(name, "model_metadata.json")) {
        *as = "model_metadata.json";
        return TD_IMPORT_METADATA;
    }
    if (!strcmp(name, "hyperparameters.json")) {
        *as = "hyperparameters.json";
        return TD_IMPORT_HYPERPARAMETERS;
    }
    if (!strcmp(name, "reward_function.py")) {
        *as = "reward_function.py";
        return TD_IMPORT_REWARD;
    }
    if (!strcmp(name, "training_params.yaml")) {
        *as = "training_params.yaml";
        return TD_IMPORT_TRAINING_PARAMS;
    }
    /* deepracer-for-cloud's multi-config copies (training_params_1.yaml, ...) and DeepRacer
     * on AWS's training-params names come after the plain name; run.env last. */
    if ((!strncmp(name, "training_params", 15) || !strncmp(name, "training-params", 15)) &&
        ends_with(name, ".yaml")) {
        *pref = 1;
        *as = "training_params.yaml";
        return TD_IMPORT_TRAINING_PARAMS;
    }
    /* deepracer-for-cloud's evaluation settings (eval_params.yaml in its older versions). */
    if (!strcmp(name, "evaluation_params.yaml") || !strcmp(name, "eval_params.yaml")) {
        *pref = name[1] == 'v' ? 0 : 1;
        *as = "evaluation_params.yaml";
        return TD_IMPORT_EVALUATION_PARAMS;
    }
    if (!strcmp(name, "run.env")) {
        *pref = 2;
        *as = "run.env";
        return TD_IMPORT_TRAINING_PARAMS;
    }
    return -1;
}

/* TensorFlow's checkpoints and frozen graphs, and rl_coach's checkpoint index. */
static int is_tensorflow(const char *name)
{
    return strstr(name, ".ckpt") != NULL || ends_with(name, ".pb") || !strcmp(name, "checkpoint") ||
           !strcmp(name, ".coach_checkpoint") || ends_with(name, ".ready") ||
           !strcmp(name, "model.tar.gz");
}

static void note_tf(import_state *s, const char *path)
{
    if (s->tf_files < 3)
        snprintf(s->tf_examples[s->tf_files], sizeof(s->tf_examples[0]), "%.200s", path);
    s->tf_files++;
}

/* Records a candidate; data (may be NULL) is taken over. */
static void add_candidate(import_state *s, const char *path, char *data, size_t len)
{
    int pref;
    const char *as;
    int which = classify(base_name(path), &pref, &as);
    if (which < 0 || s->n >= MAX_CANDIDATES || strlen(path) >= sizeof(s->c[0].path)) {
        td_free(data);
        return;
    }
    candidate *c = &s->c[s->n++];
    c->which = which;
    c->rank = depth_of(path) * 4 + pref;
    snprintf(c->path, sizeof(c->path), "%s", path);
    snprintf(c->name, sizeof(c->name), "%s", as);
    c->data = data;
    c->len = len;
}

/* ---- archives -------------------------------------------------------------------------- */

static int tar_want(void *user, const char *name, uint64_t size)
{
    import_state *s = user;
    int pref;
    const char *as;
    (void)size;
    if (is_tensorflow(base_name(name)))
        note_tf(s, name);
    return classify(base_name(name), &pref, &as) >= 0;
}

static int tar_file(void *user, const char *name, const char *data, size_t len, td_err *err)
{
    import_state *s = user;
    char *copy = td_malloc(len + 1);
    if (!copy)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    memcpy(copy, data, len + 1);
    add_candidate(s, name, copy, len);
    return 0;
}

/* ---- folders --------------------------------------------------------------------------- */

static int walk(import_state *s, const char *root, const char *rel, int depth, td_err *err)
{
    char dir[8192];
    int ld = snprintf(dir, sizeof(dir), "%s%s%s", root, rel[0] ? "/" : "", rel);
    if (ld < 0 || (size_t)ld >= sizeof(dir))
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return depth == 0 ? td_err_set(err, TD_EIO, "%s: cannot open: %s", root, strerror(errno))
                          : 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (++s->entries > MAX_ENTRIES) {
            rc = td_err_set(err, TD_ERANGE, "%s: more than %d files; is it a model folder?", root,
                            MAX_ENTRIES);
            break;
        }
        char sub[4096], full[8192];
        int ls = snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        int lf = snprintf(full, sizeof(full), "%s/%s", root, sub);
        if (ls < 0 || (size_t)ls >= sizeof(sub) || lf < 0 || (size_t)lf >= sizeof(full))
            continue; /* deeper than any model folder */
        struct stat st;
        if (lstat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < MAX_DEPTH)
                rc = walk(s, root, sub, depth + 1, err);
        } else if (S_ISREG(st.st_mode)) {
            if (is_tensorflow(e->d_name))
                note_tf(s, sub);
            add_candidate(s, sub, NULL, 0);
        }
    }
    closedir(d);
    return rc;
}

/* ---- the import ------------------------------------------------------------------------ */

static void free_state(import_state *s)
{
    for (int i = 0; i < s->n; i++)
        td_free(s->c[i].data);
}

static int is_empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = 0;
    closedir(d);
    return empty;
}

int td_model_import(const char *src, const char *dst, int force, td_import_report *rep, td_err *err)
{
    import_state *s = td_calloc(1, sizeof(*s));
    struct stat st;
    char tmp[1200];
    int rc = 0;
    memset(rep, 0, sizeof(*rep));
    if (!s)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    if (stat(src, &st) != 0) {
        td_free(s);
        return td_err_set(err, TD_ENOENT, "%s: no such file or folder", src);
    }
    if (td_path_exists(dst) && !is_empty_dir(dst) && !force) {
        td_free(s);
        return td_err_set(err, TD_EINVAL,
                          "%s already exists; import into a new directory (or add --force to "
                          "replace it)",
                          dst);
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(rep->kind, sizeof(rep->kind), "model folder");
        rc = walk(s, src, "", 0, err);
    } else {
        snprintf(rep->kind, sizeof(rep->kind), "model archive");
        rc = td_archive_stream_file(src, tar_want, tar_file, s, MAX_ARCHIVE, MAX_FILE, err);
    }
    /* The best copy of each file. */
    int best[TD_IMPORT_FILES];
    for (int k = 0; k < TD_IMPORT_FILES; k++)
        best[k] = -1;
    for (int i = 0; !rc && i < s->n; i++) {
        int k = s->c[i].which;
        if (best[k] < 0 || s->c[i].rank < s->c[best[k]].rank ||
            (s->c[i].rank == s->c[best[k]].rank && strcmp(s->c[i].path, s->c[best[k]].path) < 0))
            best[k] = i;
    }
    rep->tf_files = s->tf_files;
    memcpy(rep->tf_examples, s->tf_examples, sizeof(rep->tf_examples));
    if (!rc && best[TD_IMPORT_METADATA] < 0)
        rc = td_err_set(err, TD_ENOENT,
                        "%s: no model_metadata.json in this %s (a DeepRacer model keeps it at "
                        "the top or in model/)",
                        src, rep->kind);

    /* Written beside dst, checked, then renamed into place. */
    if (!rc) {
        int n = snprintf(tmp, sizeof(tmp), "%s.import-%ld", dst, (long)getpid());
        if (n < 0 || (size_t)n >= sizeof(tmp))
            rc = td_err_set(err, TD_EINVAL, "%s: path too long", dst);
    }
    if (!rc)
        rc = td_mkdir_p(tmp, err);
    for (int k = 0; !rc && k < TD_IMPORT_FILES; k++) {
        if (best[k] < 0)
            continue;
        candidate *c = &s->c[best[k]];
        char from[8192], to[1300];
        snprintf(to, sizeof(to), "%s/%s", tmp, c->name);
        if (!c->data) {
            int n = snprintf(from, sizeof(from), "%s/%s", src, c->path);
            if (n < 0 || (size_t)n >= sizeof(from)) {
                rc = td_err_set(err, TD_EINVAL, "%s: path too long", src);
                break;
            }
            rc = td_file_read(from, &c->data, &c->len, err);
            if (!rc && c->len > MAX_FILE)
                rc = td_err_set(err, TD_ERANGE, "%s: more than %u bytes", from, MAX_FILE);
        }
        if (!rc)
            rc = td_file_write_atomic(to, c->data, c->len, err);
        snprintf(rep->source[k], sizeof(rep->source[k]), "%.500s/%.500s", src, c->path);
        snprintf(rep->written[k], sizeof(rep->written[k]), "%s", c->name);
    }
    if (!rc) {
        rc = td_model_dir_load(&rep->dir, tmp, err);
        /* Messages name the files where the user finds them, never the temporary: the
         * imported directory's (warnings), or the source's (a refusal: nothing is written). */
        char from[1400], to[1400];
        snprintf(from, sizeof(from), "%s/", tmp);
        snprintf(to, sizeof(to), "%s/", dst);
        for (int i = 0; i < rep->dir.warnings.n; i++)
            replace_in(rep->dir.warnings.msg[i], sizeof(rep->dir.warnings.msg[i]), from, to);
        if (rc) {
            for (int k = 0; k < TD_IMPORT_FILES; k++) {
                if (!rep->written[k][0])
                    continue;
                snprintf(from, sizeof(from), "%s/%s", tmp, rep->written[k]);
                replace_in(err->msg, sizeof(err->msg), from, rep->source[k]);
            }
            td_err_prefix(err, rc, "the imported files do not load as trackday reads them: ");
        }
    }
    if (!rc && td_path_exists(dst)) {
        /* --force: the directory it replaces is kept beside it, never deleted. */
        if (is_empty_dir(dst)) {
            rmdir(dst);
        } else {
            int n = snprintf(rep->moved_aside, sizeof(rep->moved_aside), "%s.before-import-%ld",
                             dst, (long)time(NULL));
            if (n < 0 || (size_t)n >= sizeof(rep->moved_aside) ||
                rename(dst, rep->moved_aside) != 0)
                rc = td_err_set(err, TD_EIO, "%s: cannot move it aside: %s", dst, strerror(errno));
        }
    }
    if (!rc) {
        if (rename(tmp, dst) != 0)
            rc = td_err_set(err, TD_EIO, "%s: cannot create: %s", dst, strerror(errno));
        snprintf(rep->dir.path, sizeof(rep->dir.path), "%s", dst);
    }
    if (rc && td_path_exists(tmp))
        td_remove_tree(tmp);
    free_state(s);
    td_free(s);
    return rc;
}
