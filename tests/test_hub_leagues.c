#define _GNU_SOURCE /* memmem */
/*
 * test_hub_leagues.c - leagues over HTTP against a real `trackday serve`: each ranking method
 * against standings computed by hand (the official evaluations' reports are those of a worker
 * played by the test, so the lap times are known), ties to the earlier submission, CSV and
 * history; a hidden track is never served to a learner before the league closes (every route
 * tried) and is after; submission limits refused with their reset, then reset; a frozen
 * version cannot change; and with a real `trackday worker`, the official evaluation of the
 * same version twice gives the same result (`trackday submit --wait`). The cached leaderboard
 * equals a recomputed one after every kind of change, on two hub processes of one database
 * (ETag and 304 too); leaderboards of two rankings requested at once keep their orders.
 */
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "hub_harness.h"

static void iso(long long t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static long long post_id(hub_server *s, const char *path, const char *tok, const char *body,
                         const char *key)
{
    hub_resp r;
    hub_json(s, &r, "POST", path, tok, body);
    TD_ASSERT_MSG(r.status == 201, "POST %s %s: %ld %s", path, body, r.status, r.body);
    long long id = json_integer_value(json_object_get(r.json, key));
    hub_resp_free(&r);
    return id;
}

static long long submit(hub_server *s, const char *tok, long long league, long long model)
{
    char path[96], body[96];
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/submissions", league);
    snprintf(body, sizeof(body), "{\"model\":%lld}", model);
    return post_id(s, path, tok, body, "submission");
}

/* What the next fake reports say besides the laps (off-tracks; reward check: -1 none). */
static int fake_off_tracks = 1, fake_reward_ok = -1, fake_crashes = 0;
static const char *fake_type = "league";

/* Instructor ivan's class "ML 101" with learner alice in it, her model m1 and a worker: the
 * three tokens (200 bytes each), the class and model ids. */
static void class_of_one(hub_server *s, char *ivan, char *alice, char *w, long long *cls,
                         long long *m)
{
    hub_resp r;
    char path[96];
    hub_user(s, "ivan", "instructor", ivan, 200);
    hub_user(s, "alice", "learner", alice, 200);
    *cls = post_id(s, "/api/v1/classes", ivan, "{\"name\":\"ML 101\"}", "id");
    snprintf(path, sizeof(path), "/api/v1/classes/%lld/members", *cls);
    TD_ASSERT_EQ_INT(hub_json(s, &r, "POST", path, ivan, "{\"username\":\"alice\"}"), 201);
    hub_resp_free(&r);
    *m = hub_push_init(s, alice, "m1", NULL);
    TD_ASSERT_EQ_INT(hub_json(s, &r, "POST", "/api/v1/workers", s->admin, "{\"name\":\"w1\"}"),
                     201);
    snprintf(w, 200, "%s", json_string_value(json_object_get(r.json, "token")));
    hub_resp_free(&r);
}

/* Plays a worker claiming the next job of a type: its id; the lease header in hdr; the reply
 * stays in r (the caller frees it). */
static long long fake_claim(hub_server *s, const char *wtok, const char *type, hub_resp *r,
                            char *hdr, size_t cap)
{
    char claim[96];
    snprintf(claim, sizeof(claim), "{\"types\":[\"%s\"],\"wait\":5}", type);
    TD_ASSERT_EQ_INT(hub_json(s, r, "POST", "/api/v1/worker/claim", wtok, claim), 200);
    snprintf(hdr, cap, "X-Trackday-Lease: %s",
             json_string_value(json_object_get(r->json, "lease_id")));
    return json_integer_value(json_object_get(r->json, "id"));
}

/* Completes job id with the files of dir, uploaded as a worker does (a gzip tar). */
static void fake_complete(hub_server *s, const char *wtok, const char *hdr, long long id,
                          const char *dir, const char *what)
{
    hub_resp r;
    char out[512], p[800], path[128];
    TD_ASSERT_EQ_INT(hub_sh(out, sizeof(out), "tar czf %s.tgz -C %s . 2>&1", dir, dir), 0);
    char *data = NULL;
    size_t len = 0;
    snprintf(p, sizeof(p), "%s.tgz", dir);
    TD_ASSERT_OK(td_file_read(p, &data, &len, NULL));
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/complete", id);
    hub_req_h(s, &r, "POST", path, wtok, "application/gzip", data, len, hdr);
    td_free(data);
    TD_ASSERT_MSG(r.status == 200, "complete %s %lld: %ld %s", what, id, r.status, r.body);
    hub_resp_free(&r);
}

/*
 * Plays a worker: claims the next league job and completes it with a report of the given lap
 * times (n completed of `requested`). Returns the job's id; *track gets its track.
 */
static long long fake_eval(hub_server *s, const char *wtok, const double *laps, int n,
                           int requested, char *track, size_t cap)
{
    hub_resp r;
    char dir[700], hdr[300];
    static int serial;
    long long id = fake_claim(s, wtok, fake_type, &r, hdr, sizeof(hdr));
    const char *t = json_string_value(json_object_get(json_object_get(r.json, "params"), "track"));
    snprintf(track, cap, "%s", t ? t : "");
    hub_resp_free(&r);
    snprintf(dir, sizeof(dir), "%s/fake-%d", s->dir, serial++);
    mkdir(dir, 0755);
    json_t *lj = json_array();
    double total = 0;
    for (int i = 0; i < n; i++) {
        json_array_append_new(lj, json_pack("{s:i,s:f}", "lap", i + 1, "time_s", laps[i]));
        total += laps[i];
    }
    json_t *rep = json_pack("{s:s,s:o,s:i,s:i,s:b,s:f,s:i,s:i,s:i,s:f}", "track", track, "laps", lj,
                            "laps_requested", requested, "laps_completed", n, "completed",
                            n == requested, "total_time_s", total, "off_tracks", fake_off_tracks,
                            "crashes", fake_crashes, "resets", 1, "penalty_s", 2.0);
    double best = 0;
    for (int i = 0; i < n; i++)
        best = !i || laps[i] < best ? laps[i] : best;
    json_object_set_new(rep, "best_lap_s", n ? json_real(best) : json_null());
    json_object_set_new(rep, "average_lap_s", n ? json_real(total / n) : json_null());
    char p[800];
    snprintf(p, sizeof(p), "%s/eval-%s.json", dir, track);
    TD_ASSERT_EQ_INT(json_dump_file(rep, p, 0), 0);
    json_decref(rep);
    if (fake_reward_ok >= 0) {
        snprintf(p, sizeof(p), "%s/reward-check.json", dir);
        FILE *rf = fopen(p, "w");
        fprintf(rf, "{\"ok\": %s, \"errors\": %d, \"load_error\": null}\n",
                fake_reward_ok ? "true" : "false", fake_reward_ok ? 0 : 28);
        fclose(rf);
    }
    snprintf(p, sizeof(p), "%s/eval-%s.svg", dir, track);
    FILE *f = fopen(p, "w");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\"><title>%s</title></svg>\n", track);
    fclose(f);
    fake_complete(s, wtok, hdr, id, dir, "job");
    return id;
}

static char *get_body(hub_server *s, const char *tok, long *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static char *get_body(hub_server *s, const char *tok, long *status, const char *fmt, ...)
{
    char path[512];
    va_list ap;
    hub_resp r;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    hub_req(s, &r, "GET", path, tok, NULL, NULL, 0);
    *status = r.status;
    char *b = strdup(r.body);
    hub_resp_free(&r);
    return b;
}

/* GET a league's leaderboard into r (the caller frees it). */
static void leaderboard(hub_server *s, const char *tok, long long league, hub_resp *r)
{
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/leaderboard", league);
    TD_ASSERT_EQ_INT(hub_json(s, r, "GET", path, tok, NULL), 200);
}

/* The usernames of a division's standings, in order, as "a,b,c". */
static void standings(hub_server *s, const char *tok, long long league, char *out, size_t cap)
{
    hub_resp r;
    size_t n = 0, i;
    json_t *e;
    leaderboard(s, tok, league, &r);
    json_t *d = json_array_get(json_object_get(r.json, "divisions"), 0);
    out[0] = 0;
    json_array_foreach(json_object_get(d, "entries"), i, e)
    {
        n += (size_t)snprintf(
            out + n, cap - n, "%s%s:%.3f", n ? "," : "",
            json_string_value(json_object_get(json_object_get(e, "user"), "username")),
            json_number_value(json_object_get(e, "score_s")));
        TD_ASSERT_EQ_INT(json_integer_value(json_object_get(e, "rank")), (long long)i + 1);
    }
    hub_resp_free(&r);
}

TD_TEST(each_ranking_method_gives_the_hand_computed_standings)
{
    hub_server s;
    char ivan[200], tok[4][200], w[200] = "", body[512], track[64], got[512];
    const char *names[4] = {"alice", "bob", "carol", "dave"};
    long long models[4];
    hub_start_opts(&s, 1, NULL);
    hub_user(&s, "ivan", "instructor", ivan, sizeof(ivan));
    for (int i = 0; i < 4; i++) {
        hub_user(&s, names[i], "learner", tok[i], sizeof(tok[i]));
        char mname[32];
        snprintf(mname, sizeof(mname), "m-%s", names[i]);
        models[i] = hub_push_init(&s, tok[i], mname, NULL);
    }
    hub_resp r;
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/workers", s.admin, "{\"name\":\"w1\"}"),
                     201);
    snprintf(w, sizeof(w), "%s", json_string_value(json_object_get(r.json, "token")));
    hub_resp_free(&r);
    long long L = post_id(&s, "/api/v1/leagues", ivan,
                          "{\"name\":\"Time trial (open)\",\"tracks\":[\"oval\"],\"laps\":3,"
                          "\"min_laps\":2,\"ranking\":\"BEST_LAP_TIME\"}",
                          "id");
    /* Entries, oldest first, and the laps each official evaluation completed. */
    static const struct {
        int who, n;
        double laps[3];
    } entries[] = {
        {0, 3, {10.0, 11.0, 12.0}}, /* alice: best 10, avg 11, total 33 (3 laps) */
        {1, 2, {9.5, 13.0, 0}},     /* bob: best 9.5, avg 11.25, total 22.5 (2 laps) */
        {2, 1, {9.0, 0, 0}},        /* carol: 1 lap < min_laps: not counted */
        {2, 3, {10.5, 10.5, 10.5}}, /* carol: best 10.5, avg 10.5, total 31.5 */
        {3, 3, {12.0, 10.0, 11.0}}, /* dave: alice's numbers, later: behind her in each */
        {0, 3, {10.2, 13.0, 13.0}}, /* alice again: worse in each, her first entry counts */
    };
    long long sub[6];
    for (int i = 0; i < 6; i++) {
        sub[i] = submit(&s, tok[entries[i].who], L, models[entries[i].who]);
        fake_eval(&s, w, entries[i].laps, entries[i].n, 3, track, sizeof(track));
        TD_ASSERT_STREQ(track, "oval");
    }
    standings(&s, tok[0], L, got, sizeof(got));
    TD_ASSERT_STREQ(got, "bob:9.500,alice:10.000,dave:10.000,carol:10.500");
    /* The same entries under the other two methods. */
    TD_ASSERT_EQ_INT(
        hub_json(&s, &r, "PATCH", "/api/v1/leagues/1", ivan, "{\"ranking\":\"AVG_LAP_TIME\"}"),
        200);
    hub_resp_free(&r);
    standings(&s, tok[1], L, got, sizeof(got));
    TD_ASSERT_STREQ(got, "carol:10.500,alice:11.000,dave:11.000,bob:11.250");
    TD_ASSERT_EQ_INT(
        hub_json(&s, &r, "PATCH", "/api/v1/leagues/1", ivan, "{\"ranking\":\"TOTAL_TIME\"}"), 200);
    hub_resp_free(&r);
    /* More laps first (bob's 22.5 s is two laps), then the lower time. */
    standings(&s, tok[2], L, got, sizeof(got));
    TD_ASSERT_STREQ(got, "carol:31.500,alice:33.000,dave:33.000,bob:22.500");
    /* Each learner's best counted entry: alice's first, carol's second. */
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/leagues/1/leaderboard", tok[3], NULL), 200);
    json_t *es =
        json_object_get(json_array_get(json_object_get(r.json, "divisions"), 0), "entries");
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(es, 0), "submission")),
                     sub[3]);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(es, 1), "submission")),
                     sub[0]);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(es, 1), "entries")), 2);
    hub_resp_free(&r);
    /* Top-N as CSV for qualification. */
    long st;
    char *csv = get_body(&s, ivan, &st, "/api/v1/leagues/%lld/leaderboard?format=csv&top=2", L);
    TD_ASSERT_EQ_INT(st, 200);
    char when[40], want[1024];
    iso(hub_get_clock(&s), when, sizeof(when));
    snprintf(want, sizeof(want),
             "rank,username,division,score_s,best_lap_s,average_lap_s,total_time_s,"
             "laps_completed,submission,model,version,submitted_at\n"
             "1,carol,all,31.500,10.500,10.500,31.500,3,%lld,m-carol,1,%s\n"
             "2,alice,all,33.000,10.000,11.000,33.000,3,%lld,m-alice,1,%s\n",
             sub[3], when, sub[0], when);
    TD_ASSERT_STREQ(csv, want);
    free(csv);
    /* The history of a learner's entries: both of alice's, newest first, with their scores;
     * carol's uncounted one says so. */
    snprintf(body, sizeof(body), "/api/v1/leagues/%lld/submissions", L);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", body, tok[0], NULL), 200);
    json_t *subs = json_object_get(r.json, "submissions");
    TD_ASSERT_EQ_INT(json_array_size(subs), 2);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(subs, 0), "submission")),
                     sub[5]);
    TD_ASSERT(fabs(json_number_value(json_object_get(json_array_get(subs, 0), "score_s")) - 36.2) <
              1e-9);
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/leagues/1/submissions/3", tok[2], NULL), 200);
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "state")), "not_counted");
    hub_resp_free(&r);
    /* Another learner's submission is as if it did not exist; the instructor sees them all. */
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/leagues/1/submissions/3", tok[0], NULL), 404);
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/leagues/1/submissions?user=3", ivan, NULL),
                     200);
    TD_ASSERT_EQ_INT(json_array_size(json_object_get(r.json, "submissions")), 2);
    hub_resp_free(&r);
    hub_stop(&s);
}

