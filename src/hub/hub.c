/*
 * hub.c - the hub's life: options, opening the data directory (database, migrations,
 * leftovers of interrupted uploads), the clock, in-process wake-ups, starting and stopping
 * the server and its background reaper.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "hub/hub_internal.h"

void td_hub_options_default(td_hub_options *o)
{
    memset(o, 0, sizeof(*o));
    o->listen = "127.0.0.1:8080";
    o->lease_s = 60;
    o->session_hours = 168;
    o->max_attempts = 3;
    o->max_json_bytes = 1u << 20;
    o->max_upload_bytes = 1ull << 30;
    o->max_model_bytes = 2ull << 30;
    o->max_model_files = 2000;
    o->login_max_failures = 10;
    o->login_window_s = 900;
    o->max_connections = 1000;
    o->db_pool = 16;
}

int64_t td__hub_now(td_hub *h)
{
    if (h->opt.clock_file) {
        char buf[64] = "";
        FILE *f = fopen(h->opt.clock_file, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            buf[n] = 0;
            fclose(f);
            char *end;
            double v = strtod(buf, &end);
            if (end != buf && isfinite(v) && v > 0)
                return (int64_t)v;
        }
    }
    return (int64_t)time(NULL);
}

void td__hub_notify(td_hub *h)
{
    pthread_mutex_lock(&h->notify_mu);
    h->notify_seq++;
    pthread_cond_broadcast(&h->notify_cv);
    pthread_mutex_unlock(&h->notify_mu);
}

void td__hub_wait(td_hub *h, uint64_t *seen, double timeout_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double whole = floor(timeout_s);
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((timeout_s - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->notify_mu);
    while (!h->stopping && h->notify_seq == *seen) {
        if (pthread_cond_timedwait(&h->notify_cv, &h->notify_mu, &ts) == ETIMEDOUT)
            break;
    }
    *seen = h->notify_seq;
    pthread_mutex_unlock(&h->notify_mu);
}

/* Parses "host:port", "[v6]:port" or "port". */
static int parse_listen(td_hub *h, const char *s, td_err *err)
{
    const char *colon;
    char *end;
    long port;
    if (!s || !*s)
        s = "127.0.0.1:8080";
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return td_err_set(err, TD_EINVAL, "--listen: '%s' is not [ADDRESS]:PORT", s);
        snprintf(h->listen_host, sizeof(h->listen_host), "%.*s", (int)(close - s - 1), s + 1);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon)
            snprintf(h->listen_host, sizeof(h->listen_host), "%.*s", (int)(colon - s), s);
        else
            snprintf(h->listen_host, sizeof(h->listen_host), "127.0.0.1");
    }
    if (!h->listen_host[0])
        snprintf(h->listen_host, sizeof(h->listen_host), "127.0.0.1");
    const char *ps = colon ? colon + 1 : s;
    port = strtol(ps, &end, 10);
    if (!*ps || *end || port < 0 || port > 65535)
        return td_err_set(err, TD_EINVAL, "--listen: '%s' has no valid port (HOST:PORT)", s);
    h->listen_port = (int)port;
    return 0;
}

/* Whether a file of DIR/tmp, named KIND-HOST.PID-XXXXXX (td__tmp_tag), was left by a process
 * of this machine that has ended, or has not changed for six hours (a process of another
 * machine that ended). */
