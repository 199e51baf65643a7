/*
 * test_logs.c - simtrace logs (eval.h) and the `trackday logs` / `trackday plot` commands:
 * the reader takes DeepRacer's layout (tests/data/simtrace_deepracer.csv, columns in any
 * order, extra columns, continuous actions) and rejects malformed files with the line; the
 * writer and reader round-trip; the analysis and `logs --json` agree with numbers computed
 * here from the raw CSV rows.
 */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "td_test.h"
#include "trackday/logs.h"
#include "trackday/json.h"
#include "trackday/trainer.h"

#define FIXTURE TD_TEST_SOURCE_DIR "/tests/data/simtrace_deepracer.csv"

#ifndef TD_TEST_TRACKDAY_BIN
#define TD_TEST_TRACKDAY_BIN "trackday"
#endif

/* ------------------------------------------------------------------------------------ */
/* Helpers                                                                              */
/* ------------------------------------------------------------------------------------ */

static void write_file(const char *path, const char *text)
{
    td_err err;
    int rc = td_file_write_atomic(path, text, strlen(text), &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
}

/* The fixture's rows parsed independently of the library: plain comma splitting (the fixture
 * has no quotes), fields by DeepRacer's fixed column order. */
typedef struct raw_row {
    long episode, steps;
    double reward, progress, tstamp;
    char status[32];
    int waypoint;
} raw_row;

static int raw_rows(raw_row *out, int cap)
{
    FILE *f = fopen(FIXTURE, "r");
    TD_ASSERT(f != NULL);
    char line[1024];
    int n = 0;
    TD_ASSERT(fgets(line, sizeof(line), f) != NULL); /* header */
    while (fgets(line, sizeof(line), f) && n < cap) {
        char *fields[32];
        int nf = 0;
        char *p = line;
        fields[nf++] = p;
        for (; *p; p++)
            if (*p == ',' && nf < 32) {
                *p = '\0';
                fields[nf++] = p + 1;
            }
        TD_ASSERT_EQ_INT(nf, 17);
        out[n].episode = strtol(fields[0], NULL, 10);
        out[n].steps = strtol(fields[1], NULL, 10);
        out[n].reward = strtod(fields[8], NULL);
        out[n].progress = strtod(fields[11], NULL);
        out[n].waypoint = (int)strtol(fields[12], NULL, 10);
        out[n].tstamp = strtod(fields[14], NULL);
        TD_FMT(out[n].status, "%s", fields[15]);
        n++;
    }
    fclose(f);
    return n;
}

/* Per-episode numbers from raw rows (episodes are consecutive runs of one number). The lap
 * time is DeepRacer's official metric: from the reset before the episode's first step (a
 * simtrace has no row for it: the first step is taken as long as the next one), or from the
 * end of the previous lap when a continuous run goes on (steps counting on after a row at
 * progress 100), to the last row. */
typedef struct raw_ep {
    long episode;
    double total_reward, progress, t0, t1, lap_time;
    char status[32];
    int end_wp;
} raw_ep;

static int raw_episodes(const raw_row *rows, int n, raw_ep *eps)
{
    int ne = 0, first = 0;
    for (int i = 0; i < n; i++) {
        if (i == 0 || rows[i].episode != rows[i - 1].episode) {
            first = i;
            eps[ne].episode = rows[i].episode;
            eps[ne].total_reward = 0;
            eps[ne].t0 = rows[i].tstamp;
            ne++;
        }
        raw_ep *e = &eps[ne - 1];
        e->total_reward += rows[i].reward;
        e->progress = rows[i].progress;
        e->t1 = rows[i].tstamp;
        e->end_wp = rows[i].waypoint;
        TD_FMT(e->status, "%s", rows[i].status);
        if (first > 0 && rows[first - 1].progress >= 100 && strcmp(rows[first].status, "prepare") &&
            rows[first].steps == rows[first - 1].steps + 1)
            e->lap_time = e->t1 - rows[first - 1].tstamp;
        else
            e->lap_time = e->t1 - e->t0 + (i > first ? rows[first + 1].tstamp - e->t0 : 0.0);
    }
    return ne;
}

static const char *HEADER17 =
    "episode,steps,X,Y,yaw,steer,throttle,action,reward,done,all_wheels_on_track,progress,"
    "closest_waypoint,track_len,tstamp,episode_status,pause_duration\n";

/* ------------------------------------------------------------------------------------ */
/* Reader                                                                               */
/* ------------------------------------------------------------------------------------ */

TD_TEST(reads_deepracer_fixture)
{
    raw_row raw[400];
    int nraw = raw_rows(raw, 400);
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_OK(td_simtrace_read(&t, FIXTURE, &err));
    TD_ASSERT_EQ_INT(t.n, nraw);
    TD_ASSERT_EQ_INT(t.n_files, 1);
    TD_ASSERT_EQ_INT(t.has_iteration, 0);
    /* The first data row, field by field. */
    const td_simtrace_row *r = &t.rows[0];
    TD_ASSERT_EQ_INT(r->episode, 0);
    TD_ASSERT_EQ_INT(r->steps, 1);
    TD_ASSERT_NEAR(r->x, 2.0340, 1e-12);
    TD_ASSERT_NEAR(r->y, 0.0814, 1e-12);
    TD_ASSERT_NEAR(r->yaw_deg, 92.2918, 1e-12);
    TD_ASSERT_NEAR(r->steer_deg, 30.0, 1e-12);
    TD_ASSERT_NEAR(r->throttle, 0.5, 1e-12);
    TD_ASSERT_EQ_INT(r->action, 4);
    TD_ASSERT_NEAR(r->reward, 0.256, 1e-12);
    TD_ASSERT_EQ_INT(r->done, 0);
    TD_ASSERT_EQ_INT(r->all_wheels_on_track, 1);
    TD_ASSERT_NEAR(r->progress, 0.6366, 1e-12);
    TD_ASSERT_EQ_INT(r->closest_waypoint, 0);
    TD_ASSERT_NEAR(r->track_len, 12.57, 1e-12);
    TD_ASSERT_NEAR(r->tstamp, 42.567, 1e-12);
    TD_ASSERT_STREQ(r->episode_status, "in_progress");
    TD_ASSERT_EQ_INT(r->iteration, -1);
    /* Every row agrees with the independent parse. */
    int done = 0;
    for (int i = 0; i < t.n; i++) {
        TD_ASSERT_EQ_INT(t.rows[i].episode, raw[i].episode);
        TD_ASSERT_NEAR(t.rows[i].reward, raw[i].reward, 1e-12);
        TD_ASSERT_STREQ(t.rows[i].episode_status, raw[i].status);
        done += t.rows[i].done;
    }
    TD_ASSERT_EQ_INT(done, 4);
    td_simtrace_free(&t);
}

TD_TEST(reader_takes_any_column_order_extra_columns_and_crlf)
{
    const char *a = "episode,steps,X,Y,yaw,steer,throttle,action,reward,done,all_wheels_on_track,"
                    "progress,closest_waypoint,track_len,tstamp,episode_status,pause_duration\n"
                    "3,7,1.5,-2.25,45,-15,1.2,2,0.75,False,True,12.5,9,17.7,3.4,in_progress,0\n";
    const char *b =
        "\xef\xbb\xbf"
        "pause_duration,episode_status,tstamp,track_len,closest_waypoint,note,"
        "progress,all_wheels_on_track,done,reward,action,throttle,steer,yaw,Y,X,steps,episode\r\n"
        "0,in_progress,3.4,17.7,9,\"a, quoted note\",12.5,true,false,0.75,2,1.2,-15,45,-2.25,"
        "1.5,7,3\r\n";
    td_simtrace ta, tb;
    td_simtrace_init(&ta);
    td_simtrace_init(&tb);
    td_err err;
    TD_ASSERT_OK(td_simtrace_parse(&ta, a, strlen(a), "a.csv", &err));
    int rc = td_simtrace_parse(&tb, b, strlen(b), "b.csv", &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
    TD_ASSERT_EQ_INT(ta.n, 1);
    TD_ASSERT_EQ_INT(tb.n, 1);
    const td_simtrace_row *x = &ta.rows[0], *y = &tb.rows[0];
    TD_ASSERT_EQ_INT(y->episode, 3);
    TD_ASSERT_EQ_INT(y->steps, 7);
    TD_ASSERT_NEAR(y->x, x->x, 0);
    TD_ASSERT_NEAR(y->y, -2.25, 0);
    TD_ASSERT_NEAR(y->steer_deg, -15, 0);
    TD_ASSERT_EQ_INT(y->action, 2);
    TD_ASSERT_NEAR(y->reward, 0.75, 0);
    TD_ASSERT_EQ_INT(y->all_wheels_on_track, 1);
    TD_ASSERT_EQ_INT(y->closest_waypoint, 9);
    TD_ASSERT_STREQ(y->episode_status, "in_progress");
    td_simtrace_free(&ta);
    td_simtrace_free(&tb);
}

TD_TEST(reader_accepts_continuous_actions_and_newer_columns)
{
    const char *text =
        "episode,steps,X,Y,yaw,steer,throttle,action,reward,done,all_wheels_on_track,progress,"
        "closest_waypoint,track_len,tstamp,episode_status,pause_duration,obstacle_crash_counter,"
        "wall_clock\n"
        "0,1,0.1,0.2,3,-12.5,1.3,[-12.5, 1.3],0.5,False,True,1,0,17.7,0.1,in_progress,0,2,"
        "1700000000.5\n"
        "0,2,0.1,0.2,3,-12.5,1.3,\"[-12.5, 1.3]\",0.5,True,False,2,1,17.7,0.2,"
        "EpisodeStatus.OFF_TRACK,0,2,1700000000.6\n";
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    int rc = td_simtrace_parse(&t, text, strlen(text), "c.csv", &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
    TD_ASSERT_EQ_INT(t.n, 2);
    TD_ASSERT_EQ_INT(t.rows[0].action, -1);
    TD_ASSERT_EQ_INT(t.rows[1].action, -1);
    TD_ASSERT_NEAR(t.rows[0].reward, 0.5, 0);
    TD_ASSERT_EQ_INT(t.rows[0].obstacle_crash_counter, 2);
    TD_ASSERT_NEAR(t.rows[1].wall_clock, 1700000000.6, 1e-6);
    TD_ASSERT_STREQ(t.rows[1].episode_status, "off_track");
    td_simtrace_free(&t);
}

static void expect_error(const char *body, const char *want1, const char *want2)
{
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    td_err_clear(&err);
    /* A good file first: a failed parse must leave the earlier rows and files unchanged. */
    char good[512];
    TD_FMT(good, "%s0,1,0,0,0,0,1,0,1,False,True,1,0,10,0.1,in_progress,0\n", HEADER17);
    TD_ASSERT_OK(td_simtrace_parse(&t, good, strlen(good), "good.csv", &err));
    TD_ASSERT_EQ_INT(td_simtrace_parse(&t, body, strlen(body), "bad.csv", &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "bad.csv");
    TD_ASSERT_CONTAINS(err.msg, want1);
    if (want2)
        TD_ASSERT_CONTAINS(err.msg, want2);
    TD_ASSERT_EQ_INT(t.n, 1);
    TD_ASSERT_EQ_INT(t.n_files, 1);
    td_simtrace_free(&t);
}

TD_TEST(reader_rejects_malformed_files_with_the_line)
{
    char buf[2048];
    const char *ok = "0,1,0,0,0,0,1,0,1,False,True,1,0,10,0.1,in_progress,0\n";
    /* Wrong column count on line 4. */
    TD_FMT(buf, "%s%s%s0,3,0,0,0,0,1,0,1,False,True,1,0,10\n", HEADER17, ok, ok);
    expect_error(buf, "line 4", "expected 17 columns as in the header, found 14");
    /* A non-numeric value in a numeric column, line 3. */
    TD_FMT(buf, "%s%s0,2,0,0,0,0,1,0,abc,False,True,1,0,10,0.2,in_progress,0\n", HEADER17, ok);
    expect_error(buf, "line 3, column 'reward'", "'abc' is not a number");
    /* A bad boolean. */
    TD_FMT(buf, "%s0,2,0,0,0,0,1,0,1,maybe,True,1,0,10,0.2,in_progress,0\n", HEADER17);
    expect_error(buf, "line 2, column 'done'", "True or False");
    /* A missing required column. */
    expect_error("episode,steps,X,Y,yaw,steer,throttle,action,reward,done,all_wheels_on_track,"
                 "progress,closest_waypoint,track_len,episode_status,pause_duration\n",
                 "line 1", "missing required column 'tstamp'");
    /* No header at all. */
    expect_error(ok, "line 1", "no header row");
    /* Empty. */
    expect_error("", "empty file", NULL);
    /* Blank lines are skipped, so the bad line keeps its number. */
    TD_FMT(buf, "%s\n\n%s0,2,0,0,0,0,1,0,1,False,True,1,x,10,0.2,in_progress,0\n", HEADER17, ok);
    expect_error(buf, "line 5, column 'closest_waypoint'", NULL);
}

TD_TEST(reader_reads_no_further_than_the_given_length)
{
    /* The text is not NUL-terminated and ends in a number without a newline: under ASan an
     * overread past the buffer would fail this test. */
    char text[512];
    int n = snprintf(text, sizeof(text), "%s0,1,0,0,0,0,1,0,1,True,False,10,4,10,0.1,off_track,2.5",
                     HEADER17);
    char *exact = td_malloc((size_t)n);
    TD_ASSERT(exact != NULL);
    memcpy(exact, text, (size_t)n);
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_OK(td_simtrace_parse(&t, exact, (size_t)n, "exact.csv", &err));
    TD_ASSERT_EQ_INT(t.n, 1);
    TD_ASSERT_NEAR(t.rows[0].pause_duration, 2.5, 0);
    td_free(exact);
    td_simtrace_free(&t);
}

TD_TEST(reading_a_missing_file_names_it)
{
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_NE(td_simtrace_read(&t, "/nonexistent/x.csv", &err), 0);
    TD_ASSERT_CONTAINS(err.msg, "/nonexistent/x.csv");
    TD_ASSERT_EQ_INT(td_simtrace_read_dir(&t, "/nonexistent", &err), TD_ENOENT);
    td_simtrace_free(&t);
}

/* ------------------------------------------------------------------------------------ */
/* Writer                                                                               */
/* ------------------------------------------------------------------------------------ */

TD_TEST(writer_then_reader_gives_the_same_rows)
{
    char dir[64], path[128];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/0-iteration.csv", dir);
    td_rng rng;
    td_rng_seed(&rng, 42, 7);
    enum { N = 300 };
    td_simtrace_row rows[N];
    td_simtrace_writer *w;
    td_err err;
    TD_ASSERT_OK(td_simtrace_writer_open(&w, path, &err));
    static const char *st[] = {"in_progress", "lap_complete", "off_track", "crashed"};
    for (int i = 0; i < N; i++) {
        td_simtrace_row *r = &rows[i];
        memset(r, 0, sizeof(*r));
        /* Values on the writer's precision grid, so the comparison can be exact. */
        r->episode = i / 50;
        r->steps = i % 50 + 1;
        r->x = round(td_rng_range(&rng, -10, 10) * 1e4) / 1e4;
        r->y = round(td_rng_range(&rng, -10, 10) * 1e4) / 1e4;
        r->yaw_deg = round(td_rng_range(&rng, -180, 180) * 1e3) / 1e3;
        r->steer_deg = round(td_rng_range(&rng, -30, 30) * 1e3) / 1e3;
        r->throttle = round(td_rng_range(&rng, 0.1, 4) * 1e4) / 1e4;
        r->action = (int)td_rng_below(&rng, 10) - (i % 7 == 0);
        r->reward = round(td_rng_range(&rng, -5, 5) * 1e5) / 1e5;
        r->done = r->steps == 50;
        r->all_wheels_on_track = td_rng_below(&rng, 2);
        r->progress = round(td_rng_range(&rng, 0, 100) * 1e4) / 1e4;
        r->closest_waypoint = (int)td_rng_below(&rng, 200);
        r->track_len = 17.7092;
        r->tstamp = round(i / 15.0 * 1e4) / 1e4;
        TD_FMT(r->episode_status, "%s", st[i % 4]);
        r->pause_duration = i % 11 == 0 ? 2.5 : 0;
        r->obstacle_crash_counter = i % 3;
        r->wall_clock = 1700000000.125 + i;
        r->iteration = i / 100;
        TD_ASSERT_OK(td_simtrace_writer_write(w, r, &err));
    }
    TD_ASSERT_OK(td_simtrace_writer_close(w, &err));

    td_simtrace t;
    td_simtrace_init(&t);
    TD_ASSERT_OK(td_simtrace_read(&t, path, &err));
    TD_ASSERT_EQ_INT(t.n, N);
    TD_ASSERT_EQ_INT(t.has_iteration, 0); /* DeepRacer's columns: the file name says it */
    for (int i = 0; i < N; i++) {
        const td_simtrace_row *a = &rows[i], *b = &t.rows[i];
        TD_ASSERT_EQ_INT(b->episode, a->episode);
        TD_ASSERT_EQ_INT(b->steps, a->steps);
        TD_ASSERT_NEAR(b->x, a->x, 1e-9);
        TD_ASSERT_NEAR(b->y, a->y, 1e-9);
        TD_ASSERT_NEAR(b->yaw_deg, a->yaw_deg, 1e-9);
        TD_ASSERT_NEAR(b->steer_deg, a->steer_deg, 1e-9);
        TD_ASSERT_NEAR(b->throttle, a->throttle, 1e-9);
        TD_ASSERT_EQ_INT(b->action, a->action);
        TD_ASSERT_NEAR(b->reward, a->reward, 1e-9);
        TD_ASSERT_EQ_INT(b->done, a->done);
        TD_ASSERT_EQ_INT(b->all_wheels_on_track, a->all_wheels_on_track);
        TD_ASSERT_NEAR(b->progress, a->progress, 1e-9);
        TD_ASSERT_EQ_INT(b->closest_waypoint, a->closest_waypoint);
        TD_ASSERT_NEAR(b->track_len, a->track_len, 1e-9);
        TD_ASSERT_NEAR(b->tstamp, a->tstamp, 1e-9);
        TD_ASSERT_STREQ(b->episode_status, a->episode_status);
        TD_ASSERT_NEAR(b->pause_duration, a->pause_duration, 1e-9);
        TD_ASSERT_EQ_INT(b->obstacle_crash_counter, a->obstacle_crash_counter);
        TD_ASSERT_NEAR(b->wall_clock, a->wall_clock, 1e-6);
        TD_ASSERT_EQ_INT(b->iteration, -1);
        TD_ASSERT_EQ_INT(b->file, 0);
    }
    td_simtrace_free(&t);
}

TD_TEST(writer_writes_deepracer_columns_and_text)
{
    char dir[64], path[128];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/t.csv", dir);
    td_simtrace_writer *w;
    td_err err;
    TD_ASSERT_OK(td_simtrace_writer_open(&w, path, &err));
    td_simtrace_row r;
    memset(&r, 0, sizeof(r));
    r.episode = 12;
    r.steps = 7;
    r.x = -1.23456;
    r.y = 0.00004;
    r.yaw_deg = -179.5;
    r.steer_deg = 30;
    r.throttle = 1.5;
    r.action = 3;
    r.reward = -0.25;
    r.done = 1;
    r.all_wheels_on_track = 0;
    r.progress = 99.99999;
    r.closest_waypoint = 118;
    r.track_len = 17.70922;
    r.tstamp = 12.0666666;
    TD_FMT(r.episode_status, "off track!");
    r.pause_duration = NAN;
    r.obstacle_crash_counter = -1;
    r.wall_clock = 1700000000.25;
    r.iteration = -1;
    TD_ASSERT_OK(td_simtrace_writer_write(w, &r, &err));
    r.reward = 1e-7; /* below the 6 decimals: written as 0 */
    r.x = -0.00001;  /* rounds to zero without a minus sign */
    TD_FMT(r.episode_status, "in_progress");
    TD_ASSERT_OK(td_simtrace_writer_write(w, &r, &err));
    /* A continuous action as DeepRacer writes it: "[steer speed]". */
    r.action = -1;
    r.steer_deg = -25;
    r.throttle = 1.33104;
    TD_ASSERT_OK(td_simtrace_writer_write(w, &r, &err));
    TD_ASSERT_OK(td_simtrace_writer_close(w, &err));
    char *text;
    size_t len;
    TD_ASSERT_OK(td_file_read(path, &text, &len, &err));
    /* DeepRacer's 19 columns; steps as a float, as its simulator writes them. */
    const char *want =
        "episode,steps,X,Y,yaw,steer,throttle,action,reward,done,all_wheels_on_track,progress,"
        "closest_waypoint,track_len,tstamp,episode_status,pause_duration,"
        "obstacle_crash_counter,wall_clock\n"
        "12,7.0,-1.2346,0.0000,-179.500,30.000,1.5000,3,-0.25,True,False,100.0000,118,17.7092,"
        "12.0667,off_track_,0.0000,-1,1700000000.250\n"
        "12,7.0,0.0000,0.0000,-179.500,30.000,1.5000,3,0,True,False,100.0000,118,17.7092,"
        "12.0667,in_progress,0.0000,-1,1700000000.250\n"
        "12,7.0,0.0000,0.0000,-179.500,-25.000,1.3310,[-25.0 1.331],0,True,False,100.0000,118,"
        "17.7092,12.0667,in_progress,0.0000,-1,1700000000.250\n";
    TD_ASSERT_STREQ(text, want);
    td_free(text);
}

TD_TEST(writer_reports_an_unwritable_path)
{
    td_simtrace_writer *w = (td_simtrace_writer *)1;
    td_err err;
    TD_ASSERT_NE(td_simtrace_writer_open(&w, "/nonexistent/dir/x.csv", &err), 0);
    TD_ASSERT(w == NULL);
    TD_ASSERT_CONTAINS(err.msg, "/nonexistent/dir/x.csv");
}

TD_TEST(row_from_params_maps_the_step_fields)
{
    td_params p;
    memset(&p, 0, sizeof(p));
    p.x = 1.25;
    p.y = -3.5;
    p.heading = 170;
    p.steering_angle = -15;
    p.speed = 2.5;
    p.progress = 42.5;
    p.steps = 77;
    p.closest_waypoints[0] = 12;
    p.closest_waypoints[1] = 13;
    p.track_length = 17.7;
    p.sim_time = 5.2;
    p.all_wheels_on_track = 1;
    td_simtrace_row r;
    memset(&r, 0x5a, sizeof(r)); /* garbage, as an uninitialized stack row would hold */
    td_simtrace_row_from_params(&r, &p);
    TD_ASSERT_EQ_INT(r.iteration, -1);
    TD_ASSERT_EQ_INT(r.obstacle_crash_counter, 0);
    TD_ASSERT_NEAR(r.wall_clock, 0, 0);
    TD_ASSERT_STREQ(r.episode_status, "");
    TD_ASSERT_NEAR(r.x, 1.25, 0);
    TD_ASSERT_NEAR(r.y, -3.5, 0);
    TD_ASSERT_NEAR(r.yaw_deg, 170, 0);
    TD_ASSERT_NEAR(r.steer_deg, -15, 0);
    TD_ASSERT_NEAR(r.throttle, 2.5, 0);
    TD_ASSERT_NEAR(r.progress, 42.5, 0);
    TD_ASSERT_EQ_INT(r.steps, 77);
    TD_ASSERT_EQ_INT(r.closest_waypoint, 12);
    TD_ASSERT_NEAR(r.track_len, 17.7, 0);
    TD_ASSERT_NEAR(r.tstamp, 5.2, 0);
    TD_ASSERT_EQ_INT(r.all_wheels_on_track, 1);
}

/* DeepRacer's simtrace shows the nearer of the two bracketing waypoints (agent_ctrl/utils.py:
 * the next one when strictly nearer to the model point). */
TD_TEST(row_closest_waypoint_is_the_nearer_one)
{
    static const double wp[4][2] = {{0, 0}, {1, 0}, {2, 0}, {3, 0}};
    td_params p;
    memset(&p, 0, sizeof(p));
    p.waypoints = &wp[0][0];
    p.n_waypoints = 4;
    p.closest_waypoints[0] = 1;
    p.closest_waypoints[1] = 2;
    td_simtrace_row r;
    p.x = 1.3;
    p.y = 0.2;
    td_simtrace_row_from_params(&r, &p);
    TD_ASSERT_EQ_INT(r.closest_waypoint, 1);
    p.x = 1.7;
    td_simtrace_row_from_params(&r, &p);
    TD_ASSERT_EQ_INT(r.closest_waypoint, 2);
    p.x = 1.5; /* a tie: the previous one, as DeepRacer's strict comparison */
    td_simtrace_row_from_params(&r, &p);
    TD_ASSERT_EQ_INT(r.closest_waypoint, 1);
}

/* ------------------------------------------------------------------------------------ */
/* Analysis                                                                             */
/* ------------------------------------------------------------------------------------ */

TD_TEST(analysis_matches_the_raw_rows)
{
    raw_row raw[400];
    raw_ep reps[50];
    int nraw = raw_rows(raw, 400);
    int ne = raw_episodes(raw, nraw, reps);
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_OK(td_simtrace_read(&t, FIXTURE, &err));
    td_logs_report r;
    TD_ASSERT_OK(td_logs_analyze(&r, &t, 20, &err));
    TD_ASSERT_EQ_INT(r.n_episodes, ne);
    TD_ASSERT_EQ_INT(r.iteration_source, TD_LOGS_ITER_EPISODES);
    TD_ASSERT_EQ_INT(r.n_iterations, 1);
    int complete = 0, best = -1;
    for (int j = 0; j < ne; j++) {
        const td_logs_episode *e = &r.episodes[j];
        TD_ASSERT_EQ_INT(e->episode, reps[j].episode);
        TD_ASSERT_NEAR(e->total_reward, reps[j].total_reward, 1e-9);
        TD_ASSERT_NEAR(e->progress, reps[j].progress, 1e-12);
        TD_ASSERT_STREQ(e->status, reps[j].status);
        TD_ASSERT_EQ_INT(e->end_waypoint, reps[j].end_wp);
        int c = strcmp(reps[j].status, "lap_complete") == 0;
        TD_ASSERT_EQ_INT(e->complete, c);
        if (c) {
            TD_ASSERT_NEAR(e->lap_time_s, reps[j].lap_time, 1e-9);
            complete++;
            if (best < 0 || reps[j].lap_time < reps[best].lap_time)
                best = j;
        } else {
            TD_ASSERT_LT(e->lap_time_s, 0);
        }
    }
    TD_ASSERT_EQ_INT(complete, 1);
    TD_ASSERT_EQ_INT(r.n_fastest, 1);
    TD_ASSERT_EQ_INT(r.fastest[0], best);
    TD_ASSERT_EQ_INT(r.iterations[0].episodes, ne);
    TD_ASSERT_NEAR(r.iterations[0].completion_rate, 1.0 / ne, 1e-12);
    /* Ends: the incomplete episodes grouped by waypoint, the most frequent first. */
    int total = 0;
    for (int q = 0; q < r.n_ends; q++) {
        int cnt = 0;
        for (int j = 0; j < ne; j++)
            cnt +=
                strcmp(reps[j].status, "lap_complete") != 0 && reps[j].end_wp == r.ends[q].waypoint;
        TD_ASSERT_EQ_INT(r.ends[q].count, cnt);
        if (q)
            TD_ASSERT_LE(r.ends[q].count, r.ends[q - 1].count);
        total += r.ends[q].count;
    }
    TD_ASSERT_EQ_INT(total, ne - complete);
    TD_ASSERT_EQ_INT(r.ends[0].count, 2);
    TD_ASSERT_EQ_INT(r.ends[0].off_track, 2);
    td_logs_report_free(&r);

    /* Two episodes per iteration: iterations 0 and 1 of two episodes each. */
    TD_ASSERT_OK(td_logs_analyze(&r, &t, 2, &err));
    TD_ASSERT_EQ_INT(r.n_iterations, 2);
    TD_ASSERT_EQ_INT(r.iterations[1].iteration, 1);
    TD_ASSERT_EQ_INT(r.iterations[1].episodes, 2);
    TD_ASSERT_NEAR(r.iterations[0].mean_reward, (reps[0].total_reward + reps[1].total_reward) / 2,
                   1e-9);
    TD_ASSERT_EQ_INT(r.episodes[3].iteration, 1);
    td_logs_report_free(&r);
    TD_ASSERT_EQ_INT(td_logs_analyze(&r, &t, 0, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "episodes per iteration must be >= 1 (got 0)");
    td_simtrace_free(&t);
}

TD_TEST(iterations_from_files_in_numeric_order)
{
    char dir[64], sub[128], p1[160], p2[160], p3[160];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(sub, "%s/training-simtrace", dir);
    TD_ASSERT_EQ_INT(mkdir(sub, 0755), 0);
    TD_FMT(p1, "%s/10-iteration.csv", sub);
    TD_FMT(p2, "%s/2-iteration.csv", sub);
    TD_FMT(p3, "%s/notes.txt", sub);
    char a[1024], b[1024];
    TD_FMT(a,
           "%s5,1,0,0,0,0,1,0,2,False,True,50,3,10,1.0,in_progress,0\n"
           "5,2,0,0,0,0,1,0,2,True,True,100,0,10,1.5,lap_complete,0\n",
           HEADER17);
    TD_FMT(b,
           "%s1,1,0,0,0,0,1,0,1,True,False,10,4,10,0.1,off_track,0\n"
           "2,1,0,0,0,0,1,0,3,True,False,20,4,10,0.2,off_track,0\n",
           HEADER17);
    write_file(p1, a);
    write_file(p2, b);
    write_file(p3, "not a csv");
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_OK(td_simtrace_read_dir(&t, dir, &err));
    TD_ASSERT_EQ_INT(t.n_files, 2);
    TD_ASSERT_CONTAINS(t.files[0], "/2-iteration.csv");
    TD_ASSERT_CONTAINS(t.files[1], "/10-iteration.csv");
    char **paths;
    int np;
    TD_ASSERT_OK(td_simtrace_list_dir(dir, NULL, 0, &paths, &np, &err));
    TD_ASSERT_EQ_INT(np, 2);
    TD_ASSERT_STREQ(paths[1], t.files[1]);
    td_dir_list_free(paths, np);
    TD_ASSERT_OK(td_simtrace_list_dir(dir, "10-", 1, &paths, &np, &err));
    TD_ASSERT_EQ_INT(np, 1);
    TD_ASSERT_CONTAINS(paths[0], "/2-iteration.csv");
    td_dir_list_free(paths, np);
    TD_ASSERT_EQ_INT(td_simtrace_list_dir(dir, "eval", 0, &paths, &np, &err), TD_ENOENT);
    TD_ASSERT_EQ_INT(np, 0);
    TD_ASSERT_CONTAINS(err.msg, "with 'eval'");
    td_logs_report r;
    TD_ASSERT_OK(td_logs_analyze(&r, &t, 20, &err));
    TD_ASSERT_EQ_INT(r.iteration_source, TD_LOGS_ITER_FILE);
    TD_ASSERT_EQ_INT(r.n_iterations, 2);
    TD_ASSERT_EQ_INT(r.iterations[0].iteration, 2);
    TD_ASSERT_EQ_INT(r.iterations[0].episodes, 2);
    TD_ASSERT_NEAR(r.iterations[0].mean_reward, 2.0, 1e-12);
    TD_ASSERT_EQ_INT(r.iterations[1].iteration, 10);
    TD_ASSERT_EQ_INT(r.iterations[1].complete, 1);
    /* 0.5 s between the rows, and the first row's step taken as long (from the reset). */
    TD_ASSERT_NEAR(r.iterations[1].best_lap_s, 1.0, 1e-12);
    TD_ASSERT_EQ_INT(r.n_ends, 1);
    TD_ASSERT_EQ_INT(r.ends[0].waypoint, 4);
    TD_ASSERT_EQ_INT(r.ends[0].count, 2);
    td_logs_report_free(&r);
    td_simtrace_free(&t);
}

/* A continuous evaluation numbers its laps as episodes while DeepRacer's `steps` runs on
 * across them: an episode's steps are its own (deepracer-utils: max - min + 1), not the
 * run's (audit section 6, "episode steps in continuous eval"). */
TD_TEST(continuous_laps_count_their_own_steps)
{
    char text[2048], path[512];
    TD_FMT(text,
           "%s0,1,0,0,0,0,0,0,0,False,True,0,0,10,0.0,prepare,0\n"
           "0,2,0,0,0,0,1,0,1,False,True,50,4,10,0.1,in_progress,0\n"
           "0,3,0,0,0,0,1,0,1,False,True,100,8,10,0.2,in_progress,0\n"
           "1,4,0,0,0,0,1,0,1,False,True,50,4,10,0.3,in_progress,0\n"
           "1,5,0,0,0,0,1,0,1,True,True,100,8,10,0.4,lap_complete,0\n",
           HEADER17);
    TD_FMT(path, "%s/cont.csv", td_test_tmpdir());
    write_file(path, text);
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_OK(td_simtrace_read(&t, path, &err));
    td_logs_report r;
    TD_ASSERT_OK(td_logs_analyze(&r, &t, 20, &err));
    TD_ASSERT_EQ_INT(r.n_episodes, 2);
    TD_ASSERT_EQ_INT(r.episodes[0].steps, 3);
    TD_ASSERT_EQ_INT(r.episodes[1].steps, 2);
    TD_ASSERT_NEAR(r.iterations[0].mean_steps, 2.5, 1e-12);
    td_logs_report_free(&r);
    td_simtrace_free(&t);
}

TD_TEST(iterations_from_the_iteration_column)
{
    char text[1024];
    TD_FMT(text,
           "%.*s,iteration\n"
           "0,1,0,0,0,0,1,0,1,True,False,10,4,10,0.1,off_track,0,7\n"
           "1,1,0,0,0,0,1,0,1,True,False,10,4,10,0.1,off_track,0,7\n"
           "2,1,0,0,0,0,1,0,1,True,False,10,4,10,0.1,off_track,0,8\n",
           (int)strlen(HEADER17) - 1, HEADER17);
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_OK(td_simtrace_parse(&t, text, strlen(text), "it.csv", &err));
    td_logs_report r;
    TD_ASSERT_OK(td_logs_analyze(&r, &t, 1, &err));
    TD_ASSERT_EQ_INT(r.iteration_source, TD_LOGS_ITER_COLUMN);
    TD_ASSERT_EQ_INT(r.n_iterations, 2);
    TD_ASSERT_EQ_INT(r.iterations[0].iteration, 7);
    TD_ASSERT_EQ_INT(r.iterations[0].episodes, 2);
    TD_ASSERT_EQ_INT(r.iterations[1].iteration, 8);
    td_logs_report_free(&r);
    td_simtrace_free(&t);
}

/* ------------------------------------------------------------------------------------ */
/* Commands                                                                             */
/* ------------------------------------------------------------------------------------ */

TD_TEST(logs_json_numbers_equal_the_raw_rows)
{
    raw_row raw[400];
    raw_ep reps[50];
    int nraw = raw_rows(raw, 400);
    int ne = raw_episodes(raw, nraw, reps);
    int status;
    char *out;
    status = td_test_run(TD_TEST_TRACKDAY_BIN " logs " FIXTURE " --json", &out, NULL);
    TD_ASSERT_EQ_INT(status, 0);
    json_t *j;
    td_err err;
    int rc = td_json_parse(out, strlen(out), "logs --json", &j, &err);
    TD_ASSERT_MSG(rc == 0, "%s", err.msg);
    json_t *summary = json_object_get(j, "summary");
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(summary, "episodes")), ne);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(summary, "rows")), nraw);
    json_t *eps = json_object_get(j, "episodes");
    TD_ASSERT_EQ_INT(json_array_size(eps), ne);
    double best = -1;
    for (int k = 0; k < ne; k++) {
        json_t *e = json_array_get(eps, (size_t)k);
        TD_ASSERT_EQ_INT(json_integer_value(json_object_get(e, "episode")), reps[k].episode);
        TD_ASSERT_NEAR(json_number_value(json_object_get(e, "total_reward")), reps[k].total_reward,
                       1e-6);
        TD_ASSERT_NEAR(json_number_value(json_object_get(e, "progress")), reps[k].progress, 1e-6);
        TD_ASSERT_STREQ(json_string_value(json_object_get(e, "status")), reps[k].status);
        if (strcmp(reps[k].status, "lap_complete") == 0) {
            double lt = reps[k].lap_time;
            TD_ASSERT_NEAR(json_number_value(json_object_get(e, "lap_time_s")), lt, 1e-6);
            if (best < 0 || lt < best)
                best = lt;
        } else {
            TD_ASSERT(json_is_null(json_object_get(e, "lap_time_s")));
        }
    }
    TD_ASSERT_GT(best, 0);
    json_t *fast = json_object_get(j, "fastest_laps");
    TD_ASSERT_EQ_INT(json_array_size(fast), 1);
    TD_ASSERT_NEAR(json_number_value(json_object_get(json_array_get(fast, 0), "lap_time_s")), best,
                   1e-6);
    TD_ASSERT_NEAR(json_number_value(json_object_get(summary, "best_lap_s")), best, 1e-6);
    json_t *ends = json_object_get(j, "episode_ends");
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(ends, 0), "count")), 2);
    json_decref(j);
    td_free(out);

    /* The text form carries the same fastest lap. */
    status = td_test_run(TD_TEST_TRACKDAY_BIN " logs " FIXTURE, &out, NULL);
    TD_ASSERT_EQ_INT(status, 0);
    char want[32];
    TD_FMT(want, "%.3f", best);
    TD_ASSERT_CONTAINS(out, "fastest complete laps");
    TD_ASSERT_CONTAINS(out, want);
    TD_ASSERT_CONTAINS(out, "where episodes end");
    td_free(out);

    /* A malformed file is refused with its line. */
    char dir[64], bad[128], cmd[300];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(bad, "%s/bad.csv", dir);
    char body[512];
    TD_FMT(body, "%s0,1,0,0,0,0,1,0,1,False,True\n", HEADER17);
    write_file(bad, body);
    TD_FMT(cmd, "%s logs %s 2>&1", TD_TEST_TRACKDAY_BIN, bad);
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 1);
    TD_ASSERT_CONTAINS(out, "line 2");
    td_free(out);
}

