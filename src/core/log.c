/*
 * log.c - leveled logging through one replaceable sink. Library code logs here and never
 * prints to stdout; the default sink writes to stderr.
 */
#include <stdio.h>

#include "trackday/core.h"

static td_log_level current_level = TD_LOG_WARN;
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
    current_level = level;
}

td_log_level td_log_get_level(void)
{
    return current_level;
}

void td_log_set_sink(td_log_sink sink, void *user)
{
    current_sink = sink;
    current_user = user;
}

void td_log(td_log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if (level < current_level || level >= TD_LOG_OFF)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    (current_sink ? current_sink : stderr_sink)(level, msg, current_user);
}
