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

int td_err_set(td_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

int td_err_prefix(td_err *err, const char *fmt, ...)
{
    char prefix[TD_ERR_MSG_LEN];
    char old[TD_ERR_MSG_LEN];
    va_list ap;

    if (!err)
        return TD_EINVAL;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s%s", prefix, old);
    return err->code;
}

void td_err_clear(td_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}
