/*
 * pool.h - a persistent thread pool that runs a function over the index range [0, n) in
 * chunks (core/pool.c; internal to the library: the vector env's phases use it).
 */
#ifndef TD_CORE_POOL_H
#define TD_CORE_POOL_H

#include "trackday/core.h"

/* Runs over [lo, hi); called from the caller's thread and the workers at the same time. */
typedef void (*td__pool_fn)(void *ctx, int lo, int hi);

typedef struct td__pool td__pool;

/*
 * Starts nthreads - 1 workers (the caller is the last thread). nthreads < 2 gives no pool
 * (*out NULL), and td__pool_run then calls fn once on the caller's thread. Errors name who
 * ("sim: cannot start worker thread 3").
 */
int td__pool_open(td__pool **out, int nthreads, const char *who, td_err *err);

/* Runs fn(ctx, lo, hi) over chunks covering [0, n) and returns when all have run. */
void td__pool_run(td__pool *pool, td__pool_fn fn, void *ctx, int n);

/* Stops and joins the workers (NULL: nothing). */
void td__pool_close(td__pool *pool);

#endif
