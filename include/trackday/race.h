/*
 * race.h - head-to-head races (DeepRacer's HEAD_TO_MODEL): 2 to 6 cars, each driven greedily
 * by its own model (or by the simulator's built-in driver), start staggered 0.75 m apart
 * behind the start line on alternating lanes (inner first) and race for a number of laps.
 * Every car is a single-car world (its own sensors); the worlds are stepped in lockstep and
 * before each step every world receives the other cars as boxes (sim.h, shared worlds), so
 * cars see each other and collide by DeepRacer's rule: a car that runs into a car ahead of it
 * crashes, the car ahead does not. In continuous mode an event costs its penalty (the car is
 * held that long, the clock running: at its reset pose, or where it stands after running
 * into a car) and the race goes on; otherwise the event puts the car out. Every car starts
 * with DeepRacer's prepare step. Standings: finishers by finishing time (penalties
 * included), then the others by laps and progress. Part of the eval layer.
 */
#ifndef TRACKDAY_RACE_H
#define TRACKDAY_RACE_H

#include "trackday/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_RACE_MIN_CARS 2
#define TD_RACE_MAX_CARS 6
#define TD_RACE_NAME_LEN 256

/* A car of a race: a model (greedy) or, when policy is NULL, a built-in driver. */
typedef struct td_racer {
    const char *name;        /* label in the standings */
    td_policy *policy;       /* kept by pointer; NULL: the built-in driver below */
    td_driver_config driver; /* used when policy is NULL */
} td_racer;

/*
 * Parses a built-in racer: "builtin:pure-pursuit", "builtin:centerline", "builtin:zigzag",
 * optionally with a top speed in m/s: "builtin:centerline:1.5". Returns 0 or TD_EINVAL.
 */
int td_racer_parse_builtin(const char *spec, td_driver_config *out, td_err *err);

typedef struct td_race_options {
    int laps;                    /* default 3 */
    int continuous;              /* 1: events cost a penalty and a reset */
    td_penalty_config penalties; /* continuous only (else the first event puts a car out):
                                    resets allowed, out at the next event (default 10000, as
                                    an evaluation); off track and reversed 2 s, crash 5 s */
    int reverse;                 /* drive the track the other way */
    double stagger_m;            /* start spacing along the track, default 0.75 */
    double max_time_s;           /* race clock limit; 0: laps x (lap at 0.5 m/s) + 30 s */
    uint64_t seed;
    /* Replay: NULL for none, else a video path or a PNG directory (replay.h). */
    const char *replay_path;
    int replay_width;      /* default 960 */
    int replay_fps;        /* default 15 */
    int replay_camera_car; /* >= 0: that car's camera view beside the top view; -1 (default)
                              the top view alone */
} td_race_options;

void td_race_options_default(td_race_options *o);

typedef struct td_race_car_result {
    char name[TD_RACE_NAME_LEN];
    int position;             /* 1-based place in the standings */
    int start_slot;           /* 0 = on the start line, inner lane */
    int finished;             /* completed every lap */
    td_episode_status status; /* lap_complete if finished; the event that put it out; or
                                 time_up (race clock limit) / in_progress */
    int laps;
    double lap_times_s[TD_MAX_LAPS]; /* penalties included */
    double best_lap_s;               /* -1 if no lap */
    double progress;                 /* percent of the lap being driven when the car stopped (100 if
                                        finished) */
    double total_time_s;             /* finishing time (penalties included), else when it stopped */
    td_event_counts events;
    long steps; /* steps of the car's race (the prepare and pause steps included) */
} td_race_car_result;

typedef struct td_race_result {
    int n;
    td_race_car_result cars[TD_RACE_MAX_CARS]; /* in standings order */
    long steps;                                /* lockstep steps of the race (= replay frames) */
    double race_time_s;                        /* steps / 15 */
    int replay_frames;
} td_race_result;

typedef struct td_race td_race;

/*
 * Sets a race up on a loop track: n (2..6) racers placed on the grid in the given order.
 * Racers' policies must outlive the race. Opens the replay when asked. *out is allocated
 * here: free it with td_race_close (also after an error from td_race_step or finish).
 */
int td_race_open(td_race **out, const td_track *track, const td_racer *racers, int n,
                 const td_race_options *o, td_err *err);
/* One lockstep step of every car still racing. Returns 1 while the race goes on, 0 once it
 * is over (every car finished or out, or the clock limit), or a negative error code. */
int td_race_step(td_race *r, td_err *err);
/* Moves car k (its origin) to a pose at a speed, for tests and tools (the next step applies
 * the rules there: off track, collisions). */
void td_race_teleport(td_race *r, int k, double x, double y, double yaw, double speed);
/* Car k's world. */
const td_vecenv *td_race_env(const td_race *r, int k);
/* The standings so far (final once td_race_step returned 0); closes the replay. */
int td_race_finish(td_race *r, td_race_result *res, td_err *err);
void td_race_close(td_race *r);

/* td_race_open, steps until the end, td_race_finish, td_race_close. */
int td_race_run(const td_track *track, const td_racer *racers, int n, const td_race_options *o,
                td_race_result *res, td_err *err);

/* Writes the standings as JSON (docs/cli/race.md describes the fields). */
int td_race_write_json(const char *path, const td_track *track, const td_race_options *o,
                       const td_race_result *res, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_RACE_H */
