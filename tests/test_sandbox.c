/*
 * test_sandbox.c - the sandbox (core/sandbox.c) with Debian's python3.11 as the sandboxed
 * program: exit statuses, what it can see and write, no network, each resource limit, the
 * modes (user namespace, root without one, the refusal when neither is possible, none),
 * stopping a sandbox, and the seccomp restrictions a program puts on itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "td_test.h"
#include "trackday/sandbox.h"

#define PY "/usr/bin/python3.11"

static const char *const python_paths[] = {"/usr/lib", "/usr/lib64",       "/lib", "/lib64",
                                           PY,         "/etc/ld.so.cache", NULL};

/* One directory per test process (removed by the test). */
static char scratch[256];

static const char *make_scratch(void)
{
    snprintf(scratch, sizeof(scratch), "/tmp/td_sandbox_test_%d", (int)getpid());
    TD_ASSERT(mkdir(scratch, 0700) == 0 || errno == EEXIST);
    return scratch;
}

static void remove_scratch(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
    TD_ASSERT(system(cmd) == 0);
}

static void base_config(td_sandbox_config *cfg)
{
    td_sandbox_config_default(cfg);
    cfg->read_only = python_paths;
}

/*
 * Runs `python3.11 -I -S -c code` in a sandbox made from cfg; returns its stdout (static
 * buffer) and fills ex. Fails the test if the sandbox cannot start.
 */
