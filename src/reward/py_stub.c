/*
 * py_stub.c - the embedded Python reward host's entry points (reward_internal.h) in a build
 * without the interpreter: TD_WITH_PYTHON=OFF, or libtrackday.so (TD_NO_EMBEDDED_PYTHON),
 * whose Python rewards run in the trackday command as their sandboxed host.
 */
#include <stdio.h>

#include "reward/py_internal.h"

#ifndef TD_HAVE_PYTHON

static int no_python(td_err *err)
{
#ifdef TD_NO_EMBEDDED_PYTHON
    return td_err_set(err, TD_EUNSUPPORTED,
                      "libtrackday runs Python reward functions only in the sandboxed reward "
                      "host (the trackday command; docs/c-api.md), and none was found: set "
                      "TRACKDAY_REWARD_HOST to the trackday executable");
#endif
    return td_err_set(err, TD_EUNSUPPORTED,
                      "this trackday was built without Python (TD_WITH_PYTHON=OFF or no "
                      "python3.11-dev): use a builtin: or .so reward, or rebuild with Python");
}

int td__py_ensure(td_err *err)
{
    return no_python(err);
}

void td_reward_set_load_timeout(double seconds)
{
    (void)seconds;
}

int td__py_open(td__pyhost **out, const char *path, const char *source, size_t len,
                const td_track *track, td_reward_error *rerr, td_err *err)
{
    *out = NULL;
    (void)source;
    (void)len;
    int rc = no_python(err);
    if (rerr) {
        rerr->kind = TD_REWARD_ERR_LOAD;
        snprintf(rerr->message, sizeof(rerr->message), "%s", err ? err->msg : "no Python");
    }
    return rc;
}

void td__py_close(td__pyhost *h)
{
    (void)h;
}

void td__py_set_timeout(td__pyhost *h, double seconds)
{
    (void)h;
    (void)seconds;
}

int td__py_batch(td__pyhost *h, const td_params *params, int n, float *out_f, double *out_d,
                 td_reward_error *rerr, td_err *err)
{
    return no_python(err);
}

int td_reward_python_available(void)
{
    /* Without the interpreter here, Python rewards run in the trackday command's host. */
    return td__reward_host_program() != NULL;
}

int td__py_embedded(void)
{
    return 0;
}

void (*td__py_before_user_code)(void);

int td__py_enable_guards(td_err *err)
{
    return no_python(err);
}

void td__py_set_progress(td__pyhost *h, _Atomic unsigned *calls, _Atomic int *car)
{
    (void)h;
    (void)calls;
    (void)car;
}

double td__reward_load_timeout(void)
{
    return TD_REWARD_DEFAULT_LOAD_TIMEOUT_S;
}

int td__py_validate(td__pyhost *h, const double *route, int n, td_reward_issue **issues,
                    int *n_issues, td_err *err)
{
    (void)h;
    (void)route;
    (void)n;
    *issues = NULL;
    *n_issues = 0;
    return no_python(err);
}

#endif
