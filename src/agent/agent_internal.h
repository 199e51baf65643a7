/*
 * agent_internal.h - what the driver (driver.c) and the simulated car (world.c) share: the
 * driver's state and the two calls a simulated car makes into it. The driver reaches the
 * simulator only through the world's `drive` pointer and the step and free pointers it sets,
 * so a build without the simulator (trackday-car: docs/agent.md) links driver.c alone.
 */
#ifndef TD_AGENT_INTERNAL_H
#define TD_AGENT_INTERNAL_H

#include "trackday/agent.h"
#include "trackday/telemetry.h"

struct td_agent_driver {
    td_infer_model *model;
    const td_infer_info *info;
    td_telemetry tel; /* the window being filled (telemetry.h) */
    int have_window;
    td_agent_driving stats;
    /* The simulated car (world.c) when driving in a world: its state, one control step, free. */
    void *sim;
    int (*sim_step)(td_agent_driver *d, td_err *err);
    void (*sim_free)(void *sim);
};

/* Runs the model on one observation: the action, the frame's statistics and latency. */
int td__agent_driver_infer(td_agent_driver *d, const td_infer_obs *obs, td_infer_action *act,
                           td_err *err);
/* One lap driven, in lap_s seconds. */
void td__agent_driver_lap(td_agent_driver *d, double lap_s);

#endif
