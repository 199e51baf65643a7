/*
 * test_hub_multi_pg.c - the hub on PostgreSQL as several processes behind one address
 * (docs/deploy/nginx-trackday.conf run by Debian's nginx on loopback), and its faults: a hub
 * process killed during requests, PostgreSQL restarted (cleanly and as a crash) during claims
 * and uploads. Afterwards no acknowledged job or model is lost, no job completed twice, and
 * every stored file is whole. (A worker killed mid-job: test_hub_jobs_pg.) Always on
 * PostgreSQL: this binary asks for it itself.
 */
#include <pthread.h>

#include "hub/db.h"
#include "hub/tar.h"
#include "hub_harness.h"

/* Before the harness's constructor (default priority) starts the cluster. */
__attribute__((constructor(101))) static void want_postgres(void)
{
    setenv("TD_TEST_HUB_DB", "postgres", 1);
}

/* ---- nginx ---------------------------------------------------------------------------------- */

typedef struct {
    pid_t pid;
    char dir[128];
    char url[128];
} nginx_proc;

/* Starts nginx with the example site, its upstream servers replaced by the hubs' addresses
 * and its listen address by a free loopback port; waits until it answers through to a hub. */
static void nginx_start(nginx_proc *n, hub_server *const *hubs, int count)
{
    char site[1024], conf[1024], out[4096], *text = NULL, log[1024];
    size_t len = 0;
    FILE *f;
    int port = pg__free_port();
    memset(n, 0, sizeof(*n));
    /* Its own directory that nginx's workers (nobody, when started as root) can reach. */
    snprintf(n->dir, sizeof(n->dir), "/tmp/td-nginx-XXXXXX");
    TD_ASSERT(mkdtemp(n->dir) != NULL);
    chmod(n->dir, 0755);
    snprintf(site, sizeof(site), "%s/docs/deploy/nginx-trackday.conf", TD_TEST_SOURCE_DIR);
    TD_ASSERT_OK(td_file_read(site, &text, &len, NULL));
    snprintf(site, sizeof(site), "%s/site.conf", n->dir);
    f = fopen(site, "w");
    TD_ASSERT(f != NULL);
    int servers = 0, listens = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (strstr(line, "server 127.0.0.1:808") && !strstr(line, "listen")) {
            if (!servers++)
                for (int i = 0; i < count; i++)
                    fprintf(f, "    server %s max_fails=1 fail_timeout=5s;\n",
                            hubs[i]->url + strlen("http://"));
            continue;
        }
        if (strstr(line, "listen 127.0.0.1:8080;")) {
            fprintf(f, "    listen 127.0.0.1:%d;\n", port);
            listens++;
            continue;
        }
        fprintf(f, "%s\n", line);
    }
    fclose(f);
    td_free(text);
    TD_ASSERT_MSG(servers == 2 && listens == 1, "the example changed: %d upstream lines, %d listen",
                  servers, listens);
    snprintf(conf, sizeof(conf), "%s/nginx.conf", n->dir);
    f = fopen(conf, "w");
    TD_ASSERT(f != NULL);
    fprintf(f,
            "worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
            "events { worker_connections 2048; }\n"
            "http {\n  access_log off;\n"
            "  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n"
            "  fastcgi_temp_path %s/fastcgi;\n  uwsgi_temp_path %s/uwsgi;\n"
            "  scgi_temp_path %s/scgi;\n"
            /* Which process answered, for the test (inherited by the example's server). */
            "  add_header X-Upstream $upstream_addr always;\n"
            "  include %s;\n}\n",
            n->dir, n->dir, n->dir, n->dir, n->dir, n->dir, n->dir, site);
    fclose(f);
    snprintf(log, sizeof(log), "%s/error.log", n->dir);
    n->pid = fork();
    if (n->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        /* /usr/sbin is not on every user's PATH. */
        execl("/usr/sbin/nginx", "nginx", "-p", n->dir, "-e", log, "-c", conf, (char *)NULL);
        execlp("nginx", "nginx", "-p", n->dir, "-e", log, "-c", conf, (char *)NULL);
        _exit(127);
    }
    snprintf(n->url, sizeof(n->url), "http://127.0.0.1:%d", port);
    /* Asked until it answers, with a deadline. */
    hub_server probe;
    memset(&probe, 0, sizeof(probe));
    snprintf(probe.url, sizeof(probe.url), "%s", n->url);
    for (int i = 0;; i++) {
        hub_resp r;
        int st;
        hub_req(&probe, &r, "GET", "/api/v1/health", NULL, NULL, NULL, 0);
        long code = r.status;
        hub_resp_free(&r);
        if (code == 200)
            break;
        if (waitpid(n->pid, &st, WNOHANG) == n->pid || i > 1500) {
            hub_sh(out, sizeof(out), "cat %s", log);
            TD_FAIL("nginx did not start or pass requests on: %s", out);
        }
        usleep(20000);
    }
}

