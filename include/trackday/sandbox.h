/*
 * sandbox.h - runs a program in a sandboxed child process: Linux namespaces (user, mount,
 * PID, network, IPC, UTS), a private root holding only the read-only paths asked for and one
 * writable scratch directory, resource limits, and a seccomp filter (libseccomp). Used by the
 * Python reward host (reward/) and by the hub's worker for whole training jobs.
 *
 *   td_sandbox_config cfg;
 *   td_sandbox_config_default(&cfg);
 *   cfg.read_only = (const char *const[]){"/usr/lib", "/usr/bin/python3.11", NULL};
 *   cfg.scratch_dir = "/srv/jobs/42";           // or NULL: a private tmpfs
 *   cfg.cpu_s = 3600; cfg.memory_bytes = 4UL << 30;
 *   td_sandbox *sb;
 *   if (td_sandbox_spawn(&sb, &cfg, "/usr/bin/python3.11", argv, &err)) ...  // refused or failed
 *   td_sandbox_exit ex;
 *   td_sandbox_wait(sb, -1, &ex, &err);         // ex.reason: "exited with status 0", ...
 *   td_sandbox_free(sb);
 *
 * Isolation modes (td_sandbox_mode): with a user namespace the child is root of its own
 * namespaces and nobody outside them (uid 65534 when the caller is root, else the caller's
 * own uid). Where user namespaces are unavailable and the caller is root, the same namespaces
 * are made without one and the child drops to uid/gid 65534 before it runs the program. A
 * caller that is neither gets TD_EUNSUPPORTED with a message saying how to enable user
 * namespaces: the sandbox never silently runs a program unsandboxed. TD_SANDBOX_NONE (an
 * explicit choice, for trusted code) runs the program as a plain child with the limits only.
 *
 * Inside: / is a read-only tmpfs holding the read-only paths at their own paths, /dev with
 * null, zero, full, random and urandom, a /proc of the sandbox's own PID namespace, and the
 * scratch directory (writable; the working directory, HOME and TMPDIR; /tmp points to it).
 * The network namespace is empty (no interfaces up). The seccomp filter refuses (EPERM) the
 * system calls that reach beyond the sandbox: new namespaces, mount, ptrace, keyctl, bpf,
 * perf_event_open, io_uring, kernel modules, reboot, terminal input injection (TIOCSTI).
 * Part of the core layer.
 */
#ifndef TRACKDAY_SANDBOX_H
#define TRACKDAY_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

#include "trackday/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum td_sandbox_mode {
    TD_SANDBOX_AUTO = 0,   /* a user namespace if possible, else the root mode, else refuse */
    TD_SANDBOX_USERNS = 1, /* only with a user namespace (refuse otherwise) */
    TD_SANDBOX_ROOT = 2,   /* namespaces without a user namespace: needs root; runs as 65534 */
    TD_SANDBOX_NONE = 3    /* no isolation: a plain child with the limits (explicit opt-out) */
} td_sandbox_mode;

/* "auto", "userns", "root", "none". */
const char *td_sandbox_mode_name(td_sandbox_mode m);

/*
 * The mode the environment asks for: TRACKDAY_SANDBOX=auto|userns|root|none (unset or empty:
 * auto). TD_EINVAL with a message for any other value.
 */
int td_sandbox_mode_from_env(td_sandbox_mode *mode, td_err *err);

/* A descriptor handed to the child: parent_fd becomes child_fd in the child. */
typedef struct td_sandbox_fd {
    int parent_fd, child_fd;
} td_sandbox_fd;

#define TD_SANDBOX_MAX_FDS 8

