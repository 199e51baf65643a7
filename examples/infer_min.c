/*
 * infer_min.c - the smallest driver on the device runtime: loads a model and, for every
 * camera frame read from stdin (raw grey bytes, width x height x channels of the model, one
 * frame after another), prints the chosen action. C99, infer/ only:
 *
 *   cc -std=c99 -O2 examples/infer_min.c src/infer/[all .c files] -lm -o infer_min
 *   cat frames.raw | ./infer_min model.tdm
 *
 * Output, one line per frame: "<frame> <action index> <steering deg> <speed m/s>"
 * (index -1 for a continuous model).
 */
#include <stdio.h>
#include <stdlib.h>

#include "../include/trackday/infer.h"

int main(int argc, char **argv)
{
    td_infer_model *model;
    td_infer_err err;
    const td_infer_info *info;
    unsigned char *frame;
    size_t frame_bytes;
    long n = 0;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.tdm < frames.raw\n", argv[0]);
        return 2;
    }
    rc = td_infer_open_file(&model, argv[1], &err);
    if (rc != 0) {
        fprintf(stderr, "infer_min: %s\n", err.msg);
        return 1;
    }
    info = td_infer_get_info(model);
    if (info->camera_h == 0 || info->lidar_dim || info->state_dim) {
        fprintf(stderr, "infer_min: the model must take a camera and nothing else\n");
        td_infer_close(model);
        return 1;
    }
    frame_bytes = (size_t)info->camera_h * info->camera_w * info->camera_c;
    frame = (unsigned char *)malloc(frame_bytes);
    if (!frame) {
        td_infer_close(model);
        return 1;
    }
    while (fread(frame, 1, frame_bytes, stdin) == frame_bytes) {
        td_infer_obs obs;
        td_infer_action act;
        obs.camera = frame;
        obs.lidar = NULL;
        obs.state = NULL;
        if (td_infer_run(model, &obs, &act) != 0)
            break;
        printf("%ld %d %.3f %.3f\n", n++, act.index, act.steering_angle, act.speed);
    }
    free(frame);
    td_infer_close(model);
    return 0;
}