static void nginx_stop(nginx_proc *n)
{
    char out[64];
    if (n->pid > 0) {
        kill(n->pid, SIGTERM);
        waitpid(n->pid, NULL, 0);
        n->pid = 0;
    }
    hub_sh(out, sizeof(out), "rm -rf %s", n->dir);
}

/* A second process of hub a's: same database, same data directory. */
static void hub_second(hub_server *b, const hub_server *a)
{
    *b = *a;
    b->pid = 0;
    hub_launch(b, a->args);
}

/* A client of the hub at url with a's logins. */
static void hub_via(hub_server *v, const hub_server *a, const char *url)
{
    *v = *a;
    v->pid = 0;
    snprintf(v->url, sizeof(v->url), "%s", url);
}

/* ---- Checks --------------------------------------------------------------------------------- */

/* Every blob under data/blobs holds what its name (SHA-256) says; returns how many. */
static int blobs_whole(const char *data)
{
    char list[1200], out[256];
    FILE *p;
    int n = 0;
    snprintf(list, sizeof(list), "find %s/blobs -type f", data);
    p = popen(list, "r");
    TD_ASSERT(p != NULL);
    while (fgets(list, sizeof(list), p)) {
        char sha[65];
        list[strcspn(list, "\n")] = 0;
        const char *name = strrchr(list, '/') + 1;
        TD_ASSERT_OK(td__sha256_file(list, sha, NULL));
        TD_ASSERT_MSG(!strcmp(sha, name), "blob %s holds %s", name, sha);
        n++;
    }
    pclose(p);
    (void)out;
    return n;
}

static td_db *open_db(hub_server *s)
{
    td_db *db;
    td_err err;
    TD_ASSERT_OK(td__db_open(&db, s->db, 1, &err));
    return db;
}

static long long db_count(td_db *db, const char *sql, long long arg)
{
    td_db_conn *c = td__db_acquire(db);
    int64_t n = -1;
    td_err err;
    TD_ASSERT_OK(td__db_int_query(c, &n, -1, &err, sql, "i", (int64_t)arg));
    td__db_release(db, c);
    return n;
}

/* Waits (polling the database, with a deadline) until no job is queued or running. */
static void wait_queue_done(td_db *db, int timeout_s)
{
    double t0 = td_time_now();
    long long left;
    while ((left = db_count(db,
                            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') AND "
                            "id > ?",
                            0)) > 0) {
        TD_ASSERT_MSG(td_time_now() - t0 < timeout_s, "%lld jobs still queued or running", left);
        usleep(200000);
    }
}

/* Each acknowledged job succeeded, exactly once, with its own result version. */
static void jobs_once_each(td_db *db, const long long *ids, int n)
{
    for (int i = 0; i < n; i++) {
        long long ok =
            db_count(db, "SELECT COUNT(*) FROM jobs WHERE id = ? AND state = 'succeeded'", ids[i]);
        long long runs = db_count(
            db, "SELECT COUNT(*) FROM job_runs WHERE job_id = ? AND outcome = 'succeeded'", ids[i]);
        if (ok != 1) {
            td_db_conn *c = td__db_acquire(db);
            td_db_rows *row;
            td_err err;
            if (td__db_query_row(c, &row, &err, "SELECT state, error FROM jobs WHERE id = ?", "i",
                                 (int64_t)ids[i]) == 1)
                TD_FAIL("job %lld: %s: %s", ids[i], td__db_text(row, 0),
                        td__db_is_null(row, 1) ? "" : td__db_text(row, 1));
            TD_FAIL("job %lld is not in the database", ids[i]);
        }
        TD_ASSERT_MSG(runs == 1, "job %lld completed %lld times", ids[i], runs);
    }
}

