/*
 * fuzz_model_metadata.c - model_metadata.json, the first of a model directory's three config
 * files (td_model_metadata_load). What loads must survive the writer and the reader again
 * with the same meaning (td_model_metadata_to_json, then td_model_metadata_from_json).
 */
#include "fuzz.h"
#include "trackday/modeldir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    td_fuzz_file f;
    td_fuzz_file_open(&f, data, size);
    td_model_metadata m;
    td_config_warnings w;
    td_err err;
    td_config_warnings_clear(&w);
    if (td_model_metadata_load(&m, f.path, &w, &err) == 0) {
        json_t *j = td_model_metadata_to_json(&m);
        TD_FUZZ_CHECK(j != NULL);
        td_model_metadata again;
        if (td_model_metadata_from_json(&again, j, "round trip", &w, &err) != 0) {
            fprintf(stderr, "written metadata does not read back: %s\n", err.msg);
            TD_FUZZ_CHECK(0);
        }
        TD_FUZZ_CHECK(again.action_space_type == m.action_space_type);
        TD_FUZZ_CHECK(again.n_actions == m.n_actions);
        TD_FUZZ_CHECK(again.camera == m.camera && again.lidar == m.lidar);
        json_decref(j);
    } else {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_fuzz_file_close(&f);
    TD_FUZZ_END();
    return 0;
}