/* A request as tok; fails the test unless the status is want and (when secret is given) the
 * body never mentions it. */
static void expect(hub_server *s, const char *tok, const char *method, const char *path,
                   const char *body, long want, const char *secret)
{
    hub_resp r;
    hub_req(s, &r, method, path, tok, body ? "application/json" : NULL, body,
            body ? strlen(body) : 0);
    TD_ASSERT_MSG(r.status == want, "%s %s: %ld (wanted %ld) %s", method, path, r.status, want,
                  r.body);
    if (secret)
        TD_ASSERT_MSG(!strstr(r.body, secret), "%s %s gave away '%s': %s", method, path, secret,
                      r.body);
    hub_resp_free(&r);
}

/* The ids a walk of every route fills in. */
typedef struct {
    long long league, submission, model, class_id, user, job;
    const char *track;
    int n;
} walk_ids;

static void walk_fill(const walk_ids *w, const char *pattern, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = pattern; *p && n + 64 < cap;) {
        if (*p != '{') {
            out[n++] = *p++;
            continue;
        }
        const char *end = strchr(p, '}');
        char name[32];
        snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
        long long v = 1;
        if (!strcmp(name, "id"))
            v = !strncmp(pattern, "/api/v1/leagues/", 16)       ? w->league
                : !strncmp(pattern, "/api/v1/submissions/", 20) ? w->submission
                : !strncmp(pattern, "/api/v1/models/", 15)      ? w->model
                : !strncmp(pattern, "/api/v1/classes/", 16)     ? w->class_id
                : !strncmp(pattern, "/api/v1/users/", 14)       ? w->user
                : !strncmp(pattern, "/api/v1/jobs/", 13)        ? w->job
                                                                : 1;
        else if (!strcmp(name, "sid"))
            v = w->submission;
        else if (!strcmp(name, "n"))
            v = w->n;
        else if (!strcmp(name, "uid"))
            v = w->user;
        if (!strcmp(name, "name"))
            n += (size_t)snprintf(out + n, cap - n, "%s", w->track);
        else if (!strcmp(name, "path"))
            n += (size_t)snprintf(out + n, cap - n, "reward_function.py");
        else
            n += (size_t)snprintf(out + n, cap - n, "%lld", v);
        p = end + 1;
    }
    out[n] = 0;
}

/* Every GET route of the hub's openapi.json as tok, with the ids filled in: no reply
 * mentions secret (event streams are read up to their first event). Returns the routes
 * tried. */
static int walk_every_get(hub_server *s, const char *tok, const walk_ids *w, const char *secret)
{
    hub_resp r;
    int tried = 0;
    TD_ASSERT_EQ_INT(hub_json(s, &r, "GET", "/api/v1/openapi.json", NULL, NULL), 200);
    json_t *doc = json_incref(r.json);
    hub_resp_free(&r);
    const char *pattern;
    json_t *ops;
    json_object_foreach(json_object_get(doc, "paths"), pattern, ops)
    {
        json_t *get = json_object_get(ops, "get");
        if (!get)
            continue;
        char path[512];
        walk_fill(w, pattern, path, sizeof(path));
        json_t *ct = json_object_get(
            json_object_get(json_object_get(json_object_get(get, "responses"), "200"), "content"),
            "text/event-stream");
        if (ct) {
            /* A stream: its first event (if it answers one to this caller). */
            CURL *c = curl_easy_init();
            struct curl_slist *h = NULL;
            char url[700], auth[300];
            hub_sse e;
            memset(&e, 0, sizeof(e));
            e.want_event = strstr(path, "/leaderboard/") ? "leaderboard" : "state";
            e.all = calloc(1, 1);
            snprintf(url, sizeof(url), "%s%s", s->url, path);
            snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
            h = curl_slist_append(h, auth);
            curl_easy_setopt(c, CURLOPT_URL, url);
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hub_sse_cb);
            curl_easy_setopt(c, CURLOPT_WRITEDATA, &e);
            curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
            curl_easy_perform(c);
            curl_slist_free_all(h);
            curl_easy_cleanup(c);
            TD_ASSERT_MSG(!strstr(e.all, secret), "GET %s (stream) gave away '%s': %s", path,
                          secret, e.all);
            free(e.all);
            tried++;
            continue;
        }
        hub_req(s, &r, "GET", path, tok, NULL, NULL, 0);
        TD_ASSERT_MSG(r.status > 0 && r.status < 500, "GET %s: %ld %s", path, r.status, r.body);
        if (strstr(pattern, "{name}")) {
            /* The name is the caller's own words: the answer is that of an unknown track. */
            TD_ASSERT_MSG(r.status == 404, "GET %s: %ld %s", path, r.status, r.body);
            hub_resp_free(&r);
            tried++;
            continue;
        }
        TD_ASSERT_MSG(!memmem(r.body, r.len, secret, strlen(secret)),
                      "GET %s gave away '%s': %ld %.300s", path, secret, r.status, r.body);
        hub_resp_free(&r);
        tried++;
    }
    json_decref(doc);
    return tried;
}

