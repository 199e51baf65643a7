/*
 * sandbox_host.c - the Python reward host in its own sandboxed process (td_sandbox, core).
 *
 * The parent (a trainer, `reward check`, ...) never runs user code: it starts this same
 * executable in a sandbox (TD_SANDBOX_SELF with TD_SANDBOX_ENTRY=reward-host in its
 * environment; the constructor below turns such a process into the host before main runs)
 * and talks to it over a socket pair (fd 3 inside, SOCK_SEQPACKET: one message per request
 * or reply) and a shared memory block (fd 4, memfd) that carries the bulk data: the params of
 * a batch of cars, the results, the error of a failed request, the source and waypoints.
 *
 * The child is the embedded-Python engine of py_host.c with its guards on (audit hook,
 * os._exit replaced) and, from just before the first user code runs, a seccomp filter that
 * refuses new processes, threads, exec and sockets. Its replies are not trusted: the parent
 * checks codes, lengths, indices and strings, checks every result again, and kills the
 * child when a call hangs past its limit (the child's own watchdog stops ordinary loops; the
 * parent stops the rest), or reports how it died (exit, signal, a limit) when it dies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reward/reward_internal.h"
#include "trackday/json.h"
#include "trackday/sandbox.h"

#define SB_MAGIC   0x54445242u /* "TDRB" */
#define SB_VERSION 1u
#define SB_CAP     256        /* cars per request */
#define SB_BLOB    (8u << 20) /* source, waypoints, check findings */
#define SB_MAX_WP  8          /* waypoint arrays a host keeps */
#define SB_SOCK_FD 3
#define SB_SHM_FD  4
#define SB_GRACE_S 1.0  /* past the child's own limit before it is killed */
#define SB_CHECK_S 60.0 /* the static check */

enum {
    OP_LOAD = 1,
    OP_WAYPOINTS,
    OP_BATCH,
    OP_TIMEOUT,
    OP_CHECK,
    OP_VALIDATE,
    OP_QUIT,
    OP_REPLY = 100
};

typedef struct sb_msg {
    uint32_t op, seq;
    int32_t a, b, rc;
    int32_t pad;
    double x, y;
} sb_msg;

typedef struct sb_shm {
    uint32_t magic, version;
    _Atomic unsigned progress; /* child: +1 as each call starts */
    _Atomic int car;           /* child: the car being computed */
    td_reward_error error;     /* child: the error of a failed request */
    double results[SB_CAP];
    int32_t wp_id[SB_CAP];
    td_params params[SB_CAP];
    char blob[SB_BLOB];
} sb_shm;

/* ------------------------------------------------------------------------------------ */
/* The child: the host                                                                  */
/* ------------------------------------------------------------------------------------ */

static void restrict_now(void)
{
    td_err err = {0};
    if (td_sandbox_restrict_self(TD_SANDBOX_NO_PROCESSES | TD_SANDBOX_NO_THREADS |
                                     TD_SANDBOX_NO_EXEC | TD_SANDBOX_NO_SOCKETS,
                                 &err) != 0) {
        /* Without it the namespaces still hold; but never run user code half-restricted. */
        fprintf(stderr, "trackday reward host: %s\n", err.msg);
        _exit(3);
    }
}

/* Every reply carries the host's CPU time so far (user + system, seconds) in x: the
 * caller's measure of what its reward calls cost in this process (trackday bench reward). */
static int reply(int sock, const sb_msg *req, int rc, int a)
{
    struct timespec ts;
    double cpu = clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0
                     ? (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9
                     : -1.0;
    sb_msg m = {OP_REPLY, req->seq, a, 0, rc, 0, cpu, 0};
    return send(sock, &m, sizeof(m), MSG_NOSIGNAL) == (ssize_t)sizeof(m) ? 0 : -1;
}

/* Findings (or, when rc, the error message) as JSON text in blob; its length or -1. */
static int issues_to_blob(sb_shm *shm, const td_reward_issue *issues, int n, int rc,
                          const td_err *err)
{
    json_t *arr = json_array();
    if (rc) {
        json_array_append_new(arr, json_string(err->msg));
    } else {
        for (int i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "severity", json_integer(issues[i].severity));
            json_object_set_new(o, "line", json_integer(issues[i].line));
            json_object_set_new(o, "col", json_integer(issues[i].col));
            json_object_set_new(o, "rule", json_string(issues[i].rule));
            json_object_set_new(o, "message", json_string(issues[i].message));
            json_array_append_new(arr, o);
        }
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!text)
        return -1;
    size_t tl = strlen(text);
    int out = -1;
    if (tl < SB_BLOB) {
        memcpy(shm->blob, text, tl + 1);
        out = (int)tl;
    }
    free(text);
    return out;
}