static const char *run_py(td_sandbox_config *cfg, const char *code, td_sandbox_exit *ex)
{
    static char out[8192];
    int pfd[2];
    TD_ASSERT(pipe(pfd) == 0);
    cfg->stdout_fd = pfd[1];
    cfg->stderr_fd = pfd[1];
    char *argv[] = {"python3.11", "-I", "-S", "-c", (char *)code, NULL};
    td_sandbox *sb = NULL;
    td_err err = {0};
    int rc = td_sandbox_spawn(&sb, cfg, PY, argv, &err);
    close(pfd[1]);
    TD_ASSERT_MSG(rc == 0, "spawn: %s", err.msg);
    size_t n = 0;
    for (;;) {
        ssize_t k = read(pfd[0], out + n, sizeof(out) - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    out[n] = 0;
    close(pfd[0]);
    TD_ASSERT_OK(td_sandbox_wait(sb, 60, ex, &err));
    td_sandbox_free(sb);
    return out;
}

TD_TEST(exit_status_and_output_pass_through)
{
    td_sandbox_config cfg;
    base_config(&cfg);
    td_sandbox_exit ex;
    const char *out = run_py(&cfg, "import sys; print('hello from inside'); sys.exit(7)", &ex);
    TD_ASSERT_CONTAINS(out, "hello from inside");
    TD_ASSERT_EQ_INT(ex.exited, 1);
    TD_ASSERT_EQ_INT(ex.code, 7);
    TD_ASSERT_STREQ(ex.reason, "exited with status 7");
}

TD_TEST(only_the_read_only_paths_and_the_scratch_are_visible)
{
    td_sandbox_config cfg;
    base_config(&cfg);
    cfg.scratch_dir = make_scratch();
    td_sandbox_exit ex;
    const char *out = run_py(&cfg,
                             "import os\n"
                             "print('root', sorted(os.listdir('/')))\n"
                             "for p in ('/etc/passwd', '/etc/shadow', '/root', '/work', '/home'):\n"
                             "    print(p, os.path.exists(p))\n"
                             "try:\n"
                             "    open('/usr/lib/td_sandbox_probe', 'w')\n"
                             "    print('usr writable')\n"
                             "except OSError as e:\n"
                             "    print('usr', e.errno)\n"
                             "open('inside.txt', 'w').write('written inside')\n"
                             "print('cwd', os.getcwd())\n",
                             &ex);
    TD_ASSERT_MSG(ex.exited && ex.code == 0, "%s: %s", ex.reason, out);
    TD_ASSERT_CONTAINS(out, "/etc/passwd False");
    TD_ASSERT_CONTAINS(out, "/etc/shadow False");
    TD_ASSERT_CONTAINS(out, "/root False");
    TD_ASSERT_CONTAINS(out, "/work False");
    TD_ASSERT_CONTAINS(out, "/home False");
    TD_ASSERT_CONTAINS(out, "usr 30"); /* EROFS */
    TD_ASSERT_CONTAINS(out, "cwd /scratch");
    TD_ASSERT(!strstr(out, "usr writable"));
    char path[300], text[64] = "";
    snprintf(path, sizeof(path), "%s/inside.txt", scratch);
    FILE *f = fopen(path, "r");
    TD_ASSERT_MSG(f != NULL, "the file written in the scratch directory is not at %s", path);
    TD_ASSERT(fgets(text, sizeof(text), f) != NULL);
    fclose(f);
    TD_ASSERT_STREQ(text, "written inside");
    remove_scratch();
}

TD_TEST(no_network_even_to_loopback)
{
    /* A server of the test on loopback: the sandbox must not reach it. */
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    TD_ASSERT(srv >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    TD_ASSERT(bind(srv, (struct sockaddr *)&a, sizeof(a)) == 0);
    TD_ASSERT(listen(srv, 4) == 0);
    socklen_t len = sizeof(a);
    TD_ASSERT(getsockname(srv, (struct sockaddr *)&a, &len) == 0);
    char code[512];
    snprintf(code, sizeof(code),
             "import socket\n"
             "try:\n"
             "    socket.create_connection(('127.0.0.1', %d), timeout=2)\n"
             "    print('connected')\n"
             "except OSError as e:\n"
             "    print('refused', e.errno)\n"
             "print('interfaces', [n for _, n in socket.if_nameindex()])\n",
             ntohs(a.sin_port));
    td_sandbox_config cfg;
    base_config(&cfg);
    td_sandbox_exit ex;
    const char *out = run_py(&cfg, code, &ex);
    TD_ASSERT_MSG(ex.exited && ex.code == 0, "%s: %s", ex.reason, out);
    TD_ASSERT_CONTAINS(out, "refused");
    TD_ASSERT(!strstr(out, "connected"));
    TD_ASSERT_CONTAINS(out, "interfaces ['lo']");
    fcntl(srv, F_SETFL, O_NONBLOCK);
    TD_ASSERT_EQ_INT(accept(srv, NULL, NULL), -1); /* nobody knocked */
    close(srv);
}

TD_TEST(cpu_time_limit_kills_a_busy_loop)
{
    td_sandbox_config cfg;
    base_config(&cfg);
    cfg.cpu_s = 1;
    td_sandbox_exit ex;
    double t0 = td_time_now();
    run_py(&cfg, "while True: pass", &ex);
    TD_ASSERT_EQ_INT(ex.exited, 0);
    TD_ASSERT_CONTAINS(ex.reason, "CPU time limit (1 s)");
    /* CPU time, not wall time: the loop really ran (the accounting of a loaded VM may report a
     * little less than the limit it was killed at). */
    TD_ASSERT_MSG(ex.cpu_s >= 0.5, "cpu %.3f s", ex.cpu_s);
    TD_ASSERT(td_time_now() - t0 < 30);
}

TD_TEST(memory_file_size_and_process_limits)
{
    td_sandbox_config cfg;
    base_config(&cfg);
    cfg.memory_bytes = (size_t)256 << 20;
    cfg.file_bytes = (size_t)1 << 20;
    cfg.max_procs = 4;
    td_sandbox_exit ex;
    const char *out = run_py(&cfg,
                             "import os, time\n"
                             "try:\n"
                             "    b = bytearray(1 << 30)\n"
                             "    print('allocated 1 GiB')\n"
                             "except MemoryError:\n"
                             "    print('memory limit')\n"
                             "try:\n"
                             "    open('big', 'wb').write(b'x' * (2 << 20))\n"
                             "    print('wrote 2 MiB')\n"
                             "except OSError as e:\n"
                             "    print('file limit', e.errno)\n"
                             "n = 0\n"
                             "try:\n"
                             "    for i in range(50):\n"
                             "        if os.fork() == 0:\n"
                             "            time.sleep(5)\n"
                             "            os._exit(0)\n"
                             "        n += 1\n"
                             "except OSError as e:\n"
                             "    print('process limit after', n, 'forks, errno', e.errno)\n",
                             &ex);
    TD_ASSERT_MSG(ex.exited && ex.code == 0, "%s: %s", ex.reason, out);
    TD_ASSERT_CONTAINS(out, "memory limit");
    TD_ASSERT_CONTAINS(out, "file limit 27"); /* EFBIG */
    TD_ASSERT_CONTAINS(out, "process limit after");
    TD_ASSERT(!strstr(out, "allocated 1 GiB") && !strstr(out, "wrote 2 MiB"));
}

TD_TEST(root_mode_runs_as_nobody_without_a_user_namespace)
{
    if (geteuid() != 0) {
        /* Only root can make namespaces without a user namespace; the refusal is tested
         * below for everyone. */
        td_sandbox_config cfg;
        base_config(&cfg);
        cfg.mode = TD_SANDBOX_ROOT;
        td_sandbox *sb = NULL;
        td_err err = {0};
        char *argv[] = {"python3.11", "-c", "pass", NULL};
        TD_ASSERT_EQ_INT(td_sandbox_spawn(&sb, &cfg, PY, argv, &err), TD_EUNSUPPORTED);
        TD_ASSERT_CONTAINS(err.msg, "needs trackday to run as root");
        return;
    }
    td_sandbox_config cfg;
    base_config(&cfg);
    cfg.mode = TD_SANDBOX_ROOT;
    td_sandbox_exit ex;
    const char *out = run_py(&cfg,
                             "import os\n"
                             "print('ids', os.getuid(), os.getgid(), os.getgroups())\n"
                             "print('passwd', os.path.exists('/etc/passwd'))\n"
                             "print('pid', os.getpid())\n",
                             &ex);
    TD_ASSERT_MSG(ex.exited && ex.code == 0, "%s: %s", ex.reason, out);
    TD_ASSERT_CONTAINS(out, "ids 65534 65534 []");
    TD_ASSERT_CONTAINS(out, "passwd False");
    TD_ASSERT_CONTAINS(out, "pid 2"); /* its own PID namespace, after init */
}

TD_TEST(userns_mode_is_root_inside_and_nobody_outside)
{
    td_sandbox_config cfg;
    base_config(&cfg);
    cfg.mode = TD_SANDBOX_USERNS;
    cfg.scratch_dir = make_scratch();
    td_sandbox_exit ex;
    const char *out = run_py(&cfg,
                             "import os, ctypes\n"
                             "print('uid', os.getuid())\n"
                             "open('owned', 'w').write('x')\n"
                             "libc = ctypes.CDLL(None, use_errno=True)\n"
                             "r = libc.unshare(0x10000000)\n"
                             "print('unshare', r, ctypes.get_errno())\n"
                             "r = libc.mount(b'none', b'/scratch', b'tmpfs', 0, None)\n"
                             "print('mount', r, ctypes.get_errno())\n"
                             "print(open('/proc/self/status').read())\n",
                             &ex);
    TD_ASSERT_MSG(ex.exited && ex.code == 0, "%s: %s", ex.reason, out);
    TD_ASSERT_CONTAINS(out, "uid 0");
    TD_ASSERT_CONTAINS(out, "unshare -1 1"); /* EPERM from the seccomp filter */
    TD_ASSERT_CONTAINS(out, "mount -1 1");
    TD_ASSERT_CONTAINS(out, "CapEff:\t0000000000000000");
    TD_ASSERT_CONTAINS(out, "CapBnd:\t0000000000000000");
    TD_ASSERT_CONTAINS(out, "NoNewPrivs:\t1");
    TD_ASSERT_CONTAINS(out, "Seccomp:\t2");
    char path[300];
    snprintf(path, sizeof(path), "%s/owned", scratch);
    struct stat st;
    TD_ASSERT(stat(path, &st) == 0);
    TD_ASSERT_EQ_INT(st.st_uid, geteuid() == 0 ? 65534 : geteuid());
    remove_scratch();
}

/* Makes user namespaces unavailable to this process, as a container runtime's seccomp
 * profile or a disabled sysctl would. */
static void block_user_namespaces(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    TD_ASSERT(ctx != NULL);
    TD_ASSERT_OK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)));
    TD_ASSERT_OK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)));
    TD_ASSERT_OK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0));
    TD_ASSERT_OK(seccomp_load(ctx));
    seccomp_release(ctx);
}

