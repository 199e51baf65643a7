/*
 * evaluate.c - drives a trained policy from the start line (greedy actions) in DeepRacer's
 * evaluation rules, continuous or lap-by-lap, and records laps, events, a simtrace, a JSON
 * report and a track picture coloured by speed.
 */
#include <math.h>
#include <string.h>

#include "trackday/eval.h"
#include "trackday/simtrace.h"
#include "trackday/json.h"
#include "trackday/plot.h"

void td_eval_options_set_config(td_eval_options *o, const td_eval_config *c)
{
    o->laps = c->number_of_trials;
    o->continuous = c->is_continuous;
    o->penalties.max_resets = c->number_of_resets;
    o->penalties.off_track_penalty_s = c->off_track_penalty_s;
    o->penalties.collision_penalty_s = c->collision_penalty_s;
}

void td_eval_options_default(td_eval_options *o)
{
    td_eval_config c;
    memset(o, 0, sizeof(*o));
    td_eval_config_default(&c);
    td_eval_options_set_config(o, &c);
    td_race_config_default(&o->race);
    o->seed = 1;
}

/* The driven line, split into laps (or trials), and the event marks. */
typedef struct trace {
    double *x, *y, *v;
    int n, cap;
    int lap_start[TD_EVAL_MAX_TRIALS + 2];
    int lap_of[TD_EVAL_MAX_TRIALS + 2]; /* the completed lap a part shows, or -1 */
    int n_laps;
    td_plot_mark marks[256];
    int n_marks;
} trace;

static int trace_add(trace *t, double x, double y, double v)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 1024;
        double *nx = td_realloc(t->x, sizeof(double) * cap);
        if (!nx)
            return TD_ENOMEM;
        t->x = nx;
        double *ny = td_realloc(t->y, sizeof(double) * cap);
        if (!ny)
            return TD_ENOMEM;
        t->y = ny;
        double *nv = td_realloc(t->v, sizeof(double) * cap);
        if (!nv)
            return TD_ENOMEM;
        t->v = nv;
        t->cap = cap;
    }
    t->x[t->n] = x;
    t->y[t->n] = y;
    t->v[t->n] = v;
    t->n++;
    return 0;
}

static void trace_mark(trace *t, double x, double y, td_plot_mark_kind kind)
{
    if (t->n_marks < (int)(sizeof(t->marks) / sizeof(t->marks[0]))) {
        t->marks[t->n_marks].x = x;
        t->marks[t->n_marks].y = y;
        t->marks[t->n_marks].kind = kind;
        t->n_marks++;
    }
}

static void trace_free(trace *t)
{
    td_free(t->x);
    td_free(t->y);
    td_free(t->v);
}

static int write_report(const char *path, const td_eval_options *o, const td_track *track,
                        const td_eval_result *r, td_err *err)
{
    json_t *laps = json_array(), *root;
    int rc;
    for (int i = 0; i < r->laps_completed; i++)
        json_array_append_new(laps,
                              json_pack("{s:i, s:f}", "lap", i + 1, "time_s", r->lap_times_s[i]));
    root =
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:i, s:f, s:f, s:i, s:i, s:b, s:o, s:f}", "model",
                  o->model_label ? o->model_label : "", "track", track->name, "direction",
                  o->race.reverse_dir ? "reverse" : "forward", "race_type",
                  td_race_type_name(o->race.race_type), "continuous", o->continuous, "max_resets",
                  o->penalties.max_resets, "off_track_penalty_s", o->penalties.off_track_penalty_s,
                  "collision_penalty_s", o->penalties.collision_penalty_s, "laps_requested",
                  r->laps_requested, "laps_completed", r->laps_completed, "completed", r->completed,
                  "laps", laps, "total_time_s", r->total_time_s);
    if (!root || td__events_to_json(root, &r->events, 1) ||
        json_object_set_new(root, "steps", json_integer((json_int_t)r->steps))) {
        json_decref(root);
        return td_err_set(err, TD_ENOMEM, "%s: cannot build the report", path);
    }
    json_object_set_new(root, "best_lap_s",
                        r->best_lap_s > 0 ? json_real(r->best_lap_s) : json_null());
    json_object_set_new(root, "average_lap_s",
                        r->average_lap_s > 0 ? json_real(r->average_lap_s) : json_null());
    rc = td_json_write_file(path, root, err);
    json_decref(root);
    return rc;
}

