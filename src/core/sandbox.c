/*
 * sandbox.c - a program in a sandboxed child process (trackday/sandbox.h).
 *
 * How a sandbox starts:
 *   1. The parent prepares everything the child needs (the plan of mounts, the seccomp
 *      program as BPF, argv and envp) because the child of a multi-threaded process may only
 *      make system calls until it executes the program: no malloc, no stdio, no locks.
 *   2. clone() with new user (unless mode ROOT), mount, PID, network, IPC and UTS namespaces.
 *      The parent writes the child's uid and gid maps (uid 0 inside is 65534 outside when the
 *      caller is root, else the caller's uid) and releases it through a pipe.
 *   3. The child (PID 1 of its namespace, "init") opens the sources of its bind mounts, takes
 *      its mapped identity, makes every mount private, builds a new root on a tmpfs (read-only
 *      binds, symbolic links, /dev, /proc, the scratch directory), pivots into it, makes it
 *      read-only, and forks the program's process.
 *   4. The program's process starts a new session, arranges its descriptors, enters the
 *      scratch directory, sets the resource limits, drops every capability (ROOT mode: drops
 *      to uid/gid 65534), sets no_new_privs, loads the seccomp filter and executes the program
 *      from a descriptor the parent opened.
 *   5. init waits for it and writes its wait status and resource usage to a pipe the parent
 *      reads; when init exits the kernel kills whatever is left in the PID namespace.
 * A failure in 3-4 is written to an error pipe (closed on exec) as the step's name and errno.
 */
#define _GNU_SOURCE
#include "trackday/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>

#define SANDBOX_UID     65534
#define SANDBOX_GID     65534
#define BASE            "/tmp" /* where the new root is built inside the new mount namespace */
#define PATH_CAP        4096
#define MAX_OPS         48
#define DEFAULT_SCRATCH "/scratch"

const char *td_sandbox_mode_name(td_sandbox_mode m)
{
    switch (m) {
    case TD_SANDBOX_AUTO:
        return "auto";
    case TD_SANDBOX_USERNS:
        return "userns";
    case TD_SANDBOX_ROOT:
        return "root";
    case TD_SANDBOX_NONE:
        return "none";
    }
    return "unknown";
}

int td_sandbox_mode_from_env(td_sandbox_mode *mode, td_err *err)
{
    const char *v = getenv("TRACKDAY_SANDBOX");
    *mode = TD_SANDBOX_AUTO;
    if (!v || !*v || strcmp(v, "auto") == 0)
        return 0;
    if (strcmp(v, "userns") == 0)
        *mode = TD_SANDBOX_USERNS;
    else if (strcmp(v, "root") == 0)
        *mode = TD_SANDBOX_ROOT;
    else if (strcmp(v, "none") == 0)
        *mode = TD_SANDBOX_NONE;
    else
        return td_err_set(err, TD_EINVAL,
                          "TRACKDAY_SANDBOX is '%s': expected auto, userns, root or none", v);
    return 0;
}

void td_sandbox_config_default(td_sandbox_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mode = TD_SANDBOX_AUTO;
    cfg->scratch_path = DEFAULT_SCRATCH;
    cfg->scratch_bytes = 64u << 20;
    cfg->stdin_fd = cfg->stdout_fd = cfg->stderr_fd = -1;
    cfg->die_with_parent = 1;
}

/* ------------------------------------------------------------------------------------ */
/* The plan: what the child does, prepared by the parent                                */
/* ------------------------------------------------------------------------------------ */

enum { OP_BIND_RO, OP_BIND_RW, OP_SYMLINK, OP_DEVNODE };

typedef struct plan_op {
    int kind;
    int is_dir;
    int fd;                   /* opened by the child (bind sources) */
    unsigned long keep_flags; /* mount flags of the source that must stay (nosuid, ...) */
    char src[PATH_CAP];       /* host path, or the link's target */
    char dst[PATH_CAP];       /* path inside the sandbox */
} plan_op;

/* What the child reports when a step fails. */
typedef struct child_error {
    char step[96];
    int errnum;
} child_error;

/* What init reports when the program ends. */
typedef struct exit_record {
    int status;
    int pad;
    double cpu_s;
    long max_rss_kb;
} exit_record;

typedef struct plan {
    td_sandbox_mode mode;
    plan_op ops[MAX_OPS];
    int n_ops;
    int scratch_fd_op; /* index of the scratch bind, or -1 for a tmpfs */
    char scratch_path[PATH_CAP];
    char scratch_opts[128];
    int exe_fd;
    int err_fd, status_fd, sync_fd;
    int die_with_parent;
    int stdin_fd, stdout_fd, stderr_fd;
    td_sandbox_fd fds[TD_SANDBOX_MAX_FDS];
    int n_fds;
    struct rlimit limits[8];
    int limit_res[8];
    int n_limits;
    struct sock_fprog filter;
    char *const *argv;
    char *const *envp;
    const char *none_dir; /* mode NONE: the working directory, or NULL */
    sigset_t caller_mask; /* the calling thread's mask, blocked in full around the clone */
    /* TD_SANDBOX_TEST_SIGINT=1 (tests only): SIGINT to the child and to the caller right after
     * the clone, the moment a Ctrl-C could land before the child has left the caller's
     * handlers. */
    int test_sigint;
} plan;

