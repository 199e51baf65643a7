/*
 * dist.c - data-parallel training's process group: MPI (Open MPI) when trackday is built
 * with it and the process was started by mpirun, otherwise a group of one in which every
 * collective is a no-op. The only file of trackday that includes mpi.h.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/dist.h"
#include "trackday/trainer.h"

#ifdef TD_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank, g_size = 1, g_mpi;
static double g_seconds; /* wall seconds inside collectives (td__dist_seconds) */

double td__dist_seconds(void)
{
    return g_seconds;
}

/* The size of the job a launcher says this process belongs to (Open MPI, MPICH or PMIx's
 * variables), or 0 when none does. */
static long launched_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        char *end;
        long n;
        if (!v || !*v)
            continue;
        n = strtol(v, &end, 10);
        if (*end == 0 && n > 0)
            return n;
    }
    return 0;
}

int td_train_dist_available(void)
{
#ifdef TD_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int td_train_dist_init(int *argc, char ***argv, td_err *err)
{
    long n = launched_size();
    g_rank = 0;
    g_size = 1;
    if (n == 0)
        return 0;
#ifdef TD_HAVE_MPI
    /* A rank waiting in a collective polls; on a machine shared with other work (or with
     * more ranks than cores) it should give its core away while it does (Open MPI's
     * mpi_yield_when_idle; the launcher's or the user's setting wins). */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return td_err_set(err, TD_EIO, "MPI_Init failed");
    g_mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    return 0;
#else
    (void)argc;
    (void)argv;
    if (n > 1)
        return td_err_set(err, TD_EUNSUPPORTED,
                          "started as one of %ld processes (mpirun -np %ld), but this trackday "
                          "was built without MPI: install libopenmpi-dev (scripts/install-deps) "
                          "and rebuild, or train without mpirun",
                          n, n);
    return 0;
#endif
}

void td_train_dist_finalize(void)
{
#ifdef TD_HAVE_MPI
    if (g_mpi)
        MPI_Finalize();
#endif
    g_mpi = 0;
    g_rank = 0;
    g_size = 1;
}

void td_train_dist_abort(int code)
{
#ifdef TD_HAVE_MPI
    if (g_mpi && g_size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
#else
    (void)code;
#endif
}

int td_train_dist_rank(void)
{
    return g_rank;
}

int td_train_dist_size(void)
{
    return g_size;
}

#ifdef TD_HAVE_MPI
/* Waits for req sleeping between polls: for the collectives a rank may wait in for seconds
 * (rank 0 writing a checkpoint), where polling would burn a core another process could use. */
static void wait_idle(MPI_Request *req)
{
    int done = 0;
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    while (!done) {
        struct timespec ts = {0, 200000}; /* 0.2 ms: no iteration notices it */
        nanosleep(&ts, NULL);
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
    }
}

/* MPI counts are ints: a long buffer goes in pieces. */
#define CHUNK (1 << 28)
#endif

void td__dist_sum_f32(float *buf, size_t n)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1) {
        double t0 = td_time_now();
        for (size_t off = 0; off < n; off += CHUNK) {
            size_t k = n - off < CHUNK ? n - off : CHUNK;
            MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        }
        g_seconds += td_time_now() - t0;
    }
#else
    (void)buf;
    (void)n;
#endif
}

void td__dist_sum_f64(double *buf, int n)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1) {
        /* Once an iteration, after the ranks' collecting: the first to finish waits idle. */
        double t0 = td_time_now();
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &req);
        wait_idle(&req);
        g_seconds += td_time_now() - t0;
    }
#else
    (void)buf;
    (void)n;
#endif
}

/* The minimum over ranks of v, or with max the maximum. */
static long extreme_long(long v, int max)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1) {
        double t0 = td_time_now();
        MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_LONG, max ? MPI_MAX : MPI_MIN, MPI_COMM_WORLD);
        g_seconds += td_time_now() - t0;
    }
#else
    (void)max;
#endif
    return v;
}

long td__dist_min_long(long v)
{
    return extreme_long(v, 0);
}

long td__dist_max_long(long v)
{
    return extreme_long(v, 1);
}

void td__dist_bcast_f32(float *buf, size_t n)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1) {
        double t0 = td_time_now();
        for (size_t off = 0; off < n; off += CHUNK) {
            size_t k = n - off < CHUNK ? n - off : CHUNK;
            MPI_Bcast(buf + off, (int)k, MPI_FLOAT, 0, MPI_COMM_WORLD);
        }
        g_seconds += td_time_now() - t0;
    }
#else
    (void)buf;
    (void)n;
#endif
}

void td__dist_bcast_int(int *buf, int n)
{
    td__dist_bcast_bytes(buf, n * (int)sizeof(int));
}

void td__dist_bcast_bytes(void *buf, int n)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1) {
        double t0 = td_time_now();
        MPI_Request req;
        MPI_Ibcast(buf, n, MPI_BYTE, 0, MPI_COMM_WORLD, &req);
        wait_idle(&req);
        g_seconds += td_time_now() - t0;
    }
#else
    (void)buf;
    (void)n;
#endif
}

int td__dist_same_u64(uint64_t h)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1) {
        uint64_t v[2] = {h, ~h};
        double t0 = td_time_now();
        MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
        g_seconds += td_time_now() - t0;
        /* max(h) == h and max(~h) == ~h on every rank: min(h) == max(h). */
        return v[0] == h && v[1] == ~h;
    }
#endif
    (void)h;
    return 1;
}

void td__dist_gather_bytes(const void *mine, size_t bytes, void *all, size_t cap)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1) {
        double t0 = td_time_now();
        int n = (int)bytes, *counts = NULL, *displs = NULL;
        if (g_rank == 0) {
            counts = td_calloc((size_t)g_size * 2, sizeof(int));
            if (!counts)
                MPI_Abort(MPI_COMM_WORLD, 1);
            displs = counts + g_size;
        }
        MPI_Request req;
        MPI_Igather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
        wait_idle(&req);
        if (g_rank == 0) {
            size_t off = 0;
            for (int r = 0; r < g_size; r++) {
                displs[r] = (int)off;
                off += (size_t)counts[r];
            }
            /* Every rank's share of what rank 0 asked for: more is a bug. */
            if (off > cap)
                MPI_Abort(MPI_COMM_WORLD, 1);
        }
        MPI_Igatherv(mine, n, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, MPI_COMM_WORLD, &req);
        wait_idle(&req);
        td_free(counts);
        g_seconds += td_time_now() - t0;
        return;
    }
#endif
    (void)cap;
    if (bytes)
        memmove(all, mine, bytes);
}
