/*
 * fuzz_summary.c - the mergeable summaries of what a policy sees and does (summary.h): a
 * bundle's reference statistics (reference/stats.json: {"training": S, "evaluation": S}) and
 * the telemetry windows a device reports, which are the same summaries. The input is one
 * summary, or an object of summaries (stats.json). Each that reads (td_summary_from_json)
 * writes back to JSON that reads again to the same JSON; merged with itself it doubles its
 * frames and still writes JSON that reads back (or the merge is refused as an overflow and
 * changes nothing); merging two of the input either works or says why.
 */
#include "fuzz.h"
#include "trackday/summary.h"

#define MAX_SUMMARIES 4

/* td_summary_to_json's text (malloc'd), or NULL. */
static char *dump(const td_summary *s)
{
    json_t *j = td_summary_to_json(s);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return text;
}

/* A summary's JSON reads back to the same JSON. */
static void check_round_trip(const td_summary *s)
{
    td_summary back;
    td_err err;
    json_t *j = td_summary_to_json(s);
    TD_FUZZ_CHECK(j != NULL);
    int rc = td_summary_from_json(&back, j, &err);
    if (rc != 0)
        fprintf(stderr, "a summary's own JSON does not read back: %s\n", err.msg);
    TD_FUZZ_CHECK(rc == 0);
    char *a = dump(s), *b = dump(&back);
    TD_FUZZ_CHECK(a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
    td_summary_free(&back);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    const json_t *parts[MAX_SUMMARIES];
    int n = 0;
    if (json_object_get(root, "layout")) {
        parts[n++] = root;
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v)
        {
            if (n < MAX_SUMMARIES)
                parts[n++] = v;
        }
    }
    td_summary s[MAX_SUMMARIES];
    int ok[MAX_SUMMARIES] = {0};
    for (int i = 0; i < n; i++) {
        td_err err;
        ok[i] = td_summary_from_json(&s[i], parts[i], &err) == 0;
        if (!ok[i]) {
            TD_FUZZ_CHECK(err.msg[0] != '\0');
            td_summary_free(&s[i]);
            continue;
        }
        check_round_trip(&s[i]);

        /* Merged with itself: every count doubles (frames shown) and it still reads back, or
         * the merge is refused because a count would not fit, and nothing changed. */
        td_summary twice;
        json_t *j = td_summary_to_json(&s[i]);
        TD_FUZZ_CHECK(td_summary_from_json(&twice, j, &err) == 0);
        json_decref(j);
        char *before = dump(&twice);
        int rc = td_summary_merge(&twice, &s[i], &err);
        if (rc == 0) {
            TD_FUZZ_CHECK(twice.frames == 2 * s[i].frames);
        } else {
            char *after = dump(&twice);
            TD_FUZZ_CHECK(rc == TD_ERANGE && err.msg[0] != '\0');
            TD_FUZZ_CHECK(before && after && strcmp(before, after) == 0);
            free(after);
        }
        free(before);
        check_round_trip(&twice);
        td_summary_free(&twice);
    }
    for (int i = 1; i < n; i++) {
        if (!ok[0] || !ok[i])
            continue;
        td_err err;
        if (td_summary_merge(&s[0], &s[i], &err) == 0)
            check_round_trip(&s[0]);
        else
            TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    for (int i = 0; i < n; i++)
        if (ok[i])
            td_summary_free(&s[i]);
    json_decref(root);
    TD_FUZZ_END();
    return 0;
}