TD_TEST(a_hidden_track_is_never_served_to_a_learner_before_the_league_closes)
{
    hub_server s;
    char ivan[200], alice[200], w[200], track[64], body[512], path[256], when[40];
    const char *secret = "hairpin";
    hub_resp r;
    hub_start_opts(&s, 1, NULL);
    long long now = hub_get_clock(&s), cls, m;
    class_of_one(&s, ivan, alice, w, &cls, &m);
    /* Before the league exists the track is like any other. */
    expect(&s, alice, "GET", "/api/v1/tracks/hairpin", NULL, 200, NULL);
    iso(now + 3600, when, sizeof(when));
    snprintf(body, sizeof(body),
             "{\"name\":\"Qualifier\",\"class\":%lld,\"tracks\":[{\"name\":\"oval\"},{\"name\":"
             "\"hairpin\",\"hidden\":true}],\"laps\":2,\"closes_at\":\"%s\"}",
             cls, when);
    long long L = post_id(&s, "/api/v1/leagues", ivan, body, "id");
    long long sid = submit(&s, alice, L, m);
    /* The worker (a machine of the hub) is told the track; the results come back. */
    int seen_hidden = 0;
    long long jobs[2];
    for (int i = 0; i < 2; i++) {
        double laps[2] = {i ? 20.0 : 10.0, i ? 21.0 : 11.0};
        jobs[i] = fake_eval(&s, w, laps, 2, 2, track, sizeof(track));
        seen_hidden += !strcmp(track, secret);
    }
    TD_ASSERT_EQ_INT(seen_hidden, 1);
    /* Every route a learner might ask, before the close: nothing names or describes it. */
    char lp[64];
    snprintf(lp, sizeof(lp), "/api/v1/leagues/%lld", L);
    expect(&s, alice, "GET", "/api/v1/tracks", NULL, 200, secret);
    expect(&s, alice, "GET", "/api/v1/tracks/hairpin", NULL, 404, NULL);
    expect(&s, alice, "GET", "/api/v1/tracks/hairpin/picture", NULL, 404, NULL);
    /* As unknown as a name that does not exist: the same reply. */
    expect(&s, alice, "GET", "/api/v1/tracks/nosuchtrack", NULL, 404, NULL);
    expect(&s, alice, "GET", "/api/v1/leagues", NULL, 200, secret);
    expect(&s, alice, "GET", lp, NULL, 200, secret);
    snprintf(path, sizeof(path), "%s/leaderboard", lp);
    expect(&s, alice, "GET", path, NULL, 200, secret);
    snprintf(path, sizeof(path), "%s/leaderboard?format=csv", lp);
    expect(&s, alice, "GET", path, NULL, 200, secret);
    snprintf(path, sizeof(path), "%s/submissions", lp);
    expect(&s, alice, "GET", path, NULL, 200, secret);
    snprintf(path, sizeof(path), "%s/submissions/%lld", lp, sid);
    expect(&s, alice, "GET", path, NULL, 200, secret);
    /* Its results are withheld, not only its name: no lap time of 20 s anywhere. */
    expect(&s, alice, "GET", path, NULL, 200, "20.0");
    snprintf(path, sizeof(path), "%s/leaderboard", lp);
    expect(&s, alice, "GET", path, NULL, 200, "31.0");
    for (int p = 1; p <= 2; p++) {
        snprintf(path, sizeof(path), "%s/submissions/%lld/tracks/%d/result", lp, sid, p);
        expect(&s, alice, "GET", path, NULL, p == 1 ? 200 : 404, p == 1 ? NULL : secret);
        snprintf(path, sizeof(path), "%s/submissions/%lld/tracks/%d/picture", lp, sid, p);
        expect(&s, alice, "GET", path, NULL, p == 1 ? 200 : 404, p == 1 ? NULL : secret);
    }
    /* And every GET route the hub has, with the league's, the submission's, the track's and
     * each official job's ids: nothing names the track (the result files of a hidden track
     * would: eval-hairpin.json). */
    for (int i = 0; i < 2; i++)
        for (int n = 1; n <= 2; n++) {
            walk_ids wi = {L, sid, m, cls, 3, jobs[i], secret, n};
            int tried = walk_every_get(&s, alice, &wi, secret);
            TD_ASSERT(tried >= 40);
        }
    /* The official evaluations are not her jobs to read. */
    expect(&s, alice, "GET", "/api/v1/jobs", NULL, 200, secret);
    for (int i = 0; i < 2; i++) {
        static const char *const tails[] = {"", "/events", "/result", "/checkpoint"};
        for (int t = 0; t < 4; t++) {
            snprintf(path, sizeof(path), "/api/v1/jobs/%lld%s", jobs[i], tails[t]);
            expect(&s, alice, "GET", path, NULL, 404, secret);
        }
    }
    /* Her frozen model is hers; it says nothing of the track. */
    snprintf(path, sizeof(path), "/api/v1/submissions/%lld/download", sid);
    expect(&s, alice, "GET", path, NULL, 200, NULL);
    /* Training or evaluating on it is refused as for a track that does not exist. */
    snprintf(body, sizeof(body),
             "{\"type\":\"train\",\"model\":%lld,\"minutes\":1,\"track\":\"%s\"}", m, secret);
    hub_json(&s, &r, "POST", "/api/v1/jobs", alice, body);
    TD_ASSERT_EQ_INT(r.status, 400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "no track named");
    hub_resp_free(&r);
    snprintf(body, sizeof(body), "{\"type\":\"evaluate\",\"model\":%lld,\"track\":\"%s\"}", m,
             secret);
    expect(&s, alice, "POST", "/api/v1/jobs", body, 400, NULL);
    /* The instructor who runs it sees everything. */
    expect(&s, ivan, "GET", "/api/v1/tracks/hairpin", NULL, 200, NULL);
    hub_req(&s, &r, "GET", lp, ivan, NULL, NULL, 0);
    TD_ASSERT_CONTAINS(r.body, secret);
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "%s/submissions/%lld/tracks/2/result", lp, sid);
    expect(&s, ivan, "GET", path, NULL, 200, NULL);
    /* The leaderboard counts only what alice may see: track 1's best lap. */
    snprintf(path, sizeof(path), "%s/leaderboard", lp);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
    json_t *e0 = json_array_get(
        json_object_get(json_array_get(json_object_get(r.json, "divisions"), 0), "entries"), 0);
    TD_ASSERT(fabs(json_number_value(json_object_get(e0, "score_s")) - 10.0) < 1e-9);
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, ivan, NULL), 200);
    e0 = json_array_get(
        json_object_get(json_array_get(json_object_get(r.json, "divisions"), 0), "entries"), 0);
    TD_ASSERT(fabs(json_number_value(json_object_get(e0, "score_s")) - 30.0) < 1e-9);
    hub_resp_free(&r);
    /* After the close, all of it. */
    hub_set_clock(&s, now + 3600);
    expect(&s, alice, "GET", "/api/v1/tracks/hairpin", NULL, 200, NULL);
    expect(&s, alice, "GET", "/api/v1/tracks/hairpin/picture", NULL, 200, NULL);
    hub_req(&s, &r, "GET", "/api/v1/tracks", alice, NULL, NULL, 0);
    TD_ASSERT_CONTAINS(r.body, secret);
    hub_resp_free(&r);
    hub_req(&s, &r, "GET", lp, alice, NULL, NULL, 0);
    TD_ASSERT_CONTAINS(r.body, secret);
    TD_ASSERT_CONTAINS(r.body, "\"state\":\"closed\"");
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "%s/submissions/%lld", lp, sid);
    hub_req(&s, &r, "GET", path, alice, NULL, NULL, 0);
    TD_ASSERT_CONTAINS(r.body, secret);
    TD_ASSERT_CONTAINS(r.body, "20.0");
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "%s/submissions/%lld/tracks/2/picture", lp, sid);
    expect(&s, alice, "GET", path, NULL, 200, NULL);
    snprintf(path, sizeof(path), "%s/leaderboard", lp);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
    e0 = json_array_get(
        json_object_get(json_array_get(json_object_get(r.json, "divisions"), 0), "entries"), 0);
    TD_ASSERT(fabs(json_number_value(json_object_get(e0, "score_s")) - 30.0) < 1e-9);
    hub_resp_free(&r);
    snprintf(body, sizeof(body), "{\"type\":\"evaluate\",\"model\":%lld,\"track\":\"%s\"}", m,
             secret);
    expect(&s, alice, "POST", "/api/v1/jobs", body, 201, NULL);
    /* A closed league takes no more entries. */
    snprintf(path, sizeof(path), "%s/submissions", lp);
    snprintf(body, sizeof(body), "{\"model\":%lld}", m);
    hub_json(&s, &r, "POST", path, alice, body);
    TD_ASSERT_EQ_INT(r.status, 409);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "closed at");
    hub_resp_free(&r);
    hub_stop(&s);
}

TD_TEST(submission_limits_are_refused_with_their_reset_and_reset)
{
    hub_server s;
    char alice[200], ivan[200], path[128], out[2048], when[40];
    hub_resp r;
    hub_start_opts(&s, 1, NULL);
    long long now = hub_get_clock(&s);
    hub_user(&s, "ivan", "instructor", ivan, sizeof(ivan));
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    long long m = hub_push_init(&s, alice, "m1", NULL);
    long long L = post_id(&s, "/api/v1/leagues", ivan,
                          "{\"name\":\"Daily\",\"tracks\":[\"oval\"],\"daily_limit\":2,"
                          "\"total_limit\":3}",
                          "id");
    submit(&s, alice, L, m);
    submit(&s, alice, L, m);
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/submissions", L);
    char body[64];
    snprintf(body, sizeof(body), "{\"model\":%lld}", m);
    hub_json(&s, &r, "POST", path, alice, body);
    TD_ASSERT_EQ_INT(r.status, 429);
    TD_ASSERT_STREQ(hub_err_code(&r), "submission_limit");
    long long midnight = now - now % 86400 + 86400;
    iso(midnight, when, sizeof(when));
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "2 of the 2 submissions league 'Daily' allows per day");
    TD_ASSERT_CONTAINS(hub_err_msg(&r), when);
    json_t *e = json_object_get(r.json, "error");
    TD_ASSERT_STREQ(json_string_value(json_object_get(e, "resets_at")), when);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(e, "allowed")), 2);
    char ra[64];
    snprintf(ra, sizeof(ra), "Retry-After: %lld", midnight - now);
    TD_ASSERT_CONTAINS(r.headers, ra);
    hub_resp_free(&r);
    /* The command line says the same, with exit status 1. */
    int rc = hub_sh(out, sizeof(out),
                    "TRACKDAY_HUB=%s TRACKDAY_TOKEN=%s %s submit m1 --league Daily 2>&1", s.url,
                    alice, TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_EQ_INT(rc, 1);
    TD_ASSERT_CONTAINS(out, "allows per day; the next is allowed at");
    TD_ASSERT_CONTAINS(out, when);
    /* At midnight (UTC) the day's limit resets; the total one does not. */
    hub_set_clock(&s, midnight);
    rc = hub_sh(out, sizeof(out),
                "TRACKDAY_HUB=%s TRACKDAY_TOKEN=%s %s submit m1 --league Daily 2>&1", s.url, alice,
                TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_MSG(rc == 0, "submit: %s", out);
    TD_ASSERT_CONTAINS(out, "to league 1: submission 3 (frozen as sha256 ");
    hub_json(&s, &r, "POST", path, alice, body);
    TD_ASSERT_EQ_INT(r.status, 429);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "3 of the 3 submissions league 'Daily' allows in total");
    TD_ASSERT(json_is_null(json_object_get(json_object_get(r.json, "error"), "resets_at")));
    hub_resp_free(&r);
    /* A league not yet open, and a model that is not hers. */
    iso(midnight + 86400, when, sizeof(when));
    char lb[256];
    snprintf(lb, sizeof(lb), "{\"name\":\"Later\",\"tracks\":[\"oval\"],\"opens_at\":\"%s\"}",
             when);
    long long L2 = post_id(&s, "/api/v1/leagues", ivan, lb, "id");
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/submissions", L2);
    hub_json(&s, &r, "POST", path, alice, body);
    TD_ASSERT_EQ_INT(r.status, 409);
    TD_ASSERT_STREQ(hub_err_code(&r), "league_not_open");
    TD_ASSERT_CONTAINS(hub_err_msg(&r), when);
    hub_resp_free(&r);
    rc = hub_sh(out, sizeof(out), "TRACKDAY_HUB=%s TRACKDAY_TOKEN=%s %s submit m1 2>&1", s.url,
                alice, TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_EQ_INT(rc, 2);
    TD_ASSERT_CONTAINS(out, "--league");
    hub_stop(&s);
}

TD_TEST(a_frozen_version_cannot_be_changed)
{
    hub_server s;
    char alice[200], ivan[200], path[800], out[4096];
    hub_resp r;
    hub_start(&s);
    hub_user(&s, "ivan", "instructor", ivan, sizeof(ivan));
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    long long m = hub_push_init(&s, alice, "m1", "def reward_function(params):\n    return 1.0\n");
    snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/1", m);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
    char sha[80];
    snprintf(sha, sizeof(sha), "%s", json_string_value(json_object_get(r.json, "content_sha256")));
    hub_resp_free(&r);
    long long L =
        post_id(&s, "/api/v1/leagues", ivan, "{\"name\":\"Frozen\",\"tracks\":[\"oval\"]}", "id");
    long long sid = submit(&s, alice, L, m);
    /* Evaluated (a model with an evaluation running cannot be deleted). */
    char w[200], track[64];
    double laps[1] = {12.5};
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/workers", s.admin, "{\"name\":\"w1\"}"),
                     201);
    snprintf(w, sizeof(w), "%s", json_string_value(json_object_get(r.json, "token")));
    hub_resp_free(&r);
    fake_eval(&s, w, laps, 1, 3, track, sizeof(track));
    /* A new version and then the model deleted: the submission keeps version 1's files. */
    FILE *f;
    snprintf(path, sizeof(path), "%s/m1/reward_function.py", s.dir);
    f = fopen(path, "w");
    fputs("def reward_function(params):\n    return 2.0\n", f);
    fclose(f);
    TD_ASSERT_EQ_INT(hub_sh(out, sizeof(out), "cd %s && tar czf m1-v2.tgz -C m1 .", s.dir), 0);
    char *data;
    size_t len;
    snprintf(path, sizeof(path), "%s/m1-v2.tgz", s.dir);
    TD_ASSERT_OK(td_file_read(path, &data, &len, NULL));
    snprintf(path, sizeof(path), "/api/v1/models/%lld/versions", m);
    hub_req(&s, &r, "POST", path, alice, "application/gzip", data, len);
    td_free(data);
    TD_ASSERT_EQ_INT(r.status, 201);
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/models/%lld", m);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "DELETE", path, alice, NULL), 204);
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/submissions/%lld", L, sid);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "content_sha256")), sha);
    TD_ASSERT_EQ_INT(
        json_integer_value(json_object_get(json_object_get(r.json, "model"), "version")), 1);
    hub_resp_free(&r);
    /* Nothing changes a submission. */
    for (int i = 0; i < 3; i++) {
        static const char *const methods[] = {"PUT", "PATCH", "DELETE"};
        hub_json(&s, &r, methods[i], path, alice, i < 2 ? "{\"model\":1,\"version\":2}" : NULL);
        TD_ASSERT_EQ_INT(r.status, 405);
        hub_resp_free(&r);
    }
    /* Its files are version 1's, byte for byte. */
    snprintf(path, sizeof(path), "/api/v1/submissions/%lld/download", sid);
    hub_req(&s, &r, "GET", path, alice, NULL, NULL, 0);
    TD_ASSERT_EQ_INT(r.status, 200);
    char tgz[700];
    snprintf(tgz, sizeof(tgz), "%s/frozen.tgz", s.dir);
    f = fopen(tgz, "wb");
    fwrite(r.body, 1, r.len, f);
    fclose(f);
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(
        hub_sh(out, sizeof(out),
               "tar xzOf %s ./reward_function.py 2>&1 || tar xzOf %s reward_function.py", tgz, tgz),
        0);
    TD_ASSERT_CONTAINS(out, "return 1.0");
    /* Another learner may not download it. */
    char bob[200];
    hub_user(&s, "bob", "learner", bob, sizeof(bob));
    expect(&s, bob, "GET", path, NULL, 404, NULL);
    hub_stop(&s);
}