static int write_picture(const char *path, const td_eval_options *o, const td_track *track,
                         const trace *t, const td_eval_result *r, td_err *err)
{
    td_plot_lap laps[TD_EVAL_MAX_TRIALS + 1];
    char names[TD_EVAL_MAX_TRIALS + 1][64], title[256];
    td_plot_track_view v;
    int n = 0;
    for (int i = 0; i < t->n_laps && n < TD_EVAL_MAX_TRIALS + 1; i++) {
        int a = t->lap_start[i], b = t->lap_start[i + 1];
        if (b - a < 2)
            continue;
        int lap = o->continuous ? (i < r->laps_completed ? i : -1) : t->lap_of[i];
        if (lap >= 0)
            snprintf(names[n], sizeof(names[n]), "%s %d (%.2f s)", o->continuous ? "lap" : "trial",
                     i + 1, r->lap_times_s[lap]);
        else
            snprintf(names[n], sizeof(names[n]), "%s %d (not completed)",
                     o->continuous ? "lap" : "trial", i + 1);
        laps[n].name = names[n];
        laps[n].x = t->x + a;
        laps[n].y = t->y + a;
        laps[n].value = t->v + a;
        laps[n].n = b - a;
        laps[n].color = NULL;
        n++;
    }
    snprintf(title, sizeof(title), "%s on %s: %d/%d laps%s",
             o->model_label ? o->model_label : "model", track->name, r->laps_completed,
             r->laps_requested, r->best_lap_s > 0 ? "" : " (no complete lap)");
    memset(&v, 0, sizeof(v));
    v.title = title;
    v.track = track;
    v.laps = laps;
    v.n_laps = n;
    v.marks = t->marks;
    v.n_marks = t->n_marks;
    v.scale_label = "speed (m/s)";
    return td_plot_track_write(path, &v, 900, err);
}

/* Events of the run so far: the counts of the ended trials plus the running one's. */
typedef struct tally {
    td_event_counts events;
    int laps;
    double time_s;
} tally;

/*
 * One record of DeepRacer's EvaluationMetrics (EvalMetrics.append_episode_metrics): the
 * progress, the status label, the events since the record before (ev - since) and the
 * elapsed time, ending at end_s simulated seconds. Appended to arr (NULL: nothing).
 */
static int metrics_add(json_t *arr, double progress, const char *label, double end_s,
                       double elapsed_s, const tally *ev, const tally *since, int trial)
{
    if (!arr)
        return 0;
    /* Each rounded on its own, as DeepRacer's (s3_metrics.py EvalMetrics): a lap's start is
     * the previous lap's metric_time even when the two roundings differ by a millisecond. */
    long end_ms = lround(end_s * 1000.0), elapsed_ms = lround(elapsed_s * 1000.0);
    long start_ms = lround((end_s - elapsed_s) * 1000.0);
    const td_event_counts *a = &ev->events, *b = &since->events;
    int crash = a->crashes - b->crashes, immob = a->immobilized - b->immobilized,
        off = a->off_tracks - b->off_tracks, rev = a->reverses - b->reverses;
    json_t *m = json_object();
    if (!m)
        return TD_ENOMEM;
    json_object_set_new(m, "completion_percentage", json_integer((json_int_t)progress));
    json_object_set_new(m, "metric_time", json_integer(end_ms));
    json_object_set_new(m, "start_time", json_integer(start_ms));
    json_object_set_new(m, "elapsed_time_in_milliseconds", json_integer(elapsed_ms));
    json_object_set_new(m, "episode_status", json_string(label));
    json_object_set_new(m, "crash_count", json_integer(crash));
    json_object_set_new(m, "immobilized_count", json_integer(immob));
    json_object_set_new(m, "off_track_count", json_integer(off));
    json_object_set_new(m, "reversed_count", json_integer(rev));
    json_object_set_new(m, "reset_count", json_integer(crash + immob + off + rev));
    json_object_set_new(m, "trial", json_integer(trial));
    return json_array_append_new(arr, m) ? TD_ENOMEM : 0;
}

