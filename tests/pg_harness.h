/*
 * pg_harness.h - a throwaway PostgreSQL cluster for the hub's tests (Debian's server from
 * /usr/lib/postgresql/VERSION/bin, or $TD_PG_BIN): initdb in a temporary directory, the server
 * on a free loopback port, one cluster per test binary (started before the test cases fork,
 * stopped at exit), a fresh database per hub. PostgreSQL refuses to run as root, so as root the
 * cluster runs as the `postgres` account of Debian's package (else `nobody`).
 *
 * A test binary runs on PostgreSQL when TD_TEST_HUB_DB=postgres is in its environment (CMake
 * registers each hub test a second time as NAME_pg with it); otherwise nothing here runs.
 */
#ifndef TD_PG_HARNESS_H
#define TD_PG_HARNESS_H

#ifndef TD_HAVE_POSTGRES
/* Built without PostgreSQL (-DTD_WITH_POSTGRES=OFF): the hub's tests run on SQLite only. */
#include <stdio.h>
static int pg_wanted(void)
{
    return 0;
}
static int pg_cluster_start(char *why, size_t cap)
{
    snprintf(why, cap, "built without PostgreSQL");
    return -1;
}
static int pg_new_database(char *url, size_t cap, char *why, size_t why_cap)
{
    (void)url;
    (void)cap;
    snprintf(why, why_cap, "built without PostgreSQL");
    return -1;
}
#else
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Each test file uses some of these helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

typedef struct pg_cluster {
    char dir[256];  /* the cluster's directory (data/, the socket, the log) */
    char base[256]; /* postgresql://trackday@127.0.0.1:PORT/ */
    int port;
    pid_t pid; /* the postmaster, a child of the process that started it */
    pid_t owner;
    uid_t uid;
    gid_t gid;
    int databases;
} pg_cluster;

static pg_cluster pg__cluster;
/* The cluster new databases go to (a test may start a private one to restart it). */
static pg_cluster *pg__current = &pg__cluster;

/* Whether this test binary runs its hubs on PostgreSQL. */
static int pg_wanted(void)
{
    const char *e = getenv("TD_TEST_HUB_DB");
    return e && !strcmp(e, "postgres");
}

/* The directory of initdb and postgres: $TD_PG_BIN, else the newest Debian version. */
static int pg__bindir(char *out, size_t cap)
{
    const char *env = getenv("TD_PG_BIN");
    DIR *d;
    struct dirent *de;
    int best = 0;
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return 0;
    }
    d = opendir("/usr/lib/postgresql");
    if (!d)
        return -1;
    while ((de = readdir(d))) {
        int v = (int)strtol(de->d_name, NULL, 10);
        char p[512];
        snprintf(p, sizeof(p), "/usr/lib/postgresql/%s/bin/initdb", de->d_name);
        if (v > best && access(p, X_OK) == 0)
            best = v;
    }
    closedir(d);
    if (!best)
        return -1;
    snprintf(out, cap, "/usr/lib/postgresql/%d/bin", best);
    return 0;
}

/* A port nothing listens on now (the kernel's pick for port 0). */
static int pg__free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* In a child: becomes the cluster's account (when root) and runs argv. */
static void pg__exec_as(const pg_cluster *c, char *const argv[], const char *log, int deathsig)
{
    if (getuid() == 0) {
        if (setgroups(0, NULL) || setgid(c->gid) || setuid(c->uid))
            _exit(126);
    }
    /* The test's directory may be one the cluster's account cannot enter (a clone in /root). */
    if (chdir(c->dir))
        _exit(126);
    /* Set after the change of user, which clears it: the server dies with the test binary. */
    if (deathsig)
        prctl(PR_SET_PDEATHSIG, deathsig);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) {
        dup2(null, 0);
        close(null);
    }
    setpgid(0, 0);
    execv(argv[0], argv);
    _exit(127);
}

static void pg__rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "pg_harness: could not remove %s\n", dir);
}