static int host_main(void)
{
    int sock = SB_SOCK_FD;
    struct stat st;
    if (fstat(SB_SHM_FD, &st) != 0 || (size_t)st.st_size < sizeof(sb_shm))
        return 2;
    sb_shm *shm = mmap(NULL, sizeof(sb_shm), PROT_READ | PROT_WRITE, MAP_SHARED, SB_SHM_FD, 0);
    if (shm == MAP_FAILED || shm->magic != SB_MAGIC || shm->version != SB_VERSION)
        return 2;
    close(SB_SHM_FD);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file over the limit: an OSError, not a death */
    td_err err = {0};
    if (td__py_ensure(&err) != 0 || td__py_enable_guards(&err) != 0) {
        fprintf(stderr, "trackday reward host: %s\n", err.msg);
        return 3;
    }
    td__py_before_user_code = restrict_now;
    td__pyhost *h = NULL;
    double *wp[SB_MAX_WP] = {NULL};
    int wpn[SB_MAX_WP] = {0};
    for (;;) {
        sb_msg m;
        ssize_t got = recv(sock, &m, sizeof(m), 0);
        if (got <= 0)
            break;
        if (got != (ssize_t)sizeof(m))
            continue;
        td_reward_error rerr;
        memset(&rerr, 0, sizeof(rerr));
        int rc = 0, a = 0;
        switch (m.op) {
        case OP_LOAD: {
            if (h || m.a <= 0 || m.b < 0 || (size_t)m.a + (size_t)m.b + 2 > SB_BLOB) {
                rc = TD_EINVAL;
                break;
            }
            const char *path = shm->blob, *src = shm->blob + m.a + 1;
            td_reward_set_load_timeout(m.y);
            rc = td__py_open(&h, path, src, (size_t)m.b, NULL, &rerr, &err);
            if (rc == 0) {
                td__py_set_timeout(h, m.x);
                td__py_set_progress(h, &shm->progress, &shm->car);
            }
            break;
        }
        case OP_WAYPOINTS: {
            if (m.a < 0 || m.a >= SB_MAX_WP || m.b < 0 ||
                (size_t)m.b * 2 * sizeof(double) > SB_BLOB) {
                rc = TD_EINVAL;
                break;
            }
            double *arr = td_malloc((size_t)(m.b > 0 ? m.b : 1) * 2 * sizeof(double));
            if (!arr) {
                rc = TD_ENOMEM;
                break;
            }
            memcpy(arr, shm->blob, (size_t)m.b * 2 * sizeof(double));
            td_free(wp[m.a]); /* the host may still cache a list for the old address: it is
                                 told apart by its points (py_params.c, td__py_waypoints_entry) */
            wp[m.a] = arr;
            wpn[m.a] = m.b;
            break;
        }
        case OP_BATCH: {
            int n = m.a;
            if (!h || n <= 0 || n > SB_CAP) {
                rc = TD_EINVAL;
                break;
            }
            for (int i = 0; i < n; i++) {
                int id = shm->wp_id[i];
                shm->params[i].waypoints = id >= 0 && id < SB_MAX_WP ? wp[id] : NULL;
                shm->params[i].n_waypoints = id >= 0 && id < SB_MAX_WP ? wpn[id] : 0;
            }
            rc = td__py_batch(h, shm->params, n, NULL, shm->results, &rerr, &err);
            break;
        }
        case OP_TIMEOUT:
            if (h)
                td__py_set_timeout(h, m.x);
            break;
        case OP_CHECK: {
            if (m.a <= 0 || m.b < 0 || (size_t)m.a + (size_t)m.b + 2 > SB_BLOB) {
                rc = TD_EINVAL;
                break;
            }
            char *path = td_strdup(shm->blob);
            char *src = td_malloc((size_t)m.b + 1);
            if (!path || !src) {
                td_free(path);
                td_free(src);
                rc = TD_ENOMEM;
                break;
            }
            memcpy(src, shm->blob + m.a + 1, (size_t)m.b);
            src[m.b] = 0;
            restrict_now(); /* flake8 and ast read the file: no process, thread or socket */
            td_reward_issue *issues = NULL;
            int n = 0;
            rc = td__py_check_source(path, src, (size_t)m.b, &issues, &n, &err);
            a = issues_to_blob(shm, issues, n, rc, &err);
            td_free(issues);
            if (a < 0)
                rc = TD_ENOMEM;
            td_free(path);
            td_free(src);
            break;
        }
        case OP_VALIDATE: {
            if (!h || m.a <= 0 || (size_t)m.a * 6 * sizeof(double) > SB_BLOB) {
                rc = TD_EINVAL;
                break;
            }
            double *route = td_malloc((size_t)m.a * 6 * sizeof(double));
            if (!route) {
                rc = TD_ENOMEM;
                break;
            }
            memcpy(route, shm->blob, (size_t)m.a * 6 * sizeof(double));
            td_reward_issue *issues = NULL;
            int n = 0;
            rc = td__py_validate(h, route, m.a, &issues, &n, &err);
            td_free(route);
            a = issues_to_blob(shm, issues, n, rc, &err);
            td_free(issues);
            if (a < 0)
                rc = TD_ENOMEM;
            break;
        }
        case OP_QUIT:
            _exit(0);
        default:
            rc = TD_EINVAL;
        }
        if (rc) {
            if (rerr.kind == TD_REWARD_ERR_NONE) {
                rerr.kind = TD_REWARD_ERR_LOAD;
                snprintf(rerr.message, sizeof(rerr.message), "%s", err.msg);
                rerr.car = rerr.step = -1;
            }
            memcpy(&shm->error, &rerr, sizeof(rerr));
        }
        if (reply(sock, &m, rc, a) != 0)
            break;
    }
    /* The interpreter is never finalized; leave without LeakSanitizer's report (it would
     * need ptrace, which the filter refuses). */
    _exit(0);
}