TD_TEST(plot_command_writes_curves_and_track_pictures)
{
    char dir[64], p[256], cmd[512];
    TD_FMT(dir, "%s", td_test_tmpdir());
    /* Nothing to plot: a clear message and a failure. */
    TD_FMT(cmd, "%s plot %s 2>&1", TD_TEST_TRACKDAY_BIN, dir);
    int status;
    char *out;
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 1);
    TD_ASSERT_CONTAINS(out, "metrics/training.jsonl");
    TD_ASSERT_CONTAINS(out, "nothing to plot");
    td_free(out);

    TD_FMT(p, "%s/metrics", dir);
    TD_ASSERT_EQ_INT(mkdir(p, 0755), 0);
    TD_FMT(p, "%s/metrics/training.jsonl", dir);
    td_err err;
    for (int i = 0; i < 5; i++) {
        td_train_progress r = {.iteration = i,
                               .episodes = 20 * i,
                               .steps = 100 * i,
                               .mean_reward = i,
                               .mean_progress = 10 * i,
                               .completion_rate = 0.1 * i,
                               .entropy = 1,
                               .mean_steps = NAN,
                               .elapsed_s = NAN,
                               .best = i == 3};
        TD_ASSERT_OK(td_train_metrics_append(p, &r, &err));
    }
    TD_FMT(p, "%s/logs", dir);
    TD_ASSERT_EQ_INT(mkdir(p, 0755), 0);
    TD_FMT(cmd, "cp %s %s/logs/evaluation-0.csv", FIXTURE, dir);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    TD_FMT(cmd, "%s plot %s 2>/dev/null", TD_TEST_TRACKDAY_BIN, dir);
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 0);
    static const char *want[] = {"training.svg", "laps.svg", "waypoints.svg", "reward-lap.svg"};
    for (int i = 0; i < 4; i++) {
        TD_FMT(p, "%s/plots/%s", dir, want[i]);
        TD_ASSERT_CONTAINS(out, p);
        TD_ASSERT_MSG(td_path_exists(p), "%s missing", p);
    }
    td_free(out);

    /* The track from training_params.yaml (WORLD_NAME), drawn under the laps. */
    TD_FMT(p, "%s/training_params.yaml", dir);
    write_file(p, "# a comment\nWORLD_NAME: \"reinvent_base\"\nRACE_TYPE: TIME_TRIAL\n");
    TD_FMT(cmd, "%s plot %s 2>&1", TD_TEST_TRACKDAY_BIN, dir);
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 0);
    TD_ASSERT(strstr(out, "no track") == NULL);
    td_free(out);
    TD_FMT(p, "%s/plots/laps.svg", dir);
    char *svg = td_test_slurp(p);
    TD_ASSERT_CONTAINS(svg, "class=\"road\"");
    TD_ASSERT_CONTAINS(svg, "reinvent_base: evaluation evaluation-0.csv (4 episodes)");
    td_free(svg);
    /* An unknown --track is refused. */
    TD_FMT(cmd, "%s plot %s --track no_such_track 2>&1", TD_TEST_TRACKDAY_BIN, dir);
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 1);
    TD_ASSERT_CONTAINS(out, "no_such_track");
    td_free(out);
}

