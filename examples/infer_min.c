/*
 * infer_min.c - the smallest driver on the device runtime: loads any model trackday writes
 * (camera, stereo, camera + lidar, state sensor; PPO or SAC; fp32 or int8) and, for every
 * observation read from stdin, prints the chosen action. C99, infer/ only:
 *
 *   cc -std=c99 -O2 examples/infer_min.c src/infer/[all .c files] -lm -o infer_min
 *   cat observations.raw | ./infer_min model.tdm
 *   ./infer_min --info model.tdm          prints the bytes of one observation and its parts
 *
 * One observation on stdin is the model's inputs one after the other, in this order, each
 * only if the model has it: the camera (width x height x channels bytes, channels-last, top
 * row first; stereo has 2 channels), the lidar (lidar_dim float32), the state (state_dim
 * float32); floats in the machine's byte order (little-endian on every target trackday
 * builds for). Output, one line per observation:
 * "<observation> <action index> <steering deg> <speed m/s>" (index -1 for a continuous model).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/trackday/infer.h"

int main(int argc, char **argv)
{
    td_infer_model *model;
    td_infer_err err;
    const td_infer_info *info;
    unsigned char *buf;
    size_t cam_bytes, lidar_bytes, state_bytes, obs_bytes;
    long n = 0;
    int rc, info_only = argc == 3 && strcmp(argv[1], "--info") == 0;

    if (argc != 2 && !info_only) {
        fprintf(stderr, "usage: %s [--info] MODEL.tdm < observations.raw\n", argv[0]);
        return 2;
    }
    rc = td_infer_open_file(&model, argv[argc - 1], &err);
    if (rc != 0) {
        fprintf(stderr, "infer_min: %s\n", err.msg);
        return 1;
    }
    info = td_infer_get_info(model);
    cam_bytes = (size_t)info->camera_h * info->camera_w * info->camera_c;
    lidar_bytes = (size_t)info->lidar_dim * sizeof(float);
    state_bytes = (size_t)info->state_dim * sizeof(float);
    obs_bytes = cam_bytes + lidar_bytes + state_bytes;
    if (info_only) {
        printf("observation %lu bytes: camera %dx%dx%d (%lu bytes), lidar %d floats, state %d "
               "floats; %s actions, %d of %d layers int8\n",
               (unsigned long)obs_bytes, info->camera_w, info->camera_h, info->camera_c,
               (unsigned long)cam_bytes, info->lidar_dim, info->state_dim,
               info->continuous ? "continuous" : "discrete", info->n_int8_layers, info->n_layers);
        td_infer_close(model);
        return 0;
    }
    /* Floats are read into their own aligned storage: malloc's block is aligned for any type
     * and the parts are laid out floats first. */
    buf = (unsigned char *)malloc(obs_bytes ? obs_bytes : 1);
    if (!buf) {
        td_infer_close(model);
        return 1;
    }
    for (;;) {
        td_infer_obs obs;
        td_infer_action act;
        unsigned char *floats = buf, *camera = buf + lidar_bytes + state_bytes;
        if (cam_bytes && fread(camera, 1, cam_bytes, stdin) != cam_bytes)
            break;
        if (lidar_bytes + state_bytes &&
            fread(floats, 1, lidar_bytes + state_bytes, stdin) != lidar_bytes + state_bytes)
            break;
        obs.camera = cam_bytes ? camera : NULL;
        obs.lidar = lidar_bytes ? (const float *)(void *)floats : NULL;
        obs.state = state_bytes ? (const float *)(void *)(floats + lidar_bytes) : NULL;
        rc = td_infer_run(model, &obs, &act);
        if (rc != 0) {
            fprintf(stderr, "infer_min: observation %ld: %s\n", n, td_infer_strerror(rc));
            free(buf);
            td_infer_close(model);
            return 1;
        }
        printf("%ld %d %.3f %.3f\n", n++, act.index, act.steering_angle, act.speed);
    }
    free(buf);
    td_infer_close(model);
    return 0;
}
