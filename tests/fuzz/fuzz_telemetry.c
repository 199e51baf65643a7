/*
 * fuzz_telemetry.c - a device's telemetry windows (telemetry.h) as the hub receives them
 * (`POST /api/v1/devices/{id}/telemetry`) and as `trackday drift` reads them: one window, a
 * JSON array of windows, or JSON lines. A window that reads (td_telemetry_loads) writes back
 * to text that reads again to the same text; merged with a copy of itself its windows and
 * frames double (or the merge is refused, naming why, and nothing changed); the whole input
 * as a file (td_telemetry_read_file) either reads, with every window handed over in order,
 * or fails with a message.
 */
#include "fuzz.h"
#include "trackday/telemetry.h"

/* A window's text reads back to the same text. */
static void check_round_trip(const td_telemetry *w)
{
    char *a = td_telemetry_dumps(w);
    TD_FUZZ_CHECK(a != NULL);
    td_telemetry back;
    td_err err;
    int rc = td_telemetry_loads(&back, a, strlen(a), &err);
    if (rc != 0)
        fprintf(stderr, "a window's own JSON does not read back: %s\n", err.msg);
    TD_FUZZ_CHECK(rc == 0);
    char *b = td_telemetry_dumps(&back);
    TD_FUZZ_CHECK(b != NULL && strcmp(a, b) == 0);
    td_free(a);
    td_free(b);
    td_telemetry_free(&back);
}

static int count_window(const td_telemetry *w, void *ctx)
{
    TD_FUZZ_CHECK(w != NULL);
    (*(long *)ctx)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    td_telemetry w;
    td_err err;
    if (td_telemetry_loads(&w, (const char *)data, size, &err) == 0) {
        check_round_trip(&w);
        td_telemetry twice;
        TD_FUZZ_CHECK(td_telemetry_copy(&twice, &w, &err) == 0);
        char *before = td_telemetry_dumps(&twice);
        int rc = td_telemetry_merge(&twice, &w, &err);
        if (rc == 0) {
            TD_FUZZ_CHECK(twice.windows == 2 * w.windows);
            TD_FUZZ_CHECK(twice.summary.frames == 2 * w.summary.frames);
            check_round_trip(&twice);
        } else {
            char *after = td_telemetry_dumps(&twice);
            TD_FUZZ_CHECK(err.msg[0] != '\0');
            TD_FUZZ_CHECK(before && after && strcmp(before, after) == 0);
            td_free(after);
        }
        td_free(before);
        td_telemetry_free(&twice);
    } else {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_telemetry_free(&w);

    /* The same bytes as a file: JSON lines, an array or one window. */
    td_fuzz_file f;
    td_fuzz_file_open(&f, data, size);
    td_telemetry merged;
    long seen = 0;
    memset(&merged, 0, sizeof(merged));
    if (td_telemetry_read_file(f.path, &merged, count_window, &seen, &err) == 0) {
        TD_FUZZ_CHECK(seen >= 1);
        check_round_trip(&merged);
    } else {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_telemetry_free(&merged);
    td_fuzz_file_close(&f);
    TD_FUZZ_END();
    return 0;
}