TD_TEST(the_official_evaluation_of_the_same_version_twice_gives_the_same_result)
{
    hub_server s;
    char alice[200], ivan[200], wt[200] = "", out[8192], path[256];
    hub_resp r;
    hub_start(&s);
    hub_user(&s, "ivan", "instructor", ivan, sizeof(ivan));
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    long long m = hub_push_init(&s, alice, "m1", NULL);
    pid_t w = hub_worker(&s, "w1", wt, sizeof(wt), NULL);
    /* A model that has trained (an iteration) so that it can be evaluated. */
    char tb[160];
    snprintf(tb, sizeof(tb),
             "{\"type\":\"train\",\"model\":%lld,\"minutes\":1,\"iterations\":1,\"track\":"
             "\"oval\"}",
             m);
    long long tj = hub_submit(&s, alice, tb);
    char *ev0 = hub_wait_event(&s, alice, tj, "end", NULL, 300);
    TD_ASSERT_CONTAINS(ev0, "succeeded");
    free(ev0);
    long long L = post_id(&s, "/api/v1/leagues", ivan,
                          "{\"name\":\"Oval sprint\",\"tracks\":[\"oval\"],\"laps\":1,"
                          "\"max_resets\":3,\"off_track_penalty\":3.5,\"seed\":42}",
                          "id");
    /* The command line, waiting for the result. */
    int rc = hub_sh(out, sizeof(out),
                    "TRACKDAY_HUB=%s TRACKDAY_TOKEN=%s timeout 300 %s submit m1 --league 'Oval "
                    "sprint' --wait 2>&1",
                    s.url, alice, TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_MSG(rc == 0, "submit --wait: %s", out);
    TD_ASSERT_CONTAINS(out, "version 2 to league 1: submission 1");
    TD_ASSERT_CONTAINS(out, "track 1 oval: succeeded");
    long long s2 = submit(&s, alice, L, m);
    TD_ASSERT_EQ_INT(s2, 2);
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/submissions/2", L);
    json_t *evs[2] = {NULL, NULL};
    for (int tries = 0; tries < 600; tries++) {
        TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
        const char *st = json_string_value(
            json_object_get(json_array_get(json_object_get(r.json, "evaluations"), 0), "state"));
        int done = st && strcmp(st, "queued") && strcmp(st, "running");
        hub_resp_free(&r);
        if (done)
            break;
        /* Waits for the worker's news (the job's event stream ends with the job). */
        TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/leagues/1/submissions/2", ivan, NULL),
                         200);
        long long job = json_integer_value(
            json_object_get(json_array_get(json_object_get(r.json, "evaluations"), 0), "job"));
        hub_resp_free(&r);
        free(hub_wait_event(&s, s.admin, job, "end", NULL, 300));
    }
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/api/v1/leagues/%lld/submissions/%d", L, i + 1);
        TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
        json_t *ev = json_array_get(json_object_get(r.json, "evaluations"), 0);
        TD_ASSERT_STREQ(json_string_value(json_object_get(ev, "state")), "succeeded");
        json_object_del(ev, "job");
        evs[i] = json_incref(ev);
        hub_resp_free(&r);
    }
    char *a = json_dumps(evs[0], JSON_SORT_KEYS), *b = json_dumps(evs[1], JSON_SORT_KEYS);
    TD_ASSERT_STREQ(a, b);
    /* The simtraces too, step for step. */
    char sims[2][8192];
    for (int i = 0; i < 2; i++) {
        char tgz[700];
        snprintf(path, sizeof(path), "/api/v1/leagues/%lld/submissions/%d/tracks/1/result", L,
                 i + 1);
        hub_req(&s, &r, "GET", path, alice, NULL, NULL, 0);
        TD_ASSERT_EQ_INT(r.status, 200);
        snprintf(tgz, sizeof(tgz), "%s/official-%d.tgz", s.dir, i);
        FILE *f = fopen(tgz, "wb");
        fwrite(r.body, 1, r.len, f);
        fclose(f);
        hub_resp_free(&r);
        TD_ASSERT_EQ_INT(hub_sh(sims[i], sizeof(sims[i]),
                                "mkdir -p %s.d && tar xzf %s -C %s.d && sha256sum < "
                                "%s.d/eval-oval-simtrace.csv",
                                tgz, tgz, tgz, tgz),
                         0);
        TD_ASSERT_MSG(strlen(sims[i]) >= 64, "%s", sims[i]);
    }
    TD_ASSERT_STREQ(sims[0], sims[1]);
    /* Its replay: a video when this machine's worker has ffmpeg, else a 404 that says so. */
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/submissions/1/tracks/1/replay", L);
    hub_req(&s, &r, "GET", path, alice, NULL, NULL, 0);
    if (access("/usr/bin/ffmpeg", X_OK) == 0) {
        TD_ASSERT_EQ_INT(r.status, 200);
        TD_ASSERT(r.len > 1000 && memcmp(r.body + 4, "ftyp", 4) == 0);
    } else {
        TD_ASSERT_EQ_INT(r.status, 404);
        TD_ASSERT_CONTAINS(r.body, "had no ffmpeg");
    }
    hub_resp_free(&r);
    TD_ASSERT_CONTAINS(a, "\"lap_times_s\"");
    free(a);
    free(b);
    json_decref(evs[0]);
    json_decref(evs[1]);
    /* The worker ran it with the league's settings and seed. */
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/leagues/1/submissions/1", ivan, NULL), 200);
    long long job = json_integer_value(
        json_object_get(json_array_get(json_object_get(r.json, "evaluations"), 0), "job"));
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld", job);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, s.admin, NULL), 200);
    json_t *res = json_object_get(r.json, "result");
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(res, "max_resets")), 3);
    TD_ASSERT(fabs(json_number_value(json_object_get(res, "off_track_penalty_s")) - 3.5) < 1e-9);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(res, "laps_requested")), 1);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(r.json, "params"), "seed")),
                     42);
    hub_resp_free(&r);
    /* An assignment graded by the same worker, the reward function checked in its sandbox. */
    long long cls = post_id(&s, "/api/v1/classes", ivan, "{\"name\":\"ML 101\"}", "id");
    snprintf(path, sizeof(path), "/api/v1/classes/%lld/members", cls);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", path, ivan, "{\"username\":\"alice\"}"), 201);
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/classes/%lld/assignments", cls);
    long long A = post_id(&s, path, ivan,
                          "{\"name\":\"Follow the centre line\",\"track\":\"oval\",\"laps\":1,"
                          "\"deadline\":\"2099-01-01T00:00:00Z\",\"criteria\":[{\"kind\":"
                          "\"complete_laps\",\"value\":1},{\"kind\":\"reward_check\"}]}",
                          "id");
    snprintf(path, sizeof(path), "/api/v1/assignments/%lld/submissions", A);
    char mb[64];
    snprintf(mb, sizeof(mb), "{\"model\":%lld}", m);
    long long gs = post_id(&s, path, alice, mb, "submission");
    snprintf(path, sizeof(path), "/api/v1/assignments/%lld/submissions/%lld", A, gs);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
    long long gj = json_integer_value(json_object_get(r.json, "job"));
    hub_resp_free(&r);
    free(hub_wait_event(&s, s.admin, gj, "end", NULL, 300));
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "state")), "graded");
    json_t *rc_crit = json_array_get(json_object_get(r.json, "criteria"), 1);
    TD_ASSERT_MSG(json_is_true(json_object_get(rc_crit, "passed")), "reward check: %s", r.body);
    TD_ASSERT_STREQ(json_string_value(json_object_get(rc_crit, "measured")), "ok");
    hub_resp_free(&r);
    TD_ASSERT(WIFEXITED(hub_worker_stop(w, SIGTERM)));
    hub_stop(&s);
}

