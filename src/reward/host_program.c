/*
 * host_program.c - which program libtrackday.so starts as the sandboxed Python reward host.
 *
 * The trackday command embeds the interpreter and is its own host (TD_SANDBOX_SELF). The
 * shared library never loads an interpreter into its caller (a C program, or a Python process
 * that has one of its own), so its host is the trackday command: $TRACKDAY_REWARD_HOST, else
 * the one beside libtrackday.so (the build tree), else ../bin/trackday from it (an installed
 * prefix: PREFIX/lib/libtrackday.so and PREFIX/bin/trackday).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reward/reward_internal.h"

static char host_path[PATH_MAX];
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

static int try_path(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    int n = snprintf(p, sizeof(p), "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= sizeof(p) || access(p, X_OK) != 0)
        return 0;
    if (!realpath(p, host_path))
        return 0;
    return 1;
}

static void find_host(void)
{
    const char *env = getenv("TRACKDAY_REWARD_HOST");
    if (env && *env) {
        if (access(env, X_OK) == 0 && strlen(env) < sizeof(host_path))
            memcpy(host_path, env, strlen(env) + 1);
        return;
    }
    Dl_info info;
    char lib[PATH_MAX];
    if (!dladdr((void *)&find_host, &info) || !info.dli_fname || !realpath(info.dli_fname, lib))
        return;
    char *slash = strrchr(lib, '/');
    if (!slash)
        return;
    *slash = '\0';
    if (!try_path(lib, "trackday"))
        try_path(lib, "../bin/trackday");
}

const char *td__reward_host_program(void)
{
    if (td__py_embedded())
        return NULL;
    pthread_once(&host_once, find_host);
    return host_path[0] ? host_path : NULL;
}
