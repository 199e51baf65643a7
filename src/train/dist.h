/*
 * dist.h - the collectives data-parallel training needs (dist.c): MPI when trackday is built
 * with it (TD_HAVE_MPI) and launched by mpirun, else one process, where each is a no-op.
 * Every rank calls each collective in the same order; an MPI failure aborts the job (MPI's
 * default error handler), so none returns an error.
 */
#ifndef TD_TRAIN_DIST_H
#define TD_TRAIN_DIST_H

#include <stddef.h>
#include <stdint.h>

/* buf[0..n) = the sum over ranks of each rank's buf[0..n), in place. */
void td__dist_sum_f32(float *buf, size_t n);
/* (td__dist_sum_f64, for once-an-iteration sums, waits without polling.) */
void td__dist_sum_f64(double *buf, int n);
/* The minimum over ranks of v. */
long td__dist_min_long(long v);
/* The maximum over ranks of v. */
long td__dist_max_long(long v);
/* buf[0..n) = rank 0's buf[0..n). */
void td__dist_bcast_f32(float *buf, size_t n);
/* (td__dist_bcast_int waits without polling: for the decisions rank 0 sends after work of
 * its own, while the others would only spin.) */
void td__dist_bcast_int(int *buf, int n);
/* The same for n bytes of plain data (a struct every rank lays out alike). */
void td__dist_bcast_bytes(void *buf, int n);
/* Rank 0's all[] = every rank's mine[0..bytes) one after the other in rank order (the ranks
 * may pass different sizes; their sum is at most cap); the other ranks' all is untouched. */
void td__dist_gather_bytes(const void *mine, size_t bytes, void *all, size_t cap);
/* 1 when every rank passes the same h. */
int td__dist_same_u64(uint64_t h);
/* Wall seconds this process has spent inside the collectives above (moving data, and waiting
 * for the other ranks to reach them): 0 in one process. */
double td__dist_seconds(void);

#endif
