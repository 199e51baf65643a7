/*
 * fuzz_simtrace.c - one simtrace CSV (td_simtrace_read, DeepRacer's and trackday's column
 * layouts), then the analysis `trackday logs` prints (fuzz_simtrace.h).
 */
#include "fuzz_simtrace.h"

static td_track track;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    td_err err;
    (void)argc;
    (void)argv;
    if (td_track_load(&track, TD_FUZZ_SOURCE_DIR "/tracks/oval.json", &err) != 0) {
        fprintf(stderr, "fuzz_simtrace: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    td_fuzz_file f;
    td_fuzz_file_open(&f, data, size);
    td_simtrace t;
    td_err err;
    td_simtrace_init(&t);
    if (td_simtrace_read(&t, f.path, &err) == 0)
        fuzz_simtrace_analyze(&t, &track);
    else
        TD_FUZZ_CHECK(t.n == 0 && err.msg[0] != '\0');
    td_simtrace_free(&t);
    td_fuzz_file_close(&f);
    TD_FUZZ_END();
    return 0;
}
