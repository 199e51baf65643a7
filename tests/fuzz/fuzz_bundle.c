/*
 * fuzz_bundle.c - model bundles (docs/bundle.md) as a car and `trackday verify` open them
 * (td_bundle_open: the canonical tar, the signature record, the manifest and every file
 * against it), then the health check a device runs before switching to one
 * (td_bundle_health_check: health.json, the reference observations, both models loaded in
 * infer/ and run).
 *
 * Two kinds of input:
 *  - a bundle file as it is (anything not starting "@@ "): only what a signature protects
 *    nothing of is reachable past the signature check, which is the point;
 *  - a bundle with its proofs repaired: "@@ PATH\n" then that file's bytes, up to the next
 *    "\n@@ " (tests/fuzz/make-seeds writes the seed bundle this way). The target writes, for
 *    every file the manifest lists and the input holds, its real size and SHA-256 into the
 *    manifest, signs the manifest with the fuzz key (fuzz_key.h) and packs the files as the
 *    canonical tar, so mutations of the manifest, health.json, the observations and the
 *    models get past the proofs to the code that reads them.
 * An opened bundle lists every file it holds, names its models among them, is refused under
 * another key and with another expected SHA-256; a failed health check says why.
 */
#include "fuzz.h"
#include "fuzz_key.h"
#include "trackday/bundle.h"

#define MAX_FILES 32

static uint8_t pk[TD_SIGN_PUBLIC_BYTES], sk[TD_SIGN_SECRET_BYTES], other_pk[TD_SIGN_PUBLIC_BYTES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    uint8_t seed[32], other_sk[TD_SIGN_SECRET_BYTES];
    (void)argc;
    (void)argv;
    memset(seed, 0x5a, sizeof(seed));
    if (td_fuzz_keypair(pk, sk) != 0 || td_sign_seed_keypair(other_pk, other_sk, seed) != 0)
        abort();
    return 0;
}

typedef struct tree_file {
    char name[TD_ARCHIVE_NAME_LEN + 1];
    const uint8_t *data;
    size_t size;
} tree_file;

/* Splits "@@ PATH\n" entries; returns the number of files. */
static int split_tree(const uint8_t *data, size_t size, tree_file *files)
{
    const uint8_t *p = data, *end = data + size;
    int n = 0;
    while (end - p >= 3 && p[0] == '@' && p[1] == '@' && p[2] == ' ' && n < MAX_FILES) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *name_end = nl ? nl : end, *body = nl ? nl + 1 : end, *q = body;
        while (q < end &&
               !(end - q >= 4 && q[0] == '\n' && q[1] == '@' && q[2] == '@' && q[3] == ' '))
            q++;
        size_t len = (size_t)(name_end - (p + 3));
        if (len > 0 && len <= TD_ARCHIVE_NAME_LEN && !memchr(p + 3, '\0', len)) {
            memcpy(files[n].name, p + 3, len);
            files[n].name[len] = '\0';
            files[n].data = body;
            files[n].size = (size_t)(q - body);
            n++;
        }
        p = q < end ? q + 1 : end;
    }
    return n;
}

/* The manifest with each listed file's real size and SHA-256 (malloc'd JSON), or NULL. */
static char *repair_manifest(const tree_file *files, int n, const tree_file *manifest)
{
    json_t *m = json_loadb((const char *)manifest->data, manifest->size, 0, NULL);
    json_t *list = json_object_get(m, "files");
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f)
    {
        const char *path = json_string_value(json_object_get(f, "path"));
        for (int k = 0; path && k < n; k++) {
            if (strcmp(files[k].name, path) != 0)
                continue;
            char hex[TD_SHA256_HEX];
            td_sha256_hex(hex, files[k].data, files[k].size);
            json_object_set_new(f, "size", json_integer((json_int_t)files[k].size));
            json_object_set_new(f, "sha256", json_string(hex));
            break;
        }
    }
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    return text;
}