TD_TEST(without_user_namespaces_root_falls_back_and_others_are_refused)
{
    pid_t pid = fork();
    TD_ASSERT(pid >= 0);
    if (pid == 0) {
        block_user_namespaces();
        td_sandbox_config cfg;
        base_config(&cfg);
        if (geteuid() == 0) {
            /* AUTO as root: the root mode, never unsandboxed. */
            td_sandbox_exit ex;
            const char *out = run_py(&cfg, "import os; print('uid', os.getuid())", &ex);
            TD_ASSERT_MSG(ex.exited && ex.code == 0, "%s: %s", ex.reason, out);
            TD_ASSERT_CONTAINS(out, "uid 65534");
            /* Then as someone else: a clear refusal. */
            TD_ASSERT(setgroups(0, NULL) == 0 && setresgid(65534, 65534, 65534) == 0 &&
                      setresuid(65534, 65534, 65534) == 0);
        }
        td_sandbox *sb = NULL;
        td_err err = {0};
        char *argv[] = {"python3.11", "-c", "print('ran')", NULL};
        int rc = td_sandbox_spawn(&sb, &cfg, PY, argv, &err);
        TD_ASSERT_EQ_INT(rc, TD_EUNSUPPORTED);
        TD_ASSERT(sb == NULL);
        TD_ASSERT_CONTAINS(err.msg, "cannot sandbox");
        TD_ASSERT_CONTAINS(err.msg, "User namespaces seem unavailable here");
        TD_ASSERT_CONTAINS(err.msg, "TRACKDAY_SANDBOX=none");
        cfg.mode = TD_SANDBOX_USERNS;
        TD_ASSERT_EQ_INT(td_sandbox_spawn(&sb, &cfg, PY, argv, &err), TD_EUNSUPPORTED);
        _exit(0);
    }
    int st;
    TD_ASSERT(waitpid(pid, &st, 0) == pid);
    TD_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child failed (status %d)", st);
}