/* A process started as the reward host becomes it before main runs. Only where the
 * interpreter is embedded (the trackday command): libtrackday.so is never the host, so
 * loading it does nothing to its caller's process whatever the environment says. */
__attribute__((constructor)) static void reward_host_entry(void)
{
    const char *e = getenv("TD_SANDBOX_ENTRY");
    if (e && strcmp(e, "reward-host") == 0 && td__py_embedded())
        _exit(host_main());
}

/* ------------------------------------------------------------------------------------ */
/* The parent: the client                                                               */
/* ------------------------------------------------------------------------------------ */

typedef struct wp_slot {
    const double *ptr;
    int n;
    double probe[3][2];
} wp_slot;

struct td__pysb {
    char path[TD_REWARD_PATH_LEN];
    char *source;
    size_t len;
    td_sandbox_mode mode;
    td_sandbox *sb;
    int sock;
    sb_shm *shm;
    uint32_t seq;
    double timeout_s;
    wp_slot wp[SB_MAX_WP];
    int n_wp;
    int alive;
    double cpu_s; /* the host's CPU time at its last reply (a statistic: not trusted) */
};

/* The environment of the host: nothing of the caller's but what the libraries need. */
static void host_env(char env[][256], const char *envp[], int max)
{
    int n = 0;
    static const char *const fixed[] = {
        "TD_SANDBOX_ENTRY=reward-host", "LANG=C.UTF-8",      "HOME=/scratch",     "TMPDIR=/scratch",
        "OPENBLAS_NUM_THREADS=1",       "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1", NULL};
    for (int i = 0; fixed[i] && n < max - 1; i++)
        snprintf(env[n++], 256, "%s", fixed[i]);
    /* OPENBLAS_CORETYPE/L2_SIZE keep OpenBLAS correct on some processors; the sanitizers'
     * options keep test builds quiet. */
    static const char *const pass[] = {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "ASAN_OPTIONS",
                                       "UBSAN_OPTIONS",     "LSAN_OPTIONS",     NULL};
    for (int i = 0; pass[i] && n < max - 1; i++) {
        const char *v = getenv(pass[i]);
        if (v)
            snprintf(env[n++], 256, "%s=%s", pass[i], v);
    }
    for (int i = 0; i < n; i++)
        envp[i] = env[i];
    envp[n] = NULL;
}

#if defined(__SANITIZE_ADDRESS__)
#define TD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TD_ASAN 1
#endif
#endif

