/*
 * fuzz_replay.c - `trackday replay SIMTRACE.csv`: a simtrace drawn frame by frame (top view
 * with the car and its trail, the camera view from the logged pose) on a shipped track. The
 * poses come from the file, so every world-to-pixel conversion meets its numbers. The first
 * rows are rendered into PNG frames in a scratch directory.
 */
#include "fuzz.h"
#include "trackday/replay.h"
#include "trackday/simtrace.h"
#include "trackday/track.h"

#define MAX_FRAMES 3

static td_track track;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    td_err err;
    (void)argc;
    (void)argv;
    if (td_track_load(&track, TD_FUZZ_SOURCE_DIR "/tracks/oval.json", &err) != 0) {
        fprintf(stderr, "fuzz_replay: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    td_simtrace t;
    td_err err;
    td_simtrace_init(&t);
    if (td_simtrace_parse(&t, (const char *)data, size, "fuzz.csv", &err) == 0 && t.n > 0) {
        char frames[400];
        snprintf(frames, sizeof(frames), "%s/frames", td_fuzz_scratch_dir());
        td_replay_options o;
        td_replay_options_default(&o);
        o.width = 320;
        td_replay_stats stats;
        if (td_replay_simtrace(&track, t.rows, t.n < MAX_FRAMES ? t.n : MAX_FRAMES, &o, frames,
                               &stats, &err) == 0)
            TD_FUZZ_CHECK(stats.frames == (t.n < MAX_FRAMES ? t.n : MAX_FRAMES));
        else
            TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_simtrace_free(&t);
    TD_FUZZ_END();
    return 0;
}