TD_TEST(logs_keeps_training_and_evaluation_apart)
{
    char dir[64], cmd[512];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(cmd,
           "mkdir -p %s/logs/training-simtrace %s/logs/evaluation-simtrace && "
           "cp %s %s/logs/training-simtrace/0-iteration.csv && "
           "head -50 %s > %s/logs/evaluation-simtrace/0-iteration.csv",
           dir, dir, FIXTURE, dir, FIXTURE, dir);
    TD_ASSERT_EQ_INT(td_test_run(cmd, NULL, NULL), 0);
    int status;
    TD_FMT(cmd, "%s logs %s --json", TD_TEST_TRACKDAY_BIN, dir);
    char *out;
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 0);
    TD_ASSERT_CONTAINS(out, "training-simtrace/0-iteration.csv");
    TD_ASSERT(strstr(out, "evaluation-simtrace") == NULL);
    TD_ASSERT_CONTAINS(out, "\"episodes\": 4");
    td_free(out);
    TD_FMT(cmd, "%s logs %s --eval --json", TD_TEST_TRACKDAY_BIN, dir);
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 0);
    TD_ASSERT_CONTAINS(out, "evaluation-simtrace/0-iteration.csv");
    TD_ASSERT(strstr(out, "training-simtrace") == NULL);
    TD_ASSERT_CONTAINS(out, "\"episodes\": 1");
    td_free(out);
    /* Bad options are refused. */
    TD_FMT(cmd, "%s logs %s --episodes-per-iteration 0 2>&1", TD_TEST_TRACKDAY_BIN, dir);
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 2); /* a command-line mistake */
    TD_ASSERT_CONTAINS(out, "--episodes-per-iteration: 0 is outside [1, 1000000]");
    td_free(out);
}