static int spawn_host(td__pysb *h, td_err *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return td_err_set(err, TD_EIO, "reward sandbox: socketpair: %s", strerror(errno));
    int memfd = -1;
    if (!h->shm) {
        memfd = memfd_create("trackday-reward", MFD_CLOEXEC);
        if (memfd < 0 || ftruncate(memfd, sizeof(sb_shm)) != 0) {
            int e = errno;
            close(sv[0]);
            close(sv[1]);
            if (memfd >= 0)
                close(memfd);
            return td_err_set(err, TD_EIO, "reward sandbox: shared memory: %s", strerror(e));
        }
    }
    static const char *const read_only[] = {
        "/usr/lib",         "/usr/lib64",        "/lib", "/lib64", TD_REWARD_PYTHON_EXE,
        "/etc/ld.so.cache", "/etc/alternatives", NULL};
    td_sandbox_config cfg;
    td_sandbox_config_default(&cfg);
    cfg.mode = h->mode;
    cfg.read_only = read_only;
    cfg.scratch_bytes = (size_t)16 << 20;
    cfg.cpu_s = TD_REWARD_SANDBOX_CPU_S;
#ifndef TD_ASAN
    cfg.memory_bytes = (size_t)TD_REWARD_SANDBOX_MEMORY_MB << 20;
#endif
    cfg.file_bytes = (size_t)16 << 20;
    cfg.max_files = 64;
    /* print() of a reward function goes to stderr, or where the caller captures it
     * (td_reward_set_print_fd): never to stdout, which is trackday's. */
    cfg.stdout_fd = td__reward_print_fd();
    cfg.stderr_fd = 2;
    char env[16][256];
    const char *envp[16];
    host_env(env, envp, 16);
    cfg.env = envp;
    cfg.fds[0] = (td_sandbox_fd){sv[1], SB_SOCK_FD};
    cfg.n_fds = 1;
    /* The block is created once and kept across restarts: the host maps it at fd 4. */
    int shm_fd = memfd;
    if (h->shm) {
        shm_fd = memfd_create("trackday-reward", MFD_CLOEXEC);
        if (shm_fd < 0 || ftruncate(shm_fd, sizeof(sb_shm)) != 0) {
            close(sv[0]);
            close(sv[1]);
            return td_err_set(err, TD_EIO, "reward sandbox: shared memory: %s", strerror(errno));
        }
        munmap(h->shm, sizeof(sb_shm));
        h->shm = NULL;
    }
    h->shm = mmap(NULL, sizeof(sb_shm), PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, 0);
    if (h->shm == MAP_FAILED) {
        h->shm = NULL;
        close(sv[0]);
        close(sv[1]);
        close(shm_fd);
        return td_err_set(err, TD_EIO, "reward sandbox: mmap: %s", strerror(errno));
    }
    h->shm->magic = SB_MAGIC;
    h->shm->version = SB_VERSION;
    cfg.fds[1] = (td_sandbox_fd){shm_fd, SB_SHM_FD};
    cfg.n_fds = 2;
    char *argv[] = {"trackday-reward-host", NULL};
    const char *prog = td__py_embedded() ? TD_SANDBOX_SELF : td__reward_host_program();
    int rc = (td__py_embedded() || prog)
                 ? td_sandbox_spawn(&h->sb, &cfg, prog, argv, err)
                 : td_err_set(err, TD_EUNSUPPORTED,
                              "reward sandbox: no reward host program: set "
                              "TRACKDAY_REWARD_HOST to the trackday executable");
    close(sv[1]);
    close(shm_fd);
    if (rc) {
        close(sv[0]);
        return rc;
    }
    h->sock = sv[0];
    h->alive = 1;
    h->n_wp = 0; /* the new process knows no waypoints yet */
    return 0;
}

/* Ends the host process (if any). */
static void stop_host(td__pysb *h)
{
    if (h->sock >= 0) {
        close(h->sock);
        h->sock = -1;
    }
    if (h->sb) {
        td_sandbox_exit ex;
        /* EOF on its socket ends a healthy host at once; a busy one is killed. */
        if (h->alive && td_sandbox_wait(h->sb, 0.5, &ex, NULL) == TD_ETIMEOUT)
            td_sandbox_kill(h->sb);
        td_sandbox_free(h->sb);
        h->sb = NULL;
    }
    h->alive = 0;
}

/* What killed or ended the host, for a message. */
static void death_reason(td__pysb *h, char *buf, size_t cap, int *exited)
{
    td_sandbox_exit ex;
    *exited = 0;
    if (td_sandbox_wait(h->sb, 2.0, &ex, NULL) == TD_ETIMEOUT) {
        td_sandbox_kill(h->sb);
        td_sandbox_wait(h->sb, -1, &ex, NULL);
    }
    *exited = ex.exited;
    snprintf(buf, cap, "%s", ex.reason);
}