static void *sleeper(void *arg)
{
    (void)arg;
    sleep(30);
    return NULL;
}

TD_TEST(spawn_works_from_a_multithreaded_process)
{
    /* glibc's set*id wrappers in the child would wait for the parent's other threads. */
    pthread_t t;
    TD_ASSERT_EQ_INT(pthread_create(&t, NULL, sleeper, NULL), 0);
    pthread_detach(t);
    td_sandbox_mode modes[2] = {TD_SANDBOX_USERNS, TD_SANDBOX_ROOT};
    for (int i = 0; i < (geteuid() == 0 ? 2 : 1); i++) {
        td_sandbox_config cfg;
        base_config(&cfg);
        cfg.mode = modes[i];
        td_sandbox_exit ex;
        const char *out = run_py(&cfg, "print('ok')", &ex);
        TD_ASSERT_MSG(ex.exited && ex.code == 0, "%s: %s", ex.reason, out);
        TD_ASSERT_CONTAINS(out, "ok");
    }
}

/* The test's SIGINT handler: writes the pid of the process running it to a pipe. */
static int sigint_pipe = -1;
static void on_sigint(int sig)
{
    (void)sig;
    pid_t me = (pid_t)syscall(SYS_getpid);
    ssize_t w = write(sigint_pipe, &me, sizeof(me));
    (void)w;
}