/* ---- files being written, and files whose writer was killed (issue 10) ------------------- */

TD_TEST(reader_skips_a_last_row_cut_short_with_a_note)
{
    char *text;
    size_t len;
    td_err err;
    TD_ASSERT_OK(td_file_read(FIXTURE, &text, &len, &err));
    /* Cut the file in the middle of its last row, as a writer killed mid-write leaves it, and
     * at every byte of that row. */
    const char *last = text + len - 2;
    while (last > text && *last != '\n')
        last--;
    size_t row_start = (size_t)(last - text) + 1;
    td_simtrace full;
    td_simtrace_init(&full);
    TD_ASSERT_OK(td_simtrace_parse(&full, text, len, "full.csv", &err));
    /* A cut inside the last field leaves a row that parses (with that field shortened): only a
     * row that does not parse can be told apart, so the cuts stop before the last field. */
    size_t last_comma = len - 1;
    while (text[last_comma] != ',')
        last_comma--;
    for (size_t cut = row_start + 1; cut <= last_comma; cut += 3) {
        td_simtrace t;
        td_simtrace_init(&t);
        TD_ASSERT_OK(td_simtrace_parse(&t, text, cut, "cut.csv", &err));
        TD_ASSERT_EQ_INT(t.n, full.n - 1);
        TD_ASSERT_EQ_INT(t.skipped_rows, 1);
        TD_ASSERT_CONTAINS(t.skipped_note, "cut.csv: line ");
        TD_ASSERT_CONTAINS(t.skipped_note, "cut short");
        td_simtrace_free(&t);
    }
    /* Whole rows only: nothing skipped. A whole last row without its newline is a row. */
    td_simtrace t;
    td_simtrace_init(&t);
    TD_ASSERT_OK(td_simtrace_parse(&t, text, row_start, "rows.csv", &err));
    TD_ASSERT_EQ_INT(t.n, full.n - 1);
    TD_ASSERT_EQ_INT(t.skipped_rows, 0);
    td_simtrace_free(&t);
    td_simtrace_init(&t);
    TD_ASSERT_OK(td_simtrace_parse(&t, text, len - 1, "nonl.csv", &err));
    TD_ASSERT_EQ_INT(t.n, full.n);
    TD_ASSERT_EQ_INT(t.skipped_rows, 0);
    td_simtrace_free(&t);
    /* The header itself cut short: no rows yet, a note, no error. */
    td_simtrace_init(&t);
    TD_ASSERT_OK(td_simtrace_parse(&t, text, 20, "new.csv", &err));
    TD_ASSERT_EQ_INT(t.n, 0);
    TD_ASSERT_EQ_INT(t.skipped_rows, 1);
    td_simtrace_free(&t);
    /* A bad row in the middle is still an error with its line. */
    char *bad = td_malloc(len + 1);
    memcpy(bad, text, len + 1);
    char *second = strchr(strchr(bad, '\n') + 1, '\n') + 1;
    second[0] = 'x';
    td_simtrace_init(&t);
    TD_ASSERT_EQ_INT(td_simtrace_parse(&t, bad, len, "bad.csv", &err), TD_EFORMAT);
    TD_ASSERT_CONTAINS(err.msg, "bad.csv: line 3");
    td_simtrace_free(&t);
    td_free(bad);
    td_simtrace_free(&full);
    td_free(text);
}