/* Stops a cluster (fast shutdown: sessions end, the server exits) and removes it. */
static void pg_cluster_stop_on(pg_cluster *c)
{
    if (c->pid <= 0 || c->owner != getpid())
        return;
    kill(c->pid, SIGINT);
    waitpid(c->pid, NULL, 0);
    c->pid = 0;
    if (!getenv("HUB_KEEP"))
        pg__rm_rf(c->dir);
}

static void pg_cluster_stop(void)
{
    pg_cluster_stop_on(&pg__cluster);
}

/* Starts the server of an initialized cluster on c->port; 0 when it accepts connections. */
static int pg__start_server(pg_cluster *c, char *why, size_t cap)
{
    char bindir[300], postgres[400], data[600], log[600], port[16], conninfo[300];
    double t0;
    pg__bindir(bindir, sizeof(bindir));
    snprintf(postgres, sizeof(postgres), "%s/postgres", bindir);
    snprintf(data, sizeof(data), "%s/data", c->dir);
    snprintf(log, sizeof(log), "%s/server.log", c->dir);
    snprintf(port, sizeof(port), "%d", c->port);
    c->pid = fork();
    if (c->pid == 0) {
        char *argv[] = {postgres, "-D", data, "-p", port, "-k", c->dir, NULL};
        pg__exec_as(c, argv, log, SIGQUIT);
    }
    if (c->pid < 0) {
        snprintf(why, cap, "fork: %s", strerror(errno));
        return -1;
    }
    snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d user=trackday dbname=postgres",
             c->port);
    /* Readiness is asked of the server, with a deadline; the wait between asks only spaces
     * them out. */
    t0 = (double)time(NULL);
    for (;;) {
        int st = -1;
        if (PQping(conninfo) == PQPING_OK)
            return 0;
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            c->pid = 0;
            snprintf(why, cap, "postgres exited (see %s)", log);
            return -1;
        }
        if ((double)time(NULL) - t0 > 60) {
            snprintf(why, cap, "postgres did not accept connections in 60 s (see %s)", log);
            return -1;
        }
        usleep(20000);
    }
}

/*
 * Starts a cluster in c (stopped by pg_cluster_stop_on, or when this process ends). Returns 0,
 * or -1 with the reason in why: the caller fails the test (a test never passes or silently
 * skips without the server it asked for).
 */