typedef struct td_sandbox_config {
    td_sandbox_mode mode;
    /* Host paths visible read-only at the same path (NULL-terminated, may be NULL). A path
     * that is a symbolic link is recreated as the same link (/lib -> usr/lib on merged-/usr
     * systems). A path that does not exist is skipped. */
    const char *const *read_only;
    /* Host directory mounted writable as the scratch directory; NULL: a private tmpfs of
     * scratch_bytes that disappears with the child. When the caller is root the directory is
     * given to the sandbox's uid (chown). */
    const char *scratch_dir;
    const char *scratch_path; /* where the scratch appears inside (default "/scratch") */
    size_t scratch_bytes;     /* tmpfs size (default 64 MiB) */
    /* Limits (0 = none): CPU seconds of the whole process, address space, size of one
     * written file, processes + threads of the sandbox's uid, open files. */
    double cpu_s;
    size_t memory_bytes;
    size_t file_bytes;
    int max_procs;
    int max_files;
    /* The child's standard streams (-1: /dev/null) and further descriptors. */
    int stdin_fd, stdout_fd, stderr_fd;
    td_sandbox_fd fds[TD_SANDBOX_MAX_FDS];
    int n_fds;
    /* The child's whole environment ("NAME=value", NULL-terminated; NULL: empty). */
    const char *const *env;
    /* SIGKILL the sandbox when the thread that spawned it exits (default 1). */
    int die_with_parent;
} td_sandbox_config;

/* Defaults: mode from TRACKDAY_SANDBOX is NOT read here (AUTO), no read-only paths, a 64 MiB
 * tmpfs scratch at /scratch, no limits, streams to /dev/null, die_with_parent. */
void td_sandbox_config_default(td_sandbox_config *cfg);

/* How the child ended. */
typedef struct td_sandbox_exit {
    int exited;   /* 1: exited with code; 0: killed by signal */
    int code;     /* exit status when exited */
    int signal;   /* the signal that killed it, else 0 */
    int killed;   /* killed by td_sandbox_kill (or td_sandbox_free) */
    double cpu_s; /* CPU time used (user + system) */
    long max_rss_kb;
    char reason[256]; /* "exited with status 3", "the CPU time limit (2 s) was reached", ... */
} td_sandbox_exit;

typedef struct td_sandbox td_sandbox;

/* The program to run is the calling executable itself (/proc/self/exe). */
#define TD_SANDBOX_SELF NULL

/*
 * Starts program (a host path, or TD_SANDBOX_SELF) with argv (NULL-terminated) in a sandbox
 * as cfg says, and returns once the program has been executed. On error nothing is left
 * running, *out is NULL and err says why: TD_EUNSUPPORTED when no isolation of the requested
 * mode is possible here, TD_EIO when setting it up failed (naming the step). The caller owns
 * the handle: td_sandbox_free.
 */
int td_sandbox_spawn(td_sandbox **out, const td_sandbox_config *cfg, const char *program,
                     char *const argv[], td_err *err);

/* The mode actually used (USERNS, ROOT or NONE). */
td_sandbox_mode td_sandbox_get_mode(const td_sandbox *sb);

/* The process id of the sandbox (its PID-namespace init, or the program in mode NONE). */
pid_t td_sandbox_pid(const td_sandbox *sb);

/*
 * Waits up to timeout_s seconds (< 0: forever) for the program to end and fills ex.
 * Returns 0, or TD_ETIMEOUT if it is still running (ex untouched). After the end, further
 * calls return the same result.
 */
int td_sandbox_wait(td_sandbox *sb, double timeout_s, td_sandbox_exit *ex, td_err *err);

/* Kills every process of the sandbox (SIGKILL); td_sandbox_wait then reports killed. */
void td_sandbox_kill(td_sandbox *sb);

/* Kills the sandbox if it still runs, reaps it and frees the handle (NULL is fine). */
void td_sandbox_free(td_sandbox *sb);

/*
 * Further restrictions a sandboxed program puts on itself (a second seccomp filter, which it
 * cannot lift): TD_SANDBOX_NO_PROCESSES makes fork, vfork and clone of a process fail with
 * EPERM; TD_SANDBOX_NO_THREADS also new threads; TD_SANDBOX_NO_EXEC execve and execveat;
 * TD_SANDBOX_NO_SOCKETS socket and socketpair. Sets no_new_privs. Returns 0 or TD_EIO.
 */
#define TD_SANDBOX_NO_PROCESSES 1u
#define TD_SANDBOX_NO_THREADS   2u
#define TD_SANDBOX_NO_EXEC      4u
#define TD_SANDBOX_NO_SOCKETS   8u
int td_sandbox_restrict_self(unsigned flags, td_err *err);

#ifdef __cplusplus
}
#endif
#endif /* TRACKDAY_SANDBOX_H */