struct td_sandbox {
    pid_t pid;
    td_sandbox_mode mode;
    int status_fd; /* -1 in mode NONE */
    int done;
    int killed;
    double cpu_limit_s;
    size_t file_limit, memory_limit;
    td_sandbox_exit exit;
};

/* ---- async-signal-safe helpers for the child -------------------------------------------- */

static size_t s_len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* dst = a + b (truncated to PATH_CAP). */
static void s_cat(char *dst, const char *a, const char *b)
{
    size_t n = 0;
    for (; *a && n + 1 < PATH_CAP; a++)
        dst[n++] = *a;
    for (; *b && n + 1 < PATH_CAP; b++)
        dst[n++] = *b;
    dst[n] = 0;
}

static void s_fdpath(char *dst, int fd)
{
    char num[16];
    int n = 0;
    unsigned v = (unsigned)fd;
    do {
        num[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < 15);
    char rev[16];
    for (int i = 0; i < n; i++)
        rev[i] = num[n - 1 - i];
    rev[n] = 0;
    s_cat(dst, "/proc/self/fd/", rev);
}

static void s_copy(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; src[n] && n + 1 < cap; n++)
        dst[n] = src[n];
    dst[n] = 0;
}

/* Reports a failed step to the parent and ends the child. */
static __attribute__((noreturn)) void child_fail(const plan *p, const char *step, int errnum)
{
    child_error ce;
    memset(&ce, 0, sizeof(ce));
    s_copy(ce.step, sizeof(ce.step), step);
    ce.errnum = errnum;
    ssize_t w = write(p->err_fd, &ce, sizeof(ce));
    (void)w;
    _exit(127);
}

/* mkdir -p of path (every component), ignoring EEXIST. */
static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_CAP];
    s_copy(buf, sizeof(buf), path);
    size_t n = s_len(buf);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    return 0;
}

/* mkdir -p of the directory holding path. */
static int mkdir_parent(const char *path)
{
    char buf[PATH_CAP];
    s_copy(buf, sizeof(buf), path);
    size_t n = s_len(buf);
    while (n > 1 && buf[n - 1] != '/')
        n--;
    if (n <= 1)
        return 0;
    buf[n - 1] = 0;
    return mkdir_p(buf, 0755);
}

/* ---- the program's process ------------------------------------------------------------- */

static int drop_capabilities(void)
{
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            return -1;
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    return 0;
}

static int clear_capabilities(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    return (int)syscall(SYS_capset, &hdr, data);
}

/* Moves the requested descriptors to their numbers in the child and closes every other one
 * but the error pipe and the program (both closed on exec). */
static void arrange_fds(plan *p)
{
    int src[3 + TD_SANDBOX_MAX_FDS], dst[3 + TD_SANDBOX_MAX_FDS], n = 0;
    int devnull = open("/dev/null", O_RDWR);
    int std[3] = {p->stdin_fd, p->stdout_fd, p->stderr_fd};
    for (int i = 0; i < 3; i++) {
        src[n] = std[i] >= 0 ? std[i] : devnull;
        dst[n++] = i;
    }
    for (int i = 0; i < p->n_fds; i++) {
        src[n] = p->fds[i].parent_fd;
        dst[n++] = p->fds[i].child_fd;
    }
    int maxdst = 2;
    for (int i = 0; i < n; i++)
        if (dst[i] > maxdst)
            maxdst = dst[i];
    /* Everything that must survive goes above every target first, then into place. */
    p->err_fd = fcntl(p->err_fd, F_DUPFD_CLOEXEC, maxdst + 1);
    p->exe_fd = fcntl(p->exe_fd, F_DUPFD_CLOEXEC, maxdst + 1);
    if (p->err_fd < 0 || p->exe_fd < 0)
        _exit(127);
    int high[3 + TD_SANDBOX_MAX_FDS];
    for (int i = 0; i < n; i++) {
        if (src[i] < 0)
            child_fail(p, "opening /dev/null", errno);
        high[i] = fcntl(src[i], F_DUPFD, maxdst + 1);
        if (high[i] < 0)
            child_fail(p, "duplicating descriptors", errno);
    }
    for (int i = 0; i < n; i++)
        if (dup2(high[i], dst[i]) < 0)
            child_fail(p, "arranging descriptors", errno);
    int top = p->err_fd > p->exe_fd ? p->err_fd : p->exe_fd;
    for (int fd = 3; fd < top; fd++) {
        int keep = fd == p->err_fd || fd == p->exe_fd;
        for (int i = 0; i < n; i++)
            keep |= dst[i] == fd;
        if (!keep)
            close(fd);
    }
    syscall(SYS_close_range, (unsigned)top + 1, ~0u, 0u);
}