/* ---- Load during faults --------------------------------------------------------------------- */

typedef struct {
    hub_server *s;
    const char *token;
    const char *archive;
    long long model; /* jobs: the model to evaluate */
    volatile int stop;
    long long ids[512];
    int ok, failed;
} loader;

/* Pushes the archive as new models until stopped; records the acknowledged ids. */
static void *push_loop(void *arg)
{
    loader *l = arg;
    char *data = NULL;
    size_t len = 0;
    td_file_read(l->archive, &data, &len, NULL);
    for (int i = 0; !l->stop && l->ok < 512; i++) {
        hub_resp r;
        char path[96];
        snprintf(path, sizeof(path), "/api/v1/models?name=up-%p-%d", (void *)l, i);
        hub_req(l->s, &r, "POST", path, l->token, "application/gzip", data, len);
        if (r.status == 201)
            l->ids[l->ok++] = json_integer_value(json_object_get(r.json, "id"));
        else
            l->failed++;
        hub_resp_free(&r);
    }
    td_free(data);
    return NULL;
}

/* Submits short training jobs (one iteration) until stopped; records the acknowledged ids. */
static void *submit_loop(void *arg)
{
    loader *l = arg;
    for (int i = 0; !l->stop && l->ok < 40; i++) {
        hub_resp r;
        char body[200];
        snprintf(body, sizeof(body),
                 "{\"type\":\"train\",\"model\":%lld,\"minutes\":10,\"iterations\":1,"
                 "\"seed\":%d}",
                 l->model, i);
        hub_json(l->s, &r, "POST", "/api/v1/jobs", l->token, body);
        if (r.status == 201)
            l->ids[l->ok++] = json_integer_value(json_object_get(r.json, "id"));
        else
            l->failed++;
        hub_resp_free(&r);
        usleep(100000);
    }
    return NULL;
}

/* A model directory with a 1 MB checkpoint, as an archive; returns its path in out. */
static void make_archive(hub_server *s, char *out, size_t cap)
{
    char log[1024];
    int rc = hub_sh(log, sizeof(log),
                    "cd %s && %s init big --discrete --fast-actions --track default >/dev/null && "
                    "mkdir -p big/model && head -c 1000000 "
                    "/dev/urandom > big/model/last.tdm && tar czf big.tgz -C big .",
                    s->dir, TD_TEST_TRACKDAY_BIN);
    TD_ASSERT_MSG(rc == 0, "%s", log);
    snprintf(out, cap, "%s/big.tgz", s->dir);
}

/* Each acknowledged model is listed and its checkpoint downloads whole. */
static void models_whole(hub_server *s, const char *token, const loader *l)
{
    for (int i = 0; i < l->ok; i++) {
        hub_resp r;
        char path[160];
        snprintf(path, sizeof(path), "/api/v1/models/%lld/versions/1/files/model/last.tdm",
                 l->ids[i]);
        hub_req(s, &r, "GET", path, token, NULL, NULL, 0);
        TD_ASSERT_MSG(r.status == 200 && r.len == 1000000, "model %lld: %ld, %zu bytes", l->ids[i],
                      r.status, r.len);
        hub_resp_free(&r);
    }
}

static void open_quotas(hub_server *s)
{
    hub_resp r;
    TD_ASSERT_EQ_INT(hub_json(s, &r, "PUT", "/api/v1/quotas/default", s->admin,
                              "{\"models\":null,\"storage_mb\":null,\"concurrent_jobs\":1000}"),
                     200);
    hub_resp_free(&r);
}

/* ---- Tests ---------------------------------------------------------------------------------- */