TD_TEST(assignments_grade_each_criterion_mark_late_work_and_fill_the_gradebook)
{
    hub_server s;
    char ivan[200], alice[200], bob[200], w[200], track[64], body[1024], path[256], when[40];
    hub_resp r;
    hub_start_opts(&s, 1, NULL);
    long long now = hub_get_clock(&s);
    hub_user(&s, "ivan", "instructor", ivan, sizeof(ivan));
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    hub_user(&s, "bob", "learner", bob, sizeof(bob));
    long long cls = post_id(&s, "/api/v1/classes", ivan, "{\"name\":\"ML 101\"}", "id");
    snprintf(path, sizeof(path), "/api/v1/classes/%lld/members", cls);
    for (int i = 0; i < 2; i++) {
        TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", path, ivan,
                                  i ? "{\"username\":\"bob\"}" : "{\"username\":\"alice\"}"),
                         201);
        hub_resp_free(&r);
    }
    long long ma = hub_push_init(&s, alice, "ma", NULL), mb = hub_push_init(&s, bob, "mb", NULL);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/workers", s.admin, "{\"name\":\"w1\"}"),
                     201);
    snprintf(w, sizeof(w), "%s", json_string_value(json_object_get(r.json, "token")));
    hub_resp_free(&r);
    /* Seven points in six criteria; due in an hour. */
    iso(now + 3600, when, sizeof(when));
    snprintf(body, sizeof(body),
             "{\"name\":\"Go faster without crashing\",\"track\":\"oval\",\"laps\":3,"
             "\"deadline\":\"%s\",\"criteria\":[{\"kind\":\"complete_laps\",\"value\":3,"
             "\"points\":2},{\"kind\":\"avg_lap_under\",\"value\":11.5},{\"kind\":"
             "\"best_lap_under\",\"value\":9.8},{\"kind\":\"max_off_tracks\",\"value\":0},"
             "{\"kind\":\"max_crashes\",\"value\":0},{\"kind\":\"reward_check\"}]}",
             when);
    snprintf(path, sizeof(path), "/api/v1/classes/%lld/assignments", cls);
    long long A = post_id(&s, path, ivan, body, "id");
    /* The second takes no late work. */
    snprintf(body, sizeof(body),
             "{\"name\":\"Follow the centre line\",\"track\":\"oval\",\"deadline\":\"%s\","
             "\"accept_late\":false,\"criteria\":[{\"kind\":\"complete_laps\",\"value\":1}]}",
             when);
    long long A2 = post_id(&s, path, ivan, body, "id");
    fake_type = "grade";
    char sp[128];
    snprintf(sp, sizeof(sp), "/api/v1/assignments/%lld/submissions", A);
    char mbody[64];
    /* alice: 3 laps averaging 11.0 (best 10.0), an off-track, a good reward: 5 of 7. */
    snprintf(mbody, sizeof(mbody), "{\"model\":%lld}", ma);
    long long a1 = post_id(&s, sp, alice, mbody, "submission");
    fake_off_tracks = 1;
    fake_reward_ok = 1;
    double la[3] = {10.0, 11.0, 12.0};
    fake_eval(&s, w, la, 3, 3, track, sizeof(track));
    /* bob: 2 laps of 3 (best 9.5, average 9.7), no off-track, two crashes, a reward that
     * fails: 3 of 7. */
    snprintf(mbody, sizeof(mbody), "{\"model\":%lld}", mb);
    long long b1 = post_id(&s, sp, bob, mbody, "submission");
    fake_off_tracks = 0;
    fake_reward_ok = 0;
    fake_crashes = 2;
    double lb[2] = {9.5, 9.9};
    fake_eval(&s, w, lb, 2, 3, track, sizeof(track));
    fake_crashes = 0;
    snprintf(path, sizeof(path), "%s/%lld", sp, a1);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
    TD_ASSERT_STREQ(json_string_value(json_object_get(r.json, "state")), "graded");
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(r.json, "points")), 5);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(r.json, "max_points")), 7);
    TD_ASSERT(json_is_false(json_object_get(r.json, "passed")));
    TD_ASSERT(json_is_false(json_object_get(r.json, "late")));
    static const int want_a[6] = {1, 1, 0, 0, 1, 1};
    json_t *crit = json_object_get(r.json, "criteria");
    TD_ASSERT_EQ_INT(json_array_size(crit), 6);
    for (int i = 0; i < 6; i++)
        TD_ASSERT_MSG(json_is_true(json_object_get(json_array_get(crit, i), "passed")) == want_a[i],
                      "alice's criterion %d: %s", i, r.body);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(crit, 0), "points")), 2);
    TD_ASSERT(fabs(json_number_value(json_object_get(json_array_get(crit, 1), "measured")) - 11.0) <
              1e-9);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(crit, 3), "measured")), 1);
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "%s/%lld", sp, b1);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, bob, NULL), 200);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(r.json, "points")), 3);
    static const int want_b[6] = {0, 1, 1, 1, 0, 0};
    crit = json_object_get(r.json, "criteria");
    for (int i = 0; i < 6; i++)
        TD_ASSERT_MSG(json_is_true(json_object_get(json_array_get(crit, i), "passed")) == want_b[i],
                      "bob's criterion %d: %s", i, r.body);
    TD_ASSERT_CONTAINS(r.body, "28 errors");
    hub_resp_free(&r);
    /* One learner does not see another's grade. */
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 404);
    hub_resp_free(&r);
    /* After the deadline: alice's better work is graded and marked late; the second
     * assignment refuses late work. */
    hub_set_clock(&s, now + 3600);
    snprintf(mbody, sizeof(mbody), "{\"model\":%lld}", ma);
    long long a2 = post_id(&s, sp, alice, mbody, "submission");
    fake_off_tracks = 0;
    fake_reward_ok = 1;
    double lc[3] = {9.0, 9.5, 9.6};
    fake_eval(&s, w, lc, 3, 3, track, sizeof(track));
    snprintf(path, sizeof(path), "%s/%lld", sp, a2);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(r.json, "points")), 7);
    TD_ASSERT(json_is_true(json_object_get(r.json, "passed")));
    TD_ASSERT(json_is_true(json_object_get(r.json, "late")));
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/assignments/%lld/submissions", A2);
    snprintf(mbody, sizeof(mbody), "{\"model\":%lld}", mb);
    hub_json(&s, &r, "POST", path, bob, mbody);
    TD_ASSERT_EQ_INT(r.status, 409);
    TD_ASSERT_STREQ(hub_err_code(&r), "past_deadline");
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "takes no late submissions");
    hub_resp_free(&r);
    /* The gradebook: best grade, attempts, late; learners may not read it. */
    snprintf(path, sizeof(path), "/api/v1/classes/%lld/gradebook", cls);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 403);
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, ivan, NULL), 200);
    json_t *ls = json_object_get(r.json, "learners");
    TD_ASSERT_EQ_INT(json_array_size(ls), 2);
    json_t *ga = json_array_get(json_object_get(json_array_get(ls, 0), "grades"), 0);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(ga, "points")), 7);
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(ga, "attempts")), 2);
    TD_ASSERT(json_is_true(json_object_get(ga, "late")));
    TD_ASSERT_EQ_INT(json_integer_value(json_object_get(ga, "submission")), a2);
    hub_resp_free(&r);
    char *csv;
    long st;
    csv = get_body(&s, ivan, &st, "/api/v1/classes/%lld/gradebook?format=csv", cls);
    TD_ASSERT_EQ_INT(st, 200);
    TD_ASSERT_STREQ(csv, "username,Go faster without crashing points,Go faster without crashing "
                         "max,Go faster without crashing passed,Go faster without crashing "
                         "attempts,Go faster without crashing late,Follow the centre line "
                         "points,Follow the centre line max,Follow the centre line passed,Follow "
                         "the centre line attempts,Follow the centre line late,total points,total "
                         "max\n"
                         "alice,7,7,yes,2,yes,,1,,0,,7,8\n"
                         "bob,3,7,no,1,no,,1,,0,,3,8\n");
    free(csv);
    fake_type = "league";
    fake_off_tracks = 1;
    fake_reward_ok = -1;
    hub_stop(&s);
}

TD_TEST(a_hidden_assignment_track_is_hidden_until_the_deadline)
{
    hub_server s;
    char ivan[200], alice[200], w[200], track[64], body[1024], path[256], when[40];
    hub_resp r;
    hub_start_opts(&s, 1, NULL);
    long long now = hub_get_clock(&s), cls, m;
    class_of_one(&s, ivan, alice, w, &cls, &m);
    iso(now + 600, when, sizeof(when));
    snprintf(body, sizeof(body),
             "{\"name\":\"Generalise\",\"track\":\"technical\",\"hidden\":true,\"laps\":2,"
             "\"deadline\":\"%s\",\"criteria\":[{\"kind\":\"complete_laps\",\"value\":2}]}",
             when);
    snprintf(path, sizeof(path), "/api/v1/classes/%lld/assignments", cls);
    long long A = post_id(&s, path, ivan, body, "id");
    expect(&s, alice, "GET", "/api/v1/tracks", NULL, 200, "technical");
    expect(&s, alice, "GET", "/api/v1/tracks/technical", NULL, 404, NULL);
    expect(&s, alice, "GET", path, NULL, 200, "technical");
    char ap[96];
    snprintf(ap, sizeof(ap), "/api/v1/assignments/%lld", A);
    expect(&s, alice, "GET", ap, NULL, 200, "technical");
    snprintf(body, sizeof(body), "{\"model\":%lld}", m);
    snprintf(path, sizeof(path), "%s/submissions", ap);
    long long sid = post_id(&s, path, alice, body, "submission");
    fake_type = "grade";
    double laps[2] = {17.25, 18.5};
    fake_eval(&s, w, laps, 2, 2, track, sizeof(track));
    fake_type = "league";
    TD_ASSERT_STREQ(track, "technical");
    /* Her grade, but not what was measured on the track. */
    snprintf(path, sizeof(path), "%s/submissions/%lld", ap, sid);
    hub_req(&s, &r, "GET", path, alice, NULL, NULL, 0);
    TD_ASSERT_EQ_INT(r.status, 200);
    TD_ASSERT_CONTAINS(r.body, "\"points\":1");
    TD_ASSERT(!strstr(r.body, "17.25") && !strstr(r.body, "technical"));
    hub_resp_free(&r);
    hub_json(&s, &r, "GET", path, ivan, NULL);
    TD_ASSERT_CONTAINS(r.body, "17.25");
    hub_resp_free(&r);
    hub_set_clock(&s, now + 600);
    hub_req(&s, &r, "GET", path, alice, NULL, NULL, 0);
    TD_ASSERT_CONTAINS(r.body, "17.25");
    hub_resp_free(&r);
    expect(&s, alice, "GET", "/api/v1/tracks/technical", NULL, 200, NULL);
    hub_stop(&s);
}

/* ---- Race day ------------------------------------------------------------------------------ */

/* Follows a league's leaderboard stream on a thread: counts events, stops at `want`. */
typedef struct {
    hub_server *s;
    const char *tok;
    long long league;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int events, found, done;
    char want[128];
    char *all;
    size_t len;
} board_watch;

static size_t board_cb(char *p, size_t sz, size_t n, void *u)
{
    board_watch *w = u;
    size_t k = sz * n;
    pthread_mutex_lock(&w->mu);
    char *a = realloc(w->all, w->len + k + 1);
    memcpy(a + w->len, p, k);
    w->len += k;
    a[w->len] = 0;
    w->all = a;
    w->events = 0;
    for (const char *q = a; (q = strstr(q, "event: leaderboard")); q++)
        w->events++;
    if (w->want[0] && strstr(a, w->want))
        w->found = 1;
    pthread_cond_broadcast(&w->cv);
    int stop = w->found;
    pthread_mutex_unlock(&w->mu);
    return stop ? 0 : k;
}

