/*
 * fuzz_targz.c - .tar.gz archives as a hub receives them (uploaded model directories, car
 * archives, bundles): td_archive_read_targz with the default limits. What it accepts has
 * only safe relative names, no duplicates, and sizes within the limits; it writes back and
 * reads again to the same entries.
 */
#include "fuzz.h"
#include "trackday/archive.h"

/* A plain relative name: no empty, "." or ".." part, no leading or doubled "/". */
static int safe_name(const char *name)
{
    const char *p = name;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!slash)
            return 1;
        p = slash + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    td_archive a;
    td_archive_limits lim;
    td_err err;
    td_archive_limits_default(&lim);
    if (td_archive_read_targz(&a, data, size, &lim, &err) == 0) {
        uint64_t total = 0;
        TD_FUZZ_CHECK(a.n <= lim.max_entries);
        for (int i = 0; i < a.n; i++) {
            const char *name = a.entries[i].name;
            TD_FUZZ_CHECK(safe_name(name));
            TD_FUZZ_CHECK(a.entries[i].size <= lim.max_entry_bytes);
            total += a.entries[i].size;
            for (int j = 0; j < i; j++)
                TD_FUZZ_CHECK(strcmp(a.entries[j].name, name) != 0);
        }
        TD_FUZZ_CHECK(total <= lim.max_total_bytes);
        uint8_t *out;
        size_t out_len;
        if (td_archive_to_targz(&a, 0, &out, &out_len, &err) == 0) {
            td_archive b;
            if (td_archive_read_targz(&b, out, out_len, &lim, &err) != 0) {
                fprintf(stderr, "a written archive does not read back: %s\n", err.msg);
                TD_FUZZ_CHECK(0);
            }
            TD_FUZZ_CHECK(b.n == a.n);
            for (int i = 0; i < a.n; i++) {
                TD_FUZZ_CHECK(strcmp(a.entries[i].name, b.entries[i].name) == 0);
                TD_FUZZ_CHECK(a.entries[i].size == b.entries[i].size);
                TD_FUZZ_CHECK(a.entries[i].size == 0 ||
                              memcmp(a.entries[i].data, b.entries[i].data, a.entries[i].size) == 0);
            }
            td_archive_free(&b);
            td_free(out);
        }
    } else {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_archive_free(&a);
    TD_FUZZ_END();
    return 0;
}