/* DeepRacer's robomaker and simulation logs: SIM_TRACE_LOG lines among other output, with
 * 17 fields (console), 19 (DeepRacer on AWS, behind ROS node prefixes), continuous actions;
 * a line that is not a whole row (two processes writing at once) is skipped with a note. */
TD_TEST(reader_takes_sim_trace_log_lines)
{
    const char *log =
        "2022-06-12 08:29:01 INFO starting the simulation\n"
        "SIM_TRACE_LOG:0,1,3.1999,0.6831,0.1858,-30.00,1.00,0,0.0000,False,True,0.7913,1,17.71,"
        "6.211,prepare,0.00\n"
        "some other line, with commas, 1, 2, 3\n"
        "SIM_TRACE_LOG:0,2,3.1997,0.6831,0.1833,-30.00,1.00,0,1.0000,False,True,0.7906,1,17.71,"
        "6.279,in_progress,0.00\n"
        "SIM_TRACE_LOG:0,3,3.21,0.68,0.18,-30.00,1.00,0,1.00SIM_TRACE_LOG:0,4\n"
        "[download_params_and_roslaunch_agent_node-1] [agent-9] SIM_TRACE_LOG:1,1,-1.4432,"
        "-1.7133,179.0009,-25.00,1.33,[-25.0 1.3310375874989868],0.0000,False,True,0.8435,1,"
        "16.60,36.16,prepare,0.00,0,1773215987.6239\n"
        "[download_params_and_roslaunch_agent_node-1] [agent-9] SIM_TRACE_LOG:1,2,-1.4432,"
        "-1.7133,178.9998,4.99,2.00,[4.987387227077111 2.0],0.8433,True,True,100.0,1,16.60,"
        "36.231,lap_complete,0.00,2,1773215987.7159\n"
        "SIM_TRACE_LOG:2,1,0.1,0.2,0.3,0.0,1.0,3,0.5,False,True,1.0,4,17.71,7.0,pause,1.5,"
        "1700000000.5\n"
        "SIM_TRACE_LOG:2,2,0.1,0.2";
    td_simtrace t;
    td_err err;
    td_simtrace_init(&t);
    TD_ASSERT_OK(td_simtrace_parse(&t, log, strlen(log), "robomaker.log", &err));
    TD_ASSERT_EQ_INT(t.n, 5);
    TD_ASSERT_EQ_INT(t.skipped_rows, 2);
    TD_ASSERT_CONTAINS(t.skipped_note, "robomaker.log: line 5");
    TD_ASSERT_STREQ(t.rows[0].episode_status, "prepare");
    TD_ASSERT_NEAR(t.rows[1].tstamp, 6.279, 1e-12);
    TD_ASSERT_NEAR(t.rows[1].reward, 1.0, 0);
    TD_ASSERT_EQ_INT(t.rows[2].action, -1);
    TD_ASSERT_NEAR(t.rows[2].steer_deg, -25.0, 1e-12);
    TD_ASSERT_EQ_INT(t.rows[3].done, 1);
    TD_ASSERT_EQ_INT(t.rows[3].obstacle_crash_counter, 2);
    TD_ASSERT_NEAR(t.rows[3].wall_clock, 1773215987.7159, 1e-6);
    TD_ASSERT_STREQ(t.rows[4].episode_status, "pause");
    TD_ASSERT_NEAR(t.rows[4].pause_duration, 1.5, 0);
    TD_ASSERT_NEAR(t.rows[4].wall_clock, 1700000000.5, 1e-6);
    td_simtrace_free(&t);
}

