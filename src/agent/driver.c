/*
 * driver.c - the driver (agent.h): runs the active bundle's model on infer/ at the control
 * rate, from camera frames handed in or in a simulated world (world.c, reached through the
 * world's `drive` pointer), keeps the laps it drives and summarizes what it sees and does
 * into telemetry windows (summary.h's mergeable summaries). Nothing here needs the simulator,
 * so the car-only build (trackday-car) drives from a camera with this file alone.
 */
#include <stdio.h>
#include <string.h>

#include "agent/agent_internal.h"
#include "trackday/summary.h"

int td_agent_driver_open(td_agent_driver **out, const td_bundle *b, const td_agent_world *world,
                         td_err *err)
{
    td_infer_err ie;
    int rc;
    *out = NULL;
    const char *path = td_bundle_model_path(b, "int8");
    if (!path)
        path = td_bundle_model_path(b, "fp32");
    const td_archive_entry *me = path ? td_bundle_file(b, path) : NULL;
    if (!me)
        return td_err_set(err, TD_EFORMAT, "bundle %s has no model", b->bundle_id);
    td_agent_driver *d = td_calloc(1, sizeof(*d));
    if (!d)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    *out = d;
    snprintf(d->stats.sha256, sizeof(d->stats.sha256), "%s", b->sha256);
    if (td_infer_open_buffer(&d->model, me->data, me->size, &ie) != 0)
        return td_err_set(err, TD_EFORMAT, "bundle %s: %s: %s", b->bundle_id, path, ie.msg);
    d->info = td_infer_get_info(d->model);
    td_summary_layout lay;
    td_summary_layout_of(&lay, d->info);
    if ((rc = td_telemetry_begin(&d->tel, &lay, NULL,
                                 td_telemetry_id_ok(b->bundle_id) ? b->bundle_id : NULL,
                                 (int64_t)(td_time_now() * 1000), err)) != 0)
        return rc;
    d->have_window = 1;
    if (!world)
        return 0;
    if (!world->drive)
        return td_err_set(err, TD_EUNSUPPORTED, "this build has no simulator to drive a world in");
    return world->drive(d, b, world, err);
}

void td_agent_driver_close(td_agent_driver *d)
{
    if (!d)
        return;
    if (d->sim_free)
        d->sim_free(d->sim);
    if (d->have_window)
        td_telemetry_free(&d->tel);
    td_infer_close(d->model);
    td_free(d);
}

int td__agent_driver_infer(td_agent_driver *d, const td_infer_obs *obs, td_infer_action *act,
                           td_err *err)
{
    double t0 = td_time_now();
    int rc = td_infer_run(d->model, obs, act);
    double ms = (td_time_now() - t0) * 1e3;
    if (rc != 0)
        return td_err_set(err, TD_EINTERNAL, "the model failed to run (%d)", rc);
    if (d->have_window)
        td_summary_add(&d->tel.summary, obs, td_infer_output(d->model), ms);
    d->stats.frames++;
    d->stats.latency_sum_ms += ms;
    if (ms > d->stats.latency_max_ms)
        d->stats.latency_max_ms = ms;
    return 0;
}

void td__agent_driver_lap(td_agent_driver *d, double lap_s)
{
    d->stats.laps++;
    d->stats.lap_time_sum_s += lap_s;
    if (d->stats.lap_time_min_s <= 0 || lap_s < d->stats.lap_time_min_s)
        d->stats.lap_time_min_s = lap_s;
    if (d->have_window)
        td_summary_add_lap(&d->tel.summary, lap_s);
}

int td_agent_driver_step(td_agent_driver *d, td_err *err)
{
    if (!d->sim_step)
        return td_err_set(err, TD_EINVAL, "this driver has no simulated world");
    return d->sim_step(d, err);
}

int td_agent_driver_frame(td_agent_driver *d, const uint8_t *grey, td_err *err)
{
    td_infer_obs obs = {grey, NULL, NULL};
    td_infer_action act;
    if (!d->info->camera_h)
        return td_err_set(err, TD_EINVAL, "the model has no camera input");
    return td__agent_driver_infer(d, &obs, &act, err);
}

void td_agent_driver_camera_size(const td_agent_driver *d, int *w, int *h)
{
    *w = d->info->camera_w;
    *h = d->info->camera_h;
}

const td_agent_driving *td_agent_driver_stats(const td_agent_driver *d)
{
    return &d->stats;
}

json_t *td_agent_driver_window(td_agent_driver *d, const char *device, const char *deployment,
                               uint64_t seq)
{
    int64_t now_ms = (int64_t)(td_time_now() * 1000);
    if (!d->have_window)
        return NULL;
    td_telemetry_end(&d->tel, now_ms);
    snprintf(d->tel.device, sizeof(d->tel.device), "%s",
             device && td_telemetry_id_ok(device) ? device : "");
    snprintf(d->tel.deployment, sizeof(d->tel.deployment), "%s",
             deployment && td_telemetry_id_ok(deployment) ? deployment : "");
    d->tel.seq = seq;
    json_t *j = td_telemetry_to_json(&d->tel);
    td_summary_layout lay = d->tel.summary.layout;
    char bundle[TD_TELEMETRY_ID_LEN];
    memcpy(bundle, d->tel.bundle_id, sizeof(bundle));
    td_telemetry_free(&d->tel);
    d->have_window =
        td_telemetry_begin(&d->tel, &lay, NULL, bundle[0] ? bundle : NULL, now_ms, NULL) == 0;
    return j;
}