static void tally_of(tally *t, const tally *base, const td_episode_info *e)
{
    const td_event_counts *a = &base->events, *b = &e->events;
    t->events = (td_event_counts){a->off_tracks + b->off_tracks, a->crashes + b->crashes,
                                  a->reverses + b->reverses,     a->immobilized + b->immobilized,
                                  a->resets + b->resets,         a->penalty_s + b->penalty_s};
    t->laps = base->laps + e->laps;
    t->time_s = base->time_s + e->sim_time_s;
}

int td_evaluate(td_policy *policy, const td_track *track, const td_eval_options *o,
                td_eval_result *r, td_err *err)
{
    td_sim_config cfg;
    td_vecenv env;
    td_vecenv_buffers buf = {0};
    const td_params *seen;
    td_simtrace_writer *st = NULL;
    trace t;
    int rc, trials = 0, action_index = -1;
    long cap;
    tally base = {0}, now = {0}, lap_base = {0};
    json_t *metrics = NULL;

    memset(r, 0, sizeof(*r));
    memset(&t, 0, sizeof(t));
    r->laps_requested =
        o->laps < 1 ? 1 : (o->laps > TD_EVAL_MAX_TRIALS ? TD_EVAL_MAX_TRIALS : o->laps);
    r->best_lap_s = r->average_lap_s = -1;

    td_sim_config_default(&cfg);
    cfg.race = o->race;
    cfg.race.alternate_driving_direction = 0;
    td_policy_sim_sensors(&policy->meta, &cfg);
    if (o->look)
        cfg.look = *o->look;
    cfg.mode = o->continuous ? TD_MODE_CONTINUOUS : TD_MODE_EVAL;
    cfg.laps = r->laps_requested;
    cfg.penalties = o->penalties;
    cfg.seed = o->seed;
    rc = td_vecenv_init(&env, &cfg, track, 1, err);
    if (rc)
        return rc;
    if ((rc = td_vecenv_buffers_init(&buf, &env, err)) != 0)
        goto out;
    if (o->metrics_path && !(metrics = json_array())) {
        rc = td_err_set(err, TD_ENOMEM, "out of memory");
        goto out;
    }
    if (o->reward) {
        td_reward_clear_error(o->reward);
        env.reward_fn = td_reward_batch_cb;
        env.reward_user = o->reward;
    }
    if (o->simtrace_path) {
        rc = td_simtrace_writer_open(&st, o->simtrace_path, err);
        if (rc)
            goto out;
    }
    td_vecenv_reset(&env);
    if (o->start_ndist > 0)
        td_vecenv_reset_car_at(&env, 0, o->start_ndist, o->race.reverse_dir);
    t.lap_start[0] = 0;
    t.n_laps = 1;
    /* Bounded: every lap at a crawl, plus penalties. */
    cap = (long)(r->laps_requested * (track->length / 0.1 * TD_SIM_HZ + 2000));
    for (long step = 0; step < cap; step++) {
        td_policy_obs obs;
        const td_episode_info *cur;
        td_policy_obs_from_env(&env, 0, &obs);
        rc = td_policy_act(policy, &obs, 1, 1, NULL, buf.actions, &action_index, NULL, NULL);
        if (rc)
            goto out;
        /* The step's params describe the pose the action was chosen at: the car's speed there
         * is its speed before the step. */
        double speed_at_pose = td_vecenv_car(&env, 0)->speed;
        td_vecenv_step(&env);
        if (o->reward && (rc = td_reward_failed(o->reward)) != 0) {
            const td_reward_error *re = td_reward_last_error(o->reward);
            td_err_set(err, rc, "the reward function failed at step %d: %s", re->step, re->message);
            goto out;
        }
        int done = buf.dones[0];
        r->steps++;
        cur = done ? td_vecenv_last_episode(&env, 0) : td_vecenv_current_episode(&env, 0);
        seen = td_vecenv_step_params(&env, 0);
        if (o->on_step) {
            td_eval_step es = {&env, seen, cur, done, o->continuous ? r->laps_completed : trials,
                               step};
            if ((rc = o->on_step(o->on_step_user, &es, err)) != 0)
                goto out;
        }
        rc = trace_add(&t, seen->x, seen->y, speed_at_pose);
        if (rc) {
            td_err_set(err, rc, "out of memory recording the drive");
            goto out;
        }
        if (st) {
            td_simtrace_row row;
            td_simtrace_row_from_step(&row, &env, 0);
            /* One episode per lap (continuous) or trial, as DeepRacer's evaluations number
             * them. */
            row.episode = o->continuous ? r->laps_completed : trials;
            row.action = action_index;
            rc = td_simtrace_writer_write(st, &row, err);
            if (rc)
                goto out;
        }
        /* Events of this step show as counters that went up. */
        tally_of(&now, &base, cur);
        if (now.events.off_tracks > r->events.off_tracks)
            trace_mark(&t, seen->x, seen->y, TD_MARK_OFF_TRACK);
        if (now.events.crashes > r->events.crashes)
            trace_mark(&t, seen->x, seen->y, TD_MARK_CRASH);
        if (now.events.reverses > r->events.reverses)
            trace_mark(&t, seen->x, seen->y, TD_MARK_REVERSED);
        if (now.events.immobilized > r->events.immobilized)
            trace_mark(&t, seen->x, seen->y, TD_MARK_IMMOBILIZED);
        r->events = now.events;
        r->total_time_s = now.time_s;
        while (r->laps_completed < now.laps && r->laps_completed < TD_EVAL_MAX_TRIALS) {
            r->lap_times_s[r->laps_completed] = cur->lap_times_s[r->laps_completed - base.laps];
            r->laps_completed++;
            if (o->continuous) {
                t.lap_start[t.n_laps++] = t.n;
                /* DeepRacer records each lap of a continuous run as it completes; the
                 * run's last shows the end's status, the others "In progress". */
                rc = metrics_add(metrics, 100.0,
                                 done ? td_episode_status_label(cur->status) : "In progress",
                                 now.time_s, r->lap_times_s[r->laps_completed - 1], &now, &lap_base,
                                 r->laps_completed);
                lap_base = now;
                if (rc) {
                    td_err_set(err, rc, "out of memory recording the evaluation metrics");
                    goto out;
                }
            }
        }
        if (done) {
            if (o->continuous)
                break;
            /* A trial's record: its lap time when completed, else its time so far. */
            rc = metrics_add(metrics, cur->progress, td_episode_status_label(cur->status),
                             now.time_s, cur->laps > 0 ? cur->lap_times_s[0] : cur->sim_time_s,
                             &now, &base, trials + 1);
            if (rc) {
                td_err_set(err, rc, "out of memory recording the evaluation metrics");
                goto out;
            }
            /* One trial ended: a lap, or an event with no reset left. */
            t.lap_of[trials] = cur->laps > 0 ? r->laps_completed - 1 : -1;
            base = now;
            trials++;
            t.lap_start[t.n_laps++] = t.n;
            if (trials >= r->laps_requested)
                break;
            /* The env began the next trial at the start line; it starts where asked. */
            if (o->start_ndist > 0)
                td_vecenv_reset_car_at(&env, 0, o->start_ndist, o->race.reverse_dir);
        }
    }
    t.lap_start[t.n_laps] = t.n;
    if (o->continuous && t.lap_start[t.n_laps - 1] == t.n)
        t.n_laps--; /* no steps after the last completed lap */
    r->completed = r->laps_completed >= r->laps_requested;
    if (r->laps_completed > 0) {
        double sum = 0;
        r->best_lap_s = r->lap_times_s[0];
        for (int i = 0; i < r->laps_completed; i++) {
            sum += r->lap_times_s[i];
            if (r->lap_times_s[i] < r->best_lap_s)
                r->best_lap_s = r->lap_times_s[i];
        }
        r->average_lap_s = sum / r->laps_completed;
    }
    if (st) {
        rc = td_simtrace_writer_close(st, err);
        st = NULL;
        if (rc)
            goto out;
    }
    if (o->report_path && (rc = write_report(o->report_path, o, track, r, err)) != 0)
        goto out;
    if (o->picture_path && (rc = write_picture(o->picture_path, o, track, &t, r, err)) != 0)
        goto out;
    if (metrics) {
        json_t *root = json_pack("{s:O}", "metrics", metrics);
        if (!root) {
            rc = td_err_set(err, TD_ENOMEM, "%s: cannot build the metrics", o->metrics_path);
            goto out;
        }
        rc = td_json_write_file(o->metrics_path, root, err);
        json_decref(root);
        if (rc)
            goto out;
    }
    rc = 0;
out:
    if (st)
        td_simtrace_writer_close(st, NULL);
    json_decref(metrics);
    trace_free(&t);
    td_vecenv_buffers_free(&buf);
    td_vecenv_free(&env);
    return rc;
}