typedef enum { REQ_OK, REQ_DIED, REQ_HUNG, REQ_PROTOCOL } req_result;

/*
 * Sends m and waits for its reply. The child counts calls in shm->progress; when the count
 * has not moved for stuck_s seconds the child is killed (REQ_HUNG). *m becomes the reply.
 */
static req_result request(td__pysb *h, sb_msg *m, double stuck_s)
{
    m->seq = ++h->seq;
    if (send(h->sock, m, sizeof(*m), MSG_NOSIGNAL) != (ssize_t)sizeof(*m))
        return REQ_DIED;
    unsigned last = atomic_load(&h->shm->progress);
    double since = td_time_now();
    for (;;) {
        struct pollfd pfd = {h->sock, POLLIN, 0};
        int n = poll(&pfd, 1, 50);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            sb_msg r;
            ssize_t got = recv(h->sock, &r, sizeof(r), 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                return REQ_DIED;
            if (got != (ssize_t)sizeof(r) || r.op != OP_REPLY || r.seq != m->seq || r.rc > 0 ||
                r.rc < TD_EINTERNAL)
                return REQ_PROTOCOL;
            if (isfinite(r.x) && r.x >= 0)
                h->cpu_s = r.x;
            *m = r;
            return REQ_OK;
        }
        unsigned now = atomic_load(&h->shm->progress);
        if (now != last) {
            last = now;
            since = td_time_now();
        } else if (stuck_s > 0 && td_time_now() - since > stuck_s) {
            td_sandbox_kill(h->sb);
            return REQ_HUNG;
        }
    }
}

/* Copies the child's error out of shared memory, made safe to use. */
static void take_error(td__pysb *h, td_reward_error *rerr, td_err *err, int rc, int n)
{
    td_reward_error e;
    memcpy(&e, (const void *)&h->shm->error, sizeof(e));
    e.file[sizeof(e.file) - 1] = 0;
    e.message[sizeof(e.message) - 1] = 0;
    e.traceback[sizeof(e.traceback) - 1] = 0;
    if (e.kind < TD_REWARD_ERR_LOAD || e.kind > TD_REWARD_ERR_CRASH)
        e.kind = TD_REWARD_ERR_EXCEPTION;
    if (e.car < -1 || e.car >= n)
        e.car = -1;
    e.has_params = 0;
    if (rerr)
        *rerr = e;
    td_err_set(err, rc, "%s", e.message);
}

/* The error for a host that died or was killed during a request. */
static int host_lost(td__pysb *h, req_result how, const td_params *params, int n, const char *what,
                     td_reward_error *rerr, td_err *err)
{
    int car = -1;
    if (params) {
        car = atomic_load(&h->shm->car);
        if (car < 0 || car >= n)
            car = 0;
    }
    const td_params *p = params ? &params[car] : NULL;
    char when[96];
    if (p)
        snprintf(when, sizeof(when), "at step %d (car %d)", p->steps, car);
    else
        snprintf(when, sizeof(when), "%s", what);
    int rc;
    if (how == REQ_HUNG) {
        char reason[256];
        int exited;
        death_reason(h, reason, sizeof(reason), &exited);
        rc = td__reward_fail(rerr, err, TD_ETIMEOUT, TD_REWARD_ERR_TIMEOUT, p, car, 0,
                             "%s: reward_function ran longer than the %.3g s limit %s and did not "
                             "stop when asked (does it catch every exception?): its process was "
                             "killed\nhint: a reward function runs 15 times a second per car; "
                             "avoid loops that may not end",
                             h->path, h->timeout_s, when);
    } else if (how == REQ_PROTOCOL) {
        td_sandbox_kill(h->sb);
        rc = td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_CRASH, p, car, 0,
                             "%s: the reward process sent an invalid reply %s (was its "
                             "communication channel used by the reward function?): it was killed",
                             h->path, when);
    } else {
        char reason[256];
        int exited;
        death_reason(h, reason, sizeof(reason), &exited);
        rc = td__reward_fail(
            rerr, err, TD_EREWARD, TD_REWARD_ERR_CRASH, p, car, 0, "%s: the reward process %s %s%s",
            h->path, reason, when,
            exited ? "\nhint: something ended the process (os._exit(), or C code calling exit): a "
                     "reward function must return a number"
                   : "\nhint: a crash in a C library, or a limit of the reward sandbox (see "
                     "docs/rewards.md)");
    }
    stop_host(h);
    return rc;
}