/*
 * A Ctrl-C in the moment between the clone and the child's reset of the caller's handlers
 * (TD_SANDBOX_TEST_SIGINT=1 sends SIGINT to both right there): the caller's handler runs in the
 * caller (once the clone has returned), never in the child, which was a copy of the caller
 * running the caller's handler with the caller's descriptors before the signals were blocked
 * around the clone.
 */
TD_TEST(a_sigint_during_the_clone_runs_the_callers_handler_in_the_caller_only)
{
    int sp[2];
    TD_ASSERT(pipe2(sp, O_CLOEXEC | O_NONBLOCK) == 0);
    sigint_pipe = sp[1];
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    TD_ASSERT(sigaction(SIGINT, &sa, &old) == 0);
    setenv("TD_SANDBOX_TEST_SIGINT", "1", 1);
    td_sandbox_mode modes[2] = {TD_SANDBOX_NONE, TD_SANDBOX_USERNS};
    for (int i = 0; i < 2; i++) {
        td_sandbox_config cfg;
        base_config(&cfg);
        cfg.mode = modes[i];
        td_sandbox_exit ex;
        const char *out = run_py(&cfg, "print('ran')", &ex);
        TD_ASSERT_MSG(ex.exited && ex.code == 0, "%s: %s", ex.reason, out);
        TD_ASSERT_CONTAINS(out, "ran");
        pid_t who;
        int mine = 0, others = 0;
        while (read(sp[0], &who, sizeof(who)) == (ssize_t)sizeof(who)) {
            if (who == getpid())
                mine++;
            else
                others++;
        }
        TD_ASSERT_MSG(others == 0, "mode %s: the caller's handler ran in %d other processes",
                      td_sandbox_mode_name(modes[i]), others);
        TD_ASSERT_EQ_INT(mine, 1);
    }
    unsetenv("TD_SANDBOX_TEST_SIGINT");
    sigaction(SIGINT, &old, NULL);
    close(sp[0]);
    close(sp[1]);
}

TD_TEST(wait_times_out_and_kill_stops_everything)
{
    td_sandbox_config cfg;
    base_config(&cfg);
    char *argv[] = {"python3.11",
                    "-I",
                    "-S",
                    "-c",
                    "import os, time\n"
                    "for i in range(3):\n"
                    "    if os.fork() == 0:\n"
                    "        break\n"
                    "time.sleep(60)\n",
                    NULL};
    td_sandbox *sb = NULL;
    td_err err = {0};
    TD_ASSERT_OK(td_sandbox_spawn(&sb, &cfg, PY, argv, &err));
    td_sandbox_exit ex;
    double t0 = td_time_now();
    TD_ASSERT_EQ_INT(td_sandbox_wait(sb, 0.3, &ex, &err), TD_ETIMEOUT);
    TD_ASSERT(td_time_now() - t0 >= 0.25);
    td_sandbox_kill(sb);
    TD_ASSERT_OK(td_sandbox_wait(sb, 10, &ex, &err));
    TD_ASSERT_EQ_INT(ex.killed, 1);
    TD_ASSERT_CONTAINS(ex.reason, "killed by trackday");
    TD_ASSERT(td_time_now() - t0 < 5);
    /* The PID namespace went with its init: no process of it is left. */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d", (int)td_sandbox_pid(sb));
    TD_ASSERT(access(path, F_OK) != 0);
    td_sandbox_free(sb);
}

