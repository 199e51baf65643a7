/*
 * reference.c - the C side of tests/python/test_trackday.py (td_py_reference):
 *
 *   td_py_reference env TRACK N SEED THREADS STEPS SENSOR OUT
 *       steps a vector env of N cars with the deterministic actions below and writes, per
 *       step, rewards (N float32), dones (N bytes) and the observations (the SENSOR buffer)
 *       to OUT, for the test to compare with the Python env's, byte for byte;
 *   td_py_reference infer MODEL OBS N OUT
 *       runs a .tdm model on N observations (OBS: the model's inputs of each row in order:
 *       camera bytes, lidar floats, state floats) and writes N x (steering, speed) float32.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/infer.h"
#include "trackday/sim.h"

static int fail(const char *msg)
{
    fprintf(stderr, "td_py_reference: %s\n", msg);
    return 1;
}

static int run_env(char **argv)
{
    td_err err = {0};
    td_track track;
    if (td_track_load(&track, argv[0], &err))
        return fail(err.msg);
    int n = (int)strtol(argv[1], NULL, 10), steps = (int)strtol(argv[4], NULL, 10);
    td_sim_config cfg;
    td_sim_config_default(&cfg);
    cfg.seed = strtoull(argv[2], NULL, 10);
    cfg.threads = (int)strtol(argv[3], NULL, 10);
    const char *sensor = argv[5];
    cfg.sensors = !strcmp(sensor, "camera")  ? TD_SENSOR_CAMERA
                  : !strcmp(sensor, "lidar") ? TD_SENSOR_LIDAR
                                             : TD_SENSOR_STATE;
    td_vecenv env;
    td_vecenv_buffers b;
    if (td_vecenv_init(&env, &cfg, &track, n, &err))
        return fail(err.msg);
    if (td_vecenv_buffers_init(&b, &env, &err))
        return fail(err.msg);
    FILE *out = fopen(argv[6], "wb");
    if (!out)
        return fail("cannot write the output");
    size_t obs_bytes = cfg.sensors == TD_SENSOR_CAMERA ? (size_t)td_vecenv_camera_bytes(&cfg) * n
                       : cfg.sensors == TD_SENSOR_LIDAR
                           ? sizeof(float) * td_vecenv_lidar_dim(&cfg) * n
                           : sizeof(float) * TD_STATE_DIM * n;
    const void *obs = cfg.sensors == TD_SENSOR_CAMERA  ? (const void *)b.camera
                      : cfg.sensors == TD_SENSOR_LIDAR ? (const void *)b.lidar
                                                       : (const void *)b.state;
    td_vecenv_reset(&env);
    for (int t = 0; t < steps; t++) {
        /* The same formula as the Python test's actions(). */
        for (int i = 0; i < n; i++) {
            b.actions[2 * i] = (float)(25.0 * sin(0.07 * t + 0.5 * i));
            b.actions[2 * i + 1] = (float)(0.5 + 0.25 * ((t + i) % 8));
        }
        td_vecenv_step(&env);
        fwrite(b.rewards, sizeof(float), (size_t)n, out);
        fwrite(b.dones, 1, (size_t)n, out);
        fwrite(obs, 1, obs_bytes, out);
    }
    fclose(out);
    td_vecenv_buffers_free(&b);
    td_vecenv_free(&env);
    td_track_free(&track);
    return 0;
}

static int run_infer(char **argv)
{
    td_infer_model *m = NULL;
    td_infer_err err = {{0}};
    if (td_infer_open_file(&m, argv[0], &err))
        return fail(err.msg);
    const td_infer_info *in = td_infer_get_info(m);
    size_t cam = (size_t)in->camera_h * in->camera_w * in->camera_c;
    size_t row = cam + sizeof(float) * (size_t)(in->lidar_dim + in->state_dim);
    int n = (int)strtol(argv[2], NULL, 10);
    FILE *f = fopen(argv[1], "rb"), *out = fopen(argv[3], "wb");
    unsigned char *buf = malloc(row);
    if (!f || !out || !buf)
        return fail("cannot open the files");
    for (int i = 0; i < n; i++) {
        if (fread(buf, 1, row, f) != row)
            return fail("short observation file");
        td_infer_obs obs = {
            cam ? buf : NULL, in->lidar_dim ? (const float *)(buf + cam) : NULL,
            in->state_dim ? (const float *)(buf + cam + sizeof(float) * in->lidar_dim) : NULL};
        td_infer_action a;
        if (td_infer_run(m, &obs, &a))
            return fail("td_infer_run failed");
        float v[2] = {a.steering_angle, a.speed};
        fwrite(v, sizeof(float), 2, out);
    }
    fclose(f);
    fclose(out);
    free(buf);
    td_infer_close(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 9 && !strcmp(argv[1], "env"))
        return run_env(argv + 2);
    if (argc == 6 && !strcmp(argv[1], "infer"))
        return run_infer(argv + 2);
    return fail("usage: env TRACK N SEED THREADS STEPS SENSOR OUT | infer MODEL OBS N OUT");
}