static int load(td__pysb *h, td_reward_error *rerr, td_err *err)
{
    size_t pl = strlen(h->path);
    if (pl + h->len + 2 > SB_BLOB)
        return td__reward_fail(rerr, err, TD_ERANGE, TD_REWARD_ERR_LOAD, NULL, -1, 0,
                               "%s: the file is too large (%zu bytes)", h->path, h->len);
    memcpy(h->shm->blob, h->path, pl + 1);
    memcpy(h->shm->blob + pl + 1, h->source, h->len);
    h->shm->blob[pl + 1 + h->len] = 0;
    double load_s = td__reward_load_timeout();
    sb_msg m = {OP_LOAD, 0, (int32_t)pl, (int32_t)h->len, 0, 0, h->timeout_s, load_s};
    req_result rr = request(h, &m, load_s > 0 ? load_s + SB_GRACE_S + 5 : 0);
    if (rr != REQ_OK) {
        if (rr == REQ_HUNG) {
            stop_host(h);
            return td__reward_fail(rerr, err, TD_ETIMEOUT, TD_REWARD_ERR_TIMEOUT, NULL, -1, 0,
                                   "%s: loading the file ran longer than the %.3g s limit and did "
                                   "not stop: its process was killed",
                                   h->path, load_s);
        }
        return host_lost(h, rr, NULL, 0, "while loading the file", rerr, err);
    }
    if (m.rc) {
        take_error(h, rerr, err, m.rc, 0);
        stop_host(h);
        return m.rc;
    }
    return 0;
}