static void *board_thread(void *arg)
{
    board_watch *w = arg;
    CURL *c = curl_easy_init();
    char url[256], auth[300];
    struct curl_slist *h = NULL;
    snprintf(url, sizeof(url), "%s/api/v1/leagues/%lld/leaderboard/events", w->s->url, w->league);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", w->tok);
    h = curl_slist_append(h, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, board_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(c);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* The physical standings as "racer:score" in order. */
static void physical(hub_server *s, const char *tok, long long league, char *out, size_t cap)
{
    hub_resp r;
    size_t n = 0, i;
    json_t *e;
    leaderboard(s, tok, league, &r);
    out[0] = 0;
    json_array_foreach(json_object_get(r.json, "physical"), i, e)
    {
        n += (size_t)snprintf(out + n, cap - n, "%s%s:%.3f", n ? "," : "",
                              json_string_value(json_object_get(e, "racer")),
                              json_number_value(json_object_get(e, "score_s")));
    }
    hub_resp_free(&r);
}

TD_TEST(physical_laps_rank_beside_the_virtual_times_and_the_big_screen_follows)
{
    hub_server s;
    char ivan[200], alice[200], w[200], track[64], path[128], got[512];
    hub_resp r;
    hub_start_opts(&s, 1, NULL);
    hub_user(&s, "ivan", "instructor", ivan, sizeof(ivan));
    long long alice_id = hub_user(&s, "alice", "learner", alice, sizeof(alice));
    long long m = hub_push_init(&s, alice, "m1", NULL);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/workers", s.admin, "{\"name\":\"w1\"}"),
                     201);
    snprintf(w, sizeof(w), "%s", json_string_value(json_object_get(r.json, "token")));
    hub_resp_free(&r);
    long long L =
        post_id(&s, "/api/v1/leagues", ivan,
                "{\"name\":\"Summit\",\"tracks\":[\"oval\"],\"off_track_penalty\":2}", "id");
    submit(&s, alice, L, m);
    double laps[3] = {10.0, 11.0, 12.0};
    fake_eval(&s, w, laps, 3, 3, track, sizeof(track));
    /* The big screen: alice's stream shows the standings now... */
    board_watch bw;
    memset(&bw, 0, sizeof(bw));
    bw.s = &s;
    bw.tok = alice;
    bw.league = L;
    pthread_mutex_init(&bw.mu, NULL);
    pthread_cond_init(&bw.cv, NULL);
    pthread_t th;
    pthread_create(&th, NULL, board_thread, &bw);
    pthread_mutex_lock(&bw.mu);
    while (bw.events < 1 && !bw.done)
        pthread_cond_wait(&bw.cv, &bw.mu);
    TD_ASSERT_MSG(bw.events == 1, "no first leaderboard event: %s", bw.all ? bw.all : "");
    TD_ASSERT_CONTAINS(bw.all, "\"score_s\":10.0");
    snprintf(bw.want, sizeof(bw.want), "\"racer\":\"Guest 7\"");
    pthread_mutex_unlock(&bw.mu);
    /* ...a marshal enters physical laps; a learner may not. */
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/laps", L);
    hub_json(&s, &r, "POST", path, alice, "{\"racer\":\"alice\",\"lap_time\":5.0}");
    TD_ASSERT_EQ_INT(r.status, 403);
    hub_resp_free(&r);
    char body[160];
    snprintf(body, sizeof(body), "{\"user\":%lld,\"lap_time\":9.0,\"off_tracks\":1}", alice_id);
    post_id(&s, path, ivan, body, "id");
    snprintf(body, sizeof(body), "{\"user\":%lld,\"lap_time\":9.5}", alice_id);
    post_id(&s, path, ivan, body, "id");
    long long bad = post_id(&s, path, ivan, "{\"racer\":\"Guest 7\",\"lap_time\":8.1}", "id");
    post_id(&s, path, ivan, "{\"racer\":\"Guest 7\",\"lap_time\":9.2}", "id");
    post_id(&s, path, ivan, "{\"racer\":\"Bea\",\"lap_time\":12.0,\"attempt\":2}", "id");
    hub_json(&s, &r, "POST", path, ivan, "{\"racer\":\"../etc\",\"lap_time\":9.0}");
    TD_ASSERT_EQ_INT(r.status, 400);
    hub_resp_free(&r);
    hub_json(&s, &r, "POST", path, ivan, "{\"lap_time\":9.0}");
    TD_ASSERT_EQ_INT(r.status, 400);
    TD_ASSERT_CONTAINS(hub_err_msg(&r), "racer");
    hub_resp_free(&r);
    /* The stream saw it without being asked. */
    pthread_mutex_lock(&bw.mu);
    while (!bw.found && !bw.done)
        pthread_cond_wait(&bw.cv, &bw.mu);
    TD_ASSERT_MSG(bw.found, "the stream never showed the physical laps: %s", bw.all);
    TD_ASSERT(bw.events >= 2);
    pthread_mutex_unlock(&bw.mu);
    pthread_join(th, NULL);
    free(bw.all);
    /* Best lap, an off-track costing the league's 2 s: alice's 9.0 counts 11.0. */
    physical(&s, alice, L, got, sizeof(got));
    TD_ASSERT_STREQ(got, "Guest 7:8.100,alice:9.500,Bea:12.000");
    /* A lap entered by mistake is withdrawn. */
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/laps/%lld", L, bad);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "DELETE", path, ivan, NULL), 204);
    hub_resp_free(&r);
    physical(&s, alice, L, got, sizeof(got));
    TD_ASSERT_STREQ(got, "Guest 7:9.200,alice:9.500,Bea:12.000");
    /* By average: alice (11.0 + 9.5) / 2. The virtual standings are beside them. */
    TD_ASSERT_EQ_INT(
        hub_json(&s, &r, "PATCH", "/api/v1/leagues/1", ivan, "{\"ranking\":\"AVG_LAP_TIME\"}"),
        200);
    hub_resp_free(&r);
    physical(&s, alice, L, got, sizeof(got));
    TD_ASSERT_STREQ(got, "Guest 7:9.200,alice:10.250,Bea:12.000");
    standings(&s, alice, L, got, sizeof(got));
    TD_ASSERT_STREQ(got, "alice:11.000");
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/laps", L);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, alice, NULL), 200);
    TD_ASSERT_EQ_INT(json_array_size(json_object_get(r.json, "laps")), 4);
    hub_resp_free(&r);
    hub_stop(&s);
}

/* Plays a worker's race: the first racer of names[winner] wins. Returns the names raced. */
static void fake_race(hub_server *s, const char *wtok, int winner, char *names, size_t cap)
{
    hub_resp r;
    char dir[700], hdr[300], p[800];
    static int serial;
    long long id = fake_claim(s, wtok, "race", &r, hdr, sizeof(hdr));
    json_t *nm = json_object_get(json_object_get(r.json, "params"), "names");
    const char *n0 = json_string_value(json_array_get(nm, 0));
    const char *n1 = json_string_value(json_array_get(nm, 1));
    snprintf(names, cap, "%s-%s", n0, n1);
    snprintf(dir, sizeof(dir), "%s/race-%d", s->dir, serial++);
    mkdir(dir, 0755);
    snprintf(p, sizeof(p), "%s/race.json", dir);
    FILE *f = fopen(p, "w");
    fprintf(f,
            "{\"race_type\":\"HEAD_TO_MODEL\",\"track\":\"oval\",\"laps\":1,\"race_time_s\":9.5,"
            "\"standings\":[{\"position\":1,\"name\":\"%s\",\"finished\":true,\"total_time_s\":"
            "9.5},{\"position\":2,\"name\":\"%s\",\"finished\":false}]}\n",
            winner ? n1 : n0, winner ? n0 : n1);
    fclose(f);
    snprintf(p, sizeof(p), "%s/race.mp4", dir);
    f = fopen(p, "w");
    fprintf(f, "not really a video of %s", names);
    fclose(f);
    hub_resp_free(&r);
    fake_complete(s, wtok, hdr, id, dir, "race");
}

TD_TEST(a_knockout_bracket_is_seeded_from_the_leaderboard_and_advances)
{
    hub_server s;
    char ivan[200], tok[3][200], w[200], track[64], path[160], names[160];
    const char *who[3] = {"alice", "bob", "carol"};
    double best[3] = {10.0, 11.0, 9.0};
    hub_resp r;
    hub_start_opts(&s, 1, NULL);
    hub_user(&s, "ivan", "instructor", ivan, sizeof(ivan));
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", "/api/v1/workers", s.admin, "{\"name\":\"w1\"}"),
                     201);
    snprintf(w, sizeof(w), "%s", json_string_value(json_object_get(r.json, "token")));
    hub_resp_free(&r);
    long long L = post_id(&s, "/api/v1/leagues", ivan,
                          "{\"name\":\"Race day\",\"tracks\":[\"oval\"],\"laps\":1}", "id");
    for (int i = 0; i < 3; i++) {
        char mname[32];
        hub_user(&s, who[i], "learner", tok[i], sizeof(tok[i]));
        snprintf(mname, sizeof(mname), "m-%s", who[i]);
        long long m = hub_push_init(&s, tok[i], mname, NULL);
        submit(&s, tok[i], L, m);
        fake_eval(&s, w, &best[i], 1, 1, track, sizeof(track));
    }
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/brackets", L);
    hub_json(&s, &r, "POST", path, tok[0], "{\"size\":4}");
    TD_ASSERT_EQ_INT(r.status, 403);
    hub_resp_free(&r);
    /* Seeds: carol 1, alice 2, bob 3; carol's opponent (4) is a bye. */
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "POST", path, ivan, "{\"name\":\"Final four\",\"size\":4}"),
                     201);
    long long B = json_integer_value(json_object_get(r.json, "id"));
    json_t *r1 = json_object_get(json_array_get(json_object_get(r.json, "rounds"), 0), "matches");
    json_t *m0 = json_array_get(r1, 0), *m1 = json_array_get(r1, 1);
    TD_ASSERT_STREQ(json_string_value(json_object_get(json_object_get(m0, "a"), "username")),
                    "carol");
    TD_ASSERT(json_is_null(json_object_get(m0, "b")));
    TD_ASSERT_STREQ(json_string_value(json_object_get(m0, "winner")), "a");
    TD_ASSERT_STREQ(json_string_value(json_object_get(json_object_get(m1, "a"), "username")),
                    "alice");
    TD_ASSERT_STREQ(json_string_value(json_object_get(json_object_get(m1, "b"), "username")),
                    "bob");
    TD_ASSERT_STREQ(json_string_value(json_object_get(m1, "state")), "racing");
    hub_resp_free(&r);
    /* Semi-final: bob beats alice; the final is carol against bob, won by carol. */
    fake_race(&s, w, 1, names, sizeof(names));
    TD_ASSERT_STREQ(names, "alice-bob");
    fake_race(&s, w, 0, names, sizeof(names));
    TD_ASSERT_STREQ(names, "carol-bob");
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/brackets/%lld", L, B);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, tok[1], NULL), 200);
    TD_ASSERT_STREQ(
        json_string_value(json_object_get(json_object_get(r.json, "champion"), "username")),
        "carol");
    json_t *fin = json_array_get(
        json_object_get(json_array_get(json_object_get(r.json, "rounds"), 1), "matches"), 0);
    TD_ASSERT_STREQ(json_string_value(json_object_get(fin, "winner")), "a");
    TD_ASSERT_EQ_INT(json_array_size(json_object_get(fin, "standings")), 2);
    hub_resp_free(&r);
    /* The final's replay and files. */
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/brackets/%lld/matches/2/1/replay", L, B);
    hub_req(&s, &r, "GET", path, tok[2], NULL, NULL, 0);
    TD_ASSERT_EQ_INT(r.status, 200);
    TD_ASSERT_CONTAINS(r.body, "not really a video of carol-bob");
    TD_ASSERT_CONTAINS(r.headers, "video/mp4");
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/brackets/%lld/matches/1/2/result", L, B);
    expect(&s, tok[0], "GET", path, NULL, 200, NULL);
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/brackets/%lld/matches/1/1/result", L, B);
    expect(&s, tok[0], "GET", path, NULL, 404, NULL); /* a bye is not raced */
    hub_stop(&s);
}

