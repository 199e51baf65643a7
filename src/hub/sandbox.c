/*
 * sandbox.c - how the worker starts a job's process: the one place to change when the shared
 * sandbox module lands. The child runs under bubblewrap: the whole file system read-only but
 * for the job's scratch directory, a private /tmp, no network (its own network namespace), its
 * own PID namespace and session (no terminal), killed with the worker (--die-with-parent and
 * PR_SET_PDEATHSIG); with resource limits (CPU time, file size, open files, address space,
 * no core dumps) and a clean environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hub/hub_internal.h"

static const char *find_bwrap(void)
{
    static const char *const paths[] = {"/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

static void set_limit(int res, rlim_t v)
{
    struct rlimit rl = {v, v};
    setrlimit(res, &rl);
}

int td__sandbox_spawn(const char *const argv[], const char *dir, const char *log_path,
                      const td__limits *lim, int sandboxed, td__child *out, td_err *err)
{
    int pfd[2];
    const char *bwrap = find_bwrap();
    pid_t parent = getpid();
    out->pid = -1;
    out->out_fd = -1;
    if (sandboxed && !bwrap)
        return td_err_set(err, TD_EUNSUPPORTED,
                          "the job sandbox needs bubblewrap (apt-get install bubblewrap), or run "
                          "the worker with --no-sandbox on a trusted machine");
    if (pipe(pfd))
        return td_err_set(err, TD_EIO, "pipe: %s", strerror(errno));
    fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
    fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
    char home[1100];
    snprintf(home, sizeof(home), "HOME=%s", dir);
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return td_err_set(err, TD_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* The child: only async-signal-safe calls until exec. */
        const char *args[96];
        int n = 0, logfd;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        /* A session of its own: no controlling terminal to inject keystrokes into, and one
         * process group the worker signals as a whole. bubblewrap ignores SIGTERM (inherited),
         * so a SIGTERM reaches the job, which stops cleanly; SIGKILL ends everything. */
        setsid();
        struct sigaction ign;
        memset(&ign, 0, sizeof(ign));
        ign.sa_handler = SIG_IGN;
        sigaction(SIGTERM, &ign, NULL);
        dup2(pfd[1], 1);
        logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (logfd >= 0)
            dup2(logfd, 2);
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull >= 0)
            dup2(devnull, 0);
        if (chdir(dir))
            _exit(126);
        if (lim->cpu_s > 0)
            set_limit(RLIMIT_CPU, (rlim_t)lim->cpu_s);
        if (lim->file_bytes > 0)
            set_limit(RLIMIT_FSIZE, (rlim_t)lim->file_bytes);
        set_limit(RLIMIT_CORE, 0);
        set_limit(RLIMIT_NOFILE, 1024);
        if (lim->memory_bytes > 0)
            set_limit(RLIMIT_AS, (rlim_t)lim->memory_bytes);
        if (sandboxed) {
            args[n++] = bwrap;
            args[n++] = "--ro-bind";
            args[n++] = "/";
            args[n++] = "/";
            args[n++] = "--dev";
            args[n++] = "/dev";
            args[n++] = "--proc";
            args[n++] = "/proc";
            args[n++] = "--tmpfs";
            args[n++] = "/tmp";
            args[n++] = "--bind";
            args[n++] = dir;
            args[n++] = dir;
            args[n++] = "--chdir";
            args[n++] = dir;
            args[n++] = "--unshare-net";
            args[n++] = "--unshare-pid";
            args[n++] = "--unshare-ipc";
            args[n++] = "--unshare-uts";
            args[n++] = "--die-with-parent";
            args[n++] = "--";
        }
        for (int i = 0; argv[i] && n < 94; i++)
            args[n++] = argv[i];
        args[n] = NULL;
        char *const envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", home, "LANG=C.UTF-8",
                              "TMPDIR=/tmp", "OPENBLAS_NUM_THREADS=1", NULL};
        execve(args[0], (char *const *)args, envp);
        _exit(127);
    }
    close(pfd[1]);
    out->pid = pid;
    out->out_fd = pfd[0];
    return 0;
}

int td_worker_sandbox_check(td_err *err)
{
    const char *bwrap = find_bwrap();
    char cmd[300];
    int st;
    if (!bwrap)
        return td_err_set(err, TD_EUNSUPPORTED,
                          "the job sandbox needs bubblewrap (apt-get install bubblewrap)");
    snprintf(cmd, sizeof(cmd),
             "%s --ro-bind / / --dev /dev --proc /proc --unshare-net --unshare-pid "
             "--die-with-parent -- /bin/true >/dev/null 2>&1",
             bwrap);
    st = system(cmd);
    if (st != 0)
        return td_err_set(err, TD_EUNSUPPORTED,
                          "bubblewrap cannot make a sandbox here (user namespaces disabled? "
                          "try as root, or enable kernel.unprivileged_userns_clone)");
    return 0;
}
