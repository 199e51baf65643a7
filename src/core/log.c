/*
 * log.c - leveled logging through one replaceable sink. Library code logs here and never
 * prints to stdout; the default sink writes to stderr. The level and the sink may be set
 * from any thread while others log (the env's workers do): the level is atomic, the sink and
 * its user pointer change together under a lock, and a message is delivered outside it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "trackday/core.h"

static _Atomic int current_level = TD_LOG_WARN;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static td_log_sink current_sink;
static void *current_user;

static void stderr_sink(td_log_level level, const char *msg, void *user)
{
    static const char *names[] = {"debug", "info", "warning", "error"};
    (void)user;
    fprintf(stderr, "trackday: %s: %s\n", names[level], msg);
}

void td_log_set_level(td_log_level level)
{
    atomic_store(&current_level, (int)level);
}

td_log_level td_log_get_level(void)
{
    return (td_log_level)atomic_load(&current_level);
}

void td_log_set_sink(td_log_sink sink, void *user)
{
    pthread_mutex_lock(&sink_lock);
    current_sink = sink;
    current_user = user;
    pthread_mutex_unlock(&sink_lock);
}

void td_log(td_log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if ((int)level < atomic_load(&current_level) || level >= TD_LOG_OFF)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&sink_lock);
    td_log_sink sink = current_sink ? current_sink : stderr_sink;
    void *user = current_user;
    pthread_mutex_unlock(&sink_lock);
    sink(level, msg, user);
}