TD_TEST(several_processes_behind_nginx_share_sessions_and_event_streams)
{
    hub_server a, b, n;
    nginx_proc ng;
    hub_resp r;
    char alice[200], wt[200] = "", body[256];
    hub_start_opts(&a, 0, "--lease-seconds 5");
    hub_second(&b, &a);
    hub_server *hubs[2] = {&a, &b};
    nginx_start(&ng, hubs, 2);
    hub_via(&n, &a, ng.url);

    /* Requests through the one address land on both processes. */
    int on_a = 0, on_b = 0;
    for (int i = 0; i < 20; i++) {
        hub_req(&n, &r, "GET", "/api/v1/users/me", n.admin, NULL, NULL, 0);
        TD_ASSERT_EQ_INT(r.status, 200);
        on_a += strstr(r.headers, a.url + 7) != NULL;
        on_b += strstr(r.headers, b.url + 7) != NULL;
        hub_resp_free(&r);
    }
    TD_ASSERT_MSG(on_a > 0 && on_b > 0, "20 requests: %d on one process, %d on the other", on_a,
                  on_b);

    /* A session opened on one process works on the other; logging out on one ends it on all. */
    hub_user(&a, "alice", "learner", alice, sizeof(alice));
    TD_ASSERT_EQ_INT(hub_json(&b, &r, "GET", "/api/v1/users/me", alice, NULL), 200);
    TD_ASSERT_CONTAINS(r.body, "alice");
    hub_resp_free(&r);
    hub_req(&b, &r, "DELETE", "/api/v1/sessions/current", alice, NULL, NULL, 0);
    TD_ASSERT_MSG(r.status == 204 || r.status == 200, "logout: %ld %s", r.status, r.body);
    hub_resp_free(&r);
    TD_ASSERT_EQ_INT(hub_json(&a, &r, "GET", "/api/v1/users/me", alice, NULL), 401);
    hub_resp_free(&r);
    hub_login(&n, "alice", "alice-password-1", alice, sizeof(alice));

    /* A job run by a worker that talks to process a; its events followed on process b and
     * through nginx, as they happen. */
    long long m = hub_push_init(&n, alice, "m1", NULL);
    snprintf(body, sizeof(body),
             "{\"type\":\"train\",\"model\":%lld,\"minutes\":10,\"iterations\":3}", m);
    long long id = hub_submit(&n, alice, body);
    pid_t w = hub_worker(&a, "w1", wt, sizeof(wt), "--checkpoint-seconds 0");
    char *ev = hub_wait_event(&b, alice, id, "progress", NULL, 180);
    free(ev);
    ev = hub_wait_event(&n, alice, id, "end", NULL, 180);
    TD_ASSERT_CONTAINS(ev, "end {\"state\":\"succeeded\"");
    TD_ASSERT_CONTAINS(ev, "progress {");
    free(ev);
    ev = hub_wait_event(&b, alice, id, "end", NULL, 30);
    TD_ASSERT_CONTAINS(ev, "end {\"state\":\"succeeded\"");
    free(ev);
    hub_worker_stop(w, SIGTERM);

    /* A cookie session (the browser's) with its CSRF token, across processes. */
    hub_req(&n, &r, "POST", "/api/v1/sessions", NULL, "application/json",
            "{\"username\":\"alice\",\"password\":\"alice-password-1\",\"cookie\":true}",
            strlen("{\"username\":\"alice\",\"password\":\"alice-password-1\",\"cookie\":true}"));
    TD_ASSERT_EQ_INT(r.status, 201);
    const char *csrf = json_string_value(json_object_get(r.json, "csrf_token"));
    char *cookie = strstr(r.headers, "Set-Cookie: ");
    if (!cookie)
        cookie = strstr(r.headers, "set-cookie: ");
    TD_ASSERT_MSG(cookie && csrf, "no cookie or csrf: %s %s", r.headers, r.body);
    char hdr[1024];
    snprintf(hdr, sizeof(hdr), "Cookie: %.*s\r\nX-CSRF-Token: %s",
             (int)strcspn(cookie + 12, ";\r\n"), cookie + 12, csrf);
    hub_resp_free(&r);
    for (int i = 0; i < 4; i++) {
        hub_server *to = i % 2 ? &a : &b;
        hub_req_h(to, &r, "GET", "/api/v1/users/me", NULL, NULL, NULL, 0, hdr);
        TD_ASSERT_MSG(r.status == 200, "cookie session on %s: %ld %s", to->url, r.status, r.body);
        hub_resp_free(&r);
    }
    /* A change with the CSRF token on either process (logging out), then the cookie is dead on
     * both. */
    hub_req_h(&a, &r, "DELETE", "/api/v1/sessions/current", NULL, NULL, NULL, 0, hdr);
    TD_ASSERT_MSG(r.status == 204 || r.status == 200, "cookie logout: %ld %s", r.status, r.body);
    hub_resp_free(&r);
    hub_req_h(&b, &r, "GET", "/api/v1/users/me", NULL, NULL, NULL, 0, hdr);
    TD_ASSERT_EQ_INT(r.status, 401);
    hub_resp_free(&r);

    nginx_stop(&ng);
    hub_stop_keep(&b);
    hub_stop(&a);
}