/* Packs the tree as a signed bundle (td_malloc'd bytes), or returns -1. */
static int pack_tree(const uint8_t *data, size_t size, uint8_t **out, size_t *out_len)
{
    static tree_file files[MAX_FILES];
    int n = split_tree(data, size, files), rc = 0;
    const tree_file *manifest = NULL;
    for (int k = 0; k < n; k++)
        if (strcmp(files[k].name, "manifest.json") == 0)
            manifest = &files[k];
    char *mtext = manifest ? repair_manifest(files, n, manifest) : NULL;
    const uint8_t *mdata = mtext ? (const uint8_t *)mtext : manifest ? manifest->data : NULL;
    size_t mlen = mtext ? strlen(mtext) : manifest ? manifest->size : 0;

    td_archive a;
    td_err err;
    td_archive_init(&a);
    if (manifest) {
        uint8_t sig[TD_SIGN_BYTES];
        char sig64[128], kid[TD_KEY_ID_LEN], rec[300];
        td_sign_detached(sig, mdata, mlen, sk);
        TD_FUZZ_CHECK(td_base64_encode(sig64, sizeof(sig64), sig, sizeof(sig)) == 0);
        td_sign_key_id(pk, kid);
        snprintf(rec, sizeof(rec),
                 "{\"algorithm\": \"ed25519\", \"key_id\": \"%s\", \"signature\": \"%s\"}\n", kid,
                 sig64);
        rc |= td_archive_add(&a, "manifest.json", mdata, mlen, &err);
        rc |= td_archive_add(&a, "manifest.sig", rec, strlen(rec), &err);
    }
    for (int k = 0; k < n && !rc; k++) {
        if (strcmp(files[k].name, "manifest.json") == 0 ||
            strcmp(files[k].name, "manifest.sig") == 0)
            continue;
        /* A name the archive refuses (unsafe, duplicate) is left out. */
        (void)td_archive_add(&a, files[k].name, files[k].data, files[k].size, &err);
    }
    free(mtext);
    if (!rc)
        rc = td_archive_to_tar(&a, out, out_len, &err);
    td_archive_free(&a);
    return rc ? -1 : 0;
}

static void check_open(const uint8_t *buf, size_t len)
{
    td_bundle b;
    td_err err;
    if (td_bundle_open(&b, buf, len, pk, NULL, &err) != 0) {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
        td_bundle_close(&b);
        return;
    }
    /* Every file is the manifest, its signature or listed; the models are among them. */
    const json_t *list = json_object_get(b.manifest, "files");
    for (int k = 0; k < b.files.n; k++) {
        const char *name = b.files.entries[k].name;
        int listed = !strcmp(name, "manifest.json") || !strcmp(name, "manifest.sig");
        size_t i;
        const json_t *f;
        json_array_foreach(list, i, f)
        {
            const char *p = json_string_value(json_object_get(f, "path"));
            listed |= p && !strcmp(p, name);
        }
        TD_FUZZ_CHECK(listed);
    }
    TD_FUZZ_CHECK(td_bundle_file(&b, td_bundle_model_path(&b, "fp32")) != NULL);
    const char *q = td_bundle_model_path(&b, "int8");
    TD_FUZZ_CHECK(!q || td_bundle_file(&b, q) != NULL);

    td_bundle_health h;
    if (td_bundle_health_check(&b, NULL, &h, &err) == 0) {
        TD_FUZZ_CHECK(h.n_models >= 1 && h.n_models <= TD_BUNDLE_MAX_MODELS);
        for (int i = 0; i < h.n_models; i++)
            TD_FUZZ_CHECK(h.models[i].ok || h.models[i].why[0] != '\0');
    } else {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_bundle_close(&b);

    /* The same bytes: refused under another key, and when another file was expected. */
    char wrong[TD_SHA256_HEX];
    memset(wrong, '0', 64);
    wrong[64] = '\0';
    TD_FUZZ_CHECK(td_bundle_open(&b, buf, len, other_pk, NULL, &err) == TD_ECHECKSUM);
    td_bundle_close(&b);
    TD_FUZZ_CHECK(td_bundle_open(&b, buf, len, pk, wrong, &err) == TD_ECHECKSUM);
    td_bundle_close(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    if (size >= 3 && data[0] == '@' && data[1] == '@' && data[2] == ' ') {
        uint8_t *tar = NULL;
        size_t len = 0;
        if (pack_tree(data, size, &tar, &len) == 0)
            check_open(tar, len);
        td_free(tar);
    } else {
        check_open(data, size);
    }
    TD_FUZZ_END();
    return 0;
}
