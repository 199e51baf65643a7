/*
 * fuzz_track_json.c - trackday JSON tracks (rows or centreline + width): td_track_load_json, then
 * everything `tracks show` and the simulator do with a route that loads (fuzz_track.h).
 */
#include "fuzz_track.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    td_fuzz_file f;
    td_fuzz_file_open(&f, data, size);
    td_track t;
    td_err err;
    if (td_track_load_json(&t, f.path, &err) == 0) {
        fuzz_track_exercise(&t);
        td_track_free(&t);
    } else {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_fuzz_file_close(&f);
    TD_FUZZ_END();
    return 0;
}
