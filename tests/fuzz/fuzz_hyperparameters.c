/*
 * fuzz_hyperparameters.c - hyperparameters.json, the second config file of a model
 * directory (td_hyperparams_load), read for both training algorithms.
 */
#include "fuzz.h"
#include "trackday/modeldir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    td_fuzz_file f;
    td_fuzz_file_open(&f, data, size);
    for (int algo = 0; algo < 2; algo++) {
        td_hyperparams h;
        td_config_warnings w;
        td_err err;
        td_config_warnings_clear(&w);
        if (td_hyperparams_load(&h, f.path, algo ? TD_ALGO_SAC : TD_ALGO_CLIPPED_PPO, &w, &err) ==
            0)
            TD_FUZZ_CHECK(h.batch_size > 0 && h.num_epochs > 0);
        else
            TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_fuzz_file_close(&f);
    TD_FUZZ_END();
    return 0;
}
