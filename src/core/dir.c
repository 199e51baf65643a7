/*
 * dir.c - directory listings (one implementation: simtrace folders, track folders, image
 * folders, calibration logs, the hub's track list all list through td_dir_list), natural
 * order of names, and removal of a directory tree.
 */
#define _GNU_SOURCE /* nftw's FTW_PHYS and FTW_DEPTH */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trackday/core.h"

int td_str_natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0' && isdigit((unsigned char)a[1]))
                a++;
            while (*b == '0' && isdigit((unsigned char)b[1]))
                b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la]))
                la++;
            while (isdigit((unsigned char)b[lb]))
                lb++;
            if (la != lb)
                return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c)
                return c;
            a += la;
            b += lb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int cmp_names(const void *x, const void *y)
{
    return td_str_natural_cmp(*(char *const *)x, *(char *const *)y);
}

void td_str_sort_natural(char **names, int n)
{
    if (n > 1)
        qsort(names, (size_t)n, sizeof(char *), cmp_names);
}

typedef struct list {
    char **v;
    int n, cap;
    int errno_open; /* errno of the opendir that failed */
} list;

static int push(list *l, const char *dir, const char *name)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        char **nv = td_realloc(l->v, sizeof(char *) * (size_t)cap);
        if (!nv)
            return TD_ENOMEM;
        l->v = nv;
        l->cap = cap;
    }
    size_t n = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
    char *p = td_malloc(n);
    if (!p)
        return TD_ENOMEM;
    snprintf(p, n, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    l->v[l->n++] = p;
    return 0;
}

/* Adds the entries of dir to l; depth: levels of subdirectories still to look into. */
static int collect(list *l, const char *dir, int flags, int depth, td_dir_filter keep, void *user)
{
    DIR *d = opendir(dir);
    if (!d) {
        l->errno_open = errno;
        return errno == ENOENT || errno == ENOTDIR ? TD_ENOENT : TD_EIO;
    }
    struct dirent *de;
    int rc = 0;
    int kinds = flags & (TD_DIR_FILES | TD_DIR_DIRS);
    while (!rc && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..") ||
            (name[0] == '.' && !(flags & TD_DIR_HIDDEN)))
            continue;
        char path[4096];
        if (td_path_join(path, sizeof(path), dir, name, NULL) != 0)
            continue; /* a name that does not fit cannot be opened either */
        struct stat st;
        int known = kinds || depth > 0 ? stat(path, &st) == 0 : 1;
        if (!known)
            continue;
        int is_dir = (kinds || depth > 0) && S_ISDIR(st.st_mode);
        if (is_dir && depth > 0) {
            int sub = collect(l, path, flags | TD_DIR_PATHS, depth - 1, keep, user);
            rc = sub == TD_ENOMEM ? sub : 0; /* a folder that cannot be read holds nothing */
            continue;
        }
        if (kinds == TD_DIR_FILES && !S_ISREG(st.st_mode))
            continue;
        if (kinds == TD_DIR_DIRS && !is_dir)
            continue;
        if (kinds == (TD_DIR_FILES | TD_DIR_DIRS) && !is_dir && !S_ISREG(st.st_mode))
            continue;
        if (keep && !keep(name, user))
            continue;
        rc = push(l, (flags & TD_DIR_PATHS) ? dir : NULL, name);
    }
    closedir(d);
    return rc;
}

int td_dir_list(const char *dir, int flags, td_dir_filter keep, void *user, char ***names, int *n,
                td_err *err)
{
    list l = {0};
    *names = NULL;
    *n = 0;
    int depth = (flags >> 8) & 0xff;
    if (depth > 0)
        flags |= TD_DIR_PATHS;
    int rc = collect(&l, dir, flags, depth, keep, user);
    if (rc) {
        td_dir_list_free(l.v, l.n);
        if (rc == TD_ENOENT)
            return td_err_set(err, rc, "%s: no such directory", dir);
        if (rc == TD_EIO)
            return td_err_set(err, rc, "%s: cannot open the directory: %s", dir,
                              strerror(l.errno_open));
        return td_err_set(err, rc, "%s: out of memory listing files", dir);
    }
    td_str_sort_natural(l.v, l.n);
    *names = l.v;
    *n = l.n;
    return 0;
}

void td_dir_list_free(char **names, int n)
{
    for (int i = 0; i < n; i++)
        td_free(names[i]);
    td_free(names);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void td_remove_tree(const char *path)
{
    /* Links are removed, never followed (FTW_PHYS); no fork and exec of rm. */
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