static __attribute__((noreturn)) void run_program(plan *p)
{
    setsid();
    arrange_fds(p);
    if (p->mode != TD_SANDBOX_NONE) {
        if (chdir(p->scratch_path) != 0)
            child_fail(p, "entering the scratch directory", errno);
    } else if (p->none_dir && chdir(p->none_dir) != 0) {
        child_fail(p, "entering the scratch directory", errno);
    }
    for (int i = 0; i < p->n_limits; i++)
        if (setrlimit(p->limit_res[i], &p->limits[i]) != 0)
            child_fail(p, "setting resource limits", errno);
    if (p->mode != TD_SANDBOX_NONE) {
        if (drop_capabilities() != 0)
            child_fail(p, "dropping capabilities", errno);
        if (p->mode == TD_SANDBOX_ROOT) {
            if (syscall(SYS_setgroups, 0, NULL) != 0 ||
                syscall(SYS_setresgid, SANDBOX_GID, SANDBOX_GID, SANDBOX_GID) != 0 ||
                syscall(SYS_setresuid, SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) != 0)
                child_fail(p, "dropping to uid 65534", errno);
        } else if (prctl(PR_SET_SECUREBITS,
                         SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                             SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED,
                         0, 0, 0) != 0) {
            child_fail(p, "setting securebits", errno);
        }
        if (clear_capabilities() != 0)
            child_fail(p, "clearing capabilities", errno);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            child_fail(p, "setting no_new_privs", errno);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p->filter, 0, 0) != 0)
            child_fail(p, "loading the seccomp filter", errno);
    }
    syscall(SYS_execveat, p->exe_fd, "", p->argv, p->envp, AT_EMPTY_PATH);
    child_fail(p, "executing the program", errno);
}

/* ---- init: builds the root, starts the program, reports its end ------------------------ */

static void bind_op(const plan *p, plan_op *op)
{
    char target[PATH_CAP], src[PATH_CAP];
    s_cat(target, BASE, op->dst);
    if (mkdir_parent(target) != 0)
        child_fail(p, op->dst, errno);
    if (op->kind == OP_SYMLINK) {
        if (symlink(op->src, target) != 0 && errno != EEXIST)
            child_fail(p, "creating a symbolic link", errno);
        return;
    }
    if (op->is_dir) {
        if (mkdir_p(target, 0755) != 0)
            child_fail(p, "creating a mount point", errno);
    } else {
        int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
            child_fail(p, "creating a mount point", errno);
        close(fd);
    }
    s_fdpath(src, op->fd);
    if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) != 0)
        child_fail(p, "bind-mounting a path", errno);
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | op->keep_flags;
    if (op->kind == OP_BIND_RO)
        flags |= MS_RDONLY;
    if (op->kind != OP_DEVNODE)
        flags |= MS_NODEV;
    if (mount(NULL, target, NULL, flags, NULL) != 0)
        child_fail(p, "making a bind mount read-only", errno);
    close(op->fd);
}

/*
 * First thing in a process cloned from the caller, which clones with every signal blocked: the
 * caller's signal handlers (train's Ctrl-C handler, which prints "stopping after this
 * iteration") were copied with its memory and must not run here. Without this, the sandbox's
 * init, which never calls exec, stayed in the caller's process group: a Ctrl-C ran train's
 * handler twice (two messages on the shared stderr), and the trainer itself could see two
 * quick Ctrl-Cs as one. Every handler goes back to the default; a signal that came between
 * the clone and here (pending, blocked) was meant for the caller's group, which gets its own
 * copy: setting SIG_IGN discards it before the default is set. A session of its own takes
 * the process out of the terminal's and the caller's process group; then the caller's mask
 * comes back.
 */
static void leave_callers_signals(const sigset_t *caller_mask)
{
    static const int terminal[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    struct sigaction sa, was;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        int reset = 0;
        for (size_t i = 0; i < sizeof(terminal) / sizeof(terminal[0]); i++)
            reset |= sig == terminal[i];
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &was) != 0)
            continue; /* also the C library's own signals, which it refuses */
        if (!reset && ((was.sa_flags & SA_SIGINFO) == 0 &&
                       (was.sa_handler == SIG_DFL || was.sa_handler == SIG_IGN)))
            continue; /* no handler of the caller's: keep the disposition */
        sa.sa_handler = SIG_IGN;
        sigaction(sig, &sa, NULL);
        sa.sa_handler = SIG_DFL;
        sigaction(sig, &sa, NULL);
    }
    setsid();
    sigprocmask(SIG_SETMASK, caller_mask, NULL);
}