/* Writes a small simtrace (n episodes of 3 rows, the first ones starting at `first`) at path,
 * creating its folders. */
static void layout_file(const char *path, int first, int n)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
    TD_ASSERT_EQ_INT(system(cmd), 0);
    td_simtrace_writer *w;
    td_err err;
    TD_ASSERT_OK(td_simtrace_writer_open(&w, path, &err));
    for (int e = first; e < first + n; e++)
        for (int k = 1; k <= 3; k++) {
            td_simtrace_row r;
            memset(&r, 0, sizeof(r));
            r.episode = e;
            r.steps = k;
            r.action = 1;
            r.tstamp = k / 15.0;
            r.progress = k == 3 ? 100 : 10 * k;
            r.done = k == 3;
            snprintf(r.episode_status, sizeof(r.episode_status), "%s",
                     k == 1   ? "prepare"
                     : k == 3 ? "lap_complete"
                              : "in_progress");
            TD_ASSERT_OK(td_simtrace_writer_write(w, &r, &err));
        }
    TD_ASSERT_OK(td_simtrace_writer_close(w, &err));
}

/* A robomaker-style log with n episodes of SIM_TRACE_LOG lines. */
static void layout_log(const char *path, int n)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
    TD_ASSERT_EQ_INT(system(cmd), 0);
    FILE *f = fopen(path, "w");
    TD_ASSERT(f != NULL);
    fprintf(f, "Using the following hyper-parameters\n");
    for (int e = 0; e < n; e++)
        for (int k = 1; k <= 3; k++)
            fprintf(f,
                    "[agent-9] SIM_TRACE_LOG:%d,%d,0.1,0.2,0.3,0.00,1.00,1,1.0,%s,True,%d,1,17.71,"
                    "%.3f,%s,0.00\n",
                    e, k, k == 3 ? "True" : "False", k == 3 ? 100 : 10 * k, k / 15.0,
                    k == 1   ? "prepare"
                    : k == 3 ? "lap_complete"
                             : "in_progress");
    fclose(f);
}

