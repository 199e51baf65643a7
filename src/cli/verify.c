/*
 * verify.c - `trackday verify BUNDLE --key KEY.pub [--sha256 HEX] [--no-health] [--json]`: checks a
 * model bundle as a device does before running it: the Ed25519 signature of its manifest, the size
 * and SHA-256 of every file, no file beyond the manifest's, then the health check (each model
 * loads, gives the recorded outputs on the reference observations, within the latency
 * budget). Exit 0 when everything holds, 1 with the reason otherwise. See docs/cli/verify.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/status.h"
#include "trackday/bundle.h"

static json_t *health_json(const td_bundle_health *h)
{
    json_t *a = json_array();
    for (int i = 0; i < h->n_models; i++) {
        const td_bundle_model_health *r = &h->models[i];
        json_array_append_new(a,
                              json_pack("{s:s,s:b,s:i,s:i,s:f,s:f,s:f,s:f,s:b,s:s}", "model",
                                        r->path, "loaded", r->loaded, "cases", r->cases, "cases_ok",
                                        r->cases_ok, "max_diff", r->max_diff, "tolerance",
                                        r->tolerance, "latency_median_ms", r->latency_median_ms,
                                        "budget_ms", r->budget_ms, "ok", r->ok, "problem", r->why));
    }
    return a;
}

static int cmd_verify(int argc, char **argv)
{
    const char *path = NULL, *key = NULL, *sha = NULL;
    int no_health = 0, as_json = 0;
    const td__cli_opt opts[] = {
        TD_CLI_POS("BUNDLE", &path, "the bundle file (.tdb)"),
        TD_CLI_REQUIRED_STRING(NULL, "--key", &key, "KEY.pub",
                               "the public key the bundle must be signed with (trackday keygen)"),
        TD_CLI_SHA256("--sha256", &sha,
                      "the bundle file's expected SHA-256, as a deployment names it"),
        TD_CLI_FLAG("--no-health", &no_health, "check the signature and the files only"),
        TD_CLI_FLAG("--json", &as_json, "print the result as JSON"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "verify",
        .about = "Checks a bundle as a device does before running it: the signature of its "
                 "manifest (with the public key KEY.pub), the size and SHA-256 of every file, no "
                 "file beyond the manifest's, then the health check: every model loads and gives "
                 "the recorded outputs on the reference observations within the latency budget. "
                 "Exit status 0 when everything holds, 1 with the reason otherwise.",
        .opts = opts,
    };
    int rc = td__cli_parse(&spec, argc, argv);
    if (rc != TD_CLI_RUN)
        return rc;
    int health = !no_health;
    uint8_t pk[TD_SIGN_PUBLIC_BYTES];
    td_err err;
    if (td_sign_public_load(key, pk, NULL, &err) != 0)
        return td__cli_fail("verify: %s", err.msg);
    td_bundle b;
    td__cli_status("checking %s: signature, files%s", path, health ? ", health check" : "");
    if (td_bundle_open_file(&b, path, pk, sha, &err) != 0) {
        td__cli_status_done();
        td_bundle_close(&b);
        return td__cli_fail("verify: REFUSED: %s", err.msg);
    }
    td_bundle_health h;
    memset(&h, 0, sizeof(h));
    h.ok = 1;
    int hrc = health ? td_bundle_health_check(&b, NULL, &h, &err) : 0;
    td__cli_status_done();
    if (hrc != 0) {
        td_bundle_close(&b);
        return td__cli_fail("verify: REFUSED: health check: %s", err.msg);
    }
    if (as_json) {
        json_t *j =
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:b}", "bundle", path, "sha256", b.sha256,
                      "key_id", b.key_id, "name", b.name, "bundle_id", b.bundle_id, "created",
                      b.created, "files", b.files.n - 2, "verified", h.ok);
        if (health)
            json_object_set_new(j, "health", health_json(&h));
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        printf("bundle    %s (sha256 %s)\n", path, b.sha256);
        printf("signature ed25519 by key %s: ok\n", b.key_id);
        printf("model     %s, created %s, bundle id %s\n", b.name, b.created, b.bundle_id);
        printf("files     %d files, sizes and SHA-256 as the manifest says: ok\n", b.files.n - 2);
        for (int i = 0; i < h.n_models; i++) {
            const td_bundle_model_health *r = &h.models[i];
            printf("health    %-22s %d/%d reference cases within %.3g (max diff %.3g), median "
                   "%.3g ms (budget %.3g ms): %s%s%s\n",
                   r->path, r->cases_ok, r->cases, r->tolerance, r->max_diff, r->latency_median_ms,
                   r->budget_ms, r->ok ? "ok" : "FAILED", r->ok ? "" : ": ", r->why);
        }
        if (h.ok)
            printf("verified\n");
    }
    td_bundle_close(&b);
    if (!h.ok)
        return td__cli_fail("verify: REFUSED: the health check failed");
    return 0;
}

TD_CLI_COMMAND("verify", "check a bundle's signature, files and health check", cmd_verify)