static __attribute__((noreturn)) void run_init(plan *p)
{
    if (p->die_with_parent)
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    char c;
    if (read(p->sync_fd, &c, 1) != 1)
        _exit(127); /* the parent gave up */
    close(p->sync_fd);
    /* Sources first, while the whole host tree is still in view. */
    for (int i = 0; i < p->n_ops; i++) {
        plan_op *op = &p->ops[i];
        if (op->kind == OP_SYMLINK)
            continue;
        op->fd = open(op->src, O_PATH | O_CLOEXEC);
        if (op->fd < 0)
            child_fail(p, "opening a path to bind", errno);
    }
    /* Raw system calls: glibc's set*id wrappers would signal the parent's other threads,
     * which this process does not have, and wait for them forever. */
    if (p->mode == TD_SANDBOX_USERNS &&
        (syscall(SYS_setresgid, 0, 0, 0) != 0 || syscall(SYS_setresuid, 0, 0, 0) != 0))
        child_fail(p, "taking the mapped identity", errno);
    /* A change of credentials clears the parent-death signal: set it again. */
    if (p->die_with_parent)
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        child_fail(p, "making mounts private", errno);
    if (mount("tmpfs", BASE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m") != 0)
        child_fail(p, "mounting the new root (tmpfs)", errno);
    for (int i = 0; i < p->n_ops; i++)
        bind_op(p, &p->ops[i]);
    /* /dev links and /proc */
    if (symlink("/proc/self/fd", BASE "/dev/fd") != 0 && errno != EEXIST)
        child_fail(p, "creating /dev/fd", errno);
    symlink("/proc/self/fd/0", BASE "/dev/stdin");
    symlink("/proc/self/fd/1", BASE "/dev/stdout");
    symlink("/proc/self/fd/2", BASE "/dev/stderr");
    if (mkdir(BASE "/proc", 0555) == 0 || errno == EEXIST)
        mount("proc", BASE "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    /* The scratch directory. */
    char scratch[PATH_CAP];
    s_cat(scratch, BASE, p->scratch_path);
    if (p->scratch_fd_op < 0) {
        if (mkdir_p(scratch, 0755) != 0)
            child_fail(p, "creating the scratch directory", errno);
        if (mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, p->scratch_opts) != 0)
            child_fail(p, "mounting the scratch tmpfs", errno);
    }
    if (strcmp(p->scratch_path, "/tmp") != 0)
        symlink(p->scratch_path, BASE "/tmp");
    if (chdir(BASE) != 0 || syscall(SYS_pivot_root, ".", ".") != 0)
        child_fail(p, "pivot_root into the new root", errno);
    if (umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
        child_fail(p, "detaching the old root", errno);
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        child_fail(p, "making the new root read-only", errno);
    sethostname("trackday-sandbox", 16);

    long pid = syscall(SYS_clone, (unsigned long)SIGCHLD, 0, 0, 0, 0);
    if (pid < 0)
        child_fail(p, "starting the program's process", errno);
    if (pid == 0)
        run_program(p);
    close(p->err_fd);
    /* Reap until the program itself ends (orphans are reparented here too). */
    exit_record rec;
    memset(&rec, 0, sizeof(rec));
    for (;;) {
        int st;
        struct rusage ru;
        pid_t w = wait4(-1, &st, 0, &ru);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break;
        if (w == pid) {
            rec.status = st;
            rec.cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                        (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
            rec.max_rss_kb = ru.ru_maxrss;
            break;
        }
    }
    ssize_t wr = write(p->status_fd, &rec, sizeof(rec));
    (void)wr;
    _exit(0);
}

/* ------------------------------------------------------------------------------------ */
/* The seccomp programs                                                                 */
/* ------------------------------------------------------------------------------------ */

static int deny(scmp_filter_ctx ctx, const char *name, int errnum)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not a system call on this architecture */
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(errnum), nr, 0);
}

/* The filter of every sandbox: no way out of the namespaces, no kernel attack surface that a
 * program never needs. */
static int base_rules(scmp_filter_ctx ctx)
{
    static const char *const denied[] = {"ptrace",
                                         "process_vm_readv",
                                         "process_vm_writev",
                                         "keyctl",
                                         "add_key",
                                         "request_key",
                                         "bpf",
                                         "perf_event_open",
                                         "userfaultfd",
                                         "mount",
                                         "umount2",
                                         "pivot_root",
                                         "chroot",
                                         "unshare",
                                         "setns",
                                         "swapon",
                                         "swapoff",
                                         "reboot",
                                         "kexec_load",
                                         "kexec_file_load",
                                         "init_module",
                                         "finit_module",
                                         "delete_module",
                                         "acct",
                                         "syslog",
                                         "quotactl",
                                         "open_by_handle_at",
                                         "name_to_handle_at",
                                         "lookup_dcookie",
                                         "io_uring_setup",
                                         "io_uring_enter",
                                         "io_uring_register",
                                         "fsopen",
                                         "fsconfig",
                                         "fsmount",
                                         "fspick",
                                         "move_mount",
                                         "open_tree",
                                         "mount_setattr",
                                         "iopl",
                                         "ioperm",
                                         "vhangup",
                                         "settimeofday",
                                         "clock_settime",
                                         "clock_adjtime",
                                         "adjtimex",
                                         "uselib",
                                         "nfsservctl",
                                         "kcmp",
                                         "fanotify_init",
                                         NULL};
    int rc = 0;
    for (int i = 0; denied[i] && rc == 0; i++)
        rc = deny(ctx, denied[i], EPERM);
    static const unsigned long ns_flags[] = {CLONE_NEWNS,    CLONE_NEWUSER, CLONE_NEWPID,
                                             CLONE_NEWNET,   CLONE_NEWIPC,  CLONE_NEWUTS,
                                             CLONE_NEWCGROUP};
    for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]) && rc == 0; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    /* clone3 passes its flags in memory a filter cannot read: make glibc fall back to clone. */
    if (rc == 0)
        rc = deny(ctx, "clone3", ENOSYS);
    static const unsigned long tty_ioctls[] = {TIOCSTI, TIOCLINUX};
    for (size_t i = 0; i < 2 && rc == 0; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, tty_ioctls[i]));
    return rc;
}

static pthread_once_t base_once = PTHREAD_ONCE_INIT;
/* Built once per process and kept (a static buffer: it lives as long as the process). */
static struct sock_filter base_prog[1024];
static unsigned short base_len;
static int base_errno;

/* Builds the base filter once as a BPF program the child can load with one prctl. */
static void build_base_filter(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        base_errno = ENOMEM;
        return;
    }
    int rc = base_rules(ctx);
    int fd = rc == 0 ? memfd_create("trackday-seccomp", MFD_CLOEXEC) : -1;
    if (rc == 0 && fd < 0)
        rc = -errno;
    if (rc == 0)
        rc = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    if (rc != 0) {
        base_errno = -rc;
        if (fd >= 0)
            close(fd);
        return;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % sizeof(struct sock_filter) != 0 || (size_t)size > sizeof(base_prog)) {
        base_errno = EINVAL;
        close(fd);
        return;
    }
    if (pread(fd, base_prog, (size_t)size, 0) != size) {
        base_errno = EIO;
        close(fd);
        return;
    }
    close(fd);
    base_len = (unsigned short)(size / sizeof(struct sock_filter));
}