TD_TEST(a_real_worker_races_a_knockout_match_by_trackday_race_rules)
{
    hub_server s;
    char ivan[200], tok[2][200], wt[200] = "", body[256], path[160];
    const char *who[2] = {"alice", "bob"};
    long long models[2];
    hub_resp r;
    hub_start(&s);
    hub_user(&s, "ivan", "instructor", ivan, sizeof(ivan));
    pid_t w = hub_worker(&s, "w1", wt, sizeof(wt), "--slots 2");
    for (int i = 0; i < 2; i++) {
        char mname[32];
        hub_user(&s, who[i], "learner", tok[i], sizeof(tok[i]));
        snprintf(mname, sizeof(mname), "m-%s", who[i]);
        models[i] = hub_push_init(&s, tok[i], mname, NULL);
        snprintf(body, sizeof(body),
                 "{\"type\":\"train\",\"model\":%lld,\"minutes\":1,\"iterations\":1,\"seed\":%d,"
                 "\"track\":\"oval\"}",
                 models[i], i + 1);
        long long tj = hub_submit(&s, tok[i], body);
        free(hub_wait_event(&s, tok[i], tj, "end", "succeeded", 300));
    }
    long long L =
        post_id(&s, "/api/v1/leagues", ivan,
                "{\"name\":\"Race day\",\"tracks\":[\"oval\"],\"laps\":1,\"min_laps\":1}", "id");
    for (int i = 0; i < 2; i++) {
        long long sid = submit(&s, tok[i], L, models[i]);
        snprintf(path, sizeof(path), "/api/v1/leagues/%lld/submissions/%lld", L, sid);
        TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, ivan, NULL), 200);
        long long job = json_integer_value(
            json_object_get(json_array_get(json_object_get(r.json, "evaluations"), 0), "job"));
        hub_resp_free(&r);
        free(hub_wait_event(&s, s.admin, job, "end", NULL, 300));
    }
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/brackets", L);
    hub_json(&s, &r, "POST", path, ivan, "{\"size\":2}");
    if (r.status == 409) {
        /* An untrained-for-long model may complete no lap: nothing counts, no bracket. */
        TD_ASSERT_CONTAINS(hub_err_msg(&r), "a bracket needs two");
        hub_resp_free(&r);
        TD_ASSERT(WIFEXITED(hub_worker_stop(w, SIGTERM)));
        hub_stop(&s);
        TD_FAIL("the models completed no lap: no race to run");
    }
    TD_ASSERT_MSG(r.status == 201, "bracket: %ld %s", r.status, r.body);
    long long B = json_integer_value(json_object_get(r.json, "id"));
    hub_resp_free(&r);
    /* The race job, run by the worker, decides the final. */
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/jobs?state=active", s.admin, NULL), 200);
    long long race = 0;
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(r.json, "jobs"), i,
                       j) if (!strcmp(json_string_value(json_object_get(j, "type")), "race")) race =
        json_integer_value(json_object_get(j, "id"));
    hub_resp_free(&r);
    if (!race) {
        TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/jobs?limit=1", s.admin, NULL), 200);
        race = json_integer_value(
            json_object_get(json_array_get(json_object_get(r.json, "jobs"), 0), "id"));
        hub_resp_free(&r);
    }
    char *ev = hub_wait_event(&s, s.admin, race, "end", NULL, 300);
    TD_ASSERT_CONTAINS(ev, "succeeded");
    free(ev);
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/brackets/%lld", L, B);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, tok[0], NULL), 200);
    const char *champ =
        json_string_value(json_object_get(json_object_get(r.json, "champion"), "username"));
    TD_ASSERT_MSG(champ && (!strcmp(champ, "alice") || !strcmp(champ, "bob")), "%s", r.body);
    json_t *fin = json_array_get(
        json_object_get(json_array_get(json_object_get(r.json, "rounds"), 0), "matches"), 0);
    json_t *st = json_object_get(fin, "standings");
    TD_ASSERT_EQ_INT(json_array_size(st), 2);
    TD_ASSERT_STREQ(json_string_value(json_object_get(json_array_get(st, 0), "name")), champ);
    hub_resp_free(&r);
    /* Its files: race.json and the replay (a video, or frames without ffmpeg). */
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/brackets/%lld/matches/1/1/result", L, B);
    hub_req(&s, &r, "GET", path, tok[1], NULL, NULL, 0);
    TD_ASSERT_EQ_INT(r.status, 200);
    char tgz[700], out[8192];
    snprintf(tgz, sizeof(tgz), "%s/race.tgz", s.dir);
    FILE *f = fopen(tgz, "wb");
    fwrite(r.body, 1, r.len, f);
    fclose(f);
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_sh(out, sizeof(out), "tar tzf %s", tgz), 0);
    TD_ASSERT_CONTAINS(out, "race.json");
    TD_ASSERT_MSG(strstr(out, "race.mp4") || strstr(out, "replay/"), "no replay: %s", out);
    TD_ASSERT(WIFEXITED(hub_worker_stop(w, SIGTERM)));
    hub_stop(&s);
}

TD_TEST(seed_content_installs_the_shipped_leagues_and_assignments_once)
{
    hub_server s;
    char ivan[200], alice[200], out[4096];
    hub_resp r;
    hub_start(&s);
    hub_user(&s, "ivan", "instructor", ivan, sizeof(ivan));
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    int rc = hub_sh(out, sizeof(out), "%s admin seed-content --data %s --owner ivan 2>&1",
                    TD_TEST_TRACKDAY_BIN, s.data);
    TD_ASSERT_MSG(rc == 0, "seed-content: %s", out);
    TD_ASSERT_CONTAINS(out, "league 1 'Beginner time trial': created");
    TD_ASSERT_CONTAINS(out, "league 2 'Object avoidance cup': created");
    TD_ASSERT_CONTAINS(out, "league 3 'Hidden-track qualifier': created");
    TD_ASSERT_CONTAINS(out, "class 1 'Starter class': created");
    TD_ASSERT_CONTAINS(out, "assignment 3 'Generalise to an unseen track': created");
    /* Again: nothing new. */
    rc = hub_sh(out, sizeof(out), "%s admin seed-content --data %s --owner ivan 2>&1",
                TD_TEST_TRACKDAY_BIN, s.data);
    TD_ASSERT_EQ_INT(rc, 0);
    TD_ASSERT(!strstr(out, "created"));
    TD_ASSERT_CONTAINS(out, "assignment 1 'Follow the centre line': already there");
    /* A learner is no owner. */
    rc = hub_sh(out, sizeof(out), "%s admin seed-content --data %s --owner alice 2>&1",
                TD_TEST_TRACKDAY_BIN, s.data);
    TD_ASSERT_EQ_INT(rc, 1);
    TD_ASSERT_CONTAINS(out, "alice is a learner");
    /* A learner sees the three open leagues, the qualifier's hidden track without its name. */
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/leagues", alice, NULL), 200);
    TD_ASSERT_EQ_INT(json_array_size(json_object_get(r.json, "leagues")), 3);
    TD_ASSERT(!strstr(r.body, "technical"));
    TD_ASSERT_CONTAINS(r.body, "\"race_type\":\"object-avoidance\"");
    TD_ASSERT_CONTAINS(r.body, "\"obstacles\":3");
    hub_resp_free(&r);
    /* The class's learners see its three assignments (the hidden one's track withheld). */
    TD_ASSERT_EQ_INT(
        hub_json(&s, &r, "POST", "/api/v1/classes/1/members", ivan, "{\"username\":\"alice\"}"),
        201);
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", "/api/v1/classes/1/assignments", alice, NULL), 200);
    TD_ASSERT_EQ_INT(json_array_size(json_object_get(r.json, "assignments")), 3);
    TD_ASSERT(!strstr(r.body, "technical"));
    TD_ASSERT_CONTAINS(r.body, "\"kind\":\"reward_check\"");
    hub_resp_free(&r);
    hub_stop(&s);
}

/* ---- The leaderboard cache: never stale, on two hub processes ------------------------------ */

/* A second process of hub a's: the same database and data directory. */
static void hub_second(hub_server *b, const hub_server *a)
{
    *b = *a;
    b->pid = 0;
    hub_launch(b, a->args);
}

/* GET path's body with its ETag (etag may be NULL); the caller frees the body. */
static char *board_get(hub_server *s, const char *tok, const char *path, char *etag, size_t cap)
{
    hub_resp r;
    hub_req(s, &r, "GET", path, tok, NULL, NULL, 0);
    TD_ASSERT_MSG(r.status == 200, "GET %s: %ld %s", path, r.status, r.body);
    const char *e = strstr(r.headers, "ETag: ");
    TD_ASSERT_MSG(e != NULL, "GET %s: no ETag in %s", path, r.headers);
    if (etag)
        snprintf(etag, cap, "%.*s", (int)strcspn(e + 6, "\r\n"), e + 6);
    char *b = strdup(r.body);
    hub_resp_free(&r);
    return b;
}

/* The leaderboard of league L as hub s serves it to tok, checked against a recomputation: a
 * `top` no request asked before is a view no process has cached, so that hub computes it
 * afresh (top is above the number of entries, so the bodies must be equal). The caller
 * frees the body. */
static char *board_fresh(hub_server *s, const char *tok, long long L)
{
    static int serial;
    char path[128], fresh_path[160];
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/leaderboard", L);
    snprintf(fresh_path, sizeof(fresh_path), "%s?top=%d", path, 50000 + serial++);
    char *cached = board_get(s, tok, path, NULL, 0);
    char *fresh = board_get(s, tok, fresh_path, NULL, 0);
    TD_ASSERT_MSG(!strcmp(cached, fresh), "stale leaderboard at %s:\n%s\nrecomputed:\n%s", s->url,
                  cached, fresh);
    free(fresh);
    return cached;
}

/* After a change made through one process, both processes serve the recomputed standings,
 * and they differ from before when the change shows (want_change). */