static int pg_cluster_start_on(pg_cluster *c, char *why, size_t cap)
{
    char bindir[300], initdb[400], data[600], log[600], conf[700];
    const char *tmp = getenv("TMPDIR");
    pid_t pid;
    int st = -1;
    FILE *f;
    memset(c, 0, sizeof(*c));
    if (pg__bindir(bindir, sizeof(bindir))) {
        snprintf(why, cap,
                 "no PostgreSQL server in /usr/lib/postgresql (scripts/install-deps installs "
                 "Debian's postgresql)");
        return -1;
    }
    c->uid = getuid();
    c->gid = getgid();
    if (getuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw)
            pw = getpwnam("nobody");
        if (!pw) {
            snprintf(why, cap, "running as root and no 'postgres' or 'nobody' account");
            return -1;
        }
        c->uid = pw->pw_uid;
        c->gid = pw->pw_gid;
    }
    /* /tmp, not the test's TMPDIR: the cluster outlives each test case, and the account
     * running it must reach the directory. */
    (void)tmp;
    snprintf(c->dir, sizeof(c->dir), "/tmp/td-pg-XXXXXX");
    if (!mkdtemp(c->dir)) {
        snprintf(why, cap, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    if (chown(c->dir, c->uid, c->gid) || chmod(c->dir, 0700)) {
        snprintf(why, cap, "chown %s: %s", c->dir, strerror(errno));
        return -1;
    }
    snprintf(initdb, sizeof(initdb), "%s/initdb", bindir);
    snprintf(data, sizeof(data), "%s/data", c->dir);
    snprintf(log, sizeof(log), "%s/initdb.log", c->dir);
    pid = fork();
    if (pid == 0) {
        char *argv[] = {
            initdb, "-D",   data,          "-U",        "trackday",          "--auth=trust",
            "-E",   "UTF8", "--no-locale", "--no-sync", "--no-instructions", NULL};
        pg__exec_as(c, argv, log, 0);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
        snprintf(why, cap, "initdb failed (status %d; see %s)", st, log);
        return -1;
    }
    /* A test cluster: nothing to keep through a power cut, so no fsync (a commit is still
     * written to the kernel before it is acknowledged: synchronous_commit stays on, or a
     * crash of the server would lose acknowledged commits); enough connections for a few
     * hub processes with their pools; loopback only. */
    snprintf(conf, sizeof(conf), "%s/postgresql.conf", data);
    f = fopen(conf, "a");
    if (!f) {
        snprintf(why, cap, "%s: %s", conf, strerror(errno));
        return -1;
    }
    fprintf(f, "listen_addresses = '127.0.0.1'\nfsync = off\n"
               "full_page_writes = off\nmax_connections = 300\nshared_buffers = 32MB\n"
               "log_min_messages = warning\nlogging_collector = off\n");
    fclose(f);
    c->owner = getpid();
    for (int tries = 0; tries < 5; tries++) {
        c->port = pg__free_port();
        if (!pg__start_server(c, why, cap))
            break;
        if (tries == 4)
            return -1;
    }
    snprintf(c->base, sizeof(c->base), "postgresql://trackday@127.0.0.1:%d/", c->port);
    return 0;
}

/* Starts this binary's cluster (once), stopped at exit. */
static int pg_cluster_start(char *why, size_t cap)
{
    if (pg__cluster.pid > 0)
        return 0;
    if (pg_cluster_start_on(&pg__cluster, why, cap))
        return -1;
    atexit(pg_cluster_stop);
    return 0;
}

/* Stops the server and starts it again on the same port (the fault tests). mode: "fast"
 * (SIGINT: sessions are ended) or "immediate" (SIGQUIT: as a crash, recovery at start). */
static int pg_cluster_restart(pg_cluster *c, const char *mode, char *why, size_t cap)
{
    if (c->pid <= 0 || c->owner != getpid()) {
        snprintf(why, cap, "no cluster");
        return -1;
    }
    kill(c->pid, !strcmp(mode, "immediate") ? SIGQUIT : SIGINT);
    waitpid(c->pid, NULL, 0);
    c->pid = 0;
    return pg__start_server(c, why, cap);
}

/* Runs one statement on the cluster's `postgres` database. */
static int pg_admin_exec(const char *sql, char *why, size_t cap)
{
    char conninfo[300];
    PGconn *pq;
    PGresult *res;
    int rc = 0;
    snprintf(conninfo, sizeof(conninfo), "%spostgres", pg__current->base);
    pq = PQconnectdb(conninfo);
    if (PQstatus(pq) != CONNECTION_OK) {
        snprintf(why, cap, "%s", PQerrorMessage(pq));
        PQfinish(pq);
        return -1;
    }
    res = PQexec(pq, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(why, cap, "%s: %s", sql, PQresultErrorMessage(res));
        rc = -1;
    }
    PQclear(res);
    PQfinish(pq);
    return rc;
}

/* A new empty database on the cluster; its URL in url. */
static int pg_new_database(char *url, size_t cap, char *why, size_t why_cap)
{
    char sql[200];
    /* Names are unique across the forked test cases: the case's pid and a counter. */
    int n = ++pg__current->databases;
    snprintf(sql, sizeof(sql), "CREATE DATABASE hub_%d_%d", (int)getpid(), n);
    if (pg_admin_exec(sql, why, why_cap))
        return -1;
    snprintf(url, cap, "%shub_%d_%d", pg__current->base, (int)getpid(), n);
    return 0;
}

#endif /* TD_HAVE_POSTGRES */
#endif