TD_TEST(a_hub_process_killed_during_requests_loses_nothing)
{
    hub_server a, b, n;
    nginx_proc ng;
    char alice[200], archive[700], w1t[200] = "", w2t[200] = "";
    hub_start_opts(&a, 0, "--lease-seconds 4");
    hub_second(&b, &a);
    hub_server *hubs[2] = {&a, &b};
    nginx_start(&ng, hubs, 2);
    hub_via(&n, &a, ng.url);
    open_quotas(&n);
    hub_user(&n, "alice", "learner", alice, sizeof(alice));
    long long m = hub_push_init(&n, alice, "m1", NULL);
    make_archive(&a, archive, sizeof(archive));

    /* Two workers through nginx; uploads and job submissions through nginx. */
    pid_t w1 = hub_worker(&n, "w1", w1t, sizeof(w1t), NULL);
    pid_t w2 = hub_worker(&n, "w2", w2t, sizeof(w2t), NULL);
    loader up = {&n, alice, archive, 0, 0, {0}, 0, 0};
    loader jobs = {&n, alice, NULL, m, 0, {0}, 0, 0};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, push_loop, &up);
    pthread_create(&t2, NULL, submit_loop, &jobs);
    /* Process a dies without a word while requests are in flight. */
    for (int i = 0; i < 4800 && (up.ok < 3 || jobs.ok < 5); i++)
        usleep(25000);
    TD_ASSERT_MSG(up.ok >= 3 && jobs.ok >= 5, "load did not go through: %d uploads, %d jobs", up.ok,
                  jobs.ok);
    hub_kill(&a);
    /* The other goes on serving through the same address. */
    int before_up = up.ok, before_jobs = jobs.ok;
    for (int i = 0; i < 4800 && (up.ok < before_up + 3 || jobs.ok < before_jobs + 5); i++)
        usleep(25000);
    up.stop = jobs.stop = 1;
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    TD_ASSERT_MSG(up.ok >= before_up + 3 && jobs.ok >= before_jobs + 5,
                  "after the kill: %d uploads, %d jobs acknowledged", up.ok - before_up,
                  jobs.ok - before_jobs);

    printf("uploads: %d acknowledged, %d refused; jobs: %d acknowledged, %d refused\n", up.ok,
           up.failed, jobs.ok, jobs.failed);
    td_db *db = open_db(&b);
    wait_queue_done(db, 300);
    jobs_once_each(db, jobs.ids, jobs.ok);
    models_whole(&n, alice, &up);
    /* Process a starts again: what it was receiving when killed is removed, never shown. */
    hub_launch(&a, a.args);
    char out[4096];
    hub_sh(out, sizeof(out), "ls %s/tmp", a.data);
    TD_ASSERT_MSG(!strstr(out, "upload-") && !strstr(out, "blob-"), "left in tmp/: %s", out);
    TD_ASSERT(blobs_whole(a.data) > 0);
    td__db_close(db);
    hub_worker_stop(w1, SIGTERM);
    hub_worker_stop(w2, SIGTERM);
    nginx_stop(&ng);
    hub_stop_keep(&b);
    hub_stop(&a);
}