int td_sandbox_restrict_self(unsigned flags, td_err *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return td_err_set(err, TD_EIO, "seccomp_init failed");
    int rc = 0;
    if (flags & (TD_SANDBOX_NO_PROCESSES | TD_SANDBOX_NO_THREADS)) {
        rc = deny(ctx, "fork", EPERM);
        if (rc == 0)
            rc = deny(ctx, "vfork", EPERM);
        if (rc == 0)
            rc = deny(ctx, "clone3", ENOSYS);
        if (rc == 0 && (flags & TD_SANDBOX_NO_THREADS))
            rc = deny(ctx, "clone", EPERM);
        else if (rc == 0)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
    }
    if (rc == 0 && (flags & TD_SANDBOX_NO_EXEC)) {
        rc = deny(ctx, "execve", EPERM);
        if (rc == 0)
            rc = deny(ctx, "execveat", EPERM);
    }
    if (rc == 0 && (flags & TD_SANDBOX_NO_SOCKETS)) {
        rc = deny(ctx, "socket", EPERM);
        if (rc == 0)
            rc = deny(ctx, "socketpair", EPERM);
    }
    if (rc == 0)
        rc = seccomp_load(ctx); /* sets no_new_privs first */
    seccomp_release(ctx);
    if (rc != 0)
        return td_err_set(err, TD_EIO, "cannot load the seccomp filter: %s", strerror(-rc));
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Spawn                                                                                */
/* ------------------------------------------------------------------------------------ */

static unsigned long locked_flags(const char *path)
{
    struct statvfs sv;
    unsigned long f = 0;
    if (statvfs(path, &sv) != 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_RDONLY)
        f |= MS_RDONLY;
    return f;
}

static int add_op(plan *p, int kind, const char *src, const char *dst, int is_dir, td_err *err)
{
    if (p->n_ops >= MAX_OPS)
        return td_err_set(err, TD_ERANGE, "sandbox: more than %d paths", MAX_OPS);
    plan_op *op = &p->ops[p->n_ops++];
    op->kind = kind;
    op->is_dir = is_dir;
    op->fd = -1;
    snprintf(op->src, sizeof(op->src), "%s", src);
    snprintf(op->dst, sizeof(op->dst), "%s", dst);
    if (kind != OP_SYMLINK)
        op->keep_flags = locked_flags(src);
    return 0;
}

/* A read-only host path: a link is recreated, a file or directory is bound, a missing path
 * is skipped. */
static int add_read_only(plan *p, const char *path, td_err *err)
{
    struct stat st;
    if (path[0] != '/')
        return td_err_set(err, TD_EINVAL, "sandbox: read-only path '%s' is not absolute", path);
    if (lstat(path, &st) != 0)
        return 0;
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_CAP];
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
            return 0;
        target[n] = 0;
        return add_op(p, OP_SYMLINK, target, path, 0, err);
    }
    return add_op(p, OP_BIND_RO, path, path, S_ISDIR(st.st_mode), err);
}