/* Every layout DeepRacer's tools write (deepracer-utils' samples: deepracer-for-cloud with one
 * and with three workers, the console's export with its robomaker logs, DeepRacer on AWS's
 * export and evaluation-only export), built here in those layouts, read by td_simtrace_find
 * and by `trackday logs`; --eval says when there are no evaluation runs. */
TD_TEST(logs_read_every_deepracer_layout)
{
    char root[256], d[512], p[1024], cmd[1400];
    TD_FMT(root, "%s", td_test_tmpdir());
    static const struct {
        const char *name;
        td_simtrace_kind kind;
        const char *layout;
        int files, episodes, workers;
    } want[] = {
        {"drfc1", TD_SIMTRACE_TRAINING, "deepracer-for-cloud (training-simtrace/)", 3, 6, 1},
        {"drfc1", TD_SIMTRACE_EVALUATION, "deepracer-for-cloud (evaluation-", 2, 6, 1},
        {"drfc3", TD_SIMTRACE_TRAINING, "one folder per worker", 6, 12, 3},
        {"console", TD_SIMTRACE_TRAINING, "DeepRacer console export", 2, 4, 1},
        {"console", TD_SIMTRACE_EVALUATION, "DeepRacer export (sim-trace/evaluation", 1, 3, 1},
        {"console", TD_SIMTRACE_LEADERBOARD, "leaderboard submissions", 2, 6, 1},
        {"droa", TD_SIMTRACE_TRAINING, "DeepRacer on AWS export", 2, 4, 1},
        {"droa", TD_SIMTRACE_EVALUATION, "DeepRacer export (sim-trace/evaluation", 1, 3, 1},
        {"logsonly", TD_SIMTRACE_TRAINING, "simulation log (logs/training", 1, 5, 1},
        {"logsonly", TD_SIMTRACE_EVALUATION, "simulation log (logs/evaluation", 1, 3, 1},
    };
    /* deepracer-for-cloud, one worker: training-simtrace/N-iteration.csv, evaluation-<time>. */
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/drfc1/training-simtrace/%d-iteration.csv", root, i);
        layout_file(p, 2 * i, 2);
    }
    snprintf(p, sizeof(p), "%s/drfc1/evaluation-20220709200242/evaluation-simtrace/0-iteration.csv",
             root);
    layout_file(p, 0, 3);
    snprintf(p, sizeof(p), "%s/drfc1/evaluation-20220709200509/evaluation-simtrace/0-iteration.csv",
             root);
    layout_file(p, 0, 3);
    /* Three workers: DIR/0, DIR/1, DIR/2 (one of them with one file). */
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < (w == 2 ? 1 : 2) + (w == 0); i++) {
            snprintf(p, sizeof(p), "%s/drfc3/%d/training-simtrace/%d-iteration.csv", root, w, i);
            layout_file(p, 2 * i, 2);
        }
    /* The console's export: sim-trace/training/training-simtrace, evaluation runs, logs. */
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), "%s/console/sim-trace/training/training-simtrace/%d-iteration.csv",
                 root, i);
        layout_file(p, 2 * i, 2);
    }
    snprintf(p, sizeof(p),
             "%s/console/sim-trace/evaluation/20220612082523-IBZw/evaluation-simtrace/"
             "0-iteration.csv",
             root);
    layout_file(p, 0, 3);
    snprintf(p, sizeof(p),
             "%s/console/logs/evaluation/evaluation-20220612082853-IBZw-robomaker.log", root);
    layout_log(p, 3);
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof(p),
                 "%s/console/logs/leaderboard/leaderboard-2022070317%d842-wDhq-robomaker.log", root,
                 i);
        layout_log(p, 3);
    }
    snprintf(p, sizeof(p), "%s/console/logs/training/training-20220611230350-EHNg-sagemaker.log",
             root);
    layout_log(p, 0);
    /* DeepRacer on AWS: a folder per job under sim-trace/training and sim-trace/evaluation. */
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof(p),
                 "%s/droa/sim-trace/training/2026-03-06T18:33:59.511Z-deepracerindy-training-A/"
                 "training-simtrace/%d-iteration.csv",
                 root, i);
        layout_file(p, 2 * i, 2);
    }
    snprintf(p, sizeof(p),
             "%s/droa/sim-trace/evaluation/2026-03-07T17:52:00.898Z-deepracerindy-evaluation-B/"
             "evaluation-simtrace/0-iteration.csv",
             root);
    layout_file(p, 0, 3);
    snprintf(p, sizeof(p), "%s/droa/logs/training/2026-03-06T20:36:57.936Z-x-simulation.log", root);
    layout_log(p, 9);
    /* Only the logs of an export. */
    snprintf(p, sizeof(p), "%s/logsonly/logs/training/2026-x-training-simulation.log", root);
    layout_log(p, 5);
    snprintf(p, sizeof(p), "%s/logsonly/logs/evaluation/2026-x-evaluation-simulation.log", root);
    layout_log(p, 3);

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        td_simtrace_files f;
        td_simtrace t;
        td_err err;
        snprintf(d, sizeof(d), "%s/%s", root, want[i].name);
        int rc = td_simtrace_find(d, want[i].kind, &f, &err);
        TD_ASSERT_MSG(rc == 0, "%s kind %d: %s", want[i].name, want[i].kind, err.msg);
        TD_ASSERT_CONTAINS(f.layout, want[i].layout);
        TD_ASSERT_MSG(f.n == want[i].files, "%s kind %d: %d files", want[i].name, want[i].kind,
                      f.n);
        TD_ASSERT_EQ_INT(f.workers, want[i].workers);
        td_simtrace_init(&t);
        TD_ASSERT_OK(td_simtrace_read_files(&t, &f, &err));
        td_logs_report r;
        TD_ASSERT_OK(td_logs_analyze(&r, &t, 20, &err));
        TD_ASSERT_MSG(r.n_episodes == want[i].episodes, "%s kind %d: %d episodes", want[i].name,
                      want[i].kind, r.n_episodes);
        td_logs_report_free(&r);
        td_simtrace_free(&t);
        td_simtrace_files_free(&f);
    }
    /* The command: every layout from its root, and --eval where there is none. */
    int status;
    snprintf(cmd, sizeof(cmd), "%s logs %s/drfc3 --json", TD_TEST_TRACKDAY_BIN, root);
    char *out;
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 0);
    TD_ASSERT_CONTAINS(out, "drfc3/2/training-simtrace/0-iteration.csv");
    td_free(out);
    snprintf(cmd, sizeof(cmd), "%s logs %s/console --leaderboard", TD_TEST_TRACKDAY_BIN, root);
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 0);
    TD_ASSERT_CONTAINS(out, "layout: DeepRacer leaderboard submissions");
    td_free(out);
    snprintf(cmd, sizeof(cmd), "%s logs %s/drfc3 --eval 2>&1", TD_TEST_TRACKDAY_BIN, root);
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 1);
    TD_ASSERT_CONTAINS(out, "drfc3: no evaluation runs (looked for evaluation-*/");
    TD_ASSERT_CONTAINS(out, "; it has training runs (without --eval)\n");
    td_free(out);
    /* An evaluation-only folder (DeepRacer on AWS's evaluation export) without --eval says
     * what it has. */
    snprintf(p, sizeof(p), "%s/evalonly/logs/evaluation/2026-x-evaluation-simulation.log", root);
    layout_log(p, 3);
    snprintf(cmd, sizeof(cmd), "%s logs %s/evalonly 2>&1", TD_TEST_TRACKDAY_BIN, root);
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 1);
    TD_ASSERT_CONTAINS(out, "evalonly: no training runs (looked for");
    TD_ASSERT_CONTAINS(out, "; it has evaluation runs (--eval)\n");
    td_free(out);
    /* A sagemaker log holds no simtrace rows: said so, not as a missing CSV column. */
    snprintf(p, sizeof(p), "%s/training-x-sagemaker.log", root);
    td_test_write(p, "Training> Name=main_level/agent, Worker=0, Episode=1, Total reward=3.2\n"
                     "Policy training> Surrogate loss=-0.01, KL divergence=0.002, episode 1\n");
    snprintf(cmd, sizeof(cmd), "%s logs %s 2>&1", TD_TEST_TRACKDAY_BIN, p);
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 1);
    TD_ASSERT_CONTAINS(out, "training-x-sagemaker.log: no SIM_TRACE_LOG lines: DeepRacer's "
                            "robomaker and simulation logs hold the simtrace rows");
    td_free(out);
}