int td__tmp_is_stale(const char *name, const struct stat *st)
{
    char host[128];
    const char *tag = strchr(name, '-'), *dot, *end;
    const char *mine = td__tmp_tag();
    if (st->st_mtime < time(NULL) - 6 * 3600)
        return 1;
    if (!tag)
        return 0;
    tag++;
    dot = strrchr(mine, '.');
    snprintf(host, sizeof(host), "%.*s", (int)(dot - mine), mine);
    if (strncmp(tag, host, strlen(host)) || tag[strlen(host)] != '.')
        return 0;
    long pid = strtol(tag + strlen(host) + 1, (char **)&end, 10);
    if (*end != '-' || pid <= 0)
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Removes what interrupted uploads and checks left in DIR/tmp (never visible as blobs). Other
 * processes may be writing there now (hub processes sharing DIR on PostgreSQL, or `trackday
 * serve` while `trackday admin` opens the same DIR): only what ended processes left goes
 * (td__tmp_is_stale). */
static void clean_tmp(td_hub *h)
{
    char dir[1100];
    DIR *d;
    struct dirent *de;
    snprintf(dir, sizeof(dir), "%s/tmp", h->data_dir);
    d = opendir(dir);
    while (d && (de = readdir(d))) {
        char p[1400];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (lstat(p, &st) || !td__tmp_is_stale(de->d_name, &st))
            continue;
        td_remove_tree(p);
    }
    if (d)
        closedir(d);
}

int td_hub_open(td_hub **out, const td_hub_options *o, td_err *err)
{
    td_hub *h;
    char path[1200];
    int rc;

    *out = NULL;
    if (!o->data_dir || !*o->data_dir)
        return td_err_set(err, TD_EINVAL, "the hub needs a data directory (--data DIR)");
    if (o->db && *o->db && !td__db_is_postgres(o->db))
        return td_err_set(err, TD_EINVAL,
                          "--db: '%.200s' is not a postgresql:// URL (without --db the hub keeps "
                          "SQLite in DIR/hub.db)",
                          o->db);
    if (sodium_init() < 0)
        return td_err_set(err, TD_EINTERNAL, "libsodium failed to start");
    h = td_calloc(1, sizeof(*h));
    if (!h)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    h->opt = *o;
    snprintf(h->data_dir, sizeof(h->data_dir), "%s", o->data_dir);
    pthread_mutex_init(&h->notify_mu, NULL);
    pthread_cond_init(&h->notify_cv, NULL);
    pthread_mutex_init(&h->pw_mu, NULL);
    pthread_cond_init(&h->pw_cv, NULL);
    h->boards = td__board_cache_new();
    rc = h->boards ? 0 : td_err_set(err, TD_ENOMEM, "out of memory");
    if (!rc)
        rc = parse_listen(h, o->listen, err);
    if (!rc)
        rc = td_mkdir_p(h->data_dir, err);
    if (!rc) {
        /* The database holds password hashes and tokens' hashes: owner only. */
        chmod(h->data_dir, 0700);
        snprintf(path, sizeof(path), "%s/tmp", h->data_dir);
        rc = td_mkdir_p(path, err);
    }
    if (!rc) {
        snprintf(path, sizeof(path), "%s/blobs", h->data_dir);
        rc = td_mkdir_p(path, err);
    }
    if (!rc) {
        clean_tmp(h);
        if (o->db && *o->db)
            snprintf(path, sizeof(path), "%s", o->db);
        else
            snprintf(path, sizeof(path), "%s/hub.db", h->data_dir);
        rc = td__db_open(&h->db, path, o->db_pool > 0 ? o->db_pool : 16, err);
    }
    if (!rc)
        rc = td__db_migrate(h->db, td__hub_migrations, td__hub_migration_count, NULL, err);
    if (rc) {
        td_hub_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

int td_hub_schema_version(td_hub *h, int *current, int *latest, td_err *err)
{
    *latest = td__hub_migrations[td__hub_migration_count - 1].version;
    return td__db_schema_version(h->db, current, err);
}

int td_hub_port(const td_hub *h)
{
    return h->port;
}

/* Returns jobs whose worker went silent to the queue, even when no worker is claiming. */
static void *reaper_main(void *arg)
{
    td_hub *h = arg;
    uint64_t seen = 0;
    double period = h->opt.lease_s / 4.0;
    if (period < 0.5)
        period = 0.5;
    while (!h->stopping) {
        td_db_conn *c = td__db_acquire(h->db);
        td_err err = {0};
        if (td__jobs_reap(h, c, &err))
            TD_WARN("hub: reaper: %s", err.msg);
        if (td__fleet_tick(h, c, &err))
            TD_WARN("hub: fleet: %s", err.msg);
        if (td__pipeline_tick(h, c, &err))
            TD_WARN("hub: alert pipelines: %s", err.msg);
        td__db_release(h->db, c);
        double t0 = td_time_now();
        while (!h->stopping && td_time_now() - t0 < period)
            td__hub_wait(h, &seen, period - (td_time_now() - t0));
    }
    return NULL;
}

int td_hub_listen(td_hub *h, td_err *err)
{
    int rc = td__http_start(h, err);
    if (rc)
        return rc;
    if (pthread_create(&h->reaper, NULL, reaper_main, h) == 0)
        h->reaper_started = 1;
    if (pthread_create(&h->webhooks, NULL, td__webhook_main, h) == 0)
        h->webhooks_started = 1;
    return 0;
}

static void stop_reaper(td_hub *h)
{
    if (h->reaper_started) {
        h->stopping = 1;
        td__hub_notify(h);
        pthread_join(h->reaper, NULL);
        h->reaper_started = 0;
    }
    if (h->webhooks_started) {
        h->stopping = 1;
        td__hub_notify(h);
        pthread_join(h->webhooks, NULL);
        h->webhooks_started = 0;
    }
}

unsigned td__http_connections(td_hub *h);

void td_hub_shutdown(td_hub *h, double grace_s)
{
    double t0 = td_time_now();
    if (!h || !h->mhd)
        return;
    td__http_quiesce(h);
    h->stopping = 1;
    td__hub_notify(h);
    /* Requests in flight finish; kept-alive connections get "Connection: close". */
    while (td__http_connections(h) > 0 && td_time_now() - t0 < grace_s)
        usleep(20000);
    td__http_stop(h);
    stop_reaper(h);
}

void td_hub_close(td_hub *h)
{
    if (!h)
        return;
    if (h->mhd) {
        h->stopping = 1;
        td__hub_notify(h);
        td__http_stop(h);
    }
    stop_reaper(h);
    td__db_close(h->db);
    pthread_mutex_destroy(&h->notify_mu);
    pthread_cond_destroy(&h->notify_cv);
    pthread_mutex_destroy(&h->pw_mu);
    pthread_cond_destroy(&h->pw_cv);
    td__board_cache_free(h->boards);
    td_free(h);
}
