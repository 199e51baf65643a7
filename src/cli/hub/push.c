/*
 * push.c - `trackday push DIR` and `trackday pull MODEL`: a model directory to the hub's
 * registry (a new model, or the next version of the model of that name) and back.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "cli/hub/hubcli.h"
#include "trackday/hubclient.h"

/* The model name a directory gets: its last path component, cleaned. */
static void name_of_dir(const char *dir, char *out, size_t cap)
{
    char buf[1024];
    size_t n;
    snprintf(buf, sizeof(buf), "%s", dir);
    n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = 0;
    const char *base = strrchr(buf, '/');
    base = base ? base + 1 : buf;
    n = 0;
    for (const char *p = base; *p && n + 1 < cap && n < 64; p++)
        out[n++] = (isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-') ? *p : '-';
    out[n] = 0;
    if (!n || !isalnum((unsigned char)out[0]))
        snprintf(out, cap, "model");
}

/* Percent-encodes s for a query string. */
static void url_encode(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 4 < cap; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
    }
    out[n] = 0;
}

int td__cli_push(td_hubc *c, const char *dir, const char *name, long long *model_id,
                 long long *version, int *created)
{
    char tgz[1100], path[600], enc[300], meta[1200];
    td_err err;
    int rc;
    snprintf(meta, sizeof(meta), "%s/model_metadata.json", dir);
    if (!td_path_exists(meta))
        return td__cli_fail("%s is not a model directory (no model_metadata.json; trackday init "
                            "makes one)",
                            dir);
    snprintf(tgz, sizeof(tgz), "%s/.trackday-push-%ld.tar.gz",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    td__cli_status("packing %s", dir);
    rc = td_hubc_pack_dir(dir, tgz, &err);
    td__cli_status_done();
    if (rc)
        return td__cli_fail("%s", err.msg);
    url_encode(name, enc, sizeof(enc));
    snprintf(path, sizeof(path), "/api/v1/models?name=%s", enc);
    rc = td_hubc_json(c, "GET", path, NULL, &err);
    if (rc || c->status != 200) {
        unlink(tgz);
        return td__cli_hub_fail(c, "push", rc, err.msg);
    }
    json_t *models = json_object_get(c->json, "models");
    long long existing =
        json_array_size(models)
            ? (long long)json_integer_value(json_object_get(json_array_get(models, 0), "id"))
            : 0;
    *created = !existing;
    if (existing)
        snprintf(path, sizeof(path), "/api/v1/models/%lld/versions", existing);
    else
        snprintf(path, sizeof(path), "/api/v1/models?name=%s", enc);
    td__cli_status("uploading %s", dir);
    rc = td_hubc_upload(c, "POST", path, tgz, &err);
    td__cli_status_done();
    unlink(tgz);
    if (rc || c->status != 201)
        return td__cli_hub_fail(c, "push", rc, err.msg);
    if (existing) {
        *model_id = existing;
        *version = json_integer_value(json_object_get(c->json, "version"));
    } else {
        *model_id = json_integer_value(json_object_get(c->json, "id"));
        *version = json_integer_value(json_object_get(c->json, "latest_version"));
    }
    return 0;
}

static int cmd_push(int argc, char **argv)
{
    const char *dir = NULL, *name = NULL, *hub = NULL;
    char autoname[80];
    long long id = 0, version = 0;
    int created = 0;
    td_hubc c;
    const td__cli_opt opts[] = {
        TD_CLI_POS("DIR", &dir, "the model directory"),
        TD_CLI_STRING(NULL, "--name", &name, "N", "the model's name on the hub (default: DIR's)"),
        TD_CLI_STRING(NULL, "--hub", &hub, "URL",
                      "the hub (default: $TRACKDAY_HUB, else the one of trackday login)"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "push",
        .about = "Sends the model directory DIR to the hub's registry: a new model named N, or "
                 "the next version of your model of that name.",
        .opts = opts};
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (!name) {
        name_of_dir(dir, autoname, sizeof(autoname));
        name = autoname;
    }
    if (td__cli_hub_connect(&c, hub))
        return 1;
    int rc = td__cli_push(&c, dir, name, &id, &version, &created);
    td_hubc_free(&c);
    if (rc)
        return rc;
    printf("pushed %s: model %lld '%s' version %lld%s\n", dir, id, name, version,
           created ? " (new model)" : "");
    return 0;
}

/* Finds a model by id or name; returns its id or 0 (message printed). */
static long long find_model(td_hubc *c, const char *spec)
{
    char path[400], enc[300];
    td_err err;
    char *end;
    long long id = strtoll(spec, &end, 10);
    if (*spec && !*end && id > 0)
        return id;
    url_encode(spec, enc, sizeof(enc));
    snprintf(path, sizeof(path), "/api/v1/models?name=%s", enc);
    int rc = td_hubc_json(c, "GET", path, NULL, &err);
    if (rc || c->status != 200) {
        td__cli_hub_fail(c, "pull", rc, err.msg);
        return 0;
    }
    json_t *m = json_array_get(json_object_get(c->json, "models"), 0);
    if (!m) {
        td__cli_fail("you have no model named '%s' (trackday jobs and GET /api/v1/models list "
                     "them)",
                     spec);
        return 0;
    }
    return json_integer_value(json_object_get(m, "id"));
}

int td__cli_pull(td_hubc *c, long long id, long long v, const char *dir)
{
    char path[200], tgz[1200];
    td_err err;
    int rc;
    if (v > 0)
        snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/%lld/download", id, v);
    else
        snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/latest/download", id);
    snprintf(tgz, sizeof(tgz), "%s/.trackday-pull-%ld.tar.gz",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    td__cli_status("downloading into %s", dir);
    rc = td_hubc_download(c, path, tgz, &err);
    td__cli_status_done();
    if (rc || c->status != 200)
        return td__cli_hub_fail(c, "pull", rc, err.msg);
    td__cli_status("unpacking into %s", dir);
    rc = td_hubc_unpack(tgz, dir, &err);
    td__cli_status_done();
    unlink(tgz);
    if (rc)
        return td__cli_fail("%s", err.msg);
    return 0;
}

static int cmd_pull(int argc, char **argv)
{
    const char *spec = NULL, *out = NULL, *hub = NULL;
    int force = 0;
    char dir[1024], name[300];
    long long id, version = 0;
    td_hubc c;
    const td__cli_opt opts[] = {
        TD_CLI_POS("MODEL[@VERSION]", &spec,
                   "a model of yours by name or id, and a version (default: the latest)"),
        TD_CLI_STRING("-o", "--out", &out, "DIR", "where to write it (default: the model's name)"),
        TD_CLI_FLAG("--force", &force, "write over the files of an existing DIR"),
        TD_CLI_STRING(NULL, "--hub", &hub, "URL",
                      "the hub (default: $TRACKDAY_HUB, else the one of trackday login)"),
        TD_CLI_END,
    };
    const td__cli_spec cspec = {
        .name = "pull",
        .about = "Downloads a model version from the hub's registry into a model directory.",
        .opts = opts};
    int prc = td__cli_parse(&cspec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    snprintf(name, sizeof(name), "%s", spec);
    char *at = strchr(name, '@');
    if (at) {
        *at = 0;
        char *end;
        version = strtoll(at + 1, &end, 10);
        if (*end || version < 1)
            return td__cli_fail("'%s': the version after @ must be a number", spec);
    }
    if (td__cli_hub_connect(&c, hub))
        return 1;
    id = find_model(&c, name);
    if (!id) {
        td_hubc_free(&c);
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s", out ? out : name);
    if (!force && td_path_exists(dir)) {
        td_hubc_free(&c);
        return td__cli_fail("%s exists: choose another directory (-o DIR) or --force to write "
                            "over its files",
                            dir);
    }
    int rc = td__cli_pull(&c, id, version, dir);
    td_hubc_free(&c);
    if (rc)
        return rc;
    printf("pulled model %lld%s%s into %s\n", id, version ? " version " : "", version ? at + 1 : "",
           dir);
    return 0;
}

TD_CLI_COMMAND("push", "send a model directory to the hub's registry", cmd_push)
TD_CLI_COMMAND("pull", "download a model version from the hub", cmd_pull)