TD_TEST(reader_and_analysis_survive_out_of_memory)
{
    char *text;
    size_t len;
    td_err err;
    TD_ASSERT_OK(td_file_read(FIXTURE, &text, &len, &err));
    /* Fail the k-th allocation for k = 0, 1, ... until the whole path succeeds: every failure
     * must be TD_ENOMEM with nothing leaked (the harness counts live allocations). */
    int ok = 0;
    for (int k = 0; k < 200 && !ok; k++) {
        td_simtrace t;
        td_simtrace_init(&t);
        td_logs_report r;
        memset(&r, 0, sizeof(r));
        td_alloc_fail_after(k);
        int rc = td_simtrace_parse(&t, text, len, "fixture.csv", &err);
        if (rc == 0)
            rc = td_logs_analyze(&r, &t, 2, &err);
        td_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
            TD_ASSERT_EQ_INT(r.n_episodes, 4);
        } else {
            TD_ASSERT_EQ_INT(rc, TD_ENOMEM);
        }
        td_logs_report_free(&r);
        td_simtrace_free(&t);
    }
    TD_ASSERT(ok);
    td_free(text);
}

TD_TEST(fastest_laps_are_sorted_by_time)
{
    /* Three complete laps of 3.5, 1.5 and 2.5 s (0.5 s steps, each from the reset before its
     * prepare row) and one incomplete episode. */
    char text[2048];
    TD_FMT(text,
           "%s"
           "0,1,0,0,0,0,1,0,0,False,True,1,0,10,10.0,prepare,0\n"
           "0,2,0,0,0,0,1,0,1,False,True,50,3,10,10.5,in_progress,0\n"
           "0,3,0,0,0,0,1,0,1,True,True,100,0,10,13.0,lap_complete,0\n"
           "1,1,0,0,0,0,1,0,0,False,True,1,0,10,20.0,prepare,0\n"
           "1,2,0,0,0,0,1,0,1,False,True,50,3,10,20.5,in_progress,0\n"
           "1,3,0,0,0,0,1,0,1,True,True,100,0,10,21.0,lap_complete,0\n"
           "2,1,0,0,0,0,1,0,1,True,False,5,2,10,22.0,off_track,0\n"
           "3,1,0,0,0,0,1,0,0,False,True,1,0,10,30.0,prepare,0\n"
           "3,2,0,0,0,0,1,0,1,False,True,50,3,10,30.5,in_progress,0\n"
           "3,3,0,0,0,0,1,0,1,True,True,100,0,10,32.0,lap_complete,0\n",
           HEADER17);
    td_simtrace t;
    td_simtrace_init(&t);
    td_err err;
    TD_ASSERT_OK(td_simtrace_parse(&t, text, strlen(text), "laps.csv", &err));
    td_logs_report r;
    TD_ASSERT_OK(td_logs_analyze(&r, &t, 20, &err));
    TD_ASSERT_EQ_INT(r.n_fastest, 3);
    TD_ASSERT_EQ_INT(r.episodes[r.fastest[0]].episode, 1);
    TD_ASSERT_EQ_INT(r.episodes[r.fastest[1]].episode, 3);
    TD_ASSERT_EQ_INT(r.episodes[r.fastest[2]].episode, 0);
    TD_ASSERT_NEAR(r.episodes[r.fastest[0]].lap_time_s, 1.5, 1e-12);
    TD_ASSERT_NEAR(r.iterations[0].best_lap_s, 1.5, 1e-12);
    TD_ASSERT_NEAR(r.iterations[0].completion_rate, 0.75, 1e-12);
    td_logs_report_free(&r);
    td_simtrace_free(&t);
}

TD_TEST(logs_text_shows_the_last_rows_unless_all)
{
    char dir[64], path[128], cmd[400];
    TD_FMT(dir, "%s", td_test_tmpdir());
    TD_FMT(path, "%s/many.csv", dir);
    /* 35 one-step episodes, one per iteration. */
    size_t cap = 8192, len = 0;
    char *text = td_malloc(cap);
    TD_ASSERT(text != NULL);
    len += (size_t)snprintf(text + len, cap - len, "%s", HEADER17);
    for (int e = 0; e < 35; e++)
        len +=
            (size_t)snprintf(text + len, cap - len,
                             "%d,1,0,0,0,0,1,0,1,True,False,5,%d,10,%d.0,off_track,0\n", e, e, e);
    write_file(path, text);
    td_free(text);
    int status;
    TD_FMT(cmd, "%s logs %s --episodes-per-iteration 1", TD_TEST_TRACKDAY_BIN, path);
    char *out;
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 0);
    TD_ASSERT_CONTAINS(out, "(the last 30 of 35;");
    TD_ASSERT_CONTAINS(out, "(the last 20 of 35;");
    TD_ASSERT_CONTAINS(out, "(20 more waypoints; --all lists them)");
    td_free(out);
    TD_FMT(cmd, "%s logs %s --episodes-per-iteration 1 --all", TD_TEST_TRACKDAY_BIN, path);
    status = td_test_run(cmd, &out, NULL);
    TD_ASSERT_EQ_INT(status, 0);
    TD_ASSERT(strstr(out, "the last") == NULL);
    TD_ASSERT(strstr(out, "more waypoints") == NULL);
    td_free(out);
}
