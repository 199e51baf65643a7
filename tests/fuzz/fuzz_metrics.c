/*
 * fuzz_metrics.c - a model directory's training metrics (metrics/training.jsonl, one JSON
 * object per line; td_metrics_load), then the training-curve picture `trackday plot` draws
 * from it (td_plot_training_write), whose axes and ticks come from the file's numbers.
 */
#include "fuzz.h"
#include "trackday/logs.h"
#include "trackday/plot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    td_fuzz_file f;
    td_fuzz_file_open(&f, data, size);
    td_metrics m;
    td_err err;
    if (td_metrics_load(&m, f.path, &err) == 0) {
        char svg[400];
        snprintf(svg, sizeof(svg), "%s/training.svg", td_fuzz_scratch_dir());
        (void)td_plot_training_write(svg, &m, "fuzz", &err);
        td_metrics_free(&m);
    } else {
        TD_FUZZ_CHECK(err.msg[0] != '\0');
    }
    td_fuzz_file_close(&f);
    TD_FUZZ_END();
    return 0;
}