static void set_limit(plan *p, int res, rlim_t soft, rlim_t hard)
{
    p->limit_res[p->n_limits] = res;
    p->limits[p->n_limits].rlim_cur = soft;
    p->limits[p->n_limits].rlim_max = hard;
    p->n_limits++;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int is_root(void)
{
    return geteuid() == 0;
}

/* One attempt in one mode. *setup_errno is set when the child reported a failed step (so
 * AUTO can try the next mode). */
static int spawn_mode(td_sandbox *sb, plan *p, td_sandbox_mode mode, int *setup_errno, td_err *err)
{
    int errp[2] = {-1, -1}, statp[2] = {-1, -1}, syncp[2] = {-1, -1};
    *setup_errno = 0;
    p->mode = mode;
    if (pipe2(errp, O_CLOEXEC) != 0 || pipe2(syncp, O_CLOEXEC) != 0 ||
        (mode != TD_SANDBOX_NONE && pipe2(statp, O_CLOEXEC) != 0)) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (errp[i] >= 0)
                close(errp[i]);
            if (syncp[i] >= 0)
                close(syncp[i]);
            if (statp[i] >= 0)
                close(statp[i]);
        }
        return td_err_set(err, TD_EIO, "sandbox: pipe: %s", strerror(e));
    }
    p->err_fd = errp[1];
    p->sync_fd = syncp[0];
    p->status_fd = statp[1];

    unsigned long flags = SIGCHLD;
    if (mode != TD_SANDBOX_NONE)
        flags |= CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
    if (mode == TD_SANDBOX_USERNS)
        flags |= CLONE_NEWUSER;
    /* Every signal blocked from before the clone until the child has dropped the caller's
     * handlers (leave_callers_signals), and in the caller until the clone has returned: a
     * signal in between waits for the caller's handler, never runs it in the child. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &p->caller_mask);
    long pid = syscall(SYS_clone, flags, 0, 0, 0, 0);
    if (pid == 0) {
        if (p->test_sigint)
            syscall(SYS_kill, syscall(SYS_getpid), SIGINT);
        leave_callers_signals(&p->caller_mask);
        if (mode == TD_SANDBOX_NONE) {
            char c;
            if (read(p->sync_fd, &c, 1) != 1)
                _exit(127);
            run_program(p);
        }
        run_init(p);
    }
    int clone_errno = errno;
    if (p->test_sigint)
        kill(getpid(), SIGINT);
    pthread_sigmask(SIG_SETMASK, &p->caller_mask, NULL);
    close(errp[1]);
    close(syncp[0]);
    if (statp[1] >= 0)
        close(statp[1]);
    if (pid < 0) {
        close(errp[0]);
        close(syncp[1]);
        if (statp[0] >= 0)
            close(statp[0]);
        *setup_errno = clone_errno;
        return td_err_set(err, TD_EUNSUPPORTED, "sandbox: clone (%s namespaces): %s",
                          td_sandbox_mode_name(mode), strerror(clone_errno));
    }
    int rc = 0;
    if (mode == TD_SANDBOX_USERNS) {
        char path[64], map[64];
        unsigned uid = is_root() ? SANDBOX_UID : (unsigned)geteuid();
        unsigned gid = getegid() == 0 ? SANDBOX_GID : (unsigned)getegid();
        snprintf(path, sizeof(path), "/proc/%ld/uid_map", pid);
        snprintf(map, sizeof(map), "0 %u 1\n", uid);
        if (write_file(path, map) != 0)
            rc = -errno;
        if (rc == 0 && !is_root()) {
            snprintf(path, sizeof(path), "/proc/%ld/setgroups", pid);
            if (write_file(path, "deny") != 0)
                rc = -errno;
        }
        if (rc == 0) {
            snprintf(path, sizeof(path), "/proc/%ld/gid_map", pid);
            snprintf(map, sizeof(map), "0 %u 1\n", gid);
            if (write_file(path, map) != 0)
                rc = -errno;
        }
    }
    if (rc == 0 && write(syncp[1], "g", 1) != 1)
        rc = -errno;
    close(syncp[1]);
    child_error ce;
    memset(&ce, 0, sizeof(ce));
    ssize_t got = 0;
    if (rc == 0) {
        do
            got = read(errp[0], &ce, sizeof(ce));
        while (got < 0 && errno == EINTR);
    }
    close(errp[0]);
    if (rc != 0 || got > 0) {
        kill((pid_t)pid, SIGKILL);
        while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR) {
        }
        if (statp[0] >= 0)
            close(statp[0]);
        if (rc != 0) {
            *setup_errno = -rc;
            return td_err_set(err, TD_EIO, "sandbox: writing the user namespace maps: %s",
                              strerror(-rc));
        }
        *setup_errno = ce.errnum ? ce.errnum : EIO;
        ce.step[sizeof(ce.step) - 1] = 0;
        return td_err_set(err, TD_EIO, "sandbox (%s): %s: %s", td_sandbox_mode_name(mode), ce.step,
                          strerror(ce.errnum));
    }
    sb->pid = (pid_t)pid;
    sb->mode = mode;
    sb->status_fd = statp[0];
    return 0;
}

int td_sandbox_spawn(td_sandbox **out, const td_sandbox_config *cfg, const char *program,
                     char *const argv[], td_err *err)
{
    *out = NULL;
    int rc = 0;
    pthread_once(&base_once, build_base_filter);
    if (!base_len)
        return td_err_set(err, TD_EIO, "sandbox: cannot build the seccomp filter: %s",
                          strerror(base_errno));
    plan *p = td_calloc(1, sizeof(*p));
    td_sandbox *sb = td_calloc(1, sizeof(*sb));
    if (!p || !sb) {
        td_free(p);
        td_free(sb);
        return td_err_set(err, TD_ENOMEM, "sandbox: out of memory");
    }
    sb->status_fd = -1;
    p->exe_fd = -1;
    p->scratch_fd_op = -1;
    p->filter.len = base_len;
    p->filter.filter = base_prog;
    p->argv = argv;
    static char *const empty_env[] = {NULL};
    p->envp = cfg->env ? (char *const *)cfg->env : empty_env;
    p->die_with_parent = cfg->die_with_parent;
    {
        const char *t = getenv("TD_SANDBOX_TEST_SIGINT");
        p->test_sigint = t && !strcmp(t, "1");
    }
    p->stdin_fd = cfg->stdin_fd;
    p->stdout_fd = cfg->stdout_fd;
    p->stderr_fd = cfg->stderr_fd;
    if (cfg->n_fds < 0 || cfg->n_fds > TD_SANDBOX_MAX_FDS) {
        rc = td_err_set(err, TD_EINVAL, "sandbox: at most %d descriptors", TD_SANDBOX_MAX_FDS);
        goto fail;
    }
    memcpy(p->fds, cfg->fds, sizeof(p->fds));
    p->n_fds = cfg->n_fds;
    for (int i = 0; i < p->n_fds; i++)
        if (p->fds[i].child_fd < 3 || p->fds[i].child_fd >= 256) {
            rc = td_err_set(err, TD_EINVAL, "sandbox: descriptor number %d is not in [3, 255]",
                            p->fds[i].child_fd);
            goto fail;
        }

    /* The program, opened here (the sandbox need not contain it). */
    const char *prog = program ? program : "/proc/self/exe";
    p->exe_fd = open(prog, O_RDONLY | O_CLOEXEC);
    if (p->exe_fd < 0) {
        rc = td_err_set(err, TD_ENOENT, "sandbox: cannot open the program %s: %s", prog,
                        strerror(errno));
        goto fail;
    }

    /* Limits. */
    if (cfg->cpu_s > 0) {
        rlim_t s = (rlim_t)(cfg->cpu_s + 0.999);
        set_limit(p, RLIMIT_CPU, s, s + 1);
    }
    if (cfg->memory_bytes > 0)
        set_limit(p, RLIMIT_AS, cfg->memory_bytes, cfg->memory_bytes);
    if (cfg->file_bytes > 0)
        set_limit(p, RLIMIT_FSIZE, cfg->file_bytes, cfg->file_bytes);
    if (cfg->max_procs > 0)
        set_limit(p, RLIMIT_NPROC, (rlim_t)cfg->max_procs, (rlim_t)cfg->max_procs);
    if (cfg->max_files > 0)
        set_limit(p, RLIMIT_NOFILE, (rlim_t)cfg->max_files, (rlim_t)cfg->max_files);
    set_limit(p, RLIMIT_CORE, 0, 0);
    sb->cpu_limit_s = cfg->cpu_s;
    sb->file_limit = cfg->file_bytes;
    sb->memory_limit = cfg->memory_bytes;

    td_sandbox_mode want = cfg->mode;
    if (want == TD_SANDBOX_NONE) {
        p->none_dir = cfg->scratch_dir;
        int se;
        rc = spawn_mode(sb, p, TD_SANDBOX_NONE, &se, err);
        if (rc)
            goto fail;
        goto done;
    }

    /* The root: read-only paths, /dev nodes, the scratch directory. */
    snprintf(p->scratch_path, sizeof(p->scratch_path), "%s",
             cfg->scratch_path && cfg->scratch_path[0] == '/' ? cfg->scratch_path
                                                              : DEFAULT_SCRATCH);
    for (int i = 0; cfg->read_only && cfg->read_only[i]; i++)
        if ((rc = add_read_only(p, cfg->read_only[i], err)) != 0)
            goto fail;
    static const char *const devs[] = {"/dev/null",   "/dev/zero",    "/dev/full",
                                       "/dev/random", "/dev/urandom", NULL};
    for (int i = 0; devs[i]; i++)
        if ((rc = add_op(p, OP_DEVNODE, devs[i], devs[i], 0, err)) != 0)
            goto fail;
    if (cfg->scratch_dir) {
        struct stat st;
        if (stat(cfg->scratch_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = td_err_set(err, TD_ENOENT, "sandbox: scratch directory %s: %s", cfg->scratch_dir,
                            errno ? strerror(errno) : "not a directory");
            goto fail;
        }
        if (is_root() && chown(cfg->scratch_dir, SANDBOX_UID, SANDBOX_GID) != 0) {
            rc = td_err_set(err, TD_EIO, "sandbox: cannot give %s to uid %d: %s", cfg->scratch_dir,
                            SANDBOX_UID, strerror(errno));
            goto fail;
        }
        p->scratch_fd_op = p->n_ops;
        if ((rc = add_op(p, OP_BIND_RW, cfg->scratch_dir, p->scratch_path, 1, err)) != 0)
            goto fail;
    }

    int se = 0;
    if (want == TD_SANDBOX_AUTO || want == TD_SANDBOX_USERNS) {
        snprintf(p->scratch_opts, sizeof(p->scratch_opts), "mode=0700,size=%zu",
                 cfg->scratch_bytes ? cfg->scratch_bytes : (size_t)64 << 20);
        rc = spawn_mode(sb, p, TD_SANDBOX_USERNS, &se, err);
        if (rc == 0)
            goto done;
        if (want == TD_SANDBOX_USERNS || !is_root()) {
            char why[TD_ERR_MSG_LEN];
            snprintf(why, sizeof(why), "%s", err ? err->msg : "");
            rc = td_err_set(
                err, TD_EUNSUPPORTED,
                "cannot sandbox: %s. User namespaces seem unavailable here%s: enable them "
                "(sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; "
                "on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0), run as root, or "
                "set TRACKDAY_SANDBOX=none to run trusted code without a sandbox",
                why, is_root() ? "" : " and trackday is not running as root");
            goto fail;
        }
    }
    if (!is_root()) {
        rc = td_err_set(err, TD_EUNSUPPORTED,
                        "cannot sandbox: TRACKDAY_SANDBOX=root needs trackday to run as root");
        goto fail;
    }
    snprintf(p->scratch_opts, sizeof(p->scratch_opts), "mode=0700,uid=%d,gid=%d,size=%zu",
             SANDBOX_UID, SANDBOX_GID, cfg->scratch_bytes ? cfg->scratch_bytes : (size_t)64 << 20);
    rc = spawn_mode(sb, p, TD_SANDBOX_ROOT, &se, err);
    if (rc)
        goto fail;
done:
    close(p->exe_fd);
    td_free(p);
    *out = sb;
    return 0;
fail:
    if (p->exe_fd >= 0)
        close(p->exe_fd);
    td_free(p);
    td_free(sb);
    return rc;
}