int td__pysb_open(td__pysb **out, const char *path, const char *source, size_t len,
                  td_sandbox_mode mode, td_reward_error *rerr, td_err *err)
{
    *out = NULL;
    td__pysb *h = td_calloc(1, sizeof(*h));
    if (!h)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    h->sock = -1;
    h->mode = mode;
    h->timeout_s = TD_REWARD_DEFAULT_TIMEOUT_S;
    snprintf(h->path, sizeof(h->path), "%s", path);
    h->source = td_malloc(len + 1);
    if (!h->source) {
        td_free(h);
        return td_err_set(err, TD_ENOMEM, "out of memory");
    }
    memcpy(h->source, source, len);
    h->source[len] = 0;
    h->len = len;
    int rc = spawn_host(h, err);
    if (rc == 0)
        rc = load(h, rerr, err);
    else if (rerr) {
        memset(rerr, 0, sizeof(*rerr));
        rerr->kind = TD_REWARD_ERR_LOAD;
        rerr->car = rerr->step = -1;
        snprintf(rerr->message, sizeof(rerr->message), "%s", err ? err->msg : "sandbox");
    }
    if (rc) {
        td__pysb_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

int td__pysb_restart(td__pysb *h, td_reward_error *rerr, td_err *err)
{
    stop_host(h);
    int rc = spawn_host(h, err);
    return rc ? rc : load(h, rerr, err);
}

int td__pysb_alive(const td__pysb *h)
{
    return h->alive;
}

double td__pysb_cpu_s(const td__pysb *h)
{
    return h->cpu_s;
}

void td__pysb_close(td__pysb *h)
{
    if (!h)
        return;
    if (h->alive && h->sock >= 0) {
        sb_msg m = {OP_QUIT, 0, 0, 0, 0, 0, 0, 0};
        send(h->sock, &m, sizeof(m), MSG_NOSIGNAL);
    }
    stop_host(h);
    if (h->shm)
        munmap(h->shm, sizeof(sb_shm));
    td_free(h->source);
    td_free(h);
}

void td__pysb_set_timeout(td__pysb *h, double seconds)
{
    h->timeout_s = seconds;
    if (!h->alive)
        return;
    sb_msg m = {OP_TIMEOUT, 0, 0, 0, 0, 0, seconds, 0};
    if (request(h, &m, 10.0) != REQ_OK)
        stop_host(h);
}

static void wp_probe(const double *wp, int n, double out[3][2])
{
    int idx[3] = {0, n / 2, n - 1};
    for (int k = 0; k < 3; k++) {
        out[k][0] = n > 0 ? wp[2 * idx[k]] : 0;
        out[k][1] = n > 0 ? wp[2 * idx[k] + 1] : 0;
    }
}

/* The host's id for a waypoint array, sending it the first time. -1 on failure. */
static int waypoints_id(td__pysb *h, const double *wp, int n)
{
    if (!wp || n <= 0)
        return -1;
    double probe[3][2];
    wp_probe(wp, n, probe);
    for (int i = 0; i < h->n_wp; i++)
        if (h->wp[i].ptr == wp && h->wp[i].n == n &&
            memcmp(h->wp[i].probe, probe, sizeof(probe)) == 0)
            return i;
    if ((size_t)n * 2 * sizeof(double) > SB_BLOB)
        return -1;
    int id = h->n_wp < SB_MAX_WP ? h->n_wp++ : SB_MAX_WP - 1;
    memcpy(h->shm->blob, wp, (size_t)n * 2 * sizeof(double));
    sb_msg m = {OP_WAYPOINTS, 0, id, n, 0, 0, 0, 0};
    if (request(h, &m, 10.0) != REQ_OK || m.rc)
        return -2;
    h->wp[id] = (wp_slot){wp, n, {{0}}};
    memcpy(h->wp[id].probe, probe, sizeof(probe));
    return id;
}

int td__pysb_batch(td__pysb *h, const td_params *params, int n, float *out_f, double *out_d,
                   td_reward_error *rerr, td_err *err)
{
    int done = 0, rc = 0;
    while (done < n && rc == 0) {
        if (!h->alive) {
            rc = td__reward_fail(rerr, err, TD_EREWARD, TD_REWARD_ERR_CRASH, &params[done], done, 0,
                                 "%s: the reward process is no longer running", h->path);
            break;
        }
        int k = n - done < SB_CAP ? n - done : SB_CAP;
        const td_params *p = params + done;
        for (int i = 0; i < k; i++) {
            td_params_copy(&h->shm->params[i], &p[i]); /* the objects in use only */
            int id = waypoints_id(h, p[i].waypoints, p[i].n_waypoints);
            if (id == -2)
                return host_lost(h, REQ_DIED, p, k, "", rerr, err);
            h->shm->wp_id[i] = id;
        }
        sb_msg m = {OP_BATCH, 0, k, 0, 0, 0, 0, 0};
        req_result rr = request(h, &m, h->timeout_s > 0 ? h->timeout_s + SB_GRACE_S : 0);
        if (rr != REQ_OK) {
            rc = host_lost(h, rr, p, k, "", rerr, err);
            /* The cars before the one that was running have their results. */
            int ok = rerr && rerr->car >= 0 ? rerr->car : 0;
            td_reward_error keep;
            if (rerr)
                keep = *rerr;
            for (int i = 0; i < ok; i++) {
                double v = h->shm ? h->shm->results[i] : 0;
                if (td__reward_check_value(v, &p[i], done + i, h->path, NULL, NULL) != 0)
                    v = 0;
                if (out_f)
                    out_f[done + i] = (float)v;
                if (out_d)
                    out_d[done + i] = v;
            }
            if (rerr) {
                *rerr = keep;
                if (rerr->car >= 0)
                    rerr->car += done;
            }
            done += ok;
            break;
        }
        /* Every result is checked here again: the child is not trusted. */
        int fail_at = k;
        if (m.rc) {
            take_error(h, rerr, err, m.rc, k);
            fail_at = rerr && rerr->car >= 0 ? rerr->car : 0;
            rc = m.rc;
        }
        for (int i = 0; i < fail_at; i++) {
            double v = h->shm->results[i];
            if (td__reward_check_value(v, &p[i], done + i, h->path, rerr, err) != 0) {
                rc = TD_EREWARD;
                fail_at = i;
                break;
            }
            if (out_f)
                out_f[done + i] = (float)v;
            if (out_d)
                out_d[done + i] = v;
        }
        if (rc) {
            if (rerr && rerr->car >= 0 && rerr->car < k)
                rerr->car += done;
            done += fail_at;
            break;
        }
        done += k;
    }
    for (int i = done; rc && i < n; i++) {
        if (out_f)
            out_f[i] = 0;
        if (out_d)
            out_d[i] = 0;
    }
    return rc;
}

/* Issues from the JSON text the host left in blob (len bytes); m_rc is the reply's code. */
static int blob_to_issues(td__pysb *h, int len, int m_rc, td_reward_issue **issues, int *n_issues,
                          td_err *err)
{
    if (len < 0 || (size_t)len >= SB_BLOB)
        return td_err_set(err, TD_EINTERNAL, "%s: the reward process sent an invalid reply",
                          h->path);
    h->shm->blob[len] = 0;
    json_error_t jerr;
    json_t *arr = json_loads(h->shm->blob, 0, &jerr);
    if (m_rc) {
        const char *msg =
            arr && json_is_array(arr) ? json_string_value(json_array_get(arr, 0)) : NULL;
        int rc = td_err_set(err, m_rc, "%s", msg ? msg : "the check could not run");
        json_decref(arr);
        return rc;
    }
    size_t n = arr && json_is_array(arr) ? json_array_size(arr) : 0;
    td_reward_issue *out = td_calloc(n ? n : 1, sizeof(*out));
    if (!out || !arr || !json_is_array(arr)) {
        json_decref(arr);
        td_free(out);
        return td_err_set(err, out ? TD_EINTERNAL : TD_ENOMEM, "%s: the check failed", h->path);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        out[i].severity = json_integer_value(json_object_get(o, "severity")) ? TD_REWARD_ERROR
                                                                             : TD_REWARD_WARNING;
        out[i].line = (int)json_integer_value(json_object_get(o, "line"));
        out[i].col = (int)json_integer_value(json_object_get(o, "col"));
        const char *rule = json_string_value(json_object_get(o, "rule"));
        const char *msg = json_string_value(json_object_get(o, "message"));
        snprintf(out[i].rule, sizeof(out[i].rule), "%s", rule ? rule : "");
        snprintf(out[i].message, sizeof(out[i].message), "%s", msg ? msg : "");
    }
    json_decref(arr);
    *issues = out;
    *n_issues = (int)n;
    return 0;
}

int td__pysb_validate(td__pysb *h, const double *route, int n, td_reward_issue **issues,
                      int *n_issues, td_err *err)
{
    *issues = NULL;
    *n_issues = 0;
    if (!h->alive)
        return td_err_set(err, TD_EREWARD, "%s: the reward process is no longer running", h->path);
    if (n <= 0 || (size_t)n * 6 * sizeof(double) > SB_BLOB)
        return td_err_set(err, TD_ERANGE, "%s: the route has %d points", h->path, n);
    memcpy(h->shm->blob, route, (size_t)n * 6 * sizeof(double));
    sb_msg m = {OP_VALIDATE, 0, n, 0, 0, 0, 0, 0};
    req_result rr = request(h, &m, 5.0 + SB_GRACE_S + 1.0);
    if (rr != REQ_OK) {
        td_reward_error rerr;
        host_lost(h, rr, NULL, 0, "during DeepRacer's validator tests", &rerr, err);
        return err ? err->code : TD_EREWARD;
    }
    return blob_to_issues(h, m.a, m.rc, issues, n_issues, err);
}

int td__pysb_check(const char *path, const char *source, size_t len, td_sandbox_mode mode,
                   td_reward_issue **issues, int *n_issues, td_err *err)
{
    *issues = NULL;
    *n_issues = 0;
    td__pysb *h = td_calloc(1, sizeof(*h));
    if (!h)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    h->sock = -1;
    h->mode = mode;
    snprintf(h->path, sizeof(h->path), "%s", path);
    int rc = spawn_host(h, err);
    if (rc) {
        td__pysb_close(h);
        return rc;
    }
    size_t pl = strlen(path);
    if (pl + len + 2 > SB_BLOB) {
        td__pysb_close(h);
        return td_err_set(err, TD_ERANGE, "%s: the file is too large (%zu bytes)", path, len);
    }
    memcpy(h->shm->blob, path, pl + 1);
    memcpy(h->shm->blob + pl + 1, source, len);
    h->shm->blob[pl + 1 + len] = 0;
    sb_msg m = {OP_CHECK, 0, (int32_t)pl, (int32_t)len, 0, 0, 0, 0};
    req_result rr = request(h, &m, SB_CHECK_S);
    if (rr != REQ_OK || m.a < 0 || (size_t)m.a >= SB_BLOB) {
        char reason[256] = "did not answer";
        int exited;
        if (rr == REQ_DIED)
            death_reason(h, reason, sizeof(reason), &exited);
        td__pysb_close(h);
        return td_err_set(err, TD_EINTERNAL, "%s: the static check's process %s", path, reason);
    }
    rc = blob_to_issues(h, m.a, m.rc, issues, n_issues, err);
    td__pysb_close(h);
    return rc;
}
