/*
 * sandbox.c - how the worker starts a job's process, on the core sandbox (trackday/sandbox.h):
 * its own user, mount, PID, network, IPC and UTS namespaces, a read-only root holding only the
 * system's programs and libraries and the tracks, the job's scratch directory as the one
 * writable place (at the same path as outside, so paths need no translation), an empty
 * network, a seccomp filter, resource limits, a clean environment, and death with the worker.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub_internal.h"

/* The uid the core sandbox runs programs as when its caller is root. */
#define SANDBOX_UID 65534

/* Gives dir and everything under it to the sandbox's uid (links themselves, never their
 * targets). */
static int chown_tree(const char *dir, int depth)
{
    DIR *d;
    struct dirent *de;
    int rc = 0;
    if (lchown(dir, SANDBOX_UID, SANDBOX_UID) != 0 || depth > 32)
        return -1;
    d = opendir(dir);
    if (!d)
        return -1;
    while (!rc && (de = readdir(d))) {
        char p[4096];
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= sizeof(p) ||
            lstat(p, &st) != 0) {
            rc = -1;
            break;
        }
        if (S_ISDIR(st.st_mode))
            rc = chown_tree(p, depth + 1);
        else if (lchown(p, SANDBOX_UID, SANDBOX_UID) != 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

int td__sandbox_spawn(const char *const argv[], const char *dir, const char *log_path,
                      const td__limits *lim, td_sandbox_mode mode, const char *const *read_only,
                      td__child *out, td_err *err)
{
    td_sandbox_config cfg;
    int pfd[2], logfd, rc;
    const char *ro[32];
    int n = 0;
    /* /etc/alternatives: Debian's library links (ffmpeg, which a race's replay runs, finds
     * libblas.so.3 through it). */
    static const char *const system_paths[] = {"/usr",
                                               "/lib",
                                               "/lib64",
                                               "/lib32",
                                               "/bin",
                                               "/sbin",
                                               "/etc/ld.so.cache",
                                               "/etc/localtime",
                                               "/etc/alternatives",
                                               NULL};
    memset(out, 0, sizeof(*out));
    for (int i = 0; system_paths[i]; i++)
        ro[n++] = system_paths[i];
    for (int i = 0; read_only && read_only[i] && n < 30; i++)
        ro[n++] = read_only[i];
    ro[n] = NULL;
    /* The job's files are ours (root): the sandbox's identity must be able to write them. */
    if (mode != TD_SANDBOX_NONE && geteuid() == 0 && chown_tree(dir, 0) != 0)
        return td_err_set(err, TD_EIO, "%s: cannot give the job's files to the sandbox: %s", dir,
                          strerror(errno));
    if (pipe(pfd))
        return td_err_set(err, TD_EIO, "pipe: %s", strerror(errno));
    fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
    fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
    logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return td_err_set(err, TD_EIO, "%s: %s", log_path, strerror(errno));
    }
    char home[1100], tmpdir[1100];
    snprintf(home, sizeof(home), "HOME=%s", dir);
    /* Temporary files go to the job's own (writable) directory: /tmp inside the sandbox is
     * the job directory only when that directory is not itself under /tmp (the new root
     * then holds a read-only /tmp of mount points), as it is in the tests. */
    snprintf(tmpdir, sizeof(tmpdir), "TMPDIR=%s", dir);
    /* TRACKDAY_SANDBOX=none: the job is already in a sandbox, so the reward host inside it
     * runs its Python child without making another (it could not: new namespaces are
     * refused in here). TRACKDAY_SCRATCH=1: what it writes is scratch, lost whole with the
     * worker, so its atomic writes skip the fsyncs (core/file.c). ASan's leak check needs
     * ptrace, which is refused too. */
    const char *const env[] = {"PATH=/usr/local/bin:/usr/bin:/bin",
                               home,
                               "LANG=C.UTF-8",
                               tmpdir,
                               "OPENBLAS_NUM_THREADS=1",
                               "TRACKDAY_SANDBOX=none",
                               "TRACKDAY_SCRATCH=1",
                               "ASAN_OPTIONS=detect_leaks=0",
                               NULL};
    td_sandbox_config_default(&cfg);
    cfg.mode = mode;
    cfg.read_only = ro;
    cfg.scratch_dir = dir;
    cfg.scratch_path = dir;
    cfg.cpu_s = (double)lim->cpu_s;
    cfg.memory_bytes = (size_t)lim->memory_bytes;
    cfg.file_bytes = (size_t)lim->file_bytes;
    cfg.max_procs = 512;
    cfg.max_files = 1024;
    cfg.stdout_fd = pfd[1];
    cfg.stderr_fd = logfd;
    cfg.env = env;
    cfg.die_with_parent = 1;
    rc = td_sandbox_spawn(&out->sb, &cfg, argv[0], (char *const *)argv, err);
    close(pfd[1]);
    close(logfd);
    if (rc) {
        close(pfd[0]);
        return rc;
    }
    out->out_fd = pfd[0];
    return 0;
}

/* The program's own process: the first child of the sandbox's init (or the child itself
 * without isolation). */
static pid_t program_pid(const td__child *c)
{
    pid_t init = td_sandbox_pid(c->sb);
    char path[96], buf[256];
    if (td_sandbox_get_mode(c->sb) == TD_SANDBOX_NONE)
        return init;
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)init, (int)init);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long pid = 0;
    if (fgets(buf, sizeof(buf), f))
        pid = strtol(buf, NULL, 10);
    fclose(f);
    return (pid_t)pid;
}

int td__child_stop(td__child *c)
{
    pid_t pid = program_pid(c);
    if (pid > 0 && kill(pid, SIGTERM) == 0)
        return 0;
    td_sandbox_kill(c->sb);
    return -1;
}

void td__child_kill(td__child *c)
{
    td_sandbox_kill(c->sb);
}

int td__child_wait(td__child *c, td_sandbox_exit *ex)
{
    td_err err;
    int rc = td_sandbox_wait(c->sb, -1, ex, &err);
    if (c->out_fd >= 0)
        close(c->out_fd);
    c->out_fd = -1;
    td_sandbox_free(c->sb);
    c->sb = NULL;
    return rc;
}

int td_worker_sandbox_check(int no_sandbox, td_err *err)
{
    td_sandbox_mode mode = TD_SANDBOX_AUTO;
    td_sandbox_config cfg;
    td_sandbox *sb;
    td_sandbox_exit ex;
    int rc;
    if (no_sandbox)
        return 0;
    rc = td_sandbox_mode_from_env(&mode, err);
    if (rc)
        return rc;
    if (mode == TD_SANDBOX_NONE)
        return 0;
    char *const argv[] = {"true", NULL};
    static const char *const ro[] = {"/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", NULL};
    td_sandbox_config_default(&cfg);
    cfg.mode = mode;
    cfg.read_only = ro;
    rc = td_sandbox_spawn(&sb, &cfg, "/bin/true", argv, err);
    if (rc)
        return td_err_prefix(err, rc,
                             "the worker runs jobs in a sandbox and cannot make one here: ");
    rc = td_sandbox_wait(sb, 30, &ex, err);
    td_sandbox_free(sb);
    if (rc)
        return rc;
    if (!ex.exited || ex.code != 0)
        return td_err_set(err, TD_EUNSUPPORTED, "a test program in the sandbox failed: %s",
                          ex.reason);
    return 0;
}