td_sandbox_mode td_sandbox_get_mode(const td_sandbox *sb)
{
    return sb->mode;
}

pid_t td_sandbox_pid(const td_sandbox *sb)
{
    return sb->pid;
}

/* ------------------------------------------------------------------------------------ */
/* Wait and kill                                                                        */
/* ------------------------------------------------------------------------------------ */

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGKILL:
        return "SIGKILL";
    case SIGSEGV:
        return "SIGSEGV";
    case SIGABRT:
        return "SIGABRT";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    case SIGXCPU:
        return "SIGXCPU";
    case SIGXFSZ:
        return "SIGXFSZ";
    case SIGSYS:
        return "SIGSYS";
    case SIGALRM:
        return "SIGALRM";
    case SIGPIPE:
        return "SIGPIPE";
    case SIGHUP:
        return "SIGHUP";
    case SIGUSR1:
        return "SIGUSR1";
    case SIGUSR2:
        return "SIGUSR2";
    }
    return "a signal";
}

static void describe(td_sandbox *sb, int status, double cpu, long rss)
{
    td_sandbox_exit *ex = &sb->exit;
    memset(ex, 0, sizeof(*ex));
    ex->cpu_s = cpu;
    ex->max_rss_kb = rss;
    ex->killed = sb->killed;
    if (WIFEXITED(status)) {
        ex->exited = 1;
        ex->code = WEXITSTATUS(status);
        snprintf(ex->reason, sizeof(ex->reason), "exited with status %d", ex->code);
        return;
    }
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    ex->signal = sig;
    if (sb->killed)
        snprintf(ex->reason, sizeof(ex->reason), "was stopped (killed by trackday)");
    else if (sig == SIGXCPU || (sig == SIGKILL && sb->cpu_limit_s > 0 && cpu >= sb->cpu_limit_s))
        snprintf(ex->reason, sizeof(ex->reason),
                 "reached the CPU time limit (%.3g s) and was killed (%s)", sb->cpu_limit_s,
                 signal_name(sig));
    else if (sig == SIGXFSZ)
        snprintf(ex->reason, sizeof(ex->reason),
                 "wrote a file larger than the limit (%zu bytes) and was killed (SIGXFSZ)",
                 sb->file_limit);
    else if (sig == SIGSYS)
        snprintf(ex->reason, sizeof(ex->reason),
                 "made a system call the sandbox forbids and was killed (SIGSYS)");
    else if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE)
        snprintf(ex->reason, sizeof(ex->reason), "crashed (%s)%s", signal_name(sig),
                 sb->memory_limit ? " (maybe out of memory: the limit is the address space)" : "");
    else
        snprintf(ex->reason, sizeof(ex->reason), "was killed by signal %d (%s)", sig,
                 signal_name(sig));
}

