/*
 * dist.c - data-parallel training's process group: MPI (Open MPI) when trackday is built
 * with it and the process was started by mpirun, otherwise a group of one in which every
 * collective is a no-op. The only file of trackday that includes mpi.h.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "train/dist.h"
#include "trackday/trainer.h"

#ifdef TD_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank, g_size = 1, g_mpi;

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
/* MPI counts are ints: a long buffer goes in pieces. */
#define CHUNK (1 << 28)
#endif

void td__dist_sum_f32(float *buf, size_t n)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1)
        for (size_t off = 0; off < n; off += CHUNK) {
            size_t k = n - off < CHUNK ? n - off : CHUNK;
            MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        }
#else
    (void)buf;
    (void)n;
#endif
}

void td__dist_sum_f64(double *buf, int n)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1)
        MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#else
    (void)buf;
    (void)n;
#endif
}

long td__dist_min_long(long v)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1)
        MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_LONG, MPI_MIN, MPI_COMM_WORLD);
#endif
    return v;
}

long td__dist_max_long(long v)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1)
        MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
#endif
    return v;
}

void td__dist_bcast_f32(float *buf, size_t n)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1)
        for (size_t off = 0; off < n; off += CHUNK) {
            size_t k = n - off < CHUNK ? n - off : CHUNK;
            MPI_Bcast(buf + off, (int)k, MPI_FLOAT, 0, MPI_COMM_WORLD);
        }
#else
    (void)buf;
    (void)n;
#endif
}

void td__dist_bcast_int(int *buf, int n)
{
#ifdef TD_HAVE_MPI
    if (g_size > 1)
        MPI_Bcast(buf, n, MPI_INT, 0, MPI_COMM_WORLD);
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
        MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
        /* max(h) == h and max(~h) == ~h on every rank: min(h) == max(h). */
        return v[0] == h && v[1] == ~h;
    }
#endif
    (void)h;
    return 1;
}