TD_TEST(none_mode_is_a_plain_child_with_limits)
{
    td_sandbox_config cfg;
    base_config(&cfg);
    cfg.mode = TD_SANDBOX_NONE;
    cfg.cpu_s = 1;
    td_sandbox_exit ex;
    const char *out =
        run_py(&cfg, "import os; print('passwd', os.path.exists('/etc/passwd'))", &ex);
    TD_ASSERT_MSG(ex.exited && ex.code == 0, "%s: %s", ex.reason, out);
    TD_ASSERT_CONTAINS(out, "passwd True");
    run_py(&cfg, "while True: pass", &ex);
    TD_ASSERT_CONTAINS(ex.reason, "CPU time limit");
}

TD_TEST(mode_from_the_environment)
{
    td_sandbox_mode m;
    td_err err = {0};
    setenv("TRACKDAY_SANDBOX", "root", 1);
    TD_ASSERT_OK(td_sandbox_mode_from_env(&m, &err));
    TD_ASSERT_EQ_INT(m, TD_SANDBOX_ROOT);
    setenv("TRACKDAY_SANDBOX", "", 1);
    TD_ASSERT_OK(td_sandbox_mode_from_env(&m, &err));
    TD_ASSERT_EQ_INT(m, TD_SANDBOX_AUTO);
    setenv("TRACKDAY_SANDBOX", "off", 1);
    TD_ASSERT_EQ_INT(td_sandbox_mode_from_env(&m, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "TRACKDAY_SANDBOX is 'off'");
    unsetenv("TRACKDAY_SANDBOX");
}

static void *thread_fn(void *arg)
{
    return arg;
}

TD_TEST(restrict_self_blocks_processes_threads_exec_and_sockets)
{
    pid_t pid = fork();
    TD_ASSERT(pid >= 0);
    if (pid == 0) {
        td_err err = {0};
        TD_ASSERT_OK(td_sandbox_restrict_self(
            TD_SANDBOX_NO_PROCESSES | TD_SANDBOX_NO_EXEC | TD_SANDBOX_NO_SOCKETS, &err));
        pthread_t t;
        TD_ASSERT_EQ_INT(pthread_create(&t, NULL, thread_fn, NULL), 0); /* threads still work */
        pthread_join(t, NULL);
        errno = 0;
        TD_ASSERT_EQ_INT(fork(), -1);
        TD_ASSERT_EQ_INT(errno, EPERM);
        TD_ASSERT_EQ_INT(socket(AF_INET, SOCK_STREAM, 0), -1);
        TD_ASSERT_EQ_INT(errno, EPERM);
        int sv[2];
        TD_ASSERT_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), -1);
        char *argv[] = {"true", NULL};
        execv("/bin/true", argv);
        TD_ASSERT_EQ_INT(errno, EPERM);
        TD_ASSERT_OK(td_sandbox_restrict_self(TD_SANDBOX_NO_THREADS, &err));
        TD_ASSERT(pthread_create(&t, NULL, thread_fn, NULL) != 0);
        _exit(0);
    }
    int st;
    TD_ASSERT(waitpid(pid, &st, 0) == pid);
    TD_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child failed (status %d)", st);
}

TD_TEST(bad_configurations_are_errors)
{
    td_sandbox_config cfg;
    base_config(&cfg);
    td_sandbox *sb = NULL;
    td_err err = {0};
    char *argv[] = {"x", NULL};
    TD_ASSERT_EQ_INT(td_sandbox_spawn(&sb, &cfg, "/nonexistent/program", argv, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "cannot open the program /nonexistent/program");
    cfg.scratch_dir = "/nonexistent/scratch";
    TD_ASSERT_EQ_INT(td_sandbox_spawn(&sb, &cfg, PY, argv, &err), TD_ENOENT);
    TD_ASSERT_CONTAINS(err.msg, "scratch directory /nonexistent/scratch");
    const char *const rel[] = {"usr/lib", NULL};
    base_config(&cfg);
    cfg.read_only = rel;
    TD_ASSERT_EQ_INT(td_sandbox_spawn(&sb, &cfg, PY, argv, &err), TD_EINVAL);
    TD_ASSERT_CONTAINS(err.msg, "is not absolute");
    TD_ASSERT(sb == NULL);
}