static void board_moved(hub_server *a, hub_server *b, const char *tok, long long L, char **before,
                        int want_change, const char *what)
{
    char *x = board_fresh(a, tok, L), *y = board_fresh(b, tok, L);
    TD_ASSERT_MSG(!strcmp(x, y), "%s: the two processes disagree:\n%s\n%s", what, x, y);
    if (want_change)
        TD_ASSERT_MSG(strcmp(x, *before), "%s: the leaderboard did not move:\n%s", what, x);
    free(y);
    free(*before);
    *before = x;
}

/* A request that must answer want. */
static void send_ok(hub_server *s, const char *method, const char *path, const char *tok,
                    const char *body, long want)
{
    hub_resp r;
    hub_json(s, &r, method, path, tok, body);
    TD_ASSERT_MSG(r.status == want, "%s %s %s: %ld %s", method, path, body ? body : "", r.status,
                  r.body);
    hub_resp_free(&r);
}

TD_TEST(the_cached_leaderboard_follows_every_change_on_two_hub_processes)
{
    hub_server a, b;
    char ivan[200], alice[200], w[200], track[64], body[512], path[160], when[40], etag[64];
    hub_resp r;
    hub_start_opts(&a, 1, NULL);
    hub_second(&b, &a);
    long long now = hub_get_clock(&a), cls, m;
    class_of_one(&a, ivan, alice, w, &cls, &m);
    iso(now + 3600, when, sizeof(when));
    snprintf(body, sizeof(body),
             "{\"name\":\"Cached\",\"class\":%lld,\"tracks\":[{\"name\":\"oval\"},{\"name\":"
             "\"hairpin\",\"hidden\":true}],\"laps\":3,\"min_laps\":1,\"closes_at\":\"%s\"}",
             cls, when);
    long long L = post_id(&a, "/api/v1/leagues", ivan, body, "id");
    /* Both processes cache the empty standings of both viewers. */
    char *before = board_fresh(&a, alice, L), *staff = board_fresh(&b, ivan, L);
    board_moved(&a, &b, alice, L, &before, 0, "nothing");
    /* A submission (evaluating: not on the board yet) and its evaluations, through a. */
    submit(&a, alice, L, m);
    board_moved(&a, &b, alice, L, &before, 0, "a submission");
    TD_ASSERT(!strstr(before, "\"username\":\"alice\""));
    /* Alice's entry counts once the track she may see is evaluated (whichever comes first). */
    double laps[2] = {10.0, 11.0};
    fake_eval(&a, w, laps, 2, 3, track, sizeof(track));
    board_moved(&a, &b, alice, L, &before, !strcmp(track, "oval"), "one evaluation of two");
    fake_eval(&b, w, laps, 2, 3, track, sizeof(track));
    board_moved(&a, &b, alice, L, &before, !strcmp(track, "oval"), "the second evaluation");
    TD_ASSERT_CONTAINS(before, "\"username\":\"alice\"");
    /* Who runs the league sees the hidden track's laps: its own view, also recomputed. */
    char *staff2 = board_fresh(&b, ivan, L);
    TD_ASSERT(strcmp(staff, staff2));
    TD_ASSERT(strcmp(staff2, before));
    free(staff);
    free(staff2);
    /* A second entry counts in "entries". */
    submit(&b, alice, L, m);
    board_moved(&a, &b, alice, L, &before, 1, "a second submission");
    /* ETag: the same standings are not sent again; after a change they are. */
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/leaderboard", L);
    free(board_get(&b, alice, path, etag, sizeof(etag)));
    char inm[128];
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    hub_req_h(&a, &r, "GET", path, alice, NULL, NULL, 0, inm);
    TD_ASSERT_MSG(r.status == 304, "If-None-Match %s: %ld %s", etag, r.status, r.body);
    TD_ASSERT_EQ_INT(r.len, 0);
    hub_resp_free(&r);
    /* A physical lap entered and withdrawn, through either process. */
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/laps", L);
    long long lap = post_id(&a, path, ivan, "{\"racer\":\"Bea\",\"lap_time\":8.5}", "id");
    board_moved(&a, &b, alice, L, &before, 1, "a physical lap");
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/leaderboard", L);
    hub_req_h(&b, &r, "GET", path, alice, NULL, NULL, 0, inm);
    TD_ASSERT_MSG(r.status == 200, "a stale ETag: %ld", r.status);
    hub_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld/laps/%lld", L, lap);
    send_ok(&b, "DELETE", path, ivan, NULL, 204);
    board_moved(&a, &b, alice, L, &before, 1, "a lap withdrawn");
    /* The league's settings: ranking, then min_laps. */
    snprintf(path, sizeof(path), "/api/v1/leagues/%lld", L);
    send_ok(&a, "PATCH", path, ivan, "{\"ranking\":\"TOTAL_TIME\"}", 200);
    board_moved(&a, &b, alice, L, &before, 1, "the ranking");
    send_ok(&b, "PATCH", path, ivan, "{\"min_laps\":3}", 200);
    board_moved(&a, &b, alice, L, &before, 1, "min_laps");
    TD_ASSERT(!strstr(before, "\"username\":\"alice\""));
    send_ok(&a, "PATCH", path, ivan, "{\"min_laps\":1}", 200);
    board_moved(&a, &b, alice, L, &before, 1, "min_laps again");
    /* The model's name is on the board. */
    snprintf(path, sizeof(path), "/api/v1/models/%lld", m);
    send_ok(&b, "PATCH", path, alice, "{\"name\":\"m1-renamed\"}", 200);
    board_moved(&a, &b, alice, L, &before, 1, "a model renamed");
    TD_ASSERT_CONTAINS(before, "m1-renamed");
    /* The close: the hidden track counts for everyone (the clock moves, no write). */
    TD_ASSERT_CONTAINS(before, "\"hidden_tracks_not_counted\":[2]");
    hub_set_clock(&a, now + 7200);
    board_moved(&a, &b, alice, L, &before, 1, "the close");
    TD_ASSERT_CONTAINS(before, "\"hidden_tracks_not_counted\":[]");
    free(before);
    hub_stop_keep(&b);
    hub_stop(&a);
}

/* ---- Leaderboards of two leagues at once -------------------------------------------------- */

typedef struct board_race {
    hub_server *s;
    const char *tok;
    long long league[2];
    const char *want[2];
    int thread, wrong, done;
    char bad[1024];
} board_race;

/* The physical racers of a leaderboard body in order, as "a,b,c". */
static void racers(const char *body, char *out, size_t cap)
{
    json_t *j = json_loads(body, 0, NULL), *e;
    size_t n = 0, i;
    out[0] = 0;
    json_array_foreach(json_object_get(j, "physical"), i, e) n +=
        (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", n ? "," : "",
                         json_string_value(json_object_get(e, "racer")));
    json_decref(j);
}

static void *board_racer(void *arg)
{
    board_race *br = arg;
    char path[160], got[4096];
    for (int i = 0; i < 100; i++) {
        int k = (i + br->thread) % 2;
        hub_resp r;
        /* A top no one asked before: each request sorts afresh, none comes from the cache. */
        snprintf(path, sizeof(path), "/api/v1/leagues/%lld/leaderboard?top=%d", br->league[k],
                 1000 + br->thread * 1000 + i);
        hub_req(br->s, &r, "GET", path, br->tok, NULL, NULL, 0);
        racers(r.status == 200 ? r.body : "{}", got, sizeof(got));
        if (strcmp(got, br->want[k])) {
            br->wrong++;
            snprintf(br->bad, sizeof(br->bad), "%s: %ld %.300s", path, r.status, got);
        }
        hub_resp_free(&r);
        br->done++;
    }
    return NULL;
}

TD_TEST(leaderboards_of_two_rankings_sorted_at_once_each_keep_their_order)
{
    hub_server s;
    char ivan[200], path[128], body[160];
    hub_start_opts(&s, 0, NULL);
    hub_user(&s, "ivan", "instructor", ivan, sizeof(ivan));
    /* The same laps in a best-lap league and a total-time one (more laps first): 60 racers
     * of 1-3 laps whose two orders differ. */
    long long L[2];
    L[0] = post_id(&s, "/api/v1/leagues", ivan,
                   "{\"name\":\"Best\",\"tracks\":[\"oval\"],\"laps\":3,\"min_laps\":1,"
                   "\"ranking\":\"BEST_LAP_TIME\"}",
                   "id");
    L[1] = post_id(&s, "/api/v1/leagues", ivan,
                   "{\"name\":\"Total\",\"tracks\":[\"oval\"],\"laps\":3,\"min_laps\":1,"
                   "\"ranking\":\"TOTAL_TIME\"}",
                   "id");
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof(path), "/api/v1/leagues/%lld/laps", L[k]);
        for (int i = 0; i < 60; i++)
            for (int lap = 0; lap <= (i * 7) % 3; lap++) {
                snprintf(body, sizeof(body), "{\"racer\":\"r%02d\",\"lap_time\":%.1f}", i,
                         10.0 + ((i * 37 + lap * 11) % 50) / 10.0);
                post_id(&s, path, ivan, body, "id");
            }
    }
    /* Each league's order, one request at a time, checked against its ranking. */
    char want[2][4096];
    for (int k = 0; k < 2; k++) {
        hub_resp r;
        snprintf(path, sizeof(path), "/api/v1/leagues/%lld/leaderboard", L[k]);
        TD_ASSERT_EQ_INT(hub_json(&s, &r, "GET", path, ivan, NULL), 200);
        racers(r.body, want[k], sizeof(want[k]));
        json_t *arr = json_object_get(r.json, "physical"), *e, *prev = NULL;
        size_t i;
        TD_ASSERT_EQ_INT(json_array_size(arr), 60);
        json_array_foreach(arr, i, e)
        {
            if (prev) {
                double s0 = json_number_value(json_object_get(prev, "score_s")),
                       s1 = json_number_value(json_object_get(e, "score_s"));
                long long l0 = json_integer_value(json_object_get(prev, "laps")),
                          l1 = json_integer_value(json_object_get(e, "laps"));
                if (k == 0)
                    TD_ASSERT_MSG(s0 <= s1, "best lap order at %zu: %s", i, want[k]);
                else
                    TD_ASSERT_MSG(l0 > l1 || (l0 == l1 && s0 <= s1), "total order at %zu: %s", i,
                                  want[k]);
            }
            prev = e;
        }
        hub_resp_free(&r);
    }
    TD_ASSERT(strcmp(want[0], want[1]));
    /* Four clients at once, alternating the leagues: every answer keeps its league's order. */
    board_race br[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        memset(&br[t], 0, sizeof(br[t]));
        br[t].s = &s;
        br[t].tok = ivan;
        br[t].thread = t;
        for (int k = 0; k < 2; k++) {
            br[t].league[k] = L[k];
            br[t].want[k] = want[k];
        }
        pthread_create(&th[t], NULL, board_racer, &br[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        TD_ASSERT_EQ_INT(br[t].done, 100);
        TD_ASSERT_MSG(br[t].wrong == 0, "%d of 100 answers out of order, e.g. %s", br[t].wrong,
                      br[t].bad);
    }
    hub_stop(&s);
}