int td_sandbox_wait(td_sandbox *sb, double timeout_s, td_sandbox_exit *ex, td_err *err)
{
    if (sb->done) {
        if (ex)
            *ex = sb->exit;
        return 0;
    }
    double deadline = timeout_s >= 0 ? td_time_now() + timeout_s : 0;
    if (sb->mode == TD_SANDBOX_NONE) {
        for (;;) {
            int st;
            struct rusage ru;
            pid_t w = wait4(sb->pid, &st, timeout_s < 0 ? 0 : WNOHANG, &ru);
            if (w < 0 && errno == EINTR)
                continue;
            if (w == sb->pid) {
                double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                             (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
                describe(sb, st, cpu, ru.ru_maxrss);
                break;
            }
            if (w < 0)
                return td_err_set(err, TD_EIO, "sandbox: wait: %s", strerror(errno));
            if (td_time_now() >= deadline)
                return TD_ETIMEOUT;
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    } else {
        exit_record rec;
        memset(&rec, 0, sizeof(rec));
        if (timeout_s >= 0) {
            for (;;) {
                double left = deadline - td_time_now();
                struct pollfd pfd = {sb->status_fd, POLLIN, 0};
                int n = poll(&pfd, 1, left > 0 ? (int)(left * 1000) + 1 : 0);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n > 0)
                    break;
                if (n == 0 && td_time_now() >= deadline)
                    return TD_ETIMEOUT;
            }
        }
        ssize_t got;
        do
            got = read(sb->status_fd, &rec, sizeof(rec));
        while (got < 0 && errno == EINTR);
        int st = 0;
        while (waitpid(sb->pid, &st, 0) < 0 && errno == EINTR) {
        }
        if (got == (ssize_t)sizeof(rec))
            describe(sb, rec.status, rec.cpu_s, rec.max_rss_kb);
        else /* init itself was killed before the program ended */
            describe(sb, WIFSIGNALED(st) ? st : (SIGKILL & 0x7f), 0, 0);
        close(sb->status_fd);
        sb->status_fd = -1;
    }
    sb->done = 1;
    if (ex)
        *ex = sb->exit;
    return 0;
}

void td_sandbox_kill(td_sandbox *sb)
{
    if (!sb || sb->done)
        return;
    sb->killed = 1;
    if (sb->mode == TD_SANDBOX_NONE)
        kill(-sb->pid, SIGKILL); /* its session and process group */
    kill(sb->pid, SIGKILL);
}

void td_sandbox_free(td_sandbox *sb)
{
    if (!sb)
        return;
    if (!sb->done) {
        td_sandbox_kill(sb);
        td_sandbox_wait(sb, -1, NULL, NULL);
    }
    if (sb->status_fd >= 0)
        close(sb->status_fd);
    td_free(sb);
}
