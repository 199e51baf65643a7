/*
 * fuzz_training_params.c - training_params.yaml, the third config file of a model directory
 * (td_training_params_load). A race configuration that loads is then used as training
 * would: a one-car simulator on a shipped track places the obstacles and bot cars it asks
 * for and drives a few steps, so an impossible placement shows up as a hang or a crash.
 */
#include "fuzz.h"
#include "trackday/modeldir.h"
#include "trackday/sim.h"
#include "trackday/track.h"

static td_track track;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    td_err err;
    (void)argc;
    (void)argv;
    if (td_track_load(&track, TD_FUZZ_SOURCE_DIR "/tracks/oval.json", &err) != 0) {
        fprintf(stderr, "fuzz_training_params: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    td_fuzz_file f;
    td_fuzz_file_open(&f, data, size);
    td_training_params p;
    td_config_warnings w;
    td_err err;
    td_config_warnings_clear(&w);
    if (td_training_params_load(&p, f.path, &w, &err) == 0) {
        td_sim_config cfg;
        td_sim_config_default(&cfg);
        cfg.race = p.race;
        cfg.threads = 1;
        td_vecenv env;
        if (td_vecenv_init(&env, &cfg, &track, 1, &err) == 0) {
            td_vecenv_buffers b;
            TD_FUZZ_CHECK(td_vecenv_buffers_init(&b, &env, &err) == 0);
            b.actions[0] = 10.0f;
            b.actions[1] = 2.0f;
            td_vecenv_reset(&env);
            for (int s = 0; s < 8; s++)
                td_vecenv_step(&env);
            td_vecenv_buffers_free(&b);
            td_vecenv_free(&env);
        }
    } else {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_fuzz_file_close(&f);
    TD_FUZZ_END();
    return 0;
}
