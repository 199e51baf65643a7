/*
 * fuzz_infer_run.c - td_infer_run on fuzzed models: the repaired .tdm of fuzz_tdm.h loaded
 * by infer/, run on observations with extreme values (huge, infinite, negative zero) with
 * the fast and the reference kernels; a discrete action must be one of the action space.
 * An fp32 model is also quantized to int8 (two calibration observations) and the result
 * loaded and run, as `trackday quantize` would.
 */
#include "fuzz_tdm.h"

static int calib_obs(void *ctx, int i, td_infer_obs *obs)
{
    const td_infer_obs *o = ctx;
    (void)i;
    *obs = *o;
    return 0;
}

static void quantize_and_run(const uint8_t *buf, size_t len)
{
    td_infer_model *m = NULL;
    td_infer_err ierr;
    if (td_infer_open_buffer(&m, buf, len, &ierr) != 0)
        return;
    const td_infer_info *info = td_infer_get_info(m);
    int fp32 = info->n_int8_layers == 0;
    size_t cam = (size_t)info->camera_h * (size_t)info->camera_w * (size_t)info->camera_c;
    uint8_t *camera = calloc(cam ? cam : 1, 1);
    float *lidar = calloc((size_t)info->lidar_dim + 1, sizeof(float));
    float *state = calloc((size_t)info->state_dim + 1, sizeof(float));
    TD_FUZZ_CHECK(camera && lidar && state);
    td_infer_obs obs = {cam ? camera : NULL, info->lidar_dim ? lidar : NULL,
                        info->state_dim ? state : NULL};
    td_infer_close(m);
    if (fp32) {
        td_infer_quant_options opt;
        td_infer_quant_options_default(&opt);
        void *q = NULL;
        size_t qlen = 0;
        if (td_infer_quantize(buf, len, calib_obs, &obs, 2, &opt, &q, &qlen, &ierr) == 0) {
            tdm_infer(q, qlen, 1);
            td_infer_free(q);
        }
    }
    free(camera);
    free(lidar);
    free(state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    size_t len;
    uint8_t *buf = tdm_repair(data, size, &len);
    tdm_infer(buf, len, 1);
    quantize_and_run(buf, len);
    free(buf);
    TD_FUZZ_END();
    return 0;
}
