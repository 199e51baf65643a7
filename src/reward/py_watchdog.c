/*
 * py_watchdog.c - the embedded reward host's time limit (py_internal.h).
 *
 * A watchdog thread per host watches a call counter; when the same call has been
 * running longer than the limit it takes the GIL and raises trackday.RewardTimeout (a
 * BaseException, so `except Exception` in user code does not swallow it) in the calling
 * thread with PyThreadState_SetAsyncExc. Pure-Python loops are stopped within the limit plus
 * one watchdog period; a call blocked inside C code is stopped when it returns to Python.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "reward/py_internal.h"

#ifdef TD_HAVE_PYTHON

static void *watchdog_main(void *arg)
{
    td__pyhost *h = arg;
    unsigned long last_seq = 0, fired_seq = (unsigned long)-1;
    double seq_since = td_time_now(), fired_at = 0;
    pthread_mutex_lock(&h->wd_mu);
    while (!h->wd_stop) {
        if (!atomic_load(&h->active) || h->timeout_s <= 0) {
            /* Sleep until a batch starts. idle is published before active is read again,
             * and watchdog_arm stores active before reading idle (both sequentially
             * consistent), so one of the two always sees the other: no lost wake-up. */
            atomic_store(&h->wd_idle, 1);
            if (!atomic_load(&h->active) || h->timeout_s <= 0)
                pthread_cond_wait(&h->wd_cv, &h->wd_mu);
            atomic_store(&h->wd_idle, 0);
            last_seq = atomic_load(&h->seq);
            seq_since = td_time_now();
            continue;
        }
        double period = h->timeout_s / 10;
        if (period < 0.002)
            period = 0.002;
        if (period > 0.1)
            period = 0.1;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ns = ts.tv_nsec + (long)(period * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&h->wd_cv, &h->wd_mu, &ts);
        if (h->wd_stop)
            break;
        unsigned long seq = atomic_load(&h->seq);
        double now = td_time_now();
        if (seq != last_seq) {
            last_seq = seq;
            seq_since = now;
            continue;
        }
        if (!atomic_load(&h->in_call) || now - seq_since < h->timeout_s)
            continue;
        /* Raise again, once per limit, if the function caught the first one (a bare except). */
        if (seq == fired_seq && now - fired_at < h->timeout_s)
            continue;
        /* The same call has run past the limit: raise in the caller's thread. Taking the GIL
         * makes the interpreter thread pause at its next check (every 5 ms). */
        fired_seq = seq;
        fired_at = now;
        pthread_mutex_unlock(&h->wd_mu);
        PyGILState_STATE gs = PyGILState_Ensure();
        if (atomic_load(&h->seq) == seq && atomic_load(&h->in_call)) {
            PyThreadState_SetAsyncExc(h->tid, td__py_g.timeout_exc);
            atomic_store(&h->fired, 1);
        }
        PyGILState_Release(gs);
        pthread_mutex_lock(&h->wd_mu);
    }
    pthread_mutex_unlock(&h->wd_mu);
    return NULL;
}

void td__py_watchdog_start(td__pyhost *h)
{
    pthread_mutex_init(&h->wd_mu, NULL);
    pthread_cond_init(&h->wd_cv, NULL);
    if (pthread_create(&h->wd_thread, NULL, watchdog_main, h) == 0)
        h->wd_started = 1;
    else
        TD_WARN("%s: cannot start the watchdog thread: reward calls have no time limit", h->path);
}

void td__py_watchdog_stop(td__pyhost *h)
{
    if (h->wd_started) { /* without the GIL: the watchdog may be waiting for it */
        pthread_mutex_lock(&h->wd_mu);
        h->wd_stop = 1;
        pthread_cond_signal(&h->wd_cv);
        pthread_mutex_unlock(&h->wd_mu);
        pthread_join(h->wd_thread, NULL);
    }
    pthread_mutex_destroy(&h->wd_mu);
    pthread_cond_destroy(&h->wd_cv);
}

/* Starts watching a batch. Signals the watchdog only when it sleeps between batches: while
 * batches follow each other it polls, and waking it for every batch would cost a context
 * switch per batch. */
void td__py_watchdog_arm(td__pyhost *h)
{
    h->tid = PyThread_get_thread_ident();
    atomic_store(&h->fired, 0);
    atomic_store(&h->active, 1);
    if (atomic_load(&h->wd_idle)) {
        pthread_mutex_lock(&h->wd_mu);
        pthread_cond_signal(&h->wd_cv);
        pthread_mutex_unlock(&h->wd_mu);
    }
}

/* Called with the GIL held: clears an async exception the watchdog may have set too late. */
void td__py_watchdog_disarm(td__pyhost *h)
{
    atomic_store(&h->active, 0);
    if (atomic_load(&h->fired)) {
        PyThreadState_SetAsyncExc(h->tid, NULL);
        atomic_store(&h->fired, 0);
    }
}

void td__py_set_timeout(td__pyhost *h, double seconds)
{
    pthread_mutex_lock(&h->wd_mu);
    h->timeout_s = seconds;
    pthread_cond_signal(&h->wd_cv);
    pthread_mutex_unlock(&h->wd_mu);
}

#endif
