/*
 * outbox.c - the agent's disk buffer (agent.h): reports and telemetry windows wait in
 * DIR/outbox as one file each, named SEQ-KIND.json (SEQ 16 digits, so names sort in the order
 * they were queued), until the hub takes them. Each file is written atomically, so a killed
 * agent leaves whole messages; the queue is bounded in files and bytes, the oldest telemetry
 * dropped first.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trackday/agent.h"

#define NAME_LEN 64

typedef struct entry {
    char name[NAME_LEN];
    size_t bytes;
    int telemetry;
} entry;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int valid_name(const char *n, int *telemetry)
{
    size_t len = strlen(n);
    if (len < 22 || len >= NAME_LEN || strspn(n, "0123456789") != 16 || n[16] != '-' ||
        strcmp(n + len - 5, ".json"))
        return 0;
    *telemetry = !strncmp(n + 17, "telemetry", 9);
    return 1;
}

/* The queue's files, sorted (td_free the list). Temporary files of a killed write go. */
static int list(const td_agent_outbox *ob, entry **out, int *n)
{
    DIR *dh = opendir(ob->dir);
    struct dirent *de;
    entry *v = NULL;
    int cnt = 0, cap = 0;
    *out = NULL;
    *n = 0;
    if (!dh)
        return TD_EIO;
    while ((de = readdir(dh)) != NULL) {
        char path[800];
        struct stat st;
        int tel = 0;
        if (de->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", ob->dir, de->d_name) >= (int)sizeof(path))
            continue;
        if (!valid_name(de->d_name, &tel)) {
            if (strstr(de->d_name, ".tmp."))
                unlink(path);
            continue;
        }
        if (stat(path, &st) != 0)
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            entry *nv = td_realloc(v, sizeof(entry) * (size_t)cap);
            if (!nv) {
                td_free(v);
                closedir(dh);
                return TD_ENOMEM;
            }
            v = nv;
        }
        memcpy(v[cnt].name, de->d_name, strlen(de->d_name) + 1); /* valid_name: < NAME_LEN */
        v[cnt].bytes = (size_t)st.st_size;
        v[cnt].telemetry = tel;
        cnt++;
    }
    closedir(dh);
    if (cnt)
        qsort(v, (size_t)cnt, sizeof(entry), cmp_entry);
    *out = v;
    *n = cnt;
    return 0;
}

int td_agent_outbox_open(td_agent_outbox *ob, const char *dir, size_t max_bytes, int max_files,
                         td_err *err)
{
    entry *v;
    int n, rc;
    memset(ob, 0, sizeof(*ob));
    if (snprintf(ob->dir, sizeof(ob->dir), "%s/outbox", dir) >= (int)sizeof(ob->dir))
        return td_err_set(err, TD_EINVAL, "%s: path too long", dir);
    ob->max_bytes = max_bytes ? max_bytes : (size_t)16 << 20;
    ob->max_files = max_files > 0 ? max_files : 2000;
    if ((rc = td_mkdir_p(ob->dir, err)) != 0)
        return rc;
    if ((rc = list(ob, &v, &n)) != 0)
        return td_err_set(err, rc, "%s: cannot read the outbox", ob->dir);
    ob->next_seq = n ? strtoull(v[n - 1].name, NULL, 10) + 1 : 1;
    td_free(v);
    return 0;
}

/* Drops files until the queue is within its bounds, the oldest telemetry first. */
static void enforce(td_agent_outbox *ob)
{
    entry *v;
    int n;
    size_t bytes = 0;
    if (list(ob, &v, &n) != 0)
        return;
    for (int i = 0; i < n; i++)
        bytes += v[i].bytes;
    for (int pass = 0; pass < 2 && (n > ob->max_files || bytes > ob->max_bytes); pass++)
        for (int i = 0; i < n && (n > ob->max_files || bytes > ob->max_bytes); i++) {
            if (!v[i].name[0] || (pass == 0 && !v[i].telemetry))
                continue;
            char path[800];
            snprintf(path, sizeof(path), "%s/%s", ob->dir, v[i].name);
            if (unlink(path) == 0) {
                bytes -= v[i].bytes;
                v[i].name[0] = 0;
                ob->dropped++;
                n--;
            }
        }
    td_free(v);
}

int td_agent_outbox_put(td_agent_outbox *ob, const char *kind, const json_t *body, td_err *err)
{
    char path[800];
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    snprintf(path, sizeof(path), "%s/%016" PRIu64 "-%s.json", ob->dir, ob->next_seq++, kind);
    int rc = td_file_write_atomic(path, text, strlen(text), err);
    free(text);
    if (!rc)
        enforce(ob);
    return rc;
}

int td_agent_outbox_peek(td_agent_outbox *ob, char *name, size_t cap, char *kind, size_t kcap,
                         json_t **body)
{
    entry *v;
    int n;
    *body = NULL;
    if (list(ob, &v, &n) != 0)
        return 0;
    for (int i = 0; i < n; i++) {
        char path[800];
        snprintf(path, sizeof(path), "%s/%s", ob->dir, v[i].name);
        json_t *j = json_load_file(path, 0, NULL);
        if (!j) {
            unlink(path); /* cannot happen with atomic writes; never block the queue on it */
            continue;
        }
        snprintf(name, cap, "%s", v[i].name);
        const char *k = v[i].name + 17;
        size_t klen = strlen(k) - 5;
        snprintf(kind, kcap, "%.*s", (int)klen, k);
        *body = j;
        td_free(v);
        return 1;
    }
    td_free(v);
    return 0;
}

void td_agent_outbox_done(td_agent_outbox *ob, const char *name)
{
    char path[800];
    if (snprintf(path, sizeof(path), "%s/%s", ob->dir, name) < (int)sizeof(path))
        unlink(path);
}

int td_agent_outbox_count(const td_agent_outbox *ob, size_t *bytes)
{
    entry *v;
    int n;
    size_t b = 0;
    if (list(ob, &v, &n) != 0)
        n = 0;
    for (int i = 0; i < n; i++)
        b += v[i].bytes;
    td_free(v);
    if (bytes)
        *bytes = b;
    return n;
}
