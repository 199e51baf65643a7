/*
 * error.c - the error table (td_strerror, td_err_name) and the message buffer helpers.
 */
#include <stdio.h>
#include <string.h>

#include "trackday/core.h"

const char *td_strerror(int code)
{
    switch (code) {
    case TD_OK:
        return "success";
#define TD__ERRNO_STR(name, val, msg)                                                              \
    case TD_E##name:                                                                               \
        return msg;
        TD_ERRNO_MAP(TD__ERRNO_STR)
#undef TD__ERRNO_STR
    default:
        return "unknown error";
    }
}

const char *td_err_name(int code)
{
    switch (code) {
    case TD_OK:
        return "TD_OK";
#define TD__ERRNO_NAME(name, val, msg)                                                             \
    case TD_E##name:                                                                               \
        return "TD_E" #name;
        TD_ERRNO_MAP(TD__ERRNO_NAME)
#undef TD__ERRNO_NAME
    default:
        return "TD_EUNKNOWN";
    }
}

void td__err_vformat(td_err *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
}

int td_err_prefix(td_err *err, int code, const char *fmt, ...)
{
    char old[TD_ERR_MSG_LEN];
    va_list ap;

    if (!err)
        return code;
    memcpy(old, err->msg, sizeof(old));
    old[sizeof(old) - 1] = '\0';
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    /* A message that no longer fits is cut at the end: the context comes first. */
    if (n >= 0 && (size_t)n < sizeof(err->msg) - 1) {
        size_t room = sizeof(err->msg) - (size_t)n - 1, len = strlen(old);
        memcpy(err->msg + n, old, len < room ? len : room);
        err->msg[n + (len < room ? len : room)] = '\0';
    }
    err->code = code;
    return code;
}

void td_err_clear(td_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}
