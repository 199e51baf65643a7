/*
 * pool.c - a persistent thread pool (pool.h). A run is cut into chunks of indices; the
 * caller and the workers claim chunks with one atomic word (generation << 32 | next chunk),
 * so a worker the OS does not schedule in time costs nothing: the others take its share.
 * Waiting threads spin briefly, then sleep on a condition variable.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/pool.h"

/* Spin iterations before a waiting thread sleeps: a step of a small batch takes tens of
 * microseconds, far less than a futex wake-up round trip. */
#define SPIN_ITERS 2000

struct td__pool {
    int nthreads; /* the caller and the workers */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv_go, cv_done;
    _Atomic uint64_t work;
    _Atomic int done_chunks;
    _Atomic int stop;
    _Atomic int sleepers; /* workers blocked (or about to block) on cv_go */
    _Atomic int caller_sleeping;
    uint32_t gen; /* the caller's generation counter */
    /* The current run; atomics because a late worker may read them while the caller writes
     * the next run's (the claim then fails and the values are not used). */
    _Atomic(td__pool_fn) fn;
    _Atomic(void *) ctx;
    _Atomic int n, nchunks, chunk;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#else
    __asm__ volatile("" ::: "memory");
#endif
}

/*
 * Claims and runs chunks of generation `gen` until none is left. The run's function and
 * sizes are read before the claim; a successful compare-and-swap proves the generation (and
 * so what was read) is still current.
 */
static void work_chunks(td__pool *p, uint32_t gen)
{
    for (;;) {
        uint64_t w = atomic_load(&p->work);
        if ((uint32_t)(w >> 32) != gen)
            return;
        td__pool_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
        int n = atomic_load_explicit(&p->n, memory_order_relaxed);
        int nchunks = atomic_load_explicit(&p->nchunks, memory_order_relaxed);
        int chunk = atomic_load_explicit(&p->chunk, memory_order_relaxed);
        uint32_t c = (uint32_t)w;
        if ((int)c >= nchunks)
            return;
        if (!atomic_compare_exchange_weak(&p->work, &w, w + 1))
            continue;
        int lo = (int)c * chunk, hi = lo + chunk < n ? lo + chunk : n;
        fn(ctx, lo, hi);
        if (atomic_fetch_add(&p->done_chunks, 1) + 1 == nchunks &&
            atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void *worker_main(void *arg)
{
    td__pool *p = arg;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = (uint32_t)(atomic_load(&p->work) >> 32)) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            /* Announce the sleep before the last check, so the caller either sees a
             * sleeper (and broadcasts under the lock) or this check sees its generation. */
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((uint32_t)(atomic_load(&p->work) >> 32) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv_go, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->stop))
            break;
        seen = g;
        work_chunks(p, g);
    }
    return NULL;
}

void td__pool_run(td__pool *p, td__pool_fn fn, void *ctx, int n)
{
    if (!p || p->nthreads <= 1) {
        fn(ctx, 0, n);
        return;
    }
    /* A few chunks per thread balance uneven items (resets, sensors) without much claiming. */
    int chunk = (n + 4 * p->nthreads - 1) / (4 * p->nthreads);
    chunk = chunk < 4 ? 4 : chunk;
    int nchunks = (n + chunk - 1) / chunk;
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->n, n, memory_order_relaxed);
    atomic_store_explicit(&p->chunk, chunk, memory_order_relaxed);
    atomic_store_explicit(&p->nchunks, nchunks, memory_order_relaxed);
    atomic_store(&p->done_chunks, 0);
    uint32_t gen = ++p->gen;
    if (gen == 0) /* 0 is the workers' initial "seen" */
        gen = ++p->gen;
    atomic_store(&p->work, (uint64_t)gen << 32); /* publishes the fields above */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv_go);
        pthread_mutex_unlock(&p->mu);
    }
    work_chunks(p, gen);
    for (int spins = 0; atomic_load(&p->done_chunks) < nchunks; spins++) {
        if (spins < SPIN_ITERS) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_sleeping, 1);
        while (atomic_load(&p->done_chunks) < nchunks)
            pthread_cond_wait(&p->cv_done, &p->mu);
        atomic_store(&p->caller_sleeping, 0);
        pthread_mutex_unlock(&p->mu);
    }
}

void td__pool_close(td__pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv_go);
    pthread_mutex_unlock(&p->mu);
    for (int k = 1; k < p->nthreads; k++)
        if (p->threads[k])
            pthread_join(p->threads[k], NULL);
    pthread_cond_destroy(&p->cv_go);
    pthread_cond_destroy(&p->cv_done);
    pthread_mutex_destroy(&p->mu);
    td_free(p->threads);
    td_free(p);
}

int td__pool_open(td__pool **out, int nthreads, const char *who, td_err *err)
{
    *out = NULL;
    if (nthreads < 2)
        return 0;
    td__pool *p = td_calloc(1, sizeof(*p));
    pthread_t *threads = td_calloc((size_t)nthreads, sizeof(pthread_t));
    if (!p || !threads) {
        td_free(p);
        td_free(threads);
        return td_err_set(err, TD_ENOMEM, "%s: out of memory for threads", who);
    }
    p->threads = threads;
    p->nthreads = nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_go, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    for (int k = 1; k < nthreads; k++) {
        if (pthread_create(&p->threads[k], NULL, worker_main, p) != 0) {
            p->threads[k] = 0;
            p->nthreads = k; /* the started workers still join cleanly */
            td__pool_close(p);
            return td_err_set(err, TD_EINTERNAL, "%s: cannot start worker thread %d", who, k);
        }
    }
    *out = p;
    return 0;
}