TD_TEST(postgres_restarted_during_claims_and_uploads)
{
    pg_cluster pc;
    hub_server s;
    char why[1024], alice[200], archive[700], w1t[200] = "", w2t[200] = "";
    /* A cluster of this test's own, to restart. */
    TD_ASSERT_MSG(pg_cluster_start_on(&pc, why, sizeof(why)) == 0, "%s", why);
    pg__current = &pc;
    hub_start_opts(&s, 0, "--lease-seconds 4");
    open_quotas(&s);
    hub_user(&s, "alice", "learner", alice, sizeof(alice));
    long long m = hub_push_init(&s, alice, "m1", NULL);
    make_archive(&s, archive, sizeof(archive));
    pid_t w1 = hub_worker(&s, "w1", w1t, sizeof(w1t), NULL);
    pid_t w2 = hub_worker(&s, "w2", w2t, sizeof(w2t), NULL);
    loader up = {&s, alice, archive, 0, 0, {0}, 0, 0};
    loader jobs = {&s, alice, NULL, m, 0, {0}, 0, 0};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, push_loop, &up);
    pthread_create(&t2, NULL, submit_loop, &jobs);
    const char *modes[2] = {"fast", "immediate"};
    for (int k = 0; k < 2; k++) {
        int u0 = up.ok, j0 = jobs.ok;
        for (int i = 0; i < 4800 && (up.ok < u0 + 2 || jobs.ok < j0 + 4); i++)
            usleep(25000);
        TD_ASSERT_MSG(up.ok >= u0 + 2 && jobs.ok >= j0 + 4,
                      "before restart %d: %d uploads, %d jobs acknowledged", k, up.ok - u0,
                      jobs.ok - j0);
        TD_ASSERT_MSG(pg_cluster_restart(&pc, modes[k], why, sizeof(why)) == 0, "%s", why);
    }
    int u0 = up.ok, j0 = jobs.ok;
    for (int i = 0; i < 4800 && (up.ok < u0 + 2 || jobs.ok < j0 + 4); i++)
        usleep(25000);
    up.stop = jobs.stop = 1;
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    TD_ASSERT_MSG(up.ok >= u0 + 2 && jobs.ok >= j0 + 4,
                  "after the restarts: %d uploads, %d jobs acknowledged", up.ok - u0, jobs.ok - j0);

    printf("uploads: %d acknowledged, %d refused; jobs: %d acknowledged, %d refused\n", up.ok,
           up.failed, jobs.ok, jobs.failed);
    td_db *db = open_db(&s);
    wait_queue_done(db, 300);
    jobs_once_each(db, jobs.ids, jobs.ok);
    models_whole(&s, alice, &up);
    TD_ASSERT(blobs_whole(s.data) > 0);
    td__db_close(db);
    hub_worker_stop(w1, SIGTERM);
    hub_worker_stop(w2, SIGTERM);
    hub_stop(&s);
    pg__current = &pg__cluster;
    pg_cluster_stop_on(&pc);
}

/* Hub processes starting together on an empty database (a Deployment's replicas): one applies
 * each migration, the others wait for it and find the schema current; nobody fails. */
TD_TEST(processes_starting_together_migrate_once)
{
    char dir[512], db[600], out[8192];
    hub_tmpdir(dir, sizeof(dir));
    hub_fresh_db(dir, "", db, sizeof(db));
    int rc = hub_sh(out, sizeof(out),
                    "cd %s && for i in 1 2 3 4 5 6; do (%s admin migrate --data data --db %s "
                    ">migrate-$i.log 2>&1; echo \"$i $?\" >>status) & done; wait; cat status "
                    "migrate-*.log",
                    dir, TD_TEST_TRACKDAY_BIN, db);
    TD_ASSERT_MSG(rc == 0, "%s", out);
    for (int i = 1; i <= 6; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%d 0\n", i);
        TD_ASSERT_MSG(strstr(out, want) != NULL, "migrate %d failed: %s", i, out);
    }
    td_db *d;
    td_err err;
    TD_ASSERT_OK(td__db_open(&d, db, 1, &err));
    int latest = td__hub_migrations[td__hub_migration_count - 1].version;
    TD_ASSERT_EQ_INT(db_count(d, "SELECT COUNT(*) FROM schema_migrations WHERE version > ?", 0),
                     td__hub_migration_count);
    TD_ASSERT_EQ_INT(
        db_count(d, "SELECT COUNT(DISTINCT version) FROM schema_migrations WHERE version > ?", 0),
        td__hub_migration_count);
    TD_ASSERT_EQ_INT(db_count(d, "SELECT MAX(version) FROM schema_migrations WHERE version > ?", 0),
                     latest);
    td__db_close(d);
    hub_sh(out, sizeof(out), "rm -rf %s", dir);
}
